"""Wire format between the trusted parent and the sandboxed worker (shared by both sides).

A frame is ``MAGIC | u32 header length | u64 payload length | JSON header | raw payload``. The
header is a JSON object; arrays travel as raw bytes in the payload, described in the header by
dtype and shape, so nothing is ever pickled. Values are encoded as a JSON tree in which plain
JSON scalars stand for themselves, JSON lists for Python lists, and JSON objects are tagged with
``"$"`` (tuple, dict, array, non-finite float, dtype, handle). Decoding validates everything: a
bad frame raises ``ProtocolError`` and the parent treats the child as hostile.

This module imports only the standard library and numpy: it runs inside the child too.
"""

from __future__ import annotations

import json
import math
import struct

import numpy as np

MAGIC = b"NDGW"
_HEAD = struct.Struct("<4sIQ")
MAX_HEADER_BYTES = 64 << 20
MAX_DEPTH = 200

#: The only dtypes that may cross the boundary (numeric and bool, little-endian or 1-byte).
ALLOWED_DTYPES = frozenset(
    np.dtype(t).str
    for t in ("?", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16")
)
_DTYPE_NAMES = frozenset(np.dtype(t).name for t in ALLOWED_DTYPES)


class ProtocolError(Exception):
    """A frame or value that does not follow this format (treated as a protocol violation)."""


class Unencodable(Exception):
    """Raised by an ``on_unknown`` hook that refuses a value."""


# ---- framing --------------------------------------------------------------------------------

def pack(header: dict, buffers: list) -> list:
    """The frame for ``header`` and its ``buffers`` as a list of bytes-like pieces (no copies)."""
    header = dict(header)
    header["bufs"] = [memoryview(b).nbytes for b in buffers]
    blob = json.dumps(header, separators=(",", ":"), allow_nan=False).encode("utf-8")
    total = sum(header["bufs"])
    return [_HEAD.pack(MAGIC, len(blob), total), blob, *buffers]


def send(sock, header: dict, buffers: list = ()) -> None:
    for piece in pack(header, list(buffers)):
        view = memoryview(piece).cast("B")
        if view.nbytes:
            sock.sendall(view)


def parse_head(raw: bytes, max_payload: int) -> tuple[int, int]:
    """Validate the fixed-size frame head; returns (header length, payload length)."""
    if len(raw) != _HEAD.size:
        raise ProtocolError("truncated frame head")
    magic, hlen, plen = _HEAD.unpack(raw)
    if magic != MAGIC:
        raise ProtocolError(f"bad frame magic {magic!r}")
    if hlen > MAX_HEADER_BYTES:
        raise ProtocolError(f"header of {hlen} bytes exceeds {MAX_HEADER_BYTES}")
    if plen > max_payload:
        raise ProtocolError(f"payload of {plen} bytes exceeds {max_payload}")
    return hlen, plen


HEAD_SIZE = _HEAD.size


def parse_body(header_bytes: bytes, payload: memoryview | bytes) -> tuple[dict, list]:
    """Decode the JSON header and split the payload into its declared buffers."""
    try:
        header = json.loads(bytes(header_bytes).decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ProtocolError(f"header is not JSON: {str(exc)[:200]}") from None
    if not isinstance(header, dict):
        raise ProtocolError("header is not a JSON object")
    sizes = header.pop("bufs", [])
    if not isinstance(sizes, list) or not all(type(n) is int and n >= 0 for n in sizes):
        raise ProtocolError("bad buffer table")
    view = memoryview(payload).cast("B")
    if sum(sizes) != view.nbytes:
        raise ProtocolError("buffer table does not match payload length")
    buffers, start = [], 0
    for n in sizes:
        buffers.append(view[start:start + n])
        start += n
    return header, buffers


def recv(sock, max_payload: int = 1 << 40) -> tuple[dict, list]:
    """Blocking receive of one frame (the worker's side; the parent reads with deadlines)."""
    hlen, plen = parse_head(_recv_exact(sock, HEAD_SIZE), max_payload)
    header = _recv_exact(sock, hlen)
    payload = _recv_exact(sock, plen)
    return parse_body(header, payload)


def _recv_exact(sock, n: int) -> bytearray:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise EOFError("channel closed")
        got += k
    return buf


# ---- values ---------------------------------------------------------------------------------

def encode(value, buffers: list, on_unknown, _depth: int = 0, _stack: tuple = ()):
    """Encode ``value`` into a JSON tree, appending array bytes to ``buffers``.

    ``on_unknown(obj)`` is called for anything this format cannot carry; it returns a token
    (e.g. a handle) or raises ``Unencodable``.
    """
    if value is None or value is True or value is False or type(value) is str:
        return value
    if type(value) is int:
        return value
    if type(value) is float:
        return value if math.isfinite(value) else {"$": "float", "v": repr(value)}
    if _depth > MAX_DEPTH or id(value) in _stack:
        return on_unknown(value)
    if isinstance(value, np.ndarray):
        return _encode_array(value, buffers, on_unknown, scalar=False)
    if isinstance(value, np.generic):
        return _encode_array(np.asarray(value), buffers, on_unknown, scalar=True)
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        name = np.dtype(value).name
        return {"$": "dtype", "v": name} if name in _DTYPE_NAMES else on_unknown(value)
    stack = _stack + (id(value),)
    if type(value) is list:
        return [encode(v, buffers, on_unknown, _depth + 1, stack) for v in value]
    if type(value) is tuple:
        return {"$": "tuple", "v": [encode(v, buffers, on_unknown, _depth + 1, stack) for v in value]}
    if type(value) is dict and all(type(k) is str for k in value):
        return {"$": "dict", "v": {k: encode(v, buffers, on_unknown, _depth + 1, stack) for k, v in value.items()}}
    if isinstance(value, (bool, int, float, str)):  # subclasses (e.g. an IntEnum): plain value
        base = bool if isinstance(value, bool) else int if isinstance(value, int) else float if isinstance(value, float) else str
        return encode(base(value), buffers, on_unknown, _depth + 1, stack)
    return on_unknown(value)


def _encode_array(arr: np.ndarray, buffers: list, on_unknown, scalar: bool):
    dtype = arr.dtype
    if dtype.str not in ALLOWED_DTYPES:
        native = dtype.newbyteorder("<") if dtype.byteorder == ">" else None
        if native is None or native.str not in ALLOWED_DTYPES:
            return on_unknown(arr[()] if scalar else arr)
        arr = arr.astype(native)
    if not arr.flags.c_contiguous:
        arr = arr.copy(order="C")
    buffers.append(arr.reshape(-1).view(np.uint8) if arr.size else b"")
    token = {"$": "nd", "i": len(buffers) - 1, "dtype": arr.dtype.str, "shape": list(arr.shape)}
    if scalar:
        token["scalar"] = True
    return token


def decode(tree, buffers: list, on_handle, max_elements: int = 1 << 34, _depth: int = 0):
    """Rebuild a value from its JSON tree; anything malformed raises ``ProtocolError``."""
    if _depth > MAX_DEPTH:
        raise ProtocolError("value nested too deeply")
    if tree is None or isinstance(tree, (bool, int, str)):
        return tree
    if isinstance(tree, float):
        return tree
    if isinstance(tree, list):
        return [decode(v, buffers, on_handle, max_elements, _depth + 1) for v in tree]
    if not isinstance(tree, dict):
        raise ProtocolError(f"unexpected JSON value of type {type(tree).__name__}")
    tag = tree.get("$")
    if tag == "tuple":
        items = tree.get("v")
        if not isinstance(items, list):
            raise ProtocolError("bad tuple")
        return tuple(decode(v, buffers, on_handle, max_elements, _depth + 1) for v in items)
    if tag == "dict":
        items = tree.get("v")
        if not isinstance(items, dict):
            raise ProtocolError("bad dict")
        return {str(k): decode(v, buffers, on_handle, max_elements, _depth + 1) for k, v in items.items()}
    if tag == "float":
        text = tree.get("v")
        if text not in ("nan", "inf", "-inf"):
            raise ProtocolError("bad non-finite float")
        return float(text)
    if tag == "dtype":
        name = tree.get("v")
        if name not in _DTYPE_NAMES:
            raise ProtocolError(f"dtype {name!r} not allowed")
        return np.dtype(name).type
    if tag == "nd":
        return _decode_array(tree, buffers, max_elements)
    if tag == "handle":
        return on_handle(tree)
    raise ProtocolError(f"unknown value tag {tag!r}")


def _decode_array(tree: dict, buffers: list, max_elements: int):
    dtype, shape, index = tree.get("dtype"), tree.get("shape"), tree.get("i")
    if dtype not in ALLOWED_DTYPES:
        raise ProtocolError(f"array dtype {dtype!r} not allowed")
    if not isinstance(shape, list) or len(shape) > 32 or not all(type(n) is int and 0 <= n for n in shape):
        raise ProtocolError("bad array shape")
    if type(index) is not int or not 0 <= index < len(buffers):
        raise ProtocolError("bad array buffer index")
    count = math.prod(shape)
    if count > max_elements:
        raise ProtocolError(f"array of {count} elements exceeds the limit")
    dt = np.dtype(dtype)
    buf = buffers[index]
    if count * dt.itemsize != memoryview(buf).nbytes:
        raise ProtocolError("array buffer size does not match dtype and shape")
    arr = np.frombuffer(buf, dtype=dt, count=count).reshape(shape).copy() if count else np.zeros(shape, dt)
    if tree.get("scalar"):
        if shape:
            raise ProtocolError("scalar with a shape")
        return arr[()]
    return arr
