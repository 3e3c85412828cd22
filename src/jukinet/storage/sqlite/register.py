"""The resident register (住民基本台帳): :class:`SQLiteRegister`, its tables and statements."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import date
from typing import Any

from jukinet.errors import IntegrityError
from jukinet.storage.base import Register, UnitOfWork, chunks
from jukinet.storage.records import (
    RegisterRow,
    check_household_id,
    check_int,
    check_internal_id,
    check_resident_code,
    check_status,
    unchecked,
)
from jukinet.storage.records import decode_rows as _decode
from jukinet.storage.sqlite._database import (
    CHUNK_SIZE,
    _as_list,
    _codes_argument,
    _placeholders,
    _Port,
    _version_error,
)

TABLES: tuple[str, ...] = ("register_versions", "register_current", "register_codes")
"""The tables this module's :data:`DDL` creates."""

DDL: tuple[str, ...] = (
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
)
"""Tables and indexes, in creation order (``IF NOT EXISTS``)."""


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
