"""The messages of the counter services between municipalities, carried inside
relayed envelopes (:mod:`jukinet.tiers.relay`).

Each is one framed JSON object (a type line, then canonical JSON) with one
canonical form; a parser refuses anything else with an
:class:`~jukinet.errors.InvalidFormat`:

* ``copy_request`` / ``copy_answer``: a wide-area copy of a resident record
  (住民票の写しの広域交付, 住基法12条の4第2項〜第5項). The answer names the request's
  envelope digest and its requester, so a copy is never printed for the wrong
  request or person; it carries only the items the copy shows
  (:func:`jukinet.domain.copies.copy_items`), never the whole record.
* ``move_out_info``: the move-out certificate's data sent to the destination
  (転出証明書情報, 24条の2第3項; 令24条の3), and ``info_request`` asking for it again
  (24条の2第5項・第6項).
* ``move_in_notification``: the destination tells the old municipality the person
  moved in (転入通知, 9条1項).

>>> request = CopyRequest(request_id="ab" * 16, requester="12345678903", subjects=(),
...     household=False,
...     relationship=False, individual_number=False, resident_code=True,
...     shown="card", card_id="cd" * 16, name_key=None, birth_date=None)
>>> parse(encode(request)) == request
True
"""

from __future__ import annotations

import re
from typing import Any, TypeAlias

import attrs

from jukinet.domain import codec
from jukinet.errors import InvalidFormat, ValidationError

__all__ = [
    "COPY_ANSWER",
    "COPY_REQUEST",
    "INFO_REQUEST",
    "MOVE_IN_NOTIFICATION",
    "MOVE_OUT_INFO",
    "CopyAnswer",
    "CopyRequest",
    "CounterMessage",
    "InfoRequest",
    "MoveInNotification",
    "MoveOutInfo",
    "encode",
    "parse",
]

COPY_REQUEST = "copy_request"
COPY_ANSWER = "copy_answer"
MOVE_OUT_INFO = "move_out_info"
INFO_REQUEST = "info_request"
MOVE_IN_NOTIFICATION = "move_in_notification"

