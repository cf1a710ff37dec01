"""Builders of realistic `SubmissionResult`s for report tests (and for other modules' tests).

The shapes follow docs/CONTRACTS.md: notebook extra (cells, configs, best_config, best_rule,
answer), training extra (epochs, accuracy, claimed_accuracy, score_formula, flags). The bugs and
messages mirror real ones from shared/assignment_api.md §8 so the reports are exercised on the
kinds of failures they will actually show.
"""

from __future__ import annotations

import math
import random

from autograder.results import CheckResult, SubmissionResult
from autograder.rubric import CHECK_PARTS

#: Points and visibility as in rubrics/dropout.toml (kept here so samples don't need the rubric).
POINTS = {
    "layers.affine": 2, "layers.relu": 2, "batchnorm.forward_train": 6, "batchnorm.running_stats": 4,
    "batchnorm.forward_test": 4, "batchnorm.backward": 8, "dropout.forward_train": 6,
    "dropout.forward_test": 2, "dropout.backward": 4, "fc_net.init": 4, "fc_net.loss_grads": 6,
    "fc_net.regularization": 4, "fc_net.batchnorm": 6, "fc_net.dropout": 8, "fc_net.test_mode": 4,
    "optim.sgd_momentum": 0, "optim.sgd_nesterov_momentum": 0, "optim.rmsprop": 0, "optim.adam": 0,
    "notebook.executes": 5, "notebook.free_response": 0, "training.accuracy": 25,
}
HIDDEN = {"fc_net.dropout", "fc_net.test_mode", "training.accuracy"}
NAMES = {
    "layers.affine": "Affine layer forward/backward",
    "layers.relu": "ReLU forward/backward",
    "batchnorm.forward_train": "Batch norm forward (train)",
    "batchnorm.running_stats": "Batch norm running statistics",
    "batchnorm.forward_test": "Batch norm forward (test)",
    "batchnorm.backward": "Batch norm backward",
    "dropout.forward_train": "Dropout forward (train)",
    "dropout.forward_test": "Dropout forward (test)",
    "dropout.backward": "Dropout backward",
    "fc_net.init": "FullyConnectedNet initialisation",
    "fc_net.loss_grads": "FullyConnectedNet loss and gradients",
    "fc_net.regularization": "FullyConnectedNet L2 regularisation",
    "fc_net.batchnorm": "FullyConnectedNet with batch norm",
    "fc_net.dropout": "FullyConnectedNet with dropout",
    "fc_net.test_mode": "FullyConnectedNet test mode",
    "optim.sgd_momentum": "SGD with momentum",
    "optim.sgd_nesterov_momentum": "SGD with Nesterov momentum",
    "optim.rmsprop": "RMSProp",
    "optim.adam": "Adam",
    "notebook.executes": "Dropout.ipynb runs top to bottom",
    "notebook.free_response": "Free-response answer",
    "training.accuracy": "Validation accuracy of the final model",
}

DROPOUT_P_MESSAGE = (
    "Fraction of units zeroed is 0.30 for p=0.3; this assignment's p is the probability of KEEPING a unit, "
    "so about 0.70 should be zeroed."
)

TRACEBACK_KEYERROR = (
    "Traceback (most recent call last):\n"
    '  File "nndl/fc_net.py", line 212, in loss\n'
    "    out, cache = batchnorm_forward(h, gamma, beta, self.bn_params[i])\n"
    '  File "nndl/layers.py", line 187, in batchnorm_forward\n'
    "    running_mean = bn_param['running_mean']\n"
    "KeyError: 'running_mean'"
)

TRACEBACK_SYNTAX = (
    'Traceback (most recent call last):\n  File "nndl/layers.py", line 96\n'
    "    out = x * mask / p)\n                      ^\nSyntaxError: unmatched ')'"
)


