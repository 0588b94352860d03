"""The package's functions as CASA tasks at the prompt: inp, go, default, tget, tput and saveinputs work on them."""

import difflib
import inspect
import logging
import os
import re
import shutil
import sys
import textwrap
from collections import OrderedDict

from . import session
from ..cluster.scheduler import SCHEDULERS
from ..logs import mark_task, task_logging
from ..split.tasks import _DATACOLUMNS

__all__ = ["PromptTask", "prompt_task", "prompt_globals", "positional_signature"]

log = logging.getLogger(__name__)

_STATE = "__casashell_state__"  # casashell defines it in the prompt's namespace (and its -c scripts' copies)
_NAME_WIDTH = 11  # CASA's inp and .last layout: '%-11s = %s'
_VALUE_WIDTH = 23
_BLUE, _RED, _END = "\x1b[34m", "\x1b[91m", "\x1b[0m"  # inp: not the default / not valid, as CASA colours them


def prompt_globals():
    """Return the namespace CASA's task objects read their parameters from.

    The globals of the nearest calling frame that has casashell's state (the
    prompt, or a ``casa -c`` script's copy of it), as casashell's
    ``find_frame`` finds it; outside casashell, ``session.namespace()``.
    """
    frame = sys._getframe(1)
    while frame is not None:
        if _STATE in frame.f_globals:
            return frame.f_globals
        frame = frame.f_back
    return session.namespace()


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _check_vis(value):
    ok = isinstance(value, str) or (isinstance(value, (list, tuple)) and value
                                    and all(isinstance(v, str) for v in value))
    return None if ok else (TypeError, "a path, a glob or a directory (str), or a list of them")


def _check_spw(value):
    if isinstance(value, (list, tuple)):
        ok = all(_is_int(v) for v in value)
    else:
        ids = value.replace(" ", "") if isinstance(value, str) else None
        ok = ids is not None and (ids == "" or all(p.isdigit() for p in ids.split(",")))
    return None if ok else (TypeError if not isinstance(value, (str, list, tuple)) else ValueError,
                            "spw ids separated by commas ('17,19,21,23'), a list of them, or '' (by intent)")


def _check_datacolumn(value):
    if not isinstance(value, str):
        return TypeError, "one of %s" % ", ".join(repr(c) for c in _DATACOLUMNS)
    return None if value.lower() in _DATACOLUMNS else (ValueError, "one of %s" % ", ".join(
        repr(c) for c in _DATACOLUMNS))


def _check_width(value):
    return None if _is_int(value) or isinstance(value, str) else (
        TypeError, "a channel count (int) or a CASA width string")


def _check_maxjobs(value):
    if not _is_int(value):
        return TypeError, "None (the parallel policy chooses) or a whole number of EBs at once per host"
    return None if value >= 1 else (ValueError, "None (the parallel policy chooses) or a whole number >= 1")


def _check_spacesaving(value):
    what = "None (the scriptForPI's level 0) or an integer >= -1 (-1, 0, 1, 2, 3)"
    if not _is_int(value):
        return TypeError, what
    return None if value >= -1 else (ValueError, what)


def _check_flagversion(value):
    if not isinstance(value, str):
        return TypeError, "a string naming a flag version"
    return None if value.strip() else (ValueError, "a flag version name, e.g. 'original_flags'")


def _check_casa(value):
    return None if isinstance(value, str) else (TypeError, "None, 'auto' or the path of a CASA executable")


def _check_submit(value):
    what = "None, a scheduler's name ('slurm') or a dict of submit's options with 'scheduler'"
    if isinstance(value, dict):
        return None if isinstance(value.get("scheduler"), str) else (ValueError, what)
    if not isinstance(value, str):
        return TypeError, what
    return None if value in SCHEDULERS else (ValueError, "one of %s (the schedulers casa_plugin knows)" % ", ".join(
        repr(n) for n in SCHEDULERS))


