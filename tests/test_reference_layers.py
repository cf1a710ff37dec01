"""The reference layers (reference/nndl/layers.py, layer_utils.py) against the math, the
given numerical-gradient helpers (reference/cs231n/gradient_check.py), and autograder.refimpl.

Gradients are checked in float64 with centred differences written here, independently of the
helpers under test.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from autograder import refimpl
from autograder.refimpl import helpers, ref

layers = ref.layers
layer_utils = ref.layer_utils


def numeric_grad(f, x, df, h=1e-5):
    """d/dx of sum(f(x) * df) by centred differences."""
    grad = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        orig = x[ix]
        x[ix] = orig + h
        plus = np.array(f(x), copy=True)
        x[ix] = orig - h
        minus = np.array(f(x), copy=True)
        x[ix] = orig
        grad[ix] = np.sum((plus - minus) * df) / (2 * h)
    return grad


def rel_error(a, b):
    """The notebooks' elementwise relative error."""
    return np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)))


def norm_error(a, b, floor=1e-8):
    """Norm-based relative error with an absolute floor (for gradients that are exactly 0)."""
    return np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), floor)


@pytest.fixture
def rng():
    return np.random.default_rng(231)


# ---- affine / relu ---------------------------------------------------------------------------

def test_affine_forward_flattens_each_example(rng):
    x = rng.standard_normal((4, 2, 3, 5))
    w = rng.standard_normal((30, 7))
    b = rng.standard_normal(7)
    out, cache = layers.affine_forward(x, w, b)
    expected = np.einsum("nijk,ijkm->nm", x, w.reshape(2, 3, 5, 7)) + b
    assert out.shape == (4, 7)
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    assert cache[0] is x and cache[1] is w and cache[2] is b


def test_affine_backward_matches_numeric_gradient(rng):
    x = rng.standard_normal((10, 2, 3))
    w = rng.standard_normal((6, 5))
    b = rng.standard_normal(5)
    dout = rng.standard_normal((10, 5))
    _, cache = layers.affine_forward(x, w, b)
    dx, dw, db = layers.affine_backward(dout, cache)
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape
    assert rel_error(dx, numeric_grad(lambda v: layers.affine_forward(v, w, b)[0], x, dout)) < 1e-7
    assert rel_error(dw, numeric_grad(lambda v: layers.affine_forward(x, v, b)[0], w, dout)) < 1e-7
    assert rel_error(db, numeric_grad(lambda v: layers.affine_forward(x, w, v)[0], b, dout)) < 1e-7


def test_relu_forward_and_backward(rng):
    x = rng.standard_normal((8, 9))
    x_before = x.copy()
    out, cache = layers.relu_forward(x)
    np.testing.assert_array_equal(out, np.where(x > 0, x, 0))
    dout = rng.standard_normal(x.shape)
    dout_before = dout.copy()
    dx = layers.relu_backward(dout, cache)
    np.testing.assert_array_equal(dx, np.where(x_before > 0, dout_before, 0))
    # Neither the cached input nor the upstream gradient is modified in place.
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(dout, dout_before)
    assert rel_error(dx, numeric_grad(lambda v: layers.relu_forward(v)[0], x, dout)) < 1e-7


# ---- batch normalization ---------------------------------------------------------------------

