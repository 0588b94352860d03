"""The parallel policy: serial or parallel, and EBs at once per host, from the work and where the servers are."""

import pytest

from casa_plugin.parallel import policy

GB = 1000 ** 3
ONE_HOST = {"here": 2}


def _decide(parallel=None, hosts=ONE_HOST, sizes=(5 * GB, 5 * GB), averaging=False, **kw):
    return policy.decide(parallel=parallel, hosts=hosts, client_host="here", cores={"here": 2}, sizes=list(sizes),
                         averaging=averaging, **kw)


def test_parallel_false_and_no_servers_are_serial():
    assert _decide(parallel=False) == {"mode": "serial", "reason": "parallel=False", "per_host": {}}
    choice = _decide(hosts={})
    assert choice["mode"] == "serial" and "not an MPI client" in choice["reason"]


def test_plain_splits_on_the_clients_host_run_serially_in_the_client():
    choice = _decide(sizes=[5 * GB] * 8)
    assert choice["mode"] == "serial" and choice["per_host"] == {}
    assert choice["reason"].startswith("plain splits on one host are bandwidth-bound")


def test_averaging_runs_as_many_as_cores_and_servers():
    choice = _decide(averaging=True, sizes=[5 * GB] * 4)
    assert choice == {"mode": "parallel", "per_host": {"here": 2}, "reason": choice["reason"]}
    assert "averaging splits (CPU-bound)" in choice["reason"]
    assert _decide(averaging=True, hosts={"here": 4}, sizes=[5 * GB] * 4)["per_host"] == {"here": 2}  # 2 cores
    one = _decide(averaging=True, hosts={"here": 1}, sizes=[5 * GB] * 4)
    assert one["mode"] == "serial" and one["reason"].endswith("the servers would only add their start-up")


@pytest.mark.parametrize("sizes, averaging", [([50 * 1000 ** 2] * 8, False), ([0.3 * GB] * 8, True),
                                              ([2 * GB, 2 * GB], True)])
def test_a_small_project_runs_serially_and_says_why(sizes, averaging):
    choice = _decide(sizes=sizes, averaging=averaging, hosts={"here": 1, "far": 2})
    assert choice["mode"] == "serial" and choice["reason"].startswith("a small project: %d EB(s)" % len(sizes))
    assert "x the 3.0 s it takes to start the servers' workers" in choice["reason"]


def test_one_eb_is_serial_and_started_workers_lower_the_bar():
    assert _decide(sizes=[100 * GB], averaging=True)["reason"] == "1 EB(s) to split: nothing to run side by side"
    assert _decide(sizes=[100 * GB, 0, 0], averaging=True)["mode"] == "serial"  # the others are done already
    assert _decide(sizes=[2 * GB, 2 * GB], averaging=True)["mode"] == "serial"
    assert _decide(sizes=[2 * GB, 2 * GB], averaging=True, started=True)["mode"] == "parallel"


def test_servers_on_several_hosts_take_one_plain_split_each():
    choice = _decide(hosts={"here": 1, "n1": 2, "n2": 2}, sizes=[5 * GB] * 6)
    assert choice["mode"] == "parallel" and choice["per_host"] == {"here": 1, "n1": 1, "n2": 1}
    assert "plain splits on 3 hosts: one EB at a time per host" in choice["reason"]
    unknown = _decide(hosts={"?1": 1, "?2": 1}, sizes=[5 * GB] * 6)  # hosts not known: each its own, elsewhere
    assert unknown["mode"] == "parallel" and unknown["per_host"] == {"?1": 1, "?2": 1}


def test_parallel_true_and_maxjobs():
    forced = _decide(parallel=True, sizes=[1000] * 2)
    assert forced["mode"] == "parallel" and forced["per_host"] == {"here": 1}
    assert forced["reason"].startswith("parallel=True: plain splits (bandwidth-bound), EBs at once per host")
    members = _decide(parallel=True, sizes=[1000] * 2, unit="member")  # restores: said as such
    assert members["reason"] == "parallel=True: members side by side, members at once per host here: 1"
    assert _decide(parallel=True, maxjobs=2)["per_host"] == {"here": 2}
    assert _decide(parallel=True, maxjobs=5)["per_host"] == {"here": 2}  # no more than the servers
    assert _decide(maxjobs=2)["mode"] == "serial"  # maxjobs sets the level, not the choice


