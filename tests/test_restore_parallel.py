"""Members restored side by side: each in its own CASA process, same outputs and records as serially, failures isolated."""

import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from casa_helpers import flag_versions, run_mpi
from casa_plugin import RestoreError
from casa_plugin import record as run_record
from casa_plugin.restore import concurrency
from casa_plugin.restore.member_job import LOG_NAME, plain_environ
from casa_plugin.testing.compare import MAIN_COLUMNS, columns, mpirun_command, subtable_column
from casa_plugin.testing.pipeline_standin import restore_with_standin
from prompt_helpers import REPO, run_casa, startup_file

XB6B = "member.uid___A001_X15a2_Xb6b"
XB6D = "member.uid___A001_X15a2_Xb6d"
_TIMES = ("recorded", "seconds")


def _member(project, name):
    (member,) = glob.glob(os.path.join(project, "*", "*", name))
    return member


def _copy(info, dest):
    shutil.copytree(info["project"], str(dest), symlinks=True)
    return str(dest)


def _tree(project):
    """Relative paths below each calibrated/ (the parallel restore's own log left out)."""
    out = []
    for cal in sorted(glob.glob(os.path.join(project, "*", "*", "*", "calibrated"))):
        for root, dirs, files in os.walk(cal):
            for name in dirs + files:
                rel = os.path.relpath(os.path.join(root, name), project)
                if name != LOG_NAME:  # the pipeline context's name holds its time
                    out.append(re.sub(r"\d{8}T\d{6}", "<time>", rel))
    return sorted(out)


def _differences(a, b):
    """What differs between restored MSs ``a`` and ``b``, per data description (their spws' shapes differ).

    compare.ms_differences reads whole columns; on an MS whose spws have different channel counts
    casatools' getcol aborts the process (double free) instead of raising, so this reads per DDID.
    """
    found = []
    ddids = sorted(set(columns(a, ("DATA_DESC_ID",))["DATA_DESC_ID"]))
    if ddids != sorted(set(columns(b, ("DATA_DESC_ID",))["DATA_DESC_ID"])):
        return ["%s: other data descriptions than %s" % (b, a)]
    names = MAIN_COLUMNS + ("CORRECTED_DATA",)
    for ddid in ddids:
        ca, cb = (columns(v, names, query="DATA_DESC_ID==%d" % ddid) for v in (a, b))
        found += ["%s: %s of DDID %d differs" % (b, n, ddid) for n in names if not np.array_equal(ca[n], cb[n])]
    fa, fb = (subtable_column(v, "SPECTRAL_WINDOW", "CHAN_FREQ") for v in (a, b))
    if len(fa) != len(fb) or any(not np.array_equal(x, y) for x, y in zip(fa, fb)):
        found.append("%s: SPECTRAL_WINDOW CHAN_FREQ differs from %s" % (b, a))
    return found


def _record(project, member):
    record = run_record.load(os.path.join(_member(project, member), "calibrated"))
    text = json.dumps(record["restore"], sort_keys=True).replace(project, "<project>")
    return dict((k, v) for k, v in json.loads(text).items() if k not in _TIMES)


@pytest.mark.casa
@pytest.mark.subprocess
def test_parallel_restore_matches_serial(pristine_delivery, tmp_path, casa_session, caplog):
    serial, parallel = _copy(pristine_delivery, tmp_path / "serial"), _copy(pristine_delivery, tmp_path / "parallel")
    one = restore_with_standin(serial, parallel=False)
    both = restore_with_standin(parallel, parallel=2)
    assert one["parallel"]["mode"] == "serial" and both["parallel"]["mode"] == "local"
    assert both["parallel"]["at_once"] == 2 and both["counts"] == one["counts"] == {"restored": 2}
    assert _tree(serial) == _tree(parallel)
    compared = 0
    for name in (XB6B, XB6D):
        mine, theirs = both["members"][_member(parallel, name)], one["members"][_member(serial, name)]
        assert sorted(mine["products"]) == sorted(theirs["products"])
        for eb, vis in theirs["products"].items():
            assert _differences(vis, mine["products"][eb]) == []
            assert flag_versions(vis) == flag_versions(mine["products"][eb]) == ["Pipeline_Final"]
            compared += 1
        assert _record(serial, name) == _record(parallel, name)
        assert mine["casa_version"] == theirs["casa_version"]
        assert mine["log"] == os.path.join(_member(parallel, name), "calibrated", LOG_NAME)
        with open(mine["log"]) as f:
            text = f.read()
        assert "hifa_restoredata (pipeline stand-in): restoring" in text and "-m casashell" in text
        assert mine["restored_on"].startswith("host ") and "log" not in theirs
        assert "; log: %s" % mine["log"] in caplog.text  # the done line names where the log is now
    assert compared == 3


