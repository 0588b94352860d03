"""A failed restore in a child CASA carries CASA's own cause (its SEVERE lines since the restore started)."""

import glob
import json
import os
import re
import sys

import pytest

from casa_plugin import RestoreError, restore_pi
from casa_plugin import record as run_record
from casa_plugin.restore import casa_log
from casa_plugin.restore.member_job import LOG_NAME
from casa_plugin.testing.pipeline_standin import restore_with_standin
from prompt_helpers import casashell_startup_args

XB6B = "member.uid___A001_X15a2_Xb6b"
XB6D = "member.uid___A001_X15a2_Xb6d"
_MISSING = "/nonexistent/uid___A002_X0_X0.ms/SOURCE"
# The pipeline's restore script, failing as CASA does: its exception says little, CASA's SEVERE line says why
_FAILING_RESTORE = """__rethrow_casa_exceptions = True
h_init()
try:
    from casatools import table
    try:
        table().open(%r)
    except RuntimeError:
        raise RuntimeError('Error creating output MS structure')
finally:
    h_save()
""" % _MISSING


def _member(project, name):
    (member,) = glob.glob(os.path.join(project, "*", "*", name))
    return member


def _break_restore_script(member, text=_FAILING_RESTORE):
    """Make the member's restore script ``text``; its restore call is kept, never reached, for the preflight to read."""
    (script,) = glob.glob(os.path.join(member, "script", "*casa_piperestorescript.py"))
    with open(script) as f:
        (call,) = [line.strip() for line in f if "restoredata" in line]
    with open(script, "w") as f:
        f.write(text if call in text else text + "if False:\n    %s\n" % call)


def _side_by_side_with_xb6b_failing(delivery, text):
    """Both members restored side by side, Xb6b's pipeline restore script being ``text``; return (Xb6b, error)."""
    broken = _member(delivery["project"], XB6B)
    _break_restore_script(broken, text)
    with pytest.raises(RestoreError, match=r"failed for 1 of 2 members") as info:
        restore_with_standin(delivery["project"], parallel=2)
    return broken, info.value


def test_severe_lines_are_read_from_where_the_restore_started(tmp_path):
    log = tmp_path / "casa.log"
    before = "2026-12-07 05:48:00\tSEVERE\tcalibrater::open\tan earlier failure\n"
    after = ("2026-12-07 05:49:58\tINFO\tsplit::::casa\tsplitting\n"
             "2026-12-07 05:49:58\tSEVERE\tMeasTable::dUTC(Double)\tLeap second table TAI_UTC seems out-of-date\n"
             "2026-12-07 05:49:58\tSEVERE\topen::/x.ms\tException Reported: Table /x.ms does not exist\n"
             "2026-12-07 05:49:59\tSEVERE\trestore_pi::restore_pi::casa\t[1/1] member.uid___A -> calibrated/ (FAILED)\n")
    log.write_text(before + after)
    (tmp_path / casa_log.START_NAME).write_text(json.dumps({"logfile": str(log), "offset": len(before)}))
    found = casa_log.severe_since(str(tmp_path))
    # neither the leap-second notice nor the child's own restore_pi line is CASA's cause
    assert found == (str(log), ["open::/x.ms: Exception Reported: Table /x.ms does not exist"])
    assert casa_log.cause_text(found) == ("CASA's SEVERE lines: open::/x.ms: Exception Reported: Table /x.ms "
                                          "does not exist")
    os.remove(str(tmp_path / casa_log.START_NAME))  # the restore never started: the whole log
    assert len(casa_log.severe_since(str(tmp_path))[1]) == 2
    assert casa_log.cause_text(casa_log.severe_since(str(tmp_path / "nothing"))) == "CASA wrote no log"
    log.write_text(after.splitlines()[0] + "\n")
    assert casa_log.cause_text(casa_log.severe_since(str(tmp_path))) == (
        "CASA logged no SEVERE line since the restore started")


@pytest.mark.casa
@pytest.mark.subprocess
def test_a_failed_side_by_side_restore_names_its_log_where_it_is_and_casas_cause(delivery, casa_session):
    broken, error = _side_by_side_with_xb6b_failing(delivery, _FAILING_RESTORE)
    result = error.results["members"][broken]
    moved = os.path.join(broken, "calibrated", LOG_NAME)  # the scriptForPI made calibrated/: the log is there
    assert result["status"] == "failed" and result["log"] == moved and os.path.isfile(moved)
    assert not os.path.exists(os.path.join(broken, LOG_NAME))
    cause = "CASA's SEVERE lines: open::%s: Exception Reported: Table %s does not exist" % (_MISSING, _MISSING)
    for text in (result["error"], str(error), run_record.load(os.path.join(broken, "calibrated"))["restore"]["error"]):
        assert "Error creating output MS structure" in text and cause in text, text
        assert "see %s" % moved in text and os.path.join(broken, LOG_NAME) not in text, text
        assert "TAI_UTC" not in text  # CASA's start-up lines are not the restore's
    assert error.results["members"][_member(delivery["project"], XB6D)]["status"] == "restored"


