"""Disaster recovery: the upper tiers are the municipalities' backup (住基法30条の6第3項, 30条の7).

A municipality that lost its storage restores its identity information and its
links from its prefecture's and the centre's signed packages, remakes its
register (再製, 住基法施行令16条), and carries on: its next notices are neither
taken for duplicates nor lost, and the centre's designations reach it again.
Runs on every storage adapter.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import attrs
import pytest

from jukinet.domain import resident_code
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
    BadSignature,
    InvalidComponent,
    InvalidState,
    Misaddressed,
    NotFound,
    TamperingDetected,
)
from jukinet.storage.base import Store
from jukinet.storage.records import IdentityRow
from jukinet.testing import conformance
from jukinet.testing.country import Country, StoreFactory, build_country
from jukinet.tiers import reconcile, restore, wire
from jukinet.tiers.messages import CENTER, Envelope, NodeId

CHIYODA, CHUO, OSAKA_KITA = "131016", "131024", "271276"
TOKYO = NodeId.prefecture("13")
LOST = NodeId.municipality(CHIYODA)


def _name(given: str) -> PersonName:
    return PersonName(family="山田", given=given, family_reading="ヤマダ", given_reading="タロウ")


def _birth(country: Country, town: str, given: str) -> ResidentRecord:
    return country.municipality(town).register_birth(
        name=_name(given),
        birth_date=date(2026, 3, 1),
        sex=Sex.MALE,
        household=HouseholdMembership(household_id=f"H{given}", relationship=HEAD_OF_HOUSEHOLD),
        address="千代田1丁目1番1号",
        family_register=FamilyRegister(domicile="東京都千代田区千代田1番", head="山田 一郎"),
    )


@attrs.define
class Disaster:
    """A country in which 千代田区 lived a while, then lost its storage."""

    country: Country
    records: dict[str, ResidentRecord]  # the register as it stood, by resident code
    packages: list[Envelope]


def _live_then_lose(factory: StoreFactory) -> Disaster:
    country = build_country(factory, [CHIYODA, CHUO, OSAKA_KITA], seed=5)
    network = country.network
    network.settle()
    town = country.municipality(CHIYODA)
    a = _birth(country, CHIYODA, "一郎")
    b = _birth(country, CHIYODA, "二郎")
    c = _birth(country, CHIYODA, "三郎")
    d = _birth(country, CHUO, "四郎")
    country.clock.advance(days=10)
    today = country.clock.today()
    town.move_within(a.resident_code, address="千代田2丁目2番2号", moved_on=today)
    b = town.change_resident_code(b.resident_code, requested_on=today)  # 住基法30条の4
    town.record_death(c.resident_code, died_on=today)
    certificate = country.municipality(CHUO).move_out(
        d.resident_code, planned_date=today, destination="千代田区"
    )
    d = town.register_move_in(
        certificate,
        address="千代田3丁目3番3号",
        household=HouseholdMembership(household_id="H4", relationship=HEAD_OF_HOUSEHOLD),
        moved_in_on=today,
    )
    network.settle()
    records = {r.resident_code.value: town.resident(r.resident_code) for r in (a, b, d)}
    # The centre designated more codes that 千代田区 applied before the disaster.
    country.center.designate_codes(CHIYODA, 5)
    network.settle()

    # A correction request (30条の35) travels on the prefecture's link to 千代田区.
    country.prefecture("13").provision.file_correction(
        a.resident_code, request_id="fix-before", details="住所の誤記"
    )
    network.settle()
    # The disaster: 千代田区's storage is gone; a new, empty one replaces it.
    packages = country.prefecture("13").restore_package(CHIYODA)
    packages += country.center.restore_package(CHIYODA)
    country.network.crash(LOST)
    country.stores[LOST] = factory(LOST)
    country.restart(LOST)
    return Disaster(country, records, packages)


def _restored_versions(store: Store, codes: list[str]) -> dict[str, list[bytes]]:
    return {code: [row.payload for row in store.identities.history(code)] for code in codes}


def test_a_municipality_restores_remakes_and_carries_on(store_factory: StoreFactory) -> None:
    disaster = _live_then_lose(store_factory)
    country = disaster.country
    town = country.municipality(CHIYODA)
    report = town.restore(disaster.packages)

    tokyo = country.stores[TOKYO]
    # Identity information, version for version, as the prefecture holds it.
    codes = [row.resident_code for row in tokyo.identities.scan(municipality=CHIYODA)]
    assert report.codes == len(codes) == 5  # 3 born + 1 moved in + the replaced code
    assert report.registered == 3  # the dead and the replaced code are not
    assert _restored_versions(town.store, codes) == {
        code: [
            row.payload
            for row in tokyo.identities.history(code)
            if row.version <= _newest_here(tokyo, code).version
        ]
        for code in codes
    }
    assert report.prefecture_link == tokyo.tracking.position(str(LOST))
    assert report.center_link == country.stores[CENTER].outbox.acknowledged(str(LOST))

    # Remake the register (再製): the caller brings the items the upper tiers lack.
    waiting = town.to_remake()
    assert sorted(info.resident_code.value for info in waiting) == sorted(disaster.records)
    for record in disaster.records.values():
        town.remake(record)
    assert town.to_remake() == []
    country.network.settle()
    for code, record in disaster.records.items():
        assert town.resident(record.resident_code) == record
        newest = _newest_here(tokyo, code)
        assert newest.reason == "recreation_entry"
    below = reconcile.snapshot_of_entries(CHIYODA, town.register_entries())
    for node in (TOKYO, CENTER):
        above = reconcile.snapshot_of_store(country.stores[node], CHIYODA)
        assert not reconcile.compare(below, above)

    # The links carry on: fresh codes arrive, a birth reaches both tiers.
    assert town.store.code_pool.available(CHIYODA) == 0
    country.center.designate_codes(CHIYODA, 3)
    country.network.settle()
    assert town.store.code_pool.available(CHIYODA) == 3
    baby = _birth(country, CHIYODA, "五郎")
    country.network.settle()
    for node in (TOKYO, CENTER):
        row = country.stores[node].identities.current(baby.resident_code.value)
        assert row is not None
        assert row.municipality == CHIYODA
    # The prefecture's link to 千代田区 carries on too.
    assert report.from_prefecture == tokyo.outbox.acknowledged(str(LOST)) == 1
    country.prefecture("13").provision.file_correction(
        baby.resident_code, request_id="fix-after", details="氏名の誤記"
    )
    country.network.settle()
    assert [m.request_id for m in town.cs.corrections()] == ["fix-after"]
    assert town.health().backlog == 0
    assert country.prefecture("13").health().refusals == ()


def _newest_here(store: Store, code: str) -> IdentityRow:
    rows = [r for r in store.identities.history(code) if r.municipality == CHIYODA]
    return rows[-1]


def _unchanged(disaster: Disaster, attempt: Callable[[], object], error: type[Exception]) -> None:
    store = disaster.country.stores[LOST]
    before = conformance.snapshot(store, municipalities=[CHIYODA], audit=False)
    with pytest.raises(error):
        attempt()
    assert conformance.snapshot(store, municipalities=[CHIYODA], audit=False) == before


def test_both_packages_are_needed(store_factory: StoreFactory) -> None:
    disaster = _live_then_lose(store_factory)
    town = disaster.country.municipality(CHIYODA)
    from_prefecture = [e for e in disaster.packages if e.sender == TOKYO]
    from_center = [e for e in disaster.packages if e.sender == CENTER]
    _unchanged(disaster, lambda: town.restore(from_prefecture), InvalidComponent)
    _unchanged(disaster, lambda: town.restore(from_center), InvalidComponent)


def test_a_missing_or_repeated_part_is_refused(store_factory: StoreFactory) -> None:
    disaster = _live_then_lose(store_factory)
    country = disaster.country
    town = country.municipality(CHIYODA)
    # Small parts: one version per envelope.
    prefecture = restore.seal_package(
        country.keys[TOKYO],
        LOST,
        restore.identity_versions(country.stores[TOKYO].identities, CHIYODA),
        applied=country.stores[TOKYO].tracking.position(str(LOST)),
        confirmed=country.stores[TOKYO].outbox.acknowledged(str(LOST)),
        now=country.clock.now(),
        batch=1,
    )
    center = [e for e in disaster.packages if e.sender == CENTER]
    assert len(prefecture) > 2
    _unchanged(disaster, lambda: town.restore(prefecture[1:] + center), InvalidComponent)
    _unchanged(
        disaster, lambda: town.restore([*prefecture, prefecture[0], *center]), InvalidComponent
    )
    assert town.restore(prefecture + center).codes == 5


def test_an_altered_package_is_refused(store_factory: StoreFactory) -> None:
    disaster = _live_then_lose(store_factory)
    town = disaster.country.municipality(CHIYODA)
    first = disaster.packages[0]
    altered = attrs.evolve(first, payloads=(*first.payloads[:-1], first.payloads[-2]))
    _unchanged(disaster, lambda: town.restore([altered, *disaster.packages[1:]]), BadSignature)


def test_packages_that_disagree_are_refused(store_factory: StoreFactory) -> None:
    """A version both tiers hold must be the same bytes; a forged history is refused."""
    disaster = _live_then_lose(store_factory)
    country = disaster.country
    town = country.municipality(CHIYODA)
    rows = restore.identity_versions(country.stores[CENTER].identities, CHIYODA)
    multi = next(r.resident_code for r in rows if r.version == 2)
    first, second = (r for r in rows if r.resident_code == multi and r.version <= 2)
    swapped = [
        attrs.evolve(r, payload=second.payload)
        if r == first
        else attrs.evolve(r, payload=first.payload)
        if r == second
        else r
        for r in rows
    ]
    forged = restore.seal_package(
        country.keys[CENTER],
        LOST,
        swapped,
        applied=0,
        confirmed=country.stores[CENTER].outbox.acknowledged(str(LOST)),
        now=country.clock.now(),
        batch=1000,
    )
    from_prefecture = [e for e in disaster.packages if e.sender == TOKYO]
    _unchanged(disaster, lambda: town.restore(from_prefecture + forged), TamperingDetected)
    # A history may start above 1 (the oldest versions expired, 令30条の6・30条の7), but
    # never skips one: version 2 filed as version 3.
    gap = restore.seal_package(
        country.keys[CENTER],
        LOST,
        [attrs.evolve(r, version=3) if r == second else r for r in rows],
        applied=0,
        confirmed=0,
        now=country.clock.now(),
        batch=1000,
    )
    _unchanged(disaster, lambda: town.restore(from_prefecture + gap), TamperingDetected)


def test_only_the_own_prefecture_and_the_centre_back_a_municipality_up(
    store_factory: StoreFactory,
) -> None:
    disaster = _live_then_lose(store_factory)
    country = disaster.country
    with pytest.raises(Misaddressed):
        country.prefecture("27").restore_package(CHIYODA)
    osaka = country.prefecture("27").restore_package(OSAKA_KITA)
    town = country.municipality(CHIYODA)
    # A package for another municipality is addressed to it, not to 千代田区.
    _unchanged(disaster, lambda: town.restore([*disaster.packages, *osaka]), Misaddressed)


def test_restoring_never_overwrites(store_factory: StoreFactory) -> None:
    disaster = _live_then_lose(store_factory)
    town = disaster.country.municipality(CHIYODA)
    town.restore(disaster.packages)
    _unchanged(disaster, lambda: town.restore(disaster.packages), InvalidState)


def test_remake_checks_the_identity_items(store_factory: StoreFactory) -> None:
    """再製 (令16条) takes household and domicile from the caller, identity from the backup."""
    disaster = _live_then_lose(store_factory)
    town = disaster.country.municipality(CHIYODA)
    town.restore(disaster.packages)
    record = next(iter(disaster.records.values()))
    wrong = attrs.evolve(record, name=_name("別人"))
    _unchanged(disaster, lambda: town.remake(wrong), InvalidComponent)
    stranger = attrs.evolve(record, resident_code=_unknown_code(disaster))
    _unchanged(disaster, lambda: town.remake(stranger), NotFound)
    town.remake(record)
    _unchanged(disaster, lambda: town.remake(record), InvalidState)


def _unknown_code(disaster: Disaster) -> ResidentCode:
    pool = disaster.country.stores[CENTER].code_pool
    body = "1234567890"
    code = ResidentCode(body + resident_code.calc_check_digit(body))
    assert not pool.is_designated(code.value)
    return code


def test_a_restore_package_is_an_unsequenced_signed_envelope(store_factory: StoreFactory) -> None:
    disaster = _live_then_lose(store_factory)
    for envelope in disaster.packages:
        assert envelope.payload_type == wire.RESTORE
        assert envelope.recipient == LOST
        header = wire.parse_restore_header(envelope.payloads[0])
        assert header.municipality == CHIYODA
        assert header.source == str(envelope.sender)


def test_a_node_that_lost_its_storage_is_reported_not_resent_forever(
    store_factory: StoreFactory,
) -> None:
    """Without a restore the lost municipality answers the centre with a gap below what it
    had confirmed: the centre records the refusal for the call centre (コールセンター)."""
    disaster = _live_then_lose(store_factory)
    country = disaster.country
    country.center.designate_codes(CHIYODA, 2)
    for _ in range(5):  # it would never settle: the centre resends what is unconfirmed
        country.network.round()
    assert country.municipality(CHIYODA).store.code_pool.available(CHIYODA) == 0
    reasons = [r.reason for r in country.center.health().refusals if r.sender == str(LOST)]
    assert reasons
    assert "lost applied messages" in reasons[-1]
