"""Run a notebook cell by cell in a sandboxed IPython kernel, recording each cell's fate.

nbclient drives the kernel (async); the kernel process is started through the sandbox's
``build_command`` (``launch.py``) with ZMQ over ``ipc`` sockets in a folder bound read-write
into the sandbox, because its network namespace cannot reach the parent's loopback. Messages
are JSON (Jupyter protocol); nothing is unpickled.

A cell may raise (recorded, go on), run past its timeout (interrupt, go on; if the kernel does
not answer afterwards, restart it), or kill the kernel (status "died", never retried; restart, go
on). A fresh kernel has lost the state later cells need (imports, data, the model), so after every
restart the cells that had succeeded are replayed, in order, before the notebook goes on; replays
draw on the same time budget. The whole notebook has a time budget; cells left when it runs out
are recorded as skipped.
"""

from __future__ import annotations

import asyncio
import copy
import re
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellControlSignal, CellTimeoutError, DeadKernelError

from .launch import KernelLaunch

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
TRACEBACK_LINES = 30
TRACEBACK_CHARS = 3000
STARTUP_TIMEOUT = 60.0
PROBE_TIMEOUT = 5.0
TIMEOUT_ENAME = "CellTimeout"


@dataclass
class CellRun:
    index: int
    first_line: str
    status: str  # ok | error | timeout | died | skipped
    error: str | None = None
    traceback: str | None = None
    seconds: float = 0.0
    #: Re-run in a fresh kernel after a restart, to rebuild the state later cells need.
    replayed: bool = False
    #: Set when a replay of this (once successful) cell failed; it is then not replayed again.
    replay_error: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class ExecutionReport:
    cells: list[CellRun]
    kernel_starts: int
    #: Set when no kernel could be started at all (grader/environment problem or a hostile start).
    startup_error: str | None = None
    seconds: float = 0.0
    #: One entry per kernel restart: ``{after_cell, replayed, failed, complete, seconds}``.
    replays: list[dict] = field(default_factory=list)


def first_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip():
            return line.strip()[:120]
    return ""


def trim_traceback(lines) -> str:
    text = _ANSI.sub("", "\n".join(str(x) for x in (lines or [])))
    kept = text.splitlines()[-TRACEBACK_LINES:]
    return "\n".join(kept)[-TRACEBACK_CHARS:]


def code_cells(nb) -> list[int]:
    return [i for i, c in enumerate(nb.cells) if c.get("cell_type") == "code" and c.get("source", "").strip()]


class _Client(NotebookClient):
    """nbclient with a per-cell cap on kept output (a print loop must not fill the parent's memory)."""

    max_output_bytes = 1_000_000

    def output(self, outs, msg, display_id, cell_index):
        used = self._output_used.get(cell_index, 0)
        size = len(str(msg.get("content", "")))
        if used > self.max_output_bytes:
            return None
        self._output_used[cell_index] = used + size
        if used + size > self.max_output_bytes:
            return super().output(outs, {
                "msg_type": "stream", "header": {"msg_type": "stream"}, "parent_header": msg.get("parent_header", {}),
                "content": {"name": "stderr", "text": "\n[grader] output truncated: this cell printed too much\n"},
            }, None, cell_index)
        return super().output(outs, msg, display_id, cell_index)


def _make_kernel_manager(launch: KernelLaunch, conn_dir: Path) -> AsyncKernelManager:
    km = AsyncKernelManager(transport="ipc", ip=str(conn_dir / "k"),
                            connection_file=str(conn_dir / "kernel.json"))
    km._kernel_spec = KernelSpec(argv=list(launch.argv), language="python", display_name="grader",
                                 interrupt_mode="message", env={})
    return km


