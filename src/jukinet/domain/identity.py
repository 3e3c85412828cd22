"""Identity confirmation information (本人確認情報, honnin kakunin jōhō) and its notices.

:class:`IdentityInfo` is the subset of a 住民票 that Juki Net carries (住基法30条の6
第1項): name with reading (and former surname or alias), birth date, sex, address,
individual number and resident code. It is derived from a
:class:`~jukinet.domain.resident.ResidentRecord` and never typed twice.

:class:`IdentityNotice` is what a municipality's communication server sends up
to the prefecture after every 記載, 消除 or 修正 of those items: the identity
information plus the kind, the reason and the date of the change, and the
previous resident code or individual number where one changed (令30条の5).
"""

from __future__ import annotations

from datetime import date

import attrs

from jukinet.domain._repr import set_fields_repr
from jukinet.domain._validate import instance_of as _type
from jukinet.domain.address import Address
from jukinet.domain.changes import ChangeKind, ChangeReason
from jukinet.domain.individual_number import IndividualNumber
from jukinet.domain.lg_code import LocalGovernmentCode
from jukinet.domain.names import PersonName
from jukinet.domain.resident import ResidentRecord, Sex, certificate_number
from jukinet.domain.resident_code import ResidentCode
from jukinet.errors import InvalidComponent

__all__ = ["IdentityInfo", "IdentityNotice"]


@attrs.frozen(kw_only=True, repr=False)
class IdentityInfo:
    """Identity confirmation information (本人確認情報, 住基法30条の6第1項).

    The four basic items (基本4情報: name, birth date, sex, address) plus the
    individual number and the resident code.

    Its repr, like every record's, shows only what is set and reads back with
    ``eval`` (the classes and ``datetime`` in scope):

    >>> from datetime import date
    >>> IdentityInfo(
    ...     resident_code=ResidentCode("12345678903"),
    ...     name=PersonName(family="山田", given="花子"),
    ...     birth_date=date(1990, 4, 1),
    ...     sex=Sex.FEMALE,
    ...     address=Address("131016", "千代田1番1号"),
    ... )
    IdentityInfo(resident_code=ResidentCode('12345678903'), name=PersonName(family='山田', given='花子'), birth_date=datetime.date(1990, 4, 1), sex=Sex.FEMALE, address=Address(municipality=LocalGovernmentCode('131016'), rest='千代田1番1号'))
    """

    __repr__ = set_fields_repr

    resident_code: ResidentCode = attrs.field(validator=_type("住民票コード", ResidentCode))
    name: PersonName = attrs.field(validator=_type("氏名", PersonName))
    birth_date: date = attrs.field(validator=_type("出生の年月日", date))
    sex: Sex = attrs.field(validator=_type("男女の別", Sex))
    address: Address = attrs.field(validator=_type("住所", Address))
    individual_number: IndividualNumber | None = attrs.field(
        default=None, validator=_type("個人番号", IndividualNumber, optional=True)
    )

    @classmethod
    def from_record(cls, record: ResidentRecord) -> IdentityInfo:
        """Derive the identity information from a resident record."""
        if not isinstance(record, ResidentRecord):
            raise TypeError(f"expected a ResidentRecord, got {type(record).__name__}")
        return cls(
            resident_code=record.resident_code,
            name=record.name,
            birth_date=record.birth_date,
            sex=record.sex,
            address=record.address,
            individual_number=record.individual_number,
        )

    @property
    def municipality(self) -> str:
        """The 6-digit code of the municipality of the address."""
        return self.address.municipality.value


