"""Hostile submissions against every sandbox level available here.

Each case asserts what can be observed from outside: the typed outcome, the time it took, what is
left on disk or in the process table, what a listener received. Levels that cannot give a
guarantee skip the tests that need it, saying which guarantee (``hostile.sandbox_support.require``).
"""

from __future__ import annotations

import os
import socket
import time
import uuid

import numpy as np
import pytest

from autograder.sandbox import (CallTimeout, ProtocolViolation, Sandbox, StudentError,
                                StudentMemoryError, WorkerCrashed)
from hostile.sandbox_support import TEST_LIMITS, require, require_level, staged_case

pytestmark = pytest.mark.parametrize("level", ["bwrap", "unshare", "none"])


def open_sandbox(case, tmp_path, level, **kw):
    return Sandbox(staged_case(case, tmp_path), TEST_LIMITS, level=require_level(level), **kw)


def processes_with(token: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    if token.encode() in fh.read():
                        found.append(int(entry))
            except OSError:
                pass
    return found


def test_import_hang_costs_only_that_module(tmp_path, level):
    with open_sandbox("import_hang", tmp_path, level) as sb:
        start = time.monotonic()
        with pytest.raises(CallTimeout):
            sb.import_module("nndl.layers")
        assert time.monotonic() - start < TEST_LIMITS.import_timeout + 2.0
        w, _ = sb.call("nndl.optim:sgd", np.ones(3), np.ones(3))
        np.testing.assert_allclose(w, 0.5 * np.ones(3))
        assert sb.restarts == 1
        start = time.monotonic()  # a hung import is not retried: every later check fails fast
        with pytest.raises(CallTimeout, match="not retried"):
            sb.call("nndl.layers:double", 1)
        assert time.monotonic() - start < 1.0 and sb.restarts == 1  # well under the 1.5 s import timeout


def test_busy_loop_in_one_function_while_others_answer(tmp_path, level):
    with open_sandbox("busy_loop", tmp_path, level) as sb:
        assert sb.call("nndl.layers:double", 4) == 8
        start = time.monotonic()
        with pytest.raises(CallTimeout):
            sb.call("nndl.layers:spin")
        assert time.monotonic() - start < TEST_LIMITS.call_timeout + 2.0
        assert sb.call("nndl.layers:double", 5) == 10  # a fresh worker re-imported the module


def test_8gib_allocation_stopped_by_memory_limit(tmp_path, level):
    with open_sandbox("big_alloc", tmp_path, level) as sb:
        with pytest.raises((StudentMemoryError, WorkerCrashed)) as info:
            sb.call("nndl.layers:grab")
        if isinstance(info.value, WorkerCrashed):
            assert info.value.memory_suspected
        else:
            assert "512 MB" in str(info.value)
        assert sb.call("nndl.layers:double", 1) == 2


def test_fork_storm_leaves_no_process_behind(tmp_path, level):
    token = f"{4000 + uuid.uuid4().int % 1000}.{uuid.uuid4().int % 10**8:08d}"
    with open_sandbox("fork_storm", tmp_path, level) as sb:
        require(sb, "process isolation")
        with pytest.raises(CallTimeout):
            sb.call("nndl.layers:storm", token, 12)
        assert sb.call("os:getpid") > 0  # still usable after the storm
    deadline = time.monotonic() + 3.0
    while processes_with(token) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_with(token) == []


def test_connection_to_loopback_listener_never_arrives(tmp_path, level):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.3)
    port = listener.getsockname()[1]
    try:
        with open_sandbox("network", tmp_path, level) as sb:
            require(sb, "network isolation")
            outcome = sb.call("nndl.layers:connect", port)
            assert outcome.startswith("failed")
            with pytest.raises(socket.timeout):
                listener.accept()
    finally:
        listener.close()


def test_filesystem_search_finds_no_reference(tmp_path, level):
    marker = f"SECRET_{uuid.uuid4().hex}.txt"
    decoy = tmp_path / "reference" / "nndl"
    decoy.mkdir(parents=True)
    (decoy / "fc_net.py").write_text("SOLUTION = 1\n")
    (tmp_path / marker).write_text("labels\n")
    with open_sandbox("snoop", tmp_path, level) as sb:
        require(sb, "filesystem isolation")
        found = sb.call("nndl.layers:search", str(sb.root), [marker], timeout=60)
    assert found == []


