"""The implementation checks: verdicts against the reference, with diagnoses a student can act on.

    from autograder.checks import run_checks
    with Sandbox(staged.root, rubric.limits) as sb:
        outcome = run_checks(sb, rubric, profile="instructor")
    outcome.results, outcome.warnings, outcome.errors

`CHECKS` maps each check id to its definition (`base.CheckDef`); topic modules register theirs on
import. Expected values come from the reference (instructor profile) or from a public-data folder
recorded with `write_public_data` (student profile, which ships without the reference).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import refimpl
from ..results import CheckResult
from ..rubric import Rubric
from . import batchnorm, dropout, fc_net, layers, optim  # noqa: F401 - registers the checks
from .base import CHECKS, CheckContext, CheckDef, Verdict, run_check
from .conventions import convention_warnings
from .diagnoses import DIAGNOSES, describe
from .oracle import Expected, ReferenceUnavailable

__all__ = ["CHECKS", "ChecksOutcome", "run_checks", "write_public_data", "DIAGNOSES", "describe",
           "CheckContext", "CheckDef", "Verdict"]

#: Sandbox notes true of every submission (not about the student's code): left out of the warnings.
#: The specific "np.<alias> was used" note is kept.
GENERIC_NOTES = ("NumPy-1 aliases removed in NumPy",)

#: Student modules imported up front, so an import error is reported once, as a warning.
STUDENT_MODULES = ("nndl.layers", "nndl.fc_net", "nndl.optim")


@dataclass
class ChecksOutcome:
    results: list[CheckResult]
    #: Notes for the student and staff: term conventions, waived template bug, numpy aliases...
    warnings: list[str] = field(default_factory=list)
    #: Grader-side failures (never the student's fault); the pipeline flags them.
    errors: list[str] = field(default_factory=list)
    #: Diagnosis ids recognised but not charged (rubric waivers).
    waived: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _expected_source(profile: str, public_data: Path | str | None) -> tuple[Expected | None, str]:
    if refimpl.available() and (profile != "student" or public_data is None):
        return Expected.live(), ""
    if public_data is not None:
        try:
            return Expected.from_folder(public_data), ""
        except ReferenceUnavailable as exc:
            return None, str(exc)
    return None, "the reference solution is not available here"


def run_checks(sb, rubric: Rubric, profile: str = "instructor", public_data: Path | str | None = None, *,
               only: tuple[str, ...] | None = None, expected: Expected | None = None) -> ChecksOutcome:
    """Run every rubric check this module knows, in rubric order; never raises for student code."""
    started = time.monotonic()
    why_no_ref = ""
    if expected is None:
        expected, why_no_ref = _expected_source(profile, public_data)
    warnings = convention_warnings(getattr(sb, "root", None), rubric.conventions)
    warnings.extend(_import_warnings(sb))
    outcome = ChecksOutcome(results=[], warnings=warnings)
    prior: dict[str, CheckResult] = {}
    for check_id, spec in rubric.checks.items():
        defn = CHECKS.get(check_id)
        if defn is None or (only is not None and check_id not in only):
            continue
        if profile == "student" and not spec.public:
            result = _skipped(spec, "Graded by the course staff (not run in the student profile).")
        elif expected is None and not defn.reference_free:
            result = _skipped(spec, f"Not graded here: {why_no_ref}.")
        else:
            ctx = CheckContext(sb=sb, rubric=rubric, spec=spec, rng=np.random.default_rng(rubric.seed_for(check_id)),
                               prior=prior, expected=expected or Expected.live(), warnings=outcome.warnings)
            result = run_check(defn, ctx, outcome.errors)
        prior[check_id] = result
        outcome.results.append(result)
        if result.status == "passed" and result.diagnosis:
            outcome.waived.append(result.diagnosis)
    for note in getattr(sb, "warnings", []) or []:
        if note.startswith(GENERIC_NOTES):
            continue
        if note not in outcome.warnings:
            outcome.warnings.append(note)
    outcome.seconds = time.monotonic() - started
    return outcome


def _import_warnings(sb) -> list[str]:
    notes = []
    for module in STUDENT_MODULES:
        try:
            sb.import_module(module)
        except Exception as exc:  # noqa: BLE001 - any sandbox outcome: the checks report it again
            text = getattr(exc, "message", None) or str(exc)
            kind = getattr(exc, "exc_type", type(exc).__name__)
            notes.append(f"{module.replace('.', '/')}.py could not be imported ({kind}: {text[:300]}); "
                         "every check that needs it fails.")
    return notes


def _skipped(spec, message: str) -> CheckResult:
    return spec.result("skipped", message=message)


def write_public_data(folder: Path | str, rubric: Rubric, *, level: str = "auto") -> Path:
    """Record the expected values of the public checks by grading the reference itself.

    The folder holds only expected outputs for the grader's own seeded inputs (no solution code);
    the student profile replays them with `run_checks(..., public_data=folder)`.
    """
    from ..sandbox import Sandbox

    expected = Expected.live(record=True)
    public = tuple(cid for cid, spec in rubric.checks.items() if spec.public)
    with Sandbox(refimpl.reference_dir(), rubric.limits, level=level) as sb:
        outcome = run_checks(sb, rubric, "instructor", only=public, expected=expected)
    bad = [r.check_id for r in outcome.results if r.status != "passed"]
    if bad or outcome.errors:
        raise RuntimeError(f"the reference does not pass its own checks: {bad} {outcome.errors}")
    return expected.save(folder)
