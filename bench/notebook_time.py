"""How much of the notebook stage is kernel start-up, and what a kernel death costs.

Runs, in one process and with the same sandbox level, (1) a notebook with one trivial cell
(kernel start-up, sandbox and teardown), (2) ``reference/Dropout.ipynb`` in fast mode on
notebook-sized data (real CIFAR-10 from /work/shared/data when present, else synthetic) and
(3) the same notebook with an ``os._exit(1)`` cell before the final part, so the grader restarts
the kernel and replays every cell that had succeeded. Prints one JSON line with the times and
their ratios. Usage: python bench/notebook_time.py
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
import types
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autograder import PROJECT_ROOT  # noqa: E402
from autograder.data import notebook_splits, prepare_splits  # noqa: E402
from autograder.notebook import run_notebook  # noqa: E402
from autograder.rubric import load_rubric  # noqa: E402
from autograder.synthetic import write_synthetic_cifar10  # noqa: E402

SHARED_CIFAR = Path("/work/shared/data/cifar-10-batches-py")


def _data(tmp: Path, n_train: int) -> tuple[Path, str]:
    if (SHARED_CIFAR / "data_batch_1").is_file():
        raw, kind = SHARED_CIFAR, "cifar10"
    else:
        raw, kind = write_synthetic_cifar10(tmp / "cifar", n_train=5000, n_test=500), "synthetic"
    splits = prepare_splits(raw, tmp / "cache", num_training=4000, num_validation=500, num_test=500)
    return notebook_splits(splits, tmp / "cache", n_train=n_train), kind


def _submission(tmp: Path, name: str, notebook: Path | None, die_before_final: bool = False) -> types.SimpleNamespace:
    root = tmp / name
    shutil.copytree(PROJECT_ROOT / "reference" / "nndl", root / "nndl")
    if notebook is None:
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell("x = 1")]
        nbformat.write(nb, str(root / "Dropout.ipynb"))
    else:
        nb = nbformat.read(str(notebook), as_version=4)
        if die_before_final:
            final = next(i for i, c in enumerate(nb.cells) if "Final part" in c.source)
            nb.cells.insert(final, nbformat.v4.new_code_cell("import os\nos._exit(1)"))
        nbformat.write(nb, str(root / "Dropout.ipynb"))
    return types.SimpleNamespace(root=root, notebooks=[root / "Dropout.ipynb"])


def main() -> None:
    rubric = load_rubric()
    reference = PROJECT_ROOT / "reference" / "Dropout.ipynb"
    with tempfile.TemporaryDirectory(prefix="nb-bench-") as tmp_name:
        tmp = Path(tmp_name)
        data_dir, kind = _data(tmp, rubric.notebook.fast_train_samples)
        timings, replays = {}, []
        variants = (("startup_only", None, False), ("reference_fast", reference, False),
                    ("reference_death", reference, True))
        for label, nb, die in variants:
            staged = _submission(tmp, label, nb, die)
            t0 = time.perf_counter()
            out = run_notebook(staged, rubric, data_dir, level="auto", work_dir=tmp / f"work-{label}")
            timings[label] = time.perf_counter() - t0
            ok = sum(c["status"] == "ok" for c in out.extra["cells"])
            timings[f"{label}_cells_ok"] = f"{ok}/{len(out.extra['cells'])}"
            level = out.extra.get("sandbox_level")
            if die:
                replays = out.extra.get("replays") or []
    replay_s = sum(r["seconds"] for r in replays)
    print(json.dumps({
        "bench": "notebook_time", "data": kind, "sandbox_level": level,
        "fast_iterations": rubric.notebook.fast_iterations,
        "startup_only_s": round(timings["startup_only"], 3),
        "reference_fast_s": round(timings["reference_fast"], 3),
        "reference_cells_ok": timings["reference_fast_cells_ok"],
        "ratio_reference_to_startup": round(timings["reference_fast"] / timings["startup_only"], 2),
        "death_cells_ok": timings["reference_death_cells_ok"],
        "death_replayed_cells": sum(len(r["replayed"]) for r in replays),
        "ratio_death_to_reference": round(timings["reference_death"] / timings["reference_fast"], 2),
        "ratio_restart_and_replay_to_reference": round(replay_s / timings["reference_fast"], 2),
    }))


if __name__ == "__main__":
    main()
