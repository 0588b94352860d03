"""What the delivery report shows, gathered from run records, task results and the MSs themselves."""

import json
import logging
import os

import numpy as np

from ..ms import casa
from .. import record as run_record
from ..delivery.arrays import member_array
from ..delivery import EB_NAME, find_calibrated_dirs, restored_ms
from ..ms import du_bytes, is_ms, read_contents, table_stamp
from .flagsummary import flag_counts, flag_fractions, fractions, holds_whole_groups, row_groups

__all__ = ["report_root", "gather"]

log = logging.getLogger(__name__)
_DEFAULT_INTENT, _DEFAULT_MINNCHAN = "OBSERVE_TARGET*", 5


def _root_of(path):
    """The project above ``path`` (the directory holding ``science_goal.*``), else the directory it is in."""
    path = os.path.abspath(path)
    parts = path.split(os.sep)
    goals = [i for i, p in enumerate(parts) if p.startswith("science_goal.")]
    if goals and goals[-1] > 1:
        return os.sep.join(parts[:goals[-1]])
    while ".ms" in os.path.basename(path) or os.path.basename(path) in ("calibrated", "working"):
        path = os.path.dirname(path)
    return path


def report_root(paths):
    """Return the directory a report of ``paths`` belongs in: their project, else the directory they are in.

    Raises
    ------
    ValueError
        If the paths lie in unrelated directories (their only common directory is ``/``).
    """
    roots = sorted(set(_root_of(p) for p in paths))
    if not roots:
        return os.getcwd()
    root = os.path.commonpath(roots)
    if os.path.dirname(root) == root:
        raise ValueError("the inputs lie in unrelated directories (%s); one report cannot cover them"
                         % ", ".join(roots))
    return root


def _spectral_windows(vis):
    tb = casa.table()
    tb.open(os.path.join(vis, "SPECTRAL_WINDOW"))
    try:
        names = list(tb.getcol("NAME")) if tb.nrows() else []
        sidebands = list(tb.getcol("NET_SIDEBAND")) if "NET_SIDEBAND" in tb.colnames() and tb.nrows() else []
        out = {}
        for i, name in enumerate(names):
            freqs = np.asarray(tb.getcell("CHAN_FREQ", i), dtype=float)
            widths = np.abs(np.asarray(tb.getcell("CHAN_WIDTH", i), dtype=float))
            out[str(i)] = {"name": str(name), "nchan": int(len(freqs)), "lo_ghz": float(freqs.min()) / 1e9 -
                           float(widths[0]) / 2e9, "hi_ghz": float(freqs.max()) / 1e9 + float(widths[-1]) / 2e9,
                           "width_khz": float(np.median(widths)) / 1e3,
                           "sideband": int(sidebands[i]) if i < len(sidebands) else 0}
        return out
    finally:
        tb.close()


def _scans(vis):
    md = casa.msmetadata()
    md.open(vis)
    try:
        names = list(md.fieldnames())
        scans = []
        for scan in md.scannumbers():
            times = np.asarray(md.timesforscan(int(scan)), dtype=float)
            scans.append({"scan": int(scan), "times": [float(times.min()), float(times.max())],
                          "step": float(np.min(np.diff(times))) if len(times) > 1 else 0.0,
                          "intents": [str(i) for i in md.intentsforscan(int(scan))],
                          "fields": [names[int(f)] for f in md.fieldsforscan(int(scan))]})
        return scans
    finally:
        md.close()


def _extent(vis, size=None, nrows=None):
    """``{'bytes', 'nrows'}`` of an MS (its real directory's files; a restored MS may link into working/);
    ``size`` and ``nrows``, where given, were measured already in this call (its plan, its split)."""
    if nrows is None:
        tb = casa.table()
        tb.open(vis)
        try:
            nrows = int(tb.nrows())
        finally:
            tb.close()
    return {"bytes": du_bytes(os.path.realpath(vis)) if size is None else size, "nrows": nrows}


