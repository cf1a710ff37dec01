"""Class dashboard (``OUT/index.html``) and the numbers behind it (``OUT/summary.json``).

`class_summary` computes every number once; the page and summary.json both come from it, so
what staff read on the page is exactly what a script reads from the JSON.
"""

from __future__ import annotations

import math

import datetime as _dt
import re
import statistics
from collections import Counter, defaultdict
from typing import Any

from ..results import PARTS, SubmissionResult
from ..rubric import CHECK_PARTS, Rubric
from . import charts, view
from .html import environment

HIST_BINS = 10
LEADERBOARD_SIZE = 25
TOP_DIAGNOSES = 15


def _check_order(results: list[SubmissionResult], rubric: Rubric | None) -> list[str]:
    seen: dict[str, None] = {}
    if rubric is not None:
        seen.update((cid, None) for cid in rubric.checks)
    for r in results:
        for c in r.checks:
            seen.setdefault(c.check_id, None)
    return list(seen)


def _diagnosis_text(diag: str) -> str:
    """The catalogue sentence for a diagnosis, with its measured-number slots shown as '…'."""
    from .html import _diagnoses

    text = _diagnoses().get(diag, "")
    return re.sub(r"\{[^{}]*\}", "…", text)


def class_summary(results: list[SubmissionResult], rubric: Rubric | None = None) -> dict[str, Any]:
    """Every number the dashboard shows; also written verbatim as summary.json."""
    totals = [r.score for r in results]
    max_total = rubric.total_points if rubric is not None else max((r.max_score for r in results), default=0.0)
    part_max: dict[str, float] = defaultdict(float)
    if rubric is not None:
        for cid, spec in rubric.checks.items():
            part_max[CHECK_PARTS.get(cid, "implementation")] += spec.points
    else:
        for r in results:
            for part, (_, m) in r.part_scores().items():
                part_max[part] = max(part_max[part], m)

    checks = []
    for cid in _check_order(results, rubric):
        found = [c for r in results if (c := r.check(cid)) is not None]
        if not found:
            continue
        counts = Counter(c.status for c in found)
        checks.append({
            "check_id": cid, "name": found[0].name, "part": found[0].part,
            "max_score": max(c.max_score for c in found), "graded": len(found),
            "counts": {s: counts.get(s, 0) for s in view.STATUS_ORDER},
            "pass_rate": round(counts.get("passed", 0) / len(found), 4),
            "mean_score": round(statistics.fmean(c.score for c in found), 4),
        })
    checks.sort(key=lambda c: (c["pass_rate"], -c["max_score"]))

    diag_students: dict[str, list[str]] = defaultdict(list)
    diag_checks: dict[str, list[str]] = defaultdict(list)
    diag_example: dict[str, str] = {}
    for r in results:
        for c in r.checks:
            if not c.diagnosis:
                continue
            if r.submission_id not in diag_students[c.diagnosis]:
                diag_students[c.diagnosis].append(r.submission_id)
            if c.check_id not in diag_checks[c.diagnosis]:
                diag_checks[c.diagnosis].append(c.check_id)
            diag_example.setdefault(c.diagnosis, c.message)
    diagnoses = [
        {"diagnosis": d, "checks": diag_checks[d], "count": len(ids), "students": ids,
         "description": _diagnosis_text(d), "example": diag_example[d]}
        for d, ids in sorted(diag_students.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    ][:TOP_DIAGNOSES]

    ranked = sorted((r for r in results if r.validation_accuracy is not None),
                    key=lambda r: (-r.validation_accuracy, r.submission_id))
    leaderboard = [
        {"rank": i + 1, "id": r.submission_id, "accuracy": round(r.validation_accuracy, 4),
         "claimed": (r.training or {}).get("claimed_accuracy"), "total": round(r.score, 4),
         "report": view.report_href(r.submission_id)}
        for i, r in enumerate(ranked[:LEADERBOARD_SIZE])
    ]

    students = []
    review = []
    for r in sorted(results, key=lambda r: r.submission_id):
        parts = r.part_scores()
        reasons = view.review_reasons(r)
        not_passed = [c.check_id for c in r.checks if c.status != "passed" and c.max_score > 0]
        students.append({
            "id": r.submission_id, "total": round(r.score, 4), "max": round(r.max_score, 4),
            "parts": {p: round(parts[p][0], 4) if p in parts else None for p in PARTS if p in part_max},
            "accuracy": None if r.validation_accuracy is None else round(r.validation_accuracy, 4),
            "flags": reasons, "not_passed": not_passed, "sandbox": r.sandbox_level,
            "report": view.report_href(r.submission_id),
        })
        if reasons:
            review.append({"id": r.submission_id, "reasons": reasons, "errors": list(r.errors),
                           "sandbox": r.sandbox_level, "missing": list(r.sandbox_missing),
                           "report": view.report_href(r.submission_id), "note": _review_note(r, reasons)})

    return {
        "generated": _dt.datetime.now().isoformat(timespec="seconds"),
        "rubric": rubric.name if rubric is not None else (results[0].rubric_name if results else ""),
        "count": len(results),
        "datasets": sorted({r.dataset for r in results if r.dataset}),
        "synthetic_data": any(r.dataset.startswith("synthetic") for r in results),
        "max_total": round(max_total, 4),
        "part_max": {p: round(part_max[p], 4) for p in PARTS if p in part_max},
        "stats": _stats(totals),
        "accuracy_stats": _stats([r.validation_accuracy for r in results if r.validation_accuracy is not None]),
        "histogram": {"lo": 0.0, "hi": round(max_total, 4), "bins": HIST_BINS,
                      "counts": charts.histogram_counts(totals, 0.0, max_total or 1.0, HIST_BINS)},
        "checks": checks,
        "diagnoses": diagnoses,
        "leaderboard": leaderboard,
        "review": review,
        "students": students,
    }


def _stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "median": None, "min": None, "max": None}
    return {"mean": round(statistics.fmean(values), 4), "median": round(statistics.median(values), 4),
            "min": round(min(values), 4), "max": round(max(values), 4)}


