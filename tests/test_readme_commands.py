"""Every command of README.md and docs/*.md, run as written (only the placeholders substituted).

Each code block (fenced or 4-space indented) is a shell command (run with bash), a snippet typed at the
CASA prompt (run as a ``casa -c`` script), or one of a short, explicit list of blocks that are no commands
(file contents, output samples) or are run elsewhere (``make demo``/``make test``, the interactive prompt).
A CASA release's own programs (``mpicasa``) are not on this machine: each such command must have a venv
twin here that is run. The blocks of docs/guide.md are one walk through a delivery: they run in order, in
one sandbox, starting from the archive's tar files.
"""

import fnmatch
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
from collections import namedtuple

import pytest

from prompt_helpers import REPO, casashell_startup_args

pytestmark = [pytest.mark.casa, pytest.mark.subprocess]

README = os.path.join(REPO, "README.md")
DOCS = [README] + sorted(glob.glob(os.path.join(REPO, "docs", "*.md")))
GUIDE = os.path.join(REPO, "docs", "guide.md")
VENV_BIN = os.path.dirname(sys.executable)
CLONE = "/path/to/casa_plugin"  # the docs' placeholder clone: this repository
DATA = "/data"  # where the docs' delivery is: a test directory here
TRY_ROOT = "/tmp/try"  # where the README builds a synthetic delivery: a test directory here
PROJECT_NAME = "2021.1.00690.S"
RELEASE_CASA = "/opt/casa-6.2.1-7-pipeline-2021.2.0.128/bin/casa"  # a release's casa: the venv's casashell
RELEASE_VERSION = '"6.2.1"'  # ... and the version it is mapped to: the synthetic delivery's (this CASA's)
STANDIN = "from casa_plugin.testing.pipeline_standin import load_into; load_into(globals())"
TIMEOUT = 600
SENTINEL = "CASA_PLUGIN_BLOCK_DONE"
#: Programs of a CASA release that this machine lacks; their commands need a tested venv twin.
NOT_HERE = ("mpicasa",)

#: Blocks that are no commands, by their first line, with what they are.
NOT_COMMANDS = {
    '{"6.2.1": "/opt/casa-6.2.1-7-pipeline-2021.2.0.128/bin/casa",': "casa_versions.json contents",
    "[3/8 started] member uid___A001_X15a2_Xb6d: uid___A002_Xf9b2d4_X8c1.ms -> "
    "uid___A002_Xf9b2d4_X8c1.ms.split.cal (4.70 GB to read)": "progress lines (output sample)",
    "node1 slots=5": "an Open MPI hostfile's contents",
    "terminate called after throwing an instance of 'casacore::AipsError'": "casacore's message (output)",
}
#: Commands run elsewhere, by their first line: where.
ELSEWHERE = {
    "make demo   # set-up, then the main job on a built-in synthetic delivery": "make demo / make test",
    ".venv/bin/python -m casashell":
        "tests/test_prompt.py::test_venv_prompt_as_the_readme_says_reads_the_users_startup_file",
    ".venv/bin/python -m casa_plugin submit /data/2021.1.00690.S --scheduler slurm --partition normal --account "
    "myproject --max-running 4": "tests/test_cluster_submit.py::test_one_job_per_member_runs_and_status_follows",
}
#: Commands that need the network (a registry or data server): only their option is checked here.
NEEDS_NETWORK = {
    ".venv/bin/python -m casaconfig --measures-update": (".venv/bin/python -m casaconfig --help",
                                                         "--measures-update"),
}
#: Commands that are another one plus ``--allow-run-as-root``, which that test adds when run as root.
AS_ROOT_OF = "--allow-run-as-root "

