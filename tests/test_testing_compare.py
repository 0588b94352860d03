"""compare.ms_differences finds any difference between two MSs and their flag versions, and names where it is."""

import os
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
    import re
    assert len(problems) == 1, problems
    assert problems[0].startswith(b), problems
    assert re.search(pattern, problems[0]), problems


def test_identical_copies_have_no_differences(built, tmp_path):
    a, b = _pair(built["split"], tmp_path)
    assert ms_differences(a, b) == []


def test_cells_of_several_shapes_are_compared_without_reading_mixed_shapes(built, tmp_path):
    """The EB's DATA holds cells of 4, 64 and 1 channels (getcol of mixed shapes aborts casatools); a change in
    a 1-channel row, whose rows are not contiguous, is found in that row."""
    a, b = _pair(built["eb"], tmp_path)
    from casatools import table
    tb = table()
    tb.open(b)
    row = int(np.flatnonzero(np.array(tb.getcolshapestring("DATA")) == "[2, 1]")[5])
    tb.close()
    assert ms_differences(a, b) == []
    _change_cell(b, "DATA", row)
    _one(ms_differences(a, b), r"main table: column DATA: value differs in row %d \(1 of \d+ rows" % row, b)


@pytest.mark.parametrize("subtable, column, row", [
    ("SPECTRAL_WINDOW", "NAME", 1), ("SPECTRAL_WINDOW", "CHAN_WIDTH", 2), ("SPECTRAL_WINDOW", "REF_FREQUENCY", 3),
    ("FIELD", "PHASE_DIR", 0), ("ANTENNA", "POSITION", 3), ("POINTING", "DIRECTION", 5), ("STATE", "OBS_MODE", 2),
    ("OBSERVATION", "SCHEDULE", 0), ("DATA_DESCRIPTION", "POLARIZATION_ID", 1)])
def test_a_changed_subtable_cell_names_its_table_column_and_row(built, tmp_path, subtable, column, row):
    a, b = _pair(built["split"], tmp_path)
    _change_cell(os.path.join(b, subtable), column, row)
    _one(ms_differences(a, b), r"%s: column %s: value differs in row %d \(1 of" % (subtable, column, row), b)


def test_a_source_row_more_is_found(built, tmp_path):
    from casatools import table
    a, b = _pair(built["split"], tmp_path)
    tb = table()
    tb.open(os.path.join(b, "SOURCE"), nomodify=False)
    try:
        rows = tb.nrows()
        tb.addrows(1)
    finally:
        tb.close()
    _one(ms_differences(a, b), r"SOURCE: %d rows, not %d" % (rows + 1, rows), b)


def test_a_main_table_column_beyond_data_flags_and_weights_is_compared(built, tmp_path):
    a, b = _pair(built["split"], tmp_path)
    _change_cell(b, "SCAN_NUMBER", 17)
    _one(ms_differences(a, b), r"main table: column SCAN_NUMBER: value differs in row 17 \(1 of", b)


def test_a_missing_subtable_is_named_and_absent_in_both_is_no_difference(built, tmp_path):
    a, b = _pair(built["split"], tmp_path)
    shutil.rmtree(os.path.join(b, "POINTING"))
    _one(ms_differences(a, b), r"POINTING: subtable missing in %s$" % b, b)
    shutil.rmtree(os.path.join(a, "POINTING"))
    assert ms_differences(a, b) == []


def test_history_is_not_compared(built, tmp_path):
    a, b = _pair(built["split"], tmp_path)
    _change_cell(os.path.join(b, "HISTORY"), "MESSAGE", 0)
    assert ms_differences(a, b) == []


def test_a_changed_flag_version_is_found(built, tmp_path):
    a, b = _pair(built["split"], tmp_path)
    _change_cell(os.path.join(b + ".flagversions", "flags.original_flags"), "FLAG", 9)
    _one(ms_differences(a, b), r"\.flagversions/flags\.original_flags: column FLAG: value differs in row 9 \(1 of",
         b)


def test_a_renamed_flag_version_is_found(built, tmp_path):
    a, b = _pair(built["split"], tmp_path)
    versions = b + ".flagversions"
    os.rename(os.path.join(versions, "flags.original_flags"), os.path.join(versions, "flags.before_split"))
    with open(os.path.join(versions, "FLAG_VERSION_LIST"), "w") as f:
        f.write("before_split : \n")
    problems = ms_differences(a, b)
    assert len(problems) == 3, problems
    assert "FLAG_VERSION_LIST (name, comment) [('before_split', '')], not [('original_flags', '')]" in problems[0]
    assert problems[1].endswith("flags.before_split only beside %s" % b)
    assert problems[2].endswith("flags.original_flags only beside %s" % a)


def test_a_changed_flag_version_comment_is_found(built, tmp_path):
    a, b = _pair(built["split"], tmp_path)
    with open(os.path.join(b + ".flagversions", "FLAG_VERSION_LIST"), "w") as f:
        f.write("original_flags : saved by hand\n")
    _one(ms_differences(a, b), r"\[\('original_flags', 'saved by hand'\)\], not \[\('original_flags', ''\)\]", b)


def test_flag_versions_missing_beside_one_ms_are_found(built, tmp_path):
    a, b = _pair(built["split"], tmp_path)
    shutil.rmtree(b + ".flagversions")
    _one(ms_differences(a, b), r"\.flagversions: missing beside %s$" % b, b)
