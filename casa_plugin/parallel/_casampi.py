"""Every use of casampi's API (public and private) in one adapter: environment, client, commands, settings, idling."""

import os
import select
import signal
import sys
import threading
import time

__all__ = ["server_ranks", "all_local", "launched_by_mpi", "RANK_VARS", "rank", "apply", "client", "client_started",
           "running", "push", "responses", "control", "host_identity", "idle_client", "idle_server", "is_idle"]


def _env():
    from casampi.MPIEnvironment import MPIEnvironment
    return MPIEnvironment


def server_ranks():
    """Return the casampi server ranks if this process is the MPI client, else ``[]``."""
    if "OMPI_COMM_WORLD_RANK" not in os.environ:  # casampi's own test; importing it then starts MPI
        return []
    try:
        env = _env()
    except ImportError:
        return []
    return list(env.mpi_server_rank_list()) if env.is_mpi_enabled and env.is_mpi_client else []


def all_local():
    """True if the MPI launcher says every rank runs on this host (Open MPI, MPICH/Intel MPI); else False."""
    for local, world in (("OMPI_COMM_WORLD_LOCAL_SIZE", "OMPI_COMM_WORLD_SIZE"), ("MPI_LOCALNRANKS", "PMI_SIZE")):
        if os.environ.get(local, "").isdigit() and os.environ.get(world, "").isdigit():
            return int(os.environ[local]) == int(os.environ[world])
    return False


#: Set by MPI launchers in every rank they start (Open MPI, PMIx, MPICH/Intel MPI).
RANK_VARS = ("OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK")


def launched_by_mpi():
    """True if an MPI launcher started this process (any rank), whether or not casampi runs in it."""
    return any(name in os.environ for name in RANK_VARS)


def rank():
    """This process's MPI rank."""
    return _env().mpi_processor_rank


def apply(values):
    """Set casampi's class-level settings (its polling sleeps and timeouts); return their old values.

    casampi reads these attributes at each loop, so running services follow at once.
    """
    env = _env()
    old = dict((k, getattr(env, k)) for k in values if hasattr(env, k))
    for key, value in values.items():
        setattr(env, key, value)
    return old


def client():
    """Return casampi's command client, its services started."""
    from casampi.MPICommandClient import MPICommandClient
    cl = MPICommandClient()
    cl.start_services()
    return cl


_start_lock = threading.Lock()
_serialised = []


def serialise_start():
    """Make casampi's client start its services under one lock, whoever calls it (this package, or CASA's own
    ParallelTaskHelper for a Multi-MS or ``tclean(parallel=True)``).

    casampi marks its services started only at the end of ``start_services``; a second caller meanwhile would
    send the servers a second start signal that they never answer, and wait for ever. Under the lock the second
    caller waits, then finds them started. Once per process; call it from the main thread before starting the
    services in another thread.
    """
    if _serialised:
        return
    from casampi.MPICommandClient import MPICommandClient
    impl = MPICommandClient()._MPICommandClient__instance
    start = impl.start_services

    def start_services(*args, **kwargs):
        with _start_lock:
            return start(*args, **kwargs)

    impl.start_services = start_services
    _serialised.append(True)


def client_started():
    """True if casampi's command client has started its services in this process; never starts them."""
    from casampi.MPICommandClient import MPICommandClient
    return MPICommandClient().get_lifecyle_state() == 1


def running(cl):
    """True while the client can still send commands (not stopped in this session)."""
    return cl.get_lifecyle_state() == 1


def push(cl, command, ranks, parameters):
    """Send ``command`` (Python source) to each of ``ranks`` without waiting; return the request ids."""
    return cl.push_command_request(command, block=False, target_server=list(ranks), parameters=parameters) or []


def responses(cl, ids):
    """Return the responses that have arrived for ``ids`` (never blocks)."""
    return cl.get_command_response(list(ids), block=False, verbose=False)


def control(cl, command):
    """Run ``command`` on every server beside the command it is busy with (casampi's private control signal)."""
    cl._MPICommandClientImpl__send_control_signal({"command": command, "signal": "process_control"}, False)


