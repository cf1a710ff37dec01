"""Turn `SubmissionResult`s into plain, defensive view data for the templates, CSV and CI.

Notebook and training data arrive from other stages as loose dicts; anything malformed here is
shown as "not run" rather than crashing a batch. The student profile is applied *before* any
rendering (`for_profile`), so no template can leak what a hidden check found.
"""

from __future__ import annotations

import copy
import math
import re
from typing import Any
from urllib.parse import quote

from ..catalogue import PART_TITLES  # re-exported: the dashboard passes it to its template
from ..results import PARTS, CheckResult, SubmissionResult
from ..rubric import TrainingSettings

STATUS_ORDER = ("passed", "failed", "error", "timeout", "skipped")
HIDDEN_MESSAGE = "Hidden check: its result is published after grading."

#: Review reasons staff should look at, in display order, with a human label.
REVIEW_LABELS = {
    "grader_error": "grader error",
    "claim_mismatch": "claimed accuracy differs from measured",
    "timeout": "timeout",
    "weak_sandbox": "weak sandbox",
}

_FRAME_RE = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>.+))?\s*$', re.M)


# ---- profile ---------------------------------------------------------------------------------

def is_hidden(check: CheckResult) -> bool:
    """Hidden from students now: Gradescope's hidden, after_due_date and after_published checks.

    Student CI runs before the due date, so anything not plainly ``visible`` stays hidden.
    """
    return (check.visibility or "visible") != "visible"


def for_profile(result: SubmissionResult, profile: str = "instructor") -> SubmissionResult:
    """A copy fit for ``profile``: for students, hidden checks keep only their name and points."""
    if profile != "student":
        return result
    out = copy.deepcopy(result)
    redacted = []
    for c in out.checks:
        if is_hidden(c):
            c = CheckResult(c.check_id, "skipped", 0.0, c.max_score, name=c.name, part=c.part,
                            message=HIDDEN_MESSAGE, visibility=c.visibility, tags=list(c.tags) + ["hidden"])
        redacted.append(c)
    out.checks = redacted
    training_check = result.check("training.accuracy")
    if out.training is not None and training_check is not None and is_hidden(training_check):
        out.training = {"hidden": True}
        out.flags = [f for f in out.flags if f != "claim_mismatch"]
    out.profile = "student"
    return out


# ---- paths ---------------------------------------------------------------------------------

def safe_dirname(submission_id: str) -> str:
    """The folder name for a submission: its id, unless that could escape the output folder."""
    name = re.sub(r"[/\\\x00-\x1f]", "_", str(submission_id)).strip()
    return name if name not in ("", ".", "..") else f"_{name.replace('.', '_')}_"


def report_href(submission_id: str) -> str:
    """Link from the dashboard (OUT/index.html) to OUT/<id>/report.html."""
    return f"{quote(safe_dirname(submission_id))}/report.html"


# ---- formatting ------------------------------------------------------------------------------

