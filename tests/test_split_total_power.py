"""Total-power EBs: restored, then left alone by the splits with the reason in the line, result, record and table
(issue 24: the decision for TP members), and split when asked (totalpower=True)."""

import os

import pytest

from casa_plugin import record as run_record
from casa_plugin import split_sci, split_sci_tgt, split_tgt
from casa_plugin.report import summary_table
from casa_plugin.split.jobs import TOTAL_POWER
from casa_plugin.testing.mixed_delivery import make_mixed_delivery
from casa_plugin.testing.pipeline_standin import restore_with_standin

pytestmark = pytest.mark.casa


@pytest.fixture
def tp_member(tmp_path):
    info = make_mixed_delivery(str(tmp_path), arrays=("TP",))
    (member,) = info["members"]
    restore_with_standin(member)
    (eb,) = sorted(n[:-len(".asdm.sdm")] for n in os.listdir(os.path.join(member, "raw")))
    return member, os.path.join(member, "calibrated", eb + ".ms")


def test_split_sci_and_split_tgt_skip_a_total_power_eb_and_say_why(tp_member, caplog):
    member, vis = tp_member
    sci = split_sci(vis=member)
    assert sci["counts"] == {"skipped": 1}
    assert sci["ebs"][vis]["note"] == TOTAL_POWER and not os.path.exists(vis + ".split.cal")
    assert "skipped: total power (single-dish) EB: its data are FLOAT_DATA" in caplog.text
    entry = run_record.entry_of(vis + ".split.cal")
    assert entry["status"] == "skipped" and entry["note"] == TOTAL_POWER
    assert "skipped" in summary_table(None, sci, None)
    both = split_sci_tgt(vis=member)
    assert both["sci"]["counts"] == {"skipped": 1} and both["tgt"]["counts"] == {"skipped": 1}
    assert both["tgt"]["ebs"][vis + ".split.cal"]["note"] == TOTAL_POWER
    assert not os.path.exists(vis + ".split.cal.source")


def test_totalpower_true_splits_it(tp_member):
    member, vis = tp_member
    sci = split_sci(vis=member, totalpower=True)
    assert sci["counts"] == {"split": 1}
    assert split_tgt(vis=member, totalpower=True)["counts"] == {"split": 1}
    with pytest.raises(TypeError, match="totalpower must be True or False"):
        split_sci(vis=member, totalpower="yes")


def test_a_tp_split_the_scriptforpi_made_is_not_target_split(tp_member):
    """ALMA's 2022-2023 scriptForPIs split a TP EB by themselves (mstransform of CORRECTED_DATA: DATA, no
    FLOAT_DATA); split_tgt leaves that .split.cal alone too, by its PM antennas and autocorrelations."""
    from casatasks import mstransform
    member, vis = tp_member
    mstransform(vis=vis, outputvis=vis + ".split.cal", datacolumn="corrected")
    from casatools import table
    tb = table()
    tb.open(vis + ".split.cal")
    try:
        assert "FLOAT_DATA" not in tb.colnames()  # only its antennas and autocorrelations say total power
    finally:
        tb.close()
    assert split_sci(vis=member)["counts"] == {"skipped": 1}
    tgt = split_tgt(vis=member)
    assert tgt["counts"] == {"skipped": 1} and tgt["ebs"][vis + ".split.cal"]["note"] == TOTAL_POWER
    assert not os.path.exists(vis + ".split.cal.source")