#: What a block's output must show (by its first line), beyond a clean finish.
EXPECT = {
    "restore_pi(member='/data/2021.1.00690.S', dryrun=True)": r"planned: \d+ EBs",
    "restore_pi(member='/data/2021.1.00690.S')": r"\d+ EBs, CASA \d",
    "restore_pi(member='/data/2021.1.00690.S')   # every member below: its scriptForPI":
        r"already restored",
    "restore_pi(member='/data/2021.1.00690.S/science_goal.uid___A001_X15a2_Xb69/group.uid___A001_X15a2_Xb6a/"
    "member.uid___A001_X15a2_Xb6b', casa='auto', overwrite=True, dryrun=True)":
        r"planned: \d+ EBs with .* in .*casashell",
    "cd /data": r"member\.uid___A001_X15a2_Xb6d",
    "split_sci(vis='/data/2021.1.00690.S')": r"(?s)(?=.*split_sci: \d+ (done|split), \d+ (split|done))"
                                             r"(?=.*already done, made by the delivery's scriptForPI; flag version "
                                             r"saved; spw 1,3,5,7)",
    "split_sci(vis='/data/2021.1.00690.S')   # again: every EB is done": r"split_sci: \d+ done\s",
    "split_sci(vis='/data/2021.1.00690.S', width=4)":
        r"this request has width=4[\s\S]*overwrite=True[\s\S]*SplitError: split_sci failed for \d+ EB step\(s\) of \d+ EBs",
    "PROJECT = '/data/2021.1.00690.S'": r"split_tgt: \d+ (split|done)|split_sci: \d+ planned",
    ".venv/bin/python -m casa_plugin.testing.synthetic_delivery --help": r"--eb-mb",
    ".venv/bin/python -m casaconfig --current-data": r"current data installed at",
    "head -n 1 /data/2021.1.00690.S/science_goal.*/group.*/member.*/script/*casa_pipescript.py":
        r"meant for use with CASA \d",
    "ls /data/2021.1.00690.S/casa_plugin_report/index.html": r"casa_plugin_report/index\.html",
    ".venv/bin/python -m casa_plugin submit /data/2021.1.00690.S --scheduler slurm --dry-run":
        r"member\.uid___A001_X15a2_Xb6b: written, not submitted \(--dry-run\): \S+/casa_plugin_jobs/"
        r"member\.uid___A001_X15a2_Xb6b\.sh",
    ".venv/bin/python -m casa_plugin submit /data/2021.1.00690.S --scheduler slurm --scratch '$TMPDIR' --dry-run":
        r"wrote \(--dry-run: submitted nothing\) \d+ job script",
    "restore_pi(member='/data/2021.1.00690.S', submit={'scheduler': 'slurm', 'max_running': 4}, dryrun=True)":
        r"wrote \(--dry-run: submitted nothing\) \d+ job script",
    ".venv/bin/python -m casa_plugin status /data/2021.1.00690.S": r"member\.uid___A001_X15a2_Xb6d  not submitted "
                                                                    r"\(restored\)",
}
#: Blocks that end in an error, shown on purpose.
RAISES = ("split_sci(vis='/data/2021.1.00690.S', width=4)",)

Block = namedtuple("Block", "doc line lang text")


def _rel(path):
    return os.path.relpath(path, REPO)


def _blocks(path):
    """The code blocks of a Markdown file: fenced (with their language) and 4-space indented ones."""
    with open(path) as f:
        lines = f.read().splitlines()
    found, i = [], 0
    previous_blank = True
    while i < len(lines):
        line = lines[i]
        fence = re.match(r"^```(\w*)\s*$", line)
        if fence:
            j = i + 1
            while not lines[j].startswith("```"):
                j += 1
            found.append(Block(_rel(path), i + 1, fence.group(1), "\n".join(lines[i + 1:j])))
            i, previous_blank = j + 1, False
            continue
        if line.startswith("    ") and previous_blank:
            j = i
            while j < len(lines) and (lines[j].startswith("    ") or not lines[j].strip()):
                j += 1
            text = "\n".join(ln[4:] for ln in lines[i:j]).strip("\n")
            found.append(Block(_rel(path), i + 1, "", text))
            i, previous_blank = j, True
            continue
        previous_blank = not line.strip()
        i += 1
    return found


def _first(block):
    return block.text.strip().splitlines()[0].strip()


def _kind(block):
    """'prompt', 'shell', or why the block is not run here."""
    first = _first(block)
    if first in NOT_COMMANDS:
        return "not a command"
    if first in ELSEWHERE:
        return "elsewhere"
    if first in NEEDS_NETWORK:
        return "network"
    if first.split()[0] in NOT_HERE:
        return "release"
    if AS_ROOT_OF in first:
        return "as root"
    if block.lang in ("python", "py"):
        return "prompt"
    if block.lang in ("sh", "bash", "shell"):
        return "shell"
    if block.lang:
        return "unclassified %s block" % block.lang  # text, json...: must be listed in NOT_COMMANDS
    try:
        compile(block.text, "<block>", "exec")
        return "prompt"
    except SyntaxError:
        return "shell"


BLOCKS = [b for path in DOCS for b in _blocks(path)]


def _id(block):
    return "%s:%d" % (block.doc, block.line)


