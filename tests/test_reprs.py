"""Readable reprs (issue 14): live objects say what they are, briefly, without reading
storage, raising or showing secrets; records show what is set and read back with eval."""

from __future__ import annotations

import base64
import datetime
import random
from pathlib import Path
from typing import Any

import attrs
import psycopg
import pytest
from hypothesis import given
from psycopg_pool import ConnectionPool

import jukinet
import jukinet.domain.resident
from jukinet.domain.changes import ChangeReason
from jukinet.domain.identity import IdentityInfo, IdentityNotice
from jukinet.domain.resident import (
    FamilyRegister,
    FamilyRegisterStatus,
    RecordVersion,
    ResidentRecord,
)
from jukinet.storage.base import Store
from jukinet.storage.memory import MemoryStore
from jukinet.storage.postgres import PostgresStore
from jukinet.storage.sqlite import SQLiteStore
from jukinet.testing.country import Country, build_country
from jukinet.testing.network import FaultyNetwork
from jukinet.testing.strategies import identity_notices, resident_records
from jukinet.tiers.clock import ManualClock, SystemClock
from jukinet.tiers.messages import NodeId, NodeKey, TrustStore
from jukinet.tiers.municipality import Municipality

SHORT = 200
"""The most characters a node's or a store's repr may have."""


def _memory(node: NodeId) -> Store:
    store = MemoryStore()
    store.create_schema()
    return store


@pytest.fixture
def country() -> Country:
    return build_country(_memory, ["131016", "271276"], seed=3, drop=0.1)


# --- live objects -------------------------------------------------------------------


def test_nodes_name_their_class_identity_and_store(country: Country) -> None:
    town = country.municipality("131016")
    assert repr(town).startswith(
        "<Municipality m:131016 東京都千代田区 on <MemoryStore database=0x"
    )
    assert repr(country.prefecture("13")).startswith("<Prefecture p:13 東京都 on <MemoryStore")
    assert repr(country.center).startswith("<NationalCenter c:jlis on <MemoryStore")
    assert repr(town.cs).startswith("<CommunicationServer m:131016 東京都千代田区 on ")
    for node in (town, town.cs, country.prefecture("27"), country.center):
        text = repr(node)
        assert len(text) < SHORT, text
        assert text.endswith(" open>>")


def test_desks_name_what_they_serve(country: Country) -> None:
    town = country.municipality("271276")
    assert repr(town.wide_area) == "<WideAreaDesk m:271276 大阪府大阪市北区>"
    assert repr(town.special_move) == "<SpecialMoveDesk m:271276 大阪府大阪市北区>"
    assert repr(country.desk("271276")) == (
        "<CardDesk m:271276 大阪府大阪市北区 terminal='271276-counter' checks=0>"
    )
    assert repr(country.center.cards) == "<CardOffice c:jlis>"
    assert repr(country.prefecture("27").provision).startswith(
        "<ProvisionDesk p:27 大阪府 on <MemoryStore"
    )


def test_country_network_trust_and_clocks(country: Country) -> None:
    assert repr(country) == (
        "<Country 1 centre, 2 prefectures, 2 municipalities"
        " at <ManualClock 2026-04-01T00:00:00+00:00>>"
    )
    country.network.crash(NodeId.parse("m:131016"))
    assert repr(country.network) == (
        "<FaultyNetwork 5 nodes, 0 in flight, crashed: m:131016; drop=0.1>"
    )
    assert repr(FaultyNetwork(random.Random(1))) == "<FaultyNetwork 0 nodes, 0 in flight>"
    assert [str(node) for node in country.trust.nodes()] == [
        "c:jlis",
        "m:131016",
        "m:271276",
        "p:13",
        "p:27",
    ]  # of mixed kinds (TrustStore.nodes() raised TypeError comparing NodeKinds)
    assert repr(country.trust) == "<TrustStore 5 nodes: c:jlis m:131016 m:271276 p:13 p:27>"
    assert repr(TrustStore()) == "<TrustStore 0 nodes: >"
    assert repr(SystemClock()) == "<SystemClock JST>"
    clock = ManualClock(datetime.datetime(2026, 4, 1, 9, 30, tzinfo=datetime.UTC))
    assert repr(clock.advance(days=1)) == "<ManualClock 2026-04-02T09:30:00+00:00>"


