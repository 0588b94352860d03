"""Remember the CASA session's namespace (the prompt's globals), for restore_pi and the recipes."""

import sys

__all__ = ["remember", "namespace"]

_remembered = []


def remember(ns):
    """Remember ``ns`` (a dict) as the CASA prompt's namespace; ``init.py`` calls this."""
    del _remembered[:]
    _remembered.append(ns)


def namespace():
    """Return the CASA session namespace: the remembered one, else IPython's, else ``__main__``'s."""
    if _remembered:
        return _remembered[0]
    try:
        from IPython import get_ipython
        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is not None:
        return shell.user_ns
    return vars(sys.modules["__main__"])
