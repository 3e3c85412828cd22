"""Conformance tests of the resident register (``Store.register``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import pytest
from hypothesis import given

from jukinet.domain.changes import ChangeReason
from jukinet.domain.resident import (
    RecordVersion,
    ResidentRecord,
)
from jukinet.domain.resident_code import ResidentCode
from jukinet.errors import (
    IntegrityError,
    InterfaceError,
    JukinetError,
    ValidationError,
)
from jukinet.storage import mapping
from jukinet.storage.base import Store, UnitOfWork
from jukinet.storage.records import (
    MAX_KEY_LENGTH,
    RegisterRow,
)
from jukinet.testing import strategies as jst
from jukinet.testing.conformance._rows import (
    BAD_CHECK_DIGIT_CODE,
    _fresh_serial,
    _scan_register,
    snapshot,
)
from jukinet.testing.conformance.hooks import SETTINGS, ConformanceHooks


class RegisterConformance(ConformanceHooks):
    """Conformance tests of the resident register (``Store.register``)."""

    # =============================================================================
    # register
    # =============================================================================

    def test_register_round_trip(self, store: Store) -> None:
        rows = self.person(store, 1, versions=3)
        first, last = rows[0], rows[-1]
        assert store.register.current(first.internal_id) == last
        assert store.register.current_by_code(first.resident_code) == last
        assert store.register.history(first.internal_id) == rows
        assert mapping.record_version(store.register.current(first.internal_id) or first) == (
            mapping.record_version(last)
        )
        assert store.register.current("Z9") is None
        assert store.register.current_by_code(self.rows.code(999)) is None
        assert store.register.history("Z9") == []

    @SETTINGS
    @given(record=jst.resident_records())
    def test_register_round_trip_of_generated_records(
        self, store: Store, record: ResidentRecord
    ) -> None:
        n = _fresh_serial()
        record = attrs.evolve(
            record,
            internal_id=f"G{n:09d}",
            resident_code=ResidentCode(self.rows.code(7_000_000_000 + n)),
        )
        version = RecordVersion(
            version=1,
            record=record,
            reason=ChangeReason.BIRTH,
            event_date=record.resident_since,
            processed_on=record.resident_since,
        )
        row = mapping.register_row(version)
        with store.unit_of_work() as uow:
            store.register.append(uow, [row])
            assert store.register.current(row.internal_id, uow) == row
        assert store.register.current(row.internal_id) == row
        assert store.register.current_by_code(row.resident_code) == row
        assert store.register.current_many([row.resident_code]) == {row.resident_code: row}
        assert mapping.record_version(row) == version

    def test_register_version_twice_is_refused(self, store: Store) -> None:
        (row,) = self.person(store, 1)
        before = snapshot(store)
        with pytest.raises(IntegrityError), store.unit_of_work() as uow:
            store.register.append(uow, [row])
        with pytest.raises(IntegrityError), store.unit_of_work() as uow:
            store.register.append(uow, [attrs.evolve(row, household_id="S0002")])
        assert snapshot(store) == before

    def test_register_skipped_or_orphan_versions_are_refused(self, store: Store) -> None:
        self.person(store, 1)
        before = snapshot(store)
        skipped = self.rows.register_row("A0000001", 3, code=self.rows.code(1))
        orphan = self.rows.register_row("A0000002", 2, code=self.rows.code(2))
        backwards = [
            self.rows.register_row("A0000003", 2, code=self.rows.code(3)),
            self.rows.register_row("A0000003", 1, code=self.rows.code(3)),
        ]
        for bad in ([skipped], [orphan], backwards):
            with pytest.raises(IntegrityError), store.unit_of_work() as uow:
                store.register.append(uow, bad)
            assert snapshot(store) == before

    def test_register_several_versions_in_one_call(self, store: Store) -> None:
        rows = [self.rows.register_row("A1", v, code=self.rows.code(1)) for v in (1, 2, 3)]
        with store.unit_of_work() as uow:
            store.register.append(uow, rows)
        assert store.register.history("A1") == rows

    def test_a_code_belongs_to_one_person_for_ever(self, store: Store) -> None:
        # 住基法30条の2第2項: a code is never designated again, so never shared.
        self.person(store, 1)
        new_code = self.rows.code(101)
        changed = self.rows.register_row(
            "A0000001", 2, code=new_code, reason=ChangeReason.RESIDENT_CODE_CHANGE_REQUEST
        )
        with store.unit_of_work() as uow:
            store.register.append(uow, [changed])
        before = snapshot(store)
        for taken in (self.rows.code(1), new_code):
            intruder = self.rows.register_row("B1", 1, code=taken)
            with pytest.raises(IntegrityError), store.unit_of_work() as uow:
                store.register.append(uow, [intruder])
            assert snapshot(store) == before
        # two new people in one call with the same code
        twins = [
            self.rows.register_row("C1", 1, code=self.rows.code(5)),
            self.rows.register_row("C2", 1, code=self.rows.code(5)),
        ]
        with pytest.raises(IntegrityError), store.unit_of_work() as uow:
            store.register.append(uow, twins)
        assert snapshot(store) == before

    def test_current_by_code_finds_a_person_by_an_old_code(self, store: Store) -> None:
        self.person(store, 1)
        new_code = self.rows.code(101)
        changed = self.rows.register_row(
            "A0000001", 2, code=new_code, reason=ChangeReason.RESIDENT_CODE_CHANGE_REQUEST
        )
        with store.unit_of_work() as uow:
            store.register.append(uow, [changed])
        assert store.register.current_by_code(self.rows.code(1)) == changed
        assert store.register.current_by_code(new_code) == changed
        found = store.register.current_many([self.rows.code(1), new_code])
        assert found == {self.rows.code(1): changed, new_code: changed}

    def test_register_history_is_never_overwritten(self, store: Store) -> None:
        # Removed records (除票) and earlier versions are kept (令34条1項).
        (v1,) = self.person(store, 1)
        v2 = self.rows.register_row("A0000001", 2, code=self.rows.code(1), status="removed")
        with store.unit_of_work() as uow:
            store.register.append(uow, [v2])
        history = store.register.history("A0000001")
        assert history == [v1, v2]
        assert history[0].payload == v1.payload
        history.clear()  # the caller's list is its own
        assert store.register.history("A0000001") == [v1, v2]
        assert store.register.current("A0000001") == v2
        assert store.register.current_by_code(self.rows.code(1)) == v2  # 除票 still found

    def test_register_batch_with_one_bad_row_writes_nothing(self, store: Store) -> None:
        self.person(store, 100)
        before = snapshot(store)
        good = [self.rows.register_row(f"A{n}", 1, code=self.rows.code(n)) for n in range(1, 10)]
        batches: list[list[Any]] = [
            [*good, good[2]],  # row 10 duplicates row 3
            [*good, self.rows.register_row("A0000100", 1, code=self.rows.code(100))],
            [*good, self.rows.register_row("A10", 1, code=self.rows.code(1))],  # code taken
            [*good, "not a row"],
            [*good, self.rows.identity_row(self.rows.code(10), 1)],
            [*good, None],
        ]
        for batch in batches:
            with pytest.raises(JukinetError), store.unit_of_work() as uow:
                store.register.append(uow, batch)
            assert snapshot(store) == before
            with pytest.raises(JukinetError), store.unit_of_work() as uow:
                store.register.bulk_load(uow, batch)
            assert snapshot(store) == before
        not_a_row: list[Any] = [*good, "not a row"]
        with pytest.raises(InterfaceError), store.unit_of_work() as uow:
            store.register.append(uow, not_a_row)
        assert snapshot(store) == before

    def test_register_bulk_load(self, store: Store) -> None:
        rows = [self.rows.register_row(f"A{n:05d}", 1, code=self.rows.code(n)) for n in range(50)]
        with store.unit_of_work() as uow:
            assert store.register.bulk_load(uow, rows) == 50
            assert store.register.bulk_load(uow, []) == 0
        assert _scan_register(store) == rows
        assert store.register.count() == 50
        before = snapshot(store)
        again = [self.rows.register_row("B1", 1, code=self.rows.code(1000)), rows[0]]
        later = [self.rows.register_row("B2", 2, code=self.rows.code(1001))]
        # bulk_load takes first versions only, even in order within one call
        two = [self.rows.register_row("B3", v, code=self.rows.code(1002)) for v in (1, 2)]
        for bad in (again, later, two):
            with pytest.raises(IntegrityError), store.unit_of_work() as uow:
                store.register.bulk_load(uow, bad)
            assert snapshot(store) == before

    def test_household_lists_registered_members(self, store: Store) -> None:
        for n in (1, 2, 3):
            self.person(store, n, household_id="S0100", head=n == 1)
        self.person(store, 4, household_id="S0200")
        removed = self.rows.register_row(
            "A0000003", 2, code=self.rows.code(3), household_id="S0100", status="removed"
        )
        moved = self.rows.register_row("A0000002", 2, code=self.rows.code(2), household_id="S0200")
        with store.unit_of_work() as uow:
            store.register.append(uow, [removed, moved])
        members = sorted(store.register.household("S0100"), key=lambda r: r.internal_id)
        assert [r.internal_id for r in members] == ["A0000001"]
        others = sorted(store.register.household("S0200"), key=lambda r: r.internal_id)
        assert others == [moved, store.register.current("A0000004")]
        assert store.register.household("S9999") == []

    def test_register_scan_pages_and_count(self, store: Store) -> None:
        ids = [f"A{n:04d}" for n in range(25)]
        rows = [self.rows.register_row(i, 1, code=self.rows.code(n)) for n, i in enumerate(ids)]
        with store.unit_of_work() as uow:
            store.register.append(uow, list(reversed(rows)))
        removed = self.rows.register_row(ids[5], 2, code=self.rows.code(5), status="removed")
        with store.unit_of_work() as uow:
            store.register.append(uow, [removed])
        current = [*rows[:5], removed, *rows[6:]]
        pages: list[RegisterRow] = []
        after: str | None = None
        while True:
            page = store.register.scan(after=after, limit=10)
            assert len(page) <= 10
            pages.extend(page)
            if len(page) < 10:
                break
            after = page[-1].internal_id
        assert pages == current
        assert store.register.scan(after="A0012x", limit=2) == rows[13:15]
        assert store.register.scan(after="Z") == []
        assert store.register.count() == 25
        assert store.register.count(status="registered") == 24
        assert store.register.count(status="removed") == 1

    def test_register_scan_orders_by_code_point(self, store: Store) -> None:
        # Paging with ``after`` needs one total order: code points (SQL ``COLLATE "C"``).
        ids = ["b1", "B-1", "A_2", "A-2", "A2", "a1", "Z9", "0x"]
        for n, internal_id in enumerate(ids):
            with store.unit_of_work() as uow:
                store.register.append(
                    uow, [self.rows.register_row(internal_id, 1, code=self.rows.code(n))]
                )
        assert [r.internal_id for r in store.register.scan()] == sorted(ids)
        paged = [r.internal_id for r in _scan_register(store, page=3)]
        assert paged == sorted(ids)
        assert [r.internal_id for r in store.register.scan(after="A2", limit=3)] == [
            "A_2",
            "B-1",
            "Z9",
        ]

    def test_register_current_many_crosses_chunks(self, store: Store) -> None:
        rows = [self.rows.register_row(f"A{n:05d}", 1, code=self.rows.code(n)) for n in range(1200)]
        with store.unit_of_work() as uow:
            store.register.bulk_load(uow, rows)
        unknown = [self.rows.code(n) for n in range(5000, 5300)]
        wanted = [r.resident_code for r in rows] + unknown
        found = store.register.current_many(wanted)
        assert found == {r.resident_code: r for r in rows}
        assert store.register.current_many([]) == {}
        assert store.register.current_many(unknown) == {}
        assert store.register.current_many([rows[7].resident_code] * 3) == {
            rows[7].resident_code: rows[7]
        }

    def test_register_bad_arguments_raise_and_write_nothing(self, store: Store) -> None:
        self.person(store, 1)
        before = snapshot(store)
        row = self.rows.register_row("B1", 1, code=self.rows.code(2))
        reads: list[tuple[type[JukinetError], Callable[[], object]]] = [
            (ValidationError, lambda: store.register.current(123)),  # type: ignore[arg-type]
            (ValidationError, lambda: store.register.current("")),
            (ValidationError, lambda: store.register.current("x" * (MAX_KEY_LENGTH + 1))),
            (ValidationError, lambda: store.register.current("bad id!")),
            (ValidationError, lambda: store.register.current_by_code(BAD_CHECK_DIGIT_CODE)),
            (ValidationError, lambda: store.register.current_by_code("1234")),
            (ValidationError, lambda: store.register.current_by_code(12345678903)),  # type: ignore[arg-type]
            (ValidationError, lambda: store.register.current_many([BAD_CHECK_DIGIT_CODE])),
            (JukinetError, lambda: store.register.current_many(None)),  # type: ignore[arg-type]
            (ValidationError, lambda: store.register.history(None)),  # type: ignore[arg-type]
            (ValidationError, lambda: store.register.household("")),
            (ValidationError, lambda: store.register.household("x" * 33)),
            (ValidationError, lambda: store.register.scan(limit=-1)),
            (ValidationError, lambda: store.register.scan(limit="10")),  # type: ignore[arg-type]
            (ValidationError, lambda: store.register.scan(after=5)),  # type: ignore[arg-type]
            (ValidationError, lambda: store.register.count(status="dead")),
        ]
        for error, call in reads:
            with pytest.raises(error):
                call()
        writes: list[tuple[type[JukinetError], Callable[[UnitOfWork], object]]] = [
            (InterfaceError, lambda uow: store.register.append(uow, [row, "row"])),  # type: ignore[list-item]
            (InterfaceError, lambda uow: store.register.append(uow, row)),  # type: ignore[arg-type]
            (InterfaceError, lambda uow: store.register.append(uow, None)),  # type: ignore[arg-type]
            (InterfaceError, lambda uow: store.register.bulk_load(uow, [row, 1])),  # type: ignore[list-item]
            (InterfaceError, lambda _uow: store.register.append("uow", [row])),  # type: ignore[arg-type]
            (InterfaceError, lambda _uow: store.register.append(None, [row])),  # type: ignore[arg-type]
        ]
        for error, write in writes:
            with pytest.raises(error), store.unit_of_work() as uow:
                write(uow)
            assert snapshot(store) == before
