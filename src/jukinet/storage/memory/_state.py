"""The shared state of the in-memory adapter, assembled from each concern's part.

:class:`MemoryState` (the committed data with its indexes, public for raw access:
:meth:`MemoryStore.raw_state <jukinet.storage.memory.MemoryStore.raw_state>`),
:class:`_Pending` (what a unit of work has staged) and :class:`_View` (the
committed state seen through a unit of work's staging: the snapshot a call reads)
are each composed of the parts the concern modules define (``_RegisterState``,
``_RegisterPending``, ``_RegisterView``, …); :meth:`MemoryState._apply` applies a
committed unit of work, part by part. :class:`MemoryDatabase` holds the state, the locks and the schema
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
from jukinet.storage.memory.counter import _CounterPending, _CounterState, _CounterView
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


class MemoryState(
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
    _CounterState,
):
    """The committed data of a :class:`MemoryDatabase`, with its indexes.

    The ports change it only when a unit of work commits. Tests, migrations and
    repair tools reach it through :meth:`MemoryStore.raw_state
    <jukinet.storage.memory.MemoryStore.raw_state>`, which bypasses every check: a
    change there must keep the indexes in step with the data they index, as a
    database's indexes follow its tables (the SQL adapters' table named in
    brackets). The fields, one part per concern:

    * register: ``reg_versions`` (internal id → its :class:`RegisterRow` versions,
      oldest first; ``register_versions``), ``reg_current`` (internal id → current
      row, sorted; ``register_current``), ``reg_owner`` (every resident code ever
      held → internal id; ``register_codes``), ``reg_households`` (household id →
      internal ids of its current members), ``reg_status`` (status → number of
      current rows);
    * identities: ``id_versions`` (resident code → its :class:`IdentityRow`
      versions; ``identity_versions``), ``id_words`` (code → municipality → that
      municipality's newest version; ``identity_current``), ``id_current`` (code →
      current version, sorted), ``id_search`` ((name key, birth date) → sorted
      (code, municipality) pairs of the words not removed), ``id_municipality``
      (municipality → sorted codes), ``id_dated`` (sorted (received_on, code,
      version) of the versions whose arrival day is known);
    * links: ``outbox`` (destination → its :class:`OutboxEntry` list, index = seq −
      1 − its base), ``outbox_base`` (resumed destination → the seq it was
      resumed at: its first entry is the next), ``acked`` (destination → acknowledged seq), ``tracking``
      (sender → position);
    * code pool: ``pool`` (every code ever designated → municipality;
      ``code_pool``), ``unused`` (municipality → its sorted unused codes);
    * audit log: ``audit`` (the :class:`AuditRecord` list, index = seq − 1),
      ``audit_actions`` (action → its seqs, ascending);
    * agencies: ``agencies`` (agency → :class:`AgencyRow`, sorted);
    * provision log: ``provision`` (seq → :class:`ProvisionRecord`, sorted;
      ``provision_log``), ``provision_head`` and ``provision_anchor`` ((seq, hash)
      pairs; ``provision_meta``), ``provision_subjects`` and ``provision_requests``
      (subject / request id → sorted seqs);
    * schedule: ``schedule`` (key → :class:`ScheduledItem`), ``schedule_due``
      (sorted (due, key));
    * pending notices: ``pending`` (seq → :class:`PendingRecord`;
      ``pending_notices``), ``pending_codes`` (resident code → sorted seqs;
      ``pending_codes``), ``pending_last`` (the highest seq ever given);
    * cards: ``cards`` (card id → :class:`CardRow`; ``cards``), ``card_events``
      (card id → its :class:`CardEventRow` list; ``card_events``), ``card_live``
      (holder → the card id of their live card), ``card_move_ins`` and
      ``card_expiries`` (sorted (day, card id) of live cards);
    * counter: ``counter_infos`` (certificate number → :class:`MoveOutInfoRow`;
      ``move_out_infos``), ``counter_info_codes`` (resident code → sorted
      (planned_date, certificate) of its infos), ``counter_erasures`` (sorted
      (erase_on, certificate) of every info), ``counter_requests`` (request id →
      :class:`CounterRequestRow`; ``counter_requests``), ``counter_unanswered``
      (sorted (asked_on, request id) of the requests not answered).

    The record classes are those of :mod:`jukinet.storage.records`; "sorted" is a
    :mod:`sortedcontainers` ``SortedDict`` or ``SortedSet``. The schema version is
    not here but in :attr:`MemoryDatabase.meta`.
    """

    def _apply(self, pending: _Pending) -> None:
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
        self._apply_counter(pending)


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
    _CounterPending,
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
    _CounterView,
):
    """Committed state, seen through a unit of work's staged changes (if any)."""

    state: MemoryState
    pending: _Pending

    def __init__(self, state: MemoryState, pending: _Pending | None) -> None:
        self.state = state
        self.pending = pending if pending is not None else _NOTHING_STAGED


# --- the database and the unit of work ---------------------------------------------


_MIGRATES_FROM = ("2", "3", "4", "5")
"""The earlier schema versions that :meth:`MemoryStore.create_schema` migrates."""


class MemoryDatabase:
    """The storage behind one or more :class:`MemoryStore` handles (the "file").

    Holds the committed data, the write lock that units of work take, and
    :attr:`meta`, the equivalent of the SQL adapters' ``jukinet_meta`` table.
    """

    def __init__(self) -> None:
        self.meta: dict[str, str] = {}
        """``{"schema_version": str(SCHEMA_VERSION)}`` once the schema exists (empty before)."""
        self._state: MemoryState | None = None
        self._state_lock = threading.Lock()  # short: reads and commits
        self._write_lock = threading.Lock()  # long: held by a unit of work
        self._writer: int | None = None  # thread that holds the write lock

    def _create_schema(self) -> None:
        with self._state_lock:
            if self._state is None:
                self._state = MemoryState()
                self.meta.setdefault("schema_version", str(SCHEMA_VERSION))
            elif self.meta.get("schema_version") in _MIGRATES_FROM:
                # 2 -> 3: identity versions gained received_on; those a version 2
                # store holds have none (None: the day is unknown), nothing to change.
                # 3 -> 4: pending notices, none yet. 4 -> 5: cards, none yet.
                # 5 -> 6: move-out infos and counter requests, none yet.
                self.meta["schema_version"] = str(SCHEMA_VERSION)

    def _checked_state(self) -> MemoryState:
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
