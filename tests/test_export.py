"""jukinet.export: flat tables of the 別表, identity information, registers and the
provision log, on every storage adapter."""

from __future__ import annotations

import random
import sys
from datetime import date, datetime

import attrs
import pytest

from jukinet import export
from jukinet.domain.agency import AgencyUseTable, PermittedUse
from jukinet.domain.names import PersonName
from jukinet.domain.resident import (
    HEAD_OF_HOUSEHOLD,
    FamilyRegister,
    HouseholdMembership,
    ResidentRecord,
    Sex,
)
from jukinet.errors import InvalidFormat, MissingDependency, NotPermitted
from jukinet.export import Column, Table
from jukinet.testing.country import Country, StoreFactory, build_country
from jukinet.tiers.messages import CENTER, NodeId, NodeKey
from jukinet.tiers.provision import ByCode, ProvisionRequest, seal_request

CHIYODA, CHUO, OSAKA_KITA = "131016", "131024", "271276"
PLAIN = (str, int, float, bool, date, datetime, type(None))


@attrs.define
class World:
    country: Country
    hanako: ResidentRecord
    taro: ResidentRecord


def _birth(country: Country, town: str, given: str, reading: str) -> ResidentRecord:
    return country.municipality(town).register_birth(
        name=PersonName(family="山田", given=given, family_reading="ヤマダ", given_reading=reading),
        birth_date=country.clock.today(),
        sex=Sex.FEMALE,
        household=HouseholdMembership(household_id=f"H{given}", relationship=HEAD_OF_HOUSEHOLD),
        address="本町1丁目1番1号",
        family_register=FamilyRegister(domicile="東京都千代田区千代田1番", head="山田 一郎"),
    )


@pytest.fixture
def world(store_factory: StoreFactory) -> World:
    """Two births, a move from 千代田区 to 大阪市北区, a name change, a lawful query,
    a refused one and a disclosure."""
    country = build_country(store_factory, [CHIYODA, CHUO, OSAKA_KITA], seed=3)
    country.network.settle()
    hanako = _birth(country, CHIYODA, "花子", "ハナコ")
    taro = _birth(country, CHUO, "太郎", "タロウ")
    country.network.settle()
    country.clock.advance(days=10)
    today = country.clock.today()
    chiyoda = country.municipality(CHIYODA)
    certificate = chiyoda.move_out(
        hanako.resident_code, planned_date=today, destination="大阪府大阪市北区"
    )
    country.municipality(OSAKA_KITA).register_move_in(
        certificate,
        address="梅田1丁目1番1号",
        household=HouseholdMembership(household_id="HOSAKA", relationship=HEAD_OF_HOUSEHOLD),
        moved_in_on=today,
    )
    country.municipality(CHUO).change_name(
        taro.resident_code,
        name=PersonName(
            family="佐藤", given="太郎", family_reading="サトウ", given_reading="タロウ"
        ),
        changed_on=today,
    )
    country.network.settle()
    key = NodeKey.generate(NodeId.agency("nenkin"), random.Random(1))
    country.center.provision.register_agency(
        "nenkin", key.public_bytes, recipients=["厚生労働省及び日本年金機構"]
    )
    request = ProvisionRequest(
        request_id="q-1",
        agency="nenkin",
        use="1-77",
        queries=(ByCode(resident_code=hanako.resident_code),),
    )
    now = country.clock.now()
    country.center.provide(seal_request(key, CENTER, request, sent_at=now))
    refused = attrs.evolve(request, request_id="q-2", use="1-41")
    with pytest.raises(NotPermitted):
        country.center.provide(seal_request(key, CENTER, refused, sent_at=now))
    country.center.provision.disclose(hanako.resident_code, request_id="d-1")
    return World(country, hanako, taro)


def _assert_flat(table: Table) -> None:
    for row in table.to_dicts():
        assert list(row) == list(table.names)
        for value in row.values():
            assert isinstance(value, PLAIN), (table.name, value)


def _assert_relabelled(table: Table) -> None:
    plain, japanese = table.to_dicts(), table.to_dicts(japanese=True)
    assert [list(row) for row in japanese] == [list(table.labels)] * len(table)
    assert [list(row.values()) for row in plain] == [list(row.values()) for row in japanese]


# --- the 別表 and the local-government list (no storage) ---------------------------


def test_agency_uses_is_the_shipped_table_flat() -> None:
    table = export.agency_uses()
    uses = AgencyUseTable.load()
    assert len(table) == len(uses) == 689
    _assert_flat(table)
    _assert_relabelled(table)
    assert table.column("key") == tuple(use.key for use in uses)
    by_key = {row["key"]: row for row in table}
    pension = by_key["1-77"]
    assert pension["table_label"] == "別表第一"
    assert pension["ministry"] == "厚生労働省"
    assert pension["provider"] == "center"
    assert "resident_code" not in str(pension["items"])  # 30条の9: never the code
    assert by_key["1-1の2"]["ministry"] == "金融庁"  # 金融庁又は財務省
    assert by_key["1-4"]["deleted"] is True
    assert by_key["1-4"]["items"] == ""
    assert by_key["2-1"]["ministry"] is None  # 市町村長
    assert by_key["5-1"]["provider"] == "prefecture"
    assert {row["revision"] for row in table} == {uses.revision}


