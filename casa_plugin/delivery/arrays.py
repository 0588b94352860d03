"""Which ALMA array a member or an EB was observed with (12 m, 7 m or total power), read cheaply before any restore."""

import glob
import logging
import os
import re
from xml.etree import ElementTree

from ..ms import casa

__all__ = ["ARRAYS", "LABELS", "member_array", "ms_array", "asdm_array", "sort_key"]

log = logging.getLogger(__name__)

#: The arrays, in the order members are grouped: the 12 m array, the 7 m array (ACA), total power (TP).
ARRAYS = ("12m", "7m", "TP")
#: Headings of the groups.
LABELS = {"12m": "12 m array", "7m": "7 m array (ACA)", "TP": "total power (TP)", None: "array not known"}
#: A TP EB has at most the four PM antennas; a 7 m one CM antennas (7 m dishes).
_TP_ANTENNAS = 4
_RESTORE_SCRIPT = "*casa_piperestorescript.py"
_SAMPLED_ROWS = 1000  # rows of an MS read to tell autocorrelations only
_SD_TASK = re.compile(r"\bhsd_restoredata\s*\(")


def sort_key(array):
    """Order of ``array`` among :data:`ARRAYS` (an unknown one last)."""
    return ARRAYS.index(array) if array in ARRAYS else len(ARRAYS)


def _from_antennas(names, dishes, autocorr_only):
    """The array of antennas ``names`` with dish diameters ``dishes`` (metres); None if there are none."""
    names = [str(n).strip().upper() for n in names]
    if not names:
        return None
    if autocorr_only and all(n.startswith("PM") for n in names) and len(names) <= _TP_ANTENNAS:
        return "TP"
    if all(n.startswith("CM") for n in names) or (dishes and all(abs(float(d) - 7.0) < 0.5 for d in dishes)):
        return "7m"
    return "12m"


def asdm_array(asdm):
    """The array of an ASDM directory from its ``Antenna.xml`` (names, ``dishDiameter``) and
    ``ConfigDescription.xml`` (``AUTO_ONLY`` correlation: total power); None without an Antenna.xml."""
    try:
        rows = ElementTree.parse(os.path.join(asdm, "Antenna.xml")).getroot().iter()
        names, dishes = [], []
        for element in rows:
            tag = element.tag.rsplit("}", 1)[-1]
            if tag == "name":
                names.append((element.text or "").strip())
            elif tag == "dishDiameter":
                dishes.append(float((element.text or "0").strip()))
    except (OSError, ElementTree.ParseError, ValueError) as exc:
        log.debug("%s: no antennas read from Antenna.xml (%s)", asdm, exc)
        return None
    modes = set()
    try:
        for element in ElementTree.parse(os.path.join(asdm, "ConfigDescription.xml")).getroot().iter():
            if element.tag.rsplit("}", 1)[-1] == "correlationMode":
                modes.add((element.text or "").strip())
    except (OSError, ElementTree.ParseError):
        pass
    return _from_antennas(names, dishes, autocorr_only=modes == {"AUTO_ONLY"} or not modes)


def ms_array(vis):
    """The array of an EB's MS (restored MS or split): FLOAT_DATA, or PM antennas with autocorrelations only in
    its first rows, mean total power; else its ANTENNA table tells.

    Parameters
    ----------
    vis : str
        A measurement set.

    Returns
    -------
    str or None
        ``'12m'``, ``'7m'`` or ``'TP'``; None if ``vis`` cannot be read.
    """
    tb = casa.table()
    try:
        tb.open(vis)
        float_data = "FLOAT_DATA" in tb.colnames()
        # a TP split made from CORRECTED_DATA (ALMA's 2022-2023 scriptForPI) has DATA: its first rows tell
        autocorr = bool(tb.nrows()) and bool((tb.getcol("ANTENNA1", 0, _SAMPLED_ROWS) ==
                                              tb.getcol("ANTENNA2", 0, _SAMPLED_ROWS)).all())
        tb.close()
        tb.open(os.path.join(vis, "ANTENNA"))
        names = list(tb.getcol("NAME")) if tb.nrows() else []
        dishes = list(tb.getcol("DISH_DIAMETER")) if tb.nrows() else []
    except RuntimeError as exc:
        log.debug("%s: array not read (%s)", vis, exc)
        return None
    finally:
        tb.close()
    if float_data:
        return "TP"
    return _from_antennas(names, dishes, autocorr_only=autocorr)


def _calls_sd_restore(member):
    for script in glob.glob(os.path.join(member, "script", _RESTORE_SCRIPT)):
        try:
            with open(script, errors="replace") as f:
                if _SD_TASK.search(f.read()):
                    return True
        except OSError:
            pass
    return False


def member_array(member):
    """The array a member was observed with, read without restoring it.

    In this order: total power if its restore script calls ``hsd_restoredata``, its
    ``script/`` has ``*.ms.scriptForSDCalibration.py`` or its ``calibration/`` a ``*jyperk*.csv``
    (the scriptForPI's own test for TP); else the first ASDM of ``raw/`` with an ``Antenna.xml``;
    else the first restored MS in ``calibrated/`` (or ``calibrated/working/``), else the first
    ``calibrated/*.ms.split.cal`` (a member whose calibrated MSs came from the archive).

    Parameters
    ----------
    member : str
        A member directory (``member.uid___*``).

    Returns
    -------
    str or None
        ``'12m'``, ``'7m'`` or ``'TP'``; None if nothing tells.
    """
    if (_calls_sd_restore(member) or glob.glob(os.path.join(member, "script", "*.ms.scriptForSDCalibration.py"))
            or glob.glob(os.path.join(member, "calibration", "*jyperk*.csv"))):
        return "TP"
    for asdm in sorted(glob.glob(os.path.join(member, "raw", "*.asdm.sdm"))):
        found = asdm_array(asdm)
        if found:
            return found
    for pattern in ("uid___*.ms", os.path.join("working", "uid___*.ms"), "uid___*.ms.split.cal"):
        for vis in sorted(glob.glob(os.path.join(member, "calibrated", pattern))):
            found = ms_array(vis)
            if found:
                return found
    return None
