"""Command line: `python grade.py SUBMISSIONS`, `python grade.py template`, `python grade.py export-public`.

Exit codes: 0 success (student profile: every public check passed), 1 some public check failed
(student profile), 2 a grader error or bad usage.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import __version__
from .catalogue import STAGES

SUBCOMMANDS = ("template", "export-public")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        return _subcommand(argv[0], argv[1:])
    return grade_command(argv)


def build_grade_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="grade.py",
        description="Grade HW4 (dropout / batchnorm / FC nets) submissions in a sandbox and write reports.",
        epilog="Other commands: `grade.py template [--check]`, `grade.py export-public`.",
    )
    p.add_argument("submissions", type=Path,
                   help="a folder of submissions (one folder or .zip each), or one student's repository")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default: grading-out/ beside the submissions, or autograder-out/ for --profile student)")
    p.add_argument("--rubric", type=Path, default=None, help="rubric TOML (default: rubrics/dropout.toml)")
    p.add_argument("--stages", default="checks,notebook,training",
                   help="comma-separated subset of checks,notebook,training")
    p.add_argument("--profile", choices=("instructor", "student"), default="instructor",
                   help="student: public checks only, graded against exported data, never the reference")
    p.add_argument("--sandbox", choices=("auto", "bwrap", "unshare", "none"), default="auto",
                   help="isolation level; auto picks the strongest available and reports it")
    p.add_argument("--data", type=Path, default=None,
                   help="cifar-10-batches-py folder (else $NNDL_CIFAR10, the cache, or a synthetic default)")
    p.add_argument("--download", action="store_true", help="download CIFAR-10 (with checksum) if not found")
    p.add_argument("--jobs", type=int, default=None, help="concurrent submissions (default: number of cores)")
    p.add_argument("--force", action="store_true", help="regrade even when a cached result is up to date")
    p.add_argument("--only", nargs="+", metavar="ID", default=None, help="grade only these submission ids")
    p.add_argument("--dask-scheduler", default=None, metavar="ADDRESS",
                   help="send one task per submission to this Dask scheduler (tcp://host:port)")
    p.add_argument("--quiet", action="store_true", help="plain progress lines instead of progress bars")
    p.add_argument("--keep-work", action="store_true", help="keep staged copies (debugging)")
    p.add_argument("--version", action="version", version=f"nndl-autograder {__version__}")
    return p


def grade_command(argv: list[str]) -> int:
    from .rubric import RubricError, load_rubric

    args = build_grade_parser().parse_args(argv)
    stages = tuple(s.strip() for s in args.stages.split(",") if s.strip())
    bad = [s for s in stages if s not in STAGES]
    if bad:
        print(f"grade.py: unknown stage(s): {', '.join(bad)}", file=sys.stderr)
        return 2
    if not args.submissions.exists():
        print(f"grade.py: {args.submissions} does not exist", file=sys.stderr)
        return 2
    try:
        rubric = load_rubric(args.rubric)
    except RubricError as exc:
        print(f"grade.py: {exc}", file=sys.stderr)
        return 2

    out = args.out or _default_out(args)
    out.mkdir(parents=True, exist_ok=True)
    from .pipeline import GradeContext

    ctx = GradeContext(rubric=rubric, out_dir=out, work_dir=out / ".work", stages=stages,
                       profile=args.profile, sandbox_level=args.sandbox, keep_work=args.keep_work)
    if args.profile == "student":
        from .public_data import find_public_data

        ctx.public_data = find_public_data(args.submissions)
    if "training" in stages or "notebook" in stages:
        try:
            _prepare_data(ctx, args)
        except Exception as exc:  # data problems: explain, grade what does not need data
            print(f"grade.py: {exc}", file=sys.stderr)
            print("grade.py: continuing without the notebook and training stages", file=sys.stderr)
            ctx.stages = tuple(s for s in stages if s == "checks")

    from .batch import run_batch

    outcome = run_batch(args.submissions, ctx, jobs=args.jobs, force=args.force, only=args.only,
                        dask_scheduler=args.dask_scheduler, quiet=args.quiet or not sys.stderr.isatty())
    _print_summary(outcome, args.profile, out)
    if getattr(outcome, "interrupted", False):
        print("grade.py: interrupted; finished results are kept, rerun to grade the rest", file=sys.stderr)
        return 130
    return _exit_code(outcome.results, args.profile, outcome.errors)


def _print_summary(outcome, profile: str, out: Path) -> None:
    """One line per submission; for students also the CI job summary and error annotations."""
    for result in sorted(outcome.results, key=lambda r: r.submission_id):
        print(result.summary_line())
    for err in outcome.errors:
        print(f"grade.py: {err}", file=sys.stderr)
    if profile == "student":
        from .report.ci import annotations, write_step_summary

        write_step_summary(outcome.results, profile="student")
        if os.environ.get("GITHUB_ACTIONS"):
            for line in annotations(outcome.results, profile="student"):
                print(line)
    index = out / "index.html"
    if index.exists():
        print(f"reports: {index}")


def _default_out(args) -> Path:
    if args.profile == "student":
        return Path("autograder-out")
    base = args.submissions.resolve()
    return base.parent / "grading-out"


def _prepare_data(ctx, args) -> None:
    from .data import (default_cache_root, default_dataset, find_cifar10, is_synthetic_folder, notebook_splits,
                       prepare_splits)

    cache = Path(default_cache_root())
    if args.download and args.data is None:
        folder = find_cifar10(download=True)
        synthetic = is_synthetic_folder(folder)
    else:
        folder, synthetic = default_dataset(cache, data=args.data)
    if synthetic:
        print("grade.py: CIFAR-10 not found; using the embedded SYNTHETIC dataset "
              "(pass --data DIR or set NNDL_CIFAR10 for real accuracies)", file=sys.stderr)
    sizes = {} if not synthetic else {"num_training": 4000, "num_validation": 1000, "num_test": 1000}
    ctx.splits = prepare_splits(folder, cache / "splits", **sizes)
    ctx.notebook_data = notebook_splits(ctx.splits, cache / "splits", ctx.rubric.notebook.fast_train_samples)


def _exit_code(results, profile: str, errors: list[str]) -> int:
    if errors or any("grader_error" in r.flags for r in results):
        return 2
    if profile == "student":
        from .report.ci import exit_code

        return exit_code(results)
    return 0


def _subcommand(name: str, argv: list[str]) -> int:
    if name == "template":
        from .template import template_command

        return template_command(argv)
    from .public_data import export_public_command

    return export_public_command(argv)


if __name__ == "__main__":
    sys.exit(main())
