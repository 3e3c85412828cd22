"""PostgreSQL adapter: :class:`PostgresStore` on psycopg 3.

Install with the ``postgres`` extra (``pip install jukinet[postgres]``); this
module imports :mod:`psycopg` and :mod:`psycopg_pool`, :mod:`jukinet` itself
does not.

The store works on a resource the caller owns and never closes: either one
:class:`psycopg.Connection` (units of work from several threads then take
turns, since one connection runs one transaction at a time) or a
:class:`psycopg_pool.ConnectionPool` (each unit of work borrows its own
connection, so units of work really run side by side). Every table lives in
one PostgreSQL schema, ``jukinet`` unless told otherwise, so several nodes (a
municipality, a prefecture, the national centre) can share one database::

    import psycopg
    from jukinet.storage.postgres import PostgresStore

    with psycopg.connect("dbname=juki") as conn:
        store = PostgresStore(conn, schema="city_131016")
        store.create_schema()              # once; idempotent
        with store.unit_of_work() as uow:
            store.outbox.append(uow, "pref-13", [b"notice"])

The schema name is checked when the store is made; nothing touches the
database until first use:

>>> from psycopg_pool import ConnectionPool
>>> pool = ConnectionPool("", open=False)      # not opened: no server needed here
>>> PostgresStore(pool, schema="city_131016").schema
'city_131016'
>>> PostgresStore(pool, schema="City 13")
Traceback (most recent call last):
    ...
jukinet.errors.InvalidFormat: schema: 'City 13' is not a plain schema name (expected ...)

Design notes:

* Tables are created only by :meth:`PostgresStore.create_schema` (``CREATE
  SCHEMA IF NOT EXISTS`` and ``CREATE TABLE IF NOT EXISTS``, under an advisory
  lock so two processes may race to create it). The version is the row
  ``('schema_version', '6')`` of ``jukinet_meta``, checked on first use with
  the presence of every table of that version. A version 2, 3, 4 or 5 schema is
  migrated by ``create_schema()`` in the same transaction (2 to 3: ``ALTER
  TABLE identity_versions ADD COLUMN received_on``; 3 to 4: the DDL adds
  ``pending_notices``; 4 to 5: the DDL adds ``cards`` and ``card_events``; 5 to
  6: the DDL adds ``move_out_infos`` and ``counter_requests``); any other
  version is refused.
* One live card per person (旧住基法30条の44, 番号法17条) is a partial unique
  index on ``cards (holder)`` over the cards in effect or suspended, so two
  units of work issuing to one holder at once cannot both commit.
* A 転出証明書情報 is used once (住基法24条の2): :meth:`PostgresCounterStore.use_info`
  locks the kept row before it checks it, so of two units of work using it at
  once the second waits and then finds it used.
* :meth:`PostgresIdentityStore.expire` is one statement: the codes with a
  version received before the cut-off (a partial index on
  ``identity_versions (received_on)``), per code how many of its oldest
  versions are due (each version joined to the next), and two deleting
  ``WITH`` parts for those versions and the ``identity_current`` rows among
  them.
* Every write call runs inside a savepoint of its unit of work, so a call that
  fails writes nothing and the unit of work stays usable; the whole unit of
  work commits or rolls back when its ``with`` block ends.
* Text key columns use ``COLLATE "C"``, so orderings (``scan``, ``destinations``,
  agencies, schedule keys) are by code point, as in the other adapters,
  whatever the database locale.
* Gap-free, commit-ordered numbers (the outbox per destination, the audit log,
  the provision log) come from a head row that a writer locks until its unit
  of work ends (``outbox_heads``, ``audit_head``, ``provision_meta``); the
  provision log's head row also carries the hash its next record chains to.
* Each port's statements are class attributes of a ``_Statements`` class beside
  it, composed once per store with :class:`psycopg.sql.Identifier` for the
  schema and rendered to bytes at the store's first use of a connection
  (quoting needs one), so no statement is rendered per call.
* Driver errors become :mod:`jukinet.errors` in one place, :func:`_translated`;
  a stored row that cannot be read back (a value changed outside the adapter,
  such as broken JSON) becomes a :class:`~jukinet.errors.CorruptRecord` naming
  the row in one place, :func:`~jukinet.storage.records.decode_rows`.

Modules of this package:

* ``_database``: connections, transactions, error translation
  (:func:`_translated`), :class:`PostgresUnitOfWork`, the ports' base class and
  what a port needs from its store, statements, shared helpers and
  :data:`ANALYZE_AFTER`;
* ``store``: :class:`PostgresStore`, which builds the ports and creates, checks
  and migrates the schema;
* one module per concern, each with its tables' DDL (``DDL``, ``TABLES``), its
  statements beside the class that runs them and its row codec: ``register``
  (:class:`PostgresRegister`), ``identity`` (:class:`PostgresIdentityStore`),
  ``links`` (:class:`PostgresOutbox`, :class:`PostgresTracking`), ``codes``
  (:class:`PostgresCodePool`), ``audit`` (:class:`PostgresAuditLog`),
  ``agencies`` (:class:`PostgresAgencyRegistry`), ``provision``
  (:class:`PostgresProvisionLog`), ``schedule`` (:class:`PostgresSchedule`),
  ``pending`` (:class:`PostgresPendingNotices`), ``cards``
  (:class:`PostgresCardRegistry`) and ``counter`` (:class:`PostgresCounterStore`).
"""

