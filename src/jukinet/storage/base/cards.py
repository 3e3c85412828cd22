"""The resident IC card port (:class:`~jukinet.storage.base.CardRegistry`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import date

from jukinet.errors import (
    IntegrityError,
    InterfaceError,
    InvalidComponent,
)
from jukinet.storage.base.units import UnitOfWork
from jukinet.storage.records import (
    CardEventRow,
    CardRow,
)


class CardRegistry(ABC):
    """The resident IC cards a municipality issued, each with its state and its history
    (旧住基法30条の44: 住民基本台帳カード; 番号法17条: 個人番号カード).

    A person has at most one card in effect: a card is *live* while it is in effect
    or suspended, and a holder with a live card is issued no other one until it is
    returned or lapses (旧住基法30条の44; 番号法17条: a new card is issued only
    against the return of the old one). A card's state is kept with every event
    that led to it: versions 1, 2, … per card, appended, never rewritten; gap-free
    for a card issued here, while a card learnt of later (:meth:`adopt`: the card
    of a resident who moved in, kept in use there, 継続利用) starts at the version
    it was adopted at. A returned or lapsed card never changes again.
    """

    @abstractmethod
    def issue(self, uow: UnitOfWork, card: CardRow, event: CardEventRow) -> None:
        """Store a newly issued card with its first event.

        ``card.version`` and ``event.version`` must be 1, ``event.event``
        ``"issued"`` for ``card.card_id``, and ``card.state`` ``"in_effect"``
        (else :class:`~jukinet.errors.InvalidComponent`). A ``card_id`` already
        stored, or a holder who already has a live card (in effect or suspended:
        one card per person), is an :class:`~jukinet.errors.IntegrityError`;
        nothing is written then.
        """

    @abstractmethod
    def update(self, uow: UnitOfWork, card: CardRow, event: CardEventRow) -> None:
        """Store the new state of a stored card with the event that led to it.

        ``event`` must be about ``card.card_id`` with ``event.version ==
        card.version`` and not ``"issued"`` (else
        :class:`~jukinet.errors.InvalidComponent`). An
        :class:`~jukinet.errors.IntegrityError`, nothing written, when the card is
        not stored, when ``card.version`` is not the stored version + 1 (a stale,
        repeated or skipping update), when a column of :attr:`IMMUTABLE` differs
        from the stored card, or when the stored card is returned or lapsed (a
        final state never changes).
        """

    @abstractmethod
    def adopt(self, uow: UnitOfWork, card: CardRow, event: CardEventRow) -> None:
        """Keep the state of a card this registry learns of at a later version: the card of a
        resident who moved in, as the centre reports it (the keeping municipality changes with
        the holder, domain-facts §7 継続利用).

        ``card`` becomes the stored state (inserted if the card is not stored, in
        place of a stale copy at a lower version otherwise) and ``event`` is appended
        to its :meth:`history`, which then skips the versions this registry never
        saw. ``event`` must be about ``card.card_id`` with ``event.version ==
        card.version`` and not ``"issued"``, and ``card`` live (in effect or
        suspended; else :class:`~jukinet.errors.InvalidComponent`). An
        :class:`~jukinet.errors.IntegrityError`, nothing written, when the stored
        copy is at ``card.version`` or later (nothing to adopt), when it is returned
        or lapsed (a final state never changes), when a column of
        :attr:`IMMUTABLE` differs from it, or when the holder has another live card
        (one card per person, as for :meth:`issue`).
        """

    IMMUTABLE = ("holder", "kind", "photo", "issuer", "issued_on", "public_key")
    """The columns of a card that neither :meth:`update` nor :meth:`adopt` may change
    (besides ``card_id``): a card keeps what it was issued with."""

    @staticmethod
    def check_issue(card: object, event: object) -> tuple[CardRow, CardEventRow]:
        """Check the arguments of :meth:`issue` on their own (what every adapter checks
        before it reads the store) and return them.

        >>> from datetime import date
        >>> card = CardRow(card_id="0" * 32, holder="00000000019", kind="juki", photo=False,
        ...     issuer="131016", issued_on=date(2014, 4, 1), expires_on=date(2024, 4, 1),
        ...     public_key=bytes(32), state="in_effect", reason="", municipality="131016",
        ...     moved_in_on=None, version=1)
        >>> event = CardEventRow(card_id="0" * 32, version=1, event="suspended",
        ...     on=date(2014, 4, 1), municipality="131016", reason="")
        >>> CardRegistry.check_issue(card, event)
        Traceback (most recent call last):
            ...
        jukinet.errors.InvalidComponent: event: a new card's first event is 'suspended' (expected 'issued')
        """
        row, first = _card_pair(card, event)
        if row.version != 1:
            raise InvalidComponent(
                f"a new card has version {row.version}", field="version", expected="version 1"
            )
        if first.event != "issued":
            raise InvalidComponent(
                f"a new card's first event is {first.event!r}", field="event", expected="'issued'"
            )
        if row.state != "in_effect":
            raise InvalidComponent(
                f"a new card is {row.state!r}", field="state", expected="'in_effect'"
            )
        return row, first

    @staticmethod
    def check_update(card: object, event: object) -> tuple[CardRow, CardEventRow]:
        """Check the arguments of :meth:`update` on their own (the event is about the
        card, has its version and is no issue) and return them."""
        row, later = _card_pair(card, event)
        if later.event == "issued":
            raise InvalidComponent(
                f"card {row.card_id}: an update cannot record an issue",
                field="event",
                expected="an event after the issue (issue() stores the first)",
            )
        return row, later

    @classmethod
    def check_change(cls, stored: CardRow | None, card: CardRow) -> None:
        """Raise the :class:`~jukinet.errors.IntegrityError` of :meth:`update` unless
        ``card`` may follow ``stored`` (the stored state, None if not stored)."""
        if stored is None:
            raise IntegrityError(
                f"card {card.card_id} is not stored",
                field="card_id",
                expected="a card issued before (issue() stores a new one)",
            )
        if not stored.live:
            raise IntegrityError(
                f"card {card.card_id} is {stored.state}: it never changes again",
                field="state",
                expected="a card in effect or suspended",
            )
        if card.version != stored.version + 1:
            problem = "is stored already" if card.version <= stored.version else "skips a version"
            raise IntegrityError(
                f"card {card.card_id}: version {card.version} {problem}",
                field="version",
                expected=f"version {stored.version + 1}",
            )
        cls._check_immutable(stored, card)

    @staticmethod
    def check_adopt(card: object, event: object) -> tuple[CardRow, CardEventRow]:
        """Check the arguments of :meth:`adopt` on their own (the event is about the
        card, has its version and is no issue; the card is live) and return them.

        >>> from datetime import date
        >>> card = CardRow(card_id="0" * 32, holder="00000000019", kind="juki", photo=False,
        ...     issuer="131016", issued_on=date(2014, 4, 1), expires_on=date(2024, 4, 1),
        ...     public_key=bytes(32), state="lapsed", reason="not_continued",
        ...     municipality="131024", moved_in_on=None, version=3)
        >>> event = CardEventRow(card_id="0" * 32, version=3, event="lapsed",
        ...     on=date(2015, 4, 1), municipality="131024", reason="not_continued")
        >>> CardRegistry.check_adopt(card, event)
        Traceback (most recent call last):
            ...
        jukinet.errors.InvalidComponent: state: card 0...0 is 'lapsed': only a live card is adopted (expected ...)
        """
        row, seen = _card_pair(card, event)
        if seen.event == "issued":
            raise InvalidComponent(
                f"card {row.card_id}: an adoption cannot record an issue",
                field="event",
                expected="an event after the issue (issue() stores a new card)",
            )
        if not row.live:
            raise InvalidComponent(
                f"card {row.card_id} is {row.state!r}: only a live card is adopted",
                field="state",
                expected="'in_effect' or 'suspended'",
            )
        return row, seen

    @classmethod
    def check_adoption(cls, stored: CardRow | None, card: CardRow) -> None:
        """Raise the :class:`~jukinet.errors.IntegrityError` of :meth:`adopt` unless
        ``card`` may replace ``stored`` (the stored copy, None if not stored). The
        holder's other live card is the adapter's to look up
        (:meth:`second_live_card`)."""
        if stored is None:
            return
        if card.version <= stored.version:
            raise IntegrityError(
                f"card {card.card_id}: version {stored.version} is stored,"
                f" nothing to adopt at version {card.version}",
                field="version",
                expected=f"a version after {stored.version}",
            )
        if not stored.live:
            raise IntegrityError(
                f"card {card.card_id} is {stored.state}: it never changes again",
                field="state",
                expected="a stored copy in effect or suspended",
            )
        cls._check_immutable(stored, card)

    @classmethod
    def _check_immutable(cls, stored: CardRow, card: CardRow) -> None:
        for name in cls.IMMUTABLE:
            if getattr(stored, name) != getattr(card, name):
                raise IntegrityError(
                    f"card {card.card_id}: {name} differs from the stored card",
                    field=name,
                    expected=f"the {name} the card was issued with (it never changes)",
                )

    @staticmethod
    def duplicate_card(card: CardRow) -> IntegrityError:
        """The error of :meth:`issue` for a card id already stored."""
        return IntegrityError(
            f"card {card.card_id} is already stored",
            field="card_id",
            expected="a card id never issued before",
        )

    @staticmethod
    def second_live_card(card: CardRow) -> IntegrityError:
        """The error of :meth:`issue` and :meth:`adopt` for a holder who has another
        live card already."""
        return IntegrityError(
            f"the holder already has a card in effect or suspended (storing {card.card_id})",
            field="holder",
            expected="one card per person: the live card returned or lapsed first",
        )

    @abstractmethod
    def get(self, card_id: str, uow: UnitOfWork | None = None) -> CardRow | None:
        """The card's current state, or None."""

    @abstractmethod
    def get_many(
        self, card_ids: Sequence[str], uow: UnitOfWork | None = None
    ) -> dict[str, CardRow]:
        """Bulk :meth:`get`: card id → current state, for the ids found."""

    @abstractmethod
    def live_for(self, holder: str, uow: UnitOfWork | None = None) -> CardRow | None:
        """The holder's live card (in effect or suspended), or None."""

    @abstractmethod
    def history(self, card_id: str, uow: UnitOfWork | None = None) -> list[CardEventRow]:
        """Every event of the card this registry saw, in version order (empty if unknown).

        Gap-free from version 1 for a card issued here. For an adopted card
        (:meth:`adopt`) it holds what this registry saw: the events of any stale
        copy it kept, then the adopted event, skipping the versions in between
        (they happened while another municipality kept the card)."""

    @abstractmethod
    def awaiting_continued_use(
        self, *, moved_in_before: date, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[CardRow]:
        """Live cards whose move-in (``moved_in_on``) is before ``moved_in_before`` and
        still awaits continued use: oldest move-in first (then by card id), at most
        ``limit``."""

    @abstractmethod
    def expiring(
        self, *, before: date, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[CardRow]:
        """Live cards whose last day in effect (``expires_on``) is before ``before``:
        earliest first (then by card id), at most ``limit``."""


def _card_pair(card: object, event: object) -> tuple[CardRow, CardEventRow]:
    if not isinstance(card, CardRow):
        raise InterfaceError(f"got {type(card).__name__}", field="card", expected="a CardRow")
    if not isinstance(event, CardEventRow):
        raise InterfaceError(
            f"got {type(event).__name__}", field="event", expected="a CardEventRow"
        )
    if event.card_id != card.card_id:
        raise InvalidComponent(
            f"the event is about card {event.card_id}, the state about {card.card_id}",
            field="event",
            expected="an event about the card it records",
        )
    if event.version != card.version:
        raise InvalidComponent(
            f"the event has version {event.version}, the card {card.version}",
            field="version",
            expected="the same version on the card and its event",
        )
    return card, event
