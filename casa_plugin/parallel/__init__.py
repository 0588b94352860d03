"""Run per-EB jobs serially or on casampi servers, through one interface: ``run_jobs``.

The job contract: a job is a picklable dict naming its EB (``'vis'``, and
``'input_bytes'`` when known); ``func_path`` is ``'module:function'``, a
function taking that dict and returning a result dict with ``'status'``
(``'split'``, ``'done'``, ``'planned'`` or ``'failed'``, with ``'error'``).
It must be importable without CASA's startup file (servers never run it).
"""

import logging

from ..errors import ParallelUnavailable
from . import client
from ._casampi import server_ranks
from .calls import call_job, failure
from .client import start_workers, want_parallel

__all__ = ["run_jobs", "call_job", "failure", "start_workers", "want_parallel", "server_ranks"]

log = logging.getLogger(__name__)


def run_jobs(func_path, jobs, *, on_result=None, parallel=None, maxjobs=None, timeout=None, on_start=None):
    """Run each job with ``func_path`` and return the results in job order.

    Parameters
    ----------
    func_path : str
        ``'module:function'`` taking one job dict and returning a result dict.
    jobs : list of dict
        Picklable job descriptions; an ``'input_bytes'`` entry (else the size
        of ``'vis'``) gives the throughput under MPI.
    on_result : callable, optional
        Called as ``on_result(job, result)`` as soon as each job finishes.
    on_start : callable, optional
        Called as ``on_start(job)`` when a job starts (serially) or is handed to a server.
    parallel : bool or None
        None: on the casampi servers if this is an MPI client with servers,
        else serially here. True: on the servers (ParallelUnavailable outside MPI).
        False: serially here.
    maxjobs : int, optional
        Under MPI, EBs run at once per host; default adaptive (from 1, one
        more while the host's aggregate input MB/s rises by 10 % or more).
    timeout : float, optional
        Under MPI, seconds one job may run before its worker is killed and
        the EB reported failed; default 3600 + 1 s per MB of input.
    """
    if maxjobs is not None and (isinstance(maxjobs, bool) or not isinstance(maxjobs, int) or maxjobs < 1):
        raise ValueError("maxjobs=%r: give a whole number of EBs run at once per host, or None" % (maxjobs,))
    if client.want_parallel(parallel) and jobs:
        try:
            return client.run_parallel(func_path, jobs, on_result, maxjobs=maxjobs, timeout=timeout,
                                       on_start=on_start)
        except client.NoServers as exc:
            if parallel:
                raise ParallelUnavailable("parallel=True, but %s" % exc)
            log.warning("%s; running the %d job(s) serially on the client", exc, len(jobs))
    results = []
    for job in jobs:
        if on_start is not None:
            on_start(job)
        result = call_job(func_path, job)
        if on_result is not None:
            on_result(job, result)
        results.append(result)
    return results
