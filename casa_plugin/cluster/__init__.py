"""A whole programme on a batch cluster: one job per member (restore, then split), submitted and followed.

``python -m casa_plugin submit PROJECT --scheduler slurm`` and ``python -m casa_plugin status PROJECT``
(:mod:`.cli`); the scheduler behind one interface (:mod:`.scheduler`).
"""

from .scheduler import Scheduler, Slurm, scheduler_named
from .status import project_status
from .submit import submit

__all__ = ["submit", "project_status", "Scheduler", "Slurm", "scheduler_named"]
