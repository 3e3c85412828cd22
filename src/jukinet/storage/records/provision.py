"""The provision log's entries and their hash chain (住基法30条の9〜30条の16,
30条の32〜30条の35): :class:`ProvisionEntry`, :class:`ProvisionRecord`,
:func:`chain`, :func:`chain_hash`, :func:`verify_chain`."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from datetime import datetime

import attrs

from jukinet.domain import codec
from jukinet.errors import InvalidFormat
from jukinet.storage.records._validate import (
    _AGENCY_NAME,
    _USE_KEY,
    _aware,
    _bytes,
    _expect,
    _int,
    _one_of,
    _optional_str,
    _resident_code,
    _str,
    _str_tuple,
    check_field,
    unchecked,
)

_REQUEST_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z_.:-]{0,63}")


_HASH = re.compile(r"[0-9a-f]{64}")


# Documented in jukinet.storage.records (the package), where it is imported from.
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

# Documented in jukinet.storage.records (the package), where it is imported from.
GENESIS = "0" * 64


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


def check_request(request_id: object, agency: object | None = None) -> None:
    """Check a provision-log look-up's request id (and agency, when given) as a
    :class:`ProvisionEntry` checks them."""
    check_field(ProvisionEntry, "request_id", request_id)
    if agency is not None:
        check_field(ProvisionEntry, "agency", agency)
