"""A node's storage: :class:`~jukinet.storage.base.Store`, which hands out every port.

The one module of :mod:`jukinet.storage.base` that imports the port modules; none of
them imports it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager

from jukinet.errors import NotSupportedError
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
from jukinet.storage.base.units import UnitOfWork


class Store(ABC):
    """A node's storage: its ports and its units of work.

    Create the schema once with :meth:`create_schema`; opening a store whose
    schema is missing or of another version raises
    :class:`~jukinet.errors.ProgrammingError` /
    :class:`~jukinet.errors.SchemaVersionMismatch` on first use.
    """

    @property
    @abstractmethod
    def register(self) -> Register:
        """The resident register port."""

    @property
    @abstractmethod
    def identities(self) -> IdentityStore:
        """The identity-information port."""

    @property
    @abstractmethod
    def outbox(self) -> Outbox:
        """The outbox port."""

    @property
    @abstractmethod
    def tracking(self) -> Tracking:
        """The tracking port."""

    @property
    @abstractmethod
    def code_pool(self) -> CodePool:
        """The code-pool port."""

    @property
    @abstractmethod
    def audit(self) -> AuditLog:
        """The audit-log port."""

    @property
    @abstractmethod
    def agencies(self) -> AgencyRegistry:
        """The agency-registry port."""

    @property
    @abstractmethod
    def provision_log(self) -> ProvisionLog:
        """The provision-log port."""

    @property
    @abstractmethod
    def schedule(self) -> Schedule:
        """The schedule port."""

    @property
    @abstractmethod
    def pending(self) -> PendingNotices:
        """Notices received and not yet applied (upper tiers)."""

    @property
    @abstractmethod
    def cards(self) -> CardRegistry:
        """The resident IC cards a municipality issued."""

    @property
    @abstractmethod
    def counter(self) -> CounterStore:
        """What the counter services across municipalities keep (転出証明書情報
        received, requests sent to other municipalities)."""

    @abstractmethod
    def create_schema(self) -> None:
        """Create the tables (idempotent) and record :data:`SCHEMA_VERSION`.

        A store at schema version 2, 3, 4 or 5 is migrated to :data:`SCHEMA_VERSION` in
        one transaction, its data kept (see :data:`SCHEMA_VERSION`); another version raises
        :class:`~jukinet.errors.SchemaVersionMismatch` and changes nothing.
        """

    @abstractmethod
    def check_schema(self) -> None:
        """Raise unless the schema exists at :data:`SCHEMA_VERSION` (an older store:
        :class:`~jukinet.errors.SchemaVersionMismatch` saying to run
        :meth:`create_schema` to migrate it)."""

    @abstractmethod
    def unit_of_work(self) -> AbstractContextManager[UnitOfWork]:
        """Begin a unit of work: commit on normal exit, roll back on an exception."""

    @abstractmethod
    def close(self) -> None:
        """Release what the store opened itself (never a caller-owned resource).

        Idempotent; afterwards every call on this handle raises InterfaceError.
        """

    def reopen(self) -> Store:
        """Another handle onto the same storage, opened and closed separately.

        What a second connection to the same database is: it sees what the other
        handles commit, its own units of work are isolated from theirs, and closing
        one handle leaves the others open. Tests use it for what another connection
        sees and for racing writers (the conformance hook ``reopen_store``).

        The built-in adapters override it; this default raises
        :class:`~jukinet.errors.NotSupportedError`, as does an adapter that cannot
        open another handle on what it was given (a
        :class:`~jukinet.storage.postgres.PostgresStore` on one caller-owned
        connection). An adapter's ``reopen()`` on a closed store raises
        :class:`~jukinet.errors.InterfaceError`.
        """
        raise NotSupportedError(
            f"{type(self).__name__} cannot open another handle onto its storage",
            expected="a store class that implements reopen()",
        )

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
