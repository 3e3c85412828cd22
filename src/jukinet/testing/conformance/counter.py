"""Conformance tests of the counter port (:class:`~jukinet.storage.base.CounterStore`).

What the port means, not only what it stores. The 転出証明書情報 a destination
keeps (住基法24条の2第3項; 令24条の3): a certificate number belongs to one person
from one municipality, so another person's info under it is refused with nothing
written, while a resend (24条の2第5項・第6項) replaces the info but never makes it
usable again; a move-in is registered from an info once, even with two units of
work racing; an info is kept through the day before its ``erase_on`` and erased on
that day (24条の2第4項; 令24条の4); a person's infos come by planned day. The
requests sent to other municipalities (12条の4, 24条の2第5項・第6項): opened
unanswered, each id once, answered once and not before they were asked; the
unanswered ones oldest first, filtered by kind and limited. A unit of work that
fails leaves nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from functools import partial
from typing import Any

import attrs
import pytest

from jukinet.errors import IntegrityError, InterfaceError, JukinetError, ValidationError
from jukinet.storage.base import Store, UnitOfWork
from jukinet.storage.records import (
    MOVE_OUT_INFO_DAYS,
    CounterRequestRow,
    MoveOutInfoRow,
)
from jukinet.testing.conformance._rows import (
    BAD_CHECK_DIGIT_CODE,
    MUNICIPALITIES,
    InjectedCrash,
    RowFactory,
    _run_threads,
    read_all_outbox,
    snapshot,
)
from jukinet.testing.conformance.hooks import ConformanceHooks

_PLANNED = date(2026, 4, 1)


def info_row(n: int, *, code: int | None = None, **changes: Any) -> MoveOutInfoRow:
    """Info ``n``: certificate ``n`` as 32 hex digits, about :meth:`RowFactory.code`
    ``(code)`` (default ``n``), sent by 中央区 for a move-out planned on 2026-04-01,
    received the day before, erased 30 days after the planned day (住基法24条の2第4項,
    令24条の4), unused; ``changes`` replace fields (``erase_on`` follows a changed
    ``planned_date`` unless given).

    >>> info_row(10).certificate, info_row(10).erase_on
    ('0000000000000000000000000000000a', datetime.date(2026, 5, 1))
    """
    planned: date = changes.get("planned_date", _PLANNED)
    values: dict[str, Any] = {
        "certificate": f"{n:032x}",
        "resident_code": RowFactory.code(n if code is None else code),
        "moved_from": MUNICIPALITIES[1],
        "planned_date": planned,
        "erase_on": planned + timedelta(days=MOVE_OUT_INFO_DAYS),
        "received_on": planned - timedelta(days=1),
        "payload": f"転出証明書情報 {n}".encode(),
        "used": False,
    }
    values.update(changes)
    return MoveOutInfoRow(**values)


def request_row(n: int, *, days: int = 0, **changes: Any) -> CounterRequestRow:
    """Request ``n``: id ``n`` as 32 hex digits (from 0x8000…, apart from
    :func:`info_row`'s numbers), a copy asked of 港区 about :meth:`RowFactory.code`
    ``(n)`` on 2026-04-01 + ``days``, not answered; ``changes`` replace fields."""
    values: dict[str, Any] = {
        "request_id": f"{2**127 + n:032x}",
        "kind": "copy",
        "peer": MUNICIPALITIES[2],
        "subject": RowFactory.code(n),
        "asked_on": _PLANNED + timedelta(days=days),
        "request": f"request {n}".encode(),
        "answer": None,
        "answered_on": None,
    }
    values.update(changes)
    return CounterRequestRow(**values)


class CounterSteps(ConformanceHooks):
    """The steps the counter tests share."""

    def _keep(self, store: Store, *rows: MoveOutInfoRow) -> None:
        with store.unit_of_work() as uow:
            for row in rows:
                store.counter.keep_info(uow, row)

    def _open(self, store: Store, *rows: CounterRequestRow) -> None:
        with store.unit_of_work() as uow:
            for row in rows:
                store.counter.open_request(uow, row)

    def _counter_refused(
        self,
        store: Store,
        write: Callable[[UnitOfWork], object],
        error: type[JukinetError] = IntegrityError,
        **seen: Any,
    ) -> None:
        """``write`` (after another port's write in the same unit of work) raises
        ``error`` and nothing observable changes."""
        before = snapshot(store, **seen)
        with pytest.raises(error), store.unit_of_work() as uow:  # noqa: PT012
            store.outbox.append(uow, "pref13", [b"effect"])
            write(uow)
        assert snapshot(store, **seen) == before


class CounterConformance(CounterSteps):
    """Conformance tests of the counter port."""

    def test_counter_keep_info_and_read_back(self, store: Store) -> None:
        first, second = info_row(1), info_row(2, code=1, planned_date=_PLANNED + timedelta(9))
        other = info_row(3)
        with store.unit_of_work() as uow:
            store.counter.keep_info(uow, second)
            store.counter.keep_info(uow, first)
            assert store.counter.info(first.certificate, uow) == first
            assert store.counter.infos_for(first.resident_code, uow) == [first, second]
        self._keep(store, other)
        assert store.counter.info(first.certificate) == first
        assert store.counter.info(other.certificate) == other
        assert store.counter.info(info_row(4).certificate) is None
        assert store.counter.infos_for(first.resident_code) == [first, second]
        assert store.counter.infos_for(other.resident_code) == [other]
        assert store.counter.infos_for(self.rows.code(4)) == []

    def test_counter_a_certificate_of_another_person_is_refused(self, store: Store) -> None:
        # A certificate number names one person's move-out from one municipality: an
        # info under it about someone else, or from elsewhere, is no resend.
        kept = info_row(1)
        self._keep(store, kept)
        someone_else = info_row(1, code=2, payload=b"other")
        elsewhere = info_row(1, moved_from=MUNICIPALITIES[0])
        seen: dict[str, Any] = {
            "infos": [kept.certificate, info_row(5).certificate],
            "codes": [kept.resident_code, someone_else.resident_code],
        }
        for wrong in (someone_else, elsewhere):
            self._counter_refused(store, partial(store.counter.keep_info, row=wrong), **seen)

        def with_a_good_one(uow: UnitOfWork) -> None:
            store.counter.keep_info(uow, info_row(5))
            store.counter.keep_info(uow, someone_else)

        self._counter_refused(store, with_a_good_one, **seen)
        assert store.counter.info(kept.certificate) == kept
        # two first arrivals under one number in one unit of work: the second refused
        first, clash = info_row(6), info_row(6, code=7)
        seen = {"infos": [first.certificate], "codes": [first.resident_code, clash.resident_code]}

        def both(uow: UnitOfWork) -> None:
            store.counter.keep_info(uow, first)
            store.counter.keep_info(uow, clash)

        self._counter_refused(store, both, **seen)
        assert store.counter.info(first.certificate) is None

    def test_counter_a_resend_replaces_the_info_but_keeps_used(self, store: Store) -> None:
        # The move-out municipality sends the info again (24条の2第5項・第6項): the new
        # one replaces what was kept, but a used info stays used (a move-in once).
        kept = info_row(1)
        self._keep(store, kept)
        later = _PLANNED + timedelta(days=40)
        resent = attrs.evolve(
            kept, payload=b"resent", received_on=later, erase_on=later + timedelta(days=30)
        )
        self._keep(store, resent)
        assert store.counter.info(kept.certificate) == resent
        assert store.counter.infos_for(kept.resident_code) == [resent]
        with store.unit_of_work() as uow:
            store.counter.use_info(uow, kept.certificate)
        again = attrs.evolve(resent, payload=b"again", received_on=later + timedelta(days=1))
        self._keep(store, again)
        assert store.counter.info(kept.certificate) == attrs.evolve(again, used=True)
        seen: dict[str, Any] = {"infos": [kept.certificate], "codes": [kept.resident_code]}
        self._counter_refused(
            store, lambda uow: store.counter.use_info(uow, kept.certificate), **seen
        )
        # within one unit of work: used, then resent, still used
        fresh = info_row(2)
        with store.unit_of_work() as uow:
            store.counter.keep_info(uow, fresh)
            store.counter.use_info(uow, fresh.certificate)
            store.counter.keep_info(uow, attrs.evolve(fresh, payload=b"resent"))
            stored = store.counter.info(fresh.certificate, uow)
            assert stored == attrs.evolve(fresh, payload=b"resent", used=True)
        assert store.counter.info(fresh.certificate) == stored

    def test_counter_an_info_is_used_once(self, store: Store) -> None:
        kept, absent = info_row(1), info_row(2)
        self._keep(store, kept)
        seen: dict[str, Any] = {
            "infos": [kept.certificate, absent.certificate],
            "codes": [kept.resident_code],
        }
        self._counter_refused(
            store, lambda uow: store.counter.use_info(uow, absent.certificate), **seen
        )

        def twice(uow: UnitOfWork) -> None:
            store.counter.use_info(uow, kept.certificate)
            assert store.counter.info(kept.certificate, uow) == attrs.evolve(kept, used=True)
            store.counter.use_info(uow, kept.certificate)

        self._counter_refused(store, twice, **seen)  # the refusal undoes the first use
        assert store.counter.info(kept.certificate) == kept
        with store.unit_of_work() as uow:
            store.counter.use_info(uow, kept.certificate)
        assert store.counter.info(kept.certificate) == attrs.evolve(kept, used=True)
        self._counter_refused(
            store, lambda uow: store.counter.use_info(uow, kept.certificate), **seen
        )
        # an erased info is no longer there to use
        other = info_row(3)
        self._keep(store, other)
        with store.unit_of_work() as uow:
            assert store.counter.erase_infos(uow, on=other.erase_on) == 2
        seen = {"infos": [other.certificate]}
        self._counter_refused(
            store, lambda uow: store.counter.use_info(uow, other.certificate), **seen
        )

    def test_counter_infos_are_erased_on_their_day(self, store: Store) -> None:
        # 住基法24条の2第4項, 令24条の4: the destination keeps the info until the
        # planned move-out day + 30 days, then erases it: still there on erase_on - 1,
        # gone from erase_on, whether a move-in was registered from it or not.
        due, used = info_row(1), info_row(2)
        later = info_row(3, planned_date=_PLANNED + timedelta(days=1))
        self._keep(store, due, used, later)
        with store.unit_of_work() as uow:
            store.counter.use_info(uow, used.certificate)
        day = due.erase_on
        assert day == _PLANNED + timedelta(days=30)
        with store.unit_of_work() as uow:
            assert store.counter.erase_infos(uow, on=day - timedelta(days=1)) == 0
        assert store.counter.info(due.certificate) == due
        assert store.counter.info(used.certificate) == attrs.evolve(used, used=True)
        with store.unit_of_work() as uow:
            assert store.counter.erase_infos(uow, on=day) == 2
            assert store.counter.info(due.certificate, uow) is None
        assert store.counter.info(due.certificate) is None
        assert store.counter.info(used.certificate) is None
        assert store.counter.infos_for(due.resident_code) == []
        assert store.counter.info(later.certificate) == later
        with store.unit_of_work() as uow:
            assert store.counter.erase_infos(uow, on=day) == 0
            assert store.counter.erase_infos(uow, on=later.erase_on) == 1
        assert store.counter.info(later.certificate) is None
        # inside a unit of work: its own infos count, and a resend that moves the day
        # keeps the info (the day of the newest info counts)
        resent, staged = info_row(4), info_row(5)
        self._keep(store, resent)
        with store.unit_of_work() as uow:
            store.counter.keep_info(uow, staged)
            moved = resent.erase_on + timedelta(days=30)
            store.counter.keep_info(uow, attrs.evolve(resent, erase_on=moved))
            assert store.counter.erase_infos(uow, on=resent.erase_on) == 1
            assert store.counter.info(staged.certificate, uow) is None
            assert store.counter.erase_infos(uow, on=moved - timedelta(days=1)) == 0
        assert store.counter.info(staged.certificate) is None
        assert store.counter.info(resent.certificate) == attrs.evolve(resent, erase_on=moved)

    def test_counter_infos_for_is_by_planned_date(self, store: Store) -> None:
        offsets = (5, 0, 3, 0, 9, 3)
        rows = [
            info_row(10 + i, code=1, planned_date=_PLANNED + timedelta(days=d))
            for i, d in enumerate(offsets)
        ]
        self._keep(store, *reversed(rows[:4]))
        elsewhere = info_row(30, code=2, planned_date=_PLANNED + timedelta(days=9))
        self._keep(store, *rows[4:], elsewhere)
        want = sorted(rows, key=lambda r: (r.planned_date, r.certificate))
        assert store.counter.infos_for(self.rows.code(1)) == want
        with store.unit_of_work() as uow:
            earliest = info_row(
                40, code=1, planned_date=_PLANNED - timedelta(days=1), erase_on=date(2027, 1, 1)
            )
            store.counter.keep_info(uow, earliest)
            store.counter.erase_infos(uow, on=want[0].erase_on)  # the two on day 0 go
            assert store.counter.infos_for(self.rows.code(1), uow) == [earliest, *want[2:]]
        assert store.counter.infos_for(self.rows.code(1)) == [earliest, *want[2:]]
        assert store.counter.infos_for(self.rows.code(2)) == [elsewhere]

    def test_counter_a_failed_unit_of_work_leaves_nothing(self, store: Store) -> None:
        kept, fresh = info_row(1), info_row(2)
        asked, new = request_row(1), request_row(2)
        self._keep(store, kept)
        self._open(store, asked)
        seen: dict[str, Any] = {
            "infos": [kept.certificate, fresh.certificate],
            "requests": [asked.request_id, new.request_id],
            "codes": [kept.resident_code, fresh.resident_code],
        }
        before = snapshot(store, **seen)

        def writes(uow: UnitOfWork) -> None:
            store.counter.keep_info(uow, fresh)
            store.counter.use_info(uow, kept.certificate)
            store.counter.open_request(uow, new)
            store.counter.answer_request(uow, asked.request_id, b"items", _PLANNED)
            assert store.counter.unanswered(uow=uow) == [new]
            assert store.counter.erase_infos(uow, on=date.max) == 2

        with pytest.raises(InjectedCrash), store.unit_of_work() as uow:  # noqa: PT012
            writes(uow)
            raise InjectedCrash
        assert snapshot(store, **seen) == before
        with pytest.raises(IntegrityError), store.unit_of_work() as uow:  # noqa: PT012
            writes(uow)
            store.tracking.advance(uow, "p:13", 2)  # skips 1: refused
        assert snapshot(store, **seen) == before

    def test_racing_counter_use_info_exactly_one_wins(self, store: Store) -> None:
        # Two counters registering a move-in from one info at once: one succeeds.
        infos = [info_row(100 + n) for n in range(self.racing_rounds)]
        self._keep(store, *infos)
        writers = [self.handle(store), self.handle(store)]
        won: dict[int, list[int]] = {0: [], 1: []}

        def use(w: int) -> Callable[[], None]:
            def run() -> None:
                for i, info in enumerate(infos):
                    try:
                        with writers[w].unit_of_work() as uow:
                            writers[w].counter.use_info(uow, info.certificate)
                            writers[w].outbox.append(uow, f"winner{w}", [info.certificate.encode()])
                    except IntegrityError:
                        continue
                    won[w].append(i)

            return run

        _run_threads([use(0), use(1)])
        assert sorted(won[0] + won[1]) == list(range(len(infos)))
        for w in (0, 1):
            entries = read_all_outbox(store, f"winner{w}")
            assert [e.payload for e in entries] == [infos[i].certificate.encode() for i in won[w]]
        for info in infos:
            assert store.counter.info(info.certificate) == attrs.evolve(info, used=True)

    def test_racing_counter_answers_exactly_one_wins(self, store: Store) -> None:
        requests = [request_row(n) for n in range(self.racing_rounds)]
        self._open(store, *requests)
        writers = [self.handle(store), self.handle(store)]
        won: dict[int, list[int]] = {0: [], 1: []}

        def answer(w: int) -> Callable[[], None]:
            def run() -> None:
                for i, request in enumerate(requests):
                    try:
                        with writers[w].unit_of_work() as uow:
                            writers[w].counter.answer_request(
                                uow, request.request_id, f"answer {w}".encode(), _PLANNED
                            )
                    except IntegrityError:
                        continue
                    won[w].append(i)

            return run

        _run_threads([answer(0), answer(1)])
        assert sorted(won[0] + won[1]) == list(range(len(requests)))
        for w, rounds in won.items():
            for i in rounds:
                stored = store.counter.request(requests[i].request_id)
                assert stored is not None
                assert stored.answer == f"answer {w}".encode()
        assert store.counter.unanswered() == []

    def test_counter_requests_are_opened_and_answered_once(self, store: Store) -> None:
        asked = request_row(1, days=2)
        self._open(store, asked)
        assert store.counter.request(asked.request_id) == asked
        assert store.counter.request(request_row(2).request_id) is None
        seen: dict[str, Any] = {"requests": [asked.request_id, request_row(2).request_id]}
        # an id is kept once, whatever the rest of the request
        same_id = request_row(1, kind="resend", subject=self.rows.code(5))
        self._counter_refused(store, lambda uow: store.counter.open_request(uow, same_id), **seen)
        # a request is opened unanswered; it is answered once, not before it was asked
        answered = request_row(2, answer=b"items", answered_on=_PLANNED)
        for write in (
            lambda uow: store.counter.open_request(uow, answered),
            lambda uow: store.counter.answer_request(
                uow, asked.request_id, b"early", asked.asked_on - timedelta(days=1)
            ),
        ):
            self._counter_refused(store, write, ValidationError, **seen)
        self._counter_refused(
            store,
            lambda uow: store.counter.answer_request(
                uow, request_row(2).request_id, b"x", _PLANNED
            ),
            **seen,
        )
        with store.unit_of_work() as uow:
            store.counter.answer_request(uow, asked.request_id, b"items", asked.asked_on)
            assert store.counter.unanswered(uow=uow) == []
        done = attrs.evolve(asked, answer=b"items", answered_on=asked.asked_on)
        assert store.counter.request(asked.request_id) == done
        assert done.answered
        self._counter_refused(
            store,
            lambda uow: store.counter.answer_request(
                uow, asked.request_id, b"again", asked.asked_on + timedelta(days=1)
            ),
            **seen,
        )
        assert store.counter.request(asked.request_id) == done

    def test_counter_unanswered_is_ordered_filtered_limited(self, store: Store) -> None:
        rows = [
            request_row(n, days=(n * 7) % 5, kind=("copy", "resend")[n % 3 == 0])
            for n in range(1, 13)
        ]
        self._open(store, *reversed(rows))
        with store.unit_of_work() as uow:
            for row in rows[::4]:
                store.counter.answer_request(uow, row.request_id, b"items", date(2027, 1, 1))
        open_rows = sorted(
            (r for r in rows if r not in rows[::4]), key=lambda r: (r.asked_on, r.request_id)
        )
        assert store.counter.unanswered() == open_rows
        assert store.counter.unanswered(limit=3) == open_rows[:3]
        assert store.counter.unanswered(limit=0) == []
        for kind in ("copy", "resend"):
            want = [r for r in open_rows if r.kind == kind]
            assert want
            assert store.counter.unanswered(kind=kind) == want
            assert store.counter.unanswered(kind=kind, limit=2) == want[:2]
        # inside a unit of work: its own requests and answers count
        oldest = request_row(20, days=-3, kind="resend")
        with store.unit_of_work() as uow:
            store.counter.open_request(uow, oldest)
            store.counter.answer_request(uow, open_rows[0].request_id, b"items", date(2027, 1, 1))
            assert store.counter.unanswered(uow=uow) == [oldest, *open_rows[1:]]
            assert store.counter.unanswered(kind="resend", limit=1, uow=uow) == [oldest]
        assert store.counter.unanswered(limit=2) == [oldest, *open_rows[1:2]]

    def test_counter_bad_arguments_raise_and_write_nothing(self, store: Store) -> None:
        kept, asked = info_row(1), request_row(1)
        self._keep(store, kept)
        self._open(store, asked)
        seen: dict[str, Any] = {
            "infos": [kept.certificate, info_row(2).certificate],
            "requests": [asked.request_id, request_row(2).request_id],
            "codes": [kept.resident_code],
        }
        c = store.counter
        writes: list[tuple[type[JukinetError], Callable[[UnitOfWork], object]]] = [
            (InterfaceError, lambda uow: c.keep_info(uow, [info_row(2)])),  # type: ignore[arg-type]
            (InterfaceError, lambda uow: c.keep_info(uow, request_row(2))),  # type: ignore[arg-type]
            (InterfaceError, lambda _uow: c.keep_info(None, info_row(2))),  # type: ignore[arg-type]
            (InterfaceError, lambda uow: c.open_request(uow, info_row(2))),  # type: ignore[arg-type]
            (InterfaceError, lambda _uow: c.use_info(None, kept.certificate)),  # type: ignore[arg-type]
            (InterfaceError, lambda _uow: c.erase_infos(None, on=date.max)),  # type: ignore[arg-type]
            (ValidationError, lambda uow: c.keep_info(uow, info_row(2, used=True))),
            (ValidationError, lambda uow: c.use_info(uow, "F" * 32)),
            (ValidationError, lambda uow: c.use_info(uow, None)),  # type: ignore[arg-type]
            (ValidationError, lambda uow: c.erase_infos(uow, on="2026-05-01")),  # type: ignore[arg-type]
            (ValidationError, lambda uow: c.answer_request(uow, asked.request_id, b"", _PLANNED)),
            (ValidationError, lambda uow: c.answer_request(uow, asked.request_id, None, _PLANNED)),  # type: ignore[arg-type]
            (ValidationError, lambda uow: c.answer_request(uow, asked.request_id, b"x", None)),  # type: ignore[arg-type]
            (ValidationError, lambda uow: c.answer_request(uow, "x" * 32, b"x", _PLANNED)),
        ]
        for error, write in writes:
            self._counter_refused(store, write, error, **seen)
        reads: list[Callable[[], object]] = [
            lambda: c.info("A" * 32),
            lambda: c.info(kept.certificate[:-1]),
            lambda: c.info(None),  # type: ignore[arg-type]
            lambda: c.infos_for(BAD_CHECK_DIGIT_CODE),
            lambda: c.infos_for("1234567890"),
            lambda: c.request(7),  # type: ignore[arg-type]
            lambda: c.unanswered(kind="paper"),
            lambda: c.unanswered(limit=-1),
            lambda: c.unanswered(limit=True),
        ]
        for call in reads:
            with pytest.raises(JukinetError):
                call()

    def test_counter_values_are_checked(self) -> None:
        bad_infos: list[dict[str, Any]] = [
            {"certificate": "A" * 32},
            {"certificate": "0" * 31},
            {"resident_code": BAD_CHECK_DIGIT_CODE},
            {"moved_from": "131017"},
            {"planned_date": "2026-04-01"},
            {"erase_on": _PLANNED},  # not after the planned day
            {"received_on": None},
            {"payload": b""},
            {"payload": "info"},
            {"used": 0},
        ]
        for changes in bad_infos:
            with pytest.raises(ValidationError):
                attrs.evolve(info_row(1), **changes)
        bad_requests: list[dict[str, Any]] = [
            {"request_id": "g" * 32},
            {"kind": "paper"},
            {"peer": "13101"},
            {"subject": BAD_CHECK_DIGIT_CODE},
            {"asked_on": None},
            {"request": b""},
            {"answer": b"items"},  # without its day
            {"answered_on": _PLANNED},  # without an answer
            {"answer": b"items", "answered_on": _PLANNED - timedelta(days=1)},
        ]
        for changes in bad_requests:
            with pytest.raises(ValidationError):
                attrs.evolve(request_row(1), **changes)
