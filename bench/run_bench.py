"""Benchmark of issue 5: manual loop vs split_sci_tgt serially and on casampi servers, same preconditions."""

import argparse
import glob
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time

from casa_plugin.staging import remove_tree as remove
from casa_plugin.testing.compare import mpirun_command  # the package's own: links removed, never followed

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
CHILD = os.path.join(BENCH, "child.py")
PY = sys.executable
PROJECT_CODE = "2021.1.00690.S"
MARK = "BENCH_RESULT "
AVERAGING = ["--width", "8", "--timebin", "12s"]
CHUNK = 16 * 1024 * 1024
TIMEOUT = 3600

# (key, label, kind, MPI servers or None, child arguments after the project)
MEASUREMENTS = [
    ("a", "(a) manual loop", "manual", None, []),
    ("b", "(b) plugin serial", "plugin", None, []),
    ("c1", "(c) plugin MPI, 1 server", "plugin", 1, ["--parallel"]),
    ("c2", "(c) plugin MPI, 2 servers", "plugin", 2, ["--parallel"]),
    ("db", "(d) serial, width=8 timebin=12s", "plugin", None, AVERAGING),
    ("dc1", "(d) MPI 1 server, width=8 timebin=12s", "plugin", 1, ["--parallel"] + AVERAGING),
    ("dc2", "(d) MPI 2 servers, width=8 timebin=12s", "plugin", 2, ["--parallel"] + AVERAGING),
    ("dc2m", "(d) MPI 2 servers, averaging, maxjobs=2", "plugin", 2, ["--parallel", "--maxjobs", "2"] + AVERAGING),
    ("cp", "(e) cp -r of the inputs", "cp", None, []),
    ("cold", "(e) cold read of the inputs", "cold", None, []),
]
REFERENCE_OF = {"a": "manual", "b": "manual", "c1": "manual", "c2": "manual",
                "db": "averaged", "dc1": "averaged", "dc2": "averaged", "dc2m": "averaged"}
TARGETS = [("b / a", "b", "a", "<=", 1.05), ("c(1 server) / b", "c1", "b", "<=", 1.05),
           ("c(2 servers) / b", "c2", "b", "<=", 1.05), ("averaging: b / c(2 servers)", "db", "dc2", ">=", 1.5),
           ("(no target) averaging: b / c(2 servers, maxjobs=2)", "db", "dc2m", None, None),
           ("(no target) c(1 server) less its MPI set-up / b", "c1-setup", "b", None, None),
           ("(no target) c(2 servers) less its MPI set-up / b", "c2-setup", "b", None, None),
           ("(no target) averaging: b / c(2 servers) less its MPI set-up", "db", "dc2-setup", None, None)]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", help="dataset and scratch space (default work/bench, --quick: work/bench-quick)")
    parser.add_argument("--eb-bytes", type=float, help="size of each EB when building (default 0.7e9; quick 30e6)")
    parser.add_argument("--reuse", action="store_true", help="use the dataset already built in --data-dir")
    parser.add_argument("--runs", type=int, help="runs per measurement, the median is reported (default 4: even, see main())")
    parser.add_argument("--quick", action="store_true", help="small EBs and 1 run: checks the script itself")
    parser.add_argument("--only", help="comma-separated measurement keys (%s)" % ",".join(m[0] for m in MEASUREMENTS))
    parser.add_argument("--quiet-wait", type=float, default=600,
                        help="before each measurement wait up to this many s for other processes to go idle")
    parser.add_argument("--max-other", type=float, default=0.05,
                        help="a run during which other processes used more CPU s than this x its seconds is redone")
    parser.add_argument("--retries", type=int, default=2, help="redos of a noisy run (default 2)")
    parser.add_argument("--results", help="write the table there (default bench/RESULTS.md; not with --quick)")
    args = parser.parse_args()
    args.runs = args.runs or (1 if args.quick else 4)
    args.data_dir = os.path.abspath(args.data_dir or os.path.join(REPO, "work", "bench-quick" if args.quick else "bench"))
    if args.results is None and not args.quick:
        args.results = os.path.join(BENCH, "RESULTS.md")
    keys = [m[0] for m in MEASUREMENTS]
    args.only = args.only.split(",") if args.only else keys
    unknown = [k for k in args.only if k not in keys]
    if unknown:
        parser.error("--only: unknown measurement(s) %s" % ",".join(unknown))
    return args


