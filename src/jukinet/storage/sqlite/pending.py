"""Notices received and not applied yet: :class:`SQLitePendingNotices`,
``pending_notices`` and ``pending_codes``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jukinet.storage.base import PendingNotices, UnitOfWork, chunks
from jukinet.storage.records import PendingNotice, PendingRecord, check_int
from jukinet.storage.records import decode_rows as _decode
from jukinet.storage.sqlite._database import (
    CHUNK_SIZE,
    _as_items,
    _as_list,
    _codes_argument,
    _placeholders,
    _Port,
)

TABLES: tuple[str, ...] = ("pending_notices", "pending_codes")
"""The tables this module's :data:`DDL` creates."""

DDL: tuple[str, ...] = (
    # Notices received and not applied yet; seqs are never reused (AUTOINCREMENT).
    """CREATE TABLE IF NOT EXISTS pending_notices (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        sender TEXT NOT NULL,
        codes TEXT NOT NULL,
        payload BLOB NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS pending_codes (
        resident_code TEXT NOT NULL,
        seq INTEGER NOT NULL REFERENCES pending_notices (seq) ON DELETE CASCADE,
        PRIMARY KEY (resident_code, seq)
    ) WITHOUT ROWID""",
    # removal by seq (and the cascade from pending_notices) without a full scan
    "CREATE INDEX IF NOT EXISTS pending_codes_seq ON pending_codes (seq)",
)
"""Tables and indexes, in creation order (``IF NOT EXISTS``)."""


def _pending_record(r: Any) -> PendingRecord:
    return PendingRecord(
        seq=r[0], entry=PendingNotice(sender=r[1], codes=tuple(str(r[2]).split()), payload=r[3])
    )


class SQLitePendingNotices(_Port, PendingNotices):
    """Notices received and not applied yet, in ``pending_notices``, found by code
    through ``pending_codes``."""

    __slots__ = ()

    def add(self, uow: UnitOfWork, entries: Sequence[PendingNotice]) -> range:
        """Keep notices; returns their sequence numbers, ascending."""
        rows = _as_list(entries, PendingNotice, "entries")
        seqs: list[int] = []
        with self._store._write(uow) as conn:
            for entry in rows:
                cursor = conn.execute(
                    "INSERT INTO pending_notices (sender, codes, payload) VALUES (?, ?, ?)",
                    (entry.sender, " ".join(entry.codes), entry.payload),
                )
                seq = cursor.lastrowid
                assert seq is not None
                conn.executemany(
                    "INSERT INTO pending_codes (resident_code, seq) VALUES (?, ?)",
                    [(code, seq) for code in entry.codes],
                )
                seqs.append(seq)
        return range(seqs[0], seqs[-1] + 1) if seqs else range(0)

    def find(
        self, resident_codes: Sequence[str], uow: UnitOfWork | None = None
    ) -> list[PendingRecord]:
        """Every pending notice about any of these codes, in arrival order."""
        codes = list(dict.fromkeys(_codes_argument(resident_codes)))
        found: dict[int, PendingRecord] = {}
        with self._store._read(uow) as conn:
            for part in chunks(codes, CHUNK_SIZE):
                rows = conn.execute(
                    "SELECT DISTINCT n.seq, n.sender, n.codes, n.payload FROM pending_codes c"
                    " JOIN pending_notices n ON n.seq = c.seq"
                    f" WHERE c.resident_code IN ({_placeholders(len(part))})",
                    tuple(part),
                ).fetchall()
                found.update((r.seq, r) for r in _decode(rows, _pending_record, "pending_notices"))
        return [found[seq] for seq in sorted(found)]

    def remove(self, uow: UnitOfWork, seqs: Sequence[int]) -> int:
        """Forget these notices; absent ones are skipped; returns how many went."""
        wanted = [check_int(seq, "seqs", minimum=1) for seq in _as_items(seqs, "seqs", "ints")]
        removed = 0
        with self._store._write(uow) as conn:
            unique = list(dict.fromkeys(wanted))
            for start in range(0, len(unique), CHUNK_SIZE):
                part = unique[start : start + CHUNK_SIZE]
                marks = _placeholders(len(part))
                conn.execute(f"DELETE FROM pending_codes WHERE seq IN ({marks})", tuple(part))
                cursor = conn.execute(
                    f"DELETE FROM pending_notices WHERE seq IN ({marks})", tuple(part)
                )
                removed += cursor.rowcount
        return removed

    def count(self, uow: UnitOfWork | None = None) -> int:
        """How many notices are pending."""
        with self._store._read(uow) as conn:
            return int(conn.execute("SELECT count(*) FROM pending_notices").fetchone()[0])
