"""The resident register (住民基本台帳) of the in-memory adapter.

Its part of the committed state (:class:`_RegisterState`: every version per
person, the current versions by internal number, each code's owner, households
and status counts), of the staging (:class:`_RegisterPending`) and of the view
(:class:`_RegisterView`), and the port, :class:`MemoryRegister`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence

import attrs
from sortedcontainers import SortedDict

from jukinet.errors import IntegrityError
from jukinet.storage.base import Register, UnitOfWork
from jukinet.storage.memory._database import (
    _check_codes,
    _merge_sorted,
    _Port,
    _rows,
    _sequence,
)
from jukinet.storage.records import (
    RegisterRow,
    check_household_id,
    check_int,
    check_internal_id,
    check_status,
)


class _RegisterState:
    """The register's committed data with its indexes."""

    def __init__(self) -> None:
        super().__init__()
        self.reg_versions: dict[str, list[RegisterRow]] = {}
        self.reg_current: SortedDict[str, RegisterRow] = SortedDict()
        self.reg_owner: dict[str, str] = {}  # every code ever held -> internal id
        self.reg_households: dict[str, set[str]] = {}  # household -> internal ids (current)
        self.reg_status: Counter[str] = Counter()

    def _apply_register(self, pending: _RegisterPending) -> None:
        for reg_row in pending.reg_rows:
            self.reg_versions.setdefault(reg_row.internal_id, []).append(reg_row)
        for internal_id, reg_new in pending.reg_current.items():
            reg_old = self.reg_current.get(internal_id)
            if reg_old is not None:
                self.reg_status[reg_old.status] -= 1
                if reg_old.household_id != reg_new.household_id:
                    members = self.reg_households[reg_old.household_id]
                    members.discard(internal_id)
                    if not members:
                        del self.reg_households[reg_old.household_id]
            self.reg_status[reg_new.status] += 1
            self.reg_households.setdefault(reg_new.household_id, set()).add(internal_id)
        self.reg_current.update(pending.reg_current)
        self.reg_owner.update(pending.reg_owner)


@attrs.define(slots=False)
class _RegisterPending:
    """The register versions a unit of work has written."""

    reg_rows: list[RegisterRow] = attrs.Factory(list)
    reg_new: dict[str, list[RegisterRow]] = attrs.Factory(dict)
    reg_current: dict[str, RegisterRow] = attrs.Factory(dict)
    reg_owner: dict[str, str] = attrs.Factory(dict)


class _RegisterView:
    """The committed register, seen through a unit of work's staged versions."""

    state: _RegisterState
    pending: _RegisterPending

    def reg_current(self, internal_id: str) -> RegisterRow | None:
        row = self.pending.reg_current.get(internal_id)
        return row if row is not None else self.state.reg_current.get(internal_id)

    def reg_version(self, internal_id: str) -> int:
        row = self.reg_current(internal_id)
        return 0 if row is None else row.version

    def reg_owner(self, code: str) -> str | None:
        owner = self.pending.reg_owner.get(code)
        return owner if owner is not None else self.state.reg_owner.get(code)

    def reg_history(self, internal_id: str) -> list[RegisterRow]:
        return [
            *self.state.reg_versions.get(internal_id, ()),
            *self.pending.reg_new.get(internal_id, ()),
        ]

    def reg_ids_after(self, after: str | None) -> Iterator[str]:
        committed = self.state.reg_current.irange(minimum=after, inclusive=(False, False))
        staged = sorted(k for k in self.pending.reg_current if after is None or k > after)
        return _merge_sorted(committed, staged)


