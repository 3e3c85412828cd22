"""Serialization of domain values: JSON-able data and canonical bytes.

One private :mod:`cattrs` converter turns every domain value into plain data
(dicts, lists, strings, integers, booleans, ``None``) and back. Codes become their
canonical digits, dates ISO ``YYYY-MM-DD`` strings, enums their values. Structuring
is strict: unknown keys, missing keys and wrong types are refused with an
:class:`~jukinet.errors.InvalidFormat` naming the path (``$.info.resident_code``)
— no silent coercion of ``"1"`` to ``1``.

Canonical bytes (for signatures) are UTF-8 JSON with sorted keys and no
insignificant white space. Floats never occur in domain data and are refused on
input, as are duplicate keys.

>>> from jukinet.domain.resident_code import ResidentCode
>>> to_data(ResidentCode("12345678903"))
'12345678903'
>>> from datetime import date
>>> to_bytes({"b": date(2002, 8, 5), "a": ResidentCode("12345678903")})
b'{"a":"12345678903","b":"2002-08-05"}'
>>> from_data(ResidentCode, "12345678904")
Traceback (most recent call last):
...
jukinet.errors.InvalidFormat: ResidentCode: resident code: the number's checksum or check digit is invalid (expected check digit 3) @ $
"""

from __future__ import annotations

import enum
import functools
import json
import re
import typing
from datetime import date, datetime
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.errors import BaseValidationError
from cattrs.v import format_exception as _cattrs_format_exception

from jukinet.domain.individual_number import IndividualNumber
from jukinet.domain.lg_code import LocalGovernmentCode
from jukinet.domain.resident_code import ResidentCode
from jukinet.errors import InvalidFormat, JukinetError

__all__ = ["from_bytes", "from_data", "from_stored", "to_bytes", "to_data"]

T = TypeVar("T")

JSONData = None | bool | int | str | list["JSONData"] | dict[str, "JSONData"]
"""What :func:`to_data` returns: JSON-able data without floats."""

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CODE_TYPES: tuple[type[Any], ...] = (ResidentCode, IndividualNumber, LocalGovernmentCode)


def _expect(value: object, cls: type[Any], what: str) -> None:
    if type(value) is not cls:
        raise TypeError(f"expected {what}, got {type(value).__name__}")


def _structure_str(value: object, _cls: object) -> str:
    _expect(value, str, "a string")
    return value  # type: ignore[return-value]


def _structure_int(value: object, _cls: object) -> int:
    _expect(value, int, "an integer")
    return value  # type: ignore[return-value]


def _structure_bool(value: object, _cls: object) -> bool:
    _expect(value, bool, "a boolean")
    return value  # type: ignore[return-value]


def _structure_date(value: object, _cls: object) -> date:
    _expect(value, str, "an ISO date string YYYY-MM-DD")
    assert isinstance(value, str)
    if not _ISO_DATE.fullmatch(value):
        raise InvalidFormat(f"{value!r} is not a date", expected="an ISO date YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidFormat(f"{value!r} is not a calendar date", expected="a real date") from None


def _structure_code(value: object, cls: Any) -> Any:
    _expect(value, str, "a string of digits")
    return cls(value)


def _refuse_float(text: str) -> object:
    raise InvalidFormat(f"the number {text} is not an integer", expected="integers only")


def _refuse_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise InvalidFormat(f"the key {key!r} appears twice", expected="unique keys")
        result[key] = value
    return result


def _format_error(exc: BaseException, type_: type[Any] | None) -> str:
    if isinstance(exc, JukinetError | TypeError):
        return str(exc)
    return _cattrs_format_exception(exc, type_)


@functools.cache
def _converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True)
    for code_type in _CODE_TYPES:
        converter.register_unstructure_hook(code_type, lambda code: code.value)
        converter.register_structure_hook(code_type, _structure_code)
    converter.register_unstructure_hook(date, date.isoformat)
    converter.register_structure_hook(date, _structure_date)
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(bool, _structure_bool)
    return converter


def _stored_date(value: object, _cls: object) -> date:
    return date.fromisoformat(value)  # type: ignore[arg-type]


def _as_is(value: object, _cls: object) -> object:
    return value


_MISSING = object()
_AS_IS = frozenset({str, int, bool})
"""JSON values :func:`from_stored` keeps as they are."""
_decode_json = json.JSONDecoder().decode  # plain JSON of str: the C scanner, no detection


@functools.cache
def _stored_converter() -> cattrs.Converter:
    """The converter of :func:`from_stored`: builds attrs classes without running
    their ``__init__`` (no converters, validators or post-init checks)."""
    converter = cattrs.Converter(forbid_extra_keys=True)
    for code_type in _CODE_TYPES:
        converter.register_structure_hook(code_type, _stored_code)
    converter.register_structure_hook(date, _stored_date)
    for plain in _AS_IS:
        converter.register_structure_hook(plain, _as_is)

    def factory(cls: type[Any]) -> Any:
        attrs.resolve_types(cls)
        fields = attrs.fields(cls)
        if any(not f.init for f in fields):  # pragma: no cover - no domain class has one
            return _converter().get_structure_hook(cls)
        spec = [
            (
                f.name,
                *_stored_hook(converter, f.type),
                f.default if f.default is not attrs.NOTHING else _MISSING,
            )
            for f in fields
        ]
        names = frozenset(f.name for f in fields)
        new = object.__new__
        put = object.__setattr__

        def structure(data: Any, _cls: object) -> Any:
            if len(data) != len(spec) and (extra := data.keys() - names):
                raise KeyError(f"unexpected keys {sorted(extra)}")
            value = new(cls)
            for name, hook, type_, default in spec:
                if name in data:
                    item = data[name]
                    put(value, name, item if hook is None or item is None else hook(item, type_))
                elif default is _MISSING or isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                    raise KeyError(f"the key {name!r} is missing")
                else:
                    put(value, name, default)
            return value

        return structure

    converter.register_structure_hook_factory(attrs.has, factory)
    converter.register_structure_hook_factory(_is_enum, _stored_enum)
    return converter


