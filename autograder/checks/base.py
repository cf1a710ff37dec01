"""The machinery every check shares: context, sub-case verdicts, registry and the safe runner.

A check is a function ``fn(ctx) -> Verdict``: it makes seeded inputs, calls the student's code
through the sandbox, and records sub-cases (each a comparison made here, in the parent). The runner
turns the verdict into a `CheckResult` (partial credit by sub-case weight) and turns every sandbox
outcome (student exception, timeout, crash, protocol violation) into a result for that check only.
"""

from __future__ import annotations

import re
import time
import traceback as tb_module
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..catalogue import CATALOGUE
from ..results import CheckResult
from ..rubric import CheckSpec, Rubric
from .compare import OutputProblem, as_array, compare
from .diagnoses import describe
from .oracle import Expected, ReferenceUnavailable

#: Checks whose failure usually explains another check's failure ("probably caused by ...").
DEPENDS: dict[str, tuple[str, ...]] = {cid: e.depends for cid, e in CATALOGUE.items() if e.depends}

MAX_MESSAGE = 1200

#: Diagnoses that only say "this output is wrong": dropped when a dependency failed, since the
#: dependency is then the likelier cause (and is named instead).
GENERIC_DIAGNOSES = frozenset({"batchnorm.dgamma_wrong", "batchnorm.dbeta_wrong", "optim.wrong_update",
                               "fc_net.dropout_wrong_layers"})


@dataclass
class SubCase:
    name: str
    ok: bool
    weight: float = 1.0
    message: str = ""
    diagnosis: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class Verdict:
    """Sub-cases of one check plus its diagnosis; scored by weight in `to_result`."""

    def __init__(self) -> None:
        self.cases: list[SubCase] = []
        self.diagnosis: str | None = None
        self.diagnosis_facts: dict[str, Any] = {}
        self.notes: list[str] = []
        self.details: dict[str, Any] = {}
        #: A recognised bug the rubric says not to charge (reported, full credit).
        self.waived: str | None = None
        #: The first student traceback met in a sub-case (shown with the result).
        self.traceback: str | None = None

    # -- recording ---------------------------------------------------------------------------
    def add(self, name: str, ok: bool, *, weight: float = 1.0, message: str = "",
            diagnosis: str | None = None, **details: Any) -> bool:
        self.cases.append(SubCase(name, bool(ok), weight, message, diagnosis, details))
        return bool(ok)

    def problem(self, name: str, exc: OutputProblem, *, weight: float = 1.0, **details: Any) -> bool:
        return self.add(name, False, weight=weight, message=exc.message, diagnosis=exc.diagnosis, **details)

    def compare(self, name: str, got: Any, expected: Any, *, rtol: float = 1e-6, weight: float = 1.0,
                what: str | None = None, shape: tuple[int, ...] | None = None,
                scale: float | None = None) -> bool:
        """Validate `got` (shape, finite) and compare it with `expected`; one sub-case."""
        expected = np.asarray(expected)
        try:
            arr = as_array(got, what or name, shape=shape if shape is not None else expected.shape)
        except OutputProblem as exc:
            return self.problem(name, exc, weight=weight)
        cmp = compare(arr, expected, rtol=rtol, scale=scale)
        return self.add(name, cmp.ok, weight=weight,
                        message="" if cmp.ok else f"{what or name} differs from the expected values",
                        **cmp.as_details())

    def diagnose(self, diag_id: str | None, **facts: Any) -> None:
        """Set the check's diagnosis (the first one set wins: the most specific evidence)."""
        if diag_id and self.diagnosis is None:
            self.diagnosis = diag_id
            self.diagnosis_facts = facts

    def note(self, text: str) -> None:
        if text and text not in self.notes:
            self.notes.append(text)

    # -- scoring -----------------------------------------------------------------------------
    @property
    def all_passed(self) -> bool:
        return bool(self.cases) and all(c.ok for c in self.cases)

    def fraction(self) -> float:
        total = sum(c.weight for c in self.cases)
        if total <= 0:
            return 0.0
        return sum(c.weight for c in self.cases if c.ok) / total

    def failing(self) -> list[SubCase]:
        return [c for c in self.cases if not c.ok]


class StudentOutputError(Exception):
    """Abort a check: the student's output makes every remaining sub-case meaningless."""

    def __init__(self, message: str, diagnosis: str | None = None, **facts: Any):
        super().__init__(message)
        self.message = message
        self.diagnosis = diagnosis
        self.facts = facts


