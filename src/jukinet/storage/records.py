"""The plain records that cross the storage ports.

Only these frozen records (and opaque ``bytes`` payloads) go in and out of an
adapter. They hold strings, integers, dates and bytes, validated on
construction, so an adapter never sees a malformed value: a wrong type or an
oversize field is a :class:`~jukinet.errors.ValidationError`, and a resident
code with a bad check digit an :class:`~jukinet.errors.InvalidChecksum`.
Mapping from the domain types (:class:`~jukinet.domain.resident.ResidentRecord`,
:class:`~jukinet.domain.identity.IdentityNotice`) happens in
:mod:`jukinet.storage.mapping`, outside the adapters.

Validation happens once, on the way in. The SQL adapters rebuild the register,
identity and agency rows they read back with :func:`unchecked` (the values were
validated when written, and the tables' types and constraints hold them), and
the provision log's records are chained by :func:`chain`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from typing import Any, TypeVar, cast

import attrs

from jukinet.domain import codec, lg_code, resident_code
from jukinet.errors import CorruptRecord, InvalidComponent, InvalidFormat, InvalidLength

__all__ = [
    "CARD_EVENTS",
    "CARD_KINDS",
    "CARD_REASONS",
    "CARD_STATES",
    "COUNTER_REQUEST_KINDS",
    "GENESIS",
    "LIVE_CARD_STATES",
    "MAX_KEY_LENGTH",
    "MAX_PAYLOAD_BYTES",
    "MOVE_OUT_INFO_DAYS",
    "PROVISION_KINDS",
    "AgencyRow",
    "AuditEntry",
    "AuditRecord",
    "CardEventRow",
    "CardRow",
    "ChainFault",
    "CounterRequestRow",
    "IdentityQuery",
    "IdentityRow",
    "MoveOutInfoRow",
    "OutboxEntry",
    "PendingNotice",
    "PendingRecord",
    "ProvisionEntry",
    "ProvisionRecord",
    "RegisterRow",
    "ScheduledItem",
    "chain",
    "chain_hash",
    "check_aware",
    "check_field",
    "check_request",
    "corrupt_record",
    "decode_rows",
    "unchecked",
    "unchecked_replace",
    "verify_chain",
]

MAX_PAYLOAD_BYTES = 64 * 1024
"""Largest serialized payload a row may carry (a resident record is about 1–2 KiB)."""

MAX_KEY_LENGTH = 200
"""Longest search key or identifier string stored in an indexed column."""

_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,31}")
_NODE = re.compile(r"[0-9A-Za-z][0-9A-Za-z_.:-]{0,63}")
_STATUSES = frozenset({"registered", "removed"})
_SEXES = frozenset({"male", "female"})


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


@attrs.frozen(kw_only=True)
class OutboxEntry:
    """A message a node has to send: destination, gap-free sequence number, payload."""

    destination: str = attrs.field(validator=_str("destination", max_length=64, pattern=_NODE))
    seq: int = attrs.field(validator=_int("seq", minimum=1))
    payload: bytes = attrs.field(validator=_payload, repr=False)


@attrs.frozen(kw_only=True)
class AuditEntry:
    """One entry of a node's audit log: what was done, to whom, when.

    ``at`` is an aware datetime from the node's clock; ``action`` names the
    operation (``register.birth``, ``receive.refused`` …); ``subject`` the person
    or peer concerned (an internal number, a resident code, a node); ``detail``
    canonical JSON bytes with the particulars. Entries never hold secrets.
    """

    at: datetime = attrs.field(validator=_aware)
    action: str = attrs.field(validator=_str("action", max_length=64))
    subject: str | None = attrs.field(
        default=None, validator=_optional_str("subject", max_length=64)
    )
    detail: bytes = attrs.field(default=b"{}", validator=_bytes("detail"), repr=False)


@attrs.frozen(kw_only=True)
class AuditRecord:
    """An audit entry as stored, with its gap-free sequence number."""

    seq: int = attrs.field(validator=_int("seq", minimum=1))
    entry: AuditEntry = attrs.field(validator=lambda _i, _a, v: _expect(v, AuditEntry, "entry"))


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

    >>> check_field(ProvisionEntry, "request_id", "req 1")
    Traceback (most recent call last):
        ...
    jukinet.errors.InvalidFormat: request_id: 'req 1' is malformed (expected ...)
    """
    field = attrs.fields_dict(cls)[name]
    validate = field.validator
    assert validate is not None
    validate(None, field, value)


