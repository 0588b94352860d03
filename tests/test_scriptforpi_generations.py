"""scriptForPI generations: each template is valid in its Python, a project mixing years restores and splits with
the defaults, and a 2018 (Python 2) member is refused naming its CASA 5 release.

The restores run in a namespace like the CASA prompt's (casalog, msmd, the casatasks) with the pipeline
stand-in, since the 2018 and 2023 scripts use those names as the prompt gives them. The reference for each
``.source`` is the same EB in the session's restored delivery (2022 generation, SPACESAVING unset, same seeds).
"""

import glob
import os
import shutil
import subprocess
import sys

import pytest

from casa_plugin import restore_pi, split_sci, split_tgt
from casa_plugin.errors import RestoreError
from casa_plugin.restore import script_checks
from casa_plugin.testing.matrix import source_differences, spw_pairs
from casa_plugin.testing.synthetic_delivery import GENERATIONS, make_delivery
from test_restore_casa5_wrapper import python27_or_skip

PY3 = sorted(g for g in GENERATIONS if GENERATIONS[g]["python"] == 3)


def script_dir(info, index):
    return os.path.join(sorted(info["members"])[index], "script")


def only(pattern):
    found = glob.glob(pattern)
    assert len(found) == 1, (pattern, found)
    return found[0]


def split_and_check_sources(info, restored_delivery, kept):
    """split_sci + split_tgt with the defaults on the project; each .source holds the CORRECTED_DATA of the same
    EB in the session's restore, spw ids kept in member ``kept`` (the script's own split), else re-indexed."""
    split_sci(vis=info["project"])
    split_tgt(vis=info["project"])
    reference = dict((eb, os.path.join(member, "calibrated", eb + ".ms"))
                     for member, ebs in restored_delivery["members"].items() for eb in ebs)
    for member, ebs in info["members"].items():
        for eb in ebs:
            source = os.path.join(member, "calibrated", eb + ".ms.split.cal.source")
            assert source_differences(source, reference[eb]) == [], (member, eb)
            assert spw_pairs(source, reference[eb]) == ({1: 1, 3: 3, 5: 5, 7: 7} if member == kept else
                                                        {0: 1, 1: 3, 2: 5, 3: 7}), (member, eb)


@pytest.mark.parametrize("generation", sorted(GENERATIONS))
def test_each_generation_has_its_files_and_options(tmp_path, generation):
    info = make_delivery(str(tmp_path), small=True, members=1, generation=generation)
    script = script_dir(info, 0)
    text = "".join(line for line in open(only(os.path.join(script, "*scriptForPI.py")))
                   if not line.lstrip().startswith("#"))  # the code, not the header citing the others
    restore = only(os.path.join(script, "*casa_piperestorescript.py"))
    recipe = GENERATIONS[generation]["recipe"]
    assert os.path.basename(restore).endswith((".%s" % recipe if recipe else ".uid___A001_X15a2_Xb6b")
                                              + ".casa_piperestorescript.py")
    assert script_checks.restore_script_lists(restore) == (info["members"][sorted(info["members"])[0]],
                                                          ["session_1"])
    assert ("DOCONTSUB" in text) == (generation != "2018")
    assert ('globals().has_key("DOSPLIT")' in text) == (generation == "2018")
    assert ("from recipes.almahelpers" in open(restore).read()) == (generation == "2018")
    assert bool(glob.glob(os.path.join(script, "*pipeline_manifest.xml"))) == (generation == "2018")


@pytest.mark.parametrize("generation", PY3)
def test_a_python_3_generation_compiles(tmp_path, generation):
    info = make_delivery(str(tmp_path), small=True, members=1, generation=generation)
    path = only(os.path.join(script_dir(info, 0), "*scriptForPI.py"))
    compile(open(path).read(), path, "exec", dont_inherit=True)
    assert script_checks.python3_error(path) is None