# --- the dataset ---

class Dataset(object):
    """The built delivery, its inputs (never modified) and the places outputs go to."""

    def __init__(self, root):
        self.root = root
        self.project = os.path.join(root, "delivery", PROJECT_CODE)
        self.info_path = os.path.join(root, "dataset.json")
        self.scratch = os.path.join(root, "scratch")
        self.reference = os.path.join(root, "reference")
        self.logs = os.path.join(root, "logs")
        self.pristine = os.path.join(root, "pristine_records")

    def exists(self):
        return os.path.isfile(self.info_path) and os.path.isdir(self.project)

    def calibrated(self):
        return sorted(glob.glob(os.path.join(self.project, "*", "*", "*", "calibrated")))

    def eb_links(self):
        return [p for c in self.calibrated() for p in sorted(glob.glob(os.path.join(c, "uid___*.ms")))]

    def inputs(self):
        """The restored EB MSs and their flag versions (link targets): what every measurement reads."""
        found = []
        for link in self.eb_links():
            for path in (link, link + ".flagversions"):
                if os.path.exists(path):
                    found.append(os.path.realpath(path))
        return found

    def input_files(self):
        return [os.path.join(d, f) for top in self.inputs() for d, _, files in os.walk(top) for f in sorted(files)]

    def eb_sizes(self):
        return dict((os.path.basename(p), tree_bytes(os.path.realpath(p))) for p in self.eb_links())


def tree_bytes(path):
    return sum(os.lstat(os.path.join(d, f)).st_size for d, _, files in os.walk(path) for f in files)


def build(data, eb_bytes):
    """Build and restore the 2 + 6 EB delivery (about 40 s per 0.7 GB EB)."""
    delivery = os.path.join(data.root, "delivery")
    if os.path.exists(delivery):
        shutil.rmtree(delivery)  # a half-built delivery of an interrupted build (no dataset.json)
    os.makedirs(delivery)
    print("building 8 EBs of %.2f GB in %s ..." % (eb_bytes / 1e9, delivery), flush=True)
    result = run_child([PY, CHILD, "build", delivery, "--eb-bytes", repr(eb_bytes)], data, "build")
    os.makedirs(data.pristine, exist_ok=True)
    for i, calibrated in enumerate(data.calibrated()):
        shutil.copy2(os.path.join(calibrated, "casa_plugin_record.json"), os.path.join(data.pristine, "%d.json" % i))
    info = {"eb_bytes": eb_bytes, "built": time.strftime("%Y-%m-%d %H:%M:%S"), "build_seconds": result["seconds"]}
    with open(data.info_path, "w") as f:
        json.dump(info, f, indent=1)
    print("built in %.0f s" % result["seconds"], flush=True)
    return info


def dataset(args):
    data = Dataset(args.data_dir)
    if data.exists():
        with open(data.info_path) as f:
            info = json.load(f)
        if not args.reuse:
            sys.exit("%s already holds a dataset (EBs of %.2f GB): pass --reuse (make bench BENCH_ARGS=--reuse) "
                     "or remove it" % (args.data_dir, info["eb_bytes"] / 1e9))
        if args.eb_bytes and abs(args.eb_bytes - info["eb_bytes"]) > 1:
            sys.exit("%s holds EBs of %.3g bytes, not --eb-bytes %.3g" % (args.data_dir, info["eb_bytes"],
                                                                          args.eb_bytes))
        print("reusing the dataset in %s (built %s)" % (args.data_dir, info["built"]), flush=True)
    else:
        os.makedirs(data.root, exist_ok=True)
        info = build(data, args.eb_bytes or (30e6 if args.quick else 0.7e9))
    return data, info


