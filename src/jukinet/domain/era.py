"""Japanese era dates (和暦, wareki): 明治, 大正, 昭和, 平成 and 令和.

Inside jukinet every date is a :class:`datetime.date`; era dates appear only at
the edge, for display (:func:`format_wareki`) and input (:func:`parse_wareki`).
A year of an era is counted from 1 (written 元年, gannen) and each era ends the
day before the next one starts:

====  =========  ==========  ==========
era   letter     first day   last day
====  =========  ==========  ==========
明治  M          1868-10-23  1912-07-29
大正  T          1912-07-30  1926-12-24
昭和  S          1926-12-25  1989-01-07
平成  H          1989-01-08  2019-04-30
令和  R          2019-05-01  (current)
====  =========  ==========  ==========

Japan used a lunisolar calendar until 明治5年12月2日; the next day became
明治6年1月1日 = 1873-01-01 (Gregorian). Era dates before that are lunisolar and
cannot be converted by arithmetic, so jukinet supports dates from
:data:`FIRST_SUPPORTED_DATE` (1873-01-01) on and refuses earlier ones with
:class:`~jukinet.errors.InvalidComponent`.

>>> from datetime import date
>>> format_wareki(date(2019, 5, 1))
'令和元年5月1日'
>>> parse_wareki('H31.4.30')
datetime.date(2019, 4, 30)
>>> parse_wareki('昭和64年1月8日')
Traceback (most recent call last):
...
jukinet.errors.InvalidComponent: date: 昭和64年1月8日 is not in 昭和 (expected a date from 昭和元年12月25日 (1926-12-25) to 昭和64年1月7日 (1989-01-07))
"""

from __future__ import annotations

import enum
import re
import unicodedata
from datetime import date, datetime

from jukinet.domain._validate import check_raw_length
from jukinet.errors import InvalidComponent, InvalidFormat

__all__ = [
    "FIRST_SUPPORTED_DATE",
    "Era",
    "era_of",
    "format_wareki",
    "from_wareki",
    "parse_wareki",
    "to_wareki",
]

FIRST_SUPPORTED_DATE = date(1873, 1, 1)
"""明治6年1月1日, the first day of the Gregorian calendar in Japan; earlier dates are refused."""

_FIELD = "date"
_TEXT_MAX_LENGTH = 32
"""Most characters of an era date once normalised (``令和100年12月31日`` is 12), with room."""
_PART_LIMIT = 10_000
"""Years, months and days from this on cannot be a date (nor be printed as one)."""


class Era(enum.Enum):
    """A Japanese era (元号, gengō); the value is its name in kanji.

    >>> Era.HEISEI.start, Era.HEISEI.end, Era.HEISEI.letter
    (datetime.date(1989, 1, 8), datetime.date(2019, 4, 30), 'H')
    >>> Era('令和') is Era.REIWA, Era.REIWA.end is None
    (True, True)
    """

    MEIJI = "明治"
    TAISHO = "大正"
    SHOWA = "昭和"
    HEISEI = "平成"
    REIWA = "令和"

    @property
    def kanji(self) -> str:
        """The era's name in kanji (``令和``)."""
        return self.value

    @property
    def letter(self) -> str:
        """The one-letter abbreviation (``M T S H R``)."""
        return _LETTERS[self]

    @property
    def start(self) -> date:
        """The first day of the era (明治: 1868-10-23, the day of the 改元)."""
        return _STARTS[self]

    @property
    def end(self) -> date | None:
        """The last day of the era, or ``None`` for the current era."""
        return _ENDS[self]

    @property
    def first_supported(self) -> date:
        """The first day jukinet converts: :attr:`start`, or 1873-01-01 for 明治."""
        return max(self.start, FIRST_SUPPORTED_DATE)


_LETTERS = {
    Era.MEIJI: "M",
    Era.TAISHO: "T",
    Era.SHOWA: "S",
    Era.HEISEI: "H",
    Era.REIWA: "R",
}
_STARTS = {
    Era.MEIJI: date(1868, 10, 23),
    Era.TAISHO: date(1912, 7, 30),
    Era.SHOWA: date(1926, 12, 25),
    Era.HEISEI: date(1989, 1, 8),
    Era.REIWA: date(2019, 5, 1),
}
_ENDS: dict[Era, date | None] = {
    Era.MEIJI: date(1912, 7, 29),
    Era.TAISHO: date(1926, 12, 24),
    Era.SHOWA: date(1989, 1, 7),
    Era.HEISEI: date(2019, 4, 30),
    Era.REIWA: None,
}
_BY_LETTER = {letter: era for era, letter in _LETTERS.items()}


