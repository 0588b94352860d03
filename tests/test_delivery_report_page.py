"""The report's HTML without CASA: the steps table of a member written by hand (tests/report_helpers.py)."""

import re

from casa_plugin.delivery_report.page import page
from report_helpers import alma_member

#: CASA's SEVERE lines of a failed split, as the FAILED line and the record carry them: 40 lines.
_ERROR = "RuntimeError: Error creating output MS structure\n" + "\n".join(
    "SEVERE split::::casa  Table /data/uid___A002_Xf7ad58_X406.ms/SUBTABLE_%02d does not exist" % i
    for i in range(39))


def _steps(html):
    return html[html.index("<h3>Steps</h3>"):]


def test_a_long_error_gets_the_table_s_width_folded_under_its_first_line():
    """Issue 23, case 13: one error was a 40-line cell of a narrow last column; it is now a row of its own,
    across the table below its step, folded under its first line (``<details>``), its text in full."""
    member = alma_member(nscans=8)
    eb = member["ebs"][0]
    eb["sci"].update({"status": "failed", "error": _ERROR, "outputvis": "/nowhere/x.ms.split.cal"})
    member["ebs"][1]["sci"].update({"status": "failed", "error": "short: one line"})
    steps = _steps(page("/nowhere", [member], {}, "split_sci", False))
    columns = len(re.findall(r"<th>", steps.split("</tr>")[0]))
    assert "last error" not in steps.split("</tr>")[0]  # no narrow column for it
    rows = re.findall(r"<tr class='failed'><td></td><td colspan='(\d+)'>(.*?)</td></tr>", steps, re.S)
    assert [int(n) for n, _ in rows] == [columns - 1] * 2
    long, short = rows[0][1], rows[1][1]
    summary = re.match(r"<details class='err'><summary>last error: (.*?)</summary>(.*)</details>$", long, re.S)
    assert summary.group(1) == "RuntimeError: Error creating output MS structure"
    assert summary.group(2).count("\n") == 39 and "SUBTABLE_38 does not exist" in summary.group(2)
    assert short == "<div class='err'>last error: short: one line</div>"
    # the row before each error row is its step's
    assert re.search(r"<td>%s</td><td>split_sci</td>[^\n]*</tr>\n<tr class='failed'><td></td><td colspan" % eb["eb"],
                     steps)


def test_a_restore_error_is_shown_once_on_the_restore_line():
    """A failed restore's error is on the member's restore line (folded if long), not repeated in each EB's row."""
    member = alma_member(nscans=8)
    member["restore"] = {"status": "failed", "error": _ERROR}
    html = page("/nowhere", [member], {}, "restore_pi", False)
    assert html.count("SUBTABLE_38 does not exist") == 1
    assert re.search(r"<p>Restore: <b>failed</b></p><details class='err'><summary>error: RuntimeError", html)


def test_an_output_removed_since_its_record_says_so(tmp_path):
    """A recorded output no longer on disk (deleted by hand) is shown as gone, not as split."""
    member = alma_member(nscans=8)
    kept = tmp_path / "kept.ms.split.cal"
    kept.mkdir()
    member["ebs"][0]["sci"].update({"status": "split", "outputvis": str(tmp_path / "gone.ms.split.cal")})
    member["ebs"][1]["sci"].update({"status": "split", "outputvis": str(kept)})
    steps = _steps(page("/nowhere", [member], {}, "split_sci", False))
    assert steps.count("<td>gone (removed since)</td>") == 1 and steps.count("<td>split</td>") == 1


def test_a_skipped_split_shows_its_state_and_reason_below_its_row():
    """A TP EB's split recorded as skipped (status and note): the row says skipped, the reason is below it."""
    member = alma_member(nscans=8)
    member["array"] = "TP"
    note = "total power: single-dish FLOAT_DATA autocorrelations, imaged with sdimaging, not split"
    member["ebs"][0]["sci"].update({"status": "skipped", "note": note, "error": note, "outputvis": None})
    steps = _steps(page("/nowhere", [member], {}, "split_sci", False))
    assert re.search(r"<tr class='skipped'>[^\n]*<td>split_sci</td>[^\n]*<td>skipped</td></tr>\n"
                     r"<tr class='skipped'><td></td><td colspan='\d+'><div class='err'>not split: %s</div>"
                     % re.escape(note), steps), steps
    assert "last error" not in steps  # a decision, not an error


def test_a_skipped_split_of_an_output_made_before_shows_it_kept_and_why(tmp_path):
    """A TP EB split before with totalpower=True, then skipped by a default call: kept, and the reason below."""
    member = alma_member(nscans=8)
    member["array"] = "TP"
    note = "total power: single-dish FLOAT_DATA autocorrelations, imaged with sdimaging, not split"
    made = tmp_path / "uid___A002_X1_X1.ms.split.cal"
    made.mkdir()
    (made / "table.dat").write_bytes(b"")
    member["ebs"][0]["sci"].update({"status": "skipped", "note": note, "error": note, "outputvis": str(made),
                                    "made": "2026-12-07T10:00:00"})
    steps = _steps(page("/nowhere", [member], {}, "split_sci", False))
    assert re.search(r"<td>kept \(last run skipped\)</td></tr>\n<tr class='skipped'><td></td><td colspan='\d+'>"
                     r"<div class='err'>not split: %s</div>" % re.escape(note), steps), steps


def test_members_of_several_arrays_get_a_heading_each_in_array_order_and_one_array_none():
    members = []
    for name, array in (("uid___A001_X1_X3", "TP"), ("uid___A001_X1_X1", "12m"), ("uid___A001_X1_X2", "7m")):
        member = alma_member(nscans=4)
        member.update(name=name, array=array)
        members.append(member)
    html = page("/nowhere", members, {}, "restore_pi", False)
    order = re.findall(r"<h2 class='array'[^>]*>([^<]*)</h2>|<h2 id='([^']*)'>", html)
    assert order == [("12 m array", ""), ("", "uid___A001_X1_X1"), ("7 m array (ACA)", ""),
                     ("", "uid___A001_X1_X2"), ("total power (TP)", ""), ("", "uid___A001_X1_X3")], order
    assert "<p class='array'>Array: total power (TP)</p>" in html
    single = page("/nowhere", members[1:2], {}, "restore_pi", False)
    assert "class='array'>" not in single.replace("<p class='array'>", "")  # one array: no heading
