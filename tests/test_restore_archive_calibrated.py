"""restore_pi on a member whose calibrated MSs come from the archive: its tar files are unpacked and checked, no
scriptForPI runs; split_sci and split_tgt with defaults then give the same target data as a full restore; a bad
tar file is refused before anything runs, and the tar files are never modified."""

import hashlib
import io
import json
import os
import shutil
import tarfile

import pytest

from casa_plugin import RestoreError, restore_pi, split_sci, split_tgt
from casa_plugin.restore import task as restore_task
from casa_plugin.testing.archive_member import make_archive_member
from casa_plugin.testing.matrix import source_differences
from casa_plugin.testing.synthetic_delivery import make_delivery

pytestmark = pytest.mark.casa

ARCHIVE_MOUS = "member.uid___A001_X15a2_Xb6d"  # 2 EBs; the other member (1 EB) is restored by its scriptForPI


@pytest.fixture(scope="module")
def archive_root(tmp_path_factory):
    """A small synthetic delivery whose member Xb6d came from the archive calibrated (built once per module)."""
    root = str(tmp_path_factory.mktemp("archive"))
    info = make_delivery(root, small=True)
    member = [m for m in info["members"] if m.endswith(ARCHIVE_MOUS)][0]
    made = make_archive_member(member)
    return {"root": root, "project": info["project"], "member": member, "ebs": made["ebs"], "tars": made["tars"]}


@pytest.fixture
def archive(archive_root, tmp_path):
    """A private copy of the archive delivery."""
    root = str(tmp_path / "copy")
    shutil.copytree(archive_root["root"], root, symlinks=True)
    moved = dict((k, v.replace(archive_root["root"], root)) for k, v in archive_root.items()
                 if k in ("root", "project", "member"))
    tars = dict((eb, p.replace(archive_root["root"], root)) for eb, p in archive_root["tars"].items())
    return dict(moved, ebs=archive_root["ebs"], tars=tars)


def snapshot(root):
    """Every path under ``root`` (casa_plugin_report/ aside) with its kind, size and mtime."""
    seen = {}
    for where, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != "casa_plugin_report"]
        for name in dirs + files:
            st = os.lstat(os.path.join(where, name))
            seen[os.path.relpath(os.path.join(where, name), root)] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return seen


def fingerprint(paths):
    """Size, mtime and SHA-256 of each tar file."""
    out = {}
    for path in paths:
        with open(path, "rb") as f:
            out[path] = (os.path.getsize(path), os.stat(path).st_mtime_ns, hashlib.sha256(f.read()).hexdigest())
    return out


def restore_record(member):
    with open(os.path.join(member, "calibrated", "casa_plugin_record.json")) as f:
        return json.load(f)["restore"]


@pytest.fixture
def scripts_run(monkeypatch):
    """The scriptForPIs restore_pi runs in this session, in order."""
    ran, real = [], restore_task.run_script
    monkeypatch.setattr(restore_task, "run_script", lambda script, *a, **k: (ran.append(script), real(script, *a, **k)))
    return ran