@dataclass
class CheckContext:
    """What a check may use: the sandbox, its rubric spec, a seeded rng, earlier results."""

    sb: Any
    rubric: Rubric
    spec: CheckSpec
    rng: np.random.Generator
    prior: dict[str, CheckResult]
    expected: Expected
    warnings: list[str] = field(default_factory=list)

    @property
    def check_id(self) -> str:
        return self.spec.check_id

    @property
    def conventions(self):
        return self.rubric.conventions

    def param(self, key: str) -> Any:
        """This check's rubric parameter `key`, defaulting to the catalogue's value."""
        return self.spec.get(key)

    def keep_prob(self, p: float) -> float:
        """The keep probability that dropout_param['p'] = p means in this rubric's term."""
        return float(p) if self.conventions.dropout_p == "keep" else 1.0 - float(p)

    def dropout_on(self, keep: float) -> float:
        """The FullyConnectedNet(dropout=...) value that gives keep probability `keep`."""
        return keep if self.conventions.dropout_p == "keep" else 1.0 - keep

    def ref(self, key: str, fn: Callable[..., Any], *inputs: Any) -> Any:
        """Expected values from the reference (live or replayed), keyed for this check."""
        return self.expected(self.check_id, key, fn, *inputs)

    def ref_optional(self, key: str, fn: Callable[..., Any], *inputs: Any) -> Any:
        """Like `ref`, for values that only refine a diagnosis: None where the replayed public data
        lacks them, so a missing value never turns a failed check into a skipped one."""
        try:
            return self.ref(key, fn, *inputs)
        except ReferenceUnavailable:
            return None

    def call(self, target: str, *args: Any, **kwargs: Any) -> Any:
        """Call a student function, e.g. ``ctx.call("layers:affine_forward", x, w, b)``."""
        return self.sb.call(_target(target), *args, **kwargs)

    def forward(self, target: str, *args: Any) -> tuple[Any, Any]:
        """Call a ``(out, cache)`` function: out as a value, cache as a Handle living in the worker,
        so the student's backward receives exactly the object its forward made."""
        handle = self.sb.call(_target(target), *args, keep=True)
        try:
            out = self.sb.get(handle[0])
            cache = handle[1]
        except Exception as exc:  # noqa: BLE001 - anything but a 2-sequence lands here
            if _is(exc, _sandbox_errors(), "CallTimeout") or _is(exc, _sandbox_errors(), "WorkerCrashed"):
                raise
            whole = _safe_get(self.sb, handle)
            if whole is None:
                raise OutputProblem(f"{target.split(':')[-1]} returned None: not implemented yet.",
                                    "not_implemented") from None
            raise OutputProblem(f"{target.split(':')[-1]} must return a pair (out, cache).") from None
        return out, cache

    def attempt(self, v: "Verdict", name: str, fn: Callable[[], Any], *, weight: float = 1.0) -> tuple[bool, Any]:
        """Run one sub-case's student call; a student exception fails only that sub-case."""
        errors = _sandbox_errors()
        try:
            return True, fn()
        except OutputProblem as exc:
            v.problem(name, exc, weight=weight)
        except Exception as exc:  # noqa: BLE001
            if not _is(exc, errors, "StudentError"):
                raise
            exc_type = getattr(exc, "exc_type", type(exc).__name__)
            text = getattr(exc, "message", str(exc))
            missing = missing_module(exc_type, text)
            diag = "not_implemented" if _none_error(exc_type, text) else "import_failed" if missing else None
            v.add(name, False, weight=weight, message=f"raised {exc_type}: {text}", diagnosis=diag,
                  **({"module": missing, "where": _where(exc)} if missing else {}))
            if v.traceback is None:
                v.traceback = _tb_text(getattr(exc, "traceback", None))
        return False, None


@dataclass(frozen=True)
class CheckDef:
    check_id: str
    fn: Callable[[CheckContext], Verdict]
    reference_free: bool = False


CHECKS: dict[str, CheckDef] = {}


def check(check_id: str, *, reference_free: bool = False):
    """Register a check function under its stable id."""

    if check_id not in CATALOGUE or CATALOGUE[check_id].stage != "checks":
        raise ValueError(f"check {check_id!r} is not in autograder/catalogue.py as a checks-stage check")

    def register(fn: Callable[[CheckContext], Verdict]) -> Callable[[CheckContext], Verdict]:
        CHECKS[check_id] = CheckDef(check_id, fn, reference_free)
        return fn

    return register


