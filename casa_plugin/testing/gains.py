"""Corrupt a synthetic EB by known antenna gains and solve them back with CASA's own tasks (tests and demos only).

:func:`corrupt` multiplies DATA of the science spws by ``g_i g_j*`` with
per-antenna, per-spw gains that have a bandpass shape in frequency and a
phase drifting linearly in time (on top of the synthetic EB's own constant
antenna gains, which calibration removes as well).  :func:`solve` then does
what the pipeline's calibration stages do, with CASA's tasks on the MS
imported from the ASDM: ``setjy`` (manual fluxes of the calibrators),
``bandpass`` on the bandpass calibrator and ``gaincal`` (amplitude and phase
per integration) on the bandpass and phase calibrators, writing tables named
as ALMA's deliveries name them, and returns the matching ``applycal`` calls
(the lines of ``<eb>.ms.calapply.txt``).
"""

import logging
import os

import numpy as np

from . import synthetic_ms

__all__ = ['corrupt', 'science_spws', 'solve', 'table_names', 'calapply_lines']

LOG = logging.getLogger(__name__)

_SPIX = -0.7
_REFFREQ = '230GHz'
_BANDPASS_STAGE = 'hifa_bandpass.s16_5'
_GAIN_STAGE = 'hifa_timegaincal.s18_2'
_PHASE_RATE_RAD_S = 0.004  # largest antenna phase drift (about 14 deg a minute)


def _close(*tools):
    for tool in tools:
        tool.close()


def science_spws(vis):
    """Return the science spws of ``vis``: spws observed with OBSERVE_TARGET having more than 4 channels."""
    import casatools
    md = casatools.msmetadata()
    try:
        md.open(vis)
        return sorted(int(s) for s in md.spwsforintent('OBSERVE_TARGET*') if md.nchan(s) > 4)
    finally:
        md.close()


def _true_gains(nant, nchan, rng):
    """Gains of one spw: amplitude and phase per antenna, a bandpass shape, a phase rate."""
    amp = rng.uniform(0.7, 1.3, nant)
    phase = rng.uniform(-np.pi, np.pi, nant)
    rate = rng.uniform(-_PHASE_RATE_RAD_S, _PHASE_RATE_RAD_S, nant)
    x = np.arange(nchan) / float(max(nchan - 1, 1))
    ripple = rng.uniform(0.0, 2 * np.pi, (nant, 2))
    shape = ((1.0 + 0.15 * np.cos(2 * np.pi * 1.5 * x[None, :] + ripple[:, :1]))
             * np.exp(0.3j * np.sin(2 * np.pi * x[None, :] + ripple[:, 1:])))
    return amp, phase, rate, shape


def _corrupt_rows(sub, nant, t0, rng):
    """Multiply DATA of the rows of table ``sub`` (one spw) by new gains; return them."""
    data = sub.getcol('DATA')
    amp, phase, rate, shape = _true_gains(nant, data.shape[1], rng)
    t = sub.getcol('TIME') - t0
    a1, a2 = sub.getcol('ANTENNA1'), sub.getcol('ANTENNA2')
    g1 = amp[a1] * np.exp(1j * (phase[a1] + rate[a1] * t))
    g2 = amp[a2] * np.exp(1j * (phase[a2] + rate[a2] * t))
    factor = (g1 * np.conj(g2))[None, :] * (shape[a1] * np.conj(shape[a2])).T
    sub.putcol('DATA', (data * factor[None, :, :]).astype(np.complex64))
    return {'amp': amp, 'phase': phase, 'rate': rate, 'shape': shape, 't0': t0}


def corrupt(vis, seed=0):
    """Multiply DATA of the science spws of ``vis`` by known antenna gains, in place.

    Parameters
    ----------
    vis : str
        Synthetic EB measurement set (modified in place: DATA only).
    seed : int, optional
        Seed of the gains.

    Returns
    -------
    dict
        ``{spw: {'amp', 'phase', 'rate', 'shape', 't0'}}`` (arrays per antenna; ``shape`` per
        antenna and channel): the gain of antenna ``a`` at time ``t`` and channel ``c`` is
        ``amp[a] * exp(1j * (phase[a] + rate[a] * (t - t0))) * shape[a, c]``.
    """
    import casatools
    rng = np.random.RandomState(int(seed) + 7919)
    spws = science_spws(vis)
    tb = casatools.table()
    gains = {}
    try:
        tb.open(vis + '/DATA_DESCRIPTION')
        dd_spw = tb.getcol('SPECTRAL_WINDOW_ID')
        tb.close()
        tb.open(vis + '/ANTENNA')
        nant = tb.nrows()
        tb.close()
        tb.open(vis, nomodify=False)
        t0 = float(tb.getcol('TIME').min())
        ddid_of_row = tb.getcol('DATA_DESC_ID')
        for ddid in [d for d, spw in enumerate(dd_spw) if int(spw) in spws]:
            sub = tb.selectrows(np.flatnonzero(ddid_of_row == ddid).tolist())
            try:
                gains[int(dd_spw[ddid])] = _corrupt_rows(sub, nant, t0, rng)
            finally:
                sub.close()
    finally:
        tb.close()
    LOG.info('corrupted DATA of %s by known antenna gains (spws %s)', vis,
             ','.join(str(s) for s in spws))
    return gains


