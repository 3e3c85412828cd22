"""PostgreSQL adapter: :class:`PostgresStore` on psycopg 3.

Install with the ``postgres`` extra (``pip install jukinet[postgres]``); this
module imports :mod:`psycopg` and :mod:`psycopg_pool`, :mod:`jukinet` itself
does not.

The store works on a resource the caller owns and never closes: either one
:class:`psycopg.Connection` (units of work from several threads then take
turns, since one connection runs one transaction at a time) or a
:class:`psycopg_pool.ConnectionPool` (each unit of work borrows its own
connection, so units of work really run side by side). Every table lives in
one PostgreSQL schema, ``jukinet`` unless told otherwise, so several nodes (a
municipality, a prefecture, the national centre) can share one database::

    import psycopg
    from jukinet.storage.postgres import PostgresStore

    with psycopg.connect("dbname=juki") as conn:
        store = PostgresStore(conn, schema="city_131016")
        store.create_schema()              # once; idempotent
        with store.unit_of_work() as uow:
            store.outbox.append(uow, "pref-13", [b"notice"])

The schema name is checked when the store is made; nothing touches the
database until first use:

>>> from psycopg_pool import ConnectionPool
>>> pool = ConnectionPool("", open=False)      # not opened: no server needed here
>>> PostgresStore(pool, schema="city_131016").schema
'city_131016'
>>> PostgresStore(pool, schema="City 13")
Traceback (most recent call last):
    ...
jukinet.errors.InvalidFormat: schema: 'City 13' is not a plain schema name (expected ...)

Design notes:

* Tables are created only by :meth:`PostgresStore.create_schema` (``CREATE
  SCHEMA IF NOT EXISTS`` and ``CREATE TABLE IF NOT EXISTS``, under an advisory
  lock so two processes may race to create it). The version is the row
  ``('schema_version', '3')`` of ``jukinet_meta``, checked on first use with
  the presence of every table of that version. A version 2 schema is migrated
  by ``create_schema()`` in the same transaction (``ALTER TABLE
  identity_versions ADD COLUMN received_on``); any other version is refused.
* :meth:`PostgresIdentityStore.expire` is one statement: the codes with a
  version received before the cut-off (a partial index on
  ``identity_versions (received_on)``), per code how many of its oldest
  versions are due (each version joined to the next), and two deleting
  ``WITH`` parts for those versions and the ``identity_current`` rows among
  them.
* Every write call runs inside a savepoint of its unit of work, so a call that
  fails writes nothing and the unit of work stays usable; the whole unit of
  work commits or rolls back when its ``with`` block ends.
* Text key columns use ``COLLATE "C"``, so orderings (``scan``, ``destinations``,
  agencies, schedule keys) are by code point, as in the other adapters,
  whatever the database locale.
* Gap-free, commit-ordered numbers (the outbox per destination, the audit log,
  the provision log) come from a head row that a writer locks until its unit
  of work ends (``outbox_heads``, ``audit_head``, ``provision_meta``); the
  provision log's head row also carries the hash its next record chains to.
* Statements are composed once per store with :class:`psycopg.sql.Identifier`
  for the schema and rendered to bytes at the store's first use of a
  connection (quoting needs one), so no statement is rendered per call.
* Driver errors become :mod:`jukinet.errors` in one place, :func:`_translated`;
  a stored row that cannot be read back (a value changed outside the adapter,
  such as broken JSON) becomes a :class:`~jukinet.errors.CorruptRecord` naming
  the row in one place, :func:`_decode`.
"""

from __future__ import annotations

import functools
import json
import re
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta, timezone
from operator import attrgetter
from typing import Any, LiteralString, TypeVar

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus
from psycopg.rows import TupleRow, tuple_row
from psycopg_pool import ConnectionPool

from jukinet import errors
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
from jukinet.storage.records import decode_rows as _decode

__all__ = [
    "ANALYZE_AFTER",
    "PostgresAgencyRegistry",
    "PostgresAuditLog",
    "PostgresCodePool",
    "PostgresIdentityStore",
    "PostgresOutbox",
    "PostgresPendingNotices",
    "PostgresProvisionLog",
    "PostgresRegister",
    "PostgresSchedule",
    "PostgresStore",
    "PostgresTracking",
    "PostgresUnitOfWork",
]

_R = TypeVar("_R")

ANALYZE_AFTER = 10_000
"""A ``bulk_load`` of at least this many rows ends with ``ANALYZE`` of the tables it
filled, in its own transaction. Until autovacuum gets round to it (a minute or more)
the planner knows nothing of a fresh million rows and plans a one-code look-up for
thousands (a parallel scan, ≈ 4 ms a query at 1,000,000 rows); ``ANALYZE`` samples
at most 30,000 rows a table, about a second for a million-row load."""
_Cursor = psycopg.Cursor[TupleRow]
_Connection = psycopg.Connection[Any]

_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")

_REGISTER_COLUMNS = (
    "internal_id",
    "version",
    "resident_code",
    "status",
    "household_id",
    "reason",
    "event_date",
    "processed_on",
    "payload",
)
_REGISTER_TYPES = ("text", "int8", "text", "text", "text", "text", "date", "date", "bytea")
_REGISTER_CURRENT_COLUMNS = ("internal_id", "version", "resident_code", "status", "household_id")
_IDENTITY_COLUMNS = (
    "resident_code",
    "version",
    "municipality",
    "reason",
    "event_date",
    "removed",
    "name_key",
    "reading_key",
    "birth_date",
    "sex",
    "address_key",
    "previous_resident_code",
    "payload",
    "received_on",
)
_IDENTITY_TYPES = (
    "text",
    "int8",
    "text",
    "text",
    "date",
    "bool",
    "text",
    "text",
    "date",
    "text",
    "text",
    "text",
    "bytea",
    "date",
)
_IDENTITY_CURRENT_COLUMNS = (
    "resident_code",
    "version",
    "municipality",
    "removed",
    "name_key",
    "birth_date",
    "sex",
    "address_key",
)

_register_values = attrgetter(*_REGISTER_COLUMNS)
_register_current_values = attrgetter(*_REGISTER_CURRENT_COLUMNS)
_register_code_values = attrgetter("resident_code", "internal_id")
_identity_values = attrgetter(*_IDENTITY_COLUMNS)
_identity_current_values = attrgetter(*_IDENTITY_CURRENT_COLUMNS)

