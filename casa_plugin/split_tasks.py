"""split_sci and split_tgt: the task-like entry points that plan per-EB jobs and report on them."""

import logging
import os
from collections import OrderedDict

from . import mapper, run_record
from .discovery import eb_of, expand_vis
from .errors import SplitError
from .logs import progress_line, task_logging

__all__ = ["split_sci", "split_tgt"]

log = logging.getLogger(__name__)
_DATACOLUMNS = ("corrected", "data", "model", "data,model,corrected", "all", "float_data", "lag_data")


def _require(name, value, types, what):
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in _as_tuple(types)):
        raise TypeError("%s must be %s, not %r" % (name, what, value))


def _as_tuple(types):
    return types if isinstance(types, tuple) else (types,)


def _normal_spw(spw):
    if isinstance(spw, (list, tuple)):
        spw = ",".join(str(int(s)) for s in spw)
    _require("spw", spw, str, "a string like '17,19' or a list of spw ids")
    spw = spw.replace(" ", "")
    if spw and not all(part.isdigit() for part in spw.split(",")):
        raise ValueError("spw=%r: give spw ids separated by commas, e.g. '17,19,21,23'" % spw)
    return spw


def _common_checks(outputvis, datacolumn, flagversion, overwrite, dryrun):
    _require("outputvis", outputvis, str, "a string")
    _require("datacolumn", datacolumn, str, "a string")
    if datacolumn.lower() not in _DATACOLUMNS:
        raise ValueError("datacolumn=%r: choose one of %s" % (datacolumn, ", ".join(_DATACOLUMNS)))
    _require("flagversion", flagversion, str, "a string")
    if not flagversion.strip():
        raise ValueError("flagversion must name a flag version, e.g. 'original_flags'")
    _require("overwrite", overwrite, bool, "True or False")
    _require("dryrun", dryrun, bool, "True or False")


def _outputs(paths, outputvis, suffix):
    if outputvis and len(paths) != 1:
        raise ValueError("outputvis=%r names one output but vis selects %d MSs; leave outputvis='' "
                         "to write <vis>%s beside each" % (outputvis, len(paths), suffix))
    outs = [outputvis] if outputvis else [p.rstrip("/") + suffix for p in paths]
    for vis, out in zip(paths, outs):
        if os.path.abspath(out) == os.path.abspath(vis):
            raise ValueError("outputvis %s is the input itself; choose another name" % out)
    return outs


def split_sci(vis="", outputvis="", intent="OBSERVE_TARGET*", minnchan=5, spw="", datacolumn="corrected",
              reindex=True, flagversion="original_flags", overwrite=False, dryrun=False):
    """Split the science spectral windows of each EB into ``<vis>.split.cal`` and save its flags.

    Parameters
    ----------
    vis : str or list of str
        EB measurement set(s), a glob, or a directory (a ``calibrated/``, a
        member, a project: every ``calibrated/`` below); ``''`` is the current
        directory. Only ``uid___*.ms`` EBs are taken from directories and globs.
    outputvis : str
        Output name, only with a single ``vis``; default ``<vis>.split.cal``
        beside the input (in ``calibrated/`` even if the input links to ``working/``).
    intent : str
        Science spws are those observed with this intent (globs; ``#``, ``.``
        and ``_`` separators are equivalent).
    minnchan : int
        Minimum channels of a science spw (ALMA's rule: more than 4).
    spw : str or list of int
        Explicit spw ids; overrides ``intent``/``minnchan``.
    datacolumn : str
        Column to split (written as DATA); ``'corrected'`` by default.
    reindex : bool
        False keeps the original spw ids (as ALMA's scriptForPI does).
    flagversion : str
        Flag version saved once on each new output.
    overwrite : bool
        Redo outputs that already exist. Otherwise a complete existing output
        is reported as done (its flag version is saved if missing).
    dryrun : bool
        Report the plan and write nothing.

    Returns
    -------
    dict
        ``{'task', 'ebs': {vis: result}, 'counts': {status: n}}``; each result
        holds ``status`` (split, done, planned, failed), ``outputvis``, ``spw``,
        ``spw_map`` (old -> new id), ``nrows``, ``seconds``, ``flagversions``.
        Each output directory gets a ``casa_plugin_record.json``.

    Raises
    ------
    FileNotFoundError, ValueError, TypeError
        For bad arguments, before anything is written.
    SplitError
        After every EB was processed, if any failed; ``.results`` holds the per-EB results.
    """
    with task_logging("split_sci"):
        _common_checks(outputvis, datacolumn, flagversion, overwrite, dryrun)
        _require("intent", intent, str, "a string")
        _require("minnchan", minnchan, int, "an integer")
        _require("reindex", reindex, bool, "True or False")
        spw = _normal_spw(spw)
        paths = expand_vis(vis)
        jobs = [{"vis": v, "outputvis": o, "intent": intent, "minnchan": minnchan, "spw": spw,
                 "datacolumn": datacolumn, "reindex": reindex, "flagversion": flagversion,
                 "overwrite": overwrite, "dryrun": dryrun}
                for v, o in zip(paths, _outputs(paths, outputvis, ".split.cal"))]
        return _run("split_sci", "casa_plugin.split_jobs:science_job", jobs)


