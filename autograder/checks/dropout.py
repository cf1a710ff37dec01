"""Checks of the dropout layer: statistics and exact values of inverted dropout, test mode, backward.

The expected values need no reference run: inverted dropout's output is pinned down by its own
mask (zero where dropped, x / keep elsewhere), so every comparison is made against the student's
mask with the keep probability the rubric's convention gives `p`.
"""

from __future__ import annotations

import math

import numpy as np

from .base import CheckContext, Verdict, check
from .compare import OutputProblem, as_array, compare


def _out_of(result, what: str):
    if result is None:
        raise OutputProblem(f"{what} returned None: not implemented yet.", "not_implemented")
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise OutputProblem(f"{what} must return a pair (out, cache).")
    return result[0]


def _inputs(ctx: CheckContext, shape=(200, 250)) -> np.ndarray:
    return ctx.rng.standard_normal(shape) + 10.0


def _seed(ctx: CheckContext, *label) -> int:
    return ctx.rubric.seed_for(ctx.check_id, *label) % (2**31)


@check("dropout.forward_train", reference_free=True)
def forward_train(ctx: CheckContext) -> Verdict:
    v = Verdict()
    ps = [float(p) for p in ctx.param("ps")]
    x = _inputs(ctx)
    v.details["ps"] = ps
    first_out = None
    for p in ps:
        keep = ctx.keep_prob(p)
        param = {"mode": "train", "p": p, "seed": _seed(ctx, p)}
        ok, res = ctx.attempt(v, f"p={p}", lambda: _out_of(ctx.call("layers:dropout_forward", x, param), "dropout_forward"), weight=3)
        if not ok:
            continue
        try:
            out = as_array(res, f"dropout_forward output (p={p})", shape=x.shape)
        except OutputProblem as exc:
            v.problem(f"p={p}", exc, weight=3)
            continue
        if first_out is None:
            first_out = out
        _zero_fraction_case(v, p, keep, out)
        _scaling_case(v, p, keep, x, out)
        _mean_case(v, p, keep, x, out)

    p = ps[len(ps) // 2]
    keep = ctx.keep_prob(p)
    x32 = x.astype(np.float32)
    param = {"mode": "train", "p": p, "seed": _seed(ctx, "f32")}
    ok, res = ctx.attempt(v, "float32 input", lambda: _out_of(ctx.call("layers:dropout_forward", x32, param), "dropout_forward"))
    if ok:
        dtype = getattr(res, "dtype", None)
        same = dtype == np.float32
        v.add("float32 input keeps its dtype", same, diagnosis=None if same else "dropout.dtype_changed",
              message="" if same else f"returned {dtype} for a float32 input", got=str(dtype))
        if not same:
            v.diagnose("dropout.dtype_changed", got=str(dtype), want="float32")
        try:
            out32 = as_array(res, "dropout_forward output (float32)", shape=x.shape)
            kept = out32 != 0
            cmp = compare(out32[kept], x32[kept].astype(np.float64) / keep, rtol=1e-5)
            v.add("float32 kept values = x/p", cmp.ok, **cmp.as_details())
        except OutputProblem as exc:
            v.problem("float32 kept values = x/p", exc)

    p = ps[0]
    param = {"mode": "train", "p": p, "seed": _seed(ctx, p)}
    if first_out is not None:
        ok, res = ctx.attempt(v, "same seed, same output", lambda: _out_of(ctx.call("layers:dropout_forward", x, param), "dropout_forward"))
        if ok:
            same = _equal(res, first_out)
            v.add("same seed, same output", same, diagnosis=None if same else "dropout.seed_ignored")
    return v


def _zero_fraction_case(v: Verdict, p: float, keep: float, out: np.ndarray) -> None:
    zeroed = float(np.mean(out == 0))
    want = 1.0 - keep
    tol = 4 * math.sqrt(max(keep * (1 - keep), 1e-6) / out.size) + 0.005
    ok = abs(zeroed - want) <= tol
    diag = None
    if not ok and abs(zeroed - keep) <= tol:
        diag = "dropout.p_is_drop_probability" if keep == p else "dropout.p_is_keep_probability"
        v.diagnose(diag, zeroed=zeroed, p=p, want=want)
    v.add(f"fraction zeroed, p={p}", ok, diagnosis=diag, zeroed=round(zeroed, 4), expected=round(want, 4),
          message="" if ok else f"{zeroed:.3f} of the units zeroed, expected about {want:.3f}")


def _scaling_case(v: Verdict, p: float, keep: float, x: np.ndarray, out: np.ndarray) -> None:
    kept = out != 0
    if not kept.any():
        v.add(f"kept values = x/p, p={p}", False, message="every unit was dropped")
        return
    cmp = compare(out[kept], x[kept] / keep, rtol=1e-6)
    diag = None
    if not cmp.ok:
        ratio = float(np.median(x[kept] / out[kept]))
        if compare(out[kept], x[kept], rtol=1e-6).ok:
            diag = "dropout.no_inverted_scaling"
            v.diagnose(diag)
        elif 0 < ratio < 1 and compare(out[kept], x[kept] / ratio, rtol=1e-6).ok:
            diag = "dropout.wrong_scaling"
            v.diagnose(diag, used=ratio, want=keep)
    v.add(f"kept values = x/p, p={p}", cmp.ok, diagnosis=diag,
          message="" if cmp.ok else "kept units are not x divided by the keep probability", **cmp.as_details())


def _mean_case(v: Verdict, p: float, keep: float, x: np.ndarray, out: np.ndarray) -> None:
    spread = math.sqrt(float(np.mean(x * x)) * (1 - keep) / keep / x.size)
    diff = abs(float(out.mean()) - float(x.mean()))
    ok = diff <= 5 * spread + 1e-9
    v.add(f"mean preserved, p={p}", ok, input_mean=round(float(x.mean()), 4), output_mean=round(float(out.mean()), 4),
          message="" if ok else f"output mean {out.mean():.3f} vs input mean {x.mean():.3f}")


def _equal(a, b) -> bool:
    try:
        return np.array_equal(np.asarray(a), np.asarray(b))
    except (TypeError, ValueError):
        return False


@check("dropout.forward_test", reference_free=True)
def forward_test(ctx: CheckContext) -> Verdict:
    v = Verdict()
    ps = [float(p) for p in ctx.param("ps")]
    x = _inputs(ctx, (40, 50))
    for p in ps[:2]:
        for dtype in (np.float64, np.float32):
            xin = x.astype(dtype)
            name = f"identity, p={p}, {np.dtype(dtype).name}"
            ok, res = ctx.attempt(v, name, lambda: _out_of(ctx.call("layers:dropout_forward", xin, {"mode": "test", "p": p}), "dropout_forward"))
            if not ok:
                continue
            try:
                out = as_array(res, f"test-mode output ({name})", shape=x.shape)
            except OutputProblem as exc:
                v.problem(name, exc)
                continue
            same = bool(np.allclose(out, xin, rtol=1e-6, atol=0))
            if not same:
                v.diagnose("dropout.applied_at_test")
            v.add(name, same, diagnosis=None if same else "dropout.applied_at_test",
                  zeroed=round(float(np.mean(out == 0)), 4),
                  message="" if same else "test mode must return x unchanged")
    return v


@check("dropout.backward", reference_free=True)
def backward(ctx: CheckContext) -> Verdict:
    v = Verdict()
    ps = [float(p) for p in ctx.param("ps")]
    x = _inputs(ctx, (30, 40))
    dout = ctx.rng.standard_normal(x.shape)
    for p in (ps[0], ps[-1]):
        keep = ctx.keep_prob(p)
        name = f"train mode, p={p}"
        param = {"mode": "train", "p": p, "seed": _seed(ctx, p)}
        ok, res = ctx.attempt(v, name, lambda: ctx.forward("layers:dropout_forward", x, param), weight=2)
        if not ok:
            continue
        try:
            out = as_array(res[0], "dropout_forward output", shape=x.shape)
        except OutputProblem as exc:
            v.problem(name, exc, weight=2)
            continue
        ok, dx = ctx.attempt(v, name, lambda: ctx.call("layers:dropout_backward", dout, res[1]), weight=2)
        if not ok:
            continue
        kept = out != 0
        expected = np.where(kept, dout / keep, 0.0)
        try:
            arr = as_array(dx, f"dropout_backward dx ({name})", shape=x.shape)
        except OutputProblem as exc:
            v.problem(name, exc, weight=2)
            continue
        cmp = compare(arr, expected)
        diag = None
        if not cmp.ok:
            if compare(arr, np.where(kept, dout, 0.0)).ok:
                diag = "dropout.backward_not_scaled"
            elif not np.array_equal(arr != 0, kept):
                diag = "dropout.backward_mask_mismatch"
            v.diagnose(diag)
        v.add(name, cmp.ok, weight=2, diagnosis=diag, **cmp.as_details(),
              message="" if cmp.ok else "dx is not dout / p where the forward kept a unit and 0 elsewhere")

    name = "test mode"
    p = ps[0]
    ok, res = ctx.attempt(v, name, lambda: ctx.forward("layers:dropout_forward", x, {"mode": "test", "p": p}))
    if ok:
        ok, dx = ctx.attempt(v, name, lambda: ctx.call("layers:dropout_backward", dout, res[1]))
        if ok:
            useless = _nothing_useful(dx)
            if useless:
                v.add(name, False, diagnosis="dropout.backward_test_missing", message=f"returned {useless} in test mode")
                v.diagnose("dropout.backward_test_missing")
            else:
                v.compare(name, dx, dout, what="test-mode dx")
    return v


def _nothing_useful(dx) -> str | None:
    """What a test-mode backward left as a stub returns: None, a bare number, or all zeros."""
    if dx is None:
        return "None"
    if isinstance(dx, (bool, int, float, np.number)) or (isinstance(dx, np.ndarray) and dx.ndim == 0):
        return f"the number {dx!r}"
    if isinstance(dx, np.ndarray) and dx.dtype.kind in "fiub" and dx.size and not np.any(dx):
        return "all zeros"
    return None
