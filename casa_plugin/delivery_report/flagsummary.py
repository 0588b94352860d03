"""Flagged fractions of an MS per spw and per antenna, from CASA's ``flagdata(mode='summary')``."""

from .. import casa

__all__ = ["flag_fractions"]


def _fraction(counts):
    return round(float(counts["flagged"]) / counts["total"], 6) if counts.get("total") else 0.0


def _summary(vis, spw):
    from casatasks.flagdata import flagdata  # a submodule: plain `import casatasks` deadlocks on MPI servers
    with casa.safe_path(vis) as path:
        summary = flagdata(vis=path, mode="summary", spw=spw, flagbackup=False)
    if not isinstance(summary, dict) or "spw" not in summary:
        raise RuntimeError("flagdata(mode='summary') gave no summary for %s" % vis)
    return {"spw": dict((str(k), _fraction(v)) for k, v in summary["spw"].items()),
            "antenna": dict((str(k), _fraction(v)) for k, v in summary.get("antenna", {}).items()),
            "total": _fraction(summary)}


def flag_fractions(vis, cache, spws=None):
    """Return ``{'spw': {id: fraction}, 'antenna': {name: fraction}, 'total': fraction}`` of ``vis``.

    Parameters
    ----------
    vis : str
        A measurement set; only read (the summary mode writes nothing, and no flag backup is made).
    cache : cache.Cache
        Where earlier summaries are kept, valid while the MS's ``table.dat`` keeps its mtime.
    spws : list of int, optional
        Only these spws (the science spws of a restored MS); default all.

    Raises
    ------
    RuntimeError
        If flagdata returns no summary.
    """
    spw = ",".join(str(s) for s in spws or [])
    return cache.get("flags[%s]" % spw, vis, lambda v: _summary(v, spw))
