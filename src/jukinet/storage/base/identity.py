"""The identity-information port of the upper tiers
(:class:`~jukinet.storage.base.IdentityStore`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import date

from jukinet.storage.base.units import UnitOfWork
from jukinet.storage.records import (
    IdentityQuery,
    IdentityRow,
)


class IdentityStore(ABC):
    """An upper tier's copy of identity information (本人確認情報), every version kept.

    Versions are numbered per resident code (1, 2, 3 … in the order they were
    applied) and never changed. Because a person who moves appears in the notices of
    two municipalities, whose links are independent, the store also keeps the
    newest version *per (code, municipality)*: that municipality's latest word on
    the person. From those, the person's *current* version is the newest one that
    is not removed (the municipality where they are registered); if every one is
    removed (a death, a move abroad, a code replaced), the newest removed one.
    A removal that arrives after the person's registration elsewhere therefore
    never hides that registration.

    Versions are kept for the periods of 令30条の6・令30条の7 (150 years) and then
    deleted by :meth:`expire`, from each code's oldest end: a code's kept versions
    always run without a gap from its oldest kept one (which may be above 1) to
    its highest.
    """

    @abstractmethod
    def append(self, uow: UnitOfWork, rows: Sequence[IdentityRow]) -> None:
        """Append versions. Each row's version must be the code's highest version + 1
        (1 for a new code, also after :meth:`expire` deleted every version of it); a
        version already present or a skipped one is an IntegrityError. Several
        versions of one code may come in order in one call. All rows or none.
        """

    @abstractmethod
    def bulk_load(self, uow: UnitOfWork, rows: Sequence[IdentityRow]) -> int:
        """Load many first versions at once (an initial upload, version 1 only, even in
        order within one call, of codes not present: a code is present while any
        version of it is kept); returns the count.
        """

    @abstractmethod
    def load_histories(self, uow: UnitOfWork, rows: Sequence[IdentityRow]) -> int:
        """Load whole histories of codes not yet present, as an upper tier keeps them
        (a municipality restoring from the upper tiers' packages,
        :mod:`jukinet.tiers.restore`); returns the number of rows.

        Each code's rows come in order without a gap, from any first version: the
        older ones may have expired at the upper tier (令30条の6・令30条の7). A
        code already present, a version out of order or a gap is an
        IntegrityError. All rows or none.
        """

    @abstractmethod
    def expire(self, uow: UnitOfWork, *, received_before: date) -> int:
        """Delete the versions whose retention period is over; returns how many went.

        A version is *due* (令30条の6・令30条の7, for the prefecture and the centre)
        when

        a. the code's next version (version + 1) was received before
           ``received_before``: a version notified after a 記載 or 修正 is kept
           until 150 years after a newer notice for the same person arrived; or
        b. it is removed and was itself received before ``received_before``: a
           version notified after a 消除 is kept 150 years from that notice.

        An unknown day (:attr:`~jukinet.storage.records.IdentityRow.received_on`
        None) never makes a version due. Only a code's oldest versions go: its
        versions are deleted from the oldest up to the first one that is not due,
        so the kept ones still run without a gap and the highest goes only with
        all the others. With days that rise with the version, as the tiers
        record them, that is every due version; a version that is not due (an
        unknown day, say) keeps the older versions of its code as well.

        Afterwards every read follows what is kept: :meth:`history` starts at
        the oldest kept version; a municipality none of whose versions of a code
        is kept has no word on it any more (:meth:`scan`, :meth:`count` and
        :meth:`search` by municipality leave it out) and the current version is
        chosen among the words kept. A code whose every version went (only a
        removed newest version can be due) is unknown again: no current
        version, an empty history, absent from :meth:`last_versions`,
        :meth:`scan` and :meth:`count`; a later notice would start it at
        version 1.

        ``received_before`` that is not a date (or is a datetime) is an
        InvalidFormat and nothing is deleted.
        """

    @abstractmethod
    def last_versions(
        self, resident_codes: Sequence[str], uow: UnitOfWork | None = None
    ) -> dict[str, int]:
        """The highest version per code, for the codes found (the next is that + 1).
        A code whose every version expired is not found."""

    @abstractmethod
    def current(self, resident_code: str, uow: UnitOfWork | None = None) -> IdentityRow | None:
        """The person's current version (see the class docstring), or None."""

    @abstractmethod
    def current_many(
        self, resident_codes: Sequence[str], uow: UnitOfWork | None = None
    ) -> dict[str, IdentityRow]:
        """Bulk :meth:`current`: code → current version, for the codes found."""

    @abstractmethod
    def history(self, resident_code: str, uow: UnitOfWork | None = None) -> list[IdentityRow]:
        """Every kept version for this code, oldest first (from version 1 unless
        :meth:`expire` deleted the oldest)."""

    @abstractmethod
    def search(
        self, query: IdentityQuery, *, limit: int = 100, uow: UnitOfWork | None = None
    ) -> list[IdentityRow]:
        """Newest versions per (code, municipality) that are not removed and match the
        four basic items, ordered by resident code, at most ``limit``.
        """

    @abstractmethod
    def scan(
        self,
        *,
        municipality: str | None = None,
        after: str | None = None,
        limit: int = 1000,
        uow: UnitOfWork | None = None,
    ) -> list[IdentityRow]:
        """Ordered by resident code (code point order), starting after ``after``.

        With ``municipality``: that municipality's newest version of every code it
        ever notified, removed ones included (what reconciliation compares). Without:
        each code's current version.
        """

    @abstractmethod
    def count(self, *, municipality: str | None = None, uow: UnitOfWork | None = None) -> int:
        """How many rows :meth:`scan` would give in all (codes, or codes of one municipality)."""
