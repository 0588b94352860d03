"""Run per-EB jobs serially or on casampi servers, through one interface: ``run_jobs``.

The job contract: a job is a split task's plan (``casa_plugin.plan.Plan`` or
``Chain``: its EB, input bytes and rows, the bytes it will split), or a
picklable dict naming its EB (``'vis'``, and ``'input_bytes'`` when known);
``func_path`` is ``'module:function'``, a function taking that job and
returning a result dict with ``'status'``
(``'split'``, ``'done'``, ``'planned'`` or ``'failed'``, with ``'error'``).
It must be importable without CASA's startup file (servers never run it).
"""

import logging
import sys

from ..errors import ParallelUnavailable
from . import client, policy
from ._casampi import server_ranks
from .calls import call_job, failure
from .client import exit_cleanly, start_workers, want_parallel

__all__ = ["run_jobs", "call_job", "failure", "start_workers", "want_parallel", "exit_cleanly", "server_ranks"]

log = logging.getLogger(__name__)


def run_jobs(func_path, jobs, *, on_result=None, parallel=None, maxjobs=None, timeout=None, on_start=None,
             on_plan=None, unit="EB"):
    """Run each job with ``func_path`` and return the results in job order.

    Parameters
    ----------
    func_path : str
        ``'module:function'`` taking one job dict and returning a result dict.
    jobs : list of Plan, Chain or dict
        Picklable jobs. Under MPI a plan's ``work_bytes`` (the bytes the job
        will split; 0: little to do) and ``input_rows`` weigh the work; a
        dict's ``'work_bytes'``, else ``'input_bytes'``, else the size of
        ``'vis'``, and its ``'input_rows'``, else ``nrows()`` of ``'vis'``
        (both then kept in the dict).
    on_result : callable, optional
        Called as ``on_result(job, result)`` as soon as each job finishes.
    on_start : callable, optional
        Called as ``on_start(job)`` when a job starts (serially) or is handed to a server.
    on_plan : callable, optional
        Called once, before any job starts, with the choice made:
        ``{'mode': 'serial' or 'parallel', 'reason': str, 'per_host': {host: EBs at once}}``.
    parallel : bool or None
        None: the policy (``casa_plugin.parallel.policy``) chooses: on the
        casampi servers only where they win, else serially here, without
        starting the servers' workers. True: on the servers
        (ParallelUnavailable outside MPI). False: serially here.
    maxjobs : int, optional
        Under MPI, EBs run at once per host (fixed); default the policy's.
    unit : str
        What a job is, in the log lines and the choice's reason (``'EB'``; ``'member'`` for restores).
    timeout : float, optional
        Under MPI, seconds one job may run before its worker is killed and
        the EB reported failed; default 3600 + 1 s per MB of input.
    """
    if maxjobs is not None and (isinstance(maxjobs, bool) or not isinstance(maxjobs, int) or maxjobs < 1):
        raise ValueError("maxjobs=%r: give a whole number of EBs run at once per host, or None" % (maxjobs,))
    mpi = client.want_parallel(parallel) and bool(jobs)  # raises for parallel=True outside MPI
    client.settled()  # a previous serial run's start of casampi's services (quiet_servers_soon)
    client.exit_cleanly()
    choice = client.plan(jobs, parallel=parallel, maxjobs=maxjobs, unit=unit) if mpi else policy.decide(
        parallel=parallel, hosts={}, client_host="", cores={}, sizes=[], averaging=False)
    if mpi:
        log.info("parallel: %s: %s", "serial in the client" if choice["mode"] == "serial" else
                 "on the casampi servers", choice["reason"])
    if choice["mode"] == "serial" and jobs and (mpi or ("casatasks" in sys.modules and server_ranks())):
        # measured: without casampi's client services running, a serial run under mpirun used 13-19 CPU s more
        # than serial (5 s with them) and exited slower; started in a thread, their start-up overlaps the first EB
        client.quiet_servers_soon()
    if on_plan is not None:
        on_plan(choice)
    if choice["mode"] == "parallel":
        try:
            return client.run_parallel(func_path, jobs, on_result, maxjobs=maxjobs, timeout=timeout,
                                       on_start=on_start, per_host=choice["per_host"], unit=unit)
        except client.NoServers as exc:
            if parallel:
                raise ParallelUnavailable("parallel=True, but %s" % exc)
            log.warning("%s; running the %d job(s) serially on the client", exc, len(jobs))
            choice.update(mode="serial", reason="%s (%s)" % (exc, choice["reason"]), per_host={})
    results = []
    try:
        for job in jobs:
            if on_start is not None:
                on_start(job)
            result = call_job(func_path, job)
            if on_result is not None:
                on_result(job, result)
            results.append(result)
    finally:
        client.settled()  # returns (or is interrupted) with casampi's services started and the servers idle
    return results