def test_batchnorm_train_normalises_then_scales_and_shifts(rng):
    x = 3.0 * rng.standard_normal((200, 3)) + 11.0
    gamma, beta = np.array([1.0, 2.0, 3.0]), np.array([11.0, 12.0, 13.0])
    out, _ = layers.batchnorm_forward(x, np.ones(3), np.zeros(3), {"mode": "train"})
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-10)
    np.testing.assert_allclose(out.std(axis=0), 1, rtol=1e-5)  # eps keeps it just below 1
    out, _ = layers.batchnorm_forward(x, gamma, beta, {"mode": "train"})
    np.testing.assert_allclose(out.mean(axis=0), beta, rtol=1e-10)
    np.testing.assert_allclose(out.std(axis=0), gamma, rtol=1e-5)
    expected = gamma * (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5) + beta
    np.testing.assert_allclose(out, expected, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batchnorm_running_stats_defaults_and_momentum(rng, dtype):
    x = (5 * rng.standard_normal((50, 4)) + 2).astype(dtype)
    bn_param = {"mode": "train"}
    layers.batchnorm_forward(x, np.ones(4, dtype), np.zeros(4, dtype), bn_param)
    # Defaults: running averages start at zeros of x's dtype, momentum 0.9, biased variance.
    assert bn_param["running_mean"].dtype == dtype
    assert bn_param["running_var"].dtype == dtype
    np.testing.assert_allclose(bn_param["running_mean"], 0.1 * x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(bn_param["running_var"], 0.1 * x.var(0), rtol=1e-5)

    bn_param = {"mode": "train", "momentum": 0.5,
                "running_mean": np.full(4, 1.0, dtype), "running_var": np.full(4, 2.0, dtype)}
    layers.batchnorm_forward(x, np.ones(4, dtype), np.zeros(4, dtype), bn_param)
    np.testing.assert_allclose(bn_param["running_mean"], 0.5 * 1.0 + 0.5 * x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(bn_param["running_var"], 0.5 * 2.0 + 0.5 * x.var(0), rtol=1e-5)


def test_batchnorm_test_mode_uses_running_stats_and_leaves_them(rng):
    W1, W2 = rng.standard_normal((50, 60)), rng.standard_normal((60, 3))
    gamma, beta = np.ones(3), np.zeros(3)
    bn_param = {"mode": "train"}
    for _ in range(50):  # warm up the running averages, as the notebook does
        a = np.maximum(0, rng.standard_normal((200, 50)) @ W1) @ W2
        layers.batchnorm_forward(a, gamma, beta, bn_param)
    bn_param["mode"] = "test"
    running = (bn_param["running_mean"].copy(), bn_param["running_var"].copy())
    a = np.maximum(0, rng.standard_normal((200, 50)) @ W1) @ W2
    out, _ = layers.batchnorm_forward(a, gamma, beta, bn_param)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=0.2)
    np.testing.assert_allclose(out.std(axis=0), 1, atol=0.2)
    np.testing.assert_array_equal(bn_param["running_mean"], running[0])
    np.testing.assert_array_equal(bn_param["running_var"], running[1])
    # Exactly the running-statistics formula, gamma and beta included.
    g, b = np.array([0.5, 2.0, 3.0]), np.array([1.0, -1.0, 4.0])
    out, _ = layers.batchnorm_forward(a, g, b, bn_param)
    expected = g * (a - running[0]) / np.sqrt(running[1] + 1e-5) + b
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_batchnorm_rejects_unknown_mode(rng):
    with pytest.raises(ValueError):
        layers.batchnorm_forward(rng.standard_normal((4, 2)), np.ones(2), np.zeros(2), {"mode": "eval"})


@pytest.mark.parametrize("shape,scale,shift", [((4, 5), 5.0, 12.0), ((10, 7), 0.1, -3.0), ((32, 3), 50.0, 0.0)])
def test_batchnorm_backward_matches_numeric_gradient(rng, shape, scale, shift):
    x = scale * rng.standard_normal(shape) + shift
    gamma = rng.standard_normal(shape[1])
    beta = rng.standard_normal(shape[1])
    dout = rng.standard_normal(shape)

    def fwd(xx, gg, bb):
        return layers.batchnorm_forward(xx, gg, bb, {"mode": "train"})[0]

    _, cache = layers.batchnorm_forward(x, gamma, beta, {"mode": "train"})
    dx, dgamma, dbeta = layers.batchnorm_backward(dout, cache)
    assert norm_error(dx, numeric_grad(lambda v: fwd(v, gamma, beta), x, dout)) < 1e-7
    assert norm_error(dgamma, numeric_grad(lambda v: fwd(x, v, beta), gamma, dout)) < 1e-7
    assert norm_error(dbeta, numeric_grad(lambda v: fwd(x, gamma, v), beta, dout)) < 1e-7


# ---- dropout (p = probability of KEEPING a unit) --------------------------------------------

@pytest.mark.parametrize("p", [0.3, 0.6, 0.75])
def test_dropout_train_keeps_fraction_p_and_preserves_mean(p):
    np.random.seed(0)
    x = np.random.randn(500, 500) + 10
    out, (param, mask) = layers.dropout_forward(x, {"mode": "train", "p": p})
    assert abs((out == 0).mean() - (1 - p)) < 0.01
    assert abs(out.mean() - x.mean()) / x.mean() < 0.01
    kept = out != 0
    np.testing.assert_allclose(out[kept], x[kept] / p, rtol=1e-12)  # inverted dropout
    assert param["p"] == p and mask.shape == x.shape


@pytest.mark.parametrize("p", [0.3, 0.6, 0.75])
def test_dropout_test_mode_is_identity(p):
    x = np.random.default_rng(1).standard_normal((50, 40)) + 10
    out, (param, mask) = layers.dropout_forward(x, {"mode": "test", "p": p})
    np.testing.assert_array_equal(out, x)
    assert mask is None and param["mode"] == "test"
    dout = np.random.default_rng(2).standard_normal(x.shape)
    np.testing.assert_array_equal(layers.dropout_backward(dout, (param, mask)), dout)


def test_dropout_seed_makes_it_deterministic_and_keeps_dtype():
    x = np.random.default_rng(3).standard_normal((30, 20)).astype(np.float32)
    a, _ = layers.dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 7})
    np.random.rand(100)  # moving the global RNG in between does not matter with a seed
    b, _ = layers.dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 7})
    c, _ = layers.dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 8})
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.dtype == np.float32
    assert layers.dropout_forward(x, {"mode": "test", "p": 0.5})[0].dtype == np.float32


