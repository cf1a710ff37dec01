"""examples/build_examples.py still applies to the current reference, and the examples it made are current."""

import sys

from autograder import PROJECT_ROOT
from autograder.template import REFERENCE

sys.path.insert(0, str(PROJECT_ROOT / "examples"))
import build_examples  # noqa: E402


def test_every_bug_edit_still_applies_to_the_reference():
    for filename, edits in build_examples.BEN_EDITS.items():
        text = build_examples.student_source((REFERENCE / "nndl" / filename).read_text())
        for old, new in edits:
            assert old in text, f"{filename}: {old!r} no longer in the reference; update build_examples.py"
            assert old != new


def test_committed_examples_match_the_builder():
    ada = PROJECT_ROOT / "examples" / "submissions" / "ada" / "nndl"
    for src in (REFERENCE / "nndl").glob("*.py"):
        assert (ada / src.name).read_text() == build_examples.student_source(src.read_text()), (
            f"examples/submissions/ada/nndl/{src.name} is stale: run python examples/build_examples.py")
    ben = PROJECT_ROOT / "examples" / "submissions" / "ben" / "hw4" / "HW4-code" / "nndl" / "layers.py"
    assert ">= p" in ben.read_text()  # the drop-probability bug is really in ben's copy
