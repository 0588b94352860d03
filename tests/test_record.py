"""The record: one entry per output, old records converted, running marks, stale target splits, line numbers."""

import glob
import json
import logging
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from casa_helpers import assert_same_ms, split_failure
from casa_plugin import split_sci, split_sci_tgt, split_tgt
from casa_plugin.ms import casa
from casa_plugin import record as run_record
from casa_plugin.runner import _partial_left, _Report
from casa_plugin.staging import partial_name

pytestmark = pytest.mark.casa
_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def _ebs(calibrated):
    return sorted(glob.glob(os.path.join(calibrated, "uid___*.ms")))


def test_custom_outputvis_has_its_own_entry_and_the_default_stays_the_plugins(calibrated_dirs, caplog):
    """Issue 23.1: a custom outputvis beside the default .split.cal no longer replaces its entry."""
    cal = calibrated_dirs[1]
    vis = _ebs(cal)[0]
    split_sci(vis=cal)
    custom = os.path.join(cal, "spw13_test.ms")
    split_sci(vis=vis, spw="1,3", outputvis=custom)
    caplog.clear()
    again = split_sci(vis=cal)
    assert again["counts"] == {"done": 2}
    assert "outside casa_plugin" not in caplog.text and "made_by" in again["ebs"][vis]
    assert again["ebs"][vis]["made_by"] == "casa_plugin"
    outputs = run_record.load(cal)["outputs"]
    assert outputs["spw13_test.ms"]["request"]["spw"] == "1,3" and outputs["spw13_test.ms"]["status"] == "split"
    assert sorted(outputs["spw13_test.ms"]["contents"]["spws"]) == ["0", "1"]
    default = outputs[os.path.basename(vis) + ".split.cal"]
    assert default["request"]["spw"] == "" and default["made_by"] == "casa_plugin"
    assert sorted(default["contents"]["spws"]) == ["0", "1", "2", "3"]
    assert run_record.by_eb(run_record.load(cal))[os.path.basename(vis)[:-3]]["split_sci"] == default


def test_output_outside_the_delivery_is_recorded_beside_it_and_referenced(calibrated_dirs, tmp_path):
    cal = calibrated_dirs[1]
    vis = _ebs(cal)[0]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = str(elsewhere / "mine.ms")
    split_sci(vis=vis, outputvis=out)
    beside = run_record.load(str(elsewhere))["outputs"]["mine.ms"]
    assert beside["made_by"] == "casa_plugin" and beside["vis"] == vis and beside["status"] == "split"
    ref = run_record.load(cal)["elsewhere"][out]
    assert ref == {"eb": os.path.basename(vis)[:-3], "task": "split_sci",
                   "record": os.path.join(str(elsewhere), run_record.RECORD_NAME)}
    assert split_sci(vis=vis, outputvis=out)["counts"] == {"done": 1}


def test_a_record_of_format_1_is_read_and_converted(calibrated_dirs, caplog):
    """Outputs recorded by the release before (one entry per EB and task) stay the plugin's own."""
    cal = calibrated_dirs[1]
    split_sci(vis=cal)
    split_tgt(vis=cal)
    project = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(cal))))
    with open(os.path.join(_DATA, "record_format1.json")) as f:
        old = f.read().replace("<project>", project)
    with open(run_record.record_path(cal), "w") as f:
        f.write(old)
    made = dict((json.loads(old)["ebs"][eb]["split_sci"]["outputvis"], json.loads(old)["ebs"][eb]["split_sci"]["made"])
                for eb in json.loads(old)["ebs"])
    converted = run_record.load(cal)
    assert converted["format"] == 2 and converted["converted_from"] == 1
    assert sorted(converted["outputs"]) == sorted(os.path.basename(p) for e in _ebs(cal)
                                                  for p in (e + ".split.cal", e + ".split.cal.source"))
    caplog.clear()
    assert split_sci(vis=cal)["counts"] == {"done": 2}
    assert split_tgt(vis=cal)["counts"] == {"done": 2}
    assert "outside casa_plugin" not in caplog.text
    with open(run_record.record_path(cal)) as f:
        written = json.load(f)
    assert written["format"] == 2 and "ebs" not in written
    for out, when in made.items():
        assert written["outputs"][os.path.basename(out)]["made"] == when  # how it was made is kept


