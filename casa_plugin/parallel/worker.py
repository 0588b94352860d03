"""A casampi server's worker process: runs the server's EBs, so a crash or hang kills it, not the server."""

import os
import pickle
import select
import signal
import struct
import sys
import time

from ..logs import set_process_log
from .calls import call_job, failure

__all__ = ["worker_main", "read_frame", "write_frame", "FrameTimeout"]


class FrameTimeout(Exception):
    """No whole frame arrived before the deadline."""

    pass


def read_frame(fd, deadline):
    data, size, header = b"", 8, True
    while len(data) < size or header:
        if header and len(data) == size:
            data, size, header = b"", struct.unpack(">Q", data)[0], False
            continue
        left = deadline - time.time()
        if left <= 0:
            raise FrameTimeout()
        if select.select([fd], [], [], min(left, 5.0))[0]:
            chunk = os.read(fd, size - len(data))
            if not chunk:
                raise EOFError("the worker closed its pipe")
            data += chunk
    return pickle.loads(data)


def write_frame(stream, obj):
    data = pickle.dumps(obj, 2)
    stream.write(struct.pack(">Q", len(data)) + data)
    stream.flush()


def _cpu():
    """CPU seconds (user + system) of this process and its finished children."""
    t = os.times()
    return t[0] + t[1] + t[2] + t[3]


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
    # no OMPI_* variables here: not an MPI process, so importing casatasks is safe; done once
    from .lean_casatasks import import_casatasks
    casatasks, how = import_casatasks()
    if logfile:
        casatasks.casalog.setlogfile(logfile)
    casatasks.casalog.processorOrigin(origin)
    set_process_log(2)  # a failed CASA task's SEVERE lines: from this worker's own output, not the shared log
    out = os.fdopen(fd, "wb")
    write_frame(out, ("ready", how))
    while True:
        try:
            func_path, job, cwd = pickle.load(sys.stdin.buffer)
        except EOFError:
            return
        start, cpu = time.time(), _cpu()
        if os.path.isdir(cwd):
            os.chdir(cwd)
        result = call_job(func_path, job)
        try:
            write_frame(out, (result, time.time() - start, _cpu() - cpu))
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            write_frame(out, (failure("ResultError", "the result cannot be sent back: %s" % exc), None))
