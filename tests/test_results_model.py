"""results.json round-trips losslessly and is written atomically."""

import json
import math

import pytest

from autograder.results import CheckResult, SubmissionResult, write_json_atomic


def _sample():
    checks = [
        CheckResult("dropout.forward_train", "failed", 2.0, 6.0, message="p used as drop probability",
                    diagnosis="dropout.p_is_drop_probability", details={"zero_fraction": [0.3, 0.6]}),
        CheckResult("training.accuracy", "passed", 20.5, 25.0, part="training", visibility="hidden"),
    ]
    return SubmissionResult("alice", checks, training={"accuracy": 0.557, "epochs": [{"epoch": 1, "val_acc": math.nan}]},
                            sandbox_level="bwrap", flags=["claim_mismatch"])


def test_round_trip_through_gradescope_json(tmp_path):
    res = _sample()
    path = tmp_path / "alice" / "results.json"
    res.write(path)
    data = json.loads(path.read_text())
    assert data["score"] == pytest.approx(22.5)
    assert data["tests"][0]["status"] == "failed" and data["tests"][0]["extra_data"]["status"] == "failed"
    assert data["leaderboard"][0]["value"] == pytest.approx(55.7)
    assert data["extra_data"]["training"]["epochs"][0]["val_acc"] == "nan"  # strict JSON, no NaN literal
    back = SubmissionResult.read(path)
    assert back.score == pytest.approx(res.score) and back.max_score == pytest.approx(31.0)
    assert back.checks[0].diagnosis == "dropout.p_is_drop_probability"
    assert back.checks[1].visibility == "hidden" and back.checks[1].part == "training"
    assert back.flags == ["claim_mismatch"] and back.sandbox_level == "bwrap"


def test_fine_status_is_validated():
    with pytest.raises(ValueError):
        CheckResult("layers.relu", "kinda", 0, 1)


def test_atomic_write_leaves_old_file_when_serialisation_fails(tmp_path):
    path = tmp_path / "x.json"
    write_json_atomic(path, {"a": 1})
    with pytest.raises(TypeError):
        write_json_atomic(path, {"a": object.__new__(type("Bad", (), {"__str__": None}))})
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]