def check_request(request_id: object, agency: object | None = None) -> None:
    """Check a provision-log look-up's request id (and agency, when given) as a
    :class:`ProvisionEntry` checks them."""
    check_field(ProvisionEntry, "request_id", request_id)
    if agency is not None:
        check_field(ProvisionEntry, "agency", agency)


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


# --- provision (住基法30条の9〜30条の16, 30条の32〜30条の35) ---------------------

_AGENCY_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,47}")
_REQUEST_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z_.:-]{0,63}")
_USE_KEY = re.compile(r"[1-6]-[0-9]+(の[0-9]+)*")
_HASH = re.compile(r"[0-9a-f]{64}")

PROVISION_KINDS = frozenset(
    {
        "provided",
        "refused",
        "disclosed",
        "correction.filed",
        "correction.outcome",
        "purged",
    }
)
"""What a provision-log entry records: a provision, a refusal, a disclosure to the
person (30条の32), a correction request and its outcome (30条の35), a purge."""

GENESIS = "0" * 64
"""The hash before the first entry of a provision log."""


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


@attrs.frozen(kw_only=True)
class AgencyRow:
    """An agency registered with a provider (the centre or a prefecture).

    ``agency`` is its name (the node ``a:<name>``); ``public_key`` the raw Ed25519
    key its requests are signed with; ``recipients`` the left-column names of the
    appended tables (別表) it may act as (e.g. ``厚生労働省及び日本年金機構``);
    ``number_uses`` the permitted-use keys (``"1-57の3"``) for which it may also
    receive the individual number (番号法9条1項); ``locality`` the 6-digit code of
    the local body it is (tables 2–6), ``None`` for a national one.
    """

    agency: str = attrs.field(validator=_str("agency", max_length=48, pattern=_AGENCY_NAME))
    public_key: bytes = attrs.field(validator=_public_key, repr=False)
    registered_at: datetime = attrs.field(validator=_aware)
    recipients: tuple[str, ...] = attrs.field(validator=_str_tuple("recipients"))
    number_uses: tuple[str, ...] = attrs.field(
        default=(), validator=_str_tuple("number_uses", pattern=_USE_KEY)
    )
    locality: str | None = attrs.field(default=None, validator=_optional_lg_code)

    def __attrs_post_init__(self) -> None:
        if not self.recipients:
            raise InvalidLength(
                "no recipient", field="recipients", expected="at least one 別表 recipient"
            )


@attrs.frozen(kw_only=True)
class ProvisionEntry:
    """One entry of a provision log (提供記録): what left, to whom, about whom, why.

    ``kind`` is one of :data:`PROVISION_KINDS`; ``request_id`` names the request
    (or the resident's disclosure or correction request); ``agency`` the
    requester, ``use`` the permitted-use key it relied on, ``subject`` the
    resident code of the person, ``items`` the identity items provided (empty for
    a refusal); ``detail`` canonical JSON with the particulars (a refusal's
    reason …).
    """

    at: datetime = attrs.field(validator=_aware)
    kind: str = attrs.field(validator=_one_of("kind", PROVISION_KINDS))
    request_id: str = attrs.field(validator=_str("request_id", max_length=64, pattern=_REQUEST_ID))
    agency: str | None = attrs.field(
        default=None, validator=_optional_str("agency", max_length=48, pattern=_AGENCY_NAME)
    )
    use: str | None = attrs.field(
        default=None, validator=_optional_str("use", max_length=32, pattern=_USE_KEY)
    )
    subject: str | None = attrs.field(
        default=None, validator=_resident_code("subject", optional=True)
    )
    items: tuple[str, ...] = attrs.field(default=(), validator=_str_tuple("items"))
    detail: bytes = attrs.field(default=b"{}", validator=_bytes("detail"), repr=False)


