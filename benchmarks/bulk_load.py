"""``bulk_load``: load a whole municipality's register (初期移行) of N residents.

Library: one ``store.register.bulk_load(uow, rows)`` inside one unit of work on a
fresh store whose schema was created before the clock starts; the time includes
the commit.

Raw: on a second fresh store of the same adapter (schema made by its
``create_schema()``, so the same tables and indexes), the same rows as plain
tuples (built before the clock starts) go into ``register_versions``,
``register_current`` and ``register_codes`` in one transaction:

* sqlite: ``BEGIN IMMEDIATE``; three ``executemany`` INSERTs; ``COMMIT``;
* postgres: three binary ``COPY ... FROM STDIN`` (``Copy.set_types`` +
  ``Copy.write_row``, as the adapter does) in one transaction, then, for a load of
  at least :data:`~jukinet.storage.postgres.ANALYZE_AFTER` rows, ``ANALYZE`` of the
  three tables as the adapter does;
* memory: a plain-dict implementation of the same work (duplicate checks, then
  the three dicts and the household index), no driver involved.
"""

from __future__ import annotations

import gc
import sqlite3
from collections.abc import Sequence
from contextlib import closing

from benchmarks._core import Log, Options, Result, rate, stopwatch
from benchmarks._data import municipality_rows
from benchmarks._schema import (
    CODES_COLUMNS,
    CODES_PG_TYPES,
    CURRENT_COLUMNS,
    CURRENT_PG_TYPES,
    VERSIONS_COLUMNS,
    VERSIONS_PG_TYPES,
    register_tuples,
)
from benchmarks._stores import Target, fresh_target
from jukinet.storage.records import RegisterRow

__all__ = ["run"]

NAME = "bulk_load"


def run(options: Options, log: Log) -> list[Result]:
    """Time a municipality's bulk load through jukinet and through the raw driver."""
    n = options.rows
    with stopwatch() as built:
        rows, real = municipality_rows(n, seed=options.seed, real=options.real)
    log(
        f"built {n:,} register rows in {built.seconds:.1f} s (not timed): {real:,} from full "
        f"domain records via jukinet.storage.mapping.register_row, {n - real:,} derived from "
        "them (own internal number, resident code and household; re-used payload bytes)"
    )

    with fresh_target(options.backend, options.dsn) as target:
        gc.collect()
        with stopwatch() as library, target.store.unit_of_work() as uow:
            loaded = target.store.register.bulk_load(uow, rows)
        _check(loaded == n, f"bulk_load returned {loaded}, expected {n}")
        _check(target.store.register.count() == n, "register.count() after bulk_load")
    log(f"library: {library.seconds:.3f} s, {rate(n, library.seconds)} rows")

    with fresh_target(options.backend, options.dsn) as target:
        raw_seconds = _raw(target, rows, log)
    log(f"raw:     {raw_seconds:.3f} s, {rate(n, raw_seconds)} rows ({_raw_what(options.backend)})")
    return [
        Result(
            name=NAME, backend=options.backend, rows=n, library_s=library.seconds, raw_s=raw_seconds
        )
    ]


def _raw_what(backend: str) -> str:
    return {
        "memory": "plain-dict implementation of the same work, no driver",
        "sqlite": "sqlite3 executemany into the three tables, one transaction",
        "postgres": "psycopg binary COPY into the three tables, one transaction",
    }[backend]


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise RuntimeError(f"benchmark self-check failed: {what}")


def _raw(target: Target, rows: Sequence[RegisterRow], log: Log) -> float:
    if target.backend == "memory":
        return _raw_memory(rows)
    if target.backend == "sqlite":
        return _raw_sqlite(target, rows, log)
    return _raw_postgres(target, rows, log)