@pytest.mark.casa
@pytest.mark.subprocess
def test_a_failing_member_does_not_stop_the_other(delivery, casa_session):
    broken = _member(delivery["project"], XB6B)
    (script,) = glob.glob(os.path.join(broken, "script", "*scriptForPI.py"))
    with open(script, "w") as f:
        f.write("raise KeyError('no such table')\n")
    with pytest.raises(RestoreError, match=r"failed for 1 of 2 members") as info:
        restore_pi_parallel(delivery["project"])
    results = info.value.results["members"]
    assert results[broken]["status"] == "failed" and "KeyError" in results[broken]["traceback"]
    assert "no such table" in str(info.value)
    assert results[broken]["log"] == os.path.join(broken, LOG_NAME)  # no calibrated/ was made
    with open(results[broken]["log"]) as f:
        assert "KeyError" in f.read()
    fine = _member(delivery["project"], XB6D)
    assert results[fine]["status"] == "restored" and len(results[fine]["products"]) == 2
    assert run_record.load(os.path.join(fine, "calibrated"))["restore"]["status"] == "restored"


def restore_pi_parallel(project):
    return restore_with_standin(project, parallel=True)


def _plans(tmp_path, sizes, free):
    plans = []
    for i, raw in enumerate(sizes):
        member = tmp_path / ("m%d" % i)
        (member / "raw").mkdir(parents=True)
        plans.append({"member": str(member), "status": "restore",
                      "disk": {"raw": raw, "needed": raw * 11, "checked": True, "free": free}})
    return plans


def test_parallel_none_stays_serial_for_small_members(tmp_path):
    decision = concurrency.decide(_plans(tmp_path, [10 << 20, 20 << 20], 1 << 40), None)
    assert decision["mode"] == "serial" and "fewer than two members with 1 GB" in decision["reason"]
    assert concurrency.decide(_plans(tmp_path / "a", [2 << 30], 1 << 40), True)["mode"] == "serial"
    assert concurrency.decide(_plans(tmp_path / "b", [2 << 30] * 2, 1 << 40), False)["reason"] == "parallel=False"


def test_disk_needs_of_members_at_once_are_summed_per_filesystem(tmp_path, monkeypatch):
    monkeypatch.setattr(concurrency, "_available_memory", lambda: 64 << 30)
    monkeypatch.setattr(concurrency, "_cores", lambda: 8)
    gb = 1 << 30
    decision = concurrency.decide(_plans(tmp_path, [2 * gb] * 4, 50 * gb), None)  # 22 GB each, 50 GB free
    assert decision["mode"] == "local" and decision["at_once"] == 2
    assert "disk: the scriptForPI's needs of the 3 largest members" in decision["reason"]
    budget = concurrency.DiskBudget(_plans(tmp_path / "b", [2 * gb] * 3, 50 * gb))
    plans = _plans(tmp_path / "c", [2 * gb] * 3, 50 * gb)
    budget.start(plans[0])
    assert budget.fits(plans[1])
    budget.start(plans[1])
    assert not budget.fits(plans[2])  # 3 x 22 GB > 50 GB on one filesystem
    budget.finish(plans[0])
    assert budget.fits(plans[2])
    lonely = concurrency.decide(_plans(tmp_path / "d", [2 * gb] * 2, 30 * gb), True)
    assert lonely["mode"] == "serial" and "disk" in lonely["reason"]


