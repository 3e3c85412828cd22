"""Resident records (住民票, 住基法7条) and their history."""

from __future__ import annotations

import contextlib
from datetime import date, datetime
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jukinet.domain.address import Address
from jukinet.domain.changes import ChangeReason
from jukinet.domain.lg_code import LocalGovernmentCode
from jukinet.domain.names import PersonName
from jukinet.domain.resident import (
    HEAD_OF_HOUSEHOLD,
    ChildAllowance,
    FamilyRegister,
    FamilyRegisterStatus,
    ForeignResidentCategory,
    ForeignResidentInfo,
    HouseholdMembership,
    InsurancePeriod,
    NationalPension,
    RecordStatus,
    Removal,
    ResidentHistory,
    ResidentRecord,
)
from jukinet.domain.resident_code import ResidentCode
from jukinet.errors import InvalidComponent, InvalidFormat, InvalidState, JukinetError
from jukinet.testing import examples
from jukinet.testing import strategies as jst

CHIYODA = LocalGovernmentCode("131016")


def _record(**changes: Any) -> ResidentRecord:
    return attrs.evolve(examples.resident_record(), **changes)


def test_a_japanese_resident_needs_a_family_register_and_no_foreign_items() -> None:
    # 住基法7条5号 (戸籍の表示) for Japanese residents; 30条の45 for foreign residents.
    with pytest.raises(InvalidComponent, match="exactly one"):
        _record(family_register=None)
    foreign = ForeignResidentInfo(
        nationality="ベトナム",
        category=ForeignResidentCategory.SPECIAL_PERMANENT,
        became_foreign_resident_on=date(2012, 7, 9),
    )
    with pytest.raises(InvalidComponent, match="exactly one"):
        _record(foreign=foreign)


def test_foreign_residents_have_no_vote_and_may_have_an_alias() -> None:
    foreign = ForeignResidentInfo(
        nationality="韓国",
        category=ForeignResidentCategory.SPECIAL_PERMANENT,
        became_foreign_resident_on=date(2012, 7, 9),
    )
    named = PersonName(
        family="KIM", given="MIN JUN", alias="金田 民俊", alias_reading="カネダ ミントシ"
    )
    record = _record(family_register=None, foreign=foreign, electoral_register=False, name=named)
    assert record.is_foreign_resident
    with pytest.raises(InvalidComponent, match="electoral"):
        attrs.evolve(record, electoral_register=True)
    with pytest.raises(InvalidComponent, match="alias"):
        _record(name=named)


def test_mid_long_term_residents_need_status_and_expiry() -> None:
    with pytest.raises(InvalidComponent, match="residence status"):
        ForeignResidentInfo(
            nationality="中国",
            category=ForeignResidentCategory.MID_LONG_TERM,
            became_foreign_resident_on=date(2020, 1, 1),
        )
    with pytest.raises(InvalidFormat, match="card number"):
        ForeignResidentInfo(
            nationality="中国",
            category=ForeignResidentCategory.SPECIAL_PERMANENT,
            became_foreign_resident_on=date(2020, 1, 1),
            card_number="12345",
        )


def test_removed_record_needs_removal_and_dates_follow_birth() -> None:
    with pytest.raises(InvalidComponent, match="removal"):
        _record(status=RecordStatus.REMOVED)
    with pytest.raises(InvalidComponent, match="birth date"):
        _record(resident_since=date(1979, 1, 1))
    removed = _record(
        status=RecordStatus.REMOVED,
        removal=Removal(reason=ChangeReason.DEATH, removed_on=date(2020, 1, 1)),
    )
    assert removed.is_removed
    with pytest.raises(InvalidComponent, match="not a reason for removal"):
        Removal(reason=ChangeReason.BIRTH, removed_on=date(2020, 1, 1))
    with pytest.raises(InvalidComponent, match="destination"):
        Removal(reason=ChangeReason.DEATH, removed_on=date(2020, 1, 1), destination="大阪市")


def test_household_head_and_members() -> None:
    # 住基法7条4号: 世帯主についてはその旨、世帯主でない者については世帯主の氏名及び世帯主との続柄.
    head = PersonName(family="山田", given="太郎")
    member = HouseholdMembership(household_id="S1", relationship="妻", head_name=head)
    assert not member.is_head
    with pytest.raises(InvalidComponent):
        HouseholdMembership(household_id="S1", relationship=HEAD_OF_HOUSEHOLD, head_name=head)


def test_item_types_and_values_are_checked() -> None:
    with pytest.raises(TypeError, match="出生の年月日"):
        _record(birth_date="1980-04-01")
    with pytest.raises(TypeError, match="datetime"):
        _record(birth_date=datetime(1980, 4, 1))
    with pytest.raises(InvalidFormat, match="宛名番号"):
        _record(internal_id="no spaces allowed")
    with pytest.raises(InvalidFormat, match="基礎年金番号"):
        NationalPension(acquired_on=date(2000, 4, 1), category="第1号", basic_pension_number="12")
    with pytest.raises(InvalidComponent, match="first day"):
        ChildAllowance(start_month=date(2020, 4, 2))
    with pytest.raises(InvalidComponent, match="before"):
        InsurancePeriod(acquired_on=date(2020, 4, 1), lost_on=date(2020, 3, 1))
    with pytest.raises(InvalidComponent):
        FamilyRegister(domicile="東京都", status=FamilyRegisterStatus.UNKNOWN)


