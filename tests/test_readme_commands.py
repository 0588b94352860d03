"""The README's Recipes and Parallel runs commands, run as written (only the placeholders substituted)."""

import glob
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys

import pytest

from prompt_helpers import REPO

pytestmark = [pytest.mark.casa, pytest.mark.subprocess]

README = os.path.join(REPO, "README.md")
VENV_BIN = os.path.dirname(sys.executable)
PROJECT = "/data/2021.1.00690.S"  # the README's placeholder project: a restored delivery copy here
CLONE = "/path/to/casa_plugin"  # the README's placeholder clone: this repository
TRY_ROOT = "/tmp/try"  # where the README builds a synthetic delivery: a test directory here
TIMEOUT = 600
#: Programs a machine like this one lacks, whose commands the README gives for a CASA release.
NOT_HERE = ("mpicasa",)


def _section(text, title):
    """The text of the README's ``## title`` section up to the next ``##`` or ``###`` heading."""
    start = text.index("\n## %s\n" % title)
    match = re.compile(r"^##+ ", re.M).search(text, start + 4)
    return text[start:match.start() if match else len(text)]


def _indented_blocks(section):
    """The README's indented (4-space) code blocks, each as a list of lines."""
    blocks, current = [], []
    for line in section.splitlines() + [""]:
        if line.startswith("    "):
            current.append(line[4:])
        elif not line.strip() and current:
            current.append("")
        else:
            if current:
                blocks.append(current)
            current = []
    blocks.append(current)
    return [[ln for ln in b if ln.strip()] for b in blocks if any(ln.strip() for ln in b)]


def _readme_commands():
    """``(kind, text)``: ``('shell', command line)`` or ``('prompt', python lines)`` of the two sections."""
    with open(README) as f:
        text = f.read()
    found = []
    for title in ("Recipes", "Parallel runs"):
        for block in _indented_blocks(_section(text, title)):
            if any("execfile(" in ln for ln in block):
                found.append(("prompt", "\n".join(block)))
                continue
            for line in block:
                words = line.split()
                if words and (words[0] in ("casa", "mpirun") + NOT_HERE or words[0].startswith(".venv/bin/")):
                    found.append(("shell", line))
    return found


def _venv_casa_is_documented():
    with open(README) as f:
        flat = " ".join(f.read().split())
    return "`casa` is `.venv/bin/python -m casashell`" in flat


COMMANDS = _readme_commands()


def test_the_readme_gives_the_commands_this_test_runs():
    kinds = [kind for kind, _ in COMMANDS]
    shell = [cmd for kind, cmd in COMMANDS if kind == "shell"]
    assert kinds.count("prompt") >= 2 and len(shell) >= 5, COMMANDS
    assert any("mpirun" in cmd and "--oversubscribe" in cmd for cmd in shell)
    assert any("synthetic_delivery" in cmd for cmd in shell)
    assert _venv_casa_is_documented()  # so `casa` below means the venv's casashell


def _substitute(text, project, try_root):
    text = text.replace(PROJECT, project).replace(CLONE, REPO).replace(TRY_ROOT, try_root)
    return text


def _argv(command):
    words = shlex.split(command)
    if words[0] == "casa":  # the README: in the venv, `casa` is `.venv/bin/python -m casashell`
        words = [".venv/bin/python", "-m", "casashell"] + words[1:]
    words = [os.path.join(VENV_BIN, w[len(".venv/bin/"):]) if w.startswith(".venv/bin/") else w for w in words]
    if os.path.basename(words[0]) == "mpirun" and os.geteuid() == 0:  # the README: as root add it before -n
        words.insert(words.index("-n"), "--allow-run-as-root")
    return words


def _run(argv, cwd, home):
    env = dict(os.environ, HOME=str(home))
    env.pop("PYTHONPATH", None)
    proc = subprocess.Popen(argv, cwd=str(cwd), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True, start_new_session=True)
    try:
        out = proc.communicate(timeout=TIMEOUT)[0]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out = proc.communicate()[0]
        pytest.fail("%s hung for %d s:\n%s" % (argv, TIMEOUT, out[-5000:]))
    return proc.returncode, out


def _splits(project):
    return glob.glob(os.path.join(project, "*", "*", "*", "calibrated", "uid___*.ms.split.cal"))


def _params():
    """Every command but those of a CASA release's own programs (mpicasa), which are not on this machine;
    ``test_release_commands_have_a_tested_twin`` checks each of those has a twin here."""
    params = []
    for index, (kind, text) in enumerate(COMMANDS):
        if text.split()[0] in NOT_HERE:
            continue
        marks = [pytest.mark.mpi] if "mpirun" in text else []
        params.append(pytest.param(kind, text, id="%d-%s" % (index, text.split("\n")[-1][:40]), marks=marks))
    return params


def test_release_commands_have_a_tested_twin():
    """A CASA release's `mpicasa -n N casa ... -c recipe` is run here as the README's venv mpirun twin."""
    release = [t for _, t in COMMANDS if t.split()[0] in NOT_HERE]
    assert release, "the README shows no mpicasa command"
    tested = [t for _, t in COMMANDS if t.split()[0] not in NOT_HERE and "mpirun" in t]
    for text in release:
        recipe = [os.path.basename(w) for w in text.split() if w.endswith(".py")]
        assert recipe and any("recipes/" + recipe[0] in t for t in tested), (text, tested)


@pytest.mark.parametrize("kind, text", _params())
def test_readme_command_as_written(kind, text, restored, tmp_path):
    home = tmp_path / "home"  # never ~/.casa
    home.mkdir()
    project = os.path.join(str(tmp_path), "data", "2021.1.00690.S")
    os.makedirs(os.path.dirname(project))
    shutil.move(restored["project"], project)
    try_root = str(tmp_path / "try")
    text = _substitute(text, project, try_root)
    if kind == "prompt":  # typed at the prompt: here as a casa -c script
        script = tmp_path / "at_the_prompt.py"
        script.write_text(text + "\n")
        argv = _argv("casa --nogui -c %s" % script)
    else:
        argv = _argv(text)
    if try_root in text and "synthetic_delivery" not in text:  # a command on the README's synthetic delivery
        build = [c for k, c in COMMANDS if "synthetic_delivery" in c]
        code, out = _run(_argv(_substitute(build[0], project, try_root)), REPO, home)
        assert code == 0, out[-3000:]
        project = os.path.join(try_root, "2021.1.00690.S")
    code, out = _run(argv, REPO, home)
    assert code == 0, "%s\n%s" % (argv, out[-5000:])
    if os.path.basename(argv[0]) == "mpirun":
        assert re.search(r"mpi: 3 EB\(s\) on 2 casampi server\(s\)", out), out[-3000:]  # on the servers
    if "synthetic_delivery" in text:
        built = os.path.join(try_root, "2021.1.00690.S")
        assert len(glob.glob(os.path.join(built, "*", "*", "member.*", "calibrated", "uid___*.ms"))) == 6, out[-3000:]
    elif "DRYRUN=True" in text or "DRYRUN = True" in text:
        assert re.search(r"split_sci: \d+ planned", out), out[-3000:]
        assert _splits(project) == []
    else:
        assert re.search(r"split_tgt: \d+ (split|done)", out), out[-3000:]
        assert _splits(project), out[-3000:]
