"""Disk at submit time: the scriptForPI's own rule of every member to restore, summed per filesystem, checked
before anything is submitted (dry runs here: no scheduler needed; the small filesystem is faked as the
preflight tests fake it)."""

import glob
import os
import re

import pytest

from casa_helpers import small_disk
from casa_plugin.cluster.submit import submit
from casa_plugin.restore.concurrency import RETAINED_PER_RAW
from casa_plugin.restore.preflight import disk_needed

pytestmark = pytest.mark.casa

MIB = 1 << 20


def _needs(delivery):
    """Per member, the scriptForPI's need and raw/ (bytes), as restore_pi's preflight counts them."""
    return dict((m, disk_needed(m, None)) for m in sorted(delivery["members"]))


def _scripts(project):
    return glob.glob(os.path.join(project, "casa_plugin_jobs", "*.sh"))


def test_a_programme_that_does_not_fit_is_refused_before_anything_is_written(delivery, casa_session, tmp_path,
                                                                            monkeypatch):
    project = delivery["project"]
    needs = _needs(delivery)
    total = sum(d["needed"] for d in needs.values())  # all at once: the members' needs summed
    largest = max(d["needed"] for d in needs.values())
    assert len(needs) == 2 and total > largest
    free_mib = total // MIB - 1  # each member fits alone, both at once do not
    small_disk(monkeypatch, tmp_path, free_mib)
    with pytest.raises(OSError, match=r"submit: not enough disk space; nothing was submitted:\n  the filesystem of "
                                      r"%s: the restores of 2 member\(s\) need %d bytes .* by the scriptForPI's own "
                                      r"disk rule .* up to 2 at once.* but %d bytes .* are free; free space there; "
                                      r"--max-running 1 lowers the need to .*--checkdisk False submits anyway" % (
                                          re.escape(sorted(needs)[0]), total, free_mib * MIB)):
        submit(project, dry_run=True)
    assert _scripts(project) == []  # refused before any script was written
    one_at_a_time = max(d["needed"] + sum(RETAINED_PER_RAW * o["raw"] for m2, o in needs.items() if o is not d)
                        for d in needs.values())
    assert one_at_a_time <= free_mib * MIB  # what the advice says: one restore at a time fits
    result = submit(project, dry_run=True, max_running=1)
    assert len(result["written"]) == 2


def test_a_member_too_large_alone_says_max_running_does_not_help_and_checkdisk_false_submits(
        delivery, casa_session, tmp_path, monkeypatch, caplog):
    project = delivery["project"]
    small = min(d["needed"] for d in _needs(delivery).values())
    small_disk(monkeypatch, tmp_path, small // MIB - 1)
    with pytest.raises(OSError, match=r"a lower --max-running does not help enough: the restored members' "
                                      r"calibrated/ stay"):
        submit(project, dry_run=True, max_running=2)
    caplog.set_level("WARNING", logger="casa_plugin")
    result = submit(project, dry_run=True, checkdisk=False)
    assert len(result["written"]) == 2 and len(_scripts(project)) == 2
    assert "(--checkdisk False: submitted anyway)" in caplog.text


def test_scratch_on_the_nodes_is_not_checked_from_here_but_what_comes_back_is(delivery, casa_session, tmp_path,
                                                                             monkeypatch, caplog):
    """'$TMPDIR' is expanded on the node: it cannot be checked here; calibrated/ still comes back to the member."""
    project = delivery["project"]
    needs = _needs(delivery)
    stays = sum(RETAINED_PER_RAW * d["raw"] for d in needs.values())
    small_disk(monkeypatch, tmp_path, int(stays) // MIB + 1)  # enough for what stays, not for a restore in place
    with pytest.raises(OSError, match="not enough disk space"):
        submit(project, dry_run=True)
    caplog.set_level("WARNING", logger="casa_plugin")
    assert len(submit(project, dry_run=True, scratch="$TMPDIR")["written"]) == 2
    assert "scratch $TMPDIR: its free space cannot be checked from here (expanded in the job, on its node)" \
        in caplog.text


@pytest.fixture
def other_filesystem(tmp_path):
    """A directory on another filesystem than tmp_path's (/dev/shm), removed afterwards."""
    import shutil
    import tempfile
    if not os.path.isdir("/dev/shm") or os.stat("/dev/shm").st_dev == os.stat(str(tmp_path)).st_dev:
        pytest.skip("no /dev/shm on another filesystem than %s" % tmp_path)
    path = tempfile.mkdtemp(prefix="casa_plugin-scratch-", dir="/dev/shm")
    yield path
    shutil.rmtree(path)


def test_a_scratch_directory_here_is_checked_for_the_restores(delivery, casa_session, tmp_path, monkeypatch,
                                                              other_filesystem):
    """A scratch path that exists here is checked for the restores (their need summed, up to max_running at
    once); the member's filesystem only for what comes back."""
    project = delivery["project"]
    needs = _needs(delivery)
    stays = sum(RETAINED_PER_RAW * d["raw"] for d in needs.values())
    small_disk(monkeypatch, tmp_path, int(stays) // MIB + 1)
    small_disk(monkeypatch, other_filesystem, max(d["needed"] for d in needs.values()) // MIB)  # one at a time
    with pytest.raises(OSError, match=r"the filesystem of %s: the restores of 2 member\(s\) need %d bytes" % (
            re.escape(other_filesystem), sum(d["needed"] for d in needs.values()))):
        submit(project, dry_run=True, scratch=other_filesystem)
    assert len(submit(project, dry_run=True, scratch=other_filesystem, max_running=1)["written"]) == 2


def test_the_command_line_takes_checkdisk_false(delivery, casa_session):
    from casa_plugin.cluster.cli import _parser
    args = _parser().parse_args(["submit", delivery["project"], "--checkdisk", "False"])
    assert args.checkdisk == "False"
    with pytest.raises(TypeError, match="checkdisk must be True or False, not 'no'"):
        submit(delivery["project"], dry_run=True, checkdisk="no")
