"""restore_pi on the synthetic delivery: preflight, running the scriptForPI as a user would, postflight."""

import glob
import os
import re
import shutil

import pytest

from casa_helpers import small_disk, snapshot, split_failure
from casa_plugin import RestoreError, restore_pi, split_sci, split_tgt
from casa_plugin import record as run_record
from casa_plugin.restore.versions import running_version

pytestmark = pytest.mark.casa

XB6B = "member.uid___A001_X15a2_Xb6b"
XB6D = "member.uid___A001_X15a2_Xb6d"


def _member(info, name):
    (member,) = [m for m in info["members"] if m.endswith(name)]
    return member


def test_restores_every_member_like_the_tutorial(delivery, casa_session):
    result = restore_pi(member=delivery["project"])
    assert [os.path.basename(m) for m in result["members"]] == [XB6B, XB6D]
    assert result["counts"] == {"restored": 2}
    cal = os.path.join(_member(delivery, XB6D), "calibrated")
    assert sorted(os.listdir(cal)) == [
        "casa_plugin_record.json", "products", "rawdata",
        "uid___A002_Xf7ad58_Xd406.ms", "uid___A002_Xf7ad58_Xd406.ms.flagversions",
        "uid___A002_Xf8f6a9_X15c79.ms", "uid___A002_Xf8f6a9_X15c79.ms.flagversions", "working"]
    assert os.readlink(os.path.join(cal, "uid___A002_Xf7ad58_Xd406.ms")) == "working/uid___A002_Xf7ad58_Xd406.ms"
    products = result["members"][_member(delivery, XB6D)]["products"]
    assert sorted(products) == ["uid___A002_Xf7ad58_Xd406", "uid___A002_Xf8f6a9_X15c79"]
    record = run_record.load(cal)["restore"]
    assert record["status"] == "restored" and record["casa_version"] == running_version()
    assert record["delivery_versions"]["casa"] == ".".join(running_version().split(".")[:3])


def test_member_may_be_its_script_dir_and_cwd_is_kept(delivery, casa_session, tmp_path, monkeypatch):
    monkeypatch.chdir(str(tmp_path))
    result = restore_pi(member=os.path.join(_member(delivery, XB6D), "script"))
    assert list(result["members"]) == [_member(delivery, XB6D)]
    assert os.getcwd() == str(tmp_path)


def test_already_restored_member_is_skipped(restored, casa_session):
    before = snapshot(restored["project"])
    result = restore_pi(member=restored["project"])
    assert result["counts"] == {"already restored": 2}
    assert snapshot(restored["project"]) == before
    member = sorted(result["members"])[0]
    again = restore_pi(member=member, dosplit=True)["members"][member]  # the options cannot apply: it says so
    assert again["status"] == "already restored"
    assert again["note"] == ("dosplit=True not applied: they are the scriptForPI's options, for a new restore; to "
                             "restore it again with them: restore_pi(member=%r, dosplit=True, overwrite=True)" % member)
    assert snapshot(restored["project"]) == before


def test_options_reach_the_script_and_never_leak(delivery, casa_session):
    casa_session["SPACESAVING"] = 3  # a session global must not be taken silently
    member = _member(delivery, XB6D)
    result = restore_pi(member=member, dosplit=True)
    cal = os.path.join(member, "calibrated")
    assert sorted(glob.glob(os.path.join(cal, "uid*"))) == [
        os.path.join(cal, "uid___A002_Xf7ad58_Xd406.ms.split.cal"),
        os.path.join(cal, "uid___A002_Xf8f6a9_X15c79.ms.split.cal")]
    assert os.path.isdir(os.path.join(cal, "working", "uid___A002_Xf7ad58_Xd406.ms"))  # SPACESAVING 3 ignored
    assert casa_session["SPACESAVING"] == 3 and "DOSPLIT" not in casa_session
    assert result["members"][member]["status"] == "restored"
    # split_sci takes the script's splits (spw ids kept) as done for the default request, follows their
    # numbering, and saves original_flags on them; an explicit reindex=True is another request
    with split_failure(r"spw ids 1,3,5,7 are the input's \(kept\); this request has reindex=True \(pass "
                       r"reindex=False to accept them\)"):
        split_sci(vis=cal, reindex=True)
    split = split_sci(vis=cal)
    assert split["counts"] == {"done": 2}
    assert all(r["flagversion_saved"] for r in split["ebs"].values())
    assert split_tgt(vis=cal)["counts"] == {"split": 2}


