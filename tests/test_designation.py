"""Designating resident codes to a municipality (住基法30条の2), at full size, on each
adapter: the centre splits a large designation into as many messages as it needs."""

from __future__ import annotations

import pytest

from jukinet.errors import InvalidComponent
from jukinet.storage.records import MAX_PAYLOAD_BYTES
from jukinet.testing.country import StoreFactory, build_country
from jukinet.tiers import wire
from jukinet.tiers.messages import CENTER, NodeId

CHIYODA = "131016"
MOST = 100_000
"""The most codes one designation may hold (what designate_codes promises)."""


@pytest.mark.slow
def test_the_largest_designation_reaches_the_municipality(store_factory: StoreFactory) -> None:
    country = build_country(store_factory, [CHIYODA], seed=11, codes_per_municipality=1)
    country.network.settle()
    town = country.municipality(CHIYODA)
    pool = town.store.code_pool
    assert pool.available(CHIYODA) == 1
    center = country.stores[CENTER]
    destination = str(NodeId.municipality(CHIYODA))
    before = center.outbox.last_seq(destination)
    chosen = country.center.designate_codes(CHIYODA, MOST)
    assert len(chosen) == len(set(chosen)) == MOST
    # queued in one unit of work as several messages, each within the payload limit
    sent = center.outbox.read(destination, after=before, limit=1000)
    assert len(sent) == -(-MOST // 4677) == 22
    assert all(len(entry.payload) <= MAX_PAYLOAD_BYTES for entry in sent)
    designated = [c for e in sent for c in wire.parse_code_designation(e.payload).codes]
    assert designated == chosen
    assert center.code_pool.designated_count() == MOST + 1
    country.network.settle()
    assert pool.available(CHIYODA) == MOST + 1
    assert all(pool.is_designated(code.value) for code in chosen[:: MOST // 100])
    assert center.outbox.acknowledged(destination) == center.outbox.last_seq(destination)


@pytest.mark.parametrize("count", [0, MOST + 1, True, 2.0])
def test_a_designation_of_a_count_out_of_range_is_refused(count: object) -> None:
    from jukinet.storage.memory import MemoryStore

    def memory(node: NodeId) -> MemoryStore:
        store = MemoryStore()
        store.create_schema()
        return store

    country = build_country(memory, [CHIYODA], seed=12, codes_per_municipality=1)
    with pytest.raises(InvalidComponent, match="1 to 100,000"):
        country.center.designate_codes(CHIYODA, count)  # type: ignore[arg-type]
    assert country.stores[CENTER].code_pool.designated_count() == 1
