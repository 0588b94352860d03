"""casa_plugin: restore ALMA pipeline calibration and split science spws and targets, per EB, in CASA."""

__version__ = "0.1.0"

from .errors import RestoreError, SplitError  # noqa: E402
from .restore import restore_pi  # noqa: E402
from .split_tasks import split_sci, split_sci_tgt, split_tgt  # noqa: E402
from .mpi_dispatch import start_workers as _start_workers  # noqa: E402

_start_workers()  # under MPI: the casampi servers' workers start now, ready for the first parallel split

__all__ = ["restore_pi", "split_sci", "split_tgt", "split_sci_tgt", "RestoreError", "SplitError", "__version__"]