class MemoryRegister(_Port[_RegisterView, _RegisterPending], Register):
    """The resident register (住民基本台帳) of a :class:`MemoryStore`.

    Versions are only ever appended: earlier versions and removed records
    (除票, kept 150 years by 令34条1項) stay and are found like the others. A
    resident code, once held, belongs to its internal number for ever, so
    :meth:`current_by_code` also finds a person by a code they no longer hold.
    """

    def append(self, uow: UnitOfWork, rows: Sequence[RegisterRow]) -> None:
        """Append versions; see :meth:`Register.append <jukinet.storage.base.Register.append>`."""
        batch = _rows(rows, RegisterRow, "rows")
        view, pending = self._store._write(uow)
        self._stage(view, pending, batch, first_versions_only=False)

    def bulk_load(self, uow: UnitOfWork, rows: Sequence[RegisterRow]) -> int:
        """Load first versions of new people; returns the number of rows."""
        batch = _rows(rows, RegisterRow, "rows")
        view, pending = self._store._write(uow)
        self._stage(view, pending, batch, first_versions_only=True)
        return len(batch)

    @staticmethod
    def _stage(
        view: _RegisterView,
        pending: _RegisterPending,
        batch: list[RegisterRow],
        *,
        first_versions_only: bool,
    ) -> None:
        versions: dict[str, int] = {}
        owners: dict[str, str] = {}
        for row in batch:
            person = row.internal_id
            current = versions.get(person)
            if current is None:
                current = view.reg_version(person)
            if first_versions_only and row.version != 1:
                raise IntegrityError(
                    f"bulk load got version {row.version} of {person}",
                    field="version",
                    expected="version 1 of people not yet in the register",
                )
            if row.version != current + 1:
                problem = "is already stored" if row.version <= current else "skips a version"
                raise IntegrityError(
                    f"version {row.version} of {person} {problem}",
                    field="version",
                    expected=f"version {current + 1}",
                )
            owner = owners.get(row.resident_code) or view.reg_owner(row.resident_code)
            if owner is not None and owner != person:
                # A code belongs to one person for ever (住基法30条の2第2項).
                raise IntegrityError(
                    f"resident code {row.resident_code} belongs to another internal number",
                    field="resident_code",
                    expected="a code never held by anyone else",
                )
            versions[person] = row.version
            owners[row.resident_code] = person
        for row in batch:
            pending.reg_rows.append(row)
            pending.reg_new.setdefault(row.internal_id, []).append(row)
            pending.reg_current[row.internal_id] = row
        pending.reg_owner.update(owners)

    def current(self, internal_id: str, uow: UnitOfWork | None = None) -> RegisterRow | None:
        """The newest version of the person with this internal number, or None."""
        check_internal_id(internal_id)
        return self._store._read(uow, lambda v: v.reg_current(internal_id))

    def current_by_code(
        self, resident_code: str, uow: UnitOfWork | None = None
    ) -> RegisterRow | None:
        """The newest version of the person who holds or held this resident code, or None."""

        def read(view: _RegisterView) -> RegisterRow | None:
            _check_codes((resident_code,), view.state.reg_owner, "resident_code")
            owner = view.reg_owner(resident_code)
            return None if owner is None else view.reg_current(owner)

        return self._store._read(uow, read)

    def current_many(
        self, resident_codes: Sequence[str], uow: UnitOfWork | None = None
    ) -> dict[str, RegisterRow]:
        """Code → newest version of its holder (old codes too, as :meth:`current_by_code`)."""
        codes = _sequence(resident_codes, "resident_codes")

        def read(view: _RegisterView) -> dict[str, RegisterRow]:
            _check_codes(codes, view.state.reg_owner)
            found: dict[str, RegisterRow] = {}
            for code in codes:
                owner = view.reg_owner(code)
                row = None if owner is None else view.reg_current(owner)
                if row is not None:
                    found[code] = row
            return found

        return self._store._read(uow, read)

    def history(self, internal_id: str, uow: UnitOfWork | None = None) -> list[RegisterRow]:
        """Every version of one person, oldest first (empty if unknown)."""
        check_internal_id(internal_id)
        return self._store._read(uow, lambda v: v.reg_history(internal_id))

    def household(self, household_id: str, uow: UnitOfWork | None = None) -> list[RegisterRow]:
        """Newest versions of the registered members of a household, by internal number."""
        check_household_id(household_id)

        def read(view: _RegisterView) -> list[RegisterRow]:
            members = set(view.state.reg_households.get(household_id, ()))
            members.update(
                k for k, r in view.pending.reg_current.items() if r.household_id == household_id
            )
            rows = (view.reg_current(k) for k in sorted(members))
            return [
                r
                for r in rows
                if r is not None and r.household_id == household_id and r.status == "registered"
            ]

        return self._store._read(uow, read)

    def scan(
        self, *, after: str | None = None, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[RegisterRow]:
        """Newest versions ordered by internal number (code points), after ``after``."""
        if after is not None:
            check_internal_id(after)
        check_int(limit, "limit")

        def read(view: _RegisterView) -> list[RegisterRow]:
            rows: list[RegisterRow] = []
            for key in view.reg_ids_after(after):
                if len(rows) >= limit:
                    break
                row = view.reg_current(key)
                if row is not None:
                    rows.append(row)
            return rows

        return self._store._read(uow, read)

    def count(self, *, status: str | None = None, uow: UnitOfWork | None = None) -> int:
        """How many people (newest versions), optionally with one status."""
        if status is not None:
            check_status(status)

        def read(view: _RegisterView) -> int:
            committed = view.state.reg_current
            counts = Counter(view.state.reg_status)
            for key, row in view.pending.reg_current.items():
                old = committed.get(key)
                if old is not None:
                    counts[old.status] -= 1
                counts[row.status] += 1
            return counts[status] if status is not None else sum(counts.values())

        return self._store._read(uow, read)
