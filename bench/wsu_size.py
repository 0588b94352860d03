"""The size of the benchmark's wsu EB: the largest the free disk holds beside one output set, and what that reduced."""

import math
import shutil

from casa_plugin.testing import presets

__all__ = ["output_fraction", "wsu_eb_bytes"]

PRESET = "wsu"
# Room for the estimate's error: the alma12m runs of bench/RESULTS-alma12m-2026-12-03.json wrote 0.71 of their EBs'
# bytes for one output set; output_fraction gives 0.73 for those EBs.
_OUTPUT_MARGIN = 1.1
_RESERVE_BYTES = 3e9  # logs, the delivery report, the EB's flag versions, the reference digest, the build's own files
_TYPICAL_EB_MINUTES = 60.0  # an ALMA 12 m EB lasts about an hour


def _padded(nch):
    """Channels as the simulator's tiles store them (100 channels a tile): what a row costs on disk."""
    return nch if nch < 100 else 100 * int(math.ceil(nch / 100.0))


def output_fraction(desc):
    """Bytes of one output set (``.split.cal`` + ``.source``) per byte of the EB ``desc`` (``presets.describe``).

    An output row of a science spw holds DATA (the EB's CORRECTED_DATA) and FLAG: about half of the EB's row
    (DATA + CORRECTED_DATA + FLAG); ``.split.cal`` holds every science scan's rows, ``.source`` the target's.
    """
    rows = desc["nant"] * (desc["nant"] + 1) // 2
    chans = desc["spw_nchan"]
    science = set(i for i, n in enumerate(chans) if n == desc["nchan"])

    def out_bytes(scans):
        return sum(scan["nint"] * rows * (2 * _padded(chans[s]) * (8 + 1 / 8.0) + 80)
                   for scan in scans for s in scan["spws"] if s in science)

    targets = [scan for scan in desc["scans"] if "OBSERVE_TARGET" in scan["intent"]]
    return (out_bytes(desc["scans"]) + out_bytes(targets)) / float(desc["bytes"])


def _minutes(desc):
    return sum(scan["nint"] for scan in desc["scans"]) * desc["integration_s"] / 60.0


def wsu_eb_bytes(free_bytes, ram, limit_gb=None):
    """The wsu EB's size for ``free_bytes`` of disk, and lines saying what was reduced and why.

    The EB plus one output set (``output_fraction``, with a margin) plus a reserve must fit; the reference
    outputs are kept as a digest, not a copy. Raises SystemExit where not even the preset's smallest EB fits.
    """
    least = presets.describe(PRESET)
    size = least["bytes"]
    for _ in range(3):  # the output fraction depends a little on the size (more cycles: more target time)
        desc = presets.describe(PRESET, size_gb=max(size, least["bytes"]) / 1e9)
        size = (free_bytes - _RESERVE_BYTES) / (1 + _OUTPUT_MARGIN * output_fraction(desc))
    fits = size
    if limit_gb:
        size = min(size, limit_gb * 1e9)
    if limit_gb and fits >= least["bytes"] > size:
        raise SystemExit("--total-gb %g is below the wsu preset's smallest EB (%.1f GB: one target/phase cycle); pass "
                         "at least %.1f, or leave --total-gb out to take the largest EB the disk holds (%.1f GB)"
                         % (limit_gb, least["bytes"] / 1e9, math.ceil(least["bytes"] / 1e8) / 10, fits / 1e9))
    if size < least["bytes"]:
        raise SystemExit(
            "the disk has %.1f GB free: a wsu EB needs at least %.1f GB (one target/phase cycle) plus %.0f %% of "
            "that for one output set plus %.0f GB; free some space, or pass --data-dir on a larger disk"
            % (free_bytes / 1e9, least["bytes"] / 1e9, 100 * _OUTPUT_MARGIN * output_fraction(least),
               _RESERVE_BYTES / 1e9))
    desc = presets.describe(PRESET, size_gb=size / 1e9)
    rows = desc["nant"] * (desc["nant"] + 1) // 2
    per_minute = 60 / desc["integration_s"] * rows * sum(2 * _padded(n) * (16 + 1 / 8.0) + 80
                                                         for n in desc["spw_nchan"])  # every spw, as a science scan
    lines = [
        "wsu: 1 EB of %.1f GB (estimate), shaped as the preset: %d antennas, 4 science spws of %d channels, %.3f s "
        "integrations; %.0f min of observing (%d target/phase cycles)" % (
            desc["bytes"] / 1e9, desc["nant"], desc["nchan"], desc["integration_s"], _minutes(desc),
            desc["ncycles"]),
        "reduced: the observing time, not the shape (%.0f min of science scans at this shape would be %.0f GB): "
        "the disk "
        "has %.1f GB free, which must hold the EB, one output set (.split.cal + .source, ~%.0f %% of the EB) and "
        "%.0f GB besides" % (_TYPICAL_EB_MINUTES, per_minute * _TYPICAL_EB_MINUTES / 1e9, free_bytes / 1e9,
                             100 * output_fraction(desc), _RESERVE_BYTES / 1e9)]
    if size < fits:
        lines.append("reduced further to --total-gb %.1f (the disk would hold %.1f GB)" % (limit_gb, fits / 1e9))
    lines.append("one EB at a time (1 member), cold only (the EB is %.1f x RAM); each round's outputs are checked "
                 "against a digest of the first round's (no room for a second output set)" % (desc["bytes"] / ram))
    return desc["bytes"], lines


def free_bytes(path):
    return shutil.disk_usage(path).free
