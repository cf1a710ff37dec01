"""Reports: per-student HTML, the class dashboard, grades.csv, summary.json and CI output.

    write_reports(out_dir, results, rubric=rubric, profile="instructor")
      -> {"index": OUT/index.html, "grades": OUT/grades.csv, "summary": OUT/summary.json,
          "<id>": OUT/<id>/report.html, ...}

A report that fails to render never stops the batch: that student gets a minimal page naming
the problem, and the failure is listed under ``"errors"`` in summary.json.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ..results import SubmissionResult, jsonable
from ..rubric import Rubric
from .files import write_page
from .ci import annotations, exit_code, step_summary, write_step_summary
from .csv_export import grades_csv, write_grades_csv
from .dashboard import class_summary, render_dashboard
from .html import _diagnoses, render_error_page, render_student
from .view import for_profile, report_href, safe_dirname

__all__ = [
    "write_reports", "write_student_report", "load_results", "class_summary", "render_student",
    "grades_csv", "exit_code", "write_step_summary", "step_summary", "annotations", "for_profile",
    "safe_dirname", "report_href",
]

log = logging.getLogger(__name__)


def student_dir(out_dir: Path, submission_id: str) -> Path:
    return Path(out_dir) / safe_dirname(submission_id)


def write_student_report(out_dir: Path, result: SubmissionResult, *, rubric: Rubric | None = None,
                         profile: str = "instructor", write_results: bool = False) -> Path:
    """Write ``OUT/<id>/report.html`` (and ``results.json`` when ``write_results``); return the page."""
    return _write_student(out_dir, result, rubric, profile, write_results, None)[0]


def _write_student(out_dir: Path, result: SubmissionResult, rubric: Rubric | None, profile: str,
                   write_results: bool, diag: dict[str, str] | None) -> tuple[Path, str | None]:
    folder = student_dir(out_dir, result.submission_id)
    page = folder / "report.html"
    if write_results:
        result.write(folder / "results.json")
    error = None
    try:
        html = render_student(result, rubric=rubric, profile=profile, dashboard_href="../index.html",
                              diagnoses=diag)
    except Exception as exc:  # a malformed result must not cost the rest of the class its reports
        log.exception("report for %s failed", result.submission_id)
        error = f"{result.submission_id}: {type(exc).__name__}: {exc}"
        html = render_error_page(result, f"{type(exc).__name__}: {exc}")
    write_page(page, html)
    return page, error


def write_reports(out_dir: Path, results: list[SubmissionResult], *, rubric: Rubric | None = None,
                  profile: str = "instructor", write_results: bool = False) -> dict[str, Path]:
    """Every per-student report, then ``index.html``, ``grades.csv`` and ``summary.json``.

    Returns paths keyed ``"index"``, ``"grades"``, ``"summary"`` and ``"report/<id>"``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    failures: list[str] = []
    diag = _diagnoses()
    for r in results:
        page, error = _write_student(out_dir, r, rubric, profile, write_results, diag)
        written[f"report/{r.submission_id}"] = page
        if error:
            failures.append(error)
    shown = [for_profile(r, profile) for r in results]
    summary = class_summary(shown, rubric)
    summary["profile"] = profile
    summary["errors"] = failures
    written["summary"] = out_dir / "summary.json"
    write_page(written["summary"], json.dumps(jsonable(summary), indent=2, allow_nan=False) + "\n")
    written["index"] = out_dir / "index.html"
    write_page(written["index"], render_dashboard(summary))
    written["grades"] = write_grades_csv(out_dir / "grades.csv", shown, rubric)
    return written


def load_results(out_dir: Path) -> tuple[list[SubmissionResult], list[str]]:
    """Read every ``OUT/*/results.json``; unreadable ones are reported, not fatal."""
    results, problems = [], []
    for path in sorted(Path(out_dir).glob("*/results.json")):
        try:
            results.append(SubmissionResult.read(path))
        except (OSError, ValueError, TypeError, KeyError, AttributeError, json.JSONDecodeError) as exc:
            problems.append(f"{path}: {type(exc).__name__}: {exc}")
    return results, problems
