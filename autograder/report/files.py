"""Writing report files: atomic (readers never see half a page) but not fsync'ed.

Reports are regenerable from results.json, so they skip the fsync that results.json pays
for (measured: fsync was a third of the time to write 300 reports). They are made readable
like ordinary files (0644 less the umask), so a TA can serve or share the output folder.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_MODE = 0o644 & ~_umask()


def write_page(path: Path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, _MODE)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path
