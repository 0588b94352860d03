"""What the runner tells the parallel policy: the bytes each EB's job will split."""

from casa_plugin import runner


def test_work_bytes_counts_only_what_will_be_split(tmp_path):
    vis = tmp_path / "uid___A002_X1_X1.ms"
    vis.mkdir()
    (vis / "table.f1").write_bytes(b"x" * 1000)
    out = str(vis) + ".split.cal"
    job = {"vis": str(vis), "outputvis": out, "overwrite": False, "dryrun": False}
    assert runner._work_bytes(dict(job), [job]) == 1000
    assert runner._work_bytes(dict(job, dryrun=True), [job]) == 0
    (tmp_path / (vis.name + ".split.cal")).mkdir()  # the output exists: only checked
    assert runner._work_bytes(dict(job), [job]) == 0
    assert runner._work_bytes(dict(job), [dict(job, overwrite=True)]) == 1000
    tgt = {"outputvis": out + ".source", "overwrite": False}
    assert runner._work_bytes(dict(job), [job, tgt]) == 1000  # the target split is still to do


def test_the_line_of_an_averaging_split_says_so_planned_or_done():
    """A dry run's plan names width and timebin as the real run's line does (the plan showed only input spws)."""
    from casa_plugin.runner import _detail
    request = {"width": 8, "timebin": "12s"}
    spws = {"1": {"freq_ghz": [230.0, 231.9], "nchan": 1920}}
    planned = _detail({"status": "planned", "input_spws": spws, "request": request})
    assert planned == "spw 1 (230.000-231.900 GHz, 1920 ch); planned with width=8, timebin='12s'"
    assert _detail({"status": "split", "spw": [1], "request": request}) == "spw 1; width=8, timebin='12s'"
    assert _detail({"status": "split", "spw": [1], "request": {"width": 1, "timebin": "0s"}}) == "spw 1"
