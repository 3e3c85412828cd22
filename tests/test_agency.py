"""The appended tables of permitted uses (住民基本台帳法 別表第一〜第六) as shipped data.

The counts and deleted rows come from ``data/README-agency-use-table.md`` (revision
342AC0000000081_20260724_508AC0000000066); the seed examples from domain-facts §5.2
are each looked up by the statute name as it appears in the table.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from datetime import date
from importlib import resources

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jukinet.domain.agency import (
    COLUMNS,
    IN_FORCE,
    REVISION,
    AgencyUseTable,
    Item,
    PermittedUse,
    Provider,
    SubjectScope,
    Table,
)
from jukinet.errors import (
    InvalidComponent,
    InvalidFormat,
    InvalidLength,
    JukinetError,
    NotFound,
    ValidationError,
)

USES = AgencyUseTable.load()
ALL_ROWS = list(USES)
IDENTITY = frozenset({Item.NAME, Item.BIRTH_DATE, Item.SEX, Item.ADDRESS, Item.CHANGE})


def use(table: object = 1, row: object = "1", **changes: object) -> PermittedUse:
    fields: dict[str, object] = {
        "table": table,
        "row": row,
        "recipient": "総務省",
        "task": "恩給法による年金の支給に関する事務であつて総務省令で定めるもの",
        "statutes": ("恩給法",),
    }
    fields.update(changes)
    return PermittedUse(**fields)  # type: ignore[arg-type]


# --- the shipped data -------------------------------------------------------


def test_revision_and_date() -> None:
    assert USES.revision == REVISION == "342AC0000000081_20260724_508AC0000000066"
    assert USES.in_force == IN_FORCE == date(2026, 7, 24)
    assert AgencyUseTable.load() is USES  # read once


def test_689_rows_with_the_counts_of_each_table() -> None:
    assert len(USES) == 689
    counts = Counter(u.table for u in USES)
    assert counts == {
        Table.FIRST: 305,
        Table.SECOND: 86,
        Table.THIRD: 103,
        Table.FOURTH: 85,
        Table.FIFTH: 103,
        Table.SIXTH: 7,
    }


def test_deleted_rows_are_in_table_1_only() -> None:
    deleted = [u.key for u in USES if u.deleted]
    assert deleted == ["1-4", "1-6", "1-7", "1-10", "1-52"]
    for key in deleted:
        row = USES.by_key(key)
        assert row.recipient == ""
        assert row.statutes == ()
        assert row.items(individual_number=True) == frozenset()


def test_keys_are_unique_and_iteration_follows_the_file() -> None:
    text = resources.files("jukinet.domain").joinpath("data", "agency_use_table.csv")
    lines = text.read_text(encoding="utf-8").splitlines()
    assert lines[0] == ",".join(COLUMNS)
    file_keys = [f"{line.split(',', 2)[0]}-{line.split(',', 2)[1]}" for line in lines[1:]]
    assert [u.key for u in USES] == file_keys
    assert len(set(file_keys)) == 689
    assert [u.sort_key for u in USES] == sorted(u.sort_key for u in USES)


def test_every_row_in_force_names_a_recipient_task_and_statute() -> None:
    """Every task ends with 総務省令で定めるもの (README checks) and cites a law."""
    for row in USES:
        if row.deleted:
            continue
        assert row.recipient
        assert row.statutes
        assert row.task.endswith("総務省令で定めるもの"), row.key


def test_table_5_recipient_is_the_governor() -> None:
    """別表第五 has no left column: the governor uses the data (住基法30条の15第1項)."""
    assert {u.recipient for u in USES if u.table is Table.FIFTH} == {"都道府県知事"}


def test_row_and_key_lookups_agree() -> None:
    for row in ALL_ROWS:
        assert USES.row(row.table, row.row) is row
        assert USES.by_key(row.key) is row
    assert USES.row("別表第一", "５７の３") is USES.by_key("1-57の3")
    assert USES.row(1, "57の3").recipient == "厚生労働省"


# --- the seed examples ------------------------------------------------------

SEEDS = [
    # (what, statute, expected key, expected recipient, a word of the task)
    ("恩給", "恩給法", "1-16", "総務省", "年金"),
    ("共済年金", "国家公務員共済組合法", "1-42", "国家公務員共済組合連合会", "退職等年金給付"),
    ("共済年金 (地方)", "地方公務員等共済組合法", "1-19", "地方公務員共済組合", "退職等年金給付"),
    ("戦傷病者の遺族年金", "戦傷病者戦没者遺族等援護法", "1-78", "厚生労働省", "援護"),
    ("労災保険", "労働者災害補償保険法", "1-63", "厚生労働省", "保険給付"),
    ("雇用保険", "雇用保険法", "1-69", "厚生労働省", "失業等給付"),
    ("児童扶養手当", "児童扶養手当法", "2-5の7", "福祉事務所を管理する町村長", "児童扶養手当"),
    ("無線局の免許", "電波法", "1-26", "総務省", "免許"),
    ("不動産鑑定士", "不動産の鑑定評価に関する法律", "1-107", "国土交通省", "不動産鑑定士"),
    ("建設業", "建設業法", "1-97", "国土交通省", "建設業の許可"),
    ("宅地建物取引業", "宅地建物取引業法", "1-101", "国土交通省", "宅地建物取引業の免許"),
    ("旅行業", "旅行業法", "1-104", "観光庁", "旅行業の登録"),
    ("建築士", "建築士法", "1-109", "国土交通省", "免許"),
    ("気象予報士", "気象業務法", "1-119", "気象庁", "第二十四条の二十の登録"),
    ("旅券", "旅券法", "1-41", "外務省", "発行"),
    ("選挙人名簿", "公職選挙法", "2-2", "選挙管理委員会", "選挙"),
]


@pytest.mark.parametrize(
    ("what", "statute", "key", "recipient", "word"), SEEDS, ids=[s[0] for s in SEEDS]
)
def test_seed_example_is_answerable_by_statute(
    what: str, statute: str, key: str, recipient: str, word: str
) -> None:
    found = USES.by_statute(statute)
    assert found, what
    assert all(not u.deleted and statute in u.statutes for u in found)
    row = USES.by_key(key)
    assert row in found
    assert recipient in row.recipient
    assert word in row.task


def test_passport_rows_go_to_the_foreign_ministry_or_the_governor() -> None:
    """旅券: 外務省 (別表第一41) and the governor's own use (別表第五6), 住基法30条の9, 30条の15."""
    assert [(u.key, u.recipient) for u in USES.by_statute("旅券法")] == [
        ("1-41", "外務省"),
        ("5-6", "都道府県知事"),
    ]


