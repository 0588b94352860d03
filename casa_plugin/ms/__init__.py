"""Read measurement sets: is it one, what it holds (spws, fields, rows, integration), subtables, sizes."""

import copy
import os
import re

import numpy as np

from . import casa

__all__ = ["is_ms", "present", "read_contents", "subtable_columns", "column_of", "du_bytes",
           "history_datacolumn", "table_stamp"]

_COLUMN = {"corrected": "CORRECTED_DATA", "model": "MODEL_DATA", "data": "DATA"}


def is_ms(path):
    """Return True if ``path`` is a directory holding a CASA table (``table.dat``)."""
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, "table.dat"))


def column_of(datacolumn):
    """Return the main-table column a split ``datacolumn`` reads (``'corrected'`` -> ``CORRECTED_DATA``)."""
    return _COLUMN.get(datacolumn.lower())


def subtable_columns(vis, name, *columns):
    """Return the given columns of subtable ``name`` of ``vis`` as lists (empty for an empty subtable)."""
    tb = casa.table()
    tb.open(os.path.join(vis, name))
    try:
        return [list(tb.getcol(c)) if tb.nrows() else [] for c in columns]
    finally:
        tb.close()


def _spectral_windows(vis, ids):
    tb = casa.table()
    tb.open(os.path.join(vis, "SPECTRAL_WINDOW"))
    try:
        out = {}
        for spw in ids:
            freqs = np.asarray(tb.getcell("CHAN_FREQ", spw), dtype=float)
            widths = np.abs(np.asarray(tb.getcell("CHAN_WIDTH", spw), dtype=float))
            out[str(spw)] = {"name": str(tb.getcell("NAME", spw)), "nchan": int(len(freqs)),
                             "freq_ghz": [round(float(freqs.min()) / 1e9, 9), round(float(freqs.max()) / 1e9, 9)],
                             "chan_width_khz": round(float(np.median(widths)) / 1e3, 6)}
        return out
    finally:
        tb.close()


def present(ids):
    """The distinct values of an id column (non-negative integers), sorted: one counting pass, no sort of the rows."""
    ids = np.asarray(ids)
    return np.flatnonzero(np.bincount(ids.ravel())) if ids.size else np.zeros(0, int)


def table_stamp(vis):
    """Return what identifies the state of ``vis``'s data on disk: the mtime of its (real) ``table.dat``.

    CASA rewrites ``table.dat`` when a column's data change (``flagdata``, a
    ``putcol``), not when the table is only read, split from or its flags
    saved with ``flagmanager``.
    """
    return os.path.getmtime(os.path.join(os.path.realpath(vis), "table.dat"))


def read_contents(vis, ids=False):
    """Return what ``vis`` holds, read from the MS on disk.

    Returns
    -------
    dict
        ``spws``: ``{id: {'name', 'nchan', 'freq_ghz': [lo, hi], 'chan_width_khz'}}`` of the spws its
        main table uses; ``fields``: names of the fields in its main table; ``nrows``; ``interval_s``:
        the median integration; ``interval_max_s``: the longest; ``columns``: its data columns. With ``ids``, also
        ``_ddid`` and ``_field``: the main table's DATA_DESC_ID and FIELD_ID (not for records).
        A table read again unchanged (same files, inodes, times and sizes; e.g. a split's output
        read as the next step's input) is not read twice.

    Raises
    ------
    ValueError
        If ``vis`` is not a readable measurement set (the message names it).
    """
    if not is_ms(vis):
        raise ValueError("%s: not a measurement set (no table.dat)" % vis)
    key = _identity(vis)
    if key is None or key not in _READ:
        contents = _read_contents(vis)
        if key is not None:
            _READ.clear()  # one table: the last one read (a split's output, read again as the next step's input)
            _READ[key] = contents
    contents = copy.deepcopy(_READ[key]) if key in _READ else contents
    if not ids:
        for name in _IDS:
            del contents[name]
    return contents


#: The last ``read_contents`` of a table, by the identity of the files it read.
_READ = {}
_IDS = ("_ddid", "_field", "_spw_of", "_field_names")


def _identity(vis):
    """(device, inode, mtime, size) of the files read_contents reads: a change to the data changes it; None: unsure."""
    found = []
    try:
        for sub in ("", "DATA_DESCRIPTION", "FIELD", "SPECTRAL_WINDOW"):
            for entry in os.scandir(os.path.join(vis, sub)):
                if entry.name != "table.lock" and entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    found.append((sub, entry.name, st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size))
    except OSError:
        return None
    return tuple(sorted(found))


def _read_contents(vis):
    tb = casa.table()
    try:
        tb.open(vis)
        names = list(tb.colnames())
        nrows = int(tb.nrows())
        ddid = tb.getcol("DATA_DESC_ID") if nrows else np.zeros(0, int)
        field = tb.getcol("FIELD_ID") if nrows else np.zeros(0, int)
        interval = tb.getcol("INTERVAL") if nrows else np.zeros(0)
    except RuntimeError as exc:
        raise ValueError("%s: cannot read this table (%s); it may be truncated or corrupted; move it away "
                         "or restore it from the delivery" % (vis, str(exc).strip()))
    finally:
        tb.close()
    spw_of, = subtable_columns(vis, "DATA_DESCRIPTION", "SPECTRAL_WINDOW_ID")
    field_names, = subtable_columns(vis, "FIELD", "NAME")
    spws = sorted(set(int(spw_of[int(d)]) for d in present(ddid)))
    contents = {"spws": _spectral_windows(vis, spws), "nrows": nrows,
                "fields": sorted(str(field_names[int(f)]) for f in present(field)),
                "interval_s": round(float(np.median(interval)), 6) if nrows else 0.0,
                "interval_max_s": round(float(np.max(interval)), 6) if nrows else 0.0,
                "columns": [c for c in ("DATA", "CORRECTED_DATA", "MODEL_DATA", "FLOAT_DATA") if c in names]}
    contents.update({"_ddid": ddid, "_field": field, "_spw_of": spw_of, "_field_names": field_names})
    return contents


def du_bytes(path):
    """Return the bytes used by the files below ``path`` (links not followed)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


_DATACOLUMN = re.compile(r'^\s*datacolumn\s*=\s*"(\w+)"')


def history_datacolumn(vis):
    """Return the ``datacolumn`` of the last split/mstransform that wrote ``vis``, from its HISTORY; None if unknown.

    CASA's tasks log their parameters into the MS's HISTORY table; the last
    ``datacolumn = "..."`` line is that of the task that made this MS (earlier
    ones come from its input).
    """
    path = os.path.join(vis, "HISTORY")
    if not is_ms(path):
        return None
    tb = casa.table()
    try:
        tb.open(path)
        messages = list(tb.getcol("MESSAGE")) if tb.nrows() else []
    except RuntimeError:
        return None
    finally:
        tb.close()
    for message in reversed(messages):
        match = _DATACOLUMN.match(str(message))
        if match:
            return match.group(1).lower()
    return None
