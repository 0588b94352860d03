"""Check a member before a day-long restore: files, ASDMs, scripts, locks, pipeline, CASA version and disk space."""

import glob
import logging
import os
import re
import stat

from . import archive_calibrated, locks, script_checks, versions as casa_versions
from .asdm_check import check_asdm
from .. import record as run_record
from ..delivery import member_ebs
from ..ms import is_ms
from ..staging import size_text
from .postflight import problems_of

__all__ = ["already_text", "calibrated_products", "disk_needed", "du_disk_bytes", "free_bytes", "check_member", "rule_at",
           "check_duplicates"]

log = logging.getLogger(__name__)

# The scriptForPI's disk rule, read from ALMA's own scriptForPI.py: the 2022 version
# ("$Id: scriptForPI.py,v 1.34 2022/08/26", as in GitHub JaneManolidou/Spiderweb-SD-Codes,
# member.uid___A001_X2d20_X3bdd.scriptForPI.py) and the 2023 one ("$Id: scriptForPI.py,v 2.5
# 2023/10/03", a public copy whose repository the search index did not name) have the same check,
# run in raw/ before anything is created (v1.23 of 2017 has it too):
#   savingslevel = 0 when SPACESAVING is unset, else SPACESAVING (an int >= -1, else sys.exit);
#   then (before the check) a renormalisation dataset caps savingslevel at 1: 2022 when
#   *scriptForFluxCalibration.py contains "ACreNorm"; 2023 also, when there is no flux script, when
#   *scriptForPolCalibration.py contains "Renormalization";
#   os.chdir('../raw'); avspace = `df -P -m $PWD` Available (MB, rounded up; raw/'s filesystem);
#   packspace = `du -smc $PWD` total (MB of disk blocks, rounded up: a sparse file counts what it
#   holds, hard links once);
#   spacefactor = 1 if script/ holds a *scriptForFluxCalibration.py, *scriptForImagingPrep.py or
#   *scriptForPolCalibration.py, else 0 (more than one of a kind: sys.exit "non-unique ...");
#   spaceneed = packspace * (11 + 3*spacefactor) for level 0, (7 + ...) for 1, (3 + ...) for 2 and >= 3,
#   and 0 for -1 ('Will not check available disk space.');
#   if spaceneed > avspace: sys.exit('ERROR: probably not enough free disk space.'), having printed
#   "... please set SPACESAVING to -1".
# The synthetic delivery's scriptForPI (templates/scriptForPI.py) does the same check.
_MIB = 1 << 20
#: Factor on raw/ by SPACESAVING level (-1: no check); levels above 2 use 2's.
_DISK_FACTOR = {0: 11, 1: 7, 2: 3}
#: Scripts in script/ that add raw/ x 3 to the need (they are run after the restore).
_EXTRA_SCRIPTS = ("*scriptForFluxCalibration.py", "*scriptForPolCalibration.py", "*scriptForImagingPrep.py")
#: Restore statuses in the run record that leave calibrated/ incomplete, whatever MSs it holds.
_UNFINISHED = ("interrupted", "failed")
_ID_LINE = re.compile(r"\$Id: scriptForPI\.py,v (\d+)\.(\d+) (\d{4})/")


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


