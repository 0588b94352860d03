"""The docs and the bench notes say what is true now: no dated lab notes, and bench/ holds only the latest results."""

import glob
import os
import re
import subprocess

import pytest

from prompt_helpers import REPO

BENCH = os.path.join(REPO, "bench")
BENCH_README = os.path.join(BENCH, "README.md")
_NOTES = sorted(glob.glob(os.path.join(REPO, "docs", "*.md"))) + [BENCH_README]
FIGURES = "## Current figures"

_DATE = r"\b20\d\d-\d\d-\d\d\b"
#: What a heading of lab notes looks like: a date, a lab session or issue, "Figures of ...".
_LAB_HEADING = re.compile(r"%s|\bsession \d|\bissue \d|^#+\s*figures of\b" % _DATE, re.I)
#: The story of how the code got there, which belongs in git, not in a user's docs.
_NARRATIVE = re.compile(r"tried and dropped|\bwe tried\b|\bnot kept\b|\blooked into\b|\bsession \d+\b|"
                        r"\bnew this session\b|\bbefore the policy\b|\(issue \d+\)", re.I)


def _read(path):
    with open(path) as f:
        return f.read()


def _section(text, heading):
    """The lines under ``heading`` up to the next heading of the same or a higher level ('' if none)."""
    match = re.search(r"^%s\s*$(.*?)(?=^#{1,2} |\Z)" % re.escape(heading), text, re.M | re.S)
    return match.group(1) if match else ""


def _rel(path):
    return os.path.relpath(path, REPO)


def _tracked_bench_files():
    """The files of bench/ in git (a user's own bench/RESULTS.md is not part of the tree)."""
    try:
        out = subprocess.check_output(["git", "-C", REPO, "ls-files", "bench"], universal_newlines=True,
                                      stderr=subprocess.DEVNULL)
    except (OSError, subprocess.CalledProcessError):
        return sorted(os.listdir(BENCH))
    return sorted(os.path.relpath(line, "bench") for line in out.split() if os.path.isfile(os.path.join(REPO, line)))


@pytest.mark.parametrize("path", _NOTES, ids=_rel)
def test_no_lab_headings(path):
    headings = [line for line in _read(path).splitlines() if line.startswith("#")]
    assert headings, "%s has no headings to check" % _rel(path)
    lab = [line for line in headings if _LAB_HEADING.search(line)]
    assert lab == [], "%s: dated or numbered lab headings: %s" % (_rel(path), lab)


@pytest.mark.parametrize("path", _NOTES, ids=_rel)
def test_no_lab_narrative(path):
    text = " ".join(_read(path).split())  # phrases broken over lines are found too
    found = sorted(set(m.group(0) for m in _NARRATIVE.finditer(text)))
    assert found == [], "%s tells how it got there (%s): say what is true now; git keeps the story" % (
        _rel(path), ", ".join(found))


@pytest.mark.parametrize("path", _NOTES, ids=_rel)
def test_dates_only_on_the_runs_of_the_current_figures(path):
    text = _read(path)
    if path == BENCH_README:
        figures = _section(text, FIGURES)
        assert re.search(_DATE, figures), "the current figures name no date"
        text = text.replace(figures, "")
    dated = [line for line in text.splitlines() if re.search(_DATE, line)]
    assert dated == [], "%s: dated notes: %s" % (_rel(path), dated)


def test_bench_readme_has_one_table_of_current_figures_with_their_runs():
    figures = _section(_read(BENCH_README), FIGURES)
    assert figures, "bench/README.md has no %r section" % FIGURES
    tables = re.findall(r"^\|[ :-]+\|[ :|-]*$", figures, re.M)  # a table's separator line
    assert len(tables) == 1, "the current figures are %d tables, not one" % len(tables)
    runs = re.findall(r"^- \*\*(\w+)\*\*: (.*?)(?=^- \*\*|^\s*$)", figures, re.M | re.S)
    assert runs, "the current figures name no runs"
    for name, text in runs:
        text = " ".join(text.split())
        assert re.search(r"`bench/\w+\.py [^`]*`", text), "run %s: no command" % name
        assert re.search(_DATE, text), "run %s: no date" % name
        commit = re.search(r"committed in ([0-9a-f]{7,40})\b", text)
        assert commit, "run %s: no commit" % name
        assert subprocess.call(["git", "-C", REPO, "cat-file", "-e", commit.group(1) + "^{commit}"],
                               stderr=subprocess.DEVNULL) == 0, "run %s: %s is no commit" % (name, commit.group(1))
        rows = re.findall(r"^\|.*\| %s \|\s*$" % re.escape(name), figures, re.M)
        assert rows, "run %s gives no figure of the table" % name


def test_bench_holds_the_scripts_its_readme_and_only_the_results_it_cites():
    cited = set(re.findall(r"bench/(RESULTS[\w.-]*?)\.(?:md|json|txt)\b", _section(_read(BENCH_README), FIGURES)))
    assert cited, "the current figures cite no results file"
    files = _tracked_bench_files()
    assert "README.md" in files and "run_bench.py" in files, files
    others = [f for f in files if f != "README.md" and not f.endswith(".py")]
    uncited = [f for f in others if os.path.splitext(f)[0] not in cited]
    assert uncited == [], "bench/ holds results the current figures do not cite (git keeps past runs): %s" % uncited
    missing = [c for c in cited if not any(os.path.splitext(f)[0] == c for f in others)]
    assert missing == [], "the current figures cite results that bench/ lacks: %s" % missing
