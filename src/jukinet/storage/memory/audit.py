"""The audit log (操作ログ) of the in-memory adapter.

Its part of the committed state (:class:`_AuditState`: the records, whose index
is the sequence number minus one, and each action's sequence numbers in order),
of the staging (:class:`_AuditPending`) and of the view (:class:`_AuditView`),
and the port, :class:`MemoryAuditLog`.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import attrs

from jukinet.storage.base import AuditLog, UnitOfWork
from jukinet.storage.memory._database import _Port, _rows
from jukinet.storage.records import AuditEntry, AuditRecord, check_int


class _AuditState:
    """The audit log's committed data with its index."""

    def __init__(self) -> None:
        super().__init__()
        self.audit: list[AuditRecord] = []  # index = seq - 1
        self.audit_actions: dict[str, list[int]] = {}  # action -> its seqs, ascending

    def _apply_audit(self, pending: _AuditPending) -> None:
        self.audit.extend(pending.audit)
        for record in pending.audit:
            self.audit_actions.setdefault(record.entry.action, []).append(record.seq)


@attrs.define(slots=False)
class _AuditPending:
    """The audit records a unit of work has written."""

    audit: list[AuditRecord] = attrs.Factory(list)


class _AuditView:
    """The committed audit log, seen through a unit of work's staged records."""

    state: _AuditState
    pending: _AuditPending

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


class MemoryAuditLog(_Port[_AuditView, _AuditPending], AuditLog):
    """The audit log (操作ログ) of a :class:`MemoryStore`: gap-free, commit-ordered.

    The 住民記録システム標準仕様書 requires operation logs (j1370). A unit of
    work holds the write lock, so its numbers follow the last committed one and
    are committed before any later writer's.
    """

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

        def read(view: _AuditView) -> list[AuditRecord]:
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

        def read(view: _AuditView) -> int:
            committed, staged = view.audit_records()
            return len(committed) + len(staged)

        return self._store._read(uow, read)
