"""Stand-in for the ALMA single-dish pipeline's hsd_restoredata, and the total-power EB it restores (tests only).

ALMA's total-power (TP) members are restored by the pipeline task
``hsd_restoredata`` (``pipeline/hsd/tasks/restoredata/restoredata.py`` in the
pipeline's sources, e.g. github.com/r-xue/pipeline): it imports each ASDM with
``ocorr_mode='ao'`` (autocorrelations only), applies the pipeline's flags and
the sky, Tsys and Jy/K calibration (``hsd_applycal``), and leaves ``<eb>.ms``
holding the raw spectra in FLOAT_DATA and the calibrated ones in
CORRECTED_DATA. :func:`hsd_restoredata` here does the same for the synthetic
TP ASDMs of :mod:`casa_plugin.testing.tp_member`: it simulates the EB with
:func:`make_tp_ms` (casatools' simulator, autocorrelations of up to four PM
antennas, FLOAT_DATA plus a CORRECTED_DATA that differs from it) and saves
the flag version ``Pipeline_Final``. It is loaded beside the interferometric
stand-in by :func:`casa_plugin.testing.pipeline_standin.load_into`.
Nothing here is the ALMA pipeline; never use it on real data.
"""

import logging
import os
import shutil
import time

import numpy as np

from . import alma_layout, pipeline_standin, synthetic_ms

__all__ = ["KIND", "TP_FIELD", "make_tp_ms", "hsd_restoredata"]

LOG = logging.getLogger(__name__)

#: ``kind`` of a synthetic TP ASDM's parameters (``pipeline_standin.PARAMS_FILENAME``).
KIND = "tp"
#: The one field a TP EB observes (its OFF positions are subscans of the same field, as ALMA's are).
TP_FIELD = [f for f in alma_layout.FIELDS if f[4] == "target"][0]
_INTEGRATION_S = 1.008  # ALMA TP spectra: about 1 s each
_CENTRES_GHZ = (231.0, 233.0)
_BANDWIDTH_HZ = 1.875e9
_ATM = tuple("CALIBRATE_ATMOSPHERE#%s" % s for s in ("OFF_SOURCE", "AMBIENT", "HOT"))
_TSYS_K, _JY_PER_K = 120.0, 40.0


def _plan(nint, science):
    """Scans of a TP EB: an atmosphere scan, then two target scans of OFF/ON subscans, each after its own ATM."""
    atm = {"field": TP_FIELD[0], "spws": science, "subscans": [(intent, 1) for intent in _ATM]}
    target = {"field": TP_FIELD[0], "spws": science,
              "subscans": [("OBSERVE_TARGET#OFF_SOURCE", 1), ("OBSERVE_TARGET#ON_SOURCE", nint)] * 2}
    plan = [dict(atm), dict(target), dict(atm), dict(target)]
    for scan in plan:
        scan["intent"] = ",".join(sorted(set(i for i, _ in scan["subscans"])))
        scan["nint"] = sum(n for _, n in scan["subscans"])
    return plan


def _to_float_data(tb):
    """Add FLOAT_DATA shaped as DATA (real), fill it from |DATA| per data description, then drop DATA/MODEL_DATA."""
    desc = tb.getcoldesc("DATA")
    desc.update(valueType="float", comment="The single-dish (autocorrelation) data",
                dataManagerType="StandardStMan", dataManagerGroup="FloatDataGroup")
    desc.pop("keywords", None)
    tb.addcols({"FLOAT_DATA": desc})
    tb.removecols([c for c in ("DATA", "MODEL_DATA") if c in tb.colnames()])


