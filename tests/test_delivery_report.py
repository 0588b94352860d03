"""The delivery report: every section for both members of the demo, its numbers against the MSs, a real browser.

The numbers the pictures were drawn from (``<svg>.json`` beside each SVG, gathered in ``report.json``) are
checked against the MSs, read here with casatools (the FLAG column itself, not flagdata), and the SVGs are
read as XML for the labels and bars those numbers should give.
"""

import glob
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from xml.etree import ElementTree

import numpy as np
import pytest

import browser_helpers
from browser_helpers import chromium_or_skip, open_page, what_is_broken
from casa_helpers import columns, subtable_column
from casa_plugin import restore_pi, split_sci, split_tgt
from casa_plugin.delivery_report.figures import PALETTE, differing_spws
from report_helpers import svg_bars, svg_texts

pytestmark = pytest.mark.casa
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SECTIONS = ("Spectral setup", "Observation timeline", "Flags", "Steps")


def _report(project):
    folder = os.path.join(project, "casa_plugin_report")
    with open(os.path.join(folder, "index.html")) as f:
        page = f.read()
    with open(os.path.join(folder, "report.json")) as f:
        return folder, page, json.load(f)


def _member_html(page, name):
    """The part of the page about member ``name`` (up to the next member's heading)."""
    start = page.index("<h2 id='%s'>" % name)
    end = page.find("<h2 ", start + 1)
    return page[start:end if end > 0 else len(page)]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """What `make demo` makes: tools/demo.py (the recipe at the real CASA prompt) in a work directory."""
    workdir = str(tmp_path_factory.mktemp("demo") / "demo")
    run = subprocess.run([sys.executable, os.path.join(REPO, "tools", "demo.py"), "--workdir", workdir],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=900)
    assert run.returncode == 0, run.stdout[-4000:]
    project = os.path.join(workdir, "2021.1.00690.S")
    return {"workdir": workdir, "project": project, "output": run.stdout}


def _science_spws(vis):
    """The default rule, computed here: spws observed with OBSERVE_TARGET* that have at least 5 channels."""
    from casatools import msmetadata
    md = msmetadata()
    md.open(vis)
    try:
        spws = set()
        for intent in md.intents():
            if intent.startswith("OBSERVE_TARGET"):
                spws.update(int(s) for s in md.spwsforintent(intent))
        return sorted(s for s in spws if md.nchan(s) >= 5)
    finally:
        md.close()


def _flagged(vis, spws=None):
    """Flagged fraction per spw and per antenna from the FLAG column (only ``spws``, if given)."""
    spw_of = subtable_column(vis, "DATA_DESCRIPTION", "SPECTRAL_WINDOW_ID")
    names = subtable_column(vis, "ANTENNA", "NAME")
    by_spw, by_antenna = {}, {}
    for ddid in sorted(set(columns(vis, ("DATA_DESC_ID",))["DATA_DESC_ID"])):
        spw = int(spw_of[ddid])
        if spws is not None and spw not in spws:
            continue
        main = columns(vis, ("FLAG", "ANTENNA1", "ANTENNA2"), query="DATA_DESC_ID==%d" % ddid)
        per_row = main["FLAG"].sum(axis=(0, 1))  # FLAG is (ncorr, nchan, nrow) within one spw
        size = main["FLAG"].shape[0] * main["FLAG"].shape[1]
        counts = by_spw.setdefault(str(spw), [0, 0])
        counts[0], counts[1] = counts[0] + per_row.sum(), counts[1] + size * len(per_row)
        for a, name in enumerate(names):
            rows = (main["ANTENNA1"] == a) | (main["ANTENNA2"] == a)
            counts = by_antenna.setdefault(name, [0, 0])
            counts[0], counts[1] = counts[0] + per_row[rows].sum(), counts[1] + size * np.count_nonzero(rows)
    return tuple(dict((k, f / float(n)) for k, (f, n) in c.items() if n) for c in (by_spw, by_antenna))


