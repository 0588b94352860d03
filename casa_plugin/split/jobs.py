"""The per-EB work of split_sci and split_tgt: one plan (``casa_plugin.plan.Plan``) in, one result dict out.

Every output is checked against its request before it gets its final name,
and an existing output counts as done only if it holds what the request asks
for (``contents.differences``); the result and the run record hold the
request and what the output holds, read from the output itself.
"""

import logging
import os
import shutil
import time
import uuid

from ..ms import casa
from .. import record as run_record
from ..delivery.arrays import ms_array
from ..delivery import eb_of
from ..flags import list_versions, save_once
from ..ms import column_of, du_bytes, history_datacolumn, is_ms, read_contents, subtable_columns, table_stamp
from .progress import watch
from ..staging import check_space, check_writable, remove_leftovers, staged
from .contents import averaged_nothing, differences, expected_science, expected_target, science_request, target_request
from .selection import fields_for_intent, plan_science, science_spws, spw_map

__all__ = ["science_job", "target_job", "chain_job"]

log = logging.getLogger(__name__)
#: What ALMA's scriptForPI asks of the .split.cal it makes with DOSPLIT (science spws, no averaging).
_SCRIPT_REQUEST = {"datacolumn": "corrected", "width": 1, "timebin": "0s"}
_WHO = {"casa_plugin": "by casa_plugin", "scriptForPI": "by the delivery's scriptForPI",
        "archive": "by the archive (its calibrated MSs)",
        "unknown": "outside casa_plugin"}
_PRODUCTS = (".split.cal", ".source")
#: Makers of a .split.cal that came with the delivery (its own request is the scriptForPI's DOSPLIT split).
_DELIVERED = ("scriptForPI", "archive")
#: Why split_sci and split_tgt leave a total-power EB alone unless asked (``totalpower=True``).
TOTAL_POWER = ("total power (single-dish) EB: its data are FLOAT_DATA autocorrelations, imaged by the single-dish "
               "pipeline or sdimaging, not by the tutorial's interferometric splits; pass totalpower=True to "
               "split it anyway")


def _check_input(vis, datacolumn, task):
    """Check ``vis`` can be split; return its ``read_contents`` with the main table's ids (for the estimate).

    Raises FileNotFoundError or ValueError naming the path and what to do instead.
    """
    if not os.path.lexists(vis):
        raise FileNotFoundError("%s: no such measurement set; check the path or run restore_pi first" % vis)
    if not os.path.exists(vis):
        raise FileNotFoundError("%s: a link to %s, which does not exist; restore the member again "
                                "(restore_pi(overwrite=True))" % (vis, os.readlink(vis)))
    if not is_ms(vis):
        raise ValueError("%s: not a measurement set (no table.dat inside); give a uid___*.ms directory" % vis)
    source = read_contents(vis, ids=True)  # raises ValueError naming the path if the table cannot be read
    wanted = column_of(datacolumn)
    if wanted and wanted not in source["columns"]:
        raise ValueError("%s has no %s column; %s" % (vis, wanted, _column_hint(vis, wanted, task)))
    return source


def _column_hint(vis, wanted, task):
    name = os.path.basename(os.path.normpath(vis))
    if wanted == "CORRECTED_DATA" and task == "split_tgt" and _is_product(vis):
        return ("its DATA is what split_tgt splits: leave datacolumn at its default (None; a 'corrected' at the "
                "prompt may come from split_sci's parameters: default(split_tgt) resets them) or pass 'data'")
    if wanted == "CORRECTED_DATA" and _is_product(vis):
        return ("it is already a science split (its DATA is calibrated): split its targets with "
                "split_tgt(vis=%r), or split_sci the restored EB %s" % (vis, name.split(".ms")[0] + ".ms"))
    if wanted == "CORRECTED_DATA":
        return ("this MS holds no calibrated data: restore the calibration first (restore_pi), or pass "
                "datacolumn='data' if its DATA is already calibrated")
    return "choose a datacolumn this MS has"


