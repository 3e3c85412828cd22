"""Conformance tests of units of work across the ports: crashes, rollbacks, visibility."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest

from jukinet.errors import (
    IntegrityError,
    InterfaceError,
)
from jukinet.storage.base import Store, UnitOfWork
from jukinet.storage.records import (
    IdentityQuery,
    PendingRecord,
)
from jukinet.testing.conformance._rows import (
    _AUDIT_EPOCH,
    MUNICIPALITIES,
    InjectedCrash,
    snapshot,
)
from jukinet.testing.conformance.hooks import ConformanceHooks


class UnitOfWorkConformance(ConformanceHooks):
    """Conformance tests of units of work across the ports: crashes, rollbacks, visibility."""

    # =============================================================================
    # units of work
    # =============================================================================

    def test_a_crash_between_writes_leaves_everything_as_before(self, store: Store) -> None:
        self.person(store, 1)
        with store.unit_of_work() as uow:
            store.identities.append(uow, [self.rows.identity_row(self.rows.code(1), 1)])
            store.outbox.append(uow, "pref13", [b"first", b"second"])
            store.tracking.advance(uow, "city131016", 1)
            store.code_pool.designate(uow, MUNICIPALITIES[0], [self.rows.code(500)])
            store.audit.append(uow, [self.rows.audit_entry(1)])
            store.agencies.register(uow, self.rows.agency_row(1))
            store.provision_log.append(uow, [self.rows.provision_entry(n) for n in (1, 2, 3)])
            store.schedule.add(uow, [self.rows.scheduled_item(n) for n in (1, 2)])
            held = store.pending.add(
                uow,
                [
                    self.rows.pending_notice(1, codes=[self.rows.code(500)]),
                    self.rows.pending_notice(2, codes=[self.rows.code(501), self.rows.code(502)]),
                ],
            )
        watched = [self.rows.code(500), self.rows.code(501), self.rows.code(502)]
        before = snapshot(store, codes=watched)
        steps: list[Callable[[UnitOfWork], object]] = [
            lambda uow: store.register.append(
                uow,
                [
                    self.rows.register_row("A0000001", 2, code=self.rows.code(1)),
                    self.rows.register_row("A0000002", 1, code=self.rows.code(2)),
                ],
            ),
            lambda uow: store.register.bulk_load(
                uow, [self.rows.register_row("A0000003", 1, code=self.rows.code(3))]
            ),
            lambda uow: store.identities.append(
                uow, [self.rows.identity_row(self.rows.code(1), 2, removed=True)]
            ),
            lambda uow: store.identities.bulk_load(
                uow, [self.rows.identity_row(self.rows.code(2), 1)]
            ),
            lambda uow: store.identities.append(
                uow, [self._move(self.rows.code(2), 2, MUNICIPALITIES[1])]
            ),
            lambda uow: store.outbox.append(uow, "pref13", [b"third", b"fourth"]),
            lambda uow: store.outbox.acknowledge(uow, "pref13", 3),
            lambda uow: store.outbox.append(uow, "center", [b"new destination"]),
            lambda uow: store.outbox.resume(uow, "pref27", 12),
            lambda uow: store.tracking.advance(uow, "city131016", 2, last=4),
            lambda uow: store.tracking.advance(uow, "city131024", 1),
            lambda uow: store.audit.append(uow, [self.rows.audit_entry(2)]),
            lambda uow: store.code_pool.designate(uow, MUNICIPALITIES[1], [self.rows.code(501)]),
            lambda uow: store.code_pool.allocate(uow, MUNICIPALITIES[0]),
            lambda uow: store.code_pool.mark_used(uow, self.rows.code(501)),
            lambda uow: store.agencies.register(uow, self.rows.agency_row(2)),
            lambda uow: store.provision_log.append(uow, [self.rows.provision_entry(4)]),
            lambda uow: store.provision_log.purge(uow, before=_AUDIT_EPOCH + timedelta(minutes=3)),
            lambda uow: store.provision_log.append(uow, [self.rows.provision_entry(5)]),
            lambda uow: store.provision_log.purge(uow, before=_AUDIT_EPOCH + timedelta(days=1)),
            lambda uow: store.schedule.cancel(uow, ["jpki:0001", "jpki:0003"]),
            lambda uow: store.schedule.add(uow, [self.rows.scheduled_item(3)]),
            lambda uow: store.schedule.add(uow, [self.rows.scheduled_item(1)]),
            lambda uow: store.pending.add(
                uow, [self.rows.pending_notice(3, codes=[self.rows.code(500)])]
            ),
            lambda uow: store.pending.remove(uow, [held[1]]),
            lambda uow: store.pending.remove(uow, [held[0], held[0] + 2]),
        ]
        # crash after every prefix of the steps, and after all of them
        for stop in range(1, len(steps) + 1):
            with pytest.raises(InjectedCrash), store.unit_of_work() as uow:  # noqa: PT012
                for step in steps[:stop]:
                    step(uow)
                raise InjectedCrash(f"after step {stop}")
            assert snapshot(store, codes=watched) == before, f"crash after step {stop}"

    def test_a_failing_write_rolls_back_earlier_writes_on_other_ports(self, store: Store) -> None:
        (row,) = self.person(store, 1)
        before = snapshot(store)
        with pytest.raises(IntegrityError), store.unit_of_work() as uow:  # noqa: PT012
            store.outbox.append(uow, "pref13", [b"notice"])
            store.identities.append(uow, [self.rows.identity_row(self.rows.code(1), 1)])
            store.register.append(uow, [row])  # duplicate
        assert snapshot(store) == before

    def test_writes_inside_a_unit_of_work_are_visible_to_it(self, store: Store) -> None:
        row = self.rows.register_row("A1", 1, code=self.rows.code(1))
        ident = self.rows.identity_row(self.rows.code(1), 1)
        reader = self.handle(store)
        with store.unit_of_work() as uow:
            store.register.append(uow, [row])
            store.identities.append(uow, [ident])
            store.tracking.advance(uow, "city", 1)
            store.code_pool.designate(uow, MUNICIPALITIES[0], [self.rows.code(9)])
            store.audit.append(uow, [self.rows.audit_entry(1)])
            store.outbox.append(uow, "pref13", [b"a"])
            store.outbox.acknowledge(uow, "pref13", 1)
            store.outbox.resume(uow, "pref27", 3)
            (held,) = store.pending.add(uow, [self.rows.pending_notice(1)])
            assert store.pending.find([self.rows.code(1)], uow) == [
                PendingRecord(seq=held, entry=self.rows.pending_notice(1))
            ]
            assert store.pending.count(uow) == 1
            assert store.code_pool.designated_to(self.rows.code(9), uow) == MUNICIPALITIES[0]
            assert store.register.current("A1", uow) == row
            assert store.register.current_by_code(row.resident_code, uow) == row
            assert store.register.current_many([row.resident_code], uow) == {row.resident_code: row}
            assert store.register.history("A1", uow) == [row]
            assert store.register.household(row.household_id, uow) == [row]
            assert store.register.scan(uow=uow) == [row]
            assert store.register.count(uow=uow) == 1
            assert store.identities.current(ident.resident_code, uow) == ident
            assert store.identities.current_many([ident.resident_code], uow) == {
                ident.resident_code: ident
            }
            assert store.identities.last_versions([ident.resident_code], uow) == {
                ident.resident_code: 1
            }
            assert store.identities.history(ident.resident_code, uow) == [ident]
            assert store.identities.scan(uow=uow) == [ident]
            assert store.identities.scan(municipality=ident.municipality, uow=uow) == [ident]
            assert store.identities.count(municipality=ident.municipality, uow=uow) == 1
            assert store.identities.count(uow=uow) == 1
            assert [r.entry for r in store.audit.read(uow=uow)] == [self.rows.audit_entry(1)]
            assert store.audit.last_seq(uow) == 1
            assert store.outbox.acknowledged("pref13", uow) == 1
            assert store.outbox.last_seq("pref27", uow) == 3
            assert store.outbox.destinations(uow) == ["pref13", "pref27"]
            query = IdentityQuery(name_key=ident.name_key, birth_date=ident.birth_date)
            assert store.identities.search(query, uow=uow) == [ident]
            assert store.tracking.position("city", uow) == 1
            assert store.code_pool.available(MUNICIPALITIES[0], uow) == 1
            assert store.code_pool.is_designated(self.rows.code(9), uow)
            # another handle sees committed data only
            assert reader.register.current("A1") is None
            assert reader.register.count() == 0
            assert reader.identities.search(query) == []
            assert reader.tracking.senders() == {}
            assert reader.code_pool.designated_count() == 0
            assert reader.identities.last_versions([ident.resident_code]) == {}
            assert reader.identities.scan(municipality=ident.municipality) == []
            assert reader.audit.read() == []
            assert reader.audit.last_seq() == 0
            assert reader.outbox.acknowledged("pref13") == 0
            assert reader.outbox.destinations() == []
            assert reader.pending.count() == 0
            assert reader.pending.find([self.rows.code(1)]) == []
            assert reader.code_pool.designated_to(self.rows.code(9)) is None
        assert reader.register.current("A1") == row
        assert reader.pending.count() == 1
        assert reader.code_pool.designated_to(self.rows.code(9)) == MUNICIPALITIES[0]
        assert reader.identities.current(ident.resident_code) == ident
        assert reader.audit.last_seq() == 1
        assert reader.outbox.acknowledged("pref13") == 1
        assert reader.outbox.last_seq("pref27") == 3

    def test_a_finished_or_foreign_unit_of_work_is_refused(self, store: Store) -> None:
        with store.unit_of_work() as finished:
            during = finished.active
        with pytest.raises(InjectedCrash), store.unit_of_work() as rolled_back:
            raise InjectedCrash
        assert (during, finished.active, rolled_back.active) == (True, False, False)
        other = self.another_store()
        row = self.rows.register_row("A1", 1, code=self.rows.code(1))
        for stale in (finished, rolled_back):
            with pytest.raises(InterfaceError):
                store.register.append(stale, [row])
            with pytest.raises(InterfaceError):
                store.audit.append(stale, [self.rows.audit_entry(1)])
            with pytest.raises(InterfaceError):
                store.outbox.append(stale, "pref13", [b"a"])
            with pytest.raises(InterfaceError):
                store.register.current("A1", stale)
            with pytest.raises(InterfaceError):
                store.agencies.register(stale, self.rows.agency_row(1))
            with pytest.raises(InterfaceError):
                store.provision_log.append(stale, [self.rows.provision_entry(1)])
            with pytest.raises(InterfaceError):
                store.provision_log.purge(stale, before=_AUDIT_EPOCH)
            with pytest.raises(InterfaceError):
                store.schedule.add(stale, [self.rows.scheduled_item(1)])
            with pytest.raises(InterfaceError):
                store.schedule.cancel(stale, ["jpki:0001"])
            with pytest.raises(InterfaceError):
                store.provision_log.head(stale)
            with pytest.raises(InterfaceError):
                store.pending.add(stale, [self.rows.pending_notice(1)])
            with pytest.raises(InterfaceError):
                store.pending.remove(stale, [1])
            with pytest.raises(InterfaceError):
                store.pending.find([self.rows.code(1)], stale)
            with pytest.raises(InterfaceError):
                store.pending.count(stale)
            with pytest.raises(InterfaceError):
                store.code_pool.designated_to(self.rows.code(1), stale)
        with store.unit_of_work() as uow:
            with pytest.raises(InterfaceError):
                other.register.append(uow, [row])
            with pytest.raises(InterfaceError):
                other.tracking.advance(uow, "city", 1)
            with pytest.raises(InterfaceError):
                other.code_pool.allocate(uow, MUNICIPALITIES[0])
            with pytest.raises(InterfaceError):
                other.register.count(uow=uow)
            with pytest.raises(InterfaceError):
                other.audit.append(uow, [self.rows.audit_entry(1)])
            with pytest.raises(InterfaceError):
                other.audit.read(uow=uow)
            with pytest.raises(InterfaceError):
                other.outbox.acknowledge(uow, "pref13", 0)
            with pytest.raises(InterfaceError):
                other.outbox.resume(uow, "pref13", 1)
            with pytest.raises(InterfaceError):
                other.identities.last_versions([self.rows.code(1)], uow)
            with pytest.raises(InterfaceError):
                other.agencies.register(uow, self.rows.agency_row(1))
            with pytest.raises(InterfaceError):
                other.agencies.list(uow=uow)
            with pytest.raises(InterfaceError):
                other.provision_log.append(uow, [self.rows.provision_entry(1)])
            with pytest.raises(InterfaceError):
                other.provision_log.read(uow=uow)
            with pytest.raises(InterfaceError):
                other.provision_log.purge(uow, before=_AUDIT_EPOCH)
            with pytest.raises(InterfaceError):
                other.schedule.add(uow, [self.rows.scheduled_item(1)])
            with pytest.raises(InterfaceError):
                other.schedule.due(date.max, uow=uow)
            with pytest.raises(InterfaceError):
                other.pending.add(uow, [self.rows.pending_notice(1)])
            with pytest.raises(InterfaceError):
                other.pending.remove(uow, [1])
            with pytest.raises(InterfaceError):
                other.pending.find([self.rows.code(1)], uow)
            with pytest.raises(InterfaceError):
                other.pending.count(uow)
            with pytest.raises(InterfaceError):
                other.code_pool.designated_to(self.rows.code(1), uow)
        watched = [self.rows.code(1)]
        assert (
            snapshot(store, codes=watched)
            == snapshot(other, codes=watched)
            == snapshot(self.another_store(), codes=watched)
        )
