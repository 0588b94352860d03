"""The three functions as CASA tasks at the prompt: inp, go, default, tget, tput, saveinputs, parameter checks."""

import glob
import json
import os
import re
import sys

import pytest

from prompt_helpers import casashell_startup_args, run_casa, startup_file
from casa_plugin.logs import task_of

pytestmark = pytest.mark.casa

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _tasks():
    import casa_plugin
    from casa_plugin.prompt import TASKS
    from casa_plugin.prompt.task_interface import prompt_task
    return dict((name, prompt_task(getattr(casa_plugin, name), "casa_plugin", desc, [casa_plugin.split_sci]))
                for name, desc in TASKS.items())


def _prompt_ns(**values):
    """A namespace the task objects take for the prompt's (casashell marks it with __casashell_state__)."""
    ns = {"__casashell_state__": {}, "__name__": "__main__"}
    ns.update(_tasks())
    ns.update(values)
    return ns


def _outputs(project):
    return glob.glob(os.path.join(project, "*", "*", "*", "calibrated", "*.split.cal"))


def test_keyword_call_is_the_function_call_and_ignores_globals(restored, tmp_path, monkeypatch):
    from casa_plugin import split_sci
    monkeypatch.chdir(tmp_path)
    ns = _prompt_ns(vis="/no/such.ms", dryrun=False, width="bogus")
    exec("r = split_sci(vis=%r, dryrun=True, width=4)" % restored["project"], ns)
    assert ns["r"] == split_sci(vis=restored["project"], dryrun=True, width=4)
    assert ns["r"]["counts"] == {"planned": 3} and not _outputs(restored["project"])
    last = (tmp_path / "split_sci.last").read_text()  # as CASA's tasks: the call's parameters, in the cwd
    assert "vis         = %r\n" % restored["project"] in last and "width       = 4\n" in last
    assert "dryrun      = True\n" in last and not (tmp_path / "split_sci.pre").exists()


def test_a_misspelt_parameter_is_one_line_with_a_suggestion(tmp_path, monkeypatch):
    """split_sci(widht=2) at the prompt: one TypeError naming the parameter and the likely one, nothing run."""
    monkeypatch.chdir(tmp_path)
    ns = _prompt_ns()
    with pytest.raises(TypeError, match=r"^split_sci not run: 'widht' is not a parameter of split_sci; "
                                        r"did you mean 'width'\?$") as info:
        exec("split_sci(vis='/no/such', widht=2)", ns)
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no second traceback
    assert task_of(info.value) == "split_sci"  # the prompt shows it as one line, not an IPython traceback
    assert os.listdir(str(tmp_path)) == []


#: Each prompt task's positional order, as docs/reference.md gives it. A new parameter may only be appended:
#: a call such as split_sci('/path', '', 'OBSERVE_TARGET*') must keep its meaning.
_POSITIONAL = {
    "restore_pi": ["member", "spacesaving", "dosplit", "docontsub", "dryrun", "overwrite", "checkdisk",
                   "versioncheck", "casa", "parallel", "submit"],
    "split_sci": ["vis", "outputvis", "intent", "minnchan", "spw", "datacolumn", "reindex", "flagversion",
                  "overwrite", "dryrun", "width", "timebin", "parallel", "maxjobs", "totalpower"],
    "split_tgt": ["vis", "outputvis", "intent", "datacolumn", "flagversion", "overwrite", "dryrun", "parallel",
                  "maxjobs", "totalpower"],
}


@pytest.mark.parametrize("task", sorted(_POSITIONAL))
def test_positional_order_is_pinned_and_only_grows_at_the_end(task):
    import inspect
    sig = _tasks()[task].__signature__
    names = list(sig.parameters)
    assert names[:len(_POSITIONAL[task])] == _POSITIONAL[task]
    assert all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in sig.parameters.values())
    # the documented order is the one in docs/reference.md's signature line for the task
    reference = open(os.path.join(os.path.dirname(__file__), "..", "docs", "reference.md")).read()
    line = re.search(r"^`%s\((.*)\)`$" % task, reference, re.M).group(1)
    assert [p.split("=")[0].strip() for p in line.split(", ")] == names