def _target_column(job, source):
    """split_tgt's datacolumn: 'data' for a science split, 'corrected' for a delivered ``.split.cal`` that a
    flux script recalibrated (its CORRECTED_DATA); a restored EB needs it given explicitly."""
    if job["datacolumn"]:
        return job["datacolumn"]
    if "CORRECTED_DATA" in source["columns"] and os.path.normpath(job["vis"]).endswith(".split.cal"):
        return "corrected"
    if "CORRECTED_DATA" in source["columns"]:
        raise ValueError(
            "%s is a restored EB (it has CORRECTED_DATA), not a science split: split_tgt would copy its "
            "uncalibrated DATA and every spw. Run split_sci on it first and split_tgt on its .split.cal, "
            "or pass datacolumn='corrected' (or 'data') to split this MS as it is" % job["vis"])
    return "data"


def _add_note(result, text):
    """Add ``text`` to the note the EB's line and record carry."""
    result["note"] = "; ".join(n for n in (result.get("note"), text) if n)


def _is_product(path):
    """True for a ``.split.cal`` or ``.source`` (a split's output, whose DATA is calibrated)."""
    return os.path.normpath(path).endswith(_PRODUCTS)


def _with_notes(result, existing, start):
    """``result`` for an output that exists (``existing``: what ``_existing`` found), keeping both notes."""
    existing = dict(existing)
    note = existing.pop("note", None)
    out = dict(result, seconds=time.time() - start, **existing)
    if note:
        _add_note(out, note)
    return out


def _say_if_delivered(result, job, src):
    """An output the delivery made (its scriptForPI's split, the archive's) that overwrite=True replaces: say so
    on the EB's line (a dry run: that it would), and how to get it back (the default split of the same input
    makes it again)."""
    if not (job["overwrite"] and os.path.lexists(job["outputvis"])):
        return
    who = _made_by(job, "split_sci")[0]
    if who in _DELIVERED:
        _add_note(result, "%s the delivery's own split (made by %s); split_sci(vis=%r, overwrite=True, "
                  "reindex=False) makes that split again from %s" % (
                      "would replace" if job["dryrun"] else "replaces",
                      "its scriptForPI" if who == "scriptForPI" else "the archive's calibrated MSs",
                      result["vis"], src))


def _made_by(job, task):
    """Return ``(who, request, entry)``: who made the existing output of ``job``, with what request, and its
    record entry, where known.

    ``who`` is ``'casa_plugin'`` (its record), ``'scriptForPI'`` (the restore
    record lists it as the delivery's own product), ``'archive'`` (unpacked
    from the archive's calibrated MSs by restore_pi) or ``'unknown'``.
    """
    out = os.path.abspath(job["outputvis"])
    try:
        record = run_record.load(os.path.dirname(out))
    except (OSError, ValueError):
        record = {"outputs": {}}
    entry = record["outputs"].get(os.path.basename(out)) or {}
    if entry.get("made_by"):
        return entry["made_by"], entry.get("request"), entry
    if entry.get("datacolumn"):
        return "casa_plugin", {"datacolumn": entry["datacolumn"]}, entry  # a record of casa_plugin 0.1
    restore = record.get("restore") or {}
    products = restore.get("products") or {}
    if task == "split_sci" and any(os.path.basename(os.path.normpath(p)) == os.path.basename(out)
                                   for p in products.values()):
        return "archive" if restore.get("from") == "archive" else "scriptForPI", dict(_SCRIPT_REQUEST), {}
    return "unknown", None, {}


