"""Keep a JSON record per output directory: one entry per output the plugin made, rewritten atomically.

``<directory>/casa_plugin_record.json`` holds ``{'format': 2, 'outputs':
{name: entry}, 'restore': {...}, 'elsewhere': {path: reference}}``. An
output's entry is keyed by its path relative to the record's directory (its
name: outputs are recorded beside themselves), so two outputs of one EB (the
default ``.split.cal`` and a custom ``outputvis``) never share an entry, and a
copied or moved delivery keeps its record. An output written outside its
input's directory is also named, by absolute path, under ``elsewhere`` in the
input directory's record (the EB's delivery record), so the delivery knows of
it. Records of format 1 (``{'ebs': {eb: {task: entry}}}``) are converted when read.
"""

import contextlib
import json
import logging
import os
import socket
import threading
import time

from .ms import casa

__all__ = ["RECORD_NAME", "FORMAT", "record_path", "load", "entry_of", "entries_of", "update", "mark_running",
           "update_restore", "by_eb", "alive", "dependents", "locked", "averaging_text", "batched"]

log = logging.getLogger(__name__)
RECORD_NAME = "casa_plugin_record.json"
FORMAT = 2
_DEFAULT_SUFFIX = {"split_sci": ".ms.split.cal", "split_tgt": ".ms.split.cal.source"}


def averaging_text(request):
    """``"width=8, timebin='12s'"`` of a split request (or job) that averages channels or time; '' otherwise.

    ``request`` may be a chain job ``{'sci': ..., 'tgt': ...}`` (its science job decides).
    """
    request = request.get("sci", request)
    parts = []
    if str(request.get("width", 1)) not in ("1", ""):
        parts.append("width=%s" % request["width"])
    if str(request.get("timebin", "0s")) not in ("0s", "0", ""):
        parts.append("timebin=%r" % request["timebin"])
    return ", ".join(parts)


def record_path(directory):
    """Return the record path of an output directory."""
    return os.path.join(directory, RECORD_NAME)


def _key(directory, path):
    """The key of ``path`` in the record of ``directory``: its path relative to it."""
    return os.path.relpath(os.path.abspath(path), os.path.abspath(directory))


def _converted(old):
    """A format-1 record (one entry per EB and task) as format 2 (one entry per output)."""
    record = {"format": FORMAT, "outputs": {}, "elsewhere": {}, "converted_from": old.get("format", 1)}
    if "restore" in old:
        record["restore"] = old["restore"]
    for eb, tasks in sorted((old.get("ebs") or {}).items()):
        for task, entry in sorted(tasks.items()):
            out = entry.get("outputvis")
            name = os.path.basename(os.path.normpath(out)) if out else eb + _DEFAULT_SUFFIX.get(task, "." + task)
            record["outputs"][name] = dict(entry, eb=eb, task=task)
    return record


def load(directory):
    """Return the record of ``directory`` in format 2 (an empty one if there is none).

    An entry whose status is ``running`` but whose process is gone (a killed
    run, a lost MPI rank) reads as ``interrupted``, with ``lost`` saying so.
    """
    pending = _pending()
    if pending is not None and os.path.abspath(directory) in pending:
        return pending[os.path.abspath(directory)]
    path = record_path(directory)
    if not os.path.isfile(path):
        return {"format": FORMAT, "outputs": {}, "elsewhere": {}}
    with open(path) as f:
        record = json.load(f)
    if record.get("format") != FORMAT:
        record = _converted(record)
    record.setdefault("outputs", {})
    record.setdefault("elsewhere", {})
    for entry in record["outputs"].values():
        if entry.get("status") == "running" and alive(entry.get("running")) is False:
            entry.update({"status": "interrupted", "lost": "its process (pid %s on %s, started %s) is gone" % (
                entry["running"].get("pid"), entry["running"].get("host"), entry["running"].get("started"))})
    return record


def entry_of(outputvis):
    """Return the record entry of the output ``outputvis`` (``{}`` if it has none or the record is unreadable)."""
    return entries_of([outputvis])[outputvis]


def entries_of(outputs):
    """Return ``{output: entry_of(output)}``, reading each directory's record once."""
    records, found = {}, {}
    for out in outputs:
        directory = os.path.dirname(os.path.abspath(out))
        if directory not in records:
            try:
                records[directory] = load(directory)["outputs"]
            except (OSError, ValueError):
                records[directory] = {}
        found[out] = records[directory].get(_key(directory, out)) or {}
    return found


