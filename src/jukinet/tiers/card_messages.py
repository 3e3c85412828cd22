"""The card's messages between the tiers: a card's new state going up, and a
counter's check of a presented card with the centre's answer.

A ``card_status`` message carries a card's whole state (a
:class:`~jukinet.storage.records.CardRow`) and the event that led to it (a
:class:`~jukinet.storage.records.CardEventRow`), from the municipality that keeps
the card, through its prefecture, to the centre, which keeps every card's state so
that a counter anywhere can check a card (see :mod:`jukinet.tiers.cards`).

A ``card_check`` request names the card presented (its id and the public key its
chip proved it holds) and the number the chip carries; the ``card_check_answer``
names the request by its envelope's digest and says whether the card is in effect
and its holder a current resident. Like every message, each has one canonical
form and its parser refuses any other (:mod:`jukinet.tiers.wire`).

>>> from datetime import date
>>> check = CardCheck(request_id="ab" * 16, card_id="cd" * 16, public_key="00" * 32,
...     code="12345678903")
>>> parse_card_check(encode_card_check(check)) == check
True
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import attrs

from jukinet.card.kinds import CardKind
from jukinet.card.lifecycle import (
    CardEvent,
    CardHistoryEntry,
    CardState,
    CardStatus,
    LapseReason,
)
from jukinet.domain import codec
from jukinet.domain.lg_code import LocalGovernmentCode
from jukinet.domain.resident_code import ResidentCode
from jukinet.errors import InvalidFormat, ValidationError
from jukinet.storage.records import CardEventRow, CardRow
from jukinet.tiers.wire import _SEPARATOR, _json_body, _require_canonical

__all__ = [
    "CARD_CHECK",
    "CARD_CHECK_ANSWER",
    "CARD_STATUS",
    "VERDICTS",
    "CardCheck",
    "CardCheckAnswer",
    "card_row",
    "card_status",
    "encode_card_check",
    "encode_card_check_answer",
    "encode_card_status",
    "event_row",
    "history_entry",
    "parse_card_check",
    "parse_card_check_answer",
    "parse_card_status",
]

CARD_STATUS = "card_status"
"""Message type of a card's new state (up the tiers)."""
CARD_CHECK = "card_check"
"""Envelope payload type of a counter's check of a presented card (to the centre)."""
CARD_CHECK_ANSWER = "card_check_answer"
"""Envelope payload type of the centre's answer to a card check."""

VERDICTS = frozenset(
    {
        "in_effect",
        "suspended",
        "returned",
        "lapsed",
        "expired",
        "unknown_card",
        "key_mismatch",
        "code_mismatch",
        "not_resident",
        "moving",
    }
)
"""What the centre can answer about a presented card: ``in_effect`` (and its
holder a current resident), the card's final or suspended state, or why it cannot
be trusted (``unknown_card``: never registered; ``key_mismatch``: the chip's key is
not the registered one; ``code_mismatch``: the chip's number is not the holder's;
``not_resident``: the holder's record is removed; ``moving``: removed by a domestic
move-out and not yet moved in, so the card serves the move-in, 住基法24条の2)."""

_HEX = re.compile(r"[0-9a-f]+")
_CARD_KEYS = frozenset(attrs.fields_dict(CardRow))
_EVENT_KEYS = frozenset(attrs.fields_dict(CardEventRow))


def card_row(status: CardStatus, public_key: bytes) -> CardRow:
    """The registry row of a card's state (its chip's ``public_key`` beside it)."""
    return CardRow(
        card_id=status.card_id,
        holder=status.holder.value,
        kind=status.kind.value,
        photo=status.photo,
        issuer=status.issuer.value,
        issued_on=status.issued_on,
        expires_on=status.expires_on,
        public_key=public_key,
        state=status.state.value,
        reason=status.reason.value if status.reason else "",
        municipality=status.municipality.value,
        moved_in_on=status.moved_in_on,
        version=status.version,
    )


