"""One process of the benchmark: build, manual loop, plugin (serial or under mpirun), compare or digest outputs."""

import argparse
import glob
import importlib
import json
import logging
import os
import re
import sys
import time

_T0 = time.time()  # interpreter start (approximately): start-up is reported apart from the timed work
MARK = "BENCH_RESULT "
from casa_plugin.testing.compare import manual_loop, ms_differences  # the tests' manual loop and comparison
from casa_plugin.testing.ms_compare import digest_differences, ms_digest
from machine_load import HZ, disk_bytes, disk_since, memory, processes, reported_bytes, wait_for_reporting


def emit(payload):
    """Print the result line the driver parses, with this process's peak resident memory (``rss_peak``, bytes).

    From VmHWM: ru_maxrss would start at the driver's size when it was started (Linux keeps the parent's
    high-water mark across fork + exec)."""
    payload = dict(payload, rss_peak=memory(os.getpid())[1])
    sys.stdout.write(MARK + json.dumps(payload, default=str) + "\n")
    sys.stdout.flush()


def calibrated_dirs(project):
    """Return the sorted ``calibrated/`` directories of a delivery."""
    return sorted(glob.glob(os.path.join(project, "*", "*", "*", "calibrated")))


#: The reduced shape of --quick (an alma12m EB is at least ~3.9 GB): 10 antennas, 240 channels, small-row generator.
_QUICK = {"nant": 10, "nchan": 240}


def build(args):
    """Build the synthetic delivery of one bench project and restore it."""
    from casa_plugin.testing.pipeline_standin import PARAMS_FILENAME, restore_with_standin
    from casa_plugin.testing.synthetic_delivery import make_delivery
    start = time.time()
    kw = {"members": args.members, "ebs": args.ebs}
    if args.preset and not args.quick:
        info = make_delivery(args.root, preset=args.preset, size_gb=args.eb_bytes / 1e9, **kw)
        shape = "preset %s" % args.preset
    elif args.preset:  # the stubs' make_eb_ms parameters get the reduced shape
        info = make_delivery(args.root, eb_bytes=args.eb_bytes, **kw)
        for stub in glob.glob(os.path.join(info["project"], "*", "*", "*", "raw", "*", PARAMS_FILENAME)):
            with open(stub) as f:
                params = json.load(f)
            params.update(_QUICK)
            with open(stub, "w") as f:
                json.dump(params, f, indent=1, sort_keys=True)
        shape = "make_eb_ms(%s) (--quick, not %s)" % (", ".join("%s=%d" % kv for kv in sorted(_QUICK.items())),
                                                       args.preset)
    else:
        info = make_delivery(args.root, eb_bytes=args.eb_bytes, **kw)
        shape = "small-row"
    restore_with_standin(info["project"])
    emit({"project": info["project"], "seconds": time.time() - start, "shape": shape})


def report(args):
    """Write the delivery report of a restored project, as restore_pi does at the end of a restore."""
    from casa_plugin.delivery_report import write_report
    start = time.time()
    write_report([args.project], task="restore_pi")
    emit({"seconds": time.time() - start})


def start_casa(parallel=False):
    """CASA start-up, not timed: import casatasks (under mpirun ranks >= 1 become casampi servers there and never
    return) and, under mpirun, wait until the servers' own start-up is over (they use no CPU for 1 s), so that it
    does not compete with the timed work; then, in every mode, wait until the VM has handed back to its
    hypervisor the memory freed before (``wait_for_reporting``), so that each measurement starts from that state.

    casampi's client services are not started: a user's session starts them only when a task goes to the
    servers, and the plugin does that inside the timed work. Returns ``{'reporting_wait'}``, and under mpirun
    ``'seconds'`` (the wait for the servers) and ``'idle'`` (whether they went idle).
    """
    importlib.import_module("casatasks")
    if not parallel:
        return {"reporting_wait": wait_for_reporting()}
    start = time.time()
    idle = wait_for_servers()
    waited = time.time() - start
    return {"seconds": waited, "idle": idle, "reporting_wait": wait_for_reporting()}


def returned(before):
    """GB of free memory the VM handed back to its hypervisor since ``before`` (``reported_bytes``), or None."""
    after = reported_bytes()
    return None if before is None or after is None else (after - before) / 1e9


