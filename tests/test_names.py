"""Tests for jukinet.domain.names: normalisation, the variant table and PersonName."""

from __future__ import annotations

import contextlib
import unicodedata

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jukinet.domain.names import (
    NAME_MAX_LENGTH,
    PersonName,
    kanji_variants,
    name_key,
    normalize_reading,
    normalize_text,
)
from jukinet.errors import InvalidComponent, InvalidFormat, InvalidLength, ValidationError

# --- normalize_text / normalize_reading -------------------------------------------


def test_normalize_text_folds_width_and_space() -> None:
    assert normalize_text("　ＳＭＩＴＨ　\t JOHN\u3000") == "SMITH JOHN"
    assert normalize_text("ｶﾞｯｺｳ") == "ガッコウ"


def test_normalize_text_strips_variation_selectors() -> None:
    assert normalize_text("葛\U000e0100城") == "葛城"
    assert normalize_text("辻\U000e0101") == "辻"
    assert normalize_text("邉\ufe00") == "邉"


def test_normalize_text_type() -> None:
    with pytest.raises(TypeError):
        normalize_text(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("やまだ", "ヤマダ"),
        ("ﾔﾏﾀﾞ", "ヤマダ"),
        ("ヤマダ", "ヤマダ"),
        ("ゔぃーな", "ヴィーナ"),
        ("じょん・すみす", "ジョン・スミス"),
        ("ｼﾞｮﾝ=ｽﾐｽ", "ジョン＝スミス"),
        ("ジョン＝スミス", "ジョン＝スミス"),
        ("　やまだ　　たろう ", "ヤマダ タロウ"),
    ],
)
def test_normalize_reading(raw: str, expected: str) -> None:
    assert normalize_reading(raw) == expected


@pytest.mark.parametrize("bad", ["山田", "yamada", "ヤマダ1", "ヤマダ\x00", "", "  ", "ヤ゛"])
def test_normalize_reading_refuses(bad: str) -> None:
    with pytest.raises(InvalidFormat) as info:
        normalize_reading(bad, field="family_reading")
    assert info.value.field == "family_reading"


def test_normalize_reading_names_the_character() -> None:
    with pytest.raises(InvalidFormat, match=r"'田' \(U\+7530\)"):
        normalize_reading("やま田")


# --- the variant table --------------------------------------------------------------


@pytest.mark.parametrize(
    "spellings",
    [
        ("髙橋", "高橋"),
        ("山﨑", "山崎", "山嵜"),
        ("渡邊", "渡邉", "渡辺"),
        ("濱田", "濵田", "浜田"),
        ("齋藤", "斎藤"),
        ("齊藤", "斉藤"),
        ("澤田", "沢田"),
        ("櫻井", "桜井"),
        ("廣瀬", "広瀬", "廣瀨"),
        ("島田", "嶋田", "嶌田"),
        ("冨田", "富田"),
        ("田渕", "田淵"),
        ("𠮷田", "吉田"),
        ("葛\U000e0100城", "葛城"),
        ("辻\U000e0100", "辻"),
        ("ＳＭＩＴＨ", "smith", "Smith"),
    ],
)
def test_name_key_merges_variants(spellings: tuple[str, ...]) -> None:
    keys = {name_key(s) for s in spellings}
    assert len(keys) == 1, keys


# Pairs that are distinct names and must never get the same key (see VARIANTS.md).
DISTINCT = [
    ("斉藤", "斎藤"),
    ("齊藤", "齋藤"),
    ("齊藤", "斎藤"),
    ("齋藤", "斉藤"),
    ("竜也", "龍也"),
    ("宮崎", "宮埼"),
    ("川崎", "川碕"),
    ("佐藤", "佐籐"),
    ("萩原", "荻原"),
    ("芦田", "蘆田"),
    ("曹", "曺"),
]


@pytest.mark.parametrize(("a", "b"), DISTINCT)
def test_name_key_keeps_distinct_names_apart(a: str, b: str) -> None:
    assert name_key(a) != name_key(b)


def test_variant_table_shape() -> None:
    table = kanji_variants()
    assert 40 <= len(table) <= 80
    for variant, standard in table.items():
        assert len(variant) == 1, variant
        assert len(standard) == 1, standard
        assert variant != standard
        # NFKC must not already change either side (else the row is dead or breaks the key).
        assert unicodedata.normalize("NFKC", variant) == variant
        assert unicodedata.normalize("NFKC", standard) == standard
        # No chains: a standard form is never itself folded.
        assert standard not in table, standard


def test_variant_table_never_merges_distinct_characters() -> None:
    table = kanji_variants()
    for a, b in [("斉", "斎"), ("竜", "龍"), ("崎", "埼"), ("藤", "籐"), ("萩", "荻")]:
        assert table.get(a, a) != table.get(b, b), (a, b)


