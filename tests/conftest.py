"""Shared fixtures: a synthetic ALMA delivery, built and restored once per session, copied per test."""

import glob
import logging
import os
import shutil
import signal
import tempfile
import time

import pytest

# A test run started in the background by a non-interactive shell (`make test &`, some CI runners) inherits SIGINT
# ignored, and so would every CASA process the tests start: the Ctrl-C tests would then wait for an interrupt that
# never comes. The tests' processes get Ctrl-C as a terminal delivers it.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


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


# What the tests write at once besides their largest MS (deliveries, copies, the last runs' kept temporaries).
# Measured: a fresh clone's `make test` took at most 4.3 GB below what was free when the suite started.
_BASE_DISK_GB = 2.0


def pytest_collection_modifyitems(config, items):
    skip_casa = pytest.mark.skip(reason="casatools not installed (outside CI only)")
    for item in items:
        if casatools is None and "casa" in item.keywords:
            item.add_marker(skip_casa)
    if casatools is not None and any("casa" in item.keywords for item in items):
        _check_room(config, items)


def _check_room(config, items):
    """Stop before the first test if the selected tests cannot fit: casacore aborts the whole process on a
    full disk, and the run would end with no report."""
    largest = max([m.args[0] for item in items for m in item.iter_markers("disk_gb")] or [0])
    needed = (_BASE_DISK_GB + largest) * 1e9
    where = os.path.abspath(str(config.option.basetemp)) if config.option.basetemp else tempfile.gettempdir()
    while not os.path.isdir(where):
        where = os.path.dirname(where)
    free = shutil.disk_usage(where).free
    if free < needed:
        pytest.exit("the selected tests write up to about %.1f GB at once under %s, but only %.1f GB is free there: "
                    "free some space (or point --basetemp/TMPDIR at a larger disk) and run again"
                    % (needed / 1e9, where, free / 1e9), returncode=1)


@pytest.fixture(autouse=True)
def _plugin_records_in_caplog(caplog, monkeypatch):
    """caplog sees the package's records once, whether or not a task has set up its own handlers."""
    logger = logging.getLogger("casa_plugin")
    monkeypatch.setattr(logger, "propagate", False)  # what a task's logging set-up does anyway
    logger.addHandler(caplog.handler)
    yield
    logger.removeHandler(caplog.handler)


@pytest.fixture(scope="session", autouse=True)
def _casa_log(tmp_path_factory):
    """Keep CASA's log out of the repository: one log file per test session; the start-up banners that the
    session's CASA processes (a test's subprocess importing casatasks in the clone) left there are removed."""
    start = time.time()
    if casatools is not None:
        from casatasks import casalog
        first = casalog.logfile()  # opened by the import in the working directory (the clone)
        casalog.setlogfile(str(tmp_path_factory.mktemp("casalog") / "casa.log"))
        if first and os.path.basename(first).startswith("casa-") and os.path.isfile(first):
            os.remove(first)  # only the import's banner: nothing of a test's
    yield
    for path in glob.glob(os.path.join(_REPO, "casa-*.log")):
        if os.path.getmtime(path) >= start - 1 and _banner_only(path):
            os.remove(path)


_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _banner_only(path):
    """True for a CASA log holding only CASA's start-up banner (origin ``::casa``): no task wrote to it."""
    try:
        with open(path, errors="replace") as f:
            return all("\t::casa\t" in line for line in f if line.strip())
    except OSError:
        return False


@pytest.fixture
def casa_session():
    """A fresh CASA-prompt namespace with the pipeline stand-in loaded, remembered for restore_pi."""
    from casa_plugin.prompt import session
    from casa_plugin.testing import pipeline_standin
    saved = list(session._remembered)
    ns = {"__name__": "__main__"}
    pipeline_standin.load_into(ns)
    session.remember(ns)
    yield ns
    session._remembered[:] = saved


@pytest.fixture
def prompt_ns():
    """A CASA-prompt-like namespace (casalog, msmd, the tasks the scriptForPIs name) with the pipeline stand-ins,
    remembered for restore_pi: the real scripts of some generations use those names directly."""
    import casatasks
    from casatools import msmetadata
    from casa_plugin.prompt import session
    from casa_plugin.testing import pipeline_standin
    saved = list(session._remembered)
    ns = {"__name__": "__main__", "msmd": msmetadata()}
    ns.update((name, getattr(casatasks, name)) for name in ("casalog", "mstransform", "split", "flagmanager"))
    pipeline_standin.load_into(ns)
    session.remember(ns)
    yield ns
    session._remembered[:] = saved


def _restore_all(project):
    from casa_plugin.testing.pipeline_standin import restore_with_standin
    restore_with_standin(project)


@pytest.fixture(scope="session")
def pristine_delivery(tmp_path_factory):
    """The small synthetic delivery, not restored (session-wide; never modify: use ``delivery``)."""
    from casa_plugin.testing.synthetic_delivery import make_delivery
    return make_delivery(str(tmp_path_factory.mktemp("pristine")), small=True)


@pytest.fixture(scope="session")
def restored_delivery(tmp_path_factory):
    """The small synthetic delivery after restore_pi (session-wide; never modify: use ``restored``)."""
    from casa_plugin.testing.synthetic_delivery import make_delivery
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


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    """A real SLURM cluster of two nodes on this machine (``tests/slurm_cluster.py``), for the whole session.

    Outside CI, skipped when SLURM, munge or root is missing; under CI a cluster that cannot start fails.
    """
    from slurm_cluster import missing, slurm_cluster
    lacks = missing()
    if lacks and not os.environ.get("CI"):
        pytest.skip("no SLURM cluster on this machine: missing %s (apt-get install -y slurm-wlm munge, as root)"
                    % ", ".join(lacks))
    with slurm_cluster(nodes=2, folder=str(tmp_path_factory.mktemp("slurm"))) as cluster:
        yield cluster
