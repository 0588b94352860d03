"""What the runner says of each EB: its lines."""


def test_the_line_of_an_averaging_split_says_so_planned_or_done():
    """A dry run's plan names width and timebin as the real run's line does (the plan showed only input spws)."""
    from casa_plugin.runner import _detail
    request = {"width": 8, "timebin": "12s"}
    spws = {"1": {"freq_ghz": [230.0, 231.9], "nchan": 1920}}
    planned = _detail({"status": "planned", "input_spws": spws, "request": request})
    assert planned == "spw 1 (230.000-231.900 GHz, 1920 ch); planned with width=8, timebin='12s'"
    assert _detail({"status": "split", "spw": [1], "request": request}) == "spw 1; width=8, timebin='12s'"
    assert _detail({"status": "split", "spw": [1], "request": {"width": 1, "timebin": "0s"}}) == "spw 1"
