"""Outputs appear under their final name only when complete; failures leave nothing behind."""

import os

import pytest

from casa_plugin import staging as outputs


def _fake_ms(path):
    os.makedirs(path)
    with open(os.path.join(path, "table.dat"), "w") as f:
        f.write("x")


def test_staged_renames_ms_and_flagversions(tmp_path):
    final = str(tmp_path / "a.ms.split.cal")
    with outputs.staged(final) as tmp:
        assert os.path.basename(tmp) == ".a.ms.split.cal.partial"
        _fake_ms(tmp)
        _fake_ms(tmp + ".flagversions")
        assert not os.path.exists(final)
    assert os.path.isfile(os.path.join(final, "table.dat"))
    assert os.path.isdir(final + ".flagversions")
    assert sorted(os.listdir(str(tmp_path))) == ["a.ms.split.cal", "a.ms.split.cal.flagversions"]


def test_staged_failure_leaves_nothing(tmp_path):
    final = str(tmp_path / "a.ms.split.cal")
    with pytest.raises(RuntimeError, match="boom"):
        with outputs.staged(final) as tmp:
            _fake_ms(tmp)
            raise RuntimeError("boom")
    assert os.listdir(str(tmp_path)) == []


def test_staged_removes_leftovers_of_an_interrupted_run(tmp_path):
    final = str(tmp_path / "a.ms.split.cal")
    _fake_ms(outputs.partial_name(final))
    _fake_ms(outputs.partial_name(final) + ".flagversions")
    with outputs.staged(final) as tmp:
        assert not os.path.exists(tmp)
        _fake_ms(tmp)
    assert sorted(os.listdir(str(tmp_path))) == ["a.ms.split.cal"]


def test_staged_refuses_existing_output(tmp_path):
    final = str(tmp_path / "a.ms.split.cal")
    _fake_ms(final)
    with pytest.raises(FileExistsError, match="a.ms.split.cal exists; pass overwrite=True"):
        with outputs.staged(final):
            pass


def test_overwrite_and_failures_warn_of_no_interrupted_run(tmp_path, caplog):
    """Replacing an output, or cleaning up after an error, is not a leftover of an interrupted run."""
    final = str(tmp_path / "a.ms.split.cal")
    _fake_ms(final)
    with outputs.staged(final, overwrite=True) as tmp:
        _fake_ms(tmp)
    with pytest.raises(RuntimeError):
        with outputs.staged(final, overwrite=True) as tmp:
            _fake_ms(tmp)
            raise RuntimeError("crash")
    assert "interrupted" not in caplog.text
    assert sorted(os.listdir(str(tmp_path))) == ["a.ms.split.cal"]


def test_remove_leftovers_frees_hidden_partials_and_keeps_the_output(tmp_path, caplog):
    """A partial killed with its process (Ctrl-C under MPI) goes when its output is next found complete."""
    final = str(tmp_path / "a.ms.split.cal")
    _fake_ms(final)
    _fake_ms(outputs.partial_name(final))
    _fake_ms(outputs.partial_name(final) + ".flagversions")
    _fake_ms(outputs.partial_name(final) + ".replaced")
    outputs.remove_leftovers(final)
    assert sorted(os.listdir(str(tmp_path))) == ["a.ms.split.cal"]
    assert caplog.text.count("removing leftover of an interrupted run") == 3


def test_staged_overwrite_replaces_only_when_complete(tmp_path):
    final = str(tmp_path / "a.ms.split.cal")
    _fake_ms(final)
    with pytest.raises(RuntimeError):
        with outputs.staged(final, overwrite=True) as tmp:
            _fake_ms(tmp)
            raise RuntimeError("crash")
    assert os.path.isfile(os.path.join(final, "table.dat"))  # the old output survives a failed redo
    with outputs.staged(final, overwrite=True) as tmp:
        _fake_ms(tmp)
        open(os.path.join(tmp, "new"), "w").close()
    assert os.path.exists(os.path.join(final, "new"))
    assert sorted(os.listdir(str(tmp_path))) == ["a.ms.split.cal"]


def test_orphaned_flagversions_are_moved_aside_not_deleted(tmp_path):
    final = str(tmp_path / "a.ms.split.cal")
    _fake_ms(final + ".flagversions")
    with outputs.staged(final) as tmp:
        _fake_ms(tmp)
    names = sorted(os.listdir(str(tmp_path)))
    assert names[0] == "a.ms.split.cal"
    assert names[1].startswith("a.ms.split.cal.flagversions.orphaned.")
