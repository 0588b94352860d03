"""Route the package's log records to casalog and the terminal; read CASA's SEVERE lines back for a failure."""

import logging
import os
import re
import sys
from contextlib import contextmanager

__all__ = ["task_logging", "progress_line", "task_of", "casalog_post", "casalog_echoes",
           "casalog_file", "severe_lines", "log_mark", "casa_cause", "note_cause", "cause_of",
           "set_process_log"]

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
_CAUSE_ATTR = "_casa_plugin_casa_cause"  # set on an exception raised by a CASA task: CASA's own SEVERE lines
_process_log = [None]  # this process's own CASA log, where the log file is shared (a casampi server's worker)
_NOISE = ("MeasTable::",)  # SEVERE origins that never explain a failure (the leap-second table's age)
_EMBEDDED = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\t[A-Z0-9]+\t[^\t]*\t")  # a log line CASA quoted whole
_MAX_CAUSE = 1000  # characters of CASA's SEVERE lines kept in an EB's error


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
        if _own_thread(record):
            return  # the terminal handler prints it
        try:
            casalog_post(self.format(record), _origin[-1], _CASA_PRIORITY.get(record.levelno, "INFO"))
        except Exception:  # logging must never break a task
            self.handleError(record)


def _own_thread(record):
    """Whether ``record`` comes from a thread of this package (progress, quieting casampi's servers), which runs
    beside a CASA task: such records never touch casalog, whose origin and posts are not thread-safe (CASA 6.2
    crashed in ``casalog.origin`` when the progress thread posted while ``split`` set its origin)."""
    return (record.threadName or "").startswith("casa_plugin")


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


def _own_origin(origin):
    """A C++ message's origin without the task name casalog had last been given (``task::class::function``):
    that name is whichever task or package posted before, not what raised (a restore's 'table does not exist'
    read ``flagmanager::open::…`` after a split). Task-level origins (``split::::casa``) are kept."""
    parts = origin.split("::")
    if len(parts) >= 3 and all(parts[:2]) and re.match(r"^[A-Za-z_][A-Za-z0-9_.]*$", parts[0]):
        return "::".join(parts[1:])
    return origin


def severe_lines(path, offset=0):
    """Return the SEVERE messages CASA wrote to the log file ``path`` from byte ``offset`` on.

    Parameters
    ----------
    path : str or int
        A CASA log file (casalog's file, or the terminal copy of a process's
        log: both have ``date<TAB>PRIORITY<TAB>origin<TAB>message`` lines), or
        an open file descriptor of one (read with ``os.pread``: its offset is
        left alone).
    offset : int
        Where to start reading, e.g. the file's size when a task started.

    Returns
    -------
    list of (str, str)
        ``(origin, message)`` for each SEVERE message, in order; a message's
        continuation lines (origin ending in ``+``) are joined to it with a
        space, its ``Stack Trace:`` lines left out. A missing or unreadable
        file gives ``[]``.
    """
    try:
        if isinstance(path, int):
            size = os.fstat(path).st_size
            data = os.pread(path, max(0, size - offset), offset) if size > offset else b""
        else:
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read()
    except (OSError, IOError):
        return []
    text = data.decode("utf-8", "replace")
    out, trace = [], False
    for line in text.splitlines():
        fields = line.split("\t", 3)
        if len(fields) < 4 or fields[1].strip() != "SEVERE":
            continue
        origin, message = _own_origin(fields[2]), _EMBEDDED.sub("", fields[3]).replace("\t", " ").strip()
        if origin.endswith("+") and out and out[-1][0] == origin[:-1]:
            trace = trace or message.startswith("Stack Trace:")
            if message and not trace:
                out[-1] = (out[-1][0], (out[-1][1] + " " + message).strip())
            continue
        trace = False
        out.append((origin, message))
    return out


def set_process_log(path):
    """Read this process's CASA messages back from ``path``, not casalog's file (shared by other processes).

    A casampi server's worker calls it with the descriptor of its own
    terminal output (a file its server reads; casalog prints SEVERE lines
    there too): every rank of an ``mpirun`` writes to the same casalog file,
    and CASA's C++ lines there do not say which process wrote them.
    """
    _process_log[0] = path


def log_mark():
    """Return ``(path, offset)``: where this process's CASA messages are read back from, and its size now.

    ``(None, reason)`` where CASA writes no log file (``--nologfile``: /dev/null).
    """
    path = _process_log[0] if _process_log[0] is not None else casalog_file()
    if path == "" or path == os.devnull:
        return None, "CASA wrote no log (casalog's file is %s)" % (path or "not set")
    try:
        return path, os.fstat(path).st_size if isinstance(path, int) else os.path.getsize(path)
    except OSError:
        return path, 0  # not written yet: all of it is new


def casa_cause(mark, task):
    """Return CASA's own words for a failure of ``task`` since ``mark`` (a ``log_mark()``), in one line.

    ``CASA's SEVERE lines: <origin>: <message> | ...`` (all but CASA's own
    "Task ... raised an exception" line, which repeats the exception, and the
    leap-second notice), or a sentence saying CASA logged none or wrote no log.
    """
    path, offset = mark
    if path is None:
        return offset
    found = ["%s: %s" % (o, m) for o, m in severe_lines(path, offset)
             if m and not o.startswith(_NOISE) and not m.startswith("Task %s raised an exception" % task)]
    if not found:
        where = "its own output" if isinstance(path, int) else path
        return "CASA logged no SEVERE line since %s started (log: %s)" % (task, where)
    text = "CASA's SEVERE lines: " + " | ".join(found)
    return text if len(text) <= _MAX_CAUSE else text[:_MAX_CAUSE - 3] + "..."


def note_cause(exc, mark, task):
    """Attach ``casa_cause(mark, task)`` to ``exc``, an exception raised by CASA's ``task``; return ``exc``."""
    if cause_of(exc) is None:
        try:
            setattr(exc, _CAUSE_ATTR, casa_cause(mark, task))
        except Exception:  # an exception type without attributes: no cause to show
            pass
    return exc


def cause_of(exc):
    """Return the CASA cause attached to ``exc`` or to an exception it was raised from, or None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        cause = getattr(exc, _CAUSE_ATTR, None)
        if cause is not None:
            return cause
        exc = exc.__cause__ or exc.__context__
    return None


class _TerminalHandler(logging.StreamHandler):
    """Print the records casalog does not print itself; looks up sys.stdout at each call (IPython swaps it)."""

    def __init__(self):
        super(_TerminalHandler, self).__init__()

    def emit(self, record):
        if casalog_echoes(record.levelno) and not _own_thread(record):
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