def table_names(eb, spws):
    """Return the (bandpass, gain) table names of EB ``eb`` as an ALMA delivery names them."""
    tag = 'spw' + '_'.join(str(s) for s in spws)
    return ('%s.ms.%s.%s.channel.solintinf.bcal.tbl' % (eb, _BANDPASS_STAGE, tag),
            '%s.ms.%s.%s.solintint.gacal.tbl' % (eb, _GAIN_STAGE, tag))


def _fields_for(md, pattern):
    return sorted(int(f) for f in md.fieldsforintent(pattern))


def _calibrators(vis):
    """Return field names of the bandpass calibrator(s), all calibrators, all observed fields."""
    import casatools
    md = casatools.msmetadata()
    try:
        md.open(vis)
        names = list(md.fieldnames())
        observed = sorted(set(int(f) for s in md.scannumbers() for f in md.fieldsforscan(s)))
        bp = _fields_for(md, 'CALIBRATE_BANDPASS*')
        cal = sorted(set(bp) | set(_fields_for(md, 'CALIBRATE_PHASE*')))
        nant = md.nantennas()
        antennas = list(md.antennanames())
    finally:
        md.close()
    return ([names[i] for i in bp], [names[i] for i in cal], [names[i] for i in observed], nant,
            antennas)


def _flux_jy(field):
    """Flux density the synthetic EB gives ``field`` (1 Jy if unknown)."""
    for name, _, _, flux, _ in synthetic_ms._FIELDS:
        if name == field:
            return float(flux)
    LOG.warning('no synthetic flux density known for field %s; using 1 Jy', field)
    return 1.0


def solve(vis, eb, outdir):
    """Solve bandpass and time-dependent gains of ``vis`` with CASA's tasks; write the tables to ``outdir``.

    Parameters
    ----------
    vis : str
        MS imported from the EB's ASDM (its model is set by ``setjy``; DATA untouched).
    eb : str
        EB uid (for the table names).
    outdir : str
        Directory for the tables (created if missing).

    Returns
    -------
    dict
        ``tables`` (paths, in apply order), ``calapply`` (applycal keyword dicts, one
        per field), ``spws``, ``refant``.

    Raises
    ------
    RuntimeError
        If a task does not write its table.
    """
    from casatasks import bandpass, gaincal, setjy
    spws = science_spws(vis)
    spw = ','.join(str(s) for s in spws)
    bp_fields, cal_fields, fields, nant, antennas = _calibrators(vis)
    refant = antennas[0]
    for field in cal_fields:
        setjy(vis=vis, field=field, spw=spw, standard='manual', scalebychan=True,
              fluxdensity=[_flux_jy(field), 0, 0, 0], spix=[_SPIX], reffreq=_REFFREQ,
              usescratch=True)
    if not os.path.isdir(outdir):
        os.makedirs(outdir)
    btab, gtab = [os.path.join(outdir, name) for name in table_names(eb, spws)]
    bandpass(vis=vis, caltable=btab, field=','.join(bp_fields), spw=spw, solint='inf',
             combine='scan', refant=refant, bandtype='B', solnorm=True, minsnr=0.0,
             minblperant=max(2, min(4, nant - 2)))
    gaincal(vis=vis, caltable=gtab, field=','.join(cal_fields), spw=spw, solint='int',
            gaintype='G', calmode='ap', refant=refant, gaintable=[btab], minsnr=0.0,
            minblperant=max(2, min(4, nant - 2)))
    for table in (btab, gtab):
        if not os.path.isdir(table):
            raise RuntimeError('solving %s did not write %s (see the CASA log)' % (vis, table))
    calls = [{'vis': eb + '.ms', 'field': field, 'intent': '', 'spw': spw,
              'antenna': '0~%d' % (nant - 1),
              'gaintable': [os.path.basename(btab), os.path.basename(gtab)],
              'gainfield': ['', ''], 'interp': ['linear,linear', 'linear'],
              'spwmap': [[], []], 'calwt': [False, True], 'parang': False,
              'applymode': 'calflagstrict', 'flagbackup': False}
             for field in fields]
    LOG.info('solved %s: %s', vis, ', '.join(os.path.basename(t) for t in (btab, gtab)))
    return {'tables': [btab, gtab], 'calapply': calls, 'spws': spws, 'refant': refant}


def calapply_lines(calls):
    """Return the text of ``<eb>.ms.calapply.txt``: one ``applycal(...)`` line per call."""
    keys = ('vis', 'field', 'intent', 'spw', 'antenna', 'gaintable', 'gainfield', 'interp',
            'spwmap', 'calwt', 'parang', 'applymode', 'flagbackup')
    return ''.join('applycal(%s)\n' % ', '.join('%s=%r' % (key, call[key]) for key in keys
                                                if key in call)
                   for call in calls)
