"""Check a member before a day-long restore: files, pipeline, CASA version and disk space."""

import glob
import logging
import os
import shutil

from . import casa_versions
from .discovery import is_ms, member_ebs
from .outputs import du_bytes

__all__ = ["calibrated_products", "disk_needed", "check_member"]

log = logging.getLogger(__name__)
#: The scriptForPI's rule: the restore needs raw/ times this, by SPACESAVING (0, 1, >= 2).
_DISK_FACTOR = {0: 11, 1: 7, 2: 3}


def calibrated_products(member, ebs):
    """Return ``(found, missing)``: per EB the calibrated MS (or ``.ms.split.cal``) in ``calibrated/``."""
    calibrated = os.path.join(member, "calibrated")
    found, missing = {}, []
    for eb in ebs:
        for name in (eb + ".ms", eb + ".ms.split.cal"):
            if is_ms(os.path.join(calibrated, name)):
                found[eb] = os.path.join(calibrated, name)
                break
        else:
            missing.append(eb)
    return found, missing


def disk_needed(member, spacesaving):
    """Return ``(needed, raw, factor)`` bytes for restoring ``member`` with ``spacesaving`` (None = 1)."""
    level = 1 if spacesaving is None else min(int(spacesaving), 2)
    raw = du_bytes(os.path.join(member, "raw"))  # file sizes: a sparse file counts in full
    return raw * _DISK_FACTOR[level], raw, _DISK_FACTOR[level]


def _gb(n):
    return "%.1f GB" % (n / 1e9)


def _check_files(plan, member, problems):
    name = os.path.basename(member)
    scripts = sorted(glob.glob(os.path.join(member, "script", "*scriptForPI.py")))
    if len(scripts) != 1:
        problems.append("%s: expected one *scriptForPI.py, found %s; keep only the member's own "
                        "member.uid___*.scriptForPI.py" % (os.path.join(member, "script"),
                                                           ", ".join(scripts) or "none"))
    else:
        plan["script"] = scripts[0]
    raw = os.path.join(member, "raw")
    absent = [eb for eb in plan["ebs"] if not os.path.exists(os.path.join(raw, eb + ".asdm.sdm"))]
    if absent:
        problems.append("%s: raw/ lacks the ASDM of %s; download the raw data of these EBs into %s"
                        % (name, ", ".join(absent), raw))
    if not os.path.isdir(os.path.join(member, "calibration")):
        problems.append("%s: no calibration/ directory; download the member's calibration products "
                        "into %s" % (name, os.path.join(member, "calibration")))


def _check_calibrated(plan, member, overwrite, problems):
    """Return True if the member needs no restore (already restored and no overwrite)."""
    if not os.path.lexists(os.path.join(member, "calibrated")):
        return False
    found, missing = calibrated_products(member, plan["ebs"])
    plan["products"] = found
    if overwrite:
        plan["move_aside"] = True
        return False
    if plan["ebs"] and not missing:
        plan["status"] = "already restored"
        return True
    problems.append("%s: calibrated/ exists but has no calibrated MS for %s; an earlier restore did not "
                    "finish: pass overwrite=True to move it aside (calibrated.<date>) and restore again"
                    % (os.path.basename(member), ", ".join(missing) or "any EB"))
    return True


def _check_version(plan, options, problems):
    found = casa_versions.delivery_versions(plan["member"])
    plan["delivery_versions"] = found
    name = os.path.basename(plan["member"])
    casa = options["casa"]
    if casa and casa != "auto":  # an explicit CASA is used whatever the delivery states (or not)
        plan["casa"] = casa
        return
    if found["casa"] is None:
        log.warning("%s: no CASA version found in script/*casa_pipescript.py, a pipeline manifest or the "
                    "weblog; going on with this CASA", name)
        return
    if casa == "auto":
        mapping = casa_versions.casa_executables()
        plan["casa"] = casa_versions.executable_for(found["casa"], mapping)
        if plan["casa"] is None:
            problems.append("%s: made with CASA %s, and %s maps no executable to that version; add "
                            "\"%s\": \"/path/to/casa\" there, or pass casa='/path/to/casa'"
                            % (name, found["casa"], casa_versions.config_path(), found["casa"]))
        return
    running = casa_versions.running_version()
    if not casa_versions.same_version(found["casa"], running) and options["versioncheck"]:
        problems.append("%s: made with CASA %s (pipeline %s, %s) but this is CASA %s; restore with CASA %s "
                        "(casa='auto' or casa='/path/to/casa'), or pass versioncheck=False to accept the "
                        "difference" % (name, found["casa"], found["pipeline"],
                                        os.path.basename(found["source"]), running, found["casa"]))


def _check_disk(plan, options, problems):
    needed, raw, factor = disk_needed(plan["member"], options["spacesaving"])
    free = shutil.disk_usage(plan["member"]).free
    plan["disk"] = {"needed": needed, "raw": raw, "factor": factor, "free": free}
    if needed > free and options["checkdisk"]:
        problems.append("%s: the restore needs about %s (raw/ %s x %d for SPACESAVING=%s) but only %s is "
                        "free there; free space, pass spacesaving=2, or checkdisk=False to try anyway"
                        % (os.path.basename(plan["member"]), _gb(needed), _gb(raw), factor,
                           options["spacesaving"] if options["spacesaving"] is not None else "default 1",
                           _gb(free)))


def check_member(member, ns, options):
    """Check one member; return its plan, with ``problems`` listing what must be fixed first.

    ``options`` holds restore_pi's arguments (spacesaving, overwrite,
    checkdisk, versioncheck, casa). The plan's ``status`` is ``'restore'`` or
    ``'already restored'``.
    """
    plan = {"member": member, "status": "restore", "problems": []}
    problems = plan["problems"]
    name = os.path.basename(member)
    if not os.path.isdir(os.path.join(member, "script")):
        problems.append("%s: no script/ directory; this is not a complete ALMA member download "
                        "(expected script/, raw/, calibration/)" % member)
        return plan
    ebs, source = member_ebs(member)
    plan.update({"ebs": ebs, "pipeline_calibrated": source.endswith(".xml")})
    if not ebs:
        problems.append("%s: no EB found (no *pprequest.xml in script/, no *.asdm.sdm in raw/)" % member)
    if _check_calibrated(plan, member, options["overwrite"], problems):
        return plan
    if plan["pipeline_calibrated"] and not options["casa"] and "h_init" not in ns:
        problems.append("%s: pipeline-calibrated (%s) but the ALMA pipeline is not loaded (no h_init); "
                        "start CASA with the pipeline: casa --pipeline" % (name, os.path.basename(source)))
    _check_files(plan, member, problems)
    _check_version(plan, options, problems)
    _check_disk(plan, options, problems)
    return plan
