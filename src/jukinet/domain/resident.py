"""The resident record (住民票, jūminhyō) and its history.

A :class:`ResidentRecord` holds every item of 住基法7条 for one person, the items
of 30条の45 for foreign residents, the person's household membership and the
record's status: registered, or removed (除票, kept and never deleted,
住基法15条の2). A record never changes in place: each change is a new
:class:`RecordVersion` appended to a :class:`ResidentHistory`, whose rules say
which reason may change what.

Identity confirmation information (本人確認情報) is *derived* from a record by
:meth:`jukinet.domain.identity.IdentityInfo.from_record`; it is never typed twice.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Iterable
from datetime import date

import attrs

from jukinet.domain._repr import set_fields_repr
from jukinet.domain._validate import check_raw_length
from jukinet.domain._validate import instance_of as _type
from jukinet.domain._validate import not_before as _not_before
from jukinet.domain._validate import optional_text as _optional_text
from jukinet.domain._validate import text as _text
from jukinet.domain.address import Address
from jukinet.domain.changes import ChangeKind, ChangeReason
from jukinet.domain.individual_number import IndividualNumber
from jukinet.domain.lg_code import LocalGovernmentCode
from jukinet.domain.names import PersonName
from jukinet.domain.resident_code import ResidentCode
from jukinet.errors import InvalidComponent, InvalidFormat, InvalidState

__all__ = [
    "CERTIFICATE_NUMBER",
    "ChildAllowance",
    "FamilyRegister",
    "FamilyRegisterStatus",
    "ForeignResidentCategory",
    "ForeignResidentInfo",
    "HouseholdMembership",
    "InsurancePeriod",
    "MoveInEntry",
    "NationalPension",
    "RecordStatus",
    "RecordVersion",
    "Removal",
    "ResidentHistory",
    "ResidentRecord",
    "Sex",
    "certificate_number",
]


# Named converters (the attrs mypy plugin needs named functions).


def _domicile(value: object) -> str | None:
    return _optional_text(value, "本籍")


def _register_head(value: object) -> str | None:
    return _optional_text(value, "筆頭者", max_length=100)


def _household_id(value: object) -> str:
    return _text(value, "世帯番号", max_length=32)


def _relationship(value: object) -> str:
    return _text(value, "続柄", max_length=20)


def _previous_address(value: object) -> str:
    return _text(value, "従前の住所")


def _pension_category(value: object) -> str:
    return _text(value, "種別", max_length=20)


def _pension_number(value: object) -> str | None:
    return _optional_text(value, "基礎年金番号", max_length=10)


def _nationality(value: object) -> str:
    return _text(value, "国籍・地域", max_length=60)


def _residence_status(value: object) -> str | None:
    return _optional_text(value, "在留資格", max_length=60)


def _period_of_stay(value: object) -> str | None:
    return _optional_text(value, "在留期間", max_length=30)


def _card_number(value: object) -> str | None:
    return _optional_text(value, "在留カード等の番号", max_length=12)


def _destination(value: object) -> str | None:
    return _optional_text(value, "転出先")


CERTIFICATE_NUMBER = re.compile(r"[0-9a-f]{32}")
"""A move-out certificate's number: 32 lowercase hexadecimal digits (128 random bits)."""