def test_spacesaving_2_leaves_only_the_splits(delivery, casa_session):
    member = _member(delivery, XB6D)
    restore_pi(member=member, spacesaving=2, dosplit=True)  # SPACESAVING only deletes what a split leaves
    assert glob.glob(os.path.join(member, "calibrated", "working", "uid*.ms")) == []
    assert split_sci(vis=delivery["project"] + "/*/*/" + XB6D)["counts"] == {"done": 2}


def test_spacesaving_minus_1_reaches_the_script_which_skips_its_disk_check(delivery, casa_session,
                                                                          monkeypatch, capfd):
    member = _member(delivery, XB6D)
    # 1 MB free where the script looks (raw/'s filesystem): its own check would stop it. Not under calibrated/,
    # where the stand-in's pipeline then writes (the synthetic EBs check their space, as a full disk aborts CASA)
    small_disk(monkeypatch, os.path.join(member, "raw"), 1)
    result = restore_pi(member=member, spacesaving=-1)
    out = "".join(capfd.readouterr())  # warnings come from casalog, on stderr
    assert "# options: SPACESAVING=-1 " in out and "Will not check available disk space." in out
    assert "SPACESAVING=-1: the scriptForPI skips its own disk-space check and casa_plugin checks nothing" in out
    assert result["members"][member]["status"] == "restored"
    assert result["members"][member]["disk"]["checked"] is False
    assert os.path.isdir(os.path.join(member, "calibrated", "uid___A002_Xf7ad58_Xd406.ms"))


def test_checkdisk_false_leaves_the_scripts_own_disk_check(delivery, casa_session, monkeypatch, capsys):
    member = _member(delivery, XB6D)
    small_disk(monkeypatch, delivery["project"], 1)
    with pytest.raises(RestoreError, match=r"(?s)preflight failed.*Xb6d: the scriptForPI needs .* so it would stop"):
        restore_pi(member=member)
    with pytest.raises(RestoreError, match=r"Xb6d: the scriptForPI stopped: ERROR: probably not enough free disk"):
        restore_pi(member=member, checkdisk=False)
    out = capsys.readouterr().out
    assert "# options: SPACESAVING=0 " in out  # unset: the script's level 0
    assert "If you think this is not correct and want to try anyway, please set SPACESAVING to -1." in out
    assert not os.path.exists(os.path.join(member, "calibrated"))


def test_docontsub_products_are_not_taken_as_ebs(delivery, casa_session):
    member = _member(delivery, XB6D)
    restore_pi(member=member, docontsub=True)
    cal = os.path.join(member, "calibrated")
    assert len(glob.glob(os.path.join(cal, "uid___*_targets.ms"))) == 2  # hif_mstransform's, one per EB
    result = split_sci(vis=cal, dryrun=True)
    assert sorted(os.path.basename(v) for v in result["ebs"]) == [
        "uid___A002_Xf7ad58_Xd406.ms", "uid___A002_Xf8f6a9_X15c79.ms"]


def test_dryrun_runs_nothing(delivery, casa_session):
    before = snapshot(delivery["project"])
    result = restore_pi(member=delivery["project"], dryrun=True)
    assert result["counts"] == {"planned": 2}
    assert snapshot(delivery["project"]) == before
    text = repr(result)  # at the prompt: the per-EB table, not 40 lines of nested dicts
    assert "OrderedDict" not in text and len(text.splitlines()) <= 7 and text.count("planned") == 3


def _break(delivery, casa_session, cause):
    member = _member(delivery, XB6D)
    if cause == "no pipeline":
        for name in ("h_init", "hifa_restoredata", "h_save"):
            casa_session.pop(name)
    elif cause == "missing ASDM":
        shutil.rmtree(os.path.join(member, "raw", "uid___A002_Xf8f6a9_X15c79.asdm.sdm"))
    elif cause == "no calibration":
        shutil.rmtree(os.path.join(member, "calibration"))
    elif cause == "calibrated exists":
        os.mkdir(os.path.join(member, "calibrated"))
    elif cause == "two scripts":
        shutil.copy(glob.glob(os.path.join(member, "script", "*scriptForPI.py"))[0],
                    os.path.join(member, "script", "copy.scriptForPI.py"))
    elif cause == "no script dir":
        shutil.rmtree(os.path.join(member, "script"))
    return member


