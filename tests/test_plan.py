"""One plan per EB: made once on the client, read by every stage; no EB resolved or measured twice per call."""

import glob
import json
import os
import pickle
import signal
import subprocess
import sys

import pytest

import count_calls
from prompt_helpers import REPO

_OPTIONS = {"intent": "OBSERVE_TARGET*", "minnchan": 5, "spw": "", "datacolumn": "corrected", "reindex": True,
            "flagversion": "original_flags", "overwrite": False, "dryrun": False}


def _fake_eb(tmp_path, size=1000):
    vis = tmp_path / "uid___A002_X1_X1.ms"
    vis.mkdir()
    (vis / "table.f1").write_bytes(b"x" * size)
    return str(vis)


def test_work_bytes_counts_only_what_will_be_split(tmp_path):
    from casa_plugin.plan import chain_plans, science_plans
    vis = _fake_eb(tmp_path)
    job = dict(_OPTIONS, vis=vis, outputvis=vis + ".split.cal")
    tgt = {"vis": vis + ".split.cal", "outputvis": vis + ".split.cal.source", "intent": "*TARGET*",
           "datacolumn": None, "flagversion": "original_flags", "overwrite": False, "dryrun": False}
    assert science_plans([job])[0].work_bytes == 1000
    assert science_plans([dict(job, dryrun=True)])[0].work_bytes == 0
    os.mkdir(vis + ".split.cal")  # the output exists: only checked
    assert science_plans([job])[0].work_bytes == 0
    assert science_plans([dict(job, overwrite=True)])[0].work_bytes == 1000
    assert chain_plans([job], [tgt])[0].work_bytes == 1000  # the target split is still to do
    os.mkdir(vis + ".split.cal.source")
    assert chain_plans([job], [tgt])[0].work_bytes == 0


def test_a_plan_holds_the_resolved_input_and_is_immutable_and_picklable(tmp_path):
    from casa_plugin.plan import Chain, Plan, chain_plans, science_plans, target_plans
    calibrated = tmp_path / "proj" / "science_goal.uid___A001_X1_X2" / "group.uid___A001_X1_X3" / \
        "member.uid___A001_X1_X4" / "calibrated"
    (calibrated / "working").mkdir(parents=True)
    working = _fake_eb(calibrated / "working", size=2000)  # DOSPLIT: the restored MS is only in working/
    open(os.path.join(working, "table.dat"), "w").close()
    vis = str(calibrated / "uid___A002_X1_X1.ms")
    plan, = science_plans([dict(_OPTIONS, vis=vis, outputvis=vis + ".split.cal", spw="17,19")])
    assert isinstance(plan, Plan) and plan.task == "split_sci"
    assert plan.vis == vis and plan.input == working and plan.input_bytes == 2000 == plan.work_bytes
    assert plan.spws == [17, 19] and plan.member == "uid___A001_X1_X4" and plan.project == "proj"
    assert plan.input_rows is None  # rows are counted only for the MPI policy
    assert pickle.loads(pickle.dumps(plan, 2)) == plan  # what a casampi server's worker receives
    with pytest.raises(AttributeError):
        plan.input_bytes = 0
    with pytest.raises(AttributeError):
        plan.extra = 1  # __slots__: no stage adds a field
    chain, = chain_plans([dict(_OPTIONS, vis=vis, outputvis=vis + ".split.cal")],
                         [{"vis": vis + ".split.cal", "outputvis": vis + ".split.cal.source", "intent": "*TARGET*",
                           "datacolumn": None, "flagversion": "f", "overwrite": False, "dryrun": False}])
    assert isinstance(chain, Chain) and chain.vis == vis and chain.input_bytes == 2000
    assert chain.tgt.input_bytes is None  # made in this call: the science split measures it
    assert pickle.loads(pickle.dumps(chain, 2)) == chain
    tgt, = target_plans([{"vis": vis + ".split.cal", "outputvis": vis + ".split.cal.source", "dryrun": True}])
    assert tgt.input == vis + ".split.cal" and tgt.input_bytes == 0 and tgt.spws is None


def _inputs(project):
    """Real paths of the inputs a call may read: the restored MSs and their .split.cal."""
    ebs = glob.glob(os.path.join(project, "*", "*", "*", "calibrated", "uid___*.ms"))
    return set(os.path.realpath(p) for p in ebs) | set(os.path.realpath(p + ".split.cal") for p in ebs)


