"""split_sci's default numbering (reindex=None): one numbering per member, the delivery's own DOSPLIT split
accepted as made (issue 24: a DOSPLIT restore followed by the defaults failed every EB)."""

import glob
import os
import re
import shutil

import pytest

from casa_helpers import snapshot, split_failure
from casa_plugin import split_sci, split_tgt
from casa_plugin import record as run_record
from casa_plugin.split.numbering import numbering_of
from casa_plugin.testing.matrix import source_differences, spw_pairs
from casa_plugin.testing.pipeline_standin import restore_with_standin
from prompt_helpers import REPO, run_casa, startup_file

pytestmark = pytest.mark.casa


def _splits(calibrated):
    return sorted(glob.glob(os.path.join(calibrated, "uid___*.ms.split.cal")))


def _restored_with_dosplit(delivery):
    restore_with_standin(delivery["project"], dosplit=True)
    return [os.path.join(m, "calibrated") for m in sorted(delivery["members"])]


def _spw_ids(vis):
    return sorted(int(s) for s in run_record.entry_of(vis)["contents"]["spws"])


def test_a_dosplit_restore_then_the_defaults_give_every_target_split(delivery):
    calibrated = _restored_with_dosplit(delivery)
    sci = split_sci(vis=delivery["project"])
    assert sci["counts"] == {"done": 3}
    assert all(r["made_by"] == "scriptForPI" and r["request"]["reindex"] is False for r in sci["ebs"].values())
    assert all("note" not in r for r in sci["ebs"].values())  # done: its line shows its ids, 1,3,5,7
    assert split_tgt(vis=delivery["project"])["counts"] == {"split": 3}
    for cal in calibrated:
        for split in _splits(cal):
            restored = os.path.join(cal, "working", os.path.basename(split)[:-len(".split.cal")])
            assert source_differences(split + ".source", restored) == []
            pairs = spw_pairs(split + ".source", restored)
            assert all(k == v for k, v in pairs.items())  # ids kept, as the line and the record say
            assert sorted(pairs) == _spw_ids(split) != list(range(len(pairs)))


def test_a_missing_split_of_a_dosplit_member_is_made_with_the_members_numbering(delivery):
    cal = _restored_with_dosplit(delivery)[1]
    first, second = _splits(cal)
    shutil.rmtree(first)  # our own copy: as if the user had removed it
    result = split_sci(vis=cal)
    assert result["counts"] == {"split": 1, "done": 1}
    made = result["ebs"][first[:-len(".split.cal")]]
    assert made["status"] == "split" and made["request"]["reindex"] is False
    assert made["note"] == "spw ids kept (the input's), as in the 1 .split.cal already in calibrated"
    assert _spw_ids(first) == _spw_ids(second) == [1, 3, 5, 7]


def test_a_member_numbered_two_ways_is_refused_naming_both_and_nothing_changes(delivery):
    cal = _restored_with_dosplit(delivery)[1]
    first, second = _splits(cal)
    shutil.rmtree(first)
    split_sci(vis=first[:-len(".split.cal")], reindex=True)  # explicit: binding, numbered from 0
    assert numbering_of(first) == "from 0" and numbering_of(second) == "kept"
    before = snapshot(delivery["project"])
    with pytest.raises(ValueError, match=r"calibrated: its .split.cal are numbered two ways: %s keep the input's "
                       r"spw ids, %s number them from 0\. concat and tclean need one numbering.*reindex=False, "
                       r"overwrite=True" % (os.path.basename(second), os.path.basename(first))):
        split_sci(vis=cal)
    assert snapshot(delivery["project"]) == before
    # the way out the error gives: redo the odd one like the others
    assert split_sci(vis=first[:-len(".split.cal")], reindex=False, overwrite=True)["counts"] == {"split": 1}
    assert split_sci(vis=cal)["counts"] == {"done": 2}


def test_without_splits_the_default_numbers_from_0_as_casas_split(restored, calibrated_dirs):
    result = split_sci(vis=calibrated_dirs[1])
    assert result["counts"] == {"split": 2}
    for vis, r in result["ebs"].items():
        assert r["request"]["reindex"] is True and "note" not in r
        assert _spw_ids(vis + ".split.cal") == [0, 1, 2, 3]
    assert split_sci(vis=calibrated_dirs[1])["counts"] == {"done": 2}  # and it is followed next time


def test_an_explicit_reindex_stays_binding(restored, calibrated_dirs):
    split_sci(vis=calibrated_dirs[1], reindex=False)
    with split_failure(r"its spw ids 1,3,5,7 are the input's \(kept\); this request has reindex=True"):
        split_sci(vis=calibrated_dirs[1], reindex=True)
    assert split_sci(vis=calibrated_dirs[1])["counts"] == {"done": 2}


@pytest.mark.subprocess
def test_the_recipe_with_dosplit_and_its_defaults_splits_every_eb(delivery, tmp_path):
    proc = run_casa(os.path.join(REPO, "recipes", "restore_and_split.py"), tmp_path,
                    startup=startup_file(tmp_path), args=[delivery["project"], "DOSPLIT=True", "PIPELINE=standin"])
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "split_sci: 3 done" in proc.stdout and "split_tgt: 3 split" in proc.stdout
    assert re.search(r"REINDEX\s+= None\s+\(default\)", proc.stdout)
