"""Real CIFAR-10 through the grader's training stage: X and seconds per epoch.

Trains the seed notebook's final config (4x500, batchnorm, dropout keep 0.8, weight_scale 0.05,
adam 1e-3, lr_decay 0.95, batch 100) with ``train_and_score`` -- sandboxed child, per-epoch
snapshots, validation accuracy in the parent -- and prints every epoch, X and the score formula.
X should exceed 55% with enough epochs. Needs /work/shared/data/cifar-10-batches-py (or --data);
without it, it says so and exits 0.

    .venv/bin/python bench/real_accuracy.py [--epochs 10] [--engine reference|student] [--level auto]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autograder import PROJECT_ROOT  # noqa: E402
from autograder.data import default_cache_root, prepare_splits  # noqa: E402
from autograder.rubric import load_rubric  # noqa: E402
from autograder.training import train_and_score  # noqa: E402

DEFAULT_DATA = Path("/work/shared/data/cifar-10-batches-py")
SEED_CONFIG = {
    "model_module": "nndl.fc_net", "model_class": "FullyConnectedNet",
    "model_args": [[500, 500, 500, 500]],
    "model_kwargs": {"dropout": 0.8, "use_batchnorm": True, "weight_scale": 0.05},
    "solver_kwargs": {"update_rule": "adam", "optim_config": {"learning_rate": 1e-3}, "lr_decay": 0.95,
                      "batch_size": 100, "num_epochs": 50, "verbose": True, "print_every": 500},
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--epochs", type=int, default=10, help="cap (rubric max_epochs) for this run")
    ap.add_argument("--time-limit", type=float, default=3600.0)
    ap.add_argument("--engine", choices=("reference", "student"), default="reference",
                    help="student: a staged copy of the reference nndl trained as a submission")
    ap.add_argument("--level", default="auto")
    ap.add_argument("--blas-threads", type=int, default=1)
    ap.add_argument("--json", type=Path, help="also write the training extra_data here")
    args = ap.parse_args()
    if not (args.data / "data_batch_1").is_file():
        print(f"SKIP: no CIFAR-10 at {args.data} (pass --data DIR); nothing measured")
        return 0

    t = time.perf_counter()
    splits = prepare_splits(args.data, default_cache_root() / "splits")
    print(f"splits ready in {time.perf_counter() - t:.1f} s ({splits.dir})")
    rubric = load_rubric()
    rubric = dataclasses.replace(rubric, training=dataclasses.replace(
        rubric.training, engine=args.engine, max_epochs=args.epochs, time_limit=args.time_limit))
    with tempfile.TemporaryDirectory(prefix="nndl-real-") as tmp:
        root = Path(tmp)
        shutil.copytree(PROJECT_ROOT / "reference" / "nndl", root / "nndl")
        staged = types.SimpleNamespace(id="reference", root=root)
        out = train_and_score(staged, SEED_CONFIG, rubric, splits, level=args.level, claimed=0.607,
                              blas_threads=args.blas_threads, progress=lambda e: print(
                                  f"  epoch {e['epoch']:>5}: val_acc {e['val_acc']:.3f} at {e['seconds']:.0f} s", flush=True))
    extra = out.extra
    for e in extra["epochs"]:
        print(f"epoch {e['epoch']:>5}: train_loss {e['train_loss'] or float('nan'):.3f}  "
              f"val_acc {e['val_acc']:.3f}  at {e['seconds']:.0f} s")
    print(f"engine {extra['engine']}, sandbox {extra['sandbox_level']}, {args.blas_threads} BLAS thread(s)")
    print(f"X = {extra['accuracy']}  (epoch {extra['selected_epoch']}, stopped: {extra['stopped_reason']})")
    print(f"seconds per epoch: {extra['seconds_per_epoch']}")
    print(f"score: {extra['score_formula']}")
    print(f"flags: {extra['flags']}")
    if args.json:
        args.json.write_text(json.dumps(extra, indent=1, default=str))
    return 0 if extra["epochs"] else 1


if __name__ == "__main__":
    sys.exit(main())
