"""Capped capture of a child's stdout / stderr: keep the first N bytes, drain and count the rest.

Draining matters: a child that prints 200 MB must not block on a full pipe, and the parent must
not hold 200 MB. Reading happens on a daemon thread per stream.
"""

from __future__ import annotations

import fcntl
import os
import struct
import termios
import threading
import time


class CappedCapture:
    def __init__(self, fileobj, cap: int):
        self.cap = max(0, int(cap))
        self.data = bytearray()
        self.dropped = 0
        self._fd = fileobj.fileno()
        self._file = fileobj
        self._thread = threading.Thread(target=self._run, name="sandbox-capture", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while True:
                chunk = os.read(self._fd, 1 << 16)
                if not chunk:
                    break
                room = self.cap - len(self.data)
                if room > 0:
                    self.data += chunk[:room]
                self.dropped += max(0, len(chunk) - max(room, 0))
        except OSError:
            pass
        finally:
            try:
                self._file.close()
            except OSError:
                pass

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def pending(self) -> int:
        """Bytes written by the child that the reader thread has not taken yet."""
        try:
            buf = fcntl.ioctl(self._fd, termios.FIONREAD, b"\0\0\0\0")
            return struct.unpack("i", buf)[0]
        except (OSError, ValueError):
            return 0

    def text(self, settle: bool = False) -> str:
        """What was captured; ``settle`` first lets the reader catch up (up to 0.5 s)."""
        deadline = time.monotonic() + 0.5
        while settle and self._thread.is_alive() and self.pending() and time.monotonic() < deadline:
            time.sleep(0.005)
        out = bytes(self.data).decode("utf-8", errors="replace")
        if self.dropped:
            out += f"\n[... {self.dropped} more bytes dropped: output is capped at {self.cap} bytes]\n"
        return out
