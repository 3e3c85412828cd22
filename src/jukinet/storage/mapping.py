"""Mapping between domain values and the plain storage records.

Adapters only see :mod:`jukinet.storage.records`; this module is where a
:class:`~jukinet.domain.resident.RecordVersion` becomes a
:class:`~jukinet.storage.records.RegisterRow` and an
:class:`~jukinet.domain.identity.IdentityNotice` an
:class:`~jukinet.storage.records.IdentityRow`, and back.

>>> from datetime import date
>>> from jukinet.domain.changes import ChangeReason
>>> from jukinet.domain.resident import ResidentHistory
>>> from jukinet.testing import examples
>>> history = ResidentHistory.start(
...     examples.resident_record(), reason=ChangeReason.BIRTH,
...     event_date=date(1980, 4, 1), processed_on=date(1980, 4, 2))
>>> row = register_row(history.latest)
>>> row.internal_id, row.version, row.resident_code, row.status
('A0000001', 1, '12345678903', 'registered')
>>> record_version(row) == history.latest
True
"""

from __future__ import annotations

from datetime import date

from jukinet.domain import codec
from jukinet.domain.address import Address, address_key
from jukinet.domain.changes import ChangeKind
from jukinet.domain.identity import IdentityNotice
from jukinet.domain.names import PersonName, name_key
from jukinet.domain.resident import RecordVersion, Sex
from jukinet.storage.records import IdentityQuery, IdentityRow, RegisterRow

__all__ = [
    "identity_query",
    "identity_row",
    "notice",
    "record_version",
    "register_row",
]


def register_row(version: RecordVersion) -> RegisterRow:
    """The register row for one version of a record."""
    record = version.record
    return RegisterRow(
        internal_id=record.internal_id,
        version=version.version,
        resident_code=record.resident_code.value,
        status=record.status.value,
        household_id=record.household.household_id,
        reason=version.reason.value,
        event_date=version.event_date,
        processed_on=version.processed_on,
        payload=codec.to_bytes(version),
    )


def record_version(row: RegisterRow) -> RecordVersion:
    """The record version a register row holds."""
    return codec.from_bytes(RecordVersion, row.payload)


def identity_row(
    item: IdentityNotice, version: int, *, received_on: date | None = None
) -> IdentityRow:
    """The identity row for a notice, as version ``version`` of its resident code,
    received on ``received_on`` (None: unknown; see
    :attr:`IdentityRow.received_on <jukinet.storage.records.IdentityRow.received_on>`)."""
    info = item.info
    return IdentityRow(
        resident_code=info.resident_code.value,
        version=version,
        municipality=info.municipality,
        reason=item.reason.value,
        event_date=item.event_date,
        removed=item.kind is ChangeKind.REMOVAL,
        name_key=info.name.matching_key,
        reading_key=info.name.reading_key,
        birth_date=info.birth_date,
        sex=info.sex.value,
        address_key=info.address.search_key,
        previous_resident_code=(
            item.previous_resident_code.value if item.previous_resident_code else None
        ),
        payload=codec.to_bytes(item),
        received_on=received_on,
    )


def notice(row: IdentityRow) -> IdentityNotice:
    """The identity notice an identity row holds."""
    return codec.from_bytes(IdentityNotice, row.payload)


def identity_query(
    name: PersonName | str,
    birth_date: date,
    sex: Sex | None = None,
    address: Address | str | None = None,
) -> IdentityQuery:
    """A search by the four basic items, on the same normalised keys as the rows.

    ``name`` may be a :class:`~jukinet.domain.names.PersonName` or text such as
    ``"髙橋 一郎"``; ``address`` an :class:`~jukinet.domain.address.Address` or
    the full address as text.
    """
    key = name.matching_key if isinstance(name, PersonName) else name_key(name)
    if isinstance(address, Address):
        place: str | None = address.search_key
    elif address is None:
        place = None
    else:
        place = address_key(address)
    return IdentityQuery(
        name_key=key,
        birth_date=birth_date,
        sex=sex.value if sex is not None else None,
        address_key=place,
    )
