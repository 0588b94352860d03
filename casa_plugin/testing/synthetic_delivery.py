"""Build a synthetic ALMA data delivery (project/science goal/group/member tree) for tests and demos."""

import glob
import gzip
import io
import json
import argparse
import logging
import os
import sys
import shutil
import tarfile

from . import pipeline_standin, presets

__all__ = ['PROJECT_CODE', 'SGOUS_UID', 'GOUS_UID', 'MEMBERS', 'GENERATIONS',
           'make_delivery', 'make_python2_member', 'make_manually_imaged', 'member_ebs', 'main']

LOG = logging.getLogger(__name__)

PROJECT_CODE = '2021.1.00690.S'
SGOUS_UID = 'uid___A001_X15a2_Xb69'
GOUS_UID = 'uid___A001_X15a2_Xb6a'
#: (MOUS uid, EB uids, sessions) of the full delivery: TM1 (6 EBs), TM2 (2 EBs).
MEMBERS = (
    ('uid___A001_X15a2_Xb6b',
     ('uid___A002_Xf9a1c3_X1b2e', 'uid___A002_Xf9a1c3_X2f71',
      'uid___A002_Xf9b2d4_X8c1', 'uid___A002_Xf9c0e5_X4a37',
      'uid___A002_Xf9c0e5_X59d0', 'uid___A002_Xf9d7a2_Xe15'),
     ('session_1', 'session_1', 'session_2', 'session_3', 'session_3',
      'session_4')),
    ('uid___A001_X15a2_Xb6d',
     ('uid___A002_Xf7ad58_Xd406', 'uid___A002_Xf8f6a9_X15c79'),
     ('session_1', 'session_1')),
)
#: Per-EB departures from the default make_eb_ms parameters.
_EB_VARIANTS = {
    'uid___A002_Xf9a1c3_X1b2e': {'ntargets': 2},
    'uid___A002_Xf9c0e5_X4a37': {'off_source_scan': True},
    'uid___A002_Xf8f6a9_X15c79': {'off_source_scan': True},
}
_SMALL = {'nant': 4, 'nchan': 64, 'nint': 2}
_FULL = {'nant': 6, 'nchan': 64, 'nint': None}
_TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'templates')
_RAW_PARAMS = pipeline_standin.PARAMS_FILENAME
_PIPESCRIPT_HEADER = ('# This CASA pipescript is meant for use with CASA %s '
                      'and pipeline %s')
_PIPELINE_VERSION = '2021.2.0.128'

#: scriptForPI generations a member can get (``make_delivery(generation=...)``); each template's header
#: cites what it reproduces.  ``script``: the scriptForPI template; ``recipe``: the recipe in the names of the
#: restore script and pipescript (None: ``member.<mous>.casa_piperestorescript.py``); ``restore_head``: the
#: restore script's lines before ``try:``; ``casa``/``pipeline``: the versions the delivery names (None: the
#: running CASA, so it restores here); ``python``: the language of its scriptForPI.
GENERATIONS = {
    '2018': {'script': 'scriptForPI_2018.txt', 'recipe': None, 'python': 2,
             'restore_head': ('from recipes.almahelpers import fixsyscaltimes # SACM/JAO - Fixes\n'
                              '__rethrow_casa_exceptions = True\nh_init()\n'),
             'casa': '5.1.1-5', 'pipeline': '40896 (Pipeline-CASA51-P2-B)'},
    '2022': {'script': 'scriptForPI.py', 'recipe': 'hifa_calimage', 'python': 3,
             'restore_head': '__rethrow_casa_exceptions = True\nh_init()\n',
             'casa': None, 'pipeline': _PIPELINE_VERSION},
    '2023': {'script': 'scriptForPI_2023.txt', 'recipe': 'hifa_calimage', 'python': 3,
             'restore_head': 'h_init()\n', 'casa': None, 'pipeline': '2023.1.0.124'},
}
_DEFAULT_GENERATION = '2022'


def running_casa_version():
    """Return the running casatools version as ``X.Y.Z`` (what a delivery made for it would state)."""
    from ..casa import casa_version  # not casatools.version_string(): '' in casatools 6.5.6 and 6.6.0
    return '.'.join(casa_version().split('.')[:3])


def _entity(uid):
    """Return the ``uid://A002/X.../X...`` form of an ``uid___A002_X_X`` name."""
    return 'uid://' + uid[len('uid___'):].replace('_', '/')


