"""A whole country under a misbehaving network (住基法30条の6, 30条の7).

A Hypothesis state machine builds two prefectures with two municipalities each,
on every storage adapter, and runs births, moves inside and between
municipalities and prefectures, deaths, name changes and resident-code changes
while the network drops, duplicates, reorders and delays envelopes and nodes
crash and restart, people emigrate and come back, and a dishonest municipality
and a dishonest prefecture send well-signed notices about people they do not
hold. After the network settles it checks the identity invariants of
docs/tiers.md:

1. a resident code belongs to one person for ever: codes are unique nationwide,
   never reused, and a replaced code (30条の4) is never accepted again;
2. a person is current in at most one municipality: at every upper tier each
   person's current version is where the person lives (or a removal);
3. only the holder changes a person: no forged notice is held anywhere, and each
   one was refused (audited) or is still pending, never applied;
4. every upper tier holds, for each municipality and resident code, exactly the
   honest notices the municipality sent, in order ("version for version"):
   nothing lost, nothing applied twice; every tier reconciles with every honest
   register, and reconciliation names exactly the dishonest records;
5. a resident's disclosure (30条の32) covers every code they have held.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import tempfile
from collections import defaultdict
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import attrs
import pytest
from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from jukinet.card.chip import Chip
from jukinet.card.pin import ScryptCost
from jukinet.domain import codec
from jukinet.domain.address import Address
from jukinet.domain.changes import ChangeReason
from jukinet.domain.identity import IdentityNotice
from jukinet.domain.individual_number import IndividualNumber, calc_check_digit
from jukinet.domain.lg_code import LocalGovernmentCode
from jukinet.domain.names import PersonName
from jukinet.domain.resident import HEAD_OF_HOUSEHOLD, FamilyRegister, HouseholdMembership, Sex
from jukinet.domain.resident_code import ResidentCode
from jukinet.errors import (
    CardError,
    CodePoolExhausted,
    DeadlinePassed,
    DuplicateRegistration,
    IdentityMismatch,
    InvalidState,
    JukinetError,
    NotFound,
)
from jukinet.storage.base import Store
from jukinet.storage.memory import MemoryStore
from jukinet.storage.sqlite import SQLiteStore
from jukinet.testing.country import Country, build_country
from jukinet.tiers import card_messages, reconcile, wire
from jukinet.tiers.messages import CENTER, Envelope, NodeId
from jukinet.tiers.special_move import KEEP_DAYS
from jukinet.tiers.upper import NOTICE_REFUSED
from jukinet.tiers.wide_area import IdentityDocument

pytestmark = pytest.mark.slow  # `pytest -m "not slow"` leaves this module out

TOWNS = ("131016", "131024", "271276", "271284")
NAMES = [
    PersonName(family="佐藤", given="花子", family_reading="サトウ", given_reading="ハナコ"),
    PersonName(family="鈴木", given="一郎", family_reading="スズキ", given_reading="イチロウ"),
    PersonName(family="髙橋", given="陽翔", family_reading="タカハシ", given_reading="ハルト"),
]

StoreFactory = Callable[[NodeId], Store]

DOMICILES = ("東京都千代田区1番地", "大阪府堺市1番地")
CHEAP = ScryptCost(n=2**4, r=1, p=1)
PIN = "1234"


@attrs.frozen
class Move:
    """A special moving-out (住基法24条の2) whose move-in has not happened yet."""

    frm: str
    to: str
    planned: date
    people: tuple[tuple[str, ResidentCode, str], ...]  # (person, code, certificate), holder first
    asked: bool = False  # the destination asked for the data again (第5項)


@attrs.frozen
class CopyAsked:
    """A wide-area copy request (12条の4) and what was true when it was made."""

    at: str
    request_id: str
    person: str
    name: PersonName
    version: int  # the person's change count then


STEPS = [0]
"""Rule steps run so far (with initialisations): CI runs at least 5,000 in all."""
DONE: dict[str, int] = defaultdict(int)
"""Counter procedures completed so far, by kind (printed with the steps)."""
STEPS_PER_EXAMPLE = 100 if os.environ.get("HYPOTHESIS_PROFILE") == "deep" else 50


def make_machine(
    new_factory: Callable[[], tuple[StoreFactory, Callable[[], None]]],
) -> type[RuleBasedStateMachine]:
    """The state machine over stores from ``new_factory`` (a factory and a cleanup)."""

    class CountryMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.cleanup: Callable[[], None] = lambda: None
            self.country: Country
            self.residents: dict[str, ResidentCode] = {}  # person -> current code
            self.where: dict[str, str] = {}  # person -> municipality
            self.codes_seen: dict[str, str] = {}  # every code ever held -> person
            self.code_changes: list[tuple[str, str]] = []  # (old, new), 住基法30条の4
            self.people = itertools.count(1)
            self.abroad: dict[str, ResidentCode] = {}  # person -> code kept abroad
            self.who: dict[str, tuple[PersonName, date, Sex]] = {}  # name, birth, sex
            self.codes_of: dict[str, list[str]] = defaultdict(list)  # person -> every code
            # the notices forged by a dishonest node: canonical notice bytes -> sender
            self.forged: dict[bytes, str] = {}
            # codes a dishonest municipality registered in its own register
            self.forged_records: dict[str, set[str]] = defaultdict(set)
            # what each town sent before it lost its storage (its outbox went with it)
            self.archive: dict[str, list[bytes]] = defaultdict(list)
            self.factory: StoreFactory
            # --- counter services (住基法12条の4, 24条の2, 9条1項) ---
            self.numbers = itertools.count(1)
            self.numbered: dict[str, IndividualNumber] = {}  # person -> their number
            self.chips: dict[str, Chip] = {}  # person -> the card they carry
            self.moving: dict[str, Move] = {}  # card holder -> their special move
            self.stranded: dict[str, ResidentCode] = {}  # moved out, move-in too late
            self.awaited: dict[str, set[str]] = defaultdict(set)  # town -> certificates
            self.used: dict[str, list[str]] = defaultdict(list)  # town -> certificates used
            self.copies: list[CopyAsked] = []
            self.special_movers: set[str] = set()
            self.changes: dict[str, int] = defaultdict(int)  # person -> changes so far

        @initialize(
            seed=st.integers(0, 2**16),
            drop=st.sampled_from([0.0, 0.2]),
            duplicate=st.sampled_from([0.0, 0.2]),
            reorder=st.sampled_from([0.0, 0.5]),
            delay=st.sampled_from([0.0, 0.3]),
        )
        def build(
            self, seed: int, drop: float, duplicate: float, reorder: float, delay: float
        ) -> None:
            factory, self.cleanup = new_factory()
            self.factory = factory
            self.country = build_country(
                factory,
                TOWNS,
                seed=seed,
                codes_per_municipality=40,
                drop=drop,
                duplicate=duplicate,
                reorder=reorder,
                delay=delay,
                card_scrypt_cost=CHEAP,
            )
            self.country.network.settle()

        def teardown(self) -> None:
            self.cleanup()

        def _today(self) -> date:
            return self.country.clock.today()

        def _track(self, person: str, code: ResidentCode, town: str) -> None:
            owner = self.codes_seen.setdefault(code.value, person)
            assert owner == person, f"code {code} reused for {person}, held by {owner}"
            self.residents[person] = code
            self.where[person] = town
            self.changes[person] += 1
            if code.value not in self.codes_of[person]:
                self.codes_of[person].append(code.value)

        @rule(town=st.sampled_from(TOWNS), name=st.sampled_from(NAMES), sex=st.sampled_from(Sex))
        def birth(self, town: str, name: PersonName, sex: Sex) -> None:
            self._born(town, name, sex)

        def _born(
            self,
            town: str,
            name: PersonName,
            sex: Sex,
            *,
            numbered: bool = False,
            household: HouseholdMembership | None = None,
        ) -> None:
            person = f"P{next(self.people)}"
            number = None
            if numbered:
                body = f"{next(self.numbers):011d}"
                number = IndividualNumber(body + calc_check_digit(body))
            try:
                record = self.country.municipality(town).register_birth(
                    name=name,
                    birth_date=self._today(),
                    sex=sex,
                    household=household or self._new_household(person),
                    address="本町1丁目1番1号",
                    individual_number=number,
                    family_register=FamilyRegister(domicile=DOMICILES[0], head=name.full),
                )
            except CodePoolExhausted:
                return
            self.who[person] = (name, record.birth_date, sex)
            self._track(person, record.resident_code, town)
            if number is not None:
                self.numbered[person] = number

        def _someone(self, data: st.DataObject) -> str:
            return data.draw(st.sampled_from(sorted(self.residents)))

        @precondition(lambda self: self.residents)
        @rule(data=st.data())
        def death(self, data: st.DataObject) -> None:
            person = self._someone(data)
            self.changes[person] += 1
            self.chips.pop(person, None)  # the card lapses (removed)
            self.country.municipality(self.where.pop(person)).record_death(
                self.residents.pop(person), died_on=self._today()
            )

        @precondition(lambda self: self.residents)
        @rule(data=st.data())
        def move_within(self, data: st.DataObject) -> None:
            person = self._someone(data)
            self.country.municipality(self.where[person]).move_within(
                self.residents[person], address="栄町2丁目3番4号", moved_on=self._today()
            )

        @precondition(lambda self: self.residents)
        @rule(data=st.data(), to=st.sampled_from(TOWNS))
        def move_between(self, data: st.DataObject, to: str) -> None:
            person = self._someone(data)
            town = self.where[person]
            if to == town:
                return
            certificate = self.country.municipality(town).move_out(
                self.residents[person], planned_date=self._today(), destination=to
            )
            record = self.country.municipality(to).register_move_in(
                certificate,
                address="緑町3丁目2番1号",
                household=HouseholdMembership(household_id=person, relationship=HEAD_OF_HOUSEHOLD),
                moved_in_on=self._today(),
            )
            self._track(person, record.resident_code, to)

        @precondition(lambda self: self.residents)
        @rule(data=st.data(), name=st.sampled_from(NAMES))
        def name_change(self, data: st.DataObject, name: PersonName) -> None:
            person = self._someone(data)
            self.country.municipality(self.where[person]).change_name(
                self.residents[person], name=name, changed_on=self._today()
            )
            _old, born, sex = self.who[person]
            self.who[person] = (name, born, sex)
            self.changes[person] += 1

        @precondition(lambda self: self.residents)
        @rule(data=st.data())
        def code_change(self, data: st.DataObject) -> None:
            person = self._someone(data)
            try:
                record = self.country.municipality(self.where[person]).change_resident_code(
                    self.residents[person], requested_on=self._today()
                )
            except CodePoolExhausted:
                return
            self.code_changes.append((self.residents[person].value, record.resident_code.value))
            self.chips.pop(person, None)  # the card lapses (code_changed)
            self._track(person, record.resident_code, self.where[person])

        def _new_household(self, person: str) -> HouseholdMembership:
            return HouseholdMembership(household_id=person, relationship=HEAD_OF_HOUSEHOLD)

        @precondition(lambda self: self.residents)
        @rule(data=st.data())
        def emigrate(self, data: st.DataObject) -> None:
            person = self._someone(data)
            code = self.residents.pop(person)
            self.changes[person] += 1
            self.chips.pop(person, None)  # the card lapses (removed)
            self.country.municipality(self.where.pop(person)).move_abroad(
                code, departed_on=self._today(), destination="アメリカ合衆国"
            )
            self.abroad[person] = code

        @precondition(lambda self: self.abroad)
        @rule(data=st.data(), town=st.sampled_from(TOWNS))
        def come_back(self, data: st.DataObject, town: str) -> None:
            # 国外転入: a person registered before keeps their code (30条の3第1項),
            # wherever they settle
            person = data.draw(st.sampled_from(sorted(self.abroad)))
            code = self.abroad.pop(person)
            name, born, sex = self.who[person]
            record = self.country.municipality(town).register_arrival(
                name=name,
                birth_date=born,
                sex=sex,
                household=self._new_household(person),
                address="港町1丁目2番3号",
                arrived_on=self._today(),
                previous_address="アメリカ合衆国",
                family_register=FamilyRegister(domicile="東京都千代田区1番地", head=name.full),
                resident_code=code,
                individual_number=self.numbered.get(person),
            )
            self._track(person, record.resident_code, town)

        @rule(town=st.sampled_from(TOWNS), name=st.sampled_from(NAMES))
        def arrival(self, town: str, name: PersonName) -> None:
            # 国外転入 of someone never registered: a fresh code (30条の3第2項)
            person = f"P{next(self.people)}"
            try:
                record = self.country.municipality(town).register_arrival(
                    name=name,
                    birth_date=date(1985, 6, 1),
                    sex=Sex.MALE,
                    household=self._new_household(person),
                    address="港町1丁目2番3号",
                    arrived_on=self._today(),
                    previous_address="大韓民国",
                    family_register=FamilyRegister(domicile="大阪府堺市1番地", head=name.full),
                )
            except CodePoolExhausted:
                return
            self.who[person] = (name, record.birth_date, record.sex)
            self._track(person, record.resident_code, town)

        # --- a disaster: the upper tiers are the backup (30条の6第3項) ---------------

        @rule(town=st.sampled_from(TOWNS), lose_acks=st.booleans(), sex=st.sampled_from(Sex))
        def disaster(self, town: str, lose_acks: bool, sex: Sex) -> None:
            # The town loses its storage and is restored from its prefecture's and
            # the centre's packages. With ``lose_acks``, the acknowledgements of a
            # fresh designation and of a birth that used one of its codes were lost
            # on the way before the disaster: the restore must not put used codes
            # back, nor take the designation sent again as fresh.
            country = self.country
            node = NodeId.municipality(town)
            prefecture = NodeId.prefecture(town[:2])
            country.network.settle(max_rounds=3000)
            if lose_acks:
                country.center.designate_codes(town, 3)
                _hand(country, CENTER, node, answers=False)  # the town's ack is lost
                self.birth(town, NAMES[1], sex)
                _hand(country, node, prefecture, answers=False)  # … and the prefecture's
                _hand(country, prefecture, CENTER)
                _hand(country, CENTER, prefecture)
            municipality = country.municipality(town)
            self.archive[town].extend(
                entry.payload
                for entry in municipality.store.outbox.read(str(prefecture), limit=100_000)
            )
            records = {
                entry.info.resident_code.value: municipality.resident(entry.info.resident_code)
                for entry in municipality.register_entries()
            }
            packages = country.prefecture(town[:2]).restore_package(town)
            packages += country.center.restore_package(town)
            country.network.crash(node)
            country.stores[node] = self.factory(node)
            country.restart(node)
            municipality = country.municipality(town)
            municipality.restore(packages)
            for info in [*municipality.to_remake(), *municipality.to_remake(removed=True)]:
                municipality.remake(records[info.resident_code.value])
            self.forged_records[town] = set()  # made up here, never above: not restored
            # the counter's own data is not backed up above: the awaited move-in
            # notifications, the move-out data kept, the copy requests went with it
            self.awaited[town] = set()
            self.used[town] = []
            self.copies = [c for c in self.copies if c.at != town]
            country.network.settle(max_rounds=3000)

        # --- dishonest nodes: well signed, not true ----------------------------------

        @precondition(lambda self: self.residents)
        @rule(
            data=st.data(),
            liar=st.sampled_from(TOWNS),
            reason=st.sampled_from(
                [ChangeReason.DEATH, ChangeReason.MINOR_CORRECTION, ChangeReason.MOVE_WITHIN]
            ),
        )
        def forge_change(self, data: st.DataObject, liar: str, reason: ChangeReason) -> None:
            # A municipality notifies a 消除 or 修正 of someone another one holds.
            person = self._someone(data)
            if self.where[person] == liar:
                return
            notice = self._forged_notice(person, liar, reason)
            self.country.municipality(liar).cs.notify(notice)
            self.forged[codec.to_bytes(notice)] = str(NodeId.municipality(liar))

        @precondition(lambda self: self.code_changes)
        @rule(data=st.data(), liar=st.sampled_from(TOWNS))
        def forge_arrival_with_a_replaced_code(self, data: st.DataObject, liar: str) -> None:
            # A municipality gives a code replaced under 30条の4 to a newcomer.
            old, _new = data.draw(st.sampled_from(self.code_changes))
            town = self.country.municipality(liar)
            name = NAMES[0]
            try:
                record = town.register_arrival(
                    name=name,
                    birth_date=date(1970, 2, 2),
                    sex=Sex.MALE,
                    household=HouseholdMembership(
                        household_id=f"X{old}", relationship=HEAD_OF_HOUSEHOLD
                    ),
                    address="港町9丁目9番9号",
                    arrived_on=self._today(),
                    previous_address="アメリカ合衆国",
                    family_register=FamilyRegister(domicile="大阪府堺市1番地", head=name.full),
                    resident_code=ResidentCode(old),
                )
            except JukinetError:
                return  # the town itself knows the code (it replaced it, or did this before)
            notice = town.latest_notice(record.resident_code)
            assert notice is not None
            self.forged[codec.to_bytes(notice)] = str(NodeId.municipality(liar))
            self.forged_records[liar].add(old)

        @precondition(lambda self: self.residents)
        @rule(data=st.data(), liar=st.sampled_from(["13", "27"]))
        def forge_from_a_prefecture(self, data: st.DataObject, liar: str) -> None:
            # A prefecture sends the centre, on its own well-signed link, a notice
            # about a person it does not hold: as if from one of its own towns, or
            # naming a town of the other prefecture.
            person = self._someone(data)
            if self.where[person][:2] == liar and data.draw(st.booleans()):
                return
            town = data.draw(st.sampled_from(TOWNS))
            if town == self.where[person]:
                return
            notice = self._forged_notice(person, town, ChangeReason.DEATH)
            prefecture = self.country.prefecture(liar)
            with prefecture.store.unit_of_work() as uow:
                prefecture._forward(uow, [wire.encode_notice(notice)])
            self.forged[codec.to_bytes(notice)] = str(NodeId.prefecture(liar))

        def _forged_notice(self, person: str, town: str, reason: ChangeReason) -> IdentityNotice:
            holder = self.country.municipality(self.where[person])
            latest = holder.latest_notice(self.residents[person])
            assert latest is not None
            info = attrs.evolve(
                latest.info,
                address=Address(municipality=LocalGovernmentCode(town), rest="偽町1丁目1番1号"),
            )
            return IdentityNotice(info=info, reason=reason, event_date=self._today())

        @rule(rounds=st.integers(1, 3))
        def network(self, rounds: int) -> None:
            for _ in range(rounds):
                self.country.network.round()

        @rule(
            node=st.sampled_from(
                [
                    CENTER,
                    NodeId.prefecture("13"),
                    NodeId.prefecture("27"),
                    *(NodeId.municipality(t) for t in TOWNS),
                ]
            )
        )
        def crash_and_restart(self, node: NodeId) -> None:
            self.country.network.crash(node)
            self.country.network.round()
            self.country.restart(node)

        @rule()
        def next_day(self) -> None:
            self.country.clock.advance(days=1)

        @invariant()
        def codes_unique(self) -> None:
            STEPS[0] += 1  # invariants run after every rule
            codes = list(self.residents.values())
            assert len(codes) == len(set(codes))

        def check_settled(self) -> None:
            country = self.country
            country.network.settle(max_rounds=3000)
            forged = set(self.forged)
            # (4) every honest notice, in order, at both tiers; (3) no forged one
            for town in TOWNS:
                sent = _sent_notices(country, town, self.archive[town], leave_out=forged)
                prefecture = NodeId.prefecture(town[:2])
                for node in (prefecture, CENTER):
                    held = _held_notices(country.stores[node], town)
                    assert held == sent, f"{node} differs from {town}"
                below = reconcile.snapshot_of_entries(
                    town, country.municipality(town).register_entries()
                )
                for node in (prefecture, CENTER):
                    above = reconcile.snapshot_of_store(country.stores[node], town)
                    found = reconcile.compare(below, above)
                    # reconciliation names exactly the records the town made up
                    assert set(found.missing_above) == self.forged_records[town], found
                    assert not found.extra_above, found
                    assert not found.differing, found
            # (3) each forged notice was refused, with its sender named, or waits
            refused = _refused_digests(country)
            codes = set(self.codes_seen).union(*self.forged_records.values())
            pending = _pending_digests(country, codes)
            for notice_bytes, sender in self.forged.items():
                digest = hashlib.sha256(notice_bytes).hexdigest()
                assert digest in refused or digest in pending[CENTER], (sender, digest)
            honest_pending = {
                node: digests - {hashlib.sha256(b).hexdigest() for b in forged}
                for node, digests in pending.items()
            }
            assert not any(honest_pending.values()), honest_pending
            # (2) each person is current where they live, at both tiers
            for person, code in self.residents.items():
                town = self.where[person]
                for node in (NodeId.prefecture(town[:2]), CENTER):
                    current = country.stores[node].identities.current(code.value)
                    assert current is not None, (person, node)
                    assert not current.removed, (person, node)
                    assert current.municipality == town, (person, node)
            for person, code in self.abroad.items():
                current = country.stores[CENTER].identities.current(code.value)
                assert current is not None, person
                assert current.removed, person
            # (1) a replaced code ends with its replacement at the centre
            for old, _new in self.code_changes:
                current = country.stores[CENTER].identities.current(old)
                assert current is not None, old
                assert current.removed, old
                assert current.reason in (
                    ChangeReason.RESIDENT_CODE_CHANGE_REQUEST.value,
                    ChangeReason.RESIDENT_CODE_EX_OFFICIO_ENTRY.value,
                ), (old, current.reason)
            # (5) a resident's disclosure covers every code they have held
            for person, current_code in self.residents.items():
                shown = country.center.provision.disclose(current_code, request_id=f"D-{person}")
                assert [c.value for c in shown.codes] == self.codes_of[person], person
            # Every code in use was designated by the centre, once (30条の2).
            for used in self.codes_seen:
                assert country.stores[CENTER].code_pool.is_designated(used)
            # デジタル庁 heard of every code change exactly once (30条の9の2第2項).
            fed = [
                (n.previous_resident_code.value, n.resident_code.value)
                for _, n in country.center.code_changes(limit=100_000)
            ]
            assert sorted(fed) == sorted(self.code_changes)
            self.check_counters()

        def check_counters(self) -> None:
            """The counter services once the network settled (12条の4, 24条の2, 9条1項)."""
            country = self.country
            centre = country.stores[CENTER].identities
            # a special mover lives in exactly one municipality (the tiers: check 2)
            for person in self.special_movers.intersection(self.residents):
                code = self.residents[person]
                for town in TOWNS:
                    row = country.stores[NodeId.municipality(town)].register.current_by_code(
                        code.value
                    )
                    here = (
                        row is not None and not country.municipality(town).resident(code).is_removed
                    )
                    assert here == (town == self.where[person]), (person, town)
            # someone on the move, or too late for the special move-in, lives nowhere
            on_the_move = [(p, c) for m in self.moving.values() for p, c, _ in m.people]
            for person, code in [*on_the_move, *self.stranded.items()]:
                current = centre.current(code.value)
                assert current is not None, person
                assert current.removed, person
            # the old municipality awaits exactly the move-ins that have not happened
            for town in TOWNS:
                awaited = country.municipality(town).special_move.awaiting_notifications()
                assert {a.certificate for a in awaited} == self.awaited[town], town
            # each move-out data was used once, where the person moved in
            for town in TOWNS:
                store = country.stores[NodeId.municipality(town)]
                used = [
                    json.loads(r.entry.detail)["certificate"]
                    for r in store.audit.read(limit=100_000)
                    if r.entry.action == "special_move.in"
                ]
                assert sorted(used) == sorted(self.used[town]), town
                for certificate in used:
                    kept = store.counter.info(certificate)
                    assert kept is not None, certificate
                    assert kept.used, certificate
            everywhere = [c for town in TOWNS for c in self.used[town]]
            assert len(everywhere) == len(set(everywhere))
            # every copy request is answered: a copy without the 本籍 (7条5号), or a
            # typed refusal only when the person changed since the request
            for asked in self.copies:
                wide = country.municipality(asked.at).wide_area
                assert wide.answer(asked.request_id) is not None, asked
                try:
                    copy = wide.issue_copy(asked.request_id)
                except (NotFound, IdentityMismatch):
                    assert self.changes[asked.person] != asked.version, asked
                    DONE["copies refused"] += 1
                    continue
                DONE["copies"] += 1
                text = copy.to_text()
                assert asked.name.family in text, asked
                assert not any(domicile in text for domicile in DOMICILES), asked

    return CountryMachine


def make_counter_machine(
    new_factory: Callable[[], tuple[StoreFactory, Callable[[], None]]],
) -> type[RuleBasedStateMachine]:
    """The state machine of :func:`make_machine` with the counter services between
    municipalities too: the card, the special moving-out/in with the move-in
    notification (住基法24条の2, 9条1項) and wide-area copies (12条の4). A machine of
    its own, so that the examples of the plain machine stay what they were."""

    class CounterMachine(make_machine(new_factory)):  # type: ignore[misc]
        def _born(
            self,
            town: str,
            name: PersonName,
            sex: Sex,
            *,
            numbered: bool = True,
            household: HouseholdMembership | None = None,
        ) -> None:
            # everyone born here gets an individual number (番号法7条1項), so that
            # many can hold a card; arrivals from abroad have none
            super()._born(town, name, sex, numbered=numbered, household=household)

        @precondition(lambda self: self.residents)
        @rule(data=st.data(), name=st.sampled_from(NAMES))
        def birth_into_household(self, data: st.DataObject, name: PersonName) -> None:
            # a child without a card, who can come along on a parent's special move
            parent = self._someone(data)
            town = self.where[parent]
            record = self.country.municipality(town).resident(self.residents[parent])
            try:
                self._born(
                    town,
                    name,
                    Sex.FEMALE,
                    household=HouseholdMembership(
                        household_id=record.household.household_id,
                        relationship="子",
                        head_name=record.name,
                    ),
                )
            except DuplicateRegistration:
                return  # a twin of the same name: the counter asks (distinct_from)

        # --- counter services: the card, the special move, wide-area copies ----------

        def _ask(self) -> Callable[[Envelope], Envelope]:
            country: Country = self.country
            return country.center.answer_card_check

        @precondition(lambda self: bool(set(self.numbered).intersection(self.residents)))
        @rule(data=st.data())
        def issue_card(self, data: st.DataObject) -> None:
            # a My Number card on application to a current resident with a number
            person = data.draw(
                st.sampled_from(sorted(set(self.numbered).intersection(self.residents)))
            )
            if person in self.chips:
                return  # one card per person
            self._issue(person)

        def _issue(self, person: str) -> None:
            chip = self.country.desk(self.where[person]).issue(
                self.residents[person], pin=PIN, photo_image=b"photo"
            )
            self.chips[person] = chip
            DONE["cards"] += 1

        def _card_usable_by_mail(self, town: str, person: str) -> bool:
            """Whether ``town`` keeps ``person``'s chip as their live card, in effect."""
            row = self.country.stores[NodeId.municipality(town)].cards.live_for(
                self.residents[person].value
            )
            if row is None or row.card_id != self.chips[person].card_id:
                return False
            try:
                card_messages.card_status(row).check_in_effect(self._today())
            except CardError:
                return False
            return True

        @precondition(lambda self: bool(set(self.numbered).intersection(self.residents)))
        @rule(data=st.data(), to=st.sampled_from(TOWNS), with_child=st.booleans())
        def special_move_out(self, data: st.DataObject, to: str, with_child: bool) -> None:
            # 転出届 by mail naming the card (24条の2第1項), a child along (第2項);
            # someone without a card applies for one first
            person = data.draw(
                st.sampled_from(sorted(set(self.numbered).intersection(self.residents)))
            )
            town = self.where[person]
            if to == town:
                return
            if person not in self.chips:
                self._issue(person)
            # Only a card the centre has registered: a move-out filed before the
            # card's issue reached the centre makes the centre refuse the issue
            # ("no current resident", card.refused), and the holder can never move in
            # (test_counter_services.py::test_a_card_issued_just_before_a_special_move_out).
            for _ in range(30):
                if self.country.stores[CENTER].cards.get(self.chips[person].card_id):
                    break
                self.country.network.round()
            else:
                DONE["move-outs: card not registered yet"] += 1
                return
            municipality = self.country.municipality(town)
            head = municipality.resident(self.residents[person])
            members = [
                other
                for other in sorted(self.residents)
                if with_child
                and other != person
                and other not in self.chips
                and self.where[other] == town
                and municipality.resident(self.residents[other]).household.household_id
                == head.household.household_id
            ][:1]
            usable = self._card_usable_by_mail(town, person)
            try:
                removed = municipality.special_move.move_out(
                    self.residents[person],
                    planned_date=self._today(),
                    destination=to,
                    address="緑町3丁目2番1号",
                    by="mail",
                    card_id=self.chips[person].card_id,
                    members=[self.residents[m] for m in members],
                )
            except (IdentityMismatch, CardError):
                DONE["move-outs: card not usable by mail"] += 1
                # the card is not kept here in effect (moved, lost in a disaster, …)
                assert not usable, (person, town)
                return
            assert usable, (person, town)
            people = (person, *members)
            assert [r.resident_code for r in removed] == [self.residents[p] for p in people]
            certificates = []
            for mover, record in zip(people, removed, strict=True):
                assert record.removal is not None
                assert record.removal.certificate is not None
                certificates.append((mover, record.resident_code, record.removal.certificate))
                self.where.pop(mover)
                self.residents.pop(mover)
                self.changes[mover] += 1
                self.awaited[town].add(record.removal.certificate)
            DONE["special move-outs"] += 1
            self.moving[person] = Move(
                frm=town, to=to, planned=self._today(), people=tuple(certificates)
            )

        @precondition(lambda self: self.moving)
        @rule(data=st.data(), wait=st.integers(0, 12))
        def special_move_in(self, data: st.DataObject, wait: int) -> None:
            # 転入届 with the card checked (24条の2第1項), after the network has had
            # ``wait`` rounds to carry the move-out; a refusal the law foresees sends
            # the person away to come back later, as a counter would
            for _ in range(wait):
                self.country.network.round()
            person = data.draw(st.sampled_from(sorted(self.moving)))
            move = self.moving[person]
            country = self.country
            today = self._today()
            desk = country.municipality(move.to).special_move
            codes = [code for _, code, _ in move.people]
            chip = self.chips[person]
            card = country.desk(move.to).check(chip, ask=self._ask(), pin=PIN, moving=True)
            try:
                records = desk.move_in(
                    codes[0],
                    card=card,
                    moved_in_on=today,
                    address="梅田1丁目1番1号",
                    household=self._new_household(person),
                    members=[
                        (
                            code,
                            HouseholdMembership(
                                household_id=person,
                                relationship="子",
                                head_name=self.who[person][0],
                            ),
                        )
                        for code in codes[1:]
                    ],
                )
            except InvalidState:
                DONE["move-ins: not moving yet"] += 1
                assert card.verdict != "moving"  # the network does not show the move-out yet
                return
            except (NotFound, DeadlinePassed):
                DONE["move-ins: no data yet"] += 1
                if today >= move.planned + timedelta(days=KEEP_DAYS):
                    # too late for the special procedure: the ordinary one is not modelled
                    del self.moving[person]
                    for mover, code, _certificate in move.people:
                        self.stranded[mover] = code
                    return
                if not move.asked:  # data not arrived, or lost: ask again (第5項)
                    for code in codes:
                        if not desk.pending_info(code):
                            desk.request_info(code, moved_from=move.frm)
                    self.moving[person] = attrs.evolve(move, asked=True)
                return
            assert [r.resident_code for r in records] == codes
            DONE["special move-ins"] += len(codes)
            del self.moving[person]
            for mover, code, certificate in move.people:
                self._track(mover, code, move.to)
                self.special_movers.add(mover)
                self.awaited[move.frm].discard(certificate)
                self.used[move.to].append(certificate)
            # the data is used once: the same move-in again is refused
            again = country.desk(move.to).check(
                self.chips[person], ask=self._ask(), pin=PIN, moving=True
            )
            try:
                desk.move_in(
                    codes[0],
                    card=again,
                    moved_in_on=today,
                    address="梅田1丁目1番1号",
                    household=self._new_household(person),
                )
            except (NotFound, InvalidState):
                pass
            else:
                raise AssertionError(f"{person} moved in twice from one move-out")

        @precondition(lambda self: bool(set(self.chips).intersection(self.residents)))
        @rule(data=st.data())
        def continue_card(self, data: st.DataObject) -> None:
            # 継続利用 after a move-in: the card is kept by the new municipality again
            person = data.draw(
                st.sampled_from(sorted(set(self.chips).intersection(self.residents)))
            )
            try:
                self.country.desk(self.where[person]).continue_use(
                    self.chips[person], pin=PIN, ask=self._ask()
                )
            except (InvalidState, CardError):
                return  # no move-in awaits it here (yet), or the card lapsed

        @precondition(lambda self: self.residents)
        @rule(data=st.data(), at=st.sampled_from(TOWNS))
        def wide_area_copy(self, data: st.DataObject, at: str) -> None:
            # 住民票の写しの広域交付 (12条の4) with a driving licence
            person = self._someone(data)
            if self.where[person] == at:
                return
            name, born, _sex = self.who[person]
            request_id = self.country.municipality(at).wide_area.request(
                home=self.where[person],
                requester=self.residents[person],
                document=IdentityDocument(kind="運転免許証", name=name, birth_date=born),
            )
            self.copies.append(CopyAsked(at, request_id, person, name, self.changes[person]))

    return CounterMachine


