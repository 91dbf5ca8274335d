"""``python -m bench --nlu-only``: the accuracy part of ``make bench`` alone.

Trains our model and the compared pipelines (rasa init's default, the previous DIET
pipeline, the pipeline variants), evaluates them on ``tests/nlu`` and with 5-fold
cross-validation of ``data/nlu``, and rewrites ``bench/reports/latest.md``; the speed and
server-tuning sections are kept from the last full run in ``results.json`` and marked with
its date. ``python -m bot bench`` is the full run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.cli import DEFAULT_OUT, bench_command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--nlu-only", action="store_true", required=True,
                        help="accuracy only; speed and tuning kept from the last full run")
    parser.add_argument("--out", default=None, help="report folder (default bench/reports)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    out = Path(args.out) if args.out else DEFAULT_OUT
    return bench_command(quick=False, out=out, keep=args.keep, nlu_only=args.nlu_only)


if __name__ == "__main__":
    sys.exit(main())
