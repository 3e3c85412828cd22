"""Provision to agencies, the provision log, residents' rights and the JPKI feed.

住基法30条の9〜30条の16 (provision under the appended tables, logged), 30条の32
(disclosure), 30条の35 (correction), JPKI法12条・31条 (revocation). Runs on every
storage adapter.
"""

from __future__ import annotations

import json
import random
from datetime import date, timedelta

import attrs
import pytest

from jukinet.domain import individual_number
from jukinet.domain.agency import Item
from jukinet.domain.changes import ChangeReason
from jukinet.domain.individual_number import IndividualNumber
from jukinet.domain.jpki import Cause, Certificate
from jukinet.domain.names import PersonName
from jukinet.domain.resident import (
    HEAD_OF_HOUSEHOLD,
    FamilyRegister,
    HouseholdMembership,
    ResidentRecord,
    Sex,
)
from jukinet.domain.resident_code import ResidentCode
from jukinet.errors import (
    IntegrityError,
    InvalidComponent,
    InvalidFormat,
    InvalidLength,
    ItemsNotPermitted,
    NotFound,
    NotPermitted,
    RequestNotAuthentic,
    RequestReplayed,
    ResidentCodeReplaced,
    UnknownAgency,
    UseNotPermitted,
)
from jukinet.testing.country import Country, StoreFactory, build_country
from jukinet.tiers.messages import CENTER, Envelope, NodeId, NodeKey
from jukinet.tiers.provision import (
    MAX_REQUEST_BYTES,
    ByBasicItems,
    ByCode,
    Outcome,
    ProvisionRequest,
    seal_request,
)

CHIYODA, CHUO, OSAKA_KITA = "131016", "131024", "271276"
PENSION = "1-77"  # 別表第一 77: 厚生労働省及び日本年金機構, 国民年金法
PENSION_BODY = "厚生労働省及び日本年金機構"
PASSPORT = "1-41"  # 別表第一 41: 外務省, 旅券法
CIVIL_PROTECTION = "2-1"  # 別表第二 1: 市町村長
EDUCATION = "6-2"  # 別表第六 2: 教育委員会


def _record(
    country: Country,
    town: str,
    given: str,
    *,
    born: date,
    number: IndividualNumber | None = None,
) -> ResidentRecord:
    return country.municipality(town).register_birth(
        individual_number=number,
        name=PersonName(
            family="山田", given=given, family_reading="ヤマダ", given_reading="タロウ"
        ),
        birth_date=born,
        sex=Sex.MALE,
        household=HouseholdMembership(household_id=f"H{given}", relationship=HEAD_OF_HOUSEHOLD),
        address="本町1丁目1番1号",
        family_register=FamilyRegister(domicile="東京都千代田区千代田1番", head="山田 一郎"),
    )


@attrs.define
class World:
    country: Country
    taro: ResidentRecord
    jiro: ResidentRecord
    twins: tuple[ResidentRecord, ResidentRecord]
    osaka: ResidentRecord
    keys: dict[str, NodeKey]
    serial: int = 0

    def request(
        self,
        agency: str,
        use: str,
        *queries: ByCode | ByBasicItems,
        provider: NodeId = CENTER,
        key: NodeKey | None = None,
        items: frozenset[Item] | None = None,
    ) -> Envelope:
        self.serial += 1
        request = ProvisionRequest(
            request_id=f"req-{self.serial}", agency=agency, use=use, queries=queries, items=items
        )
        signer = key or self.keys[agency]
        if key is not None:
            return key.seal(
                provider,
                first_seq=1,
                payload_type="provision_request",
                payloads=[request.to_bytes()],
                sent_at=self.country.clock.now(),
            )
        return seal_request(signer, provider, request, sent_at=self.country.clock.now())


