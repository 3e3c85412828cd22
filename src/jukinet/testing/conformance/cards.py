"""Conformance tests of the resident IC cards (:class:`~jukinet.storage.base.CardRegistry`).

What the port means, not only what it stores: one live card per person
(旧住基法30条の44, 番号法17条), even with two issuers racing; a stale, repeated or
skipping update refused; the columns a card was issued with (its photo too) never
change; a returned or lapsed card never changes again; a card's events kept
gap-free and in order; the look-ups of live cards by move-in and expiry day
ordered, filtered and limited; a unit of work that fails leaves nothing. The
adoption of a card at a later version is in ``cards_adopt``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date, timedelta
from functools import partial
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jukinet.errors import IntegrityError, InterfaceError, JukinetError, ValidationError
from jukinet.storage.base import Store, UnitOfWork
from jukinet.storage.records import CardEventRow, CardRow
from jukinet.testing.conformance._rows import (
    BAD_CHECK_DIGIT_CODE,
    MUNICIPALITIES,
    InjectedCrash,
    RowFactory,
    _fresh_serial,
    _run_threads,
    snapshot,
)
from jukinet.testing.conformance.hooks import SETTINGS, ConformanceHooks

_ISSUED = date(2026, 4, 1)


def card_row(n: int, *, holder: int | None = None, **changes: Any) -> CardRow:
    """Card ``n``: id ``n`` as 32 hex digits, issued on 2026-04-01 in 千代田区 to
    :meth:`RowFactory.code` ``(holder)`` (default ``n``), in effect for ten years,
    version 1; ``changes`` replace fields.

    >>> card_row(10).card_id
    '0000000000000000000000000000000a'
    """
    values: dict[str, Any] = {
        "card_id": f"{n:032x}",
        "holder": RowFactory.code(n if holder is None else holder),
        "kind": "my_number",
        "photo": True,
        "issuer": MUNICIPALITIES[0],
        "issued_on": _ISSUED,
        "expires_on": _ISSUED + timedelta(days=3652 + n % 7),
        "public_key": hashlib.sha256(f"card {n}".encode()).digest(),
        "state": "in_effect",
        "reason": "",
        "municipality": MUNICIPALITIES[0],
        "moved_in_on": None,
        "version": 1,
    }
    values.update(changes)
    return CardRow(**values)


def event_of(card: CardRow, event: str = "issued", *, days: int = 0) -> CardEventRow:
    """The event that led to ``card`` (its version), ``days`` after the issue."""
    return CardEventRow(
        card_id=card.card_id,
        version=card.version,
        event=event,
        on=card.issued_on + timedelta(days=days),
        municipality=card.municipality,
        reason=card.reason,
    )


def step(card: CardRow, event: str, **changes: Any) -> tuple[CardRow, CardEventRow]:
    """The next version of ``card`` after ``event`` (with ``changes``) and that event."""
    later = attrs.evolve(card, version=card.version + 1, **changes)
    return later, event_of(later, event, days=later.version)


_STATE_AFTER = {"suspended": "suspended", "resumed": "in_effect", "returned": "returned"}


class CardSteps(ConformanceHooks):
    """The steps the card tests share: issue, update, and a write refused."""

    def _issue(self, store: Store, *cards: CardRow) -> None:
        with store.unit_of_work() as uow:
            for card in cards:
                store.cards.issue(uow, card, event_of(card))

    def _update(self, store: Store, card: CardRow, event: str, **changes: Any) -> CardRow:
        later, happened = step(card, event, **changes)
        with store.unit_of_work() as uow:
            store.cards.update(uow, later, happened)
        return later

    def _refused(self, store: Store, write: Callable[[UnitOfWork], object], **seen: Any) -> None:
        """``write`` (after another port's write in the same unit of work) raises an
        IntegrityError and nothing observable changes."""
        before = snapshot(store, **seen)
        with pytest.raises(IntegrityError), store.unit_of_work() as uow:  # noqa: PT012
            store.outbox.append(uow, "pref13", [b"effect"])
            write(uow)
        assert snapshot(store, **seen) == before


class CardConformance(CardSteps):
    """Conformance tests of the resident IC cards."""

    def test_cards_issue_and_read_back(self, store: Store) -> None:
        card = card_row(1)
        with store.unit_of_work() as uow:
            store.cards.issue(uow, card, event_of(card))
            assert store.cards.get(card.card_id, uow) == card
            assert store.cards.live_for(card.holder, uow) == card
            assert store.cards.history(card.card_id, uow) == [event_of(card)]
        assert store.cards.get(card.card_id) == card
        assert store.cards.get_many([card.card_id, card_row(2).card_id]) == {card.card_id: card}
        assert store.cards.get_many([]) == {}
        assert store.cards.live_for(card.holder) == card
        assert store.cards.history(card.card_id) == [event_of(card)]
        assert store.cards.get(card_row(2).card_id) is None
        assert store.cards.history(card_row(2).card_id) == []
        assert store.cards.live_for(self.rows.code(2)) is None

    def test_cards_a_second_live_card_for_a_holder_is_refused(self, store: Store) -> None:
        # One card per person (旧住基法30条の44, 番号法17条): while the first is in
        # effect or suspended, no other is issued to the holder.
        first = card_row(1)
        self._issue(store, first)
        second = card_row(2, holder=1, kind="juki", photo=False)
        seen: dict[str, Any] = {"cards": [first.card_id, second.card_id], "codes": [first.holder]}
        self._refused(store, lambda uow: store.cards.issue(uow, second, event_of(second)), **seen)
        suspended = self._update(store, first, "suspended", state="suspended")
        self._refused(store, lambda uow: store.cards.issue(uow, second, event_of(second)), **seen)
        assert store.cards.live_for(first.holder) == suspended
        # nor two in one unit of work
        third, fourth = card_row(3), card_row(4, holder=3)
        seen = {"cards": [third.card_id, fourth.card_id], "codes": [third.holder]}

        def both(uow: UnitOfWork) -> None:
            store.cards.issue(uow, third, event_of(third))
            store.cards.issue(uow, fourth, event_of(fourth))

        self._refused(store, both, **seen)

    def test_cards_a_card_id_is_stored_once(self, store: Store) -> None:
        first = card_row(1)
        self._issue(store, first)
        again = card_row(1, holder=2)  # the same serial for another person
        seen: dict[str, Any] = {"cards": [first.card_id], "codes": [first.holder, again.holder]}
        self._refused(store, lambda uow: store.cards.issue(uow, again, event_of(again)), **seen)
        lapsed = self._update(store, first, "lapsed", state="lapsed", reason="removed")
        self._refused(store, lambda uow: store.cards.issue(uow, first, event_of(first)), **seen)
        assert store.cards.get(first.card_id) == lapsed

    def test_cards_an_update_must_be_the_next_version(self, store: Store) -> None:
        card = card_row(1)
        self._issue(store, card)
        now = self._update(store, card, "moved_in", moved_in_on=_ISSUED, municipality="131024")
        seen: dict[str, Any] = {"cards": [card.card_id], "codes": [card.holder]}
        for version in (1, 2, 4, 9):  # stale, equal, skipping
            later = attrs.evolve(now, version=version, state="suspended")
            event = event_of(later, "suspended")
            self._refused(store, partial(store.cards.update, card=later, event=event), **seen)
        unknown = attrs.evolve(card_row(5), version=2, state="suspended")
        self._refused(
            store,
            lambda uow: store.cards.update(uow, unknown, event_of(unknown, "suspended")),
            **seen,
        )
        assert store.cards.get(card.card_id) == now
        assert [e.version for e in store.cards.history(card.card_id)] == [1, 2]

    def test_cards_the_columns_of_the_issue_never_change(self, store: Store) -> None:
        card = card_row(1)
        self._issue(store, card)
        seen: dict[str, Any] = {"cards": [card.card_id], "codes": [card.holder, self.rows.code(2)]}
        changes: list[dict[str, Any]] = [
            {"holder": self.rows.code(2)},
            {"kind": "juki"},
            {"photo": False},
            {"issuer": MUNICIPALITIES[1]},
            {"issued_on": _ISSUED + timedelta(days=1)},
            {"public_key": bytes(32)},
        ]
        for change in changes:
            later, event = step(card, "continued", **change)
            self._refused(store, partial(store.cards.update, card=later, event=event), **seen)
        # what may change: the state, the municipality, a move-in, the expiry
        moved = self._update(
            store, card, "moved_in", municipality=MUNICIPALITIES[2], moved_in_on=_ISSUED
        )
        renewed = self._update(
            store, moved, "continued", moved_in_on=None, expires_on=date(2040, 1, 1)
        )
        assert store.cards.get(card.card_id) == renewed

    def test_cards_a_returned_or_lapsed_card_never_changes_again(self, store: Store) -> None:
        returned, lapsed = card_row(1), card_row(2)
        self._issue(store, returned, lapsed)
        returned = self._update(store, returned, "returned", state="returned")
        lapsed = self._update(store, lapsed, "lapsed", state="lapsed", reason="not_continued")
        seen: dict[str, Any] = {"cards": [returned.card_id, lapsed.card_id]}
        for final in (returned, lapsed):
            for event, state in (
                ("resumed", "in_effect"),
                ("lapsed", "lapsed"),
                ("pin_reset", final.state),
            ):
                later, happened = step(final, event, state=state)
                self._refused(
                    store, partial(store.cards.update, card=later, event=happened), **seen
                )
            assert store.cards.get(final.card_id) == final
            assert len(store.cards.history(final.card_id)) == 2

    def test_cards_a_failed_unit_of_work_leaves_nothing(self, store: Store) -> None:
        kept = card_row(1)
        self._issue(store, kept)
        fresh = card_row(2)
        seen: dict[str, Any] = {
            "cards": [kept.card_id, fresh.card_id],
            "codes": [kept.holder, fresh.holder],
        }
        before = snapshot(store, **seen)
        with pytest.raises(InjectedCrash), store.unit_of_work() as uow:  # noqa: PT012
            store.cards.issue(uow, fresh, event_of(fresh))
            suspended, event = step(kept, "suspended", state="suspended")
            store.cards.update(uow, suspended, event)
            assert store.cards.live_for(kept.holder, uow) == suspended
            assert store.cards.history(kept.card_id, uow) == [event_of(kept), event]
            raise InjectedCrash
        assert snapshot(store, **seen) == before
        with pytest.raises(IntegrityError), store.unit_of_work() as uow:  # noqa: PT012
            store.cards.issue(uow, fresh, event_of(fresh))
            store.cards.update(uow, *step(kept, "returned", state="returned"))
            store.tracking.advance(uow, "p:13", 2)  # skips 1: refused
        assert snapshot(store, **seen) == before

    def test_cards_history_is_gap_free_and_in_order(self, store: Store) -> None:
        card = card_row(1)
        self._issue(store, card)
        events = [event_of(card)]
        now = card
        with store.unit_of_work() as uow:  # several versions in one unit of work
            for event, state in (("suspended", "suspended"), ("resumed", "in_effect")):
                now, happened = step(now, event, state=state)
                store.cards.update(uow, now, happened)
                events.append(happened)
            assert store.cards.history(card.card_id, uow) == events
        for event in ("pin_reset", "moved_in", "continued"):
            now, happened = step(now, event)
            with store.unit_of_work() as uow:
                store.cards.update(uow, now, happened)
            events.append(happened)
        history = store.cards.history(card.card_id)
        assert history == events
        assert [e.version for e in history] == list(range(1, 7))
        assert store.cards.get(card.card_id) == now

    def test_cards_live_for_and_a_new_card_after_a_lapse(self, store: Store) -> None:
        cards = [card_row(n) for n in range(1, 5)]
        self._issue(store, *cards)
        suspended = self._update(store, cards[1], "suspended", state="suspended")
        self._update(store, cards[2], "returned", state="returned")
        self._update(store, cards[3], "lapsed", state="lapsed", reason="code_changed")
        assert store.cards.live_for(cards[0].holder) == cards[0]
        assert store.cards.live_for(cards[1].holder) == suspended
        assert store.cards.live_for(cards[2].holder) is None
        assert store.cards.live_for(cards[3].holder) is None
        # after the holder's card lapsed (or was returned), a new card can be issued
        again = card_row(9, holder=4, kind="juki", photo=False)
        self._issue(store, again)
        assert store.cards.live_for(cards[3].holder) == again
        assert store.cards.get(cards[3].card_id) is not None
        assert [e.event for e in store.cards.history(cards[3].card_id)] == ["issued", "lapsed"]
        with store.unit_of_work() as uow:
            replaced = step(again, "lapsed", state="lapsed", reason="replaced")
            store.cards.update(uow, *replaced)
            assert store.cards.live_for(again.holder, uow) is None
            newest = card_row(10, holder=4)
            store.cards.issue(uow, newest, event_of(newest))
            assert store.cards.live_for(again.holder, uow) == newest
        assert store.cards.live_for(again.holder) == newest

    def test_cards_awaiting_continued_use_and_expiring_are_ordered_filtered_limited(
        self, store: Store
    ) -> None:
        day = _ISSUED + timedelta(days=100)
        for n in range(1, 13):  # live cards, half of them suspended, each after a move-in
            card = card_row(n, expires_on=day + timedelta(days=n % 5))
            self._issue(store, card)
            moved_in_on = day - timedelta(days=n % 4)
            state = "suspended" if n % 2 else "in_effect"
            self._update(store, card, "moved_in", state=state, moved_in_on=moved_in_on)
        live = list(store.cards.get_many([card_row(n).card_id for n in range(1, 13)]).values())
        self._issue(store, card_row(21, expires_on=day - timedelta(days=50)))  # no move-in
        ended = card_row(20, expires_on=day - timedelta(days=60))
        self._issue(store, ended)  # not live: in neither list
        self._update(
            store,
            ended,
            "lapsed",
            state="lapsed",
            reason="not_continued",
            moved_in_on=day - timedelta(days=9),
        )
        rows = live
        by_move = sorted(rows, key=lambda c: (c.moved_in_on, c.card_id))
        for before in (day - timedelta(days=2), day, day + timedelta(days=1)):
            want = [c for c in by_move if c.moved_in_on is not None and c.moved_in_on < before]
            assert store.cards.awaiting_continued_use(moved_in_before=before) == want
            assert store.cards.awaiting_continued_use(moved_in_before=before, limit=3) == want[:3]
        assert store.cards.awaiting_continued_use(moved_in_before=day - timedelta(days=3)) == []
        assert store.cards.awaiting_continued_use(moved_in_before=day, limit=0) == []
        old = store.cards.get(card_row(21).card_id)
        assert old is not None
        by_expiry = sorted([*rows, old], key=lambda c: (c.expires_on, c.card_id))
        for before in (day, day + timedelta(days=3), date.max):
            want = [c for c in by_expiry if c.expires_on < before]
            assert store.cards.expiring(before=before) == want
            assert store.cards.expiring(before=before, limit=2) == want[:2]
        assert store.cards.expiring(before=old.expires_on) == []
        # inside a unit of work: its own changes count
        with store.unit_of_work() as uow:
            continued = step(by_move[0], "continued", moved_in_on=None)[0]
            store.cards.update(uow, continued, event_of(continued, "continued"))
            assert (
                store.cards.awaiting_continued_use(moved_in_before=date.max, uow=uow) == by_move[1:]
            )
            returned = step(old, "returned", state="returned")
            store.cards.update(uow, *returned)
            assert old not in store.cards.expiring(before=date.max, uow=uow)
        assert store.cards.awaiting_continued_use(moved_in_before=date.max) == by_move[1:]

    def test_cards_get_many_reads_more_than_one_chunk(self, store: Store) -> None:
        positions = (0, 1, 499, 500, 501, 999, 1000, 1001, 1199)
        cards = [card_row(5000 + p) for p in positions]
        self._issue(store, *cards)
        ids = [card_row(5000 + p).card_id for p in range(1200)]
        found = store.cards.get_many([*ids, *ids[:50]])  # repeated ids are found once
        assert found == {c.card_id: c for c in cards}
        assert list(found) == [c.card_id for c in cards]  # in the order asked
        assert store.cards.get_many(ids[2:499]) == {}

    def test_racing_card_issuers_for_one_holder_exactly_one_wins(self, store: Store) -> None:
        writers = [self.handle(store), self.handle(store)]
        rounds = self.racing_rounds
        won: dict[int, list[int]] = {0: [], 1: []}

        def issue(w: int) -> Callable[[], None]:
            def run() -> None:
                for i in range(rounds):
                    card = card_row(100_000 * (w + 1) + i, holder=700 + i)
                    try:
                        self._issue(writers[w], card)
                    except IntegrityError:
                        continue
                    won[w].append(i)

            return run

        _run_threads([issue(0), issue(1)])
        assert sorted(won[0] + won[1]) == list(range(rounds))
        for w, rounds_won in won.items():
            for i in rounds_won:
                winner = card_row(100_000 * (w + 1) + i, holder=700 + i)
                loser = card_row(100_000 * (2 - w) + i, holder=700 + i)
                assert store.cards.live_for(winner.holder) == winner
                assert store.cards.get(loser.card_id) is None
                assert store.cards.history(loser.card_id) == []

    def test_racing_card_updaters_of_one_card_exactly_one_wins(self, store: Store) -> None:
        cards = [card_row(n) for n in range(1, self.racing_rounds + 1)]
        self._issue(store, *cards)
        writers = [self.handle(store), self.handle(store)]
        won: dict[int, list[int]] = {0: [], 1: []}
        changes = (
            {"state": "suspended"},
            {"municipality": MUNICIPALITIES[1], "moved_in_on": _ISSUED},
        )

        def update(w: int) -> Callable[[], None]:
            def run() -> None:
                for i, card in enumerate(cards):
                    later, event = step(card, ("suspended", "moved_in")[w], **changes[w])
                    try:
                        with writers[w].unit_of_work() as uow:
                            writers[w].cards.update(uow, later, event)
                    except IntegrityError:
                        continue
                    won[w].append(i)

            return run

        _run_threads([update(0), update(1)])
        assert sorted(won[0] + won[1]) == list(range(len(cards)))
        for w, rounds_won in won.items():
            for i in rounds_won:
                later, event = step(cards[i], ("suspended", "moved_in")[w], **changes[w])
                assert store.cards.get(later.card_id) == later
                assert store.cards.history(later.card_id) == [event_of(cards[i]), event]

    def test_cards_bad_arguments_raise_and_write_nothing(self, store: Store) -> None:
        card = card_row(1)
        self._issue(store, card)
        other = card_row(2)
        later, event = step(card, "suspended", state="suspended")
        seen: dict[str, Any] = {
            "cards": [card.card_id, other.card_id],
            "codes": [card.holder, other.holder],
        }
        before = snapshot(store, **seen)
        writes: list[tuple[type[JukinetError], Callable[[UnitOfWork], object]]] = [
            (InterfaceError, lambda uow: store.cards.issue(uow, [other], event_of(other))),  # type: ignore[arg-type]
            (InterfaceError, lambda uow: store.cards.issue(uow, other, None)),  # type: ignore[arg-type]
            (InterfaceError, lambda uow: store.cards.update(uow, later, [event])),  # type: ignore[arg-type]
            (InterfaceError, lambda _uow: store.cards.issue(None, other, event_of(other))),  # type: ignore[arg-type]
            (InterfaceError, lambda _uow: store.cards.update(None, later, event)),  # type: ignore[arg-type]
            (ValidationError, lambda uow: store.cards.issue(uow, other, event_of(card))),
            (
                ValidationError,
                lambda uow: store.cards.issue(uow, other, event_of(other, "resumed")),
            ),
            (ValidationError, lambda uow: store.cards.issue(uow, *step(other, "issued"))),
            (
                ValidationError,
                lambda uow: store.cards.issue(
                    uow, attrs.evolve(other, state="suspended"), event_of(other)
                ),
            ),
            (
                ValidationError,
                lambda uow: store.cards.update(uow, later, event_of(later, "issued")),
            ),
            (
                ValidationError,
                lambda uow: store.cards.update(uow, later, attrs.evolve(event, version=3)),
            ),
            (ValidationError, lambda uow: store.cards.update(uow, later, event_of(card))),
        ]
        for error, write in writes:
            with pytest.raises(error), store.unit_of_work() as uow:  # noqa: PT012
                store.outbox.append(uow, "pref13", [b"effect"])
                write(uow)
            assert snapshot(store, **seen) == before
        reads: list[Callable[[], object]] = [
            lambda: store.cards.get("A" * 32),
            lambda: store.cards.get(card.card_id[:-1]),
            lambda: store.cards.get(None),  # type: ignore[arg-type]
            lambda: store.cards.get_many(card.card_id),
            lambda: store.cards.get_many([card.card_id, "x"]),
            lambda: store.cards.get_many(None),  # type: ignore[arg-type]
            lambda: store.cards.history(7),  # type: ignore[arg-type]
            lambda: store.cards.live_for(BAD_CHECK_DIGIT_CODE),
            lambda: store.cards.live_for("1234567890"),
            lambda: store.cards.expiring(before="2030-01-01"),  # type: ignore[arg-type]
            lambda: store.cards.expiring(before=_ISSUED, limit=-1),
            lambda: store.cards.awaiting_continued_use(moved_in_before=None),  # type: ignore[arg-type]
            lambda: store.cards.awaiting_continued_use(moved_in_before=_ISSUED, limit=True),
        ]
        for call in reads:
            with pytest.raises(JukinetError):
                call()

    def test_card_values_are_checked(self) -> None:
        bad: list[dict[str, Any]] = [
            {"card_id": "A" * 32},
            {"card_id": "0" * 31},
            {"holder": BAD_CHECK_DIGIT_CODE},
            {"kind": "passport"},
            {"photo": 1},
            {"issuer": "13101"},
            {"issued_on": "2026-04-01"},
            {"expires_on": _ISSUED - timedelta(days=1)},
            {"public_key": bytes(31)},
            {"state": "lost"},
            {"reason": "lost"},
            {"municipality": "131017"},
            {"moved_in_on": "2026-04-01"},
            {"version": 0},
            {"version": True},
        ]
        good = card_row(1)
        for changes in bad:
            with pytest.raises(ValidationError):
                attrs.evolve(good, **changes)
        event = event_of(card_row(1))
        bad_events: list[dict[str, Any]] = [
            {"event": "lost"},
            {"version": 0},
            {"on": None},
            {"reason": "x"},
            {"municipality": "13101"},
        ]
        for changes in bad_events:
            with pytest.raises(ValidationError):
                attrs.evolve(event, **changes)

    @SETTINGS
    @given(
        steps=st.lists(
            st.tuples(st.integers(0, 2), st.sampled_from(["issue", *_STATE_AFTER, "lapsed"])),
            max_size=12,
        )
    )
    def test_cards_follow_a_simple_model(self, store: Store, steps: list[tuple[int, str]]) -> None:
        # Per holder a list of cards; at most the last is live; a write the model
        # refuses is refused, and every read agrees with the model.
        base = 10_000 * _fresh_serial()
        holders = [base + h for h in range(3)]
        model: dict[int, list[CardRow]] = {h: [] for h in holders}
        events: dict[str, list[CardEventRow]] = {}
        for n, (h, action) in enumerate(steps):
            holder, cards = holders[h], model[holders[h]]
            current = cards[-1] if cards else None
            if action == "issue":
                card = card_row(base + 100 + n, holder=holder)
                allowed = current is None or not current.live
                change: tuple[CardRow, CardEventRow] = (card, event_of(card))
            elif current is None:
                continue
            else:
                state = _STATE_AFTER.get(action, "lapsed")
                reason = "expired" if action == "lapsed" else ""
                change = step(current, action, state=state, reason=reason)
                allowed = current.live
            write = store.cards.issue if action == "issue" else store.cards.update
            if allowed:
                with store.unit_of_work() as uow:
                    write(uow, *change)
                if action == "issue":
                    cards.append(change[0])
                else:
                    cards[-1] = change[0]
                events.setdefault(change[0].card_id, []).append(change[1])
            else:
                with pytest.raises(IntegrityError), store.unit_of_work() as uow:
                    write(uow, *change)
        for holder, cards in model.items():
            live = cards[-1] if cards and cards[-1].live else None
            assert store.cards.live_for(RowFactory.code(holder)) == live
            assert store.cards.get_many([c.card_id for c in cards]) == {c.card_id: c for c in cards}
            for card in cards:
                assert store.cards.history(card.card_id) == events[card.card_id]
