"""A programme on a real SLURM cluster (tests/slurm_cluster.py): one job per member, status, cancel, time limit.

One submission is shared by the tests of this module, in order: a 3-member project (12 m with 1 EB, 12 m with
2 EBs, 7 m) whose first member's restore is held up by a sleep in its restore script (so it can be cancelled
while it runs), and a 1-member project submitted with --time=1 that runs over it. Meanwhile this process
restores and splits a copy serially, as the reference.
"""

import glob
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from casa_plugin import record as run_record
from casa_plugin.cluster import jobs_record
from casa_plugin.split import split_sci_tgt
from casa_plugin.testing.compare import ms_differences
from casa_plugin.testing.mixed_delivery import make_7m_member
from casa_plugin.testing.pipeline_standin import restore_with_standin
from casa_plugin.testing.synthetic_delivery import make_delivery

pytestmark = [pytest.mark.casa, pytest.mark.subprocess]

XB6B, XB6D, XB6F = "member.uid___A001_X15a2_Xb6b", "member.uid___A001_X15a2_Xb6d", "member.uid___A001_X15a2_Xb6f"
_WAIT = 300  # seconds for a job to reach the state a test waits for (CASA starts in each job)
_VARYING = ("recorded", "seconds", "made", "checked", "host", "moved_aside", "made_id", "input_made_id", "stamps")


def _member(project, name):
    (member,) = glob.glob(os.path.join(project, "*", "*", name))
    return member


def _hold_up(member, seconds):
    """Make the member's restore sleep after hifa_restoredata (calibrated/ exists then); return the old text."""
    (script,) = glob.glob(os.path.join(member, "script", "*casa_piperestorescript.py"))
    with open(script) as f:
        text = f.read()
    with open(script, "w") as f:
        f.write(text.replace("ocorr_mode='ca')\n", "ocorr_mode='ca')\n    import time; time.sleep(%d)\n" % seconds))
    return script, text


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "casa_plugin"] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True)


def _submit(project, *args):
    proc = _cli("submit", project, "--pipeline", "standin", *args)
    assert proc.returncode == 0, proc.stdout
    return proc.stdout


def _status(project):
    out = _cli("status", project).stdout
    return dict(line.split("  ", 1) for line in out.splitlines() if line.startswith("member."))


def _wait(what, check, timeout=_WAIT):
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = check()
        if found:
            return found
        time.sleep(1)
    pytest.fail("waited %d s for %s" % (timeout, what))


def _report_page(project):
    with open(os.path.join(project, "casa_plugin_report", "index.html")) as f:
        return f.read()


def _job_ids(project, name):
    record = jobs_record.load(project)
    (entry,) = [e for key, e in record["members"].items() if key.endswith(name)]
    return [j["job_id"] for j in entry["jobs"]]


