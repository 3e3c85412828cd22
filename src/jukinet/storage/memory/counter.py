"""What the counter services across municipalities keep, in the in-memory adapter.

Their part of the committed state (:class:`_CounterState`: the 転出証明書情報 by
certificate number, with an index from each resident code to its infos by planned
day and one of every info by its erasure day; the requests sent by request id,
with the unanswered ones ordered by the day they were asked), of the staging
(:class:`_CounterPending`: each certificate's newest staged info, None once erased,
and each request's newest staged state) and of the view (:class:`_CounterView`);
and the port, :class:`MemoryCounterStore`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import date

import attrs
from sortedcontainers import SortedSet

from jukinet.storage.base import CounterStore, UnitOfWork
from jukinet.storage.memory._database import _Port
from jukinet.storage.records import (
    CounterRequestRow,
    MoveOutInfoRow,
    check_date,
    check_field,
    check_int,
    check_resident_code,
)

_AFTER_ANY_ID = "~"
"""Sorts after every certificate number and request id (lowercase hex)."""


class _CounterState:
    """The counter's committed data with its indexes."""

    def __init__(self) -> None:
        super().__init__()
        self.counter_infos: dict[str, MoveOutInfoRow] = {}  # certificate -> info
        # resident code -> sorted (planned_date, certificate) of its infos
        self.counter_info_codes: dict[str, SortedSet[tuple[date, str]]] = {}
        self.counter_erasures: SortedSet[tuple[date, str]] = SortedSet()  # (erase_on, cert)
        self.counter_requests: dict[str, CounterRequestRow] = {}  # request id -> request
        # sorted (asked_on, request id) of the requests not answered
        self.counter_unanswered: SortedSet[tuple[date, str]] = SortedSet()

    def _apply_counter(self, pending: _CounterPending) -> None:
        for certificate, info in pending.counter_infos.items():
            old = self.counter_infos.pop(certificate, None)
            if old is not None:
                self._unindex_info(old)
            if info is not None:
                self.counter_infos[certificate] = info
                codes = self.counter_info_codes.setdefault(info.resident_code, SortedSet())
                codes.add((info.planned_date, certificate))
                self.counter_erasures.add((info.erase_on, certificate))
        for request_id, request in pending.counter_requests.items():
            old_request = self.counter_requests.get(request_id)
            if old_request is not None:
                self.counter_unanswered.discard((old_request.asked_on, request_id))
            self.counter_requests[request_id] = request
            if not request.answered:
                self.counter_unanswered.add((request.asked_on, request_id))

    def _unindex_info(self, info: MoveOutInfoRow) -> None:
        codes = self.counter_info_codes.get(info.resident_code)
        if codes is not None:
            codes.discard((info.planned_date, info.certificate))
            if not codes:
                del self.counter_info_codes[info.resident_code]
        self.counter_erasures.discard((info.erase_on, info.certificate))


@attrs.define(slots=False)
class _CounterPending:
    """The infos and requests a unit of work has written."""

    # certificate -> newest staged info, None once erased
    counter_infos: dict[str, MoveOutInfoRow | None] = attrs.Factory(dict)
    counter_requests: dict[str, CounterRequestRow] = attrs.Factory(dict)  # newest staged


class _CounterView:
    """The committed infos and requests, seen through a unit of work's staged writes."""

    state: _CounterState
    pending: _CounterPending

    def counter_info(self, certificate: str) -> MoveOutInfoRow | None:
        staged = self.pending.counter_infos
        if certificate in staged:
            return staged[certificate]
        return self.state.counter_infos.get(certificate)

    def counter_infos_for(self, code: str) -> list[MoveOutInfoRow]:
        staged = self.pending.counter_infos
        found = [
            self.state.counter_infos[certificate]
            for _, certificate in self.state.counter_info_codes.get(code, ())
            if certificate not in staged
        ]
        found.extend(i for i in staged.values() if i is not None and i.resident_code == code)
        found.sort(key=lambda i: (i.planned_date, i.certificate))
        return found

    def counter_due(self, on: date) -> list[str]:
        """The certificates of the infos whose ``erase_on`` is ``on`` or earlier."""
        staged = self.pending.counter_infos
        due = [
            certificate
            for _, certificate in self.state.counter_erasures.irange(maximum=(on, _AFTER_ANY_ID))
            if certificate not in staged
        ]
        due.extend(c for c, i in staged.items() if i is not None and i.erase_on <= on)
        return due

    def counter_request(self, request_id: str) -> CounterRequestRow | None:
        staged = self.pending.counter_requests.get(request_id)
        return staged if staged is not None else self.state.counter_requests.get(request_id)

    def counter_unanswered(self, kind: str | None, limit: int) -> list[CounterRequestRow]:
        staged = self.pending.counter_requests
        requests = self.state.counter_requests
        committed: Iterator[CounterRequestRow] = (
            requests[request_id]
            for _, request_id in self.state.counter_unanswered
            if request_id not in staged
        )
        if kind is not None:
            committed = (r for r in committed if r.kind == kind)
        found = list(itertools.islice(committed, limit))
        found.extend(
            r for r in staged.values() if not r.answered and (kind is None or r.kind == kind)
        )
        found.sort(key=lambda r: (r.asked_on, r.request_id))
        return found[:limit]


