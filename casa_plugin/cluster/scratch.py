"""A member's restore on node-local scratch: copy its inputs there, restore, move ``calibrated/`` back checked.

Shared filesystems are slow for CASA's many small files and some break its table locks, so a job given a
scratch directory (``submit --scratch DIR``) restores a copy of the member on the node's own disk. Copied:
``raw/``, ``script/`` and ``calibration/`` (what the scriptForPI and the pipeline's restore read and write);
the member's other folders (``product/``, ``qa/``, ``log/``: read only, for pipeline imaging and versions) are
linked. The copy sits at the same place below the project's name, so the restore sees the layout it knows.
Back in the member: ``calibrated/`` is copied under a hidden partial name, compared file by file with the
scratch copy (names, kinds, sizes, link targets), its run record's paths made the member's, and only then
renamed into place (an incomplete ``calibrated/`` of an earlier job is moved aside first, never deleted);
files the scriptForPI added to the copied inputs (the auxiliary files it unpacks into ``calibration/``) are
added to the member's too. The scratch copy is removed whatever happened. The splits then run on the member:
they read each restored MS once and write less than it, which a shared filesystem does well, and their
records are written where they stay.
"""

import logging
import os
import shutil
import tempfile

from .. import record as run_record
from ..restore.member_job import move_aside
from ..restore.preflight import du_disk_bytes
from ..staging import check_space, partial_name, remove_tree

__all__ = ["COPIED", "scratch_root", "restore_on_scratch", "tree_differences"]

log = logging.getLogger(__name__)

#: The member's folders copied to scratch; the others are linked.
COPIED = ("raw", "script", "calibration")


def scratch_root(scratch):
    """``scratch`` with ``$VARIABLES`` and ``~`` expanded (in the job, on its node); the directory must exist.

    Raises
    ------
    ValueError
        If a variable in it is not set on the node.
    FileNotFoundError
        If the directory does not exist.
    """
    path = os.path.expanduser(os.path.expandvars(scratch))
    if "$" in path or not path:
        raise ValueError("scratch=%r: %r is not set on %s; give a directory, or a variable the job's node sets "
                         "(e.g. '$TMPDIR')" % (scratch, path, os.uname()[1]))
    if not os.path.isdir(path):
        raise FileNotFoundError("scratch=%r: %s is not a directory on %s; give one that exists on every node, or "
                                "submit without --scratch" % (scratch, path, os.uname()[1]))
    return os.path.abspath(path)


def _listing(top):
    """``{relative path: (kind, size or link target)}`` of everything below ``top`` (links not followed)."""
    found = {}
    for root, dirs, files in os.walk(top):
        for name in dirs + files:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, top)
            if os.path.islink(path):
                found[rel] = ("link", os.readlink(path))
            elif os.path.isdir(path):
                found[rel] = ("dir", None)
            else:
                found[rel] = ("file", os.path.getsize(path))
    return found


def tree_differences(one, other):
    """What differs between two trees (names, kinds, file sizes, link targets), at most 5 lines; [] if nothing."""
    a, b = _listing(one), _listing(other)
    lines = ["%s: %s in %s, %s in %s" % (rel, a.get(rel, "missing"), one, b.get(rel, "missing"), other)
             for rel in sorted(set(a) | set(b)) if a.get(rel) != b.get(rel)]
    return lines[:5] + (["... and %d more" % (len(lines) - 5)] if len(lines) > 5 else [])


def _copy_in(member, copy):
    os.makedirs(copy)
    for name in sorted(os.listdir(member)):
        source = os.path.join(member, name)
        if name in COPIED:
            shutil.copytree(source, os.path.join(copy, name))  # links in raw/ followed: the data itself
        elif os.path.isdir(source) and not (name == "calibrated" or name.startswith(("calibrated.", "."))):
            os.symlink(source, os.path.join(copy, name))


