"""The project-level record of batch jobs (``<project>/casa_plugin_jobs/casa_plugin_jobs.json``), locked on NFS too.

Many writers: ``submit`` on the login node and each member's job on its compute node. Every change is a
read-modify-write under a lock file made with ``link()``, which is atomic on NFS (``O_EXCL`` is not on old
clients): a unique file is linked to the lock's name, and the lock is held when that link succeeds (or, after
an NFS retry answered with an error, when the unique file has two links). The record is then rewritten to a
temporary file and renamed over the old one, so a reader never sees half of it. A lock older than
``STALE_SECONDS`` (its holder died) is broken.

``{'format': 1, 'scheduler': 'slurm', 'members': {member: {'jobs': [job, ...]}}}``, members named by their path
relative to the project; a job is ``{'job_id', 'script', 'submitted', 'resources', 'raised', 'report'}``, its
``report`` written by the job itself (``running``, then ``done``, ``failed`` or ``interrupted`` with the signal).
"""

import contextlib
import json
import os
import socket
import time

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


def _try_link(unique, lock):
    try:
        os.link(unique, lock)
        return True
    except FileExistsError:
        return False
    except OSError:
        return os.stat(unique).st_nlink == 2  # NFS: the link was made but its reply was lost


@contextlib.contextmanager
def locked(project):
    """Hold the project record's lock (``casa_plugin_jobs.json.lock``) while the block runs.

    Raises
    ------
    TimeoutError
        If another writer holds it for longer than a minute (the message names the lock and its holder).
    """
    folder = jobs_dir(project)
    os.makedirs(folder, exist_ok=True)
    lock = os.path.join(folder, RECORD_NAME + ".lock")
    unique = "%s.%s.%d.%d" % (lock, socket.gethostname(), os.getpid(), int(time.time() * 1e6))
    with open(unique, "w") as f:
        f.write("%s %d\n" % (socket.gethostname(), os.getpid()))
    deadline = time.time() + _WAIT
    try:
        while not _try_link(unique, lock):
            try:
                if time.time() - os.stat(lock).st_mtime > STALE_SECONDS:
                    os.unlink(lock)  # its holder died while holding it
                    continue
            except FileNotFoundError:
                continue
            if time.time() > deadline:
                with open(lock) as f:
                    holder = f.read().strip()
                raise TimeoutError("%s: held by %s for more than %d s; if that process is gone, delete the lock "
                                   "file" % (lock, holder, _WAIT))
            time.sleep(0.05)
        try:
            yield
        finally:
            os.unlink(lock)
    finally:
        os.unlink(unique)


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
