"""Put restore_pi, split_sci and split_tgt at the CASA prompt, and show their failures briefly there."""

import sys

from .. import logs

__all__ = ["register", "TASKS"]

TASKS = {
    "restore_pi": "Restore ALMA pipeline calibration: run each member's scriptForPI",
    "split_sci": "Split science spws of each EB into uid*.ms.split.cal; save original_flags",
    "split_tgt": "Split science targets of each .split.cal into .source; save original_flags",
}
# what the prompt's handler sees; all but the package's task errors (and a Ctrl-C out of a task) are passed on
_HANDLED = (Exception, KeyboardInterrupt)


def _shell():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def register(namespace=None):
    """Bind the package's task functions in the CASA prompt's namespace; ``init.py`` calls this.

    Parameters
    ----------
    namespace : dict, optional
        The namespace the caller runs in (``globals()`` of CASA's startup
        file). The functions go there and, at an IPython prompt, into the
        prompt's own namespace (``execfile`` gives its scripts a copy).

    Returns
    -------
    list of str
        The names bound.

    Each name is bound to a CASA task object (``task_interface.PromptTask``):
    called with arguments it calls the function with them, positional ones
    taken in the function's parameter order as CASA's tasks take them
    (the function itself takes keywords after its first); ``inp``, ``go``,
    ``default``, ``tget``, ``tput`` and a call with no arguments work on it as
    on CASA's own tasks. Under MPI no server is asked to start anything: a
    task starts the servers' workers only when it runs on them. Nothing else is added to or removed from either namespace. At an IPython
    prompt an exception handler is installed: an error raised by one of the
    package's tasks shows as ``ExcType: message`` and one line saying where its
    traceback is (the CASA log; ``%tb``); any other error shows as usual.
    """
    import casa_plugin
    from . import session, task_interface

    shell = _shell()
    prompt_ns = shell.user_ns if shell is not None else None
    targets = [ns for ns in (prompt_ns, namespace) if ns is not None]
    if not targets:
        targets = [vars(sys.modules["__main__"])]
    session.remember(targets[0])
    for name, desc in TASKS.items():
        func = getattr(casa_plugin, name)
        func._info_group_ = "casa_plugin"
        func._info_desc_ = desc
        task = task_interface.prompt_task(func, "casa_plugin", desc, describe_from=[casa_plugin.split_sci])
        for ns in targets:
            ns[name] = task  # a CASA task object: inp/go/default/tget/tput work on it; called with arguments, func
    _list_in_taskhelp(casa_plugin)
    from ..parallel import exit_cleanly
    exit_cleanly()  # under MPI: a session that never uses the servers must still let mpirun end with status 0
    if shell is not None:
        install_exception_handler(shell)
    return sorted(TASKS)


def _list_in_taskhelp(package):
    """List the functions in taskhelp() where casashell allows extra task modules."""
    try:
        import casashell
    except ImportError:
        return
    extra = getattr(casashell, "extra_task_modules", None)
    if isinstance(extra, list) and package not in extra:
        extra.append(package)


def install_exception_handler(shell):
    """Show errors raised by the package's tasks at the IPython prompt ``shell`` in two lines.

    The full traceback goes to casalog (origin: the task). A handler
    installed before this one still gets the exceptions it asked for.
    """
    if getattr(shell, "_casa_plugin_custom_tb", None) is shell.CustomTB:
        return  # already installed
    previous = (tuple(shell.custom_exceptions), shell.CustomTB)

    def handler(self, etype, value, tb, tb_offset=None):
        return _show(self, previous, etype, value, tb, tb_offset)

    shell.set_custom_exc(_HANDLED, handler)
    shell._casa_plugin_custom_tb = shell.CustomTB


def _show(shell, previous, etype, value, tb, tb_offset):
    task = logs.task_of(value)
    if task is None:
        if previous[0] and isinstance(value, previous[0]):
            return previous[1](etype, value, tb, tb_offset=tb_offset)
        if issubclass(etype, SyntaxError):
            shell.showsyntaxerror()
            return None
        mine = shell.custom_exceptions
        shell.custom_exceptions = ()  # showtraceback would call this handler again for a plain Exception
        try:
            shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
        finally:
            shell.custom_exceptions = mine
        return None
    sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb  # for %tb
    logs.show_task_error(value, task, sys.stdout, prompt=True)
    return None
