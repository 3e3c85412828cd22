"""Tests of the SQLite adapter: its own behaviour (connections, transactions, pragmas,
schema checks, error translation) and the ports on a file and an in-memory database."""

from __future__ import annotations

import gc
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import settings

from jukinet import errors
from jukinet.domain import resident_code
from jukinet.storage import sqlite as sqlite_module
from jukinet.storage.base import SCHEMA_VERSION, Store
from jukinet.storage.records import (
    AuditEntry,
    AuditRecord,
    ChainFault,
    IdentityQuery,
    IdentityRow,
    RegisterRow,
)
from jukinet.storage.sqlite import SQLiteStore, SQLiteUnitOfWork
from jukinet.testing.conformance import StoreConformance, make_stateful_test

MUNICIPALITY = "131016"  # 千代田区


# --- the shared conformance suite, on a file and on ":memory:" --------------


def _set_version(store: Store, version: int) -> None:
    assert isinstance(store, SQLiteStore)
    with store.raw_transaction() as conn:
        conn.execute(
            "UPDATE jukinet_meta SET value = ? WHERE key = 'schema_version'", (str(version),)
        )


def _downgrade_to_schema_2(store: Store) -> None:
    """What schema version 2 was: no ``identity_versions.received_on`` (nor its index),
    no pending-notice, card, move-out info or counter request tables."""
    assert isinstance(store, SQLiteStore)
    with store.raw_transaction() as conn:
        conn.execute("DROP INDEX identity_versions_received")
        conn.execute("ALTER TABLE identity_versions DROP COLUMN received_on")
        conn.execute("DROP TABLE pending_codes")
        conn.execute("DROP TABLE pending_notices")
        conn.execute("DROP TABLE card_events")
        conn.execute("DROP TABLE cards")
        conn.execute("DROP TABLE move_out_infos")
        conn.execute("DROP TABLE counter_requests")
        conn.execute("UPDATE jukinet_meta SET value = '2' WHERE key = 'schema_version'")


def _downgrade_to_schema_3(store: Store) -> None:
    """What schema version 3 was: no pending-notice, card, move-out info or counter
    request tables."""
    assert isinstance(store, SQLiteStore)
    with store.raw_transaction() as conn:
        conn.execute("DROP TABLE pending_codes")
        conn.execute("DROP TABLE pending_notices")
        conn.execute("DROP TABLE card_events")
        conn.execute("DROP TABLE cards")
        conn.execute("DROP TABLE move_out_infos")
        conn.execute("DROP TABLE counter_requests")
        conn.execute("UPDATE jukinet_meta SET value = '3' WHERE key = 'schema_version'")


def _downgrade_to_schema_4(store: Store) -> None:
    """What schema version 4 was: no card, move-out info or counter request tables
    (their indexes go with them)."""
    assert isinstance(store, SQLiteStore)
    with store.raw_transaction() as conn:
        conn.execute("DROP TABLE card_events")
        conn.execute("DROP TABLE cards")
        conn.execute("DROP TABLE move_out_infos")
        conn.execute("DROP TABLE counter_requests")
        conn.execute("UPDATE jukinet_meta SET value = '4' WHERE key = 'schema_version'")


def _downgrade_to_schema_5(store: Store) -> None:
    """What schema version 5 was: no move-out info or counter request tables (their
    indexes go with them)."""
    assert isinstance(store, SQLiteStore)
    with store.raw_transaction() as conn:
        conn.execute("DROP TABLE move_out_infos")
        conn.execute("DROP TABLE counter_requests")
        conn.execute("UPDATE jukinet_meta SET value = '5' WHERE key = 'schema_version'")


def _garble_pending_notice(store: Store, seq: int) -> None:
    """An empty sender, which no node has; ``pending_codes`` still leads to the row."""
    assert isinstance(store, SQLiteStore)
    with store.raw_transaction() as conn:
        cursor = conn.execute("UPDATE pending_notices SET sender = '' WHERE seq = ?", (seq,))
        assert cursor.rowcount == 1


_GARBLED = '["氏名"'
"""Stored ``items`` that are not JSON (what ``how="garble"`` writes)."""


def _tamper_provision_log(store: Store, how: str, seq: int) -> None:
    """Change the stored provision log with raw SQL, as someone with the file would:
    the head and anchor rows (``provision_meta``) are left alone."""
    assert isinstance(store, SQLiteStore)
    with store.raw_transaction() as conn:
        if how == "alter":
            conn.execute(
                "UPDATE provision_log SET detail = ? WHERE seq = ?",
                (b'{"tampered":true}', seq),
            )
        elif how == "delete":
            conn.execute("DELETE FROM provision_log WHERE seq = ?", (seq,))
        elif how == "truncate":
            conn.execute("DELETE FROM provision_log WHERE seq >= ?", (seq,))
        elif how == "garble":
            conn.execute("UPDATE provision_log SET items = ? WHERE seq = ?", (_GARBLED, seq))
        elif how == "swap":
            # every stored column but seq changes places: delete both, insert swapped
            cursor = conn.execute(
                "SELECT * FROM provision_log WHERE seq IN (?, ?) ORDER BY seq", (seq, seq + 1)
            )
            columns = [d[0] for d in cursor.description]
            first, second = cursor.fetchall()
            conn.execute("DELETE FROM provision_log WHERE seq IN (?, ?)", (seq, seq + 1))
            names = ", ".join(f'"{c}"' for c in columns)
            marks = ", ".join("?" for _ in columns)
            for row, number in ((second, seq), (first, seq + 1)):
                values = list(row)
                values[columns.index("seq")] = number
                conn.execute(f"INSERT INTO provision_log ({names}) VALUES ({marks})", values)
        else:
            raise AssertionError(f"unknown tampering {how!r}")


class _TempFiles:
    """File stores in their own temporary directories, removed on dispose."""

    def __init__(self) -> None:
        self.dirs: dict[int, str] = {}

    def create(self, *, schema: bool = True) -> SQLiteStore:
        directory = tempfile.mkdtemp(prefix="jukinet-sqlite-")
        store = SQLiteStore(Path(directory) / "node.db")
        if schema:
            store.create_schema()
        self.dirs[id(store)] = directory
        return store

    def dispose(self, store: Store) -> None:
        store.close()
        directory = self.dirs.pop(id(store), None)
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)


_files = _TempFiles()


class TestSQLiteFileStore(StoreConformance):
    """Every conformance test on a WAL file database; handles (the suite's default
    ``reopen_store``: ``store.reopen()``) are stores on the same path."""

    def create_store(self) -> Store:
        return _files.create()

    def create_store_without_schema(self) -> Store:
        return _files.create(schema=False)

    def set_schema_version(self, store: Store, version: int) -> None:
        _set_version(store, version)

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

    def dispose(self, store: Store) -> None:
        _files.dispose(store)


