"""The free-response answer ("is dropout performing regularization?"), for manual grading.

Notebooks put it in the cell after the "Question" heading, under an "Answer" heading (same cell
or the next), or in a code cell as comments / a string. The template's placeholder text counts
as no answer.
"""

from __future__ import annotations

import re

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


def _substantive(text: str) -> bool:
    return len(re.findall(r"[A-Za-z]{2,}", text)) >= _MIN_WORDS


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


def _comment_text(source: str) -> str:
    """An answer written in a code cell: its comments or a bare string; "" if it is real code."""
    lines = []
    for line in source.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            lines.append(stripped.lstrip("#").strip())
        elif stripped[:1] in "\"'" or stripped.startswith(("r'", 'r"', "print(")):
            lines.append(stripped.strip("\"'()").removeprefix("print(").strip("\"'"))
        else:
            return ""
    return "\n".join(lines)
