"""A small country in one process: the centre, prefectures and municipalities.

:func:`build_country` wires nodes with keys, one shared trust store, a manual
clock and a :class:`~jukinet.testing.network.FaultyNetwork`, over stores made by
a factory you pass (memory, SQLite, PostgreSQL). It is what the stateful tests
and ``python -m jukinet demo`` run on.

>>> from jukinet.storage.memory import MemoryStore
>>> def memory(node):
...     store = MemoryStore()
...     store.create_schema()
...     return store
>>> country = build_country(memory, ["131016", "131024", "271276"], seed=1)
>>> country
<Country 1 centre, 2 prefectures, 3 municipalities at <ManualClock 2026-04-01T00:00:00+00:00>>
>>> country.municipality("131016")
<Municipality m:131016 東京都千代田区 on <MemoryStore database=0x... open>>
>>> sorted(str(p) for p in country.prefectures)
['13', '27']
>>> country.network.settle() > 0
True
>>> country.municipality("131016").store.code_pool.available("131016")
50
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import attrs

from jukinet.card.keys import CardAuthority
from jukinet.card.pin import ScryptCost
from jukinet.card.terminal import CounterTerminal
from jukinet.domain._repr import never_raises
from jukinet.domain.lg_code import LocalGovernmentCode
from jukinet.errors import NotFound
from jukinet.storage.base import Store
from jukinet.testing.network import FaultyNetwork
from jukinet.tiers.card_desk import CardDesk
from jukinet.tiers.clock import ManualClock
from jukinet.tiers.messages import CENTER, NodeId, NodeKey, TrustStore
from jukinet.tiers.municipality import Municipality
from jukinet.tiers.node import Node
from jukinet.tiers.upper import NationalCenter, Prefecture

__all__ = ["Country", "build_country"]

StoreFactory = Callable[[NodeId], Store]


@attrs.define(repr=False)
class Country:
    """The nodes of a small country and what they share."""

    clock: ManualClock
    rng: random.Random
    trust: TrustStore
    keys: dict[NodeId, NodeKey]
    stores: dict[NodeId, Store]
    network: FaultyNetwork
    center: NationalCenter
    prefectures: dict[str, Prefecture]
    municipalities: dict[str, Municipality]
    card_authority: CardAuthority
    desks: dict[str, CardDesk]
    """Each municipality's card desk (issuer key certified by :attr:`card_authority`)."""

    def municipality(self, code: str) -> Municipality:
        """The municipality with this 6-digit code."""
        return self.municipalities[code]

    def desk(self, code: str) -> CardDesk:
        """The card desk of the municipality with this 6-digit code."""
        return self.desks[code]

    def prefecture(self, code: str) -> Prefecture:
        """The prefecture with this 2-digit code."""
        return self.prefectures[code]

    def rotate_key(self, key: NodeKey) -> None:
        """Give ``key.node`` a new key: every node trusts it beside the old one, the
        node signs with it from now on and a restart keeps it. Retire the old key
        with ``country.trust.retire(node, old.public_bytes)`` once the network has
        drained (see docs/embedding.md)."""
        node = key.node
        if node not in self.keys:
            raise NotFound(f"{node} is not a node of this country", field="node")
        self.trust.add(node, key.public_bytes)
        endpoint = self.network.node(node)
        assert isinstance(endpoint, Node | Municipality)
        endpoint.rotate_key(key)
        self.keys[node] = key

    def restart(self, node: NodeId) -> None:
        """Replace a node by a fresh instance over its surviving store (after a crash)."""
        store = self.stores[node]
        if node == CENTER:
            self.center = NationalCenter(
                store, self.keys[node], self.trust, self.clock, random.Random(self.rng.random())
            )
            self.network.restart(self.center)
        elif node.code in self.prefectures:
            self.prefectures[node.code] = Prefecture(
                node.code, store, self.keys[node], self.trust, self.clock
            )
            self.network.restart(self.prefectures[node.code])
        else:
            self.municipalities[node.code] = Municipality(
                node.code,
                store,
                self.keys[node],
                self.trust,
                self.clock,
                random.Random(self.rng.random()),
            )
            self.network.restart(self.municipalities[node.code])
            self.desks[node.code] = self.desks[node.code].reopen(self.municipalities[node.code])

    @never_raises
    def __repr__(self) -> str:
        """``<Country 1 centre, 2 prefectures, 3 municipalities at <ManualClock …>>``."""
        prefectures, towns = len(self.prefectures), len(self.municipalities)
        return (
            f"<Country 1 centre, {prefectures} prefecture{'' if prefectures == 1 else 's'},"
            f" {towns} municipalit{'y' if towns == 1 else 'ies'} at {self.clock!r}>"
        )


def build_country(
    store_factory: StoreFactory,
    municipalities: Sequence[str],
    *,
    seed: int = 0,
    start: datetime | None = None,
    codes_per_municipality: int = 50,
    drop: float = 0.0,
    duplicate: float = 0.0,
    reorder: float = 0.0,
    delay: float = 0.0,
    card_scrypt_cost: ScryptCost | None = None,
) -> Country:
    """Build a country: each municipality, its prefecture, and the centre.

    ``store_factory`` makes an empty store with its schema created, one per node.
    The centre designates ``codes_per_municipality`` codes to each municipality;
    call ``country.network.settle()`` to deliver them. Each municipality has a card
    desk whose cards hash PINs at ``card_scrypt_cost`` (``None``: the chip's default;
    tests pass a cheap one).
    """
    rng = random.Random(seed)
    clock = ManualClock(start or datetime(2026, 4, 1, 0, 0, tzinfo=UTC))
    trust = TrustStore()
    keys: dict[NodeId, NodeKey] = {}
    stores: dict[NodeId, Store] = {}
    codes = [LocalGovernmentCode(c) for c in municipalities]
    nodes = [CENTER, *sorted({NodeId.prefecture(c.prefecture_code) for c in codes})]
    nodes += [NodeId.municipality(c) for c in codes]
    for node in nodes:
        keys[node] = NodeKey.generate(node, rng)
        trust.add(node, keys[node].public_bytes)
        stores[node] = store_factory(node)
    network = FaultyNetwork(
        random.Random(rng.random()), drop=drop, duplicate=duplicate, reorder=reorder, delay=delay
    )
    center = NationalCenter(stores[CENTER], keys[CENTER], trust, clock, random.Random(rng.random()))
    network.add(center)
    prefectures: dict[str, Prefecture] = {}
    for node in nodes:
        if node.kind.value == "p":
            prefectures[node.code] = Prefecture(node.code, stores[node], keys[node], trust, clock)
            network.add(prefectures[node.code])
    towns: dict[str, Municipality] = {}
    authority = CardAuthority.generate("jlis", random.Random(rng.random()))
    desks: dict[str, CardDesk] = {}
    for code in codes:
        node = NodeId.municipality(code)
        towns[code.value] = Municipality(
            code, stores[node], keys[node], trust, clock, random.Random(rng.random())
        )
        network.add(towns[code.value])
        center.designate_codes(code, codes_per_municipality)
        card_rng = random.Random(rng.random())
        issuer = authority.certify_issuer(code.value, card_rng)
        desks[code.value] = CardDesk(
            towns[code.value],
            issuer=issuer,
            terminal=CounterTerminal(
                issuer.certify_terminal(f"{code.value}-counter", card_rng), card_rng
            ),
            rng=card_rng,
            scrypt_cost=card_scrypt_cost,
        )
    return Country(
        clock, rng, trust, keys, stores, network, center, prefectures, towns, authority, desks
    )
