"""No scratch folder outlives its sandbox: closed normally, after restarts, or (swept by the next
run) after its owner was killed before it could clean up."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from autograder.sandbox import CallTimeout, Sandbox, WorkerCrashed
from autograder.sandbox import launcher
from hostile.sandbox_support import TEST_LIMITS, staged_case

PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """Scratch folders of this process land here, away from other runs sharing /tmp."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def scratch_in(folder: Path) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.startswith("nndl-"))


def test_sandbox_leaves_no_scratch_after_timeouts_and_crashes(tmp_path, private_tmp):
    with Sandbox(staged_case("busy_loop", tmp_path), TEST_LIMITS, level="auto") as sb:
        assert len(scratch_in(private_tmp)) >= 1  # the live worker's scratch is where we look
        with pytest.raises(CallTimeout):
            sb.call("nndl.layers:spin")
        with pytest.raises(WorkerCrashed):
            sb.call("os:_exit", 3)
        assert sb.call("nndl.layers:double", 2) == 4
        assert sb.restarts == 2
    assert scratch_in(private_tmp) == []


KILLED = """
import os, signal, sys
from autograder.sandbox import build_command
launch = build_command([sys.executable, "-c", "pass"], level="none", workdir=sys.argv[1])
print(launch.scratch, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_scratch_of_a_killed_owner_is_swept_by_the_next_run(tmp_path, private_tmp):
    env = dict(os.environ, TMPDIR=str(private_tmp), PYTHONPATH=str(PROJECT))
    proc = subprocess.run([sys.executable, "-c", KILLED, str(tmp_path)], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == -9, proc.stderr
    orphan = Path(proc.stdout.strip())
    assert orphan.parent == private_tmp and orphan.is_dir()
    live = Path(tempfile.mkdtemp(prefix=launcher.scratch_prefix("sandbox")))  # ours: alive
    other = private_tmp / "nndl-sandbox-unrelated"  # no owner in its name: not ours to judge
    other.mkdir()
    assert launcher.sweep_orphans(private_tmp) == [orphan.name]
    assert not orphan.exists() and live.is_dir() and other.is_dir()


def test_training_workdir_names_its_owner():
    from autograder.training.job import make_workdir

    with make_workdir() as work:
        assert Path(work).name.startswith(f"nndl-train-{os.getpid()}-")
    assert not Path(work).exists()
