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
from casa_plugin.prompt.recipe_settings import (SPLIT_SETTINGS, recipe_errors, resolve_project, run_splits,  # noqa: E402
                                         summary_at_end, take_settings)

# ---- settings and their defaults (set one before execfile, or NAME=value after the recipe under casa -c) ----
SETTINGS = dict((("PROJECT", None),) + SPLIT_SETTINGS)  # PROJECT: calibrated/, member or project; None: the cwd
# SPLIT_SETTINGS: INTENT, MINNCHAN, REINDEX, TARGET_INTENT, OVERWRITE, DRYRUN, WIDTH, TIMEBIN, PARALLEL, MAXJOBS, TOTALPOWER

# under casa -c a failure ends in two lines and exit status 1; the summary table is printed also after a failure
with recipe_errors(globals(), __file__), summary_at_end() as _results:
    _run = take_settings(SETTINGS, globals(), __file__)
    split = _results["split"] = run_splits(_run, resolve_project(_run["PROJECT"], "calibrated"))  # sci, tgt per EB