def test_election_register_rows() -> None:
    """The election-register check: 別表第二/第四 (市町村長, 選挙管理委員会), 公職選挙法."""
    found = USES.by_statute("公職選挙法")
    assert {(u.table, u.recipient) for u in found} == {
        (Table.SECOND, "市町村長"),
        (Table.SECOND, "選挙管理委員会"),
        (Table.FOURTH, "市町村長"),
    }
    assert USES.search("選挙人名簿")


def test_seed_examples_by_keyword() -> None:
    assert USES.by_key("1-16") in USES.search("恩給法")
    assert USES.by_key("1-63") in USES.search("労働者災害補償保険法")
    assert USES.by_key("1-26") in USES.search("電波法")
    assert [u.key for u in USES.by_recipient("気象庁")] == ["1-119"]
    assert USES.by_key("1-77") in USES.by_recipient("日本年金機構")


def test_queries_skip_deleted_rows_and_filter_by_table() -> None:
    everything = USES.search("事務")
    assert len(everything) == 689 - 5
    assert all(u.table is Table.SIXTH for u in USES.search("事務", table=6))
    assert len(USES.search("事務", table="別表第六")) == 7
    assert [u.key for u in USES.by_statute("建設業法", table=Table.FIFTH)] == ["5-21"]
    assert USES.by_statute("恩給") == []  # exact statute names only
    assert USES.by_statute("　恩給法 ") == USES.by_statute("恩給法")