def _ranks_beside_me():
    """The other processes of this mpirun on this host: the launcher's other children."""
    procs = processes()
    parent = procs.get(os.getpid(), (None,))[0]
    return [pid for pid, (ppid, _, _) in procs.items() if ppid == parent and pid != os.getpid()]


def wait_for_servers(limit=120, idle=0.02):
    """Wait (up to ``limit`` s) until the other ranks use less than ``idle`` of a core each over 1 s."""
    pids, deadline = _ranks_beside_me(), time.time() + limit

    def ticks():
        procs = processes()
        return sum(procs[p][2] for p in pids if p in procs)

    if not pids:
        raise RuntimeError("under mpirun, but no other rank found beside this process (pid %d)" % os.getpid())
    last = ticks()
    while time.time() < deadline:
        time.sleep(1)
        now = ticks()
        if now - last <= idle * HZ * len(pids):
            return True
        last = now
    print("bench child: the other ranks (pids %s) still used more than %.0f %% of a core each after %d s; timing "
          "anyway (the result says servers_idle: false)" % (pids, idle * 100, limit), file=sys.stderr)
    return False


def disk_after(project, before):
    """After the timed work: sync (timed apart) and return the bytes the disk of ``project`` read and wrote since
    ``before`` (``disk_bytes`` at the start of the work), what a ``cp -r`` + ``sync`` is measured against."""
    start = time.time()
    os.sync()
    return dict(disk_since(project, before), sync_seconds=time.time() - start)


def manual(args):
    """Time the manual loop over every calibrated/ directory."""
    waited = start_casa()
    before, ready, handed, cpu = disk_bytes(args.project), time.time(), reported_bytes(), os.times()
    for calibrated in calibrated_dirs(args.project):
        manual_loop(calibrated)
    done, cpu = time.time(), [b - a for a, b in zip(cpu, os.times())]
    emit(dict(disk_after(args.project, before), seconds=done - ready, startup=ready - _T0, user_s=cpu[0],
              system_s=cpu[1], handed_back_gb=returned(handed), reporting_wait=waited["reporting_wait"]))


def _science_spws(msmd, vis):
    """The tutorial's science spws of ``vis``: OBSERVE_TARGET* spws of more than 4 channels, as its loop finds them."""
    msmd.open(vis)
    try:
        return ",".join(str(s) for s in msmd.spwsforintent("OBSERVE_TARGET*") if msmd.nchan(s) > 4)
    finally:
        msmd.close()


def pair(args):
    """Time the tutorial's chain per EB with its target split in a second process, beside the science split.

    The two halves issue 26 asks about, as plain CASA calls (no plugin): this process makes each EB's
    ``.split.cal`` and saves its flags, as the loop does; a second process (started inside the timed work, its
    start-up counted once a call, as a pair would start it) makes the ``.split.cal.source`` from the EB: two
    splits (``--one-pass``: one, which is not the loop's output; see target_half) and its flags. Emits the
    seconds, this process's and the second one's CPU seconds and the seconds each half took per EB.
    """
    waited = start_casa()
    import subprocess
    from casatasks import flagmanager, split
    from casatools import msmetadata
    msmd = msmetadata()
    before, ready, handed, cpu = disk_bytes(args.project), time.time(), reported_bytes(), os.times()
    marks, mark_end = os.pipe()  # the half's "done" lines: apart from its stdout, which CASA may fill
    half = subprocess.Popen([sys.executable, os.path.abspath(__file__), "target-half", "--marks", str(mark_end)]
                            + (["--one-pass"] if args.one_pass else []),
                            stdin=subprocess.PIPE, universal_newlines=True, pass_fds=(mark_end,))
    os.close(mark_end)
    marks = os.fdopen(marks)
    science, target = [], []
    for calibrated in calibrated_dirs(args.project):
        for vis in sorted(glob.glob(os.path.join(calibrated, "*[!_t].ms"))):
            spws = _science_spws(msmd, vis)
            try:
                half.stdin.write(json.dumps({"vis": vis, "spw": spws}) + "\n")
                half.stdin.flush()
            except BrokenPipeError:
                sys.exit("the target half's process ended before %s (status %s)" % (vis, half.wait()))
            start = time.time()
            split(vis=vis, outputvis=vis + ".split.cal", spw=spws)
            flagmanager(vis=vis + ".split.cal", mode="save", versionname="original_flags")
            science.append(time.time() - start)
            target.append(_half_done(half, marks))
    half.stdin.close()
    if half.wait() != 0:
        sys.exit("the target half's process ended with status %d" % half.returncode)
    done, cpu = time.time(), [b - a for a, b in zip(cpu, os.times())]
    emit(dict(disk_after(args.project, before), seconds=done - ready, startup=ready - _T0, user_s=cpu[0],
              system_s=cpu[1], half_user_s=cpu[2], half_system_s=cpu[3], science_seconds=science,
              target_seconds=target, handed_back_gb=returned(handed), reporting_wait=waited["reporting_wait"]))


