"""Test configuration: Hypothesis profiles and the PostgreSQL guard.

Hypothesis profiles (choose with ``HYPOTHESIS_PROFILE``):

* ``dev`` (default): 100 examples per property.
* ``ci``: bounded for ``.ci/run`` (50 examples, derandomized so CI is repeatable).
* ``deep``: long runs, 2,000 examples each: ``HYPOTHESIS_PROFILE=deep python -m pytest``.

PostgreSQL tests carry the ``postgres`` marker and read ``JUKINET_TEST_POSTGRES_DSN``;
they skip with a reason when it is unset. With ``JUKINET_REQUIRE_POSTGRES=1`` (set by
``.ci/run``) a skipped ``postgres`` test fails the run.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=100, deadline=None)
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
