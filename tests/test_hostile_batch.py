"""Issue 3, "done when": a batch holding every hostile case finishes in bounded time, with a clear
message for each, through the real pipeline (discover, stage, sandbox, checks, results.json).

The batch is graded once (module fixture) at the best sandbox level here (or the one named by
``NNDL_HOSTILE_BATCH_LEVEL``); cases whose harm only a missing guarantee would stop are left out
at weaker levels (``Case.needs``). Everything is
read back from the output folder, the process table and the file system, as staff would see it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import socket
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from autograder import PROJECT_ROOT
from autograder.batch import run_batch
from autograder.pipeline import GradeContext, result_path
from autograder.refimpl import reference_dir
from autograder.results import SubmissionResult
from autograder.rubric import Limits, load_rubric
from autograder.sandbox import missing_guarantees
from hostile.batch_cases import build_batch
from hostile.sandbox_support import require_level

pytestmark = pytest.mark.slow

JOBS = 2
#: Small limits keep the batch short: every hang costs one call or import timeout.
LIMITS = Limits(memory_mb=1536, call_timeout=2.5, import_timeout=3.0, cpu_seconds=60, processes=64,
                file_size_mb=64, output_bytes=100_000, stage_timeout=120)


def tree_snapshot(root: Path) -> dict[str, str]:
    """relative path -> content hash (or link target) of everything under ``root``."""
    snap = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            snap[rel] = "link:" + os.readlink(path)
        elif path.is_file():
            snap[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            snap[rel] = "dir"
    return snap


def processes_touching(needles: list[str]) -> list[str]:
    """Live processes (not this one) whose command line or working folder mentions a needle."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
            try:
                cwd = os.readlink(f"/proc/{entry}/cwd")
            except OSError:
                cwd = ""
        except OSError:
            continue
        if any(n in cmd or n in cwd for n in needles):
            found.append(f"{entry}: {cmd[:200]} (cwd {cwd})")
    return found


def names_with(token: str, folder: Path) -> list[str]:
    try:
        return [n for n in os.listdir(folder) if token in n]
    except OSError:
        return []


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    level = require_level(os.environ.get("NNDL_HOSTILE_BATCH_LEVEL", "auto"))
    root = tmp_path_factory.mktemp("hostile_batch")
    token = uuid.uuid4().hex[:16]
    canary = root / "canary"
    canary.mkdir()
    secret = canary / f"SECRET_{token}.txt"
    secret.write_text("validation labels\n")
    subs, out, work, private_tmp = root / "subs", root / "out", root / "work", root / "tmp"
    private_tmp.mkdir()

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]

    escape_targets = [str(canary / f"escape_{token}.txt"), str(root / f"escape_{token}.txt"),
                      str(subs / "correct" / "nndl" / f"escape_{token}.py"), str(out / f"escape_{token}.txt"),
                      f"/tmp/escape_{token}.txt", f"/var/tmp/escape_{token}.txt",
                      str(Path.home() / f"escape_{token}" / "home.txt")]
    snoop_targets = [str(secret), str(reference_dir() / "nndl" / "fc_net.py"), str(subs), str(canary),
                     str(PROJECT_ROOT / "rubrics" / "dropout.toml")]
    assert all(os.path.exists(p) for p in snoop_targets if not p.startswith(str(subs)))
    cases = build_batch(subs, token=token, port=port, canary=canary, escape_targets=escape_targets,
                        snoop_targets=snoop_targets, missing=missing_guarantees(level))

    before = {"subs": tree_snapshot(subs), "canary": tree_snapshot(canary),
              "tmp": names_with(token, Path("/tmp")), "home": names_with(token, Path.home())}
    rubric = dataclasses.replace(load_rubric(), limits=LIMITS)
    ctx = GradeContext(rubric=rubric, out_dir=out, work_dir=work, stages=("checks",), sandbox_level=level)
    # The grading workers (spawned) inherit TMPDIR: every scratch folder of this batch lands in
    # private_tmp, where a leak is visible without racing other test runs sharing /tmp.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TMPDIR", str(private_tmp))
        started = time.monotonic()
        outcome = run_batch(subs, ctx, jobs=JOBS, quiet=True)
        elapsed = time.monotonic() - started

    deadline = time.monotonic() + 5.0
    stray = processes_touching([token, str(root)])
    while stray and time.monotonic() < deadline:
        time.sleep(0.1)
        stray = processes_touching([token, str(root)])
    listener.settimeout(0.3)
    try:
        conn, _ = listener.accept()
        conn.close()
        connected = True
    except socket.timeout:
        connected = False
    finally:
        listener.close()
    results = {}
    for case in cases:
        path = result_path(out, case.name)
        results[case.name] = SubmissionResult.read(path) if path.is_file() else None
    yield SimpleNamespace(level=level, cases=cases, outcome=outcome, elapsed=elapsed, results=results,
                          root=root, subs=subs, canary=canary, work=work, out=out, private_tmp=private_tmp,
                          token=token, before=before, stray=stray, connected=connected)