@pytest.mark.parametrize("cause, message", [
    ("no pipeline", r"Xb6d: pipeline-calibrated .* not loaded .*casa --pipeline"),
    ("missing ASDM", r"Xb6d: raw/ lacks the ASDM of uid___A002_Xf8f6a9_X15c79; download"),
    ("no calibration", r"Xb6d: no calibration/ directory; download"),
    ("calibrated exists", r"Xb6d: calibrated/ exists but has no calibrated MS for .*to move it aside .*and restore "
                          r"this member again: restore_pi\(member='\S+Xb6d', overwrite=True\)"),
    ("two scripts", r"Xb6d/script: expected one \*scriptForPI.py, found .*keep only"),
    ("no script dir", r"Xb6d: no script/ directory"),
])
def test_preflight_failures_name_member_and_fix_and_run_nothing(delivery, casa_session, cause, message):
    _break(delivery, casa_session, cause)
    before = snapshot(delivery["project"])
    with pytest.raises(RestoreError, match=message) as info:
        restore_pi(member=delivery["project"])
    assert "nothing was run" in str(info.value)
    assert snapshot(delivery["project"]) == before  # the healthy member was not restored either
    statuses = {os.path.basename(m): r["status"] for m, r in info.value.results["members"].items()}
    healthy = "failed" if cause == "no pipeline" else "not run"  # no pipeline fails every member
    assert statuses == {XB6B: healthy, XB6D: "failed"}


def test_script_sys_exit_becomes_an_error_with_its_message(delivery, casa_session, tmp_path, monkeypatch):
    member = _member(delivery, XB6D)
    script = glob.glob(os.path.join(member, "script", "*scriptForPI.py"))[0]
    with open(script, "w") as f:
        f.write("import sys\nsys.exit('ERROR: the scriptForPI refuses: disk full')\n")
    monkeypatch.chdir(str(tmp_path))
    with pytest.raises(RestoreError, match=r"Xb6d: the scriptForPI stopped: ERROR: the scriptForPI refuses"):
        restore_pi(member=member)
    assert os.getcwd() == str(tmp_path)


def test_script_exception_is_reported_and_other_members_still_run(delivery, casa_session):
    member = _member(delivery, XB6B)
    script = glob.glob(os.path.join(member, "script", "*scriptForPI.py"))[0]
    with open(script, "w") as f:
        f.write("raise KeyError('no such table')\n")
    with pytest.raises(RestoreError, match=r"failed for 1 of 2 members") as info:
        restore_pi(member=delivery["project"])
    results = info.value.results["members"]
    assert results[member]["status"] == "failed" and "KeyError" in results[member]["traceback"]
    assert results[_member(delivery, XB6D)]["status"] == "restored"


@pytest.mark.parametrize("kwargs, message", [
    ({"spacesaving": "3"}, r"spacesaving must be None \(unset: the scriptForPI's level 0\) or an integer >= -1"),
    ({"spacesaving": True}, r"spacesaving must be None \(unset: the scriptForPI's level 0\) or an integer >= -1"),
    ({"dosplit": "yes"}, r"dosplit must be None, True or False"),
    ({"dryrun": 1}, r"dryrun must be True or False"),
])
def test_bad_option_types(delivery, casa_session, kwargs, message):
    with pytest.raises(TypeError, match=message):
        restore_pi(member=delivery["project"], **kwargs)


def test_not_a_delivery(tmp_path, casa_session):
    with pytest.raises(FileNotFoundError, match=r"no member.uid___\* directory found"):
        restore_pi(member=str(tmp_path))


