"""Batch progress per stage: tqdm bars with ETA on a terminal, plain lines in CI / ``--quiet``.

Each stage (checks, notebook, training) counts the submissions that finished it, so a batch
stuck in training is visible as such. Stage events come from the workers (``batch.events``)
and may be missing (a custom grade function, a dead worker, a late Dask event): when a
submission's result arrives, every stage it has not reported is closed, so the counts always
reach the total.

Plain lines, one per stage completion, then one per submission with its score and the ETA::

    [checks 3/10] ada 2.1s
    [3/10] ada: 55/100  (elapsed 0m07s, eta 0m16s)
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from .pipeline import STAGES


def _fmt_seconds(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def _fmt_duration(s: float) -> str:
    s = max(0.0, s)
    return f"{s:.1f}s" if s < 60 else _fmt_seconds(s)


class Progress:
    """Thread-safe: stage events may arrive on a pump or event-loop thread."""

    def __init__(self, total: int, *, stages: tuple[str, ...], reused: int = 0, quiet: bool = True,
                 stream: TextIO | None = None):
        self.total = total
        self.stages = tuple(s for s in STAGES if s in stages)
        self.count = 0
        self.errors = 0
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self._lock = threading.RLock()
        self._begun: dict[tuple[str, str], float] = {}  # (submission, stage) -> worker time
        self._stage_done: dict[str, set[str]] = {s: set() for s in self.stages}
        self._finished: set[str] = set()
        self.bars: dict = {}
        head = f"grading [{','.join(self.stages)}]: {total} to grade, {reused} up to date (reused)"
        print(head, file=self.stream, flush=True)
        if not quiet and total > 0:
            from tqdm import tqdm

            width = max(len(s) for s in self.stages) if self.stages else 0
            for i, stage in enumerate(self.stages):
                self.bars[stage] = tqdm(total=total, desc=stage.ljust(width), unit="sub", position=i,
                                        file=self.stream, dynamic_ncols=True, leave=True)

    # ------------------------------------------------------------------ events

    def stage_event(self, event) -> None:
        """A worker's ``StageEvent``; unknown, repeated or late ones are ignored."""
        sid, stage = event.submission_id, event.stage
        with self._lock:
            if stage not in self._stage_done or sid in self._finished or sid in self._stage_done[stage]:
                return
            if event.event == "start":
                self._begun[(sid, stage)] = event.time
                self._show_active(stage)
            elif event.event == "done":
                began = self._begun.pop((sid, stage), None)
                self._complete(sid, stage, _fmt_duration(event.time - began) if began is not None else "done")

    def done(self, submission_id: str, summary: str, *, error: bool = False) -> None:
        """One submission finished; ``summary`` is e.g. ``"55/100"``. Closes its open stages."""
        with self._lock:
            if submission_id in self._finished:
                return
            for stage in self.stages:
                if submission_id not in self._stage_done[stage]:
                    began = self._begun.pop((submission_id, stage), None)
                    self._complete(submission_id, stage, "stopped" if began is not None else "not run")
            self._finished.add(submission_id)
            self.count += 1
            self.errors += bool(error)
            note = "  GRADER ERROR" if error else ""
            if self.bars:
                if error:
                    next(iter(self.bars.values())).write(f"{submission_id}: {summary}{note}", file=self.stream)
                return
            elapsed = time.monotonic() - self.started
            eta = elapsed / self.count * (self.total - self.count)
            self._line(f"[{self.count}/{self.total}] {submission_id}: {summary}{note}  "
                       f"(elapsed {_fmt_seconds(elapsed)}, eta {_fmt_seconds(eta)})")

    def stage_counts(self) -> dict[str, int]:
        with self._lock:
            return {stage: len(done) for stage, done in self._stage_done.items()}

    def close(self, line: str = "") -> None:
        with self._lock:
            for bar in self.bars.values():
                bar.close()
            self.bars = {}
            if line:
                self._line(line)

    # ------------------------------------------------------------------ display

    def _complete(self, sid: str, stage: str, how: str) -> None:
        self._stage_done[stage].add(sid)
        bar = self.bars.get(stage)
        if bar is None:
            self._line(f"[{stage} {len(self._stage_done[stage])}/{self.total}] {sid} {how}")
            return
        bar.update(1)
        self._show_active(stage)

    def _show_active(self, stage: str) -> None:
        bar = self.bars.get(stage)
        if bar is not None:
            active = sum(1 for (sid, st) in self._begun if st == stage)
            bar.set_postfix_str(f"running={active}")

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)
