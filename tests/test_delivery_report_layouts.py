"""The delivery report on layouts other than a delivery's: outputs outside it, EBs in a bare ``calibrated/``."""

import glob
import logging
import os
import re
import shutil

import pytest

from casa_helpers import columns
from casa_plugin import split_sci, split_tgt
from casa_plugin.ms import du_bytes
from casa_plugin.record import RECORD_NAME

pytestmark = pytest.mark.casa
_OUTPUT = re.compile(r"\.(split\.cal|source|ms)(\.flagversions)?$")


def _ebs(project):
    return sorted(glob.glob(os.path.join(project, "*", "*", "*", "calibrated", "uid*.ms")))


def _files(top):
    """Every file below ``top`` that is not inside an MS (or its .flagversions), by path."""
    found = set()
    for where, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if not _OUTPUT.search(d)]
        found.update(os.path.join(where, f) for f in files)
        found.update(os.path.join(where, d) for d in os.listdir(where) if _OUTPUT.search(d))
    return found


def nrows(vis):
    return len(columns(vis, ("TIME",))["TIME"])


def _page(folder):
    with open(os.path.join(folder, "index.html")) as f:
        return f.read()


def test_an_output_outside_the_delivery_is_reported(restored, tmp_path, caplog):
    """Issue 23, case 3: an outputvis outside the delivery still gives a report (it gave a TypeError), and
    the report writes only in its folder."""
    project = restored["project"]
    eb = _ebs(project)[0]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = str(elsewhere / "spw13_test.ms")
    before = _files(str(tmp_path))
    with caplog.at_level(logging.WARNING):
        split_sci(vis=eb, spw="1,3", outputvis=out)
    assert "could not write the report" not in caplog.text
    folder = os.path.join(project, "casa_plugin_report")
    page = _page(folder)
    assert "after <code>split_sci</code>" in page
    new = _files(str(tmp_path)) - before
    assert [p for p in new if not p.startswith(folder + os.sep) and os.path.basename(p) != RECORD_NAME and
            not p.startswith(out)] == []
    split_sci(vis=project)  # the output is still shown after a later call, from the delivery's record
    for task in ("split_sci", "split_tgt"):
        page = _page(folder)
        assert re.findall(r"<h2 id='([^']*)'>", page) == ["uid___A001_X15a2_Xb6b", "uid___A001_X15a2_Xb6d"]
        member = page[page.index("<h2 id='uid___A001_X15a2_Xb6b'>"):page.index("<h2 id='uid___A001_X15a2_Xb6d'>")]
        row = re.search(r"<tr class=''><td>%s</td><td>split_sci</td><td class='p'>[^<]*</td><td class='p'>%s</td>"
                        r"(.*?)</tr>" % (os.path.basename(eb)[:-3], re.escape(out)), member)
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))  # size, rows, spws, fields, made by, ...
        assert cells[0] == "%.1f MB" % (du_bytes(out) / 1e6) and int(cells[1]) == nrows(out)
        assert cells[2] == "1&rarr;0, 3&rarr;1" and cells[4] == "casa_plugin" and cells[6] == "split"
        split_tgt(vis=project)


def test_ebs_in_a_calibrated_dir_outside_a_member_keep_the_report_in_its_folder(restored, tmp_path):
    """Issue 23, case 16: EBs in ``/x/run/calibrated`` (no member.* above): the pictures and their numbers
    are written in ``/x/run/casa_plugin_report/`` (they went to ``/x/``), linked by relative names."""
    x = tmp_path / "x"
    calibrated = x / "run" / "calibrated"
    calibrated.mkdir(parents=True)
    for eb in _ebs(restored["project"])[:2]:
        shutil.copytree(os.path.realpath(eb), str(calibrated / os.path.basename(eb)))
    before = _files(str(x))
    split_sci(vis=str(calibrated))
    split_tgt(vis=str(calibrated))
    folder = str(x / "run" / "casa_plugin_report")
    new = _files(str(x)) - before
    outside = [p for p in new if not p.startswith(folder + os.sep) and os.path.basename(p) != RECORD_NAME and
               not re.search(r"\.ms\.split\.cal(\.source)?(\.flagversions)?$", p)]
    assert outside == []
    page = _page(folder)
    sources = re.findall(r"<img src='([^']*)'", page)
    assert len(sources) == 3  # spectral setup, timeline, flags of the one "member" (run/)
    for src in sources:
        assert "/" not in src and os.path.isfile(os.path.join(folder, src)), src
        assert os.path.isfile(os.path.join(folder, src[:-4] + ".json")), src
    assert "<h2 id='run'>Member run</h2>" in page and str(tmp_path) not in re.sub(r"<p>/[^;]*;", "", page)
