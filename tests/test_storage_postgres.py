"""PostgreSQL adapter: the conformance suite (on a connection and on a pool) plus
checks specific to PostgreSQL (COPY, row locks, error translation, caller-owned
resources).

Needs a server: ``JUKINET_TEST_POSTGRES_DSN`` (the ``postgres_dsn`` fixture skips
without it). Every store gets a fresh schema ``jukinet_test_<run>_<n>``, dropped
(``DROP SCHEMA .. CASCADE``) when the store is disposed, and once more at the end
of the module for anything a failing test left behind.
"""

from __future__ import annotations

import itertools
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from hypothesis import settings as hypothesis_settings
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from jukinet import errors
from jukinet.storage.base import Store, UnitOfWork
from jukinet.storage.postgres import ANALYZE_AFTER, PostgresStore, _translated
from jukinet.storage.records import AgencyRow, AuditEntry, ChainFault
from jukinet.testing.conformance import (
    MUNICIPALITIES,
    InjectedCrash,
    RowFactory,
    StoreConformance,
    make_stateful_test,
)

pytestmark = pytest.mark.postgres

_DSN_VARIABLE = "JUKINET_TEST_POSTGRES_DSN"
_RUN = secrets.token_hex(4)
_SERIAL = itertools.count(1)
_PREFIX = f"jukinet_test_{_RUN}_"

rows = RowFactory()

_Closeable = psycopg.Connection[Any] | ConnectionPool[Any]


def _drop_schemas(dsn: str, schemas: list[str]) -> None:
    with psycopg.connect(dsn, autocommit=True) as admin:
        for schema in schemas:
            admin.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            )