def test_remade_split_cal_makes_its_source_stale(restored, calibrated_dirs, caplog):
    """Issue 23.6: an overwrite says which target splits are now stale; split_tgt refuses them by default."""
    cal = calibrated_dirs[1]
    split_sci_tgt(vis=cal)
    caplog.clear()
    split_sci(vis=cal, width=4, overwrite=True)
    assert caplog.text.count("now stale, made from the output this replaced: uid___") == 2, caplog.text
    assert "overwrite=True))" in caplog.text
    # the record says it by made ids, which stay true once the .source is redone (a list of stale outputs did not)
    assert not any("stale" in entry for entry in run_record.load(cal)["outputs"].values())
    with split_failure(r"\.source exists but is stale: its input \S+\.split\.cal was remade at \S+ by "
                       r"split_sci\(.*width=4.*\), after this output was made at \S+ \(it holds spws 0 \(64 ch\).*"
                       r"It is left as it is; pass overwrite=True"):
        split_tgt(vis=cal)
    redone = split_sci_tgt(vis=cal, width=4, overwrite=True)
    assert redone["tgt"]["counts"] == {"split": 2}
    assert split_tgt(vis=cal)["counts"] == {"done": 2}
    for vis in _ebs(cal):
        assert_same_ms(vis + ".split.cal.source", _loop_source(vis, cal))


def _loop_source(vis, cal):
    """The tutorial's loop for one EB with width=4 (the oracle)."""
    from casa_plugin.testing.compare import loop_science, loop_target
    work = os.path.join(os.path.dirname(cal), "loop")
    os.makedirs(work, exist_ok=True)
    name = os.path.join(work, os.path.basename(vis))
    return loop_target(loop_science(vis, name + ".split.cal", width=4), name + ".split.cal.source")


def test_running_entry_while_the_split_runs_then_interrupted_when_its_process_is_gone(calibrated_dirs,
                                                                                    monkeypatch):
    """Issue 23.8: before the work starts the entry says running (pid, host, start); a dead process reads as
    interrupted; a live other process's output is refused."""
    cal = calibrated_dirs[1]
    vis = _ebs(cal)[0]
    seen = []
    real = casa.split

    def split_and_look(**kwargs):
        seen.append(run_record.entry_of(vis + ".split.cal"))
        return real(**kwargs)

    monkeypatch.setattr(casa, "split", split_and_look)
    split_sci(vis=vis)
    monkeypatch.undo()
    assert seen[0]["status"] == "running" and seen[0]["running"]["pid"] == os.getpid()
    assert run_record.entry_of(vis + ".split.cal")["status"] == "split"
    assert "running" not in run_record.entry_of(vis + ".split.cal")
    other = _ebs(cal)[1]
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    _mark(other, gone.pid)
    entry = run_record.entry_of(other + ".split.cal")
    assert entry["status"] == "interrupted" and "is gone" in entry["lost"]
    dry = split_sci(vis=other, dryrun=True)
    assert dry["ebs"][other]["previous"] == "interrupted"
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _mark(other, live.pid)
        with split_failure(r"another casa_plugin run \(pid %d on \S+, started \S+\) is making this output now"
                           % live.pid):
            split_sci(vis=other)
        assert not os.path.exists(other + ".split.cal")
    finally:
        live.kill()
        live.wait()
    assert split_sci(vis=other)["counts"] == {"split": 1}


def _mark(vis, pid):
    """Write a running mark for ``vis``'s .split.cal as process ``pid`` would have."""
    real = os.getpid
    try:
        os.getpid = lambda: pid
        run_record.mark_running(os.path.basename(vis)[:-3], "split_sci",
                                {"vis": vis, "outputvis": vis + ".split.cal"})
    finally:
        os.getpid = real


def test_a_failed_line_names_the_partial_output_it_leaves(tmp_path):
    out = str(tmp_path / "x.ms.split.cal")
    os.makedirs(partial_name(out))
    result = {"status": "failed", "error": "RuntimeError: boom"}
    _partial_left(result, out)
    assert result["partial"] == partial_name(out)
    assert "it left the partial output %s (not a result: the next run removes it)" % partial_name(out) \
        in result["error"]


