"""The Sandbox API on a well-behaved submission: values, handles, records, environment inside."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from autograder.sandbox import (HandleLost, Sandbox, StudentError, WorkerCrashed, build_command)
from hostile.sandbox_support import TEST_LIMITS, require, require_level, staged_case


@pytest.fixture
def sb(tmp_path):
    with Sandbox(staged_case("benign", tmp_path), TEST_LIMITS, level="auto") as box:
        yield box


def test_arrays_and_caches_cross_both_ways(sb):
    x = np.random.default_rng(0).standard_normal((50, 40)).astype(np.float32)
    out, cache = sb.call("nndl.layers:dropout_forward", x, {"mode": "train", "p": 0.5})
    assert out.dtype == np.float32 and out.shape == x.shape
    param, mask = cache
    assert param == {"mode": "train", "p": 0.5}
    np.testing.assert_allclose(out, x * mask)
    kept = sb.call("nndl.layers:dropout_forward", x, {"mode": "train", "p": 0.5}, keep=True)
    np.testing.assert_array_equal(sb.get(kept[1][1]), sb.get(kept)[1][1])  # handle indexing


def test_put_lets_the_student_mutate_a_value(sb):
    bn_param = sb.put({"mode": "train"})
    x = np.arange(6.0).reshape(3, 2)
    sb.call("nndl.layers:batchnorm_forward", x, np.ones(2), np.zeros(2), bn_param)
    np.testing.assert_allclose(sb.get(bn_param)["running_mean"], [2.0, 3.0])


def test_objects_stay_behind_handles(sb):
    net = sb.call("nndl.fc_net:Net", 3, dropout=0.25)
    assert net.type_name == "Net"
    params = sb.getattr(net, "params")
    np.testing.assert_array_equal(params["W1"], np.ones((3, 2)))
    sb.setitem(sb.getattr(net, "params", keep=True), "W1", np.full((3, 2), 2.0))
    sb.setattr(net, "dropout_param", {"mode": "test", "p": 0.25})
    out, _ = sb.call_method(net, "loss", np.ones((4, 3)))
    np.testing.assert_allclose(out, np.full((4, 2), 6.0))


def test_record_calls_sees_star_imported_copies_and_survives_restart(sb):
    sb.record_calls("dropout_forward")
    net = sb.call("nndl.fc_net:Net", 3)
    sb.call_method(net, "loss", np.ones((2, 3)))  # fc_net's own `from .layers import *` name
    records = sb.take_records("dropout_forward")
    assert len(records) == 1
    np.testing.assert_allclose(records[0]["args"][0], np.full((2, 2), 3.0))
    assert sb.take_records("dropout_forward") == []
    with pytest.raises(WorkerCrashed):
        sb.call("os:_exit", 9)
    with pytest.raises(HandleLost):
        sb.call_method(net, "loss", np.ones((2, 3)))
    sb.call("nndl.layers:dropout_forward", np.ones(2), {"mode": "test", "p": 1.0})
    assert len(sb.take_records("dropout_forward")) == 1
    sb.stop_recording("dropout_forward")
    sb.call("nndl.layers:dropout_forward", np.ones(2), {"mode": "test", "p": 1.0})
    assert sb.take_records("dropout_forward") == []


def test_student_traceback_keeps_only_student_frames(sb):
    with pytest.raises(StudentError) as info:
        sb.call("nndl.layers:shape_bug", 1)
    assert info.value.exc_type == "ValueError"
    assert [f[2] for f in info.value.frames] == ["shape_bug", "helper"]
    assert all(f[0] == "nndl/layers.py" for f in info.value.frames)
    assert "worker.py" not in info.value.traceback and "np.ones(3) @ np.ones(4)" in info.value.traceback


def test_old_numpy_aliases_work_and_are_reported(sb):
    assert sb.call("nndl.layers:old_numpy", np.ones((2, 3))) == 7.0
    assert any("np.product was used" in w for w in sb.warnings)
    assert any("np.float was used" in w for w in sb.warnings)


def test_output_is_captured_not_mixed_with_results(sb):
    assert sb.call("nndl.layers:say", "hello") == 5
    assert "hello" in sb.stdout and "err:hello" in sb.stderr


def test_output_printed_during_a_call_is_visible_when_it_returns(sb):
    # Once raced: the reader thread could hold a chunk it had read but not yet stored.
    for i in range(40):
        word = f"w{i:02d}x"
        sb.call("nndl.layers:say", word)
        assert f"err:{word}" in sb.stderr and word in sb.stdout, i


def test_trusted_helpers_shadow_the_students_copy(sb):
    for name in ("cs231n", "utils"):
        module = sb.call("importlib:import_module", name)
        path = sb.getattr(module, "__file__")
        assert not path.startswith(str(sb.root)), path
        assert "pkgs" in path


def test_broken_init_is_bypassed(tmp_path):
    with Sandbox(staged_case("broken_init", tmp_path), TEST_LIMITS) as sb:
        assert sb.call("nndl.layers:double", 3) == 6
        assert any("nndl/__init__.py failed" in w and "bypassed" in w for w in sb.warnings)


def test_missing_init_is_a_namespace_package(sb):
    assert not (sb.root / "nndl" / "__init__.py").exists()
    assert sb.call("nndl.layers:double", 2) == 4
    assert not any("bypassed" in w for w in sb.warnings)


def test_matplotlib_is_forced_to_agg(tmp_path):
    with Sandbox(staged_case("matplotlib_user", tmp_path), TEST_LIMITS) as sb:
        sb.import_module("nndl.layers", timeout=60)
        assert sb.call("nndl.layers:backend").lower() == "agg"


@pytest.mark.parametrize("level", ["bwrap", "unshare", "none"])
def test_data_files_are_handed_over_and_nothing_else(tmp_path, level):
    data = tmp_path / "data"
    data.mkdir()
    np.save(data / "X_train.npy", np.arange(5.0))
    np.save(data / "y_val.npy", np.arange(3))
    root = staged_case("benign", tmp_path)
    with Sandbox(root, TEST_LIMITS, level=require_level(level), data_files={"X_train": data / "X_train.npy"}) as sb:
        path = sb.call("grader_inside:data_path", "X_train")
        np.testing.assert_array_equal(sb.call("numpy:load", path), np.arange(5.0))
        with pytest.raises(StudentError):
            sb.call("grader_inside:data_path", "y_val")
        require(sb, "filesystem isolation")
        assert sb.call("os.path:exists", str(data / "y_val.npy")) is False


@pytest.mark.parametrize("level", ["bwrap", "unshare", "none"])
def test_build_command_wraps_any_command(tmp_path, level, monkeypatch):
    monkeypatch.setenv("GRADER_SECRET", "s3cret")
    work, shared, conn = tmp_path / "work", tmp_path / "shared", tmp_path / "conn"
    for d in (work, shared, conn):
        d.mkdir()
    (shared / "given.txt").write_text("given")
    script = ("import os; print(os.getcwd()); print(os.environ.get('GRADER_SECRET'));"
              "print(os.environ['EXTRA']); print(open(os.environ['GIVEN']).read());"
              "open(os.path.join(os.environ['CONN'], 'k.json'), 'w').write('{}')")
    launch = build_command([sys.executable, "-I", "-c", script], level=require_level(level), workdir=work,
                           limits=TEST_LIMITS, ro_binds={str(shared): "/grader/shared"},
                           rw_binds=[str(conn)], env={"EXTRA": "yes"})
    try:
        launch.env.update(GIVEN=launch.inside(shared / "given.txt"), CONN=launch.inside(conn))
        proc = subprocess.run(launch.argv, env=launch.env, cwd=launch.cwd, preexec_fn=launch.preexec_fn,
                              capture_output=True, text=True, timeout=60)
    finally:
        launch.cleanup()
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:4] == [str(work), "None", "yes", "given"]
    assert (conn / "k.json").read_text() == "{}"
    assert launch.level == level and not launch.scratch.exists()
    if level == "bwrap":
        assert launch.inside(shared / "given.txt") == "/grader/shared/given.txt"
