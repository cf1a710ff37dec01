"""Benchmark: the checks stage for one submission, as a ratio to a bare ``python -c "import numpy"``.

Both are timed in the same run (median of a few repeats), so the ratio is comparable across
machines. Prints one JSON line. Usage: python bench/checks_time.py [--level auto|bwrap|unshare|none]
[--repeat 3] [SUBMISSION_ROOT]   (default: the reference solution)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autograder import refimpl  # noqa: E402
from autograder.checks import run_checks  # noqa: E402
from autograder.rubric import load_rubric  # noqa: E402
from autograder.sandbox import Sandbox  # noqa: E402


def time_import_numpy() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import numpy"], check=True)
    return time.perf_counter() - started


def time_checks(root: Path, level: str) -> tuple[float, dict]:
    rubric = load_rubric()
    started = time.perf_counter()
    with Sandbox(root, rubric.limits, level=level) as sb:
        outcome = run_checks(sb, rubric)
        used = sb.level
    seconds = time.perf_counter() - started
    slowest = max(outcome.results, key=lambda r: r.seconds)
    return seconds, {"level": used, "checks": len(outcome.results),
                     "passed": sum(r.status == "passed" for r in outcome.results),
                     "slowest_check": slowest.check_id, "slowest_share": round(slowest.seconds / seconds, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", type=Path, default=refimpl.reference_dir())
    parser.add_argument("--level", default="auto")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    baseline = statistics.median(time_import_numpy() for _ in range(args.repeat))
    runs = [time_checks(args.root, args.level) for _ in range(args.repeat)]
    checks = statistics.median(s for s, _ in runs)
    print(json.dumps({"bench": "checks_time", "ratio_to_import_numpy": round(checks / baseline, 2),
                      "repeats": args.repeat, **runs[-1][1]}))


if __name__ == "__main__":
    main()
