"""A member's restore on node-local scratch (casa_plugin/cluster/scratch.py), through the member job's own function.

The scheduler plays no part in where a job restores, so the job function runs here, as the job's CASA runs it.
"""

import os
import shutil

import pytest

from casa_plugin import record as run_record
from casa_plugin.cluster.job import run_member_job
from casa_plugin.cluster.members import DONE, NEW, member_progress
from casa_plugin.cluster.scratch import restore_on_scratch, tree_differences
from casa_plugin.restore.preflight import calibrated_products
from casa_plugin.testing.compare import ms_differences

_VARYING = ("recorded", "seconds", "host", "scratch", "casa_plugin_version")


def _restore_entry(member):
    entry = run_record.load(os.path.join(member, "calibrated"))["restore"]
    text = repr(dict((k, v) for k, v in entry.items() if k not in _VARYING))
    return text.replace(member, "<member>")


@pytest.mark.casa
def test_a_member_restored_on_scratch_matches_one_restored_in_place(delivery, restored_delivery, casa_session,
                                                                    tmp_path):
    member = sorted(delivery["members"])[0]
    reference = sorted(restored_delivery["members"])[0]  # the same member, restored in place (read only)
    scratch = tmp_path / "node-local"
    scratch.mkdir()
    os.environ["CASA_PLUGIN_TEST_SCRATCH"] = str(scratch)
    try:
        code = run_member_job(member, delivery["project"], time_limit=60, margin=300,
                              scratch="$CASA_PLUGIN_TEST_SCRATCH")  # expanded in the job, on its node
    finally:
        del os.environ["CASA_PLUGIN_TEST_SCRATCH"]
    assert code == 0 and member_progress(member) == DONE
    ebs = delivery["members"][member]
    ours, theirs = calibrated_products(member, ebs)[0], calibrated_products(reference, ebs)[0]
    assert sorted(ours) == sorted(theirs) == sorted(ebs)
    for eb in ebs:
        assert os.path.relpath(ours[eb], member) == os.path.relpath(theirs[eb], reference)
        assert ms_differences(theirs[eb], ours[eb]) == []
    assert _restore_entry(member) == _restore_entry(reference)  # paths are the member's, not the scratch copy's
    restore = run_record.load(os.path.join(member, "calibrated"))["restore"]
    assert restore["scratch"].startswith(str(scratch)) and restore["status"] == "restored"
    assert os.listdir(str(scratch)) == []  # the copy is removed
    with open(os.path.join(delivery["project"], "casa_plugin_report", "index.html")) as f:
        assert ": <b>done on " in f.read()  # the page rewritten after the job's end was recorded
    assert not [n for n in os.listdir(member) if n.startswith(".calibrated")]  # no partial left
    for folder in ("raw", "script", "calibration"):  # inputs as after an in-place restore (unpacked aux files too)
        assert tree_differences(os.path.join(reference, folder), os.path.join(member, folder)) == []


def test_a_failed_restore_on_scratch_leaves_the_member_as_it_was(delivery, tmp_path):
    member = sorted(delivery["members"])[0]
    scratch = tmp_path / "node-local"
    scratch.mkdir()
    before = os.listdir(member)
    seen = []

    def restore(copy):
        seen.append(copy)
        os.makedirs(os.path.join(copy, "calibrated", "working"))  # half made, then the restore fails
        raise RuntimeError("the scriptForPI stopped")

    with pytest.raises(RuntimeError, match="the scriptForPI stopped"):
        restore_on_scratch(member, delivery["project"], str(scratch), restore, label="42")
    (copy,) = seen
    assert copy.startswith(str(scratch)) and copy.endswith(os.path.relpath(member, os.path.dirname(
        delivery["project"])))  # the member's place below the project's name
    assert os.listdir(member) == before and member_progress(member) == NEW
    assert os.listdir(str(scratch)) == []


def test_an_incomplete_calibrated_is_moved_aside_when_the_scratch_restore_comes_back(delivery, tmp_path):
    member = sorted(delivery["members"])[0]
    os.makedirs(os.path.join(member, "calibrated", "working"))  # an earlier job's, interrupted

    def restore(copy):
        os.makedirs(os.path.join(copy, "calibrated", "working"))
        os.symlink(os.path.join("..", "calibration"), os.path.join(copy, "calibrated", "products"))
        with open(os.path.join(copy, "calibrated", "working", "a.txt"), "w") as f:
            f.write("restored")
        run_record.update_restore(os.path.join(copy, "calibrated"), {"status": "restored", "products": {
            "uid___A": os.path.join(copy, "calibrated", "uid___A.ms")}})

    restore_on_scratch(member, delivery["project"], str(tmp_path), restore)
    calibrated = os.path.join(member, "calibrated")
    restore = run_record.load(calibrated)["restore"]
    assert restore["products"] == {"uid___A": os.path.join(calibrated, "uid___A.ms")}
    assert os.path.isdir(restore["moved_aside"]) and os.listdir(restore["moved_aside"]) == ["working"]
    assert os.readlink(os.path.join(calibrated, "products")) == os.path.join("..", "calibration")
    with open(os.path.join(calibrated, "working", "a.txt")) as f:
        assert f.read() == "restored"


@pytest.mark.parametrize("scratch, error, match", [
    ("$CASA_PLUGIN_NOT_SET_ANYWHERE", ValueError, "is not set on .*e.g. '\\$TMPDIR'"),
    ("/nonexistent/scratch", FileNotFoundError, "/nonexistent/scratch is not a directory on .*without --scratch"),
])
def test_a_scratch_the_node_lacks_is_refused_naming_it(delivery, scratch, error, match):
    member = sorted(delivery["members"])[0]
    with pytest.raises(error, match=match):
        restore_on_scratch(member, delivery["project"], scratch, lambda copy: pytest.fail("restored"))
    assert member_progress(member) == NEW
