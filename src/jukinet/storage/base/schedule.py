"""The schedule port (:class:`~jukinet.storage.base.Schedule`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import date

from jukinet.storage.base.units import UnitOfWork
from jukinet.storage.records import ScheduledItem


class Schedule(ABC):
    """Work due on a date, by unique key (e.g. a JPKI deadline, JPKI法31条)."""

    @abstractmethod
    def add(self, uow: UnitOfWork, items: Sequence[ScheduledItem]) -> None:
        """Add items; a key already scheduled (or repeated in ``items``) is an
        IntegrityError and nothing is added."""

    @abstractmethod
    def cancel(self, uow: UnitOfWork, keys: Sequence[str]) -> int:
        """Remove the items with these keys (absent keys are skipped); returns how many."""

    @abstractmethod
    def get(self, key: str, uow: UnitOfWork | None = None) -> ScheduledItem | None:
        """The item with this key, or None."""

    @abstractmethod
    def due(
        self, on: date, *, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[ScheduledItem]:
        """Items due on or before ``on``, ordered by (due, key), at most ``limit``."""
