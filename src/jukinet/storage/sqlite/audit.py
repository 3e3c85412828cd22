"""The node's audit log: :class:`SQLiteAuditLog` and ``audit_log``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from jukinet.storage.base import AuditLog, UnitOfWork
from jukinet.storage.records import AuditEntry, AuditRecord, check_int
from jukinet.storage.records import decode_rows as _decode
from jukinet.storage.sqlite._database import _as_list, _Port

TABLES: tuple[str, ...] = ("audit_log",)
"""The tables this module's :data:`DDL` creates."""

DDL: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS audit_log (
        seq INTEGER NOT NULL PRIMARY KEY CHECK (seq >= 1),
        at TEXT NOT NULL,
        action TEXT NOT NULL,
        subject TEXT,
        detail BLOB NOT NULL
    )""",
    # read(action=...): an index range scan in seq order, not a scan of the log
    "CREATE INDEX IF NOT EXISTS audit_log_action ON audit_log (action, seq)",
)
"""Tables and indexes, in creation order (``IF NOT EXISTS``)."""


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