@given(st.text())
def test_name_key_idempotent(text: str) -> None:
    key = name_key(text)
    assert name_key(key) == key
    assert " " not in key


@given(st.text(alphabet=st.sampled_from(sorted({*kanji_variants(), *kanji_variants().values()}))))
def test_name_key_idempotent_on_table_characters(text: str) -> None:
    key = name_key(text)
    assert name_key(key) == key
    assert not set(key) & set(kanji_variants())


def test_name_key_type() -> None:
    with pytest.raises(TypeError):
        name_key(1)  # type: ignore[arg-type]


# --- PersonName ---------------------------------------------------------------------


def test_person_name_basic() -> None:
    name = PersonName(family="山田", given="太郎", family_reading="やまだ", given_reading="ﾀﾛｳ")
    assert name.full == "山田 太郎"
    assert name.full_reading == "ヤマダ タロウ"
    assert name.reading_key == "ヤマダタロウ"
    assert name.matching_key == "山田太郎"


def test_person_name_normalises() -> None:
    name = PersonName(family=" 髙橋\u3000", given="一郎")
    assert name.family == "髙橋"  # stored as registered; only the key folds
    assert name.matching_key == name_key("高橋一郎")


def test_person_name_without_reading() -> None:
    name = PersonName(family="山田", given="花子")
    assert name.full_reading is None
    assert name.reading_key is None


def test_foreign_name() -> None:
    name = PersonName(
        family="O'NEIL",
        given="MARY-JANE ANN",
        family_reading="オニール",
        given_reading="メアリージェーン アン",
        alias="大野 メアリー",
        alias_reading="おおの めありー",
    )
    assert name.full == "O'NEIL MARY-JANE ANN"
    assert name.alias_reading == "オオノ メアリー"


def test_single_name_foreign_resident() -> None:
    name = PersonName(family="SUHARTO", given="")
    assert name.full == "SUHARTO"
    with_reading = PersonName(
        family="SUHARTO", given="", family_reading="スハルト", given_reading=""
    )
    assert with_reading.full_reading == "スハルト"


def test_single_name_needs_latin_script() -> None:
    with pytest.raises(InvalidFormat) as info:
        PersonName(family="山田", given="")
    assert info.value.field == "given"


def test_vietnamese_name_with_diacritics() -> None:
    name = PersonName(family="NGUYỄN", given="VĂN AN")
    assert name.full == "NGUYỄN VĂN AN"


@pytest.mark.parametrize(
    ("family", "given", "field"),
    [
        ("", "太郎", "family"),
        ("  ", "太郎", "family"),
        ("山田1", "太郎", "family"),
        ("山田", "太郎2", "given"),
        ("山田", "太\x00郎", "given"),
        ("山田", "太\n郎", "given"),
        ("山田", "太\u200d郎", "given"),
        ("山田", "\ue000", "given"),  # private use (外字) is refused
        ("山田", "太@", "given"),
        ("山田John", "太郎", "family"),
        ("SMITH", "JOHN山", "given"),
        ("山 田", "太郎", "family"),
        ("123", "太郎", "family"),
        ("-", "太郎", "family"),
    ],
)
def test_person_name_refuses(family: str, given: str, field: str) -> None:
    with pytest.raises(InvalidFormat) as info:
        PersonName(family=family, given=given)
    assert info.value.field == field


def test_length_limit() -> None:
    PersonName(family="A" * NAME_MAX_LENGTH, given="B")
    with pytest.raises(InvalidLength):
        PersonName(family="A" * (NAME_MAX_LENGTH + 1), given="B")


def test_reading_both_or_neither() -> None:
    with pytest.raises(InvalidFormat) as info:
        PersonName(family="山田", given="太郎", family_reading="ヤマダ")
    assert info.value.field == "given_reading"
    with pytest.raises(InvalidFormat) as info:
        PersonName(family="山田", given="太郎", given_reading="タロウ")
    assert info.value.field == "family_reading"
    with pytest.raises(InvalidFormat):
        PersonName(family="山田", given="太郎", family_reading="", given_reading="タロウ")
    with pytest.raises(InvalidFormat):
        PersonName(family="山田", given="太郎", family_reading="ヤマダ", given_reading="")


def test_reading_refuses_kanji() -> None:
    with pytest.raises(InvalidFormat) as info:
        PersonName(family="山田", given="太郎", family_reading="山田", given_reading="タロウ")
    assert info.value.field == "family_reading"


def test_former_family() -> None:
    name = PersonName(
        family="佐藤",
        given="花子",
        former_family="山田",
        former_family_reading="やまだ",
    )
    assert name.former_family_reading == "ヤマダ"
    with pytest.raises(InvalidFormat):
        PersonName(family="佐藤", given="花子", former_family_reading="ヤマダ")
    with pytest.raises(InvalidFormat):
        PersonName(family="佐藤", given="花子", former_family="")
    with pytest.raises(InvalidFormat):
        PersonName(family="佐藤", given="花子", former_family="SMITH")