def test_unpacked_and_checked_instead_of_restored_then_split_as_a_full_restore(archive, casa_session, caplog,
                                                                            scripts_run, restored_delivery):
    member, tars = archive["member"], sorted(archive["tars"].values())
    before = fingerprint(tars)
    result = restore_pi(member=archive["project"])

    ours = result["members"][member]
    assert ours["status"] == "restored"
    assert [os.path.basename(s) for s in scripts_run] == ["member.uid___A001_X15a2_Xb6b.scriptForPI.py"]
    assert not os.path.lexists(os.path.join(member, "calibrated", "working"))  # no pipeline restore here
    line = [r.getMessage() for r in caplog.records if ARCHIVE_MOUS + " -> calibrated/" in r.getMessage()]
    assert any("2 EBs from the archive's calibrated MSs, unpacked from 2 tar file(s) and checked; no scriptForPI run"
               in text for text in line), line
    entry = restore_record(member)
    assert (entry["status"], entry["from"], entry["found_unpacked"]) == ("restored", "archive", False)
    assert sorted(entry["tars"].values()) == tars
    assert sorted(entry["products"]) == archive["ebs"]
    for eb in archive["ebs"]:
        assert entry["products"][eb] == os.path.join(member, "calibrated", eb + ".ms.split.cal")
        assert entry["postflight"][eb]["problems"] == [] and entry["postflight"][eb]["spws"] == [1, 3, 5, 7]
    assert sorted(os.listdir(os.path.join(member, "calibrated"))) == sorted(
        [eb + ".ms.split.cal" for eb in archive["ebs"]] + ["casa_plugin_record.json"])  # nothing half-unpacked

    again = restore_pi(member=archive["project"])  # the tars are still there: the member is complete now
    assert again["members"][member]["status"] == "already restored"

    sci = split_sci(vis=archive["project"])
    tgt = split_tgt(vis=archive["project"])
    for eb in archive["ebs"]:
        done = sci["ebs"][os.path.join(member, "calibrated", eb + ".ms")]
        assert (done["status"], done["made_by"]) == ("done", "archive")  # the delivery's own split, from the archive
        source = os.path.join(member, "calibrated", eb + ".ms.split.cal.source")
        assert tgt["ebs"][os.path.join(member, "calibrated", eb + ".ms.split.cal")]["status"] == "split"
        reference = [os.path.join(m, "calibrated", eb + ".ms") for m in restored_delivery["members"]
                     if m.endswith(ARCHIVE_MOUS)][0]  # the same member restored with SPACESAVING unset (0)
        assert source_differences(source, reference) == []
    assert fingerprint(tars) == before


def test_dry_run_names_the_tars_and_writes_nothing(archive, casa_session, caplog):
    before = snapshot(archive["root"])
    result = restore_pi(member=archive["member"], dryrun=True)
    assert result["members"][archive["member"]]["status"] == "planned"
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "planned: unpack %s (the archive's calibrated MSs, " % ", ".join(
        os.path.basename(archive["tars"][eb]) for eb in archive["ebs"]) in text
    assert snapshot(archive["root"]) == before


def test_unpacked_by_the_user_is_checked_and_recorded(archive, casa_session, caplog):
    member = archive["member"]
    for path in archive["tars"].values():
        with tarfile.open(path) as tar:
            tar.extractall(os.path.join(member, "calibrated"))
    restore_pi(member=member)
    entry = restore_record(member)
    assert (entry["status"], entry["from"], entry["found_unpacked"], entry["tars"]) == ("restored", "archive", True, {})
    assert "found unpacked and checked; no scriptForPI run" in "\n".join(r.getMessage() for r in caplog.records)


def test_tars_in_the_download_directory_with_the_delivery_tree(tmp_path, casa_session):
    info = make_delivery(str(tmp_path), small=True)
    member = [m for m in info["members"] if m.endswith(ARCHIVE_MOUS)][0]
    made = make_archive_member(member, into="download", prefix=True)
    assert all(os.path.dirname(p) == str(tmp_path) for p in made["tars"].values())
    result = restore_pi(member=member)
    assert result["members"][member]["status"] == "restored"
    assert sorted(restore_record(member)["products"]) == made["ebs"]


def _rewrite(path, entries):
    """Write the tar ``path`` anew from ``entries``: (TarInfo, bytes or None)."""
    os.remove(path)
    with tarfile.open(path, "w") as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)


def _entries(path):
    with tarfile.open(path) as tar:
        return [(info, tar.extractfile(info).read() if info.isfile() else None) for info in tar.getmembers()]


def _cut_mid_data(path):
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
    return r"cannot be read as a tar file \(ReadError: unexpected end of data\): it is cut short or damaged"


