"""The files of one synthetic member: its scriptForPI of each generation, pipeline request, restore script and
pipescript, stub ASDMs and calibration listings (tests and demos only; ``synthetic_delivery`` builds the tree)."""

import glob
import gzip
import io
import json
import logging
import os
import tarfile

from . import pipeline_standin

__all__ = ['GENERATIONS', 'antenna_xml', 'make_manually_imaged', 'make_python2_member', 'write_member']

LOG = logging.getLogger(__name__)

PROJECT_CODE = '2021.1.00690.S'
SGOUS_UID = 'uid___A001_X15a2_Xb69'
GOUS_UID = 'uid___A001_X15a2_Xb6a'
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
    member's array is read before its restore (``casa_plugin.delivery.arrays``)."""
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
