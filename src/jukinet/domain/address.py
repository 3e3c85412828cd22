"""Addresses (住所, jūsho): a municipality by code plus the rest of the address.

The address on a resident record (住基法7条7号) is held as the local government
code of the municipality (:class:`~jukinet.domain.lg_code.LocalGovernmentCode`)
and the remainder as written (``千代田一丁目1番1号``). The prefecture and
municipality names come from the code, so they are always spelled one way.

For search, :attr:`Address.search_key` (and :func:`address_key` for any text)
brings the usual spellings of the same address together: ``千代田一丁目1番1号``,
``千代田1-1-1`` and ``千代田１丁目１番地１号`` share one key.

>>> a = Address(municipality='131016', rest='千代田一丁目1番1号')
>>> a.full
'東京都千代田区千代田一丁目1番1号'
>>> a.search_key
'東京都千代田区千代田1-1-1'
>>> a.search_key == Address.parse('東京都千代田区千代田１丁目１番地１号').search_key
True
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping
from typing import Self

import attrs

from jukinet.domain._validate import check_raw_length
from jukinet.domain.lg_code import GovernmentKind, LocalGovernmentCode, all_codes
from jukinet.domain.names import kanji_variants, normalize_text
from jukinet.errors import InvalidComponent, InvalidFormat, InvalidLength

__all__ = ["REST_MAX_LENGTH", "Address", "address_key"]

REST_MAX_LENGTH = 200
"""Most characters allowed in :attr:`Address.rest` after normalisation.