class _Databases:
    """The schemas, connections and pools the tests open, released per schema."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.opened: dict[str, list[_Closeable]] = {}

    def new_schema(self) -> str:
        schema = f"{_PREFIX}{next(_SERIAL)}"
        self.opened[schema] = []
        return schema

    def connection(self, schema: str, **kwargs: Any) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] = psycopg.connect(self.dsn, **kwargs)
        self.opened.setdefault(schema, []).append(conn)
        return conn

    def pool(self, schema: str) -> ConnectionPool[Any]:
        pool: ConnectionPool[Any] = ConnectionPool(
            self.dsn, min_size=1, max_size=4, timeout=20, open=True, name=schema
        )
        self.opened.setdefault(schema, []).append(pool)
        return pool

    def release(self, schema: str) -> None:
        """Close what was opened for ``schema``, then drop it."""
        for resource in reversed(self.opened.pop(schema, [])):
            resource.close()
        _drop_schemas(self.dsn, [schema])

    def release_all(self) -> None:
        for schema in list(self.opened):
            self.release(schema)


@pytest.fixture(scope="module", autouse=True)
def _drop_leftover_schemas() -> Iterator[None]:
    """After the module, drop every schema of this run that is still there."""
    yield
    dsn = os.environ.get(_DSN_VARIABLE)
    if not dsn:
        return
    with psycopg.connect(dsn, autocommit=True) as admin:
        leftovers = [
            name
            for (name,) in admin.execute(
                "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s)", [_PREFIX]
            )
        ]
    _drop_schemas(dsn, leftovers)


@pytest.fixture
def databases(postgres_dsn: str) -> Iterator[_Databases]:
    """A registry of test schemas and connections, all released after the test."""
    opened = _Databases(postgres_dsn)
    try:
        yield opened
    finally:
        opened.release_all()


# =====================================================================================
# the conformance suite, twice
# =====================================================================================


# The hooks, on the public raw access (PostgresStore.raw_transaction): raw SQL on the
# store's own connection, in a transaction, the node's schema as search_path.


def _set_schema_version(store: Store, version: int) -> None:
    assert isinstance(store, PostgresStore)
    with store.raw_transaction() as conn:
        conn.execute(
            "UPDATE jukinet_meta SET value = %s WHERE key = 'schema_version'", [str(version)]
        )


def _downgrade_to_schema_2(store: Store) -> None:
    """What schema version 2 was: no identity_versions.received_on (its index goes with
    it), no pending_notices, no card, move-out info or counter request tables."""
    assert isinstance(store, PostgresStore)
    with store.raw_transaction() as conn:
        conn.execute("ALTER TABLE identity_versions DROP COLUMN received_on")
        conn.execute("DROP TABLE pending_notices")
        conn.execute("DROP TABLE card_events, cards")
        conn.execute("DROP TABLE move_out_infos, counter_requests")
        conn.execute("UPDATE jukinet_meta SET value = '2' WHERE key = 'schema_version'")


def _downgrade_to_schema_3(store: Store) -> None:
    """What schema version 3 was: no pending_notices (its index goes with it), no card,
    move-out info or counter request tables."""
    assert isinstance(store, PostgresStore)
    with store.raw_transaction() as conn:
        conn.execute("DROP TABLE pending_notices")
        conn.execute("DROP TABLE card_events, cards")
        conn.execute("DROP TABLE move_out_infos, counter_requests")
        conn.execute("UPDATE jukinet_meta SET value = '3' WHERE key = 'schema_version'")


def _downgrade_to_schema_4(store: Store) -> None:
    """What schema version 4 was: no cards, no card_events, no move_out_infos, no
    counter_requests (their indexes go too)."""
    assert isinstance(store, PostgresStore)
    with store.raw_transaction() as conn:
        conn.execute("DROP TABLE card_events, cards")
        conn.execute("DROP TABLE move_out_infos, counter_requests")
        conn.execute("UPDATE jukinet_meta SET value = '4' WHERE key = 'schema_version'")


def _downgrade_to_schema_5(store: Store) -> None:
    """What schema version 5 was: no move_out_infos, no counter_requests (their indexes
    go too)."""
    assert isinstance(store, PostgresStore)
    with store.raw_transaction() as conn:
        conn.execute("DROP TABLE move_out_infos, counter_requests")
        conn.execute("UPDATE jukinet_meta SET value = '5' WHERE key = 'schema_version'")


def _garble_pending_notice(store: Store, seq: int) -> None:
    """An empty sender, which no node has; the codes it is found by stay."""
    assert isinstance(store, PostgresStore)
    with store.raw_transaction() as conn:
        cursor = conn.execute("UPDATE pending_notices SET sender = '' WHERE seq = %s", [seq])
        assert cursor.rowcount == 1


def _tamper_provision_log(store: Store, how: str, seq: int) -> None:
    """Change the stored provision log with raw SQL, as someone with database access
    would: the head and anchor rows (provision_meta) are left alone."""
    assert isinstance(store, PostgresStore)
    with store.raw_transaction() as conn:
        if how == "alter":
            conn.execute(
                "UPDATE provision_log SET detail = %s WHERE seq = %s",
                [b'{"tampered":true}', seq],
            )
        elif how == "delete":
            conn.execute("DELETE FROM provision_log WHERE seq = %s", [seq])
        elif how == "truncate":
            conn.execute("DELETE FROM provision_log WHERE seq >= %s", [seq])
        elif how == "garble":
            conn.execute("UPDATE provision_log SET items = %s WHERE seq = %s", ['["氏名"', seq])
        elif how == "swap":
            # every stored column but seq changes places: delete both, insert swapped
            cursor = conn.execute(
                "SELECT * FROM provision_log WHERE seq IN (%s, %s) ORDER BY seq", [seq, seq + 1]
            )
            assert cursor.description is not None
            columns = [column.name for column in cursor.description]
            first, second = cursor.fetchall()
            conn.execute("DELETE FROM provision_log WHERE seq IN (%s, %s)", [seq, seq + 1])
            insert = sql.SQL("INSERT INTO provision_log ({}) VALUES ({})").format(
                sql.SQL(", ").join(sql.Identifier(c) for c in columns),
                sql.SQL(", ").join(sql.Placeholder() for _ in columns),
            )
            for row, number in ((second, seq), (first, seq + 1)):
                values = list(row)
                values[columns.index("seq")] = number
                conn.execute(insert, values)
        else:
            raise AssertionError(f"unknown tampering {how!r}")


class _PostgresConformance(StoreConformance):
    """Hooks shared by the two variants; subclasses say how a handle is opened."""

    racing_rounds = 20

    @pytest.fixture(autouse=True)
    def _databases(self, databases: _Databases) -> None:
        self.databases = databases

    def open_store(self, schema: str) -> PostgresStore:
        raise NotImplementedError

    def create_store(self) -> Store:
        store = self.open_store(self.databases.new_schema())
        store.create_schema()
        return store

    def create_store_without_schema(self) -> Store:
        return self.open_store(self.databases.new_schema())

    def set_schema_version(self, store: Store, version: int) -> None:
        _set_schema_version(store, version)

    def downgrade_to_schema_2(self, store: Store) -> None:
        _downgrade_to_schema_2(store)

    def garble_pending_notice(self, store: Store, seq: int) -> None:
        _garble_pending_notice(store, seq)

    def downgrade_to_schema_3(self, store: Store) -> None:
        _downgrade_to_schema_3(store)

    def downgrade_to_schema_4(self, store: Store) -> None:
        _downgrade_to_schema_4(store)

    def downgrade_to_schema_5(self, store: Store) -> None:
        _downgrade_to_schema_5(store)

    def tamper_provision_log(self, store: Store, how: str, seq: int) -> None:
        _tamper_provision_log(store, how, seq)

    def dispose(self, store: Store) -> None:
        assert isinstance(store, PostgresStore)
        store.close()
        self.databases.release(store.schema)


class TestPostgresStoreOnAConnection(_PostgresConformance):
    """One psycopg.Connection per handle (not autocommit: psycopg's default). A store on
    one connection cannot reopen() itself: a handle is a store on a new connection."""

    def open_store(self, schema: str) -> PostgresStore:
        return PostgresStore(self.databases.connection(schema), schema=schema)

    def reopen_store(self, store: Store) -> Store:
        assert isinstance(store, PostgresStore)
        return self.open_store(store.schema)


class TestPostgresStoreOnAPool(_PostgresConformance):
    """One ConnectionPool per store; each unit of work borrows a connection. Handles are
    the suite's default, ``store.reopen()``: stores on the same pool."""

    def open_store(self, schema: str) -> PostgresStore:
        return PostgresStore(self.databases.pool(schema), schema=schema)


# --- the stateful test (one pool per run, a fresh schema each) ----------------------

_stateful_databases: list[_Databases] = []


def _stateful_store() -> Store:
    dsn = os.environ.get(_DSN_VARIABLE)
    if not dsn:  # pragma: no cover - setUp skips first
        pytest.skip(f"{_DSN_VARIABLE} is not set: PostgreSQL tests need a server")
    if not _stateful_databases:
        _stateful_databases.append(_Databases(dsn))
    databases = _stateful_databases[0]
    schema = databases.new_schema()
    store = PostgresStore(databases.connection(schema, autocommit=True), schema=schema)
    store.create_schema()
    return store


def _stateful_dispose(store: Store) -> None:
    assert isinstance(store, PostgresStore)
    store.close()
    _stateful_databases[0].release(store.schema)


_Machine = make_stateful_test(_stateful_store, _stateful_dispose)


class TestPostgresStateful(_Machine.TestCase):  # type: ignore[name-defined,misc]
    """Random operations against the store and a plain-dict model."""

    settings = hypothesis_settings(
        parent=_Machine.TestCase.settings,
        max_examples=min(_Machine.TestCase.settings.max_examples, 40),
    )

    def setUp(self) -> None:
        if not os.environ.get(_DSN_VARIABLE):
            pytest.skip(f"{_DSN_VARIABLE} is not set: PostgreSQL tests need a server")


# =====================================================================================
# PostgreSQL-specific checks
# =====================================================================================


def _store(databases: _Databases, **kwargs: Any) -> PostgresStore:
    schema = databases.new_schema()
    store = PostgresStore(databases.connection(schema, **kwargs), schema=schema)
    store.create_schema()
    return store


def _pool_store(databases: _Databases, schema: str | None = None) -> PostgresStore:
    schema = schema or databases.new_schema()
    store = PostgresStore(databases.pool(schema), schema=schema)
    store.create_schema()
    return store


def _person(n: int, version: int = 1) -> Any:
    return rows.register_row(f"A{n:07d}", version, code=rows.code(n))


# --- construction -----------------------------------------------------------------


def test_importing_jukinet_does_not_import_psycopg() -> None:
    code = (
        "import sys, jukinet, jukinet.storage, jukinet.storage.base, "
        "jukinet.storage.records, jukinet.storage.mapping\n"
        "assert 'psycopg' not in sys.modules, 'psycopg was imported'\n"
        "assert 'psycopg_pool' not in sys.modules, 'psycopg_pool was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    "schema",
    ["", "Jukinet", "juki net", "juki-net", "1city", "pg_jukinet", "x" * 64, 'a"b', "ä"],
)
def test_an_invalid_schema_name_is_refused(schema: str) -> None:
    pool: ConnectionPool[Any] = ConnectionPool("", open=False)
    with pytest.raises(errors.InvalidFormat, match="schema"):
        PostgresStore(pool, schema=schema)


def test_a_schema_name_that_is_not_a_str_is_a_type_error() -> None:
    pool: ConnectionPool[Any] = ConnectionPool("", open=False)
    with pytest.raises(TypeError):
        PostgresStore(pool, schema=b"jukinet")  # type: ignore[arg-type]


@pytest.mark.parametrize("resource", [None, "dbname=test", object()])
def test_anything_but_a_connection_or_pool_is_refused(resource: object) -> None:
    with pytest.raises(errors.InterfaceError, match=r"psycopg\.Connection"):
        PostgresStore(resource)  # type: ignore[arg-type]


def test_valid_schema_names_are_kept(databases: _Databases) -> None:
    store = PostgresStore(databases.connection(databases.new_schema()), schema="x" * 63)
    assert store.schema == "x" * 63
    assert "x" * 63 in repr(store)


# --- caller-owned resources ---------------------------------------------------------


def test_close_leaves_the_callers_connection_open(databases: _Databases) -> None:
    store = _store(databases)
    conn = databases.opened[store.schema][0]
    with store.unit_of_work() as uow:
        store.outbox.append(uow, "pref13", [b"a"])
    store.close()
    assert not conn.closed
    assert isinstance(conn, psycopg.Connection)
    conn.execute("SELECT 1")
    conn.rollback()
    reopened = PostgresStore(conn, schema=store.schema)
    assert reopened.outbox.last_seq("pref13") == 1
    with store.__class__(conn, schema=store.schema) as scoped:
        assert scoped.outbox.destinations() == ["pref13"]
    assert not conn.closed


def test_close_leaves_the_callers_pool_open(databases: _Databases) -> None:
    store = _pool_store(databases)
    pool = databases.opened[store.schema][0]
    assert isinstance(pool, ConnectionPool)
    store.close()
    assert not pool.closed
    with pool.connection() as conn:
        conn.execute("SELECT 1")
    assert PostgresStore(pool, schema=store.schema).outbox.destinations() == []


def test_a_connection_left_in_a_transaction_is_refused(databases: _Databases) -> None:
    store = _store(databases)
    conn = databases.opened[store.schema][0]
    assert isinstance(conn, psycopg.Connection)
    conn.execute("SELECT 1")  # the caller's own transaction, left open
    with pytest.raises(errors.InterfaceError, match="transaction"):
        store.outbox.destinations()
    with pytest.raises(errors.InterfaceError, match="transaction"), store.unit_of_work():
        pass
    conn.rollback()
    assert store.outbox.destinations() == []


def test_an_autocommit_connection_and_a_dict_row_factory_work(databases: _Databases) -> None:
    store = _store(databases, autocommit=True, row_factory=dict_row)
    with store.unit_of_work() as uow:
        store.register.append(uow, [_person(1)])
        assert store.outbox.append(uow, "pref13", [b"a"]) == range(1, 2)
    assert store.register.current("A0000001") == _person(1)
    assert store.outbox.read("pref13")[0].payload == b"a"
    with pytest.raises(InjectedCrash), store.unit_of_work() as uow:  # noqa: PT012
        store.outbox.append(uow, "pref13", [b"b"])
        raise InjectedCrash
    assert store.outbox.last_seq("pref13") == 1


def test_several_nodes_share_one_connection_in_their_own_schemas(
    databases: _Databases,
) -> None:
    city = _store(databases)
    conn = databases.opened[city.schema][0]
    assert isinstance(conn, psycopg.Connection)
    prefecture = PostgresStore(conn, schema=databases.new_schema())
    prefecture.create_schema()
    with city.unit_of_work() as uow:
        city.outbox.append(uow, "pref13", [b"notice"])
    with prefecture.unit_of_work() as uow:
        prefecture.tracking.advance(uow, "city131016", 1)
    assert city.tracking.senders() == {}
    assert prefecture.outbox.destinations() == []
    assert prefecture.tracking.senders() == {"city131016": 1}
    # one connection runs one transaction: a second unit of work in the same
    # thread, even of another store, cannot start inside the first
    with city.unit_of_work(), pytest.raises(errors.InterfaceError, match="already"):  # noqa: SIM117
        with prefecture.unit_of_work():
            pass


def test_on_one_connection_a_read_in_the_owning_thread_runs_in_its_unit_of_work(
    databases: _Databases,
) -> None:
    store = _store(databases)
    with store.unit_of_work() as uow:
        store.outbox.append(uow, "pref13", [b"a"])
        assert store.outbox.last_seq("pref13") == 1  # documented: there is no other connection
    with pytest.raises(InjectedCrash), store.unit_of_work() as uow:  # noqa: PT012
        store.outbox.append(uow, "pref13", [b"b"])
        raise InjectedCrash
    assert store.outbox.last_seq("pref13") == 1


def test_units_of_work_from_threads_take_turns_on_one_connection(databases: _Databases) -> None:
    store = _store(databases)
    numbers: list[range] = []
    lock = threading.Lock()

    def write(k: int) -> None:
        for i in range(10):
            with store.unit_of_work() as uow:
                got = store.outbox.append(uow, "pref13", [f"{k}-{i}".encode()])
                store.tracking.position("city", uow)
            with lock:
                numbers.append(got)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(r.start for r in numbers) == list(range(1, 31))
    assert [e.seq for e in store.outbox.read("pref13")] == list(range(1, 31))


# --- the public raw access: reopen() and raw_transaction() ---------------------------


def test_reopen_on_a_pool_is_another_handle_that_sees_what_the_other_commits(
    databases: _Databases,
) -> None:
    store = _pool_store(databases)
    other = store.reopen()
    assert isinstance(other, PostgresStore)
    assert other is not store
    assert other.schema == store.schema
    with other.unit_of_work() as uow:
        other.tracking.advance(uow, "city131016", 1)
        assert store.tracking.position("city131016") == 0  # not yet committed
    assert store.tracking.position("city131016") == 1
    with store.unit_of_work() as uow:
        store.tracking.advance(uow, "city131016", 2)
    assert other.tracking.position("city131016") == 2
    other.close()  # closed separately; the pool stays the caller's
    assert store.tracking.position("city131016") == 2


def test_reopen_on_one_connection_is_not_supported_and_says_what_to_pass(
    databases: _Databases,
) -> None:
    store = _store(databases)
    with pytest.raises(errors.NotSupportedError, match="ConnectionPool") as caught:
        store.reopen()
    assert f"schema={store.schema!r}" in str(caught.value)


@pytest.mark.parametrize("on", ["connection", "pool"])
def test_raw_transaction_runs_in_the_node_schema_and_commits(
    databases: _Databases, on: str
) -> None:
    store = _store(databases) if on == "connection" else _pool_store(databases)
    with store.raw_transaction() as conn:
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        schema = conn.execute("SELECT current_schema()").fetchone()
        assert schema is not None
        assert schema[0] == store.schema
        conn.execute("INSERT INTO tracking (sender, position) VALUES ('city131016', 7)")
    assert store.tracking.position("city131016") == 7
    with store.raw_transaction() as conn:  # SET LOCAL: the path ends with the transaction
        conn.execute("SELECT 1")
    with psycopg.connect(databases.dsn, autocommit=True) as admin:
        found = admin.execute(
            sql.SQL("SELECT position FROM {}").format(sql.Identifier(store.schema, "tracking"))
        ).fetchall()
    assert found == [(7,)]


def test_raw_transaction_leaves_the_callers_search_path(databases: _Databases) -> None:
    store = _store(databases, autocommit=True)
    conn = databases.opened[store.schema][0]
    assert isinstance(conn, psycopg.Connection)
    before = conn.execute("SHOW search_path").fetchone()
    with store.raw_transaction() as raw:
        assert raw is conn
    assert conn.execute("SHOW search_path").fetchone() == before


def test_raw_transaction_rolls_back_on_an_exception(databases: _Databases) -> None:
    store = _pool_store(databases)
    insert = "INSERT INTO tracking (sender, position) VALUES ('city131016', %s)"

    def insert_then_fail() -> None:
        with store.raw_transaction() as conn:
            conn.execute(insert, [7])
            raise RuntimeError("boom")

    def insert_twice() -> None:
        with store.raw_transaction() as conn:
            conn.execute(insert, [7])
            conn.execute(insert, [8])

    with pytest.raises(RuntimeError, match="boom"):
        insert_then_fail()
    assert store.tracking.senders() == {}
    # a failing statement rolls back what came before it; its error is translated
    with pytest.raises(errors.IntegrityError, match="tracking_pkey") as caught:
        insert_twice()
    assert isinstance(caught.value.__cause__, psycopg.errors.UniqueViolation)
    assert store.tracking.senders() == {}


def test_raw_transaction_needs_no_schema_and_the_store_checks_it_again(
    databases: _Databases,
) -> None:
    schema = databases.new_schema()
    store = PostgresStore(databases.pool(schema), schema=schema)
    with store.raw_transaction() as conn:  # no schema yet: raw access still works
        assert conn.execute("SELECT 1").fetchone() == (1,)
    store.create_schema()
    assert store.tracking.senders() == {}  # checked and remembered
    with store.raw_transaction() as conn:
        conn.execute("DROP TABLE tracking")
    with pytest.raises(errors.ProgrammingError, match="tracking"):
        store.outbox.destinations()  # checked again after raw access


def test_a_closed_store_refuses_reopen_and_raw_transaction(databases: _Databases) -> None:
    for store in (_store(databases), _pool_store(databases)):
        store.close()
        with pytest.raises(errors.InterfaceError, match="closed"):
            store.reopen()
        with pytest.raises(errors.InterfaceError, match="closed"):
            store.raw_transaction().__enter__()


def test_raw_transaction_inside_a_unit_of_work_on_one_connection_is_refused(
    databases: _Databases,
) -> None:
    store = _store(databases)
    with (
        store.unit_of_work(),
        pytest.raises(errors.InterfaceError, match="already has a unit of work"),
    ):
        store.raw_transaction().__enter__()


# --- missing schema, versions -----------------------------------------------------


def test_a_missing_schema_names_create_schema(databases: _Databases) -> None:
    schema = databases.new_schema()
    store = PostgresStore(databases.connection(schema), schema=schema)
    with pytest.raises(errors.ProgrammingError, match=r"call create_schema\(\)") as info:
        store.outbox.destinations()
    assert not isinstance(info.value, errors.SchemaVersionMismatch)
    store.create_schema()
    store.create_schema()
    assert store.outbox.destinations() == []


def test_create_schema_refuses_to_touch_another_version(databases: _Databases) -> None:
    store = _store(databases)
    with psycopg.connect(databases.dsn, autocommit=True) as admin:
        admin.execute(
            sql.SQL("UPDATE {}.jukinet_meta SET value = '7'").format(sql.Identifier(store.schema))
        )
    with pytest.raises(errors.SchemaVersionMismatch, match="version 7"):
        store.create_schema()


def test_the_tables_use_code_point_order(databases: _Databases) -> None:
    store = _store(databases)
    with store.unit_of_work() as uow:
        for destination in ("b", "B", "a-1", "a_1", "a.1", "A"):
            store.outbox.append(uow, destination, [b"x"])
    assert store.outbox.destinations() == sorted(["b", "B", "a-1", "a_1", "a.1", "A"])


# --- row locks: a second writer waits for the first ----------------------------------


def _in_thread(target: Callable[[], None]) -> tuple[threading.Thread, list[BaseException]]:
    failures: list[BaseException] = []

    def run() -> None:
        try:
            target()
        except BaseException as exc:  # re-raised by the test
            failures.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, failures


def _race(
    store: PostgresStore,
    first_write: Callable[[UnitOfWork], object],
    second: Callable[[], None],
    *,
    commit: bool = True,
    during: Callable[[], None] = lambda: None,
) -> tuple[list[BaseException], list[BaseException]]:
    """``first_write`` in a unit of work held open while ``second`` starts in
    another thread; checks that ``second`` waits; then ends the first unit of
    work (commit or roll back). Returns the failures of both threads."""
    holding = threading.Event()
    release = threading.Event()

    def first() -> None:
        with store.unit_of_work() as uow:
            first_write(uow)
            holding.set()
            release.wait(10)
            if not commit:
                raise InjectedCrash

    t1, f1 = _in_thread(first)
    assert holding.wait(10)
    t2, f2 = _in_thread(second)
    time.sleep(0.3)
    waited = t2.is_alive()
    during()
    release.set()
    t1.join(10)
    t2.join(10)
    assert not t1.is_alive()
    assert not t2.is_alive()
    assert waited, "the second writer did not wait for the first"
    return f1, f2


@pytest.mark.parametrize("first_commits", [True, False])
def test_a_second_outbox_writer_waits_for_the_first(
    databases: _Databases, first_commits: bool
) -> None:
    store = _pool_store(databases)
    other = _pool_store(databases, store.schema)
    with store.unit_of_work() as uow:
        store.outbox.append(uow, "pref13", [b"0"])
    second: list[range] = []

    def then() -> None:
        with other.unit_of_work() as uow:
            second.append(other.outbox.append(uow, "pref13", [b"second"]))

    def while_waiting() -> None:
        assert second == []
        assert other.outbox.last_seq("pref13") == 1  # readers see committed numbers only
        assert len(other.outbox.read("pref13")) == 1

    f1, f2 = _race(
        store,
        lambda uow: store.outbox.append(uow, "pref13", [b"first"]),
        then,
        commit=first_commits,
        during=while_waiting,
    )
    assert [type(e) for e in f1] == ([] if first_commits else [InjectedCrash])
    assert f2 == []
    assert second == [range(3, 4) if first_commits else range(2, 3)]
    payloads = [e.payload for e in store.outbox.read("pref13")]
    assert payloads == ([b"0", b"first", b"second"] if first_commits else [b"0", b"second"])


def test_other_destinations_do_not_wait(databases: _Databases) -> None:
    store = _pool_store(databases)
    other = _pool_store(databases, store.schema)
    with store.unit_of_work() as uow:
        store.outbox.append(uow, "pref13", [b"held"])
        with other.unit_of_work() as uow2:  # another connection, not blocked
            assert other.outbox.append(uow2, "center", [b"free"]) == range(1, 2)
    assert store.outbox.destinations() == ["center", "pref13"]


def test_a_racing_tracking_advance_fails_after_the_first_commits(databases: _Databases) -> None:
    store = _pool_store(databases)
    other = _pool_store(databases, store.schema)
    for seq in (1, 2):

        def second(seq: int = seq) -> None:
            with other.unit_of_work() as uow:
                other.tracking.advance(uow, "city131016", seq)

        def first(uow: UnitOfWork, seq: int = seq) -> None:
            store.tracking.advance(uow, "city131016", seq)

        f1, f2 = _race(store, first, second)
        assert f1 == []
        assert [type(e) for e in f2] == [errors.IntegrityError]
        assert "already applied" in str(f2[0])
    assert store.tracking.senders() == {"city131016": 2}


def test_a_racing_register_append_is_refused(databases: _Databases) -> None:
    store = _pool_store(databases)
    other = _pool_store(databases, store.schema)
    with store.unit_of_work() as uow:
        store.register.append(uow, [_person(1)])

    def second() -> None:
        with other.unit_of_work() as uow:
            other.register.append(uow, [_person(1, 2)])

    f1, f2 = _race(store, lambda uow: store.register.append(uow, [_person(1, 2)]), second)
    assert f1 == []
    assert [type(e) for e in f2] == [errors.IntegrityError]
    assert "already exists" in str(f2[0])
    assert store.register.history("A0000001") == [_person(1), _person(1, 2)]


def test_allocate_skips_a_code_locked_by_another_unit_of_work(databases: _Databases) -> None:
    store = _pool_store(databases)
    other = _pool_store(databases, store.schema)
    codes = [rows.code(n) for n in (1, 2)]
    with store.unit_of_work() as uow:
        store.code_pool.designate(uow, MUNICIPALITIES[0], codes)
    with store.unit_of_work() as uow:
        first = store.code_pool.allocate(uow, MUNICIPALITIES[0])
        with other.unit_of_work() as uow2:  # does not block: SKIP LOCKED
            second = other.code_pool.allocate(uow2, MUNICIPALITIES[0])
            with other.unit_of_work() as uow3:
                assert other.code_pool.allocate(uow3, MUNICIPALITIES[0]) is None
    assert sorted([first or "", second or ""]) == codes
    assert store.code_pool.available(MUNICIPALITIES[0]) == 0


# --- bulk paths --------------------------------------------------------------------


def test_bulk_load_copies_many_rows(databases: _Databases) -> None:
    store = _store(databases)
    people = [_person(n) for n in range(1, 3001)]
    notices = [rows.identity_row(rows.code(n), 1) for n in range(1, 3001)]
    with store.unit_of_work() as uow:
        assert store.register.bulk_load(uow, people) == 3000
        assert store.identities.bulk_load(uow, notices) == 3000
        assert store.register.bulk_load(uow, ()) == 0
    assert store.register.count() == 3000
    assert store.identities.count() == 3000
    codes = [r.resident_code for r in people[::7]]
    assert store.register.current_many(codes) == {r.resident_code: r for r in people[::7]}
    assert store.identities.current_many(codes) == {
        r.resident_code: r for r in notices if r.resident_code in set(codes)
    }
    assert store.register.current_by_code(people[-1].resident_code) == people[-1]


def test_a_large_bulk_load_leaves_the_planner_statistics(databases: _Databases) -> None:
    """A load of ANALYZE_AFTER rows or more runs ANALYZE in its transaction, so the
    planner knows the new rows at once (not after autovacuum's next round)."""
    store = _store(databases)
    n = ANALYZE_AFTER
    people = [_person(k) for k in range(1, n + 1)]
    notices = [rows.identity_row(rows.code(k), 1) for k in range(1, n + 1)]
    with store.unit_of_work() as uow:
        store.register.bulk_load(uow, people)
        store.identities.bulk_load(uow, notices)
    with databases.connection(store.schema) as conn:
        analyzed = conn.execute(
            "SELECT tablename FROM pg_stats WHERE schemaname = %s GROUP BY tablename",
            [store.schema],
        ).fetchall()
        tuples = dict(
            conn.execute(
                "SELECT relname, reltuples FROM pg_class c JOIN pg_namespace s"
                " ON s.oid = c.relnamespace WHERE s.nspname = %s AND c.relkind = 'r'",
                [store.schema],
            ).fetchall()
        )
    tables = {"register_versions", "register_current", "register_codes"}
    tables |= {"identity_versions", "identity_current"}
    assert tables <= {t for (t,) in analyzed}
    assert all(tuples[t] == n for t in tables), tuples


def test_a_refused_copy_leaves_the_unit_of_work_usable(databases: _Databases) -> None:
    store = _store(databases)
    with store.unit_of_work() as uow:
        store.register.bulk_load(uow, [_person(1)])
    with store.unit_of_work() as uow:
        clash = [_person(n) for n in range(2, 100)] + [_person(1)]
        with pytest.raises(errors.IntegrityError) as info:
            store.register.bulk_load(uow, clash)
        assert isinstance(info.value.__cause__, psycopg.errors.UniqueViolation)
        assert store.register.count(uow=uow) == 1  # the savepoint was rolled back
        store.register.bulk_load(uow, [_person(2)])
    assert store.register.count() == 2


# --- error translation -------------------------------------------------------------


@pytest.mark.parametrize(
    ("driver", "jukinet_error"),
    [
        (psycopg.errors.UniqueViolation, errors.IntegrityError),
        (psycopg.errors.ForeignKeyViolation, errors.IntegrityError),
        (psycopg.errors.NumericValueOutOfRange, errors.DataError),
        (psycopg.errors.DeadlockDetected, errors.OperationalError),
        (psycopg.errors.SerializationFailure, errors.OperationalError),
        (psycopg.OperationalError, errors.OperationalError),
        (psycopg.errors.UndefinedTable, errors.ProgrammingError),
        (psycopg.errors.InFailedSqlTransaction, errors.InternalError),
        (psycopg.errors.FeatureNotSupported, errors.NotSupportedError),
        (psycopg.InterfaceError, errors.InterfaceError),
        (psycopg.DatabaseError, errors.DatabaseError),
        (psycopg.Error, errors.StorageError),
    ],
)
def test_driver_errors_are_translated_and_chained(
    driver: type[psycopg.Error], jukinet_error: type[errors.StorageError]
) -> None:
    original = driver("boom")
    with pytest.raises(jukinet_error) as info, _translated():
        raise original
    assert type(info.value) is jukinet_error
    assert info.value.__cause__ is original
    assert "boom" in str(info.value)


def test_a_lost_connection_is_an_operational_error(databases: _Databases) -> None:
    store = _store(databases, autocommit=True)
    conn = databases.opened[store.schema][0]
    assert isinstance(conn, psycopg.Connection)
    assert store.outbox.destinations() == []
    with psycopg.connect(databases.dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [conn.info.backend_pid])
    with pytest.raises(errors.OperationalError) as info:
        store.outbox.destinations()
    assert isinstance(info.value.__cause__, psycopg.OperationalError)
    with pytest.raises(errors.OperationalError, match="closed"):
        store.outbox.destinations()


def test_a_dropped_table_is_a_programming_error(databases: _Databases) -> None:
    store = _store(databases)
    with psycopg.connect(databases.dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP TABLE {}.outbox").format(sql.Identifier(store.schema)))
    with pytest.raises(errors.ProgrammingError) as info:
        store.outbox.read("pref13")
    assert isinstance(info.value.__cause__, psycopg.errors.UndefinedTable)
    assert store.outbox.destinations() == []  # the connection is still usable


# --- statements rendered once per store ----------------------------------------------


def test_statements_are_rendered_once_with_the_schema_quoted(
    databases: _Databases, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(databases)
    rendered = dict(store._sql)
    assert rendered, "create_schema() renders the statements"
    assert all(isinstance(text, bytes) for text in rendered.values())
    assert f'"{store.schema}".outbox'.encode() in rendered["outbox_read"]
    calls: list[object] = []
    original = sql.Composed.as_bytes

    def counting(self: sql.Composed, context: Any = None) -> bytes:
        calls.append(self)
        return original(self, context)

    monkeypatch.setattr(sql.Composed, "as_bytes", counting)
    with store.unit_of_work() as uow:
        store.outbox.append(uow, "pref13", [b"a", b"b"])
        store.register.append(uow, [_person(1)])
    assert store.outbox.read("pref13")[1].payload == b"b"
    assert store.register.current_by_code(rows.code(1)) == _person(1)
    ours = [c for c in calls if store.schema in repr(c)]  # psycopg composes its SAVEPOINTs
    assert ours == []
    assert store._sql == rendered


def test_a_store_renders_its_statements_at_first_use_of_a_pool(databases: _Databases) -> None:
    schema = databases.new_schema()
    first = _pool_store(databases, schema)
    second = PostgresStore(databases.pool(schema), schema=schema)
    assert second._sql == {}  # nothing touches the database until first use
    assert second.outbox.destinations() == []
    assert second._sql == first._sql


# --- v2: outbox acknowledgements and resume ----------------------------------------------


def test_the_outbox_head_keeps_last_seq_and_acked(databases: _Databases) -> None:
    store = _store(databases)
    with store.unit_of_work() as uow:
        store.outbox.append(uow, "pref13", [b"a", b"b", b"c"])
        store.outbox.acknowledge(uow, "pref13", 2)
        store.outbox.resume(uow, "center", 41)
    with psycopg.connect(databases.dsn, autocommit=True) as admin:
        heads = admin.execute(
            sql.SQL("SELECT destination, last_seq, acked FROM {}.outbox_heads").format(
                sql.Identifier(store.schema)
            )
        ).fetchall()
        assert sorted(heads) == [("center", 41, 41), ("pref13", 3, 2)]
        # the CHECK constraint keeps acked within 0 .. last_seq, whoever writes
        with pytest.raises(psycopg.errors.CheckViolation):
            admin.execute(
                sql.SQL("UPDATE {}.outbox_heads SET acked = 4 WHERE destination = 'pref13'").format(
                    sql.Identifier(store.schema)
                )
            )


def test_a_late_acknowledgement_does_not_wait_for_an_open_append(databases: _Databases) -> None:
    store = _pool_store(databases)
    other = _pool_store(databases, store.schema)
    with store.unit_of_work() as uow:
        store.outbox.append(uow, "pref13", [b"a", b"b"])
        store.outbox.acknowledge(uow, "pref13", 2)
    with store.unit_of_work() as uow:
        store.outbox.append(uow, "pref13", [b"c"])  # holds the head row lock
        with other.unit_of_work() as uow2:  # a no-op: takes no lock, does not block
            other.outbox.acknowledge(uow2, "pref13", 1)
            other.outbox.acknowledge(uow2, "pref13", 2)
            assert other.outbox.acknowledged("pref13", uow2) == 2
    assert store.outbox.acknowledged("pref13") == 2


def test_a_racing_resume_is_refused_after_the_first_commits(databases: _Databases) -> None:
    store = _pool_store(databases)
    other = _pool_store(databases, store.schema)

    def second() -> None:
        with other.unit_of_work() as uow:
            other.outbox.resume(uow, "pref13", 7)

    f1, f2 = _race(store, lambda uow: store.outbox.resume(uow, "pref13", 5), second)
    assert f1 == []
    assert [type(e) for e in f2] == [errors.IntegrityError]
    assert store.outbox.last_seq("pref13") == 5
    assert store.outbox.acknowledged("pref13") == 5


def test_a_resume_rolled_back_leaves_the_destination_fresh(databases: _Databases) -> None:
    store = _pool_store(databases)
    other = _pool_store(databases, store.schema)
    resumed: list[range] = []

    def second() -> None:
        with other.unit_of_work() as uow:
            other.outbox.resume(uow, "pref13", 7)
            resumed.append(other.outbox.append(uow, "pref13", [b"x"]))

    f1, f2 = _race(store, lambda uow: store.outbox.resume(uow, "pref13", 5), second, commit=False)
    assert [type(e) for e in f1] == [InjectedCrash]
    assert f2 == []
    assert resumed == [range(8, 9)]
    assert store.outbox.destinations() == ["pref13"]


# --- v2: tracking with last -------------------------------------------------------------


def test_a_racing_batch_advance_fails_after_the_first_commits(databases: _Databases) -> None:
    store = _pool_store(databases)
    other = _pool_store(databases, store.schema)

    def second() -> None:
        with other.unit_of_work() as uow:
            other.tracking.advance(uow, "city131016", 1, last=3)

    f1, f2 = _race(store, lambda uow: store.tracking.advance(uow, "city131016", 1, last=5), second)
    assert f1 == []
    assert [type(e) for e in f2] == [errors.IntegrityError]
    assert store.tracking.position("city131016") == 5


# --- v2: identities per (code, municipality) ----------------------------------------------


def test_identity_current_is_kept_per_code_and_municipality(databases: _Databases) -> None:
    store = _store(databases)
    code = rows.code(1)
    a, b = MUNICIPALITIES[0], MUNICIPALITIES[1]
    entry_b = rows.identity_row(code, 2, municipality=b, rest="2番地")
    with store.unit_of_work() as uow:
        store.identities.append(uow, [rows.identity_row(code, 1, municipality=a)])
        store.identities.append(uow, [entry_b])
        # A's removal arrives after B's entry: B stays current
        store.identities.append(uow, [rows.identity_row(code, 3, municipality=a, removed=True)])
    with psycopg.connect(databases.dsn, autocommit=True) as admin:
        found = admin.execute(
            sql.SQL(
                "SELECT municipality, version, removed FROM {}.identity_current"
                " WHERE resident_code = %s ORDER BY municipality"
            ).format(sql.Identifier(store.schema)),
            [code],
        ).fetchall()
    assert found == [(a, 3, True), (b, 2, False)]
    assert store.identities.current(code) == entry_b
    assert store.identities.last_versions([code, code]) == {code: 3}
    assert store.identities.count() == 1


def test_a_racing_identity_append_is_refused(databases: _Databases) -> None:
    store = _pool_store(databases)
    other = _pool_store(databases, store.schema)
    code = rows.code(1)
    a, b = MUNICIPALITIES[0], MUNICIPALITIES[1]
    with store.unit_of_work() as uow:
        store.identities.append(uow, [rows.identity_row(code, 1, municipality=a)])

    def second() -> None:
        with other.unit_of_work() as uow:
            other.identities.append(uow, [rows.identity_row(code, 2, municipality=b)])

    f1, f2 = _race(
        store,
        lambda uow: store.identities.append(uow, [rows.identity_row(code, 2, municipality=a)]),
        second,
    )
    assert f1 == []
    assert [type(e) for e in f2] == [errors.IntegrityError]
    assert [r.municipality for r in store.identities.history(code)] == [a, a]


# --- v2: the audit log ----------------------------------------------------------------


def _audit(n: int, at: datetime | None = None) -> AuditEntry:
    return AuditEntry(
        at=at or datetime(2026, 4, 1, 9, 0, n, tzinfo=timezone(timedelta(hours=9))),
        action="register.birth",
        subject=f"A{n:07d}",
        detail=b'{"n":%d}' % n,
    )


@pytest.mark.parametrize("session_zone", ["UTC", "Asia/Tokyo", "America/St_Johns"])
def test_audit_times_come_back_equal_in_utc_whatever_the_session_zone(
    databases: _Databases, session_zone: str
) -> None:
    store = _store(databases, autocommit=True)
    conn = databases.opened[store.schema][0]
    assert isinstance(conn, psycopg.Connection)
    conn.execute(sql.SQL("SET TIME ZONE {}").format(sql.Literal(session_zone)))
    entries = [
        _audit(1),
        _audit(2, datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=timezone(timedelta(hours=-3.5)))),
        _audit(3, datetime(1, 1, 1, tzinfo=UTC)),
        _audit(4, datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        _audit(5, datetime(2000, 1, 1, tzinfo=timezone(timedelta(hours=5, seconds=7)))),
    ]
    with store.unit_of_work() as uow:
        assert store.audit.append(uow, entries) == range(1, 6)
    records = store.audit.read()
    assert [r.entry for r in records] == entries
    assert all(r.entry.at.tzinfo is UTC for r in records)


def test_an_instant_outside_python_years_is_refused_before_writing(databases: _Databases) -> None:
    store = _store(databases)
    early = _audit(2, datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))))
    late = _audit(3, datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-2))))
    with store.unit_of_work() as uow:
        store.audit.append(uow, [_audit(1)])
        for entry in (early, late):
            with pytest.raises(errors.DataError, match="outside years"):
                store.audit.append(uow, [_audit(4), entry])
    assert store.audit.last_seq() == 1
    assert [r.entry for r in store.audit.read()] == [_audit(1)]