@pytest.fixture
def world(store_factory: StoreFactory) -> World:
    country = build_country(store_factory, [CHIYODA, CHUO, OSAKA_KITA], seed=9)
    country.network.settle()
    taro = _record(
        country,
        CHIYODA,
        "太郎",
        born=date(2026, 1, 5),
        number=IndividualNumber("12345678901" + individual_number.calc_check_digit("12345678901")),
    )
    jiro = _record(country, CHUO, "次郎", born=date(2026, 2, 6))
    twins = (
        _record(country, CHIYODA, "双", born=date(2026, 3, 7)),
        _record(country, CHUO, "双", born=date(2026, 3, 7)),
    )
    osaka = _record(country, OSAKA_KITA, "浪速", born=date(2026, 1, 5))
    country.network.settle()
    rng = random.Random(4)
    keys = {
        name: NodeKey.generate(NodeId.agency(name), rng)
        for name in ("nenkin", "gaimu", "chuo-city", "tokyo-kyoiku", "stranger")
    }
    center = country.center.provision
    center.register_agency("nenkin", keys["nenkin"].public_bytes, recipients=[PENSION_BODY])
    center.register_agency(
        "gaimu", keys["gaimu"].public_bytes, recipients=["外務省"], number_uses=[PASSPORT]
    )
    center.register_agency(
        "chuo-city", keys["chuo-city"].public_bytes, recipients=["市町村長"], locality=CHUO
    )
    country.prefecture("13").provision.register_agency(
        "tokyo-kyoiku",
        keys["tokyo-kyoiku"].public_bytes,
        recipients=["教育委員会"],
        locality="130001",
    )
    return World(country, taro, jiro, twins, osaka, keys)


def _log(world: World, node: NodeId = CENTER) -> list[tuple[str, str | None, str | None]]:
    records = world.country.stores[node].provision_log.read(limit=10_000)
    return [(r.entry.kind, r.entry.agency, r.entry.subject) for r in records]


def test_a_lawful_query_by_code_gets_only_the_permitted_items(world: World) -> None:
    """住基法30条の9: 別表第一 recipients get identity information without the resident code."""
    answer = world.country.center.provide(
        world.request("nenkin", PENSION, ByCode(resident_code=world.taro.resident_code))
    )
    (result,) = answer.results
    assert result.outcome is Outcome.FOUND
    identity = result.identity
    assert identity is not None
    assert identity.name == world.taro.name
    assert identity.birth_date == world.taro.birth_date
    assert identity.address == world.taro.address
    assert identity.resident_code is None  # 30条の9: 住民票コードを除く
    assert identity.individual_number is None  # not a 番号法 use of this agency
    assert Item.RESIDENT_CODE not in identity.items
    assert answer.use == PENSION
    assert _log(world)[-1] == ("provided", "nenkin", world.taro.resident_code.value)


def test_the_individual_number_goes_only_where_the_recipient_may_use_it(world: World) -> None:
    answer = world.country.center.provide(
        world.request("gaimu", PASSPORT, ByCode(resident_code=world.taro.resident_code))
    )
    identity = answer.results[0].identity
    assert identity is not None
    assert Item.INDIVIDUAL_NUMBER in identity.items
    assert world.taro.individual_number is not None
    assert identity.individual_number == world.taro.individual_number


def test_search_by_the_four_basic_items(world: World) -> None:
    center = world.country.center
    taro = ByBasicItems(name=world.taro.name, birth_date=world.taro.birth_date, sex=Sex.MALE)
    nobody = ByBasicItems(name=world.taro.name, birth_date=date(1999, 1, 1))
    twins = ByBasicItems(name=world.twins[0].name, birth_date=world.twins[0].birth_date)
    answer = center.provide(world.request("nenkin", PENSION, taro, nobody, twins))
    found, missing, several = answer.results
    assert found.outcome is Outcome.FOUND
    assert found.identity is not None
    assert found.identity.name == world.taro.name
    assert missing.outcome is Outcome.NOT_FOUND
    assert several.outcome is Outcome.SEVERAL
    assert several.candidates == 2
    assert several.identity is None  # nothing leaves for an ambiguous search
    provided = [s for kind, _a, s in _log(world) if kind == "provided"]
    assert provided == [world.taro.resident_code.value]


