"""A whole country under a misbehaving network (住基法30条の6, 30条の7).

A Hypothesis state machine builds two prefectures with two municipalities each,
on every storage adapter, and runs births, moves inside and between
municipalities and prefectures, deaths, name changes and resident-code changes
while the network drops, duplicates, reorders and delays envelopes and nodes
crash and restart. After the network settles it checks that:

* every upper tier holds, for each municipality and resident code, exactly the
  notices the municipality sent, in order ("version for version"): nothing was
  lost and nothing applied twice;
* resident codes are unique nationwide and never reused (30条の2, 30条の3);
* every tier reconciles with every register.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections import defaultdict
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from jukinet.domain.names import PersonName
from jukinet.domain.resident import HEAD_OF_HOUSEHOLD, FamilyRegister, HouseholdMembership, Sex
from jukinet.domain.resident_code import ResidentCode
from jukinet.errors import CodePoolExhausted
from jukinet.storage.base import Store
from jukinet.storage.memory import MemoryStore
from jukinet.storage.sqlite import SQLiteStore
from jukinet.testing.country import Country, build_country
from jukinet.tiers import reconcile, wire
from jukinet.tiers.messages import CENTER, NodeId

TOWNS = ("131016", "131024", "271276", "271284")
NAMES = [
    PersonName(family="佐藤", given="花子", family_reading="サトウ", given_reading="ハナコ"),
    PersonName(family="鈴木", given="一郎", family_reading="スズキ", given_reading="イチロウ"),
    PersonName(family="髙橋", given="陽翔", family_reading="タカハシ", given_reading="ハルト"),
]

StoreFactory = Callable[[NodeId], Store]


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
            self.country = build_country(
                factory,
                TOWNS,
                seed=seed,
                codes_per_municipality=40,
                drop=drop,
                duplicate=duplicate,
                reorder=reorder,
                delay=delay,
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

        @rule(town=st.sampled_from(TOWNS), name=st.sampled_from(NAMES), sex=st.sampled_from(Sex))
        def birth(self, town: str, name: PersonName, sex: Sex) -> None:
            person = f"P{next(self.people)}"
            try:
                record = self.country.municipality(town).register_birth(
                    name=name,
                    birth_date=self._today(),
                    sex=sex,
                    household=HouseholdMembership(
                        household_id=person, relationship=HEAD_OF_HOUSEHOLD
                    ),
                    address="本町1丁目1番1号",
                    family_register=FamilyRegister(domicile="東京都千代田区1番地", head=name.full),
                )
            except CodePoolExhausted:
                return
            self._track(person, record.resident_code, town)

        def _someone(self, data: st.DataObject) -> str:
            return data.draw(st.sampled_from(sorted(self.residents)))

        @precondition(lambda self: self.residents)
        @rule(data=st.data())
        def death(self, data: st.DataObject) -> None:
            person = self._someone(data)
            self.country.municipality(self.where[person]).record_death(
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
            self._track(person, record.resident_code, self.where[person])

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
            codes = list(self.residents.values())
            assert len(codes) == len(set(codes))

        def check_settled(self) -> None:
            country = self.country
            country.network.settle(max_rounds=3000)
            for town in TOWNS:
                sent = _sent_notices(country, town)
                prefecture = NodeId.prefecture(town[:2])
                for node in (prefecture, CENTER):
                    held = _held_notices(country.stores[node], town)
                    assert held == sent, f"{node} differs from {town}"
                below = reconcile.snapshot_of_entries(
                    town, country.municipality(town).register_entries()
                )
                for node in (prefecture, CENTER):
                    above = reconcile.snapshot_of_store(country.stores[node], town)
                    assert not reconcile.compare(below, above)
            # Every code in use was designated by the centre, once (30条の2).
            for code in self.codes_seen:
                assert country.stores[CENTER].code_pool.is_designated(code)
            # デジタル庁 heard of every code change exactly once (30条の9の2第2項).
            fed = [
                (n.previous_resident_code.value, n.resident_code.value)
                for _, n in country.center.code_changes(limit=100_000)
            ]
            assert sorted(fed) == sorted(self.code_changes)

    return CountryMachine


def _sent_notices(country: Country, town: str) -> dict[str, list[bytes]]:
    store = country.stores[NodeId.municipality(town)]
    result: dict[str, list[bytes]] = defaultdict(list)
    for entry in store.outbox.read(f"p:{town[:2]}", limit=100_000):
        message = wire.parse_notice(entry.payload, verify=True)
        result[message.resident_code].append(message.notice_bytes)
        previous = message.header["previous_resident_code"]
        if previous:
            result[previous].append(message.notice_bytes)
    return dict(result)


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
    new_factory: Callable[[], tuple[StoreFactory, Callable[[], None]]], *, examples: int
) -> None:
    machine = make_machine(new_factory)

    class Checked(machine):  # type: ignore[misc, valid-type]
        def teardown(self) -> None:
            try:
                self.check_settled()
            finally:
                super().teardown()

    profile = settings()
    run_state_machine_as_test(
        Checked,
        settings=settings(
            profile,
            max_examples=min(profile.max_examples, examples),
            stateful_step_count=25,
            deadline=None,
        ),
    )


def test_country_on_memory() -> None:
    def new() -> tuple[StoreFactory, Callable[[], None]]:
        def factory(node: NodeId) -> Store:
            store = MemoryStore()
            store.create_schema()
            return store

        return factory, lambda: None

    _run(new, examples=30)


def test_country_on_sqlite() -> None:
    def new() -> tuple[StoreFactory, Callable[[], None]]:
        folder = tempfile.TemporaryDirectory(prefix="jukinet-country-")
        stores: list[SQLiteStore] = []

        def factory(node: NodeId) -> Store:
            store = SQLiteStore(Path(folder.name) / f"{str(node).replace(':', '_')}.db")
            store.create_schema()
            stores.append(store)
            return store

        def cleanup() -> None:
            for store in stores:
                store.close()
            folder.cleanup()

        return factory, cleanup

    _run(new, examples=8)


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

    _run(new, examples=4)