def dependents(outputvis):
    """Return the recorded outputs made from ``outputvis`` (target splits of a ``.split.cal``), by absolute path."""
    out = os.path.abspath(outputvis)
    directory = os.path.dirname(out)
    try:
        record = load(directory)
    except (OSError, ValueError):
        return []
    found = [os.path.join(directory, name) for name, entry in record["outputs"].items()
             if entry.get("vis") and os.path.basename(os.path.normpath(entry["vis"])) == os.path.basename(out)
             and entry.get("task") == "split_tgt"]
    for path, ref in record["elsewhere"].items():
        if ref.get("task") == "split_tgt" and os.path.normpath(entry_of(path).get("vis") or "") == out:
            found.append(path)
    return sorted(p for p in found if os.path.lexists(p))


def by_eb(record):
    """Return ``{eb: {task: entry}}``: per EB and task, the entry of its default output (``<eb>.ms.split.cal``,
    ``.source``) if recorded, else its most recently recorded output."""
    found = {}
    for name, entry in sorted(record.get("outputs", {}).items(), key=lambda kv: kv[1].get("recorded") or ""):
        eb, task = entry.get("eb"), entry.get("task")
        if eb and task:
            found.setdefault(eb, {}).setdefault(task, []).append((name == eb + _DEFAULT_SUFFIX.get(task, ""), entry))
    return dict((eb, dict((task, max(entries, key=lambda e: e[0])[1] if any(d for d, _ in entries) else
                               entries[-1][1]) for task, entries in tasks.items())) for eb, tasks in found.items())


def _process_start(pid):
    """The start time of process ``pid`` in clock ticks since boot (tells a reused pid apart), or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _running_now():
    pid = os.getpid()
    return {"pid": pid, "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "process_start": _process_start(pid)}


def alive(running):
    """True if the process a ``running`` mark names still runs, False if it is gone, None if it cannot be told
    from here (another host)."""
    if not running or running.get("host") != socket.gethostname():
        return None if running else False
    pid = running.get("pid")
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, TypeError, ValueError):
        return None if pid else False
    start = _process_start(int(pid))
    return start is None or running.get("process_start") in (None, start)


def _stamp(result):
    from . import __version__
    entry = dict(result)
    # the outputs a split made stale: said on its line; in the record a .source's input_made_id against its
    # .split.cal's made_id says it, and stays true when the .source is redone
    entry.pop("stale", None)
    entry.update({"recorded": time.strftime("%Y-%m-%dT%H:%M:%S"), "casa_version": result.get("casa_version")
                  or casa.casa_version(), "casa_plugin_version": __version__, "host": socket.gethostname()})
    return entry


#: Per thread: the records changed inside ``batched()``, by directory, not yet written (None outside it).
_BATCH = threading.local()


def _pending():
    return getattr(_BATCH, "records", None)


@contextlib.contextmanager
def batched():
    """Write each record changed inside the block once, when it ends (also when it raises).

    For changes made together (a chain's science and target entries, marked running before its job starts and
    recorded when it ends): one rewrite of the record, not one each. Reads inside the block see the changes. A
    record that cannot be written is a warning, as the runner's single updates are.
    """
    if _pending() is not None:  # nested: the outer block writes
        yield
        return
    _BATCH.records = {}
    try:
        yield
    finally:
        pending, _BATCH.records = _BATCH.records, None
        for directory, record in pending.items():
            try:
                _write(directory, record)
            except OSError as exc:  # as the runner says of a single update
                log.warning("could not update the run record in %s: %s", directory, exc)


def _rewrite(directory, record):
    """Write the record (inside ``batched()``: when the block ends); return it as written."""
    record = dict(record, format=FORMAT)
    pending = _pending()
    if pending is not None:
        pending[os.path.abspath(directory)] = record
        return record
    return _write(directory, record)


def _write(directory, record):
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
_RUN_KEYS = ("status", "error", "error_type", "traceback", "seconds", "recorded", "mpi", "previous", "running",
             "lost", "partial", "stopped")


def _merge(previous, result, entry, exists):
    """The new entry of an output: what is known of it on disk, and how the last run went."""
    status = result.get("status")
    if status == "split" or not previous or not exists:
        if status == "split":
            entry["made"] = entry["recorded"]
        return entry
    merged = dict((k, v) for k, v in previous.items() if k not in _RUN_KEYS + ("last_run", "checked", "stale"))
    if status == "done":  # checked against this request: keep how it was made, refresh what it holds
        for key in ("request", "made_by"):
            merged.setdefault(key, result.get(key))
        merged.update(dict((k, result[k]) for k in ("contents", "nrows", "flagversions") if k in result))
        merged.update({"status": "done", "checked": entry["recorded"], "recorded": entry["recorded"],
                       "seconds": result.get("seconds")})
        return merged
    merged.update(dict((k, entry[k]) for k in _RUN_KEYS if k in entry))  # running, failed or interrupted
    merged["last_run"] = dict((k, v) for k, v in entry.items() if k != "last_run")
    return merged


def update(eb, task, result):
    """Store ``result`` (with ``outputvis``) as the entry of its output, keeping what was known of it.

    A ``split`` result describes a new output; a ``done`` result keeps the
    entry of the run that made the output (its request) and refreshes what
    it holds; a running, failed or interrupted run keeps both and adds its
    status, error and ``last_run``. An output outside its input's directory
    is also referenced from that directory's record.
    """
    out = os.path.abspath(result["outputvis"])
    directory = os.path.dirname(out)
    record = load(directory)
    key = _key(directory, out)
    record["outputs"][key] = dict(_merge(record["outputs"].get(key), result, _stamp(result), os.path.isdir(out)),
                                  eb=eb, task=task)
    written = _rewrite(directory, record)
    vis = result.get("vis")
    home = os.path.dirname(os.path.abspath(vis)) if vis else directory
    if home != directory and os.path.isdir(home):
        _reference(home, out, eb, task)
    return written


def _reference(home, out, eb, task):
    record = load(home)
    wanted = {"eb": eb, "task": task, "record": record_path(os.path.dirname(out))}
    if record["elsewhere"].get(out) != wanted:
        record["elsewhere"][out] = wanted
        _rewrite(home, record)


def mark_running(eb, task, job):
    """Note in the record, before the work starts, that ``job``'s output is being made by this process."""
    return update(eb, task, {"status": "running", "vis": job["vis"], "outputvis": job["outputvis"],
                             "running": _running_now()})


