"""The request loop that runs inside the sandbox and calls the student's code for the parent.

Started by the parent as ``python -I -B -c <bootstrap>``; the channel is an inherited socket whose
fd number is in ``NNDL_GRADER_CHANNEL_FD``. stdin is /dev/null and fds 1/2 are the parent's
capped capture pipes, which the student owns. Values the protocol cannot carry stay here behind
integer handles. Nothing the worker says is trusted by the parent beyond "these are my outputs".
"""

from __future__ import annotations

import faulthandler
import importlib
import os
import socket
import sys
import traceback

from grader_inside import compat, protocol

MAX_RECORDS = 2000
MAX_TEXT = 4000


class Worker:
    def __init__(self, sock, root: str):
        self.sock = sock
        self.root = os.path.realpath(root)
        self.objects: dict[int, object] = {}
        self.next_id = 1
        self.notes: list[str] = []
        self.reported_aliases: set[str] = set()
        self.recording: dict[str, list] = {}  # func name -> records
        self.wrapped: dict[str, dict] = {}    # func name -> {id(original): wrapper}

    # ---- handles ------------------------------------------------------------------------
    def keep(self, obj) -> dict:
        hid = self.next_id
        self.next_id += 1
        self.objects[hid] = obj
        return {"$": "handle", "id": hid, "type": type(obj).__name__}

    def resolve(self, token: dict):
        hid = token.get("id")
        if hid not in self.objects:
            raise LookupError(f"unknown handle {hid!r}")
        obj = self.objects[hid]
        for key in token.get("path", []):
            obj = obj[key]
        return obj

    def enc(self, value, buffers: list):
        return protocol.encode(value, buffers, self.keep)

    def dec(self, tree, buffers):
        return protocol.decode(tree, buffers, self.resolve)

    # ---- student imports and records ------------------------------------------------------
    def import_module(self, name: str):
        module = compat.import_student_module(name, self.root, self.notes)
        self.apply_recording()
        return module

    def target(self, spec: str):
        module_name, _, qualname = spec.partition(":")
        obj = self.import_module(module_name)
        for part in qualname.split(".") if qualname else []:
            obj = getattr(obj, part)
        return obj

    def student_modules(self):
        for name, mod in list(sys.modules.items()):
            path = getattr(mod, "__file__", None) or ""
            if name == "nndl" or name.startswith("nndl.") or (path and os.path.realpath(path).startswith(self.root + os.sep)):
                yield mod

    def apply_recording(self) -> None:
        """Wrap each recorded function wherever a student module holds it (also ``import *`` copies)."""
        for fname in self.recording:
            wrappers = self.wrapped.setdefault(fname, {})
            wrapper_ids = {id(w) for w in wrappers.values()}
            modules = list(self.student_modules())
            originals = {}
            for mod in modules:
                fn = mod.__dict__.get(fname)
                if callable(fn) and id(fn) not in wrapper_ids:
                    originals[id(fn)] = fn
            for key, fn in originals.items():
                if key not in wrappers:
                    wrappers[key] = self.make_recorder(fname, fn)
            for mod in modules:
                for attr, value in list(mod.__dict__.items()):
                    if id(value) in wrappers and value is not wrappers[id(value)]:
                        setattr(mod, attr, wrappers[id(value)])

    def make_recorder(self, fname: str, fn):
        records = self.recording[fname]

        def recorder(*args, **kwargs):
            entry = {"args": snapshot(args), "kwargs": snapshot(kwargs)}
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                entry["error"] = f"{type(exc).__name__}: {str(exc)[:MAX_TEXT]}"
                self.add_record(fname, entry)
                raise
            entry["result"] = snapshot(result)
            self.add_record(fname, entry)
            return result

        recorder.__wrapped__ = fn
        recorder.__name__ = getattr(fn, "__name__", fname)
        return recorder

    def add_record(self, fname: str, entry: dict) -> None:
        records = self.recording.get(fname)
        if records is None:
            return
        if len(records) < MAX_RECORDS:
            records.append(entry)
        else:
            self.notes.append(f"more than {MAX_RECORDS} calls of {fname} recorded; later ones dropped")

    def stop_recording(self, fname: str) -> None:
        self.recording.pop(fname, None)
        wrappers = self.wrapped.pop(fname, {})
        by_wrapper = {id(w): w.__wrapped__ for w in wrappers.values()}
        for mod in self.student_modules():
            for attr, value in list(mod.__dict__.items()):
                if id(value) in by_wrapper:
                    setattr(mod, attr, by_wrapper[id(value)])

    # ---- requests -------------------------------------------------------------------------
    def handle(self, req: dict, buffers: list):
        op = req.get("op")
        args = self.dec(req.get("args", []), buffers)
        kwargs = self.dec(req.get("kwargs", {"$": "dict", "v": {}}), buffers)
        if op == "ping":
            return {"pid": os.getpid()}
        if op == "import":
            self.import_module(req["module"])
            return None
        if op == "call":
            return self.target(req["target"])(*args, **kwargs)
        if op == "call_method":
            obj = self.dec(req["obj"], buffers)
            return getattr(obj, req["name"])(*args, **kwargs)
        if op == "put":
            return args[0]
        if op == "get":
            return self.dec(req["obj"], buffers)
        if op == "getattr":
            return getattr(self.dec(req["obj"], buffers), req["name"])
        if op == "setattr":
            setattr(self.dec(req["obj"], buffers), req["name"], args[0])
            return None
        if op == "setitem":
            self.dec(req["obj"], buffers)[args[0]] = args[1]
            return None
        if op == "drop":
            for hid in req.get("ids", []):
                self.objects.pop(hid, None)
            return None
        if op == "record":
            self.recording.setdefault(req["name"], [])
            self.apply_recording()
            return None
        if op == "unrecord":
            self.stop_recording(req["name"])
            return None
        if op == "take_records":
            records = self.recording.get(req["name"], [])
            taken = list(records)
            records.clear()
            return taken
        raise ValueError(f"unknown op {op!r}")

    def notes_to_send(self) -> list[str]:
        out, self.notes = self.notes, []
        for alias in compat.aliases_used():
            if alias not in self.reported_aliases:
                self.reported_aliases.add(alias)
                out.append(f"np.{alias} was used: removed in NumPy 2, provided by the grader")
        return out

    def serve(self) -> None:
        protocol.send(self.sock, {"ok": True, "value": None, "notes": self.notes_to_send()})
        while True:
            try:
                req, buffers = protocol.recv(self.sock)
            except (EOFError, OSError):
                return
            if req.get("op") == "exit":
                return
            out_buffers: list = []
            try:
                value = self.handle(req, buffers)
                tree = self.keep(value) if req.get("keep") else self.enc(value, out_buffers)
                reply = {"ok": True, "value": tree}
            except BaseException as exc:  # noqa: BLE001 - student code may raise anything
                if isinstance(exc, KeyboardInterrupt):
                    raise
                out_buffers = []
                reply = {"ok": False, "error": describe(exc, self.root)}
            reply["notes"] = self.notes_to_send()
            protocol.send(self.sock, reply, out_buffers)


