"""Several hosts: under mpirun with a hostfile, members are restored and EBs split on the servers' hosts.

The hosts are made up (``hosts_helpers``: a UTS namespace per host, reached through a stand-in for ssh), the
rest is real: mpirun's daemons, casampi servers, the CASA processes the servers start for members, the
splits. Rank 0 (the client) is on this host; one server on each of two other hosts.
"""

import glob
import json
import os
import shutil
import socket
import sys

import pytest

from casa_helpers import assert_same_ms, flag_versions, run_mpi
from hosts_helpers import mpirun_on_hosts
from prompt_helpers import REPO

pytestmark = [pytest.mark.mpi, pytest.mark.casa, pytest.mark.subprocess]

HOSTS = ["nodeb", "nodec"]

_DRIVER = '''
import sys
sys.path.insert(0, %(repo)r)
import casatasks  # ranks >= 1 become casampi servers here and never come back
import json, socket
from casa_plugin import split_sci, split_tgt
from casa_plugin.testing.pipeline_standin import restore_with_standin
restored = restore_with_standin(%(project)r, parallel=True)
sci = split_sci(vis=%(project)r, parallel=True)
tgt = split_tgt(vis=%(project)r, parallel=None)
json.dump({"client": socket.gethostname(), "restored": restored, "sci": sci, "tgt": tgt},
          open(%(report)r, "w"), default=str)
'''


def _products(project):
    return sorted(os.path.relpath(p, project) for p in
                  glob.glob(os.path.join(project, "*", "*", "*", "calibrated", "uid___*.ms.split.cal*")))


def test_members_and_ebs_go_to_the_servers_hosts(pristine_delivery, restored_delivery, tmp_path):
    project = str(tmp_path / "project")
    shutil.copytree(pristine_delivery["project"], project, symlinks=True)
    serial = str(tmp_path / "serial")
    shutil.copytree(restored_delivery["project"], serial, symlinks=True)
    from casa_plugin import split_sci, split_tgt
    split_sci(vis=serial, parallel=False)
    split_tgt(vis=serial, parallel=False)

    report = tmp_path / "report.json"
    (tmp_path / "driver.py").write_text(_DRIVER % {"repo": REPO, "project": project, "report": str(report)})
    run_mpi(mpirun_on_hosts(tmp_path, HOSTS) + [sys.executable, tmp_path / "driver.py"], tmp_path, 900)
    result = json.loads(report.read_text())
    assert result["client"] == socket.gethostname()

    # restore_pi(parallel=True): a member per server, each restored by a CASA process on that server's host
    restored = result["restored"]
    assert restored["parallel"]["mode"] == "mpi", restored["parallel"]
    members = restored["members"]
    assert [m["status"] for m in members.values()] == ["restored", "restored"]
    assert sorted(m["mpi"]["host"] for m in members.values()) == HOSTS
    for member, m in members.items():
        assert m["restored_on"] == "casampi server %d on %s" % (m["mpi"]["server"], m["mpi"]["host"])
        with open(m["log"]) as f:
            text = f.read()
        assert "restoring %s on %s" % (member, m["mpi"]["host"]) in text  # the member's CASA ran on that host
        assert "OMPI_COMM_WORLD_RANK=" not in text

    # split_sci(parallel=True): one plain split per host at a time, on both hosts
    sci = result["sci"]
    assert sci["parallel"]["reason"].startswith("parallel=True: plain splits"), sci["parallel"]
    assert "nodeb: 1, nodec: 1" in sci["parallel"]["reason"]
    ebs = sci["ebs"].values()
    assert [eb["status"] for eb in ebs] == ["split"] * len(ebs)
    assert set(eb["mpi"]["host"] for eb in ebs) == set(HOSTS)
    assert [eb["mpi"]["concurrency"] for eb in ebs] == [1] * len(ebs)
    # split_tgt(parallel=None): the servers are on other hosts, but the project is small: serial, and it says so
    tgt = result["tgt"]
    assert tgt["parallel"]["mode"] == "serial" and tgt["parallel"]["reason"].startswith("a small project"), \
        tgt["parallel"]
    assert [eb["status"] for eb in tgt["ebs"].values()] == ["split"] * len(ebs)
    assert not any("mpi" in eb for eb in tgt["ebs"].values())
    assert _products(project) == _products(serial) and _products(project)
    for rel in _products(project):
        if rel.endswith((".split.cal", ".source")):
            assert_same_ms(os.path.join(project, rel), os.path.join(serial, rel))
            assert flag_versions(os.path.join(project, rel)) == ["original_flags"]
