"""The member-kind matrix's check: a target split against the restore's CORRECTED_DATA."""

import glob
import os

import pytest

from casa_plugin.testing.compare import loop_science, loop_target
from casa_plugin.testing.matrix import source_differences, spw_pairs

pytestmark = pytest.mark.casa


def _first_eb(calibrated_dirs):
    return sorted(glob.glob(os.path.join(calibrated_dirs[0], "uid___*.ms")))[0]


def _loop(eb, tmp_path, reindex, datacolumn="corrected"):
    sci = loop_science(eb, str(tmp_path / "sci.ms"), reindex=reindex, datacolumn=datacolumn)
    return loop_target(sci, str(tmp_path / "sci.ms.source"))


def test_the_loops_target_split_holds_the_restores_corrected_data(calibrated_dirs, tmp_path):
    eb = _first_eb(calibrated_dirs)
    source = _loop(eb, tmp_path, reindex=True)
    assert source_differences(source, eb) == []
    pairs = spw_pairs(source, eb)
    assert sorted(pairs) == list(range(len(pairs))) and all(v is not None for v in pairs.values())
    assert sorted(pairs.values()) != sorted(pairs)  # re-indexed: the restore's ids are not 0..n-1


def test_kept_ids_map_to_themselves(calibrated_dirs, tmp_path):
    eb = _first_eb(calibrated_dirs)
    source = _loop(eb, tmp_path, reindex=False)
    pairs = spw_pairs(source, eb)
    assert pairs and all(k == v for k, v in pairs.items())
    assert source_differences(source, eb) == []


def test_a_split_of_the_uncalibrated_column_is_named(calibrated_dirs, tmp_path):
    eb = _first_eb(calibrated_dirs)
    source = _loop(eb, tmp_path, reindex=True, datacolumn="data")
    found = source_differences(source, eb)
    assert found and all("DATA differs from CORRECTED_DATA" in d for d in found)
