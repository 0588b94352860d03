"""The project-level record of batch jobs (``<project>/casa_plugin_jobs/casa_plugin_jobs.json``), locked on NFS too.

Many writers: ``submit`` on the login node and each member's job on its compute node. Every change is a
read-modify-write under a lock file that works on NFS (:func:`casa_plugin.record.locked`); the record is then
rewritten to a temporary file and renamed over the old one, so a reader never sees half of it. A lock older
than ``STALE_SECONDS`` (its holder died) is broken.

``{'format': 1, 'scheduler': 'slurm', 'members': {member: {'jobs': [job, ...]}}}``, members named by their path
relative to the project; a job is ``{'job_id', 'script', 'submitted', 'resources', 'raised', 'report'}``, its
``report`` written by the job itself (``running``, then ``done``, ``failed`` or ``interrupted`` with the signal).
"""

import contextlib
import json
import os
import socket

from .. import record as run_record

__all__ = ["JOBS_DIR", "RECORD_NAME", "jobs_dir", "record_path", "load", "locked", "write", "update", "STALE_SECONDS",
           "last_jobs", "reported_state"]

#: The directory under the project that holds the job scripts, their logs and the record.
JOBS_DIR = "casa_plugin_jobs"
RECORD_NAME = "casa_plugin_jobs.json"
#: Seconds after which a lock is taken as left by a dead process (a job's report holds it for milliseconds; a
#: submit holds it while it calls sbatch for each member).
STALE_SECONDS = 600
_WAIT = STALE_SECONDS + 60  # seconds a writer waits for the lock before it gives up


def jobs_dir(project):
    """The project's job directory (``<project>/casa_plugin_jobs``)."""
    return os.path.join(os.path.abspath(project), JOBS_DIR)


def record_path(project):
    return os.path.join(jobs_dir(project), RECORD_NAME)


def load(project):
    """The project's job record (an empty one if none was written)."""
    path = record_path(project)
    if not os.path.isfile(path):
        return {"format": 1, "members": {}}
    with open(path) as f:
        record = json.load(f)
    record.setdefault("members", {})
    return record


@contextlib.contextmanager
def locked(project):
    """Hold the project record's lock (``casa_plugin_jobs.json.lock``, see :func:`casa_plugin.record.locked`).

    Raises
    ------
    TimeoutError
        If another writer holds it for longer than the wait (the message names the lock and its holder).
    """
    folder = jobs_dir(project)
    os.makedirs(folder, exist_ok=True)
    with run_record.locked(os.path.join(folder, RECORD_NAME + ".lock"), stale=STALE_SECONDS, wait=_WAIT):
        yield


def write(project, record):
    """Write the record (rename over the old one); call it only while holding :func:`locked`."""
    path = record_path(project)
    tmp = "%s.%s.%d.tmp" % (path, socket.gethostname(), os.getpid())
    with open(tmp, "w") as f:
        json.dump(record, f, indent=1, sort_keys=True, default=str)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def update(project, change):
    """Apply ``change(record)`` (it edits the record in place) under the lock and write the record; return it."""
    with locked(project):
        record = load(project)
        change(record)
        record["format"] = 1
        write(project, record)
        return record


def last_jobs(project):
    """``{member path: its last job}`` from the project's record (``{}`` without one): what the report shows."""
    record = load(project)
    return dict((os.path.normpath(os.path.join(os.path.abspath(project), key)), entry["jobs"][-1])
                for key, entry in record["members"].items() if entry.get("jobs"))


def reported_state(job):
    """``(state, text)`` of a job from the record alone: submitted, running, done or failed (with the reason).

    Without the scheduler a job that has not reported is only known as submitted (pending, or lost before it
    started); ``python -m casa_plugin status`` asks the scheduler.
    """
    report = job.get("report") or {}
    status = report.get("status")
    if status == "running":
        return "running", "running on %s since %s" % (report.get("host"), report.get("started"))
    if status == "done":
        return "done", "done on %s at %s" % (report.get("host"), report.get("ended"))
    if status in ("interrupted", "failed"):
        reason = report.get("reason") or ("FAILED" if status == "failed" else "CANCELLED")
        return "failed", "failed: %s%s" % (reason, "; %s" % report["error"] if report.get("error") else "")
    return "submitted", "submitted at %s, not started yet (or lost before it started)" % job.get("submitted")