@attrs.frozen(kw_only=True, repr=False)
class IdentityNotice:
    """A notice of identity information (本人確認情報の通知, 住基法30条の6; 令30条の5).

    ``kind`` follows from ``reason``. The previous resident code is carried
    exactly when the reason replaces the code (住民票コードの変更請求・職権記載), and
    the previous individual number exactly when the reason replaces that.
    Household-only reasons (世帯分離 …) are not identity information and cannot
    be notified. A domestic move-out (国内転出) carries the number of the move-out
    certificate it issued, and the domestic move-in (国内転入) that follows carries
    the same number and the municipality moved from (``moved_from``), so the upper
    tiers can tell which move-out a move-in follows (docs/tiers.md, invariant 3).
    """

    __repr__ = set_fields_repr

    info: IdentityInfo = attrs.field(validator=_type("本人確認情報", IdentityInfo))
    reason: ChangeReason = attrs.field(validator=_type("異動事由", ChangeReason))
    event_date: date = attrs.field(validator=_type("異動日", date))
    previous_resident_code: ResidentCode | None = attrs.field(
        default=None, validator=_type("従前の住民票コード", ResidentCode, optional=True)
    )
    previous_individual_number: IndividualNumber | None = attrs.field(
        default=None, validator=_type("従前の個人番号", IndividualNumber, optional=True)
    )
    moved_from: LocalGovernmentCode | None = attrs.field(
        default=None, validator=_type("転出地", LocalGovernmentCode, optional=True)
    )
    certificate: str | None = attrs.field(default=None, converter=certificate_number)

    def __attrs_post_init__(self) -> None:
        if not self.reason.notifiable:
            raise InvalidComponent(
                f"{self.reason.label_ja} changes no identity information",
                field="異動事由",
                expected="a reason that changes identity information (住基法30条の6第1項)",
            )
        if self.event_date < self.info.birth_date:
            raise InvalidComponent(
                f"the event date {self.event_date.isoformat()} is before the birth date",
                field="異動日",
                expected="a date on or after the birth date",
            )
        _check_previous(
            "従前の住民票コード",
            self.previous_resident_code,
            self.info.resident_code,
            required=self.reason.changes_resident_code,
        )
        _check_previous(
            "従前の個人番号",
            self.previous_individual_number,
            self.info.individual_number,
            required=self.reason.changes_individual_number,
            may_be_absent=self.reason is ChangeReason.INDIVIDUAL_NUMBER_EX_OFFICIO_ENTRY,
        )
        self._check_move()

    def _check_move(self) -> None:
        """A domestic move-out carries its certificate's number; the move-in that
        follows carries the same number and the municipality that issued it."""
        moves = (ChangeReason.DOMESTIC_MOVE_OUT, ChangeReason.DOMESTIC_MOVE_IN)
        if (self.certificate is not None) != (self.reason in moves):
            raise InvalidComponent(
                "a certificate number is carried exactly by a domestic move-out and"
                " the move-in that follows it",
                field="転出証明書の番号",
                expected=(
                    "the move-out certificate's number"
                    if self.reason in moves
                    else "no certificate number for this reason"
                ),
            )
        moving_in = self.reason is ChangeReason.DOMESTIC_MOVE_IN
        if (self.moved_from is not None) != moving_in:
            raise InvalidComponent(
                "the municipality moved from is carried exactly by a domestic move-in",
                field="転出地",
                expected="the municipality that issued the certificate"
                if moving_in
                else "no municipality moved from for this reason",
            )
        if self.moved_from is not None and self.moved_from.value == self.municipality:
            raise InvalidComponent(
                "a move within the municipality is a 転居, not a 転入",
                field="転出地",
                expected="another municipality than the new address's",
            )

    @property
    def kind(self) -> ChangeKind:
        """記載, 消除 or 修正, from the reason."""
        return self.reason.kind

    @property
    def resident_code(self) -> ResidentCode:
        """The resident code the notice is about (after the change)."""
        return self.info.resident_code

    @property
    def municipality(self) -> str:
        """The 6-digit code of the notifying municipality (the address's)."""
        return self.info.municipality

    @classmethod
    def for_change(
        cls,
        after: ResidentRecord,
        *,
        reason: ChangeReason,
        event_date: date,
        before: ResidentRecord | None = None,
    ) -> IdentityNotice:
        """Build the notice for a change from ``before`` (None for a 記載) to ``after``.

        The previous codes are taken from ``before`` where the reason replaces them.
        """
        previous_code = None
        previous_number = None
        moved_from = certificate = None
        if reason is ChangeReason.DOMESTIC_MOVE_OUT and after.removal is not None:
            certificate = after.removal.certificate
        if reason is ChangeReason.DOMESTIC_MOVE_IN and after.moved_in is not None:
            moved_from, certificate = after.moved_in.moved_from, after.moved_in.certificate
        if before is not None:
            if reason.changes_resident_code:
                previous_code = before.resident_code
            if reason.changes_individual_number:
                previous_number = before.individual_number
        return cls(
            info=IdentityInfo.from_record(after),
            reason=reason,
            event_date=event_date,
            previous_resident_code=previous_code,
            previous_individual_number=previous_number,
            moved_from=moved_from,
            certificate=certificate,
        )


def _check_previous(
    field: str,
    previous: ResidentCode | IndividualNumber | None,
    current: ResidentCode | IndividualNumber | None,
    *,
    required: bool,
    may_be_absent: bool = False,
) -> None:
    if not required and previous is not None:
        raise InvalidComponent(
            "this reason does not replace the code, so no previous code is carried",
            field=field,
            expected="no previous value for this reason (令30条の5)",
        )
    if required and previous is None and not may_be_absent:
        raise InvalidComponent(
            "the reason replaces the code, so the previous code must be carried",
            field=field,
            expected="the code before the change (令30条の5)",
        )
    if previous is not None and previous == current:
        raise InvalidComponent(
            "the previous code equals the current one",
            field=field,
            expected="a code different from the current one",
        )