def test_alias_reading_needs_alias() -> None:
    with pytest.raises(InvalidFormat) as info:
        PersonName(family="KIM", given="MINJI", alias_reading="キム")
    assert info.value.field == "alias_reading"


def test_former_family_and_alias_exclusive() -> None:
    with pytest.raises(InvalidComponent):
        PersonName(family="金", given="美智", former_family="山田", alias="金山 美智子")


def test_evolve_revalidates() -> None:
    name = PersonName(family="山田", given="太郎")
    with pytest.raises(InvalidFormat):
        attrs.evolve(name, given="太郎3")
    assert attrs.evolve(name, given="ｼﾞﾛｳ").given == "ジロウ"


def test_frozen() -> None:
    name = PersonName(family="山田", given="太郎")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        name.family = "田中"  # type: ignore[misc]


def test_type_errors() -> None:
    with pytest.raises(TypeError):
        PersonName(family=None, given="太郎")
    with pytest.raises(TypeError):
        PersonName(family="山田", given="太郎", family_reading=1, given_reading="タロウ")


# --- parse ------------------------------------------------------------------------


def test_parse() -> None:
    assert PersonName.parse("山田 太郎") == PersonName(family="山田", given="太郎")
    assert PersonName.parse("山田　太郎", reading="やまだ　たろう") == PersonName(
        family="山田", given="太郎", family_reading="ヤマダ", given_reading="タロウ"
    )
    assert PersonName.parse("SMITH JOHN PAUL").given == "JOHN PAUL"
    assert PersonName.parse("SUHARTO").given == ""


def test_parse_refuses() -> None:
    with pytest.raises(InvalidFormat):
        PersonName.parse("山田太郎")  # a Japanese name needs both parts
    with pytest.raises(InvalidFormat):
        PersonName.parse("山田 太郎", reading="ヤマダタロウ")
    with pytest.raises(InvalidFormat):
        PersonName.parse("")
    with pytest.raises(TypeError):
        PersonName.parse(None)  # type: ignore[arg-type]


# --- fuzzing ------------------------------------------------------------------------

_name_text = st.text(
    alphabet=st.one_of(
        st.characters(),
        st.sampled_from("山田太郎髙﨑やまだヤマダｶﾞ ー々　'-.ABCabcé\u0301\U000e0100"),
    ),
    max_size=20,
)


@given(_name_text, _name_text, st.one_of(st.none(), _name_text), st.one_of(st.none(), _name_text))
def test_fuzz_person_name(family: str, given_: str, fr: str | None, gr: str | None) -> None:
    try:
        name = PersonName(family=family, given=given_, family_reading=fr, given_reading=gr)
    except ValidationError:
        return
    # A value that exists is valid: building it again from its own fields gives the same value.
    assert attrs.evolve(name) == name
    assert name.family
    assert name.family == normalize_text(name.family)
    assert name_key(name.matching_key) == name.matching_key


@given(_name_text, st.one_of(st.none(), _name_text))
def test_fuzz_parse(text: str, reading: str | None) -> None:
    with contextlib.suppress(ValidationError):
        PersonName.parse(text, reading=reading)


@given(_name_text)
def test_fuzz_normalize_reading(text: str) -> None:
    try:
        reading = normalize_reading(text)
    except ValidationError:
        return
    assert normalize_reading(reading) == reading


# --- bounds (issue 10) ---------------------------------------------------------------

_COMBINING = "a" + "\u0316\u0301" * 50_000  # NFKC takes seconds on this run of marks


@pytest.mark.parametrize(
    "build",
    [
        lambda text: PersonName.parse(text),
        lambda text: PersonName.parse("山田 太郎", reading=text),
        lambda text: PersonName(family=text, given="太郎"),
        lambda text: PersonName(
            family="山田", given="太郎", family_reading=text, given_reading="タロウ"
        ),
        lambda text: normalize_reading(text),
        lambda text: name_key(text),
    ],
)
def test_text_far_too_long_is_refused_before_it_is_normalised(build: object) -> None:
    assert callable(build)
    for text in (_COMBINING, "山" * 100_000):
        with pytest.raises(InvalidLength, match="before normalisation"):
            build(text)


def test_the_raw_bound_leaves_room_for_what_normalises_to_a_legal_name() -> None:
    # A kanji with an ideographic variation selector after it is two code points.
    family = "\u845b\U000e0100" * NAME_MAX_LENGTH
    assert PersonName(family=family, given="太郎").family == "葛" * NAME_MAX_LENGTH
    reading = "ｶﾞ" * 100 + "\u3000" * 30
    assert normalize_reading(reading) == "ガ" * 100
