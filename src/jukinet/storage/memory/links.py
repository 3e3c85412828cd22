"""The links of the in-memory adapter: the outbox and the tracking of what was applied.

Their part of the committed state (:class:`_LinksState`: each destination's
entries, resumed starts and acknowledged positions; each sender's position), of
the staging (:class:`_LinksPending`) and of the view (:class:`_LinksView`), and
the ports, :class:`MemoryOutbox` and :class:`MemoryTracking`.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
from sortedcontainers import SortedDict

from jukinet.errors import IntegrityError, InvalidComponent
from jukinet.storage.base import Outbox, Tracking, UnitOfWork
from jukinet.storage.memory._database import _Port, _sequence
from jukinet.storage.records import OutboxEntry, check_int, check_node_id


class _LinksState:
    """The outbox's and the tracking's committed data."""

    def __init__(self) -> None:
        super().__init__()
        self.outbox: SortedDict[str, list[OutboxEntry]] = SortedDict()
        self.outbox_base: dict[str, int] = {}  # resumed destination -> its first last_seq
        self.acked: dict[str, int] = {}
        self.tracking: dict[str, int] = {}

    def _apply_links(self, pending: _LinksPending) -> None:
        for destination, entries in pending.outbox.items():
            self.outbox.setdefault(destination, []).extend(entries)
        for destination, base in pending.outbox_base.items():
            self.outbox_base[destination] = base
            self.outbox.setdefault(destination, [])
        self.acked.update(pending.acked)
        self.tracking.update(pending.tracking)


@attrs.define(slots=False)
class _LinksPending:
    """The outbox entries, heads, acknowledgements and positions a unit of work has written."""

    outbox: dict[str, list[OutboxEntry]] = attrs.Factory(dict)
    outbox_base: dict[str, int] = attrs.Factory(dict)
    acked: dict[str, int] = attrs.Factory(dict)
    tracking: dict[str, int] = attrs.Factory(dict)


class _LinksView:
    """The committed links, seen through a unit of work's staged changes."""

    state: _LinksState
    pending: _LinksPending

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


class MemoryOutbox(_Port[_LinksView, _LinksPending], Outbox):
    """The outbox of a :class:`MemoryStore`: gap-free, commit-ordered per destination.

    A unit of work holds the write lock, so the numbers it is given follow the
    last committed one and are committed before any later writer's.
    """

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

        def read(view: _LinksView) -> list[OutboxEntry]:
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

        def read(view: _LinksView) -> list[str]:
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


class MemoryTracking(_Port[_LinksView, _LinksPending], Tracking):
    """What a :class:`MemoryStore`'s node has applied from each sender."""

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
