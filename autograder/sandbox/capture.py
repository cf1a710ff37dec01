"""Capped capture of a child's stdout / stderr: keep the first N bytes, drain and count the rest.

Draining matters: a child that prints 200 MB must not block on a full pipe, and the parent must
not hold 200 MB. Reading happens on a daemon thread per stream.
"""

from __future__ import annotations

import fcntl
import os
import select
import struct
import termios
import threading


class CappedCapture:
    """Reads one stream on a daemon thread; `text()` returns everything the child wrote so far.

    The reader takes bytes out of the pipe only while holding ``_lock``, and `text(settle=True)`
    drains what is left under that same lock, so no chunk can be "in hand" (read from the pipe but
    not yet stored) when a caller looks: output printed before a call returned is always seen.
    """

    def __init__(self, fileobj, cap: int):
        self.cap = max(0, int(cap))
        self.data = bytearray()
        self.dropped = 0
        self._fd = fileobj.fileno()
        self._file = fileobj
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="sandbox-capture", daemon=True)
        self._thread.start()

    def _store(self, chunk: bytes) -> None:
        room = self.cap - len(self.data)
        if room > 0:
            self.data += chunk[:room]
        self.dropped += max(0, len(chunk) - max(room, 0))

    def _run(self) -> None:
        try:
            while True:
                ready, _, _ = select.select([self._fd], [], [], 0.2)
                if not ready:
                    continue
                with self._lock:
                    chunk = os.read(self._fd, 1 << 16)
                    if not chunk:
                        break
                    self._store(chunk)
        except (OSError, ValueError):
            pass
        finally:
            with self._lock:
                self._closed = True
                try:
                    self._file.close()
                except OSError:
                    pass

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def pending(self) -> int:
        """Bytes written by the child that nobody has taken out of the pipe yet."""
        if self._closed:
            return 0
        try:
            buf = fcntl.ioctl(self._fd, termios.FIONREAD, b"\0\0\0\0")
            return struct.unpack("i", buf)[0]
        except (OSError, ValueError):
            return 0

    def text(self, settle: bool = False) -> str:
        """What was captured; ``settle`` first takes whatever is still waiting in the pipe."""
        with self._lock:
            budget = 1 << 22  # a child still flooding the stream must not keep the caller here
            while settle and not self._closed and budget > 0:
                waiting = self.pending()
                if not waiting:
                    break
                chunk = os.read(self._fd, min(waiting, 1 << 20))
                if not chunk:
                    break
                budget -= len(chunk)
                self._store(chunk)
            out = bytes(self.data).decode("utf-8", errors="replace")
            dropped = self.dropped
        if dropped:
            out += f"\n[... {dropped} more bytes dropped: output is capped at {self.cap} bytes]\n"
        return out
