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

__all__ = ["JOBS_DIR", "RECORD_NAME", "jobs_dir", "record_path", "load", "locked", "write", "update", "STALE_SECONDS"]

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
