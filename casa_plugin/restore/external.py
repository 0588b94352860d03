"""Run one member's restore in a separate CASA process (another CASA version) and collect its result."""

import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

from . import casa5_wrapper, casa_log

__all__ = ["LOADER", "PACKAGE", "restore_in_casa", "same_casa", "command", "start_restore", "finish_restore"]

log = logging.getLogger(__name__)
PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # casa_plugin/

# The child runs this very package (a checkout or an installed wheel alike): it is loaded from its
# directory by location, so nothing else of the parent's sys.path (another Python's site-packages)
# reaches the child's CASA. A casa_plugin imported from elsewhere by the child's startup file is
# replaced by this one.
#: The start of a driver script: this package, loaded by location (``{package!r}``) in another CASA's Python.
LOADER = """\
import importlib.util, json, logging, os, sys, traceback
_pkg = {package!r}
_mod = sys.modules.get('casa_plugin')
if _mod is None or os.path.dirname(os.path.abspath(_mod.__file__)) != _pkg:
    for _name in [n for n in list(sys.modules) if n == 'casa_plugin' or n.startswith('casa_plugin.')]:
        del sys.modules[_name]
    _log = logging.getLogger('casa_plugin')
    _log.handlers[:] = [h for h in _log.handlers if not getattr(h, '_casa_plugin', False)]
    _spec = importlib.util.spec_from_file_location('casa_plugin', os.path.join(_pkg, '__init__.py'),
                                                   submodule_search_locations=[_pkg])
    _mod = importlib.util.module_from_spec(_spec)
    sys.modules['casa_plugin'] = _mod
    _spec.loader.exec_module(_mod)
"""
_DRIVER = LOADER + """\
from casa_plugin import prompt
prompt.register(globals())
if {standin!r}:  # the session restores with the tests' pipeline stand-in: so does this child
    from casa_plugin.prompt import session as _session
    from casa_plugin.testing.pipeline_standin import load_into
    load_into(_session.namespace())
print('casa_plugin %s from %s' % (_mod.__version__, _mod.__file__))
try:  # where CASA's log is now: the parent reads its SEVERE lines from here if the restore fails
    from casatasks import casalog as _casalog
    _logfile = os.path.abspath(_casalog.logfile())
    with open({log_start!r}, 'w') as f:
        json.dump({{'logfile': _logfile, 'offset': os.path.getsize(_logfile) if os.path.isfile(_logfile) else 0}}, f)
except Exception:
    pass
from casa_plugin import RestoreError
from casa_plugin.restore.versions import running_version
_out = {{'casa_version': running_version()}}
try:
    _result = restore_pi(member={member!r}, spacesaving={spacesaving!r}, dosplit={dosplit!r},
                         docontsub={docontsub!r}, overwrite={overwrite!r}, checkdisk={checkdisk!r},
                         versioncheck={versioncheck!r}, parallel=False)
    _out['result'] = _result
except RestoreError as exc:
    _out.update({{'error': str(exc), 'result': exc.results}})
except Exception as exc:
    _out.update({{'error': '%s: %s' % (type(exc).__name__, exc), 'traceback': traceback.format_exc()}})
with open({output!r}, 'w') as f:
    json.dump(_out, f, default=str)
"""


def command(casa):
    words = shlex.split(casa)
    if not words or shutil.which(words[0]) is None:
        raise FileNotFoundError("casa=%r: no such executable; give the path of a CASA's bin/casa (or a "
                                "command such as '/path/venv/bin/python -m casashell')" % casa)
    return words


def same_casa():
    """The command line of a CASA like the running one: this Python's ``-m casashell``."""
    return [sys.executable, "-m", "casashell"]  # its log: start_restore's --logfile


def start_restore(cmd, member, options, *, output=None, env=None, standin=False):
    """Start ``cmd --pipeline --nogui --nologger --log2term --logfile <log> -c <driver>`` on ``member``; don't wait.

    ``output``: a file object for the child's output (default: a pipe).
    ``standin``: the child loads the tests' pipeline stand-in. Returns the
    handle ``finish_restore`` takes (``handle['proc']`` is the process).
    """
    workdir = tempfile.mkdtemp(prefix="casa_plugin-restore-")
    result = os.path.join(workdir, "result.json")
    driver = os.path.join(workdir, "restore_driver.py")
    script2 = casa5_wrapper.python2_script(member)
    with open(driver, "w") as f:
        if script2:  # a CASA 5 (Python 2) scriptForPI: a standalone wrapper, no casa_plugin in that child
            f.write(casa5_wrapper.wrapper_text(member, script2, result, os.path.join(workdir, casa_log.START_NAME),
                                               options))
        else:
            f.write(_DRIVER.format(package=PACKAGE, member=member, output=result, standin=standin,
                                   log_start=os.path.join(workdir, casa_log.START_NAME), **options))
    cmd = list(cmd) + ["--pipeline", "--nogui", "--nologger", "--log2term", "--logfile",
                       os.path.join(workdir, casa_log.LOG_NAME), "-c", driver]
    log.info("running %s", " ".join(shlex.quote(w) for w in cmd))
    try:
        proc = subprocess.Popen(cmd, cwd=workdir, stdout=output or subprocess.PIPE, stderr=subprocess.STDOUT,
                                universal_newlines=True, env=env)
    except OSError:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return {"proc": proc, "workdir": workdir, "result": result, "cmd": cmd}


def finish_restore(handle):
    """Wait for the child of ``start_restore``; return its output ``{'casa_version', 'result'|'error'}``.

    Sets ``handle['cause']``: what CASA logged as SEVERE since the restore
    started (or that it wrote no log), for the message of a failed restore.

    Raises
    ------
    RuntimeError
        If the child exited without a result (the message carries the cause).
    """
    try:
        code = handle["proc"].wait()
        handle["cause"] = casa_log.cause_text(casa_log.severe_since(handle["workdir"]))
        if not os.path.isfile(handle["result"]):
            raise RuntimeError("%s exited with %d and returned no result; %s" % (handle["cmd"][0], code,
                                                                                 handle["cause"]))
        with open(handle["result"]) as f:
            return json.load(f)
    finally:
        shutil.rmtree(handle["workdir"], ignore_errors=True)


def restore_in_casa(casa, member, options):
    """Restore ``member`` with CASA ``casa`` (an executable or command line); return its member result.

    The child runs ``casa --pipeline --nogui --nologger --log2term -c <driver>``;
    its output is streamed to this log, and its ``restore_pi`` result comes back.

    Raises
    ------
    FileNotFoundError
        If ``casa`` is not an executable.
    RuntimeError
        If the child fails or reports an error (the message is the child's).
    """
    handle = start_restore(command(casa), member, options)
    for line in handle["proc"].stdout:
        log.info("[%s] %s", os.path.basename(handle["cmd"][0]), line.rstrip())
    try:
        out = finish_restore(handle)
    except RuntimeError as exc:
        raise RuntimeError("%s: %s" % (os.path.basename(member), exc))
    if out.get("error"):
        raise RuntimeError("in %s (CASA %s): %s" % (casa, out["casa_version"],
                                                    casa_log.with_cause(out["error"], handle["cause"])))
    result = dict(out["result"]["members"][member])
    result["casa_version"] = out["casa_version"]
    result["casa"] = casa
    return result
