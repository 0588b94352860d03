"""The real restore workload: ASDMs written by exportasdm, tables solved by CASA, restored through restore_pi."""

import glob
import os
import shutil

import numpy as np
import pytest

from casa_plugin import restore_pi, split_sci, split_tgt
from casa_plugin.testing import asdm as asdm_export
from casa_plugin.testing import real_workload, synthetic_delivery, synthetic_ms
from casa_plugin.testing.pipeline_standin import restore_with_standin

pytestmark = pytest.mark.casa

EB = "uid___A002_Xf9a1c3_X1b2e"  # the first EB of member Xb6b (two targets in the synthetic delivery)
XB6B, XB6D = "member.uid___A001_X15a2_Xb6b", "member.uid___A001_X15a2_Xb6d"
#: Every EB of the small delivery: Xb6b's first, Xb6d's two (one session; the second has an off-source scan).
EBS = [(XB6B, EB), (XB6D, "uid___A002_Xf7ad58_Xd406"), (XB6D, "uid___A002_Xf8f6a9_X15c79")]
SPECTRAL_INDEX = -0.7


def _metadata(vis):
    import casatools
    md = casatools.msmetadata()
    try:
        md.open(vis)
        scans = list(md.scannumbers())
        return {"nrows": int(md.nrows()), "nspw": int(md.nspw()), "fields": list(md.fieldnames()),
                "nchan": [int(md.nchan(s)) for s in range(md.nspw())],
                "names": list(md.namesforspws(list(range(md.nspw())))),
                "scans": [int(s) for s in scans],
                "intents": [sorted(md.intentsforscan(s)) for s in scans],
                "scan_fields": [sorted(int(f) for f in md.fieldsforscan(s)) for s in scans],
                "scan_spws": [sorted(int(w) for w in md.spwsforscan(s)) for s in scans],
                "corr": [list(md.corrtypesforpol(md.polidfordatadesc(d)))
                         for d in md.datadescids()],
                "nobs": int(md.nobservations())}
    finally:
        md.close()


def _columns(vis, *names, **where):
    """Columns of ``vis``; ``ddid=N`` selects one data description (array columns vary in shape)."""
    import casatools
    tb = casatools.table()
    sub = None
    try:
        tb.open(vis)
        if "ddid" in where:
            sub = tb.selectrows(np.flatnonzero(tb.getcol("DATA_DESC_ID") == where["ddid"]).tolist())
        return [(sub or tb).getcol(n) for n in names]
    finally:
        if sub is not None:
            sub.close()
        tb.close()


def _keyed(vis, column):
    """{(time, ant1, ant2, ddid): cell} of a column (small MSs only)."""
    import casatools
    tb = casatools.table()
    try:
        tb.open(vis)
        keys = zip(np.round(tb.getcol("TIME"), 2), tb.getcol("ANTENNA1"), tb.getcol("ANTENNA2"),
                   tb.getcol("DATA_DESC_ID"))
        return dict((key, tb.getcell(column, i)) for i, key in enumerate(keys))
    finally:
        tb.close()


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory):
    from casatasks import importasdm
    root = tmp_path_factory.mktemp("asdm_round_trip")
    vis = str(root / "eb.ms")
    synthetic_ms.make_eb_ms(vis, nant=4, nchan=8, nint=2, ntargets=2, off_source_scan=True)
    asdm = str(root / "eb.asdm.sdm")
    result = asdm_export.export_asdm(vis, asdm)
    back = str(root / "back.ms")
    importasdm(asdm=asdm, vis=back, ocorr_mode="ca", verbose=False)
    return {"vis": vis, "asdm": asdm, "back": back, "result": result, "root": root}


