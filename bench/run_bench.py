"""Benchmark of issues 12 and 26: the tutorial's loop against split_sci_tgt serially and under mpirun -n 3
(parallel=None and True), plain and averaging, warm and cold, on ALMA 12 m-shaped, small-row or wsu projects."""

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import time

from casa_plugin.staging import remove_tree as remove
from machine_load import (Load, disk_bytes, disk_since, machine, ram_bytes,  # bench/machine_load.py: a shared machine
                          wait_for_quiet)
from casa_plugin.testing.compare import mpirun_command  # the package's own: links removed, never followed
from paired import LEVEL, MIN_ROUNDS  # bench/paired.py: paired ratios and their interval
from wsu_size import wsu_eb_bytes  # bench/wsu_size.py
from figures import MEASUREMENTS, report, run_line  # bench/figures.py: what is measured, the tables and ratios

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
CHILD = os.path.join(BENCH, "child.py")
PY = sys.executable
PROJECT_CODE = "2021.1.00690.S"
MARK = "BENCH_RESULT "
CHUNK = 16 * 1024 * 1024
TIMEOUT = 3 * 3600

#: The bench projects: an EB preset of casa_plugin.testing (None: the small-row EBs of the tests), members, EBs each;
#: ``digest``: the reference outputs are kept as a digest (ms_compare.ms_digest), not a copy; ``skip``: measurements
#: left out. wsu (``--preset wsu``): the largest EB the disk holds beside one output set (bench/wsu_size.py), so no
#: second output set and no copy of the inputs (cp).
PROJECTS = {"alma12m": {"preset": "alma12m", "members": 2, "ebs": 2},
            "small": {"preset": None, "members": None, "ebs": None},   # the delivery's own 6 + 2 EBs
            "wsu": {"preset": "wsu", "members": 1, "ebs": 1, "digest": True, "skip": ("cp",)}}
REFERENCE_OF = {"a": "manual", "b": "manual", "n": "manual", "t": "manual", "p": "manual", "p1": "manual",
                "db": "averaged", "dn": "averaged", "dt": "averaged"}
