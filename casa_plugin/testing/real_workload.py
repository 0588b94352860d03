"""The real restore workload of a synthetic delivery: real ASDMs and calibration tables, restored with CASA's tasks.

Delivery side, :func:`build_eb`: the synthetic EB is simulated, its DATA
corrupted by known gains (:mod:`.gains`), exported as a real ASDM into
``raw/`` (:mod:`.asdm`), imported back as the pipeline would, given the
synthetic EB's flags (the pipeline's flagging stages), calibrated with
CASA's tasks, and its flags saved as ``Pipeline_Final``; ``calibration/``
gets ``<eb>.ms.calapply.txt``, ``<eb>.ms.flagversions.tgz`` and the tables
(packed per session by :func:`write_caltables`).

Restore side, :func:`restore_eb` (what the pipeline stand-in's
``hifa_restoredata`` runs for a real ASDM, as the pipeline does):
``importasdm(ocorr_mode='ca')``, the delivery's flag version restored,
the session's tables unpacked, ``applycal`` of every line of the
``calapply.txt``, ``Pipeline_Final`` saved if the delivery had none.
"""

import ast
import glob
import logging
import os
import shutil
import tarfile
import tempfile
import time

import numpy as np

from . import asdm as asdm_export
from . import gains

__all__ = ['FLAG_VERSION', 'build_eb', 'copy_flags', 'is_real_asdm', 'make_member_real',
           'read_calapply', 'restore_eb', 'write_caltables']

LOG = logging.getLogger(__name__)

FLAG_VERSION = 'Pipeline_Final'
_IMPORT_OPTIONS = {'ocorr_mode': 'ca', 'process_caldevice': False, 'process_syspower': False,
                   'flagbackup': False, 'verbose': False}


def is_real_asdm(path):
    """Return True if ``path`` is an ASDM with real tables (Main.xml), not a synthetic stub."""
    return os.path.isfile(os.path.join(path, 'Main.xml'))


def _import(asdm, vis):
    from casatasks import importasdm
    importasdm(asdm=asdm, vis=vis, **_IMPORT_OPTIONS)
    if not os.path.isdir(vis):
        raise RuntimeError('importasdm did not write %s from %s (see the CASA log)' % (vis, asdm))


def _row_order(tb, rows):
    """Row numbers ``rows`` of open table ``tb`` sorted by (time, antenna1, antenna2)."""
    sub = tb.selectrows(rows)
    try:
        keys = (sub.getcol('ANTENNA2'), sub.getcol('ANTENNA1'),
                np.round(sub.getcol('TIME') * 100.0).astype(np.int64))
    finally:
        sub.close()
    order = np.lexsort(keys)
    return np.asarray(rows)[order], np.stack(keys)[:, order]


def copy_flags(source, target):
    """Copy FLAG and FLAG_ROW of ``source`` into ``target`` row by row (same rows, any order)."""
    import casatools
    ts, tt = casatools.table(), casatools.table()
    try:
        ts.open(source)
        tt.open(target, nomodify=False)
        dds, ddt = ts.getcol('DATA_DESC_ID'), tt.getcol('DATA_DESC_ID')
        for ddid in np.unique(dds):
            rs, ks = _row_order(ts, np.flatnonzero(dds == ddid).tolist())
            rt, kt = _row_order(tt, np.flatnonzero(ddt == ddid).tolist())
            if ks.shape != kt.shape or not (ks == kt).all():
                raise RuntimeError('%s and %s do not hold the same rows (data description %d)'
                                   % (source, target, ddid))
            for col in ('FLAG', 'FLAG_ROW'):
                values = [ts.getcell(col, int(r)) for r in rs]
                for r, value in zip(rt, values):
                    tt.putcell(col, int(r), value)
    finally:
        tt.close()
        ts.close()


def _tar(path, members, root):
    """Write tar.gz ``path`` holding the directories ``members`` (relative to ``root``)."""
    with tarfile.open(path, 'w:gz') as tar:
        for name in members:
            tar.add(os.path.join(root, name), arcname=name)