def test_finished_line_keeps_the_number_of_its_started_line(tmp_path, caplog):
    """Issue 23.7: under MPI EBs finish out of order; each line keeps the number it started with."""
    from casa_plugin.plan import science_plans
    jobs = science_plans([{"vis": str(tmp_path / ("uid___A002_X1_X%d.ms" % i)),
                           "outputvis": str(tmp_path / ("o%d" % i)), "dryrun": True} for i in (1, 2)])
    report = _Report("split_sci", jobs)
    report.start(jobs[0])
    report.start(jobs[1])
    with caplog.at_level(logging.INFO):
        report.add(jobs[1], {"status": "planned"})
        report.add(jobs[0], {"status": "planned"})
    lines = [r.getMessage() for r in caplog.records if "->" in r.getMessage()]
    assert lines[0].startswith("[2/2]") and "X2.ms" in lines[0]
    assert lines[1].startswith("[1/2]") and "X1.ms" in lines[1]


def test_timebin_that_fits_two_alma_integrations_matches_the_loop(calibrated_dirs, caplog):
    """Issue 23.15: timebin='12s' on 6.048 s integrations: what CASA's split gives is accepted, twice."""
    cal = calibrated_dirs[1]
    vis = _ebs(cal)[0]
    first = split_sci(vis=vis, width=8, timebin="12s")
    assert first["counts"] == {"split": 1}
    assert split_sci(vis=vis, width=8, timebin="12s")["counts"] == {"done": 1}
    from casa_plugin.testing.compare import loop_science
    loop = os.path.join(os.path.dirname(cal), "loop.ms")
    assert_same_ms(vis + ".split.cal", loop_science(vis, loop, spw="1,3,5,7", width=8, timebin="12s"))


def test_spws_given_out_of_order_are_numbered_as_casa_does(calibrated_dirs):
    """split's output numbers spws in the order given (spw='5,1,7': input 5 becomes 0); it was a wrong failure."""
    from casa_plugin.testing.compare import loop_science
    vis = _ebs(calibrated_dirs[1])[0]
    result = split_sci(vis=vis, spw="5,1,7")
    assert result["ebs"][vis]["spw_map"] == {"5": 0, "1": 1, "7": 2}
    assert split_sci(vis=vis, spw="5,1,7")["counts"] == {"done": 1}
    loop = os.path.join(os.path.dirname(calibrated_dirs[1]), "loop.ms")
    assert_same_ms(vis + ".split.cal", loop_science(vis, loop, spw="5,1,7"))
    with split_failure(r"spw 0 \(input spw 1\) is missing|it holds .* instead of"):
        split_sci(vis=vis, spw="1,5,7")


def test_kept_spw_ids_with_averaging_match_what_split_does(calibrated_dirs):
    """Found by the stateful test: reindex=False with width=4 failed every EB (mstransform averages only when
    chanaverage=True)."""
    from casa_plugin.testing.compare import loop_science
    vis = _ebs(calibrated_dirs[1])[0]
    result = split_sci(vis=vis, reindex=False, width=4, timebin="12s")
    assert result["ebs"][vis]["spw_map"] == {"1": 1, "3": 3, "5": 5, "7": 7}
    loop = os.path.join(os.path.dirname(calibrated_dirs[1]), "loop.ms")
    assert_same_ms(vis + ".split.cal", loop_science(vis, loop, reindex=False, width=4, timebin="12s"))
    from casa_helpers import subtable_column
    assert [int(n) for n in subtable_column(vis + ".split.cal", "SPECTRAL_WINDOW", "NUM_CHAN")][1:8:2] == [16] * 4


@pytest.fixture
def ctrl_c_in_target_split():
    """CASA's split with a Ctrl-C as a target split starts (the science splits run)."""
    real = casa.split

    def split(**kwargs):
        if ".source" in kwargs["outputvis"]:
            raise KeyboardInterrupt()
        return real(**kwargs)
    return split


