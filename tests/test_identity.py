"""Identity confirmation information (本人確認情報, 住基法30条の6) and notices (令30条の5)."""

from __future__ import annotations

from datetime import date

import attrs
import pytest
from hypothesis import given

from jukinet.domain.changes import ChangeKind, ChangeReason
from jukinet.domain.identity import IdentityInfo, IdentityNotice
from jukinet.domain.individual_number import IndividualNumber
from jukinet.domain.resident import ResidentRecord
from jukinet.domain.resident_code import ResidentCode
from jukinet.errors import InvalidComponent
from jukinet.testing import examples
from jukinet.testing import strategies as jst


@given(jst.resident_records())
def test_identity_info_is_derived_from_the_record(record: ResidentRecord) -> None:
    info = IdentityInfo.from_record(record)
    assert info.resident_code == record.resident_code
    assert info.name == record.name
    assert (info.birth_date, info.sex, info.address) == (
        record.birth_date,
        record.sex,
        record.address,
    )
    assert info.individual_number == record.individual_number
    assert info.municipality == record.municipality


def test_from_record_refuses_other_types() -> None:
    with pytest.raises(TypeError):
        IdentityInfo.from_record("山田")  # type: ignore[arg-type]


@given(jst.identity_notices())
def test_generated_notices_follow_the_rules(notice: IdentityNotice) -> None:
    assert notice.reason.notifiable
    assert notice.kind is notice.reason.kind
    assert (notice.previous_resident_code is not None) == notice.reason.changes_resident_code


@given(jst.identity_infos())
def test_household_changes_cannot_be_notified(info: IdentityInfo) -> None:
    # 住基法30条の6第1項: only identity items are notified.
    with pytest.raises(InvalidComponent, match="no identity information"):
        IdentityNotice(
            info=info, reason=ChangeReason.HEAD_OF_HOUSEHOLD_CHANGE, event_date=info.birth_date
        )


@given(jst.identity_infos())
def test_code_change_carries_the_previous_code(info: IdentityInfo) -> None:
    # 令30条の5第5号: a change of resident code carries the code before the change.
    with pytest.raises(InvalidComponent, match="previous code must be carried"):
        IdentityNotice(
            info=info, reason=ChangeReason.RESIDENT_CODE_CHANGE_REQUEST, event_date=info.birth_date
        )
    with pytest.raises(InvalidComponent, match="equals the current"):
        IdentityNotice(
            info=info,
            reason=ChangeReason.RESIDENT_CODE_CHANGE_REQUEST,
            event_date=info.birth_date,
            previous_resident_code=info.resident_code,
        )
    with pytest.raises(InvalidComponent, match="no previous value"):
        IdentityNotice(
            info=info,
            reason=ChangeReason.MOVE_WITHIN,
            event_date=info.birth_date,
            previous_resident_code=ResidentCode("00000000051"),
        )


@given(jst.resident_records(removed=False))
def test_for_change_takes_previous_codes_from_the_old_record(record: ResidentRecord) -> None:
    new_code = (
        ResidentCode("00000000060")
        if record.resident_code != ResidentCode("00000000060")
        else ResidentCode("00000000051")
    )
    after = attrs.evolve(record, resident_code=new_code)
    notice = IdentityNotice.for_change(
        after,
        reason=ChangeReason.RESIDENT_CODE_CHANGE_REQUEST,
        event_date=date(2026, 11, 1),
        before=record,
    )
    assert notice.previous_resident_code == record.resident_code
    assert notice.resident_code == new_code
    assert notice.kind is ChangeKind.CORRECTION
    birth = IdentityNotice.for_change(
        record, reason=ChangeReason.BIRTH, event_date=record.birth_date
    )
    assert birth.previous_resident_code is None
    assert birth.previous_individual_number is None


@given(jst.identity_infos())
def test_event_before_birth_is_refused(info: IdentityInfo) -> None:
    if info.birth_date == date.min:
        return
    with pytest.raises(InvalidComponent, match="before the birth date"):
        IdentityNotice(info=info, reason=ChangeReason.MOVE_WITHIN, event_date=date(1899, 12, 31))


def test_individual_number_entry_may_have_no_previous_number() -> None:
    info = IdentityInfo.from_record(examples.resident_record())
    info = attrs.evolve(info, individual_number=IndividualNumber("123456789018"))
    notice = IdentityNotice(
        info=info,
        reason=ChangeReason.INDIVIDUAL_NUMBER_EX_OFFICIO_ENTRY,
        event_date=date(2015, 10, 5),
    )
    assert notice.previous_individual_number is None
    with pytest.raises(InvalidComponent, match="previous code must be carried"):
        IdentityNotice(
            info=info,
            reason=ChangeReason.INDIVIDUAL_NUMBER_CHANGE_REQUEST,
            event_date=date(2015, 10, 5),
        )
