"""One member's restore as a job: its own CASA process and log, postflight, run record (here or on an MPI server)."""

import logging
import os
import shlex
import signal
import socket
import threading
import time
import traceback

from .. import record as run_record
from ..errors import RestoreError
from . import external
from .preflight import calibrated_products

__all__ = ["LOG_NAME", "restore_member", "plain_environ", "move_aside", "check_products", "record_member",
           "stop_children"]

log = logging.getLogger(__name__)

#: The member's restore log: written in the member directory while it runs, then moved into calibrated/.
LOG_NAME = "casa_plugin_restore.log"
#: Environment variables of an MPI rank; a child CASA started without them is a plain CASA, not a rank.
_MPI_PREFIXES = ("OMPI_", "PMIX_", "PMI_", "HYDRA_", "MPI_", "PRTE_")
_GRACE = 20  # seconds a child has to stop after SIGINT (Ctrl-C) before it is killed
_children = {}  # pid -> {'proc', 'stopped'}: the child CASAs of this process
_lock = threading.Lock()


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


def check_products(plan):
    """Set ``plan['products']`` from calibrated/; RestoreError if an EB has no calibrated MS."""
    found, missing = calibrated_products(plan["member"], plan["ebs"])
    if missing:
        raise RestoreError("%s: the scriptForPI finished but calibrated/ has no MS for %s; see the CASA log"
                           % (os.path.basename(plan["member"]), ", ".join(missing)))
    plan["products"] = found


def record_member(plan):
    """Write the member's restore entry in ``calibrated/casa_plugin_record.json`` (if calibrated/ exists)."""
    calibrated = os.path.join(plan["member"], "calibrated")
    if not os.path.isdir(calibrated):
        return
    entry = dict((k, plan.get(k)) for k in ("status", "seconds", "casa_version", "delivery_versions",
                                            "options", "error", "products", "moved_aside", "casa"))
    try:
        run_record.update_restore(calibrated, entry)
    except OSError as exc:
        log.warning("could not write the run record in %s: %s", calibrated, exc)


def stop_children():
    """Ctrl-C every child CASA of this process (SIGINT, then SIGKILL after a grace period)."""
    with _lock:
        entries = list(_children.values())
    for entry in entries:
        entry["stopped"] = True
        if entry["proc"].poll() is None:
            entry["proc"].send_signal(signal.SIGINT)
    deadline = time.time() + _GRACE
    for entry in entries:
        while entry["proc"].poll() is None and time.time() < deadline:
            time.sleep(0.1)
        if entry["proc"].poll() is None:
            entry["proc"].kill()


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


def _run_child(job, plan, logfile, where):
    """Run the member's CASA process writing to ``logfile``; return the child's member result."""
    member = plan["member"]
    with open(logfile, "w") as out:
        out.write("# casa_plugin: restoring %s on %s\n" % (member, where))
        env = plain_environ()
        removed = sorted(set(os.environ) - set(env))
        out.write("# casa_plugin: the child's environment: %s; a plain CASA, not an MPI rank\n" % (
            "removed the MPI variables " + ", ".join(removed) if removed else
            "no MPI variables (%s)" % ", ".join(p + "*" for p in _MPI_PREFIXES)))
        out.flush()
        handle = external.start_restore(_command(plan), member, job["options"], output=out, env=env,
                                        standin=job.get("standin", False))
        entry = {"proc": handle["proc"], "stopped": False}
        with _lock:
            _children[handle["proc"].pid] = entry
        try:
            out.write("# casa_plugin: %s (pid %d)\n" % (" ".join(shlex.quote(w) for w in handle["cmd"]),
                                                        handle["proc"].pid))
            out.flush()
            try:
                child = external.finish_restore(handle)
            except KeyboardInterrupt:  # on an MPI server: the client's Ctrl-C reaches the worker
                entry["stopped"] = True
                stop_children()
                raise
            except RuntimeError as exc:
                if entry["stopped"]:
                    raise KeyboardInterrupt()
                raise RestoreError("%s: its CASA process (pid %d) failed: %s; see %s" % (
                    os.path.basename(member), handle["proc"].pid, exc, logfile))
        finally:
            with _lock:
                _children.pop(handle["proc"].pid, None)
    if entry["stopped"]:
        raise KeyboardInterrupt()
    result = ((child.get("result") or {}).get("members") or {}).get(member)
    if result is None:
        raise RestoreError("%s: in its CASA process: %s; see %s" % (os.path.basename(member), child.get("error"),
                                                                    logfile))
    return child, result


def restore_member(job):
    """Restore one member in its own CASA process; the job function of a member-parallel restore.

    Runs in a thread of the caller or in a casampi server's worker (then on
    that server's host; the MPI environment is stripped from the child, which
    is a plain CASA). The child's output goes to
    ``<member>/casa_plugin_restore.log``, moved into ``calibrated/`` at the
    end. The postflight and the run record are the serial restore's.

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
        ``moved_aside``, ``log`` (its path), ``host``, ``pid`` (the child's).
    """
    plan = dict(job["plan"])
    plan["options"] = job["variables"]
    member = plan["member"]
    where = "%s (pid %d)" % (socket.gethostname(), os.getpid())
    logfile = os.path.join(member, LOG_NAME)
    start = time.time()
    try:
        if plan.pop("move_aside", False):
            plan["moved_aside"] = move_aside(member)
        child, result = _run_child(job, plan, logfile, where)
        plan["casa_version"] = child.get("casa_version")
        if result.get("status") != "restored":
            plan.update({"status": "failed", "error": result.get("error") or child.get("error"),
                         "traceback": result.get("traceback")})
        else:
            check_products(plan)
            plan["status"] = "restored"
    except KeyboardInterrupt:
        plan.update({"status": "interrupted", "error": "interrupted (Ctrl-C)"})
    except Exception as exc:
        plan.update({"status": "failed", "error": str(exc), "traceback": traceback.format_exc()})
    plan["seconds"] = time.time() - start
    if plan["status"] != "restored" and os.path.exists(logfile):
        with open(logfile, "a") as out:
            out.write("# casa_plugin: %s: %s\n%s" % (plan["status"].upper(), plan.get("error"),
                                                     plan.get("traceback") or ""))
    record_member(plan)
    plan.update({"log": _file_log(logfile) if os.path.exists(logfile) else None, "host": socket.gethostname()})
    return plan
