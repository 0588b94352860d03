"""The project's job record: many writers at once lose no update; a lock left by a dead writer is broken."""

import multiprocessing
import os
import time

import pytest

from casa_plugin.cluster import jobs_record


def _append(project, who, n):
    for i in range(n):
        jobs_record.update(project, lambda r: r["members"].setdefault(who, {"jobs": []})["jobs"].append(i))


def test_writers_at_once_lose_no_update(tmp_path):
    project = str(tmp_path)
    procs = [multiprocessing.Process(target=_append, args=(project, "m%d" % k, 25)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * 4
    record = jobs_record.load(project)
    assert dict((k, v["jobs"]) for k, v in record["members"].items()) == dict(("m%d" % k, list(range(25)))
                                                                              for k in range(4))
    assert sorted(os.listdir(jobs_record.jobs_dir(project))) == [jobs_record.RECORD_NAME]  # no lock, no temporary


def test_a_dead_writers_lock_is_broken_a_live_one_waited_for(tmp_path, monkeypatch):
    project = str(tmp_path)
    lock = jobs_record.record_path(project) + ".lock"
    os.makedirs(os.path.dirname(lock))
    with open(lock, "w") as f:
        f.write("node7 4242\n")
    monkeypatch.setattr(jobs_record, "_WAIT", 0.3)
    with pytest.raises(TimeoutError, match=r"casa_plugin_jobs\.json\.lock: held by node7 4242 for more than"):
        jobs_record.update(project, lambda r: None)
    old = time.time() - jobs_record.STALE_SECONDS - 1
    os.utime(lock, (old, old))
    jobs_record.update(project, lambda r: r.update(scheduler="slurm"))
    assert jobs_record.load(project)["scheduler"] == "slurm" and not os.path.exists(lock)