def test_ctrl_c_in_the_target_split_keeps_the_record_of_the_science_split_just_made(calibrated_dirs, monkeypatch,
                                                                                    ctrl_c_in_target_split):
    """Found by the stateful test: split_sci_tgt interrupted in an EB's target split recorded its finished
    .split.cal as 'interrupted' with the old output's request."""
    cal = calibrated_dirs[1]
    split_sci(vis=cal)
    monkeypatch.setattr(casa, "split", ctrl_c_in_target_split)
    with pytest.raises(KeyboardInterrupt):
        split_sci_tgt(vis=cal, width=4, overwrite=True)
    monkeypatch.undo()
    vis = _ebs(cal)[0]
    entry = run_record.entry_of(vis + ".split.cal")
    assert entry["made_by"] == "casa_plugin" and entry["request"]["width"] == 4 and entry["status"] == "split"
    assert sorted(entry["contents"]["spws"]) == ["0", "1", "2", "3"]
    assert entry["contents"]["spws"]["0"]["nchan"] == 16
    assert run_record.entry_of(vis + ".split.cal.source")["status"] == "interrupted"
    assert split_sci(vis=vis, width=4)["counts"] == {"done": 1}
    split_tgt(vis=vis + ".split.cal")
    source = run_record.entry_of(vis + ".split.cal.source")
    with pytest.raises(KeyboardInterrupt):  # again, with the .source there: it is not taken for a new one
        monkeypatch.setattr(casa, "split", ctrl_c_in_target_split)
        split_sci_tgt(vis=vis, width=8, overwrite=True)
    monkeypatch.undo()
    assert run_record.entry_of(vis + ".split.cal.source")["made_id"] == source["made_id"]
    with split_failure(r"\.source exists but is stale: its input \S+ was remade at"):
        split_tgt(vis=vis + ".split.cal")


def test_an_interrupted_split_sci_tgt_is_finished_by_the_one_call_it_prints(calibrated_dirs, monkeypatch, caplog):
    """Ctrl-C in the first EB's science split of an overwrite=True split_sci_tgt: one line names the call that
    finishes the run (it advised split_sci and split_tgt apart), and that call, pasted, does."""
    cal = calibrated_dirs[1]
    split_sci_tgt(vis=cal)
    real = casa.split

    def ctrl_c_in_science_split(**kwargs):
        if ".source" not in kwargs["outputvis"]:  # the science split's (partial) output
            raise KeyboardInterrupt()
        return real(**kwargs)

    monkeypatch.setattr(casa, "split", ctrl_c_in_science_split)
    with pytest.raises(KeyboardInterrupt):
        split_sci_tgt(vis=cal, width=4, overwrite=True)
    monkeypatch.undo()
    advice = [r.getMessage() for r in caplog.records if "run it again on these only" in r.getMessage()]
    assert len(advice) == 1 and advice[0].startswith("split_sci_tgt: %d EB(s)" % len(_ebs(cal))), advice
    call = advice[0].split("run it again on these only: ")[1]
    assert call.startswith("split_sci_tgt(vis=") and call.endswith(", width=4, overwrite=True)"), call
    result = eval(call, {"split_sci_tgt": split_sci_tgt})
    assert result["sci"]["counts"] == result["tgt"]["counts"] == {"split": len(_ebs(cal))}
    for vis in _ebs(cal):
        assert run_record.entry_of(vis + ".split.cal")["request"]["width"] == 4
        assert run_record.entry_of(vis + ".split.cal.source")["status"] == "split"


def test_ctrl_c_while_the_replaced_output_is_removed_leaves_no_copy_of_it(calibrated_dirs, monkeypatch):
    """Found by a new user: Ctrl-C while an overwrite=True run removed an EB's old output (its new one in place)
    left the old one under its hidden '.replaced' name; the advised call does not run that EB again, so it held
    the disk until a later run of the whole member. The interrupted call removes it."""
    from casa_plugin import staging
    cal = calibrated_dirs[1]
    split_sci(vis=cal)
    real = staging._remove_ours

    def ctrl_c_removing_the_old_output(tmp, why="removing leftover of an interrupted run"):
        if why is None and tmp.endswith(".replaced") and os.path.lexists(tmp):  # _commit's last step
            staging.remove_tree(os.path.join(tmp, "table.dat"))  # part of it removed, as by rmtree
            raise KeyboardInterrupt()
        return real(tmp, why)

    monkeypatch.setattr(staging, "_remove_ours", ctrl_c_removing_the_old_output)
    with pytest.raises(KeyboardInterrupt):
        split_sci(vis=cal, width=4, overwrite=True)
    monkeypatch.undo()
    first = _ebs(cal)[0]
    assert run_record.entry_of(first + ".split.cal")["request"]["width"] == 4  # finished: it is not run again
    assert [n for n in os.listdir(cal) if n.endswith((".replaced", ".replaced.flagversions"))] == []


