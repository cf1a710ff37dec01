"""The command that starts the notebook kernel, wrapped in the sandbox.

The kernel runs ``grader_inside.kernel_startup`` (trusted) and then ipykernel. The sandbox's
``build_command`` provides ``grader_inside`` and the trusted helpers on the child's path; this
module adds the notebook's data folder (read-only, named by ``NNDL_GRADER_DATA``) and one
read-write folder for the ZMQ ipc sockets, the connection file and the capture file, bound at
the same path as outside so the connection file means the same on both sides.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..sandbox import build_command

KERNEL_CODE = "from grader_inside.kernel_startup import main; main()"
DATA_IN_SANDBOX = "/grader/nbdata"
CAPTURE_NAME = "capture.json"


@dataclass
class KernelLaunch:
    argv: list[str]
    env: dict[str, str]
    preexec_fn: Callable[[], None] | None
    level: str
    missing_guarantees: list[str] = field(default_factory=list)
    cleanup: Callable[[], None] = lambda: None


def kernel_launch(*, level: str, workdir: Path, limits, conn_dir: Path, data_dir: Path | None,
                  fast_iterations: int) -> KernelLaunch:
    """The sandboxed kernel command (``{connection_file}`` is left for jupyter_client to fill)."""
    argv = [sys.executable, "-c", KERNEL_CODE, "-f", "{connection_file}"]
    ro = {}
    if data_dir is not None:
        ro[str(Path(data_dir).resolve())] = DATA_IN_SANDBOX
    env = {"NNDL_GRADER_CAPTURE": str(conn_dir / CAPTURE_NAME),
           "NNDL_GRADER_FAST_ITERATIONS": str(int(fast_iterations))}
    launch = build_command(argv, level=level, workdir=workdir, limits=limits, ro_binds=ro,
                           rw_binds={str(conn_dir): str(conn_dir)}, env=env)
    if data_dir is not None:
        launch.env["NNDL_GRADER_DATA"] = launch.inside(Path(data_dir).resolve())
    return KernelLaunch(list(launch.argv), dict(launch.env), launch.preexec_fn, launch.level,
                        list(launch.missing_guarantees), launch.cleanup)