async def execute_notebook(nb, launch: KernelLaunch, *, workdir: Path, conn_dir: Path,
                           cell_timeout: float, budget: float, output_bytes: int = 1_000_000,
                           log_path: Path | None = None) -> ExecutionReport:
    """Run every code cell of ``nb`` (outputs are written into ``nb``); never raises for the
    student's doing."""
    started = time.monotonic()
    deadline = started + budget
    cells: list[CellRun] = []
    km = _make_kernel_manager(launch, conn_dir)
    replies: dict[int, dict] = {}

    async def remember_reply(cell, cell_index, execute_reply):
        replies[cell_index] = execute_reply or {}

    client = _Client(nb, km=km, timeout=int(cell_timeout), allow_errors=True, interrupt_on_timeout=True,
                     error_on_timeout={"ename": TIMEOUT_ENAME, "evalue": "cell timed out", "traceback": []},
                     startup_timeout=int(STARTUP_TIMEOUT), shutdown_kernel="immediate", iopub_timeout=2,
                     resources={"metadata": {"path": str(workdir)}}, on_cell_executed=remember_reply,
                     record_timing=False, store_widget_state=False)
    client.max_output_bytes = output_bytes
    client._output_used = {}
    starts = 0
    # The kernel's own stdout/stderr (not the cells' output, which travels as messages).
    log = open(log_path, "ab") if log_path is not None else subprocess.DEVNULL

    async def start() -> None:
        nonlocal starts
        starts += 1
        if client.kc is not None:
            client.kc.stop_channels()
            client.kc = None
        if km.has_kernel:
            await km.restart_kernel(now=True)
        else:
            await client.async_start_new_kernel(env=dict(launch.env), preexec_fn=launch.preexec_fn,
                                                cwd=str(workdir), stdout=log, stderr=log)
        await asyncio.wait_for(client.async_start_new_kernel_client(), STARTUP_TIMEOUT)

    async def announce(index: int, replay: bool = False) -> bool:
        """Tell the kernel which cell runs next; False if it does not answer (hung)."""
        code = f"__import__('grader_inside.kernel_startup').kernel_startup.set_cell({index}, {replay})"
        try:
            reply = await asyncio.wait_for(
                client.kc.execute_interactive(code, silent=True, store_history=False, timeout=PROBE_TIMEOUT,
                                              output_hook=lambda msg: None, allow_stdin=False),
                PROBE_TIMEOUT + 1)
            return reply.get("content", {}).get("status") == "ok"
        except Exception:  # noqa: BLE001 - any failure means: kernel not usable as is
            return False

    async def execute(cell, index: int) -> tuple[str, str | None, str | None]:
        """(status, error, traceback) of one cell run in the current kernel."""
        replies.pop(index, None)
        try:
            await client.async_execute_cell(cell, index)
        except DeadKernelError:
            return "died", "the kernel died while running this cell (not retried)", None
        except (CellTimeoutError, CellControlSignal) as exc:
            return "timeout", str(exc).splitlines()[0][:300] if str(exc) else "timeout", None
        content = replies.get(index, {}).get("content", {})
        if content.get("status") == "error":
            if content.get("ename") == TIMEOUT_ENAME:
                return "timeout", f"cell did not finish within {client.timeout} s (interrupted)", None
            return ("error", f"{content.get('ename', 'Error')}: {str(content.get('evalue', ''))[:300]}",
                    trim_traceback(content.get("traceback")))
        if content.get("status") == "aborted":
            return "error", "execution aborted by the kernel", None
        return "ok", None, None

    succeeded: list[CellRun] = []  # the state a fresh kernel must rebuild, in order
    replays: list[dict] = []

    async def replay_all() -> bool:
        """Replay the succeeded cells in the fresh kernel; False when a replay killed or hung it
        (that cell is dropped from the list, so restarting and replaying again terminates)."""
        entry = replays[-1]
        for run in list(succeeded):
            remaining = deadline - time.monotonic()
            if remaining < 1 or not await announce(run.index, replay=True):
                entry["complete"] = False  # out of time, or a fresh kernel that does not answer
                return True
            client.timeout = max(1, int(min(cell_timeout, remaining)))
            scratch = copy.deepcopy(nb.cells[run.index])  # the notebook keeps the first run's output
            used = client._output_used.get(run.index, 0)
            status, error, _ = await execute(scratch, run.index)
            client._output_used[run.index] = used
            run.replayed = True
            if status == "ok":
                entry["replayed"].append(run.index)
                continue
            # Not deterministic after all: drop it from the state to rebuild and go on without it.
            run.replay_error = f"{status}: {error}" if error else status
            succeeded.remove(run)
            entry["failed"].append(run.index)
            if status == "died" or (status == "timeout" and not await announce(run.index, replay=True)):
                return False
        return True

    async def restart(after_cell: int | None) -> bool:
        """A fresh kernel with the succeeded cells replayed; False if no kernel could be started."""
        t0 = time.monotonic()
        replays.append({"after_cell": after_cell, "replayed": [], "failed": [], "complete": True, "seconds": 0.0})
        try:
            while True:
                replays[-1]["replayed"] = []
                await start()
                if await replay_all():
                    return True
                if deadline - time.monotonic() < 1:
                    replays[-1]["complete"] = False
                    return True
        except Exception as exc:  # noqa: BLE001 - reported on the cells that follow
            replays[-1]["error"] = f"kernel restart failed: {type(exc).__name__}"
            return False
        finally:
            replays[-1]["seconds"] = round(time.monotonic() - t0, 3)

    try:
        try:
            await start()
        except Exception as exc:  # noqa: BLE001
            report = ExecutionReport(
                [CellRun(i, first_line(nb.cells[i].source), "skipped", "the kernel did not start") for i in code_cells(nb)],
                starts, f"the notebook kernel did not start: {type(exc).__name__}: {str(exc)[:300]}")
            return report
        for index in code_cells(nb):
            cell = nb.cells[index]
            line = first_line(cell.source)
            remaining = deadline - time.monotonic()
            if remaining < 1:
                cells.append(CellRun(index, line, "skipped", "the notebook's time budget was used up"))
                continue
            if not await announce(index):
                # The previous cell left the kernel hung (it ignored the interrupt) or dead.
                if not await restart(cells[-1].index if cells else None):
                    cells.append(CellRun(index, line, "skipped", replays[-1].get("error", "kernel restart failed")))
                    continue
                await announce(index)
                remaining = deadline - time.monotonic()
                if remaining < 1:
                    cells.append(CellRun(index, line, "skipped", "the notebook's time budget was used up"))
                    continue
            client.timeout = max(1, int(min(cell_timeout, remaining)))
            t0 = time.monotonic()
            status, error, traceback = await execute(cell, index)
            run = CellRun(index, line, status, error, traceback, round(time.monotonic() - t0, 3))
            cells.append(run)
            if status == "ok":
                succeeded.append(run)
            elif status == "died":
                await restart(index)  # on failure the next cell's announce tries again
        return ExecutionReport(cells, starts, None, round(time.monotonic() - started, 3), replays)
    finally:
        await _shutdown(client, km)
        if log_path is not None:
            log.close()


async def _shutdown(client: NotebookClient, km: AsyncKernelManager) -> None:
    try:
        if client.kc is not None:
            client.kc.stop_channels()
    except Exception:  # noqa: BLE001
        pass
    try:
        if km.has_kernel:
            await km.shutdown_kernel(now=True)
    except Exception:  # noqa: BLE001
        try:
            await km._async_kill_kernel()
        except Exception:  # noqa: BLE001
            pass
    try:
        await km._async_cleanup_resources()
    except Exception:  # noqa: BLE001
        pass


def run_sync(coro):
    """``asyncio.run`` that also works when the caller already runs an event loop (a thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict = {}

    def target():
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