def build_eb(eb, params, member, seed=0):
    """Write EB ``eb`` of ``member`` as real data: raw/<eb>.asdm.sdm and its calibration products.

    Parameters
    ----------
    eb : str
        EB uid.
    params : dict
        :func:`casa_plugin.testing.synthetic_ms.make_eb_ms` parameters
        (``intent_separator`` is forced to ``'#'``, as in real ALMA data).
    member : str
        Member directory holding ``raw/`` and ``calibration/``.
    seed : int, optional
        Seed of the corrupting gains.

    Returns
    -------
    dict
        ``asdm``, ``tables`` (paths of the solved tables, in a scratch
        directory that :func:`write_caltables` packs and removes), ``gains``
        (the true corrupting gains), ``scratch``, ``seconds``.
    """
    from casatasks import applycal, flagmanager
    from . import synthetic_ms
    start = time.time()
    raw, calib = os.path.join(member, 'raw'), os.path.join(member, 'calibration')
    scratch = tempfile.mkdtemp(prefix='.real-' + eb + '.', dir=member)
    try:
        simulated = os.path.join(scratch, 'simulated.ms')
        params = dict(params, eb_uid=eb, intent_separator='#')
        synthetic_ms.make_eb_ms(simulated, **params)
        true_gains = gains.corrupt(simulated, seed=seed)
        asdm = os.path.join(raw, eb + '.asdm.sdm')
        asdm_export.export_asdm(simulated, asdm)
        working = os.path.join(scratch, 'working')
        os.mkdir(working)
        vis = os.path.join(working, eb + '.ms')
        _import(asdm, vis)
        copy_flags(simulated, vis)
        shutil.rmtree(simulated)
        solved = gains.solve(vis, eb, os.path.join(scratch, 'tables'))
        for call in solved['calapply']:
            call = dict(call, vis=vis,
                        gaintable=[os.path.join(scratch, 'tables', t) for t in call['gaintable']])
            applycal(**call)
        flagmanager(vis=vis, mode='save', versionname=FLAG_VERSION,
                    comment='Flagging state at the end of the pipeline (casa_plugin synthetic)')
        _tar(os.path.join(calib, eb + '.ms.flagversions.tgz'), [eb + '.ms.flagversions'], working)
        with open(os.path.join(calib, eb + '.ms.calapply.txt'), 'w') as handle:
            handle.write(gains.calapply_lines(solved['calapply']))
        shutil.rmtree(working)
    except Exception:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    LOG.info('built real EB %s in %.1f s', eb, time.time() - start)
    return {'asdm': asdm, 'tables': solved['tables'], 'gains': true_gains, 'scratch': scratch,
            'seconds': time.time() - start}


def write_caltables(path, built):
    """Pack the tables of the EBs ``built`` (results of :func:`build_eb`) into tar.gz ``path``; remove scratch."""
    try:
        with tarfile.open(path, 'w:gz') as tar:
            for result in built:
                for table in result['tables']:
                    tar.add(table, arcname=os.path.basename(table))
    finally:
        for result in built:
            shutil.rmtree(result['scratch'], ignore_errors=True)
    return path


def read_calapply(path):
    """Return the applycal keyword dicts of the ``applycal(...)`` lines of a ``calapply.txt``.

    Raises
    ------
    ValueError
        If a line is not an ``applycal`` call with literal keyword arguments.
    """
    calls = []
    with open(path) as handle:
        for number, line in enumerate(handle, 1):
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            try:
                node = ast.parse(line, mode='eval').body
                if not (isinstance(node, ast.Call) and getattr(node.func, 'id', '') == 'applycal'):
                    raise ValueError('not an applycal call')
                calls.append(dict((kw.arg, ast.literal_eval(kw.value)) for kw in node.keywords))
            except (SyntaxError, ValueError) as err:
                raise ValueError('%s line %d: %s' % (path, number, err))
    return calls


