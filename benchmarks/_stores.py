"""Fresh stores for the benchmarks, and raw driver connections to the same schema.

* memory: a new :class:`~jukinet.storage.memory.MemoryStore`; there is no driver,
  so the "raw" side of each benchmark is a plain-dict implementation of the same work.
* sqlite: a new database file (WAL) in a temporary directory, removed at the end;
  the raw side opens its own :mod:`sqlite3` connection to the same file.
* postgres: a new schema ``jukinet_bench_<hex>`` on the server named by the DSN,
  dropped at the end. The store gets one autocommit connection (so a read outside
  a unit of work is one statement, not BEGIN/SELECT/COMMIT); the raw side uses
  its own autocommit psycopg connection.

The schema is always created by the store's ``create_schema()``, so the raw side
writes to exactly the tables and indexes the adapter uses.
"""

from __future__ import annotations

import secrets
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import attrs

from jukinet.storage.base import Store

__all__ = ["SQLITE_PRAGMAS", "Target", "fresh_target", "sqlite_transaction"]

SQLITE_PRAGMAS = ("PRAGMA busy_timeout = 5000", "PRAGMA foreign_keys = ON")
"""Per-connection settings of the raw SQLite side: the adapter's (its ``_configure``).

The journal mode (WAL) is a property of the file, set by the adapter when it
created the schema; ``synchronous`` stays at SQLite's default on both sides.
"""


@attrs.frozen(kw_only=True)
class Target:
    """A store with its schema created, and where the raw driver finds the same tables."""

    backend: str
    store: Store
    sqlite_path: Path | None = None
    schema: str | None = None
    dsn: str | None = None

    def table(self, name: str) -> str:
        """The table's name as the raw SQL must spell it (schema-qualified on PostgreSQL)."""
        return f'"{self.schema}"."{name}"' if self.schema else name

    def sqlite(self) -> sqlite3.Connection:
        """A new autocommit sqlite3 connection to the store's file (the caller closes it)."""
        if self.sqlite_path is None:
            raise RuntimeError("not a SQLite target")
        conn = sqlite3.connect(self.sqlite_path, isolation_level=None)
        for pragma in SQLITE_PRAGMAS:
            conn.execute(pragma)
        return conn


@contextmanager
def fresh_target(backend: str, dsn: str) -> Iterator[Target]:
    """A fresh store of ``backend`` with its schema created; removed afterwards."""
    if backend == "memory":
        from jukinet.storage.memory import MemoryStore

        with MemoryStore() as memory:
            memory.create_schema()
            yield Target(backend=backend, store=memory)
    elif backend == "sqlite":
        from jukinet.storage.sqlite import SQLiteStore

        with tempfile.TemporaryDirectory(prefix="jukinet-bench-") as tmp:
            path = Path(tmp) / "register.sqlite3"
            with SQLiteStore(path) as lite:
                lite.create_schema()
                yield Target(backend=backend, store=lite, sqlite_path=path)
    elif backend == "postgres":
        yield from _postgres(dsn)
    else:
        raise ValueError(f"unknown backend {backend!r}")


def _postgres(dsn: str) -> Iterator[Target]:
    import psycopg
    from psycopg import sql

    from jukinet.storage.postgres import PostgresStore

    schema = f"jukinet_bench_{secrets.token_hex(4)}"
    with closing(psycopg.connect(dsn, autocommit=True)) as admin:
        try:
            conn = psycopg.connect(dsn, autocommit=True)
            with closing(conn), PostgresStore(conn, schema=schema) as pg:
                pg.create_schema()
                yield Target(backend="postgres", store=pg, schema=schema, dsn=dsn)
        finally:
            admin.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            )


@contextmanager
def sqlite_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` on an autocommit connection (``ROLLBACK`` on error):
    the raw sides' transaction, as the SQLite adapter's unit of work begins it."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