def test_a_batch_answers_in_order(world: World) -> None:
    """令30条の8: provision may be made in batches."""
    codes = [world.jiro.resident_code, world.taro.resident_code, world.osaka.resident_code]
    answer = world.country.center.provide(
        world.request("nenkin", PENSION, *(ByCode(resident_code=c) for c in codes))
    )
    names = [r.identity.name if r.identity else None for r in answer.results]
    assert names == [world.jiro.name, world.taro.name, world.osaka.name]
    assert len([k for k, _a, _s in _log(world) if k == "provided"]) == 3


def _refused(
    world: World, envelope: Envelope, error: type[Exception], node: NodeId = CENTER
) -> None:
    store = world.country.stores[node]
    before = store.provision_log.head()
    tier = world.country.center if node == CENTER else world.country.prefecture(node.code)
    with pytest.raises(error):
        tier.provide(envelope)
    records = store.provision_log.read(after=before[0])
    assert [r.entry.kind for r in records] == ["refused"]  # logged, nothing provided
    assert records[0].entry.subject is None


def test_refusals_are_typed_and_logged(world: World) -> None:
    country = world.country
    taro = ByCode(resident_code=world.taro.resident_code)
    _refused(world, world.request("stranger", PENSION, taro), UnknownAgency)
    forged = world.request("nenkin", PENSION, taro, key=world.keys["gaimu"])
    _refused(world, forged, RequestNotAuthentic)  # sent by a:gaimu, naming nenkin
    impostor = NodeKey.generate(NodeId.agency("nenkin"), random.Random(99))
    _refused(world, world.request("nenkin", PENSION, taro, key=impostor), RequestNotAuthentic)
    _refused(world, world.request("nenkin", PASSPORT, taro), UseNotPermitted)  # not 外務省
    _refused(world, world.request("nenkin", "1-4", taro), UseNotPermitted)  # 削除
    _refused(world, world.request("nenkin", "9-1", taro), UseNotPermitted)  # no such table
    _refused(world, world.request("nenkin", EDUCATION, taro), UseNotPermitted)  # not the centre's
    lawful = world.request("nenkin", PENSION, taro)
    country.center.provide(lawful)
    _refused(world, lawful, RequestReplayed)
    stale = world.request("nenkin", PENSION, taro)
    country.clock.advance(days=2)
    _refused(world, stale, RequestReplayed)
    assert country.center.provision.verify_log() == []


def test_request_ids_are_unique_per_agency_not_across_agencies(world: World) -> None:
    """A replay is the same agency's request id again; another agency may use the same id."""
    taro = ByCode(resident_code=world.taro.resident_code)
    now = world.country.clock.now()
    for agency, use in (("nenkin", PENSION), ("gaimu", PASSPORT)):
        request = ProvisionRequest(request_id="shared-1", agency=agency, use=use, queries=(taro,))
        envelope = seal_request(world.keys[agency], CENTER, request, sent_at=now)
        assert world.country.center.provide(envelope).results[0].outcome is Outcome.FOUND
    again = ProvisionRequest(request_id="shared-1", agency="gaimu", use=PASSPORT, queries=(taro,))
    _refused(world, seal_request(world.keys["gaimu"], CENTER, again, sent_at=now), RequestReplayed)


def test_a_forged_request_does_not_use_up_the_agencys_request_id(world: World) -> None:
    taro = ByCode(resident_code=world.taro.resident_code)
    impostor = NodeKey.generate(NodeId.agency("nenkin"), random.Random(7))
    forged = world.request("nenkin", PENSION, taro, key=impostor)
    _refused(world, forged, RequestNotAuthentic)
    refusal = world.country.stores[CENTER].provision_log.read()[-1].entry
    assert refusal.request_id.startswith("env-")
    request = ProvisionRequest(
        request_id=f"req-{world.serial}", agency="nenkin", use=PENSION, queries=(taro,)
    )
    envelope = seal_request(
        world.keys["nenkin"], CENTER, request, sent_at=world.country.clock.now()
    )
    assert world.country.center.provide(envelope).results[0].outcome is Outcome.FOUND


