"""Person names (氏名, shimei) with their readings, former surname and alias.

A name on the resident record (住基法7条1号) has a family part (氏) and a given
part (名). Since 2025-05-26 the record also carries the reading of the name
(氏名の振り仮名, 住基法7条1号の2) in katakana; records made before then may lack it.
A Japanese resident may ask for a former surname (旧氏) and its reading to be
recorded as well (住基法施行令30条の13); a foreign resident (外国人住民) may have an
alias (通称) recorded (住基法施行令第八章, 30条の15 ff.).

Text is normalised on the way in (:func:`normalize_text`): NFKC width folding,
ideographic variation selectors removed, white space collapsed. Readings are
normalised to full-width katakana (:func:`normalize_reading`). For matching,
:func:`name_key` also folds well-established variant forms of the same kanji
(髙→高, 﨑→崎, 邊→辺 …) without ever merging distinct characters such as 斉 and 斎;
the table is data (``data/kanji_variants.csv``, described in ``data/VARIANTS.md``).

>>> name = PersonName.parse('髙橋　一郎', reading='たかはし いちろう')
>>> name.full, name.full_reading
('髙橋 一郎', 'タカハシ イチロウ')
>>> name.matching_key == PersonName.parse('高橋 一郎').matching_key
True
>>> name_key('斉藤') == name_key('斎藤')
False
"""

from __future__ import annotations

import csv
import functools
import io
import re
import unicodedata
from collections.abc import Mapping
from importlib import resources
from typing import Self

import attrs
import jaconv

from jukinet.domain._repr import set_fields_repr
from jukinet.domain._validate import check_raw_length
from jukinet.errors import InvalidComponent, InvalidFormat, InvalidLength

__all__ = [
    "NAME_MAX_LENGTH",
    "READING_MAX_LENGTH",
    "PersonName",
    "kanji_variants",
    "name_key",
    "normalize_reading",
    "normalize_text",
]

NAME_MAX_LENGTH = 100
"""Most characters allowed in one name part (family, given, former surname, alias).

The law sets no limit; 100 characters after normalisation leaves room for long
foreign names written in the Latin alphabet.
"""

READING_MAX_LENGTH = 200
"""Most characters allowed in one reading (katakana readings of long Latin names run longer)."""

_FULL_NAME_MAX_LENGTH = 2 * NAME_MAX_LENGTH + 1
_FULL_READING_MAX_LENGTH = 2 * READING_MAX_LENGTH + 1

_VARIATION_SELECTORS = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]")

# Code points of CJK ideographs: Extension A, the URO, the compatibility block,
# and Extensions B-H with the compatibility supplement (planes 2 and 3). Ranges
# rather than unicodedata names, so that ideographs newer than the running
# Python's Unicode database are still accepted.
_IDEOGRAPH_RANGES = (
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0x20000, 0x2FA1F),
    (0x30000, 0x323AF),
)
# Beside kanji and kana (戸籍法施行規則60条 for given names), registered names
# use the repetition marks and the long-vowel mark.
_KANA_MARKS = frozenset("々ゝゞヽヾー")
_LATIN_PUNCTUATION = frozenset(" -'’.")
_READING_MARKS = frozenset("ーヽヾ・＝ ")
_READING_SEPARATORS = frozenset(" ・＝")


