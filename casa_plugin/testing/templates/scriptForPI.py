# ALMA Data Reduction Script -- scriptForPI, generation 2022 (pipeline-calibrated data)
# MOUS @MOUS_UID@ of project @PROJECT_CODE@ (casa_plugin SYNTHETIC delivery, tests only)
#
# Usage, in the directory "script" of this member:
#     script$ casa --pipeline
#     CASA> SPACESAVING = 1   # optional (unset: 0); -1 skips the disk-space check
#     CASA> DOSPLIT = True    # optional; split the science spws even of a pipeline-imaged member
#     CASA> DOCONTSUB = True  # optional; re-run the pipeline's first imaging stages (contsub MSs)
#     CASA> execfile('member.@MOUS_UID@.scriptForPI.py')
#
# Written the way ALMA's "$Id: scriptForPI.py,v 1.34 2022/08/26 dpetry $" restores a pipeline-calibrated
# member (CASA 6.4, Cycle 9; public copy: GitHub JaneManolidou/Spiderweb-SD-Codes,
# member.uid___A001_X2d20_X3bdd.scriptForPI.py), in casa_plugin's own words.  Only the pipeline-restore
# path is here (no per-EB scriptForCalibration, no pipeline re-run, no TP jyperk).  What v1.34 does, and
# so this template, where casa_plugin's earlier template differed:
#   - options are read as `"DOSPLIT" in globals()`; DOSPLIT and DOCONTSUB must be bool and SPACESAVING an
#     int >= -1, else sys.exit; SPACESAVING only deletes (>= 2: each <eb>.ms once its .ms.split.cal is made,
#     its .ms.flagversions stays; >= 3: the .ms.split.cal too when a calibrated.ms exists): it does NOT
#     imply DOSPLIT, so SPACESAVING=3 on a pipeline-imaged member leaves the links, as the tutorial shows;
#   - files found by glob: *casa_piperestorescript.py (exactly one), *cal*casa_pipescript.py, the PPR as
#     *PPR*.xml ("old naming scheme"), else *cal*pprequest.xml; the EBs are the PPR's <AsdmDiskName>s
#     (the restore script's list is not read); the auxiliary files (cont.dat, flux.csv, antennapos.csv)
#     are unpacked into calibration/ from the tar file a *pipeline_manifest.xml names, else from
#     calibration/*supporting.tgz, else *auxproducts.tgz;
#   - "pipeline imaging was used" only when more than one line of the PPR names hif_makeimages,
#     product/ holds *_sci.spw*.fits and the *scriptForImaging.py files have no line without '#' (or
#     there are none); then, without DOSPLIT, calibrated/<eb>.ms and <eb>.ms.flagversions link into
#     working/.  Otherwise the science spws (OBSERVE_TARGET*, more than 4 channels) are ALWAYS split,
#     DOSPLIT or not, with mstransform(vis=<eb>.ms, outputvis=<eb>.ms.split.cal, spw=..., reindex=False)
#     (datacolumn: mstransform's default, corrected) in working/, then moved to calibrated/: spw ids are
#     kept even when the EBs' science spws differ (v2.5 re-indexes then; see scriptForPI_2023.txt);
#     <eb>.ms stays in working/;
#   - ASDMs are raw/uid*.asdm.sdm; a PPR EB missing there is warned about and left out (sys.exit only
#     when none is left); the pipeline check (h_init only) comes AFTER ../calibrated is made (an empty
#     calibrated/ stays behind without --pipeline);
#   - calibrated/rawdata/<eb> (no .asdm.sdm suffix) links to ../../raw/<eb>.asdm.sdm, calibrated/products
#     to ../calibration; the restore script is NOT copied: it runs as execfile('../../script/<it>',
#     globals()) in calibrated/working;
#   - DOCONTSUB on a TP member (one calibration/*jyperk*.csv) is a note and nothing; otherwise, with a
#     calibration/*cont.dat (else a note and nothing), it copies it to working/cont.dat and
#     runs the pipeline's hif_mstransform, hifa_flagtargets, hif_uvcontfit and hif_uvcontsub
#     (pipelinemode="automatic"), then links each working/*target.ms, *targets.ms, *line.ms and *cont.ms
#     into calibrated/ (casa_plugin's pipeline stand-in provides these four tasks: see pipeline_standin);
#   - *scriptForPolCalibration.py, *scriptForFluxCalibration.py, *scriptForImagingPrep.py (each at most
#     one) run after the restore, from calibrated/; the script ends in calibrated/ (never back in script/).
# Kept from casa_plugin's own template (the tests read them, v1.34 behaves alike): the "# options:" line,
# the disk-space rule (see casa_plugin.restore.preflight) and its messages, the "calibrated/ exists" stop.
# Unlike v1.34, which uses the CASA prompt's casalog, msmd and mstransform, this template imports them from
# casatools/casatasks, so it runs in whatever namespace a test hands to exec.  The code is flat top-level
# code (no functions or comprehensions, which would not see these names if exec'd with separate globals
# and locals).
import glob
import os
import shutil
import sys
import tarfile

