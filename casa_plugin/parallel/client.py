"""Spread per-EB jobs over casampi servers: where they are, fast polling, EBs at once per host, isolated workers."""

import atexit
import logging
import os
import socket
import sys
import threading
import time

from ..errors import ParallelUnavailable
from . import _casampi, policy
from .calls import failure

__all__ = ["NoServers", "server_ranks", "server_hosts", "want_parallel", "plan", "quick_exit", "idle_servers",
           "quiet_servers_soon", "settled", "start_workers", "run_parallel"]

server_ranks = _casampi.server_ranks

log = logging.getLogger(__name__)

# casampi polls with 0.1 s sleeps (~0.2-0.3 s per command). It reads these class attributes at
# each loop, so a command can change them on running servers: no startup file or env var needed.
_RESPONSE_SLEEP = "mpi_command_response_handler_service_sleep_time"
_FAST_CLIENT = {"mpi_monitor_status_service_timeout": 15}  # a dead server: ~15 s, not ~45 s; restored after
_FAST_SERVER = {"mpi_command_request_handler_service_sleep_time": 0.002}  # restored: it polls while idle
_EXIT = {"mpi_stop_service_sleep_time": 0.2, "mpi_monitor_status_service_heartbeat": 1,  # exit in ~3 s, not ~14
         "mpi_ping_status_request_handler_service_sleep_time": 0.5,
         "mpi_ping_status_response_handler_service_sleep_time": 0.5}
_KEEP = dict(_EXIT, **{_RESPONSE_SLEEP: 0.002, "mpi_command_request_queue_service_sleep_time": 0.002})  # idle: wait
_POLL = 0.002          # the client's own polling of responses
_QUIET_POLL = 0.01     # the same after 1 s without a response: ~0.5 % of a core, not ~3.5 %
_HELLO_TIMEOUT = 300   # a server must start its worker (import casatasks) within this
_GRACE = 60            # a server must answer within the job timeout + this, or it is given up
_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # servers import casa_plugin from here
_original = {}         # casampi's settings on the client before the first run
_started = []          # the ids of the server_hello commands start_workers pushed ahead of the first run
_kept = []             # the ids of the server_keep commands quick_exit pushed
_exit_hook = []        # exit_cleanly registered its exit handler
_hosts = {}            # {server ranks: {host: servers}} once asked (servers on several hosts)
_settling = []         # the thread quiet_servers_soon started, until settled() has joined it
_settling_lock = threading.Lock()
_CMD = ("((lambda s, p: p in s.path or s.path.insert(0, p))(__import__('sys'), _cp_req['path']), "
        "__import__('importlib').import_module('casa_plugin.parallel.server').%s(_cp_req))[1]")


class NoServers(ParallelUnavailable):
    """No casampi server could take jobs; nothing was run."""


def want_parallel(parallel):
    """Resolve ``parallel`` (None: auto, True, False) to a bool; True without servers is ParallelUnavailable."""
    if parallel not in (None, True, False):
        raise TypeError("parallel must be None (auto), True or False, not %r" % (parallel,))
    if parallel is False:
        return False
    if server_ranks():
        return True
    if parallel:
        raise ParallelUnavailable("parallel=True needs casampi servers: start CASA under MPI, e.g. 'mpicasa -n 5 casa "
                         "...' or 'mpirun -n 5 python -m casashell ...' (rank 0 is the client, ranks 1.. run "
                         "the EBs), or pass parallel=None or False")
    return False


def quick_exit():
    """Under MPI, when EBs run serially in the client: start casampi's client services if the session has
    not, and have them stop in ~3 s at exit, not ~14 s.

    Without started services casampi's exit neither stops the servers nor
    finalizes MPI, and ``mpirun`` ends with status 1 ("rank 0 exiting
    improperly"): a recipe that split serially under MPI failed its caller.
    Sets the client's and (one command each, not waited for) the servers'
    stop and heartbeat sleeps, as a parallel run does; starts no worker.
    Once per session; returns True if the command was sent.
    """
    settled()
    return _quick_exit()


