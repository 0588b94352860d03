"""Which array a member or an EB was observed with: read from scripts, ASDM tables and MSs, before any restore."""

import os

import pytest

from casa_plugin.delivery import arrays
from casa_plugin.testing.tp_member import antenna_xml


def _asdm(tmp_path, names, dish, mode=None, name="uid___A002_X1_X1.asdm.sdm"):
    asdm = tmp_path / "member.uid___A001_X1_X1" / "raw" / name
    asdm.mkdir(parents=True)
    (asdm / "Antenna.xml").write_text(antenna_xml(names, dish))
    if mode:
        (asdm / "ConfigDescription.xml").write_text(
            "<ConfigDescriptionTable><row><correlationMode>%s</correlationMode></row></ConfigDescriptionTable>" % mode)
    return str(asdm)


@pytest.mark.parametrize("names, dish, mode, array", [
    (["CM01", "CM02", "CM10"], 7.0, "CROSS_AND_AUTO", "7m"),
    (["DA41", "DV01", "PM01"], 12.0, "CROSS_AND_AUTO", "12m"),
    (["PM02", "PM03"], 12.0, "AUTO_ONLY", "TP"),
    (["PM01", "PM02", "PM03"], 12.0, None, "TP"),  # no ConfigDescription.xml: the PM antennas alone tell
    (["PM01", "PM02"], 12.0, "CROSS_AND_AUTO", "12m"),  # PM antennas correlated with each other: interferometry
    (["X1", "X2"], 7.0, "CROSS_AND_AUTO", "7m"),  # unknown names: the dish diameter
])
def test_asdm_array_from_antenna_and_config_tables(tmp_path, names, dish, mode, array):
    assert arrays.asdm_array(_asdm(tmp_path, names, dish, mode)) == array


def test_asdm_without_a_readable_antenna_table_tells_nothing(tmp_path):
    asdm = tmp_path / "a.asdm.sdm"
    asdm.mkdir()
    assert arrays.asdm_array(str(asdm)) is None
    (asdm / "Antenna.xml").write_text("<AntennaTable><row><name>CM01")  # cut short
    assert arrays.asdm_array(str(asdm)) is None


@pytest.mark.parametrize("where, name, text", [
    ("script", "member.uid___A001_X1_X1.hsd_calimage.casa_piperestorescript.py",
     "h_init()\ntry:\n    hsd_restoredata (vis=['uid___A002_X1_X1'], session=['session_1'], ocorr_mode='ao')\n"),
    ("calibration", "member.uid___A001_X1_X1.jyperk.csv", "MS,Antenna,Spwid,Polarization,Factor\n"),
    ("script", "uid___A002_X1_X1.ms.scriptForSDCalibration.py", "sdcal()\n"),
])
def test_a_member_is_total_power_by_its_scripts_before_its_asdms(tmp_path, where, name, text):
    _asdm(tmp_path, ["CM01"], 7.0)  # the TP sign wins over the raw data
    member = tmp_path / "member.uid___A001_X1_X1"
    (member / where).mkdir(exist_ok=True)
    (member / where / name).write_text(text)
    assert arrays.member_array(str(member)) == "TP"


def test_a_12m_restore_script_and_no_antenna_table_tell_nothing(tmp_path):
    member = tmp_path / "member.uid___A001_X1_X1"
    (member / "script").mkdir(parents=True)
    (member / "script" / "m.hifa_calimage.casa_piperestorescript.py").write_text(
        "hifa_restoredata (vis=['uid___A002_X1_X1'], session=['session_1'], ocorr_mode='ca')\n")
    assert arrays.member_array(str(member)) is None
    _asdm(tmp_path, ["CM01", "CM02"], 7.0)
    assert arrays.member_array(str(member)) == "7m"


def test_groups_sort_12m_7m_tp_then_unknown():
    assert sorted(["TP", None, "7m", "12m"], key=arrays.sort_key) == ["12m", "7m", "TP", None]


@pytest.mark.casa
def test_ms_array_reads_float_data_and_antennas(tmp_path):
    from casa_plugin.testing.sd_standin import make_tp_ms
    from casa_plugin.testing.synthetic_ms import make_eb_ms
    tp, small = str(tmp_path / "tp.ms"), str(tmp_path / "s.ms")
    make_tp_ms(tp, "uid___A002_X1_X2", nant=1, nchan=8, nint=1)
    make_eb_ms(small, nant=4, nchan=8, nint=2)
    assert arrays.ms_array(tp) == "TP" and arrays.ms_array(small) == "12m"
    from casatasks import mstransform  # a TP .split.cal as ALMA's 2022-2023 scriptForPI makes it: DATA, no FLOAT_DATA
    mstransform(vis=tp, outputvis=tp + ".split.cal", spw="1,3", reindex=False)
    assert arrays.ms_array(tp + ".split.cal") == "TP"
    assert arrays.ms_array(str(tmp_path / "none.ms")) is None
    member = tmp_path / "member.uid___A001_X1_X9"
    (member / "calibrated" / "working").mkdir(parents=True)
    os.rename(tp, str(member / "calibrated" / "working" / "uid___A002_X1_X2.ms"))
    assert arrays.member_array(str(member)) == "TP"  # no scripts, no raw/: the restored MS tells
