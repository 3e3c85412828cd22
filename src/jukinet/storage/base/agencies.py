"""The agency-registry port (:class:`~jukinet.storage.base.AgencyRegistry`)."""

from __future__ import annotations

from abc import ABC, abstractmethod

from jukinet.storage.base.units import UnitOfWork
from jukinet.storage.records import AgencyRow


class AgencyRegistry(ABC):
    """The agencies registered with a provider (the centre, or a prefecture for its own
    tables), each with its signing key and the recipients it may act as (住基法30条の9〜30条の15).
    """

    @abstractmethod
    def register(self, uow: UnitOfWork, row: AgencyRow) -> None:
        """Register an agency. A name registered before is an IntegrityError (keys are
        never silently replaced); nothing is written then.
        """

    @abstractmethod
    def get(self, agency: str, uow: UnitOfWork | None = None) -> AgencyRow | None:
        """The agency's registration, or None."""

    @abstractmethod
    def list(
        self, *, after: str | None = None, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[AgencyRow]:
        """Registrations ordered by name (code point order), after ``after``, at most ``limit``."""
