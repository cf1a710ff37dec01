"""Generate `student_template/` from `reference/`: one source of truth for staff.

Solution regions in the reference are marked::

        ### BEGIN SOLUTION
        ### STUB: out = None
        ...solution...
        ### END SOLUTION

and become a ``YOUR CODE HERE`` block holding the STUB lines (or ``pass``), so every function stays
importable and returns something obviously unimplemented. Notebook code cells get the same
treatment, markdown cells tagged ``solution`` become an empty answer, and all outputs are cleared.
The given helpers (``cs231n/``) are copied unchanged under the rubric's ``conventions.helpers_package``
name; the other name (``cs231n`` / ``utils``, both used by some term's notebooks) is a thin alias
package, so a student who edits one copy cannot end up with two that disagree.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import shutil
import sys
import tempfile
from pathlib import Path

from . import PROJECT_ROOT

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
STUB = "### STUB:"
RULE = "# " + "=" * 66 + " #"
ANSWER_PLACEHOLDER = "**Your answer:** _write your answer here._"

REFERENCE = PROJECT_ROOT / "reference"
TEMPLATE = PROJECT_ROOT / "student_template"
#: Hand-written files of the template that are not derived from reference/ (kept as they are).
TEMPLATE_OWN = ("README.md", ".github", ".autograder", ".gitignore")


class TemplateError(ValueError):
    """Unbalanced or nested solution markers: the template would leak or break code."""


def strip_solutions(text: str, where: str = "<text>") -> str:
    """Replace every marked solution region in Python source with its stub block."""
    out: list[str] = []
    lines = text.splitlines(keepends=False)
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped == END:
            raise TemplateError(f"{where}:{i + 1}: END SOLUTION without BEGIN")
        if stripped != BEGIN:
            out.append(line)
            i += 1
            continue
        indent = line[: len(line) - len(line.lstrip())]
        start = i
        stubs: list[str] = []
        i += 1
        while i < len(lines) and lines[i].strip().startswith(STUB):
            stubs.append(lines[i].strip()[len(STUB):].strip())
            i += 1
        while i < len(lines) and lines[i].strip() != END:
            if lines[i].strip() == BEGIN:
                raise TemplateError(f"{where}:{i + 1}: nested BEGIN SOLUTION (region opened at line {start + 1})")
            i += 1
        if i >= len(lines):
            raise TemplateError(f"{where}:{start + 1}: BEGIN SOLUTION is never closed")
        i += 1  # skip END
        out.extend(indent + s for s in (RULE, "# YOUR CODE HERE", RULE))
        out.extend(indent + s for s in (stubs or ["pass"]))
        out.extend(indent + s for s in (RULE, "# END YOUR CODE HERE", RULE))
    result = "\n".join(out)
    return result + "\n" if text.endswith("\n") else result


def solution_lines(text: str) -> list[str]:
    """The lines inside solution regions (markers excluded): what must never reach students."""
    inside, found = False, []
    for line in text.splitlines():
        s = line.strip()
        if s == BEGIN:
            inside = True
        elif s == END:
            inside = False
        elif inside and not s.startswith(STUB):
            found.append(line)
    return found


def strip_notebook(raw: str, where: str = "<notebook>") -> str:
    """Stub the notebook's solution code, blank tagged answers, clear every output."""
    import nbformat

    nb = nbformat.reads(raw, as_version=4)
    for index, cell in enumerate(nb.cells):
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source, f"{where} cell {index}")
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
        elif cell.cell_type == "markdown" and "solution" in tags:
            cell.source = ANSWER_PLACEHOLDER
    return nbformat.writes(nb) + "\n"


def notebook_solution_lines(raw: str) -> list[str]:
    nb = json.loads(raw)
    found: list[str] = []
    for cell in nb.get("cells", []):
        src = "".join(cell.get("source", []))
        if cell.get("cell_type") == "code":
            found += solution_lines(src)
        elif "solution" in cell.get("metadata", {}).get("tags", []):
            found += src.splitlines()
    return found


HELPER_PACKAGES = ("cs231n", "utils")


def alias_package_source(alias: str, target: str, helpers: Path = REFERENCE / "cs231n") -> str:
    """`__init__.py` of a package that is another name for `target`: `import alias.solver` and
    `from alias.solver import Solver` give the very modules of `target`."""
    modules = sorted(p.stem for p in helpers.glob("*.py") if p.stem != "__init__")
    return (f'"""Another name for the `{target}` package (some terms\' notebooks import `{alias}`).\n\n'
            f'Edit `{target}/`; this package only forwards to it.\n"""\n\n'
            "import importlib as _importlib\nimport sys as _sys\n\n"
            f"from {target} import *  # noqa: F401,F403\n\n"
            f"for _name in {tuple(modules)!r}:\n"
            f"    _sys.modules[f\"{{__name__}}.{{_name}}\"] = _importlib.import_module(f\"{target}.{{_name}}\")\n"
            "    globals()[_name] = _sys.modules[f\"{__name__}.{_name}\"]\n")


