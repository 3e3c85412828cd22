"""The special moving-out/in (転入転出の特例, 住基法24条の2; 令24条の2〜24条の4) and the
move-in notification (転入通知, 9条1項).

A card holder files the move-out notice at the counter, online or by mail, with the
planned date and the destination; household members who hold no card come along
with a card-holding head (24条の2第2項). The old municipality records the move-out
and sends the move-out certificate's data (転出証明書情報, 令24条の3) to the
destination electronically (24条の2第3項, through :mod:`jukinet.tiers.relay`). The
destination keeps it until the planned date + 30 days and then erases it
(24条の2第4項; 令24条の4: :meth:`SpecialMoveDesk.erase_expired`). A move-in notice
with the card presented before the earlier of (planned date + 30 days) and (moved-in
date + 14 days) registers the person from that data without a paper certificate
(令24条の2); otherwise the ordinary procedure applies, and the refusal says why. If
the data is missing or erased, the destination asks the old municipality to send it
again (24条の2第5項・第6項: :meth:`SpecialMoveDesk.request_info`).

Every move-in, by either procedure, sends the move-in notification back to the old
municipality (9条1項), which records it; the old municipality lists the people whose
notification never came (:meth:`SpecialMoveDesk.awaiting_notifications`, the
standard specification's 転入通知未着者一覧). The card's continued use follows at
the destination (:meth:`CardDesk.continue_use <jukinet.tiers.card_desk.CardDesk.continue_use>`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING

import attrs

from jukinet._log import event
from jukinet.card.kinds import CardKind, accepted_for_special_move
from jukinet.domain import codec
from jukinet.domain._repr import never_raises
from jukinet.domain.changes import ChangeReason
from jukinet.domain.lg_code import LocalGovernmentCode
from jukinet.domain.resident import HouseholdMembership, ResidentRecord
from jukinet.domain.resident_code import ResidentCode
from jukinet.errors import (
    CardAuthenticationFailed,
    DeadlinePassed,
    IdentityMismatch,
    InvalidComponent,
    InvalidState,
    Misaddressed,
    NotFound,
)
from jukinet.storage.base import UnitOfWork
from jukinet.storage.records import (
    MOVE_OUT_INFO_DAYS,
    MoveOutInfoRow,
    ScheduledItem,
)
from jukinet.tiers import card_messages
from jukinet.tiers import counter_messages as msg
from jukinet.tiers._repr import node_label
from jukinet.tiers.card_desk import require_in_effect
from jukinet.tiers.messages import Envelope, NodeId

if TYPE_CHECKING:
    from jukinet.tiers.municipality import MoveOutCertificate

__all__ = ["KEEP_DAYS", "MOVE_IN_DAYS", "AwaitedNotice", "SpecialMoveDesk", "awaited_item"]

KEEP_DAYS = MOVE_OUT_INFO_DAYS
"""The destination keeps the move-out data until the planned date + this many days,
and the special move-in must come before then (24条の2第4項; 令24条の2第2号, 令24条の4)."""
MOVE_IN_DAYS = 14
"""… and before the moved-in date + this many days (22条1項; 令24条の2第2号)."""

_logger = logging.getLogger(__name__)
_AWAITED = "move_in_notice:"


@attrs.frozen(kw_only=True)
class AwaitedNotice:
    """A move-out whose move-in notification has not come (転入通知未着)."""

    certificate: str
    resident_code: str
    planned_date: date
    destination: str


class SpecialMoveDesk:
    """A municipality's counter for the special moving-out/in, in both roles. Built by
    its :class:`~jukinet.tiers.municipality.Municipality` (``municipality.special_move``)."""

    def __init__(self, municipality: object) -> None:
        from jukinet.tiers.municipality import Municipality

        assert isinstance(municipality, Municipality)
        self._town = municipality

    # --- the old municipality -----------------------------------------------------------

    def move_out(
        self,
        who: ResidentCode | str,
        *,
        planned_date: date,
        destination: LocalGovernmentCode | str,
        address: str,
        by: str = "counter",
        card: card_messages.CardCheckAnswer | None = None,
        card_id: str | None = None,
        members: Sequence[ResidentCode | str] = (),
    ) -> list[ResidentRecord]:
        """A card holder's move-out under the special procedure (24条の2第1項): at the
        ``"counter"`` or ``"online"`` with the card checked (``card``: this counter's
        check, in effect, the holder's own), or by ``"mail"`` naming the card
        (``card_id``: the holder's live card kept here). ``members`` of the holder's
        household who hold no card come along (第2項). Each is removed, and the
        move-out data goes to ``destination`` (第3項); returns the removed records."""
        town = self._town
        today = town.clock.today()
        target = (
            destination
            if isinstance(destination, LocalGovernmentCode)
            else LocalGovernmentCode(destination)
        )
        if target == town.code or not target.keeps_register:
            raise InvalidComponent(
                f"{target.full_name} as the destination",
                field="destination",
                expected="another municipality that keeps a register",
            )
        holder = who if isinstance(who, ResidentCode) else ResidentCode(who)
        with town.store.unit_of_work() as uow:
            card_row = town.store.cards.live_for(holder.value, uow)
            if by in ("counter", "online"):
                if card is None:
                    raise InvalidComponent(
                        f"a {by} move-out without the card",
                        field="card",
                        expected="the card checked at the counter with its PIN",
                    )
                require_in_effect(card)
                if card.holder != holder.value:
                    raise IdentityMismatch(
                        "the card presented is another person's (なりすまし転出)",
                        field="card",
                        expected="the mover's own card",
                    )
            elif by == "mail":
                if card_row is None or card_id != card_row.card_id:
                    raise IdentityMismatch(
                        "the card named is not the mover's card kept here",
                        field="card_id",
                        expected="the id of the mover's live card",
                    )
                from jukinet.tiers.card_messages import card_status

                card_status(card_row).check_in_effect(today)
            else:
                raise InvalidComponent(
                    f"filed {by!r}", field="by", expected="counter, online or mail"
                )
            head = town.resident(holder)
            people = [holder]
            for member in members:
                code = member if isinstance(member, ResidentCode) else ResidentCode(member)
                record = town.resident(code)
                if record.household.household_id != head.household.household_id:
                    raise InvalidComponent(
                        f"{code} is not of {holder}'s household",
                        field="members",
                        expected="members of the card holder's household (24条の2第2項)",
                    )
                people.append(code)
            removed = []
            for code in people:
                certificate = town._move_out(
                    uow, code, planned_date=planned_date, destination=address
                )
                own_card = card_row if code == holder else None
                info = msg.MoveOutInfo(
                    certificate=certificate.number,
                    resident_code=code.value,
                    moved_from=town.code.value,
                    planned_date=planned_date.isoformat(),
                    destination=address,
                    record=codec.to_bytes(certificate.record).decode("utf-8"),
                    card_id=own_card.card_id if own_card else None,
                    card_issued_on=own_card.issued_on.isoformat() if own_card else None,
                    card_expires_on=own_card.expires_on.isoformat() if own_card else None,
                )
                town.cs.relay_to(uow, NodeId.municipality(target), msg.encode(info))
                self._audit(
                    uow,
                    "special_move.out",
                    code.value,
                    certificate=certificate.number,
                    to=target.value,
                    by=by,
                )
                removed.append(certificate.record)
        return removed

    def awaiting_notifications(self, *, overdue_on: date | None = None) -> list[AwaitedNotice]:
        """The move-outs whose move-in notification has not come (転入通知未着者一覧),
        oldest planned date first; with ``overdue_on``, only those whose planned date
        + 30 days is on or before that day."""
        schedule = self._town.store.schedule
        items = schedule.due(overdue_on or date.max, limit=100_000)
        found = []
        for item in items:
            if not item.key.startswith(_AWAITED):
                continue
            data = json.loads(item.payload)
            found.append(
                AwaitedNotice(
                    certificate=item.key.removeprefix(_AWAITED),
                    resident_code=data["resident_code"],
                    planned_date=date.fromisoformat(data["planned_date"]),
                    destination=data["destination"],
                )
            )
        return found

    # --- the destination ---------------------------------------------------------------

    def pending_info(self, who: ResidentCode | str) -> list[MoveOutInfoRow]:
        """The move-out data kept here for ``who`` (unused and not yet erased)."""
        code = who.value if isinstance(who, ResidentCode) else ResidentCode(who).value
        today = self._town.clock.today()
        return [
            row
            for row in self._town.store.counter.infos_for(code)
            if not row.used and today < row.erase_on
        ]

    def why_not_special(
        self, info: MoveOutInfoRow, *, moved_in_on: date, today: date
    ) -> str | None:
        """Why the special move-in is not possible for ``info`` (令24条の2), or None."""
        limit = min(
            info.planned_date + timedelta(days=KEEP_DAYS),
            moved_in_on + timedelta(days=MOVE_IN_DAYS),
        )
        if today >= limit:
            return (
                f"filed on {today.isoformat()}, on or after {limit.isoformat()} (the earlier of"
                f" the planned date + {KEEP_DAYS} days and the moved-in date + {MOVE_IN_DAYS}"
                " days, 令24条の2第2号)"
            )
        return None

    def move_in(
        self,
        who: ResidentCode | str,
        *,
        card: card_messages.CardCheckAnswer,
        moved_in_on: date,
        address: str,
        household: HouseholdMembership,
        members: Sequence[tuple[ResidentCode | str, HouseholdMembership]] = (),
    ) -> list[ResidentRecord]:
        """The special move-in (24条の2第1項) with the card presented (``card``: this
        counter's check, in effect, the holder's own, a kind the law accepts that day),
        from the move-out data kept here; ``members`` without cards come along with the
        card-holding head. Refused with the reason the ordinary procedure applies:
        :class:`~jukinet.errors.NotFound` (no data: :meth:`request_info`),
        :class:`~jukinet.errors.DeadlinePassed`, the card errors."""
        town = self._town
        today = town.clock.today()
        holder = who if isinstance(who, ResidentCode) else ResidentCode(who)
        if card.verdict != "moving":
            require_in_effect(card)  # a card error for a card not in effect
            raise InvalidState(
                f"the network shows {holder} as no one moving (verdict {card.verdict})",
                field="card",
                expected="a card whose holder's move-out the network has recorded"
                " (CardDesk.check(..., moving=True) after the move-out arrived)",
            )
        if card.holder != holder.value:
            raise IdentityMismatch(
                "the card presented is another person's",
                field="card",
                expected="the mover's own card (24条の2第1項)",
            )
        if card.kind is None or not accepted_for_special_move(CardKind(card.kind), today):
            raise CardAuthenticationFailed(
                f"a {card.kind} card is not accepted for the special move-in on {today}",
                field="card",
                expected="the card the law accepts on that day",
            )
        people: list[tuple[ResidentCode, HouseholdMembership]] = [(holder, household)]
        for code, membership in members:
            people.append(
                (code if isinstance(code, ResidentCode) else ResidentCode(code), membership)
            )
        infos = []
        for code, membership in people:
            kept = self.pending_info(code)
            if not kept:
                raise NotFound(
                    f"no move-out data for {code} is kept here (never sent, used or erased)",
                    field="転出証明書情報",
                    expected="the data: ask the old municipality to send it again (request_info)",
                )
            info = kept[-1]
            why = self.why_not_special(info, moved_in_on=moved_in_on, today=today)
            if why is not None:
                raise DeadlinePassed(
                    f"the special move-in is closed: {why}",
                    field="転入届",
                    expected="the ordinary procedure with a move-out certificate",
                )
            infos.append((info, membership))
        registered = []
        with town.store.unit_of_work() as uow:
            for info, membership in infos:
                certificate = _certificate(info)
                record = town._move_in(
                    uow,
                    certificate,
                    address=address,
                    household=membership,
                    moved_in_on=moved_in_on,
                    notified_on=today,
                )
                town.store.counter.use_info(uow, info.certificate)
                self._audit(
                    uow,
                    "special_move.in",
                    record.resident_code.value,
                    certificate=info.certificate,
                    frm=info.moved_from,
                )
                registered.append(record)
        return registered

    def request_info(
        self, who: ResidentCode | str, *, moved_from: LocalGovernmentCode | str
    ) -> str:
        """Ask the old municipality to send the move-out data again (24条の2第5項・第6項);
        returns the request id. The data arrives as the network delivers it."""
        town = self._town
        code = who if isinstance(who, ResidentCode) else ResidentCode(who)
        old = (
            moved_from
            if isinstance(moved_from, LocalGovernmentCode)
            else LocalGovernmentCode(moved_from)
        )
        request = msg.InfoRequest(
            request_id=town._rng.randbytes(16).hex(), resident_code=code.value
        )
        with town.store.unit_of_work() as uow:
            town._ask(
                uow,
                kind="resend",
                peer=old,
                subject=code.value,
                request_id=request.request_id,
                message=msg.encode(request),
            )
            self._audit(uow, "special_move.info_requested", code.value, to=old.value)
        return request.request_id

    def erase_expired(self, today: date | None = None) -> int:
        """Erase the move-out data whose keeping ended (planned date + 30 days,
        24条の2第4項; 令24条の4); returns how many."""
        town = self._town
        day = today or town.clock.today()
        with town.store.unit_of_work() as uow:
            erased = town.store.counter.erase_infos(uow, on=day)
            if erased:
                self._audit(uow, "special_move.erased", None, count=str(erased))
        event(
            _logger,
            logging.INFO,
            "deadlines.run",
            node=town.node_id,
            task="special_move.erase",
            today=day.isoformat(),
            count=erased,
        )
        return erased

    # --- messages from other municipalities ------------------------------------------------

    def take(self, uow: UnitOfWork, inner: Envelope, message: msg.CounterMessage) -> None:
        """Move-out data (this is the destination), a request to send it again or a
        move-in notification (this is the old municipality); raises before writing
        anything when it cannot be taken."""
        if isinstance(message, msg.MoveOutInfo):
            self._keep(uow, inner, message)
        elif isinstance(message, msg.InfoRequest):
            self._resend(uow, inner, message)
        elif isinstance(message, msg.MoveInNotification):
            self._notified(uow, inner, message)
        else:  # pragma: no cover - dispatched by type
            raise Misaddressed("not a moving message", field="message")

    def _keep(self, uow: UnitOfWork, inner: Envelope, info: msg.MoveOutInfo) -> None:
        if info.moved_from != inner.sender.code:
            raise Misaddressed(
                f"move-out data of {info.moved_from} sent by {inner.sender}",
                field="moved_from",
                expected="data the old municipality sends itself",
            )
        record = codec.from_bytes(ResidentRecord, info.record.encode("utf-8"))
        if record.resident_code.value != info.resident_code or not record.is_removed:
            raise InvalidComponent(
                "the move-out data's record does not match it",
                field="record",
                expected="the removed record of the person named",
            )
        planned = date.fromisoformat(info.planned_date)
        town = self._town
        town.store.counter.keep_info(
            uow,
            MoveOutInfoRow(
                certificate=info.certificate,
                resident_code=info.resident_code,
                moved_from=info.moved_from,
                planned_date=planned,
                erase_on=planned + timedelta(days=KEEP_DAYS),
                received_on=town.clock.today(),
                payload=msg.encode(info),
                used=False,
            ),
        )
        self._audit(
            uow,
            "special_move.info_kept",
            info.resident_code,
            certificate=info.certificate,
            frm=info.moved_from,
        )

    def _resend(self, uow: UnitOfWork, inner: Envelope, request: msg.InfoRequest) -> None:
        town = self._town
        row = town.store.register.current_by_code(request.resident_code, uow)
        record = (
            None
            if row is None
            else town._history_in(uow, ResidentCode(request.resident_code)).current
        )
        removal = None if record is None else record.removal
        if record is None or removal is None or removal.certificate is None:
            raise NotFound(
                f"{request.resident_code} moved out of {town.code} by no certificate",
                field="resident_code",
                expected="a person who moved out of this municipality",
            )
        card_row = town.store.cards.live_for(request.resident_code, uow)
        info = msg.MoveOutInfo(
            certificate=removal.certificate,
            resident_code=request.resident_code,
            moved_from=town.code.value,
            planned_date=removal.removed_on.isoformat(),
            destination=removal.destination or "",
            record=codec.to_bytes(record).decode("utf-8"),
            card_id=card_row.card_id if card_row else None,
            card_issued_on=card_row.issued_on.isoformat() if card_row else None,
            card_expires_on=card_row.expires_on.isoformat() if card_row else None,
        )
        town.cs.relay_to(uow, inner.sender, msg.encode(info))
        self._audit(uow, "special_move.info_resent", request.resident_code, to=inner.sender.code)

    def _notified(self, uow: UnitOfWork, inner: Envelope, notice: msg.MoveInNotification) -> None:
        town = self._town
        key = _AWAITED + notice.certificate
        item = town.store.schedule.get(key, uow)
        if item is None or json.loads(item.payload)["resident_code"] != notice.resident_code:
            raise Misaddressed(
                f"a move-in notification for certificate {notice.certificate} awaited by no one",
                field="certificate",
                expected="the certificate of a move-out of this municipality",
            )
        town.store.schedule.cancel(uow, [key])
        self._complete_removed(uow, notice)
        self._audit(
            uow,
            "move_in.notified",
            notice.resident_code,
            certificate=notice.certificate,
            at=inner.sender.code,
            moved_in_on=notice.moved_in_on,
        )

    def _complete_removed(self, uow: UnitOfWork, notice: msg.MoveInNotification) -> None:
        """Write the confirmed address and move date on the 除票 (15条の3第2項), when
        the record is still the one that move-out removed."""
        town = self._town
        history = town._history_in(uow, ResidentCode(notice.resident_code))
        record = history.current
        removal = record.removal
        if removal is None or removal.certificate != notice.certificate:
            return  # the person came back since: the 除票 is no longer the current record
        moved_in_on = date.fromisoformat(notice.moved_in_on)
        completed = attrs.evolve(
            record,
            removal=attrs.evolve(
                removal, destination=notice.address, move_confirmed_on=moved_in_on
            ),
        )
        town._commit(
            uow,
            history,
            completed,
            ChangeReason.MOVE_IN_NOTICE_RECORDED,
            moved_in_on,
            "register.move_confirmed",
        )

    def _audit(self, uow: UnitOfWork, action: str, subject: str | None, **detail: str) -> None:
        self._town._audit(uow, action, subject, dict(detail))

    # --- repr -------------------------------------------------------------------

    @never_raises
    def __repr__(self) -> str:
        """``<SpecialMoveDesk m:131016 東京都千代田区>``: the municipality it serves."""
        return f"<SpecialMoveDesk {node_label(self._town.node_id)}>"


def awaited_item(
    *, certificate: str, resident_code: str, planned_date: date, destination: str
) -> ScheduledItem:
    """The schedule item that awaits a move-out's move-in notification (due when the
    planned date + 30 days passes)."""
    return ScheduledItem(
        key=_AWAITED + certificate,
        due=planned_date + timedelta(days=KEEP_DAYS),
        payload=json.dumps(
            {
                "resident_code": resident_code,
                "planned_date": planned_date.isoformat(),
                "destination": destination,
            },
            sort_keys=True,
            ensure_ascii=False,
        ).encode(),
    )


def _certificate(info: MoveOutInfoRow) -> MoveOutCertificate:
    from jukinet.tiers.municipality import MoveOutCertificate

    data = msg.parse(info.payload)
    assert isinstance(data, msg.MoveOutInfo)
    record = codec.from_bytes(ResidentRecord, data.record.encode("utf-8"))
    return MoveOutCertificate(
        issued_by=data.moved_from,
        record=record,
        planned_date=date.fromisoformat(data.planned_date),
        destination=data.destination,
        number=data.certificate,
    )
