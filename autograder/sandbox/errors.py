"""Typed outcomes of a call into student code (everything but a normal return)."""

from __future__ import annotations


class SandboxError(Exception):
    """Base class: something about the sandboxed call did not go as a normal return."""


class StudentError(SandboxError):
    """The student's code raised. ``frames`` are only the student's own: (file, line, function)."""

    def __init__(self, exc_type: str, message: str, traceback: str = "", frames=None):
        self.exc_type = exc_type
        self.message = message
        self.traceback = traceback
        self.frames = [tuple(f[:3]) for f in (frames or [])]
        super().__init__(f"{exc_type}: {message}")


class StudentMemoryError(StudentError):
    """The student's code raised MemoryError: it hit the sandbox's address-space limit."""


class CallTimeout(SandboxError):
    """The call ran past its wall-clock limit; the worker was killed (SIGKILL, whole group)."""

    def __init__(self, seconds: float, what: str = "call", *, detail: str | None = None):
        self.seconds = seconds
        super().__init__(detail or f"{what} did not finish within {seconds:g} s; the worker was killed")


class WorkerCrashed(SandboxError):
    """The worker died mid-call: an exit code, a signal, or (suspected) the memory limit."""

    def __init__(self, returncode, signal=None, memory_suspected: bool = False, detail: str = ""):
        self.returncode = returncode
        self.signal = signal
        self.memory_suspected = memory_suspected
        self.detail = detail
        if signal:
            import signal as _signal
            try:
                what = f"killed by signal {_signal.Signals(signal).name}"
            except ValueError:
                what = f"killed by signal {signal}"
        else:
            what = f"exited with code {returncode}"
        if memory_suspected:
            what += " (probably the memory limit)"
        super().__init__(f"the student's process {what}")


class ProtocolViolation(SandboxError):
    """The child wrote something on the grader's channel that is not a valid reply."""


class HandleLost(SandboxError):
    """A handle from a worker that has since been replaced (after a timeout or crash)."""
