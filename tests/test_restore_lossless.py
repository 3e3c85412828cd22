"""A restore from the upper tiers is lossless and never reissues a code (issue 10).

The prefecture and the centre are the municipalities' backup (住基法30条の6第3項,
30条の7). Three findings of issue 10, each reproduced here on every adapter:

1. a resident who moved in from another prefecture has different version numbers
   at the prefecture (which holds the person from the move-in) and at the centre
   (which holds the whole history): the packages are cross-checked by content, the
   notices both tiers hold in the same order, not by version number;
2. a designation whose acknowledgement was lost before the disaster was sent again
   after the restore and put codes already in use back into the pool (a code
   belongs to one person for ever, 30条の2第2項, 30条の3): the restore withdraws
   those codes and later births get fresh ones;
3. removed records (除票: moved out, died) that the upper tiers still hold are
   remade as removed records, as the register held them (the register keeps them
   too: 住基法15条の2, 令34条1項).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import attrs
import pytest

from jukinet.domain import codec
from jukinet.domain.names import PersonName
from jukinet.domain.resident import (
    HEAD_OF_HOUSEHOLD,
    FamilyRegister,
    HouseholdMembership,
    RecordStatus,
    ResidentRecord,
    Sex,
)
from jukinet.domain.resident_code import ResidentCode
from jukinet.errors import InvalidComponent, InvalidState, Misaddressed, TamperingDetected
from jukinet.storage.base import Store
from jukinet.testing import conformance
from jukinet.testing.country import Country, StoreFactory, build_country
from jukinet.tiers import reconcile, restore, wire
from jukinet.tiers.messages import CENTER, Envelope, NodeId

CHIYODA, CHUO, OSAKA_KITA = "131016", "131024", "271276"
TOKYO = NodeId.prefecture("13")
OSAKA = NodeId.prefecture("27")
LOST = NodeId.municipality(CHIYODA)


def _household(given: str) -> HouseholdMembership:
    return HouseholdMembership(household_id=f"H{given}", relationship=HEAD_OF_HOUSEHOLD)


def _birth(country: Country, town: str, given: str) -> ResidentRecord:
    return country.municipality(town).register_birth(
        name=PersonName(
            family="山田", given=given, family_reading="ヤマダ", given_reading="タロウ"
        ),
        birth_date=date(2026, 3, 1),
        sex=Sex.MALE,
        household=_household(given),
        address="1丁目1番1号",
        family_register=FamilyRegister(domicile="東京都千代田区千代田1番", head="山田 一郎"),
    )


def _move(country: Country, code: ResidentCode, source: str, target: str) -> ResidentRecord:
    """A domestic move (国内転出 then 国内転入, 住基法24条, 22条) on the clock's today."""
    today = country.clock.today()
    certificate = country.municipality(source).move_out(
        code, planned_date=today, destination=target
    )
    return country.municipality(target).register_move_in(
        certificate, address="2丁目2番2号", household=_household(code.value), moved_in_on=today
    )


def _lose(country: Country, factory: StoreFactory) -> list[Envelope]:
    """The two restore packages of 千代田区, which then loses its storage."""
    packages = country.prefecture("13").restore_package(CHIYODA)
    packages += country.center.restore_package(CHIYODA)
    country.network.crash(LOST)
    country.stores[LOST] = factory(LOST)
    country.restart(LOST)
    return packages


def _payloads(store: Store, code: ResidentCode) -> list[tuple[int, bytes]]:
    return [(row.version, row.payload) for row in store.identities.history(code.value)]


def _agrees(country: Country) -> None:
    """The register and both tiers reconcile; nothing waits at the prefecture; the
    municipality's notices were all taken and none refused."""
    town = country.municipality(CHIYODA)
    below = reconcile.snapshot_of_entries(CHIYODA, town.register_entries())
    for node in (TOKYO, CENTER):
        above = reconcile.snapshot_of_store(country.stores[node], CHIYODA)
        assert not reconcile.compare(below, above)
    assert country.prefecture("13").pending_notices() == 0
    assert town.health().backlog == 0
    assert town.cs.refused_notices() == []


def _newest(store: Store, code: ResidentCode) -> tuple[str, str]:
    row = store.identities.current(code.value)
    assert row is not None
    return row.municipality, row.reason


# --- 1. a resident from another prefecture ------------------------------------------


