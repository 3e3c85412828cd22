"""Tests for jukinet.domain.address: Address and its search key."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jukinet.domain.address import REST_MAX_LENGTH, Address, address_key
from jukinet.domain.lg_code import LocalGovernmentCode
from jukinet.errors import InvalidComponent, InvalidFormat, InvalidLength, ValidationError

CHIYODA = "131016"


def test_address_basic() -> None:
    address = Address(municipality=CHIYODA, rest="千代田一丁目1番1号")
    assert address.municipality == LocalGovernmentCode(CHIYODA)
    assert address.full == "東京都千代田区千代田一丁目1番1号"
    assert address.prefecture_name == "東京都"
    assert address.search_key == "東京都千代田区千代田1-1-1"


def test_address_accepts_code_object_and_normalises_rest() -> None:
    address = Address(LocalGovernmentCode(CHIYODA), "　千代田１丁目１番１号　 ")
    assert address.rest == "千代田1丁目1番1号"
    assert address == Address(CHIYODA, "千代田1丁目1番1号")


@pytest.mark.parametrize(
    "rest",
    [
        "千代田一丁目1番1号",
        "千代田1-1-1",
        "千代田１丁目１番地１号",
        "千代田一丁目一番一号",
        "千代田1丁目1-1",
        "千代田 1-1-1",
        "千代田1‐1‐1",
        "千代田1－1－1",
        "千代田1ー1ー1",
        "千代田1−1−1",
        "千代田一丁目1番地の1",
    ],
)
def test_search_key_unifies_spellings(rest: str) -> None:
    assert Address(CHIYODA, rest).search_key == "東京都千代田区千代田1-1-1"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("霞が関一丁目2番1号", "霞ヶ関1-2-1"),
        ("駒澤1-1", "駒沢1-1"),
        ("山﨑町1", "山崎町1"),
        ("字大野百二十三番地の四", "字大野123-4"),
        ("麻布十番一丁目2番3号", "麻布十番1-2-3"),
        ("1-1-1 ABCビル 3F", "1-1-1abcビル3f"),
    ],
)
def test_address_key_pairs(a: str, b: str) -> None:
    assert address_key(a) == address_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("千代田1-1-1", "千代田1-1-2"),
        ("千代田1-11", "千代田11-1"),
        ("1-1-1 101", "1-1-1101"),
        ("三田1-1", "二田1-1"),
        ("六本木6-1", "六本木1-6"),
    ],
)
def test_address_key_keeps_different_addresses_apart(a: str, b: str) -> None:
    assert address_key(a) != address_key(b)


def test_place_name_numerals_are_kept() -> None:
    assert address_key("八王子市三田二丁目") == "八王子市三田2"
    assert address_key("四谷三丁目") == "四谷3"


def test_ward_and_designated_city() -> None:
    ward = Address("011011", "北1条西2丁目")
    city = Address("011002", "中央区北1条西2丁目")
    assert ward.full == city.full == "北海道札幌市中央区北1条西2丁目"
    assert ward.search_key == city.search_key


def test_town_and_village() -> None:
    assert Address("014087", "黒川町1丁目").full == "北海道余市町黒川町1丁目"


def test_prefecture_code_is_refused() -> None:
    with pytest.raises(InvalidComponent) as info:
        Address("130001", "千代田1-1")
    assert info.value.field == "municipality"


@pytest.mark.parametrize("code", ["131017", "999997", "12345", "abc"])
def test_bad_codes(code: str) -> None:
    with pytest.raises(ValidationError):
        Address(code, "千代田1-1")


@pytest.mark.parametrize(
    "rest", ["", "   ", "　", "千代田\x001", "千代田\n1", "千代田\u202e1", "\ue000"]
)
def test_bad_rest(rest: str) -> None:
    with pytest.raises(InvalidFormat) as info:
        Address(CHIYODA, rest)
    assert info.value.field == "rest"


def test_rest_length() -> None:
    Address(CHIYODA, "あ" * REST_MAX_LENGTH)
    with pytest.raises(InvalidLength):
        Address(CHIYODA, "あ" * (REST_MAX_LENGTH + 1))


def test_rest_must_not_repeat_the_municipality() -> None:
    with pytest.raises(InvalidFormat):
        Address(CHIYODA, "東京都千代田区千代田1-1")


def test_type_errors() -> None:
    with pytest.raises(TypeError):
        Address(131016, "千代田1-1")
    with pytest.raises(TypeError):
        Address(CHIYODA, None)
    with pytest.raises(TypeError):
        address_key(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Address.parse(None)  # type: ignore[arg-type]


def test_evolve_revalidates() -> None:
    address = Address(CHIYODA, "千代田1-1")
    with pytest.raises(InvalidComponent):
        attrs.evolve(address, municipality="130001")
    assert attrs.evolve(address, rest="千代田２").rest == "千代田2"


# --- parse ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code", "rest"),
    [
        ("東京都千代田区千代田1-1-1", CHIYODA, "千代田1-1-1"),
        ("東京都 千代田区 千代田一丁目1番1号", CHIYODA, "千代田一丁目1番1号"),
        ("千代田区千代田1-1", CHIYODA, "千代田1-1"),
        ("北海道札幌市中央区北1条西2丁目", "011011", "北1条西2丁目"),
        ("札幌市中央区北1条西2丁目", "011011", "北1条西2丁目"),
        ("北海道余市郡余市町黒川町1丁目", "014087", "黒川町1丁目"),
        ("北海道余市町黒川町1丁目", "014087", "黒川町1丁目"),
        ("奈良県大和郡山市北郡山町248-4", "292036", "北郡山町248-4"),
        ("東京都府中市宮西町2-24", "132063", "宮西町2-24"),
        ("広島県府中市府川町315", "342084", "府川町315"),
        ("茨城県龍ヶ崎市3710", "082082", "3710"),
        ("東京都西多摩郡桧原村467-1", "133078", "467-1"),
        ("福島県郡山市朝日1-23-7", "072036", "朝日1-23-7"),
    ],
)
def test_parse(text: str, code: str, rest: str) -> None:
    address = Address.parse(text)
    assert address.municipality.value == code
    assert address.rest == rest


@pytest.mark.parametrize(
    "text",
    [
        "府中市宮西町2-24",  # two prefectures have a 府中市
        "どこか1-1",
        "東京都札幌市中央区1",  # the prefecture does not have it
        "東京都千代田区",  # nothing after the municipality
        "",
    ],
)
def test_parse_refuses(text: str) -> None:
    with pytest.raises(ValidationError):
        Address.parse(text)


@given(st.text(max_size=40))
def test_fuzz_parse(text: str) -> None:
    try:
        address = Address.parse(text)
    except ValidationError:
        return
    assert address.rest


@given(st.text(max_size=60))
def test_fuzz_address_key_idempotent(text: str) -> None:
    key = address_key(text)
    assert address_key(key) == key
    assert " " not in key


@given(
    st.text(
        alphabet=st.sampled_from(
            "〇一二三四五六七八九十百千丁目番地号の-ー－ 0123456789０１２町が関ヶ"
        ),
        max_size=30,
    )
)
def test_fuzz_address_key_numerals(text: str) -> None:
    key = address_key(text)
    assert address_key(key) == key


@given(st.sampled_from([CHIYODA, "011011", "014087", "130001", "131017"]), st.text(max_size=30))
def test_fuzz_address(code: str, rest: str) -> None:
    try:
        address = Address(code, rest)
    except ValidationError:
        return
    assert attrs.evolve(address) == address
    assert address.full.endswith(address.rest)


# --- bounds (issue 10) ---------------------------------------------------------------


def test_text_far_too_long_for_an_address_is_refused_before_it_is_normalised() -> None:
    combining = "a" + "\u0316\u0301" * 50_000  # NFKC takes seconds on this run of marks
    for text in (combining, "一" * 100_000):
        with pytest.raises(InvalidLength, match="before normalisation"):
            Address("131016", text)
        with pytest.raises(InvalidLength, match="before normalisation"):
            Address.parse("東京都千代田区" + text)
        with pytest.raises(InvalidLength, match="before normalisation"):
            address_key(text)
    # Padding and variation selectors within the bound are fine.
    rest = "千代田" + "\u3000" * 300 + "1-1"
    assert Address("131016", rest).rest == "千代田 1-1"
    assert Address("131016", "一" * REST_MAX_LENGTH).rest == "一" * REST_MAX_LENGTH