def _check_pictures(member, drawn, svgs):
    """The SVGs show what their numbers say: titles, every spw label, EB, scan, antenna and value, one bar each."""
    texts = dict((key, svg_texts(root)) for key, root in svgs.items())
    name = member["name"]
    assert "Spectral setup of member %s" % name in texts["spectral"]
    assert "Observation timeline of member %s" % name in texts["timeline"]
    assert "Flagged fraction of member %s (as flagdata summary counts)" % name in texts["flags"]
    for eb in member["ebs"]:
        assert [t for t in texts["spectral"] if t.startswith(eb["eb"] + "\nscience 1,3,5,7\n")]
        for label in drawn["spectral"][eb["eb"]]["labels"].values():  # the id on its own line in a narrow bar
            assert label in texts["spectral"] or label.replace(": ", ":\n", 1) in texts["spectral"]
        assert [t for t in texts["timeline"] if t.startswith("%s, from " % eb["eb"])]
        for scan in drawn["timeline"][eb["eb"]]:  # on its bar, or before the fields when the bar is too narrow
            assert str(scan["scan"]) in texts["timeline"] or [t for t in texts["timeline"]
                                                              if t.startswith("%d: " % scan["scan"])]
        flags = drawn["flags"][eb["eb"]]
        for title in ("science spw (restored id->new id)", "antenna"):
            assert "%s: per %s" % (eb["eb"], title) in texts["flags"]
        for label, steps in flags["spw"].items():
            assert label in texts["flags"]
            for value in steps.values():
                assert "%.1f" % (value * 100) in texts["flags"]
        for antenna in flags["antenna"]:
            assert antenna in texts["flags"]
    for step, label, colour in (("restored", "restored MS", "orange"), (".split.cal", ".split.cal", "blue"),
                                (".source", ".source", "green")):
        assert label in texts["flags"]
        bars = sum(len(f["spw"]) + len(f["antenna"]) for f in drawn["flags"].values())
        assert len(svg_bars(svgs["flags"], PALETTE[colour])) == bars, step  # the legend's swatch is not a bar
    scans = sum(len(s) for s in drawn["timeline"].values())
    assert len(svg_bars(svgs["timeline"], stroke="#ffffff")) == scans


@pytest.mark.subprocess
def test_demo_report_has_every_section_for_both_members(demo):
    """Issue 11: after `make demo`, the report holds the pictures and the steps table of both members."""
    folder, page, data = _report(demo["project"])
    assert "report: %s" % os.path.join(folder, "index.html") in demo["output"]  # the path is printed
    names = [m["name"] for m in data["members"]]
    assert names == ["uid___A001_X15a2_Xb6b", "uid___A001_X15a2_Xb6d"]
    assert "<script" not in page.lower() and not re.search(r"(src|href)=['\"](https?:)?//", page)
    for member in data["members"]:
        part = _member_html(page, member["name"])
        assert [s for s in _SECTIONS if "<h3>%s</h3>" % s not in part] == []
        svgs = {}
        for picture in ("spectral", "timeline", "flags"):
            found = glob.glob(os.path.join(folder, "%s_%s_*.svg" % (member["name"], picture)))
            assert len(found) == 1 and "src='%s'" % os.path.basename(found[0]) in part
            svgs[picture] = root = ElementTree.parse(found[0]).getroot()
            assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.get("width") == "1200"
            assert int(root.get("height")) > 200
        assert glob.glob(os.path.join(folder, "*.png")) == []
        _check_pictures(member, data["drawn"][member["name"]], svgs)
        assert "Restore: <b>restored</b>" in part
        for eb in member["ebs"]:
            split = eb["restored"] + ".split.cal"
            row = re.search(r"<tr class=''><td>%s</td><td>split_sci</td>(.*?)</tr>" % eb["eb"], part).group(1)
            cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
            # input, output, size, rows, spws old->new, fields, made by, duration, status, last error
            assert cells[1].endswith(os.path.basename(split)) and re.match(r"[\d.]+ MB$", cells[2])
            assert int(cells[3]) == len(columns(split, ("TIME",))["TIME"])
            assert cells[4] == "1&rarr;0, 3&rarr;1, 5&rarr;2, 7&rarr;3"
            assert cells[6] == "casa_plugin" and re.match(r"[\d.]+ s$", cells[7]) and cells[8] == "split"
            assert re.search(r"<td>%s</td><td>split_tgt</td>.*<td>split</td>" % eb["eb"], part)
            assert re.search(r"<td>%s</td><td>restore</td>.*<td>scriptForPI</td>" % eb["eb"], part)


