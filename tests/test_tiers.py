"""The three tiers: notices flow municipality → prefecture → centre (住基法30条の6, 30条の7)."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import attrs
import pytest

from jukinet.domain import codec
from jukinet.domain.changes import ChangeReason
from jukinet.domain.identity import IdentityNotice
from jukinet.domain.names import PersonName
from jukinet.domain.resident import HEAD_OF_HOUSEHOLD, FamilyRegister, HouseholdMembership, Sex
from jukinet.domain.resident_code import ResidentCode
from jukinet.errors import (
    BadSignature,
    IntegrityViolation,
    InvalidComponent,
    InvalidFormat,
    InvalidState,
    Misaddressed,
    NotFound,
    ReplayDetected,
    RequestReplayed,
    UnknownSender,
)
from jukinet.storage import mapping
from jukinet.storage.memory import MemoryStore
from jukinet.testing import conformance
from jukinet.testing.country import Country, build_country
from jukinet.tiers import reconcile, wire
from jukinet.tiers.cs import CommunicationServer, RegisterEntry
from jukinet.tiers.messages import CENTER, Envelope, NodeId, NodeKey, check_fresh

CHIYODA, CHUO, OSAKA_KITA = "131016", "131024", "271276"


def _memory_store(node: NodeId | None = None) -> MemoryStore:
    store = MemoryStore()
    store.create_schema()
    return store


@pytest.fixture
def country() -> Country:
    c = build_country(_memory_store, [CHIYODA, CHUO, OSAKA_KITA], seed=3)
    c.network.settle()
    return c


def _birth(country: Country, town: str, given: str = "太郎", born: date = date(2026, 3, 1)) -> Any:
    municipality = country.municipality(town)
    return municipality.register_birth(
        name=PersonName(
            family="山田", given=given, family_reading="ヤマダ", given_reading="タロウ"
        ),
        birth_date=born,
        sex=Sex.MALE,
        household=HouseholdMembership(household_id=f"H{given}", relationship=HEAD_OF_HOUSEHOLD),
        address="千代田1丁目1番1号",
        family_register=FamilyRegister(domicile="東京都千代田区千代田1番", head="山田 一郎"),
    )


def _upper_history(country: Country, node: NodeId, code: ResidentCode) -> list[bytes]:
    return [row.payload for row in country.stores[node].identities.history(code.value)]


def _notices_sent(country: Country, town: str) -> list[bytes]:
    store = country.municipality(town).store
    raw = store.outbox.read(str(NodeId.municipality(town).prefecture_node), limit=10_000)
    return [wire.parse_notice(e.payload, verify=True).notice_bytes for e in raw]


def test_a_birth_reaches_the_prefecture_and_the_centre(country: Country) -> None:
    record = _birth(country, CHIYODA)
    country.network.settle()
    sent = _notices_sent(country, CHIYODA)
    assert len(sent) == 1
    prefecture = NodeId.prefecture("13")
    assert _upper_history(country, prefecture, record.resident_code) == sent
    assert _upper_history(country, CENTER, record.resident_code) == sent
    row = country.stores[CENTER].identities.current(record.resident_code.value)
    assert row is not None
    assert mapping.notice(row).reason is ChangeReason.BIRTH
    health = country.municipality(CHIYODA).health()
    assert health.backlog == 0


def test_every_change_is_a_new_version_never_an_overwrite(country: Country) -> None:
    record = _birth(country, CHIYODA)
    town = country.municipality(CHIYODA)
    country.clock.advance(days=10)
    town.move_within(
        record.resident_code, address="永田町1丁目7番1号", moved_on=country.clock.today()
    )
    town.change_household(
        record.resident_code,
        household=HouseholdMembership(household_id="H2", relationship=HEAD_OF_HOUSEHOLD),
        reason=ChangeReason.HOUSEHOLD_SEPARATION,
        changed_on=country.clock.today(),
    )
    country.network.settle()
    history = country.stores[CENTER].identities.history(record.resident_code.value)
    # 出生 and 転居 are notified; the household change is not identity information.
    assert [r.reason for r in history] == ["birth", "move_within"]
    assert len(town.history(record.resident_code).versions) == 3


def test_a_code_change_carries_the_old_code_and_ends_its_history(country: Country) -> None:
    # 住基法30条の4; 令30条の5: the notice carries the previous code.
    record = _birth(country, CHIYODA)
    town = country.municipality(CHIYODA)
    changed = town.change_resident_code(record.resident_code, requested_on=country.clock.today())
    country.network.settle()
    identities = country.stores[CENTER].identities
    new = identities.current(changed.resident_code.value)
    old = identities.current(record.resident_code.value)
    assert new is not None
    assert old is not None
    assert new.previous_resident_code == record.resident_code.value
    assert old.removed
    assert not new.removed
    assert town.resident(changed.resident_code) == town.resident(record.resident_code)


def test_a_move_between_prefectures(country: Country) -> None:
    record = _birth(country, CHIYODA)
    country.clock.advance(days=30)
    certificate = country.municipality(CHIYODA).move_out(
        record.resident_code, planned_date=country.clock.today(), destination="大阪市北区梅田1-1"
    )
    moved = country.municipality(OSAKA_KITA).register_move_in(
        certificate,
        address="梅田1丁目1番1号",
        household=HouseholdMembership(household_id="O1", relationship=HEAD_OF_HOUSEHOLD),
        moved_in_on=country.clock.today(),
    )
    assert moved.resident_code == record.resident_code  # the code follows the person (30条の3)
    country.network.settle()
    center = country.stores[CENTER].identities
    current = center.current(record.resident_code.value)
    assert current is not None
    assert current.municipality == OSAKA_KITA
    assert not current.removed
    tokyo = country.stores[NodeId.prefecture("13")].identities.current(record.resident_code.value)
    assert tokyo is not None
    assert tokyo.removed


def test_a_late_removal_does_not_hide_the_new_registration(country: Country) -> None:
    record = _birth(country, CHIYODA)
    certificate = country.municipality(CHIYODA).move_out(
        record.resident_code, planned_date=country.clock.today(), destination="中央区"
    )
    country.municipality(CHUO).register_move_in(
        certificate,
        address="銀座1丁目1番1号",
        household=HouseholdMembership(household_id="C1", relationship=HEAD_OF_HOUSEHOLD),
        moved_in_on=country.clock.today(),
    )
    # Deliver 中央区's 転入 first, then 千代田区's 転出.
    network = country.network
    network.crash(NodeId.municipality(CHIYODA))
    network.settle()
    network.restart(country.municipality(CHIYODA))
    network.settle()
    current = country.stores[NodeId.prefecture("13")].identities.current(record.resident_code.value)
    assert current is not None
    assert current.municipality == CHUO
    assert not current.removed


def _snapshot(country: Country) -> dict[str, Any]:
    return {
        str(node): conformance.snapshot(store, municipalities=[CHIYODA, CHUO, OSAKA_KITA])
        for node, store in country.stores.items()
    }


def test_refused_operations_change_nothing(country: Country) -> None:
    record = _birth(country, CHIYODA)
    town = country.municipality(CHIYODA)
    town.record_death(record.resident_code, died_on=country.clock.today())
    before = _snapshot(country)
    with pytest.raises(InvalidState):
        town.record_death(record.resident_code, died_on=country.clock.today())
    with pytest.raises(InvalidState):
        town.move_within(
            record.resident_code, address="永田町1丁目", moved_on=country.clock.today()
        )
    with pytest.raises(InvalidComponent, match="future"):
        _birth(country, CHIYODA, given="次郎", born=country.clock.today() + timedelta(days=1))
    with pytest.raises(NotFound):
        town.record_death(ResidentCode("12345678903"), died_on=country.clock.today())
    assert _snapshot(country) == before


def _envelope(country: Country) -> Envelope:
    _birth(country, CHIYODA)
    (envelope,) = country.municipality(CHIYODA).outgoing()
    return envelope


def test_forged_altered_misaddressed_and_replayed_envelopes_are_refused(country: Country) -> None:
    prefecture = country.prefecture("13")
    envelope = _envelope(country)
    before = conformance.snapshot(prefecture.store, municipalities=[CHIYODA])

    impostor = NodeKey.generate(NodeId.municipality(CHIYODA), random.Random(99))
    forged = impostor.seal(
        envelope.recipient,
        first_seq=1,
        payload_type=envelope.payload_type,
        payloads=envelope.payloads,
        sent_at=envelope.sent_at,
    )
    with pytest.raises(BadSignature):
        prefecture.receive(forged)
    altered = attrs.evolve(
        envelope, payloads=[envelope.payloads[0].replace(b"\xe5\xa4\xaa", b"\xe6\xac\xa1")]
    )
    with pytest.raises(BadSignature):
        prefecture.receive(altered)
    with pytest.raises(Misaddressed):
        country.prefecture("27").receive(envelope)
    stranger = NodeKey.generate(NodeId.municipality("011011"), random.Random(5))
    with pytest.raises(UnknownSender):
        prefecture.receive(
            stranger.seal(
                envelope.recipient,
                first_seq=1,
                payload_type=envelope.payload_type,
                payloads=envelope.payloads,
                sent_at=envelope.sent_at,
            )
        )
    country.clock.advance(days=2)
    with pytest.raises(ReplayDetected):
        prefecture.receive(envelope)
    after = conformance.snapshot(prefecture.store, municipalities=[CHIYODA])
    # Only the refusals were recorded (in the audit log); nothing else changed.
    assert {k: v for k, v in after.items() if k != "audit"} == {
        k: v for k, v in before.items() if k != "audit"
    }
    assert len(prefecture.health().refusals) == 4
    assert len(country.prefecture("27").health().refusals) == 1
    assert "signature is not m:131016's" in prefecture.health().refusals[0].reason


def test_a_duplicate_is_acknowledged_and_not_applied_twice(country: Country) -> None:
    prefecture = country.prefecture("13")
    envelope = _envelope(country)
    (first,) = prefecture.receive(envelope)
    (second,) = prefecture.receive(envelope)
    assert wire.decode_ack(first.payloads[0]).status == "applied"
    assert wire.decode_ack(second.payloads[0]).status == "duplicate"
    code = wire.parse_notice(envelope.payloads[0], verify=True).resident_code
    # kept once: a birth waits at the prefecture for the centre's word (docs/tiers.md)
    assert len(prefecture.store.pending.find([code])) == 1
    assert len(prefecture.store.outbox.read(str(CENTER))) == 1
    country.network.settle()
    assert len(prefecture.store.identities.history(code)) == 1
    assert prefecture.store.pending.find([code]) == []


def test_a_gap_is_reported_so_the_sender_resends(country: Country) -> None:
    prefecture = country.prefecture("13")
    _birth(country, CHIYODA, given="一")
    _birth(country, CHIYODA, given="二")
    town = country.municipality(CHIYODA)
    (envelope,) = town.outgoing()
    key = country.keys[town.node_id]
    second_only = key.seal(
        envelope.recipient,
        first_seq=2,
        payload_type=wire.MESSAGES,
        payloads=envelope.payloads[1:],
        sent_at=envelope.sent_at,
    )
    (answer,) = prefecture.receive(second_only)
    ack = wire.decode_ack(answer.payloads[0])
    assert (ack.status, ack.position) == ("gap", 0)
    assert prefecture.store.identities.count() == 0


def test_a_prefecture_takes_only_its_own_municipalities(country: Country) -> None:
    _birth(country, CHIYODA)
    (envelope,) = country.municipality(CHIYODA).outgoing()
    osaka_town = country.keys[NodeId.municipality(OSAKA_KITA)]
    misrouted = osaka_town.seal(
        NodeId.prefecture("13"),
        first_seq=1,
        payload_type=wire.MESSAGES,
        payloads=envelope.payloads,
        sent_at=envelope.sent_at,
    )
    with pytest.raises(Misaddressed):
        country.prefecture("13").receive(misrouted)


def test_reconciliation_finds_and_resend_repairs_a_divergence(country: Country) -> None:
    record = _birth(country, CHIYODA)
    country.network.settle()
    town = country.municipality(CHIYODA)
    prefecture_store = country.stores[NodeId.prefecture("13")]
    below = reconcile.snapshot_of_entries(CHIYODA, town.register_entries())
    above = reconcile.snapshot_of_store(prefecture_store, CHIYODA)
    assert not reconcile.compare(below, above)
    # Corrupt the prefecture's copy: a version with another name, as if written wrongly.
    notice = town.latest_notice(record.resident_code)
    assert notice is not None
    wrong = attrs.evolve(notice, info=attrs.evolve(notice.info, name=NAMES_WRONG))
    message = wire.parse_notice(wire.encode_notice(wrong), verify=True)
    with prefecture_store.unit_of_work() as uow:
        version = prefecture_store.identities.last_versions([record.resident_code.value], uow)
        prefecture_store.identities.append(
            uow, [message.row(version[record.resident_code.value] + 1)]
        )
    above = reconcile.snapshot_of_store(prefecture_store, CHIYODA)
    differences = reconcile.compare(below, above)
    assert differences.differing == (record.resident_code.value,)
    assert not differences.missing_above
    town.cs.resend([ResidentCode(c) for c in differences.codes])
    country.network.settle()
    above = reconcile.snapshot_of_store(prefecture_store, CHIYODA)
    assert not reconcile.compare(below, above)


NAMES_WRONG = PersonName(
    family="山田", given="次郎", family_reading="ヤマダ", given_reading="ジロウ"
)


class _VendorRegister:
    """A minimal vendor register: it keeps only the latest notice per person."""

    def __init__(self) -> None:
        self.latest: dict[ResidentCode, IdentityNotice] = {}

    def register_entries(self) -> list[RegisterEntry]:
        return [
            RegisterEntry(n.info, n.reason.kind.value == "removal") for n in self.latest.values()
        ]

    def latest_notice(self, resident_code: ResidentCode) -> IdentityNotice | None:
        return self.latest.get(resident_code)


def test_a_vendor_register_uses_the_communication_server_alone(country: Country) -> None:
    vendor = _VendorRegister()
    node = NodeId.municipality(CHIYODA)
    cs = CommunicationServer(
        CHIYODA, _memory_store(), country.keys[node], country.trust, country.clock, vendor
    )
    record = _birth(country, CHUO)  # any valid person, moved to the vendor's town for the test
    info = IdentityNotice.for_change(
        record, reason=ChangeReason.BIRTH, event_date=record.birth_date
    )
    town = country.stores[node]
    with town.unit_of_work() as uow:  # the vendor takes a code designated to its town
        code = town.code_pool.allocate(uow, CHIYODA)
    assert code is not None
    notice = attrs.evolve(
        info,
        info=attrs.evolve(
            info.info,
            resident_code=ResidentCode(code),
            address=attrs.evolve(info.info.address, municipality=CHIYODA),
        ),
    )
    vendor.latest[notice.resident_code] = notice
    cs.notify(notice)
    with pytest.raises(InvalidComponent, match="resident of"):
        cs.notify(info)  # a resident of 中央区 is not the vendor's to notify
    country.network.add(cs)
    country.network.settle()
    above = reconcile.snapshot_of_store(country.stores[NodeId.prefecture("13")], CHIYODA)
    below = reconcile.snapshot_of_entries(CHIYODA, vendor.register_entries())
    assert not reconcile.compare(below, above)


# --- what is signed and stored is canonical (issue 10) ----------------------------

_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def _resealed(country: Country, envelope: Envelope, payloads: list[bytes]) -> Envelope:
    """The same envelope with other payloads, signed by its sender's own key."""
    return country.keys[envelope.sender].seal(
        envelope.recipient,
        first_seq=envelope.first_seq,
        payload_type=envelope.payload_type,
        payloads=payloads,
        sent_at=envelope.sent_at,
    )


