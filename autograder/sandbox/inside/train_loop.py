"""Trusted training loop that runs INSIDE the sandboxed child (as ``grader_inside.train_loop``).

The parent drives it one epoch per call so that it keeps the clock and the labels:
``start(config, settings)`` builds the student's model and the trusted Solver and returns a
``Trainer`` (a Handle on the parent side); ``run_epoch(trainer, seconds)`` trains until the epoch
ends or the seconds run out and returns the parameter snapshot; ``predict(trainer)`` returns
labels for the unlabelled validation images when the parent cannot evaluate the parameters itself.

Data arrive as read-only memory maps of the bound ``.npy`` files, so concurrent children share one
copy in the page cache and a minibatch is a 100-row gather, never a copy of the training set.
Imports nothing from ``autograder``: only this folder, numpy and the trusted ``cs231n`` helpers.
"""

from __future__ import annotations

import importlib
import time
import types

import numpy as np

from . import data_path
from .config_values import decode

#: Solver options the grader owns: training prints nothing and writes no checkpoint files.
_FORCED_SOLVER_OPTIONS = {"verbose": False, "checkpoint_name": None}


def _open(name):
    """A read-only, plain-ndarray view of a bound split file (no copy, no pickle)."""
    return np.asarray(np.load(data_path(name), mmap_mode="r", allow_pickle=False))


def _limit_blas_threads(n):
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=int(n))


def _reference_rule(source, name):
    """An update rule compiled from optim source text handed over the RPC (rubric
    ``optimizers = "reference"``): only that file's text ever reaches the child."""
    module = types.ModuleType("_grader_reference_optim")
    exec(compile(source, "<reference optim>", "exec"), module.__dict__)  # noqa: S102 - trusted text
    rule = getattr(module, name, None)
    if not callable(rule):
        raise ValueError('Invalid update_rule "%s"' % (name,))
    return rule


class Trainer(object):
    """The student's model, the trusted Solver and where we are in the current epoch."""

    def __init__(self, config, settings):
        self.blas = _limit_blas_threads(settings.get("blas_threads", 1))
        np.random.seed(int(settings.get("seed", 0)))
        X_train, y_train, X_val = _open("X_train"), _open("y_train"), _open("X_val")
        self.X_val = X_val

        module = importlib.import_module(config["model_module"])
        model_class = getattr(module, config["model_class"])
        self.model = model_class(*decode(config.get("model_args") or []),
                                 **decode(config.get("model_kwargs") or {}))

        options = dict(config.get("solver_kwargs") or {})
        options.update(_FORCED_SOLVER_OPTIONS)
        options["num_epochs"] = int(settings["epochs"])
        if settings.get("optim_source"):
            options["update_rule"] = _reference_rule(settings["optim_source"],
                                                     options.get("update_rule", "sgd"))
        from cs231n.solver import Solver

        # The labels of the validation images never enter the child: the Solver gets placeholders.
        data = {"X_train": X_train, "y_train": y_train, "X_val": X_val,
                "y_val": np.full(len(X_val), -1, dtype=np.int64)}
        self.solver = Solver(self.model, data, **options)
        self.iterations_per_epoch = max(len(X_train) // int(self.solver.batch_size), 1)
        self.step_in_epoch = 0
        self.epoch = 0
        self.epoch_losses = []


def start(config, settings):
    """Build the model and the Solver (seeded), ready for ``run_epoch``."""
    return Trainer(config, settings)


def _end_epoch(trainer):
    """The Solver's own end-of-epoch bookkeeping: count the epoch, decay every learning rate."""
    solver = trainer.solver
    solver.epoch += 1
    for config in solver.optim_configs.values():
        if "learning_rate" in config:
            config["learning_rate"] *= solver.lr_decay
    trainer.epoch += 1
    trainer.step_in_epoch = 0


def _params_snapshot(model):
    params = getattr(model, "params", None)
    if not isinstance(params, dict):
        return {}
    return {str(k): np.array(v) for k, v in params.items() if isinstance(v, np.ndarray)}


def _bn_snapshot(model):
    """Running statistics per batch-normalized layer, in layer order (list or 'bn_paramN' dict)."""
    bn_params = getattr(model, "bn_params", None)
    if isinstance(bn_params, dict):
        def order(key):
            digits = "".join(ch for ch in str(key) if ch.isdigit())
            return int(digits) if digits else 0
        bn_params = [bn_params[k] for k in sorted(bn_params, key=order)]
    if not isinstance(bn_params, (list, tuple)):
        return []
    stats = []
    for bn in bn_params:
        entry = {}
        if isinstance(bn, dict):
            for key in ("running_mean", "running_var"):
                if isinstance(bn.get(key), np.ndarray):
                    entry[key] = np.array(bn[key])
        stats.append(entry)
    return stats


def run_epoch(trainer, seconds):
    """Train until the current epoch ends or ``seconds`` pass; return the snapshot.

    Returns a dict: epoch (completed epochs), complete (the epoch ended), progress (epochs as a
    fraction), steps, train_loss (mean minibatch loss of this call's steps), cpu_seconds (this
    process's CPU time for those steps: unlike wall time, other processes on a busy machine do
    not inflate it), params, bn_stats.
    """
    deadline = time.monotonic() + float(seconds)
    cpu_start = time.process_time()
    solver = trainer.solver
    losses = []
    while trainer.step_in_epoch < trainer.iterations_per_epoch and time.monotonic() < deadline:
        solver._step()
        losses.append(float(solver.loss_history[-1]))
        trainer.step_in_epoch += 1
    cpu_seconds = time.process_time() - cpu_start
    del solver.loss_history[:]  # kept only for this call's mean: no growth over a long run
    complete = trainer.step_in_epoch >= trainer.iterations_per_epoch
    progress = trainer.epoch + trainer.step_in_epoch / float(trainer.iterations_per_epoch)
    if complete:
        _end_epoch(trainer)
    return {
        "epoch": trainer.epoch,
        "complete": complete,
        "progress": progress,
        "steps": len(losses),
        "train_loss": float(np.mean(losses)) if losses else None,
        "cpu_seconds": cpu_seconds,
        "params": _params_snapshot(trainer.model),
        "bn_stats": _bn_snapshot(trainer.model),
    }


def predict(trainer, batch_size=500):
    """Test-mode labels for the unlabelled validation images, from the student's own forward pass.

    Batchnorm layers are put in test mode explicitly (and restored), so the template's
    ``bn_param[mode] = mode`` line neither uses batch statistics here nor corrupts training.
    """
    model = trainer.model
    bn_params = getattr(model, "bn_params", None)
    bn_list = list(bn_params.values()) if isinstance(bn_params, dict) else list(bn_params or [])
    saved = [bn.get("mode") for bn in bn_list if isinstance(bn, dict)]
    for bn in bn_list:
        if isinstance(bn, dict):
            bn["mode"] = "test"
    try:
        out = []
        for start_row in range(0, len(trainer.X_val), batch_size):
            scores = model.loss(trainer.X_val[start_row:start_row + batch_size])
            out.append(np.argmax(np.asarray(scores), axis=1))
        return np.concatenate(out).astype(np.int64) if out else np.zeros(0, dtype=np.int64)
    finally:
        for bn, mode in zip([b for b in bn_list if isinstance(b, dict)], saved):
            if mode is None:
                bn.pop("mode", None)
            else:
                bn["mode"] = mode
