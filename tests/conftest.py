"""Shared fixtures: a synthetic ALMA delivery, built and restored once per session, copied per test."""

import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

try:
    if os.environ.get("CASA_PLUGIN_PURE"):  # tools/check_py36.py: pure-Python tests only, even in CI
        raise ImportError("CASA_PLUGIN_PURE is set")
    import numpy  # noqa: F401  - before casatools: casatools 6.2's bundled libgcc_s breaks a later numpy
    import casatools  # noqa: F401
    import casatasks  # noqa: F401
except ImportError:  # pragma: no cover - CI must never skip CASA tests
    if os.environ.get("CI") and not os.environ.get("CASA_PLUGIN_PURE"):
        raise
    casatools = None


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False,
                     help="also run the slow tests (full 6+2 EB delivery)")


def pytest_collection_modifyitems(config, items):
    skip_casa = pytest.mark.skip(reason="casatools not installed (outside CI only)")
    skip_slow = pytest.mark.skip(reason="slow: use --runslow")
    for item in items:
        if casatools is None and "casa" in item.keywords:
            item.add_marker(skip_casa)
        if "slow" in item.keywords and not config.getoption("--runslow"):
            item.add_marker(skip_slow)


@pytest.fixture(scope="session", autouse=True)
def _casa_log(tmp_path_factory):
    """Keep CASA's log out of the repository: one log file per test session."""
    if casatools is not None:
        from casatasks import casalog
        casalog.setlogfile(str(tmp_path_factory.mktemp("casalog") / "casa.log"))
    yield


@pytest.fixture
def casa_session():
    """A fresh CASA-prompt namespace with the pipeline stand-in loaded, remembered for restore_pi."""
    from casa_plugin import pipeline_standin, session
    saved = list(session._remembered)
    ns = pipeline_standin.load_into({"__name__": "__main__"})
    session.remember(ns)
    yield ns
    session._remembered[:] = saved


def _restore_all(project):
    from casa_plugin.pipeline_standin import restore_with_standin
    restore_with_standin(project)


@pytest.fixture(scope="session")
def pristine_delivery(tmp_path_factory):
    """The small synthetic delivery, not restored (session-wide; never modify: use ``delivery``)."""
    from casa_plugin.synthetic_delivery import make_delivery
    return make_delivery(str(tmp_path_factory.mktemp("pristine")), small=True)


@pytest.fixture(scope="session")
def restored_delivery(tmp_path_factory):
    """The small synthetic delivery after restore_pi (session-wide; never modify: use ``restored``)."""
    from casa_plugin.synthetic_delivery import make_delivery
    info = make_delivery(str(tmp_path_factory.mktemp("restored")), small=True)
    _restore_all(info["project"])
    return info


def _copy(info, tmp_path):
    dest = str(tmp_path / os.path.basename(info["project"]))
    shutil.copytree(info["project"], dest, symlinks=True)
    members = {}
    for member, ebs in info["members"].items():
        members[os.path.join(dest, os.path.relpath(member, info["project"]))] = list(ebs)
    return {"project": dest, "members": members}


@pytest.fixture
def delivery(pristine_delivery, tmp_path):
    """A private copy of the small, unrestored delivery."""
    return _copy(pristine_delivery, tmp_path)


@pytest.fixture
def restored(restored_delivery, tmp_path):
    """A private copy of the small, restored delivery (calibrated/ links into working/)."""
    return _copy(restored_delivery, tmp_path)


@pytest.fixture
def calibrated_dirs(restored):
    """The ``calibrated/`` directories of the restored copy, sorted by member."""
    return [os.path.join(m, "calibrated") for m in sorted(restored["members"])]


def _casashell_has_startupfile():
    """Whether this casashell takes --startupfile (6.6+); older ones read startup.py from --rcdir."""
    import importlib.util
    spec = importlib.util.find_spec("casashell")
    if spec is None or not spec.origin:
        return True  # no casashell: let the command fail as before
    with open(spec.origin) as f:
        return "--startupfile" in f.read()


def casashell_startup_args(startup, workdir):
    """casashell arguments that run ``startup`` (None: no startup file) when CASA starts, on any casashell.

    casashell 6.6+ takes --startupfile/--nostartupfile; 6.2-6.5 read <rcdir>/startup.py and keep their
    ipython/ there, so they get a private --rcdir under ``workdir`` (never ~/.casa).
    """
    if _casashell_has_startupfile():
        return ["--nostartupfile"] if startup is None else ["--startupfile", str(startup)]
    name = "none" if startup is None else os.path.splitext(os.path.basename(str(startup)))[0]
    rcdir = os.path.join(str(workdir), "casa-rcdir-" + name)
    if not os.path.isdir(rcdir):
        os.makedirs(rcdir)
    if startup is not None:
        shutil.copy(str(startup), os.path.join(rcdir, "startup.py"))
    elif os.path.exists(os.path.join(rcdir, "startup.py")):
        os.remove(os.path.join(rcdir, "startup.py"))
    return ["--rcdir", rcdir]


def run_casa(script, cwd, startup=None, args=(), timeout=600):
    """Run ``script`` at the real CASA prompt (casashell) and return the CompletedProcess."""
    cmd = [sys.executable, "-m", "casashell", "--nologger", "--nogui", "--log2term", "--nologfile"]
    cmd += casashell_startup_args(startup, cwd)
    cmd += ["-c", str(script)] + [str(a) for a in args]
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return subprocess.run(cmd, cwd=str(cwd), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=timeout)