def check(check_id: str, status: str = "passed", *, score: float | None = None, **kw) -> CheckResult:
    """One CheckResult with the rubric's points, name, part and visibility for ``check_id``."""
    max_score = float(POINTS.get(check_id, 1))
    if score is None:
        score = max_score if status == "passed" else 0.0
    kw.setdefault("name", NAMES.get(check_id, check_id))
    kw.setdefault("visibility", "hidden" if check_id in HIDDEN else "visible")
    kw.setdefault("tags", [check_id.split(".")[0]])
    kw.setdefault("seconds", 0.12)
    kw.setdefault("message", "All sub-cases match the reference." if status == "passed" else "")
    return CheckResult(check_id, status, score, max_score, part=CHECK_PARTS.get(check_id, "implementation"), **kw)


def curves(epochs: int, final_val: float, seed: int = 0) -> list[dict]:
    """Plausible per-epoch curves: loss falls, train accuracy overtakes validation accuracy."""
    rng = random.Random(seed)
    out = []
    for e in range(1, epochs + 1):
        k = 1 - math.exp(-e / max(epochs / 4, 1))
        val = 0.28 + (final_val - 0.28) * k + rng.uniform(-0.006, 0.006)
        out.append({
            "epoch": e,
            "train_loss": round(2.2 * math.exp(-e / 6) + 1.05 + rng.uniform(-0.03, 0.03), 4),
            "train_acc": round(min(val + 0.02 + 0.012 * e, 0.99), 4),
            "val_acc": round(val, 4),
        })
    return out


def notebook_extra(*, failing_cell: int | None = None, claimed: float | None = 0.577, answer: str | None = None) -> dict:
    first_lines = [
        "import time", "data = get_CIFAR10_data()", "x = np.random.randn(500, 500) + 10",
        "x = np.random.randn(10, 10) + 10", "N, D, H1, H2, C = 2, 15, 20, 30, 10",
        "num_train = 500", "plt.subplot(3, 1, 1)", "# YOUR CODE HERE: final model",
    ]
    cells = []
    for i, line in enumerate(first_lines):
        status = "ok"
        error = traceback = None
        if failing_cell is not None and i == failing_cell:
            status, error = "error", "KeyError: 'running_mean'"
            traceback = TRACEBACK_KEYERROR
        elif failing_cell is not None and i > failing_cell:
            status = "not run"
        cells.append({"index": i * 2 + 1, "first_line": line, "status": status, "error": error,
                      "traceback": traceback, "seconds": round(0.4 + i * 1.7, 2)})
    best = {
        "model_module": "nndl.fc_net", "model_class": "FullyConnectedNet",
        "model_args": [[512, 256, 128]],
        "model_kwargs": {"dropout": 0.7, "use_batchnorm": True, "weight_scale": 0.01, "reg": 0.001,
                         "dtype": {"__dtype__": "float32"}},
        "solver_kwargs": {"update_rule": "adam", "optim_config": {"learning_rate": 1e-3}, "lr_decay": 0.95,
                          "batch_size": 200, "num_epochs": 20},
        "cell_index": 15, "claimed_val_acc": claimed, "in_final_part": True, "tagged": False,
    }
    small = {
        "model_module": "nndl.fc_net", "model_class": "FullyConnectedNet", "model_args": [[100, 100, 100]],
        "model_kwargs": {"dropout": 0.6}, "solver_kwargs": {"update_rule": "adam", "num_epochs": 25},
        "cell_index": 11, "claimed_val_acc": 0.31, "in_final_part": False, "tagged": False,
    }
    return {
        "found": True, "path": "Dropout.ipynb", "executed": failing_cell is None, "cells": cells,
        "configs": [small, best], "best_config": best,
        "best_rule": "last model trained in the final-part section (cell 15)",
        "answer": answer if answer is not None else (
            "Yes. Without dropout the training accuracy climbs far above the validation accuracy, while with "
            "dropout the gap stays small, so dropout reduces overfitting: it acts as a regularizer."),
    }


def training_extra(final_val: float, *, claimed: float | None = None, epochs: int = 20, seed: int = 0) -> dict:
    eps = curves(epochs, final_val, seed)
    best = max(e["val_acc"] for e in eps)
    pct = math.floor(best * 100)
    frac = min(max((pct - 32) / 28, 0.0), 1.0)
    flags = []
    if claimed is not None and abs(claimed - best) > 0.03:
        flags.append("claim_mismatch")
    return {
        "engine": "student", "config": notebook_extra()["best_config"], "epochs_run": epochs,
        "seconds": round(41.5 * epochs, 1), "epochs": eps, "accuracy": best, "claimed_accuracy": claimed,
        "score_formula": f"clamp((floor({best * 100:.2f}) - 32) / 28, 0, 1) = ({pct} - 32) / 28 = {frac:.4f}",
        "score_fraction": frac, "flags": flags, "stopped_reason": "max_epochs",
    }