def _hand(country: Country, sender: NodeId, recipient: NodeId, *, answers: bool = True) -> None:
    """Deliver by hand, without faults, what ``sender`` has for ``recipient``; the
    answers come back unless ``answers`` is false (they are lost)."""
    source, target = country.network.node(sender), country.network.node(recipient)
    for envelope in source.outgoing():
        if envelope.recipient == recipient:
            replies = target.receive(envelope)
            if answers:
                for reply in replies:
                    source.receive(reply)


def _sent_notices(
    country: Country, town: str, archive: list[bytes], *, leave_out: set[bytes]
) -> dict[str, list[bytes]]:
    """The notices ``town`` sent (those of its ``archive``, then its outbox's), by
    code, except those in ``leave_out``."""
    store = country.stores[NodeId.municipality(town)]
    result: dict[str, list[bytes]] = defaultdict(list)
    payloads = [
        *archive,
        *(entry.payload for entry in store.outbox.read(f"p:{town[:2]}", limit=100_000)),
    ]
    for payload in payloads:
        if wire.message_type(payload) != wire.IDENTITY_NOTICE:
            continue  # card steps and relayed counter messages share the link
        message = wire.parse_notice(payload, verify=True)
        if message.notice_bytes in leave_out:
            continue
        result[message.resident_code].append(message.notice_bytes)
        previous = message.header["previous_resident_code"]
        if previous:
            result[previous].append(message.notice_bytes)
    return dict(result)