def test_an_agency_may_ask_for_fewer_items_and_gets_only_those(world: World) -> None:
    """住基法30条の30 limits use to the task: a request may name the items it needs; the
    answer and the provision log carry exactly those."""
    asked = frozenset({Item.NAME, Item.ADDRESS})
    answer = world.country.center.provide(
        world.request(
            "nenkin",
            PENSION,
            ByCode(resident_code=world.taro.resident_code),
            ByCode(resident_code=world.jiro.resident_code),
            items=asked,
        )
    )
    assert answer.items == asked
    for result, person in zip(answer.results, (world.taro, world.jiro), strict=True):
        identity = result.identity
        assert identity is not None
        assert identity.items == asked
        assert identity.name == person.name
        assert identity.address == person.address
        assert identity.birth_date is None
        assert identity.sex is None
        assert identity.change_kind is None
        assert identity.change_reason is None
        assert identity.change_date is None
    records = world.country.stores[CENTER].provision_log.read()[-2:]
    assert [(r.entry.kind, r.entry.items) for r in records] == [
        ("provided", ("address", "name")),
        ("provided", ("address", "name")),
    ]
    # Left out, the request gets every item the row permits (as before).
    answer = world.country.center.provide(
        world.request("nenkin", PENSION, ByCode(resident_code=world.taro.resident_code))
    )
    assert answer.items == {Item.NAME, Item.BIRTH_DATE, Item.SEX, Item.ADDRESS, Item.CHANGE}


def test_the_individual_number_alone_for_a_registered_number_use(world: World) -> None:
    """番号法9条: 外務省 may use the individual number for passports (別表第一 41)."""
    asked = frozenset({Item.INDIVIDUAL_NUMBER})
    answer = world.country.center.provide(
        world.request(
            "gaimu", PASSPORT, ByCode(resident_code=world.taro.resident_code), items=asked
        )
    )
    identity = answer.results[0].identity
    assert identity is not None
    assert identity.individual_number == world.taro.individual_number
    assert identity.name is None
    assert world.country.stores[CENTER].provision_log.read()[-1].entry.items == (
        "individual_number",
    )


def test_items_beyond_the_row_are_refused_and_logged(world: World) -> None:
    """住基法30条の9〜30条の15: never the resident code; 番号法9条: the individual number
    only for a registered number use. Asking for either is refused, nothing leaves,
    and the refusal is in the hash-chained log."""
    taro = ByCode(resident_code=world.taro.resident_code)
    log = world.country.stores[CENTER].provision_log
    number = frozenset({Item.NAME, Item.INDIVIDUAL_NUMBER})
    _refused(world, world.request("nenkin", PENSION, taro, items=number), ItemsNotPermitted)
    refusal = log.read()[-1].entry
    assert refusal.items == ()
    detail = json.loads(refusal.detail)
    assert detail["error"] == "ItemsNotPermitted"
    assert detail["items"] == ["individual_number", "name"]
    assert refusal.use == PENSION
    assert refusal.agency == "nenkin"
    with pytest.raises(ItemsNotPermitted) as caught:
        world.country.center.provide(world.request("gaimu", PASSPORT, taro, items=frozenset(Item)))
    message = str(caught.value)
    assert "resident_code" in message
    assert "住基法30条の9" in message
    assert "individual_number" not in message.split("(expected")[0]  # gaimu may have it
    assert message.endswith(
        "(expected items among address, birth_date, change, individual_number, name, sex)"
    )
    assert isinstance(caught.value, NotPermitted)
    with pytest.raises(ItemsNotPermitted, match="not registered to use the individual number"):
        world.country.center.provide(world.request("nenkin", PENSION, taro, items=number))
    assert [r.entry.kind for r in log.read()[-3:]] == ["refused"] * 3
    assert world.country.center.provision.verify_log() == []


