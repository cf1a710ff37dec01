"""Expected values: computed live from the reference, or replayed from a public-data folder.

The instructor profile computes every expected value from ``autograder.refimpl`` in the parent.
The student profile ships without the reference, so the values the *public* checks need are
recorded once (`record_public_data`: run the checks on the reference with recording on) and
replayed. Each value is stored with a digest of its inputs; a replayed value whose inputs differ
(rubric seed or check changed since recording) is refused instead of silently misused.

Files: ``expected.json`` (structure, digests) and ``expected.npz`` (arrays; no pickle anywhere).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..refimpl import ReferenceUnavailable, ref

__all__ = ["Expected", "ReferenceUnavailable", "digest"]

FORMAT_VERSION = 1


def digest(*values: Any) -> str:
    """A stable hash of nested inputs (arrays by dtype, shape and bytes)."""
    h = hashlib.sha256()
    _feed(h, values)
    return h.hexdigest()[:24]


def _feed(h, value: Any) -> None:
    if isinstance(value, np.ndarray):
        arr = np.ascontiguousarray(value)
        h.update(f"nd{arr.dtype.str}{arr.shape}".encode())
        h.update(arr.tobytes())
    elif isinstance(value, dict):
        h.update(b"{")
        for k in sorted(value, key=str):
            h.update(repr(k).encode())
            _feed(h, value[k])
        h.update(b"}")
    elif isinstance(value, (list, tuple)):
        h.update(b"[")
        for v in value:
            _feed(h, v)
        h.update(b"]")
    elif isinstance(value, (np.generic, float, int, bool, str, type(None))):
        h.update(repr(value.item() if isinstance(value, np.generic) else value).encode())
    elif isinstance(value, type) or isinstance(value, np.dtype):
        h.update(repr(np.dtype(value).str).encode())
    else:
        h.update(repr(type(value)).encode())


class Expected:
    """Callable giving expected values: ``expected(check_id, key, fn, *inputs)``.

    `fn(ref, *inputs)` receives the reference namespace (``ref.layers``, ``ref.fc_net``, ...)
    and must return arrays, numbers, or dicts/lists of them.
    """

    def __init__(self, replay: dict[str, Any] | None = None, record: bool = False):
        self._replay = replay
        self.record = record
        self.recorded: dict[str, tuple[str, Any]] = {}

    @classmethod
    def live(cls, record: bool = False) -> "Expected":
        return cls(None, record)

    @classmethod
    def from_folder(cls, folder: Path | str) -> "Expected":
        return cls(_load(Path(folder)))

    @property
    def replaying(self) -> bool:
        return self._replay is not None

    def __call__(self, check_id: str, key: str, fn: Callable[..., Any], *inputs: Any) -> Any:
        name = f"{check_id}/{key}"
        want = digest(*inputs)
        if self._replay is not None:
            if name not in self._replay:
                raise ReferenceUnavailable(f"no public expected values for {name}")
            stored_digest, value = self._replay[name]
            if stored_digest != want:
                raise ReferenceUnavailable(f"the public expected values for {name} are out of date")
            return value
        value = fn(ref, *inputs)
        if self.record:
            self.recorded[name] = (want, value)
        return value

    def save(self, folder: Path | str) -> Path:
        """Write what was recorded (JSON structure + npz arrays)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        entries = {name: {"digest": d, "value": _encode(v, arrays)} for name, (d, v) in sorted(self.recorded.items())}
        np.savez_compressed(folder / "expected.npz", **arrays)
        (folder / "expected.json").write_text(json.dumps({"version": FORMAT_VERSION, "entries": entries}, indent=1))
        return folder


def _encode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = value
        return {"__nd__": key}
    if isinstance(value, dict):
        return {"__dict__": {str(k): _encode(v, arrays) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return [_encode(v, arrays) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return {"__float__": repr(value)}
    return value


def _decode(value: Any, arrays) -> Any:
    if isinstance(value, dict):
        if "__nd__" in value:
            return arrays[value["__nd__"]]
        if "__float__" in value:
            return float(value["__float__"])
        return {k: _decode(v, arrays) for k, v in value.get("__dict__", {}).items()}
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    return value


def _load(folder: Path) -> dict[str, Any]:
    try:
        meta = json.loads((folder / "expected.json").read_text())
        with np.load(folder / "expected.npz", allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as exc:
        raise ReferenceUnavailable(f"public expected values unreadable in {folder}: {exc}") from None
    if meta.get("version") != FORMAT_VERSION:
        raise ReferenceUnavailable("public expected values have an unknown format version")
    return {name: (e["digest"], _decode(e["value"], arrays)) for name, e in meta["entries"].items()}
