"""ALMA layout tables for the synthetic presets: antenna names, pads, positions, spectral setups, fields."""

import math

import numpy as np

__all__ = ['ALMA_CENTRE_ITRF', 'antennas', 'enu_to_itrf', 'science_spw_names', 'spectral_setup',
           'FIELDS', 'WVR_NAME']

#: ITRF position of the ALMA array centre (metres), as in the existing generator.
ALMA_CENTRE_ITRF = (2225142.18, -5440307.37, -2481029.85)
#: Name of ALMA's 4-channel water-vapour-radiometer spectral window.
WVR_NAME = 'WVR#NOMINAL'
_WVR = (WVR_NAME, 184.55e9, 1.5e9, 4)  # name, first channel [Hz], channel width [Hz], channels

#: 12 m antennas in an ALMA 12 m array MS: 18 DA (Melco-built AEM), 21 DV (Vertex), 4 PM (Melco).
_NAMES_12M = (['DA%02d' % i for i in range(41, 59)] + ['DV%02d' % i for i in range(1, 22)]
              + ['PM%02d' % i for i in range(1, 5)])
#: Pads of a compact 12 m configuration (C-2 like): the A0xx cluster plus a few inner arm pads.
_PADS_12M = (['A%03d' % i for i in (2, 4, 6, 7, 8, 9, 10, 11, 13, 15, 17, 18, 19, 20, 21, 22, 23,
                                    24, 25, 26, 27, 29, 31, 33, 34, 35, 36, 37, 38, 40, 41,
                                    42, 43, 44, 45, 46, 47)]
             + ['T701', 'T702', 'W201', 'S301', 'P401', 'N601'])
#: 7 m antennas of the ACA (Atacama Compact Array) and their pads.
_NAMES_7M = ['CM%02d' % i for i in range(1, 13)]
_PADS_7M = ['J501', 'J502', 'J503', 'J504', 'J505', 'J506', 'J507', 'J508', 'N601', 'N602',
            'N603', 'N604']
_ARRAYS = {  # names, pads, outer radius of the layout [m], dish diameter [m]
    '12m': (_NAMES_12M, _PADS_12M, 160.0, 12.0),
    '7m': (_NAMES_7M, _PADS_7M, 24.0, 7.0),
}

#: Fields of a preset EB: name, RA, Dec, flux density [Jy], role (FIELD_ID = index).
FIELDS = (
    ('J1924-2914', '19h24m51.056s', '-29d14m30.12s', 3.0, 'bandpass'),
    ('J1733-1304', '17h33m02.706s', '-13d04m49.55s', 1.2, 'phase'),
    ('NGC6334I', '17h20m53.4s', '-35d47m00s', 0.4, 'target'),
    ('J1717-3342', '17h17m36.030s', '-33d42m08.80s', 0.5, 'check'),
)


def enu_to_itrf(local):
    """Return ITRF positions (n, 3) of local east/north/up offsets (n, 3) from the ALMA centre."""
    centre = np.array(ALMA_CENTRE_ITRF)
    lon = math.atan2(centre[1], centre[0])
    lat = math.atan2(centre[2], math.hypot(centre[0], centre[1]))
    sla, cla, slo, clo = math.sin(lat), math.cos(lat), math.sin(lon), math.cos(lon)
    enu = np.array([[-slo, clo, 0.0], [-sla * clo, -sla * slo, cla],
                    [cla * clo, cla * slo, sla]])
    return centre[None, :] + np.asarray(local).dot(enu)


def antennas(array, nant=None):
    """Return the antennas of an ALMA array as (names, pads, ITRF xyz, dish diameter).

    Positions are deterministic: a sunflower (golden-angle) pattern filling a
    disc, which gives the even, centrally filled uv coverage of a compact
    configuration with no two antennas closer than ~1.5 dishes.

    Parameters
    ----------
    array : str
        ``'12m'`` (43 antennas, 12 m dishes, A0xx pads) or ``'7m'`` (12 CM
        antennas, 7 m dishes, J5xx/N6xx pads).
    nant : int, optional
        Take only the first ``nant`` antennas (default all).

    Returns
    -------
    tuple
        ``(names, pads, xyz, dish_m)``: lists of str, an (nant, 3) array in
        metres, and the dish diameter in metres.

    Raises
    ------
    ValueError
        If ``array`` is unknown or ``nant`` is out of range.
    """
    if array not in _ARRAYS:
        raise ValueError('unknown ALMA array %r: use one of %s' % (array, sorted(_ARRAYS)))
    names, pads, radius, dish = _ARRAYS[array]
    nant = len(names) if nant is None else int(nant)
    if not 2 <= nant <= len(names):
        raise ValueError('the %s array has 2 to %d antennas, not %d' % (array, len(names), nant))
    index = np.arange(nant)
    r = radius * np.sqrt((index + 0.5) / nant)
    phi = 2.399963229728653 * index
    local = np.stack([r * np.sin(phi), r * np.cos(phi), 0.5 * np.cos(3.0 * phi)], axis=1)
    return list(names[:nant]), list(pads[:nant]), enu_to_itrf(local), dish


def science_spw_names(nspw=4, band=6):
    """Return ALMA names of ``nspw`` science spws, each followed by its ``#CH_AVG`` twin."""
    stems = ['X0000000000#ALMA_RB_%02d#BB_%d#SW-01' % (band, i + 1) for i in range(nspw)]
    return [stem + suffix for stem in stems for suffix in ('#FULL_RES', '#CH_AVG')]


def spectral_setup(nchan, centres_ghz, bandwidth_hz, band=6):
    """Return the spws of an EB as (name, first channel Hz, channel width Hz, channels).

    Spw 0 is the 4-channel WVR window; then each full-resolution science
    window of ``nchan`` channels centred on ``centres_ghz[i]`` is followed by
    its 1-channel ``#CH_AVG`` twin covering the same band.

    Parameters
    ----------
    nchan : int
        Channels of each full-resolution science spw.
    centres_ghz : sequence of float
        Centre frequencies of the science spws (two per sideband for ALMA).
    bandwidth_hz : float
        Bandwidth of each science spw.
    band : int, optional
        ALMA receiver band, used in the spw names.

    Returns
    -------
    list of tuple
    """
    spws = [_WVR]
    names = science_spw_names(len(centres_ghz), band)
    for i, name in enumerate(names):
        mid = centres_ghz[i // 2] * 1e9
        if i % 2 == 0:
            width = bandwidth_hz / nchan
            spws.append((name, mid - bandwidth_hz / 2.0 + width / 2.0, width, nchan))
        else:
            spws.append((name, mid, bandwidth_hz, 1))
    return spws
