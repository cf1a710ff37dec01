"""Checks of the update rules: one step from a given state, and several steps from an empty config
feeding the returned config back (as the Solver does), so state that is not stored back shows.

Worth 0 points by default (the Optimization notebook grades them), but training uses the
student's optimizers, so every failure says that it can explain a low accuracy.
"""

from __future__ import annotations

import numpy as np

from .base import CheckContext, Verdict, check
from .compare import OutputProblem, as_array, compare
from .diagnoses import OPTIM_NOTE, first_match

#: eps inside or outside the square root (both common, both fine) differ by eps / (2 a) relative
#: to the step; the inputs keep every gradient at |dw| >= 0.5 (so a >= 2.5e-3 from an empty
#: config) and updates are compared as steps (next_w - w), so that stays below 1e-5 (TOLERANCE).
RTOL = 1e-5

#: rule -> (state keys stored back in config, hyper-parameters for the "given state" case)
RULES = {
    "sgd_momentum": (("velocity",), {"learning_rate": 1e-3}),
    "sgd_nesterov_momentum": (("velocity",), {"learning_rate": 1e-3}),
    "rmsprop": (("a",), {"learning_rate": 1e-2}),
    "adam": (("v", "a", "t"), {"learning_rate": 1e-2}),
}
STEPS = 3


def _given_state(rule: str, shape, rng: np.random.Generator) -> dict:
    _, hyper = RULES[rule]
    config = dict(hyper)
    if rule in ("sgd_momentum", "sgd_nesterov_momentum"):
        config["velocity"] = rng.uniform(-0.5, 0.5, shape)
    elif rule == "rmsprop":
        config["a"] = rng.uniform(0.1, 0.9, shape)
    else:
        config.update(v=rng.uniform(-0.5, 0.5, shape), a=rng.uniform(0.1, 0.9, shape), t=5)
    return config


def _ref_steps(ref, rule, w, dws, config):
    fn = getattr(ref.optim, rule)
    config = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in config.items()}
    ws = []
    for dw in dws:
        w, config = fn(w.copy(), dw, config)
        ws.append(w)
    return {"ws": ws, "config": config}


def _step(ctx: CheckContext, rule: str, w, dw, config):
    result = ctx.call(f"optim:{rule}", w, dw, config)
    if result is None:
        raise OutputProblem(f"{rule} returned None: not implemented yet.", "not_implemented")
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise OutputProblem(f"{rule} must return (next_w, config).")
    next_w, new_config = result
    if next_w is None:
        raise OutputProblem(f"{rule} returned next_w = None: not implemented yet.", "not_implemented")
    if not isinstance(new_config, dict):
        raise OutputProblem(f"{rule} must return its config dict, got {type(new_config).__name__}.")
    return next_w, new_config


def _candidates(rule: str, w, dw, config):
    lr = config.get("learning_rate", 1e-2 if rule != "adam" else 1e-3)
    if rule in ("sgd_momentum", "sgd_nesterov_momentum"):
        mu = config.get("momentum", 0.9)
        v = config.get("velocity", np.zeros_like(w))
        v_new = mu * v - lr * dw
        cands = [("optim.nesterov_is_momentum", w + v_new),
                 ("optim.nesterov_sign", w + v_new - mu * (v_new - v)),
                 ("optim.nesterov_sign", w - mu * v + (1 - mu) * v_new),
                 # sign errors in the CS231n form w - mu * v + (1 + mu) * v'
                 ("optim.nesterov_sign", w + mu * v - (1 + mu) * v_new),
                 ("optim.nesterov_sign", w + mu * v + (1 + mu) * v_new),
                 ("optim.nesterov_sign", w - mu * v - (1 + mu) * v_new)]
        return cands if rule == "sgd_nesterov_momentum" else []
    if rule == "rmsprop":
        return []
    b1, b2, eps = config.get("beta1", 0.9), config.get("beta2", 0.999), config.get("epsilon", 1e-8)
    t = config.get("t", 0)
    v = b1 * config.get("v", np.zeros_like(w)) + (1 - b1) * dw
    a = b2 * config.get("a", np.zeros_like(w)) + (1 - b2) * dw * dw
    cands = [("optim.adam_no_bias_correction", w - lr * v / (np.sqrt(a) + eps))]
    if t > 0:
        cands.append(("optim.adam_t_after", w - lr * (v / (1 - b1**t)) / (np.sqrt(a / (1 - b2**t)) + eps)))
    return cands


