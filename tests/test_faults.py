"""Faults injected into real runs: SIGKILL, a full or read-only filesystem, Ctrl-C at the prompt."""

import glob
import hashlib
import os
import signal
import subprocess
import sys
import time

import pytest

from casa_helpers import assert_same_ms, flag_versions, mount_tmpfs, split_failure
from casa_plugin import split_sci, split_tgt
from casa_plugin import record as run_record
from prompt_helpers import REPO, casashell_startup_args

pytestmark = [pytest.mark.casa, pytest.mark.subprocess]


def _checksums(path):
    """sha256 of every file below ``path`` (links resolved: the real input tables)."""
    out = {}
    real = os.path.realpath(path)
    for root, _, files in os.walk(real):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                out[os.path.relpath(os.path.join(root, name), real)] = hashlib.sha256(f.read()).hexdigest()
    return out


def _partials(project):
    return glob.glob(os.path.join(project, "*", "*", "*", "calibrated", ".*.partial"))


def _finals(project, pattern="uid*.ms.split.cal"):
    return sorted(glob.glob(os.path.join(project, "*", "*", "*", "calibrated", pattern)))


def _kill_when_partial(cmd, project, sig, env=None, cwd=None, deadline=120):
    """Start ``cmd``; send ``sig`` as soon as a partial output exists; return (code, output, partial signalled).

    CASA 6.2 can swallow a SIGINT that lands inside a task (the EB then finishes): a partial that
    appears after that, the next EB's, gets the signal too, as a user would press Ctrl-C again.
    """
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                            env=env, cwd=cwd)
    seen = None
    stop = time.time() + deadline
    while proc.poll() is None and time.time() < stop:
        found = [p for p in _partials(project) if p != seen]
        if found:
            seen = found[0]
            proc.send_signal(sig)
        time.sleep(0.002)
    out, _ = proc.communicate(timeout=deadline)
    return proc.returncode, out, seen


def test_sigkill_mid_split_then_rerun_gives_identical_outputs(restored, restored_delivery, tmp_path):
    script = tmp_path / "run.py"
    script.write_text("import casatasks\nfrom casa_plugin import split_sci\nsplit_sci(vis=%r)\n" % restored["project"])
    code, out, seen = _kill_when_partial([sys.executable, str(script)], restored["project"], signal.SIGKILL,
                                         cwd=str(tmp_path))
    assert code == -signal.SIGKILL and seen, out[-2000:]
    assert len(_finals(restored["project"])) < 3  # killed before the last EB
    for final in _finals(restored["project"]):  # whatever has a final name is complete
        assert flag_versions(final) == ["original_flags"]
    split_sci(vis=restored["project"])
    split_tgt(vis=restored["project"])
    assert _partials(restored["project"]) == []
    reference = str(tmp_path / "reference")
    import shutil
    shutil.copytree(restored_delivery["project"], reference, symlinks=True)
    split_sci(vis=reference)
    split_tgt(vis=reference)
    ours = _finals(restored["project"], "uid*.ms.split.cal*")
    theirs = _finals(reference, "uid*.ms.split.cal*")
    assert [os.path.basename(p) for p in ours] == [os.path.basename(p) for p in theirs] and len(ours) == 12
    for a, b in zip(ours, theirs):
        if not a.endswith(".flagversions"):
            assert_same_ms(a, b)
            assert flag_versions(a) == ["original_flags"]


@pytest.fixture
def small_fs(tmp_path):
    """A 1 MB filesystem: too small for a .split.cal."""
    with mount_tmpfs(tmp_path / "full", "size=1m") as path:
        yield path


@pytest.fixture
def read_only_dir(tmp_path):
    with mount_tmpfs(tmp_path / "ro", "ro,size=100m") as path:
        yield path


def test_full_filesystem_is_refused_before_writing(restored, calibrated_dirs, small_fs):
    """casacore aborts the whole process on a full disk, so the space is checked first."""
    vis = sorted(glob.glob(os.path.join(calibrated_dirs[1], "uid*.ms")))[0]
    before = _checksums(vis)
    out = str(small_fs / "x.ms.split.cal")
    with split_failure(r"full: the output needs about [0-9.]+ MB but only [0-9.]+ MB is free"):
        split_sci(vis=vis, outputvis=out)
    assert os.listdir(str(small_fs)) == [run_record.RECORD_NAME]  # no output, partial or not
    entry = run_record.load(str(small_fs))["outputs"]["x.ms.split.cal"]
    assert entry["status"] == "failed" and "MB is free" in entry["error"]
    assert _checksums(vis) == before


