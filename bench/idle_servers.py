"""What idle casampi servers cost while the client splits serially: wake-ups and CPU per rank and thread, from /proc.

Runs ``split_sci_tgt`` over and over on a small synthetic delivery under
``mpirun -n N`` with ``parallel=None`` (the policy picks serial: a small
project) or ``parallel=False``, and during that serial work counts, for every
process that ``mpirun`` started (the ranks, their Xvfb, Open MPI's daemon) and
each of its threads, the context switches (voluntary + involuntary: one per
wake-up) and the CPU seconds (user + system) per wall second. casampi's
service threads are named on every rank by the driver before ``import
casatasks`` (``_thread.start_new_thread`` wrapped to call ``prctl``), so they
show as ``cmd_request``, ``ping_request``, ``monitor``...; a thread that
casampi did not start keeps the name Open MPI or Python gave it.

After the window the driver runs one ``parallel=True`` split (the servers
must still take EBs) and exits; the tool reports mpirun's exit status and the
seconds from the end of the serial work to mpirun's end. Counts, not wall
times: run it on a quiet machine, and repeat.

    .venv/bin/python bench/idle_servers.py                      # -n 3 and -n 2, parallel=None, 10 s window
    .venv/bin/python bench/idle_servers.py -n 3 --parallel False --seconds 20 --repeat 3
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
HZ = os.sysconf("SC_CLK_TCK")

# Run on every rank: names casampi's threads, then (client only) splits serially until told to stop.
_DRIVER = r'''
import ctypes, os, sys, time, _thread
sys.path.insert(0, %(repo)r)
_LABELS = {"__command_request_handler_service": "cmd_request", "__ping_status_request_handler_service": "ping_request",
           "__monitor_status_service": "monitor", "__ping_status_response_handler_service": "ping_response",
           "__command_request_queue_service": "request_queue", "__command_response_handler_service": "cmd_response"}
_libc = ctypes.CDLL(None)
def _named(func, label):
    def run(*args, **kwargs):
        _libc.prctl(15, label.encode()[:15])  # PR_SET_NAME: this thread's comm in /proc
        return func(*args, **kwargs)
    return run
_start = _thread.start_new_thread
def _start_named(func, args, kwargs={}):
    name = getattr(func, "__name__", "")
    return _start(_named(func, _LABELS.get(name, name.strip("_")[:15] or "thread")), args, kwargs)
_thread.start_new_thread = _start_named
import casatasks  # ranks >= 1 become casampi servers here and never come back
import json
from casa_plugin import split_sci_tgt
PROJECT, PARALLEL, STATE = %(project)r, %(parallel)r, %(state)r
def mark(name, **info):
    with open(os.path.join(STATE, name + ".tmp"), "w") as f:
        json.dump(info, f)
    os.rename(os.path.join(STATE, name + ".tmp"), os.path.join(STATE, name))
mark("client", pid=os.getpid())
rounds = 0
while not os.path.exists(os.path.join(STATE, "stop")):
    result = split_sci_tgt(vis=PROJECT, overwrite=True, parallel=PARALLEL)
    rounds += 1
    if rounds == 1:
        mark("serial", mode=result["parallel"]["mode"], reason=result["parallel"]["reason"])
mark("serial_done", rounds=rounds, time=time.time())
after = split_sci_tgt(vis=PROJECT, overwrite=True, parallel=True)
mark("parallel", servers=sorted(set(eb["mpi"]["server"] for eb in after["sci"]["ebs"].values())),
     status=sorted(set(eb["status"] for eb in after["sci"]["ebs"].values())), time=time.time())
'''


def _stat(path):
    """(name from comm, CPU ticks, context switches) of one process or thread, or None if it is gone."""
    try:
        with open(path + "/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open(path + "/status") as f:
            status = dict(line.split(":", 1) for line in f if ":" in line)
        with open(path + "/comm") as f:
            comm = f.read().strip()
    except OSError:
        return None
    switches = int(status["voluntary_ctxt_switches"]) + int(status["nonvoluntary_ctxt_switches"])
    return comm, int(fields[11]) + int(fields[12]), switches


def descendants(root):
    """Pids of ``root``'s descendants (not ``root``)."""
    children = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/%s/stat" % name) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(name))
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return sorted(found)


