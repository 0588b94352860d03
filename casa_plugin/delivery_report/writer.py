"""Write the report: gather the facts, draw the pictures a member needs, write the page; the tasks' hook."""

import glob
import hashlib
import json
import logging
import os
import time
import traceback

from .. import record as run_record
from ..logs import casalog_file, casalog_post
from .cache import Cache
from .collect import gather, report_root
from .page import PICTURES, file_stem, has_picture, page

__all__ = ["REPORT_DIR", "write_report", "after_task", "after_interrupt"]

log = logging.getLogger(__name__)
REPORT_DIR = "casa_plugin_report"
_LOCK = ".casa_plugin_report.lock"
_LOCK_STALE = 300  # seconds: a lock older than this was left by a writer that died


def _facts(eb, key):
    """What picture ``key`` shows of one EB (so a picture is redrawn only when that changed)."""
    sci = eb.get("sci") or {}
    shown = {"spectral": ("spws", "science", "rule"), "timeline": ("scans",), "flags": ("flags", "science")}[key]
    facts = dict((k, eb.get(k)) for k in ("eb",) + shown)
    if key != "timeline":
        facts.update({"width": (sci.get("request") or {}).get("width"), "spw_map": sci.get("spw_map"),
                      "spw_maps": eb.get("spw_maps")})
    return facts


def _draw(folder, member, key, func, drawn):
    """Draw one picture unless an SVG of the same facts exists; return its file name (or None)."""
    from . import figures
    facts = json.dumps([member["name"], key, [_facts(eb, key) for eb in member["ebs"]]], sort_keys=True,
                       default=str).encode("utf-8")
    name = "%s_%s_%s.svg" % (file_stem(member["name"]), key, hashlib.sha1(facts).hexdigest()[:10])
    path = os.path.join(folder, name)
    numbers = os.path.join(folder, name[:-4] + ".json")
    try:
        if not (os.path.isfile(path) and os.path.isfile(numbers)):
            _write(numbers, json.dumps(getattr(figures, func)(member, path), sort_keys=True))
        with open(numbers) as f:
            drawn[key] = json.load(f)
        return name
    except Exception as exc:  # a picture that cannot be drawn is left out, with a warning
        log.warning("report: could not draw the %s of member %s: %s", key, member["name"], exc)
        return None


def _pictures(folder, member, drawn):
    numbers = drawn.setdefault(member["name"], {})
    return dict((key, _draw(folder, member, key, func, numbers) if has_picture(member, key) else None)
                for key, func, _ in PICTURES)


def write_report(paths, *, task, results=(), restores=None, dryrun=False, plans=()):
    """Write (or rewrite) the report of the project (or directory) ``paths`` lie in; return its path.

    Parameters
    ----------
    paths : list of str
        The EBs, members or outputs of the call; their project is the report's root.
    task : str
        The task that ran, named in the page's header.
    results : list of (task, result)
        This call's per-EB results (a dry run's plan comes only from here).
    restores : dict, optional
        restore_pi's ``{member: result}``.
    dryrun : bool
        The page says it shows a plan.
    plans : list of casa_plugin.plan.Plan, optional
        The call's split_sci plans: each EB's restored MS and its size, taken from them, not found again.

    Returns
    -------
    str
        ``<root>/casa_plugin_report/index.html``. Beside it: the SVG pictures,
        their numbers (``<svg>.json``), ``report.json`` (the facts shown) and
        ``cache.json`` (flag summaries and MS metadata, by MS mtime). Only
        that folder is written; the MSs are only read.
    """
    start = time.time()
    root = report_root(paths)
    folder = os.path.join(root, REPORT_DIR)
    if not os.path.isdir(folder):
        os.makedirs(folder)
    index = os.path.join(folder, "index.html")
    # one writer at a time (batch jobs of one programme on several nodes): none prunes pictures another drew
    with run_record.locked(os.path.join(folder, _LOCK), stale=_LOCK_STALE, wait=_LOCK_STALE + 60):
        cache = Cache(folder)
        data = gather(root, cache, results, restores, plans=plans)
        cache.save()
        drawn = {}
        pictures = dict((m["name"], _pictures(folder, m, drawn)) for m in data["members"])
        html = page(root, data["members"], pictures, task, dryrun)
        _write(os.path.join(folder, "report.json"), json.dumps({"root": root, "task": task, "dryrun": dryrun,
                                                                "members": data["members"], "drawn": drawn},
                                                               indent=1, sort_keys=True, default=str))
        _write(index, html)
        _prune(folder, html)
    log.info("report: %s (%.1f s)", index, time.time() - start)
    return index