_sfpi_mous = '@MOUS_UID@'
if _sfpi_mous.startswith('@'):
    # Un-substituted template: take the MOUS uid from the scriptForPI found here.
    _sfpi_found = sorted(glob.glob('member.*.scriptForPI.py'))
    if len(_sfpi_found) == 1:
        _sfpi_mous = _sfpi_found[0][len('member.'):-len('.scriptForPI.py')]
print('*** ALMA scriptForPI (casa_plugin synthetic, generation 2022) for MOUS %s ***' % _sfpi_mous)

# ---- options set by the user before execfile --------------------------------
_sfpi_spacesaving = 0
if 'SPACESAVING' in globals():
    if type(SPACESAVING) != int or SPACESAVING < -1:
        sys.exit('ERROR: SPACESAVING value "%s" not permitted, must be int>=-1.\n'
                 'Valid values: 0 = no saving,\n'
                 '              1 = delete *.ms.split,\n'
                 '              2 = delete *.ms and *.ms.split,\n'
                 '            >=3 = delete *.ms, *.ms.split, and if possible *.ms.split.cal\n'
                 '             -1 = do not check disk space' % (SPACESAVING,))
    _sfpi_spacesaving = SPACESAVING
_sfpi_dosplit = False  # a pipeline-imaged member is not split unless DOSPLIT
if 'DOSPLIT' in globals():
    if type(DOSPLIT) != bool:
        sys.exit('ERROR: DOSPLIT value "%s" not permitted, must be bool (True or False)' % (DOSPLIT,))
    _sfpi_dosplit = DOSPLIT
_sfpi_docontsub = False
if 'DOCONTSUB' in globals():
    if type(DOCONTSUB) != bool:
        sys.exit('ERROR: DOCONTSUB value "%s" not permitted, must be bool (True or False)' % (DOCONTSUB,))
    _sfpi_docontsub = DOCONTSUB
print('# options: SPACESAVING=%d DOSPLIT=%s DOCONTSUB=%s'
      % (_sfpi_spacesaving, _sfpi_dosplit, _sfpi_docontsub))

# ---- the member's scripts and files ---------------------------------------------
_sfpi_scriptdir = os.getcwd()
if os.path.basename(_sfpi_scriptdir) != 'script':
    sys.exit('ERROR: Please start this script in directory "script".')
_sfpi_restores = glob.glob('*casa_piperestorescript.py')
if len(_sfpi_restores) > 1:
    sys.exit('ERROR: non-unique piperestorescript: %s' % ', '.join(sorted(_sfpi_restores)))
_sfpi_pipescripts = glob.glob('*cal*casa_pipescript.py')
if len(_sfpi_pipescripts) > 1:
    sys.exit('ERROR: non-unique calibration pipescript: %s' % ', '.join(sorted(_sfpi_pipescripts)))