def test_queries_fold_width() -> None:
    """Queries and table text are compared after NFKC: （ and ( are the same."""
    assert USES.search("恩給法(大正十二年法律第四十八号") == USES.search(
        "恩給法（大正十二年法律第四十八号"
    )
    assert USES.search("恩給法（大正十二年法律第四十八号") == [USES.by_key("1-16")]


# --- the tables -------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "label", "article", "provider", "scope"),
    [
        (Table.FIRST, "別表第一", "30条の9", Provider.CENTER, SubjectScope.NATIONWIDE),
        (Table.SECOND, "別表第二", "30条の10", Provider.CENTER, SubjectScope.SAME_PREFECTURE),
        (Table.THIRD, "別表第三", "30条の11", Provider.CENTER, SubjectScope.OTHER_PREFECTURE),
        (Table.FOURTH, "別表第四", "30条の12", Provider.CENTER, SubjectScope.OTHER_PREFECTURE),
        (
            Table.FIFTH,
            "別表第五",
            "30条の15第1項",
            Provider.PREFECTURE,
            SubjectScope.OWN_PREFECTURE,
        ),
        (
            Table.SIXTH,
            "別表第六",
            "30条の15第2項",
            Provider.PREFECTURE,
            SubjectScope.OWN_PREFECTURE,
        ),
    ],
)
def test_table_facts(
    table: Table, label: str, article: str, provider: Provider, scope: SubjectScope
) -> None:
    """J-LIS provides under 別表第一〜第四 (住基法30条の9〜30条の12: 機構は…提供する);
    the governor uses or provides the prefecture's copy under 別表第五・第六 (30条の15)."""
    assert table.label_ja == label
    assert table.article == article
    assert table.provider is provider
    assert table.scope is scope
    assert Table.parse(label) is Table.parse(table.value) is Table.parse(str(table.value)) is table


def test_citations() -> None:
    assert USES.by_key("1-57の3").citation == "別表第一の57の3の項"
    assert USES.by_key("5-21").citation == "別表第五第21号"
    assert Table.FIFTH.row_label == "号"
    assert Table.SIXTH.row_label == "項"


# --- items ------------------------------------------------------------------


def test_items_table_1() -> None:
    """住基法30条の9: 機構保存本人確認情報のうち住民票コード以外のもの; 個人番号 only
    where the recipient may use it under 番号法9条1項."""
    row = USES.by_key("1-77")
    assert row.items(individual_number=False) == IDENTITY
    assert row.items(individual_number=True) == IDENTITY | {Item.INDIVIDUAL_NUMBER}


@pytest.mark.parametrize("table", [Table.SECOND, Table.THIRD, Table.FOURTH])
def test_items_tables_2_to_4(table: Table) -> None:
    """住基法30条の10〜30条の12, 第1項第1号 (a request under 別表第二〜第四):
    機構保存本人確認情報 (住民票コードを除く); 個人番号 only under 番号法9条1項."""
    row = next(u for u in USES if u.table is table)
    assert row.items(individual_number=False) == IDENTITY
    assert row.items(individual_number=True) == IDENTITY | {Item.INDIVIDUAL_NUMBER}


@pytest.mark.parametrize("table", [Table.FIFTH, Table.SIXTH])
def test_items_tables_5_and_6(table: Table) -> None:
    """住基法30条の15第1項: 都道府県知事保存本人確認情報 (住民票コードを除く。次項…において
    同じ。); 個人番号 only under 番号法9条1項又は2項 (第1項ただし書, 第2項ただし書)."""
    row = next(u for u in USES if u.table is table)
    assert row.items(individual_number=False) == IDENTITY
    assert row.items(individual_number=True) == IDENTITY | {Item.INDIVIDUAL_NUMBER}


def test_items_over_every_row() -> None:
    """Every row, both ways: never the resident code (住基法30条の9〜30条の15), the
    individual number only when asked (番号法9条)."""
    for row in ALL_ROWS:
        for individual_number in (False, True):
            items = row.items(individual_number=individual_number)
            assert Item.RESIDENT_CODE not in items
            assert (Item.INDIVIDUAL_NUMBER in items) is (individual_number and not row.deleted)


