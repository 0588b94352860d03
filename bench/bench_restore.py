"""Benchmark of issue 12 item 5: restore_pi of 2 and 4 members one after the other vs side by side.

Each run restores a fresh copy of a synthetic delivery in a new Python process
(the copy is made before the clock starts; the clock covers restore_pi only):
serially (``parallel=False``: each scriptForPI in that process, as a user's
execfile) and side by side (``parallel=True``: a CASA process per member, up
to the cores). The order alternates run by run; medians of --runs (>= 3).
The workload is the pipeline stand-in's: with ``make_delivery(asdm=True)``
(where this checkout has it) real ASDMs restored with importasdm + applycal,
else MSs simulated by casatools (the stand-in's older route); the output says
which. CPU seconds per wall second of the serial run tell whether the restore
is CPU-bound (the <= 0.75 target) or bandwidth-bound (only "never > 1.02").

    .venv/bin/python bench/bench_restore.py            # 2 and 4 members, 3 runs each
    .venv/bin/python bench/bench_restore.py --quick    # tiny EBs, 1 run: checks the script itself
"""

import argparse
import inspect
import json
import os
import shutil
import statistics
import subprocess
import sys

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
MARK = "BENCH_RESTORE "
TARGET, NEVER, CPU_BOUND = 0.75, 1.02, 0.8

_CHILD = """
import json, resource, sys, time
sys.path.insert(0, %(repo)r)
import numpy  # before casatools
import casatools, casatasks  # noqa: F401  (imported before the clock, as in a CASA session)
from casa_plugin.testing.pipeline_standin import restore_with_standin
def cpu():
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))
start, used = time.time(), cpu()
result = restore_with_standin(%(project)r, parallel=%(parallel)r)
seconds, used = time.time() - start, cpu() - used  # children count once they are waited for
# This process's own peak from VmHWM: its ru_maxrss would start at the bench's resident size when it was started
# (Linux keeps the parent's high-water mark across vfork + exec; 5.3 GB after the bench built the deliveries).
# The children's ru_maxrss has the same floor: this process's size when it started them (~0.3-0.6 GB).
with open("/proc/self/status") as status:
    hwm = [int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:")]
peak = [hwm[0] if hwm else 1024 * resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        1024 * resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]
print(%(mark)r + json.dumps({"seconds": seconds, "cpu": used, "parallel": result["parallel"],
                            "counts": result["counts"], "peak_self": peak[0], "peak_child": peak[1]}))
"""


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", help="deliveries and scratch (default work/bench-restore; --quick: "
                                           "work/bench-restore-quick)")
    parser.add_argument("--members", default="2,4", help="member counts, comma-separated (default 2,4)")
    parser.add_argument("--ebs", type=int, default=1, help="EBs per member (default 1: the median ALMA member)")
    parser.add_argument("--eb-bytes", type=float, help="size of each restored EB (default 400e6; quick 10e6)")
    parser.add_argument("--preset", help="EBs of this casa_plugin.testing preset (alma12m, alma7m; --eb-bytes their "
                                         "size), not the small-row EBs")
    parser.add_argument("--runs", type=int, help="runs per case, the median is reported (default 3; quick 1)")
    parser.add_argument("--quick", action="store_true", help="tiny EBs and 1 run: checks the script itself")
    parser.add_argument("--results", help="also write the figures as JSON there")
    parser.add_argument("--keep", action="store_true", help="keep the deliveries (default: deleted at the end)")
    args = parser.parse_args()
    args.eb_bytes = args.eb_bytes or (10e6 if args.quick else 400e6)
    args.runs = args.runs or (1 if args.quick else 3)
    if args.runs < 3 and not args.quick:
        parser.error("--runs must be >= 3 (medians of at least 3), or use --quick")
    args.data_dir = args.data_dir or os.path.join(REPO, "work", "bench-restore-quick" if args.quick else "bench-restore")
    args.members = [int(n) for n in args.members.split(",")]
    return args


def _workload():
    """The kwargs of make_delivery for the real-ASDM workload where it exists, and its description."""
    from casa_plugin.testing.synthetic_delivery import make_delivery
    if "asdm" in inspect.signature(make_delivery).parameters:
        return {"asdm": True}, "real ASDMs restored with importasdm + applycal (make_delivery(asdm=True))"
    return {}, ("MSs simulated by casatools in the pipeline stand-in (this checkout's make_delivery has no asdm=; "
                "not a real importasdm + applycal workload)")