def _history() -> ResidentHistory:
    return ResidentHistory.start(
        _record(),
        reason=ChangeReason.BIRTH,
        event_date=date(1980, 4, 1),
        processed_on=date(1980, 4, 3),
    )


def test_history_keeps_every_version() -> None:
    history = _history()
    moved = attrs.evolve(
        history.current, address=Address(municipality=CHIYODA, rest="永田町1丁目7番1号")
    )
    history2 = history.append(
        moved,
        reason=ChangeReason.MOVE_WITHIN,
        event_date=date(2001, 5, 1),
        processed_on=date(2001, 5, 2),
    )
    assert [v.version for v in history2.versions] == [1, 2]
    assert history2.versions[0].record == history.current  # never overwritten
    assert history2.current.address.rest == "永田町1丁目7番1号"


def test_resident_code_changes_only_by_its_reasons() -> None:
    # 住基法30条の4: the code is replaced only on a change request (or 職権, 令30条の4).
    history = _history()
    recoded = attrs.evolve(history.current, resident_code=ResidentCode("00000000051"))
    with pytest.raises(InvalidState, match="resident code"):
        history.append(
            recoded,
            reason=ChangeReason.MOVE_WITHIN,
            event_date=date(2001, 5, 1),
            processed_on=date(2001, 5, 1),
        )
    history.append(
        recoded,
        reason=ChangeReason.RESIDENT_CODE_CHANGE_REQUEST,
        event_date=date(2001, 5, 1),
        processed_on=date(2001, 5, 1),
    )


def test_removal_and_restoration_rules() -> None:
    history = _history()
    dead = attrs.evolve(
        history.current,
        status=RecordStatus.REMOVED,
        removal=Removal(reason=ChangeReason.DEATH, removed_on=date(2020, 1, 1)),
    )
    with pytest.raises(InvalidState, match="must remove"):
        history.append(
            history.current,
            reason=ChangeReason.DEATH,
            event_date=date(2020, 1, 1),
            processed_on=date(2020, 1, 2),
        )
    removed = history.append(
        dead, reason=ChangeReason.DEATH, event_date=date(2020, 1, 1), processed_on=date(2020, 1, 2)
    )
    with pytest.raises(InvalidState, match="already removed"):
        removed.append(
            dead,
            reason=ChangeReason.DEATH,
            event_date=date(2020, 1, 1),
            processed_on=date(2020, 1, 2),
        )
    with pytest.raises(InvalidState, match="status"):
        removed.append(
            history.current,
            reason=ChangeReason.MINOR_CORRECTION,
            event_date=date(2020, 1, 3),
            processed_on=date(2020, 1, 3),
        )
    restored = removed.append(
        history.current,
        reason=ChangeReason.CANCELLATION_ENTRY,
        event_date=date(2020, 1, 3),
        processed_on=date(2020, 1, 3),
    )
    assert not restored.current.is_removed
    with pytest.raises(InvalidState, match="restore"):
        restored.append(
            history.current,
            reason=ChangeReason.BIRTH,
            event_date=date(2020, 1, 3),
            processed_on=date(2020, 1, 3),
        )


def test_history_refuses_backwards_processing_and_bad_openings() -> None:
    history = _history()
    with pytest.raises(InvalidComponent, match="backwards"):
        history.append(
            history.current,
            reason=ChangeReason.MINOR_CORRECTION,
            event_date=date(1980, 4, 1),
            processed_on=date(1980, 4, 2),
        )
    with pytest.raises(InvalidComponent, match="open"):
        ResidentHistory.start(
            _record(),
            reason=ChangeReason.MOVE_WITHIN,
            event_date=date(1980, 4, 1),
            processed_on=date(1980, 4, 1),
        )
    with pytest.raises(InvalidComponent, match="no versions"):
        ResidentHistory(())
    with pytest.raises(InvalidState, match="internal number"):
        history.append(
            _record(internal_id="B1"),
            reason=ChangeReason.MINOR_CORRECTION,
            event_date=date(1990, 1, 1),
            processed_on=date(1990, 1, 1),
        )


@given(jst.resident_records())
def test_generated_records_are_consistent(record: ResidentRecord) -> None:
    assert record.is_removed == (record.removal is not None)
    assert record.is_foreign_resident == (record.family_register is None)
    assert attrs.evolve(record) == record


@given(
    st.sampled_from([f.name for f in attrs.fields(ResidentRecord)]),
    st.one_of(
        st.none(),
        st.integers(),
        st.text(max_size=5),
        st.binary(max_size=5),
        st.booleans(),
        st.dates(),
        st.lists(st.integers(), max_size=2),
    ),
)
def test_any_bad_item_raises_a_jukinet_error_or_type_error(field: str, value: Any) -> None:
    # Anything else (KeyError, AttributeError …) escaping would fail the test.
    with contextlib.suppress(JukinetError, TypeError):
        attrs.evolve(_record(), **{field: value})
