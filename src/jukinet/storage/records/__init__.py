"""The plain records that cross the storage ports.

Only these frozen records (and opaque ``bytes`` payloads) go in and out of an
adapter. They hold strings, integers, dates and bytes, validated on
construction, so an adapter never sees a malformed value: a wrong type or an
oversize field is a :class:`~jukinet.errors.ValidationError`, and a resident
code with a bad check digit an :class:`~jukinet.errors.InvalidChecksum`.
Mapping from the domain types (:class:`~jukinet.domain.resident.ResidentRecord`,
:class:`~jukinet.domain.identity.IdentityNotice`) happens in
:mod:`jukinet.storage.mapping`, outside the adapters.

Validation happens once, on the way in. The SQL adapters rebuild the register,
identity and agency rows they read back with :func:`unchecked` (the values were
validated when written, and the tables' types and constraints hold them), and
the provision log's records are chained by :func:`chain`.

The package holds one module per concern, named as the adapters' modules are:
``register`` (:class:`RegisterRow`), ``identity`` (:class:`IdentityRow`,
:class:`IdentityQuery`), ``links`` (:class:`OutboxEntry`), ``audit``, ``agencies``,
``provision`` (the entries and their hash chain), ``schedule``, ``pending``,
``cards``, ``counter``; beside them ``_validate`` (the validators every record
shares, :func:`unchecked`, and the argument checks of the adapters) and ``decode``
(:func:`decode_rows`). Every name is imported from here, the package:
``from jukinet.storage.records import RegisterRow, unchecked``.
"""

from __future__ import annotations

# The argument checks outside __all__ are the adapters' (not in the API pages).
from jukinet.storage.records._validate import (
    MAX_KEY_LENGTH,
    MAX_PAYLOAD_BYTES,
    check_aware,
    check_field,
    unchecked,
    unchecked_replace,
)
from jukinet.storage.records._validate import (
    check_date as check_date,
)
from jukinet.storage.records._validate import (
    check_household_id as check_household_id,
)
from jukinet.storage.records._validate import (
    check_int as check_int,
)
from jukinet.storage.records._validate import (
    check_internal_id as check_internal_id,
)
from jukinet.storage.records._validate import (
    check_lg_code as check_lg_code,
)
from jukinet.storage.records._validate import (
    check_node_id as check_node_id,
)
from jukinet.storage.records._validate import (
    check_resident_code as check_resident_code,
)
from jukinet.storage.records._validate import (
    check_status as check_status,
)
from jukinet.storage.records.agencies import AgencyRow
from jukinet.storage.records.audit import AuditEntry, AuditRecord
from jukinet.storage.records.cards import (
    CARD_EVENTS,
    CARD_KINDS,
    CARD_REASONS,
    CARD_STATES,
    LIVE_CARD_STATES,
    CardEventRow,
    CardRow,
)
from jukinet.storage.records.counter import (
    COUNTER_REQUEST_KINDS,
    MOVE_OUT_INFO_DAYS,
    CounterRequestRow,
    MoveOutInfoRow,
)
from jukinet.storage.records.decode import ROW_KEY_COLUMNS as ROW_KEY_COLUMNS
from jukinet.storage.records.decode import corrupt_record, decode_rows
from jukinet.storage.records.identity import IdentityQuery, IdentityRow
from jukinet.storage.records.links import OutboxEntry
from jukinet.storage.records.pending import PendingNotice, PendingRecord
from jukinet.storage.records.provision import (
    GENESIS,
    PROVISION_KINDS,
    ChainFault,
    ProvisionEntry,
    ProvisionRecord,
    chain,
    chain_hash,
    check_request,
    verify_chain,
)
from jukinet.storage.records.register import RegisterRow
from jukinet.storage.records.schedule import ScheduledItem

__all__ = [
    "CARD_EVENTS",
    "CARD_KINDS",
    "CARD_REASONS",
    "CARD_STATES",
    "COUNTER_REQUEST_KINDS",
    "GENESIS",
    "LIVE_CARD_STATES",
    "MAX_KEY_LENGTH",
    "MAX_PAYLOAD_BYTES",
    "MOVE_OUT_INFO_DAYS",
    "PROVISION_KINDS",
    "AgencyRow",
    "AuditEntry",
    "AuditRecord",
    "CardEventRow",
    "CardRow",
    "ChainFault",
    "CounterRequestRow",
    "IdentityQuery",
    "IdentityRow",
    "MoveOutInfoRow",
    "OutboxEntry",
    "PendingNotice",
    "PendingRecord",
    "ProvisionEntry",
    "ProvisionRecord",
    "RegisterRow",
    "ScheduledItem",
    "chain",
    "chain_hash",
    "check_aware",
    "check_field",
    "check_request",
    "corrupt_record",
    "decode_rows",
    "unchecked",
    "unchecked_replace",
    "verify_chain",
]

# autodoc reads a constant's docstring only from the module it documents, this
# package: the constants its modules define are documented here.

CARD_EVENTS = CARD_EVENTS
"""What can happen to a card (:attr:`CardEventRow.event`)."""

CARD_KINDS = CARD_KINDS
"""The kinds of card a :class:`CardRow` records: a resident basic register card
(住民基本台帳カード) or an individual number card (個人番号カード)."""

CARD_REASONS = CARD_REASONS
"""Why a card lapsed (``""``: it has not, or no reason applies)."""

CARD_STATES = CARD_STATES
"""A card's states: ``in_effect`` and ``suspended`` are *live* (the holder has a card);
``returned`` and ``lapsed`` are final."""

COUNTER_REQUEST_KINDS = COUNTER_REQUEST_KINDS
"""What a :class:`CounterRequestRow` asks another municipality for: the items of a
wide-area copy of 住民票 (``copy``, 12条の4第2項・第3項) or the 転出証明書情報 sent
again (``resend``, 24条の2第5項・第6項)."""

GENESIS = GENESIS
"""The hash before the first entry of a provision log."""

LIVE_CARD_STATES = LIVE_CARD_STATES
"""The states in which a card counts as the holder's one card (旧住基法30条の44, 番号法17条)."""

MAX_KEY_LENGTH = MAX_KEY_LENGTH
"""Longest search key or identifier string stored in an indexed column."""

MAX_PAYLOAD_BYTES = MAX_PAYLOAD_BYTES
"""Largest serialized payload a row may carry (a resident record is about 1–2 KiB)."""

MOVE_OUT_INFO_DAYS = MOVE_OUT_INFO_DAYS
"""How many days after the planned move-out a destination keeps the 転出証明書情報 it
was sent (住基法24条の2第4項; 令24条の4): kept through ``planned_date + 29`` days,
erased from ``planned_date + 30`` days (:attr:`MoveOutInfoRow.erase_on`)."""

PROVISION_KINDS = PROVISION_KINDS
"""What a provision-log entry records: a provision, a refusal, a disclosure to the
person (30条の32), a correction request and its outcome (30条の35), a purge."""
