"""A provider's provision log (提供記録): :class:`PostgresProvisionLog`, its tables
(``provision_log``, ``provision_meta``), its statements and its row codec."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, LiteralString

from psycopg import sql

from jukinet import errors
from jukinet.storage.base import ProvisionLog, UnitOfWork
from jukinet.storage.postgres._database import (
    _Cursor,
    _Database,
    _json_list,
    _json_tuple,
    _Port,
    _records,
    _Statement,
    _Statements,
)
from jukinet.storage.records import (
    GENESIS,
    ProvisionEntry,
    ProvisionRecord,
    chain,
    check_aware,
    check_int,
    check_request,
    check_resident_code,
)
from jukinet.storage.records import decode_rows as _decode

DDL: tuple[LiteralString, ...] = (
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
)
TABLES = ("provision_log", "provision_meta")


def _wall(at: datetime) -> tuple[datetime, timedelta]:
    """An aware datetime as its wall-clock time and its UTC offset.

    ``provision_log`` keeps both (the instant is computed from them in SQL), so
    a read gives back a datetime with the same ``isoformat()``, which the
    record's hash covers, for any instant of years 1 to 9999 in any offset.
    """
    offset = at.utcoffset()
    assert offset is not None
    return at.replace(tzinfo=None, fold=0), offset


def _aware(wall: datetime, offset: timedelta) -> datetime:
    """The inverse of :func:`_wall`: a datetime of that fixed offset."""
    return wall.replace(tzinfo=UTC if not offset else timezone(offset))


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


# The instant is computed from the wall time and the offset in SQL (timestamp
# arithmetic, whatever the session's TimeZone), and the wall time read back the same
# way, so no instant has to fit Python's years.
class _ProvisionSQL(_Statements):
    """The statements of :class:`PostgresProvisionLog`."""

    prefix = "provision"

    @staticmethod
    def _fragments() -> dict[str, sql.Composable]:
        return {
            "provision": sql.SQL(
                "seq, (at AT TIME ZONE 'UTC') + at_offset, at_offset, kind, request_id,"
                ' agency, "use", subject, items, detail, prev_hash, hash'
            )
        }

    meta_init = _Statement(
        "INSERT INTO {s}.provision_meta (name, seq, hash)"
        " VALUES ('head', 0, %s), ('anchor', 0, %s) ON CONFLICT (name) DO NOTHING"
    )
    meta = _Statement("SELECT seq, hash FROM {s}.provision_meta WHERE name = %s")
    lock_head = _Statement(
        "SELECT seq, hash FROM {s}.provision_meta WHERE name = 'head' FOR UPDATE"
    )
    set_meta = _Statement("UPDATE {s}.provision_meta SET seq = %s, hash = %s WHERE name = %s")
    insert = _Statement(
        'INSERT INTO {s}.provision_log (seq, at, at_offset, kind, request_id, agency, "use",'
        " subject, items, detail, prev_hash, hash)"
        " VALUES (%s, (%s::timestamp - %s::interval) AT TIME ZONE 'UTC', %s::interval,"
        " %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    )
    read = _Statement(
        "SELECT {provision} FROM {s}.provision_log WHERE seq > %s ORDER BY seq LIMIT %s"
    )
    read_subject = _Statement(
        "SELECT {provision} FROM {s}.provision_log WHERE subject = %s AND seq > %s"
        " ORDER BY seq LIMIT %s"
    )
    has_request = _Statement(
        "SELECT EXISTS (SELECT 1 FROM {s}.provision_log WHERE request_id = %s)"
    )
    has_agency_request = _Statement(
        "SELECT EXISTS (SELECT 1 FROM {s}.provision_log WHERE request_id = %s AND agency = %s)"
    )
    # purge: the first record not before the cut-off, by the primary key from the
    # oldest end; then the last record below it, and every record below it
    purge_stop = _Statement(
        "SELECT seq FROM {s}.provision_log"
        " WHERE NOT (at < (%s::timestamp - %s::interval) AT TIME ZONE 'UTC')"
        " ORDER BY seq LIMIT 1"
    )
    purge_last = _Statement(
        "SELECT seq, hash FROM {s}.provision_log WHERE seq < %s ORDER BY seq DESC LIMIT 1"
    )
    purge = _Statement("DELETE FROM {s}.provision_log WHERE seq < %s")


class PostgresProvisionLog(_Port[_ProvisionSQL], ProvisionLog):
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

    def __init__(self, store: _Database) -> None:
        super().__init__(store, _ProvisionSQL(store.schema))

    def append(self, uow: UnitOfWork, entries: Sequence[ProvisionEntry]) -> list[ProvisionRecord]:
        """Append entries after the head, each chained to the one before; returns the
        stored records (nothing is written for an empty list)."""
        self._store._connection_of(uow)
        items = _records(entries, ProvisionEntry, "entries")
        if not items:
            return []
        walls = [_wall(entry.at) for entry in items]
        q = self._sql
        with self._store._write(uow) as cur:
            cur.execute(q.lock_head)
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
            cur.executemany(q.insert, values)
            cur.execute(q.set_meta, [records[-1].seq, records[-1].hash, "head"])
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
        with self._store._read(uow) as cur:
            if subject is None:
                cur.execute(self._sql.read, [after, limit])
            else:
                cur.execute(self._sql.read_subject, [subject, after, limit])
            found = cur.fetchall()
        return _decode(found, _provision_record, "provision_log")

    def has_request(
        self, request_id: str, uow: UnitOfWork | None = None, *, agency: str | None = None
    ) -> bool:
        """Whether a kept record carries this request id (from ``agency``, when given),
        by ``provision_log_request_id``."""
        check_request(request_id, agency)
        with self._store._read(uow) as cur:
            if agency is None:
                cur.execute(self._sql.has_request, [request_id])
            else:
                cur.execute(self._sql.has_agency_request, [request_id, agency])
            found = cur.fetchone()
        return bool(found and found[0])

    def head(self, uow: UnitOfWork | None = None) -> tuple[int, str]:
        """The stored head (not ``max(seq)``): the last sequence number and its hash."""
        with self._store._read(uow) as cur:
            cur.execute(self._sql.meta, ["head"])
            return self._meta(cur.fetchone(), "head")

    def anchor(self, uow: UnitOfWork | None = None) -> tuple[int, str]:
        """The stored anchor: ``(0, GENESIS)`` until a purge, then the last purged record's."""
        with self._store._read(uow) as cur:
            cur.execute(self._sql.meta, ["anchor"])
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
        q = self._sql
        with self._store._write(uow) as cur:
            cur.execute(q.lock_head)
            head_seq, _ = self._meta(cur.fetchone(), "head")
            cur.execute(q.purge_stop, [wall, offset])
            found = cur.fetchone()
            stop = head_seq + 1 if found is None else int(found[0])
            cur.execute(q.purge_last, [stop])
            last = cur.fetchone()
            if last is None:
                return 0
            cur.execute(q.purge, [stop])
            count = cur.rowcount
            cur.execute(q.set_meta, [last[0], last[1], "anchor"])
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

    def _create(self, cur: _Cursor) -> None:
        """Write the head and anchor rows, ``(0, GENESIS)``, where missing (for
        ``create_schema``, after the DDL)."""
        cur.execute(self._sql.meta_init, [GENESIS, GENESIS])