_TIERS = (CENTER, NodeId.prefecture("13"), NodeId.prefecture("27"))


def _refused_digests(country: Country) -> set[str]:
    """The digests of the notices any upper tier refused (audit ``notice.refused``)."""
    found: set[str] = set()
    for node in _TIERS:
        for record in country.stores[node].audit.read(limit=100_000):
            if record.entry.action == NOTICE_REFUSED:
                found.add(json.loads(record.entry.detail)["digest"])
    return found


def _pending_digests(country: Country, codes: set[str]) -> dict[NodeId, set[str]]:
    """The digests of the notices each upper tier holds pending (all of them are
    about ``codes``)."""
    found: dict[NodeId, set[str]] = {}
    for node in _TIERS:
        store = country.stores[node]
        records = store.pending.find(sorted(codes)) if codes else []
        assert len(records) == store.pending.count(), f"{node} holds others pending"
        digests: set[str] = set()
        for record in records:
            payload = record.entry.payload
            if wire.message_type(payload) == wire.REFERRAL:
                message = wire.parse_referral(payload, verify=False)
            else:
                message = wire.parse_notice(payload, verify=False)
            digests.add(message.digest)
        found[node] = digests
    return found


def _held_notices(store: Store, town: str) -> dict[str, list[bytes]]:
    result: dict[str, list[bytes]] = {}
    after: str | None = None
    while rows := store.identities.scan(municipality=town, after=after, limit=1000):
        for row in rows:
            result[row.resident_code] = [
                r.payload
                for r in store.identities.history(row.resident_code)
                if r.municipality == town
            ]
        after = rows[-1].resident_code
    return result


