"""Load and validate a rubric (``rubrics/*.toml``) into typed settings.

The rubric is the instructor's one place for points, tolerances, seeds, limits and term
conventions. Validation collects every problem and reports them together, so a TA fixing a
rubric sees all mistakes at once instead of one per run.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import PROJECT_ROOT
from .catalogue import CATALOGUE, COMMON_KEYS
from .results import CheckResult

DEFAULT_RUBRIC = PROJECT_ROOT / "rubrics" / "dropout.toml"

#: Stable check ids and the part each one counts toward (derived from the catalogue).
CHECK_PARTS: dict[str, str] = {cid: entry.part for cid, entry in CATALOGUE.items()}
KNOWN_CHECK_IDS = tuple(CHECK_PARTS)


class RubricError(ValueError):
    """The rubric file is missing, unreadable or invalid; the message lists every problem."""


@dataclass(frozen=True)
class CheckSpec:
    check_id: str
    points: float
    public: bool = True
    #: Everything else in the check's table: tolerances, sub-case lists, sizes.
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def part(self) -> str:
        return CHECK_PARTS[self.check_id]

    @property
    def visibility(self) -> str:
        """Gradescope visibility of this check's result, one rule for every stage: a check that is
        not public is shown once staff publish the grades (what the student view promises)."""
        return "visible" if self.public else "after_published"

    def result(self, status: str, score: float = 0.0, **fields: Any) -> CheckResult:
        """This check's result: id, title, part, points and visibility come from the spec, so no
        stage builds them itself."""
        return CheckResult(check_id=self.check_id, status=status, score=score, max_score=self.points,
                           part=self.part, visibility=self.visibility, **fields)

    def get(self, key: str) -> Any:
        """The rubric's value for `key`, else the catalogue's default (KeyError: undeclared key)."""
        if key in self.params:
            return self.params[key]
        return CATALOGUE[self.check_id].defaults[key]


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 3072
    call_timeout: float = 20.0
    import_timeout: float = 30.0
    cpu_seconds: int = 3600
    processes: int = 256
    file_size_mb: int = 256
    output_bytes: int = 1_000_000
    stage_timeout: float = 900.0


@dataclass(frozen=True)
class Conventions:
    dropout_p: str = "keep"
    dropout_off: float = 0
    helpers_package: str = "cs231n"
    waive_template_bn_mode_bug: bool = True


@dataclass(frozen=True)
class NotebookSettings:
    patterns: tuple[str, ...] = ("Dropout.ipynb", "*Dropout*.ipynb", "*dropout*.ipynb")
    cell_timeout: float = 120.0
    budget: float = 600.0
    fast_iterations: int = 20
    fast_train_samples: int = 2000


@dataclass(frozen=True)
class TrainingSettings:
    engine: str = "student"
    optimizers: str = "student"
    select: str = "best"
    max_epochs: int = 20
    time_limit: float = 1800.0
    seed: int = 0
    floor_percent: float = 32.0
    full_percent: float = 60.0
    rounding: str = "floor"
    claim_tolerance: float = 0.03


@dataclass(frozen=True)
class Rubric:
    name: str
    term: str
    seed: int
    checks: dict[str, CheckSpec]
    limits: Limits
    conventions: Conventions
    notebook: NotebookSettings
    training: TrainingSettings
    path: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def total_points(self) -> float:
        return sum(c.points for c in self.checks.values())

    def check(self, check_id: str) -> CheckSpec | None:
        return self.checks.get(check_id)

    def fingerprint(self) -> str:
        """Content hash of the rubric's meaning (not its comments): part of every cache key."""
        blob = json.dumps(self.raw, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def seed_for(self, *parts: Any) -> int:
        """A stable 32-bit seed derived from the master seed and a label (e.g. a check id)."""
        h = hashlib.sha256(repr((self.seed,) + parts).encode()).digest()
        return int.from_bytes(h[:4], "little")


def load_rubric(path: Path | str | None = None) -> Rubric:
    path = Path(path) if path else DEFAULT_RUBRIC
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RubricError(f"rubric not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise RubricError(f"rubric {path} is not valid TOML: {exc}") from None
    return parse_rubric(raw, path)


def parse_rubric(raw: dict[str, Any], path: Path | None = None) -> Rubric:
    problems: list[str] = []
    where = f"rubric {path}" if path else "rubric"

    def table(name: str) -> dict[str, Any]:
        value = raw.get(name, {})
        if not isinstance(value, dict):
            problems.append(f"[{name}] must be a table")
            return {}
        return value

    assignment = table("assignment")
    checks_raw = table("checks")
    if not checks_raw:
        problems.append("no [checks.*] tables: nothing to grade")

    checks: dict[str, CheckSpec] = {}
    for cid, spec in checks_raw.items():
        if cid not in CHECK_PARTS:
            close = difflib.get_close_matches(cid, list(CHECK_PARTS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"unknown check id {cid!r}{hint}")
            continue
        if not isinstance(spec, dict):
            problems.append(f"[checks.{cid!r}] must be a table")
            continue
        points = spec.get("points")
        if not isinstance(points, (int, float)) or isinstance(points, bool):
            problems.append(f"check {cid!r}: points must be a number, got {points!r}")
            continue
        if points < 0:
            problems.append(f"check {cid!r}: negative points ({points})")
            continue
        public = spec.get("public", CATALOGUE[cid].public)
        if not isinstance(public, bool):
            problems.append(f"check {cid!r}: public must be true or false")
            public = False
        params = {k: v for k, v in spec.items() if k not in COMMON_KEYS}
        for key, value in params.items():
            problem = CATALOGUE[cid].param_problem(key, value)
            if problem:
                problems.append(f"check {cid!r}: {problem}")
        checks[cid] = CheckSpec(cid, float(points), public, params)

    limits = _build(Limits, table("limits"), "limits", problems, positive=True)
    conventions = _build(Conventions, table("conventions"), "conventions", problems)
    if conventions.dropout_p not in ("keep", "drop"):
        problems.append(f"conventions.dropout_p must be 'keep' or 'drop', got {conventions.dropout_p!r}")
    if conventions.dropout_off not in (0, 1):
        problems.append(f"conventions.dropout_off must be 0 or 1, got {conventions.dropout_off!r}")
    if conventions.helpers_package not in ("cs231n", "utils"):
        problems.append("conventions.helpers_package must be 'cs231n' or 'utils'")

    nb_raw = dict(table("notebook"))
    if "patterns" in nb_raw:
        pats = nb_raw["patterns"]
        if not (isinstance(pats, list) and pats and all(isinstance(p, str) for p in pats)):
            problems.append("notebook.patterns must be a non-empty list of strings")
        nb_raw["patterns"] = tuple(pats) if isinstance(pats, list) else pats
    notebook = _build(NotebookSettings, nb_raw, "notebook", problems, positive=True)

    training = _build(TrainingSettings, table("training"), "training", problems)
    if training.engine not in ("student", "reference"):
        problems.append(f"training.engine must be 'student' or 'reference', got {training.engine!r}")
    if training.optimizers not in ("student", "reference"):
        problems.append("training.optimizers must be 'student' or 'reference'")
    if training.select not in ("best", "last"):
        problems.append("training.select must be 'best' or 'last'")
    if training.rounding not in ("floor", "none"):
        problems.append("training.rounding must be 'floor' or 'none'")
    if not 0 <= training.floor_percent < training.full_percent <= 100:
        problems.append("training: need 0 <= floor_percent < full_percent <= 100")
    if training.max_epochs < 1 or training.time_limit <= 0:
        problems.append("training.max_epochs and training.time_limit must be positive")

    seed = assignment.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        problems.append("assignment.seed must be an integer")
        seed = 0

    if problems:
        raise RubricError(f"{where} has {len(problems)} problem(s):\n  - " + "\n  - ".join(problems))
    return Rubric(
        name=str(assignment.get("name", "HW4")),
        term=str(assignment.get("term", "")),
        seed=seed,
        checks=checks,
        limits=limits,
        conventions=conventions,
        notebook=notebook,
        training=training,
        path=path,
        raw=raw,
    )


def _build(cls, values: dict[str, Any], name: str, problems: list[str], positive: bool = False):
    """Instantiate a settings dataclass from a TOML table, type-checking against its defaults."""
    defaults = cls()
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if not hasattr(defaults, key):
            problems.append(f"[{name}] has unknown key {key!r}")
            continue
        default = getattr(defaults, key)
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, (int, float)):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if ok and positive and value <= 0:
                problems.append(f"{name}.{key} must be positive, got {value}")
        elif isinstance(default, str):
            ok = isinstance(value, str)
        else:
            ok = True
        if not ok:
            problems.append(f"{name}.{key} has the wrong type: {value!r}")
            continue
        if isinstance(default, float) and isinstance(value, int):
            value = float(value)
        kwargs[key] = value
    return cls(**kwargs)