def _existing(job, task, expected):
    """Report an existing output as done if it holds what ``job`` asks for; else raise, touching nothing.

    ``expected`` is what the request gives (None when the input is gone, e.g.
    SPACESAVING >= 2). A matching output gets the flag version if it lacks it.
    """
    out = job["outputvis"]
    if not is_ms(out):
        raise FileExistsError("%s exists but is not a complete measurement set; move it away or "
                              "pass overwrite=True" % out)
    actual = read_contents(out)
    if actual["nrows"] == 0:
        raise FileExistsError("%s exists but has no rows; move it away or pass overwrite=True" % out)
    who, made, entry = _made_by(job, task)
    request = job["request"]
    diffs = differences(request, actual, expected, made)
    written = history_datacolumn(out)  # what the MS itself says, whatever a record claims (it may be replaced)
    if written and request.get("datacolumn") and written != request["datacolumn"].lower() and \
            written != str((made or {}).get("datacolumn", "")).lower():  # else the record's line says it
        diffs.insert(0, "its HISTORY says it was split from datacolumn=%r; this request has datacolumn=%r"
                     % (written, request["datacolumn"].lower()))
    if expected is None and task == "split_sci" and who != "casa_plugin":
        diffs += _selection_differences(out, request, actual)
    stale = _stale(job, entry) if who == "casa_plugin" else None
    if stale:
        raise ValueError("%s exists but is stale: %s%s. It is left as it is; pass overwrite=True (in a recipe: "
                         "OVERWRITE=True) to redo it from %s as it is now" % (
                             out, stale, " (%s)" % "; ".join(diffs) if diffs else "", _short(job["vis"], out)))
    if diffs:
        ways = ("pass overwrite=True (in a recipe: OVERWRITE=True) to redo it from %s, or, for one vis, "
                "outputvis='...' to write this request elsewhere" % _short(job["vis"], out) if expected is not None else
                "its input %s is gone (SPACESAVING >= 2 deletes it), so it cannot be redone: ask for what it "
                "holds" % os.path.basename(job["vis"]))
        raise ValueError("%s exists but was made %sfor another request: %s. It is left as it is; %s" % (
            out, _WHO.get(who, "") + " ", "; ".join(diffs), ways))
    result = {"status": "done", "nrows": actual["nrows"], "contents": actual, "made_by": who,
              "request": dict(made, reindex=request["reindex"]) if who in _DELIVERED else request}
    if who == "unknown":
        result["note"] = ("made outside casa_plugin from datacolumn=%r (its HISTORY)" % written if written else
                          "made outside casa_plugin: its data column is not known")
    missing = job["flagversion"] not in list_versions(out)
    if job["dryrun"] and missing:
        result["note"] = "; ".join(filter(None, [result.get("note"), "would save flag version %s"
                                                 % job["flagversion"]]))
    if job["dryrun"]:
        return dict(result, flagversion_saved=False)
    remove_leftovers(out)
    saved = save_once(out, job["flagversion"], "saved by casa_plugin on an existing output")
    return dict(result, flagversion_saved=saved, flagversions=list_versions(out))


def _stale(job, entry):
    """Why a target split recorded as ``entry`` no longer matches its input ``job['vis']`` (the input was remade
    since: its record names another making), or None."""
    if job["request"].get("task") != "split_tgt" or not entry.get("input_made_id"):
        return None
    source = job.get("input_made") or {}
    if not source.get("made_id") or source["made_id"] == entry["input_made_id"]:
        return None
    request = source.get("request") or {}
    asked = ", ".join("%s=%r" % (k, request[k]) for k in sorted(request) if k != "task")
    return "its input %s was remade at %s by %s(%s), after this output was made at %s" % (
        job["vis"], source.get("made"), request.get("task", "split_sci"), asked, entry.get("made"))


def _short(path, beside):
    """``path`` relative to the directory of ``beside`` when it lies below it (working/uid*.ms), else itself."""
    rel = os.path.relpath(path, os.path.dirname(os.path.abspath(beside)))
    return rel if not rel.startswith("..") else path


