"""Accuracies a submitted notebook *claims*, read from its saved outputs.

Only the notebook as submitted tells what the student saw; the re-executed one trains briefly on
other data. Each Solver run in a cell prints ``(Epoch e / n) train acc: a; val_acc: v`` lines;
students also print their own summaries ("Validation accuracy: 0.56", "val acc 56.2%"). A cell's
output is split into runs at each ``(Iteration 1 / n)`` line (else ``(Epoch 0 / n)``), so a loop that
trains several models yields one claim per model, in order.
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
    r"\b(?:best[ _]+)?val(?:idation|id)?[ _]*(?:set[ _]*)?acc(?:uracy)?\b(?![ _]*hist)[^\d\n]{0,40}?"
    r"(\d+(?:\.\d+)?|\.\d+)\s*(%)?", re.I)


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


def parse_text(text: str) -> tuple[list[RunClaim], float | None]:
    """Runs found in one cell's output, and a summary accuracy printed before any run."""
    merged = [m.start() for m in _ITERATION_ONE.finditer(text)]
    if not merged:  # print_every may hide the loss lines; fall back to the first epoch line
        merged = [m.start() for m in _EPOCH_ZERO.finditer(text)]
    orphan = None
    head = text[: merged[0]] if merged else text
    for m in _SUMMARY.finditer(head):
        value = _fraction(m.group(1), bool(m.group(2)))
        orphan = value if value is not None else orphan
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
        for m in _SUMMARY.finditer(segment):
            if any(a <= m.start() < b for a, b in epoch_spans):
                continue
            v = _fraction(m.group(1), bool(m.group(2)))
            if v is not None:
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