def _none_error(exc_type: str, text: Any) -> bool:
    """The error a template stub causes downstream: something is still None."""
    return exc_type == "NotImplementedError" or (
        exc_type in ("TypeError", "AttributeError") and "NoneType" in str(text))


def _where(exc: BaseException) -> str:
    """" (nndl/x.py, line n)" for the student's innermost frame, or ""."""
    frames = getattr(exc, "frames", None) or []
    try:
        file, line = frames[-1][0], frames[-1][1]
    except (IndexError, TypeError):
        return ""
    return f" ({file}, line {line})"


def missing_module(exc_type: str, text: Any) -> str | None:
    """The module named by "No module named 'x'" (an import of something that is not there)."""
    if exc_type not in ("ModuleNotFoundError", "ImportError"):
        return None
    found = re.search(r"No module named '([^']+)'", str(text))
    return found.group(1) if found else None


def _target(target: str) -> str:
    module, _, name = target.partition(":")
    return target if module.startswith(("nndl.", "grader_inside")) else f"nndl.{module}:{name}"


def _safe_get(sb: Any, handle: Any) -> Any:
    try:
        return sb.get(handle)
    except Exception:  # noqa: BLE001
        return "unreadable"


def _tb_text(tb: Any) -> str | None:
    if tb is None:
        return None
    if isinstance(tb, (list, tuple)):
        return "\n".join(map(str, tb))
    return str(tb)


def _sandbox_errors() -> dict[str, type]:
    """The sandbox's exception classes (looked up lazily; a missing sandbox must not break imports)."""
    try:
        from .. import sandbox as sbx
    except Exception:  # noqa: BLE001 - the sandbox module may be absent in partial checkouts
        sbx = None
    names = ("StudentError", "CallTimeout", "WorkerCrashed", "ProtocolViolation", "HandleLost")
    return {n: getattr(sbx, n, None) for n in names if getattr(sbx, n, None) is not None}


def _is(exc: BaseException, errors: dict[str, type], name: str) -> bool:
    cls = errors.get(name)
    return cls is not None and isinstance(exc, cls)


def run_check(defn: CheckDef, ctx: CheckContext, grader_errors: list[str]) -> CheckResult:
    """Run one check; whatever happens, return a `CheckResult` for it (and only for it)."""
    started = time.monotonic()
    spec = ctx.spec
    errors = _sandbox_errors()
    status, message, diagnosis, tb, details = "failed", "", None, None, {}
    verdict: Verdict | None = None
    try:
        verdict = defn.fn(ctx)
    except StudentOutputError as exc:
        diagnosis = exc.diagnosis
        message = describe(diagnosis, **exc.facts) if diagnosis and exc.facts else exc.message
    except OutputProblem as exc:
        message, diagnosis = exc.message, exc.diagnosis
    except ReferenceUnavailable as exc:
        status, message = "skipped", f"Not graded here: {exc}"
    except BaseException as exc:  # noqa: BLE001 - sandbox outcomes and grader bugs alike
        if isinstance(exc, KeyboardInterrupt):
            raise
        status, message, diagnosis, tb = _classify(exc, errors, grader_errors, spec.check_id)
    if verdict is not None:
        return _from_verdict(verdict, ctx, time.monotonic() - started)
    result = spec.result(status, message=message, diagnosis=diagnosis, traceback=tb, details=details,
                         seconds=time.monotonic() - started)
    _blame_dependencies(result, ctx.prior)
    return result