@given(row=st.sampled_from(ALL_ROWS), individual_number=st.booleans())
def test_items_never_leak_codes(row: PermittedUse, individual_number: bool) -> None:
    """No row gives the resident code (in particular 別表第一, 住基法30条の9), and none
    gives the individual number unless asked (番号法9条)."""
    items = row.items(individual_number=individual_number)
    assert Item.RESIDENT_CODE not in items
    if row.table is Table.FIRST:
        assert Item.RESIDENT_CODE not in items
    if not individual_number:
        assert Item.INDIVIDUAL_NUMBER not in items
    assert (items == frozenset()) is row.deleted
    if not row.deleted:
        assert items >= IDENTITY


# --- bad input --------------------------------------------------------------


def test_unknown_table() -> None:
    with pytest.raises(InvalidComponent, match="no appended table 7"):
        USES.row(7, "1")
    with pytest.raises(InvalidComponent):
        use(table=7)
    with pytest.raises(InvalidComponent):
        Table.parse("別表第七")
    with pytest.raises(InvalidComponent):
        Table.parse(0)
    with pytest.raises(InvalidFormat):
        Table.parse(True)
    with pytest.raises(InvalidFormat):
        Table.parse(1.0)


@pytest.mark.parametrize("row", ["12a", "", "0", "57の", "の3", "57-3", "057", "五十七"])
def test_malformed_row(row: str) -> None:
    with pytest.raises(InvalidFormat, match="row"):
        use(row=row)
    with pytest.raises(InvalidFormat):
        USES.row(1, row)


def test_non_str_fields() -> None:
    with pytest.raises(InvalidFormat, match="row: expected a str, got int"):
        use(row=12)
    with pytest.raises(InvalidFormat, match="recipient"):
        use(recipient=None)
    with pytest.raises(InvalidFormat, match="task"):
        use(task=b"x")
    with pytest.raises(InvalidFormat, match="statutes"):
        use(statutes="恩給法")
    with pytest.raises(InvalidFormat, match="statutes"):
        use(statutes=("恩給法", 1))
    with pytest.raises(InvalidFormat):
        USES.row(1, 57)  # type: ignore[arg-type]
    with pytest.raises(InvalidFormat):
        USES.by_key(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidFormat):
        USES.search(None)  # type: ignore[arg-type]


def test_other_bad_fields() -> None:
    with pytest.raises(InvalidFormat, match="recipient"):
        use(recipient=" ")
    with pytest.raises(InvalidFormat, match="statutes"):
        use(statutes=("恩給法", "恩給法"))
    with pytest.raises(InvalidFormat, match="statutes"):
        use(statutes=("恩給法|旅券法",))
    with pytest.raises(InvalidComponent, match="deleted"):
        use(task="削除")
    deleted = use(task="削除", recipient="", statutes=())
    assert deleted.deleted
    assert deleted.items(individual_number=True) == frozenset()


def test_not_found_says_what_was_looked_for() -> None:
    with pytest.raises(NotFound) as info:
        USES.row(Table.SIXTH, "99")
    assert "別表第六 has no row 99" in str(info.value)
    assert REVISION in str(info.value)
    with pytest.raises(NotFound):
        USES.by_key("2-1の99")
    with pytest.raises(InvalidFormat):
        USES.by_key("1_57")
    with pytest.raises(InvalidFormat):
        USES.search("  ")


def test_constructed_table() -> None:
    small = AgencyUseTable(
        [use(row="2"), use(row="1の2", statutes=("旅券法",)), use(table=5, row="1")],
        revision="test",
        in_force=date(2000, 1, 1),
    )
    assert [u.key for u in small] == ["1-1の2", "1-2", "5-1"]
    assert [u.key for u in small.by_statute("恩給法")] == ["1-2", "5-1"]
    with pytest.raises(InvalidComponent, match="twice"):
        AgencyUseTable([use(), use()], revision="test", in_force=date(2000, 1, 1))
    with pytest.raises(InvalidFormat):
        AgencyUseTable([use()], revision="", in_force=date(2000, 1, 1))
    with pytest.raises(InvalidFormat):
        AgencyUseTable(["1-1"], revision="x", in_force=date(2000, 1, 1))  # type: ignore[list-item]


