"""Find members, EB measurement sets and split products in an ALMA delivery."""

import glob
import os
import re
import xml.etree.ElementTree as ElementTree

from ..ms import is_ms

__all__ = [
    "EB_NAME", "is_eb_name", "find_members", "member_ebs", "read_ppr_ebs",
    "find_calibrated_dirs", "expand_vis", "eb_of", "restored_ms",
]

#: An execution block MS: ``uid___A002_Xf7ad58_Xd406.ms`` (never ``*_targets.ms``, ``*.ms.split.cal``, ...).
_EB_UID = r"uid___[A-Za-z0-9]+_X[0-9A-Za-z]+_X[0-9A-Za-z]+"
EB_NAME = re.compile(r"^(%s)\.ms$" % _EB_UID)
_GLOB_CHARS = re.compile(r"[*?\[]")
_MOVED_ASIDE = re.compile(r"^calibrated\.\d{8}T\d{6}$")  # restore_pi(overwrite=True) keeps the old one so
_SKIP_DIRS = ("working", "rawdata", "products", "raw", "calibration", "product", "qa", "log")


def is_eb_name(path):
    """Return True if the basename of ``path`` names an EB measurement set."""
    return EB_NAME.match(os.path.basename(os.path.normpath(path))) is not None


def eb_of(path):
    """Return the EB uid a path belongs to (``uid___…``), or the basename when it names none."""
    base = os.path.basename(os.path.normpath(path))
    match = re.match(r"^(%s)\.ms" % _EB_UID, base)
    return match.group(1) if match else base


def restored_ms(vis):
    """Return the restored MS an EB path stands for: ``vis`` itself, else ``working/<name>`` beside it.

    After a scriptForPI run with ``DOSPLIT`` the restored MS is only in
    ``calibrated/working/``; with ``SPACESAVING >= 2`` not even there (then
    ``vis`` is returned, which does not exist).
    """
    if os.path.exists(vis):
        return vis
    working = _working(vis)
    return working if is_ms(working) else vis


def _working(vis):
    """``working/<name>`` beside ``vis``: where a scriptForPI with ``DOSPLIT`` leaves the restored MS."""
    return os.path.join(os.path.dirname(vis), "working", os.path.basename(vis))


def find_members(path):
    """Return the sorted member (MOUS) directories at or below ``path``.

    Parameters
    ----------
    path : str
        A member directory, its ``script/``, or any directory above members
        (science goal, group, project).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist or holds no ``member.uid*`` directory.
    """
    path = os.path.abspath(path or ".")
    if not os.path.isdir(path):
        raise FileNotFoundError(
            "%s: no such directory; give a member.uid___* directory of an ALMA delivery, "
            "or a directory above members" % path)
    base = os.path.basename(path)
    if base.startswith("member.") or (os.path.isdir(os.path.join(path, "script"))
                                      and os.path.isdir(os.path.join(path, "raw"))):
        return [path]
    if base == "script" and os.path.basename(os.path.dirname(path)).startswith("member."):
        return [os.path.dirname(path)]
    members = []
    for root, dirs, _ in os.walk(path):
        for name in list(dirs):
            if name.startswith("member.") and os.path.isdir(os.path.join(root, name)):
                members.append(os.path.join(root, name))
        dirs[:] = sorted(d for d in dirs if not d.startswith("member.") and not d.endswith(".ms"))
    if not members:
        raise FileNotFoundError(
            "%s: no member.uid___* directory found at or below this path; point at an unpacked "
            "ALMA delivery (<project>/science_goal.uid*/group.uid*/member.uid*)" % path)
    return sorted(members)


def read_ppr_ebs(ppr):
    """Return the EB names listed as ``<AsdmDiskName>`` in a pipeline processing request."""
    tree = ElementTree.parse(ppr)
    names = [el.text.strip() for el in tree.iter()
             if el.tag.split("}")[-1] == "AsdmDiskName" and el.text and el.text.strip()]
    return sorted(set(names), key=names.index)


def member_ebs(member):
    """Return ``(ebs, source)``: the member's EB names from its PPR, else from ``raw/`` ASDMs."""
    pprs = sorted(glob.glob(os.path.join(member, "script", "*pprequest.xml")))
    if pprs:
        return read_ppr_ebs(pprs[0]), pprs[0]
    raw = os.path.join(member, "raw")
    names = sorted(n[:-len(".asdm.sdm")] for n in _listdir(raw) if n.endswith(".asdm.sdm"))
    return names, raw


