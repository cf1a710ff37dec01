"""The student profile grades public checks from exported data, with no reference solution at all.

The grader is copied into a temporary folder WITHOUT reference/, so any import of the reference
would fail for real rather than be simulated.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import PROJECT_ROOT
from autograder.rubric import load_rubric
from autograder.template import REFERENCE, solution_lines

sys.path.insert(0, str(PROJECT_ROOT / "examples"))
from build_examples import student_source  # noqa: E402


@pytest.fixture(scope="module")
def grader_without_reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("grader")
    for name in ("autograder", "rubrics", "student_template"):
        shutil.copytree(PROJECT_ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PROJECT_ROOT / "grade.py", root / "grade.py")
    assert not (root / "reference").exists()
    return root


def _student_repo(tmp_path: Path, solved: bool) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(PROJECT_ROOT / "student_template", repo)
    if solved:
        for src in (REFERENCE / "nndl").glob("*.py"):
            (repo / "nndl" / src.name).write_text(student_source(src.read_text()))
    return repo


def _grade(grader: Path, repo: Path, tmp_path: Path):
    summary = tmp_path / "summary.md"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GITHUB_STEP_SUMMARY": str(summary),
           "NNDL_REFERENCE_DIR": str(tmp_path / "no-reference-here")}
    proc = subprocess.run([sys.executable, str(grader / "grade.py"), str(repo), "--profile", "student",
                           "--stages", "checks", "--out", str(tmp_path / "out"), "--jobs", "1"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    results = list((tmp_path / "out").glob("*/results.json"))
    assert len(results) == 1, proc.stdout + proc.stderr
    return proc, json.loads(results[0].read_text()), summary


def test_solved_repo_passes_every_public_check_without_the_reference(grader_without_reference, tmp_path):
    proc, data, summary = _grade(grader_without_reference, _student_repo(tmp_path, solved=True), tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rubric = load_rubric()
    by_id = {t["extra_data"]["check_id"]: t for t in data["tests"]}
    for cid, spec in rubric.checks.items():
        if spec.part != "implementation":
            continue
        test = by_id[cid]
        if spec.public:
            assert test["extra_data"]["status"] == "passed", (cid, test["output"])
        else:  # hidden: reported as hidden, nothing about it leaks
            assert test["visibility"] != "visible"
            assert not test["extra_data"].get("details")
    assert not data["extra_data"]["errors"]
    assert "| " in summary.read_text()  # the job summary table was appended


def test_untouched_template_fails_public_checks_as_not_implemented(grader_without_reference, tmp_path):
    proc, data, _ = _grade(grader_without_reference, _student_repo(tmp_path, solved=False), tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    impl = [t for t in data["tests"]
            if t["extra_data"]["part"] == "implementation" and t["visibility"] == "visible" and t["max_score"] > 0]
    assert impl and all(t["extra_data"]["status"] == "failed" for t in impl)
    assert all(t["extra_data"]["diagnosis"] == "not_implemented" for t in impl), [t["output"] for t in impl]
    assert data["score"] == 0
    assert not data["extra_data"]["errors"] and "grader_error" not in data["extra_data"]["flags"]


def test_public_data_is_data_only():
    folder = PROJECT_ROOT / "student_template" / ".autograder" / "public"
    assert sorted(p.name for p in folder.iterdir()) == ["expected.json", "expected.npz"]
    text = (folder / "expected.json").read_text()
    secrets = {l.strip() for p in (REFERENCE / "nndl").glob("*.py") for l in solution_lines(p.read_text())}
    leaked = [s for s in secrets if len(s) >= 12 and s in text]
    assert not leaked
    import numpy as np

    with np.load(folder / "expected.npz", allow_pickle=False) as npz:  # raises if anything is pickled
        assert all(npz[k].dtype.kind in "fiub" for k in npz.files)


def test_the_workflow_command_grades_a_repo_in_place(grader_without_reference, tmp_path):
    """`nndl-grade . --profile student --out autograder-out` from the repo root (the shipped
    workflow): the output folder inside the repo must not be staged into the copy it grades."""
    repo = _student_repo(tmp_path, solved=True)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "NNDL_REFERENCE_DIR": str(tmp_path / "none")}
    for attempt in range(2):  # the second run finds last run's output folder inside the repo
        proc = subprocess.run([sys.executable, str(grader_without_reference / "grade.py"), ".", "--profile", "student",
                               "--stages", "checks", "--out", "autograder-out", "--force"],
                              capture_output=True, text=True, timeout=300, cwd=repo, env=env)
        assert proc.returncode == 0, (attempt, proc.stdout[-2000:], proc.stderr[-2000:])
    data = json.loads(next((repo / "autograder-out").glob("*/results.json")).read_text())
    assert "autograder-out" not in json.dumps(data["extra_data"]["staging"])
    assert not data["extra_data"]["errors"]
