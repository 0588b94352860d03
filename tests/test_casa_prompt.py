"""The real CASA prompt (casashell): startup file -> init.py -> the three functions and the recipes."""

import glob
import json
import os
import shutil

import pytest

from casa_helpers import flag_versions
from conftest import REPO, run_casa

pytestmark = pytest.mark.casa

INIT = os.path.join(REPO, "init.py")


def _startup(tmp_path, init=INIT, pipeline=True):
    path = tmp_path / "startup.py"
    lines = ["exec(compile(open(%r).read(), %r, 'exec'))" % (init, init)]
    if pipeline:  # what `casa --pipeline` gives; the stand-in is only for tests and the demo
        lines.append("from casa_plugin.pipeline_standin import load_into; load_into(globals())")
    path.write_text("\n".join(lines) + "\n")
    return path


def _outputs(project):
    return sorted(os.path.relpath(p, project) for p in
                  glob.glob(os.path.join(project, "*", "*", "*", "calibrated", "uid*.ms.split.cal*")))


def test_functions_at_the_prompt_from_the_startup_file(delivery, tmp_path):
    script = tmp_path / "run.py"
    report = tmp_path / "report.json"
    script.write_text(
        "import json, casa_plugin\n"
        "r = restore_pi(member=%r)\n"
        "s = split_sci(vis=%r)\n"
        "t = split_tgt(vis=%r)\n"
        "taskhelp()\n"
        "json.dump({'restore': r['counts'], 'sci': s['counts'], 'tgt': t['counts'],\n"
        "           'package': casa_plugin.__file__}, open(%r, 'w'))\n"
        % (delivery["project"], delivery["project"], delivery["project"], str(report)))
    proc = run_casa(script, tmp_path, startup=_startup(tmp_path))
    assert proc.returncode == 0, proc.stdout[-3000:]
    result = json.loads(report.read_text())
    assert result["restore"] == {"restored": 2}
    assert result["sci"] == {"split": 3} and result["tgt"] == {"split": 3}
    assert "[1/3] uid___A002_Xf9a1c3_X1b2e.ms -> uid___A002_Xf9a1c3_X1b2e.ms.split.cal (spw 1,3,5,7" in proc.stdout
    for name in ("restore_pi", "split_sci", "split_tgt"):  # listed by taskhelp()
        assert "%s : " % name in proc.stdout
    assert len(_outputs(delivery["project"])) == 3 * 4  # .split.cal, .source and their .flagversions


def test_init_works_without_pip_install(tmp_path, restored):
    """A monolithic CASA has no pip install: init.py puts its own directory on sys.path."""
    copy = tmp_path / "unpacked"
    shutil.copytree(os.path.join(REPO, "casa_plugin"), str(copy / "casa_plugin"))
    shutil.copy(INIT, str(copy / "init.py"))
    script = tmp_path / "where.py"
    script.write_text("import casa_plugin\nprint('PACKAGE', casa_plugin.__file__)\n"
                      "print('DRY', split_sci(vis=%r, dryrun=True)['counts'])\n" % restored["project"])
    proc = run_casa(script, tmp_path, startup=_startup(tmp_path, init=str(copy / "init.py"), pipeline=False))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "PACKAGE %s" % (copy / "casa_plugin" / "__init__.py") in proc.stdout
    assert "DRY {'planned': 3}" in proc.stdout


def test_recipe_by_execfile_twice(delivery, tmp_path):
    """In a script (a copy of the prompt's namespace) the settings reach the recipe via execfile(f, globals())."""
    recipe = os.path.join(REPO, "recipes", "restore_and_split.py")
    elsewhere = tmp_path / "elsewhere"  # the cwd holds no data: only PROJECT can point at it
    elsewhere.mkdir()
    script = tmp_path / "twice.py"
    script.write_text("PROJECT = %r\nexecfile(%r, globals())\nexecfile(%r, globals())\n"
                      "assert split['sci']['counts'] == {'done': 3}\n" % (delivery["project"], recipe, recipe))
    proc = run_casa(script, elsewhere, startup=_startup(tmp_path))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "split_sci: 3 split" in proc.stdout and "split_sci: 3 done" in proc.stdout
    assert "split_tgt: 3 split" in proc.stdout and "split_tgt: 3 done" in proc.stdout
    assert "uid___A002_Xf8f6a9_X15c79  restored" in proc.stdout  # the summary table
    for out in _outputs(delivery["project"]):
        if not out.endswith(".flagversions"):
            assert flag_versions(os.path.join(delivery["project"], out)) == ["original_flags"]


def test_split_recipe_by_casa_c_with_a_project_argument(restored, tmp_path):
    recipe = os.path.join(REPO, "recipes", "split_only.py")
    proc = run_casa(recipe, tmp_path, startup=_startup(tmp_path, pipeline=False), args=[restored["project"]])
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "split_tgt: 3 split" in proc.stdout
    assert len(_outputs(restored["project"])) == 12


def test_recipe_without_the_pipeline_fails_clearly(delivery, tmp_path):
    recipe = os.path.join(REPO, "recipes", "restore_and_split.py")
    proc = run_casa(recipe, tmp_path, startup=_startup(tmp_path, pipeline=False), args=[delivery["project"]])
    assert proc.returncode != 0
    assert "start CASA with the pipeline: casa --pipeline" in proc.stdout
    assert not glob.glob(os.path.join(delivery["project"], "*", "*", "*", "calibrated"))
