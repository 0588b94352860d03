"""Restore several members at once: child CASA processes here, or one per casampi server under MPI."""

import logging
import os
import signal
import time

from ..errors import ParallelUnavailable
from ..logs import progress_line
from ..parallel import run_jobs
from . import member_job
from .concurrency import DiskBudget
from .preflight import already_text

__all__ = ["JOB_FUNCTION", "run_side_by_side"]

log = logging.getLogger(__name__)

#: The job function the casampi servers' workers run (importable without CASA's startup file).
JOB_FUNCTION = "casa_plugin.restore.member_job:restore_member"
_POLL = 0.2  # seconds between looks at the running members' CASA processes
_TIMEOUT = 7 * 86400  # seconds a member may take on a server (a restore takes up to a day)
_PLAN_KEYS = ("member", "ebs", "script", "casa", "move_aside", "delivery_versions")
_RESULT_KEYS = ("status", "error", "traceback", "products", "casa_version", "seconds", "moved_aside", "log",
                "host", "mpi")


def _job(plan, index, total, options, variables, standin):
    child = dict((k, options[k]) for k in ("spacesaving", "dosplit", "docontsub", "checkdisk", "versioncheck"))
    child["overwrite"] = False  # an old calibrated/ is moved aside by the job itself
    return {"vis": plan["member"], "input_bytes": (plan.get("disk") or {}).get("raw", 0), "index": index,
            "total": total, "plan": dict((k, plan.get(k)) for k in _PLAN_KEYS), "options": child,
            "variables": variables, "standin": standin}


class _Reporter(object):
    """Progress lines per member (started, then done or failed with its time) and the results merged."""

    def __init__(self, plans_by_member, total):
        self.plans, self.total = plans_by_member, total

    def started(self, job):
        plan = self.plans[job["vis"]]
        plan["status"] = "running"
        line = progress_line(job["index"], self.total, os.path.basename(job["vis"]), "calibrated/",
                             "%d EBs in its own CASA process; its log: %s (then calibrated/%s)" % (
                                 len(plan["ebs"]), os.path.join(job["vis"], member_job.LOG_NAME),
                                 member_job.LOG_NAME), None)
        log.info(line.replace("]", " started]", 1))

    def finished(self, job, result):
        plan = self.plans[job["vis"]]
        for key in _RESULT_KEYS:
            if key in result:
                plan[key] = result[key]
        if result.get("error_type") or result.get("status") not in ("restored", "failed", "interrupted"):
            # the job never returned (its worker or server died, a timeout): the client records the failure
            plan.update({"status": "failed", "error": "%s: %s" % (os.path.basename(job["vis"]), result.get("error"))})
            member_job.record_member(plan)
        mpi = result.get("mpi") or {}
        where = ("casampi server %s on %s" % (mpi["server"], mpi.get("host")) if mpi.get("server")
                 else "host %s" % result.get("host"))
        plan["restored_on"] = where
        if plan["status"] == "restored":
            detail, say = "%d EBs, CASA %s, %s; log: %s" % (len(plan["ebs"]), plan["casa_version"], where,
                                                             plan.get("log")), log.info
        else:
            error = str(plan.get("error"))
            detail, say = "%s on %s: %s%s" % (plan["status"].upper(), where, error, "" if str(plan.get("log")) in error
                                              else "; log: %s" % plan.get("log")), log.error
        say(progress_line(job["index"], self.total, os.path.basename(job["vis"]), "calibrated/", detail,
                          plan.get("seconds")))


def _run_local(jobs, at_once, plans, reporter):
    """Up to ``at_once`` members' CASA processes here, each started only while its filesystem's disk allows."""
    budget, pending, active = DiskBudget(plans), list(range(len(jobs))), {}
    try:
        while pending or active:
            for i in list(pending):
                if len(active) >= at_once:
                    break
                if budget.fits(plans[i]):
                    pending.remove(i)
                    budget.start(plans[i])
                    reporter.started(jobs[i])
                    active[i] = member_job.start_member(jobs[i])
            for i, state in list(active.items()):
                if not member_job.running(state):
                    del active[i]
                    budget.finish(plans[i])
                    reporter.finished(jobs[i], member_job.finish_member(state))
            time.sleep(_POLL)
    except KeyboardInterrupt:
        log.error("restore_pi: interrupted; stopping the %d member restore(s) running", len(active))
        for state in active.values():
            state["stopped"] = True
            proc = (state.get("handle") or {}).get("proc")
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGINT)  # all at once, then each waited for (and killed after a while)
        for i, state in active.items():
            member_job.stop(state)
            reporter.finished(jobs[i], member_job.finish_member(state))
        raise


def run_side_by_side(plans, decision, options, variables, standin):
    """Restore the members of ``plans`` (status 'restore') as ``decision`` says; update each plan in place.

    ``decision`` comes from ``concurrency.decide`` (mode 'local' or 'mpi').
    A member whose restore fails or is interrupted is marked so; the others
    go on. KeyboardInterrupt is raised again once the children are stopped.
    """
    todo = [p for p in plans if p["status"] == "restore"]
    total = len(plans)
    for index, plan in enumerate(plans, 1):
        plan["options"] = variables
        if plan["status"] == "already restored":
            log.info(progress_line(index, total, os.path.basename(plan["member"]), "calibrated/", already_text(plan),
                                   None))
    jobs = [_job(p, plans.index(p) + 1, total, options, variables, standin) for p in todo]
    reporter = _Reporter(dict((p["member"], p) for p in todo), total)
    try:
        if decision["mode"] == "local":
            _run_local(jobs, decision["at_once"], todo, reporter)
            return
        wave = decision.get("wave") or len(jobs)
        for first in range(0, len(jobs), wave):
            try:
                run_jobs(JOB_FUNCTION, jobs[first:first + wave], on_start=reporter.started,
                         on_result=reporter.finished, parallel=True, maxjobs=decision["at_once"], timeout=_TIMEOUT,
                         unit="member")
            except ParallelUnavailable as exc:  # no server could start its worker: nothing of this wave ran
                log.warning("restore_pi: %s; restoring the members here, one at a time, each in its own CASA", exc)
                decision.update({"mode": "local", "at_once": 1, "reason": decision["reason"] + "; " + str(exc)})
                _run_local(jobs[first:], 1, todo[first:], reporter)
                return
    except KeyboardInterrupt:
        for p in todo:
            if p["status"] == "running":
                p.update({"status": "interrupted", "error": "interrupted (Ctrl-C)"})
                member_job.record_member(p)
        raise
