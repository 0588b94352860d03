"""Trace one task call and print the walk through casa_plugin's modules: the order they are entered in, and every
call that climbs back up the layer order below (issue 25: a newcomer should be able to follow ``vis`` down).

    .venv/bin/python tools/trace_walk.py split_sci          # on a small synthetic delivery, restored first
    .venv/bin/python tools/trace_walk.py split_tgt --calls  # also each upward call's functions

The layers, top (what the user calls) to bottom (what everything uses); a module not listed is reported as such:

1. the CASA-facing layer: registration at the prompt, the task protocol, recipe settings, the session; the batch
   cluster's commands and the member job that calls the tasks;
2. the tasks: ``split.tasks``, ``restore.task``;
3. orchestration: the runner, the parallel policy and client, the member scheduler;
4. the per-EB and per-member jobs, and what runs them on a server;
5. the stages' own helpers: selection, contents, numbering, preflight, postflight, the report's parts;
6. the foundations: delivery layout, MS reading, records, flags, staging, logs, errors, the CASA adapter.

Only the serial path is traced (one process; ``sys.setprofile`` sees the current thread).
"""

import argparse
import os
import sys
import tempfile
from collections import OrderedDict

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: Layer of each module (by prefix, longest first), 1 = top.
LAYERS = OrderedDict([
    ("casa_plugin.prompt", 1), ("casa_plugin.cluster", 1), ("casa_plugin.__main__", 1),
    ("casa_plugin.cluster.members", 5), ("casa_plugin.cluster.jobs_record", 6), ("casa_plugin.cluster.scheduler", 6),
    ("casa_plugin.split.tasks", 2), ("casa_plugin.restore.task", 2),
    ("casa_plugin.runner", 3), ("casa_plugin.parallel.policy", 3), ("casa_plugin.parallel.client", 3),
    ("casa_plugin.restore.side_by_side", 3), ("casa_plugin.restore.concurrency", 3),
    ("casa_plugin.split.jobs", 4), ("casa_plugin.parallel.calls", 4), ("casa_plugin.parallel.worker", 4),
    ("casa_plugin.parallel.server", 4), ("casa_plugin.restore.member_job", 4), ("casa_plugin.restore.external", 4),
    ("casa_plugin.split", 5), ("casa_plugin.restore", 5), ("casa_plugin.delivery_report", 5),
    ("casa_plugin.report", 5), ("casa_plugin.delivery.arrays", 5), ("casa_plugin.plan", 5),
    ("casa_plugin.delivery", 6), ("casa_plugin.ms", 6), ("casa_plugin.record", 6), ("casa_plugin.flags", 6),
    ("casa_plugin.staging", 6), ("casa_plugin.logs", 6), ("casa_plugin.errors", 6),
    ("casa_plugin.parallel._casampi", 6), ("casa_plugin.parallel.lean_casatasks", 6),
    ("casa_plugin.parallel", 3),  # the package itself: run_jobs
])


def layer_of(module):
    """The layer of ``module`` (1 top .. 6 bottom), or None for one outside casa_plugin or not listed."""
    for prefix in sorted(LAYERS, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return LAYERS[prefix]
    return None


class Walk(object):
    """What a traced call entered: modules in order, and the upward calls (caller layer below callee's)."""

    def __init__(self):
        self.entered, self.upward = [], OrderedDict()

    def profile(self, frame, event, arg):
        if event != "call":
            return
        module = frame.f_globals.get("__name__", "")
        if not module.startswith("casa_plugin") or module.startswith("casa_plugin.testing"):
            return
        if module not in self.entered:
            self.entered.append(module)
        caller = frame.f_back
        while caller is not None and not caller.f_globals.get("__name__", "").startswith("casa_plugin"):
            caller = caller.f_back  # through CASA's or the stdlib's frames, to the casa_plugin code that called
        if caller is None:
            return
        source = caller.f_globals["__name__"]
        up, down = layer_of(module), layer_of(source)
        if up is not None and down is not None and up < down:
            key = (source, module)
            calls = self.upward.setdefault(key, OrderedDict())
            name = "%s -> %s" % (caller.f_code.co_name, frame.f_code.co_name)
            calls[name] = calls.get(name, 0) + 1


def _delivery(workdir):
    from casa_plugin.testing.pipeline_standin import restore_with_standin
    from casa_plugin.testing.synthetic_delivery import make_delivery
    info = make_delivery(workdir, small=True)
    restore_with_standin(info["project"])
    return info["project"]


def trace(task, project):
    """Run ``task(vis=project)`` under the profiler; return its :class:`Walk`."""
    import casa_plugin
    func = getattr(casa_plugin, task)
    walk = Walk()
    sys.setprofile(walk.profile)
    try:
        func(vis=project)
    finally:
        sys.setprofile(None)
    return walk


def report(walk, calls=False, out=sys.stdout):
    print("modules entered, in order (layer):", file=out)
    for module in walk.entered:
        print("  %s (%s)" % (module, layer_of(module) or "not in the layer list"), file=out)
    print("calls that climb back up the layer order: %d module pairs" % len(walk.upward), file=out)
    for (source, module), names in walk.upward.items():
        print("  %s (%s) -> %s (%s): %d calls" % (source, layer_of(source), module, layer_of(module),
                                                 sum(names.values())), file=out)
        if calls:
            for name, n in names.items():
                print("      %s x%d" % (name, n), file=out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=("split_sci", "split_tgt", "split_sci_tgt"))
    parser.add_argument("--project", help="a restored project (default: a small synthetic one, made here)")
    parser.add_argument("--calls", action="store_true", help="also list each upward call's functions")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="casa_plugin-trace-") as tmp:
        project = args.project or _delivery(tmp)
        if args.task == "split_tgt" and not args.project:
            import casa_plugin
            casa_plugin.split_sci(vis=project)
        report(trace(args.task, project), calls=args.calls)
    return 0


if __name__ == "__main__":
    sys.exit(main())