def _next_uid(uid):
    """Return ``uid`` with its last (hex) part incremented (the SB of a MOUS)."""
    head, tail = uid.rsplit('_X', 1)
    return '%s_X%x' % (head, int(tail, 16) + 1)


def _template(name, **subs):
    """Read template ``name`` and replace each ``@KEY@`` by ``subs[KEY]``."""
    with open(os.path.join(_TEMPLATES, name)) as handle:
        text = handle.read()
    for key, value in subs.items():
        text = text.replace('@%s@' % key, value)
    return text


def _write(path, text):
    """Write ``text`` to ``path``."""
    with open(path, 'w') as handle:
        handle.write(text)


def _write_tgz(path, members):
    """Write a deterministic tar.gz holding ``{name: text}`` members."""
    with open(path, 'wb') as raw:
        with gzip.GzipFile(filename='', mode='wb', fileobj=raw, mtime=0) as gz:
            with tarfile.open(fileobj=gz, mode='w') as tar:
                for name in sorted(members):
                    data = members[name].encode('utf-8')
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    info.mtime = 1640995200
                    tar.addfile(info, io.BytesIO(data))


def _write_fits(path, obj):
    """Write a minimal valid (header-only) FITS file."""
    cards = ['SIMPLE  =                    T', 'BITPIX  =                    8',
             'NAXIS   =                    0', "OBJECT  = '%s'" % obj,
             "ORIGIN  = 'casa_plugin synthetic delivery (placeholder)'", 'END']
    header = ''.join(card.ljust(80) for card in cards)
    with open(path, 'wb') as handle:
        handle.write(header.ljust(2880).encode('ascii'))


def _eb_params(eb, index, small, eb_bytes, seed, nant, preset=None, size_gb=None):
    """Return the make_eb_ms parameters of EB ``eb`` (number ``index``)."""
    if preset is not None:  # the preset fixes the shape: no small/full variants
        params = {'eb_uid': eb, 'seed': int(seed) * 1000 + index, 'preset': preset,
                  'size_gb': None if size_gb is None else float(size_gb)}
        if nant is not None:
            params['nant'] = int(nant)
        return params
    params = dict(_SMALL if small else _FULL)
    if nant is not None:
        params['nant'] = int(nant)
    params.update({'eb_uid': eb, 'seed': int(seed) * 1000 + index,
                   'target_bytes': eb_bytes, 'ntargets': 1,
                   'off_source_scan': False, 'intent_separator': '#'})
    if eb_bytes is not None:
        params['nint'] = None
    params.update(_EB_VARIANTS.get(eb, {}))
    return params


def _new_uid(uid, taken):
    """Return the first uid after ``uid`` (last hex part + 1, + 2, ...) that is not in ``taken``."""
    while uid in taken:
        uid = _next_uid(uid)
    taken.add(uid)
    return uid


def member_ebs(small=False, members=None, ebs=None):
    """Return the (MOUS uid, EB uids, sessions) of each member of the delivery.

    Parameters
    ----------
    small : bool, optional
        If True (and ``ebs`` is not given), member ``uid___A001_X15a2_Xb6b``
        keeps only its first EB.
    members : int, optional
        Number of members (default 2, the delivery's own); members past the
        second get new uids.
    ebs : int, optional
        EBs per member (default: 6 and 2, the delivery's own); EBs past a
        member's own get new uids, one session each.

    Returns
    -------
    list of tuple
        ``(mous_uid, [eb_uid, ...], [session, ...])`` per member.

    Raises
    ------
    ValueError
        If ``members`` or ``ebs`` is less than 1.
    """
    for name, value in (('members', members), ('ebs', ebs)):
        if value is not None and int(value) < 1:
            raise ValueError('%s=%r: give at least 1' % (name, value))
    nmembers = len(MEMBERS) if members is None else int(members)
    taken = set(uid for mous, uids, _ in MEMBERS for uid in (mous, _next_uid(mous)) + tuple(uids))
    out = []
    for index in range(nmembers):
        if index < len(MEMBERS):
            mous, own, sessions = MEMBERS[index]
        else:  # a new member: MOUS uid and its SB uid (the next one), then its EBs
            mous = _new_uid(MEMBERS[-1][0], taken)
            taken.add(_next_uid(mous))
            own, sessions = (), ()
        own, sessions = list(own), list(sessions)
        if ebs is None and small and len(own) > 2:
            own, sessions = own[:1], sessions[:1]
        elif ebs is not None:
            own, sessions = own[:int(ebs)], sessions[:int(ebs)]
            last = own[-1] if own else 'uid___A002_Xfa%04x_X1' % index
            while len(own) < int(ebs):
                last = _new_uid(last, taken)
                own.append(last)
                sessions.append('session_%d' % (len(set(sessions)) + 1))
        out.append((mous, own, sessions))
    return out


