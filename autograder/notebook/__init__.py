"""Notebook stage: find the assignment notebook, run it in the sandbox, and read what it says.

``run_notebook`` is the entry point (see docs/CONTRACTS.md). Parts:

- ``find``: locate the notebook (rubric patterns, then content) and repair it with nbformat;
- ``launch`` / ``execute``: a sandboxed ipykernel driven by nbclient, cell by cell;
- ``claims``: accuracies the *submitted* notebook's saved outputs report;
- ``configs``: the model configs the kernel captured, validated, claims attached, best chosen;
- ``answers``: the free-response answer for manual grading.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from ..results import CheckResult
from ..rubric import Rubric
from .answers import extract_answer
from .claims import notebook_claims
from .configs import attach_claims, choose_best, read_capture
from .execute import ExecutionReport, execute_notebook, run_sync
from .find import find_notebook, load_notebook
from .launch import kernel_launch

__all__ = ["NotebookOutcome", "run_notebook", "score_execution"]

#: ipc socket paths must stay under the 107-byte limit of a Unix socket address.
_MAX_SOCKET_DIR = 80


@dataclass
class NotebookOutcome:
    checks: list[CheckResult]
    extra: dict[str, Any] = field(default_factory=dict)


def run_notebook(staged, rubric: Rubric, data_dir: Path | None, *, level: str = "auto",
                 work_dir: Path, execute: bool = True) -> NotebookOutcome:
    """Find, execute and read the submission's notebook. Never raises for the student's doing.

    ``execute=False`` reads the submitted notebook only (claims and answer, no configs).
    """
    t0 = time.monotonic()
    settings = rubric.notebook
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    root = Path(staged.root)
    extra: dict[str, Any] = {"found": False, "path": None, "executed": False, "cells": [], "configs": [],
                             "best_config": None, "best_rule": "none", "answer": None, "repairs": [],
                             "sandbox_level": None, "sandbox_missing": [], "problems": []}
    listed = list(getattr(staged, "notebooks", None) or [])
    path = find_notebook(root, settings.patterns, listed or None)
    if path is None:
        return _outcome(rubric, extra, "no assignment notebook found (looked for "
                        + ", ".join(settings.patterns) + " and any notebook building a FullyConnectedNet with dropout)", t0)
    extra["found"] = True
    extra["path"] = _rel(path, root)
    loaded = load_notebook(path)
    extra["repairs"] = loaded.repairs
    if loaded.nb is None:
        return _outcome(rubric, extra, loaded.error or "notebook unreadable", t0)
    submitted = loaded.nb
    extra["answer"] = extract_answer(submitted)
    claims = notebook_claims(submitted)
    report: ExecutionReport | None = None
    records: list[dict] = []
    if execute:
        report, records, problems, launch_info = _execute(submitted, staged, rubric, data_dir, level, work_dir)
        extra["problems"].extend(problems)
        extra.update(launch_info)
        extra["cells"] = [c.as_dict() for c in report.cells]
        extra["executed"] = report.startup_error is None
        extra["kernel_starts"] = report.kernel_starts
        extra["replays"] = report.replays
        extra["execution_seconds"] = report.seconds
    configs = attach_claims(records, claims, submitted)
    best, rule = choose_best(configs)
    extra["configs"], extra["best_config"], extra["best_rule"] = configs, best, rule
    extra["claims"] = {str(i): [r.value for r in c.runs] + ([c.orphan_summary] if c.orphan_summary is not None else [])
                       for i, c in claims.items()}
    failure = report.startup_error if report is not None else None
    return _outcome(rubric, extra, failure, t0, report)


def _execute(nb, staged, rubric, data_dir, level, work_dir):
    """Run a copy of the notebook in the sandbox; return the report and captured records."""
    conn_dir = _socket_dir(work_dir)
    launch = None
    try:
        try:
            launch = kernel_launch(level=level, workdir=Path(staged.root), limits=rubric.limits, conn_dir=conn_dir,
                                   data_dir=data_dir, fast_iterations=rubric.notebook.fast_iterations)
        except Exception as exc:  # noqa: BLE001 - an environment problem, reported as such
            report = ExecutionReport([], 0, f"could not prepare the notebook kernel: {type(exc).__name__}: {exc}")
            return report, [], [f"grader: {report.startup_error}"], {"sandbox_level": None}
        info = {"sandbox_level": launch.level, "sandbox_missing": launch.missing_guarantees}
        executed = copy.deepcopy(nb)
        report = run_sync(execute_notebook(executed, launch, workdir=Path(staged.root), conn_dir=conn_dir,
                                           cell_timeout=rubric.notebook.cell_timeout, budget=rubric.notebook.budget,
                                           output_bytes=rubric.limits.output_bytes,
                                           log_path=work_dir / "kernel.log"))
        _save_executed(executed, work_dir / "executed.ipynb")
        records, problems = read_capture(conn_dir / "capture.json")
        return report, records, problems, info
    finally:
        if launch is not None:
            launch.cleanup()
        shutil.rmtree(conn_dir, ignore_errors=True)


def _save_executed(nb, path: Path) -> None:
    """Keep the re-executed notebook beside the work files (for staff; never graded from)."""
    try:
        nbformat.write(nb, str(path))
    except Exception:  # noqa: BLE001 - a diagnostic copy only
        pass


def _socket_dir(work_dir: Path) -> Path:
    """A fresh folder for the kernel's sockets, connection and capture files (short path)."""
    base = work_dir.resolve()
    if len(str(base)) > _MAX_SOCKET_DIR:
        base = Path(tempfile.gettempdir())
    return Path(tempfile.mkdtemp(prefix="nbk-", dir=base))


