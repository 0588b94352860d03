"""A manually calibrated member (per-EB scriptForCalibration, CASA's tasks on real ASDMs): restored and split
with the defaults, its targets' DATA the calibrated data of its own restore."""

import os
import re
import shutil

import pytest

from casa_plugin import RestoreError, split_sci, split_tgt
from casa_plugin import record as run_record
from casa_plugin.testing.manual_member import make_manual_member
from casa_plugin.testing.matrix import source_differences, spw_pairs
from casa_plugin.testing.pipeline_standin import restore_with_standin
from casa_plugin.testing.synthetic_delivery import make_delivery

pytestmark = pytest.mark.casa

#: The science spws of the synthetic EBs, which the scriptForCalibration's split re-indexes to 0-3.
SCIENCE = [1, 3, 5, 7]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A pipeline-calibrated member of two EBs with real ASDMs (never modify)."""
    info = make_delivery(str(tmp_path_factory.mktemp("asdm")), small=True, members=1, ebs=2, asdm=True)
    (member,) = info["members"]
    return dict(info, member=member)


def _copy(info, tmp_path, name):
    dest = str(tmp_path / name)
    shutil.copytree(info["project"], dest, symlinks=True)
    return os.path.join(dest, os.path.relpath(info["member"], info["project"]))


@pytest.fixture(scope="module")
def pristine(built, tmp_path_factory):
    """That member made manually calibrated (never modify: use ``manual``)."""
    member = _copy(built, tmp_path_factory.mktemp("manual"), "manual")
    project = member[:member.index(os.sep + "science_goal.")]
    return {"project": project, "member": member, "made": make_manual_member(member)}


@pytest.fixture
def manual(pristine, tmp_path):
    return _copy(pristine, tmp_path, "copy")


@pytest.fixture(scope="module")
def reference(pristine, tmp_path_factory):
    """The member restored with SPACESAVING=0: each EB's calibrated/<eb>.calibration/<eb>.ms.split."""
    member = _copy(pristine, tmp_path_factory.mktemp("reference"), "ref")
    restore_with_standin(member, spacesaving=0)
    return dict((eb, os.path.join(member, "calibrated", eb + ".calibration", eb + ".ms.split"))
                for eb in pristine["made"]["ebs"])


def test_the_member_is_manual_with_the_scripts_alma_names(pristine):
    script = os.path.join(pristine["member"], "script")
    ebs = pristine["made"]["ebs"]
    mous = os.path.basename(pristine["member"])
    assert sorted(os.listdir(script)) == sorted(["%s.scriptForPI.py" % mous] +
                                                ["%s.ms.scriptForCalibration.py" % eb for eb in ebs])
    assert os.listdir(os.path.join(pristine["member"], "calibration")) == []
    assert pristine["made"]["science_spws"] == dict((eb, SCIENCE) for eb in ebs)


def _check_split(member, ebs, reference):
    """split_sci and split_tgt with the defaults; each .source equals the reference's CORRECTED_DATA."""
    sci = split_sci(vis=member)
    tgt = split_tgt(vis=member)
    calibrated = os.path.join(member, "calibrated")
    assert sci["counts"] == {"done": 2} and tgt["counts"] == {"split": 2}, (sci["counts"], tgt["counts"])
    for eb in ebs:
        (result,) = [r for r in sci["ebs"].values() if r["eb"] == eb]
        split_cal = os.path.join(calibrated, eb + ".ms.split.cal")
        assert result["outputvis"] == split_cal and result["made_by"] == "scriptForPI"
        # the scriptForCalibration's split re-indexed spws 1,3,5,7 to 0-3, as the result says
        assert result["request"]["reindex"] is True and sorted(result["contents"]["spws"]) == ["0", "1", "2", "3"]
        restored_ms = os.path.join(calibrated, eb + ".calibration", eb + ".ms")
        assert spw_pairs(split_cal, restored_ms) == dict(zip(range(4), SCIENCE))
        source = split_cal + ".source"
        assert spw_pairs(source, reference[eb]) == {0: 0, 1: 1, 2: 2, 3: 3}
        assert source_differences(source, reference[eb]) == []


