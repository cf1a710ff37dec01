"""Which term's conventions a submission was written for, read from its source text.

The staged files are read as text and parsed with `ast` in the parent (parsing never runs code):
the `dropout_forward` docstring says whether p keeps or drops a unit, and FullyConnectedNet's
`dropout=` default and `use_dropout = dropout > 0` / `< 1` say which value means "off". A
difference from the rubric becomes a warning: the checks still grade by the rubric's conventions.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from ..rubric import Conventions

MAX_SOURCE_BYTES = 2_000_000


def _parse(path: Path) -> ast.Module | None:
    try:
        if not path.is_file() or path.stat().st_size > MAX_SOURCE_BYTES:
            return None
        return ast.parse(path.read_bytes().decode("utf-8", errors="replace"))
    except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def docstring_p_meaning(tree: ast.Module | None) -> str | None:
    """'keep' or 'drop' from the dropout_forward docstring's line about p, if it says."""
    for node in ast.walk(tree) if tree else ():
        if isinstance(node, ast.FunctionDef) and node.name == "dropout_forward":
            doc = ast.get_docstring(node) or ""
            line = next((ln for ln in doc.splitlines() if re.match(r"\s*-\s*p\s*:", ln)), "")
            text = line.lower()
            if re.search(r"\bkeep", text):
                return "keep"
            if re.search(r"\bdrop", text):
                return "drop"
    return None


def fc_net_dropout_off(tree: ast.Module | None) -> tuple[float | None, float | None]:
    """(default of FullyConnectedNet(dropout=...), the value `use_dropout` treats as off)."""
    default = off = None
    for node in ast.walk(tree) if tree else ():
        if not (isinstance(node, ast.ClassDef) and node.name == "FullyConnectedNet"):
            continue
        for fn in node.body:
            if not (isinstance(fn, ast.FunctionDef) and fn.name == "__init__"):
                continue
            args = fn.args.args
            for arg, value in zip(args[len(args) - len(fn.args.defaults):], fn.args.defaults):
                if arg.arg == "dropout" and isinstance(value, ast.Constant) and isinstance(value.value, (int, float)):
                    default = float(value.value)
            for stmt in ast.walk(fn):
                off = _use_dropout_rule(stmt) if off is None else off
    return default, off


def _use_dropout_rule(stmt: ast.AST) -> float | None:
    if not isinstance(stmt, ast.Assign) or not isinstance(stmt.value, ast.Compare):
        return None
    target = stmt.targets[0]
    if not (isinstance(target, ast.Attribute) and target.attr == "use_dropout"):
        return None
    cmp = stmt.value
    if len(cmp.ops) != 1 or not isinstance(cmp.comparators[0], ast.Constant):
        return None
    bound, op = cmp.comparators[0].value, cmp.ops[0]
    if not isinstance(bound, (int, float)):
        return None
    if isinstance(op, (ast.Gt, ast.NotEq)) and bound == 0:
        return 0.0
    if isinstance(op, (ast.Lt, ast.NotEq)) and bound == 1:
        return 1.0
    return None


def convention_warnings(root: Path | str | None, conventions: Conventions) -> list[str]:
    """Warnings for every place the submission's own conventions differ from the rubric's."""
    if root is None:
        return []
    nndl = Path(root) / "nndl"
    warnings: list[str] = []
    meaning = docstring_p_meaning(_parse(nndl / "layers.py"))
    if meaning and meaning != conventions.dropout_p:
        warnings.append(
            f"Your dropout_forward docstring says p is the probability to {meaning.upper()} a unit; this "
            f"term's rubric grades p as the probability to {conventions.dropout_p.upper()} a unit.")
    default, off = fc_net_dropout_off(_parse(nndl / "fc_net.py"))
    want = float(conventions.dropout_off)
    if off is not None and off != want:
        warnings.append(
            f"Your FullyConnectedNet treats dropout={off:g} as 'no dropout'; this term's rubric uses "
            f"dropout={want:g} for that, so the grader builds nets with dropout={want:g} when it wants none.")
    elif default is not None and off is None and default != want:
        warnings.append(f"Your FullyConnectedNet's default is dropout={default:g}; this term's default "
                        f"(no dropout) is dropout={want:g}.")
    return warnings
