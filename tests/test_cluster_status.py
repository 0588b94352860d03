"""A member's state from the scheduler's answer, the job's own report and its files; resources raised after a failure.

The SLURM of the tests has no cgroups, so it never ends a job OUT_OF_MEMORY and no node fails: those states
are given here as squeue or sacct would report them.
"""

import pytest

from casa_plugin.cluster import resources, status
from casa_plugin.cluster.members import DONE, INCOMPLETE, NEW
from casa_plugin.cluster.submit import _resources

MEMBER = "/p/sg/g/member.uid___A001_X1_X2"


def _entry(report=None):
    return {"jobs": [{"job_id": "17", "report": report or {}}]}


@pytest.mark.parametrize("known, report, progress, want", [
    ({"state": "PENDING", "reason": "Priority"}, None, NEW, ("pending", "Priority")),
    ({"state": "RUNNING", "reason": "None", "node": "n3", "elapsed": "1:02"}, None, INCOMPLETE, ("running", None)),
    ({"state": "OUT_OF_MEMORY", "reason": "OutOfMemory", "node": "n3", "elapsed": "3:00"}, None, INCOMPLETE,
     ("failed", "OUT_OF_MEMORY")),
    ({"state": "NODE_FAIL", "reason": "NodeDown", "node": "n3", "elapsed": "3:00"}, None, INCOMPLETE,
     ("failed", "NODE_FAIL")),
    ({"state": "FAILED", "reason": "NonZeroExitCode", "node": "n3", "elapsed": "0:59"},
     {"status": "interrupted", "reason": "TIMEOUT"}, INCOMPLETE, ("failed", "TIMEOUT")),
    (None, {"status": "running", "host": "n3"}, INCOMPLETE, ("failed", "LOST")),
    (None, {"status": "interrupted", "reason": "CANCELLED"}, INCOMPLETE, ("failed", "CANCELLED")),
    ({"state": "COMPLETED", "reason": "None", "node": "n3", "elapsed": "9:00"}, None, DONE, ("done", None)),
])
def test_member_state(known, report, progress, want):
    states = {"17": dict(known, source="squeue")} if known else {}
    st = status.member_status(MEMBER, _entry(report), states, progress=progress)
    assert (st["state"], st["reason"]) == want
    assert st["job_id"] == "17"


def test_a_member_done_on_disk_is_done_whatever_its_job_said():
    st = status.member_status(MEMBER, _entry({"status": "failed", "error": "x"}), {}, progress=DONE)
    assert st["state"] == "done"


def test_the_line_names_node_elapsed_reason_and_job():
    running = status.member_status(MEMBER, _entry(), {"17": {"state": "RUNNING", "reason": "None", "node": "n3",
                                                             "elapsed": "1:02"}}, progress=INCOMPLETE)
    lost = status.member_status(MEMBER, _entry({"status": "running", "host": "n4"}), {}, progress=INCOMPLETE)
    assert status.status_lines({MEMBER: running, MEMBER + "b": lost}) == [
        "member.uid___A001_X1_X2  running on n3 (1:02), job 17",
        "member.uid___A001_X1_X2b  failed: LOST; the job stopped without reporting (killed, out of memory or its "
        "node lost) on n4, job 17"]


@pytest.mark.parametrize("reason, key, before, after", [
    ("OUT_OF_MEMORY", "mem_mb", 8192, 16384),
    ("TIMEOUT", "minutes", 60, 120),
    ("OUT_OF_MEMORY", "mem_mb", resources.MAX_MEMORY_MB, resources.MAX_MEMORY_MB),
])
def test_after_out_of_memory_or_time_the_next_job_asks_for_twice_as_much(tmp_path, caplog, reason, key, before,
                                                                          after):
    member = str(tmp_path / "member.uid___A001_X1_X2")
    last = {"state": "failed", "reason": reason, "resources": dict(
        resources.member_resources(member, "12m"), **{key: before})}
    res = _resources(member, "12m", last, {})
    assert res[key] == after
    assert "its last job ran out of" in caplog.text and (("the cap" in caplog.text) == (before == after))
    given = _resources(member, "12m", last, {"mem": 1000, "time": 5})  # what the user gives stays as given
    assert (given["mem_mb"], given["minutes"]) == (1000, 5)
