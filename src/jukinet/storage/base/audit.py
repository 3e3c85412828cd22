"""The audit-log port (:class:`~jukinet.storage.base.AuditLog`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import attrs

from jukinet.storage.base.units import UnitOfWork
from jukinet.storage.records import (
    AuditEntry,
    AuditRecord,
)


class AuditLog(ABC):
    """A node's audit log: append-only, gap-free sequence numbers in commit order.

    A register change, its identity notice and its audit entry commit together;
    the 住民記録システム標準仕様書 requires operation logs kept safe from tampering
    (j1370).
    """

    @abstractmethod
    def append(self, uow: UnitOfWork, entries: Sequence[AuditEntry]) -> range:
        """Append entries; returns their sequence numbers."""

    @abstractmethod
    def read(
        self,
        *,
        after: int = 0,
        limit: int = 1000,
        action: str | None = None,
        uow: UnitOfWork | None = None,
    ) -> list[AuditRecord]:
        """Committed entries with ``seq > after``, in ``seq`` order, at most ``limit``.

        With ``action``, only the entries whose action equals it (exact match,
        no pattern); an action never written gives ``[]``. ``after`` and
        ``limit`` count in the whole log's sequence numbers, so a reader pages
        through one kind of entry by passing the last ``seq`` it saw. Adapters
        answer it from an index on (action, seq), not by scanning the log.

        Bad arguments are bad input (:class:`~jukinet.errors.ValidationError`,
        nothing read): ``after`` or ``limit`` not an integer from 0 to 2**63-1,
        an ``action`` that is not a ``str`` (:class:`~jukinet.errors.InvalidFormat`)
        or is a ``str`` no entry could hold (:meth:`check_action`).
        """

    @staticmethod
    def check_action(action: object) -> str | None:
        """Validate an ``action`` filter of :meth:`read` and return it.

        ``None`` (no filter) or a value :attr:`AuditEntry.action
        <jukinet.storage.records.AuditEntry.action>` accepts: the same rule, so the
        error is the one an entry with that action would raise
        (:class:`~jukinet.errors.InvalidFormat` for a non-``str``,
        :class:`~jukinet.errors.InvalidLength` for an empty or over-long one).

        >>> AuditLog.check_action("register.birth")
        'register.birth'
        >>> AuditLog.check_action(7)
        Traceback (most recent call last):
            ...
        jukinet.errors.InvalidFormat: action: got int (expected a str)
        """
        if action is None:
            return None
        field = attrs.fields(AuditEntry).action
        validate: Callable[..., object] | None = field.validator
        assert validate is not None
        validate(None, field, action)
        assert isinstance(action, str)
        return action

    @abstractmethod
    def last_seq(self, uow: UnitOfWork | None = None) -> int:
        """The highest sequence number written (0 if none)."""
