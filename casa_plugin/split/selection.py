"""Select science spectral windows and fields of an EB by intent, and map old to new spw ids."""

import fnmatch
import os
import re
from contextlib import contextmanager

import numpy as np

from ..ms import casa, present, subtable_columns
from ..ms.casa import msmetadata

__all__ = ["match_intents", "science_spws", "plan_science", "fields_for_intent", "describe_spws", "spw_map"]

_SEPARATORS = re.compile(r"[#._]")


def _normal(text):
    """Fold ALMA's intent separators (``#``, ``.``, ``_``) and case, so variants compare equal."""
    return _SEPARATORS.sub("_", text.strip().upper())


def match_intents(intents, pattern):
    """Return the intents (in their MS spelling) matched by a comma-separated glob ``pattern``.

    ``OBSERVE_TARGET#ON_SOURCE``, ``OBSERVE_TARGET.ON_SOURCE`` and
    ``OBSERVE_TARGET_ON_SOURCE`` all match each other, in any case.
    """
    patterns = [_normal(p) for p in pattern.split(",") if p.strip()]
    return [i for i in intents if any(fnmatch.fnmatchcase(_normal(i), p) for p in patterns)]


@contextmanager
def _opened(vis):
    """Yield an msmetadata tool opened on ``vis``; always closed afterwards."""
    md = msmetadata()
    md.open(vis)
    try:
        yield md
    finally:
        md.close()


class _Tables(object):
    """The msmetadata calls the science selection makes, answered from the tables themselves.

    ``intents()`` comes from the STATE table's OBS_MODE (split at commas, as msmetadata does); ``spwsforintent()``
    also from the main table's STATE_ID and DATA_DESC_ID (read once, on first use); the rest from the
    SPECTRAL_WINDOW table. msmetadata's ``open`` and ``spwsforintent`` cache the whole main table: 0.09 s on a
    0.7 GB small-row EB, against 0.035 s for these reads. tests/test_split_selection.py checks that both give
    the same answers.
    """

    def __init__(self, vis):
        self.vis = vis
        names, nchan = subtable_columns(vis, "SPECTRAL_WINDOW", "NAME", "NUM_CHAN")
        self.names, self.nchans = [str(n) for n in names], [int(n) for n in nchan]
        self._freqs, self._by_intent, self._obs_modes = {}, None, None

    def nspw(self):
        return len(self.names)

    def nchan(self, spw):
        return self.nchans[spw]

    def namesforspws(self, spws):
        return [self.names[s] for s in spws]

    def chanfreqs(self, spw):
        if spw not in self._freqs:
            tb = casa.table()
            tb.open(os.path.join(self.vis, "SPECTRAL_WINDOW"))
            try:
                self._freqs[spw] = np.asarray(tb.getcell("CHAN_FREQ", spw), dtype=float)
            finally:
                tb.close()
        return self._freqs[spw]

    def intents(self):
        """Every intent of the STATE table, whether or not a row of the main table has it (as msmetadata's)."""
        return sorted(set(i.strip() for m in self._modes() for i in str(m).split(",") if i.strip()))

    def _modes(self):
        """The STATE table's OBS_MODE column, read once."""
        if self._obs_modes is None:
            self._obs_modes, = subtable_columns(self.vis, "STATE", "OBS_MODE")
        return self._obs_modes

    def spwsforintent(self, intent):
        return sorted(self._observed().get(intent, ()))

    def _observed(self):
        """``{intent: set of spw ids}`` over the main table's rows."""
        if self._by_intent is None:
            tb = casa.table()
            tb.open(self.vis)
            try:
                rows = tb.nrows()
                state = tb.getcol("STATE_ID") if rows else np.zeros(0, int)
                ddid = tb.getcol("DATA_DESC_ID") if rows else np.zeros(0, int)
            finally:
                tb.close()
            modes = self._modes()
            spw_of, = subtable_columns(self.vis, "DATA_DESCRIPTION", "SPECTRAL_WINDOW_ID")
            kept = state >= 0  # -1: a row with no state
            n = max(len(spw_of), 1)
            self._by_intent = {}
            for pair in present(state[kept].astype(np.int64) * n + ddid[kept]):
                st, dd = divmod(int(pair), n)
                for intent in str(modes[st]).split(","):
                    if intent.strip():
                        self._by_intent.setdefault(intent.strip(), set()).add(int(spw_of[dd]))
        return self._by_intent


def _matched_or_raise(md, vis, intent):
    intents = list(md.intents())
    matched = match_intents(intents, intent)
    if not matched:
        raise ValueError(
            "%s: no scan has an intent matching %r; intents present: %s. Give intent= one of those "
            "(globs allowed)" % (vis, intent, ", ".join(sorted(intents)) or "none"))
    return matched


