"""restore_pi and its stages: preflight checks, CASA versions, the scriptForPI run, another CASA process."""

from .task import restore_pi

__all__ = ["restore_pi"]