from __future__ import annotations

try:
    import psycopg as _psycopg  # noqa: F401
    import psycopg_pool as _psycopg_pool  # noqa: F401
except ModuleNotFoundError as _missing:  # pragma: no cover - depends on the install
    from jukinet.errors import MissingDependency

    raise MissingDependency(
        f"jukinet.storage.postgres needs {_missing.name}, which is not installed",
        expected="pip install 'jukinet[postgres]'",
    ) from _missing

from jukinet.storage.postgres import _database
from jukinet.storage.postgres._database import PostgresUnitOfWork
from jukinet.storage.postgres._database import _translated as _translated  # tests use it
from jukinet.storage.postgres.agencies import PostgresAgencyRegistry
from jukinet.storage.postgres.audit import PostgresAuditLog
from jukinet.storage.postgres.cards import PostgresCardRegistry
from jukinet.storage.postgres.codes import PostgresCodePool
from jukinet.storage.postgres.counter import PostgresCounterStore
from jukinet.storage.postgres.identity import PostgresIdentityStore
from jukinet.storage.postgres.links import PostgresOutbox, PostgresTracking
from jukinet.storage.postgres.pending import PostgresPendingNotices
from jukinet.storage.postgres.provision import PostgresProvisionLog
from jukinet.storage.postgres.register import PostgresRegister
from jukinet.storage.postgres.schedule import PostgresSchedule
from jukinet.storage.postgres.store import PostgresStore

ANALYZE_AFTER = _database.ANALYZE_AFTER
"""A ``bulk_load`` of at least this many rows ends with ``ANALYZE`` of the tables it
filled, in its own transaction. Until autovacuum gets round to it (a minute or more)
the planner knows nothing of a fresh million rows and plans a one-code look-up for
thousands (a parallel scan, ≈ 4 ms a query at 1,000,000 rows); ``ANALYZE`` samples
at most 30,000 rows a table, about a second for a million-row load."""

__all__ = [
    "ANALYZE_AFTER",
    "PostgresAgencyRegistry",
    "PostgresAuditLog",
    "PostgresCardRegistry",
    "PostgresCodePool",
    "PostgresCounterStore",
    "PostgresIdentityStore",
    "PostgresOutbox",
    "PostgresPendingNotices",
    "PostgresProvisionLog",
    "PostgresRegister",
    "PostgresSchedule",
    "PostgresStore",
    "PostgresTracking",
    "PostgresUnitOfWork",
]
