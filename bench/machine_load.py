"""The benchmark's view of a shared machine: others' CPU seconds, the measured processes' CPU and memory, steal."""

import os
import platform
import socket
import threading
import time

__all__ = ["Load", "disk_bytes", "disk_since", "machine", "memory", "ram_bytes", "wait_for_quiet"]


HZ = os.sysconf("SC_CLK_TCK")


def processes():
    """Return {pid: (ppid, start ticks, cpu ticks)} of every user-space process."""
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        ppid, cpu, start = int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[19])
        if ppid != 2 and int(name) != 2:  # not a kernel thread
            found[int(name)] = (ppid, start, cpu)
    return found


def others(procs, me):
    """Drop this process and its descendants (the measured processes) from ``procs``."""
    children = {}
    for pid, (ppid, _, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    mine, todo = set(), [me]
    while todo:
        pid = todo.pop()
        mine.add(pid)
        todo.extend(children.get(pid, []))
    return dict((pid, v) for pid, v in procs.items() if pid not in mine)


def steal_ticks():
    """CPU time the hypervisor gave to other guests (all vCPUs), from /proc/stat."""
    with open("/proc/stat") as f:
        return int(f.readline().split()[8])


def memory(pid):
    """``(VmRSS, VmHWM)`` of a process in bytes (resident now, resident at its peak); ``(0, 0)`` if it is gone."""
    found = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    found[line[:5]] = int(line.split()[1]) * 1024
    except OSError:
        pass
    return found.get("VmRSS", 0), found.get("VmHWM", 0)


class Load(threading.Thread):
    """While a measurement runs (sampled every 0.25 s): CPU seconds of other processes, of the measured ones, stolen;
    the measured processes' peak resident memory."""

    def __init__(self):
        super(Load, self).__init__(daemon=True)
        self.seen = dict((pid, (start, cpu)) for pid, (_, start, cpu) in others(processes(), os.getpid()).items())
        self.boot, self.steal = self.ticks_now(), steal_ticks()
        self.ticks, self.done, self.mine = 0, threading.Event(), {}
        self.rss_sum, self.hwm = 0, {}  # largest sum of the measured processes' VmRSS; each one's VmHWM

    @staticmethod
    def ticks_now():
        with open("/proc/uptime") as f:
            return float(f.read().split()[0]) * HZ

    def sample(self):
        procs = processes()
        rest = others(procs, os.getpid())
        rss = 0
        for pid in procs:
            if pid not in rest and pid != os.getpid():
                self.mine[(pid, procs[pid][1])] = procs[pid][2]
                now, peak = memory(pid)
                rss += now
                self.hwm[(pid, procs[pid][1])] = max(peak, self.hwm.get((pid, procs[pid][1]), 0))
        self.rss_sum = max(self.rss_sum, rss)
        for pid, (_, start, cpu) in rest.items():
            if (pid, start) in self.mine:  # one of ours, orphaned while it exits
                continue
            old = self.seen.get(pid)
            if old and old[0] == start:
                self.ticks += cpu - old[1]
            elif start >= self.boot:  # started during the measurement
                self.ticks += cpu
            self.seen[pid] = (start, cpu)

    def run(self):
        while not self.done.wait(0.25):
            self.sample()

    def stop(self):
        """Return ``{'other_cpu', 'own_cpu', 'steal'}`` in CPU seconds, ``'rss_peak_max'`` (the largest VmHWM of one
        measured process) and ``'rss_peak_sum'`` (the largest sum of their VmRSS at one sample), in bytes; both are
        sampled, so a process that lives less than 0.25 s may be missed."""
        self.done.set()
        self.join()
        self.sample()
        return {"other_cpu": self.ticks / float(HZ), "own_cpu": sum(self.mine.values()) / float(HZ),
                "steal": (steal_ticks() - self.steal) / float(HZ),
                "rss_peak_max": max(self.hwm.values() or [0]), "rss_peak_sum": self.rss_sum}


def wait_for_quiet(limit, threshold=0.05):
    """Wait (up to ``limit`` s) until other processes use < ``threshold`` of a CPU over 2 s; return the wait."""
    start = time.time()
    while True:
        probe = Load()
        probe.start()
        time.sleep(2)
        busy = probe.stop()["other_cpu"] / 2.0
        if busy < threshold or time.time() - start > limit:
            return time.time() - start
        if time.time() - start < 2.5:
            print("  waiting for other processes to finish (%.0f %% of a CPU) ..." % (100 * busy), flush=True)


_REPORTED = "/sys/module/page_reporting/parameters/reported_kib"


def reported_bytes():
    """Bytes of free memory this VM has handed back to its hypervisor since boot (the kernel's free page
    reporting), or None where the kernel does not say.

    Memory handed back costs a fault in the hypervisor when it is used again: on the benchmark's VM, writing
    into such pages took ~10 us a 4 KiB page against ~1-3 us, so a split writing 6 GB spent 4 to 16 s of system
    time depending on it (perf: copy_folio_from_iter_atomic)."""
    try:
        with open(_REPORTED) as f:
            return 1024 * int(f.read())
    except (OSError, ValueError):
        return None


def wait_for_reporting(limit=60.0, still=2.0):
    """Wait (up to ``limit`` s) until the VM hands no more free memory back for ``still`` s; return the wait.

    Then every measurement starts from the same state, the free memory handed back, and not from whatever the
    previous step's freeing left in progress (the reporting also runs in the kernel, on the measured CPUs)."""
    start, last = time.time(), reported_bytes()
    if last is None:
        return 0.0
    steady = time.time()
    while time.time() - start < limit:
        time.sleep(0.5)
        now = reported_bytes()
        if now != last:
            last, steady = now, time.time()
        elif time.time() - steady >= still:
            break
    return time.time() - start


def disk_bytes(path):
    """Bytes read from and written to the block device holding ``path`` since boot (the kernel's own counters,
    512-byte sectors, whoever did the I/O): ``(read, written)``, or None where the device has no counters."""
    dev = os.stat(path).st_dev
    try:
        with open("/sys/dev/block/%d:%d/stat" % (os.major(dev), os.minor(dev))) as f:
            fields = f.read().split()
    except OSError:
        return None
    return 512 * int(fields[2]), 512 * int(fields[6])


def disk_since(path, before):
    """``{'disk_read', 'disk_written'}``: the bytes the disk of ``path`` moved since ``before`` (``disk_bytes``);
    ``{}`` where the device has no counters."""
    after = disk_bytes(path)
    return {} if before is None or after is None else {"disk_read": after[0] - before[0],
                                                       "disk_written": after[1] - before[1]}


def ram_bytes():
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def machine():
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return "%s: %d vCPU (%s), %.0f GiB RAM, %s %s" % (socket.gethostname(), os.cpu_count(), cpu,
                                                      ram_bytes() / 2.0 ** 30, platform.system(), platform.release())