def chain_hash(prev_hash: str, seq: int, entry: ProvisionEntry) -> str:
    """The hash of a provision-log entry: SHA-256 over the previous entry's hash,
    the sequence number and every field, in a canonical form. Changing, removing
    or reordering any entry breaks the chain from there on.

    >>> from datetime import UTC, datetime
    >>> e = ProvisionEntry(at=datetime(2026, 1, 1, tzinfo=UTC), kind="refused", request_id="r1")
    >>> len(chain_hash(GENESIS, 1, e))
    64
    >>> chain_hash(GENESIS, 1, e) == chain_hash(GENESIS, 2, e)
    False
    """
    _check_hash(prev_hash, "prev_hash")
    return _digest(prev_hash, seq, entry)


def _check_hash(value: str, field: str) -> None:
    if not isinstance(value, str) or not _HASH.fullmatch(value):
        raise InvalidFormat("not a SHA-256 hex digest", field=field, expected="64 hex digits")


def _digest(prev_hash: str, seq: int, entry: ProvisionEntry) -> str:
    body = {
        "agency": entry.agency,
        "at": entry.at.isoformat(),
        "detail": base64.b64encode(entry.detail).decode(),
        "items": list(entry.items),
        "kind": entry.kind,
        "prev": prev_hash,
        "request_id": entry.request_id,
        "seq": seq,
        "subject": entry.subject,
        "use": entry.use,
    }
    return hashlib.sha256(codec.canonical_json(body)).hexdigest()


def chain(head: tuple[int, str], entries: Iterable[ProvisionEntry]) -> list[ProvisionRecord]:
    """The records of ``entries`` appended after ``head`` (the last sequence number
    and its hash): numbered on from it, each chained to the one before by
    :func:`chain_hash`. What every adapter's ``ProvisionLog.append`` stores.

    >>> from datetime import UTC, datetime
    >>> e = ProvisionEntry(at=datetime(2026, 1, 1, tzinfo=UTC), kind="refused", request_id="r1")
    >>> first, second = chain((0, GENESIS), [e, e])
    >>> (second.seq, second.prev_hash == first.hash == chain_hash(GENESIS, 1, e))
    (2, True)
    """
    seq, previous = head
    _check_hash(previous, "head")
    records: list[ProvisionRecord] = []
    for entry in entries:
        seq += 1
        digest = _digest(previous, seq, entry)
        records.append(
            unchecked(ProvisionRecord, seq=seq, entry=entry, prev_hash=previous, hash=digest)
        )
        previous = digest
    return records


@attrs.frozen(kw_only=True)
class ProvisionRecord:
    """A provision-log entry as stored: its gap-free sequence number and its chain."""

    seq: int = attrs.field(validator=_int("seq", minimum=1))
    entry: ProvisionEntry = attrs.field(
        validator=lambda _i, _a, v: _expect(v, ProvisionEntry, "entry")
    )
    prev_hash: str = attrs.field(validator=_str("prev_hash", max_length=64, pattern=_HASH))
    hash: str = attrs.field(validator=_str("hash", max_length=64, pattern=_HASH))


@attrs.frozen
class ChainFault:
    """Where a provision log's chain is broken, and how."""

    seq: int
    problem: str
    """``altered`` (the record's content no longer gives its hash), ``relinked``
    (it does not follow the record before), ``missing`` (sequence numbers skip),
    ``out of order`` or ``truncated`` (the head names a record that is gone)."""