def _quick_exit():
    if _kept or _started or not server_ranks():
        return False
    try:
        client = _casampi.client()
        if not _casampi.running(client):
            return False
        _casampi.apply(_EXIT)
        _kept.extend(_push(client, "server_keep", server_ranks(), {"path": _PARENT, "keep": _EXIT}))
    except Exception as exc:  # only the exit's speed depends on it
        log.warning("mpi: could not shorten casampi's stop at exit (%s)", exc)
        return False
    return True


def idle_servers():
    """Under MPI, while no EB runs on the servers: casampi's service threads, here and on each server, wait
    instead of polling, until the next command or control signal anyone sends to a server.

    casampi polls ~15-30 times a second per server while idle (commands,
    stop signal, pings), competing with the EBs split in the client. Idle,
    a server on this host wakes only when this process signals it (any
    command sent, casampi's exit) and looks for waiting messages less and
    less often (after 1 s, 2 s, ... up to every 30 s; every 1 s on another host). The
    heartbeat pauses meanwhile, so an idle server is never declared lost.
    Does nothing before casampi's client services run, or while idle already.
    Returns True if the servers were asked to idle.
    """
    settled()
    return _idle_servers()


def _idle_servers():
    if not server_ranks() or not _casampi.client_started() or _casampi.is_idle():
        return False
    try:
        client = _casampi.client()
        if not _casampi.running(client):
            return False
        ids = _push(client, "server_idle", server_ranks(), {"path": _PARENT, "client": _casampi.host_identity()})
        _casampi.idle_client(client, ids)
    except Exception as exc:  # only what idle servers cost depends on it
        log.warning("mpi: could not let casampi's servers idle (%s)", exc)
        return False
    return True


def quiet_servers_soon():
    """Under MPI, as EBs start to run serially in the client: ``quick_exit`` then ``idle_servers``, in a thread.

    Starting casampi's client services waits on its own polling: the
    servers answer the start signal and each service thread is polled into
    life, ~0.9 s of sleeps (measured) that would delay a 1-EB member's split
    by as much. In a thread they overlap the split, which never uses casampi.
    Every other use of casampi here first waits for it (``settled``); each
    step does nothing when done already. Returns the thread, or None outside MPI.
    """
    settled()
    if not server_ranks():
        return None
    _casampi.serialise_start()  # CASA's own casampi calls (a Multi-MS split) wait for this thread's start

    def quiet():
        _quick_exit()
        _idle_servers()

    thread = threading.Thread(target=quiet, name="casa_plugin: quiet casampi servers")
    thread.daemon = True  # joined at exit by quick_exit, before casampi's own exit handler
    _settling.append(thread)
    thread.start()
    return thread


def settled():
    """Wait until the thread of ``quiet_servers_soon`` (if any) is done; from inside that thread, return at once."""
    while _settling:
        thread = _settling[0]
        if thread is threading.current_thread():
            return
        thread.join()
        with _settling_lock:
            if _settling and _settling[0] is thread:
                _settling.pop(0)


def exit_cleanly():
    """Under MPI, make sure casampi can stop the servers and finalize MPI at exit, however the session ends.

    casampi's exit handler does nothing when its client services never
    started (a session that only split or restored serially), and ``mpirun``
    then ends with status 1. This registers, once, an exit handler that runs
    before casampi's and starts them (with ``quick_exit``'s short stop) when
    nothing else did. Returns True if the handler was registered now.
    """
    if _exit_hook or not server_ranks():
        return False
    _casampi.client_started()  # casampi's own exit handler is registered with its client: ours must come after
    atexit.register(quick_exit)
    _exit_hook.append(True)
    return True


