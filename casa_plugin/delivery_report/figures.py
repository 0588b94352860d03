"""The report's pictures (matplotlib, drawn off-screen with Agg): spectral setup, timeline, flags per member.

matplotlib is imported inside the functions, and pyplot is never used, so a
user's interactive backend is left alone.
"""

import datetime

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
_WIDTH = 12.0  # inches at 100 dpi: 1200 pixels, shown at that size on the page
_TITLE, _LABEL, _SMALL = 12, 9.5, 8.5  # points
_MJD0 = datetime.datetime(1858, 11, 17)


def _figure(width, height):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path):
    fig.savefig(path, dpi=100)
    return path


def _bars(ax, xs, heights, width, colour, label):
    """Vertical bars as one PolyCollection (``ax.bar`` adds a patch per bar, slow for 50 antennas x 3 steps);
    returns a legend handle."""
    from matplotlib.collections import PolyCollection
    from matplotlib.patches import Patch
    half = width / 2.0
    ax.add_collection(PolyCollection([[(x - half, 0), (x + half, 0), (x + half, h), (x - half, h)]
                                      for x, h in zip(xs, heights)], facecolors=colour, edgecolors="none"))
    return Patch(facecolor=colour, label=label)


def _signature(spw):
    return (spw["name"], spw["nchan"], round(spw["lo_ghz"], 4), round(spw["hi_ghz"], 4))


def differing_spws(ebs):
    """Return ``{eb: set of spw ids}`` whose setup differs from the most common one of that id (or is missing)."""
    seen = {}
    for eb in ebs:
        for spw_id, spw in (eb["spws"] or {}).items():
            seen.setdefault(spw_id, []).append(_signature(spw))
    usual = dict((i, max(set(s), key=s.count)) for i, s in seen.items())
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


