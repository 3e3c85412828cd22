"""The rows of a municipality's resident register (:class:`RegisterRow`)."""

from __future__ import annotations

from datetime import date

import attrs

from jukinet.storage.records._validate import (
    _ID,
    _STATUSES,
    _date,
    _int,
    _one_of,
    _payload,
    _resident_code,
    _str,
)


@attrs.frozen(kw_only=True)
class RegisterRow:
    """One version of one resident record in a municipality's register.

    ``payload`` is the canonical bytes of the whole
    :class:`~jukinet.domain.resident.ResidentRecord`; the other fields are the
    indexed columns. ``(internal_id, version)`` is unique and versions of one
    person are 1, 2, 3 … without gaps; a resident code belongs to one internal
    number for ever (codes are never reused, 住基法30条の2).
    """

    internal_id: str = attrs.field(validator=_str("internal_id", pattern=_ID))
    version: int = attrs.field(validator=_int("version", minimum=1))
    resident_code: str = attrs.field(validator=_resident_code("resident_code"))
    status: str = attrs.field(validator=_one_of("status", _STATUSES))
    household_id: str = attrs.field(validator=_str("household_id", max_length=32))
    reason: str = attrs.field(validator=_str("reason", max_length=64))
    event_date: date = attrs.field(validator=_date("event_date"))
    processed_on: date = attrs.field(validator=_date("processed_on"))
    payload: bytes = attrs.field(validator=_payload, repr=False)
