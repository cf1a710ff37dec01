"""What runs inside a grading worker (a local pool process or a Dask worker).

Workers are trusted grader processes: student code runs only in the sandboxed children that
``grade_one`` starts. A worker hands its verdict back as the results.json text (plain JSON), so
the parent never unpickles anything a worker produced.
"""

from __future__ import annotations

import ctypes
import dataclasses
import inspect
import json
import os
import shutil
import signal
import tempfile
import traceback
from pathlib import Path

from .. import __version__
from ..results import SubmissionResult, jsonable
from .events import dask_reporter, queue_reporter

#: Thread-count variables of the BLAS / OpenMP runtimes numpy may use.
BLAS_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
            "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "BLIS_NUM_THREADS")
_PR_SET_PDEATHSIG = 1


def init_local_worker(single_thread_blas: bool, parent_pid: int) -> None:
    """Pool initializer; runs before any task is unpickled, hence before numpy is imported.

    One BLAS thread per worker (N workers on N cores must not each start N threads); the
    variables are inherited by the sandboxed children. Own session, so a terminal Ctrl-C
    reaches only the parent, which then stops workers in order; and death with the parent, so
    a ``kill -9`` of the batch leaves no worker still writing into the output folder.
    """
    if single_thread_blas:
        for name in BLAS_ENV:
            os.environ[name] = "1"
    try:
        os.setsid()
    except OSError:
        pass
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def limit_blas_threads() -> None:
    """Belt and braces for libraries already loaded (threadpoolctl acts on loaded ones only)."""
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1)
    except Exception:  # no threadpoolctl or an odd BLAS: the env variables still apply
        pass


def grade_task(grade_fn, source, ctx, cache_key: str, single_thread_blas: bool = False, events=None) -> str:
    """Grade one submission in this worker; return its results.json text.

    A grade_fn that raises (a grader bug) still yields a written, all-zero result. ``events``
    (a Manager queue proxy) receives the stage events when grade_fn accepts ``on_stage``.
    """
    if single_thread_blas:
        limit_blas_threads()
    return _grade(grade_fn, source, ctx, cache_key, queue_reporter(events) if events is not None else None)


def _grade(grade_fn, source, ctx, cache_key: str, on_stage) -> str:
    kwargs = {"cache_key": cache_key}
    if on_stage is not None and accepts_on_stage(grade_fn):
        kwargs["on_stage"] = on_stage
    try:
        result = grade_fn(source, ctx, **kwargs)
        if not isinstance(result, SubmissionResult):
            raise TypeError(f"grade function returned {type(result).__name__}, not SubmissionResult")
    except Exception as exc:
        tb = traceback.format_exc()
        result = error_result(source.id, ctx, cache_key,
                              f"the grader failed on this submission: {type(exc).__name__}: {exc}", tb)
        from ..pipeline import result_path

        result.write(result_path(ctx.out_dir, source.id))
    return json.dumps(jsonable(result.to_gradescope()))


def accepts_on_stage(fn) -> bool:
    """Whether ``fn`` takes an ``on_stage`` keyword (custom grade functions need not)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "on_stage" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def dask_grade_task(grade_fn, source, ctx, cache_key: str, topic: str | None = None) -> str:
    """Grade on a Dask worker into a private temporary folder and return the JSON text.

    The worker may not share the parent's filesystem for the output folder, so it writes nothing
    there: the parent writes the returned result. Dask workers started by a nanny already run
    with one BLAS thread (distributed's ``pre-spawn-environ``).
    """
    tmp = Path(tempfile.mkdtemp(prefix="nndl-grade-"))
    try:
        local = dataclasses.replace(ctx, out_dir=tmp / "out", work_dir=tmp / "work")
        return _grade(grade_fn, source, local, cache_key, dask_reporter(topic) if topic else None)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def error_result(submission_id: str, ctx, cache_key: str, message: str, tb: str | None = None) -> SubmissionResult:
    """All-zero result for a submission the grader could not grade (status error, flagged)."""
    checks = [s.result("error", message="Not graded: the grader failed (staff have been flagged).")
              for s in ctx.rubric.checks.values()]
    result = SubmissionResult(submission_id=submission_id, checks=checks, profile=ctx.profile,
                              grader_version=__version__, rubric_name=ctx.rubric.name,
                              dataset=ctx.dataset_label, cache_key=cache_key,
                              errors=[message] + ([tb.strip()[-3000:]] if tb else []))
    result.add_flag("grader_error")
    return result