def update_restore(directory, result):
    """Store how ``calibrated/`` was made (restore_pi's member result) as ``record['restore']``."""
    record = load(directory)
    record["restore"] = _stamp(result)
    return _rewrite(directory, record)


def _try_link(unique, lock):
    try:
        os.link(unique, lock)
        return True
    except FileExistsError:
        return False
    except OSError:
        return os.stat(unique).st_nlink == 2  # NFS: the link was made but its reply was lost


@contextlib.contextmanager
def locked(lock, *, stale, wait):
    """Hold the lock file ``lock`` while the block runs: one writer at a time, on NFS too, across hosts.

    ``link()`` is atomic on NFS (``O_EXCL`` is not on old clients): a unique file (host, pid) is linked to
    the lock's name, and the lock is held when that link succeeds (or, after an NFS retry answered with an
    error, when the unique file has two links). A lock older than ``stale`` seconds (its holder died) is
    broken; a writer waits at most ``wait`` seconds.

    Raises
    ------
    TimeoutError
        If another writer holds it longer than ``wait`` (the message names the lock and its holder).
    """
    unique = "%s.%s.%d.%d" % (lock, socket.gethostname(), os.getpid(), int(time.time() * 1e6))
    with open(unique, "w") as f:
        f.write("%s %d\n" % (socket.gethostname(), os.getpid()))
    deadline = time.time() + wait
    try:
        while not _try_link(unique, lock):
            try:
                if time.time() - os.stat(lock).st_mtime > stale:
                    os.unlink(lock)  # its holder died while holding it
                    continue
                if time.time() > deadline:
                    with open(lock) as f:
                        holder = f.read().strip()
                    raise TimeoutError("%s: held by %s for more than %d s; if that process is gone, delete the "
                                       "lock file" % (lock, holder, wait))
            except FileNotFoundError:
                continue
            time.sleep(0.05)
        try:
            yield
        finally:
            os.unlink(lock)
    finally:
        os.unlink(unique)
