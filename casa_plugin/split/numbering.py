"""split_sci's spw numbering when ``reindex`` is not given: one numbering per member.

ALMA's scriptForPI splits with ``DOSPLIT`` keep the input's spw ids when all
EBs of the member share them (else it re-indexes, as CASA's split does); a
manual member's scriptForCalibration re-indexes. ``concat`` and ``tclean``
need the ``.split.cal`` of a member numbered one way. So ``reindex=None`` (the
default) follows the ``uid*.ms.split.cal`` already in the EB's directory: if
they keep the input's ids, new splits keep them too (``reindex=False``), and
the script's own splits count as made; with none there, or all numbered from
0, it numbers from 0 (``reindex=True``, CASA's split). A directory holding
both kinds is refused, naming them, since no choice would be right for both.
An explicit ``reindex=True`` or ``False`` is binding, as before.
"""

import glob
import os

from .. import record as run_record
from ..delivery import is_eb_name
from ..ms import is_ms, read_contents

__all__ = ["resolve", "numbering_of"]


def numbering_of(path, entry=None):
    """``'kept'`` if the split ``path`` keeps its input's spw ids, ``'from 0'`` if its ids are 0..n-1, or None
    (not a readable MS). ``entry`` is its run-record entry, read instead of the MS where it holds the ids."""
    request = (entry or {}).get("request") or {}
    if entry and entry.get("made_by") == "casa_plugin" and request.get("reindex") is False:
        return "kept"  # made keeping the ids, even if they happen to be 0..n-1
    spws = ((entry or {}).get("contents") or {}).get("spws")
    if spws is None:
        if not is_ms(path):
            return None
        try:
            spws = read_contents(path)["spws"]
        except ValueError:
            return None
    ids = sorted(int(s) for s in spws)
    return "from 0" if ids == list(range(len(ids))) else "kept"


def _splits_in(directory):
    return sorted(p for p in glob.glob(os.path.join(glob.escape(directory), "uid___*.ms.split.cal"))
                  if is_eb_name(os.path.basename(p)[:-len(".split.cal")]))


def _names(paths):
    return ", ".join(os.path.basename(p) for p in paths)


def _decide(directory):
    """``(reindex, note)`` for new splits of the EBs in ``directory``; raises ValueError on a mix."""
    paths = _splits_in(directory)
    entries = run_record.entries_of(paths) if paths else {}
    kinds = {}
    for path in paths:
        kind = numbering_of(path, entries.get(path))
        if kind:
            kinds.setdefault(kind, []).append(path)
    if len(kinds) > 1:
        raise ValueError(
            "%s: its .split.cal are numbered two ways: %s keep the input's spw ids, %s number them from 0. "
            "concat and tclean need one numbering, so split_sci cannot choose one for this member. Redo the "
            "odd ones like the others, e.g. split_sci(vis=[...], reindex=False, overwrite=True), or pass "
            "reindex=True or reindex=False to split every EB by that rule" % (
                directory, _names(kinds["kept"]), _names(kinds["from 0"])))
    if "kept" in kinds:
        return False, "spw ids kept (the input's), as in the %d .split.cal already in %s" % (
            len(kinds["kept"]), os.path.basename(directory) or directory)
    return True, None


def resolve(jobs):
    """Set ``reindex`` (and a ``numbering`` note where ids are kept) on split_sci jobs that leave it None.

    Jobs are grouped by their EB's directory; raises ValueError naming the
    directory and its splits if one of them holds both numberings.
    """
    decided = {}
    for job in jobs:
        if job["reindex"] is not None:
            continue
        directory = os.path.dirname(job["vis"])
        if directory not in decided:
            decided[directory] = _decide(directory)
        job["reindex"], note = decided[directory]
        job["reindex_from"] = "member"  # not given: decided again by a call that leaves it None
        if note:
            job["numbering"] = note
    return jobs
