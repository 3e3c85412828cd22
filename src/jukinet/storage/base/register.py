"""The resident register port (:class:`~jukinet.storage.base.Register`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from jukinet.storage.base.units import UnitOfWork
from jukinet.storage.records import RegisterRow


class Register(ABC):
    """A municipality's resident register (住民基本台帳): every version of every record.

    Records are found by the municipality's internal number (宛名番号) or by
    resident code; removed records (除票) stay and are found like the others.
    """

    @abstractmethod
    def append(self, uow: UnitOfWork, rows: Sequence[RegisterRow]) -> None:
        """Append versions. Each row's version must be the person's current version + 1
        (1 for a new person); a version already present is an IntegrityError, a skipped
        one too. A resident code already belonging to another internal number is an
        IntegrityError. All rows or none are written.
        """

    @abstractmethod
    def bulk_load(self, uow: UnitOfWork, rows: Sequence[RegisterRow]) -> int:
        """Load many first versions at once (a municipality joining, 初期移行).

        Every row must be version 1 (even in order within one call) of a person not
        yet in the register; the same
        checks as :meth:`append` apply, on the fast path of the driver (SQLite
        ``executemany``, PostgreSQL ``COPY``). Returns the number of rows loaded.
        """

    @abstractmethod
    def current(self, internal_id: str, uow: UnitOfWork | None = None) -> RegisterRow | None:
        """The newest version of the person with this internal number, or None."""

    @abstractmethod
    def current_by_code(
        self, resident_code: str, uow: UnitOfWork | None = None
    ) -> RegisterRow | None:
        """The newest version of the person who holds or held this resident code, or None."""

    @abstractmethod
    def current_many(
        self, resident_codes: Sequence[str], uow: UnitOfWork | None = None
    ) -> dict[str, RegisterRow]:
        """Bulk :meth:`current_by_code`: keyed by the codes asked for (those found); a
        code the person held earlier finds their newest version.
        """

    @abstractmethod
    def history(self, internal_id: str, uow: UnitOfWork | None = None) -> list[RegisterRow]:
        """Every version of one person, oldest first (empty if unknown)."""

    @abstractmethod
    def household(self, household_id: str, uow: UnitOfWork | None = None) -> list[RegisterRow]:
        """Newest versions of the registered (not removed) members of a household,
        ordered by internal number."""

    @abstractmethod
    def scan(
        self, *, after: str | None = None, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[RegisterRow]:
        """Newest versions ordered by internal number (code point order, SQL
        ``COLLATE "C"``), starting after ``after`` (paging)."""

    @abstractmethod
    def count(self, *, status: str | None = None, uow: UnitOfWork | None = None) -> int:
        """How many people (newest versions), optionally with one status."""
