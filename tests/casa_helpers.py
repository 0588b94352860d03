"""Test helpers that read measurement sets with casatools (never with the code under test).

bench/child.py uses them too: the manual loop and the output comparison are the same there.
"""

import glob
import os
import re
import shutil
from contextlib import contextmanager

import numpy as np

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


def field_names_in_main(vis):
    names = subtable_column(vis, "FIELD", "NAME")
    ids = np.unique(columns(vis, ("FIELD_ID",))["FIELD_ID"])
    return sorted(names[i] for i in ids)


def flag_versions(vis):
    from casatasks import flagmanager
    listing = flagmanager(vis=vis, mode="list")
    return sorted(v["name"] for k, v in listing.items() if k != "MS")


def ms_differences(a, b):
    """Return what differs between MSs ``a`` and ``b`` (main columns, spw CHAN_FREQ); ``[]`` if identical."""
    if not os.path.isdir(b):
        return ["%s: missing" % b]
    found = []
    ca, cb = columns(a), columns(b)
    for name in MAIN_COLUMNS:
        if ca[name].shape != cb[name].shape or not np.array_equal(ca[name], cb[name]):
            found.append("%s: %s differs from %s" % (b, name, a))
    fa, fb = subtable_column(a, "SPECTRAL_WINDOW", "CHAN_FREQ"), subtable_column(b, "SPECTRAL_WINDOW", "CHAN_FREQ")
    if len(fa) != len(fb) or any(x.shape != y.shape or not np.array_equal(x, y) for x, y in zip(fa, fb)):
        found.append("%s: SPECTRAL_WINDOW CHAN_FREQ differs from %s" % (b, a))
    return found


def assert_same_ms(a, b):
    problems = ms_differences(a, b)
    assert not problems, "\n".join(problems)


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


def snapshot(root):
    """Return {relative path: (size, mtime_ns)} of every file below ``root`` (links not followed)."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            out[os.path.relpath(path, root)] = (st.st_size, st.st_mtime_ns)
    return out


def failed_errors(exc):
    """The per-EB errors a SplitError carries in ``.results`` (the message itself only names the EBs)."""
    results = exc.results
    summaries = [results[k] for k in ("sci", "tgt") if k in results] or [results]
    return "\n".join(r.get("error", "") for s in summaries for r in s["ebs"].values() if r["status"] == "failed")


@contextmanager
def split_failure(match):
    """Like ``pytest.raises(SplitError, match=...)``, with ``match`` searched in the failed EBs' errors."""
    import pytest
    from casa_plugin import SplitError
    with pytest.raises(SplitError) as info:
        yield info
    text = failed_errors(info.value)
    assert re.search(match, text), text
