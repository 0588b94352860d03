"""The standalone Python 2.7 script a CASA 5 child runs to restore a member whose scriptForPI is Python 2.

CASA 5 (Python 2.7) cannot import casa_plugin (Python 3.6+), so its child
runs no package code: :data:`WRAPPER` goes to the member's script/, sets the
scriptForPI's options as globals, runs it as ALMA's README says
(``execfile`` in CASA's own namespace, as ``casa -c`` runs the wrapper) and
writes the result JSON that ``external.finish_restore`` reads, in the shape
of ``restore_pi``'s own result. The text is kept valid in Python 2.7 and in
Python 3 alike (no f-strings, no keyword-only arguments, ``print`` unused),
so that its syntax can be checked where no Python 2 is installed; the tests
compile it with a Python 2.7 when they find one.
"""

import glob
import os

from .script_checks import python3_error

__all__ = ["WRAPPER", "wrapper_text", "python2_script"]

WRAPPER = """\
# -*- coding: utf-8 -*-
# casa_plugin: restore one member in CASA 5 (Python 2.7); standalone, casa_plugin is not loaded here.
import json, os, sys, traceback
_cp_member = {member!r}
_cp_script = {script!r}
_cp_output = {output!r}
_cp_variables = {variables!r}


def _cp_version():
    try:
        return str(casa['build']['version'])
    except Exception:
        pass
    try:
        return str(casadef.casa_version)
    except Exception:
        return None


try:  # where CASA's log is: the parent reads its SEVERE lines from here if the restore fails
    _cp_logfile = os.path.abspath(casalog.logfile())
    _cp_f = open({log_start!r}, 'w')
    json.dump({{'logfile': _cp_logfile,
               'offset': os.path.getsize(_cp_logfile) if os.path.isfile(_cp_logfile) else 0}}, _cp_f)
    _cp_f.close()
except Exception:
    pass
_cp_out = {{'casa_version': _cp_version()}}
_cp_here = os.getcwd()
_cp_result = {{'status': 'restored'}}
try:
    os.chdir(os.path.dirname(_cp_script))
    globals().update(_cp_variables)
    try:
        execfile(os.path.basename(_cp_script), globals())
    except SystemExit:
        _cp_code = sys.exc_info()[1].code
        if _cp_code not in (None, 0):
            raise RuntimeError('the scriptForPI stopped: %s' % (_cp_code,))
except Exception:
    _cp_exc = sys.exc_info()[1]
    _cp_result = {{'status': 'failed', 'error': '%s: %s' % (type(_cp_exc).__name__, _cp_exc),
                  'traceback': traceback.format_exc()}}
    _cp_out['error'] = _cp_result['error']
os.chdir(_cp_here)
_cp_out['result'] = {{'members': {{_cp_member: _cp_result}}}}
_cp_f = open(_cp_output, 'w')
json.dump(_cp_out, _cp_f)
_cp_f.close()
"""

#: restore_pi's options -> the scriptForPI's global variables.
_VARIABLES = (("spacesaving", "SPACESAVING"), ("dosplit", "DOSPLIT"), ("docontsub", "DOCONTSUB"))


def python2_script(member):
    """The member's scriptForPI if it is not Python 3 (a CASA 5 script), else None."""
    scripts = sorted(glob.glob(os.path.join(member, "script", "*scriptForPI.py")))
    if len(scripts) == 1 and python3_error(scripts[0]) is not None:
        return scripts[0]
    return None


def wrapper_text(member, script, output, log_start, options):
    """The wrapper for ``member``'s Python 2 ``script``; it writes its result JSON to ``output``.

    ``options`` are restore_pi's: ``spacesaving``, ``dosplit``, ``docontsub``
    are set as SPACESAVING, DOSPLIT, DOCONTSUB when given (not None).
    """
    variables = dict((var, options[arg]) for arg, var in _VARIABLES if options.get(arg) is not None)
    return WRAPPER.format(member=member, script=script, output=output, log_start=log_start, variables=variables)