# --- Idling: while no command runs, casampi's service threads wait instead of polling -----------------------
# casampi's threads poll in loops of Iprobe + time.sleep (each server: commands every 0.1 s, the stop signal
# every 0.2-3 s, pings every 0.5-3 s; the client: a heartbeat every 1-5 s). While idle, the ``time`` that
# these modules see has a ``sleep`` that waits on an event instead; on a server the main thread alone keeps
# watch (_watch) and wakes the others. What wakes them: on the client, any command or control signal sent
# (anyone's: casampi's methods are wrapped) and casampi's own start/stop; on a server, the client's signal
# (same host only), any command received, a command or control signal waiting, a second ping.

#: Sent by a client to an idle server on its host; ignored by default, so harmless before the handler is set.
_WAKE = getattr(signal, "SIGURG", None)
_FIRST_S = 1.0    # an idle server's first look for waiting messages; doubled each time up to:
_LOCAL_S = 30.0   # ... on the client's host (the client's signal wakes it at once)
_REMOTE_S = 1.0   # ... elsewhere (nothing but its looks wakes it)
_ANSWER_S = 1.0   # a client waking the servers waits this long at most for them to have started idling
_idle = {"on": False, "wakes": 0, "hooked": False, "pipe": None, "local": False, "ids": [], "pids": {}}
_woken = threading.Condition()


def host_identity():
    """(boot id, pid namespace) of this process: equal in two processes that can signal each other by pid."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
        return [boot, os.stat("/proc/self/ns/pid").st_ino]
    except OSError:
        return None


def is_idle():
    """True while casampi's threads in this process wait (``idle_client``/``idle_server``) and nothing woke them."""
    return _idle["on"]


class _IdleTime(object):
    """What a casampi module sees as ``time``: the module itself, with a ``sleep`` that waits while idle.

    In a service thread, ``sleep`` then returns only when woken. In the main
    thread: ``watch`` (a server's serve loop) keeps watch until woken;
    elsewhere (casampi starting or stopping its services) it wakes this process.
    """

    def __init__(self, watch=None, wake=None):
        self._watch, self._wake = watch, wake

    def __getattr__(self, name):
        return getattr(time, name)

    def sleep(self, seconds):
        if threading.current_thread() is not threading.main_thread():
            if _idle["on"]:
                with _woken:
                    seen = _idle["wakes"]
                    while _idle["on"] and _idle["wakes"] == seen:
                        _woken.wait(60)
                return None
        elif _idle["on"]:
            if self._watch is not None:
                return self._watch()
            self._wake()
        else:  # woken while the main thread was elsewhere: let the others go
            _wake_all()
        return time.sleep(seconds)


def _module(name):
    __import__(name)
    return sys.modules[name]


def _wake_all():
    with _woken:
        _idle["wakes"] += 1
        _woken.notify_all()


def idle_client(cl, ids):
    """On the client: casampi's heartbeat threads wait until a command or control signal is sent.

    ``ids`` are the requests that asked each server to idle (``idle_server``):
    their answers say which servers this process can wake by a signal.
    """
    if not _idle["hooked"]:
        _module("casampi.private.MPIMonitorClient").time = _IdleTime(wake=_wake_client)
        impl = cl._MPICommandClient__instance
        for name in ("push_command_request", "_MPICommandClientImpl__send_control_signal"):
            setattr(impl, name, _waking(getattr(impl, name), cl))
        _idle["hooked"] = True
    _idle["ids"] = list(ids)
    _idle["on"] = True


def _waking(method, cl):
    def send(*args, **kwargs):
        _wake_client(cl)
        return method(*args, **kwargs)
    return send


