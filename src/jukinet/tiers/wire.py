"""The messages that travel inside envelopes, and their framing.

Each envelope payload is one message: a type line, then the body::

    identity_notice\\n{"address_key":…,"name_key":…}\\n{…the notice's canonical bytes…}
    code_designation\\n{"codes":[…],"municipality":"131016"}

An identity notice travels with an *index header*: the keys an upper tier stores
and searches by (resident code, municipality, name key, reading key, birth date,
sex, address key, reason, event date, removal, previous code). Each upper tier
that receives a notice from the tier below (the prefecture, and the centre from
the prefecture) decodes it in full, recomputes the header and refuses a message
whose header does not match: a valid signature does not make a header true. A
prefecture takes the centre's confirmation of a notice it referred without
decoding it again (it decoded that notice when it came up).

Every message has one canonical form, the bytes its ``encode_*`` function
gives: a parser refuses anything else with an
:class:`~jukinet.errors.InvalidFormat`, so the bytes a tier signs, stores and
forwards are always the content it checked. The JSON of a message is read with
:func:`jukinet.domain.codec.load_json` (at most
:data:`~jukinet.domain.codec.MAX_JSON_BYTES`, nested at most
:data:`~jukinet.domain.codec.MAX_JSON_DEPTH` deep).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import attrs

from jukinet.domain import codec, custody
from jukinet.domain.changes import ChangeKind, ChangeReason
from jukinet.domain.identity import IdentityNotice
from jukinet.domain.resident_code import LENGTH as _CODE_LENGTH
from jukinet.domain.resident_code import ResidentCode
from jukinet.errors import InvalidFormat, TamperingDetected, ValidationError
from jukinet.storage.records import MAX_PAYLOAD_BYTES, IdentityRow

__all__ = [
    "ACK",
    "CODE_DESIGNATION",
    "CORRECTION",
    "IDENTITY_NOTICE",
    "IDENTITY_VERSION",
    "MESSAGES",
    "NOTICE_REFUSED",
    "REFERRAL",
    "RESTORE",
    "RESTORE_HEADER",
    "Ack",
    "CodeDesignation",
    "CorrectionMessage",
    "NoticeMessage",
    "NoticeRefusal",
    "RestoreHeader",
    "decode_ack",
    "encode_ack",
    "encode_code_designation",
    "encode_code_designations",
    "encode_correction",
    "encode_identity_version",
    "encode_notice",
    "encode_notice_refusal",
    "encode_referral",
    "encode_restore_header",
    "message_type",
    "parse_code_designation",
    "parse_correction",
    "parse_identity_version",
    "parse_notice",
    "parse_notice_refusal",
    "parse_referral",
    "parse_restore_header",
]

MESSAGES = "messages"
"""Envelope payload type of a batch of sequenced messages."""
ACK = "ack"
"""Envelope payload type of an acknowledgement (unsequenced)."""
RESTORE = "restore"
"""Envelope payload type of a restore package part (unsequenced; see :mod:`jukinet.tiers.restore`)."""
IDENTITY_NOTICE = "identity_notice"
CODE_DESIGNATION = "code_designation"
RESTORE_HEADER = "restore_header"
IDENTITY_VERSION = "identity_version"
CORRECTION = "correction"
REFERRAL = "referral"
NOTICE_REFUSED = "notice_refused"

_SEPARATOR = b"\n"


def _dumps(data: object) -> bytes:
    return codec.canonical_json(data)


def _parts(raw: object) -> tuple[bytes, bytes, bytes]:
    """``raw`` split at its first line break; a :class:`TypeError` unless it is bytes."""
    if not isinstance(raw, bytes):
        raise TypeError(f"message: expected bytes, got {type(raw).__name__}")
    return raw.partition(_SEPARATOR)


def _json_body(raw: bytes, kind: str, keys: frozenset[str]) -> dict[str, Any]:
    """The JSON object of a framed ``kind`` message, which must have exactly ``keys``."""
    found, sep, body = _parts(raw)
    if found != kind.encode() or not sep:
        raise InvalidFormat(f"not a {kind} message", field="message", expected=kind)
    data = codec.load_json(body, field="message")
    if not isinstance(data, dict) or set(data) != keys:
        raise InvalidFormat(
            f"the {kind} message has the wrong fields",
            field="message",
            expected=", ".join(sorted(keys)),
        )
    return data


def _require_canonical(raw: bytes, canonical: bytes, kind: str) -> None:
    """Refuse a message whose bytes are not the canonical encoding of its content."""
    if raw != canonical:
        raise InvalidFormat(
            f"the {kind} message is not in canonical form",
            field="message",
            expected="the bytes its encoder gives: UTF-8 JSON, sorted keys, no spaces,"
            " canonical values",
        )


def message_type(raw: bytes) -> str:
    """The type line of a framed message."""
    kind, sep, _ = _parts(raw)
    if not sep:
        raise InvalidFormat("the message has no type line", field="message")
    return kind.decode("ascii", "replace")


def _header(notice: IdentityNotice) -> dict[str, Any]:
    info = notice.info
    return {
        "address_key": info.address.search_key,
        "birth_date": info.birth_date.isoformat(),
        "certificate": notice.certificate,
        "event_date": notice.event_date.isoformat(),
        "moved_from": notice.moved_from.value if notice.moved_from else None,
        "municipality": info.municipality,
        "name_key": info.name.matching_key,
        "previous_resident_code": (
            notice.previous_resident_code.value if notice.previous_resident_code else None
        ),
        "reading_key": info.name.reading_key,
        "reason": notice.reason.value,
        "removed": notice.kind is ChangeKind.REMOVAL,
        "resident_code": info.resident_code.value,
        "sex": info.sex.value,
    }


def encode_notice(notice: IdentityNotice) -> bytes:
    """Frame an identity notice with its index header."""
    return b"".join(
        (
            IDENTITY_NOTICE.encode(),
            _SEPARATOR,
            _dumps(_header(notice)),
            _SEPARATOR,
            codec.to_bytes(notice),
        )
    )


_HEADER_TYPES: Mapping[str, tuple[type, ...]] = {
    "address_key": (str,),
    "birth_date": (str,),
    "certificate": (str, type(None)),
    "event_date": (str,),
    "moved_from": (str, type(None)),
    "municipality": (str,),
    "name_key": (str,),
    "previous_resident_code": (str, type(None)),
    "reading_key": (str, type(None)),
    "reason": (str,),
    "removed": (bool,),
    "resident_code": (str,),
    "sex": (str,),
}
_HEADER_KEYS = frozenset(_HEADER_TYPES)
_HEADER_DATES = ("birth_date", "event_date")


def _check_header(_instance: object, _attribute: object, header: object) -> None:
    """The index header's shape, and the type of each field; the dates must parse.

    The values themselves (canonical codes, known reasons, key lengths) are
    checked where the row is built (:class:`~jukinet.storage.records.IdentityRow`).
    """
    if not isinstance(header, dict) or set(header) != _HEADER_KEYS:
        raise InvalidFormat(
            "the notice header has the wrong fields",
            field="header",
            expected=", ".join(sorted(_HEADER_KEYS)),
        )
    for key, types in _HEADER_TYPES.items():
        if type(header[key]) not in types:
            raise InvalidFormat(
                f"the header's {key} is a {type(header[key]).__name__}",
                field=f"header.{key}",
                expected=" or ".join("null" if t is type(None) else t.__name__ for t in types),
            )
    for key in _HEADER_DATES:
        try:
            codec.from_data(date, header[key])
        except InvalidFormat as exc:
            raise InvalidFormat(
                exc.message, field=f"header.{key}", expected="an ISO date YYYY-MM-DD"
            ) from None


@attrs.frozen
class NoticeMessage:
    """A parsed identity-notice message: its header and the notice's canonical bytes.

    The header must have the fields of the index header, each of its type, with
    ISO dates (else :class:`~jukinet.errors.InvalidFormat`).
    """

    header: dict[str, Any] = attrs.field(eq=False, validator=_check_header)
    notice_bytes: bytes = attrs.field(validator=attrs.validators.instance_of(bytes))

    @property
    def resident_code(self) -> str:
        """The resident code the notice is about."""
        return str(self.header["resident_code"])

    @property
    def municipality(self) -> str:
        """The 6-digit code of the notifying municipality."""
        return str(self.header["municipality"])

    def row(
        self,
        version: int,
        *,
        superseded_code: str | None = None,
        received_on: date | None = None,
    ) -> IdentityRow:
        """The identity row for this notice as ``version`` of its code, received on
        ``received_on`` (the day the tier applies it; None: unknown, as in a restored
        copy).

        With ``superseded_code``, the row records that this older code was replaced
        (a removed version of the old code carrying the same notice).
        """
        h = self.header
        return IdentityRow(
            resident_code=superseded_code or h["resident_code"],
            version=version,
            municipality=h["municipality"],
            reason=h["reason"],
            event_date=date.fromisoformat(h["event_date"]),
            removed=True if superseded_code else h["removed"],
            name_key=h["name_key"],
            reading_key=h["reading_key"],
            birth_date=date.fromisoformat(h["birth_date"]),
            sex=h["sex"],
            address_key=h["address_key"],
            previous_resident_code=None if superseded_code else h["previous_resident_code"],
            payload=self.notice_bytes,
            received_on=received_on,
        )

    def notice(self) -> IdentityNotice:
        """Decode the full notice (validates every item)."""
        return codec.from_bytes(IdentityNotice, self.notice_bytes)

    @property
    def claim(self) -> custody.Claim:
        """What the notice claims, for the custody rules (:mod:`jukinet.domain.custody`)."""
        h = self.header
        return custody.Claim(
            resident_code=str(h["resident_code"]),
            municipality=str(h["municipality"]),
            reason=ChangeReason(h["reason"]),
            previous_resident_code=h["previous_resident_code"],
            moved_from=h["moved_from"],
            certificate=h["certificate"],
            event_date=date.fromisoformat(h["event_date"]),
        )

    @property
    def digest(self) -> str:
        """SHA-256 of the notice's canonical bytes (hex): names the notice in a refusal."""
        return hashlib.sha256(self.notice_bytes).hexdigest()

    def encode(self) -> bytes:
        """The framed message again (header and notice, as parsed)."""
        return b"".join(
            (
                IDENTITY_NOTICE.encode(),
                _SEPARATOR,
                _dumps(self.header),
                _SEPARATOR,
                self.notice_bytes,
            )
        )


