"""Run a task's per-EB jobs, report each as it finishes, keep the run records, raise once at the end."""

import logging
import os
import socket
import uuid
from collections import OrderedDict

from .parallel import run_jobs
from .parallel.policy import averaging_text
from . import record as run_record
from .delivery import eb_of, restored_ms
from .delivery_report import after_interrupt, after_task
from .errors import SplitError
from .logs import progress_line
from .report import TaskResult, member_of, project_of
from .staging import partial_name

__all__ = ["run_eb_jobs", "run_chain_jobs"]

log = logging.getLogger(__name__)


def _spectra(result):
    spectra = result.get("input_spws") or {}
    return ", ".join("%s (%.3f-%.3f GHz, %d ch)" % (spw, info["freq_ghz"][0], info["freq_ghz"][1], info["nchan"])
                     for spw, info in sorted(spectra.items(), key=lambda kv: int(kv[0])))


def _detail(result):
    status = result.get("status")
    if status == "failed":
        return "FAILED: %s" % result.get("error")
    if status == "skipped":
        return "skipped: %s" % result.get("error")
    parts = []
    if status == "done":
        parts.append("already done" + {"scriptForPI": ", made by the delivery's scriptForPI",
                                       "archive": ", from the archive's calibrated MSs"}.get(result.get("made_by"), ""))
        if result.get("note"):
            parts.append(result["note"])
        if result.get("flagversion_saved"):
            parts.append("flag version saved")
    if status == "planned" and result.get("input_spws"):
        parts.append("spw " + _spectra(result))
    elif result.get("spw"):
        parts.append("spw %s" % ",".join(str(s) for s in result["spw"]))
    if result.get("fields"):
        parts.append("fields %s" % ",".join(result["fields"]))
    averaging = averaging_text(result.get("request") or {})
    if status == "planned":
        parts.append("planned" + (" with " + averaging if averaging else "") +
                     (" " + result["note"] if result.get("note") else ""))
    elif status == "split" and averaging:
        parts.append(averaging)
    if status == "split" and result.get("note"):
        parts.append(result["note"])
    if result.get("stale"):
        parts.append("now stale, made from the output this replaced: %s (redo with split_tgt(vis=%r, "
                     "overwrite=True))" % (", ".join(os.path.basename(p) for p in result["stale"]),
                                           result["outputvis"]))
    if result.get("previous") and status == "done":  # the output was checked anew: say so, not only "failed"
        parts.append("checked again after the last run %s: complete, and this request's" % (
            "was interrupted" if result["previous"] == "interrupted" else result["previous"]))
    elif result.get("previous"):
        parts.append("last run: %s" % result["previous"])
    return "; ".join(parts)


def _previous(jobs):
    """Return ``({vis: status}, {vis: running mark})``: EBs whose output's last recorded run did not finish, and
    EBs whose output another live process is making now."""
    found, busy = {}, {}
    entries = run_record.entries_of([job["outputvis"] for job in jobs])  # one read of each directory's record
    for job in jobs:
        entry = entries[job["outputvis"]]
        if entry.get("status") in ("failed", "interrupted"):
            found[job["vis"]] = entry["status"]
        elif entry.get("status") == "running":
            mark = entry.get("running") or {}
            if mark.get("pid") == os.getpid() and mark.get("host") == socket.gethostname():
                found[job["vis"]] = "interrupted"  # this session's own run, stopped before it could say so
            else:
                busy[job["vis"]] = mark
    return found, busy


def _record(task, job, result):
    try:
        run_record.update(eb_of(job["vis"]), task, dict(result, vis=job["vis"], outputvis=job["outputvis"]))
    except OSError as exc:
        log.warning("could not update the run record in %s: %s", os.path.dirname(job["outputvis"]), exc)


def _mark_running(task, job):
    try:
        run_record.mark_running(eb_of(job["vis"]), task, job)
    except OSError as exc:
        log.warning("could not update the run record in %s: %s", os.path.dirname(job["outputvis"]), exc)