def _memory_store() -> SQLiteStore:
    store = SQLiteStore(":memory:")
    store.create_schema()
    return store


class TestSQLiteMemoryStore(StoreConformance):
    """Every conformance test on ``":memory:"``: a private temporary file, shared by the
    handles from reopen(), with the same isolation as a file database."""

    def create_store(self) -> Store:
        return _memory_store()

    def create_store_without_schema(self) -> Store:
        return SQLiteStore(":memory:")

    def set_schema_version(self, store: Store, version: int) -> None:
        _set_version(store, version)

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


TestSQLiteFileStoreStateful = make_stateful_test(_files.create, _files.dispose).TestCase
# Every commit of a file database is an fsync: run a quarter of the profile's examples
# (the SQL is the same as on ":memory:", a temporary file, which runs them all).
TestSQLiteFileStoreStateful.settings = settings(
    TestSQLiteFileStoreStateful.settings,
    max_examples=max(10, settings().max_examples // 4),
)
TestSQLiteMemoryStoreStateful = make_stateful_test(_memory_store).TestCase


def code(n: int) -> str:
    body = f"{n:010d}"
    return body + resident_code.calc_check_digit(body)


def reg(
    internal_id: str = "A1",
    version: int = 1,
    *,
    n: int = 1,
    status: str = "registered",
    household_id: str = "H1",
) -> RegisterRow:
    return RegisterRow(
        internal_id=internal_id,
        version=version,
        resident_code=code(n),
        status=status,
        household_id=household_id,
        reason="birth",
        event_date=date(2000, 1, 2),
        processed_on=date(2000, 1, 3),
        payload=f"{internal_id}/{version}".encode(),
    )


def ident(
    n: int = 1,
    version: int = 1,
    *,
    removed: bool = False,
    name: str = "ヤマダ",
    municipality: str = MUNICIPALITY,
) -> IdentityRow:
    return IdentityRow(
        resident_code=code(n),
        version=version,
        municipality=municipality,
        reason="birth",
        event_date=date(2000, 1, 2),
        removed=removed,
        name_key=name,
        reading_key=None,
        birth_date=date(1980, 4, 1),
        sex="male",
        address_key="千代田1-1-1",
        payload=f"{n}/{version}".encode(),
    )


@pytest.fixture(params=["file", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SQLiteStore]:
    target = tmp_path / "node.db" if request.param == "file" else ":memory:"
    s = SQLiteStore(target)
    s.create_schema()
    yield s
    s.close()


@pytest.fixture
def file_store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "node.db")
    s.create_schema()
    yield s
    s.close()


# --- construction ----------------------------------------------------------


def test_constructor_refuses_bad_arguments() -> None:
    with pytest.raises(TypeError):
        SQLiteStore(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        SQLiteStore(b"x.db")  # type: ignore[arg-type]
    with pytest.raises(errors.InvalidLength):
        SQLiteStore("")
    with pytest.raises(TypeError):
        SQLiteStore(":memory:", busy_timeout="5")  # type: ignore[arg-type]
    with pytest.raises(errors.InvalidComponent):
        SQLiteStore(":memory:", busy_timeout=-1)


def test_nothing_is_opened_before_first_use(tmp_path: Path) -> None:
    SQLiteStore(tmp_path / "lazy.db").close()
    assert not (tmp_path / "lazy.db").exists()


# --- schema ----------------------------------------------------------------


def test_missing_schema_says_call_create_schema(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "empty.db") as s:
        with pytest.raises(errors.ProgrammingError, match=r"call create_schema\(\)"):
            s.register.count()
        with pytest.raises(errors.ProgrammingError, match=r"call create_schema\(\)"):
            s.unit_of_work().__enter__()
        with pytest.raises(errors.ProgrammingError, match=r"call create_schema\(\)"):
            s.check_schema()
        s.create_schema()
        s.create_schema()  # idempotent
        s.check_schema()
        assert s.register.count() == 0


def test_create_schema_keeps_data_and_records_version(file_store: SQLiteStore) -> None:
    with file_store.unit_of_work() as uow:
        file_store.outbox.append(uow, "pref-13", [b"x"])
    file_store.create_schema()
    assert file_store.outbox.last_seq("pref-13") == 1
    with file_store.raw_transaction() as conn:
        assert conn.execute("SELECT value FROM jukinet_meta").fetchall() == [(str(SCHEMA_VERSION),)]


def test_schema_version_mismatch_names_both_versions(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with SQLiteStore(path) as s:
        s.create_schema()
    raw = sqlite3.connect(path)
    raw.execute("UPDATE jukinet_meta SET value = '99' WHERE key = 'schema_version'")
    raw.commit()
    raw.close()
    with SQLiteStore(path) as s:
        with pytest.raises(errors.SchemaVersionMismatch) as info:
            s.outbox.last_seq("pref-13")
        assert "99" in str(info.value)
        assert str(SCHEMA_VERSION) in str(info.value)
        with pytest.raises(errors.SchemaVersionMismatch):
            s.create_schema()  # refuses, changes nothing
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT value FROM jukinet_meta").fetchone() == ("99",)
    raw.close()


def test_schema_is_checked_once_per_store(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    with SQLiteStore(path) as s:
        s.create_schema()
        assert s.register.count() == 0
        raw = sqlite3.connect(path)
        raw.execute("UPDATE jukinet_meta SET value = '99'")
        raw.commit()
        raw.close()
        assert s.register.count() == 0  # cached: no second check
        with pytest.raises(errors.SchemaVersionMismatch):
            s.check_schema()  # an explicit check looks again


def test_missing_table_is_a_programming_error(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    with SQLiteStore(path) as s:
        s.create_schema()
    raw = sqlite3.connect(path)
    raw.execute("DROP TABLE tracking")
    raw.commit()
    raw.close()
    with SQLiteStore(path) as s, pytest.raises(errors.ProgrammingError, match="tracking"):
        s.check_schema()


# --- pragmas and connections -----------------------------------------------


def test_file_database_runs_in_wal_with_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "node.db", busy_timeout=2.5) as s:
        s.create_schema()
        with s._conns.reading() as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
            assert conn.execute("PRAGMA busy_timeout").fetchone() == (2500,)
            assert conn.isolation_level is None
        with s.unit_of_work() as uow:
            assert uow._conn.in_transaction
            assert uow._conn.execute("PRAGMA foreign_keys").fetchone() == (1,)


def test_factory_connections_are_configured_and_closed_factory_stays_usable(
    tmp_path: Path,
) -> None:
    path = tmp_path / "node.db"
    opened: list[sqlite3.Connection] = []

    def factory() -> sqlite3.Connection:
        conn = sqlite3.connect(path, check_same_thread=False)  # default isolation level
        opened.append(conn)
        return conn

    s = SQLiteStore(factory)
    s.create_schema()
    with s.unit_of_work() as uow:
        s.tracking.advance(uow, "pref-13", 1)
    assert s.tracking.position("pref-13") == 1
    assert opened
    assert all(c.isolation_level is None for c in opened)
    assert opened[0].execute("PRAGMA journal_mode").fetchone() == ("wal",)
    s.close()
    for conn in opened:
        with pytest.raises(sqlite3.ProgrammingError):
            conn.execute("SELECT 1")  # the store closed what it opened
    count = len(opened)
    # the factory is the caller's: still usable, by another store or directly
    with SQLiteStore(factory) as again:
        assert again.tracking.position("pref-13") == 1
    assert len(opened) > count


def test_factory_returning_something_else_is_an_interface_error() -> None:
    s = SQLiteStore(lambda: "not a connection")  # type: ignore[arg-type,return-value]
    with pytest.raises(errors.InterfaceError, match=r"sqlite3\.Connection"):
        s.create_schema()


def test_each_thread_has_its_own_connections(file_store: SQLiteStore) -> None:
    seen: list[sqlite3.Connection] = []

    def work() -> None:
        with file_store._conns.reading() as conn:
            seen.append(conn)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with file_store._conns.reading() as conn:
        seen.append(conn)
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert len({id(c) for c in seen}) == 3
    # the connections of ended threads are closed when the store next opens one
    with pytest.raises(sqlite3.ProgrammingError):
        seen[0].execute("SELECT 1")


def test_closed_store_refuses_use(store: SQLiteStore) -> None:
    store.close()
    store.close()  # idempotent
    with pytest.raises(errors.InterfaceError, match="closed"):
        store.register.count()
    with pytest.raises(errors.InterfaceError, match="closed"):
        store.unit_of_work().__enter__()


# --- the public raw access: reopen() and raw_transaction() -----------------


def test_reopen_is_another_handle_that_sees_what_the_other_commits(store: SQLiteStore) -> None:
    other = store.reopen()
    try:
        with other.unit_of_work() as uow:
            other.tracking.advance(uow, "city-131016", 1)
            assert store.tracking.position("city-131016") == 0  # not yet committed
        assert store.tracking.position("city-131016") == 1
        with store.unit_of_work() as uow:
            store.tracking.advance(uow, "city-131016", 2)
        assert other.tracking.position("city-131016") == 2
    finally:
        other.close()
    assert store.tracking.position("city-131016") == 2  # closed separately


def test_reopen_of_a_factory_store_calls_the_same_factory(tmp_path: Path) -> None:
    calls: list[sqlite3.Connection] = []

    def factory() -> sqlite3.Connection:
        conn = sqlite3.connect(tmp_path / "node.db", check_same_thread=False)
        calls.append(conn)
        return conn

    with SQLiteStore(factory) as s:
        s.create_schema()
        opened = len(calls)
        with s.reopen() as other:
            assert other.tracking.senders() == {}
            assert len(calls) > opened  # its own connections, from the caller's factory


def test_raw_transaction_commits_on_normal_exit(store: SQLiteStore) -> None:
    with store.raw_transaction() as conn:
        assert conn.in_transaction
        conn.execute("INSERT INTO tracking (sender, position) VALUES ('city-131016', 7)")
        assert store.tracking.position("city-131016") == 0  # a reader sees committed data
    assert store.tracking.position("city-131016") == 7
    with store.reopen() as other:
        assert other.tracking.position("city-131016") == 7


def test_raw_transaction_rolls_back_on_an_exception(store: SQLiteStore) -> None:
    insert = "INSERT INTO tracking (sender, position) VALUES ('city-131016', ?)"

    def insert_then_fail() -> None:
        with store.raw_transaction() as conn:
            conn.execute(insert, (7,))
            raise RuntimeError("boom")

    def insert_twice() -> None:
        with store.raw_transaction() as conn:
            conn.execute(insert, (7,))
            conn.execute(insert, (8,))

    with pytest.raises(RuntimeError, match="boom"):
        insert_then_fail()
    assert store.tracking.position("city-131016") == 0
    # a failing statement rolls back what came before it; its error is translated
    with pytest.raises(errors.IntegrityError, match="UNIQUE") as caught:
        insert_twice()
    assert isinstance(caught.value.__cause__, sqlite3.IntegrityError)
    assert store.tracking.senders() == {}
    with store.unit_of_work() as uow:  # the connection is free again
        store.tracking.advance(uow, "city-131016", 1)


def test_raw_transaction_needs_no_schema_and_the_store_checks_it_again(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "node.db") as s:
        with s.raw_transaction() as conn:  # no schema yet: raw access still works
            assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)
        s.create_schema()
        assert s.tracking.senders() == {}  # the schema is checked and remembered
        with s.raw_transaction() as conn:
            conn.execute("DROP TABLE tracking")
        with pytest.raises(errors.ProgrammingError, match="tracking"):
            s.outbox.last_seq("pref-13")  # checked again after raw access


def test_raw_transaction_is_refused_inside_a_unit_of_work_and_on_a_closed_store(
    store: SQLiteStore,
) -> None:
    with store.unit_of_work(), pytest.raises(errors.InterfaceError, match="already open"):
        store.raw_transaction().__enter__()
    store.close()
    with pytest.raises(errors.InterfaceError, match="closed"):
        store.raw_transaction().__enter__()
    with pytest.raises(errors.InterfaceError, match="closed"):
        store.reopen()


def test_raw_transaction_waits_for_another_handles_writer(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "node.db", busy_timeout=0.05) as s:
        s.create_schema()
        with s.reopen() as other, other.unit_of_work() as uow:
            other.tracking.advance(uow, "city-131016", 1)
            with pytest.raises(errors.OperationalError, match="locked"):
                s.raw_transaction().__enter__()


# --- units of work ---------------------------------------------------------


def test_commit_and_rollback(store: SQLiteStore) -> None:
    with store.unit_of_work() as uow:
        store.register.append(uow, [reg("A1")])
    assert store.register.current("A1") == reg("A1")

    class Crash(Exception):
        pass

    def crash_halfway() -> None:
        with store.unit_of_work() as uow:
            store.register.append(uow, [reg("A1", 2)])
            store.outbox.append(uow, "pref-13", [b"x"])
            raise Crash

    with pytest.raises(Crash):
        crash_halfway()
    assert store.register.current("A1") == reg("A1")
    assert store.outbox.last_seq("pref-13") == 0
    assert store.outbox.destinations() == []


def test_unit_of_work_is_inactive_after_its_block(store: SQLiteStore) -> None:
    with store.unit_of_work() as uow:
        states = [uow.active]
        assert isinstance(uow, SQLiteUnitOfWork)
    states.append(uow.active)
    assert states == [True, False]
    with pytest.raises(errors.InterfaceError, match="no longer active"):
        store.tracking.advance(uow, "pref-13", 1)
    with pytest.raises(errors.InterfaceError):
        store.tracking.position("pref-13", uow)


def test_unit_of_work_of_another_store_is_refused(store: SQLiteStore) -> None:
    with SQLiteStore(":memory:") as other:
        other.create_schema()
        with other.unit_of_work() as foreign:
            with pytest.raises(errors.InterfaceError, match="this store"):
                store.tracking.advance(foreign, "pref-13", 1)
            with pytest.raises(errors.InterfaceError):
                store.register.current("A1", foreign)
    with pytest.raises(errors.InterfaceError):
        store.tracking.advance(object(), "pref-13", 1)  # type: ignore[arg-type]


def test_nested_unit_of_work_on_one_thread_is_an_interface_error(store: SQLiteStore) -> None:
    with store.unit_of_work() as uow:
        store.tracking.advance(uow, "pref-13", 1)
        with pytest.raises(errors.InterfaceError, match="already open"):
            store.unit_of_work().__enter__()
        store.tracking.advance(uow, "pref-13", 2)  # the outer one is intact
    assert store.tracking.position("pref-13") == 2
    with store.unit_of_work():  # and the thread may open a new one afterwards
        pass


def test_reads_with_uow_see_its_writes_and_others_see_committed_only(
    store: SQLiteStore,
) -> None:
    s = store
    with s.unit_of_work() as uow:
        s.register.append(uow, [reg("A1")])
        assert s.register.current("A1", uow) == reg("A1")
        assert s.register.current("A1") is None  # committed data only, same thread
        other: list[object] = []
        t = threading.Thread(target=lambda: other.append(s.register.current("A1")))
        t.start()
        t.join()
        assert other == [None]
    assert s.register.current("A1") == reg("A1")


def test_memory_store_readers_do_not_wait_for_the_unit_of_work() -> None:
    with SQLiteStore(":memory:", busy_timeout=5) as s:
        s.create_schema()
        seen: list[int] = []
        with s.unit_of_work() as uow:
            s.outbox.append(uow, "pref-13", [b"x"])
            t = threading.Thread(target=lambda: seen.append(s.outbox.last_seq("pref-13")))
            t.start()
            t.join(5)
            assert not t.is_alive()  # WAL: the reader did not wait
            assert seen == [0]  # and saw committed data only
            assert s.outbox.last_seq("pref-13") == 0  # same thread, outside the uow
        assert s.outbox.last_seq("pref-13") == 1


def _temp_dir(store: SQLiteStore) -> str | None:
    assert store._temp is not None
    return store._temp.directory


def test_memory_store_is_a_private_temporary_file_removed_on_close() -> None:
    first = SQLiteStore(":memory:")
    second = SQLiteStore(":memory:")
    assert _temp_dir(first) is None  # nothing made before first use
    first.create_schema()
    second.create_schema()
    directory = _temp_dir(first)
    assert directory is not None
    assert Path(directory).is_dir()
    with first.unit_of_work() as uow:
        first.outbox.append(uow, "pref-13", [b"x"])
    assert second.outbox.last_seq("pref-13") == 0  # private: another store sees nothing
    with first._conns.reading() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA synchronous").fetchone() == (0,)
    other = first.reopen()  # a handle sharing the file, with its own connections
    assert other.outbox.last_seq("pref-13") == 1
    first.close()  # the creator closes first: the file stays for the other handle
    assert Path(directory).is_dir()
    with other.unit_of_work() as uow:
        other.outbox.append(uow, "pref-13", [b"y"])
    third = other.reopen()
    other.close()
    assert third.outbox.last_seq("pref-13") == 2
    third.close()  # the last handle removes the file
    assert not Path(directory).exists()
    second_dir = _temp_dir(second)
    second.close()
    assert second_dir is not None
    assert not Path(second_dir).exists()
    with pytest.raises(errors.InterfaceError):
        third.reopen()


def test_memory_store_never_used_makes_nothing() -> None:
    s = SQLiteStore(":memory:")
    again = s.reopen()
    s.close()
    again.close()
    assert _temp_dir(s) is None


def test_unclosed_memory_store_is_removed_when_collected() -> None:
    s = SQLiteStore(":memory:")
    s.create_schema()
    directory = _temp_dir(s)
    assert directory is not None
    assert Path(directory).is_dir()
    s._conns.close()  # what garbage collection of the connections would do
    del s
    gc.collect()
    assert not Path(directory).exists()


def test_failed_call_inside_a_unit_of_work_writes_nothing(store: SQLiteStore) -> None:
    with store.unit_of_work() as uow:
        store.register.append(uow, [reg("A1")])
        with pytest.raises(errors.IntegrityError):
            store.register.append(uow, [reg("B1", n=2), reg("A1")])  # second row duplicates
        with pytest.raises(errors.IntegrityError):
            store.register.bulk_load(uow, [reg("C1", n=3), reg("D1", n=3)])  # same code
        assert store.register.current("B1", uow) is None
        assert store.register.current("C1", uow) is None
    assert store.register.count() == 1


def test_busy_writer_times_out_with_operational_error(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    with SQLiteStore(path) as first, SQLiteStore(path, busy_timeout=0.1) as second:
        first.create_schema()
        with first.unit_of_work():
            with pytest.raises(errors.OperationalError, match="locked") as info:
                second.unit_of_work().__enter__()
            assert isinstance(info.value.__cause__, sqlite3.OperationalError)


def test_memory_store_busy_writer_times_out() -> None:
    with SQLiteStore(":memory:", busy_timeout=0.05) as s:
        s.create_schema()
        failures: list[BaseException] = []

        def other() -> None:
            try:
                with s.unit_of_work():
                    pass
            except errors.OperationalError as exc:
                failures.append(exc)

        with s.unit_of_work():
            t = threading.Thread(target=other)
            t.start()
            t.join()
        assert len(failures) == 1


# --- error translation -----------------------------------------------------


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (sqlite3.IntegrityError("UNIQUE constraint failed: x.y"), errors.IntegrityError),
        (sqlite3.OperationalError("database is locked"), errors.OperationalError),
        (sqlite3.OperationalError("no such table: outbox"), errors.ProgrammingError),
        (sqlite3.DataError("string or blob too big"), errors.DataError),
        (sqlite3.ProgrammingError("closed"), errors.ProgrammingError),
        (sqlite3.NotSupportedError("no"), errors.NotSupportedError),
        (sqlite3.InternalError("oops"), errors.InternalError),
        (sqlite3.InterfaceError("bad"), errors.InterfaceError),
        (sqlite3.DatabaseError("file is not a database"), errors.DatabaseError),
        (sqlite3.Error("generic"), errors.StorageError),
    ],
)
def test_driver_errors_are_translated_in_one_place(
    raised: sqlite3.Error, expected: type[errors.StorageError]
) -> None:
    with pytest.raises(expected) as info, sqlite_module._translate():
        raise raised
    assert type(info.value) is expected
    assert info.value.__cause__ is raised


def test_non_driver_errors_pass_through() -> None:
    with pytest.raises(KeyError), sqlite_module._translate():
        raise KeyError("x")


def test_not_a_database_file_is_a_database_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not a database" * 100)
    with SQLiteStore(path) as s, pytest.raises(errors.DatabaseError):
        s.create_schema()


# --- register --------------------------------------------------------------


def test_register_versions_codes_and_history(store: SQLiteStore) -> None:
    r = store.register
    with store.unit_of_work() as uow:
        r.append(uow, [reg("A1"), reg("A1", 2, status="removed"), reg("B1", n=2)])
    assert r.current("A1") == reg("A1", 2, status="removed")
    assert r.history("A1") == [reg("A1"), reg("A1", 2, status="removed")]
    assert r.history("ZZ") == []
    assert r.current("ZZ") is None
    assert r.count() == 2
    assert r.count(status="removed") == 1
    assert r.household("H1") == [reg("B1", n=2)]  # removed members left out
    # a code change: the old code still finds the person
    with store.unit_of_work() as uow:
        r.append(uow, [reg("B1", 2, n=3)])
    assert r.current_by_code(code(2)) == reg("B1", 2, n=3)
    assert r.current_by_code(code(3)) == reg("B1", 2, n=3)
    assert r.current_by_code(code(9)) is None
    with store.unit_of_work() as uow:
        with pytest.raises(errors.IntegrityError, match="skips"):
            r.append(uow, [reg("A1", 4)])
        with pytest.raises(errors.IntegrityError, match="already stored"):
            r.append(uow, [reg("A1", 2)])
        with pytest.raises(errors.IntegrityError, match="belongs to"):
            r.append(uow, [reg("C1", n=2)])  # B1's old code
        with pytest.raises(errors.IntegrityError, match="belongs to"):
            r.append(uow, [reg("C1", n=7), reg("D1", n=7)])
        with pytest.raises(errors.IntegrityError):
            r.append(uow, [reg("C1", 2, n=8)])
    assert r.count() == 2
    assert r.history("B1") == [reg("B1", n=2), reg("B1", 2, n=3)]


def test_register_scan_pages_by_internal_id(store: SQLiteStore) -> None:
    rows = [reg(f"P{i:03d}", n=i + 1) for i in range(25)]
    with store.unit_of_work() as uow:
        store.register.append(uow, list(reversed(rows)))
    seen: list[RegisterRow] = []
    after: str | None = None
    while page := store.register.scan(after=after, limit=10):
        seen.extend(page)
        after = page[-1].internal_id
    assert seen == rows


def test_register_bulk_load_and_current_many(store: SQLiteStore) -> None:
    rows = [reg(f"P{i:05d}", n=i + 1, household_id=f"H{i // 3}") for i in range(1200)]
    with store.unit_of_work() as uow:
        assert store.register.bulk_load(uow, rows) == 1200
        assert store.register.bulk_load(uow, []) == 0
    assert store.register.count() == 1200
    wanted = [code(i + 1) for i in range(0, 1200, 2)] + [code(5000), code(1)]
    found = store.register.current_many(wanted)
    assert len(found) == 600
    assert found[code(1)] == rows[0]
    assert code(5000) not in found
    assert store.register.current_many([]) == {}
    assert store.register.household("H0") == rows[:3]
    # duplicates: an existing person, an existing code, twice in one batch, not version 1
    for bad in (
        [reg("N1", n=90000), rows[0]],
        [reg("N1", n=1)],
        [reg("N1", n=90000), reg("N1", n=90001)],
        [reg("N1", n=90000), reg("N2", 2, n=90001)],
    ):
        with pytest.raises(errors.IntegrityError), store.unit_of_work() as uow:
            store.register.bulk_load(uow, bad)
    assert store.register.count() == 1200
    assert store.register.current("N1") is None


def test_register_bulk_then_append(store: SQLiteStore) -> None:
    with store.unit_of_work() as uow:
        store.register.bulk_load(uow, [reg("A1")])
        store.register.append(uow, [reg("A1", 2)])
    assert store.register.current("A1") == reg("A1", 2)


# --- bad input -------------------------------------------------------------


def test_bad_input_raises_jukinet_errors_and_writes_nothing(store: SQLiteStore) -> None:
    with store.unit_of_work() as uow:
        misuse: list[Callable[[], object]] = [
            lambda: store.register.append(uow, [reg("A1"), "row"]),  # type: ignore[list-item]
            lambda: store.register.append(uow, reg("A1")),  # type: ignore[arg-type]
            lambda: store.register.bulk_load(uow, [reg("A1"), ident()]),  # type: ignore[list-item]
            lambda: store.identities.append(uow, [reg("A1")]),  # type: ignore[list-item]
            lambda: store.identities.search("x"),  # type: ignore[arg-type]
            lambda: store.outbox.append(uow, "pref-13", b"abc"),  # type: ignore[arg-type]
            lambda: store.code_pool.designate(uow, MUNICIPALITY, code(1)),
            lambda: store.register.current_many(code(1)),
            lambda: store.identities.last_versions(code(1)),
            lambda: store.audit.append(uow, [ident()]),  # type: ignore[list-item]
        ]
        for call in misuse:
            with pytest.raises(errors.InterfaceError):
                call()
        invalid: list[Callable[[], object]] = [
            lambda: store.outbox.append(uow, "pref 13", [b"x"]),
            lambda: store.outbox.append(uow, "pref-13", [b"x", b""]),
            lambda: store.outbox.append(uow, "pref-13", [b"x", "text"]),  # type: ignore[list-item]
            lambda: store.code_pool.designate(uow, MUNICIPALITY, [code(1), "12345678900"]),
            lambda: store.code_pool.designate(uow, "131017", [code(1)]),
            lambda: store.tracking.advance(uow, "pref-13", 0),
            lambda: store.tracking.advance(uow, "pref-13", True),
            lambda: store.register.current(42),  # type: ignore[arg-type]
            lambda: store.register.current_by_code("12345678900"),
            lambda: store.register.household(""),
            lambda: store.register.count(status="gone"),
            lambda: store.register.scan(limit=-1),
            lambda: store.identities.scan(municipality="13101"),
            lambda: store.outbox.read("pref-13", after=-1),
            lambda: store.outbox.acknowledge(uow, "pref-13", -1),
            lambda: store.outbox.acknowledge(uow, "pref 13", 0),
            lambda: store.outbox.resume(uow, "pref-13", -1),
            lambda: store.outbox.resume(uow, "pref-13", "1"),  # type: ignore[arg-type]
            lambda: store.outbox.acknowledged(""),
            lambda: store.tracking.advance(uow, "pref-13", 1, last=0),
            lambda: store.identities.last_versions(["12345678900"]),
        ]
        for call in invalid:
            with pytest.raises(errors.ValidationError):
                call()
    assert store.outbox.destinations() == []
    assert store.code_pool.designated_count() == 0
    assert store.register.count() == 0
    assert store.tracking.senders() == {}
    assert store.audit.last_seq() == 0


# --- identities ------------------------------------------------------------


def test_identities(store: SQLiteStore) -> None:
    ids = store.identities
    with store.unit_of_work() as uow:
        assert ids.bulk_load(uow, [ident(1), ident(2, name="スズキ")]) == 2
        ids.append(uow, [ident(1, 2, removed=True), ident(3), ident(3, 2)])
        with pytest.raises(errors.IntegrityError):
            ids.append(uow, [ident(4), ident(4, 3)])
        with pytest.raises(errors.IntegrityError):
            ids.bulk_load(uow, [ident(5), ident(3)])
    assert ids.current(code(1)) == ident(1, 2, removed=True)
    assert ids.current(code(4)) is None
    assert ids.history(code(3)) == [ident(3), ident(3, 2)]
    assert ids.count() == 3
    assert ids.count(municipality=MUNICIPALITY) == 3
    assert ids.count(municipality="011002") == 0
    query = IdentityQuery(name_key="ヤマダ", birth_date=date(1980, 4, 1))
    assert ids.search(query) == [ident(3, 2)]  # the removed one is left out
    assert ids.search(query, limit=0) == []
    assert ids.search(
        IdentityQuery(
            name_key="スズキ",
            birth_date=date(1980, 4, 1),
            sex="male",
            address_key="千代田1-1-1",
        )
    ) == [ident(2, name="スズキ")]
    assert (
        ids.search(IdentityQuery(name_key="スズキ", birth_date=date(1980, 4, 1), sex="female"))
        == []
    )
    assert [r.resident_code for r in ids.scan(after=code(1), limit=5)] == [code(2), code(3)]
    assert ids.scan(municipality="011002") == []
    found = ids.current_many([code(1), code(3), code(9)])
    assert found == {code(1): ident(1, 2, removed=True), code(3): ident(3, 2)}
    assert ids.last_versions([code(1), code(2), code(3), code(9)]) == {
        code(1): 2,
        code(2): 1,
        code(3): 2,
    }
    assert ids.last_versions([]) == {}


OTHER = "011002"  # 札幌市


def test_identity_current_is_kept_per_code_and_municipality(store: SQLiteStore) -> None:
    ids = store.identities
    moved_in = ident(1, 2, municipality=OTHER)
    moved_out = ident(1, 3, removed=True)
    with store.unit_of_work() as uow:
        ids.append(uow, [ident(1), ident(2)])
        # the move A -> B: B's entry is applied before A's removal
        ids.append(uow, [moved_in])
        assert ids.current(code(1), uow) == moved_in
        ids.append(uow, [moved_out])
        with pytest.raises(errors.IntegrityError, match="already stored"):
            ids.append(uow, [ident(1, 3, municipality=OTHER)])  # versions are per code
        assert ids.last_versions([code(1)], uow) == {code(1): 3}
    assert ids.current(code(1)) == moved_in  # the later removal does not hide it
    assert ids.current_many([code(1), code(2)]) == {code(1): moved_in, code(2): ident(2)}
    query = IdentityQuery(name_key="ヤマダ", birth_date=date(1980, 4, 1))
    assert ids.search(query) == [moved_in, ident(2)]
    assert ids.scan(municipality=MUNICIPALITY) == [moved_out, ident(2)]  # removed included
    assert ids.scan(municipality=OTHER) == [moved_in]
    assert ids.scan() == [moved_in, ident(2)]
    assert ids.scan(after=code(1)) == [ident(2)]
    assert ids.count() == 2
    assert ids.count(municipality=MUNICIPALITY) == 2
    assert ids.count(municipality=OTHER) == 1
    assert ids.history(code(1)) == [ident(1), moved_in, moved_out]
    # a death in B: every row removed, so the newest removed one is current
    died = ident(1, 4, removed=True, municipality=OTHER)
    with store.unit_of_work() as uow:
        ids.append(uow, [died])
    assert ids.current(code(1)) == died
    assert ids.current_many([code(1)]) == {code(1): died}
    assert ids.search(query) == [ident(2)]
    assert ids.scan(limit=1) == [died]
    with store.unit_of_work() as uow:
        with pytest.raises(errors.IntegrityError):
            ids.bulk_load(uow, [ident(3), ident(1, municipality=OTHER)])  # code 1 exists
        assert ids.bulk_load(uow, [ident(3), ident(4, municipality=OTHER)]) == 2
    assert ids.count() == 4
    assert ids.count(municipality=OTHER) == 2


def test_identity_current_many_and_last_versions_cross_chunks(store: SQLiteStore) -> None:
    n = sqlite_module.CHUNK_SIZE + 20
    with store.unit_of_work() as uow:
        store.identities.bulk_load(uow, [ident(i) for i in range(1, n + 1)])
        store.identities.append(uow, [ident(i, 2, municipality=OTHER) for i in range(1, n, 2)])
    codes = [code(i) for i in range(1, n + 1)]
    versions = store.identities.last_versions(codes)
    assert versions == {code(i): 1 + i % 2 for i in range(1, n + 1)}
    found = store.identities.current_many(codes)
    assert len(found) == n
    assert all(found[code(i)].municipality == OTHER for i in range(1, n, 2))


# --- outbox and tracking ---------------------------------------------------


def test_outbox_numbers_are_gap_free(store: SQLiteStore) -> None:
    with store.unit_of_work() as uow:
        assert store.outbox.append(uow, "pref-13", [b"a", b"b"]) == range(1, 3)
        assert store.outbox.append(uow, "pref-13", []) == range(3, 3)
        assert store.outbox.append(uow, "nation", []) == range(1, 1)
        assert store.outbox.last_seq("pref-13", uow) == 2
    with store.unit_of_work() as uow:
        assert store.outbox.append(uow, "pref-13", [b"c"]) == range(3, 4)
    assert store.outbox.destinations() == ["pref-13"]
    assert [(e.seq, e.payload) for e in store.outbox.read("pref-13", after=1, limit=5)] == [
        (2, b"b"),
        (3, b"c"),
    ]
    assert store.outbox.read("nation") == []


def test_racing_outbox_writers_never_interleave_or_skip(file_store: SQLiteStore) -> None:
    s = file_store
    errors_seen: list[BaseException] = []

    def writer(tag: bytes) -> None:
        try:
            for i in range(30):
                with s.unit_of_work() as uow:
                    got = s.outbox.append(uow, "pref-13", [tag + b"%d-1" % i, tag + b"%d-2" % i])
                    assert len(got) == 2
        except BaseException as exc:
            errors_seen.append(exc)

    threads = [threading.Thread(target=writer, args=(t,)) for t in (b"a", b"b")]
    for t in threads:
        t.start()
    observed: list[int] = []
    while any(t.is_alive() for t in threads):
        observed = [e.seq for e in s.outbox.read("pref-13", limit=1000)]
        assert observed == list(range(1, len(observed) + 1))
    for t in threads:
        t.join()
    assert not errors_seen
    entries = s.outbox.read("pref-13", limit=1000)
    assert [e.seq for e in entries] == list(range(1, 121))
    for first, second in zip(entries[::2], entries[1::2], strict=True):
        assert first.payload[:-1] == second.payload[:-1]  # a batch is never split


def test_tracking(store: SQLiteStore) -> None:
    t = store.tracking
    with store.unit_of_work() as uow:
        t.advance(uow, "city-131016", 1)
        t.advance(uow, "city-131016", 2)
        with pytest.raises(errors.IntegrityError, match="already applied"):
            t.advance(uow, "city-131016", 2)
        with pytest.raises(errors.IntegrityError, match="skips"):
            t.advance(uow, "city-131016", 4)
        with pytest.raises(errors.IntegrityError, match="skips"):
            t.advance(uow, "new-sender", 2)
        assert t.position("new-sender", uow) == 0
        with pytest.raises(errors.IntegrityError, match="already applied"):
            t.advance(uow, "city-131016", 1)
    assert t.position("city-131016") == 2
    assert t.position("other") == 0
    assert t.senders() == {"city-131016": 2}


def test_tracking_advance_through_last(store: SQLiteStore) -> None:
    t = store.tracking
    with store.unit_of_work() as uow:
        t.advance(uow, "pref-13", 1, last=5)
        assert t.position("pref-13", uow) == 5
        t.advance(uow, "pref-13", 6, last=6)
        t.advance(uow, "pref-13", 7)
        with pytest.raises(errors.IntegrityError, match="already applied"):
            t.advance(uow, "pref-13", 3, last=9)
        with pytest.raises(errors.IntegrityError, match="skips"):
            t.advance(uow, "pref-13", 9, last=10)
        with pytest.raises(errors.ValidationError):
            t.advance(uow, "pref-13", 8, last=7)  # bad input, before any write
        with pytest.raises(errors.ValidationError):
            t.advance(uow, "pref-13", 8, last=True)
    assert t.senders() == {"pref-13": 7}


# --- outbox acknowledgements and resume ---------------------------------------


def test_outbox_acknowledgements_are_monotonic(store: SQLiteStore) -> None:
    o = store.outbox
    with store.unit_of_work() as uow:
        o.append(uow, "pref-13", [b"a", b"b", b"c"])
        assert o.acknowledged("pref-13", uow) == 0
        o.acknowledge(uow, "pref-13", 2)
        o.acknowledge(uow, "pref-13", 1)  # late: a no-op
        o.acknowledge(uow, "pref-13", 2)  # twice: a no-op
        o.acknowledge(uow, "pref-13", 0)
        o.acknowledge(uow, "nation", 0)  # nothing given, nothing acknowledged
        with pytest.raises(errors.IntegrityError, match="only up to 3"):
            o.acknowledge(uow, "pref-13", 4)
        with pytest.raises(errors.IntegrityError):
            o.acknowledge(uow, "nation", 1)
        assert o.acknowledged("pref-13", uow) == 2
        assert o.acknowledged("pref-13") == 0  # not committed yet
    assert o.acknowledged("pref-13") == 2
    assert o.acknowledged("nation") == 0
    assert o.destinations() == ["pref-13"]
    with store.unit_of_work() as uow:
        o.acknowledge(uow, "pref-13", 3)
    assert o.acknowledged("pref-13") == 3
    assert o.last_seq("pref-13") == 3


def test_outbox_resume_only_on_a_fresh_destination(store: SQLiteStore) -> None:
    o = store.outbox
    with store.unit_of_work() as uow:
        o.resume(uow, "pref-13", 41)
        assert o.last_seq("pref-13", uow) == 41
        assert o.acknowledged("pref-13", uow) == 41
        o.append(uow, "nation", [b"x"])
        o.resume(uow, "city-0", 0)
    assert o.destinations() == ["city-0", "nation", "pref-13"]  # heads without entries too
    assert o.read("pref-13") == []
    with store.unit_of_work() as uow:
        assert o.append(uow, "pref-13", [b"a", b"b"]) == range(42, 44)
        for destination, last in (("pref-13", 100), ("nation", 5), ("city-0", 3)):
            with pytest.raises(errors.IntegrityError, match="only a fresh destination"):
                o.resume(uow, destination, last)
        with pytest.raises(errors.ValidationError):
            o.resume(uow, "other", -1)
    assert [e.seq for e in o.read("pref-13")] == [42, 43]
    assert o.last_seq("pref-13") == 43
    assert o.acknowledged("pref-13") == 41
    assert o.last_seq("city-0") == 0


def test_outbox_resume_is_rolled_back_with_its_unit_of_work(store: SQLiteStore) -> None:
    def crash() -> None:
        with store.unit_of_work() as uow:
            store.outbox.resume(uow, "pref-13", 7)
            raise RuntimeError

    with pytest.raises(RuntimeError):
        crash()
    assert store.outbox.destinations() == []
    with store.unit_of_work() as uow:
        store.outbox.resume(uow, "pref-13", 7)
    assert store.outbox.last_seq("pref-13") == 7


# --- audit log -------------------------------------------------------------


def audit(n: int, *, at: datetime | None = None) -> AuditEntry:
    return AuditEntry(
        at=at or datetime(2024, 4, 1, 9, 0, n % 60, tzinfo=UTC),
        action="register.birth",
        subject=f"A{n}" if n % 2 else None,
        detail=b'{"n":%d}' % n,
    )


def test_audit_log_round_trip_and_paging(store: SQLiteStore) -> None:
    log = store.audit
    tokyo = ZoneInfo("Asia/Tokyo")
    odd = [
        audit(1, at=datetime(2024, 4, 1, 9, 30, 15, 123456, tzinfo=tokyo)),
        audit(2, at=datetime(1887, 6, 1, 12, 0, tzinfo=tokyo)),  # LMT: +09:18:59
        audit(3, at=datetime(2024, 4, 1, 0, 0, tzinfo=timezone(timedelta(hours=-3, minutes=-30)))),
    ]
    assert log.last_seq() == 0
    with store.unit_of_work() as uow:
        assert log.append(uow, []) == range(1, 1)
        assert log.append(uow, odd) == range(1, 4)
        assert log.last_seq(uow) == 3
        assert log.last_seq() == 0
        assert [r.seq for r in log.read(uow=uow)] == [1, 2, 3]
    with store.unit_of_work() as uow:
        assert log.append(uow, [audit(i) for i in range(4, 11)]) == range(4, 11)
        assert log.append(uow, []) == range(11, 11)
    records = log.read()
    assert [r.seq for r in records] == list(range(1, 11))
    assert [r.entry for r in records] == odd + [audit(i) for i in range(4, 11)]
    assert records[0] == AuditRecord(seq=1, entry=odd[0])
    assert [r.seq for r in log.read(after=8)] == [9, 10]
    assert [r.seq for r in log.read(after=2, limit=3)] == [3, 4, 5]
    assert log.read(after=10) == []
    assert log.last_seq() == 10


def test_audit_log_rolled_back_entries_leave_no_gap(store: SQLiteStore) -> None:
    def crash() -> None:
        with store.unit_of_work() as uow:
            store.audit.append(uow, [audit(1), audit(2)])
            raise RuntimeError

    with pytest.raises(RuntimeError):
        crash()
    with store.unit_of_work() as uow:
        assert store.audit.append(uow, [audit(3)]) == range(1, 2)
    assert [r.entry for r in store.audit.read()] == [audit(3)]


def test_audit_log_racing_writers_are_gap_free(store: SQLiteStore) -> None:
    problems: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            handle = store.reopen()
            try:
                for i in range(20):
                    with handle.unit_of_work() as uow:
                        got = handle.audit.append(uow, [audit(k * 100 + i), audit(k * 100 + i)])
                        assert len(got) == 2
            finally:
                handle.close()
        except BaseException as exc:
            problems.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not problems
    records = store.audit.read()
    assert [r.seq for r in records] == list(range(1, 81))
    for first, second in zip(records[::2], records[1::2], strict=True):
        assert first.entry == second.entry  # a batch is never split


def test_audit_log_bad_input_writes_nothing(store: SQLiteStore) -> None:
    with store.unit_of_work() as uow:
        with pytest.raises(errors.InterfaceError):
            store.audit.append(uow, [audit(1), "entry"])  # type: ignore[list-item]
        with pytest.raises(errors.InterfaceError):
            store.audit.append(uow, audit(1))  # type: ignore[arg-type]
        with pytest.raises(errors.ValidationError):
            store.audit.read(after=-1)
        with pytest.raises(errors.ValidationError):
            store.audit.read(limit=True)
    assert store.audit.last_seq() == 0
    with pytest.raises(errors.InterfaceError):
        store.audit.append(uow, [audit(1)])  # finished unit of work


# --- code pool -------------------------------------------------------------


def test_code_pool(store: SQLiteStore) -> None:
    p = store.code_pool
    with store.unit_of_work() as uow:
        p.designate(uow, MUNICIPALITY, [code(3), code(1), code(2)])
        with pytest.raises(errors.IntegrityError, match="never designated twice"):
            p.designate(uow, "011002", [code(4), code(1)])
        with pytest.raises(errors.IntegrityError):
            p.designate(uow, "011002", [code(4), code(4)])
        assert p.allocate(uow, MUNICIPALITY) == code(1)
        p.mark_used(uow, code(3))
        with pytest.raises(errors.IntegrityError):
            p.mark_used(uow, code(3))
        with pytest.raises(errors.IntegrityError):
            p.mark_used(uow, code(9))
        assert p.allocate(uow, "011002") is None
    assert p.available(MUNICIPALITY) == 1
    assert p.is_designated(code(1))
    assert not p.is_designated(code(4))
    assert p.designated_count() == 3
    with store.unit_of_work() as uow:
        assert p.allocate(uow, MUNICIPALITY) == code(2)
        assert p.allocate(uow, MUNICIPALITY) is None


def test_racing_allocators_never_share_a_code(store: SQLiteStore) -> None:
    with store.unit_of_work() as uow:
        store.code_pool.designate(uow, MUNICIPALITY, [code(i) for i in range(1, 61)])
    got: list[str | None] = []
    lock = threading.Lock()

    def allocator() -> None:
        for _ in range(40):
            with store.unit_of_work() as uow:
                c = store.code_pool.allocate(uow, MUNICIPALITY)
            with lock:
                got.append(c)

    threads = [threading.Thread(target=allocator) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    handed = [c for c in got if c is not None]
    assert len(handed) == 60 == len(set(handed))
    assert got.count(None) == 20


# --- rows that cannot be read back -----------------------------------------------


def _raw(store: SQLiteStore, statement: str, params: tuple[object, ...]) -> None:
    """Run one statement as someone with the file would, outside the adapter."""
    with store.raw_transaction() as conn:
        conn.execute(statement, params)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("items", '["氏名"'),  # broken JSON
        ("items", '{"氏名": 1}'),  # JSON, not an array
        ("items", "[1, 2]"),  # an array of numbers
        ("at", 42),  # a wrong-typed value (SQLite keeps it)
        ("at", "yesterday"),
        ("kind", "bogus"),
        ("hash", "xyz"),
        ("detail", "text, not bytes"),
    ],
)
def test_an_unreadable_provision_row_is_a_corrupt_record(
    store: SQLiteStore, column: str, value: object
) -> None:
    conformance_rows = StoreConformance.rows
    with store.unit_of_work() as uow:
        records = store.provision_log.append(
            uow, [conformance_rows.provision_entry(n) for n in range(1, 5)]
        )
    _raw(store, f'UPDATE provision_log SET "{column}" = ? WHERE seq = 2', (value,))
    with pytest.raises(errors.CorruptRecord) as caught:
        store.provision_log.read()
    error = caught.value
    assert isinstance(error, errors.DataError)
    assert (error.table, error.key, error.seq) == ("provision_log", (2,), 2)
    assert str(error).startswith("provision_log 2: the stored row cannot be read back")
    assert isinstance(error.__cause__, ValueError | TypeError)
    assert store.provision_log.read(after=2) == records[2:]
    with store.unit_of_work() as uow:
        assert store.provision_log.verify(uow) == [ChainFault(2, "altered")]


def test_other_unreadable_rows_name_their_table_and_key(store: SQLiteStore) -> None:
    row = reg("A1", 1)
    with store.unit_of_work() as uow:
        store.register.append(uow, [row])
        store.audit.append(uow, [AuditEntry(at=datetime(2026, 4, 1, tzinfo=UTC), action="x")])
    _raw(store, "UPDATE register_versions SET event_date = 'someday' WHERE internal_id = 'A1'", ())
    with pytest.raises(errors.CorruptRecord) as caught:
        store.register.current("A1")
    assert (caught.value.table, caught.value.key, caught.value.seq) == (
        "register_versions",
        ("A1", 1),
        None,
    )
    _raw(store, "UPDATE audit_log SET at = 'never' WHERE seq = 1", ())
    with pytest.raises(errors.CorruptRecord) as caught:
        store.audit.read()
    assert (caught.value.table, caught.value.seq) == ("audit_log", 1)
    _raw(store, "UPDATE provision_meta SET hash = 'short' WHERE name = 'head'", ())
    with pytest.raises(errors.CorruptRecord) as caught:
        store.provision_log.head()
    assert (caught.value.table, caught.value.key) == ("provision_meta", ("head",))
