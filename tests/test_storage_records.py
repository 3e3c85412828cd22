"""Helpers of :mod:`jukinet.storage.records`: the provision log's chain and records
built from values known good."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jukinet.errors import InvalidFormat
from jukinet.storage.records import (
    GENESIS,
    ChainFault,
    ProvisionEntry,
    ProvisionRecord,
    chain,
    chain_hash,
    unchecked,
    unchecked_replace,
    verify_chain,
)


def test_chain_numbers_and_links_records_as_chain_hash_and_verify_chain_expect() -> None:
    entries = [
        ProvisionEntry(at=datetime(2026, 4, 1, tzinfo=UTC), kind="refused", request_id=f"r{n}")
        for n in range(1, 5)
    ]
    records = chain((10, GENESIS), entries)
    assert [r.seq for r in records] == [11, 12, 13, 14]
    previous = GENESIS
    for record in records:
        assert record.prev_hash == previous
        assert record.hash == chain_hash(previous, record.seq, record.entry)
        previous = record.hash
    assert verify_chain((10, GENESIS), records, (14, previous)) == []
    with pytest.raises(InvalidFormat, match="SHA-256"):
        chain((0, "not a hash"), entries)


def test_unchecked_needs_every_field_and_no_other() -> None:
    with pytest.raises(TypeError, match=r"missing fields \['problem'\]"):
        unchecked(ChainFault, seq=1)
    with pytest.raises(TypeError, match=r"unknown fields \['extra'\]"):
        unchecked(ChainFault, seq=1, problem="missing", extra=2)
    fault = unchecked(ChainFault, seq=1, problem="missing")
    assert unchecked_replace(fault, seq=2) == ChainFault(seq=2, problem="missing")
    with pytest.raises(TypeError, match=r"unknown fields \['sequence'\]"):
        unchecked_replace(fault, sequence=2)


def _records(count: int) -> list[ProvisionRecord]:
    entries = [
        ProvisionEntry(at=datetime(2026, 4, 1, tzinfo=UTC), kind="refused", request_id=f"r{n}")
        for n in range(1, count + 1)
    ]
    return chain((0, GENESIS), entries)


def test_verify_chain_names_unreadable_records_altered_and_reads_past_them() -> None:
    records = _records(6)
    head = (6, records[-1].hash)
    readable = [r for r in records if r.seq not in {1, 3, 4, 6}]
    assert verify_chain((0, GENESIS), readable, head, unreadable=[6, 4, 1, 3]) == [
        ChainFault(1, "altered"),
        ChainFault(3, "altered"),
        ChainFault(4, "altered"),
        ChainFault(6, "altered"),
    ]
    # an unreadable record next to a missing one: both named, in order
    assert verify_chain((0, GENESIS), records[3:], head, unreadable=[2]) == [
        ChainFault(1, "missing"),
        ChainFault(2, "altered"),
        ChainFault(3, "missing"),
    ]
    # unreadable at the end, with the head further on: the rest is truncated
    assert verify_chain((0, GENESIS), records[:3], head, unreadable=[4]) == [
        ChainFault(4, "altered"),
        ChainFault(6, "truncated"),
    ]
    # the record after an unreadable one still has its own hash checked
    forged = unchecked_replace(records[2], hash=records[1].hash)
    assert verify_chain((0, GENESIS), [records[0], forged, *records[3:]], head, unreadable=[2]) == [
        ChainFault(2, "altered"),
        ChainFault(3, "altered"),
        ChainFault(4, "relinked"),
    ]


@pytest.mark.parametrize(
    "change",
    [
        {"prev_hash": "not a hash"},
        {"entry": "not an entry"},
    ],
)
def test_verify_chain_names_a_record_it_cannot_hash_altered(change: dict[str, object]) -> None:
    records = _records(3)
    broken = unchecked_replace(records[1], **change)
    faults = verify_chain((0, GENESIS), [records[0], broken, records[2]], (3, records[2].hash))
    assert ChainFault(2, "altered") in faults
