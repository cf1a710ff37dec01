"""Public-check data for the student profile: where it lives and how staff export it.

Students' CI has no reference solution. `python grade.py export-public` grades the reference
itself once, with recording on, and writes the expected outputs of the *public* checks (for the
grader's own seeded inputs; no solution code) into ``student_template/.autograder/public/``.
The student profile replays them. The data is tied to the rubric: a different seed or check
refuses the stale values instead of misusing them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import PROJECT_ROOT

FOLDER = Path(".autograder") / "public"
TEMPLATE_PUBLIC = PROJECT_ROOT / "student_template" / FOLDER


def find_public_data(submission: Path) -> Path | None:
    """The public data a student run should use: the repository's own copy, else the template's."""
    candidates = [Path(submission) / FOLDER, TEMPLATE_PUBLIC]
    for folder in candidates:
        if (folder / "expected.json").is_file():
            return folder
    return None


def export_public_command(argv: list[str]) -> int:
    from .rubric import RubricError, load_rubric

    p = argparse.ArgumentParser(prog="grade.py export-public",
                                description="Write the public checks' expected outputs (data only) into the student template.")
    p.add_argument("--rubric", type=Path, default=None)
    p.add_argument("--dest", type=Path, default=TEMPLATE_PUBLIC)
    p.add_argument("--sandbox", choices=("auto", "bwrap", "unshare", "none"), default="auto")
    args = p.parse_args(argv)
    try:
        rubric = load_rubric(args.rubric)
    except RubricError as exc:
        print(f"grade.py export-public: {exc}", file=sys.stderr)
        return 2
    from .checks import write_public_data
    from .refimpl import ReferenceUnavailable

    try:
        folder = write_public_data(args.dest, rubric, level=args.sandbox)
    except ReferenceUnavailable as exc:
        print(f"grade.py export-public: needs the reference solution: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        print(f"grade.py export-public: {exc}", file=sys.stderr)
        return 2
    files = sorted(p.name for p in Path(folder).iterdir())
    print(f"wrote public check data ({', '.join(files)}) into {folder}")
    return 0