DIFFER = ("p1",)  # expected to differ from their reference: the differences are counted, not fatal
def default_total_gb(data_dir, small_gb):
    """Larger than RAM (nothing stays cached) where the disk holds it (inputs + two sets of outputs); else what fits."""
    probe = data_dir
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    free = shutil.disk_usage(probe).free + tree_bytes(os.path.join(data_dir, "alma12m"))  # a rebuild frees its own
    fits = (free - 3.5 * small_gb * 1e9) / 3.5
    if fits < 1.1 * ram_bytes():
        print("note: the disk holds an alma12m project of %.1f GB at most, less than RAM (%.1f GB): the cold regime "
              "relies on dropping the page cache (as root)" % (fits / 1e9, ram_bytes() / 1e9), flush=True)
    return round(min(1.1 * ram_bytes(), fits) / 1e9, 1)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", help="datasets and scratch space (default work/bench, --quick: work/bench-quick)")
    parser.add_argument("--projects", help="which projects (default alma12m,small; --quick: alma12m)")
    parser.add_argument("--total-gb", type=float, help="GB of the alma12m project (4 EBs); default 1.1 x RAM where "
                        "the disk holds 3.5 x that, else what fits (then caches are dropped, as root)")
    parser.add_argument("--small-gb", type=float, help="GB of the small-row project (8 EBs; default 5.6)")
    parser.add_argument("--preset", choices=["wsu"], help="wsu: measure one wsu-shaped EB instead of the projects, "
                        "the largest the free disk holds beside one output set (--total-gb: at most that), cold only")
    parser.add_argument("--regimes", default="warm,cold", help="warm (page cache) and/or cold (caches dropped)")
    parser.add_argument("--reuse", action="store_true", help="use the datasets already built in --data-dir")
    parser.add_argument("--runs", type=int, help="rounds: runs of each measurement, one per round; each ratio is the "
                        "median of its paired rounds (default %d; --quick: 1)" % MIN_ROUNDS)
    parser.add_argument("--quick", action="store_true", help="small data and 1 run: checks the script end to end")
    parser.add_argument("--only", help="comma-separated measurement keys (%s)" % ",".join(m[0] for m in MEASUREMENTS))
    parser.add_argument("--quiet-wait", type=float, default=600,
                        help="before each measurement wait up to this many s for other processes to go idle")
    parser.add_argument("--max-other", type=float, default=0.05,
                        help="a run during which other processes used more CPU s than this x its seconds is redone")
    parser.add_argument("--retries", type=int, default=2, help="redos of a noisy run (default 2)")
    parser.add_argument("--results", help="write the table there (default bench/RESULTS.md; not with --quick)")
    args = parser.parse_args()
    args.runs = args.runs or (1 if args.quick else MIN_ROUNDS)
    if args.runs < MIN_ROUNDS and not args.quick:
        print("note: %d rounds; a ratio's %d %% interval needs at least %d to mean much" % (
            args.runs, 100 * LEVEL, MIN_ROUNDS), flush=True)
    args.data_dir = os.path.abspath(args.data_dir or os.path.join(REPO, "work", "bench-quick" if args.quick else "bench"))
    args.small_gb = args.small_gb or (0.1 if args.quick else 5.6)
    if args.preset:
        if args.projects and args.projects != args.preset or args.regimes != "cold":
            print("note: --preset %s measures the %s project, cold only" % (args.preset, args.preset), flush=True)
        args.projects, args.regimes = args.preset, "cold"
        args.total_gb = args.total_gb or (0.3 if args.quick else None)  # None: what the disk holds
    else:
        args.total_gb = args.total_gb or (0.3 if args.quick else default_total_gb(args.data_dir, args.small_gb))
    if args.quick:
        args.quiet_wait, args.retries = min(args.quiet_wait, 5), 0
    if args.results is None and not args.quick:
        args.results = os.path.join(BENCH, "RESULTS.md")
    keys = [m[0] for m in MEASUREMENTS]
    args.only = args.only.split(",") if args.only else keys
    if any(k in args.only for k in DIFFER) and "a" not in args.only:
        parser.error("--only %s needs a (the loop's outputs are the reference %s is compared with)" % (
            ",".join(args.only), ", ".join(DIFFER)))
    args.projects = (args.projects or ("alma12m" if args.quick else "alma12m,small")).split(",")
    args.regimes = args.regimes.split(",")
    for name, given, known in (("--only", args.only, keys), ("--projects", args.projects, list(PROJECTS)),
                               ("--regimes", args.regimes, ["warm", "cold"])):
        unknown = [k for k in given if k not in known]
        if unknown:
            parser.error("%s: unknown %s (known: %s)" % (name, ",".join(unknown), ",".join(known)))
    return args


# --- the datasets ---

class Dataset(object):
    """One built project, its inputs (never modified) and the places outputs go to."""

    def __init__(self, root, name):
        self.root, self.name = root, name
        self.project = os.path.join(root, "delivery", PROJECT_CODE)
        self.info_path = os.path.join(root, "dataset.json")
        self.scratch = os.path.join(root, "scratch")
        self.reference = os.path.join(root, "reference")
        self.logs = os.path.join(root, "logs")
        self.pristine = os.path.join(root, "pristine_records")
        self.pristine_report = os.path.join(root, "pristine_report")  # the delivery report restore_pi left

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


