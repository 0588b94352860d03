"""The report's pictures as SVG written by hand (svg.py): spectral setup, timeline, flags per member.

No plotting library: a picture costs milliseconds, and a user's interactive matplotlib backend is never touched.
"""

import datetime
import math
import textwrap

from .svg import CHAR, Axes, Canvas, nice_ticks, text_width

__all__ = ["PALETTE", "differing_spws", "spectral_setup", "timeline", "flags"]

#: Okabe-Ito, safe for the common colour-vision deficiencies.
PALETTE = {"blue": "#0072B2", "orange": "#E69F00", "green": "#009E73", "purple": "#CC79A7", "sky": "#56B4E9",
           "vermillion": "#D55E00", "yellow": "#F0E442", "grey": "#BBBBBB", "black": "#000000"}
_INTENTS = (("OBSERVE_TARGET", "target", "blue"), ("CALIBRATE_BANDPASS", "bandpass", "orange"),
            ("CALIBRATE_FLUX", "flux", "green"), ("CALIBRATE_PHASE", "phase", "purple"),
            ("OBSERVE_CHECK", "check source", "sky"), ("CALIBRATE_POL", "polarisation", "yellow"),
            ("CALIBRATE_ATMOSPHERE", "atmosphere", "vermillion"), ("CALIBRATE_POINTING", "pointing", "grey"))
_STEPS = (("restored", "restored MS", "orange"), (".split.cal", ".split.cal", "blue"), (".source", ".source", "green"))
_GAP_GHZ = 4.0
_WIDTH = 1200  # pixels, shown at that size on the page
_TITLE, _LABEL, _SMALL, _TINY = 16.0, 13.0, 12.0, 10.0  # font sizes in pixels
_MJD0 = datetime.datetime(1858, 11, 17)


def _fitted(text, room, size, least):
    """The font size (at most ``size``, at least ``least``) at which ``text`` fits in ``room`` pixels."""
    return max(least, min(size, room / (CHAR * max(len(line) for line in text.split("\n")) or 1)))


def _signature(spw):
    return (spw["name"], spw["nchan"], round(spw["lo_ghz"], 4), round(spw["hi_ghz"], 4))


def differing_spws(ebs):
    """Return ``{eb: set of spw ids}`` whose setup differs from the most common one of that id (or is missing).

    Where no setup of an id is more common than another (e.g. two EBs that disagree), every EB's is marked:
    neither is the odd one out.
    """
    seen = {}
    for eb in ebs:
        for spw_id, spw in (eb["spws"] or {}).items():
            seen.setdefault(spw_id, []).append(_signature(spw))
    usual = {}
    for i, signatures in seen.items():
        counts = sorted((signatures.count(s) for s in set(signatures)), reverse=True)
        usual[i] = max(set(signatures), key=signatures.count) if counts[1:2] != counts[:1] else None
    count = len([eb for eb in ebs if eb["spws"]])
    return dict((eb["eb"], set(i for i, spw in (eb["spws"] or {}).items()
                               if _signature(spw) != usual[i] or len(seen[i]) < count)) for eb in ebs)


def _clusters(spws):
    """Group frequency intervals into panels (sidebands / separate bands), split at gaps > _GAP_GHZ."""
    groups = []
    for lo, hi in sorted((s["lo_ghz"], s["hi_ghz"]) for s in spws):
        if groups and lo <= groups[-1][1] + _GAP_GHZ:
            groups[-1][1] = max(groups[-1][1], hi)
        else:
            groups.append([lo, hi])
    return groups


def _lanes(spws):
    """Assign each spw (id, spw) a lane so that overlapping spws of one EB do not hide each other."""
    ends, lanes = [], {}
    for spw_id, spw in sorted(spws.items(), key=lambda kv: kv[1]["lo_ghz"]):
        lane = next((i for i, end in enumerate(ends) if spw["lo_ghz"] >= end), len(ends))
        if lane == len(ends):
            ends.append(0)
        ends[lane] = spw["hi_ghz"]
        lanes[spw_id] = lane
    return lanes, max(len(ends), 1)


def _width_text(khz):
    if khz >= 1e6:
        return "%.3g GHz" % (khz / 1e6)
    return "%.3g MHz" % (khz / 1e3) if khz >= 1e3 else "%.3g kHz" % khz


def _width_of(eb):
    return ((eb.get("sci") or {}).get("request") or {}).get("width", 1)


