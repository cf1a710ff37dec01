"""Grade one submission end to end: stage, checks, notebook, training, results.json.

This is the unit of work every executor (serial, process pool, Dask) runs. Its promise: it never
raises for anything a student did, and never loses a result. A stage that fails because of the
grader itself becomes an ``errors`` entry, a ``grader_error`` flag and zero-scored checks marked
``error`` — the other stages still run and the file is still written.
"""

from __future__ import annotations

import shutil
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import __version__
from .catalogue import STAGE_PART, STAGES
from .results import CheckResult, SubmissionResult
from .rubric import Rubric


@dataclass
class GradeContext:
    """Everything a per-submission run needs; plain data so it can travel to a Dask worker."""

    rubric: Rubric
    out_dir: Path
    work_dir: Path
    stages: tuple[str, ...] = STAGES
    profile: str = "instructor"
    sandbox_level: str = "auto"
    #: Prepared dataset splits (``autograder.data.Splits``); None when no stage needs data.
    splits: Any = None
    #: Folder of small .npy splits handed to notebook kernels (never the real validation labels).
    notebook_data: Path | None = None
    #: Public expected values for the student profile (no reference implementation needed).
    public_data: Path | None = None
    keep_work: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def dataset_label(self) -> str:
        if self.splits is None:
            return ""
        kind = "synthetic" if self.splits.synthetic else "CIFAR-10"
        return f"{kind}:{self.splits.identity}"


def result_path(out_dir: Path, submission_id: str) -> Path:
    return Path(out_dir) / submission_id / "results.json"


#: on_stage(submission_id, stage, "start" | "done"): progress reporting, called in this process only.
StageCallback = Callable[[str, str, str], None]


def grade_one(source, ctx: GradeContext, *, cache_key: str = "",
              on_stage: StageCallback | None = None) -> SubmissionResult:
    """Grade one discovered submission and write its results.json; returns the result.

    ``on_stage`` is an argument, not a ``GradeContext`` field, so the context stays plain data
    that travels to Dask workers; a callback that fails never costs a grade.
    """
    from .submission import StagingError, stage

    started = time.monotonic()
    result = SubmissionResult(
        submission_id=source.id,
        profile=ctx.profile,
        grader_version=__version__,
        rubric_name=ctx.rubric.name,
        dataset=ctx.dataset_label,
        cache_key=cache_key,
    )
    work = Path(ctx.work_dir) / source.id
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    try:
        try:
            staged = stage(source, work / "staged", ctx.rubric.limits, exclude=(ctx.out_dir, ctx.work_dir))
        except StagingError as exc:
            _zero_all(result, ctx, f"The submission could not be read: {exc}", status="error")
            result.staging = {"error": str(exc)}
            return _finish(result, ctx, started)
        result.content_hash = staged.content_hash
        result.warnings.extend(staged.warnings)
        result.staging = _staging_facts(staged)

        earlier: dict[str, StageOutcome] = {}
        for stage_name in STAGES:
            if stage_name not in ctx.stages:
                result.checks.extend(_skipped(ctx.rubric, STAGE_PART[stage_name], "stage not run (--stages)"))
                continue
            _notify(on_stage, source.id, stage_name, "start")
            try:
                outcome = STAGE_RUNNERS[stage_name](StageInput(staged, ctx, work, earlier))
            except Exception:  # a grader bug: record it, zero that stage, keep going
                outcome = _grader_failure(ctx, stage_name, traceback.format_exc())
            earlier[stage_name] = outcome
            _apply(result, ctx, stage_name, outcome)
            _notify(on_stage, source.id, stage_name, "done")
    finally:
        if not ctx.keep_work:
            shutil.rmtree(work, ignore_errors=True)
    return _finish(result, ctx, started)


def _notify(on_stage: StageCallback | None, submission_id: str, stage: str, event: str) -> None:
    if on_stage is None:
        return
    try:
        on_stage(submission_id, stage, event)
    except Exception:  # progress display is best effort
        pass


def _finish(result: SubmissionResult, ctx: GradeContext, started: float) -> SubmissionResult:
    result.execution_time = time.monotonic() - started
    _order_checks(result, ctx.rubric)
    if ctx.profile == "student":  # a student's own results.json must not carry hidden details
        from .report import for_profile

        result = for_profile(result, "student")
    result.write(result_path(ctx.out_dir, result.submission_id))
    return result


@dataclass
class StageOutcome:
    """What every stage returns, whatever it ran: the pipeline merges these into the result."""

    checks: list[CheckResult] = field(default_factory=list)
    #: The stage's own record (results.json `notebook` / `training`); None: nothing to record.
    extra: Any = None
    warnings: list[str] = field(default_factory=list)
    #: Grader-side failures (never the student's fault): each flags the submission grader_error.
    errors: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    #: The sandbox the stage's student code ran in, when it ran any: (level, missing guarantees).
    sandbox: tuple[str, list[str]] | None = None


@dataclass
class StageInput:
    staged: Any
    ctx: GradeContext
    work: Path
    #: Outcomes of the stages that already ran for this submission, by stage name.
    earlier: dict[str, StageOutcome]