def _ppr_commands():
    """The PPR's ProcessingCommand lines: the hifa_calimage recipe's tasks, one per line, as the pipescript runs them.

    A real PPR lists its commands as ``ProcessingProcedure/ProcessingCommand``
    with ``Command`` and ``ParameterSet`` (r-xue/pipeline,
    ``pipeline/infrastructure/executeppr.py``, ``_getCommands``); ALMA's
    scriptForPI counts the lines naming ``hif_makeimages`` (three here).
    """
    text = _template('casa_pipescript.txt').split('try:\n', 1)[1].split('finally:', 1)[0]
    return ''.join('        <ProcessingCommand><Command>%s</Command><ParameterSet/></ProcessingCommand>\n'
                   % line.strip().split('(')[0] for line in text.splitlines() if line.strip())


def _ppr_xml(mous, ebs, sessions, subs):
    """Return a pipeline processing request (PPR) XML listing the EBs and the recipe's commands."""
    sets = ''.join(
        '        <AsdmIdentifier>\n'
        '          <AsdmRef><ExecBlockId>%s</ExecBlockId></AsdmRef>\n'
        '          <AsdmDiskName>%s</AsdmDiskName>\n'
        '          <SessionName>%s</SessionName>\n'
        '        </AsdmIdentifier>\n' % (_entity(eb), eb, session)
        for eb, session in zip(ebs, sessions))
    return _template('pprequest.xml', ASDM_IDENTIFIERS=sets, PROCESSING_COMMANDS=_ppr_commands(),
                     SGOUS_ENTITY=_entity(SGOUS_UID), MOUS_ENTITY=_entity(mous),
                     SB_ENTITY=_entity(_next_uid(mous)), **subs)


def _restore_script(ebs, sessions, head=GENERATIONS[_DEFAULT_GENERATION]['restore_head']):
    """Return the casa_piperestorescript text for the EBs (``head``: its lines before ``try:``)."""
    return head + ('try:\n'
                   "    hifa_restoredata (vis=%r, session=%r, ocorr_mode='ca')\n"
                   'finally:\n'
                   '    h_save()\n' % (list(ebs), list(sessions)))


def _manifest_xml(mous, subs, aux):
    """Return a pipeline manifest naming the CASA and pipeline versions and the auxproducts tar file."""
    return ('<?xml version="1.0" ?>\n<piperesults name="%s">\n  <ous name="%s">\n'
            '    <casaversion name="%s"/>\n    <pipeline_version name="%s"/>\n'
            '    <aux_products_file name="%s"/>\n  </ous>\n</piperesults>\n'
            % (subs['PROJECT_CODE'], mous, subs['CASA_VERSION'], subs['PIPELINE_VERSION'], aux))


def _imaged(imaged, nmembers):
    """Return whether each of ``nmembers`` members was imaged by the pipeline (``imaged``: a bool or one per member)."""
    values = [imaged] * nmembers if isinstance(imaged, bool) else list(imaged)
    if len(values) != nmembers or not all(isinstance(v, bool) for v in values):
        raise ValueError('imaged=%r: give True or False, or one of them per member (%d members)' % (imaged, nmembers))
    return values


def make_manually_imaged(member):
    """Make a member of a synthetic delivery one the pipeline did not image: its analyst imaged it by hand.

    Writes ``script/member.<mous>.scriptForImaging.py`` with uncommented
    lines (a concat and tclean of the ``.split.cal``), as such a delivery
    holds; ALMA's scriptForPI (2022, 2023) then splits the science spws of
    every EB itself, DOSPLIT or not. Test deliveries only.

    Returns
    -------
    str
        The path of the scriptForImaging written.
    """
    mous = os.path.basename(os.path.normpath(member))[len('member.'):]
    path = os.path.join(member, 'script', 'member.%s.scriptForImaging.py' % mous)
    _write(path, '# ALMA imaging script of %s (casa_plugin synthetic: imaged by hand, not by the pipeline)\n'
                 'import glob\n'
                 "vislist = sorted(glob.glob('../calibrated/uid*.ms.split.cal'))\n"
                 "concat(vis=vislist, concatvis='calibrated_final.ms')\n"
                 "tclean(vis='calibrated_final.ms', imagename='NGC6334I_sci.spw1_3_5_7.cont.I.manual',\n"
                 "       field='NGC6334I', specmode='mfs', imsize=[128, 128], cell='0.1arcsec', niter=0)\n" % mous)
    return path