def test_every_block_is_classified_and_the_lists_are_in_use():
    kinds = dict((_id(b), _kind(b)) for b in BLOCKS)
    assert not [k for k, v in kinds.items() if v.startswith("unclassified")], kinds
    firsts = set(_first(b) for b in BLOCKS)
    for listed in (NOT_COMMANDS, ELSEWHERE, NEEDS_NETWORK, EXPECT):  # no stale entries
        assert not set(listed) - firsts, set(listed) - firsts
    assert set(RAISES) <= set(EXPECT)
    assert any(_rel(GUIDE) == b.doc for b in BLOCKS) and len(DOCS) >= 5
    assert list(kinds.values()).count("prompt") >= 8 and list(kinds.values()).count("shell") >= 8, kinds


def test_commands_run_elsewhere_exist_there():
    with open(os.path.join(REPO, "Makefile")) as f:
        targets = re.findall(r"^(\w+):", f.read(), re.M)
    assert "demo" in targets and "test" in targets
    for where in ELSEWHERE.values():
        if "::" in where:
            path, name = where.split("::")
            with open(os.path.join(REPO, path)) as f:
                assert "def %s(" % name in f.read(), where


def test_venv_casa_is_documented():
    """The docs say that `casa` is the venv's casashell, so the venv twin of a `casa` command is that."""
    for path in (README, os.path.join(REPO, "docs", "parallel.md")):
        with open(path) as f:
            assert "`casa` is `.venv/bin/python -m casashell`" in " ".join(f.read().split()), path


def test_release_commands_have_a_tested_twin():
    """A CASA release's `mpicasa -n N casa ... -c recipe` has a venv `mpirun` twin of the same recipe here."""
    release = [b.text for b in BLOCKS if _kind(b) == "release"]
    assert len(release) >= 2, "the docs show no mpicasa command"
    tested = [b.text for b in BLOCKS if _kind(b) == "shell" and "mpirun" in b.text]
    for text in release:
        recipe = [os.path.basename(w) for w in text.split() if w.endswith(".py")]
        assert recipe and any("recipes/" + recipe[0] in t for t in tested), (text, tested)


def test_as_root_commands_are_a_tested_command_plus_the_root_option():
    shell = [b.text for b in BLOCKS if _kind(b) == "shell"]
    as_root = [b.text for b in BLOCKS if _kind(b) == "as root"]
    assert as_root
    for text in as_root:
        assert text.replace(AS_ROOT_OF, "") in shell, text


@pytest.mark.parametrize("first", sorted(NEEDS_NETWORK))
def test_network_commands_have_their_option(first):
    check, option = NEEDS_NETWORK[first]
    code, out = _run(["bash", "-c", _venv_paths(check)], REPO, REPO)
    assert code == 0 and option in out, out[-2000:]


# ---- running a block ----

def _running_version():
    from casa_plugin.testing.synthetic_delivery import running_casa_version
    return running_casa_version()


def _venv_paths(text):
    return re.sub(r"(^|(?<=[\s;(]))\.venv/bin/", VENV_BIN + "/", text)


def _substitute(text, box):
    text = text.replace(CLONE, REPO).replace(TRY_ROOT, box["try"])
    text = re.sub(r"(?<![\w.])%s(?=/|\s|$)" % re.escape(DATA), box["data"], text)
    text = text.replace(RELEASE_CASA, "%s/python -m casashell" % VENV_BIN)
    text = text.replace(RELEASE_VERSION, '"%s"' % _running_version())
    text = _venv_paths(text)
    if os.geteuid() == 0:  # the docs: as root add it before -n
        text = re.sub(r"(\bmpirun\b[^\n]*?) -n ", r"\1 --allow-run-as-root -n ", text)
    return text


def _run(argv, cwd, home):
    env = dict(os.environ, HOME=str(home))
    for name in ("PYTHONPATH", "CASA_PLUGIN_CONFIG"):
        env.pop(name, None)
    proc = subprocess.Popen(argv, cwd=str(cwd), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True, start_new_session=True)
    try:
        out = proc.communicate(timeout=TIMEOUT)[0]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out = proc.communicate()[0]
        pytest.fail("%s hung for %d s:\n%s" % (argv, TIMEOUT, out[-5000:]))
    return proc.returncode, out


def _sandbox(tmp_path, restored=None):
    """HOME, the docs' /data and /tmp/try under tmp_path; /data holds ``restored`` (a restored project)."""
    box = {"home": tmp_path / "home", "data": str(tmp_path / "data"), "try": str(tmp_path / "try")}
    box["home"].mkdir()
    os.makedirs(box["data"])
    if restored is not None:
        shutil.move(restored["project"], os.path.join(box["data"], PROJECT_NAME))
    return box


