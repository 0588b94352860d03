"""The recipes at the real CASA prompt: settings bound to their run, the command line, no silent current directory."""

import glob
import json
import os
import pathlib
import re
import shutil

import pytest

from casa_helpers import flag_versions
from prompt_helpers import REPO, run_casa, split_outputs, startup_file

SPLIT_ONLY = os.path.join(REPO, "recipes", "split_only.py")
RESTORE_AND_SPLIT = os.path.join(REPO, "recipes", "restore_and_split.py")


def _science_nchans(project):
    """{.split.cal name: sorted set of channel counts of its spws}, read with casatools msmetadata."""
    from casatools import msmetadata
    found = {}
    for vis in sorted(glob.glob(os.path.join(project, "*", "*", "*", "calibrated", "uid*.ms.split.cal"))):
        md = msmetadata()
        md.open(vis)
        try:
            found[os.path.basename(vis)] = sorted(set(int(md.nchan(s)) for s in range(md.nspw())))
        finally:
            md.close()
    return found


def _python_traceback(out):
    """Whether ``out`` holds a traceback printed by Python (casalog's copy, echoed by --log2term, is a log line)."""
    return any(line.startswith("Traceback (most recent call last)") for line in out.splitlines())


def _copy(project, dest):
    shutil.copytree(project, str(dest), symlinks=True)
    return str(dest)


# ---- pure: the command line of `casa -c recipe.py ...` ----

_DEFAULTS = {"PROJECT": None, "DRYRUN": False, "WIDTH": 1, "TIMEBIN": "0s", "MAXJOBS": None}


def test_command_line_project_and_settings():
    from casa_plugin.prompt.recipe_settings import parse_command_line
    given = parse_command_line(["/data/p", "DRYRUN=True", "WIDTH=8", "TIMEBIN=12s", "MAXJOBS=2"], _DEFAULTS)
    assert given == {"PROJECT": "/data/p", "DRYRUN": True, "WIDTH": 8, "TIMEBIN": "12s", "MAXJOBS": 2}


@pytest.mark.parametrize("args, match", [
    (["WIDHT=8"], "no setting WIDHT"),
    (["DRYRUN=yes"], "not a valid value of DRYRUN"),
    (["DRYRUN=1"], "DRYRUN takes True or False"),
    (["/data/a", "/data/b"], "a second project"),
    (["--nogui"], "options go before -c"),
    (["WIDTH=eight"], "not a valid value of WIDTH"),
])
def test_command_line_bad_arguments(args, match):
    from casa_plugin.prompt.recipe_settings import parse_command_line
    with pytest.raises(ValueError, match=match):
        parse_command_line(args, _DEFAULTS)


def test_the_summary_table_is_printed_when_a_task_fails(tmp_path):
    """A failed split still prints the table of what every EB came to (from SplitError.results), then raises."""
    import io
    from casa_plugin.errors import SplitError
    from casa_plugin.prompt.recipe_settings import summary_at_end
    vis = "/d/p/science_goal.uid___A001_X1_X2/group.uid___A001_X1_X3/member.uid___A001_X1_X4/calibrated/%s.ms"
    sci = {"ebs": {vis % "uid___A002_X1_X1": {"vis": vis % "uid___A002_X1_X1", "eb": "uid___A002_X1_X1",
                                                "status": "split", "spw": [0, 1]},
                   vis % "uid___A002_X1_X2": {"vis": vis % "uid___A002_X1_X2", "eb": "uid___A002_X1_X2",
                                                "status": "failed"}}}
    out = io.StringIO()
    with pytest.raises(SplitError):
        with summary_at_end(out) as results:
            results["restore"] = None
            raise SplitError("split_sci failed for 1 EB step(s)", results={"sci": sci, "tgt": {"ebs": {}}})
    lines = out.getvalue().splitlines()
    assert lines[0].split()[:3] == ["member", "EB", "restore"]
    assert any("uid___A002_X1_X1" in line and "split" in line.split() for line in lines), lines
    assert any("uid___A002_X1_X2" in line and "failed" in line.split() for line in lines), lines
    kept = tmp_path / "uid___A002_X1_X2.ms.split.cal"  # an output made before, left as it was
    kept.mkdir()
    (kept / "table.dat").write_bytes(b"")
    sci["ebs"][vis % "uid___A002_X1_X2"]["outputvis"] = str(kept)
    from casa_plugin.report import summary_table
    assert "kept (failed)" in summary_table(None, sci, None)
    source = tmp_path / "uid___A002_X1_X2.ms.split.cal.source"  # its target split skipped: made before, intact
    source.mkdir()
    (source / "table.dat").write_bytes(b"")
    tgt = {"ebs": {str(kept): {"vis": str(kept), "eb": "uid___A002_X1_X2", "status": "skipped",
                               "outputvis": str(source)}}}
    assert "kept (skipped)" in summary_table(None, sci, tgt)
    quiet = io.StringIO()
    with pytest.raises(ValueError):
        with summary_at_end(quiet):
            raise ValueError("WIDHT=8: no setting WIDHT")  # no task ran: no table
    assert quiet.getvalue() == ""


