"""The in-memory adapter: the shared conformance suite, the stateful test, and its own rules."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from typing import cast

import attrs
import pytest
from sortedcontainers import SortedSet

from jukinet.domain.changes import ChangeReason
from jukinet.errors import (
    InterfaceError,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
    SchemaVersionMismatch,
)
from jukinet.storage.base import Store
from jukinet.storage.memory import (
    MemoryAgencyRegistry,
    MemoryAuditLog,
    MemoryCardRegistry,
    MemoryCodePool,
    MemoryCounterStore,
    MemoryDatabase,
    MemoryIdentityStore,
    MemoryOutbox,
    MemoryProvisionLog,
    MemoryRegister,
    MemorySchedule,
    MemoryState,
    MemoryStore,
    MemoryTracking,
)
from jukinet.storage.records import IdentityRow, PendingRecord, ProvisionRecord
from jukinet.testing.conformance import (
    MUNICIPALITIES,
    RowFactory,
    StoreConformance,
    make_stateful_test,
)


def _store() -> MemoryStore:
    store = MemoryStore()
    store.create_schema()
    return store


# --- the hooks, on the public raw access (MemoryStore.raw_state) -------------------


def _forget_pending(state: MemoryState) -> None:
    """No pending notices, as before schema version 4 (none were ever numbered)."""
    state.pending.clear()
    state.pending_codes.clear()
    state.pending_last = 0


def _forget_cards(state: MemoryState) -> None:
    """No cards, as before schema version 5."""
    state.cards.clear()
    state.card_events.clear()
    state.card_live.clear()
    state.card_move_ins.clear()
    state.card_expiries.clear()


def _forget_counter(state: MemoryState) -> None:
    """No move-out infos and no counter requests, as before schema version 6."""
    state.counter_infos.clear()
    state.counter_info_codes.clear()
    state.counter_erasures.clear()
    state.counter_requests.clear()
    state.counter_unanswered.clear()


def _set_schema_version(store: Store, version: int) -> None:
    assert isinstance(store, MemoryStore)
    with store.raw_state():
        store.database.meta["schema_version"] = str(version)


def _downgrade_to_schema_2(store: Store) -> None:
    """What a version 2 store held: identity versions with no arrival day, no pending
    notices."""
    assert isinstance(store, MemoryStore)

    def bare(row: IdentityRow) -> IdentityRow:
        return attrs.evolve(row, received_on=None)

    with store.raw_state() as state:
        state.id_versions = {c: [bare(r) for r in v] for c, v in state.id_versions.items()}
        state.id_words = {
            c: {m: bare(r) for m, r in words.items()} for c, words in state.id_words.items()
        }
        for code in list(state.id_current):
            state.id_current[code] = bare(state.id_current[code])
        state.id_dated.clear()
        _forget_pending(state)
        _forget_cards(state)
        _forget_counter(state)
        store.database.meta["schema_version"] = "2"


def _downgrade_to_schema_3(store: Store) -> None:
    """What a version 3 store held: everything but pending notices, cards and the
    counter's data."""
    assert isinstance(store, MemoryStore)
    with store.raw_state() as state:
        _forget_pending(state)
        _forget_cards(state)
        _forget_counter(state)
        store.database.meta["schema_version"] = "3"


def _downgrade_to_schema_4(store: Store) -> None:
    """What a version 4 store held: everything but cards and the counter's data."""
    assert isinstance(store, MemoryStore)
    with store.raw_state() as state:
        _forget_cards(state)
        _forget_counter(state)
        store.database.meta["schema_version"] = "4"


def _downgrade_to_schema_5(store: Store) -> None:
    """What a version 5 store held: everything but move-out infos and counter requests."""
    assert isinstance(store, MemoryStore)
    with store.raw_state() as state:
        _forget_counter(state)
        store.database.meta["schema_version"] = "5"


def _garble_pending_notice(store: Store, seq: int) -> None:
    """A kept value that is no record; the code index still leads to it."""
    assert isinstance(store, MemoryStore)
    with store.raw_state() as state:
        assert seq in state.pending
        state.pending[seq] = cast(PendingRecord, "garbled")


