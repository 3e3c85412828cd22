"""Key rotation: a node takes a new signing key while messages are in flight.

The trust store keeps a node's old key beside its new one (the overlap) until it is
retired; a node signs with its new key from the rotation on (envelopes are signed
when they are sent, so resends carry the new signature). See docs/embedding.md.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jukinet.domain.names import PersonName
from jukinet.domain.resident import HEAD_OF_HOUSEHOLD, FamilyRegister, HouseholdMembership, Sex
from jukinet.errors import (
    BadSignature,
    IntegrityViolation,
    InvalidComponent,
    InvalidState,
    KeyFileInvalid,
    Misaddressed,
    NotFound,
    UnknownSender,
)
from jukinet.storage.base import Store, UnitOfWork
from jukinet.storage.memory import MemoryStore
from jukinet.testing.country import Country, StoreFactory, build_country
from jukinet.tiers import reconcile, relay
from jukinet.tiers.messages import (
    CENTER,
    Envelope,
    NodeId,
    NodeKey,
    TrustStore,
    signing_bytes,
)

CHIYODA, CHUO, KITA_OSAKA = "131016", "131024", "271276"
A, B = NodeId.municipality(CHIYODA), NodeId.municipality(CHUO)
AT = datetime(2026, 4, 1, tzinfo=UTC)


def _seal(key: NodeKey, sender_as: NodeId | None = None) -> Envelope:
    envelope = key.seal(
        NodeId.prefecture("13"), first_seq=1, payload_type="x", payloads=[b"p"], sent_at=AT
    )
    if sender_as is None:
        return envelope
    return Envelope(
        sender=sender_as,
        recipient=envelope.recipient,
        first_seq=1,
        payload_type="x",
        payloads=[b"p"],
        sent_at=AT,
        signature=key.sign(signing_bytes(sender_as, envelope.recipient, 1, "x", [b"p"], AT)),
    )


# --- the trust store -----------------------------------------------------------------


def test_during_the_overlap_old_and_new_verify_and_after_retire_only_the_new() -> None:
    rng = random.Random(1)
    old, new = NodeKey.generate(A, rng), NodeKey.generate(A, rng)
    trust = TrustStore({A: old.public_bytes})
    trust.add(A, new.public_bytes)
    trust.add(A, new.public_bytes)  # adding again changes nothing
    assert trust.keys(A) == [old.public_bytes, new.public_bytes]
    trust.verify(_seal(old))
    trust.verify(_seal(new))
    trust.retire(A, old.public_bytes)
    assert trust.keys(A) == [new.public_bytes]
    with pytest.raises(BadSignature):
        trust.verify(_seal(old))
    trust.verify(_seal(new))


def test_refused_retirements_change_nothing() -> None:
    rng = random.Random(2)
    key, stranger = NodeKey.generate(A, rng), NodeKey.generate(A, rng)
    trust = TrustStore({A: key.public_bytes})
    with pytest.raises(InvalidState, match="last one"):
        trust.retire(A, key.public_bytes)
    with pytest.raises(InvalidComponent, match="not one trusted"):
        trust.retire(A, stranger.public_bytes)
    with pytest.raises(UnknownSender):
        trust.retire(B, key.public_bytes)
    assert trust.keys(A) == [key.public_bytes]
    assert trust.keys(B) == []
    assert B not in trust
    trust.verify(_seal(key))


def test_a_key_of_one_node_never_verifies_as_another() -> None:
    rng = random.Random(3)
    a_key, b_key = NodeKey.generate(A, rng), NodeKey.generate(B, rng)
    trust = TrustStore({A: a_key.public_bytes, B: b_key.public_bytes})
    forged = _seal(a_key, sender_as=B)  # signed by A's key, claiming to be B
    with pytest.raises(BadSignature):
        trust.verify(forged)
    # and A's key cannot be made one of B's keys, even during a rotation of B
    with pytest.raises(InvalidComponent, match="trusted for m:131016"):
        trust.add(B, a_key.public_bytes)
    assert trust.keys(B) == [b_key.public_bytes]
    with pytest.raises(BadSignature):
        trust.verify(forged)


@given(
    st.lists(
        st.tuples(st.sampled_from(["add", "retire"]), st.integers(0, 1), st.integers(0, 3)),
        max_size=20,
    )
)
def test_a_signature_verifies_exactly_while_its_key_is_trusted_for_its_node(
    steps: list[tuple[str, int, int]],
) -> None:
    nodes = [A, B]
    rng = random.Random(4)
    keys = [[NodeKey.generate(node, rng) for _ in range(4)] for node in nodes]
    trust = TrustStore({A: keys[0][0].public_bytes, B: keys[1][0].public_bytes})
    trusted = [{0}, {0}]
    for action, n, k in steps:
        public = keys[n][k].public_bytes
        if action == "add":
            trust.add(nodes[n], public)
            trusted[n].add(k)
        else:
            try:
                trust.retire(nodes[n], public)
            except (InvalidComponent, InvalidState):
                assert k not in trusted[n] or trusted[n] == {k}
            else:
                trusted[n].discard(k)
        for m, node in enumerate(nodes):
            assert sorted(trust.keys(node)) == sorted(keys[m][i].public_bytes for i in trusted[m])
            for i, key in enumerate(keys[m]):
                data = b"message"
                if i in trusted[m]:
                    trust.verify_bytes(node, data, key.sign(data))
                else:
                    with pytest.raises(BadSignature):
                        trust.verify_bytes(node, data, key.sign(data))


def test_a_trust_store_lists_nodes_of_every_kind_in_order() -> None:
    rng = random.Random(11)
    nodes = [B, CENTER, NodeId.prefecture("13"), A, NodeId.agency("pension")]
    trust = TrustStore({node: NodeKey.generate(node, rng).public_bytes for node in nodes})
    assert [str(n) for n in trust.nodes()] == [
        "a:pension",
        "c:jlis",
        "m:131016",
        "m:131024",
        "p:13",
    ]


# --- key files -----------------------------------------------------------------------


def test_save_load_rotate_through_key_files(tmp_path: Path) -> None:
    rng = random.Random(5)
    old = NodeKey.generate(A, rng)
    path = tmp_path / "m-131016.pem"
    old.save(path, b"first passphrase")
    assert NodeKey.load(A, path, b"first passphrase").public_bytes == old.public_bytes
    with pytest.raises(KeyFileInvalid):
        NodeKey.load(A, path, b"second passphrase")
    # rotate: the new key is written beside the old file, then moved over it
    new = NodeKey.generate(A, rng)
    staging = tmp_path / "m-131016.pem.new"
    new.save(staging, b"second passphrase")
    staging.replace(path)
    assert NodeKey.load(A, path, b"second passphrase").public_bytes == new.public_bytes
    with pytest.raises(KeyFileInvalid):
        NodeKey.load(A, path, b"first passphrase")


# --- the node ------------------------------------------------------------------------


def test_a_node_refuses_another_nodes_key_and_keeps_its_own() -> None:
    country = build_country(_memory, [CHIYODA, CHUO], seed=6)
    chiyoda = country.municipality(CHIYODA)
    before = chiyoda.cs.public_key
    with pytest.raises(Misaddressed):
        chiyoda.rotate_key(NodeKey.generate(B, random.Random(6)))
    with pytest.raises(TypeError):
        chiyoda.rotate_key(b"not a key")  # type: ignore[arg-type]
    assert chiyoda.cs.public_key == before == country.keys[A].public_bytes
    with pytest.raises(NotFound):
        country.rotate_key(NodeKey.generate(NodeId.municipality(KITA_OSAKA), random.Random(6)))


def _memory(node: NodeId) -> Store:
    store = MemoryStore()
    store.create_schema()
    return store


# --- a live country ------------------------------------------------------------------


@pytest.fixture
def country(store_factory: StoreFactory) -> Country:
    country = build_country(store_factory, [CHIYODA, CHUO, KITA_OSAKA], seed=7)
    country.network.settle()
    return country


_births = iter(range(1_000_000))


def _birth(country: Country, town: str) -> str:
    n = next(_births)
    record = country.municipality(town).register_birth(
        name=PersonName(
            family="山田",
            given="".join("一二三四五六七八九十"[int(d)] for d in str(n)) + "郎",
            family_reading="ヤマダ",
            given_reading="タロウ",
        ),
        birth_date=date(2026, 3, 1),
        sex=Sex.MALE,
        household=HouseholdMembership(household_id=f"H{n}", relationship=HEAD_OF_HOUSEHOLD),
        address="千代田1丁目1番1号",
        family_register=FamilyRegister(domicile="東京都千代田区千代田1番", head="山田 一郎"),
    )
    return record.resident_code.value


def _inbox(country: Country, town: str) -> list[Envelope]:
    got: list[Envelope] = []

    def take(uow: UnitOfWork, inner: Envelope) -> None:
        got.append(inner)

    country.municipality(town).cs.counter = take
    return got


def _relay(country: Country, frm: str, to: str, message: bytes) -> Envelope:
    town = country.municipality(frm)
    with town.store.unit_of_work() as uow:
        return town.cs.relay_to(uow, NodeId.municipality(to), message)


def _converged(country: Country) -> None:
    for code, town in country.municipalities.items():
        below = reconcile.snapshot_of_entries(code, town.register_entries())
        prefecture = town.node_id.prefecture_node
        assert prefecture is not None
        for node in (prefecture, CENTER):
            above = reconcile.snapshot_of_store(country.stores[node], code)
            assert not reconcile.compare(below, above), (code, node)
    for endpoint in [country.center, *country.prefectures.values()]:
        assert endpoint.health().backlog == 0
    for town in country.municipalities.values():
        assert town.health().backlog == 0


def test_a_rotation_with_messages_in_flight_converges(country: Country) -> None:
    inbox = _inbox(country, KITA_OSAKA)
    tokyo = country.prefecture("13")
    chiyoda = country.municipality(CHIYODA)
    rng = random.Random(8)
    old_town, old_pref = country.keys[A], country.keys[tokyo.node_id]

    # Signed with the old keys and not yet delivered: notices, a relayed counter
    # message (sealed when queued) and the prefecture's forwarding.
    first = [_birth(country, CHIYODA) for _ in range(3)]
    sent = _relay(country, CHIYODA, KITA_OSAKA, b"copy request")
    in_flight = chiyoda.outgoing()
    assert in_flight
    assert all(e.sender == A for e in in_flight)

    country.rotate_key(NodeKey.generate(A, rng))
    country.rotate_key(NodeKey.generate(tokyo.node_id, rng))
    assert country.trust.keys(A) == [old_town.public_bytes, country.keys[A].public_bytes]
    assert chiyoda.cs.public_key == country.keys[A].public_bytes

    # What the old key signed is still taken (the overlap) ...
    answers = [answer for envelope in in_flight for answer in tokyo.receive(envelope)]
    # ... and the prefecture's answers, signed with its new key, are taken too.
    for answer in answers:
        chiyoda.receive(answer)
    second = [_birth(country, CHIYODA) for _ in range(2)]
    resent = chiyoda.outgoing()
    assert resent  # the new births, signed with the new key
    country.trust.verify(resent[0])
    with pytest.raises(BadSignature):
        TrustStore({A: old_town.public_bytes}).verify(resent[0])

    country.network.settle()
    _converged(country)
    assert inbox == [sent]  # the relay sealed with the old key arrived
    for code in first + second:
        assert country.stores[CENTER].identities.current(code) is not None

    # The cut-over: the network has drained, the old keys are retired.
    country.trust.retire(A, old_town.public_bytes)
    country.trust.retire(tokyo.node_id, old_pref.public_bytes)
    position = tokyo.store.tracking.position(str(A))
    count = country.stores[tokyo.node_id].identities.count(municipality=CHIYODA)
    with pytest.raises(BadSignature):
        tokyo.receive(in_flight[0])  # a replay of an old envelope
    assert tokyo.store.tracking.position(str(A)) == position
    assert country.stores[tokyo.node_id].identities.count(municipality=CHIYODA) == count
    refusals = tokyo.health().refusals
    assert refusals
    assert refusals[-1].sender == str(A)

    # Life goes on with the new keys, across a restart of the rotated node.
    country.restart(A)
    third = _birth(country, CHIYODA)
    _birth(country, CHUO)
    _relay(country, CHIYODA, KITA_OSAKA, b"another request")
    country.network.settle()
    _converged(country)
    assert country.stores[CENTER].identities.current(third) is not None
    assert len(inbox) == 2


def test_retiring_before_the_network_drained_loses_what_the_old_key_sealed(
    country: Country,
) -> None:
    """Why the cut-over waits: a relay sealed with the old key and still in an outbox
    is refused by its destination once the old key is retired (audited, nothing
    applied), and the link goes on."""
    inbox = _inbox(country, KITA_OSAKA)
    old = country.keys[A]
    _relay(country, CHIYODA, KITA_OSAKA, b"sealed before the rotation")
    country.rotate_key(NodeKey.generate(A, random.Random(9)))
    country.trust.retire(A, old.public_bytes)  # too early
    code = _birth(country, CHIYODA)
    country.network.settle()
    assert inbox == []
    refused = [
        json.loads(r.entry.detail)
        for r in country.stores[NodeId.municipality(KITA_OSAKA)].audit.read(
            action=relay.RELAY_REFUSED
        )
    ]
    assert refused
    assert "signature" in refused[-1]["why"]
    assert country.stores[CENTER].identities.current(code) is not None  # the link went on
    _converged(country)


def test_an_envelope_refused_for_its_signature_changes_nothing() -> None:
    country = build_country(_memory, [CHIYODA], seed=10)
    country.network.settle()
    _birth(country, CHIYODA)
    chiyoda, tokyo = country.municipality(CHIYODA), country.prefecture("13")
    stranger = NodeKey.generate(A, random.Random(1010))  # never trusted
    chiyoda.rotate_key(stranger)  # the node rotated but nobody was told
    (envelope,) = chiyoda.outgoing()
    with pytest.raises(IntegrityViolation):
        tokyo.receive(envelope)
    assert tokyo.store.tracking.position(str(A)) == 0
    assert tokyo.health().backlog == 0
    country.rotate_key(stranger)  # now they are
    country.network.settle()
    _converged(country)
