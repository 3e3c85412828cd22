"""The hooks, fixtures and helpers every conformance mixin builds on.

:class:`ConformanceHooks` holds the hooks an adapter's test class implements
(:meth:`~ConformanceHooks.create_store` is the one it must; every other hook it
leaves out makes only the tests that need it skip, with a reason naming the
hook), the ``store`` fixture and the helpers the tests share. :data:`SETTINGS` is
the Hypothesis settings of the suite's property tests, and :data:`TamperHow` the
ways :meth:`~ConformanceHooks.tamper_provision_log` changes a stored log.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, timedelta
from typing import Any, ClassVar, Literal, NoReturn

import pytest
from hypothesis import HealthCheck, settings

from jukinet.domain.changes import ChangeReason
from jukinet.errors import NotSupportedError
from jukinet.storage.base import Store
from jukinet.storage.records import IdentityRow, ProvisionRecord, RegisterRow
from jukinet.testing.conformance._rows import _AUDIT_EPOCH, _JST, RowFactory

SETTINGS = settings(
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.differing_executors,
        HealthCheck.too_slow,
    ],
    max_examples=25,
)
"""The Hypothesis settings of the suite's property tests (``@given`` on a method that
takes the ``store`` fixture): 25 examples, fixtures shared by the examples."""

TamperHow = Literal["alter", "delete", "swap", "truncate", "garble"]
"""How :meth:`ConformanceHooks.tamper_provision_log` changes the stored provision log."""

OPTIONAL_HOOKS = (
    "reopen_store",
    "create_store_without_schema",
    "set_schema_version",
    "downgrade_to_schema_2",
    "downgrade_to_schema_3",
    "downgrade_to_schema_4",
    "downgrade_to_schema_5",
    "garble_pending_notice",
    "tamper_provision_log",
)
"""The hooks a subclass may leave out: the tests that call one it left out skip
(``reopen_store`` only when the store's :meth:`~jukinet.storage.base.Store.reopen`
raises :class:`~jukinet.errors.NotSupportedError`)."""


def missing_hook(name: str, why: str = "") -> NoReturn:
    """Skip the running test: it needs the hook ``name``, which the subclass left out
    (``why``, if given, is added to the reason)."""
    reason = f"this test needs the {name} hook, which the subclass does not implement"
    pytest.skip(f"{reason}{', ' + why if why else ''}")


class ConformanceHooks:
    """The hooks, the ``store`` fixture and the shared helpers of the conformance suite.

    See :class:`~jukinet.testing.conformance.StoreConformance` for the hooks.
    """

    racing_rounds: ClassVar[int] = 30
    """Units of work each racing thread runs."""

    rows: ClassVar[RowFactory] = RowFactory()
    """Builds the rows the tests write."""

    # -- hooks --

    def create_store(self) -> Store:
        """Return a fresh, empty store with its schema created (required)."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement create_store(), the one required hook"
        )

    def reopen_store(self, store: Store) -> Store:
        """Return another handle (connection) onto the same storage as ``store``.

        The default is :meth:`store.reopen() <jukinet.storage.base.Store.reopen>`;
        when that raises :class:`~jukinet.errors.NotSupportedError` the test skips,
        its reason naming this hook and the store's message.
        """
        try:
            return store.reopen()
        except NotSupportedError as exc:
            missing_hook("reopen_store", f"and {type(store).__name__}.reopen() says: {exc}")

    def tamper_provision_log(self, store: Store, how: TamperHow, seq: int) -> None:
        """Change the stored log behind the port's back (as someone with database access):
        how="alter": change record seq's stored detail to b'{"tampered":true}' (hash untouched);
        how="delete": delete record seq;
        how="swap": exchange every stored column except seq between records seq and seq+1;
        how="truncate": delete record seq and every later one (head untouched);
        how="garble": make record seq unreadable, a stored value the adapter cannot read
        back as the record (the SQL adapters: ``items`` that is not JSON, the memory
        adapter: a kept value that is not a ProvisionRecord); the columns it is found
        by (seq, subject, request id) stay, so reads by subject still reach it."""
        missing_hook("tamper_provision_log")

    def create_store_without_schema(self) -> Store:
        """Return a store over fresh storage whose schema was never created."""
        missing_hook("create_store_without_schema")

    def set_schema_version(self, store: Store, version: int) -> None:
        """Overwrite the schema version recorded in ``store``'s storage."""
        missing_hook("set_schema_version")

    def downgrade_to_schema_2(self, store: Store) -> None:
        """Turn ``store``'s storage into what schema version 2 left, with raw access:
        identity versions without ``received_on`` (the SQL adapters drop the column
        and its index), no pending notices, no cards, no move-out infos and no
        counter requests (the SQL adapters drop their tables) and ``'2'`` recorded
        as the schema version."""
        missing_hook("downgrade_to_schema_2")

    def garble_pending_notice(self, store: Store, seq: int) -> None:
        """Make the stored pending notice ``seq`` unreadable behind the port's back,
        with raw access: a stored value the adapter cannot read back as the notice
        (the SQL adapters: an empty ``sender``, which no node has; the memory
        adapter: a kept value that is not a PendingRecord). What it is found by
        (its codes) stays."""
        missing_hook("garble_pending_notice")

    def downgrade_to_schema_3(self, store: Store) -> None:
        """Turn ``store``'s storage into what schema version 3 left, with raw access:
        no pending notices, no cards, no move-out infos and no counter requests (the
        SQL adapters drop their tables; the store holds none when this is called)
        and ``'3'`` recorded as the schema version."""
        missing_hook("downgrade_to_schema_3")

    def downgrade_to_schema_4(self, store: Store) -> None:
        """Turn ``store``'s storage into what schema version 4 left, with raw access:
        no cards and no counter data (the SQL adapters drop ``card_events``,
        ``cards``, ``move_out_infos`` and ``counter_requests``; the store holds none
        when this is called) and ``'4'`` recorded as the schema version."""
        missing_hook("downgrade_to_schema_4")

    def downgrade_to_schema_5(self, store: Store) -> None:
        """Turn ``store``'s storage into what schema version 5 left, with raw access:
        no move-out infos and no counter requests (the SQL adapters drop
        ``move_out_infos`` and ``counter_requests``; the store holds none when this
        is called) and ``'5'`` recorded as the schema version."""
        missing_hook("downgrade_to_schema_5")

    def dispose(self, store: Store) -> None:
        """Release a store made by :meth:`create_store` (default: close it)."""
        store.close()

    # -- fixtures and helpers --

    @pytest.fixture
    def store(self) -> Iterator[Store]:
        """A fresh store from :meth:`create_store`; handles and extra stores are released."""
        self._handles: list[Store] = []
        self._extra: list[Store] = []
        store = self.create_store()
        try:
            yield store
        finally:
            for handle in reversed(self._handles):
                handle.close()
            for extra in reversed(self._extra):
                self.dispose(extra)
            self.dispose(store)

    def handle(self, store: Store) -> Store:
        """Another handle onto ``store``'s storage, closed after the test."""
        other = self.reopen_store(store)
        self._handles.append(other)
        return other

    def another_store(self) -> Store:
        """A second independent store, disposed after the test."""
        other = self.create_store()
        self._extra.append(other)
        return other

    def person(
        self, store: Store, n: int, *, versions: int = 1, **kwargs: Any
    ) -> list[RegisterRow]:
        """Write person ``n`` (internal id ``A…n``, code ``code(n)``) with some versions."""
        rows = [
            self.rows.register_row(f"A{n:07d}", v, code=self.rows.code(n), **kwargs)
            for v in range(1, versions + 1)
        ]
        with store.unit_of_work() as uow:
            store.register.append(uow, rows)
        return rows

    def _move(
        self, code: str, version: int, to: str, *, removed: bool = False, rest: str = "1番地"
    ) -> IdentityRow:
        """Version ``version``: an entry in ``to`` (転入), or ``to``'s removal (転出)."""
        return self.rows.identity_row(
            code,
            version,
            municipality=to,
            rest=rest,
            reason=ChangeReason.DOMESTIC_MOVE_OUT if removed else ChangeReason.DOMESTIC_MOVE_IN,
        )

    def _timed_log(self, store: Store, minutes: Sequence[int]) -> list[ProvisionRecord]:
        """Append one entry per minute offset (entry n at minute ``minutes[n-1]``)."""
        entries = [
            self.rows.provision_entry(
                n, at=(_AUDIT_EPOCH + timedelta(minutes=m)).astimezone(_JST if n % 2 else UTC)
            )
            for n, m in enumerate(minutes, 1)
        ]
        with store.unit_of_work() as uow:
            return store.provision_log.append(uow, entries)
