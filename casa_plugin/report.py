"""Format task results as a per-member, per-EB table for the terminal."""

import os

from . import record as run_record
from .delivery.arrays import member_array, sort_key
from .ms import is_ms

__all__ = ["summary_table", "member_of", "project_of", "project_dir", "TaskResult"]


def _last(path, prefix):
    """``(its parts, the index of the last part starting with prefix or None)`` of the absolute ``path``."""
    parts = os.path.abspath(path).split(os.sep)
    found = [i for i, p in enumerate(parts) if p.startswith(prefix)]
    return parts, (found[-1] if found else None)


def member_of(path):
    """Return the member (MOUS) uid a path lies in, e.g. ``uid___A001_X3_X5``, else its directory."""
    member = _member_dir(path)
    name = os.path.basename(member)
    return name[len("member."):] if name.startswith("member.") else member


def _member_dir(path):
    """The member directory a path lies in (``.../member.uid___...``), else the path's directory."""
    parts, i = _last(path, "member.")
    return os.sep.join(parts[:i + 1]) if i is not None else os.path.dirname(os.path.abspath(path))


def project_of(path):
    """Return the project directory name a path lies in (the one above ``science_goal.*``), else ''."""
    parts, i = _last(path, "science_goal.")
    return parts[i - 1] if i else ""


def project_dir(path):
    """The project directory a path lies in (the one above ``science_goal.*``), else the path's parent."""
    parts, i = _last(path, "science_goal.")
    return os.sep.join(parts[:i]) if i else os.path.dirname(os.path.abspath(path))


#: How the table names a batch job's stop (the record's ``stopped``), after "interrupted".
_STOPPED = {"CANCELLED": "cancelled", "TIMEOUT": "time limit"}


def _stopped(status, entry):
    """``status``, with the cause when a batch job's scheduler stopped the run: ``interrupted (time limit)``."""
    reason = (entry.get("stopped") or {}).get("reason")
    return "%s (%s)" % (status, _STOPPED.get(reason, reason)) if reason and status == "interrupted" else status


def _status(result):
    if result is None:
        return "-"
    status = result.get("status", "?")
    if status == "failed" and result.get("dryrun"):
        return "would fail"  # a dry run wrote nothing: its outputs are as they were
    if status == "done" and result.get("made_by") in ("scriptForPI", "archive"):
        return "done (%s)" % result["made_by"]
    if result.get("seconds") is not None and status == "split":
        return "%s %.1fs" % (status, result["seconds"])
    if status in ("failed", "interrupted", "skipped") and is_ms(result.get("outputvis") or ""):
        return "kept (%s)" % _stopped(status, result)  # an output made before is intact, as the report says
    return _stopped(status, result)


def _restore_status(vis, known):
    """The restore status the record beside ``vis`` (its ``calibrated/``) keeps, else '-'."""
    directory = os.path.dirname(os.path.abspath(vis))
    if directory not in known:
        try:
            restore = run_record.load(directory).get("restore") or {}
            known[directory] = _stopped(restore.get("status") or "-", restore)
        except (OSError, ValueError):
            known[directory] = "-"
    return known[directory]


def _array_of(row, known):
    """The array of a row's member: its restore plan's, else read from the member (once per member)."""
    if row.get("array"):
        return row["array"]
    vis = (row.get("sci") or row.get("tgt") or {}).get("vis")
    member = row.get("member_dir") or (os.path.dirname(os.path.dirname(os.path.abspath(vis))) if vis else None)
    if member not in known:
        known[member] = member_array(member) if member and os.path.basename(member).startswith("member.") \
            else None
    return known[member]


_SHORT = {"12m": "12 m", "7m": "7 m", "TP": "TP"}


def summary_table(restored=None, science=None, target=None):
    """Return a text table: member, EB, science spws, ``.split.cal`` and ``.source`` status, fields.

    Members are listed 12 m, 7 m, then total power; a project mixing arrays gets an array column.

    Parameters
    ----------
    restored, science, target : dict, optional
        The results of ``restore_pi``, ``split_sci`` and ``split_tgt``.
    """
    rows = {}  # by member directory and EB: two copies of a project (or of a member) keep a row each
    for result in ((science or {}).get("ebs") or {}).values():
        row = rows.setdefault((_member_dir(result["vis"]), result["eb"]), {})
        row["sci"] = result
    for result in ((target or {}).get("ebs") or {}).values():
        row = rows.setdefault((_member_dir(result["vis"]), result["eb"]), {})
        row["tgt"] = result
    for member, plan in ((restored or {}).get("members") or {}).items():
        for eb in plan.get("ebs") or []:
            row = rows.setdefault((_member_dir(member + os.sep + "x"), eb), {})
            row["restore"] = _stopped(plan.get("status"), plan)
            row["array"], row["member_dir"] = plan.get("array"), member
    restores, arrays = {}, {}
    for row in rows.values():
        if "restore" not in row:  # a split's EB: as its calibrated/'s record says it was restored
            vis = (row.get("sci") or row.get("tgt") or {}).get("vis")
            row["restore"] = _restore_status(vis, restores) if vis else "-"
        row["array"] = _array_of(row, arrays)
    mixed = len(set(row["array"] for row in rows.values())) > 1
    # one member uid in several directories (copies of a project): a project column tells their rows apart
    several = len(set(member_of(d + os.sep + "x") for d, _ in rows)) < len(set(d for d, _ in rows))
    header = (("project",) if several else ()) + ("member",) + (("array",) if mixed else ()) + (
        "EB", "restore", "science spws", ".split.cal", ".source", "target fields")
    lines = [header]
    for (member_dir, eb), row in sorted(rows.items(), key=lambda kv: (sort_key(kv[1]["array"]), kv[0])):
        sci, tgt = row.get("sci"), row.get("tgt")
        spws = ",".join(str(s) for s in (sci or {}).get("spw") or []) or "-"
        fields = ",".join((tgt or {}).get("fields") or []) or "-"
        member = member_of(member_dir + os.sep + "x")
        lines.append(((project_dir(member_dir),) if several else ()) + (member,) + (
            (_SHORT.get(row["array"], "-"),) if mixed else ()) + (
            eb, row.get("restore", "-"), spws, _status(sci), _status(tgt), fields))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    text = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines]
    text.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(text)


class TaskResult(dict):
    """A task's result: a plain dict, shown at the prompt as its short per-member, per-EB table."""

    def _table(self):
        if "members" in self:
            return summary_table(restored=self)
        if "sci" in self or "tgt" in self:
            return summary_table(science=self.get("sci"), target=self.get("tgt"))
        if self.get("task") == "split_tgt":
            return summary_table(target=self)
        return summary_table(science=self)

    def __repr__(self):
        return "%s\n(a dict with keys %s)" % (self._table(), ", ".join(repr(k) for k in self))

    __str__ = __repr__

    def _repr_pretty_(self, printer, cycle):
        printer.text(repr(self))