_sfpi_extras = []
for _sfpi_pattern in ('*scriptForPolCalibration.py', '*scriptForFluxCalibration.py',
                      '*scriptForImagingPrep.py'):
    _sfpi_found = glob.glob(_sfpi_pattern)
    if len(_sfpi_found) > 1:
        sys.exit('ERROR: non-unique %s' % _sfpi_pattern[1:-3])
    _sfpi_extras.extend(_sfpi_found)
_sfpi_pprs = glob.glob('*PPR*.xml')  # the old naming scheme first
if len(_sfpi_pprs) > 1:
    sys.exit('ERROR: non-unique PPR')
if not _sfpi_pprs:
    _sfpi_pprs = glob.glob('*cal*pprequest.xml')
    if len(_sfpi_pprs) > 1:
        sys.exit('ERROR: non-unique calibration PPR')
if not os.path.isdir('../calibration'):
    sys.exit('ERROR: Cannot find directory "calibration"')

# auxiliary files into calibration/: the tar file the manifest names, else *supporting.tgz, else *auxproducts.tgz
_sfpi_tars = []
_sfpi_manifests = glob.glob('*pipeline_manifest.xml')
if _sfpi_manifests:
    from xml.etree import ElementTree as _sfpi_et
    for _sfpi_name in _sfpi_manifests:
        shutil.copy(_sfpi_name, '../calibration')
        _sfpi_aux = _sfpi_et.parse(_sfpi_name).find('ous/aux_products_file')
        if _sfpi_aux is not None and _sfpi_aux.get('name'):
            if os.path.exists(os.path.join('../calibration', _sfpi_aux.get('name'))):
                _sfpi_tars.append(os.path.join('../calibration', _sfpi_aux.get('name')))
            else:
                print('WARNING: could not find the file %s in directory "calibration" although the '
                      'pipeline manifest mentions it.' % _sfpi_aux.get('name'))
else:
    if _sfpi_pprs:
        print('No pipeline manifest found.')
    _sfpi_tars = sorted(glob.glob('../calibration/*supporting.tgz')) or sorted(
        glob.glob('../calibration/*auxproducts.tgz'))
for _sfpi_name in _sfpi_tars:
    print('Unpacking %s in directory "calibration" ...' % os.path.basename(_sfpi_name))
    with tarfile.open(_sfpi_name) as _sfpi_tar:
        _sfpi_tar.extractall('../calibration')
_sfpi_jyperk = glob.glob('../calibration/*jyperk*.csv')  # one: a total-power (TP) pipeline member
if len(_sfpi_jyperk) > 1:
    sys.exit('ERROR: non-unique jyperk.csv file: %s' % ', '.join(sorted(_sfpi_jyperk)))
if not _sfpi_restores:
    if _sfpi_pipescripts:
        sys.exit('ERROR: this synthetic template has no pipeline re-run (no piperestorescript found)')
    sys.exit('ERROR: No calibration script found.')

# ---- the EBs, and whether the pipeline imaged this member ---------------------
_sfpi_ebs = []
_sfpi_imaged = False
if _sfpi_pprs:
    _sfpi_makeimages = 0
    with open(_sfpi_pprs[0]) as _sfpi_fh:
        for _sfpi_line in _sfpi_fh:
            if '<AsdmDiskName>' in _sfpi_line:
                _sfpi_ebs.append(_sfpi_line.split('<AsdmDiskName>')[1].split('</')[0].strip())
            if 'hif_makeimages' in _sfpi_line:
                _sfpi_makeimages += 1
    if _sfpi_makeimages > 1:
        print('Science pipeline imaging use was foreseen in PPR.')
        _sfpi_uncommented = 0
        for _sfpi_name in glob.glob('*scriptForImaging.py'):
            with open(_sfpi_name) as _sfpi_fh:
                for _sfpi_line in _sfpi_fh:
                    if '#' not in _sfpi_line:
                        _sfpi_uncommented += 1
        if glob.glob('../product/*_sci.spw*.fits') and _sfpi_uncommented == 0:
            print('Science images and only a dummy scriptForImaging were found. '
                  'Will assume only pipeline imaging took place.')
            _sfpi_imaged = True

