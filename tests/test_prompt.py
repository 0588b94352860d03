"""The real CASA prompt (casashell): startup file -> init.py -> the three functions and the recipes."""

import json
import os
import re
import shutil
import sys

import pytest

from prompt_helpers import INIT, REPO, casashell_startup_args, run_casa, split_outputs, startup_file

pytestmark = [pytest.mark.casa, pytest.mark.subprocess]



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
    proc = run_casa(script, tmp_path, startup=startup_file(tmp_path))
    assert proc.returncode == 0, proc.stdout[-3000:]
    result = json.loads(report.read_text())
    assert result["restore"] == {"restored": 2}
    assert result["sci"] == {"split": 3} and result["tgt"] == {"split": 3}
    assert ": uid___A002_Xf9a1c3_X1b2e.ms -> uid___A002_Xf9a1c3_X1b2e.ms.split.cal (spw 1,3,5,7" in proc.stdout
    assert "[1/3] member uid___A001_X15a2_Xb6b: uid___A002_Xf9a1c3_X1b2e.ms" in proc.stdout
    for name in ("restore_pi", "split_sci", "split_tgt"):  # listed by taskhelp()
        assert "%s : " % name in proc.stdout
    assert len(split_outputs(delivery["project"])) == 3 * 4  # .split.cal, .source and their .flagversions


def test_init_works_without_pip_install(tmp_path, restored):
    """A monolithic CASA has no pip install: init.py puts its own directory on sys.path."""
    copy = tmp_path / "unpacked"
    shutil.copytree(os.path.join(REPO, "casa_plugin"), str(copy / "casa_plugin"))
    shutil.copy(INIT, str(copy / "init.py"))
    script = tmp_path / "where.py"
    script.write_text("import casa_plugin\nprint('PACKAGE', casa_plugin.__file__)\n"
                      "print('DRY', split_sci(vis=%r, dryrun=True)['counts'])\n" % restored["project"])
    proc = run_casa(script, tmp_path, startup=startup_file(tmp_path, init=str(copy / "init.py"), pipeline=False))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "PACKAGE %s" % (copy / "casa_plugin" / "__init__.py") in proc.stdout
    assert "DRY {'planned': 3}" in proc.stdout


def test_init_adds_the_three_functions_and_nothing_else(tmp_path):
    """init.py runs in the prompt's namespace: names the user's startup file defined stay as they were."""
    startup = tmp_path / "startup.py"
    startup.write_text(
        "_os = 'mine'\n_sys = 'mine'\n_inspect = 'mine'\n__doc__ = 'my doc'\n_before = dict(globals())\n"
        "exec(compile(open(%r).read(), %r, 'exec'))\n"
        "_after = dict(globals())\n"
        # __warningregistry__: the line's open(P).read() leaves a file to be closed (a ResourceWarning)
        "_added = sorted(set(_after) - set(_before) - {'_before', '__warningregistry__'})\n"
        "_changed = sorted(k for k in _before if k != '_before' and (k not in _after or _after[k] is not _before[k]))\n"
        % (INIT, INIT))
    script = tmp_path / "check.py"  # prints from CASA's startup files do not reach the terminal
    script.write_text("print('ADDED', _added)\nprint('CHANGED', _changed)\nprint('MINE', _os, _sys, _inspect)\n")
    proc = run_casa(script, tmp_path, startup=startup)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "ADDED ['restore_pi', 'split_sci', 'split_tgt']" in proc.stdout
    assert "CHANGED []" in proc.stdout
    assert "MINE mine mine mine" in proc.stdout


def _readme_block(after):
    """The first indented command of the README that follows the text ``after``."""
    with open(os.path.join(REPO, "README.md")) as f:
        text = f.read()
    rest = text[text.index(after) + len(after):]
    (line,) = [x for x in rest.split("\n\n")[1].splitlines() if x.startswith("    ")][:1]
    return line.strip()


def _readme_startup_line(init=INIT):
    line = _readme_block("Add one line to CASA's startup file")
    assert line.startswith("exec(compile(open('/path/to/casa_plugin/init.py')")
    return line.replace("/path/to/casa_plugin/init.py", init)


