"""Run a task's per-EB jobs, report each as it finishes, keep the run records, raise once at the end."""

import logging
import os
import socket
import uuid
from collections import OrderedDict

from .parallel import run_jobs
from . import record as run_record
from .delivery import eb_of
from .delivery_report import after_interrupt, after_task
from .errors import JobStopped, SplitError, interruption
from .logs import progress_line
from .report import TaskResult
from .staging import partial_name, remove_replaced

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
    averaging = run_record.averaging_text(result.get("request") or {})
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


def _previous(plans):
    """Return ``({vis: status}, {vis: running mark})``: EBs whose output's last recorded run did not finish, and
    EBs whose output another live process is making now."""
    found, busy = {}, {}
    entries = run_record.entries_of([plan.outputvis for plan in plans])  # one read of each directory's record
    for plan in plans:
        entry = entries[plan.outputvis]
        if entry.get("status") in ("failed", "interrupted"):
            found[plan.vis] = entry["status"]
        elif entry.get("status") == "running":
            mark = entry.get("running") or {}
            if mark.get("pid") == os.getpid() and mark.get("host") == socket.gethostname():
                found[plan.vis] = "interrupted"  # this session's own run, stopped before it could say so
            else:
                busy[plan.vis] = mark
    return found, busy


def _record(task, plan, result):
    try:
        run_record.update(eb_of(plan.vis), task, dict(result, vis=plan.vis, outputvis=plan.outputvis))
    except OSError as exc:
        log.warning("could not update the run record in %s: %s", os.path.dirname(plan.outputvis), exc)


def _mark_running(task, plan):
    try:
        run_record.mark_running(eb_of(plan.vis), task, {"vis": plan.vis, "outputvis": plan.outputvis})
    except OSError as exc:
        log.warning("could not update the run record in %s: %s", os.path.dirname(plan.outputvis), exc)


def _identity(path):
    """What tells a new output from the one it replaced: its directory's inode and its table.dat's mtime."""
    try:
        return (os.lstat(path).st_ino, os.stat(os.path.join(path, "table.dat")).st_mtime_ns)
    except OSError:
        return None


def _finished_before(plan, before):
    """True if ``plan``'s output was put in place by this run before an interrupt took the result (the chain's
    science split while its target split ran; Ctrl-C between the rename and the result)."""
    now = _identity(plan.outputvis)
    return now is not None and now != before


def _finished_result(task, plan):
    """The record of an output finished just before an interrupt: its request, and what it holds, read from it."""
    from .ms import read_contents
    from .split.contents import science_request, target_request
    job = plan.options()
    request = science_request(job) if task == "split_sci" else target_request(
        dict(job, datacolumn=job.get("datacolumn") or "data"))
    return {"status": "split", "made_by": "casa_plugin", "request": request, "vis": plan.vis,
            "outputvis": plan.outputvis, "contents": read_contents(plan.outputvis), "made_id": uuid.uuid4().hex,
            "note": "finished just before the run was interrupted; its result was not returned"}


def _again(task, plan):
    """How to finish an interrupted EB: the same call again, or with overwrite=True just the EBs this run did
    not finish, whose old outputs are still there (the same call again would redo the EBs it finished too)."""
    if not plan.overwrite or not os.path.lexists(plan.outputvis):
        return "run again to finish it"
    return "its old output is kept (the line after this one says how to finish the run)"


def _unfinished_advice(task, plans, defaults=None, more=""):
    """One line for an interrupted overwrite=True run: the EBs it did not finish, and the call that finishes
    them without redoing the ones it did (their old outputs are still there), with the run's options that are
    not ``defaults`` (the task's, ``{name: default}``), and ``more`` (", name=value" of other options)."""
    vis = [p.vis for p in plans]
    return ("%s: %d EB(s) of this overwrite=True run were not finished (their old outputs, if any, are kept): "
            "%s. To finish the run without redoing the EBs it finished, run it again on these only: %s(vis=%r%s%s, "
            "overwrite=True)" % (task, len(vis), ", ".join(os.path.basename(v) for v in vis), task,
                                 vis[0] if len(vis) == 1 else vis, _same_options(task, plans, defaults or {}), more))


