"""Connections, transactions and what every module of the PostgreSQL adapter shares.

* :class:`_Connections`, the connection half of
  :class:`~jukinet.storage.postgres.PostgresStore`: the caller's connection or
  pool, units of work taking turns on one connection (:class:`_Guard`), cursors
  for reads (``_read``) and for writes in a savepoint (``_write``), statements
  rendered at first use;
* :class:`_Database`, what a port needs from its store (so that no port module
  imports the store module), and :class:`_Port`, the ports' base class;
* :class:`_Statement` / :class:`_Statements`, a port's statements beside it;
* :class:`PostgresUnitOfWork`;
* :func:`_translated`, the one place where driver errors are translated;
* argument checks and value helpers several ports use.
"""

from __future__ import annotations

import functools
import json
import re
import threading
import weakref
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Generic, LiteralString, Protocol, TypeVar, overload

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus
from psycopg.rows import TupleRow, tuple_row
from psycopg_pool import ConnectionPool

from jukinet import errors
from jukinet.storage.base import UnitOfWork
from jukinet.storage.records import check_resident_code

if TYPE_CHECKING:
    from typing import Self

    from jukinet.storage.postgres.store import PostgresStore

_R = TypeVar("_R")

ANALYZE_AFTER = 10_000
"""Documented as :data:`jukinet.storage.postgres.ANALYZE_AFTER`."""
_Cursor = psycopg.Cursor[TupleRow]
_Connection = psycopg.Connection[Any]

_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


# --- the one place where driver errors are translated ---------------------------

_TRANSLATIONS: tuple[tuple[type[psycopg.Error], type[errors.StorageError]], ...] = (
    (psycopg.IntegrityError, errors.IntegrityError),
    (psycopg.DataError, errors.DataError),
    (psycopg.OperationalError, errors.OperationalError),  # incl. pool timeouts, deadlocks
    (psycopg.ProgrammingError, errors.ProgrammingError),
    (psycopg.NotSupportedError, errors.NotSupportedError),
    (psycopg.InternalError, errors.InternalError),
    (psycopg.InterfaceError, errors.InterfaceError),
    (psycopg.DatabaseError, errors.DatabaseError),
)


class _Translator:
    """Turn a psycopg (or psycopg_pool) error into its jukinet.errors class, chained.

    This is the only place where the adapter translates driver errors. A
    stateless context manager, one shared instance (see :func:`_translated`):
    cheaper to enter than a generator-based one, on every call of every port.
    """

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        if not isinstance(exc, psycopg.Error):
            return
        target: type[errors.StorageError] = errors.StorageError
        for source, jukinet_class in _TRANSLATIONS:
            if isinstance(exc, source):
                target = jukinet_class
                break
        message = exc.diag.message_primary or str(exc) or type(exc).__name__
        if exc.diag.message_detail:
            message = f"{message} ({exc.diag.message_detail})"
        state = f" [SQLSTATE {exc.sqlstate}]" if exc.sqlstate else ""
        raise target(f"PostgreSQL: {message}{state}") from exc


_TRANSLATOR = _Translator()


def _translated() -> _Translator:
    """The context manager that translates driver errors (:class:`_Translator`)."""
    return _TRANSLATOR


# --- argument checks (all before any write) ---------------------------------


def _records(rows: object, cls: type[_R], argument: str) -> list[_R]:
    """``rows`` as a list of ``cls`` instances, or InterfaceError naming what was expected."""
    if isinstance(rows, (str, bytes, bytearray, cls)) or rows is None:
        raise errors.InterfaceError(
            f"got {type(rows).__name__}", field=argument, expected=f"a sequence of {cls.__name__}"
        )
    if not isinstance(rows, Iterable):
        raise errors.InterfaceError(
            f"got {type(rows).__name__}", field=argument, expected=f"a sequence of {cls.__name__}"
        )
    items = list(rows)
    for index, item in enumerate(items):
        if not isinstance(item, cls):
            raise errors.InterfaceError(
                f"item {index} is a {type(item).__name__}",
                field=argument,
                expected=f"{cls.__name__} instances",
            )
    return items


def _codes(codes: object, argument: str = "resident_codes") -> list[str]:
    """A list of canonical resident codes (duplicates kept, order kept)."""
    items = _records(codes, str, argument)
    for code in items:
        check_resident_code(code)
    return items