@attrs.define
class _Moved:
    country: Country
    from_osaka: ResidentRecord  # born in 大阪市北区, moved to 千代田区
    round_trip: ResidentRecord  # born in 千代田区, to 大阪市北区 and back
    left: ResidentRecord  # born in 千代田区, moved to 大阪市北区 (a 除票 here)


def _moved(factory: StoreFactory) -> _Moved:
    country = build_country(factory, [CHIYODA, CHUO, OSAKA_KITA], seed=21)
    country.network.settle()
    ichiro = _birth(country, OSAKA_KITA, "一郎")
    jiro = _birth(country, CHIYODA, "二郎")
    saburo = _birth(country, CHIYODA, "三郎")
    country.network.settle()
    country.clock.advance(days=3)
    ichiro = _move(country, ichiro.resident_code, OSAKA_KITA, CHIYODA)
    _move(country, jiro.resident_code, CHIYODA, OSAKA_KITA)
    _move(country, saburo.resident_code, CHIYODA, OSAKA_KITA)
    country.network.settle()
    country.clock.advance(days=3)
    jiro = _move(country, jiro.resident_code, OSAKA_KITA, CHIYODA)
    country.network.settle()
    saburo = country.municipality(CHIYODA).resident(saburo.resident_code)
    return _Moved(country, ichiro, jiro, saburo)


def test_a_resident_from_another_prefecture_is_restored(store_factory: StoreFactory) -> None:
    moved = _moved(store_factory)
    country = moved.country
    tokyo, center = country.stores[TOKYO], country.stores[CENTER]
    ichiro, jiro = moved.from_osaka.resident_code, moved.round_trip.resident_code
    # The premise of the finding: the two tiers number these versions differently.
    assert [v for v, _ in _payloads(tokyo, ichiro)] == [1]
    assert [v for v, _ in _payloads(center, ichiro)] == [1, 2, 3]
    assert [v for v, _ in _payloads(tokyo, jiro)] == [1, 2, 3]
    assert [v for v, _ in _payloads(center, jiro)] == [1, 2, 3, 4, 5]
    records = {
        r.resident_code: country.municipality(CHIYODA).resident(r.resident_code)
        for r in (moved.from_osaka, moved.round_trip, moved.left)
    }

    town_packages = _lose(country, store_factory)
    town = country.municipality(CHIYODA)
    report = town.restore(town_packages)
    assert (report.codes, report.registered, report.removed) == (3, 2, 1)
    # The restored copy is the centre's history, in its numbering, up to the newest
    # notice from 千代田区 (三郎's move-in at 大阪市北区 is not 千代田区's).
    for code in (ichiro, jiro):
        assert _payloads(town.store, code) == _payloads(center, code)
    assert (
        _payloads(town.store, moved.left.resident_code)
        == (_payloads(center, moved.left.resident_code)[:2])
    )

    for record in records.values():
        town.remake(record)
    assert town.to_remake() == []
    assert town.to_remake(removed=True) == []
    country.network.settle()
    _agrees(country)
    # The next notices about them are the holder's and are accepted at both tiers.
    town.move_within(ichiro, address="3丁目3番3号", moved_on=country.clock.today())
    country.network.settle()
    for node in (TOKYO, CENTER):
        assert _newest(country.stores[node], ichiro) == (CHIYODA, "move_within")
    assert [v for v, _ in _payloads(center, ichiro)] == [1, 2, 3, 4, 5]  # + 再製, 転居
    _agrees(country)


def test_notices_from_the_prefecture_that_differ_are_refused(store_factory: StoreFactory) -> None:
    """Content, not numbers: the same notices, in another order, are refused."""
    moved = _moved(store_factory)
    country = moved.country
    town = country.municipality(CHIYODA)
    ichiro = moved.from_osaka.resident_code
    town.move_within(ichiro, address="3丁目3番3号", moved_on=country.clock.today())
    country.network.settle()
    tokyo = country.stores[TOKYO]
    rows = restore.identity_versions(tokyo.identities, CHIYODA)
    first, second = (r for r in rows if r.resident_code == ichiro.value)
    swapped = [
        attrs.evolve(r, payload=second.payload)
        if r == first
        else attrs.evolve(r, payload=first.payload)
        if r == second
        else r
        for r in rows
    ]
    forged = restore.seal_package(
        country.keys[TOKYO],
        LOST,
        swapped,
        applied=tokyo.tracking.position(str(LOST)),
        confirmed=tokyo.outbox.acknowledged(str(LOST)),
        now=country.clock.now(),
        batch=1000,
    )
    packages = _lose(country, store_factory)
    from_center = [e for e in packages if e.sender == CENTER]
    town = country.municipality(CHIYODA)
    _unchanged(country, lambda: town.restore(forged + from_center), TamperingDetected)
    assert town.restore(packages).codes == 3


