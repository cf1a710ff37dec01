"""Per-stage progress: the display, the worker-to-parent event channel, and the pipeline's hook.

Batch-level tests use ``staged_grade``: ``test_batch.fake_grade`` wrapped in the stage events the
real ``grade_one`` emits, so they exercise the transport and the display, not the checks.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.batch import run_batch
from autograder.batch.events import StageEvent, decode_event, encode_event
from autograder.batch.procs import descendants
from autograder.pipeline import STAGES, GradeContext, grade_one
from autograder.progress import Progress
from autograder.rubric import load_rubric
from test_batch import fake_grade, install_standin_if_needed, make_class, make_ctx, pid_alive, wait_until

ALL = ("checks", "notebook", "training")


def staged_grade(source, ctx, *, cache_key="", on_stage=None):
    """fake_grade inside stage events; ``DIE_IN_NOTEBOOK`` kills the worker mid-stage."""
    text = "".join(p.read_text() for p in sorted(Path(source.path).rglob("*.py")))
    for stage in STAGES:
        if stage not in ctx.stages:
            continue
        on_stage(source.id, stage, "start")
        time.sleep(0.02)
        if stage == "notebook" and "DIE_IN_NOTEBOOK" in text:
            os._exit(3)
        on_stage(source.id, stage, "done")
    return fake_grade(source, ctx, cache_key=cache_key)


class RecordingProgress(Progress):
    """Progress that also keeps what it was told, in order (events and finished submissions)."""

    log: list = []

    def stage_event(self, event):
        RecordingProgress.log.append((event.submission_id, event.stage, event.event))
        super().stage_event(event)

    def done(self, submission_id, summary, *, error=False):
        RecordingProgress.log.append((submission_id, "result", "error" if error else "ok"))
        super().done(submission_id, summary, error=error)


@pytest.fixture
def recording(monkeypatch):
    import autograder.progress

    RecordingProgress.log = []
    monkeypatch.setattr(autograder.progress, "Progress", RecordingProgress)
    return RecordingProgress.log


def per_submission(log: list) -> dict[str, list]:
    out: dict[str, list] = {}
    for sid, what, how in log:
        out.setdefault(sid, []).append((what, how))
    return out


def batch_process(pid: int) -> bool:
    """A live process other than multiprocessing's resource tracker (one per interpreter, by design)."""
    try:
        return pid_alive(pid) and b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


IN_ORDER = [(s, e) for s in ALL for e in ("start", "done")] + [("result", "ok")]


# ----------------------------------------------------------------------------- the display


def test_quiet_lines_count_each_stage_and_close_what_was_never_reported():
    out = io.StringIO()
    p = Progress(3, stages=("training", "checks", "notebook"), reused=1, quiet=True, stream=out)
    ev = lambda sid, st, e, t: p.stage_event(StageEvent(sid, st, e, t))  # noqa: E731
    ev("ada", "checks", "start", 100.0)
    ev("bob", "checks", "start", 100.5)
    ev("ada", "checks", "done", 102.1)
    ev("ada", "checks", "done", 103.0)  # repeated: ignored
    ev("ada", "notebook", "start", 102.2)
    ev("ada", "notebook", "done", 190.0)
    ev("ada", "training", "start", 190.0)
    ev("ada", "training", "done", 191.25)
    p.done("ada", "55/100")
    ev("ada", "training", "done", 200.0)  # late, after the result: ignored
    ev("bob", "checks", "done", 101.0)
    ev("bob", "notebook", "start", 101.0)
    p.done("bob", "0/100", error=True)  # died in the notebook stage
    p.done("cy", "0/100")  # never reported anything (staging failed, custom grade function)
    p.close("done: 3 graded")
    lines = out.getvalue().splitlines()
    assert lines[0] == "grading [checks,notebook,training]: 3 to grade, 1 up to date (reused)"
    assert lines[1:4] == ["[checks 1/3] ada 2.1s", "[notebook 1/3] ada 1m28s", "[training 1/3] ada 1.2s"]
    assert re.fullmatch(r"\[1/3\] ada: 55/100  \(elapsed 0m00s, eta 0m00s\)", lines[4])
    assert lines[5:8] == ["[checks 2/3] bob 0.5s", "[notebook 2/3] bob stopped", "[training 2/3] bob not run"]
    assert lines[8].startswith("[2/3] bob: 0/100  GRADER ERROR")
    assert lines[9:12] == ["[checks 3/3] cy not run", "[notebook 3/3] cy not run", "[training 3/3] cy not run"]
    assert lines[12].startswith("[3/3] cy: 0/100") and lines[13:] == ["done: 3 graded"]
    assert p.stage_counts() == {"checks": 3, "notebook": 3, "training": 3} and p.errors == 1


