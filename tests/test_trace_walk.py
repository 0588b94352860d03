"""tools/trace_walk.py: the modules a task call enters, in order, and the calls that climb back up the layers."""

import io
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import trace_walk  # noqa: E402

pytestmark = pytest.mark.casa


def test_layer_of_takes_the_longest_prefix():
    assert trace_walk.layer_of("casa_plugin.split.tasks") == 2
    assert trace_walk.layer_of("casa_plugin.split.selection") == 5
    assert trace_walk.layer_of("casa_plugin.parallel") == 3 and trace_walk.layer_of("casa_plugin.parallel._casampi") == 6
    assert trace_walk.layer_of("numpy") is None


def test_a_split_sci_walk_starts_at_the_task_and_reaches_the_job(restored):
    walk = trace_walk.trace("split_sci", restored["project"])
    assert walk.entered[0] == "casa_plugin.split.tasks"
    assert walk.entered.index("casa_plugin.runner") < walk.entered.index("casa_plugin.split.jobs")
    out = io.StringIO()
    trace_walk.report(walk, calls=True, out=out)
    text = out.getvalue()
    assert "modules entered, in order (layer):\n  casa_plugin.split.tasks (2)\n" in text
    assert "calls that climb back up the layer order: %d module pairs" % len(walk.upward) in text
    for (source, module) in walk.upward:  # each one reported really climbs
        assert trace_walk.layer_of(module) < trace_walk.layer_of(source)
    assert not walk.upward, "split_sci climbs back up the layers: %s" % sorted(walk.upward)


def test_every_module_has_a_layer_and_the_top_level_holds_the_data_flow():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "casa_plugin")
    top = sorted(name[:-3] for name in os.listdir(root) if name.endswith(".py") and name != "__init__.py")
    assert len(top) <= 10, "the top level holds %d modules: %s" % (len(top), top)
    modules = ["casa_plugin." + name for name in top]
    for package in sorted(os.listdir(root)):
        if package != "testing" and os.path.isfile(os.path.join(root, package, "__init__.py")):
            modules += ["casa_plugin.%s.%s" % (package, name[:-3]) for name in os.listdir(os.path.join(root, package))
                        if name.endswith(".py") and name != "casa5_wrapper.py"]
    assert [module for module in modules if trace_walk.layer_of(module) is None] == []
