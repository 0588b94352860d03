"""Whether two MSs are identical (every column, every subtable but HISTORY, the flag versions), or one MS and a digest.

Nothing here uses the code under test: both MSs are read with casatools' table tool, column by column in chunks
of rows with getcol, one cell shape at a time (getcol of cells of mixed shapes aborts casatools).
"""

import hashlib
import json
import os

import numpy as np

__all__ = ["ms_differences", "ms_digest", "digest_differences"]

# Bytes of one column read at once from each MS: an EB does not fit in memory twice, and casatools reads a few MB
# at a time with less CPU than hundreds (measured: DATA of 174,000 rows of 64 channels in 4 MB reads, 0.2-0.4 CPU s;
# in one read, 1.6).
_CHUNK_BYTES = 4 << 20
_SHAPE_ROWS = 100000  # rows whose cell shapes are read at once
_ITEM_BYTES = {"boolean": 1, "uchar": 1, "complex": 16, "dcomplex": 16, "string": 64}  # as getcol returns them;
# other numbers come back as 8-byte ints or floats
_NOT_COMPARED = ("HISTORY",)  # each task adds its own lines there
_MAIN = "main table"


def _open(path):
    from casatools import table
    tb = table()
    tb.open(path)
    return tb


def _plain(value):
    """``value`` (a keyword, table info, a record cell) as plain Python for JSON: arrays as lists, numpy scalars as
    numbers, dicts with sorted keys."""
    if isinstance(value, dict):
        return dict((str(k), _plain(value[k])) for k in sorted(value))
    if isinstance(value, np.ndarray):
        return {"array": value.tolist(), "dtype": value.dtype.kind}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _text(value):
    """One text per value, NaN equal to NaN: what two plain values are compared by."""
    return json.dumps(_plain(value), sort_keys=True)


def _differing(x, y):
    """Indices along the last (row) axis where arrays ``x`` and ``y`` of one shape differ, NaN equal to NaN."""
    diff = np.asarray(x != y)
    if x.dtype.kind in "fc" and diff.any():  # NaN != NaN: only then look for NaNs
        diff &= ~(np.isnan(x) & np.isnan(y))
    return np.flatnonzero(diff.any(axis=tuple(range(diff.ndim - 1))) if diff.ndim > 1 else diff)  # no copy


def _subtable_path(value):
    """The path a table keyword's value names (``'Table: /path/ANTENNA'``), or None for any other value."""
    if isinstance(value, str) and value.startswith("Table: "):
        return value[len("Table: "):]
    return None


# --- reading one table ---

def _structure(tb):
    """Rows, columns (with their descriptions), table info, keywords, and the subtables keywords name."""
    keywords = tb.getkeywords()
    columns = tb.colnames()
    descs = dict((c, tb.getcoldesc(c)) for c in columns)
    return {"nrows": tb.nrows(), "columns": columns, "info": _plain(tb.info()),
            "keywords": dict((k, _plain(v)) for k, v in keywords.items() if _subtable_path(v) is None),
            "subtables": dict((k, _subtable_path(v)) for k, v in keywords.items() if _subtable_path(v) is not None),
            "desc": dict((c, _plain(dict((p, d.get(p)) for p in ("valueType", "ndim", "shape")))) for c, d in
                         descs.items()),
            "column_keywords": dict((c, _plain(d.get("keywords", {}))) for c, d in descs.items()),
            "varying": [c for c in columns if tb.isvarcol(c)]}


def _cell_shapes(tb, name, nrow):
    """The shape of each cell of column ``name`` as text, ``''`` where a row holds no array (a list)."""
    empty = tb.query("NOT ISDEFINED(%s)" % name)  # TaQL: getcolshapestring raises on an empty cell
    try:
        undefined = np.asarray(empty.rownumbers(), dtype=int)
    finally:
        empty.close()
    if undefined.size == nrow:
        return [""] * nrow
    shapes = []
    for start in range(0, nrow, _SHAPE_ROWS):
        n = min(_SHAPE_ROWS, nrow - start)
        holes = set(undefined[np.searchsorted(undefined, start):np.searchsorted(undefined, start + n)].tolist())
        if not holes:
            shapes.extend(tb.getcolshapestring(name, start, n))
        else:
            shapes.extend("" if r in holes else tb.getcolshapestring(name, r, 1)[0] for r in range(start, start + n))
    return shapes


