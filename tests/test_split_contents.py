"""Outputs are bound to the request that made them: re-runs with other options, scriptForPI splits, records."""

import glob
import json
import os
import shutil
import re

import numpy as np
import pytest

from casa_helpers import columns, failed_errors, field_names_in_main, flag_versions, snapshot, split_failure, \
    subtable_column
from casa_plugin import SplitError, split_sci, split_sci_tgt, split_tgt
from casa_plugin.ms import casa
from casa_plugin import record as run_record
from casa_plugin.testing.pipeline_standin import restore_with_standin

pytestmark = pytest.mark.casa


def _ebs(calibrated):
    return sorted(glob.glob(os.path.join(calibrated, "uid___*.ms")))


def _nchan(vis):
    return [int(n) for n in subtable_column(vis, "SPECTRAL_WINDOW", "NUM_CHAN")]


def _mtimes(paths):
    return {p: os.path.getmtime(os.path.join(p, "table.dat")) for p in paths}


def test_rerun_with_other_options_is_an_error_not_done(restored):
    """Issue 9.1: after width=4, a default call, spw='99', timebin and datacolumn are not 'done'."""
    project = restored["project"]
    first = split_sci(vis=project, width=4)
    outs = [r["outputvis"] for r in first["ebs"].values()]
    assert all(_nchan(out) == [16] * 4 for out in outs)
    before, flags = snapshot(project), [flag_versions(o) for o in outs]
    with split_failure(r"spw 0,1,2,3 \(input spw 1,3,5,7\) have 16 channels; this request gives 64"
                       r".*overwrite=True.*outputvis=") as info:
        split_sci(vis=project)
    assert info.value.results["counts"] == {"failed": 3}
    with split_failure(r"has no spw 99"):
        split_sci(vis=project, spw="99")
    with split_failure(r"it holds 4 spws \(its own ids 0,1,2,3\), this request selects 2 \(input spw 1,3\): "
                       r"it also holds its spw 2,3"):
        split_sci(vis=project, spw="1,3", width=4)
    with split_failure(r"made with timebin='0s'; this request has timebin='12s'"):
        split_sci(vis=project, width=4, timebin="12s")
    with split_failure(r"made with datacolumn='corrected'; this request has datacolumn='data'"):
        split_sci(vis=project, width=4, datacolumn="data")
    changed = [p for p, v in snapshot(project).items() if before.get(p) != v and not p.endswith(".json")]
    assert changed == [] and [flag_versions(o) for o in outs] == flags  # the outputs were not touched
    again = split_sci(vis=project, width=4)  # the same request: done
    assert again["counts"] == {"done": 3}
    redone = split_sci(vis=project, overwrite=True)
    assert redone["counts"] == {"split": 3} and all(_nchan(o) == [64] * 4 for o in outs)


def test_an_output_replaced_by_a_split_of_data_is_not_done(restored):
    """A .split.cal its record calls the plugin's, replaced by a split of the uncalibrated DATA, fails: HISTORY tells."""
    from casatasks import split
    project = restored["project"]
    first = split_sci(vis=project)
    vis, entry = sorted(first["ebs"].items())[0]
    out = entry["outputvis"]
    shutil.rmtree(out)
    shutil.rmtree(out + ".flagversions", ignore_errors=True)
    split(vis=vis, outputvis=out, spw="1,3,5,7", datacolumn="data")  # same spws, rows, fields: the wrong column
    before = snapshot(project)
    with split_failure(r"its HISTORY says it was split from datacolumn='data'; this request has "
                       r"datacolumn='corrected'.*overwrite=True") as info:
        split_sci(vis=project)
    assert info.value.results["ebs"][vis]["status"] == "failed"
    assert sorted(r["status"] for r in info.value.results["ebs"].values()) == ["done", "done", "failed"]
    assert not os.path.exists(out + ".flagversions")  # no flag version saved on the wrong MS
    changed = [p for p, v in snapshot(project).items() if before.get(p) != v and not p.endswith(".json")]
    assert changed == []
    assert split_sci(vis=project, overwrite=True)["ebs"][vis]["status"] == "split"
    assert split_sci(vis=project)["counts"] == {"done": 3}


