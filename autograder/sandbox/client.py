"""The parent's side of the sandbox: start a worker, call student code, survive anything it does.

One ``Sandbox`` serves one submission. It starts a worker (``grader_inside.worker``) inside the
isolation level chosen by ``launcher``, talks to it over an inherited socket (never the child's
stdout), and turns every way a call can end into a typed outcome (see ``errors``). After a
timeout, a crash or a protocol violation the worker is killed with its whole process group; the
next request starts a fresh one, re-importing the modules and re-installing the call recorders
the old one had, so one bad function costs only the checks that use it.
"""

from __future__ import annotations

import os
import select
import signal as signal_mod
import socket
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

from ..rubric import Limits
from . import launcher
from . import limits as limits_mod
from .capture import CappedCapture
from .errors import (CallTimeout, HandleLost, ProtocolViolation, SandboxError, StudentError,
                     StudentMemoryError, WorkerCrashed)
from .inside import protocol

BOOTSTRAP = (
    "import os, sys; sys.path[:0] = os.environ['NNDL_GRADER_PKGS'].split(os.pathsep); "
    "from grader_inside.worker import main; main()"
)
TICK = 0.1
MAX_NOTES = 50


class Handle:
    """A value that stays in the worker; pass it back, index it (``h[1]``, ``h["x"]``) or ``get`` it."""

    __slots__ = ("_owner", "_generation", "id", "path", "type_name", "__weakref__")

    def __init__(self, owner, generation: int, hid: int, path: tuple = (), type_name: str = ""):
        self._owner = owner
        self._generation = generation
        self.id = hid
        self.path = tuple(path)
        self.type_name = type_name

    def __getitem__(self, key) -> "Handle":
        if not isinstance(key, (int, str)) or isinstance(key, bool):
            raise TypeError("a handle can only be indexed by int or str")
        return Handle(self._owner, self._generation, self.id, self.path + (key,), "")

    def __repr__(self) -> str:
        where = "".join(f"[{k!r}]" for k in self.path)
        return f"<Handle #{self.id}{where} {self.type_name}>"


