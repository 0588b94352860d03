"""preflight: the scriptForPI's own disk rule (2022 and 2023 versions), SPACESAVING=-1, and what each way out does."""

import os
import re
import subprocess

import pytest

from casa_plugin import RestoreError, restore_pi
from casa_plugin.restore.preflight import check_member, disk_needed
from casa_helpers import small_disk

MIB = 1 << 20
ID_LINES = {  # the $Id lines of ALMA's scriptForPI.py, 2022 and 2023
    2022: "# $Id: scriptForPI.py,v 1.34 2022/08/26 19:11:19 dpetry Exp $",
    2023: "# $Id: scriptForPI.py,v 2.5 2023/10/03 16:56:39 dpetry Exp $",
}
FLUX = "member.uid___A001_X1_X1.scriptForFluxCalibration.py"
POL = "member.uid___A001_X1_X1.scriptForPolCalibration.py"
PREP = "member.uid___A001_X1_X1.scriptForImagingPrep.py"
EXTRAS = {
    "none": {},
    "flux": {FLUX: "setjy()\n"},
    "pol": {POL: "polcal()\n"},
    "prep": {PREP: "split()\n"},
    "flux renorm": {FLUX: "from almahelpers_localcopy import ACreNorm\n"},
    "pol renorm": {POL: "# Tsys/Autocorrelation Renormalization\n"},
}


def make_member(tmp_path, rule=2023, extras="none", raw_mib=3):
    """A member with a scriptForPI of ``rule``'s version, ``raw_mib`` MiB of data in raw/, and ``extras``."""
    member = tmp_path / "member.uid___A001_X1_X1"
    for sub in ("script", "calibration", "raw/uid___A002_X1_X1.asdm.sdm"):
        (member / sub).mkdir(parents=True)
    (member / "script" / "member.uid___A001_X1_X1.scriptForPI.py").write_text(
        "# ALMA Data Reduction Script\n%s\n" % ID_LINES[rule] if rule else "# no $Id line\n")
    for name, text in EXTRAS[extras].items():
        (member / "script" / name).write_text(text)
    asdm = member / "raw" / "uid___A002_X1_X1.asdm.sdm"
    (asdm / "ASDM.xml").write_text("<ASDM/>\n")
    with open(str(asdm / "data.bin"), "wb") as f:
        f.write(b"\1" * (raw_mib * MIB))
    with open(str(asdm / "sparse.bin"), "wb") as f:  # du counts what a sparse file holds: nothing here
        f.truncate(10 ** 13)
    return str(member)


def options(**kw):
    base = {"spacesaving": None, "overwrite": False, "checkdisk": True, "versioncheck": True, "casa": None}
    base.update(kw)
    return base


