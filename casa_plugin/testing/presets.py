"""ALMA-shaped presets for the synthetic EBs: array, spectral setup, scan plan and size model.

A preset fixes what an EB of that kind holds (antennas, spws, channels,
integration time, scan sequence and intents); only the number of
integrations per scan, and the number of target/phase cycles, grow with the
requested size.  :func:`describe` gives the plan; ``synthetic_ms.make_eb_ms(
vis, preset=..., size_gb=...)`` builds it.
"""

import math

from . import alma_layout

__all__ = ['PRESETS', 'describe', 'preset_plan', 'plan_bytes', 'spw_nchan']

#: name -> spec.  ``unit_s``: the phase-calibrator scan; other scans scale with it (``_WEIGHTS``).
PRESETS = {
    'alma12m': {
        'description': 'ALMA 12 m array, compact configuration, Band 6 FDM',
        'array': '12m', 'nant': 43, 'nant_range': (43, 43), 'nchan': 1920,
        'nchan_choices': (1920, 3840), 'integration_s': 6.048, 'band': 6,
        'centres_ghz': (231.0, 233.0, 245.0, 247.0), 'bandwidth_hz': 1.875e9, 'unit_s': 42.0},
    'alma7m': {
        'description': 'ALMA 7 m array (ACA), Band 6',
        'array': '7m', 'nant': 12, 'nant_range': (10, 12), 'nchan': 2048,
        'nchan_choices': (2048, 4096), 'integration_s': 10.08, 'band': 6,
        'centres_ghz': (231.0, 233.0, 245.0, 247.0), 'bandwidth_hz': 1.875e9, 'unit_s': 50.0},
    'wsu': {
        'description': 'ALMA wideband sensitivity upgrade (WSU)-like: 12 m array, 16k+ channels per spw',
        'array': '12m', 'nant': 43, 'nant_range': (43, 43), 'nchan': 16384,
        'nchan_choices': (16384, 32768), 'integration_s': 3.072, 'band': 6,
        'centres_ghz': (231.0, 233.0, 245.0, 247.0), 'bandwidth_hz': 1.875e9, 'unit_s': 42.0},
}

_INTENTS = {
    'pointing': 'CALIBRATE_POINTING#ON_SOURCE,CALIBRATE_WVR#ON_SOURCE',
    'bandpass': 'CALIBRATE_BANDPASS#ON_SOURCE,CALIBRATE_FLUX#ON_SOURCE,CALIBRATE_WVR#ON_SOURCE',
    'phase': 'CALIBRATE_PHASE#ON_SOURCE,CALIBRATE_WVR#ON_SOURCE',
    'check': 'OBSERVE_CHECK_SOURCE#ON_SOURCE,CALIBRATE_WVR#ON_SOURCE',
    'target': 'OBSERVE_TARGET#ON_SOURCE',
}
#: An atmosphere scan's three subscans (sky, ambient load, hot load), as ALMA writes them.
_ATM_SUBSCANS = tuple('CALIBRATE_ATMOSPHERE#%s,CALIBRATE_WVR#%s' % (s, s)
                      for s in ('OFF_SOURCE', 'AMBIENT', 'HOT'))
#: Science-scan lengths in units of the phase-calibrator scan (``unit_s``): a 42 s phase
#: scan gives a 3.5 min bandpass, 5 min target scans and 42 s check-source scans.
_WEIGHTS = {'bandpass': 5, 'phase': 1, 'target': 7, 'check': 1}
_POINTING_S, _ATM_SUBSCAN_S = 30.0, 6.0  # fixed-length scans on the WVR and #CH_AVG spws only
_CHECK_EVERY, _ATM_EVERY = 4, 3  # cycles between check-source scans / ATM scans on the target
_FIXED_BYTES = 2000000
_ROW_OVERHEAD_BYTES = 80
_TILE_CHANNELS = 100  # simulator's default tile: 100 channels x 100 rows


def _spec(preset):
    if preset not in PRESETS:
        raise ValueError('unknown preset %r: use one of %s' % (preset, ', '.join(sorted(PRESETS))))
    return PRESETS[preset]


