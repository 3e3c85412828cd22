"""A flat table of plain values with English and Japanese column names.

>>> from datetime import date
>>> table = Table.from_dicts(
...     "people",
...     (Column("resident_code", "住民票コード"), Column("birth_date", "生年月日")),
...     [{"resident_code": "12345678903", "birth_date": date(1980, 4, 1)}],
... )
>>> len(table), table.names, table.labels
(1, ('resident_code', 'birth_date'), ('住民票コード', '生年月日'))
>>> table.to_dicts()
[{'resident_code': '12345678903', 'birth_date': datetime.date(1980, 4, 1)}]
>>> table.to_dicts(japanese=True)
[{'住民票コード': '12345678903', '生年月日': datetime.date(1980, 4, 1)}]
>>> table.column("resident_code")
('12345678903',)

A row must give exactly the table's columns, each a plain value:

>>> Table.from_dicts("people", (Column("a", "甲"),), [{"a": [1]}])
Traceback (most recent call last):
...
jukinet.errors.InvalidFormat: rows: row 1, column 'a' holds a list (expected str, int, float, bool, date, datetime or None)
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, TypeAlias

import attrs

from jukinet.errors import InvalidFormat, MissingDependency

if TYPE_CHECKING:  # pragma: no cover - only for the annotation
    import pandas

__all__ = ["Column", "Table", "Value"]

Value: TypeAlias = str | int | float | bool | date | datetime | None
"""What a cell holds: a plain value a DataFrame takes as it is (codes are ``str``)."""

_PLAIN = (str, int, float, bool, date, datetime, type(None))


@attrs.frozen
class Column:
    """One column: its English ``name`` (a Python identifier), its Japanese ``label``
    (the law's term where it has one) and what it holds.

    >>> Column("birth_date", "生年月日", "date of birth (出生の年月日, 住基法7条2号)").label
    '生年月日'
    """

    name: str
    label: str
    description: str = ""

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise InvalidFormat(
                f"{self.name!r} is not a column name",
                field="name",
                expected="a Python identifier such as birth_date",
            )
        if not isinstance(self.label, str) or not self.label.strip():
            raise InvalidFormat("the label is empty", field="label", expected="a Japanese label")


def _columns(value: Iterable[Column]) -> tuple[Column, ...]:
    columns = tuple(value)
    for column in columns:
        if not isinstance(column, Column):
            raise InvalidFormat(
                f"expected a Column, got {type(column).__name__}",
                field="columns",
                expected="Column values",
            )
    for attribute in ("name", "label"):
        seen = [getattr(c, attribute) for c in columns]
        if len(set(seen)) != len(seen):
            raise InvalidFormat(
                f"two columns have the same {attribute}",
                field="columns",
                expected=f"each column's {attribute} once",
            )
    return columns


def _rows(value: Iterable[tuple[Value, ...]]) -> tuple[tuple[Value, ...], ...]:
    return tuple(value)


@attrs.frozen
class Table:
    """A named table: :attr:`columns` and :attr:`rows` of plain values, one tuple per
    row in column order.

    :meth:`to_dicts` gives the list of flat dicts a ``pandas.DataFrame`` (or polars,
    or ``csv.DictWriter``) takes directly; :meth:`to_pandas` builds the DataFrame
    itself when pandas is installed (``pip install 'jukinet[pandas]'``). With
    ``japanese=True`` both use the Japanese labels as column names. Iterating gives
    the rows as dicts with the English names.
    """

    name: str
    columns: tuple[Column, ...] = attrs.field(converter=_columns)
    rows: tuple[tuple[Value, ...], ...] = attrs.field(converter=_rows)

    def __attrs_post_init__(self) -> None:
        width = len(self.columns)
        for number, row in enumerate(self.rows, start=1):
            if not isinstance(row, tuple) or len(row) != width:
                raise InvalidFormat(
                    f"row {number} is not a tuple of {width} values",
                    field="rows",
                    expected="one value per column",
                )
            for column, value in zip(self.columns, row, strict=True):
                if not isinstance(value, _PLAIN):
                    raise InvalidFormat(
                        f"row {number}, column {column.name!r} holds a {type(value).__name__}",
                        field="rows",
                        expected="str, int, float, bool, date, datetime or None",
                    )

    @classmethod
    def from_dicts(
        cls, name: str, columns: Sequence[Column], rows: Iterable[Mapping[str, Value]]
    ) -> Table:
        """Build a table from dicts keyed by the columns' English names; a dict with a
        key missing or one too many raises :class:`~jukinet.errors.InvalidFormat`."""
        names = [column.name for column in columns]
        wanted = set(names)
        built: list[tuple[Value, ...]] = []
        for number, row in enumerate(rows, start=1):
            if set(row) != wanted:
                missing = sorted(wanted - set(row))
                extra = sorted(set(row) - wanted)
                raise InvalidFormat(
                    f"row {number} lacks {missing} and has extra {extra}",
                    field="rows",
                    expected="exactly the table's columns",
                )
            built.append(tuple(row[key] for key in names))
        return cls(name, tuple(columns), tuple(built))

    @property
    def names(self) -> tuple[str, ...]:
        """The English column names, in order."""
        return tuple(column.name for column in self.columns)

    @property
    def labels(self) -> tuple[str, ...]:
        """The Japanese column labels, in order."""
        return tuple(column.label for column in self.columns)

    def _keys(self, japanese: bool) -> tuple[str, ...]:
        return self.labels if japanese else self.names

    def column(self, name: str) -> tuple[Value, ...]:
        """Every value of one column (by its English name or its Japanese label)."""
        for index, column in enumerate(self.columns):
            if name in (column.name, column.label):
                return tuple(row[index] for row in self.rows)
        raise InvalidFormat(
            f"{self.name} has no column {name!r}",
            field="column",
            expected="one of " + ", ".join(self.names),
        )

    def to_dicts(self, *, japanese: bool = False) -> list[dict[str, Value]]:
        """The rows as flat dicts, keyed by the English names (or, with ``japanese``,
        the Japanese labels)."""
        keys = self._keys(japanese)
        return [dict(zip(keys, row, strict=True)) for row in self.rows]

    def to_pandas(self, *, japanese: bool = False) -> pandas.DataFrame:
        """The table as a ``pandas.DataFrame`` (columns named as in :meth:`to_dicts`).

        pandas is an optional extra: without it this raises
        :class:`~jukinet.errors.MissingDependency` naming ``pip install 'jukinet[pandas]'``.
        """
        try:
            module: Any = importlib.import_module("pandas")
        except ImportError as missing:
            raise MissingDependency(
                "Table.to_pandas needs pandas, which is not installed",
                expected="pip install 'jukinet[pandas]'",
            ) from missing
        frame: pandas.DataFrame = module.DataFrame(
            [list(row) for row in self.rows], columns=list(self._keys(japanese))
        )
        return frame

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict[str, Value]]:
        names = self.names
        return (dict(zip(names, row, strict=True)) for row in self.rows)

    def __repr__(self) -> str:
        return f"<Table {self.name}: {len(self.rows)} rows, {len(self.columns)} columns>"
