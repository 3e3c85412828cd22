"""Conformance tests of a fresh store, ``create_schema`` (idempotent, migrations of
schema versions 2, 3, 4 and 5), a store without schema and a closed store.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import attrs
import pytest

from jukinet.errors import (
    IntegrityError,
    InterfaceError,
    ProgrammingError,
    SchemaVersionMismatch,
)
from jukinet.storage.base import SCHEMA_VERSION, Store
from jukinet.storage.records import (
    GENESIS,
    IdentityRow,
    PendingRecord,
)
from jukinet.testing.conformance._rows import (
    MUNICIPALITIES,
    _on,
)
from jukinet.testing.conformance.cards import card_row, event_of, step
from jukinet.testing.conformance.counter import info_row, request_row
from jukinet.testing.conformance.hooks import ConformanceHooks


@attrs.frozen
class _Kept:
    """What the migration tests write before a downgrade and find again after it."""

    rows: list[IdentityRow]
    pending: PendingRecord


class SchemaConformance(ConformanceHooks):
    """Conformance tests of a fresh store, ``create_schema`` (idempotent, migrations of
    schema versions 2, 3, 4 and 5), a store without schema and a closed store."""

    # =============================================================================
    # schema and lifecycle
    # =============================================================================

    def test_a_fresh_store_is_empty(self, store: Store) -> None:
        assert store.register.count() == 0
        assert store.register.scan() == []
        assert store.identities.count() == 0
        assert store.outbox.destinations() == []
        assert store.outbox.acknowledged("pref13") == 0
        assert store.tracking.senders() == {}
        assert store.code_pool.designated_count() == 0
        assert store.audit.last_seq() == 0
        assert store.audit.read() == []
        assert store.agencies.list() == []
        assert store.agencies.get("agency-1") is None
        assert store.provision_log.head() == (0, GENESIS)
        assert store.provision_log.anchor() == (0, GENESIS)
        assert store.provision_log.read() == []
        assert not store.provision_log.has_request("req-1")
        assert store.schedule.due(date.max) == []
        assert store.schedule.get("jpki:0001") is None
        assert store.pending.count() == 0
        assert store.pending.find([self.rows.code(1)]) == []
        assert store.code_pool.designated_to(self.rows.code(1)) is None
        assert store.cards.get(card_row(1).card_id) is None
        assert store.cards.get_many([card_row(1).card_id]) == {}
        assert store.cards.live_for(self.rows.code(1)) is None
        assert store.cards.history(card_row(1).card_id) == []
        assert store.cards.expiring(before=date.max) == []
        assert store.cards.awaiting_continued_use(moved_in_before=date.max) == []
        assert store.counter.info(info_row(1).certificate) is None
        assert store.counter.infos_for(self.rows.code(1)) == []
        assert store.counter.request(request_row(1).request_id) is None
        assert store.counter.unanswered() == []
        store.check_schema()

    def test_create_schema_is_idempotent_and_keeps_data(self, store: Store) -> None:
        self.person(store, 1)
        with store.unit_of_work() as uow:
            store.agencies.register(uow, self.rows.agency_row(1))
            records = store.provision_log.append(uow, [self.rows.provision_entry(1)])
            store.schedule.add(uow, [self.rows.scheduled_item(1)])
        store.create_schema()
        store.create_schema()
        store.check_schema()
        assert store.register.count() == 1
        assert store.agencies.list() == [self.rows.agency_row(1)]
        assert store.provision_log.read() == records
        assert store.provision_log.head() == (1, records[0].hash)
        assert store.provision_log.anchor() == (0, GENESIS)
        assert store.schedule.due(date.max) == [self.rows.scheduled_item(1)]

    def test_a_store_without_schema_refuses_every_port(self) -> None:
        bare = self.create_store_without_schema()
        try:
            row = self.rows.register_row("A1", 1, code=self.rows.code(1))
            calls: list[Callable[[], object]] = [
                bare.check_schema,
                lambda: bare.register.current("A1"),
                lambda: bare.register.count(),
                lambda: bare.identities.current(self.rows.code(1)),
                lambda: bare.identities.last_versions([self.rows.code(1)]),
                lambda: bare.outbox.read("pref13"),
                lambda: bare.outbox.acknowledged("pref13"),
                lambda: bare.tracking.position("pref13"),
                lambda: bare.code_pool.designated_count(),
                lambda: bare.audit.last_seq(),
                lambda: bare.audit.read(),
                lambda: bare.agencies.get("agency-1"),
                lambda: bare.agencies.list(),
                lambda: bare.provision_log.read(),
                lambda: bare.provision_log.head(),
                lambda: bare.provision_log.anchor(),
                lambda: bare.provision_log.has_request("req-1"),
                lambda: bare.schedule.get("jpki:0001"),
                lambda: bare.schedule.due(date.max),
                lambda: bare.pending.count(),
                lambda: bare.pending.find([self.rows.code(1)]),
                lambda: bare.code_pool.designated_to(self.rows.code(1)),
                lambda: bare.cards.get(card_row(1).card_id),
                lambda: bare.cards.live_for(self.rows.code(1)),
                lambda: bare.cards.expiring(before=date.max),
                lambda: bare.counter.info(info_row(1).certificate),
                lambda: bare.counter.infos_for(self.rows.code(1)),
                lambda: bare.counter.request(request_row(1).request_id),
                lambda: bare.counter.unanswered(),
            ]
            for call in calls:
                with pytest.raises(ProgrammingError, match="create_schema"):
                    call()
            with (
                pytest.raises(ProgrammingError, match="create_schema"),
                bare.unit_of_work() as uow,
            ):
                bare.register.append(uow, [row])
            with (
                pytest.raises(ProgrammingError, match="create_schema"),
                bare.unit_of_work() as uow,
            ):
                bare.provision_log.append(uow, [self.rows.provision_entry(1)])
            with (
                pytest.raises(ProgrammingError, match="create_schema"),
                bare.unit_of_work() as uow,
            ):
                bare.pending.add(uow, [self.rows.pending_notice(1)])
            with (
                pytest.raises(ProgrammingError, match="create_schema"),
                bare.unit_of_work() as uow,
            ):
                bare.cards.issue(uow, card_row(1), event_of(card_row(1)))
            with (
                pytest.raises(ProgrammingError, match="create_schema"),
                bare.unit_of_work() as uow,
            ):
                bare.counter.keep_info(uow, info_row(1))
            bare.create_schema()
            bare.check_schema()
            assert bare.register.count() == 0
            assert bare.cards.get(card_row(1).card_id) is None
            assert bare.provision_log.head() == (0, GENESIS)
            assert bare.pending.count() == 0
            assert bare.counter.unanswered() == []
        finally:
            self.dispose(bare)

    def test_a_schema_of_another_version_is_refused(self, store: Store) -> None:
        other = SCHEMA_VERSION + 998
        self.set_schema_version(store, other)
        fresh = self.handle(store)
        with pytest.raises(SchemaVersionMismatch) as info:
            fresh.check_schema()
        assert str(SCHEMA_VERSION) in str(info.value)
        assert str(other) in str(info.value)
        with pytest.raises(SchemaVersionMismatch):
            fresh.register.count()
        with pytest.raises(SchemaVersionMismatch):
            fresh.provision_log.head()

    def test_a_version_2_schema_is_migrated_and_keeps_its_rows(self, store: Store) -> None:
        # Version 3 records the day each identity version arrived (令30条の6・30条の7);
        # the versions a version 2 store holds keep an unknown day.
        code, other = self.rows.code(1), self.rows.code(2)
        rows = [
            self.rows.identity_row(code, 1, received_on=_on(0)),
            self.rows.identity_row(code, 2, rest="2番地", received_on=_on(1)),
            self.rows.identity_row(other, 1, removed=True, received_on=_on(0)),
        ]
        with store.unit_of_work() as uow:
            store.identities.append(uow, rows)
            store.outbox.append(uow, "pref13", [b"kept"])
        self.person(store, 1)
        self.downgrade_to_schema_2(store)
        old = self.handle(store)
        with pytest.raises(SchemaVersionMismatch, match="create_schema") as info:
            old.check_schema()
        assert "version 2" in str(info.value)
        assert str(SCHEMA_VERSION) in str(info.value)
        with pytest.raises(SchemaVersionMismatch):
            old.identities.count()
        old.create_schema()
        old.check_schema()
        fresh = self.handle(store)
        fresh.check_schema()
        unknown = [attrs.evolve(row, received_on=None) for row in rows]
        for reader in (old, fresh):
            assert reader.identities.history(code) == unknown[:2]
            assert reader.identities.history(other) == unknown[2:]
            assert reader.identities.current(code) == unknown[1]
            assert reader.identities.count() == 2
            assert reader.register.count() == 1
            assert [entry.payload for entry in reader.outbox.read("pref13")] == [b"kept"]
        # The migrated store keeps arrival days; the unknown ones never expire, and the
        # oldest version of unknown day keeps the later ones of its code too.
        later = self.rows.identity_row(code, 3, rest="3番地", received_on=_on(2))
        with fresh.unit_of_work() as uow:
            fresh.identities.append(uow, [later])
            assert fresh.identities.expire(uow, received_before=date.max) == 0
        assert fresh.identities.history(code) == [*unknown[:2], later]
        fresh.create_schema()
        assert fresh.identities.history(other) == unknown[2:]
        self._pending_port_works(fresh, self.handle(store))

    def _pending_port_works(self, store: Store, reader: Store) -> None:
        """A migrated store keeps pending notices as a version 4 store does, cards as a
        version 5 store does and the counter's data as a version 6 store does."""
        assert store.pending.count() == 0
        notice = self.rows.pending_notice(7, codes=[self.rows.code(7), self.rows.code(8)])
        with store.unit_of_work() as uow:
            seqs = store.pending.add(uow, [notice])
        (seq,) = seqs
        for handle in (store, reader):
            assert handle.pending.find([self.rows.code(8)]) == [
                PendingRecord(seq=seq, entry=notice)
            ]
            assert handle.pending.count() == 1
        with store.unit_of_work() as uow:
            assert store.pending.remove(uow, [seq]) == 1
        assert reader.pending.count() == 0
        self._cards_port_works(store, reader)

    def _cards_port_works(self, store: Store, reader: Store) -> None:
        """A migrated store keeps cards as a version 5 store does: none yet, then one
        per holder, updated with its events kept (and the counter's data, as version 6)."""
        card = card_row(7)
        assert reader.cards.live_for(card.holder) is None
        assert reader.cards.expiring(before=date.max) == []
        with store.unit_of_work() as uow:
            store.cards.issue(uow, card, event_of(card))
        later, event = step(card, "suspended", state="suspended")
        with store.unit_of_work() as uow:
            store.cards.update(uow, later, event)
        for handle in (store, reader):
            assert handle.cards.live_for(card.holder) == later
            assert handle.cards.history(card.card_id) == [event_of(card), event]
        self._counter_port_works(store, reader)

    def _counter_port_works(self, store: Store, reader: Store) -> None:
        """A migrated store keeps the counter's data as a version 6 store does: none
        yet, then an info used once and erased on its day, a request answered once."""
        info, asked = info_row(7), request_row(7)
        assert reader.counter.infos_for(info.resident_code) == []
        assert reader.counter.unanswered() == []
        with store.unit_of_work() as uow:
            store.counter.keep_info(uow, info)
            store.counter.open_request(uow, asked)
        for handle in (store, reader):
            assert handle.counter.infos_for(info.resident_code) == [info]
            assert handle.counter.unanswered() == [asked]
        with store.unit_of_work() as uow:
            store.counter.use_info(uow, info.certificate)
            store.counter.answer_request(uow, asked.request_id, b"items", asked.asked_on)
        with pytest.raises(IntegrityError), store.unit_of_work() as uow:
            store.counter.use_info(uow, info.certificate)
        with store.unit_of_work() as uow:
            assert store.counter.erase_infos(uow, on=info.erase_on - timedelta(days=1)) == 0
        assert reader.counter.info(info.certificate) == attrs.evolve(info, used=True)
        assert reader.counter.unanswered() == []
        answered = reader.counter.request(asked.request_id)
        assert answered is not None
        assert answered.answer == b"items"

    def test_a_version_3_schema_is_migrated_and_keeps_its_rows(self, store: Store) -> None:
        # Version 4 keeps the notices an upper tier holds pending (docs/tiers.md); a
        # version 3 store had none, and keeps everything else, arrival days too.
        code = self.rows.code(1)
        rows = [
            self.rows.identity_row(code, 1, received_on=_on(0)),
            self.rows.identity_row(code, 2, rest="2番地", received_on=_on(1)),
        ]
        with store.unit_of_work() as uow:
            store.identities.append(uow, rows)
            store.outbox.append(uow, "pref13", [b"kept"])
            store.code_pool.designate(uow, MUNICIPALITIES[1], [self.rows.code(9)])
        self.person(store, 1)
        self.downgrade_to_schema_3(store)
        old = self.handle(store)
        with pytest.raises(SchemaVersionMismatch, match="create_schema") as info:
            old.check_schema()
        assert "version 3" in str(info.value)
        assert str(SCHEMA_VERSION) in str(info.value)
        with pytest.raises(SchemaVersionMismatch):
            old.pending.count()
        with pytest.raises(SchemaVersionMismatch):
            old.identities.count()
        old.create_schema()
        old.check_schema()
        fresh = self.handle(store)
        fresh.check_schema()
        for reader in (old, fresh):
            assert reader.identities.history(code) == rows
            assert reader.register.count() == 1
            assert reader.code_pool.designated_to(self.rows.code(9)) == MUNICIPALITIES[1]
            assert [entry.payload for entry in reader.outbox.read("pref13")] == [b"kept"]
        self._pending_port_works(old, fresh)
        fresh.create_schema()  # idempotent once migrated
        assert fresh.identities.history(code) == rows

    def _rows_of_every_port(self, store: Store) -> _Kept:
        """Rows in every port a version 4 store has (identities, outbox, code pool,
        schedule, pending notices, register), for the migration tests to find again."""
        code = self.rows.code(1)
        rows = [
            self.rows.identity_row(code, 1, received_on=_on(0)),
            self.rows.identity_row(code, 2, rest="2番地", received_on=_on(1)),
        ]
        notice = self.rows.pending_notice(3)
        with store.unit_of_work() as uow:
            store.identities.append(uow, rows)
            store.outbox.append(uow, "pref13", [b"kept"])
            store.code_pool.designate(uow, MUNICIPALITIES[1], [self.rows.code(9)])
            store.schedule.add(uow, [self.rows.scheduled_item(1)])
            (seq,) = store.pending.add(uow, [notice])
        self.person(store, 1)
        return _Kept(rows=rows, pending=PendingRecord(seq=seq, entry=notice))

    def _assert_kept(self, reader: Store, kept: _Kept) -> None:
        """What :meth:`_rows_of_every_port` wrote is all there, unchanged."""
        assert reader.identities.history(kept.rows[0].resident_code) == kept.rows
        assert reader.register.count() == 1
        assert reader.code_pool.designated_to(self.rows.code(9)) == MUNICIPALITIES[1]
        assert [entry.payload for entry in reader.outbox.read("pref13")] == [b"kept"]
        assert reader.schedule.due(date.max) == [self.rows.scheduled_item(1)]
        assert reader.pending.find([kept.pending.entry.codes[0]]) == [kept.pending]

    def test_a_version_4_schema_is_migrated_and_keeps_its_rows(self, store: Store) -> None:
        # Version 5 keeps the resident IC cards a municipality issued (旧住基法30条の44,
        # 番号法17条); a version 4 store had none, and keeps everything else.
        kept = self._rows_of_every_port(store)
        self.downgrade_to_schema_4(store)
        old = self.handle(store)
        with pytest.raises(SchemaVersionMismatch, match="create_schema") as info:
            old.check_schema()
        assert "version 4" in str(info.value)
        assert str(SCHEMA_VERSION) in str(info.value)
        with pytest.raises(SchemaVersionMismatch):
            old.cards.live_for(kept.rows[0].resident_code)
        with pytest.raises(SchemaVersionMismatch):
            old.pending.count()
        old.create_schema()
        old.check_schema()
        fresh = self.handle(store)
        fresh.check_schema()
        for reader in (old, fresh):
            self._assert_kept(reader, kept)
        self._cards_port_works(old, fresh)
        fresh.create_schema()  # idempotent once migrated
        assert fresh.cards.live_for(card_row(7).holder) is not None
        assert fresh.pending.count() == 1

    def test_a_version_5_schema_is_migrated_and_keeps_its_rows(self, store: Store) -> None:
        # Version 6 keeps what the counter services across municipalities need: the
        # 転出証明書情報 a destination was sent (住基法24条の2第3項・第4項) and the
        # requests sent to other municipalities (12条の4); a version 5 store had none,
        # and keeps everything else, its cards with their events too.
        kept = self._rows_of_every_port(store)
        card = card_row(4)
        suspended, event = step(card, "suspended", state="suspended")
        with store.unit_of_work() as uow:
            store.cards.issue(uow, card, event_of(card))
        with store.unit_of_work() as uow:
            store.cards.update(uow, suspended, event)
        self.downgrade_to_schema_5(store)
        old = self.handle(store)
        with pytest.raises(SchemaVersionMismatch, match="create_schema") as info:
            old.check_schema()
        assert "version 5" in str(info.value)
        assert str(SCHEMA_VERSION) in str(info.value)
        with pytest.raises(SchemaVersionMismatch):
            old.counter.unanswered()
        with pytest.raises(SchemaVersionMismatch):
            old.cards.live_for(card.holder)
        old.create_schema()
        old.check_schema()
        fresh = self.handle(store)
        fresh.check_schema()
        for reader in (old, fresh):
            self._assert_kept(reader, kept)
            assert reader.cards.live_for(card.holder) == suspended
            assert reader.cards.history(card.card_id) == [event_of(card), event]
        self._counter_port_works(old, fresh)
        fresh.create_schema()  # idempotent once migrated
        assert fresh.counter.info(info_row(7).certificate) is not None
        assert fresh.cards.live_for(card.holder) == suspended

    def test_a_closed_store_refuses_calls_and_close_is_idempotent(self, store: Store) -> None:
        closed = self.handle(store)
        closed.close()
        closed.close()
        with pytest.raises(InterfaceError):
            closed.register.count()
        with pytest.raises(InterfaceError):
            closed.audit.read()
        with pytest.raises(InterfaceError):
            closed.outbox.acknowledged("pref13")
        with pytest.raises(InterfaceError), closed.unit_of_work() as uow:
            closed.outbox.append(uow, "pref13", [b"x"])
        with pytest.raises(InterfaceError), closed.unit_of_work() as uow:
            closed.audit.append(uow, [self.rows.audit_entry(1)])
        with pytest.raises(InterfaceError):
            closed.agencies.list()
        with pytest.raises(InterfaceError):
            closed.provision_log.head()
        with pytest.raises(InterfaceError):
            closed.schedule.due(date.max)
        with pytest.raises(InterfaceError), closed.unit_of_work() as uow:
            closed.provision_log.append(uow, [self.rows.provision_entry(1)])
        with pytest.raises(InterfaceError):
            closed.pending.count()
        with pytest.raises(InterfaceError):
            closed.pending.find([self.rows.code(1)])
        with pytest.raises(InterfaceError):
            closed.code_pool.designated_to(self.rows.code(1))
        with pytest.raises(InterfaceError), closed.unit_of_work() as uow:
            closed.pending.add(uow, [self.rows.pending_notice(1)])
        with pytest.raises(InterfaceError):
            closed.cards.live_for(self.rows.code(1))
        with pytest.raises(InterfaceError), closed.unit_of_work() as uow:
            closed.cards.issue(uow, card_row(1), event_of(card_row(1)))
        with pytest.raises(InterfaceError):
            closed.counter.unanswered()
        with pytest.raises(InterfaceError), closed.unit_of_work() as uow:
            closed.counter.keep_info(uow, info_row(1))
        assert store.outbox.destinations() == []  # the storage itself is still there
