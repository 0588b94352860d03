"""casa_plugin start-up: run from CASA's startup.py to put restore_pi, split_sci and split_tgt at the prompt.

Add this one line to ~/.casa/startup.py (CASA 6.2: <rcdir>/startup.py), with your path:

    exec(compile(open('/path/to/casa_plugin/init.py').read(), '/path/to/casa_plugin/init.py', 'exec'))

``execfile('/path/to/casa_plugin/init.py')`` works too. No pip install is needed:
this file puts its own directory on sys.path.
"""

import inspect as _inspect
import os as _os
import sys as _sys


def _casa_plugin_init(module_globals):
    candidates = [_inspect.currentframe().f_code.co_filename, module_globals.get("__file__") or "",
                  _os.path.join(_os.environ.get("CASA_PLUGIN_HOME", ""), "init.py")]
    here = None
    for path in candidates:
        if path.endswith("init.py") and _os.path.isdir(_os.path.join(_os.path.dirname(path), "casa_plugin")):
            here = _os.path.dirname(_os.path.abspath(path))
            break
    if here is None:
        raise ImportError("casa_plugin init.py cannot tell where it is; run it with "
                          "exec(compile(open(P).read(), P, 'exec')) or set CASA_PLUGIN_HOME to its directory")
    if here not in _sys.path:
        _sys.path.insert(0, here)
    import casa_plugin
    from casa_plugin import session

    namespace = module_globals
    try:
        from IPython import get_ipython
        if get_ipython() is not None:
            namespace = get_ipython().user_ns  # the prompt's own namespace, even under execfile
    except ImportError:
        pass
    session.remember(namespace)
    descriptions = {
        "restore_pi": "Restore ALMA pipeline calibration: run each member's scriptForPI",
        "split_sci": "Split science spws of each EB into uid*.ms.split.cal; save original_flags",
        "split_tgt": "Split science targets of each .split.cal into .source; save original_flags",
    }
    for name, desc in descriptions.items():
        func = getattr(casa_plugin, name)
        func._info_group_ = "casa_plugin"
        func._info_desc_ = desc
        namespace[name] = func
        module_globals[name] = func
    try:  # list the functions in taskhelp() where casashell allows extra task modules
        import casashell
        extra = getattr(casashell, "extra_task_modules", None)
        if isinstance(extra, list) and casa_plugin not in extra:
            extra.append(casa_plugin)
    except ImportError:
        pass
    return casa_plugin


_casa_plugin_init(globals())
del _casa_plugin_init, _inspect, _os, _sys