def _add_new_inputs(copy, member):
    """Copy into the member's ``raw/``, ``script/``, ``calibration/`` the files the restore added to the copy's."""
    for folder in COPIED:
        top = os.path.join(copy, folder)
        for root, dirs, files in os.walk(top):
            for name in files:
                target = os.path.join(member, folder, os.path.relpath(os.path.join(root, name), top))
                if not os.path.lexists(target):
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    shutil.copy2(os.path.join(root, name), target, follow_symlinks=False)


def _as_member(value, copies, member):
    """``value`` (a record entry) with paths below any of ``copies`` (the scratch copy's) made the member's."""
    if isinstance(value, dict):
        return dict((k, _as_member(v, copies, member)) for k, v in value.items())
    if isinstance(value, list):
        return [_as_member(v, copies, member) for v in value]
    for copy in copies if isinstance(value, str) else ():
        if value == copy or value.startswith(copy + os.sep):
            return member + value[len(copy):]
    return value


def _move_back(copy, member):
    """Copy the copy's calibrated/ into the member under a partial name, check it, rename it into place."""
    source, final = os.path.join(copy, "calibrated"), os.path.join(member, "calibrated")
    tmp = partial_name(final)
    if os.path.lexists(tmp):
        log.warning("removing leftover of an interrupted job: %s", tmp)
        remove_tree(tmp)
    check_space(member, du_disk_bytes(source), elsewhere="free space there, or submit without --scratch")
    try:
        shutil.copytree(source, tmp, symlinks=True)  # its links are relative: ../../raw, ../calibration, working/
        differences = tree_differences(source, tmp)
        if differences:
            raise OSError("%s: calibrated/ copied back from scratch differs from the copy on %s:\n  %s\nnothing "
                          "was moved into the member; submit it again" % (member, source, "\n  ".join(differences)))
        _add_new_inputs(copy, member)
        restore = dict(run_record.load(tmp).get("restore") or {})
        if os.path.lexists(final):  # an earlier job's incomplete restore, as restore_pi(overwrite=True) does
            restore["moved_aside"] = move_aside(member)
        restore["scratch"] = os.path.dirname(copy)
        run_record.update_restore(tmp, _as_member(restore, (copy, os.path.realpath(copy)), member))
        os.rename(tmp, final)  # last: calibrated/ appears only complete
    except BaseException:
        remove_tree(tmp)
        raise


def restore_on_scratch(member, project, scratch, restore, *, label="job"):
    """Restore ``member`` on node-local ``scratch`` with ``restore(copy)``, then move ``calibrated/`` back.

    Parameters
    ----------
    member, project : str
        The member directory and its project (the copy keeps the member's place below the project's name).
    scratch : str
        A directory on the node's own disk; ``$VARIABLES`` and ``~`` are expanded here, on the node.
    restore : callable
        Restores the copy given as its one argument (e.g. ``restore_pi(member=copy, parallel=False)``); an
        exception from it leaves the member as it was.
    label : str
        Part of the scratch folder's name (the job id).

    Returns
    -------
    str
        The member's ``calibrated/``; its run record notes the restore as made there, with ``scratch``.

    Raises
    ------
    ValueError, FileNotFoundError
        If ``scratch`` is not a directory on this node.
    OSError
        If the inputs or ``calibrated/`` do not fit, or the copied-back ``calibrated/`` differs from the
        scratch copy (then nothing is moved into the member).
    """
    root = scratch_root(scratch)
    member, project = os.path.abspath(member), os.path.abspath(project)
    check_space(root, sum(du_disk_bytes(os.path.join(member, f)) for f in COPIED
                          if os.path.isdir(os.path.join(member, f))), elsewhere="another --scratch")
    work = tempfile.mkdtemp(prefix="casa_plugin.%s." % label, dir=root)
    copy = os.path.normpath(os.path.join(work, os.path.basename(project), os.path.relpath(member, project)))
    try:
        log.info("%s: restoring on scratch: %s", os.path.basename(member), copy)
        _copy_in(member, copy)
        restore(copy)
        _move_back(copy, member)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return os.path.join(member, "calibrated")
