"""CASA's own words on a failed restore: the SEVERE lines its child CASA logged since the restore started."""

import json
import os

from ..logs import severe_lines

__all__ = ["LOG_NAME", "START_NAME", "severe_since", "cause_text", "with_cause"]

#: The child CASA's log file in its working directory (``--logfile``).
LOG_NAME = "casa.log"
#: Written by the child when restore_pi starts: its log file and that file's size then.
START_NAME = "log_start.json"
_SHOWN = 6  # SEVERE lines carried in a message; the rest are counted
#: SEVERE origins that are no cause: the leap-second table's age, the child's own restore_pi lines (its FAILED line).
_NOT_CAUSES = ("MeasTable::", "restore_pi::", "casa_plugin")
#: How CASA's words start in a message (cause_text here, logs.casa_cause in the restoring session).
_CAUSE_STARTS = ("CASA's SEVERE lines: ", "CASA logged no SEVERE line", "CASA wrote no log")


def severe_since(workdir):
    """Return ``(path, lines)``: the child's CASA log and its SEVERE lines since the restore started.

    ``lines`` is None when CASA wrote no log; each line is ``origin: message``
    (as ``logs.severe_lines`` reads them), but for the leap-second notice and
    casa_plugin's own lines. Read from the offset the
    child wrote in ``START_NAME`` when its restore_pi started (from the
    start of the log if it never got there).
    """
    path, offset = os.path.join(workdir, LOG_NAME), 0
    try:
        with open(os.path.join(workdir, START_NAME)) as f:
            start = json.load(f)
        path, offset = start["logfile"] or path, int(start["offset"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    if not os.path.isfile(path):
        return path, None
    return path, ["%s: %s" % (o, m) for o, m in severe_lines(path, offset) if not o.startswith(_NOT_CAUSES)]


def cause_text(found):
    """What CASA said, for a FAILED line: its SEVERE lines, or that it logged none or wrote no log."""
    path, lines = found
    if lines is None:
        return "CASA wrote no log"
    if not lines:
        return "CASA logged no SEVERE line since the restore started"
    more = len(lines) - _SHOWN
    return "CASA's SEVERE lines: %s%s" % (" | ".join(lines[:_SHOWN]), " (and %d more)" % more if more > 0 else "")


def with_cause(error, cause):
    """``error; cause``, unless ``error`` carries CASA's words already (the child's restore_pi put them there)."""
    if any(start in str(error) for start in _CAUSE_STARTS):
        return str(error)
    return "%s; %s" % (error, cause)
