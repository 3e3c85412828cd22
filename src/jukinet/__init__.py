"""jukinet: a typed reference implementation of Juki Net (住民基本台帳ネットワークシステム).

The public face re-exports the domain values most code needs:

>>> from jukinet import LocalGovernmentCode, ResidentCode, format_wareki
>>> str(ResidentCode("1234-5678-903"))
'12345678903'
>>> LocalGovernmentCode("131016").full_name
'東京都千代田区'
>>> from datetime import date
>>> format_wareki(date(2019, 5, 1))
'令和元年5月1日'

Modules: :mod:`jukinet.errors` (the error hierarchy), :mod:`jukinet.domain`
(codes, names, dates, addresses, records, identity information, serialization),
:mod:`jukinet.storage` (ports and adapters), :mod:`jukinet.tiers` (the
municipalities, prefectures and the national centre, and the messages between
them), :mod:`jukinet.card` (the resident IC card), :mod:`jukinet.export` (flat
tables for DataFrames), :mod:`jukinet.progress` (progress of long work),
:mod:`jukinet.testing` (Hypothesis strategies, conformance suites, a faulty network
and a small country for your own tests). The library logs under ``jukinet.*``
loggers and never prints.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from jukinet.domain.address import Address
from jukinet.domain.changes import ChangeKind, ChangeReason
from jukinet.domain.era import Era, format_wareki, parse_wareki
from jukinet.domain.identity import IdentityInfo, IdentityNotice
from jukinet.domain.individual_number import IndividualNumber
from jukinet.domain.lg_code import GovernmentKind, LocalGovernmentCode
from jukinet.domain.names import PersonName
from jukinet.domain.resident import (
    FamilyRegister,
    ForeignResidentCategory,
    ForeignResidentInfo,
    HouseholdMembership,
    RecordStatus,
    RecordVersion,
    Removal,
    ResidentHistory,
    ResidentRecord,
    Sex,
)
from jukinet.domain.resident_code import ResidentCode

try:
    __version__ = version("jukinet")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = [
    "Address",
    "ChangeKind",
    "ChangeReason",
    "Era",
    "FamilyRegister",
    "ForeignResidentCategory",
    "ForeignResidentInfo",
    "GovernmentKind",
    "HouseholdMembership",
    "IdentityInfo",
    "IdentityNotice",
    "IndividualNumber",
    "LocalGovernmentCode",
    "PersonName",
    "RecordStatus",
    "RecordVersion",
    "Removal",
    "ResidentCode",
    "ResidentHistory",
    "ResidentRecord",
    "Sex",
    "__version__",
    "format_wareki",
    "parse_wareki",
]
