"""Trusted code that runs INSIDE the sandboxed child, importable there as ``grader_inside``.

Nothing here imports from the rest of ``autograder``: the child sees only this folder (bound
read-only), the trusted helpers and the student's staged copy.
"""

from __future__ import annotations

import json
import os

FILES_ENV = "NNDL_GRADER_FILES"


def data_path(name: str) -> str:
    """Path (inside the sandbox) of the dataset file the parent handed over as ``name``."""
    files = json.loads(os.environ.get(FILES_ENV) or "{}")
    if name not in files:
        raise KeyError(f"no data file {name!r} was handed to this sandbox (have: {sorted(files)})")
    return files[name]
