"""The request a split output is made for, what it must then hold, and how an output differs from it.

The same comparison decides whether an existing output counts as done and
checks every output just written, so an output is only ever reported for the
request that made it.
"""

import math

import numpy as np

from ..ms import present

__all__ = ["science_request", "target_request", "expected_science", "expected_target", "differences",
           "averaged_nothing"]

#: What a request records but the output's contents cannot show on their own.
_HIDDEN = ("datacolumn", "width", "timebin")


def science_request(job):
    """Return the parts of a split_sci job that decide what its output holds."""
    return {"task": "split_sci", "intent": job["intent"], "minnchan": job["minnchan"], "spw": job["spw"],
            "datacolumn": job["datacolumn"].lower(), "reindex": job["reindex"], "width": job.get("width", 1),
            "timebin": job.get("timebin", "0s")}


def target_request(job):
    """Return the parts of a split_tgt job that decide what its output holds."""
    return {"task": "split_tgt", "intent": job["intent"], "datacolumn": job["datacolumn"].lower()}


def expected_target(source, fields):
    """Return what a target split of the input ``source`` (``read_contents(..., ids=True)``) keeping ``fields`` holds."""
    wanted = np.array([name in fields for name in source["_field_names"]] or [False])
    ddids = present(source["_ddid"][wanted[source["_field"]]])
    spws = set(str(int(source["_spw_of"][int(d)])) for d in ddids)
    return {"spws": dict((k, v) for k, v in source["spws"].items() if k in spws), "fields": sorted(fields),
            "interval_s": source["interval_s"], "interval_max_s": source.get("interval_max_s"), "timebin_s": 0.0}


def _width(width):
    try:
        return int(width)
    except (TypeError, ValueError):
        return None  # one width per spw (split_sci refuses anything else): the channel count is not checked


def _seconds(timebin):
    if str(timebin).strip() in ("", "0", "0s"):
        return 0.0
    from casatools import quanta
    qa = quanta()
    return float(qa.convert(qa.quantity(str(timebin)), "s")["value"])