def _chunks(tb, name, desc, nrow, shapes=None):
    """Yield ``(rows, values)`` of column ``name``: ``values`` from one getcol (rows on the last axis) of at most
    ``_CHUNK_BYTES``, cells of one shape only (``shapes``: ``_cell_shapes`` of a column of varying shapes); rows of
    a shape that are not contiguous are read through selectrows. A record column is read cell by cell."""
    if desc["valueType"] == "record":
        for row in range(nrow):
            yield np.array([row]), tb.getcell(name, row)
        return
    if shapes is None:
        groups = [(desc.get("shape"), np.arange(nrow))]
    elif len(set(shapes)) == 1:
        groups = [(shapes[0], np.arange(nrow))] if shapes and shapes[0] else []
    else:
        kinds = {}
        codes = np.array([kinds.setdefault(shape, len(kinds)) for shape in shapes], dtype=int)
        groups = [(shape, np.flatnonzero(codes == code)) for shape, code in sorted(kinds.items()) if shape]
    for shape, rows in groups:
        if not rows.size:
            continue
        if isinstance(shape, str):
            shape = [int(n) for n in shape.strip("[]").split(",")]
        size = int(np.prod(shape)) if shape is not None and len(shape) else 1
        step = max(1, _CHUNK_BYTES // max(1, size * _ITEM_BYTES.get(desc["valueType"], 8)))
        contiguous = rows[-1] - rows[0] + 1 == rows.size
        source, base = (tb, int(rows[0])) if contiguous else (tb.selectrows(rows.tolist()), 0)
        try:
            for first in range(0, rows.size, step):
                n = min(step, rows.size - first)
                yield rows[first:first + n], np.asarray(source.getcol(name, base + first, n))
        finally:
            if source is not tb:
                source.close()


# --- what differs in two tables' descriptions (shared by both comparisons) ---

def _structure_differences(sa, sb, where, a, b):
    """What differs between two ``_structure``s: rows, columns, info, keywords, column descriptions."""
    problems = []
    if sa["nrows"] != sb["nrows"]:
        problems.append("%s: %d rows, not %d" % (where, sb["nrows"], sa["nrows"]))
    for name in sorted(set(sa["columns"]) ^ set(sb["columns"])):
        problems.append("%s: column %s only in %s" % (where, name, a if name in sa["columns"] else b))
    if _text(sa["info"]) != _text(sb["info"]):
        problems.append("%s: table info %s, not %s" % (where, sb["info"], sa["info"]))
    ka, kb = dict(sa["keywords"], **sa["subtables"]), dict(sb["keywords"], **sb["subtables"])
    for key in sorted(set(ka) | set(kb)):
        if key not in ka or key not in kb:
            problems.append("%s: keyword %s only in %s" % (where, key, a if key in ka else b))
        elif (key in sa["subtables"]) != (key in sb["subtables"]) or \
                (key in sa["keywords"] and _text(ka[key]) != _text(kb[key])):
            problems.append("%s: keyword %s is %r, not %r" % (where, key, kb[key], ka[key]))
    for name in [c for c in sa["columns"] if c in sb["columns"]]:
        for part, values in (("description", "desc"), ("keywords", "column_keywords")):
            if _text(sa[values][name]) != _text(sb[values][name]):
                problems.append("%s: column %s: %s %s, not %s" % (where, name, part, sb[values][name],
                                                                   sa[values][name]))
    return problems


def _comparable(sa, sb):
    """The columns whose cells can be compared: in both tables, same description, same number of rows."""
    if sa["nrows"] != sb["nrows"]:
        return []
    return [c for c in sa["columns"] if c in sb["columns"] and _text(sa["desc"][c]) == _text(sb["desc"][c])]


def _shape_difference(sa, sb, where, name, nrow):
    """The line for cell shapes that differ (lists of shape texts), or None."""
    if sa == sb:
        return None
    bad = [r for r, (x, y) in enumerate(zip(sa, sb)) if x != y]
    return "%s: column %s: row %d has cell shape %s, not %s (%d of %d rows differ)" % (
        where, name, bad[0], sb[bad[0]] or "(empty)", sa[bad[0]] or "(empty)", len(bad), nrow)


def _version_list(flagversions):
    """``[[name, comment]]`` of a ``.flagversions`` directory's FLAG_VERSION_LIST, in its order."""
    path = os.path.join(flagversions, "FLAG_VERSION_LIST")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return [[part.strip() for part in line.rstrip("\n").split(" : ", 1)] for line in f if line.strip()]


def _versions(vis):
    """The flag versions beside ``vis``: ``{'list', 'entries', 'tables': {entry: path}}``, or None if none."""
    top = vis + ".flagversions"
    if not os.path.isdir(top):
        return None
    entries = sorted(os.listdir(top))
    return {"list": _version_list(top), "entries": entries,
            "tables": dict((n, os.path.join(top, n)) for n in entries
                           if n.startswith("flags.") and os.path.isdir(os.path.join(top, n)))}


def _versions_differences(va, vb, a, b):
    """What differs between two ``_versions`` (the list's names, comments and order; the entries)."""
    if va is None or vb is None:
        return [] if va is vb else [".flagversions: missing beside %s" % (b if vb is None else a)]
    problems = []
    if va["list"] != vb["list"]:
        problems.append(".flagversions: FLAG_VERSION_LIST (name, comment) %s, not %s" % (
            [tuple(v) for v in vb["list"] or []], [tuple(v) for v in va["list"] or []]))
    for name in sorted(set(va["entries"]) ^ set(vb["entries"])):
        problems.append(".flagversions: %s only beside %s" % (name, a if name in va["entries"] else b))
    return problems


# --- two MSs ---

def _table_differences(a, b, where, skip=()):
    """What differs between tables ``a`` and ``b``, then between every subtable they name (but ``skip``)."""
    ta, tb = _open(a), _open(b)
    try:
        sa, sb = _structure(ta), _structure(tb)
        problems = _structure_differences(sa, sb, where, a, b)
        for name in _comparable(sa, sb):
            problems.extend(_cell_differences(ta, tb, name, ta.getcoldesc(name), sa["nrows"], where,
                                              name in sa["varying"] or name in sb["varying"]))
    finally:
        ta.close()
        tb.close()
    for key in sorted(set(sa["subtables"]) & set(sb["subtables"])):
        if key in skip:
            continue
        pa, pb = sa["subtables"][key], sb["subtables"][key]
        name = key if where == _MAIN else "%s/%s" % (where, key)
        if os.path.isdir(pa) and os.path.isdir(pb):
            problems.extend(_table_differences(pa, pb, name))
        elif os.path.isdir(pa) or os.path.isdir(pb):  # absent in both: no difference
            problems.append("%s: subtable missing in %s" % (name, b if os.path.isdir(pa) else a))
    return problems


def _cell_differences(ta, tb, name, desc, nrow, where, varying):
    """The line for the cells of column ``name`` that differ in two open tables of ``nrow`` rows, if any."""
    if not nrow:
        return []
    shapes_a = shapes_b = None
    if varying:
        shapes_a, shapes_b = _cell_shapes(ta, name, nrow), _cell_shapes(tb, name, nrow)
        line = _shape_difference(shapes_a, shapes_b, where, name, nrow)
        if line:
            return [line]
    found = []
    for (rows, x), (_, y) in zip(_chunks(ta, name, desc, nrow, shapes_a), _chunks(tb, name, desc, nrow, shapes_b)):
        if isinstance(x, dict) or isinstance(y, dict):
            bad = [] if _text(x) == _text(y) else [0]
        else:
            bad = _differing(x, y) if x.shape == y.shape else np.arange(rows.size)
        if len(bad):
            found.append(rows[bad])
    if not found:
        return []
    rows = np.sort(np.concatenate(found))
    return ["%s: column %s: value differs in row %d (%d of %d rows differ)" % (where, name, rows[0], rows.size,
                                                                              nrow)]


def ms_differences(a, b, flagversions=True):
    """Return what differs between MSs ``a`` and ``b``, one line each; ``[]`` if they are identical.

    Compared: the main table (rows, every column's cells, descriptions and keywords, the table's keywords and
    info), every subtable a table keyword names (recursively) but HISTORY, and the flag versions beside each MS
    (``<ms>.flagversions``: FLAG_VERSION_LIST's names, comments and order, every saved flag table). A subtable
    named but absent in both is no difference. Each line names ``b``, the table (``main table``, ``SOURCE``,
    ``.flagversions/flags.original_flags``), and the column and first row that differ. Nothing is written.

    Parameters
    ----------
    a, b : str
        The MSs: ``a`` the reference, ``b`` the one checked.
    flagversions : bool
        False: leave the flag versions out (for an MS whose maker saves none, or whose user removed them).

    Returns
    -------
    list of str
    """
    if not os.path.isdir(b):
        return ["%s: missing" % b]
    found = _table_differences(a, b, _MAIN, skip=_NOT_COMPARED)
    va, vb = (_versions(a), _versions(b)) if flagversions else (None, None)
    found += _versions_differences(va, vb, a, b)
    if va and vb:
        for name in sorted(set(va["tables"]) & set(vb["tables"])):
            found += _table_differences(va["tables"][name], vb["tables"][name], ".flagversions/" + name)
    return ["%s (against %s): %s" % (b, a, text) for text in found]


# --- an MS and a digest ---

def _hash(values):
    digest = hashlib.sha1()
    if isinstance(values, dict):
        digest.update(_text(values).encode())
    else:
        digest.update(("%s %s" % (values.dtype.str, values.shape)).encode())
        digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()


def _runs(shapes):
    """Cell shapes as ``[[shape, count], ...]`` runs (None for a column of one fixed shape)."""
    if shapes is None:
        return None
    runs = []
    for shape in shapes:
        if runs and runs[-1][0] == shape:
            runs[-1][1] += 1
        else:
            runs.append([shape, 1])
    return runs


def _unruns(runs):
    return None if runs is None else [shape for shape, count in runs for _ in range(count)]


def _table_digest(path, where, skip, tables):
    """Add the digest of table ``path`` and of its subtables to ``tables`` (``{where: digest or None}``)."""
    tb = _open(path)
    try:
        digest = _structure(tb)
        digest["cells"] = {}
        for name in digest["columns"]:
            shapes = _cell_shapes(tb, name, digest["nrows"]) if name in digest["varying"] else None
            chunks = [[int(rows[0]), int(rows[-1]), _hash(values)]
                      for rows, values in _chunks(tb, name, tb.getcoldesc(name), digest["nrows"], shapes)]
            digest["cells"][name] = {"shapes": _runs(shapes), "chunks": chunks}
    finally:
        tb.close()
    tables[where] = digest
    for key, sub in sorted(digest["subtables"].items()):
        name = key if where == _MAIN else "%s/%s" % (where, key)
        if key in skip:
            continue
        if os.path.isdir(sub):
            _table_digest(sub, name, (), tables)
        else:
            tables[name] = None
    return tables


def ms_digest(vis):
    """Return a digest of everything ``ms_differences`` compares in ``vis``, to check an MS against later without
    keeping this one (JSON-serialisable; a SHA-1 of every chunk of cells ``ms_differences`` reads).

    Parameters
    ----------
    vis : str
        The MS; its ``.flagversions`` beside it is included.

    Returns
    -------
    dict
        ``{'vis', 'tables': {table: digest or None (named, absent)}, 'flagversions'}``.
    """
    tables = _table_digest(vis, _MAIN, _NOT_COMPARED, {})
    versions = _versions(vis)
    if versions:
        for name, path in sorted(versions["tables"].items()):
            _table_digest(path, ".flagversions/" + name, (), tables)
        versions = dict(versions, tables=sorted(versions["tables"]))
    return {"vis": vis, "tables": tables, "flagversions": versions}


def _digest_cell_differences(da, db, name, where):
    nrow = da["nrows"]
    ca, cb = da["cells"][name], db["cells"][name]
    line = _shape_difference(_unruns(ca["shapes"]), _unruns(cb["shapes"]), where, name, nrow)
    if line:
        return [line]
    bad = [(x, y) for x, y in zip(ca["chunks"], cb["chunks"]) if x != y]
    if not bad:
        return []
    first, last = bad[0][1][0], bad[0][1][1]
    return ["%s: column %s: value differs in rows %d-%d (%d of %d chunks of rows differ)" % (
        where, name, first, last, len(bad), len(ca["chunks"]))]


def digest_differences(digest, vis):
    """Return what differs between the MS ``vis`` and a ``digest`` (``ms_digest``) of another, one line each;
    ``[]`` if they are identical.

    What ``ms_differences`` compares, except that a difference in cells is placed in a chunk of rows (those
    read at once), not in one row.
    """
    if not os.path.isdir(vis):
        return ["%s: missing" % vis]
    mine, ref = ms_digest(vis), "the digest of %s" % digest["vis"]
    found = []
    for where in sorted(set(digest["tables"]) & set(mine["tables"]), key=lambda w: (w != _MAIN, w)):
        da, db = digest["tables"][where], mine["tables"][where]
        if da is None or db is None:
            if da is not db:
                found.append("%s: subtable missing in %s" % (where, vis if db is None else ref))
            continue
        found += _structure_differences(da, db, where, ref, vis)
        for name in _comparable(da, db):
            found += _digest_cell_differences(da, db, name, where)
    found += _versions_differences(digest["flagversions"], mine["flagversions"], ref, vis)
    return ["%s (against %s): %s" % (vis, ref, text) for text in found]
