"""Count calls of ``delivery.restored_ms`` and ``ms.du_bytes`` in every process of a task call (tests/test_plan.py).

``install(path)`` wraps both functions in this process: each call appends
``<name>\\t<path>\\t<pid>`` to the file ``path`` (one short ``O_APPEND`` write:
lines of several processes never mix). A process started with
``tests/count_calls_site`` on ``PYTHONPATH`` and ``COUNT_CALLS`` naming the
file installs it at start-up (its ``sitecustomize``): MPI ranks and the
servers' worker processes, which inherit both.
"""

import os
import sys
from collections import Counter

ENV = "COUNT_CALLS"
SITE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "count_calls_site")


def _append(path, *fields):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, ("\t".join(str(f) for f in fields) + "\n").encode())
    finally:
        os.close(fd)


def mark(path, call):
    """Start the lines of the task call ``call``."""
    _append(path, "call", call, os.getpid())


def install(path):
    """Wrap ``restored_ms`` and ``du_bytes`` wherever the package bound them; return a function undoing it."""
    import casa_plugin  # noqa: F401 -- every module the package imports binds the names first
    from casa_plugin import delivery, ms
    originals = {"restored_ms": delivery.restored_ms, "du_bytes": ms.du_bytes}

    def restored_ms(vis):
        _append(path, "restored_ms", os.path.abspath(vis), os.getpid())
        return originals["restored_ms"](vis)

    def du_bytes(target):
        _append(path, "du_bytes", os.path.realpath(target), os.getpid())
        return originals["du_bytes"](target)

    wrappers = {"restored_ms": restored_ms, "du_bytes": du_bytes}
    patched = []
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] != "casa_plugin" or module is None:
            continue
        for attr, original in originals.items():
            if getattr(module, attr, None) is original:
                setattr(module, attr, wrappers[attr])
                patched.append((module, attr, original))

    def undo():
        for module, attr, original in patched:
            setattr(module, attr, original)
    return undo


def read(path):
    """``{call: {'restored_ms': Counter(path), 'du_bytes': Counter(path), 'pids': set}}`` from the file."""
    calls, current = {}, None
    with open(path) as f:
        for line in f:
            kind, arg, pid = line.rstrip("\n").split("\t")
            if kind == "call":
                current = calls.setdefault(arg, {"restored_ms": Counter(), "du_bytes": Counter(), "pids": set()})
                continue
            current[kind][arg] += 1
            current["pids"].add(int(pid))
    return calls