def _generations(generation, nmembers):
    """Return the generation of each of ``nmembers`` members (``generation``: None, a name or one per member)."""
    if generation is None or isinstance(generation, str):
        names = [generation or _DEFAULT_GENERATION] * nmembers
    else:
        names = list(generation)
        if len(names) != nmembers:
            raise ValueError('generation=%r: give one name, or one per member (%d members)'
                             % (generation, nmembers))
    unknown = sorted(set(n for n in names if n not in GENERATIONS))
    if unknown:
        raise ValueError('generation %s: unknown; give one of %s' % (', '.join(map(repr, unknown)),
                                                                     ', '.join(sorted(GENERATIONS))))
    return names


def antenna_xml(names, dish):
    """The ``Antenna.xml`` of a synthetic ASDM stub: each antenna's name and dish diameter (m), as a real one has."""
    rows = ''.join('  <row>\n    <antennaId> Antenna_%d </antennaId>\n    <name> %s </name>\n'
                   '    <dishDiameter> %.1f </dishDiameter>\n  </row>\n' % (i, name, dish)
                   for i, name in enumerate(names))
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<!-- casa_plugin synthetic ASDM: its antennas only -->\n'
            '<AntennaTable xmlns="http://Alma/XASDM/AntennaTable">\n%s</AntennaTable>\n' % rows)


def _antenna_xml(params):
    """A stub's Antenna.xml for its EB parameters (12 m DA antennas; CM ones for the alma7m preset), so a
    member's array is read before its restore (``casa_plugin.arrays``)."""
    if params.get('preset') == 'alma7m':
        return antenna_xml(['CM%02d' % (i + 1) for i in range(int(params.get('nant') or 12))], 7.0)
    return antenna_xml(['DA%02d' % (41 + i) for i in range(int(params.get('nant') or 43))], 12.0)


def _asdm_xml(eb):
    """Return the ASDM.xml stub of a synthetic ASDM."""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<!-- casa_plugin synthetic ASDM: no raw data; the pipeline stand-in '
            'simulates the MS from %s -->\n'
            '<ASDM xmlns="http://Alma/XASDM/ASDM" schemaVersion="3">\n'
            '  <Entity entityId="%s" entityIdEncrypted="na" '
            'entityTypeName="ASDM" schemaVersion="3" documentVersion="1"/>\n'
            '  <Table><Name>Main</Name><NumberRows>0</NumberRows></Table>\n'
            '</ASDM>\n' % (_RAW_PARAMS, _entity(eb)))


def _calapply(eb):
    """Return a plausible ``<eb>.ms.calapply.txt``."""
    tables = ['hifa_bandpass.s16_5.spw1_3_5_7.channel.solintinf.tbl',
              'hifa_timegaincal.s18_2.spw1_3_5_7.solintint.gpcal.tbl',
              'hifa_gfluxscale.s17_3.spw1_3_5_7.solintinf.gacal.tbl']
    gaintable = ', '.join("'%s.ms.%s'" % (eb, tbl) for tbl in tables)
    return ''.join("applycal(vis='%s.ms', field='%s', intent='', spw='1,3,5,7', "
                   "antenna='0~5', gaintable=[%s], calwt=[True, True, True])\n"
                   % (eb, field, gaintable)
                   for field in ('J1924-2914', 'J1733-1304', 'NGC6334I'))