def _chain_advice(chains, left, defaults):
    """The lines for an interrupted overwrite=True split_sci_tgt: ``left`` = (the science plans, the target
    plans) it did not finish. One split_sci_tgt call where they are the same EBs' two steps; else a call of each
    task (an EB whose science split was finished needs its target split only)."""
    sci, tgt = left
    if not sci and not tgt:
        return []
    by_target = dict((c.tgt.vis, c.sci.vis) for c in chains)
    if sorted(p.vis for p in sci) != sorted(by_target.get(p.vis) for p in tgt):
        return [_unfinished_advice(task, plans, options) for task, plans, options in
                (("split_sci", sci, defaults[0]), ("split_tgt", tgt, defaults[1])) if plans]
    intents = set(p.request.get("intent") for p in tgt)
    given = len(intents) == 1 and intents != {(defaults[1] or {}).get("intent", "*TARGET*")}
    return [_unfinished_advice("split_sci_tgt", sci, defaults[0], ", target_intent=%r" % intents.pop() if given
                               else "")]


#: The options a call to finish a run repeats where they are not the task's defaults (vis, overwrite apart).
_REPEATED = ("intent", "minnchan", "spw", "datacolumn", "reindex", "flagversion", "width", "timebin", "totalpower")
#: The output a task names by default: ``<vis><suffix>``.
_DEFAULT_SUFFIX = {"split_sci": ".split.cal", "split_tgt": ".source"}


def _same_options(task, plans, defaults):
    """``", width=8, timebin='12s'"``: the options of ``plans`` that are not ``task``'s ``defaults``.

    A ``reindex`` the member's numbering decided (``reindex_from``) is left to decide again; an option the
    plans do not share is left out (the call then takes its default), and so is a custom ``outputvis`` of
    several plans (one call names one).
    """
    parts = []
    if task in _DEFAULT_SUFFIX and len(plans) == 1 and plans[0].outputvis != plans[0].vis + _DEFAULT_SUFFIX[task]:
        parts.append("outputvis=%r" % plans[0].outputvis)
    for name in _REPEATED:
        values = set(repr(p.request.get(name)) for p in plans)
        if name not in defaults or len(values) != 1 or values == {repr(defaults[name])}:
            continue
        if name == "reindex" and any(p.request.get("reindex_from") for p in plans):
            continue
        parts.append("%s=%s" % (name, values.pop()))
    return "".join(", " + part for part in parts)


def _remove_replaced(plans):
    """After an interrupt: remove the old outputs of EBs finished with overwrite=True whose removal it stopped
    (the advised call does not run those EBs again, so nothing else would)."""
    for plan in plans:
        if not plan.dryrun and plan.overwrite:
            remove_replaced(plan.outputvis)


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


def _places(plans):
    """Return ``{vis: 'member …'}`` naming each EB's member, and its project when plans span several."""
    projects = set(p.project for p in plans)
    return dict((p.vis, "member %s%s" % (p.member, " of %s" % p.project if len(projects) > 1 else ""))
                for p in plans)


def _output_name(plan):
    """The output as its EB's lines name it: its name beside the EB, else its whole path (the user chose
    another place, and the line must say where the data went)."""
    same = os.path.dirname(os.path.abspath(plan.outputvis)) == os.path.dirname(os.path.abspath(plan.vis))
    return os.path.basename(plan.outputvis) if same else plan.outputvis


