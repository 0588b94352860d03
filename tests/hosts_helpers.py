"""Several MPI hosts on one machine: a hostfile of made-up hosts, reached through ``tests/fake_ssh``.

Each made-up host is a UTS namespace (its own host name), so casampi servers placed there report that host
and everything the plugin decides per host (the parallel policy, where members are restored) is exercised as
on a cluster, with the real mpirun, casampi and CASA. Needs root (unshare --uts), as CI has.
"""

import os
import socket

from casa_plugin.testing.compare import mpirun_command

AGENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_ssh")


def mpirun_on_hosts(folder, hosts, python=None):
    """The mpirun command for rank 0 here and one rank on each of ``hosts``; writes ``folder/hostfile``."""
    hostfile = os.path.join(str(folder), "hostfile")
    with open(hostfile, "w") as f:
        f.write("".join("%s slots=1\n" % h for h in [socket.gethostname()] + list(hosts)))
    mpirun = mpirun_command(1, python)[0]
    return [mpirun] + (["--allow-run-as-root"] if os.geteuid() == 0 else []) + [
        "--hostfile", hostfile, "-n", str(1 + len(hosts)), "--prtemca", "plm_ssh_agent", AGENT]
