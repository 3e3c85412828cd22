"""Several instances of one node over one database (住基法30条の6, 30条の7): what one
instance applied, another answers as a duplicate, also when they race for it."""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any, ClassVar

import pytest

from jukinet.domain.names import PersonName
from jukinet.domain.resident import HEAD_OF_HOUSEHOLD, FamilyRegister, HouseholdMembership, Sex
from jukinet.errors import IntegrityError
from jukinet.storage.base import Store, UnitOfWork
from jukinet.storage.memory import MemoryStore
from jukinet.storage.sqlite import SQLiteStore
from jukinet.testing.country import Country, StoreFactory, build_country
from jukinet.tiers import wire
from jukinet.tiers.messages import CENTER, Envelope, NodeId
from jukinet.tiers.upper import Prefecture

CHIYODA = "131016"
TOKYO = NodeId.prefecture("13")

Reopen = Callable[[Store], Store]


def _memory(node: NodeId) -> Store:
    store = MemoryStore()
    store.create_schema()
    return store


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, StoreFactory, Reopen]]:
    """A store factory and a way to open a second handle (own connections) onto a
    store: the same in-memory store, two connections to one SQLite file, or to one
    PostgreSQL schema."""
    if request.param == "memory":
        yield "memory", _memory, lambda store: store
        return
    if request.param == "sqlite":
        opened: list[Store] = []
        serial = itertools.count()

        def sqlite(node: NodeId) -> Store:
            store = SQLiteStore(tmp_path / f"{str(node).replace(':', '_')}-{next(serial)}.db")
            store.create_schema()
            opened.append(store)
            return store

        def reopen_sqlite(store: Store) -> Store:
            assert isinstance(store, SQLiteStore)
            other = store.reopen()
            opened.append(other)
            return other

        yield "sqlite", sqlite, reopen_sqlite
        for store in reversed(opened):
            store.close()
        return
    import psycopg
    from psycopg import sql

    from jukinet.storage.postgres import PostgresStore

    dsn = request.getfixturevalue("postgres_dsn")
    run = os.urandom(4).hex()
    connections: list[psycopg.Connection[Any]] = []
    schemas: list[str] = []

    def connect() -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] = psycopg.connect(dsn)
        connections.append(conn)
        return conn

    def postgres(node: NodeId) -> Store:
        schema = f"jukinet_shared_{run}_{len(schemas)}"
        schemas.append(schema)
        store = PostgresStore(connect(), schema=schema)
        store.create_schema()
        return store

    def reopen_postgres(store: Store) -> Store:
        assert isinstance(store, PostgresStore)
        return PostgresStore(connect(), schema=store.schema)

    yield "postgres", postgres, reopen_postgres
    for conn in connections:
        conn.close()
    with psycopg.connect(dsn, autocommit=True) as admin:
        for schema in schemas:
            admin.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            )


class _Meeting(Prefecture):
    """A prefecture whose instances wait for each other before they first apply, so that
    each has read the same position from the shared store before either commits
    (where the store lets two units of work run at once)."""

    meeting: ClassVar[threading.Barrier | None] = None
    met: ClassVar[set[int]] = set()
    delay: float = 0.0
    """Seconds this instance waits after the meeting (to let the other write first)."""

    def _apply(self, uow: UnitOfWork, sender: NodeId, messages: Sequence[bytes]) -> None:
        meeting = type(self).meeting
        if meeting is not None and threading.get_ident() not in _Meeting.met:
            _Meeting.met.add(threading.get_ident())  # a retry does not wait again
            # The memory store and SQLite (BEGIN IMMEDIATE) serialize units of work:
            # the other instance cannot get here before this one commits, and the
            # wait times out.
            try:
                meeting.wait()
            except threading.BrokenBarrierError:
                pass
            time.sleep(self.delay)
        super()._apply(uow, sender, messages)


def _twins(country: Country, reopen: Reopen) -> list[_Meeting]:
    store = country.stores[TOKYO]
    return [
        _Meeting("13", handle, country.keys[TOKYO], country.trust, country.clock)
        for handle in (store, reopen(store))
    ]


def _envelope_for_tokyo(country: Country) -> Envelope:
    (envelope,) = [e for e in country.municipality(CHIYODA).outgoing() if e.recipient == TOKYO]
    return envelope