class _Report(object):
    """Collect one task's per-EB results in order, logging and recording each as it comes."""

    def __init__(self, task, plans, chained=False, defaults=None):
        self.task, self.plans, self.results, self.started = task, plans, OrderedDict(), []
        self.defaults = defaults  # the task's parameters' defaults: the options an advised call repeats
        self.chained = chained  # split_sci_tgt: each target split follows its science split at once
        self.identities = {}  # vis -> what its output was when the job started (_identity)
        self.previous, self.busy = _previous(plans)
        self.places = _places(plans)

    def start(self, plan):
        """Note that ``plan`` started (serially, or dispatched to an MPI server), and say so on its line."""
        if self.begin(plan):
            log.info("[%d/%d started] %s: %s -> %s (%s)", len(self.started), len(self.plans),
                     self.places[plan.vis], os.path.basename(plan.vis), _output_name(plan),
                     _size(plan))

    def begin(self, plan):
        """Note that ``plan`` started: its number, its output as it was, and (not for a dry run) a record entry
        saying it is running. Return False for a dry run."""
        self.started.append(plan.vis)
        if plan.dryrun:
            return False
        self.identities[plan.vis] = _identity(plan.outputvis)
        _mark_running(self.task, plan)
        return True

    def number(self, plan):
        """The EB's number on its lines: the order it started in (its finished line keeps it)."""
        vis = plan.vis
        return self.started.index(vis) + 1 if vis in self.started else len(self.results)

    def add(self, plan, result):
        result.setdefault("vis", plan.vis)
        result.setdefault("outputvis", plan.outputvis)
        result["eb"] = eb_of(plan.vis)
        if plan.dryrun:
            result["dryrun"] = True  # a failure here is one a run would meet; nothing was written
        if plan.vis in self.previous:
            result["previous"] = self.previous[plan.vis]
        _partial_left(result, plan.outputvis)
        if self.task == "split_sci" and result.get("status") == "split" and not self.chained:
            result["stale"] = run_record.dependents(plan.outputvis)
        self.results[plan.vis] = result
        line = progress_line(self.number(plan), len(self.plans), "%s: %s" % (
            self.places[plan.vis], os.path.basename(plan.vis)), _output_name(plan),
            _detail(result), result.get("seconds"))
        (log.error if result["status"] == "failed" else log.info)(line)
        if not plan.dryrun:
            _record(self.task, plan, result)

    def interrupted(self, exc, advise=True):
        """Record the EBs this run started and did not finish as interrupted (by ``exc``: a batch job's record
        names its scheduler's cause); return the plans of an overwrite=True run left unfinished, and with
        ``advise`` log the call that finishes them."""
        cause = interruption(exc) if isinstance(exc, JobStopped) else {}
        for plan in self.plans:
            if plan.vis in self.started and plan.vis not in self.results and not plan.dryrun:
                if _finished_before(plan, self.identities.get(plan.vis)):
                    log.warning("%s: %s -> %s was finished just before the interrupt; it is kept",
                                self.task, plan.vis, _output_name(plan))
                    _record(self.task, plan, _finished_result(self.task, plan))
                    continue
                log.warning("%s: interrupted%s before %s -> %s was finished (nothing of it is kept); %s",
                            self.task, " (%s)" % exc if cause else "", plan.vis, _output_name(plan),
                            _again(self.task, plan))
                _record(self.task, plan, dict(cause, status="interrupted", vis=plan.vis, outputvis=plan.outputvis))
        unfinished = [p for p in self.plans if p.vis not in self.results and not p.dryrun and p.overwrite
                      and not (p.vis in self.started and _finished_before(p, self.identities.get(p.vis)))]
        if unfinished and advise:
            log.warning(_unfinished_advice(self.task, unfinished, self.defaults))
        return unfinished

    def refuse_busy(self):
        """Fail, without running them, the EBs whose output another live process is making; return the rest."""
        for plan in [p for p in self.plans if p.vis in self.busy]:
            self.results[plan.vis] = dict(vis=plan.vis, outputvis=plan.outputvis, eb=eb_of(plan.vis),
                                          status="failed", error=_busy_error(self.busy[plan.vis]))
            log.error(progress_line(len(self.results), len(self.plans), "%s: %s" % (
                self.places[plan.vis], os.path.basename(plan.vis)), _output_name(plan),
                "FAILED: %s" % self.results[plan.vis]["error"], None))
        return [p for p in self.plans if p.vis not in self.busy]

    def summary(self):
        counts = {}
        for result in self.results.values():
            counts[result["status"]] = counts.get(result["status"], 0) + 1
        log.info("%s: %s", self.task, ", ".join("%d %s" % (n, s) for s, n in sorted(counts.items())))
        return TaskResult(task=self.task, ebs=self.results, counts=counts)

    def failures(self):
        return [r["eb"] for r in self.results.values() if r["status"] == "failed"]


def _only_checked(plan):
    """True if the output of ``plan`` exists and is not to be replaced: the step checks it, splits nothing."""
    return os.path.lexists(plan.outputvis) and not plan.overwrite


def _size(plan):
    """What the start line says of the work: the bytes to read, or that an existing output is only checked."""
    if _only_checked(plan):
        return "exists: checking it"
    size = plan.input_bytes
    if not size:
        return "input still to be made"
    return "%.2f GB to read" % (size / 1e9) if size >= 1e9 else "%.1f MB to read" % (size / 1e6)


