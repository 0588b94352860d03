"""Check a member's scripts before a restore: Python 3 or not (then the CASA 5 it needs), and the restore script's lists."""

import ast
import glob
import logging
import os
import re

from . import versions as casa_versions

__all__ = ["python3_error", "casa5_release", "python2_info", "python2_problem", "restore_script_lists", "check_restore_script"]

log = logging.getLogger(__name__)

#: The pipeline tasks a casa_piperestorescript calls with the EB and session lists.
_RESTORE_TASKS = ("hifa_restoredata", "hif_restoredata", "hifv_restoredata", "hsd_restoredata")
_README_CASA = re.compile(r"CASA\s+(?:[Vv]ersion\s+|release\s+)?(5\.[0-9]+\.[0-9]+)")
_LIST_KEYWORD = r"%s\s*=\s*(\[[^\]]*\]|'[^']*'|\"[^\"]*\")"


def python3_error(script):
    """Return the SyntaxError Python 3 gives for ``script`` (a Python 2 scriptForPI), or None if it compiles."""
    with open(script, "rb") as f:
        source = f.read()
    try:
        compile(source, script, "exec", dont_inherit=True)
    except SyntaxError as exc:
        return exc
    except ValueError as exc:  # null bytes
        return SyntaxError(str(exc))
    return None


def casa5_release(member):
    """Return ``(release, where)``: the CASA 5 release a member's delivery names, or ``(None, None)``.

    Read where ``versions.delivery_versions`` reads it (the pipescript's first
    line, the pipeline manifest, the weblog), else the member's README.
    """
    found = casa_versions.delivery_versions(member)
    if found["casa"]:
        return found["casa"], os.path.basename(found["source"])
    readme = os.path.join(member, "README")
    try:
        with open(readme, errors="replace") as f:
            match = _README_CASA.search(f.read(200000))
    except OSError:
        match = None
    if match:
        return match.group(1), "README"
    return None, None


def python2_info(plan):
    """Set and return ``plan['python2']`` if the member's scriptForPI is not Python 3 (else None).

    ``{'line', 'message', 'release', 'where'}``: the SyntaxError's line and
    message, and the CASA 5 release the delivery names (None if none does).
    """
    error = python3_error(plan["script"])
    if error is None:
        return None
    release, where = casa5_release(plan["member"])
    plan["python2"] = {"line": error.lineno, "message": error.msg, "release": release, "where": where}
    return plan["python2"]


def python2_problem(plan):
    """The preflight's sentence on a Python 2 scriptForPI run without a CASA to run it in."""
    info, member = plan["python2"], plan["member"]
    release = info["release"]
    need = ("CASA %s (named by %s)" % (release, info["where"]) if release else
            "the CASA 5 release the member's QA2 report names (CASA 5.1-5.4 for scriptForPIs of 2017-2018; "
            "no pipescript, manifest, weblog or README here says which)")
    version = release or "5.x.y"
    return ("%s: %s is Python 2 (line %s: %s), written for CASA 5, so this CASA %s cannot run it; it needs %s. "
            "Give that CASA: restore_pi(member=%r, casa='/path/to/casa-%s/bin/casa'), or casa='auto' with "
            "\"%s\": \"/path/to/casa-%s/bin/casa\" in %s; the restore then runs there (through a Python 2.7 "
            "wrapper) and the splits in this CASA"
            % (os.path.basename(member), os.path.basename(plan["script"]), info["line"], info["message"],
               casa_versions.running_version(), need, member, version, version, version,
               casa_versions.config_path()))


def _literal(node):
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError):
        return None
    return [value] if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else None


def restore_script_lists(path):
    """Return ``(vis, session)`` of the restore task called in a casa_piperestorescript (None where not given).

    Parsed as Python (any version's simple call), else read with a pattern.
    """
    with open(path, errors="replace") as f:
        text = f.read()
    try:
        tree = ast.parse(text, path)
    except SyntaxError:
        tree = None
    if tree is not None:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in _RESTORE_TASKS:
                kw = dict((k.arg, k.value) for k in node.keywords)
                vis = _literal(kw["vis"]) if "vis" in kw else (_literal(node.args[0]) if node.args else None)
                return vis, _literal(kw["session"]) if "session" in kw else None
        return None, None
    lists = []
    for name in ("vis", "session"):
        match = re.search(_LIST_KEYWORD % name, text)
        lists.append(_literal(ast.parse(match.group(1), mode="eval").body) if match else None)
    return lists[0], lists[1]


def check_restore_script(plan, problems):
    """Append where the casa_piperestorescript's EB and session lists do not match raw/, calibration/ and the PPR."""
    member = plan["member"]
    scripts = sorted(glob.glob(os.path.join(member, "script", "*casa_piperestorescript.py")))
    if not scripts:
        return
    script = scripts[0]
    shown = os.path.join("script", os.path.basename(script))
    vis, sessions = restore_script_lists(script)
    name = os.path.basename(member)
    if vis is None:
        problems.append("%s: %s calls no %s with a literal vis list; restore it by hand as the tutorial says, or "
                        "download the member's script/ again" % (name, shown, "/".join(_RESTORE_TASKS[:2])))
        return
    raw, calibration = os.path.join(member, "raw"), os.path.join(member, "calibration")
    fix = ("the restore script and raw/ or calibration/ belong to different downloads: download the member's "
           "script/, calibration/ and raw/ data again from one request")
    absent = [eb for eb in vis if not os.path.isdir(os.path.join(raw, eb + ".asdm.sdm"))]
    if absent:
        problems.append("%s: %s restores %s, which raw/ lacks (%s); %s" % (
            name, shown, ", ".join(absent), raw, fix))
    extra = sorted(n[:-len(".asdm.sdm")] for n in os.listdir(raw) if n.endswith(".asdm.sdm")
                   and n[:-len(".asdm.sdm")] not in vis) if os.path.isdir(raw) else []
    if extra:  # as ALMA's scriptForPI says: probably QA semipass data, not used for the science products
        plan["not_restored"] = extra
        log.warning("%s: raw/ holds %s, which %s does not restore: probably QA semipass data (not used for the "
                    "science products); the scriptForPI calibrates only the EBs it lists (%s)",
                    name, ", ".join(extra), shown, ", ".join(vis))
    ebs = plan.get("ebs") or []
    if plan.get("pipeline_calibrated") and sorted(ebs) != sorted(vis):
        problems.append("%s: %s restores %s but the pipeline request lists %s; %s" % (
            name, shown, ", ".join(vis), ", ".join(ebs), fix))
    if sessions is not None and len(sessions) not in (1, len(vis)):
        problems.append("%s: %s gives %d sessions for %d EBs (one per EB: session=[...] in vis order); %s" % (
            name, shown, len(sessions), len(vis), fix))
        return
    if not os.path.isdir(calibration):
        return  # named by the file check
    lacking = []
    for index, eb in enumerate(vis):
        for product in (eb + ".ms.flagversions.tgz", eb + ".ms.calapply.txt"):
            if not os.path.exists(os.path.join(calibration, product)):
                lacking.append(product)
        session = (sessions[index] if len(sessions) == len(vis) else sessions[0]) if sessions else None
        if session and not glob.glob(os.path.join(calibration, "*.%s.caltables.tgz" % glob.escape(session))):
            lacking.append("*.%s.caltables.tgz (%s's session)" % (session, eb))
    if lacking:
        problems.append("%s: calibration/ lacks %s, which %s needs (%s); %s" % (
            name, ", ".join(sorted(set(lacking), key=lacking.index)), shown, calibration, fix))
