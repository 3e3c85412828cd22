"""Wide-area copies of resident records (住民票の写しの広域交付, 住基法12条の4).

A resident asks a municipality other than their home municipality (住所地) for a
copy of their own record, or of their household's, showing their card (checked in
effect with its PIN through the network, :meth:`CardDesk.check
<jukinet.tiers.card_desk.CardDesk.check>`) or an identity document the ordinance
lists (:data:`IDENTITY_DOCUMENTS`), whose details must match the record
(12条の4第1項). The issuing municipality (交付地) sends a ``copy_request`` to the
home municipality; the home municipality answers with the copy's items only
(:func:`jukinet.domain.copies.copy_items`: 7条5号, 9〜12号 and 14号 never, 4号, 8号の2
and 13号 only when asked, 12条の4第4項), bound to the request by its envelope's digest
and its requester; both messages travel through the upper tiers
(:mod:`jukinet.tiers.relay`). The issuing municipality prints the copy
(:meth:`WideAreaDesk.issue_copy`, a :class:`~jukinet.domain.copies.ResidentCopy`).
Both sides record it in their audit logs: ``copy.requested``, ``copy.answered``,
``copy.received``, ``copy.issued``.

Refusals are typed: the requester not registered at the home municipality
(:class:`~jukinet.errors.NotFound`), the identity shown not matching
(:class:`~jukinet.errors.IdentityMismatch`), a subject not of the requester's
household (:class:`~jukinet.errors.NotOfHousehold`), a card not in effect (the
card errors, at the counter, before anything is sent).
"""

from __future__ import annotations

from datetime import date

import attrs

from jukinet.domain._repr import never_raises
from jukinet.domain.copies import CopyItem, CopyOptions, ResidentCopy, copy_items
from jukinet.domain.lg_code import LocalGovernmentCode
from jukinet.domain.names import PersonName
from jukinet.domain.resident_code import ResidentCode
from jukinet.errors import (
    IdentityMismatch,
    InvalidComponent,
    InvalidState,
    Misaddressed,
    NotFound,
    NotOfHousehold,
)
from jukinet.storage import mapping
from jukinet.storage.base import UnitOfWork
from jukinet.tiers import card_messages, messages
from jukinet.tiers import counter_messages as msg
from jukinet.tiers._repr import node_label
from jukinet.tiers.card_desk import require_in_effect
from jukinet.tiers.messages import Envelope

__all__ = ["IDENTITY_DOCUMENTS", "IdentityDocument", "WideAreaDesk"]

IDENTITY_DOCUMENTS = frozenset(
    {
        "運転免許証",
        "旅券",
        "在留カード",
        "特別永住者証明書",
        "身体障害者手帳",
        "運転経歴証明書",
    }
)
"""Identity documents with a photo accepted at the counter besides the card (the
ordinance's list, 住基法12条の4第1項; domain-facts §6: official photo ID; a health
insurance card is not enough). A modelling choice of the common photo IDs."""

_REFUSALS = {
    "not_registered": NotFound,
    "identity_mismatch": IdentityMismatch,
    "not_of_household": NotOfHousehold,
}


@attrs.frozen(kw_only=True)
class IdentityDocument:
    """An identity document shown at the counter: its ``kind`` (one of
    :data:`IDENTITY_DOCUMENTS`) and the name and birth date it shows."""

    kind: str
    name: PersonName
    birth_date: date

    def __attrs_post_init__(self) -> None:
        if self.kind not in IDENTITY_DOCUMENTS:
            raise InvalidComponent(
                f"{self.kind!r} is not accepted as identity",
                field="document",
                expected="one of " + "、".join(sorted(IDENTITY_DOCUMENTS)),
            )


