"""Atomic file replacement: a reader sees the old file or the new one, never half of one.

Every file other processes may read while it is written (results.json, report pages, dataset
splits, the synthetic CIFAR-10 batches) goes through `replacing`, so the temp-file naming, the
permissions, the fsync and the clean-up after a failure are decided in one place.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: What ``open()`` gives a new file (0644 less the umask); mkstemp alone would leave 0600.
SHARED_MODE = 0o644 & ~_umask()
#: Cached dataset files: nobody, the grader included, should modify them in place.
READ_ONLY_MODE = 0o444


def temp_glob(name: str) -> str:
    """Glob matching the temporaries `replacing` leaves for a file ``name`` when killed mid-write."""
    return f".{name}.*.tmp"


@contextmanager
def replacing(path: Path | str, *, mode: int = SHARED_MODE, durable: bool = True) -> Iterator[Path]:
    """Yield a temp path beside ``path``; when the block ends cleanly it replaces ``path``.

    The caller writes the temp file however it likes (by path or handle). ``durable`` fsyncs it
    before the rename, for files a crash must not lose; on any exception the temp file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if durable:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