@pytest.fixture(scope="module")
def programme(slurm, tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster")
    info = make_delivery(str(root / "submitted"), small=True, members=3)
    project = info["project"]
    make_7m_member(_member(project, XB6F))
    serial = str(root / "serial" / os.path.basename(project))
    shutil.copytree(project, serial, symlinks=True)
    held = _hold_up(_member(project, XB6B), 900)
    late = make_delivery(str(root / "timeout"), small=True, members=1)["project"]
    _hold_up(_member(late, XB6B), 900)
    started = time.time()
    first = _submit(project)
    timeout_out = _submit(late, "--time", "1")
    restore_with_standin(serial, parallel=False)  # the reference, while the jobs run
    split_sci_tgt(vis=serial, parallel=False)
    return {"project": project, "serial": serial, "late": late, "held": held, "first": first,
            "timeout_out": timeout_out, "started": started, "slurm": slurm}


def test_one_job_per_member_runs_and_status_follows(programme):
    project = programme["project"]
    assert programme["first"].count(": job ") == 3, programme["first"]
    statuses = _wait("the 12 m and 7 m members without a sleep to be done", lambda: (
        lambda s: s if s[XB6D].startswith("done") and s[XB6F].startswith("done") else None)(_status(project)))
    assert statuses[XB6B].startswith("running on "), statuses  # its node and elapsed time
    nodes = set(programme["slurm"].nodes)
    assert statuses[XB6B].split()[2] in nodes
    again = _submit(project)  # nothing twice: done members and the running one are left alone
    assert ": job " not in again and "%s: not submitted (job %s running)" % (XB6B, _job_ids(project, XB6B)[0]) \
        in again, again
    assert len(_job_ids(project, XB6B)) == 1


def test_scancel_marks_the_member_cancelled_and_submit_redoes_only_it(programme):
    project = programme["project"]
    member = _member(project, XB6B)
    _wait("the held-up restore to have made calibrated/", lambda: os.path.isdir(os.path.join(member, "calibrated")))
    (job_id,) = _job_ids(project, XB6B)
    programme["slurm"].run("scancel", job_id)
    line = _wait("status to say cancelled", lambda: (lambda s: s[XB6B] if s[XB6B].startswith("failed") else None)(
        _status(project)), timeout=60)
    assert line.startswith("failed: CANCELLED; stopped by SIGTERM") and line.endswith("job %s" % job_id), line
    restore = run_record.load(os.path.join(member, "calibrated"))["restore"]
    assert restore["status"] == "interrupted"  # the restore saw the SIGTERM as a Ctrl-C: nothing looks finished
    assert restore["error"] == "cancelled by the scheduler (scancel), job %s" % job_id  # and says why
    assert restore["stopped"] == {"reason": "CANCELLED", "job_id": job_id}
    assert "cancelled by the scheduler (scancel), job %s" % job_id in _report_page(project)
    assert not glob.glob(os.path.join(member, "calibrated", "*.split.cal*"))
    script, text = programme["held"]
    with open(script, "w") as f:  # the sleep was the test's; the member's own script again
        f.write(text)
    out = _submit(project)
    assert out.count(": job ") == 1 and "%s: job " % XB6B in out, out
    assert "%s: not submitted (done)" % XB6D in out and "%s: not submitted (done)" % XB6F in out
    statuses = _wait("every member to be done", lambda: (
        lambda s: s if all(v.startswith("done") for v in s.values()) else None)(_status(project)))
    assert len(statuses) == 3
    assert glob.glob(os.path.join(member, "calibrated.*"))  # the interrupted calibrated/ moved aside, not deleted


def _outputs(project):
    return sorted(os.path.relpath(p, project) for suffix in ("*.ms.split.cal", "*.ms.split.cal.source")
                  for p in glob.glob(os.path.join(project, "*", "*", "*", "calibrated", suffix)))


def _plain(value, project):
    text = json.dumps(value, sort_keys=True, default=str).replace(project, "<project>")
    return _strip(json.loads(text))


def _strip(value):
    if isinstance(value, dict):
        return dict((k, _strip(v)) for k, v in value.items() if k not in _VARYING)
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def test_outputs_and_records_match_a_serial_restore_and_split(programme):
    project, serial = programme["project"], programme["serial"]
    outputs = _outputs(project)
    assert outputs == _outputs(serial) and len(outputs) == 8  # 4 EBs, a science and a target split each
    for rel in outputs:
        assert ms_differences(os.path.join(serial, rel), os.path.join(project, rel)) == []
    for name in (XB6B, XB6D, XB6F):
        ours = run_record.load(os.path.join(_member(project, name), "calibrated"))
        theirs = run_record.load(os.path.join(_member(serial, name), "calibrated"))
        assert _plain(ours["outputs"], project) == _plain(theirs["outputs"], serial)
        mine, ref = _plain(ours["restore"], project), _plain(theirs["restore"], serial)
        assert mine == ref, name


def test_a_job_over_its_time_shows_timeout_and_the_next_submit_doubles_it(programme):
    late = programme["late"]
    assert ": job " in programme["timeout_out"]
    line = _wait("the 1-minute job to end", lambda: (lambda s: s[XB6B] if s[XB6B].startswith("failed") else None)(
        _status(late)), timeout=_WAIT)
    assert line.startswith("failed: TIMEOUT"), line
    (job_id,) = _job_ids(late, XB6B)
    restore = run_record.load(os.path.join(_member(late, XB6B), "calibrated"))["restore"]
    assert restore["status"] == "interrupted" and restore["stopped"] == {"reason": "TIMEOUT", "job_id": job_id}
    assert restore["error"] == "stopped at the job's time limit, job %s" % job_id
    assert "stopped at the job&#x27;s time limit, job %s" % job_id in _report_page(late)
    out = _cli("submit", late, "--pipeline", "standin", "--dry-run").stdout
    assert "its last job ran out of time (1 min): asking for 2 min" in out, out
    with open(glob.glob(os.path.join(late, "casa_plugin_jobs", "*.sh"))[0]) as f:
        assert "#SBATCH --time=00:02:00\n" in f.read()


def test_dry_run_writes_scripts_sbatch_accepts_and_submits_nothing(slurm, pristine_delivery, tmp_path):
    project = str(tmp_path / "p")
    shutil.copytree(pristine_delivery["project"], project, symlinks=True)
    before = slurm.run("squeue", "-h", "-t", "all", "-o", "%i").split()
    out = _cli("submit", project, "--dry-run", "--max-running", "1", "--partition", "debug", "--scratch",
               "$TMPDIR").stdout
    scripts = sorted(glob.glob(os.path.join(project, "casa_plugin_jobs", "*.sh")))
    assert len(scripts) == 2 and "wrote (--dry-run: submitted nothing) 2 job script(s)" in out, out
    for script in scripts:
        with open(script) as f:
            text = f.read()
        assert "#SBATCH --signal=B:TERM@300" in text and "--dependency" not in text
        assert "# Restored on node-local scratch, $TMPDIR" in text
        with open(script[:-len(".sh")] + ".py") as f:
            assert "scratch='$TMPDIR')" in f.read()  # expanded in the job, on its node
        slurm.run("sbatch", "--test-only", "--dependency=singleton", script)  # CalledProcessError if refused
    assert slurm.run("squeue", "-h", "-t", "all", "-o", "%i").split() == before
    assert jobs_record.load(project)["members"] == {}


def test_restore_pi_submit_at_the_prompt_is_the_command_line(delivery, casa_session, caplog):
    """restore_pi(submit=..., dryrun=True) writes the scripts the command line writes and logs the lines it prints."""
    from casa_plugin import restore_pi
    project = delivery["project"]
    proc = _cli("submit", project, "--pipeline", "standin", "--dry-run", "--max-running", "2", "--scratch", "$TMPDIR")
    assert proc.returncode == 0, proc.stdout
    jobs = os.path.join(project, "casa_plugin_jobs")
    scripts = dict((name, open(os.path.join(jobs, name)).read()) for name in os.listdir(jobs))
    shutil.rmtree(jobs)
    caplog.set_level("INFO", logger="casa_plugin")
    result = restore_pi(member=project, submit={"scheduler": "slurm", "max_running": 2, "scratch": "$TMPDIR"},
                        dryrun=True)
    assert result["dry_run"] and result["submitted"] == {} and sorted(result["written"]) == sorted(delivery["members"])
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("casa_plugin.cluster")]
    assert lines == proc.stdout.splitlines() and len(lines) == 4
    assert lines[0].startswith("scratch $TMPDIR: its free space cannot be checked from here")
    assert dict((name, open(os.path.join(jobs, name)).read()) for name in os.listdir(jobs)) == scripts
    assert not glob.glob(os.path.join(project, "*", "*", "*", "calibrated"))
    with pytest.raises(ValueError, match=r"restore_pi\(submit='slurm'\): spacesaving, parallel only apply to a "
                                         r"restore on this machine.*leave them unset"):
        restore_pi(member=project, submit="slurm", dryrun=True, spacesaving=1, parallel=2)
    with pytest.raises(ValueError, match="submit: no option partiton; the options are scheduler, partition"):
        restore_pi(member=project, submit={"scheduler": "slurm", "partiton": "normal"}, dryrun=True)
