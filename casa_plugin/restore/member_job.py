"""One member's restore as a job: its own CASA process and log, postflight, run record (here or on an MPI server)."""

import logging
import os
import shlex
import signal
import socket
import time
import traceback

from .. import record as run_record
from ..errors import RestoreError
from . import casa_log, external, postflight
from .preflight import calibrated_products

__all__ = ["LOG_NAME", "restore_member", "start_member", "finish_member", "running", "stop", "plain_environ",
           "move_aside", "check_products", "record_member"]

log = logging.getLogger(__name__)

#: The member's restore log: written in the member directory while it runs, then moved into calibrated/.
LOG_NAME = "casa_plugin_restore.log"
#: Environment variables of an MPI rank; a child CASA started without them is a plain CASA, not a rank.
_MPI_PREFIXES = ("OMPI_", "PMIX_", "PMI_", "HYDRA_", "MPI_", "PRTE_")
_GRACE = 20  # seconds a child has to stop after SIGINT (Ctrl-C) before it is killed


def plain_environ(environ=None):
    """``environ`` (default ``os.environ``) without the MPI runtime's variables (OMPI_*, PMIX_*, PMI_*, ...)."""
    environ = os.environ if environ is None else environ
    return dict((k, v) for k, v in environ.items() if not k.startswith(_MPI_PREFIXES))


def move_aside(member):
    """Rename ``member/calibrated`` to ``calibrated.<date>`` (overwrite=True); return the new path."""
    calibrated = os.path.join(member, "calibrated")
    aside = "%s.%s" % (calibrated, time.strftime("%Y%m%dT%H%M%S"))
    os.rename(calibrated, aside)
    log.warning("%s: moved the existing calibrated/ aside to %s (overwrite=True); nothing was deleted",
                os.path.basename(member), os.path.basename(aside))
    return aside


def check_products(plan, checked=None):
    """Set ``plan['products']`` and ``plan['postflight']`` from calibrated/; RestoreError if the restore is unproven.

    Unproven: an EB has no calibrated MS, or the postflight (``postflight.check_restore``) finds a restored MS
    whose CORRECTED_DATA equals its DATA on a science spw, or without the restore's last flag version.
    ``checked``: the postflight a child CASA's restore_pi made already (not made again).
    """
    name = os.path.basename(plan["member"])
    found, missing = calibrated_products(plan["member"], plan["ebs"])
    if missing:
        raise RestoreError("%s: the scriptForPI finished but calibrated/ has no MS for %s; see the CASA log"
                           % (name, ", ".join(missing)))
    plan["products"] = found
    # reads 4 rows x 32 channels a science spw: 0.1 s cold on a 4.7 GB alma12m EB (0.3 % of its 37 s stand-in restore)
    plan["postflight"] = checked or postflight.check_restore(
        plan["member"], found, spacesaving=(plan.get("options") or {}).get("SPACESAVING"))
    problems = postflight.problems_of(plan["postflight"])
    if problems:
        raise RestoreError("%s: the scriptForPI finished but did not restore the calibration: %s; restore it "
                           "again once the cause is fixed: restore_pi(member=%r, overwrite=True)"
                           % (name, " | ".join(problems), plan["member"]))


def record_member(plan):
    """Write the member's restore entry in ``calibrated/casa_plugin_record.json`` (if calibrated/ exists)."""
    calibrated = os.path.join(plan["member"], "calibrated")
    if not os.path.isdir(calibrated):
        return
    entry = dict((k, plan.get(k)) for k in ("status", "seconds", "casa_version", "delivery_versions",
                                            "options", "error", "products", "moved_aside", "casa", "postflight"))
    if plan.get("stopped"):  # a batch job stopped by its scheduler: which job, and why
        entry["stopped"] = plan["stopped"]
    try:
        run_record.update_restore(calibrated, entry)
    except OSError as exc:
        log.warning("could not write the run record in %s: %s", calibrated, exc)


def stop(state):
    """Ctrl-C the member's CASA process (SIGINT, then SIGKILL after a grace period); mark it interrupted."""
    state["stopped"] = True
    proc = (state.get("handle") or {}).get("proc")
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    deadline = time.time() + _GRACE
    while proc.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    if proc.poll() is None:
        proc.kill()


def running(state):
    """True while the member's CASA process runs."""
    proc = (state.get("handle") or {}).get("proc")
    return proc is not None and proc.poll() is None


def _command(plan):
    if plan.get("casa"):
        return external.command(plan["casa"])
    return external.same_casa()


def _file_log(path):
    """The log file's final place: inside calibrated/ once the scriptForPI made it, else where it is."""
    member = os.path.dirname(path)
    calibrated = os.path.join(member, "calibrated")
    if os.path.isdir(calibrated) and not os.path.islink(calibrated):
        final = os.path.join(calibrated, LOG_NAME)
        try:
            os.replace(path, final)
            return final
        except OSError:
            pass
    return path