def start_workers():
    """Under MPI, have each casampi server start its worker process now, without waiting for it.

    A worker imports casatasks' worker tasks (~1 s); started ahead of a run you know goes
    to the servers, it is ready by then, and the policy counts a smaller
    start-up. Nothing calls it by itself (a session that splits serially
    never pays for workers). Does nothing outside an MPI client, before
    casatasks is imported (the servers are not listening yet), or after the
    first call. Returns True if the workers were asked to start.
    """
    settled()
    if _started or "casatasks" not in sys.modules or not server_ranks():
        return False
    try:
        client = _casampi.client()
        if not _casampi.running(client):
            return False
        _started.extend(_push(client, "server_hello", server_ranks(), {"path": _PARENT, "timeout": _HELLO_TIMEOUT}))
    except Exception as exc:  # only an early start: the first run starts the workers anyway
        log.warning("mpi: could not start the servers' workers early (%s); the first parallel run will", exc)
        return False
    log.info("mpi: starting a worker process on each of %d casampi server(s)", len(_started))
    return True


class _Host(object):
    """EBs run at once on one host: the policy's level; one more only when ``policy.grow`` says so."""

    def __init__(self, name, ranks, level, fixed):
        self.name, self.ranks, self.fixed = name, ranks, fixed
        self.level = max(1, min(level, len(ranks)))

    def record(self, level, cpu_per_s, bytes_per_s, yardstick, seconds):
        if self.fixed or level != self.level:
            return
        new = policy.grow(level, len(self.ranks), cpu_per_s, bytes_per_s, yardstick, seconds)
        if new != level:
            log.info("mpi: host %s: the last EB used %.2f CPU s per s at %.0f MB/s (yardstick %.0f): waiting on "
                     "I/O, so %d EBs at once", self.name, cpu_per_s, bytes_per_s / 1e6, yardstick / 1e6, new)
            self.level = new


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def server_hosts(ranks):
    """Return ``{host: number of servers}`` for the server ``ranks``, without starting their workers.

    From the MPI launcher's environment when every rank runs on this host;
    else each server is asked its host name (a one-line casampi command).
    """
    here = socket.gethostname()
    if _casampi.all_local():
        return {here: len(ranks)}
    if tuple(ranks) in _hosts:  # asked once per session
        return dict(_hosts[tuple(ranks)])
    __import__("casatasks")
    settled()
    client = _casampi.client()
    hosts = {}
    try:
        ids = _casampi.push(client, "__import__('socket').gethostname()", ranks, {})
        got = _wait(client, ids, 30)
    except Exception as exc:  # a private API: the run then treats the servers as elsewhere
        log.warning("mpi: could not ask the servers for their host names (%s)", exc)
        got = []
    names = dict((r.get("server"), r.get("ret")) for r in got if r.get("successful"))
    for rank in ranks:  # a server that did not say: as if on a host of its own
        name = names.get(rank) or "?%d" % rank
        hosts[name] = hosts.get(name, 0) + 1
    if len(names) == len(ranks):
        _hosts[tuple(ranks)] = dict(hosts)
    return hosts


def plan(jobs, *, parallel, maxjobs=None, unit="EB"):
    """Return ``policy.decide``'s choice for ``jobs``: ``{'mode', 'reason', 'per_host'}``; starts no worker."""
    ranks = server_ranks() if parallel is not False else []
    hosts = server_hosts(ranks) if ranks else {}
    here = socket.gethostname()
    sizes = [_work_bytes(j) for j in jobs] if ranks else []
    rows = [_input_rows(j) if size else None for j, size in zip(jobs, sizes)]  # none for EBs only checked
    return policy.decide(parallel=parallel, hosts=hosts, client_host=here, cores={here: _cores()}, sizes=sizes,
                         averaging=any(policy.averages(_request(j)) for j in jobs), maxjobs=maxjobs,
                         started=bool(_started), rows=rows, unit=unit)


