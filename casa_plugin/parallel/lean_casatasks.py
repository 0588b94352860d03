"""casatasks for a server's worker without its hundred task imports: ~1 s to start, not ~2.6 s.

``casatasks/__init__.py`` (written by CASA's setup.py; the same shape in
6.2 and 6.7) sets up ``casalog``, ``version()`` and the MPI hook, then
imports every task, and with them scipy, matplotlib and the image tools. A
worker runs three tasks. Here the package's own ``__init__.py`` runs with its
``from .<task> import <task>`` lines left out, except for those three; any
other task is imported on first use as an attribute (``casatasks.<task>``,
``from casatasks import <task>``; Python >= 3.7). Importing a left-out task's
submodule directly (``import casatasks.partition``) binds the module, not the
function, to that attribute: code in a worker imports tasks as
``from casatasks.<task> import <task>``, as ``casa_plugin.ms.casa`` does. If
anything here fails, the whole ``import casatasks`` runs instead.
"""

import importlib
import importlib.util
import re
import sys

__all__ = ["import_casatasks", "WORKER_TASKS"]

#: The tasks a worker runs (``casa_plugin.ms.casa``): imported as the package does.
WORKER_TASKS = ("split", "mstransform", "flagmanager")

_TASK_LINE = re.compile(r"^from \.(\w+) import (\w+)[ \t]*$", re.M)


def import_casatasks(keep=WORKER_TASKS):
    """Import casatasks with only the tasks in ``keep`` loaded; return ``(module, how)``.

    ``how`` is ``'lean'``, ``'already imported'``, or ``'full (<why>)'`` when
    the lean import failed and the whole package was imported.
    """
    if "casatasks" in sys.modules:
        return sys.modules["casatasks"], "already imported"
    try:
        return _lean(keep), "lean"
    except Exception as exc:
        for name in [m for m in sys.modules if m == "casatasks" or m.startswith("casatasks.")]:
            del sys.modules[name]
        import casatasks
        return casatasks, "full (%s: %s)" % (type(exc).__name__, exc)


def _lean(keep):
    spec = importlib.util.find_spec("casatasks")
    with open(spec.origin) as f:
        source = f.read()
    lazy = {}

    def leave_out(match):
        module, name = match.groups()
        if name in keep:
            return match.group(0)
        lazy[name] = module
        return ""

    source = _TASK_LINE.sub(leave_out, source)
    if len(lazy) < 10 or any(("from .%s import %s" % (t, t)) not in source for t in keep):
        raise ImportError("%s is not the generated file this expects (%d task imports)" % (spec.origin, len(lazy)))
    package = importlib.util.module_from_spec(spec)
    sys.modules["casatasks"] = package
    exec(compile(source, spec.origin, "exec"), package.__dict__)
    package.__getattr__ = _lazy_tasks(package, lazy)
    return package


def _lazy_tasks(package, lazy):
    """The package's ``__getattr__`` (PEP 562): a left-out task, imported as the package would have."""

    def __getattr__(name):
        if name not in lazy:
            raise AttributeError("module 'casatasks' has no attribute %r" % (name,))
        task = getattr(importlib.import_module("casatasks." + lazy[name]), name)
        setattr(package, name, task)
        return task

    return __getattr__