# ---- the real prompt ----

@pytest.mark.casa
@pytest.mark.subprocess
def test_two_recipe_runs_at_one_prompt_each_get_their_own_settings(restored, tmp_path):
    """WIDTH=4 typed at the prompt for split_only.py must not average a later restore_and_split.py run."""
    first = _copy(restored["project"], tmp_path / "first")
    second = _copy(restored["project"], tmp_path / "second")
    script = tmp_path / "prompt.py"
    # each run_cell is one line typed at the prompt (IPython runs it in the prompt's namespace)
    script.write_text(
        "ip = get_ipython()\n"
        "for cell in [%r, %r, %r, %r, 'assert \"WIDTH\" not in dir()']:\n"
        "    ip.run_cell(cell).raise_error()\n"
        % ("PROJECT = %r\nWIDTH = 4" % first, "execfile(%r)" % SPLIT_ONLY,
           "PROJECT = %r" % second, "execfile(%r)" % RESTORE_AND_SPLIT))
    proc = run_casa(script, tmp_path, startup=startup_file(tmp_path))
    assert proc.returncode == 0, proc.stdout[-4000:]
    averaged, full = _science_nchans(first), _science_nchans(second)
    assert len(averaged) == len(full) == 3
    assert set(map(tuple, averaged.values())) == {(16,)}, averaged  # 64 channels averaged by 4
    assert set(map(tuple, full.values())) == {(64,)}, full
    assert proc.stdout.count("WIDTH") >= 2
    settings = [line for line in proc.stdout.splitlines() if line.strip().startswith("WIDTH ")]
    assert "(session)" in settings[0] and "= 4 " in settings[0], settings
    assert "(default)" in settings[1] and "= 1 " in settings[1], settings


@pytest.mark.casa
@pytest.mark.subprocess
def test_c_script_without_globals_neither_uses_the_cwd_nor_ignores_dryrun(restored, restored_delivery, tmp_path):
    """A casa -c script sets PROJECT and DRYRUN=True, then execfile(recipe) without globals()."""
    cwd = tmp_path / "deliveries"  # the cwd holds another delivery that a real run on '.' would split
    cwd.mkdir()
    other = _copy(restored_delivery["project"], cwd / "other")
    script = tmp_path / "mine.py"
    script.write_text("PROJECT = %r\nDRYRUN = True\nexecfile(%r)\n" % (restored["project"], RESTORE_AND_SPLIT))
    proc = run_casa(script, cwd, startup=startup_file(tmp_path))
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert split_outputs(other) == [] and split_outputs(restored["project"]) == []
    assert "split_sci: 3 planned" in proc.stdout, proc.stdout[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.strip().startswith(("DRYRUN ", "PROJECT "))]
    assert any("True" in line and "script" in line for line in lines), lines
    assert any(restored["project"] in line for line in lines), lines


