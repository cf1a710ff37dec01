"""Checks of batch normalization: training forward, running statistics, test forward, backward.

Inputs span several scales, including features whose variance is far below eps (there eps outside
the square root, or a missing eps, changes the output a lot) and N >= 8 (so N-1 vs N shows).
"""

from __future__ import annotations

import numpy as np

from .base import CheckContext, Verdict, check
from .compare import OutputProblem
from .diagnoses import first_match

EPS = 1e-5
#: (scale, offset) of the inputs; the last has a variance of ~1e-6, well below eps.
SCALES = ((1.0, 0.0), (5.0, 12.0), (1e-3, 3.0))


def _ref_forward(ref, x, gamma, beta, bn_param):
    param = dict(bn_param)
    out, _ = ref.layers.batchnorm_forward(x, gamma, beta, param)
    return {"out": out, "running_mean": param["running_mean"], "running_var": param["running_var"]}


def _ref_backward(ref, x, gamma, beta, dout):
    _, cache = ref.layers.batchnorm_forward(x, gamma, beta, {"mode": "train"})
    dx, dgamma, dbeta = ref.layers.batchnorm_backward(dout, cache)
    return {"dx": dx, "dgamma": dgamma, "dbeta": dbeta}


def _first(result, what: str):
    """The `out` of an (out, cache) result; a stub's (None, None) is "not implemented"."""
    if result is None or (isinstance(result, (tuple, list)) and result and result[0] is None):
        raise OutputProblem(f"{what} returned None: not implemented yet.", "not_implemented")
    if not isinstance(result, (tuple, list)) or len(result) < 1:
        raise OutputProblem(f"{what} must return (out, cache).")
    return result[0]


def _params(ctx: CheckContext, D: int):
    gamma = ctx.rng.uniform(0.5, 2.0, D)
    beta = ctx.rng.standard_normal(D)
    return gamma, beta


def _train_candidates(x, gamma, beta):
    mu, var = x.mean(axis=0), x.var(axis=0)
    return [
        ("batchnorm.eps_outside_sqrt", lambda: gamma * (x - mu) / (np.sqrt(var) + EPS) + beta),
        ("batchnorm.eps_missing", lambda: gamma * (x - mu) / np.sqrt(var) + beta),
        ("batchnorm.var_ddof1", lambda: gamma * (x - mu) / np.sqrt(x.var(axis=0, ddof=1) + EPS) + beta),
        ("batchnorm.stats_no_axis", lambda: gamma * (x - x.mean()) / np.sqrt(x.var() + EPS) + beta),
        # np.var(x) (or np.mean(x)) alone without axis=0, the other statistic per feature
        ("batchnorm.stats_no_axis", lambda: gamma * (x - mu) / np.sqrt(x.var() + EPS) + beta),
        ("batchnorm.stats_no_axis", lambda: gamma * (x - mu) / np.sqrt(np.mean((x - mu) ** 2) + EPS) + beta),
        ("batchnorm.stats_no_axis", lambda: gamma * (x - x.mean()) / np.sqrt(var + EPS) + beta),
        ("batchnorm.gamma_beta_swapped", lambda: beta * (x - mu) / np.sqrt(var + EPS) + gamma),
    ]


@check("batchnorm.forward_train")
def forward_train(ctx: CheckContext) -> Verdict:
    v = Verdict()
    rtol = ctx.param("rtol")
    N, D = 10, 6
    for scale, offset in SCALES:
        name = f"scale {scale:g}"
        x = scale * ctx.rng.standard_normal((N, D)) + offset
        gamma, beta = _params(ctx, D)
        exp = ctx.ref(f"out_{scale:g}", _ref_forward, x, gamma, beta, {"mode": "train"})
        ok, out = ctx.attempt(v, name, lambda: _first(
            ctx.call("layers:batchnorm_forward", x, gamma, beta, {"mode": "train"}), "batchnorm_forward"))
        if not ok:
            continue
        if not v.compare(name, out, exp["out"], rtol=rtol, what=f"batchnorm_forward output ({name})"):
            v.diagnose(first_match(out, _train_candidates(x, gamma, beta)))
    return v


