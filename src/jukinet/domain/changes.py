"""Kinds and reasons of change to a resident record (異動事由).

Every change to a 住民票 is one of three kinds (令30条の5): a record is created
(記載), removed (消除) or changed (修正). The reason (異動事由) is one of the
standard classification the municipal system must support (住民記録システム標準仕様書
第3章 j210). The law leaves the list to a ministerial ordinance and the numeric
codes of the CS interface are not public, so jukinet names the reasons itself;
the serialized value is the English member value, stable across releases.

Household-only changes (世帯分離, 世帯合併, 世帯変更, 世帯主変更) change the register
but are not identity information (住基法30条の6第1項 lists the items), so they
are not *notifiable*.

>>> ChangeReason.BIRTH.kind is ChangeKind.ENTRY
True
>>> ChangeReason.BIRTH.label_ja
'出生'
>>> ChangeReason.HEAD_OF_HOUSEHOLD_CHANGE.notifiable
False
>>> ChangeReason.from_label("死亡")
<ChangeReason.DEATH: 'death'>
"""

from __future__ import annotations

import enum
from typing import NamedTuple

from jukinet.errors import InvalidComponent

__all__ = ["ChangeKind", "ChangeReason"]


class ChangeKind(enum.Enum):
    """Kind of change (記載 / 消除 / 修正, 令30条の5)."""

    ENTRY = "entry"
    """記載 (kisai): a record was created."""
    REMOVAL = "removal"
    """消除 (shōjo): a record was removed and became a 除票."""
    CORRECTION = "correction"
    """修正 (shūsei): items of an existing record changed."""

    @property
    def label_ja(self) -> str:
        """The Japanese term (記載, 消除 or 修正)."""
        return {"entry": "記載", "removal": "消除", "correction": "修正"}[self.value]


class _ReasonInfo(NamedTuple):
    kind: ChangeKind
    label_ja: str
    notifiable: bool


_E, _R, _C = ChangeKind.ENTRY, ChangeKind.REMOVAL, ChangeKind.CORRECTION


