"""logs.py: casalog origins are the task's name, each line reaches the terminal once."""

import os
import subprocess
import sys

import pytest

from casa_plugin import restore_pi, split_sci
from prompt_helpers import REPO, casashell_startup_args, run_casa

pytestmark = [pytest.mark.casa, pytest.mark.subprocess]

INIT = os.path.join(REPO, "init.py")


def _casalog():
    from casatasks import casalog
    return casalog


def _new_lines(logfile, start):
    with open(logfile) as f:
        f.seek(start)
        return f.read().splitlines()


def _origins(lines, text):
    """The origin column (``task::function::casa``) of casalog's lines holding ``text``."""
    found = [line.split("\t")[2] for line in lines if text in line and line.count("\t") >= 3]
    assert found, "no casalog line holds %r" % text
    return found


@pytest.fixture
def prompt_origin():
    """casalog's origin as a CASA prompt has it, put back afterwards."""
    log = _casalog()
    before = log.getOrigin() if hasattr(log, "getOrigin") else "casa"  # CASA 6.2's logsink has no getter
    log.origin("casa")
    yield log
    log.origin(before)


def test_split_sci_lines_keep_the_task_name_after_flagmanager(calibrated_dirs, prompt_origin):
    logfile = prompt_origin.logfile()
    start = os.path.getsize(logfile)
    split_sci(vis=calibrated_dirs[1])  # runs split and flagmanager, which set casalog's origin
    lines = _new_lines(logfile, start)
    assert any(line.split("\t")[2].startswith("flagmanager") for line in lines if line.count("\t") >= 3)
    for text in ("[1/2] member uid___", "[2/2] member uid___", "split_sci: 2 split"):
        assert set(_origins(lines, text)) == {"split_sci::split_sci::casa"}


def test_restore_pi_lines_are_posted_under_restore_pi(delivery, casa_session, prompt_origin):
    logfile = prompt_origin.logfile()
    start = os.path.getsize(logfile)
    member = sorted(delivery["members"])[1]
    restore_pi(member=member)
    lines = _new_lines(logfile, start)
    assert set(_origins(lines, "[1/1] ")) == {"restore_pi::restore_pi::casa"}


def test_a_post_puts_casalogs_origin_back(prompt_origin):
    from casa_plugin.logs import casalog_post
    logfile = prompt_origin.logfile()
    start = os.path.getsize(logfile)
    casalog_post("A POSTED LINE", "split_tgt")
    assert _origins(_new_lines(logfile, start), "A POSTED LINE") == ["split_tgt::split_tgt::casa"]
    if hasattr(prompt_origin, "getOrigin"):  # CASA 6.2 cannot tell its origin: then it is not put back
        assert prompt_origin.getOrigin() == "casa"
    else:
        casalog_post("ANOTHER LINE", "split_sci")  # each post still carries its own task's name
        assert _origins(_new_lines(logfile, start), "ANOTHER LINE") == ["split_sci::split_sci::casa"]


def test_lines_of_the_packages_own_threads_reach_the_terminal_not_casalog(prompt_origin, capsys):
    """CASA 6.2 crashed (segfault in casalog.origin) when the progress thread posted while split, in the task's
    thread, set casalog's origin: casalog is not thread-safe. A line from a thread of this package (progress,
    quieting casampi's servers) is printed, never posted."""
    import logging
    import threading
    from casa_plugin.logs import task_logging
    logfile = prompt_origin.logfile()
    start = os.path.getsize(logfile)
    with task_logging("split_sci"):
        for name in ("casa_plugin-progress", "some other thread"):
            thread = threading.Thread(target=logging.getLogger("casa_plugin.test").info, name=name,
                                      args=("A LINE FROM %s" % name,))
            thread.start()
            thread.join()
    lines = _new_lines(logfile, start)
    assert not [line for line in lines if "A LINE FROM casa_plugin-progress" in line], lines
    assert _origins(lines, "A LINE FROM some other thread") == ["split_sci::split_sci::casa"]
    assert capsys.readouterr().out.count("A LINE FROM casa_plugin-progress") == 1