def _ceil_mib(n):
    return -(-n // _MIB)


def du_disk_bytes(path):
    """Return the disk blocks used below ``path`` as ``du -s`` counts them (bytes; hard links once)."""
    seen = set()
    total = 0
    for root, dirs, files in os.walk(path):
        for name in ([root] if root == path else []) + [os.path.join(root, n) for n in dirs + files]:
            try:  # du follows the path it is given ($PWD: raw/ itself), nothing below it
                st = os.stat(name) if name == path else os.lstat(name)
            except OSError:
                continue
            if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
    return total


def free_bytes(path):
    """Return the space available to users on the filesystem of ``path`` (what ``df -P`` shows)."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def _script_rule(member):
    """Return ``(year, id)`` of the member's scriptForPI from its $Id line; (2023, None) if it has none."""
    for script in sorted(glob.glob(os.path.join(member, "script", "*scriptForPI.py"))):
        try:
            with open(script) as f:
                head = f.read(2000)
        except (OSError, UnicodeDecodeError):
            continue
        found = _ID_LINE.search(head)
        if found:
            return (2022 if int(found.group(1)) < 2 else 2023), found.group(0)[5:].rstrip("/")
    return 2023, None


def _contains(path, text):
    try:
        with open(path) as f:
            return text in f.read()
    except (OSError, UnicodeDecodeError):
        return False


def disk_needed(member, spacesaving):
    """Return the scriptForPI's own disk estimate for restoring ``member`` with ``spacesaving``.

    Parameters
    ----------
    member : str
        The member directory (``raw/`` and ``script/`` are read).
    spacesaving : int or None
        ``SPACESAVING`` as the script gets it; None means unset (level 0).

    Returns
    -------
    dict
        ``needed`` and ``raw`` (bytes), ``needed_mb``, ``raw_mb`` (the script's MB), ``level`` (the
        script's effective level: renormalisation data cap it at 1), ``factor`` (11, 7 or 3),
        ``extra`` (3 or 0), ``extra_scripts``, ``renorm``, ``rule`` (2022 or 2023, from the script's
        $Id line; 2023 without one), ``checked`` (False for -1: the script skips its check).
    """
    script = os.path.join(member, "script")
    level = 0 if spacesaving is None else int(spacesaving)
    year, ident = _script_rule(member)
    found = dict((p, sorted(glob.glob(os.path.join(script, p)))) for p in _EXTRA_SCRIPTS)
    flux, pol = found[_EXTRA_SCRIPTS[0]], found[_EXTRA_SCRIPTS[1]]
    renorm = bool(flux) and _contains(flux[0], "ACreNorm")
    if not flux and pol and year >= 2023:
        renorm = _contains(pol[0], "Renormalization")
    raw = du_disk_bytes(os.path.join(member, "raw"))
    extra_scripts = [os.path.basename(n) for p in _EXTRA_SCRIPTS for n in found[p]]
    disk = {"raw": raw, "raw_mb": _ceil_mib(raw), "spacesaving": spacesaving, "extra_scripts": extra_scripts,
            "renorm": renorm, "rule": year, "script_id": ident,
            "non_unique": [p for p in _EXTRA_SCRIPTS if len(found[p]) > 1]}
    disk.update(rule_at(disk, level))
    return disk


def rule_at(disk, level):
    """The script's need at SPACESAVING ``level`` for the raw/ size and scripts in ``disk``."""
    if disk["renorm"] and level > 1:
        level = 1
    checked = level != -1
    factor = _DISK_FACTOR[min(level, 2)] if checked else 0
    extra = 3 if disk["extra_scripts"] and checked else 0
    needed_mb = disk["raw_mb"] * (factor + extra)
    return {"level": level, "checked": checked, "factor": factor, "extra": extra, "needed_mb": needed_mb,
            "needed": needed_mb * _MIB}


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
    for eb in plan["ebs"]:
        if eb not in absent:
            problems.extend(check_asdm(os.path.join(raw, eb + ".asdm.sdm")))


def _check_locks(plan, problems):
    """Refuse a member whose calibrated/ (moved aside by overwrite=True) holds a table another process has locked."""
    calibrated = os.path.join(plan["member"], "calibrated")
    if not plan.get("move_aside") or not os.path.isdir(calibrated):
        return
    for table in locks.tables_below(calibrated):
        holder = locks.lock_holder(table)
        if holder:
            problems.append("%s: overwrite=True would move calibrated/ aside, but %s" % (
                os.path.basename(plan["member"]), locks.holder_text(table, holder)))


def _last_restore(member):
    """The run record's entry of the member's last restore ({} if casa_plugin did not record one)."""
    try:
        return run_record.load(os.path.join(member, "calibrated")).get("restore") or {}
    except (OSError, ValueError):
        return {}


def _why_failed(last):
    """': <why>' for a recorded failed restore: what its postflight found, else its error; '' otherwise."""
    if last.get("status") != "failed":
        return ""
    found = problems_of(last.get("postflight") or {})
    return ": %s" % (" | ".join(found) or last.get("error") or "no error recorded")


def _check_calibrated(plan, member, options, problems):
    """Return True if the member needs no restore (complete, and overwrite does not reach it).

    ``overwrite=True`` redoes an incomplete ``calibrated/`` (an EB's MS missing,
    or its recorded restore interrupted or failed); a complete one only when
    the member itself was named (``options['named']``).
    """
    if not os.path.lexists(os.path.join(member, "calibrated")):
        return False
    found, missing = calibrated_products(member, plan["ebs"])
    plan["products"] = found
    last = _last_restore(member)
    status = last.get("status")  # a restore the postflight found uncalibrated is recorded as failed, with why
    complete = bool(plan["ebs"]) and not missing and status not in _UNFINISHED
    again = "restore_pi(member=%r, overwrite=True)" % member
    if options["overwrite"] and (options.get("named", True) or not complete):
        plan["move_aside"] = True
        return False
    if complete:
        plan["status"] = "already restored"
        note = _already_note(member, options, last)
        if note:
            plan["note"] = note
        return True
    why = ("has no calibrated MS for %s" % (", ".join(missing) or "any EB") if missing or not plan["ebs"] else
           "has every EB's MS but its last restore was %s (casa_plugin_record.json%s)" % (status, _why_failed(last)))
    problems.append("%s: calibrated/ exists but %s; an earlier restore did not finish: to move it aside "
                    "(calibrated.<date>) and restore this member again: %s" % (os.path.basename(member), why, again))
    return True


def _already_note(member, options, last):
    """Why a complete member is not restored again, where the call asked for something it does not get: an
    overwrite=True above members, or scriptForPI options (they apply only to a new restore; a member restored
    from the archive's calibrated MSs has no scriptForPI run at all). None otherwise."""
    given = ["%s=%r" % (k, options[k]) for k in ("spacesaving", "dosplit", "docontsub") if options.get(k) is not None]
    again = "restore_pi(member=%r%s, overwrite=True)" % (member, "".join(", " + g for g in given))
    if options["overwrite"]:
        return "complete, so overwrite=True on a directory above members leaves it; to restore it again, name it: " \
            + again
    if given and last.get("from") == "archive":
        return ("%s not applied: it was restored from the archive's calibrated MSs, where no scriptForPI runs"
                % ", ".join(given))
    if given:
        return ("%s not applied: they are the scriptForPI's options, for a new restore; to restore it again with "
                "them: %s" % (", ".join(given), again))
    return None


def already_text(plan):
    """The progress line of a member that is not restored again: 'already restored' and why."""
    return "already restored" + ("; %s" % plan["note"] if plan.get("note") else "")


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
            problems.append(_no_executable(name, found["casa"]))
        return
    if plan.get("python2"):
        return  # named with the CASA 5 release it needs
    running = casa_versions.running_version()
    if not casa_versions.same_version(found["casa"], running) and options["versioncheck"]:
        problems.append("%s: made with CASA %s (pipeline %s, %s) but this is CASA %s; restore with CASA %s "
                        "(casa='auto' or casa='/path/to/casa'), or pass versioncheck=False to accept the "
                        "difference" % (name, found["casa"], found["pipeline"],
                                        os.path.basename(found["source"]), running, found["casa"]))


def _no_executable(name, version):
    """Why casa='auto' has no executable for ``version``, and how to give one."""
    path = casa_versions.config_path()
    if not os.path.isfile(path):
        return ("%s: made with CASA %s; casa='auto' reads your CASA releases from %s (the file $%s names, "
                "else ~/.config/casa_plugin/casa_versions.json), which does not exist; write it as JSON, one "
                "entry per release, e.g. {\"%s\": \"/path/to/casa-%s/bin/casa\"}, or pass casa='/path/to/casa'"
                % (name, version, path, casa_versions.CONFIG_ENV, version, version))
    return ("%s: made with CASA %s, and %s maps no executable to that version; add \"%s\": \"/path/to/casa\" "
            "there, or pass casa='/path/to/casa'" % (name, version, path, version))


def _need_text(disk):
    parts = "raw/ %s x %d" % (size_text(disk["raw_mb"] * _MIB), disk["factor"])
    if disk["extra"]:
        parts += " + x %d for %s" % (disk["extra"], ", ".join(disk["extra_scripts"]))
    given = disk["spacesaving"]
    level = "SPACESAVING unset (level 0)" if given is None else "SPACESAVING=%d" % given
    if disk["level"] != (0 if given is None else given):
        level += ", taken as 1 for renormalised data"
    return "%s for %s" % (parts, level)


def _ways_out(disk, free):
    """The ways past a failed disk check, each saying what it really does."""
    ways = ["free space on raw/'s filesystem"]
    current = disk["level"]
    for level, effect in ((1, "deletes the *.ms.split of manually calibrated EBs"),
                          (2, "deletes each restored *.ms once its .split.cal is made")):
        if level <= current:
            continue
        lower = rule_at(disk, level)
        if lower["level"] <= current:
            continue  # renormalised data: the script keeps level 1
        ways.append("spacesaving=%d lowers the script's need to %s (%s; %s)" % (
            level, size_text(lower["needed"]), "enough" if lower["needed_mb"] <= _ceil_mib(free) else "still too much",
            effect))
    ways.append("checkdisk=False skips only casa_plugin's own check: the scriptForPI then checks itself and "
                "stops with 'not enough free disk space' unless spacesaving=-1, which skips the script's "
                "check too")
    return "; ".join(ways)


def _check_disk(plan, options, problems):
    member = plan["member"]
    name = os.path.basename(member)
    disk = disk_needed(member, options["spacesaving"])
    raw = os.path.join(member, "raw")
    disk["free"] = free_bytes(raw if os.path.isdir(raw) else member)
    plan["disk"] = disk
    for pattern in disk["non_unique"]:
        problems.append("%s: script/ holds more than one %s; the scriptForPI stops on that (non-unique); "
                        "keep only the member's own" % (name, pattern))
    if not disk["checked"]:
        disk["note"] = ("SPACESAVING=-1: the scriptForPI does not check the disk space, and neither does "
                        "casa_plugin")
        return
    enough = disk["needed_mb"] <= _ceil_mib(disk["free"])  # the script: stop if spaceneed > avspace (MB)
    if enough:
        return
    text = ("%s: the scriptForPI needs %s free (its rule: %s) but only %s is free on raw/'s filesystem, so "
            "it would stop" % (name, size_text(disk["needed"]), _need_text(disk), size_text(disk["free"])))
    if options["checkdisk"]:
        problems.append("%s; %s" % (text, _ways_out(disk, disk["free"])))
    else:
        disk["note"] = ("checkdisk=False: casa_plugin does not refuse, but the scriptForPI's own check will "
                        "stop the restore; pass spacesaving=-1 to skip that too")
        log.warning("%s; checkdisk=False skips only casa_plugin's check: the scriptForPI checks itself and "
                    "will stop unless spacesaving=-1", text)


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
    untarred = archive_calibrated.found_unpacked(plan, _last_restore(member))  # the archive's MSs, unpacked by hand
    if untarred or _check_calibrated(plan, member, options, problems):
        return plan
    if archive_calibrated.plan_unpack(plan, options, problems):  # the archive's calibrated MSs: no scriptForPI
        return plan
    _check_files(plan, member, problems)
    if plan.get("script"):
        script_checks.python2_info(plan)
    if plan["pipeline_calibrated"] and not options["casa"] and "h_init" not in ns and not plan.get("python2"):
        problems.append("%s: pipeline-calibrated (%s) but the ALMA pipeline is not loaded (no h_init); "
                        "start CASA with the pipeline: casa --pipeline" % (name, os.path.basename(source)))
    script_checks.check_restore_script(plan, problems)
    before = len(problems)
    _check_version(plan, options, problems)
    _check_python2(plan, options, problems, named=len(problems) > before)
    _check_locks(plan, problems)
    _check_disk(plan, options, problems)
    return plan


def _check_python2(plan, options, problems, named):
    """A Python 2 scriptForPI runs only in the CASA 5 given (``casa=``, or 'auto' and the release it names)."""
    info = plan.get("python2")
    if not info or plan.get("casa"):
        return
    if options["casa"] == "auto" and info["release"]:
        plan["casa"] = casa_versions.executable_for(info["release"], casa_versions.casa_executables())
        if plan["casa"] is None and not named:
            problems.append(_no_executable(os.path.basename(plan["member"]), info["release"]))
        return
    if not named:
        problems.append(script_checks.python2_problem(plan))


def check_duplicates(plans):
    """Name each member found under two paths (a problem of the first), and skip a link to a member found already.

    Two directories of one member (the same ``member.uid___*`` name) are the
    same download unpacked twice: which one to restore is the user's choice.
    A path that resolves to a member already in ``plans`` (a link) is the same
    member: it is marked 'already restored' with a note, not restored twice.
    """
    by_name, problems = {}, []
    for plan in plans:
        by_name.setdefault(os.path.basename(plan["member"]), []).append(plan)
    for name, same in sorted(by_name.items()):
        first_of = {}
        for plan in sorted(same, key=lambda p: os.path.realpath(p["member"]) != os.path.abspath(p["member"])):
            real = os.path.realpath(plan["member"])  # the real directory is kept, a link to it is skipped
            if real in first_of:
                plan.update({"status": "already restored", "problems": [],
                             "note": "the same directory as %s (a link to it): restored there" % first_of[real]})
                continue
            first_of[real] = plan["member"]
        if len(first_of) > 1:
            paths = sorted(first_of.values())
            text = ("%s: found twice under the project, at %s (a delivery unpacked twice?); keep one: move the "
                    "other copy out of the project, or restore only one, by its path: restore_pi(member=%r)"
                    % (name, " and ".join(paths), paths[0]))
            [first] = [plan for plan in same if plan["member"] == paths[0]]
            first["problems"].append(text)
            problems.append(text)
    return problems