def start_member(job):
    """Start one member's restore (move aside, log file, its CASA process); return its state, never raise."""
    plan = dict(job["plan"])
    plan["options"] = job["variables"]
    member = plan["member"]
    state = {"plan": plan, "job": job, "start": time.time(), "logfile": os.path.join(member, LOG_NAME),
             "stopped": False, "handle": None, "error": None}
    try:
        if plan.pop("move_aside", False):
            plan["moved_aside"] = move_aside(member)
        env = plain_environ()
        removed = sorted(set(os.environ) - set(env))
        with open(state["logfile"], "w") as out:
            out.write("# casa_plugin: restoring %s on %s (pid %d)\n" % (member, socket.gethostname(), os.getpid()))
            out.write("# casa_plugin: the child's environment: %s; a plain CASA, not an MPI rank\n" % (
                "removed the MPI variables " + ", ".join(removed) if removed else
                "no MPI variables (%s)" % ", ".join(p + "*" for p in _MPI_PREFIXES)))
            out.flush()
            state["handle"] = external.start_restore(_command(plan), member, job["options"], output=out, env=env,
                                                     standin=job.get("standin", False))
            out.write("# casa_plugin: %s (pid %d)\n" % (" ".join(shlex.quote(w) for w in state["handle"]["cmd"]),
                                                        state["handle"]["proc"].pid))
    except Exception as exc:
        state["error"] = (exc, traceback.format_exc())
    return state


def _child_result(state):
    """The child's member result (waits for the child); RestoreError or KeyboardInterrupt if there is none.

    Once the child is done, its log is moved to its final place (``state['logfile']``), which the
    messages name; a failure carries what the child CASA logged as SEVERE since the restore started.
    """
    plan, handle = state["plan"], state["handle"]
    name = os.path.basename(plan["member"])
    try:
        child = external.finish_restore(handle)
    except RuntimeError as exc:
        if state["stopped"]:
            raise KeyboardInterrupt()
        state["logfile"] = _file_log(state["logfile"])
        raise RestoreError("%s: its CASA process (pid %d) failed: %s; see %s" % (
            name, handle["proc"].pid, exc, state["logfile"]))
    state["logfile"] = _file_log(state["logfile"])
    if state["stopped"]:
        raise KeyboardInterrupt()
    result = ((child.get("result") or {}).get("members") or {}).get(plan["member"])
    if result is None:
        raise RestoreError("%s: in its CASA process: %s; %s; see %s" % (name, child.get("error"), handle["cause"],
                                                                        state["logfile"]))
    plan["casa_version"] = child.get("casa_version")
    if result.get("status") != "restored":
        result = dict(result, error="%s; see %s" % (casa_log.with_cause(result.get("error"), handle["cause"]),
                                                     state["logfile"]))
    return result


def finish_member(state):
    """Wait for the member's CASA process; postflight, run record; return the member's result (never raise)."""
    plan = state["plan"]
    try:
        if state["error"]:
            raise state["error"][0]
        result = _child_result(state)
        plan["postflight"] = result.get("postflight")
        if result.get("status") != "restored":
            plan.update({"status": "failed", "error": result.get("error"), "traceback": result.get("traceback")})
        else:
            check_products(plan, result.get("postflight"))
            plan["status"] = "restored"
    except KeyboardInterrupt:
        plan.update({"status": "interrupted", "error": "interrupted (Ctrl-C)"})
    except Exception as exc:
        tb = state["error"][1] if state["error"] else traceback.format_exc()
        plan.update({"status": "failed", "error": str(exc), "traceback": tb})
    plan["seconds"] = time.time() - state["start"]
    logfile = state["logfile"] = _file_log(state["logfile"])
    if plan["status"] != "restored" and os.path.exists(logfile):
        with open(logfile, "a") as out:
            out.write("# casa_plugin: %s: %s\n%s" % (plan["status"].upper(), plan.get("error"),
                                                     plan.get("traceback") or ""))
    plan.update({"log": logfile if os.path.exists(logfile) else None, "host": socket.gethostname()})
    record_member(plan)
    return plan


def restore_member(job):
    """Restore one member in its own CASA process; the job function of a member-parallel restore.

    Runs here (``side_by_side`` calls ``start_member`` and ``finish_member``
    itself) or in a casampi server's worker, on that server's host; the MPI
    environment is stripped from the child, which is a plain CASA. The
    child's output goes to ``<member>/casa_plugin_restore.log``, moved into
    ``calibrated/`` at the end. The postflight and the run record are the
    serial restore's. A Ctrl-C (the client's, sent to the worker) stops the
    child and marks the member interrupted.

    Parameters
    ----------
    job : dict
        ``plan`` (the member's preflight plan: member, ebs, script, casa,
        move_aside, delivery_versions), ``options`` (the child's restore_pi
        options), ``variables`` (the scriptForPI's), ``standin``.

    Returns
    -------
    dict
        The member's result: ``status`` (restored, failed, interrupted),
        ``products``, ``casa_version``, ``seconds``, ``error``, ``traceback``,
        ``moved_aside``, ``log`` (its path), ``host``.
    """
    state = start_member(job)
    try:
        while running(state):
            time.sleep(0.2)
    except KeyboardInterrupt:
        stop(state)
    return finish_member(state)