def _reindex_provision(state: MemoryState) -> None:
    """Rebuild the provision log's indexes from the kept records, as a database's
    indexes follow its table; a garbled (unreadable) value keeps the entries it had."""
    indexes = (state.provision_subjects, state.provision_requests)
    unreadable = {s for s, kept in state.provision.items() if not isinstance(kept, ProvisionRecord)}
    entries = [
        (index, key, s)
        for index in indexes
        for key, seqs in index.items()
        for s in seqs
        if s in unreadable
    ]
    for index in indexes:
        index.clear()
    for kept in state.provision.values():
        if isinstance(kept, ProvisionRecord):
            if kept.entry.subject is not None:
                state.provision_subjects.setdefault(kept.entry.subject, SortedSet()).add(kept.seq)
            state.provision_requests.setdefault(kept.entry.request_id, SortedSet()).add(kept.seq)
    for index, key, s in entries:
        index.setdefault(key, SortedSet()).add(s)


def _tamper_provision_log(store: Store, how: str, seq: int) -> None:
    """The committed records, changed in place; the head and anchor are left alone and
    the indexes rebuilt."""
    assert isinstance(store, MemoryStore)
    with store.raw_state() as state:
        log = state.provision
        if how == "alter":
            record = log[seq]
            entry = attrs.evolve(record.entry, detail=b'{"tampered":true}')
            log[seq] = attrs.evolve(record, entry=entry)
        elif how == "delete":
            del log[seq]
        elif how == "swap":
            first, second = log[seq], log[seq + 1]
            log[seq] = attrs.evolve(second, seq=seq)
            log[seq + 1] = attrs.evolve(first, seq=seq + 1)
        elif how == "truncate":
            for later in list(log.irange(minimum=seq)):
                del log[later]
        elif how == "garble":
            # a kept value that is no record; the indexes still lead to it, as a
            # table's indexes lead to a row whose other columns were changed
            log[seq] = cast(ProvisionRecord, '["氏名"')
            return
        else:
            raise AssertionError(f"unknown tampering {how!r}")
        _reindex_provision(state)


class TestMemoryStore(StoreConformance):
    """Every conformance test, on a fresh :class:`MemoryStore`; ``reopen_store`` is the
    suite's default, ``store.reopen()``."""

    def create_store(self) -> Store:
        return _store()

    def create_store_without_schema(self) -> Store:
        return MemoryStore()

    def set_schema_version(self, store: Store, version: int) -> None:
        _set_schema_version(store, version)

    def downgrade_to_schema_2(self, store: Store) -> None:
        _downgrade_to_schema_2(store)

    def downgrade_to_schema_3(self, store: Store) -> None:
        _downgrade_to_schema_3(store)

    def downgrade_to_schema_4(self, store: Store) -> None:
        _downgrade_to_schema_4(store)

    def downgrade_to_schema_5(self, store: Store) -> None:
        _downgrade_to_schema_5(store)

    def garble_pending_notice(self, store: Store, seq: int) -> None:
        _garble_pending_notice(store, seq)

    def tamper_provision_log(self, store: Store, how: str, seq: int) -> None:
        _tamper_provision_log(store, how, seq)


TestMemoryStoreStateful = make_stateful_test(_store).TestCase


rows = RowFactory()


def test_reads_on_the_same_handle_outside_the_unit_of_work_see_committed_data() -> None:
    store = _store()
    row = rows.register_row("A1", 1, code=rows.code(1))
    with store.unit_of_work() as uow:
        store.register.append(uow, [row])
        store.outbox.append(uow, "pref13", [b"x"])
        assert store.register.current("A1") is None
        assert store.register.current("A1", uow) == row
        assert store.outbox.read("pref13") == []
        assert store.outbox.last_seq("pref13") == 0
    assert store.register.current("A1") == row


def test_a_nested_unit_of_work_in_one_thread_is_refused_instead_of_deadlocking() -> None:
    store = _store()
    other = MemoryStore(store.database)
    with store.unit_of_work():
        with pytest.raises(OperationalError), store.unit_of_work():
            pass  # pragma: no cover
        with pytest.raises(OperationalError), other.unit_of_work():
            pass  # pragma: no cover
    with store.unit_of_work() as uow:  # the lock was released
        assert uow.active


def test_a_writer_waits_for_the_lock_and_times_out() -> None:
    store = _store()
    impatient = MemoryStore(store.database, lock_timeout=0.05)
    entered, release = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def hold() -> None:
        with store.unit_of_work() as uow:
            store.outbox.append(uow, "pref13", [b"held"])
            entered.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    entered.wait(5)
    try:
        with pytest.raises(OperationalError, match="locked"), impatient.unit_of_work():
            pass  # pragma: no cover
        # readers never wait for the writer, and see committed data only
        assert impatient.outbox.last_seq("pref13") == 0
    except BaseException as exc:  # pragma: no cover - reported below
        failures.append(exc)
    finally:
        release.set()
        holder.join(5)
    assert not failures
    assert impatient.outbox.last_seq("pref13") == 1


