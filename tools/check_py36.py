#!/usr/bin/env python3
"""Python 3.6 check (CASA 6.2, ALMA Cycle 8, runs Python 3.6): run by ``make check36``.

1. Every ``.py`` file of casa_plugin/ (templates included: the scriptForPI runs in the delivery's CASA),
   init.py and recipes/ compiles with Python 3.6 (in memory: nothing is written).
2. In a Python 3.6 venv (.compat/py36: pytest 7.0, numpy; no CASA), every casa_plugin module imports,
   except those that need CASA itself (an ImportError naming casatools, casatasks, ...: reported, allowed).
3. The pure-Python tests (test files without the ``casa`` or ``mpi`` marker: test_discovery.py,
   test_outputs.py, ...) pass there, with CASA_PLUGIN_PURE=1 so conftest.py does not demand CASA even
   where CI is set.
4. The package builds a wheel with Python 3.6 (``pip wheel``, as ``pip install`` on 3.6 would).

    tools/check_py36.py [--python /path/to/python3.6] [--no-wheel] [--stamp FILE]

Exit status 0 only if all of it passes, or, outside CI (CI unset), if there is no Python 3.6: the check is
then skipped with a message (and FILE is not written); under CI a missing Python 3.6 fails.
"""

from __future__ import print_function

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPAT = os.path.abspath(os.environ.get("COMPAT_DIR", os.path.join(REPO, ".compat")))
VENV = os.path.join(COMPAT, "py36")
PYENV = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
REQUIREMENTS = ["pip>=21.3,<22", "pytest>=7.0,<7.1", "numpy<1.20"]  # the last of each for Python 3.6
CASA_MODULES = {"casatools", "casatasks", "casashell", "casampi", "casaconfig", "casadata", "casalith",
                "mpi4py", "pipeline"}


def find_python36():
    found = sorted(glob.glob(os.path.join(PYENV, "versions", "3.6.*", "bin", "python")),
                   key=lambda p: int(re.search(r"3\.6\.(\d+)", p).group(1)))
    return found[-1] if found else shutil.which("python3.6")


def sources():
    files = sorted(glob.glob(os.path.join(REPO, "casa_plugin", "**", "*.py"), recursive=True))
    files += [os.path.join(REPO, "init.py")] + sorted(glob.glob(os.path.join(REPO, "recipes", "**", "*.py"),
                                                                recursive=True))
    return [f for f in files if os.path.isfile(f)]


def pure_tests():
    """Test files that need neither CASA nor MPI (no casa/mpi marker, no CASA import at module level)."""
    out = []
    for path in sorted(glob.glob(os.path.join(REPO, "tests", "test_*.py"))):
        with open(path) as f:
            text = f.read()
        if re.search(r"pytest\.mark\.(casa|mpi)\b", text):
            continue
        if re.search(r"^(import|from) (%s)\b" % "|".join(sorted(CASA_MODULES)), text, re.M):
            continue
        out.append(path)
    return out


