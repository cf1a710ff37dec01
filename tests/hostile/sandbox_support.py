"""Shared bits of the sandbox tests: short limits, the hostile corpus, level parametrisation."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from autograder.rubric import Limits
from autograder.sandbox import SandboxUnavailable, resolve_level

HOSTILE = Path(__file__).resolve().parent

#: Every hostile case is bounded by these: short timeouts, a small address space.
TEST_LIMITS = Limits(memory_mb=512, call_timeout=1.0, import_timeout=1.5, cpu_seconds=30,
                     processes=64, file_size_mb=32, output_bytes=100_000)


def require_level(level: str) -> str:
    try:
        return resolve_level(level)
    except SandboxUnavailable as exc:
        pytest.skip(str(exc))


def require(sb, guarantee: str) -> None:
    """Skip (with the reason) a test whose guarantee this sandbox level cannot give."""
    if guarantee in sb.missing_guarantees:
        pytest.skip(f"level {sb.level!r} cannot give {guarantee}")


def staged_case(case: str, tmp_path: Path) -> Path:
    """A private copy of ``tests/hostile/<case>`` (students may write to their copy)."""
    dest = tmp_path / "staged" / case
    shutil.copytree(HOSTILE / case, dest)
    return dest