@pytest.mark.subprocess
def test_demo_report_numbers_are_those_of_the_ms(demo):
    """Issue 11: science spws, channel counts, scans and flagged fractions drawn are the MSs' own."""
    folder, page, data = _report(demo["project"])
    for member in data["members"]:
        drawn = data["drawn"][member["name"]]
        assert set(drawn) == {"spectral", "timeline", "flags"}
        for eb in member["ebs"]:
            restored_ms = eb["restored"]
            split = restored_ms + ".split.cal"
            science = _science_spws(restored_ms)
            spectral = drawn["spectral"][eb["eb"]]
            assert spectral["science"] == science == [1, 3, 5, 7]
            assert spectral["rule"] == "intent OBSERVE_TARGET*, >= 5 channels" and spectral["differs"] == []
            nchan = subtable_column(restored_ms, "SPECTRAL_WINDOW", "NUM_CHAN")
            assert spectral["nchan"] == {str(i): int(n) for i, n in enumerate(nchan)}
            assert spectral["labels"]["1"] == "1: 64×29.3 MHz"
            scans = drawn["timeline"][eb["eb"]]
            main = columns(restored_ms, ("SCAN_NUMBER", "FIELD_ID"))
            fields = subtable_column(restored_ms, "FIELD", "NAME")
            assert [s["scan"] for s in scans] == sorted(set(main["SCAN_NUMBER"]))
            for scan in scans:
                ids = set(main["FIELD_ID"][main["SCAN_NUMBER"] == scan["scan"]])
                assert scan["fields"] == [fields[i] for i in sorted(ids)]
            assert "target" in [s["intent"] for s in scans]
            flags = drawn["flags"][eb["eb"]]
            spw_map = eb["sci"]["spw_map"]
            for step, vis, spws in (("restored", restored_ms, science), (".split.cal", split, None),
                                    (".source", split + ".source", None)):
                by_spw, by_antenna = _flagged(vis, spws)
                assert any(v > 0 for v in by_spw.values())  # the synthetic data have flags to show
                for old in science:
                    key = str(old) if step == "restored" else str(spw_map[str(old)])
                    label = "%d->%s" % (old, spw_map[str(old)])
                    assert flags["spw"][label][step] == pytest.approx(by_spw[key], abs=1e-5), (eb["eb"], step, old)
                assert set(flags["antenna"]) == set(by_antenna)
                for antenna, value in by_antenna.items():
                    assert flags["antenna"][antenna][step] == pytest.approx(value, abs=1e-5), (eb["eb"], antenna)


@pytest.mark.subprocess
def test_demo_report_in_headless_chromium(demo):
    """Issue 11: the page loads from disk with no console errors and no missing images; a screenshot is saved."""
    browser = chromium_or_skip("the report page")
    folder = os.path.join(demo["project"], "casa_plugin_report")
    shot = os.path.join(demo["workdir"], "report_screenshot.png")
    seen = open_page(browser, "file://" + os.path.join(folder, "index.html"), shot)
    assert what_is_broken(seen, folder) == []  # no console entry, no failed load, every image shown, all local
    assert seen["title"] == "casa_plugin report 2021.1.00690.S"
    assert len(seen["images"]) == 6  # three pictures for each of the two members
    for src, complete, width, height in seen["images"]:
        assert complete and width == 1200 and height > 200, src
    with open(shot, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(shot) > 100000


def test_browser_check_sees_a_missing_image_a_console_error_and_an_external_request(tmp_path):
    """The browser check can fail: a page with a missing picture, a script error and a request off the disk is
    reported as broken, each for what it is."""
    browser = chromium_or_skip("a broken test page")
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><head><title>t</title>"
                    "<link rel='stylesheet' href='https://cdn.example.invalid/style.css'></head>"
                    "<body><img src='missing.png'>"
                    "<script>console.error('bad'); undefined_function();</script></body></html>")
    seen = open_page(browser, "file://%s" % page, str(tmp_path / "shot.png"))
    assert seen["images"] == [["missing.png", True, 0, 0]]
    broken = what_is_broken(seen, str(tmp_path))
    assert any(re.match(r"SEVERE console-api: .*broken\.html .*\"bad\"", p) for p in broken), broken
    assert any(re.match(r"SEVERE javascript: .*Uncaught ReferenceError: undefined_function", p) for p in broken)
    assert "failed to load: file://%s (net::ERR_FILE_NOT_FOUND)" % (tmp_path / "missing.png") in broken, broken
    assert "image not shown: missing.png" in broken
    assert [p for p in broken if p.startswith("not local")] == ["not local: https://cdn.example.invalid/style.css"]
    with open(str(tmp_path / "shot.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.subprocess
def test_browser_check_sees_a_broken_report_page(demo, tmp_path):
    """The demo's report, copied, with one picture deleted and a stylesheet from the web: the checks the demo's
    page passes name that picture and that request, and nothing else."""
    browser = chromium_or_skip("a broken report page")
    folder = str(tmp_path / "casa_plugin_report")
    shutil.copytree(os.path.join(demo["project"], "casa_plugin_report"), folder)
    index = os.path.join(folder, "index.html")
    with open(index) as f:
        page = f.read()
    gone = re.search(r"<img [^>]*src='([^']+)'", page).group(1)
    os.remove(os.path.join(folder, gone))
    with open(index, "w") as f:
        f.write(page.replace("</head>", "<link rel='stylesheet' href='https://cdn.example.invalid/r.css'></head>", 1))
    broken = what_is_broken(open_page(browser, "file://" + index, str(tmp_path / "shot.png")), folder)
    console = [p for p in broken if p.startswith("SEVERE network:")]  # the console's own "Failed to load resource"
    assert sorted(set(broken) - set(console)) == sorted([
        "failed to load: file://%s (net::ERR_FILE_NOT_FOUND)" % os.path.join(folder, gone),
        "failed to load: https://cdn.example.invalid/r.css (net::ERR_NAME_NOT_RESOLVED)",
        "image not shown: %s" % gone, "not local: https://cdn.example.invalid/r.css"]), broken
    assert len(console) == 2 and any(gone in p for p in console) and any("r.css" in p for p in console), broken


@pytest.mark.parametrize("lacking", ["chromedriver", "selenium"])
def test_without_chromedriver_or_selenium_the_browser_tests_skip_outside_ci_and_fail_under_it(
        lacking, tmp_path, monkeypatch):
    """Like Chromium, its driver (/usr/bin/chromedriver) and Selenium: without them the browser tests skip outside
    CI, saying what is missing and how to install it, and fail under CI."""
    monkeypatch.setattr(browser_helpers, "find_chromium", lambda: "/usr/bin/chromium")  # the browser is there
    if lacking == "chromedriver":
        driver = str(tmp_path / "chromedriver")
        name, install = "chromedriver at " + driver, "apt-get install chromium-driver"
    else:
        driver = sys.executable  # an executable file stands for the driver
        name, install = "selenium", "pip install -e '.[test]'"
        monkeypatch.setitem(sys.modules, "selenium", None)  # import selenium raises ImportError
    monkeypatch.setattr(browser_helpers, "CHROMEDRIVER", driver)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="^" + re.escape(
            "no %s on this machine, so a page was not opened in a browser: CI does it (.ci/run installs Chromium "
            "and its driver); %s to do it here" % (name, install)) + "$"):
        chromium_or_skip("a page")
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="^" + re.escape(
            "%s is not installed; .ci/run installs it (apt-get install -y chromium chromium-driver; make setup "
            "installs selenium)" % name) + "$"):
        chromium_or_skip("a page")


