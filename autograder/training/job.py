"""Re-train one submission's best config in a sandboxed child and measure it in the parent.

The child gets the training split and the validation *images* as read-only files, and is driven
one epoch per RPC call (``grader_inside.train_loop``): the parent keeps the wall clock, receives a
parameter snapshot after every epoch and scores it against labels the child never sees.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from autograder import PROJECT_ROOT

from .evaluate import NotEvaluable, ReferenceEvaluator, accuracy_of

LOOP = "grader_inside.train_loop"
REFERENCE_NNDL = PROJECT_ROOT / "reference" / "nndl"
#: Seconds added to the training budget for the child's start-up and its last snapshot.
GRACE_SECONDS = 60.0
#: Seconds for the student's model to label the validation images (custom models only).
PREDICT_TIMEOUT = 120.0
#: What the Solver trains for when the student's config does not say (the Solver's default).
DEFAULT_EPOCHS = 10


@dataclass
class EpochRecord:
    epoch: float
    train_loss: float | None
    val_acc: float
    complete: bool
    seconds: float
    #: Accuracy on a fixed sample of the training split (the parent has those labels anyway),
    #: so the report can show the train/validation gap per epoch; None when not evaluable here.
    train_acc: float | None = None
    #: CPU seconds since training began, like ``seconds`` (wall time) but blind to other
    #: processes on a busy machine: the child's own count of its training steps plus this
    #: thread's snapshot handling and evaluation. Shown, never scored; None when the child's
    #: count is missing or implausible.
    cpu_seconds: float | None = None

    def to_json(self) -> dict[str, Any]:
        cpu = None if self.cpu_seconds is None else round(self.cpu_seconds, 3)
        return {"epoch": self.epoch, "train_loss": self.train_loss, "val_acc": self.val_acc,
                "train_acc": self.train_acc, "complete": self.complete, "seconds": round(self.seconds, 3),
                "cpu_seconds": cpu}


@dataclass
class TrainingRun:
    """What happened in the child, as the parent measured it."""

    epochs: list[EpochRecord] = field(default_factory=list)
    stopped_reason: str = "completed"
    error: str | None = None
    traceback: str | None = None
    evaluation: str = "reference_forward"
    evaluation_note: str | None = None
    sandbox_level: str = "unknown"
    sandbox_missing: list[str] = field(default_factory=list)
    built: bool = False


def requested_epochs(config: dict[str, Any]) -> int:
    value = (config.get("solver_kwargs") or {}).get("num_epochs", DEFAULT_EPOCHS)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return DEFAULT_EPOCHS
    return max(int(value), 1)


def _sandbox_limits(limits, time_limit: float, data_files: dict[str, Path]):
    """The rubric's limits, stretched to fit a whole training run in one worker.

    The memory-mapped dataset counts toward the address-space limit although it is shared page
    cache, so its size is added on top of the rubric's allowance.
    """
    mapped_mb = sum(Path(p).stat().st_size for p in data_files.values()) // 2**20 + 1
    return dataclasses.replace(
        limits,
        cpu_seconds=int(max(limits.cpu_seconds, 2 * time_limit + GRACE_SECONDS)),
        memory_mb=int(limits.memory_mb + mapped_mb),
    )


def _reference_root(work: Path) -> Path:
    """A submission-shaped folder holding only the reference ``nndl`` (engine = "reference")."""
    root = work / "reference-engine"
    shutil.copytree(REFERENCE_NNDL, root / "nndl", ignore=shutil.ignore_patterns("__pycache__"))
    return root


def _student_message(exc: BaseException) -> tuple[str, str | None]:
    kind = getattr(exc, "exc_type", None) or type(exc).__name__
    message = getattr(exc, "message", None) or str(exc)
    return f"{kind}: {message}", getattr(exc, "traceback", None)


def _stop_reason(sbx, exc: BaseException) -> str:
    if isinstance(exc, sbx.StudentError):
        return "student_error"
    if isinstance(exc, sbx.CallTimeout):
        return "call_timeout"
    if isinstance(exc, (sbx.WorkerCrashed, sbx.HandleLost)):
        return "worker_crashed"
    return "protocol_violation"


def run_training(root: Path, config: dict[str, Any], rubric, data_files: dict[str, Path],
                 X_val: np.ndarray, y_val: np.ndarray, *, epochs: int, level: str = "auto",
                 blas_threads: int = 1, optim_source: str | None = None,
                 time_limit: float | None = None, progress=None,
                 train_sample: tuple[np.ndarray, np.ndarray] | None = None) -> TrainingRun:
    """Train ``config`` from ``root`` in a sandbox, evaluating every epoch's snapshot here."""
    from autograder import sandbox as sbx

    settings = rubric.training
    time_limit = float(settings.time_limit if time_limit is None else time_limit)
    run = TrainingRun()

    try:
        evaluator = ReferenceEvaluator(config, X_val, y_val)
    except NotEvaluable as exc:
        evaluator, run.evaluation, run.evaluation_note = None, "predictions", str(exc)

    child_settings = {"seed": settings.seed, "epochs": epochs, "blas_threads": blas_threads,
                      "optim_source": optim_source}
    limits = _sandbox_limits(rubric.limits, time_limit, data_files)
    with sbx.Sandbox(root, limits, level=level, data_files=data_files) as sb:
        run.sandbox_level = sb.level
        run.sandbox_missing = list(sb.missing_guarantees)
        try:
            trainer = sb.call(f"{LOOP}:start", config, child_settings, keep=True,
                              timeout=limits.import_timeout + rubric.limits.call_timeout)
            run.built = True
            # The budget is for training: sandbox start-up and the build have their own timeouts.
            started, started_cpu = time.monotonic(), time.thread_time()
            child_cpu = 0.0
            deadline = started + time_limit
            while len([e for e in run.epochs if e.complete]) < epochs:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    run.stopped_reason = "time_limit"
                    break
                snap = sb.call(f"{LOOP}:run_epoch", trainer, remaining, timeout=remaining + GRACE_SECONDS)
                if not isinstance(snap, dict):
                    raise sbx.ProtocolViolation("run_epoch returned no snapshot")
                acc = train_acc = None
                if evaluator is not None:
                    try:
                        with threadpool_limits(limits=blas_threads):
                            acc = evaluator.accuracy(snap.get("params"), snap.get("bn_stats"))
                            if train_sample is not None:
                                train_acc = evaluator.accuracy_on(*train_sample)
                    except NotEvaluable as exc:
                        evaluator, run.evaluation, run.evaluation_note = None, "predictions", str(exc)
                if acc is None:
                    acc = accuracy_of(sb.call(f"{LOOP}:predict", trainer, timeout=PREDICT_TIMEOUT), y_val)
                complete = bool(snap.get("complete"))
                done = int(snap.get("epoch", 0) or 0)
                steps = snap.get("steps") or 0
                loss = snap.get("train_loss")
                loss = float(loss) if isinstance(loss, (int, float)) and math.isfinite(loss) else None
                child_cpu = _add_cpu(child_cpu, snap.get("cpu_seconds"))
                if complete or steps:
                    run.epochs.append(EpochRecord(
                        epoch=done if complete else _partial(snap.get("progress"), done), train_loss=loss, val_acc=acc,
                        complete=complete, seconds=time.monotonic() - started, train_acc=train_acc,
                        cpu_seconds=None if child_cpu is None else child_cpu + time.thread_time() - started_cpu))
                    if progress is not None:
                        progress(run.epochs[-1].to_json())
                if not complete:
                    run.stopped_reason = "time_limit"
                    break
        except sbx.SandboxError as exc:
            run.stopped_reason = _stop_reason(sbx, exc)
            if run.stopped_reason == "call_timeout" and run.built and time.monotonic() >= deadline:
                run.stopped_reason = "time_limit"
            run.error, run.traceback = _student_message(exc)
            if getattr(exc, "memory_suspected", False):
                run.error += " (the memory limit was probably exceeded)"
    return run


def _add_cpu(total: float | None, reported: Any) -> float | None:
    """The child's running CPU total; None from the first call that reports no plausible number."""
    if total is None or isinstance(reported, bool) or not isinstance(reported, (int, float)):
        return None
    if not math.isfinite(reported) or reported < 0:
        return None
    return total + float(reported)


def _partial(progress: Any, done: int) -> float:
    """An interrupted epoch's position (2.37 = 37% into the third), as far as it is plausible."""
    if isinstance(progress, (int, float)) and done <= progress < done + 1:
        return round(float(progress), 2)
    return float(done)


def prepare_root(staged, engine: str, work: Path) -> Path:
    return _reference_root(work) if engine == "reference" else Path(staged.root)


def make_workdir() -> tempfile.TemporaryDirectory:
    from autograder.sandbox.launcher import scratch_prefix  # the pid lets a later run sweep it if we are killed

    return tempfile.TemporaryDirectory(prefix=scratch_prefix("train"))
