"""logs.py: casalog origins are the task's name, each line reaches the terminal once."""

import os
import subprocess
import sys

import pytest

from casa_plugin import restore_pi, split_sci
from prompt_helpers import REPO, casashell_startup_args, run_casa

pytestmark = [pytest.mark.casa, pytest.mark.subprocess]

INIT = os.path.join(REPO, "init.py")


def _casalog():
    from casatasks import casalog
    return casalog


def _new_lines(logfile, start):
    with open(logfile) as f:
        f.seek(start)
        return f.read().splitlines()


def _origins(lines, text):
    """The origin column (``task::function::casa``) of casalog's lines holding ``text``."""
    found = [line.split("\t")[2] for line in lines if text in line and line.count("\t") >= 3]
    assert found, "no casalog line holds %r" % text
    return found


@pytest.fixture
def prompt_origin():
    """casalog's origin as a CASA prompt has it, put back afterwards."""
    log = _casalog()
    before = log.getOrigin() if hasattr(log, "getOrigin") else "casa"  # CASA 6.2's logsink has no getter
    log.origin("casa")
    yield log
    log.origin(before)


def test_split_sci_lines_keep_the_task_name_after_flagmanager(calibrated_dirs, prompt_origin):
    logfile = prompt_origin.logfile()
    start = os.path.getsize(logfile)
    split_sci(vis=calibrated_dirs[1])  # runs split and flagmanager, which set casalog's origin
    lines = _new_lines(logfile, start)
    assert any(line.split("\t")[2].startswith("flagmanager") for line in lines if line.count("\t") >= 3)
    for text in ("[1/2] member uid___", "[2/2] member uid___", "split_sci: 2 split"):
        assert set(_origins(lines, text)) == {"split_sci::split_sci::casa"}


def test_restore_pi_lines_are_posted_under_restore_pi(delivery, casa_session, prompt_origin):
    logfile = prompt_origin.logfile()
    start = os.path.getsize(logfile)
    member = sorted(delivery["members"])[1]
    restore_pi(member=member)
    lines = _new_lines(logfile, start)
    assert set(_origins(lines, "[1/1] ")) == {"restore_pi::restore_pi::casa"}


def test_a_post_puts_casalogs_origin_back(prompt_origin):
    from casa_plugin.logs import casalog_post
    logfile = prompt_origin.logfile()
    start = os.path.getsize(logfile)
    casalog_post("A POSTED LINE", "split_tgt")
    assert _origins(_new_lines(logfile, start), "A POSTED LINE") == ["split_tgt::split_tgt::casa"]
    if hasattr(prompt_origin, "getOrigin"):  # CASA 6.2 cannot tell its origin: then it is not put back
        assert prompt_origin.getOrigin() == "casa"
    else:
        casalog_post("ANOTHER LINE", "split_sci")  # each post still carries its own task's name
        assert _origins(_new_lines(logfile, start), "ANOTHER LINE") == ["split_sci::split_sci::casa"]


@pytest.mark.parametrize("log2term", [True, False])
def test_each_line_reaches_the_terminal_once(restored, tmp_path, log2term):
    startup = tmp_path / "startup.py"
    startup.write_text("exec(compile(open(%r).read(), %r, 'exec'))\n" % (INIT, INIT))
    script = tmp_path / "dry.py"
    script.write_text("import logging\nsplit_sci(vis=%r, dryrun=True)\n"
                      "from casa_plugin.logs import task_logging\n"
                      "with task_logging('split_sci'):\n"
                      "    logging.getLogger('casa_plugin.test').warning('A WARNING LINE')\n" % restored["project"])
    proc = run_casa(script, tmp_path, startup=startup) if log2term else _run_casa_quiet(script, tmp_path, startup)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert proc.stdout.count("split_sci: 3 planned") == 1, proc.stdout[-3000:]
    assert proc.stdout.count("A WARNING LINE") == 1, proc.stdout[-3000:]


def _run_casa_quiet(script, cwd, startup):
    """run_casa without --log2term: casalog prints only WARN and SEVERE posts itself."""
    cmd = [sys.executable, "-m", "casashell", "--nologger", "--nogui", "--nologfile"]
    cmd += casashell_startup_args(startup, cwd) + ["-c", str(script)]
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["HOME"] = str(cwd)
    return subprocess.run(cmd, cwd=str(cwd), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=600)