def test_from_csv_names_the_bad_line() -> None:
    header = ",".join(COLUMNS)
    with pytest.raises(InvalidFormat, match="line 3"):
        AgencyUseTable.from_csv(
            f"{header}\n1,1,総務省,事務,恩給法\n1,1x,総務省,事務,恩給法\n",
            revision="t",
            in_force=date(2000, 1, 1),
        )
    with pytest.raises(InvalidFormat, match="header"):
        AgencyUseTable.from_csv("a,b\n", revision="t", in_force=date(2000, 1, 1))


# --- fuzzing ----------------------------------------------------------------

anything = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(), st.binary(), st.tuples()
)


@given(table=anything, row=anything, recipient=anything, task=anything, statutes=anything)
def test_constructor_raises_only_jukinet_errors(
    table: object, row: object, recipient: object, task: object, statutes: object
) -> None:
    with contextlib.suppress(JukinetError):
        built = PermittedUse(
            table=table,
            row=row,
            recipient=recipient,  # type: ignore[arg-type]
            task=task,  # type: ignore[arg-type]
            statutes=statutes,
        )
        assert isinstance(built.table, Table)


@given(table=st.one_of(st.integers(), st.text(max_size=6)), row=st.text(max_size=8))
def test_lookups_raise_only_jukinet_errors(table: int | str, row: str) -> None:
    try:
        found = USES.row(table, row)
    except (ValidationError, NotFound):
        return
    assert found.table is Table.parse(table)


@given(text=st.text(max_size=6))
def test_queries_return_rows_in_force(text: str) -> None:
    for query in (USES.search, USES.by_recipient, USES.by_statute):
        try:
            found = query(text)
        except InvalidFormat:
            continue
        assert all(not u.deleted for u in found)


# --- bounds (issue 10) ---------------------------------------------------------------


@pytest.mark.parametrize("text", ["9" * 5000, "９" * 5000, "別表第" + "一" * 5000])
def test_a_huge_table_number_is_a_validation_error(text: str) -> None:
    # int("9" * 5000) is a ValueError (Python's digit limit): refused before converting.
    with pytest.raises(InvalidLength):
        Table.parse(text)
    with pytest.raises(InvalidLength):
        USES.row(text, "1")


def test_huge_rows_keys_and_texts_are_validation_errors() -> None:
    with pytest.raises(InvalidLength):
        PermittedUse(table=1, row="9" * 5000, recipient="x", task="y", statutes=())
    with pytest.raises(InvalidLength):
        USES.by_key("1-" + "9" * 5000)
    with pytest.raises(InvalidLength):
        USES.by_key("9" * 5000 + "-1")
    with pytest.raises(InvalidLength):
        USES.search("年金" * 5000)
    for field, value in (("recipient", "省" * 5000), ("task", "事務" * 5000)):
        row = {"table": 1, "row": "1", "recipient": "x", "task": "y", "statutes": ()}
        with pytest.raises(InvalidLength):
            PermittedUse(**{**row, field: value})  # type: ignore[arg-type]
    with pytest.raises(InvalidLength):
        PermittedUse(table=1, row="1", recipient="x", task="y", statutes=("法" * 500,))


@pytest.mark.parametrize(
    "body",
    [
        "1,1,x,y," + "z" * 200_000 + "\n",  # a field beyond csv.field_size_limit()
        "1,1,x\ry,t,s\n",  # a carriage return inside an unquoted field
    ],
    ids=["field too large", "carriage return"],
)
def test_text_that_is_not_csv_is_an_invalid_format(body: str) -> None:
    # Both raised _csv.Error.
    text = ",".join(COLUMNS) + "\n1,1,x,y,z\n" + body
    with pytest.raises(InvalidFormat, match=r"line 3 is not CSV"):
        AgencyUseTable.from_csv(text, revision="r", in_force=IN_FORCE)
