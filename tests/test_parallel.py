"""Per-EB jobs on casampi servers under mpirun: same outputs as serially, failures reported per EB, no hang."""

import glob
import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from casa_plugin.testing.compare import mpirun_command
from casa_helpers import assert_same_ms, flag_versions
from prompt_helpers import REPO, casashell_startup_args

pytestmark = [pytest.mark.mpi, pytest.mark.casa, pytest.mark.subprocess]

MPIRUN = mpirun_command(1)[0]
TIMEOUT = 600  # seconds for one mpirun; the runs take ~20-50 s


def _have_mpi():
    import importlib.util
    return all(importlib.util.find_spec(m) for m in ("casampi", "mpi4py")) and os.path.exists(MPIRUN)


if not _have_mpi():  # pragma: no cover - CI must never skip these
    if os.environ.get("CI"):
        raise RuntimeError("casampi, mpi4py or %s missing: pip install -e '.[all]'" % MPIRUN)
    pytestmark.append(pytest.mark.skip(reason="casampi/mpirun not installed (outside CI only)"))


def _mpirun(args, cwd, nproc=3):
    """Run ``args`` on ``nproc`` MPI ranks (rank 0 the client); kill the whole group on timeout."""
    cmd = mpirun_command(nproc)
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    proc = subprocess.Popen(cmd + [str(a) for a in args], cwd=str(cwd), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, universal_newlines=True, start_new_session=True)
    try:
        out = proc.communicate(timeout=TIMEOUT)[0]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out = proc.communicate()[0]
        pytest.fail("mpirun hung for %d s:\n%s" % (TIMEOUT, out[-5000:]))
    return proc.returncode, out


def _copy(project, dest):
    shutil.copytree(project, str(dest), symlinks=True)
    return str(dest)


def _products(project):
    return sorted(glob.glob(os.path.join(project, "*", "*", "*", "calibrated", "uid___*.ms.split.cal*")))


def test_parallel_recipe_matches_serial_from_an_unpacked_copy(restored, restored_delivery, tmp_path):
    """recipes/split_only.py at a CASA prompt under mpirun -n 3 (init.py from the startup file, no pip install)."""
    from casa_plugin import split_sci, split_tgt
    serial = _copy(restored_delivery["project"], tmp_path / "serial")
    split_sci(vis=serial)
    split_tgt(vis=serial)

    unpacked = tmp_path / "unpacked"  # as a monolithic CASA user has it: servers never run the startup file
    shutil.copytree(os.path.join(REPO, "casa_plugin"), str(unpacked / "casa_plugin"))
    shutil.copy(os.path.join(REPO, "init.py"), str(unpacked / "init.py"))
    (unpacked / "where_job.py").write_text(
        "import os\ndef where(job):\n    import casa_plugin\n"
        "    return {'status': 'ok', 'package': casa_plugin.__file__, 'pid': os.getpid()}\n")
    init = str(unpacked / "init.py")
    (tmp_path / "startup.py").write_text("exec(compile(open(%r).read(), %r, 'exec'))\n" % (init, init))
    report = tmp_path / "report.json"
    (tmp_path / "run.py").write_text(
        "import json, os, casa_plugin\n"
        "from casa_plugin import parallel as mapper\n"
        "PROJECT = %r\n"
        "PARALLEL = True  # a small project: parallel=None would run it serially\n"
        "execfile(%r, globals())  # the recipe: each EB's science + target split as one job on a server\n"
        "w = mapper.run_jobs('where_job:where', [{}, {}], parallel=True, maxjobs=2)\n"
        "json.dump({'sci': split['sci']['ebs'], 'tgt': split['tgt']['ebs'], 'where': w,\n"
        "           'client': casa_plugin.__file__, 'pid': os.getpid()}, open(%r, 'w'))\n"
        % (restored["project"], os.path.join(REPO, "recipes", "split_only.py"), str(report)))
    code, out = _mpirun([sys.executable, "-m", "casashell", "--nologger", "--nogui", "--log2term", "--nologfile"]
                        + casashell_startup_args(tmp_path / "startup.py", tmp_path) + ["-c", tmp_path / "run.py"],
                        tmp_path)
    assert code == 0, out[-5000:]
    result = json.loads(report.read_text())

    assert result["client"].startswith(str(unpacked))
    assert [w["package"] for w in result["where"]] == [str(unpacked / "casa_plugin" / "__init__.py")] * 2
    for task in ("sci", "tgt"):
        assert len(result[task]) == 3
        for eb in result[task].values():
            assert eb["status"] == "split", eb
            assert eb["mpi"]["server"] in (1, 2) and eb["mpi"]["concurrency"] in (1, 2), eb["mpi"]
            assert eb["mpi"]["input_bytes"] > 0 and eb["mpi"]["throughput_mb_s"] > 0
            assert eb["mpi"]["cpu_per_s"] > 0
        assert [eb["mpi"]["concurrency"] for eb in result[task].values()] == [1, 1, 1]  # plain splits, one host
    assert "parallel: on the casampi servers: parallel=True: plain splits" in out and "split_sci: 3 split" in out

    ours, theirs = _products(restored["project"]), _products(serial)
    assert [os.path.relpath(p, restored["project"]) for p in ours] == [os.path.relpath(p, serial) for p in theirs]
    compared = 0
    for a, b in zip(ours, theirs):
        if a.endswith((".split.cal", ".source")):
            assert_same_ms(a, b)
            assert flag_versions(a) == flag_versions(b) == ["original_flags"]
            compared += 1
    assert compared == 6


