"""Checks of the affine and ReLU layers (forward and backward, student caches kept in the worker)."""

from __future__ import annotations

import numpy as np

from .base import CheckContext, Verdict, check
from .compare import OutputProblem, as_array, compare


def _ref_affine(ref, x, w, b, dout):
    out, cache = ref.layers.affine_forward(x, w, b)
    dx, dw, db = ref.layers.affine_backward(dout, cache)
    return {"out": out, "dx": dx, "dw": dw, "db": db}


def _ref_affine_forward(ref, x, w, b):
    return ref.layers.affine_forward(x, w, b)[0]


def _ref_relu(ref, x, dout):
    out, cache = ref.layers.relu_forward(x)
    return {"out": out, "dx": ref.layers.relu_backward(dout, cache)}


def _triple(value, what: str):
    if value is None:
        raise OutputProblem(f"{what} returned None: not implemented yet.", "not_implemented")
    if not isinstance(value, (tuple, list)) or len(value) != 3:
        raise OutputProblem(f"{what} must return three arrays (dx, dw, db).")
    return value


@check("layers.affine")
def affine(ctx: CheckContext) -> Verdict:
    v = Verdict()
    rng = ctx.rng
    rtol = ctx.param("rtol")
    x = rng.standard_normal((6, 3, 4, 2))
    w = rng.standard_normal((24, 5)) * 0.5
    b = rng.standard_normal(5)
    dout = rng.standard_normal((6, 5))
    exp = ctx.ref("affine", _ref_affine, x, w, b, dout)
    x2 = x.reshape(6, -1)[:, :24]
    exp2 = ctx.ref("affine_2d", _ref_affine_forward, x2, w, b)

    ok2, res2 = ctx.attempt(v, "forward 2-D", lambda: ctx.forward("layers:affine_forward", x2, w, b))
    if ok2:
        v.compare("forward 2-D", res2[0], exp2, rtol=rtol, what="affine_forward output (2-D x)")
    ok4, res4 = ctx.attempt(v, "forward 4-D", lambda: ctx.forward("layers:affine_forward", x, w, b), weight=2)
    if ok4:
        fwd_ok = v.compare("forward 4-D", res4[0], exp["out"], rtol=rtol, weight=2, what="affine_forward output (4-D x)")
        if not fwd_ok and ok2 and v.cases[0].ok:
            v.diagnose("layers.affine_no_reshape")
    elif ok2 and v.cases[0].ok:
        v.diagnose("layers.affine_no_reshape")
    if not ok4:
        for name in ("dx", "dw", "db"):
            v.add(name, False, message="not tested: affine_forward failed on a 4-D input")
        return v

    ok, grads = ctx.attempt(v, "backward", lambda: _triple(ctx.call("layers:affine_backward", dout, res4[1]), "affine_backward"), weight=3)
    if not ok:
        return v
    dx, dw, db = grads
    _shaped(v, "dx", dx, exp["dx"], rtol, "layers.affine_dx_not_reshaped")
    v.compare("dw", dw, exp["dw"], rtol=rtol, what="dw")
    _shaped(v, "db", db, exp["db"], rtol, "layers.db_shape")
    return v


def _shaped(v: Verdict, name: str, got, expected: np.ndarray, rtol: float, shape_diag: str) -> bool:
    """Compare, naming a wrong-but-reshapeable shape with its own diagnosis."""
    try:
        arr = as_array(got, name, shape=expected.shape, allow_squeeze=True)
    except OutputProblem as exc:
        return v.problem(name, exc)
    got_shape = tuple(np.shape(got))
    if got_shape != expected.shape:
        v.diagnose(shape_diag, got=got_shape, want=expected.shape)
        return v.add(name, False, message=f"{name} has shape {got_shape}, expected {expected.shape}",
                     diagnosis=shape_diag)
    return v.compare(name, arr, expected, rtol=rtol, what=name)


@check("layers.relu")
def relu(ctx: CheckContext) -> Verdict:
    v = Verdict()
    rng = ctx.rng
    x = rng.standard_normal((7, 9))
    x[0, :3] = 0.0  # the kink: `>` and `>=` are both accepted there
    dout = rng.standard_normal((7, 9))
    dout2 = rng.standard_normal((7, 9))
    exp = ctx.ref("relu", _ref_relu, x, dout)
    exp2 = ctx.ref("relu_again", _ref_relu, x, dout2)

    ok, res = ctx.attempt(v, "forward", lambda: ctx.forward("layers:relu_forward", x))
    if not ok:
        v.add("backward", False, message="not tested: relu_forward failed")
        return v
    out, cache = res
    v.compare("forward", out, exp["out"], what="relu_forward output")
    cache_before = ctx.sb.get(cache)
    ok, dx = ctx.attempt(v, "backward", lambda: ctx.call("layers:relu_backward", dout, cache), weight=2)
    if not ok or not _relu_grad_case(v, "backward", dx, exp["dx"], x, dout, weight=2):
        return v  # the cache checks below only mean something once backward works
    cache_after = ctx.sb.get(cache)
    intact = _same(cache_before, cache_after)
    v.add("cache intact after backward", intact, diagnosis=None if intact else "layers.relu_mutates_cache",
          message="" if intact else "relu_backward changed the cached input")
    ok, dx2 = ctx.attempt(v, "second backward, same cache", lambda: ctx.call("layers:relu_backward", dout2, cache))
    if ok:
        _relu_grad_case(v, "second backward, same cache", dx2, exp2["dx"], x, dout2)
    if not intact:
        v.diagnose("layers.relu_mutates_cache")
    return v


def _relu_grad_case(v: Verdict, name: str, dx, expected: np.ndarray, x: np.ndarray, dout: np.ndarray,
                    weight: float = 1.0) -> bool:
    try:
        arr = as_array(dx, f"{name} dx", shape=x.shape)
    except OutputProblem as exc:
        return v.problem(name, exc, weight=weight)
    kink = x == 0
    off_kink = compare(arr[~kink], expected[~kink])
    at_kink = bool(np.all((arr[kink] == 0) | np.isclose(arr[kink], dout[kink], rtol=1e-12, atol=0)))
    ok = off_kink.ok and at_kink
    if not off_kink.ok:
        v.diagnose("layers.relu_wrong_gate")
    return v.add(name, ok, weight=weight, message="" if ok else "relu_backward dx differs from dout * (x > 0)",
                 diagnosis=None if ok else "layers.relu_wrong_gate", **off_kink.as_details())


def _same(a, b) -> bool:
    try:
        return np.array_equal(np.asarray(a), np.asarray(b))
    except (TypeError, ValueError):
        return False
