"""The upper tiers' side of the resident card: keeping every card's state and
answering a counter's check of a presented card.

A municipality's card steps come up as ``card_status`` messages
(:mod:`jukinet.tiers.card_messages`). A prefecture checks that the step is its
own municipality's and passes it on; the centre keeps the state of every card in
its card registry, so that a counter anywhere can check a card
(:class:`CardOffice`). A valid signature does not make a step true, so the centre
takes a step only when:

* it is the card's first (``issued``): the card is new, issued by the sending
  municipality to a person the centre holds as a current resident there, who has
  no other live card (one card per person, 住基法旧30条の44第3項; 番号法17条1項);
* or it follows the kept state by one version, comes from the municipality that
  keeps the card (a move-in: from the municipality now holding the holder), and
  is what the lifecycle rules give from the kept state
  (:meth:`~jukinet.card.lifecycle.CardStatus.replay`).

Anything else changes nothing and is audited as ``card.refused`` naming the
municipality. A counter's check (:meth:`CardOffice.answer`) is answered from the
kept state and the centre's identity information, bound to the request and to the
card presented, and audited as ``card.checked``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING

from jukinet._log import event as _event
from jukinet.card.kinds import CardKind, ChipCode, rules_for
from jukinet.card.lifecycle import CardEvent
from jukinet.domain import codec
from jukinet.domain._repr import never_raises
from jukinet.domain.identity import IdentityNotice
from jukinet.domain.lg_code import LocalGovernmentCode
from jukinet.errors import JukinetError, Misaddressed
from jukinet.storage.base import UnitOfWork
from jukinet.storage.records import AuditEntry, CardEventRow, CardRow
from jukinet.tiers import card_messages as cm
from jukinet.tiers._repr import node_label
from jukinet.tiers.messages import Envelope, NodeId, NodeKind

if TYPE_CHECKING:
    from jukinet.tiers.upper import UpperTier

__all__ = ["CardOffice"]

_logger = logging.getLogger(__name__)


class CardOffice:
    """An upper tier's card registry: takes card steps and (at the centre) answers
    card checks. Built by the tier; see the module docstring."""

    def __init__(self, tier: UpperTier) -> None:
        self._tier = tier

    # --- steps coming up ------------------------------------------------------------

    def take(self, uow: UnitOfWork, sender: NodeId, messages: Sequence[bytes]) -> list[bytes]:
        """Take the card steps of one envelope; returns those to pass on (a
        prefecture passes on its municipalities' steps; the centre keeps them)."""
        tier = self._tier
        forward: list[bytes] = []
        for raw in messages:
            card, event = cm.parse_card_status(raw)
            if not tier._may_notify(sender, event.municipality):
                self._refuse(uow, sender, card, event, "not the sender's municipality")
                continue
            if not tier.national:
                forward.append(raw)
                continue
            why = self._judge(uow, card, event)
            if why is not None:
                self._refuse(uow, sender, card, event, why)
                continue
            if event.version == 1:
                tier.store.cards.issue(uow, card, event)
            else:
                tier.store.cards.update(uow, card, event)
        return forward

    def _judge(self, uow: UnitOfWork, card: CardRow, event: CardEventRow) -> str | None:
        """Why the centre refuses this step, or None to take it."""
        cards = self._tier.store.cards
        stored = cards.get(card.card_id, uow)
        if event.version == 1:
            if stored is not None:
                return f"card {card.card_id} exists"
            if event.event != CardEvent.ISSUED.value or card.issuer != event.municipality:
                return "a first step that is not an issue by its issuer"
            if not self._resident(uow, card.holder, event.municipality, since=card.issued_on):
                return f"{card.holder} was no resident of {event.municipality} at the issue"
            if cards.live_for(card.holder, uow) is not None:
                return f"{card.holder} has a live card (one card per person)"
            try:
                if cm.card_status(card).version != 1 or card.state != "in_effect":
                    return "a new card that is not in effect"
            except JukinetError as exc:
                return f"the card is invalid: {exc}"
            return None
        if stored is None:
            return f"card {card.card_id} is unknown"
        if event.version != stored.version + 1:
            return f"step {event.version} does not follow version {stored.version}"
        if event.event == CardEvent.MOVED_IN.value:
            if not self._resident(uow, stored.holder, event.municipality):
                return f"{stored.holder} is no current resident of {event.municipality}"
        elif stored.municipality != event.municipality:
            return f"card {card.card_id} is kept by {stored.municipality}"
        try:
            done = cm.card_status(stored).replay(cm.history_entry(event))
        except JukinetError as exc:
            return f"the rules refuse the step: {exc}"
        if cm.card_row(done.status, stored.public_key) != card:
            return "the reported state is not what the step gives"
        return None

    def _resident(
        self, uow: UnitOfWork, holder: str, municipality: str, *, since: date | None = None
    ) -> bool:
        """Whether the centre holds ``holder`` as a resident of ``municipality``: current
        there, or (with ``since``) removed there on or after that day, so that a card
        issued just before a move-out, whose step the move-out overtook on the links
        (the tiers apply an envelope's notices before its card steps), is still taken."""
        row = self._tier.store.identities.current(holder, uow)
        if row is None or row.municipality != municipality:
            return False
        return not row.removed or (since is not None and row.event_date >= since)

    def _refuse(
        self, uow: UnitOfWork, sender: NodeId, card: CardRow, event: CardEventRow, why: str
    ) -> None:
        _event(
            _logger,
            logging.WARNING,
            "card.refused",
            node=self._tier.node_id,
            sender=sender,
            card=card.card_id,
            step=event.event,
            version=event.version,
            municipality=event.municipality,
            why=why[:500],
        )
        self._tier.store.audit.append(
            uow,
            [
                AuditEntry(
                    at=self._tier.clock.now(),
                    action="card.refused",
                    subject=card.holder,
                    detail=json.dumps(
                        {
                            "card": card.card_id,
                            "event": event.event,
                            "version": event.version,
                            "municipality": event.municipality,
                            "sender": str(sender),
                            "why": why,
                        },
                        sort_keys=True,
                        ensure_ascii=False,
                    ).encode(),
                )
            ],
        )

    def follow_moves(self, uow: UnitOfWork, moves: Sequence[tuple[str, str, date]]) -> None:
        """At the centre: a holder's move-in accepted at a new municipality (``(code,
        municipality, moved_in_on)``) moves their live card there, awaiting continued
        use there within 90 days (or ends it, when an earlier move-in still awaited
        it: :meth:`~jukinet.card.lifecycle.CardStatus.moved_in`). The centre records
        this step itself: it alone sees both municipalities, and the new one adopts the
        card when the holder registers continued use
        (:meth:`~jukinet.tiers.card_desk.CardDesk.continue_use`)."""
        cards = self._tier.store.cards
        for code, municipality, moved_in_on in moves:
            row = cards.live_for(code, uow)
            if row is None or row.municipality == municipality:
                continue
            status = cm.card_status(row)
            done = status.moved_in(
                on=max(moved_in_on, status.issued_on), at=LocalGovernmentCode(municipality)
            )
            cards.update(
                uow,
                cm.card_row(done.status, row.public_key),
                cm.event_row(row.card_id, done.entry),
            )

    # --- the counter check ------------------------------------------------------------

    def answer(self, envelope: Envelope) -> Envelope:
        """Answer a municipality's card check (the centre only): a signed
        ``card_check_answer`` to the asking municipality, naming the request's digest
        and the card and key it is about. Raises an
        :class:`~jukinet.errors.IntegrityViolation` (audited, nothing answered) for a
        request that is not a fresh, signed check from a municipality to this node."""
        tier = self._tier
        if not tier.national:
            raise Misaddressed("only the centre answers card checks", field="recipient")
        payload = tier.open_message(envelope, cm.CARD_CHECK)
        if envelope.sender.kind is not NodeKind.MUNICIPALITY:
            raise Misaddressed(
                f"a card check from {envelope.sender}",
                field="sender",
                expected="a municipality's counter",
            )
        check = cm.parse_card_check(payload)
        today = tier.clock.today()
        with tier.store.unit_of_work() as uow:
            row = tier.store.cards.get(check.card_id, uow)
            answer = self._verdict(uow, check, row, envelope.digest, today)
            tier.store.audit.append(
                uow,
                [
                    AuditEntry(
                        at=tier.clock.now(),
                        action="card.checked",
                        subject=row.holder if row else None,
                        detail=json.dumps(
                            {
                                "card": check.card_id,
                                "by": str(envelope.sender),
                                "verdict": answer.verdict,
                            },
                            sort_keys=True,
                        ).encode(),
                    )
                ],
            )
        _event(
            _logger,
            logging.DEBUG,
            "card.checked",
            node=tier.node_id,
            sender=envelope.sender,
            card=check.card_id,
            verdict=answer.verdict,
        )
        return tier.seal_message(
            envelope.sender, cm.CARD_CHECK_ANSWER, cm.encode_card_check_answer(answer)
        )

    def _verdict(
        self,
        uow: UnitOfWork,
        check: cm.CardCheck,
        row: CardRow | None,
        request_hash: str,
        today: date,
    ) -> cm.CardCheckAnswer:
        verdict, reason = (
            ("unknown_card", "") if row is None else self._state(uow, check, row, today)
        )
        if row is None or verdict in ("key_mismatch", "code_mismatch"):
            # nothing about a card to one who cannot show it: no holder, no municipality
            return cm.CardCheckAnswer(
                request_hash=request_hash,
                card_id=check.card_id,
                public_key=check.public_key,
                verdict=verdict,
                reason="",
                holder=None,
                municipality=None,
                kind=None,
                expires_on=None,
                version=None,
                moved_in_on=None,
            )
        return cm.CardCheckAnswer(
            request_hash=request_hash,
            card_id=check.card_id,
            public_key=check.public_key,
            verdict=verdict,
            reason=reason,
            holder=row.holder,
            municipality=row.municipality,
            kind=row.kind,
            expires_on=row.expires_on.isoformat(),
            version=row.version,
            moved_in_on=row.moved_in_on.isoformat() if row.moved_in_on else None,
        )

    def _state(
        self, uow: UnitOfWork, check: cm.CardCheck, row: CardRow, today: date
    ) -> tuple[str, str]:
        if row.public_key.hex() != check.public_key:
            return "key_mismatch", ""
        current = self._tier.store.identities.current(row.holder, uow)
        if rules_for(CardKind(row.kind)).chip_code is ChipCode.RESIDENT_CODE:
            number_ok = check.code == row.holder
        else:
            number = None
            if current is not None:
                info = codec.from_stored(IdentityNotice, current.payload).info
                number = info.individual_number
            number_ok = number is not None and check.code == number.value
        if not number_ok:
            return "code_mismatch", ""
        status = cm.card_status(row)
        if row.state in ("returned", "lapsed"):
            return row.state, row.reason
        due = status.due(today)
        if due is not None:
            assert due.entry.reason is not None
            reason = due.entry.reason.value
            return ("expired", reason) if reason == "expired" else ("lapsed", reason)
        if current is not None and current.removed and current.reason == "domestic_move_out":
            return "moving", ""
        if current is None or current.removed:
            return "not_resident", ""
        if row.state == "suspended":
            return "suspended", ""
        return "in_effect", ""

    # --- repr -------------------------------------------------------------------

    @never_raises
    def __repr__(self) -> str:
        """``<CardOffice c:jlis>``: the tier it serves."""
        return f"<CardOffice {node_label(self._tier.node_id)}>"