def test_raw_and_free_are_measured_as_the_scripts_du_and_df_commands(tmp_path):
    member = make_member(tmp_path, raw_mib=3)
    raw = os.path.join(member, "raw")
    # the script's own commands, run in raw/ as it does
    du = subprocess.run("du -smc $PWD | grep total | tail -n 1 | cut -f1", shell=True, cwd=raw,
                        stdout=subprocess.PIPE, check=True, env=dict(os.environ, PWD=raw))
    df = "df -P -m $PWD | awk '/[0-9]%/{print($(NF-2))}'"
    before = int(subprocess.run(df, shell=True, cwd=raw, stdout=subprocess.PIPE, check=True).stdout)
    disk = disk_needed(member, None)
    plan = check_member(member, {}, options())
    after = int(subprocess.run(df, shell=True, cwd=raw, stdout=subprocess.PIPE, check=True).stdout)
    assert disk["raw_mb"] == int(du.stdout) == 4  # 3 MiB of data + the blocks of the files and directories
    free_mb = -(-plan["disk"]["free"] // MIB)
    assert min(before, after) <= free_mb <= max(before, after)


# (spacesaving, extras) -> the factor on raw/ in ALMA's scriptForPI, 2022 and 2023 alike
RULE = [
    (None, "none", 11), (0, "none", 11), (1, "none", 7), (2, "none", 3), (3, "none", 3), (5, "none", 3),
    (None, "flux", 14), (None, "pol", 14), (None, "prep", 14),
    (1, "flux", 10), (1, "pol", 10), (2, "prep", 6), (3, "flux", 6),
    (None, "flux renorm", 14), (2, "flux renorm", 10), (3, "flux renorm", 10),  # renormalised: level 1 at most
    (-1, "none", 0), (-1, "flux", 0),
]


@pytest.mark.parametrize("rule", [2022, 2023])
@pytest.mark.parametrize("spacesaving, extras, factor", RULE)
def test_the_need_is_the_scriptforpi_rule(tmp_path, rule, spacesaving, extras, factor):
    disk = disk_needed(make_member(tmp_path, rule, extras, raw_mib=3), spacesaving)
    assert disk["rule"] == rule
    assert disk["needed_mb"] == 4 * factor and disk["needed"] == 4 * factor * MIB
    assert disk["factor"] + disk["extra"] == factor
    assert disk["checked"] == (spacesaving != -1)


@pytest.mark.parametrize("rule, level, factor", [
    (2022, 2, 6),   # 2022: only a flux script's "ACreNorm" marks renormalised data; a pol script does not
    (2023, 2, 10),  # 2023: without a flux script, a pol script's "Renormalization" keeps the level at 1
    (None, 2, 10),  # a scriptForPI with no $Id line (the synthetic one) follows the 2023 script
])
def test_the_two_versions_differ_on_renormalised_polarisation_data(tmp_path, rule, level, factor):
    disk = disk_needed(make_member(tmp_path, rule, "pol renorm", raw_mib=3), level)
    assert disk["needed_mb"] == 4 * factor and disk["rule"] == (rule or 2023)


def test_the_check_is_the_scripts_comparison(tmp_path, monkeypatch):
    member = make_member(tmp_path, raw_mib=3)  # need 4 MB x 11 = 44 MB
    small_disk(monkeypatch, tmp_path, 44)
    assert check_member(member, {}, options())["problems"] == []  # the script stops only if need > free
    small_disk(monkeypatch, tmp_path, 43)
    assert len(check_member(member, {}, options())["problems"]) == 1


def test_members_that_fit_alone_but_not_after_the_first_restores_are_named(tmp_path, monkeypatch, caplog):
    """Each member needs 4.2 MB x 11 = 46.1 MB; a restore leaves >= 1.4 x raw/ (5.9 MB) behind."""
    from casa_plugin.restore.concurrency import check_disk_together
    members = [make_member(tmp_path / name, raw_mib=3) for name in ("a", "b", "c")]
    small_disk(monkeypatch, tmp_path, 47)  # 49.3 MB: each fits alone, the second not after the first
    plans = [check_member(m, {}, options()) for m in members]
    assert [p["problems"] for p in plans] == [[], [], []]
    (text,) = check_disk_together(plans)
    assert re.match(r"restore_pi: 3 members share raw/'s filesystem \(49\.3 MB free\)\. Each fits alone, but the member "
                    r"restored before member.uid___A001_X1_X1 leaves at least ~4\.\d MB there \(1\.4 x their raw/\), "
                    r"and its scriptForPI needs 46\.1 MB by its own rule, so that check will likely stop it and the 1 "
                    r"after it\. The run goes on; .* or pass spacesaving=2 \(12\.6 MB for ", text), text
    assert text in caplog.text
    assert "note" not in plans[0]["disk"] and all(text in p["disk"]["note"] for p in plans[1:])
    small_disk(monkeypatch, tmp_path, 50)  # 52.4 MB: the second fits after the first, the third not after two
    plans = [check_member(m, {}, options()) for m in members]
    (text,) = check_disk_together(plans)
    assert "the 2 members restored before member.uid___A001_X1_X1 leave at least" in text and "will likely stop member.uid___A001_X1_X1. The run" in text
    small_disk(monkeypatch, tmp_path, 54)  # 56.6 MB: enough for all three, one after the other
    assert check_disk_together([check_member(m, {}, options()) for m in members]) == []
    small_disk(monkeypatch, tmp_path, 47)
    assert check_disk_together([check_member(m, {}, options(spacesaving=-1)) for m in members]) == []  # no check


def test_refusal_says_what_each_way_out_does(tmp_path, monkeypatch):
    member = make_member(tmp_path, extras="flux", raw_mib=3)  # 4 MB x (11 + 3) = 56 MB
    small_disk(monkeypatch, tmp_path, 30)
    pattern = (r"member.uid___A001_X1_X1: the scriptForPI needs 58.7 MB free \(its rule: raw/ 4.2 MB x 11 "
               r"\+ x 3 for member.uid___A001_X1_X1.scriptForFluxCalibration.py for SPACESAVING unset "
               r"\(level 0\)\) but only 31.5 MB is free on raw/'s filesystem, so it would stop; "
               r"free space on raw/'s filesystem; "
               r"spacesaving=1 lowers the script's need to 41.9 MB \(still too much; deletes the \*.ms.split "
               r"of manually calibrated EBs\); "
               r"spacesaving=2 lowers the script's need to 25.2 MB \(enough; deletes each restored \*.ms once "
               r"its .split.cal is made\); "
               r"checkdisk=False skips only casa_plugin's own check: the scriptForPI then checks itself and "
               r"stops with 'not enough free disk space' unless spacesaving=-1, which skips the script's "
               r"check too")
    with pytest.raises(RestoreError, match=pattern):
        restore_pi(member=member)
    with pytest.raises(RestoreError, match=r"x 7 \+ x 3 for .* for SPACESAVING=1\).*spacesaving=2 lowers"):
        restore_pi(member=member, spacesaving=1)


def test_renormalised_data_offer_no_level_the_script_would_not_keep(tmp_path, monkeypatch):
    member = make_member(tmp_path, extras="flux renorm", raw_mib=3)
    small_disk(monkeypatch, tmp_path, 10)
    with pytest.raises(RestoreError, match=r"x 7 \+ x 3 for .* for SPACESAVING=3, taken as 1 for renormalised "
                                           r"data\) .*so it would stop; free space on raw/'s filesystem; "
                                           r"checkdisk=False skips only") as info:
        restore_pi(member=member, spacesaving=3)
    assert "spacesaving=2" not in str(info.value)


def test_checkdisk_false_warns_that_the_script_still_checks(tmp_path, monkeypatch, caplog):
    member = make_member(tmp_path, raw_mib=3)
    small_disk(monkeypatch, tmp_path, 10)
    plan = check_member(member, {}, options(checkdisk=False))
    assert plan["problems"] == []
    assert "the scriptForPI's own check will stop the restore" in plan["disk"]["note"]
    assert "checkdisk=False skips only casa_plugin's check: the scriptForPI checks itself" in caplog.text


def test_spacesaving_minus_1_means_no_check_by_the_script_or_us(tmp_path, monkeypatch):
    member = make_member(tmp_path, extras="flux", raw_mib=3)
    small_disk(monkeypatch, tmp_path, 1)
    plan = check_member(member, {}, options(spacesaving=-1))
    assert plan["problems"] == []
    assert plan["disk"]["checked"] is False and plan["disk"]["needed"] == 0
    assert plan["disk"]["note"] == ("SPACESAVING=-1: the scriptForPI does not check the disk space, and "
                                    "neither does casa_plugin")


def test_non_unique_extra_scripts_are_refused_as_the_script_would(tmp_path):
    member = make_member(tmp_path, extras="flux")
    (tmp_path / "member.uid___A001_X1_X1" / "script" / ("copy." + FLUX)).write_text("")
    with pytest.raises(RestoreError, match=r"script/ holds more than one \*scriptForFluxCalibration.py; the "
                                           r"scriptForPI stops on that"):
        restore_pi(member=member)


@pytest.mark.parametrize("value, error", [
    (-2, ValueError), (True, TypeError), ("-1", TypeError), (1.0, TypeError),
])
def test_spacesaving_values_the_script_refuses(tmp_path, value, error):
    with pytest.raises(error, match=r"spacesaving must be None \(unset: the scriptForPI's level 0\) or an "
                                    r"integer >= -1 .*-1 \(no disk check by the script or casa_plugin\)"):
        restore_pi(member=str(tmp_path), spacesaving=value)