@pytest.mark.subprocess
def test_without_chromium_the_browser_tests_skip_outside_ci_and_fail_under_it(tmp_path):
    """Issue 23, case 14: on a machine without Chromium (none on the PATH) the browser test skips, saying what
    it did not check and that CI runs it (.ci/run installs Chromium); under CI it fails."""
    empty = tmp_path / "empty"
    empty.mkdir()
    node = ("tests/test_delivery_report.py::"
            "test_browser_check_sees_a_missing_image_a_console_error_and_an_external_request")
    outcomes = {}
    for ci in (False, True):
        env = dict(os.environ, PATH=str(empty))
        env.pop("CI", None)
        if ci:
            env["CI"] = "1"
        proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rsf", "--basetemp",
                               str(tmp_path / ("run%d" % ci)), os.path.join(REPO, node)], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=300)
        outcomes[ci] = proc.stdout
    assert re.search(r"SKIPPED \[1\] .*no chromium on this machine, so a broken test page was not opened in a "
                     r"browser: CI does it \(\.ci/run installs Chromium and its driver\)",
                     outcomes[False]), outcomes[False]
    assert re.search(r"\b1 skipped\b", outcomes[False]) and "failed" not in outcomes[False]
    assert re.search(r"FAILED .*chromium is not installed; \.ci/run installs it", outcomes[True]), outcomes[True]


def test_width_is_written_on_the_science_spws(restored):
    """The averaged channels of ``width=`` are written on each science spw of the spectral setup."""
    split_sci(vis=restored["project"], width=4)
    _, page, data = _report(restored["project"])
    for member in data["members"]:
        for eb, spectral in data["drawn"][member["name"]]["spectral"].items():
            assert spectral["labels"]["1"] == "1: 64×29.3 MHz\n→ 16×117 MHz"
            assert spectral["labels"]["2"] == "2: 1×1.88 GHz"  # not a science spw: no averaging shown


def test_dryrun_writes_the_report_of_the_plan(restored):
    """Issue 11: dryrun=True writes the report of what would be selected, and no MS."""
    project = restored["project"]
    _, page, _ = _report(project)  # restore_pi wrote it when the fixture was restored
    assert page.count("Restore: <b>restored</b>") == 2 and "<td>split_sci</td>" not in page
    split_sci(vis=project, dryrun=True, spw="1,3")
    folder, page, data = _report(project)
    assert "<b>plan</b> of a dry run" in page
    assert glob.glob(os.path.join(project, "*", "*", "*", "calibrated", "*.split.cal*")) == []
    ebs = [eb for member in data["members"] for eb in member["ebs"]]
    assert len(ebs) == 3 and all(eb["sci"]["status"] == "planned" for eb in ebs)
    for member in data["members"]:
        for eb in member["ebs"]:
            assert data["drawn"][member["name"]]["spectral"][eb["eb"]]["science"] == [1, 3]
            assert data["drawn"][member["name"]]["spectral"][eb["eb"]]["rule"] == "spw=1,3 (given)"
    assert page.count("<td>split_sci</td>") == 3 and page.count("<td>planned</td>") == 3


