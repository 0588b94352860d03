"""Recipe: restore every member of an ALMA project, then split science spws and targets of every EB.

At the CASA prompt (started with --pipeline, in the project directory or with PROJECT set):
    PROJECT = '/data/2021.1.00690.S'      # optional: any setting below can be set first
    execfile('/path/to/casa_plugin/recipes/restore_and_split.py')
From the shell:
    casa --pipeline --nogui -c /path/to/casa_plugin/recipes/restore_and_split.py [PROJECT]
"""
import os
import sys

_settings = globals()
_argv = [a for a in sys.argv[1:] if not a.startswith("-")] if sys.argv and sys.argv[0].endswith(
    "restore_and_split.py") else []

# ---- settings (a global of the same name, set before execfile, wins) ----
PROJECT = _settings.get("PROJECT", _argv[0] if _argv else ".")  # project, science goal, group or member
SPACESAVING = _settings.get("SPACESAVING", None)  # passed to the scriptForPI only when set
DOSPLIT = _settings.get("DOSPLIT", None)
DOCONTSUB = _settings.get("DOCONTSUB", None)
INTENT = _settings.get("INTENT", "OBSERVE_TARGET*")  # science spws: observed with this intent ...
MINNCHAN = _settings.get("MINNCHAN", 5)  # ... and at least this many channels
REINDEX = _settings.get("REINDEX", True)  # False keeps the original spw ids
TARGET_INTENT = _settings.get("TARGET_INTENT", "*TARGET*")
OVERWRITE = _settings.get("OVERWRITE", False)
DRYRUN = _settings.get("DRYRUN", False)
WIDTH = _settings.get("WIDTH", 1)  # channel averaging while splitting the science spws (e.g. 8)
TIMEBIN = _settings.get("TIMEBIN", "0s")  # time averaging while splitting (e.g. '12s')
PARALLEL = _settings.get("PARALLEL", None)  # None: on the casampi servers when run under mpicasa/mpirun
MAXJOBS = _settings.get("MAXJOBS", None)  # EBs at once per host under MPI; None: adaptive

try:
    restore_pi  # put at the prompt by init.py
except NameError:
    _init = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "init.py")
    exec(compile(open(_init).read(), _init, "exec"))
from casa_plugin import split_sci_tgt  # noqa: E402  (split_sci then split_tgt per EB, as one job)
from casa_plugin.report import summary_table  # noqa: E402

restored = restore_pi(member=PROJECT, spacesaving=SPACESAVING, dosplit=DOSPLIT, docontsub=DOCONTSUB,
                      dryrun=DRYRUN)
split = {}
if not DRYRUN or all(m["status"] == "already restored" for m in restored["members"].values()):
    split = split_sci_tgt(vis=PROJECT, intent=INTENT, minnchan=MINNCHAN, reindex=REINDEX,
                          target_intent=TARGET_INTENT, overwrite=OVERWRITE, dryrun=DRYRUN, width=WIDTH,
                          timebin=TIMEBIN, parallel=PARALLEL, maxjobs=MAXJOBS)
print(summary_table(restored, split.get("sci"), split.get("tgt")))