@pytest.mark.casa
@pytest.mark.subprocess
def test_a_child_casa_that_dies_is_reported_with_its_log_where_it_was_moved(delivery, casa_session):
    """The child aborts (as casacore does on a full disk) once the scriptForPI made calibrated/."""
    broken, error = _side_by_side_with_xb6b_failing(delivery, "h_init()\nimport os\nos.abort()\n")
    result = error.results["members"][broken]
    moved, old = os.path.join(broken, "calibrated", LOG_NAME), os.path.join(broken, LOG_NAME)
    assert result["log"] == moved and os.path.isfile(moved) and not os.path.exists(old)
    record = run_record.load(os.path.join(broken, "calibrated"))["restore"]
    for text in (result["error"], str(error), record["error"]):
        assert re.search(r"its CASA process \(pid \d+\) failed: .* exited with -6 and returned no result; CASA "
                         r"logged no SEVERE line since the restore started; see %s" % re.escape(moved), text), text
        assert old + ";" not in text and not text.endswith(old), text


def _casashell(tmp_path):
    """A CASA release's command line, here: the venv's casashell with the pipeline stand-in at start-up."""
    startup = tmp_path / "startup.py"
    startup.write_text("from casa_plugin.testing.pipeline_standin import load_into; load_into(globals())\n")
    return " ".join([sys.executable, "-m", "casashell"] + casashell_startup_args(startup, tmp_path))


@pytest.mark.casa
@pytest.mark.subprocess
def test_a_failed_restore_in_another_casa_carries_casas_cause(delivery, casa_session, tmp_path, caplog):
    member = _member(delivery["project"], XB6D)
    _break_restore_script(member)
    with pytest.raises(RestoreError, match=r"failed for 1 of 1 members") as info:
        restore_pi(member=member, casa=_casashell(tmp_path))
    error = info.value.results["members"][member]["error"]
    cause = "CASA's SEVERE lines: open::%s: Exception Reported: Table %s does not exist" % (_MISSING, _MISSING)
    assert "Error creating output MS structure" in error and cause in error, error
    assert "FAILED: " in caplog.text and cause in caplog.text  # the member's line
    assert cause in run_record.load(os.path.join(member, "calibrated"))["restore"]["error"]


@pytest.mark.casa
@pytest.mark.subprocess
def test_a_casa_that_wrote_no_log_is_said_so(delivery, casa_session):
    member = _member(delivery["project"], XB6D)
    with pytest.raises(RestoreError, match=r"false exited with 1 and returned no result; CASA wrote no log"):
        restore_pi(member=member, casa="false")


@pytest.mark.casa
def test_a_failed_restore_in_this_session_carries_casas_cause(delivery, casa_session, caplog):
    """The scriptForPI run here (serial, in-process): its failure carries the SEVERE lines CASA logged since it started."""
    member = _member(delivery["project"], XB6D)
    (script,) = glob.glob(os.path.join(member, "script", "*casa_piperestorescript.py"))
    with open(script) as f:
        text = f.read()
    failing = "\n".join(_FAILING_RESTORE.splitlines()[4:8]) + "\n"  # table().open(...) ... raise, before the restore
    _break_restore_script(member, text.replace("try:\n", "try:\n    from casatools import table\n" + failing, 1))
    with pytest.raises(RestoreError, match=r"failed for 1 of 1 members") as info:
        restore_pi(member=member, parallel=False)
    error = info.value.results["members"][member]["error"]
    cause = "CASA's SEVERE lines: open::%s: Exception Reported: Table %s does not exist" % (_MISSING, _MISSING)
    assert re.search(r"Xb6d: the scriptForPI failed: RuntimeError: Error creating output MS structure; %s"
                     % re.escape(cause), error), error
    assert error.count("CASA's SEVERE lines") == 1 and "TAI_UTC" not in error, error
    assert "FAILED: " in caplog.text and cause in caplog.text  # the member's line
    assert cause in run_record.load(os.path.join(member, "calibrated"))["restore"]["error"]
