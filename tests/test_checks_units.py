"""Parent-side pieces of the check suite: comparisons, diagnoses, conventions, expected-value
replay and the runner's handling of every sandbox outcome (no sandbox needed)."""

from __future__ import annotations

import numpy as np
import pytest

from autograder.checks import base, conventions
from autograder.checks.compare import OutputProblem, as_array, compare, rel_error
from autograder.checks.diagnoses import DIAGNOSES, describe, first_match
from autograder.checks.oracle import Expected, ReferenceUnavailable
from autograder.rubric import Conventions, load_rubric
from autograder.sandbox import CallTimeout, StudentError, WorkerCrashed

RUBRIC = load_rubric()


# ---- compare ------------------------------------------------------------------------------------

def test_compare_accepts_reordered_sums_and_rejects_formula_changes():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 40))
    assert compare(x.sum(axis=0), np.add.reduce(x[::-1], axis=0)).ok
    assert not compare(x * (1 + 1e-4), x).ok
    assert compare(np.zeros(3) + 1e-18, np.zeros(3), scale=1.0).ok  # rounding noise where the truth is 0
    assert not compare(np.ones(3), np.ones(4)).ok


def test_rel_error_is_the_notebooks_metric():
    assert rel_error([1.0, 2.0], [1.0, 2.0]) == 0
    assert rel_error([1.0], [3.0]) == pytest.approx(0.5)
    assert rel_error(np.ones(2), np.ones(3)) == float("inf")


@pytest.mark.parametrize("value, diagnosis", [(None, "not_implemented"), (np.array([1.0, np.nan, 2.0]), "not_finite"),
                                              (np.ones((2, 3)), "wrong_shape"), ("text", None)])
def test_as_array_turns_bad_outputs_into_problems(value, diagnosis):
    with pytest.raises(OutputProblem) as info:
        as_array(value, "out", shape=(3,))
    assert info.value.diagnosis == diagnosis


def test_as_array_can_squeeze_singleton_axes_for_comparison():
    assert as_array(np.ones((1, 3)), "db", shape=(3,), allow_squeeze=True).shape == (3,)


# ---- diagnoses ----------------------------------------------------------------------------------

def test_at_least_fifteen_fingerprints_with_one_sentence_each():
    assert len(DIAGNOSES) >= 15
    for diag_id, text in DIAGNOSES.items():
        assert text.strip() and len(text) < 400, diag_id


def test_describe_fills_measured_facts_and_tolerates_missing_ones():
    text = describe("dropout.p_is_drop_probability", zeroed=0.3, p=0.3, want=0.7)
    assert "0.30" in text and "KEEPING" in text and "0.70" in text
    assert "{key" in describe("optim.state_not_stored")
    assert describe(None) == ""


def test_first_match_names_the_candidate_formula():
    x = np.linspace(1, 2, 5)
    assert first_match(x / 0.5, [("a", x), ("b", lambda: x / 0.5)]) == "b"
    assert first_match(x, [("a", lambda: 1 / 0)]) is None


# ---- conventions --------------------------------------------------------------------------------

def _write(root, layers_doc: str, fc_rule: str, default: str = "0"):
    nndl = root / "nndl"
    nndl.mkdir()
    (nndl / "layers.py").write_text(
        f'def dropout_forward(x, dropout_param):\n    """Dropout.\n\n    - p: {layers_doc}\n    """\n')
    (nndl / "fc_net.py").write_text(
        f"class FullyConnectedNet(object):\n    def __init__(self, hidden_dims, dropout={default}, seed=None):\n"
        f"        self.use_dropout = {fc_rule}\n")


def test_conventions_matching_the_rubric_give_no_warning(tmp_path):
    _write(tmp_path, "We keep each neuron output with probability p.", "dropout > 0")
    assert conventions.convention_warnings(tmp_path, RUBRIC.conventions) == []


def test_conventions_of_another_term_are_warned_about(tmp_path):
    _write(tmp_path, "Dropout parameter. We drop each neuron output with probability p.", "dropout < 1", "1")
    warnings = conventions.convention_warnings(tmp_path, Conventions(dropout_p="keep", dropout_off=0))
    assert len(warnings) == 2
    assert "DROP" in warnings[0] and "dropout=1" in warnings[1]


def test_unparseable_sources_never_crash(tmp_path):
    (tmp_path / "nndl").mkdir()
    (tmp_path / "nndl" / "layers.py").write_bytes(b"def broken(:\n\xff\xfe")
    assert conventions.convention_warnings(tmp_path, RUBRIC.conventions) == []
    assert conventions.convention_warnings(None, RUBRIC.conventions) == []


# ---- expected values: live, recorded, replayed ------------------------------------------------------

def _double(ref, x):
    return {"twice": 2 * x, "n": 3}


