# ALMA Data Reduction Script -- scriptForPI (pipeline-calibrated data)
# MOUS @MOUS_UID@ of project @PROJECT_CODE@ (casa_plugin synthetic delivery)
#
# Usage, in the directory "script" of this member:
#     script$ casa --pipeline
#     CASA> SPACESAVING = 1   # optional (unset: 0); 2 (or more) also implies DOSPLIT;
#                             # -1 skips the disk-space check
#     CASA> DOSPLIT = True    # optional; split out science spws (datacolumn corrected)
#     CASA> DOCONTSUB = True  # optional; also make the *_targets*.ms / *_cont.ms sets
#     CASA> execfile('member.@MOUS_UID@.scriptForPI.py')
#
# The calibrated data end up in ../calibrated.  The script is written as flat
# top-level code (no functions, comprehensions or generator expressions, which
# would not see these names if exec'd with separate globals and locals) so it
# behaves the same whatever namespace the CASA session hands to execfile/exec.
import glob
import os
import shutil
import sys

_sfpi_mous = '@MOUS_UID@'
if _sfpi_mous.startswith('@'):
    # Un-substituted template: take the MOUS uid from the scriptForPI found here.
    _sfpi_found = sorted(glob.glob('member.*.scriptForPI.py'))
    if len(_sfpi_found) == 1:
        _sfpi_mous = _sfpi_found[0][len('member.'):-len('.scriptForPI.py')]
_sfpi_prefix = 'member.' + _sfpi_mous
_sfpi_me = _sfpi_prefix + '.scriptForPI.py'
_sfpi_ppr = _sfpi_prefix + '.hifa_calimage.pprequest.xml'
_sfpi_restore = _sfpi_prefix + '.hifa_calimage.casa_piperestorescript.py'
_sfpi_pipescript = _sfpi_prefix + '.hifa_calimage.casa_pipescript.py'

print('# scriptForPI: restoring the pipeline calibration of MOUS %s' % _sfpi_mous)

# ---- options set by the user before execfile --------------------------------
# SPACESAVING as ALMA's scriptForPI (2022 and 2023) takes it: unset is level 0,
# else an int >= -1 (-1: no disk-space check).
try:
    _sfpi_spacesaving = SPACESAVING
except NameError:
    _sfpi_spacesaving = 0
if type(_sfpi_spacesaving) != int or _sfpi_spacesaving < -1:
    sys.exit('ERROR: SPACESAVING value "%s" not permitted, must be int>=-1.\n'
             'Valid values: 0 = no saving,\n'
             '              1 = delete *.ms.split,\n'
             '              2 = delete *.ms and *.ms.split,\n'
             '            >=3 = delete *.ms, *.ms.split, and if possible *.ms.split.cal\n'
             '             -1 = do not check disk space' % (_sfpi_spacesaving,))
try:
    _sfpi_dosplit = bool(DOSPLIT)
except NameError:
    _sfpi_dosplit = False
try:
    _sfpi_docontsub = bool(DOCONTSUB)
except NameError:
    _sfpi_docontsub = False
if _sfpi_spacesaving >= 2:
    _sfpi_dosplit = True
print('# options: SPACESAVING=%d DOSPLIT=%s DOCONTSUB=%s'
      % (_sfpi_spacesaving, _sfpi_dosplit, _sfpi_docontsub))

# ---- sanity checks (nothing is created before all of them pass) ------------
_sfpi_scriptdir = os.getcwd()
if os.path.basename(_sfpi_scriptdir) != 'script' or not os.path.isfile(_sfpi_me):
    sys.exit('ERROR: please start this script in the directory "script" of '
             'member.%s (it must contain %s); the current directory is %s'
             % (_sfpi_mous, _sfpi_me, _sfpi_scriptdir))
try:
    h_init
    hifa_restoredata
    h_save
except NameError:
    sys.exit('ERROR: the pipeline is not available; start CASA with --pipeline')
if not os.path.isfile(_sfpi_restore):
    sys.exit('ERROR: the pipeline restore script %s is missing from %s'
             % (_sfpi_restore, _sfpi_scriptdir))

# EBs: the ASDMs listed in the PPR, plus those in the piperestorescript.
_sfpi_ebs = []
if os.path.isfile(_sfpi_ppr):
    with open(_sfpi_ppr) as _sfpi_fh:
        _sfpi_text = _sfpi_fh.read()
    for _sfpi_chunk in _sfpi_text.split('<AsdmDiskName>')[1:]:
        _sfpi_eb = _sfpi_chunk.split('</AsdmDiskName>')[0].strip()
        if _sfpi_eb and _sfpi_eb not in _sfpi_ebs:
            _sfpi_ebs.append(_sfpi_eb)
with open(_sfpi_restore) as _sfpi_fh:
    _sfpi_text = _sfpi_fh.read()
if 'vis=[' in _sfpi_text:
    _sfpi_text = _sfpi_text.split('vis=[', 1)[1].split(']', 1)[0]
    for _sfpi_eb in _sfpi_text.split(','):
        _sfpi_eb = _sfpi_eb.strip().strip('\'"').strip()
        if _sfpi_eb and _sfpi_eb not in _sfpi_ebs:
            _sfpi_ebs.append(_sfpi_eb)
