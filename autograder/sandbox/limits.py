"""Resource limits every sandboxed process runs under, whatever the isolation level.

The numbers come from the rubric's ``[limits]`` (``autograder.rubric.Limits``); this module turns
them into rlimits applied in the child between fork and exec, and a scrubbed environment.
"""

from __future__ import annotations

import os
import resource

from ..rubric import Limits

DEFAULT_LIMITS = Limits()

#: Environment variables the child gets (nothing else from the grader's environment leaks in).
BASE_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONHASHSEED": "0",
    "PYTHONNOUSERSITE": "1",
    "PYTHONUNBUFFERED": "1",
    "MPLBACKEND": "Agg",
    # one BLAS thread: predictable timing on shared cores, and a small address space
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
}


def resolve(limits: Limits | None) -> Limits:
    return limits if isinstance(limits, Limits) else DEFAULT_LIMITS


def user_process_count() -> int:
    """Processes this user already runs: RLIMIT_NPROC counts them too, per real uid."""
    uid, n = os.getuid(), 0
    try:
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    if entry.stat().st_uid == uid:
                        n += 1
                except OSError:
                    pass
    except OSError:
        return 0
    return n


def rlimit_table(limits: Limits) -> dict[int, int]:
    """rlimit -> value for ``limits``; RLIMIT_NPROC allows ``processes`` more than already run."""
    mb = 1 << 20
    return {
        resource.RLIMIT_AS: int(limits.memory_mb) * mb,
        resource.RLIMIT_CPU: int(limits.cpu_seconds),
        resource.RLIMIT_NPROC: user_process_count() + int(limits.processes),
        resource.RLIMIT_FSIZE: int(limits.file_size_mb) * mb,
        resource.RLIMIT_CORE: 0,
    }


def make_preexec(limits: Limits):
    """A ``preexec_fn`` for Popen: new session (own process group), then the rlimits.

    Computed before fork so the child only makes system calls (no allocation-heavy work).
    Callers that already ask Popen for ``start_new_session=True`` (jupyter_client always does)
    get a child that is a session leader before this runs; ``setsid`` then fails with EPERM,
    which is the state we want, so it is ignored there (and only there).
    """
    table = rlimit_table(limits)

    def preexec() -> None:
        try:
            os.setsid()
        except PermissionError:
            if os.getsid(0) != os.getpid():
                raise
        for which, value in table.items():
            soft_hard = (value, value)
            try:
                _, hard = resource.getrlimit(which)
                if hard != resource.RLIM_INFINITY and value > hard:
                    soft_hard = (hard, hard)
                resource.setrlimit(which, soft_hard)
            except (ValueError, OSError):
                pass

    return preexec


def missing_for_root() -> list[str]:
    """Limits the kernel does not enforce for this grader's user."""
    if os.getuid() == 0:
        return ["process count limit (the grader runs as root: RLIMIT_NPROC is not enforced)"]
    return []