def _run(
    new_factory: Callable[[], tuple[StoreFactory, Callable[[], None]]],
    *,
    share: float,
    counters: float = 0.0,
) -> None:
    """Run the plain machine on ``share`` of the profile's examples, then the one
    with the counter services on ``counters`` of them (none when 0)."""
    _run_machine(make_machine(new_factory), share)
    if counters:
        _run_machine(make_counter_machine(new_factory), counters)


def _run_machine(machine: type[RuleBasedStateMachine], share: float) -> None:

    class Checked(machine):  # type: ignore[misc, valid-type]
        def teardown(self) -> None:
            try:
                self.check_settled()
            finally:
                super().teardown()

    profile = settings()
    before = STEPS[0]
    DONE.clear()
    run_state_machine_as_test(
        Checked,
        settings=settings(
            profile,
            max_examples=max(1, int(profile.max_examples * share)),
            stateful_step_count=STEPS_PER_EXAMPLE,
            deadline=None,
            # NOSHRINK=1: report a failing example as found (shrinking one can take
            # minutes), e.g. while finding out why it fails
            phases=(Phase.explicit, Phase.generate)
            if os.environ.get("NOSHRINK")
            else profile.phases,
        ),
    )
    print(f"{machine.__name__}: {STEPS[0] - before} rule steps, {dict(DONE)}")


