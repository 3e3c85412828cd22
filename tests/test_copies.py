"""Wide-area copies of the 住民票 (住基法12条の4): what they show, what they never show."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import attrs
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from jukinet.domain.changes import ChangeReason
from jukinet.domain.copies import (
    SHOWN_ARTICLES,
    TITLE,
    CopyItem,
    CopyOptions,
    ResidentCopy,
    copy_items,
    make_copy,
)
from jukinet.domain.era import format_wareki
from jukinet.domain.lg_code import LocalGovernmentCode
from jukinet.domain.names import PersonName
from jukinet.domain.resident import (
    HEAD_OF_HOUSEHOLD,
    ChildAllowance,
    FamilyRegister,
    ForeignResidentCategory,
    ForeignResidentInfo,
    HouseholdMembership,
    InsurancePeriod,
    MoveInEntry,
    NationalPension,
    RecordStatus,
    Removal,
    ResidentRecord,
)
from jukinet.errors import InvalidComponent, InvalidFormat, InvalidState, JukinetError
from jukinet.testing import strategies as jst
from jukinet.testing.examples import resident_record

CHIYODA = LocalGovernmentCode("131016")
SAPPORO_CHUO = LocalGovernmentCode("011011")
DIGEST = "0f" * 32
ISSUED_ON = date(2026, 11, 2)
LATEST = date(2026, 11, 1)

# Surnames outside the shipped list of the 100 most common: a 筆頭者, 旧氏 or 通称
# drawn with them cannot be mistaken for a name the copy legitimately shows.
REGISTER_HEAD_SURNAME = "勅使河原"
FORMER_SURNAME = "五百旗頭"
ALIAS_SURNAME = "勘解由小路"
NEVER_SHOWN_LABELS = {
    *("本籍", "筆頭者", "本籍・筆頭者", "戸籍の表示", "選挙人名簿", "国民健康保険", "介護保険"),
    *("後期高齢者医療", "国民年金", "基礎年金番号", "児童手当", "米穀の配給", "旧氏", "通称"),
}

options_st = st.builds(
    CopyOptions,
    relationship=st.booleans(),
    individual_number=st.booleans(),
    resident_code=st.booleans(),
)
digests = st.binary(min_size=32, max_size=32).map(bytes.hex)


def _dates_from(start: date) -> st.SearchStrategy[date]:
    return st.dates(min_value=start, max_value=max(start, LATEST))


@st.composite
def _never_shown(draw: st.DrawFn, record: ResidentRecord) -> ResidentRecord:
    """``record`` with every item a wide-area copy never shows filled in, by fresh values:
    7条5号, 9号, 10号〜12号, 14号 (住基法12条の4第1項), and the municipality's own numbers."""
    birth = record.birth_date
    given_name = draw(st.sampled_from(["一郎", "花子", "正", "和子", "茂"]))
    changes: dict[str, Any] = {
        "internal_id": f"A{draw(st.integers(0, 10**9)):010d}",
        "household": attrs.evolve(
            record.household, household_id=f"S{draw(st.integers(0, 10**9)):010d}"
        ),
        "national_health_insurance": InsurancePeriod(acquired_on=draw(_dates_from(birth))),
        "late_stage_elderly_insurance": InsurancePeriod(acquired_on=draw(_dates_from(birth))),
        "long_term_care_insurance": InsurancePeriod(acquired_on=draw(_dates_from(birth))),
        "national_pension": NationalPension(
            acquired_on=draw(_dates_from(birth)),
            category=draw(st.sampled_from(["第1号被保険者", "任意加入被保険者"])),
            basic_pension_number=f"{draw(st.integers(0, 10**10 - 1)):010d}",
        ),
        "child_allowance": ChildAllowance(start_month=draw(_dates_from(birth)).replace(day=1)),
        "rice_ration": draw(st.booleans()),
    }
    if record.moved_in is not None:
        changes["moved_in"] = attrs.evolve(
            record.moved_in,
            moved_from=draw(jst.register_municipalities()),
            certificate=draw(jst.certificate_numbers()),
        )
    if record.foreign is None:
        changes["family_register"] = FamilyRegister(
            domicile=f"{draw(jst.addresses()).municipality.full_name}{draw(st.integers(1, 999))}番地",
            head=f"{REGISTER_HEAD_SURNAME} {given_name}",
        )
        changes["electoral_register"] = draw(st.booleans())
        changes["name"] = attrs.evolve(record.name, former_family=FORMER_SURNAME)
    else:
        changes["name"] = attrs.evolve(record.name, alias=f"{ALIAS_SURNAME} {given_name}")
    return attrs.evolve(record, **changes)


