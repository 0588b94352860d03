"""The ALMA-shaped presets build what they promise: antennas, spws, channels, integration, intents, size."""

import glob
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from casa_helpers import mount_tmpfs
from casa_plugin.testing import presets
from casa_plugin.testing.synthetic_ms import corrected_gain, make_eb_ms

_ATM = ['CALIBRATE_ATMOSPHERE#AMBIENT', 'CALIBRATE_ATMOSPHERE#HOT', 'CALIBRATE_ATMOSPHERE#OFF_SOURCE',
        'CALIBRATE_WVR#AMBIENT', 'CALIBRATE_WVR#HOT', 'CALIBRATE_WVR#OFF_SOURCE']
_KINDS = {  # what a scan of each kind must show in msmetadata: field, sorted intents, spws
    'pointing': ('J1924-2914', ['CALIBRATE_POINTING#ON_SOURCE', 'CALIBRATE_WVR#ON_SOURCE']),
    'bandpass': ('J1924-2914', ['CALIBRATE_BANDPASS#ON_SOURCE', 'CALIBRATE_FLUX#ON_SOURCE',
                                'CALIBRATE_WVR#ON_SOURCE']),
    'phase': ('J1733-1304', ['CALIBRATE_PHASE#ON_SOURCE', 'CALIBRATE_WVR#ON_SOURCE']),
    'target': ('NGC6334I', ['OBSERVE_TARGET#ON_SOURCE']),
    'check': ('J1717-3342', ['CALIBRATE_WVR#ON_SOURCE', 'OBSERVE_CHECK_SOURCE#ON_SOURCE']),
}
_TWINS, _ALL = [0, 2, 4, 6, 8], list(range(9))


# ---- the plan and size model (no CASA) ----

@pytest.mark.parametrize("preset, nant, nchan, integration, min_gb", [
    ("alma12m", 43, 1920, 6.048, 3.9), ("alma7m", 12, 2048, 10.08, 0.34), ("wsu", 43, 16384, 3.072, 32.0)])
def test_describe_gives_the_shape_and_smallest_size(preset, nant, nchan, integration, min_gb):
    desc = presets.describe(preset)
    assert (desc["nant"], desc["nchan"], desc["integration_s"]) == (nant, nchan, integration)
    assert desc["spw_nchan"] == [4] + [nchan, 1] * 4
    assert desc["min_gb"] == pytest.approx(min_gb, rel=0.05)
    assert desc["bytes"] / 1e9 == pytest.approx(desc["min_gb"])


@pytest.mark.parametrize("preset, size_gb", [
    ("alma12m", 4.7), ("alma12m", 17.0), ("alma12m", 121.0), ("alma7m", 0.5), ("alma7m", 3.0),
    ("wsu", 40.0), ("wsu", 300.0)])
def test_size_model_meets_the_request_and_keeps_proportions(preset, size_gb):
    desc = presets.describe(preset, size_gb)
    assert desc["bytes"] / 1e9 == pytest.approx(size_gb, rel=0.10)
    science = [s for s in desc["scans"] if len(s["spws"]) == 9]
    target = [s["nint"] for s in science if "OBSERVE_TARGET" in s["intent"]]
    phase = [s["nint"] for s in science if "CALIBRATE_PHASE" in s["intent"]]
    assert 5 <= np.mean(target) / np.mean(phase) <= 9  # target scans several times a phase scan
    if size_gb > 5 * desc["min_gb"]:  # room for realistic scans: ~30-60 s phase scans
        assert 25 <= np.mean(phase) * desc["integration_s"] <= 60
    if size_gb > 12 * desc["min_gb"]:  # and then for more target/phase cycles
        assert desc["ncycles"] > 1


@pytest.mark.parametrize("kwargs, match", [
    ({"preset": "vla"}, "unknown preset 'vla'"),
    ({"preset": "alma12m", "nchan": 2048}, "1920 or 3840 channels"),
    ({"preset": "alma7m", "nant": 9}, "10 to 12 antennas"),
    ({"preset": "alma12m", "size_gb": 1.0}, "needs size_gb >= 3.9"),
])
def test_describe_bad_requests(kwargs, match):
    with pytest.raises(ValueError, match=match):
        presets.describe(kwargs.pop("preset"), kwargs.pop("size_gb", None), **kwargs)


# ---- real measurement sets ----

