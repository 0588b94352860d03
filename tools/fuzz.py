"""Run the stateful test (tests/test_stateful.py) for MINUTES, from SEED on, and report every failure found.

``make fuzz MINUTES=30 SEED=1``: one pytest run per seed (SEED, SEED+1, ...),
each with a larger budget than ``make test``'s, until the time is up. A
failing seed prints Hypothesis's shrunk sequence of calls (the shortest it
found) and is listed at the end with the command that reproduces it.
Reproducible: the same seed and budget give the same sequences.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_seed(seed, examples, steps, log_dir, seconds):
    """Run the stateful test for one seed, for at most ``seconds``; return (outcome, examples and steps run, log).

    ``outcome`` is 'passed', 'FAILED' or 'cut' (the time was up before its last example; none failed).
    """
    counts = os.path.join(log_dir, "steps-%d.txt" % seed)
    env = dict(os.environ, CASA_PLUGIN_STATEFUL_SEED=str(seed), CASA_PLUGIN_STATEFUL_EXAMPLES=str(examples),
               CASA_PLUGIN_STATEFUL_STEPS=str(steps), CASA_PLUGIN_STATEFUL_COUNTS=counts)
    log = os.path.join(log_dir, "seed-%d.log" % seed)
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x",
                                 os.path.join(REPO, "tests", "test_stateful.py")], cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
        try:
            outcome = "passed" if proc.wait(timeout=max(seconds, 1)) == 0 else "FAILED"
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait()
            outcome = "cut"
    done = [int(n) for n in open(counts).read().split()] if os.path.isfile(counts) else []
    return outcome, (len(done), sum(done)), log


_INVARIANTS = ("no_partial_outputs", "outputs_equal_the_loops", "records_list_every", "report_numbers_are")


def shortest_sequence(log):
    """The failure and the (shrunk) sequence of calls Hypothesis printed for it, without the invariant lines."""
    keep = []
    with open(log) as f:
        for line in f:
            text = line.rstrip()
            body = text.lstrip("E| ").strip()
            if "AssertionError" in text or "Failing test case" in text or "distinct failures" in text or \
                    (body.startswith(("split_", "restore_pi(", "user: ", "delivery: ")) and
                     not any(name in body for name in _INVARIANTS)):
                keep.append("  " + body[:400])
    return "\n".join(keep) or "  (no sequence found in the log; see it)"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--examples", type=int, default=25, help="examples per seed (make test: 12)")
    parser.add_argument("--steps", type=int, default=20, help="steps per example (make test: 15)")
    args = parser.parse_args(argv)
    log_dir = tempfile.mkdtemp(prefix="casa_plugin-fuzz-")
    stop, seed, failures, totals = time.time() + args.minutes * 60, args.seed, [], [0, 0]
    print("fuzz: %.0f min from seed %d, %d examples x %d steps per seed; logs in %s" % (
        args.minutes, args.seed, args.examples, args.steps, log_dir), flush=True)
    while time.time() < stop:
        start = time.time()
        outcome, (examples, steps), log = run_seed(seed, args.examples, args.steps, log_dir, stop - start)
        totals[0] += examples
        totals[1] += steps
        print("fuzz: seed %d: %s, %d examples, %d steps, %.0f s" % (
            seed, {"FAILED": "FAILED (%s)" % log, "cut": "cut at the time limit, none failed"}.get(outcome, outcome),
            examples, steps, time.time() - start), flush=True)
        if outcome == "FAILED":
            failures.append((seed, log))
            print(shortest_sequence(log))
        seed += 1
    print("fuzz: %d seeds (%d-%d), %d examples, %d steps, %d failed%s" % (
        seed - args.seed, args.seed, seed - 1, totals[0], totals[1], len(failures),
        "".join("\n  seed %d: CASA_PLUGIN_STATEFUL_SEED=%d CASA_PLUGIN_STATEFUL_EXAMPLES=%d "
                "CASA_PLUGIN_STATEFUL_STEPS=%d .venv/bin/python -m pytest tests/test_stateful.py  (log %s)"
                % (s, s, args.examples, args.steps, l) for s, l in failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
