"""The synthetic EB generator is deterministic: the same seed gives the same MS whatever its process did before."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# One fresh Python per build: what it does before make_eb_ms is the only difference between two builds.
_BUILD = """\
import sys
sys.path.insert(0, sys.argv[1])
import casatools, numpy as np
from casa_plugin.testing.synthetic_ms import make_eb_ms
vis, before = sys.argv[2], sys.argv[3]
if before == 'tp-eb':  # as test_arrays does before test_restore_parallel in one pytest process
    from casa_plugin.testing.sd_standin import make_tp_ms
    make_tp_ms(vis + '.tp', 'uid___A002_X1_X2', nant=1, nchan=8, nint=1)
elif before == 'conversion':  # one conversion a second into the EB (its first integration ends 6 s in)
    me = casatools.measures()
    me.doframe(me.observatory('ALMA'))
    me.doframe(me.epoch('UTC', '2022/06/01/05:00:01'))
    me.doframe(me.direction('J2000', '17h20m53.4s', '-35d47m00s'))
    me.measure(me.baseline('ITRF', '100m', '50m', '10m'), 'J2000')
    me.done()
make_eb_ms(vis, eb_uid='uid___A002_Xf9a1c3_X1b2e', seed=3, nant=4, nint=2, ntargets=2)
tb = casatools.table()
tb.open(vis)
np.save(vis + '.npy', np.concatenate([tb.getcol('UVW'), tb.getcol('TIME')[None, :]]))
tb.close()
"""


def _build(tmp_path, before):
    vis = str(tmp_path / ("after-%s.ms" % before))
    proc = subprocess.run([sys.executable, "-c", _BUILD, REPO, vis, before], cwd=str(tmp_path),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    return np.load(vis + ".npy")


@pytest.mark.casa
@pytest.mark.subprocess
@pytest.mark.parametrize("before", ["tp-eb", "conversion"])
def test_uvw_does_not_depend_on_what_the_process_converted_before(tmp_path, before):
    """casacore reuses nutation/aberration terms of earlier epochs within ~1 h: a serial restore (one long-lived
    CASA) and a side-by-side one (a fresh CASA per member) simulated UVW differing by ~5e-9 m without the flush."""
    fresh, after = _build(tmp_path, "nothing"), _build(tmp_path, before)
    assert fresh.shape == after.shape and fresh.shape[1] > 0
    assert np.array_equal(fresh[3], after[3])  # same times
    assert np.array_equal(fresh[:3], after[:3]), "UVW differs by up to %.3g m" % np.abs(fresh[:3] - after[:3]).max()


@pytest.mark.casa
def test_two_builds_of_one_seed_are_identical(tmp_path):
    """Every column of every table but HISTORY, the flag versions aside: the simulator dates SOURCE by the clock,
    and a split that keeps SOURCE made outputs that differed from the tutorial loop's on another build."""
    from casa_plugin.testing.compare import ms_differences
    from casa_plugin.testing.synthetic_ms import make_eb_ms
    a, b = str(tmp_path / "a.ms"), str(tmp_path / "b.ms")
    make_eb_ms(a, seed=3, nant=4, nint=2)
    time.sleep(1.5)  # the simulator's clock: at least a second later
    make_eb_ms(b, seed=3, nant=4, nint=2)
    assert ms_differences(a, b) == []
