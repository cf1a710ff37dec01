"""Tolerant comparisons of a student's outputs with expected values, computed in the parent.

Everything a child returns is only "what it says its outputs are": before any number is compared it
goes through `as_array`, which turns None, wrong types, wrong shapes and NaN into an `OutputProblem`
(a failed sub-case with a message), never into a grader crash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


class OutputProblem(Exception):
    """A student's output cannot be compared at all (None, wrong shape, NaN, ...)."""

    def __init__(self, message: str, diagnosis: str | None = None):
        super().__init__(message)
        self.message = message
        self.diagnosis = diagnosis


def rel_error(got: Any, expected: Any) -> float:
    """The notebooks' metric: max |a - b| / max(1e-8, |a| + |b|)."""
    a = np.asarray(got, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    if a.size == 0:
        return 0.0
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)))
    return float(err) if np.isfinite(err) else float("inf")


def norm_error(got: Any, expected: Any) -> float:
    """||a - b|| / max(||a||, ||b||, tiny): robust where single elements are ~0 (e.g. BN's db)."""
    a = np.asarray(got, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    with np.errstate(invalid="ignore", over="ignore"):
        num = float(np.linalg.norm(a - b))
        den = max(float(np.linalg.norm(a)), float(np.linalg.norm(b)), 1e-300)
    err = num / den
    return err if np.isfinite(err) else float("inf")


def as_array(value: Any, what: str, *, shape: tuple[int, ...] | None = None,
             allow_squeeze: bool = False) -> np.ndarray:
    """Validate a child's value as a finite float array of the given shape.

    `allow_squeeze` accepts extra singleton axes (e.g. db shaped (1, M)) for comparison only;
    callers that must charge that shape check it themselves.
    """
    if value is None:
        raise OutputProblem(f"{what} is None: this part is not implemented yet.", "not_implemented")
    if isinstance(value, (bool, np.bool_)):
        raise OutputProblem(f"{what} is a bool ({value}), expected numbers.")
    if isinstance(value, (int, float, np.number)):
        arr = np.asarray(value)
    elif isinstance(value, np.ndarray):
        arr = value
    elif isinstance(value, (list, tuple)):
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise OutputProblem(f"{what} is a {type(value).__name__} that is not an array of numbers.") from None
    else:
        raise OutputProblem(f"{what} has type {type(value).__name__}, expected a numpy array.")
    if arr.dtype.kind not in "fiub":
        raise OutputProblem(f"{what} has dtype {arr.dtype}, expected floating point numbers.")
    if shape is not None and tuple(arr.shape) != tuple(shape):
        if allow_squeeze and arr.size == int(np.prod(shape)) and _squeezes_to(arr.shape, shape):
            arr = arr.reshape(shape)
        else:
            raise OutputProblem(f"{what} has shape {tuple(arr.shape)}, expected {tuple(shape)}.", "wrong_shape")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise OutputProblem(f"{what} contains NaN or infinity.", "not_finite")
    return arr


def _squeezes_to(got: tuple[int, ...], want: tuple[int, ...]) -> bool:
    return tuple(d for d in got if d != 1) == tuple(d for d in want if d != 1)


def as_float(value: Any, what: str) -> float:
    arr = as_array(value, what)
    if arr.size != 1:
        raise OutputProblem(f"{what} should be a single number, got shape {tuple(arr.shape)}.", "wrong_shape")
    return float(arr.reshape(()))


@dataclass(frozen=True)
class Comparison:
    """Outcome of comparing one output: `ok` plus the numbers a report shows."""

    ok: bool
    rel_error: float
    norm_error: float

    def as_details(self) -> dict[str, float]:
        return {"rel_error": _finite_or_str(self.rel_error), "norm_error": _finite_or_str(self.norm_error)}


def compare(got: Any, expected: Any, *, rtol: float = 1e-6, atol_scale: float = 1e-9,
            scale: float | None = None) -> Comparison:
    """Elementwise |a-b| <= atol + rtol*max(|a|,|b|), with atol relative to the expected magnitude.

    Accepts every correct formulation (different summation orders, staged backward passes) while
    rejecting any formula change; elements that should be ~0 are judged against the array's scale,
    or against `scale` (e.g. the largest gradient of the model: BN makes some b gradients exactly 0,
    so both sides are rounding noise).
    """
    a = np.asarray(got, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    if a.shape != b.shape:
        return Comparison(False, float("inf"), float("inf"))
    own = float(np.max(np.abs(b))) if b.size else 0.0
    atol = atol_scale * max(own, scale or 0.0, 1e-12)
    with np.errstate(invalid="ignore", over="ignore"):
        ok = bool(np.all(np.abs(a - b) <= atol + rtol * np.maximum(np.abs(a), np.abs(b))))
    return Comparison(ok and bool(np.all(np.isfinite(a))), rel_error(a, b), norm_error(a, b))


def matches(got: Any, candidate: Any, *, rtol: float = 1e-6) -> bool:
    """Does a student's output equal a candidate (buggy) formula's output? Used for diagnoses."""
    try:
        return compare(got, candidate, rtol=rtol, atol_scale=rtol * 1e-3).ok
    except (TypeError, ValueError):
        return False


def _finite_or_str(x: float) -> float | str:
    return x if np.isfinite(x) else "inf"
