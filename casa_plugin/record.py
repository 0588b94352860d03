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


#: What an entry knows about the output on disk; a later failed or interrupted run never loses it.
_OUTPUT_KEYS = ("vis", "outputvis", "request", "contents", "made_by", "made", "spw", "spw_map", "input_spws",
                "fields", "intents", "nrows", "bytes", "flagversions", "stamps", "casa_version", "casa_plugin_version",
                "host")
_RUN_KEYS = ("status", "error", "error_type", "traceback", "seconds", "recorded", "mpi", "previous")


def _same_output(entry, result):
    out = entry.get("outputvis")
    return bool(out) and out == result.get("outputvis") and os.path.isdir(out)


def _merge(previous, result, entry):
    """The new entry of an EB's task: what is known of its output, and how the last run went."""
    status = result.get("status")
    if status == "split" or not previous or not _same_output(previous, result):
        if status == "split":
            entry["made"] = entry["recorded"]
        return entry
    merged = dict((k, v) for k, v in previous.items() if k not in _RUN_KEYS + ("last_run", "checked"))
    if status == "done":  # checked against this request: keep how it was made, refresh what it holds
        for key in ("request", "made_by"):
            merged.setdefault(key, result.get(key))
        merged.update(dict((k, result[k]) for k in ("contents", "nrows", "flagversions") if k in result))
        merged.update({"status": "done", "checked": entry["recorded"], "recorded": entry["recorded"],
                       "seconds": result.get("seconds")})
        return merged
    merged.update(dict((k, entry[k]) for k in _RUN_KEYS if k in entry))  # failed or interrupted
    merged["last_run"] = entry
    return merged


def update(directory, eb, task, result):
    """Store ``result`` as ``record['ebs'][eb][task]``, keeping what was known of a still valid output.

    A ``split`` result describes a new output; a ``done`` result keeps the
    entry of the run that made the output (its request) and refreshes what
    it holds; a failed or interrupted run keeps both and adds its status,
    error and ``last_run``.
    """
    record = load(directory)
    tasks = record.setdefault("ebs", {}).setdefault(eb, {})
    tasks[task] = _merge(tasks.get(task), result, _stamp(result))
    return _rewrite(directory, record)


def update_restore(directory, result):
    """Store how ``calibrated/`` was made (restore_pi's member result) as ``record['restore']``."""
    record = load(directory)
    record["restore"] = _stamp(result)
    return _rewrite(directory, record)
