#!/usr/bin/env python3
"""Thin entry point so `python grade.py ...` works from a checkout without installing."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from autograder.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