def test_restore_dryrun_reports_the_members_to_restore(delivery, casa_session):
    """A dry run of restore_pi writes a report of the members and their EBs, with no pictures yet."""
    restore_pi(member=delivery["project"], dryrun=True)
    _, page, data = _report(delivery["project"])
    assert [m["restore"]["status"] for m in data["members"]] == ["planned", "planned"]
    assert [len(m["ebs"]) for m in data["members"]] == [1, 2]
    assert page.count("Not available yet") == 6 and "<img" not in page
    assert not glob.glob(os.path.join(delivery["project"], "*", "*", "*", "calibrated"))


def test_a_report_that_cannot_be_written_is_only_a_warning(restored, caplog):
    """Drawing never breaks the real work: an unwritable report folder gives a warning, the split is done."""
    project = restored["project"]
    shutil.rmtree(os.path.join(project, "casa_plugin_report"))  # restore_pi's report
    with open(os.path.join(project, "casa_plugin_report"), "w") as f:
        f.write("in the way")
    with caplog.at_level(logging.WARNING):
        result = split_sci(vis=project)
    assert result["counts"] == {"split": 3}
    assert re.search(r"split_sci: could not write the report \(FileExistsError: .*casa_plugin_report", caplog.text)
    # issue 23, case 3: the warning says where the traceback is, and it is there
    from casatasks import casalog
    logfile = re.search(r"traceback in the CASA log \((.*?)\)", caplog.text).group(1)
    assert logfile == casalog.logfile()
    with open(logfile) as f:
        text = f.read()
    assert re.search(r"the report could not be written:\n.*Traceback \(most recent call last\):.*in write_report.*"
                     r"FileExistsError", text, re.S)


def test_a_second_report_reuses_the_flag_summaries(restored, monkeypatch):
    """Flag summaries are cached by each MS's table.dat mtime, pictures by their facts: nothing is redone."""
    from casa_plugin.delivery_report import flagsummary, write_report
    project = restored["project"]
    split_sci(vis=project)
    calls = []
    real = flagsummary._counts
    monkeypatch.setattr(flagsummary, "_counts", lambda vis: calls.append(vis) or real(vis))
    folder = os.path.join(project, "casa_plugin_report")
    pictures = dict((p, os.path.getmtime(p)) for p in glob.glob(os.path.join(folder, "*.svg")))
    assert len(pictures) == 6
    write_report([project], task="split_sci")
    assert calls == []  # no MS summarised again, and no picture redrawn
    assert dict((p, os.path.getmtime(p)) for p in glob.glob(os.path.join(folder, "*.svg"))) == pictures
    split = sorted(glob.glob(os.path.join(project, "*", "*", "*", "calibrated", "*.split.cal")))[0]
    os.utime(os.path.join(split, "table.dat"), (1, 1))  # as if its flags had changed since the split
    write_report([project], task="split_sci")
    assert calls == [split]  # no longer a copy of its input's flags: counted itself


def test_a_plain_split_s_flags_are_its_input_s_until_either_changes(restored, monkeypatch):
    """A plain science split's flags are counted from its input's (no second pass over FLAG), and are the
    split's own FLAG column's; once the split is flagged further, or averaged, it is counted itself."""
    from casatasks.flagdata import flagdata
    from casa_plugin.delivery_report import flagsummary, write_report
    project = restored["project"]
    calls = []
    real = flagsummary._counts
    monkeypatch.setattr(flagsummary, "_counts", lambda vis: calls.append(os.path.basename(vis)) or real(vis))
    split_sci(vis=project)
    split_tgt(vis=project)
    assert calls and not [c for c in calls if ".split.cal" in c], calls  # restored MSs only
    folder, _, data = _report(project)
    eb = data["members"][0]["ebs"][0]
    split = eb["restored"] + ".split.cal"
    spw_map = eb["sci"]["spw_map"]
    for key, vis in ((".split.cal", split), (".source", split + ".source")):
        by_spw, by_antenna = _flagged(vis)
        assert eb["flags"][key]["spw"] == pytest.approx(by_spw, abs=1e-6), key
        assert eb["flags"][key]["antenna"] == pytest.approx(by_antenna, abs=1e-6), key
    assert eb["flags"][".source"]["total"] != eb["flags"][".split.cal"]["total"]  # other rows: a real check
    by_spw = _flagged(split)[0]
    restored_by_spw = eb["flags"]["restored"]["spw"]
    assert {spw_map[k]: v for k, v in restored_by_spw.items()} == pytest.approx({int(k): v for k, v in by_spw.items()},
                                                                                abs=1e-6)

    flagdata(vis=split, mode="manual", antenna=subtable_column(split, "ANTENNA", "NAME")[1], flagbackup=False)
    del calls[:]
    write_report([project], task="split_sci")
    assert calls == [os.path.basename(split), os.path.basename(split) + ".source"]  # neither a copy now
    eb = _report(project)[2]["members"][0]["ebs"][0]
    by_spw, by_antenna = _flagged(split)
    assert eb["flags"][".split.cal"]["spw"] == pytest.approx(by_spw, abs=1e-6)
    assert eb["flags"][".split.cal"]["total"] > eb["flags"]["restored"]["total"] + 0.05  # the new flags show

    del calls[:]
    split_sci(vis=project, width=2, overwrite=True)
    assert len([c for c in calls if c.endswith(".split.cal")]) == 3  # averaged: not a copy, each counted
    eb = _report(project)[2]["members"][0]["ebs"][0]
    assert eb["flags"][".split.cal"]["spw"] == pytest.approx(_flagged(split)[0], abs=1e-6)


