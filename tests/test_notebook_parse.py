"""Notebook stage without a kernel: finding, repairing, claims, answers, configs, scoring."""

from __future__ import annotations

import json
import types
from pathlib import Path

import nbformat
import pytest

from autograder.notebook import run_notebook, score_execution
from autograder.notebook.answers import extract_answer
from autograder.notebook.claims import notebook_claims, parse_text
from autograder.notebook.configs import attach_claims, choose_best, read_capture
from autograder.notebook.find import find_notebook, load_notebook
from autograder.rubric import load_rubric

C, M = nbformat.v4.new_code_cell, nbformat.v4.new_markdown_cell


def stream(text):
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def solver_log(vals, n=None):
    n = n or len(vals) - 1
    lines = [f"(Iteration 1 / {n * 10}) loss: 2.30"]
    lines += [f"(Epoch {e} / {n}) train acc: 0.500000; val_acc: {v:.6f}" for e, v in enumerate(vals)]
    return "\n".join(lines) + "\n"


# ---- claims --------------------------------------------------------------------------------------

def test_claims_split_runs_and_take_best_epoch():
    text = solver_log([0.1, 0.3, 0.25]) + solver_log([0.2, 0.42])
    runs, orphan = parse_text(text)
    assert [r.value for r in runs] == [0.3, 0.42]
    assert orphan is None


@pytest.mark.parametrize("line, value", [
    ("Validation accuracy: 0.56", 0.56),
    ("Validation set accuracy:  0.562", 0.562),
    ("val acc 56.2%", 0.562),
    ("val acc = 56.2%", 0.562),
    ("best val acc: 58.1 %", 0.581),
    ("best_val_acc 0.58", 0.58),
    ("solver.best_val_acc = 0.61", 0.61),
    ("Validation set accuracy = 61", 0.61),
    ("best validation accuracy of the final model is 0.583", 0.583),
    ("The best validation accuracy is 0.583.", 0.583),
    ("Validation accuracy with dropout 0.5: 0.55", 0.55),
    ("Validation accuracy (dropout=0.5): 0.55", 0.55),
    ("val acc 0.55 (lr=0.001)", 0.55),
    ("Validation accuracy: np.float64(0.562)", 0.562),
])
def test_claims_summary_lines(line, value):
    runs, orphan = parse_text(solver_log([0.1, 0.5]) + line + "\n")
    assert runs[0].value == pytest.approx(value)
    _, orphan = parse_text(line)
    assert orphan == pytest.approx(value)


def test_claims_from_solver_epoch_lines_alone():
    """Only the tail of a Solver log was kept (no Iteration 1 / Epoch 0 line): still one run, whose
    claim is its best epoch, not the last val_acc printed."""
    text = ("(Epoch 9 / 10) train acc: 0.640000; val_acc: 0.571000\n"
            "(Epoch 10 / 10) train acc: 0.652000; val_acc: 0.550000\n")
    runs, orphan = parse_text(text)
    assert orphan is None and len(runs) == 1
    assert runs[0].epochs == 2 and runs[0].value == pytest.approx(0.571)


def test_claims_in_percent_are_fractions():
    runs, _ = parse_text("(Epoch 0 / 1) train acc: 10%; val_acc: 9.5%\n"
                         "(Epoch 1 / 1) train acc: 61.0%; val_acc: 56.2%\n")
    assert runs[0].value == pytest.approx(0.562)
    runs, _ = parse_text(solver_log([0.1, 0.5]) + "Validation accuracy: 57.3 %\n")
    assert runs[0].value == pytest.approx(0.573)


def test_claims_ignore_history_and_test_accuracy():
    runs, orphan = parse_text("val_acc_history: 3 entries\nTest accuracy: 0.7\n")
    assert runs == [] and orphan is None


# ---- answers -------------------------------------------------------------------------------------