def _run_checks(inp: StageInput) -> StageOutcome:
    from .checks import run_checks
    from .sandbox import Sandbox

    ctx = inp.ctx
    if inp.staged.nndl_dir is None:
        msg = "No nndl/ package (layers.py, fc_net.py ...) was found in the submission."
        return StageOutcome([_zero(s, "failed", msg) for s in _specs_for_part(ctx.rubric, "implementation")])
    with Sandbox(inp.staged.root, ctx.rubric.limits, level=ctx.sandbox_level,
                 time_budget=ctx.rubric.limits.stage_timeout) as sb:
        sandbox = (sb.level, list(sb.missing_guarantees))
        outcome = run_checks(sb, ctx.rubric, profile=ctx.profile, public_data=ctx.public_data)
    return StageOutcome(outcome.results, warnings=list(outcome.warnings), errors=list(outcome.errors),
                        sandbox=sandbox)


def _run_notebook(inp: StageInput) -> StageOutcome:
    from .notebook import run_notebook

    ctx = inp.ctx
    outcome = run_notebook(inp.staged, ctx.rubric, ctx.notebook_data, level=ctx.sandbox_level,
                           work_dir=inp.work / "notebook")
    level = outcome.extra.get("sandbox_level")
    return StageOutcome(outcome.checks, extra=outcome.extra, sandbox=(level, []) if level else None)


def _run_training(inp: StageInput) -> StageOutcome:
    from .training import train_and_score

    ctx = inp.ctx
    spec = ctx.rubric.check("training.accuracy")
    if spec is None:
        return StageOutcome()
    notebook = inp.earlier.get("notebook")
    config = ((notebook.extra if notebook else None) or {}).get("best_config")
    if ctx.splits is None:
        return StageOutcome([_zero(spec, "skipped", "No dataset was available for training.")])
    if not config:
        why = "the notebook stage did not run" if notebook is None else "no trained model was found in the notebook"
        return StageOutcome([_zero(spec, "failed", f"Nothing to re-train: {why}. Tag your final cell `best-config`.")])
    outcome = train_and_score(inp.staged, config, ctx.rubric, ctx.splits, level=ctx.sandbox_level,
                              claimed=config.get("claimed_val_acc"))
    return StageOutcome([outcome.check], extra=outcome.extra, flags=list(outcome.extra.get("flags", [])))


#: The per-submission stages, run in `STAGES` order; each takes a `StageInput`.
STAGE_RUNNERS: dict[str, Callable[[StageInput], StageOutcome]] = {
    "checks": _run_checks, "notebook": _run_notebook, "training": _run_training}
assert tuple(STAGE_RUNNERS) == STAGES


def _grader_failure(ctx: GradeContext, stage_name: str, tb: str) -> StageOutcome:
    """A stage that raised: a grader bug. Its checks score zero as `error`; staff are flagged."""
    message = "The grader failed on this stage; staff have been flagged."
    checks = [_zero(spec, "error", message, tb) for spec in _specs_for_part(ctx.rubric, STAGE_PART[stage_name])]
    return StageOutcome(checks, errors=[tb.strip().splitlines()[-1]])


def _apply(result: SubmissionResult, ctx: GradeContext, stage_name: str, outcome: StageOutcome) -> None:
    """Merge one stage's outcome into the submission's result."""
    done = {c.check_id for c in result.checks}
    result.checks.extend(c for c in outcome.checks if c.check_id not in done)
    result.warnings.extend(w for w in outcome.warnings if w not in result.warnings)
    if outcome.errors:
        result.errors.extend(f"{stage_name} stage: {e}" for e in outcome.errors)
        result.add_flag("grader_error")
    for flag in outcome.flags:
        result.add_flag(flag)
    if outcome.sandbox is not None:
        level, missing = outcome.sandbox
        if stage_name == "checks":
            result.sandbox_level, result.sandbox_missing = level, missing
            if level != "bwrap":
                result.add_flag("weak_sandbox")
        elif result.sandbox_level == "unknown":
            result.sandbox_level = level
    if outcome.extra is not None and stage_name in ("notebook", "training"):
        setattr(result, stage_name, outcome.extra)


def _staging_facts(staged) -> dict[str, Any]:
    facts = {
        "nndl_dir": _rel(staged.nndl_dir, staged.root),
        "notebook": _rel(staged.notebook, staged.root),
        "notebooks": [_rel(p, staged.root) for p in staged.notebooks],
        "refused": list(staged.refused),
    }
    return facts


def _rel(path, root) -> str | None:
    if path is None:
        return None
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return Path(path).name


def _specs_for_part(rubric: Rubric, part: str):
    return [s for s in rubric.checks.values() if s.part == part]


def _zero(spec, status: str, message: str, tb: str | None = None) -> CheckResult:
    return spec.result(status, message=message, traceback=tb)


def _skipped(rubric: Rubric, part: str, why: str) -> list[CheckResult]:
    return [_zero(s, "skipped", why) for s in _specs_for_part(rubric, part)]


def _zero_all(result: SubmissionResult, ctx: GradeContext, message: str, status: str) -> None:
    result.checks = [_zero(s, status, message) for s in ctx.rubric.checks.values()]


def _order_checks(result: SubmissionResult, rubric: Rubric) -> None:
    order = {cid: i for i, cid in enumerate(rubric.checks)}
    result.checks.sort(key=lambda c: order.get(c.check_id, len(order)))
