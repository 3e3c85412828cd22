"""The SQLite adapter: standard-library :mod:`sqlite3`, one database per node.

:class:`SQLiteStore` takes a file path, ``":memory:"`` or a connection factory
and implements every port of :mod:`jukinet.storage.base`::

    store = SQLiteStore("municipality-131016.db")
    store.create_schema()                       # once; idempotent
    with store.unit_of_work() as uow:
        store.register.append(uow, rows)
        store.outbox.append(uow, "pref-13", payloads)

>>> store = SQLiteStore(":memory:")
>>> store.create_schema()
>>> with store.unit_of_work() as uow:
...     store.outbox.append(uow, "pref-13", [b"first", b"second"])
range(1, 3)
>>> [entry.seq for entry in store.outbox.read("pref-13")]
[1, 2]
>>> store.close()

Transactions
    Connections run in autocommit mode (``isolation_level=None``). A unit of
    work is ``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` when an exception
    leaves the block), so writers are serialized by SQLite's write lock, which
    is what makes outbox and audit-log sequence numbers gap-free and
    commit-ordered and code allocation race-free. Each port write also runs
    inside a ``SAVEPOINT``: a call that fails writes nothing even when the
    caller catches the error and carries on with the unit of work. A unit of
    work waits at most ``busy_timeout`` seconds for the write lock, then
    raises :class:`~jukinet.errors.OperationalError` (``database is locked``).

Connections and threads
    Every thread gets its own connections (:class:`threading.local`): one for
    reads outside a unit of work and one for its units of work, so a read
    with ``uow=None`` sees committed data only, even on the thread whose unit
    of work is open. Databases run in WAL mode (``PRAGMA journal_mode=WAL``),
    so readers never wait for the writer. A connection whose thread has ended
    is closed the next time the store opens a connection;
    :meth:`SQLiteStore.close` closes every connection the store opened.

    ``":memory:"`` is a private temporary file, removed on close(): a
    database file in its own :func:`tempfile.mkdtemp` directory, created on
    first use, in WAL mode like any other file, so it has exactly the same
    isolation and concurrency as a file database (an SQLite in-memory
    database cannot be read by a second connection while a write is open).
    The directory is removed when the last handle onto it closes (or, if
    none is ever closed, when the handles are garbage-collected or the
    interpreter exits). Being disposable, it runs with ``PRAGMA synchronous =
    OFF`` (no fsync per commit).

    :meth:`SQLiteStore.reopen` gives another handle onto the same database,
    with its own connections: a store on the same path or factory, or, for
    ``":memory:"``, one sharing the temporary file (which lives until the
    last of the handles closes).

    A unit of work belongs to the thread that opened it; opening a second one
    on the same thread while the first is open raises
    :class:`~jukinet.errors.InterfaceError` (SQLite has no nested
    transactions; pass the open unit of work down instead). Through another
    handle onto the same database it would wait for the write lock held by
    the first, and fail after ``busy_timeout`` with
    :class:`~jukinet.errors.OperationalError`.

Connection factory
    ``SQLiteStore(factory)`` calls ``factory()`` whenever it needs a
    connection; every call must return a *new* connection to the *same*
    database file (for example ``lambda: sqlite3.connect(path,
    check_same_thread=False)``). A factory returning
    ``sqlite3.connect(":memory:")`` is a caller error: each call would open
    a separate, empty in-memory database, so reads, writes and the schema
    check would land in different databases (use ``SQLiteStore(":memory:")``
    instead). The factory stays the caller's; the connections it returned
    are the store's, configured by it (autocommit, ``foreign_keys``,
    ``busy_timeout``, WAL for a file) and closed by
    :meth:`SQLiteStore.close`.

Identities
    ``identity_current`` keeps one row per (resident code, municipality):
    that municipality's newest version of the code. The person's current
    version is chosen among a code's rows (not removed first, then the
    highest version) by a correlated sub-query on the primary key.
    ``identity_versions.received_on`` (ISO text, ``NULL`` when unknown) is
    indexed where known: :meth:`SQLiteIdentityStore.expire` finds the codes
    with a version received before its cut-off through that index, works out
    per code how many of the oldest versions are due with one grouped query
    (each version joined to the next), and deletes them and the
    ``identity_current`` rows that were among them.

Schema versions
    :meth:`SQLiteStore.create_schema` migrates a version 2 database to 3 in
    its ``BEGIN IMMEDIATE`` transaction (``ALTER TABLE identity_versions ADD
    COLUMN received_on``, the index, the recorded version); a database of any
    other version is refused unchanged.

Provision log
    ``provision_log`` holds the hash-chained records (提供記録) as written;
    the two ``provision_meta`` rows hold the head and the anchor, so a
    truncated log is seen (the head names a record that is gone).
    :meth:`SQLiteProvisionLog.append` reads and moves the head inside the
    unit of work, whose ``BEGIN IMMEDIATE`` serializes appenders: the chain
    never forks.

Driver errors
    Every :class:`sqlite3.Error` is translated into the
    :mod:`jukinet.errors` class of the same PEP 249 name in one place
    (:func:`_translate`), with the original chained as ``__cause__``.

Rows read back
    Every row read is turned into its record by :func:`_decode`, the one
    place where a row that cannot be read back (a value changed outside the
    adapter: broken JSON, a date that is no date, a value of the wrong type)
    becomes a :class:`~jukinet.errors.CorruptRecord` naming the table and the
    row's key (and ``seq`` for a log entry).
"""

from __future__ import annotations

import builtins
import functools
import json
import os
import shutil
import sqlite3
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import date, datetime
from typing import Any, TypeVar

from jukinet.errors import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    InternalError,
    InvalidComponent,
    InvalidLength,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
    SchemaVersionMismatch,
    StorageError,
)
from jukinet.storage.base import (
    SCHEMA_VERSION,
    AgencyRegistry,
    AuditLog,
    CodePool,
    IdentityStore,
    Outbox,
    PendingNotices,
    ProvisionLog,
    Register,
    Schedule,
    Store,
    Tracking,
    UnitOfWork,
    chunks,
)
from jukinet.storage.records import (
    GENESIS,
    AgencyRow,
    AuditEntry,
    AuditRecord,
    IdentityQuery,
    IdentityRow,
    OutboxEntry,
    PendingNotice,
    PendingRecord,
    ProvisionEntry,
    ProvisionRecord,
    RegisterRow,
    ScheduledItem,
    chain,
    check_aware,
    check_date,
    check_field,
    check_household_id,
    check_int,
    check_internal_id,
    check_lg_code,
    check_node_id,
    check_request,
    check_resident_code,
    check_status,
    unchecked,
)
from jukinet.storage.records import corrupt_record as _corrupt
from jukinet.storage.records import decode_rows as _decode

__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_BUSY_TIMEOUT",
    "SQLiteAgencyRegistry",
    "SQLiteAuditLog",
    "SQLiteCodePool",
    "SQLiteIdentityStore",
    "SQLiteOutbox",
    "SQLitePendingNotices",
    "SQLiteProvisionLog",
    "SQLiteRegister",
    "SQLiteSchedule",
    "SQLiteStore",
    "SQLiteTracking",
    "SQLiteUnitOfWork",
]

DEFAULT_BUSY_TIMEOUT = 5.0
"""Seconds a connection waits for a lock before ``database is locked``."""

CHUNK_SIZE = 500
"""Most parameters in one ``IN (...)`` list of a bulk look-up."""

ConnectionFactory = Callable[[], sqlite3.Connection]

_R = TypeVar("_R")

# --- schema ----------------------------------------------------------------

_TABLES = (
    "jukinet_meta",
    "register_versions",
    "register_current",
    "register_codes",
    "identity_versions",
    "identity_current",
    "outbox_heads",
    "outbox",
    "tracking",
    "code_pool",
    "audit_log",
    "agencies",
    "provision_log",
    "provision_meta",
    "schedule",
    "pending_notices",
    "pending_codes",
)

