"""Disk at submit time: the scriptForPI's own rule for every member the jobs will restore, summed per filesystem.

Each job's scriptForPI checks its own need (``du`` of raw/ x 11 for SPACESAVING unset, x 14 with a flux,
polarisation or imaging-prep script: :func:`casa_plugin.restore.preflight.disk_needed`, restore_pi's preflight
rule) against the free space where it restores, and stops if it is short: after hours in the queue. Here, before
anything is submitted, the members to restore are checked together, per filesystem: a restored member keeps at
least ``RETAINED_PER_RAW`` x its raw/ in calibrated/ (on the member's filesystem, also after a restore on
scratch), and up to ``max_running`` restores (all, without it) need their scriptForPI's rule at once; the
largest such needs are counted.
"""

import logging
import os

from ..restore.concurrency import RETAINED_PER_RAW
from ..restore.preflight import disk_needed, free_bytes
from ..staging import size_text

__all__ = ["programme_disk", "need_at", "check_programme_disk"]

log = logging.getLogger(__name__)


def _scratch_here(scratch):
    """``scratch`` if it is a directory on this machine (no variable left to expand on the node), else None."""
    if scratch is None:
        return None
    if "$" in scratch or not os.path.isdir(scratch):
        return None
    return os.path.abspath(scratch)


def need_at(filesystem, count):
    """Bytes needed on ``filesystem`` (as :func:`programme_disk` returns it) with ``count`` restores at once."""
    return int(sum(filesystem["stays"]) + sum(sorted(filesystem["running"], reverse=True)[:count]))


def programme_disk(members, *, scratch=None, max_running=None):
    """Return ``(filesystems, unchecked)``: what the restores of ``members`` need per filesystem.

    Parameters
    ----------
    members : list of str
        The member directories the jobs will restore (calibrated/ is made in each).
    scratch : str, optional
        Submit's ``scratch``: the restores run there when it is a directory on this machine; otherwise (a
        ``$VARIABLE`` expanded on the node, or a path only the nodes have) it is not checked from here.
    max_running : int, optional
        Restores at once (default: all).

    Returns
    -------
    tuple
        ``filesystems``: one dict per filesystem, ``{'path', 'free', 'needed', 'members', 'at_once', 'stays',
        'running'}`` (bytes: what restored members keep there, and what each restore needs on top while it
        runs); ``unchecked``: a sentence, or None.
    """
    here = _scratch_here(scratch)
    found = {}

    def on(path):
        return found.setdefault(os.stat(path).st_dev, {"path": path, "stays": [], "running": [], "members": []})

    for member in members:
        disk = disk_needed(member, None)  # the jobs restore with restore_pi's defaults: SPACESAVING unset
        stays = RETAINED_PER_RAW * disk["raw"]
        home = on(member)
        home["stays"].append(stays)
        home["members"].append(member)
        work = home if scratch is None else on(here) if here else None
        if work is not None:
            work["running"].append(disk["needed"] - (stays if work is home else 0))
            if work is not home:
                work["members"].append(member)
    unchecked = None
    if scratch is not None and here is None:
        unchecked = ("scratch %s: its free space cannot be checked from here (%s); each job's scriptForPI checks "
                     "it on its node" % (scratch, "expanded in the job, on its node" if "$" in scratch else
                                         "not a directory on this machine"))
    for filesystem in found.values():
        count = len(filesystem["running"])
        filesystem.update({"free": free_bytes(filesystem["path"]), "at_once": min(max_running or count, count)})
        filesystem["needed"] = need_at(filesystem, filesystem["at_once"])
    return list(found.values()), unchecked


def _fix(filesystem):
    """What helps when ``filesystem`` is short, each saying what it really does."""
    ways = ["free space there"]
    if filesystem["at_once"] > 1:
        fits = [k for k in range(filesystem["at_once"] - 1, 0, -1) if need_at(filesystem, k) <= filesystem["free"]]
        ways.append("--max-running %d lowers the need to %s" % (fits[0], size_text(need_at(filesystem, fits[0])))
                    if fits else "a lower --max-running does not help enough: the restored members' calibrated/ "
                    "stay (%s even one at a time)" % size_text(need_at(filesystem, 1)))
    ways.append("--scratch DIR restores on the nodes' own disk (calibrated/ still comes back here)")
    ways.append("--checkdisk False submits anyway: each job's scriptForPI still checks its own need where it "
                "restores and stops if it is short")
    return "; ".join(ways)


def check_programme_disk(members, *, scratch=None, max_running=None, checkdisk=True):
    """Refuse, before anything is submitted, a programme whose restores would not fit their filesystems.

    Parameters
    ----------
    members : list of str
        The member directories the jobs will restore.
    scratch, max_running
        As :func:`programme_disk` takes them.
    checkdisk : bool
        False: log the shortfall as a warning and go on (as ``restore_pi(checkdisk=False)``).

    Returns
    -------
    list of dict
        The filesystems, as :func:`programme_disk` returns them.

    Raises
    ------
    OSError
        Naming each filesystem that is short: a path on it, the bytes needed and free, and the fix.
    """
    if not members:
        return []
    filesystems, unchecked = programme_disk(members, scratch=scratch, max_running=max_running)
    if unchecked:
        log.warning(unchecked)
    short = []
    for fs in filesystems:
        if fs["needed"] <= fs["free"]:
            continue
        short.append("the filesystem of %s: the restores of %d member(s) need %d bytes (%s) by the scriptForPI's "
                     "own disk rule (restore_pi's preflight: raw/ x 11, x 14 with a flux, polarisation or "
                     "imaging-prep script; up to %d at once, each restored one keeping %.1f x its raw/) but %d "
                     "bytes (%s) are free; %s" % (
                         fs["path"], len(fs["members"]), fs["needed"], size_text(fs["needed"]), fs["at_once"],
                         RETAINED_PER_RAW, fs["free"], size_text(fs["free"]), _fix(fs)))
    if short and checkdisk:
        raise OSError("submit: not enough disk space; nothing was submitted:\n" + "\n".join(
            "  " + text for text in short))
    for text in short:
        log.warning("%s (--checkdisk False: submitted anyway)", text)
    return filesystems
