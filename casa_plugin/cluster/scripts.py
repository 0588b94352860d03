"""The files of one member's job under ``<project>/casa_plugin_jobs/``: a batch script and the CASA script it runs.

The batch script is plain bash with the scheduler's directives, meant to be read, edited and resubmitted by
hand (``sbatch <member>.sh``); dependencies are given on the submit command line, not in it. It starts the
member's CASA in the background and forwards the scheduler's SIGTERM to it (bash would otherwise hold the
signal until CASA ended), so the job stops as after Ctrl-C.
"""

import os
import shlex

from ..restore.external import LOADER, PACKAGE
from . import jobs_record

__all__ = ["job_files", "write_job"]

_SHELL = """\
#!/bin/bash
{header}
# casa_plugin: restore and split {name} ({what}) in one job: restore_pi, then split_sci_tgt, in CASA {casa_version}.
# Resources: {source}. Edit and resubmit by hand with: sbatch {script}
# Restored {where}
# Its CASA log: {casa_log}
set -u
cd {member}
{command} --pipeline --nogui --nologger --log2term --logfile {casa_log} -c {driver} &
casa=$!
trap 'kill -TERM "$casa" 2>/dev/null' TERM
wait "$casa"; code=$?
while kill -0 "$casa" 2>/dev/null; do wait "$casa"; code=$?; done
exit "$code"
"""

_DRIVER = LOADER + """\
# casa_plugin: the job of {name}: CASA runs this with -c (written by 'python -m casa_plugin submit')
from casa_plugin import prompt
prompt.register(globals())
if {standin!r}:  # PIPELINE='standin': the tests' stand-in for the ALMA pipeline (synthetic deliveries only)
    from casa_plugin.prompt import session as _session
    from casa_plugin.testing.pipeline_standin import load_into
    load_into(_session.namespace())
from casa_plugin.cluster.job import run_member_job
_code = run_member_job({member!r}, {project!r}, time_limit={minutes!r}, margin={margin!r}, scheduler={scheduler!r},
                       scratch={scratch!r})
if _code:
    sys.exit(_code)
"""


def job_files(project, member):
    """``{'script', 'driver', 'output', 'casa_log'}``: the paths of ``member``'s job files (logs per job id)."""
    folder = jobs_record.jobs_dir(project)
    name = os.path.basename(member)
    return {"script": os.path.join(folder, name + ".sh"), "driver": os.path.join(folder, name + ".py"),
            "output": os.path.join(folder, name + ".%j.log"),
            "casa_log": os.path.join(folder, name + ".casa.${SLURM_JOB_ID:-here}.log")}


def _write(path, text, mode):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def write_job(scheduler, project, plan, options):
    """Write ``plan``'s batch script and CASA script; return the script's path.

    ``plan``: member, array, ebs, casa (a command line), casa_version, resources, name (the job name);
    ``options``: partition, account, standin, scratch.
    """
    files = job_files(project, plan["member"])
    os.makedirs(os.path.dirname(files["script"]), exist_ok=True)
    res = plan["resources"]
    job = dict(res, name=plan["name"], output=files["output"], partition=options.get("partition"),
               account=options.get("account"))
    name = os.path.basename(plan["member"])
    _write(files["driver"], _DRIVER.format(package=PACKAGE, name=name, member=plan["member"],
                                           project=os.path.abspath(project), minutes=res["minutes"],
                                           margin=res["margin"], scheduler=scheduler.name,
                                           standin=bool(options.get("standin")),
                                           scratch=options.get("scratch")), 0o644)
    what = "%s, %d EB%s" % ({"7m": "7 m", "TP": "total power"}.get(plan["array"], "12 m"), len(plan["ebs"]),
                            "" if len(plan["ebs"]) == 1 else "s")
    _write(files["script"], _SHELL.format(
        header="\n".join(scheduler.script_header(job)), name=name, what=what,
        casa_version=plan.get("casa_version") or "(version not stated by the delivery)",
        source=res["source"] or "as given", where="in place" if not options.get("scratch") else
        "on node-local scratch, %s (calibrated/ moved back checked; the splits run in place)" % options["scratch"], script=files["script"], member=shlex.quote(plan["member"]),
        command=plan["casa"], casa_log='"%s"' % files["casa_log"], driver=shlex.quote(files["driver"])), 0o755)
    return files["script"]
