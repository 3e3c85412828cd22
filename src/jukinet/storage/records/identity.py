"""The rows of an upper tier's identity information and its searches
(:class:`IdentityRow`, :class:`IdentityQuery`)."""

from __future__ import annotations

from datetime import date

import attrs

from jukinet.storage.records._validate import (
    _date,
    _expect,
    _int,
    _lg_code,
    _one_of,
    _optional_str,
    _payload,
    _resident_code,
    _str,
)

_SEXES = frozenset({"male", "female"})


@attrs.frozen(kw_only=True)
class IdentityRow:
    """One version of one person's identity information in an upper tier's copy.

    Versions are numbered per resident code, 1, 2, 3 … without gaps (once the
    oldest have expired, a code's kept versions start above 1). A version
    whose ``removed`` is true records a 消除 (the person is no longer registered
    there); a version that changed the code names the ``previous_resident_code``.
    The search keys are the normalised forms from the domain (name key, reading
    key, address key) so that the four basic items can be searched by index.
    ``payload`` is the canonical bytes of the
    :class:`~jukinet.domain.identity.IdentityNotice`.

    ``received_on`` is the day this tier recorded the version (its clock's date
    in Japan). The retention periods run from it (令30条の6・令30条の7): a
    version is kept until 150 years after the next version of the same code
    arrived, and a removed version 150 years from its own arrival (see
    :meth:`IdentityStore.expire <jukinet.storage.base.IdentityStore.expire>`).
    ``None`` means the day is unknown (a row stored before schema version 3,
    or loaded without it): such a version is never expired by its own date.
    """

    resident_code: str = attrs.field(validator=_resident_code("resident_code"))
    version: int = attrs.field(validator=_int("version", minimum=1))
    municipality: str = attrs.field(validator=_lg_code)
    reason: str = attrs.field(validator=_str("reason", max_length=64))
    event_date: date = attrs.field(validator=_date("event_date"))
    removed: bool = attrs.field(validator=lambda _i, _a, v: _expect(v, bool, "removed"))
    name_key: str = attrs.field(validator=_str("name_key"))
    reading_key: str | None = attrs.field(validator=_optional_str("reading_key"))
    birth_date: date = attrs.field(validator=_date("birth_date"))
    sex: str = attrs.field(validator=_one_of("sex", _SEXES))
    address_key: str = attrs.field(validator=_str("address_key"))
    previous_resident_code: str | None = attrs.field(
        default=None, validator=_resident_code("previous_resident_code", optional=True)
    )
    payload: bytes = attrs.field(validator=_payload, repr=False)
    received_on: date | None = attrs.field(
        default=None, validator=_date("received_on", optional=True)
    )


@attrs.frozen(kw_only=True)
class IdentityQuery:
    """A search by the four basic items (基本4情報) on normalised keys.

    ``name_key`` and ``birth_date`` are required; ``sex`` and ``address_key``
    narrow the search when given. Each municipality's newest version of a code
    matches when it is not removed, so during a move (before the old
    municipality's removal arrives) one code can match twice.
    """

    name_key: str = attrs.field(validator=_str("name_key"))
    birth_date: date = attrs.field(validator=_date("birth_date"))
    sex: str | None = attrs.field(
        default=None,
        validator=lambda i, a, v: None if v is None else _one_of("sex", _SEXES)(i, a, v),
    )
    address_key: str | None = attrs.field(default=None, validator=_optional_str("address_key"))
