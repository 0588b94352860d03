"""A Hypothesis state machine of user calls on small synthetic deliveries, checked against the tutorial's loop.

Modelled on zarr-python's ``zarr/testing/stateful.py``: each rule is a user
call with drawn options (``split_sci``, ``split_tgt``, ``split_sci_tgt``,
``restore_pi``, a file deleted by hand), optionally interrupted by a
KeyboardInterrupt raised at the k-th CASA call (a hook in the CASA wrappers
and the pipeline stand-in, never a timer). The model knows which output was
made by which request; after every step the invariants compare the disk, the
records and the report with it, and every output with what the tutorial's
loop (``casa_plugin.testing.compare.loop_science``/``loop_target``, the
oracle, assumed perfect) makes for its request. ``note()`` prints each call,
so a failure shows a short, readable sequence.
"""

import atexit
import json
import os
import re
import shutil
import tempfile
from collections import Counter

import numpy as np
from hypothesis import note, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from casa_plugin import RestoreError, SplitError, split_sci, split_sci_tgt, split_tgt
from casa_plugin.ms import casa
from casa_plugin import record as run_record
from casa_plugin.testing import compare, synthetic_ms

SCIENCE = "1,3,5,7"  # the synthetic EBs' science spws (OBSERVE_TARGET, > 4 channels)
KINDS = ("restored", "dosplit", "raw")
_BUILT = {}
_ORACLES = {}
_WORK = tempfile.mkdtemp(prefix="casa_plugin-stateful-")
atexit.register(shutil.rmtree, _WORK, True)


def _built(kind):
    """The small 2-member delivery of ``kind``, built once per process (never modified: copied per example)."""
    if kind not in _BUILT:
        from casa_plugin.testing.pipeline_standin import restore_with_standin
        from casa_plugin.testing.synthetic_delivery import make_delivery
        info = make_delivery(os.path.join(_WORK, "built-" + kind), small=True)
        if kind != "raw":
            restore_with_standin(info["project"], **({"dosplit": True} if kind == "dosplit" else {}))
        _BUILT[kind] = info
    return _BUILT[kind]


_SKIP = set(filter(None, os.environ.get("CASA_PLUGIN_STATEFUL_SKIP", "").split(",")))


def enabled(name):
    """False for a rule named in CASA_PLUGIN_STATEFUL_SKIP (to let the others reach what one bug masks; an
    invariant named there is not checked, and 'outcomes' skips the checks of each EB's done or failed)."""
    return lambda self: name not in _SKIP


def _seconds(timebin):
    return float(re.sub(r"s$", "", str(timebin)) or 0)


def science_request(spw="", width=1, timebin="0s", reindex=True):
    """What a split_sci call asks for, as the model compares requests (spw '' is the science spws)."""
    return (("spw", spw or SCIENCE), ("width", int(width)), ("timebin", _seconds(timebin)), ("reindex", reindex),
            ("datacolumn", "corrected"))


SCRIPT_REQUEST = science_request(reindex=False)  # what the scriptForPI's DOSPLIT split is


def numbering_on_disk(directory):
    """How the ``uid___*.ms.split.cal`` in ``directory`` number their spws, read with casatools:
    ``{'kept', 'from 0'}`` or a part of it (split_sci's default follows it; both is a refusal)."""
    kinds = set()
    for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
        path = os.path.join(directory, name)
        if not re.match(r"^uid___A00\d_X[0-9a-z]+_X[0-9a-z]+\.ms\.split\.cal$", name) or \
                not os.path.isfile(os.path.join(path, "table.dat")):
            continue
        used = np.unique(compare.columns(path, ("DATA_DESC_ID",))["DATA_DESC_ID"])
        spw_of = compare.subtable_column(path, "DATA_DESCRIPTION", "SPECTRAL_WINDOW_ID")
        ids = sorted(int(spw_of[d]) for d in used)
        kinds.add("from 0" if ids == list(range(len(ids))) else "kept")
    return kinds
TARGET_REQUEST = (("intent", "*TARGET*"), ("datacolumn", "data"))