def test_a_split_stopped_by_a_batch_job_s_scheduler_records_the_cause(calibrated_dirs, monkeypatch, caplog):
    """A batch job cancelled (scancel) in an EB's target split: that output's record, its line and the summary
    table name the cancel and the job, where a Ctrl-C records interrupted alone."""
    from casa_plugin.errors import JobStopped
    from casa_plugin.report import summary_table
    cal = calibrated_dirs[1]
    real = casa.split

    def split(**kwargs):
        if ".source" in kwargs["outputvis"]:
            raise JobStopped("CANCELLED", "77")
        return real(**kwargs)
    monkeypatch.setattr(casa, "split", split)
    with pytest.raises(JobStopped):
        split_sci_tgt(vis=cal)
    monkeypatch.undo()
    vis = _ebs(cal)[0]
    entry = run_record.entry_of(vis + ".split.cal.source")
    assert entry["status"] == "interrupted" and entry["error"] == "cancelled by the scheduler (scancel), job 77"
    assert entry["stopped"] == {"reason": "CANCELLED", "job_id": "77"}
    assert "split_tgt: interrupted (cancelled by the scheduler (scancel), job 77) before %s" % vis in caplog.text
    table = summary_table(target={"ebs": {vis: dict(entry, vis=vis, eb=entry["eb"])}})
    assert "interrupted (cancelled)" in table, table
    assert split_tgt(vis=vis + ".split.cal")["counts"] == {"split": 1}  # the next run: no cause left behind
    assert "stopped" not in run_record.entry_of(vis + ".split.cal.source")