def _full_width_code(notice: bytes, code: str) -> bytes:
    quoted = f'"resident_code":"{code}"'
    return notice.replace(quoted.encode(), quoted.translate(_FULL_WIDTH).encode())


@pytest.mark.parametrize(
    "alter",
    [
        pytest.param(_full_width_code, id="full-width digits in the resident code"),
        pytest.param(
            lambda notice, code: notice.replace("太郎".encode(), "太郎\u3000".encode()),
            id="an ideographic space after the given name",
        ),
        pytest.param(
            lambda notice, code: notice.replace("1号".encode(), "1号\u00a0 ".encode()),
            id="white space after the address",
        ),
        pytest.param(
            lambda notice, code: notice.replace(
                code.encode(), b"\\u003" + code.encode()[:1] + code[1:].encode()
            ),
            id="a JSON escape for a digit",
        ),
        pytest.param(
            lambda notice, code: notice.replace(b'"reason":', b'"reason": '),
            id="a space between JSON tokens",
        ),
    ],
)
def test_a_notice_that_is_valid_only_once_normalised_is_refused_and_nothing_is_stored(
    country: Country, alter: Any
) -> None:
    prefecture = country.prefecture("13")
    envelope = _envelope(country)
    (raw,) = envelope.payloads
    kind, header, notice = raw.split(b"\n")
    code = wire.parse_notice(raw, verify=True).resident_code
    altered = alter(notice, code)
    assert altered != notice
    # The altered notice decodes to the very notice the header describes ...
    assert codec.from_bytes(IdentityNotice, altered) == codec.from_bytes(IdentityNotice, notice)
    before = conformance.snapshot(prefecture.store, municipalities=[CHIYODA])
    forged = _resealed(country, envelope, [b"\n".join((kind, header, altered))])
    # ... but its bytes are not the notice's canonical bytes: the prefecture refuses them.
    with pytest.raises(IntegrityViolation, match="malformed") as caught:
        prefecture.receive(forged)
    assert isinstance(caught.value.__cause__, InvalidFormat)
    assert "not the canonical form of the IdentityNotice" in str(caught.value.__cause__)
    after = conformance.snapshot(prefecture.store, municipalities=[CHIYODA])
    assert {k: v for k, v in after.items() if k != "audit"} == {
        k: v for k, v in before.items() if k != "audit"
    }
    assert prefecture.store.identities.history(code) == []
    (refusal,) = prefecture.health().refusals
    assert refusal.sender == str(envelope.sender)
    assert "canonical" in refusal.reason
    # The genuine envelope is still taken, and only its canonical bytes are stored and forwarded.
    prefecture.receive(envelope)
    country.network.settle()
    for node in (prefecture.node_id, CENTER):
        (row,) = country.stores[node].identities.history(code)
        assert row.payload == notice
        assert codec.from_stored(IdentityNotice, row.payload).resident_code.value == code


