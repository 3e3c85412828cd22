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

Every JSON jukinet reads from outside goes through :func:`load_json`, which
refuses input longer than a byte bound (:data:`MAX_JSON_BYTES` unless the
caller names a larger one) or nested deeper than :data:`MAX_JSON_DEPTH` before
it is parsed, so hostile input costs no more than reading it once.

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
import itertools
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
from jukinet.errors import InvalidFormat, InvalidLength, JukinetError

__all__ = [
    "MAX_JSON_BYTES",
    "MAX_JSON_DEPTH",
    "from_bytes",
    "from_canonical",
    "from_data",
    "from_stored",
    "load_json",
    "to_bytes",
    "to_data",
]

MAX_JSON_BYTES = 2 * 1024 * 1024
"""Longest JSON (in bytes) :func:`load_json` reads unless its caller allows more.

It bounds every domain value (:func:`from_bytes`, :func:`from_stored`) and every
framed message of :mod:`jukinet.tiers.wire`. The largest of them: a code
designation of 100,000 codes (住基法30条の2) takes 1.4 MB; a stored value is at most
64 KiB (:data:`jukinet.storage.records.MAX_PAYLOAD_BYTES`; a notice takes 1–2 KiB).
Envelopes and provision requests carry more and name their own bound
(:data:`jukinet.tiers.messages.MAX_ENVELOPE_BYTES`,
:data:`jukinet.tiers.provision.MAX_REQUEST_BYTES`).
"""

MAX_JSON_DEPTH = 32
"""Deepest nesting of arrays and objects :func:`load_json` reads.

The deepest JSON jukinet writes nests 5 levels (a provision request: request,
queries, query, items, name); Python's parser recurses once a level and fails
with a :class:`RecursionError` near 1,000, so deeper input is refused before
parsing.
"""

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
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:  # pragma: no branch - a key repeats
            if key in seen:
                raise InvalidFormat(f"the key {key!r} appears twice", expected="unique keys")
            seen.add(key)
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
    text = _bounded_text(raw, "bytes", MAX_JSON_BYTES)
    try:
        return _stored_converter().structure(_decode_json(text), cls)
    except (
        RecursionError,
        BaseValidationError,
        TypeError,
        ValueError,
        KeyError,
        AttributeError,
    ) as exc:
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


_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode


def canonical_json(data: object) -> bytes:
    """The canonical bytes of JSON data: the one encoding of every byte string
    jukinet signs or hashes (notices, envelope headers, wire messages, provision-log
    entries, reconciliation hashes).

    UTF-8, object keys sorted, no insignificant whitespace, strings escaped only
    where JSON requires it: for jukinet's data (integers of magnitude below 2**53, no other
    numbers, keys within the Basic Multilingual Plane, as field names are) this is
    the JSON Canonicalization Scheme of RFC 8785, which the test suite checks
    against an independent implementation. NaN and infinities are refused
    (``ValueError``).

    >>> canonical_json({"b": [1, "東京"], "a": None})
    b'{"a":null,"b":[1,"\xe6\x9d\xb1\xe4\xba\xac"]}'
    """
    return _CANONICAL(data).encode("utf-8")


def to_bytes(value: object) -> bytes:
    """Canonical bytes of a domain value (:func:`canonical_json` of :func:`to_data`).

    The same value always gives the same bytes, so they can be signed.
    """
    return canonical_json(to_data(value))


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
    return from_data(cls, load_json(raw, field="bytes"))


def from_canonical(cls: type[T], raw: bytes) -> T:
    """Like :func:`from_bytes`, and the bytes must be the value's canonical bytes.

    Bytes that are signed or stored must be exactly :func:`to_bytes` of what they
    decode to: otherwise two different byte strings would carry one value, and the
    bytes kept and passed on would not be the value that was checked (a resident
    code written in full-width digits decodes to the canonical code, but the bytes
    still say ``９６２…``). Non-canonical bytes are an
    :class:`~jukinet.errors.InvalidFormat`.

    >>> from_canonical(ResidentCode, b'"12345678903"')
    ResidentCode('12345678903')
    >>> from_canonical(ResidentCode, '"１２３４５６７８９０３"'.encode())
    Traceback (most recent call last):
    ...
    jukinet.errors.InvalidFormat: bytes: the bytes are not the canonical form of the ResidentCode they hold (expected "12345678903")
    """
    value = from_bytes(cls, raw)
    canonical = to_bytes(value)
    if canonical != raw:
        raise InvalidFormat(
            f"the bytes are not the canonical form of the {cls.__name__} they hold",
            field="bytes",
            expected=_excerpt(canonical),
        )
    return value