def nb_of(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    return nb


def test_answer_after_answer_heading_in_same_cell():
    nb = nb_of(M("## 1.5 Question\n\nIs dropout performing regularization?"),
               M("## 1.6 Answer:\n\nYes: the gap between train and val accuracy shrinks."))
    ans = extract_answer(nb)
    assert ans["present"] and "gap between train" in ans["text"] and ans["cell_index"] == 1


def test_answer_cell_after_question():
    nb = nb_of(M("## Question\nIs dropout a regularizer?"), M("Yes, it reduces overfitting noticeably."),
               M("## Final part of the assignment"))
    assert extract_answer(nb)["text"].startswith("Yes, it reduces")


def test_placeholder_answer_is_absent():
    nb = nb_of(M("## Question\nIs dropout a regularizer?"), M("## Answer:\n\nYOUR ANSWER HERE"),
               M("## Final part of the assignment"))
    assert not extract_answer(nb)["present"]
    nb = nb_of(M("## Question\nIs dropout a regularizer?"), C("model = FullyConnectedNet([10])"))
    assert not extract_answer(nb)["present"]


@pytest.mark.parametrize("source, expected", [
    ('"""\n    Yes: dropout regularizes the network.\n    The train/val gap shrinks.\n"""',
     "Yes: dropout regularizes the network.\nThe train/val gap shrinks."),
    ("# Answer:\n# Yes, dropout regularizes;\n# the gap between train and val shrinks.",
     "Yes, dropout regularizes;\nthe gap between train and val shrinks."),
    ("answer = '''Yes, it acts as a regularizer.'''", "Yes, it acts as a regularizer."),
    ("print('Yes, validation accuracy holds while training accuracy drops.')",
     "Yes, validation accuracy holds while training accuracy drops."),
    ("%%markdown\nYes, dropout reduces overfitting.", "Yes, dropout reduces overfitting."),
])
def test_answer_in_code_cell_after_question(source, expected):
    nb = nb_of(M("## Question\nIs dropout performing regularization?"), C(source),
               M("## Final part of the assignment"))
    ans = extract_answer(nb)
    assert ans["present"] and ans["text"] == expected and ans["cell_index"] == 1


def test_answer_string_in_code_cell_after_answer_heading():
    nb = nb_of(M("## Question\nIs dropout performing regularization?"), M("## Answer"),
               C("'''\nYes. With dropout the validation accuracy stays close to the training accuracy.\n'''"))
    ans = extract_answer(nb)
    assert ans["present"] and ans["text"].startswith("Yes. With dropout") and ans["cell_index"] == 2


def test_code_cell_with_code_is_not_an_answer(tmp_path):
    """Real code (even with a docstring or comments) is not an answer, and it is never run."""
    marker = tmp_path / "answer-was-executed"
    for source in ("'''Yes this is a docstring'''\nmodel = FullyConnectedNet([10])",
                   "x = 1  # yes dropout regularizes the model",
                   f"open({str(marker)!r}, 'w')  # yes it does regularize",
                   "f'Yes it regularizes {model}'",
                   "Yes dropout is a regularizer (prose that is not Python)"):
        nb = nb_of(M("## Question\nIs dropout a regularizer?"), C(source))
        assert not extract_answer(nb)["present"], source
    assert not marker.exists()


# ---- configs -------------------------------------------------------------------------------------

def record(cell, **kw):
    rec = {"model_module": "nndl.fc_net", "model_class": "FullyConnectedNet", "model_args": [[100, 100]],
           "model_kwargs": {"dropout": 0.5, "dtype": {"__dtype__": "float32"}},
           "solver_kwargs": {"update_rule": "adam"}, "cell_index": cell, "trained": True}
    rec.update(kw)
    return rec


def test_capture_validation_rejects_forged_records(tmp_path):
    bad = [record(1, model_class="os.system"), record(2, model_kwargs={"x": {"__reduce__": [1] * 2000}}),
           record(3, solver_kwargs={"bad key!": 1}), "not a dict", record(4, model_module="../../etc")]
    (tmp_path / "c.json").write_text(json.dumps({"records": [record(0)] + bad}))
    good, problems = read_capture(tmp_path / "c.json")
    assert [g["cell_index"] for g in good] == [0]
    assert len(problems) == 5
    (tmp_path / "c.json").write_text("{not json")
    assert read_capture(tmp_path / "c.json")[0] == []
    (tmp_path / "c.json").write_bytes(b"[" * (3 * 1024 * 1024))
    assert read_capture(tmp_path / "c.json")[0] == []


def test_best_config_rules():
    nb = nb_of(M("# Dropout"), C("a"), M("## Final part of the assignment"), C("b"), C("c"), C("d"))
    nb.cells[3].outputs = [stream(solver_log([0.2, 0.55]))]
    nb.cells[4].outputs = [stream(solver_log([0.2, 0.58]))]
    nb.cells[5].outputs = [stream("Validation accuracy: 0.52\n")]
    records = [record(1), record(3), record(4)]
    configs = attach_claims(records, notebook_claims(nb), nb)
    assert [c["in_final_part"] for c in configs] == [False, True, True]
    # the orphan summary in cell 5 evaluates the model trained in cell 4
    assert [c["claimed_val_acc"] for c in configs] == [None, 0.55, 0.52]
    best, rule = choose_best(configs)
    assert rule == "final_part_highest_claim" and best["cell_index"] == 3
    nb.cells[4].metadata["tags"] = ["best-config"]
    best, rule = choose_best(attach_claims(records, notebook_claims(nb), nb))
    assert rule == "tagged" and best["cell_index"] == 4
    nb.cells[4].metadata["tags"] = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    best, rule = choose_best(attach_claims(records, notebook_claims(nb), nb))
    assert rule == "last_trained" and best["cell_index"] == 4
    assert choose_best([]) == (None, "none")


# ---- finding and repairing -----------------------------------------------------------------------

def write_nb(path: Path, nb) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def test_find_prefers_patterns_then_content(tmp_path):
    body = nb_of(C("model = FullyConnectedNet([10], dropout=0.5)"))
    write_nb(tmp_path / ".ipynb_checkpoints" / "Dropout-checkpoint.ipynb", body)
    write_nb(tmp_path / "BatchNormalization.ipynb", nb_of(C("x = 1")))
    assert find_notebook(tmp_path, ("Dropout.ipynb", "*Dropout*.ipynb")) is None
    other = write_nb(tmp_path / "hw4" / "my_hw.ipynb", body)
    assert find_notebook(tmp_path, ("Dropout.ipynb", "*Dropout*.ipynb")) == other
    named = write_nb(tmp_path / "Dropout-Copy1.ipynb", body)
    assert find_notebook(tmp_path, ("Dropout.ipynb", "*Dropout*.ipynb")) == named


def test_load_repairs_ids_minor_version_and_stray_fields(tmp_path):
    raw = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
           "cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# T"], "outputs": [],
                      "execution_count": 3},
                     {"cell_type": "code", "metadata": {}, "source": "x = 1", "outputs": [],
                      "execution_count": None}]}
    (tmp_path / "n.ipynb").write_text(json.dumps(raw))
    loaded = load_notebook(tmp_path / "n.ipynb")
    assert loaded.error is None and loaded.repairs
    nbformat.validate(loaded.nb)
    assert all(c.get("id") for c in loaded.nb.cells)
    assert loaded.nb.cells[0].source == "# T"


