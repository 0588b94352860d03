"""Check an ASDM in raw/ before a restore: its ASDM.xml and Main.xml read, and every binary data file whole."""

import logging
import os
import re
from xml.etree import ElementTree

__all__ = ["check_asdm", "bdf_name"]

log = logging.getLogger(__name__)

#: Bytes read at each end of a binary data file (BDF): its MIME header, and its closing boundary.
_HEAD_BYTES = 2048
_TAIL_BYTES = 4096
_BOUNDARY = re.compile(br'boundary="?([^";\r\n]+)"?')
#: Broken binary data files named one by one per ASDM; the rest are counted.
_SHOWN = 5
_REFETCH = ("download this EB's raw data again (the archive's *.asdm.sdm.tar) and unpack it into raw/ "
            "in place of the broken copy")


def bdf_name(entity_id):
    """The file name in ``ASDMBinary/`` of the binary data ``uid://A002/Xc6c0d5/X1ad1``: ``uid___A002_Xc6c0d5_X1ad1``."""
    return entity_id.replace(":", "_").replace("/", "_")


def _tag(element):
    return element.tag.split("}")[-1]


def _main_rows_declared(asdm_xml):
    """The Main table's row count that ASDM.xml declares (None if it names no Main table)."""
    root = ElementTree.parse(asdm_xml).getroot()
    for table in root.iter():
        if _tag(table) != "Table":
            continue
        fields = dict((_tag(child), (child.text or "").strip()) for child in table)
        if fields.get("Name") == "Main":
            try:
                return int(fields.get("NumberRows") or 0)
            except ValueError:
                return None
    return None


def _main_rows(main_xml):
    """Yield ``(entityId, dataSize)`` of each row of Main.xml (dataSize None when the row has none)."""
    for _, row in ElementTree.iterparse(main_xml):
        if _tag(row) != "row":
            continue
        uid, size = None, None
        for child in row:
            name = _tag(child)
            if name == "dataUID":
                ref = [e for e in child.iter() if _tag(e) == "EntityRef"]
                uid = ref[0].get("entityId") if ref else None
            elif name == "dataSize":
                try:
                    size = int((child.text or "").strip())
                except ValueError:
                    size = None
        row.clear()
        if uid:
            yield uid, size


def _check_bdf(path, size, main_xml, problems):
    """Append what is wrong with one binary data file: missing, empty, short, or without its closing boundary."""
    shown = os.path.join(os.path.basename(os.path.dirname(path)), os.path.basename(path))
    try:
        have = os.path.getsize(path)
    except OSError:
        problems.append("%s: missing (Main.xml names it); %s" % (path, _REFETCH))
        return
    if have == 0:
        problems.append("%s: empty (0 bytes); %s" % (path, _REFETCH))
        return
    if size is not None and have < size:
        problems.append("%s: %d bytes, shorter than the %d bytes of data that %s gives for it (cut short: an "
                        "interrupted download or unpacking); %s" % (path, have, size, os.path.basename(main_xml),
                                                                     _REFETCH))
        return
    problem = closing_boundary_problem(path, have)
    if problem:
        problems.append("%s: %s; %s" % (path, problem, _REFETCH))
    else:
        log.debug("%s: %d bytes, whole", shown, have)


def closing_boundary_problem(path, have=None):
    """Why the BDF at ``path`` does not end with its closing MIME boundary (None if it does).

    Reads the first 2 KB (the boundary its header declares) and the last 4 KB.
    """
    have = os.path.getsize(path) if have is None else have
    with open(path, "rb") as f:
        head = f.read(_HEAD_BYTES)
        f.seek(max(0, have - _TAIL_BYTES))
        tail = f.read()
    found = _BOUNDARY.search(head)
    if not found:
        return "no MIME boundary in its header (not an ALMA binary data file)"
    closing = b"--" + found.group(1) + b"--"
    if closing not in tail.rstrip()[-len(closing) - 64:]:
        return "does not end with its closing MIME boundary %s (cut short)" % closing.decode("ascii", "replace")
    return None


def check_asdm(asdm):
    """Return the problems of the ASDM directory ``asdm`` (empty if it is whole), each naming the path and the fix.

    ASDM.xml must parse. When it declares Main rows, Main.xml must parse and
    every binary data file its rows name (``ASDMBinary/uid___*``) must exist,
    hold at least the ``dataSize`` bytes of its row and end with the closing
    boundary of its MIME header. Nothing else is read: a few KB per file.
    An ASDM whose ASDM.xml declares no Main rows (the tests' stand-in stubs)
    names no binary data, so there is nothing more to check. An ASDM with a
    binary Main table (Main.bin, no Main.xml) has every file in ASDMBinary/
    checked for its closing boundary.
    """
    problems = []
    name = os.path.basename(asdm)
    asdm_xml = os.path.join(asdm, "ASDM.xml")
    try:
        declared = _main_rows_declared(asdm_xml)
    except (OSError, ElementTree.ParseError) as exc:
        problems.append("%s: unreadable (%s); %s" % (asdm_xml, exc, _REFETCH))
        return problems
    if not declared:
        log.debug("%s: ASDM.xml declares no Main rows: no binary data to check", name)
        return problems
    main_xml = os.path.join(asdm, "Main.xml")
    binary = os.path.join(asdm, "ASDMBinary")
    seen = set()
    if not os.path.exists(main_xml) and os.path.isfile(os.path.join(asdm, "Main.bin")):
        for entry in sorted(os.listdir(binary)) if os.path.isdir(binary) else []:
            seen.add(entry)
            _check_bdf(os.path.join(binary, entry), None, main_xml, problems)
    else:
        try:
            for uid, size in _main_rows(main_xml):
                if uid not in seen:
                    seen.add(uid)
                    _check_bdf(os.path.join(binary, bdf_name(uid)), size, main_xml, problems)
        except (OSError, ElementTree.ParseError) as exc:
            what = "missing" if not os.path.exists(main_xml) else "unreadable (%s)" % exc
            problems.append("%s: %s, but ASDM.xml declares %d Main rows; %s" % (main_xml, what, declared, _REFETCH))
    if len(problems) > _SHOWN:
        problems[_SHOWN:] = ["%s: and %d more binary data files broken as these (%d checked)"
                             % (binary, len(problems) - _SHOWN, len(seen))]
    return problems
