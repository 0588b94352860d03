"""An installed wheel and a venv set up as `make setup` does: the prompt and restore_pi(casa=...) from them."""

import glob
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig

import pytest

from prompt_helpers import REPO, casashell_has_startupfile

pytestmark = [pytest.mark.casa, pytest.mark.subprocess]

XB6D = "member.uid___A001_X15a2_Xb6d"
STANDIN = "from casa_plugin.testing.pipeline_standin import load_into; load_into(globals())"


def make_venv(tmp_path, wheel=None):
    """A fresh venv set up as `make setup` does (casasiteconfig.py by tools/write_casasiteconfig.py).

    CASA's packages are not installed again (hundreds of MB): a .pth file gives the venv this
    venv's site-packages, after its own. Its .pth files are not run, so this venv's editable
    casa_plugin is not seen: the venv has casa_plugin only if ``wheel`` is installed in it.
    """
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout.strip()
    ours = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    with open(os.path.join(purelib, "casa_packages_from_the_test_venv.pth"), "w") as f:
        f.write("\n".join(ours) + "\n")
    if wheel is not None:  # --target: the venv has no pip, and Python 3.6's pip has no --python
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                        "--disable-pip-version-check", "--target", purelib, str(wheel)], check=True)
    if importlib.util.find_spec("casadata"):  # CASA 6.2-6.5 lines take casatoolrc.py from this venv instead
        subprocess.run([python, os.path.join(REPO, "tools", "write_casasiteconfig.py")], check=True,
                       stdout=subprocess.PIPE)
    return {"venv": str(venv), "python": python, "site": purelib}


def build_wheel(tmp_path):
    """The package's wheel, built from a copy of the sources (the build writes beside them)."""
    src = tmp_path / "src"
    shutil.copytree(os.path.join(REPO, "casa_plugin"), str(src / "casa_plugin"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(os.path.join(REPO, name), str(src / name))
    cmd = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--disable-pip-version-check",
           "-w", str(tmp_path / "dist")]
    if importlib.util.find_spec("wheel") is not None:  # `make setup` installs it: offline build
        cmd += ["--no-build-isolation", "--no-index"]
    subprocess.run(cmd + [str(src)], check=True)
    (wheel,) = glob.glob(str(tmp_path / "dist" / "casa_plugin-*.whl"))
    return wheel


def _env(home):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["HOME"] = str(home)
    return env


def test_restore_through_casa_from_an_installed_wheel(delivery, tmp_path):
    venv = make_venv(tmp_path, wheel=build_wheel(tmp_path))
    home = tmp_path / "home"  # the child CASA reads ~/.casa/startup.py: the pipeline stand-in
    (home / ".casa").mkdir(parents=True)
    (home / ".casa" / "startup.py").write_text(STANDIN + "\n")
    (member,) = [m for m in delivery["members"] if m.endswith(XB6D)]
    casa = "%s -m casashell" % venv["python"]
    script = tmp_path / "parent.py"
    script.write_text(
        "import json, casa_plugin\n"
        "from casa_plugin import restore_pi\n"
        "r = restore_pi(member=%r, casa=%r)['members'][%r]\n"
        "print('RESULT', json.dumps({'package': casa_plugin.__file__, 'status': r['status'],\n"
        "                            'products': sorted(r['products'])}))\n" % (member, casa, member))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = subprocess.run([venv["python"], str(script)], cwd=str(elsewhere), env=_env(home),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    (line,) = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    result = json.loads(line[len("RESULT "):])
    installed = os.path.join(venv["site"], "casa_plugin", "__init__.py")
    assert result["package"] == installed  # the parent runs the wheel, not the checkout
    assert "casa_plugin 0.1.0 from %s" % installed in proc.stdout  # and so does the child CASA
    assert result["status"] == "restored"
    assert result["products"] == ["uid___A002_Xf7ad58_Xd406", "uid___A002_Xf8f6a9_X15c79"]
    for eb in result["products"]:
        assert os.path.isdir(os.path.join(member, "calibrated", eb + ".ms"))
    if casashell_has_startupfile():  # casashell 6.2-6.5 keep their IPython history in ~/.casa (the rcdir)
        assert sorted(os.listdir(str(home / ".casa"))) == ["startup.py"]