def _deliver_at_once(
    twins: Sequence[Prefecture], envelope: Envelope | Sequence[Envelope], *, timeout: float
) -> list[str]:
    """Deliver ``envelope`` to every instance (or the i-th envelope to the i-th) from its
    own thread at once; the statuses of their acknowledgements, sorted."""
    envelopes = [envelope] * len(twins) if isinstance(envelope, Envelope) else envelope
    _Meeting.meeting = threading.Barrier(len(twins), timeout=timeout)
    start = threading.Barrier(len(twins))
    answers: list[Envelope] = []
    failures: list[BaseException] = []

    def deliver(twin: Prefecture, envelope: Envelope) -> None:
        start.wait()
        try:
            answers.extend(twin.receive(envelope))
        except BaseException as exc:
            failures.append(exc)

    threads = [
        threading.Thread(target=deliver, args=pair) for pair in zip(twins, envelopes, strict=True)
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        _Meeting.meeting = None
        _Meeting.met.clear()
    assert failures == []
    return sorted(wire.decode_ack(answer.payloads[0]).status for answer in answers)


def test_racing_instances_of_a_prefecture_apply_an_envelope_once(
    shared: tuple[str, StoreFactory, Reopen],
) -> None:
    # The same envelope delivered to two instances of 東京都's server over one database
    # at once: one applies it, the other answers duplicate (it lost the race: on
    # PostgreSQL both read the same position, and its writes fail once the winner
    # commits), and the store holds the notice once.
    adapter, factory, reopen = shared
    timeout = 10.0 if adapter == "postgres" else 0.2
    country = build_country(factory, [CHIYODA], seed=5, codes_per_municipality=4)
    country.network.settle()
    twins = _twins(country, reopen)
    town = country.municipality(CHIYODA)
    store = country.stores[TOKYO]
    record = town.register_birth(
        name=PersonName(
            family="山田", given="花子", family_reading="ヤマダ", given_reading="ハナコ"
        ),
        birth_date=date(2026, 3, 1),
        sex=Sex.FEMALE,
        household=HouseholdMembership(household_id="H1", relationship=HEAD_OF_HOUSEHOLD),
        address="千代田1丁目1番1号",
        family_register=FamilyRegister(domicile="東京都千代田区千代田1番", head="山田 一郎"),
    )
    code = record.resident_code.value
    # the first message from the town (tracking starts), then a later one
    for round_, seq in enumerate((1, 2)):
        if round_:
            country.clock.advance(days=3)
            town.move_within(
                record.resident_code, address="永田町1丁目7番1号", moved_on=country.clock.today()
            )
        envelope = _envelope_for_tokyo(country)
        assert (envelope.first_seq, envelope.last_seq) == (seq, seq)
        assert _deliver_at_once(twins, envelope, timeout=timeout) == ["applied", "duplicate"]
        assert store.tracking.senders()[str(NodeId.municipality(CHIYODA))] == seq
        # each notice kept once: applied, or (a birth) pending the centre's word
        versions = [row.version for row in store.identities.history(code)]
        assert len(versions) + len(store.pending.find([code])) == seq
        assert versions == list(range(1, len(versions) + 1))
        forwarded = store.outbox.read(str(CENTER))
        assert len(forwarded) == seq, "forwarded to the centre once"
        country.network.settle()  # the town hears an ack; the centre gets the notice
    assert len(country.stores[CENTER].identities.history(code)) == 2


def _birth(country: Country, given: str, reading: str) -> Any:
    return country.municipality(CHIYODA).register_birth(
        name=PersonName(family="山田", given=given, family_reading="ヤマダ", given_reading=reading),
        birth_date=date(2026, 3, 1),
        sex=Sex.FEMALE,
        household=HouseholdMembership(household_id=f"H{reading}", relationship=HEAD_OF_HOUSEHOLD),
        address="千代田1丁目1番1号",
        family_register=FamilyRegister(domicile="東京都千代田区千代田1番", head="山田 一郎"),
    )


def test_a_racing_instance_applies_what_the_winner_left(
    shared: tuple[str, StoreFactory, Reopen],
) -> None:
    # One instance takes an envelope of message 1, the other at once an envelope of
    # messages 1 and 2 (the town resent with more). Whichever wins, each message is
    # applied once: a loser whose envelope goes further applies the rest. (On
    # PostgreSQL the second instance lets the first write first, so it loses and
    # applies message 2 on its second try.)
    adapter, factory, reopen = shared
    timeout = 10.0 if adapter == "postgres" else 0.2
    country = build_country(factory, [CHIYODA], seed=7, codes_per_municipality=4)
    country.network.settle()
    twins = _twins(country, reopen)
    first = _birth(country, "花子", "ハナコ")
    short = _envelope_for_tokyo(country)
    second = _birth(country, "桃子", "モモコ")
    long = _envelope_for_tokyo(country)
    assert [(e.first_seq, e.last_seq) for e in (short, long)] == [(1, 1), (1, 2)]
    twins[1].delay = 0.3
    statuses = _deliver_at_once(twins, [short, long], timeout=timeout)
    if adapter == "postgres":
        assert statuses == ["applied", "applied"]
    else:  # serialized: the long envelope may come first and leave the short one nothing
        assert statuses in (["applied", "applied"], ["applied", "duplicate"])
    store = country.stores[TOKYO]
    assert store.tracking.senders() == {str(NodeId.municipality(CHIYODA)): 2}
    for record in (first, second):
        # kept once, pending the centre's word (a prefecture refers every registration)
        code = record.resident_code.value
        assert len(store.pending.find([code])) == 1
        assert store.identities.history(code) == []
    assert len(store.outbox.read(str(CENTER))) == 2, "each notice forwarded once"


def test_an_integrity_error_that_is_not_the_race_is_raised() -> None:
    # A refused write while nothing else applied anything from the sender is no lost
    # race: it is raised, not answered as a duplicate, and nothing is applied.
    class Refusing(Prefecture):
        def _apply(self, uow: UnitOfWork, sender: NodeId, messages: Sequence[bytes]) -> None:
            raise IntegrityError("a constraint refused the write")

    country = build_country(_memory, [CHIYODA], seed=6, codes_per_municipality=4)
    country.network.settle()
    store = country.stores[TOKYO]
    refusing = Refusing("13", store, country.keys[TOKYO], country.trust, country.clock)
    town = country.municipality(CHIYODA)
    town.register_birth(
        name=PersonName(
            family="山田", given="次郎", family_reading="ヤマダ", given_reading="ジロウ"
        ),
        birth_date=date(2026, 3, 2),
        sex=Sex.MALE,
        household=HouseholdMembership(household_id="H2", relationship=HEAD_OF_HOUSEHOLD),
        address="千代田1丁目1番1号",
        family_register=FamilyRegister(domicile="東京都千代田区千代田1番", head="山田 一郎"),
    )
    with pytest.raises(IntegrityError, match="refused the write"):
        refusing.receive(_envelope_for_tokyo(country))
    assert store.tracking.senders() == {}
