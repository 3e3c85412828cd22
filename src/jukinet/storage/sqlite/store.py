""":class:`SQLiteStore`: builds the ports, creates and checks the schema, runs units of work.

:meth:`SQLiteStore.create_schema` runs the ``DDL`` of each concern module in order
(the tables of one concern after those it refers to), then records the schema version.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from jukinet.domain._repr import never_raises
from jukinet.errors import (
    InterfaceError,
    InvalidComponent,
    InvalidLength,
    ProgrammingError,
    SchemaVersionMismatch,
)
from jukinet.storage.base import SCHEMA_VERSION, Store, UnitOfWork
from jukinet.storage.sqlite import (
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
from jukinet.storage.sqlite._database import (
    _MISSING_SCHEMA,
    DEFAULT_BUSY_TIMEOUT,
    ConnectionFactory,
    SQLiteUnitOfWork,
    _close_quietly,
    _PerThread,
    _rollback,
    _TempDatabase,
    _translate,
)
from jukinet.storage.sqlite.agencies import SQLiteAgencyRegistry
from jukinet.storage.sqlite.audit import SQLiteAuditLog
from jukinet.storage.sqlite.cards import SQLiteCardRegistry
from jukinet.storage.sqlite.codes import SQLiteCodePool
from jukinet.storage.sqlite.counter import SQLiteCounterStore
from jukinet.storage.sqlite.identity import SQLiteIdentityStore
from jukinet.storage.sqlite.links import SQLiteOutbox, SQLiteTracking
from jukinet.storage.sqlite.pending import SQLitePendingNotices
from jukinet.storage.sqlite.provision import SQLiteProvisionLog
from jukinet.storage.sqlite.register import SQLiteRegister
from jukinet.storage.sqlite.schedule import SQLiteSchedule

_META_DDL = (
    """CREATE TABLE IF NOT EXISTS jukinet_meta (
        key TEXT NOT NULL PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID""",
)
"""The table that records the schema version."""

_CONCERNS = (
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
"""The concern modules, in the order their DDL runs."""

_TABLES: tuple[str, ...] = ("jukinet_meta", *(t for m in _CONCERNS for t in m.TABLES))
_DDL: tuple[str, ...] = (*_META_DDL, *(s for m in _CONCERNS for s in m.DDL))

_MIGRATES_FROM = ("2", "3", "4", "5")
"""The earlier schema versions :meth:`SQLiteStore.create_schema` migrates from (3 -> 4
adds the pending-notice tables, 4 -> 5 the card tables, 5 -> 6 the move-out info and
counter request tables, which the DDL creates)."""
# Schema version 2 -> 3: when an identity version was received (令30条の6・30条の7).
_MIGRATION = ("ALTER TABLE identity_versions ADD COLUMN received_on TEXT",)


class SQLiteStore(Store):
    """A node's storage in one SQLite database (see :mod:`jukinet.storage.sqlite`).

    ``database`` is a file path, ``":memory:"`` (a private temporary file,
    removed on :meth:`close`) or a connection factory
    (``Callable[[], sqlite3.Connection]`` returning new connections to one
    database; the factory stays the caller's, the connections it returns are
    closed by :meth:`close`).
    ``busy_timeout`` is how many seconds to wait for a lock.

    Nothing is opened until first use. The first use checks the schema once
    (:class:`~jukinet.errors.ProgrammingError` "call create_schema()" when it
    is missing, :class:`~jukinet.errors.SchemaVersionMismatch` when its
    version differs) and remembers the answer.

    >>> store = SQLiteStore(":memory:")
    >>> store.register.count()
    Traceback (most recent call last):
    ...
    jukinet.errors.ProgrammingError: the jukinet schema is missing: call create_schema()
    >>> store.create_schema()
    >>> store.register.count()
    0
    >>> store.close()
    """

    def __init__(
        self,
        database: str | os.PathLike[str] | ConnectionFactory,
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    ) -> None:
        if isinstance(busy_timeout, bool) or not isinstance(busy_timeout, (int, float)):
            raise TypeError(
                f"busy_timeout must be a number of seconds, not {type(busy_timeout).__name__}"
            )
        if not 0 <= busy_timeout <= 86_400:
            raise InvalidComponent(
                f"{busy_timeout} is out of range",
                field="busy_timeout",
                expected="0 to 86400 seconds",
            )
        timeout = float(busy_timeout)
        self._busy_timeout = timeout
        self._database = database
        self._temp: _TempDatabase | None = None
        if isinstance(database, (str, os.PathLike)):
            path = os.fspath(database)
            if not isinstance(path, str):
                raise TypeError("database path must be a str or os.PathLike[str], not bytes")
            if not path:
                raise InvalidLength(
                    "the database path is empty",
                    field="database",
                    expected="a file path, ':memory:' or a connection factory",
                )
            self._description = path
            if path == ":memory:":
                self._temp = _TempDatabase()
                self._conns = _PerThread(self._connect_temporary, timeout)
            else:
                self._path = path
                self._conns = _PerThread(self._connect_file, timeout)
        elif callable(database):
            self._description = f"factory {database!r}"
            self._conns = _PerThread(database, timeout)
        else:
            raise TypeError(
                "database must be a path, ':memory:' or a connection factory,"
                f" not {type(database).__name__}"
            )
        self._closed = False
        self._schema_ok = False
        self._register = SQLiteRegister(self)
        self._identities = SQLiteIdentityStore(self)
        self._outbox = SQLiteOutbox(self)
        self._tracking = SQLiteTracking(self)
        self._code_pool = SQLiteCodePool(self)
        self._audit = SQLiteAuditLog(self)
        self._agencies = SQLiteAgencyRegistry(self)
        self._provision_log = SQLiteProvisionLog(self)
        self._schedule = SQLiteSchedule(self)
        self._pending = SQLitePendingNotices(self)
        self._cards = SQLiteCardRegistry(self)
        self._counter = SQLiteCounterStore(self)

    @never_raises
    def __repr__(self) -> str:
        """``<SQLiteStore '/tmp/x.db' open>``: the path, ``':memory:'`` or the
        factory, and whether this store is closed. Opens nothing."""
        state = "closed" if self._closed else "open"
        return f"<SQLiteStore {self._description!r} {state}>"

    def _connect_temporary(self) -> sqlite3.Connection:
        assert self._temp is not None
        conn = self._connect(self._temp.path())
        try:
            # Removed on close: durability is moot, so commits skip the fsync.
            conn.execute("PRAGMA synchronous = OFF")
        except BaseException:
            _close_quietly(conn)
            raise
        return conn

    def _connect_file(self) -> sqlite3.Connection:
        return self._connect(self._path)

    def _connect(self, path: str) -> sqlite3.Connection:
        return sqlite3.connect(
            path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False
        )

    # ports

    @property
    def register(self) -> SQLiteRegister:
        """The resident register port."""
        return self._register

    @property
    def identities(self) -> SQLiteIdentityStore:
        """The identity-information port."""
        return self._identities

    @property
    def outbox(self) -> SQLiteOutbox:
        """The outbox port."""
        return self._outbox

    @property
    def tracking(self) -> SQLiteTracking:
        """The tracking port."""
        return self._tracking

    @property
    def code_pool(self) -> SQLiteCodePool:
        """The code-pool port."""
        return self._code_pool

    @property
    def audit(self) -> SQLiteAuditLog:
        """The audit-log port."""
        return self._audit

    @property
    def agencies(self) -> SQLiteAgencyRegistry:
        """The agency-registry port."""
        return self._agencies

    @property
    def provision_log(self) -> SQLiteProvisionLog:
        """The provision-log port."""
        return self._provision_log

    @property
    def schedule(self) -> SQLiteSchedule:
        """The schedule port."""
        return self._schedule

    @property
    def pending(self) -> SQLitePendingNotices:
        """The pending-notices port."""
        return self._pending

    @property
    def cards(self) -> SQLiteCardRegistry:
        """The card-registry port."""
        return self._cards

    @property
    def counter(self) -> SQLiteCounterStore:
        """The counter port (転出証明書情報 received, requests sent)."""
        return self._counter

    # schema

    def create_schema(self) -> None:
        """Create the tables and indexes if missing and record :data:`SCHEMA_VERSION`.

        Idempotent. A version 2, 3, 4 or 5 database is migrated to this version in the
        same transaction (a version 2 one's identity versions get ``received_on``
        ``NULL``: the day is unknown; the pending-notice, card, move-out info and
        counter request tables start empty). A database that records another version raises
        :class:`~jukinet.errors.SchemaVersionMismatch` and is left unchanged.
        """
        self._check_open()
        with self._conns.writing() as conn, _translate():
            conn.execute("BEGIN IMMEDIATE")
            try:
                self._migrate(conn)
                for statement in _DDL:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO jukinet_meta (key, value) VALUES ('schema_version', ?)"
                    " ON CONFLICT (key) DO NOTHING",
                    (str(SCHEMA_VERSION),),
                )
                self._verify(conn)
                self._provision_log._create(conn)
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise
        self._schema_ok = True

    def check_schema(self) -> None:
        """Raise unless every table exists and the recorded version is :data:`SCHEMA_VERSION`."""
        self._check_open()
        with self._conns.reading() as conn, _translate():
            self._verify(conn)
        self._schema_ok = True

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Bring a version 2, 3, 4 or 5 schema to this version (inside the caller's transaction);
        refuse any other recorded version before the DDL touches it."""
        tables = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'jukinet_meta'"
        ).fetchone()
        if tables is None:
            return
        row = conn.execute("SELECT value FROM jukinet_meta WHERE key = 'schema_version'").fetchone()
        if row is None or str(row[0]) == str(SCHEMA_VERSION):
            return
        if str(row[0]) not in _MIGRATES_FROM:
            self._verify(conn)  # raises SchemaVersionMismatch
        columns = {str(r[1]) for r in conn.execute("PRAGMA table_info(identity_versions)")}
        if columns and "received_on" not in columns:
            for statement in _MIGRATION:
                conn.execute(statement)
        conn.execute(
            "UPDATE jukinet_meta SET value = ? WHERE key = 'schema_version'",
            (str(SCHEMA_VERSION),),
        )

    def _verify(self, conn: sqlite3.Connection) -> None:
        names = {
            str(r[0])
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        }
        if "jukinet_meta" not in names:
            raise ProgrammingError(f"the jukinet schema is missing: {_MISSING_SCHEMA}")
        row = conn.execute("SELECT value FROM jukinet_meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            raise ProgrammingError(f"the database records no schema version: {_MISSING_SCHEMA}")
        found = str(row[0])
        if found != str(SCHEMA_VERSION):
            hint = ": call create_schema() to migrate it" if found in _MIGRATES_FROM else ""
            raise SchemaVersionMismatch(
                f"the database has schema version {found}, this code reads and writes"
                f" version {SCHEMA_VERSION}{hint}",
                expected=f"schema version {SCHEMA_VERSION}",
            )
        missing = [name for name in _TABLES if name not in names]
        if missing:
            raise ProgrammingError(
                f"the jukinet schema lacks {', '.join(missing)}: {_MISSING_SCHEMA}"
            )

    def _check_open(self) -> None:
        if self._closed:
            raise InterfaceError("the store is closed", expected="an open SQLiteStore")

    def _ready(self) -> None:
        self._check_open()
        if not self._schema_ok:
            self.check_schema()

    # units of work

    @contextmanager
    def unit_of_work(self) -> Iterator[SQLiteUnitOfWork]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``; ``ROLLBACK`` when an exception leaves the block.

        Waits at most ``busy_timeout`` seconds for the write lock. A second
        unit of work on the same thread while this one is open raises
        :class:`~jukinet.errors.InterfaceError`.
        """
        self._ready()
        with self._conns.writing() as conn:
            with _translate():
                conn.execute("BEGIN IMMEDIATE")
            uow = SQLiteUnitOfWork(self, conn)
            try:
                yield uow
                uow._active = False
                with _translate():
                    conn.execute("COMMIT")
            except BaseException:
                uow._active = False
                _rollback(conn)
                raise
            finally:
                uow._active = False

    def _uow_connection(self, uow: object) -> sqlite3.Connection:
        if not isinstance(uow, SQLiteUnitOfWork) or uow._store is not self:
            raise InterfaceError(
                f"got {type(uow).__name__} not made by this store",
                field="uow",
                expected="a unit of work from this store's unit_of_work()",
            )
        if not uow._active:
            raise InterfaceError(
                "the unit of work is no longer active",
                field="uow",
                expected="a unit of work inside its with block",
            )
        return uow._conn

    @contextmanager
    def _read(
        self, uow: UnitOfWork | None, *, snapshot: bool = False
    ) -> Iterator[sqlite3.Connection]:
        """The connection a read runs on: the uow's, else this thread's reader.

        With ``snapshot`` (several statements) a read outside a unit of work
        runs in one read transaction, so it sees one committed state.
        """
        if uow is not None:
            conn = self._uow_connection(uow)
            with _translate():
                yield conn
            return
        self._ready()
        with self._conns.reading() as conn, _translate():
            if not snapshot or conn.in_transaction:
                yield conn
                return
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                _rollback(conn)

    @contextmanager
    def _write(self, uow: UnitOfWork) -> Iterator[sqlite3.Connection]:
        """The uow's connection inside a savepoint: a failed call writes nothing."""
        conn = self._uow_connection(uow)
        with _translate():
            conn.execute("SAVEPOINT jukinet_call")
            try:
                yield conn
            except BaseException:
                try:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK TO jukinet_call")
                        conn.execute("RELEASE jukinet_call")
                except sqlite3.Error:
                    pass
                raise
            conn.execute("RELEASE jukinet_call")

    def reopen(self) -> SQLiteStore:
        """Another handle onto the same database, with its own connections, closed separately.

        For a file or a factory this is a new store on the same path or
        factory (the factory is called for the new handle's connections). For
        ``":memory:"`` the new handle shares this store's temporary file, which
        is removed when the last of the handles closes. A closed store raises
        :class:`~jukinet.errors.InterfaceError`.

        >>> store = SQLiteStore(":memory:")
        >>> store.create_schema()
        >>> other = store.reopen()
        >>> with other.unit_of_work() as uow:
        ...     other.tracking.advance(uow, "city-131016", 1)
        >>> other.close()
        >>> store.tracking.position("city-131016")
        1
        >>> store.close()
        """
        self._check_open()
        other = SQLiteStore(self._database, busy_timeout=self._busy_timeout)
        if self._temp is not None:
            assert other._temp is not None
            other._temp.release()  # never used: nothing to remove
            other._temp = self._temp.retain()
        return other

    @contextmanager
    def raw_transaction(self) -> Iterator[sqlite3.Connection]:
        """A connection of this store inside ``BEGIN IMMEDIATE``, behind the ports' back,
        for tests, migrations and repair tools.

        This bypasses every check the ports make: the schema is neither checked
        nor required, and nothing validates what the statements change. The
        block commits when it ends normally and rolls back when an exception
        leaves it. Driver errors, of its statements too, are raised as
        :mod:`jukinet.errors` (the :mod:`sqlite3` error chained as
        ``__cause__``), as every call of the store raises them. The connection is this
        thread's writer (autocommit, ``foreign_keys`` on): do not commit,
        roll back or close it yourself. A unit of work already open on this
        thread, or a closed store, raises :class:`~jukinet.errors.InterfaceError`.
        Afterwards the store checks its schema again at its next use.

        >>> store = SQLiteStore(":memory:")
        >>> store.create_schema()
        >>> with store.raw_transaction() as conn:
        ...     conn.execute("UPDATE jukinet_meta SET value = '99'").rowcount
        1
        >>> store.check_schema()
        Traceback (most recent call last):
        ...
        jukinet.errors.SchemaVersionMismatch: the database has schema version 99, ...
        >>> store.close()
        """
        self._check_open()
        with self._conns.writing() as conn, _translate():
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise
            finally:
                self._schema_ok = False

    def close(self) -> None:
        """Close the connections the store opened (never the caller's factory). Idempotent.

        For ``":memory:"`` the last handle to close removes the temporary file.
        Afterwards every call on this handle raises
        :class:`~jukinet.errors.InterfaceError`.
        """
        if self._closed:
            return
        self._closed = True
        try:
            self._conns.close()
        finally:
            if self._temp is not None:
                self._temp.release()

    def __enter__(self) -> SQLiteStore:
        return self
