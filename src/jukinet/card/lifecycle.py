"""The card's lifecycle: its states, the events that move it, and the deadlines.

A card is issued on application, one in effect per person (住基法旧30条の44第3項;
番号法17条1項); it is suspended at once on a loss report (一時停止) and the
suspension is lifted only in person; it is returned, or it loses its effect
(失効) when the resident code changes, the record is removed (death, moving
abroad), the holder moves and does not register continued use (継続利用) within
:data:`CONTINUED_USE_DAYS` days of the move-in or moves again first, or the card
expires (domain-facts §7, §8; 番号法施行令14条).

:class:`CardStatus` is a card's state as a frozen value; each step returns a
:class:`Transition`: the next status and the :class:`CardHistoryEntry` that led
to it, so a register keeps both and the history is never rewritten.
:meth:`CardStatus.due` names the lapse a date brings without any act.

>>> from datetime import date
>>> from jukinet.card.kinds import CardKind
>>> from jukinet.domain.lg_code import LocalGovernmentCode
>>> from jukinet.domain.resident_code import ResidentCode
>>> chiyoda, sapporo = LocalGovernmentCode("131016"), LocalGovernmentCode("011002")
>>> card = CardStatus.issue(
...     card_id="0" * 32, holder=ResidentCode("12345678903"), kind=CardKind.MY_NUMBER,
...     photo=True, issuer=chiyoda, issued_on=date(2024, 4, 1), born_on=date(1980, 5, 5),
... ).status
>>> card.expires_on
datetime.date(2033, 5, 5)
>>> moved = card.moved_in(on=date(2025, 1, 10), at=sapporo).status
>>> moved.continued_use_deadline
datetime.date(2025, 4, 10)
>>> moved.due(date(2025, 4, 10)) is None
True
>>> moved.due(date(2025, 4, 11)).entry.reason
<LapseReason.NOT_CONTINUED: 'not_continued'>
"""

from __future__ import annotations

import enum
import re
from datetime import date, timedelta

import attrs

from jukinet.card.kinds import CardKind, check_issuable, rules_for
from jukinet.domain.lg_code import LocalGovernmentCode
from jukinet.domain.resident_code import ResidentCode
from jukinet.errors import (
    CardExpired,
    CardRevoked,
    CardSuspended,
    DeadlinePassed,
    InvalidFormat,
    InvalidState,
)

__all__ = [
    "CONTINUED_USE_DAYS",
    "CardEvent",
    "CardHistoryEntry",
    "CardState",
    "CardStatus",
    "LapseReason",
    "Transition",
]

CONTINUED_USE_DAYS = 90
"""Days after the move-in (転入届) within which continued use must be registered; the
last allowed day is the move-in day plus this many days (domain-facts §7)."""

_CARD_ID = re.compile(r"[0-9a-f]{32}")


class CardState(enum.Enum):
    """Where a card stands."""

    IN_EFFECT = "in_effect"
    """有効: usable."""
    SUSPENDED = "suspended"
    """一時停止: reported lost; lifted only in person."""
    RETURNED = "returned"
    """返納: handed back; final."""
    LAPSED = "lapsed"
    """失効・廃止: lost its effect; final (see :class:`LapseReason`)."""


class LapseReason(enum.Enum):
    """Why a card lost its effect."""

    CODE_CHANGED = "code_changed"
    """The resident code was changed (住基法30条の4)."""
    REMOVED = "removed"
    """The record was removed: death, moving abroad, 職権消除."""
    NOT_CONTINUED = "not_continued"
    """No continued use within :data:`CONTINUED_USE_DAYS` days of the move-in."""
    MOVED_AGAIN = "moved_again"
    """The holder moved out again before registering continued use."""
    MOVED_OUT = "moved_out"
    """A Juki card's holder moved out before 2012-07-09 (no continued use then)."""
    LATE_MOVE_IN = "late_move_in"
    """The move-in was filed after the special procedure's limits (令24条の2)."""
    EXPIRED = "expired"
    """The validity period ended."""
    REPLACED = "replaced"
    """A new card was issued in its place (e.g. a My Number card for a Juki card)."""