def test_record_request_and_contents_agree_with_the_ms_on_disk(restored):
    """Issue 9 acceptance: for every EB output, the record's request and contents are those of the MS."""
    split_sci_tgt(vis=restored["project"], width=2, timebin="12s")
    records = sorted(glob.glob(os.path.join(restored["project"], "*", "*", "*", "calibrated", "casa_plugin_record.json")))
    assert len(records) == 2
    checked = 0
    for path in records:
        record = json.load(open(path))
        assert record["format"] == 2
        for name, entry in record["outputs"].items():  # one entry per output, keyed by its name
            eb, task = entry["eb"], entry["task"]
            suffix = {"split_sci": ".ms.split.cal", "split_tgt": ".ms.split.cal.source"}[task]
            out = os.path.join(os.path.dirname(path), eb + suffix)
            assert name == eb + suffix
            assert entry["outputvis"] == out and os.path.isabs(entry["vis"])
            assert entry["made_by"] == "casa_plugin" and entry["status"] == "split"
            if task == "split_sci":
                assert entry["request"] == {"task": "split_sci", "intent": "OBSERVE_TARGET*", "minnchan": 5,
                                            "spw": "", "datacolumn": "corrected", "reindex": True,
                                            "width": 2, "timebin": "12s"}
            else:
                assert entry["request"] == {"task": "split_tgt", "intent": "*TARGET*", "datacolumn": "data"}
            held = entry["contents"]
            nchan = _nchan(out)
            assert [held["spws"][str(i)]["nchan"] for i in range(len(nchan))] == nchan == [32] * 4
            freqs = subtable_column(out, "SPECTRAL_WINDOW", "CHAN_FREQ")
            for i, f in enumerate(freqs):
                assert held["spws"][str(i)]["freq_ghz"] == pytest.approx([f.min() / 1e9, f.max() / 1e9])
            assert held["fields"] == field_names_in_main(out)
            main = columns(out, ("INTERVAL", "TIME"))
            assert held["nrows"] == len(main["TIME"]) == entry["nrows"]
            assert held["interval_s"] == pytest.approx(float(np.median(main["INTERVAL"])))
            assert held["interval_s"] > 6  # averaged to 12 s bins
            checked += 1
    assert checked == 6


def test_split_tgt_refuses_a_restored_eb_unless_datacolumn_is_given(restored, calibrated_dirs):
    """Issue 9.2: a restored EB's DATA is uncalibrated; split_tgt says to run split_sci first."""
    vis = _ebs(calibrated_dirs[0])[0]
    before = snapshot(restored["project"])
    with split_failure(r"is a restored EB \(it has CORRECTED_DATA\), not a science split.*Run split_sci on it first"):
        split_tgt(vis=vis)
    assert not os.path.lexists(vis + ".source")
    assert [p for p in snapshot(restored["project"]) if p not in before and not p.endswith(".json")] == []
    result = split_tgt(vis=vis, datacolumn="corrected")  # explicit: split the MS as it is
    entry = result["ebs"][os.path.abspath(vis)]
    assert entry["status"] == "split" and entry["request"]["datacolumn"] == "corrected"
    assert entry["contents"]["fields"] == field_names_in_main(vis + ".source")


def test_split_sci_of_a_science_split_says_what_it_is(restored, calibrated_dirs):
    """Issue 9.3: no advice that leads to .split.cal.split.cal."""
    vis = _ebs(calibrated_dirs[0])[0]
    split_sci(vis=vis)
    with pytest.raises(ValueError, match=r"split.cal is already a science split .*split_tgt\(vis="):
        split_sci(vis=vis + ".split.cal")
    assert not os.path.exists(vis + ".split.cal.split.cal")