def test_positional_arguments_at_the_prompt_in_casas_way(restored, tmp_path, monkeypatch):
    """split_sci('/path', '', 'OBSERVE_TARGET*') at the prompt: CASA's tasks take arguments in their order."""
    from casa_plugin import split_sci
    monkeypatch.chdir(tmp_path)
    ns = _prompt_ns(vis="/no/such.ms", dryrun=False)
    project = restored["project"]
    exec("r = split_sci(%r, '', 'OBSERVE_TARGET*', 5, '1', 'corrected', True, 'original_flags', False, True, 2)"
         % project, ns)
    expected = split_sci(vis=project, intent="OBSERVE_TARGET*", spw="1", dryrun=True, width=2)
    assert ns["r"] == expected and ns["r"]["counts"] == {"planned": 3} and not _outputs(project)
    assert set(tuple(e["spw"]) for e in ns["r"]["ebs"].values()) == {(1,)}
    last = (tmp_path / "split_sci.last").read_text()  # the parameters by name, as tget reads them back
    assert "spw         = '1'\n" in last and "dryrun      = True\n" in last and "width       = 2\n" in last
    exec("r2 = split_sci(%r, dryrun=True, spw='1', width=2)" % project, ns)  # mixed: positional, then keywords
    assert ns["r2"] == expected
    with pytest.raises(TypeError, match=r"^split_sci not run: too many positional arguments$"):
        exec("split_sci(%s)" % ", ".join(["None"] * (len(_POSITIONAL["split_sci"]) + 1)), ns)
    with pytest.raises(TypeError, match=r"^split_sci not run: multiple values for argument 'vis'$"):
        exec("split_sci(%r, vis=%r)" % (project, project), ns)


def test_the_python_functions_stay_keyword_only_after_their_first_parameter():
    import casa_plugin
    for name in _POSITIONAL:
        with pytest.raises(TypeError, match="positional argument"):
            getattr(casa_plugin, name)("/no/such", "")


