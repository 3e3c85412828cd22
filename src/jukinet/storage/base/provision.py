"""The provision-log port (提供記録, :class:`~jukinet.storage.base.ProvisionLog`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime

from jukinet.errors import CorruptRecord
from jukinet.storage.base.units import UnitOfWork
from jukinet.storage.records import (
    ChainFault,
    ProvisionEntry,
    ProvisionRecord,
    verify_chain,
)

_VERIFY_PAGE = 1000
"""Records per read while :meth:`ProvisionLog.verify` checks the chain."""


class ProvisionLog(ABC):
    """A provider's provision log (提供記録): append-only and hash-chained.

    Each record commits to the one before (:func:`~jukinet.storage.records.chain_hash`),
    so a changed, removed or reordered record is found by recomputing the chain
    from :meth:`anchor`. Sequence numbers are gap-free in commit order. Kept 7
    years, then removed from the oldest end by :meth:`purge`, which moves the
    anchor (the caller logs the purge itself).
    """

    @abstractmethod
    def append(self, uow: UnitOfWork, entries: Sequence[ProvisionEntry]) -> list[ProvisionRecord]:
        """Append entries after the head, chaining each to the one before; returns the
        stored records. Concurrent appenders are serialized (the head is read and
        written in the unit of work), so the chain never forks.
        """

    @abstractmethod
    def read(
        self,
        *,
        after: int = 0,
        limit: int = 1000,
        subject: str | None = None,
        uow: UnitOfWork | None = None,
    ) -> list[ProvisionRecord]:
        """Records with ``seq > after`` in ``seq`` order, at most ``limit``: committed
        ones, and with ``uow`` also that unit of work's own appends. With ``subject``
        (a resident code) only that person's, from an index on (subject, seq).
        Records are returned exactly as stored (never re-hashed), so a reader can
        check them.
        """

    @abstractmethod
    def has_request(
        self, request_id: str, uow: UnitOfWork | None = None, *, agency: str | None = None
    ) -> bool:
        """Whether a kept record carries this request id — with ``agency``, one of that
        agency's records (request ids are unique per agency; replays are refused) —
        from an index."""

    @abstractmethod
    def head(self, uow: UnitOfWork | None = None) -> tuple[int, str]:
        """The last sequence number and its hash; ``(anchor)`` when no record is kept."""

    @abstractmethod
    def anchor(self, uow: UnitOfWork | None = None) -> tuple[int, str]:
        """The sequence number and hash just before the oldest kept record:
        ``(0, GENESIS)`` until a purge."""

    @abstractmethod
    def purge(self, uow: UnitOfWork, *, before: datetime) -> int:
        """Remove records from the oldest end while their ``at`` is before ``before``
        (stopping at the first later one, so only a prefix goes), move the anchor to
        the last removed record; returns how many went.
        """

    def verify(self, uow: UnitOfWork) -> list[ChainFault]:
        """Recompute the chain of every kept record from :meth:`anchor` to :meth:`head`
        (:func:`~jukinet.storage.records.verify_chain`); an empty list: intact.

        Run it in a unit of work, so the anchor, the head and the records are one
        state. A record that cannot be read back (:meth:`read` raises
        :class:`~jukinet.errors.CorruptRecord` naming its ``seq``) is named
        ``altered`` and the check reads on past it. A :class:`~jukinet.errors.CorruptRecord`
        that names no ``seq`` after the last record read, or an unreadable head or
        anchor, is raised.
        """
        anchor, head = self.anchor(uow), self.head(uow)
        records: list[ProvisionRecord] = []
        unreadable: list[int] = []
        after, limit = anchor[0], _VERIFY_PAGE
        while True:
            try:
                batch = self.read(after=after, limit=limit, uow=uow)
            except CorruptRecord as exc:
                if exc.seq is None or exc.seq <= after:
                    raise
                if limit == 1:  # the one record this read had
                    unreadable.append(exc.seq)
                    after, limit = exc.seq, _VERIFY_PAGE
                    continue
                # Read up to the unreadable record: the records before it in one page
                # when none of them is missing, else in smaller pages.
                before = exc.seq - after - 1
                limit = before if 0 < before < limit else 1 if before == 0 else limit // 2
                continue
            if not batch:
                return verify_chain(anchor, records, head, unreadable=unreadable)
            records.extend(batch)
            after = batch[-1].seq