def _is_plan(job):
    """True for a split task's plan (``casa_plugin.plan.Plan`` or ``Chain``), False for a dict job."""
    return not isinstance(job, dict)


def _request(job):
    """What tells whether ``job`` averages: a plan's request, a dict job itself."""
    return job.request if _is_plan(job) else job


def _vis(job, default=None):
    return job.vis if _is_plan(job) else job.get("vis", default)


def _work_bytes(job):
    """The bytes ``job`` will process: a plan's ``work_bytes``; a dict's ``'work_bytes'``, else its input's."""
    if _is_plan(job):
        return job.work_bytes
    return job["work_bytes"] if job.get("work_bytes") is not None else _input_bytes(job)


def _input_bytes(job):
    """The job's input bytes: a plan's (measured when it was made); a dict's ``'input_bytes'``, else the size of
    its ``'vis'`` (kept in the dict)."""
    if _is_plan(job):
        return int(job.input_bytes or 0)
    if job.get("input_bytes") is None:
        from ..ms import du_bytes
        job["input_bytes"] = du_bytes(job["vis"]) if job.get("vis") else 0
    return int(job["input_bytes"])


def _input_rows(job):
    """The job's input main-table rows: a plan's (counted when it was made under MPI); a dict's
    ``'input_rows'``, else ``nrows()`` of its ``'vis'`` (kept in the dict); None if not known."""
    if _is_plan(job):
        return job.input_rows
    if job.get("input_rows") is None:
        from ..plan import count_rows
        job["input_rows"] = count_rows(job["vis"]) if job.get("vis") else None
    return job["input_rows"]


def _push(client, name, ranks, req):
    return _casampi.push(client, _CMD % name, ranks, {"_cp_req": req})


def _wait(client, ids, seconds):
    deadline, got = time.time() + seconds, []
    while ids and len(got) < len(ids) and time.time() < deadline:
        time.sleep(_POLL)
        got = _casampi.responses(client, ids)
    return got


def run_parallel(func_path, jobs, on_result=None, maxjobs=None, timeout=None, on_start=None, per_host=None,
                 unit="EB"):
    """Run the jobs on the casampi servers, a worker process per server; return the results in job order.

    Parameters
    ----------
    func_path, jobs, on_result, on_start
        As for ``casa_plugin.parallel.run_jobs``.
    maxjobs : int, optional
        EBs run at once per host (fixed). Default ``per_host``.
    per_host : dict, optional
        ``{host: EBs at once}`` (``plan``'s choice; default 1 per host). A host
        may take one more EB when its running EBs wait on I/O (``policy.grow``).
    timeout : float, optional
        Seconds one job may take before its worker is killed and the EB
        reported failed; default 3600 + 1 s per MB of input.

    Raises
    ------
    NoServers
        If no server could take jobs (nothing was run).
    """
    __import__("casatasks")  # on the client this sets up casampi's client side
    settled()
    client = _casampi.client()
    if not _casampi.running(client):
        raise NoServers("casampi's client has been stopped in this session")
    for key, value in _casampi.apply(_FAST_CLIENT).items():
        _original.setdefault(key, value)
    servers = {}
    _casampi.apply(_KEEP)
    try:
        # a server runs one command at a time: where start_workers' hello is still running, this one follows it
        req = {"path": _PARENT, "timeout": _HELLO_TIMEOUT, "sleeps": _FAST_SERVER, "keep": _KEEP}
        for resp in _wait(client, _push(client, "server_hello", server_ranks(), req), _HELLO_TIMEOUT + _GRACE):
            ret = resp.get("ret")
            if resp.get("successful") and isinstance(ret, dict) and not ret["error"]:
                servers[resp["server"]] = ret
                if str(ret.get("casatasks")).startswith("full"):  # slower to start, works the same
                    log.info("mpi: casampi server %s: its worker imported all of casatasks: %s", resp["server"],
                             ret["casatasks"])
            else:
                log.warning("mpi: casampi server %s cannot run EBs:\n%s", resp.get("server"),
                            ret["error"] if isinstance(ret, dict) else resp.get("traceback"))
        if not servers:
            raise NoServers("no casampi server could start a worker process (see the warnings above)")
        return _Run(client, servers, func_path, jobs, on_result, maxjobs, timeout, on_start, per_host, unit).loop()
    except KeyboardInterrupt:  # Ctrl-C the running EBs too: a control signal runs beside the busy command
        servers, stop = {}, "import sys\nif 'casa_plugin.parallel.server' in sys.modules:\n    " \
            "sys.modules['casa_plugin.parallel.server'].interrupt_worker()"
        try:
            _casampi.control(client, stop)
        except Exception as exc:  # a private casampi method: may change
            log.warning("mpi: could not interrupt the EBs running on the servers: %s", exc)
        raise
    finally:
        ids = [i for rank in sorted(servers) for i in _push(client, "server_restore", [rank], {"path": _PARENT})]
        _wait(client, ids, 10)
        _casampi.apply(dict(_original, **{_RESPONSE_SLEEP: _QUIET_POLL}))  # it polls while a lost request is pending
        idle_servers()