# The tables, in the logical schema shared with the SQLite adapter. ``{s}`` is
# the schema, always passed through sql.Identifier.
_DDL: tuple[LiteralString, ...] = (
    "CREATE SCHEMA IF NOT EXISTS {s}",
    """CREATE TABLE IF NOT EXISTS {s}.jukinet_meta (
        key TEXT COLLATE "C" PRIMARY KEY,
        value TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS {s}.register_versions (
        internal_id TEXT COLLATE "C" NOT NULL,
        version BIGINT NOT NULL,
        resident_code TEXT COLLATE "C" NOT NULL,
        status TEXT NOT NULL,
        household_id TEXT COLLATE "C" NOT NULL,
        reason TEXT NOT NULL,
        event_date DATE NOT NULL,
        processed_on DATE NOT NULL,
        payload BYTEA NOT NULL,
        PRIMARY KEY (internal_id, version))""",
    """CREATE TABLE IF NOT EXISTS {s}.register_current (
        internal_id TEXT COLLATE "C" PRIMARY KEY,
        version BIGINT NOT NULL,
        resident_code TEXT COLLATE "C" NOT NULL,
        status TEXT NOT NULL,
        household_id TEXT COLLATE "C" NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS register_current_resident_code"
    " ON {s}.register_current (resident_code)",
    "CREATE INDEX IF NOT EXISTS register_current_household_id"
    " ON {s}.register_current (household_id)",
    """CREATE TABLE IF NOT EXISTS {s}.register_codes (
        resident_code TEXT COLLATE "C" PRIMARY KEY,
        internal_id TEXT COLLATE "C" NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS {s}.identity_versions (
        resident_code TEXT COLLATE "C" NOT NULL,
        version BIGINT NOT NULL,
        municipality TEXT COLLATE "C" NOT NULL,
        reason TEXT NOT NULL,
        event_date DATE NOT NULL,
        removed BOOLEAN NOT NULL,
        name_key TEXT COLLATE "C" NOT NULL,
        reading_key TEXT COLLATE "C",
        birth_date DATE NOT NULL,
        sex TEXT NOT NULL,
        address_key TEXT COLLATE "C" NOT NULL,
        previous_resident_code TEXT COLLATE "C",
        payload BYTEA NOT NULL,
        received_on DATE,
        PRIMARY KEY (resident_code, version))""",
    # expire(): the versions received before a day (schema version 3)
    "CREATE INDEX IF NOT EXISTS identity_versions_received"
    " ON {s}.identity_versions (received_on) WHERE received_on IS NOT NULL",
    # the newest version of each code per municipality that notified it
    """CREATE TABLE IF NOT EXISTS {s}.identity_current (
        resident_code TEXT COLLATE "C" NOT NULL,
        version BIGINT NOT NULL,
        municipality TEXT COLLATE "C" NOT NULL,
        removed BOOLEAN NOT NULL,
        name_key TEXT COLLATE "C" NOT NULL,
        birth_date DATE NOT NULL,
        sex TEXT NOT NULL,
        address_key TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (resident_code, municipality))""",
    "CREATE INDEX IF NOT EXISTS identity_current_name_birth"
    " ON {s}.identity_current (name_key, birth_date)",
    "CREATE INDEX IF NOT EXISTS identity_current_address ON {s}.identity_current (address_key)",
    "CREATE INDEX IF NOT EXISTS identity_current_municipality"
    " ON {s}.identity_current (municipality, resident_code)",
    """CREATE TABLE IF NOT EXISTS {s}.outbox (
        destination TEXT COLLATE "C" NOT NULL,
        seq BIGINT NOT NULL,
        payload BYTEA NOT NULL,
        PRIMARY KEY (destination, seq))""",
    """CREATE TABLE IF NOT EXISTS {s}.outbox_heads (
        destination TEXT COLLATE "C" PRIMARY KEY,
        last_seq BIGINT NOT NULL,
        acked BIGINT NOT NULL DEFAULT 0,
        CHECK (acked BETWEEN 0 AND last_seq))""",
    """CREATE TABLE IF NOT EXISTS {s}.tracking (
        sender TEXT COLLATE "C" PRIMARY KEY,
        position BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS {s}.code_pool (
        resident_code TEXT COLLATE "C" PRIMARY KEY,
        municipality TEXT COLLATE "C" NOT NULL,
        used BOOLEAN NOT NULL)""",
    # (municipality, used) from the logical schema, plus resident_code so that
    # allocate's ORDER BY resident_code LIMIT 1 is an index range scan.
    "CREATE INDEX IF NOT EXISTS code_pool_municipality_used"
    " ON {s}.code_pool (municipality, used, resident_code)",
    """CREATE TABLE IF NOT EXISTS {s}.audit_log (
        seq BIGINT PRIMARY KEY,
        at TIMESTAMPTZ NOT NULL,
        action TEXT NOT NULL,
        subject TEXT,
        detail BYTEA NOT NULL)""",
    # read(action=...): an index range scan in seq order, not a scan of the log
    "CREATE INDEX IF NOT EXISTS audit_log_action ON {s}.audit_log (action, seq)",
    # The audit log's head: one row, locked by a writer like an outbox head.
    """CREATE TABLE IF NOT EXISTS {s}.audit_head (
        id SMALLINT PRIMARY KEY CHECK (id = 1),
        last_seq BIGINT NOT NULL)""",
    # --- version 2: provision (住基法30条の9〜30条の16, 30条の32〜30条の35) ---
    """CREATE TABLE IF NOT EXISTS {s}.agencies (
        agency TEXT COLLATE "C" PRIMARY KEY,
        public_key BYTEA NOT NULL,
        registered_at TIMESTAMPTZ NOT NULL,
        recipients TEXT NOT NULL,
        number_uses TEXT NOT NULL,
        locality TEXT COLLATE "C")""",
    # ``at`` is the instant (for purge) and ``at_offset`` the writer's UTC
    # offset: together they give back the very datetime written, whose
    # isoformat() the record's hash covers.
    """CREATE TABLE IF NOT EXISTS {s}.provision_log (
        seq BIGINT PRIMARY KEY,
        at TIMESTAMPTZ NOT NULL,
        at_offset INTERVAL NOT NULL,
        kind TEXT NOT NULL,
        request_id TEXT COLLATE "C" NOT NULL,
        agency TEXT COLLATE "C",
        "use" TEXT COLLATE "C",
        subject TEXT COLLATE "C",
        items TEXT NOT NULL,
        detail BYTEA NOT NULL,
        prev_hash TEXT COLLATE "C" NOT NULL,
        hash TEXT COLLATE "C" NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS provision_log_subject ON {s}.provision_log (subject, seq)",
    "CREATE INDEX IF NOT EXISTS provision_log_request_id ON {s}.provision_log (request_id)",
    # The provision log's head and anchor: the rows 'head' and 'anchor'. Appenders
    # and purges lock the head row first.
    """CREATE TABLE IF NOT EXISTS {s}.provision_meta (
        name TEXT COLLATE "C" PRIMARY KEY CHECK (name IN ('head', 'anchor')),
        seq BIGINT NOT NULL,
        hash TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS {s}.schedule (
        key TEXT COLLATE "C" PRIMARY KEY,
        due DATE NOT NULL,
        payload BYTEA NOT NULL)""",
    # due(on): an index range scan in (due, key) order
    "CREATE INDEX IF NOT EXISTS schedule_due ON {s}.schedule (due, key)",
    # Notices received and not applied yet (schema version 4), found by code.
    """CREATE TABLE IF NOT EXISTS {s}.pending_notices (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        sender TEXT COLLATE "C" NOT NULL,
        codes TEXT[] NOT NULL,
        payload BYTEA NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS pending_notices_codes ON {s}.pending_notices USING GIN (codes)",
)

_MIGRATES_FROM = ("2", "3")
"""The earlier schema versions :meth:`PostgresStore.create_schema` migrates from (3 -> 4
adds ``pending_notices``, which the DDL creates)."""
# Schema version 2 -> 3: when an identity version was received (令30条の6・30条の7).
_MIGRATION: tuple[LiteralString, ...] = (
    "ALTER TABLE {s}.identity_versions ADD COLUMN IF NOT EXISTS received_on DATE",
)

# Every table a schema of this version has (check_schema requires them all).
_TABLES = (
    "jukinet_meta",
    "register_versions",
    "register_current",
    "register_codes",
    "identity_versions",
    "identity_current",
    "outbox",
    "outbox_heads",
    "tracking",
    "code_pool",
    "audit_log",
    "audit_head",
    "agencies",
    "provision_log",
    "provision_meta",
    "schedule",
    "pending_notices",
)


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


def _payloads(destination: str, payloads: object) -> list[bytes]:
    items = _records(payloads, bytes, "payloads")
    for payload in items:
        OutboxEntry(destination=destination, seq=1, payload=payload)  # validates size
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


def _keys(keys: object) -> list[str]:
    """A list of schedule keys: not a sequence is an InterfaceError; each key is checked
    as :attr:`ScheduledItem.key` checks it (a bad key, a non-``str`` too, is a
    ValidationError)."""
    if isinstance(keys, (str, bytes, bytearray)) or not isinstance(keys, Iterable):
        raise errors.InterfaceError(
            f"got {type(keys).__name__}", field="keys", expected="a sequence of str"
        )
    items = list(keys)
    for key in items:
        check_field(ScheduledItem, "key", key)
    return items


def _wall(at: datetime) -> tuple[datetime, timedelta]:
    """An aware datetime as its wall-clock time and its UTC offset.

    ``provision_log`` keeps both (the instant is computed from them in SQL), so
    a read gives back a datetime with the same ``isoformat()``, which the
    record's hash covers, for any instant of years 1 to 9999 in any offset.
    """
    offset = at.utcoffset()
    assert offset is not None
    return at.replace(tzinfo=None, fold=0), offset


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


def _aware(wall: datetime, offset: timedelta) -> datetime:
    """The inverse of :func:`_wall`: a datetime of that fixed offset."""
    return wall.replace(tzinfo=UTC if not offset else timezone(offset))


# --- rows from the database ----------------------------------------------------


def _register_row(values: Sequence[Any]) -> RegisterRow:
    (internal_id, version, code, status, household, reason, event, processed, payload) = values
    return unchecked(
        RegisterRow,
        internal_id=internal_id,
        version=version,
        resident_code=code,
        status=status,
        household_id=household,
        reason=reason,
        event_date=event,
        processed_on=processed,
        payload=bytes(payload),
    )


def _identity_row(values: Sequence[Any]) -> IdentityRow:
    (
        code,
        version,
        municipality,
        reason,
        event,
        removed,
        name_key,
        reading_key,
        birth,
        sex,
        address_key,
        previous,
        payload,
        received_on,
    ) = values
    return unchecked(
        IdentityRow,
        resident_code=code,
        version=version,
        municipality=municipality,
        reason=reason,
        event_date=event,
        removed=removed,
        name_key=name_key,
        reading_key=reading_key,
        birth_date=birth,
        sex=sex,
        address_key=address_key,
        previous_resident_code=previous,
        payload=bytes(payload),
        received_on=received_on,
    )


def _agency_row(values: Sequence[Any]) -> AgencyRow:
    agency, public_key, registered_at, recipients, number_uses, locality = values
    return unchecked(
        AgencyRow,
        agency=agency,
        public_key=bytes(public_key),
        registered_at=registered_at.replace(tzinfo=UTC),
        recipients=_json_tuple(recipients, "recipients"),
        number_uses=_json_tuple(number_uses, "number_uses"),
        locality=locality,
    )


def _provision_record(values: Sequence[Any]) -> ProvisionRecord:
    (
        seq,
        wall,
        offset,
        kind,
        request_id,
        agency,
        use,
        subject,
        items,
        detail,
        prev_hash,
        hash_,
    ) = values
    return ProvisionRecord(
        seq=seq,
        entry=ProvisionEntry(
            at=_aware(wall, offset),
            kind=kind,
            request_id=request_id,
            agency=agency,
            use=use,
            subject=subject,
            items=_json_tuple(items, "items"),
            detail=bytes(detail),
        ),
        prev_hash=prev_hash,
        hash=hash_,
    )


def _audit_record(values: Sequence[Any]) -> AuditRecord:
    seq, at, action, subject, detail = values
    return AuditRecord(
        seq=seq,
        entry=AuditEntry(
            at=at.replace(tzinfo=UTC), action=action, subject=subject, detail=bytes(detail)
        ),
    )


def _scheduled_item(values: Sequence[Any]) -> ScheduledItem:
    key, due, payload = values
    return ScheduledItem(key=key, due=due, payload=bytes(payload))


def _columns(names: Sequence[str], prefix: str | None = None) -> sql.Composable:
    if prefix is None:
        return sql.SQL(", ").join(sql.Identifier(name) for name in names)
    return sql.SQL(", ").join(sql.Identifier(prefix, name) for name in names)


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


class _Port:
    __slots__ = ("_q", "_store")

    def __init__(self, store: PostgresStore) -> None:
        self._store = store
        # The store's rendered statements: filled on the store's first use of a
        # connection, before any port runs a statement.
        self._q = store._sql


class PostgresRegister(_Port, Register):
    """The resident register (住民基本台帳) in PostgreSQL tables.

    ``register_versions`` keeps every version, ``register_current`` points at the
    newest one per person and ``register_codes`` maps every code a person ever
    held to that person.
    """

    __slots__ = ()

    def append(self, uow: UnitOfWork, rows: Sequence[RegisterRow]) -> None:
        """Append versions: each is the person's current version + 1; all rows or none."""
        self._store._connection_of(uow)
        items = _records(rows, RegisterRow, "rows")
        if not items:
            return
        by_person: dict[str, list[RegisterRow]] = {}
        owner: dict[str, str] = {}
        for row in items:
            by_person.setdefault(row.internal_id, []).append(row)
            held_by = owner.setdefault(row.resident_code, row.internal_id)
            if held_by != row.internal_id:
                raise errors.IntegrityError(
                    f"resident code {row.resident_code} is given to both {held_by} "
                    f"and {row.internal_id}",
                    field="resident_code",
                    expected="a code that belongs to one internal number",
                )
        q = self._q
        with self._store._writing(uow) as cur:
            cur.execute(q["register_lock_current"], [list(by_person)])
            current: dict[str, int] = dict(cur.fetchall())
            for internal_id, versions in by_person.items():
                expected = current.get(internal_id, 0) + 1
                for row in versions:
                    if row.version != expected:
                        raise _version_error(internal_id, row.version, expected)
                    expected += 1
            cur.execute(q["register_code_owners"], [list(owner)])
            known = dict(cur.fetchall())
            for code, internal_id in known.items():
                if internal_id != owner[code]:
                    raise errors.IntegrityError(
                        f"resident code {code} already belongs to {internal_id}, not {owner[code]}",
                        field="resident_code",
                        expected="a code never held by another person",
                    )
            cur.executemany(q["register_insert_version"], [_register_values(r) for r in items])
            cur.executemany(
                q["register_upsert_current"],
                [_register_current_values(versions[-1]) for versions in by_person.values()],
            )
            new_codes = [(code, iid) for code, iid in owner.items() if code not in known]
            if new_codes:
                cur.executemany(q["register_insert_code"], new_codes)

    def bulk_load(self, uow: UnitOfWork, rows: Sequence[RegisterRow]) -> int:
        """Load many first versions with ``COPY`` (binary) into the three tables.

        Every row must be version 1 of a person not in the register, with a code
        nobody holds: the primary keys of ``register_versions``,
        ``register_current`` and ``register_codes`` refuse anything else (also
        two rows of the batch with one internal number or one code) during the
        ``COPY`` itself, so no Python-side pass over a million keys is needed. The
        load runs in a savepoint: a refused load writes nothing. A load of at least
        :data:`ANALYZE_AFTER` rows ends with ``ANALYZE`` of the three tables.
        """
        self._store._connection_of(uow)
        items = _records(rows, RegisterRow, "rows")
        for row in items:
            if row.version != 1:
                raise _version_error(row.internal_id, row.version, 1)
        if not items:
            return 0
        q = self._q
        with self._store._writing(uow) as cur:
            with cur.copy(q["register_copy_versions"]) as copy:
                copy.set_types(_REGISTER_TYPES)
                for row in items:
                    copy.write_row(_register_values(row))
            with cur.copy(q["register_copy_current"]) as copy:
                copy.set_types(_REGISTER_TYPES[:5])
                for row in items:
                    copy.write_row(_register_current_values(row))
            with cur.copy(q["register_copy_codes"]) as copy:
                copy.set_types(("text", "text"))
                for row in items:
                    copy.write_row(_register_code_values(row))
            if len(items) >= ANALYZE_AFTER:
                cur.execute(q["register_analyze"])
        return len(items)

    def current(self, internal_id: str, uow: UnitOfWork | None = None) -> RegisterRow | None:
        """The newest version of the person with this internal number, or None."""
        check_internal_id(internal_id)
        with self._store._reading(uow) as cur:
            cur.execute(self._q["register_current"], [internal_id])
            found = cur.fetchone()
        return None if found is None else _register_row(found)

    def current_by_code(
        self, resident_code: str, uow: UnitOfWork | None = None
    ) -> RegisterRow | None:
        """The newest version of the person who holds or held this code, or None."""
        check_resident_code(resident_code)
        with self._store._reading(uow) as cur:
            cur.execute(self._q["register_current_by_code"], [resident_code])
            found = cur.fetchone()
        return None if found is None else _register_row(found[1:])

    def current_many(
        self, resident_codes: Sequence[str], uow: UnitOfWork | None = None
    ) -> dict[str, RegisterRow]:
        """Bulk look-up in one query (``resident_code = ANY(%s)``): code → newest version."""
        codes = list(dict.fromkeys(_codes(resident_codes)))
        if not codes:
            return {}
        with self._store._reading(uow) as cur:
            cur.execute(self._q["register_current_many"], [codes])
            found = cur.fetchall()
        return {values[0]: _register_row(values[1:]) for values in found}

    def history(self, internal_id: str, uow: UnitOfWork | None = None) -> list[RegisterRow]:
        """Every version of one person, oldest first (empty if unknown)."""
        check_internal_id(internal_id)
        with self._store._reading(uow) as cur:
            cur.execute(self._q["register_history"], [internal_id])
            found = cur.fetchall()
        return [_register_row(values) for values in found]

    def household(self, household_id: str, uow: UnitOfWork | None = None) -> list[RegisterRow]:
        """Newest versions of the registered members of a household, by internal number."""
        check_household_id(household_id)
        with self._store._reading(uow) as cur:
            cur.execute(self._q["register_household"], [household_id])
            found = cur.fetchall()
        return [_register_row(values) for values in found]

    def scan(
        self, *, after: str | None = None, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[RegisterRow]:
        """Newest versions ordered by internal number, starting after ``after``."""
        if after is not None:
            check_internal_id(after)
        check_int(limit, "limit")
        with self._store._reading(uow) as cur:
            cur.execute(self._q["register_scan"], [after, limit])
            found = cur.fetchall()
        return [_register_row(values) for values in found]

    def count(self, *, status: str | None = None, uow: UnitOfWork | None = None) -> int:
        """How many people (newest versions), optionally with one status."""
        if status is not None:
            check_status(status)
        with self._store._reading(uow) as cur:
            cur.execute(self._q["register_count"], [status])
            found = cur.fetchone()
        return int(found[0]) if found else 0


class PostgresIdentityStore(_Port, IdentityStore):
    """An upper tier's copy of identity information (本人確認情報) in PostgreSQL.

    ``identity_versions`` keeps every version; ``identity_current`` holds the
    newest version of each code *per municipality* that notified it (primary
    key ``(resident_code, municipality)``), removed ones included, with the
    indexed search keys. A code's current version is picked from its few
    ``identity_current`` rows: not removed first, then the highest version
    (``DISTINCT ON (resident_code) .. ORDER BY resident_code, removed, version
    DESC``).
    """

    __slots__ = ()

    def append(self, uow: UnitOfWork, rows: Sequence[IdentityRow]) -> None:
        """Append versions: each is the code's highest version + 1; all rows or none.

        The code's ``identity_current`` rows are locked (``FOR UPDATE``) while
        the versions are checked, so a racing writer of the same code waits and
        then finds the version taken; for a new code the primary key of
        ``identity_versions`` refuses the second writer.
        """
        self._store._connection_of(uow)
        items = _records(rows, IdentityRow, "rows")
        if not items:
            return
        by_code: dict[str, list[IdentityRow]] = {}
        newest: dict[tuple[str, str], IdentityRow] = {}
        for row in items:
            by_code.setdefault(row.resident_code, []).append(row)
            newest[row.resident_code, row.municipality] = row
        q = self._q
        with self._store._writing(uow) as cur:
            cur.execute(q["identity_lock_current"], [list(by_code)])
            highest: dict[str, int] = {}
            for code, version in cur.fetchall():
                highest[code] = max(version, highest.get(code, 0))
            for code, versions in by_code.items():
                expected = highest.get(code, 0) + 1
                for row in versions:
                    if row.version != expected:
                        raise _version_error(code, row.version, expected)
                    expected += 1
            cur.executemany(q["identity_insert_version"], [_identity_values(r) for r in items])
            cur.executemany(
                q["identity_upsert_current"],
                [_identity_current_values(row) for row in newest.values()],
            )

    def bulk_load(self, uow: UnitOfWork, rows: Sequence[IdentityRow]) -> int:
        """Load many first versions with ``COPY`` (binary); returns the count.

        Every row must be version 1 of a code not yet stored (and each code once
        in the batch): one ``= ANY(%s)`` look-up refuses a stored code (after an
        expiry it need not have a version 1 any more), the primary key of
        ``identity_versions`` a code twice in the batch during the ``COPY``; the
        load runs in a savepoint (all or none). A load of at least
        :data:`ANALYZE_AFTER` rows ends with ``ANALYZE`` of the two tables.
        """
        self._store._connection_of(uow)
        items = _records(rows, IdentityRow, "rows")
        for row in items:
            if row.version != 1:
                raise _version_error(row.resident_code, row.version, 1)
        if not items:
            return 0
        with self._store._writing(uow) as cur:
            self._copy(cur, items, items)
        return len(items)

    def load_histories(self, uow: UnitOfWork, rows: Sequence[IdentityRow]) -> int:
        """Load whole histories of new codes (any first version, no gap) with ``COPY``;
        returns the number of rows. All or none (a savepoint)."""
        self._store._connection_of(uow)
        items = _records(rows, IdentityRow, "rows")
        versions: dict[str, int] = {}
        newest: dict[tuple[str, str], IdentityRow] = {}
        for row in items:
            expected = versions.get(row.resident_code, row.version - 1) + 1
            if row.version != expected:
                raise _version_error(row.resident_code, row.version, expected)
            versions[row.resident_code] = row.version
            newest[row.resident_code, row.municipality] = row
        if not items:
            return 0
        with self._store._writing(uow) as cur:
            self._copy(cur, items, list(newest.values()))
        return len(items)

    def expire(self, uow: UnitOfWork, *, received_before: date) -> int:
        """Delete every code's oldest versions that are due (令30条の6・令30条の7, see
        :meth:`IdentityStore.expire <jukinet.storage.base.IdentityStore.expire>`) and
        the ``identity_current`` rows among them, in one statement; returns how many
        versions went."""
        self._store._connection_of(uow)
        before = check_date(received_before, "received_before")
        with self._store._writing(uow) as cur:
            cur.execute(self._q["identity_expire"], {"before": before})
            return max(cur.rowcount, 0)

    def _copy(self, cur: _Cursor, items: list[IdentityRow], words: list[IdentityRow]) -> None:
        """``COPY`` new codes' versions (``items``) and newest words, refusing stored codes."""
        q = self._q
        cur.execute(q["identity_last_versions"], [list({r.resident_code: 0 for r in items})])
        stored = sorted(cur.fetchall())
        if stored:
            code, version = stored[0]
            raise errors.IntegrityError(
                f"resident code {code!r} is already stored (up to version {version})",
                field="resident_code",
                expected="codes not yet stored",
            )
        with cur.copy(q["identity_copy_versions"]) as copy:
            copy.set_types(_IDENTITY_TYPES)
            for row in items:
                copy.write_row(_identity_values(row))
        with cur.copy(q["identity_copy_current"]) as copy:
            copy.set_types(("text", "int8", "text", "bool", "text", "date", "text", "text"))
            for row in words:
                copy.write_row(_identity_current_values(row))
        if len(items) >= ANALYZE_AFTER:
            cur.execute(q["identity_analyze"])

    def last_versions(
        self, resident_codes: Sequence[str], uow: UnitOfWork | None = None
    ) -> dict[str, int]:
        """The highest version per code, for the codes found (one ``= ANY(%s)`` query)."""
        codes = list(dict.fromkeys(_codes(resident_codes)))
        if not codes:
            return {}
        with self._store._reading(uow) as cur:
            cur.execute(self._q["identity_last_versions"], [codes])
            found = cur.fetchall()
        return {code: int(version) for code, version in found}

    def current(self, resident_code: str, uow: UnitOfWork | None = None) -> IdentityRow | None:
        """The person's current version: the newest not removed, else the newest; or None."""
        check_resident_code(resident_code)
        with self._store._reading(uow) as cur:
            cur.execute(self._q["identity_current"], [resident_code])
            found = cur.fetchone()
        return None if found is None else _identity_row(found)

    def current_many(
        self, resident_codes: Sequence[str], uow: UnitOfWork | None = None
    ) -> dict[str, IdentityRow]:
        """Bulk :meth:`current` in one query (``resident_code = ANY(%s)``)."""
        codes = list(dict.fromkeys(_codes(resident_codes)))
        if not codes:
            return {}
        with self._store._reading(uow) as cur:
            cur.execute(self._q["identity_current_many"], [codes])
            found = cur.fetchall()
        return {values[0]: _identity_row(values) for values in found}

    def history(self, resident_code: str, uow: UnitOfWork | None = None) -> list[IdentityRow]:
        """Every version for this code, oldest first."""
        check_resident_code(resident_code)
        with self._store._reading(uow) as cur:
            cur.execute(self._q["identity_history"], [resident_code])
            found = cur.fetchall()
        return [_identity_row(values) for values in found]

    def search(
        self, query: IdentityQuery, *, limit: int = 100, uow: UnitOfWork | None = None
    ) -> list[IdentityRow]:
        """Newest versions per (code, municipality), not removed, matching the four
        basic items; ordered by resident code (then municipality), at most ``limit``.
        """
        if not isinstance(query, IdentityQuery):
            raise errors.InterfaceError(
                f"got {type(query).__name__}", field="query", expected="an IdentityQuery"
            )
        check_int(limit, "limit")
        params: list[str | date | int | None] = [
            query.name_key,
            query.birth_date,
            query.sex,
            query.address_key,
            limit,
        ]
        with self._store._reading(uow) as cur:
            cur.execute(self._q["identity_search"], params)
            found = cur.fetchall()
        return [_identity_row(values) for values in found]

    def scan(
        self,
        *,
        municipality: str | None = None,
        after: str | None = None,
        limit: int = 1000,
        uow: UnitOfWork | None = None,
    ) -> list[IdentityRow]:
        """Ordered by resident code, after ``after``: with ``municipality``, its newest
        version of every code it notified (removed included); without, each code's
        current version.
        """
        if municipality is not None:
            check_lg_code(municipality)
        if after is not None:
            check_resident_code(after, "after")
        check_int(limit, "limit")
        with self._store._reading(uow) as cur:
            if municipality is None:
                cur.execute(self._q["identity_scan"], [after, limit])
            else:
                cur.execute(self._q["identity_scan_municipality"], [municipality, after, limit])
            found = cur.fetchall()
        return [_identity_row(values) for values in found]

    def count(self, *, municipality: str | None = None, uow: UnitOfWork | None = None) -> int:
        """How many codes, or how many codes a municipality notified (as :meth:`scan`)."""
        if municipality is not None:
            check_lg_code(municipality)
        with self._store._reading(uow) as cur:
            if municipality is None:
                cur.execute(self._q["identity_count"])
            else:
                cur.execute(self._q["identity_count_municipality"], [municipality])
            found = cur.fetchone()
        return int(found[0]) if found else 0


class PostgresOutbox(_Port, Outbox):
    """The outbox: gap-free, commit-ordered sequence numbers per destination.

    PostgreSQL hands out numbers when a row is inserted, not when its
    transaction commits, so a plain sequence (or ``max(seq) + 1``) lets a later
    number commit before an earlier one: a reader that has read up to 7 may
    see 7 commit while 6 is still in flight, move its position to 7 and never
    see 6. Instead each destination has a head row in ``outbox_heads`` and
    :meth:`append` takes its row lock before choosing numbers: one
    ``INSERT .. ON CONFLICT (destination) DO UPDATE SET last_seq = last_seq + n
    .. RETURNING last_seq`` statement. It takes the same row lock as inserting
    the head if missing (``ON CONFLICT DO NOTHING``), then ``SELECT .. FOR
    UPDATE`` and ``UPDATE``, in one round trip instead of three. A second writer to the same destination blocks on that
    lock until the first unit of work commits or rolls back, then reads the
    committed head (READ COMMITTED re-reads the newest row version) and
    continues from there. Hence:

    * numbers are gap-free: a rolled-back writer's increment is rolled back with
      it and the next writer reuses its numbers;
    * commit order equals number order: *n* + 1 is chosen only after the
      transaction holding *n* has committed, so any snapshot that shows *n* + 1
      shows *n* too, and a reader never sees a hole that is filled later.

    The lock is held until the unit of work ends, so keep units of work that
    append short: writers to one destination take turns (other destinations
    are not affected).
    """

    __slots__ = ()

    def append(self, uow: UnitOfWork, destination: str, payloads: Sequence[bytes]) -> range:
        """Append payloads for ``destination``; returns the sequence numbers given."""
        self._store._connection_of(uow)
        check_node_id(destination, "destination")
        items = _payloads(destination, payloads)
        if not items:
            last = self.last_seq(destination, uow)
            return range(last + 1, last + 1)
        q = self._q
        with self._store._writing(uow) as cur:
            cur.execute(q["outbox_take_head"], [destination, len(items)])
            found = cur.fetchone()
            assert found is not None
            last = int(found[0])
            first = last - len(items) + 1
            cur.executemany(
                q["outbox_insert"],
                [(destination, first + i, payload) for i, payload in enumerate(items)],
            )
        return range(first, last + 1)

    def read(
        self, destination: str, *, after: int = 0, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[OutboxEntry]:
        """Committed entries for ``destination`` with ``seq > after``, in order."""
        check_node_id(destination, "destination")
        check_int(after, "after")
        check_int(limit, "limit")
        with self._store._reading(uow) as cur:
            cur.execute(self._q["outbox_read"], [destination, after, limit])
            found = cur.fetchall()
        return _decode(
            found,
            lambda r: OutboxEntry(destination=destination, seq=r[0], payload=bytes(r[1])),
            "outbox",
            (destination,),
        )

    def last_seq(self, destination: str, uow: UnitOfWork | None = None) -> int:
        """The highest sequence number given for ``destination`` (0 if none)."""
        check_node_id(destination, "destination")
        with self._store._reading(uow) as cur:
            cur.execute(self._q["outbox_last_seq"], [destination])
            found = cur.fetchone()
        return 0 if found is None else int(found[0])

    def destinations(self, uow: UnitOfWork | None = None) -> list[str]:
        """Every destination that has entries or a head set by :meth:`resume`, sorted."""
        with self._store._reading(uow) as cur:
            cur.execute(self._q["outbox_destinations"])
            found = cur.fetchall()
        return [destination for (destination,) in found]

    def acknowledge(self, uow: UnitOfWork, destination: str, seq: int) -> None:
        """Record that ``destination`` confirmed every entry up to ``seq`` (monotonic).

        One conditional ``UPDATE .. SET acked = seq WHERE acked < seq AND
        last_seq >= seq`` on the head row; when it changes nothing the
        acknowledgement was late or repeated (a no-op) or names an entry never
        sent (an IntegrityError).
        """
        self._store._connection_of(uow)
        check_node_id(destination, "destination")
        check_int(seq, "seq")
        q = self._q
        with self._store._writing(uow) as cur:
            cur.execute(q["outbox_acknowledge"], [seq, destination, seq, seq])
            if cur.rowcount == 1 or seq == 0:
                return
            cur.execute(q["outbox_head"], [destination])
            found = cur.fetchone()
        last, acked = (0, 0) if found is None else (int(found[0]), int(found[1]))
        if seq <= acked:
            return
        raise errors.IntegrityError(
            f"{destination} acknowledges entry {seq}, but the last entry is {last}",
            field="seq",
            expected=f"at most {last}",
        )

    def acknowledged(self, destination: str, uow: UnitOfWork | None = None) -> int:
        """The highest sequence number ``destination`` confirmed (0 if none)."""
        check_node_id(destination, "destination")
        with self._store._reading(uow) as cur:
            cur.execute(self._q["outbox_head"], [destination])
            found = cur.fetchone()
        return 0 if found is None else int(found[1])

    def resume(self, uow: UnitOfWork, destination: str, last_seq: int) -> None:
        """Start a destination's numbering after ``last_seq`` (a link continued after a
        disaster): only for a destination without a head, hence without entries.

        ``INSERT .. ON CONFLICT (destination) DO NOTHING`` of the head with both
        ``last_seq`` and ``acked`` set; when a head exists (committed or being
        written by a racing unit of work, which this one waits for) nothing is
        inserted and the call is an IntegrityError.
        """
        self._store._connection_of(uow)
        check_node_id(destination, "destination")
        check_int(last_seq, "last_seq")
        with self._store._writing(uow) as cur:
            cur.execute(self._q["outbox_resume"], [destination, last_seq, last_seq])
            if cur.rowcount == 1:
                return
        raise errors.IntegrityError(
            f"the outbox of {destination} already has entries or was resumed",
            field="destination",
            expected="a destination with no entries and no head",
        )


class PostgresTracking(_Port, Tracking):
    """What this node has applied from each sender (``tracking`` table)."""

    __slots__ = ()

    def position(self, sender: str, uow: UnitOfWork | None = None) -> int:
        """The last sequence number applied from ``sender`` (0 if none)."""
        check_node_id(sender, "sender")
        with self._store._reading(uow) as cur:
            cur.execute(self._q["tracking_position"], [sender])
            found = cur.fetchone()
        return 0 if found is None else int(found[0])

    def advance(self, uow: UnitOfWork, sender: str, seq: int, *, last: int | None = None) -> None:
        """Record ``seq`` through ``last`` (default ``seq``) from ``sender`` as applied;
        ``seq`` must be position + 1 and the position becomes ``last``.

        One conditional write (``INSERT .. ON CONFLICT DO NOTHING`` for the first,
        ``UPDATE .. SET position = last WHERE position = seq - 1`` after): when it
        touches no row the number was already applied or skips one, an
        IntegrityError. Two racing units of work cannot both advance: the second
        waits for the first's row lock, then finds the position moved. A ``last``
        below ``seq`` is bad input (:class:`~jukinet.errors.InvalidComponent`).
        """
        self._store._connection_of(uow)
        check_node_id(sender, "sender")
        check_int(seq, "seq", minimum=1)
        if last is None:
            last = seq
        else:
            _check_last(last, seq)
        q = self._q
        with self._store._writing(uow) as cur:
            if seq == 1:
                cur.execute(q["tracking_first"], [sender, last])
            else:
                cur.execute(q["tracking_advance"], [last, sender, seq - 1])
            if cur.rowcount == 1:
                return
            cur.execute(q["tracking_position"], [sender])
            found = cur.fetchone()
        position = 0 if found is None else int(found[0])
        what = "was already applied" if seq <= position else "skips messages"
        raise errors.IntegrityError(
            f"message {seq} from {sender} {what} (position {position})",
            field="seq",
            expected=f"seq {position + 1}",
        )

    def senders(self, uow: UnitOfWork | None = None) -> dict[str, int]:
        """Every sender with its position."""
        with self._store._reading(uow) as cur:
            cur.execute(self._q["tracking_senders"])
            found = cur.fetchall()
        return {sender: int(position) for sender, position in found}


class PostgresCodePool(_Port, CodePool):
    """Resident codes designated nationwide and each municipality's pool (``code_pool``).

    :meth:`allocate` picks with ``SELECT .. FOR UPDATE SKIP LOCKED LIMIT 1`` and
    marks the code used in the same statement, so two racing allocators never
    get the same code (the second skips the row the first has locked).
    """

    __slots__ = ()

    def designate(self, uow: UnitOfWork, municipality: str, codes: Sequence[str]) -> None:
        """Add codes to a municipality's pool; a code designated before is an IntegrityError."""
        self._store._connection_of(uow)
        check_lg_code(municipality)
        items = _codes(codes, "codes")
        if len(set(items)) != len(items):
            raise errors.IntegrityError(
                "a code appears twice", field="codes", expected="each code once"
            )
        if not items:
            return
        q = self._q
        with self._store._writing(uow) as cur:
            cur.execute(q["code_pool_designated"], [items])
            found = cur.fetchone()
            if found is not None:
                raise errors.IntegrityError(
                    f"resident code {found[0]} was designated before",
                    field="codes",
                    expected="codes never designated (住基法30条の2第2項)",
                )
            cur.execute(q["code_pool_designate"], [municipality, items])

    def allocate(self, uow: UnitOfWork, municipality: str) -> str | None:
        """Take an unused code of the municipality and mark it used; None if none is free."""
        self._store._connection_of(uow)
        check_lg_code(municipality)
        with self._store._writing(uow) as cur:
            cur.execute(self._q["code_pool_allocate"], [municipality])
            found = cur.fetchone()
        return None if found is None else str(found[0])

    def mark_used(self, uow: UnitOfWork, resident_code: str) -> None:
        """Mark a designated, unused code as used; otherwise an IntegrityError."""
        self._store._connection_of(uow)
        check_resident_code(resident_code)
        with self._store._writing(uow) as cur:
            cur.execute(self._q["code_pool_mark_used"], [resident_code])
            if cur.rowcount == 1:
                return
            cur.execute(self._q["code_pool_is_designated"], [resident_code])
            designated = cur.fetchone() is not None
        what = "is already used" if designated else "was never designated"
        raise errors.IntegrityError(
            f"resident code {resident_code} {what}",
            field="resident_code",
            expected="a designated, unused code",
        )

    def available(self, municipality: str, uow: UnitOfWork | None = None) -> int:
        """How many unused codes the municipality has left."""
        check_lg_code(municipality)
        with self._store._reading(uow) as cur:
            cur.execute(self._q["code_pool_available"], [municipality])
            found = cur.fetchone()
        return int(found[0]) if found else 0

    def is_designated(self, resident_code: str, uow: UnitOfWork | None = None) -> bool:
        """Whether the code was ever designated (to anyone)."""
        check_resident_code(resident_code)
        with self._store._reading(uow) as cur:
            cur.execute(self._q["code_pool_is_designated"], [resident_code])
            return cur.fetchone() is not None

    def designated_to(self, resident_code: str, uow: UnitOfWork | None = None) -> str | None:
        """The municipality the code was designated to, or None."""
        check_resident_code(resident_code)
        with self._store._reading(uow) as cur:
            cur.execute(self._q["code_pool_designated_to"], [resident_code])
            found = cur.fetchone()
        return None if found is None else str(found[0])

    def designated_count(self, uow: UnitOfWork | None = None) -> int:
        """How many codes were ever designated."""
        with self._store._reading(uow) as cur:
            cur.execute(self._q["code_pool_count"])
            found = cur.fetchone()
        return int(found[0]) if found else 0


class PostgresAuditLog(_Port, AuditLog):
    """The node's audit log (``audit_log``): gap-free sequence numbers in commit order.

    Numbered like the outbox: :meth:`append` first takes the row lock of the one
    ``audit_head`` row (``INSERT .. ON CONFLICT DO UPDATE SET last_seq = last_seq
    + n .. RETURNING``), so writers take turns until commit, a rolled-back
    writer's numbers are reused and no reader sees a hole filled later. ``at``
    is stored as ``TIMESTAMPTZ`` (an instant) and read back in UTC: equal to the
    written datetime (aware datetimes compare as instants), whatever the
    session's ``TimeZone``.
    """

    __slots__ = ()

    def append(self, uow: UnitOfWork, entries: Sequence[AuditEntry]) -> range:
        """Append entries; returns their sequence numbers (empty list: nothing written)."""
        self._store._connection_of(uow)
        items = _records(entries, AuditEntry, "entries")
        values = [(_utc(entry.at), entry.action, entry.subject, entry.detail) for entry in items]
        if not items:
            last = self.last_seq(uow)
            return range(last + 1, last + 1)
        q = self._q
        with self._store._writing(uow) as cur:
            cur.execute(q["audit_take_head"], [len(items)])
            found = cur.fetchone()
            assert found is not None
            last = int(found[0])
            first = last - len(items) + 1
            cur.executemany(
                q["audit_insert"], [(first + i, *value) for i, value in enumerate(values)]
            )
        return range(first, last + 1)

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
        with self._store._reading(uow) as cur:
            if action is None:
                cur.execute(self._q["audit_read"], [after, limit])
            else:
                cur.execute(self._q["audit_read_action"], [action, after, limit])
            found = cur.fetchall()
        return _decode(found, _audit_record, "audit_log")

    def last_seq(self, uow: UnitOfWork | None = None) -> int:
        """The highest sequence number written (0 if none)."""
        with self._store._reading(uow) as cur:
            cur.execute(self._q["audit_last_seq"])
            found = cur.fetchone()
        return 0 if found is None else int(found[0])


class PostgresAgencyRegistry(_Port, AgencyRegistry):
    """The agencies registered with a provider (``agencies``, 住基法30条の9〜30条の15).

    ``recipients`` and ``number_uses`` are JSON text; ``registered_at``
    is a ``TIMESTAMPTZ`` read back in UTC, like the audit log's ``at``.
    """

    __slots__ = ()

    def register(self, uow: UnitOfWork, row: AgencyRow) -> None:
        """Register an agency; a name registered before is an IntegrityError.

        ``INSERT .. ON CONFLICT (agency) DO NOTHING``: a racing registration of
        the same name waits for the first to end, then inserts nothing, and the
        call is refused (the first key is never replaced).
        """
        self._store._connection_of(uow)
        if not isinstance(row, AgencyRow):
            raise errors.InterfaceError(
                f"got {type(row).__name__}", field="row", expected="an AgencyRow"
            )
        values = (
            row.agency,
            row.public_key,
            _utc(row.registered_at),
            _json_list(row.recipients),
            _json_list(row.number_uses),
            row.locality,
        )
        with self._store._writing(uow) as cur:
            cur.execute(self._q["agency_insert"], values)
            if cur.rowcount == 1:
                return
        raise errors.IntegrityError(
            f"agency {row.agency} is registered already",
            field="agency",
            expected="a name not registered before (keys are never replaced)",
        )

    def get(self, agency: str, uow: UnitOfWork | None = None) -> AgencyRow | None:
        """The agency's registration, or None."""
        check_field(AgencyRow, "agency", agency)
        with self._store._reading(uow) as cur:
            cur.execute(self._q["agency_get"], [agency])
            found = cur.fetchone()
        return None if found is None else _decode([found], _agency_row, "agencies")[0]

    def list(
        self, *, after: str | None = None, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[AgencyRow]:
        """Registrations ordered by name (code point order, ``COLLATE "C"``), after
        ``after``, at most ``limit``."""
        if after is not None:
            check_field(AgencyRow, "agency", after)
        check_int(limit, "limit")
        with self._store._reading(uow) as cur:
            cur.execute(self._q["agency_list"], [after, limit])
            found = cur.fetchall()
        return _decode(found, _agency_row, "agencies")


class PostgresProvisionLog(_Port, ProvisionLog):
    """A provider's provision log (提供記録: provisions under 住基法30条の9〜30条の15,
    disclosures 30条の32, corrections 30条の35) in ``provision_log``.

    The head and the anchor are the rows ``'head'`` and ``'anchor'`` of
    ``provision_meta`` (``(seq, hash)``, both ``(0, GENESIS)`` at first).
    :meth:`append` and :meth:`purge` lock the head row first (``SELECT .. FOR
    UPDATE``), so appenders and purges take turns until their unit of work
    ends: each appender chains to the head the one before committed (READ
    COMMITTED re-reads the locked row's newest version), the chain never
    forks, and sequence numbers are gap-free in commit order (a rolled-back
    appender's numbers are reused).

    ``at`` is kept as an instant (``TIMESTAMPTZ``, what :meth:`purge`
    compares) plus the writer's UTC offset (``at_offset``), so a read gives
    back the datetime whose ``isoformat()`` the hash covers; ``items`` is JSON
    text. Records are read exactly as stored, never re-hashed: a changed row
    shows up in :func:`~jukinet.storage.records.verify_chain`.
    """

    __slots__ = ()

    def append(self, uow: UnitOfWork, entries: Sequence[ProvisionEntry]) -> list[ProvisionRecord]:
        """Append entries after the head, each chained to the one before; returns the
        stored records (nothing is written for an empty list)."""
        self._store._connection_of(uow)
        items = _records(entries, ProvisionEntry, "entries")
        if not items:
            return []
        walls = [_wall(entry.at) for entry in items]
        q = self._q
        with self._store._writing(uow) as cur:
            cur.execute(q["provision_lock_head"])
            records = chain(self._meta(cur.fetchone(), "head"), items)
            values = [
                (
                    record.seq,
                    wall,
                    offset,
                    offset,
                    record.entry.kind,
                    record.entry.request_id,
                    record.entry.agency,
                    record.entry.use,
                    record.entry.subject,
                    _json_list(record.entry.items),
                    record.entry.detail,
                    record.prev_hash,
                    record.hash,
                )
                for record, (wall, offset) in zip(records, walls, strict=True)
            ]
            cur.executemany(q["provision_insert"], values)
            cur.execute(q["provision_set_meta"], [records[-1].seq, records[-1].hash, "head"])
        return records

    def read(
        self,
        *,
        after: int = 0,
        limit: int = 1000,
        subject: str | None = None,
        uow: UnitOfWork | None = None,
    ) -> list[ProvisionRecord]:
        """Records with ``seq > after`` in ``seq`` order, at most ``limit``, as stored;
        with ``subject``, that person's only (a range scan of ``provision_log_subject``)."""
        check_int(after, "after")
        check_int(limit, "limit")
        if subject is not None:
            check_resident_code(subject, "subject")
        with self._store._reading(uow) as cur:
            if subject is None:
                cur.execute(self._q["provision_read"], [after, limit])
            else:
                cur.execute(self._q["provision_read_subject"], [subject, after, limit])
            found = cur.fetchall()
        return _decode(found, _provision_record, "provision_log")

    def has_request(
        self, request_id: str, uow: UnitOfWork | None = None, *, agency: str | None = None
    ) -> bool:
        """Whether a kept record carries this request id (from ``agency``, when given),
        by ``provision_log_request_id``."""
        check_request(request_id, agency)
        with self._store._reading(uow) as cur:
            if agency is None:
                cur.execute(self._q["provision_has_request"], [request_id])
            else:
                cur.execute(self._q["provision_has_agency_request"], [request_id, agency])
            found = cur.fetchone()
        return bool(found and found[0])

    def head(self, uow: UnitOfWork | None = None) -> tuple[int, str]:
        """The stored head (not ``max(seq)``): the last sequence number and its hash."""
        with self._store._reading(uow) as cur:
            cur.execute(self._q["provision_meta"], ["head"])
            return self._meta(cur.fetchone(), "head")

    def anchor(self, uow: UnitOfWork | None = None) -> tuple[int, str]:
        """The stored anchor: ``(0, GENESIS)`` until a purge, then the last purged record's."""
        with self._store._reading(uow) as cur:
            cur.execute(self._q["provision_meta"], ["anchor"])
            return self._meta(cur.fetchone(), "anchor")

    def purge(self, uow: UnitOfWork, *, before: datetime) -> int:
        """Remove the oldest records while their ``at`` is before ``before`` and move
        the anchor to the last one removed; returns how many went.

        With the head row locked (appenders wait): the first record (in ``seq``
        order) whose ``at`` is not before ``before`` is found by a scan of the
        primary key from the oldest end (as long as what is purged), then every
        record below it goes and the anchor row takes the last one's
        ``(seq, hash)``.
        """
        self._store._connection_of(uow)
        wall, offset = _wall(check_aware(before, "before"))
        q = self._q
        with self._store._writing(uow) as cur:
            cur.execute(q["provision_lock_head"])
            head_seq, _ = self._meta(cur.fetchone(), "head")
            cur.execute(q["provision_purge_stop"], [wall, offset])
            found = cur.fetchone()
            stop = head_seq + 1 if found is None else int(found[0])
            cur.execute(q["provision_purge_last"], [stop])
            last = cur.fetchone()
            if last is None:
                return 0
            cur.execute(q["provision_purge"], [stop])
            count = cur.rowcount
            cur.execute(q["provision_set_meta"], [last[0], last[1], "anchor"])
        return count

    def _meta(self, found: Sequence[Any] | None, name: str) -> tuple[int, str]:
        if found is None:
            raise errors.ProgrammingError(
                f"the provision log of schema {self._store.schema!r} has no {name} row"
                " in provision_meta: the schema is damaged",
                field="provision_meta",
                expected=f"the {name!r} row create_schema() writes",
            )
        seq, hash_ = found
        return int(seq), str(hash_)


class PostgresSchedule(_Port, Schedule):
    """Work due on a date, by unique key (``schedule``, e.g. JPKI法31条 deadlines)."""

    __slots__ = ()

    def add(self, uow: UnitOfWork, items: Sequence[ScheduledItem]) -> None:
        """Add items in one ``INSERT .. SELECT FROM unnest(..) ON CONFLICT DO NOTHING``;
        a key already scheduled (or repeated in ``items``) is an IntegrityError and
        nothing is added."""
        self._store._connection_of(uow)
        rows = _records(items, ScheduledItem, "items")
        keys = [item.key for item in rows]
        seen: set[str] = set()
        for key in keys:
            if key in seen:
                raise errors.IntegrityError(
                    f"schedule key {key!r} appears twice", field="items", expected="each key once"
                )
            seen.add(key)
        if not rows:
            return
        with self._store._writing(uow) as cur:
            cur.execute(
                self._q["schedule_add"],
                [keys, [item.due for item in rows], [item.payload for item in rows]],
            )
            if cur.rowcount == len(rows):
                return
            added = {key for (key,) in cur.fetchall()}
            taken = next(key for key in keys if key not in added)
            # raised inside the savepoint, which rolls back the keys that were added
            raise errors.IntegrityError(
                f"schedule key {taken!r} is scheduled already",
                field="items",
                expected="keys not in the schedule",
            )

    def cancel(self, uow: UnitOfWork, keys: Sequence[str]) -> int:
        """Remove the items with these keys (absent keys are skipped); returns how many."""
        self._store._connection_of(uow)
        items = _keys(keys)
        if not items:
            return 0
        with self._store._writing(uow) as cur:
            cur.execute(self._q["schedule_cancel"], [items])
            return cur.rowcount

    def get(self, key: str, uow: UnitOfWork | None = None) -> ScheduledItem | None:
        """The item with this key, or None."""
        check_field(ScheduledItem, "key", key)
        with self._store._reading(uow) as cur:
            cur.execute(self._q["schedule_get"], [key])
            found = cur.fetchone()
        return None if found is None else _decode([found], _scheduled_item, "schedule")[0]

    def due(
        self, on: date, *, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[ScheduledItem]:
        """Items due on or before ``on``, ordered by (due, key in code point order), at
        most ``limit`` (a range scan of ``schedule_due``)."""
        check_field(ScheduledItem, "due", on)
        check_int(limit, "limit")
        with self._store._reading(uow) as cur:
            cur.execute(self._q["schedule_due"], [on, limit])
            found = cur.fetchall()
        return _decode(found, _scheduled_item, "schedule")


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


def _check_last(last: object, seq: int) -> None:
    check_int(last, "last")
    assert isinstance(last, int)
    if last < seq:
        raise errors.InvalidComponent(
            f"last {last} is below seq {seq}", field="last", expected=f"at least {seq}"
        )


def _version_error(key: str, version: int, expected: int) -> errors.IntegrityError:
    what = "already exists" if version < expected else "skips a version"
    return errors.IntegrityError(
        f"version {version} of {key} {what}", field="version", expected=f"version {expected}"
    )


# --- the store -----------------------------------------------------------------------


def _queries(schema: str) -> dict[str, sql.Composed]:
    """Every statement of the adapter, with the schema quoted as an identifier.

    The store renders them to bytes once (:meth:`PostgresStore._render`), at its
    first use of a connection.
    """
    s = sql.Identifier(schema)
    reg = _columns(_REGISTER_COLUMNS)
    reg_v = _columns(_REGISTER_COLUMNS, "v")
    ident = _columns(_IDENTITY_COLUMNS)
    ident_v = _columns(_IDENTITY_COLUMNS, "v")
    reg_current = _columns(_REGISTER_CURRENT_COLUMNS)
    ident_current = _columns(_IDENTITY_CURRENT_COLUMNS)

    agency = sql.SQL(
        "agency, public_key, registered_at AT TIME ZONE 'UTC', recipients, number_uses, locality"
    )
    provision = sql.SQL(
        "seq, (at AT TIME ZONE 'UTC') + at_offset, at_offset, kind, request_id, agency, \"use\","
        " subject, items, detail, prev_hash, hash"
    )

    def q(text: LiteralString) -> sql.Composed:
        return sql.SQL(text).format(
            s=s,
            reg=reg,
            reg_v=reg_v,
            ident=ident,
            ident_v=ident_v,
            reg_current=reg_current,
            ident_current=ident_current,
            agency=agency,
            provision=provision,
        )

    register_join = (
        " FROM {s}.register_current c JOIN {s}.register_versions v"
        " ON v.internal_id = c.internal_id AND v.version = c.version"
    )
    identity_join = (
        " FROM {s}.identity_current c JOIN {s}.identity_versions v"
        " ON v.resident_code = c.resident_code AND v.version = c.version"
    )
    return {
        # schema
        "meta_version": q("SELECT value FROM {s}.jukinet_meta WHERE key = 'schema_version'"),
        "meta_insert": q(
            "INSERT INTO {s}.jukinet_meta (key, value) VALUES ('schema_version', %s)"
            " ON CONFLICT (key) DO NOTHING"
        ),
        "meta_update": q("UPDATE {s}.jukinet_meta SET value = %s WHERE key = 'schema_version'"),
        # register
        "register_lock_current": q(
            "SELECT internal_id, version FROM {s}.register_current"
            " WHERE internal_id = ANY(%s) FOR UPDATE"
        ),
        "register_code_owners": q(
            "SELECT resident_code, internal_id FROM {s}.register_codes"
            " WHERE resident_code = ANY(%s)"
        ),
        "register_insert_version": q(
            "INSERT INTO {s}.register_versions ({reg}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
        ),
        "register_upsert_current": q(
            "INSERT INTO {s}.register_current ({reg_current}) VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (internal_id) DO UPDATE SET version = EXCLUDED.version,"
            " resident_code = EXCLUDED.resident_code, status = EXCLUDED.status,"
            " household_id = EXCLUDED.household_id"
        ),
        "register_insert_code": q(
            "INSERT INTO {s}.register_codes (resident_code, internal_id) VALUES (%s, %s)"
        ),
        "register_copy_versions": q(
            "COPY {s}.register_versions ({reg}) FROM STDIN (FORMAT BINARY)"
        ),
        "register_copy_current": q(
            "COPY {s}.register_current ({reg_current}) FROM STDIN (FORMAT BINARY)"
        ),
        "register_copy_codes": q(
            "COPY {s}.register_codes (resident_code, internal_id) FROM STDIN (FORMAT BINARY)"
        ),
        "register_analyze": q(
            "ANALYZE {s}.register_versions, {s}.register_current, {s}.register_codes"
        ),
        "identity_analyze": q("ANALYZE {s}.identity_versions, {s}.identity_current"),
        "register_current": q("SELECT {reg_v}" + register_join + " WHERE c.internal_id = %s"),
        "register_current_by_code": q(
            "SELECT k.resident_code, {reg_v} FROM {s}.register_codes k"
            " JOIN {s}.register_current c ON c.internal_id = k.internal_id"
            " JOIN {s}.register_versions v"
            " ON v.internal_id = c.internal_id AND v.version = c.version"
            " WHERE k.resident_code = %s"
        ),
        "register_current_many": q(
            "SELECT k.resident_code, {reg_v} FROM {s}.register_codes k"
            " JOIN {s}.register_current c ON c.internal_id = k.internal_id"
            " JOIN {s}.register_versions v"
            " ON v.internal_id = c.internal_id AND v.version = c.version"
            " WHERE k.resident_code = ANY(%s)"
        ),
        "register_history": q(
            "SELECT {reg} FROM {s}.register_versions WHERE internal_id = %s ORDER BY version"
        ),
        "register_household": q(
            "SELECT {reg_v}"
            + register_join
            + " WHERE c.household_id = %s AND c.status = 'registered' ORDER BY c.internal_id"
        ),
        "register_scan": q(
            "SELECT {reg_v}"
            + register_join
            + " WHERE c.internal_id > coalesce(%s::text, '') ORDER BY c.internal_id LIMIT %s"
        ),
        "register_count": q(
            "SELECT count(*) FROM {s}.register_current WHERE status = coalesce(%s::text, status)"
        ),
        # identities
        "identity_lock_current": q(
            "SELECT resident_code, version FROM {s}.identity_current"
            " WHERE resident_code = ANY(%s) FOR UPDATE"
        ),
        "identity_last_versions": q(
            "SELECT resident_code, max(version) FROM {s}.identity_current"
            " WHERE resident_code = ANY(%s) GROUP BY resident_code"
        ),
        "identity_insert_version": q(
            "INSERT INTO {s}.identity_versions ({ident})"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        ),
        # Per code with a version received before the cut-off: how many of its oldest
        # versions are due (each up to the first one that is not; 令30条の6・30条の7):
        # a version is due when the next one was received before the cut-off, or
        # when it is removed and was itself received before it (NULL days never
        # count). Those versions go, and the identity_current rows among them.
        "identity_expire": q(
            "WITH due AS ("
            " SELECT v.resident_code AS code, min(v.version) AS oldest,"
            " coalesce(min(v.version) FILTER (WHERE NOT ("
            " coalesce(n.received_on < %(before)s, false)"
            " OR (v.removed AND coalesce(v.received_on < %(before)s, false)))) - 1,"
            " max(v.version)) AS cut"
            " FROM {s}.identity_versions v LEFT JOIN {s}.identity_versions n"
            " ON n.resident_code = v.resident_code AND n.version = v.version + 1"
            " WHERE v.resident_code IN (SELECT resident_code FROM {s}.identity_versions"
            " WHERE received_on < %(before)s)"
            " GROUP BY v.resident_code),"
            " cuts AS MATERIALIZED (SELECT code, cut FROM due WHERE cut >= oldest),"
            " words AS (DELETE FROM {s}.identity_current c USING cuts"
            " WHERE c.resident_code = cuts.code AND c.version <= cuts.cut)"
            " DELETE FROM {s}.identity_versions v USING cuts"
            " WHERE v.resident_code = cuts.code AND v.version <= cuts.cut"
        ),
        "identity_upsert_current": q(
            "INSERT INTO {s}.identity_current ({ident_current})"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (resident_code, municipality) DO UPDATE SET version = EXCLUDED.version,"
            " removed = EXCLUDED.removed,"
            " name_key = EXCLUDED.name_key, birth_date = EXCLUDED.birth_date,"
            " sex = EXCLUDED.sex, address_key = EXCLUDED.address_key"
        ),
        "identity_copy_versions": q(
            "COPY {s}.identity_versions ({ident}) FROM STDIN (FORMAT BINARY)"
        ),
        "identity_copy_current": q(
            "COPY {s}.identity_current ({ident_current}) FROM STDIN (FORMAT BINARY)"
        ),
        # a code's current version: not removed first, then the highest version
        "identity_current": q(
            "SELECT {ident_v}"
            + identity_join
            + " WHERE c.resident_code = %s ORDER BY c.removed, c.version DESC LIMIT 1"
        ),
        "identity_current_many": q(
            "SELECT DISTINCT ON (c.resident_code) {ident_v}"
            + identity_join
            + " WHERE c.resident_code = ANY(%s)"
            " ORDER BY c.resident_code, c.removed, c.version DESC"
        ),
        "identity_history": q(
            "SELECT {ident} FROM {s}.identity_versions WHERE resident_code = %s ORDER BY version"
        ),
        "identity_search": q(
            "SELECT {ident_v}"
            + identity_join
            + " WHERE c.name_key = %s AND c.birth_date = %s AND NOT c.removed"
            " AND c.sex = coalesce(%s::text, c.sex)"
            " AND c.address_key = coalesce(%s::text, c.address_key)"
            " ORDER BY c.resident_code, c.municipality LIMIT %s"
        ),
        # separate statements with and without a municipality, so that the
        # (municipality, resident_code) index serves the second
        "identity_scan": q(
            "SELECT DISTINCT ON (c.resident_code) {ident_v}"
            + identity_join
            + " WHERE c.resident_code > coalesce(%s::text, '')"
            " ORDER BY c.resident_code, c.removed, c.version DESC LIMIT %s"
        ),
        "identity_scan_municipality": q(
            "SELECT {ident_v}"
            + identity_join
            + " WHERE c.municipality = %s AND c.resident_code > coalesce(%s::text, '')"
            " ORDER BY c.resident_code LIMIT %s"
        ),
        "identity_count": q("SELECT count(DISTINCT resident_code) FROM {s}.identity_current"),
        "identity_count_municipality": q(
            "SELECT count(*) FROM {s}.identity_current WHERE municipality = %s"
        ),
        # outbox
        "outbox_take_head": q(
            "INSERT INTO {s}.outbox_heads AS h (destination, last_seq) VALUES (%s, %s)"
            " ON CONFLICT (destination) DO UPDATE SET last_seq = h.last_seq + EXCLUDED.last_seq"
            " RETURNING h.last_seq"
        ),
        "outbox_insert": q(
            "INSERT INTO {s}.outbox (destination, seq, payload) VALUES (%s, %s, %s)"
        ),
        "outbox_read": q(
            "SELECT seq, payload FROM {s}.outbox WHERE destination = %s AND seq > %s"
            " ORDER BY seq LIMIT %s"
        ),
        "outbox_last_seq": q("SELECT last_seq FROM {s}.outbox_heads WHERE destination = %s"),
        "outbox_head": q("SELECT last_seq, acked FROM {s}.outbox_heads WHERE destination = %s"),
        "outbox_destinations": q("SELECT destination FROM {s}.outbox_heads ORDER BY destination"),
        "outbox_acknowledge": q(
            "UPDATE {s}.outbox_heads SET acked = %s"
            " WHERE destination = %s AND acked < %s AND last_seq >= %s"
        ),
        "outbox_resume": q(
            "INSERT INTO {s}.outbox_heads (destination, last_seq, acked) VALUES (%s, %s, %s)"
            " ON CONFLICT (destination) DO NOTHING"
        ),
        # tracking
        "tracking_position": q("SELECT position FROM {s}.tracking WHERE sender = %s"),
        "tracking_first": q(
            "INSERT INTO {s}.tracking (sender, position) VALUES (%s, %s)"
            " ON CONFLICT (sender) DO NOTHING"
        ),
        "tracking_advance": q(
            "UPDATE {s}.tracking SET position = %s WHERE sender = %s AND position = %s"
        ),
        "tracking_senders": q("SELECT sender, position FROM {s}.tracking ORDER BY sender"),
        # code pool
        "code_pool_designated_to": q(
            "SELECT municipality FROM {s}.code_pool WHERE resident_code = %s"
        ),
        "code_pool_designated": q(
            "SELECT resident_code FROM {s}.code_pool WHERE resident_code = ANY(%s)"
            " ORDER BY resident_code LIMIT 1"
        ),
        "code_pool_designate": q(
            "INSERT INTO {s}.code_pool (resident_code, municipality, used)"
            " SELECT code, %s::text, false FROM unnest(%s::text[]) AS code"
        ),
        "code_pool_allocate": q(
            "UPDATE {s}.code_pool SET used = true WHERE resident_code = ("
            " SELECT resident_code FROM {s}.code_pool WHERE municipality = %s AND NOT used"
            " ORDER BY resident_code LIMIT 1 FOR UPDATE SKIP LOCKED)"
            " RETURNING resident_code"
        ),
        "code_pool_mark_used": q(
            "UPDATE {s}.code_pool SET used = true WHERE resident_code = %s AND NOT used"
        ),
        "code_pool_is_designated": q("SELECT 1 FROM {s}.code_pool WHERE resident_code = %s"),
        "code_pool_available": q(
            "SELECT count(*) FROM {s}.code_pool WHERE municipality = %s AND NOT used"
        ),
        "code_pool_count": q("SELECT count(*) FROM {s}.code_pool"),
        # audit log
        "audit_take_head": q(
            "INSERT INTO {s}.audit_head AS h (id, last_seq) VALUES (1, %s)"
            " ON CONFLICT (id) DO UPDATE SET last_seq = h.last_seq + EXCLUDED.last_seq"
            " RETURNING h.last_seq"
        ),
        "audit_insert": q(
            "INSERT INTO {s}.audit_log (seq, at, action, subject, detail)"
            " VALUES (%s, %s, %s, %s, %s)"
        ),
        "audit_read": q(
            "SELECT seq, at AT TIME ZONE 'UTC', action, subject, detail FROM {s}.audit_log"
            " WHERE seq > %s ORDER BY seq LIMIT %s"
        ),
        "audit_read_action": q(
            "SELECT seq, at AT TIME ZONE 'UTC', action, subject, detail FROM {s}.audit_log"
            " WHERE action = %s AND seq > %s ORDER BY seq LIMIT %s"
        ),
        "audit_last_seq": q("SELECT last_seq FROM {s}.audit_head"),
        # agencies
        "agency_insert": q(
            "INSERT INTO {s}.agencies"
            " (agency, public_key, registered_at, recipients, number_uses, locality)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (agency) DO NOTHING"
        ),
        "agency_get": q("SELECT {agency} FROM {s}.agencies WHERE agency = %s"),
        "agency_list": q(
            "SELECT {agency} FROM {s}.agencies"
            " WHERE agency > coalesce(%s::text, '') ORDER BY agency LIMIT %s"
        ),
        # provision log: the instant is computed from the wall time and the offset
        # in SQL (timestamp arithmetic, whatever the session's TimeZone), and the
        # wall time read back the same way, so no instant has to fit Python's years
        "provision_meta_init": q(
            "INSERT INTO {s}.provision_meta (name, seq, hash)"
            " VALUES ('head', 0, %s), ('anchor', 0, %s) ON CONFLICT (name) DO NOTHING"
        ),
        "provision_meta": q("SELECT seq, hash FROM {s}.provision_meta WHERE name = %s"),
        "provision_lock_head": q(
            "SELECT seq, hash FROM {s}.provision_meta WHERE name = 'head' FOR UPDATE"
        ),
        "provision_set_meta": q(
            "UPDATE {s}.provision_meta SET seq = %s, hash = %s WHERE name = %s"
        ),
        "provision_insert": q(
            'INSERT INTO {s}.provision_log (seq, at, at_offset, kind, request_id, agency, "use",'
            " subject, items, detail, prev_hash, hash)"
            " VALUES (%s, (%s::timestamp - %s::interval) AT TIME ZONE 'UTC', %s::interval,"
            " %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        ),
        "provision_read": q(
            "SELECT {provision} FROM {s}.provision_log WHERE seq > %s ORDER BY seq LIMIT %s"
        ),
        "provision_read_subject": q(
            "SELECT {provision} FROM {s}.provision_log WHERE subject = %s AND seq > %s"
            " ORDER BY seq LIMIT %s"
        ),
        "provision_has_request": q(
            "SELECT EXISTS (SELECT 1 FROM {s}.provision_log WHERE request_id = %s)"
        ),
        "provision_has_agency_request": q(
            "SELECT EXISTS (SELECT 1 FROM {s}.provision_log WHERE request_id = %s AND agency = %s)"
        ),
        # purge: the first record not before the cut-off, by the primary key from the
        # oldest end; then the last record below it, and every record below it
        "provision_purge_stop": q(
            "SELECT seq FROM {s}.provision_log"
            " WHERE NOT (at < (%s::timestamp - %s::interval) AT TIME ZONE 'UTC')"
            " ORDER BY seq LIMIT 1"
        ),
        "provision_purge_last": q(
            "SELECT seq, hash FROM {s}.provision_log WHERE seq < %s ORDER BY seq DESC LIMIT 1"
        ),
        "provision_purge": q("DELETE FROM {s}.provision_log WHERE seq < %s"),
        # schedule
        "schedule_add": q(
            "INSERT INTO {s}.schedule (key, due, payload)"
            " SELECT * FROM unnest(%s::text[], %s::date[], %s::bytea[])"
            " ON CONFLICT (key) DO NOTHING RETURNING key"
        ),
        "schedule_cancel": q("DELETE FROM {s}.schedule WHERE key = ANY(%s::text[])"),
        "schedule_get": q("SELECT key, due, payload FROM {s}.schedule WHERE key = %s"),
        "schedule_due": q(
            "SELECT key, due, payload FROM {s}.schedule WHERE due <= %s ORDER BY due, key LIMIT %s"
        ),
        # pending notices
        "pending_add": q(
            "INSERT INTO {s}.pending_notices (sender, codes, payload)"
            " VALUES (%s, %s::text[], %s) RETURNING seq"
        ),
        "pending_find": q(
            "SELECT seq, sender, codes, payload FROM {s}.pending_notices"
            " WHERE codes && %s::text[] ORDER BY seq"
        ),
        "pending_remove": q("DELETE FROM {s}.pending_notices WHERE seq = ANY(%s::bigint[])"),
        "pending_count": q("SELECT count(*) FROM {s}.pending_notices"),
    }


def _pending_record(values: Sequence[Any]) -> PendingRecord:
    seq, sender, codes, payload = values
    return PendingRecord(
        seq=seq, entry=PendingNotice(sender=sender, codes=tuple(codes), payload=bytes(payload))
    )


class PostgresPendingNotices(_Port, PendingNotices):
    """Notices received and not applied yet (``pending_notices``; found by code through
    a GIN index on the codes array).

    The numbers come from the table's identity sequence, which hands them out at
    insert time: :meth:`add` first takes a transaction-level advisory lock of the
    schema's pending notices, so adders take turns until commit and the numbers of
    one call run without another unit of work's in between (the range it returns).
    """

    __slots__ = ()

    def add(self, uow: UnitOfWork, entries: Sequence[PendingNotice]) -> range:
        """Keep notices; returns their sequence numbers, ascending."""
        self._store._connection_of(uow)
        rows = _records(entries, PendingNotice, "entries")
        seqs: list[int] = []
        if not rows:
            return range(0)
        with self._store._writing(uow) as cur:
            cur.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))",
                [f"jukinet:{self._store.schema}:pending_notices"],
            )
            for entry in rows:
                cur.execute(
                    self._q["pending_add"], [entry.sender, list(entry.codes), entry.payload]
                )
                found = cur.fetchone()
                assert found is not None
                seqs.append(int(found[0]))
        return range(seqs[0], seqs[-1] + 1)

    def find(
        self, resident_codes: Sequence[str], uow: UnitOfWork | None = None
    ) -> list[PendingRecord]:
        """Every pending notice about any of these codes, in arrival order."""
        codes = list(dict.fromkeys(_codes(resident_codes)))
        if not codes:
            return []
        with self._store._reading(uow) as cur:
            cur.execute(self._q["pending_find"], [codes])
            return _decode(cur.fetchall(), _pending_record, "pending_notices")

    def remove(self, uow: UnitOfWork, seqs: Sequence[int]) -> int:
        """Forget these notices; absent ones are skipped; returns how many went."""
        self._store._connection_of(uow)
        wanted = [check_int(seq, "seqs", minimum=1) for seq in _records(seqs, int, "seqs")]
        if not wanted:
            return 0
        with self._store._writing(uow) as cur:
            cur.execute(self._q["pending_remove"], [list(dict.fromkeys(wanted))])
            return cur.rowcount

    def count(self, uow: UnitOfWork | None = None) -> int:
        """How many notices are pending."""
        with self._store._reading(uow) as cur:
            cur.execute(self._q["pending_count"])
            found = cur.fetchone()
        return 0 if found is None else int(found[0])


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


class PostgresStore(Store):
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
        # Statements are composed here (sql.Identifier quotes the schema) and
        # rendered to bytes once, at first use, since quoting needs a connection:
        # psycopg would otherwise render a Composed on every execute.
        self._composed = _queries(self._schema)
        self._sql: dict[str, bytes] = {}
        self._render_lock = threading.Lock()
        self._schema_checked = False
        self._closed = False
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

    def __repr__(self) -> str:
        kind = "pool" if self._pool is not None else "connection"
        return f"<PostgresStore schema={self._schema!r} on a {kind}>"

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

    # -- schema ---------------------------------------------------------------------

    def create_schema(self) -> None:
        """Create the schema and its tables if missing and record the schema version.

        Idempotent; an advisory lock lets several processes call it at once. A
        version 2 schema is migrated to this version in the same transaction (its
        identity versions get ``received_on`` ``NULL``: the day is unknown). An
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
            cur.execute(self._sql["meta_insert"], [str(SCHEMA_VERSION)])
            cur.execute(self._sql["provision_meta_init"], [GENESIS, GENESIS])
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
        with self._reading(None, check=False) as cur:
            self._verify_schema(cur)
        self._schema_checked = True

    def _migrate(self, cur: _Cursor, s: sql.Identifier) -> None:
        """Bring a version 2 schema to this version (inside the caller's transaction);
        refuse any other recorded version before the DDL touches it."""
        cur.execute(
            "SELECT 1 FROM pg_catalog.pg_class c"
            " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = 'jukinet_meta' AND c.relkind IN ('r', 'p')",
            [self._schema],
        )
        if cur.fetchone() is None:
            return
        cur.execute(self._sql["meta_version"])
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
        cur.execute(self._sql["meta_update"], [str(SCHEMA_VERSION)])

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
        cur.execute(self._sql["meta_version"])
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

    def close(self) -> None:
        """Mark the store closed (idempotent); the caller's connection or pool stays open.

        Afterwards every call on this store and its ports raises
        :class:`~jukinet.errors.InterfaceError`.
        """
        self._closed = True

    def _render(self, conn: _Connection) -> None:
        """Render every statement to bytes with ``conn`` (once per store)."""
        with self._render_lock:
            if self._sql:
                return
            rendered = {key: query.as_bytes(conn) for key, query in self._composed.items()}
            self._sql.update(rendered)  # in place: the ports hold this dict

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
                if not self._sql:
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
            if not self._sql:
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
    def _writing(self, uow: UnitOfWork) -> Iterator[_Cursor]:
        """A cursor inside a savepoint of ``uow``: a failed call writes nothing."""
        conn = self._connection_of(uow)
        with _translated(), conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
            yield cur

    @contextmanager
    def _reading(self, uow: UnitOfWork | None, *, check: bool = True) -> Iterator[_Cursor]:
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
