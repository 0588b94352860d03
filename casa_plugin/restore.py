"""restore_pi: run each member's scriptForPI as a user would, with preflight and postflight checks."""

import glob
import logging
import os
import time
import traceback
from collections import OrderedDict

from . import session
from .discovery import find_members, is_ms, member_ebs
from .errors import RestoreError
from .logs import progress_line, task_logging

__all__ = ["restore_pi", "preflight", "calibrated_products"]

log = logging.getLogger(__name__)
_OPTIONS = (("spacesaving", "SPACESAVING"), ("dosplit", "DOSPLIT"), ("docontsub", "DOCONTSUB"))


def calibrated_products(member, ebs):
    """Return ``(found, missing)``: per EB the calibrated MS (or ``.ms.split.cal``) in ``calibrated/``."""
    calibrated = os.path.join(member, "calibrated")
    found, missing = OrderedDict(), []
    for eb in ebs:
        for name in (eb + ".ms", eb + ".ms.split.cal"):
            if is_ms(os.path.join(calibrated, name)):
                found[eb] = os.path.join(calibrated, name)
                break
        else:
            missing.append(eb)
    return found, missing


def preflight(member, ns):
    """Check one member before a restore; return its plan with a list of ``problems`` (empty if fine)."""
    name = os.path.basename(member)
    plan = {"member": member, "status": "restore", "problems": []}
    problems = plan["problems"]
    script_dir = os.path.join(member, "script")
    if not os.path.isdir(script_dir):
        problems.append("%s: no script/ directory; this is not a complete ALMA member download "
                        "(expected script/, raw/, calibration/)" % member)
        return plan
    scripts = sorted(glob.glob(os.path.join(script_dir, "*scriptForPI.py")))
    if len(scripts) != 1:
        problems.append("%s: expected one *scriptForPI.py, found %s; keep only the member's own "
                        "member.uid___*.scriptForPI.py" % (script_dir, ", ".join(scripts) or "none"))
    else:
        plan["script"] = scripts[0]
    ebs, source = member_ebs(member)
    plan["ebs"] = ebs
    plan["pipeline_calibrated"] = source.endswith(".xml")
    if not ebs:
        problems.append("%s: no EB found (no *pprequest.xml in script/, no *.asdm.sdm in raw/)" % member)
    if os.path.lexists(os.path.join(member, "calibrated")):
        found, missing = calibrated_products(member, ebs)
        if ebs and not missing:
            plan.update({"status": "already restored", "products": found, "problems": []})
        else:
            problems.append("%s: calibrated/ exists but has no calibrated MS for %s; an earlier restore "
                            "did not finish: move calibrated/ aside (mv calibrated calibrated.failed) "
                            "and run again" % (name, ", ".join(missing) or "any EB"))
        return plan
    if plan["pipeline_calibrated"] and "h_init" not in ns:
        problems.append("%s: pipeline-calibrated (%s) but the ALMA pipeline is not loaded (no h_init); "
                        "start CASA with the pipeline: casa --pipeline" % (name, os.path.basename(source)))
    raw = os.path.join(member, "raw")
    absent = [eb for eb in ebs if not os.path.exists(os.path.join(raw, eb + ".asdm.sdm"))]
    if absent:
        problems.append("%s: raw/ lacks the ASDM of %s; download the raw data of these EBs into %s"
                        % (name, ", ".join(absent), raw))
    if not os.path.isdir(os.path.join(member, "calibration")):
        problems.append("%s: no calibration/ directory; download the member's calibration products "
                        "into %s" % (name, os.path.join(member, "calibration")))
    return plan


def _check_options(spacesaving, dosplit, docontsub, dryrun):
    if spacesaving is not None and (isinstance(spacesaving, bool) or not isinstance(spacesaving, int)
                                    or not 0 <= spacesaving <= 3):
        raise TypeError("spacesaving must be None or an integer 0-3 (as SPACESAVING), not %r" % (spacesaving,))
    for name, value in (("dosplit", dosplit), ("docontsub", docontsub)):
        if value is not None and not isinstance(value, bool):
            raise TypeError("%s must be None, True or False, not %r" % (name, value))
    if not isinstance(dryrun, bool):
        raise TypeError("dryrun must be True or False, not %r" % (dryrun,))


