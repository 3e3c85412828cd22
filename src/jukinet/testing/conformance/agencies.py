"""Conformance tests of the registered agencies (住基法30条の9〜30条の15)."""

from __future__ import annotations

from collections.abc import Callable

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
    MUNICIPALITIES,
    read_all_agencies,
    snapshot,
)
from jukinet.testing.conformance.hooks import ConformanceHooks


class AgencyConformance(ConformanceHooks):
    """Conformance tests of the registered agencies (住基法30条の9〜30条の15)."""

    # =============================================================================
    # agencies (住基法30条の9〜30条の15)
    # =============================================================================

    def test_agency_register_get_and_list(self, store: Store) -> None:
        national = self.rows.agency_row(1)
        local = self.rows.agency_row(2, locality=MUNICIPALITIES[1])
        # code point order: "-" < "0" < "_" < "a" (a locale collation would ignore "-" and "_")
        names = ["b", "a-1", "a_1", "a0", "a", "a-", "z9", "0x"]
        others = [self.rows.agency_row(10 + i, name=name) for i, name in enumerate(names)]
        with store.unit_of_work() as uow:
            store.agencies.register(uow, national)
            store.agencies.register(uow, local)
        with store.unit_of_work() as uow:
            for row in others:
                store.agencies.register(uow, row)
        assert store.agencies.get(national.agency) == national
        got = store.agencies.get(local.agency)
        assert got == local
        assert got is not None
        assert got.public_key == local.public_key
        assert type(got.public_key) is bytes
        assert got.recipients == ("厚生労働省及び日本年金機構", "受給者2")
        assert got.number_uses == ()
        assert got.locality == MUNICIPALITIES[1]
        assert got.registered_at.utcoffset() is not None
        assert got.registered_at.microsecond == 2
        national_got = store.agencies.get(national.agency)
        assert national_got is not None
        assert national_got.number_uses == ("1-57の3",)
        assert national_got.locality is None
        assert store.agencies.get("agency-99") is None
        everything = sorted([national, local, *others], key=lambda r: r.agency)
        assert [r.agency for r in store.agencies.list()] == sorted(r.agency for r in everything)
        assert store.agencies.list() == everything
        assert read_all_agencies(store, page=3) == everything
        for after in [None, *sorted(names), "a-0", "zz"]:
            for limit in range(4):
                want = [r for r in everything if after is None or r.agency > after][:limit]
                assert store.agencies.list(after=after, limit=limit) == want, (after, limit)

    def test_an_agency_registered_twice_is_refused(self, store: Store) -> None:
        row = self.rows.agency_row(1)
        with store.unit_of_work() as uow:
            store.agencies.register(uow, row)
        before = snapshot(store)
        # another key under the same name: keys are never silently replaced
        replacement = attrs.evolve(self.rows.agency_row(2), agency=row.agency)
        with pytest.raises(IntegrityError), store.unit_of_work() as uow:  # noqa: PT012
            store.outbox.append(uow, "pref13", [b"effect"])
            store.agencies.register(uow, replacement)
        assert snapshot(store) == before
        assert store.agencies.get(row.agency) == row
        # twice in one unit of work
        with pytest.raises(IntegrityError), store.unit_of_work() as uow:  # noqa: PT012
            store.agencies.register(uow, self.rows.agency_row(3))
            assert store.agencies.get("agency-3", uow) == self.rows.agency_row(3)
            store.agencies.register(uow, self.rows.agency_row(3))
        assert snapshot(store) == before
        # the refused call changes nothing: the unit of work goes on and commits
        with store.unit_of_work() as uow:
            with pytest.raises(IntegrityError):
                store.agencies.register(uow, replacement)
            store.agencies.register(uow, self.rows.agency_row(4))
        assert store.agencies.list() == [row, self.rows.agency_row(4)]

    def test_agency_bad_arguments_raise_and_write_nothing(self, store: Store) -> None:
        row = self.rows.agency_row(1)
        with store.unit_of_work() as uow:
            store.agencies.register(uow, row)
        before = snapshot(store)
        other = self.rows.agency_row(2)
        writes: list[tuple[type[JukinetError], Callable[[UnitOfWork], object]]] = [
            (InterfaceError, lambda uow: store.agencies.register(uow, "agency-2")),  # type: ignore[arg-type]
            (InterfaceError, lambda uow: store.agencies.register(uow, [other])),  # type: ignore[arg-type]
            (InterfaceError, lambda uow: store.agencies.register(uow, None)),  # type: ignore[arg-type]
            (
                InterfaceError,
                lambda uow: store.agencies.register(uow, self.rows.scheduled_item(1)),  # type: ignore[arg-type]
            ),
            (InterfaceError, lambda _uow: store.agencies.register(None, other)),  # type: ignore[arg-type]
        ]
        for error, write in writes:
            with pytest.raises(error), store.unit_of_work() as uow:  # noqa: PT012
                store.outbox.append(uow, "pref13", [b"effect"])
                write(uow)
            assert snapshot(store) == before
        reads: list[Callable[[], object]] = [
            lambda: store.agencies.get(7),  # type: ignore[arg-type]
            lambda: store.agencies.get(""),
            lambda: store.agencies.get("Agency 1"),
            lambda: store.agencies.get("a" * 49),
            lambda: store.agencies.list(after=""),
            lambda: store.agencies.list(after=1),  # type: ignore[arg-type]
            lambda: store.agencies.list(after="A"),
            lambda: store.agencies.list(limit=-1),
            lambda: store.agencies.list(limit=True),
            lambda: store.agencies.list(limit="1"),  # type: ignore[arg-type]
        ]
        for call in reads:
            with pytest.raises(ValidationError):
                call()
