"""What every node shares: links, sequence numbers, acknowledgements, refusals, health.

A node sends what its outbox holds and the destination has not yet acknowledged,
batched into signed envelopes (:meth:`Node.outgoing`), and takes what it receives
through :meth:`Node.receive`, which answers with a signed acknowledgement. For a
sequenced envelope the receiver, in **one unit of work**:

1. checks the signature, the recipient, the freshness and that this sender may
   send on this link (else a typed :class:`~jukinet.errors.IntegrityViolation`,
   recorded in the audit log; nothing else changes);
2. compares the envelope's sequence numbers with what it already applied from
   the sender (:class:`~jukinet.storage.base.Tracking`): an envelope applied
   before is acknowledged and not applied again; one that skips ahead is answered
   with a *gap* so the sender resends; otherwise the new messages are applied;
3. records the new position in the same unit of work as the effect, so a crash
   between the two is impossible and a re-delivery is a no-op.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Iterator, Sequence
from datetime import timedelta

import attrs

from jukinet._log import event
from jukinet.domain._repr import never_raises
from jukinet.errors import (
    IntegrityError,
    IntegrityViolation,
    JukinetError,
    Misaddressed,
    SequenceGap,
    ValidationError,
)
from jukinet.storage.base import Store, UnitOfWork
from jukinet.storage.records import AuditEntry, AuditRecord, OutboxEntry
from jukinet.tiers import wire
from jukinet.tiers._repr import node_label
from jukinet.tiers.clock import Clock
from jukinet.tiers.messages import DEFAULT_MAX_AGE as DEFAULT_MAX_AGE  # re-exported
from jukinet.tiers.messages import DEFAULT_MAX_SKEW as DEFAULT_MAX_SKEW  # re-exported
from jukinet.tiers.messages import (
    Envelope,
    NodeId,
    NodeKey,
    TrustStore,
    check_fresh,
)

__all__ = ["FEED_PREFIX", "REFUSED", "Health", "LinkHealth", "Node", "Refusal"]

DEFAULT_BATCH = 1000
"""Messages per envelope."""
FEED_PREFIX = "feed:"
"""Outbox destinations with this prefix are *feeds*: a consumer reads them at its own
pace (:meth:`Node.read_feed`) and confirms a position; they are never sent."""
REFUSED = "receive.refused"
"""The audit action of a refused envelope (what :meth:`Node.health` lists)."""

_logger = logging.getLogger(__name__)


@attrs.frozen
class LinkHealth:
    """One outgoing link: how much is waiting and what was last confirmed."""

    destination: str
    last_seq: int
    acknowledged: int

    @property
    def backlog(self) -> int:
        """Messages sent or waiting that the destination has not confirmed."""
        return self.last_seq - self.acknowledged


@attrs.frozen
class Refusal:
    """An envelope this node refused, with the reason (from the audit log)."""

    seq: int
    at: str
    sender: str
    reason: str


@attrs.frozen
class Health:
    """A node's state for the call centre (コールセンター): typed, for routing or display."""

    node: str
    links: tuple[LinkHealth, ...]
    applied: dict[str, int]
    refusals: tuple[Refusal, ...]

    @property
    def backlog(self) -> int:
        """Unconfirmed messages over all links."""
        return sum(link.backlog for link in self.links)