_FLAKY = '''
import os, time
from casa_plugin.split.jobs import science_job

def flaky(plan):
    """A science split, except for the injected failures."""
    if plan.request["inject"] == "raise":
        raise RuntimeError("injected failure for " + os.path.basename(plan.vis))
    if plan.request["inject"] == "kill":
        os.kill(os.getpid(), 9)
    if plan.request["inject"] == "hang":
        time.sleep(3600)
    return science_job(plan)
'''

_DRIVER = '''
import sys
sys.path.insert(0, %(repo)r)  # this checkout's casa_plugin, on the client and (through it) on the servers
import casatasks  # ranks >= 1 become casampi servers here and never come back
import json
from casa_plugin import parallel as mapper
from casa_plugin.delivery import expand_vis
from casa_plugin.plan import science_plans

paths = expand_vis(%(project)r)
common = {"intent": "OBSERVE_TARGET*", "minnchan": 5, "spw": "", "datacolumn": "corrected", "reindex": True,
          "flagversion": "original_flags", "overwrite": False, "dryrun": False}
plan = [("hang", paths[0], "/dev/null/never"), ("raise", paths[0], paths[0] + ".split.cal"),
        ("kill", paths[1], paths[1] + ".split.cal"), (None, paths[2], paths[2] + ".split.cal")]
jobs = science_plans([dict(common, vis=vis, outputvis=out, inject=inject) for inject, vis, out in plan])
seen = []
results = mapper.run_jobs("flaky_job:flaky", jobs, on_result=lambda job, r: seen.append(job.request["inject"]),
                          parallel=True, maxjobs=2, timeout=20)
json.dump({"results": results, "seen": seen, "jobs": [j.options() for j in jobs]}, open(%(report)r, "w"))
sys.exit(1 if any(r["status"] == "failed" for r in results) else 0)
'''


def test_failures_are_reported_per_eb(restored, tmp_path):
    """An exception, a killed process and a hang each fail only their EB; the run ends non-zero, no hang."""
    report = tmp_path / "report.json"
    (tmp_path / "flaky_job.py").write_text(_FLAKY)
    (tmp_path / "driver.py").write_text(_DRIVER % {"project": restored["project"], "report": str(report),
                                                   "repo": REPO})
    code, out = _mpirun([sys.executable, tmp_path / "driver.py"], tmp_path)
    assert code != 0, out[-5000:]
    result = json.loads(report.read_text())
    hang, boom, kill, fine = result["results"]

    assert boom["status"] == "failed" and boom["error"].startswith("RuntimeError: injected failure")
    assert "Traceback" in boom["traceback"] and "flaky_job.py" in boom["traceback"]
    assert kill["status"] == "failed" and kill["error_type"] == "WorkerDied" and "SIGKILL" in kill["error"]
    assert hang["status"] == "failed" and hang["error_type"] == "Timeout" and "timeout=20 s" in hang["error"]
    assert "flaky_job.py" in hang["traceback"]  # where it hung, from the worker's stack dump
    assert fine["status"] == "split" and fine["nrows"] > 0
    for r in (hang, boom, kill, fine):
        assert r["mpi"]["server"] in (1, 2)
    assert sorted(result["seen"], key=str) == sorted([None, "hang", "kill", "raise"], key=str)
    assert result["seen"][-1] == "hang"  # reported as they finish, returned in job order
    assert os.path.isdir(fine["outputvis"]) and not os.path.exists(result["jobs"][1]["outputvis"])


