"""What every port shares: the unit of work a write belongs to, and :func:`chunks`
for bulk look-ups."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence


class UnitOfWork(ABC):
    """A transaction in progress: pass it to every write that belongs to it.

    Obtain one from :meth:`Store.unit_of_work`. It is valid only inside its
    ``with`` block and only with the store that made it; using it elsewhere
    raises :class:`~jukinet.errors.InterfaceError`.
    """

    @property
    @abstractmethod
    def active(self) -> bool:
        """Whether the unit of work can still be written to."""


def chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    """Split ``items`` into slices of at most ``size`` (for bulk look-ups)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
