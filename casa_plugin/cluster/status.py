"""Each member's state in a submitted programme: pending, running, done or failed with the reason.

Read from the scheduler while it knows the job (``squeue``), then its accounting (``sacct``, if SLURM keeps
any), then the report the job wrote in the project's job record, and the member's own files on disk: a
member whose restore and splits are complete is done whatever its job says.
"""

import os
from collections import OrderedDict

from ..delivery import find_members
from . import jobs_record
from .members import DONE, NEW, member_progress
from .scheduler import FAILED_STATES, SchedulerError

__all__ = ["PENDING", "RUNNING", "DONE", "FAILED", "NOT_SUBMITTED", "member_status", "project_status",
           "status_lines"]

PENDING, RUNNING, FAILED, NOT_SUBMITTED = "pending", "running", "failed", "not submitted"
_PENDING_STATES = ("PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD",
                   "SUSPENDED", "RESIZING", "SIGNALING", "STAGE_OUT")
_RUNNING_STATES = ("RUNNING", "COMPLETING")


def _from_report(report, progress):
    """A job the scheduler no longer knows: what the job reported of itself."""
    status = report.get("status")
    if status == "interrupted":
        return FAILED, report.get("reason") or "CANCELLED", report.get("error")
    if status == "failed":
        return FAILED, "FAILED", report.get("error")
    if status == "running":  # the job never wrote its end: killed (SIGKILL, out of memory, its node lost)
        return FAILED, "LOST", ("the job stopped without reporting (killed, out of memory or its node lost) on %s"
                                % report.get("host"))
    if status == "done":
        return (DONE, None, None) if progress == DONE else (FAILED, "FAILED", "the job ended but the member is %s"
                                                            % progress)
    return FAILED, "LOST", "the scheduler no longer knows the job and it never started (no report)"


def member_status(member, entry, states, progress=None):
    """Return ``{'state', 'reason', 'detail', 'job_id', 'node', 'elapsed', 'progress', 'log'}`` of one member.

    ``entry``: the member's entry in the job record; ``states``: the scheduler's ``{job_id: state}``.
    """
    progress = progress or member_progress(member)
    jobs = (entry or {}).get("jobs") or []
    job = jobs[-1] if jobs else {}
    job_id = job.get("job_id")
    out = {"state": DONE if progress == DONE else NOT_SUBMITTED, "reason": None, "detail": None,
           "job_id": job_id, "node": None, "elapsed": None, "progress": progress, "log": job.get("output")}
    if not job_id:
        return out
    known = states.get(str(job_id))
    report = job.get("report") or {}
    if known and known["state"] in _PENDING_STATES:
        out.update(state=PENDING, reason=known["reason"], detail=known["reason"])
    elif known and known["state"] in _RUNNING_STATES:
        out.update(state=RUNNING, node=known["node"], elapsed=known["elapsed"])
    elif progress == DONE:
        out.update(state=DONE, node=(known or {}).get("node") or report.get("host"))
    elif known and known["state"] in FAILED_STATES:
        reason = known["state"]
        if reason == "FAILED" and report.get("reason"):  # stopped on SIGTERM: the job knows why
            reason = report["reason"]
        out.update(state=FAILED, reason=reason, detail=report.get("error") or known["reason"],
                   node=known["node"] or report.get("host"), elapsed=known["elapsed"])
    else:
        state, reason, detail = _from_report(report, progress)
        out.update(state=state, reason=reason, detail=detail, node=report.get("host"))
    return out


def project_status(project, scheduler):
    """Return ``{member: member_status}`` for every member of ``project``, in order.

    Raises
    ------
    FileNotFoundError
        If ``project`` holds no member.
    """
    members = find_members(project)
    record = jobs_record.load(project)
    entries = dict((m, record["members"].get(os.path.relpath(m, os.path.abspath(project)))) for m in members)
    ids = [e["jobs"][-1]["job_id"] for e in entries.values() if e and e.get("jobs")]
    try:
        states = scheduler.states(ids) if ids and scheduler.available() else {}
    except SchedulerError:
        states = {}  # the scheduler is unreachable: the jobs' own reports still tell
    return OrderedDict((m, member_status(m, entries[m], states)) for m in members)


def status_lines(statuses):
    """One line per member: ``member.uid___…  running on node1 (0:42), job 12``."""
    lines = []
    for member, st in statuses.items():
        text = st["state"]
        if st["state"] == RUNNING:
            text += " on %s (%s)" % (st["node"], st["elapsed"])
        elif st["state"] == PENDING:
            text += " (%s)" % st["reason"]
        elif st["state"] == FAILED:
            text += ": %s%s" % (st["reason"], "; %s" % st["detail"] if st["detail"] else "")
        elif st["state"] == NOT_SUBMITTED and st["progress"] != NEW:
            text += " (%s)" % st["progress"]
        if st["job_id"]:
            text += ", job %s" % st["job_id"]
        lines.append("%s  %s" % (os.path.basename(member), text))
    return lines