def _raw_memory(rows: Sequence[RegisterRow]) -> float:
    versions: dict[tuple[str, int], RegisterRow] = {}
    current: dict[str, RegisterRow] = {}
    codes: dict[str, str] = {}
    households: dict[str, set[str]] = {}
    gc.collect()
    with stopwatch() as watch:
        seen_ids: set[str] = set()
        seen_codes: set[str] = set()
        for row in rows:
            if row.version != 1 or row.internal_id in current or row.internal_id in seen_ids:
                raise RuntimeError("duplicate internal id")
            if row.resident_code in codes or row.resident_code in seen_codes:
                raise RuntimeError("duplicate resident code")
            seen_ids.add(row.internal_id)
            seen_codes.add(row.resident_code)
        for row in rows:
            versions[row.internal_id, 1] = row
            current[row.internal_id] = row
            codes[row.resident_code] = row.internal_id
            households.setdefault(row.household_id, set()).add(row.internal_id)
    _check(len(current) == len(rows), "plain-dict row count")
    return watch.seconds


def _raw_sqlite(target: Target, rows: Sequence[RegisterRow], log: Log) -> float:
    with stopwatch() as prep:
        versions, current, codes = register_tuples(rows, iso_dates=True)
    log(f"raw: tuples built in {prep.seconds:.3f} s (not timed)")
    insert_versions = _insert_sqlite(target, "register_versions", VERSIONS_COLUMNS)
    insert_current = _insert_sqlite(target, "register_current", CURRENT_COLUMNS)
    insert_codes = _insert_sqlite(target, "register_codes", CODES_COLUMNS)
    with closing(target.sqlite()) as conn:
        gc.collect()
        with stopwatch() as watch:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(insert_versions, versions)
                conn.executemany(insert_current, current)
                conn.executemany(insert_codes, codes)
            except sqlite3.Error:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        (count,) = conn.execute(
            f"SELECT count(*) FROM {target.table('register_current')}"
        ).fetchone()
    _check(count == len(rows), "raw sqlite row count")
    return watch.seconds


def _insert_sqlite(target: Target, table: str, columns: tuple[str, ...]) -> str:
    marks = ", ".join("?" * len(columns))
    return f"INSERT INTO {target.table(table)} ({', '.join(columns)}) VALUES ({marks})"


def _raw_postgres(target: Target, rows: Sequence[RegisterRow], log: Log) -> float:
    import psycopg
    from psycopg import sql

    from jukinet.storage.postgres import ANALYZE_AFTER

    assert target.dsn is not None
    assert target.schema is not None
    with stopwatch() as prep:
        versions, current, codes = register_tuples(rows, iso_dates=False)
    log(f"raw: tuples built in {prep.seconds:.3f} s (not timed)")
    tables: list[tuple[str, tuple[str, ...], tuple[str, ...], list[tuple[object, ...]]]] = [
        ("register_versions", VERSIONS_COLUMNS, VERSIONS_PG_TYPES, list(versions)),
        ("register_current", CURRENT_COLUMNS, CURRENT_PG_TYPES, list(current)),
        ("register_codes", CODES_COLUMNS, CODES_PG_TYPES, list(codes)),
    ]
    with closing(psycopg.connect(target.dsn, autocommit=True)) as conn:
        gc.collect()
        with stopwatch() as watch, conn.transaction(), conn.cursor() as cur:
            for table, columns, types, data in tables:
                statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
                    sql.Identifier(target.schema, table),
                    sql.SQL(", ").join(map(sql.Identifier, columns)),
                )
                with cur.copy(statement) as copy:
                    copy.set_types(types)
                    for item in data:
                        copy.write_row(item)
            if len(rows) >= ANALYZE_AFTER:  # as the adapter does after a large load
                cur.execute(
                    sql.SQL("ANALYZE {}").format(
                        sql.SQL(", ").join(
                            sql.Identifier(target.schema, table) for table, *_ in tables
                        )
                    )
                )
        counted = conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(
                sql.Identifier(target.schema, "register_current")
            )
        ).fetchone()
    _check(counted is not None and counted[0] == len(rows), "raw postgres row count")
    return watch.seconds
