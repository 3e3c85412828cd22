"""The SQLite adapter: standard-library :mod:`sqlite3`, one database per node.

:class:`SQLiteStore` takes a file path, ``":memory:"`` or a connection factory
and implements every port of :mod:`jukinet.storage.base`::

    store = SQLiteStore("municipality-131016.db")
    store.create_schema()                       # once; idempotent
    with store.unit_of_work() as uow:
        store.register.append(uow, rows)
        store.outbox.append(uow, "pref-13", payloads)

>>> store = SQLiteStore(":memory:")
>>> store.create_schema()
>>> with store.unit_of_work() as uow:
...     store.outbox.append(uow, "pref-13", [b"first", b"second"])
range(1, 3)
>>> [entry.seq for entry in store.outbox.read("pref-13")]
[1, 2]
>>> store.close()

Transactions
    Connections run in autocommit mode (``isolation_level=None``). A unit of
    work is ``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` when an exception
    leaves the block), so writers are serialized by SQLite's write lock, which
    is what makes outbox and audit-log sequence numbers gap-free and
    commit-ordered and code allocation race-free. Each port write also runs
    inside a ``SAVEPOINT``: a call that fails writes nothing even when the
    caller catches the error and carries on with the unit of work. A unit of
    work waits at most ``busy_timeout`` seconds for the write lock, then
    raises :class:`~jukinet.errors.OperationalError` (``database is locked``).

Connections and threads
    Every thread gets its own connections (:class:`threading.local`): one for
    reads outside a unit of work and one for its units of work, so a read
    with ``uow=None`` sees committed data only, even on the thread whose unit
    of work is open. Databases run in WAL mode (``PRAGMA journal_mode=WAL``),
    so readers never wait for the writer. A connection whose thread has ended
    is closed the next time the store opens a connection;
    :meth:`SQLiteStore.close` closes every connection the store opened.

    ``":memory:"`` is a private temporary file, removed on close(): a
    database file in its own :func:`tempfile.mkdtemp` directory, created on
    first use, in WAL mode like any other file, so it has exactly the same
    isolation and concurrency as a file database (an SQLite in-memory
    database cannot be read by a second connection while a write is open).
    The directory is removed when the last handle onto it closes (or, if
    none is ever closed, when the handles are garbage-collected or the
    interpreter exits). Being disposable, it runs with ``PRAGMA synchronous =
    OFF`` (no fsync per commit).

    :meth:`SQLiteStore.reopen` gives another handle onto the same database,
    with its own connections: a store on the same path or factory, or, for
    ``":memory:"``, one sharing the temporary file (which lives until the
    last of the handles closes).

    :meth:`SQLiteStore.raw_transaction` gives tests, migrations and repair
    tools one of the store's connections inside ``BEGIN IMMEDIATE``, behind
    the ports' back: raw SQL, committed when the block ends normally and
    rolled back when an exception leaves it.

    A unit of work belongs to the thread that opened it; opening a second one
    on the same thread while the first is open raises
    :class:`~jukinet.errors.InterfaceError` (SQLite has no nested
    transactions; pass the open unit of work down instead). Through another
    handle onto the same database it would wait for the write lock held by
    the first, and fail after ``busy_timeout`` with
    :class:`~jukinet.errors.OperationalError`.

Connection factory
    ``SQLiteStore(factory)`` calls ``factory()`` whenever it needs a
    connection; every call must return a *new* connection to the *same*
    database file (for example ``lambda: sqlite3.connect(path,
    check_same_thread=False)``). A factory returning
    ``sqlite3.connect(":memory:")`` is a caller error: each call would open
    a separate, empty in-memory database, so reads, writes and the schema
    check would land in different databases (use ``SQLiteStore(":memory:")``
    instead). The factory stays the caller's; the connections it returned
    are the store's, configured by it (autocommit, ``foreign_keys``,
    ``busy_timeout``, WAL for a file) and closed by
    :meth:`SQLiteStore.close`.

Identities
    ``identity_current`` keeps one row per (resident code, municipality):
    that municipality's newest version of the code. The person's current
    version is chosen among a code's rows (not removed first, then the
    highest version) by a correlated sub-query on the primary key.
    ``identity_versions.received_on`` (ISO text, ``NULL`` when unknown) is
    indexed where known: :meth:`SQLiteIdentityStore.expire` finds the codes
    with a version received before its cut-off through that index, works out
    per code how many of the oldest versions are due with one grouped query
    (each version joined to the next), and deletes them and the
    ``identity_current`` rows that were among them.

Schema versions
    The schema version is 6. :meth:`SQLiteStore.create_schema` migrates a
    version 2, 3, 4 or 5 database to 6 in its ``BEGIN IMMEDIATE`` transaction
    (from 2, ``ALTER TABLE identity_versions ADD COLUMN received_on`` and its
    index; the pending-notice tables of version 4, the card tables of version 5
    and the move-out info and counter request tables of version 6 are created
    empty; then the recorded version); a database of any other version is
    refused unchanged.

Cards
    ``cards`` holds each card's current state and ``card_events`` every event;
    a partial unique index on the holder of the live cards keeps one card in
    effect or suspended per person (旧住基法30条の44, 番号法17条).

Counter services
    ``move_out_infos`` keeps the 転出証明書情報 received (住基法24条の2第3項) by
    certificate number, indexed by resident code and by the day it is erased
    (24条の2第4項; 令24条の4); ``counter_requests`` the requests sent to other
    municipalities, the unanswered ones in a partial index by the day asked.

Provision log
    ``provision_log`` holds the hash-chained records (提供記録) as written;
    the two ``provision_meta`` rows hold the head and the anchor, so a
    truncated log is seen (the head names a record that is gone).
    :meth:`SQLiteProvisionLog.append` reads and moves the head inside the
    unit of work, whose ``BEGIN IMMEDIATE`` serializes appenders: the chain
    never forks.

Driver errors
    Every :class:`sqlite3.Error` is translated into the
    :mod:`jukinet.errors` class of the same PEP 249 name in one place
    (:func:`_translate`), with the original chained as ``__cause__``.

Rows read back
    Every row read is turned into its record by :func:`_decode`, the one
    place where a row that cannot be read back (a value changed outside the
    adapter: broken JSON, a date that is no date, a value of the wrong type)
    becomes a :class:`~jukinet.errors.CorruptRecord` naming the table and the
    row's key (and ``seq`` for a log entry).

Modules
    ``_database``
        connections (one reader and one writer per thread, the temporary file
        behind ``":memory:"``), error translation (:func:`_translate`), the
        argument helpers, :class:`SQLiteUnitOfWork`, and the ``_Port`` base with
        the ``_Database`` protocol (what a port needs from its store).
    ``store``
        :class:`SQLiteStore`: builds the ports; ``create_schema`` runs each
        concern module's ``DDL`` in order, checks and migrates schema versions.
    ``register``, ``identity``, ``links`` (outbox, tracking), ``codes``, ``audit``, ``agencies``, ``provision``, ``schedule``, ``pending``, ``cards``, ``counter``
        one concern each: its tables (``DDL``, ``TABLES``), its statements, its
        row codec and its port class.
"""

