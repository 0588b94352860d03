"""Keep a JSON run record per output directory, updated atomically after each EB."""

import json
import os
import socket
import time

from . import casa

__all__ = ["RECORD_NAME", "record_path", "load", "update"]

RECORD_NAME = "casa_plugin_record.json"


def record_path(directory):
    """Return the run record path of an output directory."""
    return os.path.join(directory, RECORD_NAME)


def load(directory):
    """Return the run record of ``directory`` (an empty one if there is none)."""
    path = record_path(directory)
    if not os.path.isfile(path):
        return {"ebs": {}}
    with open(path) as f:
        return json.load(f)


def update(directory, eb, task, result):
    """Store ``result`` as ``record['ebs'][eb][task]`` and rewrite the record atomically.

    The record is written to a temporary file and renamed over the old one, so
    it is complete after a crash at any point.
    """
    from . import __version__
    record = load(directory)
    entry = dict(result)
    entry.update({"recorded": time.strftime("%Y-%m-%dT%H:%M:%S"), "casa_version": casa.casa_version(),
                  "casa_plugin_version": __version__, "host": socket.gethostname()})
    tasks = record.setdefault("ebs", {}).setdefault(eb, {})
    previous = tasks.get(task)
    if result.get("status") == "done" and previous and previous.get("status") == "split":
        previous["checked"] = entry["recorded"]  # keep what the run that made the output recorded
        previous["flagversions"] = entry.get("flagversions", previous.get("flagversions"))
        entry = previous
    tasks[task] = entry
    path = record_path(directory)
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w") as f:
        json.dump(record, f, indent=1, sort_keys=True, default=str)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return record