def test_writes_outside_the_staged_copy_leave_no_trace(tmp_path, level):
    token = uuid.uuid4().hex
    root = staged_case("escape_writes", tmp_path)
    sibling = tmp_path / "staged" / "other_student"
    sibling.mkdir()
    targets = [
        root.parent / f"parent_{token}.txt",
        sibling / f"sibling_{token}.txt",
        tmp_path.parent / f"grandparent_{token}.txt",
        f"{os.path.expanduser('~')}/escape_{token}/home.txt",
        f"/tmp/escape_{token}.txt",
        f"/var/tmp/escape_{token}.txt",
    ]
    with Sandbox(root, TEST_LIMITS, level=require_level(level)) as sb:
        require(sb, "filesystem isolation")
        sb.call("nndl.layers:scribble", [str(t) for t in targets])
        assert sb.call("nndl.layers:scribble", [str(root / "mine.txt")]) == [str(root / "mine.txt")]
    assert [t for t in targets if os.path.exists(t)] == []
    assert (root / "mine.txt").read_text() == "escaped"  # its own copy is writable


def test_os_exit_and_segfault_are_crashes_of_one_call(tmp_path, level):
    with open_sandbox("crashes", tmp_path, level) as sb:
        with pytest.raises(WorkerCrashed) as exited:
            sb.call("nndl.layers:quit_now")
        assert exited.value.returncode == 3 and exited.value.signal is None
        assert sb.call("nndl.layers:double", 2) == 4
        with pytest.raises(WorkerCrashed) as segv:
            sb.call("nndl.layers:segfault")
        assert segv.value.signal == 11
        assert "Segmentation fault" in segv.value.detail
        assert sb.call("nndl.layers:double", 3) == 6
        assert sb.restarts == 2


def test_200mb_printed_at_import_is_capped(tmp_path, level):
    with open_sandbox("loud_import", tmp_path, level) as sb:
        sb.import_module("nndl.layers", timeout=30)
        assert sb.call("nndl.layers:double", 21) == 42
        out = sb.stdout
        assert len(out) < TEST_LIMITS.output_bytes + 200
        assert "bytes dropped" in out
        assert [w for w in sb.warnings if w.startswith("Output truncated")] == [
            f"Output truncated: the code printed more than {TEST_LIMITS.output_bytes} bytes on stdout; "
            "the rest was dropped."]
        dropped = int(out.rsplit("[... ", 1)[1].split(" ")[0])
        assert dropped == 200 * (1 << 20) - TEST_LIMITS.output_bytes


def test_sigterm_ignored_still_killed(tmp_path, level):
    with open_sandbox("sigterm", tmp_path, level) as sb:
        start = time.monotonic()
        with pytest.raises(CallTimeout):
            sb.call("nndl.layers:hang")
        assert time.monotonic() - start < TEST_LIMITS.call_timeout + 2.0
        assert sb.call("nndl.layers:double", 1) == 2
        proc = sb._proc
    assert proc.poll() is not None  # close() ended it although it ignores SIGTERM


def test_forged_protocol_bytes_are_a_violation(tmp_path, level):
    with open_sandbox("forge", tmp_path, level) as sb:
        with pytest.raises(ProtocolViolation):
            sb.call("nndl.layers:forge")
        assert sb.call("nndl.layers:double", 8) == 16


def test_numpy_monkeypatch_does_not_reach_the_parent(tmp_path, level):
    real_allclose = np.allclose
    with open_sandbox("monkeypatch_numpy", tmp_path, level) as sb:
        x = np.arange(4.0)
        got = sb.call("nndl.layers:wrong_double", x)
        assert sb.call("nndl.layers:child_says_equal", got, 2 * x) is True  # the child lies...
    assert np.allclose is real_allclose  # ...but the comparison runs here
    assert not np.allclose(got, 2 * x)
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(got, 2 * x)


def test_syntax_error_is_a_student_error(tmp_path, level):
    root = tmp_path / "sub"
    (root / "nndl").mkdir(parents=True)
    (root / "nndl" / "layers.py").write_text("def f(:\n    return 1\n")
    (root / "nndl" / "optim.py").write_text("def sgd(w, dw, config=None):\n    return w, config\n")
    with Sandbox(root, TEST_LIMITS, level=require_level(level)) as sb:
        with pytest.raises(StudentError) as info:
            sb.import_module("nndl.layers")
        assert info.value.exc_type == "SyntaxError"
        assert info.value.frames[-1][:2] == ("nndl/layers.py", 1)
        assert sb.call("nndl.optim:sgd", 1.0, 2.0) == (1.0, None)


def test_missing_module_and_function(tmp_path, level):
    with open_sandbox("benign", tmp_path, level) as sb:
        with pytest.raises(StudentError) as missing_module:
            sb.call("nndl.optim:adam", 1.0, 1.0)
        assert missing_module.value.exc_type == "ModuleNotFoundError"
        with pytest.raises(StudentError) as missing_fn:
            sb.call("nndl.layers:relu_backward", 1.0, None)
        assert missing_fn.value.exc_type == "AttributeError"
        assert sb.restarts == 0
