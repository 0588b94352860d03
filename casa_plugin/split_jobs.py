"""The per-EB work of split_sci and split_tgt: one job dict in, one result dict out."""

import logging
import os
import time

from . import casa
from .discovery import is_ms
from .flag_versions import list_versions, save_once
from .outputs import du_bytes, ms_rows, staged
from .science_spws import describe_spws, fields_for_intent, science_spws, spw_map

__all__ = ["science_job", "target_job", "chain_job"]

log = logging.getLogger(__name__)


def _columns(vis):
    tb = casa.table()
    try:
        tb.open(vis)
        return list(tb.colnames())
    finally:
        tb.close()


def _check_input(vis, datacolumn):
    if not os.path.lexists(vis):
        raise FileNotFoundError("%s: no such measurement set; check the path or run restore_pi first" % vis)
    if not is_ms(vis):
        raise ValueError("%s: not a measurement set (no table.dat inside); give a uid___*.ms directory" % vis)
    ms_rows(vis)  # raises ValueError naming the path if the table cannot be read
    wanted = {"corrected": "CORRECTED_DATA", "model": "MODEL_DATA", "data": "DATA"}.get(datacolumn.lower())
    if wanted and wanted not in _columns(vis):
        hint = ("this MS holds no calibrated data: restore the calibration first (restore_pi), "
                "or pass datacolumn='data' if DATA is already calibrated"
                if wanted == "CORRECTED_DATA" else "choose a datacolumn this MS has")
        raise ValueError("%s has no %s column; %s" % (vis, wanted, hint))


def _existing(job):
    """Report an existing complete output as done, saving the flag version on it if missing."""
    out = job["outputvis"]
    if not is_ms(out):
        raise FileExistsError("%s exists but is not a complete measurement set; move it away or "
                              "pass overwrite=True" % out)
    rows = ms_rows(out)
    if rows == 0:
        raise FileExistsError("%s exists but has no rows; move it away or pass overwrite=True" % out)
    saved = save_once(out, job["flagversion"], "saved by casa_plugin on an existing output")
    return {"status": "done", "nrows": rows, "flagversion_saved": saved,
            "flagversions": list_versions(out)}


def _plan_science(job):
    vis = job["vis"]
    spw = job.get("spw") or ""
    spws = ([int(s) for s in spw.split(",")] if spw
            else science_spws(vis, job["intent"], job["minnchan"]))
    return spws, describe_spws(vis, spws)


def science_job(job):
    """Split the science spws of one EB into ``<vis>.split.cal`` and save its flag version."""
    start = time.time()
    vis, out = job["vis"], job["outputvis"]
    result = {"vis": vis, "outputvis": out}
    if os.path.lexists(out) and not job["overwrite"]:
        result.update(_existing(job))
        result["seconds"] = time.time() - start
        return result
    _check_input(vis, job["datacolumn"])
    spws, spectra = _plan_science(job)
    selection = ",".join(str(s) for s in spws)
    result.update({"spw": spws, "spectra": spectra, "datacolumn": job["datacolumn"]})
    if job["dryrun"]:
        result.update({"status": "planned", "fields": fields_for_intent(vis, "*")[1]})
        return result
    with staged(out, overwrite=job["overwrite"]) as tmp:
        kwargs = {"vis": vis, "outputvis": tmp, "spw": selection, "datacolumn": job["datacolumn"]}
        if job.get("width", 1) not in (1, "1"):
            kwargs["width"] = job["width"]
        if job.get("timebin", "0s") not in ("0s", ""):
            kwargs["timebin"] = job["timebin"]
        if job["reindex"]:
            casa.split(**kwargs)
        else:
            casa.mstransform(reindex=False, **kwargs)
        rows = _check_output(tmp, vis)
        mapping = spw_map(vis, tmp, spws)
        save_once(tmp, job["flagversion"], "flags after split_sci")
    result.update({"status": "split", "nrows": rows, "spw_map": mapping, "bytes": du_bytes(out),
                   "flagversions": list_versions(out), "seconds": time.time() - start})
    return result


def _check_output(tmp, vis):
    if not is_ms(tmp):
        raise RuntimeError("CASA wrote no measurement set for %s (see the CASA log)" % vis)
    rows = ms_rows(tmp)
    if rows == 0:
        raise RuntimeError("the split of %s selected no rows; check the selection" % vis)
    return rows


def target_job(job):
    """Split the target fields of one ``.split.cal`` into ``<vis>.source`` and save its flag version."""
    start = time.time()
    vis, out = job["vis"], job["outputvis"]
    result = {"vis": vis, "outputvis": out}
    if os.path.lexists(out) and not job["overwrite"]:
        result.update(_existing(job))
        result["seconds"] = time.time() - start
        return result
    _check_input(vis, job["datacolumn"])
    intents, fields = fields_for_intent(vis, job["intent"])
    result.update({"intents": intents, "fields": fields, "datacolumn": job["datacolumn"]})
    if job["dryrun"]:
        result["status"] = "planned"
        return result
    with staged(out, overwrite=job["overwrite"]) as tmp:
        casa.split(vis=vis, outputvis=tmp, intent=",".join(intents), datacolumn=job["datacolumn"])
        rows = _check_output(tmp, vis)
        if os.path.lexists(tmp + ".flagversions"):  # never carry flag versions over from the input
            import shutil
            shutil.rmtree(tmp + ".flagversions")
        save_once(tmp, job["flagversion"], "flags after split_tgt")
    result.update({"status": "split", "nrows": rows, "bytes": du_bytes(out),
                   "flagversions": list_versions(out), "seconds": time.time() - start})
    return result


def chain_job(job):
    """Run one EB's whole chain (science split, then target split) and return both results."""
    sci = science_job(job["sci"])
    tgt = None
    if sci["status"] in ("split", "done") or job["sci"]["dryrun"]:
        tgt = target_job(job["tgt"])
    return {"status": tgt["status"] if tgt else sci["status"], "sci": sci, "tgt": tgt}
