"""Conformance tests of the retention of identity versions (``IdentityStore.expire``)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from jukinet.errors import (
    IntegrityError,
    InterfaceError,
    InvalidFormat,
)
from jukinet.storage.base import Store
from jukinet.storage.records import (
    IdentityQuery,
)
from jukinet.testing.conformance._rows import (
    MUNICIPALITIES,
    InjectedCrash,
    _on,
    _received,
    snapshot,
)
from jukinet.testing.conformance.hooks import ConformanceHooks


class RetentionConformance(ConformanceHooks):
    """Conformance tests of the retention of identity versions (``IdentityStore.expire``)."""

    # =============================================================================
    # retention of identity versions (令30条の6・令30条の7)
    # =============================================================================

    def test_identity_expire_deletes_superseded_versions_from_the_oldest(
        self, store: Store
    ) -> None:
        # A version notified after a 記載 or 修正 is kept until 150 years after a newer
        # notice for the person arrived: expire() takes the day before which that is.
        a, b, c = MUNICIPALITIES
        code, neighbour = self.rows.code(1), self.rows.code(2)
        born = self.rows.identity_row(code, 1, municipality=a, rest="1番地", received_on=_on(0))
        moved = self.rows.identity_row(code, 2, municipality=a, rest="2番地", received_on=_on(10))
        entry_b = _received(self._move(code, 3, b, rest="3番地"), 20)  # a's 転出 not yet in
        next_door = self.rows.identity_row(
            neighbour, 1, municipality=a, rest="1番地", received_on=_on(0)
        )
        with store.unit_of_work() as uow:
            store.identities.append(uow, [born, moved, entry_b, next_door])
        before = snapshot(store)
        for cut_off in (_on(0), _on(10)):  # nothing superseded before the cut-off
            with store.unit_of_work() as uow:
                assert store.identities.expire(uow, received_before=cut_off) == 0
            assert snapshot(store) == before
        with store.unit_of_work() as uow:
            assert store.identities.expire(uow, received_before=_on(11)) == 1
        assert store.identities.history(code) == [moved, entry_b]
        assert store.identities.current(code) == entry_b
        assert store.identities.scan(municipality=a) == [moved, next_door]
        with store.unit_of_work() as uow:
            assert store.identities.expire(uow, received_before=_on(21)) == 1
        # The newest version stays however old: only a newer notice starts its years.
        assert store.identities.history(code) == [entry_b]
        assert store.identities.history(neighbour) == [next_door]
        assert store.identities.last_versions([code, neighbour]) == {code: 3, neighbour: 1}
        assert store.identities.current_many([code, neighbour]) == {
            code: entry_b,
            neighbour: next_door,
        }
        # a's every version of the person went: a has no word on them any more
        assert store.identities.scan(municipality=a) == [next_door]
        assert store.identities.count(municipality=a) == 1
        assert store.identities.scan(municipality=b) == [entry_b]
        assert store.identities.count(municipality=b) == 1
        assert store.identities.scan() == [entry_b, next_door]
        assert store.identities.count() == 2
        query = IdentityQuery(name_key=born.name_key, birth_date=born.birth_date)
        assert store.identities.search(query) == [entry_b, next_door]
        with store.unit_of_work() as uow:
            assert store.identities.expire(uow, received_before=date.max) == 0
        # The next notice is still the next version; an older one is refused.
        death = self.rows.identity_row(
            code, 4, municipality=b, rest="3番地", removed=True, received_on=_on(30)
        )
        with store.unit_of_work() as uow:
            store.identities.append(uow, [death])
        kept = snapshot(store)
        for write in (store.identities.append, store.identities.bulk_load):
            with pytest.raises(IntegrityError), store.unit_of_work() as uow:
                write(uow, [self.rows.identity_row(code, 1, municipality=c)])
            assert snapshot(store) == kept
        assert store.identities.history(code) == [entry_b, death]
        assert store.identities.current(code) == death

    def test_identity_expire_removed_versions_150_years_from_their_own_notice(
        self, store: Store
    ) -> None:
        # A version notified after a 消除 is kept 150 years from that notice, even when
        # a newer one arrived only recently; a code whose every version went is unknown.
        a, b, _ = MUNICIPALITIES
        code, dead = self.rows.code(1), self.rows.code(2)
        rows = [
            self.rows.identity_row(code, 1, municipality=a, rest="1番地", received_on=_on(0)),
            _received(self._move(code, 2, a, removed=True), 10),  # 転出 from a
            _received(self._move(code, 3, b, rest="2番地"), 30),  # 転入 in b, much later
            self.rows.identity_row(dead, 1, municipality=a, received_on=_on(0)),
            self.rows.identity_row(dead, 2, municipality=a, removed=True, received_on=_on(10)),
        ]
        with store.unit_of_work() as uow:
            store.identities.append(uow, rows)
        before = snapshot(store)
        with store.unit_of_work() as uow:  # received on the cut-off day: kept
            assert store.identities.expire(uow, received_before=_on(10)) == 0
        assert snapshot(store) == before
        with store.unit_of_work() as uow:
            assert store.identities.expire(uow, received_before=_on(11)) == 4
        assert store.identities.history(code) == rows[2:3]
        assert store.identities.scan(municipality=a) == []
        assert store.identities.count(municipality=a) == 0
        assert store.identities.current(dead) is None
        assert store.identities.history(dead) == []
        assert store.identities.last_versions([code, dead]) == {code: 3}
        assert store.identities.current_many([code, dead]) == {code: rows[2]}
        assert store.identities.scan() == rows[2:3]
        assert store.identities.count() == 1
        query = IdentityQuery(name_key=rows[0].name_key, birth_date=rows[0].birth_date)
        assert store.identities.search(query) == rows[2:3]
        # A later notice about the forgotten code starts it again at version 1.
        again = self.rows.identity_row(dead, 1, municipality=b, received_on=_on(40))
        with store.unit_of_work() as uow:
            assert store.identities.bulk_load(uow, [again]) == 1
        assert store.identities.history(dead) == [again]
        assert store.identities.count(municipality=b) == 2

    def test_identity_expire_never_counts_an_unknown_day(self, store: Store) -> None:
        never, late, blocked = (self.rows.code(n) for n in (1, 2, 3))
        rows = {
            # every day unknown, ending in a removal: nothing ever goes
            never: [
                self.rows.identity_row(never, 1),
                self.rows.identity_row(never, 2, rest="2番地"),
                self.rows.identity_row(never, 3, removed=True),
            ],
            # version 1 of unknown day goes by the known day of version 2
            late: [
                self.rows.identity_row(late, 1),
                self.rows.identity_row(late, 2, rest="2番地", received_on=_on(0)),
            ],
            # version 1 waits for version 2, whose day is unknown: the later, due
            # versions stay too (only the oldest go)
            blocked: [
                self.rows.identity_row(blocked, 1, received_on=_on(0)),
                self.rows.identity_row(blocked, 2, rest="2番地"),
                self.rows.identity_row(blocked, 3, removed=True, received_on=_on(0)),
            ],
        }
        with store.unit_of_work() as uow:
            store.identities.bulk_load(uow, [versions[0] for versions in rows.values()])
            store.identities.append(uow, [r for versions in rows.values() for r in versions[1:]])
        with store.unit_of_work() as uow:
            assert store.identities.expire(uow, received_before=date.max) == 1
        assert store.identities.history(never) == rows[never]
        assert store.identities.history(late) == rows[late][1:]
        assert store.identities.history(blocked) == rows[blocked]
        assert store.identities.count() == 3

    def test_identity_expire_inside_a_unit_of_work(self, store: Store) -> None:
        a, b, c = MUNICIPALITIES
        code, other, brief = (self.rows.code(n) for n in (1, 2, 3))
        rows = [
            self.rows.identity_row(code, 1, municipality=a, rest="1番地", received_on=_on(0)),
            _received(self._move(code, 2, b), 5),
            self.rows.identity_row(other, 1, municipality=a, removed=True, received_on=_on(0)),
        ]
        with store.unit_of_work() as uow:
            store.identities.append(uow, rows)
        reader = self.handle(store)
        before = snapshot(store)
        with pytest.raises(InjectedCrash), store.unit_of_work() as uow:  # noqa: PT012
            assert store.identities.expire(uow, received_before=_on(6)) == 2
            assert store.identities.history(code, uow) == rows[1:2]
            assert store.identities.current(other, uow) is None
            assert store.identities.count(uow=uow) == 1
            assert store.identities.count(municipality=a, uow=uow) == 0
            assert store.identities.scan(municipality=a, uow=uow) == []
            assert store.identities.scan(uow=uow) == rows[1:2]
            assert store.identities.last_versions([code, other], uow) == {code: 2}
            assert reader.identities.history(code) == rows[:2]  # committed data only
            raise InjectedCrash
        assert snapshot(store) == before
        third = _received(self._move(code, 3, a, rest="3番地"), 7)
        again = self.rows.identity_row(other, 1, municipality=b, received_on=_on(8))
        passing = self.rows.identity_row(brief, 1, municipality=c, removed=True, received_on=_on(1))
        with store.unit_of_work() as uow:
            store.identities.append(uow, [third])
            # code: 1 and 2 (superseded on days 5 and 7); other: its removal of day 0
            assert store.identities.expire(uow, received_before=_on(8)) == 3
            assert store.identities.history(code, uow) == [third]
            store.identities.append(uow, [again])  # the forgotten code starts again
            assert store.identities.history(other, uow) == [again]
            assert store.identities.count(uow=uow) == 2
            assert store.identities.scan(municipality=a, uow=uow) == [third]
            assert store.identities.scan(municipality=b, uow=uow) == [again]
            # a version staged in this unit of work can go in it too
            store.identities.append(uow, [passing])
            assert store.identities.count(municipality=c, uow=uow) == 1
            assert store.identities.expire(uow, received_before=_on(2)) == 1
            assert store.identities.history(brief, uow) == []
            assert store.identities.count(municipality=c, uow=uow) == 0
            assert reader.identities.history(code) == rows[:2]
        for handle in (store, reader):
            assert handle.identities.history(code) == [third]
            assert handle.identities.history(other) == [again]
            assert handle.identities.history(brief) == []
            assert handle.identities.count() == 2
            assert handle.identities.scan(municipality=a) == [third]
            assert handle.identities.scan(municipality=b) == [again]
            assert handle.identities.scan(municipality=c) == []
            assert handle.identities.current_many([code, other, brief]) == {
                code: third,
                other: again,
            }

    def test_identity_expire_bad_arguments_raise_and_delete_nothing(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            assert store.identities.expire(uow, received_before=date.max) == 0  # empty
        row = self.rows.identity_row(self.rows.code(1), 1, removed=True, received_on=_on(0))
        with store.unit_of_work() as uow:
            store.identities.append(uow, [row])
        before = snapshot(store)
        bad: list[Any] = [datetime(2030, 1, 1, tzinfo=UTC), "2030-01-01", None, 20300101]
        for received_before in bad:
            with pytest.raises(InvalidFormat), store.unit_of_work() as uow:
                store.identities.expire(uow, received_before=received_before)
            assert snapshot(store) == before
        with pytest.raises(InterfaceError):
            store.identities.expire(object(), received_before=_on(1))  # type: ignore[arg-type]
        assert snapshot(store) == before
        with pytest.raises(IntegrityError), store.unit_of_work() as uow:  # noqa: PT012
            assert store.identities.expire(uow, received_before=_on(1)) == 1
            store.identities.append(uow, [self.rows.identity_row(self.rows.code(2), 2)])
        assert snapshot(store) == before

    def test_identity_load_histories_from_any_first_version(self, store: Store) -> None:
        # A municipality restores what the upper tiers kept: histories whose oldest
        # versions may have expired there (令30条の6・30条の7).
        a, b, _ = MUNICIPALITIES
        code, other, new = (self.rows.code(n) for n in (1, 2, 3))
        kept = [
            self.rows.identity_row(code, 3, municipality=a, rest="1番地"),
            self._move(code, 4, b),
            self._move(code, 5, a, removed=True),
        ]
        whole = self.rows.identity_row(other, 1, municipality=a, received_on=_on(0))
        with store.unit_of_work() as uow:
            assert store.identities.load_histories(uow, [*kept, whole]) == 4
            assert store.identities.history(code, uow) == kept
        assert store.identities.history(code) == kept
        assert store.identities.history(other) == [whole]
        assert store.identities.current(code) == kept[1]
        assert store.identities.last_versions([code, other]) == {code: 5, other: 1}
        assert store.identities.scan(municipality=a) == [kept[2], whole]
        assert store.identities.scan(municipality=b) == [kept[1]]
        assert store.identities.count() == 2
        query = IdentityQuery(name_key=whole.name_key, birth_date=whole.birth_date)
        assert store.identities.search(query) == [kept[1], whole]
        before = snapshot(store)
        bad_batches = [
            [self.rows.identity_row(code, 6)],  # a code already stored
            [self.rows.identity_row(new, 2), self.rows.identity_row(new, 4)],  # a gap
            [self.rows.identity_row(new, 2), self.rows.identity_row(new, 2)],  # twice
            [self.rows.identity_row(new, 3), self.rows.identity_row(new, 2)],  # out of order
            [self.rows.identity_row(new, 1), self.rows.identity_row(other, 1)],  # one bad row
        ]
        for batch in bad_batches:
            with pytest.raises(IntegrityError), store.unit_of_work() as uow:
                store.identities.load_histories(uow, batch)
            assert snapshot(store) == before
        not_rows: list[Any] = [kept[0], "row"]
        with pytest.raises(InterfaceError), store.unit_of_work() as uow:
            store.identities.load_histories(uow, not_rows)
        assert snapshot(store) == before
        following = self._move(code, 6, b)
        with store.unit_of_work() as uow:
            store.identities.append(uow, [following])
            assert store.identities.load_histories(uow, []) == 0
        assert store.identities.history(code) == [*kept, following]
