"""``lookup``: N random resident codes, one at a time and in one batch.

A fresh store is preloaded with a municipality of N residents (through
``register.bulk_load``, not timed); the N resident codes are then looked up in a
random order (each code once, all found):

* ``lookup_single``: library ``register.current_by_code(code)`` per code;
  raw: the same SELECT per code with a prepared statement (sqlite3's statement
  cache; psycopg ``prepare=True``), fetching the same columns;
* ``lookup`` (the headline, printed last): library ``register.current_many(codes)``;
  raw: sqlite ``IN (?, …)`` in chunks of 500, postgres one ``= ANY(%s)``, collected
  into a dict code → row tuple;
* memory: the raw side is a plain-dict implementation (code → internal number →
  newest row).

The library returns validated :class:`~jukinet.storage.records.RegisterRow`
objects; the raw side returns the driver's tuples. One warm-up call on each side
is made before the clock starts.
"""

from __future__ import annotations

import gc
import random
from collections.abc import Sequence
from contextlib import closing

from benchmarks._core import Log, Options, Result, rate, stopwatch
from benchmarks._data import municipality_rows
from benchmarks._schema import select_current
from benchmarks._stores import Target, fresh_target
from jukinet.storage.base import chunks
from jukinet.storage.records import RegisterRow

__all__ = ["run"]

SQLITE_CHUNK = 500
"""Codes per ``IN (...)`` on SQLite (well under its 32,766 host-parameter limit)."""


def run(options: Options, log: Log) -> list[Result]:
    """Time single and batch look-ups through jukinet and through the raw driver."""
    n = options.rows
    with stopwatch() as built:
        rows, real = municipality_rows(n, seed=options.seed, real=options.real)
    log(
        f"built {n:,} register rows in {built.seconds:.1f} s (not timed; {real:,} from full "
        "domain records, the rest derived with re-used payloads)"
    )
    codes = [row.resident_code for row in rows]
    random.Random(options.seed + 1).shuffle(codes)

    with fresh_target(options.backend, options.dsn) as target:
        store = target.store
        with stopwatch() as preload, store.unit_of_work() as uow:
            store.register.bulk_load(uow, rows)
        log(f"preloaded {n:,} residents in {preload.seconds:.1f} s (not timed)")

        store.register.current_by_code(codes[0])  # warm-up
        gc.collect()
        with stopwatch() as lib_single:
            found = 0
            for code in codes:
                if store.register.current_by_code(code) is not None:
                    found += 1
        _check(found == n, f"current_by_code found {found} of {n}")
        gc.collect()
        with stopwatch() as lib_batch:
            many = store.register.current_many(codes)
        _check(len(many) == n, f"current_many found {len(many)} of {n}")
        log(
            f"library: one at a time {lib_single.seconds:.3f} s ({rate(n, lib_single.seconds)} "
            f"look-ups), batch {lib_batch.seconds:.3f} s ({rate(n, lib_batch.seconds)} codes)"
        )

        if target.backend == "memory":
            raw_single, raw_batch = _raw_memory(rows, codes)
            what = "plain dicts, no driver"
        elif target.backend == "sqlite":
            raw_single, raw_batch = _raw_sqlite(target, codes)
            what = "sqlite3: cached statement per code; IN (...) in chunks of 500"
        else:
            raw_single, raw_batch = _raw_postgres(target, codes)
            what = "psycopg: prepared statement per code; one = ANY(%s)"
    log(
        f"raw:     one at a time {raw_single:.3f} s ({rate(n, raw_single)} look-ups), "
        f"batch {raw_batch:.3f} s ({rate(n, raw_batch)} codes) ({what})"
    )
    return [
        Result(
            name="lookup_single",
            backend=options.backend,
            rows=n,
            library_s=lib_single.seconds,
            raw_s=raw_single,
        ),
        Result(
            name="lookup",
            backend=options.backend,
            rows=n,
            library_s=lib_batch.seconds,
            raw_s=raw_batch,
        ),
    ]


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise RuntimeError(f"benchmark self-check failed: {what}")


def _raw_memory(rows: Sequence[RegisterRow], codes: list[str]) -> tuple[float, float]:
    by_code = {row.resident_code: row.internal_id for row in rows}
    current = {row.internal_id: row for row in rows}
    current.get(by_code[codes[0]])  # warm-up, as on the library side
    gc.collect()
    with stopwatch() as single:
        found = 0
        for code in codes:
            internal_id = by_code.get(code)
            if internal_id is not None and current.get(internal_id) is not None:
                found += 1
    _check(found == len(codes), "plain-dict single look-ups")
    gc.collect()
    with stopwatch() as batch:
        result = {code: current[by_code[code]] for code in codes if code in by_code}
    _check(len(result) == len(codes), "plain-dict batch look-up")
    return single.seconds, batch.seconds


def _raw_sqlite(target: Target, codes: list[str]) -> tuple[float, float]:
    names = {
        "codes": target.table("register_codes"),
        "current": target.table("register_current"),
        "versions": target.table("register_versions"),
    }
    one = select_current("c.resident_code = ?").format(**names)
    with closing(target.sqlite()) as conn:
        conn.execute(one, (codes[0],)).fetchone()  # warm-up
        gc.collect()
        with stopwatch() as single:
            found = 0
            for code in codes:
                if conn.execute(one, (code,)).fetchone() is not None:
                    found += 1
        _check(found == len(codes), "raw sqlite single look-ups")
        gc.collect()
        with stopwatch() as batch:
            result: dict[str, tuple[object, ...]] = {}
            for part in chunks(codes, SQLITE_CHUNK):
                marks = ", ".join("?" * len(part))
                statement = select_current(f"c.resident_code IN ({marks})").format(**names)
                for item in conn.execute(statement, tuple(part)):
                    result[item[0]] = item
        _check(len(result) == len(codes), "raw sqlite batch look-up")
    return single.seconds, batch.seconds


def _raw_postgres(target: Target, codes: list[str]) -> tuple[float, float]:
    import psycopg
    from psycopg import sql

    assert target.dsn is not None
    assert target.schema is not None
    names = {
        "codes": sql.Identifier(target.schema, "register_codes"),
        "current": sql.Identifier(target.schema, "register_current"),
        "versions": sql.Identifier(target.schema, "register_versions"),
    }
    one = sql.SQL(select_current("c.resident_code = %s")).format(**names)
    many = sql.SQL(select_current("c.resident_code = ANY(%s)")).format(**names)
    with closing(psycopg.connect(target.dsn, autocommit=True)) as conn, conn.cursor() as cur:
        cur.execute(one, (codes[0],), prepare=True)  # warm-up (and prepare)
        cur.fetchone()
        gc.collect()
        with stopwatch() as single:
            found = 0
            for code in codes:
                cur.execute(one, (code,), prepare=True)
                if cur.fetchone() is not None:
                    found += 1
        _check(found == len(codes), "raw postgres single look-ups")
        gc.collect()
        with stopwatch() as batch:
            cur.execute(many, (codes,))
            result = {item[0]: item for item in cur.fetchall()}
        _check(len(result) == len(codes), "raw postgres batch look-up")
    return single.seconds, batch.seconds
