"""Build deterministic ALMA-like EB measurement sets for tests: small-row EBs and ALMA-shaped presets."""

import logging
import os
import shutil
import time

import numpy as np

from ..staging import check_space
from . import alma_layout, synthetic_fill

__all__ = ['make_eb_ms', 'estimate_bytes', 'corrected_gain', 'SCIENCE_SPWS', 'WVR_SPW']

logger = logging.getLogger(__name__)

WVR_SPW = 0
SCIENCE_SPWS = [1, 3, 5, 7]

_DEFAULT_EB_UID = 'uid___A002_Xf7ad58_Xd406'
_DEFAULT_NINT = 8
_INTEGRATION_S = 6.048
_SCAN_GAP_S = 12.0
_ATM_NINT = 3
_REFERENCE_TIME = '2022/06/01/05:00:00'
_ALMA_CENTRE_ITRF = alma_layout.ALMA_CENTRE_ITRF
_DISH_DIAMETER_M = 12.0
_PROJECT_CODE = '2019.1.00000.S'
_WVR_NAME = 'WVR#NOMINAL'
_SCIENCE_CENTRES_GHZ = (231.0, 233.0, 245.0, 247.0)
_SCIENCE_BANDWIDTH_HZ = 1.875e9
_FIELDS = (  # name, RA, Dec, flux density [Jy], role
    ('J1924-2914', '19h24m51.056s', '-29d14m30.12s', 3.0, 'bandpass'),
    ('J1733-1304', '17h33m02.706s', '-13d04m49.55s', 1.2, 'phase'),
    ('NGC6334I', '17h20m53.4s', '-35d47m00s', 0.4, 'target'),
    ('NGC6334I_N', '17h20m54.6s', '-35d45m08s', 0.25, 'target'),
)
_INTENTS = {
    'atm': 'CALIBRATE_ATMOSPHERE#ON_SOURCE,CALIBRATE_WVR#ON_SOURCE',
    'bandpass': 'CALIBRATE_BANDPASS#ON_SOURCE,CALIBRATE_FLUX#ON_SOURCE,CALIBRATE_WVR#ON_SOURCE',
    'phase': 'CALIBRATE_PHASE#ON_SOURCE,CALIBRATE_WVR#ON_SOURCE',
    'target': 'OBSERVE_TARGET#ON_SOURCE',
    'off': 'OBSERVE_TARGET#OFF_SOURCE',
}
_NOISE_JY = 0.05
_ROW_FLAG_FRACTION = 0.04
_EDGE_CHANNELS = 1
_CHUNK_BYTES = 32 * 1024 * 1024
# Empirical on-disk size model (casacore storage managers as used by simulator).
_FIXED_BYTES = 600000
_ROW_OVERHEAD_BYTES = 62
_DATA_OVERHEAD = 1.055
_SPACE_MARGIN = 1.1  # the size estimates are within 5-10 %
# casacore keeps the nutation and aberration terms of the last 32 epochs a process converted at (shared by every
# tool) and reuses them for any epoch within about an hour: without a flush, a simulation's UVW differed in its last
# bits (~5e-9 m) depending on what the process had converted before (another EB's times), so the same seed did not give the
# same MS in a fresh CASA and in a long-lived one. Converting at 64 epochs far from any EB's pushes them all out.
_MEASURES_FLUSH = 64
_FLUSH_MJD0, _FLUSH_STEP_D = 51544.5, 7.0  # weekly from 2000-01-01: decades from the EBs' 2022 epochs


def corrected_gain(spw_id):
    """Return the known complex factor relating CORRECTED_DATA to DATA.

    Parameters
    ----------
    spw_id : int
        Spectral window id (0 ... 8 in a :func:`make_eb_ms` measurement set).

    Returns
    -------
    complex
        ``g`` such that ``CORRECTED_DATA == DATA * g`` (to complex64
        precision) for every row of that spectral window; never equal to 1.
    """
    return complex(np.complex64((1.25 + 0.05 * spw_id) * np.exp(0.15j * (spw_id + 1))))


def _science_spw_names():
    stems = ['X0000000000#ALMA_RB_06#BB_%d#SW-01' % (i + 1) for i in range(4)]
    return [stem + suffix for stem in stems for suffix in ('#FULL_RES', '#CH_AVG')]