def test_country_on_memory() -> None:
    def new() -> tuple[StoreFactory, Callable[[], None]]:
        def factory(node: NodeId) -> Store:
            store = MemoryStore()
            store.create_schema()
            return store

        return factory, lambda: None

    _run(new, share=2, counters=0.6)


def test_country_on_sqlite() -> None:
    def new() -> tuple[StoreFactory, Callable[[], None]]:
        folder = tempfile.TemporaryDirectory(prefix="jukinet-country-")
        stores: list[SQLiteStore] = []

        def factory(node: NodeId) -> Store:
            # a new file each time: a node that lost its storage starts on a new one
            name = f"{str(node).replace(':', '_')}-{len(stores)}.db"
            store = SQLiteStore(Path(folder.name) / name)
            store.create_schema()
            stores.append(store)
            return store

        def cleanup() -> None:
            for store in stores:
                store.close()
            folder.cleanup()

        return factory, cleanup

    _run(new, share=0.3, counters=0.16)


@pytest.mark.postgres
def test_country_on_postgres(postgres_dsn: str) -> None:
    import psycopg
    from psycopg import sql

    from jukinet.storage.postgres import PostgresStore

    serial = itertools.count()
    run = os.urandom(4).hex()

    def new() -> tuple[StoreFactory, Callable[[], None]]:
        conn = psycopg.connect(postgres_dsn, autocommit=True)
        schemas: list[str] = []

        def factory(node: NodeId) -> Store:
            schema = f"jukinet_country_{run}_{next(serial)}"
            schemas.append(schema)
            store = PostgresStore(conn, schema=schema)
            store.create_schema()
            return store

        def cleanup() -> None:
            for schema in schemas:
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                )
            conn.close()

        return factory, cleanup

    _run(new, share=0.16, counters=0.1)
