"""Run one member's restore in a separate CASA process (another CASA version) and collect its result."""

import json
import logging
import os
import shlex
import shutil
import subprocess
import tempfile

__all__ = ["restore_in_casa"]

log = logging.getLogger(__name__)
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # casa_plugin/

# The child runs this very package (a checkout or an installed wheel alike): it is loaded from its
# directory by location, so nothing else of the parent's sys.path (another Python's site-packages)
# reaches the child's CASA. A casa_plugin imported from elsewhere by the child's startup file is
# replaced by this one.
_DRIVER = """\
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
from casa_plugin import prompt
prompt.register(globals())
print('casa_plugin %s from %s' % (_mod.__version__, _mod.__file__))
from casa_plugin import RestoreError
from casa_plugin.restore.versions import running_version
_out = {{'casa_version': running_version()}}
try:
    _result = restore_pi(member={member!r}, spacesaving={spacesaving!r}, dosplit={dosplit!r},
                         docontsub={docontsub!r}, overwrite={overwrite!r}, checkdisk={checkdisk!r},
                         versioncheck={versioncheck!r})
    _out['result'] = _result
except RestoreError as exc:
    _out.update({{'error': str(exc), 'result': exc.results}})
except Exception as exc:
    _out.update({{'error': '%s: %s' % (type(exc).__name__, exc), 'traceback': traceback.format_exc()}})
with open({output!r}, 'w') as f:
    json.dump(_out, f, default=str)
"""


def _command(casa):
    words = shlex.split(casa)
    if not words or shutil.which(words[0]) is None:
        raise FileNotFoundError("casa=%r: no such executable; give the path of a CASA's bin/casa (or a "
                                "command such as '/path/venv/bin/python -m casashell')" % casa)
    return words


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
    cmd = _command(casa)
    workdir = tempfile.mkdtemp(prefix="casa_plugin-restore-")
    try:
        output = os.path.join(workdir, "result.json")
        driver = os.path.join(workdir, "restore_driver.py")
        with open(driver, "w") as f:
            f.write(_DRIVER.format(package=_PACKAGE, member=member, output=output,
                                   **options))
        cmd += ["--pipeline", "--nogui", "--nologger", "--log2term", "-c", driver]
        log.info("running %s", " ".join(shlex.quote(w) for w in cmd))
        proc = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                universal_newlines=True)
        for line in proc.stdout:
            log.info("[%s] %s", os.path.basename(cmd[0]), line.rstrip())
        code = proc.wait()
        if not os.path.isfile(output):
            raise RuntimeError("%s exited with %d and returned no result for %s" % (casa, code, member))
        with open(output) as f:
            out = json.load(f)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if out.get("error"):
        raise RuntimeError("in %s (CASA %s): %s" % (casa, out["casa_version"], out["error"]))
    result = dict(out["result"]["members"][member])
    result["casa_version"] = out["casa_version"]
    result["casa"] = casa
    return result