def label(pid, driver):
    """'rank N' for an MPI rank (a process running ``driver``), else the process's command name (mpirun, Xvfb...)."""
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            env = dict(item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv = f.read().split(b"\0")
        with open("/proc/%d/comm" % pid) as f:
            comm = f.read().strip()
    except OSError:
        return "?"
    if b"OMPI_COMM_WORLD_RANK" in env and driver.encode() in argv:
        return "rank %s" % env[b"OMPI_COMM_WORLD_RANK"].decode()
    return comm


def snapshot(pids, driver):
    """{pid: (label, {tid: (thread name, CPU ticks, switches)})} for ``pids`` and every thread of each."""
    snap = {}
    for pid in pids:
        threads = {}
        try:
            tids = os.listdir("/proc/%d/task" % pid)
        except OSError:
            continue
        for tid in tids:
            got = _stat("/proc/%d/task/%s" % (pid, tid))
            if got:
                threads[int(tid)] = ("main",) + got[1:] if int(tid) == pid else got
        snap[pid] = (label(pid, driver), threads)
    return snap


def rates(before, after, seconds):
    """Per process and per thread present in both snapshots: wake-ups per s and CPU s per s."""
    out = []
    for pid, (name, threads) in sorted(after.items()):
        if pid not in before:
            continue
        rows = []
        for tid, (comm, cpu, switches) in sorted(threads.items()):
            old = before[pid][1].get(tid)
            if old is None:
                continue
            rows.append({"tid": tid, "thread": comm, "wakeups_s": (switches - old[2]) / seconds,
                         "cpu_s": (cpu - old[1]) / HZ / seconds})
        out.append({"pid": pid, "process": name, "wakeups_s": sum(r["wakeups_s"] for r in rows),
                    "cpu_s": sum(r["cpu_s"] for r in rows), "threads": rows})
    return out


def _wait_for(path, proc, seconds):
    deadline = time.time() + seconds
    while not os.path.exists(path):
        if proc.poll() is not None or time.time() > deadline:
            return False
        time.sleep(0.1)
    return True


def _read(path):
    with open(path) as f:
        return json.load(f)


def restored_project(workdir):
    """A small synthetic delivery restored with the pipeline stand-in, built once under ``workdir``."""
    done = os.path.join(workdir, "restored.json")
    if os.path.exists(done):
        return _read(done)["project"]
    sys.path.insert(0, REPO)
    from casa_plugin.testing.pipeline_standin import restore_with_standin
    from casa_plugin.testing.synthetic_delivery import make_delivery
    root = os.path.join(workdir, "delivery")
    shutil.rmtree(root, ignore_errors=True)
    info = make_delivery(root, small=True)
    restore_with_standin(info["project"])
    with open(done, "w") as f:
        json.dump({"project": info["project"]}, f)
    return info["project"]


def measure(project, nproc, parallel, seconds, settle, workdir):
    """One mpirun: the rates during ``seconds`` of serial work, the following parallel call, mpirun's end."""
    state = tempfile.mkdtemp(prefix="state-", dir=workdir)
    driver = os.path.join(state, "driver.py")
    with open(driver, "w") as f:
        f.write(_DRIVER % {"repo": REPO, "project": project, "parallel": parallel, "state": state})
    sys.path.insert(0, REPO)
    from casa_plugin.testing.compare import mpirun_command
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # the driver puts this checkout first on every rank
    log = open(os.path.join(state, "mpirun.log"), "w")
    proc = subprocess.Popen(mpirun_command(nproc) + [sys.executable, driver], cwd=state, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    report = {"nproc": nproc, "parallel": parallel, "seconds": seconds, "log": log.name}
    try:
        if not _wait_for(os.path.join(state, "serial"), proc, 600):
            raise RuntimeError("the driver never finished its first serial split; see %s" % log.name)
        report["serial"] = _read(os.path.join(state, "serial"))
        time.sleep(settle)
        pids = [proc.pid] + descendants(proc.pid)  # mpirun itself, the ranks, their Xvfb
        before, start = snapshot(pids, driver), time.time()
        time.sleep(seconds)
        after, elapsed = snapshot(pids, driver), time.time() - start
        report["processes"] = rates(before, after, elapsed)
        open(os.path.join(state, "stop"), "w").close()
        if not _wait_for(os.path.join(state, "parallel"), proc, 600):
            raise RuntimeError("the parallel call after the serial work did not finish; see %s" % log.name)
        report["after"] = _read(os.path.join(state, "parallel"))
        report["exit_status"] = proc.wait(timeout=300)
        report["exit_seconds"] = time.time() - report["after"]["time"]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
    return report


def _servers(report):
    return [p for p in report["processes"] if p["process"].startswith("rank ") and p["process"] != "rank 0"]


def show(report, threads=True):
    """Print one run: the servers' total, then each process and (``threads``) each thread."""
    servers = _servers(report)
    print("mpirun -n %d, parallel=%r (%s), %.0f s of serial work: servers in all %.2f wake-ups/s, %.4f CPU s/s; "
          "then parallel=True on servers %s (%s), mpirun exit %s, %.1f s after it"
          % (report["nproc"], report["parallel"], report["serial"]["mode"], report["seconds"],
             sum(p["wakeups_s"] for p in servers), sum(p["cpu_s"] for p in servers), report["after"]["servers"],
             ",".join(report["after"]["status"]), report["exit_status"], report["exit_seconds"]))
    for proc in report["processes"]:
        print("  %-10s pid %-7d %7.2f wake-ups/s %7.4f CPU s/s" % (proc["process"], proc["pid"], proc["wakeups_s"],
                                                                   proc["cpu_s"]))
        if threads:
            for row in proc["threads"]:
                if row["wakeups_s"] or row["cpu_s"]:
                    print("      %-15s %-7d %7.2f wake-ups/s %7.4f CPU s/s" % (row["thread"], row["tid"],
                                                                              row["wakeups_s"], row["cpu_s"]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, action="append", help="ranks (default: 3 and 2)")
    parser.add_argument("--parallel", choices=("None", "False"), default="None")
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring window (default 10)")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds after the first serial split")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "casa_plugin_idle_servers"))
    parser.add_argument("--json", help="write every run's figures here")
    parser.add_argument("--no-threads", action="store_true", help="per process only")
    args = parser.parse_args(argv)
    os.makedirs(args.workdir, exist_ok=True)
    project = restored_project(args.workdir)
    reports = []
    for _ in range(args.repeat):
        for nproc in args.n or [3, 2]:
            report = measure(project, nproc, None if args.parallel == "None" else False, args.seconds, args.settle,
                             args.workdir)
            show(report, not args.no_threads)
            reports.append(report)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(reports, f, indent=1)
    return 0 if all(r["exit_status"] == 0 for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
