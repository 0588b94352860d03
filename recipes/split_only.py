"""Recipe: split science spws and targets of every EB of already restored ALMA data.

At the CASA prompt (settings set before execfile apply to that run only):
    PROJECT = '/data/2021.1.00690.S'      # calibrated/, member or project; default: the current directory
    WIDTH = 8                             # optional: any setting below
    execfile('/path/to/casa_plugin/recipes/split_only.py')
From the shell (settings after the project, NAME=value):
    casa --nogui -c /path/to/casa_plugin/recipes/split_only.py /data/2021.1.00690.S DRYRUN=True WIDTH=8
"""
import os

# ---- settings and their defaults (set one before execfile, or NAME=value after the recipe under casa -c) ----
SETTINGS = {
    "PROJECT": None,  # calibrated/, member, or project; None: the current directory, if it holds restored data
    "INTENT": "OBSERVE_TARGET*",  # science spws: observed with this intent ...
    "MINNCHAN": 5,  # ... and at least this many channels
    "REINDEX": True,  # False keeps the original spw ids
    "TARGET_INTENT": "*TARGET*",
    "OVERWRITE": False,
    "DRYRUN": False,
    "WIDTH": 1,  # channel averaging while splitting the science spws (e.g. 8)
    "TIMEBIN": "0s",  # time averaging while splitting (e.g. '12s')
    "PARALLEL": None,  # None: on the casampi servers when run under mpicasa/mpirun
    "MAXJOBS": None,  # EBs at once per host under MPI; None: adaptive
}

try:
    split_sci  # put at the prompt by init.py
except NameError:
    _init = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "init.py")
    exec(compile(open(_init).read(), _init, "exec"))
from casa_plugin import split_sci_tgt  # noqa: E402  (split_sci then split_tgt per EB, as one job)
from casa_plugin.recipe_settings import resolve_project, take_settings  # noqa: E402
from casa_plugin.report import summary_table  # noqa: E402

_run = take_settings(SETTINGS, globals(), __file__)
split = split_sci_tgt(vis=resolve_project(_run["PROJECT"], "calibrated"), intent=_run["INTENT"],
                      minnchan=_run["MINNCHAN"], reindex=_run["REINDEX"], target_intent=_run["TARGET_INTENT"],
                      overwrite=_run["OVERWRITE"], dryrun=_run["DRYRUN"], width=_run["WIDTH"],
                      timebin=_run["TIMEBIN"], parallel=_run["PARALLEL"], maxjobs=_run["MAXJOBS"])
print(summary_table(None, split["sci"], split["tgt"]))
