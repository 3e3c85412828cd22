"""The validators every record shares, and the argument checks of the adapters."""

from __future__ import annotations

import functools
import re
from datetime import date, datetime
from typing import Any, TypeVar, cast

import attrs

from jukinet.domain import lg_code, resident_code
from jukinet.errors import InvalidComponent, InvalidFormat, InvalidLength

# Documented in jukinet.storage.records (the package), where it is imported from.
MAX_PAYLOAD_BYTES = 64 * 1024

# Documented in jukinet.storage.records (the package), where it is imported from.
MAX_KEY_LENGTH = 200

_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,31}")
_NODE = re.compile(r"[0-9A-Za-z][0-9A-Za-z_.:-]{0,63}")
_STATUSES = frozenset({"registered", "removed"})


_R = TypeVar("_R")


@functools.cache
def _field_names(cls: Any) -> tuple[tuple[str, ...], frozenset[str]]:
    names = tuple(f.name for f in attrs.fields(cls))
    return names, frozenset(names)


def unchecked(cls: type[_R], **values: Any) -> _R:
    """A record built from values already known to be valid, without its validators.

    For an adapter reading back rows it wrote (each was validated on the way
    in) and for values the library itself computed (a sequence number, a hash, a
    copy of a validated entry about a person read from storage). Never for
    values from a caller: those go through the record's constructor. Every field
    must be given.

    >>> from jukinet.storage.records import ChainFault
    >>> unchecked(ChainFault, seq=3, problem="missing")
    ChainFault(seq=3, problem='missing')
    >>> unchecked(ChainFault, seq=3)
    Traceback (most recent call last):
        ...
    TypeError: ChainFault: missing fields ['problem'], unknown fields []
    """
    names, known = _field_names(cast(Any, cls))
    if len(values) != len(names) or not values.keys() <= known:
        missing = sorted(known - values.keys())
        unknown = sorted(values.keys() - known)
        raise TypeError(f"{cls.__name__}: missing fields {missing}, unknown fields {unknown}")
    record = object.__new__(cls)
    for name in names:
        object.__setattr__(record, name, values[name])
    return record


def unchecked_replace(record: _R, **changes: Any) -> _R:
    """A copy of a validated record with some fields replaced by values known to be
    valid (see :func:`unchecked`); :func:`attrs.evolve` without the validators.

    >>> from jukinet.storage.records import ChainFault
    >>> fault = ChainFault(seq=3, problem="missing")
    >>> unchecked_replace(fault, seq=4)
    ChainFault(seq=4, problem='missing')
    """
    names, known = _field_names(cast(Any, type(record)))
    if not changes.keys() <= known:
        unknown = sorted(changes.keys() - known)
        raise TypeError(f"{type(record).__name__}: unknown fields {unknown}")
    copy = object.__new__(type(record))
    for name in names:
        object.__setattr__(copy, name, changes[name] if name in changes else getattr(record, name))
    return copy


def _expect(value: object, cls: type, field: str) -> None:
    if isinstance(value, bool) and cls is not bool:
        raise InvalidFormat("got a bool", field=field, expected=cls.__name__)
    if isinstance(value, datetime):
        raise InvalidFormat("got a datetime", field=field, expected="a date")
    if not isinstance(value, cls):
        raise InvalidFormat(
            f"got {type(value).__name__}", field=field, expected=f"a {cls.__name__}"
        )


def _str(
    field: str, *, max_length: int = MAX_KEY_LENGTH, pattern: re.Pattern[str] | None = None
) -> Any:
    def check(_i: object, _a: object, value: object) -> None:
        _expect(value, str, field)
        assert isinstance(value, str)
        if not value:
            raise InvalidLength("the value is empty", field=field, expected="non-empty text")
        if len(value) > max_length:
            raise InvalidLength(
                f"{len(value)} characters", field=field, expected=f"at most {max_length}"
            )
        if "\x00" in value:
            raise InvalidFormat("contains a NUL character", field=field, expected="text")
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidFormat(
                    "contains a lone surrogate", field=field, expected="text encodable as UTF-8"
                ) from None
        if pattern is not None and not pattern.fullmatch(value):
            raise InvalidFormat(f"{value!r} is malformed", field=field, expected=pattern.pattern)

    return check


