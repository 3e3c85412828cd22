"""The storage conformance suite: one set of tests every adapter must pass.

The ports in :mod:`jukinet.storage.base` promise semantics (duplicates refused,
all-or-nothing batches, gap-free outbox numbers, history never overwritten,
codes never handed out twice …). This package checks them against any
:class:`~jukinet.storage.base.Store`, the shape of eventsourcing's
``tests/persistence.py``: subclass :class:`StoreConformance` once per adapter
in a test module and implement its hooks::

    # tests/test_storage_mine.py
    from jukinet.testing.conformance import StoreConformance, make_stateful_test

    class TestMyStore(StoreConformance):
        def create_store(self) -> Store:  # the one required hook
            store = MyStore(...)
            store.create_schema()
            return store

        # the optional hooks: each one left out skips the tests that need it

        def reopen_store(self, store: Store) -> Store:  # default: store.reopen()
            return MyStore(...same storage, another connection...)

        def create_store_without_schema(self) -> Store:
            return MyStore(...fresh storage, create_schema() never called...)

        def set_schema_version(self, store: Store, version: int) -> None:
            ...  # write `version` into the stored schema version

        def downgrade_to_schema_2(self, store: Store) -> None:
            ...  # make the storage what schema version 2 was (see the method)

        def downgrade_to_schema_3(self, store: Store) -> None:
            ...  # make the storage what schema version 3 was (see the method)

        def downgrade_to_schema_4(self, store: Store) -> None:
            ...  # make the storage what schema version 4 was (see the method)

        def downgrade_to_schema_5(self, store: Store) -> None:
            ...  # make the storage what schema version 5 was (see the method)

        def garble_pending_notice(self, store: Store, seq: int) -> None:
            ...  # make a stored pending notice unreadable (see the method)

        def tamper_provision_log(self, store: Store, how: str, seq: int) -> None:
            ...  # change the stored provision log with raw access (see the method)

    TestMyStoreStateful = make_stateful_test(my_create_store).TestCase

The base class is not named ``Test…`` so pytest collects only the subclasses.
It needs the ``testing`` extra (pytest and Hypothesis). :meth:`~StoreConformance.create_store`
is the one hook a subclass must implement; every other hook it leaves out makes
only the tests that need it skip, with a reason naming the hook ("this test needs
the tamper_provision_log hook, …"), never the whole class. A complete adapter
implements them all (``.ci/run`` fails when a PostgreSQL test skips).

The rules come from the law where the law sets them: a resident code is never
designated twice (住基法30条の2第2項) and a municipality draws unused codes from
its pool (30条の3第2項); the prefecture and the national centre keep every
notice they receive (30条の6第3項, 30条の7; kept 150 years, 令30条の6・令30条の7),
and removed records (除票) are kept too (令34条1項) — so history is appended,
never overwritten, and identity versions are deleted only when their 150 years
are over, from each code's oldest end (``IdentityStore.expire``). A person who
moves is notified by two municipalities over two independent links
(30条の6第1項), so an upper tier keeps each municipality's newest word on a
person: a removal that arrives late from the municipality they left never
hides their entry in the new one. A person holds at most one resident IC card in
effect (旧住基法30条の44, 番号法17条), and a card's events are kept. A
destination keeps the 転出証明書情報 it was sent until the planned move-out day +
30 days (24条の2第4項, 令24条の4), and a move-in is registered from it once.

The package holds one module per concern, each a mixin class of tests over
:class:`~jukinet.testing.conformance.hooks.ConformanceHooks`:

* ``hooks``: :class:`ConformanceHooks` (the hooks, the ``store`` fixture and the
  shared helpers), :data:`SETTINGS` (the Hypothesis settings of the property tests),
  :data:`TamperHow`, :data:`OPTIONAL_HOOKS` and :func:`missing_hook`;
* ``_rows``: the fixed values, :class:`RowFactory`, :func:`snapshot`, the
  ``read_all_*`` readers and the racing-thread runner;
* ``schema`` (fresh, closed, migrated stores), ``register``, ``identity``,
  ``retention`` (expiry of identity versions), ``links`` (outbox, tracking),
  ``codes`` (code pool), ``audit``, ``agencies``, ``provision`` (provision log),
  ``provision_chain`` (its hash chain against tampering), ``schedule``, ``pending``,
  ``cards`` (resident IC cards), ``cards_adopt`` (a card adopted at a later version),
  ``counter`` (move-out infos received, requests sent to other municipalities) and
  ``units_of_work``: the mixins, composed into :class:`StoreConformance` here;
* ``stateful``: :func:`make_stateful_test`, over ``_model`` (the plain-dict model),
  ``_machine`` (building rows, register and identity rules) and ``_machine_ports``
  (the other ports' rules).
"""

from __future__ import annotations