def verify_chain(
    anchor: tuple[int, str],
    records: Iterable[ProvisionRecord],
    head: tuple[int, str],
    *,
    unreadable: Iterable[int] = (),
) -> list[ChainFault]:
    """Recompute a provision log's chain from its ``anchor`` to its ``head``.

    Returns every fault found, in order (an empty list: the log is intact).
    Records must come as stored, in ``seq`` order.

    ``unreadable`` are the sequence numbers of records that are stored but could
    not be read back (:class:`~jukinet.errors.CorruptRecord`): each is named
    ``altered``, and the record after it is not checked for ``relinked`` (the
    unreadable record's hash is unknown). A record whose fields cannot even be
    hashed (values of the wrong type) is ``altered`` too.

    >>> from datetime import UTC, datetime
    >>> e = ProvisionEntry(at=datetime(2026, 1, 1, tzinfo=UTC), kind="refused", request_id="r1")
    >>> first, second, third = chain((0, GENESIS), [e, e, e])
    >>> verify_chain((0, GENESIS), [first, third], (3, third.hash), unreadable=[2])
    [ChainFault(seq=2, problem='altered')]
    """
    faults: list[ChainFault] = []
    skipped = sorted(set(unreadable))
    pending = 0  # the next of ``skipped`` to place
    expected = anchor[0] + 1
    previous: str | None = anchor[1]  # None: the record before could not be read

    def step(seq: int) -> None:
        if seq > expected:
            faults.append(ChainFault(expected, "missing"))
        elif seq < expected:
            faults.append(ChainFault(seq, "out of order"))

    for record in records:
        while pending < len(skipped) and skipped[pending] < record.seq:
            step(skipped[pending])
            faults.append(ChainFault(skipped[pending], "altered"))
            expected, previous = skipped[pending] + 1, None
            pending += 1
        step(record.seq)
        if previous is not None and record.prev_hash != previous:
            faults.append(ChainFault(record.seq, "relinked"))
        if not _hashes_to_itself(record):
            faults.append(ChainFault(record.seq, "altered"))
        expected, previous = record.seq + 1, record.hash
    for seq in skipped[pending:]:
        step(seq)
        faults.append(ChainFault(seq, "altered"))
        expected, previous = seq + 1, None
    if expected - 1 != head[0] or (previous is not None and previous != head[1]):
        faults.append(ChainFault(head[0], "truncated" if head[0] >= expected else "altered"))
    return faults


def _hashes_to_itself(record: ProvisionRecord) -> bool:
    """Whether the record's content gives its hash (False when it cannot be hashed)."""
    try:
        return chain_hash(record.prev_hash, record.seq, record.entry) == record.hash
    except (TypeError, ValueError, AttributeError):
        return False


@attrs.frozen(kw_only=True)
class ScheduledItem:
    """Work due on a date (e.g. 30 days after a planned move-out, JPKI法31条).

    ``key`` is unique in the schedule; ``payload`` canonical bytes the scheduler's
    owner reads back.
    """

    key: str = attrs.field(validator=_str("key", max_length=128))
    due: date = attrs.field(validator=_date("due"))
    payload: bytes = attrs.field(default=b"{}", validator=_bytes("payload"), repr=False)


ROW_KEY_COLUMNS = {
    "register_versions": 2,
    "identity_versions": 2,
    "outbox": 1,
    "audit_log": 1,
    "agencies": 1,
    "provision_log": 1,
    "schedule": 1,
    "pending_notices": 1,
    "cards": 1,
    "card_events": 2,
    "move_out_infos": 1,
    "counter_requests": 1,
}
"""How many leading columns of a table's rows, as the SQL adapters read them,
identify the row."""
_SEQUENCED = frozenset({"outbox", "audit_log", "provision_log", "pending_notices"})
"""The tables whose rows are log entries numbered by ``seq`` (the key's last part)."""


def decode_rows(
    rows: Sequence[Any], build: Callable[[Any], _R], table: str, within: tuple[Any, ...] = ()
) -> list[_R]:
    """Rows of ``table`` read back from a database, as records.

    The one place where a stored row that cannot be read back (a value changed
    behind the adapter's back) becomes a :class:`~jukinet.errors.CorruptRecord`
    naming it: ``within`` and the row's key columns (:data:`ROW_KEY_COLUMNS`). Both
    SQL adapters decode their rows through it.
    """
    decoded: list[_R] = []
    append = decoded.append
    for row in rows:
        try:
            append(build(row))
        except (ValueError, TypeError) as exc:
            raise corrupt_record(table, (*within, *row[: ROW_KEY_COLUMNS[table]]), exc) from exc
    return decoded


