"""Conformance tests of the schedule (e.g. JPKI法31条)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import attrs
import pytest

from jukinet.errors import (
    IntegrityError,
    InterfaceError,
    JukinetError,
    ValidationError,
)
from jukinet.storage.base import Store, UnitOfWork
from jukinet.testing.conformance._rows import (
    _SCHEDULE_EPOCH,
    snapshot,
)
from jukinet.testing.conformance.hooks import ConformanceHooks


class ScheduleConformance(ConformanceHooks):
    """Conformance tests of the schedule (e.g. JPKI法31条)."""

    # =============================================================================
    # schedule (e.g. JPKI法31条)
    # =============================================================================

    def test_schedule_add_get_due_and_cancel(self, store: Store) -> None:
        reader = self.handle(store)
        day = _SCHEDULE_EPOCH
        # code point order: "Z" < "jpki:a" < "jpki:b" < "é" < "日本" < "ａ" < "😀"
        # (UTF-16 order would put "😀" before "ａ")
        keys = ["jpki:b", "😀", "Z", "日本", "jpki:a", "ａ", "é"]
        items = [
            self.rows.scheduled_item(n, key=key, due=day + timedelta(days=n % 2))
            for n, key in enumerate(keys)
        ]
        far = [
            self.rows.scheduled_item(90, key="first", due=date(1, 1, 1)),
            self.rows.scheduled_item(91, key="last", due=date.max),
        ]
        everything = sorted([*items, *far], key=lambda i: (i.due, i.key))
        with store.unit_of_work() as uow:
            store.schedule.add(uow, items[:4])
            store.schedule.add(uow, [])
            store.schedule.add(uow, (*items[4:], *far))
        for item in [*items, *far]:
            assert store.schedule.get(item.key) == item
        assert store.schedule.get("jpki:c") is None
        assert store.schedule.due(date.max) == everything
        assert [i.key for i in store.schedule.due(day)] == ["first", "Z", "jpki:a", "jpki:b", "é"]
        assert [i.key for i in store.schedule.due(day + timedelta(days=1))][5:] == [
            "日本",
            "ａ",
            "😀",
        ]
        assert store.schedule.due(day - timedelta(days=1)) == far[:1]
        assert store.schedule.due(date.min) == far[:1]
        assert store.schedule.due(date.max, limit=0) == []
        for limit in range(len(everything) + 2):
            assert store.schedule.due(date.max, limit=limit) == everything[:limit]
        # absent keys are skipped; a key given twice is removed once
        with store.unit_of_work() as uow:
            assert store.schedule.cancel(uow, ["Z", "absent", "Z", "😀"]) == 2
            assert store.schedule.cancel(uow, []) == 0
            assert store.schedule.cancel(uow, ["Z"]) == 0
            assert store.schedule.get("Z", uow) is None
            assert reader.schedule.get("Z") == items[2]
        assert store.schedule.get("Z") is None
        remaining = [i for i in everything if i.key not in ("Z", "😀")]
        assert store.schedule.due(date.max) == remaining
        # a cancelled key can be scheduled again, in the same unit of work too
        again = self.rows.scheduled_item(50, key="jpki:a", due=day + timedelta(days=9))
        with store.unit_of_work() as uow:
            assert store.schedule.cancel(uow, ("jpki:a",)) == 1
            store.schedule.add(uow, [again])
            assert store.schedule.get("jpki:a", uow) == again
            store.schedule.add(uow, [items[2]])
        assert store.schedule.get("jpki:a") == again
        assert store.schedule.due(date.max) == sorted(
            [*(i for i in remaining if i.key != "jpki:a"), again, items[2]],
            key=lambda i: (i.due, i.key),
        )

    def test_schedule_add_is_all_or_nothing(self, store: Store) -> None:
        first = self.rows.scheduled_item(1)
        with store.unit_of_work() as uow:
            store.schedule.add(uow, [first])
        before = snapshot(store)
        second, third = self.rows.scheduled_item(2), self.rows.scheduled_item(3)
        batches = [
            [second, attrs.evolve(first, payload=b"another")],  # already scheduled
            [second, third, attrs.evolve(second, due=date(2030, 1, 1))],  # repeated in the call
        ]
        for batch in batches:
            with pytest.raises(IntegrityError), store.unit_of_work() as uow:  # noqa: PT012
                store.outbox.append(uow, "pref13", [b"effect"])
                store.schedule.add(uow, batch)
            assert snapshot(store) == before
            assert store.schedule.get(second.key) is None
        with store.unit_of_work() as uow:
            store.schedule.add(uow, [second])
            with pytest.raises(IntegrityError):
                store.schedule.add(uow, [third, second])
            assert store.schedule.get(third.key, uow) is None
        assert store.schedule.due(date.max) == [first, second]

    def test_schedule_bad_arguments_raise_and_write_nothing(self, store: Store) -> None:
        item = self.rows.scheduled_item(1)
        with store.unit_of_work() as uow:
            store.schedule.add(uow, [item])
        before = snapshot(store)
        other = self.rows.scheduled_item(2)
        writes: list[tuple[type[JukinetError], Callable[[UnitOfWork], object]]] = [
            (InterfaceError, lambda uow: store.schedule.add(uow, [other, "item"])),  # type: ignore[list-item]
            (InterfaceError, lambda uow: store.schedule.add(uow, [other, None])),  # type: ignore[list-item]
            (
                InterfaceError,
                lambda uow: store.schedule.add(uow, [other, self.rows.agency_row(1)]),  # type: ignore[list-item]
            ),
            (InterfaceError, lambda uow: store.schedule.add(uow, other)),  # type: ignore[arg-type]
            (InterfaceError, lambda uow: store.schedule.add(uow, None)),  # type: ignore[arg-type]
            (InterfaceError, lambda _uow: store.schedule.add(None, [other])),  # type: ignore[arg-type]
            (ValidationError, lambda uow: store.schedule.cancel(uow, [item.key, 7])),  # type: ignore[list-item]
            (ValidationError, lambda uow: store.schedule.cancel(uow, [item.key, ""])),
            (ValidationError, lambda uow: store.schedule.cancel(uow, [item.key, "k" * 129])),
            (ValidationError, lambda uow: store.schedule.cancel(uow, [item.key, "k\x00"])),
            (ValidationError, lambda uow: store.schedule.cancel(uow, [item.key, None])),  # type: ignore[list-item]
            (JukinetError, lambda uow: store.schedule.cancel(uow, item.key)),
            (JukinetError, lambda uow: store.schedule.cancel(uow, None)),  # type: ignore[arg-type]
            (InterfaceError, lambda _uow: store.schedule.cancel(None, [item.key])),  # type: ignore[arg-type]
        ]
        for error, write in writes:
            with pytest.raises(error), store.unit_of_work() as uow:  # noqa: PT012
                store.outbox.append(uow, "pref13", [b"effect"])
                write(uow)
            assert snapshot(store) == before
        reads: list[Callable[[], object]] = [
            lambda: store.schedule.get(""),
            lambda: store.schedule.get(7),  # type: ignore[arg-type]
            lambda: store.schedule.get("k" * 129),
            lambda: store.schedule.due("2024-05-01"),  # type: ignore[arg-type]
            lambda: store.schedule.due(datetime(2024, 5, 1, tzinfo=UTC)),  # a datetime, not a date
            lambda: store.schedule.due(None),  # type: ignore[arg-type]
            lambda: store.schedule.due(date.max, limit=-1),
            lambda: store.schedule.due(date.max, limit=True),
            lambda: store.schedule.due(date.max, limit=2**63),
        ]
        for call in reads:
            with pytest.raises(ValidationError):
                call()
        assert store.schedule.get(item.key) == item
