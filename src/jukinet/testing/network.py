"""An in-process network that misbehaves on purpose, for tests and the demo.

Nodes only hand out what they have to send (:meth:`Endpoint.outgoing`) and accept
what they receive (:meth:`Endpoint.receive`, which may answer with envelopes of
its own, such as acknowledgements). :class:`FaultyNetwork` moves envelopes between
them and, driven by a seeded random source, drops, duplicates, reorders and delays
them; it can also crash a node (its storage survives) and restart it.

>>> import random
>>> net = FaultyNetwork(random.Random(1), drop=0.1, duplicate=0.1, reorder=0.2, delay=0.2)
>>> net.stats.delivered
0
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import attrs

from jukinet._log import event
from jukinet.domain._repr import never_raises
from jukinet.errors import IntegrityViolation, InvalidComponent, JukinetError
from jukinet.tiers.messages import Envelope, NodeId

__all__ = ["Endpoint", "FaultyNetwork", "NetworkStats"]

_logger = logging.getLogger(__name__)


@runtime_checkable
class Endpoint(Protocol):
    """What the network needs of a node."""

    @property
    def node_id(self) -> NodeId:
        """The node's identity."""
        ...

    def outgoing(self) -> list[Envelope]:
        """Envelopes the node wants to send now (unacknowledged ones again)."""
        ...

    def receive(self, envelope: Envelope) -> list[Envelope]:
        """Accept one envelope; return the answers to send back."""
        ...


@attrs.define
class NetworkStats:
    """Counters of what the network did."""

    sent: int = 0
    delivered: int = 0
    dropped: int = 0
    duplicated: int = 0
    delayed: int = 0
    refused: int = 0
    undeliverable: int = 0
    crashes: int = 0


def _probability(name: str) -> Callable[[object, object, float], None]:
    def check(_i: object, _a: object, value: float) -> None:
        if not 0.0 <= value < 1.0:
            raise InvalidComponent(f"{value} is not a probability below 1", field=name)

    return check


