"""Helpers for tests that start CASA in a subprocess: the repository, casashell's start-up arguments, a run."""

import os
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INIT = os.path.join(REPO, "init.py")


def startup_file(tmp_path, init=INIT, pipeline=True):
    """Write what a user's ~/.casa/startup.py holds (the README's line), plus the pipeline stand-in if asked."""
    path = tmp_path / ("startup.py" if pipeline else "startup_nopipe.py")
    lines = ["exec(compile(open(%r).read(), %r, 'exec'))" % (init, init)]
    if pipeline:  # what `casa --pipeline` gives; the stand-in is only for tests and the demo
        lines.append("from casa_plugin.testing.pipeline_standin import load_into; load_into(globals())")
    path.write_text("\n".join(lines) + "\n")
    return path


def split_outputs(project):
    """The .split.cal* paths below a project's calibrated/ directories, relative to the project."""
    import glob
    return sorted(os.path.relpath(p, project) for p in
                  glob.glob(os.path.join(project, "*", "*", "*", "calibrated", "uid*.ms.split.cal*")))


def casashell_has_startupfile():
    """Whether this casashell takes --startupfile (6.6+); older ones read startup.py from --rcdir."""
    import importlib.util
    spec = importlib.util.find_spec("casashell")
    if spec is None or not spec.origin:
        return True  # no casashell: let the command fail as before
    with open(spec.origin) as f:
        return "--startupfile" in f.read()


def casashell_startup_args(startup, workdir):
    """casashell arguments that run ``startup`` (None: no startup file) when CASA starts, on any casashell.

    casashell 6.6+ takes --startupfile/--nostartupfile; 6.2-6.5 read <rcdir>/startup.py and keep their
    ipython/ there, so they get a private --rcdir under ``workdir`` (never ~/.casa).
    """
    if casashell_has_startupfile():
        return ["--nostartupfile"] if startup is None else ["--startupfile", str(startup)]
    name = "none" if startup is None else os.path.splitext(os.path.basename(str(startup)))[0]
    rcdir = os.path.join(str(workdir), "casa-rcdir-" + name)
    if not os.path.isdir(rcdir):
        os.makedirs(rcdir)
    if startup is not None:
        shutil.copy(str(startup), os.path.join(rcdir, "startup.py"))
    elif os.path.exists(os.path.join(rcdir, "startup.py")):
        os.remove(os.path.join(rcdir, "startup.py"))
    return ["--rcdir", rcdir]


def run_casa(script, cwd, startup=None, args=(), timeout=600):
    """Run ``script`` at the real CASA prompt (casashell) and return the CompletedProcess."""
    cmd = [sys.executable, "-m", "casashell", "--nologger", "--nogui", "--log2term", "--nologfile"]
    cmd += casashell_startup_args(startup, cwd)
    cmd += ["-c", str(script)] + [str(a) for a in args]
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return subprocess.run(cmd, cwd=str(cwd), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=timeout)