def score_execution(cells: list[dict], points: float) -> tuple[str, float, str]:
    """(status, score, message): full points when every cell ran; else points x fraction ok."""
    if not cells:
        return "passed", points, "the notebook has no code cells"
    ok = sum(1 for c in cells if c["status"] == "ok")
    if ok == len(cells):
        return "passed", points, f"all {ok} code cells ran without error"
    bad = [c for c in cells if c["status"] != "ok"]
    first = bad[0]
    detail = f"cell {first['index']} ({first['first_line'][:60]!r}): {first['status']}"
    if first.get("error"):
        detail += f" — {first['error'][:160]}"
    status = "timeout" if all(c["status"] in ("timeout", "skipped") for c in bad) else "failed"
    return status, points * ok / len(cells), f"{ok} of {len(cells)} code cells ran without error; first problem: {detail}"


def _outcome(rubric: Rubric, extra: dict, failure: str | None, t0: float,
             report: ExecutionReport | None = None) -> NotebookOutcome:
    checks = []
    seconds = round(time.monotonic() - t0, 3)
    spec = rubric.check("notebook.executes")
    if spec is not None:
        points = spec.points
        if failure is not None:
            status, score, message = "failed", 0.0, failure
        elif report is None:
            status, score, message = "skipped", 0.0, "the notebook was not executed"
        else:
            status, score, message = score_execution(extra["cells"], points)
        tb = next((c["traceback"] for c in extra["cells"] if c.get("traceback")), None)
        checks.append(spec.result(status, score, message=message, traceback=tb,
                                  details={"cells": len(extra["cells"]),
                                           "ok": sum(1 for c in extra["cells"] if c["status"] == "ok")},
                                  seconds=seconds))
    spec = rubric.check("notebook.free_response")
    if spec is not None:
        answer = extra.get("answer") or {}
        present = bool(answer.get("present"))
        message = ("answer found (graded by hand): " + answer["text"][:200]) if present else (
            "no answer found to the dropout-as-a-regularizer question" if extra.get("found") else "no notebook found")
        checks.append(spec.result("passed" if present else "failed", spec.points if present else 0.0,
                                  message=message, details={"present": present}))
    return NotebookOutcome(checks, extra)


def _rel(path: Path, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return Path(path).name
