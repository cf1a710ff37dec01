"""Throughput of the training stage: one epoch of the seed's final net, against its matmul floor.

One epoch (49,000 CIFAR-shaped images, batch 100) of the reference 4x500 batchnorm + dropout net
trained with adam, timed three ways in one run, each as a ratio to the same run's time for the
epoch's matrix products alone (forward, dW and dX of every affine layer, float32, one BLAS thread):
the physical floor on this CPU. Target for the grader path: <= 1.5.

  solver  -- the trusted Solver in this process (model + update rule, no grader overhead)
  grader  -- train_and_score(engine="reference"): sandboxed child, per-epoch snapshot, evaluation

    .venv/bin/python bench/train_throughput.py [--level auto|bwrap|unshare|none] [--n 49000]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autograder.refimpl import helpers, ref_fc_net, ref_optim  # noqa: E402
from autograder.rubric import load_rubric  # noqa: E402

HIDDEN = [500, 500, 500, 500]
BATCH = 100
D, C = 3 * 32 * 32, 10


def matmul_floor(steps: int) -> float:
    """Seconds for the epoch's matrix products alone: forward x@W, backward dout@W.T and x.T@dout."""
    rng = np.random.default_rng(0)
    dims = [D] + HIDDEN + [C]
    ws = [rng.standard_normal((a, b), dtype=np.float32) for a, b in zip(dims[:-1], dims[1:])]
    xs = [rng.standard_normal((BATCH, a), dtype=np.float32) for a in dims[:-1]]
    gs = [rng.standard_normal((BATCH, b), dtype=np.float32) for b in dims[1:]]
    t = time.perf_counter()
    for _ in range(steps):
        for i, (w, x, g) in enumerate(zip(ws, xs, gs)):
            x @ w
            x.T @ g
            g @ w.T  # the course's affine_backward computes dx for the first layer too
    return time.perf_counter() - t


def write_data(folder: Path, n: int, n_val: int = 1000) -> dict[str, Path]:
    rng = np.random.default_rng(1)
    files = {}
    for name, arr in (("X_train", rng.standard_normal((n, 3, 32, 32), dtype=np.float32) * 60),
                      ("y_train", rng.integers(0, C, n)), ("X_val", rng.standard_normal((n_val, 3, 32, 32), dtype=np.float32) * 60),
                      ("y_val", rng.integers(0, C, n_val))):
        files[name] = folder / f"{name}.npy"
        np.save(files[name], arr)
    return files


def solver_epoch(files: dict[str, Path]) -> float:
    data = {k: np.load(p, mmap_mode="r") for k, p in files.items()}
    np.random.seed(0)
    model = ref_fc_net.FullyConnectedNet(HIDDEN, dropout=0.8, use_batchnorm=True, weight_scale=0.05)
    solver = helpers.solver.Solver(model, data, update_rule=ref_optim.adam, optim_config={"learning_rate": 1e-3},
                               batch_size=BATCH, num_epochs=1, verbose=False)
    steps = len(data["y_train"]) // BATCH
    t = time.perf_counter()
    for _ in range(steps):
        solver._step()
    return time.perf_counter() - t


def grader_epoch(files: dict[str, Path], level: str) -> tuple[float, dict]:
    from autograder.training import train_and_score

    rubric = load_rubric()
    rubric = dataclasses.replace(rubric, training=dataclasses.replace(rubric.training, engine="reference"))
    config = {"model_module": "nndl.fc_net", "model_class": "FullyConnectedNet", "model_args": [HIDDEN],
              "model_kwargs": {"dropout": 0.8, "use_batchnorm": True, "weight_scale": 0.05},
              "solver_kwargs": {"update_rule": "adam", "optim_config": {"learning_rate": 1e-3},
                                "lr_decay": 0.95, "batch_size": BATCH, "num_epochs": 1}}
    out = train_and_score(types.SimpleNamespace(root=None), config, rubric, files, level=level)
    epochs = out.extra["epochs"]
    if not epochs:
        raise SystemExit(f"grader run failed: {out.check.message}")
    return epochs[0]["seconds"], out.extra


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--level", default="auto")
    ap.add_argument("--n", type=int, default=49000, help="training images (one epoch = n / 100 steps)")
    args = ap.parse_args()
    steps = args.n // BATCH
    with tempfile.TemporaryDirectory(prefix="nndl-bench-") as tmp, threadpool_limits(limits=1):
        files = write_data(Path(tmp), args.n)
        floor = matmul_floor(steps)
        solver = solver_epoch(files)
        grader, extra = grader_epoch(files, args.level)
        floor_after = matmul_floor(steps)  # the machine is shared: bracket the runs
    floor = min(floor, floor_after)
    print(f"one epoch = {steps} steps of batch {BATCH}, net {HIDDEN} + batchnorm + dropout 0.8, adam, float32, 1 BLAS thread")
    print(f"matmul floor        : {floor:7.2f} s   (ratio 1.00)")
    print(f"Solver in process   : {solver:7.2f} s   ratio {solver / floor:.2f}")
    print(f"grader ({extra['sandbox_level']:>7})    : {grader:7.2f} s   ratio {grader / floor:.2f}   (target <= 1.5)")


if __name__ == "__main__":
    main()