def _write(path, text):
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _prune(folder, html):
    """Remove pictures (and their numbers) the page no longer shows, PNGs of an earlier version included."""
    for picture in glob.glob(os.path.join(folder, "*.svg")) + glob.glob(os.path.join(folder, "*.png")):
        if os.path.basename(picture) not in html:
            for path in (picture, picture[:-4] + ".json"):
                if os.path.exists(path):
                    os.remove(path)


def _arguments(task, summary):
    """Return ``(paths, results, restores, dryrun)`` of a task's summary."""
    if task == "restore_pi":
        restores = summary.get("members") or {}
        return list(restores), [], restores, any(p.get("status") == "planned" for p in restores.values())
    steps = [summary[k] for k in ("sci", "tgt") if k in summary] or [summary]
    results = [(s.get("task"), r) for s in steps for r in (s.get("ebs") or {}).values()]
    return ([r["vis"] for _, r in results if r.get("vis")], results, None,
            any(r.get("status") == "planned" or r.get("dryrun") for _, r in results))


def after_task(task, summary, plans=()):
    """Write the report after ``task`` from its ``summary`` (and the call's ``plans``); return its path, or None.

    Never raises (any error is logged as a WARNING) and never changes
    ``summary``: the report does not change a task's result.
    """
    try:
        paths, results, restores, dryrun = _arguments(task, summary)
        if not paths:
            return None
        return write_report(paths, task=task, results=results, restores=restores, dryrun=dryrun, plans=plans)
    except Exception as exc:
        log.warning("%s: could not write the report (%s: %s)%s; the task's results are not affected",
                    task, type(exc).__name__, exc, _keep_traceback(exc, task))
        return None


def _keep_traceback(exc, task):
    """Post the traceback of ``exc`` to the CASA log (INFO: not on the terminal); return where it went."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip()
    logfile = casalog_file()
    if logfile and logfile != "/dev/null":
        casalog_post("the report could not be written:\n" + text, task, "INFO")
        return "; traceback in the CASA log (%s)" % logfile
    return "; no CASA log file to keep the traceback in:\n" + text


_STALE = ("<p class='plan'><b>Out of date:</b> %s was interrupted at %s, after this page was written: outputs "
          "and numbers may have changed since. Any call (a dry run too) writes it again.</p>")


def after_interrupt(task, paths, plans=()):
    """After Ctrl-C in ``task``: mark the report of ``paths`` out of date at once, then write it again.

    The mark is cheap and written first, so a second Ctrl-C during the
    rewrite leaves a page that says it is out of date, never one whose
    numbers silently describe outputs the interrupted call replaced.
    """
    try:
        folder = os.path.join(report_root(paths), REPORT_DIR)
        index = os.path.join(folder, "index.html")
        if os.path.isfile(index):
            when = time.strftime("%Y-%m-%d %H:%M:%S")
            with open(index) as f:
                html = f.read()
            _write(index, html.replace("<body>\n", "<body>\n" + _STALE % (task, when) + "\n", 1))
            path = os.path.join(folder, "report.json")
            if os.path.isfile(path):
                with open(path) as f:
                    facts = json.load(f)
                _write(path, json.dumps(dict(facts, stale={"task": task, "interrupted": when}), indent=1,
                                        sort_keys=True))
        write_report(paths, task=task, plans=plans)
    except KeyboardInterrupt:
        log.warning("%s: the report was left marked out of date (Ctrl-C again while it was written)", task)
    except Exception as exc:
        log.warning("%s: could not write the report after the interrupt (%s: %s)%s", task, type(exc).__name__,
                    exc, _keep_traceback(exc, task))
