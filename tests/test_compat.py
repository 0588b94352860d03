"""tools/compat.py and tools/check_py36.py, which `make test` runs for the old CASA lines: what they do on a
machine without the old Pythons, and the CI state they give the tests (issue 23, case 14)."""

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.path.join(REPO, "tools")


def _bare(tmp_path, ci):
    """The environment of a machine with no pyenv and no pythonX.Y on the PATH, CI set or not."""
    empty = tmp_path / "empty"
    empty.mkdir(exist_ok=True)
    env = dict(os.environ, PYENV_ROOT=str(empty), PATH=str(empty), COMPAT_DIR=str(tmp_path / "compat"))
    env.pop("CI", None)
    if ci:
        env["CI"] = "1"
    return env


def _run(script, args, env, cwd):
    return subprocess.run([sys.executable, os.path.join(TOOLS, script)] + args, env=env, cwd=str(cwd),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=120)


@pytest.mark.subprocess
@pytest.mark.parametrize("script, args, python", [
    ("check_py36.py", [], "3.6"),
    ("compat.py", ["--only", "casa-6.2.0-py38"], "3.8"),
])
def test_a_missing_old_python_skips_outside_ci_and_fails_under_it(tmp_path, script, args, python):
    """On a bare machine `make test`'s old lines say they are skipped and why, exit 0 and leave no stamp
    (they run once the Python is there); under CI they fail."""
    stamp = tmp_path / "line.passed"
    proc = _run(script, args + ["--stamp", str(stamp)], _bare(tmp_path, ci=False), tmp_path)
    assert proc.returncode == 0, proc.stdout
    assert "skipped outside CI: no Python %s (pyenv install %s" % (python, python) in proc.stdout
    assert not stamp.exists()
    proc = _run(script, args + ["--stamp", str(stamp)], _bare(tmp_path, ci=True), tmp_path)
    assert proc.returncode != 0 and "no Python %s" % python in proc.stdout, proc.stdout
    assert "skipped outside CI" not in proc.stdout and not stamp.exists()


def test_an_old_line_runs_its_tests_with_the_callers_ci_state(monkeypatch):
    """compat.py set CI=1 for every line, so the CASA 6.2 line failed the browser tests on a machine without
    Chromium; CI now reaches the tests as the caller has it."""
    monkeypatch.syspath_prepend(TOOLS)
    import compat
    line = compat.Line(*compat.LINES[1])
    monkeypatch.delenv("CI", raising=False)
    assert "CI" not in line.env({})
    monkeypatch.setenv("CI", "true")
    assert line.env({})["CI"] == "true"


def test_a_line_whose_casa_tests_skipped_is_counted(tmp_path, monkeypatch):
    """Outside CI conftest.py skips CASA tests when casatools does not import; compat.py counts those skips
    (and fails the line), so a line with a broken CASA cannot pass by skipping."""
    monkeypatch.syspath_prepend(TOOLS)
    import compat
    junit = tmp_path / "junit.xml"
    junit.write_text("<testsuite tests='2' failures='0' errors='0' skipped='1'><testcase classname='a' name='b'>"
                     "<skipped message='casatools not installed (outside CI only)'/></testcase>"
                     "<testcase classname='a' name='c'/></testsuite>")
    assert compat.parse_junit(str(junit))["no_casa"] == 1