def _known_extent(size=None, nrows=None):
    """A reader for ``Cache.get`` giving ``_extent`` what this call measured already (read only on a miss)."""
    return lambda vis: _extent(vis, size, nrows)


def _default_science(vis):
    from ..split.selection import science_spws
    try:
        return science_spws(vis, _DEFAULT_INTENT, _DEFAULT_MINNCHAN)
    except ValueError:
        return []


def _rule(request, chosen):
    if not request:
        return "default rule: intent %s, >= %d channels (not split yet)" % (_DEFAULT_INTENT, _DEFAULT_MINNCHAN)
    if request.get("spw"):
        return "spw=%s (given)" % request["spw"]
    if "intent" in request:
        return "intent %s, >= %s channels" % (request["intent"], request.get("minnchan", _DEFAULT_MINNCHAN))
    return "chosen by the delivery's scriptForPI"


def _cached(cache, kind, vis, read):
    try:
        return cache.get(kind, vis, read)
    except Exception as exc:  # one unreadable MS costs its pictures, never the report
        log.warning("report: could not read %s of %s: %s", kind, vis, exc)
        return None


def _flags(vis, cache, spws=None):
    try:
        return flag_fractions(vis, cache, spws)
    except Exception as exc:
        log.warning("report: could not summarise the flags of %s: %s", vis, exc)
        return None


def _still_a_copy(entry, source, out):
    """True if ``out`` was made by a plain split of ``source`` (no averaging) and neither changed since.

    ``stamps`` are the ``table.dat`` mtimes the split left; CASA changes them
    when it writes data or flags. The output then holds its input's rows of
    what it selected, flags included.
    """
    stamps = entry.get("stamps") or {}
    if entry.get("made_by") != "casa_plugin" or entry.get("status") not in ("split", "done") or \
            run_record.averaging_text(entry.get("request") or {}):
        return False
    try:
        return os.path.realpath(entry.get("input") or entry.get("vis") or "") == os.path.realpath(source) and \
            stamps.get("input") == table_stamp(source) and stamps.get("output") == table_stamp(out)
    except OSError:
        return False


def _split_flags(sci, tgt, restored, key, cache):
    """The flagged fractions of an EB's ``.split.cal`` or ``.source``, keyed by the ``.split.cal``'s spw ids.

    Counted from the restored MS's counts (no second pass over FLAG) while
    the science split, and the target split after it, are plain copies of
    whole groups of its rows (checked: the target split's rows per spw,
    field and observing mode are all the restored MS has of them); else
    counted from the output itself. tests/test_delivery_report.py checks
    both give the output's own FLAG column's numbers.
    """
    entry = sci if key == ".split.cal" else tgt
    out = entry["outputvis"]
    try:
        if restored and sci.get("spw_map") and sci.get("outputvis") and _still_a_copy(sci, restored, sci["outputvis"]):
            spws = [int(s) for s in sci["spw_map"]]
            counts = flag_counts(restored, cache)
            if key == ".split.cal":
                return fractions(counts, spws, sci["spw_map"])
            if _still_a_copy(tgt, sci["outputvis"], out):
                groups = row_groups(out)
                if holds_whole_groups(counts, groups, spws):
                    return fractions(counts, spws, sci["spw_map"], groups)
    except Exception as exc:  # counted from the output below
        log.warning("report: could not take the flags of %s from %s: %s", out, restored, exc)
    return _flags(out, cache)


def _science_of(entry, restored, cache):
    if entry and entry.get("spw"):
        return [int(s) for s in entry["spw"]]
    if entry and entry.get("spw_map"):
        return sorted(int(s) for s in entry["spw_map"])
    if restored:
        return _cached(cache, "science", restored, _default_science) or []
    return []


def _damaged(entry):
    """True if the last split found the input unreadable: casacore may crash the process if it is read again."""
    return bool(entry) and entry.get("status") == "failed" and "cannot read this table" in str(entry.get("error"))