def test_spws_that_differ_between_ebs_stand_out():
    """A spw whose channels or frequencies differ from the other EBs', or that only some EBs have, is marked."""
    spw = {"name": "SW-01", "nchan": 64, "lo_ghz": 230.0, "hi_ghz": 231.9}
    ebs = [{"eb": "a", "spws": {"1": spw, "3": spw}}, {"eb": "b", "spws": {"1": spw, "3": spw}},
           {"eb": "c", "spws": {"1": dict(spw, nchan=128)}}]
    assert differing_spws(ebs) == {"a": {"3"}, "b": {"3"}, "c": {"1"}}
    # two EBs that disagree: neither setup is the usual one, both are marked (whatever the hash order)
    assert differing_spws(ebs[1:]) == {"b": {"1", "3"}, "c": {"1"}}


def test_the_report_only_reads_the_mss(restored):
    """Summarising flags and reading spws and scans of every MS, from no cache, changes no file of the delivery."""
    from casa_helpers import snapshot
    from casa_plugin.delivery_report import write_report
    project = restored["project"]
    split_sci(vis=project)
    os.remove(os.path.join(project, "casa_plugin_report", "cache.json"))
    before = snapshot(project)
    write_report([project], task="split_sci")
    assert snapshot(project) == before


def test_flag_counts_are_those_of_casas_flagdata_summary(restored):
    """The report's one-pass TaQL count gives flagdata(mode='summary')'s fractions, per spw, antenna and in all."""
    from casatasks.flagdata import flagdata
    from casa_plugin.delivery_report.flagsummary import _counts, fractions
    vis = sorted(glob.glob(os.path.join(restored["project"], "*", "*", "*", "calibrated", "uid*.ms")))[0]
    grouped = _counts(vis)
    for spw in ("", "1,5"):
        ours = fractions(grouped, [int(s) for s in spw.split(",")] if spw else None)
        theirs = flagdata(vis=vis, mode="summary", spw=spw, flagbackup=False)
        assert ours["total"] == pytest.approx(theirs["flagged"] / theirs["total"], abs=1e-6)
        assert ours["total"] > 0.01  # the synthetic EBs have flags: a zero would prove nothing
        assert sorted(ours["spw"]) == sorted(theirs["spw"])
        for key, counts in theirs["spw"].items():
            assert ours["spw"][key] == pytest.approx(counts["flagged"] / counts["total"], abs=1e-6)
        assert sorted(ours["antenna"]) == sorted(theirs["antenna"])
        for key, counts in theirs["antenna"].items():
            assert ours["antenna"][key] == pytest.approx(counts["flagged"] / counts["total"], abs=1e-6)


def _steps_after_a_refusal(project, task):
    """The report's Steps after ``task`` on ``project``, then again with width=4 (refused on every EB)."""
    from casa_plugin import SplitError
    task(vis=project)
    with pytest.raises(SplitError):
        task(vis=project, width=4)
    _, page, _ = _report(project)
    return page[page.index("<h3>Steps</h3>"):]


def test_a_refused_request_shows_the_output_kept_not_failed(restored):
    """After a good split, a call with other options is refused per EB; the report says the output is kept."""
    steps = _steps_after_a_refusal(restored["project"], split_sci)
    assert steps.count("kept (last run failed)") == 3 and "<td>failed</td>" not in steps
    assert "made by casa_plugin for another request" in steps  # the refusal is still shown, as the last error