def parse_notice(raw: bytes, *, verify: bool) -> NoticeMessage:
    """Parse an identity-notice message.

    The header is checked for shape and field types
    (:class:`~jukinet.errors.InvalidFormat`). With ``verify`` (an upper tier
    receiving from the tier below, which stores and forwards the message as it came)
    the notice is decoded
    in full and both parts must be exactly what the content gives: the notice's
    bytes its canonical bytes (:func:`~jukinet.domain.codec.from_canonical`: a
    notice that validates only after normalisation, such as a resident code in
    full-width digits, is an :class:`~jukinet.errors.InvalidFormat`), the header
    the one recomputed from the notice (else
    :class:`~jukinet.errors.TamperingDetected`), in canonical form (else
    :class:`~jukinet.errors.InvalidFormat`). Without, the tier trusts the header
    of a message it verified before (a pending notice it kept, a confirmation of one
    it referred), and the row's own validation checks every field it stores (the
    header's bytes are not kept).
    """
    kind, sep, rest = _parts(raw)
    header_bytes, sep2, notice_bytes = rest.partition(_SEPARATOR)
    if kind != IDENTITY_NOTICE.encode() or not sep or not sep2:
        raise InvalidFormat("not an identity-notice message", field="message")
    header = codec.load_json(header_bytes, field="header")
    message = NoticeMessage(header, notice_bytes)
    if verify:
        notice = codec.from_canonical(IdentityNotice, notice_bytes)
        expected = _header(notice)
        if expected != header:
            raise TamperingDetected(
                "the notice's index header does not match its content", field="message"
            )
        if _dumps(expected) != header_bytes:
            raise InvalidFormat(
                "the notice header is not in canonical form",
                field="header",
                expected="UTF-8 JSON, sorted keys, no spaces",
            )
    return message