def test_memory_per_restore_reduces_concurrency(tmp_path, monkeypatch):
    monkeypatch.setattr(concurrency, "_cores", lambda: 8)
    monkeypatch.setattr(concurrency, "_available_memory", lambda: 9 << 30)
    decision = concurrency.decide(_plans(tmp_path, [2 << 30] * 4, 1 << 50), 4)
    assert decision["at_once"] == 2 and "memory: 9.7 GB available, 4 GB assumed per restore" in decision["reason"]
    monkeypatch.setattr(concurrency, "_available_memory", lambda: 5 << 30)
    assert concurrency.decide(_plans(tmp_path / "b", [2 << 30] * 4, 1 << 50), True)["mode"] == "serial"


@pytest.mark.parametrize("value, error, message", [
    ("2", TypeError, r"parallel must be None \(auto\), True, False or the number of members"),
    (0, ValueError, r"parallel=0: give the number of members restored at once"),
    (2.0, TypeError, r"parallel must be"),
])
def test_bad_parallel(value, error, message):
    with pytest.raises(error, match=message):
        concurrency.check_parallel(value)


def test_the_child_gets_no_mpi_environment():
    env = {"OMPI_COMM_WORLD_RANK": "1", "PMIX_RANK": "1", "PMI_FD": "3", "HYDRA_X": "1", "MPI_LOCALRANKID": "0",
           "PRTE_X": "1", "PATH": "/bin", "HOME": "/root"}
    assert plain_environ(env) == {"PATH": "/bin", "HOME": "/root"}


_MPI_DRIVER = '''
import sys
import time
sys.path.insert(0, %(repo)r)
import casatasks  # ranks >= 1 become casampi servers here and never come back
import json
from casa_plugin.testing.pipeline_standin import restore_with_standin
result = restore_with_standin(%(project)r, parallel=True)
json.dump(result, open(%(report)r, "w"), default=str)
'''


@pytest.mark.casa
@pytest.mark.subprocess
@pytest.mark.mpi
def test_members_run_on_the_servers_under_mpirun(pristine_delivery, tmp_path, casa_session):
    project = _copy(pristine_delivery, tmp_path / "project")
    serial = _copy(pristine_delivery, tmp_path / "serial")
    restore_with_standin(serial, parallel=False)
    report = tmp_path / "report.json"
    (tmp_path / "driver.py").write_text(_MPI_DRIVER % {"repo": REPO, "project": project, "report": str(report)})
    out = run_mpi(mpirun_command(3) + [sys.executable, tmp_path / "driver.py"], tmp_path, 600)
    result = json.loads(report.read_text())
    assert result["parallel"]["mode"] == "mpi" and "on 2 casampi server(s)" in result["parallel"]["reason"]
    assert "mpi: 2 member(s) on 2 casampi server(s)" in out and "parallel=True: members side by side" in out
    assert "plain splits" not in out and "EB(s) at once" not in out and "(maxjobs)" not in out  # restores, not EBs
    members = result["members"]
    assert [m["status"] for m in members.values()] == ["restored", "restored"]
    assert sorted(m["mpi"]["server"] for m in members.values()) == [1, 2]  # side by side, one per server
    for member, m in members.items():
        assert m["restored_on"] == "casampi server %d on %s" % (m["mpi"]["server"], m["mpi"]["host"])
        assert "%s -> casampi server %d" % (os.path.basename(member), m["mpi"]["server"]) in out
        assert "casampi server %d on %s" % (m["mpi"]["server"], m["mpi"]["host"]) in out  # the progress line
        with open(m["log"]) as f:
            text = f.read()
        assert "a plain CASA, not an MPI rank" in text and "OMPI_COMM_WORLD_RANK=" not in text
        assert "hifa_restoredata (pipeline stand-in): restoring" in text
        assert run_record.load(os.path.dirname(m["log"]))["restore"]["status"] == "restored"
    assert _tree(project) == _tree(serial)
    for name in (XB6B, XB6D):
        assert _record(project, name) == _record(serial, name)
        for eb, vis in members[_member(project, name)]["products"].items():
            assert _differences(vis.replace(project, serial), vis) == []


_CTRL_C_DRIVER = '''
import sys
import time
sys.path.insert(0, %(repo)r)
import numpy, casatools, casatasks  # noqa: F401
from casa_plugin.testing.pipeline_standin import restore_with_standin
try:
    restore_with_standin(%(project)r, parallel=2)
except KeyboardInterrupt:
    print("DRIVER: KeyboardInterrupt")
    sys.exit(3)
'''