def snapshot(value):
    """A record-safe copy: arrays copied now (the student may mutate them later)."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (list, tuple)):
        return type(value)(snapshot(v) for v in value) if type(value) in (list, tuple) else value
    if type(value) is dict:
        return {k: snapshot(v) for k, v in value.items()}
    return value


def describe(exc: BaseException, root: str) -> dict:
    """The error as plain data: type, message, and the student's own frames only."""
    frames = []
    for fs in traceback.extract_tb(exc.__traceback__):
        path = os.path.realpath(fs.filename) if fs.filename else ""
        if path.startswith(root + os.sep):
            frames.append([os.path.relpath(path, root), fs.lineno or 0, fs.name, (fs.line or "")[:300]])
    if isinstance(exc, SyntaxError) and exc.filename:
        path = os.path.realpath(exc.filename)
        if path.startswith(root + os.sep):
            frames.append([os.path.relpath(path, root), exc.lineno or 0, "<module>", (exc.text or "").strip()[:300]])
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001 - a hostile __str__
        message = "<unprintable exception>"
    return {"type": type(exc).__name__, "message": message[:MAX_TEXT], "frames": frames[-50:],
            "memory": isinstance(exc, MemoryError)}


def main() -> None:
    fd = int(os.environ["NNDL_GRADER_CHANNEL_FD"])
    root = os.environ.get("NNDL_GRADER_ROOT") or os.getcwd()
    sock = socket.socket(fileno=fd)
    faulthandler.enable(file=sys.stderr, all_threads=False)
    compat.force_agg()
    notes = compat.install_numpy_aliases()
    if root not in sys.path:
        sys.path.append(root)  # after the trusted helpers and site-packages: they win
    os.chdir(root)
    worker = Worker(sock, root)
    worker.notes.extend(notes)
    worker.serve()
    sys.stdout.flush()
    os._exit(0)  # skip student atexit hooks and non-daemon threads


if __name__ == "__main__":
    main()
