"""Deterministic, realistic test data for the benchmarks (no Hypothesis).

:func:`municipality_rows` builds the register rows of one municipality of *n*
residents from a seeded :class:`random.Random`. Building a full domain
:class:`~jukinet.domain.resident.ResidentRecord` and serialising it costs tens of
microseconds, so only the first ``real`` rows (default 2,000) are built from
real records through :func:`jukinet.storage.mapping.register_row`; the rest are
derived from them with their own internal number (宛名番号), resident code
(住民票コード, valid check digit), household and status, re-using a real
record's payload bytes. The adapters never decode payloads, so the work they do
per row is the same.
"""

from __future__ import annotations

import csv
import functools
import random
from collections.abc import Iterator
from datetime import date, timedelta
from importlib import resources

from jukinet.domain import individual_number, resident_code
from jukinet.domain.address import Address
from jukinet.domain.changes import ChangeReason
from jukinet.domain.individual_number import IndividualNumber
from jukinet.domain.lg_code import LocalGovernmentCode
from jukinet.domain.names import PersonName
from jukinet.domain.resident import (
    HEAD_OF_HOUSEHOLD,
    FamilyRegister,
    HouseholdMembership,
    RecordVersion,
    ResidentRecord,
    Sex,
)
from jukinet.domain.resident_code import ResidentCode
from jukinet.storage.mapping import register_row
from jukinet.storage.records import RegisterRow

__all__ = ["DEFAULT_REAL", "MUNICIPALITY", "municipality_rows", "resident_codes"]

MUNICIPALITY = "131121"
"""世田谷区 (Setagaya), about 940,000 residents: the largest municipal register."""

DEFAULT_REAL = 2000
"""How many rows are built from full domain records; the rest re-use their payloads."""

_TOWNS = ("桜", "若林", "三軒茶屋", "太子堂", "代沢", "北沢", "松原", "赤堤", "経堂", "用賀")
_MEMBERS = ("妻", "夫", "子", "子", "子", "父", "母", "孫")
_HOUSEHOLD_SIZES = (1, 1, 1, 1, 2, 2, 2, 3, 3, 4)  # mean 2.0, like Tokyo's wards
_TODAY = date(2026, 4, 1)


def _read(name: str) -> list[dict[str, str]]:
    text = resources.files("jukinet.testing").joinpath("data", name).read_text("utf-8")
    return list(csv.DictReader(text.splitlines()))


@functools.cache
def _surnames() -> tuple[tuple[tuple[str, str], ...], tuple[int, ...]]:
    rows = _read("surnames.csv")
    names = tuple((r["surname"], r["reading"]) for r in rows)
    return names, tuple(int(r["estimated_count"]) for r in rows)


@functools.cache
def _given_names() -> dict[Sex, tuple[tuple[str, str], ...]]:
    rows = _read("given_names.csv")
    return {
        sex: tuple((r["given"], r["reading"]) for r in rows if r["sex"] == sex.value) for sex in Sex
    }


def resident_codes(rng: random.Random, n: int) -> list[str]:
    """``n`` distinct valid resident codes, drawn uniformly from the 10-digit bodies."""
    seen: set[str] = set()
    codes: list[str] = []
    while len(codes) < n:
        body = f"{rng.randrange(10**10):010d}"
        if body in seen:
            continue
        seen.add(body)
        codes.append(body + resident_code.calc_check_digit(body))
    return codes


def _households(rng: random.Random, n: int) -> Iterator[tuple[str, int]]:
    """(household id, position in household) for ``n`` people."""
    number = 0
    produced = 0
    while produced < n:
        number += 1
        for position in range(rng.choice(_HOUSEHOLD_SIZES)):
            if produced == n:
                return
            yield f"S{number:09d}", position
            produced += 1


def _date_between(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randrange((end - start).days + 1))


def _record_version(
    rng: random.Random,
    internal_id: str,
    code: str,
    household_id: str,
    position: int,
    head: PersonName | None,
    place: LocalGovernmentCode,
    rest: str,
) -> RecordVersion:
    surnames, weights = _surnames()
    sex = rng.choice((Sex.MALE, Sex.FEMALE))
    family = head.family if head is not None else rng.choices(surnames, weights)[0][0]
    family_reading = (
        head.family_reading if head is not None else next(r for s, r in surnames if s == family)
    )
    given, given_reading = rng.choice(_given_names()[sex])
    name = PersonName(
        family=family, given=given, family_reading=family_reading, given_reading=given_reading
    )
    birth = _date_between(rng, date(1930, 1, 1), date(2025, 12, 31))
    since = _date_between(rng, birth, _TODAY)
    if position == 0 or head is None:
        household = HouseholdMembership(household_id=household_id, relationship=HEAD_OF_HOUSEHOLD)
    else:
        household = HouseholdMembership(
            household_id=household_id, relationship=rng.choice(_MEMBERS), head_name=head
        )
    number = None
    if rng.random() < 0.8:
        body = f"{rng.randrange(10**11):011d}"
        number = IndividualNumber(body + individual_number.calc_check_digit(body))
    record = ResidentRecord(
        internal_id=internal_id,
        resident_code=ResidentCode(code),
        name=name,
        birth_date=birth,
        sex=sex,
        household=household,
        address=Address(municipality=place, rest=rest),
        resident_since=since,
        individual_number=number,
        family_register=FamilyRegister(
            domicile=f"{place.full_name}{rng.randrange(1, 1000)}番地", head=name.full
        ),
        electoral_register=(_TODAY - birth).days >= 18 * 366,
    )
    reason = ChangeReason.BIRTH if since == birth else ChangeReason.DOMESTIC_MOVE_IN
    return RecordVersion(
        version=1,
        record=record,
        reason=reason,
        event_date=since,
        processed_on=min(since + timedelta(days=rng.randrange(0, 15)), _TODAY),
    )


@functools.lru_cache(maxsize=1)
def municipality_rows(
    n: int, *, seed: int = 2026, real: int = DEFAULT_REAL
) -> tuple[tuple[RegisterRow, ...], int]:
    """The version-1 register rows of a municipality of ``n`` residents.

    Returns ``(rows, built)`` where ``built`` rows came from full domain records
    (``min(n, real)``) and the rest were derived from them (see the module doc).
    Deterministic for a given ``seed``; the last answer is cached, so repeated
    runs (``--repeat``) build the rows once.
    """
    rng = random.Random(seed)
    place = LocalGovernmentCode(MUNICIPALITY)
    codes = resident_codes(rng, n)
    rows: list[RegisterRow] = []
    built = min(n, real)
    head: PersonName | None = None
    rest = ""
    for index, (household_id, position) in enumerate(_households(rng, n)):
        internal_id = f"A{index + 1:010d}"
        if position == 0:
            head = None
            rest = f"{rng.choice(_TOWNS)}{rng.randrange(1, 6)}丁目{rng.randrange(1, 41)}番{rng.randrange(1, 31)}号"
        if index < built:
            version = _record_version(
                rng, internal_id, codes[index], household_id, position, head, place, rest
            )
            if position == 0:
                head = version.record.name
            rows.append(register_row(version))
        else:
            model = rows[rng.randrange(built)]
            rows.append(
                RegisterRow(
                    internal_id=internal_id,
                    version=1,
                    resident_code=codes[index],
                    status="registered",
                    household_id=household_id,
                    reason=model.reason,
                    event_date=model.event_date,
                    processed_on=model.processed_on,
                    payload=model.payload,
                )
            )
    return tuple(rows), built