def test_handles_share_one_database_and_close_separately() -> None:
    store = _store()
    second = MemoryStore(store.database)
    with second.unit_of_work() as uow:
        second.tracking.advance(uow, "city131016", 1)
    second.close()
    assert store.tracking.position("city131016") == 1
    with pytest.raises(InterfaceError, match="closed"):
        second.tracking.position("city131016")
    with MemoryStore(store.database) as third:
        assert third.tracking.senders() == {"city131016": 1}
    with pytest.raises(InterfaceError):
        third.check_schema()


def test_the_database_argument_must_be_a_memory_database() -> None:
    with pytest.raises(InterfaceError):
        MemoryStore("node.db")  # type: ignore[arg-type]
    assert isinstance(MemoryStore().database, MemoryDatabase)


def test_the_ports_are_the_memory_classes() -> None:
    store = _store()
    ports = (
        store.register,
        store.identities,
        store.outbox,
        store.tracking,
        store.code_pool,
        store.audit,
        store.agencies,
        store.provision_log,
        store.schedule,
        store.cards,
        store.counter,
    )
    classes = (
        MemoryRegister,
        MemoryIdentityStore,
        MemoryOutbox,
        MemoryTracking,
        MemoryCodePool,
        MemoryAuditLog,
        MemoryAgencyRegistry,
        MemoryProvisionLog,
        MemorySchedule,
        MemoryCardRegistry,
        MemoryCounterStore,
    )
    assert all(isinstance(port, cls) for port, cls in zip(ports, classes, strict=True))


def test_the_identity_indexes_drop_replaced_words() -> None:
    # A move A -> B whose removal in A comes last: only B's word stays searchable,
    # and no index keeps a stale entry for A's replaced word.
    store = _store()
    code = rows.code(1)
    a, b = MUNICIPALITIES[:2]
    versions = [
        rows.identity_row(code, 1, municipality=a),
        rows.identity_row(code, 2, municipality=b, reason=ChangeReason.DOMESTIC_MOVE_IN),
        rows.identity_row(code, 3, municipality=a, reason=ChangeReason.DOMESTIC_MOVE_OUT),
    ]
    for row in versions:
        with store.unit_of_work() as uow:
            store.identities.append(uow, [row])
    with store.raw_state() as state:
        assert [list(pairs) for pairs in state.id_search.values()] == [[(code, b)]]
        assert dict(state.id_current) == {code: versions[1]}
        assert state.id_words[code] == {a: versions[2], b: versions[1]}
        assert {m: list(codes) for m, codes in state.id_municipality.items()} == {
            a: [code],
            b: [code],
        }
    with store.unit_of_work() as uow:
        store.identities.append(uow, [rows.identity_row(code, 4, municipality=b, removed=True)])
    with store.raw_state() as state:
        assert state.id_search == {}


def test_the_provision_and_schedule_indexes_drop_what_is_removed() -> None:
    # A purge removes the records from the log and from both indexes; a cancelled
    # item leaves the (due, key) index; a cancelled and re-added key is indexed
    # under its new date only.
    store = _store()
    entries = [rows.provision_entry(n) for n in range(1, 5)]
    with store.unit_of_work() as uow:
        records = store.provision_log.append(uow, entries)
        store.schedule.add(uow, [rows.scheduled_item(n) for n in (1, 2)])
    with store.raw_state() as state:
        assert list(state.provision) == [1, 2, 3, 4]
        assert {k: list(v) for k, v in state.provision_requests.items()} == {
            f"req-{n}": [n] for n in range(1, 5)
        }
    with store.unit_of_work() as uow:
        assert store.provision_log.purge(uow, before=entries[2].at) == 2
        moved = attrs.evolve(rows.scheduled_item(2), due=date(2030, 1, 1))
        assert store.schedule.cancel(uow, ["jpki:0001", "jpki:0002"]) == 2
        store.schedule.add(uow, [moved])
    with store.raw_state() as state:
        assert list(state.provision) == [3, 4]
        assert state.provision_anchor == (2, records[1].hash)
        assert state.provision_head == (4, records[3].hash)
        assert sorted(state.provision_requests) == ["req-3", "req-4"]
        subjects = {e.subject for e in entries[2:]}
        assert {k: list(v) for k, v in state.provision_subjects.items()} == {
            s: [r.seq for r in records[2:] if r.entry.subject == s] for s in subjects
        }
        assert list(state.schedule_due) == [(date(2030, 1, 1), "jpki:0002")]
        assert state.schedule == {"jpki:0002": moved}
    with store.unit_of_work() as uow:
        later = entries[3].at + timedelta(seconds=1)
        assert store.provision_log.purge(uow, before=later) == 2
    with store.raw_state() as state:
        assert list(state.provision) == []
        assert state.provision_subjects == {}
        assert state.provision_requests == {}
        assert state.provision_head == state.provision_anchor == (4, records[3].hash)