def test_round_trip_keeps_rows_spws_fields_scans_and_intents(round_trip):
    before, after = _metadata(round_trip["vis"]), _metadata(round_trip["back"])
    assert after == before
    assert "OBSERVE_TARGET#OFF_SOURCE" in sum(after["intents"], [])
    assert after["intents"][0] == ["CALIBRATE_ATMOSPHERE#ON_SOURCE", "CALIBRATE_WVR#ON_SOURCE"]
    assert round_trip["result"]["scans"] == len(before["scans"]) == 10
    assert sorted(os.listdir(str(round_trip["root"]))) == ["back.ms", "back.ms.flagversions", "eb.asdm.sdm", "eb.ms"]


def test_round_trip_keeps_data_and_frequencies(round_trip):
    data, back = _keyed(round_trip["vis"], "DATA"), _keyed(round_trip["back"], "DATA")
    assert set(back) == set(data)
    assert max(np.abs(back[k] - data[k]).max() for k in data) == 0.0
    freqs = [_columns(v + "/SPECTRAL_WINDOW", "REF_FREQUENCY")[0] for v in (round_trip["vis"], round_trip["back"])]
    assert np.allclose(freqs[0], freqs[1], rtol=0, atol=1.0)


def test_export_refuses_an_existing_asdm(round_trip):
    with pytest.raises(FileExistsError, match="eb.asdm.sdm"):
        asdm_export.export_asdm(round_trip["vis"], round_trip["asdm"])


@pytest.mark.parametrize("line, message", [("flagdata(vis='x.ms')", "not an applycal call"),
                                           ("applycal(vis=open('x'))", "malformed")])
def test_calapply_listing_must_be_literal_applycal_calls(tmp_path, line, message):
    path = tmp_path / "x.ms.calapply.txt"
    path.write_text(line + "\n")
    with pytest.raises(ValueError, match=message):
        real_workload.read_calapply(str(path))


def _members(project):
    return dict((os.path.basename(m), m) for m in glob.glob(os.path.join(project, "*", "*", "member.*")))


def test_a_products_tarball_may_not_write_outside(tmp_path):
    import io
    import tarfile
    path = str(tmp_path / "x.ms.flagversions.tgz")
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("../escaped")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"no"))
    os.mkdir(str(tmp_path / "working"))
    with pytest.raises(ValueError, match="unsafe member ../escaped"):
        real_workload._extract(path, str(tmp_path / "working"))
    assert not os.path.exists(str(tmp_path / "escaped"))


@pytest.fixture(scope="module")
def real_delivery(tmp_path_factory):
    """The small delivery (3 EBs, 2 members) with real ASDMs, built from the command line."""
    root = str(tmp_path_factory.mktemp("real"))
    assert synthetic_delivery.main([root, "--small", "--asdm"]) == 0
    project = os.path.join(root, synthetic_delivery.PROJECT_CODE)
    return {"project": project, "members": _members(project), "member": _members(project)[XB6B]}


@pytest.fixture(scope="module")
def restored_real(real_delivery, tmp_path_factory):
    """A copy of it restored by restore_pi (scriptForPI, pipeline stand-in: importasdm, applycal)."""
    copy = str(tmp_path_factory.mktemp("restored_real") / "d")
    shutil.copytree(os.path.dirname(real_delivery["project"]), copy, symlinks=True)
    project = os.path.join(copy, synthetic_delivery.PROJECT_CODE)
    result = restore_with_standin(project)
    members = _members(project)
    return {"project": project, "members": members, "member": members[XB6B], "result": result,
            "working": os.path.join(members[XB6B], "calibrated", "working")}


def _restored_vis(restored_real, member, eb):
    working = os.path.join(restored_real["members"][member], "calibrated", "working")
    return working, os.path.join(working, eb + ".ms")


def test_default_delivery_keeps_the_fast_stubs(tmp_path):
    info = synthetic_delivery.make_delivery(str(tmp_path), small=True, members=1, ebs=1)
    (member,) = info["members"]
    asdm = os.path.join(member, "raw", EB + ".asdm.sdm")
    assert not real_workload.is_real_asdm(asdm)
    assert sorted(os.listdir(asdm)) == ["ASDM.xml", "Antenna.xml", "casa_plugin_synthetic.json"]