def _write_member(member, mous, ebs, sessions, params, versions, real=False, generation=_DEFAULT_GENERATION,
                  imaged=True):
    """Create all files of one member OUS directory (with real ASDMs and tables if ``real``; see make_delivery)."""
    for sub in ('script', 'raw', 'calibration', 'product', 'qa', 'log'):
        os.makedirs(os.path.join(member, sub))
    prefix = 'member.' + mous
    kind = GENERATIONS[generation]
    if kind['casa']:  # a generation this CASA cannot run: the delivery names its own versions
        versions = (kind['casa'], kind['pipeline'])
    elif versions[1] == _PIPELINE_VERSION:
        versions = (versions[0], kind['pipeline'])
    scripts = prefix + ('.%s' % kind['recipe'] if kind['recipe'] else '')
    subs = {'MOUS_UID': mous, 'PROJECT_CODE': PROJECT_CODE, 'GOUS_UID': GOUS_UID,
            'CASA_VERSION': versions[0], 'PIPELINE_VERSION': versions[1],
            'SGOUS_UID': SGOUS_UID,
            'EB_LIST': '\n'.join('                   %s.asdm.sdm' % eb for eb in ebs),
            'EB_VIS_LIST': repr(list(ebs)), 'SESSION_LIST': repr(list(sessions))}
    _write(os.path.join(member, 'README'), _template('README.txt', **subs))
    script = os.path.join(member, 'script')
    _write(os.path.join(script, prefix + '.scriptForPI.py'),
           _template(kind['script'], **subs))
    _write(os.path.join(script, prefix + '.hifa_calimage.pprequest.xml'),
           _ppr_xml(mous, ebs, sessions, subs))
    _write(os.path.join(script, scripts + '.casa_piperestorescript.py'),
           _restore_script(ebs, sessions, kind['restore_head']))
    pipescript = _template('casa_pipescript.txt', **subs).split('\n', 1)[1]
    if kind['python'] == 2:  # no version line yet: the manifest names the versions
        pipescript = kind['restore_head'].replace('h_init()\n', '') + pipescript
        _write(os.path.join(script, scripts + '.pipeline_manifest.xml'), _manifest_xml(
            mous, subs, prefix + '.hifa_calimage.auxproducts.tgz'))
    else:
        pipescript = _PIPESCRIPT_HEADER % (subs['CASA_VERSION'], subs['PIPELINE_VERSION']) + '\n' + pipescript
    _write(os.path.join(script, scripts + '.casa_pipescript.py'), pipescript)
    calib = os.path.join(member, 'calibration')
    for eb in ebs:
        asdm = os.path.join(member, 'raw', eb + '.asdm.sdm')
        os.mkdir(asdm)
        _write(os.path.join(asdm, 'ASDM.xml'), _asdm_xml(eb))
        _write(os.path.join(asdm, 'Antenna.xml'), _antenna_xml(params[eb]))
        with open(os.path.join(asdm, _RAW_PARAMS), 'w') as handle:
            json.dump(params[eb], handle, indent=1, sort_keys=True)
        _write(os.path.join(calib, eb + '.ms.calapply.txt'), _calapply(eb))
        _write_tgz(os.path.join(calib, eb + '.ms.flagversions.tgz'), {
            eb + '.ms.flagversions/FLAG_VERSION_LIST':
                'Pipeline_Final : Flagging state at the end of the pipeline\n',
            eb + '.ms.flagversions/flags.Pipeline_Final/table.info':
                'Type = Measurement Set flag version\n'})
    for session in sorted(set(sessions)):
        _write_tgz(os.path.join(calib, '%s.%s.caltables.tgz' % (prefix, session)), {
            '%s.ms.hifa_bandpass.s16_5.spw1_3_5_7.channel.solintinf.tbl/table.info'
            % eb: 'Type = Calibration\nSubType = B Jones\n'
            for eb, sess in zip(ebs, sessions) if sess == session})
    if real:  # real ASDMs, calibration tables and flag versions instead of the stubs
        from . import real_workload
        real_workload.make_member_real(member, prefix, ebs, sessions, params)
    _write_tgz(os.path.join(calib, prefix + '.hifa_calimage.auxproducts.tgz'), {
        'cont.dat': 'Field: NGC6334I\n\nSpectralWindow: 1\n231.0~231.2GHz LSRK\n',
        'flux.csv': 'ms,field,spw,I,Q,U,V,spix,uvmin,uvmax,comment\n' + ''.join(
            '%s.ms,0,1,3.0,0,0,0,-0.6,0,0,"# synthetic"\n' % eb for eb in ebs),
        'antennapos.csv': 'name,antenna,xoff,yoff,zoff,comment\n'})
    product = os.path.join(member, 'product')
    for kind in ('cont', 'cube'):
        _write_fits(os.path.join(product, '%s.NGC6334I_sci.spw1_3_5_7.%s.I.pbcor.fits'
                                 % (prefix, kind)), 'NGC6334I')
    if not imaged:
        make_manually_imaged(member)
    qa = os.path.join(member, 'qa')
    _write(os.path.join(qa, prefix + '.qa2_report.pdf'),
           'Placeholder QA2 report of %s (synthetic delivery; not a PDF).\n' % mous)
    _write_tgz(os.path.join(qa, prefix + '.hifa_calimage.weblog.tgz'), {
        'pipeline-20211201T000000/html/index.html':
            '<html><body>Synthetic weblog of %s</body></html>\n' % mous})
    _write(os.path.join(member, 'log', prefix + '.hifa_calimage.casa_commands.log'),
           ''.join("importasdm(asdm='../rawdata/%s', vis='%s.ms', ocorr_mode='ca')\n"
                   % (eb, eb) for eb in ebs) + ''.join(_calapply(eb) for eb in ebs))