def _extract(path, dest):
    """Unpack tar.gz ``path`` into ``dest``, skipping members already there; refuse unsafe names."""
    with tarfile.open(path) as tar:
        members = [m for m in tar.getmembers()
                   if not os.path.lexists(os.path.join(dest, m.name))]
        for info in members:
            if info.name.startswith('/') or '..' in info.name.split('/') or info.issym() \
                    or info.islnk():
                raise ValueError('unsafe member %s in %s' % (info.name, path))
        tar.extractall(dest, members=members)


def _session_tables(products, session):
    """Unpack the session's caltables tar.gz from ``products`` into the cwd (once)."""
    pattern = '*.%s.caltables.tgz' % session if session else '*.caltables.tgz'
    found = sorted(glob.glob(os.path.join(products, pattern)))
    for path in found:
        _extract(path, '.')
    return found


def restore_eb(asdm, outvis, products, session):
    """Restore one EB in the cwd as the pipeline's hifa_restoredata does (CASA's tasks only).

    Parameters
    ----------
    asdm : str
        The EB's ASDM.
    outvis : str
        MS to write (``<eb>.ms`` in the cwd).
    products : str
        The delivery's calibration products (``../products`` -> ``calibration/``).
    session : str
        The EB's session (for ``*.<session>.caltables.tgz``).

    Returns
    -------
    dict
        ``vis``, ``applycal`` (number of calls), ``flagversion`` (restored from
        the delivery or saved here), ``seconds``.

    Raises
    ------
    FileNotFoundError
        If the EB's ``calapply.txt`` is missing from ``products``.
    """
    from casatasks import applycal, flagmanager
    start = time.time()
    eb = os.path.basename(outvis)[:-len('.ms')]
    calapply = os.path.join(products, eb + '.ms.calapply.txt')
    if not os.path.isfile(calapply):
        raise FileNotFoundError('no calapply listing for %s: %s' % (eb, calapply))
    _import(asdm, outvis)
    flags = os.path.join(products, eb + '.ms.flagversions.tgz')
    restored = False
    if os.path.isfile(flags):
        _extract(flags, os.path.dirname(os.path.abspath(outvis)))
        flagmanager(vis=outvis, mode='restore', versionname=FLAG_VERSION)
        restored = True
    _session_tables(products, session)
    calls = read_calapply(calapply)
    for call in calls:
        applycal(**dict(call, vis=outvis))
    if not restored:
        flagmanager(vis=outvis, mode='save', versionname=FLAG_VERSION,
                    comment='Flagging state at the end of the pipeline restore')
    LOG.info('restored %s from %s: %d applycal calls in %.1f s', outvis, asdm, len(calls),
             time.time() - start)
    return {'vis': outvis, 'applycal': len(calls),
            'flagversion': 'restored' if restored else 'saved', 'seconds': time.time() - start}


def make_member_real(member, prefix, ebs, sessions, params):
    """Replace the stub ASDMs and calibration products of a synthetic member by real ones.

    For each EB of ``member`` (built by ``synthetic_delivery``): ``raw/<eb>.asdm.sdm``,
    ``calibration/<eb>.ms.calapply.txt`` and ``<eb>.ms.flagversions.tgz`` are
    rewritten by :func:`build_eb`, and ``calibration/<prefix>.<session>.caltables.tgz``
    holds the session's real tables.

    Returns
    -------
    dict
        ``{eb: build_eb result}`` (without the scratch paths, which are removed).
    """
    calib = os.path.join(member, 'calibration')
    built = {}
    try:
        for eb in ebs:
            shutil.rmtree(os.path.join(member, 'raw', eb + '.asdm.sdm'))
            for name in (eb + '.ms.calapply.txt', eb + '.ms.flagversions.tgz'):
                os.remove(os.path.join(calib, name))
            built[eb] = build_eb(eb, params[eb], member, seed=params[eb].get('seed', 0))
        for session in sorted(set(sessions)):
            write_caltables(os.path.join(calib, '%s.%s.caltables.tgz' % (prefix, session)),
                            [built[eb] for eb, sess in zip(ebs, sessions) if sess == session])
    finally:
        for result in built.values():
            shutil.rmtree(result['scratch'], ignore_errors=True)
    return built