def _unchanged(country: Country, attempt: Callable[[], object], error: type[Exception]) -> None:
    store = country.stores[LOST]
    before = conformance.snapshot(store, municipalities=[CHIYODA], audit=False)
    with pytest.raises(error):
        attempt()
    assert conformance.snapshot(store, municipalities=[CHIYODA], audit=False) == before


def _deliver(country: Country, sender: NodeId, recipient: NodeId) -> None:
    """Deliver by hand what ``sender`` has for ``recipient``; the answers are lost."""
    source, target = country.network.node(sender), country.network.node(recipient)
    for envelope in source.outgoing():
        if envelope.recipient == recipient:
            target.receive(envelope)


def test_what_one_tier_has_not_passed_on_yet_is_restored(store_factory: StoreFactory) -> None:
    """One tier may hold newer notices than the other: the centre a registration it
    confirmed that has not come back to the prefecture yet, the prefecture a change
    it has not forwarded yet. The restored copy holds both, numbered as the centre
    numbers them once they arrive."""
    moved = _moved(store_factory)
    country = moved.country
    town = country.municipality(CHIYODA)
    tokyo, center = country.stores[TOKYO], country.stores[CENTER]
    baby = _birth(country, CHIYODA, "四郎")
    _deliver(country, LOST, TOKYO)  # the prefecture refers the birth to the centre …
    _deliver(country, TOKYO, CENTER)  # … which applies it; its word does not come back
    ichiro = moved.from_osaka.resident_code
    town.move_within(ichiro, address="3丁目3番3号", moved_on=country.clock.today())
    _deliver(country, LOST, TOKYO)  # the prefecture applies the move, not forwarded
    assert tokyo.identities.current(baby.resident_code.value) is None
    assert tokyo.pending.count() == 1
    assert _newest(center, baby.resident_code) == (CHIYODA, "birth")
    assert _reasons(tokyo, ichiro) == ["domestic_move_in", "move_within"]
    assert _reasons(center, ichiro) == ["birth", "domestic_move_out", "domestic_move_in"]
    records = [
        town.resident(code) for code in (ichiro, baby.resident_code, moved.round_trip.resident_code)
    ]

    packages = _lose(country, store_factory)
    town = country.municipality(CHIYODA)
    report = town.restore(packages)
    assert (report.registered, report.removed) == (3, 1)  # 一郎, 二郎, the baby; 三郎
    restored = _payloads(town.store, ichiro)
    assert restored == [*_payloads(center, ichiro), (4, _payloads(tokyo, ichiro)[-1][1])]
    assert _payloads(town.store, baby.resident_code) == _payloads(center, baby.resident_code)
    country.network.settle()  # the move reaches the centre, the birth the prefecture
    assert _payloads(center, ichiro) == restored
    assert _newest(tokyo, baby.resident_code) == (CHIYODA, "birth")
    for record in [*records, moved.left]:
        town.remake(record)
    country.network.settle()
    _agrees(country)


def _reasons(store: Store, code: ResidentCode) -> list[str]:
    return [row.reason for row in store.identities.history(code.value)]


def test_versions_only_the_prefecture_still_keeps_are_restored(
    store_factory: StoreFactory,
) -> None:
    """The centre expired 一郎's birth (令30条の6・30条の7: 150 years after the next
    notice arrived), the prefecture not yet: the restored history starts with it."""
    country = build_country(store_factory, [CHIYODA, OSAKA_KITA], seed=23)
    country.network.settle()
    ichiro = _birth(country, CHIYODA, "一郎")
    country.network.settle()
    country.clock.advance(days=10)
    town = country.municipality(CHIYODA)
    town.move_within(ichiro.resident_code, address="2丁目", moved_on=country.clock.today())
    country.network.settle()
    record = town.resident(ichiro.resident_code)
    country.clock.advance(days=(date(2176, 4, 12) - country.clock.today()).days)
    assert country.center.expire_history() == 1
    tokyo, center = country.stores[TOKYO], country.stores[CENTER]
    assert [v for v, _ in _payloads(center, ichiro.resident_code)] == [2]

    packages = _lose(country, store_factory)
    town = country.municipality(CHIYODA)
    town.restore(packages)
    assert _payloads(town.store, ichiro.resident_code) == _payloads(tokyo, ichiro.resident_code)
    town.remake(record)
    country.network.settle()
    _agrees(country)


