"""preflight on copies of synthetic deliveries: each problem real deliveries have is named before anything runs.

A binary data file cut short, Main.xml removed, a member copied to a second path, a table locked by a live
helper process, a Cycle 5-6 member (Python 2 scriptForPI), a restore script whose lists do not match; after
each refusal no file under the delivery has changed (listing and mtimes), casa_plugin_report/ aside.
"""

import json
import os
import shutil
import socket
import subprocess
import sys

import pytest

from casa_plugin import RestoreError, restore_pi
from casa_plugin.restore.preflight import check_duplicates, check_member
from casa_plugin.testing.synthetic_delivery import make_delivery, make_python2_member

pytestmark = pytest.mark.casa


def snapshot(project):
    """Every path under ``project`` (casa_plugin_report/ aside) with its kind, size and mtime."""
    seen = {}
    for root, dirs, files in os.walk(project):
        dirs[:] = [d for d in dirs if not (root == project and d == "casa_plugin_report")]
        for name in dirs + files:
            path = os.path.join(root, name)
            st = os.lstat(path)
            seen[os.path.relpath(path, project)] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return seen


def refused(project, match, **kwargs):
    """restore_pi refuses in its preflight with ``match``; nothing under the project changed."""
    before = snapshot(project)
    with pytest.raises(RestoreError, match=r"preflight failed; nothing was run:\n(.|\n)*" + match) as info:
        restore_pi(**kwargs)
    assert snapshot(project) == before
    return str(info.value)


def options(**kw):
    base = {"spacesaving": None, "overwrite": False, "checkdisk": True, "versioncheck": False, "casa": None}
    base.update(kw)
    return base


@pytest.fixture(scope="module")
def real_asdm_delivery(tmp_path_factory):
    """A one-member, one-EB delivery whose raw/ holds a real ASDM (exportasdm)."""
    return make_delivery(str(tmp_path_factory.mktemp("real_asdm")), small=True, members=1, ebs=1, asdm=True)


@pytest.fixture
def real_copy(real_asdm_delivery, tmp_path):
    dest = str(tmp_path / "2021.1.00690.S")
    shutil.copytree(real_asdm_delivery["project"], dest, symlinks=True)
    (member,) = [os.path.join(dest, os.path.relpath(m, real_asdm_delivery["project"]))
                 for m in real_asdm_delivery["members"]]
    (eb,) = real_asdm_delivery["members"][next(iter(real_asdm_delivery["members"]))]
    return dest, member, os.path.join(member, "raw", eb + ".asdm.sdm")


def test_a_whole_real_asdm_passes(real_copy, casa_session):
    project, member, asdm = real_copy
    assert check_member(member, casa_session, options())["problems"] == []