class Sandbox:
    """A sandboxed worker for one staged submission (see docs/CONTRACTS.md for the API)."""

    def __init__(self, root, limits: Limits | None = None, level: str = "auto", *,
                 data_files: dict | None = None, env: dict | None = None, ro_binds=None,
                 helpers: bool = True, time_budget: float | None = None):
        self.root = Path(root).resolve()
        #: Wall-clock budget for everything done through this sandbox (a whole stage): each call's
        #: timeout is cut to what is left, and once it is spent calls fail at once. This bounds a
        #: submission whose every function hangs to the budget instead of calls x call_timeout.
        self.time_budget = time_budget
        self.deadline = None if time_budget is None else time.monotonic() + float(time_budget)
        self.limits = limits_mod.resolve(limits)
        self.level = launcher.resolve_level(level)
        self.missing_guarantees = launcher.missing_guarantees(self.level)
        self.warnings: list[str] = []
        self.restarts = 0
        self.peak_memory_bytes = 0
        self._data_files = dict(data_files or {})
        self._env = dict(env or {})
        self._ro_binds = ro_binds
        self._helpers = helpers
        self._proc = None
        self._sock = None
        self._launch = None
        self._out = self._err = None
        self._worker_pid = None
        self._generation = 0
        self._imported: list[str] = []
        #: Modules whose import ran out of time: not retried (each retry would cost the whole
        #: import timeout again, once per check, and an import-time hang never gets better).
        self._hung_imports: dict[str, float] = {}
        self._output_noted: set[str] = set()
        self._recording: list[str] = []
        self._lock = threading.RLock()
        self._killed_by_us = False
        self._finalizer = None
        self.max_payload = int(self.limits.memory_mb) << 20

    # ---- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> "Sandbox":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start a worker if none is running (re-importing what the previous one had)."""
        with self._lock:
            if self._proc is not None:
                return
            if self._generation > 0:
                self.restarts += 1
            self._spawn()
            imported, self._imported = self._imported, []
            for name in imported:
                try:
                    self.import_module(name)
                except SandboxError:
                    pass
            for name in list(self._recording):
                self._request({"op": "record", "name": name}, self.limits.call_timeout, "record_calls")

    def _spawn(self) -> None:
        parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = dict(self._env, NNDL_GRADER_CHANNEL_FD=str(child_sock.fileno()))
        launch = launcher.build_command(
            [sys.executable, "-I", "-B", "-u", "-c", BOOTSTRAP], level=self.level, workdir=self.root,
            limits=self.limits, ro_binds=self._ro_binds, env=env, data_files=self._data_files,
            helpers=self._helpers)
        try:
            proc = subprocess.Popen(
                launch.argv, env=launch.env, cwd=launch.cwd, preexec_fn=launch.preexec_fn,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                pass_fds=(child_sock.fileno(),), close_fds=True)
        except BaseException:
            parent_sock.close()
            child_sock.close()
            launch.cleanup()
            raise
        child_sock.close()
        self._proc, self._sock, self._launch = proc, parent_sock, launch
        self._killed_by_us = False
        self._worker_pid = None
        self._out = CappedCapture(proc.stdout, self.limits.output_bytes)
        self._err = CappedCapture(proc.stderr, self.limits.output_bytes)
        self._finalizer = weakref.finalize(self, _kill_group, proc.pid)
        hello = self._receive(time.monotonic() + max(self.limits.import_timeout, 10.0), "worker start-up")
        self._worker_pid = _find_worker_pid(proc.pid)
        self._note(hello.get("notes"))

    def restart(self) -> None:
        """Replace the worker now (handles into the old one are lost)."""
        with self._lock:
            self._stop(graceful=False)
            self.start()

    def close(self) -> None:
        with self._lock:
            self._stop(graceful=True)

    def _stop(self, graceful: bool) -> None:
        proc = self._proc
        if proc is None:
            return
        if graceful and proc.poll() is None:
            try:
                protocol.send(self._sock, {"op": "exit"})
                proc.wait(timeout=1.0)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self._killed_by_us = True
        _kill_group(proc.pid)
        try:
            proc.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            pass
        for cap in (self._out, self._err):
            cap.join(0.5)
        self._note_output()
        try:
            self._sock.close()
        except OSError:
            pass
        if self._finalizer is not None:
            self._finalizer.detach()
        self._launch.cleanup()
        self._proc = None
        self._generation += 1

    # ---- output ---------------------------------------------------------------------------
    @property
    def stdout(self) -> str:
        return self._out.text(settle=self.alive) if self._out else ""

    @property
    def stderr(self) -> str:
        return self._err.text(settle=self.alive) if self._err else ""

    # ---- requests -------------------------------------------------------------------------
    def import_module(self, name: str, *, timeout: float | None = None) -> dict:
        """Import a student (or ``grader_inside``) module in the worker; raises StudentError."""
        with self._lock:
            if name in self._hung_imports:
                seconds = self._hung_imports[name]
                raise CallTimeout(seconds, detail=f"import of {name} did not finish within {seconds:g} s "
                                  "(earlier in this run; not retried)")
            before = len(self.warnings)
            limit = timeout or self.limits.import_timeout
            try:
                self._request({"op": "import", "module": name}, limit, f"import of {name}")
            except CallTimeout as exc:
                if exc.seconds >= float(limit):  # not merely cut short by the stage's time budget
                    self._hung_imports[name] = float(limit)
                raise
            if name not in self._imported:
                self._imported.append(name)
            return {"ok": True, "warnings": self.warnings[before:]}

    def call(self, target: str, *args, keep: bool = False, timeout: float | None = None, **kwargs):
        """Call ``"module:function"`` (or ``module:Class`` / ``module:obj.method``) in the worker."""
        with self._lock:
            module = target.partition(":")[0]
            if module not in self._imported:
                self.import_module(module)
            return self._request({"op": "call", "target": target, "keep": keep}, timeout, target,
                                 args=list(args), kwargs=kwargs)

    def call_method(self, obj: Handle, name: str, *args, keep: bool = False,
                    timeout: float | None = None, **kwargs):
        return self._request({"op": "call_method", "obj": obj, "name": name, "keep": keep}, timeout,
                             f"{getattr(obj, 'type_name', '')}.{name}", args=list(args), kwargs=kwargs)

    def put(self, value) -> Handle:
        """Send ``value`` to live in the worker (the student's code may then mutate it)."""
        return self._request({"op": "put", "keep": True}, None, "put", args=[value])

    def get(self, obj):
        """Fetch the value behind a handle, as far as it is encodable (the rest stay handles)."""
        return self._request({"op": "get", "obj": obj}, None, "get")

    def getattr(self, obj: Handle, name: str, *, keep: bool = False):
        return self._request({"op": "getattr", "obj": obj, "name": name, "keep": keep}, None, f"getattr {name}")

    def setattr(self, obj: Handle, name: str, value) -> None:
        self._request({"op": "setattr", "obj": obj, "name": name}, None, f"setattr {name}", args=[value])

    def setitem(self, obj: Handle, key, value) -> None:
        self._request({"op": "setitem", "obj": obj}, None, "setitem", args=[key, value])

    def drop(self, *handles: Handle) -> None:
        """Let the worker forget these handles (frees memory held for them)."""
        ids = [h.id for h in handles if isinstance(h, Handle) and h._generation == self._generation]
        if ids and self._proc is not None:
            self._request({"op": "drop", "ids": ids}, None, "drop")

    def record_calls(self, func_name: str) -> None:
        """Record every call of ``func_name`` in every loaded student module (kept across restarts)."""
        with self._lock:
            if func_name not in self._recording:
                self._recording.append(func_name)
            self._request({"op": "record", "name": func_name}, None, "record_calls")

    def stop_recording(self, func_name: str) -> None:
        with self._lock:
            if func_name in self._recording:
                self._recording.remove(func_name)
            if self._proc is not None:
                self._request({"op": "unrecord", "name": func_name}, None, "stop_recording")

    def take_records(self, func_name: str) -> list[dict]:
        """The calls recorded since the last take: ``[{args, kwargs, result | error}]``."""
        records = self._request({"op": "take_records", "name": func_name}, None, "take_records")
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise ProtocolViolation("records are not a list of dicts")
        return records

    def ping(self) -> dict:
        return self._request({"op": "ping"}, None, "ping")

    # ---- the channel ----------------------------------------------------------------------
    def _within_budget(self, limit: float, what: str) -> float:
        if self.deadline is None:
            return limit
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise CallTimeout(0.0, what, detail=f"the stage's time limit ({self.time_budget:g} s) was used up "
                              f"before {what}; it was not run")
        return min(limit, left)

    def _request(self, header: dict, timeout, what: str, args=None, kwargs=None):
        with self._lock:
            self._within_budget(0.0, what)  # a spent budget fails before a worker is (re)started
            self.start()
            buffers: list = []
            header = dict(header)
            for key in ("obj",):
                if key in header:
                    header[key] = protocol.encode(header[key], buffers, self._handle_token)
            header["args"] = protocol.encode(list(args or []), buffers, self._handle_token)
            header["kwargs"] = protocol.encode(dict(kwargs or {}), buffers, self._handle_token)
            limit = self._within_budget(float(timeout or self.limits.call_timeout), what)
            try:
                protocol.send(self._sock, header, buffers)
            except OSError:
                raise self._crashed() from None
            reply = self._receive(time.monotonic() + limit, what, limit)
            self._note(reply.get("notes"))
            if reply.get("ok") is True:
                return reply["decoded"]
            raise self._student_error(reply.get("error"))

    def _handle_token(self, obj):
        if isinstance(obj, Handle):
            if obj._owner is not self or obj._generation != self._generation:
                raise HandleLost(f"{obj!r} belongs to a worker that no longer exists")
            return {"$": "handle", "id": obj.id, "path": list(obj.path)}
        raise TypeError(f"cannot send a {type(obj).__name__} to the sandbox")

    def _receive(self, deadline: float, what: str, limit: float | None = None) -> dict:
        """Read one reply before ``deadline``; every failure kills the worker and raises."""
        try:
            head = self._recv_exact(protocol.HEAD_SIZE, deadline)
            hlen, plen = protocol.parse_head(bytes(head), self.max_payload)
            header_bytes = self._recv_exact(hlen, deadline)
            payload = self._recv_exact(plen, deadline)
            header, buffers = protocol.parse_body(header_bytes, payload)
            if not isinstance(header.get("ok"), bool):
                raise protocol.ProtocolError("reply without a boolean 'ok'")
            if header["ok"]:
                header["decoded"] = protocol.decode(header.get("value"), buffers, self._make_handle)
            return header
        except _Timeout:
            self._stop(graceful=False)
            raise CallTimeout(limit or 0.0, what) from None
        except _Died:
            raise self._crashed() from None
        except (protocol.ProtocolError, ValueError, TypeError, KeyError, RecursionError) as exc:
            if self._proc is not None and self._proc.poll() is not None:
                raise self._crashed() from None
            self._stop(graceful=False)
            raise ProtocolViolation(f"invalid reply to {what}: {str(exc)[:300]}") from None

    def _recv_exact(self, n: int, deadline: float) -> bytearray:
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Timeout()
            ready, _, _ = select.select([self._sock], [], [], min(TICK, remaining))
            if not ready:
                self._sample_memory()
                if self._proc.poll() is not None:
                    raise _Died()
                continue
            k = self._sock.recv_into(view[got:], n - got)
            if k == 0:
                raise _Died()
            got += k
        return buf

    def _make_handle(self, token: dict) -> Handle:
        hid, type_name = token.get("id"), token.get("type", "")
        if type(hid) is not int or not isinstance(type_name, str):
            raise protocol.ProtocolError("bad handle token")
        return Handle(self, self._generation, hid, (), type_name[:100])

    def _note(self, notes) -> None:
        self._note_output()
        if not isinstance(notes, list):
            return
        for note in notes[:MAX_NOTES]:
            if isinstance(note, str):
                note = note[:500]
                if note not in self.warnings:
                    self.warnings.append(note)

    def _note_output(self) -> None:
        """Say once per stream that the student's output was truncated (it is otherwise silent)."""
        for name, cap in (("stdout", self._out), ("stderr", self._err)):
            if cap is not None and cap.dropped and name not in self._output_noted:
                self._output_noted.add(name)
                self.warnings.append(f"Output truncated: the code printed more than {cap.cap} bytes on {name}; "
                                     "the rest was dropped.")

    def _student_error(self, error) -> StudentError:
        if not isinstance(error, dict):
            return ProtocolViolation("error reply without details")
        exc_type = str(error.get("type", "Exception"))[:100]
        message = str(error.get("message", ""))[:4000]
        frames = []
        for fr in error.get("frames") or []:
            if (isinstance(fr, list) and len(fr) == 4 and isinstance(fr[0], str) and type(fr[1]) is int
                    and isinstance(fr[2], str) and isinstance(fr[3], str)):
                frames.append((fr[0][:300], fr[1], fr[2][:200], fr[3][:300]))
        lines = ["Traceback (your code only):"] if frames else []
        for file, line, func, code in frames[-20:]:
            lines.append(f'  File "{file}", line {line}, in {func}')
            if code:
                lines.append(f"    {code}")
        lines.append(f"{exc_type}: {message}")
        if exc_type == "MemoryError" or error.get("memory") is True:
            hint = f"{message} (the sandbox allows {self.limits.memory_mb} MB of address space)".strip()
            return StudentMemoryError(exc_type, hint, "\n".join(lines), frames)
        return StudentError(exc_type, message, "\n".join(lines), frames)

    def _crashed(self) -> WorkerCrashed:
        proc = self._proc
        rc = None
        if proc is not None:
            try:
                rc = proc.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                rc = None
        killed_by_us = self._killed_by_us
        self._stop(graceful=False)
        sig = None
        if rc is not None and rc < 0:
            sig = -rc
        elif rc is not None and self.level == "bwrap" and rc > 128:
            sig = rc - 128
        tail = self.stderr[-2000:]
        near_limit = self.peak_memory_bytes >= 0.85 * (int(self.limits.memory_mb) << 20)
        mentions = any(s in tail for s in ("MemoryError", "bad_alloc", "Cannot allocate memory", "out of memory"))
        memory = bool(sig in (signal_mod.SIGSEGV, signal_mod.SIGBUS, signal_mod.SIGABRT, signal_mod.SIGKILL)
                      and (near_limit or mentions or (sig == signal_mod.SIGKILL and not killed_by_us)))
        return WorkerCrashed(rc, sig, memory, tail)

    def _sample_memory(self) -> None:
        """Track the worker's peak address space, to tell a memory kill from another crash."""
        if self._worker_pid is None:
            return
        try:
            with open(f"/proc/{self._worker_pid}/status", "rb") as fh:
                for line in fh:
                    if line.startswith(b"VmPeak:"):
                        kb = int(line.split()[1])
                        self.peak_memory_bytes = max(self.peak_memory_bytes, kb * 1024)
                        break
        except (OSError, ValueError, IndexError):
            pass


class _Timeout(Exception):
    pass


class _Died(Exception):
    pass


def _kill_group(pid: int) -> None:
    """SIGKILL the whole process group (and, under bwrap/unshare, the PID namespace dies with it)."""
    for target in (lambda: os.killpg(pid, signal_mod.SIGKILL), lambda: os.kill(pid, signal_mod.SIGKILL)):
        try:
            target()
        except (ProcessLookupError, PermissionError):
            pass


def _find_worker_pid(launcher_pid: int) -> int | None:
    """The host pid of the Python worker: the deepest descendant of the launched process."""
    children: dict[int, list[int]] = {}
    try:
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return None
    for entry in entries:
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
            ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    pid, depth = launcher_pid, 0
    while children.get(pid) and depth < 8:
        pid = max(children[pid])
        depth += 1
    return pid