# --- 2. a lost acknowledgement of a designation ----------------------------------------


@attrs.define
class _AcknowledgementsLost:
    """千代田区 as the network sees it while every acknowledgement to or from it is lost."""

    town: object

    @property
    def node_id(self) -> NodeId:
        return LOST

    def outgoing(self) -> list[Envelope]:
        return self.town.outgoing()  # type: ignore[attr-defined, no-any-return]

    def receive(self, envelope: Envelope) -> list[Envelope]:
        if envelope.payload_type == wire.ACK:
            return []  # an acknowledgement to 千代田区, lost
        self.town.receive(envelope)  # type: ignore[attr-defined]
        return []  # its acknowledgement, lost


class _Rollback(Exception):
    pass


def _available_codes(store: Store) -> set[str]:
    """Every code the pool would still hand out (drawn in a unit of work undone)."""
    drawn: set[str] = set()

    def draw() -> None:
        with store.unit_of_work() as uow:
            while (code := store.code_pool.allocate(uow, CHIYODA)) is not None:
                drawn.add(code)
            raise _Rollback

    with pytest.raises(_Rollback):
        draw()
    return drawn


def _codes_in_use(country: Country) -> set[str]:
    """Every code an upper tier holds identity information under (any municipality),
    and every code in 千代田区's register."""
    used: set[str] = set()
    for node in (TOKYO, CENTER):
        store = country.stores[node]
        after: str | None = None
        while rows := store.identities.scan(after=after, limit=1000):
            for row in rows:
                used.update(r.resident_code for r in store.identities.history(row.resident_code))
            after = rows[-1].resident_code
    register = country.stores[LOST].register
    after = None
    while people := register.scan(after=after, limit=1000):
        for person in people:
            used.update(r.resident_code for r in register.history(person.internal_id))
        after = people[-1].internal_id
    return used


def test_a_lost_acknowledgement_never_puts_used_codes_back(store_factory: StoreFactory) -> None:
    """住基法30条の2第2項, 30条の3: a code is given to one person for ever. 千代田区 took the
    centre's designation and used its codes, but its acknowledgements were lost; after
    the restore the centre sends the designation again. It must not be taken as fresh."""
    country = build_country(store_factory, [CHIYODA, CHUO], seed=25, codes_per_municipality=6)
    network = country.network
    network.add(_AcknowledgementsLost(country.municipality(CHIYODA)))
    for _ in range(3):
        network.round()
    town = country.municipality(CHIYODA)
    people = [_birth(country, CHIYODA, given) for given in ("一郎", "二郎", "三郎", "四郎")]
    today = country.clock.today()
    town.record_death(people[1].resident_code, died_on=today)
    people[2] = town.change_resident_code(people[2].resident_code, requested_on=today)
    for _ in range(12):  # births, death and code change reach both tiers; no ack returns
        network.round()
    center = country.stores[CENTER]
    assert center.outbox.acknowledged(str(LOST)) == 0  # the designation is unconfirmed
    for person in people:
        assert center.identities.current(person.resident_code.value) is not None
    assert town.store.code_pool.available(CHIYODA) == 1
    records = [town.resident(p.resident_code) for p in people]

    packages = _lose(country, store_factory)
    town = country.municipality(CHIYODA)
    report = town.restore(packages)
    assert report.withdrawn == 6  # the whole unconfirmed designation
    assert report.center_link == 0
    for record in records:
        town.remake(record)
    assert _available_codes(town.store) == set()
    network.settle()  # the centre sends the designation again: taken as applied
    assert center.outbox.acknowledged(str(LOST)) == center.outbox.last_seq(str(LOST))
    assert _available_codes(town.store) == set()
    _agrees(country)

    in_use = _codes_in_use(country)
    country.center.designate_codes(CHIYODA, 3)
    network.settle()
    fresh = _available_codes(town.store)
    assert len(fresh) == 3
    assert not fresh & in_use
    later = [_birth(country, CHIYODA, given) for given in ("五郎", "六郎", "七郎")]
    network.settle()
    codes = [p.resident_code.value for p in later]
    assert set(codes) == fresh
    for code in codes:
        for node in (TOKYO, CENTER):
            row = country.stores[node].identities.current(code)
            assert row is not None
            assert (row.municipality, row.reason) == (CHIYODA, "birth")
    assert country.center.health().refusals == ()
    _agrees(country)


