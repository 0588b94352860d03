"""Stand-in for the ALMA pipeline's h_init, hifa_restoredata, h_save and DOCONTSUB's imaging stages (tests, demo only).

The real ALMA pipeline is not shipped by any package registry (it comes only
inside the monolithic ``casa --pipeline`` tarball), so the tests and the demo
of ``casa_plugin`` use these three functions instead.  They behave like the
pipeline does when a delivery's ``casa_piperestorescript`` runs them inside
``calibrated/working/``: :func:`hifa_restoredata` checks that the raw ASDMs
(``../rawdata/<eb>.asdm.sdm``) and the calibration products (``../products``)
are present, then "restores" each execution block by simulating it with
:func:`casa_plugin.testing.synthetic_ms.make_eb_ms` from the parameters stored in the
synthetic ASDM, and leaves ``<eb>.ms`` (DATA plus calibrated CORRECTED_DATA)
and ``<eb>.ms.flagversions`` in the working directory.  A real ASDM (a delivery
made with ``asdm=True``) is restored instead as the pipeline does, with
CASA's own tasks (:func:`casa_plugin.testing.real_workload.restore_eb`:
importasdm, the delivery's flag version, applycal of its ``calapply.txt``).
Nothing here is the ALMA pipeline; never use it on real data.
"""

import json
import logging
import os
import sys
import time

from . import real_workload

__all__ = ['PARAMS_FILENAME', 'SKIP_APPLYCAL', 'PipelineStandinError', 'check_restore_args', 'h_init', 'h_save',
           'hifa_restoredata', 'hif_mstransform', 'hifa_flagtargets', 'hif_uvcontfit', 'hif_uvcontsub',
           'load_into', 'load_for_recipe', 'restore_with_standin', 'skip_applycal']

LOG = logging.getLogger(__name__)

#: Name of the JSON file inside a synthetic ASDM holding make_eb_ms parameters.
PARAMS_FILENAME = 'casa_plugin_synthetic.json'

#: Flag version saved for every restored MS, as the real pipeline leaves one.
FLAG_VERSION = 'Pipeline_Final'

#: Key of the synthetic ASDM's parameters: restore without applying the calibration (see skip_applycal).
SKIP_APPLYCAL = 'standin_skip_applycal'

_STATE = {'context': None, 'restored': []}


class PipelineStandinError(RuntimeError):
    """Raised when the stand-in pipeline cannot restore the calibration."""


def h_init(*args, **kwargs):
    """Start a (stand-in) pipeline session.

    Parameters
    ----------
    *args, **kwargs
        Accepted and ignored, for call compatibility with the pipeline.

    Returns
    -------
    str
        Name of the (stand-in) pipeline context.
    """
    name = 'pipeline-%s' % time.strftime('%Y%m%dT%H%M%S')
    _STATE['context'] = name
    _STATE['restored'] = []
    LOG.info('h_init (pipeline stand-in): new context %s in %s',
             name, os.getcwd())
    return name


def h_save(filename=None, *args, **kwargs):
    """Save the (stand-in) pipeline context as a small placeholder file.

    Parameters
    ----------
    filename : str, optional
        Context file to write; default ``<context>.context`` in the cwd.
    *args, **kwargs
        Accepted and ignored, for call compatibility with the pipeline.

    Returns
    -------
    str or None
        Path of the written context file; None after a Ctrl-C: called from
        the restore script's ``finally:`` while a KeyboardInterrupt goes up,
        it saves nothing, so an interrupted restore leaves no context that
        looks finished.
    """
    if isinstance(sys.exc_info()[1], KeyboardInterrupt):
        LOG.warning('h_save (pipeline stand-in): interrupted (Ctrl-C); no context saved')
        return None
    name = _STATE['context'] or 'pipeline-%s' % time.strftime('%Y%m%dT%H%M%S')
    path = filename or os.path.join(os.getcwd(), name + '.context')
    with open(path, 'w') as handle:
        json.dump({'standin': 'casa_plugin.testing.pipeline_standin',
                   'context': name, 'restored': _STATE['restored']},
                  handle, indent=1)
    LOG.info('h_save (pipeline stand-in): wrote %s', path)
    return path


def _eb_name(vis):
    """Return the bare EB uid of ``vis`` (a path, ``uid``, ``.ms`` or ASDM)."""
    name = os.path.basename(os.path.normpath(vis))
    for suffix in ('.asdm.sdm', '.ms'):
        if name.endswith(suffix):
            name = name[:-len(suffix)]
    return name


