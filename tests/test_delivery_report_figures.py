"""The report's pictures without CASA: svg.py's escaping, and the three pictures of an ALMA-sized member.

The member is written by hand (tests/report_helpers.py): 43 antennas, 2 EBs, 60 scans each.
"""

import os
from xml.etree import ElementTree

import pytest

from casa_plugin.delivery_report import figures, writer
from casa_plugin.delivery_report.svg import CHAR, Axes, Canvas, nice_ticks, tick_texts
from report_helpers import alma_member, svg_bars, svg_texts

_SVG = "{http://www.w3.org/2000/svg}"
_AWKWARD = "J1924<&>\"'-2914\x01"  # XML's five specials, and a control character XML cannot hold


def _draw(tmp_path, func, member):
    path = str(tmp_path / ("%s.svg" % func))
    drawn = getattr(figures, func)(member, path)
    root = ElementTree.parse(path).getroot()
    assert root.tag == _SVG + "svg" and root.get("width") == "1200" and int(root.get("height")) > 200
    return drawn, root


def test_svg_escapes_text_and_attributes(tmp_path):
    """Any text or colour gives valid XML that reads back as written (less what XML cannot hold)."""
    canvas = Canvas(300, 100)
    canvas.rect(1, 2, 30, 40, fill="#0072B2", stroke="a'b\"c")
    canvas.text(10, 20, _AWKWARD, 12, rotate=-30, clip=canvas.clip(0, 0, 100, 50))
    canvas.text(10, 60, "line <1>\nline & 2", 12, anchor="middle")
    canvas.legend([(_AWKWARD, canvas.hatch("#D55E00", "#ffffff"), "#D55E00")], 290, 80)
    path = canvas.save(str(tmp_path / "awkward.svg"))
    root = ElementTree.parse(path).getroot()
    assert svg_texts(root) == [_AWKWARD[:-1], "line <1>\nline & 2", _AWKWARD[:-1]]
    assert [r.get("stroke") for r in root.iter(_SVG + "rect") if r.get("x") == "1"] == ["a'b\"c"]
    assert [p.get("id") for p in root.iter(_SVG + "pattern")] == ["hatch0"]


def test_an_awkward_field_name_gives_a_valid_timeline(tmp_path):
    member = alma_member(nant=4, nebs=1, nscans=6)
    for scan in member["ebs"][0]["scans"]:
        scan["fields"] = [_AWKWARD]
    drawn, root = _draw(tmp_path, "timeline", member)
    assert drawn[member["ebs"][0]["eb"]][0]["fields"] == [_AWKWARD]  # the numbers keep the name as it is
    assert [t for t in svg_texts(root) if _AWKWARD[:-1] in t]


@pytest.mark.parametrize("lo, hi, count, expected", [(0.0, 13.0, 5, [0, 5, 10]),
                                                       (0.0, 13.0, 6, [0, 2.5, 5, 7.5, 10, 12.5]),
                                                       (86.0, 90.0, 4, [86, 87, 88, 89, 90]),
                                                       (183.6, 190.0, 3, [185, 187.5, 190])])
def test_ticks_are_round_numbers(lo, hi, count, expected):
    ticks = nice_ticks(lo, hi, count)
    assert ticks == pytest.approx(expected)
    assert len(set(len(t.split(".")[-1]) for t in tick_texts(ticks) if "." in t)) <= 1


def test_axes_map_data_to_pixels_either_way_up():
    ax = Axes(Canvas(100, 100), 10, 20, 80, 60, (0.0, 4.0), (0.0, 1.0))
    assert (ax.px(0), ax.px(4), ax.py(0), ax.py(1)) == (10, 90, 80, 20)
    down = Axes(Canvas(100, 100), 10, 20, 80, 60, (0.0, 4.0), (3.0, -0.8))  # lanes counted downwards
    assert down.py(-0.8) == pytest.approx(20) and down.py(3.0) == pytest.approx(80)


def test_flags_of_43_antennas(tmp_path):
    """Every antenna and science spw has one bar per step and its name; upright names stay inside the picture."""
    member = alma_member(nant=43)
    drawn, root = _draw(tmp_path, "flags", member)
    texts = svg_texts(root)
    for eb in member["ebs"]:
        flags = drawn[eb["eb"]]
        assert sorted(flags["antenna"]) == sorted(eb["flags"]["restored"]["antenna"]) and len(flags["antenna"]) == 43
        assert sorted(flags["spw"]) == ["17->0", "19->1", "21->2", "23->3"]
        assert flags["spw"]["19->1"] == {"restored": eb["flags"]["restored"]["spw"]["19"],
                                         ".split.cal": eb["flags"][".split.cal"]["spw"]["1"],
                                         ".source": eb["flags"][".source"]["spw"]["1"]}
        for antenna in flags["antenna"]:
            assert texts.count(antenna) == len(member["ebs"])  # under the antenna bars of each EB
        for label, steps in flags["spw"].items():
            assert label in texts and all("%.1f" % (v * 100) in texts for v in steps.values())
    for colour in (figures.PALETTE["orange"], figures.PALETTE["blue"], figures.PALETTE["green"]):
        assert len(svg_bars(root, colour)) == 2 * (43 + 4)
    height = int(root.get("height"))
    names = [t for t in root.iter(_SVG + "text") if t.text in drawn[member["ebs"][0]["eb"]]["antenna"]]
    assert all("rotate(-90" in t.get("transform") for t in names)
    for t in names:  # written upwards from just below the axis: its length must fit above the bottom
        assert float(t.get("y")) + CHAR * float(t.get("font-size")) * len(t.text) <= height
    xs = sorted(set(float(t.get("x")) for t in names))
    assert min(b - a for a, b in zip(xs, xs[1:])) >= float(names[0].get("font-size"))  # no two names touch


