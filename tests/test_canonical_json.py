"""One canonical JSON for every signed or hashed byte string (issue 11).

``codec.canonical_json`` is checked against an independent implementation of
RFC 8785 (the JSON Canonicalization Scheme, ``rfc8785``) over the JSON jukinet
signs: null, booleans, integers of magnitude below 2**53, strings and keys of the Basic
Multilingual Plane, arrays and objects.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from typing import Any

import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from jukinet.domain import codec
from jukinet.domain.changes import ChangeReason
from jukinet.domain.identity import IdentityNotice
from jukinet.testing import examples
from jukinet.tiers import wire
from jukinet.tiers.messages import NodeId, signing_bytes

_BMP = st.characters(max_codepoint=0xFFFF, exclude_categories=["Cs"])
_TEXT = st.text(_BMP, max_size=12)
_SCALARS = st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | _TEXT
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=20,
)


@given(_JSON)
def test_canonical_json_is_rfc_8785(data: Any) -> None:
    assert codec.canonical_json(data) == rfc8785.dumps(data)


@given(_JSON)
def test_canonical_json_reads_back_as_the_same_data(data: object) -> None:
    assert codec.load_json(codec.canonical_json(data), field="data") == data


def test_every_signed_encoding_is_the_canonical_one() -> None:
    # a notice, its index header on the wire, and an envelope's signed header
    notice = IdentityNotice.for_change(
        examples.resident_record(), reason=ChangeReason.MOVE_WITHIN, event_date=date(2026, 4, 1)
    )
    assert codec.to_bytes(notice) == rfc8785.dumps(codec.to_data(notice))
    message = wire.parse_notice(wire.encode_notice(notice), verify=True)
    assert wire._dumps(message.header) == rfc8785.dumps(message.header)
    signed = signing_bytes(
        sender=NodeId.municipality("131016"),
        recipient=NodeId.prefecture("13"),
        first_seq=1,
        payload_type="messages",
        payloads=[b"x"],
        sent_at=datetime(2026, 4, 1, tzinfo=UTC),
    )
    header = signed[signed.index(b"{") :]
    assert header == rfc8785.dumps(codec.load_json(header, field="header"))
    assert hashlib.sha256(b"x").hexdigest().encode() in header