def _child_pid(log):
    with open(log) as f:
        found = re.findall(r"-c \S+restore_driver\.py \(pid (\d+)\)", f.read())
    return int(found[0]) if found else None


@pytest.mark.casa
@pytest.mark.subprocess
def test_ctrl_c_stops_the_children_and_marks_the_members_interrupted(delivery, tmp_path):
    members = [_member(delivery["project"], name) for name in (XB6B, XB6D)]
    for member in members:  # each restore takes a minute: Ctrl-C comes while both run
        (script,) = glob.glob(os.path.join(member, "script", "*scriptForPI.py"))
        with open(script) as f:
            text = f.read()
        with open(script, "w") as f:
            f.write("import time\ntime.sleep(120)\n" + text)
    (tmp_path / "driver.py").write_text(_CTRL_C_DRIVER % {"repo": REPO, "project": delivery["project"]})
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    proc = subprocess.Popen([sys.executable, str(tmp_path / "driver.py")], cwd=str(tmp_path), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                            start_new_session=True)  # the SIGINT goes to the driver only, as restore_pi's own
    logs = [os.path.join(m, LOG_NAME) for m in members]
    deadline = time.time() + 120
    while time.time() < deadline and not all(os.path.exists(p) and _child_pid(p) for p in logs):
        time.sleep(0.5)
    pids = [_child_pid(p) for p in logs]
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    try:
        out = proc.communicate(timeout=120)[0]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("restore_pi did not stop after Ctrl-C:\n" + proc.communicate()[0][-5000:])
    assert proc.returncode == 3 and "DRIVER: KeyboardInterrupt" in out, out[-5000:]
    assert "interrupted; stopping the 2 member restore(s) running" in out
    for pid, log in zip(pids, logs):
        assert pid and not os.path.exists("/proc/%d" % pid)  # the child CASA is gone
        with open(log) as f:
            assert "# casa_plugin: INTERRUPTED: interrupted (Ctrl-C)" in f.read()
    assert "INTERRUPTED" in out and "[1/2] member.uid___A001_X15a2_Xb6b -> calibrated/ (INTERRUPTED" in out


@pytest.mark.casa
@pytest.mark.subprocess
def test_the_restore_recipe_restores_members_side_by_side(delivery, tmp_path):
    """casa -c restore_and_split.py PROJECT RESTORE_PARALLEL=2: both members at once, then the splits."""
    recipe = os.path.join(REPO, "recipes", "restore_and_split.py")
    proc = run_casa(recipe, tmp_path, startup=startup_file(tmp_path), args=[delivery["project"], "RESTORE_PARALLEL=2"])
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert ["RESTORE_PARALLEL", "=", "2", "(command", "line)"] in [line.split() for line in proc.stdout.splitlines()]
    assert "restore_pi: local: 2 members at once, each in its own CASA process" in proc.stdout
    for name in (XB6B, XB6D):
        assert os.path.isfile(os.path.join(_member(delivery["project"], name), "calibrated", LOG_NAME))
    assert "split_sci: 3 split" in proc.stdout and "split_tgt: 3 split" in proc.stdout


@pytest.mark.casa
@pytest.mark.subprocess
def test_overwrite_moves_each_calibrated_aside_in_its_job(restored, casa_session):
    for member in restored["members"]:  # incomplete (as a crash leaves it): overwrite=True on the project redoes it
        os.remove(sorted(glob.glob(os.path.join(member, "calibrated", "uid___*.ms")))[0])
    result = restore_with_standin(restored["project"], parallel=2, overwrite=True)
    assert result["parallel"]["mode"] == "local" and result["counts"] == {"restored": 2}
    for member, plan in result["members"].items():
        assert os.path.basename(plan["moved_aside"]).startswith("calibrated.")
        assert os.path.isfile(os.path.join(plan["moved_aside"], "casa_plugin_record.json"))  # kept, not deleted
        record = run_record.load(os.path.join(member, "calibrated"))["restore"]
        assert record["moved_aside"] == plan["moved_aside"] and record["status"] == "restored"
