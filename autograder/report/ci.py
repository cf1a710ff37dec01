"""Output for a student's CI job: an exit code, a Markdown job summary, GitHub annotations.

Everything here sees results through the student profile: a CI log is public to the student,
so hidden checks contribute neither messages, annotations nor pass/fail to it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from ..results import SubmissionResult
from .view import check_frames, fmt_score, for_profile, is_hidden

OK, CHECKS_FAILED, GRADER_ERROR = 0, 1, 2
_FAILING = ("failed", "error", "timeout")
_ICONS = {"passed": "✅", "failed": "❌", "error": "💥", "timeout": "⏱️", "skipped": "⏭️"}


def _as_list(results: SubmissionResult | Iterable[SubmissionResult]) -> list[SubmissionResult]:
    return [results] if isinstance(results, SubmissionResult) else list(results)


def exit_code(results: SubmissionResult | Iterable[SubmissionResult]) -> int:
    """2 on a grader error, else 1 if a public check failed, errored or timed out, else 0."""
    results = _as_list(results)
    if any(r.errors or "grader_error" in r.flags for r in results):
        return GRADER_ERROR
    for r in results:
        if any(c.status in _FAILING for c in r.checks if not is_hidden(c)):
            return CHECKS_FAILED
    return OK


def _md(text: str) -> str:
    """One table cell: no pipes or newlines may break the row."""
    return " ".join(str(text).split()).replace("|", "\\|")


def step_summary(results: SubmissionResult | Iterable[SubmissionResult], profile: str = "student") -> str:
    """The Markdown job summary: a total line, then one table row per check."""
    out = []
    for r in _as_list(results):
        shown = for_profile(r, profile)
        visible = [c for c in shown.checks if not (profile == "student" and is_hidden(c))]
        score = sum(c.score for c in visible)
        max_score = sum(c.max_score for c in visible)
        out.append(f"### {_md(r.submission_id)}: {fmt_score(score)} / {fmt_score(max_score)}\n")
        out.append("| | Check | Points | Message |\n|---|---|---:|---|")
        for c in shown.checks:
            if profile == "student" and is_hidden(c):
                out.append(f"| 🔒 | {_md(c.name)} | – / {fmt_score(c.max_score)} | hidden until grades are published |")
                continue
            out.append(f"| {_ICONS.get(c.status, '')} {c.status} | {_md(c.name)} | "
                       f"{fmt_score(c.score)} / {fmt_score(c.max_score)} | {_md(c.message)[:300]} |")
        for e in r.errors:
            out.append(f"\n> **Grader error** (not your fault): {_md(e)}")
        for w in r.warnings:
            out.append(f"\n> Warning: {_md(w)}")
        out.append("")
    return "\n".join(out) + "\n"


def write_step_summary(results: SubmissionResult | Iterable[SubmissionResult], profile: str = "student",
                       path: str | os.PathLike | None = None) -> Path | None:
    """Append the summary to ``$GITHUB_STEP_SUMMARY`` (or ``path``); None when neither is set."""
    target = path or os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    with open(target, "a", encoding="utf-8") as fh:
        fh.write(step_summary(results, profile))
    return Path(target)


def _escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(s: str) -> str:
    return _escape_data(s).replace(":", "%3A").replace(",", "%2C")


def annotations(results: SubmissionResult | Iterable[SubmissionResult], *, prefix: str = "",
                profile: str = "student") -> list[str]:
    """``::error file=...,line=...::message`` for each visible failing check whose traceback
    points into the student's code (the innermost student frame). ``prefix`` is the submission
    folder relative to the repository root, when the homework is not at the root."""
    lines = []
    for r in _as_list(results):
        for c in for_profile(r, profile).checks:
            if c.status not in _FAILING or (profile == "student" and is_hidden(c)):
                continue
            frames = check_frames(c)
            if not frames:
                continue
            file, line, func = frames[-1]
            path = f"{prefix.rstrip('/')}/{file}" if prefix else file
            title = f"{c.name} ({c.status})"
            message = c.message or (f"{c.check_id} {c.status} in {func}" if func else f"{c.check_id} {c.status}")
            lines.append(f"::error file={_escape_property(path)},line={line},title={_escape_property(title)}::"
                         f"{_escape_data(message)}")
    return lines