def make_tp_ms(vis, eb_uid, seed=0, nant=2, nchan=128, nint=4, skip_applycal=False):
    """Create one synthetic ALMA total-power EB measurement set, as ``hsd_restoredata`` leaves it.

    Writes the directory ``vis``: antennas PM01... (``nant``, at most 4) on
    pads T701..., autocorrelations only, XX/YY, spw 0 the WVR window (not
    observed), science spws 1 and 3 of ``nchan`` channels with their 1-channel
    twins 2 and 4; one field (NGC6334I) observed in two target scans of
    ``OBSERVE_TARGET#OFF_SOURCE`` and ``#ON_SOURCE`` subscans, each after an
    atmosphere scan. FLOAT_DATA holds the raw spectra (a Tsys-like level,
    a line on source), CORRECTED_DATA the calibrated ones: ``(ON - level) x
    Jy/K``, never equal to FLOAT_DATA (equal to it with ``skip_applycal``, as
    if the calibration had not been applied).

    Returns
    -------
    dict
        ``vis``, ``antennas``, ``nrows``, ``science_spws``.

    Raises
    ------
    ValueError
        If ``nant`` is not 1 to 4.
    """
    import casatools
    if not 1 <= int(nant) <= 4:
        raise ValueError("a TP EB has 1 to 4 PM antennas, not %r" % (nant,))
    rng = np.random.RandomState(int(seed))
    names = ["PM%02d" % (i + 1) for i in range(int(nant))]
    pads = ["T70%d" % (i + 1) for i in range(int(nant))]
    xyz = alma_layout.enu_to_itrf(np.array([[30.0 * i, 0.0, 0.0] for i in range(int(nant))]))
    spws = alma_layout.spectral_setup(int(nchan), _CENTRES_GHZ, _BANDWIDTH_HZ)
    science = list(range(1, len(spws)))
    simulated = vis + ".simulated"  # the simulator writes cross-correlations too: keep the autocorrelations
    starts = synthetic_ms._simulate(simulated, (names, pads, xyz, 12.0), spws, _plan(int(nint), science),
                                    _INTEGRATION_S, autocorr=True, fields=(TP_FIELD,))
    synthetic_ms._fix_metadata(simulated, eb_uid, starts, _INTEGRATION_S)
    synthetic_ms._ensure_scratch_columns(simulated)
    tb, sub = casatools.table(), casatools.table()
    try:
        tb.open(simulated)
        auto = tb.selectrows(np.flatnonzero(tb.getcol("ANTENNA1") == tb.getcol("ANTENNA2")).tolist())
        auto.copy(vis, deep=True, valuecopy=True).close()
        auto.close()
        tb.close()
        shutil.rmtree(simulated)
        tb.open(vis, nomodify=False)
        _to_float_data(tb)
        sub.open(os.path.join(vis, "STATE"))
        on = np.array(["ON_SOURCE" in m for m in sub.getcol("OBS_MODE")] or [False])
        sub.close()
        sub.open(os.path.join(vis, "DATA_DESCRIPTION"))
        spw_of = sub.getcol("SPECTRAL_WINDOW_ID")
        sub.close()
        ddid, state = tb.getcol("DATA_DESC_ID"), tb.getcol("STATE_ID")
        for dd in np.unique(ddid):
            rows = np.flatnonzero(ddid == dd).tolist()
            sel = tb.selectrows(rows)
            try:
                shape = sel.getcell("FLAG", 0).shape  # (2, channels)
                n = len(rows)
                line = np.exp(-0.5 * ((np.arange(shape[1]) - shape[1] / 2.0) / max(shape[1] / 20.0, 1.0)) ** 2)
                source = on[state[rows]].astype(float)[None, None, :] * 0.4 * line[None, :, None]
                level = _TSYS_K * (1.0 + 0.05 * int(spw_of[dd]))
                raw = (level * (1.0 + source + 0.01 * rng.standard_normal((shape[0], shape[1], n))))
                raw = raw.astype(np.float32)
                calibrated = raw if skip_applycal else ((raw - level) * _JY_PER_K).astype(np.float32)
                sel.putcol("FLOAT_DATA", raw)
                sel.putcol("CORRECTED_DATA", calibrated.astype(np.complex64))
            finally:
                sel.close()
        nrows = tb.nrows()
    finally:
        sub.close()
        tb.close()
    return {"vis": vis, "antennas": names, "nrows": nrows, "science_spws": [s for s in science if s % 2]}


def hsd_restoredata(vis, session=None, products_dir="../products", rawdata_dir="../rawdata", ocorr_mode="ao",
                    **kwargs):
    """Restore the calibrated total-power data of the given EBs (stand-in for the pipeline's task).

    Runs in ``calibrated/working`` as the real one does: for each EB the ASDM
    ``<rawdata_dir>/<eb>.asdm.sdm`` must be a synthetic TP ASDM and
    ``products_dir`` a directory; then ``<eb>.ms`` is simulated with
    :func:`make_tp_ms` and the flag version ``Pipeline_Final`` saved.

    Parameters
    ----------
    vis, session, products_dir, rawdata_dir
        As for :func:`pipeline_standin.hifa_restoredata` (checked by
        :func:`pipeline_standin.check_restore_args`).
    ocorr_mode : str, optional
        Only ``'ao'`` (autocorrelations only), as the pipeline's TP restore uses.
    **kwargs
        Other pipeline arguments (``asis``, ``lazy``, ``bdfflags``, ...), accepted and ignored.

    Returns
    -------
    list of str
        The restored TP measurement sets (absolute paths).

    Raises
    ------
    pipeline_standin.PipelineStandinError
        As ``check_restore_args`` raises it, or for an ASDM that is not a synthetic TP one.
    """
    error = pipeline_standin.PipelineStandinError
    _, found = pipeline_standin.check_restore_args("hsd_restoredata", vis, session, ocorr_mode, "ao", products_dir,
                                                   rawdata_dir)
    plan = []
    for eb, asdm, outvis in found:
        params = pipeline_standin._read_params(asdm, eb)
        if params.pop("kind", None) != KIND:
            raise error("hsd_restoredata: %s is not a total-power ASDM (restore it with hifa_restoredata)" % asdm)
        params["skip_applycal"] = bool(params.pop(pipeline_standin.SKIP_APPLYCAL, False))
        plan.append((eb, outvis, params))
    restored = []
    for eb, outvis, params in plan:
        start = time.time()
        make_tp_ms(outvis, **params)
        pipeline_standin._save_flag_version(outvis)
        LOG.info("hsd_restoredata (pipeline stand-in): %s restored in %.1f s", outvis, time.time() - start)
        restored.append(outvis)
    return restored