class Node:
    """Base of the three tiers: link handling on top of a :class:`~jukinet.storage.base.Store`.

    Subclasses say who may send them sequenced messages
    (:meth:`_check_sender`) and what applying one means (:meth:`_apply`).
    """

    def __init__(
        self,
        node_id: NodeId,
        store: Store,
        key: NodeKey,
        trust: TrustStore,
        clock: Clock,
        *,
        batch_size: int = DEFAULT_BATCH,
        max_age: timedelta = DEFAULT_MAX_AGE,
    ) -> None:
        if not isinstance(node_id, NodeId):
            raise TypeError(f"node_id: expected NodeId, got {type(node_id).__name__}")
        if key.node != node_id:
            raise Misaddressed(
                f"the key belongs to {key.node}, not {node_id}", field="key", expected=str(node_id)
            )
        if batch_size < 1:
            raise ValidationError("batch size must be positive", field="batch_size")
        self._id = node_id
        self.store = store
        self._key = key
        self.trust = trust
        self.clock = clock
        self._batch = batch_size
        self._max_age = max_age

    @property
    def node_id(self) -> NodeId:
        """This node's identity."""
        return self._id

    @property
    def public_key(self) -> bytes:
        """The raw public key this node signs with now (for the others' trust stores)."""
        return self._key.public_bytes

    def rotate_key(self, key: NodeKey) -> None:
        """Sign with ``key`` from now on (a key rotation).

        Envelopes are signed when they are sent: what :meth:`outgoing` resends after
        the rotation (unacknowledged messages too) carries the new key's signature.
        What was sealed before (envelopes in flight, relayed counter messages still
        in an outbox) keeps the old one, so the other nodes trust both
        (:meth:`TrustStore.add <jukinet.tiers.messages.TrustStore.add>`) until the
        network has drained, then retire the old key
        (:meth:`TrustStore.retire <jukinet.tiers.messages.TrustStore.retire>`; see
        docs/embedding.md). A key of another node is refused
        (:class:`~jukinet.errors.Misaddressed`) and the node keeps its key.
        """
        if not isinstance(key, NodeKey):
            raise TypeError(f"key: expected a NodeKey, got {type(key).__name__}")
        if key.node != self._id:
            raise Misaddressed(
                f"the key belongs to {key.node}, not {self._id}",
                field="key",
                expected=str(self._id),
            )
        self._key = key

    # --- sending ------------------------------------------------------------------

    def outgoing(self, *, max_envelopes: int = 10) -> list[Envelope]:
        """Envelopes of every message not yet acknowledged, per destination, in order.

        Sending again what is unacknowledged is how lost messages are recovered; the
        receiver applies each message once whatever it receives twice.
        """
        outbox = self.store.outbox
        envelopes: list[Envelope] = []
        now = self.clock.now()
        for destination in outbox.destinations():
            if destination.startswith(FEED_PREFIX):
                continue  # a feed is read by its consumer, not sent
            acked = outbox.acknowledged(destination)
            entries = outbox.read(destination, after=acked, limit=self._batch * max_envelopes)
            recipient = NodeId.parse(destination)
            if entries:
                event(
                    _logger,
                    logging.DEBUG,
                    "outbox.offered",
                    node=self._id,
                    destination=destination,
                    acknowledged=acked,
                    first_seq=entries[0].seq,
                    last_seq=entries[-1].seq,
                )
            for start in range(0, len(entries), self._batch):
                chunk = entries[start : start + self._batch]
                envelopes.append(
                    self._key.seal(
                        recipient,
                        first_seq=chunk[0].seq,
                        payload_type=wire.MESSAGES,
                        payloads=[entry.payload for entry in chunk],
                        sent_at=now,
                    )
                )
        return envelopes

    def read_feed(self, name: str, *, after: int = 0, limit: int = 1000) -> list[OutboxEntry]:
        """Entries of the feed ``name`` after position ``after``, in order: a consumer
        resumes from the last position it processed."""
        return self.store.outbox.read(FEED_PREFIX + name, after=after, limit=limit)

    def confirm_feed(self, name: str, position: int) -> None:
        """Record that the consumer of feed ``name`` processed everything up to
        ``position`` (shown as the feed's backlog in :meth:`health`)."""
        with self.store.unit_of_work() as uow:
            self.store.outbox.acknowledge(uow, FEED_PREFIX + name, position)

    def seal_message(self, recipient: NodeId, payload_type: str, payload: bytes) -> Envelope:
        """Sign one unsequenced message to ``recipient``, sent now: a request or an
        answer that travels outside the links (e.g. a card check)."""
        return self._key.seal(
            recipient,
            first_seq=1,
            payload_type=payload_type,
            payloads=[payload],
            sent_at=self.clock.now(),
        )

    def open_message(self, envelope: Envelope, payload_type: str) -> bytes:
        """The payload of an unsequenced message to this node, once its recipient,
        signature (the trust store's key of its sender), freshness
        (:func:`~jukinet.tiers.messages.check_fresh`), type and single payload are
        checked; else a :class:`~jukinet.errors.IntegrityViolation`."""
        if not isinstance(envelope, Envelope):
            raise TypeError(f"expected an Envelope, got {type(envelope).__name__}")
        self._check_envelope(envelope)
        if envelope.payload_type != payload_type or len(envelope.payloads) != 1:
            raise Misaddressed(
                f"a {envelope.payload_type!r} envelope of {len(envelope.payloads)} payloads",
                field="payload_type",
                expected=f"one {payload_type!r} message",
            )
        return envelope.payloads[0]

    def queue(self, uow: UnitOfWork, destination: NodeId, messages: Sequence[bytes]) -> range:
        """Queue messages for ``destination`` in the caller's unit of work (for the
        desks that share this node's links, e.g. the card desk)."""
        return self._send(uow, destination, messages)

    def _send(self, uow: UnitOfWork, destination: NodeId, messages: Sequence[bytes]) -> range:
        """Queue messages for ``destination`` in the caller's unit of work."""
        return self.store.outbox.append(uow, str(destination), messages)

    # --- receiving ----------------------------------------------------------------

    def receive(self, envelope: Envelope) -> list[Envelope]:
        """Take one envelope; returns the answers to send back (an acknowledgement).

        Raises a :class:`~jukinet.errors.IntegrityViolation` (recorded in the audit
        log, nothing else changed) for a forged, altered, misaddressed, replayed or
        malformed envelope.
        """
        if not isinstance(envelope, Envelope):
            raise TypeError(f"expected an Envelope, got {type(envelope).__name__}")
        try:
            self._check_envelope(envelope)
            if envelope.payload_type == wire.ACK:
                self._take_ack(envelope)
                return []
            if envelope.payload_type != wire.MESSAGES:
                raise Misaddressed(
                    f"unknown payload type {envelope.payload_type!r}",
                    field="payload_type",
                    expected=f"{wire.MESSAGES} or {wire.ACK}",
                )
            self._check_sender(envelope.sender)
            ack = self._apply_envelope(envelope)
        except (IntegrityViolation, ValidationError) as exc:
            self._record_refusal(envelope, exc)
            event(
                _logger,
                logging.WARNING,
                "envelope.refused",
                node=self._id,
                sender=envelope.sender,
                first_seq=envelope.first_seq,
                last_seq=envelope.last_seq,
                payload_type=envelope.payload_type[:64],
                error=type(exc).__name__,
                reason=str(exc)[:500],
            )
            if isinstance(exc, IntegrityViolation):
                raise
            raise IntegrityViolation(
                f"the envelope's content is malformed: {exc}", field="envelope"
            ) from exc
        event(
            _logger,
            logging.DEBUG,
            "envelope.received",
            node=self._id,
            sender=envelope.sender,
            first_seq=envelope.first_seq,
            last_seq=envelope.last_seq,
            status=ack.status,
            position=ack.position,
        )
        return [self._answer(envelope, ack)]

    def _check_envelope(self, envelope: Envelope) -> None:
        if envelope.recipient != self._id:
            raise Misaddressed(
                f"the envelope is for {envelope.recipient}, not {self._id}",
                field="recipient",
                expected=str(self._id),
            )
        self.trust.verify(envelope)
        check_fresh(envelope.sent_at, self.clock.now(), max_age=self._max_age)

    def _apply_envelope(self, envelope: Envelope) -> wire.Ack:
        """Apply what is new in ``envelope`` in one unit of work; answer how it went.

        Several instances of this node may share its store (threads, processes,
        servers) and take the same envelope at once. Where the store lets their
        units of work run side by side (PostgreSQL), each reads the same position
        and the loser's writes are refused (:class:`~jukinet.errors.IntegrityError`)
        once the winner commits. The loser then reads the position again: if
        the envelope is covered now, it answers ``duplicate`` like any re-delivery;
        if another instance applied only part of it, it applies the rest. An
        IntegrityError while the position did not move is no lost race and is
        raised.
        """
        sender = str(envelope.sender)
        while True:
            seen: list[int] = []
            try:
                return self._apply_once(envelope, sender, seen)
            except IntegrityError:
                if not seen:
                    raise  # before the position was read: no race for it
                position = self.store.tracking.position(sender)  # committed state
                if position <= seen[0]:
                    raise  # nothing else was applied from the sender meanwhile
                if envelope.last_seq <= position:
                    return wire.Ack(position, "duplicate", envelope.digest, envelope.first_seq)
                # Another instance applied the start of the envelope: apply the rest
                # (the position rose, so this ends).

    def _apply_once(self, envelope: Envelope, sender: str, seen: list[int]) -> wire.Ack:
        """One attempt of :meth:`_apply_envelope`; the position it read goes to ``seen``."""
        store = self.store
        with store.unit_of_work() as uow:
            position = store.tracking.position(sender, uow)
            seen.append(position)
            if envelope.last_seq <= position:
                return wire.Ack(position, "duplicate", envelope.digest, envelope.first_seq)
            if envelope.first_seq > position + 1:
                return wire.Ack(position, "gap", envelope.digest, envelope.first_seq)
            start = position + 1
            fresh = envelope.payloads[start - envelope.first_seq :]
            self._apply(uow, envelope.sender, fresh)
            store.tracking.advance(uow, sender, start, last=envelope.last_seq)
            return wire.Ack(envelope.last_seq, "applied", envelope.digest, envelope.first_seq)

    def _answer(self, envelope: Envelope, ack: wire.Ack) -> Envelope:
        return self._key.seal(
            envelope.sender,
            first_seq=1,
            payload_type=wire.ACK,
            payloads=[wire.encode_ack(ack)],
            sent_at=self.clock.now(),
        )

    def _take_ack(self, envelope: Envelope) -> None:
        if len(envelope.payloads) != 1:
            raise Misaddressed("an acknowledgement carries one payload", field="ack")
        ack = wire.decode_ack(envelope.payloads[0])
        destination = str(envelope.sender)
        with self.store.unit_of_work() as uow:
            confirmed = self.store.outbox.acknowledged(destination, uow)
            if ack.status == "gap" and ack.position < confirmed < ack.first_seq:
                # The receiver lost what it had confirmed (a late answer to an envelope
                # sent before the confirmation has first_seq <= confirmed): resending
                # cannot help.
                raise SequenceGap(
                    f"{destination} is at {ack.position}, below the {confirmed} it confirmed:"
                    " it lost applied messages",
                    field="ack",
                    expected="a receiver restored with its links (jukinet.tiers.restore)",
                )
            try:
                self.store.outbox.acknowledge(uow, destination, ack.position)
            except JukinetError as exc:
                raise IntegrityViolation(
                    f"the acknowledgement does not fit this link: {exc}", field="ack"
                ) from exc
        if ack.status == "gap":
            # The receiver skipped ahead: what follows its position goes again with
            # the next outgoing() (the link's retry).
            event(
                _logger,
                logging.INFO,
                "outbox.resent",
                node=self._id,
                destination=destination,
                cause="gap",
                after=ack.position,
                refused_first_seq=ack.first_seq,
            )

    def _record_refusal(self, envelope: Envelope, exc: JukinetError) -> None:
        detail = json.dumps(
            {
                "error": type(exc).__name__,
                "first_seq": envelope.first_seq,
                "last_seq": envelope.last_seq,
                "payload_type": envelope.payload_type[:64],
                "reason": str(exc)[:500],
            },
            sort_keys=True,
            ensure_ascii=False,
        ).encode()
        with self.store.unit_of_work() as uow:
            self.store.audit.append(
                uow,
                [
                    AuditEntry(
                        at=self.clock.now(),
                        action=REFUSED,
                        subject=str(envelope.sender)[:64],
                        detail=detail,
                    )
                ],
            )

    # --- for subclasses -----------------------------------------------------------

    def _check_sender(self, sender: NodeId) -> None:
        """Raise :class:`~jukinet.errors.Misaddressed` unless ``sender`` may send here."""
        raise Misaddressed(f"{self._id} accepts no messages from {sender}", field="sender")

    def _apply(self, uow: UnitOfWork, sender: NodeId, messages: Sequence[bytes]) -> None:
        """Apply messages (already checked for order) in the caller's unit of work."""
        raise Misaddressed(f"{self._id} applies no messages", field="sender")

    # --- observing ----------------------------------------------------------------

    def _audit_records(self, action: str) -> Iterator[AuditRecord]:
        """Every audit record of one action, in order, read page by page."""
        after = 0
        while batch := self.store.audit.read(after=after, limit=1000, action=action):
            yield from batch
            after = batch[-1].seq

    def health(self, *, refusals: int = 20) -> Health:
        """Backlog per link, positions applied per sender, and the latest refusals."""
        outbox = self.store.outbox
        links = tuple(
            LinkHealth(d, outbox.last_seq(d), outbox.acknowledged(d)) for d in outbox.destinations()
        )
        found: deque[Refusal] = deque(maxlen=refusals)
        for record in self._audit_records(REFUSED):
            reason = json.loads(record.entry.detail).get("reason", "")
            found.append(
                Refusal(record.seq, record.entry.at.isoformat(), record.entry.subject or "", reason)
            )
        return Health(
            node=str(self._id),
            links=links,
            applied=self.store.tracking.senders(),
            refusals=tuple(found),
        )

    # --- repr -------------------------------------------------------------------

    @never_raises
    def __repr__(self) -> str:
        """``<Prefecture p:13 東京都 on <MemoryStore database=0x… open>>``: the node
        and where its data lives (no storage read; see :meth:`health` for counts)."""
        return f"<{type(self).__name__} {node_label(self._id)} on {self.store!r}>"