def _spw_label(spw_id, spw, eb):
    text = "%s: %d×%s" % (spw_id, spw["nchan"], _width_text(spw["width_khz"]))
    width = _width_of(eb)
    if int(spw_id) in eb["science"] and str(width) not in ("1", ""):
        try:
            n = int(width)
            text += "\n→ %d×%s" % (spw["nchan"] // n, _width_text(spw["width_khz"] * n))
        except (TypeError, ValueError):
            text += "\n(width=%s)" % (width,)
    return text




def _panel_widths(spans, room, least=90.0):
    """Widths in pixels proportional to ``spans``, none below ``least`` (the others give way)."""
    widths = [room * s / sum(spans) for s in spans]
    small = [w < least for w in widths]
    if any(small) and not all(small):
        rest = room - least * sum(small)
        big = sum(s for s, low in zip(spans, small) if not low)
        widths = [least if low else rest * s / big for s, low in zip(spans, small)]
    return widths


def _eb_label(eb):
    width = _width_of(eb)
    lines = [eb["eb"], "science %s" % (",".join(str(s) for s in eb["science"]) or "none")]
    lines += textwrap.wrap("%s%s" % (eb["rule"], "" if str(width) == "1" else ", width=%s" % width), 42)
    return "\n".join(lines)


def _in_bar(label, box):
    """A spw's label and font size to fit its bar: smaller, then the id on a line of its own (it is clipped to
    the bar beyond that)."""
    if text_width(label, 9.0) > box[2] - 6 and ": " in label:
        label = label.replace(": ", ":\n", 1)
    lines = label.count("\n") + 1
    return label, max(9.0, min(_fitted(label, box[2] - 6, _SMALL, 9.0), box[3] / (1.2 * lines)))


def spectral_setup(member, path):
    """Draw every spw of every EB of ``member`` on a frequency axis; return what was drawn.

    Science spws are filled blue, others grey; a spw that differs between EBs
    has a thick vermillion hatched edge. Each is labelled ``id: nchan x width``
    (and the averaged width when ``width=`` was used).

    Parameters
    ----------
    member : dict
        One member of ``collect.gather``: its ``name`` and ``ebs`` (each with ``spws``, ``science``, ``rule``).
    path : str
        The SVG written (the only file written).

    Returns
    -------
    dict
        Per EB: ``science``, ``rule``, ``nchan`` and ``labels`` per spw id, ``differs`` (spw ids).
    """
    ebs = [eb for eb in member["ebs"] if eb["spws"]]
    groups = _clusters([s for eb in ebs for s in eb["spws"].values()])
    differ = differing_spws(ebs)
    layout = [(eb, _lanes(eb["spws"])) for eb in ebs]
    rows = sum(n for _, (_, n) in layout)
    names = [_eb_label(eb) for eb in ebs]
    left = min(max([text_width(n, _SMALL) + 24 for n in names] + [150]), 420)
    canvas = Canvas(_WIDTH, 0)
    vermillion = PALETTE["vermillion"]
    top = canvas.header("Spectral setup of member %s" % member["name"], [
        ("science spw", PALETTE["blue"], None), ("other spw", PALETTE["grey"], None),
        ("differs between EBs", canvas.hatch(vermillion, "#ffffff"), vermillion)], _TITLE, _LABEL) + 20
    plot_height = 5 + 55 * rows + 30 * len(ebs)
    canvas.height = int(top + plot_height + 55)
    science = [s for eb in ebs for i, s in eb["spws"].items() if int(i) in eb["science"]]
    spans = [max(hi - lo, 0.6) * (1 if any(lo <= s["lo_ghz"] <= hi for s in science) else 0.4)
             for lo, hi in groups]
    gap = 24.0
    widths = _panel_widths(spans, _WIDTH - left - 20 - gap * (len(groups) - 1))
    bottom = rows + 0.6 * len(ebs) - 0.4  # the lanes run downwards from -0.8 to here
    axes, x = [], left
    for (lo, hi), width in zip(groups, widths):
        pad = max((hi - lo) * 0.03, 0.05)
        ax = Axes(canvas, x, top, width, plot_height, (lo - pad, hi + pad), (bottom, -0.8))
        ax.xticks(nice_ticks(lo - pad, hi + pad, max(3, int(width / 70))), size=_SMALL, grid="#dddddd")
        ax.xlabel("frequency (GHz)", _LABEL, below=38)
        axes.append(ax)
        x += width + gap
    drawn, y0 = {}, 0.0
    for (eb, (lanes, nlanes)), name in zip(layout, names):
        drawn[eb["eb"]] = {"science": list(eb["science"]), "rule": eb["rule"], "nchan": {}, "labels": {},
                           "differs": sorted(differ[eb["eb"]], key=int)}
        for spw_id, spw in eb["spws"].items():
            y = y0 + lanes[spw_id]
            is_science = int(spw_id) in eb["science"]
            odd = spw_id in differ[eb["eb"]]
            drawn[eb["eb"]]["nchan"][spw_id] = spw["nchan"]
            drawn[eb["eb"]]["labels"][spw_id] = label = _spw_label(spw_id, spw, eb)
            colour = PALETTE["blue"] if is_science else PALETTE["grey"]
            for ax, (lo, hi) in zip(axes, groups):
                if spw["lo_ghz"] >= lo - 1e-9 and spw["hi_ghz"] <= hi + 1e-9:
                    box = ax.bar(spw["lo_ghz"], spw["hi_ghz"], y - 0.4, y + 0.4,
                                 canvas.hatch(vermillion, colour) if odd else colour,
                                 vermillion if odd else "#ffffff", 2.5 if odd else 0.5)
                    text, size = _in_bar(label, box)
                    canvas.text(box[0] + box[2] / 2.0, box[1] + box[3] / 2.0, text, size, anchor="middle",
                                colour="#ffffff" if is_science else "#000000", clip=canvas.clip(*box))
        tick = axes[0].py(y0 + (nlanes - 1) / 2.0)
        canvas.line(left - 4, tick, left, tick, width=0.8)
        canvas.text(left - 8, tick, name, _SMALL, anchor="end")
        y0 += nlanes + 0.6
    for ax in axes:
        ax.frame()
    canvas.save(path)
    return drawn


def _intent(intents):
    for key, label, colour in _INTENTS:
        if any(i.startswith(key) for i in intents):
            return label, PALETTE[colour], any("OFF_SOURCE" in i for i in intents)
    return "other", PALETTE["black"], False


def _utc(mjd_seconds):
    return (_MJD0 + datetime.timedelta(seconds=mjd_seconds)).strftime("%Y-%m-%d %H:%M:%S UTC")




def _fields_text(fields):
    """The fields of a scan, each name once (``×n`` for a mosaic's pointings), at most three names."""
    names = []
    for name in fields:
        if name not in names:
            names.append(name)
    text = ",".join("%s ×%d" % (n, fields.count(n)) if fields.count(n) > 1 else n for n in names[:3])
    return text + (" +%d more" % (len(names) - 3) if len(names) > 3 else "")


def _slant(anchors, size):
    """The angle (degrees up from the axis) at which most labels at ``anchors`` (pixels) stay apart."""
    gaps = sorted(b - a for a, b in zip(anchors, anchors[1:]))
    typical = gaps[len(gaps) // 10] if gaps else 1e9  # nine in ten labels need no more room than this
    return next((a for a in (30, 45, 60) if typical * math.sin(math.radians(a)) >= 1.2 * size), 90)


def _eb_scans(eb):
    """Per scan of ``eb``: (start, end) in minutes from the EB's start, intent, colour, off source, number,
    field text; and that start (MJD seconds)."""
    start = min(s["times"][0] - s["step"] / 2 for s in eb["scans"])
    out = []
    for scan in eb["scans"]:
        label, colour, off = _intent(scan["intents"])
        out.append(((scan["times"][0] - scan["step"] / 2 - start) / 60.0,
                    (scan["times"][1] + scan["step"] / 2 - start) / 60.0, label, colour, off, str(scan["scan"]),
                    _fields_text(scan["fields"])))
    return out, start


def _scan_labels(scans, width, room):
    """The minutes shown, ``[(x from the axis' left, label, number on the bar)]`` and the labels' slant, so that
    the last labels end within ``room`` pixels of the axis' left."""
    span = max(s[1] for s in scans) * 1.02 or 1.0
    for _ in range(3):
        texts = []
        for t0, t1, _, _, _, number, fields in scans:
            fits = text_width(number, 9.0) + 4 <= (t1 - t0) / span * width
            texts.append(((t0 + t1) / 2.0 / span * width, fields if fits else "%s: %s" % (number, fields), fits))
        angle = _slant([x for x, _, _ in texts], _SMALL)
        cos = math.cos(math.radians(angle))
        need = max(x * span / max(room - text_width(t, _SMALL) * cos, width / 2.0) for x, t, _ in texts)
        if need <= span * 1.0001:
            break
        span = need * 1.01
    return span, texts, angle


def timeline(member, path):
    """Draw each EB's scans against time (minutes from its start), coloured by intent, labelled by field.

    A scan number that does not fit on its bar is written before the field
    names instead; where scans are too close for every label, labels are
    slanted more steeply, then some are left out.

    Parameters and the file written are as for ``spectral_setup``. Returns, per
    EB, ``[{'scan', 'intent', 'fields'}]`` in time order.
    """
    ebs = [eb for eb in member["ebs"] if eb["scans"]]
    left, right, bar = 30.0, _WIDTH - 30.0, 28.0
    canvas = Canvas(_WIDTH, 0)
    used, drawn, hatched, plans = {}, {}, False, []
    for eb in ebs:
        scans, start = _eb_scans(eb)
        drawn[eb["eb"]] = [{"scan": s["scan"], "intent": p[2], "fields": s["fields"]}
                           for s, p in zip(eb["scans"], scans)]
        for _, _, label, colour, off, _, _ in scans:
            used.setdefault(label, colour)
            hatched = hatched or off
        plans.append((eb, scans, start))
    items = [(label, colour, None) for label, colour in used.items()]
    if hatched:
        items.append(("off source", canvas.hatch("#ffffff", PALETTE["blue"], "xx"), None))
    y = canvas.header("Observation timeline of member %s" % member["name"], items, _TITLE, _LABEL) + 16
    for eb, scans, start in plans:
        span, texts, angle = _scan_labels(scans, right - left, _WIDTH - 8 - left)
        cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
        kept, last = [], -1e9
        for x, text, _ in texts:  # a label too close to the last one kept is left out
            kept.append(x - last >= 1.15 * _SMALL / sin - 1e-6)
            last = x if kept[-1] else last
        band = max(text_width(t, _SMALL) * sin + _SMALL * cos for (_, t, _), k in zip(texts, kept) if k) + 8
        canvas.text(left, y + 14, "%s, from %s" % (eb["eb"], _utc(start)), _LABEL, middle=False)
        top = y + 26 + band
        ax = Axes(canvas, left, top, right - left, bar + 9, (0.0, span), (0.0, bar + 9))
        for (t0, t1, _, colour, off, number, _), (x, text, fits), keep in zip(scans, texts, kept):
            fill = canvas.hatch("#ffffff", colour, "xx") if off else colour
            box = ax.bar(t0, t1, 9, bar + 9, fill, "#ffffff", 1.0)
            if fits:
                size = _fitted(number, box[2] - 4, _SMALL, 9.0)
                if off:  # a plate of the bar's colour keeps the number readable on the white hatching
                    plate = min(text_width(number, size) + 6, box[2])
                    canvas.rect(left + x - plate / 2.0, box[1] + bar / 2.0 - size * 0.7, plate, size * 1.4, colour)
                canvas.text(left + x, box[1] + bar / 2.0, number, size, anchor="middle", colour="#ffffff")
            if keep:  # the glyphs' middle, not their baseline, starts above the bar's middle
                canvas.text(left + x + 0.35 * _SMALL * sin, top - 7 + 0.35 * _SMALL * cos, text, _SMALL,
                            middle=False, rotate=-angle)
        ax.frame("b")
        ax.xticks(nice_ticks(0.0, span, 10), size=_SMALL)
        ax.xlabel("minutes from the EB's start (scan numbers on the bars)", _LABEL, below=38)
        y = top + bar + 9 + 50
    canvas.height = int(y + 4)
    canvas.save(path)
    return drawn


def _aligned(eb, kind):
    """Return ``[(label, {step: fraction})]`` of science spws (by restored id) or antennas across the steps."""
    flags = eb["flags"]
    rows = []
    if kind == "antenna":
        keys = sorted(set(k for f in flags.values() if f for k in f["antenna"]))
        return [(k, dict((step, f["antenna"].get(k)) for step, f in flags.items() if f)) for k in keys]
    for old in eb["science"]:
        row = {}
        for step, f in flags.items():
            if not f:
                continue
            ids = _output_ids(eb, step)
            key = str(old) if step == "restored" else ids.get(str(old))
            if key is not None and key in f["spw"]:
                row[step] = f["spw"][key]
        new = _output_ids(eb, ".split.cal").get(str(old))
        rows.append(("%s" % old if new in (None, str(old)) else "%s->%s" % (old, new), row))
    return rows


def _output_ids(eb, step):
    """Map restored spw ids to those of an output: as read from the MSs (``spw_maps``), else, without the
    restored MS, the record's ``spw_map`` (a target split keeps the .split.cal's ids)."""
    if step == "restored":
        return dict((str(s), str(s)) for s in eb["science"])
    if step in (eb.get("spw_maps") or {}):
        return eb["spw_maps"][step]
    mapping = (eb.get("sci") or {}).get("spw_map") or {}
    return dict((str(k), str(v)) for k, v in mapping.items())




def flags(member, path):
    """Draw, per EB, the flagged fraction per science spw and per antenna of the restored MS and the outputs.

    Parameters and the file written are as for ``spectral_setup``. Returns, per
    EB, ``{'spw': {'old->new': {step: fraction}}, 'antenna': {name: {step: fraction}}}``
    with steps ``restored``, ``.split.cal``, ``.source``.
    """
    ebs = [eb for eb in member["ebs"] if any(eb["flags"].values())]
    plans = [(eb, [(kind, _aligned(eb, kind)) for kind in ("spw", "antenna")]) for eb in ebs]
    labels = [(len(rows) > 12, k) for _, kinds in plans for _, rows in kinds for k, _ in rows]
    below = max([text_width(k, _TINY) + 14 if crowded else 30 for crowded, k in labels] + [30])
    steps = [s for s in _STEPS if any(eb["flags"].get(s[0]) for eb in ebs)]
    canvas = Canvas(_WIDTH, 0)
    y = canvas.header("Flagged fraction of member %s (as flagdata summary counts)" % member["name"],
                      [(label, PALETTE[colour], None) for _, label, colour in steps], _TITLE, _LABEL) + 32
    left, gap, height = 65.0, 80.0, 160.0
    room = _WIDTH - left - gap - 20
    drawn = {}
    for eb, kinds in plans:
        drawn[eb["eb"]] = {}
        x = left
        for (kind, rows), share, title in zip(kinds, (1 / 2.4, 1.4 / 2.4),
                                              ("science spw (restored id->new id)", "antenna")):
            drawn[eb["eb"]][kind] = dict(rows)
            shown = [s for s in _STEPS if eb["flags"].get(s[0])]
            top = max([v for _, r in rows for v in r.values() if v is not None] + [0.05])
            ax = Axes(canvas, x, y, room * share, height, (-0.6, max(len(rows), 1) - 0.4), (0.0, top * 130))
            bar = 0.8 / max(len(shown), 1)
            for j, (step, _, colour) in enumerate(shown):
                for i, (_, r) in enumerate(rows):
                    if r.get(step) is None:
                        continue  # not in that output (or not read): no bar, never a 0.0 that is not there
                    middle = i + (j - (len(shown) - 1) / 2.0) * bar
                    value = r[step] * 100
                    box = ax.bar(middle - bar / 2, middle + bar / 2, 0.0, value, PALETTE[colour])
                    if kind == "spw":  # antennas: the bars only (40-50 of them)
                        _value_text(canvas, box, "%.1f" % value)
            crowded = len(rows) > 12  # ALMA's 40-50 antennas: names written upwards, smaller
            ax.xticks(list(range(len(rows))), [k for k, _ in rows], _TINY if crowded else _LABEL, upright=crowded)
            ax.yticks(nice_ticks(0.0, top * 130, 5), size=_SMALL)
            ax.ylabel("flagged (%)", _LABEL, left=50)
            ax.title("%s: per %s" % (eb["eb"], title), _LABEL)
            ax.frame("lb")
            x += room * share + gap
        y += height + below + 32
    canvas.height = int(y - 32 + 6)
    canvas.save(path)
    return drawn


def _value_text(canvas, box, text):
    """Write a bar's value above it: across if it fits the bar's width, else upwards."""
    size = _fitted(text, box[2] + 2, 10.5, 7.0)
    if text_width(text, size) <= box[2] + 2:
        canvas.text(box[0] + box[2] / 2.0, box[1] - 3, text, size, anchor="middle", middle=False)
    else:
        canvas.text(box[0] + box[2] / 2.0 + 0.35 * 9.0, box[1] - 3, text, 9.0, rotate=-90)
