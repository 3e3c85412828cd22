"""The in-memory storage adapter: a real implementation of every port.

:class:`MemoryStore` keeps the same semantics and raises the same errors as the
SQLite and PostgreSQL adapters, and passes the same conformance suite
(:mod:`jukinet.testing.conformance`). It is what tests, notebooks and small
simulations use::

    >>> from jukinet.storage.memory import MemoryStore
    >>> store = MemoryStore()
    >>> store.create_schema()
    >>> with store.unit_of_work() as uow:
    ...     store.outbox.append(uow, "pref13", [b"notice 1", b"notice 2"])
    range(1, 3)
    >>> [entry.seq for entry in store.outbox.read("pref13")]
    [1, 2]
    >>> with store.unit_of_work() as uow:
    ...     store.outbox.acknowledge(uow, "pref13", 2)
    >>> store.outbox.acknowledged("pref13")
    2

How it works, in database terms:

* The data lives in a :class:`MemoryDatabase` (the "file"); a
  :class:`MemoryStore` is one handle (a "connection") onto it. Several handles
  can share one database — ``MemoryStore(store.database)`` — and each may be
  used from its own thread.
* The schema exists only after :meth:`MemoryStore.create_schema`; before it
  every port call raises :class:`~jukinet.errors.ProgrammingError`. The schema
  version is kept in :attr:`MemoryDatabase.meta` (the ``jukinet_meta`` table of
  the SQL adapters); a different version raises
  :class:`~jukinet.errors.SchemaVersionMismatch`.
* A unit of work holds the database's write lock from start to end, like
  SQLite's ``BEGIN IMMEDIATE``: writers run one at a time, waiting up to
  ``lock_timeout`` seconds (then :class:`~jukinet.errors.OperationalError`).
  Its writes are staged in the unit of work and applied to the committed
  state at commit, all at once; readers outside a unit of work never wait
  for a writer and see committed data only (snapshot reads, as in WAL mode).
* Every call validates all of its arguments, then checks every row against
  the staged and committed state, before it stages anything: a call that
  raises leaves the unit of work as it was. An exception leaving the ``with``
  block discards everything staged.
* Ordered indexes are :mod:`sortedcontainers` structures: the current versions
  by internal number and by resident code (scan, paging), the identity search
  index on (name key, birth date), the codes per municipality, and the
  destinations of the outbox. Each destination's outbox is a list whose
  index is the sequence number minus one (minus the number it was resumed at,
  see :meth:`MemoryOutbox.resume`), which makes numbers gap-free by
  construction; the audit log is such a list too, with each action's
  sequence numbers kept beside it in order (the SQL adapters' index on
  ``audit_log (action, seq)``). Acknowledged positions and resumed starts
  are kept per destination, like the ``acked`` and ``last_seq`` columns of
  the SQL adapters' ``outbox_heads``.
* The provision log is a sorted mapping from sequence number to record (the
  SQL adapters' ``provision_log``), with its head and anchor kept apart (their
  ``provision_meta``), so a record removed behind the port's back leaves the
  head naming it; indexes give each subject's and each request id's sequence
  numbers. A purge inside a unit of work is staged as the new anchor: every
  record up to it, committed or staged, is gone for that unit of work's reads
  and at commit. A kept value that is no longer the record stored (changed in
  place behind the port's back) is read as a
  :class:`~jukinet.errors.CorruptRecord` naming its ``seq``, as the SQL
  adapters read a row they cannot decode. Agencies are kept by name,
  scheduled items by key with an index on (due, key); a cancelled item is
  staged as a tombstone.
* For identities, besides every version per code, each municipality's newest
  word on each code is kept (the SQL adapters' ``identity_current`` table,
  keyed by code and municipality); a code's current version is derived from
  those words when they change, and the search index holds the words that are
  not removed, as (code, municipality) pairs. Versions with a known arrival day
  are indexed by (day, code, version), so :meth:`MemoryIdentityStore.expire`
  looks only at codes with a version received before its cut-off; an expiry
  inside a unit of work is staged as the highest committed version deleted per
  code (and drops the staged versions it reaches), and applied at commit, where
  the words of the municipalities left with no version are dropped.
* Pending notices are kept by sequence number (the highest ever given is kept
  too, so none is reused), with an index from each resident code to the
  numbers of its notices; like a provision record, a kept value changed in
  place is read as a :class:`~jukinet.errors.CorruptRecord` naming its ``seq``,
  and can still be removed.
* :meth:`MemoryStore.close` releases nothing (the memory belongs to the
  database object) but makes that handle refuse every later call with
  :class:`~jukinet.errors.InterfaceError`, like a closed DB-API connection;
  other handles keep working. Closing twice is allowed.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import date, datetime
from typing import Any, TypeVar

import attrs
from sortedcontainers import SortedDict, SortedSet

from jukinet.errors import (
    CorruptRecord,
    IntegrityError,
    InterfaceError,
    InvalidComponent,
    OperationalError,
    ProgrammingError,
    SchemaVersionMismatch,
)
from jukinet.storage.base import (
    SCHEMA_VERSION,
    AgencyRegistry,
    AuditLog,
    CodePool,
    IdentityStore,
    Outbox,
    PendingNotices,
    ProvisionLog,
    Register,
    Schedule,
    Store,
    Tracking,
    UnitOfWork,
)
from jukinet.storage.records import (
    GENESIS,
    AgencyRow,
    AuditEntry,
    AuditRecord,
    IdentityQuery,
    IdentityRow,
    OutboxEntry,
    PendingNotice,
    PendingRecord,
    ProvisionEntry,
    ProvisionRecord,
    RegisterRow,
    ScheduledItem,
    chain,
    check_aware,
    check_date,
    check_field,
    check_household_id,
    check_int,
    check_internal_id,
    check_lg_code,
    check_node_id,
    check_request,
    check_resident_code,
    check_status,
)

__all__ = [
    "MemoryAgencyRegistry",
    "MemoryAuditLog",
    "MemoryCodePool",
    "MemoryDatabase",
    "MemoryIdentityStore",
    "MemoryOutbox",
    "MemoryPendingNotices",
    "MemoryProvisionLog",
    "MemoryRegister",
    "MemorySchedule",
    "MemoryStore",
    "MemoryTracking",
    "MemoryUnitOfWork",
]

_T = TypeVar("_T")
_K = TypeVar("_K", str, tuple[str, str])


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


def _kept_record(seq: int, value: object) -> ProvisionRecord:
    """A committed provision record as kept under ``seq``.

    The one place where a kept value that is no longer the record :meth:`~MemoryProvisionLog.append`
    stored (changed in place behind the port's back) becomes a
    :class:`~jukinet.errors.CorruptRecord` naming it, as the SQL adapters name a row
    they cannot read back.
    """
    if (
        type(value) is ProvisionRecord
        and type(value.entry) is ProvisionEntry
        and type(value.seq) is int
        and value.seq == seq
    ):
        return value
    if type(value) is ProvisionRecord:
        found = f"a ProvisionRecord of seq {value.seq!r} with a {type(value.entry).__name__} entry"
    else:
        found = f"a {type(value).__name__}"
    raise CorruptRecord(
        f"the kept value cannot be read back: {found}",
        table="provision_log",
        key=(seq,),
        seq=seq,
        expected=f"the ProvisionRecord of seq {seq} the adapter stored",
    )


def _kept_pending(seq: int, value: object) -> PendingRecord:
    """A committed pending notice as kept under ``seq``, or the
    :class:`~jukinet.errors.CorruptRecord` naming it (as :func:`_kept_record` for the
    provision log) when the kept value is no longer what :meth:`MemoryPendingNotices.add`
    stored."""
    if (
        type(value) is PendingRecord
        and type(value.entry) is PendingNotice
        and type(value.seq) is int
        and value.seq == seq
    ):
        return value
    raise CorruptRecord(
        f"the kept value cannot be read back: a {type(value).__name__}",
        table="pending_notices",
        key=(seq,),
        seq=seq,
        expected=f"the PendingRecord of seq {seq} the adapter stored",
    )


def _merge_sorted(first: Iterable[_K], second: Iterable[_K]) -> Iterator[_K]:
    """Merge two sorted streams of keys, each key once."""
    previous: _K | None = None
    for key in heapq.merge(first, second):
        if key != previous:
            yield key
            previous = key


def _current_identity(words: Iterable[IdentityRow]) -> IdentityRow | None:
    """A person's current version among the municipalities' newest words on them:
    the newest one not removed, else the newest removed one (None if no word).
    """
    best: IdentityRow | None = None
    for row in words:
        if best is None or (not row.removed, row.version) > (not best.removed, best.version):
            best = row
    return best


def _newest_words(rows: Iterable[IdentityRow]) -> dict[str, IdentityRow]:
    """Municipality → its newest version among ``rows`` (given oldest first)."""
    return {row.municipality: row for row in rows}


def _due(history: Sequence[IdentityRow], before: date) -> int:
    """How many of a code's oldest versions (``history``, oldest first, without a gap)
    are due for deletion: each up to the first one that is not (令30条の6・令30条の7).

    A version is due when the next one was received before ``before``, or when it is
    removed and was itself received before ``before``; an unknown day never counts.
    """
    count = 0
    for index, row in enumerate(history):
        after = history[index + 1].received_on if index + 1 < len(history) else None
        superseded = after is not None and after < before
        removed = row.removed and row.received_on is not None and row.received_on < before
        if not (superseded or removed):
            break
        count += 1
    return count


# --- the committed state and the staged changes ------------------------------------


class _State:
    """Committed data with its indexes; changed only by :meth:`apply`."""

    def __init__(self) -> None:
        self.reg_versions: dict[str, list[RegisterRow]] = {}
        self.reg_current: SortedDict[str, RegisterRow] = SortedDict()
        self.reg_owner: dict[str, str] = {}  # every code ever held -> internal id
        self.reg_households: dict[str, set[str]] = {}  # household -> internal ids (current)
        self.reg_status: Counter[str] = Counter()
        # identities: every version; each municipality's newest word per code (the
        # identity_current table of the SQL adapters); each code's current version
        self.id_versions: dict[str, list[IdentityRow]] = {}
        self.id_words: dict[str, dict[str, IdentityRow]] = {}  # code -> municipality -> row
        self.id_current: SortedDict[str, IdentityRow] = SortedDict()
        # (name key, birth date) -> (code, municipality) of the words not removed
        self.id_search: dict[tuple[str, date], SortedSet[tuple[str, str]]] = {}
        self.id_municipality: dict[str, SortedSet[str]] = {}  # municipality -> codes
        # (received_on, code, version) of the versions whose arrival day is known
        self.id_dated: SortedSet[tuple[date, str, int]] = SortedSet()
        self.outbox: SortedDict[str, list[OutboxEntry]] = SortedDict()
        self.outbox_base: dict[str, int] = {}  # resumed destination -> its first last_seq
        self.acked: dict[str, int] = {}
        self.tracking: dict[str, int] = {}
        self.pool: dict[str, str] = {}  # code ever designated -> municipality
        self.unused: dict[str, SortedSet[str]] = {}  # municipality -> unused codes
        self.audit: list[AuditRecord] = []  # index = seq - 1
        self.audit_actions: dict[str, list[int]] = {}  # action -> its seqs, ascending
        self.agencies: SortedDict[str, AgencyRow] = SortedDict()
        # provision log: kept records by seq; head and anchor stored apart (the
        # provision_meta rows), indexes by subject and by request id
        self.provision: SortedDict[int, ProvisionRecord] = SortedDict()
        self.provision_head: tuple[int, str] = (0, GENESIS)
        self.provision_anchor: tuple[int, str] = (0, GENESIS)
        self.provision_subjects: dict[str, SortedSet[int]] = {}
        self.provision_requests: dict[str, SortedSet[int]] = {}
        self.schedule: dict[str, ScheduledItem] = {}
        self.schedule_due: SortedSet[tuple[date, str]] = SortedSet()
        self.pending: dict[int, PendingRecord] = {}
        self.pending_codes: dict[str, SortedSet[int]] = {}  # code -> seqs of its notices
        self.pending_last = 0  # the highest seq ever given (never reused)

    def apply(self, pending: _Pending) -> None:
        """Apply a committed unit of work's changes (never fails halfway)."""
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

        for code, cut in pending.id_expired.items():
            self._expire_identities(code, cut)
        for code, id_rows in pending.id_new.items():
            self.id_versions.setdefault(code, []).extend(id_rows)
            self.id_dated.update(
                (r.received_on, code, r.version) for r in id_rows if r.received_on is not None
            )
            words = self.id_words.setdefault(code, {})
            for municipality, id_new in _newest_words(id_rows).items():
                id_old = words.get(municipality)
                if id_old is not None and not id_old.removed:
                    self._unindex_word(code, id_old)
                if not id_new.removed:
                    key = (id_new.name_key, id_new.birth_date)
                    self.id_search.setdefault(key, SortedSet()).add((code, municipality))
                words[municipality] = id_new
                self.id_municipality.setdefault(municipality, SortedSet()).add(code)
            current = _current_identity(words.values())
            assert current is not None
            self.id_current[code] = current

        for destination, entries in pending.outbox.items():
            self.outbox.setdefault(destination, []).extend(entries)
        for destination, base in pending.outbox_base.items():
            self.outbox_base[destination] = base
            self.outbox.setdefault(destination, [])
        self.acked.update(pending.acked)
        self.tracking.update(pending.tracking)

        for code, municipality in pending.pool.items():
            self.pool[code] = municipality
            self.unused.setdefault(municipality, SortedSet()).add(code)
        for code in pending.used:
            self.unused[self.pool[code]].discard(code)

        self.audit.extend(pending.audit)
        for record in pending.audit:
            self.audit_actions.setdefault(record.entry.action, []).append(record.seq)

        self.agencies.update(pending.agencies)

        anchor = pending.provision_anchor
        if anchor is not None:
            for seq in list(self.provision.irange(maximum=anchor[0])):
                self._unindex_provision(self.provision.pop(seq))
            self.provision_anchor = anchor
        for provision in pending.provision:
            if anchor is None or provision.seq > anchor[0]:
                self.provision[provision.seq] = provision
                self._index_provision(provision)
        if pending.provision:
            last = pending.provision[-1]
            self.provision_head = (last.seq, last.hash)

        for item_key, item in pending.schedule.items():
            replaced = self.schedule.pop(item_key, None)
            if replaced is not None:
                self.schedule_due.discard((replaced.due, item_key))
            if item is not None:
                self.schedule[item_key] = item
                self.schedule_due.add((item.due, item_key))

        for held in pending.pending_added:
            self.pending[held.seq] = held
            for code in held.entry.codes:
                self.pending_codes.setdefault(code, SortedSet()).add(held.seq)
            self.pending_last = held.seq
        for seq in pending.pending_removed:
            gone = self.pending.pop(seq, None)
            if gone is None:
                continue
            if type(gone) is PendingRecord and type(gone.entry) is PendingNotice:
                codes: Iterable[str] = gone.entry.codes
            else:  # an unreadable kept value: its index entries are found by seq
                codes = [code for code, seqs in self.pending_codes.items() if seq in seqs]
            for code in codes:
                seqs = self.pending_codes[code]
                seqs.discard(seq)
                if not seqs:
                    del self.pending_codes[code]

    def _unindex_word(self, code: str, word: IdentityRow) -> None:
        """Take a municipality's word (not removed) out of the search index."""
        key = (word.name_key, word.birth_date)
        self.id_search[key].discard((code, word.municipality))
        if not self.id_search[key]:
            del self.id_search[key]

    def _expire_identities(self, code: str, cut: int) -> None:
        """Delete the committed versions of ``code`` up to ``cut`` and the words they
        were (a municipality left with no version of the code has no word on it)."""
        versions = self.id_versions[code]
        kept = [row for row in versions if row.version > cut]
        for row in versions[: len(versions) - len(kept)]:
            if row.received_on is not None:
                self.id_dated.discard((row.received_on, code, row.version))
        words = self.id_words[code]
        for municipality, word in list(words.items()):
            if word.version > cut:
                continue
            del words[municipality]
            if not word.removed:
                self._unindex_word(code, word)
            codes = self.id_municipality[municipality]
            codes.discard(code)
            if not codes:
                del self.id_municipality[municipality]
        if kept:
            self.id_versions[code] = kept
            current = _current_identity(words.values())
            assert current is not None  # the highest version is kept, and is a word
            self.id_current[code] = current
        else:
            del self.id_versions[code], self.id_words[code], self.id_current[code]

    def _provision_keys(
        self, record: ProvisionRecord
    ) -> Iterator[tuple[dict[str, SortedSet[int]], str]]:
        """The provision log's indexes and the record's key in each (subject if any)."""
        if record.entry.subject is not None:
            yield self.provision_subjects, record.entry.subject
        yield self.provision_requests, record.entry.request_id

    def _index_provision(self, record: ProvisionRecord) -> None:
        for index, key in self._provision_keys(record):
            seqs = index.get(key)
            if seqs is None:  # a new SortedSet only for a new key (a batch repeats its id)
                seqs = index[key] = SortedSet()
            seqs.add(record.seq)

    def _unindex_provision(self, record: ProvisionRecord) -> None:
        for index, key in self._provision_keys(record):
            seqs = index.get(key)
            if seqs is not None:
                seqs.discard(record.seq)
                if not seqs:
                    del index[key]


@attrs.define
class _Pending:
    """What a unit of work has written and not yet committed."""

    reg_rows: list[RegisterRow] = attrs.Factory(list)
    reg_new: dict[str, list[RegisterRow]] = attrs.Factory(dict)
    reg_current: dict[str, RegisterRow] = attrs.Factory(dict)
    reg_owner: dict[str, str] = attrs.Factory(dict)
    id_new: dict[str, list[IdentityRow]] = attrs.Factory(dict)  # code -> new versions
    # code -> its highest committed version an expiry deleted (every one up to it goes)
    id_expired: dict[str, int] = attrs.Factory(dict)
    outbox: dict[str, list[OutboxEntry]] = attrs.Factory(dict)
    outbox_base: dict[str, int] = attrs.Factory(dict)
    acked: dict[str, int] = attrs.Factory(dict)
    tracking: dict[str, int] = attrs.Factory(dict)
    pool: dict[str, str] = attrs.Factory(dict)  # newly designated code -> municipality
    used: set[str] = attrs.Factory(set)  # codes marked used in this unit of work
    audit: list[AuditRecord] = attrs.Factory(list)
    agencies: dict[str, AgencyRow] = attrs.Factory(dict)
    provision: list[ProvisionRecord] = attrs.Factory(list)  # appended, in seq order
    provision_anchor: tuple[int, str] | None = None  # set by a purge: every seq up to it goes
    schedule: dict[str, ScheduledItem | None] = attrs.Factory(dict)  # None: cancelled
    pending_added: list[PendingRecord] = attrs.Factory(list)  # in seq order
    pending_removed: set[int] = attrs.Factory(set)  # seqs forgotten (committed or staged)


_NOTHING_STAGED = _Pending()
"""The (never written) staging of a read outside any unit of work."""


class _View:
    """Committed state, seen through a unit of work's staged changes (if any)."""

    def __init__(self, state: _State, pending: _Pending | None) -> None:
        self.state = state
        self.pending = pending if pending is not None else _NOTHING_STAGED

    # register
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

    # identities
    def id_kept(self, code: str) -> list[IdentityRow]:
        """The committed versions of ``code`` that this unit of work has not expired."""
        versions = self.state.id_versions.get(code, [])
        cut = self.pending.id_expired.get(code)
        return versions if cut is None else [row for row in versions if row.version > cut]

    def id_version(self, code: str) -> int:
        """The code's highest version (0 if none is kept)."""
        staged = self.pending.id_new.get(code)
        if staged:
            return staged[-1].version
        kept = self.id_kept(code)
        return kept[-1].version if kept else 0

    def id_history(self, code: str) -> list[IdentityRow]:
        return [*self.id_kept(code), *self.pending.id_new.get(code, ())]

    def id_words(self, code: str) -> Mapping[str, IdentityRow]:
        """Municipality → its newest word on ``code``."""
        words = self.state.id_words.get(code, {})
        cut = self.pending.id_expired.get(code)
        if cut is not None:
            words = {m: row for m, row in words.items() if row.version > cut}
        staged = self.pending.id_new.get(code)
        return words if staged is None else {**words, **_newest_words(staged)}

    def id_word(self, code: str, municipality: str) -> IdentityRow | None:
        return self.id_words(code).get(municipality)

    def id_current(self, code: str) -> IdentityRow | None:
        if code not in self.pending.id_new and code not in self.pending.id_expired:
            return self.state.id_current.get(code)
        return _current_identity(self.id_words(code).values())

    # outbox
    def outbox_base(self, destination: str) -> int:
        base = self.pending.outbox_base.get(destination)
        return base if base is not None else self.state.outbox_base.get(destination, 0)

    def outbox_entries(self, destination: str) -> tuple[list[OutboxEntry], list[OutboxEntry]]:
        return (
            self.state.outbox.get(destination, []),
            self.pending.outbox.get(destination, []),
        )

    def last_seq(self, destination: str) -> int:
        committed, staged = self.outbox_entries(destination)
        return self.outbox_base(destination) + len(committed) + len(staged)

    def has_head(self, destination: str) -> bool:
        """Whether the destination has entries or a resumed head (committed or staged)."""
        return any(
            destination in d
            for d in (
                self.state.outbox,
                self.pending.outbox,
                self.pending.outbox_base,
            )
        )

    def acked(self, destination: str) -> int:
        acked = self.pending.acked.get(destination)
        return acked if acked is not None else self.state.acked.get(destination, 0)

    # tracking
    def position(self, sender: str) -> int:
        if sender in self.pending.tracking:
            return self.pending.tracking[sender]
        return self.state.tracking.get(sender, 0)

    # code pool
    def designated_to(self, code: str) -> str | None:
        municipality = self.pending.pool.get(code)
        return municipality if municipality is not None else self.state.pool.get(code)

    def is_used(self, code: str) -> bool:
        if code in self.pending.used:
            return True
        municipality = self.state.pool.get(code)
        return municipality is not None and code not in self.state.unused[municipality]

    # audit log
    def audit_records(self) -> tuple[list[AuditRecord], list[AuditRecord]]:
        return self.state.audit, self.pending.audit

    def audit_by_action(self, action: str, after: int, limit: int) -> list[AuditRecord]:
        # the committed seqs of ``action`` (its index), then the staged entries,
        # whose seqs all follow the committed ones
        committed = self.state.audit
        seqs = self.state.audit_actions.get(action, [])
        start = bisect.bisect_right(seqs, after)
        found = [committed[seq - 1] for seq in seqs[start : start + limit]]
        for record in self.pending.audit:
            if len(found) >= limit:
                break
            if record.seq > after and record.entry.action == action:
                found.append(record)
        return found

    # agencies
    def agency(self, name: str) -> AgencyRow | None:
        row = self.pending.agencies.get(name)
        return row if row is not None else self.state.agencies.get(name)

    def agency_names(self, after: str | None) -> Iterator[str]:
        committed = self.state.agencies.irange(minimum=after, inclusive=(False, False))
        staged = sorted(k for k in self.pending.agencies if after is None or k > after)
        return _merge_sorted(committed, staged)

    # provision log
    def provision_head(self) -> tuple[int, str]:
        staged = self.pending.provision
        return (staged[-1].seq, staged[-1].hash) if staged else self.state.provision_head

    def provision_anchor(self) -> tuple[int, str]:
        anchor = self.pending.provision_anchor
        return anchor if anchor is not None else self.state.provision_anchor

    def provision_records(
        self, after: int, subject: str | None = None
    ) -> Iterator[ProvisionRecord]:
        """Kept records with ``seq > after`` in seq order (only ``subject``'s, if given)."""
        start = max(after, self.provision_anchor()[0]) + 1
        state = self.state
        if subject is None:
            for seq in state.provision.irange(minimum=start):
                yield _kept_record(seq, state.provision[seq])
        else:
            seqs = state.provision_subjects.get(subject, SortedSet())
            for seq in seqs.irange(minimum=start):
                yield _kept_record(seq, state.provision[seq])
        for record in self.pending.provision:
            if record.seq >= start and (subject is None or record.entry.subject == subject):
                yield record

    def has_request(self, request_id: str, agency: str | None) -> bool:
        anchor = self.provision_anchor()[0]
        for seq in reversed(self.state.provision_requests.get(request_id, ())):
            if seq <= anchor:
                break
            if (
                agency is None
                or _kept_record(seq, self.state.provision[seq]).entry.agency == agency
            ):
                return True
        return any(
            r.seq > anchor
            and r.entry.request_id == request_id
            and (agency is None or r.entry.agency == agency)
            for r in self.pending.provision
        )

    # schedule
    def scheduled(self, key: str) -> ScheduledItem | None:
        if key in self.pending.schedule:
            return self.pending.schedule[key]
        return self.state.schedule.get(key)

    def due(self, on: date, limit: int) -> list[ScheduledItem]:
        staged = self.pending.schedule
        committed = (
            (due, key)
            for due, key in itertools.takewhile(lambda i: i[0] <= on, self.state.schedule_due)
            if key not in staged
        )
        added = sorted((i.due, k) for k, i in staged.items() if i is not None and i.due <= on)
        found: list[ScheduledItem] = []
        for _, key in heapq.merge(committed, added):
            if len(found) >= limit:
                break
            item = self.scheduled(key)
            assert item is not None
            found.append(item)
        return found

    # pending notices
    def pending_find(self, codes: Sequence[str]) -> list[PendingRecord]:
        removed = self.pending.pending_removed
        seqs: set[int] = set()
        for code in codes:
            seqs.update(self.state.pending_codes.get(code, ()))
        found = [
            _kept_pending(seq, self.state.pending[seq])
            for seq in sorted(seqs)
            if seq not in removed
        ]
        wanted = set(codes)
        found.extend(
            r
            for r in self.pending.pending_added
            if r.seq not in removed and wanted.intersection(r.entry.codes)
        )
        return found

    def pending_has(self, seq: int) -> bool:
        if seq in self.pending.pending_removed:
            return False
        return seq in self.state.pending or any(r.seq == seq for r in self.pending.pending_added)

    def pending_last(self) -> int:
        added = self.pending.pending_added
        return added[-1].seq if added else self.state.pending_last

    def pending_count(self) -> int:
        removed = self.pending.pending_removed
        committed = sum(1 for seq in self.state.pending if seq not in removed)
        return committed + sum(1 for r in self.pending.pending_added if r.seq not in removed)


# --- the database, the store and its unit of work ----------------------------------


_MIGRATES_FROM = ("2", "3")
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
                # 3 -> 4: pending notices, none yet.
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


class MemoryStore(Store):
    """A node's storage in memory: all ports, thread-safe, same rules as the databases.

    ``MemoryStore()`` makes a new, empty :class:`MemoryDatabase`;
    ``MemoryStore(other.database)`` opens another handle onto the same data
    (as a second connection would). ``lock_timeout`` is how many seconds a unit
    of work waits for another one to finish before raising
    :class:`~jukinet.errors.OperationalError`.
    """

    def __init__(self, database: MemoryDatabase | None = None, *, lock_timeout: float = 30.0):
        if database is not None and not isinstance(database, MemoryDatabase):
            raise InterfaceError(
                f"got {type(database).__name__}", field="database", expected="a MemoryDatabase"
            )
        self._database = database if database is not None else MemoryDatabase()
        self._lock_timeout = lock_timeout
        self._closed = False
        self._register = MemoryRegister(self)
        self._identities = MemoryIdentityStore(self)
        self._outbox = MemoryOutbox(self)
        self._tracking = MemoryTracking(self)
        self._code_pool = MemoryCodePool(self)
        self._audit = MemoryAuditLog(self)
        self._agencies = MemoryAgencyRegistry(self)
        self._provision_log = MemoryProvisionLog(self)
        self._schedule = MemorySchedule(self)
        self._pending = MemoryPendingNotices(self)

    @property
    def database(self) -> MemoryDatabase:
        """The storage this handle is open on."""
        return self._database

    @property
    def register(self) -> MemoryRegister:
        """The resident register port."""
        return self._register

    @property
    def identities(self) -> MemoryIdentityStore:
        """The identity-information port."""
        return self._identities

    @property
    def outbox(self) -> MemoryOutbox:
        """The outbox port."""
        return self._outbox

    @property
    def tracking(self) -> MemoryTracking:
        """The tracking port."""
        return self._tracking

    @property
    def code_pool(self) -> MemoryCodePool:
        """The code-pool port."""
        return self._code_pool

    @property
    def audit(self) -> MemoryAuditLog:
        """The audit-log port."""
        return self._audit

    @property
    def agencies(self) -> MemoryAgencyRegistry:
        """The agency-registry port."""
        return self._agencies

    @property
    def provision_log(self) -> MemoryProvisionLog:
        """The provision-log port."""
        return self._provision_log

    @property
    def schedule(self) -> MemorySchedule:
        """The schedule port."""
        return self._schedule

    @property
    def pending(self) -> MemoryPendingNotices:
        """The pending-notices port."""
        return self._pending

    def create_schema(self) -> None:
        """Create the (in-memory) schema; idempotent; records :data:`SCHEMA_VERSION`
        (a version 2 schema is migrated: its identity versions' arrival day is unknown)."""
        self._check_open()
        self._database._create_schema()
        self._database._checked_state()

    def check_schema(self) -> None:
        """Raise unless the schema exists at :data:`SCHEMA_VERSION`."""
        self._check_open()
        self._database._checked_state()

    @contextmanager
    def _unit_of_work(self) -> Iterator[MemoryUnitOfWork]:
        self.check_schema()
        database = self._database
        if database._writer == threading.get_ident():
            raise OperationalError(
                "this thread already holds a unit of work on this storage",
                expected="one unit of work at a time per thread (it would wait for itself)",
            )
        if not database._write_lock.acquire(timeout=self._lock_timeout):
            raise OperationalError(
                f"the storage stayed locked by another unit of work for {self._lock_timeout} s",
                expected="the other unit of work to finish",
            )
        database._writer = threading.get_ident()
        uow = MemoryUnitOfWork(self)
        try:
            yield uow
            with database._state_lock:
                state = database._checked_state()
                uow._active = False
                state.apply(uow._pending)
        finally:
            uow._active = False
            database._writer = None
            database._write_lock.release()

    def unit_of_work(self) -> AbstractContextManager[MemoryUnitOfWork]:
        """Begin a unit of work: commit on normal exit, roll back on an exception."""
        return self._unit_of_work()

    def close(self) -> None:
        """Close this handle: later calls raise InterfaceError; the data stays."""
        self._closed = True

    # -- used by the ports --

    def _check_open(self) -> None:
        if self._closed:
            raise InterfaceError("the store is closed", expected="an open store")

    def _write(self, uow: object) -> tuple[_View, _Pending]:
        """Check ``uow`` for a write; return the view to check against and its staging."""
        self._check_open()
        pending = self._own(uow)
        return _View(self._database._checked_state(), pending), pending

    def _own(self, uow: object) -> _Pending:
        if not isinstance(uow, MemoryUnitOfWork):
            raise InterfaceError(
                f"got {type(uow).__name__}",
                field="uow",
                expected="a unit of work from this store's unit_of_work()",
            )
        if uow._store is not self:
            raise InterfaceError(
                "the unit of work belongs to another store", field="uow", expected="this store's"
            )
        if not uow._active:
            raise InterfaceError(
                "the unit of work has ended", field="uow", expected="an active unit of work"
            )
        return uow._pending

    def _read(self, uow: UnitOfWork | None, read: Callable[[_View], _T]) -> _T:
        """Run ``read`` on committed data, or on a unit of work's view of it."""
        self._check_open()
        pending = None if uow is None else self._own(uow)
        database = self._database
        if pending is None:
            with database._state_lock:
                return read(_View(database._checked_state(), None))
        # the unit of work holds the write lock: the committed state cannot change
        return read(_View(database._checked_state(), pending))


# --- the ports ---------------------------------------------------------------------


class MemoryRegister(Register):
    """The resident register (住民基本台帳) of a :class:`MemoryStore`.

    Versions are only ever appended: earlier versions and removed records
    (除票, kept 150 years by 令34条1項) stay and are found like the others. A
    resident code, once held, belongs to its internal number for ever, so
    :meth:`current_by_code` also finds a person by a code they no longer hold.
    """

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

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
        view: _View, pending: _Pending, batch: list[RegisterRow], *, first_versions_only: bool
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

        def read(view: _View) -> RegisterRow | None:
            _check_codes((resident_code,), view.state.reg_owner, "resident_code")
            owner = view.reg_owner(resident_code)
            return None if owner is None else view.reg_current(owner)

        return self._store._read(uow, read)

    def current_many(
        self, resident_codes: Sequence[str], uow: UnitOfWork | None = None
    ) -> dict[str, RegisterRow]:
        """Code → newest version of its holder (old codes too, as :meth:`current_by_code`)."""
        codes = _sequence(resident_codes, "resident_codes")

        def read(view: _View) -> dict[str, RegisterRow]:
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

        def read(view: _View) -> list[RegisterRow]:
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

        def read(view: _View) -> list[RegisterRow]:
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

        def read(view: _View) -> int:
            committed = view.state.reg_current
            counts = Counter(view.state.reg_status)
            for key, row in view.pending.reg_current.items():
                old = committed.get(key)
                if old is not None:
                    counts[old.status] -= 1
                counts[row.status] += 1
            return counts[status] if status is not None else sum(counts.values())

        return self._store._read(uow, read)


class MemoryIdentityStore(IdentityStore):
    """The identity-information copy (本人確認情報) of a :class:`MemoryStore`.

    Every notice received is kept as a version (住基法30条の6第3項, 30条の7;
    kept 150 years, 令30条の6・令30条の7). Each municipality's newest word on
    each code is kept apart, so that a removal arriving late from the
    municipality a person left never hides their entry in the new one; the
    search index holds those words that are not removed, by (name key, birth
    date). :meth:`expire` deletes the versions whose retention period is over.
    """

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def append(self, uow: UnitOfWork, rows: Sequence[IdentityRow]) -> None:
        """Append versions; each must be the code's highest version + 1. All or none."""
        batch = _rows(rows, IdentityRow, "rows")
        view, pending = self._store._write(uow)
        self._stage(view, pending, batch, first_versions_only=False)

    def bulk_load(self, uow: UnitOfWork, rows: Sequence[IdentityRow]) -> int:
        """Load first versions of codes not yet stored; returns the number of rows."""
        batch = _rows(rows, IdentityRow, "rows")
        view, pending = self._store._write(uow)
        self._stage(view, pending, batch, first_versions_only=True)
        return len(batch)

    def load_histories(self, uow: UnitOfWork, rows: Sequence[IdentityRow]) -> int:
        """Load whole histories (from any first version, without a gap) of codes not yet
        stored; returns the number of rows. All or none."""
        batch = _rows(rows, IdentityRow, "rows")
        view, pending = self._store._write(uow)
        self._stage(view, pending, batch, first_versions_only=False, histories=True)
        return len(batch)

    def expire(self, uow: UnitOfWork, *, received_before: date) -> int:
        """Delete every code's oldest versions that are due (令30条の6・令30条の7, see
        :meth:`IdentityStore.expire <jukinet.storage.base.IdentityStore.expire>`);
        returns how many."""
        before = check_date(received_before, "received_before")
        view, pending = self._store._write(uow)
        # every (day, code, version) with day < before: below (before, "", 0)
        dated = view.state.id_dated.irange(maximum=(before, "", 0), inclusive=(True, False))
        candidates = {code for _, code, _ in dated}
        candidates.update(pending.id_new)
        deleted = 0
        for code in sorted(candidates):
            kept = view.id_kept(code)
            staged = pending.id_new.get(code, [])
            count = _due([*kept, *staged], before)
            if not count:
                continue
            deleted += count
            if kept:
                pending.id_expired[code] = kept[min(count, len(kept)) - 1].version
            rest = staged[max(0, count - len(kept)) :]
            if rest:
                pending.id_new[code] = rest
            else:
                pending.id_new.pop(code, None)
        return deleted

    @staticmethod
    def _stage(
        view: _View,
        pending: _Pending,
        batch: list[IdentityRow],
        *,
        first_versions_only: bool,
        histories: bool = False,
    ) -> None:
        versions: dict[str, int] = {}
        for row in batch:
            code = row.resident_code
            current = versions.get(code)
            if current is None:
                current = view.id_version(code)
                if histories:
                    if current:
                        raise IntegrityError(
                            f"{code} is already stored (up to version {current})",
                            field="resident_code",
                            expected="codes not yet stored",
                        )
                    current = row.version - 1  # a restored history may start anywhere
            if first_versions_only and row.version != 1:
                raise IntegrityError(
                    f"bulk load got version {row.version} of {code}",
                    field="version",
                    expected="version 1 of codes not yet stored",
                )
            if row.version != current + 1:
                problem = "is already stored" if row.version <= current else "skips a version"
                raise IntegrityError(
                    f"version {row.version} of {code} {problem}",
                    field="version",
                    expected=f"version {current + 1}",
                )
            versions[code] = row.version
        for row in batch:
            pending.id_new.setdefault(row.resident_code, []).append(row)

    def last_versions(
        self, resident_codes: Sequence[str], uow: UnitOfWork | None = None
    ) -> dict[str, int]:
        """The highest version per code, for the codes found."""
        codes = _sequence(resident_codes, "resident_codes")

        def read(view: _View) -> dict[str, int]:
            _check_codes(codes, view.state.id_versions)
            found: dict[str, int] = {}
            for code in codes:
                version = view.id_version(code)
                if version:
                    found[code] = version
            return found

        return self._store._read(uow, read)

    def current(self, resident_code: str, uow: UnitOfWork | None = None) -> IdentityRow | None:
        """The person's current version: the newest not removed, else the newest; or None."""

        def read(view: _View) -> IdentityRow | None:
            _check_codes((resident_code,), view.state.id_versions, "resident_code")
            return view.id_current(resident_code)

        return self._store._read(uow, read)

    def current_many(
        self, resident_codes: Sequence[str], uow: UnitOfWork | None = None
    ) -> dict[str, IdentityRow]:
        """Bulk :meth:`current`: code → current version, for the codes found."""
        codes = _sequence(resident_codes, "resident_codes")

        def read(view: _View) -> dict[str, IdentityRow]:
            _check_codes(codes, view.state.id_versions)
            found: dict[str, IdentityRow] = {}
            for code in codes:
                row = view.id_current(code)
                if row is not None:
                    found[code] = row
            return found

        return self._store._read(uow, read)

    def history(self, resident_code: str, uow: UnitOfWork | None = None) -> list[IdentityRow]:
        """Every version for this code, oldest first."""
        check_resident_code(resident_code)
        return self._store._read(uow, lambda v: v.id_history(resident_code))

    def search(
        self, query: IdentityQuery, *, limit: int = 100, uow: UnitOfWork | None = None
    ) -> list[IdentityRow]:
        """Each municipality's newest word per code, not removed, matching the four
        basic items; ordered by resident code (then municipality), at most ``limit``.
        """
        if not isinstance(query, IdentityQuery):
            raise InterfaceError(
                f"got {type(query).__name__}", field="query", expected="an IdentityQuery"
            )
        check_int(limit, "limit")
        key = (query.name_key, query.birth_date)

        def matches(row: IdentityRow | None) -> bool:
            return (
                row is not None
                and not row.removed
                and (row.name_key, row.birth_date) == key
                and (query.sex is None or row.sex == query.sex)
                and (query.address_key is None or row.address_key == query.address_key)
            )

        def read(view: _View) -> list[IdentityRow]:
            indexed = view.state.id_search.get(key, SortedSet())
            staged = sorted(
                (code, municipality)
                for code, rows in view.pending.id_new.items()
                for municipality, row in _newest_words(rows).items()
                if (row.name_key, row.birth_date) == key
            )
            found: list[IdentityRow] = []
            for code, municipality in _merge_sorted(indexed, staged):
                if len(found) >= limit:
                    break
                row = view.id_word(code, municipality)
                if row is not None and matches(row):
                    found.append(row)
            return found

        return self._store._read(uow, read)

    def scan(
        self,
        *,
        municipality: str | None = None,
        after: str | None = None,
        limit: int = 1000,
        uow: UnitOfWork | None = None,
    ) -> list[IdentityRow]:
        """Ordered by resident code after ``after``: a municipality's newest word on every
        code it notified (removed ones included), or each code's current version.
        """
        if municipality is not None:
            check_lg_code(municipality)
        if after is not None:
            check_resident_code(after, "after")
        check_int(limit, "limit")

        def read(view: _View) -> list[IdentityRow]:
            staged_codes = view.pending.id_new
            if municipality is None:
                committed: Iterable[str] = view.state.id_current.irange(
                    minimum=after, inclusive=(False, False)
                )
                staged = sorted(c for c in staged_codes if after is None or c > after)
            else:
                codes = view.state.id_municipality.get(municipality, SortedSet())
                committed = codes.irange(minimum=after, inclusive=(False, False))
                staged = sorted(
                    c
                    for c, rows in staged_codes.items()
                    if (after is None or c > after)
                    and any(r.municipality == municipality for r in rows)
                )
            found: list[IdentityRow] = []
            for code in _merge_sorted(committed, staged):
                if len(found) >= limit:
                    break
                row = (
                    view.id_current(code)
                    if municipality is None
                    else view.id_word(code, municipality)
                )
                if row is not None:
                    found.append(row)
            return found

        return self._store._read(uow, read)

    def count(self, *, municipality: str | None = None, uow: UnitOfWork | None = None) -> int:
        """How many codes, or how many codes a municipality notified."""
        if municipality is not None:
            check_lg_code(municipality)

        def read(view: _View) -> int:
            staged = view.pending.id_new
            expired = view.pending.id_expired
            if municipality is None:
                committed: Mapping[str, list[IdentityRow]] = view.state.id_versions
                gone = sum(
                    1
                    for c, cut in expired.items()
                    if c not in staged and committed[c][-1].version <= cut
                )
                return len(committed) - gone + sum(1 for c in staged if c not in committed)
            codes = view.state.id_municipality.get(municipality, SortedSet())
            words = view.state.id_words
            gone = sum(
                1
                for c, cut in expired.items()
                if c in codes
                and words[c][municipality].version <= cut
                and not any(r.municipality == municipality for r in staged.get(c, ()))
            )
            return (
                len(codes)
                - gone
                + sum(
                    1
                    for c, rows in staged.items()
                    if c not in codes and any(r.municipality == municipality for r in rows)
                )
            )

        return self._store._read(uow, read)


class MemoryOutbox(Outbox):
    """The outbox of a :class:`MemoryStore`: gap-free, commit-ordered per destination.

    A unit of work holds the write lock, so the numbers it is given follow the
    last committed one and are committed before any later writer's.
    """

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def append(self, uow: UnitOfWork, destination: str, payloads: Sequence[bytes]) -> range:
        """Append payloads for ``destination``; returns the sequence numbers given
        (an empty range at ``last_seq + 1`` for no payloads, writing nothing).
        """
        check_node_id(destination, "destination")
        items = _sequence(payloads, "payloads")
        view, pending = self._store._write(uow)
        first = view.last_seq(destination) + 1
        entries = [
            OutboxEntry(destination=destination, seq=first + i, payload=payload)
            for i, payload in enumerate(items)
        ]
        if entries:
            pending.outbox.setdefault(destination, []).extend(entries)
        return range(first, first + len(entries))

    def read(
        self, destination: str, *, after: int = 0, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[OutboxEntry]:
        """Entries for ``destination`` with ``seq > after``, in order, at most ``limit``."""
        check_node_id(destination, "destination")
        check_int(after, "after")
        check_int(limit, "limit")

        def read(view: _View) -> list[OutboxEntry]:
            committed, staged = view.outbox_entries(destination)
            skip = max(0, after - view.outbox_base(destination))  # entries at or below after
            found = committed[skip : skip + limit]
            if len(found) < limit:
                start = max(0, skip - len(committed))
                found = found + staged[start : start + limit - len(found)]
            return found

        return self._store._read(uow, read)

    def last_seq(self, destination: str, uow: UnitOfWork | None = None) -> int:
        """The highest sequence number given for ``destination`` (0 if none)."""
        check_node_id(destination, "destination")
        return self._store._read(uow, lambda v: v.last_seq(destination))

    def destinations(self, uow: UnitOfWork | None = None) -> list[str]:
        """Every destination that has entries (or a head set by :meth:`resume`), sorted."""

        def read(view: _View) -> list[str]:
            staged = {*view.pending.outbox, *view.pending.outbox_base}
            return sorted(staged.union(view.state.outbox))

        return self._store._read(uow, read)

    def acknowledge(self, uow: UnitOfWork, destination: str, seq: int) -> None:
        """Record that ``destination`` confirmed every entry up to ``seq`` (monotonic:
        a ``seq`` at or below the acknowledged one is a no-op; one above
        :meth:`last_seq` is an IntegrityError).
        """
        check_node_id(destination, "destination")
        check_int(seq, "seq")
        view, pending = self._store._write(uow)
        if seq <= view.acked(destination):
            return
        last = view.last_seq(destination)
        if seq > last:
            raise IntegrityError(
                f"acknowledgement of {seq} for {destination}, which was given up to {last}",
                field="seq",
                expected=f"at most {last}",
            )
        pending.acked[destination] = seq

    def acknowledged(self, destination: str, uow: UnitOfWork | None = None) -> int:
        """The highest sequence number ``destination`` confirmed (0 if none)."""
        check_node_id(destination, "destination")
        return self._store._read(uow, lambda v: v.acked(destination))

    def resume(self, uow: UnitOfWork, destination: str, last_seq: int) -> None:
        """Start a fresh destination at ``last_seq`` (given and acknowledged), so that
        its next entry is ``last_seq + 1``; a destination with entries or a head is an
        IntegrityError.
        """
        check_node_id(destination, "destination")
        check_int(last_seq, "last_seq")
        view, pending = self._store._write(uow)
        if view.has_head(destination):
            raise IntegrityError(
                f"the link to {destination} already has sequence numbers",
                field="destination",
                expected="a destination with no entries and no head",
            )
        pending.outbox_base[destination] = last_seq
        pending.acked[destination] = last_seq


class MemoryTracking(Tracking):
    """What a :class:`MemoryStore`'s node has applied from each sender."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def position(self, sender: str, uow: UnitOfWork | None = None) -> int:
        """The last sequence number applied from ``sender`` (0 if none)."""
        check_node_id(sender, "sender")
        return self._store._read(uow, lambda v: v.position(sender))

    def advance(self, uow: UnitOfWork, sender: str, seq: int, *, last: int | None = None) -> None:
        """Record ``seq`` through ``last`` (default ``seq``) from ``sender`` as applied;
        ``seq`` must be exactly position + 1; the position becomes ``last``.
        """
        check_node_id(sender, "sender")
        check_int(seq, "seq", minimum=1)
        if last is None:
            last = seq
        else:
            check_int(last, "last", minimum=1)
            if last < seq:
                raise InvalidComponent(
                    f"the batch ends at {last}, before its first message {seq}",
                    field="last",
                    expected=f"at least {seq}",
                )
        view, pending = self._store._write(uow)
        position = view.position(sender)
        if seq != position + 1:
            problem = "was already applied" if seq <= position else "skips ahead"
            raise IntegrityError(
                f"message {seq} from {sender} {problem}",
                field="seq",
                expected=f"message {position + 1}",
            )
        pending.tracking[sender] = last

    def senders(self, uow: UnitOfWork | None = None) -> dict[str, int]:
        """Every sender with its position."""
        return self._store._read(uow, lambda v: {**v.state.tracking, **v.pending.tracking})


class MemoryCodePool(CodePool):
    """Resident codes of a :class:`MemoryStore`: designated once, drawn once.

    A code is never designated twice (住基法30条の2第2項) and a drawn code is
    marked used in the same unit of work (30条の3第2項). :meth:`allocate`
    draws the lowest unused code of the municipality.
    """

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

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

        def read(view: _View) -> int:
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


class MemoryAuditLog(AuditLog):
    """The audit log (操作ログ) of a :class:`MemoryStore`: gap-free, commit-ordered.

    The 住民記録システム標準仕様書 requires operation logs (j1370). A unit of
    work holds the write lock, so its numbers follow the last committed one and
    are committed before any later writer's.
    """

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def append(self, uow: UnitOfWork, entries: Sequence[AuditEntry]) -> range:
        """Append entries; returns their sequence numbers (empty: nothing written)."""
        batch = _rows(entries, AuditEntry, "entries")
        view, pending = self._store._write(uow)
        first = len(view.state.audit) + len(pending.audit) + 1
        pending.audit.extend(AuditRecord(seq=first + i, entry=e) for i, e in enumerate(batch))
        return range(first, first + len(batch))

    def read(
        self,
        *,
        after: int = 0,
        limit: int = 1000,
        action: str | None = None,
        uow: UnitOfWork | None = None,
    ) -> list[AuditRecord]:
        """Entries with ``seq > after``, in order, at most ``limit``; with ``action``,
        only those whose action equals it (from a per-action index of seqs)."""
        check_int(after, "after")
        check_int(limit, "limit")
        self.check_action(action)

        def read(view: _View) -> list[AuditRecord]:
            if action is not None:
                return view.audit_by_action(action, after, limit)
            committed, staged = view.audit_records()
            found = committed[after : after + limit]
            if len(found) < limit:
                start = max(0, after - len(committed))
                found = found + staged[start : start + limit - len(found)]
            return found

        return self._store._read(uow, read)

    def last_seq(self, uow: UnitOfWork | None = None) -> int:
        """The highest sequence number written (0 if none)."""

        def read(view: _View) -> int:
            committed, staged = view.audit_records()
            return len(committed) + len(staged)

        return self._store._read(uow, read)


class MemoryAgencyRegistry(AgencyRegistry):
    """The agencies registered with a :class:`MemoryStore`'s node, by name
    (住基法30条の9〜30条の15: who may receive identity information, and for what).
    """

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

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

        def read(view: _View) -> list[AgencyRow]:
            found: list[AgencyRow] = []
            for name in itertools.islice(view.agency_names(after), limit):
                row = view.agency(name)
                assert row is not None
                found.append(row)
            return found

        return self._store._read(uow, read)


class MemoryProvisionLog(ProvisionLog):
    """The provision log (提供記録) of a :class:`MemoryStore`: append-only, hash-chained.

    A unit of work holds the write lock, so it reads the head and appends after
    it with no other appender in between: the chain never forks, and sequence
    numbers are gap-free in commit order. Records are kept as given to
    :meth:`append` and read back as stored (never re-hashed).
    """

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def append(self, uow: UnitOfWork, entries: Sequence[ProvisionEntry]) -> list[ProvisionRecord]:
        """Append entries after the head, chaining each; returns the stored records."""
        batch = _rows(entries, ProvisionEntry, "entries")
        view, pending = self._store._write(uow)
        records = chain(view.provision_head(), batch)
        pending.provision.extend(records)
        return records

    def read(
        self,
        *,
        after: int = 0,
        limit: int = 1000,
        subject: str | None = None,
        uow: UnitOfWork | None = None,
    ) -> list[ProvisionRecord]:
        """Records with ``seq > after`` in ``seq`` order, at most ``limit``; with
        ``subject``, only that person's (from an index of their seqs)."""
        check_int(after, "after")
        check_int(limit, "limit")
        if subject is not None:
            check_resident_code(subject, "subject")
        return self._store._read(
            uow, lambda v: list(itertools.islice(v.provision_records(after, subject), limit))
        )

    def has_request(
        self, request_id: str, uow: UnitOfWork | None = None, *, agency: str | None = None
    ) -> bool:
        """Whether a kept record carries this request id (from ``agency``, when given)."""
        check_request(request_id, agency)
        return self._store._read(uow, lambda v: v.has_request(request_id, agency))

    def head(self, uow: UnitOfWork | None = None) -> tuple[int, str]:
        """The stored head: the last sequence number given and its hash."""
        return self._store._read(uow, lambda v: v.provision_head())

    def anchor(self, uow: UnitOfWork | None = None) -> tuple[int, str]:
        """The stored anchor: the last purged record's (seq, hash), ``(0, GENESIS)`` before."""
        return self._store._read(uow, lambda v: v.provision_anchor())

    def purge(self, uow: UnitOfWork, *, before: datetime) -> int:
        """Remove the oldest records while their ``at`` is before ``before``; moves the
        anchor to the last one removed and returns how many went."""
        check_aware(before, "before")
        view, pending = self._store._write(uow)
        last: ProvisionRecord | None = None
        count = 0
        for record in view.provision_records(0):
            if record.entry.at >= before:
                break
            last, count = record, count + 1
        if last is not None:
            pending.provision_anchor = (last.seq, last.hash)
        return count


class MemorySchedule(Schedule):
    """Work due on a date in a :class:`MemoryStore`, by unique key (e.g. JPKI法31条)."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def add(self, uow: UnitOfWork, items: Sequence[ScheduledItem]) -> None:
        """Add items; a key already scheduled or repeated refuses the lot (IntegrityError)."""
        batch = _rows(items, ScheduledItem, "items")
        view, pending = self._store._write(uow)
        seen: set[str] = set()
        for item in batch:
            if item.key in seen or view.scheduled(item.key) is not None:
                raise IntegrityError(
                    f"{item.key!r} is already scheduled",
                    field="key",
                    expected="a key not scheduled (nor repeated in the call)",
                )
            seen.add(item.key)
        pending.schedule.update((item.key, item) for item in batch)

    def cancel(self, uow: UnitOfWork, keys: Sequence[str]) -> int:
        """Remove the items with these keys (absent ones are skipped); returns how many."""
        batch = _sequence(keys, "keys")
        for key in batch:
            check_field(ScheduledItem, "key", key)
        view, pending = self._store._write(uow)
        present = [key for key in dict.fromkeys(batch) if view.scheduled(key) is not None]
        pending.schedule.update(dict.fromkeys(present))
        return len(present)

    def get(self, key: str, uow: UnitOfWork | None = None) -> ScheduledItem | None:
        """The item with this key, or None."""
        check_field(ScheduledItem, "key", key)
        return self._store._read(uow, lambda v: v.scheduled(key))

    def due(
        self, on: date, *, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[ScheduledItem]:
        """Items due on or before ``on``, ordered by (due, key), at most ``limit``."""
        check_date(on, "on")
        check_int(limit, "limit")
        return self._store._read(uow, lambda v: v.due(on, limit))


class MemoryPendingNotices(PendingNotices):
    """Notices an upper tier holds pending in a :class:`MemoryStore`, by resident code."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def add(self, uow: UnitOfWork, entries: Sequence[PendingNotice]) -> range:
        """Keep notices; returns their sequence numbers, ascending."""
        batch = _rows(entries, PendingNotice, "entries")
        view, pending = self._store._write(uow)
        first = view.pending_last() + 1
        pending.pending_added.extend(
            PendingRecord(seq=first + i, entry=entry) for i, entry in enumerate(batch)
        )
        return range(first, first + len(batch))

    def find(
        self, resident_codes: Sequence[str], uow: UnitOfWork | None = None
    ) -> list[PendingRecord]:
        """Every pending notice about any of these codes, in arrival order."""
        codes = _codes(resident_codes)
        return self._store._read(uow, lambda v: v.pending_find(codes))

    def remove(self, uow: UnitOfWork, seqs: Sequence[int]) -> int:
        """Forget these notices; absent ones are skipped; returns how many went."""
        batch = [check_int(seq, "seqs", minimum=1) for seq in _sequence(seqs, "seqs")]
        view, pending = self._store._write(uow)
        present = [seq for seq in dict.fromkeys(batch) if view.pending_has(seq)]
        pending.pending_removed.update(present)
        return len(present)

    def count(self, uow: UnitOfWork | None = None) -> int:
        """How many notices are pending."""
        return self._store._read(uow, lambda v: v.pending_count())