def _base(submission_id: str, **kw) -> SubmissionResult:
    kw.setdefault("sandbox_level", "bwrap")
    kw.setdefault("execution_time", 312.4)
    kw.setdefault("grader_version", "0.1.0")
    kw.setdefault("rubric_name", "HW4: Dropout, batch normalization and fully-connected nets")
    kw.setdefault("dataset", "cifar-10 (sha256 6d958be0)")
    kw.setdefault("content_hash", "sha256:" + format(abs(hash(submission_id)) % 16**12, "012x"))
    return SubmissionResult(submission_id, **kw)


def _training_check(train: dict) -> CheckResult:
    frac = train["score_fraction"]
    return check("training.accuracy", "passed" if frac >= 1 else "failed", score=round(25 * frac, 4),
                 message=f"Validation accuracy {train['accuracy'] * 100:.1f}% (best of {train['epochs_run']} epochs).",
                 details={"accuracy": train["accuracy"], "claimed": train["claimed_accuracy"],
                          "fraction": frac})


def perfect(submission_id: str = "alice") -> SubmissionResult:
    """Every check passes; trains to 61.3%."""
    checks = [check(cid) for cid in POINTS if cid.split(".")[0] not in ("notebook", "training")]
    checks.append(check("notebook.executes", message="All 8 code cells ran without error."))
    checks.append(check("notebook.free_response", message="Answer found (312 characters); graded by hand."))
    train = training_extra(0.613, claimed=0.608, seed=1)
    checks.append(_training_check(train))
    return _base(submission_id, checks=checks, notebook=notebook_extra(claimed=0.608), training=train)


def buggy(submission_id: str = "bob") -> SubmissionResult:
    """Realistic bugs: p as drop probability, BN backward off, a KeyError, an overclaimed accuracy."""
    checks = []
    for cid in POINTS:
        if cid.split(".")[0] in ("notebook", "training"):
            continue
        if cid == "dropout.forward_train":
            checks.append(check(cid, "failed", message=DROPOUT_P_MESSAGE, diagnosis="dropout.p_is_drop_probability",
                                details={"cases": [
                                    {"p": 0.3, "fraction_zeroed": 0.3012, "expected_fraction_zeroed": 0.7, "passed": False},
                                    {"p": 0.6, "fraction_zeroed": 0.5987, "expected_fraction_zeroed": 0.4, "passed": False},
                                    {"p": 0.75, "fraction_zeroed": 0.7497, "expected_fraction_zeroed": 0.25, "passed": False},
                                ], "mean_ratio": 0.4286}))
        elif cid == "batchnorm.backward":
            checks.append(check(cid, "failed", score=0.0,
                                message="dgamma matches, but dx differs from the reference (rel. error 3.2e-02 > 1e-06): "
                                        "the term through the batch mean seems to be missing.",
                                diagnosis="batchnorm.backward_missing_mean_term",
                                details={"rel_errors": {"dx": 0.0321, "dgamma": 2.1e-12, "dbeta": 1.4e-12},
                                         "rtol": 1e-6, "shape": [4, 5],
                                         "failing_case": {"x_scale": 5.0, "x_shift": 12.0,
                                                          "expected": [0.0132, -0.0871, 0.2215],
                                                          "got": [0.0419, -0.0584, 0.2502]}}))
        elif cid == "fc_net.batchnorm":
            checks.append(check(cid, "error", message="FullyConnectedNet.loss raised KeyError: 'running_mean'",
                                diagnosis="batchnorm.running_stats_not_initialised", traceback=TRACEBACK_KEYERROR,
                                details={"frames": [["nndl/fc_net.py", 212, "loss"],
                                                    ["nndl/layers.py", 187, "batchnorm_forward"]]}))
        elif cid == "fc_net.dropout":
            checks.append(check(cid, "failed", message="Dropout mask differs from expected: kept fraction 0.25 vs 0.75.",
                                diagnosis="dropout.p_is_drop_probability",
                                details={"expected_keep": 0.75, "got_keep": 0.25, "reference_loss": 2.3021,
                                         "student_loss": 2.4410}))
        elif cid == "optim.adam":
            checks.append(check(cid, "failed", message="config['t'] is not incremented before bias correction.",
                                diagnosis="optim.adam_t_not_incremented",
                                details={"rel_errors": {"next_w": 0.0113, "v": 0.0, "a": 0.0}}))
        else:
            checks.append(check(cid))
    checks.append(check("notebook.executes", "failed", score=2.0,
                        message="Cell 9 raised KeyError: 'running_mean'; 3 later cells did not run."))
    checks.append(check("notebook.free_response", message="Answer found (188 characters); graded by hand."))
    train = training_extra(0.497, claimed=0.552, seed=2)
    checks.append(_training_check(train))
    result = _base(submission_id, checks=checks, notebook=notebook_extra(failing_cell=4, claimed=0.552),
                   training=train, warnings=["np.float used: numpy-1 alias restored for this run."])
    result.add_flag("claim_mismatch")
    return result


