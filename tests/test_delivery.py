"""Finding members, EB measurement sets and split products: pure Python, no CASA needed."""

import os

import pytest

from casa_plugin import delivery as discovery


@pytest.mark.parametrize("name, expected", [
    ("uid___A002_Xf7ad58_Xd406.ms", True),
    ("uid___A002_Xf8f6a9_X15c79.ms", True),
    ("uid___A002_Xf7ad58_Xd406.ms.split.cal", False),
    ("uid___A002_Xf7ad58_Xd406.ms.split.cal.source", False),
    ("uid___A001_X15a2_Xb6d_targets.ms", False),
    ("uid___A001_X15a2_Xb6d_targets_line.ms", False),
    ("uid___A001_X15a2_Xb6d_cont.ms", False),
    ("uid___A001_X15a2_Xb6d_target.ms", False),
    ("uid___A002_Xf7ad58_Xd406.ms_bl", False),
    ("uid___A002_Xf7ad58_Xd406.ms.flagversions", False),
    ("calibrated.ms", False),
])
def test_eb_names(name, expected):
    assert discovery.is_eb_name(name) is expected


def _ms(path):
    os.makedirs(path)
    open(os.path.join(path, "table.dat"), "w").close()
    return path


@pytest.fixture
def tree(tmp_path):
    """A project with two members: one linked into working/, one split by the scriptForPI."""
    group = tmp_path / "proj" / "science_goal.uid___A001_X1_X2" / "group.uid___A001_X1_X3"
    m1 = group / "member.uid___A001_X1_X4"
    m2 = group / "member.uid___A001_X1_X5"
    for m in (m1, m2):
        for d in ("script", "raw", "calibration"):
            (m / d).mkdir(parents=True)
    cal1 = m1 / "calibrated"
    _ms(str(cal1 / "working" / "uid___A002_Xa_X1.ms"))
    _ms(str(cal1 / "working" / "uid___A002_Xa_X2.ms"))
    for eb in ("uid___A002_Xa_X1.ms", "uid___A002_Xa_X2.ms"):
        os.symlink(os.path.join("working", eb), str(cal1 / eb))
    _ms(str(cal1 / "working" / "uid___A001_X1_X4_targets.ms"))
    os.symlink("working/uid___A001_X1_X4_targets.ms", str(cal1 / "uid___A001_X1_X4_targets.ms"))
    cal2 = m2 / "calibrated"
    _ms(str(cal2 / "uid___A002_Xb_X1.ms.split.cal"))
    return tmp_path / "proj", m1, m2


def test_find_members_from_any_level(tree):
    project, m1, m2 = tree
    assert discovery.find_members(str(project)) == [str(m1), str(m2)]
    assert discovery.find_members(str(m1)) == [str(m1)]
    assert discovery.find_members(str(m1 / "script")) == [str(m1)]


def test_find_members_names_path_and_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="no member.uid___.*found.*ALMA delivery"):
        discovery.find_members(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="nowhere: no such directory"):
        discovery.find_members(str(tmp_path / "nowhere"))


def test_expand_project_finds_ebs_links_and_dosplit_leftovers(tree):
    project, m1, m2 = tree
    found = discovery.expand_vis(str(project))
    assert found == [str(m1 / "calibrated" / "uid___A002_Xa_X1.ms"),
                     str(m1 / "calibrated" / "uid___A002_Xa_X2.ms"),
                     str(m2 / "calibrated" / "uid___A002_Xb_X1.ms")]  # the MS is gone, its split is not


def test_expand_split_cal_products(tree):
    project, _, m2 = tree
    assert discovery.expand_vis(str(project), suffix=".split.cal") == [
        str(m2 / "calibrated" / "uid___A002_Xb_X1.ms.split.cal")]


def test_expand_glob_takes_only_ebs(tree, monkeypatch):
    _, m1, _ = tree
    monkeypatch.chdir(str(m1 / "calibrated"))
    assert discovery.expand_vis("*.ms") == ["uid___A002_Xa_X1.ms", "uid___A002_Xa_X2.ms"]
    assert discovery.expand_vis("") == ["./uid___A002_Xa_X1.ms", "./uid___A002_Xa_X2.ms"]


def test_expand_list_keeps_order_and_drops_duplicates(tree):
    _, m1, _ = tree
    a, b = (str(m1 / "calibrated" / n) for n in ("uid___A002_Xa_X2.ms", "uid___A002_Xa_X1.ms"))
    assert discovery.expand_vis([a, b, a]) == [a, b]


@pytest.mark.parametrize("vis, error, message", [
    ("missing.ms", FileNotFoundError, "missing.ms: no such file or directory"),
    ("nomatch*.ms", FileNotFoundError, "matches nothing"),
    ("afile.txt", ValueError, "afile.txt: not a measurement set"),
    ("emptydir", FileNotFoundError, "emptydir: no uid___\\*.ms execution blocks found.*run restore_pi"),
    ([], ValueError, "empty list"),
    ([3], TypeError, "must be a string"),
])
def test_expand_bad_input(tmp_path, monkeypatch, vis, error, message):
    monkeypatch.chdir(str(tmp_path))
    (tmp_path / "afile.txt").write_text("x")
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(error, match=message):
        discovery.expand_vis(vis)


def test_ppr_ebs(tmp_path):
    ppr = tmp_path / "x.pprequest.xml"
    ppr.write_text("<SciPipeRequest><ProcessingRequests><RequestingEntity>x</RequestingEntity>"
                   "<DataSet><AsdmIdentifier><AsdmDiskName>uid___A002_Xa_X1</AsdmDiskName></AsdmIdentifier>"
                   "<AsdmIdentifier><AsdmDiskName> uid___A002_Xa_X2 </AsdmDiskName></AsdmIdentifier>"
                   "</DataSet></ProcessingRequests></SciPipeRequest>")
    assert discovery.read_ppr_ebs(str(ppr)) == ["uid___A002_Xa_X1", "uid___A002_Xa_X2"]


def test_a_moved_aside_calibrated_is_not_searched_unless_named(tree):
    """restore_pi(overwrite=True) keeps the old calibrated/ as calibrated.<date>: an old restore, not split again."""
    project, m1, _ = tree
    old = m1 / "calibrated.20261201T221500"
    _ms(str(old / "uid___A002_Xa_X1.ms"))
    found = discovery.expand_vis(str(project))
    assert not [p for p in found if "calibrated.2026" in p] and len(found) == 3
    assert discovery.expand_vis(str(old)) == [str(old / "uid___A002_Xa_X1.ms")]
