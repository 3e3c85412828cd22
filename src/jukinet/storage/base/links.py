"""The two ends of a link: the outbox a node sends from and the tracking of what it
applied (:class:`~jukinet.storage.base.Outbox`, :class:`~jukinet.storage.base.Tracking`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from jukinet.storage.base.units import UnitOfWork
from jukinet.storage.records import OutboxEntry


class Outbox(ABC):
    """A node's log of messages to send, per destination, gap-free and commit-ordered."""

    @abstractmethod
    def append(self, uow: UnitOfWork, destination: str, payloads: Sequence[bytes]) -> range:
        """Append payloads for ``destination``; returns the sequence numbers given."""

    @abstractmethod
    def read(
        self, destination: str, *, after: int = 0, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[OutboxEntry]:
        """Committed entries for ``destination`` with ``seq > after``, in order, at most ``limit``."""

    @abstractmethod
    def last_seq(self, destination: str, uow: UnitOfWork | None = None) -> int:
        """The highest sequence number given for ``destination`` (0 if none)."""

    @abstractmethod
    def destinations(self, uow: UnitOfWork | None = None) -> list[str]:
        """Every destination that has entries (or a head set by :meth:`resume`), sorted."""

    @abstractmethod
    def acknowledge(self, uow: UnitOfWork, destination: str, seq: int) -> None:
        """Record that ``destination`` confirmed every entry up to ``seq``.

        Monotonic: a ``seq`` at or below the acknowledged position is a no-op (acks
        may arrive late, twice or out of order). A ``seq`` above :meth:`last_seq`
        acknowledges entries never sent and is an IntegrityError.
        """

    @abstractmethod
    def acknowledged(self, destination: str, uow: UnitOfWork | None = None) -> int:
        """The highest sequence number ``destination`` confirmed (0 if none)."""

    @abstractmethod
    def resume(self, uow: UnitOfWork, destination: str, last_seq: int) -> None:
        """Continue a link after a disaster: for a destination with no entries and no
        head yet, set both the last and the acknowledged sequence number to
        ``last_seq`` (what the receiver already applied), so the next entry gets
        ``last_seq + 1``. Any other case is an IntegrityError.
        """


class Tracking(ABC):
    """What a node has applied from each sender: the last sequence number per sender."""

    @abstractmethod
    def position(self, sender: str, uow: UnitOfWork | None = None) -> int:
        """The last sequence number applied from ``sender`` (0 if none)."""

    @abstractmethod
    def advance(self, uow: UnitOfWork, sender: str, seq: int, *, last: int | None = None) -> None:
        """Record that ``seq`` (through ``last``, for a batch) from ``sender`` is applied,
        in the same unit of work as the effect. ``seq`` must be exactly position + 1:
        an already applied one (a re-delivery) or a skipped one raises
        IntegrityError, so applying twice is impossible. ``last`` (default ``seq``)
        below ``seq`` is bad input (InvalidComponent). The position becomes ``last``.
        """

    @abstractmethod
    def senders(self, uow: UnitOfWork | None = None) -> dict[str, int]:
        """Every sender with its position."""