def test_restored_with_the_defaults_and_split_with_the_defaults(manual, pristine, reference, casa_session):
    result = restore_with_standin(manual)
    ebs = pristine["made"]["ebs"]
    assert result["members"][manual]["status"] == "restored"
    postflight = run_record.load(os.path.join(manual, "calibrated"))["restore"]["postflight"]
    for eb in ebs:
        entry = postflight[eb]
        assert entry["kind"] == "manual" and entry["problems"] == [] and entry["skipped"] is None
        assert entry["ms"].endswith(os.path.join(eb + ".calibration", eb + ".ms.split"))
        assert entry["spws"] == {"0": "differs", "1": "differs", "2": "differs", "3": "differs"}
        assert entry["flagversion"] == "AfterApplycal"
    _check_split(manual, ebs, reference)


def test_spacesaving_1_deletes_the_ms_split_and_the_postflight_says_why_it_compares_nothing(manual, pristine,
                                                                                             reference):
    restore_with_standin(manual, spacesaving=1)
    calibrated = os.path.join(manual, "calibrated")
    postflight = run_record.load(calibrated)["restore"]["postflight"]
    for eb in pristine["made"]["ebs"]:
        work = os.path.join(calibrated, eb + ".calibration")
        assert not os.path.exists(os.path.join(work, eb + ".ms.split")) and os.path.isdir(os.path.join(work, eb + ".ms"))
        assert postflight[eb]["problems"] == [] and postflight[eb]["flagversion"] == "AfterApplycal"
        assert postflight[eb]["skipped"].startswith("no %s.ms.split (SPACESAVING >= 1 deletes it)" % eb)
    _check_split(manual, pristine["made"]["ebs"], reference)


def test_a_manual_restore_that_did_not_apply_the_calibration_is_failed(built, tmp_path):
    member = _copy(built, tmp_path, "noapply")
    made = make_manual_member(member, applycal=False)  # clearcal instead of applycal in each per-EB script
    with pytest.raises(RestoreError, match=r"failed for 1 of 1 members") as info:
        restore_with_standin(member)
    result = info.value.results["members"][member]
    assert result["status"] == "failed"
    for eb in made["ebs"]:
        assert re.search(r"%s: CORRECTED_DATA equals DATA in science spws 0, 1, 2, 3 of \S+%s\.calibration/%s\.ms\.split"
                         % (eb, eb, eb), result["error"]), result["error"]
    assert run_record.load(os.path.join(member, "calibrated"))["restore"]["status"] == "failed"


def test_a_flux_rescaled_member_is_split_from_its_corrected_data(built, tmp_path):
    """A scriptForFluxCalibration leaves the rescaled data in the .ms.split.cal's CORRECTED_DATA: split_tgt's
    default takes that column there, and says so."""
    import numpy as np
    from casa_plugin.testing.compare import columns
    member = _copy(built, tmp_path, "flux")
    make_manual_member(member, flux=True)
    restore_with_standin(member)
    assert split_sci(vis=member)["counts"] == {"done": 2}
    tgt = split_tgt(vis=member)
    assert tgt["counts"] == {"split": 2}
    for cal, result in tgt["ebs"].items():
        assert result["request"]["datacolumn"] == "corrected"
        assert result["note"].startswith("from the .split.cal's CORRECTED_DATA (a flux script")
        both = columns(cal, ("DATA", "CORRECTED_DATA"))
        assert not np.array_equal(both["DATA"], both["CORRECTED_DATA"])  # the rescale is there to be lost
        assert source_differences(cal + ".source", cal) == []
        assert run_record.entry_of(cal + ".source")["request"]["datacolumn"] == "corrected"
