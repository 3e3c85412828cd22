"""Work due on a date: :class:`PostgresSchedule`, its table ``schedule``, its
statements and its row codec."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any, LiteralString

from jukinet import errors
from jukinet.storage.base import Schedule, UnitOfWork
from jukinet.storage.postgres._database import (
    _Database,
    _Port,
    _records,
    _Statement,
    _Statements,
)
from jukinet.storage.records import ScheduledItem, check_field, check_int
from jukinet.storage.records import decode_rows as _decode

DDL: tuple[LiteralString, ...] = (
    """CREATE TABLE IF NOT EXISTS {s}.schedule (
        key TEXT COLLATE "C" PRIMARY KEY,
        due DATE NOT NULL,
        payload BYTEA NOT NULL)""",
    # due(on): an index range scan in (due, key) order
    "CREATE INDEX IF NOT EXISTS schedule_due ON {s}.schedule (due, key)",
)
TABLES = ("schedule",)


def _keys(keys: object) -> list[str]:
    """A list of schedule keys: not a sequence is an InterfaceError; each key is checked
    as :attr:`ScheduledItem.key` checks it (a bad key, a non-``str`` too, is a
    ValidationError)."""
    if isinstance(keys, (str, bytes, bytearray)) or not isinstance(keys, Iterable):
        raise errors.InterfaceError(
            f"got {type(keys).__name__}", field="keys", expected="a sequence of str"
        )
    items = list(keys)
    for key in items:
        check_field(ScheduledItem, "key", key)
    return items


def _scheduled_item(values: Sequence[Any]) -> ScheduledItem:
    key, due, payload = values
    return ScheduledItem(key=key, due=due, payload=bytes(payload))


class _ScheduleSQL(_Statements):
    """The statements of :class:`PostgresSchedule`."""

    prefix = "schedule"

    add = _Statement(
        "INSERT INTO {s}.schedule (key, due, payload)"
        " SELECT * FROM unnest(%s::text[], %s::date[], %s::bytea[])"
        " ON CONFLICT (key) DO NOTHING RETURNING key"
    )
    cancel = _Statement("DELETE FROM {s}.schedule WHERE key = ANY(%s::text[])")
    get = _Statement("SELECT key, due, payload FROM {s}.schedule WHERE key = %s")
    due = _Statement(
        "SELECT key, due, payload FROM {s}.schedule WHERE due <= %s ORDER BY due, key LIMIT %s"
    )


class PostgresSchedule(_Port[_ScheduleSQL], Schedule):
    """Work due on a date, by unique key (``schedule``, e.g. JPKI法31条 deadlines)."""

    __slots__ = ()

    def __init__(self, store: _Database) -> None:
        super().__init__(store, _ScheduleSQL(store.schema))

    def add(self, uow: UnitOfWork, items: Sequence[ScheduledItem]) -> None:
        """Add items in one ``INSERT .. SELECT FROM unnest(..) ON CONFLICT DO NOTHING``;
        a key already scheduled (or repeated in ``items``) is an IntegrityError and
        nothing is added."""
        self._store._connection_of(uow)
        rows = _records(items, ScheduledItem, "items")
        keys = [item.key for item in rows]
        seen: set[str] = set()
        for key in keys:
            if key in seen:
                raise errors.IntegrityError(
                    f"schedule key {key!r} appears twice", field="items", expected="each key once"
                )
            seen.add(key)
        if not rows:
            return
        with self._store._write(uow) as cur:
            cur.execute(
                self._sql.add,
                [keys, [item.due for item in rows], [item.payload for item in rows]],
            )
            if cur.rowcount == len(rows):
                return
            added = {key for (key,) in cur.fetchall()}
            taken = next(key for key in keys if key not in added)
            # raised inside the savepoint, which rolls back the keys that were added
            raise errors.IntegrityError(
                f"schedule key {taken!r} is scheduled already",
                field="items",
                expected="keys not in the schedule",
            )

    def cancel(self, uow: UnitOfWork, keys: Sequence[str]) -> int:
        """Remove the items with these keys (absent keys are skipped); returns how many."""
        self._store._connection_of(uow)
        items = _keys(keys)
        if not items:
            return 0
        with self._store._write(uow) as cur:
            cur.execute(self._sql.cancel, [items])
            return cur.rowcount

    def get(self, key: str, uow: UnitOfWork | None = None) -> ScheduledItem | None:
        """The item with this key, or None."""
        check_field(ScheduledItem, "key", key)
        with self._store._read(uow) as cur:
            cur.execute(self._sql.get, [key])
            found = cur.fetchone()
        return None if found is None else _decode([found], _scheduled_item, "schedule")[0]

    def due(
        self, on: date, *, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[ScheduledItem]:
        """Items due on or before ``on``, ordered by (due, key in code point order), at
        most ``limit`` (a range scan of ``schedule_due``)."""
        check_field(ScheduledItem, "due", on)
        check_int(limit, "limit")
        with self._store._read(uow) as cur:
            cur.execute(self._sql.due, [on, limit])
            found = cur.fetchall()
        return _decode(found, _scheduled_item, "schedule")
