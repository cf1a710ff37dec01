"""Checks of FullyConnectedNet: initialisation, loss and gradients, L2, batchnorm, dropout, test mode.

The parent SETS the parameters before every loss check, so a wrong initialisation is charged once
(to `fc_net.init`) and every later comparison is against the reference given the same parameters.
Dropout is checked WITHOUT a seed: the masks the student's net really used are recorded in the
worker and the reference is recomputed with them (`_replay`), which exposes a net whose backward
pass uses a different mask than its forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .base import CheckContext, StudentOutputError, Verdict, failed_dependencies, check
from .compare import OutputProblem, as_array, as_float, compare
from .diagnoses import first_match

NET = "nndl.fc_net:FullyConnectedNet"
HIDDEN = [12, 9]
INPUT_DIM = 15
CLASSES = 6
N = 10


# ---- inputs -------------------------------------------------------------------------------------

def make_params(rng: np.random.Generator, hidden=HIDDEN, input_dim=INPUT_DIM, classes=CLASSES,
                batchnorm: bool = False) -> dict[str, np.ndarray]:
    """Well-scaled parameters with biases away from 0 (no ReLU input sits on the kink)."""
    dims = [input_dim, *hidden, classes]
    params: dict[str, np.ndarray] = {}
    for i in range(1, len(dims)):
        params[f"W{i}"] = rng.standard_normal((dims[i - 1], dims[i])) / np.sqrt(dims[i - 1])
        params[f"b{i}"] = rng.uniform(-0.3, 0.3, dims[i])
        if batchnorm and i < len(dims) - 1:
            params[f"gamma{i}"] = rng.uniform(0.5, 1.5, dims[i])
            params[f"beta{i}"] = rng.uniform(-0.3, 0.3, dims[i])
    return params


def make_data(rng: np.random.Generator, n: int = N, input_dim=INPUT_DIM, classes=CLASSES):
    return rng.standard_normal((n, input_dim)), rng.integers(0, classes, n)


def build(ctx: CheckContext, params: dict[str, np.ndarray], *, reg: float = 0.0, batchnorm: bool = False,
          dropout: float | None = None):
    """A student net with our parameters, float64; returns its Handle."""
    kwargs: dict[str, Any] = dict(input_dim=INPUT_DIM, num_classes=CLASSES, reg=reg, use_batchnorm=batchnorm,
                                  dtype=np.float64, weight_scale=1e-2,
                                  dropout=ctx.conventions.dropout_off if dropout is None else dropout)
    model = ctx.sb.call(NET, list(HIDDEN), keep=True, **kwargs)
    ctx.sb.setattr(model, "params", {k: v.copy() for k, v in params.items()})
    return model


def loss_and_grads(ctx: CheckContext, model, X, y) -> tuple[float, dict]:
    """Call loss(X, y); the pair stays in the worker and is fetched part by part (the loss as a
    float, whatever number type the student used)."""
    handle = ctx.sb.call_method(model, "loss", X, y, keep=True)
    try:
        size = ctx.sb.call_method(handle, "__len__")
    except Exception:  # noqa: BLE001 - no len(): not a pair; the sandbox outcome classes are re-raised below
        size = None
    if size != 2:
        whole = _safe_get(ctx, handle)
        if whole is None:
            raise StudentOutputError("loss(X, y) returned None: not implemented yet.", "not_implemented",
                                     what="FullyConnectedNet.loss")
        raise StudentOutputError("loss(X, y) must return a pair (loss, grads).")
    grads = ctx.sb.get(handle[1])
    if not isinstance(grads, dict):
        raise StudentOutputError(f"loss(X, y) must return grads as a dict, got {type(grads).__name__}.")
    loss = ctx.sb.call_method(handle[0], "__float__")
    if not grads and float(loss) == 0.0:
        raise StudentOutputError("loss(X, y) returns loss 0 and no gradients: not implemented yet.",
                                 "not_implemented", what="FullyConnectedNet.loss")
    return as_float(loss, "loss"), grads


def _safe_get(ctx: CheckContext, handle):
    try:
        return ctx.sb.get(handle)
    except Exception:  # noqa: BLE001
        return "unreadable"


# ---- the reference given parameters (and, for dropout, given masks) --------------------------------

def _ref_model(ref, params, X, y, reg, batchnorm):
    model = ref.fc_net.FullyConnectedNet(list(HIDDEN), input_dim=INPUT_DIM, num_classes=CLASSES, reg=reg,
                                         use_batchnorm=batchnorm, dtype=np.float64)
    model.params = {k: v.copy() for k, v in params.items()}
    if y is None:
        return {"scores": model.loss(X)}
    loss, grads = model.loss(X, y)
    return {"loss": float(loss), "grads": grads}


def _replay(ref, params, X, y, *, reg=0.0, batchnorm=False, scales=None, bn_params=None):
    """The reference architecture with the given dropout scales (mask / keep per hidden layer;
    None = no dropout) and bn_params (None = fresh ones in train mode)."""
    L = sum(1 for k in params if k.startswith("W"))
    scales = scales or [None] * (L - 1)
    lay = ref.layers
    h = X.reshape(X.shape[0], -1)
    caches = []
    for i in range(1, L):
        a, fc = lay.affine_forward(h, params[f"W{i}"], params[f"b{i}"])
        bnc = None
        if batchnorm:
            bp = dict(bn_params[i - 1]) if bn_params else {"mode": "train"}
            a, bnc = lay.batchnorm_forward(a, params[f"gamma{i}"], params[f"beta{i}"], bp)
        r, rc = lay.relu_forward(a)
        if scales[i - 1] is not None:
            r = r * scales[i - 1]
        caches.append((fc, bnc, rc))
        h = r
    scores, sc = lay.affine_forward(h, params[f"W{L}"], params[f"b{L}"])
    if y is None:
        return {"scores": scores}
    loss, d = lay.softmax_loss(scores, y)
    loss += 0.5 * reg * sum(float(np.sum(params[f"W{i}"] ** 2)) for i in range(1, L + 1))
    grads = {}
    d, grads[f"W{L}"], grads[f"b{L}"] = lay.affine_backward(d, sc)
    for i in range(L - 1, 0, -1):
        fc, bnc, rc = caches[i - 1]
        if scales[i - 1] is not None:
            d = d * scales[i - 1]
        d = lay.relu_backward(d, rc)
        if batchnorm:
            d, grads[f"gamma{i}"], grads[f"beta{i}"] = lay.batchnorm_backward(d, bnc)
        d, grads[f"W{i}"], grads[f"b{i}"] = lay.affine_backward(d, fc)
    for i in range(1, L + 1):
        grads[f"W{i}"] = grads[f"W{i}"] + reg * params[f"W{i}"]
    return {"loss": float(loss), "grads": grads}


def compare_grads(v: Verdict, grads: dict, expected: dict, params: dict, rtol: float, prefix: str = "") -> bool:
    missing = sorted(set(expected) - set(grads))
    if missing:
        v.add(f"{prefix}grads keys", False, message=f"missing {', '.join(missing)}", diagnosis="fc_net.grads_missing")
        v.diagnose("fc_net.grads_missing", missing=", ".join(missing))
    all_ok = not missing
    scale = max((float(np.max(np.abs(g))) for g in expected.values() if np.size(g)), default=0.0)
    for key in sorted(expected):
        if key not in grads:
            continue
        got_shape = tuple(np.shape(grads[key])) if grads[key] is not None else None
        if got_shape is not None and got_shape != params[key].shape:
            v.add(f"{prefix}grad {key}", False, diagnosis="fc_net.grad_shapes",
                  message=f"shape {got_shape}, expected {params[key].shape}")
            v.diagnose("fc_net.grad_shapes", key=key, got=got_shape, want=params[key].shape)
            all_ok = False
            continue
        all_ok &= v.compare(f"{prefix}grad {key}", grads[key], expected[key], rtol=rtol, what=f"grads[{key!r}]",
                            scale=scale)
    return all_ok


# ---- fc_net.init ------------------------------------------------------------------------------

@check("fc_net.init", reference_free=True)
def init(ctx: CheckContext) -> Verdict:
    v = Verdict()
    hidden, D, C, ws = [50, 40], 60, 10, 0.05
    for label, bn, dtype in (("batchnorm, float64", True, np.float64), ("no batchnorm, default dtype", False, None)):
        kwargs: dict[str, Any] = dict(input_dim=D, num_classes=C, weight_scale=ws, use_batchnorm=bn)
        if dtype is not None:
            kwargs["dtype"] = dtype

        def run(kwargs=kwargs):
            model = ctx.sb.call(NET, list(hidden), keep=True, **kwargs)
            return ctx.sb.getattr(model, "params")

        ok, params = ctx.attempt(v, label, run, weight=4)
        if not ok:
            continue
        if not isinstance(params, dict) or not params:
            v.add(label, False, weight=4, message="model.params is empty: not implemented yet", diagnosis="not_implemented")
            v.diagnose("not_implemented", what="FullyConnectedNet.__init__")
            continue
        _init_cases(v, label, params, [D, *hidden, C], bn, ws, np.dtype(dtype or np.float32))
    return v


def _init_cases(v: Verdict, label: str, params: dict, dims: list[int], bn: bool, ws: float, dtype: np.dtype) -> None:
    L = len(dims) - 1
    want: dict[str, tuple[int, ...]] = {}
    for i in range(1, L + 1):
        want[f"W{i}"] = (dims[i - 1], dims[i])
        want[f"b{i}"] = (dims[i],)
        if bn and i < L:
            want[f"gamma{i}"] = (dims[i],)
            want[f"beta{i}"] = (dims[i],)
    missing = sorted(set(want) - set(params))
    extra = sorted(set(params) - set(want))
    keys_ok = not missing and not extra
    diag = "fc_net.missing_params" if missing else "fc_net.extra_params" if extra else None
    v.add(f"{label}: parameter names", keys_ok, diagnosis=diag,
          message="" if keys_ok else f"missing {missing}, unexpected {extra}")
    v.diagnose(diag, missing=missing, extra=extra)
    bad_shapes = [k for k in want if k in params and tuple(np.shape(params[k])) != want[k]]
    v.add(f"{label}: shapes", not bad_shapes, diagnosis="fc_net.param_shapes" if bad_shapes else None,
          message="" if not bad_shapes else f"wrong shapes: {bad_shapes}")
    if bad_shapes:
        k = bad_shapes[0]
        v.diagnose("fc_net.param_shapes", key=k, got=tuple(np.shape(params[k])), want=want[k])
    present = {k: np.asarray(params[k]) for k in want if k in params and params[k] is not None}

    zero_keys = [k for k in present if k.startswith(("b", "beta"))]
    zeros_ok = all(np.all(present[k] == 0) for k in zero_keys)
    v.add(f"{label}: biases{' and beta' if bn else ''} zero", zeros_ok,
          diagnosis=None if zeros_ok else "fc_net.bias_not_zero")
    if bn:
        gammas = [present[k] for k in present if k.startswith("gamma")]
        gamma_ok = bool(gammas) and all(np.all(g == 1) for g in gammas)
        diag = None
        if not gamma_ok and gammas and all(np.all(g == 0) for g in gammas):
            diag = "fc_net.gamma_zero_init"
            v.diagnose(diag)
        v.add(f"{label}: gamma ones", gamma_ok, diagnosis=diag)
    stds = [float(np.std(present[k])) for k in present if k.startswith("W")]
    spread = float(np.mean(stds)) if stds else 0.0
    spread_ok = bool(stds) and all(abs(s - ws) <= 0.15 * ws for s in stds)
    v.add(f"{label}: weights' spread ~ weight_scale", spread_ok, std=round(spread, 5), expected=ws,
          diagnosis=None if spread_ok else "fc_net.weight_scale_ignored")
    if not spread_ok:
        v.diagnose("fc_net.weight_scale_ignored", got=spread, want=ws)
    bad_dtype = sorted(k for k, a in present.items() if a.dtype != dtype)
    v.add(f"{label}: every param is {dtype.name}", not bad_dtype,
          diagnosis="fc_net.params_not_cast" if bad_dtype else None,
          message="" if not bad_dtype else f"not {dtype.name}: {', '.join(bad_dtype)}")
    if bad_dtype:
        v.diagnose("fc_net.params_not_cast", bad=", ".join(f"{k}: {present[k].dtype}" for k in bad_dtype[:4]))


# ---- fc_net.loss_grads / regularization / batchnorm ---------------------------------------------

def _loss_check(ctx: CheckContext, *, reg: float, batchnorm: bool) -> tuple[Verdict, dict]:
    v = Verdict()
    rtol = ctx.param("rtol")
    params = make_params(ctx.rng, batchnorm=batchnorm)
    X, y = make_data(ctx.rng)
    exp = ctx.ref("loss", _ref_model, params, X, y, reg, batchnorm)
    model = build(ctx, params, reg=reg, batchnorm=batchnorm)
    loss, grads = loss_and_grads(ctx, model, X, y)
    v.add("loss", compare(loss, exp["loss"], rtol=rtol).ok, got=loss, expected=round(exp["loss"], 6),
          message="" if compare(loss, exp["loss"], rtol=rtol).ok else "loss differs from the reference")
    compare_grads(v, grads, exp["grads"], params, rtol)
    return v, {"params": params, "X": X, "y": y, "loss": loss, "grads": grads, "model": model}


@check("fc_net.loss_grads")
def loss_grads(ctx: CheckContext) -> Verdict:
    v, run = _loss_check(ctx, reg=0.0, batchnorm=False)
    exp = ctx.ref("scores", _ref_model, run["params"], run["X"], None, 0.0, False)
    ok, scores = ctx.attempt(v, "scores (y=None)", lambda: ctx.sb.call_method(run["model"], "loss", run["X"]))
    if ok:
        v.compare("scores (y=None)", scores, exp["scores"], rtol=ctx.param("rtol"), what="loss(X) scores")
    return v


@check("fc_net.regularization")
def regularization(ctx: CheckContext) -> Verdict:
    reg = float(ctx.param("reg"))
    v, run = _loss_check(ctx, reg=reg, batchnorm=False)
    params = run["params"]
    # Computed (and so recorded into public data) even when the check passes; used only to diagnose.
    data = ctx.ref_optional("data_term", _ref_model, params, run["X"], run["y"], 0.0, False)
    if v.all_passed or data is None:
        return v
    Ws = sorted(k for k in params if k.startswith("W"))
    sq = {k: float(np.sum(params[k] ** 2)) for k in params}
    penalty = run["loss"] - data["loss"]
    full = 0.5 * reg * sum(sq[k] for k in Ws)
    loss_diag = first_match(penalty, [
        ("fc_net.l2_without_half", 2 * full),
        ("fc_net.l2_missing_in_loss", 0.0),
        ("fc_net.l2_skips_output_layer", 0.5 * reg * sum(sq[k] for k in Ws[:-1])),
        ("fc_net.l2_on_all_params", 0.5 * reg * sum(sq.values())),
    ], rtol=1e-5)
    grads = run["grads"]
    extra = {k: np.asarray(grads[k], dtype=float) - data["grads"][k] for k in Ws
             if k in grads and np.shape(grads[k]) == params[k].shape}
    grad_diag = None
    grads_full = bool(extra) and all(np.allclose(extra[k], reg * params[k]) for k in extra)
    if loss_diag == "fc_net.l2_skips_output_layer" and grads_full and len(extra) == len(Ws):
        loss_diag = "fc_net.l2_output_missing_in_loss"  # the gradient does include it: only the loss is off
    if extra and all(np.allclose(extra[k], 0, atol=1e-9) for k in extra) and compare(penalty, full, rtol=1e-5).ok:
        grad_diag = "fc_net.l2_missing_in_grads"
    elif extra and all(np.allclose(extra[k], 2 * reg * params[k]) for k in extra):
        grad_diag = "fc_net.l2_without_half"
    elif Ws[-1] in extra and np.allclose(extra[Ws[-1]], 0, atol=1e-9):
        grad_diag = "fc_net.l2_skips_output_layer"
    v.diagnose(loss_diag or grad_diag)
    return v


@check("fc_net.batchnorm")
def batchnorm(ctx: CheckContext) -> Verdict:
    v, run = _loss_check(ctx, reg=0.0, batchnorm=True)
    _diagnose_gamma_beta_swapped(ctx, v, run)
    # One training call must update each layer's running statistics exactly once.
    ok, raw = ctx.attempt(v, "running stats updated once", lambda: ctx.sb.getattr(run["model"], "bn_params"))
    if ok:
        _running_stats_once(v, run, bn_list(raw), layer_ok=_layer_stats_ok(ctx))
    return v


def _layer_stats_ok(ctx: CheckContext) -> bool:
    """Whether batchnorm_forward itself stores its running statistics (else the layer is charged)."""
    earlier = ctx.prior.get("batchnorm.running_stats")
    return earlier is None or earlier.status in ("passed", "skipped")


def _diagnose_gamma_beta_swapped(ctx: CheckContext, v: Verdict, run: dict) -> None:
    """The net hands beta where its helper expects gamma: the reference with the two swapped agrees."""
    p = run["params"]
    swapped = dict(p)
    for key in [k for k in p if k.startswith("gamma")]:
        i = key[len("gamma"):]
        swapped[key], swapped[f"beta{i}"] = p[f"beta{i}"], p[key]
    # Computed (and so recorded into public data) even when the check passes; used only to diagnose.
    exp = ctx.ref_optional("loss_gamma_beta_swapped", _ref_model, swapped, run["X"], run["y"], 0.0, True)
    if exp is not None and not v.all_passed and compare(run["loss"], exp["loss"], rtol=1e-6).ok:
        v.diagnose("fc_net.gamma_beta_swapped")


def _running_stats_once(v: Verdict, run: dict, bn_params: list[dict] | None, *, layer_ok: bool) -> None:
    name = "running stats updated once"
    first = bn_params[0] if bn_params else None
    stats = None if first is None else first.get("running_mean")
    if stats is None and not layer_ok:
        return  # batchnorm_forward does not store them: charged to batchnorm.running_stats
    if stats is None:
        v.add(name, False, diagnosis="fc_net.bn_running_stats_not_kept",
              message="after a training call the net's bn_params hold no running_mean")
        v.diagnose("fc_net.bn_running_stats_not_kept")
        return
    p = run["params"]
    a1 = run["X"] @ p["W1"] + p["b1"]
    try:
        got = as_array(stats, "bn_params[0]['running_mean']", shape=a1.shape[1:])
    except OutputProblem as exc:
        v.problem(name, exc)
        return
    once = compare(got, 0.1 * a1.mean(axis=0), rtol=1e-6).ok
    twice = compare(got, 0.19 * a1.mean(axis=0), rtol=1e-6).ok
    v.add(name, once or not twice,
          message="" if once or not twice else "batchnorm_forward ran twice for one layer in one loss call")
    if twice:
        v.diagnose("fc_net.bn_called_twice")


# ---- fc_net.dropout -----------------------------------------------------------------------------

@dataclass
class Placement:
    kinds: list[str]           # per record: input / pre_bn / pre_relu / post_relu / output / repeat / unknown
    scales: list[np.ndarray | None]  # per hidden layer: the forward mask / keep, or None
    per_layer: list[int]       # dropout calls matched per hidden layer


def _record_io(rec: Any) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        x_in = np.asarray(rec["args"][0] if rec.get("args") else rec["kwargs"].get("x"), dtype=float)
        out = np.asarray(rec["result"][0], dtype=float)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        return None
    return (x_in, out) if x_in.shape == out.shape else None


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-7, atol=1e-10))


def classify_dropout_calls(ref, records: list, params: dict, X: np.ndarray, batchnorm: bool) -> Placement:
    """Walk the reference forward pass, matching each recorded dropout call to where it happened."""
    ios = [_record_io(r) for r in records]
    kinds: list[str] = ["unknown"] * len(ios)
    L = sum(1 for k in params if k.startswith("W"))
    scales: list[np.ndarray | None] = [None] * (L - 1)
    per_layer = [0] * (L - 1)
    idx = 0

    def consume(value: np.ndarray, kind: str, layer: int | None) -> np.ndarray:
        nonlocal idx
        first = True
        current = value
        while idx < len(ios) and ios[idx] is not None and (_close(ios[idx][0], value) or _close(ios[idx][0], current)):
            x_in, out = ios[idx]
            kinds[idx] = kind if first else "repeat"
            if first:
                with np.errstate(divide="ignore", invalid="ignore"):
                    scale = np.where(x_in != 0, out / np.where(x_in != 0, x_in, 1), 0.0)
                if layer is not None and kind in ("pre_relu", "post_relu"):
                    scales[layer] = scale
                    per_layer[layer] += 1
                current = out
            first = False
            idx += 1
        return current

    lay = ref.layers
    h = consume(X.reshape(X.shape[0], -1), "input", None)
    for i in range(1, L):
        a, _ = lay.affine_forward(h, params[f"W{i}"], params[f"b{i}"])
        if batchnorm:
            a = consume(a, "pre_bn", None)
            a, _ = lay.batchnorm_forward(a, params[f"gamma{i}"], params[f"beta{i}"], {"mode": "train"})
        a = consume(a, "pre_relu", i - 1)
        r, _ = lay.relu_forward(a)
        h = consume(r, "post_relu", i - 1)
    scores, _ = lay.affine_forward(h, params[f"W{L}"], params[f"b{L}"])
    consume(scores, "output", None)
    return Placement(kinds, scales, per_layer)


def _dropout_scenario(ctx: CheckContext, v: Verdict, *, batchnorm: bool) -> None:
    from ..refimpl import ref

    tag = "with batchnorm: " if batchnorm else ""
    rtol = ctx.param("rtol")
    params = make_params(ctx.rng, batchnorm=batchnorm)
    X, y = make_data(ctx.rng, n=16)
    keep = float(ctx.param("keep"))

    def run():
        model = build(ctx, params, batchnorm=batchnorm, dropout=ctx.dropout_on(keep))
        ctx.sb.record_calls("dropout_forward")
        try:
            loss, grads = loss_and_grads(ctx, model, X, y)
        finally:
            records = ctx.sb.take_records("dropout_forward")
        return loss, grads, records

    ok, res = ctx.attempt(v, f"{tag}loss and grads", run, weight=4)
    if not ok:
        return
    loss, grads, records = res
    H = len(HIDDEN)
    placement = classify_dropout_calls(ref, records or [], params, X, batchnorm)
    v.details[f"{tag or 'plain: '}dropout calls"] = placement.kinds
    kinds = placement.kinds
    diag = None
    if not records:
        diag = "fc_net.dropout_not_called"
    elif "output" in kinds:
        diag = "fc_net.dropout_on_output"
    elif "input" in kinds:
        diag = "fc_net.dropout_on_input"
    elif "pre_bn" in kinds:
        diag = "fc_net.dropout_before_batchnorm"
    elif "repeat" in kinds:
        diag = "fc_net.dropout_called_twice"
    elif placement.per_layer != [1] * H or "unknown" in kinds:
        diag = "fc_net.dropout_wrong_layers"
    placed = diag is None
    layers_broken = "unknown" in kinds and failed_dependencies(ctx.check_id, ctx.prior)
    if not layers_broken:  # with a broken layer the calls cannot be placed: the layer is blamed instead
        # Where dropout goes weighs as much as the loss and gradients given the masks together.
        weight = 1 + len(params)
        v.add(f"{tag}placement after each hidden ReLU", placed, diagnosis=diag, weight=weight,
              message="" if placed else f"dropout calls matched as {kinds}")
        v.diagnose(diag, calls=len(records or []), hidden=H)

    exp = _replay(ref, params, X, y, batchnorm=batchnorm, scales=placement.scales)
    loss_ok = compare(loss, exp["loss"], rtol=rtol).ok
    v.add(f"{tag}loss with the recorded masks", loss_ok, got=loss, expected=round(exp["loss"], 6))
    compare_grads(v, grads, exp["grads"], params, rtol, prefix=tag)


@check("fc_net.dropout")
def dropout(ctx: CheckContext) -> Verdict:
    v = Verdict()
    _dropout_scenario(ctx, v, batchnorm=False)
    _dropout_scenario(ctx, v, batchnorm=True)
    return v


# ---- fc_net.test_mode ---------------------------------------------------------------------------

def bn_list(value: Any) -> list[dict] | None:
    """The net's per-layer bn_params in layer order: a list, or a dict keyed 'bn_param1', ...."""
    if isinstance(value, dict) and value and all(isinstance(p, dict) for p in value.values()):
        return [value[k] for k in sorted(value, key=_layer_number)]
    if isinstance(value, list) and value and all(isinstance(p, dict) for p in value):
        return value
    return None


