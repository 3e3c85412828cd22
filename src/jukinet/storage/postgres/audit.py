"""The node's audit log: :class:`PostgresAuditLog`, its tables (``audit_log``,
``audit_head``), its statements and its row codec."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any, LiteralString

from jukinet.storage.base import AuditLog, UnitOfWork
from jukinet.storage.postgres._database import (
    _Database,
    _Port,
    _records,
    _Statement,
    _Statements,
    _utc,
)
from jukinet.storage.records import AuditEntry, AuditRecord, check_int
from jukinet.storage.records import decode_rows as _decode

DDL: tuple[LiteralString, ...] = (
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
)
TABLES = ("audit_log", "audit_head")


def _audit_record(values: Sequence[Any]) -> AuditRecord:
    seq, at, action, subject, detail = values
    return AuditRecord(
        seq=seq,
        entry=AuditEntry(
            at=at.replace(tzinfo=UTC), action=action, subject=subject, detail=bytes(detail)
        ),
    )


class _AuditSQL(_Statements):
    """The statements of :class:`PostgresAuditLog`."""

    prefix = "audit"

    take_head = _Statement(
        "INSERT INTO {s}.audit_head AS h (id, last_seq) VALUES (1, %s)"
        " ON CONFLICT (id) DO UPDATE SET last_seq = h.last_seq + EXCLUDED.last_seq"
        " RETURNING h.last_seq"
    )
    insert = _Statement(
        "INSERT INTO {s}.audit_log (seq, at, action, subject, detail) VALUES (%s, %s, %s, %s, %s)"
    )
    read = _Statement(
        "SELECT seq, at AT TIME ZONE 'UTC', action, subject, detail FROM {s}.audit_log"
        " WHERE seq > %s ORDER BY seq LIMIT %s"
    )
    read_action = _Statement(
        "SELECT seq, at AT TIME ZONE 'UTC', action, subject, detail FROM {s}.audit_log"
        " WHERE action = %s AND seq > %s ORDER BY seq LIMIT %s"
    )
    last_seq = _Statement("SELECT last_seq FROM {s}.audit_head")


class PostgresAuditLog(_Port[_AuditSQL], AuditLog):
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

    def __init__(self, store: _Database) -> None:
        super().__init__(store, _AuditSQL(store.schema))

    def append(self, uow: UnitOfWork, entries: Sequence[AuditEntry]) -> range:
        """Append entries; returns their sequence numbers (empty list: nothing written)."""
        self._store._connection_of(uow)
        items = _records(entries, AuditEntry, "entries")
        values = [(_utc(entry.at), entry.action, entry.subject, entry.detail) for entry in items]
        if not items:
            last = self.last_seq(uow)
            return range(last + 1, last + 1)
        q = self._sql
        with self._store._write(uow) as cur:
            cur.execute(q.take_head, [len(items)])
            found = cur.fetchone()
            assert found is not None
            last = int(found[0])
            first = last - len(items) + 1
            cur.executemany(q.insert, [(first + i, *value) for i, value in enumerate(values)])
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
        with self._store._read(uow) as cur:
            if action is None:
                cur.execute(self._sql.read, [after, limit])
            else:
                cur.execute(self._sql.read_action, [action, after, limit])
            found = cur.fetchall()
        return _decode(found, _audit_record, "audit_log")

    def last_seq(self, uow: UnitOfWork | None = None) -> int:
        """The highest sequence number written (0 if none)."""
        with self._store._read(uow) as cur:
            cur.execute(self._sql.last_seq)
            found = cur.fetchone()
        return 0 if found is None else int(found[0])