def test_the_2018_generation_is_python_2_only(tmp_path):
    info = make_delivery(str(tmp_path), small=True, members=1, generation="2018")
    path = only(os.path.join(script_dir(info, 0), "*scriptForPI.py"))
    error = script_checks.python3_error(path)
    # Python 3.8 (CASA 6.2's compat line) says only "invalid syntax" where 3.10+ names the print statement
    assert error is not None and ("Missing parentheses in call to 'print'" in error.msg or
                                  (sys.version_info < (3, 10) and error.msg == "invalid syntax")), error.msg
    python = python27_or_skip("the 2018 generation's own syntax")
    run = subprocess.run([python, "-m", "py_compile", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True)
    assert run.returncode == 0, run.stdout


def test_generation_must_be_known_and_one_per_member(tmp_path):
    with pytest.raises(ValueError, match=r"generation '2019': unknown; give one of 2018, 2022, 2023"):
        make_delivery(str(tmp_path), small=True, generation="2019")
    with pytest.raises(ValueError, match=r"give one name, or one per member \(2 members\)"):
        make_delivery(str(tmp_path), small=True, generation=["2023"])
    assert not os.path.exists(str(tmp_path / "2021.1.00690.S"))


@pytest.mark.casa
def test_a_2018_member_is_refused_naming_casa_5_1(tmp_path, prompt_ns):
    info = make_delivery(str(tmp_path), small=True, generation=["2018", "2023"])
    member = sorted(info["members"])[0]
    with pytest.raises(RestoreError, match=r"preflight failed; nothing was run:\n(.|\n)*Xb6b: member.\w+"
                       r".scriptForPI.py is Python 2 \(line \d+: "
                       r"(Missing parentheses in call to 'print'.*|invalid syntax)\), written for CASA 5, so this "
                       r"CASA [\d.]+ cannot run it; it needs CASA 5\.1\.1\S* \(named by "
                       r"member.\w+.pipeline_manifest.xml\)\. Give that CASA: restore_pi\(member='%s', "
                       r"casa='/path/to/casa-5\.1\.1\S*/bin/casa'\)" % member):
        restore_pi(member=info["project"])
    assert not glob.glob(os.path.join(info["project"], "*", "*", "*", "calibrated"))


@pytest.mark.casa
def test_a_project_mixing_2022_and_2023_restores_and_splits_with_the_defaults(tmp_path, prompt_ns,
                                                                               restored_delivery):
    info = make_delivery(str(tmp_path), small=True, generation=["2023", "2022"], imaged=[False, True])
    new, old = sorted(info["members"])
    restore_pi(member=info["project"])
    # 2023 (v2.5), not imaged by the pipeline: the science spws always split, ids kept; the MS stays in working/
    calibrated = os.path.join(new, "calibrated")
    for eb in info["members"][new]:
        assert os.path.isdir(os.path.join(calibrated, eb + ".ms.split.cal"))
        assert not os.path.lexists(os.path.join(calibrated, eb + ".ms"))
        assert os.path.isdir(os.path.join(calibrated, "working", eb + ".ms"))
        assert os.path.islink(os.path.join(calibrated, "rawdata", eb))  # no .asdm.sdm suffix
    assert not glob.glob(os.path.join(calibrated, "working", "*casa_piperestorescript.py"))  # run from script/
    # 2022, imaged by the pipeline: every EB's restored MS linked into calibrated/
    for eb in info["members"][old]:
        assert os.path.islink(os.path.join(old, "calibrated", eb + ".ms"))
    # the 2023 script's own split kept the ids (and split_sci took it as made); 2022's new split re-indexed
    split_and_check_sources(info, restored_delivery, kept=new)
    shutil.rmtree(str(tmp_path / "2021.1.00690.S"))


def _lines_naming(path, word):
    return sum(1 for line in open(path) if word in line)


@pytest.mark.parametrize("generation", PY3)
def test_imaged_or_not_is_told_by_the_files_the_scriptforpi_reads(tmp_path, generation):
    info = make_delivery(str(tmp_path), small=True, generation=generation, imaged=[True, False])
    imaged, manual = sorted(info["members"])
    for member in (imaged, manual):  # a hifa_calimage PPR lists its commands, hif_makeimages three times
        assert _lines_naming(only(os.path.join(member, "script", "*pprequest.xml")), "hif_makeimages") == 3
        assert glob.glob(os.path.join(member, "product", "*_sci.spw*.fits"))
    assert not glob.glob(os.path.join(imaged, "script", "*scriptForImaging.py"))
    script = only(os.path.join(manual, "script", "*scriptForImaging.py"))
    assert [line for line in open(script) if "#" not in line and "tclean(" in line]


def test_imaged_must_be_a_bool_or_one_per_member(tmp_path):
    with pytest.raises(ValueError, match=r"imaged=\[True\]: give True or False, or one of them per member "
                                         r"\(2 members\)"):
        make_delivery(str(tmp_path), small=True, imaged=[True])
    with pytest.raises(ValueError, match=r"imaged='no'"):
        make_delivery(str(tmp_path), small=True, imaged="no")
    assert not os.path.exists(str(tmp_path / "2021.1.00690.S"))


@pytest.mark.casa
@pytest.mark.parametrize("generation", ["2022", "2023"])
def test_imaged_members_link_and_the_others_are_split_by_the_script(tmp_path, prompt_ns, restored_delivery,
                                                                   generation):
    """ALMA's rule (v1.34 of 2022, v2.5 of 2023): only a pipeline-imaged member is linked without DOSPLIT."""
    info = make_delivery(str(tmp_path), small=True, generation=generation, imaged=[True, False])
    imaged, manual = sorted(info["members"])
    restore_pi(member=info["project"])
    for eb in info["members"][imaged]:
        link = os.path.join(imaged, "calibrated", eb + ".ms")
        assert os.path.islink(link) and os.readlink(link) == os.path.join("working", eb + ".ms")
        assert not os.path.lexists(link + ".split.cal")
    for eb in info["members"][manual]:
        calibrated = os.path.join(manual, "calibrated")
        assert os.path.isdir(os.path.join(calibrated, eb + ".ms.split.cal"))
        assert not os.path.lexists(os.path.join(calibrated, eb + ".ms"))
        assert os.path.isdir(os.path.join(calibrated, "working", eb + ".ms"))
    split_and_check_sources(info, restored_delivery, kept=manual)
    shutil.rmtree(str(tmp_path / "2021.1.00690.S"))


@pytest.mark.casa
def test_spacesaving_3_of_a_pipeline_imaged_2022_member_splits_nothing_as_in_the_tutorial(tmp_path, prompt_ns):
    """v1.34's SPACESAVING only deletes what a split leaves behind: the tutorial's SPACESAVING=3 gives the links."""
    info = make_delivery(str(tmp_path), small=True, members=1, generation="2022")
    (member,) = info["members"]
    restore_pi(member=member, spacesaving=3)
    (eb,) = info["members"][member]
    assert os.path.islink(os.path.join(member, "calibrated", eb + ".ms"))
    assert os.path.isdir(os.path.join(member, "calibrated", "working", eb + ".ms"))
    assert not glob.glob(os.path.join(member, "calibrated", "*.split.cal"))
    shutil.rmtree(str(tmp_path / "2021.1.00690.S"))
