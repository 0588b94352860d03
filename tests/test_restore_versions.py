"""restore_pi and CASA versions: the delivery's version, other CASA processes, and Python 3.9+ scripts."""

import glob
import json
import os
import stat
import sys

import pytest

from casa_plugin import RestoreError, restore_pi
from casa_plugin import record as run_record
from casa_plugin.restore.versions import delivery_versions, running_version, same_version
from casa_plugin.testing.synthetic_delivery import make_delivery
from prompt_helpers import casashell_startup_args

pytestmark = [pytest.mark.casa, pytest.mark.subprocess]

XB6D = "member.uid___A001_X15a2_Xb6d"


@pytest.fixture
def old_delivery(tmp_path):
    """A small delivery whose pipescript says CASA 6.2.1 (ALMA Cycle 8)."""
    return make_delivery(str(tmp_path / "old"), small=True, casa_version="6.2.1")


def _member(info, name=XB6D):
    (member,) = [m for m in info["members"] if m.endswith(name)]
    return member


@pytest.mark.parametrize("a, b, same", [("6.2.1", "6.2.1.7", True), ("6.2.1", "6.2.0.124", False),
                                        ("6.7.0.31", "6.7.0", True), ("", "6.7.0", False)])
def test_same_version(a, b, same):
    assert same_version(a, b) is same


def test_versions_read_from_the_pipescript(old_delivery):
    found = delivery_versions(_member(old_delivery))
    assert (found["casa"], found["pipeline"]) == ("6.2.1", "2021.2.0.128")
    assert found["source"].endswith(".hifa_calimage.casa_pipescript.py")


def test_versions_from_a_pipeline_manifest(old_delivery):
    member = _member(old_delivery)
    for path in glob.glob(os.path.join(member, "script", "*casa_pipescript.py")):
        os.remove(path)
    with open(os.path.join(member, "calibration", "member.uid___A001_X15a2_Xb6d.pipeline_manifest.xml"), "w") as f:
        f.write('<piperesults><casaversion name="6.4.1.12"/><pipeline_version name="2022.2.0.64"/></piperesults>')
    found = delivery_versions(member)
    assert (found["casa"], found["pipeline"]) == ("6.4.1.12", "2022.2.0.64")


def test_version_mismatch_stops_before_anything_runs(old_delivery, casa_session, tmp_path):
    stated = "6.2.1"
    if same_version(stated, running_version()):  # this is CASA 6.2.1 (Cycle 8): the delivery states another
        stated = "6.4.1"
        old_delivery = make_delivery(str(tmp_path / "other"), small=True, casa_version=stated)
    before = sorted(os.listdir(_member(old_delivery)))
    with pytest.raises(RestoreError, match=r"Xb6d: made with CASA %s \(pipeline 2021\.2\.0\.128, .*\) but "
                                           r"this is CASA %s; .*versioncheck=False"
                                           % (stated.replace(".", r"\."), running_version())):
        restore_pi(member=old_delivery["project"])
    assert sorted(os.listdir(_member(old_delivery))) == before


def test_version_mismatch_accepted(old_delivery, casa_session):
    result = restore_pi(member=_member(old_delivery), versioncheck=False)
    plan = result["members"][_member(old_delivery)]
    assert plan["status"] == "restored" and plan["casa_version"] == running_version()
    assert plan["delivery_versions"]["casa"] == "6.2.1"


def test_no_version_found_goes_on(delivery, casa_session, caplog):
    member = _member(delivery)
    for path in glob.glob(os.path.join(member, "script", "*casa_pipescript.py")):
        os.remove(path)
    assert restore_pi(member=member)["counts"] == {"restored": 1}


def test_official_scripts_import_celementtree(delivery, casa_session, monkeypatch):
    """ALMA's scriptForPIs import xml.etree.cElementTree, which newer Pythons may lack."""
    monkeypatch.setitem(sys.modules, "xml.etree.cElementTree", None)  # as if absent: import fails
    with pytest.raises(ImportError):
        import xml.etree.cElementTree  # noqa: F401
    member = _member(delivery)
    (script,) = glob.glob(os.path.join(member, "script", "*scriptForPI.py"))
    with open(script) as f:
        text = f.read()
    with open(script, "w") as f:
        f.write("import xml.etree.cElementTree as ET\nET.fromstring('<a/>')\n" + text)
    assert restore_pi(member=member)["counts"] == {"restored": 1}
    assert sys.modules["xml.etree.cElementTree"] is None  # the alias lived only while the script ran