if not _sfpi_ebs:
    sys.exit('ERROR: no execution blocks found in %s or %s'
             % (_sfpi_ppr, _sfpi_restore))
print('# execution blocks: %s' % ', '.join(_sfpi_ebs))

_sfpi_member = os.path.dirname(_sfpi_scriptdir)
_sfpi_raw = os.path.join(_sfpi_member, 'raw')
if not os.path.isdir(_sfpi_raw):
    sys.exit('ERROR: the directory "raw" with the ASDMs is missing: %s'
             % _sfpi_raw)

# ---- disk space: the rule of ALMA's scriptForPI (2022 and 2023 alike) ---------
# need = du of raw/ (MB of disk blocks, rounded up) x 11, 7 or 3 for level 0, 1,
# >= 2, plus x 3 with a flux, polarisation or imaging-prep script here; free =
# what df shows as available on raw/'s filesystem (MB, rounded up); stop if
# need > free.  A renormalised flux (or, without one, polarisation) calibration
# keeps the level at 1 at most, as the 2023 script does.
_sfpi_level = _sfpi_spacesaving
_sfpi_extra = []
_sfpi_renorm = False
for _sfpi_pattern in ('*scriptForFluxCalibration.py', '*scriptForImagingPrep.py',
                      '*scriptForPolCalibration.py'):
    _sfpi_found = glob.glob(_sfpi_pattern)
    if len(_sfpi_found) > 1:
        sys.exit('ERROR: non-unique %s' % _sfpi_pattern[1:-3])
    _sfpi_extra.extend(_sfpi_found)
    if _sfpi_found and _sfpi_pattern != '*scriptForImagingPrep.py':
        with open(_sfpi_found[0]) as _sfpi_fh:
            _sfpi_text = _sfpi_fh.read()
        if 'Flux' in _sfpi_pattern:
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
_sfpi_spacefactor = 1 if _sfpi_extra else 0
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

_sfpi_missing = []
for _sfpi_eb in _sfpi_ebs:
    if not os.path.exists(os.path.join(_sfpi_raw, _sfpi_eb + '.asdm.sdm')):
        _sfpi_missing.append(_sfpi_eb + '.asdm.sdm')
if _sfpi_missing:
    sys.exit('ERROR: ASDM(s) missing from %s: %s (download and untar the raw '
             'data of all EBs first)'
             % (_sfpi_raw, ', '.join(_sfpi_missing)))
if not os.path.isdir(os.path.join(_sfpi_member, 'calibration')):
    sys.exit('ERROR: the directory "calibration" is missing from %s'
             % _sfpi_member)
_sfpi_calibrated = os.path.join(_sfpi_member, 'calibrated')
if os.path.lexists(_sfpi_calibrated):
    sys.exit('ERROR: the directory "calibrated" already exists: %s; remove or '
             'rename it before running the scriptForPI again' % _sfpi_calibrated)

if os.path.isfile(_sfpi_pipescript):
    with open(_sfpi_pipescript) as _sfpi_fh:
        print('# pipeline processing used: %s'
              % _sfpi_fh.readline().strip().lstrip('#').strip())
try:
    import casatasks as _sfpi_casatasks
    print('# running with CASA %s' % _sfpi_casatasks.version_string())
except Exception:
    pass

# ---- directory structure -----------------------------------------------------
_sfpi_working = os.path.join(_sfpi_calibrated, 'working')
print('# creating %s' % _sfpi_calibrated)
os.mkdir(_sfpi_calibrated)
os.mkdir(os.path.join(_sfpi_calibrated, 'rawdata'))
for _sfpi_eb in _sfpi_ebs:
    os.symlink(os.path.join('..', '..', 'raw', _sfpi_eb + '.asdm.sdm'),
               os.path.join(_sfpi_calibrated, 'rawdata', _sfpi_eb + '.asdm.sdm'))
os.symlink(os.path.join('..', 'calibration'),
           os.path.join(_sfpi_calibrated, 'products'))
os.mkdir(_sfpi_working)
shutil.copy(os.path.join(_sfpi_scriptdir, _sfpi_restore),
            os.path.join(_sfpi_working, _sfpi_restore))

# ---- restore the calibration with the pipeline -------------------------------
print('# running the pipeline restore script %s in %s'
      % (_sfpi_restore, _sfpi_working))
try:
    _sfpi_execfile = execfile
except NameError:
    _sfpi_execfile = None
os.chdir(_sfpi_working)
try:
    if _sfpi_execfile is not None:
        _sfpi_execfile(_sfpi_restore)
    else:
        _sfpi_ns = dict(globals())
        _sfpi_ns.update(locals())
        with open(_sfpi_restore) as _sfpi_fh:
            exec(compile(_sfpi_fh.read(), _sfpi_restore, 'exec'), _sfpi_ns)
finally:
    os.chdir(_sfpi_scriptdir)
