"""The accuracy formula at its edges, its printed form, and claimed-vs-measured flagging."""

from __future__ import annotations

import dataclasses

import pytest

from autograder.rubric import TrainingSettings, load_rubric
from autograder.training.scoring import accuracy_score, claim_mismatch, normalise_claim, score_accuracy

W2021 = TrainingSettings()  # floor 32, full 60, floor rounding: the assignment's own numbers


@pytest.mark.parametrize("accuracy, fraction", [
    (0.319, 0.0),            # below the floor: nothing, not negative
    (0.32, 0.0),             # exactly the floor
    (0.557, 23 / 28),        # the issue's example: floor(55.7) = 55
    (0.5999, 27 / 28),       # floored, so 59.99% is not full marks
    (0.60, 1.0),
    (1.0, 1.0),              # clamped, never above full marks
    (0.57, 25 / 28),         # 100 * 0.57 is 56.99999999999999 in binary: must still count as 57
    (0.29, 0.0),
])
def test_formula_edges(accuracy, fraction):
    assert accuracy_score(accuracy, W2021) == pytest.approx(fraction, abs=1e-12)


def test_formula_string_matches_the_issue_example():
    scored = score_accuracy(0.557, W2021, 25)
    assert scored.formula == "clamp((floor(55.7) - 32) / 28, 0, 1) x 25 = 23/28 x 25 = 20.54"
    assert scored.score == pytest.approx(25 * 23 / 28)


@pytest.mark.parametrize("accuracy, shown", [
    (0.319, "clamp((floor(31.9) - 32) / 28, 0, 1) x 25 = 0/28 x 25 = 0.00"),
    (0.5999, "clamp((floor(59.99) - 32) / 28, 0, 1) x 25 = 27/28 x 25 = 24.11"),
    (1.0, "clamp((floor(100) - 32) / 28, 0, 1) x 25 = 28/28 x 25 = 25.00"),
])
def test_formula_string_at_edges(accuracy, shown):
    assert score_accuracy(accuracy, W2021, 25).formula == shown


def test_rubric_numbers_drive_the_formula():
    term55 = dataclasses.replace(W2021, full_percent=55.0, rounding="none")
    assert accuracy_score(0.55, term55) == 1.0
    assert accuracy_score(0.435, term55) == pytest.approx(11.5 / 23)
    assert "clamp((43.5 - 32) / 23, 0, 1)" in score_accuracy(0.435, term55, 10).formula
    # the shipped rubric reads the same numbers as the dataclass defaults
    assert load_rubric().training.floor_percent == 32 and load_rubric().training.full_percent == 60


def test_missing_accuracy_scores_zero():
    scored = score_accuracy(float("nan"), W2021, 25)
    assert scored.score == 0 and scored.fraction == 0


@pytest.mark.parametrize("claimed, measured, flagged", [
    (0.607, 0.600, False),
    (0.607, 0.577, False),    # exactly the tolerance: not above it
    (0.607, 0.55, True),
    (0.40, 0.55, True),       # a modest claim is flagged too: the gap is the point, not the sign
    (None, 0.55, False),
])
def test_claim_mismatch(claimed, measured, flagged):
    assert claim_mismatch(claimed, measured, 0.03) is flagged


@pytest.mark.parametrize("raw, value", [(0.607, 0.607), (60.7, 0.607), ("0.6", None), (True, None),
                                        (float("nan"), None), (-1, None), (250.0, None)])
def test_normalise_claim(raw, value):
    got = normalise_claim(raw)
    assert got == (pytest.approx(value) if value is not None else None)


def test_config_problems_are_named():
    from autograder.training import config_problem

    good = {"model_module": "nndl.fc_net", "model_class": "FullyConnectedNet", "model_args": [[10]],
            "model_kwargs": {}, "solver_kwargs": {}}
    assert config_problem(good) is None
    assert "model_class" in config_problem(dict(good, model_class=None))
    assert "solver_kwargs" in config_problem(dict(good, solver_kwargs=[1]))


def test_invalid_config_scores_zero_without_training(tmp_path):
    from autograder.training import train_and_score

    out = train_and_score(None, {"model_class": "FullyConnectedNet"}, load_rubric(), {}, claimed=0.6)
    assert out.check.score == 0 and out.check.status == "error" and "model_module" in out.check.message
    assert out.extra["stopped_reason"] == "invalid_config"
