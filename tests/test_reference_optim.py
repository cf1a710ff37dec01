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