def test_terminal_mode_draws_one_bar_per_stage_with_eta():
    out = io.StringIO()
    p = Progress(2, stages=("checks", "notebook"), quiet=False, stream=out)
    assert list(p.bars) == ["checks", "notebook"]
    assert [b.pos for b in p.bars.values()] == [0, -1]  # tqdm stores position n as -n
    p.stage_event(StageEvent("ada", "checks", "start", 1.0))
    p.stage_event(StageEvent("ada", "checks", "done", 2.0))
    assert p.bars["checks"].n == 1 and p.bars["notebook"].n == 0
    p.done("ada", "1/2", error=True)
    assert p.bars["notebook"].n == 1
    p.done("bob", "2/2")
    p.close()
    text = out.getvalue()
    assert "checks" in text and "notebook" in text and "2/2" in text
    assert "<00:00" in text  # tqdm's remaining-time (ETA) field
    assert "ada: 1/2  GRADER ERROR" in text and "[1/2]" not in text  # no plain lines under bars


@pytest.mark.parametrize("bad", [
    None, 3, "", "not json", "[]", '["a","checks","start"]', '["a","linting","start",1]',
    '["a","checks","begin",1]', '[1,"checks","start",1]', '["a","checks","start",true]',
    '["a","checks","start",NaN]', '["a","checks","start","1"]', json.dumps(["x" * 3000, "checks", "start", 1]),
])
def test_malformed_events_are_dropped(bad):
    assert decode_event(bad) is None


def test_events_round_trip():
    assert decode_event(encode_event("ada", "training", "done", 12.5)) == StageEvent("ada", "training", "done", 12.5)


# ----------------------------------------------------------------------------- the pipeline's hook


def test_grade_one_reports_each_run_stage_in_order_and_survives_a_broken_callback(tmp_path, monkeypatch):
    import autograder.pipeline as pipeline

    install_standin_if_needed()
    from autograder.submission import discover

    make_class(tmp_path / "subs", {"ada": "x = 1"})
    ran = []

    def runs(name):
        def run(inp):
            ran.append(name)
            return pipeline.StageOutcome()
        return run

    def notebook_bug(inp):
        ran.append("notebook")
        raise RuntimeError("grader bug")

    monkeypatch.setitem(pipeline.STAGE_RUNNERS, "checks", runs("checks"))
    monkeypatch.setitem(pipeline.STAGE_RUNNERS, "notebook", notebook_bug)
    monkeypatch.setitem(pipeline.STAGE_RUNNERS, "training", runs("training"))
    source = discover(tmp_path / "subs")[0]
    ctx = GradeContext(rubric=load_rubric(), out_dir=tmp_path / "out", work_dir=tmp_path / "work",
                       stages=("training", "checks", "notebook"), sandbox_level="none")
    events = []

    def on_stage(sid, stage, event):
        events.append((sid, stage, event, list(ran)))

    grade_one(source, ctx, on_stage=on_stage)
    assert events == [("ada", "checks", "start", []), ("ada", "checks", "done", ["checks"]),
                      ("ada", "notebook", "start", ["checks"]),
                      ("ada", "notebook", "done", ["checks", "notebook"]),  # done even when the stage failed
                      ("ada", "training", "start", ["checks", "notebook"]),
                      ("ada", "training", "done", ["checks", "notebook", "training"])]

    def broken(*a):
        raise OSError("the progress channel is gone")

    ctx.stages = ("checks",)
    ran.clear()
    result = grade_one(source, ctx, on_stage=broken)
    assert ran == ["checks"] and result.submission_id == "ada"


# ----------------------------------------------------------------------------- the batch


@pytest.mark.parametrize("jobs", [1, 2])
def test_batch_events_arrive_in_order_per_submission_and_quiet_lines_show_them(tmp_path, recording, capsys, jobs):
    spec = {f"s{i}": f"v{i}" for i in range(4)}
    subs = make_class(tmp_path / "subs", spec)
    ctx = make_ctx(tmp_path / "out", stages=ALL)
    before = set(descendants(os.getpid()))
    out = run_batch(subs, ctx, jobs=jobs, quiet=True, grade_fn=staged_grade)
    assert out.errors == [] and sorted(out.graded) == sorted(spec)
    assert per_submission(recording) == {sid: IN_ORDER for sid in spec}
    lines = capsys.readouterr().err.splitlines()
    for stage in ALL:
        mine = [ln for ln in lines if ln.startswith(f"[{stage} ")]
        assert [m.split("]")[0] for m in mine] == [f"[{stage} {k}/4" for k in range(1, 5)]
        assert all(re.fullmatch(rf"\[{stage} \d/4\] s\d \d+\.\ds", m) for m in mine), mine
    assert sum(bool(re.match(r"\[\d/4\] s\d: ", ln)) for ln in lines) == 4
    # the Manager (and every worker) is gone once run_batch returns
    assert wait_until(lambda: not [p for p in set(descendants(os.getpid())) - before if batch_process(p)], 10)