def test_a_notice_header_not_in_canonical_form_is_refused(country: Country) -> None:
    (raw,) = _envelope(country).payloads
    kind, header, notice = raw.split(b"\n")
    spaced = json.dumps(json.loads(header), sort_keys=True, ensure_ascii=False).encode()
    with pytest.raises(InvalidFormat, match="header is not in canonical form"):
        wire.parse_notice(b"\n".join((kind, spaced, notice)), verify=True)
    # A tier above trusts the header of a tier below that verified it; only its
    # values are stored, in the row, which checks them.
    assert wire.parse_notice(b"\n".join((kind, spaced, notice)), verify=False).row(1) == (
        wire.parse_notice(raw, verify=False).row(1)
    )
    # A header and notice both in full-width digits agree, and are still refused.
    code = wire.parse_notice(raw, verify=True).resident_code
    both = b"\n".join((kind, _full_width_code(header, code), _full_width_code(notice, code)))
    with pytest.raises(InvalidFormat, match="canonical"):
        wire.parse_notice(both, verify=True)


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("birth_date", "2026-02-30", "not a calendar date"),
        ("event_date", "R8.3.1", "not a date"),
        ("event_date", 20260301, "is a int"),
        ("removed", "false", "is a str"),
        ("resident_code", 447468646, "is a int"),
        ("reading_key", ["ヤマダ"], "is a list"),
        ("sex", None, "is a NoneType"),
    ],
)
def test_a_notice_header_with_a_field_of_the_wrong_type_or_value_is_an_invalid_format(
    country: Country, key: str, value: object, match: str
) -> None:
    (raw,) = _envelope(country).payloads
    kind, header, notice = raw.split(b"\n")
    data = json.loads(header)
    data[key] = value
    bad = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    for verify in (True, False):
        with pytest.raises(InvalidFormat, match=match) as caught:
            wire.parse_notice(b"\n".join((kind, bad, notice)), verify=verify)
        assert caught.value.field == f"header.{key}"
    with pytest.raises(InvalidFormat, match=match):
        wire.NoticeMessage(data, notice)


