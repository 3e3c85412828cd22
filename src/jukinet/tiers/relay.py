"""Messages between municipalities, relayed by the upper tiers.

The counter services between municipalities (wide-area copies, 住基法12条の4; the
special moving-out/in, 24条の2; the move-in notification, 9条1項) travel "by
computer over network lines" through the communication servers. jukinet carries
them on the existing links: the origin municipality seals the message itself, as
an :class:`~jukinet.tiers.messages.Envelope` addressed to the destination
municipality (payload type :data:`COUNTER`), and wraps it in a ``relay`` message on
its link to its prefecture; the prefecture hands it to the destination when that
is one of its own municipalities and otherwise to the centre, which hands it to
the destination's prefecture::

    m:131016 ─relay→ p:13 ─relay→ c:jlis ─relay→ p:27 ─relay→ m:271276

Each hop gets the links' guarantees (signed, ordered, acknowledged, applied once).
The tiers relay only what its origin could have sent: a prefecture takes a relay
from its municipality only when that municipality sealed it, the centre only when
the sealing municipality belongs to the sending prefecture, and a tier passes a
relay down only to a municipality of its own. The destination checks the inner
seal against its trust store, so a dishonest tier can drop a message but can
neither forge nor alter one. A relay that fails these checks changes nothing,
does not stop the link, and is audited as ``relay.refused`` naming the sender.

>>> import random
>>> from datetime import UTC, datetime
>>> from jukinet.tiers.messages import NodeId, NodeKey
>>> chiyoda, kita = NodeId.municipality("131016"), NodeId.municipality("271276")
>>> key = NodeKey.generate(chiyoda, random.Random(1))
>>> inner = key.seal(kita, first_seq=1, payload_type=COUNTER, payloads=[b"hello"],
...     sent_at=datetime(2026, 4, 1, tzinfo=UTC))
>>> parse_relay(encode_relay(inner)) == inner
True
>>> next_hop(NodeId.prefecture("13"), inner, came_from=chiyoda)
NodeId('c:jlis')
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Sequence

from jukinet._log import event
from jukinet.domain import codec
from jukinet.errors import InvalidFormat, JukinetError, Misaddressed
from jukinet.storage.base import UnitOfWork
from jukinet.storage.records import AuditEntry
from jukinet.tiers import messages
from jukinet.tiers.clock import Clock
from jukinet.tiers.messages import CENTER, Envelope, NodeId, NodeKind

__all__ = ["COUNTER", "RELAY", "RELAY_REFUSED", "encode_relay", "next_hop", "parse_relay", "route"]

RELAY = "relay"
"""Message type of a relayed municipality-to-municipality message."""
COUNTER = "counter"
"""Payload type of the inner envelope a municipality seals for another."""
RELAY_REFUSED = "relay.refused"
"""Audit action of a relay a tier or the destination refused."""

_KEYS = frozenset({"envelope"})
_logger = logging.getLogger(__name__)


def encode_relay(inner: Envelope) -> bytes:
    """Frame a sealed inner envelope as a ``relay`` message."""
    body = {"envelope": base64.b64encode(messages.encode(inner)).decode("ascii")}
    return RELAY.encode() + b"\n" + codec.canonical_json(body)


def parse_relay(raw: bytes) -> Envelope:
    """The inner envelope of a ``relay`` message (:class:`~jukinet.errors.InvalidFormat`
    for anything else). Parsing does not verify the inner seal."""
    kind, sep, body = raw.partition(b"\n")
    if kind != RELAY.encode() or not sep:
        raise InvalidFormat("not a relay message", field="message", expected=RELAY)
    data = codec.load_json(body, field="relay")
    if not isinstance(data, dict) or set(data) != _KEYS or not isinstance(data["envelope"], str):
        raise InvalidFormat("the relay has the wrong fields", field="relay", expected="envelope")
    try:
        inner = messages.decode(base64.b64decode(data["envelope"], validate=True))
    except ValueError as exc:
        raise InvalidFormat(f"the relayed envelope is malformed: {exc}", field="relay") from exc
    if encode_relay(inner) != raw:
        raise InvalidFormat("the relay is not in canonical form", field="relay")
    if inner.payload_type != COUNTER or len(inner.payloads) != 1:
        raise InvalidFormat(
            "the relayed envelope is not one counter message",
            field="relay",
            expected=f"one {COUNTER!r} payload",
        )
    for end in (inner.sender, inner.recipient):
        if end.kind is not NodeKind.MUNICIPALITY:
            raise InvalidFormat(
                f"a relay between {inner.sender} and {inner.recipient}",
                field="relay",
                expected="a message from one municipality to another",
            )
    return inner


def next_hop(tier: NodeId, inner: Envelope, *, came_from: NodeId) -> NodeId:
    """Where ``tier`` passes a relayed ``inner`` envelope that came from ``came_from``;
    :class:`~jukinet.errors.Misaddressed` when the relay may not take that way."""
    origin, target = inner.sender, inner.recipient
    if tier == CENTER:
        if origin.prefecture_node != came_from:
            raise Misaddressed(
                f"{came_from} relays a message sealed by {origin}",
                field="sender",
                expected="a message of one of the sending prefecture's municipalities",
            )
        hop = target.prefecture_node
        assert hop is not None
        return hop
    if came_from == CENTER:
        if target.prefecture_node != tier:
            raise Misaddressed(
                f"the centre relays to {target} through {tier}",
                field="recipient",
                expected=f"a municipality of {tier}",
            )
        return target
    if origin != came_from:
        raise Misaddressed(
            f"{came_from} relays a message sealed by {origin}",
            field="sender",
            expected="a message the sending municipality sealed itself",
        )
    return target if target.prefecture_node == tier else CENTER


def route(
    tier: NodeId,
    uow: UnitOfWork,
    came_from: NodeId,
    relays: Sequence[bytes],
    *,
    send: Callable[[UnitOfWork, NodeId, Sequence[bytes]], object],
    refuse: Callable[[UnitOfWork, NodeId, str], None],
) -> None:
    """Pass each relay on at an upper tier (see :func:`next_hop`); one that may not
    pass is refused through ``refuse`` and the others go on."""
    for raw in relays:
        try:
            inner = parse_relay(raw)
            hop = next_hop(tier, inner, came_from=came_from)
        except JukinetError as exc:
            refuse(uow, came_from, str(exc))
            continue
        send(uow, hop, [raw])


def audit_refusal(
    audit_append: Callable[[UnitOfWork, list[AuditEntry]], object],
    clock: Clock,
    *,
    node: NodeId | None = None,
) -> Callable[[UnitOfWork, NodeId, str], None]:
    """A ``refuse`` callback recording ``relay.refused`` (naming the sender) through
    ``audit_append``, and logging it (event ``relay.refused``, WARNING, naming
    ``node``, the tier that refused)."""

    def refuse(uow: UnitOfWork, sender: NodeId, why: str) -> None:
        event(
            _logger,
            logging.WARNING,
            RELAY_REFUSED,
            node=node,
            sender=sender,
            why=why[:500],
        )
        audit_append(
            uow,
            [
                AuditEntry(
                    at=clock.now(),
                    action=RELAY_REFUSED,
                    subject=str(sender),
                    detail=json.dumps({"why": why[:500]}, ensure_ascii=False).encode(),
                )
            ],
        )

    return refuse