def test_batch_is_bounded_and_everyone_gets_a_result(graded):
    n = len(graded.cases)
    left_out = {"fork_storm", "network", "snoop", "escape_writes"} - {c.name for c in graded.cases}
    assert n == 21 - len(left_out)  # 20 hostile students (less those this level cannot hold) + the correct one
    assert left_out == set() or graded.level != "bwrap"
    bound = n * (LIMITS.call_timeout + LIMITS.import_timeout) / JOBS + 30
    assert graded.elapsed < bound, f"{n} submissions took {graded.elapsed:.0f} s (bound {bound:.0f} s)"
    assert graded.outcome.errors == [] and not graded.outcome.interrupted
    assert sorted(graded.outcome.graded) == sorted(c.name for c in graded.cases)
    missing = [name for name, r in graded.results.items() if r is None]
    assert missing == []
    # a hostile student is the student's problem, never a grader failure
    flagged = {name: (r.flags, r.errors) for name, r in graded.results.items()
               if "grader_error" in r.flags or r.errors}
    assert flagged == {}


def test_each_hostile_case_has_a_clear_message(graded):
    problems = []
    for case in graded.cases:
        result = graded.results[case.name]
        checks = {c.check_id: c for c in result.checks}
        for check_id, (statuses, words) in case.expect.items():
            c = checks[check_id]
            if c.status not in statuses:
                problems.append(f"{case.name}: {check_id} is {c.status}, expected {statuses}: {c.message[:200]}")
            lacking = [w for w in words if w.lower() not in c.message.lower()]
            if lacking:
                problems.append(f"{case.name}: {check_id} message lacks {lacking}: {c.message[:300]!r}")
        notes = " | ".join(result.warnings)
        lacking = [w for w in case.warnings if w.lower() not in notes.lower()]
        if lacking:
            problems.append(f"{case.name}: warnings lack {lacking}: {notes[:400]!r}")
        for check_id in case.still_pass:
            if checks[check_id].status != "passed":
                problems.append(f"{case.name}: {check_id} should still pass: {checks[check_id].message[:200]}")
        if not case.full_marks and not case.expect:
            problems.append(f"{case.name}: a hostile case without expectations")
    assert problems == []


def test_correct_and_harmless_attacks_score_full_marks(graded):
    scores = {case.name: graded.results[case.name].part_scores()["implementation"]
              for case in graded.cases if case.full_marks}
    assert "correct" in scores and len(scores) >= 5
    assert {name: s for name, s in scores.items() if s[0] != s[1] or s[1] <= 0} == {}
    charged = []  # every point-bearing check a hostile function reached lost its points
    for case in graded.cases:
        checks = {c.check_id: c for c in graded.results[case.name].checks}
        for check_id in case.expect:
            c = checks[check_id]
            assert c.max_score == 0 or c.score < c.max_score, (case.name, check_id, c.score)
            charged.append(c.max_score > 0)
    assert sum(charged) >= 8


def test_no_process_is_left_behind(graded):
    assert graded.stray == []


def test_nothing_is_written_outside_the_output_and_work_folders(graded):
    token = graded.token
    assert tree_snapshot(graded.subs) == graded.before["subs"]
    assert tree_snapshot(graded.canary) == graded.before["canary"]
    assert names_with(token, Path("/tmp")) == graded.before["tmp"] == []
    assert names_with(token, Path("/var/tmp")) == []
    assert names_with(token, Path.home()) == graded.before["home"] == []
    assert sorted(p.name for p in graded.root.iterdir()) == ["canary", "out", "subs", "tmp", "work"]
    assert [p for p in graded.out.rglob("*") if token in p.name] == []
    assert list(graded.work.iterdir()) == []  # staged copies are removed after grading
    assert sorted(os.listdir(graded.private_tmp)) == []  # no scratch folder leaked


def test_the_loopback_listener_heard_nothing(graded):
    if not any(c.name == "network" for c in graded.cases):
        pytest.skip(f"level {graded.level!r} cannot give network isolation")
    assert graded.connected is False