def build(data, spec, total_bytes, quick=False):
    """Build and restore one project's delivery."""
    delivery = os.path.join(data.root, "delivery")
    if os.path.exists(delivery):
        shutil.rmtree(delivery)  # a half-built delivery of an interrupted build (no dataset.json)
    remove(data.pristine_report)
    os.makedirs(delivery)
    members, ebs = spec["members"], spec["ebs"]
    nebs = members * ebs if ebs else 8
    eb_bytes = total_bytes / nebs
    # a preset's EB has a smallest size: fewer EBs (one a member) rather than more GB; a single EB (wsu) was sized to
    # fit the disk, and is at least that
    if spec["preset"] and not quick and nebs > 1:
        from casa_plugin.testing.presets import describe
        least = 1.05e9 * describe(spec["preset"])["min_gb"]
        ebs = ebs if total_bytes >= members * ebs * least else 1
        nebs = members * ebs
        eb_bytes = max(total_bytes / nebs, least)
    spec = dict(spec, ebs=ebs)
    print("building %s: %d EBs of %.2f GB in %s ..." % (data.name, nebs, eb_bytes / 1e9, delivery), flush=True)
    cmd = [PY, CHILD, "build", delivery, "--eb-bytes", repr(eb_bytes)]
    for flag in ("preset", "members", "ebs"):
        if spec[flag]:
            cmd += ["--" + flag, str(spec[flag])]
    result = run_child(cmd + (["--quick"] if quick else []), data, "build")
    os.makedirs(data.pristine, exist_ok=True)
    for i, calibrated in enumerate(data.calibrated()):
        shutil.copy2(os.path.join(calibrated, "casa_plugin_record.json"), os.path.join(data.pristine, "%d.json" % i))
    info = {"eb_bytes": eb_bytes, "total_bytes": total_bytes, "shape": result["shape"],
            "built": time.strftime("%Y-%m-%d %H:%M:%S"), "build_seconds": result["seconds"]}
    with open(data.info_path, "w") as f:
        json.dump(info, f, indent=1)
    print("built in %.0f s (%s)" % (result["seconds"], result["shape"]), flush=True)
    return info


def wsu_total(args):
    """The wsu EB's bytes: ``--total-gb`` with --quick, else the largest the disk holds (bench/wsu_size.py)."""
    if args.quick:
        print("wsu --quick: one %.1f GB EB of the reduced quick shape (checks the script)" % args.total_gb, flush=True)
        return args.total_gb * 1e9
    probe = args.data_dir
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    total, lines = wsu_eb_bytes(shutil.disk_usage(probe).free, ram_bytes(), args.total_gb)
    print("\n".join(lines), flush=True)
    return total


def dataset(args, name):
    data = Dataset(os.path.join(args.data_dir, name), name)
    if data.exists():
        with open(data.info_path) as f:
            info = json.load(f)
        if not args.reuse:
            sys.exit("%s already holds a dataset (%.1f GB): pass --reuse (make bench BENCH_ARGS=--reuse) or remove "
                     "it" % (data.root, info["total_bytes"] / 1e9))
        print("reusing the %s dataset in %s (built %s; %s)" % (name, data.root, info["built"], info["shape"]),
              flush=True)
    else:
        total = wsu_total(args) if name == "wsu" else 1e9 * (args.total_gb if name == "alma12m" else args.small_gb)
        os.makedirs(data.root, exist_ok=True)
        info = build(data, PROJECTS[name], total, args.quick)
    if not os.path.isdir(data.pristine_report):
        keep_restore_report(data)
    return data, info


def keep_restore_report(data):
    """Write the report of the restored project (as restore_pi does) and keep it for clean_outputs to put back."""
    clean_outputs(data)
    run_child([PY, CHILD, "report", data.project], data, "report")
    tmp = data.pristine_report + ".tmp"
    remove(tmp)
    shutil.copytree(os.path.join(data.project, "casa_plugin_report"), tmp)
    os.rename(tmp, data.pristine_report)


# --- the same preconditions before every measurement ---

def is_output(name):
    """Names the splits write in calibrated/: outputs, their flag versions, partials, record temporaries."""
    return ".ms.split.cal" in name or name.endswith((".partial", ".partial.flagversions", ".tmp")) \
        or ".partial.replaced" in name


def clean_outputs(data):
    """Remove every output of the previous measurement (never an input) and put back the restore's record.

    The delivery report is put back as restore_pi left it (with the restored EBs' flag counts, spws and scans
    in its cache, its pictures drawn): what the recipes' splits find after restore_pi. A delivery restored
    without casa_plugin has none; its first split also counts each restored EB's flags (one pass over FLAG).
    """
    remove(os.path.join(data.project, "casa_plugin_report"))
    if os.path.isdir(data.pristine_report):
        shutil.copytree(data.pristine_report, os.path.join(data.project, "casa_plugin_report"))
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


def prepare(data, regime, quiet_wait=0):
    """Outputs removed, sync, page cache dropped, inputs read once (warm), other processes quiet."""
    clean_outputs(data)
    if quiet_wait:
        wait_for_quiet(quiet_wait)
    dropped = drop_caches()
    if regime == "warm":
        read_all(data.input_files())
    if quiet_wait:
        wait_for_quiet(quiet_wait)
    return dropped