def _excerpt(raw: bytes, limit: int = 200) -> str:
    text = raw.decode("utf-8", "replace")
    return text if len(text) <= limit else text[:limit] + "…"


# --- the bounded JSON loader -----------------------------------------------------

_ESCAPES = ((b"\\\\", b""), (b'\\"', b""))
"""Escaped backslashes, then escaped quotes: removed, the quotes left delimit strings."""
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def _json_depth(raw: bytes) -> int:
    """How deep arrays and objects nest in ``raw``, counted outside strings.

    A scan in C-backed steps, no parsing: escapes are dropped and only quotes
    and brackets kept; two quotes in a row go (an empty string, or the end of
    one string and the start of the next: either way the quotes left still
    pair up), then what is left between quotes; the brackets left are summed.
    Exact for JSON; on malformed input it may be off, which the parser then
    refuses anyway.

    >>> _json_depth(b'{"a":[1,{"b":"]]["}],"c":"{"}')
    3
    """
    for escape, gone in _ESCAPES:
        raw = raw.replace(escape, gone)
    structure = raw.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in structure:  # some string holds a bracket: cut the strings out
        structure = b"".join(structure.split(b'"')[::2])
    return max(itertools.accumulate(map(_DEPTH_STEP.__getitem__, structure)), default=0)


def _bounded_text(raw: object, field: str, max_bytes: int) -> str:
    """``raw`` as text after the byte and depth bounds; raises before any parsing."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise TypeError(f"{field}: expected bytes, got {type(raw).__name__}")
    data = bytes(raw)
    if len(data) > max_bytes:
        raise InvalidLength(
            f"{len(data):,} bytes of JSON", field=field, expected=f"at most {max_bytes:,} bytes"
        )
    # cheap first: fewer openers than the bound cannot nest deeper than it
    if data.count(b"[") + data.count(b"{") > MAX_JSON_DEPTH:
        depth = _json_depth(data)
        if depth > MAX_JSON_DEPTH:
            raise InvalidFormat(
                f"the JSON nests {depth} levels deep",
                field=field,
                expected=f"at most {MAX_JSON_DEPTH} levels of arrays and objects",
            )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidFormat("the bytes are not UTF-8", field=field, expected="UTF-8 JSON") from None


def load_json(raw: bytes, *, field: str, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """Parse JSON from outside, strictly and within bounds.

    Refused with an :class:`~jukinet.errors.InvalidFormat` naming ``field``
    (:class:`~jukinet.errors.InvalidLength` for the size), before any parsing
    where it can be: more than ``max_bytes`` bytes, nesting deeper than
    :data:`MAX_JSON_DEPTH`, bytes that are not UTF-8; then anything that is not
    JSON, floats (and ``NaN``, ``Infinity``), integers beyond Python's
    conversion limit, and duplicate keys. A non-bytes ``raw`` is a
    :class:`TypeError`.

    >>> load_json(b'{"a":[1,2]}', field="message")
    {'a': [1, 2]}
    >>> load_json(b"[" * 100 + b"]" * 100, field="message")
    Traceback (most recent call last):
    ...
    jukinet.errors.InvalidFormat: message: the JSON nests 100 levels deep (expected at most 32 levels of arrays and objects)
    >>> load_json(b'{"a":1,"a":2}', field="message")
    Traceback (most recent call last):
    ...
    jukinet.errors.InvalidFormat: message: the key 'a' appears twice (expected unique keys)
    """
    text = _bounded_text(raw, field, max_bytes)
    try:
        return json.loads(
            text,
            parse_float=_refuse_float,
            parse_constant=_refuse_float,
            object_pairs_hook=_refuse_duplicates,
        )
    except InvalidFormat as exc:
        raise InvalidFormat(exc.message, field=field, expected=exc.expected) from None
    except (ValueError, RecursionError) as exc:
        raise InvalidFormat(f"the bytes are not JSON ({exc})", field=field) from None