def test_recorded_expected_values_replay_and_refuse_changed_inputs(tmp_path):
    x = np.arange(4.0)
    live = Expected.live(record=True)
    assert np.array_equal(live("c.id", "k", _double, x)["twice"], 2 * x)
    live.save(tmp_path)
    replay = Expected.from_folder(tmp_path)
    got = replay("c.id", "k", _double, x)
    assert np.array_equal(got["twice"], 2 * x) and got["n"] == 3
    with pytest.raises(ReferenceUnavailable):
        replay("c.id", "k", _double, x + 1)
    with pytest.raises(ReferenceUnavailable):
        replay("c.id", "other", _double, x)


# ---- the runner: every sandbox outcome costs only its check -------------------------------------------

def _ctx(check_id="layers.relu"):
    return base.CheckContext(sb=None, rubric=RUBRIC, spec=RUBRIC.checks[check_id], rng=np.random.default_rng(0),
                             prior={}, expected=Expected.live())


@pytest.mark.parametrize("exc, status", [
    (StudentError("ValueError", "bad shapes", "Traceback (your code only):\n  ..."), "error"),
    (StudentError("TypeError", "unsupported operand type(s) for *: 'NoneType' and 'float'"), "failed"),
    (CallTimeout(20.0), "timeout"),
    (WorkerCrashed(-9, 9, memory_suspected=True), "error"),
])
def test_sandbox_outcomes_become_results(exc, status):
    def fn(ctx):
        raise exc

    errors: list[str] = []
    result = base.run_check(base.CheckDef("layers.relu", fn), _ctx(), errors)
    assert result.status == status and result.score == 0 and result.max_score == 2
    assert errors == []
    if status == "failed":
        assert result.diagnosis == "not_implemented"
    if isinstance(exc, WorkerCrashed):
        assert "memory" in result.message


def test_a_grader_bug_is_reported_as_a_grader_error():
    def fn(ctx):
        raise KeyError("oops")

    errors: list[str] = []
    result = base.run_check(base.CheckDef("layers.relu", fn), _ctx(), errors)
    assert result.status == "error" and "grader" in result.message
    assert errors and "KeyError" in errors[0]


def test_partial_credit_by_sub_case_weight():
    def fn(ctx):
        v = base.Verdict()
        v.add("a", True, weight=3)
        v.add("b", False, weight=1, message="wrong", diagnosis="layers.relu_wrong_gate")
        return v

    result = base.run_check(base.CheckDef("layers.relu", fn), _ctx(), [])
    assert result.status == "failed" and result.score == pytest.approx(1.5)
    assert result.diagnosis == "layers.relu_wrong_gate"
    assert result.message.startswith(DIAGNOSES["layers.relu_wrong_gate"][:30])
    assert [c["name"] for c in result.details["cases"]] == ["a", "b"]


def test_a_missing_module_is_diagnosed_with_the_file_that_imports_it():
    exc = StudentError("ModuleNotFoundError", "No module named 'nndl.fast_layers'", "",
                       [["nndl/layer_utils.py", 4, "<module>"], ["nndl/fc_net.py", 3, "<module>"]])

    def fn(ctx):
        raise exc

    result = base.run_check(base.CheckDef("layers.relu", fn), _ctx(), [])
    assert result.status == "error" and result.diagnosis == "import_failed"
    assert "nndl.fast_layers (nndl/fc_net.py, line 3)" in result.message
    assert base.missing_module("ValueError", "No module named 'x'") is None


# ---- per-topic helpers ------------------------------------------------------------------------------

def test_bn_params_in_a_dict_are_read_in_layer_order():
    from autograder.checks.fc_net import bn_list

    layers = {f"bn_param{i}": {"mode": "train", "i": i} for i in (10, 2, 1)}
    assert [p["i"] for p in bn_list(layers)] == [1, 2, 10]
    assert bn_list([{"mode": "train"}]) == [{"mode": "train"}]
    assert bn_list({}) is None and bn_list([1, 2]) is None and bn_list(None) is None


@pytest.mark.parametrize("dx, useless", [(None, True), (0, True), (np.float64(0.0), True), (np.zeros((2, 3)), True),
                                         (np.ones((2, 3)), False), ("text", False)])
def test_a_test_mode_dropout_backward_stub_is_recognised(dx, useless):
    from autograder.checks.dropout import _nothing_useful

    assert bool(_nothing_useful(dx)) is useless


def test_optimizer_steps_accept_both_eps_placements_and_reject_a_wrong_rule():
    from autograder.checks.optim import _compare_step

    w = np.linspace(-1e-4, 1e-4, 6)  # w near 0: comparing w itself would magnify rounding
    a = np.full(6, 2.5e-3)
    dw = np.full(6, 0.5)
    outside = w - 1e-2 * dw / (np.sqrt(a) + 1e-8)
    inside = w - 1e-2 * dw / np.sqrt(a + 1e-8)
    v = base.Verdict()
    assert _compare_step(v, "eps inside", inside, outside, w, "next_w")
    assert not _compare_step(v, "no sqrt", w - 1e-2 * dw / (a + 1e-8), outside, w, "next_w")
    assert not _compare_step(v, "None", None, outside, w, "next_w")
