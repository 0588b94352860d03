"""Who holds a casacore table's lock: read from its table.lock as casacore locks it (fcntl), and how far to trust that.

casacore (casa/IO/LockFile.cc) locks a table with fcntl byte-range locks on
``<table>/table.lock``: byte 0 is the read/write lock, byte 1 is read-locked by
every process that has the table open ("in use"), byte 2 too when the table
is opened with permanent locking. The file's content is a request list
(the number of waiting processes, then a pid and a host id per waiting
process, as big-endian 4-byte integers; casacore writes 0 as the host id) and
the table's sync data: it never names the holder. The holder's pid is what
the kernel reports for the conflicting fcntl lock (``F_GETLK``). On a local
filesystem that is a process of this host, and a process that dies loses its
locks. On a network filesystem (NFS, Lustre, GPFS, ...) the lock is kept by
the server: the pid may be another host's (or 0), and a lock whose holder
died or whose host crashed can stay until the server's lock manager drops it.
"""

import fcntl
import logging
import os
import socket
import struct

__all__ = ["NETWORK_FILESYSTEMS", "lock_holder", "tables_below", "filesystem_of", "holder_text"]

log = logging.getLogger(__name__)

#: Filesystem types whose fcntl locks are kept by a server, not by this host's kernel.
NETWORK_FILESYSTEMS = ("nfs", "nfs4", "lustre", "gpfs", "cifs", "smb3", "smbfs", "beegfs", "ceph", "fuse.ceph",
                       "glusterfs", "fuse.glusterfs", "fuse.sshfs", "panfs", "afs", "9p", "fuse.beegfs")
_MOUNTS = "/proc/mounts"
_FLOCK = "hhqqi4x"  # struct flock on Linux (64-bit off_t): l_type, l_whence, l_start, l_len, l_pid
_REQUEST_IDS = 32   # casacore's NRREQID


def _conflict(fd, kind, start, length=1):
    """The pid of a lock of another process that blocks a ``kind`` lock on the bytes; None if none does."""
    query = struct.pack(_FLOCK, kind, os.SEEK_SET, start, length, 0)
    l_type, _, _, _, pid = struct.unpack(_FLOCK, fcntl.fcntl(fd, fcntl.F_GETLK, query))
    return None if l_type == fcntl.F_UNLCK else pid


def _waiting(fd):
    """The pids in casacore's request list at the start of table.lock (processes waiting for the lock)."""
    data = os.pread(fd, 4 * (1 + 2 * _REQUEST_IDS), 0)
    if len(data) < 4:
        return []
    count = min(struct.unpack(">i", data[:4])[0], _REQUEST_IDS)
    ids = struct.unpack(">%di" % (len(data) // 4), data[:len(data) // 4 * 4])
    return [ids[1 + 2 * i] for i in range(max(count, 0)) if 1 + 2 * i < len(ids)]


def lock_holder(table):
    """Return who holds the lock of casacore table ``table``, or None if this process could take it.

    Returns
    -------
    dict or None
        ``pid`` (0 when the filesystem does not say), ``mode`` ('write' or
        'read'), ``permanent`` (the holder opened it with permanent locking),
        ``waiting`` (pids in the request list), ``lockfile``.
    """
    lockfile = os.path.join(table, "table.lock")
    try:
        fd = os.open(lockfile, os.O_RDONLY)
    except OSError:
        return None  # no lock file: casacore creates one, nobody holds it
    try:
        if _conflict(fd, fcntl.F_WRLCK, 1) is None:
            return None  # not open in another process
        writer = _conflict(fd, fcntl.F_RDLCK, 0)
        reader = _conflict(fd, fcntl.F_WRLCK, 0) if writer is None else None
        if writer is None and reader is None:
            log.debug("%s: open in another process, not locked now (casacore's autolocking)", table)
            return None
        return {"pid": writer if writer is not None else reader, "mode": "write" if writer is not None else "read",
                "permanent": _conflict(fd, fcntl.F_WRLCK, 2) is not None, "waiting": _waiting(fd),
                "lockfile": lockfile}
    finally:
        os.close(fd)


def tables_below(path):
    """The casacore tables (directories with a table.lock) at or below ``path``, links followed, each once."""
    found, seen = [], set()
    for root, dirs, files in os.walk(path, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        if "table.lock" in files:
            found.append(root)
        dirs.sort()
    return found


def filesystem_of(path):
    """Return ``(type, mount point)`` of the filesystem holding ``path`` (from /proc/mounts; ('', '') unknown)."""
    real = os.path.realpath(path)
    best = ("", "")
    try:
        with open(_MOUNTS) as f:
            lines = f.read().splitlines()
    except OSError:
        return best
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        mount = fields[1].replace("\\040", " ")
        inside = real == mount or real.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best[1]):
            best = (fields[2], mount)
    return best


def _process(pid):
    """The command line of process ``pid`` on this host, or None if there is none."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            words = f.read().split(b"\0")
    except OSError:
        return None
    text = " ".join(" ".join(w.decode("utf-8", "replace") for w in words if w).split())
    return (text[:117] + "..." if len(text) > 120 else text) or "?"


def holder_text(table, holder):
    """The preflight's sentence on a held lock: the holder, whether it lives here, and how reliable the lock is."""
    kind, mount = filesystem_of(holder["lockfile"])
    host = socket.gethostname()
    pid = holder["pid"]
    network = kind in NETWORK_FILESYSTEMS
    command = _process(pid) if pid > 0 else None
    lock = "%s-locked%s" % (holder["mode"], " permanently" if holder["permanent"] else "")
    if pid <= 0:
        who = "by a process the filesystem does not name (pid 0: on another host)"
    elif network:
        who = ("by pid %d as %s's lock manager reports it, which may be a process of another host; %s" % (
            pid, kind, "a process %d runs on this host (%s): %s" % (pid, host, command) if command else
            "no process %d runs on this host (%s)" % (pid, host)))
    else:
        who = "by process %d on this host (%s)%s" % (pid, host, ": %s" % command if command else "")
    text = "%s: %s %s" % (table, lock, who)
    if holder["waiting"]:
        text += "; %d process(es) wait for it (pid %s)" % (len(holder["waiting"]),
                                                        ", ".join(str(p) for p in holder["waiting"]))
    if network:
        text += ("; table.lock is on %s (%s), whose fcntl locks are kept by the server and are unreliable: a "
                 "holder that died, or whose host crashed, can keep the lock until the server's lock manager "
                 "drops it. Close the program that has the table open (on its host); if none has, ask the "
                 "filesystem's administrator to clear the lock, or copy the member to a local disk" % (kind, mount))
    elif command:
        text += "; close the table in that program (or end it), then run restore_pi again"
    return text
