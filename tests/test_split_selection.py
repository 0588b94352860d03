"""Science spw and field selection on a synthetic EB, checked against msmetadata itself."""

import pytest

from casa_plugin.split import selection as science_spws
from casa_plugin.testing.synthetic_ms import make_eb_ms

pytestmark = pytest.mark.casa


@pytest.mark.parametrize("pattern, expected", [
    ("OBSERVE_TARGET*", ["OBSERVE_TARGET#ON_SOURCE", "OBSERVE_TARGET.OFF_SOURCE", "OBSERVE_TARGET_ON_SOURCE"]),
    ("OBSERVE_TARGET#ON_SOURCE", ["OBSERVE_TARGET#ON_SOURCE", "OBSERVE_TARGET_ON_SOURCE"]),
    ("observe_target.on_source", ["OBSERVE_TARGET#ON_SOURCE", "OBSERVE_TARGET_ON_SOURCE"]),
    ("*TARGET*", ["OBSERVE_TARGET#ON_SOURCE", "OBSERVE_TARGET.OFF_SOURCE", "OBSERVE_TARGET_ON_SOURCE"]),
    ("CALIBRATE_PHASE*,CALIBRATE_BANDPASS*", ["CALIBRATE_BANDPASS#ON_SOURCE", "CALIBRATE_PHASE#ON_SOURCE"]),
    ("NOTHING*", []),
])
def test_match_intents_separator_variants(pattern, expected):
    intents = ["CALIBRATE_BANDPASS#ON_SOURCE", "CALIBRATE_PHASE#ON_SOURCE", "OBSERVE_TARGET#ON_SOURCE",
               "OBSERVE_TARGET.OFF_SOURCE", "OBSERVE_TARGET_ON_SOURCE"]
    assert science_spws.match_intents(intents, pattern) == expected


@pytest.fixture(scope="module")
def eb(tmp_path_factory):
    return make_eb_ms(str(tmp_path_factory.mktemp("eb") / "uid___A002_Xf7ad58_Xd406.ms"), seed=3)["vis"]


@pytest.fixture(scope="module")
def eb_dot(tmp_path_factory):
    return make_eb_ms(str(tmp_path_factory.mktemp("ebdot") / "uid___A002_Xf7ad58_Xd407.ms"), seed=4,
                      intent_separator=".", off_source_scan=True)["vis"]


def test_science_spws_skip_wvr_and_channel_averages(eb):
    from casatools import msmetadata
    md = msmetadata()
    md.open(eb)
    try:
        manual = sorted(int(s) for s in md.spwsforintent("OBSERVE_TARGET*") if md.nchan(s) > 4)
    finally:
        md.close()
    assert science_spws.science_spws(eb) == manual == [1, 3, 5, 7]


def test_science_spws_with_old_separator(eb_dot):
    assert science_spws.science_spws(eb_dot, intent="OBSERVE_TARGET#ON_SOURCE") == [1, 3, 5, 7]


def test_minnchan_one_takes_the_averaged_twins(eb):
    assert science_spws.science_spws(eb, minnchan=1) == [1, 2, 3, 4, 5, 6, 7, 8]


def test_no_spw_with_enough_channels_lists_spws(eb):
    with pytest.raises(ValueError, match=r"uid___A002_Xf7ad58_Xd406.ms: no spw .* >= 10000 channels; "
                                         r"spws: 0 \(4 ch\), 1 \(\d+ ch\)"):
        science_spws.science_spws(eb, minnchan=10000)


def test_unknown_intent_lists_intents(eb):
    with pytest.raises(ValueError, match=r"no scan has an intent matching 'FOO\*'; intents present: "
                                         r"CALIBRATE_ATMOSPHERE#ON_SOURCE"):
        science_spws.science_spws(eb, intent="FOO*")


def test_fields_for_target_intent(eb, eb_dot):
    assert science_spws.fields_for_intent(eb, "*TARGET*") == (["OBSERVE_TARGET#ON_SOURCE"], ["NGC6334I"])
    intents, fields = science_spws.fields_for_intent(eb_dot, "*TARGET*")
    assert intents == ["OBSERVE_TARGET.OFF_SOURCE", "OBSERVE_TARGET.ON_SOURCE"]
    assert fields == ["NGC6334I"]


def test_describe_spws_frequencies(eb):
    info = science_spws.describe_spws(eb, [1, 3])
    assert sorted(info) == [1, 3]
    assert info[1]["nchan"] >= 64
    assert 200 < info[1]["freq_ghz"][0] < info[1]["freq_ghz"][1] < 300


def _kept_ids_split(eb, tmp_path):
    """A science split keeping the spw ids (as the scriptForPI's DOSPLIT makes): its SPECTRAL_WINDOW has every
    spw, its main table uses only 1, 3, 5, 7."""
    from casatasks import mstransform
    out = str(tmp_path / "kept.ms.split.cal")
    mstransform(vis=eb, outputvis=out, spw="1,3,5,7", datacolumn="data", reindex=False)
    return out


def test_the_tables_answer_as_msmetadata_does(eb, eb_dot, tmp_path):
    """plan_science reads intents, spws and channels from the tables, not through msmetadata (whose open caches the
    whole main table): every answer it uses is msmetadata's, on an EB, one with '.' separators and an off-source
    scan, and a split keeping the spw ids."""
    from casatools import msmetadata
    for vis in (eb, eb_dot, _kept_ids_split(eb, tmp_path)):
        md, tables = msmetadata(), science_spws._Tables(vis)
        md.open(vis)
        try:
            assert tables.intents() == sorted(md.intents())
            for intent in md.intents():
                assert tables.spwsforintent(intent) == sorted(int(s) for s in md.spwsforintent(intent)), intent
            assert tables.nspw() == md.nspw()
            spws = list(range(md.nspw()))
            assert tables.namesforspws(spws) == list(md.namesforspws(spws))
            for spw in spws:
                assert tables.nchan(spw) == md.nchan(spw)
                assert (tables.chanfreqs(spw) == md.chanfreqs(spw)).all()
        finally:
            md.close()
    assert science_spws.science_spws(vis) == [1, 3, 5, 7]
