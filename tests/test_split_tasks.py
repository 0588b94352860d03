"""split_sci and split_tgt on a restored synthetic delivery, checked against the tutorial's manual loop."""

import glob
import json
import os
import shutil

import numpy as np
import pytest

from casa_helpers import (assert_same_ms, columns, field_names_in_main, flag_versions, manual_loop, split_failure,
                          snapshot, subtable_column)
from casa_plugin import SplitError, split_sci, split_tgt
from casa_plugin.record import RECORD_NAME
from casa_plugin.testing.synthetic_ms import corrected_gain

pytestmark = pytest.mark.casa


def _eb_links(calibrated):
    return sorted(glob.glob(os.path.join(calibrated, "uid___*.ms")))


def test_equivalent_to_the_manual_loop(restored, restored_delivery, tmp_path):
    manual = str(tmp_path / "manual")
    shutil.copytree(restored_delivery["project"], manual, symlinks=True)
    split_sci(vis=restored["project"])
    split_tgt(vis=restored["project"])
    ours = sorted(glob.glob(os.path.join(restored["project"], "*", "*", "*", "calibrated")))
    theirs = sorted(glob.glob(os.path.join(manual, "*", "*", "*", "calibrated")))
    assert len(ours) == len(theirs) == 2
    compared = 0
    for cal_ours, cal_theirs in zip(ours, theirs):
        manual_loop(cal_theirs)
        for eb in _eb_links(cal_theirs):
            name = os.path.basename(eb)
            for suffix in (".split.cal", ".split.cal.source"):
                assert_same_ms(os.path.join(cal_ours, name + suffix), os.path.join(cal_theirs, name + suffix))
                assert flag_versions(os.path.join(cal_ours, name + suffix)) == ["original_flags"]
                compared += 1
    assert compared == 2 * 3


def test_split_cal_holds_corrected_data_of_science_spws(restored, calibrated_dirs):
    result = split_sci(vis=calibrated_dirs[1])
    assert len(result["ebs"]) == 2
    for vis, eb in result["ebs"].items():
        assert eb["status"] == "split" and eb["spw"] == [1, 3, 5, 7]
        assert eb["spw_map"] == {"1": 0, "3": 1, "5": 2, "7": 3}
        out = columns(eb["outputvis"], ("DATA", "TIME", "ANTENNA1", "ANTENNA2", "DATA_DESC_ID"))
        raw = columns(vis, ("CORRECTED_DATA", "DATA", "TIME", "ANTENNA1", "ANTENNA2", "DATA_DESC_ID"),
                      query="DATA_DESC_ID IN [1,3,5,7]")
        assert out["DATA"].shape == raw["CORRECTED_DATA"].shape
        key_out = np.lexsort((out["DATA_DESC_ID"], out["ANTENNA2"], out["ANTENNA1"], out["TIME"]))
        key_raw = np.lexsort((raw["DATA_DESC_ID"], raw["ANTENNA2"], raw["ANTENNA1"], raw["TIME"]))
        np.testing.assert_array_equal(out["DATA"][..., key_out], raw["CORRECTED_DATA"][..., key_raw])
        assert not np.allclose(raw["CORRECTED_DATA"], raw["DATA"])  # the column choice is visible
        assert abs(corrected_gain(1) - 1) > 1e-3


def test_outputs_land_in_calibrated_beside_links_and_record(restored, calibrated_dirs):
    cal = calibrated_dirs[1]
    assert all(os.path.islink(p) for p in _eb_links(cal))
    split_sci(vis=cal)
    split_tgt(vis=cal)
    for eb in _eb_links(cal):
        assert os.path.isdir(eb + ".split.cal") and not os.path.islink(eb + ".split.cal")
        assert os.path.isdir(eb + ".split.cal.source")
        assert not os.path.exists(os.path.join(cal, "working", os.path.basename(eb) + ".split.cal"))
    record = json.load(open(os.path.join(cal, RECORD_NAME)))
    assert sorted(record["outputs"]) == ["uid___A002_Xf7ad58_Xd406.ms.split.cal",
                                         "uid___A002_Xf7ad58_Xd406.ms.split.cal.source",
                                         "uid___A002_Xf8f6a9_X15c79.ms.split.cal",
                                         "uid___A002_Xf8f6a9_X15c79.ms.split.cal.source"]
    assert record["outputs"]["uid___A002_Xf7ad58_Xd406.ms.split.cal"]["spw_map"] == {"1": 0, "3": 1, "5": 2, "7": 3}
    assert record["outputs"]["uid___A002_Xf7ad58_Xd406.ms.split.cal.source"]["fields"] == ["NGC6334I"]
    assert not [n for n in os.listdir(cal) if n.endswith(".partial")]


