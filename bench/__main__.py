"""``python -m bench``: accuracy and speed benchmarks side by side (bench/README.md).

The bench package is a tool on top of the project: it imports ``bot`` and ``core``, and
nothing imports it (the import-linter contract in pyproject.toml)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="benchmarks: accuracy and speed side by side (bench/reports/)")
    p.add_argument("--quick", action="store_true", help="a short smoke run (numbers mean nothing)")
    p.add_argument("--out", default=None, help="report folder (default bench/reports)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument("--nlu-only", action="store_true",
                   help="the accuracy part alone: train and evaluate the compared pipelines "
                        "(held-out set and cross-validation); speed and tuning are kept from "
                        "the last full run in results.json, marked with its date")
    p.add_argument("--render-only", action="store_true",
                   help="rewrite latest.md and the plots from results.json (no measuring)")
    p.add_argument("--rerun-speed", metavar="MODEL", default=None,
                   help="measure speed and tuning again with MODEL (kept by --keep); "
                        "the report shows both runs")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from bench.cli import DEFAULT_OUT, bench_command, render_command, rerun_speed_command

    out = Path(args.out) if args.out else DEFAULT_OUT
    if args.render_only:
        return render_command(out)
    if args.rerun_speed:
        return rerun_speed_command(Path(args.rerun_speed), out, keep=args.keep)
    return bench_command(quick=args.quick, out=out, keep=args.keep, nlu_only=args.nlu_only)


if __name__ == "__main__":
    sys.exit(main())
