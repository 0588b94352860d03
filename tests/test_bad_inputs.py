"""The table of bad inputs: each gets a clear error naming the path and the fix, and touches nothing."""

import glob
import os

import pytest

from casa_helpers import snapshot, split_failure
from casa_plugin import RestoreError, SplitError, restore_pi, split_sci, split_sci_tgt, split_tgt

pytestmark = pytest.mark.casa


def _eb(restored, index=0):
    return sorted(glob.glob(os.path.join(restored["project"], "*", "*", "*", "calibrated", "uid*.ms")))[index]


def _drop_column(vis, column):
    from casatools import table
    tb = table()
    tb.open(os.path.realpath(vis), nomodify=False)
    try:
        tb.removecols([column])
    finally:
        tb.close()


def _retarget(vis):
    """Rename every target intent, as in an MS with no science target."""
    from casatools import table
    tb = table()
    tb.open(os.path.join(os.path.realpath(vis), "STATE"), nomodify=False)
    try:
        modes = [m.replace("OBSERVE_TARGET", "OBSERVE_CHECK") for m in tb.getcol("OBS_MODE")]
        tb.putcol("OBS_MODE", modes)
    finally:
        tb.close()


def _truncate(vis):
    path = os.path.join(os.path.realpath(vis), "table.f0")
    with open(path, "r+b") as f:
        f.truncate(100)


def _split_cal(restored):
    split_sci(vis=_eb(restored, 1))
    return _eb(restored, 1) + ".split.cal"


CASES = [
    # (name, setup(restored, tmp) -> call(), expected exception, message regex)
    ("missing path", lambda r, t: lambda: split_sci(vis=str(t / "nope.ms")),
     FileNotFoundError, r"nope.ms: no such file or directory; give an MS, a glob or a directory"),
    ("a file, not an MS", lambda r, t: (t.joinpath("notes.txt").write_text("x"),
                                        lambda: split_sci(vis=str(t / "notes.txt")))[1],
     ValueError, r"notes.txt: not a measurement set \(no table.dat\) nor a directory"),
    ("a directory without EBs", lambda r, t: (t.joinpath("empty").mkdir(), lambda: split_sci(vis=str(t / "empty")))[1],
     FileNotFoundError, r"empty: no uid___\*.ms execution blocks found here or in any calibrated/ below; run restore_pi"),
    ("glob matching nothing", lambda r, t: lambda: split_sci(vis=str(t / "uid*.ms")),
     FileNotFoundError, r"matches nothing"),
    ("no CORRECTED_DATA", lambda r, t: (_drop_column(_eb(r), "CORRECTED_DATA"), lambda: split_sci(vis=_eb(r)))[1],
     SplitError, r"uid___A002_Xf9a1c3_X1b2e.ms has no CORRECTED_DATA column; .*restore_pi"),
    ("no target intent", lambda r, t: (_retarget(_eb(r)), lambda: split_sci(vis=_eb(r)))[1],
     SplitError, r"no scan has an intent matching 'OBSERVE_TARGET\*'; intents present: .*OBSERVE_CHECK"),
    ("no spw with enough channels", lambda r, t: lambda: split_sci(vis=_eb(r), minnchan=1000),
     SplitError, r"no spw observed with intent 'OBSERVE_TARGET\*' has >= 1000 channels; spws: 0 \(4 ch\)"),
    ("spw selection matching nothing", lambda r, t: lambda: split_sci(vis=_eb(r), spw="42"),
     SplitError, r"has no spw 42; its spws are 0,1,2,3,4,5,6,7,8"),
    ("intent matching nothing", lambda r, t: (lambda p: lambda: split_tgt(vis=p, intent="CALIBRATE_POL*"))(
        _split_cal(r)), SplitError, r"no scan has an intent matching 'CALIBRATE_POL\*'"),
    ("existing output that is not an MS", lambda r, t: (os.mkdir(_eb(r) + ".split.cal"),
                                                        lambda: split_sci(vis=_eb(r)))[1],
     SplitError, r"split.cal exists but is not a complete measurement set; move it away or pass overwrite=True"),
    ("corrupted table", lambda r, t: (_truncate(_eb(r)), lambda: split_sci(vis=_eb(r)))[1],
     SplitError, r"X1b2e.ms: cannot read this table .*truncated or corrupted"),
    ("wrong argument type", lambda r, t: lambda: split_sci(vis=_eb(r), reindex="no"),
     TypeError, r"reindex must be True, False or None \(the member's numbering\), not 'no'"),
    # CASA's split warns "Parameter width is invalid. Using 1 as default" (or, for -3, says nothing) and writes an
    # unaveraged output that the record would call width='eight' (found by a new user's run)
    ("a width CASA ignores", lambda r, t: lambda: split_sci(vis=_eb(r), outputvis=str(t / "w8.ms"), width="eight"),
     ValueError, r"width='eight': give the number of channels to average, a positive integer such as 8"),
    ("a negative width", lambda r, t: lambda: split_sci_tgt(vis=r["project"], width=-3),
     ValueError, r"width=-3: give the number of channels to average"),
    ("a timebin that is no time", lambda r, t: lambda: split_sci(vis=_eb(r), timebin="12 parsec", dryrun=True),
     ValueError, r"timebin='12 parsec': give a time such as '12s', '30s' or '1.5min' to average over"),
    ("restore option as a string", lambda r, t: lambda: restore_pi(member=r["project"], spacesaving="3"),
     TypeError, r"spacesaving must be None \(unset"),
    ("restore of a non-delivery", lambda r, t: (t.joinpath("nodata").mkdir(),
                                                lambda: restore_pi(member=str(t / "nodata")))[1],
     FileNotFoundError, r"no member.uid___\* directory found at or below this path"),
]


