"""Run per-EB jobs serially or on casampi servers (see mpi_dispatch) through one interface."""

import importlib
import logging
import os
import pickle
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback

__all__ = ["call_job", "run_jobs", "failure"]

log = logging.getLogger(__name__)
_worker = {}  # on a casampi server: the process that runs its EBs
_original = {}  # on a casampi server: casampi's polling sleeps before server_hello


def call_job(func_path, job):
    """Run ``module:function`` on one job dict and return its result dict; never raises an Exception.

    A failure becomes ``{'status': 'failed', 'error': ..., 'traceback': ...}``
    so that one bad EB never stops the others. This is also what a casampi
    server's worker runs, so it must import without the CASA startup file.
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


def failure(kind, message, tb=None):
    """Return the result dict of a job that failed outside ``call_job`` (dead worker, lost server)."""
    return {"status": "failed", "error": "%s: %s" % (kind, message), "error_type": kind,
            "traceback": tb or message, "host": socket.gethostname()}


def run_jobs(func_path, jobs, on_result=None, parallel=None, maxjobs=None, timeout=None, on_start=None):
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
        else serially here. True: on the servers (ValueError outside MPI).
        False: serially here.
    maxjobs : int, optional
        Under MPI, EBs run at once per host; default adaptive (from 1, one
        more while the host's aggregate input MB/s rises by 10 % or more).
    timeout : float, optional
        Under MPI, seconds one job may run before its worker is killed and
        the EB reported failed; default 3600 + 1 s per MB of input.
    """
    from . import mpi_dispatch
    if maxjobs is not None and (isinstance(maxjobs, bool) or not isinstance(maxjobs, int) or maxjobs < 1):
        raise ValueError("maxjobs=%r: give a whole number of EBs run at once per host, or None" % (maxjobs,))
    if mpi_dispatch.want_parallel(parallel) and jobs:
        try:
            return mpi_dispatch.run_parallel(func_path, jobs, on_result, maxjobs=maxjobs, timeout=timeout,
                                             on_start=on_start)
        except mpi_dispatch.NoServers as exc:
            if parallel:
                raise RuntimeError("parallel=True, but %s" % exc)
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


# --- on a casampi server: a worker process runs the EBs, so a crash or hang kills it, not the server ---

class _Timeout(Exception):
    pass


def _read_frame(fd, deadline):
    data, size, header = b"", 8, True
    while len(data) < size or header:
        if header and len(data) == size:
            data, size, header = b"", struct.unpack(">Q", data)[0], False
            continue
        left = deadline - time.time()
        if left <= 0:
            raise _Timeout()
        if select.select([fd], [], [], min(left, 5.0))[0]:
            chunk = os.read(fd, size - len(data))
            if not chunk:
                raise EOFError("the worker closed its pipe")
            data += chunk
    return pickle.loads(data)


def _write_frame(stream, obj):
    data = pickle.dumps(obj, 2)
    stream.write(struct.pack(">Q", len(data)) + data)
    stream.flush()


def _mpienv():
    from casampi.MPIEnvironment import MPIEnvironment
    return MPIEnvironment


def _ensure_worker(deadline):
    if "proc" in _worker and _worker["proc"].poll() is None:
        return
    if "proc" in _worker:
        _stop_worker()
    try:
        from casatools import logsink
        logfile = logsink().logfile()
        logfile = os.path.abspath(logfile) if logfile else ""
    except Exception:
        logfile = ""
    rfd, wfd = os.pipe()
    out = tempfile.TemporaryFile(prefix="casa_plugin_worker_")
    environ = dict((k, v) for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMIX_", "PRTE_")))
    path = [os.path.abspath(p) for p in sys.path]  # '' is the server's cwd, not the worker's
    code = ("import sys; sys.path[:] = %r; from casa_plugin.mapper import worker_main; worker_main(%d, %r, %r)"
            % (path, wfd, logfile, "MPIServer-%d" % _mpienv().mpi_processor_rank))
    # started in the temporary directory: CASAs without casaconfig write a casa-*.log there, not in the user's
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT,
                            pass_fds=(wfd,), env=environ, close_fds=True, cwd=tempfile.gettempdir())
    os.close(wfd)
    _worker.update(proc=proc, rfd=rfd, out=out)
    _read_frame(rfd, deadline)  # 'ready' once casatasks is imported