def test_a_request_carries_its_items_in_its_bytes() -> None:
    taro = ByCode(resident_code=ResidentCode("12345678903"))
    every = ProvisionRequest(request_id="r-1", agency="nenkin", use=PENSION, queries=(taro,))
    assert b"items" not in every.to_bytes().replace(b'"queries"', b"")
    assert ProvisionRequest.from_bytes(every.to_bytes()) == every
    assert every.items is None
    some = attrs.evolve(every, items=[Item.SEX, Item.NAME])
    assert some.items == frozenset({Item.SEX, Item.NAME})
    assert b'"items":["name","sex"]' in some.to_bytes()
    assert ProvisionRequest.from_bytes(some.to_bytes()) == some
    assert some.to_bytes() != every.to_bytes()  # the signature covers the items
    # A request made before requests could name items parses as asking for every one.
    old = b'{"agency":"nenkin","queries":[{"code":"12345678903"}],"request_id":"r-1","use":"1-77"}'
    assert old == every.to_bytes()
    assert ProvisionRequest.from_bytes(old) == every


@pytest.mark.parametrize(
    "items",
    ['"name"', "null", "[]", '["name","name"]', '["name","shoe_size"]', "[1]"],
)
def test_malformed_items_in_a_request_are_invalid(items: str) -> None:
    raw = (
        b'{"agency":"nenkin","items":' + items.encode() + b',"queries":[{"code":"12345678903"}],'
        b'"request_id":"r-1","use":"1-77"}'
    )
    with pytest.raises(InvalidFormat):
        ProvisionRequest.from_bytes(raw)


def test_a_request_names_items_as_a_non_empty_set_of_item() -> None:
    taro = ByCode(resident_code=ResidentCode("12345678903"))
    with pytest.raises(InvalidComponent):
        ProvisionRequest(
            request_id="r", agency="nenkin", use=PENSION, queries=(taro,), items=frozenset()
        )
    for bad in ("name", ["name"], {Item.NAME: 1}, 3):
        with pytest.raises(InvalidFormat):
            ProvisionRequest(
                request_id="r",
                agency="nenkin",
                use=PENSION,
                queries=(taro,),
                items=bad,  # type: ignore[arg-type]
            )


def test_a_disclosure_request_id_is_used_once(world: World) -> None:
    desk = world.country.center.provision
    desk.disclose(world.taro.resident_code, request_id="disc-once")
    with pytest.raises(IntegrityError):
        desk.disclose(world.taro.resident_code, request_id="disc-once")


def test_tables_two_to_four_follow_the_subject_scope(world: World) -> None:
    """別表第二 (30条の10): a municipality gets residents of its own prefecture only."""
    center = world.country.center
    answer = center.provide(
        world.request(
            "chuo-city",
            CIVIL_PROTECTION,
            ByCode(resident_code=world.taro.resident_code),
            ByCode(resident_code=world.osaka.resident_code),
        )
    )
    same, other = answer.results
    assert same.outcome is Outcome.FOUND
    assert same.identity is not None
    assert same.identity.name == world.taro.name
    assert same.identity.resident_code is None  # 30条の10第1項第1号: 住民票コードを除く
    assert other.outcome is Outcome.NOT_FOUND


def test_the_prefecture_serves_its_own_bodies_under_table_six(world: World) -> None:
    """別表第六 (30条の15第2項): the prefecture's other executive bodies."""
    tokyo = NodeId.prefecture("13")
    answer = world.country.prefecture("13").provide(
        world.request(
            "tokyo-kyoiku",
            EDUCATION,
            ByCode(resident_code=world.jiro.resident_code),
            provider=tokyo,
        )
    )
    assert answer.results[0].outcome is Outcome.FOUND
    assert _log(world, tokyo)[-1] == ("provided", "tokyo-kyoiku", world.jiro.resident_code.value)
    wrong = world.request(
        "tokyo-kyoiku", PENSION, ByCode(resident_code=world.jiro.resident_code), provider=tokyo
    )
    _refused(world, wrong, UseNotPermitted, tokyo)