_HEX32 = re.compile(r"[0-9a-f]{32}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_CODE = re.compile(r"[0-9]{11}")
_LG = re.compile(r"[0-9]{6}")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _match(pattern: re.Pattern[str], what: str, optional: bool = False) -> Any:
    def check(_i: Any, attribute: Any, value: Any) -> None:
        if value is None and optional:
            return
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise InvalidFormat(
                f"{attribute.name} is malformed", field=attribute.name, expected=what
            )

    return check


def _flag(_i: Any, attribute: Any, value: Any) -> None:
    if type(value) is not bool:
        raise InvalidFormat(f"{attribute.name} is not true or false", field=attribute.name)


def _text(limit: int, optional: bool = False) -> Any:
    def check(_i: Any, attribute: Any, value: Any) -> None:
        if value is None and optional:
            return
        if not isinstance(value, str) or len(value) > limit:
            raise InvalidFormat(
                f"{attribute.name} is not text", field=attribute.name, expected=f"≤ {limit} chars"
            )

    return check


@attrs.frozen(kw_only=True)
class CopyRequest:
    """A wide-area copy asked at another municipality (12条の4第2項): the requester's
    resident code, the records asked for (``subjects``: members of the requester's
    household; none: the requester's own; ``household``: all), the items asked for
    specially (12条の4第4項), and how the requester showed who they are: ``"card"``
    (the card's id, checked in effect with its PIN through the network) or
    ``"document"`` (an identity document whose name key and birth date the home
    municipality compares with its record)."""

    request_id: str = attrs.field(validator=_match(_HEX32, "32 hex digits"))
    requester: str = attrs.field(validator=_match(_CODE, "an 11-digit resident code"))
    subjects: tuple[str, ...] = attrs.field()
    household: bool = attrs.field(validator=_flag)
    relationship: bool = attrs.field(validator=_flag)
    individual_number: bool = attrs.field(validator=_flag)
    resident_code: bool = attrs.field(validator=_flag)
    shown: str = attrs.field()
    card_id: str | None = attrs.field(validator=_match(_HEX32, "32 hex digits", optional=True))
    name_key: str | None = attrs.field(validator=_text(400, optional=True))
    birth_date: str | None = attrs.field(validator=_match(_DAY, "YYYY-MM-DD", optional=True))

    def __attrs_post_init__(self) -> None:
        if (
            not isinstance(self.subjects, tuple)
            or len(self.subjects) > 50
            or not all(isinstance(c, str) and _CODE.fullmatch(c) for c in self.subjects)
        ):
            raise InvalidFormat(
                "the subjects are malformed", field="subjects", expected="≤ 50 resident codes"
            )
        if self.household and self.subjects:
            raise InvalidFormat(
                "a household copy names no subjects",
                field="subjects",
                expected="subjects or household, not both",
            )
        if self.shown == "card":
            ok = self.card_id is not None and self.name_key is None and self.birth_date is None
        elif self.shown == "document":
            ok = self.card_id is None and self.name_key is not None and self.birth_date is not None
        else:
            ok = False
        if not ok:
            raise InvalidFormat(
                "the identity shown is incomplete",
                field="shown",
                expected="'card' with card_id, or 'document' with name_key and birth_date",
            )


@attrs.frozen(kw_only=True)
class CopyAnswer:
    """The home municipality's answer (12条の4第3項): the request's id and envelope
    digest and its requester; ``outcome`` ``"issued"`` with the copy's ``persons``
    (each a list of ``[article, label, value]`` items, register order) or
    ``"refused"`` with ``why`` (``not_registered``, ``identity_mismatch``,
    ``not_of_household``)."""

    request_id: str = attrs.field(validator=_match(_HEX32, "32 hex digits"))
    request_digest: str = attrs.field(validator=_match(_HEX64, "64 hex digits"))
    requester: str = attrs.field(validator=_match(_CODE, "an 11-digit resident code"))
    outcome: str = attrs.field()
    why: str = attrs.field(validator=_text(64))
    persons: tuple[tuple[tuple[str, str, str], ...], ...] = attrs.field()

    def __attrs_post_init__(self) -> None:
        if self.outcome not in ("issued", "refused"):
            raise InvalidFormat("unknown outcome", field="outcome", expected="issued or refused")
        if (self.outcome == "issued") != bool(self.persons) or (self.outcome == "issued") == bool(
            self.why
        ):
            raise InvalidFormat(
                "an answer is either a copy or a refusal",
                field="outcome",
                expected="issued with persons and no why, or refused with why and no persons",
            )
        for person in self.persons:
            for item in person:
                if len(item) != 3 or not all(isinstance(v, str) for v in item):
                    raise InvalidFormat("a copy item is malformed", field="persons")


@attrs.frozen(kw_only=True)
class MoveOutInfo:
    """The move-out certificate's data for the destination (転出証明書情報, 令24条の3):
    the certificate number, the removed record (``record``: the canonical bytes of
    the :class:`~jukinet.domain.resident.ResidentRecord`, base64-free: its JSON as
    text), the planned date, the destination, and the card's id, issue and expiry
    days (``None`` without a card)."""

    certificate: str = attrs.field(validator=_match(_HEX32, "32 hex digits"))
    resident_code: str = attrs.field(validator=_match(_CODE, "an 11-digit resident code"))
    moved_from: str = attrs.field(validator=_match(_LG, "a 6-digit code"))
    planned_date: str = attrs.field(validator=_match(_DAY, "YYYY-MM-DD"))
    destination: str = attrs.field(validator=_text(200))
    record: str = attrs.field(validator=_text(60_000))
    card_id: str | None = attrs.field(validator=_match(_HEX32, "32 hex digits", optional=True))
    card_issued_on: str | None = attrs.field(validator=_match(_DAY, "YYYY-MM-DD", optional=True))
    card_expires_on: str | None = attrs.field(validator=_match(_DAY, "YYYY-MM-DD", optional=True))


@attrs.frozen(kw_only=True)
class InfoRequest:
    """A destination asks the old municipality to send the move-out data again
    (24条の2第5項・第6項), for the person with ``resident_code``."""

    request_id: str = attrs.field(validator=_match(_HEX32, "32 hex digits"))
    resident_code: str = attrs.field(validator=_match(_CODE, "an 11-digit resident code"))


@attrs.frozen(kw_only=True)
class MoveInNotification:
    """転入通知 (9条1項): the person of ``certificate`` moved in at the sender on
    ``moved_in_on``, now living at ``address``."""

    certificate: str = attrs.field(validator=_match(_HEX32, "32 hex digits"))
    resident_code: str = attrs.field(validator=_match(_CODE, "an 11-digit resident code"))
    moved_in_on: str = attrs.field(validator=_match(_DAY, "YYYY-MM-DD"))
    address: str = attrs.field(validator=_text(400))


CounterMessage: TypeAlias = (
    CopyRequest | CopyAnswer | MoveOutInfo | InfoRequest | MoveInNotification
)
"""Any counter message."""

_TYPES: dict[str, type[Any]] = {
    COPY_REQUEST: CopyRequest,
    COPY_ANSWER: CopyAnswer,
    MOVE_OUT_INFO: MoveOutInfo,
    INFO_REQUEST: InfoRequest,
    MOVE_IN_NOTIFICATION: MoveInNotification,
}
_NAMES = {cls: name for name, cls in _TYPES.items()}


def _plain(value: object) -> object:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def encode(message: CounterMessage) -> bytes:
    """Frame a counter message."""
    data = {k: _plain(v) for k, v in attrs.asdict(message, recurse=False).items()}
    return _NAMES[type(message)].encode() + b"\n" + codec.canonical_json(data)


def _tuples(value: object) -> object:
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def parse(raw: bytes) -> CounterMessage:
    """Parse a counter message (:class:`~jukinet.errors.InvalidFormat` for anything else)."""
    if not isinstance(raw, bytes):
        raise TypeError(f"expected bytes, got {type(raw).__name__}")
    kind, sep, body = raw.partition(b"\n")
    cls = _TYPES.get(kind.decode("ascii", "replace"))
    if cls is None or not sep:
        raise InvalidFormat(
            "not a counter message", field="message", expected=", ".join(sorted(_TYPES))
        )
    data = codec.load_json(body, field="message")
    keys = set(attrs.fields_dict(cls))
    if not isinstance(data, dict) or set(data) != keys:
        raise InvalidFormat(
            f"the {kind.decode()} message has the wrong fields",
            field="message",
            expected=", ".join(sorted(keys)),
        )
    try:
        message: CounterMessage = cls(**{k: _tuples(v) for k, v in data.items()})
    except (ValidationError, TypeError) as exc:
        raise InvalidFormat(f"the {kind.decode()} message is invalid: {exc}") from exc
    if encode(message) != raw:
        raise InvalidFormat("the message is not in canonical form", field="message")
    return message
