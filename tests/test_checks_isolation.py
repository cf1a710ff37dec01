"""A hang, a crash or an exception costs only the check that met it; the student profile grades the
public checks from recorded expected values, without the reference."""

from __future__ import annotations

import dataclasses

from autograder.checks import run_checks, write_public_data
from autograder.rubric import load_rubric
from autograder.sandbox import Sandbox
from fixtures.bugs import BUGS, E, Fixture, build_submission

RUBRIC = load_rubric()

#: Misbehaviour triggered only by the inputs of one check each (shapes the other checks never use).
HOSTILE = Fixture("hostile", (
    E("layers.py", "    out = np.maximum(x, 0)\n",
      "    while x.shape == (7, 9):\n        pass\n    out = np.maximum(x, 0)\n"),
    E("layers.py", "    db = dout.sum(axis=0)\n",
      "    if dout.shape == (6, 5):\n        import os\n        os._exit(3)\n    db = dout.sum(axis=0)\n"),
    E("layers.py", "    dropout_param, mask = cache\n",
      "    dropout_param, mask = cache\n    if dout.shape == (30, 40):\n        raise RuntimeError('boom')\n"),
))


def test_hang_crash_and_exception_cost_only_their_checks(tmp_path):
    rubric = dataclasses.replace(RUBRIC, limits=dataclasses.replace(RUBRIC.limits, call_timeout=2.0))
    with Sandbox(build_submission(HOSTILE, tmp_path), rubric.limits, level="none") as sb:
        outcome = run_checks(sb, rubric)
    results = {r.check_id: r for r in outcome.results}
    assert results["layers.relu"].status == "timeout"
    assert results["layers.affine"].status == "error" and "crashed" in results["layers.affine"].message
    backward = results["dropout.backward"]
    assert backward.status == "failed" and backward.score == 0
    assert "RuntimeError: boom" in backward.message and "layers.py" in (backward.traceback or "")
    assert outcome.errors == []
    for check_id, r in results.items():
        if check_id not in ("layers.relu", "layers.affine", "dropout.backward"):
            assert r.status == "passed", (check_id, r.status, r.message)


def test_student_profile_replays_public_expected_values(tmp_path):
    data = write_public_data(tmp_path / "public", RUBRIC, level="none")
    assert (data / "expected.json").is_file() and (data / "expected.npz").is_file()

    with Sandbox(build_submission(None, tmp_path / "ref"), RUBRIC.limits, level="none") as sb:
        outcome = run_checks(sb, RUBRIC, profile="student", public_data=data)
    for r in outcome.results:
        spec = RUBRIC.checks[r.check_id]
        assert r.status == ("passed" if spec.public else "skipped"), (r.check_id, r.status, r.message)

    # Diagnoses that need extra reference values (fc_net.regularization's data term) work from the
    # public data too: a failing check must never turn into "skipped".
    for name, check_id in (("eps_outside_sqrt", "batchnorm.forward_train"), ("l2_without_half", "fc_net.regularization")):
        bug = next(f for f in BUGS if f.name == name)
        with Sandbox(build_submission(bug, tmp_path / name), RUBRIC.limits, level="none") as sb:
            outcome = run_checks(sb, RUBRIC, profile="student", public_data=data, only=(check_id,))
        r = {r.check_id: r for r in outcome.results}[check_id]
        assert r.status == "failed" and r.diagnosis == bug.fails[check_id], (name, r.status, r.message)


def test_without_reference_or_public_data_reference_checks_are_skipped(tmp_path, monkeypatch):
    from autograder import refimpl

    monkeypatch.setattr(refimpl, "available", lambda: False)
    with Sandbox(build_submission(None, tmp_path), RUBRIC.limits, level="none") as sb:
        outcome = run_checks(sb, RUBRIC, profile="student", only=("layers.affine", "dropout.forward_train"))
    results = {r.check_id: r for r in outcome.results}
    assert results["layers.affine"].status == "skipped"
    assert results["dropout.forward_train"].status == "passed"  # needs no reference
