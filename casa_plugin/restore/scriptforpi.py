"""Run a member's scriptForPI as a user's ``execfile`` would: cwd script/, a copy of the prompt's namespace."""

import os
import sys
from contextlib import contextmanager

__all__ = ["run_script"]


def _execfile_in(ns):
    def execfile(filename, globals=None, locals=None):
        """Run ``filename`` in this script's namespace (like CASA's execfile)."""
        target = ns if globals is None else globals
        with open(filename) as f:
            code = compile(f.read(), filename, "exec")
        exec(code, target, locals)
    return execfile


@contextmanager
def _cwd(directory):
    previous = os.getcwd()
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(previous)


_CELEMENTTREE = "xml.etree.cElementTree"
_ABSENT = object()


@contextmanager
def _celementtree_alias():
    """Let ``import xml.etree.cElementTree`` work where Python lacks it (official scriptForPIs use it)."""
    aliased, previous = False, _ABSENT
    try:
        import xml.etree.cElementTree  # noqa: F401  (present up to Python 3.8 and in some later builds)
    except ImportError:
        import xml.etree.ElementTree as element_tree
        aliased, previous = True, sys.modules.get(_CELEMENTTREE, _ABSENT)
        sys.modules[_CELEMENTTREE] = element_tree
    try:
        yield
    finally:
        if aliased and previous is _ABSENT:
            sys.modules.pop(_CELEMENTTREE, None)
        elif aliased:
            sys.modules[_CELEMENTTREE] = previous


def run_script(path, directory, ns, variables):
    """Run a script as a user's ``execfile`` would, in a copy of ``ns``, with cwd ``directory``.

    ``variables`` (e.g. ``{'SPACESAVING': 2}``) are set in the copy only; the
    caller's namespace and cwd are unchanged afterwards, whatever happens.

    Returns
    -------
    dict
        The script's namespace after it ran.

    Raises
    ------
    SystemExit
        Whatever the script raised, including ``sys.exit('ERROR: ...')``.
    """
    scope = dict(ns)
    scope.update(variables)
    scope.update({"__name__": "__main__", "__file__": path})
    scope["execfile"] = _execfile_in(scope)
    with open(path) as f:
        code = compile(f.read(), path, "exec")
    with _cwd(directory), _celementtree_alias():
        exec(code, scope)
    return scope
