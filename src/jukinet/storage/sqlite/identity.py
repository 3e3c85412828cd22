"""Identity information (本人確認情報): :class:`SQLiteIdentityStore`, its tables and statements."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import date
from typing import Any

from jukinet.errors import IntegrityError, InterfaceError
from jukinet.storage.base import IdentityStore, UnitOfWork, chunks
from jukinet.storage.records import (
    IdentityQuery,
    IdentityRow,
    check_date,
    check_int,
    check_lg_code,
    check_resident_code,
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

TABLES: tuple[str, ...] = ("identity_versions", "identity_current")
"""The tables this module's :data:`DDL` creates."""

DDL: tuple[str, ...] = (
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
)
"""Tables and indexes, in creation order (``IF NOT EXISTS``)."""


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
