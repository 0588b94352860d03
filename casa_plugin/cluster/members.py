"""How far a member is on disk: not restored, restore incomplete, restored (splits to do), or done."""

import os

from .. import record as run_record
from ..delivery import member_ebs
from ..restore.preflight import calibrated_products

__all__ = ["NEW", "INCOMPLETE", "RESTORED", "DONE", "member_progress"]

NEW, INCOMPLETE, RESTORED, DONE = "not restored", "restore incomplete", "restored", "done"
_FINISHED_SPLIT = ("split", "done")


def member_progress(member):
    """Return ``NEW``, ``INCOMPLETE`` (calibrated/ exists, an EB's MS is missing or its recorded restore was
    interrupted or failed), ``RESTORED`` (complete, but an EB lacks a recorded science or target split) or
    ``DONE`` (restored and both splits of every EB recorded as made or checked)."""
    calibrated = os.path.join(member, "calibrated")
    if not os.path.lexists(calibrated):
        return NEW
    ebs = member_ebs(member)[0]
    missing = calibrated_products(member, ebs)[1]
    try:
        record = run_record.load(calibrated)
    except (OSError, ValueError):
        return INCOMPLETE
    if not ebs or missing or (record.get("restore") or {}).get("status") in ("interrupted", "failed"):
        return INCOMPLETE
    splits = run_record.by_eb(record)
    for eb in ebs:
        tasks = splits.get(eb, {})
        if any((tasks.get(t) or {}).get("status") not in _FINISHED_SPLIT for t in ("split_sci", "split_tgt")):
            return RESTORED
    return DONE