_HALF_MARK = "HALF_DONE "


def _half_done(half, marks):
    """Wait for the second process's line about its EB; return the seconds it took (from its job's arrival)."""
    for line in marks:
        if line.startswith(_HALF_MARK):
            return json.loads(line[len(_HALF_MARK):])["seconds"]
    sys.exit("the target half's process ended before its EB was done (status %s)" % half.wait())


def target_half(args):
    """The pair's second process: for each EB named on stdin, make its ``.split.cal.source`` from the EB.

    Two splits, as the loop's ``.source`` needs: the science split's selection with the target intents
    (``datacolumn='corrected'``), then the loop's target split of that (``datacolumn='data'``), which recomputes
    WEIGHT from SIGMA as the loop's does. ``--one-pass``: the first split straight into the ``.source``; its
    WEIGHT differs from the loop's in the last bit (so the bench compares it and counts the differences).
    """
    from casatasks import flagmanager, split
    from casa_plugin.staging import remove_tree
    marks = os.fdopen(args.marks, "w")
    for line in sys.stdin:
        job, start = json.loads(line), time.time()
        vis = job["vis"]
        source = vis + ".split.cal.source"
        first = source if args.one_pass else vis + ".pair-intermediate"
        split(vis=vis, outputvis=first, spw=job["spw"], intent="*TARGET*")
        if not args.one_pass:
            split(vis=first, outputvis=source, intent="*TARGET*", datacolumn="data")
            remove_tree(first)
            remove_tree(first + ".flagversions")
        remove_tree(source + ".flagversions")
        flagmanager(vis=source, mode="save", versionname="original_flags")
        marks.write(_HALF_MARK + json.dumps({"seconds": time.time() - start}) + "\n")
        marks.flush()


def _concurrency(summary):
    """Return the EBs-at-once level of each EB's science split, in the order they finished."""
    return [eb.get("mpi", {}).get("concurrency") for eb in summary["sci"]["ebs"].values()]


class _Reports(logging.Handler):
    """Add up the seconds the delivery report took after each task (its log line ends with ``(1.2 s)``)."""

    def __init__(self):
        super(_Reports, self).__init__()
        self.seconds = 0.0

    def emit(self, record):
        found = re.search(r"\((\d+(?:\.\d+)?) s\)$", record.getMessage())
        if found:
            self.seconds += float(found.group(1))


class _Moments(logging.Handler):
    """Note when the dispatcher logs its first and last lines: its set-up (servers' workers) and its EB loop."""

    def __init__(self):
        super(_Moments, self).__init__()
        self.first = self.last = None

    def emit(self, record):
        self.first = self.first or record.created
        self.last = record.created


def _faults():
    """Page faults of this process so far (minor + major)."""
    import resource
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_minflt + usage.ru_majflt


