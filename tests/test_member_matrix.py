"""The member-kind matrix (issue 24): each kind of member restored and split with the defaults, each target
split holding the CORRECTED_DATA of a SPACESAVING=0 restore of the same member, spw ids as the record says;
a pipeline member restored with each scriptForPI option; and one project mixing every kind in one call."""

import glob
import json
import os
import shutil

import pytest

from casa_plugin import record as run_record
from casa_plugin import restore_pi, split_sci, split_tgt
from casa_plugin.report import summary_table
from casa_plugin.split.jobs import TOTAL_POWER
from casa_plugin.testing.archive_member import make_archive_member
from casa_plugin.testing.manual_member import make_manual_member
from casa_plugin.testing.matrix import source_differences, spw_pairs
from casa_plugin.testing.mixed_delivery import make_7m_member
from casa_plugin.testing.pipeline_standin import restore_with_standin
from casa_plugin.testing.synthetic_delivery import make_delivery
from casa_plugin.testing.tp_member import make_tp_member

pytestmark = pytest.mark.casa

#: The kinds of the mixed project's members, in the generator's member order.
KINDS = ("manual", "12m", "7m", "TP", "archive", "2023")


def _restored_ms(member, eb):
    """The MS holding an EB's calibrated CORRECTED_DATA after a SPACESAVING=0 restore of ``member``."""
    for path in (os.path.join(member, "calibrated", eb + ".ms"),
                 os.path.join(member, "calibrated", "working", eb + ".ms"),
                 os.path.join(member, "calibrated", eb + ".calibration", eb + ".ms.split")):
        if os.path.isdir(path):
            return path
    raise AssertionError("%s: no restored MS of %s" % (member, eb))


def _check_sources(member, ebs, reference_member):
    """Each EB's .source holds the reference restore's calibrated data, with the spw ids its record gives."""
    for eb in ebs:
        split = os.path.join(member, "calibrated", eb + ".ms.split.cal")
        reference = _restored_ms(reference_member, eb)
        assert source_differences(split + ".source", reference) == [], (member, eb)
        pairs = spw_pairs(split + ".source", reference)
        entry = run_record.entry_of(split)
        assert sorted(pairs) == sorted(int(s) for s in entry["contents"]["spws"]), (member, eb)
        kept = (entry.get("request") or {}).get("reindex") is False
        assert (all(k == v for k, v in pairs.items()) if kept else sorted(pairs) == list(range(len(pairs)))), (
            member, eb, pairs, entry.get("request"))


OPTIONS = [{}, {"dosplit": True}, {"spacesaving": 1}, {"spacesaving": 2}, {"spacesaving": 3}, {"docontsub": True}]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join("%s=%s" % kv for kv in o.items()) or "defaults")
def test_a_pipeline_member_restored_with_each_option_splits_with_the_defaults(delivery, restored_delivery, options):
    member = sorted(delivery["members"])[1]
    restore_with_standin(member, **options)
    sci, tgt = split_sci(vis=member), split_tgt(vis=member)
    assert set(sci["counts"]) <= {"split", "done"} and sum(sci["counts"].values()) == 2, sci["counts"]
    assert tgt["counts"] == {"split": 2}
    reference = [m for m in restored_delivery["members"] if os.path.basename(m) == os.path.basename(member)][0]
    _check_sources(member, delivery["members"][member], reference)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """One project of every kind (KINDS), and a copy restored with SPACESAVING=0 before its archive member was
    made one (the reference)."""
    root = tmp_path_factory.mktemp("matrix")
    info = make_delivery(str(root / "all"), small=True, members=len(KINDS), ebs=1,
                         generation=["2022"] * (len(KINDS) - 1) + ["2023"],
                         imaged=[kind != "2023" for kind in KINDS])  # the 2023 member was imaged by hand
    members = dict(zip(KINDS, info["members"]))
    real = make_delivery(str(root / "real"), small=True, members=1, ebs=1, asdm=True)  # the manual member's ASDMs
    (real_member,) = real["members"]
    assert os.path.basename(real_member) == os.path.basename(members["manual"])
    shutil.rmtree(members["manual"])
    shutil.copytree(real_member, members["manual"], symlinks=True)
    shutil.rmtree(real["project"])
    make_manual_member(members["manual"])
    make_7m_member(members["7m"])
    make_tp_member(members["TP"])
    reference = str(root / "reference")
    shutil.copytree(info["project"], os.path.join(reference, os.path.basename(info["project"])), symlinks=True)
    ebs = dict((kind, list(info["members"][m])) for kind, m in members.items())
    return {"project": info["project"], "members": members, "ebs": ebs, "reference": reference}


def test_a_project_mixing_every_kind_restores_and_splits_in_one_call(mixed, prompt_ns):
    members, ebs = mixed["members"], mixed["ebs"]
    ref = dict((k, os.path.join(mixed["reference"], os.path.relpath(m, os.path.dirname(mixed["project"]))))
               for k, m in members.items())
    restore_pi(member=os.path.join(mixed["reference"], os.path.basename(mixed["project"])), spacesaving=0)
    make_archive_member(members["archive"])
    result = restore_pi(member=mixed["project"])
    assert dict((k, result["members"][m]["status"]) for k, m in members.items()) == dict(
        (k, "restored") for k in KINDS), result["members"]
    sci, tgt = split_sci(vis=mixed["project"]), split_tgt(vis=mixed["project"])
    # new splits: 12 m, 7 m; the delivery's own: manual, archive, 2023 (its script splits by itself); TP skipped
    assert sci["counts"] == {"split": 2, "done": 3, "skipped": 1}, sci["counts"]
    assert tgt["counts"] == {"split": 5}, tgt["counts"]
    for kind in KINDS:
        if kind != "TP":
            _check_sources(members[kind], ebs[kind], ref[kind])
    (tp_eb,) = ebs["TP"]
    tp = os.path.join(members["TP"], "calibrated", tp_eb + ".ms")
    assert sci["ebs"][tp]["status"] == "skipped" and run_record.entry_of(tp + ".split.cal")["note"] == TOTAL_POWER
    table = summary_table(result, sci, tgt).splitlines()  # what the recipe prints: grouped by array
    assert table[0].split()[:3] == ["member", "array", "EB"]
    shown = [line.split()[1] for line in table[2:]]  # "12 m" and "7 m": their first word
    assert shown == sorted(shown, key=["12", "7", "TP"].index) and shown.count("12") == 4, table
    assert "skipped" in table[-1] and "TP" in table[-1]
    with open(os.path.join(mixed["project"], "casa_plugin_report", "report.json")) as f:
        report = json.load(f)
    assert TOTAL_POWER in json.dumps(report)
    assert not glob.glob(os.path.join(mixed["project"], "**", "*.partial"), recursive=True)