def test_delivery_holds_real_asdms_and_tables(real_delivery):
    member = real_delivery["member"]
    asdm = os.path.join(member, "raw", EB + ".asdm.sdm")
    assert real_workload.is_real_asdm(asdm) and glob.glob(os.path.join(asdm, "ASDMBinary", "*"))
    calib = sorted(os.listdir(os.path.join(member, "calibration")))
    assert EB + ".ms.calapply.txt" in calib and EB + ".ms.flagversions.tgz" in calib
    calls = real_workload.read_calapply(os.path.join(member, "calibration", EB + ".ms.calapply.txt"))
    assert [c["field"] for c in calls] == ["J1924-2914", "J1733-1304", "NGC6334I", "NGC6334I_N"]
    assert calls[0]["gaintable"] == [
        EB + ".ms.hifa_bandpass.s16_5.spw1_3_5_7.channel.solintinf.bcal.tbl",
        EB + ".ms.hifa_timegaincal.s18_2.spw1_3_5_7.solintint.gacal.tbl"]
    assert not glob.glob(os.path.join(member, ".real-*"))


@pytest.mark.parametrize("member, eb", EBS)
def test_restore_pi_restores_the_real_asdms(restored_real, real_delivery, member, eb):
    assert restored_real["result"]["counts"] == {"restored": 2}
    working, vis = _restored_vis(restored_real, member, eb)
    meta = _metadata(vis)
    raw = os.path.join(real_delivery["members"][member], "raw", eb + ".asdm.sdm")
    assert real_workload.is_real_asdm(raw)
    assert meta["nspw"] == 9 and meta["fields"][:3] == ["J1924-2914", "J1733-1304", "NGC6334I"]
    assert "CORRECTED_DATA" in _columns_names(vis)
    versions = open(os.path.join(vis + ".flagversions", "FLAG_VERSION_LIST")).read()
    assert "Pipeline_Final" in versions
    flagged_rows = 0
    for spw in (1, 3, 5, 7):
        (flag,) = _columns(vis, "FLAG", ddid=spw)
        assert flag[:, 0].all() and flag[:, -1].all()  # the delivery's edge flags came back
        flagged_rows += flag[:, 1:-1].all(axis=(0, 1)).sum()
        assert flag[:, 1:-1].all(axis=(0, 1)).sum() < flag.shape[2] / 4.0
    assert flagged_rows > 0  # and its few flagged rows


def _columns_names(vis):
    import casatools
    tb = casatools.table()
    try:
        tb.open(vis)
        return tb.colnames()
    finally:
        tb.close()


def _solutions(table):
    """{(spw, antenna, time or None): CPARAM[pol, chan]} of a caltable."""
    time, spw, ant, cparam, flag = _columns(table, "TIME", "SPECTRAL_WINDOW_ID", "ANTENNA1", "CPARAM", "FLAG")
    return dict(((int(s), int(a), round(float(t), 2)), np.where(flag[:, :, i], np.nan, cparam[:, :, i]))
                for i, (t, s, a) in enumerate(zip(time, spw, ant)))


