"""One plan per EB: its input resolved and measured once, on the client, before any work starts.

A split task turns ``vis`` into plans here and nowhere else: the runner, the
parallel policy and dispatcher, the per-EB jobs (serially, or pickled to a
casampi server's worker) and the delivery report read the plan, so no stage
resolves an EB's restored MS or measures its size a second time.
"""

import logging
import os
from collections import namedtuple

from .delivery import restored_ms
from .ms import du_bytes, is_ms
from .report import member_of, project_of

__all__ = ["Plan", "Chain", "science_plans", "target_plans", "chain_plans", "count_rows"]

log = logging.getLogger(__name__)

_FIELDS = ("task", "vis", "input", "outputvis", "request", "input_bytes", "input_rows", "spws", "member", "project",
           "work_bytes")


class Plan(namedtuple("Plan", _FIELDS)):
    """What one split task does with one EB.

    Attributes
    ----------
    task : str
        ``'split_sci'`` or ``'split_tgt'``.
    vis : str
        The input as the user named it (absolute; for split_sci the EB's ``calibrated/uid*.ms``).
    input : str
        The MS the split reads: the EB's restored MS (``vis``, else ``working/<name>`` beside it after a
        scriptForPI with ``DOSPLIT``), or the ``.split.cal`` for split_tgt.
    outputvis : str
        The output to make or check.
    request : dict
        The task's options for this EB (``intent``, ``datacolumn``, ``overwrite``, ``dryrun``...; split_sci's
        ``reindex`` as the member's numbering decided it, with its ``numbering`` note). Never changed.
    input_bytes : int or None
        Bytes of ``input`` (0: it does not exist; None: it is made in this call, by the chain's science split).
    input_rows : int or None
        Main-table rows of ``input``, where counted (under MPI, for the policy).
    spws : list of int or None
        The science spws, where the request names them (``spw``); else chosen by the job from the input.
    member, project : str
        The member (MOUS uid) and project the EB belongs to (``report.member_of``, ``report.project_of``).
    work_bytes : int
        The input bytes the job will split: 0 for a dry run or an output that exists and is only checked.
    """

    __slots__ = ()

    @property
    def dryrun(self):
        return bool(self.request.get("dryrun"))

    @property
    def overwrite(self):
        return bool(self.request.get("overwrite"))

    def options(self):
        """The request with ``vis`` and ``outputvis``: the dict the split steps and requests are made from."""
        return dict(self.request, vis=self.vis, outputvis=self.outputvis)


class Chain(namedtuple("Chain", ("sci", "tgt", "work_bytes"))):
    """One EB of split_sci_tgt: its science split's plan, then its target split's, run as one job."""

    __slots__ = ()

    @property
    def vis(self):
        return self.sci.vis

    @property
    def input_bytes(self):
        return self.sci.input_bytes

    @property
    def input_rows(self):
        return self.sci.input_rows

    @property
    def request(self):
        return self.sci.request


def _only_checked(outputvis, request):
    """True if the output exists and is not to be replaced: the step checks it, splits nothing."""
    return os.path.lexists(outputvis) and not request.get("overwrite")


def _bytes(path):
    return du_bytes(os.path.realpath(path)) if os.path.exists(path) else 0


def count_rows(vis):
    """Main-table rows of ``vis`` (opening a table reads only its ``table.dat``); None if not an MS or unreadable."""
    try:
        from .ms import casa
        if not is_ms(vis):  # an input still to be made: no table error in the log
            return None
        tb = casa.table()
        tb.open(vis)
        try:
            return int(tb.nrows())
        finally:
            tb.close()
    except Exception as exc:  # no casatools, an unreadable table...: weighed by its bytes only
        log.debug("plan: could not count the rows of %s (%s)", vis, exc)
        return None


def _plan(task, job, source, size, rows):
    request = dict((k, v) for k, v in job.items() if k not in ("vis", "outputvis"))
    work = 0 if request.get("dryrun") or _only_checked(job["outputvis"], request) else (size or 0)
    spw = request.get("spw")
    return Plan(task=task, vis=job["vis"], input=source, outputvis=job["outputvis"], request=request,
                input_bytes=size, input_rows=count_rows(source) if rows and work else None,
                spws=[int(s) for s in spw.split(",")] if spw else None, member=member_of(job["vis"]),
                project=project_of(job["vis"]), work_bytes=work)


def science_plans(jobs, *, rows=False):
    """Plans of split_sci from its option dicts (``vis``, ``outputvis`` and the options); ``rows``: count rows."""
    plans = []
    for job in jobs:
        source = restored_ms(job["vis"])  # DOSPLIT: the restored MS is only in working/
        plans.append(_plan("split_sci", job, source, _bytes(source), rows))
    return plans


def target_plans(jobs, *, rows=False):
    """Plans of split_tgt from its option dicts; the input is the ``.split.cal`` named."""
    return [_plan("split_tgt", job, job["vis"], _bytes(job["vis"]), rows) for job in jobs]


def chain_plans(sci_jobs, tgt_jobs, *, rows=False):
    """Chains of split_sci_tgt. A target split whose ``.split.cal`` the science split makes in this call is not
    measured now: the chain passes it the size the science split measured of its output."""
    chains = []
    for sci_job, tgt_job in zip(sci_jobs, tgt_jobs):
        sci_request = dict((k, v) for k, v in sci_job.items() if k not in ("vis", "outputvis"))
        remade = not sci_request.get("dryrun") and not _only_checked(sci_job["outputvis"], sci_request)
        tgt_request = dict((k, v) for k, v in tgt_job.items() if k not in ("vis", "outputvis"))
        checked = _only_checked(sci_job["outputvis"], sci_request) and _only_checked(tgt_job["outputvis"],
                                                                                    tgt_request)
        sci = science_plans([sci_job], rows=False)[0]
        work = 0 if sci.dryrun or checked else (sci.input_bytes or 0)
        if rows and work:
            sci = sci._replace(input_rows=count_rows(sci.input))
        tgt = _plan("split_tgt", tgt_job, tgt_job["vis"], None if remade else _bytes(tgt_job["vis"]), False)
        chains.append(Chain(sci=sci, tgt=tgt, work_bytes=work))
    return chains