def _cut_at_entry(path):
    with tarfile.open(path) as tar:
        members = tar.getmembers()
        end = members[-1].offset_data + -(-members[-1].size // 512) * 512  # after the last file's data
    with open(path, "r+b") as f:
        f.truncate(end)
    return "ends after %d entries without the end-of-archive blocks: it is cut short" % len(members)


def _escaping(path):
    entries = _entries(path)
    evil = tarfile.TarInfo("calibrated/../../evil.txt")
    evil.size = 4
    _rewrite(path, entries + [(evil, b"evil")])
    return r"its entry 'calibrated/\.\./\.\./evil\.txt' would be written outside the directory it is unpacked in"


def _absolute(path):
    entries = _entries(path)
    evil = tarfile.TarInfo("/tmp/casa_plugin_evil.txt")
    evil.size = 4
    _rewrite(path, [(evil, b"evil")] + entries)
    return r"its entry '/tmp/casa_plugin_evil\.txt' would be written outside"


def _other_member(path):
    entries = _entries(path)
    for info, _ in entries:
        info.name = "member.uid___A001_X15a2_Xb6b/calibrated/" + info.name
    _rewrite(path, entries)
    return (r"its entry 'member\.uid___A001_X15a2_Xb6b/calibrated/[^']+' belongs to member\.uid___A001_X15a2_Xb6b, "
            r"not to member\.uid___A001_X15a2_Xb6d; put the tar file beside")


@pytest.mark.parametrize("spoil", [_cut_mid_data, _cut_at_entry, _escaping, _absolute, _other_member])
def test_a_bad_tar_is_refused_before_anything_runs(archive, casa_session, spoil):
    bad = archive["tars"][archive["ebs"][1]]
    cause = spoil(bad)
    before, tars = snapshot(archive["root"]), fingerprint(archive["tars"].values())
    with pytest.raises(RestoreError, match=r"preflight failed; nothing was run:\n\s+%s: %s" % (
            bad.replace(".", r"\."), cause)) as info:
        restore_pi(member=archive["project"])
    fix = ("unpack it by hand" if spoil in (_escaping, _absolute) else "put the tar file beside its own member"
           if spoil is _other_member else "download it again (compare its size with the archive's)")
    assert fix in str(info.value)
    assert snapshot(archive["root"]) == before
    assert fingerprint(archive["tars"].values()) == tars
    assert not os.path.exists("/tmp/casa_plugin_evil.txt")


def test_an_ms_of_another_eb_is_not_put_in_place_and_the_next_call_names_it(archive, casa_session):
    first, second = archive["ebs"]
    wrong = archive["tars"][second]
    entries = _entries(archive["tars"][first])  # the first EB's MS, named as the second's
    for info, _ in entries:
        info.name = info.name.replace(first, second)
    _rewrite(wrong, entries)
    with pytest.raises(RestoreError, match=r"the archive's calibrated MSs are not usable: %s: %s, unpacked from "
                       r"%s: .* holds EB %s \(its OBSERVATION table\), not %s" % (
                           second, second, wrong.replace(".", r"\."), first, second)):
        restore_pi(member=archive["member"])
    calibrated = os.path.join(archive["member"], "calibrated")
    assert sorted(os.listdir(calibrated)) == ["casa_plugin_record.json", first + ".ms.split.cal"]  # no partial
    assert restore_record(archive["member"])["status"] == "failed"
    with pytest.raises(RestoreError, match="calibrated/ exists but has no calibrated MS for %s" % second):
        restore_pi(member=archive["member"])


def test_a_tar_of_another_members_eb_is_named(archive, casa_session):
    eb = archive["ebs"][0]
    other = os.path.join(os.path.dirname(archive["member"]), "member.uid___A001_X15a2_Xb6b")
    stray = os.path.join(other, os.path.basename(archive["tars"][eb]))
    shutil.copy2(archive["tars"][eb], stray)
    before = snapshot(archive["root"])
    with pytest.raises(RestoreError, match=r"nothing was run:\n\s+%s: the member's EBs are uid___A002_Xf9a1c3_X1b2e, "
                       r"not %s; move it to its own member's directory" % (stray.replace(".", r"\."), eb)):
        restore_pi(member=archive["project"])
    assert snapshot(archive["root"]) == before