def test_source_holds_only_target_fields(restored, calibrated_dirs):
    split_sci(vis=calibrated_dirs[0])
    result = split_tgt(vis=calibrated_dirs[0])
    (eb,) = result["ebs"].values()
    assert sorted(eb["fields"]) == ["NGC6334I", "NGC6334I_N"] or eb["fields"] == ["NGC6334I"]
    assert field_names_in_main(eb["outputvis"]) == sorted(eb["fields"])
    assert "J1924-2914" in field_names_in_main(eb["vis"])


def test_rerun_redoes_nothing_and_keeps_original_flags(restored):
    split_sci(vis=restored["project"])
    split_tgt(vis=restored["project"])
    before = snapshot(restored["project"])
    again_sci = split_sci(vis=restored["project"])
    again_tgt = split_tgt(vis=restored["project"])
    assert again_sci["counts"] == {"done": 3} and again_tgt["counts"] == {"done": 3}
    after = snapshot(restored["project"])
    changed = sorted(p for p in after if after[p] != before.get(p) and not p.endswith(RECORD_NAME))
    assert changed == []
    for out in glob.glob(os.path.join(restored["project"], "*", "*", "*", "calibrated", "*.split.cal*")):
        if not out.endswith(".flagversions"):
            assert flag_versions(out) == ["original_flags"]


def test_overwrite_redoes_with_a_single_flag_version(restored, calibrated_dirs):
    split_sci(vis=calibrated_dirs[0])
    result = split_sci(vis=calibrated_dirs[0], overwrite=True)
    (eb,) = result["ebs"].values()
    assert eb["status"] == "split"
    assert flag_versions(eb["outputvis"]) == ["original_flags"]


def test_reindex_false_keeps_spw_ids(restored, calibrated_dirs):
    result = split_sci(vis=calibrated_dirs[0], reindex=False)
    (eb,) = result["ebs"].values()
    assert eb["spw_map"] == {"1": 1, "3": 3, "5": 5, "7": 7}
    ddid = np.unique(columns(eb["outputvis"], ("DATA_DESC_ID",))["DATA_DESC_ID"])
    spw_of_ddid = subtable_column(eb["outputvis"], "DATA_DESCRIPTION", "SPECTRAL_WINDOW_ID")
    assert sorted(spw_of_ddid[d] for d in ddid) == [1, 3, 5, 7]


def test_explicit_spw_and_outputvis(restored, calibrated_dirs, tmp_path):
    vis = _eb_links(calibrated_dirs[1])[0]
    out = str(tmp_path / "mine.ms")
    result = split_sci(vis=vis, outputvis=out, spw=[3, 5])
    assert result["ebs"][vis]["spw_map"] == {"3": 0, "5": 1}
    assert len(subtable_column(out, "SPECTRAL_WINDOW", "NUM_CHAN")) == 2


def test_dryrun_touches_nothing(restored):
    before = snapshot(restored["project"])
    result = split_sci(vis=restored["project"], dryrun=True)
    assert result["counts"] == {"planned": 3}
    eb = list(result["ebs"].values())[0]
    assert sorted(eb["input_spws"]) == [1, 3, 5, 7] and eb["input_spws"][1]["nchan"] > 4
    assert snapshot(restored["project"]) == before


def _drop_corrected(vis):
    from casatools import table
    real = os.path.realpath(vis)
    tb = table()
    tb.open(real, nomodify=False)
    try:
        tb.removecols(["CORRECTED_DATA"])
    finally:
        tb.close()


def test_missing_corrected_data_is_an_error_not_a_fallback(restored, calibrated_dirs):
    vis = _eb_links(calibrated_dirs[1])[0]
    _drop_corrected(vis)
    with split_failure(r"has no CORRECTED_DATA column; .*restore_pi.*datacolumn='data'") as info:
        split_sci(vis=calibrated_dirs[1])
    results = info.value.results["ebs"]
    assert results[vis]["status"] == "failed"
    assert not os.path.exists(vis + ".split.cal")
    other = _eb_links(calibrated_dirs[1])[1]
    assert results[other]["status"] == "split" and os.path.isdir(other + ".split.cal")


