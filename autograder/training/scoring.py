"""The accuracy formula of the assignment's final part, and its human-readable form.

The notebook grades ``min(floor((X - 32%) / 28%), 1)``; read as intended that is
``clamp((floor(100 X) - 32) / 28, 0, 1)``. The numbers live in the rubric (``[training]``), so a
term that gives full marks at 55% changes one line there, not this code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: 100*X is rounded to this many decimals before flooring, so that 0.57 (56.99999999999999 in
#: binary) counts as 57% and not 56%.
_PERCENT_DECIMALS = 6


@dataclass(frozen=True)
class AccuracyScore:
    """X turned into credit: the fraction of the points and the formula as applied."""

    accuracy: float
    fraction: float
    points: float
    score: float
    formula: str


def _percent(accuracy: float) -> float:
    return round(100.0 * accuracy, _PERCENT_DECIMALS)


def accuracy_score(accuracy: float, settings) -> float:
    """Fraction of the training points earned by validation accuracy ``accuracy`` (in [0, 1])."""
    if accuracy is None or not math.isfinite(accuracy):
        return 0.0
    pct = _percent(accuracy)
    if settings.rounding == "floor":
        pct = math.floor(pct)
    span = settings.full_percent - settings.floor_percent
    return min(max((pct - settings.floor_percent) / span, 0.0), 1.0)


def _num(value: float) -> str:
    """Shortest plain rendering: 55.7, 32, 59.99."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text if text not in ("-0", "") else "0"


def score_accuracy(accuracy: float, settings, points: float) -> AccuracyScore:
    """Score X and spell out the arithmetic the way the report shows it.

    e.g. ``clamp((floor(55.7) - 32) / 28, 0, 1) x 25 = 23/28 x 25 = 20.54``.
    """
    fraction = accuracy_score(accuracy, settings)
    score = fraction * points
    lo, hi = settings.floor_percent, settings.full_percent
    span = hi - lo
    if accuracy is None or not math.isfinite(accuracy):
        formula = f"no validation accuracy measured: 0 x {_num(points)} = 0"
        return AccuracyScore(float("nan") if accuracy is None else accuracy, 0.0, points, 0.0, formula)
    pct = _percent(accuracy)
    term = f"floor({_num(pct)})" if settings.rounding == "floor" else _num(pct)
    numerator = fraction * span
    formula = (f"clamp(({term} - {_num(lo)}) / {_num(span)}, 0, 1) x {_num(points)}"
               f" = {_num(numerator)}/{_num(span)} x {_num(points)} = {score:.2f}")
    return AccuracyScore(accuracy, fraction, points, score, formula)


def normalise_claim(claimed) -> float | None:
    """A notebook's claimed accuracy as a fraction; accepts 0.607 or 60.7, rejects junk."""
    if isinstance(claimed, bool) or not isinstance(claimed, (int, float)):
        return None
    value = float(claimed)
    if not math.isfinite(value) or value < 0:
        return None
    if value > 1.0:
        value = value / 100.0 if value <= 100.0 else float("nan")
    return value if math.isfinite(value) else None


def claim_mismatch(claimed: float | None, measured: float | None, tolerance: float) -> bool:
    """True when the notebook's claim and the re-trained accuracy differ by more than the tolerance."""
    if claimed is None or measured is None or not math.isfinite(measured):
        return False
    return abs(claimed - measured) > tolerance + 1e-12
