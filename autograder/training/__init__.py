"""Training stage: re-train the notebook's best config and score its validation accuracy.

``train_and_score`` is the entry point the pipeline calls; the pieces are ``job`` (the sandboxed
run, one epoch per call), ``evaluate`` (validation accuracy in the parent) and ``scoring`` (the
assignment's formula). Reference-optimizer mode (rubric ``training.optimizers = "reference"``)
hands the child the text of ``reference/nndl/optim.py`` over the RPC and nothing else of the
reference: the update rules are then visible to that one child, the rest of the solution never.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder.data import open_npy
from autograder.results import CheckResult
from autograder.rubric import CheckSpec

from .job import REFERENCE_NNDL, TrainingRun, make_workdir, prepare_root, requested_epochs, run_training
from .scoring import AccuracyScore, accuracy_score, claim_mismatch, normalise_claim, score_accuracy

__all__ = ["TrainingOutcome", "train_and_score", "accuracy_score", "score_accuracy", "select_epoch", "config_problem"]

CHECK_ID = "training.accuracy"
TRAINING_FILES = ("X_train", "y_train", "X_val")


@dataclass
class TrainingOutcome:
    check: CheckResult
    extra: dict[str, Any] = field(default_factory=dict)


def select_epoch(run: TrainingRun, select: str):
    """The epoch whose accuracy is X: the best one (earliest among ties) or the last one."""
    if not run.epochs:
        return None
    if select == "last":
        return run.epochs[-1]
    return max(run.epochs, key=lambda e: e.val_acc)


def _split_files(splits) -> dict[str, Path]:
    files = getattr(splits, "files", splits)
    return {name: Path(files[name]) for name in (*TRAINING_FILES, "y_val")}


_STOP_NOTES = {
    "time_limit": "the training time limit ({limit:g} s) ran out after {n} epoch(s); the best epoch so far is scored",
    "student_error": "training stopped with an error in your code after {n} epoch(s)",
    "call_timeout": "your code stopped responding after {n} epoch(s)",
    "worker_crashed": "the training process crashed after {n} epoch(s)",
    "protocol_violation": "the training process broke the grader's protocol after {n} epoch(s)",
}


def train_and_score(staged, config: dict[str, Any], rubric, splits, *, level: str = "auto",
                    claimed: float | None = None, blas_threads: int = 1,
                    time_limit: float | None = None, progress=None) -> TrainingOutcome:
    """Re-train ``config`` (the notebook stage's best config) and score the accuracy it reaches.

    Never raises for the student's fault: a config that fails to build or train scores 0 with the
    student's traceback. ``time_limit`` overrides ``rubric.training.time_limit`` (tests, benches);
    ``progress`` is called with each evaluated epoch's record (progress bars, logs).
    """
    settings = rubric.training
    # A rubric without the check still trains (benches, experiments); it is worth nothing then.
    spec = rubric.check(CHECK_ID) or CheckSpec(CHECK_ID, 0.0, True, {})
    t0 = time.monotonic()
    config = dict(config or {})
    wanted = requested_epochs(config)
    epochs = min(wanted, settings.max_epochs)
    limit = float(settings.time_limit if time_limit is None else time_limit)
    optim_source = None
    if settings.optimizers == "reference" and settings.engine == "student":
        optim_source = (REFERENCE_NNDL / "optim.py").read_text(encoding="utf-8")

    problem = config_problem(config)
    if problem:
        check = spec.result("error", message=f"The final config cannot be trained: {problem}.",
                            details={"stopped_reason": "invalid_config"})
        return TrainingOutcome(check, {"engine": settings.engine, "config": config, "epochs_run": 0,
                                       "seconds": 0.0, "epochs": [], "accuracy": None,
                                       "claimed_accuracy": normalise_claim(claimed), "score_formula": None,
                                       "flags": [], "stopped_reason": "invalid_config", "error": problem})

    files = _split_files(splits)
    y_val = open_npy(files["y_val"])
    X_val = open_npy(files["X_val"])
    data_files = {name: files[name] for name in TRAINING_FILES}
    n_sample = min(len(y_val), 1000)  # the Solver's own train-accuracy sample size
    train_sample = (open_npy(files["X_train"])[:n_sample], open_npy(files["y_train"])[:n_sample])
    with make_workdir() as work:
        root = prepare_root(staged, settings.engine, Path(work))
        run = run_training(root, config, rubric, data_files, X_val, y_val, epochs=epochs, level=level,
                           blas_threads=blas_threads, optim_source=optim_source, time_limit=limit,
                           progress=progress, train_sample=train_sample)
    seconds = time.monotonic() - t0

    chosen = select_epoch(run, settings.select)
    accuracy = chosen.val_acc if chosen else None
    scored = score_accuracy(accuracy if accuracy is not None else float("nan"), settings, spec.points)
    claim = normalise_claim(claimed)
    flags = []
    # A claim made on CIFAR-10 says nothing about accuracy on the synthetic stand-in.
    synthetic = bool(getattr(splits, "synthetic", False))
    if not synthetic and claim_mismatch(claim, accuracy, settings.claim_tolerance):
        flags.append("claim_mismatch")
    if run.stopped_reason == "time_limit":
        flags.append("training_time_limit")
    if run.sandbox_level not in ("bwrap", "unknown"):
        flags.append("weak_sandbox")

    message = _message(run, chosen, scored, claim, flags, wanted, epochs, settings, limit, synthetic)
    status = _status(run, scored)
    completed = [e for e in run.epochs if e.complete]
    check = spec.result(
        status, round(scored.score, 4), message=message, traceback=run.traceback,
        details={"accuracy": accuracy, "formula": scored.formula, "selected_epoch": chosen.epoch if chosen else None,
                 "stopped_reason": run.stopped_reason, "evaluation": run.evaluation},
        seconds=seconds,
    )
    extra = {
        "engine": settings.engine,
        "optimizers": settings.optimizers,
        "config": config,
        "epochs_requested": wanted,
        "epochs_planned": epochs,
        "epochs_run": len(completed),
        "seconds": round(seconds, 3),
        "seconds_per_epoch": round(completed[-1].seconds / len(completed), 3) if completed else None,
        "epochs": [e.to_json() for e in run.epochs],
        "select": settings.select,
        "selected_epoch": chosen.epoch if chosen else None,
        "accuracy": accuracy,
        "claimed_accuracy": claim,
        "synthetic_data": synthetic,
        "score": round(scored.score, 4),
        "score_formula": scored.formula,
        "evaluation": run.evaluation,
        "evaluation_note": run.evaluation_note,
        "flags": flags,
        "stopped_reason": run.stopped_reason,
        "error": run.error,
        "sandbox_level": run.sandbox_level,
        "sandbox_missing": run.sandbox_missing,
        "seed": settings.seed,
    }
    return TrainingOutcome(check=check, extra=extra)


def config_problem(config: dict[str, Any]) -> str | None:
    """Why a notebook config cannot describe a model to train, or None when it can."""
    for key in ("model_module", "model_class"):
        if not isinstance(config.get(key), str) or not config[key]:
            return f"{key} is missing"
    if not isinstance(config.get("model_args", []), list) or not isinstance(config.get("model_kwargs", {}), dict):
        return "model_args must be a list and model_kwargs a dict"
    if not isinstance(config.get("solver_kwargs", {}), dict):
        return "solver_kwargs must be a dict"
    return None


def _status(run: TrainingRun, scored: AccuracyScore) -> str:
    if not run.epochs:
        if run.stopped_reason in ("time_limit", "call_timeout"):
            return "timeout"
        return "error"
    return "passed" if scored.fraction >= 1.0 else "failed"


def _message(run, chosen, scored, claim, flags, wanted, epochs, settings, limit, synthetic=False) -> str:
    parts = []
    if not run.built:
        parts.append(f"Your final model could not be built: {run.error or 'unknown error'}")
    elif chosen is None:
        note = _STOP_NOTES.get(run.stopped_reason, "training ended")
        parts.append("No epoch could be evaluated: " + note.format(limit=limit, n=0) + ".")
        if run.error:
            parts.append(run.error)
    else:
        which = "best" if settings.select == "best" else "last"
        parts.append(f"Validation accuracy {100 * chosen.val_acc:.1f}% ({which} of "
                     f"{len(run.epochs)} evaluated epoch(s), epoch {chosen.epoch:g}). Score: {scored.formula}.")
        if run.stopped_reason != "completed":
            n = len([e for e in run.epochs if e.complete])
            parts.append(_STOP_NOTES.get(run.stopped_reason, "training ended early").format(limit=limit, n=n).capitalize() + ".")
            if run.error:
                parts.append(run.error)
    if wanted > epochs:
        parts.append(f"Your config asks for {wanted} epochs; the grader trains at most {epochs}.")
    if chosen is not None and run.evaluation == "predictions" and run.evaluation_note:
        parts.append(f"Scored from your model's own predictions ({run.evaluation_note}).")
    if claim is not None and chosen is not None:
        gap = "" if "claim_mismatch" not in flags else " -- flagged for review, not penalised"
        if synthetic:
            gap = " (on CIFAR-10; not compared, since this run used synthetic data)"
        parts.append(f"Your notebook reports {100 * claim:.1f}%{gap}.")
    return " ".join(parts)
