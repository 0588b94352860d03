"""Members the archive delivers calibrated: unpack and check their ``uid*.ms.split.cal`` tar files, run no scriptForPI.

What the archive's calibrated measurement sets look like, from public sources:

- The ALMA Regional Centres make calibrated MSs on request, per member (MOUS):
  the EU ARC's "CalMS service" since 2020 ("you will be notified ... where you
  can download the tarred MS(s)"; for pipeline-imaged members also the
  pipeline's other calibrated visibilities;
  https://almascience.eso.org/tools/eu-arc-network/the-european-arc-calms-service),
  made by a staging command that "tars up the completed MS"
  (https://eso.org/projects/alma/arc/tw/bin/view/External/ALMACalMSCreation);
  the EA ARC's delivery "is the outcome of running scriptForPI.py", for
  interferometric data of Cycle 1 on (no single-dish, no Cycle 0;
  https://www2.nao.ac.jp/~eaarc/DATARED/calibrated_ms_request.html); NRAO's
  archive restores pipeline-calibrated members of Cycle 5 on ("Download
  Restored MS", https://data.nrao.edu; its SRDP page).
- The archive's own tar files are ``<project>_<member uid>_<X>_of_<Y>.tar``,
  ``<project>_<member uid>_auxiliary.tar`` and ``<EB uid>.asdm.sdm.tar``
  (https://help.almascience.org/kb/articles/how-are-alma-data-products-packaged);
  the calibrated MSs are none of these.
- Calibrated MSs handed on as files are one tar per EB, ``<EB uid>.ms.split.cal.tar``
  (``.tgz`` too): public reduction scripts untar
  ``uid___A002_X101c3b2_Xbcf0.ms.split.cal.tar`` and read
  ``uid___A002_X101c3b2_Xbcf0.ms.split.cal`` from where they untarred it, with
  the science spws' original ids (25, 27, 29, 31: the scriptForPI's DOSPLIT,
  which keeps the ids when all EBs share them); a survey of ALMA's SDP.81
  science-verification data lists per-EB ``uid___A002_X8fd70d_X188b.ms.split.cal.tar``
  files (6-19 GB each).

Public sources do not show the inside of an ARC's tar. So casa_plugin takes
``<EB uid>.ms.split.cal.tar`` (or ``.tar.gz``, ``.tgz``) holding one
``<EB uid>.ms.split.cal/`` (and optionally its ``.flagversions``), at its top
or below a path ending in ``calibrated/`` (the delivery's tree, e.g.
``<project>/science_goal.*/group.*/member.<uid>/calibrated/``, whose
``member.<uid>`` must then be this member's). They are looked for in the
member directory, the project directory and the directory above it (where
the archive's tar files were downloaded, guide section 1), for the member's
EBs (its PPR). A member whose every EB has such a tar is unpacked into
``calibrated/`` instead of restored; a ``calibrated/`` holding only
``<EB>.ms.split.cal`` MSs, with no ``working/`` and no casa_plugin record (the
user untarred them), is checked and recorded. Either way the record says the
calibration came from the archive's calibrated MSs, and split_sci takes each
``.split.cal`` as the delivery's own split. The tar files are only read.
"""

import logging
import os
import shutil
import tarfile
import time

from ..ms import casa
from .. import record as run_record
from ..errors import RestoreError, interruption
from ..ms import is_ms, read_contents
from ..split.selection import science_spws
from ..staging import check_space, remove_tree, size_text, staged

__all__ = ["SOURCE", "TAR_SUFFIXES", "find_tars", "inspect_tar", "found_unpacked", "plan_unpack", "check_unpacked",
           "unpack_member", "plan_text"]

log = logging.getLogger(__name__)

#: How the record and the progress line name where the calibration came from.
SOURCE = "the archive's calibrated MSs"
#: Names of an EB's calibrated-MS tar file: ``<EB uid>`` + one of these.
TAR_SUFFIXES = (".ms.split.cal.tar", ".ms.split.cal.tar.gz", ".ms.split.cal.tgz")
_BLOCK = 512
_FIX = ("download it again (compare its size with the archive's), or unpack it by hand into the member's "
        "calibrated/ as <EB uid>.ms.split.cal")