@pytest.mark.parametrize("p", [0.25, 0.8])
def test_dropout_backward_matches_numeric_gradient(p):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((10, 10)) + 10
    dout = rng.standard_normal(x.shape)
    param = {"mode": "train", "p": p, "seed": 123}
    _, cache = layers.dropout_forward(x, param)
    dx = layers.dropout_backward(dout, cache)
    assert rel_error(dx, numeric_grad(lambda v: layers.dropout_forward(v, param)[0], x, dout)) < 1e-7


# ---- losses ----------------------------------------------------------------------------------

@pytest.mark.parametrize("loss_name", ["softmax_loss", "svm_loss"])
def test_losses_gradients(rng, loss_name):
    loss_fn = getattr(layers, loss_name)
    x = 0.1 * rng.standard_normal((12, 6))
    y = rng.integers(6, size=12)
    _, dx = loss_fn(x, y)
    assert rel_error(dx, numeric_grad(lambda v: loss_fn(v, y)[0], x, np.array(1.0))) < 1e-7


def test_softmax_loss_is_mean_cross_entropy(rng):
    assert layers.softmax_loss(np.zeros((9, 10)), rng.integers(10, size=9))[0] == pytest.approx(np.log(10))
    x = rng.standard_normal((5, 4))
    y = rng.integers(4, size=5)
    p = np.exp(x) / np.exp(x).sum(1, keepdims=True)
    assert layers.softmax_loss(x, y)[0] == pytest.approx(-np.log(p[np.arange(5), y]).mean())


# ---- layer_utils -----------------------------------------------------------------------------