def test_call_without_arguments_takes_the_globals(restored, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ns = _prompt_ns(vis=restored["project"], dryrun=True, spw=[1])
    exec("r = split_sci()", ns)
    assert ns["r"]["counts"] == {"planned": 3}
    assert set(tuple(e["spw"]) for e in ns["r"]["ebs"].values()) == {(1,)}
    assert not _outputs(restored["project"])


def test_bad_globals_name_each_parameter_and_run_nothing(restored, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ns = _prompt_ns(vis=restored["project"], minnchan="5", datacolumn="bogus")
    with pytest.raises(TypeError, match=r"split_sci not run: minnchan='5': must be an integer; "
                                        r"datacolumn='bogus': must be one of 'corrected', 'data'"):
        exec("split_sci()", ns)
    assert not _outputs(restored["project"])
    assert "datacolumn  = 'bogus'" in (tmp_path / "split_sci.last").read_text()  # tget gets them back to fix
    ns.update(minnchan=5)
    with pytest.raises(ValueError, match="datacolumn='bogus': must be one of"):
        exec("split_sci()", ns)


def test_default_tput_tget(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ns = _prompt_ns(vis="a.ms", width=8, other="kept")
    exec("split_sci.tput()", ns)
    exec("split_sci.set_global_defaults()", ns)
    assert "vis" not in ns and "width" not in ns and ns["other"] == "kept"
    exec("split_sci.tget()", ns)
    assert ns["vis"] == "a.ms" and ns["width"] == 8 and "intent" in ns and "__file__" not in ns
    (tmp_path / "split_sci.last").unlink()
    exec("split_sci.tget()", ns)  # no file: the defaults, as CASA's tasks
    assert "vis" not in ns


def test_restore_pi_parallel_takes_a_number_of_members_split_sci_does_not():
    tasks = _tasks()
    assert tasks["restore_pi"].problems({"member": ".", "parallel": 2}) == []
    assert tasks["restore_pi"].problems({"member": ".", "parallel": True}) == []
    assert [p[0] for p in tasks["split_sci"].problems({"vis": ".", "parallel": 2})] == ["parallel"]


@pytest.mark.parametrize("task, name, value, message", [
    ("split_sci", "minnchan", "5", "minnchan='5': must be an integer"),
    ("split_sci", "minnchan", True, "must be an integer"),
    ("split_sci", "datacolumn", "bogus", "must be one of 'corrected'"),
    ("split_sci", "spw", "1~3", "spw ids separated by commas"),
    ("split_sci", "width", 2.5, "a channel count"),
    ("split_sci", "dryrun", "yes", "dryrun='yes': must be True or False"),
    ("split_sci", "parallel", 1, "None, True or False"),
    ("split_sci", "maxjobs", 0, ">= 1"),
    ("split_sci", "flagversion", " ", "a flag version name"),
    ("split_tgt", "datacolumn", 3, "one of 'corrected'"),
    ("split_tgt", "vis", 3, "a path, a glob or a directory"),
    ("restore_pi", "spacesaving", -2, "an integer >= -1"),
    ("restore_pi", "dosplit", 1, "None, True or False"),
    ("restore_pi", "casa", 3, "None, 'auto' or the path"),
    ("restore_pi", "versioncheck", None, "True or False"),
    ("restore_pi", "parallel", 0, "a whole number >= 1"),  # restore_pi's parallel also takes N members
    ("restore_pi", "parallel", "2", "the number of members restored at once"),
    ("restore_pi", "submit", 3, "a scheduler's name ('slurm')"),
    ("restore_pi", "submit", "pbs", "one of 'slurm' (the schedulers casa_plugin knows)"),
    ("restore_pi", "submit", {"partition": "normal"}, "a dict of submit's options with 'scheduler'"),
])
def test_checks_agree_with_the_functions(restored, casa_session, task, name, value, message):
    """What the prompt refuses, the function refuses too; every default passes."""
    import casa_plugin
    obj = _tasks()[task]
    eb = sorted(glob.glob(os.path.join(restored["project"], "*", "*", "*", "calibrated", "uid*.ms")))[0]
    good = {"split_sci": {"vis": restored["project"], "dryrun": True}, "split_tgt": {"vis": eb, "dryrun": True},
            "restore_pi": {"member": restored["project"], "dryrun": True}}[task]
    assert obj.problems(dict(good)) == []
    values = dict(good, **{name: value})
    with pytest.raises((TypeError, ValueError), match=re.escape(message)):
        obj.check(values)
    with pytest.raises((TypeError, ValueError)):
        getattr(casa_plugin, task)(**values)
    assert not _outputs(restored["project"])


@pytest.mark.subprocess
def test_help_and_taskhelp_names():
    tasks = _tasks()
    for name, obj in tasks.items():
        assert obj.__name__ == name and obj._info_group_ == "casa_plugin" and "Parameters" in obj.__doc__
        assert type(obj).__doc__ == obj.__doc__  # help(obj) shows the function's docstring
    assert "vis=''" in str(tasks["split_sci"].__signature__)


# --- at the real prompt ----------------------------------------------------------------------------------

def _session(tmp_path, cells):
    """Run ``cells`` one by one as typed at the CASA prompt (IPython's autocall included); return the output."""
    script = tmp_path / "cells.py"
    script.write_text("cells = %r\nfor cell in cells:\n    print('>>> ' + cell)\n"
                      "    get_ipython().run_cell(cell)\n" % (cells,))
    proc = run_casa(script, tmp_path, startup=startup_file(tmp_path, pipeline=False))
    assert proc.returncode == 0, proc.stdout[-3000:]
    return _ANSI.sub("", proc.stdout)


def _between(out, cell, following):
    """What the cell starting ``cell`` printed, up to the cell starting ``following``."""
    rest = out.split("\n>>> " + cell, 1)[1].split("\n", 1)[1]
    return rest.split("\n>>> " + following, 1)[0]


@pytest.mark.subprocess
def test_inp_go_default_tget_at_the_prompt(restored, tmp_path):
    project = restored["project"]
    report = tmp_path / "report.json"
    cells = ["inp split_sci",
             "vis = %r" % project, "dryrun = True", "width = 4",
             "inp(split_sci)",
             "r1 = go(split_sci)",
             "saveinputs split_sci",
             "default split_sci",
             "print('AFTER DEFAULT', 'vis' in globals(), 'width' in globals())",
             "tget split_sci",
             "inp",
             "r2 = split_sci()",
             "minnchan = 'five'",
             "go split_sci",
             "print('STILL HERE')",
             "minnchan = 5",
             "r4 = split_sci(%r, '', 'OBSERVE_TARGET*', 5, '', 'corrected', True, 'original_flags', False, True)"
             % project,  # positional, in CASA's way
             "r3 = split_sci(vis=%r, dryrun=True)" % project,
             "import json; json.dump({'r1': r1['counts'], 'r2': r2['counts'], 'r3': r3['counts'], "
             "'r4': r4['counts']}, open(%r, 'w'))" % str(report),
             "tput split_tgt", "print('END')"]
    out = _session(tmp_path, cells)
    first = _between(out, "inp split_sci", "vis =")
    assert re.search(r"^# split_sci -- Split science spws", first, re.M)  # IPython 7 echoes ------> inp(split_sci)
    assert re.search(r"^minnchan\s+= 5\s+# Minimum channels of a science spw", first, re.M)
    shown = _between(out, "inp(split_sci)", "r1 =")
    assert re.search(r"^vis\s+= '%s'" % re.escape(project), shown, re.M)
    assert re.search(r"^width\s+= 4 ", shown, re.M)
    assert _between(out, "print('AFTER DEFAULT'", "tget").strip().endswith("AFTER DEFAULT False False")
    assert re.search(r"^width\s+= 4 ", _between(out, "inp", "r2 ="), re.M)  # tget: saveinputs' values
    refused = _between(out, "go split_sci", "print('STILL HERE')")
    assert "TypeError: split_sci not run: minnchan='five': must be an integer" in refused
    assert "[split_sci failed" in refused and "planned" not in refused
    assert "STILL HERE" in out and "END" in out
    result = json.loads(report.read_text())
    assert result["r1"] == result["r2"] == result["r3"] == result["r4"] == {"planned": 3}
    assert not _outputs(project)
    last = (tmp_path / "split_sci.last").read_text()  # the last call: the keyword one, with its defaults
    assert "vis         = %r" % project in last and "width       = 1\n" in last
    tgt = (tmp_path / "split_tgt.last").read_text()  # the globals are the prompt's, shared by all tasks
    assert "#split_tgt( vis=%r," % project in tgt and ",dryrun=True," in tgt


@pytest.mark.subprocess
def test_go_runs_the_split_with_the_globals(restored, tmp_path):
    """Not a dry run: go split_sci with averaging set as globals writes the outputs."""
    cal = sorted(os.path.join(m, "calibrated") for m in restored["members"])[0]
    out = _session(tmp_path, ["vis = %r" % cal, "width = 2", "r = go(split_sci)",
                              "print('COUNTS', r['counts'])", "default(split_sci)", "inp"])
    assert "COUNTS {'split': 1}" in out or "COUNTS {'split': 2}" in out, out[-3000:]
    assert glob.glob(os.path.join(cal, "*.ms.split.cal"))
    assert re.search(r"^width\s+= 1 ", _between(out, "inp", "\x00"), re.M)  # inp alone: the last task, reset


@pytest.mark.subprocess
def test_interactive_prompt(restored, tmp_path):
    """As typed: autocall turns `inp split_sci` into inp(split_sci) and `go` runs the last task."""
    pexpect = pytest.importorskip("pexpect")
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home))
    env.pop("PYTHONPATH", None)
    command = [sys.executable, "-m", "casashell", "--nologger", "--nogui", "--nologfile"]
    command += casashell_startup_args(startup_file(tmp_path, pipeline=False), tmp_path)
    child = pexpect.spawn(command[0], command[1:], cwd=str(tmp_path), env=env, encoding="utf-8",
                          timeout=120, dimensions=(50, 200))
    prompt = r"CASA <(?:\x1b\[[0-9;?]*[A-Za-z])*%d(?:\x1b\[[0-9;?]*[A-Za-z])*>: "
    try:
        child.expect(prompt % 1)
        seen = []
        lines = ["vis = %r" % restored["project"], "dryrun = True", "inp split_sci", "go", "datacolumn = 'bogus'",
                 "go split_sci", "default split_sci", "print('DC', 'datacolumn' in dir())"]
        for number, line in enumerate(lines, 2):
            child.sendline(line)
            child.expect(prompt % number)
            seen.append(_ANSI.sub("", child.before).replace("\r", ""))
    finally:
        child.close(force=True)
    assert "# split_sci -- Split science spws" in seen[2] and "dryrun      = True" in seen[2]
    assert "-> calibrated" in seen[3] or "planned" in seen[3], seen[3]
    assert "ValueError: split_sci not run: datacolumn='bogus': must be one of" in seen[5]
    assert "DC False" in seen[7]


def test_globals_another_task_left_are_named_before_the_run(restored, tmp_path, monkeypatch, caplog):
    """tget(split_tgt) then go(split_sci): the globals they share by name (datacolumn, intent) are split_tgt's;
    the call says which values are not split_sci's defaults, and a None names its likely source."""
    import logging
    monkeypatch.chdir(tmp_path)
    caplog.set_level(logging.INFO, logger="casa_plugin")
    ns = _prompt_ns(vis=restored["project"], dryrun=True, datacolumn="data", intent="*TARGET*")
    exec("r = split_sci()", ns)
    assert "split_sci: from the prompt's globals, not the defaults: " in caplog.text
    assert "intent='*TARGET*'" in caplog.text and "datacolumn='data'" in caplog.text
    assert "default(split_sci) resets them" in caplog.text
    ns.update(datacolumn=None, intent="OBSERVE_TARGET*")
    with pytest.raises(TypeError, match=r"datacolumn=None: must be .*another task's parameters\? "
                                        r"default\(split_sci\) resets"):
        exec("split_sci()", ns)