@st.composite
def _shown_extras(draw: st.DrawFn, record: ResidentRecord) -> ResidentRecord:
    """``record`` with the shown items the shipped strategy leaves out: 7条7号's date
    and 7条8号's move-in."""
    changes: dict[str, Any] = {}
    if draw(st.booleans()):
        changes["address_since"] = draw(_dates_from(record.resident_since))
    if draw(st.booleans()):
        changes["moved_in"] = MoveInEntry(
            notified_on=draw(_dates_from(record.resident_since)),
            previous_address=draw(jst.addresses()).full,
        )
    return attrs.evolve(record, **changes)


@st.composite
def records(draw: st.DrawFn) -> ResidentRecord:
    """Registered records (住民票) with every item of 7条 and 30条の45 filled in."""
    base = draw(jst.resident_records(removed=False))
    if draw(st.integers(0, 3)) == 0:
        base = draw(_as_foreign(base))
    return draw(_never_shown(draw(_shown_extras(base))))


@st.composite
def _as_foreign(draw: st.DrawFn, record: ResidentRecord) -> ResidentRecord:
    """``record`` made a foreign resident's (30条の45), with a card number."""
    category = draw(st.sampled_from(ForeignResidentCategory))
    mid_long = category is ForeignResidentCategory.MID_LONG_TERM
    expires = record.resident_since + timedelta(days=draw(st.integers(30, 3650)))
    letters = st.text("ABCDEFGHJKLMNPQRSTUVWXYZ", min_size=2, max_size=2)
    card = f"{draw(letters)}{draw(st.integers(0, 10**8 - 1)):08d}{draw(letters)}"
    foreign = ForeignResidentInfo(
        nationality=draw(st.sampled_from(["ベトナム", "中国", "ブラジル", "米国"])),
        category=category,
        became_foreign_resident_on=draw(_dates_from(record.resident_since)),
        residence_status="留学" if mid_long or draw(st.booleans()) else None,
        period_of_stay="1年3月" if mid_long or draw(st.booleans()) else None,
        stay_expires_on=expires if mid_long or draw(st.booleans()) else None,
        card_number=card if category in _CARD_HOLDERS or draw(st.booleans()) else None,
    )
    name = draw(jst.person_names(foreign=True))
    head_name = None if record.household.is_head else draw(jst.person_names(foreign=True))
    return attrs.evolve(
        record,
        name=name,
        household=attrs.evolve(record.household, head_name=head_name),
        family_register=None,
        foreign=foreign,
        electoral_register=False,
    )


_CARD_HOLDERS = (ForeignResidentCategory.MID_LONG_TERM, ForeignResidentCategory.SPECIAL_PERMANENT)


def _copy(
    people: Sequence[ResidentRecord],
    options: CopyOptions | None = None,
    *,
    digest: str = DIGEST,
    issued_by: LocalGovernmentCode | None = None,
) -> ResidentCopy:
    home = people[0].address.municipality
    if issued_by is None:
        issued_by = SAPPORO_CHUO if home != SAPPORO_CHUO else CHIYODA
    return make_copy(
        people,
        home=home,
        issued_by=issued_by,
        issued_on=ISSUED_ON,
        request_digest=digest,
        options=options or CopyOptions(),
    )