# --- running one measurement ---

def run_child(cmd, data, name):
    """Run one measured process; return its BENCH_RESULT payload plus its wall time; keep its output."""
    env = dict(os.environ, PYTHONPATH=REPO)  # this checkout's casa_plugin in the child and its MPI ranks
    os.makedirs(data.logs, exist_ok=True)
    start = time.time()
    proc = subprocess.Popen(cmd, cwd=data.scratch if os.path.isdir(data.scratch) else data.root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    out = proc.communicate(timeout=TIMEOUT)[0]
    wall = time.time() - start
    with open(os.path.join(data.logs, name + ".log"), "w") as f:
        f.write(" ".join(cmd) + "\n" + out)
    lines = [line for line in out.splitlines() if line.startswith(MARK)]
    if proc.returncode != 0 or not lines:
        sys.exit("%s failed (exit %d); see %s:\n%s" % (name, proc.returncode, os.path.join(data.logs, name + ".log"),
                                                        out[-3000:]))
    result = json.loads(lines[-1][len(MARK):])
    result["wall"] = wall
    return result


def measure(data, regime, key, kind, servers, extra, run, quiet_wait):
    """Run one measurement after the common preconditions; return its result dict (``seconds`` = timed work).

    ``other_cpu``: CPU seconds other processes of the machine used meanwhile (it may be shared); ``own_cpu``: those
    of the measured processes (start-up and exit included); ``steal``: CPU seconds the hypervisor took away.
    """
    dropped = prepare(data, regime, quiet_wait=quiet_wait)
    load = Load()
    load.start()
    try:
        result = _measure(data, key, kind, servers, extra, run, regime)
    finally:
        result_load = load.stop()
    result.update(result_load, dropped=dropped)
    return result


def _measure(data, key, kind, servers, extra, run, regime):
    if kind == "cold":
        before, start = disk_bytes(data.root), time.time()
        nbytes = read_all(data.input_files())
        return dict(disk_since(data.root, before), seconds=time.time() - start, bytes=nbytes, sync_seconds=0.0)
    if kind == "cp":
        copy = os.path.join(data.scratch, "copy")
        os.makedirs(copy)
        before, start = disk_bytes(data.root), time.time()
        subprocess.check_call(["cp", "-r"] + data.inputs() + [copy])
        subprocess.check_call(["sync"])
        # its sync is timed with it
        return dict(disk_since(data.root, before), seconds=time.time() - start, sync_seconds=0.0)
    cmd = (mpirun_command(servers + 1, PY) if servers else []) + [PY, CHILD, kind, data.project] + extra
    result = run_child(cmd, data, "%s-%s-%d" % (key, regime, run))
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


def check_outputs(data, key, regime, run):
    """Compare this measurement's outputs with its reference (``compare.ms_differences``: every column, every
    subtable but HISTORY, the flag versions), or keep them as the reference if there is none yet; print what was
    done and return ``{'compared': MSs compared}`` (0: kept as the reference; for a DIFFER key also
    ``'differences'``, each one found). A difference stops the bench, but for a DIFFER key."""
    ref = os.path.join(data.reference, REFERENCE_OF[key])
    if not os.path.isdir(ref) and key in DIFFER:  # never the reference of the others
        print("  outputs not compared: no reference '%s' yet" % REFERENCE_OF[key], flush=True)
        return {"compared": 0}
    if not os.path.isdir(ref):
        if PROJECTS[data.name].get("digest"):
            run_child([PY, CHILD, "digest", data.project, ref], data, "digest-%s-%s-%d" % (key, regime, run))
            print("  digest of the outputs kept as the reference '%s'" % REFERENCE_OF[key], flush=True)
        else:
            keep_as_reference(data, REFERENCE_OF[key])
            print("  outputs kept as the reference '%s'" % REFERENCE_OF[key], flush=True)
        return {"compared": 0}
    result = run_child([PY, CHILD, "compare", ref, data.project], data, "compare-%s-%s-%d" % (key, regime, run))
    expected = 2 * len(data.eb_links())
    if key in DIFFER and result["compared"] == expected:
        print("  outputs compared with the reference '%s': %d difference(s)%s" % (
            REFERENCE_OF[key], len(result["problems"]), (", the first: " + result["problems"][0].split("): ", 1)[-1])
            if result["problems"] else ""), flush=True)
        return {"compared": result["compared"], "differences": result["problems"]}
    if result["problems"] or result["compared"] != expected:
        sys.exit("outputs of %s (%s, run %d) differ from the reference %s (%d of %d compared):\n%s" % (
            key, regime, run + 1, REFERENCE_OF[key], result["compared"], expected, "\n".join(result["problems"])))
    print("  outputs identical to the %sreference '%s': %d MSs, their subtables and flag versions (compared in %.0f s)"
          % ("digest of the " if PROJECTS[data.name].get("digest") else "", REFERENCE_OF[key], result["compared"],
             result["wall"]), flush=True)
    return {"compared": result["compared"]}


def save_runs(results_path, results):
    """Write every run's figures to the ``.json`` beside ``results_path``, to look at again."""
    path = os.path.splitext(results_path)[0] + ".json"
    with open(path + ".tmp", "w") as f:
        json.dump({"machine": machine(), "results": dict(("/".join(k), v) for k, v in results.items())}, f,
                  indent=1, default=str)
    os.replace(path + ".tmp", path)


def main():
    args = parse_args()
    start = time.time()
    datasets = dict((name, dataset(args, name)) for name in args.projects)
    results, dropped = {}, True
    for name, (data, _) in datasets.items():
        remove(data.reference)
        for run in range(args.runs):
            # the VM slows down under sustained load, so a fixed order would favour the first measurements of a
            # round: every other round runs the regimes and the measurements in reverse order
            for regime in args.regimes if run % 2 == 0 else args.regimes[::-1]:
                for key, label, kind, servers, extra, regimes in MEASUREMENTS if run % 2 == 0 else MEASUREMENTS[::-1]:
                    if key not in args.only or regime not in regimes or key in PROJECTS[name].get("skip", ()):
                        continue
                    for attempt in range(args.retries + 1):
                        result = measure(data, regime, key, kind, servers, extra, run, args.quiet_wait)
                        result["noisy"] = (result["other_cpu"] > args.max_other * result["seconds"] + 0.1
                                           or result.get("servers_idle") is False)  # servers still starting
                        print(run_line(run, name, regime, label, result), flush=True)
                        if not result["noisy"]:
                            break
                    if key in REFERENCE_OF:  # every round's outputs, after the clock
                        result.update(check_outputs(data, key, regime, run))
                    dropped = dropped and result["dropped"]
                    results.setdefault((name, regime, key), []).append(result)
                    if args.results:  # every run so far, kept if the bench is stopped before its end
                        save_runs(args.results, results)
        clean_outputs(data)
        remove(data.reference)  # the next project's outputs need the room
    wall = time.time() - start
    lines = report(results, datasets, args)
    print("\n" + "\n".join(lines))
    print("whole benchmark: %.0f s%s" % (wall, "" if dropped else " (page cache NOT dropped: not root)"))
    if args.results:
        head = ["# Benchmark results (issue 12)", "", "- date: %s" % time.strftime("%Y-%m-%d %H:%M %Z"),
                "- machine: %s" % machine(),
                "- each figure: median of %d round(s) of the work inside the process (start-up and exit apart); "
                "before each: outputs removed, sync, page cache %s, inputs read once (warm) or not (cold)" % (
                    args.runs, "dropped" if dropped else "NOT dropped (not root)"),
                "- each ratio: median of the ratios round by round, with its %d %% bootstrap interval" % (100 * LEVEL),
                "- outputs of every plain case identical to the loop's, of every averaging case to serial's, in "
                "every round (every column, every subtable but HISTORY, the flag versions)%s" % (
                    "; except %s, whose differences are counted" % ", ".join(k for k in DIFFER if k in args.only)
                    if any(k in args.only for k in DIFFER) else ""),
                "- command: `%s`; whole benchmark %.0f s" % (" ".join(["bench/run_bench.py"] + sys.argv[1:]), wall),
                ""]
        with open(args.results, "w") as f:
            f.write("\n".join(head + lines))
        save_runs(args.results, results)
        print("written to %s (every run: %s.json)" % (args.results, os.path.splitext(args.results)[0]))


if __name__ == "__main__":
    main()