for _sfpi_eb in _sfpi_ebs:
    if not os.path.isdir(os.path.join(_sfpi_working, _sfpi_eb + '.ms')):
        sys.exit('ERROR: the pipeline did not produce %s.ms in %s'
                 % (_sfpi_eb, _sfpi_working))

# ---- science spws of each EB (OBSERVE_TARGET intent, more than 4 channels) ---
_sfpi_scispws = {}
if _sfpi_dosplit or _sfpi_docontsub:
    from casatools import msmetadata as _sfpi_msmetadata
    for _sfpi_eb in _sfpi_ebs:
        _sfpi_msmd = _sfpi_msmetadata()
        try:
            _sfpi_msmd.open(os.path.join(_sfpi_working, _sfpi_eb + '.ms'))
            _sfpi_scispws[_sfpi_eb] = []
            for _sfpi_spw in _sfpi_msmd.spwsforintent('OBSERVE_TARGET*'):
                if _sfpi_msmd.nchan(_sfpi_spw) > 4:
                    _sfpi_scispws[_sfpi_eb].append(int(_sfpi_spw))
            _sfpi_scispws[_sfpi_eb].sort()
        finally:
            _sfpi_msmd.done()
        print('# %s: science spws %s' % (_sfpi_eb, _sfpi_scispws[_sfpi_eb]))

# ---- DOCONTSUB: target-only sets of the MOUS (not EBs) -----------------------
if _sfpi_docontsub:
    from casatasks import split as _sfpi_split
    _sfpi_eb = _sfpi_ebs[0]
    _sfpi_names = [_sfpi_mous + '_targets.ms', _sfpi_mous + '_targets_line.ms',
                   _sfpi_mous + '_cont.ms']
    _sfpi_outs = []
    for _sfpi_name in _sfpi_names:
        _sfpi_outs.append(os.path.join(_sfpi_working, _sfpi_name))
    print('# DOCONTSUB: making %s' % ', '.join(_sfpi_names))
    _sfpi_split(vis=os.path.join(_sfpi_working, _sfpi_eb + '.ms'),
                outputvis=_sfpi_outs[0], intent='OBSERVE_TARGET*',
                spw=','.join(map(str, _sfpi_scispws[_sfpi_eb])),
                datacolumn='corrected')
    _sfpi_split(vis=_sfpi_outs[0], outputvis=_sfpi_outs[1], datacolumn='data')
    _sfpi_split(vis=_sfpi_outs[0], outputvis=_sfpi_outs[2], datacolumn='data',
                width=100000)
    for _sfpi_name in _sfpi_names:
        os.symlink(os.path.join('working', _sfpi_name),
                   os.path.join(_sfpi_calibrated, _sfpi_name))

# ---- DOSPLIT / SPACESAVING: split science spws, or link the restored MSes ----
if _sfpi_dosplit:
    from casatasks import mstransform as _sfpi_mstransform
    from casatasks import split as _sfpi_split
    _sfpi_same = True
    for _sfpi_eb in _sfpi_ebs:
        if _sfpi_scispws[_sfpi_eb] != _sfpi_scispws[_sfpi_ebs[0]]:
            _sfpi_same = False
    for _sfpi_eb in _sfpi_ebs:
        _sfpi_vis = os.path.join(_sfpi_working, _sfpi_eb + '.ms')
        _sfpi_out = os.path.join(_sfpi_calibrated, _sfpi_eb + '.ms.split.cal')
        _sfpi_spw = ','.join(map(str, _sfpi_scispws[_sfpi_eb]))
        print('# splitting spws %s of %s into %s (%s)'
              % (_sfpi_spw, _sfpi_eb, _sfpi_out,
                 'original spw ids' if _sfpi_same else 're-indexed spw ids'))
        if _sfpi_same:
            _sfpi_mstransform(vis=_sfpi_vis, outputvis=_sfpi_out, spw=_sfpi_spw,
                              datacolumn='corrected', reindex=False)
        else:
            _sfpi_split(vis=_sfpi_vis, outputvis=_sfpi_out, spw=_sfpi_spw,
                        datacolumn='corrected')
        if not os.path.isdir(_sfpi_out):
            sys.exit('ERROR: splitting %s failed (no %s)' % (_sfpi_eb, _sfpi_out))
        if _sfpi_spacesaving >= 2:
            print('# SPACESAVING=%d: removing %s and its flagversions'
                  % (_sfpi_spacesaving, _sfpi_vis))
            shutil.rmtree(_sfpi_vis)
            if os.path.isdir(_sfpi_vis + '.flagversions'):
                shutil.rmtree(_sfpi_vis + '.flagversions')
else:
    for _sfpi_eb in _sfpi_ebs:
        for _sfpi_name in (_sfpi_eb + '.ms', _sfpi_eb + '.ms.flagversions'):
            if os.path.exists(os.path.join(_sfpi_working, _sfpi_name)):
                os.symlink(os.path.join('working', _sfpi_name),
                           os.path.join(_sfpi_calibrated, _sfpi_name))

print('# scriptForPI: done; the calibrated data are in %s' % _sfpi_calibrated)