def test_a_worker_dying_mid_stage_closes_that_submissions_stages(tmp_path, recording, capsys):
    subs = make_class(tmp_path / "subs", {"ada": "fine", "bob": "DIE_IN_NOTEBOOK"})
    ctx = make_ctx(tmp_path / "out", stages=ALL)
    out = run_batch(subs, ctx, jobs=2, quiet=True, grade_fn=staged_grade)
    assert sorted(out.graded) == ["ada", "bob"] and len(out.errors) == 1
    bob = per_submission(recording)["bob"]
    assert bob[-1] == ("result", "error") and ("notebook", "done") not in bob
    err = capsys.readouterr().err
    assert re.search(r"\[notebook \d/2\] bob stopped", err) and re.search(r"\[training \d/2\] bob not run", err)
    # ada may have been running when bob's worker died: the batch then re-grades it on its own
    # (to find the culprit), so a cut-off run's events may come first; every run is in order and
    # the last one is complete.
    ada = per_submission(recording)["ada"]
    assert ada[-1] == ("result", "ok")
    stages_only = IN_ORDER[:-1]
    runs, current = [], []
    for event in ada[:-1]:
        if event == stages_only[0] and current:
            runs.append(current)
            current = []
        current.append(event)
    runs.append(current)
    assert all(run == stages_only[:len(run)] for run in runs), runs
    assert runs[-1] == stages_only


def test_grade_functions_without_on_stage_still_count_every_stage(tmp_path, capsys):
    subs = make_class(tmp_path / "subs", {"ada": "a", "bob": "b"})
    run_batch(subs, make_ctx(tmp_path / "out", stages=("checks", "notebook")), jobs=1, quiet=True,
              grade_fn=fake_grade)
    err = capsys.readouterr().err
    assert "[checks 2/2]" in err and "[notebook 2/2]" in err and "[training" not in err


RUNNER = r"""
import importlib, json, sys
from pathlib import Path
sys.path[:0] = json.loads(sys.argv[1])
tests = importlib.import_module(sys.argv[2])
tests.install_standin_if_needed()
from autograder.batch import run_batch
import test_batch
ctx = test_batch.make_ctx(Path(sys.argv[4]), stages=("checks", "notebook", "training"))
run_batch(Path(sys.argv[3]), ctx, jobs=2, quiet=True, grade_fn=tests.staged_grade)
"""


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_a_killed_or_interrupted_batch_leaves_no_manager_or_worker_behind(tmp_path, sig):
    subs = make_class(tmp_path / "subs", {f"s{i}": f"SLEEP=0.5 v{i}" for i in range(6)})
    out = tmp_path / "out"
    log = tmp_path / "runner.log"
    with open(log, "wb") as sink:  # not a pipe: a survivor holding it must fail the test, not hang it
        proc = subprocess.Popen([sys.executable, "-c", RUNNER, json.dumps(sys.path), __name__, str(subs), str(out)],
                                stdout=sink, stderr=subprocess.STDOUT)
    try:
        assert wait_until(lambda: len(list(out.glob("*/results.json"))) >= 1), log.read_text()
        started = descendants(proc.pid)
        assert len(started) >= 3  # the Manager and two workers
    finally:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=15)  # Ctrl-C: the batch stops by itself, closing the channel
        finally:
            proc.kill()
    if sig == signal.SIGINT:
        assert "stopped: " in log.read_text()  # interrupted mid-batch, not finished
    survivors = lambda: [p for p in started if pid_alive(p)]  # noqa: E731
    try:
        assert wait_until(lambda: not survivors(), 10), "processes outlived the batch"
    finally:
        for pid in survivors():  # never leave them running for the next test
            os.kill(pid, 9)


def test_dask_stage_events_reach_the_parent(tmp_path, recording):
    distributed = pytest.importorskip("distributed")
    subs = make_class(tmp_path / "subs", {"ada": "a", "bob": "b"})
    ctx = make_ctx(tmp_path / "out", stages=("checks", "notebook"))
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        out = run_batch(subs, ctx, dask_scheduler=cluster.scheduler_address, quiet=True, grade_fn=staged_grade)
    assert out.errors == [] and sorted(out.graded) == ["ada", "bob"]
    seen = {(sid, stage, how) for sid, stage, how in recording if stage != "result"}
    # best effort: Dask events may trail their result; the starts, sent well before it, arrive
    assert {("ada", "checks", "start"), ("bob", "checks", "start")} <= seen