def test_existing_split_cal_from_the_script_is_done_and_gets_flags(restored, calibrated_dirs):
    from casatasks import split
    vis = _eb_links(calibrated_dirs[1])[0]
    split(vis=vis, outputvis=vis + ".split.cal", spw="1,3,5,7")  # as DOSPLIT would, without flags
    result = split_sci(vis=vis)
    assert result["ebs"][vis]["status"] == "done" and result["ebs"][vis]["made_by"] == "unknown"
    assert result["ebs"][vis]["note"] == "made outside casa_plugin from datacolumn='corrected' (its HISTORY)"
    assert result["ebs"][vis]["flagversion_saved"] is True
    assert flag_versions(vis + ".split.cal") == ["original_flags"]


@pytest.mark.parametrize("kwargs, error, message", [
    ({"spw": "a,b"}, ValueError, "spw='a,b': give spw ids"),
    ({"datacolumn": "corr"}, ValueError, "datacolumn='corr': choose one of"),
    ({"overwrite": "yes"}, TypeError, "overwrite must be True or False"),
    ({"minnchan": "5"}, TypeError, "minnchan must be an integer"),
    ({"outputvis": "x.ms"}, ValueError, "outputvis='x.ms' names one output but vis selects 2"),
    ({"flagversion": " "}, ValueError, "flagversion must name a flag version"),
    ({"intent": "NOPE*"}, SplitError, "no scan has an intent matching 'NOPE\\*'"),
])
def test_bad_arguments(restored, calibrated_dirs, kwargs, error, message):
    before = snapshot(restored["project"])
    with (split_failure(message) if error is SplitError else pytest.raises(error, match=message)):
        split_sci(vis=calibrated_dirs[1], **kwargs)
    assert snapshot(restored["project"]) == before or error is SplitError


def test_split_tgt_needs_split_cal(restored, calibrated_dirs):
    with pytest.raises(FileNotFoundError, match=r"no uid___\*.ms.split.cal products found.*split_sci"):
        split_tgt(vis=calibrated_dirs[0])


def test_averaging_while_splitting(restored, calibrated_dirs):
    result = split_sci(vis=calibrated_dirs[0], width=8, timebin="12s")
    (eb,) = result["ebs"].values()
    assert eb["status"] == "split" and eb["spw_map"] == {"1": 0, "3": 1, "5": 2, "7": 3}
    nchan = subtable_column(eb["outputvis"], "SPECTRAL_WINDOW", "NUM_CHAN")
    assert list(nchan) == [64 // 8] * 4
    assert flag_versions(eb["outputvis"]) == ["original_flags"]


def test_the_docstrings_say_what_an_existing_output_gets():
    """Issue 23.11: help(split_sci) said an existing output 'is reported as done'; it fails if made otherwise."""
    from casa_plugin import split_sci, split_tgt
    assert "if not, that EB fails" in " ".join(split_sci.__doc__.split())
    assert "is stale: that EB fails until ``overwrite=True`` redoes it" in " ".join(split_tgt.__doc__.split())


def test_a_split_of_other_than_the_calibrated_data_says_so(restored, calibrated_dirs, tmp_path, caplog):
    """At the prompt a datacolumn can come from the other task's globals: the EB's line says what was split."""
    import logging
    caplog.set_level(logging.INFO, logger="casa_plugin")
    eb = os.path.join(calibrated_dirs[1], "uid___A002_Xf7ad58_Xd406.ms")
    raw = split_sci(vis=eb, outputvis=str(tmp_path / "raw.ms.split.cal"), datacolumn="data")["ebs"][eb]
    assert raw["status"] == "split" and "the EB's uncalibrated DATA, not its calibrated CORRECTED_DATA" in raw["note"]
    assert "uncalibrated DATA" in caplog.text  # on the EB's line
    whole = split_tgt(vis=eb, outputvis=str(tmp_path / "eb.source"), datacolumn="corrected")["ebs"][eb]
    assert whole["status"] == "split"
    assert "a restored EB split as it is (every spw, its CORRECTED_DATA), not a science split" in whole["note"]
    science = split_sci(vis=eb)["ebs"][eb]["outputvis"]
    with split_failure("its DATA is what split_tgt splits: leave datacolumn at its default"):
        split_tgt(vis=science, datacolumn="corrected")


def test_the_hint_for_a_missing_corrected_data_fits_the_input():
    """split_tgt(datacolumn='corrected') on a science split: leave the default; on an EB that was never
    calibrated: restore it first (its DATA is not calibrated, so the default is no fix there)."""
    from casa_plugin.split.jobs import _column_hint
    assert _column_hint("/d/uid___A.ms.split.cal", "CORRECTED_DATA", "split_tgt").startswith(
        "its DATA is what split_tgt splits: leave datacolumn at its default")
    assert _column_hint("/d/uid___A.ms", "CORRECTED_DATA", "split_tgt").startswith(
        "this MS holds no calibrated data: restore the calibration first")
