"""How many members to restore at once, and why: cores, memory per restore, disk per filesystem, MPI servers."""

import logging
import os

from ..parallel import server_ranks
from ..staging import size_text
from .preflight import rule_at

__all__ = ["MEMORY_PER_RESTORE", "MIN_PARALLEL_RAW", "RETAINED_PER_RAW", "check_parallel", "check_disk_together",
           "decide", "DiskBudget"]

log = logging.getLogger(__name__)

#: Memory assumed for one member's restore: a CASA process with the pipeline loaded (~1-1.5 GB resident)
#: plus importasdm's and applycal's buffers (a few hundred MB to ~2 GB, with the rows per integration).
#: An assumption, not a measurement of the ALMA pipeline (a child CASA restoring 50 MB EBs with the tests'
#: stand-in peaked at ~350 MB resident here); fewer members run at once rather than swap.
MEMORY_PER_RESTORE = 4 << 30
#: What a restored member leaves on raw/'s filesystem, at least, per byte of its raw/: the restored MS (DATA and
#: CORRECTED_DATA). Measured here: 1.4 for an alma12m EB of 3.9 GB restored from its 2.6 GB ASDM (importasdm +
#: applycal), whose restore peaked at 0.64 GB resident. The pipeline's working files come on top at SPACESAVING 0-1.
RETAINED_PER_RAW = 1.4
#: parallel=None restores members side by side only when at least two have this much in raw/: each
#: child CASA costs ~5-10 s to start, which must be small against its restore (~1 min per GB here).
MIN_PARALLEL_RAW = 1 << 30


def check_parallel(parallel):
    """Raise TypeError/ValueError unless ``parallel`` is None, True, False or a whole number >= 1."""
    if parallel is None or isinstance(parallel, bool):
        return
    if not isinstance(parallel, int):
        raise TypeError("parallel must be None (auto), True, False or the number of members restored at once, "
                        "not %r" % (parallel,))
    if parallel < 1:
        raise ValueError("parallel=%r: give the number of members restored at once (>= 1), True, False or None"
                         % (parallel,))


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _available_memory():
    """MemAvailable of /proc/meminfo in bytes; None where there is none."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _device(plan):
    raw = os.path.join(plan["member"], "raw")
    return os.stat(raw if os.path.isdir(raw) else plan["member"]).st_dev


def _need(plan):
    disk = plan.get("disk") or {}
    return disk.get("needed", 0) if disk.get("checked") else 0


def check_disk_together(plans):
    """Warn where members share raw/'s filesystem and what the first restores leave there will likely make a later
    member's scriptForPI stop on its own disk check (each member was checked alone); return the warnings.

    The preflight cannot know what a restore leaves behind: it takes at least ``RETAINED_PER_RAW`` x raw/.
    """
    groups = {}
    for plan in plans:
        disk = plan.get("disk") or {}
        if plan.get("status") == "restore" and disk.get("checked") and disk.get("free") is not None:
            groups.setdefault(_device(plan), []).append(plan)
    warnings = []
    for group in groups.values():
        free, left = min(p["disk"]["free"] for p in group), 0.0
        for i, plan in enumerate(group):
            disk = plan["disk"]
            if i and disk["needed"] > free - left:
                names = [os.path.basename(p["member"]) for p in group[i:]]
                lower = rule_at(disk, 2)["needed"]
                text = ("restore_pi: %d members share raw/'s filesystem (%s free). Each fits alone, but the %s "
                        "restored before %s leave%s at least ~%s there (%.1f x their raw/), and its scriptForPI "
                        "needs %s by its own rule, so that check will likely stop %s. The run goes on; to avoid "
                        "it, restore fewer members per call and free space between calls, or pass spacesaving=2 "
                        "(%s for %s)" % (
                            len(group), size_text(free), "member" if i == 1 else "%d members" % i, names[0],
                            "s" if i == 1 else "", size_text(left), RETAINED_PER_RAW,
                            size_text(disk["needed"]), names[0] if len(names) == 1 else "it and the %d after it" % (
                                len(names) - 1), size_text(lower), names[0]))
                log.warning(text)
                warnings.append(text)
                for later in group[i:]:
                    later["disk"]["note"] = "likely stopped by its scriptForPI's own check: " + text
                break
            left += RETAINED_PER_RAW * disk["raw"]
    return warnings


class DiskBudget(object):
    """The scriptForPI's disk need of the members running at once, per filesystem, against its free space."""

    def __init__(self, plans):
        self.free, self.running = {}, {}
        for plan in plans:
            dev = _device(plan)
            free = (plan.get("disk") or {}).get("free")
            if free is not None:
                self.free[dev] = min(free, self.free.get(dev, free))

    def fits(self, plan):
        """True if ``plan`` can start beside the running ones (always when nothing runs on its filesystem)."""
        dev, need = _device(plan), _need(plan)
        running = self.running.get(dev, [])
        return not running or dev not in self.free or sum(running) + need <= self.free[dev]

    def start(self, plan):
        self.running.setdefault(_device(plan), []).append(_need(plan))

    def finish(self, plan):
        self.running[_device(plan)].remove(_need(plan))

    def at_once(self, plans):
        """Return ``(n, reason)``: how many of ``plans`` surely fit at once (the largest needs first)."""
        limit, reason = len(plans), None
        by_dev = {}
        for plan in plans:
            by_dev.setdefault(_device(plan), []).append(_need(plan))
        for dev, needs in by_dev.items():
            if dev not in self.free:
                continue
            total, n = 0, 0
            for need in sorted(needs, reverse=True):
                if total + need > self.free[dev] and n:
                    break
                total, n = total + need, n + 1
            if n < min(limit, len(needs)):
                limit = n
                reason = ("disk: the scriptForPI's needs of the %d largest members on one filesystem add up to more "
                          "than its %.1f GB free" % (n + 1, self.free[dev] / 1e9))
        return max(limit, 1), reason