def _selection_differences(out, request, actual):
    """Without the input: does the request select every spw the output holds (and only those)?"""
    if request["spw"]:
        asked = sorted(request["spw"].split(","), key=int)
        return [] if asked == sorted(actual["spws"], key=int) else [
            "it holds spw %s; this request asks for spw %s" % (",".join(sorted(actual["spws"], key=int)),
                                                                ",".join(asked))]
    chosen = [str(s) for s in science_spws(out, request["intent"], request["minnchan"])]
    extra = sorted(set(actual["spws"]) - set(chosen), key=int)
    diffs = ["it holds spw %s, which intent=%r and minnchan=%d do not select" % (
        ",".join(extra), request["intent"], request["minnchan"])] if extra else []
    ids = sorted(int(s) for s in actual["spws"])
    if request["reindex"] and ids != list(range(len(ids))):
        diffs.append("its spw ids %s are the input's (kept); this request has reindex=True (pass "
                     "reindex=False to accept them)" % ",".join(str(i) for i in ids))
    return diffs


def _estimate_bytes(vis, ddid, field, spws=None, fields=None):
    """Estimate the bytes of a split of ``vis`` keeping ``spws`` (ids) or ``fields`` (names), one data column.

    ``ddid`` and ``field`` are its DATA_DESC_ID and FIELD_ID columns; the rest comes from small subtables.
    """
    import numpy as np
    spw_of, pol_of = subtable_columns(vis, "DATA_DESCRIPTION", "SPECTRAL_WINDOW_ID", "POLARIZATION_ID")
    nchan, = subtable_columns(vis, "SPECTRAL_WINDOW", "NUM_CHAN")
    ncorr, = subtable_columns(vis, "POLARIZATION", "NUM_CORR")
    names, = subtable_columns(vis, "FIELD", "NAME")
    wanted = np.array([fields is None or n in fields for n in names] or [False])
    rows = np.bincount(ddid[wanted[field]], minlength=len(spw_of)) if len(ddid) else np.zeros(len(spw_of), int)
    total = 0
    for d, (spw, pol) in enumerate(zip(spw_of, pol_of)):
        if spws is None or spw in spws:
            cells = int(nchan[spw]) * int(ncorr[pol])
            total += int(rows[d]) * (cells * 9 + 250)  # complex64, flag, row
    return int(total * 1.3) + 2000000  # margin and subtables


def _check_destination(out, needed):
    directory = os.path.dirname(os.path.abspath(out))
    check_writable(directory)
    check_space(directory, needed)


def _checked(tmp, vis, request, expected):
    """Read what CASA wrote to ``tmp`` and check it is what ``request`` asks for; return its contents."""
    if not is_ms(tmp):
        raise RuntimeError("CASA wrote no measurement set for %s (see the CASA log)" % vis)
    actual = read_contents(tmp)
    if actual["nrows"] == 0:
        raise RuntimeError("the split of %s selected no rows; check the selection" % vis)
    diffs = differences(request, actual, expected)
    if diffs:
        raise RuntimeError("the split of %s does not hold what was asked: %s" % (vis, "; ".join(diffs)))
    return actual


def _written(result, out, actual, start):
    """The result of a new output; ``stamps`` say whether input and output still hold what the split left."""
    stamps = {"input": table_stamp(result.get("input") or result["vis"]), "output": table_stamp(out)}
    result.update({"status": "split", "made_by": "casa_plugin", "made_id": uuid.uuid4().hex, "nrows": actual["nrows"], "contents": actual,
                   "bytes": du_bytes(out), "flagversions": list_versions(out), "stamps": stamps,
                   "seconds": time.time() - start})
    return result


def _split_args(job, vis, tmp, selection):
    kwargs = {"vis": vis, "outputvis": tmp, "spw": selection, "datacolumn": job["datacolumn"]}
    if str(job.get("width", 1)) != "1":
        kwargs["width"] = job["width"]
    if str(job.get("timebin", "0s")) not in ("0s", "0", ""):
        kwargs["timebin"] = job["timebin"]
    return kwargs


def _kept_ids(kwargs):
    """split's arguments as mstransform takes them to keep the spw ids: it averages only when told to, and
    calls split's ``width`` ``chanbin``."""
    kwargs = dict(kwargs, reindex=False, timeaverage="timebin" in kwargs)
    if "width" in kwargs:
        kwargs.update(chanaverage=True, chanbin=kwargs.pop("width"))
    return kwargs


