"""Write a synthetic EB measurement set as a real ASDM with CASA's exportasdm (tests and demos only).

``exportasdm`` refuses a ``casatools.simulator`` MS as it is, and what it
writes from one loses the scan structure.  :func:`export_asdm` works on a
copy of the MS and then fixes the ASDM's own tables, so that ``importasdm``
gives back the EB's rows, spws, fields, correlations, scans and intents:

* before the export (on the copy): duplicate POLARIZATION rows merged (the
  simulator writes one per spw), and so POINTING rows; an empty PROCESSOR table filled with one
  CORRELATOR row; OBSERVATION's TIME_RANGE widened to the data (the
  simulator keeps the first scan's only, and exportasdm cuts an execution
  block at its end); the REF_FREQUENCY of a WVR spw set into the science
  spws' band (exportasdm starts a scheduling block, hence an execution
  block, per ALMA band);
* the export itself with a scheduling block longer than the EB (one
  execution block) and the longest subscan length with which no ASDM
  subscan spans two MS scans (exportasdm writes one scan per execution
  block, hard-wired ``OBSERVE_TARGET``, and cuts subscans by length, data
  description and field only: one binary file per window and spw);
* after the export: Scan.xml rewritten with one row per MS scan and its
  intents; Subscan.xml and Main.xml renumbered into those scans, each
  subscan with its sub-intent (``ON_SOURCE``/``OFF_SOURCE``); the WVR spw's
  ``refFreq`` put back; the spw names of the MS written (exportasdm writes none).

What stays lost is listed in :data:`KNOWN_LOSSES`.
"""

import contextlib
import logging
import os
import re
import shutil
import time

import numpy as np

__all__ = ['KNOWN_LOSSES', 'export_asdm', 'scan_table']

LOG = logging.getLogger(__name__)

#: What an exported-and-imported EB does not keep (checked by the tests where it matters).
KNOWN_LOSSES = (
    'CORRECTED_DATA and MODEL_DATA (an ASDM holds one data column: DATA is exported)',
    'WEIGHT and SIGMA (importasdm derives them from the integration time and channel width)',
    'the per-row FLAG/FLAG_ROW of the MS (exportasdm writes no Flag.xml; importasdm flags nothing)',
    'STATE rows beyond what the scan and subscan intents give (CAL, LOAD, SIG/REF flags)',
    'the BDF headers keep exportasdm\'s own scan/subscan path (importasdm reads Main.xml)',
    'one binary file per spw and subscan window of a few integrations (a real ASDM has one per '
    'subscan, all spws), so importasdm opens more files than for real data of that size',
    'the WVR spw is correlator data, not RADIOMETER (exportasdm writes correlator data only)',
)

_NS_PER_S = 1e9
_TAG = r'<%s>\s*(.*?)\s*</%s>'


def _close(*tools):
    for tool in tools:
        tool.close()


@contextlib.contextmanager
def _table(path, nomodify=True):
    """A casatools table open on ``path`` for the ``with`` block."""
    import casatools
    tb = casatools.table()
    try:
        tb.open(path, nomodify=nomodify)
        yield tb
    finally:
        tb.close()


def scan_table(vis):
    """Return the scans of ``vis`` in time order: number, start, end (s, MJD) and intents.

    Parameters
    ----------
    vis : str
        Measurement set.

    Returns
    -------
    list of dict
        ``{'scan', 'start', 'end', 'first', 'last', 'starts', 'intents'}``;
        ``start`` and ``end`` bound the integrations, ``first``/``last`` are
        the first and last integration start times, ``starts`` all of them.
    """
    import casatools
    tb, st = casatools.table(), casatools.table()
    try:
        tb.open(vis)
        scan, state = tb.getcol('SCAN_NUMBER'), tb.getcol('STATE_ID')
        t, dt = tb.getcol('TIME'), tb.getcol('INTERVAL')
        st.open(vis + '/STATE')
        modes = st.getcol('OBS_MODE')
    finally:
        _close(tb, st)
    out = []
    for number in np.unique(scan):
        sel = scan == number
        starts = t[sel] - dt[sel] / 2.0
        intents = []
        for sid in np.unique(state[sel]):
            for intent in modes[sid].split(',') if sid >= 0 else []:
                if intent and intent not in intents:
                    intents.append(intent)
        out.append({'scan': int(number), 'start': float(starts.min()),
                    'end': float((t[sel] + dt[sel] / 2.0).max()),
                    'first': float(starts.min()), 'last': float(starts.max()),
                    'starts': np.unique(starts), 'intents': intents})
    return sorted(out, key=lambda s: s['start'])