def _scan_plan(ntargets, nint, off_source_scan, separator='#'):
    """Scans in time order as dicts: field, intent, spws, nint."""
    sci = list(range(1, 9))
    targets = [f[0] for f in _FIELDS if f[4] == 'target'][:ntargets]
    bpcal, phcal, nphase = _FIELDS[0][0], _FIELDS[1][0], max(2, nint // 4)

    def scan(field, key, spws, n):
        return {'field': field, 'intent': _INTENTS[key].replace('#', separator),
                'spws': list(spws), 'nint': n}

    plan = [scan(bpcal, 'atm', [WVR_SPW], _ATM_NINT),
            scan(bpcal, 'bandpass', sci, max(3, nint // 2)),
            scan(phcal, 'phase', sci, nphase)]
    for _ in range(2):
        plan.extend(scan(target, 'target', sci, nint) for target in targets)
        plan.append(scan(phcal, 'phase', sci, nphase))
    if off_source_scan:
        plan.insert(-1, scan(targets[0], 'off', sci, nint))
    return plan


def estimate_bytes(nant=6, nchan=64, nint=_DEFAULT_NINT, ntargets=1,
                   off_source_scan=False):
    """Estimate the on-disk size of the measurement set :func:`make_eb_ms` builds.

    Parameters
    ----------
    nant, nchan, nint, ntargets, off_source_scan
        As for :func:`make_eb_ms`.

    Returns
    -------
    int
        Approximate size in bytes (within ~5 % above a few MB).
    """
    nbl = nant * (nant - 1) // 2
    total = float(_FIXED_BYTES)
    for scan in _scan_plan(ntargets, nint, off_source_scan):
        for spw in scan['spws']:
            nch = 4 if spw == WVR_SPW else (nchan if spw % 2 else 1)
            per_row = _DATA_OVERHEAD * (6 * nch * 8 + nch / 4.0) + _ROW_OVERHEAD_BYTES
            total += scan['nint'] * nbl * per_row
    return int(total)


def _nint_for_bytes(target_bytes, nant, nchan, ntargets, off_source_scan):
    """Integrations per target scan for an estimated size of target_bytes (size ~ linear)."""
    lo, hi = (estimate_bytes(nant, nchan, n, ntargets, off_source_scan) for n in (1000, 2000))
    return max(1, int(round(1000 + (target_bytes - lo) * 1000.0 / (hi - lo))))


def _antenna_layout(nant, rng):
    """Deterministic names, pads and ITRF positions around the ALMA centre."""
    kinds = [('DA', 'DV', 'DA', 'DV', 'PM')[i % 5] for i in range(nant)]
    first = {'DA': 41, 'DV': 1, 'PM': 1}
    names = ['%s%02d' % (k, first[k] + kinds[:i].count(k)) for i, k in enumerate(kinds)]
    pads = ['A%03d' % (1 + (i * 44) % 137) for i in range(nant)]
    radius = 30.0 + 35.0 * np.arange(nant) + rng.uniform(-5.0, 5.0, nant)
    angle = 2.399963 * np.arange(nant) + rng.uniform(-0.1, 0.1, nant)
    local = np.stack([radius * np.sin(angle), radius * np.cos(angle),
                      rng.uniform(-2.0, 2.0, nant)], axis=1)
    return names, pads, alma_layout.enu_to_itrf(local)


def _default_spws(nchan):
    """The small generator's spws: WVR, then 4 science spws of ``nchan`` channels with twins."""
    spws = [(_WVR_NAME, 184.55e9, 1.5e9, 4)]
    for i, name in enumerate(_science_spw_names()):
        mid, width = _SCIENCE_CENTRES_GHZ[i // 2] * 1e9, _SCIENCE_BANDWIDTH_HZ / nchan
        spws.append((name, mid - _SCIENCE_BANDWIDTH_HZ / 2 + width / 2, width, nchan)
                    if i % 2 == 0 else (name, mid, _SCIENCE_BANDWIDTH_HZ, 1))
    return spws


def _forget_measures_history():
    """Make casacore convert as in a fresh process: fill its epoch cache with far epochs (see _MEASURES_FLUSH)."""
    import casatools
    me = casatools.measures()
    try:
        me.doframe(me.position('ITRF', *['%.3fm' % v for v in _ALMA_CENTRE_ITRF]))
        source = me.direction('J2000', *_FIELDS[-1][1:3])
        me.doframe(source)
        for k in range(_MEASURES_FLUSH):  # what the simulator converts: a direction to AZEL, a baseline to J2000
            me.doframe(me.epoch('UTC', '%.1fd' % (_FLUSH_MJD0 + _FLUSH_STEP_D * k)))
            me.measure(source, 'AZEL')
            me.measure(me.baseline('ITRF', '100m', '50m', '10m'), 'J2000')
    finally:
        me.done()


def _simulate(vis, array, spws, plan, integration=_INTEGRATION_S, autocorr=False, fields=_FIELDS):
    """Run casatools.simulator (one observe per subscan and spw); return scan starts.

    ``array`` is (names, pads, ITRF xyz, dish diameter); ``spws`` a list of
    (name, first channel Hz, width Hz, channels); ``autocorr`` also writes
    the autocorrelations (ALMA's ``ocorr_mode='ca'``).
    """
    import casatools
    _forget_measures_history()  # the UVW must not depend on what this process converted before
    me, sm = casatools.measures(), casatools.simulator()
    names, pads, xyz, dish = array
    starts, offset = [], 0.0
    try:
        sm.open(vis)
        centre = me.position('ITRF', *['%.3fm' % v for v in _ALMA_CENTRE_ITRF])
        sm.setconfig(telescopename='ALMA', x=list(xyz[:, 0]), y=list(xyz[:, 1]),
                     z=list(xyz[:, 2]), dishdiameter=[dish] * len(names),
                     mount=['ALT-AZ'], antname=names, padname=pads,
                     coordsystem='global', referencelocation=centre)
        for name, first, step, nch in spws:
            sm.setspwindow(spwname=name, freq='%.1fHz' % first, deltafreq='%.1fHz' % step,
                           freqresolution='%.1fHz' % step, nchannels=nch, stokes='XX YY')
        sm.setfeed(mode='perfect X Y', pol=[''])
        for field in fields:
            sm.setfield(sourcename=field[0], sourcedirection=me.direction('J2000', *field[1:3]))
        sm.setlimits(shadowlimit=0.001, elevationlimit='3deg')
        sm.setauto(autocorrwt=1.0 if autocorr else 0.0)
        sm.settimes(integrationtime='%.3fs' % integration, usehourangle=False,
                    referencetime=me.epoch('UTC', _REFERENCE_TIME))
        for scan in plan:
            starts.append(offset)
            for intent, nint in scan.get('subscans') or [(scan['intent'], scan['nint'])]:
                stop = offset + nint * integration
                off = 'OFF_SOURCE' in intent
                for spw in scan['spws']:
                    sm.observe(sourcename=scan['field'], spwname=spws[spw][0],
                               starttime='%.3fs' % offset, stoptime='%.3fs' % stop,
                               state_sig=not off, state_ref=off, state_obs_mode=intent,
                               observer='casa_plugin', project=_PROJECT_CODE)
                offset = stop
            offset += _SCAN_GAP_S
    finally:
        sm.close()
        me.done()
    return np.array(starts)


def _fix_metadata(vis, eb_uid, scan_starts, integration=_INTEGRATION_S):
    """Give all spws of a scan one SCAN_NUMBER; write the EB uid to OBSERVATION; date SOURCE by the data.

    The simulator dates the SOURCE rows by the clock when it ran: two builds of one seed would differ there
    (and so would the outputs of a split that keeps SOURCE).
    """
    import casatools
    tb, tobs = casatools.table(), casatools.table()
    try:
        tb.open(vis, nomodify=False)
        nrows, step = tb.nrows(), 1000000
        chunks = [(s, min(step, nrows - s)) for s in range(0, nrows, step)]
        tmin = min(tb.getcol('TIME', s, n).min() for s, n in chunks)
        for s, n in chunks:  # the simulator numbers scans per observe call
            rel = tb.getcol('TIME', s, n) - tmin + integration / 2.0
            scans = np.searchsorted(scan_starts, rel + 1e-3, side='right')
            tb.putcol('SCAN_NUMBER', scans.astype(np.int32), s, n)
        tobs.open(vis + '/OBSERVATION', nomodify=False)
        uid = 'uid://' + eb_uid.replace('uid___', '').replace('_', '/')
        for row in range(tobs.nrows()):
            tobs.putcell('SCHEDULE', row, ['SchedulingBlock uid://A001/X0/X0',
                                           'ExecBlock ' + uid])
            tobs.putcell('SCHEDULE_TYPE', row, 'ALMA')
        tobs.putkeyword('EB_UID', eb_uid)
        tobs.close()
        tobs.open(vis + '/SOURCE', nomodify=False)
        if tobs.nrows():
            tobs.putcol('TIME', np.full(tobs.nrows(), tmin))
    finally:
        tobs.close()
        tb.close()
    return nrows


def _fill(vis, nant, rng):
    """Write DATA, CORRECTED_DATA, WEIGHT, SIGMA and flags, per DDID and chunk."""
    import casatools
    tb, sub = casatools.table(), None
    flux = np.array([f[3] for f in _FIELDS])
    dd_spw, freqs = synthetic_fill.spectral_layout(vis)
    try:
        shape = (nant, len(freqs))
        gains = rng.uniform(0.85, 1.15, shape) * np.exp(1j * rng.uniform(-np.pi, np.pi, shape))
        tb.open(vis, nomodify=False)
        ddid_of_row = tb.getcol('DATA_DESC_ID')
        for ddid, spw in enumerate(dd_spw):
            # selectrows, not query: TaQL quotes the table path, which breaks on paths with quotes
            sub = tb.selectrows(np.flatnonzero(ddid_of_row == ddid).tolist())
            nrows, nchan = sub.nrows(), len(freqs[spw])
            spectrum = (freqs[spw] / 230e9) ** -0.7
            chunk = max(1, _CHUNK_BYTES // (2 * nchan * 16 * 2))
            for s in range(0, nrows, chunk):
                n = min(chunk, nrows - s)
                a1, a2 = sub.getcol('ANTENNA1', s, n), sub.getcol('ANTENNA2', s, n)
                model = (flux[sub.getcol('FIELD_ID', s, n)]
                         * gains[a1, spw] * np.conj(gains[a2, spw]))
                weight = rng.uniform(0.5, 1.5, (2, n)).astype(np.float32)
                sigma = (1.0 / np.sqrt(weight)).astype(np.float32)
                noise = (rng.standard_normal((2, nchan, n))
                         + 1j * rng.standard_normal((2, nchan, n)))
                data = (model[None, None, :] * spectrum[None, :, None]
                        + _NOISE_JY * sigma[:, None, :] * noise).astype(np.complex64)
                flag_row = rng.uniform(size=n) < _ROW_FLAG_FRACTION
                flag = np.zeros((2, nchan, n), dtype=bool)
                if spw in SCIENCE_SPWS and nchan > 2 * _EDGE_CHANNELS:
                    flag[:, :_EDGE_CHANNELS, :] = True
                    flag[:, nchan - _EDGE_CHANNELS:, :] = True
                flag[:, :, flag_row] = True
                sub.putcol('DATA', data, s, n)
                sub.putcol('CORRECTED_DATA', data * np.complex64(corrected_gain(spw)), s, n)
                for col, val in (('WEIGHT', weight), ('SIGMA', sigma), ('FLAG', flag),
                                 ('FLAG_ROW', flag_row)):
                    sub.putcol(col, val, s, n)
            sub.close()
            sub = None
    finally:
        if sub is not None:
            sub.close()
        tb.close()


def _ensure_scratch_columns(vis):
    """Add MODEL_DATA/CORRECTED_DATA if this CASA's simulator did not."""
    import casatools
    tb = casatools.table()
    try:
        tb.open(vis)
        missing = not {'MODEL_DATA', 'CORRECTED_DATA'}.issubset(tb.colnames())
    finally:
        tb.close()
    if missing:
        cb = casatools.calibrater()
        try:
            cb.open(vis, addcorr=True, addmodel=True)
        finally:
            cb.close()


def _disk_usage(path):
    stats = [os.lstat(os.path.join(root, name))
             for root, _, files in os.walk(path) for name in files]
    return sum(getattr(st, 'st_blocks', 0) * 512 or st.st_size for st in stats)


def _preset_plan(preset, size_gb, nchan, nant, nint, first_scans):
    """The preset's description and scan plan: by size, or ``nint`` in every science scan."""
    from . import presets
    desc = presets.describe(preset, None if nint is not None else size_gb, nchan=nchan, nant=nant)
    if nint is not None:
        if int(nint) < 1:
            raise ValueError('nint must be >= 1')
        desc['scans'] = presets.preset_plan(preset, 1, int(nint))
    if first_scans is not None:
        if int(first_scans) < 1:
            raise ValueError('first_scans must be >= 1')
        desc['scans'] = desc['scans'][:int(first_scans)]
    desc['bytes'] = presets.plan_bytes(preset, desc['scans'], desc['nchan'], desc['nant'])
    return desc, desc['scans']


def _build_preset(vis, eb_uid, desc, plan, rng):
    """Simulate, number scans, drop MODEL_DATA and fill a preset EB; return its rows."""
    import casatools
    names, pads, xyz, dish = alma_layout.antennas(desc['array'], desc['nant'])
    spws = alma_layout.spectral_setup(desc['nchan'], desc['centres_ghz'], desc['bandwidth_hz'],
                                      desc['band'])
    starts = _simulate(vis, (names, pads, xyz, dish), spws, plan, desc['integration_s'],
                       autocorr=True, fields=alma_layout.FIELDS)
    nrows = _fix_metadata(vis, eb_uid, starts, desc['integration_s'])
    _ensure_scratch_columns(vis)
    tb = casatools.table()
    try:  # a restored ALMA MS (importasdm + applycal) has DATA and CORRECTED_DATA only
        tb.open(vis, nomodify=False)
        if 'MODEL_DATA' in tb.colnames():
            tb.removecols(['MODEL_DATA'])
    finally:
        tb.close()
    synthetic_fill.fill_visibilities(vis, rng, [f[3] for f in alma_layout.FIELDS], corrected_gain,
                                     SCIENCE_SPWS, _NOISE_JY, _ROW_FLAG_FRACTION, _EDGE_CHANNELS)
    return nrows


def make_eb_ms(vis, eb_uid=_DEFAULT_EB_UID, seed=0, nant=None, nchan=None, nint=None,
               target_bytes=None, ntargets=1, intent_separator='#',
               off_source_scan=False, preset=None, size_gb=None, first_scans=None):
    """Create one synthetic ALMA execution-block measurement set.

    Writes the directory ``vis``: ``nant`` 12 m ALMA antennas, XX/YY, spw 0 =
    4-channel WVR (ATM scan on the bandpass calibrator only), spws 1, 3, 5, 7 =
    ``nchan``-channel Band 6 science windows, each followed by its 1-channel
    ``#CH_AVG`` twin.  Scans: ATM, bandpass, phase, (targets, phase) x 2, plus
    an optional off-source target scan before the last phase scan.  DATA =
    point source x antenna gains + seeded noise; CORRECTED_DATA = DATA *
    :func:`corrected_gain`; WEIGHT uniform in [0.5, 1.5), SIGMA = WEIGHT**-0.5;
    ~4 % of rows and the edge channels of spws 1, 3, 5, 7 are flagged.

    With ``preset`` (``'alma12m'``, ``'alma7m'``, ``'wsu'``; see
    :mod:`casa_plugin.testing.presets`) the EB has that preset's array, spws,
    integration time and scan sequence instead, with autocorrelations, and
    no MODEL_DATA column (as a restored ALMA MS); ``size_gb`` sets its size
    (within 10 %; default and minimum: the preset's smallest EB).  The same
    DATA/CORRECTED_DATA/WEIGHT/flag rules hold, filled in row chunks.

    Parameters
    ----------
    vis : str
        Path of the measurement set to create (must not exist).
    eb_uid : str
        Execution-block uid, written to OBSERVATION/SCHEDULE and to the
        OBSERVATION table keyword ``EB_UID``.
    seed : int
        Seed for numpy.random.RandomState; same seed gives identical contents
        (UVW too, whatever the process simulated or converted before).
    nant, nchan : int or None
        Number of 12 m antennas (>= 2, default 6); channels per full-resolution
        science spw (>= 4, default 64).  With a preset: among its choices
        (default the preset's own).
    nint : int or None
        Integrations per science-target scan (default 8).  With a preset:
        integrations of every science scan, instead of ``size_gb`` (a
        shape-only build: the scan proportions are not kept).
    target_bytes : float or None
        If given, overrides ``nint`` so the MS is roughly this size on disk
        (with a preset: ``size_gb`` in bytes).
    ntargets : int
        Number of science targets, 1 or 2.
    intent_separator : str
        '#', '.' or '_' between intent and sub-intent in STATE/OBS_MODE.
    off_source_scan : bool
        Add one scan with intent ``OBSERVE_TARGET<sep>OFF_SOURCE``.
    preset : str or None
        Build an ALMA-shaped EB of this preset (then ``ntargets``,
        ``intent_separator`` and ``off_source_scan`` keep their defaults).
    size_gb : float or None
        Size of the preset EB on disk in GB (1e9 bytes).
    first_scans : int or None
        Keep only the first scans of the preset's plan (a short look at a
        large preset's shape, e.g. ``wsu`` in tests).

    Returns
    -------
    dict
        ``vis``, ``eb_uid``, ``science_spws`` ([1, 3, 5, 7]), ``fields``
        (field name -> list of intents), ``scans`` (list of dicts with keys
        scan, field, intent, spws, nint; presets also ``subscans``), ``nint``
        (per target scan; the longest with a preset), ``nrows``, ``bytes``
        (disk usage of the MS), ``seconds`` (build time) and ``preset``.

    Raises
    ------
    FileExistsError
        If ``vis`` already exists.
    ValueError
        If an argument is out of range.  (On any error while building, the
        partially written ``vis`` is removed before the error propagates.)
    """
    t0 = time.time()
    if os.path.exists(vis):
        raise FileExistsError('measurement set already exists: %s' % vis)
    if ntargets not in (1, 2):
        raise ValueError('ntargets must be 1 or 2, got %r' % (ntargets,))
    if intent_separator not in ('#', '.', '_'):
        raise ValueError('intent_separator must be "#", "." or "_"')
    if preset is not None:
        if ntargets != 1 or off_source_scan or intent_separator != '#':
            raise ValueError('preset %r EBs have one target, no off-source scan and "#" intents'
                             % (preset,))
        if size_gb is None and target_bytes is not None:
            size_gb = float(target_bytes) / 1e9
        desc, plan = _preset_plan(preset, size_gb, nchan, nant, nint, first_scans)
        nint = max([scan['nint'] for scan in plan if 'OBSERVE_TARGET' in scan['intent']] or [0])
        logger.info('building %s: preset %s, %d antennas, %d channels, %d scans, ~%.2f GB',
                    vis, preset, desc['nant'], desc['nchan'], len(plan), desc['bytes'] / 1e9)
    else:
        if size_gb is not None or first_scans is not None:
            raise ValueError('size_gb and first_scans need a preset (alma12m, alma7m, wsu)')
        nant, nchan = (6 if nant is None else nant), (64 if nchan is None else nchan)
        if nant < 2 or nchan < 4:
            raise ValueError('need nant >= 2 and nchan >= 4')
        if target_bytes is not None:
            nint = _nint_for_bytes(float(target_bytes), nant, nchan, ntargets,
                                   off_source_scan)
        elif nint is None:
            nint = _DEFAULT_NINT
        if nint < 1:
            raise ValueError('nint must be >= 1')
        plan = _scan_plan(ntargets, nint, off_source_scan, intent_separator)
        logger.info('building %s: %d antennas, %d channels, %d integrations/target '
                    'scan, %d scans', vis, nant, nchan, nint, len(plan))
    if preset is not None:
        needed = desc['bytes']
    else:
        needed = estimate_bytes(nant, nchan, nint, ntargets, off_source_scan)
    # casacore aborts the whole process on a full disk (a test run would end with no report): check first
    parent = os.path.dirname(os.path.abspath(vis))
    while not os.path.isdir(parent) and os.path.dirname(parent) != parent:
        parent = os.path.dirname(parent)
    check_space(parent, needed * _SPACE_MARGIN, 'another vis path')
    rng = np.random.RandomState(seed)
    try:
        if preset is not None:
            nrows = _build_preset(vis, eb_uid, desc, plan, rng)
        else:
            names, pads, xyz = _antenna_layout(nant, rng)
            array = (names, pads, xyz, _DISH_DIAMETER_M)
            nrows = _fix_metadata(vis, eb_uid, _simulate(vis, array, _default_spws(nchan), plan))
            _ensure_scratch_columns(vis)
            _fill(vis, nant, rng)
    except Exception:
        logger.error('building %s failed; removing the partial measurement set', vis)
        shutil.rmtree(vis, ignore_errors=True)
        raise
    fields = {}
    for number, scan in enumerate(plan, 1):
        scan['scan'] = number
        intents = fields.setdefault(scan['field'], [])
        intents.extend(i for i in scan['intent'].split(',') if i not in intents)
    result = {'vis': vis, 'eb_uid': eb_uid, 'science_spws': list(SCIENCE_SPWS),
              'fields': fields, 'scans': plan, 'nint': nint, 'nrows': nrows,
              'bytes': _disk_usage(vis), 'seconds': time.time() - t0, 'preset': preset}
    logger.info('built %s: %d rows, %.1f MB in %.2f s', vis, nrows,
                result['bytes'] / 1e6, result['seconds'])
    return result