def _made_now(entry, made_ids):
    """``(bytes, nrows)`` of an output this call made (its split measured them), else ``(None, None)``."""
    if entry and entry.get("made_id") in made_ids and entry.get("bytes") is not None:
        return entry["bytes"], entry.get("nrows")
    return None, None


def _eb(calibrated, eb, tasks, cache, others=(), plan=None, made_ids=()):
    vis = os.path.join(calibrated, eb + ".ms")
    src = plan.input if plan is not None else restored_ms(vis)  # the call's plan resolved it already
    sci, tgt = tasks.get("split_sci"), tasks.get("split_tgt")
    restored = src if is_ms(src) and not _damaged(sci) else None
    science = _science_of(sci, restored, cache)
    info = {"eb": eb, "restored": restored, "sci": sci, "tgt": tgt, "science": science,
            "rule": _rule((sci or {}).get("request"), science), "spws": None, "scans": None, "flags": {}}
    if restored:
        info["spws"] = _cached(cache, "spws", restored, _spectral_windows)
        info["extent"] = _cached(cache, "extent", restored, _extent if plan is None else _known_extent(
            plan.input_bytes, plan.input_rows))
        info["scans"] = _cached(cache, "scans", restored, _scans)
        info["flags"]["restored"] = _flags(restored, cache, science)
    elif sci and (sci.get("input_spws") or (sci.get("contents") or {}).get("spws")):
        info["spws"] = _spws_from_record(sci)
    for key, entry in ((".split.cal", sci), (".source", tgt)):
        out = (entry or {}).get("outputvis")
        if out and is_ms(out) and (entry or {}).get("status") != "planned" and not _damaged(entry):
            info["flags"][key] = _split_flags(sci or {}, tgt or {}, restored, key, cache)
            if info["scans"] is None and key == ".split.cal":
                info["scans"] = _cached(cache, "scans", out, _scans)
            info.setdefault("extents", {})[key] = _cached(cache, "extent", out,
                                                          _known_extent(*_made_now(entry, made_ids)))
            if info["spws"] and restored:
                info.setdefault("spw_maps", {})[key] = _spw_map(info["spws"], _cached(
                    cache, "used spws", out, _used_spws_of(entry, made_ids)))
    held = sorted(int(s) for s in (info.get("spw_maps") or {}).get(".split.cal") or {})
    if held and held != science:  # the science spws are those the .split.cal holds, whatever its record says
        info["science"] = held
        info["flags"]["restored"] = _flags(restored, cache, held)
    info["others"] = [(task, _read_back(entry, info["spws"] if restored else None, cache)) for task, entry in others]
    return info


def _read_back(entry, spws, cache):
    """A recorded output's entry with its size, rows and spw ids (from ``spws``' ids) as read from it."""
    out = entry.get("outputvis")
    if not out or entry.get("status") == "planned" or _damaged(entry) or not is_ms(out):
        return entry
    entry = dict(entry)
    extent = _cached(cache, "extent", out, _extent)
    if extent:
        entry.update(bytes=extent["bytes"], nrows=extent["nrows"])
    if spws and entry.get("task") == "split_sci":
        entry["spw_map"] = _spw_map(spws, _cached(cache, "used spws", out, _used_spws))
    return entry


def _used_spws(vis):
    return read_contents(vis)["spws"]


def _used_spws_of(entry, made_ids):
    """How to get the spws an output's main table uses: from its entry if this call made it (its split read them
    from the output it had just written), else read from the MS."""
    spws = (entry.get("contents") or {}).get("spws")
    if entry.get("made_id") in made_ids and spws is not None:
        return lambda vis: spws
    return _used_spws


def _spw_map(spws, used):
    """``{restored spw id: output spw id}`` (str), read from the MSs, not taken from a record: each spw the
    output's main table uses is the restored spw of its name whose band holds its centre (averaged channels
    keep it), the nearest if several. An output's ids are its own whatever request made it (reindexed or
    not, any selection)."""
    found = {}
    for new, spw in (used or {}).items():
        centre = sum(spw["freq_ghz"]) / 2.0
        near = [(abs((s["lo_ghz"] + s["hi_ghz"]) / 2.0 - centre), int(old)) for old, s in spws.items()
                if s["name"] == spw["name"] and s["lo_ghz"] <= centre <= s["hi_ghz"]]
        if near:
            found[str(min(near)[1])] = str(new)
    return found