def _read_params(asdm, eb):
    """Read make_eb_ms parameters from synthetic ASDM ``asdm``."""
    path = os.path.join(asdm, PARAMS_FILENAME)
    if not os.path.isfile(path):
        raise PipelineStandinError(
            'ASDM %s is not a synthetic casa_plugin ASDM (no %s); the '
            'pipeline stand-in cannot restore real data' % (asdm, PARAMS_FILENAME))
    with open(path) as handle:
        params = json.load(handle)
    params.setdefault('eb_uid', eb)
    return params


def _session_of(session, index):
    """Return the session of EB number ``index`` (``session`` a list, one name or None)."""
    if session is None or isinstance(session, str):
        return session or ''
    return session[index]


def _save_flag_version(vis):
    """Create ``<vis>.flagversions`` holding the final pipeline flags."""
    from casatasks import flagmanager
    flagmanager(vis=vis, mode='save', versionname=FLAG_VERSION,
                comment='Flagging state at the end of the pipeline '
                        '(casa_plugin pipeline stand-in)')


def skip_applycal(asdm, spws=True):
    """Make the stand-in restore the synthetic ASDM ``asdm`` as if its applycal never ran.

    The restored MS then has CORRECTED_DATA equal to DATA (as CASA
    initialises the column) in ``spws`` (True: every spw; else a list of spw
    ids), and everything else as usual, ``Pipeline_Final`` included: a
    restore that "finished" without calibrating.  The choice is stored in the
    ASDM's own parameters (``PARAMS_FILENAME``), so it holds whichever
    process restores it (this session, a child CASA, a casampi server) and
    for that EB only.  Test deliveries only: it edits the ASDM.
    """
    path = os.path.join(asdm, PARAMS_FILENAME)
    params = _read_params(asdm, _eb_name(asdm))
    params[SKIP_APPLYCAL] = spws if spws is True else sorted(int(s) for s in spws)
    with open(path, 'w') as handle:
        json.dump(params, handle, indent=1)


def _undo_applycal(vis, spws):
    """Set CORRECTED_DATA = DATA in the rows of ``spws`` (True: all) of ``vis``, one data description at a time."""
    import casatools
    import numpy as np
    tb = casatools.table()
    try:
        tb.open(vis + '/DATA_DESCRIPTION')
        spw_of = tb.getcol('SPECTRAL_WINDOW_ID')
        tb.close()
        tb.open(vis, nomodify=False)
        ddid = tb.getcol('DATA_DESC_ID')
        for dd, spw in enumerate(spw_of):
            rows = np.flatnonzero(ddid == dd).tolist()
            if not rows or (spws is not True and int(spw) not in spws):
                continue
            sub = tb.selectrows(rows)
            try:
                sub.putcol('CORRECTED_DATA', sub.getcol('DATA'))
            finally:
                sub.close()
    finally:
        tb.close()
    LOG.warning('hifa_restoredata (pipeline stand-in): %s: calibration NOT applied to spws %s, as its ASDM asks '
                '(%s); CORRECTED_DATA equals DATA there', vis, 'all' if spws is True else spws, SKIP_APPLYCAL)


def check_restore_args(task, vis, session, ocorr_mode, mode, products_dir, rawdata_dir):
    """Check a restore task's arguments in the cwd (``calibrated/working``) as the pipeline would.

    Returns ``(products, [(eb, asdm, outvis), ...])``: the products
    directory and, per EB of ``vis``, its ASDM (``<rawdata_dir>/<eb>.asdm.sdm``,
    or ``<rawdata_dir>/<eb>``) and the MS to write. Raises
    PipelineStandinError for no EBs, a session list of another length, an
    ``ocorr_mode`` other than ``mode``, a missing products directory or
    ASDM, or an MS that already exists; each message starts with ``task``.
    """
    vis = [vis] if isinstance(vis, str) else list(vis)
    if not vis:
        raise PipelineStandinError('%s: no EBs given in vis' % task)
    if session is not None and not isinstance(session, str) and len(session) != len(vis):
        raise PipelineStandinError('%s: %d sessions given for %d EBs' % (task, len(session), len(vis)))
    if ocorr_mode != mode:
        raise PipelineStandinError("%s: ocorr_mode %r not supported (ALMA uses %r)" % (task, ocorr_mode, mode))
    cwd = os.getcwd()
    products = os.path.join(cwd, products_dir)
    if not os.path.isdir(products):
        raise PipelineStandinError('%s: calibration products directory %s not found (expected %s -> '
                                   '../calibration)' % (task, products_dir, products))
    found = []
    for name in vis:
        eb = _eb_name(name)
        asdm = os.path.join(cwd, rawdata_dir, eb + '.asdm.sdm')
        if not os.path.isdir(asdm):  # ALMA's scriptForPIs link rawdata/<eb> (no suffix) to ../../raw/<eb>.asdm.sdm
            asdm = os.path.join(cwd, rawdata_dir, eb)
        if not os.path.isdir(asdm):
            raise PipelineStandinError('%s: ASDM for %s not found at %s' % (task, eb, asdm))
        outvis = os.path.join(cwd, eb + '.ms')
        if os.path.exists(outvis):
            raise PipelineStandinError('%s: %s already exists' % (task, outvis))
        found.append((eb, asdm, outvis))
    return products, found


