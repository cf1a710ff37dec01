"""The training stage end to end, on a small synthetic dataset, through the real sandbox.

Tiny nets and few epochs keep the whole file well under a minute on two busy cores. The "good"
student is a copy of the reference ``nndl`` (the tests are about the grader, not about student code).
"""

from __future__ import annotations

import dataclasses
import shutil
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest

from autograder import PROJECT_ROOT
from autograder.rubric import load_rubric
from autograder.training import train_and_score

N_TRAIN, N_VAL = 1000, 200
SMALL = {"model_module": "nndl.fc_net", "model_class": "FullyConnectedNet", "model_args": [[40]],
         "model_kwargs": {"weight_scale": 1e-2, "dtype": {"__dtype__": "float32"}},
         "solver_kwargs": {"update_rule": "adam", "optim_config": {"learning_rate": 1e-3},
                           "batch_size": 50, "num_epochs": 3, "lr_decay": 0.95, "verbose": True},
         "claimed_val_acc": None}


def _rubric(**training):
    rubric = load_rubric()
    return dataclasses.replace(rubric, training=dataclasses.replace(rubric.training, **training))


def _student(root: Path, **modules: str) -> types.SimpleNamespace:
    """A staged submission: the reference nndl, with some modules replaced or added."""
    shutil.copytree(PROJECT_ROOT / "reference" / "nndl", root / "nndl",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name, source in modules.items():
        (root / "nndl" / f"{name}.py").write_text(textwrap.dedent(source))
    return types.SimpleNamespace(id=root.name, root=root)


@pytest.fixture(scope="module")
def splits(make_splits):
    return make_splits(N_TRAIN, N_VAL, 100, n_train=N_TRAIN + N_VAL, n_test=100, seed=3)


def test_good_config_scores_high_and_flags_a_false_claim(tmp_path, splits):
    staged = _student(tmp_path / "good")
    seen = []
    # the split files alone (not the Splits object, which says "synthetic") stand for real data here
    out = train_and_score(staged, SMALL, _rubric(), dict(splits.files), claimed=0.35, progress=seen.append)
    extra = out.extra
    assert seen == extra["epochs"]
    assert out.check.check_id == "training.accuracy" and out.check.part == "training"
    assert extra["epochs_run"] == 3 and [e["epoch"] for e in extra["epochs"]] == [1, 2, 3]
    assert extra["evaluation"] == "reference_forward"
    assert extra["accuracy"] == max(e["val_acc"] for e in extra["epochs"])
    assert extra["accuracy"] > 0.6, extra          # synthetic classes are learnable
    assert out.check.score == pytest.approx(25 * min(max((np.floor(100 * extra["accuracy"]) - 32) / 28, 0), 1))
    assert extra["score_formula"].startswith(f"clamp((floor({100 * extra['accuracy']:.2f}".rstrip("0").rstrip("."))
    assert extra["claimed_accuracy"] == 0.35 and "claim_mismatch" in extra["flags"]
    assert "flagged for review" in out.check.message
    assert extra["stopped_reason"] == "completed" and extra["engine"] == "student"
    assert all(e["train_loss"] is not None and e["train_loss"] > 0 for e in extra["epochs"])
    assert all(0.0 <= e["train_acc"] <= 1.0 for e in extra["epochs"]) and extra["epochs"][-1]["train_acc"] > 0.5
    # CPU seconds, like seconds, count from the start of training: positive and growing.
    cpu = [e["cpu_seconds"] for e in extra["epochs"]]
    assert 0 < cpu[0] < cpu[1] < cpu[2] < extra["epochs"][-1]["seconds"] + 1, extra["epochs"]


def test_claims_are_not_compared_on_synthetic_data(tmp_path, splits):
    assert splits.synthetic
    config = {**SMALL, "solver_kwargs": {**SMALL["solver_kwargs"], "num_epochs": 1}}
    out = train_and_score(_student(tmp_path / "s"), config, _rubric(), splits, claimed=0.35)
    assert out.extra["claimed_accuracy"] == 0.35 and out.extra["synthetic_data"] is True
    assert "claim_mismatch" not in out.extra["flags"]
    assert "not compared" in out.check.message


def test_same_seed_same_result(tmp_path, splits):
    staged = _student(tmp_path / "twice")
    config = dict(SMALL, solver_kwargs=dict(SMALL["solver_kwargs"], num_epochs=1))
    first = train_and_score(staged, config, _rubric(), splits)
    second = train_and_score(staged, config, _rubric(), splits)
    assert first.extra["epochs"][0]["val_acc"] == second.extra["epochs"][0]["val_acc"]
    assert first.extra["epochs"][0]["train_loss"] == second.extra["epochs"][0]["train_loss"]


def test_broken_model_scores_zero_with_its_traceback(tmp_path, splits):
    staged = _student(tmp_path / "broken", fc_net="""
        import numpy as np
        class FullyConnectedNet(object):
            def __init__(self, hidden_dims, **kwargs):
                self.params = {"W1": np.zeros((3072, 10))}
                self.half_done = hidden_dims[7]   # IndexError: the student's bug
    """)
    out = train_and_score(staged, SMALL, _rubric(), splits, claimed=0.6)
    assert out.check.score == 0 and out.check.status == "error"
    assert "IndexError" in out.check.message and "could not be built" in out.check.message
    assert out.extra["epochs"] == [] and out.extra["accuracy"] is None
    assert "claim_mismatch" not in out.extra["flags"]


def test_failure_during_training_keeps_the_epochs_already_trained(tmp_path, splits):
    staged = _student(tmp_path / "late", custom="""
        from .fc_net import FullyConnectedNet
        class LateFailure(FullyConnectedNet):
            calls = 0
            def loss(self, X, y=None):
                LateFailure.calls += 1
                if y is not None and LateFailure.calls > 30:     # epoch 1 is 20 steps
                    raise FloatingPointError("exploded in epoch 2")
                return super().loss(X, y)
    """)
    config = dict(SMALL, model_module="nndl.custom", model_class="LateFailure")
    out = train_and_score(staged, config, _rubric(), splits)
    assert out.extra["stopped_reason"] == "student_error"
    assert out.extra["epochs_run"] == 1 and out.check.score > 0
    assert "FloatingPointError" in out.check.message
    assert out.extra["evaluation"] == "predictions"   # a subclass: its own predictions are scored


def test_time_budget_stops_training_and_scores_the_best_epoch(tmp_path, splits):
    staged = _student(tmp_path / "slow")
    config = dict(SMALL, model_args=[[200, 200]],
                  solver_kwargs=dict(SMALL["solver_kwargs"], num_epochs=400, batch_size=20))
    out = train_and_score(staged, config, _rubric(max_epochs=1000), splits, time_limit=1.5)
    extra = out.extra
    assert extra["stopped_reason"] == "time_limit" and "training_time_limit" in extra["flags"]
    assert 1 <= len(extra["epochs"]) and extra["epochs_run"] < 400
    assert extra["accuracy"] == max(e["val_acc"] for e in extra["epochs"])
    assert extra["epochs"][-1]["seconds"] < 1.5 + 5  # stopped near the budget, not at 400 epochs
    assert "time limit" in out.check.message and out.check.score > 0


def test_epochs_are_capped_by_the_rubric(tmp_path, splits):
    staged = _student(tmp_path / "capped")
    config = dict(SMALL, solver_kwargs=dict(SMALL["solver_kwargs"], num_epochs=50))
    out = train_and_score(staged, config, _rubric(max_epochs=2, select="last"), splits)
    assert out.extra["epochs_run"] == 2 and out.extra["epochs_requested"] == 50
    assert out.extra["accuracy"] == out.extra["epochs"][-1]["val_acc"]
    assert "at most 2" in out.check.message


def test_reference_engine_ignores_the_students_code(tmp_path, splits):
    staged = _student(tmp_path / "refengine", fc_net="raise ImportError('student fc_net is broken')\n")
    config = dict(SMALL, solver_kwargs=dict(SMALL["solver_kwargs"], num_epochs=1))
    broken = train_and_score(staged, config, _rubric(), splits)
    assert broken.check.score == 0
    out = train_and_score(staged, config, _rubric(engine="reference"), splits)
    assert out.extra["engine"] == "reference" and out.extra["accuracy"] > 0.5


def test_reference_optimizers_replace_a_broken_update_rule(tmp_path, splits):
    staged = _student(tmp_path / "optim", optim="""
        def adam(w, dw, config=None):
            return w, config     # never moves: a student who forgot to write adam
    """)
    config = dict(SMALL, solver_kwargs=dict(SMALL["solver_kwargs"], num_epochs=1))
    own = train_and_score(staged, config, _rubric(), splits)
    fixed = train_and_score(staged, config, _rubric(optimizers="reference"), splits)
    assert own.extra["accuracy"] < 0.3 < 0.5 < fixed.extra["accuracy"]


# ---- a model that goes looking for the validation labels ---------------------------------------

HOSTILE = '''
import glob, json, os, re, time
import numpy as np
from . import fc_net as _real

def _candidates(n_val, roots, budget=6.0):
    """Every int array of n_val labels 0..9 the process can reach: files, environment, /proc."""
    deadline, found = time.monotonic() + budget, []
    def consider(path):
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
            if arr.ndim == 1 and len(arr) == n_val and arr.dtype.kind in "iu" and arr.max() < 10:
                found.append(np.array(arr))
        except Exception:
            pass
    paths = []                                              # most promising first
    for value in os.environ.values():                       # environment: paths and JSON of paths
        for token in re.findall(r"/[^\\s\\"':,]+", value):
            paths += [os.path.dirname(token), token]
    for proc in glob.glob("/proc/[0-9]*"):                  # other processes: fds, cwd, root, environ
        paths += [os.path.join(proc, sub) for sub in ("cwd", "root/tmp", "root" + os.getcwd())]
        try:
            paths += [os.path.realpath(p) for p in glob.glob(proc + "/fd/*")]
            paths += re.findall(r"/[^\\x00=:]+", open(proc + "/environ", "rb").read().decode("latin1"))
        except Exception:
            pass
    for path in paths:                                      # the files named, and their siblings
        try:
            names = [os.path.join(path, f) for f in os.listdir(path)] if os.path.isdir(path) else [path]
        except Exception:
            continue
        for name in names:
            if name.endswith(".npy") and not found:
                consider(name)
    for root in roots:                                      # then everything else it can walk
        for dirpath, dirs, files in os.walk(root):
            if time.monotonic() > deadline or found:
                break
            dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev", "usr", "lib", "lib64")]
            for f in files:
                if f.endswith(".npy"):
                    consider(os.path.join(dirpath, f))
    return found or _scan_memory(n_val, deadline)

def _scan_memory(n_val, deadline):
    """Other processes' memory (the parent's above all): npy headers of an (n_val,) array."""
    out = []
    for proc in glob.glob("/proc/[0-9]*"):
        if proc.endswith("/" + str(os.getpid())):
            continue
        try:
            maps = open(proc + "/maps").read().splitlines()
            mem = open(proc + "/mem", "rb")
        except Exception:
            continue
        for line in maps:
            if time.monotonic() > deadline:
                return out
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            if "rw" not in line.split()[1] or hi - lo > 64 << 20:
                continue
            try:
                mem.seek(lo); blob = mem.read(hi - lo)
            except Exception:
                continue
            for m in re.finditer(rb"\\x93NUMPY.{4,8}\\{.{0,100}'shape': \\(%d,\\)" % n_val, blob, re.S):
                body = blob.find(b"\\n", m.end()) + 1
                arr = np.frombuffer(blob[body:body + 8 * n_val], dtype=np.int64)
                if len(arr) == n_val and arr.min() >= 0 and arr.max() < 10:
                    out.append(arr.copy())
    return out

class FullyConnectedNet(_real.FullyConnectedNet):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        files = json.loads(os.environ.get("NNDL_GRADER_FILES", "{}"))
        self.X_val = np.load(files["X_val"], mmap_mode="r") if "X_val" in files else None
        n_val = len(self.X_val) if self.X_val is not None else 0
        found = _candidates(n_val, ["/"]) if n_val else []
        self.y_val = found[0] if found else None
        print("HOSTILE found", len(found), "candidate label arrays; searched", sorted(os.listdir("/")))

    def loss(self, X, y=None):
        if y is None:
            return super().loss(X)
        if self.y_val is not None:                          # cheat: fit the validation set
            idx = np.random.choice(len(self.y_val), len(y))
            return super().loss(np.asarray(self.X_val[idx]), self.y_val[idx])
        loss, grads = super().loss(X, y)                    # otherwise learn nothing at all
        return loss, {k: np.zeros_like(v) for k, v in grads.items()}
'''


def _hostile(tmp_path):
    staged = _student(tmp_path / "hostile", hostile=HOSTILE)
    config = dict(SMALL, model_module="nndl.hostile",
                  solver_kwargs=dict(SMALL["solver_kwargs"], num_epochs=2))
    return staged, config


def test_hostile_model_finds_labels_when_nothing_hides_them(tmp_path, splits):
    """The attack is real: with no isolation the labels sit next to the images it was handed."""
    staged, config = _hostile(tmp_path)
    out = train_and_score(staged, config, _rubric(), splits, level="none")
    assert out.extra["accuracy"] > 0.6
    assert "weak_sandbox" in out.extra["flags"]


def test_hostile_model_scores_chance_in_the_sandbox(tmp_path, splits):
    from autograder.sandbox import launcher

    if "bwrap" not in launcher.available_levels():
        pytest.skip("bubblewrap is not available: filesystem isolation cannot be tested here")
    staged, config = _hostile(tmp_path)
    out = train_and_score(staged, config, _rubric(), splits, level="bwrap")
    assert out.extra["sandbox_level"] == "bwrap" and out.extra["epochs_run"] == 2
    chance = np.bincount(np.load(splits.files["y_val"])).max() / N_VAL
    assert out.extra["accuracy"] <= chance + 0.05, out.extra


def test_cpu_seconds_from_the_child_are_summed_only_while_plausible():
    """The child's CPU count is its claim: one implausible report ends the running total."""
    from autograder.training.job import _add_cpu

    assert _add_cpu(0.0, 1.5) == 1.5 and _add_cpu(1.5, 2) == 3.5
    for bad in (None, True, float("nan"), float("inf"), -0.1, "3", [1.0]):
        assert _add_cpu(1.5, bad) is None, bad
    assert _add_cpu(None, 2.0) is None
