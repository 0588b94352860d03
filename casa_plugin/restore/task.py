"""restore_pi: run each member's scriptForPI as a user would, with preflight and postflight checks."""

import logging
import os
import time
import traceback
from collections import OrderedDict

from ..prompt import session
from ..delivery.arrays import member_array, sort_key
from ..delivery import find_members
from ..delivery_report import after_interrupt, after_task
from ..errors import JobStopped, RestoreError, interruption
from ..logs import casa_cause, log_mark, progress_line, task_logging
from ..parallel import exit_cleanly
from ..report import TaskResult
from .archive_calibrated import SOURCE, plan_text, unpack_member
from .concurrency import check_disk_together, check_parallel, decide
from .external import restore_in_casa
from .member_job import check_products, move_aside, record_member
from .preflight import already_text, check_duplicates, check_member
from .side_by_side import run_side_by_side
from .scriptforpi import run_script
from .versions import running_version

__all__ = ["restore_pi"]

log = logging.getLogger(__name__)
_OPTIONS = (("spacesaving", "SPACESAVING"), ("dosplit", "DOSPLIT"), ("docontsub", "DOCONTSUB"))


def _check_options(options):
    spacesaving = options["spacesaving"]
    allowed = ("None (unset: the scriptForPI's level 0) or an integer >= -1 as the scriptForPI takes "
               "SPACESAVING: -1 (no disk check by the script or casa_plugin), 0, 1, 2, 3 (and more, as 3)")
    if spacesaving is not None and (isinstance(spacesaving, bool) or not isinstance(spacesaving, int)):
        raise TypeError("spacesaving must be %s, not %r" % (allowed, spacesaving))
    if spacesaving is not None and spacesaving < -1:
        raise ValueError("spacesaving must be %s, not %r" % (allowed, spacesaving))
    for name in ("dosplit", "docontsub"):
        if options[name] is not None and not isinstance(options[name], bool):
            raise TypeError("%s must be None, True or False, not %r" % (name, options[name]))
    for name in ("dryrun", "overwrite", "checkdisk", "versioncheck"):
        if not isinstance(options[name], bool):
            raise TypeError("%s must be True or False, not %r" % (name, options[name]))
    if options["casa"] is not None and not isinstance(options["casa"], str):
        raise TypeError("casa must be None, 'auto' or the path of a CASA executable, not %r" % (options["casa"],))


def _script_namespace(ns, options):
    scope = dict(ns)
    for arg, variable in _OPTIONS:
        if variable in scope and options[arg] is None:
            log.warning("%s=%r is set in this session; restore_pi ignores it (pass %s=%r instead)",
                        variable, scope[variable], variable.lower(), scope[variable])
        scope.pop(variable, None)
    variables = dict((var, options[arg]) for arg, var in _OPTIONS if options[arg] is not None)
    return scope, variables


def _run_here(plan, scope, variables):
    """Run the scriptForPI in this session; a failure carries the SEVERE lines CASA logged since it started."""
    script, name = plan["script"], os.path.basename(plan["member"])
    mark = log_mark()
    try:
        run_script(script, os.path.dirname(script), scope, variables)
    except SystemExit as exc:
        if exc.code not in (None, 0):
            raise RestoreError("%s: the scriptForPI stopped: %s; %s" % (name, exc.code,
                                                                        casa_cause(mark, "the scriptForPI")))
    except Exception as exc:
        raise RestoreError("%s: the scriptForPI failed: %s: %s; %s" % (name, type(exc).__name__, exc,
                                                                        casa_cause(mark, "the scriptForPI"))) from exc
    return running_version()


def _restore(plan, scope, variables, options):
    if plan.get("move_aside"):
        plan["moved_aside"] = move_aside(plan["member"])
    if plan.get("casa"):
        child_options = dict((k, options[k]) for k in ("spacesaving", "dosplit", "docontsub", "checkdisk",
                                                        "versioncheck"))
        child_options["overwrite"] = False  # an old calibrated/ was moved aside here already
        child = restore_in_casa(plan["casa"], plan["member"], child_options)
        plan["casa_version"] = child["casa_version"]
    else:
        plan["casa_version"] = _run_here(plan, scope, variables)
    check_products(plan)