def hifa_restoredata(vis, session=None, products_dir='../products',
                     rawdata_dir='../rawdata', ocorr_mode='ca', **kwargs):
    """Restore the calibrated visibilities of the given EBs (stand-in).

    Runs in the current directory, which should be ``calibrated/working``.
    For each EB the ASDM ``<rawdata_dir>/<eb>.asdm.sdm`` (or ``<rawdata_dir>/<eb>``,
    the name ALMA's scriptForPIs give its link) must exist and
    ``products_dir`` must be a directory; then ``<eb>.ms`` is simulated
    with :func:`casa_plugin.testing.synthetic_ms.make_eb_ms` and a flag version
    is saved in ``<eb>.ms.flagversions``.

    Parameters
    ----------
    vis : str or list of str
        EB uids (or ASDM / MS names) to restore.
    session : list of str, optional
        Session of each EB; checked for length only.
    products_dir : str, optional
        Directory of the calibration products (``../products``).
    rawdata_dir : str, optional
        Directory holding the ASDMs (``../rawdata``).
    ocorr_mode : str, optional
        Correlation mode; only ``'ca'`` (cross + auto) is accepted, as for ALMA.
    **kwargs
        Other pipeline arguments, accepted and ignored.

    Returns
    -------
    list of str
        Absolute paths of the restored measurement sets.

    Raises
    ------
    PipelineStandinError
        If products or ASDMs are missing, or an MS already exists.
    """
    products, found = check_restore_args('hifa_restoredata', vis, session, ocorr_mode, 'ca', products_dir,
                                         rawdata_dir)
    plan = []
    for eb, asdm, outvis in found:
        real = real_workload.is_real_asdm(asdm)  # a real ASDM: restore it with CASA's tasks
        plan.append((eb, outvis, None if real else _read_params(asdm, eb), asdm,
                     _session_of(session, len(plan))))
    from . import synthetic_ms
    restored = []
    for eb, outvis, params, asdm, sess in plan:
        LOG.info('hifa_restoredata (pipeline stand-in): restoring %s', eb)
        start = time.time()
        if params is None:
            real_workload.restore_eb(asdm, outvis, products, sess)
        else:
            skip = params.pop(SKIP_APPLYCAL, None)
            synthetic_ms.make_eb_ms(outvis, **params)
            if skip:
                _undo_applycal(outvis, skip)
            _save_flag_version(outvis)
        LOG.info('hifa_restoredata (pipeline stand-in): %s restored in %.1f s',
                 outvis, time.time() - start)
        restored.append(outvis)
        _STATE['restored'].append(eb)
    return restored


def hif_mstransform(vis=None, outputvis=None, **kwargs):
    """Split the target data of each restored EB into ``<eb>_targets.ms`` in the cwd (stand-in).

    As the pipeline's hif_mstransform does by default: the science spws
    (OBSERVE_TARGET, more than 4 channels) of the corrected column, ids kept
    (``reindex=False``).  ``vis`` defaults to the EBs this session's
    :func:`hifa_restoredata` restored; ``outputvis`` to ``<eb>_targets.ms``.

    Returns
    -------
    list of str
        The MSs written.
    """
    from casatasks import mstransform
    from casatools import msmetadata
    names = [_eb_name(v) for v in ([vis] if isinstance(vis, str) else vis or _STATE['restored'])]
    outs = [outputvis] if isinstance(outputvis, str) else list(outputvis or [n + '_targets.ms' for n in names])
    for name, out in zip(names, outs):
        msmd = msmetadata()
        try:
            msmd.open(name + '.ms')
            spws = [str(s) for s in msmd.spwsforintent('OBSERVE_TARGET*') if msmd.nchan(s) > 4]
        finally:
            msmd.done()
        mstransform(vis=name + '.ms', outputvis=out, intent='OBSERVE_TARGET*', spw=','.join(spws),
                    datacolumn='corrected', reindex=False)
        LOG.info('hif_mstransform (pipeline stand-in): %s', out)
    return outs


