"""The appended tables of permitted uses (住民基本台帳法 別表第一〜第六, beppyō).

Identity confirmation information (本人確認情報) leaves the national centre or a
prefecture only for a task listed in one of six appended tables of the Basic
Resident Registration Act. Each row names a recipient (the left column, 上欄) and a
task (the right column, 下欄); :class:`PermittedUse` is one row and
:class:`AgencyUseTable` the whole shipped table, dated by the law revision it was
taken from (:data:`REVISION`, in force :data:`IN_FORCE`). The data ships unchanged
as ``data/agency_use_table.csv`` (see ``data/README-agency-use-table.md``) and is
read on first use, not at import.

>>> uses = AgencyUseTable.load()
>>> len(uses), uses.revision, uses.in_force
(689, '342AC0000000081_20260724_508AC0000000066', datetime.date(2026, 7, 24))

Which rows let the pension service receive identity information?

>>> [use.key for use in uses.by_statute('国民年金法')]
['1-77', '1-77の5']
>>> pension = uses.by_key('1-77')
>>> pension.recipient, pension.table.label_ja, pension.table.article
('厚生労働省及び日本年金機構', '別表第一', '30条の9')
>>> pension.table.provider, pension.table.scope
(<Provider.CENTER: 'center'>, <SubjectScope.NATIONWIDE: 'nationwide'>)

The resident code never leaves under a 別表 row; the individual number only when the
recipient may use it under 番号法9条:

>>> sorted(item.value for item in pension.items(individual_number=False))
['address', 'birth_date', 'change', 'name', 'sex']
>>> Item.INDIVIDUAL_NUMBER in pension.items(individual_number=True)
True

Deleted rows can be looked up (to say so), but permit nothing and are left out of
the searches:

>>> uses.row(Table.FIRST, '4').deleted, uses.row(1, '4').items(individual_number=True)
(True, frozenset())
>>> [use.citation for use in uses.search('旅券', table=Table.FIFTH)]
['別表第五第6号']
>>> uses.row(1, '999')
Traceback (most recent call last):
...
jukinet.errors.NotFound: row: 別表第一 has no row 999 (expected a row of 別表第一 in revision 342AC0000000081_20260724_508AC0000000066)
>>> uses.row(7, '1')
Traceback (most recent call last):
...
jukinet.errors.InvalidComponent: table: there is no appended table 7 (expected 1 to 6, or 別表第一 to 別表第六)
"""

from __future__ import annotations

import csv
import enum
import functools
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from importlib import resources
from typing import Self

import attrs

from jukinet.domain._validate import check_raw_length
from jukinet.errors import InvalidComponent, InvalidFormat, InvalidLength, NotFound

__all__ = [
    "COLUMNS",
    "IN_FORCE",
    "REVISION",
    "AgencyUseTable",
    "Item",
    "PermittedUse",
    "Provider",
    "SubjectScope",
    "Table",
]

REVISION = "342AC0000000081_20260724_508AC0000000066"
"""The e-Gov law revision id of the 住民基本台帳法 text the shipped table was taken from."""

IN_FORCE = date(2026, 7, 24)
"""The day :data:`REVISION` came into force (last amending act 令和8年法律第66号)."""

COLUMNS = ("table", "row", "recipient", "task", "statutes")
"""The header of the table's CSV form."""

DELETED = "削除"
"""The task text of a row the law has deleted (…の項 削除)."""

_DATA_FILE = "agency_use_table.csv"
# Longest texts taken (the shipped table's longest, with room: a task of 1,277
# characters, a recipient of 244, a statute name of 60, a row number of 6).
_TASK_MAX_LENGTH = 4000
_RECIPIENT_MAX_LENGTH = 1000
_STATUTE_MAX_LENGTH = 200
_ROW_MAX_LENGTH = 16
_TABLE_MAX_LENGTH = 8
_KEY_MAX_LENGTH = _TABLE_MAX_LENGTH + 1 + _ROW_MAX_LENGTH
_SEARCH_MAX_LENGTH = 1000
_ROW = re.compile(r"[1-9][0-9]*(?:の[1-9][0-9]*)*")
_KEY = re.compile(r"([0-9]+)-(.+)")
_STATUTE_SEPARATOR = "|"
_KANJI = ("一", "二", "三", "四", "五", "六")


