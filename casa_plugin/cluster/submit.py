"""Submit a whole programme: one batch job per member that is not done, throttled by job-name slots.

One job per member runs restore_pi and then split_sci_tgt of that member in one CASA: nothing is left to
depend on a cancelled or failed restore (no orphaned split jobs), the split is small next to the restore, and
a member's files are read where they were just written. Members are not sharded into job arrays: each needs
its own CASA version and resources, which one array cannot give. ``max_running=N`` gives each job one of N job
names and ``--dependency=singleton``, so at most N run at once (the scheduler starts a slot's next job when
its previous one ends, however it ended).
"""

import hashlib
import logging
import os
import time

from ..delivery.arrays import member_array
from ..delivery import find_members, member_ebs
from ..restore import external
from ..restore import versions as casa_versions
from . import jobs_record, resources as job_resources
from .disk import check_programme_disk
from .members import DONE, INCOMPLETE, NEW
from .scheduler import scheduler_named
from .scripts import job_files, write_job
from .status import FAILED, PENDING, RUNNING, project_status

__all__ = ["submit", "summary_line", "submit_for_restore_pi", "SUBMIT_OPTIONS"]

log = logging.getLogger(__name__)


def _casa_for(member, casa):
    """``(command line, version)`` of the CASA that restores ``member``: ``casa`` if given, else the release its
    delivery names (this CASA, or the one the user's CASA-versions file maps to it)."""
    version = casa_versions.delivery_versions(member)["casa"]
    if casa:
        return " ".join(external.command(casa)), version
    running = casa_versions.running_version()
    if version is None or casa_versions.same_version(version, running):
        return " ".join(external.same_casa()), version or running
    command = casa_versions.executable_for(version, casa_versions.casa_executables())
    if command is None:
        raise ValueError("%s: made with CASA %s, which is not this CASA (%s) and %s maps no executable to it; add "
                         "\"%s\": \"/path/to/casa\" there, or pass --casa /path/to/casa" % (
                             os.path.basename(member), version, running, casa_versions.config_path(), version))
    return " ".join(external.command(command)), version


def _slot_name(project, index, max_running):
    """The job name of slot ``index``: the project's code and a hash of its path (two copies never share)."""
    digest = hashlib.sha1(os.path.abspath(project).encode("utf-8")).hexdigest()[:6]
    base = "casa_plugin.%s.%s" % (os.path.basename(os.path.abspath(project)), digest)
    return "%s.%d" % (base, index % max_running + 1) if max_running else base


def _resources(member, array, last, options):
    res = job_resources.member_resources(member, array, minutes=options.get("time"), mem_mb=options.get("mem"))
    if last and last["state"] == FAILED and last["reason"] in ("OUT_OF_MEMORY", "TIMEOUT"):
        previous = last.get("resources") or res
        wanted = dict(res, **dict((k, previous[k]) for k in ("mem_mb", "minutes", "margin") if k in previous))
        raised, text = job_resources.raised_after(wanted, last["reason"], member)
        explicit = "minutes" if last["reason"] == "TIMEOUT" and options.get("time") else (
            "mem_mb" if last["reason"] == "OUT_OF_MEMORY" and options.get("mem") else None)
        if explicit is None:  # what the user gave on the command line stays as given
            log.warning(text)
            raised["source"] = text
            return raised
    return res


