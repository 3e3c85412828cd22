"""Ready-made example values, for tests, docs and notebooks.

>>> record = resident_record()
>>> record.name.full, str(record.resident_code), record.address.municipality.name
('山田 太郎', '12345678903', '千代田区')
"""

from __future__ import annotations

from datetime import date

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

__all__ = ["resident_record"]


def resident_record(resident_code: str = "12345678903") -> ResidentRecord:
    """A registered Japanese resident of 千代田区, head of a one-person household.

    The resident code is, unless given, the worked example of the check-digit rule
    (12345678903).
    """
    return ResidentRecord(
        internal_id="A0000001",
        resident_code=ResidentCode(resident_code),
        name=PersonName(
            family="山田", given="太郎", family_reading="ヤマダ", given_reading="タロウ"
        ),
        birth_date=date(1980, 4, 1),
        sex=Sex.MALE,
        household=HouseholdMembership(household_id="S0001", relationship=HEAD_OF_HOUSEHOLD),
        address=Address(municipality=LocalGovernmentCode("131016"), rest="千代田1丁目1番1号"),
        resident_since=date(1980, 4, 1),
        family_register=FamilyRegister(domicile="東京都千代田区千代田1番", head="山田 一郎"),
        electoral_register=True,
    )
