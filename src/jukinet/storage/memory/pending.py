"""The notices an upper tier holds pending, in the in-memory adapter.

:func:`_kept_pending` (as :func:`~jukinet.storage.memory.provision._kept_record`
for the provision log); their part of the committed state
(:class:`_NoticesState`: the notices by sequence number, the highest number
ever given, an index from each resident code to its notices), of the staging
(:class:`_NoticesPending`) and of the view (:class:`_NoticesView`); and the
port, :class:`MemoryPendingNotices`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs
from sortedcontainers import SortedSet

from jukinet.errors import CorruptRecord
from jukinet.storage.base import PendingNotices, UnitOfWork
from jukinet.storage.memory._database import _codes, _Port, _rows, _sequence
from jukinet.storage.records import PendingNotice, PendingRecord, check_int


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


class _NoticesState:
    """The pending notices' committed data with its index."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: dict[int, PendingRecord] = {}
        self.pending_codes: dict[str, SortedSet[int]] = {}  # code -> seqs of its notices
        self.pending_last = 0  # the highest seq ever given (never reused)

    def _apply_notices(self, pending: _NoticesPending) -> None:
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


@attrs.define(slots=False)
class _NoticesPending:
    """The notices a unit of work has added and removed."""

    pending_added: list[PendingRecord] = attrs.Factory(list)  # in seq order
    pending_removed: set[int] = attrs.Factory(set)  # seqs forgotten (committed or staged)


class _NoticesView:
    """The committed pending notices, seen through a unit of work's staged changes."""

    state: _NoticesState
    pending: _NoticesPending

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


class MemoryPendingNotices(_Port[_NoticesView, _NoticesPending], PendingNotices):
    """Notices an upper tier holds pending in a :class:`MemoryStore`, by resident code."""

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