def _layout(fig, width, height, left, right, top, bottom, rows=1, gap=0.0, wspace=0.0):
    """Place the subplots by fixed margins in inches (much cheaper than tight_layout, which draws twice)."""
    axes_height = (height - top - bottom - gap * (rows - 1)) / float(rows)
    fig.subplots_adjust(left=left / width, right=1 - right / width, top=1 - top / height, bottom=bottom / height,
                        hspace=gap / axes_height if rows > 1 else 0.0, wspace=wspace)


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
        The PNG written (the only file written).

    Returns
    -------
    dict
        Per EB: ``science``, ``rule``, ``nchan`` and ``labels`` per spw id, ``differs`` (spw ids).
    """
    ebs = [eb for eb in member["ebs"] if eb["spws"]]
    all_spws = [s for eb in ebs for s in eb["spws"].values()]
    groups = _clusters(all_spws)
    differ = differing_spws(ebs)
    layout = [(eb, _lanes(eb["spws"])) for eb in ebs]
    rows = sum(n for _, (_, n) in layout)
    height = 1.2 + 0.55 * rows + 0.3 * len(ebs)
    fig = _figure(_WIDTH, height)
    science = [s for eb in ebs for i, s in eb["spws"].items() if int(i) in eb["science"]]
    spans = [max(hi - lo, 0.6) * (1 if any(lo <= s["lo_ghz"] <= hi for s in science) else 0.4)
             for lo, hi in groups]
    axes = fig.subplots(1, len(groups), sharey=True, squeeze=False, gridspec_kw={"width_ratios": spans})[0]
    drawn = {}
    for ax, (lo, hi) in zip(axes, groups):
        pad = max((hi - lo) * 0.03, 0.05)
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_xlabel("frequency (GHz)")
        ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    top, ticks, names = 0.0, [], []
    for eb, (lanes, nlanes) in layout:
        drawn[eb["eb"]] = {"science": list(eb["science"]), "rule": eb["rule"], "nchan": {}, "labels": {},
                           "differs": sorted(differ[eb["eb"]], key=int)}
        for spw_id, spw in eb["spws"].items():
            y = top + lanes[spw_id]
            science = int(spw_id) in eb["science"]
            odd = spw_id in differ[eb["eb"]]
            drawn[eb["eb"]]["nchan"][spw_id] = spw["nchan"]
            drawn[eb["eb"]]["labels"][spw_id] = label = _spw_label(spw_id, spw, eb)
            for ax, (lo, hi) in zip(axes, groups):
                if spw["lo_ghz"] >= lo - 1e-9 and spw["hi_ghz"] <= hi + 1e-9:
                    ax.barh(y, spw["hi_ghz"] - spw["lo_ghz"], left=spw["lo_ghz"], height=0.8,
                            color=PALETTE["blue"] if science else PALETTE["grey"],
                            edgecolor=PALETTE["vermillion"] if odd else "white", linewidth=2.5 if odd else 0.5,
                            hatch="//" if odd else None)
                    ax.text((spw["lo_ghz"] + spw["hi_ghz"]) / 2, y, label, ha="center",
                            va="center", fontsize=_SMALL, color="white" if science else "black", clip_on=True)
        ticks.append(top + (nlanes - 1) / 2.0)
        width = _width_of(eb)
        names.append("%s\nscience %s\n%s%s" % (eb["eb"], ",".join(str(s) for s in eb["science"]) or "none",
                                                 eb["rule"], "" if str(width) == "1" else ", width=%s" % width))
        top += nlanes + 0.6
    axes[0].set_yticks(ticks)
    axes[0].set_yticklabels(names, fontsize=_SMALL)
    axes[0].set_ylim(top - 0.4, -0.8)
    from matplotlib.patches import Patch
    handles = [Patch(color=PALETTE["blue"], label="science spw"), Patch(color=PALETTE["grey"], label="other spw"),
               Patch(facecolor="white", edgecolor=PALETTE["vermillion"], hatch="//", linewidth=2,
                     label="differs between EBs")]
    fig.legend(handles=handles, loc="upper right", ncol=3, fontsize=_LABEL, frameon=False)
    fig.suptitle("Spectral setup of member %s" % member["name"], x=0.01, ha="left", fontsize=_TITLE)
    _layout(fig, _WIDTH, height, left=2.9, right=0.2, top=0.6, bottom=0.55, wspace=0.1)
    _save(fig, path)
    return drawn


def _intent(intents):
    for key, label, colour in _INTENTS:
        if any(i.startswith(key) for i in intents):
            return label, PALETTE[colour], any("OFF_SOURCE" in i for i in intents)
    return "other", PALETTE["black"], False


def _utc(mjd_seconds):
    return (_MJD0 + datetime.timedelta(seconds=mjd_seconds)).strftime("%Y-%m-%d %H:%M:%S UTC")


def timeline(member, path):
    """Draw each EB's scans against time (minutes from its start), coloured by intent, labelled by field.

    Parameters and the file written are as for ``spectral_setup``. Returns, per
    EB, ``[{'scan', 'intent', 'fields'}]`` in time order.
    """
    ebs = [eb for eb in member["ebs"] if eb["scans"]]
    height = 0.6 + 0.5 + 1.1 * len(ebs) + 0.85 * (len(ebs) - 1)
    fig = _figure(_WIDTH, height)
    axes = fig.subplots(len(ebs), 1, squeeze=False)[:, 0]
    used, drawn, hatched = {}, {}, False
    for ax, eb in zip(axes, ebs):
        start = min(s["times"][0] - s["step"] / 2 for s in eb["scans"])
        drawn[eb["eb"]] = []
        for scan in eb["scans"]:
            label, colour, off = _intent(scan["intents"])
            used[label], hatched = colour, hatched or off
            t0 = (scan["times"][0] - scan["step"] / 2 - start) / 60.0
            t1 = (scan["times"][1] + scan["step"] / 2 - start) / 60.0
            ax.barh(0, t1 - t0, left=t0, height=0.6, color=colour, edgecolor="white", hatch="xx" if off else None)
            ax.text((t0 + t1) / 2, 0.4, ",".join(scan["fields"]), rotation=30, fontsize=_SMALL, ha="left", va="bottom")
            ax.text((t0 + t1) / 2, 0, str(scan["scan"]), fontsize=_SMALL, ha="center", va="center", color="white")
            drawn[eb["eb"]].append({"scan": scan["scan"], "intent": label, "fields": scan["fields"]})
        ax.set_ylim(-0.5, 1.9)
        ax.set_yticks([])
        ax.set_title("%s, from %s" % (eb["eb"], _utc(start)), fontsize=_LABEL, loc="left")
        ax.set_xlabel("minutes from the EB's start (scan numbers on the bars)", fontsize=_LABEL)
        for side in ("left", "right", "top"):
            ax.spines[side].set_visible(False)
    from matplotlib.patches import Patch
    handles = [Patch(color=c, label=l) for l, c in used.items()]
    if hatched:
        handles.append(Patch(facecolor=PALETTE["blue"], edgecolor="white", hatch="xx", label="off source"))
    fig.legend(handles=handles, loc="upper right", ncol=len(handles), fontsize=_LABEL, frameon=False)
    fig.suptitle("Observation timeline of member %s" % member["name"], x=0.01, ha="left", fontsize=_TITLE)
    _layout(fig, _WIDTH, height, left=0.3, right=0.3, top=0.95, bottom=0.5, rows=len(ebs), gap=0.85)
    _save(fig, path)
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
    """Map restored spw ids to those of an output (``spw_map``; a target split keeps the .split.cal's ids)."""
    if step == "restored":
        return dict((str(s), str(s)) for s in eb["science"])
    mapping = (eb.get("sci") or {}).get("spw_map") or {}
    return dict((str(k), str(v)) for k, v in mapping.items())


def flags(member, path):
    """Draw, per EB, the flagged fraction per science spw and per antenna of the restored MS and the outputs.

    Parameters and the file written are as for ``spectral_setup``. Returns, per
    EB, ``{'spw': {'old->new': {step: fraction}}, 'antenna': {name: {step: fraction}}}``
    with steps ``restored``, ``.split.cal``, ``.source``.
    """
    ebs = [eb for eb in member["ebs"] if any(eb["flags"].values())]
    names = max([len(eb["flags"][s]["antenna"]) for eb in ebs for s in eb["flags"] if eb["flags"][s]] + [0])
    below = 0.8 if names > 12 else 0.55  # room for antenna names written upright
    height = 0.75 + below + 1.6 * len(ebs) + (below + 0.25) * (len(ebs) - 1)
    fig = _figure(_WIDTH, height)
    axes = fig.subplots(len(ebs), 2, squeeze=False, gridspec_kw={"width_ratios": [1, 1.4]})
    drawn, handles = {}, {}
    for (ax_spw, ax_ant), eb in zip(axes, ebs):
        drawn[eb["eb"]] = {}
        for ax, kind, title in ((ax_spw, "spw", "science spw (restored id->new id)"), (ax_ant, "antenna", "antenna")):
            rows = _aligned(eb, kind)
            drawn[eb["eb"]][kind] = dict(rows)
            steps = [s for s in _STEPS if s[0] in eb["flags"] and eb["flags"][s[0]]]
            bar = 0.8 / max(len(steps), 1)
            top = max([v for _, r in rows for v in r.values() if v is not None] + [0.05])
            for j, (step, label, colour) in enumerate(steps):
                xs = [i + (j - (len(steps) - 1) / 2.0) * bar for i in range(len(rows))]
                values = [r.get(step) or 0.0 for _, r in rows]
                handles.setdefault(step, _bars(ax, xs, [v * 100 for v in values], bar, PALETTE[colour], label))
                for x, v in zip(xs, values) if kind == "spw" else ():  # antennas: the bars only (drawing time)
                    ax.text(x, v * 100 + top * 2, "%.1f" % (v * 100), ha="center", va="bottom", fontsize=7.5)
            ax.set_xlim(-0.6, max(len(rows), 1) - 0.4)
            ax.set_xticks(range(len(rows)))
            crowded = len(rows) > 12  # ALMA's 40-50 antennas: names upright would run into each other
            ax.set_xticklabels([k for k, _ in rows], fontsize=7 if crowded else _LABEL, rotation=90 if crowded else 0)
            ax.set_ylim(0, top * 130)
            ax.set_ylabel("flagged (%)", fontsize=_LABEL)
            ax.set_title("%s: per %s" % (eb["eb"], title), fontsize=_LABEL, loc="left")
            for side in ("right", "top"):
                ax.spines[side].set_visible(False)
    fig.legend(handles=[handles[s[0]] for s in _STEPS if s[0] in handles], loc="upper right", ncol=3,
               fontsize=_LABEL, frameon=False)
    fig.suptitle("Flagged fraction of member %s (as flagdata summary counts)" % member["name"], x=0.01, ha="left",
                 fontsize=_TITLE)
    _layout(fig, _WIDTH, height, left=0.65, right=0.2, top=0.75, bottom=below, rows=len(ebs), gap=below + 0.25,
            wspace=0.12)
    _save(fig, path)
    return drawn