from jukinet.testing.conformance._rows import (
    BAD_CHECK_DIGIT_CODE,
    MUNICIPALITIES,
    InjectedCrash,
    RowFactory,
    read_all_agencies,
    read_all_audit,
    read_all_outbox,
    read_all_provision,
    read_all_scheduled,
    snapshot,
)
from jukinet.testing.conformance.agencies import AgencyConformance
from jukinet.testing.conformance.audit import AuditConformance
from jukinet.testing.conformance.cards import CardConformance
from jukinet.testing.conformance.cards_adopt import CardAdoptConformance
from jukinet.testing.conformance.codes import CodePoolConformance
from jukinet.testing.conformance.counter import CounterConformance
from jukinet.testing.conformance.hooks import (
    OPTIONAL_HOOKS,
    SETTINGS,
    ConformanceHooks,
    TamperHow,
    missing_hook,
)
from jukinet.testing.conformance.identity import IdentityConformance
from jukinet.testing.conformance.links import LinksConformance
from jukinet.testing.conformance.pending import PendingConformance
from jukinet.testing.conformance.provision import ProvisionConformance
from jukinet.testing.conformance.provision_chain import ProvisionChainConformance
from jukinet.testing.conformance.register import RegisterConformance
from jukinet.testing.conformance.retention import RetentionConformance
from jukinet.testing.conformance.schedule import ScheduleConformance
from jukinet.testing.conformance.schema import SchemaConformance
from jukinet.testing.conformance.stateful import make_stateful_test
from jukinet.testing.conformance.units_of_work import UnitOfWorkConformance

__all__ = [
    "BAD_CHECK_DIGIT_CODE",
    "MUNICIPALITIES",
    "OPTIONAL_HOOKS",
    "SETTINGS",
    "AgencyConformance",
    "AuditConformance",
    "CardAdoptConformance",
    "CardConformance",
    "CodePoolConformance",
    "ConformanceHooks",
    "CounterConformance",
    "IdentityConformance",
    "InjectedCrash",
    "LinksConformance",
    "PendingConformance",
    "ProvisionChainConformance",
    "ProvisionConformance",
    "RegisterConformance",
    "RetentionConformance",
    "RowFactory",
    "ScheduleConformance",
    "SchemaConformance",
    "StoreConformance",
    "TamperHow",
    "UnitOfWorkConformance",
    "make_stateful_test",
    "missing_hook",
    "read_all_agencies",
    "read_all_audit",
    "read_all_outbox",
    "read_all_provision",
    "read_all_scheduled",
    "snapshot",
]


class StoreConformance(
    SchemaConformance,
    RegisterConformance,
    IdentityConformance,
    RetentionConformance,
    LinksConformance,
    CodePoolConformance,
    AuditConformance,
    AgencyConformance,
    ProvisionConformance,
    ProvisionChainConformance,
    ScheduleConformance,
    PendingConformance,
    CardConformance,
    CardAdoptConformance,
    CounterConformance,
    UnitOfWorkConformance,
):
    """Tests every :class:`~jukinet.storage.base.Store` must pass; subclass per adapter.

    Hooks (override in the subclass):

    * :meth:`create_store` (required): a fresh, empty store, schema created.
      It may be called more than once in one test; each call returns an
      independent store.
    * :meth:`reopen_store`: a second handle onto the same storage
      as ``store`` (another connection for a database). Racing tests give
      each thread its own handle, and the tests of what another connection
      sees read through one. The suite closes every handle with
      ``close()`` after the test. The default is
      :meth:`store.reopen() <jukinet.storage.base.Store.reopen>`; the tests that
      need it skip when that raises :class:`~jukinet.errors.NotSupportedError`.
    * :meth:`create_store_without_schema`: a store over fresh storage whose
      ``create_schema()`` was never called.
    * :meth:`set_schema_version`: overwrite the schema version recorded in
      ``store``'s storage.
    * :meth:`downgrade_to_schema_2`: make ``store``'s storage what schema
      version 2 was (no arrival day on identity versions, no pending notices, no
      cards, no move-out infos or counter requests, version 2 recorded), so that
      the tests can check the migration of
      :meth:`Store.create_schema <jukinet.storage.base.Store.create_schema>`.
    * :meth:`downgrade_to_schema_3`: make ``store``'s storage what schema
      version 3 was (no pending notices, no cards, no counter data, version 3
      recorded), for the same.
    * :meth:`downgrade_to_schema_4`: make ``store``'s storage what schema
      version 4 was (no cards, no counter data, version 4 recorded), for the same.
    * :meth:`downgrade_to_schema_5`: make ``store``'s storage what schema
      version 5 was (no move-out infos, no counter requests, version 5
      recorded), for the same.
    * :meth:`garble_pending_notice`: make one stored pending notice unreadable,
      so that the tests can check it is read as a
      :class:`~jukinet.errors.CorruptRecord`.
    * :meth:`tamper_provision_log`: change the stored provision log
      behind the port's back, with raw access to the storage, so that the
      tests can check that :func:`~jukinet.storage.records.verify_chain` finds it.
      The built-in adapters' tests write this hook and the others that change
      storage on their stores' public raw access
      (:meth:`SQLiteStore.raw_transaction
      <jukinet.storage.sqlite.SQLiteStore.raw_transaction>`,
      :meth:`PostgresStore.raw_transaction
      <jukinet.storage.postgres.PostgresStore.raw_transaction>`,
      :meth:`MemoryStore.raw_state <jukinet.storage.memory.MemoryStore.raw_state>`).
    * :meth:`dispose`: release a store from :meth:`create_store` or
      :meth:`create_store_without_schema` (default: ``store.close()``).

    Every hook but :meth:`create_store` is optional: a test that calls one the
    subclass left out skips with the reason "this test needs the <hook> hook, which
    the subclass does not implement" (:data:`~jukinet.testing.conformance.hooks.OPTIONAL_HOOKS`
    lists them); the other tests run. A subclass with no ``create_store`` fails
    every test (``NotImplementedError``) rather than pass none.

    Tunables: :attr:`racing_rounds` (units of work per racing thread).
    """
