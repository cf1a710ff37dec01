"""Accuracies a submitted notebook *claims*, read from its saved outputs.

Only the notebook as submitted tells what the student saw; the re-executed one trains briefly on
other data. Each Solver run in a cell prints ``(Epoch e / n) train acc: a; val_acc: v`` lines;
students also print their own summaries ("Validation accuracy: 0.56", "val acc 56.2%",
"best_val_acc 0.58"). A cell's output is split into runs at each ``(Iteration 1 / n)`` line (else
``(Epoch 0 / n)``, else the first epoch line when only the tail of a log was kept), so a loop that
trains several models yields one claim per model, in order. Every claim is a fraction: "56.2%" and
"56.2" both read as 0.562.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_ITERATION_ONE = re.compile(r"\(Iteration\s+1\s*/\s*\d+\)")
_EPOCH_ZERO = re.compile(r"\(Epoch\s+0\s*/\s*\d+\)")
_EPOCH = re.compile(
    r"\(Epoch\s+(\d+)\s*/\s*(\d+)\)\s*train[ _]acc(?:uracy)?\s*[:=]\s*([0-9.]+%?)\s*[;,]?\s*"
    r"val[ _]acc(?:uracy)?\s*[:=]\s*([0-9.]+%?)", re.I)
_SUMMARY = re.compile(
    r"(?<![A-Za-z0-9])(?:best[ _]*)?val(?:idation|id)?[ _]*(?:set[ _]*)?acc(?:uracy)?(?![A-Za-z])(?![ _]*hist)"
    r"(?P<rest>[^\n]*)", re.I)
_NUMBER = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?|\.\d+)(?!\w|\.\d)\s*(%)?")
_AFTER_COLON = re.compile(r":\s*(\d+(?:\.\d+)?|\.\d+)(?!\w|\.\d)\s*(%)?")
_AFTER_EQUALS = re.compile(r"=\s*(\d+(?:\.\d+)?|\.\d+)(?!\w|\.\d)\s*(%)?")
_LABEL_WORD = re.compile(r"[A-Za-z]{2,}")
#: ``np.float64(0.562)``: how NumPy 2 shows a scalar; read as the number inside.
_NUMPY_SCALAR = re.compile(r"\bnp\.(?:float|int)\d*\(\s*([^()\s]+)\s*\)")


@dataclass
class RunClaim:
    """One training run's claimed validation accuracy (a fraction)."""

    best_epoch_val: float | None = None
    summary_val: float | None = None
    epochs: int = 0

    @property
    def value(self) -> float | None:
        """The student's own summary if printed, else the best epoch's val_acc."""
        return self.summary_val if self.summary_val is not None else self.best_epoch_val


@dataclass
class CellClaims:
    index: int
    runs: list[RunClaim] = field(default_factory=list)
    #: A summary printed with no run in this cell (e.g. evaluating the model trained above).
    orphan_summary: float | None = None


def _fraction(number: str, percent: bool) -> float | None:
    try:
        value = float(number.rstrip("%"))
    except ValueError:
        return None
    if percent or number.endswith("%") or value > 1.0:
        value /= 100.0
    return value if 0.0 <= value <= 1.0 else None


def cell_text(cell) -> str:
    """Everything a code cell's saved outputs show as text (streams, results, errors)."""
    parts: list[str] = []
    for out in cell.get("outputs") or []:
        kind = out.get("output_type")
        if kind == "stream":
            text = out.get("text", "")
            parts.append("".join(text) if isinstance(text, list) else str(text))
        elif kind in ("execute_result", "display_data"):
            text = (out.get("data") or {}).get("text/plain", "")
            parts.append("".join(text) if isinstance(text, list) else str(text))
    return _ANSI.sub("", "\n".join(parts))


def _summary_value(rest: str) -> float | None:
    """The accuracy in what follows a "val acc" label on its line.

    The number right after the label ("val acc 0.55 (lr=1e-3)"); but when words come first
    ("Validation accuracy with dropout 0.5: 0.55", "... (p=0.5) = 0.55") the number after the
    first ``:``, else after the last ``=``, so a hyper-parameter in the label is not read as the
    accuracy.
    """
    first = _NUMBER.search(rest)
    if first is None:
        return None
    if _LABEL_WORD.search(rest[: first.start()]):
        signed = _AFTER_COLON.search(rest) or ([None] + list(_AFTER_EQUALS.finditer(rest)))[-1]
        if signed is not None:
            return _fraction(signed.group(1), bool(signed.group(2)))
    return _fraction(first.group(1), bool(first.group(2)))


def _summaries(text: str):
    """(position, fraction) of every "val acc ..." summary in ``text``."""
    for m in _SUMMARY.finditer(text):
        value = _summary_value(m.group("rest"))
        if value is not None:
            yield m.start(), value


def _run_starts(text: str) -> list[int]:
    """Where each Solver run's log begins: ``(Iteration 1 / n)``, else ``(Epoch 0 / n)``, else the
    first epoch line (print_every or a trimmed output may hide the others)."""
    for pattern in (_ITERATION_ONE, _EPOCH_ZERO):
        starts = [m.start() for m in pattern.finditer(text)]
        if starts:
            return starts
    first = _EPOCH.search(text)
    return [first.start()] if first else []


def parse_text(text: str) -> tuple[list[RunClaim], float | None]:
    """Runs found in one cell's output, and a summary accuracy printed before any run."""
    text = _NUMPY_SCALAR.sub(r"\1", text)
    merged = _run_starts(text)
    orphan = None
    head = text[: merged[0]] if merged else text
    for _, value in _summaries(head):
        orphan = value
    runs: list[RunClaim] = []
    for i, start in enumerate(merged):
        end = merged[i + 1] if i + 1 < len(merged) else len(text)
        segment = text[start:end]
        run = RunClaim()
        epoch_spans = []
        for m in _EPOCH.finditer(segment):
            v = _fraction(m.group(4), m.group(4).endswith("%"))
            run.epochs += 1
            epoch_spans.append(m.span())
            if v is not None and (run.best_epoch_val is None or v > run.best_epoch_val):
                run.best_epoch_val = v
        for pos, v in _summaries(segment):
            if not any(a <= pos < b for a, b in epoch_spans):
                run.summary_val = v
        runs.append(run)
    return runs, orphan


def notebook_claims(nb) -> dict[int, CellClaims]:
    """Claims per code-cell index, for cells whose saved outputs claim anything."""
    out: dict[int, CellClaims] = {}
    for index, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code":
            continue
        runs, orphan = parse_text(cell_text(cell))
        if runs or orphan is not None:
            out[index] = CellClaims(index, runs, orphan)
    return out