def _raise_failures(reports, summary):
    """Raise one SplitError naming the failed EBs; their errors were logged once, on their own lines."""
    failures = [(report.task, report.failures()) for report in reports]
    failed = [(task, eb) for task, ebs in failures for eb in ebs]
    if failed:
        dry = all(plan.dryrun for report in reports for plan in report.plans)  # nothing was written
        tasks = [task for task, ebs in failures if ebs]  # not a task whose EBs were only skipped
        raise SplitError("%s%s failed for %d EB step(s) of %d EBs: %s. Each error is on the EB's FAILED line "
                         "above (and in the CASA log); the exception's .results holds every EB's result%s" % (
                             "dry run: " if dry else "", " and ".join(tasks), len(failed),
                             len(reports[0].plans), ", ".join("%s %s" % (task, eb) for task, eb in failed),
                             "; a run with these settings would fail there the same way" if dry else ""),
                         results=summary)


def run_eb_jobs(task, func_path, plans, *, parallel=False, maxjobs=None, defaults=None):
    """Run ``func_path`` on every plan (``casa_plugin.plan.Plan``), log ``[i/n]`` lines, update run records, and
    summarise.

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
    report, choice = _Report(task, plans, defaults=defaults), {}
    plans = report.refuse_busy()
    try:
        run_jobs(func_path, plans, on_result=report.add, parallel=parallel, maxjobs=maxjobs,
                 on_start=report.start, on_plan=choice.update)
    except KeyboardInterrupt as exc:
        report.interrupted(exc)
        after_interrupt(task, [p.vis for p in plans], plans=plans)
        _remove_replaced(plans)
        raise
    summary = report.summary()
    summary["parallel"] = choice
    after_task(task, summary, plans=plans)  # the delivery report; a failure there is a warning only
    _raise_failures([report], summary)
    return summary


def run_chain_jobs(chains, *, parallel=False, maxjobs=None, defaults=(None, None)):
    """Run each EB's science split and then its target split as one job (one process per EB).

    ``chains`` are ``casa_plugin.plan.Chain``; ``defaults``: split_sci's and split_tgt's parameters' defaults.
    Returns ``{'sci': summary, 'tgt': summary}``.
    """
    sci = _Report("split_sci", [c.sci for c in chains], chained=True, defaults=defaults[0])
    tgt = _Report("split_tgt", [c.tgt for c in chains], defaults=defaults[1])

    def on_result(chain, result):
        with run_record.batched():  # both entries in one rewrite of the record
            for report, key in ((sci, "sci"), (tgt, "tgt")):
                step = dict(result.get(key) or result)  # a lost worker fails both steps
                if result.get("mpi"):
                    step.setdefault("mpi", result["mpi"])
                report.add(getattr(chain, key), step)

    def on_start(chain):
        with run_record.batched():  # written before the job starts
            sci.start(chain.sci)
            tgt.begin(chain.tgt)  # no line of its own: the chain's start line is the science split's

    choice = {}
    for chain in chains:  # an EB whose science or target output another process is making: neither step runs
        mark = sci.busy.get(chain.sci.vis) or tgt.busy.get(chain.tgt.vis)
        if mark:
            sci.busy[chain.sci.vis] = tgt.busy[chain.tgt.vis] = mark
    sci.refuse_busy()
    tgt.refuse_busy()
    chains = [c for c in chains if c.sci.vis not in sci.busy]
    try:
        run_jobs("casa_plugin.split.jobs:chain_job", chains, on_result=on_result, parallel=parallel,
                 maxjobs=maxjobs, on_start=on_start, on_plan=choice.update)
    except KeyboardInterrupt as exc:
        left = sci.interrupted(exc, advise=False), tgt.interrupted(exc, advise=False)
        for line in _chain_advice(chains, left, defaults):
            log.warning(line)
        after_interrupt("split_sci_tgt", [c.sci.vis for c in chains], plans=[c.sci for c in chains])
        _remove_replaced([p for c in chains for p in (c.sci, c.tgt)])
        raise
    summary = TaskResult(sci=sci.summary(), tgt=tgt.summary(), parallel=choice)
    summary["sci"]["parallel"] = summary["tgt"]["parallel"] = choice
    after_task("split_sci_tgt", summary, plans=[c.sci for c in chains])
    _raise_failures([sci, tgt], summary)
    return summary