class MemoryCounterStore(_Port[_CounterView, _CounterPending], CounterStore):
    """What a :class:`MemoryStore`'s municipality keeps for the counter services across
    municipalities: 転出証明書情報 received (住基法24条の2第3項・第4項) and requests
    sent (12条の4, 24条の2第5項・第6項)."""

    def keep_info(self, uow: UnitOfWork, row: MoveOutInfoRow) -> None:
        """Keep an info that arrived, or replace it on a resend (see :class:`CounterStore`)."""
        info = CounterStore.check_info(row)
        view, pending = self._store._write(uow)
        kept = CounterStore.kept_info(view.counter_info(info.certificate), info)
        pending.counter_infos[info.certificate] = kept

    def info(self, certificate: str, uow: UnitOfWork | None = None) -> MoveOutInfoRow | None:
        """The info kept under this certificate number, or None."""
        check_field(MoveOutInfoRow, "certificate", certificate)
        return self._store._read(uow, lambda v: v.counter_info(certificate))

    def infos_for(self, resident_code: str, uow: UnitOfWork | None = None) -> list[MoveOutInfoRow]:
        """Every info kept about the person, by planned move-out day."""
        check_resident_code(resident_code)
        return self._store._read(uow, lambda v: v.counter_infos_for(resident_code))

    def use_info(self, uow: UnitOfWork, certificate: str) -> None:
        """Mark the info as used, once only (see :class:`CounterStore`)."""
        check_field(MoveOutInfoRow, "certificate", certificate)
        view, pending = self._store._write(uow)
        used = CounterStore.check_use(view.counter_info(certificate), certificate)
        pending.counter_infos[certificate] = used

    def erase_infos(self, uow: UnitOfWork, *, on: date) -> int:
        """Erase every info whose ``erase_on`` is ``on`` or earlier; returns how many."""
        check_date(on, "on")
        view, pending = self._store._write(uow)
        due = view.counter_due(on)
        for certificate in due:
            pending.counter_infos[certificate] = None
        return len(due)

    def open_request(self, uow: UnitOfWork, row: CounterRequestRow) -> None:
        """Keep a request sent (see :class:`CounterStore`)."""
        request = CounterStore.check_request(row)
        view, pending = self._store._write(uow)
        if view.counter_request(request.request_id) is not None:
            raise CounterStore.duplicate_request(request)
        pending.counter_requests[request.request_id] = request

    def answer_request(self, uow: UnitOfWork, request_id: str, answer: bytes, on: date) -> None:
        """Keep the answer to a request, once (see :class:`CounterStore`)."""
        CounterStore.check_answer(request_id, answer, on)
        view, pending = self._store._write(uow)
        answered = CounterStore.answered(view.counter_request(request_id), request_id, answer, on)
        pending.counter_requests[request_id] = answered

    def request(self, request_id: str, uow: UnitOfWork | None = None) -> CounterRequestRow | None:
        """The request kept under this id, or None."""
        check_field(CounterRequestRow, "request_id", request_id)
        return self._store._read(uow, lambda v: v.counter_request(request_id))

    def unanswered(
        self, *, kind: str | None = None, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[CounterRequestRow]:
        """Requests not answered yet, oldest first, at most ``limit``."""
        wanted = CounterStore.check_kind(kind)
        check_int(limit, "limit")
        return self._store._read(uow, lambda v: v.counter_unanswered(wanted, limit))