class Interrupt(object):
    """Raise KeyboardInterrupt at the k-th CASA call (split, mstransform, flagmanager, an EB's restore)."""

    def __init__(self, monkeypatch_targets):
        self.at, self.calls, self.targets = 0, 0, monkeypatch_targets
        self.saved = []

    def arm(self, at):
        self.at, self.calls = at, 0
        for owner, name in self.targets:
            real = getattr(owner, name)
            self.saved.append((owner, name, real))
            setattr(owner, name, self._wrap(real))

    def _wrap(self, real):
        def call(*args, **kwargs):
            self.calls += 1
            if self.calls == self.at:
                raise KeyboardInterrupt("stateful test: Ctrl-C at CASA call %d" % self.at)
            return real(*args, **kwargs)
        return call

    def disarm(self):
        for owner, name, real in reversed(self.saved):
            setattr(owner, name, real)
        self.saved = []


def _identity(path):
    """What tells a remade output apart: the inode of the directory and the mtime of its table.dat."""
    try:
        return (os.lstat(path).st_ino, os.stat(os.path.join(path, "table.dat")).st_mtime_ns)
    except OSError:
        return None


def snapshot(root):
    """{path: (size, mtime_ns)} of every file and link below ``root``; table.lock files are left out."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]:
            if name == "table.lock":
                continue
            path = os.path.join(dirpath, name)
            st_ = os.lstat(path)
            out[path] = (st_.st_size, st_.st_mtime_ns)
    return out


def flag_fractions(vis):
    """Per spw id of ``vis``: the flagged fraction of its FLAG column, read with casatools (the report's truth)."""
    from casatools import table
    spw_of = compare.subtable_column(vis, "DATA_DESCRIPTION", "SPECTRAL_WINDOW_ID")
    tb = table()
    tb.open(vis)
    try:
        ddid = tb.getcol("DATA_DESC_ID")
        counts = {}
        for d in np.unique(ddid):
            sub = tb.query("DATA_DESC_ID==%d" % d)
            try:
                flag = sub.getcol("FLAG")
            finally:
                sub.close()
            f, n = counts.get(int(spw_of[d]), (0, 0))
            counts[int(spw_of[d])] = (f + int(flag.sum()), n + flag.size)
    finally:
        tb.close()
    total = sum(n for _, n in counts.values())
    return dict((s, f / float(n)) for s, (f, n) in counts.items()), sum(f for f, _ in counts.values()) / float(total)


def recorded_entry(out):
    """The entry the JSON record beside ``out`` holds for it, read without the code under test (either format)."""
    path = os.path.join(os.path.dirname(out), run_record.RECORD_NAME)
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        record = json.load(f)
    if "outputs" in record:
        return record["outputs"].get(os.path.basename(out)) or {}
    for tasks in (record.get("ebs") or {}).values():  # format 1: one entry per EB and task
        for entry in tasks.values():
            if os.path.normpath(entry.get("outputvis") or "") == os.path.normpath(out):
                return entry
    return {}


def _shown(value, root):
    """A path as the notes show it: below the example's folder, without the science goal and group levels."""
    if isinstance(value, str) and value.startswith(root):
        return re.sub(r"science_goal\.[^/]+/group\.[^/]+/", "", os.path.relpath(value, root))
    return value


class DeliveryMachine(RuleBasedStateMachine):
    """User calls on a copy of a small delivery, compared with the model after every step."""

    def __init__(self):
        super(DeliveryMachine, self).__init__()
        self.root = tempfile.mkdtemp(prefix="example-", dir=_WORK)
        self.interrupt = Interrupt([(casa, "split"), (casa, "mstransform"), (casa, "flagmanager"),
                                    (synthetic_ms, "make_eb_ms")])
        self.model = {}       # output path -> {'task', 'request', 'made_by', 'made', 'input', 'chain', ...}
        self.complete = {}    # member -> True once a restore of it finished
        self.made = 0
        self.restores = 0
        self.steps = 0
        self.interrupted_last = False
        self.last_error = ""

    # -- set-up -------------------------------------------------------------------------------------------------
    @initialize(kind=st.sampled_from(KINDS))
    def copy_delivery(self, kind):
        info = _built(kind)
        self.kind = kind
        self.project = os.path.join(self.root, os.path.basename(info["project"]))
        shutil.copytree(info["project"], self.project, symlinks=True)
        self.members = sorted(os.path.join(self.project, os.path.relpath(m, info["project"])) for m in info["members"])
        self.ebs = dict((m, sorted(info["members"][os.path.join(info["project"], os.path.relpath(m, self.project))]))
                        for m in self.members)
        self.outside = os.path.join(self.root, "outside")
        os.makedirs(self.outside)
        for member in self.members:
            self.complete[member] = kind != "raw"
            if kind == "dosplit":
                for eb in self.ebs[member]:
                    self._made(self._eb(member, eb) + ".split.cal", "split_sci", SCRIPT_REQUEST, "scriptForPI",
                               self._eb(member, eb))
        note("delivery: %s (%d members, EBs %s)" % (kind, len(self.members),
                                                   [len(e) for e in self.ebs.values()]))

    def teardown(self):
        self.interrupt.disarm()
        shutil.rmtree(self.root, ignore_errors=True)
        if os.environ.get("CASA_PLUGIN_STATEFUL_COUNTS"):  # tools/fuzz.py counts the steps run
            with open(os.environ["CASA_PLUGIN_STATEFUL_COUNTS"], "a") as f:
                f.write("%d\n" % self.steps)

    # -- helpers ------------------------------------------------------------------------------------------------
    def _eb(self, member, eb):
        return os.path.join(member, "calibrated", eb + ".ms")

    def _all_ebs(self):
        return [(m, self._eb(m, eb)) for m in self.members for eb in self.ebs[m]]

    def _made(self, out, task, request, made_by, vis):
        self.made += 1
        chain = ("sci", os.path.basename(vis), request) if task == "split_sci" else \
            ("tgt", self.model[vis]["chain"], request)
        self.model[out] = {"task": task, "request": request, "made_by": made_by, "made": self.made, "vis": vis,
                           "input_made": self.model[vis]["made"] if task == "split_tgt" else None,
                           "chain": chain, "member": self._member_of(out), "identity": _identity(out)}

    def _member_of(self, path):
        for member in self.members:
            if path.startswith(member + os.sep):
                return member
        return None

    def _restored_input(self, vis):
        working = os.path.join(os.path.dirname(vis), "working", os.path.basename(vis))
        return vis if os.path.exists(vis) else working

    def _vis(self, target, eb_index):
        if target == "project":
            return self.project
        if target.startswith("member"):
            return self.members[int(target[-1])]
        ebs = self._all_ebs()
        return ebs[eb_index % len(ebs)][1]

    def _call(self, func, interrupt, **kwargs):
        """Run one user call; return (summary or None, error or None). Refusals before any work are errors."""
        self.steps += 1
        note("%s(%s)%s" % (func.__name__, ", ".join("%s=%r" % (k, _shown(v, self.root))
                                                     for k, v in sorted(kwargs.items())),
            "  # Ctrl-C at CASA call %d" % interrupt if interrupt else ""))
        self.before = snapshot(self.root)
        self.identities = dict((p, _identity(p)) for p in self._candidates())
        here = os.getcwd()
        os.chdir(self.root)
        self.interrupt.arm(interrupt)
        self.interrupted_last = False
        try:
            return func(**kwargs), None
        except (SplitError, RestoreError) as exc:
            self.last_error = str(exc)
            return getattr(exc, "results", None), exc
        except (KeyboardInterrupt, FileNotFoundError, ValueError, FileExistsError) as exc:
            self.last_error = str(exc)
            self.interrupted_last = isinstance(exc, KeyboardInterrupt)
            return None, exc
        finally:
            self.interrupt.disarm()
            os.chdir(here)

    def _candidates(self):
        found = set(self.model)
        for _, vis in self._all_ebs():
            found.update([vis + ".split.cal", vis + ".split.cal.source"])
        for name in os.listdir(self.outside) if os.path.isdir(self.outside) else []:
            found.add(os.path.join(self.outside, name))
        for member in self.members:
            cal = os.path.join(member, "calibrated")
            if os.path.isdir(cal):
                found.update(os.path.join(cal, n) for n in os.listdir(cal) if n.endswith(".ms") and "custom" in n)
        return found

    def _learn(self, jobs, overwrite, summary, interrupted):
        """Update the model from the outputs the call remade; check each against the call's rules."""
        for out, (task, request, vis) in jobs.items():
            before, after = self.identities.get(out), _identity(out)
            known = self.model.get(out)
            result = self._result(summary, task, vis)
            status = (result or {}).get("status")
            if after is not None and after != before:  # made or remade by this call
                assert before is None or overwrite, "%s existed and was replaced without overwrite=True" % out
                self._made(out, task, request, "casa_plugin", vis)
                assert interrupted or status == "split", "%s was written but its result says %r" % (out, status)
                continue
            if summary is None or interrupted or result is None or "outcomes" in _SKIP:
                continue
            if status == "done":
                assert known is not None, "%s: 'done' for an output nobody made" % out
                assert self._same(known, request, task), "%s: reported done for %s, but %s" % (
                    out, request, "its input was remade since it was made" if self._stale(known) else
                    "it was made for %s" % (known["request"],))
            elif status == "failed":
                error = result.get("error", "")
                if known is not None and known["request"] == request:
                    assert "for another request" not in error, (
                        "%s: refused as made 'for another request', but the request is the same%s: %s" % (
                            out, " (its input was remade since)" if self._stale(known) else "", error))
                    assert self._stale(known) or self._restore_pending(out), (
                        "%s: a wrong failure: the output holds what this request asks for: %s" % (out, error))
                if known is None and before is None and not self._restore_pending(out):
                    assert self._input_missing(task, vis), "%s: a wrong failure on a new output: %s" % (out, error)
                assert "overwrite=True" in error or known is None or "cannot be redone" in error or \
                    self._restore_pending(out), "%s: the error names no way out: %s" % (out, error)

    def _same(self, known, request, task):
        if task == "split_tgt":
            return known["request"] == request and not self._stale(known)
        return known["request"] == request

    def _stale(self, known):
        source = self.model.get(known["vis"]) if known["task"] == "split_tgt" else None
        return source is not None and source["made"] != known["input_made"]

    def _restore_pending(self, out):
        member = self._member_of(out)
        return member is not None and not self.complete.get(member)

    def _input_missing(self, task, vis):
        return not os.path.exists(self._restored_input(vis) if task == "split_sci" else vis)

    def _result(self, summary, task, vis):
        if not summary:
            return None
        part = summary.get({"split_sci": "sci", "split_tgt": "tgt"}[task]) if "sci" in summary else summary
        if part is None or part.get("task", task) != task:
            return None
        return (part.get("ebs") or {}).get(vis)

    # -- rules --------------------------------------------------------------------------------------------------
    @precondition(enabled("science"))
    @rule(where=st.sampled_from(["project", "member0", "member1", "eb"]), eb_index=st.integers(0, 2),
          spw=st.sampled_from(["", "", "1,3", "5,1"]), width=st.sampled_from([1, 1, 4]), timebin=st.sampled_from(["0s", "12s"]),
          reindex=st.sampled_from([None, None, True, False]), out=st.sampled_from(["default", "default", "inside", "outside"]),
          overwrite=st.booleans(), dryrun=st.sampled_from([False, False, False, True]),
          interrupt=st.sampled_from([0, 0, 0, 1, 2, 3]))
    def science(self, where, eb_index, spw, width, timebin, reindex, out, overwrite, dryrun, interrupt):
        self._science(where, eb_index, spw, width, timebin, reindex, out, overwrite, dryrun, interrupt)

    @precondition(enabled("science_again"))
    @rule(where=st.sampled_from(["project", "member1", "eb"]), eb_index=st.integers(0, 2),
          out=st.sampled_from(["default", "inside"]), overwrite=st.booleans(), width=st.sampled_from([1, 4]))
    def science_again(self, where, eb_index, out, overwrite, width):
        """A second, plainer split_sci rule: most user calls are the default call or close to it."""
        self._science(where, eb_index, "", width, "0s", None, out, overwrite, False, 0)

    def _science(self, where, eb_index, spw, width, timebin, reindex, out, overwrite, dryrun, interrupt):
        vis = self._vis(where, eb_index)
        kwargs = dict(vis=vis, spw=spw, width=width, timebin=timebin, reindex=reindex, overwrite=overwrite,
                      dryrun=dryrun)
        outputvis = None
        if where == "eb" and out != "default":
            outputvis = os.path.join(os.path.dirname(vis) if out == "inside" else self.outside,
                                     "custom_%s.ms" % os.path.basename(vis)[-10:-3])
            kwargs["outputvis"] = outputvis
        jobs, mixed = self._science_jobs(vis, outputvis, spw, width, timebin, reindex)
        summary, error = self._call(split_sci, interrupt, **kwargs)
        self._check_numbering(mixed, summary, error)
        self._after(jobs, summary, error, overwrite, dryrun)

    def _science_jobs(self, vis, outputvis, spw, width, timebin, reindex, target=False):
        """``({output: (task, request, input)}, mixed)``: the request of each EB's science split (reindex=None:
        the numbering of the .split.cal in its directory, kept if they keep the ids, else from 0), and whether
        one of those directories holds both numberings (a refusal)."""
        jobs, mixed = {}, False
        for _, v in self._all_ebs():
            if v != vis and not v.startswith(vis + os.sep):
                continue
            kinds = numbering_on_disk(os.path.dirname(v))
            mixed = mixed or (reindex is None and len(kinds) > 1)
            request = science_request(spw, width, timebin, ("kept" not in kinds) if reindex is None else reindex)
            jobs[outputvis or v + ".split.cal"] = ("split_sci", request, v)
            if target:
                jobs[v + ".split.cal.source"] = ("split_tgt", TARGET_REQUEST, v + ".split.cal")
        return jobs, mixed

    def _check_numbering(self, mixed, summary, error):
        refused = summary is None and isinstance(error, ValueError) and "numbered two ways" in str(error)
        assert refused == mixed, ("a member holds .split.cal numbered both ways, yet the default call was not "
                                  "refused: %r" % (error,) if mixed else "refused for a mixed numbering that "
                                  "the disk does not show: %s" % error)

    @precondition(enabled("target"))
    @rule(where=st.sampled_from(["project", "member1", "eb"]), eb_index=st.integers(0, 2),
          out=st.sampled_from(["default", "default", "outside"]), overwrite=st.booleans(),
          dryrun=st.sampled_from([False, False, False, True]), interrupt=st.sampled_from([0, 0, 0, 1, 2]))
    def target(self, where, eb_index, out, overwrite, dryrun, interrupt):
        vis = self._vis(where, eb_index)
        vis = vis + ".split.cal" if where == "eb" else vis
        kwargs = dict(vis=vis, overwrite=overwrite, dryrun=dryrun)
        outputvis = None
        if where == "eb" and out == "outside":
            outputvis = os.path.join(self.outside, "custom_%s.source" % os.path.basename(vis)[-20:-13])
            kwargs["outputvis"] = outputvis
        jobs = dict((outputvis or v + ".split.cal.source", ("split_tgt", TARGET_REQUEST, v + ".split.cal"))
                    for _, v in self._all_ebs() if v + ".split.cal" == vis or v.startswith(vis + os.sep))
        summary, error = self._call(split_tgt, interrupt, **kwargs)
        self._after(jobs, summary, error, overwrite, dryrun)

    @precondition(enabled("science_and_target"))
    @rule(where=st.sampled_from(["project", "member0", "member1"]), width=st.sampled_from([1, 4]),
          overwrite=st.booleans(), interrupt=st.sampled_from([0, 0, 0, 2, 3]))
    def science_and_target(self, where, width, overwrite, interrupt):
        vis = self._vis(where, 0)
        jobs, mixed = self._science_jobs(vis, None, "", width, "0s", None, target=True)
        summary, error = self._call(split_sci_tgt, interrupt, vis=vis, width=width, overwrite=overwrite)
        self._check_numbering(mixed, summary, error)
        self._after(jobs, summary, error, overwrite, False)

    @precondition(lambda self: "restore" not in _SKIP and (self.restores < 2 or not all(self.complete.values())))
    @rule(which=st.sampled_from(["project", "member0", "member1"]), overwrite=st.booleans(),
          dosplit=st.sampled_from([None, None, True]), interrupt=st.sampled_from([0, 0, 1, 2]))
    def restore(self, which, overwrite, dosplit, interrupt):
        from casa_plugin import restore_pi
        from casa_plugin.prompt import session
        from casa_plugin.testing import pipeline_standin
        member = self._vis(which, 0)
        self.restores += 1
        saved = list(session._remembered)
        namespace = {"__name__": "__main__"}
        pipeline_standin.load_into(namespace)
        session.remember(namespace)
        calibrated = dict((m, os.lstat(os.path.join(m, "calibrated")).st_ino if os.path.isdir(
            os.path.join(m, "calibrated")) else None) for m in self.members)
        kwargs = {"member": member, "overwrite": overwrite}
        if dosplit:
            kwargs["dosplit"] = True
        try:
            summary, error = self._call(restore_pi, interrupt, **kwargs)
        finally:
            session._remembered[:] = saved
        for m in self.members:
            if m != member and not m.startswith(member + os.sep):
                continue
            now = os.lstat(os.path.join(m, "calibrated")).st_ino if os.path.isdir(os.path.join(m, "calibrated")) \
                else None
            if now != calibrated[m]:  # restored anew (the old calibrated/ is moved aside, never deleted)
                assert calibrated[m] is None or overwrite or not self.complete[m], (
                    "%s: a complete member was restored again without overwrite=True" % m)
                assert not (self.complete[m] and overwrite and member != m), (
                    "%s: overwrite=True on %s redid a complete member; only incomplete ones may be redone "
                    "there" % (m, os.path.relpath(member, self.root)))
                for out in [o for o in self.model if self._member_of(o) == m]:
                    del self.model[out]
                self.complete[m] = False
            result = (((summary or {}).get("members") or {}).get(m) or {}) if isinstance(summary, dict) else {}
            if error is None or (result.get("status") in ("restored", "done")):
                if now != calibrated[m] and error is None or result.get("status") == "restored":
                    self.complete[m] = True
                    if dosplit:
                        for eb in self.ebs[m]:
                            self._made(self._eb(m, eb) + ".split.cal", "split_sci", SCRIPT_REQUEST, "scriptForPI",
                                       self._eb(m, eb))
        self._check_no_stray_files(restore=True)

    @precondition(lambda self: bool(self.model) and "delete_by_hand" not in _SKIP)
    @rule(data=st.data(), what=st.sampled_from(["ms", "ms", "flagversions"]))
    def delete_by_hand(self, data, what):
        out = data.draw(st.sampled_from(sorted(self.model)))
        path = out if what == "ms" else out + ".flagversions"
        self.steps += 1
        note("user: rm -rf %s" % _shown(path, self.root))
        if os.path.lexists(path):
            shutil.rmtree(path)
        if what == "ms":
            del self.model[out]
        else:
            self.model[out]["flags_deleted"] = True

    # -- after a call -------------------------------------------------------------------------------------------
    def _after(self, jobs, summary, error, overwrite, dryrun):
        interrupted = isinstance(error, KeyboardInterrupt)
        if dryrun:
            changed = [p for p, v in snapshot(self.root).items() if self.before.get(p) != v
                       and "casa_plugin_report" not in p]
            assert not changed, "a dry run changed %s" % changed[:5]
            return
        if summary is None and error is not None and not interrupted:  # refused before any work
            changed = [p for p, v in snapshot(self.root).items() if self.before.get(p) != v
                       and "casa_plugin_report" not in p]
            assert not changed, "a call refused before any work (%s) changed %s" % (error, changed[:5])
            return
        self._learn(jobs, overwrite, summary, interrupted)
        self._check_no_stray_files(outputs=set(jobs))

    def _check_no_stray_files(self, outputs=(), restore=False):
        """Only outputs, their flag versions, records and the report folder may change (restores: calibrated*)."""
        allowed = [o + os.sep for o in list(outputs) + list(self.model)]
        allowed += [o + ".flagversions" + os.sep for o in list(outputs) + list(self.model)]
        for path, value in snapshot(self.root).items():
            if self.before.get(path) == value:
                continue
            name = os.path.basename(path)
            if re.search(r"\.flagversions\.orphaned\.\d{8}T\d{6}%s" % os.sep, path):
                continue  # flag versions whose MS was deleted by hand, moved aside (never deleted)
            if name == run_record.RECORD_NAME or "%scasa_plugin_report%s" % (os.sep, os.sep) in path or \
                    any(path.startswith(a) or path + os.sep == a for a in allowed):
                continue
            if restore and re.search(r"%scalibrated(\.\d{8}T\d{6})?%s" % (os.sep, os.sep), path + os.sep):
                continue
            if restore and "%sscript%s" % (os.sep, os.sep) in path:
                continue
            aux = r"%scalibration%s(cont\.dat|flux\.csv|antennapos\.csv)$" % (os.sep, os.sep)
            if restore and re.search(aux, path):
                continue  # ALMA's scriptForPI (2022, 2023) unpacks the *auxproducts.tgz into calibration/
            raise AssertionError("%s appeared or changed, and it is none of the outputs, records or the report" % path)
        for path in self.before:
            if path not in snapshot(self.root) and not any(path.startswith(a) for a in allowed) and \
                    not (restore and "calibrated" in path) and "casa_plugin_report" not in path:
                raise AssertionError("%s disappeared" % path)

    # -- invariants ---------------------------------------------------------------------------------------------
    @invariant()
    def outputs_equal_the_loops(self):
        if "outputs_equal_the_loops" in _SKIP:
            return
        for out, known in sorted(self.model.items()):
            if not os.path.isdir(out):
                continue
            # the scriptForPI's own split saves no flag version (ALMA's does not), and a user may delete them
            problems = compare.ms_differences(self._oracle(known["chain"], out), out, flagversions=(
                known["made_by"] != "scriptForPI" and not known.get("flags_deleted")))
            assert not problems, "%s (made by %s for %s) differs from the tutorial's loop: %s" % (
                out, known["made_by"], known["request"], problems)

    @invariant()
    def no_partial_outputs(self):
        if "no_partial_outputs" in _SKIP:
            return
        partials = []
        for dirpath, dirs, _ in os.walk(self.root):
            partials += [os.path.join(dirpath, d) for d in dirs if d.endswith(".partial")]
            dirs[:] = [d for d in dirs if not d.endswith(".partial") and not d.endswith(".ms")
                       and not d.endswith(".split.cal") and not d.endswith(".source")]
        assert not partials, "partial outputs left after the call returned: %s" % partials

    @invariant()
    def records_list_every_output_with_its_request(self):
        if "records_list_every_output_with_its_request" in _SKIP:
            return
        for out, known in sorted(self.model.items()):
            if known["made_by"] != "casa_plugin" or not os.path.isdir(out):
                continue
            entry = recorded_entry(out)
            assert entry.get("made_by") == "casa_plugin", "%s: its record entry is %r" % (out, entry)
            request = entry.get("request") or {}
            if known["task"] == "split_sci":
                got = science_request(request.get("spw", ""), request.get("width", 1), request.get("timebin", "0s"),
                                      request.get("reindex", True))
            else:
                got = (("intent", request.get("intent")), ("datacolumn", request.get("datacolumn")))
            assert got == known["request"], "%s: recorded for %s, made for %s" % (out, got, known["request"])
            held = sorted((entry.get("contents") or {}).get("spws") or {}, key=int)
            on_disk = sorted(str(i) for i in np.unique(compare.subtable_column(out, "DATA_DESCRIPTION",
                                                                               "SPECTRAL_WINDOW_ID")))
            assert held == on_disk or set(held) <= set(on_disk), "%s: recorded spws %s, it holds %s" % (
                out, held, on_disk)

    @invariant()
    def report_numbers_are_the_mss(self):
        if "report_numbers_are_the_mss" in _SKIP:
            return
        path = os.path.join(self.project, "casa_plugin_report", "report.json")
        if not os.path.isfile(path):
            return
        with open(path) as f:
            report = json.load(f)
        if report.get("stale"):  # marked out of date by an interrupted call (a second Ctrl-C), as it says
            assert self.interrupted_last, "the report is marked out of date, but the last call was not interrupted"
            return
        for member in report.get("members") or []:
            calibrated = member.get("calibrated")
            for eb in member.get("ebs") or []:
                for key in (".split.cal", ".source"):
                    shown = (eb.get("flags") or {}).get(key)
                    out = os.path.join(calibrated or "", eb["eb"] + (".ms.split.cal" if key == ".split.cal" else
                                                                     ".ms.split.cal.source"))
                    if not shown or not calibrated or not os.path.isdir(out) or out not in self.model:
                        continue
                    per_spw, total = flag_fractions(out)
                    assert abs(shown["total"] - total) < 2e-6, "report: %s flagged %.6f, CASA reads %.6f" % (
                        out, shown["total"], total)
                    assert sorted(round(v, 4) for v in shown["spw"].values()) == \
                        sorted(round(v, 4) for v in per_spw.values()), "report: %s per spw %s, CASA reads %s" % (
                            out, shown["spw"], per_spw)
        self._check_drawn_numbers(report)

    def _check_drawn_numbers(self, report):
        """Each number the flag picture draws (report.json's 'drawn') is one of the output's own, per spw."""
        calibrated = dict((m.get("name"), m.get("calibrated")) for m in report.get("members") or [])
        for name, pictures in sorted((report.get("drawn") or {}).items()):
            for eb, panels in sorted(((pictures or {}).get("flags") or {}).items()):
                for key, suffix in ((".split.cal", ".ms.split.cal"), (".source", ".ms.split.cal.source")):
                    out = os.path.join(calibrated.get(name) or "", eb + suffix)
                    if out not in self.model or not os.path.isdir(out):
                        continue
                    drawn = Counter(round(v[key], 4) for v in (panels.get("spw") or {}).values() if key in v)
                    per_spw, _ = flag_fractions(out)
                    read = Counter(round(v, 4) for v in per_spw.values())
                    assert not drawn - read, (  # each number drawn is one of its spws' (a plan may show fewer)
                        "report: the flag picture draws %s for %s per spw; CASA reads %s" % (
                            sorted(drawn.elements()), out, per_spw))

    def _oracle(self, chain, out):
        """The tutorial loop's output for ``chain`` (cached per delivery kind and chain)."""
        key = json.dumps([self.kind, chain], default=str)
        if key in _ORACLES and os.path.isdir(_ORACLES[key]):
            return _ORACLES[key]
        path = os.path.join(_WORK, "oracle-%d.ms" % len(_ORACLES))
        if chain[0] == "sci":
            request = dict(chain[2])
            eb = [v for _, v in self._all_ebs() if os.path.basename(v) == chain[1]][0]
            source = self._pristine_input(eb)
            compare.loop_science(source, path, spw=request["spw"], width=request["width"],
                                 timebin="%gs" % request["timebin"], reindex=request["reindex"])
        else:
            compare.loop_target(self._oracle(chain[1], out), path)
        _ORACLES[key] = path
        return path

    def _pristine_input(self, vis):
        """The restored MS of ``vis`` as this delivery kind was built (restores make the same data again)."""
        info = _built("restored")
        rel = os.path.relpath(vis, self.project)
        built = os.path.join(info["project"], rel)
        return os.path.realpath(built)
