"""Read and save CASA flag versions without ever renaming or replacing an existing one."""

import os

from .ms import casa

__all__ = ["list_versions", "save_once"]


def list_versions(vis):
    """Return the flag version names saved for ``vis`` (read from ``<vis>.flagversions``)."""
    listing = os.path.join(vis + ".flagversions", "FLAG_VERSION_LIST")
    if not os.path.isfile(listing):
        return []
    names = []
    with open(listing) as f:
        for line in f:
            name = line.split(" : ", 1)[0].strip()
            if name:
                names.append(name)
    return names


def save_once(vis, versionname, comment=""):
    """Save the current flags of ``vis`` as ``versionname`` unless that version exists.

    CASA's ``flagmanager(mode='save')`` renames an existing version to
    ``<name>.old.<time>``; this function never lets that happen.

    Parameters
    ----------
    vis : str
        Measurement set; the version is written into ``<vis>.flagversions/``.
    versionname : str
        Name of the flag version, e.g. ``'original_flags'``.
    comment : str
        Comment stored with a newly saved version.

    Returns
    -------
    bool
        True if the version was saved now, False if it already existed.

    Raises
    ------
    RuntimeError
        If flagmanager ran but the version is not listed afterwards.
    """
    if versionname in list_versions(vis):
        return False
    casa.flagmanager(vis=vis, mode="save", versionname=versionname, comment=comment)
    if versionname not in list_versions(vis):
        raise RuntimeError("%s: flagmanager did not save flag version %r" % (vis, versionname))
    return True
