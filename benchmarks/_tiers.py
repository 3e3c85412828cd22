"""A small network for the tier benchmarks: ten municipalities, their prefecture, the centre.

:func:`build_network` wires the nodes the way :func:`jukinet.testing.country.build_country`
does (one Ed25519 key per node from a seeded :class:`random.Random`, one shared trust
store, a :class:`~jukinet.tiers.clock.ManualClock` that never moves) over stores the
caller made, one per node. :func:`fill_outboxes` then gives each municipality its
residents through the public API only, and is never timed:

1. the national centre designates resident codes to each municipality
   (``designate_codes``, 住基法30条の2) and the designations are delivered to the
   municipalities as signed envelopes;
2. each municipality marks those codes used in its pool (what ``reserve_codes``
   does, but by key) and joins the network with synthetic residents
   (:func:`jukinet.testing.population.residents`) through ``initial_load``,
   which queues one identity notice per resident for the prefecture
   (30条の6).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

import attrs

from jukinet.domain.lg_code import LocalGovernmentCode
from jukinet.domain.resident_code import ResidentCode
from jukinet.storage.base import Store
from jukinet.testing.population import residents
from jukinet.tiers.clock import JST, ManualClock
from jukinet.tiers.messages import CENTER, Envelope, NodeId, NodeKey, TrustStore
from jukinet.tiers.municipality import Municipality
from jukinet.tiers.upper import NationalCenter, Prefecture

__all__ = [
    "DESIGNATION_CHUNK",
    "MUNICIPALITIES",
    "PREFECTURE",
    "START",
    "Endpoint",
    "Network",
    "build_network",
    "deliver",
    "fill_outboxes",
    "node_ids",
    "split",
]

PREFECTURE = "13"
"""東京都: every municipality of the benchmark is one of its special wards."""

MUNICIPALITIES = (
    "131016",  # 千代田区
    "131024",  # 中央区
    "131032",  # 港区
    "131041",  # 新宿区
    "131059",  # 文京区
    "131067",  # 台東区
    "131075",  # 墨田区
    "131083",  # 江東区
    "131091",  # 品川区
    "131105",  # 目黒区
)
"""The ten municipalities (全国地方公共団体コード with check digit) that send notices."""

START = datetime(2026, 4, 1, 9, 0, tzinfo=JST)
"""The (manual, never advanced) clock's time: every envelope is sent and received then."""

DESIGNATION_CHUNK = 4000
"""Codes per designation message: 4,000 codes are about 56 kB, under the 64 kB payload cap."""


class Endpoint(Protocol):
    """What the network sees of a node (a :class:`~jukinet.tiers.node.Node` or a
    :class:`~jukinet.tiers.municipality.Municipality`)."""

    def outgoing(self) -> list[Envelope]:
        """Envelopes of everything not yet acknowledged."""
        ...

    def receive(self, envelope: Envelope) -> list[Envelope]:
        """Take an envelope; the answers to send back."""
        ...


@attrs.define
class Network:
    """The nodes of the benchmark and what they share."""

    clock: ManualClock
    trust: TrustStore
    keys: dict[NodeId, NodeKey]
    center: NationalCenter
    prefecture: Prefecture
    towns: list[Municipality]


def node_ids() -> list[NodeId]:
    """The centre, the prefecture, then the municipalities in :data:`MUNICIPALITIES` order."""
    return [
        CENTER,
        NodeId.prefecture(PREFECTURE),
        *(NodeId.municipality(code) for code in MUNICIPALITIES),
    ]


def split(total: int, parts: int) -> list[int]:
    """``total`` shared out as evenly as possible (the first ones get the remainder)."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def build_network(stores: Mapping[NodeId, Store], *, seed: int) -> Network:
    """The nodes over ``stores`` (one per id of :func:`node_ids`, schema created)."""
    rng = random.Random(seed)
    clock = ManualClock(START)
    trust = TrustStore()
    keys: dict[NodeId, NodeKey] = {}
    for node in node_ids():
        keys[node] = NodeKey.generate(node, rng)
        trust.add(node, keys[node].public_bytes)
    prefecture_id = NodeId.prefecture(PREFECTURE)
    center = NationalCenter(stores[CENTER], keys[CENTER], trust, clock, random.Random(rng.random()))
    prefecture = Prefecture(PREFECTURE, stores[prefecture_id], keys[prefecture_id], trust, clock)
    towns = []
    for code in MUNICIPALITIES:
        node = NodeId.municipality(code)
        towns.append(
            Municipality(code, stores[node], keys[node], trust, clock, random.Random(rng.random()))
        )
    return Network(
        clock=clock, trust=trust, keys=keys, center=center, prefecture=prefecture, towns=towns
    )


def deliver(sender: Endpoint, receivers: Mapping[NodeId, Endpoint]) -> int:
    """Deliver everything ``sender`` has to send, acknowledgements back, until none is left.

    Returns the number of envelopes delivered.
    """
    delivered = 0
    while True:
        envelopes = sender.outgoing()
        if not envelopes:
            return delivered
        for envelope in envelopes:
            for answer in receivers[envelope.recipient].receive(envelope):
                sender.receive(answer)
            delivered += 1


def fill_outboxes(network: Network, counts: Sequence[int], *, seed: int) -> None:
    """Give municipality *i* ``counts[i]`` residents and queue their identity notices.

    Codes come from the centre's designation (delivered over the network) and are
    marked used in the municipality's pool; residents from
    :func:`jukinet.testing.population.residents`.
    """
    today = network.clock.today()
    designated: list[list[ResidentCode]] = []
    for town, count in zip(network.towns, counts, strict=True):
        codes: list[ResidentCode] = []
        for start in range(0, count, DESIGNATION_CHUNK):
            codes += network.center.designate_codes(
                town.code, min(DESIGNATION_CHUNK, count - start)
            )
        designated.append(codes)
    deliver(network.center, {town.node_id: town for town in network.towns})
    for index, (town, codes) in enumerate(zip(network.towns, designated, strict=True)):
        if not codes:
            continue
        # What Municipality.reserve_codes does, by key: reserve_codes searches the pool
        # for its lowest unused code once per code (about 1 ms a code on PostgreSQL
        # with 10,000 in the pool), which would make the setup minutes long.
        with town.store.unit_of_work() as uow:
            for code in codes:
                town.store.code_pool.mark_used(uow, code.value)
        people = residents(
            random.Random(seed * 100 + index), LocalGovernmentCode(town.code), codes, today=today
        )
        town.initial_load(people, as_of=today)