def _running_candidates(x, bn_param, momentum):
    mu, var = x.mean(axis=0), x.var(axis=0)
    D = x.shape[1]
    rm = bn_param.get("running_mean", np.zeros(D))
    rv = bn_param.get("running_var", np.zeros(D))
    return {
        "batchnorm.momentum_swapped": (momentum * mu + (1 - momentum) * rm, momentum * var + (1 - momentum) * rv),
        "batchnorm.running_overwritten": (mu, var),
        "batchnorm.running_var_ddof1": (momentum * rm + (1 - momentum) * mu,
                                        momentum * rv + (1 - momentum) * x.var(axis=0, ddof=1)),
        "batchnorm.momentum_ignored": (0.9 * rm + 0.1 * mu, 0.9 * rv + 0.1 * var),
        "batchnorm.stats_no_axis": (momentum * rm + (1 - momentum) * x.mean(),
                                    momentum * rv + (1 - momentum) * x.var()),
    }


#: Running-stat fingerprints recognisable from the variance alone (the mean may be right).
VAR_ONLY = ("batchnorm.running_var_ddof1", "batchnorm.stats_no_axis")


@check("batchnorm.running_stats")
def running_stats(ctx: CheckContext) -> Verdict:
    v = Verdict()
    N, D = 12, 5
    x = 2.0 * ctx.rng.standard_normal((N, D)) + 1.5
    gamma, beta = _params(ctx, D)
    rm0 = ctx.rng.standard_normal(D)
    rv0 = ctx.rng.uniform(0.5, 2.0, D)
    cases = [
        ("absent running stats, default momentum", {"mode": "train"}),
        ("given running stats, default momentum", {"mode": "train", "running_mean": rm0, "running_var": rv0}),
        ("given running stats, momentum 0.7", {"mode": "train", "running_mean": rm0, "running_var": rv0, "momentum": 0.7}),
    ]
    for label, param in cases:
        exp = ctx.ref(label, _ref_forward, x, gamma, beta, param)
        momentum = float(param.get("momentum", 0.9))

        def run(param=param):
            handle = ctx.sb.put(dict(param))
            _first(ctx.call("layers:batchnorm_forward", x, gamma, beta, handle), "batchnorm_forward")
            return ctx.sb.get(handle)

        ok, after = ctx.attempt(v, label, run, weight=2)
        if not ok:
            continue
        if not isinstance(after, dict):
            v.add(label, False, weight=2, message="bn_param is no longer a dict")
            continue
        both_ok = True
        for key in ("running_mean", "running_var"):
            got = after.get(key)
            name = f"{label}: {key}"
            before = param.get(key)
            if got is None or (before is not None and np.array_equal(np.asarray(got), before)):
                v.add(name, False, diagnosis="batchnorm.running_not_written",
                      message=f"bn_param['{key}'] was not updated")
                v.diagnose("batchnorm.running_not_written")
                both_ok = False
                continue
            both_ok &= v.compare(name, got, exp[key], what=f"bn_param['{key}']")
        if not both_ok:
            got = (after.get("running_mean"), after.get("running_var"))
            for diag, (cand_m, cand_v) in _running_candidates(x, param, momentum).items():
                if diag == "batchnorm.momentum_ignored" and momentum == 0.9:
                    continue
                if first_match(got[0], [(diag, cand_m)]) and first_match(got[1], [(diag, cand_v)]):
                    v.diagnose(diag)
                    break
                if diag in VAR_ONLY and first_match(got[1], [(diag, cand_v)]):
                    v.diagnose(diag)
                    break
    return v