def _spawn(command, cwd, home):
    pexpect = pytest.importorskip("pexpect")
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["HOME"] = str(home)
    child = pexpect.spawn(command[0], command[1:], cwd=str(cwd), env=env, encoding="utf-8",
                          timeout=60, dimensions=(50, 200))
    child.expect(_PROMPT % 1)
    return child


_ANSI = r"\x1b\[[0-9;?]*[A-Za-z]"  # the prompt's colours and cursor moves
_ESCAPE = "(?:%s)*" % _ANSI
_PROMPT = "CASA <" + _ESCAPE + "%d" + _ESCAPE + ">: "


def _run_at(child, statement, number):
    """Type ``statement`` at the prompt; return the lines it printed (not the echoed input)."""
    child.sendline(statement)
    child.expect(_PROMPT % number)
    text = re.sub(_ANSI, "", child.before).replace("\r", "")
    return [x for x in text.splitlines() if x.strip() and statement not in x]


def test_venv_prompt_as_the_readme_says_reads_the_users_startup_file(tmp_path):
    """`.venv/bin/python -m casashell` in a venv set up as `make setup` does; HOME is a temporary one."""
    from prompt_helpers import casashell_has_startupfile
    from test_install import make_venv
    if not casashell_has_startupfile():
        pytest.skip("casashell before 6.6 keeps its IPython history in ~/.casa (its rcdir): not the venv's set-up")
    command = _readme_block("CASA prompt, from the clone's directory:")
    assert command == ".venv/bin/python -m casashell"
    venv = make_venv(tmp_path)
    home = tmp_path / "home"
    (home / ".casa").mkdir(parents=True)
    startup = home / ".casa" / "startup.py"
    startup.write_text(_readme_startup_line() + "\n")
    before = startup.read_text()
    clone = tmp_path / "clone"  # where the user types the command: its .venv is the test's venv
    clone.mkdir()
    os.symlink(venv["venv"], str(clone / ".venv"))
    child = _spawn(["/bin/sh", "-c", command], clone, home)  # typed in a shell, as written
    try:
        out = _run_at(child, "print('FOUND', [n for n in ('restore_pi', 'split_sci', 'split_tgt') "
                             "if callable(globals().get(n))])", 2)
        assert out == ["FOUND ['restore_pi', 'split_sci', 'split_tgt']"]
        standin = _readme_block("load the project's stand-in at that prompt first:")
        out = _run_at(child, standin + "; print('PIPELINE', callable(h_init))", 3)
        assert out == ["PIPELINE True"]
        child.sendline("exit")
        child.expect(pytest.importorskip("pexpect").EOF)
    finally:
        child.close(force=True)
    assert sorted(os.listdir(str(home / ".casa"))) == ["startup.py"] and startup.read_text() == before
    assert os.path.isfile(os.path.join(venv["venv"], "casa-cache", "ipython", "history.sqlite"))


def test_a_task_error_at_the_prompt_shows_its_message_first(tmp_path):
    """At the interactive prompt: the message and one line, not ~35 lines of traceback; the session goes on."""
    home = tmp_path / "home"
    home.mkdir()
    logfile = tmp_path / "casa.log"
    command = [sys.executable, "-m", "casashell", "--nologger", "--nogui", "--logfile", str(logfile)]
    command += casashell_startup_args(startup_file(tmp_path, pipeline=False), tmp_path)
    child = _spawn(command, tmp_path, home)
    try:
        lines = _run_at(child, "split_sci(vis='/no/such/path.ms')", 2)
        assert lines == ["FileNotFoundError: /no/such/path.ms: no such file or directory; "
                         "give an MS, a glob or a directory",
                         "[split_sci failed; traceback in the CASA log (%s); %%tb shows it here]" % logfile]
        out = "\n".join(_run_at(child, "%tb", 3))  # the traceback, at the prompt, when asked for
        assert "Traceback" in out and "_expand_one" in out
        assert _run_at(child, "print('NEXT', 6 * 7)", 4) == ["NEXT 42"]
        out = "\n".join(_run_at(child, "int('x')", 5))  # any other error: IPython's usual traceback
        assert "ValueError" in out and "Traceback" in out
    finally:
        child.close(force=True)
    log = logfile.read_text()
    assert "Traceback (most recent call last)" in log and "in split_sci" in log
