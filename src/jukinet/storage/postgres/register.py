"""The resident register (住民基本台帳): :class:`PostgresRegister`, its tables
(``register_versions``, ``register_current``, ``register_codes``), its statements
and its row codec."""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter
from typing import Any, LiteralString

from psycopg import sql

from jukinet import errors
from jukinet.storage.base import Register, UnitOfWork
from jukinet.storage.postgres._database import (
    ANALYZE_AFTER,
    _codes,
    _columns,
    _Database,
    _Port,
    _records,
    _Statement,
    _Statements,
    _version_error,
)
from jukinet.storage.records import (
    RegisterRow,
    check_household_id,
    check_int,
    check_internal_id,
    check_resident_code,
    check_status,
    unchecked,
)

DDL: tuple[LiteralString, ...] = (
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
)
TABLES = ("register_versions", "register_current", "register_codes")

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

_register_values = attrgetter(*_REGISTER_COLUMNS)
_register_current_values = attrgetter(*_REGISTER_CURRENT_COLUMNS)
_register_code_values = attrgetter("resident_code", "internal_id")


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


_REGISTER_JOIN: LiteralString = (
    " FROM {s}.register_current c JOIN {s}.register_versions v"
    " ON v.internal_id = c.internal_id AND v.version = c.version"
)


class _RegisterSQL(_Statements):
    """The statements of :class:`PostgresRegister`."""

    prefix = "register"

    @staticmethod
    def _fragments() -> dict[str, sql.Composable]:
        return {
            "reg": _columns(_REGISTER_COLUMNS),
            "reg_v": _columns(_REGISTER_COLUMNS, "v"),
            "reg_current": _columns(_REGISTER_CURRENT_COLUMNS),
        }

    lock_current = _Statement(
        "SELECT internal_id, version FROM {s}.register_current"
        " WHERE internal_id = ANY(%s) FOR UPDATE"
    )
    code_owners = _Statement(
        "SELECT resident_code, internal_id FROM {s}.register_codes WHERE resident_code = ANY(%s)"
    )
    insert_version = _Statement(
        "INSERT INTO {s}.register_versions ({reg}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
    )
    upsert_current = _Statement(
        "INSERT INTO {s}.register_current ({reg_current}) VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (internal_id) DO UPDATE SET version = EXCLUDED.version,"
        " resident_code = EXCLUDED.resident_code, status = EXCLUDED.status,"
        " household_id = EXCLUDED.household_id"
    )
    insert_code = _Statement(
        "INSERT INTO {s}.register_codes (resident_code, internal_id) VALUES (%s, %s)"
    )
    copy_versions = _Statement("COPY {s}.register_versions ({reg}) FROM STDIN (FORMAT BINARY)")
    copy_current = _Statement(
        "COPY {s}.register_current ({reg_current}) FROM STDIN (FORMAT BINARY)"
    )
    copy_codes = _Statement(
        "COPY {s}.register_codes (resident_code, internal_id) FROM STDIN (FORMAT BINARY)"
    )
    analyze = _Statement("ANALYZE {s}.register_versions, {s}.register_current, {s}.register_codes")
    current = _Statement("SELECT {reg_v}" + _REGISTER_JOIN + " WHERE c.internal_id = %s")
    current_by_code = _Statement(
        "SELECT k.resident_code, {reg_v} FROM {s}.register_codes k"
        " JOIN {s}.register_current c ON c.internal_id = k.internal_id"
        " JOIN {s}.register_versions v"
        " ON v.internal_id = c.internal_id AND v.version = c.version"
        " WHERE k.resident_code = %s"
    )
    current_many = _Statement(
        "SELECT k.resident_code, {reg_v} FROM {s}.register_codes k"
        " JOIN {s}.register_current c ON c.internal_id = k.internal_id"
        " JOIN {s}.register_versions v"
        " ON v.internal_id = c.internal_id AND v.version = c.version"
        " WHERE k.resident_code = ANY(%s)"
    )
    history = _Statement(
        "SELECT {reg} FROM {s}.register_versions WHERE internal_id = %s ORDER BY version"
    )
    household = _Statement(
        "SELECT {reg_v}"
        + _REGISTER_JOIN
        + " WHERE c.household_id = %s AND c.status = 'registered' ORDER BY c.internal_id"
    )
    scan = _Statement(
        "SELECT {reg_v}"
        + _REGISTER_JOIN
        + " WHERE c.internal_id > coalesce(%s::text, '') ORDER BY c.internal_id LIMIT %s"
    )
    count = _Statement(
        "SELECT count(*) FROM {s}.register_current WHERE status = coalesce(%s::text, status)"
    )


