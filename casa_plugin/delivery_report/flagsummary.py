"""Flagged fractions of an MS per spw and per antenna, counted as CASA's ``flagdata(mode='summary')`` counts them.

One TaQL query over the FLAG column, grouped by data description, field,
state and baseline, gives the flagged and total counts; per spw and per
antenna they are summed in numpy (each cross-correlation counts for both its
antennas, an autocorrelation once, as flagdata does). On a 3.7 GB ALMA 12
m-shaped EB this took 1.0 s against flagdata's 2.8 s, without flagdata's ten
log lines per call; ``tests/test_delivery_report.py`` checks both give the
same numbers. The counts are kept per (spw name, field name, observing mode),
so the flags of a plain split, which holds whole groups of its input's rows,
can be had from its input's counts (``fractions(..., groups=)``) instead of a
second pass over FLAG.
"""

import numpy

from ..ms import casa
from ..ms import subtable_columns

__all__ = ["flag_counts", "fractions", "flag_fractions", "row_groups", "holds_whole_groups"]

_QUERY = ("select DATA_DESC_ID*1.0 as d, FIELD_ID*1.0 as f, STATE_ID*1.0 as s, ANTENNA1*1.0 as a1, "
          "ANTENNA2*1.0 as a2, gcount()*1.0 as r, gsum(ntrue(FLAG))*1.0 as nf, gsum(nelements(FLAG))*1.0 as n "
          "from $1 groupby DATA_DESC_ID, FIELD_ID, STATE_ID, ANTENNA1, ANTENNA2")  # *1.0: casatools reads no int64


def _fraction(flagged, total):
    return round(float(flagged) / total, 6) if total else 0.0


def _labels(vis):
    """Names that survive a split: the spw name of each data description, field names, observing modes."""
    spw_of, = subtable_columns(vis, "DATA_DESCRIPTION", "SPECTRAL_WINDOW_ID")
    spw_names, = subtable_columns(vis, "SPECTRAL_WINDOW", "NAME")
    fields, = subtable_columns(vis, "FIELD", "NAME")
    modes, = subtable_columns(vis, "STATE", "OBS_MODE")
    return [int(s) for s in spw_of], [str(n) for n in spw_names], [str(f) for f in fields], [str(m) for m in modes]


def _group_key(spw_name, field, mode):
    return "%s|%s|%s" % (spw_name, field, mode)


