"""Municipality-to-municipality messages relayed by the upper tiers
(:mod:`jukinet.tiers.relay`; 住基法12条の4第2項〜第5項, 24条の2第3項, 9条1項: "by
computer over network lines"), on every adapter."""

from __future__ import annotations

import json
import random

import pytest

from jukinet.storage.base import UnitOfWork
from jukinet.testing.country import Country, StoreFactory, build_country
from jukinet.tiers import relay
from jukinet.tiers.messages import CENTER, Envelope, NodeId, NodeKey

CHIYODA, CHUO, KITA_OSAKA = "131016", "131024", "271276"


@pytest.fixture
def country(store_factory: StoreFactory) -> Country:
    country = build_country(store_factory, [CHIYODA, CHUO, KITA_OSAKA], seed=5)
    country.network.settle()
    return country


def _inbox(country: Country, town: str) -> list[Envelope]:
    got: list[Envelope] = []

    def take(uow: UnitOfWork, inner: Envelope) -> None:
        got.append(inner)

    country.municipality(town).cs.counter = take
    return got


def _refusals(country: Country, node: NodeId) -> list[dict[str, str]]:
    audit = country.stores[node].audit
    return [json.loads(r.entry.detail) for r in audit.read(action=relay.RELAY_REFUSED)]


def _send(country: Country, frm: str, to: str, message: bytes) -> Envelope:
    town = country.municipality(frm)
    with town.store.unit_of_work() as uow:
        return town.cs.relay_to(uow, NodeId.municipality(to), message)


@pytest.mark.parametrize("to", [CHUO, KITA_OSAKA])
def test_a_message_reaches_another_municipality_sealed_by_its_origin(
    country: Country, to: str
) -> None:
    inbox = _inbox(country, to)
    before = country.stores[CENTER].tracking.position("p:13")
    sent = _send(country, CHIYODA, to, b"copy request")
    country.network.settle()
    assert inbox == [sent]
    assert inbox[0].sender == NodeId.municipality(CHIYODA)
    assert inbox[0].payloads == (b"copy request",)
    # within one prefecture the centre never sees it; between prefectures it relays it
    moved = country.stores[CENTER].tracking.position("p:13") - before
    assert moved == (1 if to == KITA_OSAKA else 0)


def test_a_prefecture_relays_only_what_its_municipality_sealed(country: Country) -> None:
    inbox = _inbox(country, KITA_OSAKA)
    sealed_by_chiyoda = country.keys[NodeId.municipality(CHIYODA)].seal(
        NodeId.municipality(KITA_OSAKA),
        first_seq=1,
        payload_type=relay.COUNTER,
        payloads=[b"move-out data"],
        sent_at=country.clock.now(),
    )
    chuo = country.municipality(CHUO)
    with chuo.store.unit_of_work() as uow:  # 中央区 passes on what 千代田区 sealed
        chuo.cs.queue(uow, chuo.cs.prefecture, [relay.encode_relay(sealed_by_chiyoda)])
    country.network.settle()
    assert inbox == []
    refused = _refusals(country, NodeId.prefecture("13"))
    assert "131024 relays a message sealed by m:131016" in refused[-1]["why"]


def test_a_forged_seal_is_refused_by_the_destination_and_the_link_goes_on(
    country: Country,
) -> None:
    inbox = _inbox(country, KITA_OSAKA)
    impostor = NodeKey.generate(NodeId.municipality(CHIYODA), random.Random(99))
    forged = impostor.seal(
        NodeId.municipality(KITA_OSAKA),
        first_seq=1,
        payload_type=relay.COUNTER,
        payloads=[b"forged"],
        sent_at=country.clock.now(),
    )
    chiyoda = country.municipality(CHIYODA)
    with chiyoda.store.unit_of_work() as uow:
        chiyoda.cs.queue(uow, chiyoda.cs.prefecture, [relay.encode_relay(forged)])
    genuine = _send(country, CHIYODA, KITA_OSAKA, b"genuine")
    country.network.settle()
    assert inbox == [genuine]
    assert _refusals(country, NodeId.municipality(KITA_OSAKA))[-1]["why"]


def test_a_relay_is_refused_without_counter_services(country: Country) -> None:
    country.municipality(KITA_OSAKA).cs.counter = None
    _send(country, CHIYODA, KITA_OSAKA, b"anyone there?")
    country.network.settle()
    assert "no counter services" in _refusals(country, NodeId.municipality(KITA_OSAKA))[-1]["why"]


def test_malformed_relays_are_refused(country: Country) -> None:
    with pytest.raises(Exception, match="relay"):
        relay.parse_relay(b"relay\n{}")
    town = country.municipality(CHIYODA)
    with town.store.unit_of_work() as uow, pytest.raises(Exception, match="another municipality"):
        town.cs.relay_to(uow, NodeId.municipality(CHIYODA), b"to myself")


def test_a_relay_waits_for_a_crashed_destination(country: Country) -> None:
    # what is addressed to a crashed node waits in its sender's outbox: the network
    # settles without it and delivers it once the node is back
    town = NodeId.municipality(KITA_OSAKA)
    country.network.crash(town)
    inbox = _inbox(country, KITA_OSAKA)
    sent = _send(country, CHIYODA, KITA_OSAKA, b"while you were down")
    country.network.settle()
    assert inbox == []
    country.network.restart(country.municipality(KITA_OSAKA))
    country.network.settle()
    assert inbox == [sent]