def _not_reproduced(task, what):
    LOG.warning('%s (pipeline stand-in): not reproduced; %s', task, what)


def hifa_flagtargets(**kwargs):
    """Stand-in: logs that the target flagging (a flag template) is not reproduced, and does nothing."""
    _not_reproduced('hifa_flagtargets', 'no target data are flagged')


def hif_uvcontfit(**kwargs):
    """Stand-in: logs that the continuum fit is not reproduced, and does nothing."""
    _not_reproduced('hif_uvcontfit', 'no continuum is fitted')


def hif_uvcontsub(**kwargs):
    """Stand-in: logs that the continuum subtraction is not reproduced, and does nothing."""
    _not_reproduced('hif_uvcontsub', 'no continuum is subtracted: the *_targets.ms hold the calibrated data')


def load_into(namespace):
    """Put the stand-in pipeline functions into a CASA-like namespace.

    This mimics what ``casa --pipeline`` makes available to scripts.

    Parameters
    ----------
    namespace : dict
        Namespace (e.g. the globals of an ``exec``) to update in place.

    Returns nothing, so ``load_into(globals())`` at the prompt prints nothing.
    """
    from .sd_standin import hsd_restoredata  # total-power members (imports this module: here, not at the top)
    namespace['h_init'] = h_init
    namespace['hifa_restoredata'] = hifa_restoredata
    namespace['hsd_restoredata'] = hsd_restoredata
    namespace['h_save'] = h_save
    for task in (hif_mstransform, hifa_flagtargets, hif_uvcontfit, hif_uvcontsub):  # DOCONTSUB's stages
        namespace[task.__name__] = task


def load_for_recipe(pipeline, namespace):
    """Load the stand-in into ``namespace`` if a recipe's ``PIPELINE`` setting asks for it.

    ``recipes/restore_and_split.py PROJECT PIPELINE=standin`` under the
    venv's casashell, whose ``--pipeline`` loads nothing: the restore then
    uses this stand-in, as ``load_into(globals())`` at the prompt does.

    Parameters
    ----------
    pipeline : None or str
        None: the pipeline CASA was started with (``casa --pipeline``);
        ``'standin'``: this stand-in.
    namespace : dict
        The CASA prompt's namespace (``casa_plugin.prompt.session.namespace()``).

    Returns
    -------
    str or None
        A line for the recipe to print when the stand-in was loaded.

    Raises
    ------
    ValueError
        For another value, or ``'standin'`` in a CASA whose pipeline is loaded.
    """
    from ..logs import mark_task
    if pipeline is None:
        return None
    if pipeline != 'standin':
        raise mark_task(ValueError(
            "PIPELINE=%r: leave it unset for the pipeline CASA was started with (casa --pipeline), or give "
            "PIPELINE=standin for casa_plugin's test stand-in (synthetic deliveries only)" % (pipeline,)), 'recipe')
    loaded = namespace.get('h_init')
    if loaded is not None and loaded is not h_init:
        raise mark_task(ValueError(
            "PIPELINE='standin': this CASA has the ALMA pipeline loaded (casa --pipeline); leave PIPELINE "
            "unset to restore with it"), 'recipe')
    load_into(namespace)
    return ("PIPELINE='standin': restoring with casa_plugin's test stand-in for the ALMA pipeline (%s); it "
            "restores synthetic deliveries only: never use it on real data" % os.path.abspath(__file__))


def restore_with_standin(member, **kwargs):
    """Run ``restore_pi(member=member, **kwargs)`` with this stand-in as the loaded pipeline.

    For the synthetic deliveries of the tests, benchmark and demo only: the
    namespace restore_pi looks in is put back afterwards.
    """
    from ..prompt import session
    from ..restore import restore_pi
    saved = list(session._remembered)
    namespace = {'__name__': '__main__'}
    load_into(namespace)
    session.remember(namespace)
    try:
        return restore_pi(member=member, **kwargs)
    finally:
        session._remembered[:] = saved
