"""ms_differences and digest_differences find any difference between two MSs and their flag versions, and name
the table, column and row (the digest: the chunk of rows) where it is."""

import json
import os
import re
import shutil

import numpy as np
import pytest

from casa_plugin.testing.compare import loop_science, ms_differences
from casa_plugin.testing.synthetic_ms import make_eb_ms

pytestmark = pytest.mark.casa


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A synthetic EB (spws of 4, 64 and 1 channels) and its science split with original_flags saved."""
    root = tmp_path_factory.mktemp("compare")
    eb = str(root / "uid___A002_X1_X2.ms")
    make_eb_ms(eb, seed=3, nant=4, nint=2, ntargets=2)
    return {"eb": eb, "split": loop_science(eb, eb + ".split.cal")}


def _against_digest(a, b):
    """``digest_differences`` of ``b`` against the digest of ``a``, the digest kept as JSON in between."""
    from casa_plugin.testing.ms_compare import digest_differences, ms_digest
    return digest_differences(json.loads(json.dumps(ms_digest(a))), b)


@pytest.fixture(params=["pair", "digest"])
def differences(request):
    """The comparison under test: ``(problems(a, b), how)``."""
    return (ms_differences if request.param == "pair" else _against_digest), request.param


def _pair(vis, tmp_path):
    """Two copies of ``vis`` and its flag versions: ``(a, b)``."""
    pair = []
    for name in ("a", "b"):
        dest = str(tmp_path / name / os.path.basename(vis))
        shutil.copytree(vis, dest)
        if os.path.isdir(vis + ".flagversions"):
            shutil.copytree(vis + ".flagversions", dest + ".flagversions")
        pair.append(dest)
    return pair


def _change_cell(table_path, column, row):
    """Change one cell of ``column`` (numbers + 1, flags negated, strings with a suffix)."""
    from casatools import table
    tb = table()
    tb.open(table_path, nomodify=False)
    try:
        value = tb.getcell(column, row)
        kind = np.asarray(value).dtype.kind
        if kind == "U":
            value = np.char.add(value, "-changed") if np.ndim(value) else value + "-changed"
        else:
            value = ~np.asarray(value) if kind == "b" else np.asarray(value) + 1
        tb.putcell(column, row, value)
    finally:
        tb.close()


def _one(problems, pattern, b):
    assert len(problems) == 1, problems
    assert problems[0].startswith(b), problems
    assert re.search(pattern, problems[0]), problems


def _one_cell(problems, where, column, row, b, how):
    """One line naming the table, the column and the row (the digest: a chunk of rows holding it)."""
    _one(problems, r"%s: column %s: value differs in rows? " % (re.escape(where), column), b)
    if how == "pair":
        assert re.search(r"in row %d \(1 of \d+ rows differ\)" % row, problems[0]), problems
    else:
        first, last = (int(n) for n in re.search(r"in rows (\d+)-(\d+) \(1 of", problems[0]).groups())
        assert first <= row <= last, problems


def test_identical_copies_have_no_differences(built, tmp_path, differences):
    check, _ = differences
    a, b = _pair(built["split"], tmp_path)
    assert check(a, b) == []


def test_cells_of_several_shapes_are_compared_without_reading_mixed_shapes(built, tmp_path, differences):
    """The EB's DATA holds cells of 4, 64 and 1 channels (getcol of mixed shapes aborts casatools); a change in
    a 1-channel row, whose rows are not contiguous, is found in that row."""
    check, how = differences
    a, b = _pair(built["eb"], tmp_path)
    from casatools import table
    tb = table()
    tb.open(b)
    row = int(np.flatnonzero(np.array(tb.getcolshapestring("DATA")) == "[2, 1]")[5])
    tb.close()
    assert check(a, b) == []
    _change_cell(b, "DATA", row)
    _one_cell(check(a, b), "main table", "DATA", row, b, how)


@pytest.mark.parametrize("subtable, column, row", [
    ("SPECTRAL_WINDOW", "NAME", 1), ("SPECTRAL_WINDOW", "CHAN_WIDTH", 2), ("SPECTRAL_WINDOW", "REF_FREQUENCY", 3),
    ("FIELD", "PHASE_DIR", 0), ("ANTENNA", "POSITION", 3), ("POINTING", "DIRECTION", 5), ("STATE", "OBS_MODE", 2),
    ("OBSERVATION", "SCHEDULE", 0), ("DATA_DESCRIPTION", "POLARIZATION_ID", 1)])
def test_a_changed_subtable_cell_names_its_table_column_and_row(built, tmp_path, differences, subtable, column,
                                                                 row):
    check, how = differences
    a, b = _pair(built["split"], tmp_path)
    _change_cell(os.path.join(b, subtable), column, row)
    _one_cell(check(a, b), subtable, column, row, b, how)


def test_a_source_row_more_is_found(built, tmp_path, differences):
    from casatools import table
    check, _ = differences
    a, b = _pair(built["split"], tmp_path)
    tb = table()
    tb.open(os.path.join(b, "SOURCE"), nomodify=False)
    try:
        rows = tb.nrows()
        tb.addrows(1)
    finally:
        tb.close()
    _one(check(a, b), r"SOURCE: %d rows, not %d" % (rows + 1, rows), b)


def test_a_main_table_column_beyond_data_flags_and_weights_is_compared(built, tmp_path, differences):
    check, how = differences
    a, b = _pair(built["split"], tmp_path)
    _change_cell(b, "SCAN_NUMBER", 17)
    _one_cell(check(a, b), "main table", "SCAN_NUMBER", 17, b, how)


def test_an_empty_cell_filled_is_found(built, tmp_path, differences):
    """FLAG_CATEGORY holds no array in any row (getcolshapestring raises on such a cell): one row given one."""
    from casatools import table
    check, _ = differences
    a, b = _pair(built["split"], tmp_path)
    tb = table()
    tb.open(b, nomodify=False)
    try:
        tb.putcell("FLAG_CATEGORY", 7, np.zeros((2, 64, 1), dtype=bool))
    finally:
        tb.close()
    _one(check(a, b), r"main table: column FLAG_CATEGORY: row 7 has cell shape \[2, 64, 1\], not \(empty\) "
                      r"\(1 of \d+ rows differ\)", b)


def test_a_missing_subtable_is_named_and_absent_in_both_is_no_difference(built, tmp_path, differences):
    check, _ = differences
    a, b = _pair(built["split"], tmp_path)
    shutil.rmtree(os.path.join(b, "POINTING"))
    _one(check(a, b), r"POINTING: subtable missing in %s$" % b, b)
    shutil.rmtree(os.path.join(a, "POINTING"))
    assert check(a, b) == []


def test_history_is_not_compared(built, tmp_path, differences):
    check, _ = differences
    a, b = _pair(built["split"], tmp_path)
    _change_cell(os.path.join(b, "HISTORY"), "MESSAGE", 0)
    assert check(a, b) == []


def test_a_changed_flag_version_is_found(built, tmp_path, differences):
    check, how = differences
    a, b = _pair(built["split"], tmp_path)
    _change_cell(os.path.join(b + ".flagversions", "flags.original_flags"), "FLAG", 9)
    _one_cell(check(a, b), ".flagversions/flags.original_flags", "FLAG", 9, b, how)


def test_a_renamed_flag_version_is_found(built, tmp_path, differences):
    check, _ = differences
    a, b = _pair(built["split"], tmp_path)
    versions = b + ".flagversions"
    os.rename(os.path.join(versions, "flags.original_flags"), os.path.join(versions, "flags.before_split"))
    with open(os.path.join(versions, "FLAG_VERSION_LIST"), "w") as f:
        f.write("before_split : \n")
    problems = check(a, b)
    assert len(problems) == 3, problems
    assert "FLAG_VERSION_LIST (name, comment) [('before_split', '')], not [('original_flags', '')]" in problems[0]
    assert re.search(r"flags\.before_split only beside %s$" % b, problems[1]), problems
    assert re.search(r"flags\.original_flags only beside (the digest of )?%s$" % a, problems[2]), problems


def test_a_changed_flag_version_comment_is_found(built, tmp_path, differences):
    check, _ = differences
    a, b = _pair(built["split"], tmp_path)
    with open(os.path.join(b + ".flagversions", "FLAG_VERSION_LIST"), "w") as f:
        f.write("original_flags : saved by hand\n")
    _one(check(a, b), r"\[\('original_flags', 'saved by hand'\)\], not \[\('original_flags', ''\)\]", b)


def test_flag_versions_missing_beside_one_ms_are_found(built, tmp_path, differences):
    check, _ = differences
    a, b = _pair(built["split"], tmp_path)
    shutil.rmtree(b + ".flagversions")
    _one(check(a, b), r"\.flagversions: missing beside %s$" % b, b)
