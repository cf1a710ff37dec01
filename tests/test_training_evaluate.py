"""Parent-side evaluation of parameter snapshots, and the child loop's snapshot helpers (no sandbox)."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from autograder.refimpl import ref_fc_net
from autograder.training.evaluate import NotEvaluable, ReferenceEvaluator, accuracy_of, decode_value

CONFIG = {"model_module": "nndl.fc_net", "model_class": "FullyConnectedNet", "model_args": [[6, 5]],
          "model_kwargs": {"input_dim": 4, "num_classes": 3, "use_batchnorm": True, "dropout": 0.5}}


def _loop():
    return importlib.import_module("autograder.sandbox.inside.train_loop")


@pytest.fixture
def trained():
    """A reference model after some train-mode passes: real running statistics, non-trivial weights."""
    rng = np.random.default_rng(0)
    np.random.seed(1)
    model = ref_fc_net.FullyConnectedNet(*CONFIG["model_args"], **CONFIG["model_kwargs"])
    for name in model.params:
        model.params[name] = model.params[name] + rng.normal(0, 0.5, model.params[name].shape).astype(np.float32)
    for _ in range(5):
        model.loss(rng.normal(size=(20, 4)), rng.integers(0, 3, 20))
    X = rng.normal(size=(30, 4)).astype(np.float32)
    return model, X


def test_reference_evaluation_uses_the_students_running_stats(trained):
    model, X = trained
    for bn in model.bn_params:
        bn["mode"] = "test"
    expected_pred = np.argmax(model.loss(X), axis=1)
    y = expected_pred.copy()
    y[:10] = (y[:10] + 1) % 3                           # exactly 20 of 30 right
    evaluator = ReferenceEvaluator(CONFIG, X, y, batch_size=7)
    stats = _loop()._bn_snapshot(model)
    assert evaluator.accuracy(dict(model.params), stats) == pytest.approx(20 / 30)
    # other running statistics give other predictions: they are really used
    shifted = [{"running_mean": s["running_mean"] + np.linspace(-3, 3, len(s["running_mean"]), dtype=np.float32),
                "running_var": s["running_var"] * 0.01} for s in stats]
    assert evaluator.accuracy(dict(model.params), shifted) != pytest.approx(20 / 30)


@pytest.mark.parametrize("mutate, why", [
    (lambda p: p.pop("W2"), "parameter names"),
    (lambda p: p.update(W1=np.zeros((4, 7), np.float32)), "shape"),
    (lambda p: p.update(extra=np.zeros(3)), "parameter names"),
    (lambda p: p.update(W1="not an array"), "float array"),
])
def test_snapshots_that_do_not_fit_the_reference(trained, mutate, why):
    model, X = trained
    params = dict(model.params)
    mutate(params)
    with pytest.raises(NotEvaluable, match=why):
        ReferenceEvaluator(CONFIG, X, np.zeros(30, np.int64)).accuracy(params, _loop()._bn_snapshot(model))


def test_missing_running_stats_and_custom_models_are_not_evaluable(trained):
    model, X = trained
    with pytest.raises(NotEvaluable, match="running"):
        ReferenceEvaluator(CONFIG, X, np.zeros(30, np.int64)).accuracy(dict(model.params), [{}, {}])
    with pytest.raises(NotEvaluable, match="custom model"):
        ReferenceEvaluator(dict(CONFIG, model_class="MyNet"), X, np.zeros(30, np.int64))
    with pytest.raises(NotEvaluable, match="does not accept"):
        ReferenceEvaluator(dict(CONFIG, model_kwargs={"use_dropout_layers": True}), X, np.zeros(30, np.int64))


def test_evaluator_leaves_the_parents_random_state_alone(trained):
    _, X = trained
    np.random.seed(5)
    before = np.random.get_state()[1].copy()
    ReferenceEvaluator(CONFIG, X, np.zeros(30, np.int64))
    assert np.array_equal(np.random.get_state()[1], before)


def test_bn_snapshot_reads_dict_keyed_layers_in_numeric_order():
    model = type("M", (), {})()
    model.bn_params = {f"bn_param{i}": {"running_mean": np.full(2, i, np.float32), "running_var": np.ones(2)}
                       for i in (10, 2, 1)}
    stats = _loop()._bn_snapshot(model)
    assert [s["running_mean"][0] for s in stats] == [1, 2, 10]


@pytest.mark.parametrize("predictions, score", [
    (np.array([0, 1, 2, 1]), 0.75), ([0, 1, 2, 2], 1.0), (np.array([0.0, 1, 2, 2]), 0.0),
    (np.array([0, 1]), 0.0), ("0122", 0.0), (None, 0.0),
])
def test_predictions_are_scored_only_when_well_formed(predictions, score):
    assert accuracy_of(predictions, np.array([0, 1, 2, 2])) == score


def test_decode_value_restores_dtypes():
    assert decode_value({"dtype": {"__dtype__": "float64"}, "dims": [1, {"__dtype__": "float32"}]}) == \
        {"dtype": np.float64, "dims": [1, np.float32]}
