"""Batch progress: a tqdm bar with ETA on a terminal, one plain line per submission otherwise.

The bar counts finished submissions (each one runs all its stages); the stages being run are
named in the bar's label. Plain lines (CI logs, ``--quiet``) carry their own ETA.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _fmt_seconds(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class Progress:
    def __init__(self, total: int, *, stages: tuple[str, ...], reused: int = 0, quiet: bool = True,
                 stream: TextIO | None = None):
        self.total = total
        self.count = 0
        self.errors = 0
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self.bar = None
        label = f"grading [{','.join(stages)}]"
        head = f"{label}: {total} to grade, {reused} up to date (reused)"
        if quiet or total == 0:
            print(head, file=self.stream, flush=True)
        else:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=label, unit="sub", file=self.stream, dynamic_ncols=True,
                            postfix=f"reused={reused}")

    def done(self, submission_id: str, summary: str, *, error: bool = False) -> None:
        """One submission finished; ``summary`` is e.g. ``"55/100"``."""
        self.count += 1
        self.errors += bool(error)
        note = "  GRADER ERROR" if error else ""
        if self.bar is not None:
            if error:
                self.bar.write(f"{submission_id}: {summary}{note}", file=self.stream)
            self.bar.set_postfix_str(f"last={submission_id}" + (f" errors={self.errors}" if self.errors else ""))
            self.bar.update(1)
            return
        elapsed = time.monotonic() - self.started
        eta = elapsed / self.count * (self.total - self.count)
        print(f"[{self.count}/{self.total}] {submission_id}: {summary}{note}  "
              f"(elapsed {_fmt_seconds(elapsed)}, eta {_fmt_seconds(eta)})", file=self.stream, flush=True)

    def close(self, line: str = "") -> None:
        if self.bar is not None:
            self.bar.close()
        if line:
            print(line, file=self.stream, flush=True)
