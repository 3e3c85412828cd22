"""The schedule of the in-memory adapter: work due on a date, by unique key.

Its part of the committed state (:class:`_ScheduleState`: the items by key and
an index on (due, key)), of the staging (:class:`_SchedulePending`, where a
cancelled item is a tombstone) and of the view (:class:`_ScheduleView`), and the
port, :class:`MemorySchedule`.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Sequence
from datetime import date

import attrs
from sortedcontainers import SortedSet

from jukinet.errors import IntegrityError
from jukinet.storage.base import Schedule, UnitOfWork
from jukinet.storage.memory._database import _Port, _rows, _sequence
from jukinet.storage.records import ScheduledItem, check_date, check_field, check_int


class _ScheduleState:
    """The schedule's committed data with its index."""

    def __init__(self) -> None:
        super().__init__()
        self.schedule: dict[str, ScheduledItem] = {}
        self.schedule_due: SortedSet[tuple[date, str]] = SortedSet()

    def _apply_schedule(self, pending: _SchedulePending) -> None:
        for item_key, item in pending.schedule.items():
            replaced = self.schedule.pop(item_key, None)
            if replaced is not None:
                self.schedule_due.discard((replaced.due, item_key))
            if item is not None:
                self.schedule[item_key] = item
                self.schedule_due.add((item.due, item_key))


@attrs.define(slots=False)
class _SchedulePending:
    """The items a unit of work has added or cancelled."""

    schedule: dict[str, ScheduledItem | None] = attrs.Factory(dict)  # None: cancelled


class _ScheduleView:
    """The committed schedule, seen through a unit of work's staged changes."""

    state: _ScheduleState
    pending: _SchedulePending

    def scheduled(self, key: str) -> ScheduledItem | None:
        if key in self.pending.schedule:
            return self.pending.schedule[key]
        return self.state.schedule.get(key)

    def due(self, on: date, limit: int) -> list[ScheduledItem]:
        staged = self.pending.schedule
        committed = (
            (due, key)
            for due, key in itertools.takewhile(lambda i: i[0] <= on, self.state.schedule_due)
            if key not in staged
        )
        added = sorted((i.due, k) for k, i in staged.items() if i is not None and i.due <= on)
        found: list[ScheduledItem] = []
        for _, key in heapq.merge(committed, added):
            if len(found) >= limit:
                break
            item = self.scheduled(key)
            assert item is not None
            found.append(item)
        return found


class MemorySchedule(_Port[_ScheduleView, _SchedulePending], Schedule):
    """Work due on a date in a :class:`MemoryStore`, by unique key (e.g. JPKI法31条)."""

    def add(self, uow: UnitOfWork, items: Sequence[ScheduledItem]) -> None:
        """Add items; a key already scheduled or repeated refuses the lot (IntegrityError)."""
        batch = _rows(items, ScheduledItem, "items")
        view, pending = self._store._write(uow)
        seen: set[str] = set()
        for item in batch:
            if item.key in seen or view.scheduled(item.key) is not None:
                raise IntegrityError(
                    f"{item.key!r} is already scheduled",
                    field="key",
                    expected="a key not scheduled (nor repeated in the call)",
                )
            seen.add(item.key)
        pending.schedule.update((item.key, item) for item in batch)

    def cancel(self, uow: UnitOfWork, keys: Sequence[str]) -> int:
        """Remove the items with these keys (absent ones are skipped); returns how many."""
        batch = _sequence(keys, "keys")
        for key in batch:
            check_field(ScheduledItem, "key", key)
        view, pending = self._store._write(uow)
        present = [key for key in dict.fromkeys(batch) if view.scheduled(key) is not None]
        pending.schedule.update(dict.fromkeys(present))
        return len(present)

    def get(self, key: str, uow: UnitOfWork | None = None) -> ScheduledItem | None:
        """The item with this key, or None."""
        check_field(ScheduledItem, "key", key)
        return self._store._read(uow, lambda v: v.scheduled(key))

    def due(
        self, on: date, *, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[ScheduledItem]:
        """Items due on or before ``on``, ordered by (due, key), at most ``limit``."""
        check_date(on, "on")
        check_int(limit, "limit")
        return self._store._read(uow, lambda v: v.due(on, limit))