def test_the_measured_cases():
    """The cases of issue 12: ALMA-shaped 2 x 4.7 GB, small-row 8 x 0.7 GB, the demo (8 x ~6 MB)."""
    alma, small, demo = [int(4.7 * GB)] * 2, [int(0.7 * GB)] * 8, [6 * 1000 ** 2] * 8
    assert _decide(sizes=alma)["mode"] == _decide(sizes=small)["mode"] == "serial"
    assert _decide(sizes=alma, averaging=True)["per_host"] == {"here": 2}
    assert _decide(sizes=small, averaging=True)["mode"] == "serial"  # measured: serial 6.8 s, 2 servers 7.9 s
    assert _decide(sizes=small * 4, averaging=True)["mode"] == "parallel"
    assert _decide(sizes=demo, averaging=True)["mode"] == "serial"
    assert _decide(sizes=demo, hosts={"n1": 1, "n2": 1})["mode"] == "serial"


SMALL_ROWS = 407325  # the small-row EB measured: 0.70 GB in 407,325 rows (~1.7 KB a row)


def test_small_rows_make_an_averaging_project_worth_the_servers():
    """8 x 0.7 GB of ~1.7 KB rows: averaging split_sci+split_tgt took 53 s serially (the bytes alone say 8 s)."""
    sizes = [int(0.7 * GB)] * 8
    choice = _decide(sizes=sizes, averaging=True, rows=[SMALL_ROWS] * 8)
    assert choice["mode"] == "parallel" and choice["per_host"] == {"here": 2}, choice
    assert "averaging splits (CPU-bound)" in choice["reason"]
    for rows in (None, [None] * 8, []):  # rows unknown: the bytes only, as before
        unknown = _decide(sizes=sizes, averaging=True, rows=rows)
        assert unknown["mode"] == "serial", unknown
        assert unknown["reason"].startswith("a small project: 8 EB(s), 5.60 GB, about 8.0 s of averaging"), unknown
        assert "rows" not in unknown["reason"]
    serial_s = sum(policy.serial_seconds(size, SMALL_ROWS, True) for size in sizes)
    assert 45 < serial_s < 65  # measured: 53 s


def test_a_small_project_with_rows_stays_serial_and_says_so():
    choice = _decide(sizes=[2 * 1000 ** 2] * 3, averaging=True, rows=[800] * 3)
    assert choice["mode"] == "serial", choice
    assert choice["reason"].startswith("a small project: 3 EB(s), 0.01 GB, about 0.0 s of averaging"), choice
    assert "plus 15 us a row for 2,400 rows" in choice["reason"]
    some = _decide(sizes=[2 * 1000 ** 2] * 3, averaging=True, rows=[800, None, 800])
    assert some["mode"] == "serial" and "for 1,600 rows of 2 EB(s)" in some["reason"], some


def test_rows_follow_their_eb_when_some_are_only_checked():
    """Rows align with sizes: an EB already done (size 0) takes its rows out with it."""
    sizes, rows = [0, int(0.7 * GB), 0, int(0.7 * GB)], [10 ** 9, SMALL_ROWS, 10 ** 9, None]
    choice = _decide(sizes=sizes, averaging=True, rows=rows)
    assert choice["mode"] == "serial" and choice["reason"].startswith("a small project: 2 EB(s)"), choice
    assert "for 407,325 rows of 1 EB(s)" in choice["reason"]


@pytest.mark.parametrize("hosts", [{"here": 2}, {"here": 4}])
def test_plain_splits_on_one_host_stay_serial_whatever_the_rows(hosts):
    for rows in (None, [SMALL_ROWS] * 8, [10 ** 8] * 8):
        choice = _decide(hosts=hosts, sizes=[int(0.7 * GB)] * 8, rows=rows)
        assert choice["mode"] == "serial", choice
        assert choice["reason"].startswith("plain splits on one host are bandwidth-bound")


def test_rows_count_for_plain_splits_on_several_hosts():
    sizes, far = [int(0.7 * GB)] * 8, {"here": 1, "far": 1}
    assert _decide(hosts=far, sizes=sizes)["reason"].startswith("a small project: 8 EB(s)")  # 4 s by the bytes
    assert _decide(hosts=far, sizes=sizes, rows=[SMALL_ROWS] * 8)["mode"] == "parallel"  # ~37 s with the rows


def test_averages_reads_split_and_chain_jobs():
    assert not policy.averages({"width": 1, "timebin": "0s"}) and not policy.averages({})
    assert policy.averages({"width": 8}) and policy.averages({"timebin": "12s"})
    assert policy.averages({"sci": {"width": "8", "timebin": "0s"}, "tgt": {}})


