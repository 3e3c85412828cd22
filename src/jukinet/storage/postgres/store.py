"""The store: :class:`PostgresStore` builds the ports on its connections and creates,
checks and migrates the schema (``create_schema`` runs each module's ``DDL`` in
order)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, LiteralString

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import tuple_row
from psycopg_pool import ConnectionPool

from jukinet import errors
from jukinet.domain._repr import never_raises
from jukinet.storage.base import SCHEMA_VERSION, Store
from jukinet.storage.postgres import (
    agencies,
    audit,
    cards,
    codes,
    counter,
    identity,
    links,
    pending,
    provision,
    register,
    schedule,
)
from jukinet.storage.postgres._database import (
    PostgresUnitOfWork,
    _Connections,
    _Cursor,
    _Statement,
    _Statements,
    _translated,
)
from jukinet.storage.postgres.agencies import PostgresAgencyRegistry
from jukinet.storage.postgres.audit import PostgresAuditLog
from jukinet.storage.postgres.cards import PostgresCardRegistry
from jukinet.storage.postgres.codes import PostgresCodePool
from jukinet.storage.postgres.counter import PostgresCounterStore
from jukinet.storage.postgres.identity import PostgresIdentityStore
from jukinet.storage.postgres.links import PostgresOutbox, PostgresTracking
from jukinet.storage.postgres.pending import PostgresPendingNotices
from jukinet.storage.postgres.provision import PostgresProvisionLog
from jukinet.storage.postgres.register import PostgresRegister
from jukinet.storage.postgres.schedule import PostgresSchedule

# The schema and the store's own table; then each concern module's tables, in the
# logical schema shared with the SQLite adapter. ``{s}`` is the schema, always passed
# through sql.Identifier.
DDL: tuple[LiteralString, ...] = (
    "CREATE SCHEMA IF NOT EXISTS {s}",
    """CREATE TABLE IF NOT EXISTS {s}.jukinet_meta (
        key TEXT COLLATE "C" PRIMARY KEY,
        value TEXT NOT NULL)""",
)
_MODULES = (
    register,
    identity,
    links,
    codes,
    audit,
    agencies,
    provision,
    schedule,
    pending,
    cards,
    counter,
)
_DDL: tuple[LiteralString, ...] = DDL + tuple(
    statement for module in _MODULES for statement in module.DDL
)

_MIGRATES_FROM = ("2", "3", "4", "5")
"""The earlier schema versions :meth:`PostgresStore.create_schema` migrates from (3 -> 4
adds ``pending_notices``, 4 -> 5 ``cards`` and ``card_events``, 5 -> 6
``move_out_infos`` and ``counter_requests``, which the DDL creates)."""
# Schema version 2 -> 3: when an identity version was received (令30条の6・30条の7).
_MIGRATION: tuple[LiteralString, ...] = (
    "ALTER TABLE {s}.identity_versions ADD COLUMN IF NOT EXISTS received_on DATE",
)

# Every table a schema of this version has (check_schema requires them all).
_TABLES = ("jukinet_meta", *(table for module in _MODULES for table in module.TABLES))


class _MetaSQL(_Statements):
    """The statements of the store's own table, ``jukinet_meta``."""

    prefix = "meta"

    version = _Statement("SELECT value FROM {s}.jukinet_meta WHERE key = 'schema_version'")
    insert = _Statement(
        "INSERT INTO {s}.jukinet_meta (key, value) VALUES ('schema_version', %s)"
        " ON CONFLICT (key) DO NOTHING"
    )
    update = _Statement("UPDATE {s}.jukinet_meta SET value = %s WHERE key = 'schema_version'")


def _where(connection: psycopg.Connection[Any] | ConnectionPool[Any]) -> str:
    """``dbname@host:port`` of a connection or pool, from its parameters (no round
    trip; never the user or password); ``?`` for what cannot be read."""
    try:
        if isinstance(connection, ConnectionPool):
            conninfo, kwargs = connection.conninfo, connection.kwargs
            if callable(conninfo) or callable(kwargs):
                return "?"  # made on demand (perhaps fetching a secret): not called here
            params = conninfo_to_dict(conninfo, **(kwargs or {}))
            dbname, host, port = (str(params.get(k) or "") for k in ("dbname", "host", "port"))
        else:
            info = connection.info
            dbname, host, port = info.dbname, info.host, str(info.port)
    except Exception:  # a closed connection, an unparsable conninfo
        return "?"
    where = f"{dbname or '?'}@{host}" if host else dbname or "?"
    return f"{where}:{port}" if host and port else where


