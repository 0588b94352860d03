"""The report's HTML: per member its restore, pictures and steps table; plain HTML and CSS, no script.

Everything the page shows is in the page or beside it (SVG pictures by
relative name, shown with ``<img>``, so no script runs): it opens from disk,
and nothing is fetched from the network.
"""

import html
import os
import re
import time

from ..delivery.arrays import LABELS, sort_key
from ..ms import is_ms

__all__ = ["PICTURES", "file_stem", "has_picture", "page"]

#: (key, drawing function of figures.py, heading) of each member's pictures, in page order.
PICTURES = (("spectral", "spectral_setup", "Spectral setup"), ("timeline", "timeline", "Observation timeline"),
            ("flags", "flags", "Flags"))
_CSS = """body{font-family:sans-serif;margin:1.5em;color:#222;max-width:1300px}
h1{font-size:1.4em}h2{font-size:1.15em;border-bottom:2px solid #0072B2;padding-bottom:.2em;margin-top:2em}
h3{font-size:1em;margin:1.2em 0 .3em}img{max-width:100%;border:1px solid #ddd}
table{border-collapse:collapse;font-size:.82em;width:100%}th,td{border:1px solid #ccc;padding:.25em .4em;
text-align:left;vertical-align:top}th{background:#eef3f8}td.n{text-align:right;white-space:nowrap}
.failed{background:#fbe3d6}.planned{background:#fff6d5}.plan{background:#fff6d5;border:1px solid #E69F00;
padding:.5em}td.p{word-break:break-all;min-width:11em;max-width:16em}.err{font-family:monospace;font-size:.9em;
white-space:pre-wrap;overflow-wrap:anywhere}.kept{background:#eef7ee}summary{cursor:pointer}code{font-size:.95em}
.skipped{background:#eeeeee}h2.array{font-size:1.3em;border-bottom:4px double #555;color:#555}"""


