"""A synthetic member the archive delivers calibrated: per-EB ``uid*.ms.split.cal.tar`` files, no raw/ (tests only).

What the archive's calibrated MSs look like, and the sources, are in
:mod:`casa_plugin.restore.archive_calibrated`. In short: the ALMA Regional
Centres' calibrated MS "is the outcome of running scriptForPI.py", handed on
as tar files, one per EB, named ``<EB uid>.ms.split.cal.tar``, that untar to
``<EB uid>.ms.split.cal`` with the science spws' original ids. So the member
is restored with the pipeline stand-in and ``DOSPLIT=True`` (the delivery's
scriptForPI then splits the science spws from CORRECTED_DATA, keeping the spw
ids when all EBs share them, as ALMA's does), each ``.split.cal`` is tarred
as such, and ``calibrated/`` and ``raw/`` are removed: whoever downloads the
calibrated MSs does not download the raw data. ``script/``,
``calibration/``, ``product/``, ``qa/`` and ``log/`` stay (the archive's
other tar files).
"""

import os
import shutil
import tarfile

__all__ = ["make_archive_member", "PLACES"]

#: Where the tar files can be put: the member directory, the project directory, or the directory above it.
PLACES = ("member", "project", "download")


def _place(member, into):
    if into not in PLACES:
        raise ValueError("into must be one of %s, not %r" % (", ".join(PLACES), into))
    if into == "member":
        return member
    project = os.path.dirname(os.path.dirname(os.path.dirname(member)))  # member -> group -> science goal -> project
    return project if into == "project" else os.path.dirname(project)


def make_archive_member(member, into="member", prefix=False):
    """Turn a member of a synthetic delivery into one whose calibrated MSs come from the archive.

    Parameters
    ----------
    member : str
        A member directory of :func:`casa_plugin.testing.synthetic_delivery.make_delivery`, not restored.
    into : str
        Where the tar files go: ``'member'`` (its directory), ``'project'`` (the project directory) or
        ``'download'`` (the directory above the project, where the archive's tar files are unpacked).
    prefix : bool
        If True, each tar holds ``<project>/science_goal.*/group.*/member.*/calibrated/<eb>.ms.split.cal``
        (the delivery's tree), else ``<eb>.ms.split.cal`` at its top.

    Returns
    -------
    dict
        ``{'member', 'ebs', 'tars': {eb: tar path}}``. Writes the tar files; removes the member's
        ``calibrated/`` (restored here) and ``raw/``.
    """
    from .pipeline_standin import restore_with_standin
    where = _place(member, into)
    restore_with_standin(member, dosplit=True)
    calibrated = os.path.join(member, "calibrated")
    ebs = sorted(n[:-len(".ms.split.cal")] for n in os.listdir(calibrated) if n.endswith(".ms.split.cal"))
    project = os.path.dirname(os.path.dirname(os.path.dirname(member)))
    tars = {}
    for eb in ebs:
        name = eb + ".ms.split.cal"
        arcname = os.path.join(os.path.relpath(calibrated, os.path.dirname(project)), name) if prefix else name
        tars[eb] = os.path.join(where, name + ".tar")
        with tarfile.open(tars[eb], "w", format=tarfile.PAX_FORMAT) as tar:
            tar.add(os.path.join(calibrated, name), arcname=arcname)
    shutil.rmtree(calibrated)
    shutil.rmtree(os.path.join(member, "raw"))
    return {"member": member, "ebs": ebs, "tars": tars}
