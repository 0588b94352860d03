"""Route the package's log records to CASA's logger (casalog) and to the terminal."""

import logging
import sys
from contextlib import contextmanager

__all__ = ["task_logging", "progress_line"]

_PACKAGE = "casa_plugin"
_CASA_PRIORITY = {
    logging.DEBUG: "DEBUG1",
    logging.INFO: "INFO",
    logging.WARNING: "WARN",
    logging.ERROR: "SEVERE",
    logging.CRITICAL: "SEVERE",
}
_origin = ["casa_plugin"]


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
    """Post each record to casalog with the running task's name as origin."""

    def emit(self, record):
        log = _casalog()
        if log is None:
            return
        try:
            priority = _CASA_PRIORITY.get(record.levelno, "INFO")
            log.post(self.format(record), priority, _origin[-1])
        except Exception:  # logging must never break a task
            self.handleError(record)


class _TerminalHandler(logging.StreamHandler):
    """Print records on the terminal; looks up sys.stdout at each call (IPython swaps it)."""

    def __init__(self):
        super(_TerminalHandler, self).__init__()

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
    finally:
        _origin.pop()


def progress_line(index, total, name, target, detail, seconds):
    """Format one per-EB progress line: ``[3/8] uid___… -> … (spw 17,19) 12.3 s``."""
    text = "[%d/%d] %s -> %s" % (index, total, name, target)
    if detail:
        text += " (%s)" % detail
    if seconds is not None:
        text += " %.1f s" % seconds
    return text