def science_job(plan):
    """Split the science spws of one EB (``plan.input``) into ``plan.outputvis`` and save its flag version.

    A new split whose ``reindex`` followed the member's numbering (``numbering.resolve``) says so in its note
    (an existing one shows its ids).
    """
    result = _science(plan)
    if plan.request.get("numbering") and result.get("status") in ("split", "planned"):
        result["note"] = "; ".join(filter(None, [result.get("note"), plan.request["numbering"]]))
    return result


def _total_power(vis, job):
    """True if ``vis`` is a total-power EB that ``job`` does not ask to split: FLOAT_DATA, or (a TP split the
    scriptForPI made from it) PM antennas with autocorrelations only."""
    return not job.get("totalpower") and is_ms(vis) and ms_array(vis) == "TP"


def _skipped(result, start):
    return dict(result, status="skipped", error=TOTAL_POWER, note=TOTAL_POWER, seconds=time.time() - start)


def _science(plan):
    start, vis, out, src = time.time(), plan.vis, plan.outputvis, plan.input  # DOSPLIT: src is in working/
    job = plan.options()
    job["request"] = science_request(job)
    result = {"vis": vis, "outputvis": out, "request": job["request"]}
    existing = os.path.lexists(out) and not job["overwrite"]
    if _total_power(src, job):
        return _skipped(result, start)
    if existing and not os.path.exists(src):  # SPACESAVING >= 2: only the script's split is left
        return dict(result, seconds=time.time() - start, **_existing(job, "split_sci", None))
    source = _check_input(src, job["datacolumn"], "split_sci")
    job["vis"] = src
    spws, input_spws, before = plan_science(src, job["intent"], job["minnchan"], plan.spws)
    expected = expected_science(source, spws, job["request"])
    result.update({"spw": spws, "input_spws": input_spws, "input_bytes": plan.input_bytes, "input": src})
    column = column_of(job["datacolumn"])
    if column not in (None, "CORRECTED_DATA") and "CORRECTED_DATA" in source["columns"] and not _is_product(src):
        _add_note(result, "datacolumn=%r: the EB's %s, not its calibrated CORRECTED_DATA (the default "
                  "datacolumn='corrected' splits the calibrated data)" % (
                      job["datacolumn"], "uncalibrated DATA" if column == "DATA" else column))
    if existing:
        return _with_notes(result, _existing(job, "split_sci", expected), start)
    _say_if_delivered(result, job, src)
    if job["dryrun"]:
        return dict(result, status="planned", fields=source["fields"])
    needed = _estimate_bytes(src, source["_ddid"], source["_field"], spws=spws)
    _check_destination(out, needed)
    with staged(out, overwrite=job["overwrite"]) as tmp:
        kwargs = _split_args(job, src, tmp, ",".join(str(s) for s in spws))
        with watch(tmp, needed, os.path.basename(out)):
            if job["reindex"]:
                casa.split(**kwargs)
            else:
                casa.mstransform(**_kept_ids(kwargs))
        actual = _checked(tmp, src, job["request"], expected)
        if averaged_nothing(expected, actual):
            _add_note(result, "timebin=%s averaged nothing: CASA kept the %.3f s integrations" % (
                job["timebin"], expected["interval_s"]))
        result["spw_map"] = spw_map(src, tmp, spws, before)  # raises if a selected spw is missing
        save_once(tmp, job["flagversion"])  # as the tutorial saves it (no comment): the loop's flag versions
    return _written(result, out, actual, start)


