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

try:
    restore_pi, split_sci, split_tgt  # put at the prompt by init.py
except NameError:
    _init = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "init.py")
    exec(compile(open(_init).read(), _init, "exec"))
from casa_plugin.report import summary_table  # noqa: E402

restored = restore_pi(member=PROJECT, spacesaving=SPACESAVING, dosplit=DOSPLIT, docontsub=DOCONTSUB,
                      dryrun=DRYRUN)
science = target = None
if not DRYRUN or all(m["status"] == "already restored" for m in restored["members"].values()):
    science = split_sci(vis=PROJECT, intent=INTENT, minnchan=MINNCHAN, reindex=REINDEX,
                        overwrite=OVERWRITE, dryrun=DRYRUN)
    if not DRYRUN:
        target = split_tgt(vis=PROJECT, intent=TARGET_INTENT, overwrite=OVERWRITE)
print(summary_table(restored, science, target))
