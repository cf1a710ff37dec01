"""Cache keys: decide, without staging anything, whether a stored result is still valid.

The key hashes the raw submission bytes (a folder's files, or a .zip's bytes) rather than the
staged copy's ``content_hash``: staging copies or unzips the whole submission, which is the very
work a rerun wants to skip, while hashing the raw bytes is one cheap read. It is conservative:
any byte change (even a re-zipped archive with new timestamps) regrades.

Also in the key: the rubric's fingerprint, the grader version, the dataset identity, the profile,
the stages, the requested sandbox level and, for the student profile, the public data.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable

from .. import __version__
from ..submission import IGNORED_DIRS

#: Folders staging never copies cannot change a grade (a student's CIFAR copy, .git, venvs).
SKIP_DIRS = frozenset(IGNORED_DIRS)


def tree_digest(path: Path | str, exclude: Iterable[Path | str] = ()) -> str:
    """sha256 over a file's bytes or a folder's relative paths and file bytes; links not followed.

    Raises OSError when something cannot be read: the caller then simply regrades.
    """
    root = Path(path)
    skip = {os.path.realpath(p) for p in exclude}
    h = hashlib.sha256()
    if root.is_symlink() or not root.is_dir():
        _add_entry(h, ".", root)
        return h.hexdigest()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames
                             if d not in SKIP_DIRS and os.path.realpath(os.path.join(dirpath, d)) not in skip)
        for name in sorted(filenames):
            full = Path(dirpath, name)
            _add_entry(h, full.relative_to(root).as_posix(), full)
        # symlinked folders appear in dirnames but are not walked: hash them as links
        for d in dirnames:
            full = Path(dirpath, d)
            if full.is_symlink():
                _add_entry(h, full.relative_to(root).as_posix(), full)
    return h.hexdigest()


def _add_entry(h, rel: str, full: Path) -> None:
    h.update(rel.encode("utf-8", "surrogateescape") + b"\0")
    if full.is_symlink():
        h.update(b"L" + os.readlink(full).encode("utf-8", "surrogateescape") + b"\0")
    elif full.is_file():
        with open(full, "rb") as fh:
            h.update(b"F" + hashlib.file_digest(fh, "sha256").digest())
    else:  # fifo, socket, device: never read (it could block), only named
        h.update(b"S\0")


def run_key_parts(ctx) -> dict[str, Any] | None:
    """The key's parts shared by every submission of a run; None when the public data cannot be
    read (then nothing is reused). A batch computes them once, not once per submission."""
    public = ""
    if ctx.public_data:
        try:
            public = tree_digest(ctx.public_data)
        except OSError:
            return None
    return {
        "rubric": ctx.rubric.fingerprint(),
        "grader": __version__,
        "dataset": ctx.dataset_label,
        "profile": ctx.profile,
        "stages": sorted(ctx.stages),
        "sandbox": ctx.sandbox_level,
        "public_data": public,
    }


def cache_key(content_digest: str, run_parts: dict[str, Any] | None) -> str:
    """The key under which a result stays valid; "" means "never reuse" (something unreadable)."""
    if not content_digest or run_parts is None:
        return ""
    parts = {**run_parts, "content": content_digest}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def key_for_source(source, ctx, run_parts: dict[str, Any] | None) -> str:
    """Cache key of one discovered submission; the output and work folders are never hashed
    (a student repo graded in place holds its own ``autograder-out/``)."""
    if run_parts is None:
        return ""
    try:
        digest = tree_digest(source.path, exclude=(ctx.out_dir, ctx.work_dir))
    except OSError:
        return ""
    return cache_key(digest, run_parts)


def reusable(stored, key: str) -> bool:
    """A stored result is reused only for the same non-empty key and when the grader did not fail."""
    return bool(key) and stored is not None and stored.cache_key == key and "grader_error" not in stored.flags
