"""The per-EB work of split_sci and split_tgt: one job dict in, one result dict out."""

import logging
import os
import shutil
import time

from . import casa
from .discovery import is_ms
from .flag_versions import list_versions, save_once
from .outputs import check_space, check_writable, du_bytes, ms_rows, staged
from .science_spws import fields_for_intent, plan_science, spw_map

__all__ = ["science_job", "target_job", "chain_job"]

log = logging.getLogger(__name__)
_COLUMN = {"corrected": "CORRECTED_DATA", "model": "MODEL_DATA", "data": "DATA"}


def _read_main(vis):
    """Open the main table once: ``(column names, DATA_DESC_ID, FIELD_ID)``, TIME read too (the data files are read).

    Raises ValueError naming the path, as ``ms_rows``, if the table cannot be read.
    """
    tb = casa.table()
    try:
        tb.open(vis)
        tb.getcol("TIME")
        return list(tb.colnames()), tb.getcol("DATA_DESC_ID"), tb.getcol("FIELD_ID")
    except RuntimeError:
        ms_rows(vis)  # raises the ValueError that names the path and what to do
        raise
    finally:
        tb.close()


def _subtable(vis, name, *columns):
    tb = casa.table()
    tb.open(os.path.join(vis, name))
    try:
        return [list(tb.getcol(c)) if tb.nrows() else [] for c in columns]
    finally:
        tb.close()


def _check_input(vis, datacolumn):
    """Check ``vis`` can be split; return ``(bytes, DATA_DESC_ID, FIELD_ID)`` (the columns, for the estimate)."""
    if not os.path.lexists(vis):
        raise FileNotFoundError("%s: no such measurement set; check the path or run restore_pi first" % vis)
    if not is_ms(vis):
        raise ValueError("%s: not a measurement set (no table.dat inside); give a uid___*.ms directory" % vis)
    columns, ddid, field = _read_main(vis)  # raises ValueError naming the path if the table cannot be read
    wanted = _COLUMN.get(datacolumn.lower())
    if wanted and wanted not in columns:
        hint = ("this MS holds no calibrated data: restore the calibration first (restore_pi), "
                "or pass datacolumn='data' if DATA is already calibrated"
                if wanted == "CORRECTED_DATA" else "choose a datacolumn this MS has")
        raise ValueError("%s has no %s column; %s" % (vis, wanted, hint))
    return du_bytes(os.path.realpath(vis)), ddid, field


def _existing(job):
    """Report an existing complete output as done, saving the flag version on it if missing."""
    out = job["outputvis"]
    if not is_ms(out):
        raise FileExistsError("%s exists but is not a complete measurement set; move it away or "
                              "pass overwrite=True" % out)
    rows = ms_rows(out)
    if rows == 0:
        raise FileExistsError("%s exists but has no rows; move it away or pass overwrite=True" % out)
    missing = job["flagversion"] not in list_versions(out)
    if job["dryrun"]:
        return {"status": "done", "nrows": rows, "flagversion_saved": False,
                "note": "would save flag version %s" % job["flagversion"] if missing else ""}
    saved = save_once(out, job["flagversion"], "saved by casa_plugin on an existing output")
    return {"status": "done", "nrows": rows, "flagversion_saved": saved, "flagversions": list_versions(out)}


def _plan_science(job):
    """Return ``(spw ids, their description, spectra of the input)`` for a science job."""
    spws = [int(s) for s in job["spw"].split(",")] if job.get("spw") else None
    return plan_science(job["vis"], job["intent"], job["minnchan"], spws)


def _estimate_bytes(vis, ddid, field, spws=None, fields=None):
    """Estimate the bytes of a split of ``vis`` keeping ``spws`` (ids) or ``fields`` (names), one data column.

    ``ddid`` and ``field`` are its DATA_DESC_ID and FIELD_ID columns; the rest comes from small subtables.
    """
    import numpy as np
    spw_of, pol_of = _subtable(vis, "DATA_DESCRIPTION", "SPECTRAL_WINDOW_ID", "POLARIZATION_ID")
    nchan, = _subtable(vis, "SPECTRAL_WINDOW", "NUM_CHAN")
    ncorr, = _subtable(vis, "POLARIZATION", "NUM_CORR")
    names, = _subtable(vis, "FIELD", "NAME")
    field_ids = [i for i, n in enumerate(names) if fields is None or n in fields]
    keep = np.isin(field, field_ids)
    total = 0
    for d, (spw, pol) in enumerate(zip(spw_of, pol_of)):
        if spws is None or spw in spws:
            cells = int(nchan[spw]) * int(ncorr[pol])
            total += int(np.count_nonzero(keep & (ddid == d))) * (cells * 9 + 250)  # complex64, flag, row
    return int(total * 1.3) + 2000000  # margin and subtables


def _check_destination(out, needed):
    directory = os.path.dirname(os.path.abspath(out))
    check_writable(directory)
    check_space(directory, needed)