def _layer_number(key: Any) -> int:
    digits = "".join(ch for ch in str(key) if ch.isdigit())
    return int(digits) if digits else 0


def _has_stats(bn_params: list[dict] | None) -> bool:
    return bool(bn_params) and all(p.get("running_mean") is not None and p.get("running_var") is not None
                                   for p in bn_params)


def _ref_trained_stats(ref, params, batches):
    """Running statistics of the reference net after training calls on `batches` (same params)."""
    model = ref.fc_net.FullyConnectedNet(list(HIDDEN), input_dim=INPUT_DIM, num_classes=CLASSES,
                                         use_batchnorm=True, dtype=np.float64)
    model.params = {k: v.copy() for k, v in params.items()}
    for X, y in batches:
        model.loss(X, y)
    return [{"running_mean": p["running_mean"], "running_var": p["running_var"]} for p in model.bn_params]


def _test_cases(ctx: CheckContext, v: Verdict, model, params, X, label: str, trained) -> None:
    from ..refimpl import ref

    bn_params = bn_list(ctx.sb.getattr(model, "bn_params"))
    s1 = as_array(ctx.sb.call_method(model, "loss", X), "loss(X) scores", shape=(X.shape[0], CLASSES))
    s2 = as_array(ctx.sb.call_method(model, "loss", X), "loss(X) scores", shape=(X.shape[0], CLASSES))
    same = bool(np.array_equal(s1, s2))
    v.add(f"{label}no dropout at test time", same, diagnosis=None if same else "fc_net.dropout_at_test",
          message="" if same else "two test-mode calls on the same X gave different scores")
    if not same:
        v.diagnose("fc_net.dropout_at_test")
        return  # random scores: nothing below can be told apart from the dropout
    part = as_array(ctx.sb.call_method(model, "loss", X[:4]), "loss(X[:4]) scores", shape=(4, CLASSES))
    independent = compare(part, s1[:4], rtol=1e-6).ok
    v.add(f"{label}scores do not depend on the rest of the batch", independent,
          diagnosis=None if independent else "fc_net.bn_test_batch_stats",
          message="" if independent else "batchnorm uses the batch statistics at test time")
    name = f"{label}scores with the model's running statistics"
    if _has_stats(bn_params):
        stats = [{"mode": "test", "running_mean": np.asarray(p["running_mean"], float),
                  "running_var": np.asarray(p["running_var"], float)} for p in bn_params]
    else:
        # The model keeps no running statistics where they can be read: hold it to the reference's.
        stats = [dict(p, mode="test") for p in ctx.ref("trained_stats", _ref_trained_stats, params, trained)]
        name = f"{label}scores with the running statistics of the training calls"
        earlier = ctx.prior.get("fc_net.batchnorm")
        if bn_params is not None and _layer_stats_ok(ctx) and (
                earlier is None or earlier.diagnosis in (None, "fc_net.bn_running_stats_not_kept")):
            v.diagnose("fc_net.bn_running_stats_not_kept")  # not when the net's batchnorm is broken otherwise
    exp = _replay(ref, params, X, None, batchnorm=True, bn_params=stats)
    v.compare(name, s1, exp["scores"], what="test-mode scores")


