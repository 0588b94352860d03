"""Recipe: split science spws and targets of every EB of already restored ALMA data.

At the CASA prompt (settings set before execfile apply to that run only):
    PROJECT = '/data/2021.1.00690.S'      # calibrated/, member or project; default: the current directory
    WIDTH = 8                             # optional: any setting below
    execfile('/path/to/casa_plugin/recipes/split_only.py')
From the shell (settings after the project, NAME=value):
    casa --nogui -c /path/to/casa_plugin/recipes/split_only.py /data/2021.1.00690.S DRYRUN=True WIDTH=8
"""
import os

try:
    split_sci  # put at the prompt by init.py
except NameError:
    _init = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "init.py")
    exec(compile(open(_init).read(), _init, "exec"))
from casa_plugin.recipe_settings import (SPLIT_SETTINGS, recipe_errors, resolve_project, run_splits,  # noqa: E402
                                         take_settings)
from casa_plugin.report import summary_table  # noqa: E402

# ---- settings and their defaults (set one before execfile, or NAME=value after the recipe under casa -c) ----
SETTINGS = dict((("PROJECT", None),) + SPLIT_SETTINGS)  # PROJECT: calibrated/, member or project; None: the cwd
# SPLIT_SETTINGS: INTENT, MINNCHAN, REINDEX, TARGET_INTENT, OVERWRITE, DRYRUN, WIDTH, TIMEBIN, PARALLEL, MAXJOBS

with recipe_errors(globals(), __file__):  # under casa -c: a failure in two lines and exit status 1
    _run = take_settings(SETTINGS, globals(), __file__)
    split = run_splits(_run, resolve_project(_run["PROJECT"], "calibrated"))  # split_sci then split_tgt, per EB
    print(summary_table(None, split["sci"], split["tgt"]))