def _check_output(tmp, vis):
    """Check CASA wrote a readable MS with rows; return ``(rows, names of the fields in its main table)``."""
    if not is_ms(tmp):
        raise RuntimeError("CASA wrote no measurement set for %s (see the CASA log)" % vis)
    field = _read_main(tmp)[2]
    if len(field) == 0:
        raise RuntimeError("the split of %s selected no rows; check the selection" % vis)
    import numpy as np
    names, = _subtable(tmp, "FIELD", "NAME")
    return len(field), sorted(str(names[int(i)]) for i in np.unique(field))


def _split_args(job, vis, tmp, selection):
    kwargs = {"vis": vis, "outputvis": tmp, "spw": selection, "datacolumn": job["datacolumn"]}
    if str(job.get("width", 1)) != "1":
        kwargs["width"] = job["width"]
    if str(job.get("timebin", "0s")) not in ("0s", "0", ""):
        kwargs["timebin"] = job["timebin"]
    return kwargs


def science_job(job):
    """Split the science spws of one EB into ``<vis>.split.cal`` and save its flag version."""
    start, vis, out = time.time(), job["vis"], job["outputvis"]
    result = {"vis": vis, "outputvis": out}
    if os.path.lexists(out) and not job["overwrite"]:
        return dict(result, seconds=time.time() - start, **_existing(job))
    result["input_bytes"], ddid, field = _check_input(vis, job["datacolumn"])
    spws, spectra, before = _plan_science(job)
    result.update({"spw": spws, "spectra": spectra, "datacolumn": job["datacolumn"]})
    if job["dryrun"]:
        result.update({"status": "planned", "fields": fields_for_intent(vis, "*")[1]})
        return result
    _check_destination(out, _estimate_bytes(vis, ddid, field, spws=spws))
    with staged(out, overwrite=job["overwrite"]) as tmp:
        kwargs = _split_args(job, vis, tmp, ",".join(str(s) for s in spws))
        if job["reindex"]:
            casa.split(**kwargs)
        else:
            casa.mstransform(reindex=False, **kwargs)
        rows = _check_output(tmp, vis)[0]
        mapping = spw_map(vis, tmp, spws, before)  # raises if a selected spw is missing from the output
        save_once(tmp, job["flagversion"], "flags after split_sci")
    result.update({"status": "split", "nrows": rows, "spw_map": mapping, "bytes": du_bytes(out),
                   "flagversions": list_versions(out), "seconds": time.time() - start})
    return result


def target_job(job):
    """Split the target fields of one ``.split.cal`` into ``<vis>.source`` and save its flag version."""
    start, vis, out = time.time(), job["vis"], job["outputvis"]
    result = {"vis": vis, "outputvis": out}
    if os.path.lexists(out) and not job["overwrite"]:
        return dict(result, seconds=time.time() - start, **_existing(job))
    if job["dryrun"] and not os.path.lexists(vis):
        result.update({"status": "planned", "note": "after split_sci makes %s" % os.path.basename(vis)})
        return result
    result["input_bytes"], ddid, field = _check_input(vis, job["datacolumn"])
    intents, fields = fields_for_intent(vis, job["intent"])
    result.update({"intents": intents, "fields": fields, "datacolumn": job["datacolumn"]})
    if job["dryrun"]:
        result["status"] = "planned"
        return result
    _check_destination(out, _estimate_bytes(vis, ddid, field, fields=fields))
    with staged(out, overwrite=job["overwrite"]) as tmp:
        casa.split(vis=vis, outputvis=tmp, intent=",".join(intents), datacolumn=job["datacolumn"])
        rows, kept = _check_output(tmp, vis)
        if sorted(kept) != sorted(fields):
            raise RuntimeError("the split of %s kept fields %s, planned %s" % (vis, kept, fields))
        if os.path.lexists(tmp + ".flagversions"):  # never carry flag versions over from the input
            shutil.rmtree(tmp + ".flagversions")
        save_once(tmp, job["flagversion"], "flags after split_tgt")
    result.update({"status": "split", "nrows": rows, "bytes": du_bytes(out),
                   "flagversions": list_versions(out), "seconds": time.time() - start})
    return result


def chain_job(job):
    """Run one EB's whole chain on one process: science split, then target split of its output.

    ``job`` holds ``{'sci': science job, 'tgt': target job}``; the result holds
    both results under the same keys. A failed science split skips the target split.
    """
    from .mapper import call_job
    sci = call_job("casa_plugin.split_jobs:science_job", job["sci"])
    if sci["status"] == "failed":
        tgt = {"status": "skipped", "error": "the science split failed"}
    else:
        tgt = call_job("casa_plugin.split_jobs:target_job", job["tgt"])
    return {"status": "failed" if "failed" in (sci["status"], tgt["status"]) else tgt["status"],
            "sci": sci, "tgt": tgt, "seconds": sci.get("seconds", 0) + tgt.get("seconds", 0)}