def test_agency_uses_of_another_table() -> None:
    one = PermittedUse(
        table=1, row="1", recipient="気象庁", task="気象業務に関する事務", statutes=("気象業務法",)
    )
    table = export.agency_uses(AgencyUseTable([one], revision="test", in_force=date(2020, 1, 1)))
    assert table.to_dicts() == [
        {
            "table": 1,
            "table_label": "別表第一",
            "row": "1",
            "key": "1-1",
            "citation": "別表第一の1の項",
            "recipient": "気象庁",
            "ministry": "気象庁",
            "task": "気象業務に関する事務",
            "statutes": "気象業務法",
            "article": "30条の9",
            "provider": "center",
            "scope": "nationwide",
            "items": "name|birth_date|sex|address|change",
            "deleted": False,
            "revision": "test",
            "in_force": date(2020, 1, 1),
        }
    ]
    with pytest.raises(TypeError):
        export.agency_uses([one])  # type: ignore[arg-type]


def test_local_governments() -> None:
    table = export.local_governments()
    _assert_flat(table)
    rows = {row["code"]: row for row in table}
    assert rows["131016"]["full_name"] == "東京都千代田区"
    assert rows["131016"]["keeps_register"] is True
    assert rows["271004"]["keeps_register"] is False  # 大阪市: its wards keep the registers
    assert rows["271276"]["parent"] == "271004"
    assert table.to_dicts(japanese=True)[0]["団体コード"] == "010006"


# --- the tiers, on every adapter -------------------------------------------------


def test_identity_rows_current_and_history(world: World) -> None:
    country = world.country
    hanako = world.hanako.resident_code.value
    for node in (country.center, country.prefecture("13"), country.prefecture("27")):
        current = export.identity_rows(node)
        _assert_flat(current)
        _assert_relabelled(current)
        everything = export.identity_rows(node, history=True)
        _assert_flat(everything)
        assert len(everything) >= len(current)
        assert len(set(current.column("resident_code"))) == len(current)
    center = export.identity_rows(country.center, history=True)
    hers = [row for row in center if row["resident_code"] == hanako]
    assert [row["reason"] for row in hers] == ["birth", "domestic_move_out", "domestic_move_in"]
    assert [row["version"] for row in hers] == [1, 2, 3]
    assert hers[-1]["municipality"] == OSAKA_KITA
    assert hers[-1]["municipality_name"] == "大阪府大阪市北区"
    assert hers[-1]["reason_label"] == "国内転入"
    assert hers[0]["holder"] == "c:jlis"
    assert all(row["received_on"] == row["event_date"] for row in hers)
    now = {row["resident_code"]: row for row in export.identity_rows(country.center)}
    assert now[hanako]["address"] == "大阪府大阪市北区梅田1丁目1番1号"
    assert now[hanako]["removed"] is False
    assert now[world.taro.resident_code.value]["name"] == "佐藤 太郎"
    assert now[world.taro.resident_code.value]["reading"] == "サトウ タロウ"


def test_identity_rows_at_a_municipality_are_what_it_notifies(world: World) -> None:
    country = world.country
    chiyoda = export.identity_rows(country.municipality(CHIYODA), history=True)
    _assert_flat(chiyoda)
    assert [row["reason"] for row in chiyoda] == ["birth", "domestic_move_out"]
    assert chiyoda.column("received_on") == (None, None)
    (current,) = export.identity_rows(country.municipality(CHIYODA))
    assert current["removed"] is True
    assert current["kind"] == "removal"
    # what the municipality notified is what the centre holds from it
    held = [
        row
        for row in export.identity_rows(country.center, history=True)
        if row["municipality"] == CHIYODA
    ]
    drop = {"holder", "version", "received_on"}
    assert [{k: v for k, v in row.items() if k not in drop} for row in chiyoda] == [
        {k: v for k, v in row.items() if k not in drop} for row in held
    ]
    with pytest.raises(TypeError):
        export.identity_rows(country.stores[CENTER])  # type: ignore[arg-type]


def test_register_one_row_per_record(world: World) -> None:
    country = world.country
    chiyoda = export.register(country.municipality(CHIYODA))
    _assert_flat(chiyoda)
    _assert_relabelled(chiyoda)
    (row,) = chiyoda
    assert row["resident_code"] == world.hanako.resident_code.value
    assert row["status"] == "removed"
    assert row["removal_reason"] == "domestic_move_out"
    assert str(row["destination"]).startswith("大阪府大阪市北区")
    assert row["domicile"] == "東京都千代田区千代田1番"
    assert row["head_of_household"] == "山田 花子"
    assert chiyoda.to_dicts(japanese=True)[0]["氏"] == "山田"
    osaka = export.register(country.municipality(OSAKA_KITA))
    (there,) = osaka
    assert there["status"] == "registered"
    assert there["reason"] == "domestic_move_in"
    assert there["previous_address"] is not None
    chuo = export.register(country.municipality(CHUO), history=True)
    assert chuo.column("version") == (1, 2)
    assert chuo.column("family_name") == ("山田", "佐藤")
    with pytest.raises(TypeError):
        export.register(country.center)  # type: ignore[arg-type]