def _require_date(d: object) -> date:
    # A datetime is a date subclass but carries a time (and maybe a zone): refuse it.
    if not isinstance(d, date) or isinstance(d, datetime):
        raise TypeError(f"{_FIELD}: expected a date, got {type(d).__name__}")
    return d


def _refuse_before_gregorian(d: date) -> None:
    if d < FIRST_SUPPORTED_DATE:
        raise InvalidComponent(
            f"{d.isoformat()} is before 明治6年1月1日 (1873-01-01), when Japan adopted "
            "the Gregorian calendar; earlier era dates are lunisolar and not supported",
            field=_FIELD,
            expected="a date on or after 1873-01-01",
        )


def era_of(d: date) -> Era:
    """The era that ``d`` falls in.

    >>> era_of(date(1989, 1, 7)), era_of(date(1989, 1, 8))
    (<Era.SHOWA: '昭和'>, <Era.HEISEI: '平成'>)
    """
    day = _require_date(d)
    _refuse_before_gregorian(day)
    for era in reversed(Era):
        if day >= era.start:
            return era
    raise AssertionError("unreachable: every supported date is in an era")  # pragma: no cover


def to_wareki(d: date) -> tuple[Era, int, int, int]:
    """Return ``(era, year of the era, month, day)`` for ``d``.

    >>> to_wareki(date(2019, 5, 1))
    (<Era.REIWA: '令和'>, 1, 5, 1)
    >>> to_wareki(date(1873, 1, 1))
    (<Era.MEIJI: '明治'>, 6, 1, 1)
    """
    day = _require_date(d)
    era = era_of(day)
    return era, day.year - era.start.year + 1, day.month, day.day


def _wareki_text(era: Era, year: int, month: int, day: int, *, gannen: bool = True) -> str:
    year_text = "元" if year == 1 and gannen else str(year)
    return f"{era.kanji}{year_text}年{month}月{day}日"


def format_wareki(d: date, *, gannen: bool = True) -> str:
    """Format ``d`` as an era date: ``令和7年5月1日``.

    The first year of an era is written ``元年``; with ``gannen=False`` it is
    ``1年``. Digits are ASCII. Dates before 1873-01-01 are refused.

    >>> format_wareki(date(2025, 5, 1))
    '令和7年5月1日'
    >>> format_wareki(date(1989, 1, 8)), format_wareki(date(1989, 1, 8), gannen=False)
    ('平成元年1月8日', '平成1年1月8日')
    """
    era, year, month, day = to_wareki(d)
    return _wareki_text(era, year, month, day, gannen=gannen)


def _range_text(era: Era) -> str:
    first = era.first_supported
    text = f"{format_wareki(first)} ({first.isoformat()})"
    if era.end is None:
        return f"{text} on"
    return f"{text} to {format_wareki(era.end)} ({era.end.isoformat()})"