class PostgresRegister(_Port[_RegisterSQL], Register):
    """The resident register (住民基本台帳) in PostgreSQL tables.

    ``register_versions`` keeps every version, ``register_current`` points at the
    newest one per person and ``register_codes`` maps every code a person ever
    held to that person.
    """

    __slots__ = ()

    def __init__(self, store: _Database) -> None:
        super().__init__(store, _RegisterSQL(store.schema))

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
        q = self._sql
        with self._store._write(uow) as cur:
            cur.execute(q.lock_current, [list(by_person)])
            current: dict[str, int] = dict(cur.fetchall())
            for internal_id, versions in by_person.items():
                expected = current.get(internal_id, 0) + 1
                for row in versions:
                    if row.version != expected:
                        raise _version_error(internal_id, row.version, expected)
                    expected += 1
            cur.execute(q.code_owners, [list(owner)])
            known: dict[str, str] = dict(cur.fetchall())
            for code, internal_id in known.items():
                if internal_id != owner[code]:
                    raise errors.IntegrityError(
                        f"resident code {code} already belongs to {internal_id}, not {owner[code]}",
                        field="resident_code",
                        expected="a code never held by another person",
                    )
            cur.executemany(q.insert_version, [_register_values(r) for r in items])
            cur.executemany(
                q.upsert_current,
                [_register_current_values(versions[-1]) for versions in by_person.values()],
            )
            new_codes = [(code, iid) for code, iid in owner.items() if code not in known]
            if new_codes:
                cur.executemany(q.insert_code, new_codes)

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
        q = self._sql
        with self._store._write(uow) as cur:
            with cur.copy(q.copy_versions) as copy:
                copy.set_types(_REGISTER_TYPES)
                for row in items:
                    copy.write_row(_register_values(row))
            with cur.copy(q.copy_current) as copy:
                copy.set_types(_REGISTER_TYPES[:5])
                for row in items:
                    copy.write_row(_register_current_values(row))
            with cur.copy(q.copy_codes) as copy:
                copy.set_types(("text", "text"))
                for row in items:
                    copy.write_row(_register_code_values(row))
            if len(items) >= ANALYZE_AFTER:
                cur.execute(q.analyze)
        return len(items)

    def current(self, internal_id: str, uow: UnitOfWork | None = None) -> RegisterRow | None:
        """The newest version of the person with this internal number, or None."""
        check_internal_id(internal_id)
        with self._store._read(uow) as cur:
            cur.execute(self._sql.current, [internal_id])
            found = cur.fetchone()
        return None if found is None else _register_row(found)

    def current_by_code(
        self, resident_code: str, uow: UnitOfWork | None = None
    ) -> RegisterRow | None:
        """The newest version of the person who holds or held this code, or None."""
        check_resident_code(resident_code)
        with self._store._read(uow) as cur:
            cur.execute(self._sql.current_by_code, [resident_code])
            found = cur.fetchone()
        return None if found is None else _register_row(found[1:])

    def current_many(
        self, resident_codes: Sequence[str], uow: UnitOfWork | None = None
    ) -> dict[str, RegisterRow]:
        """Bulk look-up in one query (``resident_code = ANY(%s)``): code → newest version."""
        codes = list(dict.fromkeys(_codes(resident_codes)))
        if not codes:
            return {}
        with self._store._read(uow) as cur:
            cur.execute(self._sql.current_many, [codes])
            found = cur.fetchall()
        return {values[0]: _register_row(values[1:]) for values in found}

    def history(self, internal_id: str, uow: UnitOfWork | None = None) -> list[RegisterRow]:
        """Every version of one person, oldest first (empty if unknown)."""
        check_internal_id(internal_id)
        with self._store._read(uow) as cur:
            cur.execute(self._sql.history, [internal_id])
            found = cur.fetchall()
        return [_register_row(values) for values in found]

    def household(self, household_id: str, uow: UnitOfWork | None = None) -> list[RegisterRow]:
        """Newest versions of the registered members of a household, by internal number."""
        check_household_id(household_id)
        with self._store._read(uow) as cur:
            cur.execute(self._sql.household, [household_id])
            found = cur.fetchall()
        return [_register_row(values) for values in found]

    def scan(
        self, *, after: str | None = None, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[RegisterRow]:
        """Newest versions ordered by internal number, starting after ``after``."""
        if after is not None:
            check_internal_id(after)
        check_int(limit, "limit")
        with self._store._read(uow) as cur:
            cur.execute(self._sql.scan, [after, limit])
            found = cur.fetchall()
        return [_register_row(values) for values in found]

    def count(self, *, status: str | None = None, uow: UnitOfWork | None = None) -> int:
        """How many people (newest versions), optionally with one status."""
        if status is not None:
            check_status(status)
        with self._store._read(uow) as cur:
            cur.execute(self._sql.count, [status])
            found = cur.fetchone()
        return int(found[0]) if found else 0