# --- the public raw access: reopen() and raw_state() ----------------------------------


def test_reopen_is_another_handle_that_sees_what_the_other_commits() -> None:
    store = _store()
    other = store.reopen()
    assert isinstance(other, MemoryStore)
    assert other is not store
    assert other.database is store.database
    with other.unit_of_work() as uow:
        other.tracking.advance(uow, "city131016", 1)
        assert store.tracking.position("city131016") == 0  # not yet committed
    assert store.tracking.position("city131016") == 1
    with store.unit_of_work() as uow:
        store.tracking.advance(uow, "city131016", 2)
    assert other.tracking.position("city131016") == 2
    other.close()  # closed separately
    assert store.tracking.position("city131016") == 2


def test_reopen_keeps_the_lock_timeout() -> None:
    store = MemoryStore(lock_timeout=0.05)
    store.create_schema()
    other = store.reopen()
    with store.unit_of_work(), pytest.raises(OperationalError, match=r"0\.05 s"):
        _enter_in_thread(other)


def _enter_in_thread(store: MemoryStore) -> None:
    """Open a unit of work of ``store`` on another thread; re-raise what it raised."""
    raised: list[BaseException] = []

    def enter() -> None:
        try:
            with store.unit_of_work():
                pass
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=enter)
    thread.start()
    thread.join(5)
    if raised:
        raise raised[0]


def test_raw_state_is_the_committed_state_itself() -> None:
    store = _store()
    other = store.reopen()
    with other.unit_of_work() as uow:
        other.tracking.advance(uow, "city131016", 1)
    with store.raw_state() as state:
        assert isinstance(state, MemoryState)
        assert state.tracking == {"city131016": 1}
        state.tracking["city131016"] = 5  # behind the ports' back, no check
    assert other.tracking.position("city131016") == 5


def test_raw_state_keeps_changes_and_releases_its_locks_when_the_block_raises() -> None:
    store = _store()

    def change_then_fail() -> None:
        with store.raw_state() as state:
            state.tracking["city131016"] = 4
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        change_then_fail()
    # no rollback below a unit of work (documented); the locks are free again
    assert store.tracking.position("city131016") == 4
    with store.unit_of_work() as uow:
        store.tracking.advance(uow, "city131016", 5)
    with store.raw_state() as state:
        assert state.tracking == {"city131016": 5}


def test_raw_state_waits_for_a_unit_of_work_and_refuses_its_own_thread() -> None:
    store = MemoryStore(lock_timeout=0.05)
    store.create_schema()
    with store.unit_of_work():
        with pytest.raises(OperationalError, match="already holds"), store.raw_state():
            pass  # pragma: no cover
        raised: list[BaseException] = []

        def raw() -> None:
            try:
                with store.raw_state():
                    pass  # pragma: no cover
            except BaseException as exc:
                raised.append(exc)

        thread = threading.Thread(target=raw)
        thread.start()
        thread.join(5)
        assert len(raised) == 1
        assert isinstance(raised[0], OperationalError)
        assert "locked" in str(raised[0])


def test_raw_state_needs_a_schema_but_not_this_version() -> None:
    store = MemoryStore()
    with pytest.raises(ProgrammingError, match=r"create_schema\(\)"), store.raw_state():
        pass  # pragma: no cover
    store.create_schema()
    _set_schema_version(store, 99)
    with store.raw_state() as state:  # a repair tool reaches a store of another version
        assert state.tracking == {}
    with pytest.raises(SchemaVersionMismatch):
        store.check_schema()


def test_a_closed_store_refuses_reopen_and_raw_state() -> None:
    store = _store()
    store.close()
    with pytest.raises(InterfaceError, match="closed"):
        store.reopen()
    with pytest.raises(InterfaceError, match="closed"), store.raw_state():
        pass  # pragma: no cover


def test_the_base_store_cannot_reopen_and_the_hook_then_skips() -> None:
    class NoReopen(MemoryStore):
        def reopen(self) -> MemoryStore:
            return cast(MemoryStore, Store.reopen(self))

    store = NoReopen()
    with pytest.raises(NotSupportedError, match="NoReopen cannot open another handle"):
        store.reopen()
    with pytest.raises(pytest.skip.Exception, match=r"needs the reopen_store hook.*NoReopen"):
        StoreConformance().reopen_store(store)
