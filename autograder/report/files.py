"""Writing report files: atomic (readers never see half a page) but not fsync'ed.

Reports are regenerable from results.json, so they skip the fsync that results.json pays
for (measured: fsync was a third of the time to write 300 reports). They are made readable
like ordinary files (0644 less the umask), so a TA can serve or share the output folder.
"""

from __future__ import annotations

from pathlib import Path

from ..results import write_text_atomic


def write_page(path: Path, text: str) -> Path:
    return write_text_atomic(path, text, durable=False)
