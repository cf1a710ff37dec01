"""``OUT/grades.csv``: one row per submission, ready for an LMS gradebook import."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ..results import PARTS, SubmissionResult
from ..rubric import Rubric
from .files import write_page
from .view import fmt_score, review_reasons

BASE_COLUMNS = ("id", "total", "max_total")
#: "dataset" says "synthetic:..." when accuracies come from the synthetic stand-in, not CIFAR-10.
TAIL_COLUMNS = ("validation_accuracy", "claimed_accuracy", "dataset", "flags")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def columns(results: list[SubmissionResult], rubric: Rubric | None = None) -> list[str]:
    """id, total, max_total, one column per part that has points, accuracy, claim, flags."""
    if rubric is not None:
        parts = {spec.part for spec in rubric.checks.values()}
    else:
        parts = {c.part for r in results for c in r.checks}
    return [*BASE_COLUMNS, *(p for p in PARTS if p in parts), *TAIL_COLUMNS]


def _cell(text: str) -> str:
    """Neutralise spreadsheet formulas in free text (a folder named '=HYPERLINK(...)')."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def _percent(x) -> str:
    return "" if x is None else f"{float(x) * 100:.2f}"


def grades_csv(results: list[SubmissionResult], rubric: Rubric | None = None) -> str:
    cols = columns(results, rubric)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    writer.writeheader()
    for r in sorted(results, key=lambda r: r.submission_id):
        parts = r.part_scores()
        training = r.training if isinstance(r.training, dict) else {}
        claimed = training.get("claimed_accuracy")
        row = {"id": _cell(r.submission_id), "total": fmt_score(r.score), "max_total": fmt_score(r.max_score),
               "validation_accuracy": _percent(r.validation_accuracy),
               "claimed_accuracy": _percent(claimed) if isinstance(claimed, (int, float)) else "",
               "dataset": _cell(r.dataset), "flags": ";".join(review_reasons(r))}
        for p in PARTS:
            if p in cols:
                row[p] = fmt_score(parts[p][0]) if p in parts else "0"
        writer.writerow(row)
    return buf.getvalue()


def write_grades_csv(path: Path, results: list[SubmissionResult], rubric: Rubric | None = None) -> Path:
    write_page(path, grades_csv(results, rubric))
    return path