_SERVER_KILLER = '''
import casatasks  # ranks >= 1 become casampi servers here
import json, os, sys, time
from casa_plugin import parallel as mapper
open("killer_job.py", "w").write(
    "import os, time\\n"
    "def run(job):\\n"
    "    if job['i'] == 0:\\n"
    "        os.kill(os.getppid(), 9)  # the casampi server itself, not just its worker\\n"
    "    time.sleep(0.5)\\n"
    "    return {'status': 'ok'}\\n")
sys.path.insert(0, os.getcwd())
results = mapper.run_jobs("killer_job:run", [{"i": i, "input_bytes": 0} for i in range(4)], parallel=True, maxjobs=2)
json.dump(results, open("report.json", "w"))
sys.exit(1 if any(r["status"] == "failed" for r in results) else 0)
'''


def test_a_dead_server_is_reported_with_enable_recovery(tmp_path):
    """A casampi server process that dies: its EB fails, the others run (OpenMPI needs --enable-recovery)."""
    (tmp_path / "driver.py").write_text(_SERVER_KILLER)
    code, out = _mpirun(["--enable-recovery", sys.executable, tmp_path / "driver.py"], tmp_path)
    # no exit-code check: casampi then calls MPI_Abort at exit, and prterun --enable-recovery returns 0
    assert (tmp_path / "report.json").exists(), out[-5000:]
    lost, *others = json.loads((tmp_path / "report.json").read_text())
    assert lost["status"] == "failed" and lost["error_type"] == "ServerLost", lost
    assert [r["status"] for r in others] == ["ok"] * 3
    assert {r["mpi"]["server"] for r in others} == {3 - lost["mpi"]["server"]}  # the survivor did the rest


def test_outside_mpi_serial_and_parallel_true_is_an_error():
    from casa_plugin import parallel as mapper
    jobs = [{"vis": "a"}, {"vis": "b"}]
    results = mapper.run_jobs("casa_plugin.split.jobs:no_such_job", jobs)  # auto: serial here
    assert [r["status"] for r in results] == ["failed", "failed"] and "mpi" not in results[0]
    from casa_plugin.errors import ParallelUnavailable
    with pytest.raises(ParallelUnavailable, match="mpirun"):
        mapper.run_jobs("casa_plugin.split.jobs:science_job", jobs, parallel=True)
    with pytest.raises(ValueError, match="maxjobs"):
        mapper.run_jobs("casa_plugin.split.jobs:science_job", jobs, maxjobs=0)


def test_a_host_takes_one_more_eb_only_when_its_ebs_wait_on_io():
    from casa_plugin.parallel.client import _Host
    host = _Host("h", [1, 2, 3], 1, False)
    host.record(1, 0.95, 1e8, 1.4e9, 60)          # a busy core: stays at 1
    host.record(1, 0.2, 1e8, 1.4e9, 2)            # a short EB: says nothing
    assert host.level == 1
    host.record(1, 0.2, 1e8, 1.4e9, 60)           # little CPU, slow reads: one more
    assert host.level == 2
    host.record(1, 0.2, 1e8, 1.4e9, 60)           # an EB started at the old level: ignored
    assert host.level == 2
    fixed = _Host("h", [1, 2, 3], 5, True)        # maxjobs: capped at the servers, never changed
    fixed.record(3, 0.1, 1e6, 1.4e9, 60)
    assert fixed.level == 3