def test_malformed_json_is_a_clear_failure(tmp_path):
    (tmp_path / "Dropout.ipynb").write_text('{"cells": [ {"cell_type": "code", ')
    staged = types.SimpleNamespace(root=tmp_path, notebooks=[])
    out = run_notebook(staged, load_rubric(), None, level="none", work_dir=tmp_path / "work")
    executes = {c.check_id: c for c in out.checks}["notebook.executes"]
    assert executes.status == "failed" and executes.score == 0
    assert "not valid notebook JSON" in executes.message and "line 1" in executes.message
    assert out.extra["found"] and not out.extra["executed"]
    assert {c.check_id for c in out.checks} == {"notebook.executes", "notebook.free_response"}


def test_missing_notebook(tmp_path):
    staged = types.SimpleNamespace(root=tmp_path, notebooks=[])
    out = run_notebook(staged, load_rubric(), None, level="none", work_dir=tmp_path / "work")
    executes = {c.check_id: c for c in out.checks}["notebook.executes"]
    assert executes.score == 0 and "no assignment notebook found" in executes.message
    assert out.extra["found"] is False and out.extra["best_rule"] == "none"


def test_score_execution_partial():
    cells = [{"index": i, "first_line": "x", "status": s, "error": None}
             for i, s in enumerate(["ok", "ok", "error", "ok"])]
    status, score, msg = score_execution(cells, 5.0)
    assert status == "failed" and score == pytest.approx(3.75) and "3 of 4" in msg
    assert score_execution(cells[:2], 5.0)[:2] == ("passed", 5.0)


def test_generated_template_placeholder_is_not_an_answer():
    from autograder.template import ANSWER_PLACEHOLDER, REFERENCE, strip_notebook

    template = nbformat.reads(strip_notebook((REFERENCE / "Dropout.ipynb").read_text()), as_version=4)
    assert any(c.source == ANSWER_PLACEHOLDER for c in template.cells)
    assert extract_answer(template)["present"] is False
    reference = nbformat.read(REFERENCE / "Dropout.ipynb", as_version=4)
    assert extract_answer(reference)["present"] is True
