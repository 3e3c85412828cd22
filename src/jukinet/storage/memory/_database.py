"""What every port module of the in-memory adapter shares.

The argument helpers (the same rules as the record fields), :func:`_merge_sorted`
(a committed and a staged stream of keys as one), and :class:`_Port` with the
:class:`_Database` protocol: what a port needs from its store
(:meth:`_Database._read`, :meth:`_Database._write`), typed by the part of the
view and of the staging that the port's module owns, so that no port module
imports :mod:`~jukinet.storage.memory.store` or reaches another concern's state.
The state itself (committed, staged, and the views that merge them) is assembled
from those parts in :mod:`~jukinet.storage.memory._state`.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar

from jukinet.errors import InterfaceError
from jukinet.storage.base import UnitOfWork
from jukinet.storage.records import check_resident_code

_T = TypeVar("_T")
_K = TypeVar("_K", str, tuple[str, str])
_V = TypeVar("_V", covariant=True)
_P = TypeVar("_P", covariant=True)


# --- argument checks (the same rules as the record fields) -------------------------


def _sequence(value: object, what: str) -> Sequence[Any]:
    """The argument as a sequence of items (a str or bytes is one value, not a sequence)."""
    if isinstance(value, str | bytes | bytearray) or not isinstance(value, Sequence):
        raise InterfaceError(
            f"got {type(value).__name__}", field=what, expected="a sequence (list or tuple)"
        )
    return value


def _rows(value: object, cls: type[_T], what: str) -> list[_T]:
    items = _sequence(value, what)
    for index, item in enumerate(items):
        if not isinstance(item, cls):
            raise InterfaceError(
                f"item {index} is a {type(item).__name__}",
                field=what,
                expected=f"{cls.__name__} instances from jukinet.storage.records",
            )
    return list(items)


def _codes(value: object, field: str = "resident_codes") -> list[str]:
    return [check_resident_code(code, field) for code in _sequence(value, field)]


def _check_codes(
    codes: Sequence[Any], known: Mapping[str, object], field: str = "resident_codes"
) -> None:
    """Validate resident codes; a code already stored is valid (it came in a checked row)."""
    for code in codes:
        if type(code) is not str or code not in known:
            check_resident_code(code, field)


def _merge_sorted(first: Iterable[_K], second: Iterable[_K]) -> Iterator[_K]:
    """Merge two sorted streams of keys, each key once."""
    previous: _K | None = None
    for key in heapq.merge(first, second):
        if key != previous:
            yield key
            previous = key


# --- ports -------------------------------------------------------------------------


class _Database(Protocol[_V, _P]):
    """What a port needs from its store (:class:`~jukinet.storage.memory.MemoryStore`):
    ``_V`` is the part of the view the port reads, ``_P`` the part of the staging
    it writes."""

    def _read(self, uow: UnitOfWork | None, read: Callable[[_V], _T]) -> _T:
        """Run ``read`` on committed data, or on a unit of work's view of it."""
        ...

    def _write(self, uow: object) -> tuple[_V, _P]:
        """Check ``uow`` for a write; return the view to check against and its staging."""
        ...


class _Port(Generic[_V, _P]):
    """A port of a :class:`~jukinet.storage.memory.MemoryStore`: holds its store."""

    __slots__ = ("_store",)

    def __init__(self, store: _Database[_V, _P]) -> None:
        self._store = store