# What a parameter must be, where its default's type does not say it all (the functions check the same).
_RULES = {"vis": _check_vis, "spw": _check_spw, "datacolumn": _check_datacolumn, "width": _check_width,
          "maxjobs": _check_maxjobs, "spacesaving": _check_spacesaving, "flagversion": _check_flagversion,
          "casa": _check_casa, "submit": _check_submit}
_BOOLS = ("parallel", "dosplit", "docontsub")  # default None, else True or False


def _check_members_at_once(value):
    if isinstance(value, bool):
        return None
    if not _is_int(value):
        return TypeError, "None (auto), True, False or the number of members restored at once"
    return None if value >= 1 else (ValueError, "None, True, False or a whole number >= 1")


#: A parameter whose rule differs for one task: restore_pi's parallel also takes a number of members.
_TASK_RULES = {("restore_pi", "parallel"): _check_members_at_once}


def _check(name, value, default, task=None):
    """Return None if ``value`` is valid for parameter ``name``, else (exception type, what it must be)."""
    if value is None:  # at the prompt most often another task's global of that name (its tget sets them all)
        return None if default is None else (TypeError, "%s (a None left by another task's parameters? "
                                             "default(%s) resets this task's)" % (_what(name, default), task))
    rule = _TASK_RULES.get((task, name)) or _RULES.get(name)
    if rule is not None:
        return rule(value)
    if name in _BOOLS or isinstance(default, bool):
        return None if isinstance(value, bool) else (TypeError, _what(name, default))
    if _is_int(default):
        return None if _is_int(value) else (TypeError, _what(name, default))
    if isinstance(default, str):
        return None if isinstance(value, str) else (TypeError, _what(name, default))
    return None


def _what(name, default):
    if name in _BOOLS:
        return "None, True or False"
    if isinstance(default, bool):
        return "True or False"
    if _is_int(default):
        return "an integer"
    if isinstance(default, str):
        return "a string"
    rule = _RULES.get(name)
    return rule(object())[1] if rule is not None else "as documented"


def _descriptions(doc):
    """Parameter name -> first sentence of its numpydoc description (``a, b : type`` entries give both)."""
    lines = textwrap.dedent("\n".join((doc or "").splitlines()[1:])).splitlines()
    texts, names, in_params = OrderedDict(), [], False
    for i, line in enumerate(lines):
        heading = i + 1 < len(lines) and lines[i + 1].strip().startswith("---")
        if line.strip() == "Parameters" and heading:
            in_params = True
        elif in_params and heading:
            break  # the next section
        elif in_params and line and not line.startswith(" ") and not line.startswith("---"):
            names = [n.strip() for n in line.split(":")[0].split(",")]
            for n in names:
                texts[n] = []
        elif in_params and line.strip():
            for n in names:
                texts[n].append(line.strip())
    out = OrderedDict()
    for name, words in texts.items():
        text = " ".join(words).replace("``", "")
        out[name] = re.split(r"(?<=\.)\s(?=[A-Z])", text)[0] if text else ""
    return out


