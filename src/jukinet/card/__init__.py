"""The resident IC card (住民基本台帳カード, 住基法30条の44; its successor the
個人番号カード, 番号法17条): a simulated chip and its trust chain.

Rooms:

* :mod:`jukinet.card.kinds`: the two card kinds as dated facts (issue windows,
  validity, printed items, which number the chip carries).
* :mod:`jukinet.card.lifecycle`: the card's states, events and deadlines
  (:class:`CardStatus`, 90 days for continued use, suspension, return, lapses).
* :mod:`jukinet.card.keys`: the trust chain — the :class:`CardAuthority` (root,
  J-LIS's role), each municipality's :class:`IssuerKey` and each counter's
  :class:`TerminalKey`, and their certificates.
* :mod:`jukinet.card.data`: what the card carries in the open — :class:`CardData`
  (kind, resident code or individual number, issuer, dates, printed items) and
  :class:`ChipPublic` (the data with its certificate chain).
* :mod:`jukinet.card.pin`: the PIN's form, tries and scrypt cost.
* :mod:`jukinet.card.chip`: the :class:`Chip` (key generated on the card, PIN,
  mutual authentication, application areas, sealed image).
* :mod:`jukinet.card.terminal`: the :class:`CounterTerminal` side of mutual
  authentication and the :class:`CardSession` it returns.

The package uses :mod:`jukinet.domain` only. Keys, challenges and salts come from
an injected :class:`random.Random` (a :class:`random.SystemRandom` for real use).
"""

from __future__ import annotations

from jukinet.card.chip import AREA_MEMORY, CHALLENGE_BYTES, Chip
from jukinet.card.data import CardData, ChipPublic, PrintedItems, new_card_id
from jukinet.card.keys import (
    CardAuthority,
    CardCertificate,
    IssuerCertificate,
    IssuerKey,
    TerminalCertificate,
    TerminalKey,
)
from jukinet.card.kinds import CardKind, ChipCode, KindRules, PrintedItem, rules_for
from jukinet.card.lifecycle import (
    CONTINUED_USE_DAYS,
    CardEvent,
    CardHistoryEntry,
    CardState,
    CardStatus,
    LapseReason,
    Transition,
)
from jukinet.card.pin import DEFAULT_SCRYPT_COST, PIN_TRIES, ScryptCost
from jukinet.card.terminal import CardSession, ChipCommands, CounterTerminal

__all__ = [
    "AREA_MEMORY",
    "CHALLENGE_BYTES",
    "CONTINUED_USE_DAYS",
    "DEFAULT_SCRYPT_COST",
    "PIN_TRIES",
    "CardAuthority",
    "CardCertificate",
    "CardData",
    "CardEvent",
    "CardHistoryEntry",
    "CardKind",
    "CardSession",
    "CardState",
    "CardStatus",
    "Chip",
    "ChipCode",
    "ChipCommands",
    "ChipPublic",
    "CounterTerminal",
    "IssuerCertificate",
    "IssuerKey",
    "KindRules",
    "LapseReason",
    "PrintedItem",
    "PrintedItems",
    "ScryptCost",
    "TerminalCertificate",
    "TerminalKey",
    "Transition",
    "new_card_id",
    "rules_for",
]