class ChangeReason(enum.Enum):
    """Reason for a change (異動事由), grouped by :class:`ChangeKind`.

    The members are the standard classification (標準仕様書 j210). 改製, 再製 and
    異動の取消し appear under more than one kind; each appearance is its own member.
    """

    # 記載 (entry)
    DOMESTIC_MOVE_IN = "domestic_move_in"
    """国内転入: moved in from another municipality."""
    MOVE_IN_FROM_ABROAD = "move_in_from_abroad"
    """国外転入等: moved in from abroad, or similar."""
    BIRTH = "birth"
    """出生: birth."""
    EX_OFFICIO_ENTRY_NATURALIZATION = "ex_officio_entry_naturalization"
    """職権記載（帰化等）: entered by the mayor after naturalisation (Japanese residents)."""
    EX_OFFICIO_ENTRY_NATIONALITY_LOSS = "ex_officio_entry_nationality_loss"
    """職権記載（国籍喪失）: entered after losing Japanese nationality (foreign residents)."""
    EX_OFFICIO_ENTRY = "ex_officio_entry"
    """職権記載: other entry by the mayor's own authority."""
    RECONSTRUCTION_ENTRY = "reconstruction_entry"
    """改製 (記載): the record was rebuilt; the new record."""
    RECREATION_ENTRY = "recreation_entry"
    """再製 (記載): the record was remade after loss or damage; the new record."""
    CANCELLATION_ENTRY = "cancellation_entry"
    """異動の取消し（増）: a removal was cancelled and the record restored."""

    # 消除 (removal)
    DOMESTIC_MOVE_OUT = "domestic_move_out"
    """国内転出: moved out to another municipality."""
    MOVE_ABROAD = "move_abroad"
    """国外転出: moved abroad."""
    DEATH = "death"
    """死亡: death."""
    EX_OFFICIO_REMOVAL_NATURALIZATION = "ex_officio_removal_naturalization"
    """職権消除（帰化等）: removed after naturalisation (foreign residents)."""
    EX_OFFICIO_REMOVAL_NATIONALITY_LOSS = "ex_officio_removal_nationality_loss"
    """職権消除（国籍喪失）: removed after losing Japanese nationality (Japanese residents)."""
    EX_OFFICIO_REMOVAL = "ex_officio_removal"
    """職権消除: other removal by the mayor's own authority."""
    RECONSTRUCTION_REMOVAL = "reconstruction_removal"
    """改製 (消除): the record was rebuilt; the old record."""
    RECREATION_REMOVAL = "recreation_removal"
    """再製 (消除): the record was remade; the old record."""
    CANCELLATION_REMOVAL = "cancellation_removal"
    """異動の取消し（減）: an entry was cancelled and the record removed."""

    # 修正 (correction)
    MOVE_WITHIN = "move_within"
    """転居: moved within the municipality."""
    MINOR_CORRECTION = "minor_correction"
    """軽微な修正: minor correction."""
    EX_OFFICIO_CORRECTION = "ex_officio_correction"
    """職権修正: correction by the mayor's own authority (e.g. after a 戸籍 notification)."""
    CLERICAL_ERROR_CORRECTION = "clerical_error_correction"
    """誤記修正: correction of a clerical error."""
    INDIVIDUAL_NUMBER_CHANGE_REQUEST = "individual_number_change_request"
    """個人番号の変更請求: a new individual number on request (番号法7条2項)."""
    INDIVIDUAL_NUMBER_EX_OFFICIO_CORRECTION = "individual_number_ex_officio_correction"
    """個人番号の職権修正: the individual number corrected by the mayor."""
    INDIVIDUAL_NUMBER_EX_OFFICIO_ENTRY = "individual_number_ex_officio_entry"
    """個人番号の職権記載: the individual number entered by the mayor."""
    RESIDENT_CODE_CHANGE_REQUEST = "resident_code_change_request"
    """住民票コードの変更請求: a new resident code on request (住基法30条の4)."""
    RESIDENT_CODE_EX_OFFICIO_ENTRY = "resident_code_ex_officio_entry"
    """住民票コードの職権記載: the resident code entered or corrected by the mayor (令30条の4)."""
    HOUSEHOLD_SEPARATION = "household_separation"
    """世帯分離: left a household to form a new one."""
    HOUSEHOLD_MERGER = "household_merger"
    """世帯合併: two households merged."""
    HOUSEHOLD_CHANGE = "household_change"
    """世帯変更: moved from one household to another."""
    HEAD_OF_HOUSEHOLD_CHANGE = "head_of_household_change"
    """世帯主変更: the household head changed."""
    MOVE_IN_NOTICE_RECORDED = "move_in_notice_recorded"
    """転入通知による記載: on a move-out's 除票, the new address and the actual move date
    the new municipality's move-in notification gave (住基法9条1項, 15条の3第2項). Not
    identity information: no notice is sent."""
    FORMER_SURNAME_ENTRY = "former_surname_entry"
    """旧氏の記載: a former surname was entered (令30条の13)."""
    FORMER_SURNAME_CHANGE = "former_surname_change"
    """旧氏の変更: the former surname changed."""
    FORMER_SURNAME_DELETION = "former_surname_deletion"
    """旧氏の削除: the former surname was deleted."""
    ALIAS_ENTRY = "alias_entry"
    """通称の記載: an alias was entered (foreign residents, 令30条の26)."""
    ALIAS_DELETION = "alias_deletion"
    """通称の削除: the alias was deleted."""
    CANCELLATION_CORRECTION = "cancellation_correction"
    """異動の取消し（修正）: a correction was cancelled."""

    @property
    def kind(self) -> ChangeKind:
        """The kind of change this reason belongs to."""
        return _REASONS[self].kind

    @property
    def label_ja(self) -> str:
        """The Japanese term as in the standard specification."""
        return _REASONS[self].label_ja

    @property
    def notifiable(self) -> bool:
        """Whether the change produces an identity notice (住基法30条の6第1項).

        Household-only changes are not identity information and send none.
        """
        return _REASONS[self].notifiable

    @property
    def changes_resident_code(self) -> bool:
        """Whether this reason replaces the resident code (the notice carries the old one)."""
        return self in (
            ChangeReason.RESIDENT_CODE_CHANGE_REQUEST,
            ChangeReason.RESIDENT_CODE_EX_OFFICIO_ENTRY,
        )

    @property
    def changes_individual_number(self) -> bool:
        """Whether this reason replaces the individual number (the notice carries the old one)."""
        return self in (
            ChangeReason.INDIVIDUAL_NUMBER_CHANGE_REQUEST,
            ChangeReason.INDIVIDUAL_NUMBER_EX_OFFICIO_CORRECTION,
            ChangeReason.INDIVIDUAL_NUMBER_EX_OFFICIO_ENTRY,
        )

    @classmethod
    def of_kind(cls, kind: ChangeKind) -> tuple[ChangeReason, ...]:
        """Every reason of one kind, in declaration order.

        >>> [r.label_ja for r in ChangeReason.of_kind(ChangeKind.REMOVAL)][:3]
        ['国内転出', '国外転出', '死亡']
        """
        return tuple(reason for reason in cls if reason.kind is kind)

    @classmethod
    def from_label(cls, label: str, kind: ChangeKind | None = None) -> ChangeReason:
        """Find a reason by its Japanese label; ``kind`` settles 改製, 再製 and 取消し.

        >>> ChangeReason.from_label("改製", ChangeKind.REMOVAL)
        <ChangeReason.RECONSTRUCTION_REMOVAL: 'reconstruction_removal'>
        """
        if not isinstance(label, str):
            raise TypeError(f"change reason label: expected a str, got {type(label).__name__}")
        found = [
            reason
            for reason, info in _REASONS.items()
            if info.label_ja == label and (kind is None or info.kind is kind)
        ]
        if len(found) == 1:
            return found[0]
        if not found:
            raise InvalidComponent(
                f"no change reason is labelled {label!r}",
                field="change reason",
                expected="a label of the standard classification, e.g. 出生, 転居, 死亡",
            )
        raise InvalidComponent(
            f"the label {label!r} belongs to several kinds of change",
            field="change reason",
            expected="a kind (記載, 消除 or 修正) to choose between them",
        )