def _search_dirs(member):
    """The member directory, its project directory and the one above (the archive's tar files' download place)."""
    dirs = [member]
    up = os.path.dirname(member)
    while os.path.basename(up).startswith(("group.", "science_goal.")):
        up = os.path.dirname(up)
    if up != os.path.dirname(member):
        dirs += [up, os.path.dirname(up)]
    return dirs


def find_tars(member, ebs):
    """Return ``({eb: tar path}, problems)``: the calibrated-MS tar file of each EB of ``member`` found.

    An EB's tar found in two places with different sizes, and a tar in the
    member directory for an EB the member does not have, are problems.
    """
    found, problems = {}, []
    for where in _search_dirs(member):
        try:
            names = sorted(os.listdir(where))
        except OSError:
            continue
        for name in names:
            suffix = next((s for s in TAR_SUFFIXES if name.endswith(s)), None)
            if suffix is None or not os.path.isfile(os.path.join(where, name)):
                continue
            eb, path = name[:-len(suffix)], os.path.join(where, name)
            if eb not in ebs:
                if where == member:
                    problems.append("%s: the member's EBs are %s, not %s; move it to its own member's directory"
                                    % (path, ", ".join(ebs) or "none", eb))
                continue
            if eb in found and os.path.getsize(found[eb]) != os.path.getsize(path):
                problems.append("%s and %s: two different tar files of %s; keep the whole one only"
                                % (found[eb], path, eb))
            found.setdefault(eb, path)
    return found, problems


