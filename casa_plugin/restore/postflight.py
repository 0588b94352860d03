"""Prove a restore: each EB's restored MS holds calibrated data (CORRECTED_DATA differs from DATA) and its final flags."""

import glob
import os

import numpy as np

from ..ms import casa
from ..flags import list_versions
from ..ms import is_ms
from ..split.selection import match_intents

__all__ = ["PIPELINE_FLAGS", "MANUAL_FLAGS", "check_restore", "problems_of"]

#: The flag version a pipeline restore leaves on each MS (hifa_restoredata and hsd_restoredata restore it).
PIPELINE_FLAGS = "Pipeline_Final"
#: The flag version a manual ``uid*.ms.scriptForCalibration.py`` saves last, on its ``.ms.split.cal``.
MANUAL_FLAGS = "AfterApplycal"
#: Rows read per science spw, spread evenly over its unflagged target rows: a few tiles of each column.
_ROWS_PER_SPW = 4
#: Central channels read of each sampled row (an ALMA MS's data tiles hold 100 channels x 100 rows).
_CHANNELS = 32
#: A science spw: observed with this intent and more than this many channels (the scriptForPI's own rule).
_SCIENCE_INTENT, _MIN_CHANNELS = "OBSERVE_TARGET*", 4
#: The rows sampled: on-source target rows (calibrator and atmosphere scans may be left uncalibrated).
_SAMPLED_INTENT = "OBSERVE_TARGET#ON_SOURCE"


def _manual(member):
    """True if the member is manually calibrated (its scriptForPI runs one scriptForCalibration per EB)."""
    return bool(glob.glob(os.path.join(member, "script", "*scriptForCalibration.py")))


def _first_ms(calibrated, names):
    for where in ("", "working"):
        for name in names:
            path = os.path.join(calibrated, where, name)
            if is_ms(path):
                return path
    return None


def _spw_rows(tb, vis):
    """Per science spw, the main-table rows to sample (on-source target rows not flagged as a whole)."""
    sub = casa.table()
    try:
        sub.open(os.path.join(vis, "DATA_DESCRIPTION"))
        spw_of = sub.getcol("SPECTRAL_WINDOW_ID")
        sub.close()
        sub.open(os.path.join(vis, "SPECTRAL_WINDOW"))
        nchan = sub.getcol("NUM_CHAN")
        sub.close()
        sub.open(os.path.join(vis, "STATE"))
        modes = [str(m) for m in sub.getcol("OBS_MODE")] if sub.nrows() else []
    finally:
        sub.close()
    target = [i for i, m in enumerate(modes) if match_intents(m.split(","), _SCIENCE_INTENT)]
    sampled = [i for i, m in enumerate(modes) if match_intents(m.split(","), _SAMPLED_INTENT)] or target
    # three scalar columns, read whole (a few bytes a row); the data columns are read only on the sample
    ddid, state, flag_row = tb.getcol("DATA_DESC_ID"), tb.getcol("STATE_ID"), tb.getcol("FLAG_ROW")
    science = {}
    for dd in np.unique(ddid[np.isin(state, target)]) if target else []:
        spw = int(spw_of[dd])
        if nchan[spw] <= _MIN_CHANNELS:
            continue
        rows = np.flatnonzero((ddid == dd) & np.isin(state, sampled) & ~flag_row)
        picks = rows[np.linspace(0, len(rows) - 1, min(_ROWS_PER_SPW, len(rows))).astype(int)] if len(rows) else rows
        science.setdefault(spw, []).extend(int(r) for r in picks)
    return science