def _rendered(copy: ResidentCopy) -> tuple[str, str]:
    return copy.to_text(), json.dumps(copy.to_data(), ensure_ascii=False)


def _never_shown_values(record: ResidentRecord) -> list[str]:
    values = [record.internal_id, record.household.household_id]
    if record.family_register is not None:
        assert record.family_register.domicile is not None
        assert record.family_register.head is not None
        values += [record.family_register.domicile, record.family_register.head]
    if record.name.former_family is not None:
        values.append(record.name.former_family)
    if record.name.alias is not None:
        values.append(record.name.alias)
    if record.national_pension is not None and record.national_pension.basic_pension_number:
        values += [record.national_pension.basic_pension_number, record.national_pension.category]
    if record.moved_in is not None and record.moved_in.certificate is not None:
        values.append(record.moved_in.certificate)
    return values


# --- never shown (住基法12条の4第1項) -------------------------------------------


@given(records(), options_st, digests)
def test_never_shown_items_are_absent_from_text_and_data(
    record: ResidentRecord, options: CopyOptions, digest: str
) -> None:
    copy = _copy([record], options, digest=digest)
    text, data = _rendered(copy)
    numbers = [str(record.resident_code), str(record.individual_number), digest]
    for value in _never_shown_values(record):
        # A 10-digit pension number could sit inside a code or the digest by chance.
        assume(not any(value in number for number in numbers))
        assert value not in text
        assert value not in data
    for item in copy.persons[0]:
        assert item.article in SHOWN_ARTICLES
        assert item.label not in NEVER_SHOWN_LABELS
        assert REGISTER_HEAD_SURNAME not in item.value
        assert FORMER_SURNAME not in item.value
        assert ALIAS_SURNAME not in item.value


@given(st.data(), options_st)
def test_never_shown_items_do_not_change_the_copy(
    data: st.DataObject, options: CopyOptions
) -> None:
    base = data.draw(records())
    one = data.draw(_never_shown(base))
    other = data.draw(_never_shown(base))
    assert _rendered(_copy([one], options)) == _rendered(_copy([other], options))


def test_the_example_copy_leaves_out_domicile_register_head_and_electoral_register() -> None:
    record = resident_record()
    assert record.family_register is not None
    assert record.electoral_register
    text, data = _rendered(_copy([record], CopyOptions(relationship=True, resident_code=True)))
    for value in ("東京都千代田区千代田1番", "山田 一郎", record.internal_id):
        assert value not in text
        assert value not in data
    assert "  本籍" not in text
    assert "選挙人名簿:" not in text
    assert "7条5号 本籍・筆頭者" in text  # the note says what was left out, by article


# --- shown only when asked (住基法12条の4第4項) --------------------------------


@given(records(), options_st)
def test_optional_items_appear_exactly_when_asked(
    record: ResidentRecord, options: CopyOptions
) -> None:
    copy = _copy([record], options)
    values = {item.article: item.value for item in copy.persons[0]}
    text = copy.to_text()
    assert ("7条4号" in values) is options.relationship
    assert ("7条8号の2" in values) is options.individual_number
    assert ("7条13号" in values) is options.resident_code
    assert (f"  世帯主・続柄: {values.get('7条4号')}" in text) is options.relationship
    assert (f"  住民票コード: {record.resident_code}" in text) is options.resident_code
    assert copy.to_data()["asked"] == list(options.asked)
    if options.resident_code:
        assert values["7条13号"] == str(record.resident_code)
    else:
        assert str(record.resident_code) not in text.replace(DIGEST, "")
    number = record.individual_number
    if options.individual_number:
        assert values["7条8号の2"] == ("記載なし" if number is None else str(number))
    elif number is not None:
        assert str(number) not in text
    if options.relationship:
        head = record.household.head_name
        expected = HEAD_OF_HOUSEHOLD if head is None else head.full
        assert expected in values["7条4号"]
        assert record.household.relationship in values["7条4号"]