class Provider(enum.Enum):
    """Who holds the copy a table's recipients are given or use."""

    CENTER = "center"
    """The national centre, J-LIS (機構), from 機構保存本人確認情報 (住基法30条の7第4項)."""
    PREFECTURE = "prefecture"
    """The prefecture, from 都道府県知事保存本人確認情報 (住基法30条の6第4項)."""


class SubjectScope(enum.Enum):
    """Whose identity information a table's recipients may obtain, by where they live."""

    NATIONWIDE = "nationwide"
    """Residents anywhere in Japan (住基法30条の9)."""
    SAME_PREFECTURE = "same_prefecture"
    """Residents of the recipient's own prefecture (通知都道府県の区域内, 住基法30条の10)."""
    OTHER_PREFECTURE = "other_prefecture"
    """Residents of a prefecture other than the recipient's (通知都道府県以外, 住基法30条の11, 30条の12)."""
    OWN_PREFECTURE = "own_prefecture"
    """Residents of the providing prefecture itself (住基法30条の15)."""

    def refuses(self, locality: str | None, provider: str) -> str | None:
        """Why a recipient whose seat is the local government ``locality`` (its code;
        None: a national body) may not receive under this scope from ``provider``
        (a prefecture's two-digit code, or the centre's node code), or None.

        >>> SubjectScope.SAME_PREFECTURE.refuses(None, "jlis")
        'the table is for local bodies, and the recipient has none'
        >>> SubjectScope.OWN_PREFECTURE.refuses("271004", "13")
        'the table serves bodies of prefecture 13 only'
        >>> SubjectScope.OWN_PREFECTURE.refuses("131016", "13") is None
        True
        """
        if self is not SubjectScope.NATIONWIDE and locality is None:
            return "the table is for local bodies, and the recipient has none"
        if self is SubjectScope.OWN_PREFECTURE and (locality or "")[:2] != provider:
            return f"the table serves bodies of prefecture {provider} only"
        return None

    def covers(self, municipality: str, locality: str | None, provider: str) -> bool:
        """Whether a resident of ``municipality`` is someone a recipient seated at
        ``locality`` may receive information about from ``provider`` (see
        :meth:`refuses` for the arguments).

        >>> SubjectScope.SAME_PREFECTURE.covers("131016", "132012", "jlis")
        True
        >>> SubjectScope.OTHER_PREFECTURE.covers("131016", "132012", "jlis")
        False
        """
        home = (locality or "")[:2]
        if self is SubjectScope.SAME_PREFECTURE:
            return municipality[:2] == home
        if self is SubjectScope.OTHER_PREFECTURE:
            return municipality[:2] != home
        if self is SubjectScope.OWN_PREFECTURE:
            return municipality[:2] == provider
        return True


class Table(enum.IntEnum):
    """One of the six appended tables (別表) of 住民基本台帳法.

    >>> Table.SECOND.label_ja, Table.SECOND.article, Table.SECOND.scope
    ('別表第二', '30条の10', <SubjectScope.SAME_PREFECTURE: 'same_prefecture'>)
    >>> Table.parse('別表第六') is Table.parse(6) is Table.SIXTH
    True
    """

    FIRST = 1
    """別表第一: national agencies and corporations, supplied by J-LIS (住基法30条の9)."""
    SECOND = 2
    """別表第二: municipal bodies in the same prefecture, supplied by J-LIS (住基法30条の10)."""
    THIRD = 3
    """別表第三: other prefectures' governors and bodies, supplied by J-LIS (住基法30条の11)."""
    FOURTH = 4
    """別表第四: municipal bodies in other prefectures, via their governor (住基法30条の12)."""
    FIFTH = 5
    """別表第五: tasks for which the governor uses the prefecture's copy (住基法30条の15第1項)."""
    SIXTH = 6
    """別表第六: the prefecture's other executive bodies (住基法30条の15第2項)."""

    @classmethod
    def parse(cls, value: object) -> Table:
        """Return the table for ``1``–``6``, ``'1'``–``'6'`` or ``'別表第一'``–``'別表第六'``.

        Anything else raises :class:`~jukinet.errors.InvalidComponent` (an unknown
        table) or :class:`~jukinet.errors.InvalidFormat` (not an int or str).

        >>> Table.parse('３')
        <Table.THIRD: 3>
        """
        if isinstance(value, Table):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str):
            check_raw_length(value, "table", _TABLE_MAX_LENGTH)
            text = unicodedata.normalize("NFKC", value).strip()
            if text.isascii() and text.isdigit():
                number = int(text)
            elif text.startswith("別表第") and text[3:] in _KANJI:
                number = _KANJI.index(text[3:]) + 1
            else:
                raise InvalidComponent(
                    f"there is no appended table {text!r}",
                    field="table",
                    expected="1 to 6, or 別表第一 to 別表第六",
                )
        else:
            raise InvalidFormat(
                f"expected an int or str, got {type(value).__name__}",
                field="table",
                expected="1 to 6, or 別表第一 to 別表第六",
            )
        if not 1 <= number <= len(_KANJI):
            shown = number if -1000 < number < 1000 else "of that number"  # str(): digit limit
            raise InvalidComponent(
                f"there is no appended table {shown}",
                field="table",
                expected="1 to 6, or 別表第一 to 別表第六",
            )
        return cls(number)

    @property
    def label_ja(self) -> str:
        """The table's name in the law, ``別表第一`` … ``別表第六``."""
        return "別表第" + _KANJI[self.value - 1]

    @property
    def article(self) -> str:
        """The article of 住民基本台帳法 that provides under this table (``30条の9`` …)."""
        return _ARTICLES[self]

    @property
    def provider(self) -> Provider:
        """Whose copy is given or used: J-LIS for 別表第一〜第四 (住基法30条の9〜30条の12),
        the prefecture for 別表第五・第六 (住基法30条の15)."""
        return Provider.CENTER if self <= Table.FOURTH else Provider.PREFECTURE

    @property
    def scope(self) -> SubjectScope:
        """Whose information the table's recipients may obtain (see :class:`SubjectScope`)."""
        return _SCOPES[self]

    @property
    def row_label(self) -> str:
        """How the law names one row: ``項`` (the rows of a two-column table), but ``号``
        in 別表第五, which is a numbered list without a recipient column."""
        return "号" if self is Table.FIFTH else "項"