def _keys(labels, ddid, field, state):
    """Group ``'<spw id> <spw name>|<field>|<mode>'`` rows by their ids.

    Returns ``(keys, rows, inverse)``: the key of each distinct (ddid, field,
    state), its number of rows, and the index into ``keys`` of each row.
    """
    spw_of, spw_names, fields, modes = labels
    ids = [numpy.asarray(a, dtype=numpy.int64) + 1 for a in (ddid, field, state)]  # + 1: ids may be -1
    nf, ns = int(ids[1].max()) + 1, int(ids[2].max()) + 1
    codes, inverse, rows = numpy.unique((ids[0] * nf + ids[1]) * ns + ids[2], return_inverse=True,
                                        return_counts=True)  # sorting ints: fast
    keys = []
    for d, f, s in (numpy.stack([codes // (nf * ns), codes // ns % nf, codes % ns]) - 1).T.tolist():
        keys.append("%d %s" % (spw_of[d], _group_key(spw_names[spw_of[d]], fields[f] if f >= 0 else "",
                                                     modes[s] if 0 <= s < len(modes) else "")))
    return keys, rows, inverse


def row_groups(vis):
    """Return ``{group key: rows}`` of ``vis``: its rows per (spw name, field name, observing mode).

    Reads only the main table's id columns (not FLAG).
    """
    with casa.safe_path(vis) as path:
        labels = _labels(path)
        tb = casa.table()
        tb.open(path)
        try:
            if not tb.nrows():
                return {}
            ids = [tb.getcol(c) for c in ("DATA_DESC_ID", "FIELD_ID", "STATE_ID")]
        finally:
            tb.close()
    keys, rows, _ = _keys(labels, *ids)
    found = {}
    for key, n in zip(keys, rows.tolist()):
        label = key.split(" ", 1)[1]
        found[label] = found.get(label, 0) + n
    return found


def _grouped(vis):
    labels = _labels(vis)
    names, = subtable_columns(vis, "ANTENNA", "NAME")
    tb = casa.table()
    tb.open(vis)
    try:
        if not tb.nrows():
            return labels, names, None
        sub = tb.taql(_QUERY.replace("$1", '"%s"' % vis))
        try:
            cols = dict((c, sub.getcol(c)) for c in ("d", "f", "s", "a1", "a2", "r", "nf", "n"))
        finally:
            sub.close()
    finally:
        tb.close()
    return labels, names, cols


def _counts(vis):
    """Rows, flagged and total counts of ``vis`` per spw and group, in all and per antenna (JSON-ready)."""
    with casa.safe_path(vis) as path:
        labels, names, cols = _grouped(path)
    counts = {"antennas": [str(n) for n in names], "groups": {}}
    if cols is None:
        return counts
    nant = len(names)
    a1, a2 = cols["a1"].astype(int), cols["a2"].astype(int)
    keys, _, inverse = _keys(labels, *(cols[c] for c in ("d", "f", "s")))  # one per baseline group, not per row
    for key in sorted(set(keys)):
        mine = numpy.isin(inverse, [i for i, k in enumerate(keys) if k == key])
        cross = mine & (a1 != a2)  # a cross-correlation counts for both its antennas, an autocorrelation once
        per = [numpy.bincount(a1[mine], cols[c][mine], nant) + numpy.bincount(a2[cross], cols[c][cross], nant)
               for c in ("nf", "n")]
        counts["groups"][key] = {"rows": int(cols["r"][mine].sum()), "flagged": float(cols["nf"][mine].sum()),
                                 "total": float(cols["n"][mine].sum()), "antenna_flagged": per[0].tolist(),
                                 "antenna_total": per[1].tolist()}
    return counts


def holds_whole_groups(counts, groups, spws):
    """True if ``groups`` (``row_groups`` of a split of the MS of ``counts``, keeping ``spws``) are whole groups:
    each with all the rows the MS has in it. The split's flags are then those of these groups of the MS."""
    have = {}
    for key, group in counts["groups"].items():
        spw, label = key.split(" ", 1)
        if int(spw) in spws:
            have[label] = have.get(label, 0) + group["rows"]
    return bool(groups) and all(have.get(label) == rows for label, rows in groups.items())


def fractions(counts, spws=None, rename=None, groups=None):
    """Return ``{'spw': {id: fraction}, 'antenna': {name: fraction}, 'total': fraction}`` of ``counts``.

    Parameters
    ----------
    counts : dict
        ``flag_counts`` of an MS.
    spws : list of int, optional
        Only these spws of it; default all.
    rename : dict, optional
        ``{its spw id: id shown}`` (str keys): e.g. a plain science split's
        ``spw_map``, whose output holds exactly these rows of these spws.
    groups : iterable of str, optional
        Only these groups (``row_groups`` keys), e.g. those a target split holds whole.
    """
    keep = set(int(s) for s in spws) if spws else None
    wanted = set(groups) if groups is not None else None
    by_spw, antennas = {}, counts["antennas"]
    ant_f, ant_n = numpy.zeros(len(antennas)), numpy.zeros(len(antennas))
    for key, c in counts["groups"].items():
        spw, label = key.split(" ", 1)
        spw = int(spw)
        if (keep is not None and spw not in keep) or (wanted is not None and label not in wanted):
            continue
        f, n = by_spw.get(spw, (0.0, 0.0))
        by_spw[spw] = (f + c["flagged"], n + c["total"])
        ant_f += c["antenna_flagged"]
        ant_n += c["antenna_total"]
    shown = dict((str(k), str(v)) for k, v in (rename or {}).items())
    return {"spw": dict((shown.get(str(s), str(s)), _fraction(f, n)) for s, (f, n) in sorted(by_spw.items())),
            "antenna": dict((antennas[i], _fraction(ant_f[i], ant_n[i])) for i in range(len(antennas)) if ant_n[i]),
            "total": _fraction(sum(f for f, _ in by_spw.values()), sum(n for _, n in by_spw.values()))}


def flag_counts(vis, cache):
    """Return the rows, flagged and total counts of ``vis`` per spw and group, and per antenna (one pass over FLAG).

    Parameters
    ----------
    vis : str
        A measurement set; only read.
    cache : cache.Cache
        Where earlier counts are kept, valid while the MS's ``table.dat`` keeps its mtime.

    Raises
    ------
    RuntimeError
        If the MS cannot be read.
    """
    return cache.get("flagcounts", vis, _counts)


def flag_fractions(vis, cache, spws=None):
    """Return ``fractions(flag_counts(vis, cache), spws)``: the flagged fractions of ``vis`` (``spws`` only)."""
    return fractions(flag_counts(vis, cache), spws)
