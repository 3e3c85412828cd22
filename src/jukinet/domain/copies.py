"""Wide-area copies of the 住民票 (住民票の写しの広域交付, 住基法12条の4).

A registered person may ask a municipality other than their home municipality
(住所地) for a copy of their own 住民票 or of the 住民票 of members of their
household (住基法12条の4第1項). The issuing municipality (交付地) asks the home
municipality over the network, and prints what comes back. What such a copy
shows is fixed by law:

* **Never shown** (12条の4第1項): 7条5号 (戸籍の表示: 本籍 and 筆頭者), 9号
  (選挙人名簿), 10号〜12号 (国民健康保険, 後期高齢者医療, 介護保険, 国民年金,
  児童手当, 米穀の配給) and 14号 (the items a cabinet order adds: the former
  surname 旧氏, 令30条の13, and a foreign resident's alias 通称, 令30条の26).
* **Shown only when specially asked** (12条の4第4項): 4号 (世帯主 and 続柄),
  8号の2 (個人番号) and 13号 (住民票コード); see :class:`CopyOptions`.
* **Always shown**: 1号 (氏名), 1号の2 (its reading, when recorded), 2号, 3号,
  6号〜8号, and for a foreign resident the items of 30条の45 (nationality or
  region, the date they became a foreign resident, their category, residence
  status, period and expiry of stay, card number).

The municipality's own numbers (宛名番号, 世帯番号) and the move-out certificate's
number are not items of the 住民票 and never appear either. A removed record
(除票) is not issued this way.

:func:`copy_items` selects and renders one person's items (dates in 和暦, see
:func:`jukinet.domain.era.format_wareki`); :func:`make_copy` builds the whole
document, :class:`ResidentCopy`, for one person or several of one household.
Pure: nothing here reads a clock or a store.

>>> from datetime import date
>>> from jukinet.testing.examples import resident_record
>>> copy = make_copy(
...     [resident_record()], home=LocalGovernmentCode("131016"),
...     issued_by=LocalGovernmentCode("011011"), issued_on=date(2025, 6, 2),
...     request_digest="ab" * 32, options=CopyOptions())
>>> [item.label for item in copy.persons[0]]
['氏名', '氏名の振り仮名', '出生の年月日', '男女の別', '住民となった年月日', '住所']
>>> "東京都千代田区千代田1番" in copy.to_text()  # 本籍 (7条5号) is never shown
False
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

import attrs

from jukinet.domain._validate import instance_of as _type
from jukinet.domain._validate import text as _text
from jukinet.domain.era import FIRST_SUPPORTED_DATE, format_wareki
from jukinet.domain.lg_code import LocalGovernmentCode
from jukinet.domain.resident import HEAD_OF_HOUSEHOLD, ResidentRecord
from jukinet.errors import InvalidComponent, InvalidFormat, InvalidState

__all__ = [
    "ALWAYS_OMITTED",
    "OPTIONAL_ITEMS",
    "SHOWN_ARTICLES",
    "TITLE",
    "WIDE_AREA_START",
    "CopyItem",
    "CopyOptions",
    "ResidentCopy",
    "copy_items",
    "make_copy",
]

TITLE = "住民票の写し(広域交付)"
"""The title printed at the head of every wide-area copy."""

WIDE_AREA_START = date(2003, 8, 25)
"""The day wide-area copies began (the second stage of Juki Net); earlier issue dates are refused."""

ALWAYS_OMITTED: tuple[tuple[str, str], ...] = (
    ("7条5号", "本籍・筆頭者"),
    ("7条9号", "選挙人名簿"),
    ("7条10号〜12号", "国民健康保険・後期高齢者医療・介護保険・国民年金・児童手当・米穀の配給"),
    ("7条14号", "政令で定める事項 (旧氏・通称)"),
)
"""(article, what) of the items a wide-area copy never shows (住基法12条の4第1項)."""

OPTIONAL_ITEMS: tuple[tuple[str, str, str], ...] = (
    ("7条4号", "世帯主・続柄", "relationship"),
    ("7条8号の2", "個人番号", "individual_number"),
    ("7条13号", "住民票コード", "resident_code"),
)
"""(article, label, :class:`CopyOptions` field) of the items shown only when specially
asked (住基法12条の4第4項)."""

_FOREIGN = "30条の45"

SHOWN_ARTICLES = frozenset(
    ["7条1号", "7条1号の2", "7条2号", "7条3号", "7条6号", "7条7号", "7条8号", _FOREIGN]
    + [article for article, _, _ in OPTIONAL_ITEMS]
)
"""Every article a :class:`CopyItem` may cite; any other (7条5号 …) is refused."""

_DIGEST = re.compile(r"[0-9a-f]{64}")
_NOT_RECORDED = "記載なし"


def _article(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"条項: expected a str, got {type(value).__name__}")
    if value not in SHOWN_ARTICLES:
        raise InvalidComponent(
            f"{value!r} is not an item a wide-area copy shows",
            field="条項",
            expected=(
                "one of " + ", ".join(sorted(SHOWN_ARTICLES)) + " (7条5号・9号〜12号・14号 are "
                "never shown, 住基法12条の4第1項)"
            ),
        )
    return value


def _label(value: object) -> str:
    return _text(value, "項目名", max_length=40)


def _value(value: object) -> str:
    return _text(value, "記載内容", max_length=500)


@attrs.frozen(kw_only=True)
class CopyOptions:
    """What the requester specially asked to be shown (住基法12条の4第4項).

    Each item is left out unless asked for: ``relationship`` the household head
    and the relationship to them (7条4号), ``individual_number`` the 個人番号
    (7条8号の2), ``resident_code`` the 住民票コード (7条13号).

    >>> CopyOptions(resident_code=True).asked
    ('7条13号',)
    >>> CopyOptions().asked
    ()
    """

    relationship: bool = attrs.field(default=False, validator=_type("世帯主・続柄", bool))
    individual_number: bool = attrs.field(default=False, validator=_type("個人番号", bool))
    resident_code: bool = attrs.field(default=False, validator=_type("住民票コード", bool))

    @property
    def asked(self) -> tuple[str, ...]:
        """The articles asked for, in the order of 7条."""
        return tuple(article for article, _, name in OPTIONAL_ITEMS if getattr(self, name))


@attrs.frozen(kw_only=True)
class CopyItem:
    """One printed line of a wide-area copy: the article it comes from, a label, the text.

    ``article`` is one of :data:`SHOWN_ARTICLES` (``"7条1号"`` … ``"7条13号"``, or
    ``"30条の45"`` for a foreign resident's items); an item the law leaves out of
    a wide-area copy cannot be built (住基法12条の4第1項).

    >>> CopyItem(article="7条3号", label="男女の別", value="女").value
    '女'
    >>> CopyItem(article="7条5号", label="本籍", value="東京都千代田区千代田1番")
    Traceback (most recent call last):
    ...
    jukinet.errors.InvalidComponent: 条項: '7条5号' is not an item a wide-area copy shows (expected one of ...)
    """

    article: str = attrs.field(converter=_article)
    label: str = attrs.field(converter=_label)
    value: str = attrs.field(converter=_value)

    def to_data(self) -> dict[str, str]:
        """The item as ``{"article": …, "label": …, "value": …}``.

        >>> CopyItem(article="7条3号", label="男女の別", value="女").to_data()
        {'article': '7条3号', 'label': '男女の別', 'value': '女'}
        """
        return {"article": self.article, "label": self.label, "value": self.value}


def _wareki(day: date, field: str) -> str:
    if day < FIRST_SUPPORTED_DATE:
        raise InvalidComponent(
            f"{day.isoformat()} cannot be written as an era date",
            field=field,
            expected=f"a date on or after {FIRST_SUPPORTED_DATE.isoformat()}",
        )
    return format_wareki(day)


def _relationship_text(record: ResidentRecord) -> str:
    household = record.household
    if household.is_head or household.head_name is None:
        return HEAD_OF_HOUSEHOLD
    return f"世帯主 {household.head_name.full}、続柄 {household.relationship}"


def _foreign_items(record: ResidentRecord) -> list[CopyItem]:
    info = record.foreign
    if info is None:
        return []
    became = _wareki(info.became_foreign_resident_on, "外国人住民となった年月日")
    expires = info.stay_expires_on
    shown = [
        ("国籍・地域", info.nationality),
        ("外国人住民となった年月日", became),
        ("外国人住民の区分", info.category.label_ja),
        ("在留資格", info.residence_status),
        ("在留期間", info.period_of_stay),
        ("在留期間の満了の日", None if expires is None else _wareki(expires, "在留期間の満了の日")),
        ("在留カード等の番号", info.card_number),
    ]
    return [CopyItem(article=_FOREIGN, label=k, value=v) for k, v in shown if v is not None]


def copy_items(record: ResidentRecord, options: CopyOptions) -> tuple[CopyItem, ...]:
    """The items a wide-area copy shows for ``record``, in the order of 住基法7条.

    Never: 7条5号 (本籍・筆頭者), 9号 (選挙人名簿), 10号〜12号 (insurances, pension,
    child allowance, rice ration) and 14号 (旧氏, 通称) (住基法12条の4第1項). Only
    when ``options`` asks: 4号, 8号の2 and 13号 (12条の4第4項); an item asked for
    that the record does not hold (no 個人番号 yet) reads ``記載なし``. A foreign
    resident's items of 30条の45 follow the 7条 items. Dates are in 和暦.

    This selects only: whether the record may be issued at all is
    :func:`make_copy`'s to check.

    >>> from jukinet.testing.examples import resident_record
    >>> items = copy_items(resident_record(), CopyOptions(resident_code=True))
    >>> [(item.article, item.value) for item in items][-2:]
    [('7条7号', '東京都千代田区千代田1丁目1番1号'), ('7条13号', '12345678903')]
    >>> items[2].value
    '昭和55年4月1日'
    """
    if not isinstance(record, ResidentRecord):
        raise TypeError(f"住民票: expected a ResidentRecord, got {type(record).__name__}")
    if not isinstance(options, CopyOptions):
        raise TypeError(f"請求事項: expected CopyOptions, got {type(options).__name__}")
    items: list[CopyItem] = []

    def add(article: str, label: str, value: str) -> None:
        items.append(CopyItem(article=article, label=label, value=value))

    add("7条1号", "氏名", record.name.full)
    if record.name.full_reading is not None:
        add("7条1号の2", "氏名の振り仮名", record.name.full_reading)
    add("7条2号", "出生の年月日", _wareki(record.birth_date, "出生の年月日"))
    add("7条3号", "男女の別", record.sex.label_ja)
    if options.relationship:
        add("7条4号", "世帯主・続柄", _relationship_text(record))
    add("7条6号", "住民となった年月日", _wareki(record.resident_since, "住民となった年月日"))
    add("7条7号", "住所", record.address.full)
    if record.address_since is not None:
        add("7条7号", "住所を定めた年月日", _wareki(record.address_since, "住所を定めた年月日"))
    if record.moved_in is not None:
        notified = _wareki(record.moved_in.notified_on, "転入届の年月日")
        previous = record.moved_in.previous_address
        add("7条8号", "転入 (届出の年月日・従前の住所)", f"{notified} 届出、従前の住所 {previous}")
    if options.individual_number:
        number = record.individual_number
        add("7条8号の2", "個人番号", _NOT_RECORDED if number is None else str(number))
    if options.resident_code:
        add("7条13号", "住民票コード", str(record.resident_code))
    return (*items, *_foreign_items(record))


def _digest(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"請求の要約: expected a str, got {type(value).__name__}")
    if not _DIGEST.fullmatch(value):
        raise InvalidFormat(
            "the request digest is malformed",
            field="請求の要約",
            expected="64 lowercase hexadecimal digits (a SHA-256 digest of the request)",
        )
    return value


def _persons(value: object) -> tuple[tuple[CopyItem, ...], ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise TypeError(f"記載事項: expected a sequence of persons, got {type(value).__name__}")
    persons = []
    for person in value:
        if isinstance(person, str | bytes) or not isinstance(person, Iterable):
            raise TypeError(
                f"記載事項: expected each person as a sequence of CopyItem, "
                f"got {type(person).__name__}"
            )
        items = tuple(person)
        for item in items:
            if not isinstance(item, CopyItem):
                raise TypeError(f"記載事項: expected CopyItem items, got {type(item).__name__}")
        persons.append(items)
    return tuple(persons)


def _register_keeper(field: str) -> Any:
    def check(_instance: object, _attribute: object, value: LocalGovernmentCode) -> None:
        if not value.keeps_register:
            raise InvalidComponent(
                f"{value} ({value.full_name}) keeps no resident register",
                field=field,
                expected="a city, town, village, special ward or designated city's ward",
            )

    return [_type(field, LocalGovernmentCode), check]


@attrs.frozen(kw_only=True)
class ResidentCopy:
    """A wide-area copy of the 住民票 (住民票の写し(広域交付), 住基法12条の4).

    ``home`` is the municipality whose register the data comes from (住所地),
    ``issued_by`` the one that prints it (交付地; another municipality, 12条の4
    第1項), ``request_digest`` the SHA-256 of the request it answers (64 hex
    digits), ``persons`` one tuple of :class:`CopyItem` per person in register
    order, and ``options`` what was specially asked for. The items of each person
    follow ``options`` exactly: the 4号, 8号の2 and 13号 lines are there when asked
    and only then (12条の4第4項). Build one with :func:`make_copy`.

    >>> from jukinet.testing.examples import resident_record
    >>> copy = make_copy(
    ...     [resident_record()], home=LocalGovernmentCode("131016"),
    ...     issued_by=LocalGovernmentCode("011011"), issued_on=date(2025, 6, 2),
    ...     request_digest="ab" * 32, options=CopyOptions(relationship=True))
    >>> print(copy.to_text())
    住民票の写し(広域交付)
    <BLANKLINE>
    [1]
      氏名: 山田 太郎
      氏名の振り仮名: ヤマダ タロウ
      出生の年月日: 昭和55年4月1日
      男女の別: 男
      世帯主・続柄: 世帯主
      住民となった年月日: 昭和55年4月1日
      住所: 東京都千代田区千代田1丁目1番1号
    <BLANKLINE>
    この写しには次の事項を記載していません (住基法12条の4第1項・第4項):
      7条5号 本籍・筆頭者
      7条9号 選挙人名簿
      7条10号〜12号 国民健康保険・後期高齢者医療・介護保険・国民年金・児童手当・米穀の配給
      7条14号 政令で定める事項 (旧氏・通称)
      7条8号の2 個人番号 (請求なし)
      7条13号 住民票コード (請求なし)
    <BLANKLINE>
    住所地: 東京都千代田区 (131016)
    交付地: 北海道札幌市中央区 (011011)
    交付年月日: 令和7年6月2日
    請求の要約: abababababababababababababababababababababababababababababababab
    """

    home: LocalGovernmentCode = attrs.field(validator=_register_keeper("住所地"))
    issued_by: LocalGovernmentCode = attrs.field(validator=_register_keeper("交付地"))
    issued_on: date = attrs.field(validator=_type("交付年月日", date))
    request_digest: str = attrs.field(converter=_digest)
    persons: tuple[tuple[CopyItem, ...], ...] = attrs.field(converter=_persons)
    options: CopyOptions = attrs.field(validator=_type("請求事項", CopyOptions))

    def __attrs_post_init__(self) -> None:
        if self.issued_by == self.home:
            raise InvalidComponent(
                f"{self.home.full_name} cannot issue a wide-area copy of its own register",
                field="交付地",
                expected="a municipality other than the home municipality (住基法12条の4第1項)",
            )
        if self.issued_on < WIDE_AREA_START:
            raise InvalidComponent(
                f"{self.issued_on.isoformat()} is before wide-area copies began",
                field="交付年月日",
                expected=f"a date on or after {WIDE_AREA_START.isoformat()}",
            )
        if not self.persons:
            raise InvalidComponent(
                "the copy shows nobody", field="記載事項", expected="at least one person"
            )
        asked = set(self.options.asked)
        for number, items in enumerate(self.persons, start=1):
            articles = {item.article for item in items}
            if "7条1号" not in articles:
                raise InvalidComponent(
                    f"person {number} has no name",
                    field="記載事項",
                    expected="the 氏名 (7条1号) of every person",
                )
            for article, label, _ in OPTIONAL_ITEMS:
                if (article in articles) != (article in asked):
                    state = "shown although not asked for" if article in articles else "missing"
                    raise InvalidComponent(
                        f"{label} ({article}) of person {number} is {state}",
                        field="記載事項",
                        expected=f"{label} exactly when asked for (住基法12条の4第4項)",
                    )

    def omitted(self) -> tuple[tuple[str, str], ...]:
        """(article, what) of every item left out: those never shown, then those not asked for.

        >>> from jukinet.testing.examples import resident_record
        >>> copy = make_copy(
        ...     [resident_record()], home=LocalGovernmentCode("131016"),
        ...     issued_by=LocalGovernmentCode("011011"), issued_on=date(2025, 6, 2),
        ...     request_digest="ab" * 32,
        ...     options=CopyOptions(relationship=True, individual_number=True))
        >>> copy.omitted()[-1]
        ('7条13号', '住民票コード')
        """
        asked = set(self.options.asked)
        unasked = tuple(
            (article, label) for article, label, _ in OPTIONAL_ITEMS if article not in asked
        )
        return ALWAYS_OMITTED + unasked

    def to_text(self) -> str:
        """The copy as a printable plain-text document.

        The title, each person's items (numbered, in register order), the note of
        what was left out (住基法12条の4第1項・第4項), the home and issuing
        municipalities, the issue date in 和暦 and the request digest. See the
        class's example.
        """
        lines = [TITLE]
        for number, items in enumerate(self.persons, start=1):
            lines += ["", f"[{number}]"]
            lines += [f"  {item.label}: {item.value}" for item in items]
        lines += ["", "この写しには次の事項を記載していません (住基法12条の4第1項・第4項):"]
        never = {article for article, _ in ALWAYS_OMITTED}
        for article, what in self.omitted():
            note = "" if article in never else " (請求なし)"
            lines.append(f"  {article} {what}{note}")
        lines += [
            "",
            f"住所地: {self.home.full_name} ({self.home})",
            f"交付地: {self.issued_by.full_name} ({self.issued_by})",
            f"交付年月日: {_wareki(self.issued_on, '交付年月日')}",
            f"請求の要約: {self.request_digest}",
        ]
        return "\n".join(lines) + "\n"

    def to_data(self) -> dict[str, Any]:
        """The copy in structured form, JSON-ready (only str, int, list and dict).

        ``issued_on`` is an ISO date; ``asked`` the articles asked for;
        ``omitted`` the items left out, as ``{"article", "what"}``.

        >>> from jukinet.testing.examples import resident_record
        >>> data = make_copy(
        ...     [resident_record()], home=LocalGovernmentCode("131016"),
        ...     issued_by=LocalGovernmentCode("011011"), issued_on=date(2025, 6, 2),
        ...     request_digest="ab" * 32, options=CopyOptions()).to_data()
        >>> data["home"], data["issued_by"], data["issued_on"], data["asked"]
        ('131016', '011011', '2025-06-02', [])
        >>> data["persons"][0][0]
        {'article': '7条1号', 'label': '氏名', 'value': '山田 太郎'}
        """
        return {
            "title": TITLE,
            "home": self.home.value,
            "issued_by": self.issued_by.value,
            "issued_on": self.issued_on.isoformat(),
            "request_digest": self.request_digest,
            "asked": list(self.options.asked),
            "persons": [[item.to_data() for item in items] for items in self.persons],
            "omitted": [{"article": article, "what": what} for article, what in self.omitted()],
        }


def _check_records(records: Sequence[ResidentRecord], home: LocalGovernmentCode) -> None:
    if not records:
        raise InvalidComponent(
            "no record to copy",
            field="住民票",
            expected="the requester's own record or records of their household",
        )
    codes: set[str] = set()
    for record in records:
        if not isinstance(record, ResidentRecord):
            raise TypeError(f"住民票: expected a ResidentRecord, got {type(record).__name__}")
        if record.is_removed:
            raise InvalidState(
                f"the record of {record.resident_code} is removed (除票)",
                field="住民票",
                expected="registered records; a 除票 is not issued by wide-area copy"
                " (住基法12条の4第1項)",
            )
        if str(record.resident_code) in codes:
            raise InvalidComponent(
                f"the record of {record.resident_code} is given twice",
                field="住民票",
                expected="each person once",
            )
        codes.add(str(record.resident_code))
    first = records[0]
    for record in records[1:]:
        if record.municipality != first.municipality:
            raise InvalidComponent(
                "the records are of different municipalities",
                field="住所地",
                expected=f"records of one municipality ({first.municipality})",
            )
        if record.household.household_id != first.household.household_id:
            raise InvalidComponent(
                "the records are of different households",
                field="世帯",
                expected="the requester and members of the same household (住基法12条の4第1項)",
            )
    if first.municipality != home.value:
        raise InvalidComponent(
            f"the records are of {first.municipality}, not of the home municipality {home}",
            field="住所地",
            expected=f"records of {home} ({home.full_name})",
        )


def make_copy(
    records: Sequence[ResidentRecord],
    *,
    home: LocalGovernmentCode,
    issued_by: LocalGovernmentCode,
    issued_on: date,
    request_digest: str,
    options: CopyOptions,
) -> ResidentCopy:
    """Build the wide-area copy of ``records`` (住基法12条の4).

    ``records`` are the requester's own record, or records of members of one
    household, as the home municipality ``home`` answered them. The persons are
    printed in register order: by internal number (宛名番号), as
    :meth:`Register.household <jukinet.storage.base.Register.household>`
    returns them, whatever order they come in.

    Refused with :class:`~jukinet.errors.InvalidComponent`: no records, a person
    given twice, records of different households or municipalities, records of a
    municipality other than ``home``, ``issued_by`` equal to ``home``, an issue
    date before :data:`WIDE_AREA_START`. Refused with
    :class:`~jukinet.errors.InvalidState`: a removed record (除票).

    >>> from jukinet.testing.examples import resident_record
    >>> copy = make_copy(
    ...     [resident_record()], home=LocalGovernmentCode("131016"),
    ...     issued_by=LocalGovernmentCode("011011"), issued_on=date(2025, 6, 2),
    ...     request_digest="ab" * 32, options=CopyOptions(individual_number=True))
    >>> [item.value for item in copy.persons[0] if item.article == "7条8号の2"]
    ['記載なし']
    >>> make_copy(
    ...     [resident_record()], home=LocalGovernmentCode("011011"),
    ...     issued_by=LocalGovernmentCode("131016"), issued_on=date(2025, 6, 2),
    ...     request_digest="ab" * 32, options=CopyOptions())
    Traceback (most recent call last):
    ...
    jukinet.errors.InvalidComponent: 住所地: the records are of 131016, not of the home municipality 011011 (expected records of 011011 (北海道札幌市中央区))
    """
    given: object = records
    if isinstance(given, str | bytes) or not isinstance(given, Sequence):
        raise TypeError(f"住民票: expected a sequence of records, got {type(given).__name__}")
    if not isinstance(home, LocalGovernmentCode):
        raise TypeError(f"住所地: expected a LocalGovernmentCode, got {type(home).__name__}")
    _check_records(records, home)
    ordered = sorted(records, key=lambda record: record.internal_id)
    return ResidentCopy(
        home=home,
        issued_by=issued_by,
        issued_on=issued_on,
        request_digest=request_digest,
        persons=tuple(copy_items(record, options) for record in ordered),
        options=options,
    )