_POLICY = '''
import sys
sys.path.insert(0, %(repo)r)  # this checkout's casa_plugin, on the client and (through it) on the servers
import casatasks  # ranks >= 1 become casampi servers here and never come back
import json, logging, os
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%%(name)s: %%(message)s")
from casa_plugin import parallel as mapper, split_sci


def workers():
    """The worker processes of this run's casampi servers (children of the client's siblings)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = open("/proc/%%s/cmdline" %% pid, "rb").read().decode("utf-8", "replace")
            parent = int(open("/proc/%%s/stat" %% pid).read().rsplit(")", 1)[1].split()[1])
            grand = int(open("/proc/%%d/stat" %% parent).read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if "worker_main" in cmd and grand == os.getppid():
            found.append(int(pid))
    return found


small = split_sci(vis=%(project)r)  # parallel=None on the small delivery
open("big_job.py", "w").write("import os\\ndef run(job):\\n    return {'status': 'split', 'pid': os.getpid()}\\n")
sys.path.insert(0, os.getcwd())
plans = []
tiny = [{"vis": "eb%%d" %% i, "input_bytes": 2 * 10 ** 6, "width": 8} for i in range(3)]
tiny = mapper.run_jobs("big_job:run", tiny, on_plan=plans.append)  # averaging splits of a small project
from casa_plugin.parallel import _casampi, client
client.settled()  # serial runs start casampi's client in a thread beside their first EB
services = _casampi.client_started()  # serial runs start casampi's client, or mpirun's exit status is 1
os.environ["OMPI_COMM_WORLD_LOCAL_SIZE"] = "1"  # as if the servers were elsewhere: each is asked its host name
asked = client.server_hosts(client.server_ranks())
os.environ["OMPI_COMM_WORLD_LOCAL_SIZE"] = os.environ["OMPI_COMM_WORLD_SIZE"]
after_small = workers()
print("=== the large averaging run ===", flush=True)
jobs = [{"vis": "eb%%d" %% i, "input_bytes": 20 * 10 ** 9, "width": 8, "timebin": "12s"} for i in range(4)]
averaged = mapper.run_jobs("big_job:run", jobs, on_plan=plans.append)  # what an averaging split of 80 GB would be
json.dump({"small": small["parallel"], "small_ebs": small["ebs"], "after_small": after_small,
           "averaged": averaged, "plan": plans, "tiny": tiny, "asked": asked, "services": services,
           "host": __import__("socket").gethostname(), "after_averaged": workers(), "client": os.getpid()},
          open("report.json", "w"))
'''


def test_parallel_none_runs_a_small_project_serially_without_workers(restored, tmp_path):
    """Under mpirun -n 3: a small project is split in the client, no worker started, and says why;
    averaging splits of a large project go to the servers, two at once on this host."""
    (tmp_path / "driver.py").write_text(_POLICY % {"project": restored["project"], "repo": REPO})
    code, out = _mpirun([sys.executable, tmp_path / "driver.py"], tmp_path)
    assert code == 0, out[-5000:]
    report = json.loads((tmp_path / "report.json").read_text())
    small = report["small"]
    assert small["mode"] == "serial" and small["per_host"] == {}
    assert small["reason"].startswith("plain splits on one host are bandwidth-bound"), small
    assert "parallel: serial in the client: plain splits on one host are bandwidth-bound" in out
    before = out.split("=== the large averaging run ===")[0]
    assert report["after_small"] == [] and "mpi: " not in before, before[-3000:]
    assert [eb["status"] for eb in report["small_ebs"].values()] == ["split"] * 3
    assert all("mpi" not in eb for eb in report["small_ebs"].values())

    tiny, plan = report["plan"]
    assert tiny["mode"] == "serial" and tiny["reason"].startswith("a small project: 3 EB(s), 0.01 GB"), tiny
    assert "parallel: serial in the client: a small project" in out
    assert [r["pid"] for r in report["tiny"]] == [report["client"]] * 3
    assert report["asked"] == {report["host"]: 2}  # a one-line casampi command, no worker (after_small)
    assert report["services"] is True
    assert plan["mode"] == "parallel" and list(plan["per_host"].values()) == [2], plan
    assert plan["reason"].startswith("averaging splits (CPU-bound): as many EBs at once per host"), plan
    assert [r["status"] for r in report["averaged"]] == ["split"] * 4
    assert {r["mpi"]["server"] for r in report["averaged"]} == {1, 2}
    assert [r["mpi"]["concurrency"] for r in report["averaged"]] == [2] * 4
    assert len(report["after_averaged"]) == 2  # the check above can see workers
    assert report["client"] not in [r["pid"] for r in report["averaged"]]