@pytest.mark.parametrize("member, eb", EBS)
def test_corrected_data_is_data_divided_by_the_tables(restored_real, member, eb):
    """Calibrator rows (a gain solution at each integration): CORRECTED == DATA / (B_i B_j* G_i G_j*), by numpy."""
    working, vis = _restored_vis(restored_real, member, eb)
    btab, gtab = [os.path.join(working, t) for t in real_workload.gains.table_names(eb, [1, 3, 5, 7])]
    bsol = dict(((s, a), v) for (s, a, _), v in _solutions(btab).items())
    gsol = _solutions(gtab)
    checked, worst = 0, 0.0
    for spw in (1, 3, 5, 7):
        time, a1, a2, data, corrected, flag = _columns(
            vis, "TIME", "ANTENNA1", "ANTENNA2", "DATA", "CORRECTED_DATA", "FLAG", ddid=spw)
        for i in range(len(time)):
            key = round(float(time[i]), 2)
            if (spw, int(a1[i]), key) not in gsol or (spw, int(a2[i]), key) not in gsol or flag[:, :, i].all():
                continue  # target rows: interpolated gains, checked against the model below
            gain = (bsol[(spw, a1[i])] * np.conj(bsol[(spw, a2[i])])
                    * gsol[(spw, a1[i], key)] * np.conj(gsol[(spw, a2[i], key)]))
            ok = ~flag[:, :, i] & np.isfinite(gain)
            expected = data[:, :, i][ok] / gain[ok]
            worst = max(worst, float(np.max(np.abs(corrected[:, :, i][ok] - expected) / np.abs(expected))))
            checked += 1
    assert checked > 100
    assert worst < 1e-4


@pytest.mark.parametrize("member, eb", EBS)
def test_corrected_data_is_close_to_the_uncorrupted_model(restored_real, member, eb):
    vis = _restored_vis(restored_real, member, eb)[1]
    flux = dict((name, f) for name, _, _, f, _ in synthetic_ms._FIELDS)
    names = _metadata(vis)["fields"]
    import casatools
    md = casatools.msmetadata()
    md.open(vis)
    freqs = dict((spw, np.asarray(md.chanfreqs(spw))) for spw in (1, 3, 5, 7))
    md.close()
    for spw in (1, 3, 5, 7):
        field, data, corrected, flag = _columns(vis, "FIELD_ID", "DATA", "CORRECTED_DATA", "FLAG", ddid=spw)
        for fid in sorted(set(field)):  # calibrators and the targets between them
            rows = field == fid
            model = flux[names[fid]] * (freqs[spw] / 230e9) ** SPECTRAL_INDEX
            ratio = np.ma.masked_array(corrected[:, :, rows] / model[None, :, None], flag[:, :, rows])
            raw = np.ma.masked_array(data[:, :, rows] / model[None, :, None], flag[:, :, rows])
            per_row = ratio.mean(axis=(0, 1)).compressed()  # the noise averages down over channels
            assert len(per_row) > 10 and np.median(np.abs(per_row - 1)) < 0.05, (spw, fid)
            assert abs(ratio.mean() - 1) < 0.02, (spw, fid)
            assert np.median(np.abs(raw.mean(axis=(0, 1)).compressed() - 1)) > 0.3, (spw, fid)  # corrupted


def test_restored_real_eb_splits(restored_real):
    cal = os.path.join(restored_real["member"], "calibrated")
    sci = split_sci(vis=cal, reindex=False)
    assert sci["counts"] == {"split": 1}
    tgt = split_tgt(vis=cal)
    assert tgt["counts"] == {"split": 1}
    sci_out, tgt_out = [os.path.join(cal, EB + ".ms.split.cal" + tail) for tail in ("", ".source")]
    assert set(sum(_metadata(sci_out)["scan_spws"], [])) == {1, 3, 5, 7}
    assert set(sum(_metadata(tgt_out)["scan_fields"], [])) == {2, 3}
    # the split's DATA is the restored CORRECTED_DATA (spw 1)
    restored = os.path.join(restored_real["working"], EB + ".ms")
    (corrected,) = _columns(restored, "CORRECTED_DATA", ddid=1)
    (dd_spw,) = _columns(sci_out + "/DATA_DESCRIPTION", "SPECTRAL_WINDOW_ID")
    (split_data,) = _columns(sci_out, "DATA", ddid=int(np.flatnonzero(dd_spw == 1)[0]))
    assert split_data.shape == corrected.shape and np.allclose(np.sort_complex(split_data.ravel()),
                                                               np.sort_complex(corrected.ravel()))


def test_a_real_delivery_is_refused_twice(restored_real, casa_session):
    result = restore_pi(member=restored_real["project"])
    assert result["counts"] == {"already restored": 2}