def _stop_worker(mark=0, stack=False):
    """Kill the worker (first dumping its Python stack if ``stack``); return its exit code and last output."""
    proc, out, rfd = _worker.pop("proc"), _worker.pop("out"), _worker.pop("rfd")
    if stack and proc.poll() is None:
        proc.send_signal(signal.SIGUSR1)  # faulthandler: where it hangs
        time.sleep(1)
    if proc.poll() is None:
        proc.kill()
    code = proc.wait()
    size = os.fstat(out.fileno()).st_size
    tail = os.pread(out.fileno(), 6000, max(mark, size - 6000)).decode("utf-8", "replace")
    for closing in (proc.stdin.close, out.close, lambda: os.close(rfd)):
        try:
            closing()
        except OSError:
            pass
    return code, "worker output:\n" + (tail or "(none)\n")


def _describe(code):
    try:
        return "killed by signal %d (%s)" % (-code, signal.Signals(-code).name) if code < 0 else "exit %d" % code
    except (TypeError, ValueError):
        return "exit status %s" % code


def _apply(values):
    env = _mpienv()
    old = dict((k, getattr(env, k)) for k in values if hasattr(env, k))
    for key, value in values.items():
        setattr(env, key, value)
    return old


def server_hello(req):
    """On a server: take the polling sleeps in ``req`` (if any), start the worker, say who this server is."""
    for key, value in _apply(req.get("sleeps", {})).items():
        _original.setdefault(key, value)
    _apply(req.get("keep", {}))
    error = None
    try:
        _ensure_worker(time.time() + req["timeout"])
    except Exception:
        error = traceback.format_exc() + ("\n" + _stop_worker()[1] if "proc" in _worker else "")
    return {"rank": _mpienv().mpi_processor_rank, "host": socket.gethostname(), "pid": os.getpid(),
            "error": error}


def server_restore(req):
    """On a server: put back casampi's polling sleeps changed by ``server_hello``."""
    _apply(_original)


def interrupt_worker():
    """On a server (run by a control signal, beside a busy command): Ctrl-C the running EB."""
    if "proc" in _worker and _worker["proc"].poll() is None:
        _worker["proc"].send_signal(signal.SIGINT)


def server_run(req):
    """On a server: run one job in the worker; a dead or hung worker becomes the EB's failure."""
    deadline, mark, seconds = time.time() + req["timeout"], 0, None
    where = "%s, server pid %d" % (socket.gethostname(), os.getpid())
    try:
        _ensure_worker(deadline)
        mark = os.fstat(_worker["out"].fileno()).st_size
        pickle.dump((req["func"], req["job"], req["cwd"]), _worker["proc"].stdin, 2)
        _worker["proc"].stdin.flush()
        result, seconds = _read_frame(_worker["rfd"], deadline)
    except _Timeout:
        pid = _worker["proc"].pid
        result = failure("Timeout", "no result within timeout=%d s (%s): its worker pid %d was killed"
                         % (req["timeout"], where, pid), _stop_worker(mark, stack=True)[1])
    except (EOFError, OSError, pickle.UnpicklingError):
        pid = _worker["proc"].pid if "proc" in _worker else None
        code, tail = _stop_worker(mark) if "proc" in _worker else (None, traceback.format_exc())
        result = failure("WorkerDied", "the process running this EB (%s, worker pid %s) died: %s"
                         % (where, pid, _describe(code)), tail)
    return {"result": result, "seconds": seconds}


def worker_main(fd, logfile, origin):
    """In a server's worker process: read ``(func_path, job, cwd)`` from stdin, write each result to ``fd``."""
    import faulthandler
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:  # die with the server thread that started us
        import ctypes
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)
    except Exception:
        pass
    try:  # log to the server's CASA log, not to a new casa-*.log in the working directory
        import casaconfig.config
        casaconfig.config.logfile = logfile or os.devnull
    except ImportError:
        pass
    import casatasks  # no OMPI_* variables here: not an MPI process, so this is safe; done once
    if logfile:
        casatasks.casalog.setlogfile(logfile)
    casatasks.casalog.processorOrigin(origin)
    out = os.fdopen(fd, "wb")
    _write_frame(out, "ready")
    while True:
        try:
            func_path, job, cwd = pickle.load(sys.stdin.buffer)
        except EOFError:
            return
        start = time.time()
        if os.path.isdir(cwd):
            os.chdir(cwd)
        result = call_job(func_path, job)
        try:
            _write_frame(out, (result, time.time() - start))
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            _write_frame(out, (failure("ResultError", "the result cannot be sent back: %s" % exc), None))
