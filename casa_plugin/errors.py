"""Package exceptions: failed restores and splits (each carries the per-EB results), no parallel servers, and a
batch job stopped by its scheduler."""

__all__ = ["RestoreError", "SplitError", "ParallelUnavailable", "JobStopped", "interruption"]


class _ResultsError(RuntimeError):
    """A task failed for one or more members or EBs; ``results`` holds what happened to each."""

    def __init__(self, message, results=None):
        super(_ResultsError, self).__init__(message)
        self.results = results if results is not None else {}


class RestoreError(_ResultsError):
    """``restore_pi`` could not restore one or more members (preflight, scriptForPI or postflight)."""


class SplitError(_ResultsError):
    """``split_sci`` or ``split_tgt`` failed for one or more EBs; the others were still processed."""


class ParallelUnavailable(RuntimeError):
    """``parallel=True`` was asked for but no casampi server can run EBs (not under MPI, or none started)."""


class JobStopped(KeyboardInterrupt):
    """A batch job's SIGTERM, handled as Ctrl-C: ``reason`` is the scheduler's (``CANCELLED`` or ``TIMEOUT``).

    The message is what the run records say instead of "interrupted (Ctrl-C)", e.g. "cancelled by the scheduler
    (scancel), job 123" or "stopped at the job's time limit, job 123".
    """

    _TEXT = {"CANCELLED": "cancelled by the scheduler (scancel)", "TIMEOUT": "stopped at the job's time limit"}

    def __init__(self, reason, job_id=None):
        text = self._TEXT.get(reason, "stopped by the scheduler (%s)" % reason)
        super(JobStopped, self).__init__(text + (", job %s" % job_id if job_id else ""))
        self.reason, self.job_id = reason, job_id


def interruption(exc):
    """What a run record says of the interrupt ``exc``: ``{'error', 'stopped': {'reason', 'job_id'}}`` for a
    batch job stopped by its scheduler, ``{'error': 'interrupted (Ctrl-C)'}`` for a Ctrl-C."""
    if isinstance(exc, JobStopped):
        return {"error": str(exc), "stopped": {"reason": exc.reason, "job_id": exc.job_id}}
    return {"error": "interrupted (Ctrl-C)"}