@pytest.mark.casa
@pytest.mark.subprocess
def test_command_line_settings_after_the_recipe(restored, tmp_path):
    """casa -c split_only.py PROJECT DRYRUN=True WIDTH=8: the options count, nothing is written."""
    proc = run_casa(SPLIT_ONLY, tmp_path, startup=startup_file(tmp_path, pipeline=False),
                    args=[restored["project"], "DRYRUN=True", "WIDTH=8"])
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert split_outputs(restored["project"]) == []
    lines = [line.split() for line in proc.stdout.splitlines() if line.strip().startswith(("DRYRUN ", "WIDTH "))]
    assert ["DRYRUN", "=", "True", "(command", "line)"] in lines and ["WIDTH", "=", "8", "(command", "line)"] in lines


@pytest.mark.casa
@pytest.mark.subprocess
def test_submit_setting_writes_one_job_per_member_and_runs_nothing_here(delivery, tmp_path):
    """casa -c restore_and_split.py PROJECT SUBMIT=slurm DRYRUN=True: restore_pi(submit='slurm', dryrun=True)."""
    project = delivery["project"]
    proc = run_casa(RESTORE_AND_SPLIT, tmp_path, startup=startup_file(tmp_path, pipeline=False),
                    args=[project, "SUBMIT=slurm", "DRYRUN=True", "PIPELINE=standin"])
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "wrote (--dry-run: submitted nothing) 2 job script(s) in %s/casa_plugin_jobs" % project in proc.stdout
    drivers = sorted(glob.glob(os.path.join(project, "casa_plugin_jobs", "member.*.py")))
    assert [os.path.basename(d) for d in drivers] == sorted(os.path.basename(m) + ".py" for m in delivery["members"])
    assert "if True:  # PIPELINE='standin'" in pathlib.Path(drivers[0]).read_text()  # the jobs load it too
    assert not glob.glob(os.path.join(project, "*", "*", "*", "calibrated"))
    proc = run_casa(RESTORE_AND_SPLIT, tmp_path, startup=startup_file(tmp_path, pipeline=False),
                    args=[project, "SUBMIT=slurm", "WIDTH=8", "RESTORE_PARALLEL=2"])
    assert proc.returncode == 1 and not _python_traceback(proc.stdout)
    assert "ValueError: SUBMIT='slurm': WIDTH only applies to splits run here; each job splits with split_sci_tgt's defaults: leave it unset" in proc.stdout, proc.stdout[-3000:]


