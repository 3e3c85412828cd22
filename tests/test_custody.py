"""The identity invariants against a dishonest or unlucky network (issue 10).

A valid signature proves who sent a notice, not that it is true: every upper
tier judges each notice against what it holds (:mod:`jukinet.domain.custody`,
docs/tiers.md "Identity invariants"). Each test below makes a municipality or
a prefecture emit, with its own valid key, something that is not true, runs the
whole country on every storage adapter, and checks that the network refuses it
(or holds it, when it may still become true), that the refusal changes nothing
and is audited with the sender named, and that honest notices delivered out of
order are never lost. The last part tests :func:`~jukinet.domain.custody.judge`
itself, by a table and by properties.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import random
from collections.abc import Callable
from datetime import date
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jukinet.domain import resident_code
from jukinet.domain.address import Address
from jukinet.domain.changes import ChangeKind, ChangeReason
from jukinet.domain.custody import Claim, Standing, Verdict, judge
from jukinet.domain.identity import IdentityInfo, IdentityNotice
from jukinet.domain.lg_code import LocalGovernmentCode
from jukinet.domain.names import PersonName
from jukinet.domain.resident import (
    HEAD_OF_HOUSEHOLD,
    FamilyRegister,
    HouseholdMembership,
    RecordStatus,
    Removal,
    ResidentRecord,
    Sex,
)
from jukinet.domain.resident_code import ResidentCode
from jukinet.errors import InvalidComponent, InvalidState
from jukinet.storage.base import Store
from jukinet.storage.records import IdentityRow
from jukinet.testing import conformance
from jukinet.testing.country import Country, StoreFactory, build_country
from jukinet.tiers import reconcile, upper, wire
from jukinet.tiers.messages import CENTER, NodeId, NodeKey
from jukinet.tiers.municipality import MoveOutCertificate
from jukinet.tiers.provision import ByCode, Outcome, ProvisionRequest, seal_request

CHIYODA, CHUO, OSAKA_KITA = "131016", "131024", "271276"
TOWNS = (CHIYODA, CHUO, OSAKA_KITA)
TOKYO, OSAKA = NodeId.prefecture("13"), NodeId.prefecture("27")
UPPER = (TOKYO, OSAKA, CENTER)
PENSION = "1-77"  # 別表第一 77: 厚生労働省及び日本年金機構, 国民年金法
PENSION_BODY = "厚生労働省及び日本年金機構"


# --- a country, a victim, an agency ---------------------------------------------------


@attrs.define
class Scene:
    """A country of three towns in two prefectures, with 山田太郎 born in 千代田区
    and a pension agency registered at the centre."""

    country: Country
    victim: ResidentRecord
    agency: NodeKey
    serial: itertools.count[int] = attrs.field(factory=itertools.count)

    def provided(self, code: ResidentCode) -> Any:
        """What the pension agency receives about ``code`` from the centre now."""
        request = ProvisionRequest(
            request_id=f"q-{next(self.serial)}",
            agency="nenkin",
            use=PENSION,
            queries=(ByCode(resident_code=code),),
        )
        envelope = seal_request(self.agency, CENTER, request, sent_at=self.country.clock.now())
        (result,) = self.country.center.provide(envelope).results
        return result.outcome, result.identity


def _name(given: str, reading: str = "タロウ") -> PersonName:
    return PersonName(family="山田", given=given, family_reading="ヤマダ", given_reading=reading)


def _birth(country: Country, town: str, given: str) -> ResidentRecord:
    return country.municipality(town).register_birth(
        name=_name(given),
        birth_date=date(2026, 3, 1),
        sex=Sex.MALE,
        household=HouseholdMembership(household_id=f"H{given}", relationship=HEAD_OF_HOUSEHOLD),
        address="本町1丁目1番1号",
        family_register=FamilyRegister(domicile="東京都千代田区千代田1番", head="山田 一郎"),
    )


def _move_in(country: Country, town: str, certificate: MoveOutCertificate) -> ResidentRecord:
    return country.municipality(town).register_move_in(
        certificate,
        address="新町2丁目2番2号",
        household=HouseholdMembership(household_id=f"N{town}", relationship=HEAD_OF_HOUSEHOLD),
        moved_in_on=country.clock.today(),
    )


@pytest.fixture
def scene(store_factory: StoreFactory) -> Scene:
    country = build_country(store_factory, list(TOWNS), seed=21)
    country.network.settle()
    victim = _birth(country, CHIYODA, "太郎")
    country.network.settle()
    key = NodeKey.generate(NodeId.agency("nenkin"), random.Random(8))
    country.center.provision.register_agency("nenkin", key.public_bytes, recipients=[PENSION_BODY])
    return Scene(country, victim, key)


# --- observing the upper tiers --------------------------------------------------------

_IDENTITY_KEYS = (
    "identities.scan",
    "identities.history",
    "identities.count",
    "identities.by_municipality",
    "schedule",
)


def _upper_view(country: Country) -> dict[str, Any]:
    """What the upper tiers hold about people: every identity version, the JPKI
    deadlines, the pending notices and the centre's feeds (JPKI, デジタル庁)."""
    view: dict[str, Any] = {}
    for node in UPPER:
        store = country.stores[node]
        snapshot = conformance.snapshot(store, municipalities=TOWNS, audit=False)
        view[str(node)] = {key: snapshot[key] for key in _IDENTITY_KEYS} | {
            "pending": store.pending.count(),
            "feeds": {
                d: conformance.read_all_outbox(store, d)
                for d in store.outbox.destinations()
                if d.startswith("feed:")
            },
        }
    return view


def _history(country: Country, node: NodeId, code: ResidentCode | str) -> list[IdentityRow]:
    value = code.value if isinstance(code, ResidentCode) else code
    return country.stores[node].identities.history(value)


def _current(country: Country, node: NodeId, code: ResidentCode | str) -> IdentityRow | None:
    value = code.value if isinstance(code, ResidentCode) else code
    return country.stores[node].identities.current(value)


def _refusals(store: Store) -> list[tuple[str | None, dict[str, str]]]:
    """The ``notice.refused`` audit entries of an upper tier: (subject, detail)."""
    return [
        (record.entry.subject, json.loads(record.entry.detail))
        for record in conformance.read_all_audit(store)
        if record.entry.action == upper.NOTICE_REFUSED
    ]


def _revoked(country: Country) -> list[str]:
    """The resident codes in the centre's JPKI revocation feed (JPKI法12条, 31条)."""
    return [r.resident_code.value for _seq, r in country.center.revocations(limit=10_000)]


def _agree(country: Country, town: str) -> None:
    """Reconciliation (住基法30条の8) finds the municipality and both tiers above it agree."""
    below = reconcile.snapshot_of_entries(town, country.municipality(town).register_entries())
    prefecture = NodeId.municipality(town).prefecture_node
    assert prefecture is not None
    for node in (prefecture, CENTER):
        above = reconcile.snapshot_of_store(country.stores[node], town)
        assert not reconcile.compare(below, above), (node, town)


def _refused_but_registered(country: Country, town: str, code: ResidentCode) -> None:
    """``town``'s register holds the person the network refused (or holds): reconciliation
    shows exactly that code missing above, at both tiers, until the town acts."""
    below = reconcile.snapshot_of_entries(town, country.municipality(town).register_entries())
    prefecture = NodeId.municipality(town).prefecture_node
    assert prefecture is not None
    for node in (prefecture, CENTER):
        differences = reconcile.compare(
            below, reconcile.snapshot_of_store(country.stores[node], town)
        )
        assert differences.missing_above == (code.value,), (node, town)
        assert not differences.extra_above
        assert not differences.differing


