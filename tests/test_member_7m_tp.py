"""7 m and total-power members: restored and split with the defaults, grouped by array in the report."""

import os
import re

import pytest

from casa_plugin import split_sci, split_tgt
from casa_plugin.delivery.arrays import member_array, ms_array
from casa_plugin.testing.matrix import source_differences
from casa_plugin.testing.mixed_delivery import make_mixed_delivery
from casa_plugin.testing.pipeline_standin import restore_with_standin, skip_applycal

pytestmark = pytest.mark.casa


def _members(info, array):
    return [m for m, a in sorted(info["members"].items()) if a == array]


def _ebs(member):
    return sorted(n[:-len(".asdm.sdm")] for n in os.listdir(os.path.join(member, "raw")))


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """A project of one 12 m, one 7 m and one TP member (one EB each), its arrays read before and after the
    restore (SPACESAVING=0, the default: calibrated/<eb>.ms stays), and the restore's result."""
    info = make_mixed_delivery(str(tmp_path_factory.mktemp("mixed")))
    info["before"] = dict((m, member_array(m)) for m in info["members"])
    info["result"] = restore_with_standin(info["project"])
    return info


def test_arrays_are_read_before_the_restore(mixed):
    assert mixed["before"] == mixed["members"]


def test_the_whole_mixed_project_restores_in_one_call_and_each_member_passes_its_postflight(mixed):
    for member, array in mixed["members"].items():
        plan = mixed["result"]["members"][member]
        assert plan["status"] == "restored", (member, plan.get("error"))
        (found,) = plan["postflight"].values()
        assert found["problems"] == [] and found["flagversion"] == "Pipeline_Final", found
        assert found["compared"] == ("CORRECTED_DATA with FLOAT_DATA" if array == "TP" else
                                     "CORRECTED_DATA with DATA"), found
        assert set(found["spws"].values()) == {"differs"}, found
        (eb,) = _ebs(member)
        assert ms_array(os.path.join(member, "calibrated", eb + ".ms")) == array


def test_a_tp_restore_that_did_not_calibrate_fails_its_postflight(tmp_path):
    info = make_mixed_delivery(str(tmp_path), arrays=("TP",))
    (member,) = info["members"]
    (eb,) = _ebs(member)
    skip_applycal(os.path.join(member, "raw", eb + ".asdm.sdm"))
    with pytest.raises(Exception, match=r"CORRECTED_DATA equals FLOAT_DATA in science spws 1, 3 of"):
        restore_with_standin(member)


def test_a_7m_member_splits_with_the_defaults_to_its_calibrated_data(mixed):
    from casatools import table
    (member,) = _members(mixed, "7m")
    (eb,) = _ebs(member)
    restored = os.path.join(member, "calibrated", eb + ".ms")
    tb = table()
    tb.open(os.path.join(restored, "ANTENNA"))
    try:
        names = list(tb.getcol("NAME"))
    finally:
        tb.close()
    assert len(names) == 10 and all(n.startswith("CM") for n in names), names
    sci = split_sci(vis=member)
    tgt = split_tgt(vis=member)
    assert [r["status"] for r in sci["ebs"].values()] == ["split"]
    assert [r["status"] for r in tgt["ebs"].values()] == ["split"]
    source = os.path.join(member, "calibrated", eb + ".ms.split.cal.source")
    assert source_differences(source, restored) == []


def test_the_report_groups_members_by_array_in_the_order_12m_7m_tp(mixed):
    with open(os.path.join(mixed["project"], "casa_plugin_report", "index.html")) as f:
        page = f.read()
    headings = re.findall(r"<h2 class='array'[^>]*>([^<]*)</h2>", page)
    assert headings == ["12 m array", "7 m array (ACA)", "total power (TP)"], headings
    for array in ("12m", "7m", "TP"):
        (member,) = _members(mixed, array)
        name = os.path.basename(member)[len("member."):]
        heading = page.index(">%s<" % {"12m": "12 m array", "7m": "7 m array (ACA)", "TP": "total power (TP)"}[array])
        at = page.index("<h2 id='%s'>" % name)
        later = [page.index(">%s<" % h) for h in headings if page.index(">%s<" % h) > heading]
        assert heading < at < (min(later) if later else len(page)), (array, name)


def test_restore_pi_lines_and_result_give_each_member_s_array_in_array_order(mixed, caplog):
    assert [p["array"] for p in mixed["result"]["members"].values()] == ["12m", "7m", "TP"]
    caplog.set_level("INFO")
    restore_with_standin(mixed["project"], dryrun=True)
    lines = [r.getMessage() for r in caplog.records if "-> calibrated/" in r.getMessage()]
    for array, mark in (("12m", " -> "), ("7m", " [7 m] -> "), ("TP", " [TP] -> ")):
        (member,) = _members(mixed, array)
        assert [line for line in lines if os.path.basename(member) + mark in line], (array, lines)


def test_split_sci_and_split_tgt_on_the_project_skip_the_tp_eb_with_the_reason_everywhere(mixed):
    from casa_plugin import record as run_record
    sci = split_sci(vis=mixed["project"])
    tgt = split_tgt(vis=mixed["project"])
    (member,) = _members(mixed, "TP")
    (eb,) = _ebs(member)
    calibrated = os.path.join(member, "calibrated")
    for result in (sci, tgt):
        by_eb = dict((r["eb"], r) for r in result["ebs"].values())
        assert set(r["status"] for e, r in by_eb.items() if e != eb) <= {"split", "done"}, by_eb
        if result is sci or eb in by_eb:  # split_tgt takes .split.cal: a TP EB, which has none, may not be listed
            assert by_eb[eb]["status"] == "skipped" and by_eb[eb]["note"].startswith("total power"), by_eb[eb]
    assert len([r for r in sci["ebs"].values() if r["status"] in ("split", "done")]) == 2
    assert not [n for n in os.listdir(calibrated) if ".split.cal" in n]  # no .split.cal, no .source
    entry = run_record.by_eb(run_record.load(calibrated))[eb]["split_sci"]
    assert entry["status"] == "skipped" and entry["note"].startswith("total power"), entry
    with open(os.path.join(mixed["project"], "casa_plugin_report", "index.html")) as f:
        page = f.read()
    tp_part = page[page.index("<h2 id='%s'>" % os.path.basename(member)[len("member."):]):]
    assert re.search(r"<td>split_sci</td>.*?<td>skipped</td></tr>\n<tr class='skipped'><td></td><td colspan='\d+'>"
                     r"<div class='err'>not split: total power", tp_part, re.S), tp_part
