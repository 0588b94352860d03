"""Issue 9.15: a line when each EB starts, progress while an output is written, lines that name the member."""

import logging
import os
import shutil
import threading
import time

import pytest

from casa_plugin import split_sci
from casa_plugin.split import progress
from casa_plugin.parallel._casampi import RANK_VARS


def test_watch_logs_bytes_rate_and_time_left(tmp_path, caplog):
    out = tmp_path / ".x.ms.split.cal.partial"
    out.mkdir()
    stop = threading.Event()

    def writer():
        for i in range(20):
            (out / ("f%d" % i)).write_bytes(b"\0" * 100000)
            if stop.wait(0.02):
                break

    caplog.set_level(logging.INFO, logger="casa_plugin")
    with progress.watch(str(out), 4000000, "x.ms.split.cal", log_every=0.1, poll=0.05):
        thread = threading.Thread(target=writer)
        thread.start()
        thread.join()
        time.sleep(0.3)
    lines = [r.getMessage() for r in caplog.records if "written" in r.getMessage()]
    assert lines, caplog.text
    assert all(l.startswith("x.ms.split.cal: ") and "of ~0.00 GB written" in l and "MB/s" in l for l in lines)
    assert any("s left" in l for l in lines)


def test_watch_logs_at_most_once_a_minute_by_default(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="casa_plugin")
    with progress.watch(str(tmp_path), 10, "y", poll=0.01) as watcher:
        time.sleep(0.2)
    assert watcher.lines == 0 and progress.LOG_EVERY == 60


@pytest.mark.casa
def test_start_lines_and_progress_during_a_real_split(restored, calibrated_dirs, caplog, monkeypatch):
    monkeypatch.setattr(progress, "LOG_EVERY", 0.0)
    monkeypatch.setattr(progress, "_POLL", 0.005)
    caplog.set_level(logging.INFO, logger="casa_plugin")
    split_sci(vis=calibrated_dirs[1])
    text = caplog.text
    member = os.path.basename(os.path.dirname(calibrated_dirs[1]))[len("member."):]
    assert "[1/2 started] member %s: uid___A002_Xf7ad58_Xd406.ms -> uid___A002_Xf7ad58_Xd406.ms.split.cal (" \
           % member in text and "MB to read)" in text
    assert "[2/2] member %s: uid___A002_Xf8f6a9_X15c79.ms -> " % member in text
    assert "uid___A002_Xf7ad58_Xd406.ms.split.cal: " in text and " written, " in text  # progress while writing
    caplog.clear()
    split_sci(vis=calibrated_dirs[1])  # a re-run: every output is only checked, nothing read to split
    assert "uid___A002_Xf7ad58_Xd406.ms.split.cal (exists: checking it)" in caplog.text
    assert "to read)" not in caplog.text


@pytest.mark.casa
def test_lines_name_the_project_when_several_are_processed(restored, tmp_path, caplog):
    other = str(tmp_path / "2022.1.00001.S")
    shutil.copytree(restored["project"], other, symlinks=True)
    caplog.set_level(logging.INFO, logger="casa_plugin")
    split_sci(vis=[restored["project"], other], dryrun=True)
    assert "of 2021.1.00690.S: uid___" in caplog.text and "of 2022.1.00001.S: uid___" in caplog.text


class _Tty(object):
    def __init__(self):
        self.text = []

    def isatty(self):
        return True

    def write(self, text):
        self.text.append(text)

    def flush(self):
        pass


@pytest.mark.parametrize("mpi_env", [None, "OMPI_COMM_WORLD_RANK", "PMIX_RANK"])
def test_live_line_on_a_terminal_but_not_in_an_mpi_rank(tmp_path, monkeypatch, mpi_env):
    """Under mpirun a rank's stdout is a pseudo-terminal even when the output goes to a file: no escapes there."""
    for name in RANK_VARS:
        monkeypatch.delenv(name, raising=False)
    if mpi_env:
        monkeypatch.setenv(mpi_env, "0")
    tty = _Tty()
    monkeypatch.setattr(progress.sys, "stdout", tty)
    out = tmp_path / "out.ms"
    out.mkdir()
    with progress.watch(str(out), 1e6, "EB", log_every=100, poll=0.05):
        (out / "table.f0").write_bytes(b"x" * 1000)
        time.sleep(0.3)
    drawn = "".join(tty.text)
    assert ("\033[K" in drawn) == (mpi_env is None), drawn


@pytest.mark.casa
def test_lines_give_the_whole_path_of_an_output_away_from_its_eb(restored, calibrated_dirs, tmp_path, caplog):
    """An outputvis the user put elsewhere is named by its path: the line says where the data went."""
    caplog.set_level(logging.INFO, logger="casa_plugin")
    eb = os.path.join(calibrated_dirs[1], "uid___A002_Xf7ad58_Xd406.ms")
    elsewhere = str(tmp_path / "mine.ms.split.cal")
    split_sci(vis=eb, outputvis=elsewhere)
    assert "[1/1 started] member " in caplog.text
    assert ": uid___A002_Xf7ad58_Xd406.ms -> %s (" % elsewhere in caplog.text
    assert "[1/1] member " in caplog.text and " -> %s (spw 1,3,5,7) " % elsewhere in caplog.text