@pytest.mark.parametrize("log2term", [True, False])
def test_each_line_reaches_the_terminal_once(restored, tmp_path, log2term):
    startup = tmp_path / "startup.py"
    startup.write_text("exec(compile(open(%r).read(), %r, 'exec'))\n" % (INIT, INIT))
    script = tmp_path / "dry.py"
    script.write_text("import logging\nsplit_sci(vis=%r, dryrun=True)\n"
                      "from casa_plugin.logs import task_logging\n"
                      "with task_logging('split_sci'):\n"
                      "    logging.getLogger('casa_plugin.test').warning('A WARNING LINE')\n" % restored["project"])
    proc = run_casa(script, tmp_path, startup=startup) if log2term else _run_casa_quiet(script, tmp_path, startup)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert proc.stdout.count("split_sci: 3 planned") == 1, proc.stdout[-3000:]
    assert proc.stdout.count("A WARNING LINE") == 1, proc.stdout[-3000:]


def _run_casa_quiet(script, cwd, startup):
    """run_casa without --log2term: casalog prints only WARN and SEVERE posts itself."""
    cmd = [sys.executable, "-m", "casashell", "--nologger", "--nogui", "--nologfile"]
    cmd += casashell_startup_args(startup, cwd) + ["-c", str(script)]
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["HOME"] = str(cwd)
    return subprocess.run(cmd, cwd=str(cwd), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=600)


# --- CASA's own cause of a failed task ---------------------------------------------------------------------

_LOG = (
    "2026-01-01 10:00:00\tINFO\tsplit::::casa\tan earlier task\n"
    "2026-01-01 10:00:00\tSEVERE\tsplit::::casa\tan earlier failure\n"
    "--8<--"
    "2026-01-01 10:00:01\tINFO\tsplit::::casa\t##### Begin Task: split #####\n"
    "2026-01-01 10:00:01\tSEVERE\tMeasTable::dUTC(Double) (file MeasTable.cc)\t"
    "Leap second table TAI_UTC seems out-of-date.\n"
    "2026-01-01 10:00:01\tSEVERE\tMSTransformDataHandler::makeMSBasicStructure\tException filling the sub-tables: "
    "2026-01-01 10:00:01\tSEVERE\tMSTransformDataHandler::fillFieldTable\tUnknown error!\n"
    "2026-01-01 10:00:01\tSEVERE\tMSTransformDataHandler::makeMSBasicStructure+\tStack Trace: \n"
    "2026-01-01 10:00:01\tSEVERE\tMSTransformDataHandler::makeMSBasicStructure+\t  frame 1\n"
    "2026-01-01 10:00:01\tSEVERE\tMSTransformDataHandler::open\tfirst part\n"
    "2026-01-01 10:00:01\tSEVERE\tMSTransformDataHandler::open+\tsecond part\n"
    "2026-01-01 10:00:01\tSEVERE\tsplit::::casa\tTask split raised an exception of class RuntimeError with the "
    "following message: Error creating output MS structure\n")


def test_severe_lines_from_an_offset(tmp_path):
    from casa_plugin.logs import casa_cause, severe_lines
    before, after = _LOG.split("--8<--")
    log = tmp_path / "casa.log"
    log.write_text(before + after)
    offset = len(before.encode())
    assert severe_lines(str(log), offset) == [
        ("MeasTable::dUTC(Double) (file MeasTable.cc)", "Leap second table TAI_UTC seems out-of-date."),
        ("MSTransformDataHandler::makeMSBasicStructure", "Exception filling the sub-tables: Unknown error!"),
        ("MSTransformDataHandler::open", "first part second part"),
        ("split::::casa", "Task split raised an exception of class RuntimeError with the following message: "
                          "Error creating output MS structure")]
    assert severe_lines(str(log))[0] == ("split::::casa", "an earlier failure")
    with open(str(log), "rb") as f:  # a descriptor (a worker's own output): read without moving its offset
        assert severe_lines(f.fileno(), offset) == severe_lines(str(log), offset) and f.tell() == 0
    assert severe_lines(str(tmp_path / "missing.log")) == []
    # the cause: the leap-second notice and CASA's repeat of the exception left out
    assert casa_cause((str(log), offset), "split") == (
        "CASA's SEVERE lines: MSTransformDataHandler::makeMSBasicStructure: Exception filling the sub-tables: "
        "Unknown error! | MSTransformDataHandler::open: first part second part")
    assert casa_cause((str(log), len((before + after).encode())), "split") == (
        "CASA logged no SEVERE line since split started (log: %s)" % log)
    assert casa_cause((None, "CASA wrote no log (casalog's file is /dev/null)"), "split") == (
        "CASA wrote no log (casalog's file is /dev/null)")


