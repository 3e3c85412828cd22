"""What every benchmark shares: options, results, timing, the RESULT line."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import attrs

__all__ = [
    "BACKENDS",
    "DEFAULT_DSN",
    "Benchmark",
    "Log",
    "Options",
    "Result",
    "Stopwatch",
    "best_of",
    "rate",
    "stopwatch",
]

BACKENDS = ("memory", "sqlite", "postgres")
"""The storage adapters a benchmark can run against."""

DEFAULT_DSN = "host=127.0.0.1 port=5432 dbname=test user=root"
"""The PostgreSQL server used when neither ``--dsn`` nor ``JUKINET_TEST_POSTGRES_DSN`` is set."""

Log = Callable[[str], None]
"""Where a benchmark writes its progress lines (not the RESULT lines)."""


@attrs.frozen(kw_only=True)
class Options:
    """One run's settings, from the command line.

    ``real`` is how many rows are built from full domain records; the rest are
    derived from them (see :mod:`benchmarks._data`). ``repeat`` runs the whole
    benchmark that many times and reports the best (lowest) time of each side.
    """

    backend: str = attrs.field(validator=attrs.validators.in_(BACKENDS))
    rows: int = attrs.field(validator=attrs.validators.ge(1))
    dsn: str = DEFAULT_DSN
    seed: int = 2026
    real: int = attrs.field(default=2000, validator=attrs.validators.ge(1))
    repeat: int = attrs.field(default=1, validator=attrs.validators.ge(1))


@attrs.frozen(kw_only=True)
class Result:
    """One measured figure: the library's seconds and the raw driver's for the same work."""

    name: str
    backend: str
    rows: int
    library_s: float
    raw_s: float

    @property
    def ratio(self) -> float:
        """library / raw (how many times slower the library is than the raw driver)."""
        return self.library_s / max(self.raw_s, 1e-9)

    def line(self) -> str:
        """The machine-readable ``RESULT ...`` line."""
        return (
            f"RESULT name={self.name} backend={self.backend} rows={self.rows} "
            f"library_s={self.library_s:.3f} raw_s={self.raw_s:.3f} ratio={self.ratio:.2f}"
        )


Benchmark = Callable[[Options, Log], list[Result]]
"""A benchmark: runs, logs progress, returns its results (the headline one last)."""


@attrs.define
class Stopwatch:
    """Seconds measured by :func:`stopwatch` (set when the block ends)."""

    seconds: float = 0.0


@contextmanager
def stopwatch() -> Iterator[Stopwatch]:
    """Time a block with :func:`time.perf_counter`.

    Before the clock starts, garbage is collected and every object alive is
    frozen (:func:`gc.freeze`), so the collector's passes during the block scan
    only what the block makes: the set-up's data (a million rows held for the
    checks) is not the work measured, and both sides are timed alike.
    """
    watch = Stopwatch()
    gc.collect()
    gc.freeze()
    start = time.perf_counter()
    try:
        yield watch
    finally:
        watch.seconds = time.perf_counter() - start
        gc.unfreeze()


def rate(count: int, seconds: float) -> str:
    """``count`` per second, readable (``"123,456 rows/s"``)."""
    return f"{count / max(seconds, 1e-9):,.0f}/s"


def best_of(runs: list[list[Result]]) -> list[Result]:
    """Combine repeated runs: per result, the lowest library time and the lowest raw time.

    The minimum is the run least disturbed by the rest of the machine; each side
    gets its own minimum, since the two sides are timed separately.
    """
    first = runs[0]
    return [
        attrs.evolve(
            result,
            library_s=min(run[i].library_s for run in runs),
            raw_s=min(run[i].raw_s for run in runs),
        )
        for i, result in enumerate(first)
    ]