def _names_a_member(member, members):
    """True if ``member`` is one member directory (or its script/), not a directory above members."""
    path = os.path.abspath(member or ".")
    return len(members) == 1 and path in (members[0], os.path.join(members[0], "script"))


def _standin(ns):
    """True if the session's pipeline is the tests' stand-in (then a child CASA loads it too)."""
    return getattr(ns.get("h_init"), "__module__", None) == "casa_plugin.testing.pipeline_standin"


def _interrupted_text(member, exc):
    """A serial restore's line after Ctrl-C (or its batch job's SIGTERM): what it left and how to go on."""
    why = ", %s" % exc if isinstance(exc, JobStopped) else " (Ctrl-C)"
    if os.path.lexists(os.path.join(member, "calibrated")):
        return ("INTERRUPTED%s: calibrated/ is incomplete; to restore this member again: "
                "restore_pi(member=%r, overwrite=True)" % (why, member))
    return "INTERRUPTED%s%s before the scriptForPI made calibrated/; run restore_pi again" % (
        why, "," if isinstance(exc, JobStopped) else "")


def _warn_spacesaving(options):
    if options["spacesaving"] == -1:
        log.warning("SPACESAVING=-1: the scriptForPI skips its own disk-space check and casa_plugin checks "
                    "nothing either; a disk that fills up stops the restore midway")
    elif options["spacesaving"] is not None and options["spacesaving"] >= 2:
        log.warning("SPACESAVING=%d: where the scriptForPI splits the science spws itself (DOSPLIT, or a member "
                    "the pipeline did not image) it deletes each restored MS after that split; split_sci can then "
                    "only reuse the script's .split.cal, not redo it with other spws or options",
                    options["spacesaving"])


