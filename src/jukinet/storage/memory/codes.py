"""The resident-code pool (住民票コード) of the in-memory adapter.

Its part of the committed state (:class:`_CodesState`: each code ever
designated with its municipality, and each municipality's unused codes in
order), of the staging (:class:`_CodesPending`) and of the view
(:class:`_CodesView`), and the port, :class:`MemoryCodePool`.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
from sortedcontainers import SortedSet

from jukinet.errors import IntegrityError
from jukinet.storage.base import CodePool, UnitOfWork
from jukinet.storage.memory._database import _codes, _Port
from jukinet.storage.records import check_lg_code, check_resident_code


class _CodesState:
    """The code pool's committed data."""

    def __init__(self) -> None:
        super().__init__()
        self.pool: dict[str, str] = {}  # code ever designated -> municipality
        self.unused: dict[str, SortedSet[str]] = {}  # municipality -> unused codes

    def _apply_codes(self, pending: _CodesPending) -> None:
        for code, municipality in pending.pool.items():
            self.pool[code] = municipality
            self.unused.setdefault(municipality, SortedSet()).add(code)
        for code in pending.used:
            self.unused[self.pool[code]].discard(code)


@attrs.define(slots=False)
class _CodesPending:
    """The codes a unit of work has designated and used."""

    pool: dict[str, str] = attrs.Factory(dict)  # newly designated code -> municipality
    used: set[str] = attrs.Factory(set)  # codes marked used in this unit of work


class _CodesView:
    """The committed code pool, seen through a unit of work's staged changes."""

    state: _CodesState
    pending: _CodesPending

    def designated_to(self, code: str) -> str | None:
        municipality = self.pending.pool.get(code)
        return municipality if municipality is not None else self.state.pool.get(code)

    def is_used(self, code: str) -> bool:
        if code in self.pending.used:
            return True
        municipality = self.state.pool.get(code)
        return municipality is not None and code not in self.state.unused[municipality]


class MemoryCodePool(_Port[_CodesView, _CodesPending], CodePool):
    """Resident codes of a :class:`MemoryStore`: designated once, drawn once.

    A code is never designated twice (住基法30条の2第2項) and a drawn code is
    marked used in the same unit of work (30条の3第2項). :meth:`allocate`
    draws the lowest unused code of the municipality.
    """

    def designate(self, uow: UnitOfWork, municipality: str, codes: Sequence[str]) -> None:
        """Add codes to a municipality's pool; any code designated before refuses the lot."""
        check_lg_code(municipality)
        batch = _codes(codes, "codes")
        view, pending = self._store._write(uow)
        seen: set[str] = set()
        for code in batch:
            if code in seen or view.designated_to(code) is not None:
                raise IntegrityError(
                    f"resident code {code} was designated before",
                    field="codes",
                    expected="codes never designated (住基法30条の2第2項)",
                )
            seen.add(code)
        pending.pool.update(dict.fromkeys(batch, municipality))

    def allocate(self, uow: UnitOfWork, municipality: str) -> str | None:
        """Take the lowest unused code of the municipality and mark it used; None if empty."""
        check_lg_code(municipality)
        view, pending = self._store._write(uow)
        for code in view.state.unused.get(municipality, ()):
            if code not in pending.used:
                pending.used.add(code)
                return code
        staged = sorted(
            c for c, m in pending.pool.items() if m == municipality and c not in pending.used
        )
        if staged:
            pending.used.add(staged[0])
            return staged[0]
        return None

    def mark_used(self, uow: UnitOfWork, resident_code: str) -> None:
        """Mark a designated, unused code as used; otherwise IntegrityError."""
        check_resident_code(resident_code)
        view, pending = self._store._write(uow)
        if view.designated_to(resident_code) is None:
            raise IntegrityError(
                f"resident code {resident_code} was never designated",
                field="resident_code",
                expected="a designated code",
            )
        if view.is_used(resident_code):
            raise IntegrityError(
                f"resident code {resident_code} is already used",
                field="resident_code",
                expected="an unused code",
            )
        pending.used.add(resident_code)

    def available(self, municipality: str, uow: UnitOfWork | None = None) -> int:
        """How many unused codes the municipality has left."""
        check_lg_code(municipality)

        def read(view: _CodesView) -> int:
            total = len(view.state.unused.get(municipality, ()))
            total += sum(1 for m in view.pending.pool.values() if m == municipality)
            total -= sum(1 for c in view.pending.used if view.designated_to(c) == municipality)
            return total

        return self._store._read(uow, read)

    def is_designated(self, resident_code: str, uow: UnitOfWork | None = None) -> bool:
        """Whether the code was ever designated (to anyone)."""
        check_resident_code(resident_code)
        return self._store._read(uow, lambda v: v.designated_to(resident_code) is not None)

    def designated_to(self, resident_code: str, uow: UnitOfWork | None = None) -> str | None:
        """The municipality the code was designated to, or None."""
        check_resident_code(resident_code)
        return self._store._read(uow, lambda v: v.designated_to(resident_code))

    def designated_count(self, uow: UnitOfWork | None = None) -> int:
        """How many codes were ever designated."""
        return self._store._read(uow, lambda v: len(v.state.pool) + len(v.pending.pool))