def certificate_number(value: object, field: str = "転出証明書の番号") -> str | None:
    """Check a move-out certificate's number (None passes through).

    The number binds a move-in to the move-out it follows: the old municipality
    draws it when it removes the person (国内転出, 住基法24条) and writes it on the
    certificate and in its notice; the new municipality's move-in notice carries it
    back, so an upper tier accepts the move-in only after *that* move-out
    (docs/tiers.md, invariant 3). jukinet's own binding: the law's attached
    information (令30条の5) names no such number.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{field}: expected a str, got {type(value).__name__}")
    if not CERTIFICATE_NUMBER.fullmatch(value):
        raise InvalidFormat(
            "the certificate number is malformed",
            field=field,
            expected="32 lowercase hexadecimal digits",
        )
    return value


class Sex(enum.Enum):
    """Sex (男女の別, danjo no betsu, 住基法7条3号)."""

    MALE = "male"
    FEMALE = "female"

    @property
    def label_ja(self) -> str:
        """男 or 女."""
        return "男" if self is Sex.MALE else "女"

    @property
    def code(self) -> int:
        """The numeric code of ISO/IEC 5218 and JIS X 0303: 1 male, 2 female."""
        return 1 if self is Sex.MALE else 2


class RecordStatus(enum.Enum):
    """Whether a 住民票 is in force or removed (除票, johyō)."""

    REGISTERED = "registered"
    REMOVED = "removed"


class FamilyRegisterStatus(enum.Enum):
    """How the family register is shown (戸籍の表示, 住基法7条5号)."""

    KNOWN = "known"
    """本籍 and 筆頭者 are recorded."""
    NONE = "none"
    """The person has no family register (無籍)."""
    UNKNOWN = "unknown"
    """The family register is not known (不明)."""


@attrs.frozen(kw_only=True, repr=False)
class FamilyRegister:
    """Family register shown on the record (戸籍の表示, koseki no hyōji, 住基法7条5号).

    Japanese residents only: the registered domicile (本籍) and the head of the
    register (筆頭者), or a statement that there is none or it is unknown.

    >>> FamilyRegister(domicile="東京都千代田区千代田1番", head="山田 太郎").status
    <FamilyRegisterStatus.KNOWN: 'known'>
    >>> FamilyRegister(status=FamilyRegisterStatus.UNKNOWN).domicile is None
    True
    """

    __repr__ = set_fields_repr

    domicile: str | None = attrs.field(default=None, converter=_domicile)
    head: str | None = attrs.field(default=None, converter=_register_head)
    status: FamilyRegisterStatus = attrs.field(
        default=FamilyRegisterStatus.KNOWN, validator=_type("戸籍の表示", FamilyRegisterStatus)
    )

    def __attrs_post_init__(self) -> None:
        given = (self.domicile is not None, self.head is not None)
        if given != ((True, True) if self.status is FamilyRegisterStatus.KNOWN else (False, False)):
            raise InvalidComponent(
                "本籍 and 筆頭者 must both be given exactly when the register is known",
                field="戸籍の表示",
                expected="domicile and head with status KNOWN, neither with NONE or UNKNOWN",
            )


HEAD_OF_HOUSEHOLD = "世帯主"
"""The relationship (続柄) of a household head to themself."""


@attrs.frozen(kw_only=True, repr=False)
class HouseholdMembership:
    """Household membership (世帯, setai, 住基法7条4号).

    ``relationship`` is the 続柄 to the head; the head's own is ``"世帯主"``. A
    member who is not the head names the head (世帯主の氏名).

    >>> HouseholdMembership(household_id="S0001", relationship="世帯主").is_head
    True
    >>> HouseholdMembership(household_id="S0001", relationship="子")
    Traceback (most recent call last):
    ...
    jukinet.errors.InvalidComponent: 世帯主の氏名: a member who is not the head must name the head (expected head_name for relationship '子')
    """

    __repr__ = set_fields_repr

    household_id: str = attrs.field(converter=_household_id)
    relationship: str = attrs.field(converter=_relationship)
    head_name: PersonName | None = attrs.field(
        default=None, validator=_type("世帯主の氏名", PersonName, optional=True)
    )

    @property
    def is_head(self) -> bool:
        """Whether this person is the household head."""
        return self.relationship == HEAD_OF_HOUSEHOLD

    def __attrs_post_init__(self) -> None:
        if self.is_head and self.head_name is not None:
            raise InvalidComponent(
                "the head's own record does not name a head",
                field="世帯主の氏名",
                expected="no head_name when relationship is 世帯主",
            )
        if not self.is_head and self.head_name is None:
            raise InvalidComponent(
                "a member who is not the head must name the head",
                field="世帯主の氏名",
                expected=f"head_name for relationship {self.relationship!r}",
            )


@attrs.frozen(kw_only=True, repr=False)
class MoveInEntry:
    """For a person who moved in: the notification date and previous address (住基法7条8号).

    A move-in from another municipality (国内転入) also names that municipality
    (``moved_from``) and the number of the move-out certificate it used
    (``certificate``, see :func:`certificate_number`).
    """

    __repr__ = set_fields_repr

    notified_on: date = attrs.field(validator=_type("転入届の年月日", date))
    previous_address: str = attrs.field(converter=_previous_address)
    moved_from: LocalGovernmentCode | None = attrs.field(
        default=None, validator=_type("転出地", LocalGovernmentCode, optional=True)
    )
    certificate: str | None = attrs.field(default=None, converter=certificate_number)

    def __attrs_post_init__(self) -> None:
        if (self.moved_from is None) != (self.certificate is None):
            raise InvalidComponent(
                "a move-in from another municipality names both the municipality and"
                " the certificate's number",
                field="転出証明書",
                expected="moved_from and certificate together, or neither",
            )


@attrs.frozen(kw_only=True, repr=False)
class InsurancePeriod:
    """A period of enrolment (資格取得 / 喪失), for NHI, late-stage elderly and care insurance."""

    __repr__ = set_fields_repr

    acquired_on: date = attrs.field(validator=_type("資格取得の年月日", date))
    lost_on: date | None = attrs.field(
        default=None, validator=_type("資格喪失の年月日", date, optional=True)
    )

    def __attrs_post_init__(self) -> None:
        _not_before("資格喪失の年月日", self.lost_on, self.acquired_on, "date of acquisition")


_BASIC_PENSION_NUMBER = re.compile(r"[0-9]{10}")


@attrs.frozen(kw_only=True, repr=False)
class NationalPension:
    """National pension, category-1 insured status (国民年金, 住基法7条11号; 令5条)."""

    __repr__ = set_fields_repr

    acquired_on: date = attrs.field(validator=_type("資格取得の年月日", date))
    category: str = attrs.field(converter=_pension_category)
    category_changed_on: date | None = attrs.field(
        default=None, validator=_type("種別変更の年月日", date, optional=True)
    )
    lost_on: date | None = attrs.field(
        default=None, validator=_type("資格喪失の年月日", date, optional=True)
    )
    basic_pension_number: str | None = attrs.field(default=None, converter=_pension_number)

    def __attrs_post_init__(self) -> None:
        _not_before("資格喪失の年月日", self.lost_on, self.acquired_on, "date of acquisition")
        _not_before("種別変更の年月日", self.category_changed_on, self.acquired_on, "acquisition")
        number = self.basic_pension_number
        if number is not None and not _BASIC_PENSION_NUMBER.fullmatch(number):
            raise InvalidFormat(
                "the basic pension number is not 10 digits",
                field="基礎年金番号",
                expected="10 digits 0-9",
            )


@attrs.frozen(kw_only=True, repr=False)
class ChildAllowance:
    """Child allowance (児童手当, 住基法7条11号の2; 令6条): first and last month paid."""

    __repr__ = set_fields_repr

    start_month: date = attrs.field(validator=_type("支給開始月", date))
    end_month: date | None = attrs.field(
        default=None, validator=_type("支給終了月", date, optional=True)
    )

    def __attrs_post_init__(self) -> None:
        for field, value in (("支給開始月", self.start_month), ("支給終了月", self.end_month)):
            if value is not None and value.day != 1:
                raise InvalidComponent(
                    f"{value.isoformat()} is not the first day of a month",
                    field=field,
                    expected="a month, given as its first day",
                )
        _not_before("支給終了月", self.end_month, self.start_month, "start month")


class ForeignResidentCategory(enum.Enum):
    """Category of foreign resident (住基法30条の45の表)."""

    MID_LONG_TERM = "mid_long_term"
    """中長期在留者."""
    SPECIAL_PERMANENT = "special_permanent"
    """特別永住者."""
    TEMPORARY_REFUGE = "temporary_refuge"
    """一時庇護許可者."""
    PROVISIONAL_STAY = "provisional_stay"
    """仮滞在許可者."""
    TRANSITIONAL_BIRTH = "transitional_birth"
    """出生による経過滞在者."""
    TRANSITIONAL_NATIONALITY_LOSS = "transitional_nationality_loss"
    """国籍喪失による経過滞在者."""

    @property
    def label_ja(self) -> str:
        """The Japanese term."""
        return {
            "mid_long_term": "中長期在留者",
            "special_permanent": "特別永住者",
            "temporary_refuge": "一時庇護許可者",
            "provisional_stay": "仮滞在許可者",
            "transitional_birth": "出生による経過滞在者",
            "transitional_nationality_loss": "国籍喪失による経過滞在者",
        }[self.value]


_CARD_NUMBER = re.compile(r"[A-Z]{2}[0-9]{8}[A-Z]{2}")


@attrs.frozen(kw_only=True, repr=False)
class ForeignResidentInfo:
    """Items recorded for foreign residents (外国人住民, 住基法30条の45).

    ``card_number`` is the 在留カード / 特別永住者証明書 number: two letters, eight
    digits, two letters.
    """

    __repr__ = set_fields_repr

    nationality: str = attrs.field(converter=_nationality)
    category: ForeignResidentCategory = attrs.field(
        validator=_type("外国人住民の区分", ForeignResidentCategory)
    )
    became_foreign_resident_on: date = attrs.field(
        validator=_type("外国人住民となった年月日", date)
    )
    residence_status: str | None = attrs.field(default=None, converter=_residence_status)
    period_of_stay: str | None = attrs.field(default=None, converter=_period_of_stay)
    stay_expires_on: date | None = attrs.field(
        default=None, validator=_type("在留期間の満了の日", date, optional=True)
    )
    card_number: str | None = attrs.field(default=None, converter=_card_number)

    def __attrs_post_init__(self) -> None:
        if self.card_number is not None and not _CARD_NUMBER.fullmatch(self.card_number):
            raise InvalidFormat(
                "the residence card number is malformed",
                field="在留カード等の番号",
                expected="2 letters, 8 digits, 2 letters (e.g. AB12345678CD)",
            )
        if self.category is ForeignResidentCategory.MID_LONG_TERM and (
            self.residence_status is None or self.stay_expires_on is None
        ):
            raise InvalidComponent(
                "a mid- to long-term resident needs a residence status and an expiry date",
                field="在留資格",
                expected="residence_status and stay_expires_on for 中長期在留者",
            )


@attrs.frozen(kw_only=True, repr=False)
class Removal:
    """Why and when a record was removed (除票の記載, 住基法15条の2・15条の3).

    ``destination`` is the new address given at a move-out; ``move_confirmed_on``
    is the actual move date once the new municipality's notice (転入通知, 9条1項)
    has arrived; ``certificate`` the number of the move-out certificate a domestic
    move-out issued (:func:`certificate_number`).
    """

    __repr__ = set_fields_repr

    reason: ChangeReason = attrs.field(validator=_type("消除の事由", ChangeReason))
    removed_on: date = attrs.field(validator=_type("消除の年月日", date))
    destination: str | None = attrs.field(default=None, converter=_destination)
    move_confirmed_on: date | None = attrs.field(
        default=None, validator=_type("転入通知による異動の年月日", date, optional=True)
    )
    certificate: str | None = attrs.field(default=None, converter=certificate_number)

    def __attrs_post_init__(self) -> None:
        if self.certificate is not None and self.reason is not ChangeReason.DOMESTIC_MOVE_OUT:
            raise InvalidComponent(
                "only a domestic move-out issues a move-out certificate",
                field="転出証明書の番号",
                expected="no certificate number for this reason",
            )
        if self.reason.kind is not ChangeKind.REMOVAL:
            raise InvalidComponent(
                f"{self.reason.label_ja} is not a reason for removal",
                field="消除の事由",
                expected="a 消除 reason such as 国内転出 or 死亡",
            )
        moves = (ChangeReason.DOMESTIC_MOVE_OUT, ChangeReason.MOVE_ABROAD)
        if self.destination is not None and self.reason not in moves:
            raise InvalidComponent(
                "only a move-out records a destination",
                field="転出先",
                expected="no destination for this reason",
            )
        if self.move_confirmed_on is not None and self.reason is not ChangeReason.DOMESTIC_MOVE_OUT:
            raise InvalidComponent(
                "only a domestic move-out is confirmed by a move-in notice",
                field="転入通知による異動の年月日",
                expected="no confirmation date for this reason",
            )


_INTERNAL_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,31}")


def _internal_id(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"宛名番号: expected a str, got {type(value).__name__}")
    check_raw_length(value, "宛名番号", 32)
    text = unicodedata.normalize("NFKC", value).strip()
    if not _INTERNAL_ID.fullmatch(text):
        raise InvalidFormat(
            f"{text!r} is not a valid internal number",
            field="宛名番号",
            expected="1 to 32 letters, digits, '-' or '_', starting with a letter or digit",
        )
    return text


@attrs.frozen(kw_only=True, repr=False)
class ResidentRecord:
    """Resident record (住民票, jūminhyō): every item of 住基法7条 for one person.

    ``internal_id`` is the municipality's own number for the person (宛名番号).
    Exactly one of ``family_register`` (Japanese residents, 7条5号) and
    ``foreign`` (foreign residents, 30条の45) is given. An alias (通称) and
    electoral registration follow from that: only foreign residents have an alias,
    and only Japanese residents are on the electoral register.

    The record is in force while ``status`` is REGISTERED; a removed record (除票)
    carries its :class:`Removal`.
    """

    __repr__ = set_fields_repr

    internal_id: str = attrs.field(converter=_internal_id)
    resident_code: ResidentCode = attrs.field(validator=_type("住民票コード", ResidentCode))
    name: PersonName = attrs.field(validator=_type("氏名", PersonName))
    birth_date: date = attrs.field(validator=_type("出生の年月日", date))
    sex: Sex = attrs.field(validator=_type("男女の別", Sex))
    household: HouseholdMembership = attrs.field(validator=_type("世帯", HouseholdMembership))
    address: Address = attrs.field(validator=_type("住所", Address))
    resident_since: date = attrs.field(validator=_type("住民となった年月日", date))
    address_since: date | None = attrs.field(
        default=None, validator=_type("住所を定めた年月日", date, optional=True)
    )
    individual_number: IndividualNumber | None = attrs.field(
        default=None, validator=_type("個人番号", IndividualNumber, optional=True)
    )
    family_register: FamilyRegister | None = attrs.field(
        default=None, validator=_type("戸籍の表示", FamilyRegister, optional=True)
    )
    foreign: ForeignResidentInfo | None = attrs.field(
        default=None, validator=_type("外国人住民", ForeignResidentInfo, optional=True)
    )
    moved_in: MoveInEntry | None = attrs.field(
        default=None, validator=_type("転入", MoveInEntry, optional=True)
    )
    electoral_register: bool = attrs.field(default=False, validator=_type("選挙人名簿", bool))
    national_health_insurance: InsurancePeriod | None = attrs.field(
        default=None, validator=_type("国民健康保険", InsurancePeriod, optional=True)
    )
    late_stage_elderly_insurance: InsurancePeriod | None = attrs.field(
        default=None, validator=_type("後期高齢者医療", InsurancePeriod, optional=True)
    )
    long_term_care_insurance: InsurancePeriod | None = attrs.field(
        default=None, validator=_type("介護保険", InsurancePeriod, optional=True)
    )
    national_pension: NationalPension | None = attrs.field(
        default=None, validator=_type("国民年金", NationalPension, optional=True)
    )
    child_allowance: ChildAllowance | None = attrs.field(
        default=None, validator=_type("児童手当", ChildAllowance, optional=True)
    )
    rice_ration: bool = attrs.field(default=False, validator=_type("米穀の配給", bool))
    status: RecordStatus = attrs.field(
        default=RecordStatus.REGISTERED, validator=_type("状態", RecordStatus)
    )
    removal: Removal | None = attrs.field(
        default=None, validator=_type("消除", Removal, optional=True)
    )

    def __attrs_post_init__(self) -> None:
        if (self.family_register is None) == (self.foreign is None):
            raise InvalidComponent(
                "a record needs exactly one of family_register and foreign",
                field="戸籍の表示 / 外国人住民",
                expected="family_register for a Japanese resident, foreign for a foreign resident",
            )
        if self.foreign is None and self.name.alias is not None:
            raise InvalidComponent(
                "only foreign residents have an alias (通称)",
                field="通称",
                expected="no alias on a Japanese resident's record",
            )
        if self.foreign is not None and self.electoral_register:
            raise InvalidComponent(
                "foreign residents are not on the electoral register",
                field="選挙人名簿",
                expected="electoral_register=False for a foreign resident",
            )
        if (self.status is RecordStatus.REMOVED) != (self.removal is not None):
            raise InvalidComponent(
                "a removed record needs a removal, a registered one must not have one",
                field="消除",
                expected="removal exactly when status is REMOVED",
            )
        _not_before("住民となった年月日", self.resident_since, self.birth_date, "birth date")
        _not_before("住所を定めた年月日", self.address_since, self.birth_date, "birth date")
        if self.removal is not None:
            _not_before("消除の年月日", self.removal.removed_on, self.birth_date, "birth date")
        if self.foreign is not None:
            became = self.foreign.became_foreign_resident_on
            _not_before("外国人住民となった年月日", became, self.birth_date, "birth date")

    @property
    def is_foreign_resident(self) -> bool:
        """Whether this is a foreign resident's record (外国人住民, 30条の45)."""
        return self.foreign is not None

    @property
    def is_removed(self) -> bool:
        """Whether this is a removed record (除票)."""
        return self.status is RecordStatus.REMOVED

    @property
    def municipality(self) -> str:
        """The 6-digit code of the municipality whose register holds the record."""
        return self.address.municipality.value


