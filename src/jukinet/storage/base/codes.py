"""The resident-code pool port (:class:`~jukinet.storage.base.CodePool`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from jukinet.storage.base.units import UnitOfWork


class CodePool(ABC):
    """Resident codes: those ever designated nationwide, and each municipality's pool.

    A code enters once (:meth:`designate`) and is never designated again
    (住基法30条の2第2項); a municipality draws an unused code from its pool with
    :meth:`allocate` (30条の3第2項), which never hands the same code out twice.
    """

    @abstractmethod
    def designate(self, uow: UnitOfWork, municipality: str, codes: Sequence[str]) -> None:
        """Add codes to a municipality's pool; a code designated before (to anyone) is an
        IntegrityError and nothing is added.
        """

    @abstractmethod
    def allocate(self, uow: UnitOfWork, municipality: str) -> str | None:
        """Take an unused code from the municipality's pool and mark it used; None if empty."""

    @abstractmethod
    def mark_used(self, uow: UnitOfWork, resident_code: str) -> None:
        """Mark a designated, unused code as used (e.g. one chosen by the caller).
        An unknown or already used code is an IntegrityError.
        """

    @abstractmethod
    def available(self, municipality: str, uow: UnitOfWork | None = None) -> int:
        """How many unused codes the municipality has left."""

    @abstractmethod
    def is_designated(self, resident_code: str, uow: UnitOfWork | None = None) -> bool:
        """Whether the code was ever designated (to anyone)."""

    @abstractmethod
    def designated_to(self, resident_code: str, uow: UnitOfWork | None = None) -> str | None:
        """The municipality the code was designated to, or None if it never was."""

    @abstractmethod
    def designated_count(self, uow: UnitOfWork | None = None) -> int:
        """How many codes were ever designated."""