_sfpi_member = os.path.dirname(_sfpi_scriptdir)
_sfpi_raw = os.path.join(_sfpi_member, 'raw')
if not os.path.isdir(_sfpi_raw):
    sys.exit('ERROR: directory "raw" not present.\n'
             '       Please download your raw data and unpack it to create and fill directory "raw".')
if os.path.islink(_sfpi_raw):
    print('Note: your raw directory is a link.')

# ---- disk space: the rule of ALMA's scriptForPI (2022 and 2023 alike) ---------
# need = du of raw/ (MB of disk blocks, rounded up) x 11, 7 or 3 for level 0, 1,
# >= 2, plus x 3 with a flux, polarisation or imaging-prep script here; free =
# what df shows as available on raw/'s filesystem (MB, rounded up); stop if
# need > free.  A renormalised flux (or, without one, polarisation) calibration
# keeps the level at 1 at most, as the 2023 script does.
_sfpi_level = _sfpi_spacesaving
_sfpi_renorm = False
for _sfpi_name in _sfpi_extras:
    if 'ImagingPrep' in _sfpi_name:
        continue
    with open(_sfpi_name) as _sfpi_fh:
        _sfpi_text = _sfpi_fh.read()
    if 'FluxCalibration' in _sfpi_name:
        _sfpi_renorm = 'ACreNorm' in _sfpi_text
    elif not glob.glob('*scriptForFluxCalibration.py'):
        _sfpi_renorm = 'Renormalization' in _sfpi_text
if _sfpi_renorm and _sfpi_level > 1:
    _sfpi_level = 1
    print('      Limiting SPACESAVING to 1 since *.ms will be needed for the additional processing.')
