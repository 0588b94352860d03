"""The benchmark's measurements and targets, and the tables and ratios made of their rounds."""

import statistics

from paired import ratio_summary  # bench/paired.py: paired ratios and their interval

__all__ = ["MEASUREMENTS", "TARGETS", "disk_rate", "gb_moved", "report", "run_line"]

AVERAGING = ["--width", "8", "--timebin", "12s"]
# (key, label, kind, MPI servers or None, child arguments after the project, regimes)
BOTH, WARM = ("warm", "cold"), ("warm",)
MEASUREMENTS = [
    ("a", "tutorial loop", "manual", None, [], BOTH),
    ("b", "plugin serial", "plugin", None, ["--parallel", "false"], BOTH),
    ("n", "parallel=None, mpirun -n 3", "plugin", 2, ["--parallel", "none"], BOTH),
    ("t", "parallel=True, mpirun -n 3", "plugin", 2, ["--parallel", "true"], BOTH),
    ("db", "serial, width=8 timebin=12s", "plugin", None, ["--parallel", "false"] + AVERAGING, WARM),
    ("dn", "parallel=None -n 3, averaging", "plugin", 2, ["--parallel", "none"] + AVERAGING, WARM),
    ("dt", "parallel=True -n 3, averaging", "plugin", 2, ["--parallel", "true"] + AVERAGING, WARM),
    ("p", "pair: target split beside science", "pair", None, [], BOTH),
    ("p1", "pair, one pass (not the loop's)", "pair", None, ["--one-pass"], WARM),
    ("cp", "yardstick: cp -r + sync of the inputs", "cp", None, [], BOTH),
    ("cold", "yardstick: cold read of the inputs", "cold", None, [], ("cold",)),
]
# (name, projects, regime, numerator, denominator, op, target); op None: reported, no target. A target is judged
# by the far end of the ratio's 90 % interval (issue 26's targets).
TARGETS = [("plugin serial / loop", None, "warm", "b", "a", "<=", 1.03),
           ("parallel=None / serial, plain", None, "warm", "n", "b", "<=", 1.05),
           ("parallel=None / serial, plain", None, "cold", "n", "b", "<=", 1.05),
           ("averaging: parallel=None / serial", ("alma12m",), "warm", "dn", "db", "<=", 0.60),
           ("pair of CASA processes / loop (1-EB members)", ("alma12m",), "warm", "p", "a", "<=", 0.75),
           ("pair of CASA processes / loop (1-EB members)", None, "cold", "p", "a", None, None),
           ("pair, one pass (outputs differ) / loop", None, "warm", "p1", "a", None, None),
           ("plugin serial / cp -r + sync, s per GB the disk moved (no further from the disk)", None, "cold",
            "b+disk", "cp+disk", "<=", 1.0),
           ("plugin serial / cp -r + sync, seconds", None, "cold", "b", "cp", None, None),
           ("plugin serial less the delivery report / loop", None, "warm", "b-report", "a", None, None),
           ("plugin serial / loop", None, "cold", "b", "a", None, None),
           ("parallel=True / serial, plain", None, "warm", "t", "b", None, None),
           ("parallel=True / serial, plain", None, "cold", "t", "b", None, None),
           ("averaging: parallel=None / serial", ("small",), "warm", "dn", "db", None, None),
           ("averaging: parallel=True / serial", None, "warm", "dt", "db", None, None),
           ("plugin serial / cold read", None, "cold", "b", "cold", None, None)]


def disk_rate(run):
    """Bytes the disk read and wrote per second, from the start of the work until its outputs were synced."""
    if run.get("disk_read") is None:
        return float("nan")
    return (run["disk_read"] + run["disk_written"]) / (run["seconds"] + (run.get("sync_seconds") or 0))


def gb_moved(run):
    """GB the disk read and wrote for the work (the block device's counters); nan where unknown."""
    return float("nan") if run.get("disk_read") is None else (run["disk_read"] + run["disk_written"]) / 1e9


def median(values):
    return statistics.median(values) if values else float("nan")


def mode_text(runs):
    """How the plugin ran: the policy's mode and the EBs at once per EB, each run."""
    texts = []
    for r in runs:
        plan = r.get("plan") or {}
        levels = ",".join(str(x) for x in r.get("concurrency") or [] if x)
        texts.append((plan.get("mode", "") + (" " + levels if levels else "")).strip())
    return " / ".join(t for t in texts if t)


def split_key(spec):
    """``'b'``, ``'b-report'`` or ``'b+disk'`` -> ``('b', how)``."""
    for sep in "-+":
        if sep in spec:
            key, _, how = spec.partition(sep)
            return key, sep + how
    return spec, ""


def seconds_of(run, how=""):
    """A run's figure: its seconds; ``-report``: less the delivery report's; ``+disk``: seconds (its outputs'
    sync included) per GB the disk read and wrote, the inverse of its disk rate."""
    if how == "+disk":
        rate = disk_rate(run)
        return 1e9 / rate if rate > 0 else float("nan")
    return run["seconds"] - (run.get("report_seconds") or 0 if how == "-report" else 0)


def figures(results, project, regime, spec):
    """Each round's figure of a measurement named ``<key>[-report|+disk]``, in round order."""
    key, how = split_key(spec)
    return [seconds_of(r, how) for r in results.get((project, regime, key), [])]


def paired_summary(results, project, regime, num, den):
    """``ratio_summary`` of measurement ``num`` over ``den``, round by round."""
    return ratio_summary(figures(results, project, regime, num), figures(results, project, regime, den))


