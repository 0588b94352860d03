"""Build a synthetic ALMA data delivery (project/science goal/group/member tree) for tests and demos."""

import argparse
import logging
import os
import shutil
import sys

from . import pipeline_standin, presets
from .member_files import (GENERATIONS, GOUS_UID, PROJECT_CODE, SGOUS_UID, _PIPELINE_VERSION, _TEMPLATES,  # noqa: F401
                           _generations, _imaged, _next_uid, _template, _write, _write_member, antenna_xml,
                           make_manually_imaged, make_python2_member)

__all__ = ['PROJECT_CODE', 'SGOUS_UID', 'GOUS_UID', 'MEMBERS', 'GENERATIONS',
           'make_delivery', 'make_python2_member', 'make_manually_imaged', 'member_ebs', 'main']

LOG = logging.getLogger(__name__)

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


def running_casa_version():
    """Return the running casatools version as ``X.Y.Z`` (what a delivery made for it would state)."""
    from ..ms.casa import casa_version  # not casatools.version_string(): '' in casatools 6.5.6 and 6.6.0
    return '.'.join(casa_version().split('.')[:3])


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
        second get new uids (and, without ``ebs``, one EB each).
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
        elif ebs is None and not own:  # a member past the delivery's own: one EB of its own
            own, sessions = [_new_uid('uid___A002_Xfa%04x_X1' % index, taken)], ['session_1']
        elif ebs is not None:
            own, sessions = own[:int(ebs)], sessions[:int(ebs)]
            last = own[-1] if own else 'uid___A002_Xfa%04x_X1' % index
            while len(own) < int(ebs):
                last = _new_uid(last, taken)
                own.append(last)
                sessions.append('session_%d' % (len(set(sessions)) + 1))
        out.append((mous, own, sessions))
    return out


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