def submit(project, *, scheduler="slurm", partition=None, account=None, time=None, mem=None, max_running=None,
           dry_run=False, casa=None, scratch=None, checkdisk=True, standin=False):
    """Submit one job per member of ``project`` that is not done and has no job pending or running.

    Parameters
    ----------
    project : str
        A project directory (or any directory above members, or one member).
    scheduler : str
        ``'slurm'``.
    partition, account : str, optional
        Written into each script as ``--partition``/``--account``.
    time, mem : int, optional
        Minutes and MB per job instead of the defaults of :mod:`casa_plugin.cluster.resources`.
    max_running : int, optional
        At most this many jobs of the programme at once (job-name slots, ``--dependency=singleton``).
    dry_run : bool
        Write the scripts and submit nothing.
    casa : str, optional
        The CASA to run every job with; default: per member, the release its delivery names.
    scratch : str, optional
        A directory on each node's own disk (``'$TMPDIR'``: variables are expanded in the job, on its node):
        each restore runs on a copy of the member there, and ``calibrated/`` is moved back checked
        (:mod:`casa_plugin.cluster.scratch`). Default: restore in place.
    checkdisk : bool
        Refuse, before anything is submitted (a dry run too), a programme whose restores would not fit: the
        scriptForPI's own disk rule of each member to restore, summed per filesystem that will hold its
        calibrated/ (or the scratch, if it is a directory here), with at most ``max_running`` restores at once
        (:mod:`casa_plugin.cluster.disk`). False logs the shortfall and submits anyway, as restore_pi's
        ``checkdisk=False``: each job's scriptForPI still checks its own need.
    standin : bool
        Load the tests' pipeline stand-in in each job (synthetic deliveries only).

    Returns
    -------
    dict
        ``{'submitted': {member: job_id}, 'written': {member: script}, 'skipped': {member: why},
        'dry_run'}``; the scripts are in ``<project>/casa_plugin_jobs/``, the job ids in its
        ``casa_plugin_jobs.json``.

    Raises
    ------
    FileNotFoundError
        If ``project`` holds no member, or the scheduler's commands are missing.
    ValueError
        If a member's CASA cannot be found, or an option is not valid (nothing is submitted).
    OSError
        If the restores would not fit their filesystems (nothing is submitted; the message names the path, the
        bytes needed and free, and the fix).
    """
    sched = scheduler_named(scheduler)
    for name, value in (("time", time), ("mem", mem), ("max_running", max_running)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError("%s=%r: give a whole number of at least 1" % (name, value))
    if not isinstance(checkdisk, bool):
        raise TypeError("checkdisk must be True or False, not %r" % (checkdisk,))
    if not dry_run and not sched.available():
        raise FileNotFoundError("%s: its commands (sbatch, squeue, scancel) are not on PATH; run submit on the "
                                "cluster's login node, or pass --dry-run to write the scripts only" % scheduler)
    project = os.path.abspath(project)
    find_members(project)  # FileNotFoundError naming the path, before the lock's directory is made
    if scratch is not None and (not isinstance(scratch, str) or not scratch.strip()):
        raise ValueError("scratch=%r: give a directory on the nodes' own disk, e.g. '/scratch' or '$TMPDIR'"
                         % (scratch,))
    options = {"partition": partition, "account": account, "time": time, "mem": mem, "standin": standin,
               "scratch": scratch}
    result = {"submitted": {}, "written": {}, "skipped": {}, "dry_run": dry_run}
    with jobs_record.locked(project):  # two submits at once never both submit a member
        statuses = project_status(project, sched)
        plans, problems = [], []
        for index, (member, st) in enumerate(statuses.items()):
            if st["state"] == DONE:
                result["skipped"][member] = "done"
                continue
            if st["state"] in (PENDING, RUNNING):
                result["skipped"][member] = "job %s %s" % (st["job_id"], st["state"])
                continue
            array = member_array(member)
            try:
                command, version = _casa_for(member, casa)
            except (ValueError, FileNotFoundError) as exc:
                problems.append(str(exc))
                continue
            record = jobs_record.load(project)["members"].get(os.path.relpath(member, project)) or {}
            last = dict(st, resources=(record.get("jobs") or [{}])[-1].get("resources"))
            plans.append({"member": member, "array": array, "ebs": member_ebs(member)[0], "casa": command,
                          "casa_version": version, "resources": _resources(member, array, last, options),
                          "name": _slot_name(project, index, max_running)})
        if problems:
            raise ValueError("submit: nothing was submitted:\n" + "\n".join("  " + p for p in problems))
        check_programme_disk([p["member"] for p in plans if statuses[p["member"]]["progress"] in (NEW, INCOMPLETE)],
                             scratch=scratch, max_running=max_running, checkdisk=checkdisk)
        for plan in plans:
            script = write_job(sched, project, plan, options)
            result["written"][plan["member"]] = script
            if dry_run:
                continue
            job_id = sched.submit(script, dependency="singleton" if max_running else None)
            result["submitted"][plan["member"]] = job_id
            _note(project, plan, script, job_id, sched.name)
    for member, why in result["skipped"].items():
        log.info("%s: not submitted (%s)", os.path.basename(member), why)
    for member, script in result["written"].items():
        log.info("%s: %s", os.path.basename(member), "job %s (%s)" % (result["submitted"][member], script)
                 if member in result["submitted"] else "written, not submitted (--dry-run): %s" % script)
    return result


def summary_line(result, project):
    """The last line of a submit: how many job scripts were written or submitted, and where."""
    return "%s %d job script(s) in %s; %d member(s) not submitted (done, or a job queued or running)" % (
        "wrote (--dry-run: submitted nothing)" if result["dry_run"] else "submitted", len(result["written"]),
        jobs_record.jobs_dir(os.path.abspath(project)), len(result["skipped"]))


#: What ``restore_pi(submit={...})`` passes on to :func:`submit`, besides the scheduler.
SUBMIT_OPTIONS = ("partition", "account", "time", "mem", "max_running", "scratch")
#: restore_pi's options a job does not take (it restores with the defaults), with their defaults.
_LOCAL_ONLY = (("spacesaving", None), ("dosplit", None), ("docontsub", None), ("overwrite", False),
               ("versioncheck", True), ("parallel", None))


def submit_for_restore_pi(member, given, options, standin=False):
    """``restore_pi(member, submit=given, ...)``: submit the programme as ``python -m casa_plugin submit`` does.

    ``given``: a scheduler's name (``'slurm'``) or ``{'scheduler': 'slurm', 'partition': ..., 'account': ...,
    'time': ..., 'mem': ..., 'max_running': ..., 'scratch': ...}``; ``options``: restore_pi's other arguments
    (``dryrun`` writes the scripts only; ``casa``: None or 'auto' for each member's release, else that CASA;
    ``checkdisk`` as submit's).
    Returns what :func:`submit` returns and logs its lines and :func:`summary_line`.

    Raises
    ------
    TypeError, ValueError
        For a ``given`` that is neither, an unknown option, or a restore_pi option a job does not take.
    """
    if isinstance(given, str):
        given = {"scheduler": given}
    if not isinstance(given, dict) or not isinstance(given.get("scheduler"), str):
        raise TypeError("submit=%r: give a scheduler's name ('slurm') or a dict of its options with 'scheduler', "
                        "e.g. {'scheduler': 'slurm', 'partition': 'normal', 'max_running': 4}" % (given,))
    unknown = sorted(set(given) - set(SUBMIT_OPTIONS) - {"scheduler"})
    if unknown:
        raise ValueError("submit: no option %s; the options are scheduler, %s" % (
            ", ".join(unknown), ", ".join(SUBMIT_OPTIONS)))
    local = [name for name, default in _LOCAL_ONLY if options.get(name) != default]
    if local:
        raise ValueError("restore_pi(submit=%r): %s only %s to a restore on this machine; each job restores "
                         "with restore_pi's defaults (redoing an incomplete calibrated/ itself): leave %s unset, "
                         "or restore here without submit" % (given["scheduler"], ", ".join(local),
                                                            "applies" if len(local) == 1 else "apply",
                                                            "it" if len(local) == 1 else "them"))
    casa = options.get("casa")
    result = submit(member, dry_run=bool(options.get("dryrun")), casa=None if casa in (None, "auto") else casa,
                    checkdisk=options.get("checkdisk", True), standin=standin, **given)
    log.info(summary_line(result, member))
    return result


def _note(project, plan, script, job_id, scheduler):
    """Record the job under the lock ``submit`` holds already (the job's own reports take it too)."""
    record = jobs_record.load(project)
    record["scheduler"] = scheduler
    entry = record["members"].setdefault(os.path.relpath(plan["member"], project), {})
    entry.setdefault("jobs", []).append({
        "job_id": job_id, "script": script, "submitted": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "name": plan["name"], "resources": plan["resources"], "casa": plan["casa"],
        "output": job_files(project, plan["member"])["output"].replace("%j", str(job_id))})
    jobs_record.write(project, record)