def test_affine_relu_sandwich(rng):
    x, w, b = rng.standard_normal((6, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5)
    dout = rng.standard_normal((6, 5))
    out, cache = layer_utils.affine_relu_forward(x, w, b)
    np.testing.assert_allclose(out, np.maximum(0, x @ w + b))
    dx, dw, db = layer_utils.affine_relu_backward(dout, cache)
    f = layer_utils.affine_relu_forward
    assert rel_error(dx, numeric_grad(lambda v: f(v, w, b)[0], x, dout)) < 1e-7
    assert rel_error(dw, numeric_grad(lambda v: f(x, v, b)[0], w, dout)) < 1e-7
    assert rel_error(db, numeric_grad(lambda v: f(x, w, v)[0], b, dout)) < 1e-7


def test_affine_batchnorm_relu_sandwich(rng):
    x, w, b = rng.standard_normal((8, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5)
    gamma, beta = rng.standard_normal(5), rng.standard_normal(5) + 0.3
    dout = rng.standard_normal((8, 5))
    f = layer_utils.affine_batchnorm_relu_forward

    def fwd(xx, ww, bb, gg, be):
        return f(xx, ww, bb, gg, be, {"mode": "train"})[0]

    _, cache = f(x, w, b, gamma, beta, {"mode": "train"})
    dx, dw, db, dgamma, dbeta = layer_utils.affine_batchnorm_relu_backward(dout, cache)
    assert norm_error(dx, numeric_grad(lambda v: fwd(v, w, b, gamma, beta), x, dout)) < 1e-7
    assert norm_error(dw, numeric_grad(lambda v: fwd(x, v, b, gamma, beta), w, dout)) < 1e-7
    assert np.abs(db).max() < 1e-12  # batchnorm removes the bias
    assert norm_error(dgamma, numeric_grad(lambda v: fwd(x, w, b, v, beta), gamma, dout)) < 1e-7
    assert norm_error(dbeta, numeric_grad(lambda v: fwd(x, w, b, gamma, v), beta, dout)) < 1e-7


def test_float32_layers_stay_float32_and_leave_their_inputs_alone(rng):
    """The training path in float32: every output, cached array and gradient keeps float32 (a
    float64 temporary would upcast them), no input is modified in place, and the values agree
    with the same chain in float64 (dropout masks drawn from the same seed)."""
    x64, w64 = rng.standard_normal((16, 6)), rng.standard_normal((6, 5))
    b64, g64, be64 = rng.standard_normal(5), rng.standard_normal(5), rng.standard_normal(5)
    dout64 = rng.standard_normal((16, 5))
    results = {}
    for dtype in (np.float32, np.float64):
        x, w, b, gamma, beta, dout = (v.astype(dtype) for v in (x64, w64, b64, g64, be64, dout64))
        originals = [v.copy() for v in (x, w, b, gamma, beta, dout)]
        out, cache = layer_utils.affine_batchnorm_relu_forward(x, w, b, gamma, beta, {"mode": "train"})
        dropped, dcache = layers.dropout_forward(out, {"mode": "train", "p": 0.7, "seed": 3})
        grads = layer_utils.affine_batchnorm_relu_backward(layers.dropout_backward(dout, dcache), cache)
        cached = [a for part in cache for a in (part if isinstance(part, tuple) else (part,))
                  if isinstance(a, np.ndarray)] + [dcache[1]]
        if dtype == np.float32:
            assert {a.dtype for a in [out, dropped, *grads, *cached]} == {np.dtype(np.float32)}
        for before, after in zip(originals, (x, w, b, gamma, beta, dout)):
            np.testing.assert_array_equal(before, after)
        results[dtype] = [dropped, *grads]
    for r32, r64 in zip(results[np.float32], results[np.float64]):
        np.testing.assert_allclose(r32, r64, rtol=2e-4, atol=2e-4)


# ---- the given gradient_check helpers --------------------------------------------------------

def test_eval_numerical_gradient_scalar_function(capsys):
    gc = helpers.gradient_check
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    grad = gc.eval_numerical_gradient(lambda v: np.sum(v ** 3), x, verbose=True)
    np.testing.assert_allclose(grad, 3 * x ** 2, rtol=1e-8)
    np.testing.assert_array_equal(x, [[1.0, -2.0], [0.5, 3.0]])  # restored
    assert capsys.readouterr().out.count("\n") == 4  # one line per entry when verbose


def test_eval_numerical_gradient_array_and_sparse(rng, capsys):
    gc = helpers.gradient_check
    x = rng.standard_normal((3, 4))
    W = rng.standard_normal((4, 2))
    df = rng.standard_normal((3, 2))
    grad = gc.eval_numerical_gradient_array(lambda v: np.tanh(v @ W), x, df)
    expected = (df * (1 - np.tanh(x @ W) ** 2)) @ W.T
    np.testing.assert_allclose(grad, expected, rtol=1e-7)

    gc.grad_check_sparse(lambda v: np.sum(v ** 2), x, 2 * x, num_checks=5)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 5
    assert all(float(line.rsplit(" ", 1)[1]) < 1e-8 for line in lines)


def test_eval_numerical_gradient_blobs_and_net(rng):
    gc = helpers.gradient_check

    class Blob:
        def __init__(self, vals):
            self.vals = vals
            self.diffs = np.zeros_like(vals)

    a, b = Blob(rng.standard_normal(4)), Blob(rng.standard_normal(4))
    out = Blob(np.zeros(4))
    out.diffs = rng.standard_normal(4)

    def product(x, y, o):
        o.vals = x.vals * y.vals

    da, db = gc.eval_numerical_gradient_blobs(product, (a, b), out)
    np.testing.assert_allclose(da, out.diffs * b.vals, rtol=1e-8)
    np.testing.assert_allclose(db, out.diffs * a.vals, rtol=1e-8)

    class Net:
        def forward(self):
            product(a, b, out)

    (da2, db2) = gc.eval_numerical_gradient_net(Net(), (a, b), out)
    np.testing.assert_allclose(da2, da)
    np.testing.assert_allclose(db2, db)


# ---- autograder.refimpl: how the trusted parent reaches the reference -------------------------

def test_refimpl_loads_reference_under_private_names():
    assert ref.layers.__name__ == "_ref_nndl.layers"
    assert ref.fc_net.__name__ == "_ref_nndl.fc_net"
    assert refimpl.ref_optim is ref.optim and refimpl.ref_layer_utils is ref.layer_utils
    assert helpers.solver.__name__ == "_ref_cs231n.solver"
    assert (refimpl.reference_dir() / "nndl" / "layers.py").samefile(ref.layers.__file__)
    # The fc_net module uses the very same layer functions (one copy of the reference).
    assert ref.fc_net.dropout_forward is ref.layers.dropout_forward
    with pytest.raises(AttributeError):
        refimpl.ref_solver  # noqa: B018 - only the nndl modules have ref_* names


def test_refimpl_without_reference_imports_but_refuses_access(tmp_path):
    """The student profile ships no reference/: importing refimpl works, using it says why not."""
    code = (
        "from autograder.refimpl import ref, ReferenceUnavailable, available\n"
        "assert not available()\n"
        "for attempt in (lambda: ref.layers, lambda: __import__('autograder.refimpl', fromlist=['x']).ref_fc_net):\n"
        "    try:\n"
        "        attempt()\n"
        "    except ReferenceUnavailable as exc:\n"
        "        assert 'not available' in str(exc), exc\n"
        "    else:\n"
        "        raise SystemExit('no error')\n"
        "import sys; assert not any(m.startswith(('_ref_nndl', 'nndl')) for m in sys.modules)\n"
    )
    env = dict(os.environ, NNDL_REFERENCE_DIR=str(tmp_path / "absent"))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                          cwd=str(Path(__file__).resolve().parent.parent))
    assert done.returncode == 0, done.stdout + done.stderr