def _is_enum(type_: Any) -> bool:
    return isinstance(type_, type) and issubclass(type_, enum.Enum)


def _stored_enum(cls: type[enum.Enum]) -> Any:
    members = cls._value2member_map_  # the lookup Enum.__call__ makes, without its overhead
    return lambda value, _cls: members[value]


def _stored_hook(converter: cattrs.Converter, type_: Any) -> tuple[Any, Any]:
    """How :func:`from_stored` builds a field of ``type_``: ``(hook, type)``, where
    a ``None`` hook keeps the JSON value as it is; ``None`` values are always kept
    (the field is optional, or the bytes would not have been written)."""
    args = [a for a in typing.get_args(type_) if a is not type(None)]
    if type(None) in typing.get_args(type_) and len(args) == 1:
        type_ = args[0]
    if type_ in _AS_IS:
        return None, type_
    return converter.get_structure_hook(type_), type_


def _stored_code(value: object, cls: Any) -> Any:
    code = object.__new__(cls)
    object.__setattr__(code, "value", value)
    return code


def from_stored(cls: type[T], raw: bytes) -> T:
    """Rebuild a value from canonical bytes that this library made with
    :func:`to_bytes` and kept in its own storage, without validating it again.

    Every value was validated when it was made, and its canonical bytes hold the
    normalised fields, so reading them back needs no converters, validators or
    checks: this is several times faster than :func:`from_bytes` (the centre
    decodes a stored notice for every person it provides). Bytes from anywhere
    else — a message, a file, a caller — go through :func:`from_bytes`.
    Malformed bytes still raise :class:`~jukinet.errors.InvalidFormat`, but a
    well-formed value that breaks a domain rule is not detected.

    >>> from jukinet.domain.resident_code import ResidentCode
    >>> from_stored(ResidentCode, to_bytes(ResidentCode("12345678903")))
    ResidentCode('12345678903')
    """
    try:
        text = (raw if isinstance(raw, bytes) else bytes(raw)).decode("utf-8")
        return _stored_converter().structure(_decode_json(text), cls)
    except (BaseValidationError, TypeError, ValueError, KeyError, AttributeError) as exc:
        raise InvalidFormat(
            f"stored bytes do not hold a {getattr(cls, '__name__', cls)}: {exc}",
            field="bytes",
            expected="canonical bytes written by to_bytes",
        ) from None


def _refuse_datetime(value: object) -> None:
    if isinstance(value, datetime):
        raise TypeError("a datetime is not domain data; use a date")


def to_data(value: object) -> Any:
    """Turn a domain value (or containers of them) into JSON-able data.

    >>> from jukinet.domain.changes import ChangeReason
    >>> to_data([ChangeReason.BIRTH])
    ['birth']
    """
    _refuse_datetime(value)
    return _converter().unstructure(value)


def from_data(cls: type[T], data: object) -> T:
    """Build a ``cls`` from JSON-able data, strictly.

    Raises :class:`~jukinet.errors.InvalidFormat` naming every bad path.

    >>> from_data(ResidentCode, "12345678903")
    ResidentCode('12345678903')
    """
    try:
        return _converter().structure(data, cls)
    except BaseValidationError as exc:
        messages = cattrs.transform_error(exc, path="$", format_exception=_format_error)
        raise InvalidFormat("; ".join(messages), field=cls.__name__) from None
    except (JukinetError, TypeError, ValueError, KeyError, AttributeError) as exc:
        raise InvalidFormat(
            f"{_format_error(exc, cls)} @ $", field=getattr(cls, "__name__", str(cls))
        ) from None


def to_bytes(value: object) -> bytes:
    """Canonical bytes of a domain value: UTF-8 JSON, sorted keys, compact.

    The same value always gives the same bytes, so they can be signed.
    """
    return json.dumps(
        to_data(value),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    ).encode("utf-8")


def from_bytes(cls: type[T], raw: bytes) -> T:
    """Parse canonical bytes back into a ``cls``; malformed input is an InvalidFormat.

    >>> from_bytes(ResidentCode, b'"12345678903"')
    ResidentCode('12345678903')
    >>> from_bytes(ResidentCode, b'1.5')
    Traceback (most recent call last):
    ...
    jukinet.errors.InvalidFormat: bytes: the number 1.5 is not an integer (expected integers only)
    """
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise TypeError(f"expected bytes, got {type(raw).__name__}")
    try:
        text = bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidFormat(
            "the bytes are not UTF-8", field="bytes", expected="UTF-8 JSON"
        ) from None
    data = _loads(text)
    return from_data(cls, data)


def _loads(text: str) -> object:
    try:
        return json.loads(
            text,
            parse_float=_refuse_float,
            parse_constant=_refuse_float,
            object_pairs_hook=_refuse_duplicates,
        )
    except InvalidFormat as exc:
        raise InvalidFormat(exc.message, field="bytes", expected=exc.expected) from None
    except (ValueError, RecursionError) as exc:
        raise InvalidFormat(f"the bytes are not JSON ({exc})", field="bytes") from None