def test_a_designation_after_the_package_is_taken(store_factory: StoreFactory) -> None:
    """Only what the centre sent before the package is withdrawn: a designation made
    between the package and the restore reaches the restored municipality."""
    country = build_country(store_factory, [CHIYODA], seed=27, codes_per_municipality=2)
    country.network.settle()
    packages = _lose(country, store_factory)
    country.center.designate_codes(CHIYODA, 4)
    town = country.municipality(CHIYODA)
    assert town.restore(packages).withdrawn == 0
    country.network.settle()
    assert town.store.code_pool.available(CHIYODA) == 4


# --- 3. removed records (除票) ------------------------------------------------------------


@attrs.define
class _Removed:
    country: Country
    registered: ResidentRecord
    dead: ResidentRecord
    left: ResidentRecord  # moved to 大阪市北区
    abroad: ResidentRecord
    packages: list[Envelope]


def _removed(factory: StoreFactory) -> _Removed:
    country = build_country(factory, [CHIYODA, OSAKA_KITA], seed=29)
    country.network.settle()
    town = country.municipality(CHIYODA)
    people = [_birth(country, CHIYODA, given) for given in ("一郎", "二郎", "三郎", "四郎")]
    country.network.settle()
    country.clock.advance(days=5)
    today = country.clock.today()
    dead = town.record_death(people[1].resident_code, died_on=today - timedelta(days=1))
    _move(country, people[2].resident_code, CHIYODA, OSAKA_KITA)
    abroad = town.move_abroad(people[3].resident_code, departed_on=today, destination="フランス")
    country.network.settle()
    left = town.resident(people[2].resident_code)
    packages = _lose(country, factory)
    return _Removed(country, people[0], dead, left, abroad, packages)


def test_removed_records_are_remade_as_the_register_held_them(
    store_factory: StoreFactory,
) -> None:
    removed = _removed(store_factory)
    country = removed.country
    town = country.municipality(CHIYODA)
    report = town.restore(removed.packages)
    assert (report.registered, report.removed) == (1, 3)
    gone = [removed.dead, removed.left, removed.abroad]
    waiting = town.to_remake(removed=True)
    assert [info.resident_code for info in waiting] == sorted(r.resident_code for r in gone)
    for info in waiting:
        (record,) = (r for r in gone if r.resident_code == info.resident_code)
        assert info.address == record.address  # as it stood at the removal
    assert [info.resident_code for info in town.to_remake()] == [removed.registered.resident_code]

    audit = town.store.audit.last_seq()
    for record in [removed.registered, *gone]:
        assert town.remake(record) == record
    for record in gone:
        assert record.status is RecordStatus.REMOVED
        assert town.resident(record.resident_code) == record  # the 除票, removal and all
        history = town.history(record.resident_code)
        assert record.removal is not None
        assert [v.reason for v in history.versions] == [
            history.versions[0].reason,
            record.removal.reason,
        ]
        assert history.versions[0].reason.value == "recreation_entry"
        # The register's newest notice is what the tiers hold: they reconcile.
        notice = town.latest_notice(record.resident_code)
        assert notice is not None
        for node in (TOKYO, CENTER):
            rows = country.stores[node].identities.history(record.resident_code.value)
            here = [r for r in rows if r.municipality == CHIYODA]
            assert codec.to_bytes(notice) == here[-1].payload
    assert town.to_remake(removed=True) == []
    assert len(town.store.audit.read(after=audit, action="register.remake")) == 4
    # A removed record is not notified again: only the registered one's 再製 goes up.
    country.network.settle()
    for record in gone:
        for node in (TOKYO, CENTER):
            rows = country.stores[node].identities.history(record.resident_code.value)
            assert "recreation_entry" not in [r.reason for r in rows]
    _agrees(country)

    # The 除票 serves as it did: 三郎 comes back from 大阪市北区 and keeps his internal
    # number (the history of his 除票 goes on).
    country.clock.advance(days=2)
    back = _move(country, removed.left.resident_code, OSAKA_KITA, CHIYODA)
    assert back.internal_id == removed.left.internal_id
    assert len(town.history(back.resident_code).versions) == 3
    country.network.settle()
    for node in (TOKYO, CENTER):
        assert _newest(country.stores[node], back.resident_code) == (CHIYODA, "domestic_move_in")
    _agrees(country)


