"""Storage ports: the small interfaces every adapter implements.

A node (municipality, prefecture, national centre) owns one :class:`Store`. The
store hands out its ports (:attr:`Store.register`, :attr:`Store.identities`,
:attr:`Store.outbox`, :attr:`Store.tracking`, :attr:`Store.code_pool`,
:attr:`Store.audit`, :attr:`Store.cards`, :attr:`Store.counter` …) and
:meth:`Store.unit_of_work`. Every write takes the unit of work it belongs to,
so several writes across ports commit together or not at all::

    with store.unit_of_work() as uow:
        store.register.append(uow, [row])
        store.outbox.append(uow, "pref:13", [notice_bytes])
    # committed here; an exception inside the block rolls everything back

Reads take an optional unit of work: inside one they see its uncommitted
writes; outside they see committed data only.

The ports: :class:`Register`, :class:`IdentityStore`, :class:`Outbox`,
:class:`Tracking`, :class:`CodePool`, :class:`AuditLog`, :class:`AgencyRegistry`,
:class:`ProvisionLog`, :class:`Schedule`, :class:`PendingNotices`, :class:`CardRegistry`,
:class:`CounterStore`.

Semantics every adapter keeps (checked by :mod:`jukinet.testing.conformance`):

* Bad input (a non-record, a wrong type, an oversize field, a bad check digit)
  raises a :class:`~jukinet.errors.JukinetError` and writes nothing.
* A duplicate (same key written twice, a code designated twice) raises
  :class:`~jukinet.errors.IntegrityError`; the whole unit of work is rolled back
  when the error leaves the ``with`` block.
* Outbox sequence numbers per destination are 1, 2, 3 … with no gaps, in commit
  order: a reader that has seen *n* never later finds an entry below *n* appear.
* History is never overwritten: versions are appended, never updated. The only
  deletion of history is :meth:`IdentityStore.expire`, of identity versions whose
  retention period is over (令30条の6・令30条の7), always from a code's oldest end.
  (Working data that the law has erased is no history: the 転出証明書情報 a
  destination keeps only until its day, :meth:`CounterStore.erase_infos`,
  24条の2第4項.)
* A resident code is handed out by the pool at most once, ever.

Adapters: :mod:`jukinet.storage.memory`, :mod:`jukinet.storage.sqlite`,
:mod:`jukinet.storage.postgres`.

The package holds one module per concern, named as the adapters' modules are
(:mod:`jukinet.storage.memory`, :mod:`~jukinet.storage.sqlite`,
:mod:`~jukinet.storage.postgres`): ``units`` (:class:`UnitOfWork`, ``chunks``),
``register``, ``identity``, ``links`` (:class:`Outbox`, :class:`Tracking`),
``codes``, ``audit``, ``agencies``, ``provision``, ``schedule``, ``pending``,
``cards``, ``counter``, and ``store`` (:class:`Store`, the only one that imports the
port modules). Every name is imported from here, the package:
``from jukinet.storage.base import Register, Store, UnitOfWork``.
"""

from __future__ import annotations

from jukinet.storage.base.agencies import AgencyRegistry
from jukinet.storage.base.audit import AuditLog
from jukinet.storage.base.cards import CardRegistry
from jukinet.storage.base.codes import CodePool
from jukinet.storage.base.counter import CounterStore
from jukinet.storage.base.identity import IdentityStore
from jukinet.storage.base.links import Outbox, Tracking
from jukinet.storage.base.pending import PendingNotices
from jukinet.storage.base.provision import ProvisionLog
from jukinet.storage.base.register import Register
from jukinet.storage.base.schedule import Schedule
from jukinet.storage.base.store import Store
from jukinet.storage.base.units import UnitOfWork
from jukinet.storage.base.units import chunks as chunks  # the adapters' bulk look-ups

__all__ = [
    "SCHEMA_VERSION",
    "AgencyRegistry",
    "AuditLog",
    "CardRegistry",
    "CodePool",
    "CounterStore",
    "IdentityStore",
    "Outbox",
    "PendingNotices",
    "ProvisionLog",
    "Register",
    "Schedule",
    "Store",
    "Tracking",
    "UnitOfWork",
]

SCHEMA_VERSION = 6
"""The version of the database schema this code reads and writes.

Version 2 added the provision ports (agencies, provision log, schedule); version 3
the day each identity version was received (``identity_versions.received_on``,
:attr:`IdentityRow.received_on <jukinet.storage.records.IdentityRow.received_on>`);
version 4 the notices an upper tier holds pending (:class:`PendingNotices`);
version 5 the resident IC cards a municipality issued (:class:`CardRegistry`);
version 6 what the counter services across municipalities keep (:class:`CounterStore`:
the 転出証明書情報 received and the requests sent to other municipalities).
:meth:`Store.create_schema` migrates a version 2, 3, 4 or 5 store to 6 in one
transaction (identity versions already stored get an unknown day, ``NULL``; the
pending, card and counter tables start empty); any other version is refused.
"""