def _readme_startup_line():
    """The README's startup line: its block that runs init.py."""
    (line,) = [b.text.strip() for b in _blocks(README) if b.text.startswith("exec(compile(open(")]
    assert line.startswith("exec(compile(open('/path/to/casa_plugin/init.py')"), line
    return line


def _with_startup_line(box):
    """A user who followed the quick start: the README's line in ~/.casa/startup.py."""
    (box["home"] / ".casa").mkdir()
    (box["home"] / ".casa" / "startup.py").write_text(_readme_startup_line().replace(CLONE, REPO) + "\n")


def _pipeline_twin(box, tmp_path):
    """The venv twin of `casa --pipeline`: the user's ~/.casa/startup.py, then the pipeline stand-in."""
    user = box["home"] / ".casa" / "startup.py"
    startup = tmp_path / "startup_pipeline.py"
    startup.write_text((user.read_text() if user.exists() else "") + STANDIN + "\n")
    return startup


def _run_block(block, box, tmp_path):
    """Run one block as written in ``box``; return its output after checking it finished as it should."""
    text = _substitute(block.text, box)
    if _kind(block) == "prompt":  # typed at the prompt of `casa --pipeline`
        script = tmp_path / ("at_the_prompt_%d.py" % block.line)
        script.write_text("%s\nprint(%r)\n" % (text, SENTINEL))
        argv = [os.path.join(VENV_BIN, "python"), "-m", "casashell", "--nogui", "--nologger"]
        argv += casashell_startup_args(_pipeline_twin(box, tmp_path), tmp_path) + ["-c", str(script)]
    else:  # in bash; `casa` is the venv's casashell (the docs say so)
        preamble = 'set -e\ncasa() { "%s/python" -m casashell "$@"; }\n' % VENV_BIN
        argv = ["bash", "-c", preamble + text]
    # at the prompt a user is anywhere (the prompt's files go there); the docs' shell blocks run from the clone
    before = set(os.listdir(REPO))
    code, out = _run(argv, tmp_path if _kind(block) == "prompt" else REPO, box["home"])
    for name in set(os.listdir(REPO)) - before:  # CASA's log and its tasks' .last files of this run
        if fnmatch.fnmatch(name, "casa-*.log") or name.endswith(".last"):
            os.remove(os.path.join(REPO, name))
    where = "%s (%s)\n%s" % (_id(block), argv[-1][-300:], out[-5000:])
    first = _first(block)
    if first in RAISES:
        assert SENTINEL not in out, where
    else:
        assert code == 0, where
        if _kind(block) == "prompt":
            assert SENTINEL in out, where
    if first in EXPECT:
        assert re.search(EXPECT[first], out), where
    if "mpirun" in text:  # the policy's choice and its reason; on the servers only where they win
        choice = re.search(r"parallel: (serial in the client|on the casampi servers): \S", out)
        assert choice, where
        assert (choice.group(1) == "serial in the client") != bool(re.search(
            r"mpi: \d+ EB\(s\) on 2 casampi server\(s\)", out)), where
    return out


def _splits(project):
    return glob.glob(os.path.join(project, "*", "*", "*", "calibrated", "uid___*.ms.split.cal"))


def _sources(project):
    return glob.glob(os.path.join(project, "*", "*", "*", "calibrated", "uid___*.ms.split.cal.source"))


def _params():
    params = []
    for block in BLOCKS:
        if block.doc == _rel(GUIDE) or _kind(block) not in ("prompt", "shell"):
            continue
        marks = [pytest.mark.mpi] if "mpirun" in block.text else []
        params.append(pytest.param(block, id="%s-%s" % (_id(block), _first(block)[:40]), marks=marks))
    return params