def science_spws(vis, intent="OBSERVE_TARGET*", minnchan=5):
    """Return the sorted spw ids observed with ``intent`` that have at least ``minnchan`` channels.

    Raises
    ------
    ValueError
        If no intent matches, or no matching spw has enough channels (the
        message lists every spw with its channel count).
    """
    return _science(_Tables(vis), vis, intent, minnchan)


def _science(md, vis, intent, minnchan):
    matched = _matched_or_raise(md, vis, intent)
    observed = set()
    for name in matched:
        observed.update(int(s) for s in md.spwsforintent(name))
    chosen = sorted(s for s in observed if md.nchan(s) >= minnchan)
    if not chosen:
        listing = ", ".join("%d (%d ch)" % (s, md.nchan(s)) for s in range(md.nspw()))
        raise ValueError(
            "%s: no spw observed with intent %r has >= %d channels; spws: %s. Lower minnchan "
            "or give spw= explicitly" % (vis, intent, minnchan, listing))
    return chosen


def plan_science(vis, intent="OBSERVE_TARGET*", minnchan=5, spws=None):
    """Choose the science spws of ``vis`` (or check the given ``spws`` exist), reading its metadata once.

    Returns
    -------
    tuple
        ``(spw ids, describe_spws of them, spectra of every spw)``; the
        spectra go to ``spw_map(..., before=)``.

    Raises
    ------
    ValueError
        As ``science_spws``, or if a given spw id is not in ``vis``.
    """
    md = _Tables(vis)
    if spws is None:
        spws = _science(md, vis, intent, minnchan)
    else:
        unknown = [s for s in spws if not 0 <= s < md.nspw()]
        if unknown:
            raise ValueError("%s has no spw %s; its spws are %s" % (
                vis, ",".join(map(str, unknown)), ",".join(map(str, range(md.nspw())))))
    return spws, _describe(md, spws), _spectra_of(md)


def fields_for_intent(vis, intent):
    """Return ``(intents, field_names)`` matched by ``intent`` in ``vis``; raises ValueError if none."""
    with _opened(vis) as md:
        matched = _matched_or_raise(md, vis, intent)
        ids = set()
        for name in matched:
            ids.update(int(f) for f in md.fieldsforintent(name))
        names = list(md.fieldnames())
        return matched, [names[i] for i in sorted(ids)]


def describe_spws(vis, spws):
    """Return ``{spw: {'name', 'nchan', 'freq_ghz': (lo, hi)}}`` for the given spw ids (None: all)."""
    md = _Tables(vis)
    return _describe(md, list(range(md.nspw())) if spws is None else spws)


def _describe(md, spws):
    names = md.namesforspws(list(spws)) if len(spws) else []
    out = {}
    for spw, name in zip(spws, names):
        freqs = np.asarray(md.chanfreqs(spw))
        out[int(spw)] = {"name": str(name), "nchan": int(md.nchan(spw)),
                         "freq_ghz": [round(float(freqs.min()) / 1e9, 6), round(float(freqs.max()) / 1e9, 6)]}
    return out


def _spectra(vis):
    return _spectra_of(_Tables(vis))


def _spectra_of(md):
    return [(str(md.namesforspws([s])[0]), np.asarray(md.chanfreqs(s))) for s in range(md.nspw())]


def _same_band(freqs, out):
    """True if ``out`` are the channels ``freqs``, or channel averages of them (split with ``width``)."""
    if out.shape == freqs.shape:
        return bool(np.allclose(out, freqs, rtol=0, atol=1e-3))
    slack = abs(freqs[-1] - freqs[0]) / max(len(freqs) - 1, 1)  # one input channel
    return 0 < len(out) < len(freqs) and out.min() >= freqs.min() - slack and out.max() <= freqs.max() + slack


def spw_map(invis, outvis, spws, before=None):
    """Map each selected input spw id to its id in ``outvis``, matching names and channel frequencies.

    Channel-averaged outputs match when their channels lie within the input spw's band.
    ``before``: the spectra of ``invis`` from ``plan_science``, if read already.

    Returns
    -------
    dict
        ``{old_id: new_id}`` (string keys, for JSON) for every id in ``spws``.

    Raises
    ------
    ValueError
        If a selected spw has no counterpart in ``outvis``.
    """
    before, after = before or _spectra(invis), _spectra(outvis)
    mapping = {}
    for old in spws:
        name, freqs = before[old]
        new = [i for i, (n, f) in enumerate(after) if n == name and _same_band(freqs, f)]
        if not new:
            raise ValueError("%s: spw %d of %s has no counterpart in the output" % (outvis, old, invis))
        mapping[str(old)] = new[0] if old not in new else old
    return mapping