class PromptTask(object):
    """A package function as a CASA task object (what casashell's ``inp``/``go``/``default``/``tget``/``tput`` call).

    Called with arguments, it calls the function with them, as CASA's own
    tasks are called: positional arguments are taken in the function's
    parameter order (``positional_signature``), keywords by name. Called with none (``split_sci()``,
    ``go split_sci``), it takes each parameter from the prompt's globals of
    that name, or its default, checks them all (a bad one: ``TypeError`` or
    ``ValueError`` naming each bad parameter and what it must be; nothing
    run) and calls the function with them. Either way, as CASA's tasks do,
    the parameters used are written to ``<task>.last`` in the current
    directory (skipped if it is not writable), which ``tget`` reads back.
    """

    def __init__(self, func, group, desc, describe_from=()):
        self._func = func
        self.__name__ = func.__name__
        self.__qualname__ = func.__name__
        self.__module__ = func.__module__
        self.__doc__ = func.__doc__
        self.__wrapped__ = func
        self._info_group_ = group
        self._info_desc_ = desc
        self._signature = positional_signature(func)
        self.__signature__ = self._signature
        self._defaults = OrderedDict((n, p.default) for n, p in self._signature.parameters.items())
        self._help = _descriptions(func.__doc__)
        for other in describe_from:  # 'As for split_sci' entries: split_sci's words
            for name, text in _descriptions(other.__doc__).items():
                if name in self._defaults and self._help.get(name, "As for").startswith("As for"):
                    self._help[name] = text

    def __repr__(self):
        return "<CASA task %s (casa_plugin)>" % self.__name__

    # --- the values -----------------------------------------------------------------
    def _from_globals(self, glb):
        return OrderedDict((n, glb[n] if n in glb else d) for n, d in self._defaults.items())

    def problems(self, values):
        """Return ``[(name, value, exception type, what it must be)]`` for the invalid ``values``."""
        out = []
        for name, default in self._defaults.items():
            bad = _check(name, values.get(name, default), default, self.__name__)
            if bad is not None:
                out.append((name, values.get(name, default), bad[0], bad[1]))
        return out

    def check(self, values):
        """Raise TypeError (a wrong type among them) or ValueError for every invalid parameter in ``values``."""
        bad = self.problems(values)
        if bad:
            etype = TypeError if any(b[2] is TypeError for b in bad) else ValueError
            raise etype("%s not run: %s" % (self.__name__, "; ".join(
                "%s=%r: must be %s" % (name, value, what) for name, value, _, what in bad)))

    def _call_error(self, kwargs, exc):
        """The binding error, with the parameter the user probably meant for each unknown keyword."""
        hints = []
        for name in kwargs:
            if name not in self._defaults:
                close = difflib.get_close_matches(name, list(self._defaults), n=1)
                hints.append("%r is not a parameter of %s%s" % (name, self.__name__,
                                                              "; did you mean %r?" % close[0] if close else ""))
        return "%s not run: %s" % (self.__name__, "; ".join(hints) if hints else exc)

    # --- the task ---------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        pre = os.path.realpath(self.__name__ + ".pre")
        last = os.path.realpath(self.__name__ + ".last")
        if args or kwargs:
            try:
                bound = self._signature.bind(*args, **kwargs)
            except TypeError as exc:
                # one line at the prompt (marked as the task's error, as any other), nothing written
                raise mark_task(TypeError(self._call_error(kwargs, exc)), self.__name__) from None
            given = dict(bound.arguments)  # by name: the function takes keywords after its first parameter
            bound.apply_defaults()
            values = OrderedDict(bound.arguments)
        else:
            values = self._from_globals(prompt_globals())
        wrote = self._write(pre, values)
        try:
            if args or kwargs:
                return self._func(**given)
            with task_logging(self.__name__):
                self.check(values)
                self._say_globals(values)
            return self._func(**values)
        finally:
            if wrote:
                try:
                    os.rename(pre, last)
                except OSError:
                    pass

    def _say_globals(self, values):
        """Log the parameters a call with no arguments took from the prompt's globals that are not its defaults:
        globals are shared by name between tasks (``tget`` of one task sets another's ``datacolumn``)."""
        changed = ["%s=%r" % (n, v) for n, v in values.items() if not _same(v, self._defaults[n])]
        if changed:
            log.info("%s: from the prompt's globals, not the defaults: %s (default(%s) resets them)",
                     self.__name__, ", ".join(changed), self.__name__)

    def _write(self, path, values):
        def text(value):
            r = repr(value)
            return "None" if r.startswith("<") and r.endswith(">") else r
        width = max([_NAME_WIDTH] + [len(n) for n in values])
        try:
            with open(path, "w") as f:
                for name, value in values.items():
                    f.write("%-*s = %s\n" % (width, name, text(value)))
                f.write("#%s( %s )\n" % (self.__name__, ",".join("%s=%s" % (n, text(v)) for n, v in values.items())))
        except (OSError, IOError):
            return False
        return True

    # --- what casashell's inp/go/default/tget/tput call ----------------------------------
    def set_global_defaults(self):
        """``default <task>``: remove the task's parameters from the prompt's globals (their defaults apply)."""
        glb = prompt_globals()
        for name in self._defaults:
            glb.pop(name, None)
        _set_last(glb, self)

    def inp(self):
        """``inp <task>``: list the parameters as a call with no arguments would take them.

        Blue: not the default; red: not valid (the call would refuse it).
        """
        values = self._from_globals(prompt_globals())
        bad = set(b[0] for b in self.problems(values))
        width = max([_NAME_WIDTH] + [len(n) for n in values])
        term = shutil.get_terminal_size(fallback=(80, 24)).columns
        indent = width + 3 + _VALUE_WIDTH + 1
        print("# %s -- %s" % (self.__name__, self._info_desc_))
        for name, value in values.items():
            shown = "'%s'" % value if isinstance(value, str) else str(value)
            pre, post = ((_RED, _END) if name in bad else
                         ("", "") if _same(value, self._defaults[name]) else (_BLUE, _END))
            head = "%-*s = %s%-*s%s" % (width, name, pre, _VALUE_WIDTH, shown, post)
            lines = textwrap.wrap(self._help.get(name, ""), max(20, term - indent - 2)) or [""]
            print(("%s # %s" % (head, lines[0])).rstrip())
            for line in lines[1:]:
                print("%s# %s" % (" " * indent, line))

    def tget(self, savefile=None):
        """``tget <task>``: set the task's parameters as globals from ``<task>.last`` (or ``.saved``, or ``savefile``).

        Only the task's parameter names are taken from the file (CASA takes
        every name it defines). No such file: the defaults are set instead.
        """
        from runpy import run_path
        glb = prompt_globals()
        filename = savefile
        if filename is None:
            filename = self.__name__ + (".last" if os.path.isfile(self.__name__ + ".last") else ".saved")
        if not os.path.isfile(filename):
            print("could not find last file: %s\nsetting defaults instead..." % filename)
            self.set_global_defaults()
            return
        saved = run_path(filename, init_globals={})
        for name in self._defaults:
            if name in saved:
                glb[name] = saved[name]
        _set_last(glb, self)

    def tput(self, outfile=None):
        """``tput <task>`` / ``saveinputs``: write the parameters as the globals give them.

        To ``outfile``, default ``<task>.last`` in the current directory. Returns whether it was written.
        """
        path = outfile if outfile is not None else os.path.realpath(self.__name__ + ".last")
        return self._write(path, self._from_globals(prompt_globals()))


