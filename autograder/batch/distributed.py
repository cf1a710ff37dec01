"""Dask executor: one task per submission on a dask.distributed cluster.

Each task runs the same per-submission pipeline (sandbox included) on a worker and returns the
results.json text; the parent writes it into the output folder as it arrives, so a parent killed
mid-batch keeps every result already received. See docs/cluster.md.
"""

from __future__ import annotations

import uuid

from .events import decode_event
from .worker import dask_grade_task


class DaskUnavailable(RuntimeError):
    """dask.distributed is missing or the scheduler cannot be reached (one-line message)."""


def run_dask(tasks: list, ctx, grade_fn, address: str, on_done, connect_timeout: float = 30.0,
             on_event=None) -> None:
    """Grade ``tasks`` on the cluster at ``address``; ``on_done`` as for ``run_local``.

    ``on_event(StageEvent)`` receives stage events logged by the workers on a per-run topic
    (``Worker.log_event``); they may arrive after their submission's result, so the caller
    must not rely on them for counting (the progress display closes stages on ``on_done``).
    """
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise DaskUnavailable("--dask-scheduler needs dask.distributed: pip install 'nndl-autograder[dask]'") from None
    try:
        client = Client(address, timeout=connect_timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        raise DaskUnavailable(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    run = uuid.uuid4().hex[:8]
    topic = None
    if on_event is not None:
        topic = f"nndl-stage-events-{run}"
        client.subscribe_topic(topic, lambda item: _forward(on_event, item))
    futures: dict = {}
    try:
        for task in tasks:
            fut = client.submit(dask_grade_task, grade_fn, task.source, ctx, task.key, topic,
                                key=f"grade-{task.source.id}-{run}", pure=False)
            futures[fut] = task
        for fut in as_completed(list(futures)):
            task = futures[fut]
            try:
                text = fut.result()
            except Exception as exc:  # KilledWorker (the worker died repeatedly), lost connection...
                on_done(task, None, f"the Dask task failed: {type(exc).__name__}: {exc}")
            else:
                on_done(task, text, None)
    except BaseException:
        client.cancel(list(futures), force=True)
        raise
    finally:
        if topic is not None:
            client.unsubscribe_topic(topic)
        client.close()


def _forward(on_event, item) -> None:
    """``subscribe_topic`` hands ``(scheduler_time, message)``; only a valid event goes on."""
    try:
        _, message = item
    except (TypeError, ValueError):
        return
    event = decode_event(message)
    if event is not None:
        try:
            on_event(event)
        except Exception:  # runs on the client's event loop: never let the display break it
            pass