def target_job(plan, input_made=None):
    """Split the target fields of one ``.split.cal`` into ``<vis>.source`` and save its flag version.

    ``input_made`` is the chain's making of the ``.split.cal`` (the client records it only after the chain);
    by default its run record's entry.
    """
    start, vis, out = time.time(), plan.vis, plan.outputvis
    job = dict(plan.options(), input_made=input_made or run_record.entry_of(vis))
    existing = os.path.lexists(out) and not job["overwrite"]
    if job["dryrun"] and not existing and not os.path.lexists(vis):
        return {"vis": vis, "outputvis": out, "status": "planned",
                "note": "after split_sci makes %s" % os.path.basename(vis)}
    if existing and not os.path.exists(vis):
        job = dict(job, datacolumn=job["datacolumn"] or "data")
        job["request"] = target_request(job)
        return dict(vis=vis, outputvis=out, request=job["request"], seconds=time.time() - start,
                    **_existing(job, "split_tgt", None))
    if _total_power(vis, job):
        return _skipped({"vis": vis, "outputvis": out}, start)
    source = _check_input(vis, job["datacolumn"] or "data", "split_tgt")
    job = dict(job, datacolumn=_target_column(job, source), request_datacolumn=job["datacolumn"])
    job["request"] = target_request(job)
    intents, fields = fields_for_intent(vis, job["intent"])
    expected = expected_target(source, fields)
    result = {"vis": vis, "outputvis": out, "request": job["request"], "intents": intents, "fields": fields,
              "input_bytes": _measured(plan),
              "input_made_id": job["input_made"].get("made_id")}
    if not job["request_datacolumn"] and job["datacolumn"] == "corrected":
        result["note"] = ("from the .split.cal's CORRECTED_DATA (a flux script of the delivery recalibrated it; "
                          "its DATA is not flux-scaled)")
    elif job["request_datacolumn"] and "CORRECTED_DATA" in source["columns"] and not _is_product(vis):
        result["note"] = "datacolumn=%r: a restored EB split as it is (every spw, its %s), not a science split" % (
            job["datacolumn"], "uncalibrated DATA" if job["datacolumn"].lower() == "data" else
            column_of(job["datacolumn"]) or "columns: %s" % job["datacolumn"])
    if existing:
        return _with_notes(result, _existing(job, "split_tgt", expected), start)
    if job["dryrun"]:
        return dict(result, status="planned")
    needed = _estimate_bytes(vis, source["_ddid"], source["_field"], fields=fields)
    _check_destination(out, needed)
    with staged(out, overwrite=job["overwrite"]) as tmp:
        with watch(tmp, needed, os.path.basename(out)):
            casa.split(vis=vis, outputvis=tmp, intent=",".join(intents), datacolumn=job["datacolumn"])
        actual = _checked(tmp, vis, job["request"], expected)
        if os.path.lexists(tmp + ".flagversions"):  # never carry flag versions over from the input
            shutil.rmtree(tmp + ".flagversions")
        save_once(tmp, job["flagversion"])
    return _written(result, out, actual, start)


def _measured(plan):
    """The input's bytes: the plan's (measured on the client, or the chain's science split's of its output)."""
    return plan.input_bytes if plan.input_bytes is not None else du_bytes(os.path.realpath(plan.input))


def chain_job(chain):
    """Run one EB's whole chain on one process: science split, then target split of its output.

    ``chain`` is a ``casa_plugin.plan.Chain``; the result holds both results
    under the keys ``'sci'`` and ``'tgt'``. A failed science split skips the target split.
    """
    from ..parallel.calls import call_job
    sci = call_job("casa_plugin.split.jobs:science_job", chain.sci)
    if sci["status"] == "failed":
        tgt = {"status": "skipped", "error": "the science split failed"}
    elif sci["status"] == "skipped":  # total power: neither step applies
        tgt = dict(sci, vis=chain.tgt.vis, outputvis=chain.tgt.outputvis, request=None)
    else:
        made, plan = None, chain.tgt
        if sci["status"] == "split":  # the client records the new .split.cal only after this job
            made = {"made_id": sci["made_id"], "made": time.strftime("%Y-%m-%dT%H:%M:%S"), "request": sci["request"]}
            plan = plan._replace(input_bytes=sci["bytes"])  # measured by the science split, once
        tgt = call_job("casa_plugin.split.jobs:target_job", plan, input_made=made)
    return {"status": "failed" if "failed" in (sci["status"], tgt["status"]) else tgt["status"],
            "sci": sci, "tgt": tgt, "seconds": sci.get("seconds", 0) + tgt.get("seconds", 0)}
