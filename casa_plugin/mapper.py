"""Run per-EB jobs serially or on casampi servers through one interface."""

import importlib
import logging
import socket
import traceback

__all__ = ["call_job", "run_jobs"]

log = logging.getLogger(__name__)


def call_job(func_path, job):
    """Run ``module:function`` on one job dict and return its result dict; never raises an Exception.

    A failure becomes ``{'status': 'failed', 'error': ..., 'traceback': ...}``
    so that one bad EB never stops the others. This is also what a casampi
    server runs, so it must import without the CASA startup file.
    """
    module, name = func_path.split(":")
    try:
        func = getattr(importlib.import_module(module), name)
        result = func(job)
    except Exception as exc:  # reported per EB, raised once at the end by the task
        result = {"status": "failed", "error": "%s: %s" % (type(exc).__name__, exc),
                  "error_type": type(exc).__name__, "traceback": traceback.format_exc()}
    result.setdefault("host", socket.gethostname())
    return result


def run_jobs(func_path, jobs, on_result=None, parallel=False):
    """Run each job with ``func_path`` and return the results in job order.

    Parameters
    ----------
    func_path : str
        ``'module:function'`` taking one job dict and returning a result dict.
    jobs : list of dict
        JSON-able job descriptions.
    on_result : callable, optional
        Called as ``on_result(job, result)`` as soon as each job finishes.
    parallel : bool
        Reserved for casampi dispatch; False runs serially in this process.
    """
    if parallel:
        raise NotImplementedError("parallel=True: casampi dispatch is not available in this version")
    results = []
    for job in jobs:
        result = call_job(func_path, job)
        if on_result is not None:
            on_result(job, result)
        results.append(result)
    return results
