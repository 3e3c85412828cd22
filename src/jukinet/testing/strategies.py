"""Hypothesis strategies for jukinet's domain values.

They produce realistic Japanese data: real local government codes from the
shipped list, surnames weighted by their real frequency (the 100 most common,
2008 estimates), common given names with readings, addresses in real
municipalities. Use them in your own property tests:

>>> from hypothesis import given
>>> from jukinet.testing import strategies as jst
>>> @given(jst.resident_codes())
... def test_codes_are_valid(code):
...     assert len(str(code)) == 11
>>> test_codes_are_valid()

Every strategy draws valid values: constructing them never raises.
"""

from __future__ import annotations

import csv
import functools
from datetime import date, timedelta
from importlib import resources

import attrs
from hypothesis import strategies as st

from jukinet.domain import individual_number as _individual_number
from jukinet.domain import lg_code as _lg_code
from jukinet.domain import resident_code as _resident_code
from jukinet.domain.address import Address
from jukinet.domain.changes import ChangeKind, ChangeReason
from jukinet.domain.identity import IdentityInfo, IdentityNotice
from jukinet.domain.individual_number import IndividualNumber
from jukinet.domain.lg_code import GovernmentKind, LocalGovernmentCode
from jukinet.domain.names import PersonName
from jukinet.domain.resident import (
    HEAD_OF_HOUSEHOLD,
    FamilyRegister,
    ForeignResidentCategory,
    ForeignResidentInfo,
    HouseholdMembership,
    RecordStatus,
    Removal,
    ResidentRecord,
    Sex,
)
from jukinet.domain.resident_code import ResidentCode

__all__ = [
    "REGISTER_KINDS",
    "addresses",
    "birth_dates",
    "certificate_numbers",
    "identity_infos",
    "identity_notices",
    "individual_numbers",
    "lg_codes",
    "person_names",
    "register_municipalities",
    "resident_codes",
    "resident_records",
]

REGISTER_KINDS = frozenset(kind for kind in GovernmentKind if kind.keeps_register)
"""Kinds of government that keep a resident register: in a designated city, the ward."""

_EARLIEST_BIRTH = date(1900, 1, 1)
_LATEST_DATE = date(2026, 11, 1)
_TOWNS = (
    "本町",
    "中央",
    "栄町",
    "緑町",
    "旭町",
    "幸町",
    "寿町",
    "東町",
    "西町",
    "南町",
    "北町",
    "新町",
    "大町",
    "宮前",
    "桜台",
    "若葉",
    "昭和町",
    "元町",
    "駅前",
    "城山",
)
_RELATIONSHIPS = ("妻", "夫", "子", "父", "母", "孫", "兄", "姉", "弟", "妹", "同居人")
_NATIONALITIES = (
    "中国",
    "韓国",
    "ベトナム",
    "フィリピン",
    "ブラジル",
    "ネパール",
    "インドネシア",
    "米国",
    "タイ",
    "ミャンマー",
)
_FOREIGN_FAMILY = (
    "NGUYEN",
    "TRAN",
    "LE",
    "WANG",
    "LI",
    "ZHANG",
    "KIM",
    "PARK",
    "SANTOS",
    "DA SILVA",
    "REYES",
    "GARCIA",
    "SMITH",
    "SHRESTHA",
)
_FOREIGN_GIVEN = (
    "VAN AN",
    "THI HOA",
    "WEI",
    "JING",
    "MIN JUN",
    "JI WOO",
    "MARIA",
    "JOSE",
    "ANA",
    "JOHN",
    "EMILY",
    "RAM",
    "SITA",
)


def _read_csv(name: str) -> list[dict[str, str]]:
    text = resources.files("jukinet.testing").joinpath("data", name).read_text("utf-8")
    return list(csv.DictReader(text.splitlines()))


@functools.cache
def _surnames() -> tuple[tuple[str, str, int], ...]:
    return tuple(
        (row["surname"], row["reading"], int(row["estimated_count"]))
        for row in _read_csv("surnames.csv")
    )


@functools.cache
def _given_names() -> dict[Sex, tuple[tuple[str, str], ...]]:
    rows = _read_csv("given_names.csv")
    return {
        sex: tuple((r["given"], r["reading"]) for r in rows if r["sex"] == sex.value) for sex in Sex
    }