def _require_str(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{field}: expected a str, got {type(value).__name__}")
    return value


def _describe(ch: str) -> str:
    return f"{ch!r} (U+{ord(ch):04X})"


def normalize_text(s: str) -> str:
    """Return ``s`` NFKC-normalised, without variation selectors, white space collapsed.

    Full-width Latin letters and digits become ASCII, half-width katakana become
    full-width, ideographic variation selectors (U+FE00–U+FE0F and
    U+E0100–U+E01EF) are removed, and every run of white space (the ideographic
    space U+3000 included) becomes one space; the ends are trimmed.

    >>> normalize_text('　ＹＡＭＡＤＡ\\u3000 ﾀﾛｳ ')
    'YAMADA タロウ'
    >>> normalize_text('葛\\U000E0100城') == '葛城'
    True
    """
    text = _require_str(s, "text")
    text = _VARIATION_SELECTORS.sub("", unicodedata.normalize("NFKC", text))
    return " ".join(text.split())


def _is_katakana(ch: str) -> bool:
    return "\u30a1" <= ch <= "\u30fa"


def normalize_reading(s: str, *, field: str = "reading") -> str:
    """Return the reading ``s`` in full-width katakana, or raise :class:`~jukinet.errors.InvalidFormat`.

    Hiragana become katakana and half-width katakana full-width. Allowed are
    katakana, the long-vowel mark ``ー``, the repetition marks ``ヽヾ``, the
    separators ``・`` and ``＝`` (``=`` is accepted for ``＝``) and single spaces.
    Anything else (kanji, Latin letters, digits) is refused, naming ``field``
    and the character. An empty reading is refused too: pass ``None`` for a
    name without a reading.

    >>> normalize_reading('やまだ　たろう')
    'ヤマダ タロウ'
    >>> normalize_reading('ｼﾞｮﾝ=ｽﾐｽ')
    'ジョン＝スミス'
    >>> normalize_reading('山田', field='family_reading')
    Traceback (most recent call last):
    ...
    jukinet.errors.InvalidFormat: family_reading: the character '山' (U+5C71) is not allowed in a reading (expected katakana or hiragana, with ー, ・, ＝ and spaces)
    """
    raw = _require_str(s, field)
    check_raw_length(raw, field, READING_MAX_LENGTH)
    _refuse_controls(raw, field)
    text = jaconv.hira2kata(normalize_text(raw)).replace("=", "＝")
    if not text:
        raise InvalidFormat("the reading is empty", field=field, expected="a non-empty reading")
    for ch in text:
        if not (_is_katakana(ch) or ch in _READING_MARKS):
            raise InvalidFormat(
                f"the character {_describe(ch)} is not allowed in a reading",
                field=field,
                expected="katakana or hiragana, with ー, ・, ＝ and spaces",
            )
    if len(text) > READING_MAX_LENGTH:
        raise InvalidLength(
            f"the reading has {len(text)} characters",
            field=field,
            expected=f"at most {READING_MAX_LENGTH} characters",
        )
    return text


# --- the variant table -------------------------------------------------------


@functools.cache
def kanji_variants() -> Mapping[str, str]:
    """The variant → standard kanji pairs that :func:`name_key` folds.

    Loaded on first use from ``data/kanji_variants.csv``; see
    ``data/VARIANTS.md`` for how the table was built and which look-alike pairs
    are deliberately left out (斉/斎, 竜/龍, 埼/崎 …).

    >>> kanji_variants()['髙'], kanji_variants()['齋'], kanji_variants()['齊']
    ('高', '斎', '斉')
    >>> '斎' in kanji_variants() or '斉' in kanji_variants()
    False
    """
    text = (
        resources.files("jukinet.domain")
        .joinpath("data")
        .joinpath("kanji_variants.csv")
        .read_text(encoding="utf-8")
    )
    return {row["variant"]: row["standard"] for row in csv.DictReader(io.StringIO(text))}


@functools.cache
def _variant_table() -> dict[int, str]:
    return str.maketrans(dict(kanji_variants()))


def _fold_once(text: str) -> str:
    text = normalize_text(text).casefold()
    text = unicodedata.normalize("NFKC", text).translate(_variant_table())
    return text.replace(" ", "")


def name_key(s: str) -> str:
    """Return a key for matching names: equal keys mean "probably the same name".

    The key is :func:`normalize_text` without spaces, Latin letters case-folded,
    and the variant forms of the same kanji folded to one form (see
    :func:`kanji_variants`). Distinct characters are never merged: 斉藤 and 斎藤
    are different surnames and keep different keys. ``name_key`` is idempotent.
    Text far longer than a full name is refused unread with
    :class:`~jukinet.errors.InvalidLength`.

    >>> name_key('渡邊') == name_key('渡邉') == name_key('渡辺')
    True
    >>> name_key('齋藤') == name_key('斎藤'), name_key('齊藤') == name_key('斉藤')
    (True, True)
    >>> name_key('Smith  John'), name_key('山﨑 太郎')
    ('smithjohn', '山崎太郎')
    """
    check_raw_length(_require_str(s, "name"), "name", _FULL_NAME_MAX_LENGTH)
    text = _fold_once(s)
    # Case folding can produce text that NFKC changes again (and back); a
    # handful of rounds reaches the fixed point for any input.
    for _ in range(4):
        again = _fold_once(text)
        if again == text:
            break
        text = again
    return text


# --- name parts --------------------------------------------------------------


def _refuse_controls(raw: str, field: str) -> None:
    for ch in raw:
        category = unicodedata.category(ch)
        if category in ("Cc", "Cs", "Co", "Cn") or (
            category == "Cf" and ch != "\ufeff"  # a stray BOM is harmless
        ):
            raise InvalidFormat(
                f"the character {_describe(ch)} is a control, format, private-use or "
                "unassigned character",
                field=field,
                expected="printable text",
            )


def _is_ideograph(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _IDEOGRAPH_RANGES)


def _is_japanese(ch: str) -> bool:
    return (
        _is_ideograph(ch)
        or "\u3041" <= ch <= "\u3096"  # hiragana
        or _is_katakana(ch)
        or ch in _KANA_MARKS
    )


def _is_latin_letter(ch: str) -> bool:
    return unicodedata.category(ch).startswith("L") and unicodedata.name(ch, "").startswith("LATIN")


def _script(text: str) -> str:
    """``'japanese'`` or ``'latin'``, decided by the first letter of ``text``."""
    for ch in text:
        if _is_japanese(ch):
            return "japanese"
        if _is_latin_letter(ch):
            return "latin"
    return "none"


_NAME_EXPECTED = (
    "kanji and kana (Japanese script), or Latin letters with spaces, hyphens, "
    "apostrophes and full stops, not mixed"
)


def _check_part(text: str, field: str, *, spaces_in_japanese: bool) -> None:
    """Check one normalised name part; ``text`` may be empty (checked elsewhere)."""
    if len(text) > NAME_MAX_LENGTH:
        raise InvalidLength(
            f"the name has {len(text)} characters",
            field=field,
            expected=f"at most {NAME_MAX_LENGTH} characters",
        )
    if not text:
        return
    script = _script(text)
    for index, ch in enumerate(text):
        if script == "japanese":
            ok = _is_japanese(ch) or (ch == " " and spaces_in_japanese)
        elif script == "latin":
            # A combining mark (Vietnamese tones NFKC cannot compose) follows a letter.
            previous = text[index - 1] if index else " "
            ok = (
                _is_latin_letter(ch)
                or ch in _LATIN_PUNCTUATION
                or (
                    unicodedata.category(ch) == "Mn"
                    and (_is_latin_letter(previous) or unicodedata.category(previous) == "Mn")
                )
            )
        else:
            ok = False  # no letter at all
        if not ok:
            if ch == " ":
                problem = "a Japanese name part has a space in it"
            elif ch.isdigit() or unicodedata.category(ch).startswith("N"):
                problem = f"names have no digits: {_describe(ch)}"
            else:
                problem = f"the character {_describe(ch)} is not allowed in a name"
            raise InvalidFormat(problem, field=field, expected=_NAME_EXPECTED)


def _name(value: object, field: str, *, spaces_in_japanese: bool = False) -> str:
    raw = _require_str(value, field)
    check_raw_length(raw, field, NAME_MAX_LENGTH)
    _refuse_controls(raw, field)
    text = normalize_text(raw)
    _check_part(text, field, spaces_in_japanese=spaces_in_japanese)
    return text


def _optional_name(value: object, field: str, *, spaces_in_japanese: bool = False) -> str | None:
    if value is None:
        return None
    text = _name(value, field, spaces_in_japanese=spaces_in_japanese)
    if not text:
        raise InvalidFormat(
            "the name is empty", field=field, expected=f"a name, or None when there is no {field}"
        )
    return text


def _reading(value: object, field: str) -> str | None:
    if value is None:
        return None
    raw = _require_str(value, field)
    check_raw_length(raw, field, READING_MAX_LENGTH)
    _refuse_controls(raw, field)
    if not normalize_text(raw):
        return ""  # allowed only for the given-name reading of a single-name person
    return normalize_reading(raw, field=field)


# Named converters: mypy's attrs plugin understands only named functions.
def _family(value: object) -> str:
    return _name(value, "family")


def _given(value: object) -> str:
    return _name(value, "given")


def _former_family(value: object) -> str | None:
    return _optional_name(value, "former_family")


def _alias(value: object) -> str | None:
    return _optional_name(value, "alias", spaces_in_japanese=True)


def _family_reading(value: object) -> str | None:
    return _reading(value, "family_reading")


def _given_reading(value: object) -> str | None:
    return _reading(value, "given_reading")


def _former_family_reading(value: object) -> str | None:
    return _reading(value, "former_family_reading")


def _alias_reading(value: object) -> str | None:
    return _reading(value, "alias_reading")


def _join(first: str, second: str) -> str:
    return f"{first} {second}" if second else first


@attrs.frozen(kw_only=True, repr=False)
class PersonName:
    """A person's name (氏名, shimei) with reading (振り仮名), 旧氏 and 通称.

    Every part is normalised with :func:`normalize_text`; readings with
    :func:`normalize_reading`. The rules:

    * ``family`` (氏) is never empty. A name part is either Japanese script
      (kanji, kana, 々 ゝ ゞ ヽ ヾ ー; no spaces) or Latin letters with spaces,
      hyphens, apostrophes and full stops (foreign residents), never mixed,
      never digits or symbols; at most :data:`NAME_MAX_LENGTH` characters.
    * ``given`` (名) may be ``""`` only in a Latin-script name: some foreign
      residents have a single name. A Japanese name has both parts.
    * The reading (住基法7条1号の2, since 2025-05-26) is given for both parts
      or for neither (older records have none). A single-name person's
      ``given_reading`` is ``""``.
    * ``former_family`` (旧氏, 令30条の13) is in Japanese script (it comes from
      the family register); its reading needs the former surname. ``alias``
      (通称) is a whole name, spaces allowed; its reading needs the alias.
    * 旧氏 is recorded only for Japanese nationals and 通称 only for foreign
      residents, so a name never has both.

    Ideographic variation selectors are not kept: ``葛󠄀城`` and ``葛城`` are
    stored alike.

    >>> PersonName(family='山田', given='太郎', family_reading='やまだ', given_reading='たろう')
    PersonName(family='山田', given='太郎', family_reading='ヤマダ', given_reading='タロウ')
    >>> PersonName(family='NGUYEN', given='', alias='中村 花子').full
    'NGUYEN'
    >>> PersonName(family='山田', given='')
    Traceback (most recent call last):
    ...
    jukinet.errors.InvalidFormat: given: the given name is empty (expected a given name; only a name in Latin letters may have none)
    """

    __repr__ = set_fields_repr

    family: str = attrs.field(converter=_family)
    """The family name (氏)."""
    given: str = attrs.field(converter=_given)
    """The given name (名); ``""`` only for a single-name person in Latin script."""
    family_reading: str | None = attrs.field(default=None, converter=_family_reading)
    """The reading of the family name in katakana (氏の振り仮名), or ``None``."""
    given_reading: str | None = attrs.field(default=None, converter=_given_reading)
    """The reading of the given name in katakana (名の振り仮名), or ``None``."""
    former_family: str | None = attrs.field(default=None, converter=_former_family)
    """The former surname (旧氏), or ``None``."""
    former_family_reading: str | None = attrs.field(default=None, converter=_former_family_reading)
    """The reading of the former surname in katakana, or ``None``."""
    alias: str | None = attrs.field(default=None, converter=_alias)
    """The alias (通称) of a foreign resident, as a whole name, or ``None``."""
    alias_reading: str | None = attrs.field(default=None, converter=_alias_reading)
    """The reading of the alias in katakana, or ``None``."""

    def __attrs_post_init__(self) -> None:
        if not self.family:
            raise InvalidFormat(
                "the family name is empty", field="family", expected="a family name"
            )
        if not self.given and _script(self.family) != "latin":
            raise InvalidFormat(
                "the given name is empty",
                field="given",
                expected="a given name; only a name in Latin letters may have none",
            )
        if (self.family_reading is None) != (self.given_reading is None):
            raise InvalidFormat(
                "only one part of the name has a reading",
                field="family_reading" if self.family_reading is None else "given_reading",
                expected="readings for both family and given name, or for neither",
            )
        if self.family_reading == "":
            raise InvalidFormat(
                "the reading is empty", field="family_reading", expected="a non-empty reading"
            )
        if self.given_reading is not None and (self.given_reading == "") != (self.given == ""):
            raise InvalidFormat(
                "the given-name reading is empty"
                if self.given
                else "a missing given name has a reading",
                field="given_reading",
                expected="a reading exactly when there is a given name",
            )
        for reading_field, name_field in (
            ("former_family_reading", "former_family"),
            ("alias_reading", "alias"),
        ):
            reading = getattr(self, reading_field)
            if reading == "":
                raise InvalidFormat(
                    "the reading is empty", field=reading_field, expected="a non-empty reading"
                )
            if reading is not None and getattr(self, name_field) is None:
                raise InvalidFormat(
                    f"a reading is given without the {name_field}",
                    field=reading_field,
                    expected=f"the {name_field} together with its reading",
                )
        if self.former_family is not None and _script(self.former_family) != "japanese":
            raise InvalidFormat(
                "a former surname is written in kanji or kana",
                field="former_family",
                expected="the former surname from the family register, in Japanese script",
            )
        if self.former_family is not None and self.alias is not None:
            raise InvalidComponent(
                "a name has both a former surname (旧氏) and an alias (通称)",
                field="alias",
                expected="旧氏 for Japanese nationals or 通称 for foreign residents, not both",
            )

    @classmethod
    def parse(cls, text: str, reading: str | None = None) -> Self:
        """Build a name from ``'family given'``, split at the first space.

        Half- and full-width spaces both separate. Without a space the whole
        text is the family name (allowed only for a Latin-script single name).
        ``reading`` is split the same way and must have as many parts.

        >>> PersonName.parse('山田　太郎', reading='ヤマダ　タロウ').given_reading
        'タロウ'
        >>> PersonName.parse('SMITH JOHN PAUL').given
        'JOHN PAUL'
        >>> PersonName.parse('山田 太郎', reading='ヤマダタロウ')
        Traceback (most recent call last):
        ...
        jukinet.errors.InvalidFormat: reading: the reading does not separate family and given name (expected a space between the two readings, as in 'ヤマダ タロウ')
        """
        check_raw_length(_require_str(text, "name"), "name", _FULL_NAME_MAX_LENGTH)
        family, _, given = normalize_text(text).partition(" ")
        family_reading: str | None = None
        given_reading: str | None = None
        if reading is not None:
            check_raw_length(_require_str(reading, "reading"), "reading", _FULL_READING_MAX_LENGTH)
            family_reading, sep, given_reading = normalize_text(reading).partition(" ")
            if given and not sep:
                raise InvalidFormat(
                    "the reading does not separate family and given name",
                    field="reading",
                    expected="a space between the two readings, as in 'ヤマダ タロウ'",
                )
        return cls(
            family=family,
            given=given,
            family_reading=family_reading,
            given_reading=given_reading,
        )

    @property
    def full(self) -> str:
        """The name as written: family, a space, given (``山田 太郎``)."""
        return _join(self.family, self.given)

    @property
    def full_reading(self) -> str | None:
        """The reading as written (``ヤマダ タロウ``), or ``None`` without readings."""
        if self.family_reading is None or self.given_reading is None:
            return None
        return _join(self.family_reading, self.given_reading)

    @property
    def matching_key(self) -> str:
        """:func:`name_key` of :attr:`full`: equal for spellings of the same name.

        >>> PersonName.parse('渡邊 惠').matching_key == PersonName.parse('渡辺 恵').matching_key
        True
        """
        return name_key(self.full)

    @property
    def reading_key(self) -> str | None:
        """The reading without spaces and the separators ``・``/``＝``, or ``None``.

        >>> PersonName.parse('山田 太郎', reading='やまだ たろう').reading_key
        'ヤマダタロウ'
        """
        reading = self.full_reading
        if reading is None:
            return None
        return "".join(ch for ch in reading if ch not in _READING_SEPARATORS)
