"""Per-student pages, dashboard data, grades.csv and the student profile, without a browser."""

import csv
import io
import json
import re

import pytest

from _report_samples import buggy, check, class_results, crashed, perfect
from autograder.report import grades_csv, render_student, safe_dirname, write_reports
from autograder.report.html import trim_traceback
from autograder.results import SubmissionResult
from autograder.rubric import load_rubric


@pytest.fixture(scope="module")
def rubric():
    return load_rubric()


@pytest.fixture(scope="module")
def written(tmp_path_factory, rubric):
    out = tmp_path_factory.mktemp("out")
    results = class_results(10)
    return out, results, write_reports(out, results, rubric=rubric, write_results=True)


def test_every_output_is_written(written):
    out, results, paths = written
    for r in results:
        assert paths[f"report/{r.submission_id}"] == out / r.submission_id / "report.html"
        assert paths[f"report/{r.submission_id}"].stat().st_size > 1000
    for key in ("index", "grades", "summary"):
        assert paths[key].is_file()


def test_grades_csv_round_trips(written, rubric):
    out, results, _ = written
    rows = list(csv.DictReader(io.StringIO((out / "grades.csv").read_text(encoding="utf-8"))))
    assert list(rows[0]) == ["id", "total", "max_total", "implementation", "notebook", "training",
                             "validation_accuracy", "claimed_accuracy", "dataset", "flags"]
    by_id = {row["id"]: row for row in rows}
    assert set(by_id) == {r.submission_id for r in results}
    for r in results:
        row = by_id[r.submission_id]
        assert float(row["total"]) == pytest.approx(r.score, abs=0.006)
        parts = r.part_scores()
        for part in ("implementation", "notebook", "training"):
            assert float(row[part]) == pytest.approx(parts.get(part, (0, 0))[0], abs=0.006)
        if r.validation_accuracy is None:
            assert row["validation_accuracy"] == ""
        else:
            assert float(row["validation_accuracy"]) == pytest.approx(100 * r.validation_accuracy, abs=0.006)
        assert set(filter(None, row["flags"].split(";"))) >= set(r.flags)
        assert row["dataset"] == r.dataset


def test_csv_neutralises_spreadsheet_formulas():
    r = perfect("=HYPERLINK(\"http://x\")")
    row = next(csv.DictReader(io.StringIO(grades_csv([r]))))
    assert row["id"].startswith("'=")


def test_summary_numbers(written):
    out, results, _ = written
    s = json.loads((out / "summary.json").read_text())
    assert s["count"] == len(results)
    assert s["max_total"] == 100
    assert sum(s["histogram"]["counts"]) == len(results)
    totals = sorted(r.score for r in results)
    assert s["stats"]["max"] == pytest.approx(totals[-1], abs=1e-3)
    rates = [c["pass_rate"] for c in s["checks"]]
    assert rates == sorted(rates)  # worst first: "what did the class get wrong"
    bn = next(c for c in s["checks"] if c["check_id"] == "batchnorm.backward")
    graded = [c for r in results if (c := r.check("batchnorm.backward")) is not None]
    assert bn["graded"] == len(graded) < len(results)  # the grader-error sample never reached it
    expected = sum(c.passed for c in graded) / len(graded)
    assert bn["pass_rate"] == pytest.approx(expected, abs=1e-4)
    accs = [e["accuracy"] for e in s["leaderboard"]]
    assert accs == sorted(accs, reverse=True) and len(accs) == sum(r.validation_accuracy is not None for r in results)
    top = next(d for d in s["diagnoses"] if d["diagnosis"] == "dropout.p_is_drop_probability")
    assert top["count"] == sum(1 for r in results if any(c.diagnosis == top["diagnosis"] for c in r.checks))
    review_ids = {e["id"] for e in s["review"]}
    assert {r.submission_id for r in results if r.errors or r.flags} <= review_ids
    assert all("weak_sandbox" in e["reasons"] for e in s["review"] if e["sandbox"] == "none")