def _centre(sel, column):
    """The central channels of ``column`` in the selected rows: one tile of a tiled column per row, not the row."""
    shapes = set(sel.getcolshapestring(column))
    if len(shapes) != 1:
        return sel.getcol(column)  # not one shape (never in one spw): whole cells, with no slice to get wrong
    nchan = int(shapes.pop().strip("[]").split(",")[1])
    first = max(0, nchan // 2 - _CHANNELS // 2)
    return sel.getcolslice(column, [0, first], [-1, min(nchan, first + _CHANNELS) - 1], [])


def _compare(vis, raw_column):
    """Per science spw: 'differs', 'equal' or 'flagged' (no unflagged value sampled); and rows read."""
    tb = casa.table()
    tb.open(vis)
    try:
        columns = tb.colnames()
        if "CORRECTED_DATA" not in columns:
            return None, 0
        spws, read = {}, 0
        for spw, rows in sorted(_spw_rows(tb, vis).items()):
            if not rows:
                spws[spw] = "flagged"
                continue
            sel = tb.selectrows(rows)
            try:
                raw, corrected, flag = [_centre(sel, c) for c in (raw_column, "CORRECTED_DATA", "FLAG")]
            finally:
                sel.close()
            read += len(rows)
            good = ~flag
            if not good.any():
                spws[spw] = "flagged"
            else:
                spws[spw] = "equal" if np.array_equal(raw[good], corrected[good]) else "differs"
        return spws, read
    finally:
        tb.close()


def _columns(vis):
    tb = casa.table()
    tb.open(vis)
    try:
        return tb.colnames()
    finally:
        tb.close()


def _spw_text(spws):
    return ", ".join(str(s) for s in spws)


def _check_data(entry, vis):
    """Compare CORRECTED_DATA with the raw column (DATA; FLOAT_DATA for total power) on the sampled rows."""
    columns = _columns(vis)
    raw_column = "DATA" if "DATA" in columns else "FLOAT_DATA"
    entry["compared"] = "CORRECTED_DATA with %s" % raw_column
    if raw_column == "FLOAT_DATA" and "CORRECTED_DATA" not in columns:
        entry["skipped"] = ("total power (FLOAT_DATA) without CORRECTED_DATA: the calibration is not in a "
                            "column of its own, so nothing is compared")
        return
    spws, entry["rows"] = _compare(vis, raw_column)
    if spws is None:
        entry["problems"].append("%s has no CORRECTED_DATA column: the calibration was not applied" % vis)
        return
    entry["spws"] = dict((str(s), v) for s, v in spws.items())
    if not spws:
        entry["skipped"] = "no spw observed with %s has more than %d channels" % (_SCIENCE_INTENT, _MIN_CHANNELS)
    equal = [s for s, v in sorted(spws.items()) if v == "equal"]
    if equal:
        entry["problems"].append("CORRECTED_DATA equals %s in science spw%s %s of %s (%d sampled target rows): "
                                 "the calibration was not applied" % (raw_column, "s" if len(equal) > 1 else "",
                                                                      _spw_text(equal), vis, entry["rows"]))


def _check_flags(entry, vis, version, what):
    entry["flagversion"] = version
    if version not in list_versions(vis):
        entry["problems"].append("%s.flagversions has no flag version %s (%s saves it last): the restore did not "
                                 "finish" % (vis, version, what))


def _check_eb(member, eb, product, level):
    calibrated = os.path.join(member, "calibrated")
    entry = {"ms": None, "problems": [], "skipped": None}
    if _manual(member):
        entry["kind"] = "manual"
        # the scriptForCalibration applies the calibration to <eb>.ms.split, then splits it into .ms.split.cal,
        # both in calibrated/<eb>.calibration/; the scriptForPI moves the .ms.split.cal (not its .flagversions)
        work = os.path.join(calibrated, eb + ".calibration")
        entry["ms"] = _first_ms(work, [eb + ".ms.split"]) or _first_ms(calibrated, [eb + ".ms.split"])
        if product.endswith(".split.cal"):
            flagged = os.path.join(work, os.path.basename(product))
            _check_flags(entry, flagged if os.path.isdir(flagged + ".flagversions") else product, MANUAL_FLAGS,
                         "the scriptForCalibration")
        if entry["ms"] is None:
            entry["skipped"] = ("no %s.ms.split (SPACESAVING >= 1 deletes it): the .ms.split.cal holds the "
                                "calibrated data as DATA, with nothing to compare it with" % eb)
            return entry
        _check_data(entry, entry["ms"])
        return entry
    entry["kind"] = "pipeline"
    # without DOSPLIT calibrated/<eb>.ms; with it, the restored MS stays in calibrated/working/
    entry["ms"] = _first_ms(calibrated, [eb + ".ms"])
    if entry["ms"] is None:
        entry["skipped"] = ("no restored %s.ms (%s deletes it once its .split.cal is made): the .split.cal holds "
                            "the calibrated data as DATA, with nothing to compare it with"
                            % (eb, "SPACESAVING=%d" % level if level is not None and level >= 2
                               else "SPACESAVING >= 2"))
        return entry
    _check_flags(entry, entry["ms"], PIPELINE_FLAGS, "the pipeline's restore")
    _check_data(entry, entry["ms"])
    return entry


def check_restore(member, products, *, spacesaving=None):
    """Check each EB's restored MS of ``member`` after its scriptForPI finished; read a sample, write nothing.

    Per EB: its restored MS (``calibrated/<eb>.ms``, else ``calibrated/working/<eb>.ms`` after DOSPLIT; a
    manual member's ``calibrated/<eb>.calibration/<eb>.ms.split``) has CORRECTED_DATA that differs from DATA
    (FLOAT_DATA for total power) on a few unflagged on-source target rows of every science spw
    (OBSERVE_TARGET, more than 4 channels), and the restore's last flag version (``Pipeline_Final``; a
    manual member's ``AfterApplycal`` on its ``.ms.split.cal``, whose ``.flagversions`` the scriptForPI
    leaves in ``<eb>.calibration/``). An EB whose restored MS is gone (SPACESAVING) is skipped, with the
    reason.

    Parameters
    ----------
    member : str
        The member directory.
    products : dict
        EB -> its calibrated MS (``calibrated/<eb>.ms`` or ``<eb>.ms.split.cal``).
    spacesaving : int, optional
        The SPACESAVING the scriptForPI ran with (named in a skip's reason).

    Returns
    -------
    dict
        EB -> ``{'kind', 'ms', 'compared', 'spws': {spw: 'differs'|'equal'|'flagged'}, 'rows',
        'flagversion', 'skipped', 'problems'}``; an empty ``problems`` list everywhere proves the restore.
    """
    return dict((eb, _check_eb(member, eb, product, spacesaving)) for eb, product in sorted(products.items()))


def problems_of(found):
    """The problems of ``check_restore``'s result, one text per EB that has any (``uid: a; b``)."""
    return ["%s: %s" % (eb, "; ".join(entry["problems"])) for eb, entry in sorted(found.items())
            if entry.get("problems")]
