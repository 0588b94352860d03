"""Recipe: split science spws and targets of every EB of already restored ALMA data.

At the CASA prompt, in a calibrated/ directory, a member or a project (or with PROJECT set):
    execfile('/path/to/casa_plugin/recipes/split_only.py')
From the shell:
    casa --nogui -c /path/to/casa_plugin/recipes/split_only.py [PROJECT]
"""
import os
import sys

_settings = globals()
_argv = [a for a in sys.argv[1:] if not a.startswith("-")] if sys.argv and sys.argv[0].endswith(
    "split_only.py") else []

# ---- settings (a global of the same name, set before execfile, wins) ----
PROJECT = _settings.get("PROJECT", _argv[0] if _argv else ".")  # calibrated/, member, or project
INTENT = _settings.get("INTENT", "OBSERVE_TARGET*")
MINNCHAN = _settings.get("MINNCHAN", 5)
REINDEX = _settings.get("REINDEX", True)
TARGET_INTENT = _settings.get("TARGET_INTENT", "*TARGET*")
OVERWRITE = _settings.get("OVERWRITE", False)
DRYRUN = _settings.get("DRYRUN", False)
WIDTH = _settings.get("WIDTH", 1)  # channel averaging while splitting the science spws (e.g. 8)
TIMEBIN = _settings.get("TIMEBIN", "0s")  # time averaging while splitting (e.g. '12s')
PARALLEL = _settings.get("PARALLEL", None)  # None: on the casampi servers when run under mpicasa/mpirun
MAXJOBS = _settings.get("MAXJOBS", None)  # EBs at once per host under MPI; None: adaptive

try:
    split_sci  # put at the prompt by init.py
except NameError:
    _init = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "init.py")
    exec(compile(open(_init).read(), _init, "exec"))
from casa_plugin import split_sci_tgt  # noqa: E402  (split_sci then split_tgt per EB, as one job)
from casa_plugin.report import summary_table  # noqa: E402

split = split_sci_tgt(vis=PROJECT, intent=INTENT, minnchan=MINNCHAN, reindex=REINDEX, target_intent=TARGET_INTENT,
                      overwrite=OVERWRITE, dryrun=DRYRUN, width=WIDTH, timebin=TIMEBIN, parallel=PARALLEL,
                      maxjobs=MAXJOBS)
print(summary_table(None, split["sci"], split["tgt"]))