def from_wareki(era: Era, year: int, month: int, day: int) -> date:
    """Return the date for ``year``/``month``/``day`` of ``era``.

    Raises :class:`~jukinet.errors.InvalidComponent` for a day that does not
    exist (2月30日), a day outside the era (昭和64年1月8日 is already 平成) or a
    明治 day before 1873-01-01.

    >>> from_wareki(Era.SHOWA, 64, 1, 7)
    datetime.date(1989, 1, 7)
    >>> from_wareki(Era.REIWA, 1, 4, 30)
    Traceback (most recent call last):
    ...
    jukinet.errors.InvalidComponent: date: 令和元年4月30日 is not in 令和 (expected a date from 令和元年5月1日 (2019-05-01) on)
    """
    if not isinstance(era, Era):
        raise TypeError(f"{_FIELD}: expected an Era, got {type(era).__name__}")
    for name, value in (("year", year), ("month", month), ("day", day)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{_FIELD}: expected an int {name}, got {type(value).__name__}")
        if not -_PART_LIMIT < value < _PART_LIMIT:
            raise InvalidComponent(
                f"the {name} of the {era.kanji} date is out of range",
                field=_FIELD,
                expected=f"a {name} of at most 4 digits, making a real calendar day",
            )
    label = _wareki_text(era, year, month, day)
    if year < 1:
        raise InvalidComponent(
            f"{label}: an era's years start at 1 (元年)",
            field=_FIELD,
            expected="a year of 1 or more",
        )
    try:
        result = date(era.start.year + year - 1, month, day)
    except (ValueError, OverflowError):
        raise InvalidComponent(
            f"{label} does not exist",
            field=_FIELD,
            expected="a real calendar day (month 1-12, a day that month has)",
        ) from None
    if result < era.first_supported or (era.end is not None and result > era.end):
        if result < FIRST_SUPPORTED_DATE:
            _refuse_before_gregorian(result)
        raise InvalidComponent(
            f"{label} is not in {era.kanji}",
            field=_FIELD,
            expected=f"a date from {_range_text(era)}",
        )
    return result


_ERA_NAMES = "|".join(e.kanji for e in Era)
_PATTERN = re.compile(
    rf"""
    (?P<era>{_ERA_NAMES}|[MTSHR]) \s?
    (?P<year>[0-9]{{1,3}}|元) \s?
    (?:
        年 \s? (?P<m1>[0-9]{{1,2}}) \s? 月 \s? (?P<d1>[0-9]{{1,2}}) \s? 日
      | (?P<sep>[./-]) \s? (?P<m2>[0-9]{{1,2}}) \s? (?P=sep) \s? (?P<d2>[0-9]{{1,2}})
    )
    """,
    re.VERBOSE,
)


def parse_wareki(text: str) -> date:
    """Parse an era date and return the :class:`~datetime.date`.

    Accepted, after NFKC normalisation (so full-width digits, letters and
    spaces are fine, and the ligatures ``㍻ ㋿`` read as ``平成 令和``):

    * ``<era><year>年<month>月<day>日``: ``令和7年5月1日``, ``令和元年5月1日``;
    * ``<era><year>.<month>.<day>`` with ``.``, ``/`` or ``-`` (the same one
      twice): ``R7.5.1``, ``H31/4/30``, ``平成31-4-30``;

    where ``<era>`` is the kanji name or the letter ``M T S H R`` (either case),
    ``<year>`` is digits or ``元``, and single spaces may stand between the
    parts. Leading zeros are fine (``R07.05.01``). Kanji numerals (令和七年) are
    not accepted.

    Raises :class:`~jukinet.errors.InvalidFormat` for text of another shape and
    :class:`~jukinet.errors.InvalidComponent` for a day that does not exist or
    is outside its era (see :func:`from_wareki`); :class:`TypeError` for a
    non-string.

    >>> parse_wareki('令和元年5月1日'), parse_wareki('Ｒ７．５．１')
    (datetime.date(2019, 5, 1), datetime.date(2025, 5, 1))
    >>> parse_wareki('平成31年5月1日')
    Traceback (most recent call last):
    ...
    jukinet.errors.InvalidComponent: date: 平成31年5月1日 is not in 平成 (expected a date from 平成元年1月8日 (1989-01-08) to 平成31年4月30日 (2019-04-30))
    >>> parse_wareki('2025-05-01')
    Traceback (most recent call last):
    ...
    jukinet.errors.InvalidFormat: date: the text is not an era date (expected an era date such as 令和7年5月1日 or R7.5.1)
    """
    if not isinstance(text, str):
        raise TypeError(f"{_FIELD}: expected a str, got {type(text).__name__}")
    check_raw_length(text, _FIELD, _TEXT_MAX_LENGTH)
    folded = " ".join(unicodedata.normalize("NFKC", text).split())
    match = _PATTERN.fullmatch(folded.upper() if folded[:1].isascii() else folded)
    if match is None:
        raise InvalidFormat(
            "the text is not an era date",
            field=_FIELD,
            expected="an era date such as 令和7年5月1日 or R7.5.1",
        )
    era_text = match["era"]
    era = _BY_LETTER[era_text] if era_text in _BY_LETTER else Era(era_text)
    year = 1 if match["year"] == "元" else int(match["year"])
    month = int(match["m1"] or match["m2"])
    day = int(match["d1"] or match["d2"])
    return from_wareki(era, year, month, day)
