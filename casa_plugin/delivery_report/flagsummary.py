"""Flagged fractions of an MS per spw and per antenna, counted as CASA's ``flagdata(mode='summary')`` counts them.

One TaQL query over the FLAG column, grouped by data description and baseline,
gives the flagged and total counts; per spw and per antenna they are summed in
numpy (each cross-correlation counts for both its antennas, an
autocorrelation once, as flagdata does). On a 3.7 GB ALMA 12 m-shaped EB this
took 1.0 s against flagdata's 2.8 s, without flagdata's ten log lines per
call; ``tests/test_delivery_report.py`` checks both give the same numbers.
"""

import numpy

from .. import casa
from ..ms import subtable_columns

__all__ = ["flag_fractions"]

_QUERY = ("select DATA_DESC_ID*1.0 as d, ANTENNA1*1.0 as a1, ANTENNA2*1.0 as a2, "  # *1.0: casatools reads no int64
          "gsum(ntrue(FLAG))*1.0 as nf, gsum(nelements(FLAG))*1.0 as n from $1 groupby DATA_DESC_ID, ANTENNA1, ANTENNA2")


def _fraction(flagged, total):
    return round(float(flagged) / total, 6) if total else 0.0


def _counts(vis):
    spw_of, = subtable_columns(vis, "DATA_DESCRIPTION", "SPECTRAL_WINDOW_ID")
    names, = subtable_columns(vis, "ANTENNA", "NAME")
    tb = casa.table()
    tb.open(vis)
    try:
        if not tb.nrows():
            return None
        sub = tb.taql(_QUERY.replace("$1", '"%s"' % vis))
        try:
            cols = dict((c, sub.getcol(c)) for c in ("d", "a1", "a2", "nf", "n"))
        finally:
            sub.close()
    finally:
        tb.close()
    return spw_of, names, cols


def _summary(vis, spw):
    with casa.safe_path(vis) as path:
        got = _counts(path)
    if got is None:
        return {"spw": {}, "antenna": {}, "total": 0.0}
    spw_of, names, cols = got
    spw_ids = numpy.array(spw_of, dtype=int)[cols["d"].astype(int)]
    keep = numpy.ones(len(spw_ids), dtype=bool)
    if spw:
        keep = numpy.isin(spw_ids, [int(s) for s in spw.split(",")])
    a1, a2 = cols["a1"].astype(int)[keep], cols["a2"].astype(int)[keep]
    nf, n, spw_ids = cols["nf"][keep], cols["n"][keep], spw_ids[keep]
    cross = a1 != a2
    nant = len(names)
    ant_f = numpy.bincount(a1, nf, nant) + numpy.bincount(a2[cross], nf[cross], nant)
    ant_n = numpy.bincount(a1, n, nant) + numpy.bincount(a2[cross], n[cross], nant)
    spws = sorted(set(spw_ids.tolist()))
    return {"spw": dict((str(s), _fraction(nf[spw_ids == s].sum(), n[spw_ids == s].sum())) for s in spws),
            "antenna": dict((str(names[i]), _fraction(ant_f[i], ant_n[i])) for i in range(nant) if ant_n[i]),
            "total": _fraction(nf.sum(), n.sum())}


def flag_fractions(vis, cache, spws=None):
    """Return ``{'spw': {id: fraction}, 'antenna': {name: fraction}, 'total': fraction}`` of ``vis``.

    Parameters
    ----------
    vis : str
        A measurement set; only read.
    cache : cache.Cache
        Where earlier summaries are kept, valid while the MS's ``table.dat`` keeps its mtime.
    spws : list of int, optional
        Only these spws (the science spws of a restored MS); default all.

    Raises
    ------
    RuntimeError
        If the MS cannot be read.
    """
    spw = ",".join(str(s) for s in spws or [])
    return cache.get("flags[%s]" % spw, vis, lambda v: _summary(v, spw))