def card_status(row: CardRow) -> CardStatus:
    """The card's state a registry row records."""
    return CardStatus(
        card_id=row.card_id,
        holder=ResidentCode(row.holder),
        kind=CardKind(row.kind),
        photo=row.photo,
        issuer=LocalGovernmentCode(row.issuer),
        issued_on=row.issued_on,
        expires_on=row.expires_on,
        municipality=LocalGovernmentCode(row.municipality),
        state=CardState(row.state),
        reason=LapseReason(row.reason) if row.reason else None,
        moved_in_on=row.moved_in_on,
        version=row.version,
    )


def event_row(card_id: str, entry: CardHistoryEntry) -> CardEventRow:
    """The registry row of a card's history entry."""
    return CardEventRow(
        card_id=card_id,
        version=entry.version,
        event=entry.event.value,
        on=entry.on,
        municipality=entry.municipality.value,
        reason=entry.reason.value if entry.reason else "",
    )


def history_entry(row: CardEventRow) -> CardHistoryEntry:
    """The history entry a registry row records."""
    return CardHistoryEntry(
        version=row.version,
        event=CardEvent(row.event),
        on=row.on,
        municipality=LocalGovernmentCode(row.municipality),
        reason=LapseReason(row.reason) if row.reason else None,
    )


def _frame(kind: str, data: object) -> bytes:
    return kind.encode() + _SEPARATOR + codec.canonical_json(data)


def _card_data(card: CardRow) -> dict[str, Any]:
    return {
        "card_id": card.card_id,
        "holder": card.holder,
        "kind": card.kind,
        "photo": card.photo,
        "issuer": card.issuer,
        "issued_on": card.issued_on.isoformat(),
        "expires_on": card.expires_on.isoformat(),
        "public_key": card.public_key.hex(),
        "state": card.state,
        "reason": card.reason,
        "municipality": card.municipality,
        "moved_in_on": card.moved_in_on.isoformat() if card.moved_in_on else None,
        "version": card.version,
    }


def _event_data(event: CardEventRow) -> dict[str, Any]:
    return {
        "card_id": event.card_id,
        "version": event.version,
        "event": event.event,
        "on": event.on.isoformat(),
        "municipality": event.municipality,
        "reason": event.reason,
    }


def encode_card_status(card: CardRow, event: CardEventRow) -> bytes:
    """Frame a card's new state and the event that led to it."""
    return _frame(CARD_STATUS, {"card": _card_data(card), "event": _event_data(event)})