def _spws_from_record(entry):
    """Without the restored MS (SPACESAVING >= 2): the spws the record knows, by input id."""
    spws = {}
    known = dict((str(k), v) for k, v in (entry.get("input_spws") or {}).items())  # a copy: the entry is shown too
    contents = dict((str(new), s) for new, s in ((entry.get("contents") or {}).get("spws") or {}).items())
    inverse = dict((str(new), str(old)) for old, new in (entry.get("spw_map") or {}).items())
    for new, spw in contents.items():
        known.setdefault(inverse.get(new, new), dict(spw, chan_width_khz=spw.get("chan_width_khz")))
    for spw_id, spw in known.items():
        lo, hi = spw["freq_ghz"]
        spws[str(spw_id)] = {"name": spw.get("name", ""), "nchan": spw["nchan"], "lo_ghz": lo, "hi_ghz": hi,
                             "width_khz": spw.get("chan_width_khz") or abs(hi - lo) * 1e6 / max(spw["nchan"], 1),
                             "sideband": 0}
    return spws


def _others(directory, record, shown):
    """``{eb: [(task, entry)]}``: the outputs ``record`` (of ``directory``) names besides those ``shown`` as
    each EB's .split.cal and .source: other ``outputvis`` beside them, and those elsewhere (read from the
    record beside each)."""
    chosen = set(id(entry) for tasks in shown.values() for entry in tasks.values())
    found = {}
    for name, entry in sorted(record.get("outputs", {}).items()):
        if id(entry) not in chosen and entry.get("eb") and entry.get("task"):
            found.setdefault(entry["eb"], []).append(
                (entry["task"], dict(entry, outputvis=entry.get("outputvis") or os.path.join(directory, name))))
    for path, ref in sorted(record.get("elsewhere", {}).items()):
        entry = run_record.entry_of(path)
        if ref.get("eb") and ref.get("task"):
            found.setdefault(ref["eb"], []).append((ref["task"], dict(entry, task=ref["task"], outputvis=path)))
    return found


def _overlay(records, results):
    """Put this call's results over the records: a dryrun's plan, or EBs whose record could not be written.

    An output outside every ``calibrated/`` of the report is shown with its EB, below the EB's own outputs."""
    for task, result in results:
        out = result.get("outputvis")
        if not out or not result.get("eb"):
            continue
        directory = os.path.dirname(os.path.abspath(out))
        if directory not in records:
            home = records.get(os.path.dirname(os.path.abspath(result.get("vis") or "")))
            if home is not None:
                others = home.setdefault("others", {}).setdefault(result["eb"], [])
                if not [e for t, e in others if t == task and os.path.abspath(e["outputvis"]) == os.path.abspath(
                        out)]:
                    others.append((task, dict(result)))
            continue
        tasks = records[directory].setdefault("ebs", {}).setdefault(result["eb"], {})
        if result.get("status") == "planned" or task not in tasks:
            tasks[task] = dict(result)
        elif result.get("dryrun") and result.get("status") == "failed":  # what a run would meet, on the record
            tasks[task] = dict(tasks[task], status="failed", dryrun=True, error=result.get("error"))


