"""Run one per-EB job by its ``module:function`` path; a failure becomes the EB's result, never an exception."""

import importlib
import socket
import traceback

from ..logs import cause_of

__all__ = ["call_job", "failure"]


def call_job(func_path, job, **kwargs):
    """Run ``module:function`` on one job (a plan, or a dict), with ``kwargs``, and return its result dict; never
    raises an Exception.

    A failure becomes ``{'status': 'failed', 'error': ..., 'traceback': ...}``
    so that one bad EB never stops the others; where a CASA task raised it,
    ``'casa_cause'`` holds CASA's own SEVERE lines of that moment (or says
    there were none, or no log), also appended to ``'error'`` after ``'; '``. This is also what a casampi
    server's worker runs, so it must import without the CASA startup file.
    """
    module, name = func_path.split(":")
    try:
        func = getattr(importlib.import_module(module), name)
        result = func(job, **kwargs)
    except Exception as exc:  # reported per EB, raised once at the end by the task
        result = {"status": "failed", "error": "%s: %s" % (type(exc).__name__, exc),
                  "error_type": type(exc).__name__, "traceback": traceback.format_exc()}
        cause = cause_of(exc)  # CASA's own SEVERE lines, where a CASA task raised it
        if cause is not None:
            result.update(error="%s; %s" % (result["error"], cause), casa_cause=cause)
    result.setdefault("host", socket.gethostname())
    return result


def failure(kind, message, tb=None):
    """Return the result dict of a job that failed outside ``call_job`` (dead worker, lost server)."""
    return {"status": "failed", "error": "%s: %s" % (kind, message), "error_type": kind,
            "traceback": tb or message, "host": socket.gethostname()}