def _nothing_pending(country: Country) -> None:
    for node in UPPER:
        assert country.stores[node].pending.count() == 0, node


def _digest(notice: IdentityNotice) -> str:
    return wire.parse_notice(wire.encode_notice(notice), verify=True).digest


def _forged(
    country: Country, liar: str, about: ResidentRecord, reason: ChangeReason, **changes: Any
) -> IdentityNotice:
    """A notice about ``about``'s code in ``liar``'s name: the liar's own communication
    server takes it, since the address is in the liar's town."""
    info = attrs.evolve(
        IdentityInfo.from_record(about),
        address=Address(municipality=LocalGovernmentCode(liar), rest="偽町9丁目9番9号"),
        **changes,
    )
    return IdentityNotice(info=info, reason=reason, event_date=country.clock.today())


# --- 1. only the holder notifies about a person (住基法30条の6) ------------------------

FORGERIES: dict[str, Callable[[Country, str, ResidentRecord], IdentityNotice]] = {
    "修正 of the name": lambda c, liar, r: _forged(
        c, liar, r, ChangeReason.CLERICAL_ERROR_CORRECTION, name=_name("偽名", "ギメイ")
    ),
    "修正 of the address (転居)": lambda c, liar, r: _forged(c, liar, r, ChangeReason.MOVE_WITHIN),
    "死亡": lambda c, liar, r: _forged(c, liar, r, ChangeReason.DEATH),
    "国外転出": lambda c, liar, r: _forged(c, liar, r, ChangeReason.MOVE_ABROAD),
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
@pytest.mark.parametrize(
    "liar",
    [pytest.param(CHUO, id="same-prefecture"), pytest.param(OSAKA_KITA, id="other-prefecture")],
)
def test_a_non_holder_changes_nobody(scene: Scene, liar: str, forgery: str) -> None:
    """住基法30条の6第1項: a mayor notifies about the mayor's own residents. A 修正 or a
    消除 about a resident of another municipality, signed by the liar's own key,
    changes nothing anywhere, revokes no certificate, and is refused, audited and
    reported back to the liar."""
    country, victim = scene.country, scene.victim
    code = victim.resident_code
    before = _upper_view(country)
    provided = scene.provided(code)
    assert provided[0] is Outcome.FOUND
    revoked = _revoked(country)
    notice = FORGERIES[forgery](country, liar, victim)

    town = country.municipality(liar)
    town.cs.notify(notice)  # the liar's CS takes it: the address is the liar's
    country.network.settle()

    assert _upper_view(country) == before
    assert scene.provided(code) == provided
    assert _revoked(country) == revoked
    assert code.value not in revoked
    # Refused by the liar's own prefecture, which names the liar, and reported back.
    refuser = NodeId.municipality(liar).prefecture_node
    assert refuser is not None
    ((subject, detail),) = _refusals(country.stores[refuser])
    assert subject == str(town.node_id)
    assert detail["resident_code"] == code.value
    assert detail["municipality"] == liar
    assert detail["digest"] == _digest(notice)
    assert "30条の6" in detail["why"]
    (heard,) = town.cs.refused_notices()
    assert (heard.digest, heard.resident_code, heard.municipality, heard.reason) == (
        _digest(notice),
        code.value,
        liar,
        notice.reason.value,
    )
    for node in UPPER:
        if node != refuser:
            assert _refusals(country.stores[node]) == []
    assert country.municipality(CHIYODA).cs.refused_notices() == []
    _agree(country, CHIYODA)
    _agree(country, liar)
    # The holder still changes the person, and that reaches the centre.
    country.municipality(CHIYODA).record_death(code, died_on=country.clock.today())
    country.network.settle()
    current = _current(country, CENTER, code)
    assert current is not None
    assert (current.municipality, current.reason) == (CHIYODA, "death")


def test_a_notice_in_the_holders_name_from_another_town_is_refused(scene: Scene) -> None:
    """The communication server refuses to queue a notice about another town's resident;
    a town that bypasses it (its own key, its own outbox) is refused by the prefecture,
    which audits the town that sent it, not the one named in the notice."""
    country, victim = scene.country, scene.victim
    notice = IdentityNotice(
        info=attrs.evolve(IdentityInfo.from_record(victim), name=_name("偽名", "ギメイ")),
        reason=ChangeReason.CLERICAL_ERROR_CORRECTION,
        event_date=country.clock.today(),
    )
    liar = country.municipality(CHUO)
    liar_store = country.stores[liar.node_id]
    outbox = conformance.snapshot(liar_store, audit=False)["outbox"]
    with pytest.raises(InvalidComponent, match="resident of 131016"):
        liar.cs.notify(notice)
    assert conformance.snapshot(liar_store, audit=False)["outbox"] == outbox
    before = _upper_view(country)
    with liar_store.unit_of_work() as uow:  # the dishonest town's own outbox
        liar_store.outbox.append(uow, str(TOKYO), [wire.encode_notice(notice)])
    country.network.settle()
    assert _upper_view(country) == before
    ((subject, detail),) = _refusals(country.stores[TOKYO])
    assert str(liar.node_id) in detail["why"]
    assert subject == str(liar.node_id)  # the sender, not the town the notice names
    assert [r.digest for r in liar.cs.refused_notices()] == [_digest(notice)]
    assert country.municipality(CHIYODA).cs.refused_notices() == []
    _agree(country, CHIYODA)


# --- 2. a prefecture passes on only its own municipalities' notices (30条の7) -----------


def test_a_prefecture_forwarding_another_prefectures_municipality_is_refused(
    scene: Scene,
) -> None:
    """東京都 forwards a notice (and a referral) naming a municipality of 大阪府: the
    centre refuses both, audits them naming 東京都, applies nothing."""
    country = scene.country
    osaka = _birth(country, OSAKA_KITA, "浪速")
    country.network.settle()
    code = osaka.resident_code
    before = _upper_view(country)
    revoked = _revoked(country)
    provided = scene.provided(code)
    today = country.clock.today()
    death = IdentityNotice.for_change(
        attrs.evolve(
            osaka,
            status=RecordStatus.REMOVED,
            removal=Removal(reason=ChangeReason.DEATH, removed_on=today),
        ),
        reason=ChangeReason.DEATH,
        event_date=today,
    )
    (fresh,) = country.municipality(OSAKA_KITA).reserve_codes(1)  # designated to 北区
    birth = IdentityNotice(
        info=attrs.evolve(IdentityInfo.from_record(osaka), resident_code=fresh),
        reason=ChangeReason.BIRTH,
        event_date=today,
    )
    tokyo = country.stores[TOKYO]
    with tokyo.unit_of_work() as uow:  # the dishonest prefecture's own outbox
        tokyo.outbox.append(
            uow,
            str(CENTER),
            [
                wire.encode_notice(death),
                wire.encode_referral(wire.parse_notice(wire.encode_notice(birth), verify=True)),
            ],
        )
    country.network.settle()

    assert _upper_view(country) == before
    assert _revoked(country) == revoked
    assert scene.provided(code) == provided
    assert _current(country, CENTER, fresh) is None
    refused = _refusals(country.stores[CENTER])
    assert [(d["resident_code"], d["municipality"]) for _s, d in refused] == [
        (code.value, OSAKA_KITA),
        (fresh.value, OSAKA_KITA),
    ]
    assert all("p:13 may not notify" in d["why"] for _s, d in refused)
    assert [s for s, _d in refused] == ["p:13", "p:13"]  # the sender is named
    # 東京都 hears the refusals; 北区, which sent nothing, hears nothing.
    assert len(_refusals(tokyo)) == 2
    assert country.municipality(OSAKA_KITA).cs.refused_notices() == []
    _agree(country, OSAKA_KITA)


def test_a_prefecture_forwarding_a_removal_of_another_prefectures_resident_is_refused(
    scene: Scene,
) -> None:
    """The notice names 東京都's own 千代田区, but the person is 大阪市北区's: the centre,
    which sees every municipality, refuses it (住基法30条の6)."""
    country = scene.country
    osaka = _birth(country, OSAKA_KITA, "浪速")
    country.network.settle()
    code = osaka.resident_code
    before = _upper_view(country)
    notice = _forged(country, CHIYODA, osaka, ChangeReason.DEATH)
    tokyo = country.stores[TOKYO]
    with tokyo.unit_of_work() as uow:
        tokyo.outbox.append(uow, str(CENTER), [wire.encode_notice(notice)])
    country.network.settle()
    assert _upper_view(country) == before
    ((subject, detail),) = _refusals(country.stores[CENTER])
    assert subject == "p:13"
    assert detail["resident_code"] == code.value
    assert "30条の6" in detail["why"]
    assert code.value not in _revoked(country)
    _agree(country, OSAKA_KITA)


# --- 3. a move-in follows its move-out, with its certificate, once (22条, 24条) -----------


def _certificate(
    record: ResidentRecord, issued_by: str, number: str = "f" * 32, *, removed: bool = True
) -> MoveOutCertificate:
    """A certificate for ``record`` that its issuer never issued."""
    today = date(2026, 4, 1)
    if removed:
        record = attrs.evolve(
            record,
            status=RecordStatus.REMOVED,
            removal=Removal(
                reason=ChangeReason.DOMESTIC_MOVE_OUT,
                removed_on=today,
                destination="大阪市北区",
                certificate=number,
            ),
        )
    return MoveOutCertificate(
        issued_by=issued_by,
        record=record,
        planned_date=today,
        destination="大阪市北区",
        number=number,
    )


@pytest.mark.parametrize(
    ("issuer", "error", "match"),
    [
        pytest.param("999999", InvalidComponent, "not a municipality", id="malformed code"),
        pytest.param("999997", InvalidComponent, "not a municipality", id="no such body"),
        pytest.param("130001", InvalidComponent, "keeps no resident register", id="a prefecture"),
        pytest.param(CHUO, InvalidComponent, "the record is of 131016", id="not the record's town"),
    ],
)
def test_a_certificate_from_no_municipality_is_refused_locally(
    scene: Scene, issuer: str, error: type[Exception], match: str
) -> None:
    """住基法22条, 24条: a certificate not issued by the municipality that kept the record
    is refused by the new municipality itself; its storage is unchanged."""
    country = scene.country
    store = country.stores[NodeId.municipality(OSAKA_KITA)]
    before = conformance.snapshot(store, municipalities=TOWNS)
    with pytest.raises(error, match=match):
        _move_in(country, OSAKA_KITA, _certificate(scene.victim, issuer))
    assert conformance.snapshot(store, municipalities=TOWNS) == before


def test_a_certificate_for_a_record_never_removed_is_refused_locally(scene: Scene) -> None:
    country = scene.country
    store = country.stores[NodeId.municipality(OSAKA_KITA)]
    before = conformance.snapshot(store, municipalities=TOWNS)
    forged = _certificate(scene.victim, CHIYODA, removed=False)
    with pytest.raises(InvalidState, match="never removed"):
        _move_in(country, OSAKA_KITA, forged)
    assert conformance.snapshot(store, municipalities=TOWNS) == before


@pytest.mark.parametrize("town", [CHUO, OSAKA_KITA])
def test_a_forged_certificate_is_held_and_never_applied(scene: Scene, town: str) -> None:
    """A certificate that looks right (千代田区's, for a record it holds) but was never
    issued: the new municipality cannot tell, the centre can. It holds the move-in,
    since the move-out might still arrive (notices from different senders are not
    ordered), and never applies it: the person stays registered in 千代田区 at every
    upper tier (invariant 2), and a real move-out with another certificate does not
    release it (invariant 3)."""
    country, victim = scene.country, scene.victim
    code = victim.resident_code
    before = _upper_view(country)
    _move_in(country, town, _certificate(victim, CHIYODA))
    country.network.settle()
    prefecture = NodeId.municipality(town).prefecture_node
    assert prefecture is not None
    after = _upper_view(country)
    assert country.stores[CENTER].pending.count() == 1  # held at the centre …
    assert country.stores[prefecture].pending.count() == 1  # … referred by the prefecture
    for node in UPPER:
        assert after[str(node)] | {"pending": 0} == before[str(node)]
    for node in (TOKYO, CENTER):
        current = _current(country, node, code)
        assert current is not None
        assert (current.municipality, current.removed) == (CHIYODA, False)
    assert country.municipality(town).cs.refused_notices() == []
    _refused_but_registered(country, town, code)  # held, never applied
    # 千代田区 moves the person out for real, to the other town, which moves them in.
    other = OSAKA_KITA if town == CHUO else CHUO
    certificate = country.municipality(CHIYODA).move_out(
        code, planned_date=country.clock.today(), destination="新町"
    )
    _move_in(country, other, certificate)
    country.network.settle()
    current = _current(country, CENTER, code)
    assert current is not None
    assert (current.municipality, current.reason) == (other, "domestic_move_in")
    assert country.stores[CENTER].pending.count() == 1  # the forged one, still held
    assert [r.reason for r in _history(country, CENTER, code)] == [
        "birth",
        "domestic_move_out",
        "domestic_move_in",
    ]
    _agree(country, CHIYODA)
    _agree(country, other)


def test_a_certificate_used_twice_is_applied_once(scene: Scene) -> None:
    """住基法22条, 24条: a move-out certificate is used once. Two municipalities take the
    same certificate: the centre applies the first move-in it judges, refuses the other,
    which hears the refusal; the person is current in one municipality only (invariant 2)."""
    country, victim = scene.country, scene.victim
    code = victim.resident_code
    certificate = country.municipality(CHIYODA).move_out(
        code, planned_date=country.clock.today(), destination="中央区"
    )
    _move_in(country, CHUO, certificate)
    _move_in(country, OSAKA_KITA, certificate)
    country.network.settle()
    _nothing_pending(country)
    current = _current(country, CENTER, code)
    assert current is not None
    winner = current.municipality
    loser = CHUO if winner == OSAKA_KITA else OSAKA_KITA
    assert winner in (CHUO, OSAKA_KITA)
    assert [r.reason for r in _history(country, CENTER, code)] == [
        "birth",
        "domestic_move_out",
        "domestic_move_in",
    ]
    ((subject, detail),) = _refusals(country.stores[CENTER])
    assert subject == str(NodeId.municipality(loser).prefecture_node)
    assert (detail["resident_code"], detail["municipality"]) == (code.value, loser)
    assert "used already" in detail["why"]
    (heard,) = country.municipality(loser).cs.refused_notices()
    assert (heard.resident_code, heard.reason) == (code.value, "domestic_move_in")
    # Every upper tier: current in the winner at most, never in the loser.
    for node in UPPER:
        row = _current(country, node, code)
        assert row is None or row.removed or row.municipality == winner, node
    _agree(country, winner)
    _agree(country, CHIYODA)
    _refused_but_registered(country, loser, code)


def test_a_certificate_used_twice_in_order_is_refused_the_second_time(scene: Scene) -> None:
    """The same, with the second move-in made after the first reached the centre."""
    country, victim = scene.country, scene.victim
    code = victim.resident_code
    certificate = country.municipality(CHIYODA).move_out(
        code, planned_date=country.clock.today(), destination="中央区"
    )
    _move_in(country, CHUO, certificate)
    country.network.settle()
    before = _upper_view(country)
    _move_in(country, OSAKA_KITA, certificate)
    country.network.settle()
    assert _upper_view(country) == before
    current = _current(country, CENTER, code)
    assert current is not None
    assert (current.municipality, current.removed) == (CHUO, False)
    (heard,) = country.municipality(OSAKA_KITA).cs.refused_notices()
    assert "used already" in heard.why
    _agree(country, CHUO)
    _refused_but_registered(country, OSAKA_KITA, code)


# --- 4. a replaced code is never accepted again (住基法30条の2第2項, 30条の4) -------------


@pytest.mark.parametrize("town", [CHIYODA, CHUO, OSAKA_KITA])
def test_a_replaced_code_given_to_someone_else_is_refused(scene: Scene, town: str) -> None:
    """After a code change (住基法30条の4) the old code never identifies anyone again
    (30条の2第2項): an arrival registered under it, in any town, is refused; the
    upper tiers' current version of the old code stays the superseded one."""
    country, victim = scene.country, scene.victim
    old = victim.resident_code
    changed = country.municipality(CHIYODA).change_resident_code(
        old, requested_on=country.clock.today()
    )
    country.network.settle()
    superseded = _current(country, CENTER, old)
    assert superseded is not None
    assert superseded.removed
    assert superseded.reason == ChangeReason.RESIDENT_CODE_CHANGE_REQUEST.value
    before = _upper_view(country)
    revoked = _revoked(country)
    municipality = country.municipality(town)

    def arrival() -> ResidentRecord:
        return municipality.register_arrival(
            name=_name("花子", "ハナコ"),
            birth_date=date(1990, 5, 5),
            sex=Sex.FEMALE,
            household=HouseholdMembership(household_id="A1", relationship=HEAD_OF_HOUSEHOLD),
            address="港町3丁目3番3号",
            arrived_on=country.clock.today(),
            previous_address="アメリカ合衆国",
            family_register=FamilyRegister(domicile="東京都港区芝公園1番", head="山田 花子"),
            resident_code=old,
        )

    if town == CHIYODA:
        # The town that replaced the code knows it, and refuses it itself.
        store = country.stores[municipality.node_id]
        local = conformance.snapshot(store, municipalities=TOWNS)
        with pytest.raises(InvalidState, match=old.value):
            arrival()
        assert conformance.snapshot(store, municipalities=TOWNS) == local
        # Its communication server still sends what its register would not hold.
        municipality.cs.notify(
            IdentityNotice(
                info=attrs.evolve(
                    IdentityInfo.from_record(changed), resident_code=old, name=_name("花子")
                ),
                reason=ChangeReason.MOVE_IN_FROM_ABROAD,
                event_date=country.clock.today(),
            )
        )
    else:
        arrival()
    country.network.settle()
    assert _upper_view(country) == before
    assert _current(country, CENTER, old) == superseded
    assert _revoked(country) == revoked
    (heard,) = country.municipality(town).cs.refused_notices()
    assert (heard.resident_code, heard.reason) == (old.value, "move_in_from_abroad")
    assert "30条の4" in heard.why
    assert scene.provided(changed.resident_code)[0] is Outcome.FOUND
    _nothing_pending(country)
    _agree(country, CHIYODA)
    if town != CHIYODA:
        _refused_but_registered(country, town, old)


def _arrival(country: Country, town: str, code: ResidentCode) -> ResidentRecord:
    """花子 arrives from abroad in ``town`` under ``code`` (住基法30条の3第1項: as if she
    had held it before)."""
    return country.municipality(town).register_arrival(
        name=_name("花子", "ハナコ"),
        birth_date=date(1990, 5, 5),
        sex=Sex.FEMALE,
        household=HouseholdMembership(household_id="A1", relationship=HEAD_OF_HOUSEHOLD),
        address="港町3丁目3番3号",
        arrived_on=country.clock.today(),
        previous_address="アメリカ合衆国",
        family_register=FamilyRegister(domicile="東京都港区芝公園1番", head="山田 花子"),
        resident_code=code,
    )


@pytest.mark.parametrize("removal", ["死亡", "国内転出"])
def test_an_arrival_under_a_living_persons_code_never_takes_them_over(
    scene: Scene, removal: str
) -> None:
    """大阪市北区 registers an arrival under the code of a person registered in 千代田区.
    The centre holds it (a removal made before it may still be on its way). When the
    removal that comes is a death, or a move-out whose certificate another
    municipality uses, the arrival cannot follow it directly: it stays held, never
    applied (what follows a death or a move-out may itself still be on its way, so
    it is not refused: an honest arrival after a move-in and a move abroad that are
    late must not be lost), the code stays the person's (30条の2第2項), and a
    move-in delayed behind the move-out is applied (invariants 1 to 3)."""
    country, victim = scene.country, scene.victim
    code = victim.resident_code
    _arrival(country, OSAKA_KITA, code)
    country.network.settle()
    assert country.stores[CENTER].pending.count() == 1
    network = country.network
    chiyoda = country.municipality(CHIYODA)
    today = country.clock.today()
    if removal == "死亡":
        chiyoda.record_death(code, died_on=today)
        network.settle()
        expected = [(CHIYODA, "birth"), (CHIYODA, "death")]
    else:
        certificate = chiyoda.move_out(code, planned_date=today, destination="中央区")
        _move_in(country, CHUO, certificate)
        network.crash(NodeId.municipality(CHUO))  # the move-out reaches the centre first
        network.settle()
        network.restart(country.municipality(CHUO))
        network.settle()
        expected = [(CHIYODA, "birth"), (CHIYODA, "domestic_move_out"), (CHUO, "domestic_move_in")]
    assert [(r.municipality, r.reason) for r in _history(country, CENTER, code)] == expected
    assert _history(country, OSAKA, code) == []
    # held at the centre (and referred by 大阪府), never applied
    assert country.stores[CENTER].pending.count() == 1
    assert country.stores[OSAKA].pending.count() == 1
    assert country.stores[TOKYO].pending.count() == 0
    assert _refusals(country.stores[CENTER]) == []
    assert country.municipality(CHUO).cs.refused_notices() == []
    for town in (CHIYODA, CHUO):
        _agree(country, town)
    _refused_but_registered(country, OSAKA_KITA, code)


def test_a_held_registration_does_not_hold_up_the_holder(scene: Scene) -> None:
    """中央区 registers an arrival under the code of 千代田区's resident: 東京都 refers it
    and the centre holds it. 千代田区's own changes to the person are still applied, in
    order, at both tiers (東京都 now refers them too, since a notice about the person
    is pending there). After the death that ends the person the arrival stays held,
    never applied (only 千代田区 undoing the death could be followed by it)."""
    country, victim = scene.country, scene.victim
    code = victim.resident_code
    _arrival(country, CHUO, code)
    country.network.settle()
    assert country.stores[TOKYO].pending.count() == country.stores[CENTER].pending.count() == 1
    chiyoda = country.municipality(CHIYODA)
    today = country.clock.today()
    chiyoda.move_within(code, address="本町5丁目5番5号", moved_on=today)
    chiyoda.change_name(code, name=_name("一太郎", "イチタロウ"), changed_on=today)
    country.network.settle()
    reasons = ["birth", "move_within", "ex_officio_correction"]
    for node in (TOKYO, CENTER):
        assert [(r.municipality, r.reason) for r in _history(country, node, code)] == [
            (CHIYODA, reason) for reason in reasons
        ]
    _agree(country, CHIYODA)
    assert country.stores[TOKYO].pending.count() == country.stores[CENTER].pending.count() == 1
    chiyoda.record_death(code, died_on=today)
    country.network.settle()
    assert country.stores[TOKYO].pending.count() == country.stores[CENTER].pending.count() == 1
    for node in (TOKYO, CENTER):
        assert [r.reason for r in _history(country, node, code)] == [*reasons, "death"]
    assert country.municipality(CHUO).cs.refused_notices() == []
    assert chiyoda.cs.refused_notices() == []
    _agree(country, CHIYODA)
    _refused_but_registered(country, CHUO, code)


def test_an_arrival_after_a_move_abroad_overtaking_it_is_applied(scene: Scene) -> None:
    """The honest case: 山田太郎 leaves 千代田区 for abroad (国外転出) and comes back to
    大阪市北区 (国外転入等) with his code (住基法30条の3第1項); the arrival reaches the
    centre first, waits, and is applied after the removal."""
    country, victim = scene.country, scene.victim
    code = victim.resident_code
    country.municipality(CHIYODA).move_abroad(
        code, departed_on=country.clock.today(), destination="アメリカ合衆国"
    )
    _arrival(country, OSAKA_KITA, code)
    network = country.network
    network.crash(NodeId.municipality(CHIYODA))
    network.settle()
    assert country.stores[CENTER].pending.count() == 1
    network.restart(country.municipality(CHIYODA))
    network.settle()
    _nothing_pending(country)
    assert [(r.municipality, r.reason) for r in _history(country, CENTER, code)] == [
        (CHIYODA, "birth"),
        (CHIYODA, "move_abroad"),
        (OSAKA_KITA, "move_in_from_abroad"),
    ]
    assert [r.reason for r in _history(country, OSAKA, code)] == ["move_in_from_abroad"]
    assert all(_refusals(country.stores[n]) == [] for n in UPPER)
    _agree(country, OSAKA_KITA)


# --- 5. honest notices delivered out of order are never lost (invariant 4) -------------


def test_a_move_in_that_overtakes_its_move_out_is_applied_after_it(scene: Scene) -> None:
    """千代田区 → 大阪市北区: the move-in reaches the centre first. The centre holds it
    until the move-out arrives, then applies both in order; every tier ends as if
    nothing had been reordered and nothing is left pending."""
    country, victim = scene.country, scene.victim
    code = victim.resident_code
    certificate = country.municipality(CHIYODA).move_out(
        code, planned_date=country.clock.today(), destination="大阪市北区"
    )
    _move_in(country, OSAKA_KITA, certificate)
    network = country.network
    network.crash(NodeId.municipality(CHIYODA))  # its move-out stays home for now
    network.settle()
    # The move-in is at the centre, held, not applied; 大阪府 waits for the centre.
    assert country.stores[CENTER].pending.count() == 1
    assert country.stores[OSAKA].pending.count() == 1
    assert _current(country, OSAKA, code) is None
    held = _current(country, CENTER, code)
    assert held is not None
    assert (held.municipality, held.removed) == (CHIYODA, False)
    network.restart(country.municipality(CHIYODA))
    network.settle()
    _nothing_pending(country)
    assert [(r.municipality, r.reason) for r in _history(country, CENTER, code)] == [
        (CHIYODA, "birth"),
        (CHIYODA, "domestic_move_out"),
        (OSAKA_KITA, "domestic_move_in"),
    ]
    assert [r.reason for r in _history(country, TOKYO, code)] == ["birth", "domestic_move_out"]
    assert [r.reason for r in _history(country, OSAKA, code)] == ["domestic_move_in"]
    assert all(_refusals(country.stores[n]) == [] for n in UPPER)
    # The move-in arrived: no JPKI deadline is left to revoke the certificate (31条2号).
    assert country.stores[CENTER].schedule.due(date(2100, 1, 1), limit=10) == []
    _agree(country, CHIYODA)
    _agree(country, OSAKA_KITA)


def test_two_moves_delivered_in_reverse_are_applied_in_order(scene: Scene) -> None:
    """千代田区 → 大阪市北区 → 中央区, every notice made before any is delivered, and the
    towns heard last first: the centre holds each move until the one it follows
    arrives, and every upper tier holding the person ends with the moves in order."""
    country, victim = scene.country, scene.victim
    code = victim.resident_code
    today = country.clock.today()
    first = country.municipality(CHIYODA).move_out(code, planned_date=today, destination="北区")
    _move_in(country, OSAKA_KITA, first)
    second = country.municipality(OSAKA_KITA).move_out(
        code, planned_date=today, destination="中央区"
    )
    _move_in(country, CHUO, second)
    network = country.network
    chiyoda, osaka = NodeId.municipality(CHIYODA), NodeId.municipality(OSAKA_KITA)
    network.crash(chiyoda)
    network.crash(osaka)
    network.settle()  # 中央区's move-in alone
    assert country.stores[CENTER].pending.count() == 1
    network.restart(country.municipality(OSAKA_KITA))
    network.settle()  # then 北区's move-in and move-out
    assert country.stores[CENTER].pending.count() == 3
    held = _current(country, CENTER, code)
    assert held is not None
    assert (held.municipality, held.reason) == (CHIYODA, "birth")
    network.restart(country.municipality(CHIYODA))
    network.settle()  # 千代田区's move-out last
    _nothing_pending(country)
    assert [(r.municipality, r.reason) for r in _history(country, CENTER, code)] == [
        (CHIYODA, "birth"),
        (CHIYODA, "domestic_move_out"),
        (OSAKA_KITA, "domestic_move_in"),
        (OSAKA_KITA, "domestic_move_out"),
        (CHUO, "domestic_move_in"),
    ]
    assert [(r.municipality, r.reason) for r in _history(country, TOKYO, code)] == [
        (CHIYODA, "birth"),
        (CHIYODA, "domestic_move_out"),
        (CHUO, "domestic_move_in"),
    ]
    assert [r.reason for r in _history(country, OSAKA, code)] == [
        "domestic_move_in",
        "domestic_move_out",
    ]
    assert all(_refusals(country.stores[n]) == [] for n in UPPER)
    for town in TOWNS:
        assert country.municipality(town).cs.refused_notices() == []
        _agree(country, town)


def test_a_move_in_delivered_by_hand_before_its_move_out(scene: Scene) -> None:
    """The same within 東京都, envelopes carried by hand: 中央区's move-in reaches 東京都
    and the centre, then 千代田区's move-out; 東京都 refers the move-out too (its view
    waits for the centre's) and applies both once the centre confirms them, in order."""
    country, victim = scene.country, scene.victim
    code = victim.resident_code
    certificate = country.municipality(CHIYODA).move_out(
        code, planned_date=country.clock.today(), destination="中央区"
    )
    _move_in(country, CHUO, certificate)
    prefecture, center = country.prefecture("13"), country.center

    def carry(sender: Any, receiver: Any) -> None:
        for envelope in sender.outgoing():
            if envelope.recipient != receiver.node_id:
                continue
            for answer in receiver.receive(envelope):
                sender.receive(answer)

    carry(country.municipality(CHUO), prefecture)
    carry(prefecture, center)
    assert center.pending_notices() == prefecture.pending_notices() == 1
    carry(country.municipality(CHIYODA), prefecture)
    assert prefecture.pending_notices() == 2  # the move-out waits behind the move-in
    carry(prefecture, center)
    assert center.pending_notices() == 0
    carry(center, prefecture)
    assert prefecture.pending_notices() == 0
    for node in (TOKYO, CENTER):
        assert [(r.municipality, r.reason) for r in _history(country, node, code)] == [
            (CHIYODA, "birth"),
            (CHIYODA, "domestic_move_out"),
            (CHUO, "domestic_move_in"),
        ]
    country.network.settle()
    _nothing_pending(country)
    _agree(country, CHIYODA)
    _agree(country, CHUO)


# --- 6. code changes and new codes (住基法30条の2, 30条の3, 30条の4) --------------------


def test_a_code_change_by_the_holder_is_accepted(scene: Scene) -> None:
    """住基法30条の4: the holder replaces the code with one designated to it; the old
    code's history ends, the new one carries it (令30条の5), デジタル庁 hears of it
    (30条の9の2第2項)."""
    country, victim = scene.country, scene.victim
    old = victim.resident_code
    changed = country.municipality(CHIYODA).change_resident_code(
        old, requested_on=country.clock.today()
    )
    country.network.settle()
    new = changed.resident_code
    for node in (TOKYO, CENTER):
        was, now = _current(country, node, old), _current(country, node, new)
        assert was is not None
        assert now is not None
        assert was.removed
        assert (now.municipality, now.removed, now.previous_resident_code) == (
            CHIYODA,
            False,
            old.value,
        )
    assert [
        (c.previous_resident_code, c.resident_code) for _s, c in country.center.code_changes()
    ] == [(old, new)]
    assert all(_refusals(country.stores[n]) == [] for n in UPPER)
    _nothing_pending(country)
    _agree(country, CHIYODA)


@pytest.mark.parametrize("liar", [CHUO, OSAKA_KITA])
def test_a_code_change_by_another_municipality_is_refused(scene: Scene, liar: str) -> None:
    """住基法30条の4: only the municipality where the person is registered replaces their
    code. Another town, using a fresh code designated to itself, changes nothing."""
    country, victim = scene.country, scene.victim
    old = victim.resident_code
    (fresh,) = country.municipality(liar).reserve_codes(1)
    before = _upper_view(country)
    notice = IdentityNotice(
        info=attrs.evolve(
            _forged(country, liar, victim, ChangeReason.MOVE_WITHIN).info, resident_code=fresh
        ),
        reason=ChangeReason.RESIDENT_CODE_CHANGE_REQUEST,
        event_date=country.clock.today(),
        previous_resident_code=old,
    )
    country.municipality(liar).cs.notify(notice)
    country.network.settle()
    assert _upper_view(country) == before
    assert country.center.code_changes() == []
    (heard,) = country.municipality(liar).cs.refused_notices()
    assert (heard.resident_code, heard.reason) == (fresh.value, notice.reason.value)
    assert "30条の6" in heard.why
    current = _current(country, CENTER, old)
    assert current is not None
    assert (current.municipality, current.removed) == (CHIYODA, False)
    _agree(country, CHIYODA)


def _undesignated(country: Country) -> ResidentCode:
    rng = random.Random(77)
    while True:
        body = f"{rng.randrange(10**10):010d}"
        code = ResidentCode(body + resident_code.calc_check_digit(body))
        if not country.stores[CENTER].code_pool.is_designated(code.value):
            return code


@pytest.mark.parametrize("whose", ["another town's", "nobody's"])
def test_a_birth_with_a_code_not_designated_to_the_town_is_refused(
    scene: Scene, whose: str
) -> None:
    """住基法30条の2, 30条の3第2項: a new person gets a code the centre designated to the
    municipality recording them. 中央区 records a birth under a code designated to
    千代田区 (unused), or under one the centre never designated: the centre refuses."""
    country = scene.country
    if whose == "nobody's":
        code = _undesignated(country)
    else:
        (code,) = country.municipality(CHIYODA).reserve_codes(1)
    before = _upper_view(country)
    baby = _birth(country, CHUO, "次郎")
    notice = IdentityNotice(
        info=attrs.evolve(IdentityInfo.from_record(baby), resident_code=code),
        reason=ChangeReason.BIRTH,
        event_date=baby.birth_date,
    )
    baby_notice = country.municipality(CHUO).latest_notice(baby.resident_code)
    country.municipality(CHUO).cs.notify(notice)
    country.network.settle()
    after = _upper_view(country)
    assert _current(country, CENTER, code) is None
    assert _current(country, TOKYO, code) is None
    (heard,) = country.municipality(CHUO).cs.refused_notices()
    assert (heard.resident_code, heard.reason) == (code.value, "birth")
    assert "not designated to 131024" in heard.why
    ((subject, _detail),) = _refusals(country.stores[CENTER])
    assert subject == "p:13"
    _nothing_pending(country)
    # Only the honest birth (its own code) was added.
    assert baby_notice is not None
    for node in (TOKYO, CENTER):
        (row,) = _history(country, node, baby.resident_code)
        assert row.payload == _canonical(baby_notice)
        assert after[str(node)]["identities.count"] == before[str(node)]["identities.count"] + 1


def _canonical(notice: IdentityNotice) -> bytes:
    """The canonical bytes of a notice, as the upper tiers store them."""
    return wire.parse_notice(wire.encode_notice(notice), verify=True).notice_bytes


# --- the rules themselves (jukinet.domain.custody.judge) -------------------------------

A, B, C = "131016", "131024", "271276"
CODE, NEW = "13123456789", "98765432109"
HELD = Standing(municipality=A, reason=ChangeReason.BIRTH, removed=False)
MOVED_OUT = Standing(
    municipality=A, reason=ChangeReason.DOMESTIC_MOVE_OUT, removed=True, certificate="c1"
)
DEAD = Standing(municipality=A, reason=ChangeReason.DEATH, removed=True)
REPLACED = Standing(municipality=A, reason=ChangeReason.RESIDENT_CODE_CHANGE_REQUEST, removed=True)
R = ChangeReason
ACCEPT, WAIT, REFUSE = Verdict.ACCEPT, Verdict.WAIT, Verdict.REFUSE


def _move_in_claim(town: str, moved_from: str = A, certificate: str = "c1") -> Claim:
    return Claim(CODE, town, R.DOMESTIC_MOVE_IN, moved_from=moved_from, certificate=certificate)


TABLE: list[tuple[str, Claim, Standing | None, dict[str, Any], Verdict]] = [
    ("the holder corrects", Claim(CODE, A, R.MOVE_WITHIN), HELD, {}, ACCEPT),
    ("the holder removes", Claim(CODE, A, R.DEATH), HELD, {}, ACCEPT),
    ("another town corrects", Claim(CODE, B, R.CLERICAL_ERROR_CORRECTION), HELD, {}, REFUSE),
    ("another town removes", Claim(CODE, C, R.DEATH), HELD, {}, REFUSE),
    ("a correction of an unknown code", Claim(CODE, A, R.MOVE_WITHIN), None, {}, REFUSE),
    ("the former holder corrects", Claim(CODE, A, R.MOVE_WITHIN), MOVED_OUT, {}, REFUSE),
    ("the dead are not corrected", Claim(CODE, A, R.MOVE_WITHIN), DEAD, {}, REFUSE),
    ("a replaced code, corrected", Claim(CODE, A, R.MOVE_WITHIN), REPLACED, {}, REFUSE),
    (
        "a replaced code, registered",
        Claim(CODE, B, R.MOVE_IN_FROM_ABROAD),
        REPLACED,
        {"national": True},
        REFUSE,
    ),
    ("a replaced code, born", Claim(CODE, B, R.BIRTH), REPLACED, {"national": True}, REFUSE),
    ("a birth at a prefecture", Claim(CODE, A, R.BIRTH), None, {}, WAIT),
    (
        "a birth, designated",
        Claim(CODE, A, R.BIRTH),
        None,
        {"national": True, "designated_to": A},
        ACCEPT,
    ),
    (
        "a birth, designated elsewhere",
        Claim(CODE, B, R.BIRTH),
        None,
        {"national": True, "designated_to": A},
        REFUSE,
    ),
    ("a birth, never designated", Claim(CODE, A, R.BIRTH), None, {"national": True}, REFUSE),
    ("a birth of a known code", Claim(CODE, B, R.BIRTH), DEAD, {"national": True}, REFUSE),
    ("a move-in at a prefecture", _move_in_claim(B), MOVED_OUT, {}, WAIT),
    ("a move-in after its move-out", _move_in_claim(B), MOVED_OUT, {"national": True}, ACCEPT),
    ("a move-in before its move-out", _move_in_claim(B), HELD, {"national": True}, WAIT),
    (
        "a move-in with another certificate",
        _move_in_claim(B, certificate="c2"),
        MOVED_OUT,
        {"national": True},
        WAIT,
    ),
    (
        "a move-in from another town",
        _move_in_claim(C, moved_from=B),
        MOVED_OUT,
        {"national": True},
        WAIT,
    ),
    (
        "a certificate used already",
        _move_in_claim(C),
        Standing(municipality=B, reason=R.DOMESTIC_MOVE_IN, removed=False),
        {"national": True, "certificate_used": True},
        REFUSE,
    ),
    (
        "an arrival while registered elsewhere",
        Claim(CODE, B, R.MOVE_IN_FROM_ABROAD),
        HELD,
        {"national": True},
        WAIT,
    ),
    (
        "an arrival after a move abroad",
        Claim(CODE, B, R.MOVE_IN_FROM_ABROAD),
        Standing(municipality=A, reason=R.MOVE_ABROAD, removed=True),
        {"national": True},
        ACCEPT,
    ),
    (
        "an arrival after a death elsewhere",
        Claim(CODE, B, R.MOVE_IN_FROM_ABROAD),
        DEAD,
        {"national": True},
        WAIT,
    ),
    (
        "the death cancelled where it was recorded",
        Claim(CODE, A, R.CANCELLATION_ENTRY),
        DEAD,
        {"national": True},
        ACCEPT,
    ),
    (
        "an arrival after a move-out elsewhere",
        Claim(CODE, B, R.MOVE_IN_FROM_ABROAD),
        MOVED_OUT,
        {"national": True},
        WAIT,
    ),
    (
        "the move-out cancelled where it was made",
        Claim(CODE, A, R.CANCELLATION_ENTRY),
        MOVED_OUT,
        {"national": True},
        ACCEPT,
    ),
    (
        "anything waits behind a pending notice",
        Claim(CODE, A, R.MOVE_WITHIN),
        HELD,
        {"waiting": True},
        WAIT,
    ),
]


@pytest.mark.parametrize(
    ("claim", "current", "options", "verdict"),
    [pytest.param(c, s, o, v, id=name) for name, c, s, o, v in TABLE],
)
def test_judge_table(
    claim: Claim, current: Standing | None, options: dict[str, Any], verdict: Verdict
) -> None:
    judgement = judge(claim, current, **options)
    assert judgement.verdict is verdict, judgement.why
    assert judgement.why


CODE_CHANGE = Claim(NEW, A, R.RESIDENT_CODE_CHANGE_REQUEST, previous_resident_code=CODE)
CODE_TABLE: list[tuple[str, Claim, Standing | None, Standing | None, dict[str, Any], Verdict]] = [
    ("by the holder", CODE_CHANGE, None, HELD, {"national": True, "designated_to": A}, ACCEPT),
    ("by the holder, at a prefecture", CODE_CHANGE, None, HELD, {}, WAIT),
    (
        "to a code designated elsewhere",
        CODE_CHANGE,
        None,
        HELD,
        {"national": True, "designated_to": B},
        REFUSE,
    ),
    (
        "by another town",
        attrs.evolve(CODE_CHANGE, municipality=B),
        None,
        HELD,
        {"national": True, "designated_to": B},
        REFUSE,
    ),
    ("of an unknown code", CODE_CHANGE, None, None, {"national": True, "designated_to": A}, REFUSE),
    ("to a code in use", CODE_CHANGE, DEAD, HELD, {"national": True, "designated_to": A}, REFUSE),
    ("to a replaced code", CODE_CHANGE, REPLACED, HELD, {"national": True}, REFUSE),
    ("of a replaced code", CODE_CHANGE, None, REPLACED, {"national": True}, REFUSE),
]


@pytest.mark.parametrize(
    ("claim", "current", "previous", "options", "verdict"),
    [pytest.param(c, s, p, o, v, id=name) for name, c, s, p, o, v in CODE_TABLE],
)
def test_judge_code_changes(
    claim: Claim,
    current: Standing | None,
    previous: Standing | None,
    options: dict[str, Any],
    verdict: Verdict,
) -> None:
    """住基法30条の4: the holder replaces a code with one designated to it (30条の2)."""
    judgement = judge(claim, current, previous, **options)
    assert judgement.verdict is verdict, judgement.why


_towns = st.sampled_from([A, B, C])
_reasons = st.sampled_from([r for r in ChangeReason if r.notifiable])
_certificates = st.sampled_from([None, "c1", "c2"])


@st.composite
def _standings(draw: st.DrawFn) -> Standing:
    reason = draw(_reasons)
    removed = reason.kind is ChangeKind.REMOVAL or (
        reason.changes_resident_code and draw(st.booleans())
    )
    certificate = draw(_certificates) if reason is R.DOMESTIC_MOVE_OUT else None
    return Standing(
        municipality=draw(_towns), reason=reason, removed=removed, certificate=certificate
    )


@st.composite
def _claims(draw: st.DrawFn) -> Claim:
    reason = draw(_reasons)
    town = draw(_towns)
    moved_from = draw(_towns.filter(lambda t: t != town)) if reason is R.DOMESTIC_MOVE_IN else None
    return Claim(
        NEW if reason.changes_resident_code else CODE,
        town,
        reason,
        previous_resident_code=CODE if reason.changes_resident_code else None,
        moved_from=moved_from,
        certificate=draw(_certificates.filter(lambda c: c is not None))
        if reason in (R.DOMESTIC_MOVE_IN, R.DOMESTIC_MOVE_OUT)
        else None,
    )


_options = st.fixed_dictionaries(
    {
        "waiting": st.booleans(),
        "national": st.booleans(),
        "designated_to": st.none() | _towns,
        "certificate_used": st.booleans(),
    }
)


@given(_claims(), st.none() | _standings(), st.none() | _standings(), _options)
def test_a_non_holder_never_changes_or_removes_a_person(
    claim: Claim,
    current: Standing | None,
    previous: Standing | None,
    options: dict[str, Any],
) -> None:
    """住基法30条の6: a 修正 or 消除 is accepted only from the municipality holding the
    person (for a code change: holding the replaced code)."""
    judgement = judge(claim, current, previous, **options)
    if judgement.verdict is not Verdict.ACCEPT:
        return
    if claim.reason.changes_resident_code:
        assert previous is not None
        assert previous.held_by(claim.municipality)
        assert current is None
    elif claim.reason.kind is not ChangeKind.ENTRY:
        assert current is not None
        assert current.held_by(claim.municipality)


@given(_claims(), st.none() | _standings(), st.none() | _standings(), _options)
def test_a_replaced_code_is_always_refused(
    claim: Claim,
    current: Standing | None,
    previous: Standing | None,
    options: dict[str, Any],
) -> None:
    """住基法30条の2第2項, 30条の4: whatever a notice claims about a replaced code, and
    whatever else holds, it is refused (never kept waiting for ever either, unless an
    earlier notice is pending)."""
    replaced = Standing(municipality=A, reason=R.RESIDENT_CODE_CHANGE_REQUEST, removed=True)
    judgement = judge(claim, replaced, previous, **options)
    if options["waiting"]:
        assert judgement.verdict is Verdict.WAIT
    else:
        assert judgement.verdict is Verdict.REFUSE
    if claim.reason.changes_resident_code:
        # replacing a replaced code, or with the replaced code as the new one
        assert judge(claim, current, replaced, **(options | {"waiting": False})).verdict is (
            Verdict.REFUSE
        )


@given(_claims(), st.none() | _standings(), st.none() | _standings(), _options)
def test_a_registration_is_accepted_only_by_the_centre(
    claim: Claim,
    current: Standing | None,
    previous: Standing | None,
    options: dict[str, Any],
) -> None:
    """Only the centre sees every municipality and every designation: a prefecture never
    accepts a new code or a person not registered with it; a registration somewhere
    while the person is registered elsewhere is never accepted (invariant 2)."""
    judgement = judge(claim, current, previous, **options)
    if judgement.verdict is not Verdict.ACCEPT:
        return
    held_here = current is not None and current.held_by(claim.municipality)
    if claim.reason.kind is ChangeKind.ENTRY and not held_here:
        assert options["national"]
        assert current is None or current.removed
        if claim.reason is R.DOMESTIC_MOVE_IN:
            assert current is not None
            assert current.reason is R.DOMESTIC_MOVE_OUT
            assert current.municipality == claim.moved_from
            assert current.certificate == claim.certificate
        if current is None:
            assert options["designated_to"] == claim.municipality
        elif current.municipality != claim.municipality:
            # nobody else registers the dead; a move-out is followed by its move-in only
            assert current.reason is not R.DEATH
            assert current.reason is not R.DOMESTIC_MOVE_OUT or claim.reason is R.DOMESTIC_MOVE_IN


@given(
    _claims().filter(lambda c: c.reason.kind is ChangeKind.ENTRY and c.municipality != A),
    st.sampled_from([DEAD, MOVED_OUT]),
    _options,
)
def test_after_a_death_or_a_move_out_only_the_move_in_follows_elsewhere(
    claim: Claim, current: Standing, options: dict[str, Any]
) -> None:
    """Nobody else registers the dead; after a domestic move-out the only registration
    elsewhere is the move-in with its certificate (住基法22条, 24条): a registration kept
    waiting can never take over the person once the removal arrives."""
    judgement = judge(claim, current, **options)
    if judgement.verdict is Verdict.ACCEPT:
        assert current == MOVED_OUT
        assert claim.reason is R.DOMESTIC_MOVE_IN
        assert (claim.moved_from, claim.certificate) == (A, "c1")


def test_an_arrival_held_since_before_the_departure_never_follows_it(scene: Scene) -> None:
    """大阪市北区 registers an arrival from abroad under the code of 千代田区's resident
    while he still lives there: the centre holds it. When he later leaves for abroad
    (国外転出), the held arrival, dated before his departure, cannot be his return:
    it is refused, and his real return, dated after, is applied (invariants 2, 3)."""
    country, victim = scene.country, scene.victim
    code = victim.resident_code
    _arrival(country, OSAKA_KITA, code)
    country.network.settle()
    assert country.stores[CENTER].pending.count() == 1
    country.clock.advance(days=10)
    chiyoda = country.municipality(CHIYODA)
    chiyoda.move_abroad(code, departed_on=country.clock.today(), destination="アメリカ合衆国")
    country.network.settle()
    _nothing_pending(country)
    for node in (TOKYO, OSAKA, CENTER):
        assert [r.reason for r in _history(country, node, code)] == (
            ["birth", "move_abroad"] if node != OSAKA else []
        )
    (heard,) = country.municipality(OSAKA_KITA).cs.refused_notices()
    assert (heard.resident_code, heard.reason) == (code.value, "move_in_from_abroad")
    assert "before the departure" in heard.why
    country.clock.advance(days=30)
    record = chiyoda.resident(code)
    chiyoda.register_arrival(
        name=record.name,
        birth_date=record.birth_date,
        sex=record.sex,
        household=record.household,
        address="千代田2丁目2番2号",
        arrived_on=country.clock.today(),
        previous_address="アメリカ合衆国",
        family_register=record.family_register,
        resident_code=code,
    )
    country.network.settle()
    _nothing_pending(country)
    for node in (TOKYO, CENTER):
        assert [r.reason for r in _history(country, node, code)][-1] == "move_in_from_abroad"
    _agree(country, CHIYODA)


class _Peek(Exception):
    """Leaves a unit of work without committing it."""


def test_an_arrival_with_a_code_of_the_towns_own_pool_uses_it_up(scene: Scene) -> None:
    """The counter gives an arriving person a code from its own designation (30条の2):
    the code is used up, so no later birth receives it (30条の2第2項) and births go
    on with the other codes."""
    country = scene.country
    town = country.municipality(CHIYODA)
    pool = town.store.code_pool
    chosen: str | None = None
    with contextlib.suppress(_Peek), town.store.unit_of_work() as uow:
        chosen = pool.allocate(uow, CHIYODA)  # a code the counter picks from its pool …
        raise _Peek  # … without using it yet (the unit of work rolls back)
    assert chosen is not None
    left = pool.available(CHIYODA)
    _arrival(country, CHIYODA, ResidentCode(chosen))
    assert pool.available(CHIYODA) == left - 1
    births = [_birth(country, CHIYODA, given) for given in ("次郎", "三郎")]
    assert chosen not in {b.resident_code.value for b in births}
    country.network.settle()
    _nothing_pending(country)
    for code in (chosen, *(b.resident_code.value for b in births)):
        row = country.stores[CENTER].identities.current(code)
        assert row is not None
        assert row.municipality == CHIYODA
