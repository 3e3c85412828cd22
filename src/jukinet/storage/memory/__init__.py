"""The in-memory storage adapter: a real implementation of every port.

:class:`MemoryStore` keeps the same semantics and raises the same errors as the
SQLite and PostgreSQL adapters, and passes the same conformance suite
(:mod:`jukinet.testing.conformance`). It is what tests, notebooks and small
simulations use::

    >>> from jukinet.storage.memory import MemoryStore
    >>> store = MemoryStore()
    >>> store.create_schema()
    >>> with store.unit_of_work() as uow:
    ...     store.outbox.append(uow, "pref13", [b"notice 1", b"notice 2"])
    range(1, 3)
    >>> [entry.seq for entry in store.outbox.read("pref13")]
    [1, 2]
    >>> with store.unit_of_work() as uow:
    ...     store.outbox.acknowledge(uow, "pref13", 2)
    >>> store.outbox.acknowledged("pref13")
    2

How it works, in database terms:

* The data lives in a :class:`MemoryDatabase` (the "file"); a
  :class:`MemoryStore` is one handle (a "connection") onto it. Several handles
  can share one database — ``MemoryStore(store.database)`` — and each may be
  used from its own thread.
* The schema exists only after :meth:`MemoryStore.create_schema`; before it
  every port call raises :class:`~jukinet.errors.ProgrammingError`. The schema
  version is kept in :attr:`MemoryDatabase.meta` (the ``jukinet_meta`` table of
  the SQL adapters); a different version raises
  :class:`~jukinet.errors.SchemaVersionMismatch`.
* A unit of work holds the database's write lock from start to end, like
  SQLite's ``BEGIN IMMEDIATE``: writers run one at a time, waiting up to
  ``lock_timeout`` seconds (then :class:`~jukinet.errors.OperationalError`).
  Its writes are staged in the unit of work and applied to the committed
  state at commit, all at once; readers outside a unit of work never wait
  for a writer and see committed data only (snapshot reads, as in WAL mode).
* Every call validates all of its arguments, then checks every row against
  the staged and committed state, before it stages anything: a call that
  raises leaves the unit of work as it was. An exception leaving the ``with``
  block discards everything staged.
* Ordered indexes are :mod:`sortedcontainers` structures: the current versions
  by internal number and by resident code (scan, paging), the identity search
  index on (name key, birth date), the codes per municipality, and the
  destinations of the outbox. Each destination's outbox is a list whose
  index is the sequence number minus one (minus the number it was resumed at,
  see :meth:`MemoryOutbox.resume`), which makes numbers gap-free by
  construction; the audit log is such a list too, with each action's
  sequence numbers kept beside it in order (the SQL adapters' index on
  ``audit_log (action, seq)``). Acknowledged positions and resumed starts
  are kept per destination, like the ``acked`` and ``last_seq`` columns of
  the SQL adapters' ``outbox_heads``.
* The provision log is a sorted mapping from sequence number to record (the
  SQL adapters' ``provision_log``), with its head and anchor kept apart (their
  ``provision_meta``), so a record removed behind the port's back leaves the
  head naming it; indexes give each subject's and each request id's sequence
  numbers. A purge inside a unit of work is staged as the new anchor: every
  record up to it, committed or staged, is gone for that unit of work's reads
  and at commit. A kept value that is no longer the record stored (changed in
  place behind the port's back) is read as a
  :class:`~jukinet.errors.CorruptRecord` naming its ``seq``, as the SQL
  adapters read a row they cannot decode. Agencies are kept by name,
  scheduled items by key with an index on (due, key); a cancelled item is
  staged as a tombstone.
* For identities, besides every version per code, each municipality's newest
  word on each code is kept (the SQL adapters' ``identity_current`` table,
  keyed by code and municipality); a code's current version is derived from
  those words when they change, and the search index holds the words that are
  not removed, as (code, municipality) pairs. Versions with a known arrival day
  are indexed by (day, code, version), so :meth:`MemoryIdentityStore.expire`
  looks only at codes with a version received before its cut-off; an expiry
  inside a unit of work is staged as the highest committed version deleted per
  code (and drops the staged versions it reaches), and applied at commit, where
  the words of the municipalities left with no version are dropped.
* Pending notices are kept by sequence number (the highest ever given is kept
  too, so none is reused), with an index from each resident code to the
  numbers of its notices; like a provision record, a kept value changed in
  place is read as a :class:`~jukinet.errors.CorruptRecord` naming its ``seq``,
  and can still be removed.
* Cards are kept by card id with their events, with an index from each holder
  to their live card (one per person, the SQL adapters' partial unique index) and
  the live cards ordered by (move-in day, card id) and (expiry day, card id).
* Move-out infos (転出証明書情報) are kept by certificate number, with an index
  from each resident code to its infos by planned day and one of every info by
  erasure day (so :meth:`MemoryCounterStore.erase_infos` reaches only the infos
  due); an erasure inside a unit of work is staged as a tombstone. Requests sent
  are kept by request id, the unanswered ones ordered by (day asked, request id).
* :meth:`MemoryStore.reopen` is ``MemoryStore(store.database)``, another handle.
  :meth:`MemoryStore.raw_state` gives tests, migrations and repair tools the
  committed :class:`MemoryState` itself, behind the ports' back, under the
  database's locks (every check bypassed, the indexes the caller's to keep in
  step), as raw SQL on a connection of its own would for the SQL adapters.
* :meth:`MemoryStore.close` releases nothing (the memory belongs to the
  database object) but makes that handle refuse every later call with
  :class:`~jukinet.errors.InterfaceError`, like a closed DB-API connection;
  other handles keep working. Closing twice is allowed.

The modules, one room per concern (the same names as the SQL adapters'):

* ``_database``: what every port module shares: the argument helpers, the merge
  of a committed and a staged stream of keys, ``_Port`` and the ``_Database``
  protocol of what a port needs from its store (``_read``/``_write``), typed by
  the port's own part of the view and of the staging.
* ``_state``: the shared state, composed of each concern's parts:
  :class:`MemoryState` (committed data and indexes, and its ``_apply`` at commit),
  ``_Pending`` (a unit of work's staging), ``_View`` (committed data seen through a
  staging);
  :class:`MemoryDatabase` and :class:`MemoryUnitOfWork`.
* ``store``: :class:`MemoryStore`, which runs units of work and builds the ports.
* ``register``: :class:`MemoryRegister` and the register's part of the state.
* ``identity``: :class:`MemoryIdentityStore`, the identities' part of the state
  and the rules that derive a code's current and due versions.
* ``links``: :class:`MemoryOutbox` and :class:`MemoryTracking`, and their part.
* ``codes``: :class:`MemoryCodePool` and the code pool's part.
* ``audit``: :class:`MemoryAuditLog` and the audit log's part.
* ``agencies``: :class:`MemoryAgencyRegistry` and the registry's part.
* ``provision``: :class:`MemoryProvisionLog`, the log's part and the reading of
  a kept record (:class:`~jukinet.errors.CorruptRecord` when it was changed).
* ``schedule``: :class:`MemorySchedule` and the schedule's part.
* ``pending``: :class:`MemoryPendingNotices`, the pending notices' part and the
  reading of a kept notice.
* ``cards``: :class:`MemoryCardRegistry` and the cards' part.
* ``counter``: :class:`MemoryCounterStore` and the counter's part (move-out
  infos received, requests sent).

Each concern module's part is three small classes: its committed data
(``_RegisterState``, with ``_apply_register``), its staging (``_RegisterPending``)
and its view (``_RegisterView``); a port is typed against its own part only.
"""

