"""The reference FullyConnectedNet / TwoLayerNet (reference/nndl/fc_net.py): structure, modes,
regularization and float64 gradient checks over dropout x batchnorm x reg."""

import itertools

import numpy as np
import pytest

from autograder.refimpl import ref

fc_net = ref.fc_net


def numeric_grad_scalar(f, x, h=1e-5):
    grad = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        orig = x[ix]
        x[ix] = orig + h
        plus = f()
        x[ix] = orig - h
        minus = f()
        x[ix] = orig
        grad[ix] = (plus - minus) / (2 * h)
    return grad


def grad_error(analytic, numeric, atol=1e-8):
    """Norm-based relative error; gradients that are exactly 0 (b_i under batchnorm) only need
    the numeric one below atol."""
    diff = np.linalg.norm(analytic - numeric)
    if diff < atol:
        return 0.0
    return diff / (np.linalg.norm(analytic) + np.linalg.norm(numeric))


def make_net(dropout=0, use_batchnorm=False, reg=0.0, seed=123, hidden=(20, 30), D=15, C=10):
    np.random.seed(seed)
    model = fc_net.FullyConnectedNet(list(hidden), input_dim=D, num_classes=C, weight_scale=5e-2,
                                     dtype=np.float64, dropout=dropout, seed=seed,
                                     use_batchnorm=use_batchnorm, reg=reg)
    # Biases and batchnorm parameters away from their initial 0/1 so no ReLU input sits on the
    # kink at 0 and every gradient is generic.
    rng = np.random.default_rng(seed)
    for name, value in model.params.items():
        if not name.startswith("W"):
            model.params[name] = value + 0.1 * rng.standard_normal(value.shape)
    return model


CASES = list(itertools.product([0, 0.25, 0.5], [False, True], [0.0, 0.7]))


@pytest.mark.parametrize("dropout,use_batchnorm,reg", CASES)
def test_fc_net_gradients_match_numeric(dropout, use_batchnorm, reg):
    model = make_net(dropout, use_batchnorm, reg)
    rng = np.random.default_rng(7)
    X = rng.standard_normal((8, 15))
    y = rng.integers(10, size=8)
    loss, grads = model.loss(X, y)
    assert np.isfinite(loss)
    assert set(grads) == set(model.params)
    for name in sorted(grads):
        assert grads[name].shape == model.params[name].shape
        num = numeric_grad_scalar(lambda: model.loss(X, y)[0], model.params[name])
        assert grad_error(grads[name], num) < 1e-7, name


def test_init_shapes_dtypes_and_attributes():
    model = fc_net.FullyConnectedNet([20, 30], input_dim=15, num_classes=10, dropout=0.5,
                                     use_batchnorm=True, reg=0.1, seed=3)
    assert model.num_layers == 3
    assert model.use_batchnorm and model.use_dropout and model.reg == 0.1
    assert model.dtype == np.float32
    expected = {"W1": (15, 20), "b1": (20,), "W2": (20, 30), "b2": (30,), "W3": (30, 10), "b3": (10,),
                "gamma1": (20,), "beta1": (20,), "gamma2": (30,), "beta2": (30,)}
    assert {k: v.shape for k, v in model.params.items()} == expected
    assert all(v.dtype == np.float32 for v in model.params.values())
    np.testing.assert_array_equal(model.params["b2"], 0)
    np.testing.assert_array_equal(model.params["gamma1"], 1)
    np.testing.assert_array_equal(model.params["beta2"], 0)
    assert model.dropout_param == {"mode": "train", "p": 0.5, "seed": 3}
    assert model.bn_params == [{"mode": "train"}, {"mode": "train"}]


def test_weight_scale_sets_the_weight_std():
    np.random.seed(0)
    model = fc_net.FullyConnectedNet([400], input_dim=300, num_classes=200, weight_scale=0.03)
    assert model.params["W1"].std() == pytest.approx(0.03, rel=0.05)
    assert model.params["W2"].std() == pytest.approx(0.03, rel=0.05)


def test_defaults_mean_no_dropout_and_no_batchnorm():
    model = fc_net.FullyConnectedNet([10], input_dim=6, num_classes=3)
    assert not model.use_dropout and not model.use_batchnorm
    assert model.dropout_param == {} and model.bn_params == []
    assert sorted(model.params) == ["W1", "W2", "b1", "b2"]
    X = np.random.default_rng(0).standard_normal((4, 6))
    model.loss(X, np.array([0, 1, 2, 0]))
    assert model.dropout_param == {}  # loss() leaves an unused dropout_param alone


def test_initial_loss_is_log_num_classes():
    np.random.seed(1)
    model = fc_net.FullyConnectedNet([50, 50], input_dim=20, num_classes=10, weight_scale=1e-3,
                                     dtype=np.float64)
    X = np.random.randn(100, 20)
    loss, _ = model.loss(X, np.random.randint(10, size=100))
    assert loss == pytest.approx(np.log(10), rel=1e-3)


