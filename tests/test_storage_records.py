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