from __future__ import annotations

from jukinet.storage.memory._state import MemoryDatabase, MemoryState, MemoryUnitOfWork
from jukinet.storage.memory.agencies import MemoryAgencyRegistry
from jukinet.storage.memory.audit import MemoryAuditLog
from jukinet.storage.memory.cards import MemoryCardRegistry
from jukinet.storage.memory.codes import MemoryCodePool
from jukinet.storage.memory.counter import MemoryCounterStore
from jukinet.storage.memory.identity import MemoryIdentityStore
from jukinet.storage.memory.links import MemoryOutbox, MemoryTracking
from jukinet.storage.memory.pending import MemoryPendingNotices
from jukinet.storage.memory.provision import MemoryProvisionLog
from jukinet.storage.memory.register import MemoryRegister
from jukinet.storage.memory.schedule import MemorySchedule
from jukinet.storage.memory.store import MemoryStore

__all__ = [
    "MemoryAgencyRegistry",
    "MemoryAuditLog",
    "MemoryCardRegistry",
    "MemoryCodePool",
    "MemoryCounterStore",
    "MemoryDatabase",
    "MemoryIdentityStore",
    "MemoryOutbox",
    "MemoryPendingNotices",
    "MemoryProvisionLog",
    "MemoryRegister",
    "MemorySchedule",
    "MemoryState",
    "MemoryStore",
    "MemoryTracking",
    "MemoryUnitOfWork",
]
