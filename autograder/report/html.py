"""Per-student HTML report: one self-contained page (inline CSS and SVG, no network requests).

The jinja2 environment is built once per process and autoescapes everything: messages, answers
and tracebacks are student-controlled text.
"""

from __future__ import annotations

import datetime as _dt
import functools
import re
from pathlib import Path
from typing import Any

import jinja2

from .. import __version__
from ..results import CheckResult, SubmissionResult
from ..rubric import Rubric, TrainingSettings
from . import view

TEMPLATES = Path(__file__).resolve().parent / "templates"
_TB_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line \d+')


def trim_traceback(text: Any) -> str:
    """Keep the student's frames: drop frames in absolute paths (libraries, grader internals)."""
    if not isinstance(text, str):
        return ""
    out: list[str] = []
    skipping = False
    for line in text.splitlines():
        m = _TB_FRAME.match(line)
        if m:
            skipping = not view.is_student_file(m["file"])
            if skipping:
                continue
        elif skipping and line.startswith("    "):
            continue  # the source line under a dropped frame
        else:
            skipping = False
        out.append(line)
    return "\n".join(out)


def duration(seconds: Any) -> str:
    try:
        s = float(seconds)
    except (TypeError, ValueError):
        return "—"
    if s < 60:
        return f"{s:.1f} s"
    m, s = divmod(int(round(s)), 60)
    return f"{m} min {s:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"


def detail_items(check: CheckResult) -> list[tuple[str, Any]]:
    """The details to tabulate, in the check's own order (frames are shown separately)."""
    d = check.details if isinstance(check.details, dict) else {}
    return [(str(k), v) for k, v in d.items() if k != "frames"]


def _diagnoses() -> dict[str, str]:
    """Diagnosis id -> sentence (the checks' table; the module is plain data, no reference needed)."""
    from ..checks.diagnoses import DIAGNOSES

    return dict(DIAGNOSES)


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.ChainableUndefined,
    )
    env.filters.update(score=view.fmt_score, pct=view.fmt_pct, num=view.fmt_num, duration=duration,
                       trim_traceback=trim_traceback, report_href=view.report_href)
    env.globals.update(check_frames=view.check_frames, config_summary=view.config_summary,
                       detail_items=detail_items, review_labels=view.REVIEW_LABELS,
                       grader_version=__version__)
    return env


def training_settings(rubric: Rubric | None) -> TrainingSettings:
    return rubric.training if rubric is not None else TrainingSettings()


def render_student(result: SubmissionResult, *, rubric: Rubric | None = None, profile: str = "instructor",
                   dashboard_href: str | None = None, diagnoses: dict[str, str] | None = None) -> str:
    """The report page for one submission, as HTML text."""
    shown = view.for_profile(result, profile)
    v = view.submission_view(shown, training_settings(rubric), profile)
    return environment().get_template("student.html.j2").render(
        v=v, rubric_name=(rubric.name if rubric else result.rubric_name) or "HW4",
        dashboard_href=dashboard_href, diagnoses=diagnoses if diagnoses is not None else _diagnoses(),
        generated=_dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
    )


def render_error_page(result: SubmissionResult, error: str) -> str:
    """Last resort when a report cannot be rendered: the score and the reason, nothing fancy."""
    return environment().from_string(
        "<!doctype html><meta charset='utf-8'><title>{{ r.submission_id }}</title>"
        "<h1>{{ r.submission_id }}: {{ r.score|score }} / {{ r.max_score|score }}</h1>"
        "<p>The full report could not be rendered: <code>{{ error }}</code></p>"
        "<pre>{{ r.summary_line() }}</pre>").render(r=result, error=error)