def _identity(path):
    """What tells a new output from the one it replaced: its directory's inode and its table.dat's mtime."""
    try:
        return (os.lstat(path).st_ino, os.stat(os.path.join(path, "table.dat")).st_mtime_ns)
    except OSError:
        return None


def _finished_before(job, before):
    """True if ``job``'s output was put in place by this run before an interrupt took the result (the chain's
    science split while its target split ran; Ctrl-C between the rename and the result)."""
    now = _identity(job["outputvis"])
    return now is not None and now != before


def _finished_result(task, job):
    """The record of an output finished just before an interrupt: its request, and what it holds, read from it."""
    from .ms import read_contents
    from .split.contents import science_request, target_request
    request = science_request(job) if task == "split_sci" else target_request(
        dict(job, datacolumn=job.get("datacolumn") or "data"))
    return {"status": "split", "made_by": "casa_plugin", "request": request, "vis": job["vis"],
            "outputvis": job["outputvis"], "contents": read_contents(job["outputvis"]), "made_id": uuid.uuid4().hex,
            "note": "finished just before the run was interrupted; its result was not returned"}


def _again(task, job):
    """How to finish an interrupted EB: the same call again, or with overwrite=True just this EB, whose old
    output is still there (the same call again would redo every EB it already finished)."""
    if not job.get("overwrite") or not os.path.lexists(job["outputvis"]):
        return "run again to finish it"
    return ("its old output is kept; to finish, run again with overwrite=True on this EB only (%s(vis=%r, ..., "
            "overwrite=True)): on the whole set it would redo the EBs this run finished too" % (task, job["vis"]))


def _busy_error(mark):
    return ("another casa_plugin run (pid %s on %s, started %s) is making this output now: wait for it to "
            "finish, or stop it, and run again" % (mark.get("pid"), mark.get("host"), mark.get("started")))


def _partial_left(result, outputvis):
    """Name a partial output a failed EB leaves behind (it is removed by the next run of this output)."""
    partial = partial_name(outputvis)
    if result.get("status") == "failed" and os.path.lexists(partial):
        result["partial"] = partial
        result["error"] = "%s; it left the partial output %s (not a result: the next run removes it)" % (
            result.get("error"), partial)


def _places(jobs):
    """Return ``{vis: 'member …'}`` naming each EB's member, and its project when jobs span several."""
    projects = set(project_of(j["vis"]) for j in jobs)
    return dict((j["vis"], "member %s%s" % (member_of(j["vis"]), " of %s" % project_of(j["vis"])
                                           if len(projects) > 1 else "")) for j in jobs)