def _script_namespace(ns, options):
    scope = dict(ns)
    for arg, variable in _OPTIONS:
        if variable in scope and options[arg] is None:
            log.warning("%s=%r is set in this session; restore_pi ignores it (pass %s=%r instead)",
                        variable, scope[variable], variable.lower(), scope[variable])
        scope.pop(variable, None)
    variables = dict((var, options[arg]) for arg, var in _OPTIONS if options[arg] is not None)
    return scope, variables


def _restore_member(plan, scope, variables):
    script = plan["script"]
    try:
        session.run_script(script, os.path.dirname(script), scope, variables)
    except SystemExit as exc:
        if exc.code not in (None, 0):
            raise RestoreError("%s: the scriptForPI stopped: %s" % (os.path.basename(plan["member"]), exc.code))
    found, missing = calibrated_products(plan["member"], plan["ebs"])
    if missing:
        raise RestoreError("%s: the scriptForPI finished but calibrated/ has no MS for %s; see the CASA log"
                           % (os.path.basename(plan["member"]), ", ".join(missing)))
    return found


def restore_pi(member=".", spacesaving=None, dosplit=None, docontsub=None, dryrun=False):
    """Restore the pipeline calibration of every member at or below ``member`` by running its scriptForPI.

    Parameters
    ----------
    member : str
        A member directory, its ``script/``, or a directory above members
        (science goal, group, project): every member below, in sorted order.
    spacesaving, dosplit, docontsub : int, bool, bool, optional
        Set as ``SPACESAVING``, ``DOSPLIT``, ``DOCONTSUB`` for the scriptForPI,
        only when given (the session's own globals of those names are ignored).
    dryrun : bool
        Run the preflight checks and report the plan; run nothing.

    Returns
    -------
    dict
        ``{'task', 'members': {member: result}, 'counts'}``; each result has
        ``status`` (restored, already restored, planned, failed), ``ebs`` and
        ``products`` (EB -> calibrated MS). The scriptForPI writes
        ``<member>/calibrated/``.

    Raises
    ------
    FileNotFoundError
        If ``member`` holds no member directory.
    RestoreError
        Before anything runs if any member fails its preflight (all problems
        listed); after all members ran if any restore failed.
    """
    with task_logging("restore_pi"):
        options = {"spacesaving": spacesaving, "dosplit": dosplit, "docontsub": docontsub}
        _check_options(spacesaving, dosplit, docontsub, dryrun)
        ns = session.namespace()
        plans = [preflight(m, ns) for m in find_members(member)]
        results = OrderedDict((p["member"], p) for p in plans)
        summary = {"task": "restore_pi", "members": results}
        problems = [text for p in plans for text in p["problems"]]
        if problems:
            for p in plans:
                p["status"] = "failed" if p["problems"] else "not run"
            raise RestoreError("restore_pi: preflight failed; nothing was run:\n" + "\n".join(
                "  " + text for text in problems), results=summary)
        scope, variables = _script_namespace(ns, options)
        total = len(plans)
        for index, plan in enumerate(plans, 1):
            name = os.path.basename(plan["member"])
            if plan["status"] == "already restored":
                log.info(progress_line(index, total, name, "calibrated/", "already restored", None))
                continue
            if dryrun:
                plan["status"] = "planned"
                log.info(progress_line(index, total, name, "calibrated/", "planned: %d EBs with %s%s" % (
                    len(plan["ebs"]), os.path.basename(plan["script"]),
                    "".join(", %s=%r" % kv for kv in sorted(variables.items()))), None))
                continue
            start = time.time()
            try:
                plan["products"] = _restore_member(plan, scope, variables)
                plan["status"] = "restored"
            except Exception as exc:
                plan.update({"status": "failed", "error": str(exc), "traceback": traceback.format_exc()})
            plan["seconds"] = time.time() - start
            detail = ("%d EBs" % len(plan["ebs"]) if plan["status"] == "restored"
                      else "FAILED: %s" % plan["error"])
            (log.info if plan["status"] == "restored" else log.error)(
                progress_line(index, total, name, "calibrated/", detail, plan["seconds"]))
        counts = {}
        for p in plans:
            counts[p["status"]] = counts.get(p["status"], 0) + 1
        summary["counts"] = counts
        failed = [p for p in plans if p["status"] == "failed"]
        if failed:
            raise RestoreError("restore_pi failed for %d of %d members:\n%s" % (
                len(failed), total, "\n".join("  %s" % p["error"] for p in failed)), results=summary)
        return summary