def _check_counts(calls, project, nebs):
    """Per call: restored_ms at most once per EB, du_bytes at most once per input MS (and both did run)."""
    inputs = _inputs(project)
    assert sorted(calls) == ["split_sci", "split_sci_tgt", "split_tgt"], calls
    for call, counts in sorted(calls.items()):
        twice = dict((p, n) for p, n in counts["restored_ms"].items() if n > 1)
        assert not twice, (call, "restored_ms", twice)
        twice = dict((p, n) for p, n in counts["du_bytes"].items() if n > 1 and p in inputs)
        assert not twice, (call, "du_bytes", twice)
        measured = [p for p in counts["du_bytes"] if p in inputs]
        assert len(measured) >= nebs, (call, counts["du_bytes"])  # the counter saw each EB's input measured
    assert len(calls["split_sci"]["restored_ms"]) == nebs


def _three_calls(project, counts, parallel):
    from casa_plugin import split_sci, split_sci_tgt, split_tgt
    count_calls.mark(counts, "split_sci")
    assert split_sci(vis=project, parallel=parallel)["counts"] == {"split": 3}
    count_calls.mark(counts, "split_tgt")
    assert split_tgt(vis=project, parallel=parallel)["counts"] == {"split": 3}
    count_calls.mark(counts, "split_sci_tgt")
    chain = split_sci_tgt(vis=project, overwrite=True, parallel=parallel)
    assert chain["sci"]["counts"] == chain["tgt"]["counts"] == {"split": 3}


@pytest.mark.casa
def test_each_eb_is_resolved_and_measured_once_per_call_serially(restored, tmp_path):
    counts = str(tmp_path / "counts.tsv")
    undo = count_calls.install(counts)
    try:
        _three_calls(restored["project"], counts, False)
    finally:
        undo()
    _check_counts(count_calls.read(counts), restored["project"], 3)


_DRIVER = '''
import sys
sys.path.insert(0, %(repo)r)  # this checkout's casa_plugin, on the client and (through it) on the servers
sys.path.insert(1, %(tests)r)
import casatasks  # ranks >= 1 become casampi servers here and never come back
import json, os
import casa_plugin, count_calls
from test_plan import _three_calls
_three_calls(%(project)r, %(counts)r, True)
json.dump({"package": casa_plugin.__file__, "client": os.getpid()}, open("report.json", "w"))
'''


@pytest.mark.casa
@pytest.mark.mpi
@pytest.mark.subprocess
def test_each_eb_is_resolved_and_measured_once_per_call_under_mpirun(restored, tmp_path):
    """parallel=True under mpirun -n 3: the client plans, two servers' workers split; counted in all processes."""
    from casa_plugin.testing.compare import mpirun_command
    if not os.path.exists(mpirun_command(1)[0]):  # pragma: no cover - as tests/test_parallel.py
        if os.environ.get("CI"):
            raise RuntimeError("mpirun missing: pip install -e '.[all]'")
        pytest.skip("casampi/mpirun not installed (outside CI only)")
    counts = str(tmp_path / "counts.tsv")
    tests = os.path.dirname(os.path.abspath(__file__))
    (tmp_path / "driver.py").write_text(_DRIVER % {"repo": REPO, "tests": tests, "project": restored["project"],
                                                   "counts": counts})
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([count_calls.SITE, REPO]), COUNT_CALLS=counts)
    proc = subprocess.Popen(mpirun_command(3) + [sys.executable, str(tmp_path / "driver.py")], cwd=str(tmp_path),
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                            start_new_session=True)
    try:
        out = proc.communicate(timeout=600)[0]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("mpirun hung:\n%s" % proc.communicate()[0][-5000:])
    assert proc.returncode == 0, out[-5000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["package"] == os.path.join(REPO, "casa_plugin", "__init__.py")
    calls = count_calls.read(counts)
    _check_counts(calls, restored["project"], 3)
    assert "mpi: 3 EB(s) on 2 casampi server(s)" in out, out[-3000:]
    # the splits ran in the servers' workers, and were counted there
    assert calls["split_sci"]["pids"] - {report["client"]}, calls["split_sci"]["pids"]
