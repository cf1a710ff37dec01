"""Local executor: a spawn-context process pool, one submission per task.

A worker that dies (os._exit, the OOM killer, a segfault) breaks a ``ProcessPoolExecutor`` and
fails every task in flight, without saying whose fault it was. So at most ``jobs`` tasks are in
flight; after a break they become suspects and are rerun one at a time in a fresh one-worker
pool: an innocent one is graded normally, the culprit gets an all-zero ``grader_error`` result.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Callable

from .procs import kill_trees
from .worker import grade_task, init_local_worker

#: on_done(task, results_json_text | None, error_message | None)
DoneFn = Callable[[object, "str | None", "str | None"], None]

WORKER_DIED = ("the grading worker process died while grading this submission "
               "(killed by the system, out of memory, or an os._exit); graded zero, please review")


def run_local(tasks: list, ctx, grade_fn, jobs: int, on_done: DoneFn, events=None) -> None:
    """Grade ``tasks`` (objects with ``.source`` and ``.key``) on ``jobs`` worker processes.

    ``events``: a Manager queue proxy the workers put stage events on (see ``events.py``).
    """
    single_thread = jobs > 1
    queue = deque(tasks)
    while queue:
        suspects, queue = _run_pool(queue, ctx, grade_fn, jobs, single_thread, on_done, events)
        for task in suspects:  # one at a time, so a break names its culprit
            again, _ = _run_pool(deque([task]), ctx, grade_fn, 1, single_thread, on_done, events)
            if again:
                on_done(task, None, WORKER_DIED)


def _run_pool(pending: deque, ctx, grade_fn, jobs: int, single_thread: bool,
              on_done: DoneFn, events=None) -> tuple[list, deque]:
    """Run until ``pending`` is empty or the pool breaks.

    Returns (suspects: the tasks in flight when a worker died, tasks not yet started).
    """
    suspects: list = []
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                               initializer=init_local_worker, initargs=(single_thread, os.getpid()))
    running: dict = {}
    broken = False
    try:
        while (pending or running) and not broken:
            while pending and len(running) < jobs:
                try:
                    fut = pool.submit(grade_task, grade_fn, pending[0].source, ctx, pending[0].key, single_thread,
                                      events)
                except BrokenProcessPool:  # a worker died before its future said so
                    broken = True
                    break
                running[fut] = pending.popleft()
            if broken:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                task = running.pop(fut)
                exc = fut.exception()
                if isinstance(exc, BrokenProcessPool):
                    suspects.append(task)
                    broken = True
                elif exc is not None:
                    on_done(task, None, f"the grading task failed: {type(exc).__name__}: {exc}")
                else:
                    on_done(task, fut.result(), None)
        if broken:  # the pool is broken: whatever was still running died with it
            for fut, task in running.items():
                if fut.done() and fut.exception() is None:
                    on_done(task, fut.result(), None)
                else:
                    suspects.append(task)
    except BaseException:  # Ctrl-C, SIGTERM: stop the workers and all they started, now
        kill_trees(list(getattr(pool, "_processes", None) or {}))
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True, cancel_futures=True)
    return suspects, pending
