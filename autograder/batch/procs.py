"""Stopping a worker and everything it started, even children that made their own session.

Linux-only walk of /proc (the sandbox is Linux-only too); elsewhere only the worker's own
process group is signalled.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name may hold spaces and parentheses: fields start after the last ')'
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def descendants(pid: int) -> list[int]:
    """Every live process below pid (children first seen, then theirs)."""
    children = _children_map()
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.append(child)
                todo.append(child)
    return out


def kill_trees(pids: list[int]) -> None:
    """SIGKILL each pid, its process group and all its descendants (two passes, to catch
    processes forked while the first pass ran)."""
    for _ in range(2):
        victims: list[int] = []
        for pid in pids:
            victims += [pid] + descendants(pid)
        for pid in victims:
            for kill in (os.killpg, os.kill):
                try:
                    kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError, OSError):
                    pass
