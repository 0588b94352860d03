"""Import CASA tools and tasks lazily, in the way that is safe on casampi servers."""

__all__ = ["msmetadata", "table", "split", "mstransform", "flagmanager", "casa_version"]


def msmetadata():
    """Return a new ``casatools.msmetadata`` tool."""
    from casatools import msmetadata as tool
    return tool()


def table():
    """Return a new ``casatools.table`` tool."""
    from casatools import table as tool
    return tool()


def split(**kwargs):
    """Run CASA's ``split`` task (imported as a submodule: ``import casatasks`` deadlocks on MPI servers)."""
    from casatasks.split import split as task
    return task(**kwargs)


def mstransform(**kwargs):
    """Run CASA's ``mstransform`` task."""
    from casatasks.mstransform import mstransform as task
    return task(**kwargs)


def flagmanager(**kwargs):
    """Run CASA's ``flagmanager`` task."""
    from casatasks.flagmanager import flagmanager as task
    return task(**kwargs)


def casa_version():
    """Return the running casatools version as ``'6.7.0.31'``, or ``'unknown'``."""
    try:
        from casatools import version_string
        return str(version_string()).replace("-", ".")
    except Exception:
        return "unknown"