def _check_rule(ctx: CheckContext, rule: str) -> Verdict:
    v = Verdict()
    keys, hyper = RULES[rule]
    shape = (4, 5)
    w = np.linspace(-0.4, 0.6, 20).reshape(shape)
    dw = np.linspace(-0.6, 0.4, 20).reshape(shape)
    given = _given_state(rule, shape, ctx.rng)
    exp = ctx.ref("given_state", _ref_steps, rule, w, [dw], given)

    ok, res = ctx.attempt(v, "one step from a given state", lambda: _step(ctx, rule, w, dw, given), weight=2)
    if ok:
        next_w, config = res
        if not _compare_step(v, "one step: next_w", next_w, exp["ws"][0], w, "next_w"):
            v.diagnose(first_match(next_w, _candidates(rule, w, dw, given), rtol=RTOL) or "optim.wrong_update")
        _state_cases(v, "one step", config, exp["config"], keys, given)

    # Gradients away from 0: where |dw| ~ sqrt(eps) the two accepted eps placements really differ.
    dws = [ctx.rng.choice([-1.0, 1.0], shape) * ctx.rng.uniform(0.5, 1.5, shape) for _ in range(STEPS)]
    start = dict(hyper)
    exp = ctx.ref("steps", _ref_steps, rule, w, dws, start)

    def run():
        cur_w, config = w, dict(start)
        for dw_k in dws:
            cur_w, config = _step(ctx, rule, cur_w, dw_k, config)
        return cur_w, config

    ok, res = ctx.attempt(v, f"{STEPS} steps from an empty config", run, weight=2)
    if ok:
        final_w, config = res
        _compare_step(v, f"{STEPS} steps: final w", final_w, exp["ws"][-1], w, "w after several steps")
        _state_cases(v, f"{STEPS} steps", config, exp["config"], keys, start)
    if not v.all_passed:
        v.note(OPTIM_NOTE.strip())
    return v


def _compare_step(v: Verdict, name: str, got, expected: np.ndarray, w0: np.ndarray, what: str) -> bool:
    """Compare the update got - w0 with expected - w0: relative to the step, not to w (an element of
    w near 0 would otherwise magnify eps-placement rounding into a failure)."""
    try:
        arr = as_array(got, what, shape=expected.shape)
    except OutputProblem as exc:
        return v.problem(name, exc)
    cmp = compare(arr - w0, expected - w0, rtol=RTOL)
    return v.add(name, cmp.ok, message="" if cmp.ok else f"{what} differs from the expected values",
                 **cmp.as_details())


def _state_cases(v: Verdict, label: str, config: dict, expected: dict, keys, sent: dict) -> None:
    """The state must come back updated: absent, or still what was sent (or zeros), is "not stored"."""
    for key in keys:
        name = f"{label}: config[{key!r}]"
        got = config.get(key)
        before = sent.get(key, 0)
        if got is None or (np.shape(got) == np.shape(before) and np.array_equal(got, before)) \
                or (key not in sent and np.size(got) > 1 and not np.any(got)):
            v.add(name, False, diagnosis="optim.state_not_stored", message=f"config[{key!r}] was not updated")
            v.diagnose("optim.state_not_stored", key=key)
            continue
        v.compare(name, got, np.asarray(expected[key], dtype=np.float64), what=f"config[{key!r}]", rtol=RTOL)


@check("optim.sgd_momentum")
def sgd_momentum(ctx: CheckContext) -> Verdict:
    return _check_rule(ctx, "sgd_momentum")


@check("optim.sgd_nesterov_momentum")
def sgd_nesterov_momentum(ctx: CheckContext) -> Verdict:
    return _check_rule(ctx, "sgd_nesterov_momentum")


@check("optim.rmsprop")
def rmsprop(ctx: CheckContext) -> Verdict:
    return _check_rule(ctx, "rmsprop")


@check("optim.adam")
def adam(ctx: CheckContext) -> Verdict:
    return _check_rule(ctx, "adam")
