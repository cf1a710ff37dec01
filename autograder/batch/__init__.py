"""Grade a whole class: parallel, incremental, resumable, local or on a Dask cluster.

``run_batch`` decides per submission whether its stored result is still valid (cache key in
``extra_data.cache_key``), grades the rest on a process pool or a Dask cluster, writes every
result as it arrives, and finally rebuilds the dashboard and CSV from ALL results in the output
folder. Results are written atomically per submission, so an interrupted batch is resumed by
simply running it again.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from ..atomic import temp_glob
from ..results import SubmissionResult
from .cache import key_for_source, reusable, run_key_parts
from .worker import accepts_on_stage, error_result

LOCK_NAME = ".batch.lock"


@dataclass
class BatchOutcome:
    #: One result per discovered submission that has one (graded, reused, or kept with ``only``).
    results: list[SubmissionResult] = field(default_factory=list)
    #: Batch-level grader problems (a dead worker, an unreachable cluster, a failed report).
    errors: list[str] = field(default_factory=list)
    graded: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    interrupted: bool = False


@dataclass(frozen=True)
class Task:
    source: object
    key: str


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return os.cpu_count() or 1


def run_batch(submissions: Path, ctx, *, jobs: int | None = None, force: bool = False,
              only: Iterable[str] | None = None, dask_scheduler: str | None = None, quiet: bool = False,
              grade_fn: Callable | None = None) -> BatchOutcome:
    """Grade every submission under ``submissions`` that needs it; see the module docstring.

    ``jobs`` (default: the usable cores) is the local pool size; with ``dask_scheduler`` the
    cluster decides. ``only`` regrades exactly those ids (cache ignored) and keeps the others'
    stored results; ``force`` regrades everything.
    """
    if grade_fn is None:
        from ..pipeline import grade_one as grade_fn
    out_dir = Path(ctx.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    outcome = BatchOutcome()
    with _exclusive(out_dir) as held:
        if not held:
            outcome.errors.append(f"another grading run is using {out_dir}; wait for it or use another --out")
            return outcome
        _remove_stale_temp_files(out_dir)
        try:
            with _sigterm_as_interrupt():
                _grade(Path(submissions), ctx, jobs, force, only, dask_scheduler, quiet, grade_fn, outcome)
        except KeyboardInterrupt:
            outcome.interrupted = True
            outcome.errors.append(f"interrupted: {len(outcome.graded)} graded in this run; "
                                  "finished results are kept, run the same command again to finish")
        _rebuild_reports(out_dir, ctx, outcome)
    return outcome


def _grade(submissions: Path, ctx, jobs, force, only, dask_scheduler, quiet, grade_fn, outcome: BatchOutcome) -> None:
    from ..pipeline import result_path
    from ..submission import discover

    try:
        # An output folder placed inside the submissions folder is not a student's submission.
        own = {os.path.realpath(p) for p in (ctx.out_dir, ctx.work_dir)}
        sources = [s for s in discover(submissions) if os.path.realpath(s.path) not in own]
    except Exception as exc:
        outcome.errors.append(f"cannot list submissions in {submissions}: {type(exc).__name__}: {exc}")
        return
    selected = None if only is None else set(only)
    if selected is not None:
        unknown = sorted(selected - {s.id for s in sources})
        if unknown:
            outcome.errors.append(f"--only: no submission with id {', '.join(unknown)}")

    by_id: dict[str, SubmissionResult] = {}
    todo: list[Task] = []
    run_parts = run_key_parts(ctx)  # the same for every submission: hashed once, not per source
    for source in sources:
        stored = _read(result_path(ctx.out_dir, source.id))
        if selected is not None and source.id not in selected:
            if stored is not None:  # not asked for: keep whatever is there
                by_id[source.id] = stored
            continue
        key = key_for_source(source, ctx, run_parts)
        if not force and selected is None and reusable(stored, key):
            by_id[source.id] = stored
            outcome.reused.append(source.id)
        else:
            todo.append(Task(source, key))

    from ..progress import Progress

    progress = Progress(len(todo), stages=tuple(ctx.stages), reused=len(outcome.reused), quiet=quiet)
    lock = threading.Lock()
    channel = None

    def on_done(task: Task, text: str | None, error: str | None) -> None:
        if channel is not None:  # this submission's stage events first, then its result
            channel.flush()
        result = _accept(task, text, error, ctx, outcome)
        with lock:
            by_id[task.source.id] = result
            outcome.graded.append(task.source.id)
        progress.done(task.source.id, f"{result.score:g}/{result.max_score:g}",
                      error="grader_error" in result.flags)

    try:
        if not todo:
            pass
        elif dask_scheduler:
            from .distributed import DaskUnavailable, run_dask

            try:
                run_dask(todo, ctx, grade_fn, dask_scheduler, on_done,
                         on_event=progress.stage_event if accepts_on_stage(grade_fn) else None)
            except DaskUnavailable as exc:
                outcome.errors.append(str(exc))
        else:
            from .local import run_local

            n = max(1, min(jobs or default_jobs(), len(todo)))
            channel = _open_channel(progress) if accepts_on_stage(grade_fn) else None
            try:
                run_local(todo, ctx, grade_fn, n, on_done, events=channel.queue if channel else None)
            finally:
                if channel is not None:
                    channel.close()
    finally:
        outcome.results = [by_id[s.id] for s in sources if s.id in by_id]
        word = "stopped" if sys.exc_info()[0] is not None else "done"
        progress.close(f"{word}: {len(outcome.graded)} graded, {len(outcome.reused)} reused"
                       + (f", {progress.errors} grader error(s)" if progress.errors else ""))


def _open_channel(progress):
    """The stage-event channel, or None when it cannot start (progress then counts per submission)."""
    from .events import LocalEventChannel

    try:
        return LocalEventChannel(progress.stage_event)
    except Exception as exc:  # no /dev/shm, no sockets, a spawn failure: grading goes on
        print(f"grade.py: per-stage progress unavailable ({type(exc).__name__}: {exc})", file=sys.stderr)
        return None


def _accept(task: Task, text: str | None, error: str | None, ctx, outcome: BatchOutcome) -> SubmissionResult:
    """Turn a worker's answer into a written result; a lost or garbled answer becomes an
    all-zero grader_error result, so no submission is ever left without a results.json."""
    from ..pipeline import result_path

    sid = task.source.id
    result = None
    if error is None:
        try:
            result = SubmissionResult.from_gradescope(json.loads(text))
            if result.submission_id != sid:
                error = f"the worker answered for {result.submission_id!r}, not {sid!r}"
                result = None
        except (TypeError, ValueError, AttributeError) as exc:
            error = f"unreadable answer from the worker: {type(exc).__name__}: {exc}"
    if result is None:
        outcome.errors.append(f"{sid}: {error}")
        result = error_result(sid, ctx, task.key, error)
    try:
        result.write(result_path(ctx.out_dir, sid))
    except OSError as exc:
        outcome.errors.append(f"{sid}: cannot write its results.json: {exc}")
    return result


def _read(path: Path) -> SubmissionResult | None:
    try:
        return SubmissionResult.read(path)
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def load_all_results(out_dir: Path) -> list[SubmissionResult]:
    """Every readable ``OUT/<id>/results.json`` (the dashboard shows the whole class)."""
    results = []
    for d in sorted(Path(out_dir).iterdir()):
        if d.is_dir() and not d.name.startswith("."):
            r = _read(d / "results.json")
            if r is not None:
                results.append(r)
    return results


def _rebuild_reports(out_dir: Path, ctx, outcome: BatchOutcome) -> None:
    try:
        from ..report import write_reports
    except ImportError as exc:
        print(f"grade.py: reports not written ({exc})", file=sys.stderr)
        return
    try:
        write_reports(out_dir, load_all_results(out_dir), rubric=ctx.rubric, profile=ctx.profile)
    except Exception as exc:
        outcome.errors.append(f"reports: {type(exc).__name__}: {exc}")


def _remove_stale_temp_files(out_dir: Path) -> None:
    """Half-written temporaries left by a killed run (results.json itself is never partial)."""
    for tmp in Path(out_dir).glob(f"*/{temp_glob('results.json')}"):
        try:
            tmp.unlink()
        except OSError:
            pass


@contextmanager
def _exclusive(out_dir: Path):
    """One batch per output folder at a time (two would regrade into each other's work dirs).
    The kernel drops the lock when its holder dies, even by SIGKILL."""
    fd = os.open(out_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


@contextmanager
def _sigterm_as_interrupt():
    """SIGTERM (a cancelled SLURM job, `kill`) stops the batch like Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