class CardEvent(enum.Enum):
    """What happened to a card (one history entry each)."""

    ISSUED = "issued"
    SUSPENDED = "suspended"
    RESUMED = "resumed"
    RETURNED = "returned"
    MOVED_IN = "moved_in"
    CONTINUED = "continued"
    PIN_RESET = "pin_reset"
    LAPSED = "lapsed"


def _card_id(value: object) -> str:
    if not isinstance(value, str) or not _CARD_ID.fullmatch(value):
        raise InvalidFormat(field="card_id", expected="32 lowercase hexadecimal digits")
    return value


@attrs.frozen(kw_only=True)
class CardHistoryEntry:
    """One event in a card's history: its number, what, when, where and why."""

    version: int
    event: CardEvent
    on: date
    municipality: LocalGovernmentCode
    reason: LapseReason | None = None

    def __attrs_post_init__(self) -> None:
        if self.version < 1:
            raise InvalidFormat(field="version", expected="a number from 1")
        if (self.event is CardEvent.LAPSED) != (self.reason is not None):
            raise InvalidFormat(field="reason", expected="a reason exactly for a lapse")


@attrs.frozen(kw_only=True)
class Transition:
    """The next status and the history entry that led to it."""

    status: CardStatus
    entry: CardHistoryEntry


_FINAL = (CardState.RETURNED, CardState.LAPSED)


