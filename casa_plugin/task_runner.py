"""Run a task's per-EB jobs, report each as it finishes, keep the run records, raise once at the end."""

import logging
import os
from collections import OrderedDict

from . import mapper, run_record
from .discovery import eb_of
from .errors import SplitError
from .logs import progress_line

__all__ = ["run_eb_jobs", "run_chain_jobs"]

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


class _Report(object):
    """Collect one task's per-EB results in order, logging and recording each as it comes."""

    def __init__(self, task, jobs):
        self.task, self.jobs, self.results = task, jobs, OrderedDict()
        self.previous = _previous(task, jobs)

    def add(self, job, result):
        result.setdefault("vis", job["vis"])
        result.setdefault("outputvis", job["outputvis"])
        result["eb"] = eb_of(job["vis"])
        if job["vis"] in self.previous:
            result["previous"] = self.previous[job["vis"]]
        self.results[job["vis"]] = result
        line = progress_line(len(self.results), len(self.jobs), os.path.basename(job["vis"]),
                             os.path.basename(job["outputvis"]), _detail(result), result.get("seconds"))
        (log.error if result["status"] == "failed" else log.info)(line)
        if not job["dryrun"]:
            _record(self.task, job, result)

    def interrupted(self):
        for job in self.jobs:
            if job["vis"] not in self.results and not job["dryrun"]:
                log.warning("%s: interrupted before %s was finished; run again to finish it", self.task, job["vis"])
                _record(self.task, job, {"status": "interrupted", "vis": job["vis"], "outputvis": job["outputvis"]})

    def summary(self):
        counts = {}
        for result in self.results.values():
            counts[result["status"]] = counts.get(result["status"], 0) + 1
        log.info("%s: %s", self.task, ", ".join("%d %s" % (n, s) for s, n in sorted(counts.items())))
        return {"task": self.task, "ebs": self.results, "counts": counts}

    def failures(self):
        return ["  %s: %s" % (r["vis"], r["error"]) for r in self.results.values() if r["status"] == "failed"]


def _raise_failures(reports, summary):
    lines = [line for report in reports for line in report.failures()]
    if lines:
        raise SplitError("%s failed for %d EB step(s) of %d EBs:\n%s" % (
            " and ".join(r.task for r in reports), len(lines), len(reports[0].jobs), "\n".join(lines)),
            results=summary)


def run_eb_jobs(task, func_path, jobs, parallel=False, maxjobs=None):
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
    report = _Report(task, jobs)
    try:
        mapper.run_jobs(func_path, jobs, on_result=report.add, parallel=parallel, maxjobs=maxjobs)
    except KeyboardInterrupt:
        report.interrupted()
        raise
    summary = report.summary()
    _raise_failures([report], summary)
    return summary


def run_chain_jobs(jobs, parallel=False, maxjobs=None):
    """Run each EB's science split and then its target split as one job (one process per EB).

    ``jobs`` are ``{'sci': job, 'tgt': job}``. Returns ``{'sci': summary, 'tgt': summary}``.
    """
    sci = _Report("split_sci", [j["sci"] for j in jobs])
    tgt = _Report("split_tgt", [j["tgt"] for j in jobs])

    def on_result(job, result):
        for report, key in ((sci, "sci"), (tgt, "tgt")):
            step = dict(result.get(key) or result)  # a lost worker fails both steps
            if result.get("mpi"):
                step.setdefault("mpi", result["mpi"])
            report.add(job[key], step)

    for job in jobs:
        job.setdefault("vis", job["sci"]["vis"])  # what the dispatcher sizes and names jobs by
    try:
        mapper.run_jobs("casa_plugin.split_jobs:chain_job", jobs, on_result=on_result, parallel=parallel,
                        maxjobs=maxjobs)
    except KeyboardInterrupt:
        sci.interrupted()
        tgt.interrupted()
        raise
    summary = {"sci": sci.summary(), "tgt": tgt.summary()}
    _raise_failures([sci, tgt], summary)
    return summary