def _day(value: object, field: str) -> date:
    if not isinstance(value, str):
        raise InvalidFormat(f"{field} is not a date", field=field, expected="YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidFormat(f"{field} is not a date", field=field, expected="YYYY-MM-DD") from None


def _hex(value: object, field: str, length: int) -> str:
    if not isinstance(value, str) or len(value) != length or not _HEX.fullmatch(value):
        raise InvalidFormat(
            f"{field} is not {length} hex digits", field=field, expected=f"{length} hex digits"
        )
    return value


def _object(data: object, keys: frozenset[str], field: str) -> dict[str, Any]:
    if not isinstance(data, dict) or set(data) != keys:
        raise InvalidFormat(
            f"the {field} has the wrong fields", field=field, expected=", ".join(sorted(keys))
        )
    return data


def parse_card_status(raw: bytes) -> tuple[CardRow, CardEventRow]:
    """Parse a card status message (raises :class:`~jukinet.errors.InvalidFormat`)."""
    data = _json_body(raw, CARD_STATUS, frozenset({"card", "event"}))
    card_data = dict(_object(data["card"], _CARD_KEYS, "card"))
    event_data = dict(_object(data["event"], _EVENT_KEYS, "event"))
    try:
        for name in ("issued_on", "expires_on"):
            card_data[name] = _day(card_data[name], name)
        if card_data["moved_in_on"] is not None:
            card_data["moved_in_on"] = _day(card_data["moved_in_on"], "moved_in_on")
        card_data["public_key"] = bytes.fromhex(_hex(card_data["public_key"], "public_key", 64))
        event_data["on"] = _day(event_data["on"], "on")
        card, event = CardRow(**card_data), CardEventRow(**event_data)
    except ValidationError as exc:
        raise InvalidFormat(f"the card status is invalid: {exc}", field="message") from exc
    if card.card_id != event.card_id or card.version != event.version:
        raise InvalidFormat(
            "the card and its event do not match",
            field="message",
            expected="one card id and one version",
        )
    _require_canonical(raw, encode_card_status(card, event), CARD_STATUS)
    return card, event


@attrs.frozen(kw_only=True)
class CardCheck:
    """A counter's question about a presented card: ``card_id`` and ``public_key``
    (64 hex digits) as the chip proved them, ``code`` the number the chip carries
    (the resident code, or the individual number on a My Number card), and a fresh
    ``request_id`` (32 hex digits)."""

    request_id: str
    card_id: str
    public_key: str
    code: str

    def __attrs_post_init__(self) -> None:
        _hex(self.request_id, "request_id", 32)
        _hex(self.card_id, "card_id", 32)
        _hex(self.public_key, "public_key", 64)
        if not isinstance(self.code, str) or not self.code.isascii() or not self.code.isdigit():
            raise InvalidFormat("the code is not digits", field="code", expected="11 or 12 digits")
        if len(self.code) not in (11, 12):
            raise InvalidFormat(
                "the code has the wrong length", field="code", expected="11 or 12 digits"
            )


def encode_card_check(check: CardCheck) -> bytes:
    """Frame a card check."""
    return _frame(CARD_CHECK, attrs.asdict(check))


def parse_card_check(raw: bytes) -> CardCheck:
    """Parse a card check (raises :class:`~jukinet.errors.InvalidFormat`)."""
    data = _json_body(raw, CARD_CHECK, frozenset(attrs.fields_dict(CardCheck)))
    check = CardCheck(**data)
    _require_canonical(raw, encode_card_check(check), CARD_CHECK)
    return check


@attrs.frozen(kw_only=True)
class CardCheckAnswer:
    """The centre's answer: the request's envelope digest (``request_hash``), the card
    and the key it is about, the ``verdict`` (one of :data:`VERDICTS`), the lapse
    ``reason`` (or ``""``), and where the card is known: the ``holder``'s resident
    code, the ``municipality`` holding them now, the ``kind``, the ``expires_on``
    day, the kept ``version`` and the ``moved_in_on`` day of a move-in awaiting
    continued use (``None`` for an unknown card)."""

    request_hash: str
    card_id: str
    public_key: str
    verdict: str
    reason: str
    holder: str | None
    municipality: str | None
    kind: str | None
    expires_on: str | None
    version: int | None
    moved_in_on: str | None

    def __attrs_post_init__(self) -> None:
        _hex(self.request_hash, "request_hash", 64)
        _hex(self.card_id, "card_id", 32)
        _hex(self.public_key, "public_key", 64)
        if self.verdict not in VERDICTS:
            raise InvalidFormat(
                f"unknown verdict {self.verdict!r}",
                field="verdict",
                expected=", ".join(sorted(VERDICTS)),
            )
        if not isinstance(self.reason, str):
            raise InvalidFormat("the reason is not text", field="reason")
        for name in ("holder", "municipality", "kind", "expires_on"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise InvalidFormat(f"{name} is not text", field=name)
        for name in ("expires_on", "moved_in_on"):
            value = getattr(self, name)
            if value is not None:
                _day(value, name)
        if self.version is not None and (type(self.version) is not int or self.version < 1):
            raise InvalidFormat("the version is not a number from 1", field="version")

    @property
    def in_effect(self) -> bool:
        """Whether the card is in effect and its holder a current resident."""
        return self.verdict == "in_effect"


def encode_card_check_answer(answer: CardCheckAnswer) -> bytes:
    """Frame an answer to a card check."""
    return _frame(CARD_CHECK_ANSWER, attrs.asdict(answer))


def parse_card_check_answer(raw: bytes) -> CardCheckAnswer:
    """Parse an answer to a card check (raises :class:`~jukinet.errors.InvalidFormat`)."""
    data = _json_body(raw, CARD_CHECK_ANSWER, frozenset(attrs.fields_dict(CardCheckAnswer)))
    answer = CardCheckAnswer(**data)
    _require_canonical(raw, encode_card_check_answer(answer), CARD_CHECK_ANSWER)
    return answer