def test_an_agency_is_registered_once(world: World) -> None:
    with pytest.raises(IntegrityError):
        world.country.center.provision.register_agency(
            "nenkin", world.keys["gaimu"].public_bytes, recipients=[PENSION_BODY]
        )


def test_report_purge_and_chain(world: World) -> None:
    """30条の16 (status report); provision records are kept 7 years."""
    country = world.country
    desk = country.center.provision
    start = country.clock.now()
    for code in (world.taro.resident_code, world.jiro.resident_code):
        country.center.provide(world.request("nenkin", PENSION, ByCode(resident_code=code)))
    report = desk.report(start, country.clock.now() + timedelta(seconds=1))
    assert report.provided == {(PENSION_BODY, PENSION): 2}
    assert report.total == 2
    assert desk.verify_log() == []
    country.clock.advance(days=8 * 366)
    assert desk.purge_log() == 2
    kinds = [r.entry.kind for r in country.stores[CENTER].provision_log.read()]
    assert kinds == ["purged"]
    assert desk.verify_log() == []


def test_a_resident_sees_who_looked(world: World) -> None:
    """30条の32: disclosure of one's own identity information and provision records."""
    center = world.country.center
    center.provide(world.request("nenkin", PENSION, ByCode(resident_code=world.taro.resident_code)))
    disclosure = center.provision.disclose(world.taro.resident_code, request_id="disc-1")
    assert [n.info.name for n in disclosure.history] == [world.taro.name]
    assert [(p.entry.agency, p.entry.use) for p in disclosure.provisions] == [("nenkin", PENSION)]
    assert _log(world)[-1] == ("disclosed", None, world.taro.resident_code.value)


def test_a_disclosure_covers_every_code_the_person_has_held(world: World) -> None:
    """30条の32 after 30条の4: a resident whose code was replaced (twice here) asks with
    the current code and sees the versions and the provision records kept under every
    earlier code; a replaced code no longer identifies them."""
    country = world.country
    center, desk = country.center, country.center.provision
    chiyoda = country.municipality(CHIYODA)
    today = country.clock.today()
    a = world.taro.resident_code
    center.provide(world.request("nenkin", PENSION, ByCode(resident_code=a)))
    desk.disclose(a, request_id="disc-a")
    b = chiyoda.change_resident_code(a, requested_on=today).resident_code
    country.network.settle()
    center.provide(world.request("gaimu", PASSPORT, ByCode(resident_code=b)))
    c = chiyoda.change_resident_code(b, requested_on=today).resident_code
    country.network.settle()
    center.provide(world.request("nenkin", PENSION, ByCode(resident_code=c)))
    assert len({a, b, c}) == 3

    disclosure = desk.disclose(c, request_id="disc-c")
    assert disclosure.resident_code == c
    assert disclosure.codes == (a, b, c)
    assert [(n.info.resident_code, n.previous_resident_code) for n in disclosure.history] == [
        (a, None),  # the birth, under A
        (b, a),  # A replaced by B, once (not again as A's closing removal)
        (c, b),
    ]
    assert [(p.entry.kind, p.entry.agency, p.entry.subject) for p in disclosure.provisions] == [
        ("provided", "nenkin", a.value),
        ("disclosed", None, a.value),
        ("provided", "gaimu", b.value),
        ("provided", "nenkin", c.value),
    ]
    seqs = [p.seq for p in disclosure.provisions]
    assert seqs == sorted(seqs)
    logged = country.stores[CENTER].provision_log.read()[-1].entry
    assert (logged.kind, logged.subject) == ("disclosed", c.value)
    assert json.loads(logged.detail) == {"earlier_codes": [a.value, b.value]}

    for old in (a, b):
        with pytest.raises(ResidentCodeReplaced) as caught:
            desk.disclose(old, request_id=f"disc-old-{old.value}")
        assert isinstance(caught.value, NotFound)
        message = str(caught.value)
        assert "expected the person's current resident code" in message
        assert c.value not in message
        assert b.value not in message.replace(old.value, "")
    # The refused requests left nothing; the next disclosure shows the last one.
    again = desk.disclose(c, request_id="disc-c2")
    assert [p.entry.request_id for p in again.provisions][-1] == "disc-c"

    # The prefecture holds the same versions; its own log has no provision of them.
    tokyo = country.prefecture("13").provision.disclose(c, request_id="disc-p")
    assert tokyo.codes == (a, b, c)
    assert tokyo.history == disclosure.history
    assert tokyo.provisions == ()