def _dosplit(delivery, **options):
    member = sorted(delivery["members"])[1]
    restore_with_standin(member, **options)
    return os.path.join(member, "calibrated")


def test_dosplit_split_cal_is_recognised_and_checked(delivery, caplog):
    """Issue 9.1: a .split.cal the scriptForPI made (spw ids kept) is done only for a request it matches."""
    calibrated = _dosplit(delivery, dosplit=True)
    cals = sorted(glob.glob(os.path.join(calibrated, "uid___*.ms.split.cal")))
    assert len(cals) == 2 and not _ebs(calibrated)
    with split_failure(r"made by the delivery's scriptForPI for another request: its spw ids 1,3,5,7 are the "
                       r"input's \(kept\); this request has reindex=True \(pass reindex=False to accept them\)\. "
                       r"It is left as it is; pass overwrite=True \(in a recipe: OVERWRITE=True\) to redo it from "
                       r"working/uid___A002_Xf7ad58"):
        split_sci(vis=calibrated, reindex=True)  # explicit: binding
    result = split_sci(vis=calibrated)  # the default follows the member's numbering: the script's kept ids
    assert result["counts"] == {"done": 2}
    assert all(r["request"]["reindex"] is False for r in result["ebs"].values())
    assert "already done, made by the delivery's scriptForPI; flag version saved; spw 1,3,5,7" in caplog.text
    entry = run_record.load(calibrated)["outputs"][os.path.basename(cals[0])]
    assert entry["made_by"] == "scriptForPI" and entry["contents"]["spws"]["1"]["nchan"] == 64
    assert sorted(entry["contents"]["spws"]) == ["1", "3", "5", "7"]
    assert flag_versions(cals[0]) == ["original_flags"]
    with split_failure(r"spw 1,3,5,7 have 64 channels; this request gives 8\. "):
        split_sci(vis=calibrated, reindex=False, width=8)
    with open(os.path.join(delivery["project"], "casa_plugin_report", "index.html")) as f:
        steps = "".join(f.read().split("<h3>Steps</h3>")[1:])  # the script's split is kept, as the table says
    assert steps.count("kept (last run failed)") == 2 and "<td>failed</td>" not in steps, steps
    planned = split_sci(vis=calibrated, reindex=False, width=8, overwrite=True, dryrun=True)["ebs"]
    assert all("would replace the delivery's own split (made by its scriptForPI)" in r.get("note", "")
               for r in planned.values())
    caplog.clear()
    replaced = split_sci(vis=calibrated, reindex=False, width=8, overwrite=True)["ebs"]  # says what it replaces
    notes = [r.get("note", "") for r in replaced.values()]
    assert all("replaces the delivery's own split (made by its scriptForPI); split_sci(vis=" in n for n in notes)
    assert all("overwrite=True, reindex=False) makes that split again from " in n and "working" in n for n in notes)
    assert "replaces the delivery's own split" in caplog.text
    again = split_sci(vis=calibrated, reindex=False, overwrite=True)["ebs"]  # now casa_plugin's: nothing to say
    assert not any("delivery's own split" in r.get("note", "") for r in again.values())


def test_spacesaving_2_split_cal_without_its_input(delivery):
    """SPACESAVING=2: the restored MS is gone; the script's split is checked on its own."""
    calibrated = _dosplit(delivery, spacesaving=2, dosplit=True)  # SPACESAVING only deletes what a split leaves
    assert split_sci(vis=calibrated)["counts"] == {"done": 2}
    with split_failure(r"made with width=1; this request has width=4.*is gone .*cannot be redone"):
        split_sci(vis=calibrated, width=4)
    with split_failure(r"its spw ids 1,3,5,7 are the input's \(kept\); this request has reindex=True"):
        split_sci(vis=calibrated, reindex=True)