@pytest.mark.parametrize("block", _params())
def test_command_as_written(block, restored, tmp_path):
    """A README or docs block (not the guide's), on a restored copy of the synthetic delivery at /data."""
    box = _sandbox(tmp_path, restored)
    _with_startup_line(box)
    project = os.path.join(box["data"], PROJECT_NAME)
    if TRY_ROOT in block.text and "synthetic_delivery" not in block.text:  # "the synthetic delivery above"
        os.makedirs(box["try"])
        shutil.move(project, os.path.join(box["try"], PROJECT_NAME))
        project = os.path.join(box["try"], PROJECT_NAME)
    before = sorted(_splits(project))
    out = _run_block(block, box, tmp_path)
    text = block.text
    if "synthetic_delivery" in text and ("--restored" in text or "PIPELINE=standin" in text):
        built = os.path.join(box["try"], PROJECT_NAME)  # restored by --restored, or by the recipe's stand-in
        assert len(glob.glob(os.path.join(built, "*", "*", "member.*", "calibrated", "uid___*.ms"))) == 6, out
        if "split_only.py" in text or "restore_and_split.py" in text:
            assert len(_sources(built)) == 6, out[-3000:]
    elif "DRYRUN" in text:
        assert re.search(r"split_sci: \d+ planned", out) and _splits(project) == before, out[-3000:]
    elif "split_only.py" in text or "restore_and_split.py" in text or "split_tgt(" in text:
        assert len(_sources(project)) == 3 and re.search(r"split_tgt: \d+ (split|done)", out), out[-3000:]
    elif text.startswith("exec(compile(open("):  # the startup line itself
        assert SENTINEL in out


# ---- the guide: one walk from the archive's tar files ----

def _archive_tars(delivery, data):
    """The tar files the archive gives for ``delivery``: one per member (all but raw/), one per EB's ASDM."""
    project = delivery["project"]
    top = os.path.dirname(project)
    names = []
    for member, ebs in sorted(delivery["members"].items()):
        mous = os.path.basename(member)[len("member."):]
        name = os.path.join(data, "%s_%s_001_of_001.tar" % (PROJECT_NAME, mous))
        with tarfile.open(name, "w") as tar:
            for entry in sorted(os.listdir(member)):
                if entry != "raw":
                    tar.add(os.path.join(member, entry), os.path.relpath(os.path.join(member, entry), top))
        names.append(name)
        for eb in ebs:
            asdm = os.path.join(member, "raw", eb + ".asdm.sdm")
            name = os.path.join(data, "%s_%s.asdm.sdm.tar" % (PROJECT_NAME, eb))
            with tarfile.open(name, "w") as tar:
                tar.add(asdm, os.path.relpath(asdm, top))
            names.append(name)
    shutil.rmtree(project)
    return names


def test_the_guide_from_the_archives_tar_files(delivery, tmp_path):
    """docs/guide.md's blocks in order, in one sandbox: untar, restore, DOSPLIT, casa='auto', splits, re-runs."""
    box = _sandbox(tmp_path)
    tars = _archive_tars(delivery, box["data"])
    project = os.path.join(box["data"], PROJECT_NAME)
    blocks = [b for b in BLOCKS if b.doc == _rel(GUIDE)]
    assert [_kind(b) for b in blocks].count("prompt") >= 6
    for block in blocks:
        if _kind(block) not in ("prompt", "shell"):
            continue
        out = _run_block(block, box, tmp_path)
        first = _first(block)
        if first == "cd /data":
            assert len(tars) == 5 and len(glob.glob(os.path.join(project, "*", "*", "member.*", "raw", "*"))) == 3
        elif first.startswith("P=/path/to/casa_plugin/init.py"):  # the startup line, added once
            lines = (box["home"] / ".casa" / "startup.py").read_text().splitlines()
            assert lines == [_readme_startup_line().replace(CLONE, REPO)]
        elif "dosplit=True" in first:
            member = glob.glob(os.path.join(project, "*", "*", "member.uid___A001_X15a2_Xb6d"))[0]
            assert glob.glob(os.path.join(member, "calibrated.*")), out[-3000:]  # moved aside
            assert len(glob.glob(os.path.join(member, "calibrated", "uid___*.ms.split.cal"))) == 2, out[-3000:]
        elif first.startswith("split_tgt(") or "split_tgt(" in block.text:
            assert len(_sources(project)) == 3, out[-3000:]
        elif first.startswith("rm -rf "):  # only the moved-aside calibrated.<date>
            member = glob.glob(os.path.join(project, "*", "*", "member.uid___A001_X15a2_Xb6d"))[0]
            assert sorted(n for n in os.listdir(member) if n.startswith("calibrated")) == ["calibrated"]
        elif first.startswith("mkdir -p ~/.config/casa_plugin"):
            with open(os.path.join(str(box["home"]), ".config", "casa_plugin", "casa_versions.json")) as f:
                assert _running_version() in json.load(f)
        elif "json.tool" in first:
            assert '"split_sci"' in out and '"request"' in out and '"contents"' in out, out[-3000:]
