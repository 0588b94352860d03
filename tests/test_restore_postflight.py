"""The postflight proves a restore: CORRECTED_DATA differs from DATA on every science spw, the final flag version."""

import os
import re
import shutil

import pytest

from casa_plugin import RestoreError
from casa_plugin import record as run_record
from casa_plugin.restore import postflight
from casa_plugin.testing.pipeline_standin import restore_with_standin, skip_applycal

pytestmark = pytest.mark.casa

XB6B = "member.uid___A001_X15a2_Xb6b"
XB6D = "member.uid___A001_X15a2_Xb6d"
SCIENCE = {"1": "differs", "3": "differs", "5": "differs", "7": "differs"}


def _member(info, name):
    (member,) = [m for m in info["members"] if m.endswith(name)]
    return member


def _asdm(member, eb):
    return os.path.join(member, "raw", eb + ".asdm.sdm")


def _alter(ms, method, *args):
    """Call the table tool's ``method`` on the main table of ``ms`` (a restored copy's MS) opened for writing."""
    from casatools import table
    tb = table()
    tb.open(os.path.realpath(ms), nomodify=False)
    try:
        getattr(tb, method)(*args)
    finally:
        tb.close()


def _products(member, ebs, suffix=".ms"):
    return dict((eb, os.path.join(member, "calibrated", eb + suffix)) for eb in ebs)


def test_a_restore_that_did_not_apply_calibration_is_failed_and_the_next_call_names_it(delivery, casa_session,
                                                                                         caplog):
    member = _member(delivery, XB6D)
    bad, good = delivery["members"][member]  # two EBs: only the first restored without applycal
    skip_applycal(_asdm(member, bad))
    with pytest.raises(RestoreError, match=r"failed for 1 of 2 members") as info:
        restore_with_standin(delivery["project"])
    result = info.value.results["members"][member]
    record = run_record.load(os.path.join(member, "calibrated"))["restore"]
    found = r"%s: CORRECTED_DATA equals DATA in science spws 1, 3, 5, 7 of \S+%s.ms \(\d+ sampled target rows\)" % (
        bad, bad)
    line = [r.getMessage() for r in caplog.records if "FAILED" in r.getMessage()]
    assert len(line) == 1 and XB6D in line[0], line
    for text in (result["error"], record["error"], line[0]):
        assert re.search(found, text) and "did not restore the calibration" in text, text
        assert good + ":" not in text, text  # the calibrated EB is not named
    assert result["status"] == record["status"] == "failed"
    assert record["postflight"][bad]["spws"] == {"1": "equal", "3": "equal", "5": "equal", "7": "equal"}
    assert record["postflight"][good]["spws"] == SCIENCE and not record["postflight"][good]["problems"]
    assert info.value.results["members"][_member(delivery, XB6B)]["status"] == "restored"
    # the next call names it (every EB's MS is there, but its restore did not calibrate) instead of counting it
    with pytest.raises(RestoreError, match=r"preflight failed; nothing was run:\n  %s: calibrated/ exists but has "
                                           r"every EB's MS but its last restore was failed \(casa_plugin_record.json: "
                                           r"%s.*restore_pi\(member='%s', overwrite=True\)"
                                           % (XB6D, found, re.escape(member))) as again:
        restore_with_standin(delivery["project"])
    assert again.value.results["members"][member]["status"] == "failed"


@pytest.mark.subprocess
def test_one_uncalibrated_spw_fails_a_member_restored_in_its_own_casa(delivery, casa_session):
    """Side by side, each member in a child CASA: the child's postflight names the one spw left uncalibrated."""
    member = _member(delivery, XB6B)
    (eb,) = delivery["members"][member]
    skip_applycal(_asdm(member, eb), spws=[3])
    with pytest.raises(RestoreError, match=r"failed for 1 of 2 members") as info:
        restore_with_standin(delivery["project"], parallel=2)
    result = info.value.results["members"][member]
    assert re.search(r"CORRECTED_DATA equals DATA in science spw 3 of \S+%s.ms" % eb, result["error"]), result
    record = run_record.load(os.path.join(member, "calibrated"))["restore"]
    assert record["status"] == "failed"
    assert record["postflight"][eb]["spws"] == dict(SCIENCE, **{"3": "equal"})
    assert info.value.results["members"][_member(delivery, XB6D)]["status"] == "restored"


def test_a_pipeline_restore_passes_and_its_record_says_what_was_compared(restored):
    for member, ebs in restored["members"].items():
        found = postflight.check_restore(member, _products(member, ebs))
        recorded = run_record.load(os.path.join(member, "calibrated"))["restore"]["postflight"]
        for eb in ebs:
            entry = found[eb]
            assert entry["problems"] == [] and entry["skipped"] is None and entry["kind"] == "pipeline"
            assert entry["spws"] == SCIENCE and entry["compared"] == "CORRECTED_DATA with DATA"
            assert entry["flagversion"] == "Pipeline_Final" and 0 < entry["rows"] <= 16
            assert recorded[eb]["spws"] == SCIENCE and recorded[eb]["problems"] == []
        assert postflight.problems_of(found) == []


