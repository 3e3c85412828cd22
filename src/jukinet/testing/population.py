"""Synthetic residents for demos and benchmarks, without Hypothesis.

Surnames are drawn by their real frequency (the shipped table of the 100 most
common), given names from a list of common ones, ages from a rough pyramid, and
people are grouped into households of one to five. No real person's data is used.

>>> import random
>>> from datetime import date
>>> from jukinet.domain.lg_code import LocalGovernmentCode
>>> from jukinet.domain.resident_code import ResidentCode, generate
>>> rng = random.Random(5)
>>> codes = [generate(rng) for _ in range(3)]
>>> people = residents(rng, LocalGovernmentCode("131016"), codes, today=date(2026, 4, 1))
>>> len(people), people[0].household.is_head
(3, True)
"""

from __future__ import annotations

import bisect
import csv
import functools
import itertools
import random
from collections.abc import Sequence
from datetime import date, timedelta
from importlib import resources

from jukinet.domain.address import Address
from jukinet.domain.lg_code import LocalGovernmentCode
from jukinet.domain.names import PersonName
from jukinet.domain.resident import (
    HEAD_OF_HOUSEHOLD,
    FamilyRegister,
    HouseholdMembership,
    ResidentRecord,
    Sex,
)
from jukinet.domain.resident_code import ResidentCode

__all__ = ["person_name", "residents", "street_address"]

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
)


def _rows(name: str) -> list[dict[str, str]]:
    text = resources.files("jukinet.testing").joinpath("data", name).read_text("utf-8")
    return list(csv.DictReader(text.splitlines()))


@functools.cache
def _surnames() -> tuple[list[tuple[str, str]], list[int]]:
    rows = _rows("surnames.csv")
    names = [(r["surname"], r["reading"]) for r in rows]
    cumulative = list(itertools.accumulate(int(r["estimated_count"]) for r in rows))
    return names, cumulative


@functools.cache
def _given() -> dict[str, list[tuple[str, str]]]:
    result: dict[str, list[tuple[str, str]]] = {"male": [], "female": []}
    for r in _rows("given_names.csv"):
        result[r["sex"]].append((r["given"], r["reading"]))
    return result


def person_name(
    rng: random.Random, sex: Sex, *, family: tuple[str, str] | None = None
) -> PersonName:
    """A Japanese name with reading; the surname by real frequency unless given."""
    if family is None:
        names, cumulative = _surnames()
        family = names[bisect.bisect_right(cumulative, rng.randrange(cumulative[-1]))]
    given, reading = rng.choice(_given()[sex.value])
    return PersonName(
        family=family[0], given=given, family_reading=family[1], given_reading=reading
    )


def street_address(rng: random.Random) -> str:
    """The rest of an address, like ``栄町2丁目13番4号``."""
    return (
        f"{rng.choice(_TOWNS)}{rng.randint(1, 9)}丁目{rng.randint(1, 40)}番{rng.randint(1, 30)}号"
    )


def _birth_date(rng: random.Random, today: date) -> date:
    age = min(int(rng.triangular(0, 100, 48)), 104)
    return today - timedelta(days=age * 365 + rng.randrange(365))


def residents(
    rng: random.Random,
    municipality: LocalGovernmentCode,
    codes: Sequence[ResidentCode],
    *,
    today: date,
) -> list[ResidentRecord]:
    """One registered resident per code, living in ``municipality``, in households."""
    people: list[ResidentRecord] = []
    index = 0
    household_no = 0
    while index < len(codes):
        household_no += 1
        size = min(rng.choice((1, 1, 2, 2, 3, 4, 5)), len(codes) - index)
        names, cumulative = _surnames()
        family = names[bisect.bisect_right(cumulative, rng.randrange(cumulative[-1]))]
        address = Address(municipality=municipality, rest=street_address(rng))
        head_sex = rng.choice((Sex.MALE, Sex.FEMALE))
        head_name = person_name(rng, head_sex, family=family)
        household_id = f"H{household_no:07d}"
        for member in range(size):
            if member == 0:
                sex, name = head_sex, head_name
                membership = HouseholdMembership(
                    household_id=household_id, relationship=HEAD_OF_HOUSEHOLD
                )
            else:
                spouse = member == 1
                if spouse:
                    sex = Sex.FEMALE if head_sex is Sex.MALE else Sex.MALE
                    relationship = "妻" if sex is Sex.FEMALE else "夫"
                else:
                    sex = rng.choice((Sex.MALE, Sex.FEMALE))
                    relationship = "子"
                name = person_name(rng, sex, family=family)
                membership = HouseholdMembership(
                    household_id=household_id, relationship=relationship, head_name=head_name
                )
            born = _birth_date(rng, today)
            people.append(
                ResidentRecord(
                    internal_id=f"{index + 1:012d}",
                    resident_code=codes[index],
                    name=name,
                    birth_date=born,
                    sex=sex,
                    household=membership,
                    address=address,
                    resident_since=born,
                    family_register=FamilyRegister(
                        domicile=f"{municipality.full_name}{rng.randint(1, 999)}番地",
                        head=head_name.full,
                    ),
                    electoral_register=(today - born).days >= 18 * 366,
                )
            )
            index += 1
    return people