def test_a_target_split_skipped_after_a_refused_science_split_shows_its_output_kept(restored):
    """The recipes' split_sci_tgt with other options: each science split is refused, so each target split is
    skipped; the .source made before is intact and the report says so (it said 'skipped')."""
    from casa_plugin import split_sci_tgt
    steps = _steps_after_a_refusal(restored["project"], split_sci_tgt)
    assert steps.count("kept (last run failed)") == 3 and steps.count("kept (last run skipped)") == 3
    assert "<td>skipped</td>" not in steps


def test_restore_rows_give_the_restored_ms_size_and_rows(restored):
    """Issue 23, case 13: a restore row shows its MS's size and rows (they were empty), read from the MS."""
    from casa_plugin.ms import du_bytes
    project = restored["project"]
    split_sci(vis=project)
    _, page, data = _report(project)
    rows = re.findall(r"<tr class=''><td>(uid[^<]*)</td><td>restore</td>(.*?)</tr>", page)
    assert len(rows) == 3
    for eb, row in rows:
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row)  # input, output, size, rows, ...
        vis = [e["restored"] for m in data["members"] for e in m["ebs"] if e["eb"] == eb][0]
        assert cells[1].endswith(os.path.basename(vis))
        assert cells[2] == "%.1f MB" % (du_bytes(os.path.realpath(vis)) / 1e6)
        assert int(cells[3]) == len(columns(vis, ("TIME",))["TIME"]) > 0


def _output_spw_of(restored_ms, out):
    """``{restored spw id: the output's spw id}`` of the spws in the output's main table, matched by name and
    frequencies (read here, not taken from any record: reindexed or not, whatever the selection)."""
    def spws(vis):  # name and band edges (kHz): averaging channels keeps both
        names = subtable_column(vis, "SPECTRAL_WINDOW", "NAME")
        freqs = subtable_column(vis, "SPECTRAL_WINDOW", "CHAN_FREQ")
        widths = subtable_column(vis, "SPECTRAL_WINDOW", "TOTAL_BANDWIDTH")
        return [(str(n), round((min(f) + max(f)) / 2e3), round(w / 1e3)) for n, f, w in zip(names, freqs, widths)]
    theirs = spws(restored_ms)
    used = set(int(subtable_column(out, "DATA_DESCRIPTION", "SPECTRAL_WINDOW_ID")[d])
               for d in set(columns(out, ("DATA_DESC_ID",))["DATA_DESC_ID"]))
    return dict((theirs.index(spw), new) for new, spw in enumerate(spws(out)) if new in used)


def _check_flag_numbers(project):
    """Every flagged fraction the report drew (and wrote beside its picture) is the FLAG column's, per spw
    (each output's spw matched to its restored one) and per antenna; each label names the output's real id."""
    folder, _, data = _report(project)
    checked = 0
    for member in data["members"]:
        drawn = data["drawn"][member["name"]]["flags"]
        for name in glob.glob(os.path.join(folder, "%s_flags_*.json" % member["name"])):
            with open(name) as f:
                assert json.load(f) == drawn  # the numbers beside the picture are these
        for eb in member["ebs"]:
            restored_ms = eb["restored"]
            outputs = {"restored": restored_ms, ".split.cal": restored_ms + ".split.cal",
                       ".source": restored_ms + ".split.cal.source"}
            spw_of = _output_spw_of(restored_ms, outputs[".split.cal"])
            for step, vis in outputs.items():
                if step == "restored":
                    by_spw, by_antenna = _flagged(vis, eb["science"])
                    truth = dict((int(k), v) for k, v in by_spw.items())
                else:
                    by_spw, by_antenna = _flagged(vis)
                    mine = _output_spw_of(restored_ms, vis)
                    truth = dict((old, by_spw[str(new)]) for old, new in mine.items())
                assert any(v > 0 for v in truth.values())  # flags to show: a zero would prove nothing
                shown = dict((int(label.split("->")[0]), (label, values.get(step)))
                             for label, values in drawn[eb["eb"]]["spw"].items())
                assert sorted(shown) == sorted(truth), (eb["eb"], step)
                for old, value in truth.items():
                    label, number = shown[old]
                    assert label in ("%d" % old, "%d->%d" % (old, spw_of[old])), (eb["eb"], step, label)
                    assert number == pytest.approx(value, abs=1e-5), (eb["eb"], step, old)
                    checked += 1
                for antenna, value in by_antenna.items():
                    assert drawn[eb["eb"]]["antenna"][antenna][step] == pytest.approx(value, abs=1e-5), \
                        (eb["eb"], step, antenna)
    return checked


