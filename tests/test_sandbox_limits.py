"""The preexec every sandboxed process starts with: own session, rlimits, with or without
Popen's own ``start_new_session`` (jupyter_client always sets it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.rubric import Limits
from autograder.sandbox.limits import make_preexec

REPORT = ("import json, os, resource; print(json.dumps({'leader': os.getsid(0) == os.getpid(), "
          "'as': resource.getrlimit(resource.RLIMIT_AS)[0], 'core': resource.getrlimit(resource.RLIMIT_CORE)[0]}))")


@pytest.mark.parametrize("new_session", [False, True])
def test_preexec_gives_a_session_and_limits(new_session):
    limits = Limits(memory_mb=700, cpu_seconds=60, processes=64, file_size_mb=8)
    proc = subprocess.run([sys.executable, "-I", "-c", REPORT], preexec_fn=make_preexec(limits),
                          start_new_session=new_session, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    assert seen == {"leader": True, "as": 700 << 20, "core": 0}


REFUSED = """
import os
from autograder.rubric import Limits
from autograder.sandbox.limits import make_preexec
def refuse():
    raise PermissionError(1, "Operation not permitted")
preexec = make_preexec(Limits())
os.setsid = refuse
try:
    preexec()
except PermissionError:
    print("raised" if os.getsid(0) != os.getpid() else "leader")
else:
    print("ignored")
"""


def test_eperm_is_only_ignored_for_a_session_leader():
    """A child that does not lead its session must not swallow a failed setsid (it would stay in
    the grader's process group, out of reach of the group kill)."""
    proc = subprocess.run([sys.executable, "-c", REFUSED], capture_output=True, text=True, timeout=30,
                          cwd=Path(__file__).resolve().parents[1])
    assert proc.stdout.strip() == "raised", proc.stderr


def test_a_stage_time_budget_bounds_a_submission_whose_every_call_hangs(tmp_path):
    import time

    from autograder.sandbox import CallTimeout, Sandbox

    (tmp_path / "nndl").mkdir()
    (tmp_path / "nndl" / "layers.py").write_text("def spin(*a):\n    while True:\n        pass\n")
    limits = Limits(call_timeout=1.0, import_timeout=5.0, memory_mb=1024)
    with Sandbox(tmp_path, limits, level="none", time_budget=2.5) as sb:
        sb.import_module("nndl.layers")
        start = time.monotonic()
        outcomes = []
        for _ in range(8):
            try:
                sb.call("nndl.layers:spin")
            except CallTimeout as exc:
                outcomes.append(str(exc))
        elapsed = time.monotonic() - start
    assert len(outcomes) == 8
    assert elapsed < 2.5 + 3.0, elapsed  # without the budget: 8 x 1 s of timeouts plus restarts
    assert "time limit (2.5 s) was used up" in outcomes[-1] and "not run" in outcomes[-1]
    assert "within 1 s" in outcomes[0]