def expected_science(source, spws, request):
    """Return what a science split of the input described by ``source`` (its contents) must hold.

    ``spws`` are the input spw ids the request selects, in the order given:
    CASA's split numbers the output's spws in that order (``spw='5,1'``: input
    spw 5 becomes 0).
    """
    width = _width(request["width"])
    expected = {}
    for index, old in enumerate(spws):
        spw = dict(source["spws"][str(old)])
        if width and width > 1:
            spw["nchan"] = [spw["nchan"] // width, int(math.ceil(spw["nchan"] / float(width)))]
        new = old if not request["reindex"] else index
        expected[str(new)] = dict(spw, input_id=old, order=index)
    return {"spws": expected, "fields": source["fields"], "interval_s": source["interval_s"],
            "interval_max_s": source.get("interval_max_s"), "timebin_s": _seconds(request["timebin"])}


def _rekeyed(expected, reindex):
    """``expected`` as it would be with ``reindex`` (output spw ids 0.. or the input's)."""
    spws = sorted(expected["spws"].values(), key=lambda s: s.get("order", s["input_id"]))
    return dict(expected, spws=dict((str(i if reindex else s["input_id"]), s) for i, s in enumerate(spws)))


def _band_matches(want, got, tolerance_ghz):
    lo, hi = want["freq_ghz"]
    return got["freq_ghz"][0] >= lo - tolerance_ghz and got["freq_ghz"][1] <= hi + tolerance_ghz


def _spw_differences(expected, actual):
    diffs, channels = [], {}
    for new, want in sorted(expected["spws"].items(), key=lambda kv: int(kv[0])):
        got = actual["spws"].get(new)
        nchans = sorted(set(want["nchan"])) if isinstance(want["nchan"], list) else [want["nchan"]]
        label = "spw %s (input spw %s)" % (new, want["input_id"])
        if got is None:
            same = [i for i, s in actual["spws"].items() if s["name"] == want["name"]]
            diffs.append("%s is missing%s" % (label, " (it is spw %s there)" % same[0] if same else ""))
        elif got["name"] != want["name"] or not _band_matches(want, got, want["chan_width_khz"] * 1e-6):
            diffs.append("%s: it holds %s at %.6f-%.6f GHz instead of %s" % (
                label, got["name"], got["freq_ghz"][0], got["freq_ghz"][1], want["name"]))
        elif got["nchan"] not in nchans:
            channels.setdefault((got["nchan"], " or ".join(str(n) for n in nchans)), []).append(
                (new, want["input_id"]))
    for (got, want), spws in sorted(channels.items()):
        ids, inputs = ",".join(new for new, _ in spws), ",".join(str(old) for _, old in spws)
        diffs.append("spw %s%s %s %d channels; this request gives %s" % (
            ids, "" if ids == inputs else " (input spw %s)" % inputs, "has" if len(spws) == 1 else "have", got,
            want))
    extra = sorted(set(actual["spws"]) - set(expected["spws"]), key=int)
    if extra:
        asked = sorted(s["input_id"] for s in expected["spws"].values())
        diffs.append("it holds %d spws (its own ids %s), this request selects %d (input spw %s): it also holds "
                     "its spw %s" % (len(actual["spws"]), ",".join(sorted(actual["spws"], key=int)), len(asked),
                                     ",".join(str(i) for i in asked), ",".join(extra)))
    return diffs


def _interval_differences(expected, actual):
    """How the output's integrations differ from what CASA's time averaging gives for the request.

    CASA bins the integrations whose times fall within ``timebin``, within a
    scan and state, so a bin holds up to ``ceil(timebin / interval)`` of them
    and partly filled bins stay shorter: only the longest integration is bound,
    and a timebin that averaged nothing is not an error (the line says so).
    """
    before, timebin = expected["interval_s"], expected["timebin_s"]
    longest_in = expected.get("interval_max_s") or before
    longest = actual.get("interval_max_s") or actual["interval_s"]
    if timebin <= before * 1.01:
        if longest > longest_in * 1.01:
            return ["its integrations are up to %.3f s (time-averaged), the input's %.3f s, and this request has "
                    "no timebin" % (longest, longest_in)]
        return []
    bound = max(longest_in, math.ceil(timebin / before - 1e-6) * before)
    if longest > bound * 1.01:
        return ["its integrations are up to %.3f s: averaged beyond timebin=%.3g s (at most %.3f s from %.3f s "
                "integrations)" % (longest, timebin, bound, before)]
    return []


def averaged_nothing(expected, actual):
    """True if the request asked for a timebin but every integration of the output stayed as the input's."""
    return expected.get("timebin_s", 0) > expected["interval_s"] * 1.01 and \
        (actual.get("interval_max_s") or actual["interval_s"]) <= (expected.get("interval_max_s") or
                                                                   expected["interval_s"]) * 1.01


def differences(request, actual, expected=None, made=None):
    """Return how an output holding ``actual`` differs from what ``request`` asks for; ``[]`` if it matches.

    Parameters
    ----------
    request : dict
        ``science_request`` or ``target_request`` of the new job.
    actual : dict
        ``read_contents`` of the output.
    expected : dict, optional
        What the request gives: ``expected_science`` (science), or the input's
        contents with ``'fields'`` set to the target fields (target). None when
        the input is gone; then only ``made`` can be compared.
    made : dict, optional
        The request that made the output, where known (run record or the
        delivery's scriptForPI); compared on what contents cannot show.
    """
    diffs = []
    for key in _HIDDEN:
        if made is not None and key in made and key in request and str(made[key]) != str(request[key]) and \
                (key != "timebin" or _seconds(made[key]) != _seconds(request[key])):
            diffs.append("it was made with %s=%r; this request has %s=%r" % (key, made[key], key, request[key]))
    if expected is None:
        return diffs
    if request["task"] == "split_sci":
        spw_diffs = _spw_differences(expected, actual)
        if spw_diffs and not _spw_differences(_rekeyed(expected, not request["reindex"]), actual):
            ids = ",".join(sorted(actual["spws"], key=int))
            spw_diffs = ["its spw ids %s are %s; this request has reindex=%s (pass reindex=%s to accept them)" % (
                ids, "re-indexed" if request["reindex"] is False else "the input's (kept)", request["reindex"],
                not request["reindex"])]
        diffs += spw_diffs
    else:
        if sorted(actual["spws"]) != sorted(expected["spws"]) or any(
                actual["spws"][s]["nchan"] != expected["spws"][s]["nchan"] for s in actual["spws"]
                if s in expected["spws"]):
            diffs.append("it holds spws %s, its input %s" % (_spw_list(actual), _spw_list(expected)))
    if sorted(actual["fields"]) != sorted(expected["fields"]):
        diffs.append("it holds fields %s; this request gives %s" % (",".join(actual["fields"]) or "none",
                                                                     ",".join(expected["fields"]) or "none"))
    if "timebin_s" in expected:
        diffs += _interval_differences(expected, actual)
    return diffs


def _spw_list(contents):
    return ",".join("%s (%d ch)" % (s, contents["spws"][s]["nchan"]) for s in sorted(contents["spws"], key=int))