def _check_schema_name(schema: object) -> str:
    if not isinstance(schema, str):
        raise TypeError(f"schema must be a str, not {type(schema).__name__}")
    if not _SCHEMA_NAME.fullmatch(schema) or schema.startswith("pg_"):
        raise errors.InvalidFormat(
            f"{schema!r} is not a plain schema name",
            field="schema",
            expected="1 to 63 lower-case ASCII letters, digits or '_', "
            "not starting with a digit or 'pg_'",
        )
    return schema


# --- values several ports share -------------------------------------------------


@functools.lru_cache(maxsize=256)  # a log repeats a few item lists
def _json_list(values: tuple[str, ...]) -> str:
    """A tuple of strings as compact JSON text (non-ASCII kept as it is)."""
    return json.dumps(list(values), ensure_ascii=False, separators=(",", ":"))


def _json_tuple(text: str, field: str) -> tuple[str, ...]:
    """The inverse of :func:`_json_list` (a ValueError naming ``field``, hence a
    CorruptRecord, if the text is not a JSON array)."""
    try:
        value = json.loads(text)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{field}: not JSON ({exc})") from exc
    if not isinstance(value, list):
        raise ValueError(f"{field}: a JSON {type(value).__name__}, not an array")
    return tuple(value)


def _utc(at: datetime) -> datetime:
    """``at`` as a UTC datetime; an instant outside years 1-9999 UTC is a DataError."""
    try:
        return at.astimezone(UTC)
    except OverflowError as exc:
        raise errors.DataError(
            f"{at.isoformat()} is outside years 1 to 9999 in UTC",
            field="at",
            expected="an instant PostgreSQL can give back as a Python datetime",
        ) from exc


def _version_error(key: str, version: int, expected: int) -> errors.IntegrityError:
    what = "already exists" if version < expected else "skips a version"
    return errors.IntegrityError(
        f"version {version} of {key} {what}", field="version", expected=f"version {expected}"
    )


def _columns(names: Sequence[str], prefix: str | None = None) -> sql.Composable:
    if prefix is None:
        return sql.SQL(", ").join(sql.Identifier(name) for name in names)
    return sql.SQL(", ").join(sql.Identifier(prefix, name) for name in names)


# --- statements --------------------------------------------------------------------


class _Statement:
    """One statement of a port, a class attribute of its :class:`_Statements` class.

    ``text`` has ``{s}`` for the schema (always passed through
    :class:`psycopg.sql.Identifier`) and the fragments the class names. Read on
    an instance it is the statement rendered to bytes (an instance attribute
    that :meth:`_Statements._install` sets, which hides this descriptor).
    """

    __slots__ = ("name", "text")

    def __init__(self, text: LiteralString) -> None:
        self.text = text
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type) -> Self: ...

    @overload
    def __get__(self, instance: _Statements, owner: type) -> bytes: ...

    def __get__(self, instance: _Statements | None, owner: type) -> Self | bytes:
        if instance is None:
            return self
        raise errors.ProgrammingError(
            f"statement {type(instance).__name__}.{self.name} was used before the store"
            " rendered its statements",
            field="statement",
            expected="statements rendered at the store's first use of a connection",
        )


class _Statements:
    """A port's statements (its :class:`_Statement` class attributes) for one store.

    Made in the port's ``__init__``: every statement is composed with the store's
    schema (and the class's :meth:`_fragments`) once. The store renders them to
    bytes at its first use of a connection (quoting needs one): psycopg would
    otherwise render a :class:`~psycopg.sql.Composed` on every execute. From then
    on ``statements.name`` is a plain instance attribute holding bytes.
    """

    prefix: ClassVar[str] = ""
    """The statements' names in :attr:`_Connections._sql` start with ``prefix_``."""

    def __init__(self, schema: str) -> None:
        s = sql.Identifier(schema)
        fragments = self._fragments()
        statements: dict[str, _Statement] = {}
        for klass in reversed(type(self).__mro__):
            for value in vars(klass).values():
                if isinstance(value, _Statement):
                    statements[value.name] = value
        self._composed: dict[str, sql.Composed] = {
            name: sql.SQL(statement.text).format(s=s, **fragments)
            for name, statement in statements.items()
        }

    @staticmethod
    def _fragments() -> dict[str, sql.Composable]:
        """Named fragments (column lists) the statements use beside ``{s}``."""
        return {}

    def _render(self, conn: _Connection) -> dict[str, bytes]:
        """Every statement rendered to bytes with ``conn``."""
        return {name: query.as_bytes(conn) for name, query in self._composed.items()}

    def _install(self, rendered: dict[str, bytes]) -> None:
        """Make the rendered statements this object's attributes."""
        vars(self).update(rendered)

    def _named(self) -> dict[str, bytes]:
        """The rendered statements by their full names (empty before rendering)."""
        found = vars(self)
        return {f"{self.prefix}_{name}": found[name] for name in self._composed if name in found}