def _classify(exc: BaseException, errors: dict[str, type], grader_errors: list[str],
              check_id: str) -> tuple[str, str, str | None, str | None]:
    if _is(exc, errors, "CallTimeout"):
        return "timeout", "Your code did not finish within the time limit for this check.", None, None
    if _is(exc, errors, "StudentError"):
        exc_type = getattr(exc, "exc_type", type(exc).__name__)
        text = getattr(exc, "message", str(exc))
        tb = _tb_text(getattr(exc, "traceback", None))
        if _none_error(exc_type, text):
            return ("failed", f"Not implemented yet: your code raised {exc_type}: {text} "
                    "(a function it uses probably still returns None).", "not_implemented", tb)
        missing = missing_module(exc_type, text)
        if missing:
            return "error", f"{describe('import_failed', module=missing, where=_where(exc))} (Your code raised {exc_type}: {text}.)", \
                "import_failed", tb
        return "error", f"Your code raised {exc_type}: {text}", None, tb
    if _is(exc, errors, "WorkerCrashed"):
        # str(exc) already says how: "killed by signal SIGSEGV", "exited with code 3", memory
        return "error", f"Your code crashed the Python process: {exc}.", None, None
    if _is(exc, errors, "HandleLost"):
        return "error", "The worker restarted during this check (an earlier crash or timeout).", None, None
    if _is(exc, errors, "ProtocolViolation"):
        return "error", f"Your code returned something the grader cannot read: {exc}", None, None
    detail = tb_module.format_exc()
    grader_errors.append(f"check {check_id}: {type(exc).__name__}: {exc}")
    return "error", "The grader failed on this check (not your fault); staff have been flagged.", None, detail


def _from_verdict(v: Verdict, ctx: CheckContext, seconds: float) -> CheckResult:
    spec = ctx.spec
    details: dict[str, Any] = dict(v.details)
    details["cases"] = [
        {"name": c.name, "ok": c.ok, **({"message": c.message} if c.message else {}), **c.details}
        for c in v.cases
    ]
    if v.waived:
        msg = f"Waived by the rubric (not charged): {describe(v.waived, **v.diagnosis_facts)}"
        return spec.result("passed", spec.points, message=_join(msg, *v.notes), diagnosis=v.waived,
                           details=details, traceback=v.traceback, seconds=seconds)
    if v.all_passed:
        return spec.result("passed", spec.points, message=_join(f"All {len(v.cases)} sub-cases match.", *v.notes),
                           details=details, seconds=seconds)
    failing = v.failing()
    stub = next((c for c in failing if c.diagnosis == "not_implemented"), None)
    diagnosis = "not_implemented" if stub else v.diagnosis or next((c.diagnosis for c in failing if c.diagnosis), None)
    if diagnosis in GENERIC_DIAGNOSES and failed_dependencies(spec.check_id, ctx.prior):
        diagnosis = None
    facts = v.diagnosis_facts if diagnosis and diagnosis == v.diagnosis else {}
    if diagnosis and diagnosis != v.diagnosis:
        first = next(c for c in failing if c.diagnosis == diagnosis)
        facts = {"what": first.name, **first.details}
    if stub is not None:
        text = re.sub(r":?\s*(this part is )?not implemented yet\.?$", "", stub.message or f"{stub.name} returned None")
        message = _join(f"Not implemented yet: {text.rstrip('.')} ({len(failing)} of {len(v.cases)} sub-cases fail).",
                        *v.notes)
    else:
        head = describe(diagnosis, **facts) if diagnosis else ""
        listing = "; ".join(_case_text(c).rstrip(".") for c in failing[:6])
        more = f" (+{len(failing) - 6} more)" if len(failing) > 6 else ""
        message = _join(head, f"Failed {len(failing)} of {len(v.cases)} sub-cases: {listing}{more}.", *v.notes)
    result = spec.result("failed", spec.points * v.fraction(), message=message[:MAX_MESSAGE],
                         diagnosis=diagnosis, details=details, traceback=v.traceback, seconds=seconds)
    _blame_dependencies(result, ctx.prior)
    return result


def _case_text(c: SubCase) -> str:
    text = c.message or c.name
    if c.message and c.name not in c.message:
        text = f"{c.name}: {c.message}"
    err = c.details.get("rel_error")
    if isinstance(err, float):
        text += f" (rel. error {err:.2g})"
    return text


def failed_dependencies(check_id: str, prior: dict[str, CheckResult]) -> list[str]:
    return [d for d in DEPENDS.get(check_id, ()) if d in prior and prior[d].status not in ("passed", "skipped")]


def _blame_dependencies(result: CheckResult, prior: dict[str, CheckResult]) -> None:
    if result.diagnosis == "import_failed":
        return  # the missing module is the cause, whatever else failed
    failed = failed_dependencies(result.check_id, prior)
    if failed:
        which = "which failed its own check" if len(failed) == 1 else "which failed their own checks"
        result.message = _join(result.message, f"This is probably caused by {', '.join(failed)}, {which}.")
        result.details["probable_causes"] = failed


def _join(*parts: str) -> str:
    return " ".join(p.strip() for p in parts if p and p.strip())