def _check_ms(vis, preset, nant, nchan, scans):
    """Check one preset MS with msmetadata and the table tool against its promise and plan."""
    import casatools
    desc = presets.describe(preset, nant=nant, nchan=nchan)
    msmd, tb = casatools.msmetadata(), casatools.table()
    try:
        msmd.open(vis)
        assert msmd.nantennas() == nant
        assert list(msmd.antennanames()) == desc["antennas"]
        assert list(msmd.antennastations()) == desc["pads"]
        assert msmd.nbaselines() == nant * (nant - 1) // 2
        assert msmd.nbaselines(True) == nant * (nant + 1) // 2
        names = list(msmd.namesforspws())
        assert names[0] == "WVR#NOMINAL" and len(names) == 9
        assert [msmd.nchan(i) for i in range(9)] == [4] + [nchan, 1] * 4
        for i in (1, 3, 5, 7):
            assert names[i].endswith("#FULL_RES") and names[i + 1] == names[i][:-len("FULL_RES")] + "CH_AVG"
            assert msmd.bandwidths(i) == pytest.approx(msmd.bandwidths(i + 1))
        assert "#ALMA_RB_06#BB_1#SW-01#" in names[1]
        sidebands = [msmd.chanfreqs(i).mean() > 239e9 for i in (1, 3, 5, 7)]
        assert sidebands == [False, False, True, True]  # two spws in each sideband
        assert list(msmd.corrtypesforpol(0)) == [9, 12]  # XX YY
        assert list(msmd.scannumbers()) == list(range(1, len(scans) + 1))
        for number, (kind, nint, field) in enumerate(scans, 1):
            own, intents = (_KINDS[kind] if kind != "atm" else (field, _ATM))
            assert sorted(msmd.intentsforscan(number)) == intents, number
            assert list(msmd.namesforfields(msmd.fieldsforscan(number))) == [field], number
            assert kind == "pointing" or field == own, number
            spws = _ALL if kind in ("bandpass", "phase", "target", "check") else _TWINS
            assert sorted(msmd.spwsforscan(number)) == spws, number
            assert len(msmd.timesforscan(number)) == nint, number
    finally:
        msmd.done()
    try:
        tb.open(vis)
        assert "MODEL_DATA" not in tb.colnames()
        assert set(tb.getcol("INTERVAL")) == {desc["integration_s"]}
        ddid = tb.getcol("DATA_DESC_ID")
        for spw in (0, 1, 2, 7):  # DATA_DESC_ID == spw in these MSs
            rows = np.flatnonzero(ddid == spw)
            if not len(rows):
                continue
            row = int(rows[len(rows) // 2])
            data, corrected = tb.getcell("DATA", row), tb.getcell("CORRECTED_DATA", row)
            assert data.shape == (2, [4, nchan, 1, nchan, 1, nchan, 1, nchan, 1][spw])
            assert not np.allclose(data, corrected)
            assert np.allclose(corrected, data * np.complex64(corrected_gain(spw)), rtol=1e-5)
            assert np.abs(data).mean() > 0.1
    finally:
        tb.close()


def _kinds(plan):
    """(kind, integrations, field) of each scan of a plan, by its first intent."""
    first = {"CALIBRATE_POINTING#ON_SOURCE": "pointing", "CALIBRATE_BANDPASS#ON_SOURCE": "bandpass",
             "CALIBRATE_PHASE#ON_SOURCE": "phase", "OBSERVE_TARGET#ON_SOURCE": "target",
             "OBSERVE_CHECK_SOURCE#ON_SOURCE": "check"}
    return [(first.get(s["intent"].split(",")[0], "atm"), s["nint"], s["field"]) for s in plan]


@pytest.fixture
def scratch(tmp_path):
    """A directory removed after the test (these MSs are GBs: no pytest keeps them)."""
    yield tmp_path
    shutil.rmtree(str(tmp_path), ignore_errors=True)


@pytest.mark.casa
@pytest.mark.disk_gb(0.6)
def test_alma12m_calibrator_scans(scratch):
    """The 12 m shape, its first six scans at one integration (0.6 GB; its smallest whole EB is 3.9 GB).

    The target and check-source scans of the same plan are checked on alma7m below.
    """
    assert [k[0] for k in _kinds(presets.preset_plan("alma12m", 1, 1))] == [
        "pointing", "atm", "bandpass", "pointing", "atm", "phase", "atm", "target", "phase", "check",
        "phase"]
    result = make_eb_ms(str(scratch / "uid___A002_X1_X12.ms"), preset="alma12m", nint=1, first_scans=6,
                        seed=1)
    assert result["preset"] == "alma12m"
    kinds = _kinds(result["scans"])
    assert [k[0] for k in kinds] == ["pointing", "atm", "bandpass", "pointing", "atm", "phase"]
    assert [k[1] for k in kinds if k[0] == "pointing"] == [5, 5]  # 30 s at 6.048 s
    assert [k[2] for k in kinds if k[0] != "pointing"][:2] == ["J1924-2914"] * 2
    _check_ms(result["vis"], "alma12m", 43, 1920, kinds)
    assert result["bytes"] == pytest.approx(presets.plan_bytes("alma12m", result["scans"]), rel=0.05)


@pytest.mark.casa
@pytest.mark.disk_gb(2.2)
def test_wsu_first_scans(scratch):
    """WSU's smallest EB is 32 GB: build its first three scans (one 2 GB bandpass integration)."""
    result = make_eb_ms(str(scratch / "uid___A002_X1_X13.ms"), preset="wsu", nint=1, first_scans=3)
    kinds = _kinds(result["scans"])
    assert [k[0] for k in kinds] == ["pointing", "atm", "bandpass"]
    _check_ms(result["vis"], "wsu", 43, 16384, kinds)
    assert result["bytes"] == pytest.approx(presets.plan_bytes("wsu", result["scans"]), rel=0.05)


@pytest.mark.casa
@pytest.mark.disk_gb(1.2)
def test_alma7m_restored_from_a_preset_delivery(scratch):
    """A 1 GB alma7m EB through make_delivery, the scriptForPI and the pipeline stand-in: within 10 %."""
    from casa_plugin.testing.pipeline_standin import restore_with_standin
    from casa_plugin.testing.synthetic_delivery import make_delivery
    info = make_delivery(str(scratch), members=1, ebs=1, preset="alma7m", size_gb=1.0)
    restore_with_standin(info["project"])
    (vis,) = glob.glob(os.path.join(list(info["members"])[0], "calibrated", "working", "*.ms"))
    desc = presets.describe("alma7m", 1.0)
    _check_ms(vis, "alma7m", 12, 2048, _kinds(desc["scans"]))
    from casa_plugin.testing.synthetic_ms import _disk_usage
    assert _disk_usage(vis) / 1e9 == pytest.approx(1.0, rel=0.10)


@pytest.fixture
def small_fs(tmp_path):
    """A 50 MB filesystem: too small for the smallest alma7m EB (0.34 GB)."""
    with mount_tmpfs(tmp_path / "small", "size=50m") as path:
        yield path


@pytest.mark.casa
@pytest.mark.parametrize("kwargs", [{"preset": "alma7m"}, {"target_bytes": 60e6}], ids=["preset", "small-row"])
def test_an_eb_that_does_not_fit_is_refused_before_casa_writes(small_fs, kwargs):
    """casacore aborts the whole process on a full disk (a test run ends with no report): checked first."""
    vis = small_fs / "sub" / "uid___A002_X1_X14.ms"
    with pytest.raises(OSError, match=r"small: the output needs about \d+\.\d (GB|MB) but only \d+\.\d MB "
                                      r"is free there; free some space or write elsewhere"):
        make_eb_ms(str(vis), **kwargs)
    assert os.listdir(str(small_fs)) == []
    assert make_eb_ms(str(small_fs / "x.ms"), nant=4, nint=2)["bytes"] < 50e6  # a small one still fits


@pytest.mark.casa
@pytest.mark.subprocess
def test_a_run_that_cannot_fit_stops_before_its_first_test(small_fs):
    """The WSU test writes 2 GB at once: with --basetemp on 50 MB, pytest stops at once and says why."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--basetemp",
                           str(small_fs / "t"), "tests/test_testing_presets.py::test_wsu_first_scans"],
                          cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                          timeout=300)
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert re.search(r"the selected tests write up to about 4\.2 GB at once under %s, but only 0\.\d GB is free "
                     r"there: free some space" % re.escape(str(small_fs)), proc.stdout), proc.stdout[-3000:]
    assert "passed" not in proc.stdout and os.listdir(str(small_fs)) == []


@pytest.mark.parametrize("kwargs, match", [
    ({"preset": "alma7m", "ntargets": 2}, "one target"),
    ({"size_gb": 1.0}, "need a preset"),
    ({"preset": "alma7m", "first_scans": 0}, "first_scans must be >= 1"),
])
def test_make_eb_ms_bad_preset_requests(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_eb_ms(str(tmp_path / "x.ms"), **kwargs)
    assert not os.path.exists(str(tmp_path / "x.ms"))


def test_make_delivery_bad_preset_requests(tmp_path):
    from casa_plugin.testing.synthetic_delivery import make_delivery
    with pytest.raises(ValueError, match="needs size_gb >= 0.3"):
        make_delivery(str(tmp_path), preset="alma7m", size_gb=0.1)
    with pytest.raises(ValueError, match="size_gb needs a preset"):
        make_delivery(str(tmp_path), size_gb=1.0)
    assert not os.listdir(str(tmp_path))
