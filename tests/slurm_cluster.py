"""A real SLURM cluster on this machine for the tests: munged, slurmctld and one or more slurmd, from Debian's packages.

Everything lives in a temporary directory: munge's key, socket, pid and log; a generated ``slurm.conf`` (free
ports, a unique ClusterName, StateSaveLocation and SlurmdSpoolDir there; no cgroups: ``proctrack/linuxproc``,
``task/none``; ``select/cons_tres`` with ``CR_Core_Memory`` on the node's real CPUs and RealMemory from
``slurmd -C``; no slurmdbd, no job accounting). Clients find it through ``SLURM_CONF``, set while the cluster runs.
Needs root (as CI runs) and ``apt-get install slurm-wlm munge``.

Several nodes on one machine: each ``slurmd`` runs in its own UTS namespace (``unshare --uts``, its own host
name, as the MPI host tests do), listening on its own port (a node's ``Port=``) of 127.0.0.1, so each node is a
host of its own as on a real cluster (several slurmd under one host name need SLURM built with multiple-slurmd
support; not needed here). The machine's CPUs and memory are shared out among the nodes.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scancel", "scontrol", "sinfo")
_START_TIMEOUT = 60  # seconds for the nodes to become idle


class ClusterUnavailable(RuntimeError):
    """SLURM or munge is missing, or the cluster did not start (the message says why)."""


def missing():
    """What this machine lacks to run the cluster (empty if nothing): programs, root."""
    lacks = [p for p in DAEMONS + CLIENTS + ("mungekey",) if shutil.which(p) is None]
    if os.geteuid() != 0:
        lacks.append("root (slurmd runs jobs as their user)")
    return lacks


def _free_ports(n):
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def node_resources():
    """The machine's ``{'CPUs', 'RealMemory'}`` as ``slurmd -C`` reports them."""
    out = subprocess.run(["slurmd", "-C"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True, check=True).stdout
    found = dict(w.split("=", 1) for w in out.split() if "=" in w)
    return {"CPUs": int(found["CPUs"]), "RealMemory": int(found["RealMemory"])}


def _conf(folder, name, ports, nodes, resources):
    cpus = max(1, resources["CPUs"] // len(nodes))
    memory = resources["RealMemory"] // len(nodes)
    lines = [
        "ClusterName=%s" % name,
        "SlurmctldHost=%s(127.0.0.1)" % socket.gethostname(),
        "SlurmctldPort=%d" % ports[0],
        "SlurmdPort=%d" % ports[1],
        "AuthType=auth/munge", "CredType=cred/munge",
        "AuthInfo=socket=%s" % os.path.join(folder, "munge.socket"),
        "SlurmUser=root", "SlurmdUser=root",
        "StateSaveLocation=%s" % os.path.join(folder, "state"),
        "SlurmdSpoolDir=%s" % os.path.join(folder, "spool", "%n"),
        "SlurmctldPidFile=%s" % os.path.join(folder, "slurmctld.pid"),
        "SlurmdPidFile=%s" % os.path.join(folder, "slurmd.%n.pid"),
        "SlurmctldLogFile=%s" % os.path.join(folder, "slurmctld.log"),
        "SlurmdLogFile=%s" % os.path.join(folder, "slurmd.%n.log"),
        "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none",
        "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core_Memory",
        "JobAcctGatherType=jobacct_gather/none", "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/none", "MpiDefault=none", "ReturnToService=2", "SchedulerType=sched/backfill",
        "PlugStackConfig=%s" % os.path.join(folder, "plugstack.conf"),
        # a cancelled or timed-out job's processes get SIGTERM, then SIGKILL this many seconds later
        "KillWait=10", "OverTimeLimit=0", "MinJobAge=600", "InactiveLimit=0", "SlurmdTimeout=60",
        "SchedulerParameters=sched_interval=2", "MessageTimeout=20",
    ]
    for node, port in zip(nodes, ports[2:]):
        lines.append("NodeName=%s NodeAddr=127.0.0.1 NodeHostname=%s Port=%d CPUs=%d RealMemory=%d State=UNKNOWN"
                     % (node, node, port, cpus, memory))
    lines.append("PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP")
    return "\n".join(lines) + "\n"


class Cluster(object):
    """A running cluster: ``conf`` (slurm.conf's path), ``env`` (the environment clients need), ``nodes``."""

    def __init__(self, folder, nodes):
        self.folder, self.nodes = folder, list(nodes)
        self.conf = os.path.join(folder, "slurm.conf")
        self.env = dict(os.environ, SLURM_CONF=self.conf)
        self.procs = []

    def run(self, *cmd):
        """Run a SLURM client command against this cluster; return its stdout (CalledProcessError on failure)."""
        return subprocess.run(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                              env=self.env, check=True).stdout

    def logs(self):
        """The daemons' logs (their last lines), for a failure's message."""
        text = []
        for name in sorted(os.listdir(self.folder)):
            if name.endswith(".log"):
                with open(os.path.join(self.folder, name), errors="replace") as f:
                    text.append("--- %s\n%s" % (name, "".join(f.readlines()[-15:])))
        return "\n".join(text)


def _start(cluster, cmd, name):
    log = open(os.path.join(cluster.folder, name + ".out"), "w")
    try:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=cluster.env,
                                start_new_session=True)
    finally:
        log.close()
    cluster.procs.append((name, proc))
    return proc


def _wait_idle(cluster):
    deadline = time.time() + _START_TIMEOUT
    states = ""
    while time.time() < deadline:
        for name, proc in cluster.procs:
            if proc.poll() is not None:
                raise ClusterUnavailable("%s exited with %d at start-up\n%s" % (name, proc.returncode,
                                                                               cluster.logs()))
        try:
            states = cluster.run("sinfo", "-h", "-N", "-o", "%N %t")
        except subprocess.CalledProcessError as exc:
            states = exc.stderr
        found = dict(line.split() for line in states.splitlines() if len(line.split()) == 2)
        if sorted(found) == sorted(cluster.nodes) and all(s == "idle" for s in found.values()):
            return
        time.sleep(0.5)
    raise ClusterUnavailable("the nodes did not become idle in %d s (sinfo: %r)\n%s" % (
        _START_TIMEOUT, states, cluster.logs()))


def _cancel_all(cluster):
    """Cancel the jobs left and wait (up to KillWait and a little more) for their processes to end."""
    try:
        cluster.run("scancel", "--user", str(os.geteuid()))
        deadline = time.time() + 30
        while cluster.run("squeue", "-h", "-o", "%i").strip() and time.time() < deadline:
            time.sleep(0.5)
    except (OSError, subprocess.SubprocessError):
        pass


def _stop(cluster):
    for name, proc in reversed(cluster.procs):  # slurmd first, munged last
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@contextlib.contextmanager
def slurm_cluster(nodes=1, folder=None):
    """Start a cluster of ``nodes`` nodes (each a ``slurmd``; more than one: each in its own UTS namespace); yield
    a :class:`Cluster`, with ``SLURM_CONF`` set in ``os.environ`` meanwhile; stop every daemon afterwards.

    Raises
    ------
    ClusterUnavailable
        If a program is missing or the cluster does not come up (the daemons' logs are in the message).
    """
    lacks = missing()
    if lacks:
        raise ClusterUnavailable("cannot start a SLURM cluster: missing %s (apt-get install -y slurm-wlm munge, "
                                 "as root)" % ", ".join(lacks))
    own = folder is None
    folder = folder or tempfile.mkdtemp(prefix="slurm-")
    os.makedirs(folder, exist_ok=True)
    os.chmod(folder, 0o700)  # munged refuses a key or socket directory others can write to
    name = "cp" + uuid.uuid4().hex[:8]
    hostname = socket.gethostname()
    names = [hostname] if nodes == 1 else ["%s-n%d" % (name, i + 1) for i in range(nodes)]
    for sub in ["state"] + [os.path.join("spool", n) for n in names]:
        os.makedirs(os.path.join(folder, sub))
    cluster = Cluster(folder, names)
    with open(cluster.conf, "w") as f:
        f.write(_conf(folder, name, _free_ports(2 + nodes), names, node_resources()))
    open(os.path.join(folder, "plugstack.conf"), "w").close()
    saved = os.environ.get("SLURM_CONF")
    try:
        key = os.path.join(folder, "munge.key")
        subprocess.run(["mungekey", "--create", "--keyfile", key], check=True)
        munge = ["munged", "--foreground", "--force", "--socket", os.path.join(folder, "munge.socket"),
                 "--key-file", key, "--pid-file", os.path.join(folder, "munged.pid"),
                 "--log-file", os.path.join(folder, "munged.log"), "--seed-file", os.path.join(folder, "munged.seed")]
        _start(cluster, munge, "munged")
        deadline = time.time() + 10
        while not os.path.exists(os.path.join(folder, "munge.socket")) and time.time() < deadline:
            time.sleep(0.1)
        _start(cluster, ["slurmctld", "-D", "-i", "-f", cluster.conf], "slurmctld")
        for node in names:
            cmd = ["slurmd", "-D", "-f", cluster.conf, "-N", node]
            if nodes > 1:  # its own host name, as a node of a real cluster has
                cmd = ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', node] + cmd
            _start(cluster, cmd, "slurmd-" + node)
        _wait_idle(cluster)
        os.environ["SLURM_CONF"] = cluster.conf
        yield cluster
    finally:
        if saved is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = saved
        if len(cluster.procs) > 2:
            _cancel_all(cluster)
        _stop(cluster)
        if own:
            shutil.rmtree(folder, ignore_errors=True)