# --- unit of work ----------------------------------------------------------------


class PostgresUnitOfWork(UnitOfWork):
    """A PostgreSQL transaction in progress (``conn.transaction()``), bound to its store.

    Made by :meth:`PostgresStore.unit_of_work`; inactive once its ``with``
    block has ended (committed or rolled back).
    """

    __slots__ = ("_active", "_connection", "_store")

    def __init__(self, store: PostgresStore, connection: _Connection) -> None:
        self._store = store
        self._connection = connection
        self._active = True

    @property
    def active(self) -> bool:
        """Whether the unit of work can still be written to."""
        return self._active

    @property
    def store(self) -> PostgresStore:
        """The store this unit of work belongs to."""
        return self._store

    def __repr__(self) -> str:
        state = "active" if self._active else "finished"
        return f"<PostgresUnitOfWork {self._store.schema!r} {state}>"


# --- ports --------------------------------------------------------------------------


class _Database(Protocol):
    """What a port needs from its store (:class:`~jukinet.storage.postgres.PostgresStore`)."""

    @property
    def schema(self) -> str:
        """The PostgreSQL schema holding the store's tables."""
        ...

    def _connection_of(self, uow: object) -> _Connection:
        """The connection of an active unit of work of this store, or InterfaceError."""
        ...

    def _write(self, uow: UnitOfWork) -> AbstractContextManager[_Cursor]:
        """A cursor inside a savepoint of ``uow``: a failed call writes nothing."""
        ...

    def _read(self, uow: UnitOfWork | None) -> AbstractContextManager[_Cursor]:
        """A cursor for a read: in ``uow``, or in a short transaction of its own."""
        ...


_S = TypeVar("_S", bound=_Statements)


class _Port(Generic[_S]):
    """A port on a store: the store and the port's statements (``self._sql``)."""

    __slots__ = ("_sql", "_store")

    def __init__(self, store: _Database, statements: _S) -> None:
        self._store = store
        # Rendered to bytes on the store's first use of a connection, before any
        # port runs a statement.
        self._sql = statements


# --- connections --------------------------------------------------------------------


class _Guard:
    """Serializes the units of work of every store sharing one connection."""

    __slots__ = ("__weakref__", "lock", "owner")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.owner: int | None = None  # the thread whose unit of work holds the connection


_guards: weakref.WeakKeyDictionary[_Connection, _Guard] = weakref.WeakKeyDictionary()
_guards_lock = threading.Lock()


def _guard(connection: _Connection) -> _Guard:
    with _guards_lock:
        guard = _guards.get(connection)
        if guard is None:
            guard = _guards[connection] = _Guard()
        return guard