The law sets no limit; 200 characters hold a 大字/字 name, the block and lot
numbers and a building name with room number.
"""

_WHOLE_MAX_LENGTH = REST_MAX_LENGTH + 40
"""Most characters of a whole address: the prefecture, 郡 and municipality names
before the rest take about 20 (神奈川県横浜市保土ケ谷区 is 12)."""

# --- the search key -----------------------------------------------------------------

_HYPHENS = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2043\ufe63\uff0d"
_KANJI_DIGITS = {
    "〇": 0,
    "一": 1,
    "二": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_KANJI_UNITS = {"十": 10, "百": 100, "千": 1000}
_KANJI_RUN = re.compile("[〇一二三四五六七八九十百千]+")
_MARKERS = ("丁目", "番地", "番", "号")
_AFTER_NUMBER = re.compile("[0-9〇一二三四五六七八九十百千](?:(?:丁目|番地|番|号)[の-]?|[の-])$")
# ヶ, ケ, ヵ, が and ガ between two kanji are spellings of the same particle (霞が関 / 霞ヶ関).
_GA = re.compile(r"(?<=[\u3400-\u9fff\uf900-\ufaff])[ヶケヵがガ](?=[\u3400-\u9fff\uf900-\ufaff])")
_SPACE_BETWEEN_DIGITS = re.compile("(?<=[0-9]) (?=[0-9])")
_LONG_MARK_AFTER_DIGIT = re.compile("(?<=[0-9])ー")
_MARKER_AFTER_DIGIT = re.compile("(?<=[0-9])(?:(?:丁目|番地|番|号)の?|の)")


def _kanji_number(run: str) -> str:
    """``二十三`` → ``23``; ``一〇一`` → ``101`` (digits only are read positionally)."""
    if not any(ch in _KANJI_UNITS for ch in run):
        return "".join(str(_KANJI_DIGITS[ch]) for ch in run)
    total = 0
    digit: int | None = None
    for ch in run:
        if ch in _KANJI_UNITS:
            total += (1 if digit is None else digit) * _KANJI_UNITS[ch]
            digit = None
        else:
            digit = _KANJI_DIGITS[ch] if digit is None else digit * 10 + _KANJI_DIGITS[ch]
    return str(total + (digit or 0))


def _arabic_block_numbers(text: str) -> str:
    """Turn kanji numerals that count 丁目/番地/番/号 into Arabic digits."""

    def replace(match: re.Match[str]) -> str:
        before = text[: match.start()]
        after = text[match.end() :]
        if after.startswith(_MARKERS) or _AFTER_NUMBER.search(before):
            return _kanji_number(match.group())
        return match.group()

    return _KANJI_RUN.sub(replace, text)


@functools.cache
def _fold_table() -> dict[int, str]:
    table = dict(kanji_variants())
    table.update(dict.fromkeys(_HYPHENS, "-"))
    return str.maketrans(table)


def _fold_spelling(text: str) -> str:
    """Fold variant kanji, hyphen look-alikes and ヶ/が: one character for one."""
    return _GA.sub("ケ", text.translate(_fold_table()))


def address_key(text: str) -> str:
    """Return the search key of an address written as ``text``.

    The steps, in order:

    1. :func:`~jukinet.domain.names.normalize_text` (NFKC: full-width digits and
       letters become ASCII; variation selectors removed); ASCII letters lower-cased;
    2. a space between two digits becomes ``-``, other spaces are removed;
    3. hyphen and dash look-alikes (and ``ー`` after a digit) become ``-``;
    4. variant kanji are folded with the table of
       :func:`~jukinet.domain.names.kanji_variants` (澤→沢, 﨑→崎 …), and
       ``ヶ ケ ヵ が ガ`` between kanji become ``ケ`` (霞が関 = 霞ヶ関);
    5. kanji numerals that count 丁目, 番地, 番 or 号 (or follow such a number)
       become Arabic digits (一丁目 → 1丁目, 百二十三番地の四 → 123番地の4);
    6. 丁目, 番地, 番, 号 and の after a digit become ``-``; runs of ``-`` shrink
       to one and a ``-`` not followed by a digit is dropped.

    The key is for comparison, never for display. Numerals in place names that
    end in 番 (麻布十番, 三番町) are turned into digits as well; as every
    spelling is folded the same way, matching is unaffected. 大字/字 and 郡 are
    kept as written.

    Text far longer than any address (:func:`~jukinet.domain._validate.raw_limit`
    of 240 characters) is refused unread with :class:`~jukinet.errors.InvalidLength`.

    >>> address_key('千代田一丁目1番1号') == address_key('千代田1-1-1') == address_key('千代田１丁目１番地１号')
    True
    >>> address_key('霞が関一丁目２−１　中央合同庁舎')
    '霞ケ関1-2-1中央合同庁舎'
    >>> address_key('字大野百二十三番地の四')
    '字大野123-4'
    """
    if not isinstance(text, str):
        raise TypeError(f"address: expected a str, got {type(text).__name__}")
    check_raw_length(text, "address", _WHOLE_MAX_LENGTH)
    return _address_key(text)


@functools.lru_cache(maxsize=1 << 16)
def _address_key(text: str) -> str:
    # Pure and costly (about 14 µs): members of a household, and every tier that
    # indexes the same notice, ask for the same key.
    key = text
    # Dropping a space or "-" can bring a numeral next to a marker, ヶ between
    # kanji or a combining mark next to its letter: repeat until nothing
    # changes, so that the key of a key is the key itself.
    for _ in range(8):
        again = normalize_text(key)
        again = "".join(ch.lower() if ch.isascii() else ch for ch in again)
        again = _SPACE_BETWEEN_DIGITS.sub("-", again).replace(" ", "")
        again = _LONG_MARK_AFTER_DIGIT.sub("-", _fold_spelling(again))
        again = _MARKER_AFTER_DIGIT.sub("-", _arabic_block_numbers(again))
        again = re.sub("-(?![0-9])", "", re.sub("-+", "-", again))
        if again == key:
            break
        key = again
    return key


# --- Address ----------------------------------------------------------------------


def _municipality(value: object) -> LocalGovernmentCode:
    if isinstance(value, LocalGovernmentCode):
        code = value
    elif isinstance(value, str):
        code = LocalGovernmentCode(value)
    else:
        raise TypeError(
            f"municipality: expected a LocalGovernmentCode or str, got {type(value).__name__}"
        )
    if code.kind is GovernmentKind.PREFECTURE:
        raise InvalidComponent(
            f"{code.value} is the prefecture {code.name}, not a municipality",
            field="municipality",
            expected="the code of a municipality (市町村, 特別区) or of a designated city's ward",
        )
    return code


def _rest(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"rest: expected a str, got {type(value).__name__}")
    check_raw_length(value, "rest", REST_MAX_LENGTH)
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") and ch != "\ufeff":
            raise InvalidFormat(
                f"the character {ch!r} (U+{ord(ch):04X}) is a control, format, private-use "
                "or unassigned character",
                field="rest",
                expected="printable text",
            )
    text = normalize_text(value)
    if not text:
        raise InvalidFormat(
            "the address is empty",
            field="rest",
            expected="the address after the municipality name, e.g. 千代田一丁目1番1号",
        )
    if len(text) > REST_MAX_LENGTH:
        raise InvalidLength(
            f"the address has {len(text)} characters",
            field="rest",
            expected=f"at most {REST_MAX_LENGTH} characters",
        )
    return text


@attrs.frozen
class Address:
    """An address (住所): the municipality's code and the rest of the address.

    ``municipality`` is a :class:`~jukinet.domain.lg_code.LocalGovernmentCode`
    (a 6-digit string is converted) of a municipality — city, town, village,
    special ward — or of a designated city's ward; a prefecture's code is
    refused. For an address in a designated city the ward's code is the usual
    choice; the city's own code with the ward at the start of ``rest`` gives
    the same :attr:`full` and :attr:`search_key`.

    ``rest`` is everything after the municipality's name: normalised with
    :func:`~jukinet.domain.names.normalize_text` (NFKC, single spaces), non-empty,
    at most :data:`REST_MAX_LENGTH` characters, no control characters, and it must
    not repeat the prefecture and municipality names.

    >>> Address('011011', '北1条西2丁目')
    Address(municipality=LocalGovernmentCode('011011'), rest='北1条西2丁目')
    >>> Address('011011', '北1条西2丁目').full
    '北海道札幌市中央区北1条西2丁目'
    >>> Address('130001', '千代田1-1')
    Traceback (most recent call last):
    ...
    jukinet.errors.InvalidComponent: municipality: 130001 is the prefecture 東京都, not a municipality (expected the code of a municipality (市町村, 特別区) or of a designated city's ward)
    """

    municipality: LocalGovernmentCode = attrs.field(converter=_municipality)
    """The municipality (or designated city's ward) by its local government code."""
    rest: str = attrs.field(converter=_rest)
    """The rest of the address after the municipality's name."""

    def __attrs_post_init__(self) -> None:
        if self.rest.replace(" ", "").startswith(self.municipality.full_name):
            raise InvalidFormat(
                "the rest of the address repeats the prefecture and municipality names",
                field="rest",
                expected="only the part after the municipality's name",
            )

    @property
    def prefecture_name(self) -> str:
        """The prefecture's name (``東京都``)."""
        return self.municipality.prefecture_name

    @property
    def full(self) -> str:
        """The whole address: prefecture, municipality and rest, without spaces between them."""
        return self.municipality.full_name + self.rest

    @property
    def search_key(self) -> str:
        """:func:`address_key` of :attr:`full`: equal for spellings of the same address."""
        return address_key(self.full)

    @classmethod
    def parse(cls, text: str) -> Self:
        """Split a whole address into municipality and rest.

        ``text`` starts with the municipality's name, optionally preceded by
        the prefecture's name and followed (for towns and villages) by a 郡
        name; names are compared after folding widths, spaces, variant kanji
        and ヶ/ケ/が. The longest name wins, so a designated city's ward is
        found rather than the city. Without the prefecture, a municipality
        name shared by several prefectures (府中市) is refused as ambiguous.

        >>> Address.parse('北海道余市郡余市町黒川町1丁目')
        Address(municipality=LocalGovernmentCode('014087'), rest='黒川町1丁目')
        >>> Address.parse('札幌市中央区北1条西2丁目').municipality.name
        '札幌市中央区'
        >>> Address.parse('府中市宮西町2-24')
        Traceback (most recent call last):
        ...
        jukinet.errors.InvalidComponent: address: 府中市 names more than one municipality (expected the prefecture's name first, e.g. 東京都府中市)
        """
        if not isinstance(text, str):
            raise TypeError(f"address: expected a str, got {type(text).__name__}")
        check_raw_length(text, "address", _WHOLE_MAX_LENGTH)
        normalized = normalize_text(text)
        positions = [i for i, ch in enumerate(normalized) if ch != " "]
        compact = _fold_spelling("".join(normalized[i] for i in positions))

        def cut(length: int) -> str:
            """The normalised text after the first ``length`` non-space characters."""
            if length >= len(positions):
                return ""
            return normalized[positions[length] :].strip()

        prefecture_code: str | None = None
        start = 0
        for name, code in _prefectures().items():
            if compact.startswith(name):
                prefecture_code, start = code, len(name)
                break
        for skip_county in (False, True):
            offset = start
            if skip_county:
                county = re.match(".+?郡", compact[start:])
                if county is None:
                    break
                offset += county.end()
            found = _longest_municipality(compact, offset, prefecture_code)
            if found is not None:
                name, codes = found
                if len(codes) > 1:
                    raise InvalidComponent(
                        f"{name} names more than one municipality",
                        field="address",
                        expected=f"the prefecture's name first, e.g. {codes[0].full_name}",
                    )
                return cls(codes[0], cut(offset + len(name)))
        raise InvalidComponent(
            "the address does not start with a known municipality",
            field="address",
            expected="an address starting with the prefecture and municipality, e.g. 東京都千代田区…",
        )


@functools.cache
def _prefectures() -> Mapping[str, str]:
    """Folded prefecture name → 2-digit prefecture code."""
    return {
        _fold_spelling(c.name): c.prefecture_code
        for c in all_codes()
        if c.kind is GovernmentKind.PREFECTURE
    }


@functools.cache
def _municipality_names() -> Mapping[str, tuple[LocalGovernmentCode, ...]]:
    """Folded municipality (or ward) name → codes, for every code an Address accepts."""
    names: dict[str, list[LocalGovernmentCode]] = {}
    for code in all_codes():
        if code.kind is not GovernmentKind.PREFECTURE:
            names.setdefault(_fold_spelling(code.name), []).append(code)
    return {name: tuple(codes) for name, codes in names.items()}


def _longest_municipality(
    compact: str, offset: int, prefecture_code: str | None
) -> tuple[str, tuple[LocalGovernmentCode, ...]] | None:
    names = _municipality_names()
    longest = max(len(name) for name in names)
    for end in range(min(len(compact), offset + longest), offset, -1):
        name = compact[offset:end]
        codes = names.get(name, ())
        if prefecture_code is not None:
            codes = tuple(c for c in codes if c.prefecture_code == prefecture_code)
        if codes:
            return name, codes
    return None