def _optional_str(field: str, **kwargs: Any) -> Any:
    inner = _str(field, **kwargs)

    def check(i: object, a: object, value: object) -> None:
        if value is not None:
            inner(i, a, value)

    return check


def _int(field: str, *, minimum: int = 0) -> Any:
    def check(_i: object, _a: object, value: object) -> None:
        _expect(value, int, field)
        assert isinstance(value, int)
        if not minimum <= value < 2**63:
            raise InvalidComponent(
                f"{value} is out of range", field=field, expected=f"{minimum} to 2**63-1"
            )

    return check


def _date(field: str, *, optional: bool = False) -> Any:
    def check(_i: object, _a: object, value: object) -> None:
        if optional and value is None:
            return
        _expect(value, date, field)

    return check


def _aware(_i: Any, _a: Any, value: Any) -> None:
    if not isinstance(value, datetime):
        raise InvalidFormat(f"got {type(value).__name__}", field="at", expected="a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidFormat("the time has no time zone", field="at", expected="an aware datetime")


def _bytes(field: str) -> Any:
    def check(_i: Any, _a: Any, value: Any) -> None:
        _expect(value, bytes, field)
        assert isinstance(value, bytes)
        if not value:
            raise InvalidLength(f"the {field} is empty", field=field, expected="some bytes")
        if len(value) > MAX_PAYLOAD_BYTES:
            raise InvalidLength(
                f"{len(value)} bytes", field=field, expected=f"at most {MAX_PAYLOAD_BYTES} bytes"
            )

    return check


_payload = _bytes("payload")


def _one_of(field: str, allowed: frozenset[str]) -> Any:
    def check(_i: object, _a: object, value: object) -> None:
        _expect(value, str, field)
        if value not in allowed:
            raise InvalidComponent(
                f"{value!r} is not allowed", field=field, expected=" or ".join(sorted(allowed))
            )

    return check


def _resident_code(field: str, *, optional: bool = False) -> Any:
    def check(_i: object, _a: object, value: object) -> None:
        if optional and value is None:
            return
        _expect(value, str, field)
        assert isinstance(value, str)
        if resident_code.is_canonical(value):
            return
        # The slow path explains what is wrong (and raises InvalidChecksum etc.).
        if resident_code.validate(value) != value:
            raise InvalidFormat(
                f"{value!r} is not canonical", field=field, expected="11 digits, no separators"
            )

    return check


def _lg_code(_i: Any, _a: Any, value: Any) -> None:
    _expect(value, str, "municipality")
    assert isinstance(value, str)
    if lg_code.validate(value) != value:
        raise InvalidFormat(
            f"{value!r} is not canonical", field="municipality", expected="6 digits"
        )


def check_node_id(value: object, field: str = "node") -> str:
    """Validate a node identifier (destination or sender) and return it."""
    _str(field, max_length=64, pattern=_NODE)(None, None, value)
    assert isinstance(value, str)
    return value


def check_resident_code(value: object, field: str = "resident_code") -> str:
    """Validate a canonical resident code string and return it."""
    _resident_code(field)(None, None, value)
    assert isinstance(value, str)
    return value


def check_internal_id(value: object) -> str:
    """Validate an internal number (宛名番号) and return it."""
    _str("internal_id", pattern=_ID)(None, None, value)
    assert isinstance(value, str)
    return value


def check_household_id(value: object) -> str:
    """Validate a household number (世帯番号) argument and return it."""
    _str("household_id", max_length=32)(None, None, value)
    assert isinstance(value, str)
    return value


def check_status(value: object) -> str:
    """Validate a register status argument (``registered`` or ``removed``) and return it."""
    _one_of("status", _STATUSES)(None, None, value)
    assert isinstance(value, str)
    return value


def check_lg_code(value: object) -> str:
    """Validate a canonical 6-digit local government code string and return it."""
    _lg_code(None, None, value)
    assert isinstance(value, str)
    return value


def check_int(value: object, field: str, *, minimum: int = 0) -> int:
    """Validate a non-negative integer argument and return it."""
    _int(field, minimum=minimum)(None, None, value)
    assert isinstance(value, int)
    return value


def check_aware(value: object, field: str) -> datetime:
    """Validate an aware datetime argument and return it.

    >>> check_aware(datetime(2026, 4, 1), "before")
    Traceback (most recent call last):
        ...
    jukinet.errors.InvalidFormat: before: the time has no time zone (expected an aware datetime)
    """
    if not isinstance(value, datetime):
        raise InvalidFormat(
            f"got {type(value).__name__}", field=field, expected="an aware datetime"
        )
    if value.utcoffset() is None:
        raise InvalidFormat("the time has no time zone", field=field, expected="an aware datetime")
    return value


def check_field(cls: Any, name: str, value: object) -> None:
    """Check an argument as the record ``cls`` checks its field ``name`` (the same
    error a record holding that value would raise).

    >>> from jukinet.storage.records import ProvisionEntry
    >>> check_field(ProvisionEntry, "request_id", "req 1")
    Traceback (most recent call last):
        ...
    jukinet.errors.InvalidFormat: request_id: 'req 1' is malformed (expected ...)
    """
    field = attrs.fields_dict(cls)[name]
    validate = field.validator
    assert validate is not None
    validate(None, field, value)


def check_date(value: object, field: str) -> date:
    """Validate a date argument (a :class:`~datetime.date`, not a datetime) and return it.

    >>> check_date(date(2026, 4, 1), "received_before")
    datetime.date(2026, 4, 1)
    >>> check_date("2026-04-01", "received_before")
    Traceback (most recent call last):
        ...
    jukinet.errors.InvalidFormat: received_before: got str (expected a date)
    """
    _expect(value, date, field)
    assert isinstance(value, date)
    return value


_AGENCY_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,47}")


