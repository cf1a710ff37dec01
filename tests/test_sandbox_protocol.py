"""The wire format: values round-trip exactly, and malformed frames are refused, never unpickled."""

from __future__ import annotations

import json
import socket
import struct

import numpy as np
import pytest

from autograder.sandbox.inside import protocol


def roundtrip(value, on_unknown=None):
    buffers: list = []

    def refuse(obj):
        raise protocol.Unencodable(type(obj).__name__)

    tree = protocol.encode(value, buffers, on_unknown or refuse)
    a, b = socket.socketpair()
    with a, b:
        protocol.send(a, {"v": tree}, buffers)
        header, bufs = protocol.recv(b)
    return protocol.decode(header["v"], bufs, lambda t: ("handle", t["id"]))


def test_values_roundtrip_exactly():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)[:, ::2]  # non-contiguous
    value = {"x": x, "t": (1, 2.5, None, True, "s"), "l": [np.int64(7), np.float64("nan")],
             "inf": float("-inf"), "nested": {"deep": [np.zeros((0, 3)), np.bool_(True)]},
             "dtype": np.float64, "c": np.array([1 + 2j])}
    out = roundtrip(value)
    np.testing.assert_array_equal(out["x"], x)
    assert out["x"].dtype == np.float32 and out["x"].shape == (3, 2)
    assert out["t"] == (1, 2.5, None, True, "s")
    assert out["l"][0] == 7 and isinstance(out["l"][0], np.int64) and np.isnan(out["l"][1])
    assert out["inf"] == float("-inf")
    assert out["nested"]["deep"][0].shape == (0, 3) and out["nested"]["deep"][1] is np.True_
    assert out["dtype"] is np.float64
    assert out["c"][0] == 1 + 2j


def test_big_endian_arrays_arrive_native():
    x = np.arange(5, dtype=">i4")
    out = roundtrip(x)
    assert out.dtype == np.dtype("<i4")
    np.testing.assert_array_equal(out, np.arange(5))


def test_unencodable_values_go_through_the_hook():
    class Thing:
        pass

    seen = []

    def hook(obj):
        seen.append(obj)
        return {"$": "handle", "id": len(seen)}

    int_keyed = {3: "int key"}
    assert roundtrip(int_keyed, hook) == ("handle", 1) and seen[0] is int_keyed
    thing, objects = Thing(), np.array(["a"], dtype=object)
    assert roundtrip({"obj": thing, "arr": objects, "ok": 1}, hook) == {"obj": ("handle", 2), "arr": ("handle", 3), "ok": 1}
    assert seen[1] is thing and seen[2] is objects
    cyclic = []
    cyclic.append(cyclic)
    assert roundtrip(cyclic, hook) == [("handle", len(seen))]


@pytest.mark.parametrize("tree, buffers, why", [
    ({"$": "nd", "i": 0, "dtype": "|O", "shape": [1]}, [b"\0" * 8], "dtype"),
    ({"$": "nd", "i": 0, "dtype": "<f8", "shape": [3]}, [b"\0" * 8], "size"),
    ({"$": "nd", "i": 5, "dtype": "<f8", "shape": [1]}, [b"\0" * 8], "index"),
    ({"$": "nd", "i": 0, "dtype": "<f8", "shape": [-1]}, [b"\0" * 8], "shape"),
    ({"$": "pickle", "v": "gASVAAAA"}, [], "tag"),
    ({"$": "float", "v": "1e999"}, [], "float"),
    ({"$": "dtype", "v": "object"}, [], "dtype"),
])
def test_malformed_values_are_refused(tree, buffers, why):
    with pytest.raises(protocol.ProtocolError):
        protocol.decode(tree, [memoryview(b) for b in buffers], lambda t: None)


def test_malformed_frames_are_refused():
    with pytest.raises(protocol.ProtocolError):
        protocol.parse_head(b"EVIL" + b"\0" * 12, 1 << 20)
    with pytest.raises(protocol.ProtocolError):
        protocol.parse_head(struct.pack("<4sIQ", protocol.MAGIC, 10, 1 << 40), 1 << 20)
    with pytest.raises(protocol.ProtocolError):
        protocol.parse_body(b'{"ok": tr', b"")
    with pytest.raises(protocol.ProtocolError):
        protocol.parse_body(json.dumps({"ok": True, "bufs": [4]}).encode(), b"12")
    with pytest.raises(protocol.ProtocolError):
        protocol.parse_body(b"[" * 100000 + b"]" * 100000, b"")