def _restore_stopped_at_the_third_eb(delivery, monkeypatch, interrupt=KeyboardInterrupt):
    """A serial restore of the project, Ctrl-C as the pipeline (stand-in) restores its 3rd EB: Xb6d's second."""
    from casa_plugin.testing import synthetic_ms
    real, calls = synthetic_ms.make_eb_ms, []

    def make_then_ctrl_c(vis, **kwargs):
        calls.append(vis)
        if len(calls) == 3:
            raise interrupt()
        return real(vis, **kwargs)
    monkeypatch.setattr(synthetic_ms, "make_eb_ms", make_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        restore_pi(member=delivery["project"], parallel=False)
    monkeypatch.undo()
    assert len(calls) == 3


def test_ctrl_c_in_a_serial_restore_prints_the_members_line_and_saves_no_context(delivery, casa_session,
                                                                                monkeypatch, caplog):
    _restore_stopped_at_the_third_eb(delivery, monkeypatch)
    member = _member(delivery, XB6D)
    assert re.search(r"\[2/2\] %s -> calibrated/ \(INTERRUPTED \(Ctrl-C\): calibrated/ is incomplete; to restore this "
                     r"member again: restore_pi\(member='%s', overwrite=True\)\) \d" % (XB6D, re.escape(member)),
                     caplog.text), caplog.text
    restore = run_record.load(os.path.join(member, "calibrated"))["restore"]
    assert restore["status"] == "interrupted" and restore["error"] == "interrupted (Ctrl-C)" and "stopped" not in restore
    # the restore script calls h_save in its finally: after Ctrl-C the stand-in saves no context
    assert glob.glob(os.path.join(member, "calibrated", "working", "*.context")) == []
    assert "h_save (pipeline stand-in): interrupted (Ctrl-C); no context saved" in caplog.text
    whole = _member(delivery, XB6B)  # restored before the Ctrl-C: h_save ran as usual
    assert len(glob.glob(os.path.join(whole, "calibrated", "working", "*.context"))) == 1


def test_a_batch_job_stopped_by_its_scheduler_names_the_cause_in_the_member_s_records(delivery, casa_session,
                                                                                     monkeypatch, caplog):
    """A batch job's SIGTERM goes up as JobStopped (a KeyboardInterrupt): the member's line, its restore record,
    the summary table and the delivery report say why, not Ctrl-C."""
    from casa_plugin.errors import JobStopped
    from casa_plugin.report import summary_table
    _restore_stopped_at_the_third_eb(delivery, monkeypatch, lambda: JobStopped("TIMEOUT", "4242"))
    member = _member(delivery, XB6D)
    assert re.search(r"\[2/2\] %s -> calibrated/ \(INTERRUPTED, stopped at the job's time limit, job 4242: "
                     r"calibrated/ is incomplete" % XB6D, caplog.text), caplog.text
    restore = run_record.load(os.path.join(member, "calibrated"))["restore"]
    assert restore["status"] == "interrupted" and restore["error"] == "stopped at the job's time limit, job 4242"
    assert restore["stopped"] == {"reason": "TIMEOUT", "job_id": "4242"}
    (made,) = glob.glob(os.path.join(member, "calibrated", "working", "uid___*.ms"))  # restored before the stop
    eb = os.path.basename(made)[:-len(".ms")]
    vis = os.path.join(member, "calibrated", eb + ".ms")  # where a split would read it
    table = summary_table(science={"ebs": {vis: {"vis": vis, "eb": eb, "status": "planned"}}})
    assert "interrupted (time limit)" in table, table  # the restore column, read from the record
    with open(os.path.join(delivery["project"], "casa_plugin_report", "index.html")) as f:
        assert "stopped at the job&#x27;s time limit, job 4242" in f.read()


def test_after_an_interrupted_restore_overwrite_redoes_only_the_incomplete_member(delivery, casa_session,
                                                                                 monkeypatch, caplog):
    _restore_stopped_at_the_third_eb(delivery, monkeypatch)
    broken, whole = _member(delivery, XB6D), _member(delivery, XB6B)
    # the advice names the incomplete member, and that call works
    with pytest.raises(RestoreError, match=r"Xb6d: calibrated/ exists but has no calibrated MS for .*: restore_pi\("
                                           r"member='%s', overwrite=True\)" % re.escape(broken)):
        restore_pi(member=delivery["project"])
    whole_before = snapshot(os.path.join(whole, "calibrated"))
    result = restore_pi(member=delivery["project"], overwrite=True)  # on the project: only the incomplete one
    assert {os.path.basename(m): r["status"] for m, r in result["members"].items()} == {
        XB6B: "already restored", XB6D: "restored"}
    assert sorted(n for n in os.listdir(whole) if n.startswith("calibrated")) == ["calibrated"]  # not moved aside
    assert snapshot(os.path.join(whole, "calibrated")) == whole_before
    assert os.path.basename(result["members"][broken]["moved_aside"]).startswith("calibrated.")
    assert re.search(r"\[1/2\] %s -> calibrated/ \(already restored; complete, so overwrite=True on a directory above "
                     r"members leaves it; to restore it again, name it: restore_pi\(member='%s', overwrite=True\)\)"
                     % (XB6B, re.escape(whole)), caplog.text), caplog.text
    # named, a complete member is restored again (the old calibrated/ moved aside)
    again = restore_pi(member=whole, overwrite=True)["members"][whole]
    assert again["status"] == "restored" and os.path.isdir(os.path.join(again["moved_aside"], "working"))


def test_a_member_whose_recorded_restore_was_interrupted_is_incomplete(restored, casa_session):
    """Every EB's MS is there, but the record says the restore did not finish: not taken as restored."""
    member = _member(restored, XB6D)
    cal = os.path.join(member, "calibrated")
    entry = dict(run_record.load(cal)["restore"], status="interrupted")
    run_record.update_restore(cal, entry)
    with pytest.raises(RestoreError, match=r"Xb6d: calibrated/ exists but has every EB's MS but its last restore "
                                           r"was interrupted .*restore_pi\(member='%s', overwrite=True\)"
                                           % re.escape(member)):
        restore_pi(member=member, dryrun=True)
    result = restore_pi(member=restored["project"], overwrite=True, dryrun=True)
    assert {os.path.basename(m): r["status"] for m, r in result["members"].items()} == {
        XB6B: "already restored", XB6D: "planned"}
