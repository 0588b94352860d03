"""A member as ``collect.gather`` returns it, written by hand: ALMA-sized (43 antennas, 2 EBs), no MS needed.

The report's pictures can then be drawn and checked (or timed) without CASA.
"""

_START = 5160776440.0  # MJD seconds: 2022-06-01 05:00:40 UTC
_STEP = 6.048


def _antennas(n):
    names = ["DA%d" % i for i in range(41, 66)] + ["DV%02d" % i for i in range(1, 26)]
    names += ["PM%02d" % i for i in range(1, 5)]
    return sorted(names[:n])


def _spw(name, nchan, lo_ghz, width_khz):
    return {"name": name, "nchan": nchan, "lo_ghz": lo_ghz, "hi_ghz": lo_ghz + nchan * width_khz / 1e6,
            "width_khz": width_khz, "sideband": 1}


def _spws(odd):
    """WVR spw 0, TDM calibration spws 1-4 under the science ones, science FDM spws 17-23, averages 18-24."""
    spws = {"0": _spw("WVR#NOMINAL", 4, 183.8, 1.5e6)}
    for i, lo in enumerate((86.0, 88.0, 98.0, 100.0)):
        spws[str(1 + i)] = _spw("BB_%d#SW-01#FULL_RES" % (i + 1), 128, lo, 15625.0)
        nchan = 960 if odd and i == 3 else 1920
        spws[str(17 + 2 * i)] = _spw("BB_%d#SW-01#FULL_RES" % (i + 1), nchan, lo + 0.03, 976.5625)
        spws[str(18 + 2 * i)] = _spw("BB_%d#SW-01#CH_AVG" % (i + 1), 1, lo + 0.03, 1.875e6)
    return spws


def _scans(nscans, offset):
    """Atmosphere, bandpass, flux, then phase-target cycles with a check source and an atmosphere scan now
    and then; the target is a 7-pointing mosaic (one name, seven fields)."""
    plan = [("CALIBRATE_ATMOSPHERE#ON_SOURCE", ["J1924-2914"], 20),
            ("CALIBRATE_POINTING#ON_SOURCE", ["J1924-2914"], 60), ("CALIBRATE_BANDPASS#ON_SOURCE", ["J1924-2914"], 300), ("CALIBRATE_FLUX#ON_SOURCE", ["J1924-2914"], 120)]
    while len(plan) < nscans:
        cycle = len(plan)
        plan.append(("CALIBRATE_PHASE#ON_SOURCE", ["J1733-1304"], 30))
        if cycle % 5 == 0:
            plan.append(("CALIBRATE_ATMOSPHERE#OFF_SOURCE", ["NGC6334I"], 20))
        if cycle % 7 == 0:
            plan.append(("OBSERVE_CHECK_SOURCE#ON_SOURCE", ["J1717-3342"], 40))
        plan.append(("OBSERVE_TARGET#ON_SOURCE", ["NGC6334I"] * 7, 420))
    scans, t = [], _START + offset
    for number, (intent, fields, seconds) in enumerate(plan[:nscans], 1):
        scans.append({"scan": number, "times": [t, t + seconds], "step": _STEP, "intents": [intent],
                      "fields": fields})
        t += seconds + 25
    return scans


def _flags(keys, level, seed):
    """Deterministic, varied fractions (no random module: the same picture every run)."""
    return dict((k, round(level * (1 + 0.8 * (((i + seed) * 37) % 11) / 10.0), 6)) for i, k in enumerate(keys))


def alma_member(nant=43, nebs=2, nscans=60):
    """Return a member of ``nebs`` EBs with ``nant`` antennas, flag summaries of all three steps and a split."""
    ebs = []
    for n in range(nebs):
        antennas = _antennas(nant)
        science = [17, 19, 21, 23]
        spw_map = dict((str(s), i) for i, s in enumerate(science))
        flags = {}
        for step, level in (("restored", 0.06), (".split.cal", 0.06), (".source", 0.09)):
            ids = [str(s) for s in science] if step == "restored" else [str(i) for i in range(len(science))]
            flags[step] = {"antenna": _flags(antennas, level, n), "spw": _flags(ids, level, n + 3), "total": level}
        ebs.append({"eb": "uid___A002_Xf%dad58_X%d" % (7 + n, 406 + n), "restored": "/nowhere/eb%d.ms" % n,
                    "rule": "intent OBSERVE_TARGET*, >= 5 channels", "science": science, "spws": _spws(odd=n == 1),
                    "scans": _scans(nscans, 86400.0 * n), "flags": flags, "tgt": None,
                    "sci": {"spw_map": spw_map, "request": {"width": 1}, "status": "split"}})
    return {"name": "uid___A001_X15a2_Xb6d", "path": "/nowhere", "calibrated": "/nowhere", "restore": None,
            "ebs": ebs}


_SVG = "{http://www.w3.org/2000/svg}"


def svg_texts(root):
    """Every ``<text>`` of an SVG (an ElementTree root) as a string, its lines (``<tspan>``s) joined by newlines."""
    out = []
    for text in root.iter(_SVG + "text"):
        spans = text.findall(_SVG + "tspan")
        out.append("\n".join(s.text or "" for s in spans) if spans else text.text or "")
    return out


def svg_bars(root, fill=None, stroke=None):
    """The ``<rect>``s drawn as data (not the background, a hatching pattern or the legend's swatches) with the
    given ``fill`` and ``stroke``."""
    found = []

    def walk(node):
        for child in node:
            if child.tag == _SVG + "defs" or (child.tag == _SVG + "g" and child.get("class") == "legend"):
                continue
            if child.tag == _SVG + "rect" and child.get("width") != "100%" and \
                    (fill is None or child.get("fill") == fill) and (stroke is None or child.get("stroke") == stroke):
                found.append(child)
            walk(child)
    walk(root)
    return found