def _add_empty_row(vis, subtable):
    """A subtable row with no values: CASA's split then fails with 'Error creating output MS structure'."""
    from casatools import table
    tb = table()
    tb.open(os.path.join(os.path.realpath(vis), subtable), nomodify=False)
    try:
        tb.addrows(1)
    finally:
        tb.close()


def _first_eb(restored):
    import glob
    return sorted(glob.glob(os.path.join(restored["project"], "*", "*", "*", "calibrated", "uid___*.ms")))[0]


def test_a_failed_split_names_casas_own_cause(restored, caplog):
    """The FAILED line and the result carry CASA's SEVERE lines of that split, not only its bare exception."""
    from casa_helpers import split_failure
    vis = _first_eb(restored)
    _add_empty_row(vis, "POLARIZATION")
    with split_failure(r"RuntimeError: Error creating output MS structure; CASA's SEVERE lines: "
                       r"MSTransformDataHandler::makeMSBasicStructure: Exception filling the sub-tables: .*no array in row \d+ in column CORR_TYPE of table .*POLARIZATION") as info:
        split_sci(vis=vis)
    result = info.value.results["ebs"][vis]
    assert "CORR_TYPE" in result["casa_cause"] and result["error"].endswith(result["casa_cause"])
    assert "Leap second" not in result["casa_cause"] and "raised an exception" not in result["casa_cause"]
    failed = [r.getMessage() for r in caplog.records if "FAILED" in r.getMessage()]
    assert len(failed) == 1 and "CASA's SEVERE lines: MSTransformDataHandler" in failed[0], failed


def test_a_failed_split_without_a_casa_log_says_so(restored):
    from casa_helpers import split_failure
    vis = _first_eb(restored)
    _add_empty_row(vis, "POLARIZATION")
    log = _casalog()
    before = log.logfile()
    log.setlogfile(os.devnull)
    try:
        with split_failure(r"Error creating output MS structure; CASA wrote no log "
                           r"\(casalog's file is /dev/null\)"):
            split_sci(vis=vis)
    finally:
        log.setlogfile(before)


def test_a_severe_line_is_not_blamed_on_the_task_casalog_last_named(tmp_path):
    """The new-user run: a failed restore read 'flagmanager::open::…' after a split had run (CASA prefixes C++
    messages with the last origin it was given); on CASA 6.2 'restore_pi::open::…'. The cause names 'open::…'."""
    from casa_plugin.logs import severe_lines
    log = tmp_path / "casa.log"
    log.write_text("2026-12-07 06:00:00\tSEVERE\tflagmanager::open::/x.ms\tException Reported: Table /x.ms does "
                   "not exist\n"
                   "2026-12-07 06:00:00\tSEVERE\trestore_pi::open::/y.ms\tException Reported: gone\n"
                   "2026-12-07 06:00:01\tSEVERE\tmstransform::::casa\tTask mstransform raised an exception\n"
                   "2026-12-07 06:00:01\tSEVERE\tMSTransformDataHandler::makeMSBasicStructure\tException filling\n")
    assert [origin for origin, _ in severe_lines(str(log))] == [
        "open::/x.ms", "open::/y.ms", "mstransform::::casa", "MSTransformDataHandler::makeMSBasicStructure"]