def gather(root, cache, results=(), restores=None, plans=()):
    """Return ``{'root', 'members': [...]}``: per member its restore and, per EB, what the pictures need.

    Parameters
    ----------
    root : str
        The project (or directory) the report covers; every ``calibrated/`` below is read.
    cache : cache.Cache
        Facts read from MSs earlier, reused while the MSs are unchanged.
    results : list of (task, result)
        This call's per-EB results (``planned`` ones come only from here).
    restores : dict, optional
        restore_pi's ``{member: result}`` (members not restored yet come only from here).
    plans : list of casa_plugin.plan.Plan, optional
        This call's split_sci plans: their EBs' restored MSs and sizes are taken from them.
    """
    records = {}
    for calibrated in find_calibrated_dirs(root):
        try:
            record = run_record.load(calibrated)  # one entry per output; the page shows each EB's default ones
            shown = run_record.by_eb(record)  # and, below them, its other outputs
            records[calibrated] = {"ebs": shown, "restore": record.get("restore"),
                                   "others": _others(calibrated, record, shown)}
        except (OSError, ValueError) as exc:
            log.warning("report: cannot read the run record of %s: %s", calibrated, exc)
            records[calibrated] = {"ebs": {}}
    results = json.loads(json.dumps(list(results), default=str))  # as a record holds them: str keys
    _overlay(records, results)
    planned = dict((os.path.abspath(p.vis), p) for p in plans if p.task == "split_sci")
    made_ids = set(r.get("made_id") for _, r in results if r.get("status") == "split" and r.get("made_id"))
    members = {}
    for calibrated, record in sorted(records.items()):
        ebs = set(record.get("ebs") or {}) | set(record.get("others") or {})
        ebs.update(n[:-3] for n in _listdir(calibrated) if EB_NAME.match(n))
        ebs.update(n[:-len(".ms.split.cal")] for n in _listdir(calibrated) if n.endswith(".ms.split.cal"))
        member = os.path.dirname(calibrated)
        members[member] = {"name": _member_name(member, root), "path": member, "calibrated": calibrated,
                           "restore": record.get("restore"),
                           "ebs": [_eb(calibrated, eb, record.get("ebs", {}).get(eb, {}), cache,
                                       (record.get("others") or {}).get(eb, ()),
                                       planned.get(os.path.join(calibrated, eb + ".ms")), made_ids)
                                   for eb in sorted(ebs)]}
    for member, plan in (restores or {}).items():
        entry = members.setdefault(member, {"name": _member_name(member, root), "path": member,
                                            "calibrated": None, "restore": None, "ebs": []})
        if plan.get("status") in ("planned", "failed", "not run") or not entry["restore"]:
            entry["restore"] = dict((k, v) for k, v in plan.items() if k not in ("traceback",))
        if not entry["ebs"]:
            entry["ebs"] = [{"eb": eb, "restored": None, "sci": None, "tgt": None, "science": [], "rule": "",
                             "spws": None, "scans": None, "flags": {}} for eb in plan.get("ebs") or []]
    jobs = _batch_jobs(root)
    for member, entry in members.items():  # read cheaply (scripts, Antenna.xml, an ANTENNA table): not cached
        entry["array"] = member_array(member)
        if member in jobs:
            entry["job"] = jobs[member]
    return {"root": root, "members": [members[m] for m in sorted(members)]}


def _batch_jobs(root):
    """Each member's last batch job with its state from the project's job record; ``{}`` without a record."""
    from ..cluster import jobs_record  # here: the cluster package imports the tasks, which import this report
    try:
        jobs = jobs_record.last_jobs(root)
    except (OSError, ValueError) as exc:
        log.warning("report: cannot read the job record of %s: %s", root, exc)
        return {}
    out = {}
    for member, job in jobs.items():
        state, text = jobs_record.reported_state(job)
        out[member] = {"job_id": job.get("job_id"), "state": state, "text": text, "log": job.get("output")}
    return out


def _member_name(member, root):
    """The member's uid (``member.<uid>``), else its directory relative to the report's root (else absolute)."""
    if os.path.basename(member).startswith("member."):
        return os.path.basename(member)[len("member."):]
    rel = os.path.relpath(member, root)
    if rel == ".":
        return os.path.basename(os.path.abspath(root)) or root
    return member if rel.startswith("..") else rel


def _listdir(directory):
    try:
        return sorted(os.listdir(directory))
    except OSError:
        return []