def test_a_disclosure_of_an_unknown_code_is_not_found(world: World) -> None:
    with pytest.raises(NotFound) as caught:
        world.country.center.provision.disclose(ResidentCode("12345678903"), request_id="d-1")
    assert not isinstance(caught.value, ResidentCodeReplaced)


def test_a_correction_request_reaches_the_municipality_and_its_outcome_comes_back(
    world: World,
) -> None:
    """30条の35: the request is recorded, routed to the register's municipality, answered."""
    country = world.country
    for tier in (country.center, country.prefecture("13")):
        routed = tier.provision.file_correction(
            world.taro.resident_code,
            request_id=f"fix-{tier.node_id.kind.value}",
            details="読み誤り",
        )
        assert routed == NodeId.municipality(CHIYODA)
    country.network.settle()
    town = country.municipality(CHIYODA)
    pending = town.cs.corrections()
    assert sorted(m.filed_with for m in pending) == ["c:jlis", "p:13"]
    assert [r.entry.request_id for r in country.center.provision.open_corrections()] == ["fix-c"]
    for message in pending:
        town.cs.answer_correction(message.request_id, "訂正しました")
    assert town.cs.corrections() == []
    country.network.settle()
    assert country.center.provision.open_corrections() == []
    for node in (CENTER, NodeId.prefecture("13")):
        kinds = [k for k, _a, _s in _log(world, node)]
        assert (
            kinds[-2:] == ["correction.filed", "correction.outcome"]
            or kinds.count("correction.outcome") == 1
        )


def test_code_changes_are_fed_to_the_digital_agency(world: World) -> None:
    """住基法30条の9の2第2項: J-LIS tells デジタル庁 the old and new resident code."""
    country = world.country
    assert country.center.code_changes() == []  # births, searches: nothing
    today = country.clock.today()
    chiyoda = country.municipality(CHIYODA)
    chiyoda.move_within(world.taro.resident_code, address="本町3丁目3番3号", moved_on=today)
    renewed = chiyoda.change_resident_code(world.taro.resident_code, requested_on=today)
    country.network.settle()
    feed = country.center.code_changes()
    assert [(n.previous_resident_code, n.resident_code) for _, n in feed] == [
        (world.taro.resident_code, renewed.resident_code)
    ]
    ((position, notice),) = feed
    assert notice.reason is ChangeReason.RESIDENT_CODE_CHANGE_REQUEST
    assert notice.changed_on == today
    again = chiyoda.change_resident_code(renewed.resident_code, requested_on=today)
    country.network.settle()
    later = country.center.code_changes(after=position)
    assert [(n.previous_resident_code, n.resident_code) for _, n in later] == [
        (renewed.resident_code, again.resident_code)
    ]
    backlog = {link.destination: link.backlog for link in country.center.health().links}
    assert backlog["feed:digital"] == 2
    country.center.confirm_code_changes(later[-1][0])
    backlog = {link.destination: link.backlog for link in country.center.health().links}
    assert backlog["feed:digital"] == 0


def _feed(world: World) -> list[tuple[str, Certificate, Cause]]:
    return [
        (r.resident_code.value, r.certificate, r.cause)
        for _seq, r in world.country.center.revocations(limit=10_000)
    ]


