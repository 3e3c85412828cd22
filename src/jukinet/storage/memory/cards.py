"""The resident IC cards of the in-memory adapter.

Their part of the committed state (:class:`_CardsState`: each card's current
state and its events, with an index from each holder to their live card and the
ordered indexes of live cards by move-in day and by expiry day), of the staging
(:class:`_CardsPending`: each card's newest staged state and the staged events)
and of the view (:class:`_CardsView`); and the port, :class:`MemoryCardRegistry`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

import attrs
from sortedcontainers import SortedSet

from jukinet.storage.base import CardRegistry, UnitOfWork
from jukinet.storage.memory._database import _Port, _sequence
from jukinet.storage.records import (
    CardEventRow,
    CardRow,
    check_date,
    check_field,
    check_int,
    check_resident_code,
)


def _card_ids(value: object) -> list[str]:
    """A bulk look-up's card ids, validated, duplicates dropped (first kept)."""
    ids = _sequence(value, "card_ids")
    for card_id in ids:
        check_field(CardRow, "card_id", card_id)
    return list(dict.fromkeys(ids))


def _key(card: CardRow, field: str) -> tuple[date, str] | None:
    day = getattr(card, field)
    return None if day is None or not card.live else (day, card.card_id)


class _CardsState:
    """The cards' committed data with its indexes."""

    def __init__(self) -> None:
        super().__init__()
        self.cards: dict[str, CardRow] = {}
        self.card_events: dict[str, list[CardEventRow]] = {}
        self.card_live: dict[str, str] = {}  # holder -> card id of their live card
        self.card_move_ins: SortedSet[tuple[date, str]] = SortedSet()  # live cards only
        self.card_expiries: SortedSet[tuple[date, str]] = SortedSet()  # live cards only

    def _apply_cards(self, pending: _CardsPending) -> None:
        for card in pending.cards.values():
            old = self.cards.get(card.card_id)
            if old is not None:
                self._unindex_card(old)
            self.cards[card.card_id] = card
            if card.live:
                self.card_live[card.holder] = card.card_id
            for index, field in (
                (self.card_move_ins, "moved_in_on"),
                (self.card_expiries, "expires_on"),
            ):
                key = _key(card, field)
                if key is not None:
                    index.add(key)
        for event in pending.card_events:
            self.card_events.setdefault(event.card_id, []).append(event)

    def _unindex_card(self, card: CardRow) -> None:
        if self.card_live.get(card.holder) == card.card_id:
            del self.card_live[card.holder]
        for index, field in (
            (self.card_move_ins, "moved_in_on"),
            (self.card_expiries, "expires_on"),
        ):
            key = _key(card, field)
            if key is not None:
                index.discard(key)


@attrs.define(slots=False)
class _CardsPending:
    """The card states and events a unit of work has written."""

    cards: dict[str, CardRow] = attrs.Factory(dict)  # card id -> newest staged state
    card_holders: dict[str, str] = attrs.Factory(dict)  # holder -> card id last staged
    card_events: list[CardEventRow] = attrs.Factory(list)  # in write order


class _CardsView:
    """The committed cards, seen through a unit of work's staged writes."""

    state: _CardsState
    pending: _CardsPending

    def card(self, card_id: str) -> CardRow | None:
        staged = self.pending.cards.get(card_id)
        return staged if staged is not None else self.state.cards.get(card_id)

    def card_live_for(self, holder: str) -> CardRow | None:
        # Only the card last staged for a holder can be a staged live card: a card is
        # issued or adopted only while the holder has no other live, and a final card
        # stays final.
        staged_id = self.pending.card_holders.get(holder)
        if staged_id is not None and (staged := self.pending.cards[staged_id]).live:
            return staged
        card_id = self.state.card_live.get(holder)
        if card_id is None:
            return None
        card = self.card(card_id)
        return card if card is not None and card.live else None

    def card_history(self, card_id: str) -> list[CardEventRow]:
        events = list(self.state.card_events.get(card_id, ()))
        events.extend(e for e in self.pending.card_events if e.card_id == card_id)
        return events

    def cards_before(self, field: str, before: date, limit: int) -> list[CardRow]:
        """Live cards whose ``field`` is before ``before``, by (day, card id)."""
        index = self.state.card_move_ins if field == "moved_in_on" else self.state.card_expiries
        staged = self.pending.cards
        committed: Iterator[Any] = (
            self.state.cards[card_id]
            for _, card_id in index.irange(maximum=(before, ""), inclusive=(True, False))
            if card_id not in staged
        )
        found = list(itertools.islice(committed, limit))
        found.extend(c for c in staged.values() if (k := _key(c, field)) and k[0] < before)
        found.sort(key=lambda c: (getattr(c, field), c.card_id))
        return found[:limit]


