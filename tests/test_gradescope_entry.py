"""gradescope/run_autograder grades the one submission in an /autograder-style layout and leaves a
results.json that validates against the Gradescope schema kept in tests/schemas."""

import json
import os
import shutil
import subprocess
import sys

import jsonschema
import pytest

from autograder import PROJECT_ROOT

SCHEMA = PROJECT_ROOT / "tests" / "schemas" / "gradescope_results.schema.json"


def _layout(tmp_path, submission_src):
    root = tmp_path / "autograder"
    root.mkdir()
    (root / "source").symlink_to(PROJECT_ROOT)
    shutil.copytree(submission_src, root / "submission")
    return root


def _run(root, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    env.update(AUTOGRADER_ROOT=str(root), AUTOGRADER_PYTHON=sys.executable, GRADER_ARGS="--stages checks",
               XDG_CACHE_HOME=str(tmp_path / "cache"))
    return subprocess.run(["bash", str(PROJECT_ROOT / "gradescope" / "run_autograder")], env=env,
                          capture_output=True, text=True, timeout=300)


def test_one_submission_yields_a_valid_results_json(tmp_path):
    root = _layout(tmp_path, PROJECT_ROOT / "examples" / "submissions" / "ben")
    proc = _run(root, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(data, json.loads(SCHEMA.read_text()))
    by_id = {t["extra_data"]["check_id"]: t for t in data["tests"]}
    assert by_id["dropout.forward_train"]["status"] == "failed"
    assert by_id["layers.affine"]["status"] == "passed"
    assert data["extra_data"]["submission_id"] == "submission"


def test_an_empty_submission_still_yields_a_results_json(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "README.txt").write_text("forgot to upload\n")
    root = _layout(tmp_path, empty)
    _run(root, tmp_path)
    data = json.loads((root / "results" / "results.json").read_text())
    assert data["score"] == 0
    assert "nndl" in json.dumps(data)  # says what was missing
