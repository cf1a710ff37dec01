"""Static checks of reference/Dropout.ipynb: structure the grader and the template generator rely on.

The notebook is executed end to end elsewhere; here nothing runs, so these stay fast.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

from autograder import PROJECT_ROOT
from autograder.template import BEGIN, END, TemplateError, strip_notebook

NOTEBOOK = PROJECT_ROOT / "reference" / "Dropout.ipynb"
REFERENCE = PROJECT_ROOT / "reference"
FINAL_HEADING = "## 1.7 Final part of the assignment"
SECTIONS = ["## 1.1 Dropout forward pass", "## 1.2 Dropout backward pass", "## 1.3 ", "## 1.4 Dropout as a regularizer",
            "## 1.5 Question", "## 1.6 Answer", FINAL_HEADING]


@pytest.fixture(scope="module")
def nb():
    return nbformat.read(NOTEBOOK, as_version=nbformat.NO_CONVERT)


def _code(cell) -> str:
    """Cell source as Python: IPython magics and shell escapes dropped."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in cell.source.splitlines())


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and (getattr(n.func, "id", None) == name or getattr(n.func, "attr", None) == name)]


def _def_args(path: Path, qualname: str) -> set[str]:
    """Parameter names of a function or method in a reference file, read without importing it."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    owner, _, func = qualname.rpartition(".")
    scope = tree.body
    if owner:
        scope = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == owner).body
    fn = next(n for n in scope if isinstance(n, ast.FunctionDef) and n.name == func)
    return {a.arg for a in fn.args.args + fn.args.kwonlyargs}


def test_valid_nbformat_45_with_ids_and_no_outputs(nb):
    nbformat.validate(nb)
    assert (nb.nbformat, nb.nbformat_minor) >= (4, 5)
    ids = [c.get("id") for c in nb.cells]
    assert all(ids) and len(set(ids)) == len(ids)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.id
    assert nb.metadata.kernelspec.name == "python3"


def test_sections_appear_in_order(nb):
    headings = [line for c in nb.cells if c.cell_type == "markdown" for line in c.source.splitlines()
                if line.startswith("#")]
    positions = [next((i for i, h in enumerate(headings) if h.startswith(s)), None) for s in SECTIONS]
    assert None not in positions, dict(zip(SECTIONS, positions))
    assert positions == sorted(positions)
    assert FINAL_HEADING in headings  # the grader finds the final part by this heading


def test_every_code_cell_parses(nb):
    parsed = [ast.parse(_code(cell), filename=cell.id) for cell in nb.cells if cell.cell_type == "code"]
    assert len(parsed) >= 8  # raises SyntaxError above on any cell that does not parse


def test_imports_name_modules_the_reference_provides(nb):
    imported = set()
    for cell in nb.cells:
        if cell.cell_type == "code":
            imported |= {n.module for n in ast.walk(ast.parse(_code(cell))) if isinstance(n, ast.ImportFrom)}
    assert {"nndl.fc_net", "nndl.layers", "cs231n.data_utils", "cs231n.gradient_check", "cs231n.solver"} <= imported
    for module in imported:
        if module.split(".")[0] in ("nndl", "cs231n"):
            assert (REFERENCE / (module.replace(".", "/") + ".py")).is_file(), module


def test_w2021_experiments(nb):
    source = "\n".join(_code(c) for c in nb.cells if c.cell_type == "code")
    assert re.search(r"for p in \[0\.3, 0\.6, 0\.75\]", source)
    assert re.search(r"for dropout in \[0, 0\.25, 0\.5\]", source)
    assert "dropout_choices = [0, 0.6]" in source
    assert "'seed': 123" in source and "get_CIFAR10_data()" in source


def _best_cells(nb):
    return [(i, c) for i, c in enumerate(nb.cells) if "best-config" in c.metadata.get("tags", [])]


def test_one_tagged_best_config_cell_in_the_final_part(nb):
    tagged = _best_cells(nb)
    assert len(tagged) == 1
    index, cell = tagged[0]
    final = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and FINAL_HEADING in c.source)
    assert cell.cell_type == "code" and index > final
    tree = ast.parse(_code(cell))
    assert len(_calls(tree, "FullyConnectedNet")) == 1 and len(_calls(tree, "Solver")) == 1
    assert _calls(tree, "train")


def test_best_config_uses_only_arguments_the_reference_accepts(nb):
    tree = ast.parse(_code(_best_cells(nb)[0][1]))
    model_kw = {k.arg: ast.literal_eval(k.value) for k in _calls(tree, "FullyConnectedNet")[0].keywords}
    assert model_kw["use_batchnorm"] is True and 0 < model_kw["dropout"] < 1  # keep probability
    assert set(model_kw) <= _def_args(REFERENCE / "nndl" / "fc_net.py", "FullyConnectedNet.__init__")
    solver_kw = {k.arg for k in _calls(tree, "Solver")[0].keywords}
    solver_src = ast.parse((REFERENCE / "cs231n" / "solver.py").read_text(encoding="utf-8"))
    defaults = next(n.value for n in solver_src.body if isinstance(n, ast.Assign)
                    and getattr(n.targets[0], "id", None) == "_DEFAULTS")
    assert solver_kw <= set(ast.literal_eval(defaults))
    for name in ("dropout_forward", "dropout_backward"):
        assert _def_args(REFERENCE / "nndl" / "layers.py", name)


def test_solution_markers_are_balanced_and_strip_cleanly(nb):
    raw = NOTEBOOK.read_text(encoding="utf-8")
    for cell in nb.cells:
        if cell.cell_type == "code":
            marks = [line.strip() for line in cell.source.splitlines() if line.strip() in (BEGIN, END)]
            assert marks == [BEGIN, END] * (len(marks) // 2), cell.id
    try:
        stripped = nbformat.reads(strip_notebook(raw), as_version=4)
    except TemplateError as exc:  # pragma: no cover - the assertion message is the point
        pytest.fail(f"template generator rejects the notebook: {exc}")
    best = _best_cells(stripped)[0][1].source
    assert "FullyConnectedNet(" not in best and "solver.train()" not in best and BEGIN not in best
    assert "model = None" in best


def test_answer_is_a_solution_tagged_cell_after_its_heading(nb):
    cells = nb.cells
    heading = next(i for i, c in enumerate(cells) if c.cell_type == "markdown" and "## 1.6 Answer" in c.source)
    answer = cells[heading + 1]
    assert answer.cell_type == "markdown" and "solution" in answer.metadata.get("tags", [])
    assert len(answer.source.split()) >= 30


SEED = Path("/work/shared/seed/000_b26645b9cc948591.txt")


@pytest.mark.skipif(not SEED.exists(), reason="the seed notebook is only on the development machine")
def test_prose_is_not_copied_from_the_seed(nb):
    """No run of 10 words of the notebook's prose appears verbatim in the student's notebook."""
    def words(text: str) -> list[str]:
        return re.findall(r"[a-z0-9']+", text.lower())

    seed = " ".join(words(SEED.read_text(encoding="utf-8", errors="replace")))
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            w = words(cell.source)
            for i in range(len(w) - 9):
                assert " ".join(w[i:i + 10]) not in seed, (cell.id, " ".join(w[i:i + 10]))
