# casa_plugin start-up: run from CASA's startup.py to put restore_pi, split_sci and split_tgt at the prompt.
#
# Add this one line to ~/.casa/startup.py (CASA 6.2: <rcdir>/startup.py), with your path:
#
#     exec(compile(open('/path/to/casa_plugin/init.py').read(), '/path/to/casa_plugin/init.py', 'exec'))
#
# ``execfile('/path/to/casa_plugin/init.py')`` works too. No pip install is needed: this file puts its
# own directory on sys.path; the work is done by casa_plugin.prompt.register (which a pip-installed
# package offers as ``from casa_plugin.prompt import register; register(globals())``).
#
# This file runs in the prompt's namespace: it adds the three functions there and nothing else (no
# docstring either, which would replace the namespace's __doc__); the one name it defines for its
# own use, _casa_plugin_init, is removed again.


def _casa_plugin_init(namespace):
    import inspect
    import os
    import sys

    candidates = [inspect.currentframe().f_code.co_filename, namespace.get("__file__") or "",
                  os.path.join(os.environ.get("CASA_PLUGIN_HOME", ""), "init.py")]
    here = None
    for path in candidates:
        if path.endswith("init.py") and os.path.isdir(os.path.join(os.path.dirname(path), "casa_plugin")):
            here = os.path.dirname(os.path.abspath(path))
            break
    if here is None:
        raise ImportError("casa_plugin init.py cannot tell where it is; run it with "
                          "exec(compile(open(P).read(), P, 'exec')) or set CASA_PLUGIN_HOME to its directory")
    if here not in sys.path:
        sys.path.insert(0, here)
    from casa_plugin import prompt
    prompt.register(namespace)


try:
    _casa_plugin_init(globals())
finally:
    del _casa_plugin_init
