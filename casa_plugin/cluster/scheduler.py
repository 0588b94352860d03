"""The batch scheduler behind one small interface (submit, cancel, states, script text), and its SLURM implementation.

Why not psij-python (the maintained job library for SLURM, PBS, LSF and Flux): its current release (0.9.11)
needs Python >= 3.8 and brings psutil, pystache and typeguard, while this package runs inside CASA 6.2's
Python 3.6 too; it writes its own job scripts from templates (with its own exit-code wrapping and a work
directory under ~/.psij), whereas a user here reads, edits and resubmits each member's script by hand; and it
has no job dependencies (``--dependency=singleton`` throttles a programme here). What remains is three
commands (``sbatch --parsable``, ``scancel``, ``squeue``/``sacct``) and a script header: a PBS/Torque
(``qsub``/``qdel``/``qstat``) or HTCondor class gives the same four methods.
"""

import logging
import re
import shutil
import subprocess

__all__ = ["Scheduler", "Slurm", "SchedulerError", "FAILED_STATES", "SCHEDULERS", "scheduler_named"]

log = logging.getLogger(__name__)

#: Scheduler states that end a job without completing it (SLURM's words; another scheduler maps to them).
FAILED_STATES = ("CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "FAILED", "PREEMPTED", "BOOT_FAIL",
                 "DEADLINE")


class SchedulerError(RuntimeError):
    """A scheduler command failed; the message has the command and what it said."""


def _run(cmd):
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    except OSError as exc:
        raise SchedulerError("%s: %s" % (cmd[0], exc)) from exc
    if proc.returncode != 0:
        raise SchedulerError("%s failed (exit %d): %s" % (" ".join(cmd), proc.returncode,
                                                         (proc.stderr or proc.stdout).strip()))
    return proc.stdout


class Scheduler(object):
    """What casa_plugin asks of a batch scheduler; a subclass implements each method for one scheduler."""

    name = None

    def available(self):
        """True if the scheduler's commands are on PATH."""
        raise NotImplementedError

    def script_header(self, job):
        """The directive lines of a job script for ``job`` (name, output, cpus, mem_mb, minutes, margin,
        partition, account)."""
        raise NotImplementedError

    def submit(self, script, *, dependency=None, test_only=False, extra=()):
        """Submit the script file ``script``; return its job id (``test_only``: check it, submit nothing, None)."""
        raise NotImplementedError

    def cancel(self, job_ids):
        """Cancel the jobs ``job_ids``."""
        raise NotImplementedError

    def states(self, job_ids):
        """Return ``{job_id: {'state', 'reason', 'node', 'elapsed'}}`` for the jobs the scheduler still knows."""
        raise NotImplementedError


def _minutes_text(minutes):
    days, rest = divmod(int(minutes), 1440)
    return "%d-%02d:%02d:00" % (days, rest // 60, rest % 60) if days else "%02d:%02d:00" % (rest // 60, rest % 60)


class Slurm(Scheduler):
    """SLURM through its commands: ``sbatch --parsable``, ``scancel``, ``squeue``, then ``sacct`` if it works."""

    name = "slurm"
    _SQUEUE_FORMAT = "%i|%T|%r|%N|%M"

    def available(self):
        return all(shutil.which(c) for c in ("sbatch", "scancel", "squeue"))

    def script_header(self, job):
        lines = ["#SBATCH --job-name=%s" % job["name"],
                 "#SBATCH --output=%s" % job["output"],
                 "#SBATCH --nodes=1",
                 "#SBATCH --ntasks=1",
                 "#SBATCH --cpus-per-task=%d" % job["cpus"],
                 "#SBATCH --mem=%dM" % job["mem_mb"],
                 "#SBATCH --time=%s" % _minutes_text(job["minutes"]),
                 # SIGTERM to the batch shell this long before the time limit: the job stops as after Ctrl-C
                 "#SBATCH --signal=B:TERM@%d" % job["margin"]]
        for key in ("partition", "account"):
            if job.get(key):
                lines.append("#SBATCH --%s=%s" % (key, job[key]))
        return lines

    def submit(self, script, *, dependency=None, test_only=False, extra=()):
        cmd = ["sbatch"] + (["--test-only"] if test_only else ["--parsable"])
        if dependency:
            cmd.append("--dependency=%s" % dependency)
        cmd += list(extra) + [script]
        if test_only:
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
            if proc.returncode != 0:
                raise SchedulerError("%s failed (exit %d): %s" % (" ".join(cmd), proc.returncode, proc.stdout))
            return None
        out = _run(cmd).strip()
        job_id = out.split(";")[0]  # --parsable: "id" or "id;cluster"
        if not job_id.isdigit():
            raise SchedulerError("%s: unexpected answer %r (expected a job id)" % (" ".join(cmd), out))
        return job_id

    def cancel(self, job_ids):
        if job_ids:
            _run(["scancel"] + [str(j) for j in job_ids])

    def states(self, job_ids):
        job_ids = [str(j) for j in job_ids]
        if not job_ids:
            return {}
        found = {}
        try:
            out = _run(["squeue", "-h", "-t", "all", "-j", ",".join(job_ids), "-o", self._SQUEUE_FORMAT])
        except SchedulerError as exc:  # squeue refuses the whole list once one id is unknown to it
            if "Invalid job id" not in str(exc):
                raise
            out = ""
            for j in job_ids:
                try:
                    out += _run(["squeue", "-h", "-t", "all", "-j", j, "-o", self._SQUEUE_FORMAT])
                except SchedulerError:
                    pass
        for line in out.splitlines():
            parts = line.split("|")
            if len(parts) == 5 and parts[0] in job_ids:
                found[parts[0]] = {"state": parts[1], "reason": parts[2], "node": parts[3], "elapsed": parts[4],
                                   "source": "squeue"}
        rest = [j for j in job_ids if j not in found]
        if rest and shutil.which("sacct"):
            found.update(self._sacct(rest))
        return found

    def _sacct(self, job_ids):
        """The states ``sacct`` knows (none without SLURM's accounting: it then says so and this returns {})."""
        try:
            out = _run(["sacct", "-n", "-P", "-X", "-j", ",".join(job_ids), "-o", "JobID,State,Reason,NodeList,"
                        "Elapsed"])
        except SchedulerError as exc:
            log.debug("sacct: %s", exc)
            return {}
        found = {}
        for line in out.splitlines():
            parts = line.split("|")
            if len(parts) == 5 and parts[0] in job_ids:
                state = re.split(r"\s", parts[1])[0]  # "CANCELLED by 0"
                found[parts[0]] = {"state": state, "reason": parts[2], "node": parts[3], "elapsed": parts[4],
                                   "source": "sacct"}
        return found


_SCHEDULERS = {"slurm": Slurm}
#: The names of the schedulers casa_plugin knows.
SCHEDULERS = tuple(sorted(_SCHEDULERS))


def scheduler_named(name):
    """The scheduler called ``name`` (``'slurm'``).

    Raises
    ------
    ValueError
        For a scheduler casa_plugin does not know.
    """
    if name not in _SCHEDULERS:
        raise ValueError("scheduler %r: casa_plugin knows %s" % (name, ", ".join(sorted(_SCHEDULERS))))
    return _SCHEDULERS[name]()