def test_jpki_revocations_follow_the_law(world: World) -> None:
    """JPKI法12条 (signature certificate) and 31条 (user-authentication certificate)."""
    country = world.country
    chiyoda = country.municipality(CHIYODA)
    assert _feed(world) == []  # births revoke nothing
    today = country.clock.today()
    chiyoda.move_within(world.taro.resident_code, address="本町2丁目2番2号", moved_on=today)
    country.network.settle()
    taro = world.taro.resident_code.value
    assert _feed(world) == [(taro, Certificate.SIGNATURE, Cause.IDENTITY_CHANGED)]
    country.municipality(CHUO).record_death(world.jiro.resident_code, died_on=today)
    country.network.settle()
    jiro = world.jiro.resident_code.value
    assert _feed(world)[1:] == [
        (jiro, Certificate.SIGNATURE, Cause.REMOVED),
        (jiro, Certificate.USER_AUTHENTICATION, Cause.REMOVED),
    ]
    # A move-out with no move-in within 30 days of the planned date (31条2号) …
    chiyoda.move_out(world.taro.resident_code, planned_date=today, destination="大阪市北区")
    # … and one followed by a move-in in time.
    twin = world.twins[0]
    certificate = chiyoda.move_out(twin.resident_code, planned_date=today, destination="中央区")
    country.network.settle()
    country.clock.advance(days=5)
    country.municipality(CHUO).register_move_in(
        certificate,
        address="銀座1丁目1番1号",
        household=HouseholdMembership(household_id="G1", relationship=HEAD_OF_HOUSEHOLD),
        moved_in_on=country.clock.today(),
    )
    country.network.settle()
    assert country.center.run_deadlines() == 0
    country.clock.advance(days=26)  # 31 days after the planned date: the deadline has passed
    assert country.center.run_deadlines() == 1
    assert _feed(world)[-1] == (taro, Certificate.USER_AUTHENTICATION, Cause.NO_MOVE_IN)
    assert country.center.run_deadlines() == 0
    position = country.center.revocations(limit=10_000)[-1][0]
    backlog = {link.destination: link.backlog for link in country.center.health().links}
    assert backlog["feed:jpki"] == position
    country.center.confirm_revocations(position)
    backlog = {link.destination: link.backlog for link in country.center.health().links}
    assert backlog["feed:jpki"] == 0
    assert country.center.revocations(after=position) == []


def test_a_request_is_read_only_in_its_canonical_form() -> None:
    code = ResidentCode("12345678903")
    basic = ByBasicItems(
        name=PersonName.parse("山田 太郎", reading="ヤマダ タロウ"), birth_date=date(2026, 1, 5)
    )
    request = ProvisionRequest(
        request_id="r-1", agency="nenkin", use=PENSION, queries=(ByCode(resident_code=code), basic)
    )
    raw = request.to_bytes()
    assert ProvisionRequest.from_bytes(raw) == request
    full_width = code.value.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    for altered in (
        raw.replace(code.value.encode(), full_width.encode()),
        raw.replace("太郎".encode(), "太郎\u3000".encode()),
        raw.replace(b'"agency":', b'"agency": '),
    ):
        with pytest.raises(InvalidFormat, match="not in canonical form"):
            ProvisionRequest.from_bytes(altered)
    for bad in (b"[" * 5000 + b"]" * 5000, b"{" + b'"a":{' * 40 + b"}" * 41):
        with pytest.raises(InvalidFormat, match="levels deep"):
            ProvisionRequest.from_bytes(bad)
    with pytest.raises(InvalidLength):
        ProvisionRequest.from_bytes(b" " * (MAX_REQUEST_BYTES + 1))


def test_a_non_canonical_request_is_refused_and_logged(world: World) -> None:
    taro = world.taro.resident_code.value
    request = ProvisionRequest(
        request_id="r-nc",
        agency="nenkin",
        use=PENSION,
        queries=(ByCode(resident_code=world.taro.resident_code),),
    )
    full_width = taro.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    envelope = world.keys["nenkin"].seal(
        CENTER,
        first_seq=1,
        payload_type="provision_request",
        payloads=[request.to_bytes().replace(taro.encode(), full_width.encode())],
        sent_at=world.country.clock.now(),
    )
    _refused(world, envelope, RequestNotAuthentic)