def test_a_big_trust_store_names_a_few_nodes() -> None:
    rng = random.Random(1)
    codes = ["131016", "131024", "131032", "131041", "131059", "131067", "131075", "131083"]
    trust = TrustStore()
    for code in codes:
        trust.add(
            NodeId.parse(f"m:{code}"), NodeKey.generate(NodeId.parse(f"m:{code}"), rng).public_bytes
        )
    text = repr(trust)
    assert text.startswith("<TrustStore 8 nodes: m:131016 m:131024 ")
    assert text.endswith(" … (+2)>")
    assert len(text) < SHORT


def test_no_repr_shows_a_key(country: Country) -> None:
    secrets = []
    for key in country.keys.values():
        public = key.public_bytes
        secrets += [public.hex(), base64.b64encode(public).decode()]
    for thing in (
        country,
        country.trust,
        country.center,
        country.municipality("131016"),
        country.desk("131016"),
        *country.keys.values(),
    ):
        text = repr(thing)
        assert not any(secret in text for secret in secrets), text


def test_memory_store_names_its_database() -> None:
    store = MemoryStore()
    other = store.reopen()
    assert repr(store) == repr(other)
    assert repr(store) == f"<MemoryStore database={id(store.database):#x} open>"
    store.close()
    assert repr(store).endswith(" closed>")
    assert repr(other).endswith(" open>")


def test_sqlite_store_names_its_path_and_survives_closing(tmp_path: Path) -> None:
    path = tmp_path / "town.db"
    store = SQLiteStore(path)
    store.create_schema()
    town = _town(store)
    assert repr(store) == f"<SQLiteStore {str(path)!r} open>"
    assert (
        repr(town) == f"<Municipality m:131016 東京都千代田区 on <SQLiteStore {str(path)!r} open>>"
    )
    store.close()
    assert repr(store) == f"<SQLiteStore {str(path)!r} closed>"
    assert repr(town).endswith(" closed>>")
    assert repr(SQLiteStore(":memory:")) == "<SQLiteStore ':memory:' open>"


def _town(store: Store) -> Municipality:
    rng = random.Random(1)
    key = NodeKey.generate(NodeId.parse("m:131016"), rng)
    trust = TrustStore({key.node: key.public_bytes})
    clock = ManualClock(datetime.datetime(2026, 4, 1, tzinfo=datetime.UTC))
    return Municipality("131016", store, key, trust, clock, rng)


class _BrokenStore(MemoryStore):
    def __repr__(self) -> str:
        raise RuntimeError("broken")


def test_a_node_repr_never_raises() -> None:
    town = _town(_BrokenStore())
    assert repr(town).startswith("<jukinet.tiers.municipality.Municipality object at 0x")
    half_built = object.__new__(Municipality)  # e.g. seen in a debugger after __init__ failed
    assert repr(half_built).startswith("<jukinet.tiers.municipality.Municipality object at 0x")


@pytest.mark.postgres
def test_postgres_store_shows_where_never_the_password(postgres_dsn: str) -> None:
    secret = "s3cret-pw-do-not-show"
    conn = psycopg.connect(postgres_dsn, password=secret, user="root")
    try:
        store = PostgresStore(conn, schema="jukinet_repr_check")
        info = conn.info
        where = f"{info.dbname}@{info.host}:{info.port}"
        assert (
            repr(store)
            == f"<PostgresStore {where} schema='jukinet_repr_check' via connection, open>"
        )
        store.close()
        assert repr(store).endswith(", closed>")
        second = PostgresStore(conn, schema="jukinet_repr_check")
    finally:
        conn.close()
    text = repr(second)  # the caller closed the connection: no query, no error
    assert (
        text
        == f"<PostgresStore {where} schema='jukinet_repr_check' via connection, connection closed>"
    )
    assert secret not in text
    assert "root" not in text
    assert len(text) < SHORT


