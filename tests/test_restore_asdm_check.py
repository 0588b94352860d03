"""asdm_check: what ASDM.xml and Main.xml promise is checked cheaply; the stand-in's stubs promise no binary data."""

import os

import pytest

from casa_plugin.restore.asdm_check import bdf_name, check_asdm, closing_boundary_problem

BDF = (b'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="MIME_boundary-1"; type="text/xml"\n\n'
       b'--MIME_boundary-1\nContent-Type: text/xml\n\n<sdmDataHeader/>\n' + b'\0' * 5000 +
       b'\n--MIME_boundary-1--\n')


def asdm_with(tmp_path, nfiles=2, size=1000, main="xml"):
    """An ASDM whose Main names ``nfiles`` binary data files of ``dataSize`` ``size``."""
    asdm = tmp_path / "uid___A002_X1_X1.asdm.sdm"
    (asdm / "ASDMBinary").mkdir(parents=True)
    (asdm / "ASDM.xml").write_text("<ASDM><Table><Name> Main </Name><NumberRows> %d </NumberRows></Table></ASDM>"
                                   % nfiles)
    rows = ""
    for i in range(nfiles):
        uid = "uid://A002/X1/X%x" % (i + 16)
        (asdm / "ASDMBinary" / bdf_name(uid)).write_bytes(BDF)
        rows += ("<row><dataSize> %d </dataSize><dataUID><EntityRef entityId=\"%s\" entityTypeName=\"Main\"/>"
                 "</dataUID></row>" % (size, uid))
    if main == "xml":
        (asdm / "Main.xml").write_text("<MainTable>%s</MainTable>" % rows)
    else:
        (asdm / "Main.bin").write_bytes(b"binary Main table")
    return asdm


@pytest.mark.casa
def test_the_stand_ins_stub_promises_no_binary_data(delivery):
    member, ebs = sorted(delivery["members"].items())[0]
    asdm = os.path.join(member, "raw", ebs[0] + ".asdm.sdm")
    assert not os.path.exists(os.path.join(asdm, "Main.xml"))
    assert check_asdm(asdm) == []


def test_a_whole_asdm_passes_and_a_short_file_is_named(tmp_path):
    asdm = asdm_with(tmp_path, size=len(BDF))
    assert check_asdm(str(asdm)) == []
    bdf = asdm / "ASDMBinary" / "uid___A002_X1_X10"
    bdf.write_bytes(BDF[:-1])
    (problem,) = check_asdm(str(asdm))
    assert problem.startswith("%s: %d bytes, shorter than the %d bytes of data that Main.xml gives for it" % (
        bdf, len(BDF) - 1, len(BDF)))


def test_a_file_that_is_not_a_bdf_is_named(tmp_path):
    asdm = asdm_with(tmp_path)
    (asdm / "ASDMBinary" / "uid___A002_X1_X10").write_bytes(b"<html>Proxy error</html>" * 100)
    (problem,) = check_asdm(str(asdm))
    assert "uid___A002_X1_X10: no MIME boundary in its header (not an ALMA binary data file)" in problem


def test_many_broken_files_are_counted_after_the_first_five(tmp_path):
    asdm = asdm_with(tmp_path, nfiles=12)
    for name in os.listdir(str(asdm / "ASDMBinary")):
        (asdm / "ASDMBinary" / name).write_bytes(b"")
    problems = check_asdm(str(asdm))
    assert len(problems) == 6 and all(": empty (0 bytes)" in p for p in problems[:5])
    assert problems[5] == "%s: and 7 more binary data files broken as these (12 checked)" % (asdm / "ASDMBinary")


def test_a_binary_main_table_has_every_file_checked_for_its_boundary(tmp_path):
    asdm = asdm_with(tmp_path, main="bin")
    assert check_asdm(str(asdm)) == []
    bdf = asdm / "ASDMBinary" / "uid___A002_X1_X11"
    bdf.write_bytes(BDF[:-25])
    assert closing_boundary_problem(str(bdf)) == "does not end with its closing MIME boundary --MIME_boundary-1-- (cut short)"
    (problem,) = check_asdm(str(asdm))
    assert problem.startswith(str(bdf))
