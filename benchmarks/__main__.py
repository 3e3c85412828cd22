"""The benchmark runner: ``python -m benchmarks NAME --backend B --rows N``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from benchmarks import BACKENDS, BENCHMARKS, Options, Result
from benchmarks._core import DEFAULT_DSN, best_of

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Time jukinet against the raw driver on the same work; the last line "
        "is 'RESULT name=… backend=… rows=… library_s=… raw_s=… ratio=…'.",
    )
    parser.add_argument("name", choices=sorted(BENCHMARKS), help="which benchmark")
    parser.add_argument("--backend", choices=BACKENDS, default="sqlite")
    parser.add_argument("--rows", type=int, default=10_000, help="residents (default 10,000)")
    parser.add_argument(
        "--dsn",
        default=None,
        help="PostgreSQL DSN (default: $JUKINET_TEST_POSTGRES_DSN, else a local server)",
    )
    parser.add_argument("--seed", type=int, default=2026, help="random seed of the data")
    parser.add_argument(
        "--real",
        type=int,
        default=2000,
        help="rows built from full domain records; the rest re-use their payloads",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run N times and report each side's best time (default 1)",
    )
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run one benchmark; print progress, then the RESULT line(s), the headline last."""
    stream = sys.stdout if out is None else out
    args = _parser().parse_args(argv)
    if args.rows < 1 or args.real < 1 or args.repeat < 1:
        _parser().error("--rows, --real and --repeat must be at least 1")
    dsn = args.dsn or os.environ.get("JUKINET_TEST_POSTGRES_DSN") or DEFAULT_DSN
    options = Options(
        backend=args.backend,
        rows=args.rows,
        dsn=dsn,
        seed=args.seed,
        real=args.real,
        repeat=args.repeat,
    )

    def log(line: str) -> None:
        print(f"{args.name} {args.backend}: {line}", file=stream, flush=True)

    if args.backend == "memory":
        log('"raw" on the memory backend is a plain-dict implementation of the same work')
    runs: list[list[Result]] = []
    for number in range(1, options.repeat + 1):
        run = BENCHMARKS[args.name](options, log)
        if options.repeat > 1:
            for result in run:
                log(f"run {number}/{options.repeat}: {result.line().removeprefix('RESULT ')}")
        runs.append(run)
    results = best_of(runs)
    if options.repeat > 1:
        log(f"best of {options.repeat} runs, each side's lowest time:")
    for result in results:
        print(result.line(), file=stream, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