def test_instructor_page_shows_the_numbers_behind_a_failure(rubric):
    html = render_student(buggy(), rubric=rubric)
    assert "dropout.p_is_drop_probability" in html
    assert "expected_fraction_zeroed" in html and "0.3012" in html      # the failing sub-case
    assert "0.0321" in html and "2.10e-12" in html                      # relative errors, tiny ones keep exponents
    assert "nndl/layers.py</code>, line <b>187</b>" in html              # student frame, file and line
    assert "Chosen because" in html and "final-part section" in html     # the rule that chose the config
    assert "clamp((floor(" in html                                       # formula as applied
    assert "+5.5 pts" in html                                            # claimed vs measured
    assert "dropout acts as a regularizer" in html or "acts as a regularizer" in html
    assert html.count("<svg") == 2                                       # loss and accuracy curves
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_student_profile_hides_hidden_checks(rubric):
    r = buggy()
    hidden = [c for c in r.checks if c.visibility == "hidden"]
    assert hidden
    html = render_student(r, rubric=rubric, profile="student")
    for c in hidden:
        block = re.search(rf'<div class="check[^"]*" id="check-{re.escape(c.check_id)}".*?(?=<div class="check|</section>)',
                          html, re.S).group(0)
        assert 'data-status="hidden"' in block and 'data-score=""' in block
        assert c.message not in block and "diag" not in block and "<table" not in block
    for leak in ("reference_loss", "expected_keep", "2.3021", "Dropout mask differs"):
        assert leak not in html
    assert "hidden until grades are published" in html  # training.accuracy is hidden
    assert "49.7%" not in html
    # public checks keep their details
    assert "expected_fraction_zeroed" in html
    instructor = render_student(r, rubric=rubric)
    assert "reference_loss" in instructor and 'data-status="hidden"' not in instructor


def test_student_text_is_escaped(rubric):
    r = perfect("eve")
    r.notebook["answer"] = "<script>alert(1)</script><img src=http://evil/x.png>"
    r.checks[0].message = "<b onmouseover=x>hi</b>"
    html = render_student(r, rubric=rubric)
    assert "<script>alert(1)" not in html and "<img src=http://evil" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.mark.parametrize("notebook, training", [
    (None, None),
    ({"cells": "nonsense", "configs": [1, 2], "best_config": "x", "answer": 7}, {"epochs": [{"epoch": "a"}, 3]}),
    ({"found": True, "cells": [{"index": 1}], "best_config": {"model_kwargs": None}}, {"accuracy": float("nan"),
                                                                                       "epochs": []}),
    ([], "not a dict"),
])
def test_malformed_stage_data_renders_as_not_run(rubric, notebook, training):
    r = perfect("odd")
    r.notebook, r.training = notebook, training
    html = render_student(r, rubric=rubric)
    assert "odd" in html and "</html>" in html


def test_missing_parts_are_shown_as_not_run(rubric):
    r = SubmissionResult("minimal", checks=[check("layers.affine")])
    html = render_student(r, rubric=rubric)
    assert "Notebook: not run." in html and "Training: not run." in html


def test_one_bad_result_does_not_stop_the_batch(tmp_path, monkeypatch):
    from autograder.report import html as html_mod
    real = html_mod.render_student

    def flaky(result, **kw):
        if result.submission_id == "carol":
            raise RuntimeError("boom")
        return real(result, **kw)

    monkeypatch.setattr("autograder.report.render_student", flaky)
    paths = write_reports(tmp_path, [perfect(), crashed()])
    assert "boom" in paths["report/carol"].read_text()
    assert json.loads(paths["summary"].read_text())["errors"] == ["carol: RuntimeError: boom"]
    assert "alice" in paths["index"].read_text()


def test_ids_cannot_escape_the_output_folder(tmp_path):
    assert safe_dirname("../../etc") == ".._.._etc"
    assert safe_dirname("..") not in ("..", ".")
    paths = write_reports(tmp_path, [perfect("../evil")])
    assert tmp_path in paths["report/../evil"].parents


def test_traceback_trimmed_to_student_frames():
    tb = ('Traceback (most recent call last):\n'
          '  File "/srv/grader/autograder/sandbox/inside/worker.py", line 88, in call\n'
          '    result = fn(*args)\n'
          '  File "nndl/layers.py", line 42, in dropout_forward\n'
          '    mask = np.random.rand(*x.shape) < p\n'
          'NameError: name \'p\' is not defined')
    out = trim_traceback(tb)
    assert "worker.py" not in out and "result = fn" not in out
    assert 'File "nndl/layers.py", line 42' in out and "NameError" in out and "mask = " in out
