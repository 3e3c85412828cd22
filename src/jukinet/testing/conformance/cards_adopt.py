"""Conformance tests of the adoption of a card at a later version
(:meth:`~jukinet.storage.base.CardRegistry.adopt`).

A municipality learns of the card of a resident who moved in as the centre reports
it, at whatever version the card has reached (継続利用: the card is kept in use
and kept by the new municipality). The adopted state is stored, a stale copy at a
lower version replaced, and the event appended to a history that may skip
versions; a card at the stored version or earlier, a card stored as returned or
lapsed, a change to a column the card was issued with, or a second live card for
the holder (旧住基法30条の44, 番号法17条) is refused and leaves nothing; the
next update of an adopted card follows its adopted version; an adoption racing an
update of the same card, or an issue to the same holder, leaves exactly one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from functools import partial
from typing import Any

import attrs
import pytest

from jukinet.errors import IntegrityError, InterfaceError, InvalidComponent, JukinetError
from jukinet.storage.base import Store, UnitOfWork
from jukinet.storage.records import CardEventRow, CardRow
from jukinet.testing.conformance._rows import MUNICIPALITIES, _run_threads, snapshot
from jukinet.testing.conformance.cards import CardSteps, card_row, event_of, step

_MOVED_IN = date(2027, 5, 10)


def reported(
    card: CardRow, version: int, event: str = "continued", **changes: Any
) -> tuple[CardRow, CardEventRow]:
    """``card`` at ``version`` as the centre reports it after the holder moved to
    中央区 (continued use registered: no move-in awaiting it), with ``changes``, and
    the ``event`` that led to it."""
    values: dict[str, Any] = {"municipality": MUNICIPALITIES[1], "moved_in_on": None}
    values.update(changes)
    later = attrs.evolve(card, version=version, **values)
    return later, event_of(later, event, days=version)


class CardAdoptConformance(CardSteps):
    """Conformance tests of :meth:`~jukinet.storage.base.CardRegistry.adopt`."""

    def _adopt(self, store: Store, card: CardRow, event: CardEventRow) -> None:
        with store.unit_of_work() as uow:
            store.cards.adopt(uow, card, event)

    def test_cards_adopt_a_card_not_stored(self, store: Store) -> None:
        card, event = reported(card_row(1), 4, "moved_in", moved_in_on=_MOVED_IN)
        with store.unit_of_work() as uow:
            store.cards.adopt(uow, card, event)
            assert store.cards.get(card.card_id, uow) == card
            assert store.cards.history(card.card_id, uow) == [event]
            assert store.cards.live_for(card.holder, uow) == card
        assert store.cards.get(card.card_id) == card
        assert store.cards.get_many([card.card_id]) == {card.card_id: card}
        assert store.cards.history(card.card_id) == [event]
        assert store.cards.live_for(card.holder) == card
        assert store.cards.awaiting_continued_use(moved_in_before=date.max) == [card]
        assert store.cards.expiring(before=date.max) == [card]
        # a suspended card is live too
        suspended, lost = reported(card_row(2), 3, "suspended", state="suspended")
        self._adopt(store, suspended, lost)
        assert store.cards.live_for(suspended.holder) == suspended
        assert store.cards.history(suspended.card_id) == [lost]

    def test_cards_adopt_replaces_a_stale_copy(self, store: Store) -> None:
        card = card_row(1)
        self._issue(store, card)
        stale = self._update(
            store, card, "moved_in", state="suspended", moved_in_on=_MOVED_IN - timedelta(days=400)
        )
        seen = store.cards.history(card.card_id)
        adopted, event = reported(card, 4, expires_on=date(2040, 3, 31))
        self._adopt(store, adopted, event)
        assert stale.version == 2
        assert store.cards.get(card.card_id) == adopted
        assert store.cards.live_for(card.holder) == adopted
        assert store.cards.history(card.card_id) == [*seen, event]
        assert [e.version for e in store.cards.history(card.card_id)] == [1, 2, 4]
        # the stale copy's move-in and expiry are no longer listed
        assert store.cards.awaiting_continued_use(moved_in_before=date.max) == []
        assert store.cards.expiring(before=date.max) == [adopted]

    def test_cards_adopt_refused_leaves_storage_as_it_was(self, store: Store) -> None:
        stored, final = card_row(1), card_row(2)
        self._issue(store, stored, final)
        stored = self._update(store, stored, "suspended", state="suspended")
        final = self._update(store, final, "lapsed", state="lapsed", reason="not_continued")
        ids = [card_row(n).card_id for n in range(1, 9)]
        seen: dict[str, Any] = {"cards": ids, "codes": [self.rows.code(n) for n in range(1, 9)]}

        def refused(card: CardRow, event: CardEventRow) -> None:
            self._refused(store, partial(store.cards.adopt, card=card, event=event), **seen)

        for version in (1, 2):  # nothing to adopt: version 2 is stored
            refused(*reported(stored, version, "resumed", state="in_effect"))
        with (
            pytest.raises(IntegrityError, match="version 2 is stored"),
            store.unit_of_work() as uow,
        ):
            store.cards.adopt(uow, *reported(stored, 2, "resumed"))
        refused(*reported(final, 4, state="in_effect", reason=""))  # a final card stays final
        changes: list[dict[str, Any]] = [
            {"holder": self.rows.code(8)},
            {"kind": "juki"},
            {"photo": False},
            {"issuer": MUNICIPALITIES[2]},
            {"issued_on": stored.issued_on + timedelta(days=1)},
            {"public_key": bytes(32)},
        ]
        for change in changes:  # the columns of the issue never change
            refused(*reported(stored, 4, **change))
        # one live card per person: the holder of card 1 has it (suspended)
        refused(*reported(card_row(3, holder=1), 3))

        def issue_then_adopt(uow: UnitOfWork) -> None:
            store.cards.issue(uow, card_row(4), event_of(card_row(4)))
            store.cards.adopt(uow, *reported(card_row(5, holder=4), 3))

        def adopt_then_issue(uow: UnitOfWork) -> None:
            store.cards.adopt(uow, *reported(card_row(6), 3))
            store.cards.issue(uow, card_row(7, holder=6), event_of(card_row(7, holder=6)))

        self._refused(store, issue_then_adopt, **seen)
        self._refused(store, adopt_then_issue, **seen)
        assert store.cards.get(stored.card_id) == stored
        assert store.cards.get(final.card_id) == final
        assert [e.version for e in store.cards.history(stored.card_id)] == [1, 2]

    def test_cards_adopt_bad_arguments_raise_and_write_nothing(self, store: Store) -> None:
        # each call would be adopted but for what is wrong with it on its own
        card, event = reported(card_row(1), 4)
        other = reported(card_row(2), 4)[1]
        seen: dict[str, Any] = {"cards": [card.card_id], "codes": [card.holder]}
        before = snapshot(store, **seen)
        ended = [
            reported(card_row(1), 4, "returned", state="returned"),
            reported(card_row(1), 4, "lapsed", state="lapsed", reason="moved_again"),
        ]
        writes: list[tuple[type[JukinetError], Callable[[UnitOfWork], object]]] = [
            (InterfaceError, lambda _uow: store.cards.adopt(None, card, event)),  # type: ignore[arg-type]
            (InterfaceError, lambda uow: store.cards.adopt(uow, [card], event)),  # type: ignore[arg-type]
            (InterfaceError, lambda uow: store.cards.adopt(uow, card, None)),  # type: ignore[arg-type]
            (InvalidComponent, lambda uow: store.cards.adopt(uow, card, other)),
            (
                InvalidComponent,
                lambda uow: store.cards.adopt(uow, card, attrs.evolve(event, version=3)),
            ),
            (InvalidComponent, lambda uow: store.cards.adopt(uow, card, event_of(card, "issued"))),
            *((InvalidComponent, partial(store.cards.adopt, card=c, event=e)) for c, e in ended),
        ]
        for error, write in writes:
            with pytest.raises(error), store.unit_of_work() as uow:  # noqa: PT012
                store.outbox.append(uow, "pref13", [b"effect"])
                write(uow)
            assert snapshot(store, **seen) == before
        self._adopt(store, card, event)  # the same card, rightly
        assert store.cards.get(card.card_id) == card

    def test_cards_an_adopted_card_is_updated_at_the_next_version(self, store: Store) -> None:
        adopted, event = reported(card_row(1), 4)
        self._adopt(store, adopted, event)
        seen: dict[str, Any] = {"cards": [adopted.card_id], "codes": [adopted.holder]}
        for version in (2, 4, 6):  # the issue's next version, the adopted one, a skip
            later = attrs.evolve(adopted, version=version, state="suspended")
            update = partial(store.cards.update, card=later, event=event_of(later, "suspended"))
            self._refused(store, update, **seen)
        suspended = self._update(store, adopted, "suspended", state="suspended")
        assert suspended.version == 5
        assert store.cards.get(adopted.card_id) == suspended
        assert [e.version for e in store.cards.history(adopted.card_id)] == [4, 5]
        # the holder moves on again: adopted anew over the copy kept here
        again, moved = reported(suspended, 8, municipality=MUNICIPALITIES[2], state="in_effect")
        self._adopt(store, again, moved)
        assert [e.version for e in store.cards.history(adopted.card_id)] == [4, 5, 8]

    def test_racing_card_adopt_and_update_of_one_card_exactly_one_wins(self, store: Store) -> None:
        # Both write version 2 of each card: whichever commits second is stale.
        cards = [card_row(n) for n in range(1, self.racing_rounds + 1)]
        self._issue(store, *cards)
        writers = [self.handle(store), self.handle(store)]
        won: dict[int, list[int]] = {0: [], 1: []}

        def change(w: int, card: CardRow) -> tuple[CardRow, CardEventRow]:
            if w == 0:
                return step(card, "suspended", state="suspended")
            return reported(card, 2, "moved_in", moved_in_on=_MOVED_IN)

        def write(w: int) -> Callable[[], None]:
            def run() -> None:
                for i, card in enumerate(cards):
                    try:
                        with writers[w].unit_of_work() as uow:
                            (writers[w].cards.update, writers[w].cards.adopt)[w](
                                uow, *change(w, card)
                            )
                    except IntegrityError:
                        continue
                    won[w].append(i)

            return run

        _run_threads([write(0), write(1)])
        assert sorted(won[0] + won[1]) == list(range(len(cards)))
        for w, rounds_won in won.items():
            for i in rounds_won:
                later, event = change(w, cards[i])
                assert store.cards.get(later.card_id) == later
                assert store.cards.history(later.card_id) == [event_of(cards[i]), event]

    def test_racing_card_adopt_and_issue_for_one_holder_exactly_one_wins(
        self, store: Store
    ) -> None:
        writers = [self.handle(store), self.handle(store)]
        rounds = self.racing_rounds
        won: dict[int, list[int]] = {0: [], 1: []}

        def card_of(w: int, i: int) -> CardRow:
            return card_row(100_000 * (w + 1) + i, holder=900 + i)

        def write(w: int) -> Callable[[], None]:
            def run() -> None:
                for i in range(rounds):
                    try:
                        if w == 0:
                            self._issue(writers[0], card_of(0, i))
                        else:
                            self._adopt(writers[1], *reported(card_of(1, i), 3))
                    except IntegrityError:
                        continue
                    won[w].append(i)

            return run

        _run_threads([write(0), write(1)])
        assert sorted(won[0] + won[1]) == list(range(rounds))
        for w, rounds_won in won.items():
            for i in rounds_won:
                winner = store.cards.live_for(card_of(w, i).holder)
                assert winner is not None
                assert winner.card_id == card_of(w, i).card_id
                assert store.cards.get(card_of(1 - w, i).card_id) is None
                assert store.cards.history(card_of(1 - w, i).card_id) == []

    def test_racing_card_adopt_over_an_update_keeps_the_newest_state(self, store: Store) -> None:
        # The update writes version 2, the adoption version 3: the adoption always
        # wins; the update too if it commits first. Either way the stored card is the
        # adopted one and its history ends at version 3.
        cards = [card_row(n) for n in range(1, self.racing_rounds + 1)]
        self._issue(store, *cards)
        writers = [self.handle(store), self.handle(store)]
        updated: list[int] = []

        def update() -> None:
            for i, card in enumerate(cards):
                try:
                    with writers[0].unit_of_work() as uow:
                        writers[0].cards.update(uow, *step(card, "suspended", state="suspended"))
                except IntegrityError:
                    continue
                updated.append(i)

        def adopt() -> None:
            for card in cards:
                self._adopt(writers[1], *reported(card, 3))

        _run_threads([update, adopt])
        for i, card in enumerate(cards):
            adopted, event = reported(card, 3)
            assert store.cards.get(card.card_id) == adopted
            versions = [1, 2, 3] if i in updated else [1, 3]
            assert [e.version for e in store.cards.history(card.card_id)] == versions
            assert store.cards.history(card.card_id)[-1] == event
