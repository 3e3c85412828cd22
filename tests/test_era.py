"""Tests for jukinet.domain.era: Japanese era dates."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jukinet.domain.era import (
    FIRST_SUPPORTED_DATE,
    Era,
    era_of,
    format_wareki,
    from_wareki,
    parse_wareki,
    to_wareki,
)
from jukinet.errors import InvalidComponent, InvalidFormat, ValidationError

supported_dates = st.dates(min_value=FIRST_SUPPORTED_DATE, max_value=date(2100, 12, 31))

BOUNDARIES = [
    (date(1873, 1, 1), "明治6年1月1日"),
    (date(1912, 7, 29), "明治45年7月29日"),
    (date(1912, 7, 30), "大正元年7月30日"),
    (date(1926, 12, 24), "大正15年12月24日"),
    (date(1926, 12, 25), "昭和元年12月25日"),
    (date(1989, 1, 7), "昭和64年1月7日"),
    (date(1989, 1, 8), "平成元年1月8日"),
    (date(2019, 4, 30), "平成31年4月30日"),
    (date(2019, 5, 1), "令和元年5月1日"),
    (date(2025, 5, 1), "令和7年5月1日"),
]


@pytest.mark.parametrize(("day", "text"), BOUNDARIES)
def test_boundaries(day: date, text: str) -> None:
    assert format_wareki(day) == text
    assert parse_wareki(text) == day


def test_eras_are_contiguous() -> None:
    eras = list(Era)
    for earlier, later in itertools.pairwise(eras):
        assert earlier.end is not None
        assert earlier.end + timedelta(days=1) == later.start
    assert Era.REIWA.end is None
    assert Era.MEIJI.start == date(1868, 10, 23)
    assert Era.MEIJI.first_supported == FIRST_SUPPORTED_DATE
    assert Era.TAISHO.first_supported == Era.TAISHO.start


def test_era_of() -> None:
    assert era_of(date(1912, 7, 29)) is Era.MEIJI
    assert era_of(date(1912, 7, 30)) is Era.TAISHO
    assert era_of(date(2019, 4, 30)) is Era.HEISEI
    assert era_of(date(2019, 5, 1)) is Era.REIWA
    assert era_of(date(9999, 12, 31)) is Era.REIWA


def test_gannen_keyword() -> None:
    assert format_wareki(date(2019, 5, 1), gannen=False) == "令和1年5月1日"
    assert parse_wareki("令和1年5月1日") == date(2019, 5, 1)


@pytest.mark.parametrize(
    "text",
    [
        "令和7年5月1日",
        "令和７年５月１日",
        "令和 7年 5月 1日",
        "令和　7 年 5 月 1 日",
        "R7.5.1",
        "r7.5.1",
        "Ｒ７．５．１",
        "R07.05.01",
        "R7/5/1",
        "R7-5-1",
        "令和7.5.1",
        "R 7 . 5 . 1",
        " R7.5.1 ",
        "㋿7年5月1日",
    ],
)
def test_parse_accepted_forms(text: str) -> None:
    assert parse_wareki(text) == date(2025, 5, 1)


def test_parse_letters() -> None:
    assert parse_wareki("M45.7.29") == date(1912, 7, 29)
    assert parse_wareki("T1.7.30") == date(1912, 7, 30)
    assert parse_wareki("S64.1.7") == date(1989, 1, 7)
    assert parse_wareki("H31.4.30") == date(2019, 4, 30)
    assert parse_wareki("H元.1.8") == date(1989, 1, 8)
    assert parse_wareki("㍻元年1月8日") == date(1989, 1, 8)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("昭和64年1月8日", "1989-01-07"),
        ("平成31年5月1日", "2019-04-30"),
        ("令和元年4月30日", "2019-05-01"),
        ("大正元年7月29日", "1912-07-30"),
        ("明治45年7月30日", "1912-07-29"),
        ("大正16年1月1日", "1926-12-24"),
    ],
)
def test_parse_refuses_dates_outside_their_era(text: str, fragment: str) -> None:
    with pytest.raises(InvalidComponent, match=fragment):
        parse_wareki(text)


@pytest.mark.parametrize(
    "text",
    ["令和7年2月30日", "令和7年13月1日", "令和7年0月1日", "令和7年1月0日", "平成31年2月29日"],
)
def test_parse_refuses_impossible_days(text: str) -> None:
    with pytest.raises(InvalidComponent, match="does not exist"):
        parse_wareki(text)


def test_leap_day() -> None:
    assert parse_wareki("令和2年2月29日") == date(2020, 2, 29)


def test_year_zero() -> None:
    with pytest.raises(InvalidComponent, match="start at 1"):
        parse_wareki("令和0年5月1日")


@pytest.mark.parametrize("text", ["明治5年12月2日", "明治元年10月23日", "M5.1.1"])
def test_refuses_lunisolar_meiji(text: str) -> None:
    with pytest.raises(InvalidComponent, match="Gregorian"):
        parse_wareki(text)


def test_refuses_dates_before_1873() -> None:
    with pytest.raises(InvalidComponent, match="Gregorian"):
        format_wareki(date(1872, 12, 31))
    with pytest.raises(InvalidComponent):
        era_of(date(1, 1, 1))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2025-05-01",
        "令和七年五月一日",
        "令和7年5月1",
        "令和7年5月",
        "X7.5.1",
        "R7.5/1",
        "R7..5.1",
        "令和7年5月1日です",
        "R1234.1.1",
        "R７.5.1\x00",
        "R٧.5.1",  # Arabic-Indic digit
    ],
)
def test_parse_refuses_malformed(text: str) -> None:
    with pytest.raises(InvalidFormat) as info:
        parse_wareki(text)
    assert not isinstance(info.value, InvalidComponent)


def test_type_errors() -> None:
    with pytest.raises(TypeError):
        parse_wareki(20250501)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        format_wareki("2025-05-01")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        from_wareki("令和", 7, 5, 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        from_wareki(Era.REIWA, "7", 5, 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        from_wareki(Era.REIWA, True, 5, 1)


def test_from_wareki_huge_numbers() -> None:
    with pytest.raises(InvalidComponent):
        from_wareki(Era.REIWA, 10**30, 1, 1)
    with pytest.raises(InvalidComponent):
        from_wareki(Era.REIWA, 7, 10**30, 1)


def test_datetime_is_refused() -> None:
    with pytest.raises(TypeError, match="datetime"):
        format_wareki(datetime(2019, 5, 1, 12, 0))


@given(supported_dates)
def test_round_trip_text(day: date) -> None:
    assert parse_wareki(format_wareki(day)) == day
    assert parse_wareki(format_wareki(day, gannen=False)) == day


@given(supported_dates)
def test_round_trip_tuple(day: date) -> None:
    era, year, month, d = to_wareki(day)
    assert year >= 1
    assert era.first_supported <= day
    assert era.end is None or day <= era.end
    assert from_wareki(era, year, month, d) == day
    assert parse_wareki(f"{era.letter}{year}.{month}.{d}") == day


@given(supported_dates)
def test_year_is_counted_from_era_start(day: date) -> None:
    era, year, _, _ = to_wareki(day)
    assert year == day.year - era.start.year + 1
    assert era is era_of(day)


@given(st.text())
def test_fuzz_parse_arbitrary_text(text: str) -> None:
    try:
        result = parse_wareki(text)
    except ValidationError:
        return
    assert result >= FIRST_SUPPORTED_DATE


@given(
    st.text(
        alphabet=st.sampled_from(
            "明治大正昭和平成令和MTSHRmtshr元年月日0123456789０１２./-． 　㍻㋿"
        ),
        max_size=16,
    )
)
def test_fuzz_parse_near_misses(text: str) -> None:
    try:
        result = parse_wareki(text)
    except ValidationError:
        return
    assert format_wareki(result).startswith(era_of(result).kanji)


@given(st.sampled_from(list(Era)), st.integers(), st.integers(), st.integers())
def test_fuzz_from_wareki(era: Era, year: int, month: int, day: int) -> None:
    try:
        result = from_wareki(era, year, month, day)
    except ValidationError:
        return
    assert to_wareki(result) == (era, year, month, day)


# --- bounds (issue 10) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "month", "day"),
    [(10**5000, 1, 1), (1, 10**5000, 1), (1, 1, -(10**5000)), (10_000, 1, 1)],
    ids=["huge year", "huge month", "huge negative day", "year 10000"],
)
def test_huge_parts_are_refused_without_printing_them(year: int, month: int, day: int) -> None:
    # str() of a 5,000-digit int is a ValueError (Python's digit limit).
    with pytest.raises(InvalidComponent, match="out of range"):
        from_wareki(Era.REIWA, year, month, day)


@pytest.mark.parametrize(
    "text", ["令和" + "9" * 5000 + "年1月1日", "令和1年1月1日" + " " * 200, "\u0301" * 100_000]
)
def test_text_far_too_long_for_an_era_date_is_refused_unread(text: str) -> None:
    with pytest.raises(InvalidFormat):
        parse_wareki(text)


def test_padding_and_full_width_forms_still_parse() -> None:
    assert parse_wareki(" 令和　７年　５月　１日 " + "\u3000" * 20) == date(2025, 5, 1)
