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


def test_the_call_that_finishes_an_interrupted_run_repeats_its_options():
    """After Ctrl-C in an overwrite=True run, the advised call is pasteable and keeps what the run asked for."""
    from casa_plugin import split_sci, split_tgt
    from casa_plugin.plan import Plan
    from casa_plugin.runner import _unfinished_advice
    from casa_plugin.split.tasks import _defaults

    def plan(vis, out=None, suffix=".split.cal", **request):
        base = dict(intent="OBSERVE_TARGET*", minnchan=5, spw="", datacolumn="corrected", reindex=None,
                    flagversion="original_flags", width=1, timebin="0s", totalpower=False, overwrite=True)
        return Plan(task="split_sci", vis=vis, input=vis, outputvis=out or vis + suffix,
                    request=dict(base, **request), input_bytes=1, input_rows=1, spws=None, member="m", project="p",
                    work_bytes=1)

    def advice(plans, task=split_sci):
        return _unfinished_advice(task.__name__, plans, _defaults(task))

    two = [plan("/d/a.ms", width=8, timebin="12s"), plan("/d/b.ms", width=8, timebin="12s")]
    assert advice(two).endswith(
        "run it again on these only: split_sci(vis=['/d/a.ms', '/d/b.ms'], width=8, timebin='12s', overwrite=True)")
    one = [plan("/d/a.ms", out="/elsewhere/mine.ms", spw="1,3")]
    assert advice(one).endswith("split_sci(vis='/d/a.ms', outputvis='/elsewhere/mine.ms', spw='1,3', overwrite=True)")
    beside = [plan("/d/a.ms", out="/d/a_avg.ms.split.cal", width=8)]  # a custom name in the EB's directory
    assert advice(beside).endswith("split_sci(vis='/d/a.ms', outputvis='/d/a_avg.ms.split.cal', width=8, "
                                   "overwrite=True)")
    decided = [plan("/d/a.ms", reindex=True, reindex_from="member"), plan("/d/b.ms", reindex=True,
                                                                           reindex_from="member")]
    assert advice(decided).endswith("split_sci(vis=['/d/a.ms', '/d/b.ms'], overwrite=True)")
    given = [plan("/d/a.ms", reindex=False)]  # the user's: repeated, or the member's numbering might differ
    assert advice(given).endswith("split_sci(vis='/d/a.ms', reindex=False, overwrite=True)")
    target = [plan("/d/a.ms.split.cal", suffix=".source", intent="*TARGET*", datacolumn=None)]
    assert advice(target, split_tgt).endswith("split_tgt(vis='/d/a.ms.split.cal', overwrite=True)")
    mine = [plan("/d/a.ms.split.cal", out="/d/mine.source", intent="*TARGET*", datacolumn=None)]
    assert advice(mine, split_tgt).endswith("split_tgt(vis='/d/a.ms.split.cal', outputvis='/d/mine.source', "
                                            "overwrite=True)")


def test_an_interrupted_split_sci_tgt_is_finished_by_one_call_where_its_ebs_lack_both_steps():
    """A Ctrl-C'd overwrite=True split_sci_tgt advised two calls (split_sci, then split_tgt); where the same EBs
    lack both steps one split_sci_tgt call finishes them, with the run's options (target_intent too)."""
    from casa_plugin import split_sci, split_tgt
    from casa_plugin.plan import Chain, Plan
    from casa_plugin.runner import _chain_advice
    from casa_plugin.split.tasks import _defaults

    def plan(task, vis, out, **request):
        return Plan(task=task, vis=vis, input=vis, outputvis=out, request=dict(request, overwrite=True),
                    input_bytes=1, input_rows=1, spws=None, member="m", project="p", work_bytes=1)

    def chain(eb, width=1, target_intent="*TARGET*"):
        sci = plan("split_sci", eb, eb + ".split.cal", intent="OBSERVE_TARGET*", minnchan=5, spw="",
                   datacolumn="corrected", reindex=None, flagversion="original_flags", width=width, timebin="0s",
                   totalpower=False)
        tgt = plan("split_tgt", sci.outputvis, sci.outputvis + ".source", intent=target_intent, datacolumn=None,
                   flagversion="original_flags", totalpower=False)
        return Chain(sci, tgt, 1)

    defaults = (_defaults(split_sci), _defaults(split_tgt))
    a, b = chain("/d/a.ms", width=8), chain("/d/b.ms", width=8)
    both = _chain_advice([a, b], ([a.sci, b.sci], [a.tgt, b.tgt]), defaults)
    assert len(both) == 1 and both[0].startswith("split_sci_tgt: 2 EB(s)"), both
    assert both[0].endswith("split_sci_tgt(vis=['/d/a.ms', '/d/b.ms'], width=8, overwrite=True)"), both
    other = chain("/d/a.ms", target_intent="OBSERVE_TARGET#ON_SOURCE")
    assert _chain_advice([other], ([other.sci], [other.tgt]), defaults)[0].endswith(
        "split_sci_tgt(vis='/d/a.ms', target_intent='OBSERVE_TARGET#ON_SOURCE', overwrite=True)")
    halves = _chain_advice([a, b], ([b.sci], [a.tgt, b.tgt]), defaults)  # a's science split was finished
    assert [line.split(":")[0] for line in halves] == ["split_sci", "split_tgt"], halves
    assert halves[0].endswith("split_sci(vis='/d/b.ms', width=8, overwrite=True)"), halves
    assert halves[1].endswith("split_tgt(vis=['/d/a.ms.split.cal', '/d/b.ms.split.cal'], overwrite=True)"), halves
    assert _chain_advice([a], ([], []), defaults) == []
