"""Captured model configs: strict validation, claims attached, and the best one chosen.

The capture file is written inside the sandbox, where student code could rewrite it, so it is
treated as untrusted data: size-capped, schema-checked with jsonschema, every value limited to
plain JSON (plus the dtype marker). A config only *names* what to retrain; accuracy is measured
later by the trusted training stage.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema

from .claims import CellClaims

MAX_CAPTURE_BYTES = 2 * 1024 * 1024
MAX_RECORDS = 200
BEST_TAG = "best-config"
_NAME = {"type": "string", "maxLength": 200, "pattern": r"^[A-Za-z_][A-Za-z0-9_.]*$"}
_CELL = {"type": ["integer", "null"], "minimum": 0, "maximum": 100000}
RECORD_SCHEMA = {
    "type": "object",
    "required": ["model_module", "model_class", "model_args", "model_kwargs", "solver_kwargs", "cell_index"],
    "properties": {
        "model_module": _NAME,
        "model_class": {"type": "string", "maxLength": 100, "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"},
        "model_args": {"type": "array", "maxItems": 50},
        "model_kwargs": {"type": "object", "maxProperties": 50},
        "solver_kwargs": {"type": "object", "maxProperties": 50},
        "cell_index": _CELL,
        "model_cell_index": _CELL,
        "constructor_captured": {"type": "boolean"},
        "trained": {"type": "boolean"},
        "iterations": {"type": "integer", "minimum": 0},
    },
}
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_FINAL_PART = re.compile(r"final\s+part", re.I)
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s*(.*)$", re.M)


def _plain(value: Any, depth: int = 0) -> bool:
    """Only small plain JSON values (and the dtype / unencodable markers) are accepted."""
    if depth > 8:
        return False
    if value is None or isinstance(value, (bool, int)):
        return True
    if isinstance(value, float):
        return value == value and abs(value) != float("inf")
    if isinstance(value, str):
        return len(value) <= 200
    if isinstance(value, list):
        return len(value) <= 1000 and all(_plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        if set(value) == {"__dtype__"}:
            return isinstance(value["__dtype__"], str) and value["__dtype__"] in (
                "float16", "float32", "float64", "int32", "int64", "bool", "complex128")
        return len(value) <= 200 and all(isinstance(k, str) and len(k) <= 100 and _plain(v, depth + 1)
                                          for k, v in value.items())
    return False


def read_capture(path: Path) -> tuple[list[dict], list[str]]:
    """Validated records from the kernel's capture file, and problems found (never raises)."""
    problems: list[str] = []
    try:
        if not path.is_file():
            return [], []
        if path.stat().st_size > MAX_CAPTURE_BYTES:
            return [], [f"capture file too large ({path.stat().st_size} bytes): ignored"]
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [], [f"capture file unreadable: {type(exc).__name__}"]
    records = data.get("records") if isinstance(data, dict) else None
    if not isinstance(records, list):
        return [], ["capture file has no record list"]
    good: list[dict] = []
    for i, rec in enumerate(records[:MAX_RECORDS]):
        try:
            jsonschema.validate(rec, RECORD_SCHEMA)
        except jsonschema.ValidationError as exc:
            problems.append(f"record {i} rejected: {exc.message[:120]}")
            continue
        if not all(_plain(rec[k]) for k in ("model_args", "model_kwargs", "solver_kwargs")):
            problems.append(f"record {i} rejected: non-plain values")
            continue
        if not all(_KEY.match(k) for k in (*rec["model_kwargs"], *rec["solver_kwargs"])):
            problems.append(f"record {i} rejected: invalid keyword names")
            continue
        good.append({
            "model_module": rec["model_module"],
            "model_class": rec["model_class"],
            "model_args": rec["model_args"],
            "model_kwargs": rec["model_kwargs"],
            "solver_kwargs": rec["solver_kwargs"],
            "cell_index": rec["cell_index"],
            "model_cell_index": rec.get("model_cell_index"),
            "constructor_captured": bool(rec.get("constructor_captured", True)),
            "trained": bool(rec.get("trained", False)),
        })
    if len(records) > MAX_RECORDS:
        problems.append(f"only the first {MAX_RECORDS} records kept")
    return good, problems


def final_part_start(nb) -> int | None:
    """Index of the markdown cell whose heading contains "Final part"."""
    for i, cell in enumerate(nb.cells):
        if cell.get("cell_type") == "markdown":
            if any(_FINAL_PART.search(m.group(1)) for m in _HEADING.finditer(cell.get("source", ""))):
                return i
    return None


def tagged_cells(nb) -> set[int]:
    out = set()
    for i, cell in enumerate(nb.cells):
        tags = (cell.get("metadata") or {}).get("tags") or []
        if isinstance(tags, list) and BEST_TAG in tags:
            out.add(i)
    return out


def attach_claims(records: list[dict], claims: dict[int, CellClaims], nb) -> list[dict]:
    """The CONTRACTS config form: records plus ``claimed_val_acc``, ``in_final_part``, ``tagged``.

    The k-th Solver of a cell takes the k-th run claimed in that cell's saved outputs; a summary
    printed by a later cell without a run of its own replaces the claim of the last config
    before it (it evaluates the model trained there).
    """
    start = final_part_start(nb)
    tagged = tagged_cells(nb)
    configs: list[dict] = []
    seen_per_cell: dict[Any, int] = {}
    for rec in records:
        cell = rec["cell_index"]
        k = seen_per_cell.get(cell, 0)
        seen_per_cell[cell] = k + 1
        claim = None
        cell_claims = claims.get(cell) if cell is not None else None
        if cell_claims and k < len(cell_claims.runs):
            claim = cell_claims.runs[k].value
        configs.append(dict(rec, claimed_val_acc=claim,
                            in_final_part=bool(start is not None and cell is not None and cell > start),
                            tagged=cell in tagged or rec.get("model_cell_index") in tagged))
    for index in sorted(claims):
        orphan = claims[index].orphan_summary
        if orphan is None:
            continue
        before = [c for c in configs if c["cell_index"] is not None and c["cell_index"] < index]
        if before:
            before[-1]["claimed_val_acc"] = orphan
    return configs


def choose_best(configs: list[dict]) -> tuple[dict | None, str]:
    """(config, rule): a tagged cell, else the final part's highest claim, else the last trained."""
    tagged = [c for c in configs if c["tagged"]]
    if tagged:
        return tagged[-1], "tagged"
    final = [c for c in configs if c["in_final_part"] and c["claimed_val_acc"] is not None]
    if final:
        return max(final, key=lambda c: c["claimed_val_acc"]), "final_part_highest_claim"
    trained = [c for c in configs if c.get("trained")]
    if trained:
        return trained[-1], "last_trained"
    if configs:
        return configs[-1], "last_built"
    return None, "none"