@pytest.mark.casa
@pytest.mark.subprocess
def test_recipe_refuses_a_current_directory_that_is_no_delivery(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = run_casa(SPLIT_ONLY, empty, startup=startup_file(tmp_path, pipeline=False))
    assert proc.returncode == 1
    assert "FileNotFoundError: PROJECT is not set and the current directory %s is not an ALMA delivery" % empty \
        in proc.stdout
    assert "casa -c recipe.py /data/2021.1.00690.S" in proc.stdout
    assert "[recipe failed]" in proc.stdout and not _python_traceback(proc.stdout)  # two lines, not a traceback


@pytest.mark.casa
@pytest.mark.subprocess
def test_a_bad_command_line_setting_ends_the_recipe_in_two_lines(restored, tmp_path):
    proc = run_casa(SPLIT_ONLY, tmp_path, startup=startup_file(tmp_path, pipeline=False),
                    args=[restored["project"], "WIDHT=8"])
    assert proc.returncode == 1
    assert "ValueError: WIDHT=8: no setting WIDHT; the settings are" in proc.stdout
    assert "[split_only.py failed]" in proc.stdout and not _python_traceback(proc.stdout)
    assert split_outputs(restored["project"]) == []


@pytest.mark.casa
@pytest.mark.subprocess
def test_refused_ebs_end_a_command_line_dry_run_in_two_lines(restored, tmp_path):
    """casa -c split_only.py PROJECT DRYRUN=True WIDTH=8 after a plain split: every EB's output is another
    request's, so the plan refuses them: exit status 1, each EB's FAILED line, the error in two lines."""
    from casa_plugin import split_sci
    split_sci(vis=restored["project"])
    before = split_outputs(restored["project"])
    proc = run_casa(SPLIT_ONLY, tmp_path, startup=startup_file(tmp_path, pipeline=False),
                    args=[restored["project"], "DRYRUN=True", "WIDTH=8"])
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "SplitError: dry run: split_sci failed for 3 EB step(s)" in proc.stdout, proc.stdout[-3000:]  # tgt: skipped
    assert "a run with these settings would fail there the same way" in proc.stdout
    assert "[split_sci_tgt failed]" in proc.stdout
    assert "OVERWRITE" in proc.stdout  # the way out is named
    assert not _python_traceback(proc.stdout), proc.stdout[-3000:]
    assert split_outputs(restored["project"]) == before
    header = re.search(r"^member +EB +restore +science spws", proc.stdout, re.M)  # the summary table, before the error
    assert header, proc.stdout[-3000:]
    table = proc.stdout[header.start():proc.stdout.index("[split_sci_tgt failed]")]
    refused = [line for line in table.splitlines() if line.split()[-4:-1] == ["would", "fail", "skipped"]]
    assert len(refused) == 3, table  # a plan: the outputs made before are intact, and a run would be refused
    report = json.loads((pathlib.Path(restored["project"]) / "casa_plugin_report" / "report.json").read_text())
    assert report["dryrun"] is True  # the page says it shows a plan
    steps = [e["sci"] for m in report["members"] for e in m["ebs"]]
    assert [(e["status"], e["dryrun"], e["request"]["width"]) for e in steps] == [("failed", True, 1)] * 3, steps
    assert all("width=8" in e["error"] for e in steps)  # the refusal, beside the record of what was made
    page = (pathlib.Path(restored["project"]) / "casa_plugin_report" / "index.html").read_text()
    assert page.count("<td>would fail</td>") == 3 and "This is the <b>plan</b> of a dry run" in page


@pytest.mark.casa
@pytest.mark.subprocess
def test_recipe_says_it_uses_the_current_directory(restored, tmp_path):
    proc = run_casa(SPLIT_ONLY, restored["project"], startup=startup_file(tmp_path, pipeline=False),
                    args=["DRYRUN=True"])
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "PROJECT is not set: working on the current directory %s" % restored["project"] in proc.stdout
    assert split_outputs(restored["project"]) == []


# ---- recipes at the prompt and by casa -c (the first adapted: a setting applies to one run only) ----

@pytest.mark.casa
@pytest.mark.subprocess
def test_recipe_by_execfile_twice(delivery, tmp_path):
    """In a script the settings reach the recipe via execfile(f, globals()); each run needs its own."""
    elsewhere = tmp_path / "elsewhere"  # the cwd holds no data: only PROJECT can point at it
    elsewhere.mkdir()
    script = tmp_path / "twice.py"
    script.write_text("PROJECT = %r\nexecfile(%r, globals())\nassert 'PROJECT' not in globals()\n"
                      "PROJECT = %r\nexecfile(%r, globals())\n"
                      "assert split['sci']['counts'] == {'done': 3}\n"
                      % (delivery["project"], RESTORE_AND_SPLIT, delivery["project"], RESTORE_AND_SPLIT))
    proc = run_casa(script, elsewhere, startup=startup_file(tmp_path))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "split_sci: 3 split" in proc.stdout and "split_sci: 3 done" in proc.stdout
    assert "split_tgt: 3 split" in proc.stdout and "split_tgt: 3 done" in proc.stdout
    assert "uid___A002_Xf8f6a9_X15c79  restored" in proc.stdout  # the summary table
    for out in split_outputs(delivery["project"]):
        if not out.endswith(".flagversions"):
            assert flag_versions(os.path.join(delivery["project"], out)) == ["original_flags"]


@pytest.mark.casa
@pytest.mark.subprocess
def test_split_recipe_by_casa_c_with_a_project_argument(restored, tmp_path):
    proc = run_casa(SPLIT_ONLY, tmp_path, startup=startup_file(tmp_path, pipeline=False), args=[restored["project"]])
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "split_tgt: 3 split" in proc.stdout
    assert len(split_outputs(restored["project"])) == 12


@pytest.mark.casa
@pytest.mark.subprocess
def test_recipe_without_the_pipeline_fails_clearly(delivery, tmp_path):
    proc = run_casa(RESTORE_AND_SPLIT, tmp_path, startup=startup_file(tmp_path, pipeline=False),
                    args=[delivery["project"]])
    assert proc.returncode != 0
    assert "start CASA with the pipeline: casa --pipeline" in proc.stdout
    assert not glob.glob(os.path.join(delivery["project"], "*", "*", "*", "calibrated"))


# ---- the synthetic delivery's command line ----

@pytest.mark.casa
@pytest.mark.subprocess
def test_synthetic_delivery_command_line(tmp_path):
    from casa_plugin.testing.synthetic_delivery import main
    assert main([str(tmp_path), "--members", "3", "--ebs", "2", "--small"]) == 0
    project = tmp_path / "2021.1.00690.S"
    members = sorted(glob.glob(str(project / "*" / "*" / "member.*")))
    assert len(members) == 3
    for member in members:
        assert len(glob.glob(os.path.join(member, "raw", "uid___*.asdm.sdm"))) == 2
    from casa_plugin.delivery import find_members, member_ebs
    ebs = [eb for m in find_members(str(project)) for eb in member_ebs(m)[0]]
    assert len(ebs) == len(set(ebs)) == 6
    assert main([str(tmp_path)]) == 2  # exists already


def test_synthetic_delivery_bad_sizes():
    from casa_plugin.testing.synthetic_delivery import member_ebs
    with pytest.raises(ValueError, match="ebs=0: give at least 1"):
        member_ebs(ebs=0)


def test_the_summary_table_keeps_a_row_per_copy_of_a_project(tmp_path):
    """Two copies of a delivery below one directory (PROJECT unset there): a row per EB of each, and a project
    column to tell them apart (the rows of the same member and EB were merged into one)."""
    from casa_plugin.report import summary_table
    member = os.path.join("science_goal.uid___A001_X1_X1", "group.uid___A001_X1_X2", "member.uid___A001_X1_X3",
                          "calibrated", "uid___A002_X1_X1.ms")
    ebs = {}
    for copy, status in (("a", "split"), ("b", "done")):
        vis = str(tmp_path / copy / "2021.1.00690.S" / member)
        ebs[vis] = {"vis": vis, "eb": "uid___A002_X1_X1", "status": status}
    lines = summary_table(science={"ebs": ebs}).splitlines()
    assert lines[0].split()[:2] == ["project", "member"] and len(lines) == 4, lines
    assert lines[2].startswith(str(tmp_path / "a" / "2021.1.00690.S")) and " split" in lines[2], lines
    assert lines[3].startswith(str(tmp_path / "b" / "2021.1.00690.S")) and " done" in lines[3], lines
    one = summary_table(science={"ebs": dict(list(ebs.items())[:1])}).splitlines()
    assert one[0].split()[0] == "member" and len(one) == 3, one  # one project: no project column


def test_project_unset_names_every_delivery_it_takes(restored, tmp_path, monkeypatch):
    """PROJECT unset in a directory holding several deliveries: the recipe says it takes all of them."""
    import io
    from casa_plugin.prompt.recipe_settings import resolve_project
    here = tmp_path / "here"
    for copy in ("a", "b"):
        _copy(restored["project"], str(here / copy / "2021.1.00690.S"))
    monkeypatch.chdir(here)
    out = io.StringIO()
    assert resolve_project(None, "calibrated", out=out) == str(here)
    assert ("it holds 2 deliveries, all of them taken: %s, %s (set PROJECT to work on one)" % (
        here / "a" / "2021.1.00690.S", here / "b" / "2021.1.00690.S")) in out.getvalue(), out.getvalue()
    one = io.StringIO()
    monkeypatch.chdir(here / "a")
    resolve_project(None, "members", out=one)
    assert "deliveries" not in one.getvalue()  # one delivery: the line names the directory, as before