class _Run(object):
    """One parallel run: dispatch, collect, adapt, and report each EB as it finishes."""

    def __init__(self, client, servers, func_path, jobs, on_result, maxjobs, timeout, on_start=None, per_host=None,
                 unit="EB"):
        self.client, self.servers, self.jobs, self.on_result = client, servers, jobs, on_result
        self.unit = unit  # what a job is, in the log: an EB's split, or a member's restore
        self.on_start = on_start
        self.func_path, self.timeout = func_path, timeout
        names = sorted(set(s["host"] for s in servers.values()))
        levels = per_host or {}
        self.hosts = [_Host(n, sorted(r for r in servers if servers[r]["host"] == n),
                            maxjobs or levels.get(n, 1), bool(maxjobs)) for n in names]
        self.yardstick = policy.AVERAGING_BYTES_S if any(policy.averages(_request(j)) for j in jobs) else \
            policy.PLAIN_BYTES_S
        self.usable, self.running, self.pending = set(servers), {}, list(range(len(jobs)))
        self.results, self.errors = [None] * len(jobs), []
        log.info("mpi: %d %s(s) on %d casampi server(s) (%s); %ss at once per host: %s", len(jobs), unit,
                 len(servers), "; ".join("%s: %s" % (h.name, ",".join(str(r) for r in h.ranks)) for h in self.hosts),
                 unit, ", ".join("%s %d" % (h.name, h.level) for h in self.hosts)
                 + (" (maxjobs)" if maxjobs and unit == "EB" else ""))

    def loop(self):
        start = last = time.time()
        while self.pending or self.running:
            self.dispatch()
            if not self.running:  # every server is lost
                for index in self.pending:
                    self.deliver(index, failure("NoServer", "no casampi server left to run this EB"))
                break
            quiet = time.time() - last > 1  # poll less (here and casampi's thread) while EBs run long
            _casampi.apply({_RESPONSE_SLEEP: _QUIET_POLL if quiet else _POLL})
            time.sleep(_QUIET_POLL if quiet else _POLL)
            byid = dict((e["id"], rank) for rank, e in self.running.items())
            for resp in _casampi.responses(self.client, byid):
                self.finish(byid[resp["id"]], resp)
                last = time.time()
            for rank, entry in list(self.running.items()):
                if time.time() > entry["deadline"]:
                    self.usable.discard(rank)
                    self.deliver(entry["index"], failure("ServerTimeout", "casampi server %d gave no answer within "
                                 "%d s; it is not used again" % (rank, entry["deadline"] - entry["start"])),
                                 self.running.pop(rank), rank)
        log.info("mpi: %d EB(s) in %.1f s; EBs at once: %s", len(self.jobs), time.time() - start,
                 ", ".join("%s %d" % (h.name, h.level) for h in self.hosts))
        if self.errors:
            raise self.errors[0][1].with_traceback(self.errors[0][2])
        return self.results

    def dispatch(self):
        for host in self.hosts:
            busy = [r for r in self.running if r in host.ranks]
            idle = [r for r in host.ranks if r in self.usable and r not in self.running]
            while self.pending and idle and len(busy) < host.level:
                rank, index = idle.pop(0), self.pending.pop(0)
                size = _input_bytes(self.jobs[index])
                limit = self.timeout or 3600 + size / 1e6
                ids = _push(self.client, "server_run", [rank], {"path": _PARENT, "func": self.func_path,
                            "job": self.jobs[index], "cwd": os.getcwd(), "timeout": limit})
                if not ids:
                    log.warning("mpi: casampi refused server %d (timed out?); it is not used again", rank)
                    self.usable.discard(rank)
                    self.pending.insert(0, index)
                    continue
                now = time.time()
                self.running[rank] = {"index": index, "id": ids[0], "start": now, "deadline": now + limit + _GRACE,
                                      "level": host.level, "bytes": size, "host": host}
                busy.append(rank)
                if self.on_start is not None:
                    self.on_start(self.jobs[index])
                    log.info("mpi: %s -> casampi server %d (%s)", os.path.basename(str(_vis(self.jobs[index],
                                                                                        index))), rank, host.name)

    def finish(self, rank, resp):
        entry, ret, seconds, cpu = self.running.pop(rank), resp.get("ret"), None, None
        if resp.get("successful") and isinstance(ret, dict):
            result, seconds, cpu = ret["result"], ret["seconds"], ret.get("cpu")
        elif resp.get("status") == "timeout":  # casampi's pings: the server process died or hangs
            self.usable.discard(rank)
            result = failure("ServerLost", "casampi server %d on %s (pid %s) stopped answering while running "
                             "this EB" % (rank, self.servers[rank]["host"], self.servers[rank]["pid"]),
                             resp.get("traceback"))
        else:
            tb = resp.get("traceback") or "no traceback"
            result = failure("ServerError", "casampi server %d could not run the job: %s"
                             % (rank, tb.strip().splitlines()[-1]), tb)
        self.deliver(entry["index"], result, entry, rank, seconds, cpu)

    def deliver(self, index, result, entry=None, rank=None, seconds=None, cpu=None):
        if entry:
            host = entry["host"]
            mb_s = entry["bytes"] / 1e6 / max(seconds, 1e-3) if seconds else None
            result.setdefault("host", host.name)
            cpu_s = cpu / seconds if cpu is not None and seconds else None
            result["mpi"] = {"server": rank, "host": host.name, "concurrency": entry["level"],
                             "throughput_mb_s": mb_s, "input_bytes": entry["bytes"], "seconds": seconds,
                             "cpu_per_s": cpu_s}
            log.info("mpi: %s on server %d (%s): %s in %.1f s, %s MB/s, %s CPU s per s, %d %s(s) at once",
                     os.path.basename(str(_vis(self.jobs[index], index))), rank, host.name,
                     result.get("status"), seconds or time.time() - entry["start"],
                     "?" if mb_s is None else "%.1f" % mb_s, "?" if cpu_s is None else "%.2f" % cpu_s,
                     entry["level"], self.unit)
            if seconds and result.get("status") not in ("failed", "done", "planned"):  # not real work
                host.record(entry["level"], cpu_s, entry["bytes"] / max(seconds, 1e-3), self.yardstick, seconds)
        self.results[index] = result
        if self.on_result is not None:
            try:
                self.on_result(self.jobs[index], result)
            except Exception:
                log.exception("mpi: on_result failed for job %d; raising after all EBs", index)
                self.errors.append(sys.exc_info())
