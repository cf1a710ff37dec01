"""The reference update rules (reference/nndl/optim.py) against updates computed by hand, with
the course's config key names (velocity; rmsprop `a`; adam `v`, `a`, `t`)."""

import numpy as np
import pytest

from autograder.refimpl import ref

optim = ref.optim

N, D = 4, 5


def notebook_arrays():
    """The notebooks' fixed inputs: evenly spaced 4x5 arrays."""
    w = np.linspace(-0.4, 0.6, num=N * D).reshape(N, D)
    dw = np.linspace(-0.6, 0.4, num=N * D).reshape(N, D)
    state = np.linspace(0.6, 0.9, num=N * D).reshape(N, D)
    return w, dw, state


def test_sgd_in_place_with_default_learning_rate():
    w, dw, _ = notebook_arrays()
    expected = w - 1e-2 * dw
    next_w, config = optim.sgd(w, dw)
    np.testing.assert_allclose(next_w, expected)
    assert config == {"learning_rate": 1e-2}


def test_sgd_momentum_two_steps_accumulate_velocity():
    w, dw, v = notebook_arrays()
    config = {"learning_rate": 1e-3, "velocity": v.copy()}
    next_w, config = optim.sgd_momentum(w, dw, config)
    v1 = 0.9 * v - 1e-3 * dw
    np.testing.assert_allclose(config["velocity"], v1, rtol=1e-12)
    np.testing.assert_allclose(next_w, w + v1, rtol=1e-12)
    assert config["momentum"] == 0.9
    next_w2, config = optim.sgd_momentum(next_w, dw, config)
    v2 = 0.9 * v1 - 1e-3 * dw
    np.testing.assert_allclose(config["velocity"], v2, rtol=1e-12)
    np.testing.assert_allclose(next_w2, w + v1 + v2, rtol=1e-12)


def test_sgd_momentum_starts_from_zero_velocity():
    w, dw, _ = notebook_arrays()
    next_w, config = optim.sgd_momentum(w, dw, None)
    np.testing.assert_allclose(next_w, w - 1e-2 * dw)
    np.testing.assert_allclose(config["velocity"], -1e-2 * dw)


def test_sgd_nesterov_momentum_looks_ahead():
    w, dw, v = notebook_arrays()
    mu, lr = 0.9, 1e-3
    config = {"learning_rate": lr, "velocity": v.copy()}
    next_w, config = optim.sgd_nesterov_momentum(w, dw, config)
    v_new = mu * v - lr * dw
    np.testing.assert_allclose(config["velocity"], v_new, rtol=1e-12)
    np.testing.assert_allclose(next_w, w + v_new + mu * (v_new - v), rtol=1e-12)
    # Equivalent classic form: w - mu * v + (1 + mu) * v_new.
    np.testing.assert_allclose(next_w, w - mu * v + (1 + mu) * v_new, rtol=1e-12)


def test_rmsprop_stores_running_square_in_a():
    w, dw, a = notebook_arrays()
    config = {"learning_rate": 1e-2, "a": a.copy()}
    next_w, config = optim.rmsprop(w, dw, config)
    a_new = 0.99 * a + 0.01 * dw ** 2
    np.testing.assert_allclose(config["a"], a_new, rtol=1e-12)
    np.testing.assert_allclose(next_w, w - 1e-2 * dw / (np.sqrt(a_new) + 1e-8), rtol=1e-12)
    assert config["decay_rate"] == 0.99 and config["epsilon"] == 1e-8
    assert "cache" not in config


def test_adam_increments_t_first_and_bias_corrects():
    w, dw, _ = notebook_arrays()
    v = np.linspace(0.1, 0.4, num=N * D).reshape(N, D)
    a = np.linspace(0.7, 0.5, num=N * D).reshape(N, D)
    config = {"learning_rate": 1e-2, "v": v.copy(), "a": a.copy(), "t": 5}
    next_w, config = optim.adam(w, dw, config)
    assert config["t"] == 6
    v_new = 0.9 * v + 0.1 * dw
    a_new = 0.999 * a + 0.001 * dw ** 2
    np.testing.assert_allclose(config["v"], v_new, rtol=1e-12)
    np.testing.assert_allclose(config["a"], a_new, rtol=1e-12)
    v_hat, a_hat = v_new / (1 - 0.9 ** 6), a_new / (1 - 0.999 ** 6)
    np.testing.assert_allclose(next_w, w - 1e-2 * v_hat / (np.sqrt(a_hat) + 1e-8), rtol=1e-12)
    assert not {"m", "cache"} & set(config)