def make_python2_member(member, casa_version='5.4.0-70', pipeline_version='42254M (Pipeline-CASA54-P1-B)'):
    """Make a member of a synthetic delivery a Cycle 5-6 one: a Python 2 scriptForPI for CASA 5.

    The scriptForPI becomes ``templates/scriptForPI_py2.txt`` (see its header)
    and the pipescript's first line names ``casa_version`` and
    ``pipeline_version`` (default: Cycle 6's CASA 5.4.0 and its pipeline).
    """
    mous = os.path.basename(member)[len('member.'):]
    script = os.path.join(member, 'script')
    _write(os.path.join(script, 'member.%s.scriptForPI.py' % mous),
           _template('scriptForPI_py2.txt', MOUS_UID=mous, PROJECT_CODE=PROJECT_CODE))
    for path in glob.glob(os.path.join(script, '*casa_pipescript.py')):
        with open(path) as handle:
            rest = handle.read().split('\n', 1)[1]
        _write(path, _PIPESCRIPT_HEADER % (casa_version, pipeline_version) + '\n' + rest)


def make_delivery(root, small=False, eb_bytes=None, seed=0, nant=None, casa_version=None,
                  pipeline_version=_PIPELINE_VERSION, members=None, ebs=None, preset=None,
                  size_gb=None, asdm=False, generation=None, imaged=True):
    """Build a synthetic ALMA delivery of project 2021.1.00690.S under ``root``.

    The tree is ``root/2021.1.00690.S/science_goal.*/group.*/member.*/`` with
    members ``uid___A001_X15a2_Xb6b`` (6 EBs) and ``uid___A001_X15a2_Xb6d``
    (2 EBs), each with README, script/, raw/, calibration/, product/, qa/ and
    log/ like a real download.  The ASDMs in raw/ are stubs holding the
    :func:`casa_plugin.testing.synthetic_ms.make_eb_ms` parameters; the measurement
    sets are only simulated when the scriptForPI runs the pipeline stand-in,
    so building a delivery is instant.  From the shell (see :func:`main`)::

        python -m casa_plugin.testing.synthetic_delivery /tmp/try --members 2 --ebs 3

    Sizes: an EB restores to about 2 MB with ``small`` (4 antennas, 2
    integrations per scan), about 6 MB by default (6 antennas, 8
    integrations), or about ``eb_bytes`` each; each of the 4 science spws has
    64 channels.  With ``preset`` (``'alma12m'``, ``'alma7m'``, ``'wsu'``;
    see :mod:`casa_plugin.testing.presets`) every EB has that preset's shape
    and restores to ``size_gb`` each (default the preset's smallest EB).

    Parameters
    ----------
    root : str
        Directory to build in (created if missing).
    small : bool, optional
        If True, member Xb6b has a single EB and all EBs are tiny.
    eb_bytes : float, optional
        Approximate size of each restored MS (make_eb_ms ``target_bytes``).
    seed : int, optional
        Base seed; EB number ``i`` (0-7, in the full delivery's order) uses
        ``seed * 1000 + i``, in both variants.
    nant : int, optional
        Number of antennas (default 4 if ``small`` else 6).
    casa_version, pipeline_version : str, optional
        The versions the delivery's ``*casa_pipescript.py`` says it was made
        with; by default the running CASA's version (so it restores here).
    members, ebs : int, optional
        Number of members, and of EBs per member (see :func:`member_ebs`);
        by default the delivery's own 6 + 2 EBs (1 + 2 with ``small``).
    preset : str, optional
        ALMA-shaped EBs of this preset instead of the small-row generator's
        (``small`` then only selects the members' EBs; ``eb_bytes`` and the
        per-EB variants do not apply).
    size_gb : float, optional
        Size of each restored EB of ``preset`` in GB (within 10 %).
    asdm : bool, optional
        If True, raw/ holds real ASDMs (CASA's exportasdm of each simulated EB,
        its DATA corrupted by known gains) and calibration/ real tables solved
        with CASA's tasks, a real ``Pipeline_Final`` flag version and the
        ``calapply.txt`` listings (see :mod:`casa_plugin.testing.real_workload`);
        building then takes seconds per EB, and the stand-in restores with
        importasdm and applycal.
    generation : str or sequence of str, optional
        The scriptForPI generation of every member (``'2018'``, ``'2022'``,
        ``'2023'``; default ``'2022'``), or one per member in order (a
        programme mixing years).  Each is a template in ``templates/`` with
        the restore script, pipescript and files of its year; its header cites
        the public sources of each difference (see :data:`GENERATIONS`).  A
        ``'2018'`` member is Python 2 for CASA 5.1 (its pipeline manifest names
        ``5.1.1-5``), so only a CASA 5 can restore it.
    imaged : bool or sequence of bool, optional
        Whether the pipeline imaged the member (default True), or one value
        per member. True: its PPR lists the hifa_calimage commands (
        ``hif_makeimages`` three times), product/ holds ``*_sci.spw*.fits``
        and there is no scriptForImaging, so the scriptForPI (2022 and 2023
        alike) links ``calibrated/<eb>.ms`` into ``working/`` unless DOSPLIT.
        False: the member also holds a scriptForImaging.py with uncommented
        lines (see :func:`make_manually_imaged`), so the scriptForPI always
        splits the science spws into ``calibrated/<eb>.ms.split.cal`` (spw ids
        kept) and leaves ``<eb>.ms`` in ``calibrated/working/``.

    Returns
    -------
    dict
        ``{'project': project_path, 'members': {member_path: [eb_uid, ...]}}``.

    Raises
    ------
    FileExistsError
        If ``root/2021.1.00690.S`` already exists.
    ValueError
        If ``members`` or ``ebs`` is less than 1, the preset, its
        ``nant`` or ``size_gb`` is not possible (see
        :func:`casa_plugin.testing.presets.describe`), or a generation is
        unknown or not one per member, or ``imaged`` is not a bool or one
        per member.
    """
    if preset is not None:
        presets.describe(preset, size_gb, nant=nant)  # ValueError now, not at restore time
        if eb_bytes is not None:
            raise ValueError('eb_bytes is for the small-row EBs; give size_gb with preset=%r' % preset)
    elif size_gb is not None:
        raise ValueError('size_gb needs a preset (alma12m, alma7m, wsu); use eb_bytes (--eb-mb) otherwise')
    project = os.path.join(os.path.abspath(root), PROJECT_CODE)
    if os.path.lexists(project):
        raise FileExistsError('delivery already exists: %s' % project)
    group = os.path.join(project, 'science_goal.' + SGOUS_UID, 'group.' + GOUS_UID)
    versions = (casa_version or running_casa_version(), pipeline_version)
    layout = member_ebs(small, members, ebs)
    generations = _generations(generation, len(layout))
    imaged = _imaged(imaged, len(layout))
    members = {}
    # EB number in the full delivery: an EB gets the same seed in both variants; new EBs follow.
    numbers = dict((eb, i) for i, eb in enumerate(
        eb for _, ebs, _ in MEMBERS for eb in ebs))
    for _, ebs, _ in layout:
        for eb in ebs:
            numbers.setdefault(eb, len(numbers))
    try:
        for (mous, ebs, sessions), kind, by_pipeline in zip(layout, generations, imaged):
            member = os.path.join(group, 'member.' + mous)
            params = dict((eb, _eb_params(eb, numbers[eb], small, eb_bytes,
                                          seed, nant, preset, size_gb)) for eb in ebs)
            _write_member(member, mous, ebs, sessions, params, versions, real=asdm, generation=kind,
                          imaged=by_pipeline)
            members[member] = list(ebs)
    except Exception:
        shutil.rmtree(project, ignore_errors=True)
        raise
    LOG.info('built synthetic delivery %s (%d members, %d EBs)', project,
             len(members), sum(len(ebs) for ebs in members.values()))
    return {'project': project,
            'members': dict((key, members[key]) for key in sorted(members))}