def restore_pi(member=".", *, spacesaving=None, dosplit=None, docontsub=None, dryrun=False, overwrite=False,
               checkdisk=True, versioncheck=True, casa=None, parallel=None, submit=None):
    """Restore the pipeline calibration of every member at or below ``member`` by running its scriptForPI.

    Parameters
    ----------
    member : str
        A member directory, its ``script/``, or a directory above members
        (science goal, group, project): every member below, in sorted order.
    spacesaving, dosplit, docontsub : int, bool, bool, optional
        The scriptForPI's options, each set only when given: ``SPACESAVING``
        (how much of its intermediate data it deletes), ``DOSPLIT`` (it splits
        the science spws into ``.split.cal`` itself), ``DOCONTSUB`` (it
        subtracts the continuum); the session's globals of those names are
        ignored.
        ``spacesaving``: an integer >= -1; unset, the script uses level 0;
        ``-1`` makes the script skip its own disk check (and this one too).
    dryrun : bool
        Run the preflight checks and report the plan; run nothing (only the
        delivery report, ``<project>/casa_plugin_report/``, is written).
    overwrite : bool
        Restore again a member that has a ``calibrated/``: the member named,
        complete or not; below a project, group or science goal only those
        whose restore is incomplete. The old one is moved aside as
        ``calibrated.<date>``, never deleted.
    checkdisk : bool
        Refuse a member whose scriptForPI would stop on its own disk check
        (its rule: ``du`` of raw/ x 11, 7 or 3 for SPACESAVING unset or 0, 1,
        >= 2, plus x 3 with a flux, polarisation or imaging-prep script in
        script/, against the free space of raw/'s filesystem). False skips
        only this check: the script still checks and stops, unless
        ``spacesaving=-1``.
    versioncheck : bool
        Refuse a member made with another CASA version than the running one.
    casa : str, optional
        Restore in a separate CASA process: the path (or command line) of a
        CASA executable, or ``'auto'`` to pick, per member, the executable the
        user's file ``~/.config/casa_plugin/casa_versions.json`` (or
        ``$CASA_PLUGIN_CONFIG``) maps to the delivery's CASA version.
    parallel : None, bool or int
        Members restored at once, each in its own CASA process (the running
        CASA's ``python -m casashell``, or ``casa``), with its output in
        ``<member>/casa_plugin_restore.log`` (moved into ``calibrated/``).
        False: one after the other in this session, as a user's execfile.
        True: as many at once as cores, memory (``MEMORY_PER_RESTORE`` each)
        and the scriptForPIs' summed disk needs per filesystem allow; under
        MPI, one member per casampi server, on its host. N: at most N at once
        (under MPI: per host), still within memory and disk. None: as True
        when at least two members to restore have 1 GB or more in raw/ (a
        CASA start-up is then small against a restore), else as False.
        The choice and its reason are logged and returned (``'parallel'``).
    submit : str or dict, optional
        Submit the members to a batch cluster instead of restoring them here,
        as ``python -m casa_plugin submit`` does (docs/cluster.md): a
        scheduler's name (``'slurm'``) or ``{'scheduler': 'slurm',
        'partition': ..., 'account': ..., 'time': ..., 'mem': ...,
        'max_running': ..., 'scratch': ...}``. One job per member not done,
        restoring then splitting it; ``dryrun=True`` writes the job scripts
        and submits nothing; ``casa`` picks the jobs' CASA; ``checkdisk``
        checks the programme's disk before submitting. Returns what
        ``casa_plugin.cluster.submit`` returns (``submitted``, ``written``,
        ``skipped``, ``dry_run``).

    Returns
    -------
    dict
        ``{'task', 'members': {member: result}, 'counts'}``; each result has
        ``status`` (restored, already restored, planned, failed), ``ebs``,
        ``products`` (EB -> calibrated MS) and ``casa_version``; restored in
        a CASA process of its own, also ``log``, ``host``, ``restored_on``
        (and ``mpi`` on a casampi server). ``'parallel'``: ``mode`` (serial,
        local, mpi), ``at_once``, ``reason``. The scriptForPI writes
        ``<member>/calibrated/``; the run record there
        notes the restore; ``<project>/casa_plugin_report/`` is rewritten.

    Raises
    ------
    TypeError, ValueError
        If an option has a type or value the scriptForPI does not take.
    FileNotFoundError
        If ``member`` holds no member directory.
    RestoreError
        Before anything runs if any member fails its preflight (all problems
        listed); after all members ran if any restore failed.
    """
    options = {"spacesaving": spacesaving, "dosplit": dosplit, "docontsub": docontsub, "dryrun": dryrun,
               "overwrite": overwrite, "checkdisk": checkdisk, "versioncheck": versioncheck, "casa": casa}
    with task_logging("restore_pi"):
        _check_options(options)
        check_parallel(parallel)
        if submit is not None:  # imported here: the cluster's jobs import restore_pi
            from ..cluster.submit import submit_for_restore_pi
            return submit_for_restore_pi(member, submit, dict(options, parallel=parallel),
                                         standin=_standin(session.namespace()))
        exit_cleanly()  # under MPI, a serial restore must still let mpirun end with status 0
        ns = session.namespace()
        members = find_members(member)
        named = dict(options, named=_names_a_member(member, members))
        plans = [check_member(m, ns, named) for m in members]
        check_duplicates(plans)  # one member under two paths; a link to one found already is skipped
        for p in plans:  # its array (12 m, 7 m, total power), read before anything runs: members grouped by it
            p["array"] = member_array(p["member"])
        plans.sort(key=lambda p: sort_key(p["array"]))
        results = OrderedDict((p["member"], p) for p in plans)
        summary = TaskResult(task="restore_pi", members=results)  # shown at the prompt as its per-EB table
        problems = [text for p in plans for text in p["problems"]]
        if problems:
            for p in plans:
                p["status"] = "failed" if p["problems"] else "not run"
            raise RestoreError("restore_pi: preflight failed; nothing was run:\n" + "\n".join(
                "  " + text for text in problems), results=summary)
        _warn_spacesaving(options)
        disk_warnings = check_disk_together(plans)
        if disk_warnings:
            summary["warnings"] = disk_warnings
        scope, variables = _script_namespace(ns, options)
        summary["parallel"] = decision = decide(plans, parallel)
        several = sum(p["status"] == "restore" for p in plans) > 1  # else no choice to speak of
        (log.info if several else log.debug)("restore_pi: %s: %s", decision["mode"], decision["reason"])
        try:
            if decision["mode"] == "serial" or options["dryrun"]:
                _run_members(plans, scope, variables, options)
            else:
                for index, plan in enumerate(plans, 1):  # unpacking is file copying: here, before the restores
                    if plan.get("archive"):
                        _unpack(plan, index, len(plans), options)
                run_side_by_side(plans, decision, options, variables, _standin(ns))
        except KeyboardInterrupt:
            after_interrupt("restore_pi", [p["member"] for p in plans])
            raise
        counts = {}
        for p in plans:
            counts[p["status"]] = counts.get(p["status"], 0) + 1
        summary["counts"] = counts
        after_task("restore_pi", summary)  # the delivery report; a failure there is a warning only
        failed = [p for p in plans if p["status"] == "failed"]
        if failed:
            raise RestoreError("restore_pi failed for %d of %d members:\n%s" % (
                len(failed), len(plans), "\n".join("  %s" % p["error"] for p in failed)), results=summary)
        return summary


