"""Connections, transactions and error translation shared by the SQLite ports.

The per-thread connections (:class:`_PerThread`) and the temporary file behind
``":memory:"`` (:class:`_TempDatabase`), the one place where driver errors become
:mod:`jukinet.errors` (:func:`_translate`), the argument helpers every port uses,
:class:`SQLiteUnitOfWork`, and :class:`_Port` with the :class:`_Database` protocol:
what a port needs from its store (:meth:`_Database._read`, :meth:`_Database._write`).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import sqlite3
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from typing import Any, Protocol, TypeVar

from jukinet.errors import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    InternalError,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
    StorageError,
)
from jukinet.storage.base import UnitOfWork
from jukinet.storage.records import check_resident_code

DEFAULT_BUSY_TIMEOUT = 5.0
"""Seconds a connection waits for a lock before ``database is locked``."""

CHUNK_SIZE = 500
"""Most parameters in one ``IN (...)`` list of a bulk look-up."""

ConnectionFactory = Callable[[], sqlite3.Connection]

_R = TypeVar("_R")

_MISSING_SCHEMA = "call create_schema()"

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
    "cards.card_id": "the card is already stored",
    "cards.holder": (
        "the holder already has a card in effect or suspended; one card per person"
        " (旧住基法30条の44, 番号法17条)"
    ),
    "card_events.card_id, card_events.version": "that version of the card is already stored",
    "move_out_infos.certificate": "an info is already kept under that certificate number",
    "counter_requests.request_id": "the request is already kept",
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


def _version_error(what: str, key: str, given: int, expected: int) -> IntegrityError:
    problem = "is already stored" if given < expected else "skips a version"
    return IntegrityError(
        f"{what} {key!r}: version {given} {problem}", field="version", expected=str(expected)
    )


def _codes_argument(resident_codes: object) -> list[str]:
    """A bulk look-up's codes, validated, duplicates dropped (first occurrence kept)."""
    return list(
        dict.fromkeys(
            check_resident_code(c)
            for c in _as_items(resident_codes, "resident_codes", "a sequence of str")
        )
    )


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


# --- unit of work ----------------------------------------------------------


class SQLiteUnitOfWork(UnitOfWork):
    """A ``BEGIN IMMEDIATE`` transaction on one connection of one :class:`SQLiteStore`."""

    __slots__ = ("_active", "_conn", "_store")

    def __init__(self, store: _Database, conn: sqlite3.Connection) -> None:
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


class _Database(Protocol):
    """What a port needs from its store (:class:`~jukinet.storage.sqlite.SQLiteStore`).

    Ports run their statements on the connections :meth:`_read` and
    :meth:`_write` give.
    """

    def _read(
        self, uow: UnitOfWork | None, *, snapshot: bool = False
    ) -> AbstractContextManager[sqlite3.Connection]:
        """The connection a read runs on: the uow's, else this thread's reader."""
        ...

    def _write(self, uow: UnitOfWork) -> AbstractContextManager[sqlite3.Connection]:
        """The uow's connection inside a savepoint: a failed call writes nothing."""
        ...


class _Port:
    """Base of the port classes: the store whose connections a port's statements run on."""

    __slots__ = ("_store",)

    def __init__(self, store: _Database) -> None:
        self._store = store