def main(argv=None):
    """Build a synthetic delivery from the command line; print where it is and what it holds.

    ``python -m casa_plugin.testing.synthetic_delivery ROOT [--members N] [--ebs N]
    [--eb-mb MB] [--small] [--nant N] [--seed N] [--preset NAME [--size-gb GB]]
    [--generation YEAR] [--not-imaged] [--restored]`` builds
    ``ROOT/2021.1.00690.S``; ``--restored`` also restores it with the
    pipeline stand-in (real CASA tasks), so the splits can be tried at once.

    Returns
    -------
    int
        0 on success, 2 on a bad argument or an existing delivery.
    """
    parser = argparse.ArgumentParser(
        prog='python -m casa_plugin.testing.synthetic_delivery',
        description='Build a synthetic ALMA delivery (project %s) under ROOT to try casa_plugin on. '
                    'The measurement sets are simulated with casatools when the delivery is restored '
                    '(restore_pi with the pipeline stand-in, or --restored).' % PROJECT_CODE)
    parser.add_argument('root', help='directory to build in (created if missing); the delivery is '
                                     'ROOT/%s' % PROJECT_CODE)
    parser.add_argument('--members', type=int, default=None,
                        help='number of members (default 2)')
    parser.add_argument('--ebs', type=int, default=None,
                        help='EBs per member (default 6 and 2; 1 and 2 with --small)')
    parser.add_argument('--eb-mb', type=float, default=None,
                        help='approximate size of each restored EB in MB (default ~6, ~2 with --small)')
    parser.add_argument('--small', action='store_true', help='tiny EBs (4 antennas, 2 integrations)')
    parser.add_argument('--nant', type=int, default=None, help='number of antennas (default 6; 4 with --small)')
    parser.add_argument('--seed', type=int, default=0, help='base seed of the simulated data (default 0)')
    parser.add_argument('--preset', choices=sorted(presets.PRESETS), default=None,
                        help='ALMA-shaped EBs: alma12m (43 antennas, 4 x 1920 channels, 6.048 s), '
                             'alma7m (12 antennas, 4 x 2048, 10.08 s), wsu (43 antennas, 4 x 16384, 3.072 s)')
    parser.add_argument('--size-gb', type=float, default=None,
                        help='size of each restored EB of --preset in GB (default the preset\'s smallest: '
                             'alma12m ~3.9, alma7m ~0.34, wsu ~32)')
    parser.add_argument('--asdm', action='store_true',
                        help='real ASDMs in raw/ and real calibration tables in calibration/ (slower to build)')
    parser.add_argument('--generation', choices=sorted(GENERATIONS), default=None,
                        help='scriptForPI generation of every member (default 2022; 2018 is Python 2 for CASA 5)')
    parser.add_argument('--not-imaged', action='store_true',
                        help='members imaged by hand, not by the pipeline (a scriptForImaging.py): the scriptForPI '
                             'then splits the science spws itself')
    parser.add_argument('--restored', action='store_true',
                        help='also restore it with the pipeline stand-in (writes calibrated/ in each member)')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    eb_bytes = None if args.eb_mb is None else args.eb_mb * 1e6
    try:
        info = make_delivery(args.root, small=args.small, eb_bytes=eb_bytes, seed=args.seed, nant=args.nant,
                             members=args.members, ebs=args.ebs, preset=args.preset, size_gb=args.size_gb,
                             asdm=args.asdm, generation=args.generation, imaged=not args.not_imaged)
        if args.restored:
            pipeline_standin.restore_with_standin(info['project'])
    except (OSError, ValueError) as err:  # an existing delivery, a bad argument, no room for the EBs
        print('error: %s' % err, file=sys.stderr)
        return 2
    print(info['project'])
    if args.preset:
        desc = presets.describe(args.preset, args.size_gb, nant=args.nant)
        print('  each EB: preset %s, %d antennas, 4 x %d channels, %.2f GB'
              % (args.preset, desc['nant'], desc['nchan'], desc['bytes'] / 1e9))
    for member, ebs in sorted(info['members'].items()):
        print('  %s: %d EBs%s' % (os.path.relpath(member, info['project']), len(ebs),
                                  ', restored' if args.restored else ''))
    return 0


if __name__ == '__main__':
    sys.exit(main())
