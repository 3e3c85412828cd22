"""The hash-chained provision log (提供記録): :class:`SQLiteProvisionLog`,
``provision_log`` and ``provision_meta``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from jukinet.errors import DataError
from jukinet.storage.base import ProvisionLog, UnitOfWork
from jukinet.storage.records import (
    GENESIS,
    ProvisionEntry,
    ProvisionRecord,
    chain,
    check_aware,
    check_field,
    check_int,
    check_request,
    check_resident_code,
)
from jukinet.storage.records import corrupt_record as _corrupt
from jukinet.storage.records import decode_rows as _decode
from jukinet.storage.sqlite._database import _as_list, _json_list, _json_tuple, _Port

TABLES: tuple[str, ...] = ("provision_log", "provision_meta")
"""The tables this module's :data:`DDL` creates."""

DDL: tuple[str, ...] = (
    # Rows are never updated by the adapter; hashes are stored, never recomputed.
    """CREATE TABLE IF NOT EXISTS provision_log (
        seq INTEGER NOT NULL PRIMARY KEY CHECK (seq >= 1),
        at TEXT NOT NULL,
        kind TEXT NOT NULL,
        request_id TEXT NOT NULL,
        agency TEXT,
        "use" TEXT,
        subject TEXT,
        items TEXT NOT NULL,
        detail BLOB NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS provision_log_subject ON provision_log (subject, seq)",
    "CREATE INDEX IF NOT EXISTS provision_log_request_id ON provision_log (request_id)",
    # Two rows: 'head' (the last seq given and its hash) and 'anchor' (the last purged).
    """CREATE TABLE IF NOT EXISTS provision_meta (
        name TEXT NOT NULL PRIMARY KEY CHECK (name IN ('head', 'anchor')),
        seq INTEGER NOT NULL CHECK (seq >= 0),
        hash TEXT NOT NULL
    ) WITHOUT ROWID""",
)
"""Tables and indexes, in creation order (``IF NOT EXISTS``)."""


_PROVISION_COLUMNS = (
    'seq, at, kind, request_id, agency, "use", subject, items, detail, prev_hash, hash'
)


def _provision_record(r: Any) -> ProvisionRecord:
    return ProvisionRecord(
        seq=r[0],
        entry=ProvisionEntry(
            at=datetime.fromisoformat(r[1]),
            kind=r[2],
            request_id=r[3],
            agency=r[4],
            use=r[5],
            subject=r[6],
            items=_json_tuple(r[7], "items"),
            detail=r[8],
        ),
        prev_hash=r[9],
        hash=r[10],
    )


def _provision_params(r: ProvisionRecord) -> tuple[Any, ...]:
    e = r.entry
    return (
        r.seq,
        e.at.isoformat(),
        e.kind,
        e.request_id,
        e.agency,
        e.use,
        e.subject,
        _json_list(e.items),
        e.detail,
        r.prev_hash,
        r.hash,
    )


def _provision_meta(conn: sqlite3.Connection, name: str) -> tuple[int, str]:
    """The stored ``head`` or ``anchor`` of the provision log; a missing row is a DataError,
    a malformed one a CorruptRecord."""
    row = conn.execute("SELECT seq, hash FROM provision_meta WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise DataError(f"the provision log's {name} row (provision_meta) is missing")
    seq, hash_ = row
    try:
        check_int(seq, "seq")
        check_field(ProvisionRecord, "hash", hash_)
    except ValueError as exc:
        raise _corrupt("provision_meta", (name,), exc) from exc
    return int(seq), str(hash_)


_PURGE_BATCH = 1000
"""Records examined per statement while :meth:`SQLiteProvisionLog.purge` looks for its end."""


class SQLiteProvisionLog(_Port, ProvisionLog):
    """The provision log (提供記録, 住基法30条の11等) in ``provision_log``, hash-chained.

    ``provision_meta`` holds two rows: ``head`` (the last sequence number given
    and its hash) and ``anchor`` (the last purged record's, ``(0, GENESIS)``
    until a purge). :meth:`append` reads and writes the head inside the unit
    of work, a ``BEGIN IMMEDIATE`` transaction, so appenders are serialized and
    the chain never forks. Records are read back as stored, never re-hashed;
    ``at`` is ISO 8601 text with its offset, ``items`` a JSON array.
    """

    __slots__ = ()

    def _create(self, conn: sqlite3.Connection) -> None:
        """Write the head and anchor rows, ``(0, GENESIS)``, where missing (for
        ``create_schema``, after the DDL, in its transaction)."""
        conn.executemany(
            "INSERT INTO provision_meta (name, seq, hash) VALUES (?, 0, ?)"
            " ON CONFLICT (name) DO NOTHING",
            [("head", GENESIS), ("anchor", GENESIS)],
        )

    def append(self, uow: UnitOfWork, entries: Sequence[ProvisionEntry]) -> list[ProvisionRecord]:
        """Append entries after the head, each chained to the one before; returns the records."""
        items = _as_list(entries, ProvisionEntry, "entries")
        with self._store._write(uow) as conn:
            if not items:
                return []
            records = chain(_provision_meta(conn, "head"), items)
            conn.executemany(
                f"INSERT INTO provision_log ({_PROVISION_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                map(_provision_params, records),
            )
            conn.execute(
                "UPDATE provision_meta SET seq = ?, hash = ? WHERE name = 'head'",
                (records[-1].seq, records[-1].hash),
            )
        return records

    def read(
        self,
        *,
        after: int = 0,
        limit: int = 1000,
        subject: str | None = None,
        uow: UnitOfWork | None = None,
    ) -> list[ProvisionRecord]:
        """Records with ``seq > after`` in order, at most ``limit``, as stored; with
        ``subject`` only that person's (a range scan of ``provision_log_subject``)."""
        check_int(after, "after")
        check_int(limit, "limit")
        if subject is not None:
            check_resident_code(subject, "subject")
        with self._store._read(uow) as conn:
            if subject is None:
                rows = conn.execute(
                    f"SELECT {_PROVISION_COLUMNS} FROM provision_log WHERE seq > ?"
                    " ORDER BY seq LIMIT ?",
                    (after, limit),
                ).fetchall()
            else:
                rows = conn.execute(
                    f"SELECT {_PROVISION_COLUMNS} FROM provision_log"
                    " WHERE subject = ? AND seq > ? ORDER BY seq LIMIT ?",
                    (subject, after, limit),
                ).fetchall()
        return _decode(rows, _provision_record, "provision_log")

    def has_request(
        self, request_id: str, uow: UnitOfWork | None = None, *, agency: str | None = None
    ) -> bool:
        """Whether a record carries this request id (from ``agency``, when given), by
        ``provision_log_request_id``."""
        check_request(request_id, agency)
        with self._store._read(uow) as conn:
            if agency is None:
                row = conn.execute(
                    "SELECT 1 FROM provision_log WHERE request_id = ? LIMIT 1", (request_id,)
                ).fetchone()
            else:
                row = conn.execute(
                    "SELECT 1 FROM provision_log WHERE request_id = ? AND agency = ? LIMIT 1",
                    (request_id, agency),
                ).fetchone()
        return row is not None

    def head(self, uow: UnitOfWork | None = None) -> tuple[int, str]:
        """The stored head: the last sequence number given and its hash."""
        with self._store._read(uow) as conn:
            return _provision_meta(conn, "head")

    def anchor(self, uow: UnitOfWork | None = None) -> tuple[int, str]:
        """The stored anchor: ``(0, GENESIS)`` until a purge, then the last purged record's."""
        with self._store._read(uow) as conn:
            return _provision_meta(conn, "anchor")

    def purge(self, uow: UnitOfWork, *, before: datetime) -> int:
        """Remove the oldest records while ``at < before`` (compared as instants), move the
        anchor to the last one removed; returns how many went."""
        check_aware(before, "before")
        with self._store._write(uow) as conn:
            last, last_hash = _provision_meta(conn, "anchor")
            start, count, done = last, 0, False
            while not done:
                rows = conn.execute(
                    "SELECT seq, at, hash FROM provision_log WHERE seq > ? ORDER BY seq LIMIT ?",
                    (last, _PURGE_BATCH),
                ).fetchall()
                done = len(rows) < _PURGE_BATCH
                for seq, at, hash_ in rows:
                    try:
                        stamp = check_aware(datetime.fromisoformat(at), "at")
                        check_field(ProvisionRecord, "hash", hash_)
                    except (ValueError, TypeError) as exc:
                        raise _corrupt("provision_log", (seq,), exc) from exc
                    if stamp >= before:
                        done = True
                        break
                    last, last_hash, count = int(seq), str(hash_), count + 1
            if count:
                conn.execute("DELETE FROM provision_log WHERE seq > ? AND seq <= ?", (start, last))
                conn.execute(
                    "UPDATE provision_meta SET seq = ?, hash = ? WHERE name = 'anchor'",
                    (last, last_hash),
                )
        return count
