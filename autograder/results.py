"""Result data model shared by every stage, and its JSON forms.

One `SubmissionResult` per student is the unit everything else consumes: the reports, the CSV,
the cache, the dashboard. It is written as a Gradescope-compatible ``results.json`` (the spec:
top-level ``score``, ``execution_time``, ``output``, ``tests[]``, ``leaderboard``, ``extra_data``)
and read back from that same file, so a dashboard can be rebuilt from the output folder alone.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .atomic import replacing
from .catalogue import PARTS, title  # noqa: F401  (PARTS is part of this module's API)

#: Fine-grained outcome of one check. Gradescope only knows passed/failed; the fine status
#: travels in ``extra_data.status``.
STATUSES = ("passed", "failed", "error", "timeout", "skipped")


RESULTS_SCHEMA_VERSION = 1


@dataclass
class CheckResult:
    """The verdict of one rubric check on one submission, computed in the trusted parent."""

    check_id: str
    status: str
    score: float
    max_score: float
    name: str = ""
    part: str = "implementation"
    message: str = ""
    #: Stable id of the recognised bug fingerprint, e.g. ``dropout.p_is_drop_probability``.
    diagnosis: str | None = None
    #: JSON-able numbers behind the verdict: sub-cases, relative errors, expected vs got.
    details: dict[str, Any] = field(default_factory=dict)
    #: Student-facing traceback, already trimmed to the student's own frames.
    traceback: str | None = None
    #: Gradescope visibility: visible, hidden, after_due_date, after_published.
    visibility: str = "visible"
    tags: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown check status {self.status!r}")
        if self.part not in PARTS:
            raise ValueError(f"unknown part {self.part!r}")
        self.score = _finite(self.score)
        self.max_score = _finite(self.max_score)
        if not self.name:
            self.name = title(self.check_id)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_gradescope(self) -> dict[str, Any]:
        out = self.message
        if self.traceback:
            out = f"{out}\n\n{self.traceback}" if out else self.traceback
        return {
            "name": self.name,
            "name_format": "text",
            "score": round(self.score, 4),
            "max_score": round(self.max_score, 4),
            "status": "passed" if self.status == "passed" else "failed",
            "output": out,
            "output_format": "text",
            "tags": list(self.tags),
            "visibility": self.visibility,
            "extra_data": {
                "check_id": self.check_id,
                "status": self.status,
                "part": self.part,
                "message": self.message,
                "diagnosis": self.diagnosis,
                "details": _jsonable(self.details),
                "traceback": self.traceback,
                "seconds": round(self.seconds, 4),
            },
        }

    @classmethod
    def from_gradescope(cls, test: dict[str, Any]) -> "CheckResult":
        extra = test.get("extra_data") or {}
        return cls(
            check_id=extra.get("check_id", test.get("name", "?")),
            status=extra.get("status", test.get("status", "failed")),
            score=float(test.get("score", 0.0)),
            max_score=float(test.get("max_score", 0.0)),
            name=test.get("name", ""),
            part=extra.get("part", "implementation"),
            message=extra.get("message", test.get("output", "")),
            diagnosis=extra.get("diagnosis"),
            details=extra.get("details") or {},
            traceback=extra.get("traceback"),
            visibility=test.get("visibility", "visible"),
            tags=list(test.get("tags") or []),
            seconds=float(extra.get("seconds", 0.0)),
        )


@dataclass
class SubmissionResult:
    """Everything the grader concluded about one submission."""

    submission_id: str
    checks: list[CheckResult] = field(default_factory=list)
    #: ``extra_data.notebook``: executed, cell errors, configs, best config and rule, answer.
    notebook: dict[str, Any] | None = None
    #: ``extra_data.training``: engine, config, epochs, per-epoch curves, X, claimed X, flags.
    training: dict[str, Any] | None = None
    sandbox_level: str = "unknown"
    #: Guarantees the sandbox level in use could not give (shown in the report).
    sandbox_missing: list[str] = field(default_factory=list)
    #: Non-fatal notes for the student and staff (term conventions, numpy aliases restored...).
    warnings: list[str] = field(default_factory=list)
    #: Review flags for staff: claim_mismatch, timeout, weak_sandbox, grader_error, ...
    flags: list[str] = field(default_factory=list)
    #: Grader-side failures (a bug or environment problem, never the student's fault).
    errors: list[str] = field(default_factory=list)
    profile: str = "instructor"
    execution_time: float = 0.0
    content_hash: str = ""
    cache_key: str = ""
    grader_version: str = ""
    rubric_name: str = ""
    dataset: str = ""
    #: Staging facts: where nndl/ and the notebook were found, files refused, encodings.
    staging: dict[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return sum(c.score for c in self.checks)

    @property
    def max_score(self) -> float:
        return sum(c.max_score for c in self.checks)

    def part_scores(self) -> dict[str, tuple[float, float]]:
        """(score, max) per part, in PARTS order, for parts that have checks."""
        out: dict[str, tuple[float, float]] = {}
        for part in PARTS:
            cs = [c for c in self.checks if c.part == part]
            if cs:
                out[part] = (sum(c.score for c in cs), sum(c.max_score for c in cs))
        return out

    def check(self, check_id: str) -> CheckResult | None:
        for c in self.checks:
            if c.check_id == check_id:
                return c
        return None

    @property
    def validation_accuracy(self) -> float | None:
        if self.training and self.training.get("accuracy") is not None:
            return float(self.training["accuracy"])
        return None

    def add_flag(self, flag: str) -> None:
        if flag not in self.flags:
            self.flags.append(flag)

    def summary_line(self) -> str:
        failed = [c.check_id for c in self.checks if c.status != "passed" and c.max_score > 0]
        tail = f"; not passed: {', '.join(failed)}" if failed else ""
        return f"{self.submission_id}: {self.score:g}/{self.max_score:g}{tail}"

    def to_gradescope(self) -> dict[str, Any]:
        lines = [f"Score {self.score:g} / {self.max_score:g}.", f"Sandbox: {self.sandbox_level}."]
        lines += [f"Warning: {w}" for w in self.warnings]
        lines += [f"Grader error: {e}" for e in self.errors]
        leaderboard = []
        acc = self.validation_accuracy
        if acc is not None:
            leaderboard.append({"name": "Validation accuracy", "value": round(acc * 100, 2), "order": "desc"})
        return {
            "score": round(self.score, 4),
            "execution_time": round(float(self.execution_time), 3),
            "output": "\n".join(lines),
            "output_format": "text",
            "visibility": "visible",
            "stdout_visibility": "hidden",
            "tests": [c.to_gradescope() for c in self.checks],
            "leaderboard": leaderboard,
            "extra_data": {
                "schema_version": RESULTS_SCHEMA_VERSION,
                "submission_id": self.submission_id,
                "max_score": round(self.max_score, 4),
                "notebook": _jsonable(self.notebook),
                "training": _jsonable(self.training),
                "sandbox_level": self.sandbox_level,
                "sandbox_missing": list(self.sandbox_missing),
                "warnings": list(self.warnings),
                "flags": list(self.flags),
                "errors": list(self.errors),
                "profile": self.profile,
                "content_hash": self.content_hash,
                "cache_key": self.cache_key,
                "grader_version": self.grader_version,
                "rubric_name": self.rubric_name,
                "dataset": self.dataset,
                "staging": _jsonable(self.staging),
            },
        }

    @classmethod
    def from_gradescope(cls, data: dict[str, Any]) -> "SubmissionResult":
        extra = data.get("extra_data") or {}
        return cls(
            submission_id=extra.get("submission_id", "?"),
            checks=[CheckResult.from_gradescope(t) for t in data.get("tests", [])],
            notebook=extra.get("notebook"),
            training=extra.get("training"),
            sandbox_level=extra.get("sandbox_level", "unknown"),
            sandbox_missing=list(extra.get("sandbox_missing") or []),
            warnings=list(extra.get("warnings") or []),
            flags=list(extra.get("flags") or []),
            errors=list(extra.get("errors") or []),
            profile=extra.get("profile", "instructor"),
            execution_time=float(data.get("execution_time", 0.0)),
            content_hash=extra.get("content_hash", ""),
            cache_key=extra.get("cache_key", ""),
            grader_version=extra.get("grader_version", ""),
            rubric_name=extra.get("rubric_name", ""),
            dataset=extra.get("dataset", ""),
            staging=extra.get("staging") or {},
        )

    def write(self, path: Path) -> None:
        write_json_atomic(path, self.to_gradescope())

    @classmethod
    def read(cls, path: Path) -> "SubmissionResult":
        return cls.from_gradescope(json.loads(Path(path).read_text(encoding="utf-8")))


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON so that readers see the old file or the new one, never half of one."""
    write_text_atomic(path, json.dumps(_jsonable(obj), indent=2, sort_keys=False, allow_nan=False) + "\n")


def write_text_atomic(path: Path, text: str, *, durable: bool = True) -> Path:
    """Replace `path` atomically, mode 0644 less the umask; `durable` also fsyncs first.

    Results are durable (a crash must not lose a grade); report pages skip the fsync, which was
    a third of the time to render a 300-student class, since they can always be rebuilt.
    """
    with replacing(path, durable=durable) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def _finite(x: Any) -> float:
    x = float(x)
    return x if math.isfinite(x) else 0.0


def _jsonable(obj: Any) -> Any:
    """Turn numpy scalars/arrays, tuples, paths and non-finite floats into strict JSON values."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else str(obj)
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        return _jsonable(obj.tolist())
    if hasattr(obj, "__dataclass_fields__"):
        return _jsonable(asdict(obj))
    return str(obj)


jsonable = _jsonable
