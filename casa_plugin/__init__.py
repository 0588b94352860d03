"""casa_plugin: restore ALMA pipeline calibration and split science spws and targets, per EB, in CASA.

Importing the package only defines names. ``init.py`` (CASA's startup file) and
the recipes put the tasks at the prompt and start the MPI servers' workers.
"""

__version__ = "0.1.0"

from .errors import ParallelUnavailable, RestoreError, SplitError  # noqa: E402
from .restore import restore_pi  # noqa: E402
from .split import split_sci, split_sci_tgt, split_tgt  # noqa: E402

__all__ = ["restore_pi", "split_sci", "split_tgt", "split_sci_tgt", "RestoreError", "SplitError",
           "ParallelUnavailable", "__version__"]