def _merge_polarizations(vis):
    """Map DATA_DESCRIPTION onto the distinct POLARIZATION rows and remove the duplicates."""
    import casatools
    tb, dd = casatools.table(), casatools.table()
    try:
        tb.open(vis + '/POLARIZATION', nomodify=False)
        keys = [(tuple(tb.getcell('CORR_TYPE', i)),
                 tuple(np.asarray(tb.getcell('CORR_PRODUCT', i)).ravel()))
                for i in range(tb.nrows())]
        first = {}
        for i, key in enumerate(keys):
            first.setdefault(key, i)
        kept = sorted(set(first.values()))
        new_id = dict((i, kept.index(first[key])) for i, key in enumerate(keys))
        dd.open(vis + '/DATA_DESCRIPTION', nomodify=False)
        ids = dd.getcol('POLARIZATION_ID')
        dd.putcol('POLARIZATION_ID', np.array([new_id[int(i)] for i in ids], dtype=np.int32))
        drop = [i for i in range(tb.nrows()) if i not in kept]
        if drop:
            tb.removerows(drop)
    finally:
        _close(dd, tb)
    return len(kept)


def _dedupe_pointing(vis):
    """Remove POINTING rows repeating an (antenna, time) (the simulator writes one per spw)."""
    with _table(vis + '/POINTING', nomodify=False) as tb:
        if tb.nrows() == 0:
            return 0
        keys = np.stack([tb.getcol('ANTENNA_ID'), np.round(tb.getcol('TIME') * 1000.0)])
        _, first = np.unique(keys, axis=1, return_index=True)
        drop = sorted(set(range(tb.nrows())) - set(first.tolist()))
        if drop:
            tb.removerows(drop)
        return len(drop)


def _fill_processor(vis):
    """Give an empty PROCESSOR table one CORRELATOR row and point the main table at it."""
    with _table(vis + '/PROCESSOR', nomodify=False) as tb:
        if tb.nrows() > 0:
            return
        tb.addrows(1)
        for col, value in (('TYPE', 'CORRELATOR'), ('SUB_TYPE', 'ALMA_CORRELATOR_MODE'),
                           ('TYPE_ID', 0), ('MODE_ID', 0), ('FLAG_ROW', False)):
            tb.putcell(col, 0, value)
    with _table(vis, nomodify=False) as tb:
        tb.putcol('PROCESSOR_ID', np.zeros(tb.nrows(), dtype=np.int32))


def _widen_time_range(vis, scans):
    """Make OBSERVATION's TIME_RANGE cover all data (plus 1 s, so exportasdm writes one EB)."""
    span = np.array([scans[0]['start'], scans[-1]['end'] + 1.0])
    with _table(vis + '/OBSERVATION', nomodify=False) as tb:
        for row in range(tb.nrows()):
            tb.putcell('TIME_RANGE', row, span)


def _move_wvr_reffreq(vis):
    """Put WVR spws' REF_FREQUENCY into the science band; return {spw: original} to restore."""
    with _table(vis + '/SPECTRAL_WINDOW', nomodify=False) as tb:
        names, ref = tb.getcol('NAME'), tb.getcol('REF_FREQUENCY')
        wvr = [i for i, name in enumerate(names) if 'WVR' in name]
        other = [i for i in range(len(names)) if i not in wvr]
        if not wvr or not other:
            return {}
        moved = dict((i, float(ref[i])) for i in wvr)
        for i in wvr:
            ref[i] = ref[other[0]]
        tb.putcol('REF_FREQUENCY', ref)
    return moved


def _windows_stay_in_scans(starts, scan_index, length):
    """True if exportasdm's subscan windows of ``length`` s never hold two scans' integrations.

    exportasdm starts a window at a row's start time and the next one at the
    first row past its end.
    """
    i = 0
    while i < len(starts):
        j = int(np.searchsorted(starts, starts[i] + length, side='left'))
        if scan_index[j - 1] != scan_index[i]:
            return False
        i = j
    return True


def _subscan_seconds(scans):
    """The longest subscan length whose windows stay within one scan (fewest binary files)."""
    if len(scans) < 2:
        return 24 * 3600.0
    starts = np.concatenate([scan['starts'] for scan in scans])
    index = np.concatenate([[k] * len(scan['starts']) for k, scan in enumerate(scans)])
    order = np.argsort(starts, kind='stable')
    starts, index = starts[order], index[order]
    step = float(np.min(np.diff(starts)[np.diff(starts) > 0]))
    for count in range(max(len(scan['starts']) for scan in scans), 1, -1):
        length = (count - 0.5) * step  # windows of ``count`` integrations
        if _windows_stay_in_scans(starts, index, length):
            return length
    return 0.5 * step  # one integration per window: always within a scan


