"""Route the package's log records to CASA's logger (casalog) and to the terminal."""

import logging
import sys
from contextlib import contextmanager

__all__ = ["task_logging", "progress_line", "task_of", "casalog_post", "casalog_echoes",
           "casalog_file"]

_PACKAGE = "casa_plugin"
_CASA_PRIORITY = {
    logging.DEBUG: "DEBUG1",
    logging.INFO: "INFO",
    logging.WARNING: "WARN",
    logging.ERROR: "SEVERE",
    logging.CRITICAL: "SEVERE",
}
_origin = ["casa_plugin"]
_TASK_ATTR = "_casa_plugin_task"  # set on an exception raised out of a task: the task's name


def _casalog():
    """Return CASA's logsink, without importing casatasks on an MPI server (that deadlocks)."""
    mod = sys.modules.get("casatasks")
    if mod is not None and hasattr(mod, "casalog"):
        return mod.casalog
    try:
        from casatasks import casalog
    except ImportError:
        return None
    return casalog


class _CasalogHandler(logging.Handler):
    """Post each record to casalog with the running task's name as origin.

    CASA tasks called by ours (flagmanager, split) set casalog's origin and leave it set; a post
    then shows as ``flagmanager::split_sci``. So the origin is set to the task's name for each post
    and the previous origin is put back afterwards, where casalog can tell it (``getOrigin``).
    """

    def emit(self, record):
        try:
            casalog_post(self.format(record), _origin[-1], _CASA_PRIORITY.get(record.levelno, "INFO"))
        except Exception:  # logging must never break a task
            self.handleError(record)


def casalog_post(message, origin, priority="INFO"):
    """Post ``message`` to casalog under ``origin`` and put casalog's own origin back afterwards."""
    log = _casalog()
    if log is None:
        return
    get_origin = getattr(log, "getOrigin", None)
    previous = get_origin() if get_origin is not None else None
    log.origin(origin)
    try:
        log.post(message, priority, origin)
    finally:
        if previous is not None:
            log.origin(previous)


def casalog_echoes(levelno=logging.INFO):
    """Whether casalog itself prints a record of level ``levelno`` on the terminal.

    casalog always prints WARN and SEVERE posts (on stderr); INFO ones with casashell's
    ``--log2term``. casampi keeps MPI servers' casalog off the terminal.
    """
    if _casalog() is None:
        return False
    env = getattr(sys.modules.get("casampi.MPIEnvironment"), "MPIEnvironment", None)
    if env is not None and getattr(env, "is_mpi_enabled", False) and not getattr(env, "is_mpi_client", True):
        return False
    if levelno >= logging.WARNING:
        return True
    flags = getattr(sys.modules.get("casashell"), "flags", None)
    return bool(getattr(flags, "log2term", False))


def casalog_file():
    """Return the path of casalog's file, or '' if there is none."""
    log = _casalog()
    try:
        return log.logfile() if log is not None else ""
    except Exception:
        return ""


class _TerminalHandler(logging.StreamHandler):
    """Print the records casalog does not print itself; looks up sys.stdout at each call (IPython swaps it)."""

    def __init__(self):
        super(_TerminalHandler, self).__init__()

    def emit(self, record):
        if casalog_echoes(record.levelno):
            return  # casalog printed it already: once is enough
        super(_TerminalHandler, self).emit(record)

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value):
        pass


def _install():
    logger = logging.getLogger(_PACKAGE)
    if any(getattr(h, "_casa_plugin", False) for h in logger.handlers):
        return logger
    for handler, fmt in ((_CasalogHandler(), "%(message)s"),
                         (_TerminalHandler(), "%(name)s: %(levelname)s: %(message)s")):
        handler._casa_plugin = True
        handler.setFormatter(logging.Formatter(fmt))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


@contextmanager
def task_logging(origin):
    """Send package log records to casalog (origin ``origin``) and the terminal while a task runs."""
    _install()
    _origin.append(origin)
    try:
        yield
    except (Exception, KeyboardInterrupt) as exc:
        mark_task(exc, origin)  # set at each level: the outermost task, the one the user called, is left
        raise
    finally:
        _origin.pop()


def task_of(exc):
    """Return the name of the package task ``exc`` was raised out of, or None."""
    return getattr(exc, _TASK_ATTR, None)


def mark_task(exc, task):
    """Mark ``exc`` as raised out of ``task`` (shown as one line at the prompt and under ``casa -c``)."""
    try:
        setattr(exc, _TASK_ATTR, task)
    except Exception:  # an exception type without attributes: shown as any other
        pass
    return exc


def show_task_error(exc, task, out, prompt=False):
    """Print ``ExcType: message`` and where the traceback is to ``out``; post the traceback to casalog."""
    import traceback
    stopped = isinstance(exc, KeyboardInterrupt)  # its lines (what to run again) were logged as it stopped
    print("%s: %s" % (type(exc).__name__, "%s stopped (Ctrl-C)" % task if stopped else exc), file=out)
    logfile = casalog_file()
    tb = "; %tb shows it here" if prompt else ""
    what = "stopped" if stopped else "failed"
    if logfile and logfile != "/dev/null":
        print("[%s %s; traceback in the CASA log (%s)%s]" % (task, what, logfile, tb), file=out)
    else:
        print("[%s %s%s]" % (task, what, "; %tb shows the traceback" if prompt else ""), file=out)
    # INFO: casalog prints WARN and SEVERE on the terminal too
    casalog_post("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip(), task, "INFO")


def progress_line(index, total, name, target, detail, seconds):
    """Format one per-EB progress line: ``[3/8] uid___… -> … (spw 17,19) 12.3 s``."""
    text = "[%d/%d] %s -> %s" % (index, total, name, target)
    if detail:
        text += " (%s)" % detail
    if seconds is not None:
        text += " %.1f s" % seconds
    return text