def file_stem(name):
    """``name`` (a member's uid, or a directory's relative or absolute path) as one file name and HTML id:
    the report's pictures stay in its folder whatever the layout."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "member"


_ERROR_LINES, _ERROR_CHARS = 3, 300  # an error longer than this is folded under its first line


def _size(nbytes):
    if not nbytes:
        return ""
    return "%.2f GB" % (nbytes / 1e9) if nbytes >= 1e9 else "%.1f MB" % (nbytes / 1e6)


def _e(text):
    return html.escape("" if text is None else str(text))


def _rows(member):
    for eb in member["ebs"]:
        restore = member.get("restore") or {}
        extent = eb.get("extent") or {}  # of the restored MS, read from it
        yield eb, "restore", {"vis": "raw/%s.asdm.sdm" % eb["eb"], "outputvis": eb["restored"],
                              "bytes": extent.get("bytes"), "nrows": extent.get("nrows"),
                              "status": restore.get("status") or ("restored" if eb["restored"] else "-"),
                              "seconds": restore.get("seconds"),  # its error: once, on the restore line
                              "made_by": "scriptForPI" if eb["restored"] else ""}
        for task, key, entry in (("split_sci", ".split.cal", eb["sci"]), ("split_tgt", ".source", eb["tgt"])):
            if entry:  # the output's size, rows and spw ids as read from it, where it was read
                extent = (eb.get("extents") or {}).get(key) or {}
                spw_map = (eb.get("spw_maps") or {}).get(key)
                yield eb, task, dict(entry, **dict((k, v) for k, v in (("bytes", extent.get("bytes")), (
                    "nrows", extent.get("nrows")), ("spw_map", spw_map)) if v is not None))
        for task, entry in eb.get("others") or ():  # other outputs of the EB (another outputvis), read back too
            yield eb, task, entry


def _spw_cell(entry):
    if entry.get("spw_map"):
        return ", ".join("%s&rarr;%s" % (_e(k), _e(v)) for k, v in sorted(entry["spw_map"].items(),
                                                                            key=lambda kv: int(kv[0])))
    spws = entry.get("spw") or sorted((entry.get("contents") or {}).get("spws") or {}, key=int)
    return _e(",".join(str(s) for s in spws))


def _table(member):
    """The steps of each EB: paths relative to the member directory."""
    head = ("EB", "step", "input", "output", "size", "rows", "spws (old&rarr;new)", "fields", "made by",
            "duration", "status")
    out = ["<table><tr>%s</tr>" % "".join("<th>%s</th>" % h for h in head)]
    for eb, task, entry in _rows(member):
        status = entry.get("status") or "-"
        if status == "failed" and entry.get("dryrun"):
            status = "would fail"  # this dry run's: nothing was written
        elif status in ("failed", "interrupted", "skipped") and is_ms(entry.get("outputvis") or ""):
            status = "kept (last run %s)" % status  # the output there before (casa_plugin's, the scriptForPI's)
            # is intact: the new request was refused (or, for a .source, its science split was), as the table says
        elif status in ("split", "done") and entry.get("outputvis") and not os.path.lexists(entry["outputvis"]):
            status = "gone (removed since)"  # the record's, but no longer on disk
        fields = entry.get("fields") or (entry.get("contents") or {}).get("fields") or []
        seconds = entry.get("seconds")
        cells = [_e(eb["eb"]), _e(task), _e(_rel(entry.get("input") or entry.get("vis"), member["path"])),
                 _e(_rel(entry.get("outputvis"), member["path"])), _size(entry.get("bytes")),
                 _e(entry.get("nrows") if entry.get("nrows") is not None else
                    (entry.get("contents") or {}).get("nrows", "")),
                 _spw_cell(entry) if task == "split_sci" else "", _e(",".join(fields)), _e(entry.get("made_by")),
                 "%.1f s" % seconds if isinstance(seconds, (int, float)) else "", _e(status)]
        css = ("failed" if status == "would fail" else status if status in (
            "failed", "planned", "interrupted", "skipped") else "kept" if status.startswith("kept") else "")
        out.append("<tr class='%s'>%s</tr>" % (css, "".join(
            "<td class='n'>%s</td>" % c if i in (4, 5, 9) else "<td class='p'>%s</td>" % c if i in (2, 3) else
            "<td>%s</td>" % c for i, c in enumerate(cells))))
        if entry.get("status") == "skipped" and entry.get("note"):  # why not split (total power), kept or not
            out.append("<tr class='skipped'><td></td><td colspan='%d'>%s</td></tr>" % (
                len(head) - 1, _error(entry["note"], "not split: ")))
        elif entry.get("error"):  # below its row, the table's width: a long error stays a few lines
            out.append("<tr class='%s'><td></td><td colspan='%d'>%s</td></tr>" % (
                css, len(head) - 1, _error(entry["error"], "last error: ")))
    out.append("</table>")
    return "\n".join(out)


def _error(text, label=""):
    """An error as a block of its own lines; a long one folded under its first line (``<details>``)."""
    text = str(text).rstrip()
    lines = text.split("\n")
    if len(lines) <= _ERROR_LINES and len(text) <= _ERROR_CHARS:
        return "<div class='err'>%s%s</div>" % (_e(label), _e(text))
    first = lines[0] if len(lines[0]) <= _ERROR_CHARS else lines[0][:_ERROR_CHARS] + "…"
    return "<details class='err'><summary>%s%s</summary>%s</details>" % (_e(label), _e(first), _e(text))


def _rel(path, root):
    if not path:
        return ""
    rel = os.path.relpath(path, root)
    return path if rel.startswith("..") else rel


def _restore_line(member):
    restore = member.get("restore") or {}
    if not restore:
        return "<p>Restore: no record (restored outside casa_plugin, or not yet).</p>"
    parts = ["Restore: <b>%s</b>" % _e(restore.get("status"))]
    if restore.get("casa_version"):
        parts.append("CASA %s" % _e(restore["casa_version"]))
    if isinstance(restore.get("seconds"), (int, float)):
        parts.append("%.1f s" % restore["seconds"])
    if restore.get("options"):
        parts.append(", ".join("%s=%r" % kv for kv in sorted(restore["options"].items())))
    error = _error(restore["error"], "error: ") if restore.get("error") else ""
    return "<p>%s</p>%s" % ("; ".join(parts), error)


def _job_line(member):
    """The member's last batch job, as the project's job record says (``python -m casa_plugin submit``)."""
    job = member.get("job")
    if not job:
        return ""
    return ("<p class='job job-%s'>Batch job %s: <b>%s</b> (from the job record when this page was written; "
            "<code>python -m casa_plugin status</code> asks the scheduler)</p>" % (
                _e(job["state"]), _e(job["job_id"]), _e(job["text"])))


def _member_html(member, pictures):
    out = ["<h2 id='%s'>Member %s</h2>" % (file_stem(member["name"]), _e(member["name"])),
           "<p class='array'>Array: %s</p>" % _e(LABELS.get(member.get("array"), member.get("array"))),
           _job_line(member), _restore_line(member)]
    for key, _, title in PICTURES:
        name = pictures.get(key)
        out.append("<h3>%s</h3>" % title)
        out.append("<img src='%s' alt='%s of member %s'>" % (_e(name), title, _e(member["name"])) if name else
                   "<p>Not available yet: %s.</p>" % _MISSING[key])
    out += ["<h3>Steps</h3>", _table(member)]
    return "\n".join(out)


def has_picture(member, key):
    """Return True if ``member`` has what picture ``key`` needs (spws, scans or flag summaries of an EB)."""
    field = {"spectral": "spws", "timeline": "scans", "flags": "flags"}[key]
    return any(eb[field] and (key != "flags" or any(eb["flags"].values())) for eb in member["ebs"])


_MISSING = {"spectral": "no restored MS or split to read the spws from",
            "timeline": "no restored MS or split to read the scans from",
            "flags": "no restored MS or split to summarise"}


def _by_array(members):
    """``[(array, [member, ...])]``: the members grouped by array, 12 m, 7 m, total power, then unknown."""
    groups = {}
    for member in members:
        groups.setdefault(member.get("array"), []).append(member)
    return sorted(groups.items(), key=lambda kv: sort_key(kv[0]))


def page(root, members, pictures, task, dryrun):
    """Return the HTML page of ``members`` (collect.gather's), showing ``pictures`` ``{member: {key: svg}}``."""
    groups = _by_array(members)
    header = ["<h1>casa_plugin report: %s</h1>" % _e(os.path.basename(root) or root),
              "<p>%s; updated %s after <code>%s</code>. Members: %s.</p>" % (
                  _e(root), time.strftime("%Y-%m-%d %H:%M:%S"), _e(task), "; ".join(
                      ("%s: " % _e(LABELS.get(array, array)) if len(groups) > 1 else "") + ", ".join(
                          "<a href='#%s'>%s</a>" % (file_stem(m["name"]), _e(m["name"])) for m in group)
                      for array, group in groups))]
    if dryrun:
        header.append("<p class='plan'>This is the <b>plan</b> of a dry run: no MS was written; rows marked "
                      "<i>planned</i> show what would be selected, rows marked <i>would fail</i> what a run "
                      "with these settings would refuse.</p>")
    body = []
    for array, group in groups:  # a heading per array when the project mixes them (12 m, 7 m, total power)
        if len(groups) > 1:
            body.append("<h2 class='array' id='array-%s'>%s</h2>" % (file_stem(str(array)), _e(LABELS.get(
                array, array))))
        body.extend(_member_html(m, pictures.get(m["name"], {})) for m in group)
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>casa_plugin report %s</title>"
            "<style>%s</style></head><body>\n%s\n%s\n</body></html>\n" % (
                _e(os.path.basename(root)), _CSS, "\n".join(header), "\n".join(body)))