@attrs.frozen(kw_only=True, repr=False)
class RecordVersion:
    """One version of a record: the record as it stood after one change.

    ``event_date`` is when the change happened (異動日); ``processed_on`` when the
    municipality recorded it (処理日). A notifiable change produces one identity
    notice; a household change does not.
    """

    __repr__ = set_fields_repr

    version: int = attrs.field(validator=_type("版", int))
    record: ResidentRecord = attrs.field(validator=_type("住民票", ResidentRecord))
    reason: ChangeReason = attrs.field(validator=_type("異動事由", ChangeReason))
    event_date: date = attrs.field(validator=_type("異動日", date))
    processed_on: date = attrs.field(validator=_type("処理日", date))

    def __attrs_post_init__(self) -> None:
        if self.version < 1:
            raise InvalidComponent(
                f"version {self.version} is not positive", field="版", expected="1 or more"
            )
        _not_before("処理日", self.processed_on, self.event_date, "event date")

    @property
    def kind(self) -> ChangeKind:
        """記載, 消除 or 修正, from the reason."""
        return self.reason.kind


def _versions(value: object) -> tuple[RecordVersion, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise TypeError(f"履歴: expected a sequence of RecordVersion, got {type(value).__name__}")
    versions = tuple(value)
    for version in versions:
        if not isinstance(version, RecordVersion):
            raise TypeError(f"履歴: expected RecordVersion items, got {type(version).__name__}")
    return versions


@attrs.frozen
class ResidentHistory:
    """Every version of one person's record, oldest first; nothing is overwritten.

    :meth:`start` opens a history with a 記載; :meth:`append` adds a change and
    returns a new history, checking the rules below. The current record is the
    last version's.

    * The first version is a 記載 (entry) of a registered record.
    * A 消除 reason yields a removed record whose removal names that reason; a
      修正 keeps the status; a 記載 only re-registers a removed record (a person
      moving back in, keeping their internal number, or 異動の取消し（増）).
    * The internal number never changes; the resident code changes only for a
      resident-code reason (住基法30条の4), and the individual number only for an
      individual-number reason.
    * Versions are numbered 1, 2, 3 … and processing dates never go backwards.
    """

    versions: tuple[RecordVersion, ...] = attrs.field(converter=_versions)

    def __attrs_post_init__(self) -> None:
        if not self.versions:
            raise InvalidComponent(
                "a history has no versions", field="履歴", expected="at least one version"
            )
        first = self.versions[0]
        if first.version != 1 or first.kind is not ChangeKind.ENTRY or first.record.is_removed:
            raise InvalidComponent(
                "a history must open with version 1, an entry (記載) of a registered record",
                field="履歴",
                expected="version 1 with a 記載 reason such as 出生 or 国内転入",
            )
        for before, after in zip(self.versions, self.versions[1:], strict=False):
            _check_step(before, after)

    @classmethod
    def start(
        cls, record: ResidentRecord, *, reason: ChangeReason, event_date: date, processed_on: date
    ) -> ResidentHistory:
        """Open a history with the first version of ``record``."""
        return cls(
            (
                RecordVersion(
                    version=1,
                    record=record,
                    reason=reason,
                    event_date=event_date,
                    processed_on=processed_on,
                ),
            )
        )

    @property
    def current(self) -> ResidentRecord:
        """The record as it stands now."""
        return self.versions[-1].record

    @property
    def latest(self) -> RecordVersion:
        """The newest version."""
        return self.versions[-1]

    def append(
        self,
        record: ResidentRecord,
        *,
        reason: ChangeReason,
        event_date: date,
        processed_on: date,
    ) -> ResidentHistory:
        """Return a new history with ``record`` as the next version."""
        version = RecordVersion(
            version=self.latest.version + 1,
            record=record,
            reason=reason,
            event_date=event_date,
            processed_on=processed_on,
        )
        return ResidentHistory((*self.versions, version))


def _check_step(before: RecordVersion, after: RecordVersion) -> None:
    old, new, reason = before.record, after.record, after.reason
    if after.version != before.version + 1:
        raise InvalidComponent(
            f"version {after.version} follows version {before.version}",
            field="版",
            expected=f"version {before.version + 1}",
        )
    if after.processed_on < before.processed_on:
        raise InvalidComponent(
            "the processing date goes backwards",
            field="処理日",
            expected=f"on or after {before.processed_on.isoformat()}",
        )
    if new.internal_id != old.internal_id:
        raise InvalidState(
            "a change cannot give the record another internal number",
            field="宛名番号",
            expected=old.internal_id,
        )
    if new.resident_code != old.resident_code and not reason.changes_resident_code:
        raise InvalidState(
            f"{reason.label_ja} cannot change the resident code",
            field="住民票コード",
            expected="住民票コードの変更請求 or 住民票コードの職権記載 (住基法30条の4)",
        )
    if new.individual_number != old.individual_number and not reason.changes_individual_number:
        raise InvalidState(
            f"{reason.label_ja} cannot change the individual number",
            field="個人番号",
            expected="an individual-number reason (個人番号の変更請求 …)",
        )
    if reason.kind is ChangeKind.REMOVAL:
        if old.is_removed:
            raise InvalidState(
                "the record is already removed", field="消除", expected="a registered record"
            )
        if new.removal is None or new.removal.reason is not reason:
            raise InvalidState(
                f"a {reason.label_ja} must remove the record with that reason",
                field="消除",
                expected=f"status REMOVED with removal reason {reason.label_ja}",
            )
    elif reason.kind is ChangeKind.ENTRY:
        if not old.is_removed or new.is_removed:
            raise InvalidState(
                f"{reason.label_ja} can only restore a removed record",
                field="記載",
                expected="a removed record becoming registered",
            )
    elif new.status is not old.status or (
        old.removal is not None
        and new.removal is not None
        and new.removal.reason is not old.removal.reason
    ):
        raise InvalidState(
            f"a correction ({reason.label_ja}) cannot change the record's status",
            field="状態",
            expected=old.status.value,
        )
