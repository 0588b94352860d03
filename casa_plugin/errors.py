"""Package exceptions: failed restores and splits (each carries the per-EB results), and no parallel servers."""

__all__ = ["RestoreError", "SplitError", "ParallelUnavailable"]


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