def test_write_failure_mid_split_then_rerun(restored, calibrated_dirs, tmp_path):
    """A write error (file-size limit) mid-split: casacore aborts with its message naming the file;
    no final-named output, inputs untouched, and the next run clears the leftover and finishes."""
    vis = sorted(glob.glob(os.path.join(calibrated_dirs[1], "uid*.ms")))[0]
    before = _checksums(vis)
    script = tmp_path / "limited.py"
    script.write_text(
        "import resource, signal\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "import casatasks\n"
        "casatasks.casalog.setlogfile('/dev/null')\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (200000, 200000))\n"
        "from casa_plugin import split_sci\n"
        "split_sci(vis=%r)\n" % vis)
    proc = subprocess.run([sys.executable, str(script)], cwd=str(tmp_path), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=300)
    assert proc.returncode != 0
    assert "write error in " in proc.stdout and ".uid___A002_Xf7ad58_Xd406.ms.split.cal.partial" in proc.stdout
    assert not os.path.exists(vis + ".split.cal")
    assert glob.glob(os.path.join(calibrated_dirs[1], ".*.partial"))  # the leftover, under its own name
    assert _checksums(vis) == before
    result = split_sci(vis=vis)
    assert result["ebs"][vis]["status"] == "split"
    assert not glob.glob(os.path.join(calibrated_dirs[1], ".*.partial"))
    assert flag_versions(vis + ".split.cal") == ["original_flags"]


def test_read_only_output_directory(restored, calibrated_dirs, read_only_dir):
    vis = sorted(glob.glob(os.path.join(calibrated_dirs[1], "uid*.ms")))[0]
    with split_failure(r"ro: directory is not writable"):
        split_sci(vis=vis, outputvis=str(read_only_dir / "x.ms.split.cal"))


def test_ctrl_c_at_the_prompt(restored, tmp_path):
    startup = tmp_path / "startup.py"
    init = os.path.join(REPO, "init.py")
    startup.write_text("exec(compile(open(%r).read(), %r, 'exec'))\n" % (init, init))
    script = tmp_path / "interrupted.py"
    script.write_text(
        "import os\n"
        "start = os.getcwd()\n"
        "try:\n"
        "    split_sci(vis=%r)\n"
        "    print('NOT INTERRUPTED')\n"
        "except KeyboardInterrupt as exc:\n"
        "    from casa_plugin.logs import task_of\n"
        "    print('SESSION SURVIVED, cwd kept:', os.getcwd() == start, 'raised out of:', task_of(exc))\n"
        "print('PROMPT STILL ALIVE', split_sci(vis=%r, dryrun=True)['counts'])\n"
        % (restored["project"], restored["project"]))
    cmd = ([sys.executable, "-m", "casashell", "--nologger", "--nogui", "--nologfile"]
           + casashell_startup_args(startup, tmp_path) + ["-c", str(script)])
    code, out, seen = _kill_when_partial(cmd, restored["project"], signal.SIGINT, cwd=str(tmp_path))
    if seen and "NOT INTERRUPTED" in out:  # CASA 6.2's split can swallow SIGINT: every EB then finishes
        from casa_plugin.ms.casa import casa_version
        assert casa_version().startswith("6.2."), out[-3000:]
        assert "PROMPT STILL ALIVE" in out and _partials(restored["project"]) == [], out[-3000:]
        return
    # marked as the task's: the prompt shows it in two lines, not a traceback through casatools
    assert seen and "SESSION SURVIVED, cwd kept: True raised out of: split_sci" in out, out[-3000:]
    assert "PROMPT STILL ALIVE" in out
    assert _partials(restored["project"]) == []  # the interrupted EB's partial output is gone
    eb = os.path.basename(seen)[1:-len(".ms.split.cal.partial")]
    record = run_record.load(os.path.dirname(seen))
    assert record["outputs"][eb + ".ms.split.cal"]["status"] == "interrupted"


def test_paths_with_spaces_quotes_and_non_ascii(restored_delivery, tmp_path, casa_session):
    from casa_plugin import restore_pi
    from casa_plugin.testing.synthetic_delivery import make_delivery
    odd = tmp_path / "my data's \"ALMA\" Ü dir"
    info = make_delivery(str(odd), small=True)
    restore_pi(member=info["project"])
    assert split_sci(vis=info["project"])["counts"] == {"split": 3}
    assert split_tgt(vis=info["project"])["counts"] == {"split": 3}
    assert len(_finals(info["project"], "uid*.ms.split.cal.source")) == 3


def test_ctrl_c_of_a_recipe_under_casa_c_ends_in_a_line_that_says_what_to_do(restored, tmp_path):
    """`casa -c recipe.py` and Ctrl-C: the advice and exit status 130, not a traceback through casatasks."""
    cmd = [sys.executable, "-m", "casashell", "--nologger", "--nogui", "--nologfile", "-c",
           os.path.join(REPO, "recipes", "split_only.py"), restored["project"]]
    code, out, seen = _kill_when_partial(cmd, restored["project"], signal.SIGINT, cwd=str(tmp_path))
    if seen and code == 0:  # CASA 6.2's split can swallow SIGINT: every EB then finishes
        from casa_plugin.ms.casa import casa_version
        assert casa_version().startswith("6.2."), out[-3000:]
        return
    assert seen and code == 130, (code, out[-3000:])
    assert "interrupted (Ctrl-C): the lines above say what each EB came to; nothing half-written is kept. " \
           "Run the same command again to finish." in out, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    assert _partials(restored["project"]) == []