_EARLY_START = '''
import casatasks  # ranks >= 1 become casampi servers here
import json, os, sys, time
open("pid_job.py", "w").write(
    "import os\\n"
    "def run(job):\\n"
    "    ticks = int(open('/proc/self/stat').read().rsplit(')', 1)[1].split()[19])\\n"
    "    return {'status': 'ok', 'pid': os.getpid(), 'started_ticks': ticks}\\n")
sys.path.insert(0, os.getcwd())
import casa_plugin  # defines names only: no MPI command on import
from casa_plugin import parallel as mapper
from casa_plugin.parallel import client as mpi_dispatch
on_import = len(mpi_dispatch._started)
first = mapper.start_workers()  # asked for explicitly: each server starts its worker, no waiting
again = mapper.start_workers()  # only once
time.sleep(8)  # the workers import casatasks meanwhile
uptime_ticks = float(open("/proc/uptime").read().split()[0]) * os.sysconf("SC_CLK_TCK")
results = mapper.run_jobs("pid_job:run", [{"i": i, "input_bytes": 0} for i in range(4)], parallel=True, maxjobs=2)
json.dump({"on_import": on_import, "first": first, "again": again, "early": len(mpi_dispatch._started), "called_ticks": uptime_ticks, "results": results},
          open("report.json", "w"))
'''


def test_workers_start_early_from_start_workers_not_on_import(tmp_path):
    """start_workers() starts the servers' workers early; importing casa_plugin does not."""
    (tmp_path / "driver.py").write_text(_EARLY_START)
    code, out = _mpirun([sys.executable, tmp_path / "driver.py"], tmp_path)
    assert code == 0, out[-5000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["on_import"] == 0 and report["first"] is True
    assert report["early"] == 2 and report["again"] is False
    results = report["results"]
    assert [r["status"] for r in results] == ["ok"] * 4
    assert len({r["pid"] for r in results}) == 2  # one worker per server, reused
    assert all(r["started_ticks"] < report["called_ticks"] - 100 for r in results)  # up > 1 s before the run


_TWO_CAUSES = '''
import sys
sys.path.insert(0, %(repo)r)
import casatasks  # ranks >= 1 become casampi servers here and never come back
import json
from casa_plugin import SplitError, split_sci
try:
    split_sci(vis=%(project)r, parallel=True, maxjobs=2)
    results = {}
except SplitError as exc:
    results = exc.results["ebs"]
json.dump(results, open(%(report)r, "w"))
'''


def test_two_ebs_failing_differently_each_name_their_own_casa_cause(restored, tmp_path):
    """Under mpirun -n 3 all ranks write one CASA log: each failed EB's line still names its own SEVERE lines."""
    from casatools import table
    ebs = sorted(glob.glob(os.path.join(restored["project"], "*", "*", "*", "calibrated", "uid___*.ms")))
    tb = table()
    for vis, subtable in zip(ebs, ("POLARIZATION", "FIELD")):  # an empty row: split's output structure fails
        tb.open(os.path.join(os.path.realpath(vis), subtable), nomodify=False)
        try:
            tb.addrows(1)
        finally:
            tb.close()
    report = tmp_path / "report.json"
    (tmp_path / "driver.py").write_text(_TWO_CAUSES % {"repo": REPO, "project": restored["project"],
                                                       "report": str(report)})
    code, out = _mpirun([sys.executable, tmp_path / "driver.py"], tmp_path)
    result = json.loads(report.read_text())
    pol, field, fine = (result[vis] for vis in ebs)
    assert {pol["mpi"]["server"], field["mpi"]["server"]} <= {1, 2}, out[-5000:]
    assert pol["error"].startswith("RuntimeError: Error creating output MS structure; CASA's SEVERE lines: "
                                   "MSTransformDataHandler::makeMSBasicStructure: Exception filling the sub-tables: "
                                   ), pol["error"]
    assert "column CORR_TYPE of table %s/POLARIZATION" % ebs[0] in pol["casa_cause"]
    assert "Unknown error!" not in pol["casa_cause"] and ebs[1] not in pol["casa_cause"]
    assert field["error"].startswith("RuntimeError: Error creating output MS structure; CASA's SEVERE lines: "
                                     ), field["error"]
    assert "Unknown error!" in field["casa_cause"] and "CORR_TYPE" not in field["casa_cause"]
    assert fine["status"] == "split"