_DDL = (
    """CREATE TABLE IF NOT EXISTS jukinet_meta (
        key TEXT NOT NULL PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS register_versions (
        internal_id TEXT NOT NULL,
        version INTEGER NOT NULL CHECK (version >= 1),
        resident_code TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('registered', 'removed')),
        household_id TEXT NOT NULL,
        reason TEXT NOT NULL,
        event_date TEXT NOT NULL,
        processed_on TEXT NOT NULL,
        payload BLOB NOT NULL,
        PRIMARY KEY (internal_id, version)
    )""",
    """CREATE TABLE IF NOT EXISTS register_current (
        internal_id TEXT NOT NULL PRIMARY KEY,
        version INTEGER NOT NULL,
        resident_code TEXT NOT NULL,
        status TEXT NOT NULL,
        household_id TEXT NOT NULL,
        FOREIGN KEY (internal_id, version) REFERENCES register_versions (internal_id, version)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS register_current_resident_code ON register_current (resident_code)",
    "CREATE INDEX IF NOT EXISTS register_current_household_id ON register_current (household_id)",
    """CREATE TABLE IF NOT EXISTS register_codes (
        resident_code TEXT NOT NULL PRIMARY KEY,
        internal_id TEXT NOT NULL REFERENCES register_current (internal_id)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS identity_versions (
        resident_code TEXT NOT NULL,
        version INTEGER NOT NULL CHECK (version >= 1),
        municipality TEXT NOT NULL,
        reason TEXT NOT NULL,
        event_date TEXT NOT NULL,
        removed INTEGER NOT NULL CHECK (removed IN (0, 1)),
        name_key TEXT NOT NULL,
        reading_key TEXT,
        birth_date TEXT NOT NULL,
        sex TEXT NOT NULL CHECK (sex IN ('male', 'female')),
        address_key TEXT NOT NULL,
        previous_resident_code TEXT,
        payload BLOB NOT NULL,
        received_on TEXT,
        PRIMARY KEY (resident_code, version)
    )""",
    # expire(): the versions received before a day (schema version 3)
    "CREATE INDEX IF NOT EXISTS identity_versions_received ON identity_versions (received_on)"
    " WHERE received_on IS NOT NULL",
    """CREATE TABLE IF NOT EXISTS identity_current (
        resident_code TEXT NOT NULL,
        version INTEGER NOT NULL,
        municipality TEXT NOT NULL,
        removed INTEGER NOT NULL,
        name_key TEXT NOT NULL,
        birth_date TEXT NOT NULL,
        sex TEXT NOT NULL,
        address_key TEXT NOT NULL,
        PRIMARY KEY (resident_code, municipality),
        FOREIGN KEY (resident_code, version) REFERENCES identity_versions (resident_code, version)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS identity_current_name ON identity_current (name_key, birth_date)",
    "CREATE INDEX IF NOT EXISTS identity_current_address ON identity_current (address_key)",
    "CREATE INDEX IF NOT EXISTS identity_current_municipality"
    " ON identity_current (municipality, resident_code)",
    """CREATE TABLE IF NOT EXISTS outbox_heads (
        destination TEXT NOT NULL PRIMARY KEY,
        last_seq INTEGER NOT NULL CHECK (last_seq >= 0),
        acked INTEGER NOT NULL DEFAULT 0 CHECK (acked >= 0 AND acked <= last_seq)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS outbox (
        destination TEXT NOT NULL REFERENCES outbox_heads (destination),
        seq INTEGER NOT NULL CHECK (seq >= 1),
        payload BLOB NOT NULL,
        PRIMARY KEY (destination, seq)
    )""",
    """CREATE TABLE IF NOT EXISTS tracking (
        sender TEXT NOT NULL PRIMARY KEY,
        position INTEGER NOT NULL CHECK (position >= 0)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS code_pool (
        resident_code TEXT NOT NULL PRIMARY KEY,
        municipality TEXT NOT NULL,
        used INTEGER NOT NULL DEFAULT 0 CHECK (used IN (0, 1))
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS code_pool_available ON code_pool (municipality, used)",
    """CREATE TABLE IF NOT EXISTS audit_log (
        seq INTEGER NOT NULL PRIMARY KEY CHECK (seq >= 1),
        at TEXT NOT NULL,
        action TEXT NOT NULL,
        subject TEXT,
        detail BLOB NOT NULL
    )""",
    # read(action=...): an index range scan in seq order, not a scan of the log
    "CREATE INDEX IF NOT EXISTS audit_log_action ON audit_log (action, seq)",
    # list(): the primary key in code point order (BINARY collation compares UTF-8 bytes)
    """CREATE TABLE IF NOT EXISTS agencies (
        agency TEXT NOT NULL PRIMARY KEY,
        public_key BLOB NOT NULL,
        registered_at TEXT NOT NULL,
        recipients TEXT NOT NULL,
        number_uses TEXT NOT NULL,
        locality TEXT
    ) WITHOUT ROWID""",
    # Rows are never updated by the adapter; hashes are stored, never recomputed.
    """CREATE TABLE IF NOT EXISTS provision_log (
        seq INTEGER NOT NULL PRIMARY KEY CHECK (seq >= 1),
        at TEXT NOT NULL,
        kind TEXT NOT NULL,
        request_id TEXT NOT NULL,
        agency TEXT,
        "use" TEXT,
        subject TEXT,
        items TEXT NOT NULL,
        detail BLOB NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS provision_log_subject ON provision_log (subject, seq)",
    "CREATE INDEX IF NOT EXISTS provision_log_request_id ON provision_log (request_id)",
    # Two rows: 'head' (the last seq given and its hash) and 'anchor' (the last purged).
    """CREATE TABLE IF NOT EXISTS provision_meta (
        name TEXT NOT NULL PRIMARY KEY CHECK (name IN ('head', 'anchor')),
        seq INTEGER NOT NULL CHECK (seq >= 0),
        hash TEXT NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS schedule (
        key TEXT NOT NULL PRIMARY KEY,
        due TEXT NOT NULL,
        payload BLOB NOT NULL
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS schedule_due ON schedule (due, key)",
    # Notices received and not applied yet; seqs are never reused (AUTOINCREMENT).
    """CREATE TABLE IF NOT EXISTS pending_notices (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        sender TEXT NOT NULL,
        codes TEXT NOT NULL,
        payload BLOB NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS pending_codes (
        resident_code TEXT NOT NULL,
        seq INTEGER NOT NULL REFERENCES pending_notices (seq) ON DELETE CASCADE,
        PRIMARY KEY (resident_code, seq)
    ) WITHOUT ROWID""",
    # removal by seq (and the cascade from pending_notices) without a full scan
    "CREATE INDEX IF NOT EXISTS pending_codes_seq ON pending_codes (seq)",
)

_MISSING_SCHEMA = "call create_schema()"

_MIGRATES_FROM = ("2", "3")
"""The earlier schema versions :meth:`SQLiteStore.create_schema` migrates from (3 -> 4
adds the pending-notice tables, which the DDL creates)."""
# Schema version 2 -> 3: when an identity version was received (令30条の6・30条の7).
_MIGRATION = ("ALTER TABLE identity_versions ADD COLUMN received_on TEXT",)

# Friendlier messages for the constraints a caller can break.
_UNIQUE_MESSAGES = {
    "register_versions.internal_id, register_versions.version": (
        "that version of the person is already in the register"
    ),
    "register_current.internal_id": "the person is already in the register",
    "register_codes.resident_code": "the resident code already belongs to a person",
    "identity_versions.resident_code, identity_versions.version": (
        "that version of the resident code is already stored"
    ),
    "identity_current.resident_code, identity_current.municipality": (
        "the resident code is already stored"
    ),
    "audit_log.seq": "that audit sequence number is already taken",
    "code_pool.resident_code": (
        "the resident code was designated before; codes are never designated twice"
        " (住基法30条の2第2項)"
    ),
    "agencies.agency": "the agency is already registered; its key is never replaced",
    "provision_log.seq": "that provision-log sequence number is already taken",
    "schedule.key": "the key is already scheduled",
}


# --- the one place where driver errors become jukinet errors ---------------


@contextmanager
def _translate() -> Iterator[None]:
    """Translate any :class:`sqlite3.Error` raised inside into :mod:`jukinet.errors`.

    This is the adapter's only translation point; the driver error is
    chained as ``__cause__``.
    """
    try:
        yield
    except sqlite3.Error as exc:
        text = str(exc)
        error: StorageError
        if isinstance(exc, sqlite3.IntegrityError):
            detail = text.partition(": ")[2]
            friendly = _UNIQUE_MESSAGES.get(detail) if text.startswith("UNIQUE") else None
            error = IntegrityError(f"{friendly} ({text})" if friendly else f"sqlite: {text}")
        elif isinstance(exc, sqlite3.OperationalError):
            if text.startswith(("no such table", "no such column")):
                error = ProgrammingError(
                    f"sqlite: {text}: the schema is missing or altered; {_MISSING_SCHEMA}"
                )
            else:
                error = OperationalError(f"sqlite: {text}")
        elif isinstance(exc, sqlite3.DataError):
            error = DataError(f"sqlite: {text}")
        elif isinstance(exc, sqlite3.ProgrammingError):
            error = ProgrammingError(f"sqlite: {text}")
        elif isinstance(exc, sqlite3.NotSupportedError):
            error = NotSupportedError(f"sqlite: {text}")
        elif isinstance(exc, sqlite3.InternalError):
            error = InternalError(f"sqlite: {text}")
        elif isinstance(exc, sqlite3.InterfaceError):
            error = InterfaceError(f"sqlite: {text}")
        elif isinstance(exc, sqlite3.DatabaseError):
            error = DatabaseError(f"sqlite: {text}")
        else:
            error = StorageError(f"sqlite: {text}")
        raise error from exc


# --- connections -----------------------------------------------------------


def _configure(conn: sqlite3.Connection, busy_timeout: float) -> None:
    """Put a connection the store owns into the state the adapter relies on."""
    conn.isolation_level = None
    conn.row_factory = None
    conn.text_factory = str
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    conn.execute("PRAGMA foreign_keys = ON")
    files = {row[1]: row[2] for row in conn.execute("PRAGMA database_list").fetchall()}
    mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
    if files.get("main") and mode not in ("wal", "memory", "off"):
        conn.execute("PRAGMA journal_mode = WAL").fetchall()


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back whatever is open; the error that caused it is the one that matters."""
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass


class _PerThread:
    """One read and one write connection per thread, for a file database."""

    def __init__(self, opener: ConnectionFactory, busy_timeout: float) -> None:
        self._opener = opener
        self._busy_timeout = busy_timeout
        self._local = threading.local()
        self._guard = threading.Lock()
        self._opened: list[tuple[threading.Thread, sqlite3.Connection]] = []

    def _open(self) -> sqlite3.Connection:
        with self._guard:
            alive = []
            for thread, conn in self._opened:
                if thread.is_alive():
                    alive.append((thread, conn))
                else:
                    _close_quietly(conn)
            self._opened = alive
        with _translate():
            conn = self._opener()
            if not isinstance(conn, sqlite3.Connection):
                raise InterfaceError(
                    f"the connection factory returned {type(conn).__name__}",
                    expected="a sqlite3.Connection",
                )
            try:
                _configure(conn, self._busy_timeout)
            except BaseException:
                _close_quietly(conn)
                raise
        with self._guard:
            self._opened.append((threading.current_thread(), conn))
        return conn

    def _slot(self, name: str) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, name, None)
        if conn is None:
            conn = self._open()
            setattr(self._local, name, conn)
        return conn

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        yield self._slot("reader")

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        if getattr(self._local, "busy", False):
            raise InterfaceError(
                "a unit of work is already open on this thread",
                expected="one unit of work per thread at a time (pass the open one down)",
            )
        conn = self._slot("writer")
        self._local.busy = True
        try:
            yield conn
        finally:
            self._local.busy = False

    def close(self) -> None:
        with self._guard:
            opened, self._opened = self._opened, []
        for _thread, conn in opened:
            _close_quietly(conn)


class _TempDatabase:
    """The private temporary file behind ``":memory:"``, shared by the handles of one store.

    The directory is made on first use and removed when the last handle
    releases it (a finalizer removes it if no handle ever does).
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._directory: str | None = None
        self._handles = 1
        self._finalizer: weakref.finalize[Any, Any] | None = None

    def retain(self) -> _TempDatabase:
        """Count one more handle (see :meth:`SQLiteStore.reopen`)."""
        with self._guard:
            if self._handles <= 0:
                raise InterfaceError(
                    "the temporary database was removed", expected="an open SQLiteStore"
                )
            self._handles += 1
        return self

    def path(self) -> str:
        """The database file, its directory made on first call."""
        with self._guard:
            if self._handles <= 0:
                raise InterfaceError(
                    "the temporary database was removed", expected="an open SQLiteStore"
                )
            if self._directory is None:
                directory = tempfile.mkdtemp(prefix="jukinet-sqlite-")
                self._finalizer = weakref.finalize(
                    self, shutil.rmtree, directory, ignore_errors=True
                )
                self._directory = directory
            return os.path.join(self._directory, "node.db")

    @property
    def directory(self) -> str | None:
        """The temporary directory, None before first use."""
        return self._directory

    def release(self) -> None:
        """Release one handle; the last one removes the directory."""
        with self._guard:
            self._handles -= 1
            if self._handles > 0 or self._finalizer is None:
                return
            finalizer, self._finalizer = self._finalizer, None
        finalizer()


def _close_quietly(conn: sqlite3.Connection) -> None:
    # A factory's connection bound to another thread (check_same_thread=True)
    # cannot be closed from here; it is closed when it is garbage-collected.
    with suppress(sqlite3.Error):
        conn.close()


# --- value helpers ---------------------------------------------------------


def _placeholders(count: int) -> str:
    return ",".join("?" * count)


def _as_list(rows: object, cls: type[_R], what: str) -> list[_R]:
    """The rows of a write as a list, each an instance of ``cls``, else InterfaceError."""
    if isinstance(rows, (cls, str, bytes)) or not isinstance(rows, Iterable):
        raise InterfaceError(
            f"got {type(rows).__name__}", field=what, expected=f"a sequence of {cls.__name__}"
        )
    items = list(rows)
    for item in items:
        if not isinstance(item, cls):
            raise InterfaceError(
                f"got {type(item).__name__}", field=what, expected=f"{cls.__name__} instances"
            )
    return items


def _as_items(values: object, what: str, expected: str) -> list[Any]:
    """A sequence argument as a list (a lone str or bytes is refused); items unchecked."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise InterfaceError(f"got {type(values).__name__}", field=what, expected=expected)
    return list(values)


_REGISTER_COLUMNS = (
    "v.internal_id, v.version, v.resident_code, v.status, v.household_id,"
    " v.reason, v.event_date, v.processed_on, v.payload"
)
_REGISTER_CURRENT = (
    f"SELECT {_REGISTER_COLUMNS} FROM register_current c JOIN register_versions v"
    " ON v.internal_id = c.internal_id AND v.version = c.version"
)
_INSERT_REGISTER_VERSION = (
    "INSERT INTO register_versions (internal_id, version, resident_code, status, household_id,"
    " reason, event_date, processed_on, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_REGISTER_CURRENT = (
    "INSERT INTO register_current (internal_id, version, resident_code, status, household_id)"
    " VALUES (?, ?, ?, ?, ?)"
)
_UPSERT_REGISTER_CURRENT = (
    _INSERT_REGISTER_CURRENT + " ON CONFLICT (internal_id) DO UPDATE SET"
    " version = excluded.version, resident_code = excluded.resident_code,"
    " status = excluded.status, household_id = excluded.household_id"
)
_INSERT_REGISTER_CODE = "INSERT INTO register_codes (resident_code, internal_id) VALUES (?, ?)"


def _register_row(r: Any) -> RegisterRow:
    return unchecked(
        RegisterRow,
        internal_id=r[0],
        version=r[1],
        resident_code=r[2],
        status=r[3],
        household_id=r[4],
        reason=r[5],
        event_date=date.fromisoformat(r[6]),
        processed_on=date.fromisoformat(r[7]),
        payload=r[8],
    )


def _register_params(r: RegisterRow) -> tuple[Any, ...]:
    return (
        r.internal_id,
        r.version,
        r.resident_code,
        r.status,
        r.household_id,
        r.reason,
        r.event_date.isoformat(),
        r.processed_on.isoformat(),
        r.payload,
    )


_IDENTITY_COLUMNS = (
    "v.resident_code, v.version, v.municipality, v.reason, v.event_date, v.removed, v.name_key,"
    " v.reading_key, v.birth_date, v.sex, v.address_key, v.previous_resident_code, v.payload,"
    " v.received_on"
)
_IDENTITY_CURRENT = (
    f"SELECT {_IDENTITY_COLUMNS} FROM identity_current c JOIN identity_versions v"
    " ON v.resident_code = c.resident_code AND v.version = c.version"
)
_INSERT_IDENTITY_VERSION = (
    "INSERT INTO identity_versions (resident_code, version, municipality, reason, event_date,"
    " removed, name_key, reading_key, birth_date, sex, address_key, previous_resident_code,"
    " payload, received_on) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_IDENTITY_CURRENT = (
    "INSERT INTO identity_current (resident_code, version, municipality, removed, name_key,"
    " birth_date, sex, address_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPSERT_IDENTITY_CURRENT = (
    _INSERT_IDENTITY_CURRENT + " ON CONFLICT (resident_code, municipality) DO UPDATE SET"
    " version = excluded.version, removed = excluded.removed, name_key = excluded.name_key,"
    " birth_date = excluded.birth_date, sex = excluded.sex, address_key = excluded.address_key"
)
# The person's current version among a code's identity_current rows: not removed
# first, then the highest version (versions of one code are unique).
_IS_CURRENT_IDENTITY = (
    "c.version = (SELECT b.version FROM identity_current b"
    " WHERE b.resident_code = c.resident_code ORDER BY b.removed, b.version DESC LIMIT 1)"
)


def _identity_row(r: Any) -> IdentityRow:
    return unchecked(
        IdentityRow,
        resident_code=r[0],
        version=r[1],
        municipality=r[2],
        reason=r[3],
        event_date=date.fromisoformat(r[4]),
        removed=bool(r[5]),
        name_key=r[6],
        reading_key=r[7],
        birth_date=date.fromisoformat(r[8]),
        sex=r[9],
        address_key=r[10],
        previous_resident_code=r[11],
        payload=r[12],
        received_on=None if r[13] is None else date.fromisoformat(r[13]),
    )


def _identity_sequence(
    items: Sequence[IdentityRow], stored: dict[str, int] | None
) -> tuple[list[tuple[Any, ...]], dict[tuple[str, str], tuple[Any, ...]]]:
    """The parameters of identity rows that number each code's versions on without a
    gap, from ``stored`` (the last stored version per code, 0 for a new one) or, when
    ``stored`` is None, from each code's first row; and the last row per (code,
    municipality). A row out of sequence raises :class:`IntegrityError`."""
    versions = dict(stored or {})
    latest: dict[tuple[str, str], tuple[Any, ...]] = {}
    params: list[tuple[Any, ...]] = []
    for row in items:
        start = 0 if stored is not None else row.version - 1
        expected = versions.get(row.resident_code, start) + 1
        if row.version != expected:
            raise _version_error("resident code", row.resident_code, row.version, expected)
        versions[row.resident_code] = row.version
        p = _identity_params(row)
        params.append(p)
        latest[row.resident_code, row.municipality] = p
    return params, latest


def _identity_params(r: IdentityRow) -> tuple[Any, ...]:
    return (
        r.resident_code,
        r.version,
        r.municipality,
        r.reason,
        r.event_date.isoformat(),
        1 if r.removed else 0,
        r.name_key,
        r.reading_key,
        r.birth_date.isoformat(),
        r.sex,
        r.address_key,
        r.previous_resident_code,
        r.payload,
        None if r.received_on is None else r.received_on.isoformat(),
    )


def _identity_current_params(p: tuple[Any, ...]) -> tuple[Any, ...]:
    """The identity_current columns out of an identity_versions parameter tuple."""
    return (p[0], p[1], p[2], p[5], p[6], p[8], p[9], p[10])


def _version_error(what: str, key: str, given: int, expected: int) -> IntegrityError:
    problem = "is already stored" if given < expected else "skips a version"
    return IntegrityError(
        f"{what} {key!r}: version {given} {problem}", field="version", expected=str(expected)
    )


def _current_versions(
    conn: sqlite3.Connection, table: str, key: str, keys: Sequence[str]
) -> dict[str, int]:
    found: dict[str, int] = {}
    for part in chunks(keys, CHUNK_SIZE):
        found.update(
            conn.execute(
                f"SELECT {key}, version FROM {table} WHERE {key} IN ({_placeholders(len(part))})",
                tuple(part),
            ).fetchall()
        )
    return found


def _last_identity_versions(conn: sqlite3.Connection, codes: Sequence[str]) -> dict[str, int]:
    """The highest stored version per code (history order), for the codes found."""
    found: dict[str, int] = {}
    for part in chunks(codes, CHUNK_SIZE):
        found.update(
            conn.execute(
                "SELECT resident_code, max(version) FROM identity_versions"
                f" WHERE resident_code IN ({_placeholders(len(part))}) GROUP BY resident_code",
                tuple(part),
            ).fetchall()
        )
    return found


def _refuse_stored(conn: sqlite3.Connection, codes: Sequence[str]) -> None:
    """IntegrityError if any of ``codes`` has a stored version."""
    stored = _last_identity_versions(conn, list(dict.fromkeys(codes)))
    if stored:
        code, version = min(stored.items())
        raise IntegrityError(
            f"resident code {code!r} is already stored (up to version {version})",
            field="resident_code",
            expected="codes not yet stored",
        )


# Per code with a version received before ? (by the partial index): its oldest and
# newest version and its oldest version that is not due (NULL when all are). A
# version is due when the next one was received before ?, or when it is removed and
# was itself received before ? (令30条の6・令30条の7); NULL days never count.
_DUE_IDENTITY_VERSIONS = """
    SELECT v.resident_code, min(v.version), max(v.version),
        min(CASE WHEN coalesce(n.received_on < ?1, 0)
                   OR (v.removed = 1 AND coalesce(v.received_on < ?1, 0))
            THEN NULL ELSE v.version END)
    FROM identity_versions v
    LEFT JOIN identity_versions n
        ON n.resident_code = v.resident_code AND n.version = v.version + 1
    WHERE v.resident_code IN (
        SELECT resident_code FROM identity_versions
        WHERE received_on IS NOT NULL AND received_on < ?1)
    GROUP BY v.resident_code
"""


def _codes_argument(resident_codes: object) -> list[str]:
    """A bulk look-up's codes, validated, duplicates dropped (first occurrence kept)."""
    return list(
        dict.fromkeys(
            check_resident_code(c)
            for c in _as_items(resident_codes, "resident_codes", "a sequence of str")
        )
    )


# --- unit of work ----------------------------------------------------------


class SQLiteUnitOfWork(UnitOfWork):
    """A ``BEGIN IMMEDIATE`` transaction on one connection of one :class:`SQLiteStore`."""

    __slots__ = ("_active", "_conn", "_store")

    def __init__(self, store: SQLiteStore, conn: sqlite3.Connection) -> None:
        self._store = store
        self._conn = conn
        self._active = True

    @property
    def active(self) -> bool:
        """Whether the unit of work can still be written to."""
        return self._active

    def __repr__(self) -> str:
        return f"<SQLiteUnitOfWork active={self._active}>"


# --- ports -----------------------------------------------------------------


class _Port:
    __slots__ = ("_store",)

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store


class SQLiteRegister(_Port, Register):
    """The resident register (住民基本台帳) in ``register_versions`` / ``_current`` / ``_codes``."""

    __slots__ = ()

    def append(self, uow: UnitOfWork, rows: Sequence[RegisterRow]) -> None:
        """Append versions (see :meth:`jukinet.storage.base.Register.append`)."""
        items = _as_list(rows, RegisterRow, "rows")
        with self._store._write(uow) as conn:
            if not items:
                return
            ids = list(dict.fromkeys(row.internal_id for row in items))
            codes = list(dict.fromkeys(row.resident_code for row in items))
            versions = _current_versions(conn, "register_current", "internal_id", ids)
            owners: dict[str, str] = {}
            for part in chunks(codes, CHUNK_SIZE):
                owners.update(
                    conn.execute(
                        "SELECT resident_code, internal_id FROM register_codes"
                        f" WHERE resident_code IN ({_placeholders(len(part))})",
                        tuple(part),
                    ).fetchall()
                )
            new_codes: list[tuple[str, str]] = []
            latest: dict[str, RegisterRow] = {}
            for row in items:
                expected = versions.get(row.internal_id, 0) + 1
                if row.version != expected:
                    raise _version_error("person", row.internal_id, row.version, expected)
                versions[row.internal_id] = row.version
                latest[row.internal_id] = row
                owner = owners.get(row.resident_code)
                if owner is None:
                    owners[row.resident_code] = row.internal_id
                    new_codes.append((row.resident_code, row.internal_id))
                elif owner != row.internal_id:
                    raise IntegrityError(
                        f"resident code {row.resident_code} belongs to {owner!r},"
                        f" not {row.internal_id!r}; a code belongs to one person for ever"
                        " (住基法30条の2)",
                        field="resident_code",
                    )
            conn.executemany(_INSERT_REGISTER_VERSION, map(_register_params, items))
            conn.executemany(
                _UPSERT_REGISTER_CURRENT,
                [
                    (r.internal_id, r.version, r.resident_code, r.status, r.household_id)
                    for r in latest.values()
                ],
            )
            conn.executemany(_INSERT_REGISTER_CODE, new_codes)

    def bulk_load(self, uow: UnitOfWork, rows: Sequence[RegisterRow]) -> int:
        """Load first versions with ``executemany`` (see :meth:`~jukinet.storage.base.Register.bulk_load`).

        Duplicates (a person or code already stored, or twice in ``rows``) are
        refused by the tables' keys, not by a look-up per row.
        """
        items = _as_list(rows, RegisterRow, "rows")
        for row in items:
            if row.version != 1:
                raise _version_error("person", row.internal_id, row.version, 1)
        params = [_register_params(row) for row in items]
        with self._store._write(uow) as conn:
            conn.executemany(_INSERT_REGISTER_VERSION, params)
            conn.executemany(
                _INSERT_REGISTER_CURRENT, [(p[0], 1, p[2], p[3], p[4]) for p in params]
            )
            conn.executemany(_INSERT_REGISTER_CODE, [(p[2], p[0]) for p in params])
        return len(params)

    def current(self, internal_id: str, uow: UnitOfWork | None = None) -> RegisterRow | None:
        """The newest version of the person with this internal number, or None."""
        check_internal_id(internal_id)
        with self._store._read(uow) as conn:
            rows = conn.execute(
                f"{_REGISTER_CURRENT} WHERE c.internal_id = ?", (internal_id,)
            ).fetchall()
        found = _decode(rows, _register_row, "register_versions")
        return found[0] if found else None

    def current_by_code(
        self, resident_code: str, uow: UnitOfWork | None = None
    ) -> RegisterRow | None:
        """The newest version of the person who holds or held this resident code, or None."""
        check_resident_code(resident_code)
        with self._store._read(uow) as conn:
            rows = conn.execute(
                f"SELECT {_REGISTER_COLUMNS} FROM register_codes k"
                " JOIN register_current c ON c.internal_id = k.internal_id"
                " JOIN register_versions v ON v.internal_id = c.internal_id"
                " AND v.version = c.version WHERE k.resident_code = ?",
                (resident_code,),
            ).fetchall()
        found = _decode(rows, _register_row, "register_versions")
        return found[0] if found else None

    def current_many(
        self, resident_codes: Sequence[str], uow: UnitOfWork | None = None
    ) -> dict[str, RegisterRow]:
        """Bulk look-up in chunks of :data:`CHUNK_SIZE` codes: code → newest version."""
        codes = _codes_argument(resident_codes)
        result: dict[str, RegisterRow] = {}
        if not codes:
            return result
        with self._store._read(uow, snapshot=len(codes) > CHUNK_SIZE) as conn:
            fetched: list[Any] = []
            for part in chunks(codes, CHUNK_SIZE):
                fetched.extend(
                    conn.execute(
                        f"SELECT k.resident_code, {_REGISTER_COLUMNS} FROM register_codes k"
                        " JOIN register_current c ON c.internal_id = k.internal_id"
                        " JOIN register_versions v ON v.internal_id = c.internal_id"
                        f" AND v.version = c.version"
                        f" WHERE k.resident_code IN ({_placeholders(len(part))})",
                        tuple(part),
                    ).fetchall()
                )
        for code, row in zip(
            (r[0] for r in fetched),
            _decode([r[1:] for r in fetched], _register_row, "register_versions"),
            strict=True,
        ):
            result[code] = row
        return result

    def history(self, internal_id: str, uow: UnitOfWork | None = None) -> list[RegisterRow]:
        """Every version of one person, oldest first (empty if unknown)."""
        check_internal_id(internal_id)
        with self._store._read(uow) as conn:
            rows = conn.execute(
                f"SELECT {_REGISTER_COLUMNS} FROM register_versions v"
                " WHERE v.internal_id = ? ORDER BY v.version",
                (internal_id,),
            ).fetchall()
        return _decode(rows, _register_row, "register_versions")

    def household(self, household_id: str, uow: UnitOfWork | None = None) -> list[RegisterRow]:
        """Newest versions of the registered members of a household, by internal number."""
        check_household_id(household_id)
        with self._store._read(uow) as conn:
            rows = conn.execute(
                f"{_REGISTER_CURRENT} WHERE c.household_id = ? AND c.status = 'registered'"
                " ORDER BY c.internal_id",
                (household_id,),
            ).fetchall()
        return _decode(rows, _register_row, "register_versions")

    def scan(
        self, *, after: str | None = None, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[RegisterRow]:
        """Newest versions ordered by internal number, starting after ``after``."""
        if after is not None:
            check_internal_id(after)
        check_int(limit, "limit")
        with self._store._read(uow) as conn:
            rows = conn.execute(
                f"{_REGISTER_CURRENT} WHERE c.internal_id > ? ORDER BY c.internal_id LIMIT ?",
                ("" if after is None else after, limit),
            ).fetchall()
        return _decode(rows, _register_row, "register_versions")

    def count(self, *, status: str | None = None, uow: UnitOfWork | None = None) -> int:
        """How many people (newest versions), optionally with one status."""
        if status is not None:
            check_status(status)
        with self._store._read(uow) as conn:
            if status is None:
                row = conn.execute("SELECT count(*) FROM register_current").fetchone()
            else:
                row = conn.execute(
                    "SELECT count(*) FROM register_current WHERE status = ?", (status,)
                ).fetchone()
        return int(row[0])


class SQLiteIdentityStore(_Port, IdentityStore):
    """Identity information (本人確認情報) in ``identity_versions`` / ``identity_current``.

    ``identity_current`` holds, per (resident code, municipality), that
    municipality's newest version of the code (removed ones included); the
    person's current version is chosen among those rows (see
    :class:`jukinet.storage.base.IdentityStore`).
    """

    __slots__ = ()

    def append(self, uow: UnitOfWork, rows: Sequence[IdentityRow]) -> None:
        """Append versions (see :meth:`jukinet.storage.base.IdentityStore.append`)."""
        items = _as_list(rows, IdentityRow, "rows")
        with self._store._write(uow) as conn:
            if not items:
                return
            codes = list(dict.fromkeys(row.resident_code for row in items))
            params, latest = _identity_sequence(items, _last_identity_versions(conn, codes))
            conn.executemany(_INSERT_IDENTITY_VERSION, params)
            conn.executemany(
                _UPSERT_IDENTITY_CURRENT, [_identity_current_params(p) for p in latest.values()]
            )

    def bulk_load(self, uow: UnitOfWork, rows: Sequence[IdentityRow]) -> int:
        """Load first versions of new codes with ``executemany``.

        A code twice in ``rows`` is refused by the ``identity_versions`` key; a
        code already stored by a look-up of the codes first (after an expiry a
        stored code need not have a version 1 any more).
        """
        items = _as_list(rows, IdentityRow, "rows")
        for row in items:
            if row.version != 1:
                raise _version_error("resident code", row.resident_code, row.version, 1)
        params = [_identity_params(row) for row in items]
        with self._store._write(uow) as conn:
            _refuse_stored(conn, [row.resident_code for row in items])
            conn.executemany(_INSERT_IDENTITY_VERSION, params)
            conn.executemany(
                _INSERT_IDENTITY_CURRENT, [_identity_current_params(p) for p in params]
            )
        return len(params)

    def load_histories(self, uow: UnitOfWork, rows: Sequence[IdentityRow]) -> int:
        """Load whole histories of new codes (any first version, no gap) with
        ``executemany``; returns the number of rows. All or none."""
        items = _as_list(rows, IdentityRow, "rows")
        params, latest = _identity_sequence(items, None)
        with self._store._write(uow) as conn:
            _refuse_stored(conn, list(dict.fromkeys(row.resident_code for row in items)))
            conn.executemany(_INSERT_IDENTITY_VERSION, params)
            conn.executemany(
                _INSERT_IDENTITY_CURRENT, [_identity_current_params(p) for p in latest.values()]
            )
        return len(params)

    def expire(self, uow: UnitOfWork, *, received_before: date) -> int:
        """Delete every code's oldest versions that are due (令30条の6・令30条の7, see
        :meth:`IdentityStore.expire <jukinet.storage.base.IdentityStore.expire>`) and
        the ``identity_current`` rows among them; returns how many versions went."""
        before = check_date(received_before, "received_before").isoformat()
        with self._store._write(uow) as conn:
            cuts: list[tuple[str, int]] = []
            for code, oldest, newest, first_kept in conn.execute(
                _DUE_IDENTITY_VERSIONS, (before,)
            ).fetchall():
                cut = newest if first_kept is None else first_kept - 1  # the last to go
                if cut >= oldest:
                    cuts.append((code, cut))
            if not cuts:
                return 0
            conn.executemany(
                "DELETE FROM identity_current WHERE resident_code = ? AND version <= ?", cuts
            )
            deleted = conn.executemany(
                "DELETE FROM identity_versions WHERE resident_code = ? AND version <= ?", cuts
            ).rowcount
        return int(deleted)

    def last_versions(
        self, resident_codes: Sequence[str], uow: UnitOfWork | None = None
    ) -> dict[str, int]:
        """The highest version per code, for the codes found (chunks of :data:`CHUNK_SIZE`)."""
        codes = _codes_argument(resident_codes)
        if not codes:
            return {}
        with self._store._read(uow, snapshot=len(codes) > CHUNK_SIZE) as conn:
            found = _last_identity_versions(conn, codes)
        return {str(code): int(version) for code, version in found.items()}

    def current(self, resident_code: str, uow: UnitOfWork | None = None) -> IdentityRow | None:
        """The person's current version: the newest not removed, else the newest; or None."""
        check_resident_code(resident_code)
        with self._store._read(uow) as conn:
            rows = conn.execute(
                f"{_IDENTITY_CURRENT} WHERE c.resident_code = ?"
                " ORDER BY c.removed, c.version DESC LIMIT 1",
                (resident_code,),
            ).fetchall()
        found = _decode(rows, _identity_row, "identity_versions")
        return found[0] if found else None

    def current_many(
        self, resident_codes: Sequence[str], uow: UnitOfWork | None = None
    ) -> dict[str, IdentityRow]:
        """Bulk :meth:`current` in chunks of :data:`CHUNK_SIZE` codes."""
        codes = _codes_argument(resident_codes)
        if not codes:
            return {}
        with self._store._read(uow, snapshot=len(codes) > CHUNK_SIZE) as conn:
            fetched: list[Any] = []
            for part in chunks(codes, CHUNK_SIZE):
                fetched.extend(
                    conn.execute(
                        f"{_IDENTITY_CURRENT}"
                        f" WHERE c.resident_code IN ({_placeholders(len(part))})"
                        f" AND {_IS_CURRENT_IDENTITY}",
                        tuple(part),
                    ).fetchall()
                )
        return {
            row.resident_code: row for row in _decode(fetched, _identity_row, "identity_versions")
        }

    def history(self, resident_code: str, uow: UnitOfWork | None = None) -> list[IdentityRow]:
        """Every version for this code, oldest first."""
        check_resident_code(resident_code)
        with self._store._read(uow) as conn:
            rows = conn.execute(
                f"SELECT {_IDENTITY_COLUMNS} FROM identity_versions v"
                " WHERE v.resident_code = ? ORDER BY v.version",
                (resident_code,),
            ).fetchall()
        return _decode(rows, _identity_row, "identity_versions")

    def search(
        self, query: IdentityQuery, *, limit: int = 100, uow: UnitOfWork | None = None
    ) -> list[IdentityRow]:
        """Newest versions per (code, municipality), not removed, matching the four basic
        items (基本4情報), ordered by resident code (then municipality).
        """
        if not isinstance(query, IdentityQuery):
            raise InterfaceError(
                f"got {type(query).__name__}", field="query", expected="an IdentityQuery"
            )
        check_int(limit, "limit")
        sql = f"{_IDENTITY_CURRENT} WHERE c.removed = 0 AND c.name_key = ? AND c.birth_date = ?"
        params: list[Any] = [query.name_key, query.birth_date.isoformat()]
        if query.sex is not None:
            sql += " AND c.sex = ?"
            params.append(query.sex)
        if query.address_key is not None:
            sql += " AND c.address_key = ?"
            params.append(query.address_key)
        sql += " ORDER BY c.resident_code, c.municipality LIMIT ?"
        params.append(limit)
        with self._store._read(uow) as conn:
            rows = conn.execute(sql, params).fetchall()
        return _decode(rows, _identity_row, "identity_versions")

    def scan(
        self,
        *,
        municipality: str | None = None,
        after: str | None = None,
        limit: int = 1000,
        uow: UnitOfWork | None = None,
    ) -> list[IdentityRow]:
        """Ordered by resident code, after ``after``: with ``municipality`` its newest
        version of every code it notified (removed included), else each code's
        current version.
        """
        if municipality is not None:
            check_lg_code(municipality)
        if after is not None:
            check_resident_code(after, "after")
        check_int(limit, "limit")
        params: list[Any]
        if municipality is None:
            sql = f"{_IDENTITY_CURRENT} WHERE c.resident_code > ? AND {_IS_CURRENT_IDENTITY}"
            params = ["" if after is None else after]
        else:
            sql = f"{_IDENTITY_CURRENT} WHERE c.municipality = ? AND c.resident_code > ?"
            params = [municipality, "" if after is None else after]
        sql += " ORDER BY c.resident_code LIMIT ?"
        params.append(limit)
        with self._store._read(uow) as conn:
            rows = conn.execute(sql, params).fetchall()
        return _decode(rows, _identity_row, "identity_versions")

    def count(self, *, municipality: str | None = None, uow: UnitOfWork | None = None) -> int:
        """How many codes, or how many codes one municipality notified (as :meth:`scan`)."""
        if municipality is not None:
            check_lg_code(municipality)
        with self._store._read(uow) as conn:
            if municipality is None:
                row = conn.execute(
                    "SELECT count(DISTINCT resident_code) FROM identity_current"
                ).fetchone()
            else:
                row = conn.execute(
                    "SELECT count(*) FROM identity_current WHERE municipality = ?",
                    (municipality,),
                ).fetchone()
        return int(row[0])


class SQLiteOutbox(_Port, Outbox):
    """The outbox in ``outbox`` with one ``outbox_heads`` row per destination.

    The head row holds the last sequence number given (``last_seq``) and the
    highest one the destination acknowledged (``acked``). ``BEGIN IMMEDIATE``
    serializes writers, so numbers are handed out in commit order without gaps.
    """

    __slots__ = ()

    def append(self, uow: UnitOfWork, destination: str, payloads: Sequence[bytes]) -> range:
        """Append payloads for ``destination``; returns the sequence numbers given."""
        check_node_id(destination, "destination")
        items = _as_items(payloads, "payloads", "a sequence of bytes")
        for payload in items:
            OutboxEntry(destination=destination, seq=1, payload=payload)  # validates the payload
        with self._store._write(uow) as conn:
            head = conn.execute(
                "SELECT last_seq FROM outbox_heads WHERE destination = ?", (destination,)
            ).fetchone()
            last = 0 if head is None else int(head[0])
            if not items:
                return range(last + 1, last + 1)
            if head is None:
                conn.execute(
                    "INSERT INTO outbox_heads (destination, last_seq) VALUES (?, ?)",
                    (destination, last + len(items)),
                )
            else:
                conn.execute(
                    "UPDATE outbox_heads SET last_seq = ? WHERE destination = ?",
                    (last + len(items), destination),
                )
            conn.executemany(
                "INSERT INTO outbox (destination, seq, payload) VALUES (?, ?, ?)",
                [(destination, last + i, p) for i, p in enumerate(items, start=1)],
            )
        return range(last + 1, last + len(items) + 1)

    def read(
        self, destination: str, *, after: int = 0, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[OutboxEntry]:
        """Entries for ``destination`` with ``seq > after``, in order, at most ``limit``."""
        check_node_id(destination, "destination")
        check_int(after, "after")
        check_int(limit, "limit")
        with self._store._read(uow) as conn:
            rows = conn.execute(
                "SELECT seq, payload FROM outbox WHERE destination = ? AND seq > ?"
                " ORDER BY seq LIMIT ?",
                (destination, after, limit),
            ).fetchall()
        return _decode(
            rows,
            lambda r: OutboxEntry(destination=destination, seq=r[0], payload=r[1]),
            "outbox",
            (destination,),
        )

    def last_seq(self, destination: str, uow: UnitOfWork | None = None) -> int:
        """The highest sequence number given for ``destination`` (0 if none)."""
        check_node_id(destination, "destination")
        with self._store._read(uow) as conn:
            row = conn.execute(
                "SELECT last_seq FROM outbox_heads WHERE destination = ?", (destination,)
            ).fetchone()
        return 0 if row is None else int(row[0])

    def destinations(self, uow: UnitOfWork | None = None) -> list[str]:
        """Every destination that has entries or a head set by :meth:`resume`, sorted."""
        with self._store._read(uow) as conn:
            rows = conn.execute(
                "SELECT destination FROM outbox_heads ORDER BY destination"
            ).fetchall()
        return [str(r[0]) for r in rows]

    def acknowledge(self, uow: UnitOfWork, destination: str, seq: int) -> None:
        """Record that ``destination`` confirmed every entry up to ``seq`` (monotonic).

        A ``seq`` at or below the acknowledged position is a no-op; one above
        :meth:`last_seq` is an IntegrityError.
        """
        check_node_id(destination, "destination")
        check_int(seq, "seq")
        with self._store._write(uow) as conn:
            head = conn.execute(
                "SELECT last_seq, acked FROM outbox_heads WHERE destination = ?", (destination,)
            ).fetchone()
            last, acked = (0, 0) if head is None else (int(head[0]), int(head[1]))
            if seq > last:
                raise IntegrityError(
                    f"acknowledgement of {seq} for {destination!r}, which was given only up to"
                    f" {last}",
                    field="seq",
                    expected=f"at most {last}",
                )
            if seq > acked:
                conn.execute(
                    "UPDATE outbox_heads SET acked = ? WHERE destination = ?", (seq, destination)
                )

    def acknowledged(self, destination: str, uow: UnitOfWork | None = None) -> int:
        """The highest sequence number ``destination`` confirmed (0 if none)."""
        check_node_id(destination, "destination")
        with self._store._read(uow) as conn:
            row = conn.execute(
                "SELECT acked FROM outbox_heads WHERE destination = ?", (destination,)
            ).fetchone()
        return 0 if row is None else int(row[0])

    def resume(self, uow: UnitOfWork, destination: str, last_seq: int) -> None:
        """Start a fresh destination's numbering after ``last_seq`` (already applied there).

        Only for a destination with no entries and no head: anything else is an
        IntegrityError.
        """
        check_node_id(destination, "destination")
        check_int(last_seq, "last_seq")
        with self._store._write(uow) as conn:
            head = conn.execute(
                "SELECT last_seq FROM outbox_heads WHERE destination = ?", (destination,)
            ).fetchone()
            if head is not None:
                raise IntegrityError(
                    f"the outbox of {destination!r} already exists (last sequence number"
                    f" {int(head[0])}); only a fresh destination can be resumed",
                    field="destination",
                    expected="a destination with no entries and no head",
                )
            conn.execute(
                "INSERT INTO outbox_heads (destination, last_seq, acked) VALUES (?, ?, ?)",
                (destination, last_seq, last_seq),
            )


class SQLiteTracking(_Port, Tracking):
    """What the node applied from each sender, one ``tracking`` row per sender."""

    __slots__ = ()

    def position(self, sender: str, uow: UnitOfWork | None = None) -> int:
        """The last sequence number applied from ``sender`` (0 if none)."""
        check_node_id(sender, "sender")
        with self._store._read(uow) as conn:
            row = conn.execute(
                "SELECT position FROM tracking WHERE sender = ?", (sender,)
            ).fetchone()
        return 0 if row is None else int(row[0])

    def advance(self, uow: UnitOfWork, sender: str, seq: int, *, last: int | None = None) -> None:
        """Record ``seq`` through ``last`` (default ``seq``) from ``sender`` as applied.

        ``seq`` must be exactly position + 1; the position becomes ``last``. The
        write is one conditional statement; only a refusal reads the position
        (for the message).
        """
        check_node_id(sender, "sender")
        check_int(seq, "seq", minimum=1)
        end = seq if last is None else check_int(last, "last", minimum=seq)
        with self._store._write(uow) as conn:
            if seq == 1:
                cursor = conn.execute(
                    "INSERT INTO tracking (sender, position) VALUES (?, ?)"
                    " ON CONFLICT (sender) DO UPDATE SET position = excluded.position"
                    " WHERE tracking.position = 0",
                    (sender, end),
                )
            else:
                cursor = conn.execute(
                    "UPDATE tracking SET position = ? WHERE sender = ? AND position = ?",
                    (end, sender, seq - 1),
                )
            if cursor.rowcount != 1:
                row = conn.execute(
                    "SELECT position FROM tracking WHERE sender = ?", (sender,)
                ).fetchone()
                position = 0 if row is None else int(row[0])
                problem = "was already applied" if seq <= position else "skips ahead"
                raise IntegrityError(
                    f"sequence number {seq} from {sender!r} {problem}",
                    field="seq",
                    expected=str(position + 1),
                )

    def senders(self, uow: UnitOfWork | None = None) -> dict[str, int]:
        """Every sender with its position."""
        with self._store._read(uow) as conn:
            rows = conn.execute("SELECT sender, position FROM tracking ORDER BY sender").fetchall()
        return {str(s): int(p) for s, p in rows}


class SQLiteCodePool(_Port, CodePool):
    """Resident codes (住民票コード) designated to municipalities, in ``code_pool``."""

    __slots__ = ()

    def designate(self, uow: UnitOfWork, municipality: str, codes: Sequence[str]) -> None:
        """Add codes to the pool; one designated before (or twice here) is an IntegrityError."""
        check_lg_code(municipality)
        items = [
            check_resident_code(code) for code in _as_items(codes, "codes", "a sequence of str")
        ]
        with self._store._write(uow) as conn:
            conn.executemany(
                "INSERT INTO code_pool (resident_code, municipality, used) VALUES (?, ?, 0)",
                [(code, municipality) for code in items],
            )

    def allocate(self, uow: UnitOfWork, municipality: str) -> str | None:
        """Take the lowest unused code of the municipality and mark it used; None if none."""
        check_lg_code(municipality)
        with self._store._write(uow) as conn:
            row = conn.execute(
                "SELECT resident_code FROM code_pool WHERE municipality = ? AND used = 0"
                " ORDER BY resident_code LIMIT 1",
                (municipality,),
            ).fetchone()
            if row is None:
                return None
            code = str(row[0])
            conn.execute("UPDATE code_pool SET used = 1 WHERE resident_code = ?", (code,))
        return code

    def mark_used(self, uow: UnitOfWork, resident_code: str) -> None:
        """Mark a designated, unused code as used; unknown or used is an IntegrityError."""
        check_resident_code(resident_code)
        with self._store._write(uow) as conn:
            cursor = conn.execute(
                "UPDATE code_pool SET used = 1 WHERE resident_code = ? AND used = 0",
                (resident_code,),
            )
            if cursor.rowcount != 1:
                raise IntegrityError(
                    f"resident code {resident_code} is not designated or already used",
                    field="resident_code",
                    expected="a designated, unused code",
                )

    def available(self, municipality: str, uow: UnitOfWork | None = None) -> int:
        """How many unused codes the municipality has left."""
        check_lg_code(municipality)
        with self._store._read(uow) as conn:
            row = conn.execute(
                "SELECT count(*) FROM code_pool WHERE municipality = ? AND used = 0",
                (municipality,),
            ).fetchone()
        return int(row[0])

    def is_designated(self, resident_code: str, uow: UnitOfWork | None = None) -> bool:
        """Whether the code was ever designated (to anyone)."""
        check_resident_code(resident_code)
        with self._store._read(uow) as conn:
            row = conn.execute(
                "SELECT 1 FROM code_pool WHERE resident_code = ?", (resident_code,)
            ).fetchone()
        return row is not None

    def designated_to(self, resident_code: str, uow: UnitOfWork | None = None) -> str | None:
        """The municipality the code was designated to, or None."""
        check_resident_code(resident_code)
        with self._store._read(uow) as conn:
            row = conn.execute(
                "SELECT municipality FROM code_pool WHERE resident_code = ?", (resident_code,)
            ).fetchone()
        return None if row is None else str(row[0])

    def designated_count(self, uow: UnitOfWork | None = None) -> int:
        """How many codes were ever designated."""
        with self._store._read(uow) as conn:
            row = conn.execute("SELECT count(*) FROM code_pool").fetchone()
        return int(row[0])


def _audit_record(r: Any) -> AuditRecord:
    return AuditRecord(
        seq=r[0],
        entry=AuditEntry(at=datetime.fromisoformat(r[1]), action=r[2], subject=r[3], detail=r[4]),
    )


class SQLiteAuditLog(_Port, AuditLog):
    """The node's audit log in ``audit_log``.

    Sequence numbers follow the highest one stored; ``BEGIN IMMEDIATE``
    serializes writers, so they are gap-free and in commit order. ``at`` is
    stored as ISO 8601 text with its UTC offset and read back as an aware
    datetime of that fixed offset (equal, as an instant, to the one written).
    """

    __slots__ = ()

    def append(self, uow: UnitOfWork, entries: Sequence[AuditEntry]) -> range:
        """Append entries; returns their sequence numbers (empty range, nothing written,
        for no entries)."""
        items = _as_list(entries, AuditEntry, "entries")
        params = [(e.at.isoformat(), e.action, e.subject, e.detail) for e in items]
        with self._store._write(uow) as conn:
            last = int(conn.execute("SELECT coalesce(max(seq), 0) FROM audit_log").fetchone()[0])
            conn.executemany(
                "INSERT INTO audit_log (seq, at, action, subject, detail) VALUES (?, ?, ?, ?, ?)",
                [(last + i, *p) for i, p in enumerate(params, start=1)],
            )
        return range(last + 1, last + len(params) + 1)

    def read(
        self,
        *,
        after: int = 0,
        limit: int = 1000,
        action: str | None = None,
        uow: UnitOfWork | None = None,
    ) -> list[AuditRecord]:
        """Entries with ``seq > after``, in order, at most ``limit``; with ``action``,
        only those whose action equals it (a range scan of ``audit_log_action``)."""
        check_int(after, "after")
        check_int(limit, "limit")
        self.check_action(action)
        with self._store._read(uow) as conn:
            if action is None:
                rows = conn.execute(
                    "SELECT seq, at, action, subject, detail FROM audit_log WHERE seq > ?"
                    " ORDER BY seq LIMIT ?",
                    (after, limit),
                ).fetchall()
            else:
                rows = conn.execute(
                    "SELECT seq, at, action, subject, detail FROM audit_log"
                    " WHERE action = ? AND seq > ? ORDER BY seq LIMIT ?",
                    (action, after, limit),
                ).fetchall()
        return _decode(rows, _audit_record, "audit_log")

    def last_seq(self, uow: UnitOfWork | None = None) -> int:
        """The highest sequence number written (0 if none)."""
        with self._store._read(uow) as conn:
            row = conn.execute("SELECT coalesce(max(seq), 0) FROM audit_log").fetchone()
        return int(row[0])


# --- provision ports (住基法30条の9〜30条の16, 30条の32〜30条の35) ---------------


@functools.lru_cache(maxsize=256)  # a log repeats a few item lists
def _json_list(values: tuple[str, ...]) -> str:
    return json.dumps(list(values), ensure_ascii=False)


def _json_tuple(text: Any, field: str) -> tuple[str, ...]:
    """A stored JSON array as a tuple (a ValueError naming ``field``, hence a
    CorruptRecord, if it is not one)."""
    try:
        value = json.loads(text)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{field}: not JSON ({exc})") from exc
    if not isinstance(value, list):
        raise ValueError(f"{field}: a JSON {type(value).__name__}, not an array")
    return tuple(value)


_AGENCY_COLUMNS = "agency, public_key, registered_at, recipients, number_uses, locality"


def _agency_row(r: Any) -> AgencyRow:
    return unchecked(
        AgencyRow,
        agency=r[0],
        public_key=r[1],
        registered_at=datetime.fromisoformat(r[2]),
        recipients=_json_tuple(r[3], "recipients"),
        number_uses=_json_tuple(r[4], "number_uses"),
        locality=r[5],
    )


class SQLiteAgencyRegistry(_Port, AgencyRegistry):
    """Agencies registered with a provider (住基法30条の9〜30条の15), in ``agencies``.

    ``recipients`` and ``number_uses`` are JSON arrays (UTF-8 text),
    ``registered_at`` ISO 8601 text with its UTC offset (as the audit log's
    ``at``), ``public_key`` the raw key as a BLOB.
    """

    __slots__ = ()

    def register(self, uow: UnitOfWork, row: AgencyRow) -> None:
        """Register an agency; a name registered before is an IntegrityError, nothing written."""
        if not isinstance(row, AgencyRow):
            raise InterfaceError(f"got {type(row).__name__}", field="row", expected="an AgencyRow")
        params = (
            row.agency,
            row.public_key,
            row.registered_at.isoformat(),
            _json_list(row.recipients),
            _json_list(row.number_uses),
            row.locality,
        )
        with self._store._write(uow) as conn:
            conn.execute(
                f"INSERT INTO agencies ({_AGENCY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", params
            )

    def get(self, agency: str, uow: UnitOfWork | None = None) -> AgencyRow | None:
        """The agency's registration, or None."""
        check_field(AgencyRow, "agency", agency)
        with self._store._read(uow) as conn:
            rows = conn.execute(
                f"SELECT {_AGENCY_COLUMNS} FROM agencies WHERE agency = ?", (agency,)
            ).fetchall()
        found = _decode(rows, _agency_row, "agencies")
        return found[0] if found else None

    def list(
        self, *, after: str | None = None, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> builtins.list[AgencyRow]:
        """Registrations ordered by name (code point order), after ``after``, at most ``limit``."""
        if after is not None:
            check_field(AgencyRow, "agency", after)
        check_int(limit, "limit")
        with self._store._read(uow) as conn:
            rows = conn.execute(
                f"SELECT {_AGENCY_COLUMNS} FROM agencies WHERE agency > ? ORDER BY agency LIMIT ?",
                ("" if after is None else after, limit),
            ).fetchall()
        return _decode(rows, _agency_row, "agencies")


_PROVISION_COLUMNS = (
    'seq, at, kind, request_id, agency, "use", subject, items, detail, prev_hash, hash'
)


def _provision_record(r: Any) -> ProvisionRecord:
    return ProvisionRecord(
        seq=r[0],
        entry=ProvisionEntry(
            at=datetime.fromisoformat(r[1]),
            kind=r[2],
            request_id=r[3],
            agency=r[4],
            use=r[5],
            subject=r[6],
            items=_json_tuple(r[7], "items"),
            detail=r[8],
        ),
        prev_hash=r[9],
        hash=r[10],
    )


def _provision_params(r: ProvisionRecord) -> tuple[Any, ...]:
    e = r.entry
    return (
        r.seq,
        e.at.isoformat(),
        e.kind,
        e.request_id,
        e.agency,
        e.use,
        e.subject,
        _json_list(e.items),
        e.detail,
        r.prev_hash,
        r.hash,
    )


def _provision_meta(conn: sqlite3.Connection, name: str) -> tuple[int, str]:
    """The stored ``head`` or ``anchor`` of the provision log; a missing row is a DataError,
    a malformed one a CorruptRecord."""
    row = conn.execute("SELECT seq, hash FROM provision_meta WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise DataError(f"the provision log's {name} row (provision_meta) is missing")
    seq, hash_ = row
    try:
        check_int(seq, "seq")
        check_field(ProvisionRecord, "hash", hash_)
    except ValueError as exc:
        raise _corrupt("provision_meta", (name,), exc) from exc
    return int(seq), str(hash_)


_PURGE_BATCH = 1000
"""Records examined per statement while :meth:`SQLiteProvisionLog.purge` looks for its end."""


class SQLiteProvisionLog(_Port, ProvisionLog):
    """The provision log (提供記録, 住基法30条の11等) in ``provision_log``, hash-chained.

    ``provision_meta`` holds two rows: ``head`` (the last sequence number given
    and its hash) and ``anchor`` (the last purged record's, ``(0, GENESIS)``
    until a purge). :meth:`append` reads and writes the head inside the unit
    of work, a ``BEGIN IMMEDIATE`` transaction, so appenders are serialized and
    the chain never forks. Records are read back as stored, never re-hashed;
    ``at`` is ISO 8601 text with its offset, ``items`` a JSON array.
    """

    __slots__ = ()

    def append(self, uow: UnitOfWork, entries: Sequence[ProvisionEntry]) -> list[ProvisionRecord]:
        """Append entries after the head, each chained to the one before; returns the records."""
        items = _as_list(entries, ProvisionEntry, "entries")
        with self._store._write(uow) as conn:
            if not items:
                return []
            records = chain(_provision_meta(conn, "head"), items)
            conn.executemany(
                f"INSERT INTO provision_log ({_PROVISION_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                map(_provision_params, records),
            )
            conn.execute(
                "UPDATE provision_meta SET seq = ?, hash = ? WHERE name = 'head'",
                (records[-1].seq, records[-1].hash),
            )
        return records

    def read(
        self,
        *,
        after: int = 0,
        limit: int = 1000,
        subject: str | None = None,
        uow: UnitOfWork | None = None,
    ) -> list[ProvisionRecord]:
        """Records with ``seq > after`` in order, at most ``limit``, as stored; with
        ``subject`` only that person's (a range scan of ``provision_log_subject``)."""
        check_int(after, "after")
        check_int(limit, "limit")
        if subject is not None:
            check_resident_code(subject, "subject")
        with self._store._read(uow) as conn:
            if subject is None:
                rows = conn.execute(
                    f"SELECT {_PROVISION_COLUMNS} FROM provision_log WHERE seq > ?"
                    " ORDER BY seq LIMIT ?",
                    (after, limit),
                ).fetchall()
            else:
                rows = conn.execute(
                    f"SELECT {_PROVISION_COLUMNS} FROM provision_log"
                    " WHERE subject = ? AND seq > ? ORDER BY seq LIMIT ?",
                    (subject, after, limit),
                ).fetchall()
        return _decode(rows, _provision_record, "provision_log")

    def has_request(
        self, request_id: str, uow: UnitOfWork | None = None, *, agency: str | None = None
    ) -> bool:
        """Whether a record carries this request id (from ``agency``, when given), by
        ``provision_log_request_id``."""
        check_request(request_id, agency)
        with self._store._read(uow) as conn:
            if agency is None:
                row = conn.execute(
                    "SELECT 1 FROM provision_log WHERE request_id = ? LIMIT 1", (request_id,)
                ).fetchone()
            else:
                row = conn.execute(
                    "SELECT 1 FROM provision_log WHERE request_id = ? AND agency = ? LIMIT 1",
                    (request_id, agency),
                ).fetchone()
        return row is not None

    def head(self, uow: UnitOfWork | None = None) -> tuple[int, str]:
        """The stored head: the last sequence number given and its hash."""
        with self._store._read(uow) as conn:
            return _provision_meta(conn, "head")

    def anchor(self, uow: UnitOfWork | None = None) -> tuple[int, str]:
        """The stored anchor: ``(0, GENESIS)`` until a purge, then the last purged record's."""
        with self._store._read(uow) as conn:
            return _provision_meta(conn, "anchor")

    def purge(self, uow: UnitOfWork, *, before: datetime) -> int:
        """Remove the oldest records while ``at < before`` (compared as instants), move the
        anchor to the last one removed; returns how many went."""
        check_aware(before, "before")
        with self._store._write(uow) as conn:
            last, last_hash = _provision_meta(conn, "anchor")
            start, count, done = last, 0, False
            while not done:
                rows = conn.execute(
                    "SELECT seq, at, hash FROM provision_log WHERE seq > ? ORDER BY seq LIMIT ?",
                    (last, _PURGE_BATCH),
                ).fetchall()
                done = len(rows) < _PURGE_BATCH
                for seq, at, hash_ in rows:
                    try:
                        stamp = check_aware(datetime.fromisoformat(at), "at")
                        check_field(ProvisionRecord, "hash", hash_)
                    except (ValueError, TypeError) as exc:
                        raise _corrupt("provision_log", (seq,), exc) from exc
                    if stamp >= before:
                        done = True
                        break
                    last, last_hash, count = int(seq), str(hash_), count + 1
            if count:
                conn.execute("DELETE FROM provision_log WHERE seq > ? AND seq <= ?", (start, last))
                conn.execute(
                    "UPDATE provision_meta SET seq = ?, hash = ? WHERE name = 'anchor'",
                    (last, last_hash),
                )
        return count


def _scheduled_item(r: Any) -> ScheduledItem:
    return ScheduledItem(key=r[0], due=date.fromisoformat(r[1]), payload=r[2])


class SQLiteSchedule(_Port, Schedule):
    """Work due on a date (e.g. JPKI法31条), in ``schedule``; ``due`` is ISO 8601 date text,
    so text order is date order."""

    __slots__ = ()

    def add(self, uow: UnitOfWork, items: Sequence[ScheduledItem]) -> None:
        """Add items; a key already scheduled or repeated here is an IntegrityError, nothing added."""
        rows = _as_list(items, ScheduledItem, "items")
        with self._store._write(uow) as conn:
            conn.executemany(
                "INSERT INTO schedule (key, due, payload) VALUES (?, ?, ?)",
                [(item.key, item.due.isoformat(), item.payload) for item in rows],
            )

    def cancel(self, uow: UnitOfWork, keys: Sequence[str]) -> int:
        """Remove the items with these keys (absent ones skipped); returns how many went."""
        wanted = _as_items(keys, "keys", "a sequence of str")
        for key in wanted:
            check_field(ScheduledItem, "key", key)
        unique = list(dict.fromkeys(wanted))
        removed = 0
        with self._store._write(uow) as conn:
            for part in chunks(unique, CHUNK_SIZE):
                cursor = conn.execute(
                    f"DELETE FROM schedule WHERE key IN ({_placeholders(len(part))})", tuple(part)
                )
                removed += cursor.rowcount
        return removed

    def get(self, key: str, uow: UnitOfWork | None = None) -> ScheduledItem | None:
        """The item with this key, or None."""
        check_field(ScheduledItem, "key", key)
        with self._store._read(uow) as conn:
            rows = conn.execute(
                "SELECT key, due, payload FROM schedule WHERE key = ?", (key,)
            ).fetchall()
        found = _decode(rows, _scheduled_item, "schedule")
        return found[0] if found else None

    def due(
        self, on: date, *, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[ScheduledItem]:
        """Items due on or before ``on``, ordered by (due, key), at most ``limit``."""
        check_field(ScheduledItem, "due", on)
        check_int(limit, "limit")
        with self._store._read(uow) as conn:
            rows = conn.execute(
                "SELECT key, due, payload FROM schedule WHERE due <= ? ORDER BY due, key LIMIT ?",
                (on.isoformat(), limit),
            ).fetchall()
        return _decode(rows, _scheduled_item, "schedule")


def _pending_record(r: Any) -> PendingRecord:
    return PendingRecord(
        seq=r[0], entry=PendingNotice(sender=r[1], codes=tuple(str(r[2]).split()), payload=r[3])
    )


class SQLitePendingNotices(_Port, PendingNotices):
    """Notices received and not applied yet, in ``pending_notices``, found by code
    through ``pending_codes``."""

    __slots__ = ()

    def add(self, uow: UnitOfWork, entries: Sequence[PendingNotice]) -> range:
        """Keep notices; returns their sequence numbers, ascending."""
        rows = _as_list(entries, PendingNotice, "entries")
        seqs: list[int] = []
        with self._store._write(uow) as conn:
            for entry in rows:
                cursor = conn.execute(
                    "INSERT INTO pending_notices (sender, codes, payload) VALUES (?, ?, ?)",
                    (entry.sender, " ".join(entry.codes), entry.payload),
                )
                seq = cursor.lastrowid
                assert seq is not None
                conn.executemany(
                    "INSERT INTO pending_codes (resident_code, seq) VALUES (?, ?)",
                    [(code, seq) for code in entry.codes],
                )
                seqs.append(seq)
        return range(seqs[0], seqs[-1] + 1) if seqs else range(0)

    def find(
        self, resident_codes: Sequence[str], uow: UnitOfWork | None = None
    ) -> list[PendingRecord]:
        """Every pending notice about any of these codes, in arrival order."""
        codes = list(dict.fromkeys(_codes_argument(resident_codes)))
        found: dict[int, PendingRecord] = {}
        with self._store._read(uow) as conn:
            for part in chunks(codes, CHUNK_SIZE):
                rows = conn.execute(
                    "SELECT DISTINCT n.seq, n.sender, n.codes, n.payload FROM pending_codes c"
                    " JOIN pending_notices n ON n.seq = c.seq"
                    f" WHERE c.resident_code IN ({_placeholders(len(part))})",
                    tuple(part),
                ).fetchall()
                found.update((r.seq, r) for r in _decode(rows, _pending_record, "pending_notices"))
        return [found[seq] for seq in sorted(found)]

    def remove(self, uow: UnitOfWork, seqs: Sequence[int]) -> int:
        """Forget these notices; absent ones are skipped; returns how many went."""
        wanted = [check_int(seq, "seqs", minimum=1) for seq in _as_items(seqs, "seqs", "ints")]
        removed = 0
        with self._store._write(uow) as conn:
            unique = list(dict.fromkeys(wanted))
            for start in range(0, len(unique), CHUNK_SIZE):
                part = unique[start : start + CHUNK_SIZE]
                marks = _placeholders(len(part))
                conn.execute(f"DELETE FROM pending_codes WHERE seq IN ({marks})", tuple(part))
                cursor = conn.execute(
                    f"DELETE FROM pending_notices WHERE seq IN ({marks})", tuple(part)
                )
                removed += cursor.rowcount
        return removed

    def count(self, uow: UnitOfWork | None = None) -> int:
        """How many notices are pending."""
        with self._store._read(uow) as conn:
            return int(conn.execute("SELECT count(*) FROM pending_notices").fetchone()[0])


# --- the store -------------------------------------------------------------


class SQLiteStore(Store):
    """A node's storage in one SQLite database (see the module docstring).

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

    def __repr__(self) -> str:
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

    # schema

    def create_schema(self) -> None:
        """Create the tables and indexes if missing and record :data:`SCHEMA_VERSION`.

        Idempotent. A version 2 database is migrated to this version in the same
        transaction (its identity versions get ``received_on`` ``NULL``: the day
        is unknown). A database that records another version raises
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
                conn.executemany(
                    "INSERT INTO provision_meta (name, seq, hash) VALUES (?, 0, ?)"
                    " ON CONFLICT (name) DO NOTHING",
                    [("head", GENESIS), ("anchor", GENESIS)],
                )
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
        """Bring a version 2 schema to this version (inside the caller's transaction);
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
        factory. For ``":memory:"`` the new handle shares this store's
        temporary file, which is removed when the last of the handles closes.

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
