"""jukinet's benchmarks: each one times the library and the raw driver on the same work.

Run from the repository root::

    python -m benchmarks NAME --backend memory|sqlite|postgres --rows N

The last line printed is ``RESULT name=NAME backend=B rows=N library_s=… raw_s=…
ratio=…`` (ratio = library / raw), so the figure survives a noisy machine. See
``benchmarks/README.md``.

To add a benchmark, write a module with ``run(options, log) -> list[Result]``
(the headline result last) and add it to :data:`BENCHMARKS`.
"""

from __future__ import annotations

from benchmarks import bulk_load, lookup, propagate, provide, search
from benchmarks._core import BACKENDS, Benchmark, Log, Options, Result

__all__ = ["BACKENDS", "BENCHMARKS", "Benchmark", "Log", "Options", "Result"]

BENCHMARKS: dict[str, Benchmark] = {
    "bulk_load": bulk_load.run,
    "lookup": lookup.run,
    "propagate": propagate.run,
    "provide": provide.run,
    "search": search.run,
}
"""Every benchmark by name: the runner's registry."""
