"""A municipality's card counter: issuing the resident card and keeping its state.

The :class:`CardDesk` of a :class:`~jukinet.tiers.municipality.Municipality` holds
the municipality's card issuer key (:class:`~jukinet.card.keys.IssuerKey`) and a
counter terminal (:class:`~jukinet.card.terminal.CounterTerminal`). It issues a
card on application to a current resident (one live card per person, 住基法旧30条の44
第3項; 番号法17条1項), suspends it on a loss report, lifts the suspension with the
holder and the card in person, takes it back, resets its PIN after confirming the
holder's identity, and lets the card lapse when its deadlines pass
(:meth:`CardDesk.sweep`). The register's own changes move the card too, in the same
unit of work (:func:`follow`): a death, a move abroad or a removal by the mayor ends
it, a code change ends it (30条の4), a move-out keeps it (or ends it: see
:meth:`~jukinet.card.lifecycle.CardStatus.moved_out`).

Every step is one unit of work: the card's new state and its history entry in the
card registry (:class:`~jukinet.storage.base.CardRegistry`), an audit entry, and a
``card_status`` message to the prefecture, which passes it to the centre, so the
network knows every card's state (:mod:`jukinet.tiers.card_office`). At any
municipality, :meth:`CardDesk.check` checks a presented card end to end: the chip
and the counter authenticate each other, the PIN is verified where the procedure
needs it, and the centre answers whether the card is in effect and its holder a
current resident, bound to the card presented (its id and its chip's key) and to the
request (the envelope's digest).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import Callable, Sequence
from datetime import date, timedelta

import attrs

from jukinet._log import event
from jukinet.card.chip import Chip
from jukinet.card.data import CardData, PrintedItems
from jukinet.card.keys import IssuerKey
from jukinet.card.kinds import CardKind, ChipCode, kinds_issuable_on, rules_for
from jukinet.card.lifecycle import (
    CONTINUED_USE_DAYS,
    CardEvent,
    CardHistoryEntry,
    CardStatus,
    LapseReason,
    Transition,
)
from jukinet.card.pin import ScryptCost
from jukinet.card.terminal import CardSession, CounterTerminal
from jukinet.domain._repr import never_raises
from jukinet.domain.changes import ChangeReason
from jukinet.domain.individual_number import IndividualNumber
from jukinet.domain.lg_code import LocalGovernmentCode
from jukinet.domain.resident import ResidentRecord
from jukinet.domain.resident_code import ResidentCode
from jukinet.errors import (
    CardAuthenticationFailed,
    CardError,
    CardExpired,
    CardLocked,
    CardRevoked,
    CardSuspended,
    InvalidComponent,
    InvalidState,
    Misaddressed,
    NotFound,
)
from jukinet.storage.base import Store, UnitOfWork
from jukinet.storage.records import AuditEntry
from jukinet.tiers import card_messages as cm
from jukinet.tiers._repr import node_label
from jukinet.tiers.clock import Clock
from jukinet.tiers.messages import CENTER, Envelope, NodeId

__all__ = ["CardDesk", "PendingCheck", "follow", "require_in_effect"]

_logger = logging.getLogger(__name__)

_REMOVALS = frozenset(
    {
        ChangeReason.MOVE_ABROAD,
        ChangeReason.DEATH,
        ChangeReason.EX_OFFICIO_REMOVAL,
        ChangeReason.EX_OFFICIO_REMOVAL_NATURALIZATION,
        ChangeReason.EX_OFFICIO_REMOVAL_NATIONALITY_LOSS,
    }
)
"""Removals that end the card (domain-facts §8: death, moving abroad, removal)."""


def _record(
    store: Store,
    send: Callable[[UnitOfWork, NodeId, Sequence[bytes]], object],
    prefecture: NodeId,
    clock: Clock,
    uow: UnitOfWork,
    done: Transition,
    public_key: bytes,
    *,
    first: bool = False,
) -> None:
    """Keep a card step: registry, audit, and the message up the tiers."""
    card = cm.card_row(done.status, public_key)
    event = cm.event_row(done.status.card_id, done.entry)
    if first:
        store.cards.issue(uow, card, event)
    else:
        store.cards.update(uow, card, event)
    detail = {"card": card.card_id, "event": event.event, "version": event.version}
    if event.reason:
        detail["reason"] = event.reason
    store.audit.append(
        uow,
        [
            AuditEntry(
                at=clock.now(),
                action=f"card.{event.event}",
                subject=card.holder,
                detail=json.dumps(detail, sort_keys=True).encode(),
            )
        ],
    )
    send(uow, prefecture, [cm.encode_card_status(card, event)])


def follow(
    store: Store,
    send: Callable[[UnitOfWork, NodeId, Sequence[bytes]], object],
    prefecture: NodeId,
    clock: Clock,
    uow: UnitOfWork,
    *,
    before: ResidentRecord | None,
    reason: ChangeReason,
    event_date: date,
    at: LocalGovernmentCode,
) -> None:
    """Move the holder's live card with a change of their record, in its unit of work:
    a removal (death, moving abroad, 職権消除) or a code change ends it, a move-out
    keeps or ends it (:meth:`~jukinet.card.lifecycle.CardStatus.moved_out`)."""
    if before is None:
        return
    if reason not in _REMOVALS and reason not in (
        ChangeReason.RESIDENT_CODE_CHANGE_REQUEST,
        ChangeReason.DOMESTIC_MOVE_OUT,
    ):
        return
    row = store.cards.live_for(before.resident_code.value, uow)
    if row is None:
        return
    status = cm.card_status(row)
    on = max(event_date, status.issued_on)
    due = status.due(on)
    if due is not None:
        _record(store, send, prefecture, clock, uow, due, row.public_key)
        return
    done: Transition | None
    if reason is ChangeReason.DOMESTIC_MOVE_OUT:
        done = status.moved_out(on=on, at=at)
    elif reason is ChangeReason.RESIDENT_CODE_CHANGE_REQUEST:
        done = status.lapse(LapseReason.CODE_CHANGED, on=on, at=at)
    else:
        done = status.lapse(LapseReason.REMOVED, on=on, at=at)
    if done is not None:
        _record(store, send, prefecture, clock, uow, done, row.public_key)


@attrs.frozen(kw_only=True)
class PendingCheck:
    """A card check sent to the centre and not yet answered: the request envelope to
    send, and what its answer must be bound to."""

    envelope: Envelope
    card_id: str
    public_key: str


class CardDesk:
    """A municipality's card counter (see the module docstring).

    ``issuer`` is the municipality's certified issuer key, ``terminal`` its
    counter terminal (certified by that issuer), ``rng`` the source of card ids and
    the chips' keys (a :class:`random.SystemRandom` for real use). ``scrypt_cost``
    is passed to each chip issued (``None``: the chip's default).
    """

    def __init__(
        self,
        municipality: object,
        *,
        issuer: IssuerKey,
        terminal: CounterTerminal,
        rng: random.Random,
        scrypt_cost: ScryptCost | None = None,
    ) -> None:
        from jukinet.tiers.municipality import Municipality  # the desk serves one

        if not isinstance(municipality, Municipality):
            raise TypeError(
                f"municipality: expected a Municipality, got {type(municipality).__name__}"
            )
        if issuer.municipality != municipality.code:
            raise InvalidComponent(
                f"the issuer key is {issuer.municipality}'s",
                field="issuer",
                expected=f"the issuer key of {municipality.code}",
            )
        self._town = municipality
        self._issuer = issuer
        self._terminal = terminal
        self._rng = rng
        self._cost = scrypt_cost
        self._checks: dict[str, PendingCheck] = {}

    def reopen(self, municipality: object) -> CardDesk:
        """The same desk (keys, terminal, random source) serving a fresh instance of
        its municipality (after a restart)."""
        return CardDesk(
            municipality,
            issuer=self._issuer,
            terminal=self._terminal,
            rng=self._rng,
            scrypt_cost=self._cost,
        )

    @property
    def _store(self) -> Store:
        return self._town.store

    def _keep(
        self, uow: UnitOfWork, done: Transition, public_key: bytes, *, first: bool = False
    ) -> None:
        cs = self._town.cs
        _record(
            self._store,
            cs.queue,
            cs.prefecture,
            self._town.clock,
            uow,
            done,
            public_key,
            first=first,
        )

    # --- reading ------------------------------------------------------------------

    def status(self, card_id: str) -> CardStatus:
        """The card's state as this municipality keeps it (after any lapse that is
        due today, which :meth:`sweep` records)."""
        row = self._store.cards.get(card_id)
        if row is None:
            raise NotFound(f"no card {card_id} in {self._town.code.full_name}", field="card_id")
        return cm.card_status(row)

    def history(self, card_id: str) -> list[CardHistoryEntry]:
        """The card's history, oldest first."""
        return [cm.history_entry(row) for row in self._store.cards.history(card_id)]

    def card_of(self, who: ResidentCode | str) -> CardStatus | None:
        """The person's live card (in effect or suspended), if any."""
        record = self._town.resident(who)
        row = self._store.cards.live_for(record.resident_code.value)
        return None if row is None else cm.card_status(row)

    # --- steps --------------------------------------------------------------------

    def issue(
        self,
        who: ResidentCode | str,
        *,
        pin: str,
        photo: bool = True,
        photo_image: bytes | None = None,
        kind: CardKind | None = None,
    ) -> Chip:
        """Issue a card on application to a current resident and hand over its chip.

        ``kind`` defaults to the kind issued today (:func:`~jukinet.card.kinds.kinds_issuable_on`).
        A photo card needs ``photo_image`` (its SHA-256 goes on the chip). A person
        with a live card is refused (:class:`~jukinet.errors.InvalidState`), except
        that a My Number card replaces a Juki card, which lapses (domain-facts §8).
        """
        today = self._town.clock.today()
        if kind is None:
            kinds = kinds_issuable_on(today)
            if not kinds:
                raise InvalidState(
                    f"no resident card is issued on {today.isoformat()}",
                    field="kind",
                    expected="a day from 2003-08-25",
                )
            kind = kinds[0]
        if photo and photo_image is None:
            raise InvalidComponent(
                "a photo card without a photo", field="photo_image", expected="the photo's bytes"
            )
        if not photo and photo_image is not None:
            raise InvalidComponent(
                "a photo for a card without one",
                field="photo_image",
                expected="None for a type A card",
            )
        with self._store.unit_of_work() as uow:
            record = self._town._history_in(uow, who).current
            if record.is_removed:
                raise InvalidState(
                    f"{record.resident_code} is not a current resident",
                    field="resident",
                    expected="a current resident (住民票 not removed)",
                )
            holder = record.resident_code.value
            live = self._store.cards.live_for(holder, uow)
            if live is not None:
                if not (live.kind == CardKind.JUKI.value and kind is CardKind.MY_NUMBER):
                    raise InvalidState(
                        f"{holder} holds card {live.card_id} ({live.state})",
                        field="card",
                        expected="no live card: return it or let it lapse first (one card per person)",
                    )
                replaced = cm.card_status(live).lapse(
                    LapseReason.REPLACED, on=today, at=self._town.code
                )
                self._keep(uow, replaced, live.public_key)
            stay = record.foreign.stay_expires_on if record.foreign else None
            card_id = self._rng.randbytes(16).hex()
            first = CardStatus.issue(
                card_id=card_id,
                holder=record.resident_code,
                kind=kind,
                photo=photo,
                issuer=self._town.code,
                issued_on=today,
                born_on=record.birth_date,
                stay_until=stay,
            )
            chip = self._issuer.issue_card(
                self._card_data(record, first.status, photo_image),
                pin,
                self._rng,
                scrypt_cost=self._cost,
            )
            self._keep(uow, first, chip.read_public().certificate.public_key, first=True)
        return chip

    def _card_data(
        self, record: ResidentRecord, status: CardStatus, photo_image: bytes | None
    ) -> CardData:
        code: ResidentCode | IndividualNumber
        if rules_for(status.kind).chip_code is ChipCode.RESIDENT_CODE:
            code = record.resident_code
        else:
            if record.individual_number is None:
                raise InvalidState(
                    f"{record.resident_code} has no individual number",
                    field="individual_number",
                    expected="an individual number on the record for a My Number card",
                )
            code = record.individual_number
        printed = (
            PrintedItems(
                name=record.name,
                address=record.address,
                birth_date=record.birth_date,
                sex=record.sex,
            )
            if status.photo
            else None
        )
        return CardData(
            card_id=status.card_id,
            kind=status.kind,
            code=code,
            issuer=self._town.code,
            issued_on=status.issued_on,
            expires_on=status.expires_on,
            photo=status.photo,
            printed=printed,
            photo_digest=hashlib.sha256(photo_image).digest() if photo_image else None,
        )

    def _step(
        self,
        card_id: str,
        step: Callable[[CardStatus, date, LocalGovernmentCode], Transition],
    ) -> CardStatus:
        """Apply ``step`` to a card this municipality keeps, today, recording first
        any lapse already due (so a late step sees the card as the rules do)."""
        today = self._town.clock.today()
        with self._store.unit_of_work() as uow:
            row = self._store.cards.get(card_id, uow)
            if (
                row is None
                or row.municipality != self._town.code.value
                or not self._resident_here(uow, row.holder)
            ):
                raise NotFound(
                    f"card {card_id} is not kept by {self._town.code.full_name}",
                    field="card_id",
                    expected="a card of a current resident here (after a move, the new"
                    " municipality keeps it once continued use is registered there)",
                )
            status = cm.card_status(row)
            due = status.due(today)
            if due is not None:
                self._keep(uow, due, row.public_key)
                status = due.status
        if due is not None:
            status.check_in_effect(today)  # raises: the lapse is kept, the step refused
        with self._store.unit_of_work() as uow:
            done = step(status, today, self._town.code)
            self._keep(uow, done, row.public_key)
        return done.status

    def _resident_here(self, uow: UnitOfWork | None, holder: str) -> bool:
        """Whether ``holder`` is a current (not removed) resident of this municipality:
        only then does it write its card's steps."""
        row = self._store.register.current_by_code(holder, uow)
        return row is not None and row.status != "removed"

    def report_lost(self, card_id: str) -> CardStatus:
        """A loss report (by telephone too): the card is suspended at once (一時停止)."""
        return self._step(card_id, lambda s, on, at: s.suspend(on=on, at=at))

    def lift_suspension(self, chip: Chip) -> CardStatus:
        """Lift a suspension: the holder in person with the card, which must
        authenticate at this counter."""
        session = self._authenticate(chip)
        return self._step(session.card_id, lambda s, on, at: s.resume(on=on, at=at))

    def give_back(self, card_id: str) -> CardStatus:
        """The card is handed back (返納); it never changes again."""
        return self._step(card_id, lambda s, on, at: s.give_back(on=on, at=at))

    def reset_pin(self, chip: Chip, new_pin: str) -> CardStatus:
        """Reset a forgotten or locked PIN at the counter, after confirming the
        holder's identity (domain-facts §8): the card authenticates here, must be in
        effect, and the chip takes the new PIN and unlocks."""
        session = self._authenticate(chip)
        status = self._step(session.card_id, lambda s, on, at: s.pin_reset(on=on, at=at))
        session.reset_pin(new_pin, identity_confirmed=True)
        return status

    def add_service(self, chip: Chip, app_id: str, size: int, access_key: bytes) -> None:
        """Add an ordinance service's application area to a card in effect kept here
        (条例利用: seal registration, library, facility booking; old 住基法30条の44第12項),
        at this counter; audited as ``card.area_added``."""
        self._area(chip, "card.area_added", lambda s: s.create_area(app_id, size, access_key))

    def remove_service(self, chip: Chip, app_id: str, access_key: bytes) -> None:
        """Remove an ordinance service's application area (audited ``card.area_removed``)."""
        self._area(chip, "card.area_removed", lambda s: s.remove_area(app_id, access_key))

    def _area(self, chip: Chip, action: str, change: Callable[[CardSession], None]) -> None:
        session = self._authenticate(chip)
        today = self._town.clock.today()
        with self._store.unit_of_work() as uow:
            row = self._store.cards.get(session.card_id, uow)
            if (
                row is None
                or row.municipality != self._town.code.value
                or not self._resident_here(uow, row.holder)
            ):
                raise NotFound(
                    f"card {session.card_id} is not kept by {self._town.code.full_name}",
                    field="card_id",
                    expected="a card of a current resident here",
                )
            cm.card_status(row).check_in_effect(today)
            change(session)
            self._store.audit.append(
                uow,
                [
                    AuditEntry(
                        at=self._town.clock.now(),
                        action=action,
                        subject=row.holder,
                        detail=json.dumps({"card": row.card_id}).encode(),
                    )
                ],
            )

    def sweep(self, today: date | None = None, *, limit: int = 1000) -> int:
        """Record the lapses due by ``today`` (default: the clock's day) of the cards
        kept here: expiry, and continued use not registered within 90 days. Returns
        how many cards lapsed."""
        day = today or self._town.clock.today()
        cards = self._store.cards
        found = {
            row.card_id: row
            for row in (
                *cards.expiring(before=day, limit=limit),
                *cards.awaiting_continued_use(
                    moved_in_before=day - timedelta(days=CONTINUED_USE_DAYS), limit=limit
                ),
            )
            if row.municipality == self._town.code.value and self._resident_here(None, row.holder)
        }
        lapsed = 0
        for row in found.values():
            due = cm.card_status(row).due(day)
            if due is None:
                continue
            with self._store.unit_of_work() as uow:
                self._keep(uow, due, row.public_key)
            lapsed += 1
        event(
            _logger,
            logging.INFO,
            "deadlines.run",
            node=self._town.node_id,
            task="card.lapse",
            today=day.isoformat(),
            count=lapsed,
        )
        return lapsed

    def continue_use(
        self, chip: Chip, *, pin: str, ask: Callable[[Envelope], Envelope]
    ) -> CardStatus:
        """継続利用: the holder who moved in here registers the continued use of their
        card, with the card and its PIN, within 90 days of the move-in (domain-facts
        §7). The centre, which moved the card here when it accepted the move-in,
        answers the card's state (``ask`` carries the request and its answer); this
        municipality adopts it (:meth:`~jukinet.storage.base.CardRegistry.adopt`) and
        records the continued use, which goes up the tiers like every step."""
        answer = self.read_answer(ask(self.check_request(chip, pin=pin).envelope))
        here = self._town.code
        require_in_effect(answer)
        if answer.municipality != here.value or answer.moved_in_on is None:
            raise InvalidState(
                f"card {answer.card_id} awaits no continued use in {here.full_name}",
                field="card",
                expected="a card whose holder's move-in here the centre has recorded",
            )
        public = chip.read_public()
        data = public.data
        assert answer.holder is not None
        assert answer.version is not None
        moved_in_on = date.fromisoformat(answer.moved_in_on)
        status = CardStatus(
            card_id=data.card_id,
            holder=ResidentCode(answer.holder),
            kind=data.kind,
            photo=data.photo,
            issuer=data.issuer,
            issued_on=data.issued_on,
            expires_on=data.expires_on,
            municipality=here,
            moved_in_on=moved_in_on,
            version=answer.version,
        )
        moved = CardHistoryEntry(
            version=answer.version, event=CardEvent.MOVED_IN, on=moved_in_on, municipality=here
        )
        key = public.certificate.public_key
        today = self._town.clock.today()
        with self._store.unit_of_work() as uow:
            if not self._resident_here(uow, answer.holder):
                raise InvalidState(
                    f"{answer.holder} is not a current resident of {here.full_name}",
                    field="resident",
                    expected="the card's holder, registered here by the move-in",
                )
            kept = self._store.cards.get(status.card_id, uow)
            if kept is not None and kept.version >= answer.version:
                # the centre has not heard yet of what this municipality recorded
                # (the continued use itself, the holder coming twice)
                raise InvalidState(
                    f"card {status.card_id} is kept here at version {kept.version},"
                    f" the centre answered version {answer.version}",
                    field="card",
                    expected="a card whose continued use is not registered here yet",
                )
            self._store.cards.adopt(
                uow, cm.card_row(status, key), cm.event_row(status.card_id, moved)
            )
            done = status.continue_use(on=today, at=here)
            self._keep(uow, done, key)
        return done.status

    # --- the counter check ----------------------------------------------------------

    def _authenticate(self, chip: Chip) -> CardSession:
        return self._terminal.authenticate(chip)

    def check_request(self, chip: Chip, *, pin: str | None = None) -> PendingCheck:
        """Start a counter check of a presented card: the card and this counter
        authenticate each other, the PIN is verified when given, and the request to
        the centre is sealed. Send ``.envelope`` to the centre and pass its answer to
        :meth:`read_answer`."""
        session = self._authenticate(chip)
        if pin is not None:
            try:
                session.verify_pin(pin)
            except CardError as exc:
                # Never the PIN itself: only that it was refused and what the card did.
                locked = isinstance(exc, CardLocked)
                event(
                    _logger,
                    logging.WARNING if locked else logging.INFO,
                    "card.locked" if locked else "card.refused",
                    node=self._town.node_id,
                    card=session.card_id,
                    error=type(exc).__name__,
                )
                raise
        public = session.public
        request = cm.CardCheck(
            request_id=self._rng.randbytes(16).hex(),
            card_id=session.card_id,
            public_key=public.certificate.public_key.hex(),
            code=str(public.data.code),
        )
        envelope = self._town.cs.seal_message(CENTER, cm.CARD_CHECK, cm.encode_card_check(request))
        pending = PendingCheck(
            envelope=envelope, card_id=request.card_id, public_key=request.public_key
        )
        self._checks[envelope.digest] = pending
        return pending

    def read_answer(self, envelope: Envelope) -> cm.CardCheckAnswer:
        """The centre's answer to a pending check, once it is checked to come from the
        centre, to answer that request, and to be about that card and key."""
        payload = self._town.cs.open_message(envelope, cm.CARD_CHECK_ANSWER)
        if envelope.sender != CENTER:
            raise Misaddressed(
                f"a card check answered by {envelope.sender}",
                field="sender",
                expected=str(CENTER),
            )
        answer = cm.parse_card_check_answer(payload)
        pending = self._checks.pop(answer.request_hash, None)
        if pending is None:
            raise Misaddressed(
                "the answer names no pending check of this counter",
                field="request_hash",
                expected="the digest of a check sent from here and not yet answered",
            )
        if (answer.card_id, answer.public_key) != (pending.card_id, pending.public_key):
            raise CardAuthenticationFailed(
                "the answer is about another card",
                field="card_id",
                expected=f"card {pending.card_id} with the key its chip proved",
            )
        return answer

    def check(
        self,
        chip: Chip,
        *,
        ask: Callable[[Envelope], Envelope],
        pin: str | None = None,
        moving: bool = False,
    ) -> cm.CardCheckAnswer:
        """Check a presented card end to end, ``ask`` carrying the request to the
        centre and its answer back (the caller's transport), and raise unless it is in
        effect and its holder a current resident: :class:`~jukinet.errors.CardSuspended`,
        :class:`~jukinet.errors.CardExpired`, :class:`~jukinet.errors.CardRevoked` or
        :class:`~jukinet.errors.CardAuthenticationFailed`. With ``moving``, a card
        whose holder moved out and has not moved in yet (verdict ``moving``) is
        answered too: the special move-in accepts it (住基法24条の2)."""
        pending = self.check_request(chip, pin=pin)
        answer = self.read_answer(ask(pending.envelope))
        if not (moving and answer.verdict == "moving"):
            try:
                require_in_effect(answer)
            except CardError as exc:
                event(
                    _logger,
                    logging.WARNING,
                    "card.refused",
                    node=self._town.node_id,
                    card=answer.card_id,
                    verdict=answer.verdict,
                    error=type(exc).__name__,
                )
                raise
        return answer

    # --- repr -------------------------------------------------------------------

    @never_raises
    def __repr__(self) -> str:
        """``<CardDesk m:131016 東京都千代田区 terminal='131016-counter' checks=0>``: the
        municipality, the counter terminal and the card checks awaiting an answer."""
        return (
            f"<CardDesk {node_label(self._town.node_id)}"
            f" terminal={self._terminal.terminal_id!r} checks={len(self._checks)}>"
        )


def require_in_effect(answer: cm.CardCheckAnswer) -> None:
    """Raise the card error an answer's verdict means (nothing for ``in_effect``)."""
    verdict = answer.verdict
    if verdict == "in_effect":
        return
    if verdict == "suspended":
        raise CardSuspended(expected="the suspension lifted in person at the counter")
    if verdict == "expired":
        raise CardExpired(f"the card expired on {answer.expires_on}", expected="a card in effect")
    if verdict in ("unknown_card", "key_mismatch", "code_mismatch"):
        raise CardAuthenticationFailed(
            f"the network does not know this card as presented ({verdict})",
            field="card",
            expected="a card registered with the key and number its chip proves",
        )
    detail = f" ({answer.reason})" if answer.reason else ""
    raise CardRevoked(f"the card is {verdict}{detail}", expected="a card in effect")
