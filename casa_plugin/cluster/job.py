"""One member's batch job, inside its CASA: restore, then split, reporting to the project's job record.

The scheduler's SIGTERM (``scancel``, or ``--signal=B:TERM@<margin>`` before the time limit) is handled like
Ctrl-C: restore_pi and split_sci_tgt stop as after a KeyboardInterrupt (a ``JobStopped``, which says whether
the job was cancelled or ran out of time), so nothing half-written looks finished and the member's run records
and the job's report say interrupted, and why: "cancelled by the scheduler (scancel), job N" or "stopped at
the job's time limit, job N".
"""

import logging
import os
import signal
import socket
import time
import traceback

from ..errors import JobStopped
from . import jobs_record
from .members import INCOMPLETE, NEW, member_progress
from .scheduler import SchedulerError, scheduler_named
from .scratch import restore_on_scratch

__all__ = ["run_member_job"]

log = logging.getLogger(__name__)


class _Terminated(object):
    """SIGTERM as Ctrl-C, once: a ``JobStopped`` naming the cause, asked of the scheduler at once (the run records
    written while it goes up say it); a second SIGTERM (the scheduler's, after the shell's) does not cut the
    clean-up."""

    def __init__(self, start, job_id, scheduler, time_limit, margin):
        self.at = None
        self.start, self.job_id, self.scheduler, self.time_limit, self.margin = (start, job_id, scheduler,
                                                                                time_limit, margin)

    def __call__(self, signum, frame):
        if self.at is None:
            self.at = time.time()
            raise JobStopped(_why_stopped(self.job_id, self.scheduler, self.at - self.start, self.time_limit,
                                          self.margin), self.job_id)
        log.warning("SIGTERM again while stopping; going on with the clean-up")


def _report(project, member, job_id, report):
    key = os.path.relpath(member, project)

    def change(record):
        jobs = record["members"].setdefault(key, {}).setdefault("jobs", [])
        job = next((j for j in jobs if str(j.get("job_id")) == str(job_id)), None)
        if job is None:  # submitted by hand from its script: recorded now
            job = {"job_id": job_id, "submitted": None}
            jobs.append(job)
        job["report"] = dict(job.get("report") or {}, **report)
    try:
        jobs_record.update(project, change)
    except (OSError, ValueError) as exc:
        log.warning("could not write the job record of %s: %s", project, exc)


def _rewrite_page(member, job_id):
    """The delivery report again, now that the job's end is in the job record (the tasks wrote it before)."""
    from ..delivery_report import write_report
    try:
        write_report([member], task="batch job %s" % job_id)
    except Exception as exc:  # the page is a view: its failure does not change the job's outcome
        log.warning("could not rewrite the delivery report after job %s: %s: %s", job_id, type(exc).__name__, exc)


def _why_stopped(job_id, scheduler, ran, time_limit, margin):
    """CANCELLED or TIMEOUT. A job warned of its time limit (``--signal=B:TERM@margin``, which SLURM sends up to a
    minute early) still runs; a cancelled one is being ended already (SLURM: COMPLETING, then CANCELLED). Without
    an answer, or for a running job's SIGTERM long before its limit (a signal sent by hand), the time decides."""
    try:
        state = scheduler_named(scheduler).states([job_id]).get(str(job_id), {}).get("state") if job_id else None
    except (SchedulerError, OSError):
        state = None
    near_limit = ran >= time_limit * 60 - 2 * margin - 60
    if state == "TIMEOUT" or (state in (None, "RUNNING") and near_limit):
        return "TIMEOUT"
    return "CANCELLED"


def run_member_job(member, project, *, time_limit, margin, scheduler="slurm", job_id_variable="SLURM_JOB_ID",
                   scratch=None):
    """Restore ``member`` (again, if its calibrated/ is incomplete) and split its EBs; return the exit status.

    Parameters
    ----------
    member, project : str
        The member directory and its project (the job record's home).
    time_limit, margin : int
        The job's time limit in minutes and the seconds before it at which the scheduler sends SIGTERM (SLURM
        sends it up to a minute earlier). Whether a SIGTERM was a cancel or the limit's is asked of the
        scheduler; if it cannot tell, one after ``time_limit * 60 - 2 * margin`` seconds is the limit's.
    scheduler : str
        The scheduler's name (``'slurm'``).
    job_id_variable : str
        The environment variable holding the job's id.
    scratch : str, optional
        A node-local directory (``$VARIABLES`` expanded on the node): the restore runs on a copy there and
        ``calibrated/`` is moved back checked (:mod:`.scratch`); the splits run on the member.

    Returns
    -------
    int
        0 when the member is done, 1 when its restore or split failed, 143 after SIGTERM (or Ctrl-C).
    """
    from ..restore import restore_pi
    from ..split import split_sci_tgt
    start = time.time()
    job_id = os.environ.get(job_id_variable)
    terminated = _Terminated(start, job_id, scheduler, time_limit, margin)
    signal.signal(signal.SIGTERM, terminated)
    _report(project, member, job_id, {"status": "running", "host": socket.gethostname(), "pid": os.getpid(),
                                      "started": time.strftime("%Y-%m-%dT%H:%M:%S")})
    report, code = {"status": "done"}, 0
    try:
        progress = member_progress(member)
        if scratch and progress in (NEW, INCOMPLETE):
            restore_on_scratch(member, project, scratch, lambda copy: restore_pi(member=copy, parallel=False),
                               label=job_id or "here")
        else:  # an incomplete calibrated/ of an earlier job is moved aside and restored again
            restore_pi(member=member, parallel=False, overwrite=progress == INCOMPLETE)
        split_sci_tgt(vis=member, parallel=False)
    except KeyboardInterrupt as exc:
        ran = (terminated.at or time.time()) - start
        reason = exc.reason if isinstance(exc, JobStopped) else "INTERRUPTED"  # a Ctrl-C: the job run by hand
        report = {"status": "interrupted", "signal": "TERM" if terminated.at else "INT", "reason": reason,
                  "error": "stopped by SIGTERM after %.0f s (%s)" % (ran, {
                      "TIMEOUT": "its time limit is near", "CANCELLED": "cancelled"}.get(reason, reason))}
        code = 143
    except Exception as exc:
        report = {"status": "failed", "error": "%s: %s" % (type(exc).__name__, exc),
                  "traceback": traceback.format_exc()}
        code = 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the report is written whatever comes now
    report.update({"ended": time.strftime("%Y-%m-%dT%H:%M:%S"), "seconds": round(time.time() - start, 1),
                   "progress": member_progress(member)})
    _report(project, member, job_id, report)
    _rewrite_page(member, job_id)
    (log.info if code == 0 else log.error)("%s: job %s %s%s", os.path.basename(member), job_id, report["status"],
                                           ": " + report["error"] if report.get("error") else "")
    return code
