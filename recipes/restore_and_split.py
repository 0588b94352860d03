"""Recipe: restore every member of an ALMA project, then split science spws and targets of every EB.

At the CASA prompt, started with --pipeline (settings set before execfile apply to that run only):
    PROJECT = '/data/2021.1.00690.S'      # project, science goal, group or member; default: the current directory
    WIDTH = 8                             # optional: any setting below
    execfile('/path/to/casa_plugin/recipes/restore_and_split.py')
From the shell (settings after the project, NAME=value):
    casa --pipeline --nogui -c /path/to/casa_plugin/recipes/restore_and_split.py /data/2021.1.00690.S DRYRUN=True
"""
import os

# ---- settings and their defaults (set one before execfile, or NAME=value after the recipe under casa -c) ----
SETTINGS = {
    "PROJECT": None,  # project, science goal, group or member; None: the current directory, if it is a delivery
    "SPACESAVING": None,  # passed to the scriptForPI only when set
    "DOSPLIT": None,
    "DOCONTSUB": None,
    "INTENT": "OBSERVE_TARGET*",  # science spws: observed with this intent ...
    "MINNCHAN": 5,  # ... and at least this many channels
    "REINDEX": True,  # False keeps the original spw ids
    "TARGET_INTENT": "*TARGET*",
    "OVERWRITE": False,  # of the splits; a restored calibrated/ is never redone by this recipe
    "DRYRUN": False,
    "WIDTH": 1,  # channel averaging while splitting the science spws (e.g. 8)
    "TIMEBIN": "0s",  # time averaging while splitting (e.g. '12s')
    "PARALLEL": None,  # None: on the casampi servers when run under mpicasa/mpirun
    "MAXJOBS": None,  # EBs at once per host under MPI; None: adaptive
}

try:
    restore_pi  # put at the prompt by init.py
except NameError:
    _init = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "init.py")
    exec(compile(open(_init).read(), _init, "exec"))
from casa_plugin import restore_pi as _restore_pi, split_sci_tgt  # noqa: E402  (split_sci_tgt: both splits per EB)
from casa_plugin.recipe_settings import resolve_project, take_settings  # noqa: E402
from casa_plugin.report import summary_table  # noqa: E402

_run = take_settings(SETTINGS, globals(), __file__)
_project = resolve_project(_run["PROJECT"], "members")
restored = _restore_pi(member=_project, spacesaving=_run["SPACESAVING"], dosplit=_run["DOSPLIT"],
                       docontsub=_run["DOCONTSUB"], dryrun=_run["DRYRUN"])
split = {}
if not _run["DRYRUN"] or all(m["status"] == "already restored" for m in restored["members"].values()):
    split = split_sci_tgt(vis=_project, intent=_run["INTENT"], minnchan=_run["MINNCHAN"], reindex=_run["REINDEX"],
                          target_intent=_run["TARGET_INTENT"], overwrite=_run["OVERWRITE"], dryrun=_run["DRYRUN"],
                          width=_run["WIDTH"], timebin=_run["TIMEBIN"], parallel=_run["PARALLEL"],
                          maxjobs=_run["MAXJOBS"])
print(summary_table(restored, split.get("sci"), split.get("tgt")))