def env36():
    env = dict(os.environ)
    for key in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"):
        env.pop(key, None)
    env["CASA_PLUGIN_PURE"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


COMPILE = r"""
import sys
bad = 0
for path in sys.argv[1:]:
    with open(path, 'rb') as f:
        source = f.read()
    try:
        compile(source, path, 'exec', dont_inherit=True)
    except SyntaxError as e:
        bad += 1
        print('%s:%s: %s: %s' % (path, e.lineno, type(e).__name__, e.msg))
        if e.text:
            print('    ' + e.text.rstrip())
sys.exit(1 if bad else 0)
"""

IMPORTS = r"""
import importlib, json, pkgutil, sys, traceback
import casa_plugin
names = ['casa_plugin'] + [m.name for m in pkgutil.walk_packages(casa_plugin.__path__, 'casa_plugin.')]
casa = set(sys.argv[1].split(','))
out = {}
for name in names:
    try:
        importlib.import_module(name)
        out[name] = 'ok'
    except ImportError as e:
        missing = (getattr(e, 'name', None) or '').split('.')[0]
        out[name] = ('needs ' + missing) if missing in casa else ('FAIL ' + traceback.format_exc())
    except Exception:
        out[name] = 'FAIL ' + traceback.format_exc()
print(json.dumps(out))
"""


def ensure_venv(python):
    """The Python 3.6 venv, created once (stamp: what was installed)."""
    stamp = os.path.join(VENV, ".check36-installed.json")
    want = {"python": python, "requirements": REQUIREMENTS}
    if os.path.exists(stamp):
        with open(stamp) as f:
            if json.load(f) == want:
                return os.path.join(VENV, "bin", "python")
    shutil.rmtree(VENV, ignore_errors=True)
    print("check36: creating %s" % os.path.relpath(VENV, REPO))
    sys.stdout.flush()
    subprocess.check_call([python, "-m", "venv", VENV])
    vpy = os.path.join(VENV, "bin", "python")
    pip = [vpy, "-m", "pip", "--disable-pip-version-check", "install"]
    log = os.path.join(COMPAT, "py36.install.log")
    with open(log, "w") as out:
        for reqs in ([REQUIREMENTS[0]], REQUIREMENTS[1:]):
            if subprocess.call(pip + reqs, env=env36(), stdout=out, stderr=subprocess.STDOUT) != 0:
                raise SystemExit("check36: pip install %s failed; see %s" % (" ".join(reqs), log))
    site = subprocess.check_output([vpy, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                   universal_newlines=True).strip()
    with open(os.path.join(site, "casa_plugin_checkout.pth"), "w") as f:
        f.write(REPO + "\n")  # the working tree, as pip install -e would
    with open(stamp, "w") as f:
        json.dump(want, f)
    return vpy


def build_wheel(vpy):
    """``pip wheel`` of a copy of the package (nothing is written into the checkout)."""
    tmp = tempfile.mkdtemp(prefix="check36-wheel-")
    try:
        src = os.path.join(tmp, "src")
        os.makedirs(src)
        for name in os.listdir(REPO):
            if name in ("casa_plugin",):
                shutil.copytree(os.path.join(REPO, name), os.path.join(src, name),
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            elif name in ("setup.cfg", "setup.py", "pyproject.toml", "MANIFEST.in", "README.md", "LICENSE", "init.py"):
                shutil.copy(os.path.join(REPO, name), src)
        proc = subprocess.run([vpy, "-m", "pip", "--disable-pip-version-check", "wheel", "--no-deps", "-q",
                               "-w", os.path.join(tmp, "dist"), src], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True, env=env36(), timeout=900)
        wheels = glob.glob(os.path.join(tmp, "dist", "*.whl"))
        lines = [l for l in proc.stdout.splitlines() if "is ignored: it is neither a file nor a directory" not in l]
        return proc.returncode == 0 and bool(wheels), "\n".join(lines[-15:])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default=None, help="the Python 3.6 to use (default: pyenv's newest 3.6)")
    parser.add_argument("--no-wheel", action="store_true", help="skip the pip wheel build")
    parser.add_argument("--stamp", default=None, metavar="FILE", help="touch FILE if the whole check passed")
    args = parser.parse_args(argv)
    python = args.python or find_python36()
    if not python or not os.path.isfile(python):
        if os.environ.get("CI"):
            print("check36: no Python 3.6 (pyenv install 3.6.15, or pass --python)", file=sys.stderr)
            return 2
        print("check36: skipped outside CI: no Python 3.6 (pyenv install 3.6.15, or python3.6 on the PATH); "
              "CI runs this check and fails without it")
        return 0
    failures = []
    start = time.time()

    files = sources()
    proc = subprocess.run([python, "-c", COMPILE] + files, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, env=env36())
    print("check36: compile %d files with %s: %s" % (len(files), python, "ok" if proc.returncode == 0 else "FAILED"))
    if proc.returncode != 0:
        print(proc.stdout.rstrip())
        failures.append("compile")

    vpy = ensure_venv(python)
    proc = subprocess.run([vpy, "-c", IMPORTS, ",".join(sorted(CASA_MODULES))], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, env=env36(), cwd=VENV)
    try:
        imports = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        imports = {"casa_plugin": "FAIL " + proc.stdout}
    bad = {k: v for k, v in imports.items() if v.startswith("FAIL")}
    needs = sorted("%s (%s)" % (k, v[len("needs "):]) for k, v in imports.items() if v.startswith("needs"))
    print("check36: import %d modules without CASA: %d ok, %d need CASA%s, %d FAILED" % (
        len(imports), sum(v == "ok" for v in imports.values()), len(needs),
        (": " + ", ".join(needs)) if needs else "", len(bad)))
    for name, why in sorted(bad.items()):
        print("  %s: %s" % (name, why[len("FAIL "):].rstrip().replace("\n", "\n    ")))
    if bad:
        failures.append("imports")

    tests = pure_tests()
    cmd = [vpy, "-m", "pytest", "-c", os.path.join(REPO, "setup.cfg"), "--rootdir", REPO, "-p", "no:cacheprovider",
           "--basetemp", os.path.join(VENV, "pytest-tmp"), "-q"] + tests
    print("check36: pure tests on Python 3.6: %s" % " ".join(os.path.relpath(t, REPO) for t in tests))
    sys.stdout.flush()
    proc = subprocess.run(cmd, env=env36(), cwd=VENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True)
    summary = proc.stdout.strip().splitlines()[-1:] or ["(no output)"]
    print("  " + summary[0])
    if proc.returncode != 0 or re.search(r"\bskipped\b", summary[0]):
        print(proc.stdout.rstrip()[-6000:])
        failures.append("pure tests" if proc.returncode != 0 else "pure tests skipped")

    if not args.no_wheel:
        ok, out = build_wheel(vpy)
        print("check36: pip wheel on Python 3.6: %s" % ("ok" if ok else "FAILED"))
        if not ok:
            print("  " + out.replace("\n", "\n  "))
            failures.append("wheel")

    print("check36: %s (%d s)" % ("FAILED: " + ", ".join(failures) if failures else "ok", time.time() - start))
    if args.stamp and not failures:
        with open(args.stamp, "w"):
            pass
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