def corrupt_record(table: str, key: tuple[Any, ...], exc: BaseException) -> CorruptRecord:
    """The error for a stored row of ``table`` (identified by ``key``) that cannot be read."""
    seq = key[-1] if table in _SEQUENCED and key and type(key[-1]) is int else None
    return CorruptRecord(
        f"the stored row cannot be read back: {exc}",
        table=table,
        key=key,
        seq=seq,
        expected="the values the adapter wrote; the row was changed outside it",
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


# --- resident IC cards (旧住基法30条の44, 番号法17条) ------------------------------------------

_CARD_ID = re.compile(r"[0-9a-f]{32}")

CARD_KINDS = frozenset({"juki", "my_number"})
"""The kinds of card a :class:`CardRow` records: a resident basic register card
(住民基本台帳カード) or an individual number card (個人番号カード)."""

CARD_STATES = frozenset({"in_effect", "suspended", "returned", "lapsed"})
"""A card's states: ``in_effect`` and ``suspended`` are *live* (the holder has a card);
``returned`` and ``lapsed`` are final."""

LIVE_CARD_STATES = frozenset({"in_effect", "suspended"})
"""The states in which a card counts as the holder's one card (旧住基法30条の44, 番号法17条)."""

CARD_REASONS = frozenset(
    {
        "",
        "code_changed",
        "removed",
        "not_continued",
        "moved_again",
        "expired",
        "replaced",
        "late_move_in",
        "moved_out",
    }
)
"""Why a card lapsed (``""``: it has not, or no reason applies)."""

CARD_EVENTS = frozenset(
    {"issued", "suspended", "resumed", "returned", "moved_in", "continued", "pin_reset", "lapsed"}
)
"""What can happen to a card (:attr:`CardEventRow.event`)."""


def _card_id(_i: Any, _a: Any, value: Any) -> None:
    _str("card_id", max_length=32, pattern=_CARD_ID)(_i, _a, value)


def _lg_code_field(field: str) -> Any:
    def check(_i: Any, _a: Any, value: Any) -> None:
        _expect(value, str, field)
        assert isinstance(value, str)
        if lg_code.validate(value) != value:
            raise InvalidFormat(f"{value!r} is not canonical", field=field, expected="6 digits")

    return check


def _flag(field: str) -> Any:
    return lambda _i, _a, v: _expect(v, bool, field)


@attrs.frozen(kw_only=True)
class CardRow:
    """The state of one resident IC card as a municipality keeps it (旧住基法30条の44:
    住民基本台帳カード; 番号法17条: 個人番号カード).

    ``card_id`` is the card's 128-bit serial as 32 lowercase hex digits;
    ``holder`` the resident code of the person it was issued to; ``kind`` one of
    :data:`CARD_KINDS`; ``photo`` whether it is a photo card (type B);
    ``issuer`` the 6-digit code of the issuing municipality; ``expires_on`` the
    last day it is in effect (not before ``issued_on``); ``public_key`` the chip's
    raw 32-byte Ed25519 key; ``state`` one of :data:`CARD_STATES`; ``reason``
    why it lapsed, one of :data:`CARD_REASONS`; ``municipality`` the municipality
    whose register holds the holder now; ``moved_in_on`` the day of a move-in
    awaiting the continued use of the card (None when none); ``version`` the
    number of events in the card's life so far (1 at issue, one more with each
    event, as :class:`CardEventRow`).

    >>> from datetime import date
    >>> row = CardRow(card_id="0" * 32, holder="00000000019", kind="my_number", photo=True,
    ...     issuer="131016", issued_on=date(2026, 4, 1), expires_on=date(2036, 4, 1),
    ...     public_key=bytes(32), state="in_effect", reason="", municipality="131016",
    ...     moved_in_on=None, version=1)
    >>> row.state, row.version
    ('in_effect', 1)
    >>> attrs.evolve(row, state="lost")
    Traceback (most recent call last):
        ...
    jukinet.errors.InvalidComponent: state: 'lost' is not allowed (expected ...)
    """

    card_id: str = attrs.field(validator=_card_id)
    holder: str = attrs.field(validator=_resident_code("holder"))
    kind: str = attrs.field(validator=_one_of("kind", CARD_KINDS))
    photo: bool = attrs.field(validator=_flag("photo"))
    issuer: str = attrs.field(validator=_lg_code_field("issuer"))
    issued_on: date = attrs.field(validator=_date("issued_on"))
    expires_on: date = attrs.field(validator=_date("expires_on"))
    public_key: bytes = attrs.field(validator=_public_key, repr=False)
    state: str = attrs.field(validator=_one_of("state", CARD_STATES))
    reason: str = attrs.field(validator=_one_of("reason", CARD_REASONS))
    municipality: str = attrs.field(validator=_lg_code_field("municipality"))
    moved_in_on: date | None = attrs.field(validator=_date("moved_in_on", optional=True))
    version: int = attrs.field(validator=_int("version", minimum=1))

    def __attrs_post_init__(self) -> None:
        if self.expires_on < self.issued_on:
            raise InvalidComponent(
                f"the card expires on {self.expires_on}, before it was issued ({self.issued_on})",
                field="expires_on",
                expected="a day on or after issued_on",
            )

    @property
    def live(self) -> bool:
        """Whether the card is in effect or suspended (the holder's one card)."""
        return self.state in LIVE_CARD_STATES


@attrs.frozen(kw_only=True)
class CardEventRow:
    """One event in a card's history: version ``version`` (1, 2, … per card) of
    ``card_id``, what happened (one of :data:`CARD_EVENTS`), on which day, in which
    municipality (6-digit code), and the lapse reason (one of :data:`CARD_REASONS`).
    The history is appended, never rewritten; a registry that adopted the card
    (:meth:`~jukinet.storage.base.CardRegistry.adopt`) holds only the events it saw."""

    card_id: str = attrs.field(validator=_card_id)
    version: int = attrs.field(validator=_int("version", minimum=1))
    event: str = attrs.field(validator=_one_of("event", CARD_EVENTS))
    on: date = attrs.field(validator=_date("on"))
    municipality: str = attrs.field(validator=_lg_code_field("municipality"))
    reason: str = attrs.field(validator=_one_of("reason", CARD_REASONS))


# --- counter services across municipalities (住基法24条の2, 令24条の2〜24条の4; 12条の4) ----

_HEX32 = re.compile(r"[0-9a-f]{32}")

MOVE_OUT_INFO_DAYS = 30
"""How many days after the planned move-out a destination keeps the 転出証明書情報 it
was sent (住基法24条の2第4項; 令24条の4): kept through ``planned_date + 29`` days,
erased from ``planned_date + 30`` days (:attr:`MoveOutInfoRow.erase_on`)."""

COUNTER_REQUEST_KINDS = frozenset({"copy", "resend"})
"""What a :class:`CounterRequestRow` asks another municipality for: the items of a
wide-area copy of 住民票 (``copy``, 12条の4第2項・第3項) or the 転出証明書情報 sent
again (``resend``, 24条の2第5項・第6項)."""


def _hex32(field: str) -> Any:
    return _str(field, max_length=32, pattern=_HEX32)


def _optional_bytes(field: str) -> Any:
    inner = _bytes(field)

    def check(i: Any, a: Any, value: Any) -> None:
        if value is not None:
            inner(i, a, value)

    return check


@attrs.frozen(kw_only=True)
class MoveOutInfoRow:
    """転出証明書情報 as the planned destination keeps it (住基法24条の2第3項; 令24条の3):
    the move-out municipality sent it so that a card holder can move in without a
    paper certificate.

    ``certificate`` is the move-out certificate number, 32 lowercase hex digits;
    ``resident_code`` the person's code; ``moved_from`` the 6-digit code of the
    municipality they are leaving; ``planned_date`` the planned move-out day;
    ``erase_on`` the first day the info is gone (normally ``planned_date`` +
    :data:`MOVE_OUT_INFO_DAYS`, 24条の2第4項, 令24条の4; later than
    ``planned_date``): it is kept through ``erase_on`` − 1 day; ``received_on``
    the day it arrived; ``payload`` the encoded info, opaque to storage (at most
    :data:`MAX_PAYLOAD_BYTES`); ``used`` whether a move-in was registered from it
    (once only, :meth:`~jukinet.storage.base.CounterStore.use_info`).

    >>> from datetime import date, timedelta
    >>> planned = date(2026, 4, 1)
    >>> row = MoveOutInfoRow(certificate="0" * 32, resident_code="00000000019",
    ...     moved_from="131016", planned_date=planned,
    ...     erase_on=planned + timedelta(days=MOVE_OUT_INFO_DAYS),
    ...     received_on=planned, payload=b"info", used=False)
    >>> row.erase_on
    datetime.date(2026, 5, 1)
    >>> attrs.evolve(row, erase_on=planned)
    Traceback (most recent call last):
        ...
    jukinet.errors.InvalidComponent: erase_on: the info would be erased on 2026-04-01, ...
    """

    certificate: str = attrs.field(validator=_hex32("certificate"))
    resident_code: str = attrs.field(validator=_resident_code("resident_code"))
    moved_from: str = attrs.field(validator=_lg_code_field("moved_from"))
    planned_date: date = attrs.field(validator=_date("planned_date"))
    erase_on: date = attrs.field(validator=_date("erase_on"))
    received_on: date = attrs.field(validator=_date("received_on"))
    payload: bytes = attrs.field(validator=_bytes("payload"), repr=False)
    used: bool = attrs.field(validator=_flag("used"))

    def __attrs_post_init__(self) -> None:
        if self.erase_on <= self.planned_date:
            raise InvalidComponent(
                f"the info would be erased on {self.erase_on}, not after the planned"
                f" move-out ({self.planned_date})",
                field="erase_on",
                expected="a day after planned_date (normally planned_date + 30 days,"
                " 住基法24条の2第4項, 令24条の4)",
            )


@attrs.frozen(kw_only=True)
class CounterRequestRow:
    """A request this municipality sent to another one, and its answer once received.

    ``request_id`` is 32 lowercase hex digits; ``kind`` one of
    :data:`COUNTER_REQUEST_KINDS`; ``peer`` the 6-digit code of the municipality
    asked; ``subject`` the resident code the request is about; ``asked_on`` the day
    it was sent; ``request`` the request as sent and ``answer`` the answer as
    received, both opaque to storage (at most :data:`MAX_PAYLOAD_BYTES`);
    ``answer`` and ``answered_on`` are None until the answer arrives, and are set
    together (``answered_on`` not before ``asked_on``).

    >>> from datetime import date
    >>> row = CounterRequestRow(request_id="0" * 32, kind="copy", peer="271276",
    ...     subject="00000000019", asked_on=date(2026, 4, 1), request=b"ask",
    ...     answer=None, answered_on=None)
    >>> row.kind, row.answer
    ('copy', None)
    >>> attrs.evolve(row, answer=b"items")
    Traceback (most recent call last):
        ...
    jukinet.errors.InvalidComponent: answered_on: an answer without its day ...
    """

    request_id: str = attrs.field(validator=_hex32("request_id"))
    kind: str = attrs.field(validator=_one_of("kind", COUNTER_REQUEST_KINDS))
    peer: str = attrs.field(validator=_lg_code_field("peer"))
    subject: str = attrs.field(validator=_resident_code("subject"))
    asked_on: date = attrs.field(validator=_date("asked_on"))
    request: bytes = attrs.field(validator=_bytes("request"), repr=False)
    answer: bytes | None = attrs.field(validator=_optional_bytes("answer"), repr=False)
    answered_on: date | None = attrs.field(validator=_date("answered_on", optional=True))

    def __attrs_post_init__(self) -> None:
        if (self.answer is None) != (self.answered_on is None):
            problem = (
                "a day without an answer" if self.answer is None else "an answer without its day"
            )
            raise InvalidComponent(
                problem,
                field="answered_on",
                expected="answer and answered_on both None (not answered) or both set",
            )
        if self.answered_on is not None and self.answered_on < self.asked_on:
            raise InvalidComponent(
                f"answered on {self.answered_on}, before it was asked ({self.asked_on})",
                field="answered_on",
                expected="a day on or after asked_on",
            )

    @property
    def answered(self) -> bool:
        """Whether the answer has arrived."""
        return self.answer is not None
