"""Run a notebook cell by cell in a sandboxed IPython kernel, recording each cell's fate.

nbclient drives the kernel (async); the kernel process is started through the sandbox's
``build_command`` (``launch.py``) with ZMQ over ``ipc`` sockets in a folder bound read-write
into the sandbox, because its network namespace cannot reach the parent's loopback. Messages
are JSON (Jupyter protocol); nothing is unpickled.

A cell may raise (recorded, go on), run past its timeout (interrupt, go on; if the kernel does
not answer afterwards, restart it), or kill the kernel (restart, go on). The whole notebook has a
time budget; cells left when it runs out are recorded as skipped.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import threading
import time
from dataclasses import asdict, dataclass
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
    status: str  # ok | error | timeout | dead_kernel | skipped
    error: str | None = None
    traceback: str | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class ExecutionReport:
    cells: list[CellRun]
    kernel_starts: int
    #: Set when no kernel could be started at all (grader/environment problem or a hostile start).
    startup_error: str | None = None
    seconds: float = 0.0


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

    async def announce(index: int) -> bool:
        """Tell the kernel which cell runs next; False if it does not answer (hung)."""
        code = f"__import__('grader_inside.kernel_startup').kernel_startup.set_cell({index})"
        try:
            reply = await asyncio.wait_for(
                client.kc.execute_interactive(code, silent=True, store_history=False, timeout=PROBE_TIMEOUT,
                                              output_hook=lambda msg: None, allow_stdin=False),
                PROBE_TIMEOUT + 1)
            return reply.get("content", {}).get("status") == "ok"
        except Exception:  # noqa: BLE001 - any failure means: kernel not usable as is
            return False

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
                try:
                    await start()
                except Exception as exc:  # noqa: BLE001
                    cells.append(CellRun(index, line, "skipped", f"kernel restart failed: {type(exc).__name__}"))
                    continue
                await announce(index)
            client.timeout = max(1, int(min(cell_timeout, remaining)))
            t0 = time.monotonic()
            run = CellRun(index, line, "ok")
            try:
                await client.async_execute_cell(cell, index)
                content = replies.get(index, {}).get("content", {})
                if content.get("status") == "error":
                    if content.get("ename") == TIMEOUT_ENAME:
                        run.status = "timeout"
                        run.error = f"cell did not finish within {client.timeout} s (interrupted)"
                    else:
                        run.status = "error"
                        run.error = f"{content.get('ename', 'Error')}: {str(content.get('evalue', ''))[:300]}"
                        run.traceback = trim_traceback(content.get("traceback"))
                elif content.get("status") == "aborted":
                    run.status, run.error = "error", "execution aborted by the kernel"
            except DeadKernelError:
                run.status, run.error = "dead_kernel", "the kernel died while running this cell (restarted)"
                try:
                    await start()
                except Exception:  # noqa: BLE001 - next cell's announce retries
                    pass
            except (CellTimeoutError, CellControlSignal) as exc:
                run.status, run.error = "timeout", str(exc).splitlines()[0][:300] if str(exc) else "timeout"
            run.seconds = round(time.monotonic() - t0, 3)
            cells.append(run)
        return ExecutionReport(cells, starts, None, round(time.monotonic() - started, 3))
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