class _Connections(ABC):
    """The connection half of :class:`~jukinet.storage.postgres.PostgresStore`.

    Holds the caller's connection or pool, lends connections to units of work
    and reads (:meth:`_borrow`), hands ports their cursors (:meth:`_read`,
    :meth:`_write`) and renders the statements at first use (:meth:`_render`).
    The store checks its schema (:meth:`_verify_schema`).
    """

    def __init__(
        self,
        connection: psycopg.Connection[Any] | ConnectionPool[Any],
        schema: str,
    ) -> None:
        self._pool: ConnectionPool[Any] | None
        self._connection: _Connection | None
        if isinstance(connection, ConnectionPool):
            self._pool, self._connection = connection, None
        elif isinstance(connection, psycopg.Connection):
            self._pool, self._connection = None, connection
        else:
            raise errors.InterfaceError(
                f"got {type(connection).__name__}",
                field="connection",
                expected="a psycopg.Connection or a psycopg_pool.ConnectionPool",
            )
        self._schema = _check_schema_name(schema)
        self._guard = None if self._connection is None else _guard(self._connection)
        # Every port's statements (the store fills this in), rendered to bytes once,
        # at first use, since quoting needs a connection.
        self._statement_sets: tuple[_Statements, ...] = ()
        self._rendered = False
        self._render_lock = threading.Lock()
        self._schema_checked = False
        self._closed = False

    @property
    def _sql(self) -> dict[str, bytes]:
        """Every rendered statement by its name (``outbox_read``); empty before first use."""
        rendered: dict[str, bytes] = {}
        for statements in self._statement_sets:
            rendered.update(statements._named())
        return rendered

    @abstractmethod
    def _verify_schema(self, cur: _Cursor) -> None:
        """Raise unless the schema is at this version with every table (the store's)."""

    def _render(self, conn: _Connection) -> None:
        """Render every statement to bytes with ``conn`` (once per store)."""
        with self._render_lock:
            if self._rendered:
                return
            rendered = [(each, each._render(conn)) for each in self._statement_sets]
            for statements, texts in rendered:  # all rendered before any is installed
                statements._install(texts)
            self._rendered = True

    # -- connections (internal) ------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise errors.InterfaceError(
                "the store is closed", field="store", expected="a store before close()"
            )

    @contextmanager
    def _borrow(self, *, exclusive: bool) -> Iterator[_Connection]:
        """A connection, idle, for one unit of work (exclusive) or one read."""
        self._check_open()
        if self._pool is not None:
            with _translated(), self._pool.connection() as conn:
                self._check_idle(conn)
                if not self._rendered:
                    self._render(conn)
                yield conn
            return
        conn = self._connection
        guard = self._guard
        assert conn is not None
        assert guard is not None
        me = threading.get_ident()
        if guard.owner == me:
            raise errors.InterfaceError(
                "this thread already has a unit of work open on this connection",
                field="unit_of_work",
                expected="one unit of work at a time per connection "
                "(finish the first, or give the store a ConnectionPool)",
            )
        with guard.lock:
            self._check_idle(conn)
            if not self._rendered:
                with _translated():
                    self._render(conn)
            if not exclusive:
                yield conn
                return
            guard.owner = me
            try:
                yield conn
            finally:
                guard.owner = None

    @staticmethod
    def _check_idle(conn: _Connection) -> None:
        if conn.closed:
            raise errors.OperationalError(
                "the connection is closed", field="connection", expected="an open connection"
            )
        if conn.info.transaction_status != TransactionStatus.IDLE:
            raise errors.InterfaceError(
                "the connection is inside a transaction the store did not begin",
                field="connection",
                expected="an idle connection (commit or roll back first)",
            )

    def _connection_of(self, uow: object) -> _Connection:
        """The connection of an active unit of work of this store, or InterfaceError."""
        self._check_open()
        if not isinstance(uow, PostgresUnitOfWork) or uow._store is not self:
            raise errors.InterfaceError(
                f"got {type(uow).__name__}" + (" of another store" if uow is not None else ""),
                field="uow",
                expected="a unit of work of this store",
            )
        if not uow._active:
            raise errors.InterfaceError(
                "the unit of work has ended", field="uow", expected="an active unit of work"
            )
        return uow._connection

    @contextmanager
    def _write(self, uow: UnitOfWork) -> Iterator[_Cursor]:
        """A cursor inside a savepoint of ``uow``: a failed call writes nothing."""
        conn = self._connection_of(uow)
        with _translated(), conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
            yield cur

    @contextmanager
    def _read(self, uow: UnitOfWork | None, *, check: bool = True) -> Iterator[_Cursor]:
        """A cursor for a read: in ``uow``, or in a short transaction of its own."""
        if uow is not None:
            conn = self._connection_of(uow)
            with _translated(), conn.cursor(row_factory=tuple_row) as cur:
                yield cur
            return
        own = self._connection
        guard = self._guard
        if (
            own is not None
            and guard is not None
            and guard.owner == threading.get_ident()
            and not self._closed
        ):
            # One connection, and this thread's unit of work holds it: read inside it.
            with _translated(), own.cursor(row_factory=tuple_row) as cur:
                if check and not self._schema_checked:
                    self._verify_schema(cur)
                    self._schema_checked = True
                yield cur
            return
        with (
            self._borrow(exclusive=False) as conn,
            _translated(),
            conn.cursor(row_factory=tuple_row) as cur,
        ):
            if conn.autocommit:
                if check and not self._schema_checked:
                    self._verify_schema(cur)
                    self._schema_checked = True
                yield cur
            else:
                with conn.transaction():
                    if check and not self._schema_checked:
                        self._verify_schema(cur)
                        self._schema_checked = True
                    yield cur