@pytest.mark.parametrize("name, setup, error, message", CASES, ids=[c[0] for c in CASES])
def test_bad_input(restored, tmp_path, casa_session, name, setup, error, message):
    call = setup(restored, tmp_path)
    before = snapshot(restored["project"])
    with (split_failure(message) if error is SplitError else pytest.raises(error, match=message)):
        call()
    after = snapshot(restored["project"])
    changed = [p for p in after if after[p] != before.get(p) and not p.endswith("casa_plugin_record.json")]
    assert changed == [] and set(before) <= set(after)


def test_restore_overwrite_moves_an_incomplete_calibrated_aside(restored, casa_session):
    member = sorted(restored["members"])[1]
    cal = os.path.join(member, "calibrated")
    os.remove(os.path.join(cal, "uid___A002_Xf8f6a9_X15c79.ms"))  # as a crashed restore would leave it
    with pytest.raises(RestoreError, match=r"has no calibrated MS for uid___A002_Xf8f6a9_X15c79; .*overwrite=True"):
        restore_pi(member=member)
    result = restore_pi(member=member, overwrite=True)
    aside = result["members"][member]["moved_aside"]
    assert os.path.basename(aside).startswith("calibrated.") and os.path.isdir(os.path.join(aside, "working"))
    assert os.path.islink(os.path.join(aside, "uid___A002_Xf7ad58_Xd406.ms"))  # kept whole, not deleted
    assert result["members"][member]["status"] == "restored"
    assert os.path.isdir(os.path.join(cal, "uid___A002_Xf8f6a9_X15c79.ms"))


def test_spacesaving_2_warns_that_splits_cannot_be_redone(delivery, casa_session, capfd):
    member = sorted(delivery["members"])[1]
    restore_pi(member=member, spacesaving=2)
    out = capfd.readouterr()  # casalog prints its WARN posts itself (stderr); the package does not repeat them
    text = "SPACESAVING=2: where the scriptForPI splits the science spws itself"
    assert (out.out + out.err).count(text) == 1 and "WARN" in out.err
