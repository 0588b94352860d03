"""Flag versions are saved once and never renamed to <name>.old.<time>."""

import shutil

import pytest

from casa_plugin import flags as flag_versions
from casa_plugin.testing.synthetic_ms import make_eb_ms

pytestmark = pytest.mark.casa


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return make_eb_ms(str(tmp_path_factory.mktemp("fv") / "uid___A002_Xf7ad58_Xd406.ms"), seed=5)["vis"]


@pytest.fixture
def vis(built, tmp_path):
    dest = str(tmp_path / "uid___A002_Xf7ad58_Xd406.ms")
    shutil.copytree(built, dest)
    return dest


def test_save_once(vis):
    assert flag_versions.list_versions(vis) == []
    assert flag_versions.save_once(vis, "original_flags") is True
    assert flag_versions.save_once(vis, "original_flags") is False
    assert flag_versions.list_versions(vis) == ["original_flags"]


def test_casa_renames_on_second_save_which_save_once_avoids(vis):
    """The CASA behaviour this module exists for: a second save renames the first."""
    from casatasks import flagmanager
    flagmanager(vis=vis, mode="save", versionname="original_flags")
    flagmanager(vis=vis, mode="save", versionname="original_flags")
    names = flag_versions.list_versions(vis)
    assert "original_flags" in names
    assert any(n.startswith("original_flags.old.") for n in names)