_REASONS: dict[ChangeReason, _ReasonInfo] = {
    ChangeReason.DOMESTIC_MOVE_IN: _ReasonInfo(_E, "国内転入", True),
    ChangeReason.MOVE_IN_FROM_ABROAD: _ReasonInfo(_E, "国外転入等", True),
    ChangeReason.BIRTH: _ReasonInfo(_E, "出生", True),
    ChangeReason.EX_OFFICIO_ENTRY_NATURALIZATION: _ReasonInfo(_E, "職権記載（帰化等）", True),
    ChangeReason.EX_OFFICIO_ENTRY_NATIONALITY_LOSS: _ReasonInfo(_E, "職権記載（国籍喪失）", True),
    ChangeReason.EX_OFFICIO_ENTRY: _ReasonInfo(_E, "職権記載", True),
    ChangeReason.RECONSTRUCTION_ENTRY: _ReasonInfo(_E, "改製", True),
    ChangeReason.RECREATION_ENTRY: _ReasonInfo(_E, "再製", True),
    ChangeReason.CANCELLATION_ENTRY: _ReasonInfo(_E, "異動の取消し（増）", True),
    ChangeReason.DOMESTIC_MOVE_OUT: _ReasonInfo(_R, "国内転出", True),
    ChangeReason.MOVE_ABROAD: _ReasonInfo(_R, "国外転出", True),
    ChangeReason.DEATH: _ReasonInfo(_R, "死亡", True),
    ChangeReason.EX_OFFICIO_REMOVAL_NATURALIZATION: _ReasonInfo(_R, "職権消除（帰化等）", True),
    ChangeReason.EX_OFFICIO_REMOVAL_NATIONALITY_LOSS: _ReasonInfo(_R, "職権消除（国籍喪失）", True),
    ChangeReason.EX_OFFICIO_REMOVAL: _ReasonInfo(_R, "職権消除", True),
    ChangeReason.RECONSTRUCTION_REMOVAL: _ReasonInfo(_R, "改製", True),
    ChangeReason.RECREATION_REMOVAL: _ReasonInfo(_R, "再製", True),
    ChangeReason.CANCELLATION_REMOVAL: _ReasonInfo(_R, "異動の取消し（減）", True),
    ChangeReason.MOVE_WITHIN: _ReasonInfo(_C, "転居", True),
    ChangeReason.MINOR_CORRECTION: _ReasonInfo(_C, "軽微な修正", True),
    ChangeReason.EX_OFFICIO_CORRECTION: _ReasonInfo(_C, "職権修正", True),
    ChangeReason.CLERICAL_ERROR_CORRECTION: _ReasonInfo(_C, "誤記修正", True),
    ChangeReason.INDIVIDUAL_NUMBER_CHANGE_REQUEST: _ReasonInfo(_C, "個人番号の変更請求", True),
    ChangeReason.INDIVIDUAL_NUMBER_EX_OFFICIO_CORRECTION: _ReasonInfo(
        _C, "個人番号の職権修正", True
    ),
    ChangeReason.INDIVIDUAL_NUMBER_EX_OFFICIO_ENTRY: _ReasonInfo(_C, "個人番号の職権記載", True),
    ChangeReason.RESIDENT_CODE_CHANGE_REQUEST: _ReasonInfo(_C, "住民票コードの変更請求", True),
    ChangeReason.RESIDENT_CODE_EX_OFFICIO_ENTRY: _ReasonInfo(_C, "住民票コードの職権記載", True),
    ChangeReason.HOUSEHOLD_SEPARATION: _ReasonInfo(_C, "世帯分離", False),
    ChangeReason.HOUSEHOLD_MERGER: _ReasonInfo(_C, "世帯合併", False),
    ChangeReason.HOUSEHOLD_CHANGE: _ReasonInfo(_C, "世帯変更", False),
    ChangeReason.HEAD_OF_HOUSEHOLD_CHANGE: _ReasonInfo(_C, "世帯主変更", False),
    ChangeReason.MOVE_IN_NOTICE_RECORDED: _ReasonInfo(_C, "転入通知による記載", False),
    ChangeReason.FORMER_SURNAME_ENTRY: _ReasonInfo(_C, "旧氏の記載", True),
    ChangeReason.FORMER_SURNAME_CHANGE: _ReasonInfo(_C, "旧氏の変更", True),
    ChangeReason.FORMER_SURNAME_DELETION: _ReasonInfo(_C, "旧氏の削除", True),
    ChangeReason.ALIAS_ENTRY: _ReasonInfo(_C, "通称の記載", True),
    ChangeReason.ALIAS_DELETION: _ReasonInfo(_C, "通称の削除", True),
    ChangeReason.CANCELLATION_CORRECTION: _ReasonInfo(_C, "異動の取消し（修正）", True),
}
