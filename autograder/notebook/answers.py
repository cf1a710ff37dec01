"""The free-response answer ("is dropout performing regularization?"), for manual grading.

Notebooks put it in the cell after the "Question" heading, under an "Answer" heading (same cell
or the next), or in a code cell as comments / a string literal (read with ``ast``, never run).
The template's placeholder text counts as no answer.
"""

from __future__ import annotations

import ast
import inspect
import io
import re
import tokenize

MAX_ANSWER_CHARS = 5000
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s*(.*)$", re.M)
_PLACEHOLDERS = re.compile(
    r"(?im)^\s*(?:#+\s*)?(?:[\d.]+\s*)?(?:answer|your answer( here)?|type your answer here|"
    r"write your answer here|todo|\.\.\.)\s*[:.]?\s*$")
_MIN_WORDS = 3


def _is_heading_with(cell, word: str) -> bool:
    if cell.get("cell_type") != "markdown":
        return False
    return any(word in m.group(1).lower() for m in _HEADING.finditer(cell.get("source", "")))


def _text_after_heading(source: str, word: str) -> str:
    """The part of a markdown cell after its first heading containing ``word``."""
    for m in _HEADING.finditer(source):
        if word in m.group(1).lower():
            rest = m.group(1)
            after = rest.split(":", 1)[1] if ":" in rest else ""
            return (after + "\n" + source[m.end():]).strip()
    return ""


def _clean(text: str) -> str:
    text = _PLACEHOLDERS.sub("", text)
    return text.strip()[:MAX_ANSWER_CHARS]


_PLACEHOLDER_PHRASES = re.compile(
    r"(?i)\b(?:type |write )?your answer(?: goes)?(?: here)?\b|\bwrite (?:it|here)\b|\btodo\b")


def _substantive(text: str) -> bool:
    """Three real words once markdown emphasis and placeholder phrases (the template's
    "**Your answer:** _write your answer here._") are taken out."""
    plain = _PLACEHOLDER_PHRASES.sub(" ", re.sub(r"[*_`]+", " ", text))
    return len(re.findall(r"[A-Za-z]{2,}", plain)) >= _MIN_WORDS


def extract_answer(nb) -> dict:
    """``{"present": bool, "text": str, "cell_index": int | None, "source": rule}``."""
    cells = list(nb.cells)
    # 1. An "Answer" heading: its own text, else the following non-heading cells.
    for i, cell in enumerate(cells):
        if _is_heading_with(cell, "answer"):
            text = _clean(_text_after_heading(cell.get("source", ""), "answer"))
            if _substantive(text):
                return {"present": True, "text": text, "cell_index": i, "source": "answer heading"}
            follow = _following(cells, i)
            if follow:
                return follow | {"source": "after answer heading"}
    # 2. The cell after the "Question" heading.
    for i, cell in enumerate(cells):
        if _is_heading_with(cell, "question"):
            source = cell.get("source", "")
            lines = source.strip().splitlines()
            own = _clean("\n".join(lines[1:])) if lines else ""
            follow = _following(cells, i)
            if follow:
                return follow | {"source": "after question"}
            return {"present": False, "text": "", "cell_index": None, "source": "question unanswered",
                    "question": own[:500]}
    return {"present": False, "text": "", "cell_index": None, "source": "no question found"}


def _following(cells, i: int) -> dict | None:
    """The first substantive cell after cell ``i`` that is not a new section heading."""
    for j in range(i + 1, min(i + 4, len(cells))):
        cell = cells[j]
        source = cell.get("source", "")
        if cell.get("cell_type") == "markdown":
            if _HEADING.match(source.strip()) and not _is_heading_with(cell, "answer"):
                return None  # the next section started: no answer in between
            text = _clean(_text_after_heading(source, "answer") if _is_heading_with(cell, "answer") else source)
        elif cell.get("cell_type") == "code":
            text = _clean(_comment_text(source))
        else:
            continue
        if _substantive(text):
            return {"present": True, "text": text, "cell_index": j}
    return None


_TEXT_MAGIC = re.compile(r"^\s*%%(?:markdown|md|html|latex)\b[^\n]*\n?")


def _comment_text(source: str) -> str:
    """An answer written in a code cell, read without running it; "" if the cell is real code.

    Accepted: comment lines, string literals (triple-quoted or not, as bare expressions, as
    ``print("...")`` or assigned to one name: ``answer = "..."``) and a ``%%markdown`` cell.
    ``ast`` reads the literals; nothing is evaluated.
    """
    magic = _TEXT_MAGIC.match(source)
    if magic:
        return source[magic.end():].strip()
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return ""
    parts: list[tuple[int, str]] = []
    for node in tree.body:
        text = _literal_text(node)
        if text is None:
            return ""
        parts.append((node.lineno, text))
    parts.extend(_comments(source))
    return "\n".join(text for _, text in sorted(parts, key=lambda p: p[0]) if text.strip())


def _string(node) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _literal_text(node) -> str | None:
    """The text of a statement that only states a string; None for any other statement."""
    if isinstance(node, ast.Expr):
        value = node.value
        if _string(value) is not None:
            return inspect.cleandoc(value.value)
        if (isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "print"
                and not value.keywords and value.args and all(_string(a) is not None for a in value.args)):
            return " ".join(inspect.cleandoc(a.value) for a in value.args)
        return None
    if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
            and _string(node.value) is not None):
        return inspect.cleandoc(node.value.value)
    return None


def _comments(source: str) -> list[tuple[int, str]]:
    """(line, text) of every ``#`` comment."""
    out = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                out.append((tok.start[0], tok.string.lstrip("#").strip()))
    except (tokenize.TokenError, SyntaxError):
        return []
    return out