def _ms_parts(name, eb):
    """Split a tar entry name into (prefix parts, parts from the MS directory on), or None if outside the MS."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    for i, part in enumerate(parts):
        if part in (eb + ".ms.split.cal", eb + ".ms.split.cal.flagversions"):
            return parts[:i], parts[i:]
    return None


def inspect_tar(path, eb, mous):
    """Read the entries of ``path`` (never its data); return what it holds or raise ValueError.

    Parameters
    ----------
    path : str
        The tar file (plain or gzip-compressed).
    eb : str
        The EB it must hold (``<eb>.ms.split.cal``).
    mous : str
        The member uid (``uid___A001_…``) a ``member.*`` directory in its paths must name.

    Returns
    -------
    dict
        ``prefix`` (the path before the MS, ``''`` at the top), ``bytes`` (of its files), ``entries``,
        ``flagversions`` (True if it holds ``<eb>.ms.split.cal.flagversions``), ``ignored`` (entries
        outside the MS, not unpacked).

    Raises
    ------
    ValueError
        Naming ``path``, the cause and the fix: unreadable or cut short; an absolute path, ``..``, a
        link or a device; another member's path; no ``<eb>.ms.split.cal/table.dat``.
    """
    info = {"prefix": None, "bytes": 0, "entries": 0, "flagversions": False, "ignored": []}
    try:
        with tarfile.open(path, "r:*") as tar:
            for entry in tar:
                _check_entry(path, entry, eb, mous, info)
            end = tar.offset
            tar.fileobj.seek(end)
            tail = tar.fileobj.read(2 * _BLOCK)
    except (tarfile.TarError, EOFError, OSError) as exc:  # OSError: gzip's 'not a gzipped file', zlib errors
        raise ValueError("%s: cannot be read as a tar file (%s: %s): it is cut short or damaged; %s"
                         % (path, type(exc).__name__, exc, _FIX)) from exc
    if tail != b"\0" * (2 * _BLOCK):  # every tar ends with two zero blocks: without them, files are missing
        raise ValueError("%s: ends after %d entries without the end-of-archive blocks: it is cut short; %s"
                         % (path, info["entries"], _FIX))
    if info["prefix"] is None or not info.get("table"):
        raise ValueError("%s: holds no %s.ms.split.cal/table.dat, so no whole measurement set of %s; %s"
                         % (path, eb, eb, _FIX))
    return info


def _check_entry(path, entry, eb, mous, info):
    name = entry.name
    if name.startswith("/") or ".." in name.split("/"):
        raise ValueError("%s: its entry %r would be written outside the directory it is unpacked in; casa_plugin "
                         "unpacks nothing from it: unpack it by hand, checking what it writes" % (path, name))
    if not (entry.isdir() or entry.isfile()):
        raise ValueError("%s: its entry %r is a link or a device, which a measurement set never holds; casa_plugin "
                         "unpacks nothing from it: unpack it by hand, checking what it writes" % (path, name))
    others = [p for p in name.split("/") if p.startswith("member.") and p != "member." + mous]
    if others:
        raise ValueError("%s: its entry %r belongs to %s, not to member.%s; put the tar file beside its own member"
                         % (path, name, others[0], mous))
    info["entries"] += 1
    split = _ms_parts(name, eb)
    if split is None:
        if entry.isfile():
            info["ignored"].append(name)
        return
    prefix, rest = split
    if prefix and prefix[-1] != "calibrated":
        raise ValueError("%s: holds %s below %s/, not at its top nor below a calibrated/ directory; unpack it by "
                         "hand into the member's calibrated/" % (path, rest[0], "/".join(prefix)))
    joined = "/".join(prefix)
    if info["prefix"] not in (None, joined):
        raise ValueError("%s: holds %s both below %r and below %r; unpack it by hand into the member's calibrated/"
                         % (path, eb, info["prefix"], joined))
    info["prefix"] = joined
    info["bytes"] += entry.size if entry.isfile() else 0
    info["flagversions"] = info["flagversions"] or rest[0].endswith(".flagversions")
    if rest == [eb + ".ms.split.cal", "table.dat"] and entry.isfile():
        info["table"] = True


def found_unpacked(plan, last):
    """Plan to check and record a ``calibrated/`` the user untarred: every EB's ``.ms.split.cal`` only, no
    ``working/`` (the scriptForPI's), no restore in casa_plugin's record (``last``: its restore entry, {} if
    none). Return True if so (status 'unpack')."""
    member, ebs = plan["member"], plan.get("ebs") or []
    calibrated = os.path.join(member, "calibrated")
    if not ebs or not os.path.isdir(calibrated) or os.path.lexists(os.path.join(calibrated, "working")):
        return False
    if last:
        return False
    if any(os.path.lexists(os.path.join(calibrated, eb + ".ms")) for eb in ebs):
        return False
    if not all(is_ms(os.path.join(calibrated, eb + ".ms.split.cal")) for eb in ebs):
        return False
    plan.update({"status": "unpack", "archive": {"tars": {}, "found": True, "bytes": 0}})
    return True


def plan_unpack(plan, options, problems):
    """Plan to unpack the member's calibrated-MS tar files instead of its restore; return True if it has any.

    Every EB of the member must have its tar, each whole and safe to unpack
    (``inspect_tar``), with room for their files on the member's filesystem;
    otherwise ``problems`` says which and how to fix it. ``plan['status']``
    becomes ``'unpack'``.
    """
    member, ebs = plan["member"], plan.get("ebs") or []
    tars, found = find_tars(member, ebs)
    problems.extend(found)
    if not tars:
        return False
    plan.update({"status": "unpack", "archive": {"tars": tars, "found": False, "bytes": 0, "contents": {}}})
    name = os.path.basename(member)
    missing = [eb for eb in ebs if eb not in tars]
    if missing:
        problems.append("%s: the archive's calibrated MSs are here for %s but not for %s; download the tar files of "
                        "those too (<EB uid>.ms.split.cal.tar) beside the others" % (
                            name, ", ".join(sorted(tars)), ", ".join(missing)))
    mous = name[len("member."):] if name.startswith("member.") else name
    for eb, path in sorted(tars.items()):
        try:
            plan["archive"]["contents"][eb] = info = inspect_tar(path, eb, mous)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        if info["ignored"]:
            log.warning("%s: holds %d file(s) outside %s.ms.split.cal, which are not unpacked: %s", path,
                        len(info["ignored"]), eb, ", ".join(info["ignored"][:5]))
    plan["archive"]["bytes"] = total = sum(c["bytes"] for c in plan["archive"]["contents"].values())
    try:
        check_space(member, total, elsewhere="move the member to a larger disk")
    except OSError as exc:
        problems.append("%s: cannot unpack the archive's calibrated MSs: %s" % (name, exc))
    given = ["%s=%r" % (k, options[k]) for k in ("spacesaving", "dosplit", "docontsub", "casa") if options.get(k)]
    if given:
        log.warning("%s: its calibrated MSs come from the archive, so no scriptForPI runs: %s do not apply",
                    name, ", ".join(given))
    return True


def plan_text(plan):
    """The dry run's line of a member planned for unpacking."""
    archive = plan["archive"]
    if archive["found"]:
        return "planned: check %d EBs' .ms.split.cal found unpacked in calibrated/ (%s) and record them; no " \
               "scriptForPI run" % (len(plan["ebs"]), SOURCE)
    return "planned: unpack %s (%s, %s) into calibrated/ and check them; no scriptForPI run" % (
        ", ".join(os.path.basename(p) for _, p in sorted(archive["tars"].items())), SOURCE,
        size_text(archive["bytes"]))


def _ms_uids(vis):
    """The EB uids OBSERVATION/SCHEDULE names (``ExecBlock uid://A002/X…/X…`` -> ``uid___A002_X…_X…``)."""
    tb = casa.table()
    tb.open(os.path.join(vis, "OBSERVATION"))
    try:
        rows = [tb.getcell("SCHEDULE", i) for i in range(tb.nrows())] if "SCHEDULE" in tb.colnames() else []
    except RuntimeError:  # an empty SCHEDULE cell
        rows = []
    finally:
        tb.close()
    found = set()
    for row in rows:
        for item in list(row):
            if str(item).startswith("ExecBlock uid://"):
                found.add("uid___" + str(item)[len("ExecBlock uid://"):].strip().replace("/", "_"))
    return sorted(found)


def check_unpacked(vis, eb):
    """Check an unpacked calibrated MS of ``eb``: its result as the postflight's entry for that EB.

    Returns
    -------
    dict
        ``{'kind': 'archive', 'ms', 'spws' (science spw ids), 'nrows', 'problems', 'skipped'}``: a readable MS
        with rows, a DATA column, the EB named in OBSERVATION/SCHEDULE (where it names one), at least one
        science spw (``OBSERVE_TARGET*``, 5 channels or more). CORRECTED_DATA against DATA cannot be
        compared: a ``.split.cal`` holds the calibrated data as DATA (``skipped`` says so).
    """
    entry = {"kind": "archive", "ms": vis, "spws": [], "nrows": 0, "problems": [],
             "skipped": "a .split.cal holds the calibrated data as DATA, with nothing to compare it with"}
    try:
        contents = read_contents(vis)
        entry["nrows"] = contents["nrows"]
        uids = _ms_uids(vis)
    except (ValueError, RuntimeError) as exc:
        entry["problems"].append("%s is not a readable measurement set: %s" % (vis, exc))
        return entry
    if not contents["nrows"]:
        entry["problems"].append("%s has no rows" % vis)
    if "DATA" not in contents["columns"]:
        entry["problems"].append("%s has no DATA column (columns: %s)" % (vis, ", ".join(contents["columns"])))
    if uids and eb not in uids:
        entry["problems"].append("%s holds EB %s (its OBSERVATION table), not %s" % (vis, ", ".join(uids), eb))
    try:
        entry["spws"] = science_spws(vis)
    except (ValueError, RuntimeError) as exc:
        entry["problems"].append("%s has no science spw: %s" % (vis, exc))
    return entry


def _extract(path, eb, prefix, tmp):
    """Write the MS (and flag versions) of the tar ``path`` below ``prefix`` to ``tmp`` (and ``tmp.flagversions``)."""
    with tarfile.open(path, "r:*") as tar:
        for entry in tar:
            split = _ms_parts(entry.name, eb)
            if split is None or "/".join(split[0]) != prefix:
                continue
            rest = split[1]
            top = tmp + (".flagversions" if rest[0].endswith(".flagversions") else "")
            target = os.path.join(top, *rest[1:])
            if entry.isdir():
                os.makedirs(target, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with tar.extractfile(entry) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            os.chmod(target, (entry.mode & 0o777) | 0o600)
            os.utime(target, (entry.mtime, entry.mtime))


def _unpack_eb(member, eb, path, info):
    """Unpack one EB's tar under a hidden name, check it, and only then rename it into place; its check entry."""
    final = os.path.join(member, "calibrated", eb + ".ms.split.cal")
    checked = {}
    try:
        with staged(final) as tmp:
            _extract(path, eb, info["prefix"], tmp)
            checked = check_unpacked(tmp, eb)
            if checked["problems"]:
                raise ValueError("; ".join(checked["problems"]))
    except (ValueError, OSError, EOFError, tarfile.TarError) as exc:  # cut short while unpacking, a full disk, ...
        checked = dict(checked or {"kind": "archive", "spws": [], "nrows": 0, "skipped": None},
                       problems=["%s, unpacked from %s: %s; %s" % (eb, path, exc, _FIX)])
    checked["ms"] = final if not checked["problems"] else None
    checked["tar"] = path
    return checked


def unpack_member(plan):
    """Unpack and check the archive's calibrated MSs of a planned member; record it; raise RestoreError if unproven.

    Writes ``<member>/calibrated/<eb>.ms.split.cal`` (and its ``.flagversions``
    if the tar holds one), each under a hidden name until complete and
    checked, and the restore entry of ``calibrated/casa_plugin_record.json``
    (``from``: the archive, ``tars``, ``products``, ``postflight``). The
    caller moves an existing ``calibrated/`` aside first (``overwrite=True``).
    The tar files are only read. Sets the plan's ``status``, ``products``,
    ``postflight``, ``casa_version``, ``seconds``.
    """
    member, archive = plan["member"], plan["archive"]
    name = os.path.basename(member)
    start = time.time()
    calibrated = os.path.join(member, "calibrated")
    made_dir = not os.path.isdir(calibrated)
    try:
        if archive["found"]:
            checks = dict((eb, check_unpacked(os.path.join(calibrated, eb + ".ms.split.cal"), eb))
                          for eb in plan["ebs"])
        else:
            os.makedirs(calibrated, exist_ok=True)
            checks = dict((eb, _unpack_eb(member, eb, path, archive["contents"][eb]))
                          for eb, path in sorted(archive["tars"].items()))
    except KeyboardInterrupt as exc:
        plan.update(dict(interruption(exc), status="interrupted", seconds=time.time() - start))
        _record(plan, calibrated)
        raise
    plan["postflight"] = checks
    plan["products"] = dict((eb, c["ms"]) for eb, c in checks.items() if c.get("ms"))
    plan["casa_version"] = casa.casa_version()
    plan["seconds"] = time.time() - start
    problems = ["%s: %s" % (eb, "; ".join(c["problems"])) for eb, c in sorted(checks.items()) if c["problems"]]
    if problems and made_dir and not os.listdir(calibrated):
        remove_tree(calibrated)  # ours and empty: the member is as it was
    if problems:
        plan.update({"status": "failed", "error": "%s: %s are not usable: %s" % (name, SOURCE, " | ".join(problems))})
    else:
        plan.update({"status": "restored", "error": None})
    _record(plan, calibrated)
    if problems:
        raise RestoreError(plan["error"])
    return plan


def _record(plan, calibrated):
    """The member's restore entry, saying its calibration came from the archive's calibrated MSs."""
    if not os.path.isdir(calibrated):
        return
    archive = plan["archive"]
    entry = dict((k, plan.get(k)) for k in ("status", "seconds", "casa_version", "error", "products", "moved_aside",
                                            "postflight"))
    if plan.get("stopped"):  # a batch job stopped by its scheduler: which job, and why
        entry["stopped"] = plan["stopped"]
    entry.update({"from": "archive", "source": SOURCE, "found_unpacked": archive["found"],
                  "tars": dict((eb, os.path.abspath(p)) for eb, p in archive["tars"].items())})
    try:
        run_record.update_restore(calibrated, entry)
    except OSError as exc:
        log.warning("could not write the run record in %s: %s", calibrated, exc)
