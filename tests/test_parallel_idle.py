"""Idle casampi servers wait instead of polling while the client splits serially; they still take a parallel run."""

import json
import os
import sys

import pytest

from prompt_helpers import REPO
from test_parallel import _mpirun, pytestmark  # noqa: F401  (the mpi, casa and subprocess marks; skip without MPI)

#: Context switches per second of both servers together while the client splits serially. Waiting, they
#: switch ~2-4 times a second (casatools' gRPC timer wakes every CASA process once a second, casampi's
#: threads ~0.1); polling, as casampi does by itself, 20-30 times a second each.
_BOUND = 10.0

_DRIVER = '''
import sys
sys.path.insert(0, %(repo)r)
import casatasks  # ranks >= 1 become casampi servers here and never come back
import json, os, time
from casa_plugin import split_sci

def servers():
    """The casampi servers: the other ranks mpirun started beside this one."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            parent = int(open("/proc/%%s/stat" %% pid).read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent == os.getppid() and int(pid) != os.getpid():
            found.append(int(pid))
    return found

def switches(pids):
    total = 0
    for pid in pids:
        for tid in os.listdir("/proc/%%d/task" %% pid):
            status = dict(l.split(":", 1) for l in open("/proc/%%d/task/%%s/status" %% (pid, tid)) if ":" in l)
            total += int(status["voluntary_ctxt_switches"]) + int(status["nonvoluntary_ctxt_switches"])
    return total

first = split_sci(vis=%(project)r)  # parallel=None: a small project, split here
from casa_plugin.parallel import client
client.settled()  # the servers were told to idle beside the first EB (quiet_servers_soon): counted from then on,
time.sleep(2)     # once they have read it
pids = servers()
before, start, rounds = switches(pids), time.time(), 0
while time.time() - start < 6:
    split_sci(vis=%(project)r, overwrite=True)
    rounds += 1
rate = (switches(pids) - before) / (time.time() - start)
after = split_sci(vis=%(project)r, overwrite=True, parallel=True)
json.dump({"mode": first["parallel"]["mode"], "servers": len(pids), "rate": rate, "rounds": rounds,
           "after": [(eb["status"], eb.get("mpi", {}).get("server")) for eb in after["ebs"].values()]},
          open("report.json", "w"))
'''


def test_idle_servers_wait_while_the_client_splits_and_still_take_ebs(restored, tmp_path):
    """Under mpirun -n 3: serial splits in the client leave both servers nearly still (counted from /proc, not
    timed); a parallel split after them runs on the servers; mpirun exits 0."""
    (tmp_path / "driver.py").write_text(_DRIVER % {"repo": REPO, "project": restored["project"]})
    code, out = _mpirun([sys.executable, tmp_path / "driver.py"], tmp_path)
    assert code == 0, out[-5000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["mode"] == "serial" and report["servers"] == 2 and report["rounds"] >= 1, report
    assert report["rate"] < _BOUND, report
    assert [status for status, _ in report["after"]] == ["split"] * 3
    assert {server for _, server in report["after"]} <= {1, 2} and None not in {s for _, s in report["after"]}


_RACE = '''
import sys
sys.path.insert(0, %(repo)r)
import casatasks  # ranks >= 1 become casampi servers here and never come back
import json, threading, time
from casampi.MPICommandClient import MPICommandClient
from casa_plugin.parallel import client
quiet = client.quiet_servers_soon()  # what a serial run does: casampi's services start in a thread
result = {}
def as_casa_does():  # CASA's ParallelTaskHelper (a Multi-MS split, tclean(parallel=True)) at the same time
    start = time.time()
    MPICommandClient().start_services()
    result["took"] = time.time() - start
caller = threading.Thread(target=as_casa_does, daemon=True)
caller.start()
caller.join(60)
client.settled()
json.dump({"quiet": quiet is not None, "returned": not caller.is_alive(), "took": result.get("took"),
           "state": MPICommandClient().get_lifecyle_state()}, open("report.json", "w"))
'''


def test_casas_own_start_of_casampi_waits_for_the_quieting_thread(tmp_path):
    """Under mpirun -n 3: casampi's services starting in our thread while CASA starts them too (a second start
    signal the servers never answer, without the lock) -> the second start returns, and mpirun exits 0."""
    (tmp_path / "driver.py").write_text(_RACE % {"repo": REPO})
    code, out = _mpirun([sys.executable, tmp_path / "driver.py"], tmp_path)
    assert code == 0, out[-5000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["quiet"] and report["returned"] and report["state"] == 1, report
