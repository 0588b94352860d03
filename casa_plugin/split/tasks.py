"""split_sci and split_tgt: the task-like entry points that plan per-EB jobs and report on them."""

import inspect
import logging
import os
import re

from ..delivery import expand_vis
from ..logs import task_logging
from ..parallel import server_ranks
from ..plan import chain_plans, science_plans, target_plans
from ..runner import run_chain_jobs, run_eb_jobs
from .numbering import resolve

__all__ = ["split_sci", "split_tgt", "split_sci_tgt"]

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


def _defaults(task):
    """``{parameter: default}`` of a task function (the options a call to finish its run repeats)."""
    return dict((name, p.default) for name, p in inspect.signature(task).parameters.items())


def _common_checks(outputvis, datacolumn, flagversion, overwrite, dryrun, totalpower):
    _require("outputvis", outputvis, str, "a string")
    if datacolumn is None:  # split_tgt: 'data' for a science split, given explicitly for anything else
        datacolumn = "data"
    _require("datacolumn", datacolumn, str, "a string")
    if datacolumn.lower() not in _DATACOLUMNS:
        raise ValueError("datacolumn=%r: choose one of %s" % (datacolumn, ", ".join(_DATACOLUMNS)))
    _require("flagversion", flagversion, str, "a string")
    if not flagversion.strip():
        raise ValueError("flagversion must name a flag version, e.g. 'original_flags'")
    _require("overwrite", overwrite, bool, "True or False")
    _require("dryrun", dryrun, bool, "True or False")
    _require("totalpower", totalpower, bool, "True or False")


def _outputs(paths, outputvis, suffix):
    if outputvis and len(paths) != 1:
        raise ValueError("outputvis=%r names one output but vis selects %d MSs; leave outputvis='' "
                         "to write <vis>%s beside each" % (outputvis, len(paths), suffix))
    outs = [os.path.abspath(outputvis)] if outputvis else [p + suffix for p in paths]
    for vis, out in zip(paths, outs):
        if out == vis:
            raise ValueError("outputvis %s is the input itself; choose another name" % out)
    return outs


def _absolute(paths):
    """Absolute paths, as the user named them (links not resolved): records never depend on the cwd."""
    return [os.path.abspath(p.rstrip("/")) for p in paths]


def _refuse_science_splits(paths, datacolumn):
    """split_sci of a .split.cal (or .source) with the default datacolumn: say what it is and what to call."""
    for path in paths:
        name = os.path.basename(path)
        if name.endswith((".split.cal", ".source")) and datacolumn.lower() == "corrected":
            raise ValueError(
                "%s is already a science split (made by split_sci or the scriptForPI from %s): split its "
                "targets with split_tgt(vis=%r), or give split_sci the restored EB (uid___*.ms) or its "
                "calibrated/ directory" % (path, name.split(".ms")[0] + ".ms", path))