def _respaced(raw: bytes) -> bytes:
    """``raw`` with a space after its first key: the same content, not canonical."""
    return raw.replace(b'":', b'": ', 1)


def test_every_wire_message_is_taken_in_canonical_form_only(country: Country) -> None:
    code = ResidentCode("12345678903")
    record = _birth(country, CHIYODA)
    (notice_message,) = country.municipality(CHIYODA).outgoing()[0].payloads
    row = wire.parse_notice(notice_message, verify=True).row(1)
    header = wire.RestoreHeader(
        municipality=CHIYODA,
        source="p:13",
        as_of="2026-04-01T00:00:00+00:00",
        part=1,
        parts=1,
        versions=1,
        applied=0,
        confirmed=0,
    )
    correction = wire.CorrectionMessage(
        request_id="c-1",
        resident_code=record.resident_code.value,
        filed_with="p:13",
        details="氏名の振り仮名",
        outcome=None,
    )
    cases: list[tuple[bytes, Any]] = [
        (wire.encode_ack(wire.Ack(3, "applied", "ab" * 32, 1)), wire.decode_ack),
        (wire.encode_code_designation(CHIYODA, [code]), wire.parse_code_designation),
        (wire.encode_restore_header(header), wire.parse_restore_header),
        (wire.encode_identity_version(row), wire.parse_identity_version),
        (wire.encode_correction(correction), wire.parse_correction),
    ]
    for canonical, parse in cases:
        parse(canonical)
        with pytest.raises(InvalidFormat, match="canonical"):
            parse(_respaced(canonical))
    # Values that normalise to the canonical ones are refused as well.
    full_width = code.value.translate(_FULL_WIDTH)
    designation = wire.encode_code_designation(CHIYODA, [code])
    with pytest.raises(InvalidFormat, match="canonical"):
        wire.parse_code_designation(designation.replace(code.value.encode(), full_width.encode()))
    value = record.resident_code.value
    with pytest.raises(InvalidFormat, match="canonical"):
        wire.parse_correction(
            wire.encode_correction(
                attrs.evolve(correction, resident_code=value.translate(_FULL_WIDTH))
            )
        )
    kind, head, notice = wire.encode_identity_version(row).split(b"\n")
    with pytest.raises(InvalidFormat, match="canonical"):
        wire.parse_identity_version(b"\n".join((kind, head, _full_width_code(notice, value))))


# --- one freshness rule (issue 11) -------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "fresh"),
    [
        (timedelta(days=-1), True),
        (timedelta(days=-1, seconds=-1), False),
        (timedelta(minutes=5), True),
        (timedelta(minutes=5, seconds=1), False),
    ],
)
def test_one_freshness_rule_for_envelopes_and_agency_requests(
    offset: timedelta, fresh: bool
) -> None:
    # Nodes (envelopes) and the provision desk (agencies' requests) apply the same
    # rule: no older than a day, no more than five minutes ahead of the clock.
    now = datetime(2026, 4, 1, 9, tzinfo=UTC)
    for error in (ReplayDetected, RequestReplayed):
        if fresh:
            check_fresh(now + offset, now, error=error)
        else:
            with pytest.raises(error, match=r"sent at|future"):
                check_fresh(now + offset, now, error=error)
