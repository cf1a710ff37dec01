"""The fixture corpus: every bug fingerprint fails its check with its diagnosis while unrelated
checks pass; every valid alternative, and the reference itself, gets full credit; the untouched
template gets "not implemented" failures. One sandbox worker (level "none") per fixture."""

from __future__ import annotations

import dataclasses

import pytest

from autograder.checks import CHECKS, run_checks
from autograder.checks.diagnoses import DIAGNOSES
from autograder.rubric import load_rubric
from autograder.sandbox import Sandbox
from fixtures.bugs import ALTERNATIVES, BUGS, TEMPLATE_BN_MODE_BUG, Fixture, build_submission, build_template

RUBRIC = load_rubric()


def grade(root, rubric=RUBRIC):
    with Sandbox(root, rubric.limits, level="none") as sb:
        return run_checks(sb, rubric)


def by_id(outcome):
    return {r.check_id: r for r in outcome.results}


def test_reference_gets_full_credit(tmp_path):
    outcome = grade(build_submission(None, tmp_path))
    assert outcome.errors == []
    assert {r.check_id for r in outcome.results} == set(CHECKS) & set(RUBRIC.checks)
    assert len(outcome.results) == 19
    for r in outcome.results:
        assert r.status == "passed" and r.score == r.max_score and r.diagnosis is None, (r.check_id, r.message)


@pytest.mark.parametrize("fixture", BUGS, ids=lambda f: f.name)
def test_bug_fails_its_check_with_its_diagnosis(fixture: Fixture, tmp_path):
    outcome = grade(build_submission(fixture, tmp_path))
    results = by_id(outcome)
    assert outcome.errors == []
    for check_id, diagnosis in fixture.fails.items():
        r = results[check_id]
        assert r.status in ("failed", "error"), (check_id, r.status, r.message)  # error: the student's code raised
        assert r.score < r.max_score or r.max_score == 0
        assert r.diagnosis == diagnosis, (check_id, r.diagnosis, r.message)
        assert DIAGNOSES[diagnosis].split("{")[0][:40] in r.message  # the actionable sentence leads
    for check_id, r in results.items():
        if check_id in fixture.fails or check_id in fixture.may_fail:
            continue
        assert r.status == "passed" and r.diagnosis is None, (fixture.name, check_id, r.message)


@pytest.mark.parametrize("fixture", ALTERNATIVES, ids=lambda f: f.name)
def test_valid_alternative_gets_full_credit(fixture: Fixture, tmp_path):
    outcome = grade(build_submission(fixture, tmp_path))
    assert outcome.errors == []
    for r in outcome.results:
        assert r.status == "passed" and r.score == r.max_score, (fixture.name, r.check_id, r.message)


def test_template_bn_mode_bug_is_waived_by_default_and_charged_otherwise(tmp_path):
    root = build_submission(TEMPLATE_BN_MODE_BUG, tmp_path)
    outcome = grade(root)
    r = by_id(outcome)["fc_net.test_mode"]
    assert r.status == "passed" and r.score == r.max_score
    assert r.diagnosis == "fc_net.bn_mode_template_bug" and "Waived" in r.message
    assert outcome.waived == ["fc_net.bn_mode_template_bug"]
    assert any("bn_param[mode] = mode" in w for w in outcome.warnings)

    strict = dataclasses.replace(RUBRIC, conventions=dataclasses.replace(RUBRIC.conventions,
                                                                         waive_template_bn_mode_bug=False))
    r = by_id(grade(root, strict))["fc_net.test_mode"]
    assert r.status == "failed" and r.diagnosis == "fc_net.bn_mode_template_bug"


def test_untouched_template_gets_not_implemented_failures(tmp_path):
    outcome = grade(build_template(tmp_path))
    assert outcome.errors == []
    for r in outcome.results:
        assert r.status == "failed", (r.check_id, r.status, r.message)
        assert r.score == 0
        assert r.diagnosis == "not_implemented", (r.check_id, r.diagnosis, r.message)
        assert r.message.startswith("Not implemented yet") or "returns None" in r.message or "not implemented" in r.message


def test_every_fingerprint_has_a_fixture():
    covered = {d for f in (*BUGS, TEMPLATE_BN_MODE_BUG) for d in f.fails.values()}
    assert len(covered) >= 15
    assert covered <= set(DIAGNOSES)


def _fixture(name: str) -> Fixture:
    return next(f for f in (*BUGS, *ALTERNATIVES) if f.name == name)


def test_dropout_in_the_wrong_layers_costs_at_least_half_the_check(tmp_path):
    # The backward pass agrees with the recorded masks, so only the placement sub-case fails: it
    # must weigh as much as the loss and gradients together.
    r = by_id(grade(build_submission(_fixture("dropout_only_after_last_hidden"), tmp_path)))["fc_net.dropout"]
    assert r.diagnosis == "fc_net.dropout_wrong_layers" and "1 time(s) for 2 hidden" in r.message
    assert 0 < r.score <= r.max_score / 2


def test_missing_module_is_named_once_with_the_importing_file(tmp_path):
    outcome = grade(build_submission(_fixture("layer_utils_imports_fast_layers"), tmp_path))
    for r in outcome.results:
        if r.check_id.startswith("fc_net."):
            assert "nndl.fast_layers (nndl/layer_utils.py, line 4)" in r.message, r.message
            assert "probably caused by" not in r.message  # the import is the cause, not another check
        else:
            assert r.status == "passed", (r.check_id, r.message)


def test_warnings_name_the_numpy_aliases_used_not_the_generic_note(tmp_path):
    outcome = grade(build_submission(_fixture("operators_aliases_and_ide_imports"), tmp_path))
    assert any("np.product was used" in w for w in outcome.warnings)
    assert not any(w.startswith("NumPy-1 aliases removed") for w in outcome.warnings)
    assert all(r.status == "passed" for r in outcome.results)