def split_tgt(vis="", outputvis="", intent="*TARGET*", datacolumn="data", flagversion="original_flags",
              overwrite=False, dryrun=False):
    """Split the science target fields of each ``.split.cal`` into ``<vis>.source`` and save its flags.

    Parameters
    ----------
    vis : str or list of str
        ``uid___*.ms.split.cal`` measurement set(s), a glob, or a directory
        searched like ``split_sci`` does; ``''`` is the current directory.
    outputvis : str
        Output name, only with a single ``vis``; default ``<vis>.source``.
    intent : str
        Fields observed with this intent are kept (globs; separator variants match).
    datacolumn : str
        Column to split; ``'data'``, since a ``.split.cal`` holds calibrated DATA.
    flagversion, overwrite, dryrun
        As for ``split_sci``. Flag versions of the input are never carried over.

    Returns
    -------
    dict
        As ``split_sci``; each result lists the ``fields`` and ``intents`` kept.

    Raises
    ------
    FileNotFoundError, ValueError, TypeError
        For bad arguments, before anything is written.
    SplitError
        After every EB was processed, if any failed.
    """
    with task_logging("split_tgt"):
        _common_checks(outputvis, datacolumn, flagversion, overwrite, dryrun)
        _require("intent", intent, str, "a string")
        paths = expand_vis(vis, suffix=".split.cal")
        jobs = [{"vis": v, "outputvis": o, "intent": intent, "datacolumn": datacolumn,
                 "flagversion": flagversion, "overwrite": overwrite, "dryrun": dryrun}
                for v, o in zip(paths, _outputs(paths, outputvis, ".source"))]
        return _run("split_tgt", "casa_plugin.split_jobs:target_job", jobs)


def _detail(result):
    if result.get("status") == "failed":
        return "FAILED: %s" % result.get("error")
    if result.get("status") == "done":
        return "already done" + (", flag version saved" if result.get("flagversion_saved") else "")
    parts = []
    if result.get("spw"):
        parts.append("spw %s" % ",".join(str(s) for s in result["spw"]))
    if result.get("fields"):
        parts.append("fields %s" % ",".join(result["fields"]))
    if result.get("status") == "planned":
        parts.append("planned")
    return "; ".join(parts)


def _record_interrupted(task, unfinished):
    """Note in the run records which EBs a Ctrl-C left unfinished (their partial outputs are gone)."""
    for job in unfinished:
        log.warning("%s: interrupted before %s was finished; run again to finish it", task, job["vis"])
        if job["dryrun"]:
            continue
        try:
            run_record.update(os.path.dirname(os.path.abspath(job["outputvis"])), eb_of(job["vis"]), task,
                              {"status": "interrupted", "vis": job["vis"], "outputvis": job["outputvis"]})
        except OSError:
            pass


def _run(task, func_path, jobs):
    results = OrderedDict()
    total = len(jobs)

    def on_result(job, result):
        index = len(results) + 1
        result.setdefault("vis", job["vis"])
        result.setdefault("outputvis", job["outputvis"])
        result["eb"] = eb_of(job["vis"])
        results[job["vis"]] = result
        line = progress_line(index, total, os.path.basename(job["vis"]), os.path.basename(job["outputvis"]),
                             _detail(result), result.get("seconds"))
        (log.error if result["status"] == "failed" else log.info)(line)
        if not job["dryrun"]:
            record_dir = os.path.dirname(os.path.abspath(job["outputvis"]))
            try:
                run_record.update(record_dir, result["eb"], task, result)
            except OSError as exc:
                log.warning("could not update the run record in %s: %s", record_dir, exc)

    try:
        mapper.run_jobs(func_path, jobs, on_result=on_result)
    except KeyboardInterrupt:
        _record_interrupted(task, [j for j in jobs if j["vis"] not in results])
        raise
    counts = {}
    for result in results.values():
        counts[result["status"]] = counts.get(result["status"], 0) + 1
    summary = {"task": task, "ebs": results, "counts": counts}
    log.info("%s: %s", task, ", ".join("%d %s" % (n, s) for s, n in sorted(counts.items())))
    failed = [r for r in results.values() if r["status"] == "failed"]
    if failed:
        raise SplitError("%s failed for %d of %d EBs:\n%s" % (
            task, len(failed), total, "\n".join("  %s: %s" % (r["vis"], r["error"]) for r in failed)),
            results=summary)
    return summary