# --- other processes: the machine may be shared; their CPU during a measurement is reported ---

HZ = os.sysconf("SC_CLK_TCK")


def processes():
    """Return {pid: (ppid, start ticks, cpu ticks)} of every user-space process."""
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        ppid, cpu, start = int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[19])
        if ppid != 2 and int(name) != 2:  # not a kernel thread
            found[int(name)] = (ppid, start, cpu)
    return found


def others(procs, me):
    """Drop this process and its descendants (the measured processes) from ``procs``."""
    children = {}
    for pid, (ppid, _, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    mine, todo = set(), [me]
    while todo:
        pid = todo.pop()
        mine.add(pid)
        todo.extend(children.get(pid, []))
    return dict((pid, v) for pid, v in procs.items() if pid not in mine)


def steal_ticks():
    """CPU time the hypervisor gave to other guests (all vCPUs), from /proc/stat."""
    with open("/proc/stat") as f:
        return int(f.readline().split()[8])


class Load(threading.Thread):
    """While a measurement runs (sampled every 0.25 s): CPU seconds of other processes, of the measured ones, stolen."""

    def __init__(self):
        super(Load, self).__init__(daemon=True)
        self.seen = dict((pid, (start, cpu)) for pid, (_, start, cpu) in others(processes(), os.getpid()).items())
        self.boot, self.steal = self.ticks_now(), steal_ticks()
        self.ticks, self.done, self.mine = 0, threading.Event(), {}

    @staticmethod
    def ticks_now():
        with open("/proc/uptime") as f:
            return float(f.read().split()[0]) * HZ

    def sample(self):
        procs = processes()
        rest = others(procs, os.getpid())
        for pid in procs:
            if pid not in rest and pid != os.getpid():
                self.mine[(pid, procs[pid][1])] = procs[pid][2]
        for pid, (_, start, cpu) in rest.items():
            if (pid, start) in self.mine:  # one of ours, orphaned while it exits
                continue
            old = self.seen.get(pid)
            if old and old[0] == start:
                self.ticks += cpu - old[1]
            elif start >= self.boot:  # started during the measurement
                self.ticks += cpu
            self.seen[pid] = (start, cpu)

    def run(self):
        while not self.done.wait(0.25):
            self.sample()

    def stop(self):
        """Return ``{'other_cpu', 'own_cpu', 'steal'}`` in CPU seconds."""
        self.done.set()
        self.join()
        self.sample()
        return {"other_cpu": self.ticks / float(HZ), "own_cpu": sum(self.mine.values()) / float(HZ),
                "steal": (steal_ticks() - self.steal) / float(HZ)}


def wait_for_quiet(limit, threshold=0.05):
    """Wait (up to ``limit`` s) until other processes use < ``threshold`` of a CPU over 2 s; return the wait."""
    start = time.time()
    while True:
        probe = Load()
        probe.start()
        time.sleep(2)
        busy = probe.stop()["other_cpu"] / 2.0
        if busy < threshold or time.time() - start > limit:
            return time.time() - start
        if time.time() - start < 2.5:
            print("  waiting for other processes to finish (%.0f %% of a CPU) ..." % (100 * busy), flush=True)


# --- the same preconditions before every measurement ---

def is_output(name):
    """Names the splits write in calibrated/: outputs, their flag versions, partials, record temporaries."""
    return ".ms.split.cal" in name or name.endswith((".partial", ".partial.flagversions", ".tmp")) \
        or ".partial.replaced" in name


def clean_outputs(data):
    """Remove every output of the previous measurement (never an input) and put back the restore's record."""
    for i, calibrated in enumerate(data.calibrated()):
        for name in os.listdir(calibrated):
            if is_output(name):
                remove(os.path.join(calibrated, name))
        shutil.copy2(os.path.join(data.pristine, "%d.json" % i), os.path.join(calibrated, "casa_plugin_record.json"))
    remove(data.scratch)
    os.makedirs(data.scratch)


def drop_caches():
    """Empty the page cache (root only); returns whether it was done."""
    os.sync()
    if os.geteuid() != 0:
        return False
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")
    return True


def read_all(paths):
    """Read every file once; return the bytes read."""
    buf, total = bytearray(CHUNK), 0
    for path in paths:
        with open(path, "rb", buffering=0) as f:
            while True:
                n = f.readinto(buf)
                if not n:
                    break
                total += n
    return total


def prepare(data, warm=True, quiet_wait=0):
    """Outputs removed, sync, page cache dropped, inputs read once (if ``warm``), other processes quiet."""
    clean_outputs(data)
    if quiet_wait:
        wait_for_quiet(quiet_wait)
    dropped = drop_caches()
    if warm:
        read_all(data.input_files())
    if quiet_wait:
        wait_for_quiet(quiet_wait)
    return dropped


# --- running one measurement ---

def mpirun(servers):
    return mpirun_command(servers + 1, PY)


def run_child(cmd, data, name):
    """Run one measured process; return its BENCH_RESULT payload plus its wall time; keep its output."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    os.makedirs(data.logs, exist_ok=True)
    start = time.time()
    proc = subprocess.run(cmd, cwd=data.scratch if os.path.isdir(data.scratch) else data.root, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=TIMEOUT)
    wall = time.time() - start
    with open(os.path.join(data.logs, name + ".log"), "w") as f:
        f.write(" ".join(cmd) + "\n" + proc.stdout)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(MARK)]
    if proc.returncode != 0 or not lines:
        sys.exit("%s failed (exit %d); see %s:\n%s" % (name, proc.returncode, os.path.join(data.logs, name + ".log"),
                                                        proc.stdout[-3000:]))
    result = json.loads(lines[-1][len(MARK):])
    result["wall"] = wall
    return result


def measure(data, key, kind, servers, extra, run, quiet_wait):
    """Run one measurement after the common preconditions; return its result dict (``seconds`` = timed work).

    ``other_cpu``: CPU seconds other processes of the machine used meanwhile (it may be shared); ``own_cpu``: those
    of the measured processes (start-up and exit included); ``steal``: CPU seconds the hypervisor took away.
    """
    dropped = prepare(data, warm=(kind != "cold"), quiet_wait=quiet_wait)
    load = Load()
    load.start()
    try:
        result = _measure(data, key, kind, servers, extra, run)
    finally:
        result_load = load.stop()
    result.update(result_load, dropped=dropped)
    return result


def _measure(data, key, kind, servers, extra, run):
    if kind == "cold":
        start = time.time()
        nbytes = read_all(data.input_files())
        return {"seconds": time.time() - start, "bytes": nbytes}
    if kind == "cp":
        copy = os.path.join(data.scratch, "copy")
        os.makedirs(copy)
        start = time.time()
        subprocess.run(["cp", "-r"] + data.inputs() + [copy], check=True)
        return {"seconds": time.time() - start}
    cmd = (mpirun(servers) if servers else []) + [PY, CHILD, kind, data.project] + extra
    result = run_child(cmd, data, "%s-%d" % (key, run))
    result["exit"] = result["wall"] - result["seconds"] - result["startup"]
    return result


def outputs(data):
    return [os.path.join(c, n) for c in data.calibrated() for n in sorted(os.listdir(c)) if ".ms.split.cal" in n]


def keep_as_reference(data, name):
    """Move the outputs of this measurement aside (same file system) as the reference ``name``."""
    dest_root = os.path.join(data.reference, name)
    remove(dest_root)
    for path in outputs(data):
        dest = os.path.join(dest_root, os.path.relpath(path, data.project))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        os.rename(path, dest)


def check_outputs(data, key, run):
    """Compare this measurement's outputs with its reference; return the number of MSs compared."""
    ref = os.path.join(data.reference, REFERENCE_OF[key])
    if not os.path.isdir(ref):
        keep_as_reference(data, REFERENCE_OF[key])
        return 0
    result = run_child([PY, CHILD, "compare", ref, data.project], data, "compare-%s-%d" % (key, run))
    expected = 2 * len(data.eb_links())
    if result["problems"] or result["compared"] != expected:
        sys.exit("outputs of %s (run %d) differ from the reference %s (%d of %d compared):\n%s" % (
            key, run, REFERENCE_OF[key], result["compared"], expected, "\n".join(result["problems"])))
    return result["compared"]


# --- the report ---

def median(values):
    return statistics.median(values) if values else float("nan")


def machine():
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2.0 ** 30
    return "%s: %d vCPU (%s), %.0f GiB RAM, %s %s" % (socket.gethostname(), os.cpu_count(), cpu, mem,
                                                      platform.system(), platform.release())


def concurrency_text(result):
    levels = result.get("concurrency") or []
    return "" if not any(levels) else ",".join(str(x) for x in levels)


def table(results, keys):
    lines = ["| measurement | median s | runs (s) | of which MPI set-up s | start-up s | of which casampi start s "
             "| exit s | own CPU s | others' CPU s | stolen CPU s | EBs at once (per EB, each run) |",
             "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for key, label, _, _, _ in MEASUREMENTS:
        if key not in keys or not results.get(key):
            continue
        runs = results[key]
        secs = [r["seconds"] for r in runs]
        extra = [median([r[k] for r in runs if r.get(k) is not None])
                 for k in ("mpi_setup", "startup", "casampi_start", "exit", "own_cpu", "other_cpu", "steal")]
        conc = " / ".join(concurrency_text(r) for r in runs if concurrency_text(r))
        lines.append("| %s | %.2f | %s | %s | %s |" % (
            label, median(secs), ", ".join("%.2f%s" % (r["seconds"], "*" if r.get("noisy") else "") for r in runs),
            " | ".join("" if x != x else "%.1f" % x for x in extra), conc))
    return lines


def figure(results, key):
    """The median seconds of a measurement; ``<key>-setup``: less the MPI set-up (the servers' workers starting)."""
    key, _, less = key.partition("-")
    return median([r["seconds"] - (r.get("mpi_setup") or 0 if less else 0) for r in results[key]])


def paired(results, num, den):
    """The ratio within each round (the two measurements of run i ran minutes apart): drift shows here."""
    def seconds(key, run):
        key, _, less = key.partition("-")
        return run["seconds"] - (run.get("mpi_setup") or 0 if less else 0)
    nums, dens = results[num.partition("-")[0]], results[den.partition("-")[0]]
    return [seconds(num, a) / seconds(den, b) for a, b in zip(nums, dens)]


def ratios(results):
    """The ratios of the medians, judged against the targets; then the same ratio within each round."""
    lines = []
    for name, num, den, op, target in TARGETS:
        if results.get(num.split("-")[0]) and results.get(den.split("-")[0]):
            value = figure(results, num) / figure(results, den)
            rounds = "  rounds: %s" % ", ".join("%.3f" % r for r in paired(results, num, den))
            if op is None:
                lines.append("%-62s %.3f%s" % (name, value, rounds))
                continue
            ok = value <= target if op == "<=" else value >= target
            lines.append("%-62s %.3f  (target %s %.2f)  %s%s" % (name, value, op, target, "OK" if ok else "MISSED",
                                                                 rounds))
    return lines


def write_results(path, args, info, data, results, keys, wall, dropped):
    sizes = data.eb_sizes()
    text = ["# Benchmark results (issue 5)", "",
            "- date: %s" % time.strftime("%Y-%m-%d %H:%M %Z"),
            "- machine: %s" % machine(),
            "- data: %d EBs (2 + 6), %.2f GB in all; per EB %s GB (target --eb-bytes %.2g)" % (
                len(sizes), sum(sizes.values()) / 1e9,
                ", ".join("%.2f" % (s / 1e9) for s in sorted(sizes.values())), info["eb_bytes"]),
            "- each figure: median of %d run(s) of the work inside the process (start-up and exit apart); before "
            "each: outputs removed, sync, page cache %s, inputs read once" % (
                args.runs, "dropped" if dropped else "NOT dropped (not root)"),
            "- outputs of (a), (b), (c) identical (DATA, FLAG, WEIGHT, SIGMA, UVW, TIME, FIELD_ID, DATA_DESC_ID, "
            "CHAN_FREQ of every .split.cal and .split.cal.source); (d) serial and MPI identical",
            "- command: `%s`; whole benchmark %.0f s" % (" ".join(["bench/run_bench.py"] + sys.argv[1:]), wall), ""]
    text += table(results, keys) + ["", "```"] + ratios(results) + ["```", ""]
    with open(path, "w") as f:
        f.write("\n".join(text))


def run_line(run, label, result, checked):
    return "run %d %-42s %7.2f s%s%s%s  own %.1f, others %.1f, stolen %.1f CPU s%s%s" % (
        run + 1, label, result["seconds"],
        "  start-up %.1f s, exit %.1f s" % (result["startup"], result["exit"]) if "startup" in result else "",
        "  MPI set-up %.1f s" % result["mpi_setup"] if result.get("mpi_setup") is not None else "",
        "  EBs at once %s" % concurrency_text(result) if concurrency_text(result) else "",
        result["own_cpu"], result["other_cpu"], result["steal"], " (NOISY)" if result["noisy"] else "",
        "" if checked is None else ("  (reference kept)" if checked == 0 else "  (%d MSs identical)" % checked))


def main():
    args = parse_args()
    start = time.time()
    data, info = dataset(args)
    sizes = data.eb_sizes()
    print("%d EBs, %.2f GB (%s GB each)" % (len(sizes), sum(sizes.values()) / 1e9,
                                           ", ".join("%.2f" % (s / 1e9) for s in sorted(sizes.values()))), flush=True)
    remove(data.reference)
    results, dropped = dict((k, []) for k in args.only), True
    for run in range(args.runs):
        # the VM slows down under sustained load, so a fixed order would favour the first measurements of a
        # round: every other round runs in reverse order (with an even --runs each one is first as often as last)
        for key, label, kind, servers, extra in MEASUREMENTS if run % 2 == 0 else MEASUREMENTS[::-1]:
            if key not in args.only:
                continue
            for attempt in range(args.retries + 1):
                result = measure(data, key, kind, servers, extra, run, args.quiet_wait)
                checked = check_outputs(data, key, run) if key in REFERENCE_OF else None
                result["noisy"] = result["other_cpu"] > args.max_other * result["seconds"] + 0.1
                print(run_line(run, label, result, checked), flush=True)
                if not result["noisy"]:
                    break
            dropped = dropped and result["dropped"]
            results[key].append(result)
    clean_outputs(data)
    wall = time.time() - start
    print("\n" + "\n".join(table(results, args.only)) + "\n")
    print("\n".join(ratios(results)))
    print("\nwhole benchmark: %.0f s%s" % (wall, "" if dropped else " (page cache NOT dropped: not root)"))
    if args.results:
        write_results(args.results, args, info, data, results, args.only, wall, dropped)
        with open(os.path.splitext(args.results)[0] + ".json", "w") as f:  # every run's figures, to look again
            json.dump({"machine": machine(), "results": results}, f, indent=1, default=str)
        print("written to %s (every run: %s.json)" % (args.results, os.path.splitext(args.results)[0]))


if __name__ == "__main__":
    main()
