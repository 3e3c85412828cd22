"""The in-memory adapter: the shared conformance suite, the stateful test, and its own rules."""

from __future__ import annotations

import threading

import pytest

from jukinet.domain.changes import ChangeReason
from jukinet.errors import InterfaceError, OperationalError
from jukinet.storage.base import Store
from jukinet.storage.memory import (
    MemoryAuditLog,
    MemoryCodePool,
    MemoryDatabase,
    MemoryIdentityStore,
    MemoryOutbox,
    MemoryRegister,
    MemoryStore,
    MemoryTracking,
)
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


class TestMemoryStore(StoreConformance):
    """Every conformance test, on a fresh :class:`MemoryStore`."""

    def create_store(self) -> Store:
        return _store()

    def reopen_store(self, store: Store) -> Store:
        assert isinstance(store, MemoryStore)
        return MemoryStore(store.database)

    def create_store_without_schema(self) -> Store:
        return MemoryStore()

    def set_schema_version(self, store: Store, version: int) -> None:
        assert isinstance(store, MemoryStore)
        store.database.meta["schema_version"] = str(version)


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
    )
    classes = (
        MemoryRegister,
        MemoryIdentityStore,
        MemoryOutbox,
        MemoryTracking,
        MemoryCodePool,
        MemoryAuditLog,
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
    state = store.database._state
    assert state is not None
    assert [list(pairs) for pairs in state.id_search.values()] == [[(code, b)]]
    assert dict(state.id_current) == {code: versions[1]}
    assert state.id_words[code] == {a: versions[2], b: versions[1]}
    assert {m: list(codes) for m, codes in state.id_municipality.items()} == {
        a: [code],
        b: [code],
    }
    with store.unit_of_work() as uow:
        store.identities.append(uow, [rows.identity_row(code, 4, municipality=b, removed=True)])
    assert state.id_search == {}
