"""Cost of the sandbox: start a worker and make one small call, per isolation level.

Prints one JSON line of ratios to a bare ``python -c "import numpy"`` measured in the same run
(medians of a few repetitions), so the numbers compare across machines.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from autograder.sandbox import Sandbox, available_levels  # noqa: E402

REPEATS = 5


def bare_python() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import numpy"], check=True)
    return time.perf_counter() - start


def sandboxed(level: str, root: Path) -> tuple[float, float]:
    start = time.perf_counter()
    with Sandbox(root, level=level) as sb:
        sb.call("nndl.layers:double", np.ones(10))
        first = time.perf_counter()
        t0 = time.perf_counter()
        sb.call("nndl.layers:double", np.ones(10))
        round_trip = time.perf_counter() - t0
        return first - start, round_trip


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "sub"
        (root / "nndl").mkdir(parents=True)
        (root / "nndl" / "layers.py").write_text("def double(x):\n    return 2 * x\n")
        bare = statistics.median(bare_python() for _ in range(REPEATS))
        result = {"bare_python_numpy_s": round(bare, 4)}
        for level in available_levels():
            runs = [sandboxed(level, root) for _ in range(REPEATS)]
            start = statistics.median(r[0] for r in runs)
            rtt = statistics.median(r[1] for r in runs)
            result[f"{level}_start_and_first_call_ratio"] = round(start / bare, 2)
            result[f"{level}_round_trip_ratio"] = round(rtt / bare, 4)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
