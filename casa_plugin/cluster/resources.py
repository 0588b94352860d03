"""What one member's job asks of the scheduler (memory, time, cores), by member kind, and raised after a failure."""

import logging
import os

from ..restore.concurrency import MEMORY_PER_RESTORE
from ..restore.preflight import du_disk_bytes

__all__ = ["DEFAULT_MEMORY_MB", "MINUTES_PER_GB", "BASE_MINUTES", "MAX_MEMORY_MB", "MAX_MINUTES", "MARGIN_SECONDS",
           "member_resources", "raised_after"]

log = logging.getLogger(__name__)

#: Memory of a member's job, by array. A restore runs in one CASA with the pipeline loaded; casa_plugin assumes
#: ``MEMORY_PER_RESTORE`` (4 GB: ~1-1.5 GB for CASA and the pipeline plus importasdm's and applycal's buffers;
#: measured 0.64 GB resident at peak for a 3.9 GB alma12m EB, bench/RESULTS-restore-alma12m-2026-12-04.json)
#: and the split runs in the same process afterwards. 12 m EBs (up to 50 antennas, 43 baselines more
#: rows per integration than a 7 m's 12): twice that; 7 m and total power: the restore's own figure.
DEFAULT_MEMORY_MB = {"12m": 2 * MEMORY_PER_RESTORE >> 20, "7m": MEMORY_PER_RESTORE >> 20,
                     "TP": MEMORY_PER_RESTORE >> 20, None: 2 * MEMORY_PER_RESTORE >> 20}
#: Minutes per GB of raw/: a member of ~0.3 TB takes up to a day to restore with the ALMA pipeline (issue 27's
#: figures; ~5 min per GB), doubled, since a job killed at its limit must start again from scratch.
MINUTES_PER_GB = 10
#: Minutes on top of that: CASA's start, the pipeline's context, the splits of small members.
BASE_MINUTES = 60
#: Caps of the raised resources: SLURM refuses a job larger than a node or a partition's MaxTime anyway.
MAX_MEMORY_MB = 256 * 1024
MAX_MINUTES = 7 * 1440
#: Seconds before its time limit at which a job gets SIGTERM (``--signal=B:TERM@``), to stop as after Ctrl-C.
MARGIN_SECONDS = 300


def member_resources(member, array, *, minutes=None, mem_mb=None):
    """Return ``{'cpus', 'mem_mb', 'minutes', 'margin', 'source'}`` for ``member`` of ``array`` (12m, 7m, TP).

    Cores: 1 (the scriptForPI's restore and the plain splits each use one core). ``minutes`` and ``mem_mb``
    override the defaults. The margin before the limit is at most a quarter of the time (a one-minute job
    gets its SIGTERM 15 s before the end).
    """
    raw = os.path.join(member, "raw")
    raw_gb = du_disk_bytes(raw) / 1e9 if os.path.isdir(raw) else 0.0
    source = []
    if minutes is None:
        minutes = min(MAX_MINUTES, int(BASE_MINUTES + MINUTES_PER_GB * raw_gb + 0.999))
        source.append("time: %d min + %d min per GB of raw/ (%.1f GB)" % (BASE_MINUTES, MINUTES_PER_GB, raw_gb))
    if mem_mb is None:
        mem_mb = DEFAULT_MEMORY_MB.get(array, DEFAULT_MEMORY_MB[None])
        source.append("memory: the default for a %s member" % (array or "12m"))
    return {"cpus": 1, "mem_mb": int(mem_mb), "minutes": int(minutes),
            "margin": int(min(MARGIN_SECONDS, minutes * 60 // 4)), "source": "; ".join(source)}


def raised_after(resources, reason, member):
    """After a job ended by ``reason`` (OUT_OF_MEMORY, TIMEOUT), the resources doubled (capped); the rest as is.

    Returns ``(resources, text)``; ``text`` says what was raised, or is None.
    """
    out = dict(resources)
    name = os.path.basename(member)
    if reason == "OUT_OF_MEMORY":
        out["mem_mb"] = min(MAX_MEMORY_MB, 2 * int(resources["mem_mb"]))
        text = "%s: its last job ran out of memory (%d MB): asking for %d MB" % (name, resources["mem_mb"],
                                                                                 out["mem_mb"])
    elif reason == "TIMEOUT":
        out["minutes"] = min(MAX_MINUTES, 2 * int(resources["minutes"]))
        out["margin"] = int(min(MARGIN_SECONDS, out["minutes"] * 60 // 4))
        text = "%s: its last job ran out of time (%d min): asking for %d min" % (name, resources["minutes"],
                                                                                 out["minutes"])
    else:
        return out, None
    if out == resources:
        text += " (the cap; raise it by hand with --time or --mem if the cluster allows)"
    return out, text