def test_grow_only_when_the_running_eb_waits_on_io():
    yard = policy.PLAIN_BYTES_S
    assert policy.grow(1, 2, 0.2, 0.1 * yard, yard, 60) == 2       # little CPU, slow reads: waiting on I/O
    assert policy.grow(1, 2, 0.95, 0.1 * yard, yard, 60) == 1      # a busy core: no
    assert policy.grow(1, 2, 0.2, 0.9 * yard, yard, 60) == 1       # near the yardstick: bandwidth-bound
    assert policy.grow(1, 2, 0.2, 0.1 * yard, yard, 2) == 1        # a short EB: fixed costs, says nothing
    assert policy.grow(2, 2, 0.1, 0.1 * yard, yard, 60) == 2       # no more servers
    assert policy.grow(1, 2, None, 0.1 * yard, yard, 60) == 1      # unknown: keep


@pytest.mark.parametrize("env, expected", [
    ({"OMPI_COMM_WORLD_LOCAL_SIZE": "3", "OMPI_COMM_WORLD_SIZE": "3"}, True),
    ({"OMPI_COMM_WORLD_LOCAL_SIZE": "2", "OMPI_COMM_WORLD_SIZE": "9"}, False),
    ({"MPI_LOCALNRANKS": "4", "PMI_SIZE": "4"}, True),
    ({}, False)])
def test_all_local_from_the_launchers_environment(monkeypatch, env, expected):
    from casa_plugin.parallel import _casampi
    for name in ("OMPI_COMM_WORLD_LOCAL_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS", "PMI_SIZE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert _casampi.all_local() is expected


class _FakeTable:
    """A stand-in for casatools.table: ``nrows()`` of a table named in ``ROWS``."""

    ROWS, opened = {}, []

    def open(self, path):
        self.opened.append(path)
        self.rows = self.ROWS[path]

    def nrows(self):
        return self.rows

    def close(self):
        pass


def test_plan_weighs_each_eb_by_its_rows_under_mpi(tmp_path, monkeypatch):
    """plan: a split plan's rows (counted when it was made), a dict's 'input_rows', else nrows() of its MS, kept."""
    from casa_plugin.ms import casa
    from casa_plugin.parallel import client
    from casa_plugin.plan import Chain, count_rows, science_plans

    mss = []
    for i in range(3):
        ms = tmp_path / ("eb%d.ms" % i)
        ms.mkdir()
        (ms / "table.dat").write_bytes(b"")
        mss.append(str(ms))
    _FakeTable.ROWS, _FakeTable.opened = {ms: SMALL_ROWS for ms in mss}, []
    monkeypatch.setattr(casa, "table", _FakeTable)
    monkeypatch.setattr(client, "server_ranks", lambda: [1, 2])
    monkeypatch.setattr(client, "server_hosts", lambda ranks: {"here": 2})
    monkeypatch.setattr(client.socket, "gethostname", lambda: "here")
    monkeypatch.setattr(client, "_cores", lambda: 2)
    size = int(0.7 * GB)
    sci, = science_plans([{"vis": mss[1], "outputvis": mss[1] + ".split.cal", "width": 8}])
    jobs = [{"vis": mss[0], "input_bytes": size, "width": 8},
            Chain(sci=sci._replace(input_rows=count_rows(sci.input)), tgt=None, work_bytes=size),  # a chain job
            {"vis": str(tmp_path / "missing.ms"), "input_bytes": size, "width": 8},  # not there: unknown
            {"vis": mss[2], "input_bytes": size, "input_rows": SMALL_ROWS, "width": 8}]  # known already
    jobs += [dict(jobs[0], input_rows=SMALL_ROWS) for _ in range(4)]
    jobs.append({"vis": str(tmp_path / "done.ms"), "work_bytes": 0})  # only checked: not opened
    choice = client.plan(jobs, parallel=None)
    assert choice["mode"] == "parallel", choice
    assert [j.get("input_rows") if isinstance(j, dict) else j.input_rows for j in jobs[:4]] == [
        SMALL_ROWS, SMALL_ROWS, None, SMALL_ROWS]
    assert sorted(_FakeTable.opened) == mss[:2]
    assert "input_rows" not in jobs[-1]
    _FakeTable.opened = []
    assert client.plan(jobs[:2], parallel=None)["mode"] == "parallel"  # 2 x ~7 s serially: 2 at once save ~7 s
    assert _FakeTable.opened == []  # the rows were kept in the jobs