_USE_KEY = re.compile(r"[1-6]-[0-9]+(の[0-9]+)*")


def _str_tuple(field: str, *, pattern: re.Pattern[str] | None = None) -> Any:
    item = _str(field, pattern=pattern)

    def check(i: object, a: object, value: object) -> None:
        _expect(value, tuple, field)
        assert isinstance(value, tuple)
        if len(value) > 1000:
            raise InvalidLength(f"{len(value)} items", field=field, expected="at most 1000")
        for element in value:
            item(i, a, element)
        if len(set(value)) != len(value):
            raise InvalidComponent("an item is repeated", field=field, expected="distinct items")

    return check


def _public_key(_i: Any, _a: Any, value: Any) -> None:
    _expect(value, bytes, "public_key")
    if len(value) != 32:
        raise InvalidLength(
            f"{len(value)} bytes", field="public_key", expected="a raw 32-byte Ed25519 key"
        )


def _optional_lg_code(i: Any, a: Any, value: Any) -> None:
    if value is not None:
        _lg_code(i, a, value)


def _lg_code_field(field: str) -> Any:
    def check(_i: Any, _a: Any, value: Any) -> None:
        _expect(value, str, field)
        assert isinstance(value, str)
        if lg_code.validate(value) != value:
            raise InvalidFormat(f"{value!r} is not canonical", field=field, expected="6 digits")

    return check


def _flag(field: str) -> Any:
    return lambda _i, _a, v: _expect(v, bool, field)


def _optional_bytes(field: str) -> Any:
    inner = _bytes(field)

    def check(i: Any, a: Any, value: Any) -> None:
        if value is not None:
            inner(i, a, value)

    return check