class _Report(object):
    """Collect one task's per-EB results in order, logging and recording each as it comes."""

    def __init__(self, task, jobs, chained=False):
        self.task, self.jobs, self.results, self.started = task, jobs, OrderedDict(), []
        self.chained = chained  # split_sci_tgt: each target split follows its science split at once
        self.identities = {}  # vis -> what its output was when the job started (_identity)
        self.previous, self.busy = _previous(jobs)
        self.places = _places(jobs)

    def start(self, job):
        """Note that ``job`` started (serially, or dispatched to an MPI server), and say so on its line."""
        if self.begin(job):
            log.info("[%d/%d started] %s: %s -> %s (%s)", len(self.started), len(self.jobs),
                     self.places[job["vis"]], os.path.basename(job["vis"]), os.path.basename(job["outputvis"]),
                     _size(job))

    def begin(self, job):
        """Note that ``job`` started: its number, its output as it was, and (not for a dry run) a record entry
        saying it is running. Return False for a dry run."""
        self.started.append(job["vis"])
        if job.get("dryrun"):
            return False
        self.identities[job["vis"]] = _identity(job["outputvis"])
        _mark_running(self.task, job)
        return True

    def number(self, job):
        """The EB's number on its lines: the order it started in (its finished line keeps it)."""
        vis = job["vis"]
        return self.started.index(vis) + 1 if vis in self.started else len(self.results)

    def add(self, job, result):
        result.setdefault("vis", job["vis"])
        result.setdefault("outputvis", job["outputvis"])
        result["eb"] = eb_of(job["vis"])
        if job["dryrun"]:
            result["dryrun"] = True  # a failure here is one a run would meet; nothing was written
        if job["vis"] in self.previous:
            result["previous"] = self.previous[job["vis"]]
        _partial_left(result, job["outputvis"])
        if self.task == "split_sci" and result.get("status") == "split" and not self.chained:
            result["stale"] = run_record.dependents(job["outputvis"])
        self.results[job["vis"]] = result
        line = progress_line(self.number(job), len(self.jobs), "%s: %s" % (
            self.places[job["vis"]], os.path.basename(job["vis"])), os.path.basename(job["outputvis"]),
            _detail(result), result.get("seconds"))
        (log.error if result["status"] == "failed" else log.info)(line)
        if not job["dryrun"]:
            _record(self.task, job, result)

    def interrupted(self):
        for job in self.jobs:
            if job["vis"] in self.started and job["vis"] not in self.results and not job["dryrun"]:
                if _finished_before(job, self.identities.get(job["vis"])):
                    log.warning("%s: %s -> %s was finished just before the interrupt; it is kept",
                                self.task, job["vis"], os.path.basename(job["outputvis"]))
                    _record(self.task, job, _finished_result(self.task, job))
                    continue
                log.warning("%s: interrupted before %s -> %s was finished (nothing of it is kept); %s",
                            self.task, job["vis"], os.path.basename(job["outputvis"]), _again(self.task, job))
                _record(self.task, job, {"status": "interrupted", "vis": job["vis"], "outputvis": job["outputvis"]})

    def refuse_busy(self):
        """Fail, without running them, the jobs whose output another live process is making; return the rest."""
        for job in [j for j in self.jobs if j["vis"] in self.busy]:
            self.results[job["vis"]] = dict(vis=job["vis"], outputvis=job["outputvis"], eb=eb_of(job["vis"]),
                                            status="failed", error=_busy_error(self.busy[job["vis"]]))
            log.error(progress_line(len(self.results), len(self.jobs), "%s: %s" % (
                self.places[job["vis"]], os.path.basename(job["vis"])), os.path.basename(job["outputvis"]),
                "FAILED: %s" % self.results[job["vis"]]["error"], None))
        return [j for j in self.jobs if j["vis"] not in self.busy]

    def summary(self):
        counts = {}
        for result in self.results.values():
            counts[result["status"]] = counts.get(result["status"], 0) + 1
        log.info("%s: %s", self.task, ", ".join("%d %s" % (n, s) for s, n in sorted(counts.items())))
        return TaskResult(task=self.task, ebs=self.results, counts=counts)

    def failures(self):
        return [r["eb"] for r in self.results.values() if r["status"] == "failed"]


def _input_bytes(job):
    """Size the input of ``job`` once on the client (the policy, the dispatcher and the start line use it)."""
    if job.get("input_bytes") is None:
        from .ms import du_bytes
        vis = restored_ms(job["vis"])
        job["input_bytes"] = du_bytes(os.path.realpath(vis)) if os.path.exists(vis) else 0
    return job["input_bytes"]


def _work_bytes(job, steps):
    """The input bytes ``job`` will split (what the parallel policy weighs): 0 for a dry run, or when the
    output of every one of its ``steps`` exists already and is only to be checked."""
    if job.get("dryrun") or all(_only_checked(s) for s in steps):
        return 0
    return _input_bytes(job)


def _only_checked(step):
    """True if the output of ``step`` exists and is not to be replaced: the step checks it, splits nothing."""
    return os.path.lexists(step["outputvis"]) and not step.get("overwrite")


def _size(job):
    """What the start line says of the work: the bytes to read, or that an existing output is only checked."""
    if _only_checked(job):
        return "exists: checking it"
    size = _input_bytes(job)
    if not size:
        return "input still to be made"
    return "%.2f GB to read" % (size / 1e9) if size >= 1e9 else "%.1f MB to read" % (size / 1e6)