def _read(path):
    with open(path) as handle:
        return handle.read()


def _write(path, text):
    with open(path, 'w') as handle:
        handle.write(text)


def _rows(text):
    """Split an ASDM table XML into (head, [row texts], tail)."""
    parts = re.split(r'(<row>.*?</row>)', text, flags=re.S)
    rows = [p for p in parts if p.startswith('<row>')]
    head = parts[0]
    tail = parts[-1] if not parts[-1].startswith('<row>') else ''
    return head, rows, tail


def _get(row, tag):
    return re.search(_TAG % (tag, tag), row, flags=re.S).group(1)


def _set(row, tag, value):
    return re.sub(_TAG % (tag, tag), '<%s> %s </%s>' % (tag, value, tag), row, count=1,
                  flags=re.S)


def _array(values):
    return '1 %d %s' % (len(values), ' '.join(values))


def _scan_of(time_ns, scans):
    """Return the index in ``scans`` of the scan holding ASDM time ``time_ns``."""
    sec = time_ns / _NS_PER_S
    for i, scan in enumerate(scans):
        if scan['start'] - 1e-3 <= sec <= scan['end'] + 1e-3:
            return i
    raise ValueError('ASDM time %.3f s lies in no scan of the MS' % sec)


def _split_intents(intents):
    """Scan intents and the subscan intent of MS intents such as ``CALIBRATE_PHASE#ON_SOURCE``."""
    scan_intents, subs = [], []
    for intent in intents:
        main, _, sub = intent.replace('.', '#').partition('#')
        if main and main not in scan_intents:
            scan_intents.append(main)
        if sub:
            subs.append(sub)
    return scan_intents or ['UNSPECIFIED'], ('OFF_SOURCE' if 'OFF_SOURCE' in subs else 'ON_SOURCE')


def _fix_scans(asdm, scans):
    """Rewrite Scan.xml, Subscan.xml and Main.xml so that the ASDM has the MS's scans and intents."""
    head, subrows, tail = _rows(_read(os.path.join(asdm, 'Subscan.xml')))
    renumber, counts, fixed = {}, {}, []
    order = sorted(range(len(subrows)), key=lambda i: int(_get(subrows[i], 'startTime')))
    for i in order:
        row = subrows[i]
        old = int(_get(row, 'subscanNumber'))
        index = _scan_of(int(_get(row, 'startTime')), scans)
        counts[index] = counts.get(index, 0) + 1
        renumber[old] = (scans[index]['scan'], counts[index])
        row = _set(row, 'scanNumber', scans[index]['scan'])
        row = _set(row, 'subscanNumber', counts[index])
        row = re.sub(r'<subscanIntent>.*?</subscanIntent>',
                     '<subscanIntent>%s</subscanIntent>'
                     % _split_intents(scans[index]['intents'])[1], row, flags=re.S)
        fixed.append(row)
    _write(os.path.join(asdm, 'Subscan.xml'), head + '\n  '.join(fixed) + tail)

    head, mainrows, tail = _rows(_read(os.path.join(asdm, 'Main.xml')))
    for n, row in enumerate(mainrows):
        scan, sub = renumber[int(_get(row, 'subscanNumber'))]
        mainrows[n] = _set(_set(row, 'scanNumber', scan), 'subscanNumber', sub)
    _write(os.path.join(asdm, 'Main.xml'), head + '\n  '.join(mainrows) + tail)

    head, scanrows, tail = _rows(_read(os.path.join(asdm, 'Scan.xml')))
    template, out = scanrows[0], []
    for index, scan in enumerate(scans):
        if index not in counts:
            continue
        intents = _split_intents(scan['intents'])[0]
        row = _set(template, 'scanNumber', scan['scan'])
        row = _set(row, 'startTime', int(round(scan['start'] * _NS_PER_S)))
        row = _set(row, 'endTime', int(round(scan['end'] * _NS_PER_S)))
        row = _set(row, 'numIntent', len(intents))
        row = _set(row, 'numSubscan', counts[index])
        row = re.sub(r'<scanIntent>.*?</scanIntent>',
                     '<scanIntent> %s</scanIntent>' % _array(intents), row, flags=re.S)
        row = re.sub(r'<calDataType>.*?</calDataType>', '<calDataType> %s</calDataType>'
                     % _array(['FULL_RESOLUTION_CROSS'] * len(intents)), row, flags=re.S)
        row = re.sub(r'<calibrationOnLine>.*?</calibrationOnLine>',
                     '<calibrationOnLine> %s  </calibrationOnLine>'
                     % _array(['false'] * len(intents)), row, flags=re.S)
        out.append(row)
    _write(os.path.join(asdm, 'Scan.xml'), head + '\n  '.join(out) + tail)
    _set_row_count(asdm, 'Scan', len(out))
    return len(out), len(fixed)


