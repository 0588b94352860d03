"""A server's worker imports casatasks without its hundred tasks, and its splits are those of the whole package."""

import glob
import json
import os
import subprocess
import sys

import pytest

from casa_helpers import assert_same_ms
from prompt_helpers import REPO

pytestmark = [pytest.mark.casa, pytest.mark.subprocess]

_PROBE = r"""
import json, sys
sys.path.insert(0, %(repo)r)
from casa_plugin.parallel.lean_casatasks import import_casatasks
casatasks, how = import_casatasks(%(keep)s)
from casatasks.split import split
from casatasks import listobs
out = {"how": how, "split_is_the_task": casatasks.split is split and callable(split),
       "flagmanager": callable(casatasks.flagmanager), "listobs": callable(listobs) and type(listobs).__name__,
       "version": casatasks.version_string(), "casalog": type(casatasks.casalog).__name__,
       "tclean_loaded": "casatasks.tclean" in sys.modules}
if %(vis)r:
    from casa_plugin.ms import casa
    casa.split(vis=%(vis)r, outputvis=%(out)r, spw="0", datacolumn="corrected", keepflags=True)
print("PROBE " + json.dumps(out))
"""


def _run(code, tmp_path):
    """Run ``code`` in a new Python; return what its last ``PROBE `` line says."""
    env = dict(os.environ, PYTHONPATH="")
    proc = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path), env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=300)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("PROBE ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:]
    return lines[-1][len("PROBE "):]


def _probe(tmp_path, keep="", vis="", out=""):
    return json.loads(_run(_PROBE % {"repo": REPO, "keep": keep, "vis": vis, "out": out}, tmp_path))


def _full_version(tmp_path):
    return _run("import casatasks; print('PROBE ' + casatasks.version_string())", tmp_path)


def test_lean_import_has_the_worker_tasks_the_log_and_the_rest_on_demand(tmp_path):
    got = _probe(tmp_path)
    assert got["how"] == "lean"
    assert got["split_is_the_task"] and got["flagmanager"]
    assert got["listobs"] == "_listobs"  # a left-out task, imported on first use as the task object
    assert got["casalog"] == "logsink"
    assert got["version"] == _full_version(tmp_path)
    assert not got["tclean_loaded"]  # the point: the other tasks were not imported


def test_when_the_lean_import_cannot_work_the_whole_package_is_imported(tmp_path):
    got = _probe(tmp_path, keep="('no_such_task',)")
    assert got["how"].startswith("full (ImportError")
    assert got["tclean_loaded"] and got["split_is_the_task"]


def test_a_split_in_a_lean_worker_equals_one_with_the_whole_package(calibrated_dirs, tmp_path):
    vis = sorted(glob.glob(os.path.join(calibrated_dirs[0], "uid*.ms")))[0]
    lean, full = str(tmp_path / "lean.ms"), str(tmp_path / "full.ms")
    assert _probe(tmp_path, vis=vis, out=lean)["how"] == "lean"
    assert _probe(tmp_path, keep="('no_such_task',)", vis=vis, out=full)["how"].startswith("full")
    assert_same_ms(lean, full)
