"""Recipe: restore every member of an ALMA project, then split science spws and targets of every EB.

At the CASA prompt, started with --pipeline (settings set before execfile apply to that run only):
    PROJECT = '/data/2021.1.00690.S'      # project, science goal, group or member; default: the current directory
    WIDTH = 8                             # optional: any setting below
    execfile('/path/to/casa_plugin/recipes/restore_and_split.py')
From the shell (settings after the project, NAME=value):
    casa --pipeline --nogui -c /path/to/casa_plugin/recipes/restore_and_split.py /data/2021.1.00690.S DRYRUN=True
In the venv, whose casashell has no pipeline, on a synthetic delivery (the tests' stand-in restores it):
    .venv/bin/python -m casashell --nogui -c recipes/restore_and_split.py /tmp/try/2021.1.00690.S PIPELINE=standin
"""
import os

try:
    restore_pi  # put at the prompt by init.py
except NameError:
    _init = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "init.py")
    exec(compile(open(_init).read(), _init, "exec"))
from casa_plugin import restore_pi as _restore_pi  # noqa: E402
from casa_plugin.prompt import session as _session  # noqa: E402
from casa_plugin.prompt.recipe_settings import (SPLIT_SETTINGS, recipe_errors, resolve_project, run_splits,  # noqa: E402
                                         submit_programme, summary_at_end, take_settings)
from casa_plugin.testing.pipeline_standin import load_for_recipe  # noqa: E402

# ---- settings and their defaults (set one before execfile, or NAME=value after the recipe under casa -c) ----
SETTINGS = dict((
    ("PROJECT", None),  # project, science goal, group or member; None: the current directory (a delivery at or below it)
    ("SPACESAVING", None),  # passed to the scriptForPI only when set
    ("DOSPLIT", None),
    ("DOCONTSUB", None),
    ("RESTORE_PARALLEL", None),  # members restored at once: None auto, False one after the other, True, or N
    ("SUBMIT", None),  # 'slurm' (or a dict of submit's options): one batch job per member instead, docs/cluster.md
    ("PIPELINE", None),  # None: CASA's own (casa --pipeline); 'standin': the tests' stand-in (venv, synthetic data)
) + SPLIT_SETTINGS)  # INTENT, MINNCHAN, REINDEX, TARGET_INTENT, OVERWRITE, DRYRUN, WIDTH, TIMEBIN, PARALLEL, MAXJOBS, TOTALPOWER

# under casa -c a failure ends in two lines and exit status 1; the summary table is printed also after a failure
with recipe_errors(globals(), __file__), summary_at_end() as _results:
    _run = take_settings(SETTINGS, globals(), __file__)
    _standin = load_for_recipe(_run["PIPELINE"], _session.namespace())
    if _standin:
        print(_standin)
    _project = resolve_project(_run["PROJECT"], "members")
    if _run["SUBMIT"] is not None:  # the jobs restore and split; nothing runs here
        submitted = submit_programme(_run, _project)
    else:
        restored = _results["restore"] = _restore_pi(
            member=_project, spacesaving=_run["SPACESAVING"], dosplit=_run["DOSPLIT"], docontsub=_run["DOCONTSUB"],
            dryrun=_run["DRYRUN"], parallel=_run["RESTORE_PARALLEL"])
        split = {}
        if not _run["DRYRUN"] or all(m["status"] == "already restored" for m in restored["members"].values()):
            split = _results["split"] = run_splits(_run, _project)  # split_sci then split_tgt, per EB