@attrs.frozen
class CodeDesignation:
    """Resident codes designated to a municipality by the national centre (住基法30条の2)."""

    municipality: str
    codes: tuple[ResidentCode, ...]


_DESIGNATION_KEYS = frozenset({"codes", "municipality"})


def encode_code_designation(municipality: str, codes: Sequence[ResidentCode]) -> bytes:
    """Frame a designation of codes."""
    body = {"codes": [c.value for c in codes], "municipality": municipality}
    return CODE_DESIGNATION.encode() + _SEPARATOR + _dumps(body)


def encode_code_designations(municipality: str, codes: Sequence[ResidentCode]) -> list[bytes]:
    """Frame a designation of any number of codes as as many messages as it needs,
    each within :data:`~jukinet.storage.records.MAX_PAYLOAD_BYTES` (the largest
    payload an outbox keeps: about 4,670 codes a message), in the codes' order.

    >>> import random
    >>> from jukinet.domain.resident_code import generate
    >>> rng = random.Random(1)
    >>> codes = [generate(rng) for _ in range(10_000)]
    >>> messages = encode_code_designations("131016", codes)
    >>> len(messages), max(len(m) for m in messages) <= MAX_PAYLOAD_BYTES
    (3, True)
    >>> [c for m in messages for c in parse_code_designation(m).codes] == codes
    True
    """
    empty = len(encode_code_designation(municipality, []))
    # each code adds its 11 digits, two quotes and a comma (none before the first)
    per_message = (MAX_PAYLOAD_BYTES - empty + 1) // (_CODE_LENGTH + 3)
    return [
        encode_code_designation(municipality, codes[start : start + per_message])
        for start in range(0, len(codes), per_message)
    ]