def test_flags_follow_the_output_s_own_spw_ids_and_draw_no_missing_number(tmp_path):
    """Issue 23, case 2: an output's spws are mapped by the ids read from it (``spw_maps``), not the record's
    ``spw_map`` (here the record's is that of another output: spw 17,19 only); a spw an output lacks gets
    no bar, never a 0.0 that is not there."""
    member = alma_member(nant=5, nebs=1, nscans=8)
    eb = member["ebs"][0]
    eb["sci"]["spw_map"] = {"17": 0, "19": 1}  # as a record of an spw=17,19 output left it
    eb["spw_maps"] = {".split.cal": {"17": "0", "19": "1", "21": "2", "23": "3"},
                      ".source": {"17": "0", "19": "1", "21": "2"}}  # no spw 23 in the target split
    eb["flags"][".source"]["spw"] = {"0": 0.11, "1": 0.12, "2": 0.13}
    drawn, root = _draw(tmp_path, "flags", member)
    flags = drawn[eb["eb"]]["spw"]
    assert sorted(flags) == ["17->0", "19->1", "21->2", "23->3"]
    assert flags["23->3"] == {"restored": eb["flags"]["restored"]["spw"]["23"],
                              ".split.cal": eb["flags"][".split.cal"]["spw"]["3"]}
    assert flags["21->2"][".source"] == 0.13
    assert len(svg_bars(root, figures.PALETTE["green"])) == 3 + 5  # 3 spws and 5 antennas: no bar for 23
    assert len(svg_bars(root, figures.PALETTE["blue"])) == 4 + 5
    assert "0.0" not in svg_texts(root)


def test_spectral_setup_of_an_alma_member(tmp_path):
    member = alma_member(nant=43)
    drawn, root = _draw(tmp_path, "spectral_setup", member)
    texts = svg_texts(root)
    for eb in member["ebs"]:
        assert [t for t in texts if t.startswith(eb["eb"] + "\nscience 17,19,21,23\n")]
        for spw_id, label in drawn[eb["eb"]]["labels"].items():
            assert label.startswith(spw_id + ": ")  # the id goes on a line of its own in a narrow bar
            assert label in texts or label.replace(": ", ":\n", 1) in texts
        assert drawn[eb["eb"]]["nchan"]["17"] == 1920
    # spw 23 has 960 channels in one EB and 1920 in the other: neither is the usual one, both are hatched
    assert sorted(d["differs"] for d in drawn.values()) == [["23"], ["23"]]
    hatched = [r for r in svg_bars(root) if (r.get("fill") or "").startswith("url(#hatch")]
    assert len(hatched) == 2 and all(r.get("stroke") == figures.PALETTE["vermillion"] for r in hatched)
    assert "23:\n960×977 kHz" in texts
    assert len(svg_bars(root, stroke="#ffffff")) + 2 == sum(len(eb["spws"]) for eb in member["ebs"])


def test_timeline_of_60_scans(tmp_path):
    """One bar per scan; each scan's number is on its bar or starts its label; labels never leave the picture."""
    member = alma_member(nant=43, nscans=60)
    drawn, root = _draw(tmp_path, "timeline", member)
    texts = svg_texts(root)
    for eb in member["ebs"]:
        assert [s["scan"] for s in drawn[eb["eb"]]] == list(range(1, 61))
        assert [t for t in texts if t.startswith("%s, from 2022-06-0" % eb["eb"])]
    assert len(svg_bars(root, stroke="#ffffff")) == 120
    assert {"target", "phase", "bandpass", "flux", "atmosphere", "pointing", "check source",
            "off source"} <= set(texts)
    assert "NGC6334I ×7" in texts or [t for t in texts if t.endswith(": NGC6334I ×7")]
    for t in root.iter(_SVG + "text"):
        assert 0 <= float(t.get("x")) <= 1200


def test_prune_removes_pictures_no_longer_shown_and_old_pngs(tmp_path):
    """A report folder of the PNG version: its pictures go; the SVGs the page shows, and their numbers, stay."""
    for name in ("m_flags_old.png", "m_flags_old.json", "m_flags_new.svg", "m_flags_new.json", "m_flags_gone.svg",
                 "m_flags_gone.json", "report.json"):
        (tmp_path / name).write_text("x")
    writer._prune(str(tmp_path), "<img src='m_flags_new.svg'>")
    assert sorted(os.listdir(str(tmp_path))) == ["m_flags_new.json", "m_flags_new.svg", "report.json"]