def build(args, members, kwargs):
    from casa_plugin.testing.synthetic_delivery import make_delivery
    root = os.path.join(args.data_dir, "pristine-%d" % members)
    if os.path.isdir(root):
        shutil.rmtree(root)
    shape = {"preset": args.preset, "size_gb": args.eb_bytes / 1e9} if args.preset else {"eb_bytes": args.eb_bytes}
    info = make_delivery(root, members=members, ebs=args.ebs, **dict(kwargs, **shape))
    return info["project"]


def run_once(pristine, scratch, parallel):
    """Restore a fresh copy of ``pristine``; return (wall seconds of restore_pi, CPU seconds, its decision)."""
    if os.path.isdir(scratch):
        shutil.rmtree(scratch)
    shutil.copytree(pristine, scratch, symlinks=True)
    code = _CHILD % {"repo": REPO, "project": scratch, "parallel": parallel, "mark": MARK}
    env = dict(os.environ, PYTHONPATH=REPO)
    proc = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, env=env, cwd=os.path.dirname(scratch))
    lines = [line for line in proc.stdout.splitlines() if line.startswith(MARK)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError("restore (parallel=%r) failed:\n%s" % (parallel, proc.stdout[-5000:]))
    out = json.loads(lines[-1][len(MARK):])
    if set(out["counts"]) != {"restored"}:
        raise RuntimeError("not every member was restored: %s" % out["counts"])
    shutil.rmtree(scratch)
    # the memory of one restore: the restoring process itself (serially), else its largest child (a member's CASA)
    out["peak"] = out["peak_child"] if parallel else out["peak_self"]
    return out


def measure(args, members, pristine):
    scratch = os.path.join(args.data_dir, "run-%d" % members)
    times = {False: [], True: []}
    cpu = {False: [], True: []}
    peaks = {False: [], True: []}
    decision = None
    for run in range(args.runs):
        order = (False, True) if run % 2 == 0 else (True, False)
        for parallel in order:
            out = run_once(pristine, scratch, parallel)
            seconds, used = out["seconds"], out["cpu"]
            times[parallel].append(seconds)
            cpu[parallel].append(used)
            peaks[parallel].append(out["peak"])
            decision = out["parallel"] if parallel else decision
            print("  %d members, run %d, %s: %.1f s (CPU %.1f s), peak memory of one restore %.2f GB"
                  % (members, run + 1, "side by side" if parallel else "serial", seconds, used, out["peak"] / 1e9),
                  flush=True)
    serial, side = statistics.median(times[False]), statistics.median(times[True])
    return {"members": members, "ebs_per_member": args.ebs, "eb_bytes": args.eb_bytes, "runs": args.runs,
            "serial_s": serial, "parallel_s": side, "ratio": side / serial, "serial_times": times[False],
            "parallel_times": times[True], "serial_cpu_per_wall": statistics.median(
                c / t for c, t in zip(cpu[False], times[False])), "decision": decision,
            "peak_bytes": max(peaks[False] + peaks[True])}


def verdict(row):
    cpu_bound = row["serial_cpu_per_wall"] >= CPU_BOUND
    target = TARGET if cpu_bound else NEVER
    return cpu_bound, target, "meets" if row["ratio"] <= target else "MISSES"


def main():
    args = parse_args()
    os.makedirs(args.data_dir, exist_ok=True)
    sys.path.insert(0, REPO)
    __import__("numpy")  # before casatools
    kwargs, workload = _workload()
    print("workload: %s; %d %sEB(s) per member of ~%.0f MB; %d run(s) per case, order alternated; %d core(s)"
          % (workload, args.ebs, "%s " % args.preset if args.preset else "small-row ", args.eb_bytes / 1e6,
             args.runs, os.cpu_count() or 1), flush=True)
    rows = []
    try:
        for members in args.members:
            pristine = build(args, members, kwargs)
            rows.append(measure(args, members, pristine))
    finally:
        if not args.keep:
            shutil.rmtree(args.data_dir, ignore_errors=True)
    print("\n| members | serial s | side by side s | ratio | serial CPU/wall | peak GB per restore | regime | target | |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        cpu_bound, target, ok = verdict(row)
        print("| %d x %d EB | %.1f | %.1f (%s at once) | %.2f | %.2f | %.2f | %s | <= %.2f | %s |" % (
            row["members"], row["ebs_per_member"], row["serial_s"], row["parallel_s"],
            (row["decision"] or {}).get("at_once", "?"), row["ratio"], row["serial_cpu_per_wall"],
            row["peak_bytes"] / 1e9,
            "CPU-bound" if cpu_bound else "bandwidth-bound", target, ok))
    if args.quick:
        print("\n--quick: tiny EBs and one run; these figures check the script, they measure nothing")
    if args.results:
        with open(args.results, "w") as f:
            json.dump({"workload": workload, "preset": args.preset, "quick": args.quick, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
