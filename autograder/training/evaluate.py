"""Validation accuracy computed in the trusted parent, never in the child.

The child only ever returns "my parameters" (or "my predictions"); the parent owns the labels.
Parameters are evaluated with the *reference* forward pass in test mode, using the student's own
batchnorm running statistics, so a student model's test-mode bugs (the template's
``bn_param[mode] = mode`` line among them) neither help nor hurt: the trained weights are judged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autograder.sandbox.inside.config_values import decode as decode_value

#: Models the reference forward pass can stand in for.
REFERENCE_MODELS = {("nndl.fc_net", "FullyConnectedNet")}


class NotEvaluable(Exception):
    """The student's snapshot cannot be loaded into the reference model; use predictions instead."""


def accuracy_of(predictions: Any, labels: np.ndarray) -> float:
    """Fraction of ``labels`` matched; anything that is not one integer label per image scores 0."""
    try:
        pred = np.asarray(predictions)
    except Exception:  # noqa: BLE001 - an unconvertible answer is a wrong answer
        return 0.0
    if pred.shape != labels.shape or pred.dtype.kind not in "iu":
        return 0.0
    return float(np.mean(pred == labels))


class ReferenceEvaluator:
    """A reference FullyConnectedNet built once from the student's config, reloaded per epoch."""

    def __init__(self, config: dict[str, Any], X_val: np.ndarray, y_val: np.ndarray, batch_size: int = 500):
        key = (config.get("model_module"), config.get("model_class"))
        if key not in REFERENCE_MODELS:
            raise NotEvaluable(f"custom model {key[0]}.{key[1]}: the reference cannot evaluate it")
        from autograder.refimpl import ref_fc_net

        args = decode_value(list(config.get("model_args") or []))
        kwargs = decode_value(dict(config.get("model_kwargs") or {}))
        state = np.random.get_state()  # the reference's init draws weights: keep the parent's RNG as it was
        try:
            self.model = ref_fc_net.FullyConnectedNet(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the student's arguments, not a grader fault
            raise NotEvaluable(f"the reference model does not accept this config: {exc}") from None
        finally:
            np.random.set_state(state)
        self.shapes = {k: np.shape(v) for k, v in self.model.params.items()}
        self.X_val, self.y_val, self.batch_size = X_val, y_val, batch_size

    def _load(self, params: dict[str, Any], bn_stats: list[Any] | None) -> None:
        if not isinstance(params, dict) or set(params) != set(self.shapes):
            got = sorted(params) if isinstance(params, dict) else type(params).__name__
            raise NotEvaluable(f"parameter names {got} differ from the reference's {sorted(self.shapes)}")
        for name, shape in self.shapes.items():
            value = params[name]
            if not isinstance(value, np.ndarray) or value.shape != shape or value.dtype.kind != "f":
                raise NotEvaluable(f"parameter {name}: expected a float array of shape {shape}")
            self.model.params[name] = value.astype(self.model.dtype, copy=False)
        bn_params = list(getattr(self.model, "bn_params", None) or [])
        if getattr(self.model, "use_batchnorm", False):
            if not isinstance(bn_stats, list) or len(bn_stats) != len(bn_params):
                raise NotEvaluable("batchnorm running statistics missing or one per layer expected")
            for i, (bn, stats) in enumerate(zip(bn_params, bn_stats)):
                width = self.shapes.get(f"gamma{i + 1}")
                for key in ("running_mean", "running_var"):
                    value = stats.get(key) if isinstance(stats, dict) else None
                    if not isinstance(value, np.ndarray) or value.shape != width:
                        raise NotEvaluable(f"layer {i + 1}: {key} missing or not of shape {width}")
                    bn[key] = value.astype(self.model.dtype, copy=False)
        for bn in bn_params:
            bn["mode"] = "test"  # explicit: the template's `bn_param[mode] = mode` bug never applies here

    def accuracy(self, params: dict[str, Any], bn_stats: list[Any] | None) -> float:
        """Validation accuracy of the snapshot; raises NotEvaluable if it does not fit the reference."""
        self._load(params, bn_stats)
        return self.accuracy_on(self.X_val, self.y_val)

    def accuracy_on(self, X: np.ndarray, y: np.ndarray) -> float:
        """Accuracy of the snapshot loaded last (test mode) on any labelled images."""
        correct = 0
        with np.errstate(all="ignore"):  # NaN weights simply predict badly
            for start in range(0, len(y), self.batch_size):
                scores = self.model.loss(np.asarray(X[start:start + self.batch_size]))
                correct += int(np.sum(np.argmax(scores, axis=1) == y[start:start + self.batch_size]))
        return correct / max(len(y), 1)