def _weighted(items: tuple[tuple[str, str, int], ...]) -> st.SearchStrategy[tuple[str, str]]:
    """Draw (kanji, reading) with probability proportional to the count."""
    total = sum(count for _, _, count in items)
    cumulative: list[int] = []
    running = 0
    for _, _, count in items:
        running += count
        cumulative.append(running)

    def pick(point: int) -> tuple[str, str]:
        for (kanji, reading, _), bound in zip(items, cumulative, strict=True):
            if point < bound:
                return kanji, reading
        raise AssertionError("unreachable: point beyond the total")  # pragma: no cover

    return st.integers(0, total - 1).map(pick)


def resident_codes() -> st.SearchStrategy[ResidentCode]:
    """Valid resident codes (住民票コード), uniform over the 10-digit bodies."""
    return st.integers(0, 10**10 - 1).map(
        lambda n: ResidentCode(f"{n:010d}" + _resident_code.calc_check_digit(f"{n:010d}"))
    )


def individual_numbers() -> st.SearchStrategy[IndividualNumber]:
    """Valid individual numbers (個人番号), uniform over the 11-digit bodies."""
    return st.integers(0, 10**11 - 1).map(
        lambda n: IndividualNumber(f"{n:011d}" + _individual_number.calc_check_digit(f"{n:011d}"))
    )


def lg_codes(
    kinds: frozenset[GovernmentKind] | None = None,
) -> st.SearchStrategy[LocalGovernmentCode]:
    """Real local government codes from the shipped list, optionally of some kinds only."""
    return st.deferred(
        lambda: st.sampled_from(
            [c for c in _lg_code.all_codes() if kinds is None or c.kind in kinds]
        )
    )


def register_municipalities() -> st.SearchStrategy[LocalGovernmentCode]:
    """Codes of governments that keep a resident register (cities, towns, villages, wards)."""
    return lg_codes(REGISTER_KINDS)


def addresses(
    municipality: st.SearchStrategy[LocalGovernmentCode] | None = None,
) -> st.SearchStrategy[Address]:
    """Addresses in real municipalities, like ``栄町2丁目13番4号``."""
    rest = st.builds(
        lambda town, chome, ban, go: f"{town}{chome}丁目{ban}番{go}号",
        st.sampled_from(_TOWNS),
        st.integers(1, 9),
        st.integers(1, 40),
        st.integers(1, 30),
    )
    return st.builds(
        lambda code, text: Address(municipality=code, rest=text),
        municipality if municipality is not None else register_municipalities(),
        rest,
    )


def birth_dates(
    earliest: date = _EARLIEST_BIRTH, latest: date = _LATEST_DATE
) -> st.SearchStrategy[date]:
    """Birth dates between ``earliest`` and ``latest``."""
    return st.dates(min_value=earliest, max_value=latest)


def person_names(
    sex: Sex | None = None, *, foreign: bool = False, with_reading: bool = True
) -> st.SearchStrategy[PersonName]:
    """Names with readings: Japanese surnames weighted by frequency, or foreign names."""
    if foreign:
        return st.builds(
            lambda family, given: PersonName(family=family, given=given),
            st.sampled_from(_FOREIGN_FAMILY),
            st.sampled_from(_FOREIGN_GIVEN),
        )

    def build(surname: tuple[str, str], given: tuple[str, str]) -> PersonName:
        return PersonName(
            family=surname[0],
            given=given[0],
            family_reading=surname[1] if with_reading else None,
            given_reading=given[1] if with_reading else None,
        )

    sexes = [sex] if sex is not None else list(Sex)
    givens = st.sampled_from(sexes).flatmap(lambda s: st.sampled_from(_given_names()[s]))
    return st.deferred(lambda: st.builds(build, _weighted(_surnames()), givens))


@st.composite
def identity_infos(draw: st.DrawFn) -> IdentityInfo:
    """Identity confirmation information (本人確認情報) of a plausible person."""
    sex = draw(st.sampled_from(Sex))
    return IdentityInfo(
        resident_code=draw(resident_codes()),
        name=draw(person_names(sex)),
        birth_date=draw(birth_dates()),
        sex=sex,
        address=draw(addresses()),
        individual_number=draw(st.none() | individual_numbers()),
    )