def _check_shape(preset, nchan, nant):
    spec = _spec(preset)
    nchan = spec['nchan'] if nchan is None else int(nchan)
    nant = spec['nant'] if nant is None else int(nant)
    if nchan not in spec['nchan_choices']:
        raise ValueError('preset %s has %s channels per science spw, not %d'
                         % (preset, ' or '.join(str(n) for n in spec['nchan_choices']), nchan))
    low, high = spec['nant_range']
    if not low <= nant <= high:
        raise ValueError('preset %s has %d to %d antennas, not %d' % (preset, low, high, nant))
    return spec, nchan, nant


def _sequence(ncycles):
    """Scan kinds in time order for ``ncycles`` target/phase cycles."""
    kinds = ['pointing:bandpass', 'atm:bandpass', 'bandpass', 'pointing:phase', 'atm:phase', 'phase']
    for cycle in range(ncycles):
        if cycle % _ATM_EVERY == 0:
            kinds.append('atm:target')
        kinds.extend(['target', 'phase'])
        if cycle % _CHECK_EVERY == _CHECK_EVERY - 1 or cycle == ncycles - 1:
            kinds.extend(['check', 'phase'])
    return kinds


def _distribute(total, weights):
    """Split ``total`` integrations over scans in proportion to ``weights`` (largest remainder)."""
    wsum = float(sum(weights))
    exact = [total * w / wsum for w in weights]
    counts = [int(math.floor(x)) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: counts[i] - exact[i])
    for i in order[:total - sum(counts)]:
        counts[i] += 1
    return counts


def preset_plan(preset, ncycles, science_nint):
    """Return the scans of a preset EB in time order.

    Parameters
    ----------
    preset : str
        A key of :data:`PRESETS`.
    ncycles : int
        Number of target/phase cycles.
    science_nint : int or list of int
        Integrations of every science scan, or the list of integrations of
        each science scan in order.

    Returns
    -------
    list of dict
        ``field``, ``intent`` (comma-joined intents), ``spws``, ``nint`` and
        ``subscans`` (list of (intent, nint)) per scan, as ``make_eb_ms`` takes.
    """
    spec = _spec(preset)
    nspw = len(spec['centres_ghz'])
    twins = [0] + [2 * i + 2 for i in range(nspw)]
    every = list(range(2 * nspw + 1))
    fields = dict((f[4], f[0]) for f in alma_layout.FIELDS)
    kinds = _sequence(ncycles)
    nsci = sum(1 for k in kinds if ':' not in k)
    counts = list(science_nint) if hasattr(science_nint, '__len__') else [science_nint] * nsci
    counts = iter(counts)
    plan = []
    for kind in kinds:
        what, _, on = kind.partition(':')
        if what == 'atm':
            n = max(1, int(round(_ATM_SUBSCAN_S / spec['integration_s'])))
            subscans = [(intent, n) for intent in _ATM_SUBSCANS]
            spws = twins
        elif what == 'pointing':
            subscans = [(_INTENTS['pointing'],
                         max(1, int(round(_POINTING_S / spec['integration_s']))))]
            spws = twins
        else:
            on, subscans, spws = what, [(_INTENTS[what], next(counts))], every
        plan.append({'field': fields[on], 'intent': ','.join(i for i, _ in subscans),
                     'spws': spws, 'nint': sum(n for _, n in subscans), 'subscans': subscans})
    return plan


def spw_nchan(preset, nchan=None):
    """Return the channels of each spw of the preset (WVR, then science and twin pairs)."""
    spec, nchan, _ = _check_shape(preset, nchan, None)
    return [4] + [nchan, 1] * len(spec['centres_ghz'])


def _row_bytes(nch):
    """On-disk bytes of one row of ``nch`` channels, XX YY: DATA + CORRECTED_DATA + FLAG."""
    padded = nch if nch < _TILE_CHANNELS else _TILE_CHANNELS * int(math.ceil(nch / float(_TILE_CHANNELS)))
    return 2 * padded * (2 * 8 + 1 / 8.0) + _ROW_OVERHEAD_BYTES