def _name(plan):
    """The member's name on its line, with its array when not the 12 m one (``member.uid___… [7 m]``)."""
    name = os.path.basename(plan["member"])
    return name + {"7m": " [7 m]", "TP": " [TP]"}.get(plan.get("array"), "")


def _run_members(plans, scope, variables, options):
    total = len(plans)
    for index, plan in enumerate(plans, 1):
        name = _name(plan)
        plan["options"] = variables
        if plan["status"] == "already restored":
            log.info(progress_line(index, total, name, "calibrated/", already_text(plan), None))
            continue
        if plan.get("archive"):
            _unpack(plan, index, total, options)
            continue
        if options["dryrun"]:
            plan["status"] = "planned"
            log.info(progress_line(index, total, name, "calibrated/", "planned: %d EBs with %s%s%s" % (
                len(plan["ebs"]), os.path.basename(plan["script"]),
                "".join(", %s=%r" % kv for kv in sorted(variables.items())),
                " in %s" % plan["casa"] if plan.get("casa") else ""), None))
            continue
        start = time.time()
        try:
            _restore(plan, scope, variables, options)
            plan["status"] = "restored"
        except KeyboardInterrupt as exc:
            plan.update(dict(interruption(exc), status="interrupted", seconds=time.time() - start))
            record_member(plan)
            log.error(progress_line(index, total, name, "calibrated/", _interrupted_text(plan["member"], exc),
                                    plan["seconds"]))
            raise
        except Exception as exc:
            plan.update({"status": "failed", "error": str(exc), "traceback": traceback.format_exc()})
        plan["seconds"] = time.time() - start
        record_member(plan)
        detail = ("%d EBs, CASA %s" % (len(plan["ebs"]), plan["casa_version"]) if plan["status"] == "restored"
                  else "FAILED: %s" % plan["error"])
        (log.info if plan["status"] == "restored" else log.error)(
            progress_line(index, total, name, "calibrated/", detail, plan["seconds"]))


def _unpack(plan, index, total, options):
    """A member the archive delivers calibrated: unpack and check its MSs (or plan to); no scriptForPI runs."""
    name = _name(plan)
    if options["dryrun"]:
        plan["status"] = "planned"
        log.info(progress_line(index, total, name, "calibrated/", plan_text(plan), None))
        return
    try:
        if plan.get("move_aside"):
            plan["moved_aside"] = move_aside(plan["member"])
        unpack_member(plan)  # sets status, products, postflight, seconds; records the restore
    except KeyboardInterrupt as exc:
        log.error(progress_line(index, total, name, "calibrated/", _interrupted_text(plan["member"], exc),
                                plan.get("seconds")))
        raise
    except Exception as exc:
        if plan.get("status") != "failed":  # failed before unpack_member recorded it
            plan.update({"status": "failed", "error": str(exc), "traceback": traceback.format_exc()})
    if plan["status"] == "restored":
        what = "found unpacked" if plan["archive"]["found"] else "unpacked from %d tar file(s)" % len(
            plan["archive"]["tars"])
        log.info(progress_line(index, total, name, "calibrated/", "%d EBs from %s, %s and checked; no scriptForPI "
                               "run" % (len(plan["products"]), SOURCE, what), plan["seconds"]))
    else:
        log.error(progress_line(index, total, name, "calibrated/", "FAILED: %s" % plan["error"], plan.get("seconds")))
