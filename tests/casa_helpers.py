"""Test helpers that read measurement sets with casatools (never with the code under test).

The manual loop and the MS comparison live in casa_plugin.testing.compare, shared with bench/child.py.
"""

import os
import re
from contextlib import contextmanager

import numpy as np

from casa_plugin.testing.compare import MAIN_COLUMNS, columns, manual_loop, ms_differences, subtable_column  # noqa: F401


def field_names_in_main(vis):
    names = subtable_column(vis, "FIELD", "NAME")
    ids = np.unique(columns(vis, ("FIELD_ID",))["FIELD_ID"])
    return sorted(names[i] for i in ids)


def flag_versions(vis):
    from casatasks import flagmanager
    listing = flagmanager(vis=vis, mode="list")
    return sorted(v["name"] for k, v in listing.items() if k != "MS")


def assert_same_ms(a, b):
    problems = ms_differences(a, b)
    assert not problems, "\n".join(problems)


def snapshot(root):
    """Return {relative path: (size, mtime_ns)} of every file below ``root`` (links not followed; no report)."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != "casa_plugin_report"]  # the delivery report is rewritten by every call
        for name in files + [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            out[os.path.relpath(path, root)] = (st.st_size, st.st_mtime_ns)
    return out


def failed_errors(exc):
    """The per-EB errors a SplitError carries in ``.results`` (the message itself only names the EBs)."""
    results = exc.results
    summaries = [results[k] for k in ("sci", "tgt") if k in results] or [results]
    return "\n".join(r.get("error", "") for s in summaries for r in s["ebs"].values() if r["status"] == "failed")


@contextmanager
def split_failure(match):
    """Like ``pytest.raises(SplitError, match=...)``, with ``match`` searched in the failed EBs' errors."""
    import pytest
    from casa_plugin import SplitError
    with pytest.raises(SplitError) as info:
        yield info
    text = failed_errors(info.value)
    assert re.search(match, text), text


def small_disk(monkeypatch, under, free_mib):
    """Make the filesystem of every path below ``under`` show ``free_mib`` MiB available (as df would)."""
    real = os.statvfs

    def statvfs(path):
        st = real(path)
        if not os.path.abspath(str(path)).startswith(str(under)):
            return st
        return os.statvfs_result((st.f_bsize, 1 << 20, st.f_blocks, free_mib, free_mib, st.f_files, st.f_ffree,
                                  st.f_favail, st.f_flag, st.f_namemax))
    monkeypatch.setattr(os, "statvfs", statvfs)


@contextmanager
def mount_tmpfs(path, options):
    """Yield ``path`` with a tmpfs mounted there (root only, as on the project's machines and CI); unmount it."""
    import subprocess
    import pytest
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("CI must run as root: the full- and read-only-filesystem tests mount a tmpfs")
        pytest.skip("mounting a tmpfs needs root")
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def run_mpi(cmd, cwd, timeout):
    """Run an ``mpirun ...`` command without PYTHONPATH; return its output; fail on a non-zero exit or a hang
    (the whole process group is killed)."""
    import signal
    import subprocess
    import pytest
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    proc = subprocess.Popen([str(c) for c in cmd], cwd=str(cwd), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, universal_newlines=True, start_new_session=True)
    try:
        out = proc.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("mpirun hung:\n" + proc.communicate()[0][-5000:])
    assert proc.returncode == 0, out[-5000:]
    return out