def generate(reference: Path = REFERENCE, dest: Path = TEMPLATE, helpers_package: str = "cs231n") -> list[Path]:
    """Write the derived part of the template into `dest`; returns the files written.

    The helpers are copied once, as `helpers_package`; the other helper name is an alias of it."""
    if helpers_package not in HELPER_PACKAGES:
        raise TemplateError(f"helpers_package must be one of {HELPER_PACKAGES}, not {helpers_package!r}")
    if not (reference / "nndl").is_dir():
        raise TemplateError(f"{reference}/nndl not found: the template is generated from the reference")
    written: list[Path] = []
    for sub in ("nndl", "cs231n", "utils"):
        shutil.rmtree(dest / sub, ignore_errors=True)
    for src in sorted((reference / "nndl").rglob("*.py")):
        target = dest / "nndl" / src.relative_to(reference / "nndl")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(strip_solutions(src.read_text(encoding="utf-8"), str(src)), encoding="utf-8")
        written.append(target)
    helpers = reference / "cs231n"
    for src in sorted(helpers.rglob("*.py")):
        target = dest / helpers_package / src.relative_to(helpers)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
        written.append(target)
    for alias in HELPER_PACKAGES:
        if alias != helpers_package:
            target = dest / alias / "__init__.py"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(alias_package_source(alias, helpers_package, helpers), encoding="utf-8")
            written.append(target)
    for src in sorted(reference.glob("*.ipynb")):
        target = dest / src.name
        target.write_text(strip_notebook(src.read_text(encoding="utf-8"), str(src)), encoding="utf-8")
        written.append(target)
    return written


def export_public(dest: Path = TEMPLATE, level: str = "auto") -> Path:
    """Record the public checks' expected outputs (data only) into the template."""
    from .checks import write_public_data
    from .public_data import FOLDER
    from .rubric import load_rubric

    return write_public_data(dest / FOLDER, load_rubric(), level=level)


def _same_public_data(a: Path, b: Path) -> bool:
    import numpy as np

    if not (a / "expected.json").is_file() or not (b / "expected.json").is_file():
        return False
    if json.loads((a / "expected.json").read_text()) != json.loads((b / "expected.json").read_text()):
        return False
    with np.load(a / "expected.npz", allow_pickle=False) as x, np.load(b / "expected.npz", allow_pickle=False) as y:
        return set(x.files) == set(y.files) and all(np.array_equal(x[k], y[k]) for k in x.files)


def _derived_files(root: Path) -> set[str]:
    files = set()
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if path.is_file() and rel.parts[0] not in TEMPLATE_OWN and "__pycache__" not in rel.parts:
            files.add(str(rel))
    return files


def stale_files(reference: Path = REFERENCE, dest: Path = TEMPLATE, *, check_public: bool = False,
                helpers_package: str = "cs231n") -> list[str]:
    """Files of `dest` that differ from a fresh generation (missing, extra or changed)."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        generate(reference, fresh, helpers_package)
        want, have = _derived_files(fresh), _derived_files(dest) if dest.exists() else set()
        problems = [f"missing: {f}" for f in sorted(want - have)]
        problems += [f"not generated from reference/: {f}" for f in sorted(have - want)]
        problems += [f"out of date: {f}" for f in sorted(want & have)
                     if not filecmp.cmp(fresh / f, dest / f, shallow=False)]
        if check_public:
            from .public_data import FOLDER

            export_public(fresh, level="none")
            if not _same_public_data(fresh / FOLDER, dest / FOLDER):
                problems.append(f"out of date: {FOLDER} (public check data; run `python grade.py template`)")
    return problems


def template_command(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="grade.py template",
                                description="Regenerate student_template/ from reference/ (solutions stripped).")
    p.add_argument("--check", action="store_true", help="fail (exit 1) if student_template/ is out of date")
    p.add_argument("--reference", type=Path, default=REFERENCE)
    p.add_argument("--dest", type=Path, default=TEMPLATE)
    p.add_argument("--no-public", action="store_true",
                   help="skip the public check data (.autograder/public), which needs a sandboxed run of the reference")
    p.add_argument("--rubric", type=Path, default=None,
                   help="rubric whose conventions.helpers_package names the helper package (default: the shipped one)")
    args = p.parse_args(argv)
    from .rubric import RubricError, load_rubric

    try:
        helpers_package = load_rubric(args.rubric).conventions.helpers_package
    except RubricError as exc:
        print(f"grade.py template: {exc}", file=sys.stderr)
        return 2
    try:
        if args.check:
            problems = stale_files(args.reference, args.dest, check_public=not args.no_public,
                                   helpers_package=helpers_package)
            if problems:
                print("student_template/ is out of date; run `python grade.py template`:", file=sys.stderr)
                for line in problems:
                    print(f"  {line}", file=sys.stderr)
                return 1
            print("student_template/ is up to date")
            return 0
        files = generate(args.reference, args.dest, helpers_package)
        if not args.no_public:
            files.append(export_public(args.dest))
    except TemplateError as exc:
        print(f"grade.py template: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(files)} files into {args.dest}")
    return 0