def test_the_report_after_ctrl_c_is_written_again_or_says_it_is_out_of_date(restored, calibrated_dirs, monkeypatch,
                                                                            ctrl_c_in_target_split):
    """Found by the stateful test: an interrupted call left the page's numbers of the outputs it replaced."""
    from casa_plugin.delivery_report import writer
    cal = calibrated_dirs[1]
    split_sci(vis=cal)
    report = os.path.join(restored["project"], "casa_plugin_report")
    monkeypatch.setattr(casa, "split", ctrl_c_in_target_split)
    with pytest.raises(KeyboardInterrupt):
        split_sci_tgt(vis=cal, width=4, overwrite=True)
    with open(os.path.join(report, "report.json")) as f:
        facts = json.load(f)
    assert "stale" not in facts and facts["task"] == "split_sci_tgt"  # written again after the interrupt
    real_write = writer.write_report

    def second_ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt()

    monkeypatch.setattr(writer, "write_report", second_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        split_sci_tgt(vis=cal, width=8, overwrite=True)
    monkeypatch.setattr(writer, "write_report", real_write)
    with open(os.path.join(report, "report.json")) as f:
        assert json.load(f)["stale"]["task"] == "split_sci_tgt"
    with open(os.path.join(report, "index.html")) as f:
        assert "<b>Out of date:</b> split_sci_tgt was interrupted at" in f.read()


def test_a_timebin_that_averages_nothing_is_not_an_error(calibrated_dirs, caplog):
    """Issue 23.15: where CASA's split leaves every integration as it is (here each is its own scan, and split
    never averages across scans), the output is the loop's: it is no failure, and the line says so."""
    from casatools import table
    from casa_plugin.testing.compare import loop_science
    vis = _ebs(calibrated_dirs[1])[0]
    real = os.path.realpath(vis)
    tb = table()
    tb.open(real, nomodify=False)
    try:
        times = tb.getcol("TIME")
        tb.putcol("SCAN_NUMBER", (np.searchsorted(np.unique(times), times) + 1).astype(np.int32))
    finally:
        tb.close()
    caplog.clear()
    result = split_sci(vis=vis, timebin="12s")
    assert result["ebs"][vis]["status"] == "split"
    assert "timebin=12s averaged nothing: CASA kept the 6.048 s integrations" in caplog.text
    loop = os.path.join(os.path.dirname(calibrated_dirs[1]), "loop.ms")
    assert_same_ms(vis + ".split.cal", loop_science(vis, loop, timebin="12s"))
    assert split_sci(vis=vis, timebin="12s")["counts"] == {"done": 1}


def test_split_sci_tgt_after_the_split_cal_was_deleted_by_hand_refuses_the_old_source(calibrated_dirs):
    """Found by make fuzz (seed 1): the chain's target split read the record of the deleted .split.cal (the
    client records the new one after the chain) and called the old .source done."""
    cal = calibrated_dirs[1]
    split_sci_tgt(vis=cal)
    vis = _ebs(cal)[0]
    shutil.rmtree(vis + ".split.cal")
    with split_failure(r"\.source exists but is stale: its input \S+ was remade at \S+ by split_sci\("):
        split_sci_tgt(vis=cal)
    assert split_sci_tgt(vis=cal, overwrite=True)["tgt"]["counts"] == {"split": 2}


def test_changes_made_together_are_written_once_and_read_back_before(tmp_path, monkeypatch, caplog):
    """A chain marks (and records) its science and target outputs in one rewrite of the record; reads in between
    see both; a record that cannot be written then is a warning, as a single update's is."""
    d = str(tmp_path)
    eb = "uid___A002_X1_X2"
    sci, tgt = os.path.join(d, eb + ".ms.split.cal"), os.path.join(d, eb + ".ms.split.cal.source")
    writes, real = [], run_record._write
    monkeypatch.setattr(run_record, "_write", lambda directory, record: writes.append(directory) or
                        real(directory, record))
    with run_record.batched():
        run_record.mark_running(eb, "split_sci", {"vis": os.path.join(d, eb + ".ms"), "outputvis": sci})
        with run_record.batched():  # nested: the outer block writes
            run_record.mark_running(eb, "split_tgt", {"vis": sci, "outputvis": tgt})
        assert not os.path.exists(run_record.record_path(d))
        assert run_record.entry_of(sci)["status"] == run_record.entry_of(tgt)["status"] == "running"
    assert writes == [d]
    with open(run_record.record_path(d)) as f:
        assert sorted(json.load(f)["outputs"]) == sorted(os.path.basename(p) for p in (sci, tgt))

    def full(directory, record):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(run_record, "_write", full)
    with caplog.at_level(logging.WARNING, logger="casa_plugin.record"):
        with run_record.batched():
            run_record.update(eb, "split_sci", {"status": "failed", "vis": os.path.join(d, eb + ".ms"),
                                                "outputvis": sci})
    assert "could not update the run record in %s" % d in caplog.text and "No space left" in caplog.text
    assert run_record.entry_of(sci)["status"] == "running"  # the old record is intact


def test_split_sci_tgt_writes_the_record_once_before_and_once_after_each_chain(calibrated_dirs, monkeypatch):
    """Both entries say running on disk before the chain's first split starts; each chain rewrites the record
    twice (its two marks, its two results), not four times."""
    cal = calibrated_dirs[1]
    ebs = _ebs(cal)
    seen, writes = [], []
    real_split, real_write = casa.split, run_record._write

    def split_and_look(**kwargs):
        if not seen:
            seen.extend(run_record.entries_of([ebs[0] + ".split.cal", ebs[0] + ".split.cal.source"]).values())
        return real_split(**kwargs)

    monkeypatch.setattr(casa, "split", split_and_look)
    monkeypatch.setattr(run_record, "_write", lambda directory, record: writes.append(directory) or
                        real_write(directory, record))
    result = split_sci_tgt(vis=cal, reindex=True)
    assert result["sci"]["counts"] == result["tgt"]["counts"] == {"split": len(ebs)}
    assert [e["status"] for e in seen] == ["running", "running"]
    assert writes == [cal] * (2 * len(ebs))
    statuses = [e["status"] for e in run_record.load(cal)["outputs"].values()]
    assert statuses == ["split"] * (2 * len(ebs))
