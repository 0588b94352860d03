"""Import CASA tools and tasks lazily, in the way that is safe on casampi servers, and feed them safe paths."""

import os
import re
import shutil
import tempfile
from contextlib import contextmanager

from .. import logs

__all__ = ["msmetadata", "table", "split", "mstransform", "flagmanager", "casa_version", "safe_path"]

# CASA tasks build TaQL from paths; a quote in a path breaks them ("Error creating output MS structure").
_SAFE = re.compile(r"^[A-Za-z0-9_./+\-]*$")


def msmetadata():
    """Return a new ``casatools.msmetadata`` tool."""
    from casatools import msmetadata as tool
    return tool()


def table():
    """Return a new ``casatools.table`` tool."""
    from casatools import table as tool
    return tool()


@contextmanager
def safe_path(path):
    """Yield a path CASA tasks can digest for ``path``: itself, or a symlink alias in a temporary directory.

    Works for existing MSs and for outputs still to be written (whose parent is aliased).
    """
    path = os.path.abspath(path)
    if _SAFE.match(path):
        yield path
        return
    tmp = tempfile.mkdtemp(prefix="casa_plugin-path-")
    try:
        base = os.path.basename(path)
        if _SAFE.match(base):
            os.symlink(os.path.dirname(path), os.path.join(tmp, "dir"))
            yield os.path.join(tmp, "dir", base)
        else:
            os.symlink(path, os.path.join(tmp, "alias.ms"))
            yield os.path.join(tmp, "alias.ms")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run(name, task, kwargs):
    """Run CASA's task ``name``; an exception it raises carries its SEVERE lines (``logs.cause_of``)."""
    with safe_path(kwargs["vis"]) as vis:
        kwargs = dict(kwargs, vis=vis)
        mark = logs.log_mark()
        try:
            if "outputvis" not in kwargs:
                return task(**kwargs)
            with safe_path(kwargs["outputvis"]) as outputvis:
                kwargs["outputvis"] = outputvis
                return task(**kwargs)
        except Exception as exc:  # CASA raises 'Error creating output MS structure'; its log says why
            raise logs.note_cause(exc, mark, name)


def split(**kwargs):
    """Run CASA's ``split`` task (imported as a submodule: ``import casatasks`` deadlocks on MPI servers)."""
    from casatasks.split import split as task
    return _run("split", task, kwargs)


def mstransform(**kwargs):
    """Run CASA's ``mstransform`` task."""
    from casatasks.mstransform import mstransform as task
    return _run("mstransform", task, kwargs)


def flagmanager(**kwargs):
    """Run CASA's ``flagmanager`` task."""
    from casatasks.flagmanager import flagmanager as task
    return _run("flagmanager", task, kwargs)


def casa_version():
    """Return the running casatools version as ``'6.7.0.31'``, or ``'unknown'``."""
    try:
        import casatools
        text = str(casatools.version_string()).replace("-", ".")
        if not re.match(r"\d+\.\d+", text):  # casatools 6.5.6 returns '' here; version() is [6, 5, 6, 22]
            text = ".".join(str(n) for n in casatools.version())
        return text or "unknown"
    except Exception:
        return "unknown"
