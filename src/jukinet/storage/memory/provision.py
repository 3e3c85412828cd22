"""The provision log (提供記録) of the in-memory adapter.

:func:`_kept_record`, the one place where a kept value that is no longer the
record stored becomes a :class:`~jukinet.errors.CorruptRecord`; the log's part
of the committed state (:class:`_ProvisionState`: the records by sequence
number, the head and the anchor kept apart, the indexes by subject and by
request id), of the staging (:class:`_ProvisionPending`: appended records and a
purge's new anchor) and of the view (:class:`_ProvisionView`); and the port,
:class:`MemoryProvisionLog`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from datetime import datetime

import attrs
from sortedcontainers import SortedDict, SortedSet

from jukinet.errors import CorruptRecord
from jukinet.storage.base import ProvisionLog, UnitOfWork
from jukinet.storage.memory._database import _Port, _rows
from jukinet.storage.records import (
    GENESIS,
    ProvisionEntry,
    ProvisionRecord,
    chain,
    check_aware,
    check_int,
    check_request,
    check_resident_code,
)


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


class _ProvisionState:
    """The provision log's committed data with its indexes."""

    def __init__(self) -> None:
        super().__init__()
        # provision log: kept records by seq; head and anchor stored apart (the
        # provision_meta rows), indexes by subject and by request id
        self.provision: SortedDict[int, ProvisionRecord] = SortedDict()
        self.provision_head: tuple[int, str] = (0, GENESIS)
        self.provision_anchor: tuple[int, str] = (0, GENESIS)
        self.provision_subjects: dict[str, SortedSet[int]] = {}
        self.provision_requests: dict[str, SortedSet[int]] = {}

    def _apply_provision(self, pending: _ProvisionPending) -> None:
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


@attrs.define(slots=False)
class _ProvisionPending:
    """The provision records a unit of work has appended, and its purge."""

    provision: list[ProvisionRecord] = attrs.Factory(list)  # appended, in seq order
    provision_anchor: tuple[int, str] | None = None  # set by a purge: every seq up to it goes


class _ProvisionView:
    """The committed provision log, seen through a unit of work's staged changes."""

    state: _ProvisionState
    pending: _ProvisionPending

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


class MemoryProvisionLog(_Port[_ProvisionView, _ProvisionPending], ProvisionLog):
    """The provision log (提供記録) of a :class:`MemoryStore`: append-only, hash-chained.

    A unit of work holds the write lock, so it reads the head and appends after
    it with no other appender in between: the chain never forks, and sequence
    numbers are gap-free in commit order. Records are kept as given to
    :meth:`append` and read back as stored (never re-hashed).
    """

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