def test_provision_log(world: World) -> None:
    country = world.country
    table = export.provision_log(country.center)
    _assert_flat(table)
    _assert_relabelled(table)
    assert table.column("kind") == ("provided", "refused", "disclosed")
    provided = table.to_dicts()[0]
    assert provided["agency"] == "nenkin"
    assert provided["citation"] == "別表第一の77の項"
    assert provided["recipient"] == "厚生労働省及び日本年金機構"
    assert provided["subject"] == world.hanako.resident_code.value
    assert "resident_code" not in str(provided["items"]).split("|")
    assert isinstance(provided["at"], datetime)
    assert table.column("seq") == (1, 2, 3)
    assert export.provision_log(country.center.provision).to_dicts() == table.to_dicts()
    assert len(export.provision_log(country.prefecture("13"))) == 0
    assert export.provision_log(country.prefecture("13")).names == table.names
    with pytest.raises(TypeError):
        export.provision_log(country.municipality(CHIYODA))  # type: ignore[arg-type]


def test_jpki_feed(world: World) -> None:
    feed = export.jpki_feed(world.country.center)
    _assert_flat(feed)
    _assert_relabelled(feed)
    expected = world.country.center.revocations(limit=10_000)
    assert feed.column("position") == tuple(position for position, _ in expected)
    assert feed.column("cause") == tuple(notice.cause.value for _, notice in expected)
    assert feed.column("certificate_label") == tuple(
        notice.certificate.label_ja for _, notice in expected
    )
    codes = set(feed.column("resident_code"))
    assert world.hanako.resident_code.value in codes  # her move revokes (JPKI法12条)
    positions = [p for p in feed.column("position") if isinstance(p, int)]
    assert list(positions) == sorted(positions)
    assert len(export.jpki_feed(world.country.center, after=positions[-1])) == 0
    with pytest.raises(TypeError):
        export.jpki_feed(world.country.prefecture("13"))  # type: ignore[arg-type]


# --- the Table --------------------------------------------------------------------


def _small() -> Table:
    return Table.from_dicts(
        "t",
        (Column("code", "住民票コード"), Column("born", "生年月日")),
        [{"code": "12345678903", "born": date(2000, 1, 2)}, {"code": "x", "born": None}],
    )


def test_table_rejects_what_is_not_flat_or_not_its_columns() -> None:
    columns = (Column("a", "甲"),)
    with pytest.raises(InvalidFormat, match="holds a dict"):
        Table.from_dicts("t", columns, [{"a": {"b": 1}}])  # type: ignore[dict-item]
    with pytest.raises(InvalidFormat, match="lacks"):
        Table.from_dicts("t", columns, [{"b": 1}])
    with pytest.raises(InvalidFormat, match="not a tuple of 1"):
        Table("t", columns, ((1, 2),))
    with pytest.raises(InvalidFormat, match="same label"):
        Table("t", (Column("a", "甲"), Column("b", "甲")), ())
    with pytest.raises(InvalidFormat, match="column name"):
        Column("a b", "甲")
    with pytest.raises(InvalidFormat, match="no column"):
        _small().column("nope")


def test_table_iterates_as_dicts() -> None:
    table = _small()
    assert list(table) == table.to_dicts()
    assert table.column("生年月日") == (date(2000, 1, 2), None)
    assert repr(table) == "<Table t: 2 rows, 2 columns>"


def test_to_pandas_round_trip() -> None:
    pandas = pytest.importorskip("pandas")
    table = _small()
    frame = table.to_pandas()
    assert list(frame.columns) == ["code", "born"]
    assert frame.to_dict("records")[0] == {"code": "12345678903", "born": date(2000, 1, 2)}
    assert list(table.to_pandas(japanese=True).columns) == ["住民票コード", "生年月日"]
    assert pandas.DataFrame(table.to_dicts()).shape == frame.shape
    empty = Table.from_dicts("e", (Column("a", "甲"),), []).to_pandas()
    assert list(empty.columns) == ["a"]
    assert len(empty) == 0
    uses = export.agency_uses().to_pandas()
    counts = uses[uses["table"] == 1].groupby("ministry").size()
    assert counts["厚生労働省"] > counts["法務省"] > 0


def test_to_pandas_without_pandas_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas raises ImportError
    with pytest.raises(MissingDependency, match=r"pip install 'jukinet\[pandas\]'"):
        _small().to_pandas()