@attrs.frozen(kw_only=True)
class CardStatus:
    """A card's state: who holds it, what it is, and where it stands.

    ``municipality`` is the municipality whose register holds the holder now;
    ``moved_in_on`` a move-in there still awaiting continued use; ``version`` the
    number of history entries so far.
    """

    card_id: str = attrs.field(converter=_card_id)
    holder: ResidentCode
    kind: CardKind
    photo: bool
    issuer: LocalGovernmentCode
    issued_on: date
    expires_on: date
    municipality: LocalGovernmentCode
    state: CardState = CardState.IN_EFFECT
    reason: LapseReason | None = None
    moved_in_on: date | None = None
    version: int = 1

    def __attrs_post_init__(self) -> None:
        if self.expires_on < self.issued_on:
            raise InvalidFormat(field="expires_on", expected="a day on or after the issue day")
        if (self.state is CardState.LAPSED) != (self.reason is not None):
            raise InvalidFormat(field="reason", expected="a reason exactly for a lapsed card")
        if self.version < 1:
            raise InvalidFormat(field="version", expected="a number from 1")
        if not rules_for(self.kind).photo_choice and not self.photo:
            raise InvalidFormat(field="photo", expected=f"a photo on every {self.kind.value} card")

    @classmethod
    def issue(
        cls,
        *,
        card_id: str,
        holder: ResidentCode,
        kind: CardKind,
        photo: bool,
        issuer: LocalGovernmentCode,
        issued_on: date,
        born_on: date,
        stay_until: date | None = None,
    ) -> Transition:
        """A new card issued on ``issued_on`` by ``issuer``, in effect until the kind's
        expiry; refused (:class:`~jukinet.errors.InvalidState`) outside the kind's
        issue window."""
        check_issuable(kind, issued_on)
        expires_on = rules_for(kind).expiry(
            issued_on=issued_on, born_on=born_on, stay_until=stay_until
        )
        status = cls(
            card_id=card_id,
            holder=holder,
            kind=kind,
            photo=photo,
            issuer=issuer,
            issued_on=issued_on,
            expires_on=expires_on,
            municipality=issuer,
        )
        entry = CardHistoryEntry(
            version=1, event=CardEvent.ISSUED, on=issued_on, municipality=issuer
        )
        return Transition(status=status, entry=entry)

    # -- reading --

    @property
    def live(self) -> bool:
        """In effect or suspended: not yet returned or lapsed."""
        return self.state not in _FINAL

    @property
    def continued_use_deadline(self) -> date | None:
        """The last day continued use may be registered, when a move-in awaits it."""
        if self.moved_in_on is None:
            return None
        return self.moved_in_on + timedelta(days=CONTINUED_USE_DAYS)

    def due(self, day: date) -> Transition | None:
        """The lapse ``day`` brings by itself (the earliest, dated the day after the
        deadline it missed), or None."""
        if not self.live:
            return None
        lapses: list[tuple[date, LapseReason]] = []
        if day > self.expires_on:
            lapses.append((self.expires_on + timedelta(days=1), LapseReason.EXPIRED))
        deadline = self.continued_use_deadline
        if deadline is not None and day > deadline:
            lapses.append((deadline + timedelta(days=1), LapseReason.NOT_CONTINUED))
        if not lapses:
            return None
        on, reason = min(lapses, key=lambda lapse: lapse[0])
        return self.lapse(reason, on=on, at=self.municipality)

    def check_in_effect(self, day: date) -> None:
        """Raise unless the card is in effect on ``day``: :class:`~jukinet.errors.CardRevoked`
        (returned or lapsed, also by a missed continued-use deadline),
        :class:`~jukinet.errors.CardExpired` or :class:`~jukinet.errors.CardSuspended`."""
        if self.state is CardState.RETURNED:
            raise CardRevoked("the card was returned", expected="a card in effect")
        if self.state is CardState.LAPSED:
            assert self.reason is not None
            raise CardRevoked(
                f"the card lost its effect ({self.reason.value})", expected="a card in effect"
            )
        lapse = self.due(day)
        if lapse is not None:
            assert lapse.entry.reason is not None
            if lapse.entry.reason is LapseReason.EXPIRED:
                raise CardExpired(
                    f"the card expired after {self.expires_on.isoformat()}",
                    expected=f"a day up to {self.expires_on.isoformat()}",
                )
            raise CardRevoked(
                f"the card lost its effect on {lapse.entry.on.isoformat()} "
                f"({lapse.entry.reason.value})",
                expected="a card in effect",
            )
        if self.state is CardState.SUSPENDED:
            raise CardSuspended(expected="the suspension lifted in person at the counter")

    # -- steps --

    def _step(
        self,
        event: CardEvent,
        *,
        on: date,
        at: LocalGovernmentCode,
        reason: LapseReason | None = None,
        **changes: object,
    ) -> Transition:
        if on < self.issued_on:
            raise InvalidState(
                f"{event.value} dated {on.isoformat()}",
                field="on",
                expected=f"a day on or after the issue day {self.issued_on.isoformat()}",
            )
        version = self.version + 1
        if reason is not None:
            changes["reason"] = reason
        status = attrs.evolve(self, version=version, **changes)  # type: ignore[arg-type]
        entry = CardHistoryEntry(
            version=version, event=event, on=on, municipality=at, reason=reason
        )
        return Transition(status=status, entry=entry)

    def _require(self, day: date, *states: CardState) -> None:
        """Refuse a step on ``day`` unless the card is in one of ``states`` and no lapse is due."""
        if not self.live:
            self.check_in_effect(day)  # raises CardRevoked
        lapse = self.due(day)
        if lapse is not None:
            self.check_in_effect(day)  # raises CardExpired / CardRevoked
        if self.state not in states:
            if self.state is CardState.SUSPENDED:
                raise CardSuspended(expected="the suspension lifted in person at the counter")
            raise InvalidState(
                f"the card is {self.state.value}",
                field="state",
                expected=" or ".join(state.value for state in states),
            )

    def suspend(self, *, on: date, at: LocalGovernmentCode) -> Transition:
        """一時停止 on a loss report (by telephone too): only a card in effect."""
        self._require(on, CardState.IN_EFFECT)
        return self._step(CardEvent.SUSPENDED, on=on, at=at, state=CardState.SUSPENDED)

    def resume(self, *, on: date, at: LocalGovernmentCode) -> Transition:
        """Lift the suspension (the holder in person with the card)."""
        self._require(on, CardState.SUSPENDED)
        return self._step(CardEvent.RESUMED, on=on, at=at, state=CardState.IN_EFFECT)

    def give_back(self, *, on: date, at: LocalGovernmentCode) -> Transition:
        """返納: the card is handed back; it never changes again."""
        self._require(on, CardState.IN_EFFECT, CardState.SUSPENDED)
        return self._step(
            CardEvent.RETURNED, on=on, at=at, state=CardState.RETURNED, moved_in_on=None
        )

    def lapse(self, reason: LapseReason, *, on: date, at: LocalGovernmentCode) -> Transition:
        """失効 for ``reason``; it never changes again."""
        if not self.live:
            self.check_in_effect(on)
        return self._step(
            CardEvent.LAPSED,
            on=on,
            at=at,
            reason=reason,
            state=CardState.LAPSED,
            moved_in_on=None,
        )

    def moved_out(self, *, on: date, at: LocalGovernmentCode) -> Transition | None:
        """The holder moved out of ``at`` on ``on``: the card lapses when a move-in still
        awaits continued use (moved again first) or, for a Juki card before 2012-07-09,
        always; otherwise nothing changes (None)."""
        if not self.live:
            return None
        if self.moved_in_on is not None:
            return self.lapse(LapseReason.MOVED_AGAIN, on=on, at=at)
        if not rules_for(self.kind).continues_after_move(on):
            return self.lapse(LapseReason.MOVED_OUT, on=on, at=at)
        return None

    def moved_in(self, *, on: date, at: LocalGovernmentCode) -> Transition:
        """The holder's move-in at ``at`` was registered on ``on``: continued use is now
        due within :data:`CONTINUED_USE_DAYS` days."""
        if not self.live:
            self.check_in_effect(on)
        if self.moved_in_on is not None:
            return self.lapse(LapseReason.MOVED_AGAIN, on=on, at=at)
        return self._step(CardEvent.MOVED_IN, on=on, at=at, municipality=at, moved_in_on=on)

    def continue_use(self, *, on: date, at: LocalGovernmentCode) -> Transition:
        """継続利用 registered at ``at`` (the new municipality, after the PIN): refused
        without a pending move-in there, or after its deadline
        (:class:`~jukinet.errors.DeadlinePassed`)."""
        deadline = self.continued_use_deadline
        if deadline is not None and on > deadline and self.live:
            raise DeadlinePassed(
                f"continued use registered on {on.isoformat()}",
                field="on",
                expected=f"a day up to {deadline.isoformat()} ({CONTINUED_USE_DAYS} days "
                "after the move-in)",
            )
        self._require(on, CardState.IN_EFFECT)
        if self.moved_in_on is None or at != self.municipality:
            raise InvalidState(
                "no move-in here awaits continued use",
                field="municipality",
                expected=f"the municipality of the pending move-in ({self.municipality})",
            )
        return self._step(CardEvent.CONTINUED, on=on, at=at, moved_in_on=None)

    def pin_reset(self, *, on: date, at: LocalGovernmentCode) -> Transition:
        """The PIN was reset at the counter (which unlocks the chip)."""
        self._require(on, CardState.IN_EFFECT)
        return self._step(CardEvent.PIN_RESET, on=on, at=at)

    def replay(self, entry: CardHistoryEntry) -> Transition:
        """The step ``entry`` records, taken from this status: what a tier that keeps
        the card's state checks a reported step against (it must give the reported
        status). An ``issued`` entry or one that does not follow this status's version
        is refused (:class:`~jukinet.errors.InvalidState`), as is a step the rules do not allow."""
        if entry.version != self.version + 1:
            raise InvalidState(
                f"entry {entry.version} does not follow version {self.version}",
                field="version",
                expected=str(self.version + 1),
            )
        on, at = entry.on, entry.municipality
        event = entry.event
        if event is CardEvent.LAPSED:
            assert entry.reason is not None
            return self.lapse(entry.reason, on=on, at=at)
        steps = {
            CardEvent.SUSPENDED: self.suspend,
            CardEvent.RESUMED: self.resume,
            CardEvent.RETURNED: self.give_back,
            CardEvent.MOVED_IN: self.moved_in,
            CardEvent.CONTINUED: self.continue_use,
            CardEvent.PIN_RESET: self.pin_reset,
        }
        if event not in steps:
            raise InvalidState("a card is issued once", field="event", expected="a later step")
        done = steps[event](on=on, at=at)
        if done.entry != entry:
            raise InvalidState(
                f"{event.value} on {on.isoformat()} leads elsewhere",
                field="event",
                expected=f"the entry the rules give ({done.entry.event.value})",
            )
        return done
