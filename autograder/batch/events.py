"""Stage events from grading workers to the parent's progress display.

A worker reports ``(submission_id, stage, "start"|"done", wall_time)`` as one JSON text; the
parent decodes and validates it, so nothing a worker sends is ever unpickled and a garbled event
is simply dropped. Progress is best effort: a lost event never costs a grade, and the parent
closes every stage of a submission when its result arrives.

Transports:
- local pool: a ``multiprocessing`` Manager queue using the xmlrpclib serializer (no pickle on
  the wire). The Manager process ignores Ctrl-C (multiprocessing does that), dies with the
  parent even on SIGKILL (PDEATHSIG), and is shut down when the batch ends.
- Dask: ``Worker.log_event`` on a per-run topic, received through ``Client.subscribe_topic``.
"""

from __future__ import annotations

import ctypes
import json
import math
import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.managers import SyncManager
from typing import Callable, NamedTuple

from ..pipeline import STAGES as STAGE_NAMES

EVENTS = ("start", "done")
_PR_SET_PDEATHSIG = 1
MAX_EVENT_CHARS = 2000


class StageEvent(NamedTuple):
    submission_id: str
    stage: str
    event: str
    time: float  # the worker's wall clock (only differences of one worker's stamps are used)


def encode_event(submission_id: str, stage: str, event: str, when: float | None = None) -> str:
    return json.dumps([submission_id, stage, event, time.time() if when is None else when])


def decode_event(text) -> StageEvent | None:
    """The event in ``text``, or None for anything that is not exactly a well-formed one."""
    if not isinstance(text, str) or len(text) > MAX_EVENT_CHARS:
        return None
    try:
        sid, stage, event, when = json.loads(text)
    except (ValueError, TypeError):
        return None
    if (not isinstance(sid, str) or stage not in STAGE_NAMES or event not in EVENTS
            or not isinstance(when, (int, float)) or isinstance(when, bool) or not math.isfinite(when)):
        return None
    return StageEvent(sid, stage, event, float(when))


# ----------------------------------------------------------------------------- worker side


def queue_reporter(queue) -> Callable[[str, str, str], None]:
    """An ``on_stage`` callback for ``grade_one`` that puts events on a Manager queue."""

    def on_stage(submission_id: str, stage: str, event: str) -> None:
        try:
            queue.put(encode_event(submission_id, stage, event))
        except Exception:  # the parent is gone or stopping: grading goes on regardless
            pass

    return on_stage


def dask_reporter(topic: str) -> Callable[[str, str, str], None] | None:
    """An ``on_stage`` callback that logs events on the running Dask worker (None elsewhere)."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return None

    def on_stage(submission_id: str, stage: str, event: str) -> None:
        try:
            worker.log_event(topic, encode_event(submission_id, stage, event))
        except Exception:
            pass

    return on_stage


# ----------------------------------------------------------------------------- parent side


def _deliver(sink: Callable[[StageEvent], None], event: StageEvent) -> None:
    try:
        sink(event)
    except Exception:  # a display problem must not stop the pump (or the batch)
        pass


def _die_with_parent(parent_pid: int) -> None:
    """Manager initializer: a ``kill -9`` of the batch must not leave the Manager running."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent_pid:
        os._exit(1)


class LocalEventChannel:
    """The parent's end of the local transport: owns the Manager, forwards events to ``sink``.

    A pump thread forwards events while workers run; ``flush()`` forwards, synchronously, all
    events already queued. Workers' ``put`` returns only once the Manager holds the event, so
    flushing when a submission's result arrives delivers all of its events before the result.
    """

    def __init__(self, sink: Callable[[StageEvent], None], *, interval: float = 0.1):
        self._sink = sink
        self._interval = interval
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._manager = SyncManager(ctx=multiprocessing.get_context("spawn"), serializer="xmlrpclib")
        self._manager.start(_die_with_parent, (os.getpid(),))
        try:
            self.queue = self._manager.Queue()
        except BaseException:
            self._manager.shutdown()
            raise
        self._thread = threading.Thread(target=self._pump, name="stage-events", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush()

    def flush(self) -> None:
        with self._lock:
            try:
                # one consumer, so a non-zero size means get() will not block; get_nowait's
                # Empty cannot cross the xmlrpclib serializer
                while self.queue.qsize() > 0:
                    event = decode_event(self.queue.get())
                    if event is not None:
                        _deliver(self._sink, event)
            except (OSError, EOFError):  # the Manager is gone: no more events
                pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        try:
            self.flush()
        finally:
            self._manager.shutdown()

    def __enter__(self) -> "LocalEventChannel":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
