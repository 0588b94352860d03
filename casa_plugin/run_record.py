"""Keep a JSON run record per output directory, rewritten atomically after each EB."""

import json
import os
import socket
import time

from . import casa

__all__ = ["RECORD_NAME", "record_path", "load", "update", "update_restore"]

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


def _stamp(result):
    from . import __version__
    entry = dict(result)
    entry.update({"recorded": time.strftime("%Y-%m-%dT%H:%M:%S"), "casa_version": result.get("casa_version")
                  or casa.casa_version(), "casa_plugin_version": __version__, "host": socket.gethostname()})
    return entry


def _rewrite(directory, record):
    """Write the record to a temporary file and rename it over the old one: complete after any crash."""
    path = record_path(directory)
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w") as f:
        json.dump(record, f, indent=1, sort_keys=True, default=str)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return record


def update(directory, eb, task, result):
    """Store ``result`` as ``record['ebs'][eb][task]``; a 'done' result keeps the entry that made the output."""
    record = load(directory)
    entry = _stamp(result)
    tasks = record.setdefault("ebs", {}).setdefault(eb, {})
    previous = tasks.get(task)
    if result.get("status") == "done" and previous and previous.get("status") == "split":
        previous["checked"] = entry["recorded"]
        previous["flagversions"] = entry.get("flagversions", previous.get("flagversions"))
        entry = previous
    tasks[task] = entry
    return _rewrite(directory, record)


def update_restore(directory, result):
    """Store how ``calibrated/`` was made (restore_pi's member result) as ``record['restore']``."""
    record = load(directory)
    record["restore"] = _stamp(result)
    return _rewrite(directory, record)