def test_relationship_of_a_member_names_the_head() -> None:
    member = attrs.evolve(
        resident_record(),
        household=HouseholdMembership(
            household_id="S0001", relationship="妻", head_name=PersonName.parse("山田 花男")
        ),
    )
    items = copy_items(member, CopyOptions(relationship=True))
    assert [i.value for i in items if i.article == "7条4号"] == ["世帯主 山田 花男、続柄 妻"]


# --- what is shown and how ------------------------------------------------------


@given(records(), options_st)
def test_shown_items_carry_the_record(record: ResidentRecord, options: CopyOptions) -> None:
    items = copy_items(record, options)
    by_label = {item.label: item.value for item in items}
    assert by_label["氏名"] == record.name.full
    assert by_label.get("氏名の振り仮名") == record.name.full_reading
    assert by_label["出生の年月日"] == format_wareki(record.birth_date)
    assert by_label["男女の別"] == record.sex.label_ja
    assert by_label["住民となった年月日"] == format_wareki(record.resident_since)
    assert by_label["住所"] == record.address.full
    if record.address_since is not None:
        assert by_label["住所を定めた年月日"] == format_wareki(record.address_since)
    moved_in = record.moved_in
    if moved_in is not None:
        entry = by_label["転入 (届出の年月日・従前の住所)"]
        assert format_wareki(moved_in.notified_on) in entry
        assert moved_in.previous_address in entry
    articles = [item.article for item in items]
    order = [*sorted(SHOWN_ARTICLES - {"30条の45"}, key=_article_key), "30条の45"]
    assert articles == sorted(articles, key=order.index)  # the order of 7条, then 30条の45


def _article_key(article: str) -> tuple[int, int]:
    number, _, sub = article.removeprefix("7条").removesuffix("号").partition("号の")
    return int(number), int(sub or 0)


@given(records(), options_st)
def test_data_is_json_ready_and_matches_the_text(
    record: ResidentRecord, options: CopyOptions
) -> None:
    copy = _copy([record], options)
    data = copy.to_data()

    def plain(value: object) -> bool:
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return type(value) in (str, int)

    assert plain(data)
    assert json.loads(json.dumps(data)) == data
    text = copy.to_text()
    assert text.startswith(TITLE + "\n")
    assert data["title"] == TITLE
    for item in data["persons"][0]:
        assert f"  {item['label']}: {item['value']}\n" in text
    assert f"交付年月日: {format_wareki(ISSUED_ON)}" in text
    assert data["issued_on"] == ISSUED_ON.isoformat()
    assert data["request_digest"] == DIGEST
    assert [o["article"] for o in data["omitted"]][:4] == [
        "7条5号",
        "7条9号",
        "7条10号〜12号",
        "7条14号",
    ]


# --- foreign residents (住基法30条の45) ----------------------------------------


@given(st.data(), options_st)
def test_foreign_residents_show_the_items_of_30_45(
    data: st.DataObject, options: CopyOptions
) -> None:
    record = data.draw(
        jst.resident_records(removed=False).flatmap(_as_foreign).flatmap(_never_shown)
    )
    info = record.foreign
    assert info is not None
    copy = _copy([record], options)
    foreign = [(i.label, i.value) for i in copy.persons[0] if i.article == "30条の45"]
    expected = [
        ("国籍・地域", info.nationality),
        ("外国人住民となった年月日", format_wareki(info.became_foreign_resident_on)),
        ("外国人住民の区分", info.category.label_ja),
        ("在留資格", info.residence_status),
        ("在留期間", info.period_of_stay),
        ("在留期間の満了の日", info.stay_expires_on and format_wareki(info.stay_expires_on)),
        ("在留カード等の番号", info.card_number),
    ]
    assert foreign == [(label, value) for label, value in expected if value is not None]
    assert copy.persons[0][-len(foreign) :] == tuple(
        i for i in copy.persons[0] if i.article == "30条の45"
    )
    text, blob = _rendered(copy)
    assert record.name.alias is not None
    assert record.name.alias not in text
    assert record.name.alias not in blob