def _raise_failures(reports, summary):
    """Raise one SplitError naming the failed EBs; their errors were logged once, on their own lines."""
    failures = [(report.task, report.failures()) for report in reports]
    failed = [(task, eb) for task, ebs in failures for eb in ebs]
    if failed:
        dry = all(job.get("dryrun") for report in reports for job in report.jobs)  # nothing was written
        tasks = [task for task, ebs in failures if ebs]  # not a task whose EBs were only skipped
        raise SplitError("%s%s failed for %d EB step(s) of %d EBs: %s. Each error is on the EB's FAILED line "
                         "above (and in the CASA log); the exception's .results holds every EB's result%s" % (
                             "dry run: " if dry else "", " and ".join(tasks), len(failed),
                             len(reports[0].jobs), ", ".join("%s %s" % (task, eb) for task, eb in failed),
                             "; a run with these settings would fail there the same way" if dry else ""),
                         results=summary)


def run_eb_jobs(task, func_path, jobs, *, parallel=False, maxjobs=None):
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
    report, plan = _Report(task, jobs), {}
    jobs = report.refuse_busy()
    for job in jobs:
        job["work_bytes"] = _work_bytes(job, [job])
    try:
        run_jobs(func_path, jobs, on_result=report.add, parallel=parallel, maxjobs=maxjobs,
                 on_start=report.start, on_plan=plan.update)
    except KeyboardInterrupt:
        report.interrupted()
        after_interrupt(task, [j["vis"] for j in jobs])
        raise
    summary = report.summary()
    summary["parallel"] = plan
    after_task(task, summary)  # the delivery report; a failure there is a warning only
    _raise_failures([report], summary)
    return summary


def run_chain_jobs(jobs, *, parallel=False, maxjobs=None):
    """Run each EB's science split and then its target split as one job (one process per EB).

    ``jobs`` are ``{'sci': job, 'tgt': job}``. Returns ``{'sci': summary, 'tgt': summary}``.
    """
    sci = _Report("split_sci", [j["sci"] for j in jobs], chained=True)
    tgt = _Report("split_tgt", [j["tgt"] for j in jobs])

    def on_result(job, result):
        for report, key in ((sci, "sci"), (tgt, "tgt")):
            step = dict(result.get(key) or result)  # a lost worker fails both steps
            if result.get("mpi"):
                step.setdefault("mpi", result["mpi"])
            report.add(job[key], step)

    def on_start(job):
        sci.start(job["sci"])
        tgt.begin(job["tgt"])  # no line of its own: the chain's start line is the science split's

    plan = {}
    for job in jobs:  # an EB whose science or target output another process is making: neither step runs
        mark = sci.busy.get(job["sci"]["vis"]) or tgt.busy.get(job["tgt"]["vis"])
        if mark:
            sci.busy[job["sci"]["vis"]] = tgt.busy[job["tgt"]["vis"]] = mark
    sci.refuse_busy()
    tgt.refuse_busy()
    jobs = [j for j in jobs if j["sci"]["vis"] not in sci.busy]
    for job in jobs:
        job.setdefault("vis", job["sci"]["vis"])  # what the dispatcher sizes and names jobs by
        job["work_bytes"] = _work_bytes(job["sci"], [job["sci"], job["tgt"]])
        job["input_bytes"] = job["sci"].get("input_bytes")
    try:
        run_jobs("casa_plugin.split.jobs:chain_job", jobs, on_result=on_result, parallel=parallel,
                 maxjobs=maxjobs, on_start=on_start, on_plan=plan.update)
    except KeyboardInterrupt:
        sci.interrupted()
        tgt.interrupted()
        after_interrupt("split_sci_tgt", [j["sci"]["vis"] for j in jobs])
        raise
    summary = TaskResult(sci=sci.summary(), tgt=tgt.summary(), parallel=plan)
    summary["sci"]["parallel"] = summary["tgt"]["parallel"] = plan
    after_task("split_sci_tgt", summary)
    _raise_failures([sci, tgt], summary)
    return summary
