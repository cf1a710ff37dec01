"""The given Solver (reference/cs231n/solver.py): options, bookkeeping, logs, hooks, and training
with every reference update rule, on small generated data."""

import re
import sys
import types

import numpy as np
import pytest

from autograder.refimpl import helpers, ref

Solver = helpers.solver.Solver


@pytest.fixture
def reference_nndl(monkeypatch):
    """Make `nndl.optim` resolve to the reference rules, as a student's nndl would in a notebook."""
    package = types.ModuleType("nndl")
    package.optim = ref.optim
    monkeypatch.setitem(sys.modules, "nndl", package)
    monkeypatch.setitem(sys.modules, "nndl.optim", ref.optim)


def blobs(n, seed, d=10, classes=3):
    """Linearly separable-ish Gaussian clusters."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).standard_normal((classes, d)) * 2
    y = rng.integers(classes, size=n)
    return centres[y] + rng.standard_normal((n, d)), y


def small_data():
    X_train, y_train = blobs(200, 1)
    X_val, y_val = blobs(60, 2)
    return {"X_train": X_train, "y_train": y_train, "X_val": X_val, "y_val": y_val}


def small_net(**kwargs):
    np.random.seed(0)
    return ref.fc_net.FullyConnectedNet([20], input_dim=10, num_classes=3, weight_scale=0.1,
                                        dtype=np.float64, **kwargs)


class ScheduledModel:
    """A fake model whose accuracy follows a schedule: each sgd step (lr 1) adds 1 to params['w'],
    and the model classifies correctly the rows whose X[:, 0] is below schedule[w]."""

    def __init__(self, schedule):
        self.schedule = schedule
        self.params = {"w": np.array(0.0)}

    def loss(self, X, y=None):
        if y is None:
            acc = self.schedule[min(int(self.params["w"]), len(self.schedule) - 1)]
            scores = np.zeros((X.shape[0], 2))
            right = X[:, 0] < acc
            scores[np.arange(X.shape[0]), np.where(right, X[:, 1], 1 - X[:, 1]).astype(int)] = 1
            return scores
        return 1.0, {"w": np.array(-1.0)}


def scheduled_data(n=10):
    X = np.stack([(np.arange(n) + 0.5) / n, np.arange(n) % 2], axis=1)
    y = (np.arange(n) % 2).astype(int)
    return {"X_train": X, "y_train": y, "X_val": X.copy(), "y_val": y.copy()}


def test_logs_and_history_lengths(reference_nndl, capsys):
    solver = Solver(small_net(), small_data(), update_rule="sgd", optim_config={"learning_rate": 0.05},
                    batch_size=50, num_epochs=3, print_every=5)
    solver.train()
    # 200 examples / 50 per batch = 4 iterations per epoch, 3 epochs.
    assert len(solver.loss_history) == 12
    assert len(solver.train_acc_history) == len(solver.val_acc_history) == 4  # epoch 0 + 3 ends
    assert solver.epoch == 3
    lines = capsys.readouterr().out.splitlines()
    iterations = [line for line in lines if line.startswith("(Iteration")]
    epochs = [line for line in lines if line.startswith("(Epoch")]
    assert [line.split(")")[0] for line in iterations] == ["(Iteration 1 / 12", "(Iteration 6 / 12",
                                                           "(Iteration 11 / 12"]
    assert all(re.fullmatch(r"\(Iteration \d+ / 12\) loss: \d+\.\d{6}", line) for line in iterations)
    assert [line.split(")")[0] for line in epochs] == [f"(Epoch {e} / 3" for e in range(4)]
    assert all(re.fullmatch(r"\(Epoch \d / 3\) train acc: \d\.\d{6}; val_acc: \d\.\d{6}", line)
               for line in epochs)


def test_verbose_false_prints_nothing(reference_nndl, capsys):
    Solver(small_net(), small_data(), num_epochs=1, verbose=False).train()
    assert capsys.readouterr().out == ""


def test_lr_decay_once_per_epoch_on_private_configs(reference_nndl):
    optim_config = {"learning_rate": 0.01}
    solver = Solver(small_net(), small_data(), update_rule="sgd_momentum", optim_config=optim_config,
                    lr_decay=0.5, batch_size=50, num_epochs=3, verbose=False)
    solver.train()
    assert set(solver.optim_configs) == set(solver.model.params)
    for config in solver.optim_configs.values():
        assert config["learning_rate"] == pytest.approx(0.01 * 0.5 ** 3)
        assert "velocity" in config
    assert optim_config == {"learning_rate": 0.01}  # the caller's dict is never touched
    assert solver.optim_config == {"learning_rate": 0.01}
    ids = {id(c) for c in solver.optim_configs.values()}
    assert len(ids) == len(solver.optim_configs)


def test_best_params_are_restored_at_the_end():
    schedule = [0.1, 0.3, 0.8, 0.5, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2]
    snapshots = []

    class Recording(Solver):
        def _record_accuracy(self):
            super()._record_accuracy()
            snapshots.append({k: v.copy() for k, v in self.model.params.items()})

    model = ScheduledModel(schedule)
    solver = Recording(model, scheduled_data(), update_rule=helpers_sgd(), optim_config={"learning_rate": 1.0},
                       batch_size=5, num_epochs=3, verbose=False)
    solver.train()
    # Accuracy is checked at t=0 (w=1) and each epoch end (w=2, 4, 6): 0.3, 0.8, 0.2, 0.2.
    assert solver.val_acc_history == pytest.approx([0.3, 0.8, 0.2, 0.2])
    assert solver.best_val_acc == pytest.approx(0.8)
    assert float(model.params["w"]) == 2.0 == float(snapshots[1]["w"])
    assert solver.check_accuracy(solver.X_val, solver.y_val) == pytest.approx(0.8)


def helpers_sgd():
    """A plain callable update rule (the Solver accepts one instead of a name)."""
    def step(w, dw, config=None):
        config = config if config is not None else {}
        config.setdefault("learning_rate", 1e-2)
        return w - config["learning_rate"] * dw, config
    return step


def test_params_kept_when_validation_accuracy_never_rises_above_zero():
    model = ScheduledModel([0.0])
    solver = Solver(model, scheduled_data(), update_rule=helpers_sgd(), optim_config={"learning_rate": 1.0},
                    batch_size=5, num_epochs=2, verbose=False)
    solver.train()
    assert set(model.params) == {"w"}


@pytest.mark.parametrize("rule,lr", [("sgd", 0.1), ("sgd_momentum", 0.02), ("sgd_nesterov_momentum", 0.02),
                                     ("rmsprop", 3e-3), ("adam", 5e-3)])
@pytest.mark.parametrize("by_name", [True, False])
def test_trains_with_every_update_rule(reference_nndl, rule, lr, by_name):
    data = small_data()
    # Batchnorm's running averages are not parameters, so only without it do the restored
    # best parameters reproduce the best validation accuracy exactly.
    use_batchnorm = by_name
    model = small_net(use_batchnorm=use_batchnorm, dropout=0.9)
    update_rule = rule if by_name else getattr(ref.optim, rule)
    solver = Solver(model, data, update_rule=update_rule, optim_config={"learning_rate": lr},
                    batch_size=20, num_epochs=4, verbose=False)
    assert solver.update_rule is getattr(ref.optim, rule)
    solver.train()
    assert np.all(np.isfinite(solver.loss_history))
    assert np.mean(solver.loss_history[-5:]) < solver.loss_history[0] - 0.2
    assert solver.best_val_acc >= 0.8
    if not use_batchnorm:
        assert solver.check_accuracy(data["X_val"], data["y_val"]) == pytest.approx(solver.best_val_acc)


def test_unknown_kwarg_and_unknown_rule_raise(reference_nndl):
    with pytest.raises(ValueError, match="Unrecognized arguments.*learning_rate"):
        Solver(small_net(), small_data(), learning_rate=0.1)
    with pytest.raises(ValueError, match="nesterov_momentum"):
        Solver(small_net(), small_data(), update_rule="nesterov_momentum")


def test_every_option_is_an_attribute(reference_nndl):
    solver = Solver(small_net(), small_data(), batch_size=7, num_epochs=2, num_train_samples=30,
                    num_val_samples=20, print_every=3, verbose=False, lr_decay=0.9)
    assert (solver.batch_size, solver.num_epochs, solver.num_train_samples, solver.num_val_samples,
            solver.print_every, solver.verbose, solver.lr_decay) == (7, 2, 30, 20, 3, False, 0.9)
    assert solver.checkpoint_name is None and solver.optim_config == {}
    assert solver.epoch == 0 and solver.best_val_acc == 0 and solver.best_params == {}
    assert solver.loss_history == solver.train_acc_history == solver.val_acc_history == []


def test_check_accuracy_batches_and_subsamples():
    calls = []

    class Counting:
        params = {}

        def loss(self, X, y=None):
            calls.append(X.shape[0])
            scores = np.zeros((X.shape[0], 2))
            scores[:, 1] = 1  # always predicts class 1
            return scores

    data = scheduled_data(10)
    solver = Solver(Counting(), data, update_rule=helpers_sgd(), verbose=False)
    y = np.array([1] * 7 + [0] * 3)
    assert solver.check_accuracy(np.zeros((10, 2)), y, batch_size=4) == pytest.approx(0.7)
    assert calls == [4, 4, 2]
    calls.clear()
    solver.check_accuracy(np.zeros((10, 2)), y, num_samples=6, batch_size=100)
    assert calls == [6]


def test_subclass_hooks_cap_iterations_observe_epochs_and_stop(reference_nndl):
    seen = []

    class Capped(Solver):
        def _num_iterations(self, iterations_per_epoch):
            return min(super()._num_iterations(iterations_per_epoch), 9)

        def _on_epoch_end(self):
            seen.append((self.epoch, len(self.loss_history)))

    solver = Capped(small_net(), small_data(), batch_size=50, num_epochs=10, verbose=False)
    solver.train()
    assert len(solver.loss_history) == 9
    assert seen == [(1, 4), (2, 8)]
    assert len(solver.val_acc_history) == 4  # t=0, two epoch ends, the last iteration

    class Stopping(Solver):
        def _should_stop(self):
            return len(self.loss_history) >= 3

    solver = Stopping(small_net(), small_data(), batch_size=50, num_epochs=10, verbose=False)
    solver.train()
    assert len(solver.loss_history) == 3
    assert len(solver.val_acc_history) == 2  # t=0 and the stopping step


def test_checkpoints_are_written_when_named(reference_nndl, tmp_path):
    name = str(tmp_path / "ckpt")
    Solver(small_net(), small_data(), batch_size=100, num_epochs=2, checkpoint_name=name,
           verbose=False).train()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt_epoch_0.pkl", "ckpt_epoch_1.pkl",
                                                          "ckpt_epoch_2.pkl"]


@pytest.mark.parametrize("rule", ["sgd_momentum", "sgd_nesterov_momentum", "adam"])
def test_numpy_scalar_hyperparameters_keep_a_float32_model_float32(reference_nndl, rule):
    """np.float64 hyperparameters (10 ** np.random.uniform(...) in a search) reach the rules as
    Python numbers: under NumPy 2 promotion they would otherwise turn float32 weights float64."""
    np.random.seed(0)
    model = ref.fc_net.FullyConnectedNet([20], input_dim=10, num_classes=3, weight_scale=0.1)
    lr = 10 ** np.random.uniform(-3, -2)
    solver = Solver(model, small_data(), update_rule=rule, optim_config={"learning_rate": lr},
                    lr_decay=np.float64(0.9), batch_size=50, num_epochs=2, verbose=False)
    assert type(solver.optim_config["learning_rate"]) is float and solver.optim_config["learning_rate"] == lr
    solver.train()
    assert {v.dtype for v in model.params.values()} == {np.dtype(np.float32)}
    assert all(type(c["learning_rate"]) is float for c in solver.optim_configs.values())
