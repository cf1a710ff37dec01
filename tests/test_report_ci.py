"""Student CI output: exit codes, the job summary, and GitHub annotations."""

import pytest

from _report_samples import buggy, check, crashed, grader_failure, perfect
from autograder.report.ci import annotations, exit_code, step_summary, write_step_summary
from autograder.results import SubmissionResult


def only(*checks):
    return SubmissionResult("me", checks=list(checks))


@pytest.mark.parametrize("result, code", [
    (only(check("layers.affine"), check("dropout.backward")), 0),
    (only(check("layers.affine"), check("dropout.backward", "failed")), 1),
    (only(check("layers.affine"), check("dropout.backward", "error")), 1),
    (only(check("layers.affine"), check("dropout.backward", "timeout")), 1),
    (only(check("layers.affine"), check("notebook.executes", "skipped")), 0),
    # a hidden check failing is not the student's CI's business
    (only(check("layers.affine"), check("fc_net.dropout", "failed")), 0),
    (perfect(), 0), (buggy(), 1), (crashed(), 1), (grader_failure(), 2),
])
def test_exit_code(result, code):
    assert exit_code(result) == code
    assert exit_code([result]) == code


def test_exit_code_grader_error_wins_over_failures():
    assert exit_code([buggy(), grader_failure()]) == 2
    flagged = only(check("layers.affine", "failed"))
    flagged.add_flag("grader_error")
    assert exit_code(flagged) == 2


def test_annotations_point_at_student_code():
    lines = annotations(buggy())
    # fc_net.batchnorm failed with frames fc_net.py:212 -> layers.py:187; the innermost one is annotated
    assert lines[0] == ("::error file=nndl/layers.py,line=187,title=FullyConnectedNet with batch norm (error)::"
                        "FullyConnectedNet.loss raised KeyError: 'running_mean'")
    assert len(lines) == 1  # the other failures carry no traceback


def test_annotations_from_traceback_text_and_prefix():
    c = check("dropout.backward", "error", message="boom: 100%\nsecond line",
              traceback='Traceback (most recent call last):\n  File "/usr/lib/python3/numpy/x.py", line 3, in f\n'
                        '  File "nndl/layers.py", line 42, in dropout_backward\n    dx = dout * mask\nNameError: mask')
    (line,) = annotations(only(c), prefix="hw4/")
    assert line.startswith("::error file=hw4/nndl/layers.py,line=42,")
    assert line.endswith("::boom: 100%25%0Asecond line")


def test_hidden_checks_never_annotated():
    c = check("fc_net.dropout", "error", message="expected 2.3021", details={"frames": [["nndl/fc_net.py", 9, "loss"]]})
    assert annotations(only(c)) == []
    assert annotations(only(c), profile="instructor") != []


def test_step_summary_appends_markdown(tmp_path, monkeypatch):
    target = tmp_path / "summary.md"
    target.write_text("# earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(target))
    assert write_step_summary(buggy()) == target
    text = target.read_text()
    assert text.startswith("# earlier step\n")
    assert "| | Check | Points | Message |" in text
    assert "❌ failed | Dropout forward (train) | 0 / 6 |" in text
    assert "🔒 | FullyConnectedNet with dropout | – / 8 | hidden" in text
    assert "reference" not in text.split("FullyConnectedNet with dropout")[1].split("\n")[0]
    assert "Dropout mask differs" not in text


def test_step_summary_without_env_is_a_no_op(monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    assert write_step_summary(perfect()) is None


def test_step_summary_cells_cannot_break_the_table():
    c = check("layers.affine", "failed", message="a | b\nc")
    md = step_summary(only(c))
    row = next(line for line in md.splitlines() if "Affine" in line)
    assert "a \\| b c" in row