def decide(plans, parallel):
    """Decide how the members of ``plans`` are restored; return ``{'mode', 'at_once', 'reason', ...}``.

    ``mode`` is ``'serial'`` (one after the other in this process), ``'local'``
    (``at_once`` child CASA processes here) or ``'mpi'`` (on the casampi
    servers: ``at_once`` per host, ``wave`` members dispatched together).
    """
    todo = [p for p in plans if p["status"] == "restore"]
    servers = server_ranks()
    if parallel is False:
        return {"mode": "serial", "at_once": 1, "reason": "parallel=False"}
    if len(todo) < 2:
        return {"mode": "serial", "at_once": 1, "reason": "%d member(s) to restore" % len(todo)}
    if parallel == 1 and parallel is not True and not servers:
        return {"mode": "serial", "at_once": 1, "reason": "parallel=1"}
    raws = sorted(((p.get("disk") or {}).get("raw", 0) for p in todo), reverse=True)
    if parallel is None and raws[1] < MIN_PARALLEL_RAW:
        return {"mode": "serial", "at_once": 1, "reason": (
            "parallel=None: fewer than two members with %.0f GB or more in raw/; starting a CASA per member "
            "would cost more than restoring them side by side saves (pass parallel=True or N to insist)"
            % (MIN_PARALLEL_RAW / 1e9))}
    disk_limit, disk_reason = DiskBudget(todo).at_once(todo)
    asked = len(todo) if parallel in (None, True) else min(parallel, len(todo))
    if servers:
        per_host = len(servers) if parallel in (None, True) else parallel
        wave = disk_limit if disk_limit < min(len(servers), len(todo)) else len(todo)
        reason = "under MPI: on %d casampi server(s), at most %d per host" % (len(servers), per_host)
        if wave < len(todo):
            reason += "; %s, so members are dispatched %d at a time" % (disk_reason, wave)
        return {"mode": "mpi", "at_once": per_host, "wave": wave, "reason": reason, "servers": len(servers)}
    limits = [(asked, "parallel=%r, %d members to restore" % (parallel, len(todo)))]
    if parallel in (None, True):
        limits.append((_cores(), "%d core(s)" % _cores()))
    memory = _available_memory()
    if memory is not None:
        limits.append((max(1, int(memory // MEMORY_PER_RESTORE)), "memory: %.1f GB available, %.0f GB assumed "
                       "per restore" % (memory / 1e9, MEMORY_PER_RESTORE / 1e9)))
    limits.append((disk_limit, disk_reason or "disk"))
    at_once, why = min(limits, key=lambda item: item[0])
    if at_once < 2:
        return {"mode": "serial", "at_once": 1, "reason": "one member at a time: " + why}
    return {"mode": "local", "at_once": at_once, "reason": "%d members at once, each in its own CASA process "
            "(limited by %s)" % (at_once, why)}