def parse_code_designation(raw: bytes) -> CodeDesignation:
    """Parse a designation of codes; every code is validated."""
    data = _json_body(raw, CODE_DESIGNATION, _DESIGNATION_KEYS)
    municipality, texts = data["municipality"], data["codes"]
    if not isinstance(municipality, str) or not (
        isinstance(texts, list) and all(isinstance(c, str) for c in texts)
    ):
        raise InvalidFormat(
            "malformed code designation",
            field="message",
            expected="a municipality string and a list of code strings",
        )
    try:
        codes = tuple(ResidentCode(c) for c in texts)
    except ValidationError as exc:
        raise InvalidFormat(f"malformed code designation: {exc}", field="codes") from None
    _require_canonical(raw, encode_code_designation(municipality, codes), CODE_DESIGNATION)
    return CodeDesignation(municipality, codes)


@attrs.frozen
class Ack:
    """What a receiver answers to a sequenced envelope.

    ``position`` is the last sequence number it has applied from the sender;
    ``status`` says what happened to this envelope: ``applied``, ``duplicate``
    (already applied: acknowledged, not applied again) or ``gap`` (earlier
    messages are missing: the sender resends from ``position + 1``).
    ``envelope`` is the digest of the envelope answered, so an answer cannot be
    taken for another envelope's, and ``first_seq`` its first sequence number
    (so the sender can tell a late answer from a receiver that lost messages).
    """

    position: int
    status: str
    envelope: str
    first_seq: int


def encode_ack(ack: Ack) -> bytes:
    """Serialize an acknowledgement."""
    return _dumps(
        {
            "envelope": ack.envelope,
            "first_seq": ack.first_seq,
            "position": ack.position,
            "status": ack.status,
        }
    )


_ACK_TYPES: Mapping[str, type] = {"envelope": str, "first_seq": int, "position": int, "status": str}


def decode_ack(raw: bytes) -> Ack:
    """Parse an acknowledgement (in canonical form only)."""
    data = codec.load_json(raw, field="ack")
    if (
        not isinstance(data, dict)
        or set(data) != set(_ACK_TYPES)
        or any(type(data[k]) is not t for k, t in _ACK_TYPES.items())
    ):
        raise InvalidFormat(
            "malformed acknowledgement",
            field="ack",
            expected="envelope and status strings, first_seq and position integers",
        )
    ack = Ack(data["position"], data["status"], data["envelope"], data["first_seq"])
    if ack.position < 0 or ack.first_seq < 1 or ack.status not in ("applied", "duplicate", "gap"):
        raise InvalidFormat(
            "malformed acknowledgement",
            field="ack",
            expected="position 0 or more, first_seq 1 or more, status applied, duplicate or gap",
        )
    _require_canonical(raw, encode_ack(ack), ACK)
    return ack