def find_calibrated_dirs(path):
    """Return the sorted ``calibrated/`` directories at or below ``path`` (``path`` itself included).

    A ``calibrated.<date>/`` that ``restore_pi(overwrite=True)`` moved aside is
    an old restore, not searched below ``path``; name it to split it.
    """
    found = []
    for root, dirs, _ in os.walk(path):
        if os.path.basename(root) == "calibrated" or _holds_eb(root):
            found.append(root)
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and ".ms" not in d
                         and not d.endswith(".asdm.sdm") and not _MOVED_ASIDE.match(d))
    return sorted(found)


def _holds_eb(directory):
    return any(EB_NAME.match(n) or _is_split_cal_name(n) for n in _listdir(directory))


def _is_split_cal_name(name):
    return name.endswith(".ms.split.cal") and EB_NAME.match(name[:-len(".split.cal")]) is not None


def _listdir(directory):
    try:
        return sorted(os.listdir(directory))
    except OSError:
        return []


def expand_vis(vis, suffix=""):
    """Expand a ``vis`` argument into a sorted list of EB products.

    Parameters
    ----------
    vis : str or list of str
        One MS, a list, a glob, or a directory (a ``calibrated/``, a member, a
        project: every ``calibrated/`` below). ``''`` means the current directory.
    suffix : str
        ``''`` for EB MSs (``uid*.ms``), ``'.split.cal'`` for science splits.
        For ``''``, an EB of a ``calibrated/`` without its ``uid*.ms`` (a
        scriptForPI run with ``DOSPLIT``: the restored MS is only in
        ``working/``, or gone while its ``.ms.split.cal`` exists) is returned
        as the would-be ``calibrated/uid*.ms`` path.

    Returns
    -------
    list of str
        Paths, in the directory the user named (links are not resolved).

    Raises
    ------
    FileNotFoundError
        If a path does not exist, a glob matches nothing, or a directory holds
        no EB product.
    """
    items = [vis] if isinstance(vis, str) else list(vis)
    if not items:
        raise ValueError("vis is an empty list; give an MS, a list of MSs, a glob or a directory")
    found = []
    for item in items:
        if not isinstance(item, str):
            raise TypeError("vis must be a string or a list of strings, not %r" % (item,))
        found.extend(_expand_one(item or ".", suffix))
    unique = []
    for path in found:
        if path not in unique:
            unique.append(path)
    return unique


def _expand_one(item, suffix):
    if _GLOB_CHARS.search(item):
        matches = sorted(glob.glob(item))
        if not matches:
            raise FileNotFoundError(
                "vis=%r matches nothing (cwd %s); check the pattern or give a directory" % (item, os.getcwd()))
        products = [m.rstrip("/") for m in matches if _is_product_name(m, suffix)]
        products += _directory_products([m for m in matches if not is_ms(m)], suffix)
        if not products:
            raise FileNotFoundError(
                "vis=%r matches no uid___*.ms%s (matched: %s)" % (item, suffix, ", ".join(matches[:5])))
        return products
    if not os.path.lexists(item) and not suffix and EB_NAME.match(os.path.basename(item.rstrip("/"))) and \
            is_ms(_working(item.rstrip("/"))):
        return [item.rstrip("/")]  # DOSPLIT: the EB's restored MS is only in working/ beside it
    if not os.path.lexists(item):
        raise FileNotFoundError("%s: no such file or directory; give an MS, a glob or a directory" % item)
    if is_ms(item) or (os.path.islink(item) and item.rstrip("/").endswith(".ms" + suffix)):
        return [item.rstrip("/")]
    if not os.path.isdir(item):
        raise ValueError("%s: not a measurement set (no table.dat) nor a directory" % item)
    products = _directory_products([item], suffix)
    if not products:
        what = "uid___*.ms execution blocks" if not suffix else "uid___*.ms%s products" % suffix
        raise FileNotFoundError(
            "%s: no %s found here or in any calibrated/ below; run restore_pi first%s"
            % (item, what, "" if not suffix else ", then split_sci"))
    return products


def _directory_products(directories, suffix):
    products = []
    for directory in directories:
        if not os.path.isdir(directory):
            continue
        for cal in find_calibrated_dirs(directory):
            names = _listdir(cal)
            if suffix:
                products.extend(os.path.join(cal, n) for n in names if _is_product_name(n, suffix))
            else:
                ebs = set(n for n in names if EB_NAME.match(n))
                ebs.update(n[:-len(".split.cal")] for n in names if _is_split_cal_name(n))
                ebs.update(n for n in _listdir(os.path.join(cal, "working")) if EB_NAME.match(n))
                products.extend(os.path.join(cal, n) for n in sorted(ebs))
    return sorted(products)


def _is_product_name(path, suffix):
    name = os.path.basename(os.path.normpath(path))
    return name.endswith(".ms" + suffix) and EB_NAME.match(name[:len(name) - len(suffix)]) is not None
