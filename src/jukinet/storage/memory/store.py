"""The in-memory store: :class:`MemoryStore`, which builds the ports.

A handle onto a :class:`~jukinet.storage.memory.MemoryDatabase`: it creates and
checks the schema, runs units of work (the write lock, then the staging applied
at commit), gives the ports what they need (:meth:`MemoryStore._read`,
:meth:`MemoryStore._write`), and opens the raw access tests and repair tools use
(:meth:`MemoryStore.raw_state`, :meth:`MemoryStore.reopen`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TypeVar

from jukinet.domain._repr import never_raises
from jukinet.errors import InterfaceError, OperationalError, ProgrammingError
from jukinet.storage.base import Store, UnitOfWork
from jukinet.storage.memory._state import (
    MemoryDatabase,
    MemoryState,
    MemoryUnitOfWork,
    _Pending,
    _View,
)
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

__all__ = ["MemoryStore"]

_T = TypeVar("_T")


class MemoryStore(Store):
    """A node's storage in memory: all ports, thread-safe, same rules as the databases.

    ``MemoryStore()`` makes a new, empty :class:`MemoryDatabase`;
    ``MemoryStore(other.database)`` opens another handle onto the same data
    (as a second connection would). ``lock_timeout`` is how many seconds a unit
    of work waits for another one to finish before raising
    :class:`~jukinet.errors.OperationalError`.
    """

    def __init__(self, database: MemoryDatabase | None = None, *, lock_timeout: float = 30.0):
        if database is not None and not isinstance(database, MemoryDatabase):
            raise InterfaceError(
                f"got {type(database).__name__}", field="database", expected="a MemoryDatabase"
            )
        self._database = database if database is not None else MemoryDatabase()
        self._lock_timeout = lock_timeout
        self._closed = False
        self._register = MemoryRegister(self)
        self._identities = MemoryIdentityStore(self)
        self._outbox = MemoryOutbox(self)
        self._tracking = MemoryTracking(self)
        self._code_pool = MemoryCodePool(self)
        self._audit = MemoryAuditLog(self)
        self._agencies = MemoryAgencyRegistry(self)
        self._provision_log = MemoryProvisionLog(self)
        self._schedule = MemorySchedule(self)
        self._pending = MemoryPendingNotices(self)
        self._cards = MemoryCardRegistry(self)
        self._counter = MemoryCounterStore(self)

    @never_raises
    def __repr__(self) -> str:
        """``<MemoryStore database=0x7f… open>``: which :class:`MemoryDatabase` (handles
        on the same one show the same address) and whether this handle is closed."""
        state = "closed" if self._closed else "open"
        return f"<MemoryStore database={id(self._database):#x} {state}>"

    @property
    def database(self) -> MemoryDatabase:
        """The storage this handle is open on."""
        return self._database

    @property
    def register(self) -> MemoryRegister:
        """The resident register port."""
        return self._register

    @property
    def identities(self) -> MemoryIdentityStore:
        """The identity-information port."""
        return self._identities

    @property
    def outbox(self) -> MemoryOutbox:
        """The outbox port."""
        return self._outbox

    @property
    def tracking(self) -> MemoryTracking:
        """The tracking port."""
        return self._tracking

    @property
    def code_pool(self) -> MemoryCodePool:
        """The code-pool port."""
        return self._code_pool

    @property
    def audit(self) -> MemoryAuditLog:
        """The audit-log port."""
        return self._audit

    @property
    def agencies(self) -> MemoryAgencyRegistry:
        """The agency-registry port."""
        return self._agencies

    @property
    def provision_log(self) -> MemoryProvisionLog:
        """The provision-log port."""
        return self._provision_log

    @property
    def schedule(self) -> MemorySchedule:
        """The schedule port."""
        return self._schedule

    @property
    def pending(self) -> MemoryPendingNotices:
        """The pending-notices port."""
        return self._pending

    @property
    def cards(self) -> MemoryCardRegistry:
        """The card-registry port."""
        return self._cards

    @property
    def counter(self) -> MemoryCounterStore:
        """The counter port (転出証明書情報 received, requests sent)."""
        return self._counter

    def create_schema(self) -> None:
        """Create the (in-memory) schema; idempotent; records :data:`SCHEMA_VERSION`
        (a version 2, 3, 4 or 5 schema is migrated: identity versions of a version 2
        one have an unknown arrival day; pending notices, cards, move-out infos and
        counter requests start empty)."""
        self._check_open()
        self._database._create_schema()
        self._database._checked_state()

    def check_schema(self) -> None:
        """Raise unless the schema exists at :data:`SCHEMA_VERSION`."""
        self._check_open()
        self._database._checked_state()

    def _acquire_write(self) -> MemoryDatabase:
        """Take the database's write lock, as a unit of work holds it (release it with
        :meth:`_release_write`)."""
        database = self._database
        if database._writer == threading.get_ident():
            raise OperationalError(
                "this thread already holds a unit of work on this storage",
                expected="one unit of work at a time per thread (it would wait for itself)",
            )
        if not database._write_lock.acquire(timeout=self._lock_timeout):
            raise OperationalError(
                f"the storage stayed locked by another unit of work for {self._lock_timeout} s",
                expected="the other unit of work to finish",
            )
        database._writer = threading.get_ident()
        return database

    def _release_write(self, database: MemoryDatabase) -> None:
        database._writer = None
        database._write_lock.release()

    @contextmanager
    def _unit_of_work(self) -> Iterator[MemoryUnitOfWork]:
        self.check_schema()
        database = self._acquire_write()
        uow = MemoryUnitOfWork(self)
        try:
            yield uow
            with database._state_lock:
                state = database._checked_state()
                uow._active = False
                state._apply(uow._pending)
        finally:
            uow._active = False
            self._release_write(database)

    def unit_of_work(self) -> AbstractContextManager[MemoryUnitOfWork]:
        """Begin a unit of work: commit on normal exit, roll back on an exception."""
        return self._unit_of_work()

    def close(self) -> None:
        """Close this handle: later calls raise InterfaceError; the data stays."""
        self._closed = True

    def reopen(self) -> MemoryStore:
        """Another handle onto the same :class:`MemoryDatabase`, closed separately
        (``MemoryStore(store.database)``, with this handle's ``lock_timeout``).

        >>> store = MemoryStore()
        >>> store.create_schema()
        >>> other = store.reopen()
        >>> with other.unit_of_work() as uow:
        ...     other.tracking.advance(uow, "city131016", 1)
        >>> other.close()
        >>> store.tracking.position("city131016")
        1

        A closed store raises :class:`~jukinet.errors.InterfaceError`.
        """
        self._check_open()
        return MemoryStore(self._database, lock_timeout=self._lock_timeout)

    @contextmanager
    def _raw_state(self) -> Iterator[MemoryState]:
        self._check_open()
        database = self._acquire_write()
        try:
            with database._state_lock:
                state = database._state
                if state is None:
                    raise ProgrammingError(
                        "the storage has no jukinet schema: call create_schema() first",
                        expected="a store whose create_schema() has run",
                    )
                yield state
        finally:
            self._release_write(database)

    def raw_state(self) -> AbstractContextManager[MemoryState]:
        """The committed :class:`MemoryState` itself, behind the ports' back, for tests,
        migrations and repair tools.

        This bypasses every check the ports make: nothing validates what the block
        changes, the schema version is not checked (:attr:`MemoryDatabase.meta`
        holds it), and the indexes are the caller's to keep in step. Changes are
        made in place and are not undone when the block raises (the memory adapter
        has no rollback below its units of work). For the block the store holds the
        database's write lock, as a unit of work does (waiting at most
        ``lock_timeout`` seconds, then :class:`~jukinet.errors.OperationalError`),
        and its state lock, so no handle reads or commits meanwhile: use no port of
        the same database inside it.

        >>> store = MemoryStore()
        >>> store.create_schema()
        >>> with store.raw_state() as state:
        ...     state.tracking["city131016"] = 7  # what a repair tool might do
        >>> store.tracking.position("city131016")
        7

        A closed store raises :class:`~jukinet.errors.InterfaceError`; a database
        whose schema was never created, :class:`~jukinet.errors.ProgrammingError`.
        """
        return self._raw_state()

    # -- used by the ports --

    def _check_open(self) -> None:
        if self._closed:
            raise InterfaceError("the store is closed", expected="an open store")

    def _write(self, uow: object) -> tuple[_View, _Pending]:
        """Check ``uow`` for a write; return the view to check against and its staging."""
        self._check_open()
        pending = self._own(uow)
        return _View(self._database._checked_state(), pending), pending

    def _own(self, uow: object) -> _Pending:
        if not isinstance(uow, MemoryUnitOfWork):
            raise InterfaceError(
                f"got {type(uow).__name__}",
                field="uow",
                expected="a unit of work from this store's unit_of_work()",
            )
        if uow._store is not self:
            raise InterfaceError(
                "the unit of work belongs to another store", field="uow", expected="this store's"
            )
        if not uow._active:
            raise InterfaceError(
                "the unit of work has ended", field="uow", expected="an active unit of work"
            )
        return uow._pending

    def _read(self, uow: UnitOfWork | None, read: Callable[[_View], _T]) -> _T:
        """Run ``read`` on committed data, or on a unit of work's view of it."""
        self._check_open()
        pending = None if uow is None else self._own(uow)
        database = self._database
        if pending is None:
            with database._state_lock:
                return read(_View(database._checked_state(), None))
        # the unit of work holds the write lock: the committed state cannot change
        return read(_View(database._checked_state(), pending))