def test_a_restored_ms_without_pipeline_final_is_named(restored):
    member = _member(restored, XB6B)
    (eb,) = restored["members"][member]
    ms = os.path.join(member, "calibrated", eb + ".ms")
    shutil.rmtree(os.path.realpath(ms + ".flagversions"))
    (text,) = postflight.problems_of(postflight.check_restore(member, _products(member, [eb])))
    assert text == ("%s: %s.flagversions has no flag version Pipeline_Final (the pipeline's restore saves it last): "
                    "the restore did not finish" % (eb, ms))


def test_total_power_compares_float_data_or_says_why_not(restored):
    """A TP MS has FLOAT_DATA, not DATA (here the restored MS's DATA renamed, its values kept)."""
    member = _member(restored, XB6B)
    (eb,) = restored["members"][member]
    ms = os.path.join(member, "calibrated", eb + ".ms")
    _alter(ms, "renamecol", "DATA", "FLOAT_DATA")
    entry = postflight.check_restore(member, _products(member, [eb]))[eb]
    assert entry["compared"] == "CORRECTED_DATA with FLOAT_DATA" and entry["spws"] == SCIENCE
    _alter(ms, "removecols", ["CORRECTED_DATA"])
    entry = postflight.check_restore(member, _products(member, [eb]))[eb]
    assert entry["problems"] == [] and "total power (FLOAT_DATA) without CORRECTED_DATA" in entry["skipped"]


def test_an_interferometric_ms_without_corrected_data_is_named(restored):
    member = _member(restored, XB6B)
    (eb,) = restored["members"][member]
    ms = os.path.join(member, "calibrated", eb + ".ms")
    _alter(ms, "removecols", ["CORRECTED_DATA"])
    (text,) = postflight.problems_of(postflight.check_restore(member, _products(member, [eb])))
    assert text == "%s: %s has no CORRECTED_DATA column: the calibration was not applied" % (eb, ms)


@pytest.mark.parametrize("options, where, skipped", [
    ({"dosplit": True}, "working", None),  # DOSPLIT: the restored MS stays only in calibrated/working/
    ({"spacesaving": 2, "dosplit": True}, None, r"no restored uid\S+\.ms \(SPACESAVING=2 deletes it once its \.split\.cal is made\)"),
])
def test_dosplit_and_spacesaving_members(delivery, casa_session, options, where, skipped):
    member = _member(delivery, XB6B)
    (eb,) = delivery["members"][member]
    restore_with_standin(member, **options)
    entry = run_record.load(os.path.join(member, "calibrated"))["restore"]["postflight"][eb]
    assert entry["problems"] == []
    if where:
        assert entry["ms"] == os.path.join(member, "calibrated", where, eb + ".ms") and entry["spws"] == SCIENCE
    else:
        assert entry["ms"] is None and re.match(skipped, entry["skipped"]), entry


def test_a_manual_member_is_checked_on_its_ms_split_and_after_applycal(restored, tmp_path):
    """A manually calibrated member: CORRECTED_DATA of <eb>.ms.split, flag version AfterApplycal of its .split.cal."""
    from casatasks import flagmanager, split
    member = _member(restored, XB6B)
    (eb,) = restored["members"][member]
    calibrated = os.path.join(member, "calibrated")
    open(os.path.join(member, "script", eb + ".ms.scriptForCalibration.py"), "w").close()
    os.rename(os.path.join(calibrated, eb + ".ms"), os.path.join(calibrated, eb + ".ms.split"))
    final = os.path.join(calibrated, eb + ".ms.split.cal")
    split(vis=os.path.join(calibrated, eb + ".ms.split"), outputvis=final, datacolumn="corrected")
    products = _products(member, [eb], ".ms.split.cal")
    (text,) = postflight.problems_of(postflight.check_restore(member, products))
    assert "%s.flagversions has no flag version AfterApplycal (the scriptForCalibration saves it last)" % final in text
    flagmanager(vis=final, mode="save", versionname="AfterApplycal")
    entry = postflight.check_restore(member, products)[eb]
    assert entry["kind"] == "manual" and entry["problems"] == [] and entry["spws"] == SCIENCE
    assert entry["ms"] == os.path.join(calibrated, eb + ".ms.split")
    shutil.rmtree(os.path.realpath(entry["ms"]))  # SPACESAVING >= 1 deletes the .ms.split
    os.remove(entry["ms"])
    entry = postflight.check_restore(member, products)[eb]
    assert entry["problems"] == [] and entry["skipped"].startswith("no %s.ms.split (SPACESAVING >= 1" % eb)
