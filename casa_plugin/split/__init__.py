"""split_sci, split_tgt and split_sci_tgt: science spw selection, per-EB jobs, outputs bound to their request."""

from .tasks import split_sci, split_sci_tgt, split_tgt

__all__ = ["split_sci", "split_tgt", "split_sci_tgt"]