def _set_row_count(asdm, table, nrows):
    """Update ``NumberRows`` of ``table`` in ASDM.xml."""
    path = os.path.join(asdm, 'ASDM.xml')
    text = _read(path)
    text = re.sub(r'(<Name>\s*%s\s*</Name>\s*<NumberRows>)\s*\d+\s*(</NumberRows>)' % table,
                  r'\g<1> %d \g<2>' % nrows, text, flags=re.S)
    _write(path, text)


def _spw_names(vis):
    with _table(vis + '/SPECTRAL_WINDOW') as tb:
        return [str(name) for name in tb.getcol('NAME')]


def _fix_spectral_windows(asdm, moved, names):
    """Put the WVR spws' refFreq back and give every spw its MS name (exportasdm writes none)."""
    path = os.path.join(asdm, 'SpectralWindow.xml')
    head, rows, tail = _rows(_read(path))
    for n, row in enumerate(rows):
        spw = int(_get(row, 'spectralWindowId').split('_')[-1])
        if spw in moved:
            row = _set(row, 'refFreq', '%.0f' % moved[spw])
        if spw < len(names) and names[spw] and '<name>' not in row:
            row = row.replace('</row>', '<name> %s </name> </row>' % names[spw])
        rows[n] = row
    _write(path, head + '\n  '.join(rows) + tail)


def _single_exec_block(asdm):
    """Check that the ASDM holds exactly one execution block; return its row count."""
    head, rows, tail = _rows(_read(os.path.join(asdm, 'ExecBlock.xml')))
    if len(rows) != 1:
        raise RuntimeError('exportasdm wrote %d execution blocks into %s (expected 1)'
                           % (len(rows), asdm))
    return 1


def export_asdm(vis, asdm):
    """Write measurement set ``vis`` as the ASDM directory ``asdm`` (DATA column), scans and intents kept.

    ``vis`` is not modified: the export works on a copy next to ``asdm``,
    removed at the end.  The ASDM is written under a partial name and
    renamed when complete.

    Parameters
    ----------
    vis : str
        Synthetic EB measurement set (from
        :func:`casa_plugin.testing.synthetic_ms.make_eb_ms`).
    asdm : str
        ASDM directory to create (must not exist).

    Returns
    -------
    dict
        ``asdm``, ``scans`` (number of scans), ``subscans``, ``seconds``.

    Raises
    ------
    FileExistsError
        If ``asdm`` exists.
    RuntimeError
        If exportasdm fails or writes more than one execution block.
    """
    from casatasks import exportasdm
    start = time.time()
    asdm = os.path.abspath(asdm)
    if os.path.lexists(asdm):
        raise FileExistsError('ASDM already exists: %s' % asdm)
    work = asdm + '.partial.ms'
    partial = asdm + '.partial'
    for path in (work, partial, work + '-tsorted'):
        shutil.rmtree(path, ignore_errors=True)
    try:
        shutil.copytree(vis, work, symlinks=True)
        scans = scan_table(work)
        _merge_polarizations(work)
        _dedupe_pointing(work)
        _fill_processor(work)
        _widen_time_range(work, scans)
        moved = _move_wvr_reffreq(work)
        seconds = _subscan_seconds(scans)
        ok = exportasdm(vis=work, asdm=partial, datacolumn='data',
                        subscanduration='%.3fs' % seconds, verbose=False,
                        sbduration='%.0fs' % (scans[-1]['end'] - scans[0]['start'] + 3600.0))
        if ok is False or not os.path.isfile(os.path.join(partial, 'Main.xml')):
            raise RuntimeError('exportasdm failed on %s (see the CASA log)' % vis)
        _single_exec_block(partial)
        nscans, nsub = _fix_scans(partial, scans)
        _fix_spectral_windows(partial, moved, _spw_names(vis))
        os.rename(partial, asdm)
    except Exception:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(work + '-tsorted', ignore_errors=True)
    result = {'asdm': asdm, 'scans': nscans, 'subscans': nsub, 'seconds': time.time() - start}
    LOG.info('exported %s to %s: %d scans, %d subscans in %.1f s', vis, asdm, nscans, nsub,
             result['seconds'])
    return result