def ratio_text(value):
    return "" if value != value else "%.3f" % value


def table(results, project, regime, input_bytes):
    """One regime's table: each measurement's median seconds and rounds, its ratios to the loop and the yardsticks
    (medians of the ratios round by round), rates, CPU, peak memory and how the plugin ran."""
    cold_regime = regime if results.get((project, regime, "cold")) else "cold"
    lines = ["%s, %s:" % (project, regime), "",
             "| measurement | median s | runs (s) | / loop | / cp -r + sync | / cold read | input GB/s "
             "| disk GB read + written | disk GB/s (sync incl.) | of which delivery report s | own CPU s "
             "| others' CPU s | peak RSS GB: a process / all | mode, EBs at once |",
             "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for key, label, _, _, _, regimes in MEASUREMENTS:
        runs = results.get((project, regime, key))
        if not runs:
            continue
        secs = median([r["seconds"] for r in runs])
        report = median([r["report_seconds"] for r in runs if r.get("report_seconds") is not None])
        mine = [r["seconds"] for r in runs]
        over = [ratio_summary(mine, figures(results, project, where, k))["median"]
                for where, k in ((regime, "a"), (regime, "cp"), (cold_regime, "cold"))]
        lines.append("| %s | %.2f | %s | %s | %s | %s | %.2f | %.1f | %.2f | %s | %.1f | %.1f | %s | %s |" % (
            label, secs, ", ".join("%.2f%s" % (r["seconds"], "*" if r.get("noisy") else "") for r in runs),
            ratio_text(over[0]), ratio_text(over[1]), ratio_text(over[2]), input_bytes / 1e9 / secs,
            median([gb_moved(r) for r in runs]), median([disk_rate(r) / 1e9 for r in runs]),
            "" if report != report else "%.1f" % report, median([r["own_cpu"] for r in runs]),
            median([r["other_cpu"] for r in runs]), peak_text(runs), mode_text(runs)))
    return lines + [""]


def peak_text(runs):
    """The largest resident memory of one measured process and of all of them at once, over the rounds (GB)."""
    one = max([r.get("rss_peak_max") or 0 for r in runs] + [r.get("rss_peak") or 0 for r in runs])
    everyone = max(r.get("rss_peak_sum") or 0 for r in runs)
    return "%.2f / %.2f" % (one / 1e9, everyone / 1e9) if one else ""


def ratios(results, projects):
    """Each ratio: the median of its ratios round by round, the 90 % bootstrap interval of that median, judged
    against the target by the interval's far end; then every round's ratio (the drift of the machine)."""
    lines = []
    for name, only, regime, num, den, op, target in TARGETS:
        for project in projects:
            a, b = (results.get((project, regime, split_key(k)[0])) for k in (num, den))
            if (only and project not in only) or not a or not b:
                continue
            summary = paired_summary(results, project, regime, num, den)
            rounds = "  rounds: %s" % ", ".join("%.3f" % x for x in summary["rounds"])
            label = "%s, %s: %s" % (project, regime, name)
            value = "%.3f [%.3f, %.3f]" % (summary["median"], summary["low"], summary["high"])
            if op is None:
                lines.append("%-72s %s%s" % (label, value, rounds))
            else:
                ok = summary["high"] <= target if op == "<=" else summary["low"] >= target
                lines.append("%-72s %s  (target %s %.2f, interval's %s end)  %s%s" % (
                    label, value, op, target, "upper" if op == "<=" else "lower", "OK" if ok else "MISSED", rounds))
    return lines


def report(results, datasets, args):
    lines = []
    for name, (data, info) in datasets.items():
        sizes = data.eb_sizes()
        lines.append("- %s: %d EBs, %.2f GB (%s; %s GB each)" % (name, len(sizes), sum(sizes.values()) / 1e9,
                     info["shape"], ", ".join("%.2f" % (s / 1e9) for s in sorted(sizes.values()))))
    lines.append("")
    for name, (data, _) in datasets.items():
        for regime in args.regimes:
            lines += table(results, name, regime, sum(data.eb_sizes().values()))
    return lines + ["```"] + ratios(results, list(datasets)) + ["```", ""]


def halves_text(result):
    """A pair's halves: each EB's seconds of the science half and the target half, and the target process's CPU."""
    if "target_seconds" not in result:
        return ""
    return "  halves s: science %s, target %s (its CPU %.1f s)" % (
        ",".join("%.1f" % x for x in result["science_seconds"]), ",".join("%.1f" % x for x in result["target_seconds"]),
        result["half_user_s"] + result["half_system_s"])


def run_line(run, project, regime, label, result):
    return "run %d %s %s %-40s %7.2f s%s%s%s%s  own %.1f, others %.1f, stolen %.1f CPU s%s%s" % (
        run + 1, project, regime, label, result["seconds"],
        "  disk %.1f GB, %.2f GB/s (sync %.1f s)" % (gb_moved(result), disk_rate(result) / 1e9,
                                                    result.get("sync_seconds") or 0) if "disk_read" in result else "",
        "  start-up %.1f s, exit %.1f s" % (result["startup"], result["exit"]) if "startup" in result else "",
        "  MPI set-up %.1f s" % result["mpi_setup"] if result.get("mpi_setup") is not None else "",
        ("  %s" % mode_text([result]) if mode_text([result]) else "") + halves_text(result),
        result["own_cpu"], result["other_cpu"], result["steal"],
        "  peak RSS %s GB" % peak_text([result]) if peak_text([result]) else "", " (NOISY)" if result["noisy"] else "")