def test_adam_first_step_from_defaults_moves_by_learning_rate():
    """With zero moments and t=0, the first bias-corrected step is lr * sign(dw)."""
    w, dw, _ = notebook_arrays()
    next_w, config = optim.adam(w, dw)
    assert config["learning_rate"] == 1e-3 and config["t"] == 1
    np.testing.assert_allclose(next_w, w - 1e-3 * np.sign(dw), rtol=1e-6)


@pytest.mark.parametrize("rule", ["sgd_momentum", "sgd_nesterov_momentum", "rmsprop", "adam"])
def test_rules_keep_caller_hyperparameters(rule):
    w, dw, _ = notebook_arrays()
    config = {"learning_rate": 0.5}
    _, out = getattr(optim, rule)(w.copy(), dw, config)
    assert out["learning_rate"] == 0.5


@pytest.mark.parametrize("rule,lr", [("sgd", 0.1), ("sgd_momentum", 0.05),
                                     ("sgd_nesterov_momentum", 0.05), ("rmsprop", 0.01), ("adam", 0.05)])
def test_rules_minimise_a_quadratic(rule, lr):
    target = np.array([1.0, -2.0, 0.5])
    w, config = np.zeros(3), {"learning_rate": lr}
    for _ in range(500):
        w, config = getattr(optim, rule)(w, 2 * (w - target), config)
    np.testing.assert_allclose(w, target, atol=0.05)


@pytest.mark.parametrize("rule,keys", [("rmsprop", ["a"]), ("adam", ["v", "a"])])
def test_moments_update_in_place_and_w_is_left_alone(rule, keys):
    """The moment arrays in config are updated in place (the same objects come back, holding the
    new values) while the caller's w is not modified: next_w is a new array."""
    w, dw, state = notebook_arrays()
    w_before = w.copy()
    config = {key: state.copy() for key in keys}
    arrays = {key: config[key] for key in keys}
    next_w, config = getattr(optim, rule)(w, dw, config)
    np.testing.assert_array_equal(w, w_before)
    assert next_w is not w and not np.shares_memory(next_w, w)
    for key in keys:
        assert config[key] is arrays[key]
        assert not np.array_equal(config[key], state)
    next_w2, _ = getattr(optim, rule)(next_w, dw, config)
    assert not np.shares_memory(next_w2, next_w)


@pytest.mark.parametrize("rule,lr", [("sgd", np.float64(1e-2)), ("sgd_momentum", 1e-2),
                                     ("sgd_nesterov_momentum", 1e-2), ("rmsprop", np.float64(1e-2)),
                                     ("adam", np.float64(1e-2))])
def test_float32_stays_float32_over_steps_and_matches_float64(rule, lr):
    """No silent upcast: float32 weights, gradients and state stay float32 step after step and
    agree with float64. The in-place rules keep float32 even with a NumPy float64 learning rate
    (a typical random-search value); the Solver hands every rule Python numbers anyway."""
    w64, dw64, _ = notebook_arrays()
    w32, config32, config64 = w64.astype(np.float32), {"learning_rate": lr}, {"learning_rate": 1e-2}
    for k in range(3):
        dw = dw64 * (k + 1)
        w32, config32 = getattr(optim, rule)(w32, dw.astype(np.float32), config32)
        w64, config64 = getattr(optim, rule)(w64, dw, config64)
        assert w32.dtype == np.float32
        for key, value in config32.items():
            if isinstance(value, np.ndarray):
                assert value.dtype == np.float32, key
    np.testing.assert_allclose(w32, w64, rtol=1e-5, atol=1e-6)


def test_adam_matches_the_textbook_formula_over_many_steps():
    """Ten steps from an empty config against the formula written out, in float64."""
    rng = np.random.default_rng(7)
    w = rng.standard_normal((6, 4))
    v, a, config, expected = np.zeros_like(w), np.zeros_like(w), {"learning_rate": 3e-3}, w.copy()
    for t in range(1, 11):
        dw = rng.standard_normal(w.shape)
        v = 0.9 * v + 0.1 * dw
        a = 0.999 * a + 0.001 * dw * dw
        expected = expected - 3e-3 * (v / (1 - 0.9 ** t)) / (np.sqrt(a / (1 - 0.999 ** t)) + 1e-8)
        w, config = optim.adam(w, dw, config)
    np.testing.assert_allclose(w, expected, rtol=1e-12)
    np.testing.assert_allclose(config["v"], v, rtol=1e-12)
    np.testing.assert_allclose(config["a"], a, rtol=1e-12)
    assert config["t"] == 10