def test_a_mid_long_term_resident_copy() -> None:
    record = attrs.evolve(
        resident_record(),
        name=PersonName(family="NGUYEN", given="VAN AN", alias="中村 安"),
        family_register=None,
        electoral_register=False,
        foreign=ForeignResidentInfo(
            nationality="ベトナム",
            category=ForeignResidentCategory.MID_LONG_TERM,
            became_foreign_resident_on=date(2023, 4, 1),
            residence_status="技術・人文知識・国際業務",
            period_of_stay="3年",
            stay_expires_on=date(2026, 4, 1),
            card_number="AB12345678CD",
        ),
    )
    text = _copy([record]).to_text()
    for line in (
        "  氏名: NGUYEN VAN AN",
        "  国籍・地域: ベトナム",
        "  外国人住民となった年月日: 令和5年4月1日",
        "  外国人住民の区分: 中長期在留者",
        "  在留資格: 技術・人文知識・国際業務",
        "  在留期間: 3年",
        "  在留期間の満了の日: 令和8年4月1日",
        "  在留カード等の番号: AB12345678CD",
    ):
        assert line + "\n" in text
    assert "中村 安" not in text


# --- households and register order ---------------------------------------------


@st.composite
def households(draw: st.DrawFn) -> list[ResidentRecord]:
    """2 to 5 registered members of one household in one municipality, the head first."""
    place = draw(jst.register_municipalities())
    size = draw(st.integers(2, 5))
    people = [draw(jst.resident_records(municipality=place, removed=False)) for _ in range(size)]
    codes = {str(p.resident_code) for p in people}
    numbers = st.lists(st.integers(0, 10**9), min_size=size, max_size=size, unique=True)
    ids = [f"A{n:010d}" for n in draw(numbers)]
    assume(len(codes) == size)
    head = people[0]
    return [
        attrs.evolve(
            person,
            internal_id=ids[n],
            household=HouseholdMembership(
                household_id="S0000000042", relationship=HEAD_OF_HOUSEHOLD
            )
            if n == 0
            else HouseholdMembership(
                household_id="S0000000042",
                relationship=draw(st.sampled_from(["妻", "子", "母"])),
                head_name=head.name,
            ),
        )
        for n, person in enumerate(people)
    ]


@given(households().flatmap(lambda h: st.tuples(st.just(h), st.permutations(h))), options_st)
def test_household_copies_keep_register_order(
    pair: tuple[list[ResidentRecord], list[ResidentRecord]], options: CopyOptions
) -> None:
    household, shuffled = pair
    copy = _copy(shuffled, attrs.evolve(options, resident_code=True))
    in_register = sorted(household, key=lambda r: r.internal_id)
    shown = [[i.value for i in items if i.article == "7条13号"] for items in copy.persons]
    assert shown == [[str(r.resident_code)] for r in in_register]
    assert copy == _copy(household, attrs.evolve(options, resident_code=True))
    text = copy.to_text()
    assert text.count("\n[") == len(household)


# --- refusals -------------------------------------------------------------------


def _refused(error: type[JukinetError], match: str, call: Any, *args: Any, **kw: Any) -> None:
    with pytest.raises(error, match=match) as caught:
        call(*args, **kw)
    assert caught.value.expected, "the refusal says what was expected"
    assert "(expected " in str(caught.value)


@given(jst.resident_records(removed=True))
def test_removed_records_are_refused(record: ResidentRecord) -> None:
    _refused(InvalidState, "除票", _copy, [record])


_ONE = resident_record()
_OTHER = attrs.evolve(resident_record("00000000019"), internal_id="A0000002")
_CALL: dict[str, Any] = {"home": CHIYODA, "issued_by": SAPPORO_CHUO, "issued_on": ISSUED_ON}
_CALL |= {"request_digest": DIGEST, "options": CopyOptions()}