def test_interrupted_overwrite_marks_only_started_ebs_and_keeps_what_was_known(restored, monkeypatch, caplog):
    """Issue 9.11: Ctrl-C during the 2nd EB of an overwrite run."""
    project = restored["project"]
    split_sci(vis=project)
    cals = sorted(glob.glob(os.path.join(project, "*", "*", "*", "calibrated")))
    before = {c: run_record.by_eb(run_record.load(c)) for c in cals}
    real, calls = casa.split, []

    def split_then_ctrl_c(**kwargs):  # the real split, then a Ctrl-C as it returns (the 2nd EB)
        calls.append(kwargs["vis"])
        real(**kwargs)
        if len(calls) == 2:
            raise KeyboardInterrupt()

    monkeypatch.setattr(casa, "split", split_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        split_sci(vis=project, overwrite=True)
    monkeypatch.undo()
    stopped = os.path.basename(calls[1])
    assert re.search(r"split_sci: interrupted before \S*%s -> %s\.split\.cal was finished \(nothing of it is "
                     r"kept\); its old output is kept \(the line after this one says how to finish the run\)" % (
                         re.escape(stopped), re.escape(stopped)), caplog.text), caplog.text
    # the 2nd EB and the 3rd, which never started: both still hold the old request's output
    unfinished = [v for v in split_sci(vis=project, dryrun=True)["ebs"]][1:]  # in the run's order
    assert "split_sci: 2 EB(s) of this overwrite=True run were not finished (their old outputs, if any, are " \
           "kept): %s. To finish the run without redoing the EBs it finished, run it again on these only: " \
           "split_sci(vis=%r, overwrite=True)" % (", ".join(os.path.basename(v) for v in unfinished),
                                                   unfinished) in caplog.text, caplog.text  # pasteable as it is
    statuses = {}
    for c in cals:
        for eb, tasks in run_record.by_eb(run_record.load(c)).items():
            entry = tasks["split_sci"]
            statuses[eb] = entry["status"]
            for key in ("spw_map", "contents", "bytes", "request"):
                assert entry[key] == before[c][eb]["split_sci"][key], (eb, key)
    assert sorted(statuses.values()) == ["interrupted", "split", "split"]  # the 3rd never started
    caplog.clear()
    dry = split_sci(vis=project, dryrun=True)
    assert dry["counts"] == {"done": 3}
    assert len(re.findall(r"already done; spw 1,3,5,7; checked again after the last run was interrupted: complete, "
                          r"and this request's\)", caplog.text)) == 1, caplog.text
    assert "last run: interrupted" not in caplog.text  # said once, where it cannot read as a contradiction


def test_record_paths_are_absolute_from_a_relative_call(restored, calibrated_dirs, monkeypatch):
    """Issue 9.12."""
    monkeypatch.chdir(calibrated_dirs[0])
    name = os.path.basename(_ebs(calibrated_dirs[0])[0])
    split_sci(vis=name)
    entry = run_record.load(calibrated_dirs[0])["outputs"][name + ".split.cal"]
    assert entry["vis"] == os.path.join(calibrated_dirs[0], name)
    assert entry["outputvis"] == os.path.join(calibrated_dirs[0], name + ".split.cal")


def test_result_shows_as_a_table_and_failures_once(restored, calibrated_dirs, capfd):
    """Issue 9.14: a result shows as the per-EB table; a failure's message is printed once."""
    result = split_sci(vis=calibrated_dirs[1])
    text = repr(result)
    assert "OrderedDict" not in text and len(text.splitlines()) <= 6
    assert "uid___A002_Xf7ad58_Xd406" in text and "split" in text and result["counts"] == {"split": 2}
    capfd.readouterr()
    with pytest.raises(SplitError) as info:
        split_sci(vis=calibrated_dirs[1], spw="42")
    out = "".join(capfd.readouterr())  # errors come from casalog (it prints SEVERE itself), on stderr
    assert out.count("has no spw 42") == 2 and "has no spw 42" not in str(info.value)  # one line per EB
    assert "uid___A002_Xf7ad58_Xd406" in str(info.value) and "FAILED line above" in str(info.value)
    assert len(failed_errors(info.value).splitlines()) == 2