class WideAreaDesk:
    """A municipality's wide-area copy counter (both roles: issuing and home).
    Built by its :class:`~jukinet.tiers.municipality.Municipality`
    (``municipality.wide_area``)."""

    def __init__(self, municipality: object) -> None:
        from jukinet.tiers.municipality import Municipality

        assert isinstance(municipality, Municipality)
        self._town = municipality

    # --- the issuing municipality ---------------------------------------------------

    def request(
        self,
        *,
        home: LocalGovernmentCode | str,
        requester: ResidentCode | str,
        subjects: tuple[ResidentCode | str, ...] = (),
        household: bool = False,
        options: CopyOptions | None = None,
        card: card_messages.CardCheckAnswer | None = None,
        document: IdentityDocument | None = None,
    ) -> str:
        """Ask ``home`` for a copy of ``requester``'s record (or ``subjects`` of their
        household, or the whole ``household``); returns the request id. Exactly one of
        ``card`` (this counter's check of the presented card, with its PIN) and
        ``document`` shows who the requester is."""
        town = self._town
        home_code = home if isinstance(home, LocalGovernmentCode) else LocalGovernmentCode(home)
        if home_code == town.code:
            raise InvalidState(
                "the home municipality issues its own copies",
                field="home",
                expected="another municipality (住基法12条の4: wide-area issuance)",
            )
        if not home_code.keeps_register:
            raise InvalidComponent(
                f"{home_code.full_name} keeps no register", field="home", expected="a municipality"
            )
        who = requester if isinstance(requester, ResidentCode) else ResidentCode(requester)
        names = tuple(s if isinstance(s, ResidentCode) else ResidentCode(s) for s in subjects)
        if (card is None) == (document is None):
            raise InvalidComponent(
                "show exactly one identity", field="identity", expected="a card or a document"
            )
        opts = options or CopyOptions()
        if card is not None:
            require_in_effect(card)
            if card.holder != who.value:
                raise IdentityMismatch(
                    "the card presented is another person's",
                    field="card",
                    expected="the requester's own card",
                )
        request = msg.CopyRequest(
            request_id=town._rng.randbytes(16).hex(),
            requester=who.value,
            subjects=tuple(s.value for s in names),
            household=household,
            relationship=opts.relationship,
            individual_number=opts.individual_number,
            resident_code=opts.resident_code,
            shown="card" if card is not None else "document",
            card_id=card.card_id if card is not None else None,
            name_key=document.name.matching_key if document is not None else None,
            birth_date=document.birth_date.isoformat() if document is not None else None,
        )
        with town.store.unit_of_work() as uow:
            town._ask(
                uow,
                kind="copy",
                peer=home_code,
                subject=who.value,
                request_id=request.request_id,
                message=msg.encode(request),
            )
            self._audit(uow, "copy.requested", who.value, request.request_id, home_code.value)
        return request.request_id

    def answer(self, request_id: str) -> msg.CopyAnswer | None:
        """The home municipality's answer to a request, once it has arrived."""
        row = self._town.store.counter.request(request_id)
        if row is None or row.kind != "copy":
            raise NotFound(f"no copy request {request_id}", field="request_id")
        if row.answer is None:
            return None
        answer = msg.parse(row.answer)
        assert isinstance(answer, msg.CopyAnswer)
        return answer

    def issue_copy(self, request_id: str) -> ResidentCopy:
        """Print the copy a request was answered with (audited ``copy.issued``); a
        refusal raises its typed error, an unanswered request
        :class:`~jukinet.errors.InvalidState`."""
        town = self._town
        answer = self.answer(request_id)
        if answer is None:
            raise InvalidState(
                f"request {request_id} is not answered yet",
                field="request_id",
                expected="the home municipality's answer (deliver the network's messages)",
            )
        row = town.store.counter.request(request_id)
        assert row is not None
        if answer.outcome == "refused":
            error = _REFUSALS.get(answer.why, NotFound)
            raise error(
                f"the home municipality {row.peer} refused the copy ({answer.why})",
                field="copy",
            )
        request = msg.parse(messages.decode(row.request).payloads[0])
        assert isinstance(request, msg.CopyRequest)
        copy = ResidentCopy(
            home=LocalGovernmentCode(row.peer),
            issued_by=town.code,
            issued_on=town.clock.today(),
            request_digest=answer.request_digest,
            persons=tuple(
                tuple(CopyItem(article=a, label=label, value=v) for a, label, v in person)
                for person in answer.persons
            ),
            options=CopyOptions(
                relationship=request.relationship,
                individual_number=request.individual_number,
                resident_code=request.resident_code,
            ),
        )
        with town.store.unit_of_work() as uow:
            self._audit(uow, "copy.issued", row.subject, request_id, row.peer)
        return copy

    # --- messages from other municipalities ------------------------------------------

    def take(self, uow: UnitOfWork, inner: Envelope, message: msg.CounterMessage) -> None:
        """A copy request (this is the home municipality) or a copy answer (this
        municipality asked); raises before writing anything when it cannot be taken."""
        if isinstance(message, msg.CopyRequest):
            self._answer(uow, inner, message)
        elif isinstance(message, msg.CopyAnswer):
            self._receive(uow, inner, message)
        else:  # pragma: no cover - dispatched by type
            raise Misaddressed("not a copy message", field="message")

    def _answer(self, uow: UnitOfWork, inner: Envelope, request: msg.CopyRequest) -> None:
        town = self._town
        register = town.store.register
        why = ""
        persons: list[tuple[tuple[str, str, str], ...]] = []
        row = register.current_by_code(request.requester, uow)
        if row is None or row.status != "registered":
            why = "not_registered"
        else:
            record = mapping.record_version(row).record
            if not self._shown_matches(uow, request, record):
                why = "identity_mismatch"
            else:
                members = [
                    mapping.record_version(r).record
                    for r in register.household(record.household.household_id, uow)
                    if r.status == "registered"
                ]
                if request.household:
                    chosen = members
                elif request.subjects:
                    by_code = {m.resident_code.value: m for m in members}
                    if any(code not in by_code for code in request.subjects):
                        why = "not_of_household"
                    chosen = [by_code[c] for c in request.subjects if c in by_code]
                else:
                    chosen = [record]
                if not why:
                    options = CopyOptions(
                        relationship=request.relationship,
                        individual_number=request.individual_number,
                        resident_code=request.resident_code,
                    )
                    persons = [
                        tuple((i.article, i.label, i.value) for i in copy_items(m, options))
                        for m in chosen
                    ]
        answer = msg.CopyAnswer(
            request_id=request.request_id,
            request_digest=inner.digest,
            requester=request.requester,
            outcome="refused" if why else "issued",
            why=why,
            persons=tuple(persons),
        )
        town.cs.relay_to(uow, inner.sender, msg.encode(answer))
        self._audit(
            uow,
            "copy.answered",
            request.requester,
            request.request_id,
            inner.sender.code,
            outcome=answer.outcome,
            why=why,
        )

    def _shown_matches(self, uow: UnitOfWork, request: msg.CopyRequest, record: object) -> bool:
        from jukinet.domain.resident import ResidentRecord

        assert isinstance(record, ResidentRecord)
        if request.shown == "document":
            return (
                request.name_key == record.name.matching_key
                and request.birth_date == record.birth_date.isoformat()
            )
        # A card: checked in effect with its PIN through the network at the issuing
        # counter; where this municipality keeps the holder's card, it must be that one.
        kept = self._town.store.cards.live_for(request.requester, uow)
        return kept is None or kept.card_id == request.card_id

    def _receive(self, uow: UnitOfWork, inner: Envelope, answer: msg.CopyAnswer) -> None:
        town = self._town
        row = town.store.counter.request(answer.request_id, uow)
        if (
            row is None
            or row.kind != "copy"
            or row.peer != inner.sender.code
            or row.subject != answer.requester
            or row.answer is not None
            or messages.decode(row.request).digest != answer.request_digest
        ):
            raise Misaddressed(
                f"a copy answer from {inner.sender} names no open request of this counter",
                field="request_digest",
                expected="the digest and requester of a copy request sent there, unanswered",
            )
        town.store.counter.answer_request(
            uow, answer.request_id, msg.encode(answer), town.clock.today()
        )
        self._audit(
            uow,
            "copy.received",
            answer.requester,
            answer.request_id,
            inner.sender.code,
            outcome=answer.outcome,
        )

    def _audit(
        self,
        uow: UnitOfWork,
        action: str,
        subject: str,
        request_id: str,
        peer: str,
        **more: str,
    ) -> None:
        self._town._audit(uow, action, subject, {"request": request_id, "peer": peer, **more})

    # --- repr -------------------------------------------------------------------

    @never_raises
    def __repr__(self) -> str:
        """``<WideAreaDesk m:131016 東京都千代田区>``: the municipality it serves."""
        return f"<WideAreaDesk {node_label(self._town.node_id)}>"