class FaultyNetwork:
    """Moves envelopes between endpoints, with faults drawn from ``rng``.

    ``drop``, ``duplicate``, ``reorder`` and ``delay`` are probabilities per
    envelope. A delayed envelope waits one to three rounds. Refused envelopes
    (a node raising a :class:`~jukinet.errors.JukinetError`) are counted and
    dropped, as a real transport would log and drop them.
    """

    def __init__(
        self,
        rng: random.Random,
        *,
        drop: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        delay: float = 0.0,
    ) -> None:
        for name, value in (
            ("drop", drop),
            ("duplicate", duplicate),
            ("reorder", reorder),
            ("delay", delay),
        ):
            _probability(name)(None, None, value)
        self._rng = rng
        self.drop, self.duplicate, self.reorder, self.delay = drop, duplicate, reorder, delay
        self._nodes: dict[NodeId, Endpoint] = {}
        self._down: set[NodeId] = set()
        self._reachable_sent = 0
        self._in_flight: list[tuple[int, Envelope]] = []  # (rounds to wait, envelope)
        self.stats = NetworkStats()
        self.refusals: list[tuple[NodeId, str]] = []

    def add(self, node: Endpoint) -> None:
        """Attach a node (replacing a node with the same identity, e.g. after a restart)."""
        self._nodes[node.node_id] = node
        self._down.discard(node.node_id)

    def node(self, node_id: NodeId) -> Endpoint:
        """The attached node with this identity."""
        return self._nodes[node_id]

    def crash(self, node_id: NodeId) -> None:
        """Take a node down: it neither sends nor receives until :meth:`restart`."""
        self._down.add(node_id)
        self.stats.crashes += 1

    def restart(self, node: Endpoint) -> None:
        """Bring a node back as a new instance (over the same, surviving storage)."""
        self.add(node)

    @property
    def in_flight(self) -> int:
        """How many envelopes are on the wire."""
        return len(self._in_flight)

    def _send(self, envelopes: list[Envelope]) -> None:
        for envelope in envelopes:
            self.stats.sent += 1
            if self._reachable(envelope):
                self._reachable_sent += 1
            if self._rng.random() < self.drop:
                self.stats.dropped += 1
                self._log("network.dropped", envelope)
                continue
            copies = 2 if self._rng.random() < self.duplicate else 1
            self.stats.duplicated += copies - 1
            if copies > 1:
                self._log("network.duplicated", envelope)
            for _ in range(copies):
                wait = 0
                if self._rng.random() < self.delay:
                    wait = self._rng.randint(1, 3)
                    self.stats.delayed += 1
                self._in_flight.append((wait, envelope))

    @staticmethod
    def _log(name: str, envelope: Envelope) -> None:
        event(
            _logger,
            logging.DEBUG,
            name,
            sender=envelope.sender,
            recipient=envelope.recipient,
            payload_type=envelope.payload_type,
            first_seq=envelope.first_seq,
            last_seq=envelope.last_seq,
        )

    def _reachable(self, envelope: Envelope) -> bool:
        """Whether the envelope's recipient is a live node of this network."""
        return envelope.recipient in self._nodes and envelope.recipient not in self._down

    def round(self, *, collect: bool = True) -> int:
        """One round: collect what every live node sends, then deliver what is due.

        Returns the number of envelopes delivered.
        """
        if collect:
            for node_id, node in list(self._nodes.items()):
                if node_id not in self._down:
                    self._send(node.outgoing())
        due = [envelope for wait, envelope in self._in_flight if wait == 0]
        self._in_flight = [(wait - 1, envelope) for wait, envelope in self._in_flight if wait > 0]
        if self.reorder and len(due) > 1 and self._rng.random() < self.reorder:
            self._rng.shuffle(due)
        delivered = 0
        for envelope in due:
            target = self._nodes.get(envelope.recipient)
            if target is None or envelope.recipient in self._down:
                self.stats.undeliverable += 1
                continue
            try:
                answers = target.receive(envelope)
            except IntegrityViolation as exc:
                self.stats.refused += 1
                self.refusals.append((envelope.recipient, str(exc)))
                continue
            except JukinetError as exc:
                self.stats.refused += 1
                self.refusals.append((envelope.recipient, str(exc)))
                continue
            delivered += 1
            self.stats.delivered += 1
            self._send(answers)
        return delivered

    def settle(self, *, max_rounds: int = 1000, quiet_rounds: int = 3) -> int:
        """Run faultless rounds until nothing is in flight and nothing is sent for a
        few rounds in a row; returns the rounds run. Faults stay as configured, so
        settling also exercises retries. What is addressed to a crashed (or unknown)
        node does not keep the network busy: it waits in its sender's outbox, sent
        again each round, until the node restarts.
        """
        quiet = 0
        for rounds in range(1, max_rounds + 1):
            before = self._reachable_sent
            self.round()
            if self._reachable_sent == before and not any(
                self._reachable(envelope) for _, envelope in self._in_flight
            ):
                quiet += 1
                if quiet >= quiet_rounds:
                    return rounds
            else:
                quiet = 0
        recent = "; ".join(f"{node}: {reason}" for node, reason in self.refusals[-3:])
        raise JukinetError(
            f"the network did not settle within {max_rounds} rounds"
            + (f" (latest refusals: {recent})" if recent else "")
        )

    @never_raises
    def __repr__(self) -> str:
        """``<FaultyNetwork 6 nodes, 2 in flight, crashed: m:131016; drop=0.1>``: the
        attached nodes, what is on the wire, the crashed nodes and the faults set."""
        crashed = " ".join(sorted(str(node) for node in self._down))
        faults = " ".join(
            f"{name}={value}"
            for name, value in (
                ("drop", self.drop),
                ("duplicate", self.duplicate),
                ("reorder", self.reorder),
                ("delay", self.delay),
            )
            if value
        )
        return (
            f"<FaultyNetwork {len(self._nodes)} nodes, {len(self._in_flight)} in flight"
            + (f", crashed: {crashed}" if crashed else "")
            + (f"; {faults}" if faults else "")
            + ">"
        )