@pytest.mark.postgres
def test_postgres_store_on_a_pool_shows_where_never_the_password(postgres_dsn: str) -> None:
    secret = "s3cret-pw-do-not-show"
    pool: ConnectionPool[Any] = ConnectionPool(
        f"{postgres_dsn} password={secret}", open=False, kwargs={"application_name": "repr"}
    )
    store = PostgresStore(pool, schema="jukinet_repr_check")
    text = repr(store)  # the pool was never opened: a repr must not open it
    assert text.startswith("<PostgresStore ")
    assert text.endswith(" schema='jukinet_repr_check' via pool, pool closed>")
    params = psycopg.conninfo.conninfo_to_dict(postgres_dsn)
    assert f"{params['dbname']}@" in text
    assert secret not in text
    assert f"user={params.get('user')}" not in text
    uri = ConnectionPool(f"postgresql://someone:{secret}@db.example:6543/app", open=False)
    assert repr(PostgresStore(uri)) == (
        "<PostgresStore app@db.example:6543 schema='jukinet' via pool, pool closed>"
    )
    asked: list[str] = []

    def conninfo() -> str:  # made on demand, e.g. fetching a secret: a repr never asks
        asked.append("conninfo")
        return postgres_dsn

    on_demand = ConnectionPool(conninfo, open=False)
    assert repr(PostgresStore(on_demand)) == (
        "<PostgresStore ? schema='jukinet' via pool, pool closed>"
    )
    assert asked == []


# --- records ------------------------------------------------------------------------


def _names() -> dict[str, object]:
    """What a record's repr needs in scope to be read back."""
    names: dict[str, object] = {"datetime": datetime}
    names.update({name: getattr(jukinet, name) for name in jukinet.__all__})
    names.update(vars(jukinet.domain.resident))
    return names


@given(resident_records())
def test_a_record_repr_omits_what_is_unset_and_reads_back(record: ResidentRecord) -> None:
    text = repr(record)
    assert text.startswith(f"ResidentRecord(internal_id={record.internal_id!r}, ")
    assert "None" not in text
    assert "rice_ration" not in text
    assert (", status=" in text) == (record.status is not jukinet.RecordStatus.REGISTERED)
    assert "<" not in text  # enums as Sex.MALE, not <Sex.MALE: '1'>
    assert eval(text, _names()) == record
    version = RecordVersion(
        version=1,
        record=record,
        reason=ChangeReason.BIRTH,
        event_date=record.birth_date,
        processed_on=record.birth_date,
    )
    assert eval(repr(version), _names()) == version


@given(identity_notices())
def test_a_notice_repr_reads_back(notice: IdentityNotice) -> None:
    text = repr(notice)
    assert text.startswith("IdentityNotice(info=IdentityInfo(resident_code=ResidentCode(")
    assert "None" not in text
    assert eval(text, _names()) == notice


def test_non_default_values_are_shown() -> None:
    register = FamilyRegister(status=FamilyRegisterStatus.UNKNOWN)
    assert repr(register) == "FamilyRegister(status=FamilyRegisterStatus.UNKNOWN)"
    assert repr(FamilyRegister(domicile="東京都千代田区千代田1番", head="山田 太郎")) == (
        "FamilyRegister(domicile='東京都千代田区千代田1番', head='山田 太郎')"
    )
    info = attrs.evolve(
        IdentityInfo(
            resident_code=jukinet.ResidentCode("12345678903"),
            name=jukinet.PersonName(family="山田", given="花子"),
            birth_date=datetime.date(1990, 4, 1),
            sex=jukinet.Sex.FEMALE,
            address=jukinet.Address("131016", "千代田1番1号"),
        ),
        individual_number=jukinet.IndividualNumber("621498320257"),
    )
    assert repr(info).endswith(", individual_number=IndividualNumber('621498320257'))")
