"""student_template/ is generated from reference/ and never carries a solution line."""

import importlib.util
import json
from pathlib import Path
import subprocess
import sys

import numpy as np
import pytest

from autograder import PROJECT_ROOT
from autograder.template import (REFERENCE, TEMPLATE, TemplateError, generate, notebook_solution_lines, strip_notebook,
                                 solution_lines, stale_files, strip_solutions)

SRC = """def f(x):
    out = None
    ### BEGIN SOLUTION
    ### STUB: out = None
    out = x * 2 + secret_constant
    ### END SOLUTION
    return out
"""


def test_region_becomes_runnable_stub():
    stripped = strip_solutions(SRC)
    assert "secret_constant" not in stripped
    assert "YOUR CODE HERE" in stripped and "    out = None" in stripped
    ns = {}
    exec(stripped, ns)
    assert ns["f"](3) is None


def test_region_without_stub_becomes_pass():
    src = "def g():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n"
    ns = {}
    exec(strip_solutions(src), ns)
    assert ns["g"]() is None


@pytest.mark.parametrize("src,needle", [
    ("### BEGIN SOLUTION\nx = 1\n", "never closed"),
    ("### END SOLUTION\n", "without BEGIN"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "nested"),
])
def test_bad_markers_are_errors(src, needle):
    with pytest.raises(TemplateError, match=needle):
        strip_solutions(src, "x.py")


def _secret_lines():
    """Solution lines distinctive enough that seeing one in the template means a leak."""
    secrets, outside = set(), set()
    for path in sorted((REFERENCE / "nndl").glob("*.py")):
        text = path.read_text()
        inside = {l.strip() for l in solution_lines(text)}
        secrets |= inside
        outside |= {l.strip() for l in strip_solutions(text).splitlines()}
    for path in sorted(REFERENCE.glob("*.ipynb")):
        raw = path.read_text()
        secrets |= {l.strip() for l in notebook_solution_lines(raw)}
        for cell in json.loads(strip_notebook(raw))["cells"]:
            outside |= {l.strip() for l in "".join(cell["source"]).splitlines()}
    return {s for s in secrets - outside if len(s) >= 12 and not s.startswith("#")}


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    dest = tmp_path_factory.mktemp("template")
    generate(REFERENCE, dest)
    return dest


def test_no_solution_line_reaches_the_template(fresh):
    secrets = _secret_lines()
    assert len(secrets) > 30  # the reference really has solution regions
    for root in (fresh, TEMPLATE):
        for path in root.rglob("*"):
            if path.is_file() and path.suffix in (".py", ".ipynb", ".json", ".md", ".yml"):
                text = path.read_text(errors="replace")
                if path.suffix == ".ipynb":  # compare with cell text, not JSON-escaped text
                    text = "\n".join("".join(c["source"]) for c in json.loads(text)["cells"])
                leaked = [s for s in secrets if s in text]
                assert not leaked, f"{path} contains solution lines: {leaked[:3]}"


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_generated_layers_import_and_are_obviously_unimplemented(fresh):
    layers = _load(fresh / "nndl" / "layers.py", "_tmpl_layers")
    x = np.ones((4, 3))
    out, _ = layers.affine_forward(x, np.ones((3, 2)), np.zeros(2))
    assert out is None
    out, _ = layers.relu_forward(x)
    assert out is None
    assert (fresh / "cs231n" / "solver.py").read_bytes() == (REFERENCE / "cs231n" / "solver.py").read_bytes()
    assert not (fresh / "utils" / "solver.py").exists()  # one copy of the helpers; utils is an alias


@pytest.mark.parametrize("chosen,alias", [("cs231n", "utils"), ("utils", "cs231n")])
def test_the_other_helper_name_is_an_alias_of_the_rubrics_package(tmp_path, chosen, alias):
    generate(REFERENCE, tmp_path, helpers_package=chosen)
    assert (tmp_path / chosen / "solver.py").is_file() and not (tmp_path / alias / "solver.py").exists()
    probe = (f"import {alias}.solver, {chosen}.solver\n"
             f"from {alias}.solver import Solver\n"
             f"from {alias} import gradient_check\n"
             f"assert {alias}.solver is {chosen}.solver and Solver is {chosen}.solver.Solver\n"
             f"assert gradient_check is {chosen}.gradient_check\n"
             f"print({chosen}.solver.__file__)\n")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()).parent.name == chosen


def test_check_catches_a_stale_template(fresh, tmp_path):
    assert stale_files(REFERENCE, fresh) == []
    (fresh / "nndl" / "layers.py").write_text((fresh / "nndl" / "layers.py").read_text() + "\n# edited\n")
    (fresh / "nndl" / "extra.py").write_text("x = 1\n")
    problems = stale_files(REFERENCE, fresh)
    assert "out of date: nndl/layers.py" in problems
    assert "not generated from reference/: nndl/extra.py" in problems


def test_committed_template_is_up_to_date():
    proc = subprocess.run([sys.executable, str(PROJECT_ROOT / "grade.py"), "template", "--check"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
