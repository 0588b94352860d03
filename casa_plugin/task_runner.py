"""Run a task's per-EB jobs, report each as it finishes, keep the run records, raise once at the end."""

import logging
import os
from collections import OrderedDict

from . import mapper, run_record
from .discovery import eb_of
from .errors import SplitError
from .logs import progress_line

__all__ = ["run_eb_jobs"]

log = logging.getLogger(__name__)


def _spectra(result):
    spectra = result.get("spectra") or {}
    return ", ".join("%s (%.3f-%.3f GHz, %d ch)" % (spw, info["freq_ghz"][0], info["freq_ghz"][1], info["nchan"])
                     for spw, info in sorted(spectra.items(), key=lambda kv: int(kv[0])))


def _detail(result):
    status = result.get("status")
    if status == "failed":
        return "FAILED: %s" % result.get("error")
    if status == "done":
        return "already done" + (", flag version saved" if result.get("flagversion_saved") else "")
    parts = []
    if status == "planned" and result.get("spectra"):
        parts.append("spw " + _spectra(result))
    elif result.get("spw"):
        parts.append("spw %s" % ",".join(str(s) for s in result["spw"]))
    if result.get("fields"):
        parts.append("fields %s" % ",".join(result["fields"]))
    if status == "planned":
        parts.append("planned" + (" " + result["note"] if result.get("note") else ""))
    if result.get("previous"):
        parts.append("last run: %s" % result["previous"])
    return "; ".join(parts)


def _previous(task, jobs):
    """Return {vis: status} of EBs whose last recorded run of ``task`` did not finish."""
    found, records = {}, {}
    for job in jobs:
        directory = os.path.dirname(os.path.abspath(job["outputvis"]))
        if directory not in records:
            try:
                records[directory] = run_record.load(directory)
            except (OSError, ValueError):
                records[directory] = {}
        entry = records[directory].get("ebs", {}).get(eb_of(job["vis"]), {}).get(task, {})
        if entry.get("status") in ("failed", "interrupted"):
            found[job["vis"]] = entry["status"]
    return found


def _record(task, job, result):
    directory = os.path.dirname(os.path.abspath(job["outputvis"]))
    try:
        run_record.update(directory, eb_of(job["vis"]), task, result)
    except OSError as exc:
        log.warning("could not update the run record in %s: %s", directory, exc)


def run_eb_jobs(task, func_path, jobs, parallel=False):
    """Run ``func_path`` on every job, log ``[i/n]`` lines, update run records, and summarise.

    Returns
    -------
    dict
        ``{'task', 'ebs': {vis: result}, 'counts': {status: n}}``.

    Raises
    ------
    SplitError
        After all jobs ran, if any failed; ``.results`` is the summary.
    KeyboardInterrupt
        After noting the unfinished EBs as interrupted in their run records.
    """
    results = OrderedDict()
    total = len(jobs)
    previous = _previous(task, jobs)

    def on_result(job, result):
        result.setdefault("vis", job["vis"])
        result.setdefault("outputvis", job["outputvis"])
        result["eb"] = eb_of(job["vis"])
        if job["vis"] in previous:
            result["previous"] = previous[job["vis"]]
        results[job["vis"]] = result
        line = progress_line(len(results), total, os.path.basename(job["vis"]),
                             os.path.basename(job["outputvis"]), _detail(result), result.get("seconds"))
        (log.error if result["status"] == "failed" else log.info)(line)
        if not job["dryrun"]:
            _record(task, job, result)

    try:
        mapper.run_jobs(func_path, jobs, on_result=on_result, parallel=parallel)
    except KeyboardInterrupt:
        for job in jobs:
            if job["vis"] not in results and not job["dryrun"]:
                log.warning("%s: interrupted before %s was finished; run again to finish it", task, job["vis"])
                _record(task, job, {"status": "interrupted", "vis": job["vis"], "outputvis": job["outputvis"]})
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
