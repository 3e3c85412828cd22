"""Conformance tests of the links between nodes: the outbox and tracking."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from jukinet.errors import (
    IntegrityError,
    InterfaceError,
    JukinetError,
    ValidationError,
)
from jukinet.storage.base import Store, UnitOfWork
from jukinet.storage.records import (
    MAX_PAYLOAD_BYTES,
    OutboxEntry,
)
from jukinet.testing.conformance._rows import (
    InjectedCrash,
    _run_threads,
    read_all_outbox,
    snapshot,
)
from jukinet.testing.conformance.hooks import ConformanceHooks


class LinksConformance(ConformanceHooks):
    """Conformance tests of the links between nodes: the outbox and tracking."""

    # =============================================================================
    # outbox
    # =============================================================================

    def test_outbox_sequence_numbers_are_gap_free(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            assert store.outbox.append(uow, "pref13", [b"a", b"b", b"c"]) == range(1, 4)
            assert store.outbox.append(uow, "pref13", [b"d"]) == range(4, 5)
            assert store.outbox.append(uow, "center", [b"x"]) == range(1, 2)
            assert store.outbox.last_seq("pref13", uow) == 4
        with store.unit_of_work() as uow:
            assert store.outbox.append(uow, "pref13", []) == range(5, 5)
            assert store.outbox.append(uow, "empty", []) == range(1, 1)
            assert store.outbox.append(uow, "pref13", [b"e", b"f"]) == range(5, 7)
        entries = read_all_outbox(store, "pref13")
        assert [e.seq for e in entries] == [1, 2, 3, 4, 5, 6]
        assert [e.payload for e in entries] == [b"a", b"b", b"c", b"d", b"e", b"f"]
        assert all(e.destination == "pref13" for e in entries)
        assert store.outbox.read("pref13", after=2, limit=2) == entries[2:4]
        assert store.outbox.read("pref13", after=6) == []
        assert store.outbox.read("pref13", after=100) == []
        assert store.outbox.read("nobody") == []
        assert store.outbox.last_seq("pref13") == 6
        assert store.outbox.last_seq("nobody") == 0
        assert store.outbox.last_seq("empty") == 0
        assert store.outbox.destinations() == ["center", "pref13"]

    def test_outbox_numbers_survive_a_rolled_back_append(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            store.outbox.append(uow, "pref13", [b"a"])
        with pytest.raises(InjectedCrash), store.unit_of_work() as uow:  # noqa: PT012
            assert store.outbox.append(uow, "pref13", [b"lost"]) == range(2, 3)
            raise InjectedCrash
        with store.unit_of_work() as uow:
            assert store.outbox.append(uow, "pref13", [b"b"]) == range(2, 3)
        assert [e.payload for e in read_all_outbox(store, "pref13")] == [b"a", b"b"]

    def test_outbox_reads_see_committed_entries_only(self, store: Store) -> None:
        reader = self.handle(store)
        with store.unit_of_work() as uow:
            store.outbox.append(uow, "pref13", [b"a"])
            assert [e.payload for e in store.outbox.read("pref13", uow=uow)] == [b"a"]
            assert reader.outbox.read("pref13") == []
            assert reader.outbox.last_seq("pref13") == 0
            assert reader.outbox.destinations() == []
        assert [e.payload for e in reader.outbox.read("pref13")] == [b"a"]
        with store.unit_of_work() as uow:
            store.outbox.append(uow, "pref13", [b"b", b"c"])
            inside = store.outbox.read("pref13", after=0, limit=10, uow=uow)
            assert [(e.seq, e.payload) for e in inside] == [(1, b"a"), (2, b"b"), (3, b"c")]
            assert store.outbox.read("pref13", after=1, limit=1, uow=uow) == inside[1:2]
            assert store.outbox.last_seq("pref13", uow) == 3
            assert store.outbox.destinations(uow) == ["pref13"]
            assert [e.seq for e in reader.outbox.read("pref13")] == [1]

    def test_outbox_bad_arguments_raise_and_write_nothing(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            store.outbox.append(uow, "pref13", [b"a"])
        before = snapshot(store)
        too_big = b"x" * (MAX_PAYLOAD_BYTES + 1)
        writes: list[tuple[type[JukinetError], Callable[[UnitOfWork], object]]] = [
            (ValidationError, lambda uow: store.outbox.append(uow, "bad dest", [b"a"])),
            (ValidationError, lambda uow: store.outbox.append(uow, "", [b"a"])),
            (ValidationError, lambda uow: store.outbox.append(uow, "d" * 65, [b"a"])),
            (ValidationError, lambda uow: store.outbox.append(uow, 13, [b"a"])),  # type: ignore[arg-type]
            (ValidationError, lambda uow: store.outbox.append(uow, "pref13", [b"a", b""])),
            (ValidationError, lambda uow: store.outbox.append(uow, "pref13", [b"a", too_big])),
            (JukinetError, lambda uow: store.outbox.append(uow, "pref13", [b"a", "text"])),  # type: ignore[list-item]
            (JukinetError, lambda uow: store.outbox.append(uow, "pref13", b"abc")),  # type: ignore[arg-type]
            (JukinetError, lambda uow: store.outbox.append(uow, "pref13", None)),  # type: ignore[arg-type]
            (InterfaceError, lambda _uow: store.outbox.append(None, "pref13", [b"a"])),  # type: ignore[arg-type]
        ]
        for error, write in writes:
            with pytest.raises(error), store.unit_of_work() as uow:
                write(uow)
            assert snapshot(store) == before
        reads: list[Callable[[], object]] = [
            lambda: store.outbox.read("pref13", after=-1),
            lambda: store.outbox.read("pref13", limit=-1),
            lambda: store.outbox.read("pref13", limit=True),
            lambda: store.outbox.read("bad dest"),
            lambda: store.outbox.last_seq(""),
        ]
        for call in reads:
            with pytest.raises(ValidationError):
                call()

    def test_racing_outbox_writers_never_interleave_or_skip(self, store: Store) -> None:
        destination = "pref13"
        writers = [self.handle(store), self.handle(store)]
        reader = self.handle(store)
        written: dict[int, list[tuple[range, list[bytes]]]] = {0: [], 1: []}
        done = threading.Event()
        seen: list[OutboxEntry] = []
        rounds = self.racing_rounds

        def write(w: int) -> Callable[[], None]:
            def run() -> None:
                handle = writers[w]
                for i in range(rounds):
                    payloads = [f"w{w}-{i}-{j}".encode() for j in range(1 + (i + w) % 3)]
                    with handle.unit_of_work() as uow:
                        numbers = handle.outbox.append(uow, destination, payloads)
                    written[w].append((numbers, payloads))

            return run

        def read() -> None:
            last = 0
            highest = 0
            while True:
                finished = done.is_set()
                batch = reader.outbox.read(destination, after=last, limit=5)
                for k, entry in enumerate(batch):
                    assert entry.seq == last + 1 + k, f"read after {last} returned {entry.seq}"
                if batch:
                    last = batch[-1].seq
                    seen.extend(batch)
                else:
                    time.sleep(0.0005)
                newest = reader.outbox.last_seq(destination)
                assert newest >= highest, "last_seq went backwards"
                highest = newest
                if finished and not batch:
                    return

        def writers_then_done() -> None:
            try:
                _run_threads([write(0), write(1)])
            finally:
                done.set()

        _run_threads([writers_then_done, read])
        final = read_all_outbox(store, destination)
        total = sum(len(p) for w in written.values() for _, p in w)
        assert [e.seq for e in final] == list(range(1, total + 1))
        assert seen == final
        payloads = [e.payload for e in final]
        assert len(set(payloads)) == total
        for w in written.values():
            for numbers, batch in w:
                assert len(numbers) == len(batch)
                assert [final[s - 1].payload for s in numbers] == batch
        assert store.outbox.last_seq(destination) == total

    def test_outbox_acknowledgements_are_monotonic(self, store: Store) -> None:
        # Acks may arrive late, twice or out of order: the position only moves forward.
        with store.unit_of_work() as uow:
            store.outbox.append(uow, "pref13", [b"a", b"b", b"c", b"d", b"e"])
            store.outbox.append(uow, "center", [b"x"])
        assert store.outbox.acknowledged("pref13") == 0
        assert store.outbox.acknowledged("nobody") == 0
        for seq, expected in ((3, 3), (2, 3), (3, 3), (0, 3), (1, 3), (4, 4), (5, 5), (5, 5)):
            with store.unit_of_work() as uow:
                store.outbox.acknowledge(uow, "pref13", seq)
                assert store.outbox.acknowledged("pref13", uow) == expected
            assert store.outbox.acknowledged("pref13") == expected
        assert store.outbox.acknowledged("center") == 0  # per destination
        # an acknowledgement never removes or renumbers entries
        assert [e.seq for e in read_all_outbox(store, "pref13")] == [1, 2, 3, 4, 5]
        assert store.outbox.last_seq("pref13") == 5
        # in one unit of work: entries appended earlier in it may be acknowledged
        with store.unit_of_work() as uow:
            store.outbox.append(uow, "center", [b"y", b"z"])
            store.outbox.acknowledge(uow, "center", 2)
            store.outbox.acknowledge(uow, "center", 3)
            store.outbox.acknowledge(uow, "center", 1)
            assert store.outbox.acknowledged("center", uow) == 3
        assert store.outbox.acknowledged("center") == 3
        # a no-op acknowledgement creates nothing
        with store.unit_of_work() as uow:
            store.outbox.acknowledge(uow, "nobody", 0)
        assert store.outbox.destinations() == ["center", "pref13"]
        assert store.outbox.acknowledged("nobody") == 0

    def test_outbox_acknowledging_unsent_entries_is_refused(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            store.outbox.append(uow, "pref13", [b"a", b"b"])
            store.outbox.acknowledge(uow, "pref13", 1)
        before = snapshot(store)
        for destination, seq in (("pref13", 3), ("pref13", 2**62), ("nobody", 1)):
            with pytest.raises(IntegrityError), store.unit_of_work() as uow:  # noqa: PT012
                store.outbox.append(uow, "center", [b"effect"])
                store.audit.append(uow, [self.rows.audit_entry(1)])
                store.outbox.acknowledge(uow, destination, seq)
            assert snapshot(store) == before
        # entries appended in a unit of work that rolled back were never sent
        with pytest.raises(InjectedCrash), store.unit_of_work() as uow:  # noqa: PT012
            store.outbox.append(uow, "pref13", [b"lost"])
            store.outbox.acknowledge(uow, "pref13", 3)
            raise InjectedCrash
        with pytest.raises(IntegrityError), store.unit_of_work() as uow:
            store.outbox.acknowledge(uow, "pref13", 3)
        assert snapshot(store) == before

    def test_outbox_acknowledgements_are_committed_with_the_unit_of_work(
        self, store: Store
    ) -> None:
        reader = self.handle(store)
        with store.unit_of_work() as uow:
            store.outbox.append(uow, "pref13", [b"a", b"b", b"c"])
        with store.unit_of_work() as uow:
            store.outbox.acknowledge(uow, "pref13", 2)
            assert store.outbox.acknowledged("pref13", uow) == 2
            assert reader.outbox.acknowledged("pref13") == 0
        assert reader.outbox.acknowledged("pref13") == 2
        with pytest.raises(InjectedCrash), store.unit_of_work() as uow:  # noqa: PT012
            store.outbox.acknowledge(uow, "pref13", 3)
            raise InjectedCrash
        assert reader.outbox.acknowledged("pref13") == 2

    def test_outbox_resume_continues_a_link_after_a_disaster(self, store: Store) -> None:
        # The receiver already applied 1..41: the rebuilt sender's next entry is 42.
        reader = self.handle(store)
        with store.unit_of_work() as uow:
            assert store.outbox.append(uow, "pref13", []) == range(1, 1)  # writes nothing
            store.outbox.resume(uow, "pref13", 41)
            assert store.outbox.last_seq("pref13", uow) == 41
            assert store.outbox.acknowledged("pref13", uow) == 41
            assert store.outbox.destinations(uow) == ["pref13"]
            assert reader.outbox.last_seq("pref13") == 0
            assert reader.outbox.destinations() == []
        assert store.outbox.last_seq("pref13") == 41
        assert store.outbox.acknowledged("pref13") == 41
        assert store.outbox.destinations() == ["pref13"]  # a head without entries
        assert store.outbox.read("pref13") == []
        with store.unit_of_work() as uow:
            assert store.outbox.append(uow, "pref13", [b"a", b"b"]) == range(42, 44)
            assert store.outbox.append(uow, "pref13", []) == range(44, 44)
            assert [e.seq for e in store.outbox.read("pref13", uow=uow)] == [42, 43]
        with store.unit_of_work() as uow:
            assert store.outbox.append(uow, "pref13", [b"c"]) == range(44, 45)
            store.outbox.acknowledge(uow, "pref13", 40)  # below: a no-op
            assert store.outbox.acknowledged("pref13", uow) == 41
        entries = read_all_outbox(store, "pref13", page=2)
        assert [(e.seq, e.payload) for e in entries] == [(42, b"a"), (43, b"b"), (44, b"c")]
        assert store.outbox.read("pref13", after=10, limit=2) == entries[:2]
        assert store.outbox.read("pref13", after=42, limit=1) == entries[1:2]
        assert store.outbox.read("pref13", after=44) == []
        with store.unit_of_work() as uow:
            store.outbox.acknowledge(uow, "pref13", 44)
        assert store.outbox.acknowledged("pref13") == 44
        # resuming at 0 makes a head too; another destination is not affected
        with store.unit_of_work() as uow:
            store.outbox.resume(uow, "center", 0)
        assert store.outbox.destinations() == ["center", "pref13"]
        assert (store.outbox.last_seq("center"), store.outbox.acknowledged("center")) == (0, 0)
        with store.unit_of_work() as uow:
            assert store.outbox.append(uow, "center", [b"x"]) == range(1, 2)

    def test_outbox_resume_only_on_a_fresh_destination(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            store.outbox.append(uow, "pref13", [b"a"])
            store.outbox.resume(uow, "pref27", 7)
        # a rolled-back resume leaves nothing behind
        with pytest.raises(InjectedCrash), store.unit_of_work() as uow:  # noqa: PT012
            store.outbox.resume(uow, "center", 5)
            raise InjectedCrash
        assert store.outbox.destinations() == ["pref13", "pref27"]
        before = snapshot(store)
        cases = [("pref13", 1), ("pref13", 0), ("pref13", 100), ("pref27", 7), ("pref27", 9)]
        for destination, last in cases:
            with pytest.raises(IntegrityError), store.unit_of_work() as uow:  # noqa: PT012
                store.audit.append(uow, [self.rows.audit_entry(1)])
                store.outbox.resume(uow, destination, last)
            assert snapshot(store) == before
        # twice in one unit of work, or after an append in it
        with pytest.raises(IntegrityError), store.unit_of_work() as uow:  # noqa: PT012
            store.outbox.resume(uow, "center", 5)
            store.outbox.resume(uow, "center", 5)
        with pytest.raises(IntegrityError), store.unit_of_work() as uow:  # noqa: PT012
            store.outbox.append(uow, "center", [b"x"])
            store.outbox.resume(uow, "center", 5)
        assert snapshot(store) == before
        with store.unit_of_work() as uow:  # still fresh after the rollbacks
            store.outbox.resume(uow, "center", 5)
        assert store.outbox.last_seq("center") == 5

    def test_outbox_ack_and_resume_bad_arguments_raise_and_write_nothing(
        self, store: Store
    ) -> None:
        with store.unit_of_work() as uow:
            store.outbox.append(uow, "pref13", [b"a", b"b"])
        before = snapshot(store)
        writes: list[tuple[type[JukinetError], Callable[[UnitOfWork], object]]] = [
            (ValidationError, lambda uow: store.outbox.acknowledge(uow, "pref13", -1)),
            (ValidationError, lambda uow: store.outbox.acknowledge(uow, "pref13", "1")),  # type: ignore[arg-type]
            (ValidationError, lambda uow: store.outbox.acknowledge(uow, "pref13", True)),
            (ValidationError, lambda uow: store.outbox.acknowledge(uow, "pref13", 1.0)),  # type: ignore[arg-type]
            (ValidationError, lambda uow: store.outbox.acknowledge(uow, "pref13", 2**63)),
            (ValidationError, lambda uow: store.outbox.acknowledge(uow, "bad dest", 1)),
            (ValidationError, lambda uow: store.outbox.acknowledge(uow, None, 1)),  # type: ignore[arg-type]
            (InterfaceError, lambda _uow: store.outbox.acknowledge(None, "pref13", 1)),  # type: ignore[arg-type]
            (ValidationError, lambda uow: store.outbox.resume(uow, "center", -1)),
            (ValidationError, lambda uow: store.outbox.resume(uow, "center", "5")),  # type: ignore[arg-type]
            (ValidationError, lambda uow: store.outbox.resume(uow, "center", False)),
            (ValidationError, lambda uow: store.outbox.resume(uow, "center", 2**63)),
            (ValidationError, lambda uow: store.outbox.resume(uow, "", 5)),
            (ValidationError, lambda uow: store.outbox.resume(uow, "d" * 65, 5)),
            (InterfaceError, lambda _uow: store.outbox.resume("uow", "center", 5)),  # type: ignore[arg-type]
        ]
        for error, write in writes:
            with pytest.raises(error), store.unit_of_work() as uow:  # noqa: PT012
                store.outbox.append(uow, "pref13", [b"effect"])
                write(uow)
            assert snapshot(store) == before
        with pytest.raises(ValidationError):
            store.outbox.acknowledged("bad dest")
        with pytest.raises(ValidationError):
            store.outbox.acknowledged(13)  # type: ignore[arg-type]

    def test_racing_acknowledgements_only_move_forward(self, store: Store) -> None:
        total = 2 * self.racing_rounds
        with store.unit_of_work() as uow:
            store.outbox.append(uow, "pref13", [f"{n}".encode() for n in range(total)])
        handles = [self.handle(store), self.handle(store)]
        reader = self.handle(store)
        done = threading.Event()

        def ack(k: int) -> Callable[[], None]:
            def run() -> None:
                handle = handles[k]
                # one thread acks upwards, the other the same numbers in a shuffled order
                order = list(range(k, total + 1, 2))
                if k:
                    order = order[1::2] + order[0::2]
                for seq in order:
                    with handle.unit_of_work() as uow:
                        handle.outbox.acknowledge(uow, "pref13", seq)

            return run

        def read() -> None:
            highest = 0
            while not done.is_set():
                acked = reader.outbox.acknowledged("pref13")
                assert acked >= highest, "the acknowledged position went backwards"
                highest = acked
                time.sleep(0.0005)

        def ackers_then_done() -> None:
            try:
                _run_threads([ack(0), ack(1)])
            finally:
                done.set()

        _run_threads([ackers_then_done, read])
        assert store.outbox.acknowledged("pref13") == total

    # =============================================================================
    # tracking
    # =============================================================================

    def test_tracking_advances_one_by_one(self, store: Store) -> None:
        assert store.tracking.position("city131016") == 0
        with store.unit_of_work() as uow:
            store.tracking.advance(uow, "city131016", 1)
            store.tracking.advance(uow, "city131016", 2)
            assert store.tracking.position("city131016", uow) == 2
        with store.unit_of_work() as uow:
            store.tracking.advance(uow, "city131024", 1)
        assert store.tracking.position("city131016") == 2
        assert store.tracking.senders() == {"city131016": 2, "city131024": 1}

    def test_tracking_makes_a_redelivery_a_no_op(self, store: Store) -> None:
        code = self.rows.code(1)
        with store.unit_of_work() as uow:
            store.identities.append(uow, [self.rows.identity_row(code, 1)])
            store.tracking.advance(uow, "city131016", 1)
        before = snapshot(store)
        for seq in (1, 3):  # a re-delivery, then a gap
            with pytest.raises(IntegrityError), store.unit_of_work() as uow:  # noqa: PT012
                store.identities.append(uow, [self.rows.identity_row(code, 2)])
                store.outbox.append(uow, "center", [b"forwarded"])
                store.tracking.advance(uow, "city131016", seq)
            assert snapshot(store) == before
        with pytest.raises(JukinetError), store.unit_of_work() as uow:
            store.tracking.advance(uow, "city131016", 0)
        assert snapshot(store) == before

    def test_tracking_bad_arguments_raise_and_write_nothing(self, store: Store) -> None:
        before = snapshot(store)
        writes: list[Callable[[UnitOfWork], object]] = [
            lambda uow: store.tracking.advance(uow, "bad sender", 1),
            lambda uow: store.tracking.advance(uow, "", 1),
            lambda uow: store.tracking.advance(uow, "city", "1"),  # type: ignore[arg-type]
            lambda uow: store.tracking.advance(uow, "city", True),
            lambda uow: store.tracking.advance(uow, "city", -1),
            lambda uow: store.tracking.advance(uow, "city", 2**63),
        ]
        for write in writes:
            with pytest.raises(ValidationError), store.unit_of_work() as uow:
                write(uow)
            assert snapshot(store) == before
        with pytest.raises(InterfaceError), store.unit_of_work():
            store.tracking.advance("uow", "city", 1)  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            store.tracking.position("x" * 65)
        assert snapshot(store) == before

    def test_tracking_advances_through_a_batch(self, store: Store) -> None:
        # An envelope carrying messages 1..5 is applied in one unit of work.
        with store.unit_of_work() as uow:
            store.tracking.advance(uow, "city131016", 1, last=5)
            assert store.tracking.position("city131016", uow) == 5
            store.tracking.advance(uow, "city131016", 6)
            store.tracking.advance(uow, "city131016", 7, last=7)
            store.tracking.advance(uow, "city131016", 8, last=None)
        assert store.tracking.position("city131016") == 8
        with store.unit_of_work() as uow:
            store.tracking.advance(uow, "city131024", 1, last=2**62)
        assert store.tracking.senders() == {"city131016": 8, "city131024": 2**62}
        before = snapshot(store)
        # a batch that repeats an applied message, or skips one, is refused whole
        for seq, last in ((8, 12), (5, 12), (1, 9), (10, 12), (9 + 2**40, 2**41)):
            with pytest.raises(IntegrityError), store.unit_of_work() as uow:  # noqa: PT012
                store.outbox.append(uow, "center", [b"forwarded"])
                store.tracking.advance(uow, "city131016", seq, last=last)
            assert snapshot(store) == before
        with store.unit_of_work() as uow:
            store.tracking.advance(uow, "city131016", 9, last=12)
        assert store.tracking.position("city131016") == 12

    def test_tracking_a_batch_ending_before_it_starts_is_bad_input(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            store.tracking.advance(uow, "city131016", 1, last=3)
        before = snapshot(store)
        writes: list[Callable[[UnitOfWork], object]] = [
            lambda uow: store.tracking.advance(uow, "city131016", 4, last=3),
            lambda uow: store.tracking.advance(uow, "city131016", 4, last=0),
            lambda uow: store.tracking.advance(uow, "city131016", 1, last=0),  # also re-sent
            lambda uow: store.tracking.advance(uow, "city131016", 9, last=8),  # also a gap
            lambda uow: store.tracking.advance(uow, "city131016", 4, last=-1),
            lambda uow: store.tracking.advance(uow, "city131016", 4, last="5"),  # type: ignore[arg-type]
            lambda uow: store.tracking.advance(uow, "city131016", 4, last=True),
            lambda uow: store.tracking.advance(uow, "city131016", 4, last=5.0),  # type: ignore[arg-type]
            lambda uow: store.tracking.advance(uow, "city131016", 4, last=2**63),
        ]
        for write in writes:
            with pytest.raises(ValidationError), store.unit_of_work() as uow:  # noqa: PT012
                store.outbox.append(uow, "center", [b"forwarded"])
                write(uow)
            assert snapshot(store) == before