_sfpi_stat = os.statvfs(_sfpi_raw)
_sfpi_avspace = -(-(_sfpi_stat.f_bavail * _sfpi_stat.f_frsize) // 1048576)
_sfpi_packspace = 0
_sfpi_seen = {}
for _sfpi_root, _sfpi_dirs, _sfpi_files in os.walk(_sfpi_raw):
    _sfpi_names = _sfpi_dirs + _sfpi_files
    if _sfpi_root == _sfpi_raw:
        _sfpi_packspace += os.stat(_sfpi_raw).st_blocks * 512
    for _sfpi_name in _sfpi_names:
        _sfpi_st = os.lstat(os.path.join(_sfpi_root, _sfpi_name))
        if _sfpi_st.st_nlink > 1 and not os.path.isdir(os.path.join(_sfpi_root, _sfpi_name)):
            if (_sfpi_st.st_dev, _sfpi_st.st_ino) in _sfpi_seen:
                continue
            _sfpi_seen[(_sfpi_st.st_dev, _sfpi_st.st_ino)] = True
        _sfpi_packspace += _sfpi_st.st_blocks * 512
_sfpi_packspace = -(-_sfpi_packspace // 1048576)
_sfpi_spacefactor = 1 if _sfpi_extras else 0
_sfpi_spaceneed = _sfpi_packspace * (11 + _sfpi_spacefactor * 3)
if _sfpi_level == 1:
    _sfpi_spaceneed = _sfpi_packspace * (7 + _sfpi_spacefactor * 3)
elif _sfpi_level >= 2:
    _sfpi_spaceneed = _sfpi_packspace * (3 + _sfpi_spacefactor * 3)
elif _sfpi_level == -1:
    print('Will not check available disk space.')
    _sfpi_spaceneed = 0
print('Found %d MB of available free disk space.' % _sfpi_avspace)
print('Expect to need up to %d MB of free disk space.' % _sfpi_spaceneed)
if _sfpi_spaceneed > _sfpi_avspace:
    print('ERROR: not enough free disk space. Need at least %d MB.' % _sfpi_spaceneed)
    print('If you think this is not correct and want to try anyway, please set SPACESAVING to -1.')
    sys.exit('ERROR: probably not enough free disk space.')

# ---- the ASDMs in raw/ against the PPR's EBs -----------------------------------
_sfpi_asdms = []
for _sfpi_name in glob.glob(os.path.join(_sfpi_raw, 'uid*.asdm.sdm')):
    _sfpi_asdms.append(os.path.basename(_sfpi_name)[:-len('.asdm.sdm')])
if not _sfpi_asdms:
    sys.exit('ERROR: No ASDM found in directory "raw".')
if sorted(_sfpi_asdms) != sorted(_sfpi_ebs):
    print('WARNING: Inconsistency between ASDMs and calibration scripts')
    _sfpi_missing = []
    for _sfpi_eb in _sfpi_ebs:
        if _sfpi_eb not in _sfpi_asdms:
            _sfpi_missing.append(_sfpi_eb)
    if not _sfpi_missing:
        print('       The ASDMs without calibration info are probably "QA semipass" data; '
              'only the ASDMs with calibration information will be calibrated.')
    else:
        print('ERROR: these ASDMs have calibration information but are absent from directory "raw": %s'
              % ', '.join(_sfpi_missing))
        print('Will try to proceed with the rest ...')
        for _sfpi_eb in _sfpi_missing:
            _sfpi_ebs.remove(_sfpi_eb)
        if not _sfpi_ebs:
            sys.exit('ERROR: Nothing to process.')

_sfpi_calibrated = os.path.join(_sfpi_member, 'calibrated')
if os.path.lexists(_sfpi_calibrated):
    sys.exit('ERROR: the directory "calibrated" already exists: %s; remove or '
             'rename it before running the scriptForPI again' % _sfpi_calibrated)
if _sfpi_pipescripts:
    with open(_sfpi_pipescripts[0]) as _sfpi_fh:
        print('# pipeline processing used: %s' % _sfpi_fh.readline().strip().lstrip('#').strip())
print('Creating destination directory for calibrated data.')
os.mkdir(_sfpi_calibrated)
os.chdir(_sfpi_calibrated)

# ---- restore the calibration with the pipeline, in calibrated/working ----------
if _sfpi_ebs:
    try:
        h_init
    except NameError:
        sys.exit('ERROR: Pipeline not available. Make sure you start CASA with option --pipeline '
                 'to activate the pipeline.')
    print('Processing the ASDMs %s using pipeline restore.' % ', '.join(_sfpi_ebs))
    os.mkdir('rawdata')
    for _sfpi_eb in _sfpi_ebs:
        os.symlink(os.path.join('..', '..', 'raw', _sfpi_eb + '.asdm.sdm'), os.path.join('rawdata', _sfpi_eb))
    os.symlink(os.path.join('..', 'calibration'), 'products')
    os.mkdir('working')
    os.chdir('working')
    print('now running %s' % _sfpi_restores[0])
    try:
        _sfpi_execfile = execfile
    except NameError:
        _sfpi_execfile = None
    if _sfpi_execfile is not None:
        _sfpi_execfile(os.path.join('..', '..', 'script', _sfpi_restores[0]), globals())
    else:
        with open(os.path.join('..', '..', 'script', _sfpi_restores[0])) as _sfpi_fh:
            exec(compile(_sfpi_fh.read(), _sfpi_restores[0], 'exec'), globals())

    if _sfpi_docontsub and _sfpi_jyperk:
        print('*** NOTE: You have set DOCONTSUB to True but this is TP data and uvcontsub cannot be performed.')
    elif _sfpi_docontsub:  # the pipeline's first imaging stages make the continuum-subtracted MSs
        _sfpi_contfiles = glob.glob('../../calibration/*cont.dat')
        if len(_sfpi_contfiles) > 1:
            sys.exit('ERROR: found more than one *cont.dat file in directory "calibration"')
        if not _sfpi_contfiles:
            print('NOTE: no PL file cont.dat found. No continuum subtraction performed.')
        else:
            shutil.copy(_sfpi_contfiles[0], 'cont.dat')
            print('Creating contsub products using existing cont.dat file from directory "calibration" ...')
            hif_mstransform(pipelinemode='automatic')
            hifa_flagtargets(pipelinemode='automatic')
            hif_uvcontfit(pipelinemode='automatic')
            hif_uvcontsub(pipelinemode='automatic')
            for _sfpi_suffix in ('target.ms', 'targets.ms', 'line.ms', 'cont.ms'):
                for _sfpi_name in sorted(glob.glob('*' + _sfpi_suffix)):
                    print('   linking %s into directory "calibrated"' % _sfpi_name)
                    os.symlink(os.path.join('working', _sfpi_name), os.path.join('..', _sfpi_name))

    # the science spws of each EB: linked (pipeline-imaged, no DOSPLIT) or split with their ids kept
    from casatasks import mstransform as _sfpi_mstransform
    from casatools import msmetadata as _sfpi_msmetadata
    for _sfpi_eb in _sfpi_ebs:
        if not os.path.isdir(_sfpi_eb + '.ms'):
            print('ERROR: %s.ms was not created.' % _sfpi_eb)
            continue
        _sfpi_msmd = _sfpi_msmetadata()
        _sfpi_spws = []
        try:
            _sfpi_msmd.open(_sfpi_eb + '.ms')
            for _sfpi_spw in _sfpi_msmd.spwsforintent('OBSERVE_TARGET*'):
                if _sfpi_msmd.nchan(_sfpi_spw) > 4:
                    _sfpi_spws.append(str(_sfpi_spw))
        finally:
            _sfpi_msmd.done()
        if _sfpi_imaged and not _sfpi_dosplit:
            print('Imaging pipeline was used. Will not create %s.ms.split.cal; linking MS %s.ms into '
                  'directory "calibrated"' % (_sfpi_eb, _sfpi_eb))
            os.symlink(os.path.join('working', _sfpi_eb + '.ms'), os.path.join('..', _sfpi_eb + '.ms'))
            if os.path.exists(_sfpi_eb + '.ms.flagversions'):
                os.symlink(os.path.join('working', _sfpi_eb + '.ms.flagversions'),
                           os.path.join('..', _sfpi_eb + '.ms.flagversions'))
            continue
        print('Splitting out science SPWs for %s: %s' % (_sfpi_eb, ','.join(_sfpi_spws)))
        print('Note: SPW IDs will not be reindexed to start at 0!')
        _sfpi_mstransform(vis=_sfpi_eb + '.ms', outputvis=_sfpi_eb + '.ms.split.cal', spw=','.join(_sfpi_spws),
                          reindex=False)
        if not os.path.isdir(_sfpi_eb + '.ms.split.cal'):
            print('ERROR: %s.ms.split.cal was not created.' % _sfpi_eb)
            continue
        os.rename(_sfpi_eb + '.ms.split.cal', os.path.join('..', _sfpi_eb + '.ms.split.cal'))
        if _sfpi_level >= 2:
            print('Deleting intermediate MS %s.ms' % _sfpi_eb)
            shutil.rmtree(_sfpi_eb + '.ms')
    os.chdir('..')

# ---- the member's own further scripts, run from calibrated/ ----------------------
for _sfpi_name in _sfpi_extras:
    print('Executing %s ...' % _sfpi_name)
    with open(os.path.join('..', 'script', _sfpi_name)) as _sfpi_fh:
        exec(compile(_sfpi_fh.read(), _sfpi_name, 'exec'), globals())
if _sfpi_level >= 3 and os.path.exists('calibrated.ms'):
    for _sfpi_eb in _sfpi_ebs:
        print('Deleting intermediate MS %s.ms.split.cal' % _sfpi_eb)
        shutil.rmtree(_sfpi_eb + '.ms.split.cal', ignore_errors=True)

print('# scriptForPI: done; the calibrated data are in %s' % _sfpi_calibrated)