def _test_candidates(x, gamma, beta, rm, rv):
    mu, var = x.mean(axis=0), x.var(axis=0)
    return [
        ("batchnorm.test_uses_batch_stats", lambda: gamma * (x - mu) / np.sqrt(var + EPS) + beta),
        ("batchnorm.test_eps_missing", lambda: gamma * (x - rm) / np.sqrt(rv) + beta),
        ("batchnorm.eps_outside_sqrt", lambda: gamma * (x - rm) / (np.sqrt(rv) + EPS) + beta),
        ("batchnorm.test_no_affine", lambda: (x - rm) / np.sqrt(rv + EPS)),
    ]


@check("batchnorm.forward_test")
def forward_test(ctx: CheckContext) -> Verdict:
    v = Verdict()
    N, D = 8, 6
    for label, small in (("ordinary running variance", False), ("tiny running variance", True)):
        x = 3.0 * ctx.rng.standard_normal((N, D)) + 2.0
        gamma, beta = _params(ctx, D)
        rm = ctx.rng.standard_normal(D)
        rv = ctx.rng.uniform(1e-7, 1e-6, D) if small else ctx.rng.uniform(0.5, 4.0, D)
        param = {"mode": "test", "running_mean": rm, "running_var": rv}
        exp = ctx.ref(label, _ref_forward, x, gamma, beta, param)

        def run(param=param, x=x, gamma=gamma, beta=beta):
            handle = ctx.sb.put(dict(param))
            out = _first(ctx.call("layers:batchnorm_forward", x, gamma, beta, handle), "batchnorm_forward")
            return out, ctx.sb.get(handle)

        ok, res = ctx.attempt(v, label, run, weight=2)
        if not ok:
            continue
        out, after = res
        if not v.compare(label, out, exp["out"], weight=2, what=f"test-mode output ({label})"):
            v.diagnose(first_match(out, _test_candidates(x, gamma, beta, rm, rv)))
        unchanged = isinstance(after, dict) and all(
            np.array_equal(np.asarray(after.get(k)), param[k]) for k in ("running_mean", "running_var"))
        v.add(f"{label}: running stats unchanged by test mode", unchanged,
              message="" if unchanged else "a test-mode call changed running_mean / running_var")
    return v


@check("batchnorm.backward")
def backward(ctx: CheckContext) -> Verdict:
    v = Verdict()
    rtol = ctx.param("rtol")
    N, D = 8, 5
    for scale, offset in ((5.0, 12.0), (1.0, 0.0)):
        tag = f"scale {scale:g}"
        x = scale * ctx.rng.standard_normal((N, D)) + offset
        gamma, beta = _params(ctx, D)
        dout = ctx.rng.standard_normal((N, D))
        exp = ctx.ref(tag, _ref_backward, x, gamma, beta, dout)

        def run(x=x, gamma=gamma, beta=beta, dout=dout):
            _, cache = ctx.forward("layers:batchnorm_forward", x, gamma, beta, {"mode": "train"})
            grads = ctx.call("layers:batchnorm_backward", dout, cache)
            if grads is None:
                raise OutputProblem("batchnorm_backward returned None: not implemented yet.", "not_implemented")
            if not isinstance(grads, (tuple, list)) or len(grads) != 3:
                raise OutputProblem("batchnorm_backward must return (dx, dgamma, dbeta).")
            return grads

        ok, grads = ctx.attempt(v, tag, run, weight=4)
        if not ok:
            continue
        dx, dgamma, dbeta = grads
        var = x.var(axis=0)
        if not v.compare(f"{tag}: dx", dx, exp["dx"], rtol=rtol, weight=2, what="dx"):
            v.diagnose(first_match(dx, [("batchnorm.dx_constant_stats", lambda: dout * gamma / np.sqrt(var + EPS))]))
        if not v.compare(f"{tag}: dgamma", dgamma, exp["dgamma"], rtol=rtol, what="dgamma"):
            v.diagnose("batchnorm.dgamma_wrong")
        if not v.compare(f"{tag}: dbeta", dbeta, exp["dbeta"], rtol=rtol, what="dbeta"):
            v.diagnose("batchnorm.dbeta_wrong")
    return v