@st.composite
def resident_records(
    draw: st.DrawFn,
    *,
    municipality: LocalGovernmentCode | None = None,
    removed: bool | None = None,
) -> ResidentRecord:
    """Resident records (住民票) for Japanese and foreign residents, registered or removed."""
    sex = draw(st.sampled_from(Sex))
    foreign = draw(st.integers(0, 36)) == 0  # about 2.7 % of residents (2024: 3.3 M / 125 M)
    birth = draw(birth_dates())
    resident_since = draw(st.dates(min_value=birth, max_value=max(birth, _LATEST_DATE)))
    place = st.just(municipality) if municipality is not None else None
    address = draw(addresses(place))
    name = draw(person_names(sex, foreign=foreign))
    if draw(st.booleans()):
        household = HouseholdMembership(
            household_id=draw(_ids("S")), relationship=HEAD_OF_HOUSEHOLD
        )
    else:
        household = HouseholdMembership(
            household_id=draw(_ids("S")),
            relationship=draw(st.sampled_from(_RELATIONSHIPS)),
            head_name=draw(person_names(foreign=foreign)),
        )
    family_register = None
    foreign_info = None
    if foreign:
        category = draw(st.sampled_from(ForeignResidentCategory))
        mid_long = category is ForeignResidentCategory.MID_LONG_TERM
        foreign_info = ForeignResidentInfo(
            nationality=draw(st.sampled_from(_NATIONALITIES)),
            category=category,
            became_foreign_resident_on=resident_since,
            residence_status="技術・人文知識・国際業務" if mid_long else None,
            period_of_stay="3年" if mid_long else None,
            stay_expires_on=resident_since + timedelta(days=3 * 365) if mid_long else None,
        )
    else:
        family_register = FamilyRegister(
            domicile=f"{address.municipality.full_name}{draw(st.integers(1, 999))}番地",
            head=name.full,
        )
    is_removed = draw(st.booleans()) if removed is None else removed
    removal = None
    if is_removed:
        reason = draw(
            st.sampled_from(
                [ChangeReason.DOMESTIC_MOVE_OUT, ChangeReason.MOVE_ABROAD, ChangeReason.DEATH]
            )
        )
        moved = reason is ChangeReason.DOMESTIC_MOVE_OUT
        removal = Removal(
            reason=reason,
            removed_on=draw(
                st.dates(min_value=resident_since, max_value=max(resident_since, _LATEST_DATE))
            ),
            destination=draw(addresses()).full if moved else None,
            certificate=draw(certificate_numbers()) if moved else None,
        )
    adult = (_LATEST_DATE - birth).days >= 18 * 366
    return ResidentRecord(
        internal_id=draw(_ids("A")),
        resident_code=draw(resident_codes()),
        name=name,
        birth_date=birth,
        sex=sex,
        household=household,
        address=address,
        resident_since=resident_since,
        individual_number=draw(st.none() | individual_numbers()),
        family_register=family_register,
        foreign=foreign_info,
        electoral_register=adult and not foreign and draw(st.booleans()),
        status=RecordStatus.REMOVED if is_removed else RecordStatus.REGISTERED,
        removal=removal,
    )


def _ids(prefix: str) -> st.SearchStrategy[str]:
    return st.integers(0, 10**9).map(lambda n: f"{prefix}{n:010d}")


@st.composite
def identity_notices(draw: st.DrawFn, *, kind: ChangeKind | None = None) -> IdentityNotice:
    """Identity notices of every notifiable reason, with previous codes where the law wants them."""
    reasons = [r for r in ChangeReason if r.notifiable and (kind is None or r.kind is kind)]
    reason = draw(st.sampled_from(reasons))
    info = draw(identity_infos())
    previous_code = None
    previous_number = None
    if reason.changes_resident_code:
        previous_code = draw(resident_codes().filter(lambda c: c != info.resident_code))
    if reason.changes_individual_number:
        if info.individual_number is None:
            info = attrs.evolve(info, individual_number=draw(individual_numbers()))
        if reason is not ChangeReason.INDIVIDUAL_NUMBER_EX_OFFICIO_ENTRY or draw(st.booleans()):
            current = info.individual_number
            previous_number = draw(individual_numbers().filter(lambda n: n != current))
    event_date = draw(
        st.dates(min_value=info.birth_date, max_value=max(info.birth_date, _LATEST_DATE))
    )
    certificate = moved_from = None
    if reason in (ChangeReason.DOMESTIC_MOVE_OUT, ChangeReason.DOMESTIC_MOVE_IN):
        certificate = draw(certificate_numbers())
    if reason is ChangeReason.DOMESTIC_MOVE_IN:
        here = info.municipality
        moved_from = draw(register_municipalities().filter(lambda c: c.value != here))
    return IdentityNotice(
        info=info,
        reason=reason,
        event_date=event_date,
        previous_resident_code=previous_code,
        previous_individual_number=previous_number,
        moved_from=moved_from,
        certificate=certificate,
    )


def certificate_numbers() -> st.SearchStrategy[str]:
    """Move-out certificate numbers (32 lowercase hexadecimal digits)."""
    return st.binary(min_size=16, max_size=16).map(bytes.hex)
