"""What an MS holds: read once per unchanged table, read again after any change."""

import os
import shutil

import pytest

from casa_plugin import ms

pytestmark = pytest.mark.casa


@pytest.fixture
def eb(tmp_path):
    from casa_plugin.testing.synthetic_ms import make_eb_ms
    vis = str(tmp_path / "uid___A002_X1_X1.ms")
    make_eb_ms(vis, nant=4, nchan=8, nint=2)
    return vis


def test_an_unchanged_table_is_read_once_even_renamed_and_a_changed_one_again(eb, monkeypatch):
    import numpy as np
    from casatools import table
    reads = []
    real = ms._read_contents
    monkeypatch.setattr(ms, "_read_contents", lambda vis: reads.append(vis) or real(vis))
    first = ms.read_contents(eb, ids=True)
    assert "_ddid" in first and len(reads) == 1
    moved = eb + ".moved"
    os.rename(eb, moved)  # as staged() renames a split's output: same files
    again = ms.read_contents(moved)
    assert len(reads) == 1 and "_ddid" not in again
    assert again == dict((k, v) for k, v in first.items() if not k.startswith("_"))
    again["spws"].clear()  # a caller's change never reaches the next reader
    assert ms.read_contents(moved)["spws"] == first["spws"]

    tb = table()
    tb.open(moved, nomodify=False)
    try:
        fields = tb.getcol("FIELD_ID")
        tb.putcol("FIELD_ID", np.zeros_like(fields))  # every row on field 0
    finally:
        tb.close()
    changed = ms.read_contents(moved)
    assert len(reads) == 2 and len(changed["fields"]) == 1 < len(first["fields"])

    copy = eb + ".copy"
    shutil.copytree(moved, copy)  # a copy is another table (other inodes): read
    ms.read_contents(copy)
    assert len(reads) == 3