@check("fc_net.test_mode")
def test_mode(ctx: CheckContext) -> Verdict:
    v = Verdict()
    params = make_params(ctx.rng, batchnorm=True)
    Xtr, ytr = make_data(ctx.rng, n=16)
    Xte, _ = make_data(ctx.rng, n=12)
    trained = [(Xtr, ytr), (Xtr[::-1].copy(), ytr[::-1].copy())]
    model = build(ctx, params, batchnorm=True, dropout=ctx.dropout_on(float(ctx.param("keep"))))
    for X, y in trained:
        loss_and_grads(ctx, model, X, y)
    try:
        _test_cases(ctx, v, model, params, Xte, "", trained)
    except OutputProblem as exc:
        v.problem("test-mode scores", exc)
        return v
    if v.all_passed:
        return v
    bn_params = bn_list(ctx.sb.getattr(model, "bn_params"))
    template_bug = bn_params is not None and any(p.get("test") == "test" and p.get("mode") == "train" for p in bn_params)
    if not template_bug:
        return v
    _force_test_mode(ctx, model)
    retry = Verdict()
    try:
        _test_cases(ctx, retry, model, params, Xte, "", trained)
    except OutputProblem as exc:
        retry.problem("test-mode scores", exc)
    if retry.all_passed and ctx.conventions.waive_template_bn_mode_bug:
        retry.waived = "fc_net.bn_mode_template_bug"
        ctx.warnings.append("The template's `bn_param[mode] = mode` line keeps batchnorm in train mode at test "
                            "time (waived by the rubric; fix it with bn_param['mode'] = mode).")
        return retry
    v.diagnose("fc_net.bn_mode_template_bug")
    return v


def _force_test_mode(ctx: CheckContext, model) -> None:
    """Set 'mode' = 'test' in each of the model's own bn_param dicts (list or dict container alike)."""
    container = ctx.sb.getattr(model, "bn_params", keep=True)
    keys = ctx.sb.get(container)
    for key in (list(keys) if isinstance(keys, dict) else range(len(keys))):
        ctx.sb.setitem(container[key], "mode", "test")