def _wake_client(cl=None):
    if not _idle["on"]:
        return
    _idle["on"] = False
    _wake_all()
    if cl is None:
        from casampi.MPICommandClient import MPICommandClient
        cl = MPICommandClient()
    ids, deadline = _idle["ids"], time.time() + _ANSWER_S
    got = responses(cl, ids) if ids else []
    while len(got) < len(ids) and time.time() < deadline:  # a server still to idle would sleep through the signal
        time.sleep(0.01)
        got = responses(cl, ids)
    _idle["ids"] = []
    for resp in got:
        ret = resp.get("ret")
        if resp.get("successful") and isinstance(ret, dict) and ret.get("local"):
            _idle["pids"][resp["server"]] = ret["pid"]
    for pid in _idle["pids"].values():
        try:
            os.kill(pid, _WAKE)
        except OSError:  # gone: mpirun ends the job
            pass


def idle_server(client_identity):
    """On a server (run by a command): casampi's threads wait until the client sends anything.

    Returns ``{'pid', 'local'}``; ``local``: the client can wake this server by a signal.
    """
    if not _idle["hooked"]:
        _module("casampi.private.MPICommandServer").time = _IdleTime(watch=_watch)
        _module("casampi.private.MPIMonitorServer").time = _IdleTime(wake=_wake_server)
        from casampi.private.MPICommunicator import MPICommunicator
        impl = MPICommunicator()._MPICommunicator__instance
        receive = impl.command_request_recv

        def received():  # any command wakes this server (a new idle command idles it again when run)
            _idle["on"] = False
            _poke()
            return receive()
        impl.command_request_recv = received
        _idle["hooked"] = True
    _idle["local"] = _WAKE is not None and client_identity is not None and client_identity == host_identity()
    _idle["on"] = True
    return {"pid": os.getpid(), "local": _idle["local"] and _idle["pipe"] is not False}


def _wake_server():
    _idle["on"] = False
    _wake_all()


def _poke():
    if _idle["pipe"]:
        try:
            os.write(_idle["pipe"][1], b"\0")
        except OSError:  # full: it is awake already
            pass


def _on_signal(signum, frame):
    _idle["on"] = False


def _wake_pipe():
    """In a server's main thread, once: a pipe that the wake signal (set_wakeup_fd) writes to; None if unusable."""
    if _idle["pipe"] is None:
        _idle["pipe"] = False
        r, w = os.pipe()
        for fd in (r, w):
            os.set_blocking(fd, False)
        old = -2
        try:
            if signal.getsignal(_WAKE) in (signal.SIG_DFL, signal.SIG_IGN, None):
                old = signal.set_wakeup_fd(w)
                if old == -1:
                    signal.signal(_WAKE, _on_signal)
                    _idle["pipe"] = (r, w)
                else:
                    signal.set_wakeup_fd(old)  # someone else's: leave it
        except (ValueError, OSError):
            pass
        if not _idle["pipe"]:
            os.close(r)
            os.close(w)
    return _idle["pipe"] or None


def _watch():
    """An idle server's main thread: look for waiting messages, less and less often, until woken; then wake all."""
    from casampi.private.MPICommunicator import MPICommunicator
    from casampi.private.MPIMonitorServer import MPIMonitorServer
    comm = MPICommunicator()
    pipe = _wake_pipe() if _idle["local"] else None
    if pipe:
        _drain(pipe[0])  # left from an earlier wake-up (a signal now has set _idle['on'] False already)
    cap, wait, pings = _LOCAL_S if pipe else _REMOTE_S, _FIRST_S, 0
    while _idle["on"]:
        if comm.command_request_probe() or comm.control_service_request_probe():
            break
        if comm.ping_status_request_probe():  # answered here: the ping thread waits until this returns
            comm.ping_status_request_recv()
            comm.ping_status_response_send(response=MPIMonitorServer().get_status())
            pings += 1
            if pings > 1:  # one may have been sent before the client idled; two: its heartbeat runs
                break
            wait = _FIRST_S
            continue
        if pipe is None:
            time.sleep(wait)
        elif select.select([pipe[0]], [], [], wait)[0]:
            break
        wait = min(wait * 2, cap)
    _wake_server()


def _drain(fd):
    try:
        while os.read(fd, 512):
            pass
    except OSError:  # empty (non-blocking)
        pass
