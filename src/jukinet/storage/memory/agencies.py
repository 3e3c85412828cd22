"""The agency registry of the in-memory adapter.

Its part of the committed state (:class:`_AgenciesState`: the agencies by
name), of the staging (:class:`_AgenciesPending`) and of the view
(:class:`_AgenciesView`), and the port, :class:`MemoryAgencyRegistry`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import attrs
from sortedcontainers import SortedDict

from jukinet.errors import IntegrityError
from jukinet.storage.base import AgencyRegistry, UnitOfWork
from jukinet.storage.memory._database import _merge_sorted, _Port, _rows
from jukinet.storage.records import AgencyRow, check_field, check_int


class _AgenciesState:
    """The agency registry's committed data."""

    def __init__(self) -> None:
        super().__init__()
        self.agencies: SortedDict[str, AgencyRow] = SortedDict()

    def _apply_agencies(self, pending: _AgenciesPending) -> None:
        self.agencies.update(pending.agencies)


@attrs.define(slots=False)
class _AgenciesPending:
    """The agencies a unit of work has registered."""

    agencies: dict[str, AgencyRow] = attrs.Factory(dict)


class _AgenciesView:
    """The committed agencies, seen through a unit of work's staged registrations."""

    state: _AgenciesState
    pending: _AgenciesPending

    def agency(self, name: str) -> AgencyRow | None:
        row = self.pending.agencies.get(name)
        return row if row is not None else self.state.agencies.get(name)

    def agency_names(self, after: str | None) -> Iterator[str]:
        committed = self.state.agencies.irange(minimum=after, inclusive=(False, False))
        staged = sorted(k for k in self.pending.agencies if after is None or k > after)
        return _merge_sorted(committed, staged)


class MemoryAgencyRegistry(_Port[_AgenciesView, _AgenciesPending], AgencyRegistry):
    """The agencies registered with a :class:`MemoryStore`'s node, by name
    (住基法30条の9〜30条の15: who may receive identity information, and for what).
    """

    def register(self, uow: UnitOfWork, row: AgencyRow) -> None:
        """Register an agency; a name registered before is an IntegrityError."""
        (agency,) = _rows((row,), AgencyRow, "row")
        view, pending = self._store._write(uow)
        if view.agency(agency.agency) is not None:
            raise IntegrityError(
                f"agency {agency.agency} is already registered",
                field="agency",
                expected="a name not registered before (a key is never replaced)",
            )
        pending.agencies[agency.agency] = agency

    def get(self, agency: str, uow: UnitOfWork | None = None) -> AgencyRow | None:
        """The agency's registration, or None."""
        check_field(AgencyRow, "agency", agency)
        return self._store._read(uow, lambda v: v.agency(agency))

    def list(
        self, *, after: str | None = None, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[AgencyRow]:
        """Registrations ordered by name (code point order), after ``after``, at most ``limit``."""
        if after is not None:
            check_field(AgencyRow, "agency", after)
        check_int(limit, "limit")

        def read(view: _AgenciesView) -> list[AgencyRow]:
            found: list[AgencyRow] = []
            for name in itertools.islice(view.agency_names(after), limit):
                row = view.agency(name)
                assert row is not None
                found.append(row)
            return found

        return self._store._read(uow, read)
