"""Test configuration: Hypothesis profiles and the PostgreSQL guard.

Hypothesis profiles (choose with ``HYPOTHESIS_PROFILE``):

* ``dev`` (default): 20 examples per property, for everyday runs.
* ``ci``: bounded for ``.ci/run`` (50 examples, derandomized so CI is repeatable).
* ``deep``: long runs, 2,000 examples each: ``HYPOTHESIS_PROFILE=deep python -m pytest``.

PostgreSQL tests carry the ``postgres`` marker and read ``JUKINET_TEST_POSTGRES_DSN``;
they skip with a reason when it is unset. With ``JUKINET_REQUIRE_POSTGRES=1`` (set by
``.ci/run``) a skipped ``postgres`` test fails the run.

The everyday subset is ``pytest -m "not slow"``: it leaves out the tests marked
``slow`` (the stateful country, the largest designation, the notebook, the benchmark
smoke runs, ...) and every ``postgres`` test, which is marked ``slow`` here (each one
creates its schemas on the server). The full run, as ``.ci/run`` does it, is
``pytest``.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from jukinet.storage.base import Store
from jukinet.storage.memory import MemoryStore
from jukinet.storage.sqlite import SQLiteStore
from jukinet.testing.country import StoreFactory
from jukinet.tiers.messages import NodeId

settings.register_profile("dev", max_examples=20, deadline=None)
settings.register_profile(
    "ci",
    max_examples=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "deep", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

_skipped_postgres: list[str] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every PostgreSQL test is also ``slow``: left out of ``pytest -m "not slow"``."""
    for item in items:
        if item.get_closest_marker("postgres") is not None:
            item.add_marker(pytest.mark.slow)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and "postgres" in report.keywords:
        _skipped_postgres.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("JUKINET_REQUIRE_POSTGRES") == "1" and _skipped_postgres:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"FAILED: {len(_skipped_postgres)} PostgreSQL test(s) skipped although "
                "JUKINET_REQUIRE_POSTGRES=1:",
                red=True,
            )
            for nodeid in _skipped_postgres[:20]:
                reporter.write_line(f"  {nodeid}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def postgres_dsn() -> str:
    """The DSN of the test PostgreSQL server; skips when unset."""
    dsn = os.environ.get("JUKINET_TEST_POSTGRES_DSN")
    if not dsn:
        pytest.skip("JUKINET_TEST_POSTGRES_DSN is not set: PostgreSQL tests need a server")
    return dsn


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_factory(request: pytest.FixtureRequest) -> Iterator[StoreFactory]:
    """A factory of empty stores, one per node, on each adapter in turn (PostgreSQL:
    a schema per store, dropped afterwards)."""
    if request.param == "memory":

        def memory(node: NodeId) -> Store:
            store = MemoryStore()
            store.create_schema()
            return store

        yield memory
    elif request.param == "sqlite":
        with tempfile.TemporaryDirectory(prefix="jukinet-restore-") as folder:
            stores: list[SQLiteStore] = []
            serial = itertools.count()

            def sqlite(node: NodeId) -> Store:
                name = f"{str(node).replace(':', '_')}-{next(serial)}.db"
                store = SQLiteStore(Path(folder) / name)
                store.create_schema()
                stores.append(store)
                return store

            yield sqlite
            for store in stores:
                store.close()
    else:
        import psycopg
        from psycopg import sql

        from jukinet.storage.postgres import PostgresStore

        dsn = request.getfixturevalue("postgres_dsn")
        conn = psycopg.connect(dsn, autocommit=True)
        run = os.urandom(4).hex()
        schemas: list[str] = []
        serial = itertools.count()

        def postgres(node: NodeId) -> Store:
            schema = f"jukinet_restore_{run}_{next(serial)}"
            schemas.append(schema)
            store = PostgresStore(conn, schema=schema)
            store.create_schema()
            return store

        yield postgres
        for schema in schemas:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        conn.close()