@pytest.mark.parametrize(
    ("error", "match", "people", "changes"),
    [
        (InvalidComponent, "no record", [], {}),
        (InvalidComponent, "given twice", [_ONE, _ONE], {}),
        (InvalidComponent, "its own register", [_ONE], {"issued_by": CHIYODA}),
        (InvalidComponent, "before wide-area", [_ONE], {"issued_on": date(2003, 8, 24)}),
        (InvalidFormat, "digest is malformed", [_ONE], {"request_digest": "AB" * 32}),
        (
            InvalidComponent,
            "keeps no resident",
            [_ONE],
            {"issued_by": LocalGovernmentCode("130001")},
        ),
        (InvalidComponent, "not of the home", [_ONE], {"home": SAPPORO_CHUO}),
    ],
)
def test_call_refusals_say_what_was_expected(
    error: type[JukinetError], match: str, people: list[ResidentRecord], changes: dict[str, Any]
) -> None:
    _refused(error, match, make_copy, people, **(_CALL | changes))


def test_record_refusals_say_what_was_expected() -> None:
    other_household = attrs.evolve(
        _OTHER, household=HouseholdMembership(household_id="S0002", relationship=HEAD_OF_HOUSEHOLD)
    )
    elsewhere = attrs.evolve(
        _OTHER, address=attrs.evolve(_ONE.address, municipality=LocalGovernmentCode("131024"))
    )
    death = Removal(reason=ChangeReason.DEATH, removed_on=date(2024, 1, 1))
    removed = attrs.evolve(_OTHER, status=RecordStatus.REMOVED, removal=death)
    old = attrs.evolve(_ONE, birth_date=date(1872, 12, 31), resident_since=date(1900, 1, 1))
    _refused(InvalidState, "除票", make_copy, [_ONE, removed], **_CALL)
    _refused(InvalidComponent, "different households", make_copy, [_ONE, other_household], **_CALL)
    _refused(InvalidComponent, "different municipalities", make_copy, [_ONE, elsewhere], **_CALL)
    _refused(InvalidComponent, "not of the home", make_copy, [elsewhere], **_CALL)
    _refused(InvalidComponent, "era date", make_copy, [old], **_CALL)
    copy = make_copy([_ONE, _OTHER], **_CALL)  # the same household of one municipality
    assert len(copy.persons) == 2


def test_document_refusals_say_what_was_expected() -> None:
    items = copy_items(_ONE, CopyOptions())
    coded = copy_items(_ONE, CopyOptions(resident_code=True))
    asked = CopyOptions(resident_code=True)
    kw = {k: v for k, v in _CALL.items() if k != "options"}
    for article in ("7条5号", "7条9号", "7条10号", "7条11号の2", "7条12号", "7条14号"):
        _refused(
            InvalidComponent,
            "not an item a wide-area",
            CopyItem,
            article=article,
            label="x",
            value="y",
        )
    _refused(
        InvalidComponent, "not asked", ResidentCopy, persons=[coded], options=CopyOptions(), **kw
    )
    _refused(InvalidComponent, "missing", ResidentCopy, persons=[items], options=asked, **kw)
    _refused(InvalidComponent, "shows nobody", ResidentCopy, persons=[], options=asked, **kw)
    _refused(
        InvalidComponent, "no name", ResidentCopy, persons=[items[1:]], options=CopyOptions(), **kw
    )
    assert ResidentCopy(persons=[coded], options=asked, **kw).persons == (coded,)


def test_wrong_types_are_type_errors() -> None:
    kw = {k: v for k, v in _CALL.items() if k != "options"}
    with pytest.raises(TypeError, match="sequence of records"):
        make_copy(_ONE, options=CopyOptions(), **kw)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="CopyOptions"):
        make_copy([_ONE], options={"resident_code": True}, **kw)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="住民票コード"):
        CopyOptions(resident_code=1)  # type: ignore[arg-type]
