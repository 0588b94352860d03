"""Fill the visibilities of a large synthetic EB fast: vectorised numpy, in row chunks, noise from a pool."""

import numpy as np

__all__ = ['fill_visibilities', 'spectral_layout']

_POOL = 1 << 23  # complex noise values drawn once (64 MB); each chunk takes a seeded random slice
_CHUNK_VALUES = 1 << 22  # complex values per column per chunk (32 MB of complex64)
_TILE_ROWS = 100  # the simulator's tiles hold 100 rows: write whole tiles where possible
# Arrays are built in Fortran order (polarisation fastest), casacore's own: putcol then copies less.


def _runs(ddid):
    """Return (start, stop, ddid) of each run of consecutive rows with one DATA_DESC_ID."""
    edges = np.concatenate([[0], np.flatnonzero(np.diff(ddid)) + 1, [len(ddid)]])
    return [(int(a), int(b), int(ddid[a])) for a, b in zip(edges[:-1], edges[1:])]


def spectral_layout(vis):
    """Return (spw id of each DATA_DESC_ID, channel frequencies of each spw) of ``vis``."""
    import casatools
    tb = casatools.table()
    try:
        tb.open(vis + '/DATA_DESCRIPTION')
        dd_spw = tb.getcol('SPECTRAL_WINDOW_ID')
        tb.close()
        tb.open(vis + '/SPECTRAL_WINDOW')
        return dd_spw, [tb.getcell('CHAN_FREQ', i) for i in range(tb.nrows())]
    finally:
        tb.close()


def fill_visibilities(vis, rng, flux, gain_of_spw, science_spws, noise_jy=0.05,
                      row_flag_fraction=0.04, edge_channels=1):
    """Write DATA, CORRECTED_DATA, WEIGHT, SIGMA, FLAG and FLAG_ROW of every row of ``vis``.

    DATA = flux[field] x g(ant1) conj(g(ant2)) x spectral index + noise
    scaled by SIGMA; CORRECTED_DATA = DATA x ``gain_of_spw(spw)``; WEIGHT
    uniform in [0.5, 1.5), SIGMA = WEIGHT**-0.5; a fraction of rows and the
    edge channels of the science spws flagged.  Rows are written in runs of
    one data description (the order the simulator wrote them), so no row
    selection is made.

    Parameters
    ----------
    vis : str
        Measurement set with DATA and CORRECTED_DATA columns (modified in place).
    rng : numpy.random.RandomState
        Source of all random numbers (same state, same contents).
    flux : sequence of float
        Flux density per FIELD_ID.
    gain_of_spw : callable
        spw id -> complex factor of CORRECTED_DATA over DATA.
    science_spws : sequence of int
        Spws whose edge channels are flagged.
    noise_jy, row_flag_fraction : float, optional
        Noise per visibility at unit SIGMA; fraction of rows flagged.
    edge_channels : int, optional
        Channels flagged at each edge of a science spw.

    Returns
    -------
    int
        Number of rows written.
    """
    import casatools
    tb = casatools.table()
    flux = np.asarray(flux, dtype=np.float64)
    dd_spw, freqs = spectral_layout(vis)
    try:
        tb.open(vis + '/ANTENNA')
        nant = tb.nrows()
        tb.close()
        shape = (nant, len(freqs))
        gains = rng.uniform(0.85, 1.15, shape) * np.exp(1j * rng.uniform(-np.pi, np.pi, shape))
        pool = rng.standard_normal(2 * _POOL).astype(np.float32).view(np.complex64)
        tb.open(vis, nomodify=False)
        ddid = tb.getcol('DATA_DESC_ID')
        for start, stop, dd in _runs(ddid):
            spw = int(dd_spw[dd])
            nchan = len(freqs[spw])
            spectrum = ((freqs[spw] / 230e9) ** -0.7).astype(np.float32)
            gain = np.complex64(gain_of_spw(spw))
            edges = spw in science_spws and nchan > 2 * edge_channels
            rows = max(1, _CHUNK_VALUES // (2 * nchan))
            rows = max(_TILE_ROWS, rows // _TILE_ROWS * _TILE_ROWS) if rows >= _TILE_ROWS else rows
            for s in range(start, stop, rows):
                n = min(rows, stop - s)
                a1, a2 = tb.getcol('ANTENNA1', s, n), tb.getcol('ANTENNA2', s, n)
                model = (flux[tb.getcol('FIELD_ID', s, n)] * gains[a1, spw]
                         * np.conj(gains[a2, spw])).astype(np.complex64)
                weight = rng.uniform(0.5, 1.5, (2, n)).astype(np.float32)
                sigma = (1.0 / np.sqrt(weight)).astype(np.float32)
                size = 2 * nchan * n
                offset = rng.randint(0, _POOL - size + 1) if size <= _POOL else 0
                noise = (pool[offset:offset + size] if size <= _POOL
                         else np.resize(pool, size)).reshape((2, nchan, n), order='F')
                data = noise * (np.float32(noise_jy) * sigma)[:, None, :]
                data += (spectrum[:, None] * model[None, :])[None, :, :]
                flag_row = rng.uniform(size=n) < row_flag_fraction
                flag = np.zeros((2, nchan, n), dtype=bool, order='F')
                if edges:
                    flag[:, :edge_channels, :] = True
                    flag[:, nchan - edge_channels:, :] = True
                flag[:, :, flag_row] = True
                tb.putcol('DATA', data, s, n)
                data *= gain
                tb.putcol('CORRECTED_DATA', data, s, n)
                for col, val in (('WEIGHT', weight), ('SIGMA', sigma), ('FLAG', flag),
                                 ('FLAG_ROW', flag_row)):
                    tb.putcol(col, val, s, n)
        return len(ddid)
    finally:
        tb.close()
