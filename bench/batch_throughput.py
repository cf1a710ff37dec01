"""Batch throughput: submissions per minute at --jobs 1 vs --jobs 2, and an unchanged rerun
vs the first run, measured in one run. Prints one JSON line.

    .venv/bin/python bench/batch_throughput.py [--copies 4] [--stages checks,notebook]

Grades K copies of ``examples/submissions/*`` (the reference solution when that folder is empty)
with the real pipeline: checks and the notebook in fast mode, no training.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.batch import run_batch  # noqa: E402
from autograder.pipeline import GradeContext  # noqa: E402
from autograder.rubric import load_rubric  # noqa: E402
from autograder.submission import discover  # noqa: E402


def make_class(dest: Path, copies: int) -> list[str]:
    """K copies of every example submission (or of the reference solution when there is none)."""
    examples = [(s.id, Path(s.path)) for s in discover(ROOT / "examples" / "submissions")]
    if not examples:
        ref = dest.parent / "reference"
        for part in ("nndl", "cs231n"):
            shutil.copytree(ROOT / "reference" / part, ref / part, ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(ROOT / "reference" / "Dropout.ipynb", ref / "Dropout.ipynb")
        examples = [("reference", ref)]
    dest.mkdir(parents=True)
    for k in range(copies):
        for sid, path in examples:
            if path.is_dir():
                shutil.copytree(path, dest / f"{sid}_{k}", ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy(path, dest / f"{sid}_{k}{path.suffix}")
    return [sid for sid, _ in examples]


def prepare_data(ctx: GradeContext, cache: Path) -> str:
    """The CLI's data preparation (synthetic data when CIFAR-10 is absent); "" or why not."""
    try:
        from autograder.data import default_dataset, notebook_splits, prepare_splits

        folder, synthetic = default_dataset(cache)
        sizes = {"num_training": 4000, "num_validation": 1000, "num_test": 1000} if synthetic else {}
        ctx.splits = prepare_splits(folder, cache / "splits", **sizes)
        ctx.notebook_data = notebook_splits(ctx.splits, cache / "splits", ctx.rubric.notebook.fast_train_samples)
        return ""
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def timed(subs: Path, ctx: GradeContext, jobs: int):
    t0 = time.perf_counter()
    out = run_batch(subs, ctx, jobs=jobs, quiet=True)
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=4)
    ap.add_argument("--stages", default="checks,notebook")
    ap.add_argument("--sandbox", default="auto")
    args = ap.parse_args()
    stages = tuple(s for s in args.stages.split(",") if s)
    with tempfile.TemporaryDirectory(prefix="nndl-bench-") as tmp:
        tmp = Path(tmp)
        sources = make_class(tmp / "subs", args.copies)
        rubric = load_rubric()
        outs = {}
        for name in ("j1", "j2"):
            outs[name] = GradeContext(rubric=rubric, out_dir=tmp / name, work_dir=tmp / name / ".work",
                                      stages=stages, sandbox_level=args.sandbox)
        data_note = ""
        if "notebook" in stages or "training" in stages:
            cache = Path(os.environ.get("NNDL_CACHE", Path.home() / ".cache" / "nndl-autograder"))
            data_note = prepare_data(outs["j1"], cache)
            outs["j2"].splits, outs["j2"].notebook_data = outs["j1"].splits, outs["j1"].notebook_data
        t1, o1 = timed(tmp / "subs", outs["j1"], 1)
        t2, o2 = timed(tmp / "subs", outs["j2"], 2)
        t3, o3 = timed(tmp / "subs", outs["j2"], 2)
        n = len(o1.graded)
        print(json.dumps({
            "bench": "batch_throughput", "examples": sources, "copies": args.copies, "submissions": n,
            "stages": list(stages), "cores": os.cpu_count(),
            "per_min_jobs1": round(n / t1 * 60, 2), "per_min_jobs2": round(len(o2.graded) / t2 * 60, 2),
            "speedup_jobs2_vs_jobs1": round(t1 / t2, 3),
            "rerun_speedup_vs_first": round(t2 / t3, 1), "rerun_reused": len(o3.reused),
            "errors": (o1.errors + o2.errors + o3.errors)[:5], "data_note": data_note,
            "grader_errors": sum("grader_error" in r.flags for r in o1.results + o2.results),
        }))


if __name__ == "__main__":
    main()