def plugin(args):
    """Time split_sci_tgt on the project, serially or (under mpirun) with parallel=None or True."""
    parallel = {"none": None, "true": True, "false": False}[args.parallel]
    waited = start_casa(parallel is not False)
    from casa_plugin import split_sci_tgt
    moments, reports = _Moments(), _Reports()
    logging.getLogger("casa_plugin.parallel.client").addHandler(moments)
    logging.getLogger("casa_plugin.delivery_report").addHandler(reports)
    before, ready, cpu, faults = disk_bytes(args.project), time.time(), os.times(), _faults()
    handed = reported_bytes()
    result = split_sci_tgt(vis=args.project, parallel=parallel, width=args.width, timebin=args.timebin,
                           maxjobs=args.maxjobs)
    done, cpu, faults = time.time(), [b - a for a, b in zip(cpu, os.times())], _faults() - faults
    handed = returned(handed)
    disk = disk_after(args.project, before)
    sci = result["sci"]["ebs"].values()
    emit({"sync_seconds": disk["sync_seconds"], "disk_read": disk.get("disk_read"),
          "disk_written": disk.get("disk_written"), "seconds": done - ready, "startup": ready - _T0,
          "servers_wait": waited.get("seconds"), "servers_idle": waited.get("idle"),
          "concurrency": _concurrency(result), "plan": result.get("parallel"),
          "report_seconds": reports.seconds, "user_s": cpu[0], "system_s": cpu[1],
          "page_faults": faults, "handed_back_gb": handed, "reporting_wait": waited["reporting_wait"],
          "mpi_setup": moments.first - ready if moments.first else None,
          "mpi_loop": moments.last - moments.first if moments.first else None,
          "counts": [result["sci"]["counts"], result["tgt"]["counts"]],
          "eb_seconds": [eb.get("mpi", {}).get("seconds") for eb in sci],
          "servers": sorted(set(eb.get("mpi", {}).get("server") for eb in sci if eb.get("mpi"))),
          "done_at": done})


def _outputs(root, suffix=""):
    """The .split.cal and .split.cal.source below ``root`` (with ``suffix``: the files named after them)."""
    found = glob.glob(os.path.join(root, "**", "*.split.cal*" + suffix), recursive=True)
    return sorted(p for p in found if p.endswith((".split.cal" + suffix, ".split.cal.source" + suffix)))


def compare(args):
    """Compare every .split.cal and .split.cal.source below ``reference`` (or its digest there) with its twin below
    ``project``: ms_differences, or digest_differences."""
    problems, compared = [], 0
    for ref in _outputs(args.reference):
        problems.extend(ms_differences(ref, os.path.join(args.project, os.path.relpath(ref, args.reference))))
        compared += 1
    for ref in _outputs(args.reference, _DIGEST):
        with open(ref) as f:
            digest = json.load(f)
        twin = os.path.join(args.project, os.path.relpath(ref, args.reference)[:-len(_DIGEST)])
        problems.extend(digest_differences(digest, twin))
        compared += 1
    emit({"compared": compared, "problems": problems})


_DIGEST = ".digest.json"


def digest(args):
    """Write the digest (ms_digest) of every .split.cal and .split.cal.source below ``project`` to ``reference``,
    as ``<its path below project>.digest.json``."""
    written = 0
    for vis in _outputs(args.project):
        path = os.path.join(args.reference, os.path.relpath(vis, args.project) + _DIGEST)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".tmp", "w") as f:
            json.dump(ms_digest(vis), f)
        os.replace(path + ".tmp", path)
        written += 1
    emit({"digests": written})


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="mode")
    p = sub.add_parser("build")
    p.add_argument("root")
    p.add_argument("--eb-bytes", type=float, required=True)
    p.add_argument("--preset", help="an EB preset of casa_plugin.testing (alma12m); none: small rows")
    p.add_argument("--members", type=int)
    p.add_argument("--ebs", type=int)
    p.add_argument("--quick", action="store_true", help="a reduced shape (10 antennas, 240 channels)")
    p = sub.add_parser("manual")
    p.add_argument("project")
    p = sub.add_parser("plugin")
    p.add_argument("project")
    p.add_argument("--parallel", choices=("none", "true", "false"), default="false")
    p.add_argument("--width", type=int, default=1)
    p.add_argument("--timebin", default="0s")
    p.add_argument("--maxjobs", type=int)
    p = sub.add_parser("pair")
    p.add_argument("project")
    p.add_argument("--one-pass", action="store_true")
    p = sub.add_parser("target-half")
    p.add_argument("--one-pass", action="store_true")
    p.add_argument("--marks", type=int, required=True, help="the file descriptor its 'done' lines go to")
    p = sub.add_parser("compare")
    p.add_argument("reference")
    p.add_argument("project")
    p = sub.add_parser("digest")
    p.add_argument("project")
    p.add_argument("reference")
    p = sub.add_parser("report")
    p.add_argument("project")
    args = parser.parse_args()
    {"build": build, "manual": manual, "plugin": plugin, "compare": compare, "digest": digest,
     "report": report, "pair": pair, "target-half": target_half}[args.mode](args)


if __name__ == "__main__":
    main()
