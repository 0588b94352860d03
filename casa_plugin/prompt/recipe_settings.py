"""Recipe settings: read once from the command line or the session, printed, then taken out of the session.

A recipe (``recipes/*.py``) declares its settings and their defaults at its
top and calls :func:`take_settings`.  A setting applies to the run it was
given for and never to a later one: once read it is removed from every
namespace it could be read from again (the namespace the recipe runs in, the
script or prompt that ran it, the CASA prompt's namespace).

Where a setting can come from, first match wins:

1. the command line, when the recipe is the script of ``casa -c recipe.py
   [PROJECT] [NAME=value ...]`` (values parsed with ``ast.literal_eval``);
2. the script or prompt that ran the recipe (``execfile(recipe)``,
   ``execfile(recipe, globals())`` or ``exec(compile(...))``): a name it set
   before that line.  CASA's ``execfile`` gives the recipe a copy of the
   *prompt's* namespace, so a ``casa -c`` script's own settings are read from
   the script's frame;
3. the namespace the recipe runs in (the prompt's, or a copy of it);
4. the recipe's default.
"""

import ast
import os
import sys
from contextlib import contextmanager

from .. import delivery, logs
from . import session
from ..errors import RestoreError, SplitError
from ..report import project_dir, summary_table

__all__ = ["take_settings", "parse_command_line", "resolve_project", "SPLIT_SETTINGS", "run_splits",
           "submit_programme", "recipe_errors", "summary_at_end"]

#: The split settings of both recipes and their defaults (each run prints the values it uses).
SPLIT_SETTINGS = (
    ("INTENT", "OBSERVE_TARGET*"),  # science spws: observed with this intent ...
    ("MINNCHAN", 5),  # ... and at least this many channels
    ("REINDEX", None),  # None: the member's numbering (ids kept if its .split.cal keep them), else from 0
    ("TARGET_INTENT", "*TARGET*"),  # fields kept in the .source
    ("OVERWRITE", False),  # redo existing splits (never a restored calibrated/)
    ("DRYRUN", False),  # print the plan, write no MS (only the report)
    ("WIDTH", 1),  # channel averaging while splitting the science spws (e.g. 8)
    ("TIMEBIN", "0s"),  # time averaging while splitting (e.g. '12s')
    ("PARALLEL", None),  # None: under mpicasa/mpirun, on the casampi servers only where they win
    ("MAXJOBS", None),  # EBs at once per host under MPI; None: the policy's
    ("TOTALPOWER", False),  # True also splits total-power (single-dish) EBs, which are skipped otherwise
)

_RUNPY = ("runpy",)
_EXECFILE_NAMES = ("execfile", "run_path", "_run_code", "_run_module_code")
_CASA_DASH_C = "__evprop__"  # casashell's function that runs the script of ``casa -c`` (6.2 to 6.7)