_ARTICLES = {
    Table.FIRST: "30条の9",
    Table.SECOND: "30条の10",
    Table.THIRD: "30条の11",
    Table.FOURTH: "30条の12",
    Table.FIFTH: "30条の15第1項",
    Table.SIXTH: "30条の15第2項",
}

_SCOPES = {
    Table.FIRST: SubjectScope.NATIONWIDE,
    Table.SECOND: SubjectScope.SAME_PREFECTURE,
    Table.THIRD: SubjectScope.OTHER_PREFECTURE,
    Table.FOURTH: SubjectScope.OTHER_PREFECTURE,
    Table.FIFTH: SubjectScope.OWN_PREFECTURE,
    Table.SIXTH: SubjectScope.OWN_PREFECTURE,
}


class Item(enum.Enum):
    """An item of identity confirmation information (本人確認情報, 住基法30条の6第1項)."""

    NAME = "name"
    """Name with its reading (氏名, 氏名の振り仮名; 住基法7条1号・1号の2)."""
    BIRTH_DATE = "birth_date"
    """Date of birth (出生の年月日; 住基法7条2号)."""
    SEX = "sex"
    """Sex (男女の別; 住基法7条3号)."""
    ADDRESS = "address"
    """Address (住所; 住基法7条7号)."""
    RESIDENT_CODE = "resident_code"
    """Resident code (住民票コード; 住基法7条13号); withheld from every 別表 row."""
    INDIVIDUAL_NUMBER = "individual_number"
    """Individual number (個人番号; 住基法7条8号の2); only where 番号法9条 allows its use."""
    CHANGE = "change"
    """Reason and date of the last change (異動事由 and date; 住基法30条の6第1項, 政令で定める事項)."""


_ALL_ITEMS = frozenset(Item)
_NEVER_UNDER_A_TABLE = frozenset({Item.RESIDENT_CODE})


def _to_table(value: object) -> Table:
    return Table.parse(value)


def _to_row(value: object) -> str:
    """Canonical row number: NFKC (full-width digits folded), checked against ``57の3``."""
    if not isinstance(value, str):
        raise InvalidFormat(
            f"expected a str, got {type(value).__name__}",
            field="row",
            expected="a row number such as 57 or 57の3",
        )
    check_raw_length(value, "row", _ROW_MAX_LENGTH)
    row = unicodedata.normalize("NFKC", value).strip()
    if not _ROW.fullmatch(row):
        raise InvalidFormat(
            f"{row!r} is not a row number",
            field="row",
            expected="a row number such as 57 or 57の3 (Arabic digits joined by の)",
        )
    return row