@attrs.frozen(kw_only=True)
class RestoreHeader:
    """The first message of each part of a restore package.

    The source's two link positions with the municipality: ``applied`` is the
    last sequence number it applied *from* the municipality (0 for the centre,
    which the municipality does not send to); ``confirmed`` the last one the
    municipality acknowledged of what the source sent *to* it. ``withdrawn``
    counts the resident codes in the package's code designations: what the
    centre designated to the municipality after ``confirmed`` (the municipality
    may have taken those codes into use before its acknowledgement was lost, so
    a restore withdraws them instead of taking them as fresh).
    """

    municipality: str
    source: str
    as_of: str
    part: int
    parts: int
    versions: int
    applied: int
    confirmed: int
    withdrawn: int = 0


_RESTORE_KEYS = frozenset(attrs.fields_dict(RestoreHeader))


def encode_restore_header(header: RestoreHeader) -> bytes:
    """Frame a restore-package header."""
    return RESTORE_HEADER.encode() + _SEPARATOR + _dumps(attrs.asdict(header))


def parse_restore_header(raw: bytes) -> RestoreHeader:
    """Parse a restore-package header; every field is checked for type and range."""
    data = _json_body(raw, RESTORE_HEADER, _RESTORE_KEYS)
    texts = ("municipality", "source", "as_of")
    numbers = ("part", "parts", "versions", "applied", "confirmed", "withdrawn")
    if not all(isinstance(data[k], str) for k in texts) or not all(
        type(data[k]) is int and data[k] >= 0 for k in numbers
    ):
        raise InvalidFormat("the restore header has a field of the wrong type", field="message")
    header = RestoreHeader(**data)
    if not 1 <= header.part <= header.parts:
        raise InvalidFormat(
            f"part {header.part} of {header.parts}", field="part", expected="1 to parts"
        )
    _require_canonical(raw, encode_restore_header(header), RESTORE_HEADER)
    return header


def encode_identity_version(row: IdentityRow) -> bytes:
    """Frame one stored version of identity information (for a restore package).

    Only the code, the version and the notice travel: the receiver rebuilds every
    other field of the row from the notice itself (the day the tier received the
    version stays behind: a restored copy does not know it).
    """
    head = {"resident_code": row.resident_code, "version": row.version}
    return IDENTITY_VERSION.encode() + _SEPARATOR + _dumps(head) + _SEPARATOR + row.payload


def parse_identity_version(raw: bytes) -> IdentityRow:
    """Parse a framed identity version, decoding its notice in full.

    The row is rebuilt from the notice exactly as an upper tier builds it: the
    code must be the notice's own (or the code it replaced, 住基法30条の4), else
    :class:`~jukinet.errors.TamperingDetected`.
    """
    kind, sep, rest = _parts(raw)
    head_bytes, sep2, notice_bytes = rest.partition(_SEPARATOR)
    if kind != IDENTITY_VERSION.encode() or not sep or not sep2:
        raise InvalidFormat("not an identity-version message", field="message")
    head = codec.load_json(head_bytes, field="message")
    if not isinstance(head, dict) or set(head) != {"resident_code", "version"}:
        raise InvalidFormat(
            "malformed identity-version header", field="message", expected="resident_code, version"
        )
    code, version = head["resident_code"], head["version"]
    if not isinstance(code, str) or type(version) is not int or version < 1:
        raise InvalidFormat("malformed identity-version header", field="message")
    if _dumps(head) != head_bytes:
        raise InvalidFormat(
            "the identity-version header is not in canonical form",
            field="message",
            expected="UTF-8 JSON, sorted keys, no spaces",
        )
    notice = codec.from_canonical(IdentityNotice, notice_bytes)
    message = NoticeMessage(_header(notice), notice_bytes)
    if code == message.resident_code:
        return message.row(version)
    if code == message.header["previous_resident_code"]:
        return message.row(version, superseded_code=code)
    raise TamperingDetected(
        f"the version is filed under {code}, which its notice does not name",
        field="resident_code",
    )