def test_a_binary_file_cut_short_is_named(real_copy, casa_session):
    project, member, asdm = real_copy
    binary = os.path.join(asdm, "ASDMBinary")
    bdf = os.path.join(binary, sorted(os.listdir(binary), key=lambda n: -os.path.getsize(os.path.join(binary, n)))[0])
    with open(bdf, "r+b") as f:
        f.truncate(os.path.getsize(bdf) // 2)
    refused(project, r"%s: \d+ bytes, shorter than the \d+ bytes of data that Main.xml gives for it \(cut short"
            r".*download this EB's raw data again" % bdf, member=project)


def test_a_binary_file_without_its_closing_boundary_is_named(real_copy, casa_session):
    project, member, asdm = real_copy
    binary = os.path.join(asdm, "ASDMBinary")
    bdf = os.path.join(binary, sorted(os.listdir(binary))[0])
    with open(bdf, "r+b") as f:
        f.truncate(os.path.getsize(bdf) - 30)  # still longer than its dataSize: only the boundary tells
    refused(project, r"%s: does not end with its closing MIME boundary --MIME_boundary-1-- \(cut short\)" % bdf,
            member=project)


def test_main_xml_removed_is_named(real_copy, casa_session):
    project, member, asdm = real_copy
    os.remove(os.path.join(asdm, "Main.xml"))
    refused(project, r"%s: missing, but ASDM.xml declares \d+ Main rows; download" % os.path.join(asdm, "Main.xml"),
            member=project)


def test_an_unreadable_asdm_xml_is_named(real_copy, casa_session):
    project, member, asdm = real_copy
    with open(os.path.join(asdm, "ASDM.xml"), "r+b") as f:
        f.truncate(500)
    refused(project, r"%s: unreadable \(" % os.path.join(asdm, "ASDM.xml"), member=project)


def test_a_member_copied_to_a_second_path_is_named_with_both(delivery, casa_session):
    project = delivery["project"]
    first = sorted(delivery["members"])[0]
    second = os.path.join(project, "unpacked_again", os.path.relpath(first, project))
    shutil.copytree(first, second, symlinks=True)
    text = refused(project, r"%s: found twice under the project, at %s and %s \(a delivery unpacked twice\?\); keep "
                   r"one: move the other copy out of the project, or restore only one, by its path: "
                   r"restore_pi\(member='%s'\)" % (os.path.basename(first), first, second, first), member=project)
    assert text.count("found twice") == 1


def test_a_link_to_a_member_is_not_a_duplicate(delivery, casa_session):
    project = delivery["project"]
    first = sorted(delivery["members"])[0]
    link = os.path.join(project, "links", os.path.basename(first))
    os.makedirs(os.path.dirname(link))
    os.symlink(first, link)
    plans = [check_member(m, casa_session, options()) for m in sorted([first, link])]
    assert check_duplicates(plans) == []
    by_path = dict((p["member"], p) for p in plans)
    assert by_path[first]["status"] == "restore"
    assert by_path[link]["status"] == "already restored"
    assert by_path[link]["note"] == "the same directory as %s (a link to it): restored there" % first


HOLDER = """
import sys, casatools
tb = casatools.table()
tb.open(sys.argv[1], lockoptions={'option': 'permanent'})
print('locked', flush=True)
sys.stdin.read()
tb.close()
"""


def test_a_table_locked_by_a_live_process_is_named_with_its_pid_and_host(restored, casa_session):
    member = sorted(restored["members"])[0]
    eb = restored["members"][member][0]
    ms = os.path.join(member, "calibrated", eb + ".ms")
    helper = subprocess.Popen([sys.executable, "-c", HOLDER, ms], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              universal_newlines=True)
    try:
        assert helper.stdout.readline().strip() == "locked"
        text = refused(restored["project"], r"overwrite=True would move calibrated/ aside, but %s: read-locked "
                       r"permanently by process %d on this host \(%s\): .*python" % (
                           ms, helper.pid, socket.gethostname()), member=member, overwrite=True)
        assert "close the table in that program (or end it)" in text
    finally:
        helper.stdin.close()
        helper.wait(timeout=60)
    assert check_member(member, casa_session, options(overwrite=True))["problems"] == []  # released: no problem


def test_a_cycle_5_member_is_refused_with_the_casa_5_release(delivery, casa_session):
    member = sorted(delivery["members"])[0]
    make_python2_member(member)
    text = refused(delivery["project"], r"%s: member.uid___\w+.scriptForPI.py is Python 2 \(line \d+: Missing "
                   r"parentheses in call to 'print'.*\), written for CASA 5, so this CASA [\d.]+ cannot run it; it "
                   r"needs CASA 5.4.0 \(named by member.\w+.hifa_calimage.casa_pipescript.py\)\. Give that CASA: "
                   r"restore_pi\(member='%s', casa='/path/to/casa-5.4.0/bin/casa'\), or casa='auto' with "
                   r"\"5.4.0\": \"/path/to/casa-5.4.0/bin/casa\" in " % (os.path.basename(member), member),
                   member=member)
    assert "pipeline is not loaded" not in text and "made with CASA" not in text
    assert not os.path.exists(os.path.join(member, "calibrated"))


def test_a_cycle_5_member_with_its_casa_5_given_passes_the_preflight(delivery, casa_session, tmp_path, monkeypatch):
    member = sorted(delivery["members"])[0]
    make_python2_member(member)
    config = tmp_path / "casa_versions.json"
    config.write_text(json.dumps({"5.4.0": "/opt/casa-5.4.0-70/bin/casa"}))
    monkeypatch.setenv("CASA_PLUGIN_CONFIG", str(config))
    plan = check_member(member, casa_session, options(casa="auto", versioncheck=True))
    assert plan["problems"] == [] and plan["casa"] == "/opt/casa-5.4.0-70/bin/casa"
    assert plan["python2"]["release"] == "5.4.0"
    plan = check_member(member, casa_session, options(casa="/opt/casa-5.4.0-70/bin/casa"))
    assert plan["problems"] == []


def edit_restore_script(member, edit):
    """Rewrite the member's casa_piperestorescript with ``edit(text)``; return its path."""
    script = os.path.join(member, "script")
    (name,) = [n for n in os.listdir(script) if n.endswith("casa_piperestorescript.py")]
    path = os.path.join(script, name)
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(edit(text))
    return path


def test_a_restore_script_listing_an_eb_raw_lacks_is_named(delivery, casa_session):
    member = sorted(delivery["members"])[0]
    path = edit_restore_script(member, lambda text: text.replace("vis=['", "vis=['uid___A002_X0_X0', '").replace(
        "session=['", "session=['session_9', '"))
    refused(delivery["project"], r"%s: script/%s restores uid___A002_X0_X0, which raw/ lacks \(%s\); the restore "
            r"script and raw/ or calibration/ belong to different downloads" % (
                os.path.basename(member), os.path.basename(path), os.path.join(member, "raw")), member=member)


def test_a_session_without_its_caltables_is_named(delivery, casa_session):
    member = sorted(delivery["members"])[0]
    path = edit_restore_script(member, lambda text: text.replace("session=['session_1'", "session=['session_7'"))
    refused(delivery["project"], r"calibration/ lacks \*\.session_7\.caltables\.tgz \(uid___\w+'s session\), which "
            r"script/%s needs" % os.path.basename(path), member=member)


def test_a_restore_script_with_more_sessions_than_ebs_is_named(delivery, casa_session):
    member = [m for m, ebs in sorted(delivery["members"].items()) if len(ebs) == 2][0]

    def three_sessions(text):
        start = text.index("session=[")
        return text[:start] + "session=['session_1', 'session_1', 'session_2']" + text[text.index("]", start) + 1:]
    edit_restore_script(member, three_sessions)
    refused(delivery["project"], r"gives 3 sessions for %d EBs \(one per EB" % len(delivery["members"][member]),
            member=member)