def _review_note(r: SubmissionResult, reasons: list[str]) -> str:
    notes = []
    if "claim_mismatch" in reasons and r.training:
        claimed, measured = r.training.get("claimed_accuracy"), r.training.get("accuracy")
        notes.append(f"claimed {view.fmt_pct(claimed)}, measured {view.fmt_pct(measured)}")
    if "timeout" in reasons:
        timed = [c.check_id for c in r.checks if c.status == "timeout"]
        notes.append("timed out: " + (", ".join(timed) if timed else "a stage"))
    if "weak_sandbox" in reasons:
        notes.append(f"sandbox {r.sandbox_level}" + (f" without {', '.join(r.sandbox_missing)}" if r.sandbox_missing else ""))
    notes += r.errors[:2]
    return "; ".join(notes)


def render_dashboard(summary: dict[str, Any]) -> str:
    hist = summary["histogram"]
    histogram_svg = charts.histogram(
        [s["total"] for s in summary["students"]], lo=hist["lo"], hi=hist["hi"] or 1.0, bins=hist["bins"],
        title="Total score", x_label="points")
    acc = [s["accuracy"] for s in summary["students"] if s["accuracy"] is not None]
    pct = [a * 100 for a in acc]
    # 5-point bins over 20-70% (where real classes land), widened to fit every student
    lo = min([20.0] + [5 * math.floor(p / 5) for p in pct])
    hi = max([70.0] + [5 * math.ceil(p / 5) for p in pct])
    accuracy_svg = charts.histogram(pct, lo=lo, hi=hi, bins=max(1, int((hi - lo) / 5)),
                                    title="Validation accuracy", x_label="percent") if acc else ""
    return environment().get_template("dashboard.html.j2").render(
        s=summary, histogram_svg=histogram_svg, accuracy_svg=accuracy_svg,
        review_labels=view.REVIEW_LABELS, part_titles=view.PART_TITLES,
        generated=str(summary.get("generated", "")).replace("T", " "))