@attrs.frozen(kw_only=True)
class CorrectionMessage:
    """A resident's correction request (住基法30条の35) on its way to the municipality
    that keeps the register (``outcome`` None), or its outcome on the way back.

    ``filed_with`` is the tier the resident filed it with (``p:NN`` or ``c:jlis``).
    """

    request_id: str
    resident_code: str
    filed_with: str
    details: str
    outcome: str | None


_CORRECTION_KEYS = frozenset(attrs.fields_dict(CorrectionMessage))


def encode_correction(message: CorrectionMessage) -> bytes:
    """Frame a correction request or outcome."""
    return CORRECTION.encode() + _SEPARATOR + _dumps(attrs.asdict(message))


def parse_correction(raw: bytes) -> CorrectionMessage:
    """Parse a correction message; every field is checked for type."""
    data = _json_body(raw, CORRECTION, _CORRECTION_KEYS)
    texts = ("request_id", "resident_code", "filed_with", "details")
    if not all(isinstance(data[k], str) and data[k] for k in texts) or not (
        data["outcome"] is None or isinstance(data["outcome"], str)
    ):
        raise InvalidFormat("a correction field has the wrong type", field="message")
    if ResidentCode(data["resident_code"]).value != data["resident_code"]:
        raise InvalidFormat(
            "the resident code is not in canonical form",
            field="resident_code",
            expected="11 ASCII digits",
        )
    message = CorrectionMessage(**data)
    _require_canonical(raw, encode_correction(message), CORRECTION)
    return message


# --- referrals and refusals (judged by the centre, docs/tiers.md) ---------------------


def encode_referral(message: NoticeMessage) -> bytes:
    """Frame a notice a prefecture refers to the centre: it has not applied it, and
    applies it when the centre sends it back (or drops it on a refusal)."""
    return REFERRAL.encode() + _SEPARATOR + message.encode()


def parse_referral(raw: bytes, *, verify: bool) -> NoticeMessage:
    """Parse a referral: the identity-notice message inside (see :func:`parse_notice`)."""
    kind, sep, inner = raw.partition(_SEPARATOR)
    if kind != REFERRAL.encode() or not sep:
        raise InvalidFormat("not a referral message", field="message", expected=REFERRAL)
    return parse_notice(inner, verify=verify)


@attrs.frozen(kw_only=True)
class NoticeRefusal:
    """An upper tier refused a notice (docs/tiers.md, invariant 4): which one (the
    digest of its canonical bytes), about whom, from which municipality, and why.
    The centre sends it to the prefecture that referred the notice; the prefecture
    passes it on to the municipality that sent it."""

    digest: str
    resident_code: str
    municipality: str
    reason: str
    why: str

    def log_fields(self) -> dict[str, object]:
        """The fields of a ``notice.refused`` log event (docs/logging.md): all of it,
        the explanation cut to 500 characters."""
        return {
            "municipality": self.municipality,
            "resident_code": self.resident_code,
            "reason": self.reason,
            "why": self.why[:500],
            "digest": self.digest,
        }


_REFUSAL_KEYS = frozenset(attrs.fields_dict(NoticeRefusal))


def encode_notice_refusal(refusal: NoticeRefusal) -> bytes:
    """Frame a refusal of a notice."""
    return NOTICE_REFUSED.encode() + _SEPARATOR + _dumps(attrs.asdict(refusal))


def parse_notice_refusal(raw: bytes) -> NoticeRefusal:
    """Parse a refusal of a notice; every field must be a non-empty string."""
    data = _json_body(raw, NOTICE_REFUSED, _REFUSAL_KEYS)
    if not all(isinstance(v, str) and v for v in data.values()):
        raise InvalidFormat("a refusal field has the wrong type", field="message")
    refusal = NoticeRefusal(**data)
    _require_canonical(raw, encode_notice_refusal(refusal), NOTICE_REFUSED)
    return refusal
