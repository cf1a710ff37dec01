"""results.json (written through the report writer) is valid under Gradescope's spec, and carries
what our reports read back: the fine status, details, leaderboard, notebook and training data."""

import json
from pathlib import Path

import jsonschema
import pytest

from _report_samples import buggy, class_results, crashed, grader_failure, perfect
from autograder.report import load_results, write_reports
from autograder.results import SubmissionResult

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "gradescope_results.schema.json").read_text())

#: What this project promises on top of the spec (issue 7, item 1).
OURS = {
    "allOf": [SCHEMA],
    "required": ["score", "execution_time", "output", "tests", "leaderboard", "extra_data"],
    "properties": {
        "tests": {"items": {
            "required": ["name", "score", "max_score", "status", "output", "tags", "visibility", "extra_data"],
            "properties": {"extra_data": {"required": ["check_id", "status", "details"],
                                          "properties": {"status": {"enum": ["passed", "failed", "error",
                                                                             "timeout", "skipped"]}}}},
        }},
        "extra_data": {"required": ["notebook", "training", "sandbox_level", "flags", "errors"]},
    },
}


@pytest.fixture(scope="module")
def validator():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    return jsonschema.Draft202012Validator(OURS)


@pytest.mark.parametrize("make", [perfect, buggy, crashed, grader_failure])
def test_written_results_json_is_valid(tmp_path, validator, make):
    result = make()
    write_reports(tmp_path, [result], write_results=True)
    data = json.loads((tmp_path / result.submission_id / "results.json").read_text())
    errors = sorted(validator.iter_errors(data), key=str)
    assert not errors, "\n".join(e.message for e in errors)
    assert data["score"] == pytest.approx(result.score, abs=1e-3)
    assert isinstance(data["execution_time"], (int, float))


def test_leaderboard_holds_validation_accuracy(tmp_path):
    result = buggy()
    data = result.to_gradescope()
    (entry,) = data["leaderboard"]
    assert entry["value"] == pytest.approx(result.validation_accuracy * 100, abs=0.01)
    assert crashed().to_gradescope()["leaderboard"] == []  # no accuracy, no entry


def test_schema_rejects_what_gradescope_rejects(validator):
    good = perfect().to_gradescope()
    for mutate in (lambda d: d["tests"][0].update(status="error"),  # fine status belongs in extra_data
                   lambda d: d.update(execution_time="12 s"),
                   lambda d: d["tests"][0].update(visibility="secret"),
                   lambda d: d["leaderboard"].append({"value": 1})):
        bad = json.loads(json.dumps(good))
        mutate(bad)
        assert list(validator.iter_errors(bad)), mutate


def test_dashboard_can_be_rebuilt_from_results_files(tmp_path):
    results = class_results(6)
    write_reports(tmp_path, results, write_results=True)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "results.json").write_text("{not json")
    loaded, problems = load_results(tmp_path)
    assert sorted(r.submission_id for r in loaded) == sorted(r.submission_id for r in results)
    assert len(problems) == 1 and "broken" in problems[0]
    by_id = {r.submission_id: r for r in loaded}
    for r in results:
        back = by_id[r.submission_id]
        assert back.score == pytest.approx(r.score, abs=1e-3)
        assert [c.status for c in back.checks] == [c.status for c in r.checks]
        assert back.training == json.loads(json.dumps(r.training))
    assert isinstance(SubmissionResult.read(tmp_path / results[0].submission_id / "results.json"), SubmissionResult)
