"""casa5_wrapper: the CASA 5 child's standalone wrapper is Python 2.7, and runs a Python 2 scriptForPI there.

Its syntax is checked with a Python 2.7 when one is found (PATH's python2.7, else pyenv's 2.7.*). Where
none is (CI images may have none, and none may be installable), the check falls back to Python 3's ast:
the wrapper is kept valid in both languages, so Python 3 parses it, and a walk refuses every construct
Python 2.7 lacks (f-strings, keyword-only or annotated arguments, nonlocal, yield from, async, matmul,
starred assignment, print with several arguments). lib2to3's Python 2 grammar was not used: it also
accepts Python 3 syntax and is gone from Python 3.13. The fallback is announced as a warning, never a
silent skip.
"""

import ast
import glob
import json
import os
import shutil
import subprocess
import warnings

import pytest

from casa_plugin.restore import casa5_wrapper, script_checks
from casa_plugin.testing.synthetic_delivery import _TEMPLATES

_PY3_ONLY = (ast.JoinedStr, ast.Nonlocal, ast.YieldFrom, ast.AsyncFunctionDef, ast.AsyncFor, ast.AsyncWith,
             ast.Await, ast.MatMult, ast.AnnAssign, ast.Starred)


def python27():
    """A Python 2.7 interpreter of this machine, or None."""
    roots = [os.environ.get("PYENV_ROOT"), os.path.expanduser("~/.pyenv")]
    found = [shutil.which("python2.7")] + sorted(path for root in filter(None, roots)
                                                 for path in glob.glob(os.path.join(root, "versions", "2.7*", "bin",
                                                                                    "python")))
    for candidate in filter(None, found):
        ok = subprocess.run([candidate, "-c", "import sys; assert sys.version_info[:2] == (2, 7)"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
        if ok:
            return candidate
    return None


def python27_or_skip(what):
    """A Python 2.7, or a skip naming ``what`` is not tested here (under CI: a failure, as CI has one)."""
    python = python27()
    if python is None:
        if os.environ.get("CI"):
            pytest.fail("no Python 2.7 (python2.7 on the PATH or pyenv's 2.7.*): %s cannot be tested" % what)
        pytest.skip("no Python 2.7 here (pyenv install 2.7.18): %s is not tested; CI tests it" % what)
    return python


def py27_problems_by_ast(text):
    """Constructs of ``text`` (valid Python 3) that Python 2.7 does not have: the fallback check."""
    tree = ast.parse(text)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, _PY3_ONLY):
            found.append("%s at line %s" % (type(node).__name__, getattr(node, "lineno", "?")))
        if isinstance(node, (ast.FunctionDef, ast.Lambda)):
            args = node.args
            if args.kwonlyargs or any(a.annotation for a in args.args) or getattr(node, "returns", None):
                found.append("keyword-only or annotated arguments at line %d" % node.lineno)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print" and (
                len(node.args) > 1 or node.keywords):
            found.append("print() with several arguments at line %d (a tuple in Python 2)" % node.lineno)
    return found


def check_py27(path):
    """Return (checker, error text or ''): compile ``path`` with Python 2.7, else the ast fallback."""
    python = python27()
    if python:
        run = subprocess.run([python, "-m", "py_compile", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             universal_newlines=True)
        return python, run.stdout if run.returncode else ""
    warnings.warn("no Python 2.7 here: %s checked with the ast fallback (module docstring)" % path)
    with open(path) as f:
        return "ast fallback", "; ".join(py27_problems_by_ast(f.read()))


def wrapper(tmp_path, member, script, **options):
    text = casa5_wrapper.wrapper_text(str(member), str(script), str(tmp_path / "result.json"),
                                      str(tmp_path / "log_start.json"), options)
    path = tmp_path / "restore_driver.py"
    path.write_text(text)
    return path


def py2_member(tmp_path, body):
    member = tmp_path / "member.uid___A001_X1_X1"
    (member / "script").mkdir(parents=True)
    script = member / "script" / "member.uid___A001_X1_X1.scriptForPI.py"
    script.write_text(body)
    return member, script


def test_the_wrapper_is_python_2_7(tmp_path):
    member, script = py2_member(tmp_path, "print 'hello'\n")
    path = wrapper(tmp_path, member, script, spacesaving=1, dosplit=True, docontsub=None)
    checker, error = check_py27(str(path))
    assert error == "", (checker, error)
    compile(path.read_text(), str(path), "exec")  # and Python 3 (so the fallback can read it)


def test_the_fallback_refuses_what_python_2_7_lacks():
    assert py27_problems_by_ast("x = 1\nprint('a %s' % x)\n") == []
    for text in ("x = f'{1}'\n", "def f(*, a): pass\n", "def f(a: int): pass\n", "print('a', 'b')\n",
                 "a, *b = [1, 2]\n", "async def f(): pass\n"):
        assert py27_problems_by_ast(text), text


def test_the_python2_template_is_python_2_and_not_python_3(tmp_path):
    path = os.path.join(_TEMPLATES, "scriptForPI_py2.txt")
    copy = tmp_path / "scriptForPI.py"
    shutil.copy(path, str(copy))
    error = script_checks.python3_error(str(copy))
    assert error is not None and "Missing parentheses in call to 'print'" in error.msg
    python = python27_or_skip("the Python 2 template's own syntax")
    run = subprocess.run([python, "-m", "py_compile", str(copy)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True)
    assert run.returncode == 0, run.stdout


def test_the_wrapper_runs_a_python2_script_in_python_2_7_with_the_options(tmp_path):
    python = python27_or_skip("the wrapper's run in Python 2.7")
    member, script = py2_member(tmp_path, (
        "import os\n"
        "print 'restoring in', os.path.basename(os.getcwd())\n"
        "os.mkdir('../calibrated')\n"
        "open('../calibrated/options.txt', 'w').write(repr((SPACESAVING, DOSPLIT, globals().has_key('DOCONTSUB'))))\n"))
    path = wrapper(tmp_path, member, script, spacesaving=1, dosplit=True, docontsub=None)
    run = subprocess.run([python, str(path)], cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True)
    assert run.returncode == 0, run.stdout
    assert "restoring in script" in run.stdout
    with open(str(tmp_path / "result.json")) as f:
        out = json.load(f)
    assert out == {"casa_version": None, "result": {"members": {str(member): {"status": "restored"}}}}
    assert (member / "calibrated" / "options.txt").read_text() == "(1, True, False)"


def test_a_failing_python2_script_is_a_failed_member_with_its_cause(tmp_path):
    python = python27_or_skip("the wrapper's run in Python 2.7")
    member, script = py2_member(tmp_path, "import sys\nsys.exit('ERROR: probably not enough free disk space.')\n")
    path = wrapper(tmp_path, member, script)
    subprocess.run([python, str(path)], cwd=str(tmp_path), check=True, stdout=subprocess.DEVNULL)
    with open(str(tmp_path / "result.json")) as f:
        out = json.load(f)
    assert out["error"] == "RuntimeError: the scriptForPI stopped: ERROR: probably not enough free disk space."
    assert out["result"]["members"][str(member)]["status"] == "failed"


def test_only_a_python2_script_gets_the_wrapper(tmp_path):
    member, script = py2_member(tmp_path, "print 'x'\n")
    assert casa5_wrapper.python2_script(str(member)) == str(script)
    script.write_text("print('x')\n")
    assert casa5_wrapper.python2_script(str(member)) is None
