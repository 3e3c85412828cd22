"""Smoke tests of the benchmark runner: every benchmark runs on 200 rows and ends
with a well-formed RESULT line. These are not timed tests; the figures are not checked.

``propagate`` runs 200 registrations (20 per municipality) through the prefecture to
the centre and the centre's confirmations back on each backend; the benchmark itself
checks that the centre and the prefecture hold every notice with none pending, and
that the library and the raw side wrote the same row counts (pending notices, outbox
and tracking rows included).

``provide`` and ``search`` run on a centre of 200 people (200 requests of one code and
one of 200 codes; 200 searches); the benchmarks themselves check that every answer was
FOUND, that both sides logged the expected records with the same chain head, and that
the provision log verifies.
"""

from __future__ import annotations

import io
import re

import pytest

# `benchmarks/` lives at the repository root; pytest's `pythonpath = ["."]` finds it.
from benchmarks import BENCHMARKS, Result
from benchmarks.__main__ import main

pytestmark = pytest.mark.slow  # `pytest -m "not slow"` leaves this module out

RESULT = re.compile(
    r"RESULT name=(?P<name>[a-z_]+) backend=(?P<backend>[a-z]+) rows=(?P<rows>[0-9]+) "
    r"library_s=[0-9]+\.[0-9]{3} raw_s=[0-9]+\.[0-9]{3} ratio=[0-9]+\.[0-9]{2}"
)
ROWS = 200


def _run(name: str, backend: str, *extra: str) -> list[str]:
    out = io.StringIO()
    status = main([name, "--backend", backend, "--rows", str(ROWS), *extra], out=out)
    assert status == 0
    return out.getvalue().splitlines()


def _check_lines(lines: list[str], name: str, backend: str) -> None:
    last = RESULT.fullmatch(lines[-1])
    assert last is not None, lines[-1]
    assert (last["name"], last["backend"], int(last["rows"])) == (name, backend, ROWS)
    results = [line for line in lines if line.startswith("RESULT ")]
    assert all(RESULT.fullmatch(line) for line in results)
    if name == "lookup":
        assert results[-2].startswith("RESULT name=lookup_single ")
    if name == "propagate":
        _check_propagate(lines, backend)
    if name == "provide":
        assert results[-2].startswith("RESULT name=provide_single ")
        _check_provision(lines, name, backend, f"{ROWS:,} + {ROWS:,} provision records")
    if name == "search":
        _check_provision(lines, name, backend, f"{ROWS:,} provision records")


def _check_propagate(lines: list[str], backend: str) -> None:
    prefix = f"propagate {backend}: "
    assert any(
        re.fullmatch(rf"{prefix}library: [0-9.]+ s, [0-9,]+ notices/s end to end .*", line)
        for line in lines
    ), lines
    assert any(
        re.fullmatch(rf"{prefix}raw: +[0-9.]+ s, [0-9,]+ notices/s .*", line) for line in lines
    )
    assert any(line.startswith(f"{prefix}breakdown") for line in lines)
    assert (
        f"{prefix}verified: the centre and the prefecture hold {ROWS} identity rows each,"
        " none pending; row counts equal on both sides" in lines
    )


def _check_provision(lines: list[str], name: str, backend: str, records: str) -> None:
    prefix = f"{name} {backend}: "
    per_second = "searches/s" if name == "search" else "requests/s = persons/s"
    for side in ("library:", "raw:    "):
        assert any(line.startswith(f"{prefix}{side} ") and per_second in line for line in lines), (
            lines
        )
    breakdowns = [line for line in lines if line.startswith(f"{prefix}breakdown of the library's ")]
    assert len(breakdowns) == (2 if name == "provide" else 1), lines
    assert any(line.startswith(f"{prefix}  the raw side, all its work ") for line in lines)
    verified = [line for line in lines if line.startswith(f"{prefix}verified: ")]
    assert len(verified) == 1, lines
    assert records in verified[0]
    assert "same head; verify_log() intact" in verified[0]


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_benchmark_ends_with_result_line(name: str, backend: str) -> None:
    lines = _run(name, backend)
    _check_lines(lines, name, backend)
    if backend == "memory":
        assert any("plain-dict" in line for line in lines)


@pytest.mark.postgres
@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_benchmark_on_postgres(name: str, postgres_dsn: str) -> None:
    _check_lines(_run(name, "postgres", "--dsn", postgres_dsn), name, "postgres")


def test_result_line_format() -> None:
    result = Result(name="bulk_load", backend="sqlite", rows=10, library_s=1.5, raw_s=1.0)
    assert result.line() == (
        "RESULT name=bulk_load backend=sqlite rows=10 library_s=1.500 raw_s=1.000 ratio=1.50"
    )


def test_unknown_benchmark_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["no_such_benchmark", "--backend", "memory", "--rows", "1"])
    assert "invalid choice" in capsys.readouterr().err