class MemoryCardRegistry(_Port[_CardsView, _CardsPending], CardRegistry):
    """The resident IC cards of a :class:`MemoryStore`'s municipality (旧住基法30条の44,
    番号法17条): one live card per holder, every event kept."""

    def issue(self, uow: UnitOfWork, card: CardRow, event: CardEventRow) -> None:
        """Store a new card with its ``issued`` event (see :class:`CardRegistry`)."""
        row, first = CardRegistry.check_issue(card, event)
        view, pending = self._store._write(uow)
        if view.card(row.card_id) is not None:
            raise CardRegistry.duplicate_card(row)
        if view.card_live_for(row.holder) is not None:
            raise CardRegistry.second_live_card(row)
        pending.cards[row.card_id] = row
        pending.card_holders[row.holder] = row.card_id
        pending.card_events.append(first)

    def update(self, uow: UnitOfWork, card: CardRow, event: CardEventRow) -> None:
        """Store a card's new state with its event (see :class:`CardRegistry`)."""
        row, later = CardRegistry.check_update(card, event)
        view, pending = self._store._write(uow)
        CardRegistry.check_change(view.card(row.card_id), row)
        pending.cards[row.card_id] = row
        pending.card_holders[row.holder] = row.card_id
        pending.card_events.append(later)

    def adopt(self, uow: UnitOfWork, card: CardRow, event: CardEventRow) -> None:
        """Keep a card learnt of at a later version (see :class:`CardRegistry`)."""
        row, seen = CardRegistry.check_adopt(card, event)
        view, pending = self._store._write(uow)
        CardRegistry.check_adoption(view.card(row.card_id), row)
        live = view.card_live_for(row.holder)
        if live is not None and live.card_id != row.card_id:
            raise CardRegistry.second_live_card(row)
        pending.cards[row.card_id] = row
        pending.card_holders[row.holder] = row.card_id
        pending.card_events.append(seen)

    def get(self, card_id: str, uow: UnitOfWork | None = None) -> CardRow | None:
        """The card's current state, or None."""
        check_field(CardRow, "card_id", card_id)
        return self._store._read(uow, lambda v: v.card(card_id))

    def get_many(
        self, card_ids: Sequence[str], uow: UnitOfWork | None = None
    ) -> dict[str, CardRow]:
        """Card id → current state, for the ids found."""
        ids = _card_ids(card_ids)

        def read(view: _CardsView) -> dict[str, CardRow]:
            return {i: c for i in ids if (c := view.card(i)) is not None}

        return self._store._read(uow, read)

    def live_for(self, holder: str, uow: UnitOfWork | None = None) -> CardRow | None:
        """The holder's card in effect or suspended, or None."""
        check_resident_code(holder, "holder")
        return self._store._read(uow, lambda v: v.card_live_for(holder))

    def history(self, card_id: str, uow: UnitOfWork | None = None) -> list[CardEventRow]:
        """Every event of the card in version order (empty if unknown)."""
        check_field(CardRow, "card_id", card_id)
        return self._store._read(uow, lambda v: v.card_history(card_id))

    def awaiting_continued_use(
        self, *, moved_in_before: date, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[CardRow]:
        """Live cards with a move-in before ``moved_in_before``, oldest move-in first."""
        check_date(moved_in_before, "moved_in_before")
        check_int(limit, "limit")
        return self._store._read(
            uow, lambda v: v.cards_before("moved_in_on", moved_in_before, limit)
        )

    def expiring(
        self, *, before: date, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[CardRow]:
        """Live cards whose last day in effect is before ``before``, earliest first."""
        check_date(before, "before")
        check_int(limit, "limit")
        return self._store._read(uow, lambda v: v.cards_before("expires_on", before, limit))