def _to_statutes(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (tuple, list)):
        raise InvalidFormat(
            f"expected a tuple of str, got {type(value).__name__}",
            field="statutes",
            expected="a tuple of statute names",
        )
    names = tuple(value)
    for name in names:
        if not isinstance(name, str) or not name.strip() or _STATUTE_SEPARATOR in name:
            raise InvalidFormat(
                f"{name!r} is not a statute name",
                field="statutes",
                expected=f"non-empty names without {_STATUTE_SEPARATOR!r}",
            )
        _check_length(name, "statutes", _STATUTE_MAX_LENGTH)
    if len(set(names)) != len(names):
        raise InvalidFormat(
            "a statute is named twice",
            field="statutes",
            expected="each statute once, in order of first appearance",
        )
    return names


def _check_length(value: str, field: str, max_length: int) -> None:
    if len(value) > max_length:
        raise InvalidLength(
            f"{len(value):,} characters", field=field, expected=f"at most {max_length:,}"
        )


_TEXT_MAX_LENGTHS = {"recipient": _RECIPIENT_MAX_LENGTH, "task": _TASK_MAX_LENGTH}


def _require_str(_instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str):
        raise InvalidFormat(
            f"expected a str, got {type(value).__name__}", field=attribute.name, expected="text"
        )
    _check_length(value, attribute.name, _TEXT_MAX_LENGTHS[attribute.name])


@attrs.frozen(kw_only=True)
class PermittedUse:
    """One row of an appended table: a recipient (上欄) and a task (下欄) it may
    receive or use identity information for (住基法30条の9〜30条の15).

    ``row`` is the row (in 別表第五 the 号) as written, in Arabic digits: 五十七の三 is
    ``'57の3'``. ``statutes`` are the law names the task cites, in order. A row the
    law has deleted reads ``削除``: it has no recipient and no statutes, and permits
    nothing.

    >>> use = PermittedUse(table=1, row='５７の３', recipient='厚生労働省',
    ...                    task='医師法による…に関する事務であつて総務省令で定めるもの',
    ...                    statutes=('医師法',))
    >>> use.key, use.citation, use.deleted
    ('1-57の3', '別表第一の57の3の項', False)
    >>> PermittedUse(table=1, row='12a', recipient='x', task='y', statutes=())
    Traceback (most recent call last):
    ...
    jukinet.errors.InvalidFormat: row: '12a' is not a row number (expected a row number such as 57 or 57の3 (Arabic digits joined by の))
    """

    table: Table = attrs.field(converter=_to_table)
    row: str = attrs.field(converter=_to_row)
    recipient: str = attrs.field(validator=_require_str)
    task: str = attrs.field(validator=_require_str)
    statutes: tuple[str, ...] = attrs.field(converter=_to_statutes)

    def __attrs_post_init__(self) -> None:
        if self.deleted:
            if self.recipient or self.statutes:
                raise InvalidComponent(
                    "a deleted row has a recipient or statutes",
                    field="recipient",
                    expected="an empty recipient and no statutes for a row reading 削除",
                )
            return
        if not self.task.strip():
            raise InvalidFormat("the task is empty", field="task", expected="the task text")
        if not self.recipient.strip():
            raise InvalidFormat(
                "the recipient is empty", field="recipient", expected="the recipient body"
            )

    @property
    def key(self) -> str:
        """A stable id, ``'<table>-<row>'``: ``'1-57の3'``."""
        return f"{self.table.value}-{self.row}"

    @property
    def citation(self) -> str:
        """The row as the law cites it: ``別表第一の57の3の項``, ``別表第五第21号``."""
        if self.table is Table.FIFTH:
            return f"{self.table.label_ja}第{self.row}号"
        return f"{self.table.label_ja}の{self.row}の項"

    @property
    def deleted(self) -> bool:
        """Whether the law has deleted this row (its task reads ``削除``)."""
        return self.task == DELETED

    @property
    def sort_key(self) -> tuple[int, tuple[int, ...]]:
        """The order of the law: by table, then by row number (``57`` < ``57の2`` < ``58``)."""
        return self.table.value, tuple(int(part) for part in self.row.split("の"))

    def items(self, *, individual_number: bool) -> frozenset[Item]:
        """The items of identity information this row lets leave.

        Every item except the resident code: it is withheld under each table —
        別表第一 (住基法30条の9: 住民票コード以外), 別表第二〜第四 (30条の10〜30条の12,
        第1項第1号: 住民票コードを除く) and 別表第五・第六 (30条の15第1項: 住民票コードを
        除く, applied to 第2項). The individual number is included only when
        ``individual_number`` is true, i.e. the recipient may use it for this task
        under 番号法9条1項 (for 別表第五・第六 also 9条2項). A deleted row permits
        nothing.
        """
        if self.deleted:
            return frozenset()
        items = _ALL_ITEMS - _NEVER_UNDER_A_TABLE
        if not individual_number:
            items -= {Item.INDIVIDUAL_NUMBER}
        return items