def test_a_removed_record_must_match_the_restored_removal(store_factory: StoreFactory) -> None:
    removed = _removed(store_factory)
    country = removed.country
    town = country.municipality(CHIYODA)
    town.restore(removed.packages)
    dead, left = removed.dead, removed.left
    assert dead.removal is not None
    assert left.removal is not None
    wrong_day = attrs.evolve(
        dead, removal=attrs.evolve(dead.removal, removed_on=dead.removal.removed_on - timedelta(1))
    )
    _unchanged(country, lambda: town.remake(wrong_day), InvalidComponent)
    wrong_certificate = attrs.evolve(left, removal=attrs.evolve(left.removal, certificate="0" * 32))
    _unchanged(country, lambda: town.remake(wrong_certificate), InvalidComponent)
    wrong_name = attrs.evolve(dead, name=attrs.evolve(dead.name, given="別人"))
    _unchanged(country, lambda: town.remake(wrong_name), InvalidComponent)
    # A registered record for a removed person, and a removed one for a registered person.
    alive = attrs.evolve(dead, status=RecordStatus.REGISTERED, removal=None)
    _unchanged(country, lambda: town.remake(alive), InvalidState)
    registered = removed.registered
    gone = attrs.evolve(registered, status=RecordStatus.REMOVED, removal=attrs.evolve(dead.removal))
    _unchanged(country, lambda: town.remake(gone), InvalidState)
    town.remake(dead)
    _unchanged(country, lambda: town.remake(dead), InvalidState)


def test_only_the_centre_withdraws_codes_and_only_the_municipality_s(
    store_factory: StoreFactory,
) -> None:
    """A package that withdraws codes must come from the centre (30条の2: only it
    designates), name this municipality's codes, and count them in its header."""
    country = build_country(store_factory, [CHIYODA, CHUO], seed=31, codes_per_municipality=3)
    tokyo, center = country.stores[TOKYO], country.stores[CENTER]
    ours = restore.unconfirmed_designations(center.outbox, str(LOST), after=0)
    theirs = restore.unconfirmed_designations(
        center.outbox, str(NodeId.municipality(CHUO)), after=0
    )
    assert len(ours) == len(theirs) == 1  # nothing delivered yet
    packages = _lose(country, store_factory)
    from_prefecture = [e for e in packages if e.sender == TOKYO]
    from_center = [e for e in packages if e.sender == CENTER]
    town = country.municipality(CHIYODA)

    def sealed(source: NodeId, designations: list[bytes]) -> list[Envelope]:
        store = country.stores[source]
        return restore.seal_package(
            country.keys[source],
            LOST,
            restore.identity_versions(store.identities, CHIYODA),
            applied=store.tracking.position(str(LOST)),
            confirmed=store.outbox.acknowledged(str(LOST)),
            now=country.clock.now(),
            batch=1000,
            designations=designations,
        )

    _unchanged(country, lambda: town.restore([*sealed(TOKYO, ours), *from_center]), Misaddressed)
    _unchanged(
        country, lambda: town.restore([*from_prefecture, *sealed(CENTER, theirs)]), Misaddressed
    )
    (part,) = sealed(CENTER, ours)
    header = wire.parse_restore_header(part.payloads[0])
    assert header.withdrawn == 3
    short = country.keys[CENTER].seal(
        LOST,
        first_seq=1,
        payload_type=wire.RESTORE,
        payloads=[
            wire.encode_restore_header(attrs.evolve(header, withdrawn=2)),
            *part.payloads[1:],
        ],
        sent_at=country.clock.now(),
    )
    _unchanged(country, lambda: town.restore([*from_prefecture, short]), TamperingDetected)
    assert town.restore([*from_prefecture, part]).withdrawn == 3
    assert tokyo.pending.count() == 0