def split_sci(vis="", *, outputvis="", intent="OBSERVE_TARGET*", minnchan=5, spw="", datacolumn="corrected",
              reindex=None, flagversion="original_flags", overwrite=False, dryrun=False, width=1, timebin="0s",
              parallel=None, maxjobs=None, totalpower=False):
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
    reindex : bool or None
        How the output's spws are numbered: None (default) one numbering per
        member, True from 0 (CASA's split), False the input's spw ids. None
        takes that of the ``.split.cal`` already beside the EB (the scriptForPI's with
        ``DOSPLIT`` keep the ids, so new splits keep them too and the
        script's count as made), else from 0; a directory holding both is
        refused, naming them. The line says when ids are kept this way.
    flagversion : str
        Flag version saved once on each new output.
    overwrite : bool
        Redo outputs that already exist (the old one is replaced only once the
        new one is complete). Otherwise an existing output is checked against
        this request: if it holds what the request asks for it is reported as
        done (its flag version is saved if missing); if not, that EB fails
        naming each difference, and the output is left as it is.
    dryrun : bool
        Report the plan and write no MS (only the delivery report shows the plan).
    width, timebin : int or str, str
        CASA split's channel and time averaging, done while splitting
        (``width=8, timebin='12s'``); no averaging by default. A width that is
        not a positive channel count, or a timebin that is not a time, is
        refused before anything runs (CASA would split without averaging).
    parallel : bool or None
        None (default): under MPI (``mpicasa``/``mpirun``) on the casampi
        servers only where they win, else serially; True forces the servers
        (an error outside MPI); False forces serial. Under None the client
        splits serially without starting the servers' workers; the choice
        and its reason are logged and in ``result['parallel']``
        (``casa_plugin.parallel.policy`` decides).
    maxjobs : int, optional
        Under MPI, EBs run at once per host; default the policy's.
    totalpower : bool
        False (default): a total-power EB (single-dish, FLOAT_DATA) is
        skipped, its line, result and record saying why; True splits it too.

    Returns
    -------
    dict
        ``{'task', 'ebs': {vis: result}, 'counts': {status: n}}``; each result
        holds ``status`` (split, done, planned, skipped, failed), ``outputvis``, ``spw``,
        ``spw_map`` (old -> new id), ``nrows``, ``seconds``, ``flagversions``.
        Each output directory gets a ``casa_plugin_record.json``, and
        ``<project>/casa_plugin_report/`` is rewritten.

    Raises
    ------
    FileNotFoundError, ValueError, TypeError
        For bad arguments, before anything is written.
    SplitError
        After every EB was processed, if any failed; ``.results`` holds the per-EB results.
    """
    with task_logging("split_sci"):
        jobs = _science_jobs(vis, outputvis=outputvis, intent=intent, minnchan=minnchan, spw=spw,
                             datacolumn=datacolumn, reindex=reindex, flagversion=flagversion, overwrite=overwrite,
                             dryrun=dryrun, width=width, timebin=timebin, totalpower=totalpower)
        _check_parallel(parallel)
        return run_eb_jobs("split_sci", "casa_plugin.split.jobs:science_job",
                           science_plans(jobs, rows=_policy_rows(parallel)), parallel=parallel, maxjobs=maxjobs,
                           defaults=_defaults(split_sci))


def _science_jobs(vis, *, outputvis, intent, minnchan, spw, datacolumn, reindex, flagversion, overwrite, dryrun,
                  width, timebin, totalpower):
    _common_checks(outputvis, datacolumn, flagversion, overwrite, dryrun, totalpower)
    _require("intent", intent, str, "a string")
    _require("minnchan", minnchan, int, "an integer")
    _require("reindex", reindex, (bool, type(None)), "True, False or None (the member's numbering)")
    _require("width", width, (int, str), "a channel count (int) or CASA width string")
    _require("timebin", timebin, str, "a CASA time string such as '12s'")
    _check_averaging(width, timebin)
    spw = _normal_spw(spw)
    paths = _absolute(expand_vis(vis))
    _refuse_science_splits(paths, datacolumn)
    return resolve([{"vis": v, "outputvis": o, "intent": intent, "minnchan": minnchan, "spw": spw,
                     "datacolumn": datacolumn, "reindex": reindex, "flagversion": flagversion,
                     "overwrite": overwrite, "dryrun": dryrun, "width": width, "timebin": timebin,
                     "totalpower": totalpower}
                    for v, o in zip(paths, _outputs(paths, outputvis, ".split.cal"))])


#: A time CASA's split averages over: a number and a unit of time.
_TIMEBIN = re.compile(r"^\s*(\d+(\.\d*)?|\.\d+)\s*(s|ms|us|min|h|d)\s*$")


def _check_averaging(width, timebin):
    """Refuse a width or timebin CASA would not average with: it warns, or not, and splits unaveraged, so the
    output would say less than the request and the record."""
    parts = str(width).replace(" ", "").split(",")
    if not all(p.isdigit() and int(p) >= 1 for p in parts):
        raise ValueError("width=%r: give the number of channels to average, a positive integer such as 8 (or one "
                         "per spw: '8,8,4,4'); 1 averages nothing" % (width,))
    if timebin.strip() not in ("", "0") and not _TIMEBIN.match(timebin):
        raise ValueError("timebin=%r: give a time such as '12s', '30s' or '1.5min' to average over; '0s' "
                         "averages nothing" % (timebin,))


def _target_jobs(paths, *, outputvis, intent, datacolumn, flagversion, overwrite, dryrun, totalpower):
    _common_checks(outputvis, datacolumn, flagversion, overwrite, dryrun, totalpower)
    _require("intent", intent, str, "a string")
    return [{"vis": v, "outputvis": o, "intent": intent, "datacolumn": datacolumn,
             "flagversion": flagversion, "overwrite": overwrite, "dryrun": dryrun, "totalpower": totalpower}
            for v, o in zip(paths, _outputs(paths, outputvis, ".source"))]


def _check_parallel(parallel):
    if parallel is not None and not isinstance(parallel, bool):
        raise TypeError("parallel must be None (auto), True or False, not %r" % (parallel,))


def _policy_rows(parallel):
    """True if the plans should count their inputs' rows: under MPI the policy weighs them (serially unused)."""
    return parallel is not False and bool(server_ranks())


def split_tgt(vis="", *, outputvis="", intent="*TARGET*", datacolumn=None, flagversion="original_flags",
              overwrite=False, dryrun=False, parallel=None, maxjobs=None, totalpower=False):
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
    datacolumn : str, optional
        Column to split; None (default) splits DATA, which a ``.split.cal``
        holds calibrated. With None, a ``.split.cal`` that also has CORRECTED_DATA
        (a manual member's flux script recalibrated it) gives ``'corrected'``,
        and its line says so; an input with CORRECTED_DATA that is not a
        ``.split.cal`` (a restored EB) is an error, as its DATA is
        uncalibrated: run ``split_sci`` first, or give ``datacolumn``.
    flagversion, overwrite, dryrun, parallel, maxjobs, totalpower
        As for ``split_sci``. Flag versions of the input are never carried over.
        An existing ``.source`` whose ``.split.cal`` was remade after it (its
        record says so) is stale: that EB fails until ``overwrite=True`` redoes it.

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
        jobs = _target_jobs(_absolute(expand_vis(vis, suffix=".split.cal")), outputvis=outputvis, intent=intent,
                            datacolumn=datacolumn, flagversion=flagversion, overwrite=overwrite, dryrun=dryrun,
                            totalpower=totalpower)
        _check_parallel(parallel)
        return run_eb_jobs("split_tgt", "casa_plugin.split.jobs:target_job",
                           target_plans(jobs, rows=_policy_rows(parallel)), parallel=parallel, maxjobs=maxjobs,
                           defaults=_defaults(split_tgt))


def split_sci_tgt(vis="", *, intent="OBSERVE_TARGET*", minnchan=5, spw="", datacolumn="corrected", reindex=None,
                  target_intent="*TARGET*", flagversion="original_flags", overwrite=False, dryrun=False, width=1,
                  timebin="0s", parallel=None, maxjobs=None, totalpower=False):
    """Run split_sci and then split_tgt on each EB as one job: the chain the recipes use.

    Each EB's science split, flag version, target split and flag version run
    one after the other in the same process (an MPI server under MPI), so no
    EB waits for the slowest EB of the previous step and the target split
    reads a ``.split.cal`` still in that host's page cache. EBs of all members
    below ``vis`` form one queue. Parameters are those of ``split_sci`` (with
    ``target_intent`` as ``split_tgt``'s ``intent``; ``datacolumn`` is
    ``split_sci``'s, the target split reads as ``split_tgt``'s default does).

    Returns
    -------
    dict
        ``{'sci': split_sci's result, 'tgt': split_tgt's result}``.

    Raises
    ------
    SplitError
        After every EB was processed, if any step failed.
    """
    with task_logging("split_sci_tgt"):
        sci = _science_jobs(vis, outputvis="", intent=intent, minnchan=minnchan, spw=spw, datacolumn=datacolumn,
                            reindex=reindex, flagversion=flagversion, overwrite=overwrite, dryrun=dryrun,
                            width=width, timebin=timebin, totalpower=totalpower)
        tgt = _target_jobs([j["outputvis"] for j in sci], outputvis="", intent=target_intent, datacolumn=None,
                           flagversion=flagversion, overwrite=overwrite, dryrun=dryrun, totalpower=totalpower)
        _check_parallel(parallel)
        return run_chain_jobs(chain_plans(sci, tgt, rows=_policy_rows(parallel)), parallel=parallel,
                              maxjobs=maxjobs, defaults=(_defaults(split_sci), _defaults(split_tgt)))