@pytest.mark.parametrize("first_commits", [True, False])
def test_a_second_audit_writer_waits_for_the_first(
    databases: _Databases, first_commits: bool
) -> None:
    store = _pool_store(databases)
    other = _pool_store(databases, store.schema)
    second: list[range] = []

    def then() -> None:
        with other.unit_of_work() as uow:
            second.append(other.audit.append(uow, [_audit(2)]))

    def while_waiting() -> None:
        assert second == []
        assert other.audit.last_seq() == 0  # readers see committed numbers only
        assert other.audit.read() == []

    f1, f2 = _race(
        store,
        lambda uow: store.audit.append(uow, [_audit(1)]),
        then,
        commit=first_commits,
        during=while_waiting,
    )
    assert [type(e) for e in f1] == ([] if first_commits else [InjectedCrash])
    assert f2 == []
    assert second == [range(2, 3) if first_commits else range(1, 2)]
    expected = [_audit(1), _audit(2)] if first_commits else [_audit(2)]
    assert [r.entry for r in store.audit.read()] == expected
    assert [r.seq for r in store.audit.read()] == list(range(1, len(expected) + 1))


# --- rows that cannot be read back -----------------------------------------------


def _raw(databases: _Databases, statement: str, params: list[object]) -> None:
    """Run one statement as someone with database access would, outside the adapter."""
    with psycopg.connect(databases.dsn, autocommit=True) as admin:
        admin.execute(statement.encode(), params)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("items", '["氏名"'),  # broken JSON (was a JSONDecodeError)
        ("items", '{"氏名": 1}'),  # JSON, not an array
        ("items", "[1, 2]"),  # an array of numbers
        ("kind", "bogus"),  # (was an InvalidComponent)
        ("request_id", "no spaces allowed"),
        ("hash", "xyz"),
        ("detail", b""),
    ],
)
def test_an_unreadable_provision_row_is_a_corrupt_record(
    databases: _Databases, column: str, value: object
) -> None:
    store = _store(databases)
    with store.unit_of_work() as uow:
        records = store.provision_log.append(uow, [rows.provision_entry(n) for n in range(1, 5)])
    _raw(
        databases,
        f'UPDATE "{store.schema}".provision_log SET "{column}" = %s WHERE seq = 2',
        [value],
    )
    with pytest.raises(errors.CorruptRecord) as caught:
        store.provision_log.read()
    error = caught.value
    assert isinstance(error, errors.DataError)
    assert (error.table, error.key, error.seq) == ("provision_log", (2,), 2)
    assert str(error).startswith("provision_log 2: the stored row cannot be read back")
    assert store.provision_log.read(after=2) == records[2:]
    with store.unit_of_work() as uow:
        assert store.provision_log.verify(uow) == [ChainFault(2, "altered")]


def test_other_unreadable_rows_name_their_table_and_key(databases: _Databases) -> None:
    store = _store(databases)
    agency = AgencyRow(
        agency="mhlw",
        public_key=bytes(32),
        registered_at=datetime(2026, 4, 1, tzinfo=UTC),
        recipients=("厚生労働省",),
    )
    with store.unit_of_work() as uow:
        store.agencies.register(uow, agency)
        store.audit.append(uow, [_audit(1)])
    _raw(databases, f'UPDATE "{store.schema}".agencies SET recipients = %s', ["厚生労働省"])
    with pytest.raises(errors.CorruptRecord) as caught:
        store.agencies.get("mhlw")
    assert (caught.value.table, caught.value.key, caught.value.seq) == ("agencies", ("mhlw",), None)
    _raw(databases, f'UPDATE "{store.schema}".audit_log SET action = %s', [""])
    with pytest.raises(errors.CorruptRecord) as caught:
        store.audit.read()
    assert (caught.value.table, caught.value.seq) == ("audit_log", 1)
