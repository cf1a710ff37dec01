"""Throughput of the training stage: one epoch of the seed's final net, against its matmul floor.

One epoch (49,000 CIFAR-shaped images, batch 100) of the reference 4x500 batchnorm + dropout net
trained with adam, timed two ways in one run, each as a ratio to the same run's time for the
epoch's matrix products alone (forward, dW and dX of every affine layer, float32, one BLAS thread):
the physical floor on this CPU. Target for the grader path: <= 1.5.

  solver  -- the trusted Solver in this process (model + update rule, no grader overhead)
  grader  -- train_and_score(engine="reference"): sandboxed child, per-epoch snapshot, evaluation

Every time is taken twice: wall clock, and CPU time (for the grader: the child's count of its
training plus the parent's evaluation), which other processes on a shared machine inflate less.
The floor is measured around every run, and each row is the fastest of --repeat rounds (the
usual estimator when other processes only ever add time).

    .venv/bin/python bench/train_throughput.py [--level auto|bwrap|unshare|none] [--n 49000] [--repeat 2]
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


@dataclasses.dataclass
class Timing:
    wall: float
    cpu: float


class Stopwatch:
    """Wall and process CPU time of a ``with`` block."""

    def __enter__(self) -> "Stopwatch":
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.timing = Timing(time.perf_counter() - self._wall, time.process_time() - self._cpu)


def matmul_floor(steps: int) -> Timing:
    """The epoch's matrix products alone: forward x@W, backward dout@W.T and x.T@dout."""
    rng = np.random.default_rng(0)
    dims = [D] + HIDDEN + [C]
    ws = [rng.standard_normal((a, b), dtype=np.float32) for a, b in zip(dims[:-1], dims[1:])]
    xs = [rng.standard_normal((BATCH, a), dtype=np.float32) for a in dims[:-1]]
    gs = [rng.standard_normal((BATCH, b), dtype=np.float32) for b in dims[1:]]
    with Stopwatch() as c:
        for _ in range(steps):
            for i, (w, x, g) in enumerate(zip(ws, xs, gs)):
                x @ w
                x.T @ g
                g @ w.T  # the course's affine_backward computes dx for the first layer too
    return c.timing


def write_data(folder: Path, n: int, n_val: int = 1000) -> dict[str, Path]:
    rng = np.random.default_rng(1)
    files = {}
    for name, arr in (("X_train", rng.standard_normal((n, 3, 32, 32), dtype=np.float32) * 60),
                      ("y_train", rng.integers(0, C, n)), ("X_val", rng.standard_normal((n_val, 3, 32, 32), dtype=np.float32) * 60),
                      ("y_val", rng.integers(0, C, n_val))):
        files[name] = folder / f"{name}.npy"
        np.save(files[name], arr)
    return files


def solver_epoch(files: dict[str, Path]) -> Timing:
    data = {k: np.load(p, mmap_mode="r") for k, p in files.items()}
    np.random.seed(0)
    model = ref_fc_net.FullyConnectedNet(HIDDEN, dropout=0.8, use_batchnorm=True, weight_scale=0.05)
    solver = helpers.solver.Solver(model, data, update_rule=ref_optim.adam, optim_config={"learning_rate": 1e-3},
                                   batch_size=BATCH, num_epochs=1, verbose=False)
    steps = len(data["y_train"]) // BATCH
    with Stopwatch() as c:
        for _ in range(steps):
            solver._step()
    return c.timing


def grader_epoch(files: dict[str, Path], level: str) -> tuple[Timing, dict]:
    """The first epoch as the grader records it (from the end of the model's build)."""
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
    cpu = epochs[0].get("cpu_seconds")
    return Timing(epochs[0]["seconds"], float("nan") if cpu is None else cpu), out.extra


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--level", default="auto")
    ap.add_argument("--n", type=int, default=49000, help="training images (one epoch = n / 100 steps)")
    ap.add_argument("--repeat", type=int, default=2, help="rounds; every row keeps its fastest")
    args = ap.parse_args()
    steps = args.n // BATCH
    floors, solvers, graders = [], [], []
    with tempfile.TemporaryDirectory(prefix="nndl-bench-") as tmp, threadpool_limits(limits=1):
        files = write_data(Path(tmp), args.n)
        for _ in range(max(args.repeat, 1)):
            floors.append(matmul_floor(steps))  # the machine is shared: bracket every run
            solvers.append(solver_epoch(files))
            floors.append(matmul_floor(steps))
            timing, extra = grader_epoch(files, args.level)
            graders.append(timing)
        floors.append(matmul_floor(steps))
    floor, solver, grader = (Timing(min(t.wall for t in ts), min(t.cpu for t in ts))
                             for ts in (floors, solvers, graders))
    print(f"one epoch = {steps} steps of batch {BATCH}, net {HIDDEN} + batchnorm + dropout 0.8, adam, float32, 1 BLAS thread")
    print(f"{'':20s} {'wall s':>8s} {'ratio':>6s} {'cpu s':>8s} {'ratio':>6s}")
    rows = [("matmul floor", floor), ("Solver in process", solver), (f"grader ({extra['sandbox_level']})", grader)]
    for name, t in rows:
        print(f"{name:20s} {t.wall:8.2f} {t.wall / floor.wall:6.2f} {t.cpu:8.2f} {t.cpu / floor.cpu:6.2f}")
    for name, ts in (("floor", floors), ("Solver", solvers), ("grader", graders)):
        print(f"  {name} runs, wall s: {', '.join(f'{t.wall:.2f}' for t in ts)}")
    print("target for the grader: <= 1.5")


if __name__ == "__main__":
    main()
