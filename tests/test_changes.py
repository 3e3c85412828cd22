"""The kinds and reasons of change (異動事由, 令30条の5; 標準仕様書 j210)."""

from __future__ import annotations

import pytest

from jukinet.domain.changes import ChangeKind, ChangeReason
from jukinet.errors import InvalidComponent


def test_every_reason_of_the_standard_classification_is_present() -> None:
    # domain-facts §3.1: 9 entry reasons, 9 removal reasons, 19 correction reasons;
    # besides them jukinet records the move-in notification on a 除票 (住基法15条の3
    # 第2項, STD-SPEC j680), a change of the record that is no 異動 of the person.
    assert len(ChangeReason.of_kind(ChangeKind.ENTRY)) == 9
    assert len(ChangeReason.of_kind(ChangeKind.REMOVAL)) == 9
    corrections = set(ChangeReason.of_kind(ChangeKind.CORRECTION))
    assert len(corrections - {ChangeReason.MOVE_IN_NOTICE_RECORDED}) == 19
    assert not ChangeReason.MOVE_IN_NOTICE_RECORDED.notifiable
    labels = {r.label_ja for r in ChangeReason}
    for label in (
        "国内転入",
        "国外転入等",
        "出生",
        "国内転出",
        "国外転出",
        "死亡",
        "転居",
        "誤記修正",
        "住民票コードの変更請求",
        "世帯主変更",
        "旧氏の記載",
        "通称の削除",
    ):
        assert label in labels


def test_household_changes_are_not_identity_information() -> None:
    # 住基法30条の6第1項 lists the items; household membership is not one of them, nor
    # is the move-in notification written on a 除票 (15条の3第2項).
    household = {
        ChangeReason.HOUSEHOLD_SEPARATION,
        ChangeReason.HOUSEHOLD_MERGER,
        ChangeReason.HOUSEHOLD_CHANGE,
        ChangeReason.HEAD_OF_HOUSEHOLD_CHANGE,
    }
    assert {r for r in ChangeReason if not r.notifiable} == household | {
        ChangeReason.MOVE_IN_NOTICE_RECORDED
    }


def test_code_changing_reasons() -> None:
    # 令30条の5: the notice carries the previous code for these reasons.
    assert {r for r in ChangeReason if r.changes_resident_code} == {
        ChangeReason.RESIDENT_CODE_CHANGE_REQUEST,
        ChangeReason.RESIDENT_CODE_EX_OFFICIO_ENTRY,
    }
    assert all(r.kind is ChangeKind.CORRECTION for r in ChangeReason if r.changes_individual_number)


def test_from_label_needs_a_kind_for_shared_labels() -> None:
    with pytest.raises(InvalidComponent, match="several kinds"):
        ChangeReason.from_label("改製")
    assert ChangeReason.from_label("改製", ChangeKind.ENTRY) is ChangeReason.RECONSTRUCTION_ENTRY
    with pytest.raises(InvalidComponent, match="no change reason"):
        ChangeReason.from_label("引越し")
    with pytest.raises(TypeError):
        ChangeReason.from_label(3)  # type: ignore[arg-type]


def test_values_are_unique_and_stable() -> None:
    values = [r.value for r in ChangeReason]
    assert len(values) == len(set(values))
    assert ChangeReason("birth") is ChangeReason.BIRTH
    assert ChangeKind.ENTRY.label_ja == "記載"