def _casa_wrapper(tmp_path):
    """A 'casa' executable: this venv's casashell with a startup that loads the pipeline stand-in."""
    startup = tmp_path / "child_startup.py"
    startup.write_text("from casa_plugin.testing.pipeline_standin import load_into; load_into(globals())\n")
    wrapper = tmp_path / "casa"
    wrapper.write_text("#!/bin/sh\nexec %s -m casashell --nologfile %s \"$@\"\n"
                       % (sys.executable, " ".join(casashell_startup_args(startup, tmp_path))))
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    return str(wrapper)


def test_restore_in_another_casa_process(delivery, tmp_path, casa_session):
    for name in ("h_init", "hifa_restoredata", "h_save"):  # this session has no pipeline: the child has
        casa_session.pop(name)
    member = _member(delivery)
    result = restore_pi(member=member, casa=_casa_wrapper(tmp_path))
    plan = result["members"][member]
    assert plan["status"] == "restored" and plan["casa_version"] == running_version()
    assert sorted(plan["products"]) == ["uid___A002_Xf7ad58_Xd406", "uid___A002_Xf8f6a9_X15c79"]
    record = run_record.load(os.path.join(member, "calibrated"))["restore"]
    assert record["casa"].endswith("casa") and record["casa_version"] == running_version()


def test_casa_auto_picks_the_configured_version(old_delivery, tmp_path, casa_session, monkeypatch):
    config = tmp_path / "casa_versions.json"
    config.write_text(json.dumps({"6.2.1": _casa_wrapper(tmp_path)}))
    monkeypatch.setenv("CASA_PLUGIN_CONFIG", str(config))
    member = _member(old_delivery)
    # the wrapper is really CASA 6.7 here, so the child must be told to accept the 6.2.1 delivery
    result = restore_pi(member=member, casa="auto", versioncheck=False)
    assert result["members"][member]["status"] == "restored"


def test_casa_auto_without_a_configured_version(old_delivery, tmp_path, casa_session, monkeypatch):
    config = tmp_path / "casa_versions.json"
    config.write_text(json.dumps({"6.4.1": "/opt/casa-6.4.1/bin/casa"}))
    monkeypatch.setenv("CASA_PLUGIN_CONFIG", str(config))
    with pytest.raises(RestoreError, match=r"made with CASA 6\.2\.1, and \S*casa_versions\.json maps no executable "
                                           r"to that version; add \"6\.2\.1\": \"/path/to/casa\" there"):
        restore_pi(member=old_delivery["project"], casa="auto")


def test_casa_auto_without_the_versions_file_says_where_and_how_to_write_it(old_delivery, tmp_path, casa_session,
                                                                            monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CASA_PLUGIN_CONFIG", raising=False)
    expected = os.path.join(str(tmp_path / "home"), ".config", "casa_plugin", "casa_versions.json")
    with pytest.raises(RestoreError) as info:
        restore_pi(member=old_delivery["project"], casa="auto")
    text = str(info.value)
    assert "maps no executable" not in text
    assert ("made with CASA 6.2.1; casa='auto' reads your CASA releases from %s (the file $CASA_PLUGIN_CONFIG "
            "names, else ~/.config/casa_plugin/casa_versions.json), which does not exist; write it as JSON, one entry "
            "per release, e.g. {\"6.2.1\": \"/path/to/casa-6.2.1/bin/casa\"}, or pass casa='/path/to/casa'"
            % expected) in text, text


def test_casa_not_an_executable(delivery, casa_session, tmp_path):
    with pytest.raises(RestoreError, match=r"casa='/no/such/casa': no such executable"):
        restore_pi(member=_member(delivery), casa="/no/such/casa")
