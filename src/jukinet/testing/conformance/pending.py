"""Conformance tests of the pending notices."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from jukinet.errors import (
    CorruptRecord,
    IntegrityError,
    InterfaceError,
    JukinetError,
    ValidationError,
)
from jukinet.storage.base import Store, UnitOfWork
from jukinet.storage.records import (
    MAX_PAYLOAD_BYTES,
    PendingNotice,
    PendingRecord,
)
from jukinet.testing.conformance._rows import (
    BAD_CHECK_DIGIT_CODE,
    InjectedCrash,
    _run_threads,
    snapshot,
)
from jukinet.testing.conformance.hooks import ConformanceHooks


class PendingConformance(ConformanceHooks):
    """Conformance tests of the pending notices."""

    # =============================================================================
    # pending notices
    # =============================================================================

    def _pending_codes(self) -> list[str]:
        """The codes the pending-notice tests watch (snapshot ``codes``)."""
        return [self.rows.code(n) for n in range(1, 10)]

    def test_pending_add_numbers_notices_in_arrival_order(self, store: Store) -> None:
        notices = [self.rows.pending_notice(n) for n in range(1, 6)]
        with store.unit_of_work() as uow:
            first = store.pending.add(uow, notices[:2])
            assert len(store.pending.add(uow, [])) == 0
            second = store.pending.add(uow, notices[2:3])
        with store.unit_of_work() as uow:
            third = store.pending.add(uow, notices[3:])
        assert [len(first), len(second), len(third)] == [2, 1, 2]
        seqs = [*first, *second, *third]
        assert seqs == sorted(seqs)
        assert len(set(seqs)) == 5
        assert all(seq >= 1 for seq in seqs)
        assert store.pending.count() == 5
        codes = [n.codes[0] for n in notices]
        expected = [PendingRecord(seq=s, entry=n) for s, n in zip(seqs, notices, strict=True)]
        assert store.pending.find(codes) == expected
        # the order is the arrival order, whatever the order of the codes asked for
        assert store.pending.find(codes[::-1]) == expected
        for notice, record in zip(notices, expected, strict=True):
            assert store.pending.find([notice.codes[0]]) == [record]

    def test_pending_find_by_any_of_a_notices_codes(self, store: Store) -> None:
        # A code change (住基法30条の4) is about two codes, the replaced one and the new one.
        old, new, other, absent = (self.rows.code(n) for n in (1, 2, 3, 9))
        change = self.rows.pending_notice(1, codes=[old, new])
        later = self.rows.pending_notice(2, codes=[new])
        unrelated = self.rows.pending_notice(3, codes=[other], sender="p:13")
        with store.unit_of_work() as uow:
            seqs = [*store.pending.add(uow, [change, later]), *store.pending.add(uow, [unrelated])]
        records = [
            PendingRecord(seq=seq, entry=entry)
            for seq, entry in zip(seqs, [change, later, unrelated], strict=True)
        ]
        assert store.pending.find([old]) == records[:1]
        assert store.pending.find([new]) == records[:2]
        # each notice once, however many of its codes are asked for, or how often
        assert store.pending.find([old, new]) == records[:2]
        assert store.pending.find([new, old, new, old]) == records[:2]
        assert store.pending.find((old, old)) == records[:1]
        assert store.pending.find([absent]) == []
        assert store.pending.find([absent, other]) == records[2:]
        assert store.pending.find([]) == []
        assert store.pending.find([other, absent, old, new]) == records
        many = [self.rows.code(n) for n in range(100, 1300)]  # more than one chunk
        assert store.pending.find([*many, other]) == records[2:]

    def test_pending_remove_skips_absent_seqs_and_returns_the_count(self, store: Store) -> None:
        notices = [self.rows.pending_notice(n) for n in range(1, 5)]
        with store.unit_of_work() as uow:
            seqs = list(store.pending.add(uow, notices))
        absent = seqs[-1] + 100
        with store.unit_of_work() as uow:
            assert store.pending.remove(uow, [seqs[1], absent, seqs[1]]) == 1
            assert store.pending.remove(uow, []) == 0
            assert store.pending.remove(uow, [seqs[1]]) == 0  # gone already
        assert store.pending.count() == 3
        codes = [n.codes[0] for n in notices]
        kept = [seqs[0], seqs[2], seqs[3]]
        assert [r.seq for r in store.pending.find(codes)] == kept
        assert store.pending.find([notices[1].codes[0]]) == []
        with store.unit_of_work() as uow:
            assert store.pending.remove(uow, (seqs[3], seqs[0])) == 2
        assert store.pending.count() == 1
        assert [r.seq for r in store.pending.find(codes)] == [seqs[2]]
        # a seq is never reused, not even the highest one after it went
        with store.unit_of_work() as uow:
            (again,) = store.pending.add(uow, notices[3:])
        assert again > seqs[-1]
        assert store.pending.find([notices[3].codes[0]]) == [
            PendingRecord(seq=again, entry=notices[3])
        ]
        with store.unit_of_work() as uow:
            assert store.pending.remove(uow, [seqs[2], again]) == 2
        assert store.pending.count() == 0
        assert store.pending.find(codes) == []

    def test_pending_inside_a_unit_of_work_sees_its_writes(self, store: Store) -> None:
        reader = self.handle(store)
        kept, going = self.rows.pending_notice(1), self.rows.pending_notice(2)
        with store.unit_of_work() as uow:
            first, second = store.pending.add(uow, [kept, going])
        codes = self._pending_codes()
        committed = [PendingRecord(seq=first, entry=kept), PendingRecord(seq=second, entry=going)]
        staged = self.rows.pending_notice(3, codes=[self.rows.code(3), self.rows.code(1)])
        with store.unit_of_work() as uow:
            assert store.pending.remove(uow, [second]) == 1
            (third,) = store.pending.add(uow, [staged])
            assert third > second
            mine = [committed[0], PendingRecord(seq=third, entry=staged)]
            assert store.pending.find(codes, uow) == mine
            assert store.pending.find([self.rows.code(1)], uow) == mine
            assert store.pending.find([self.rows.code(2)], uow) == []
            assert store.pending.count(uow) == 2
            # removed in the unit of work that added it: never seen outside
            (fourth,) = store.pending.add(uow, [self.rows.pending_notice(4)])
            assert store.pending.remove(uow, [fourth, second]) == 1
            assert store.pending.count(uow) == 2
            # another handle sees committed notices only
            assert reader.pending.find(codes) == committed
            assert reader.pending.count() == 2
        for handle in (store, reader):
            assert handle.pending.find(codes) == mine
            assert handle.pending.count() == 2
            assert handle.pending.find([self.rows.code(4)]) == []

    def test_pending_a_rolled_back_unit_of_work_leaves_nothing(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            (seq,) = store.pending.add(uow, [self.rows.pending_notice(1)])
        codes = self._pending_codes()
        before = snapshot(store, codes=codes)
        with pytest.raises(InjectedCrash), store.unit_of_work() as uow:  # noqa: PT012
            store.pending.add(uow, [self.rows.pending_notice(2), self.rows.pending_notice(3)])
            assert store.pending.remove(uow, [seq]) == 1
            assert store.pending.count(uow) == 2
            raise InjectedCrash
        assert snapshot(store, codes=codes) == before
        with pytest.raises(IntegrityError), store.unit_of_work() as uow:  # noqa: PT012
            store.pending.add(uow, [self.rows.pending_notice(4)])
            store.pending.remove(uow, [seq])
            store.tracking.advance(uow, "p:13", 2)  # skips 1: refused
        assert snapshot(store, codes=codes) == before
        # numbers go on after the rolled-back ones
        with store.unit_of_work() as uow:
            (later,) = store.pending.add(uow, [self.rows.pending_notice(5)])
        assert later > seq
        assert [r.seq for r in store.pending.find(codes)] == [seq, later]

    def test_racing_pending_adders_get_the_numbers_of_their_own_notices(self, store: Store) -> None:
        # Two instances of an upper tier over one store keep notices at once: each
        # add returns exactly the numbers its own notices got, ascending.
        writers = [self.handle(store), self.handle(store)]
        rounds = self.racing_rounds
        written: dict[int, list[tuple[range, list[PendingNotice]]]] = {0: [], 1: []}

        def write(w: int) -> Callable[[], None]:
            def run() -> None:
                handle = writers[w]
                for i in range(rounds):
                    batch = [
                        self.rows.pending_notice(1000 * w + 10 * i + j, sender=f"p:{w}")
                        for j in range(1 + (i + w) % 3)
                    ]
                    with handle.unit_of_work() as uow:
                        numbers = handle.pending.add(uow, batch)
                    written[w].append((numbers, batch))

            return run

        _run_threads([write(0), write(1)])
        codes = [n.codes[0] for w in written.values() for _, batch in w for n in batch]
        found = {r.seq: r.entry for r in store.pending.find(codes)}
        assert len(found) == len(codes) == store.pending.count()
        for w in written.values():
            for numbers, batch in w:
                assert len(numbers) == len(batch)
                assert [found.get(seq) for seq in numbers] == batch

    def test_an_unreadable_pending_notice_is_named_and_can_be_removed(self, store: Store) -> None:
        # A notice changed behind the port's back is a CorruptRecord naming it, never a
        # notice read wrong; the others read as before and it can still be forgotten.
        old, new, other = (self.rows.code(n) for n in (1, 2, 3))
        notices = [
            self.rows.pending_notice(1, codes=[old, new]),
            self.rows.pending_notice(2, codes=[other]),
        ]
        with store.unit_of_work() as uow:
            first, second = store.pending.add(uow, notices)
        self.garble_pending_notice(store, first)
        for codes in ([old], [new], [new, other]):
            with pytest.raises(CorruptRecord) as info:
                store.pending.find(codes)
            assert info.value.table == "pending_notices"
            assert info.value.seq == first
            assert first in info.value.key
        with pytest.raises(CorruptRecord), store.unit_of_work() as uow:
            store.pending.find([old], uow)
        assert store.pending.find([other]) == [PendingRecord(seq=second, entry=notices[1])]
        assert store.pending.count() == 2
        with store.unit_of_work() as uow:
            assert store.pending.remove(uow, [first]) == 1
        assert store.pending.find([old, new, other]) == [
            PendingRecord(seq=second, entry=notices[1])
        ]
        assert store.pending.count() == 1

    def test_pending_bad_arguments_raise_and_write_nothing(self, store: Store) -> None:
        notice = self.rows.pending_notice(1)
        with store.unit_of_work() as uow:
            (seq,) = store.pending.add(uow, [notice])
        codes = self._pending_codes()
        before = snapshot(store, codes=codes)
        other = self.rows.pending_notice(2)
        writes: list[tuple[type[JukinetError], Callable[[UnitOfWork], object]]] = [
            (InterfaceError, lambda uow: store.pending.add(uow, [other, "notice"])),  # type: ignore[list-item]
            (InterfaceError, lambda uow: store.pending.add(uow, [other, None])),  # type: ignore[list-item]
            (
                InterfaceError,
                lambda uow: store.pending.add(uow, [other, self.rows.scheduled_item(1)]),  # type: ignore[list-item]
            ),
            (InterfaceError, lambda uow: store.pending.add(uow, other)),  # type: ignore[arg-type]
            (InterfaceError, lambda uow: store.pending.add(uow, None)),  # type: ignore[arg-type]
            (InterfaceError, lambda uow: store.pending.add(uow, b"notice")),  # type: ignore[arg-type]
            (InterfaceError, lambda _uow: store.pending.add(None, [other])),  # type: ignore[arg-type]
            (ValidationError, lambda uow: store.pending.remove(uow, [seq, 0])),
            (ValidationError, lambda uow: store.pending.remove(uow, [seq, -1])),
            (ValidationError, lambda uow: store.pending.remove(uow, [seq, 2**63])),
            (JukinetError, lambda uow: store.pending.remove(uow, [seq, True])),
            (JukinetError, lambda uow: store.pending.remove(uow, [seq, "1"])),  # type: ignore[list-item]
            (JukinetError, lambda uow: store.pending.remove(uow, [seq, None])),  # type: ignore[list-item]
            (JukinetError, lambda uow: store.pending.remove(uow, [seq, 1.0])),  # type: ignore[list-item]
            (JukinetError, lambda uow: store.pending.remove(uow, seq)),  # type: ignore[arg-type]
            (JukinetError, lambda uow: store.pending.remove(uow, None)),  # type: ignore[arg-type]
            (InterfaceError, lambda _uow: store.pending.remove(None, [seq])),  # type: ignore[arg-type]
        ]
        for error, write in writes:
            with pytest.raises(error), store.unit_of_work() as uow:  # noqa: PT012
                store.outbox.append(uow, "pref13", [b"effect"])
                write(uow)
            assert snapshot(store, codes=codes) == before
        reads: list[Callable[[], object]] = [
            lambda: store.pending.find([notice.codes[0], BAD_CHECK_DIGIT_CODE]),
            lambda: store.pending.find([notice.codes[0], "1234567890"]),
            lambda: store.pending.find([notice.codes[0], 19]),  # type: ignore[list-item]
            lambda: store.pending.find([notice.codes[0], None]),  # type: ignore[list-item]
            lambda: store.pending.find(notice.codes[0]),  # a lone str is no sequence of codes
            lambda: store.pending.find(None),  # type: ignore[arg-type]
            lambda: store.pending.find(19),  # type: ignore[arg-type]
        ]
        for call in reads:
            with pytest.raises(JukinetError):
                call()
        assert store.pending.find(codes) == [PendingRecord(seq=seq, entry=notice)]

    def test_pending_notice_values_are_checked(self, store: Store) -> None:
        # what a notice may be about: one code, or two different ones (a code change)
        code = self.rows.code(1)
        bad: list[dict[str, Any]] = [
            {"codes": ()},
            {"codes": (code, code)},
            {"codes": (code, self.rows.code(2), self.rows.code(3))},
            {"codes": (BAD_CHECK_DIGIT_CODE,)},
            {"codes": code},
            {"sender": ""},
            {"sender": "m 131016"},
            {"sender": "x" * 65},
            {"payload": "notice"},
            {"payload": b""},
            {"payload": b"x" * (MAX_PAYLOAD_BYTES + 1)},
        ]
        for changes in bad:
            values: dict[str, Any] = {"sender": "m:131016", "codes": (code,), "payload": b"n"}
            values.update(changes)
            with pytest.raises(ValidationError):
                PendingNotice(**values)
        assert store.pending.count() == 0
