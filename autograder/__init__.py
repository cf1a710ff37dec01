"""nndl-autograder: grades the dropout / batchnorm / fully-connected-net homework safely."""

from pathlib import Path

__version__ = "0.1.0"

#: Repository root (holds reference/, rubrics/, student_template/ when run from a checkout).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
