"""Identity information at an upper tier (本人確認情報): :class:`PostgresIdentityStore`,
its tables (``identity_versions``, ``identity_current``), its statements and its row
codec."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from operator import attrgetter
from typing import Any, LiteralString

from psycopg import sql

from jukinet import errors
from jukinet.storage.base import IdentityStore, UnitOfWork
from jukinet.storage.postgres._database import (
    ANALYZE_AFTER,
    _codes,
    _columns,
    _Cursor,
    _Database,
    _Port,
    _records,
    _Statement,
    _Statements,
    _version_error,
)
from jukinet.storage.records import (
    IdentityQuery,
    IdentityRow,
    check_date,
    check_int,
    check_lg_code,
    check_resident_code,
    unchecked,
)

DDL: tuple[LiteralString, ...] = (
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
)
TABLES = ("identity_versions", "identity_current")

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

_identity_values = attrgetter(*_IDENTITY_COLUMNS)
_identity_current_values = attrgetter(*_IDENTITY_CURRENT_COLUMNS)


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


_IDENTITY_JOIN: LiteralString = (
    " FROM {s}.identity_current c JOIN {s}.identity_versions v"
    " ON v.resident_code = c.resident_code AND v.version = c.version"
)


class _IdentitySQL(_Statements):
    """The statements of :class:`PostgresIdentityStore`."""

    prefix = "identity"

    @staticmethod
    def _fragments() -> dict[str, sql.Composable]:
        return {
            "ident": _columns(_IDENTITY_COLUMNS),
            "ident_v": _columns(_IDENTITY_COLUMNS, "v"),
            "ident_current": _columns(_IDENTITY_CURRENT_COLUMNS),
        }

    lock_current = _Statement(
        "SELECT resident_code, version FROM {s}.identity_current"
        " WHERE resident_code = ANY(%s) FOR UPDATE"
    )
    last_versions = _Statement(
        "SELECT resident_code, max(version) FROM {s}.identity_current"
        " WHERE resident_code = ANY(%s) GROUP BY resident_code"
    )
    insert_version = _Statement(
        "INSERT INTO {s}.identity_versions ({ident})"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    )
    # Per code with a version received before the cut-off: how many of its oldest
    # versions are due (each up to the first one that is not; 令30条の6・30条の7):
    # a version is due when the next one was received before the cut-off, or
    # when it is removed and was itself received before it (NULL days never
    # count). Those versions go, and the identity_current rows among them.
    expire = _Statement(
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
    )
    upsert_current = _Statement(
        "INSERT INTO {s}.identity_current ({ident_current})"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (resident_code, municipality) DO UPDATE SET version = EXCLUDED.version,"
        " removed = EXCLUDED.removed,"
        " name_key = EXCLUDED.name_key, birth_date = EXCLUDED.birth_date,"
        " sex = EXCLUDED.sex, address_key = EXCLUDED.address_key"
    )
    copy_versions = _Statement("COPY {s}.identity_versions ({ident}) FROM STDIN (FORMAT BINARY)")
    copy_current = _Statement(
        "COPY {s}.identity_current ({ident_current}) FROM STDIN (FORMAT BINARY)"
    )
    analyze = _Statement("ANALYZE {s}.identity_versions, {s}.identity_current")
    # a code's current version: not removed first, then the highest version
    current = _Statement(
        "SELECT {ident_v}"
        + _IDENTITY_JOIN
        + " WHERE c.resident_code = %s ORDER BY c.removed, c.version DESC LIMIT 1"
    )
    current_many = _Statement(
        "SELECT DISTINCT ON (c.resident_code) {ident_v}"
        + _IDENTITY_JOIN
        + " WHERE c.resident_code = ANY(%s)"
        " ORDER BY c.resident_code, c.removed, c.version DESC"
    )
    history = _Statement(
        "SELECT {ident} FROM {s}.identity_versions WHERE resident_code = %s ORDER BY version"
    )
    search = _Statement(
        "SELECT {ident_v}"
        + _IDENTITY_JOIN
        + " WHERE c.name_key = %s AND c.birth_date = %s AND NOT c.removed"
        " AND c.sex = coalesce(%s::text, c.sex)"
        " AND c.address_key = coalesce(%s::text, c.address_key)"
        " ORDER BY c.resident_code, c.municipality LIMIT %s"
    )
    # separate statements with and without a municipality, so that the
    # (municipality, resident_code) index serves the second
    scan = _Statement(
        "SELECT DISTINCT ON (c.resident_code) {ident_v}"
        + _IDENTITY_JOIN
        + " WHERE c.resident_code > coalesce(%s::text, '')"
        " ORDER BY c.resident_code, c.removed, c.version DESC LIMIT %s"
    )
    scan_municipality = _Statement(
        "SELECT {ident_v}"
        + _IDENTITY_JOIN
        + " WHERE c.municipality = %s AND c.resident_code > coalesce(%s::text, '')"
        " ORDER BY c.resident_code LIMIT %s"
    )
    count = _Statement("SELECT count(DISTINCT resident_code) FROM {s}.identity_current")
    count_municipality = _Statement(
        "SELECT count(*) FROM {s}.identity_current WHERE municipality = %s"
    )


class PostgresIdentityStore(_Port[_IdentitySQL], IdentityStore):
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

    def __init__(self, store: _Database) -> None:
        super().__init__(store, _IdentitySQL(store.schema))

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
        q = self._sql
        with self._store._write(uow) as cur:
            cur.execute(q.lock_current, [list(by_code)])
            highest: dict[str, int] = {}
            for code, version in cur.fetchall():
                highest[code] = max(version, highest.get(code, 0))
            for code, versions in by_code.items():
                expected = highest.get(code, 0) + 1
                for row in versions:
                    if row.version != expected:
                        raise _version_error(code, row.version, expected)
                    expected += 1
            cur.executemany(q.insert_version, [_identity_values(r) for r in items])
            cur.executemany(
                q.upsert_current,
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
        with self._store._write(uow) as cur:
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
        with self._store._write(uow) as cur:
            self._copy(cur, items, list(newest.values()))
        return len(items)

    def expire(self, uow: UnitOfWork, *, received_before: date) -> int:
        """Delete every code's oldest versions that are due (令30条の6・令30条の7, see
        :meth:`IdentityStore.expire <jukinet.storage.base.IdentityStore.expire>`) and
        the ``identity_current`` rows among them, in one statement; returns how many
        versions went."""
        self._store._connection_of(uow)
        before = check_date(received_before, "received_before")
        with self._store._write(uow) as cur:
            cur.execute(self._sql.expire, {"before": before})
            return max(cur.rowcount, 0)

    def _copy(self, cur: _Cursor, items: list[IdentityRow], words: list[IdentityRow]) -> None:
        """``COPY`` new codes' versions (``items``) and newest words, refusing stored codes."""
        q = self._sql
        cur.execute(q.last_versions, [list({r.resident_code: 0 for r in items})])
        stored = sorted(cur.fetchall())
        if stored:
            code, version = stored[0]
            raise errors.IntegrityError(
                f"resident code {code!r} is already stored (up to version {version})",
                field="resident_code",
                expected="codes not yet stored",
            )
        with cur.copy(q.copy_versions) as copy:
            copy.set_types(_IDENTITY_TYPES)
            for row in items:
                copy.write_row(_identity_values(row))
        with cur.copy(q.copy_current) as copy:
            copy.set_types(("text", "int8", "text", "bool", "text", "date", "text", "text"))
            for row in words:
                copy.write_row(_identity_current_values(row))
        if len(items) >= ANALYZE_AFTER:
            cur.execute(q.analyze)

    def last_versions(
        self, resident_codes: Sequence[str], uow: UnitOfWork | None = None
    ) -> dict[str, int]:
        """The highest version per code, for the codes found (one ``= ANY(%s)`` query)."""
        codes = list(dict.fromkeys(_codes(resident_codes)))
        if not codes:
            return {}
        with self._store._read(uow) as cur:
            cur.execute(self._sql.last_versions, [codes])
            found = cur.fetchall()
        return {code: int(version) for code, version in found}

    def current(self, resident_code: str, uow: UnitOfWork | None = None) -> IdentityRow | None:
        """The person's current version: the newest not removed, else the newest; or None."""
        check_resident_code(resident_code)
        with self._store._read(uow) as cur:
            cur.execute(self._sql.current, [resident_code])
            found = cur.fetchone()
        return None if found is None else _identity_row(found)

    def current_many(
        self, resident_codes: Sequence[str], uow: UnitOfWork | None = None
    ) -> dict[str, IdentityRow]:
        """Bulk :meth:`current` in one query (``resident_code = ANY(%s)``)."""
        codes = list(dict.fromkeys(_codes(resident_codes)))
        if not codes:
            return {}
        with self._store._read(uow) as cur:
            cur.execute(self._sql.current_many, [codes])
            found = cur.fetchall()
        return {values[0]: _identity_row(values) for values in found}

    def history(self, resident_code: str, uow: UnitOfWork | None = None) -> list[IdentityRow]:
        """Every version for this code, oldest first."""
        check_resident_code(resident_code)
        with self._store._read(uow) as cur:
            cur.execute(self._sql.history, [resident_code])
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
        with self._store._read(uow) as cur:
            cur.execute(self._sql.search, params)
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
        with self._store._read(uow) as cur:
            if municipality is None:
                cur.execute(self._sql.scan, [after, limit])
            else:
                cur.execute(self._sql.scan_municipality, [municipality, after, limit])
            found = cur.fetchall()
        return [_identity_row(values) for values in found]

    def count(self, *, municipality: str | None = None, uow: UnitOfWork | None = None) -> int:
        """How many codes, or how many codes a municipality notified (as :meth:`scan`)."""
        if municipality is not None:
            check_lg_code(municipality)
        with self._store._read(uow) as cur:
            if municipality is None:
                cur.execute(self._sql.count)
            else:
                cur.execute(self._sql.count_municipality, [municipality])
            found = cur.fetchone()
        return int(found[0]) if found else 0