def positional_signature(func):
    """Return ``func``'s signature with every parameter positional-or-keyword, in the same order.

    The package's functions take keywords only after their first parameter;
    at the prompt, as CASA's own tasks, they also take positional arguments
    in that order (``split_sci('/path', '', 'OBSERVE_TARGET*')``). New
    parameters are only ever appended, so a positional call keeps its meaning.
    """
    sig = inspect.signature(func)
    return sig.replace(parameters=[p.replace(kind=inspect.Parameter.POSITIONAL_OR_KEYWORD)
                                   for p in sig.parameters.values()])


def _same(value, default):
    try:
        return type(value) is type(default) and value == default
    except Exception:
        return False


def _set_last(glb, task):
    """Make ``task`` the one ``inp``/``go`` with no argument act on, as CASA's tasks do."""
    state = getattr(glb.get("inp"), "state", None)
    if isinstance(state, dict):
        state["last"] = task


def prompt_task(func, group, desc, describe_from=()):
    """Return ``func`` as a CASA task object for the prompt (its own class, so ``help()`` shows its docstring).

    Parameters
    ----------
    func : callable
        One of the package's task functions.
    group, desc : str
        Its taskhelp() group and one-line description (also ``inp``'s heading).
    describe_from : sequence of callables
        Functions whose parameter descriptions fill this one's "As for ..." entries.
    """
    cls = type(func.__name__, (PromptTask,), {"__doc__": func.__doc__, "__module__": func.__module__,
                                              "__signature__": positional_signature(func)})  # for help()
    return cls(func, group, desc, describe_from)

