"""The port of the notices an upper tier holds pending
(:class:`~jukinet.storage.base.PendingNotices`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from jukinet.storage.base.units import UnitOfWork
from jukinet.storage.records import (
    PendingNotice,
    PendingRecord,
)


class PendingNotices(ABC):
    """Notices an upper tier received and has not applied yet, by the resident codes
    they are about (docs/tiers.md): at the centre those whose predecessor has not
    arrived, at a prefecture those it referred to the centre. Sequence numbers
    give the order they arrived in; they are never reused."""

    @abstractmethod
    def add(self, uow: UnitOfWork, entries: Sequence[PendingNotice]) -> range:
        """Keep notices; returns their sequence numbers, ascending."""

    @abstractmethod
    def find(
        self, resident_codes: Sequence[str], uow: UnitOfWork | None = None
    ) -> list[PendingRecord]:
        """Every pending notice about any of these codes, in arrival order."""

    @abstractmethod
    def remove(self, uow: UnitOfWork, seqs: Sequence[int]) -> int:
        """Forget these notices (applied or refused); absent ones are skipped. Returns
        how many went."""

    @abstractmethod
    def count(self, uow: UnitOfWork | None = None) -> int:
        """How many notices are pending."""
