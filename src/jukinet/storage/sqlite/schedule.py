"""Work due on a date: :class:`SQLiteSchedule` and ``schedule``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from jukinet.storage.base import Schedule, UnitOfWork, chunks
from jukinet.storage.records import ScheduledItem, check_field, check_int
from jukinet.storage.records import decode_rows as _decode
from jukinet.storage.sqlite._database import CHUNK_SIZE, _as_items, _as_list, _placeholders, _Port

TABLES: tuple[str, ...] = ("schedule",)
"""The tables this module's :data:`DDL` creates."""

DDL: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS schedule (
        key TEXT NOT NULL PRIMARY KEY,
        due TEXT NOT NULL,
        payload BLOB NOT NULL
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS schedule_due ON schedule (due, key)",
)
"""Tables and indexes, in creation order (``IF NOT EXISTS``)."""


def _scheduled_item(r: Any) -> ScheduledItem:
    return ScheduledItem(key=r[0], due=date.fromisoformat(r[1]), payload=r[2])


class SQLiteSchedule(_Port, Schedule):
    """Work due on a date (e.g. JPKI法31条), in ``schedule``; ``due`` is ISO 8601 date text,
    so text order is date order."""

    __slots__ = ()

    def add(self, uow: UnitOfWork, items: Sequence[ScheduledItem]) -> None:
        """Add items; a key already scheduled or repeated here is an IntegrityError, nothing added."""
        rows = _as_list(items, ScheduledItem, "items")
        with self._store._write(uow) as conn:
            conn.executemany(
                "INSERT INTO schedule (key, due, payload) VALUES (?, ?, ?)",
                [(item.key, item.due.isoformat(), item.payload) for item in rows],
            )

    def cancel(self, uow: UnitOfWork, keys: Sequence[str]) -> int:
        """Remove the items with these keys (absent ones skipped); returns how many went."""
        wanted = _as_items(keys, "keys", "a sequence of str")
        for key in wanted:
            check_field(ScheduledItem, "key", key)
        unique = list(dict.fromkeys(wanted))
        removed = 0
        with self._store._write(uow) as conn:
            for part in chunks(unique, CHUNK_SIZE):
                cursor = conn.execute(
                    f"DELETE FROM schedule WHERE key IN ({_placeholders(len(part))})", tuple(part)
                )
                removed += cursor.rowcount
        return removed

    def get(self, key: str, uow: UnitOfWork | None = None) -> ScheduledItem | None:
        """The item with this key, or None."""
        check_field(ScheduledItem, "key", key)
        with self._store._read(uow) as conn:
            rows = conn.execute(
                "SELECT key, due, payload FROM schedule WHERE key = ?", (key,)
            ).fetchall()
        found = _decode(rows, _scheduled_item, "schedule")
        return found[0] if found else None

    def due(
        self, on: date, *, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[ScheduledItem]:
        """Items due on or before ``on``, ordered by (due, key), at most ``limit``."""
        check_field(ScheduledItem, "due", on)
        check_int(limit, "limit")
        with self._store._read(uow) as conn:
            rows = conn.execute(
                "SELECT key, due, payload FROM schedule WHERE due <= ? ORDER BY due, key LIMIT ?",
                (on.isoformat(), limit),
            ).fetchall()
        return _decode(rows, _scheduled_item, "schedule")