@pytest.mark.parametrize("calls", [
    [{"spw": "1,3", "outputvis": "spw13_test.ms", "first_eb": True}, {}],
    [{}, {"spw": "1,3", "outputvis": "spw13_test.ms", "first_eb": True}, {}],
    [{"spw": "3,5", "reindex": False}],
    [{"spw": "1,3", "reindex": False, "outputvis": "spw13_test.ms", "first_eb": True}, {"width": 2}],
    [{}, {"spw": "1,3", "outputvis": "spw13_test.ms", "first_eb": True}, {"width": 2, "overwrite": True}],
], ids=["spw13-then-default", "default-spw13-default", "spw35-not-reindexed", "spw13-kept-ids-then-width2",
                                 "default-spw13-width2"])
def test_every_flag_number_is_the_ms_s_own(restored, calls):
    """Issue 23, case 2: after splits with other spw selections (an output of spw 1,3 beside the EB's
    .split.cal, ids reindexed or kept), every flagged fraction the report shows is the one the MS's FLAG
    column gives (it showed 0.0 % for every spw of .split.cal and .source, where TaQL gave 5.6-7.2 %)."""
    from casa_plugin import SplitError
    project = restored["project"]
    first = sorted(glob.glob(os.path.join(project, "*", "*", "*", "calibrated", "uid*.ms")))[0]
    for call in calls + [{"task": split_tgt}]:
        call = dict(call)
        task = call.pop("task", split_sci)
        if call.pop("first_eb", False):
            call["outputvis"] = os.path.join(os.path.dirname(first), call["outputvis"])
        try:  # the numbers shown must be right whatever the calls said (case 1 tests what they say)
            task(vis=first if "outputvis" in call else project, **call)
        except SplitError:
            pass
    assert _check_flag_numbers(project) >= 3 * 3 * 2
    shown = _check_step_numbers(project)
    if [c for c in calls if "outputvis" in c]:  # shown with its EB, beside its .split.cal
        assert os.path.join(os.path.dirname(first), "spw13_test.ms") in shown


def _check_step_numbers(project):
    """The steps table's size, rows and spw ids (old->new) of every output are those read from it; each EB's
    .split.cal and .source rows say made by casa_plugin; return the outputs shown, by path."""
    from casa_plugin.ms import du_bytes
    _, page, data = _report(project)
    shown = []
    for member in data["members"]:
        part = _member_html(page, member["name"])
        for eb in member["ebs"]:
            rows = re.findall(r"<tr class='[^']*'><td>%s</td><td>(split_sci|split_tgt)</td>(.*?)</tr>" % eb["eb"], part)
            for task, row in rows:
                cells = re.findall(r"<td[^>]*>(.*?)</td>", row)  # input, output, size, rows, spws, fields, made by,..
                vis = os.path.join(member["path"], cells[1])
                shown.append(vis)
                assert cells[2] == "%.1f MB" % (du_bytes(vis) / 1e6), (task, vis)
                assert int(cells[3]) == len(columns(vis, ("TIME",))["TIME"]), (task, vis)
                if task == "split_sci":
                    spw_of = _output_spw_of(eb["restored"], vis)
                    assert cells[4] == ", ".join("%d&rarr;%d" % kv for kv in sorted(spw_of.items())), vis
                assert cells[6] == "casa_plugin" and cells[8] in ("split", "done"), (task, vis, cells)
            for suffix in (".split.cal", ".split.cal.source"):
                assert eb["restored"] + suffix in shown
    return shown


def test_each_member_shows_its_batch_job_from_the_project_job_record(restored):
    """A programme submitted to a cluster: the page shows each member's last job as the job record says."""
    from casa_plugin.cluster import jobs_record
    from casa_plugin.delivery_report import write_report
    project = restored["project"]
    first, second = sorted(restored["members"])
    with open(write_report([project], task="restore_pi")) as f:
        assert "Batch job" not in f.read()  # no job record: no job line

    def change(record):
        record["members"][os.path.relpath(first, project)] = {"jobs": [
            {"job_id": "11", "submitted": "2026-12-07T10:00:00"},
            {"job_id": "12", "submitted": "2026-12-07T11:00:00", "report": {
                "status": "interrupted", "reason": "TIMEOUT", "host": "node2",
                "error": "stopped by SIGTERM after 45 s (its time limit is near)"}}]}
        record["members"][os.path.relpath(second, project)] = {"jobs": [
            {"job_id": "13", "submitted": "2026-12-07T11:00:01"}]}
    jobs_record.update(project, change)
    with open(write_report([project], task="restore_pi")) as f:
        text = f.read()
    assert ("Batch job 12: <b>failed: TIMEOUT; stopped by SIGTERM after 45 s (its time limit is near)</b>" in text
            and "Batch job 11" not in text)  # the member's last job
    assert "Batch job 13: <b>submitted at 2026-12-07T11:00:01, not started yet" in text
    sections = text.split("<h2 id=")
    assert "job 12" in [s for s in sections if os.path.basename(first)[len("member."):] in s.split(">")[0]][0]
