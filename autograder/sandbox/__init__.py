"""Run untrusted student code in an isolated child process and talk to it safely.

    from autograder.sandbox import Sandbox
    with Sandbox(staged.root, rubric.limits) as sb:
        out, cache = sb.call("nndl.layers:dropout_forward", x, {"mode": "train", "p": 0.5})

See docs/CONTRACTS.md for the API; ``build_command`` wraps any other command (a notebook kernel)
in the same isolation and limits.
"""

from .client import Handle, Sandbox
from .errors import (CallTimeout, HandleLost, ProtocolViolation, SandboxError, StudentError,
                     StudentMemoryError, WorkerCrashed)
from .launcher import (LEVELS, Launch, SandboxUnavailable, available_levels, build_command,
                       missing_guarantees, resolve_level)

__all__ = [
    "Sandbox", "Handle", "SandboxError", "StudentError", "StudentMemoryError", "CallTimeout",
    "WorkerCrashed", "ProtocolViolation", "HandleLost", "SandboxUnavailable", "Launch", "LEVELS",
    "build_command", "available_levels", "missing_guarantees", "resolve_level",
]