from jukinet.storage.sqlite import _database
from jukinet.storage.sqlite._database import SQLiteUnitOfWork
from jukinet.storage.sqlite._database import (
    _translate as _translate,  # tests reach it as jukinet.storage.sqlite._translate
)
from jukinet.storage.sqlite.agencies import SQLiteAgencyRegistry
from jukinet.storage.sqlite.audit import SQLiteAuditLog
from jukinet.storage.sqlite.cards import SQLiteCardRegistry
from jukinet.storage.sqlite.codes import SQLiteCodePool
from jukinet.storage.sqlite.counter import SQLiteCounterStore
from jukinet.storage.sqlite.identity import SQLiteIdentityStore
from jukinet.storage.sqlite.links import SQLiteOutbox, SQLiteTracking
from jukinet.storage.sqlite.pending import SQLitePendingNotices
from jukinet.storage.sqlite.provision import SQLiteProvisionLog
from jukinet.storage.sqlite.register import SQLiteRegister
from jukinet.storage.sqlite.schedule import SQLiteSchedule
from jukinet.storage.sqlite.store import SQLiteStore

# Bound here (not only imported) so that the API docs show them with their docstrings.
DEFAULT_BUSY_TIMEOUT = _database.DEFAULT_BUSY_TIMEOUT
"""Seconds a connection waits for a lock before ``database is locked``."""

CHUNK_SIZE = _database.CHUNK_SIZE
"""Most parameters in one ``IN (...)`` list of a bulk look-up."""

__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_BUSY_TIMEOUT",
    "SQLiteAgencyRegistry",
    "SQLiteAuditLog",
    "SQLiteCardRegistry",
    "SQLiteCodePool",
    "SQLiteCounterStore",
    "SQLiteIdentityStore",
    "SQLiteOutbox",
    "SQLitePendingNotices",
    "SQLiteProvisionLog",
    "SQLiteRegister",
    "SQLiteSchedule",
    "SQLiteStore",
    "SQLiteTracking",
    "SQLiteUnitOfWork",
]
