"""The per-member, per-EB table a task's result shows at the prompt."""

import re

import pytest

from casa_plugin import split_sci, split_tgt

pytestmark = pytest.mark.casa


def _rows(table):
    """``{EB: {column: value}}`` of a summary table (columns split at two or more spaces)."""
    lines = table.splitlines()
    head = re.split(r"\s{2,}", lines[0].strip())
    return dict((cells[1], dict(zip(head, cells))) for cells in (re.split(r"\s{2,}", line.strip())
                                                                 for line in lines[2:] if line.strip()))


def test_a_split_s_table_says_its_ebs_were_restored(restored):
    """Issue 23, case 13: after split_sci (and split_tgt) the restore column says 'restored', as the
    record of the restore says (it showed '-')."""
    for result in (split_sci(vis=restored["project"]), split_tgt(vis=restored["project"])):
        rows = _rows(repr(result).split("\n(a dict with keys")[0])
        assert len(rows) == 3
        assert [r["restore"] for r in rows.values()] == ["restored"] * 3, repr(result)
