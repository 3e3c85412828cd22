"""The notices an upper tier holds pending (:class:`PendingNotice`, :class:`PendingRecord`)."""

from __future__ import annotations

from typing import Any

import attrs

from jukinet.errors import InvalidComponent
from jukinet.storage.records._validate import (
    _NODE,
    _expect,
    _int,
    _payload,
    _resident_code,
    _str,
)


def _as_tuple(value: Any) -> tuple[str, ...]:
    return tuple(value) if isinstance(value, list | tuple) else value


def _codes(_i: Any, _a: Any, value: Any) -> None:
    _expect(value, tuple, "codes")
    if not 1 <= len(value) <= 2 or len(set(value)) != len(value):
        raise InvalidComponent(
            f"{len(value)} codes", field="codes", expected="one or two different resident codes"
        )
    check = _resident_code("codes")
    for code in value:
        check(_i, _a, code)


@attrs.frozen(kw_only=True)
class PendingNotice:
    """A notice an upper tier received and has not applied yet (docs/tiers.md): the
    node it came from, the resident codes it is about (the replaced one too, for a
    code change) and the framed message as received."""

    sender: str = attrs.field(validator=_str("sender", max_length=64, pattern=_NODE))
    codes: tuple[str, ...] = attrs.field(converter=_as_tuple, validator=_codes)
    payload: bytes = attrs.field(validator=_payload, repr=False)


@attrs.frozen(kw_only=True)
class PendingRecord:
    """A pending notice as stored, with its sequence number (the order it arrived in)."""

    seq: int = attrs.field(validator=_int("seq", minimum=1))
    entry: PendingNotice = attrs.field(
        validator=lambda _i, _a, v: _expect(v, PendingNotice, "entry")
    )