def crashed(submission_id: str = "carol") -> SubmissionResult:
    """nndl/layers.py does not import; the notebook is missing; training times out."""
    checks = []
    for cid in POINTS:
        if cid.split(".")[0] in ("notebook", "training"):
            continue
        checks.append(check(cid, "error", message="nndl/layers.py could not be imported: SyntaxError: unmatched ')'",
                            diagnosis="import.syntax_error", traceback=TRACEBACK_SYNTAX,
                            details={"frames": [["nndl/layers.py", 96, "<module>"]]}))
    checks.append(check("notebook.executes", "skipped", message="No Dropout notebook found in the submission."))
    checks.append(check("notebook.free_response", "skipped", message="No notebook, so no answer."))
    checks.append(check("training.accuracy", "timeout", message="Training stopped after 1800 s without a finished epoch."))
    result = _base(submission_id, checks=checks, notebook={"found": False, "path": None, "executed": False, "cells": []},
                   training={"engine": "student", "epochs_run": 0, "seconds": 1800.0, "epochs": [],
                             "accuracy": None, "claimed_accuracy": None, "flags": ["timeout"],
                             "stopped_reason": "time_limit"})
    result.add_flag("timeout")
    return result


def grader_failure(submission_id: str = "dave") -> SubmissionResult:
    """A grader-side error on a weak sandbox: nothing is the student's fault."""
    checks = [check(cid) for cid in ("layers.affine", "layers.relu", "dropout.forward_train")]
    checks.append(check("fc_net.init", "error", message="Grader error while preparing inputs; see errors."))
    result = _base(submission_id, checks=checks, sandbox_level="none",
                   sandbox_missing=["network isolation", "filesystem isolation", "PID namespace"],
                   warnings=["bubblewrap not available: running as a plain subprocess."],
                   errors=["training stage: FileNotFoundError: X_val.npy missing from the data cache"])
    result.add_flag("grader_error")
    result.add_flag("weak_sandbox")
    return result


def class_results(n: int = 12, seed: int = 0) -> list[SubmissionResult]:
    """A class of ``n`` submissions mixing the kinds above with random accuracies."""
    rng = random.Random(seed)
    makers = [perfect, buggy, perfect, buggy, crashed, perfect, buggy, grader_failure]
    out = []
    for i in range(n):
        r = makers[i % len(makers)](f"student{i:03d}")
        if r.training and r.training.get("accuracy") is not None:
            acc = round(rng.uniform(0.40, 0.63), 4)
            claimed = round(acc + rng.choice([0.0, 0.004, -0.01, 0.06]), 4)
            train = training_extra(acc, claimed=claimed, seed=i)
            r.training = train
            r.checks = [c for c in r.checks if c.check_id != "training.accuracy"] + [_training_check(train)]
            r.flags = [f for f in r.flags if f != "claim_mismatch"] + list(train["flags"])
        out.append(r)
    return out
