"""Does a target split hold the calibrated data of a restore? The member-kind matrix's check (tests only).

:func:`source_differences` compares the DATA of a ``uid*.ms.split.cal.source``
with the CORRECTED_DATA of the MS a ``SPACESAVING=0`` restore leaves for the
same EB (``calibrated/uid*.ms``; a manually calibrated member's
``uid*.ms.split``), whatever path the source took (the pipeline's restore,
the scriptForPI's own split, a manual script, the archive's calibrated MSs).
Spws are matched by their channel frequencies, fields by name, rows by time
and baseline, so the spw ids of the two may differ; :func:`spw_pairs` says
which id of one is which of the other, for checking the ids a split reports.

Nothing here uses the code under test: both MSs are read with casatools.
"""

import numpy as np

__all__ = ["spw_pairs", "source_differences"]


def _table(path):
    from casatools import table
    tb = table()
    tb.open(path)
    return tb


def _subtable(vis, name, *columns):
    tb = _table("%s/%s" % (vis, name))
    try:
        if not tb.nrows():
            return [[] for _ in columns]
        return [[tb.getcell(c, i) for i in range(tb.nrows())] for c in columns]
    finally:
        tb.close()


def _used_spws(vis):
    """``{ddid: spw id}`` of the data descriptions the main table uses."""
    tb = _table(vis)
    try:
        used = sorted(set(int(d) for d in tb.getcol("DATA_DESC_ID")))
    finally:
        tb.close()
    spw_of, = _subtable(vis, "DATA_DESCRIPTION", "SPECTRAL_WINDOW_ID")
    return dict((d, int(spw_of[d])) for d in used)


def spw_pairs(source, restored):
    """``{spw id in source: spw id in restored}`` for every spw the source's rows use, matched by channel
    frequencies (equal to 1 Hz); a source spw without a match maps to None."""
    freqs_s, = _subtable(source, "SPECTRAL_WINDOW", "CHAN_FREQ")
    freqs_r, = _subtable(restored, "SPECTRAL_WINDOW", "CHAN_FREQ")
    pairs = {}
    for spw in sorted(set(_used_spws(source).values())):
        found = [i for i, f in enumerate(freqs_r)
                 if np.shape(f) == np.shape(freqs_s[spw]) and np.allclose(f, freqs_s[spw], rtol=0, atol=1.0)]
        pairs[spw] = found[0] if found else None
    return pairs


def _target_states(vis):
    modes, = _subtable(vis, "STATE", "OBS_MODE")
    return [i for i, m in enumerate(modes) if "TARGET" in m]


def _rows(vis, column, ddids, fields, states):
    """Rows of ``vis`` in ``ddids``, ``fields`` (ids) and ``states`` (ids, or None for any), sorted by
    time, baseline and field name: ``(keys, column, FLAG)``."""
    tb = _table(vis)
    try:
        query = "DATA_DESC_ID IN %s AND FIELD_ID IN %s" % (list(ddids), list(fields))
        if states is not None:
            query += " AND STATE_ID IN %s" % (list(states) or [-2])
        sub = tb.query(query, sortlist="TIME, ANTENNA1, ANTENNA2, FIELD_ID")
        try:
            if not sub.nrows():
                return None, None, None
            keys = np.stack([np.round(sub.getcol("TIME"), 3), sub.getcol("ANTENNA1"), sub.getcol("ANTENNA2")])
            return keys, sub.getcol(column), sub.getcol("FLAG")
        finally:
            sub.close()
    finally:
        tb.close()


def source_differences(source, restored):
    """What differs between the DATA of the target split ``source`` and the CORRECTED_DATA of ``restored`` for
    the source's spws and fields (target intents only); ``[]`` when they hold the same calibrated data."""
    diffs = []
    pairs = spw_pairs(source, restored)
    for spw, match in sorted(pairs.items()):
        if match is None:
            diffs.append("%s: spw %d has no spw with its frequencies in %s" % (source, spw, restored))
    names_s, = _subtable(source, "FIELD", "NAME")
    names_r, = _subtable(restored, "FIELD", "NAME")
    dd_s, dd_r = _used_spws(source), _used_spws(restored)
    states = _target_states(restored)
    for ddid, spw in sorted(dd_s.items()):
        if pairs.get(spw) is None:
            continue
        fields_s = sorted(set(int(f) for f in _field_ids(source, ddid)))
        for field in fields_s:
            name = names_s[field]
            ids_r = [i for i, n in enumerate(names_r) if n == name]
            rdd = [d for d, s in dd_r.items() if s == pairs[spw]]
            ks, data, flag_s = _rows(source, "DATA", [ddid], [field], None)
            kr, corrected, flag_r = _rows(restored, "CORRECTED_DATA", rdd, ids_r, states)
            where = "spw %d (%s spw %d), field %s" % (spw, restored, pairs[spw], name)
            if kr is None or ks.shape != kr.shape or not np.array_equal(ks, kr):
                diffs.append("%s: %s rows, the restore has %s" % (
                    where, ks.shape[1], 0 if kr is None else kr.shape[1]))
            elif data.shape != corrected.shape or not np.array_equal(data, corrected):
                worst = np.max(np.abs(data - corrected)) if data.shape == corrected.shape else "shape"
                diffs.append("%s: DATA differs from CORRECTED_DATA (largest difference %s)" % (where, worst))
            elif not np.array_equal(flag_s, flag_r):
                diffs.append("%s: FLAG differs" % where)
    if not dd_s:
        diffs.append("%s: no rows" % source)
    return diffs


def _field_ids(vis, ddid):
    tb = _table(vis)
    try:
        sub = tb.query("DATA_DESC_ID == %d" % ddid, columns="FIELD_ID")
        try:
            return sub.getcol("FIELD_ID") if sub.nrows() else []
        finally:
            sub.close()
    finally:
        tb.close()