def _fold(text: str) -> str:
    """NFKC, without white space: the form queries and table text are compared in."""
    return "".join(unicodedata.normalize("NFKC", text).split())


def _query(text: object, field: str) -> str:
    if not isinstance(text, str):
        raise InvalidFormat(
            f"expected a str, got {type(text).__name__}", field=field, expected="search text"
        )
    check_raw_length(text, field, _SEARCH_MAX_LENGTH)
    folded = _fold(text)
    if not folded:
        raise InvalidFormat("the search text is empty", field=field, expected="non-empty text")
    return folded


@attrs.frozen
class _Indexed:
    use: PermittedUse
    recipient: str
    task: str


class AgencyUseTable:
    """The appended tables 別表第一〜第六 of one law revision, indexed.

    :meth:`load` gives the shipped table (:data:`REVISION`); the constructor takes
    rows, for tests or another revision. Rows iterate in the law's order.
    :meth:`row` and :meth:`by_key` find deleted rows too; the searches
    (:meth:`by_recipient`, :meth:`by_statute`, :meth:`search`) return rows in force
    only.
    """

    def __init__(self, uses: Iterable[PermittedUse], *, revision: str, in_force: date) -> None:
        """Index ``uses``; two rows with the same key raise
        :class:`~jukinet.errors.InvalidComponent`."""
        if not isinstance(revision, str) or not revision.strip():
            raise InvalidFormat("no revision", field="revision", expected="a law revision id")
        if not isinstance(in_force, date):
            raise InvalidFormat(
                f"expected a date, got {type(in_force).__name__}",
                field="in_force",
                expected="the date the revision came into force",
            )
        given = list(uses)
        for use in given:
            if not isinstance(use, PermittedUse):
                raise InvalidFormat(
                    f"expected a PermittedUse, got {type(use).__name__}",
                    field="uses",
                    expected="PermittedUse rows",
                )
        ordered = sorted(given, key=lambda use: use.sort_key)
        by_key: dict[str, PermittedUse] = {}
        for use in ordered:
            if use.key in by_key:
                raise InvalidComponent(
                    f"{use.citation} appears twice", field="uses", expected="each row once"
                )
            by_key[use.key] = use
        self._revision = revision
        self._in_force = in_force
        self._uses = tuple(ordered)
        self._by_key: Mapping[str, PermittedUse] = by_key
        self._live = tuple(
            _Indexed(use, _fold(use.recipient), _fold(use.task))
            for use in ordered
            if not use.deleted
        )
        by_statute: dict[str, list[PermittedUse]] = {}
        for entry in self._live:
            for name in entry.use.statutes:
                by_statute.setdefault(_fold(name), []).append(entry.use)
        self._by_statute: Mapping[str, tuple[PermittedUse, ...]] = {
            name: tuple(found) for name, found in by_statute.items()
        }

    @classmethod
    def load(cls) -> AgencyUseTable:
        """The table shipped with jukinet (revision :data:`REVISION`), read once."""
        return _shipped()

    @classmethod
    def from_csv(cls, text: str, *, revision: str, in_force: date) -> Self:
        """Read the CSV form (header :data:`COLUMNS`, statutes joined by ``|``).

        A bad line raises a :class:`~jukinet.errors.ValidationError` naming the line
        (text that is not CSV too: an unterminated quote, a field of more than
        ``csv.field_size_limit()`` characters, a NUL).
        """
        reader = csv.reader(io.StringIO(text))
        try:
            return cls._from_rows(reader, revision, in_force)
        except csv.Error as err:
            raise InvalidFormat(
                f"line {reader.line_num} is not CSV ({err})",
                field="agency use table",
                expected="CSV (RFC 4180)",
            ) from None

    @classmethod
    def _from_rows(cls, reader: Iterator[list[str]], revision: str, in_force: date) -> Self:
        header = next(reader, None)
        if header is None or tuple(header) != COLUMNS:
            raise InvalidFormat(
                f"the header is {header!r}",
                field="agency use table",
                expected="the header " + ",".join(COLUMNS),
            )
        uses = []
        for line, fields in enumerate(reader, start=2):
            if len(fields) != len(COLUMNS):
                raise InvalidFormat(
                    f"line {line} has {len(fields)} fields",
                    field="agency use table",
                    expected=f"{len(COLUMNS)} fields",
                )
            table, row, recipient, task, statutes = fields
            try:
                uses.append(
                    PermittedUse(
                        table=table,
                        row=row,
                        recipient=recipient,
                        task=task,
                        statutes=tuple(statutes.split(_STATUTE_SEPARATOR)) if statutes else (),
                    )
                )
            except (InvalidFormat, InvalidComponent) as err:
                raise type(err)(
                    f"line {line}: {err.message}", field=err.field, expected=err.expected
                ) from err
        return cls(uses, revision=revision, in_force=in_force)

    @property
    def revision(self) -> str:
        """The law revision id the rows were taken from."""
        return self._revision

    @property
    def in_force(self) -> date:
        """The day that revision came into force."""
        return self._in_force

    def __len__(self) -> int:
        return len(self._uses)

    def __iter__(self) -> Iterator[PermittedUse]:
        return iter(self._uses)

    def __repr__(self) -> str:
        return f"<AgencyUseTable {len(self)} rows, revision {self._revision}>"

    def row(self, table: Table | int | str, row: str) -> PermittedUse:
        """The row ``row`` of ``table``, deleted or not.

        Raises :class:`~jukinet.errors.NotFound` when the table has no such row, and a
        :class:`~jukinet.errors.ValidationError` for a table or row that cannot exist.
        """
        which = Table.parse(table)
        number = _to_row(row)
        use = self._by_key.get(f"{which.value}-{number}")
        if use is None:
            raise NotFound(
                f"{which.label_ja} has no row {number}",
                field="row",
                expected=f"a row of {which.label_ja} in revision {self._revision}",
            )
        return use

    def by_key(self, key: str) -> PermittedUse:
        """The row whose :attr:`PermittedUse.key` is ``key`` (``'1-57の3'``), deleted or not."""
        if not isinstance(key, str):
            raise InvalidFormat(
                f"expected a str, got {type(key).__name__}",
                field="key",
                expected="a key such as 1-57の3",
            )
        check_raw_length(key, "key", _KEY_MAX_LENGTH)
        match = _KEY.fullmatch(unicodedata.normalize("NFKC", key).strip())
        if match is None:
            raise InvalidFormat(
                f"{key!r} is not a key", field="key", expected="a key such as 1-57の3"
            )
        return self.row(int(match.group(1)), match.group(2))

    def _live_in(self, table: Table | int | str | None) -> Iterator[_Indexed]:
        which = None if table is None else Table.parse(table)
        return (e for e in self._live if which is None or e.use.table is which)

    def by_recipient(
        self, text: str, *, table: Table | int | str | None = None
    ) -> list[PermittedUse]:
        """Rows in force whose recipient contains ``text`` (compared after NFKC, without
        white space), optionally in one ``table`` only.

        >>> [u.key for u in AgencyUseTable.load().by_recipient('気象庁')]
        ['1-119']
        """
        needle = _query(text, "recipient")
        return [e.use for e in self._live_in(table) if needle in e.recipient]

    def by_statute(
        self, name: str, *, table: Table | int | str | None = None
    ) -> list[PermittedUse]:
        """Rows in force that cite exactly the statute ``name`` (see
        ``PermittedUse.statutes``), optionally in one ``table`` only."""
        needle = _query(name, "statute")
        which = None if table is None else Table.parse(table)
        return [
            use for use in self._by_statute.get(needle, ()) if which is None or use.table is which
        ]

    def search(self, text: str, *, table: Table | int | str | None = None) -> list[PermittedUse]:
        """Rows in force whose task contains ``text`` (compared after NFKC, without white
        space), optionally in one ``table`` only."""
        needle = _query(text, "task")
        return [e.use for e in self._live_in(table) if needle in e.task]


@functools.cache
def _shipped() -> AgencyUseTable:
    """Read ``data/agency_use_table.csv`` on first use."""
    text = (
        resources.files("jukinet.domain")
        .joinpath("data")
        .joinpath(_DATA_FILE)
        .read_text(encoding="utf-8")
    )
    return AgencyUseTable.from_csv(text, revision=REVISION, in_force=IN_FORCE)