def _frames_above(recipe_globals):
    """Return ``(recipe_frame, caller_frame)``; caller None when nothing ran the recipe (plain python)."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals is not recipe_globals:
        frame = frame.f_back
    if frame is None:
        return None, None
    caller = frame.f_back
    while caller is not None and (caller.f_globals.get("__name__") in _RUNPY
                                  or caller.f_code.co_name in _EXECFILE_NAMES):
        caller = caller.f_back
    return frame, caller


def _is_command_line_script(recipe_file, caller):
    """Whether the recipe is the script CASA (``casa -c``) or Python was started with."""
    if caller is not None and caller.f_code.co_name != _CASA_DASH_C:
        return False
    argv0 = sys.argv[0] if sys.argv else ""
    return bool(argv0) and os.path.exists(argv0) and os.path.samefile(argv0, recipe_file)


def parse_command_line(args, defaults):
    """Return ``{NAME: value}`` from ``[PROJECT] [NAME=value ...]`` command-line arguments.

    Parameters
    ----------
    args : list of str
        The arguments after the recipe (``sys.argv[1:]`` under ``casa -c``).
    defaults : dict
        The recipe's settings and defaults: the names allowed.

    Returns
    -------
    dict
        The settings given; ``PROJECT`` for a bare path.

    Raises
    ------
    ValueError
        For an unknown name, a value that is not a Python literal (strings
        may be given bare, e.g. ``TIMEBIN=12s``), a non-boolean value of a
        True/False setting, or more than one bare path.
    """
    given = {}
    for arg in args:
        if arg.startswith("-"):
            raise ValueError("%s: options go before -c (casa --nogui -c recipe.py ...); after the recipe "
                             "give only the project and NAME=value settings" % arg)
        name, sep, text = arg.partition("=")
        if not sep or not name.isupper():
            if "PROJECT" in given:
                raise ValueError("%s: a second project after %r; give one project per run"
                                 % (arg, given["PROJECT"]))
            given["PROJECT"] = arg
            continue
        if name not in defaults:
            raise ValueError("%s: no setting %s; the settings are %s" % (arg, name, ", ".join(sorted(defaults))))
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            if isinstance(defaults[name], (bool, int, float)) and defaults[name] is not None:
                raise ValueError("%s: %r is not a valid value of %s (default %r)" % (arg, text, name, defaults[name]))
            value = text  # a bare string: TIMEBIN=12s, INTENT=OBSERVE_TARGET*
        if isinstance(defaults[name], bool) and not isinstance(value, bool):
            raise ValueError("%s: %s takes True or False" % (arg, name))
        given[name] = value
    return given


def _namespaces(recipe_globals, caller):
    """The distinct namespaces a setting may be read from or must be taken out of, with their source label."""
    found = []

    def add(ns, label):
        if isinstance(ns, dict) and not any(ns is other for other, _ in found):
            found.append((ns, label))
    if caller is not None:
        where = caller.f_code.co_filename
        label = "session" if caller.f_globals is session.namespace() else "script %s" % where
        add(caller.f_globals, label)
    add(recipe_globals, "session")
    add(session.namespace(), "session")
    return found


def take_settings(defaults, recipe_globals, recipe_file, out=None):
    """Read a recipe's settings, take them out of the session, print them, and return them.

    Parameters
    ----------
    defaults : dict
        ``{NAME: default}`` in the order to print.
    recipe_globals : dict
        The recipe's ``globals()``.
    recipe_file : str
        The recipe's ``__file__``.
    out : file, optional
        Where to print the settings (default ``sys.stdout``).

    Returns
    -------
    dict
        ``{NAME: value}``: the settings of this run.

    Raises
    ------
    ValueError
        For a bad command-line argument (see :func:`parse_command_line`).
    """
    out = sys.stdout if out is None else out
    recipe_file = os.path.abspath(recipe_file)
    _, caller = _frames_above(recipe_globals)
    command_line = {}
    if _is_command_line_script(recipe_file, caller):
        try:
            command_line = parse_command_line(sys.argv[1:], defaults)
        except ValueError as exc:
            raise logs.mark_task(exc, os.path.basename(recipe_file))
    namespaces = _namespaces(recipe_globals, caller)
    values, sources = {}, {}
    for name, default in defaults.items():
        values[name], sources[name] = default, "default"
        if name in command_line:
            values[name], sources[name] = command_line[name], "command line"
        else:
            for ns, label in namespaces:
                if name in ns:
                    values[name], sources[name] = ns[name], label
                    break
        for ns, _ in namespaces:  # this run's setting, never the next run's
            ns.pop(name, None)
    taken = [name for name in defaults if sources[name] not in ("default", "command line")]
    width = max(len(name) for name in defaults)
    print("%s settings:" % os.path.basename(recipe_file), file=out)
    for name in defaults:
        print("  %-*s = %-24r (%s)" % (width, name, values[name], sources[name]), file=out)
    if taken:
        print("  taken out of the session, so they apply to this run only: %s" % ", ".join(taken), file=out)
    return values


def resolve_project(project, need, out=None):
    """Return the directory a recipe works on: ``project``, or the current directory if it holds data.

    Parameters
    ----------
    project : str or None
        The PROJECT setting; None or '' for the current directory.
    need : str
        ``'members'`` (a restore: member.uid* directories) or ``'calibrated'``
        (splits: calibrated/ directories or EB MSs).
    out : file, optional
        Where to say that the current directory is used (default ``sys.stdout``).

    Raises
    ------
    FileNotFoundError
        If PROJECT is not given and the current directory holds no delivery.
    """
    out = sys.stdout if out is None else out
    if project:
        return project
    cwd = os.getcwd()
    if need == "members":
        try:
            found = delivery.find_members(cwd)
        except FileNotFoundError:
            found = []
        what = "no member.uid___* directory at or below it"
    else:
        found = [os.path.dirname(c) for c in delivery.find_calibrated_dirs(cwd)]
        what = "no calibrated/ directory or EB MS at or below it"
    if not found:
        raise logs.mark_task(FileNotFoundError(
            "PROJECT is not set and the current directory %s is not an ALMA delivery (%s); give the "
            "project: PROJECT = '/data/2021.1.00690.S' before execfile, or after the recipe: "
            "casa -c recipe.py /data/2021.1.00690.S" % (cwd, what)), "recipe")
    print("PROJECT is not set: working on the current directory %s" % cwd, file=out)
    projects = sorted(set(project_dir(member) for member in found))
    if len(projects) > 1:
        print("  it holds %d deliveries, all of them taken: %s (set PROJECT to work on one)" % (
            len(projects), ", ".join(projects)), file=out)
    return cwd


@contextmanager
def recipe_errors(recipe_globals, recipe_file):
    """The body of a recipe: under ``casa -c``, a failed task or a bad setting ends the script in two lines, Ctrl-C
    in one (exit status 130).

    The error is printed as ``ExcType: message`` and where its traceback is
    (the CASA log), and the script ends with exit status 1 (``SystemExit``),
    instead of a traceback on the terminal. Any other error (a bug) keeps its
    traceback, and at a prompt (``execfile``) everything propagates as it is:
    the prompt's handler shows the package's errors in one line itself.
    """
    recipe_file = os.path.abspath(recipe_file)
    _, caller = _frames_above(recipe_globals)
    try:
        yield
    except Exception as exc:
        task = logs.task_of(exc)
        if task is None or not _is_command_line_script(recipe_file, caller):
            raise
        logs.show_task_error(exc, task, sys.stderr)
        raise SystemExit(1)
    except KeyboardInterrupt as exc:  # Ctrl-C, not a batch job's stop (JobStopped: its job script reads it)
        if type(exc) is not KeyboardInterrupt or not _is_command_line_script(recipe_file, caller):
            raise
        print("interrupted (Ctrl-C): the lines above say what each EB came to; nothing half-written is kept. "
              "Run the same command again to finish.", file=sys.stderr)
        raise SystemExit(130)


@contextmanager
def summary_at_end(out=None):
    """The recipe's tasks: yield a dict for their results, and print their summary table when they end.

    The body stores ``restore_pi``'s result as ``'restore'`` and ``split_sci_tgt``'s as ``'split'``. The table
    is printed also when a task failed (from the error's ``.results``: what every member and EB came to) before
    the error goes on, so a failed run shows which EBs are done as a finished one does. Nothing is printed
    when no task ran (e.g. a bad setting).
    """
    out = sys.stdout if out is None else out
    results = {}
    try:
        yield results
    except (RestoreError, SplitError) as exc:
        results["restore" if isinstance(exc, RestoreError) else "split"] = exc.results
        _print_summary(results, out)
        raise
    _print_summary(results, out)


def _print_summary(results, out):
    split = results.get("split") or {}
    if results.get("restore") or split:
        print(summary_table(results.get("restore"), split.get("sci"), split.get("tgt")), file=out)


def run_splits(run, vis):
    """Run ``split_sci_tgt`` on ``vis`` with a recipe's split settings ``run`` (as ``take_settings`` returns)."""
    from ..split import split_sci_tgt
    return split_sci_tgt(vis=vis, intent=run["INTENT"], minnchan=run["MINNCHAN"], reindex=run["REINDEX"],
                         target_intent=run["TARGET_INTENT"], overwrite=run["OVERWRITE"], dryrun=run["DRYRUN"],
                         width=run["WIDTH"], timebin=run["TIMEBIN"], parallel=run["PARALLEL"],
                         maxjobs=run["MAXJOBS"], totalpower=run["TOTALPOWER"])


def submit_programme(run, project):
    """``restore_and_split.py`` with ``SUBMIT``: ``restore_pi(submit=...)``, one batch job per member; its result.

    Each job runs restore_pi and split_sci_tgt with their defaults, so split settings other than DRYRUN are
    refused (ValueError naming them), as restore_pi refuses the restore settings a job does not take.
    """
    from ..restore import restore_pi
    changed = [name for name, default in SPLIT_SETTINGS if name != "DRYRUN" and run[name] != default]
    if changed:
        raise logs.mark_task(ValueError(
            "SUBMIT=%r: %s only %s to splits run here; each job splits with split_sci_tgt's defaults: leave "
            "%s unset, or run without SUBMIT" % (run["SUBMIT"], ", ".join(changed),
                                                 "applies" if len(changed) == 1 else "apply",
                                                 "it" if len(changed) == 1 else "them")), "recipe")
    return restore_pi(member=project, submit=run["SUBMIT"], dryrun=run["DRYRUN"], spacesaving=run["SPACESAVING"],
                      dosplit=run["DOSPLIT"], docontsub=run["DOCONTSUB"], parallel=run["RESTORE_PARALLEL"])
