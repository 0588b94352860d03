"""locks: a casacore table's lock holder as table.lock's fcntl locks give it, and the words for a network filesystem."""

import os
import socket
import subprocess
import sys

import pytest

from casa_plugin.restore import locks

pytestmark = pytest.mark.casa

HOLDER = """
import sys, casatools
tb = casatools.table()
tb.open(sys.argv[1], nomodify=False)
tb.lock()
print('locked', flush=True)
sys.stdin.read()
tb.close()
"""


@pytest.fixture
def held_table(tmp_path):
    """A casacore table write-locked (tb.lock(), not permanent) by a live helper process."""
    import casatools
    path = str(tmp_path / "t.tab")
    tb = casatools.table()
    try:
        tb.create(path, {"A": {"valueType": "int"}})
    finally:
        tb.close()
    helper = subprocess.Popen([sys.executable, "-c", HOLDER, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              universal_newlines=True)
    assert helper.stdout.readline().strip() == "locked"
    yield path, helper
    helper.stdin.close()
    helper.wait(timeout=60)


def test_the_holder_is_read_from_table_lock(held_table):
    path, helper = held_table
    holder = locks.lock_holder(path)
    assert holder == {"pid": helper.pid, "mode": "write", "permanent": False, "waiting": [],
                      "lockfile": os.path.join(path, "table.lock")}
    text = locks.holder_text(path, holder)
    assert text.startswith("%s: write-locked by process %d on this host (%s): %s -c" % (
        path, helper.pid, socket.gethostname(), sys.executable))
    helper.stdin.close()
    helper.wait(timeout=60)
    assert locks.lock_holder(path) is None


def test_on_a_network_filesystem_the_lock_is_called_unreliable(held_table, tmp_path, monkeypatch):
    path, helper = held_table
    mounts = tmp_path / "mounts"
    mounts.write_text("/dev/sda1 / ext4 rw 0 0\nserver:/export %s nfs4 rw 0 0\n" % tmp_path)
    monkeypatch.setattr(locks, "_MOUNTS", str(mounts))
    assert locks.filesystem_of(path) == ("nfs4", str(tmp_path))
    text = locks.holder_text(path, locks.lock_holder(path))
    assert ("write-locked by pid %d as nfs4's lock manager reports it, which may be a process of another host; a "
            "process %d runs on this host (%s)" % (helper.pid, helper.pid, socket.gethostname())) in text
    assert ("table.lock is on nfs4 (%s), whose fcntl locks are kept by the server and are unreliable: a holder that "
            "died, or whose host crashed, can keep the lock until the server's lock manager drops it" % tmp_path) in text
    gone = dict(locks.lock_holder(path), pid=0)
    assert "by a process the filesystem does not name (pid 0: on another host)" in locks.holder_text(path, gone)


def test_tables_below_follow_links_once(tmp_path):
    real = tmp_path / "working" / "uid___A002_X1_X1.ms"
    (real / "ANTENNA").mkdir(parents=True)
    for table in (real, real / "ANTENNA"):
        (table / "table.lock").write_bytes(b"")
    (tmp_path / "calibrated").mkdir()
    os.symlink(str(real), str(tmp_path / "calibrated" / "uid___A002_X1_X1.ms"))
    found = locks.tables_below(str(tmp_path / "calibrated"))
    assert [os.path.relpath(p, str(tmp_path)) for p in found] == [
        "calibrated/uid___A002_X1_X1.ms", "calibrated/uid___A002_X1_X1.ms/ANTENNA"]
    assert locks.lock_holder(found[0]) is None  # an empty, unlocked table.lock
