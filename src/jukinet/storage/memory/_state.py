"""The shared state of the in-memory adapter, assembled from each concern's part.

:class:`_State` (the committed data with its indexes), :class:`_Pending` (what
a unit of work has staged) and :class:`_View` (the committed state seen through
a unit of work's staging: the snapshot a call reads) are each composed of the
parts the concern modules define (``_RegisterState``, ``_RegisterPending``,
``_RegisterView``, …); :meth:`_State.apply` applies a committed unit of work,
part by part. :class:`MemoryDatabase` holds the state, the locks and the schema
version; :class:`MemoryUnitOfWork` holds a unit of work's staging.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import attrs

from jukinet.errors import ProgrammingError, SchemaVersionMismatch
from jukinet.storage.base import SCHEMA_VERSION, UnitOfWork
from jukinet.storage.memory.agencies import _AgenciesPending, _AgenciesState, _AgenciesView
from jukinet.storage.memory.audit import _AuditPending, _AuditState, _AuditView
from jukinet.storage.memory.cards import _CardsPending, _CardsState, _CardsView
from jukinet.storage.memory.codes import _CodesPending, _CodesState, _CodesView
from jukinet.storage.memory.identity import _IdentityPending, _IdentityState, _IdentityView
from jukinet.storage.memory.links import _LinksPending, _LinksState, _LinksView
from jukinet.storage.memory.pending import _NoticesPending, _NoticesState, _NoticesView
from jukinet.storage.memory.provision import (
    _ProvisionPending,
    _ProvisionState,
    _ProvisionView,
)
from jukinet.storage.memory.register import _RegisterPending, _RegisterState, _RegisterView
from jukinet.storage.memory.schedule import _SchedulePending, _ScheduleState, _ScheduleView

if TYPE_CHECKING:
    from jukinet.storage.memory.store import MemoryStore


# --- the committed state and the staged changes ------------------------------------


class _State(
    _RegisterState,
    _IdentityState,
    _LinksState,
    _CodesState,
    _AuditState,
    _AgenciesState,
    _ProvisionState,
    _ScheduleState,
    _NoticesState,
    _CardsState,
):
    """Committed data with its indexes; changed only by :meth:`apply`."""

    def apply(self, pending: _Pending) -> None:
        """Apply a committed unit of work's changes (never fails halfway)."""
        self._apply_register(pending)
        self._apply_identities(pending)
        self._apply_links(pending)
        self._apply_codes(pending)
        self._apply_audit(pending)
        self._apply_agencies(pending)
        self._apply_provision(pending)
        self._apply_schedule(pending)
        self._apply_notices(pending)
        self._apply_cards(pending)


@attrs.define(slots=False)
class _Pending(
    _RegisterPending,
    _IdentityPending,
    _LinksPending,
    _CodesPending,
    _AuditPending,
    _AgenciesPending,
    _ProvisionPending,
    _SchedulePending,
    _NoticesPending,
    _CardsPending,
):
    """What a unit of work has written and not yet committed."""


_NOTHING_STAGED = _Pending()
"""The (never written) staging of a read outside any unit of work."""


class _View(
    _RegisterView,
    _IdentityView,
    _LinksView,
    _CodesView,
    _AuditView,
    _AgenciesView,
    _ProvisionView,
    _ScheduleView,
    _NoticesView,
    _CardsView,
):
    """Committed state, seen through a unit of work's staged changes (if any)."""

    state: _State
    pending: _Pending

    def __init__(self, state: _State, pending: _Pending | None) -> None:
        self.state = state
        self.pending = pending if pending is not None else _NOTHING_STAGED


# --- the database and the unit of work ---------------------------------------------


_MIGRATES_FROM = ("2", "3", "4")
"""The earlier schema versions that :meth:`MemoryStore.create_schema` migrates."""


class MemoryDatabase:
    """The storage behind one or more :class:`MemoryStore` handles (the "file").

    Holds the committed data, the write lock that units of work take, and
    :attr:`meta`, the equivalent of the SQL adapters' ``jukinet_meta`` table.
    """

    def __init__(self) -> None:
        self.meta: dict[str, str] = {}
        """``{"schema_version": str(SCHEMA_VERSION)}`` once the schema exists (empty before)."""
        self._state: _State | None = None
        self._state_lock = threading.Lock()  # short: reads and commits
        self._write_lock = threading.Lock()  # long: held by a unit of work
        self._writer: int | None = None  # thread that holds the write lock

    def _create_schema(self) -> None:
        with self._state_lock:
            if self._state is None:
                self._state = _State()
                self.meta.setdefault("schema_version", str(SCHEMA_VERSION))
            elif self.meta.get("schema_version") in _MIGRATES_FROM:
                # 2 -> 3: identity versions gained received_on; those a version 2
                # store holds have none (None: the day is unknown), nothing to change.
                # 3 -> 4: pending notices, none yet. 4 -> 5: cards, none yet.
                self.meta["schema_version"] = str(SCHEMA_VERSION)

    def _checked_state(self) -> _State:
        state = self._state
        if state is None or "schema_version" not in self.meta:
            raise ProgrammingError(
                "the storage has no jukinet schema: call create_schema() first",
                expected=f"schema version {SCHEMA_VERSION}",
            )
        stored = self.meta["schema_version"]
        if stored != str(SCHEMA_VERSION):
            hint = ": call create_schema() to migrate it" if stored in _MIGRATES_FROM else ""
            raise SchemaVersionMismatch(
                f"the storage has schema version {stored}, this code uses {SCHEMA_VERSION}{hint}",
                expected=f"schema version {SCHEMA_VERSION}",
            )
        return state


class MemoryUnitOfWork(UnitOfWork):
    """A unit of work of a :class:`MemoryStore`: holds the staged writes."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._pending = _Pending()
        self._active = True

    @property
    def active(self) -> bool:
        """Whether the unit of work can still be written to."""
        return self._active