class PostgresStore(_Connections, Store):
    """A node's storage in one PostgreSQL schema, on psycopg 3.

    ``connection`` is a :class:`psycopg.Connection` or a
    :class:`psycopg_pool.ConnectionPool`; the caller owns it and
    :meth:`close` leaves it open. ``schema`` names the PostgreSQL schema that
    holds this node's tables (lower-case letters, digits and ``_``), so that
    several nodes can share a database.

    * With a pool, each unit of work borrows its own connection for its whole
      ``with`` block, and each read outside a unit of work borrows one briefly:
      units of work from several threads run concurrently.
    * With a single connection, which runs one transaction at a time, units of
      work take turns (a lock shared by every store on that connection). A
      read with ``uow=None`` from another thread waits for the running unit of
      work to end; from the thread that has a unit of work open it runs inside
      that transaction (one connection has no other), so it sees that unit of
      work's writes. A second unit of work opened by the same thread inside the
      first is refused (:class:`~jukinet.errors.InterfaceError`). Use a pool
      when reads must be isolated from your own open unit of work.

    The connection may be in autocommit mode or not; it must not be left
    inside a transaction of the caller's when the store uses it.
    """

    def __init__(
        self,
        connection: psycopg.Connection[Any] | ConnectionPool[Any],
        *,
        schema: str = "jukinet",
    ) -> None:
        super().__init__(connection, schema)
        self._where = _where(connection)
        # Statements are composed here, by each port (sql.Identifier quotes the
        # schema), and rendered to bytes once, at first use (_Connections._render).
        self._meta = _MetaSQL(self._schema)
        self._register = PostgresRegister(self)
        self._identities = PostgresIdentityStore(self)
        self._outbox = PostgresOutbox(self)
        self._tracking = PostgresTracking(self)
        self._code_pool = PostgresCodePool(self)
        self._audit = PostgresAuditLog(self)
        self._agencies = PostgresAgencyRegistry(self)
        self._provision_log = PostgresProvisionLog(self)
        self._schedule = PostgresSchedule(self)
        self._pending = PostgresPendingNotices(self)
        self._cards = PostgresCardRegistry(self)
        self._counter = PostgresCounterStore(self)
        self._statement_sets = (
            self._meta,
            self._register._sql,
            self._identities._sql,
            self._outbox._sql,
            self._tracking._sql,
            self._code_pool._sql,
            self._audit._sql,
            self._agencies._sql,
            self._provision_log._sql,
            self._schedule._sql,
            self._pending._sql,
            self._cards._sql,
            self._counter._sql,
        )

    @never_raises
    def __repr__(self) -> str:
        """``<PostgresStore test@127.0.0.1:5432 schema='jukinet' via pool, open>``: the
        database, host and port (never the user or password), the schema, a pool or
        a single connection, and ``open``, ``closed`` (the store) or ``pool closed``
        / ``connection closed`` (the caller's). Sends nothing to the server."""
        if self._pool is not None:
            kind, gone = "pool", self._pool.closed
        else:
            assert self._connection is not None
            kind, gone = "connection", self._connection.closed
        state = "closed" if self._closed else f"{kind} closed" if gone else "open"
        return f"<PostgresStore {self._where} schema={self._schema!r} via {kind}, {state}>"

    @property
    def schema(self) -> str:
        """The PostgreSQL schema holding this store's tables."""
        return self._schema

    @property
    def register(self) -> PostgresRegister:
        """The resident register port."""
        return self._register

    @property
    def identities(self) -> PostgresIdentityStore:
        """The identity-information port."""
        return self._identities

    @property
    def outbox(self) -> PostgresOutbox:
        """The outbox port."""
        return self._outbox

    @property
    def tracking(self) -> PostgresTracking:
        """The tracking port."""
        return self._tracking

    @property
    def code_pool(self) -> PostgresCodePool:
        """The code-pool port."""
        return self._code_pool

    @property
    def audit(self) -> PostgresAuditLog:
        """The audit-log port."""
        return self._audit

    @property
    def agencies(self) -> PostgresAgencyRegistry:
        """The agency-registry port."""
        return self._agencies

    @property
    def provision_log(self) -> PostgresProvisionLog:
        """The provision-log port."""
        return self._provision_log

    @property
    def schedule(self) -> PostgresSchedule:
        """The schedule port."""
        return self._schedule

    @property
    def pending(self) -> PostgresPendingNotices:
        """The pending-notices port."""
        return self._pending

    @property
    def cards(self) -> PostgresCardRegistry:
        """The card-registry port."""
        return self._cards

    @property
    def counter(self) -> PostgresCounterStore:
        """The counter port (転出証明書情報 received, requests sent)."""
        return self._counter

    # -- schema ---------------------------------------------------------------------

    def create_schema(self) -> None:
        """Create the schema and its tables if missing and record the schema version.

        Idempotent; an advisory lock lets several processes call it at once. A
        version 2, 3, 4 or 5 schema is migrated to this version in the same transaction
        (a version 2 one's identity versions get ``received_on`` ``NULL``: the day is
        unknown; the pending-notice, card, move-out info and counter request tables
        start empty). An
        existing schema of another version raises
        :class:`~jukinet.errors.SchemaVersionMismatch` and is left as it is.
        """
        s = sql.Identifier(self._schema)
        with (
            self._borrow(exclusive=True) as conn,
            _translated(),
            conn.transaction(),
            conn.cursor(row_factory=tuple_row) as cur,
        ):
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"jukinet:{self._schema}"])
            self._migrate(cur, s)
            for statement in _DDL:
                cur.execute(sql.SQL(statement).format(s=s))
            cur.execute(self._meta.insert, [str(SCHEMA_VERSION)])
            self._provision_log._create(cur)
            self._verify_schema(cur)
        self._schema_checked = True

    def check_schema(self) -> None:
        """Raise unless the schema exists at :data:`~jukinet.storage.base.SCHEMA_VERSION`
        with every table of that version.

        A missing schema is a :class:`~jukinet.errors.ProgrammingError` telling
        to call :meth:`create_schema`; another version a
        :class:`~jukinet.errors.SchemaVersionMismatch` naming both versions; a
        missing table a :class:`~jukinet.errors.ProgrammingError` naming it.
        """
        with self._read(None, check=False) as cur:
            self._verify_schema(cur)
        self._schema_checked = True

    def _migrate(self, cur: _Cursor, s: sql.Identifier) -> None:
        """Bring a version 2, 3, 4 or 5 schema to this version (inside the caller's transaction);
        refuse any other recorded version before the DDL touches it."""
        cur.execute(
            "SELECT 1 FROM pg_catalog.pg_class c"
            " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = 'jukinet_meta' AND c.relkind IN ('r', 'p')",
            [self._schema],
        )
        if cur.fetchone() is None:
            return
        cur.execute(self._meta.version)
        found = cur.fetchone()
        if found is None or found[0] == str(SCHEMA_VERSION):
            return
        if found[0] not in _MIGRATES_FROM:
            self._verify_schema(cur)  # raises SchemaVersionMismatch
        cur.execute(
            "SELECT 1 FROM pg_catalog.pg_class c"
            " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = 'identity_versions'",
            [self._schema],
        )
        if cur.fetchone() is not None:
            for statement in _MIGRATION:
                cur.execute(sql.SQL(statement).format(s=s))
        cur.execute(self._meta.update, [str(SCHEMA_VERSION)])

    def _verify_schema(self, cur: _Cursor) -> None:
        cur.execute(
            "SELECT c.relname FROM pg_catalog.pg_class c"
            " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = ANY(%s) AND c.relkind IN ('r', 'p')",
            [self._schema, list(_TABLES)],
        )
        tables = {str(name) for (name,) in cur.fetchall()}
        if "jukinet_meta" not in tables:
            raise errors.ProgrammingError(
                f"the jukinet schema {self._schema!r} does not exist in this database: "
                "call create_schema() first"
            )
        cur.execute(self._meta.version)
        found = cur.fetchone()
        version = None if found is None else found[0]
        if version != str(SCHEMA_VERSION):
            hint = ": call create_schema() to migrate it" if version in _MIGRATES_FROM else ""
            raise errors.SchemaVersionMismatch(
                f"the database schema {self._schema!r} is at version {version}, "
                f"this code reads and writes version {SCHEMA_VERSION}{hint}",
                field="schema_version",
                expected=str(SCHEMA_VERSION),
            )
        missing = [name for name in _TABLES if name not in tables]
        if missing:
            raise errors.ProgrammingError(
                f"the jukinet schema {self._schema!r} lacks the table(s) {', '.join(missing)}",
                field="schema",
                expected=f"every table of schema version {SCHEMA_VERSION} (create_schema())",
            )

    # -- units of work --------------------------------------------------------------

    @contextmanager
    def unit_of_work(self) -> Iterator[PostgresUnitOfWork]:
        """Begin a unit of work (``conn.transaction()``).

        Commits when the block ends normally, rolls back when an exception
        leaves it; the unit of work is inactive afterwards.
        """
        with self._borrow(exclusive=True) as conn:
            uow = PostgresUnitOfWork(self, conn)
            try:
                with _translated(), conn.transaction():
                    if not self._schema_checked:
                        with conn.cursor(row_factory=tuple_row) as cur:
                            self._verify_schema(cur)
                        self._schema_checked = True
                    yield uow
            finally:
                uow._active = False

    def reopen(self) -> PostgresStore:
        """Another handle onto the same schema: a store on the same pool, closed separately.

        Each unit of work of either handle borrows its own connection from the
        pool, so the handles are isolated as two connections are. A store on one
        :class:`psycopg.Connection` cannot open another handle (the connection is
        the caller's, runs one transaction at a time, and its password is not
        kept): it raises :class:`~jukinet.errors.NotSupportedError`; open
        ``PostgresStore(another_connection, schema=store.schema)`` yourself, or give
        the store a :class:`psycopg_pool.ConnectionPool`. A closed store raises
        :class:`~jukinet.errors.InterfaceError`.
        """
        self._check_open()
        if self._pool is None:
            raise errors.NotSupportedError(
                "a store on one psycopg.Connection cannot open another handle: the"
                " connection is the caller's and runs one transaction at a time",
                field="connection",
                expected="a store on a psycopg_pool.ConnectionPool, or"
                f" PostgresStore(another_connection, schema={self._schema!r})",
            )
        return PostgresStore(self._pool, schema=self._schema)

    @contextmanager
    def raw_transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection inside a transaction, the node's schema as ``search_path``,
        behind the ports' back, for tests, migrations and repair tools.

        This bypasses every check the ports make: the schema is neither checked
        nor required, and nothing validates what the statements change.
        Unqualified table names are this store's (``SET LOCAL search_path``, which
        ends with the transaction; ``pg_catalog`` is searched as always). The
        block commits when it ends normally and rolls back when an exception
        leaves it. Driver errors, of its statements too, are raised as
        :mod:`jukinet.errors` (the :mod:`psycopg` error chained as ``__cause__``),
        as every call of the store raises them. The connection is borrowed
        as a unit of work's is (from the pool, or the store's one connection,
        waiting for its turn), with the row factory its owner gave it: do not
        commit, roll back or close it yourself. A closed store, or a unit of work
        of this thread already open on the store's one connection, raises
        :class:`~jukinet.errors.InterfaceError`. Afterwards the store checks its
        schema again at its next use.
        """
        path = sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(self._schema))
        with self._borrow(exclusive=True) as conn:
            try:
                with _translated(), conn.transaction():
                    conn.execute(path)
                    yield conn
            finally:
                self._schema_checked = False

    def close(self) -> None:
        """Mark the store closed (idempotent); the caller's connection or pool stays open.

        Afterwards every call on this store and its ports raises
        :class:`~jukinet.errors.InterfaceError`.
        """
        self._closed = True
