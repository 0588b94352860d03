"""On a casampi server: start the worker process, run jobs in it, report a dead or hung worker as the EB's failure."""

import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

from . import _casampi
from .calls import failure
from .worker import FrameTimeout, read_frame

__all__ = ["server_hello", "server_keep", "server_idle", "server_restore", "server_run", "interrupt_worker"]

log = logging.getLogger(__name__)
_worker = {}  # the process that runs this server's EBs
_original = {}  # casampi's polling sleeps before server_hello


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
    code = ("import sys; sys.path[:] = %r; from casa_plugin.parallel.worker import worker_main; worker_main(%d, %r, %r)"
            % (path, wfd, logfile, "MPIServer-%d" % _casampi.rank()))
    # started in the temporary directory: CASAs without casaconfig write a casa-*.log there, not in the user's
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT,
                            pass_fds=(wfd,), env=environ, close_fds=True, cwd=tempfile.gettempdir())
    os.close(wfd)
    _worker.update(proc=proc, rfd=rfd, out=out)
    _, _worker["casatasks"] = read_frame(rfd, deadline)  # ('ready', how casatasks was imported) once it is


def _stop_worker(mark=0, stack=False):
    """Kill the worker (first dumping its Python stack if ``stack``); return its exit code and last output."""
    proc, out, rfd = _worker.pop("proc"), _worker.pop("out"), _worker.pop("rfd")
    _worker.pop("casatasks", None)
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


def server_hello(req):
    """On a server: take the polling sleeps in ``req`` (if any), start the worker, say who this server is."""
    for key, value in _casampi.apply(req.get("sleeps", {})).items():
        _original.setdefault(key, value)
    _casampi.apply(req.get("keep", {}))
    error = None
    try:
        _ensure_worker(time.time() + req["timeout"])
    except Exception:
        error = traceback.format_exc() + ("\n" + _stop_worker()[1] if "proc" in _worker else "")
    return {"rank": _casampi.rank(), "host": socket.gethostname(), "pid": os.getpid(),
            "error": error, "casatasks": _worker.get("casatasks")}


def server_keep(req):
    """On a server: take casampi's settings in ``req['keep']`` (a quick exit at the end); start nothing."""
    _casampi.apply(req.get("keep", {}))


def server_idle(req):
    """On a server: wait, not poll, until the client sends anything (``_casampi.idle_server``); start nothing."""
    return _casampi.idle_server(req.get("client"))


def server_restore(req):
    """On a server: put back casampi's polling sleeps changed by ``server_hello``."""
    _casampi.apply(_original)


def interrupt_worker():
    """On a server (run by a control signal, beside a busy command): Ctrl-C the running EB."""
    if "proc" in _worker and _worker["proc"].poll() is None:
        _worker["proc"].send_signal(signal.SIGINT)


def server_run(req):
    """On a server: run one job in the worker; a dead or hung worker becomes the EB's failure."""
    deadline, mark, seconds, cpu = time.time() + req["timeout"], 0, None, None
    where = "%s, server pid %d" % (socket.gethostname(), os.getpid())
    try:
        _ensure_worker(deadline)
        mark = os.fstat(_worker["out"].fileno()).st_size
        pickle.dump((req["func"], req["job"], req["cwd"]), _worker["proc"].stdin, 2)
        _worker["proc"].stdin.flush()
        frame = read_frame(_worker["rfd"], deadline)
        result, seconds, cpu = frame if len(frame) == 3 else frame + (None,)
    except FrameTimeout:
        pid = _worker["proc"].pid
        result = failure("Timeout", "no result within timeout=%d s (%s): its worker pid %d was killed"
                         % (req["timeout"], where, pid), _stop_worker(mark, stack=True)[1])
    except (EOFError, OSError, pickle.UnpicklingError):
        pid = _worker["proc"].pid if "proc" in _worker else None
        code, tail = _stop_worker(mark) if "proc" in _worker else (None, traceback.format_exc())
        result = failure("WorkerDied", "the process running this EB (%s, worker pid %s) died: %s"
                         % (where, pid, _describe(code)), tail)
    return {"result": result, "seconds": seconds, "cpu": cpu}