def test_regularization_is_half_reg_sum_of_squared_weights_only():
    model = make_net(use_batchnorm=True, reg=0.0)
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((8, 15)), rng.integers(10, size=8)
    base, base_grads = model.loss(X, y)
    model.reg = 3.14
    loss, grads = model.loss(X, y)
    penalty = 0.5 * 3.14 * sum(np.sum(model.params[f"W{i}"] ** 2) for i in (1, 2, 3))
    assert loss == pytest.approx(base + penalty, rel=1e-12)
    for name in grads:
        extra = 3.14 * model.params[name] if name.startswith("W") else 0
        np.testing.assert_allclose(grads[name], base_grads[name] + extra, rtol=1e-10, atol=1e-12)


def test_test_mode_uses_running_stats_and_no_dropout():
    model = make_net(dropout=0.5, use_batchnorm=True)
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((16, 15)), rng.integers(10, size=16)
    model.loss(X, y)
    assert model.dropout_param["mode"] == "train"
    assert all(bn["mode"] == "train" for bn in model.bn_params)
    running = [bn["running_mean"].copy() for bn in model.bn_params]

    scores = model.loss(X)
    assert scores.shape == (16, 10)
    assert model.dropout_param["mode"] == "test"
    assert all(bn["mode"] == "test" for bn in model.bn_params)  # no `bn_param[mode] = mode` bug
    for bn, before in zip(model.bn_params, running):
        np.testing.assert_array_equal(bn["running_mean"], before)
    # Test mode is deterministic and row-independent: scoring one example alone gives the same row.
    np.testing.assert_allclose(model.loss(X[:1]), scores[:1], rtol=1e-12)
    np.testing.assert_array_equal(model.loss(X), scores)

    # By hand: affine - BN(running stats) - relu, no dropout scaling, then the output affine.
    h = X
    for i, bn in enumerate(model.bn_params, start=1):
        a = h @ model.params[f"W{i}"] + model.params[f"b{i}"]
        a = (a - bn["running_mean"]) / np.sqrt(bn["running_var"] + 1e-5)
        h = np.maximum(0, model.params[f"gamma{i}"] * a + model.params[f"beta{i}"])
    np.testing.assert_allclose(scores, h @ model.params["W3"] + model.params["b3"], rtol=1e-10)


def test_dropout_applies_after_every_hidden_relu_but_not_the_output(monkeypatch):
    model = make_net(dropout=0.5)
    seen = []
    real = fc_net.dropout_forward

    def spy(x, param):
        seen.append(x.shape)
        return real(x, param)

    monkeypatch.setattr(fc_net, "dropout_forward", spy)
    rng = np.random.default_rng(4)
    model.loss(rng.standard_normal((8, 15)), rng.integers(10, size=8))
    assert seen == [(8, 20), (8, 30)]


def test_unseeded_dropout_masks_are_consistent_between_passes():
    """Without a seed each forward draws new masks; backward must reuse the forward's masks:
    the gradient of W3 is then exactly the hidden activations the forward pass used."""
    np.random.seed(5)
    model = fc_net.FullyConnectedNet([20, 30], input_dim=15, dropout=0.5, dtype=np.float64)
    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((8, 15)), rng.integers(10, size=8)
    np.random.seed(9)
    loss_a, grads_a = model.loss(X, y)
    np.random.seed(9)
    loss_b, grads_b = model.loss(X, y)
    assert loss_a == loss_b
    np.testing.assert_array_equal(grads_a["W1"], grads_b["W1"])
    loss_c, _ = model.loss(X, y)
    assert loss_c != loss_a  # fresh masks


def test_float32_model_computes_in_float32():
    model = fc_net.FullyConnectedNet([8], input_dim=5, num_classes=3, use_batchnorm=True, dropout=0.5)
    X = np.random.default_rng(0).standard_normal((6, 5))  # float64 input is cast
    loss, grads = model.loss(X, np.array([0, 1, 2, 0, 1, 2]))
    assert all(g.dtype == np.float32 for g in grads.values())
    assert model.loss(X).dtype == np.float32


def test_two_layer_net():
    np.random.seed(0)
    model = fc_net.TwoLayerNet(input_dim=12, hidden_dims=9, num_classes=4, weight_scale=1e-1, reg=0.3)
    assert {k: v.shape for k, v in model.params.items()} == {
        "W1": (12, 9), "b1": (9,), "W2": (9, 4), "b2": (4,)}
    rng = np.random.default_rng(0)
    model.params["b1"] = rng.standard_normal(9) * 0.1
    X, y = rng.standard_normal((6, 12)), rng.integers(4, size=6)
    assert model.loss(X).shape == (6, 4)
    loss, grads = model.loss(X, y)
    for name in grads:
        num = numeric_grad_scalar(lambda: model.loss(X, y)[0], model.params[name])
        assert grad_error(grads[name], num) < 1e-7, name