def fmt_score(x: Any) -> str:
    """Points as a person writes them: 4, 4.5, 23.21."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "—"
    if not math.isfinite(x):
        return "—"
    return f"{round(x, 2):g}"


def fmt_pct(fraction: Any, digits: int = 1) -> str:
    try:
        f = float(fraction)
    except (TypeError, ValueError):
        return "—"
    return f"{f * 100:.{digits}f}%" if math.isfinite(f) else "—"


def fmt_num(v: Any) -> str:
    """Numbers in detail tables: short, but small relative errors keep their exponent."""
    if isinstance(v, bool) or v is None:
        return {True: "yes", False: "no", None: "—"}[v]
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
            return f"{v:.2e}"
        return f"{v:.4g}"
    return str(v)


# ---- per-check facts -------------------------------------------------------------------------

def check_frames(check: CheckResult) -> list[tuple[str, int, str]]:
    """Student frames (file, line, function), from ``details['frames']`` or the traceback text."""
    frames: list[tuple[str, int, str]] = []
    raw = check.details.get("frames") if isinstance(check.details, dict) else None
    if isinstance(raw, list):
        for fr in raw:
            if isinstance(fr, (list, tuple)) and len(fr) >= 2:
                try:
                    frames.append((str(fr[0]), int(fr[1]), str(fr[2]) if len(fr) > 2 else ""))
                except (TypeError, ValueError):
                    continue
    if not frames and check.traceback:
        for m in _FRAME_RE.finditer(check.traceback):
            frames.append((m["file"], int(m["line"]), (m["func"] or "").strip()))
    return [f for f in frames if is_student_file(f[0])]


def is_student_file(path: str) -> bool:
    """A path inside the submission (relative, not a library or a notebook cell)."""
    return bool(path) and not path.startswith(("/", "<")) and ".." not in path.split("/") and "site-packages" not in path


def review_reasons(result: SubmissionResult) -> list[str]:
    """Why staff should look at this submission: its flags plus what the data implies."""
    reasons = list(result.flags)
    if result.errors and "grader_error" not in reasons:
        reasons.append("grader_error")
    if any(c.status == "timeout" for c in result.checks) and "timeout" not in reasons:
        reasons.append("timeout")
    # Only a level below bubblewrap is weak: a root-run grader always lacks RLIMIT_NPROC, which the
    # PID namespace makes up for, and flagging every student for it would bury real problems.
    if result.sandbox_level != "bwrap" and "weak_sandbox" not in reasons:
        reasons.append("weak_sandbox")
    return reasons


# ---- notebook / training ---------------------------------------------------------------------

def _dict(x: Any) -> dict:
    return x if isinstance(x, dict) else {}


def _list_of_dicts(x: Any) -> list[dict]:
    return [i for i in x if isinstance(i, dict)] if isinstance(x, list) else []


def _float(x: Any) -> float | None:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


#: Cell outcomes that count as failures ("died": the cell killed the kernel).
FAILED_CELL = ("error", "timeout", "died")


def notebook_view(nb: Any) -> dict | None:
    if not isinstance(nb, dict):
        return None
    cells = []
    for c in _list_of_dicts(nb.get("cells")):
        cells.append({
            "index": c.get("index", ""), "first_line": str(c.get("first_line") or ""),
            "status": str(c.get("status") or "unknown"), "error": c.get("error"),
            "traceback": c.get("traceback"), "seconds": _float(c.get("seconds")),
            "replayed": bool(c.get("replayed")), "replay_error": c.get("replay_error"),
        })
    configs = _list_of_dicts(nb.get("configs"))
    best = _dict(nb.get("best_config")) or None
    answer = nb.get("answer")
    return {
        "found": bool(nb.get("found", bool(cells))), "path": nb.get("path"), "executed": nb.get("executed"),
        "cells": cells, "errors": sum(1 for c in cells if c["status"] in FAILED_CELL),
        "replays": _list_of_dicts(nb.get("replays")),
        "configs": configs, "best_config": best, "best_rule": nb.get("best_rule"),
        "answer": answer if isinstance(answer, str) and answer.strip() else None,
    }


def config_summary(cfg: dict) -> list[tuple[str, Any]]:
    """The config as (label, value) rows: architecture, model options, solver options."""
    rows: list[tuple[str, Any]] = []
    model = f"{cfg.get('model_module', '?')}.{cfg.get('model_class', '?')}"
    rows.append(("model", model))
    args = cfg.get("model_args")
    if args:
        rows.append(("positional args", args))
    for group in ("model_kwargs", "solver_kwargs"):
        for k, v in _dict(cfg.get(group)).items():
            if isinstance(v, dict) and "__dtype__" in v:
                v = v["__dtype__"]
            rows.append((k, v))
    if cfg.get("cell_index") is not None:
        rows.append(("notebook cell", cfg.get("cell_index")))
    return rows


def training_view(tr: Any, settings: TrainingSettings, claimed_fallback: float | None = None) -> dict | None:
    if not isinstance(tr, dict):
        return None
    if tr.get("hidden"):
        return {"hidden": True}
    from .charts import Series, line_chart, percent

    epochs = _list_of_dicts(tr.get("epochs"))
    xs = [e.get("epoch", i + 1) for i, e in enumerate(epochs)]

    def series(key: str, label: str, **kw) -> Series | None:
        ys = [e.get(key) for e in epochs]
        return Series(label, xs, ys, **kw) if any(_float(y) is not None for y in ys) else None

    loss = series("train_loss", "training loss")
    acc = [s for s in (series("train_acc", "train", color="#ea580c", dashed=True),
                       series("val_acc", "validation", color="#2563eb")) if s]
    floor, full = settings.floor_percent / 100, settings.full_percent / 100
    charts = []
    if loss:
        charts.append(line_chart([loss], title="Training loss per epoch", x_label="epoch", y_label="loss"))
    if acc:
        charts.append(line_chart(acc, title="Accuracy per epoch", x_label="epoch", y_label="accuracy",
                                 y_format=percent,
                                 hlines=[(full, f"full credit {settings.full_percent:g}%"),
                                         (floor, f"no credit below {settings.floor_percent:g}%")]))
    measured = _float(tr.get("accuracy"))
    claimed = _float(tr.get("claimed_accuracy"))
    if claimed is None:
        claimed = claimed_fallback
    diff = None if measured is None or claimed is None else claimed - measured
    return {
        "hidden": False,
        "engine": tr.get("engine"), "epochs_run": tr.get("epochs_run"), "seconds": _float(tr.get("seconds")),
        "stopped_reason": tr.get("stopped_reason"), "config": _dict(tr.get("config")) or None,
        "epochs": epochs, "charts": [c for c in charts if c], "accuracy": measured, "claimed": claimed,
        "difference": diff, "mismatch": diff is not None and abs(diff) > settings.claim_tolerance,
        "tolerance": settings.claim_tolerance,
        "formula": tr.get("score_formula") or (
            f"clamp(({'floor(X)' if settings.rounding == 'floor' else 'X'} - {settings.floor_percent:g}) / "
            f"{settings.full_percent - settings.floor_percent:g}, 0, 1), X in percent"),
        "flags": [str(f) for f in tr.get("flags") or [] if isinstance(f, str)],
        "has_curves": bool(epochs),
    }


# ---- whole submission ------------------------------------------------------------------------

def parts_view(result: SubmissionResult, profile: str) -> list[dict]:
    out = []
    for part in PARTS:
        checks = [c for c in result.checks if c.part == part]
        if not checks:
            continue
        shown = [c for c in checks if not (profile == "student" and is_hidden(c))]
        score = sum(c.score for c in shown)
        max_shown = sum(c.max_score for c in shown)
        out.append({
            "part": part, "title": PART_TITLES.get(part, part), "checks": checks,
            "score": score, "max": max_shown,
            "hidden_max": sum(c.max_score for c in checks) - max_shown,
            "passed": sum(1 for c in shown if c.status == "passed"), "count": len(shown),
            "fraction": score / max_shown if max_shown else None,
        })
    return out


def totals(result: SubmissionResult, profile: str) -> tuple[float, float, float]:
    """(score, max, hidden max): in the student profile hidden points are counted apart."""
    shown = [c for c in result.checks if not (profile == "student" and is_hidden(c))]
    return (sum(c.score for c in shown), sum(c.max_score for c in shown),
            sum(c.max_score for c in result.checks) - sum(c.max_score for c in shown))


def submission_view(result: SubmissionResult, settings: TrainingSettings, profile: str) -> dict:
    nb = notebook_view(result.notebook)
    claimed_nb = _float(_dict(nb["best_config"]).get("claimed_val_acc")) if nb and nb["best_config"] else None
    score, max_score, hidden_max = totals(result, profile)
    return {
        "r": result, "profile": profile, "score": score, "max": max_score, "hidden_max": hidden_max,
        "parts": parts_view(result, profile), "notebook": nb,
        "training": training_view(result.training, settings, claimed_nb),
        "review": review_reasons(result),
        "status_counts": {s: sum(1 for c in result.checks if c.status == s) for s in STATUS_ORDER},
        "shown_checks": sum(1 for c in result.checks if not (profile == "student" and is_hidden(c))),
    }
