"""Resident-code changes for デジタル庁 (住基法30条の9の2第2項, 令30条の8の2第2項)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import attrs
import pytest
from hypothesis import given

from jukinet.domain import codec
from jukinet.domain.changes import ChangeReason
from jukinet.domain.identity import IdentityInfo, IdentityNotice
from jukinet.domain.linkage import CodeChangeNotice, code_change
from jukinet.domain.resident_code import ResidentCode
from jukinet.errors import InvalidComponent, InvalidFormat
from jukinet.testing import strategies as jst
from jukinet.testing.examples import resident_record

OLD = ResidentCode("12345678903")
NEW = ResidentCode("00000000060")
DAY = date(2026, 4, 1)


def _notice(reason: ChangeReason, previous: ResidentCode | None) -> IdentityNotice:
    info = attrs.evolve(IdentityInfo.from_record(resident_record()), resident_code=NEW)
    return IdentityNotice(info=info, reason=reason, event_date=DAY, previous_resident_code=previous)


@pytest.mark.parametrize(
    "reason",
    [ChangeReason.RESIDENT_CODE_CHANGE_REQUEST, ChangeReason.RESIDENT_CODE_EX_OFFICIO_ENTRY],
)
def test_both_ways_of_replacing_a_code_are_told(reason: ChangeReason) -> None:
    """30条の4 (on request) and 令30条の4 (by the mayor) both replace the code."""
    change = code_change(_notice(reason, OLD))
    assert change == CodeChangeNotice(
        previous_resident_code=OLD, resident_code=NEW, reason=reason, changed_on=DAY
    )


@given(jst.identity_notices())
def test_only_a_notice_carrying_a_previous_code_is_told(notice: IdentityNotice) -> None:
    change = code_change(notice)
    assert (change is None) == (notice.previous_resident_code is None)
    if change is not None:
        assert change.previous_resident_code == notice.previous_resident_code
        assert change.resident_code == notice.info.resident_code
        raw = codec.to_bytes(change)
        assert codec.from_bytes(CodeChangeNotice, raw) == change
        assert codec.from_stored(CodeChangeNotice, raw) == change


def test_the_new_code_must_differ_from_the_old() -> None:
    with pytest.raises(InvalidComponent, match="the new resident code is the old one"):
        CodeChangeNotice(
            previous_resident_code=OLD,
            resident_code=OLD,
            reason=ChangeReason.RESIDENT_CODE_CHANGE_REQUEST,
            changed_on=DAY,
        )


def test_a_reason_that_keeps_the_code_is_refused() -> None:
    with pytest.raises(InvalidComponent, match="does not replace the resident code"):
        CodeChangeNotice(
            previous_resident_code=OLD,
            resident_code=NEW,
            reason=ChangeReason.MOVE_WITHIN,
            changed_on=DAY,
        )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("previous_resident_code", "12345678903"),
        ("resident_code", None),
        ("reason", "resident_code_change_request"),
        ("changed_on", datetime(2026, 4, 1)),
    ],
)
def test_fields_are_typed(field: str, value: Any) -> None:
    values: dict[str, Any] = {
        "previous_resident_code": OLD,
        "resident_code": NEW,
        "reason": ChangeReason.RESIDENT_CODE_CHANGE_REQUEST,
        "changed_on": DAY,
    }
    with pytest.raises(TypeError, match=field):
        CodeChangeNotice(**{**values, field: value})


def test_decoding_an_unlawful_notice_is_an_invalid_format() -> None:
    raw = codec.to_bytes(
        CodeChangeNotice(
            previous_resident_code=OLD,
            resident_code=NEW,
            reason=ChangeReason.RESIDENT_CODE_CHANGE_REQUEST,
            changed_on=DAY,
        )
    ).replace(b"resident_code_change_request", b"move_within")
    with pytest.raises(InvalidFormat):
        codec.from_bytes(CodeChangeNotice, raw)


def test_code_change_takes_an_identity_notice() -> None:
    with pytest.raises(TypeError, match="IdentityNotice"):
        code_change("a notice")  # type: ignore[arg-type]
