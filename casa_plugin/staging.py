"""Write an output MS under a temporary name and rename it only when it is complete."""

import logging
import os
import re
import shutil
import time
from contextlib import contextmanager


__all__ = ["partial_name", "remove_leftovers", "remove_replaced", "staged", "check_writable", "check_space",
           "remove_tree", "size_text"]

log = logging.getLogger(__name__)
_PARTIAL = ".partial"


def partial_name(final):
    """Return the temporary name an output is written under: ``<dir>/.<name>.partial``.

    Characters CASA tasks cannot take in a name (quotes, spaces, ...) become ``_``.
    """
    head, tail = os.path.split(os.path.normpath(final))
    return os.path.join(head, "." + re.sub(r"[^A-Za-z0-9_.+\-]", "_", tail) + _PARTIAL)


def _replaced_name(final):
    """Where an output being replaced waits, once the new one is complete, until it is removed."""
    return partial_name(final) + ".replaced"


def remove_tree(path):
    """Remove a file, link or directory tree at ``path`` (links are removed, never followed)."""
    if os.path.islink(path) or os.path.isfile(path):
        os.remove(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)


def _remove_ours(tmp, why="removing leftover of an interrupted run"):
    """Remove a partial output of ours (and its flag versions); ``why`` is logged as a warning, None: not logged."""
    for path in (tmp, tmp + ".flagversions"):
        if os.path.lexists(path):
            if why:
                log.warning("%s: %s", why, path)
            remove_tree(path)


def remove_leftovers(final):
    """Remove what an interrupted run left under the hidden names of ``final`` (never ``final`` itself).

    Called when ``final`` is found complete, so a partial output killed with
    its process (Ctrl-C under MPI, a crash) does not hold disk space forever.
    """
    for tmp in (partial_name(final), _replaced_name(final)):
        _remove_ours(tmp)


def remove_replaced(final):
    """Remove the old output a replacement of ``final`` left (``.replaced``) where ``final`` is in place.

    An interrupt while the old output is being removed leaves it, and the call advised to finish the run need
    not touch ``final`` again. Never raises OSError (another process may be removing it too).
    """
    if os.path.lexists(final):
        try:
            _remove_ours(_replaced_name(final))
        except OSError:
            pass


def check_writable(directory):
    """Raise PermissionError naming ``directory`` if new outputs cannot be created in it."""
    if not os.access(directory, os.W_OK | os.X_OK):
        raise PermissionError(
            "%s: directory is not writable; fix its permissions (chmod u+w) or copy the data "
            "somewhere writable" % directory)


def check_space(directory, needed, elsewhere="outputvis="):
    """Raise OSError naming ``directory`` and the figures if ``needed`` bytes will not fit there.

    CASA cannot recover from a full disk (casacore aborts the process), so
    this is checked before writing. ``elsewhere`` names how the caller writes
    somewhere else, for the message.
    """
    free = shutil.disk_usage(directory).free
    if needed > free:
        raise OSError("%s: the output needs about %s but only %s is free there; free some space "
                      "or write elsewhere (%s)" % (directory, size_text(needed), size_text(free), elsewhere))
    return free


def size_text(nbytes):
    """``nbytes`` for a message: GB from 0.1 GB, else MB."""
    return "%.1f GB" % (nbytes / 1e9) if nbytes >= 1e8 else "%.1f MB" % (nbytes / 1e6)


@contextmanager
def staged(final, overwrite=False):
    """Yield a temporary path to write ``final`` to; on success rename it (and its flag versions) into place.

    On any exception the temporary output is removed and ``final`` is left
    as it was. With ``overwrite`` an existing ``final`` is replaced only after
    the new one is complete.
    """
    if os.path.lexists(final) and not overwrite:
        raise FileExistsError("%s exists; pass overwrite=True to redo it" % final)
    check_writable(os.path.dirname(os.path.abspath(final)))
    tmp = partial_name(final)
    _remove_ours(tmp)
    try:
        yield tmp
    except BaseException:
        _remove_ours(tmp, None)  # the error itself is reported by the caller
        raise
    _commit(tmp, final)


def _commit(tmp, final):
    stamp = time.strftime("%Y%m%dT%H%M%S")
    old = _replaced_name(final)
    _remove_ours(old)
    if os.path.lexists(final):
        os.rename(final, old)
        if os.path.lexists(final + ".flagversions"):
            os.rename(final + ".flagversions", old + ".flagversions")
    elif os.path.lexists(final + ".flagversions"):
        orphan = "%s.orphaned.%s" % (final + ".flagversions", stamp)
        log.warning("%s.flagversions has no MS; moved aside to %s", final, orphan)
        os.rename(final + ".flagversions", orphan)
    if os.path.lexists(tmp + ".flagversions"):
        os.rename(tmp + ".flagversions", final + ".flagversions")
    os.rename(tmp, final)  # last: the final name appears only when everything is in place
    _remove_ours(old, None)  # the output just replaced