def plan_bytes(preset, plan, nchan=None, nant=None):
    """Estimate the on-disk size of an EB of ``plan`` (see :func:`preset_plan`)."""
    _, nchan, nant = _check_shape(preset, nchan, nant)
    rows = nant * (nant + 1) // 2  # cross-correlations and autocorrelations
    chans = spw_nchan(preset, nchan)
    return int(_FIXED_BYTES + sum(scan['nint'] * rows * _row_bytes(chans[spw])
                                  for scan in plan for spw in scan['spws']))


def _plan_for(preset, nchan, nant, target_bytes):
    """The plan whose estimated size is closest to ``target_bytes`` (None: the smallest)."""
    spec = _spec(preset)
    unit = max(1, int(round(spec['unit_s'] / spec['integration_s'])))
    ncycles, plan = 1, None
    for _ in range(3):  # cycles from the science budget, then the budget again with those cycles
        weights = [_WEIGHTS[k] for k in _sequence(ncycles) if ':' not in k]
        base = preset_plan(preset, ncycles, [0] * len(weights))
        per = plan_bytes(preset, preset_plan(preset, ncycles, [1] * len(weights)), nchan, nant) \
            - plan_bytes(preset, base, nchan, nant)
        least = sum(weights)
        total = least if target_bytes is None else max(
            least, int(round((target_bytes - plan_bytes(preset, base, nchan, nant))
                             * len(weights) / float(per))))
        plan = preset_plan(preset, ncycles, _distribute(total, weights))
        per_cycle = unit * (_WEIGHTS['target'] + _WEIGHTS['phase'])
        wanted = max(1, int(round((total - unit * (_WEIGHTS['bandpass'] + _WEIGHTS['phase']))
                                  / float(per_cycle))))
        if wanted == ncycles:
            break
        ncycles = wanted
    return plan, ncycles


def describe(preset, size_gb=None, nchan=None, nant=None):
    """Describe the EB a preset builds at a given size.

    Parameters
    ----------
    preset : str
        ``'alma12m'``, ``'alma7m'`` or ``'wsu'``.
    size_gb : float, optional
        Requested size on disk in GB (1e9 bytes); default the preset's
        smallest EB (one integration per phase-scan unit, one cycle).
    nchan, nant : int, optional
        Channels per science spw and antennas, among the preset's choices.

    Returns
    -------
    dict
        ``preset``, the spec keys (``nant``, ``nchan``, ``integration_s``,
        ``array``, ...), ``antennas`` (names), ``pads``, ``spw_names``,
        ``spw_nchan``, ``scans`` (the plan), ``ncycles``, ``nrows``,
        ``bytes`` (estimated size), ``size_gb`` (requested or None) and
        ``min_gb`` (the smallest EB of this preset and shape).

    Raises
    ------
    ValueError
        If the preset is unknown, ``nchan``/``nant`` are not among its
        choices, or ``size_gb`` is below ``min_gb``.
    """
    spec, nchan, nant = _check_shape(preset, nchan, nant)
    smallest, _ = _plan_for(preset, nchan, nant, None)
    min_bytes = plan_bytes(preset, smallest, nchan, nant)
    if size_gb is not None and float(size_gb) * 1e9 < 0.95 * min_bytes:
        raise ValueError('preset %s (%d channels, %d antennas) needs size_gb >= %.2f (one cycle of '
                         'scans, shortest scan one integration), not %s'
                         % (preset, nchan, nant, min_bytes / 1e9, size_gb))
    plan, ncycles = _plan_for(preset, nchan, nant, None if size_gb is None else float(size_gb) * 1e9)
    names, pads, _, dish = alma_layout.antennas(spec['array'], nant)
    spws = alma_layout.spectral_setup(nchan, spec['centres_ghz'], spec['bandwidth_hz'], spec['band'])
    out = dict(spec)
    out.update({'preset': preset, 'nant': nant, 'nchan': nchan, 'dish_m': dish,
                'antennas': names, 'pads': pads, 'spw_names': [s[0] for s in spws],
                'spw_nchan': [s[3] for s in spws], 'scans': plan, 'ncycles': ncycles,
                'nrows': sum(scan['nint'] * len(scan['spws']) for scan in plan) * nant * (nant + 1) // 2,
                'bytes': plan_bytes(preset, plan, nchan, nant), 'size_gb': size_gb,
                'min_gb': min_bytes / 1e9})
    return out
