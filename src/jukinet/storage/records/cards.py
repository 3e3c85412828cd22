"""The resident IC cards a municipality keeps (旧住基法30条の44, 番号法17条):
:class:`CardRow`, :class:`CardEventRow`."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import attrs

from jukinet.errors import InvalidComponent
from jukinet.storage.records._validate import (
    _date,
    _flag,
    _int,
    _lg_code_field,
    _one_of,
    _public_key,
    _resident_code,
    _str,
)

_CARD_ID = re.compile(r"[0-9a-f]{32}")

# Documented in jukinet.storage.records (the package), where it is imported from.
CARD_KINDS = frozenset({"juki", "my_number"})

# Documented in jukinet.storage.records (the package), where it is imported from.
CARD_STATES = frozenset({"in_effect", "suspended", "returned", "lapsed"})

# Documented in jukinet.storage.records (the package), where it is imported from.
LIVE_CARD_STATES = frozenset({"in_effect", "suspended"})

# Documented in jukinet.storage.records (the package), where it is imported from.
CARD_REASONS = frozenset(
    {
        "",
        "code_changed",
        "removed",
        "not_continued",
        "moved_again",
        "expired",
        "replaced",
        "late_move_in",
        "moved_out",
    }
)

# Documented in jukinet.storage.records (the package), where it is imported from.
CARD_EVENTS = frozenset(
    {"issued", "suspended", "resumed", "returned", "moved_in", "continued", "pin_reset", "lapsed"}
)


def _card_id(_i: Any, _a: Any, value: Any) -> None:
    _str("card_id", max_length=32, pattern=_CARD_ID)(_i, _a, value)


@attrs.frozen(kw_only=True)
class CardRow:
    """The state of one resident IC card as a municipality keeps it (旧住基法30条の44:
    住民基本台帳カード; 番号法17条: 個人番号カード).

    ``card_id`` is the card's 128-bit serial as 32 lowercase hex digits;
    ``holder`` the resident code of the person it was issued to; ``kind`` one of
    :data:`CARD_KINDS`; ``photo`` whether it is a photo card (type B);
    ``issuer`` the 6-digit code of the issuing municipality; ``expires_on`` the
    last day it is in effect (not before ``issued_on``); ``public_key`` the chip's
    raw 32-byte Ed25519 key; ``state`` one of :data:`CARD_STATES`; ``reason``
    why it lapsed, one of :data:`CARD_REASONS`; ``municipality`` the municipality
    whose register holds the holder now; ``moved_in_on`` the day of a move-in
    awaiting the continued use of the card (None when none); ``version`` the
    number of events in the card's life so far (1 at issue, one more with each
    event, as :class:`CardEventRow`).

    >>> from datetime import date
    >>> row = CardRow(card_id="0" * 32, holder="00000000019", kind="my_number", photo=True,
    ...     issuer="131016", issued_on=date(2026, 4, 1), expires_on=date(2036, 4, 1),
    ...     public_key=bytes(32), state="in_effect", reason="", municipality="131016",
    ...     moved_in_on=None, version=1)
    >>> row.state, row.version
    ('in_effect', 1)
    >>> attrs.evolve(row, state="lost")
    Traceback (most recent call last):
        ...
    jukinet.errors.InvalidComponent: state: 'lost' is not allowed (expected ...)
    """

    card_id: str = attrs.field(validator=_card_id)
    holder: str = attrs.field(validator=_resident_code("holder"))
    kind: str = attrs.field(validator=_one_of("kind", CARD_KINDS))
    photo: bool = attrs.field(validator=_flag("photo"))
    issuer: str = attrs.field(validator=_lg_code_field("issuer"))
    issued_on: date = attrs.field(validator=_date("issued_on"))
    expires_on: date = attrs.field(validator=_date("expires_on"))
    public_key: bytes = attrs.field(validator=_public_key, repr=False)
    state: str = attrs.field(validator=_one_of("state", CARD_STATES))
    reason: str = attrs.field(validator=_one_of("reason", CARD_REASONS))
    municipality: str = attrs.field(validator=_lg_code_field("municipality"))
    moved_in_on: date | None = attrs.field(validator=_date("moved_in_on", optional=True))
    version: int = attrs.field(validator=_int("version", minimum=1))

    def __attrs_post_init__(self) -> None:
        if self.expires_on < self.issued_on:
            raise InvalidComponent(
                f"the card expires on {self.expires_on}, before it was issued ({self.issued_on})",
                field="expires_on",
                expected="a day on or after issued_on",
            )

    @property
    def live(self) -> bool:
        """Whether the card is in effect or suspended (the holder's one card)."""
        return self.state in LIVE_CARD_STATES


@attrs.frozen(kw_only=True)
class CardEventRow:
    """One event in a card's history: version ``version`` (1, 2, … per card) of
    ``card_id``, what happened (one of :data:`CARD_EVENTS`), on which day, in which
    municipality (6-digit code), and the lapse reason (one of :data:`CARD_REASONS`).
    The history is appended, never rewritten; a registry that adopted the card
    (:meth:`~jukinet.storage.base.CardRegistry.adopt`) holds only the events it saw."""

    card_id: str = attrs.field(validator=_card_id)
    version: int = attrs.field(validator=_int("version", minimum=1))
    event: str = attrs.field(validator=_one_of("event", CARD_EVENTS))
    on: date = attrs.field(validator=_date("on"))
    municipality: str = attrs.field(validator=_lg_code_field("municipality"))
    reason: str = attrs.field(validator=_one_of("reason", CARD_REASONS))
