"""Conformance tests of the audit log."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jukinet.errors import (
    InterfaceError,
    InvalidFormat,
    InvalidLength,
    JukinetError,
    ValidationError,
)
from jukinet.storage.base import Store, UnitOfWork
from jukinet.storage.records import (
    AuditEntry,
    AuditRecord,
)
from jukinet.testing.conformance._rows import (
    _JST,
    _TEXT,
    InjectedCrash,
    _run_threads,
    read_all_audit,
    snapshot,
)
from jukinet.testing.conformance.hooks import SETTINGS, ConformanceHooks


class AuditConformance(ConformanceHooks):
    """Conformance tests of the audit log."""

    # =============================================================================
    # audit log
    # =============================================================================

    def test_audit_entries_are_numbered_gap_free_and_read_back(self, store: Store) -> None:
        entries = [self.rows.audit_entry(n) for n in range(1, 8)]
        tokyo = AuditEntry(
            at=datetime(2024, 4, 1, 9, 0, 0, 999_999, tzinfo=_JST),
            action="receive.refused",
            subject=None,
        )
        with store.unit_of_work() as uow:
            assert store.audit.append(uow, entries[:3]) == range(1, 4)
            assert store.audit.append(uow, []) == range(4, 4)
            assert store.audit.append(uow, (tokyo,)) == range(4, 5)
            assert store.audit.last_seq(uow) == 4
        with store.unit_of_work() as uow:
            assert store.audit.append(uow, []) == range(5, 5)
            assert store.audit.append(uow, entries[3:]) == range(5, 9)
        records = read_all_audit(store, page=3)
        assert [r.seq for r in records] == list(range(1, 9))
        assert [r.entry for r in records] == [*entries[:3], tokyo, *entries[3:]]
        assert records[3] == AuditRecord(seq=4, entry=tokyo)
        # the same instant: an aware time compares equal in any zone
        assert [r.entry.at for r in records] == [e.at for e in (*entries[:3], tokyo, *entries[3:])]
        assert records[3].entry.at.microsecond == 999_999
        assert records[3].entry.subject is None
        assert records[3].entry.detail == b"{}"
        assert store.audit.read(after=2, limit=3) == records[2:5]
        assert store.audit.read(after=8) == []
        assert store.audit.read(after=100) == []
        assert store.audit.read(limit=0) == []
        assert store.audit.last_seq() == 8

    @SETTINGS
    @given(
        at=st.datetimes(
            min_value=datetime(1900, 1, 1),
            max_value=datetime(2200, 1, 1),
            timezones=st.sampled_from(
                [UTC, _JST, timezone(timedelta(hours=-9, minutes=-30)), timezone.min]
            ),
        ),
        action=st.text(_TEXT, min_size=1, max_size=64),
        subject=st.none() | st.text(_TEXT, min_size=1, max_size=64),
        detail=st.binary(min_size=1, max_size=300),
    )
    def test_audit_round_trip_of_generated_entries(
        self, store: Store, at: datetime, action: str, subject: str | None, detail: bytes
    ) -> None:
        entry = AuditEntry(at=at, action=action, subject=subject, detail=detail)
        with store.unit_of_work() as uow:
            (seq,) = store.audit.append(uow, [entry])
        (record,) = store.audit.read(after=seq - 1, limit=1)
        assert record == AuditRecord(seq=seq, entry=entry)
        assert record.entry.at.utcoffset() is not None
        # any text an entry can hold is found again by an exact-match filter
        assert store.audit.read(after=seq - 1, action=action) == [record]

    def test_audit_read_by_action_returns_only_that_action_in_order(self, store: Store) -> None:
        # Near-misses of "register.birth" (prefix, longer, other case, LIKE and GLOB
        # wildcards, full-width text) must not match it: the filter is exact.
        actions = [
            "register.birth",
            "ack",
            "register.birth",
            "register",
            "register.birth.x",
            "Register.birth",
            "register.%",
            "register.*",
            "転入",
            "register.birth",
            "ack",
            "register.birth",
        ]
        entries = [self.rows.audit_entry(n, action=a) for n, a in enumerate(actions, 1)]
        with store.unit_of_work() as uow:
            store.audit.append(uow, entries[:5])
        with store.unit_of_work() as uow:
            store.audit.append(uow, entries[5:])
        everything = read_all_audit(store)
        assert [r.entry for r in everything] == entries
        last = len(entries)
        for action in set(actions):
            expected = [r for r in everything if r.entry.action == action]
            got = store.audit.read(action=action)
            assert got == expected, action
            assert [r.seq for r in got] == sorted(r.seq for r in got)
            # after and limit count in the log's sequence numbers, as without a filter
            for after in range(last + 2):
                for limit in range(5):
                    want = [r for r in expected if r.seq > after][:limit]
                    assert store.audit.read(after=after, limit=limit, action=action) == want
            # paging through one kind of entry by the last seq seen
            paged: list[AuditRecord] = []
            while batch := store.audit.read(
                after=paged[-1].seq if paged else 0, limit=2, action=action
            ):
                paged.extend(batch)
            assert paged == expected
        births = store.audit.read(action="register.birth")
        assert [r.seq for r in births] == [1, 3, 10, 12]
        assert store.audit.read(action="register.birth", after=3, limit=1) == births[2:3]
        for unknown in ("register.move_in", "registe", "birth", "REGISTER.BIRTH", "%", "*", " "):
            assert store.audit.read(action=unknown) == [], unknown
        assert store.audit.read(action="register.birth", after=last) == []
        assert store.audit.read(action="register.birth", after=2**63 - 1) == []
        assert store.audit.read(action="ack", limit=0) == []

    def test_audit_read_by_action_sees_its_unit_of_work(self, store: Store) -> None:
        reader = self.handle(store)
        with store.unit_of_work() as uow:
            store.audit.append(uow, [self.rows.audit_entry(n, action="ack") for n in (1, 2)])
            store.audit.append(uow, [self.rows.audit_entry(3, action="register.birth")])
        with store.unit_of_work() as uow:
            store.audit.append(
                uow,
                [
                    self.rows.audit_entry(4, action="register.birth"),
                    self.rows.audit_entry(5, action="ack"),
                    self.rows.audit_entry(6, action="ack"),
                ],
            )
            # committed and staged entries of one action, in seq order
            assert [r.seq for r in store.audit.read(action="ack", uow=uow)] == [1, 2, 5, 6]
            assert [r.seq for r in store.audit.read(action="ack", after=1, limit=2, uow=uow)] == [
                2,
                5,
            ]
            assert [r.seq for r in store.audit.read(action="ack", after=5, uow=uow)] == [6]
            assert [r.seq for r in store.audit.read(action="register.birth", uow=uow)] == [3, 4]
            assert store.audit.read(action="receive.refused", uow=uow) == []
            # another handle sees committed entries only
            assert [r.seq for r in reader.audit.read(action="ack")] == [1, 2]
        assert [r.seq for r in reader.audit.read(action="ack")] == [1, 2, 5, 6]
        assert [r.entry for r in reader.audit.read(action="register.birth")] == [
            self.rows.audit_entry(3, action="register.birth"),
            self.rows.audit_entry(4, action="register.birth"),
        ]

    def test_audit_read_by_action_bad_arguments_raise_and_change_nothing(
        self, store: Store
    ) -> None:
        entry = self.rows.audit_entry(1, action="ack")
        with store.unit_of_work() as uow:
            store.audit.append(uow, [entry])
        before = snapshot(store)
        calls: list[tuple[type[JukinetError], str, Callable[[UnitOfWork | None], object]]] = [
            # not a str
            (InvalidFormat, "action", lambda uow: store.audit.read(action=7, uow=uow)),  # type: ignore[arg-type]
            (InvalidFormat, "action", lambda uow: store.audit.read(action=b"ack", uow=uow)),  # type: ignore[arg-type]
            (InvalidFormat, "action", lambda uow: store.audit.read(action=["ack"], uow=uow)),  # type: ignore[arg-type]
            (InvalidFormat, "action", lambda uow: store.audit.read(action=True, uow=uow)),  # type: ignore[arg-type]
            (InvalidFormat, "action", lambda uow: store.audit.read(action=entry, uow=uow)),  # type: ignore[arg-type]
            # a str no entry could hold (AuditEntry.action's own rule)
            (InvalidLength, "action", lambda uow: store.audit.read(action="", uow=uow)),
            (InvalidLength, "action", lambda uow: store.audit.read(action="a" * 65, uow=uow)),
            (InvalidFormat, "action", lambda uow: store.audit.read(action="ack\x00", uow=uow)),
            (InvalidFormat, "action", lambda uow: store.audit.read(action="\ud800", uow=uow)),
            # after and limit are checked with a filter too
            (
                ValidationError,
                "after",
                lambda uow: store.audit.read(after=-1, action="ack", uow=uow),
            ),
            (
                ValidationError,
                "limit",
                lambda uow: store.audit.read(limit="1", action="ack", uow=uow),  # type: ignore[arg-type]
            ),
        ]
        for error, field, call in calls:
            with pytest.raises(error) as info:
                call(None)
            assert isinstance(info.value, ValidationError)
            assert info.value.field == field
            assert snapshot(store) == before
        # inside a unit of work the error changes nothing either: the unit of work
        # goes on and commits what it wrote
        with store.unit_of_work() as uow:
            store.audit.append(uow, [self.rows.audit_entry(2, action="ack")])
            for error, _field, call in calls:
                with pytest.raises(error):
                    call(uow)
            assert [r.seq for r in store.audit.read(action="ack", uow=uow)] == [1, 2]
            store.outbox.append(uow, "pref13", [b"effect"])
        assert [r.seq for r in store.audit.read(action="ack")] == [1, 2]
        assert store.outbox.last_seq("pref13") == 1

    def test_audit_numbers_survive_a_rolled_back_append(self, store: Store) -> None:
        reader = self.handle(store)
        with store.unit_of_work() as uow:
            store.audit.append(uow, [self.rows.audit_entry(1)])
        with pytest.raises(InjectedCrash), store.unit_of_work() as uow:  # noqa: PT012
            assert store.audit.append(uow, [self.rows.audit_entry(2)]) == range(2, 3)
            assert [r.seq for r in store.audit.read(uow=uow)] == [1, 2]
            assert [r.seq for r in reader.audit.read()] == [1]
            assert reader.audit.last_seq() == 1
            raise InjectedCrash
        assert store.audit.last_seq() == 1
        with store.unit_of_work() as uow:
            assert store.audit.append(uow, [self.rows.audit_entry(3)]) == range(2, 3)
        assert [r.entry for r in read_all_audit(reader)] == [
            self.rows.audit_entry(1),
            self.rows.audit_entry(3),
        ]

    def test_audit_bad_arguments_raise_and_write_nothing(self, store: Store) -> None:
        entry = self.rows.audit_entry(1)
        with store.unit_of_work() as uow:
            store.audit.append(uow, [entry])
        before = snapshot(store)
        row = self.rows.register_row("A1", 1, code=self.rows.code(1))
        writes: list[tuple[type[JukinetError], Callable[[UnitOfWork], object]]] = [
            (InterfaceError, lambda uow: store.audit.append(uow, [entry, "entry"])),  # type: ignore[list-item]
            (InterfaceError, lambda uow: store.audit.append(uow, [entry, row])),  # type: ignore[list-item]
            (InterfaceError, lambda uow: store.audit.append(uow, [entry, None])),  # type: ignore[list-item]
            (InterfaceError, lambda uow: store.audit.append(uow, entry)),  # type: ignore[arg-type]
            (InterfaceError, lambda uow: store.audit.append(uow, None)),  # type: ignore[arg-type]
            (
                InterfaceError,
                lambda uow: store.audit.append(uow, [AuditRecord(seq=2, entry=entry)]),  # type: ignore[list-item]
            ),
            (InterfaceError, lambda _uow: store.audit.append(None, [entry])),  # type: ignore[arg-type]
        ]
        for error, write in writes:
            with pytest.raises(error), store.unit_of_work() as uow:  # noqa: PT012
                store.outbox.append(uow, "pref13", [b"effect"])
                write(uow)
            assert snapshot(store) == before
        reads: list[Callable[[], object]] = [
            lambda: store.audit.read(after=-1),
            lambda: store.audit.read(after="0"),  # type: ignore[arg-type]
            lambda: store.audit.read(limit=-1),
            lambda: store.audit.read(limit=True),
            lambda: store.audit.read(limit=2**63),
        ]
        for call in reads:
            with pytest.raises(ValidationError):
                call()

    def test_racing_audit_writers_are_gap_free_and_commit_ordered(self, store: Store) -> None:
        writers = [self.handle(store), self.handle(store)]
        reader = self.handle(store)
        written: dict[int, list[tuple[range, list[AuditEntry]]]] = {0: [], 1: []}
        done = threading.Event()
        seen: list[AuditRecord] = []
        rounds = self.racing_rounds

        def write(w: int) -> Callable[[], None]:
            def run() -> None:
                handle = writers[w]
                for i in range(rounds):
                    batch = [
                        self.rows.audit_entry(10_000 * w + 10 * i + j, action=f"w{w}")
                        for j in range(1 + (i + w) % 2)
                    ]
                    with handle.unit_of_work() as uow:
                        numbers = handle.audit.append(uow, batch)
                    written[w].append((numbers, batch))

            return run

        def read() -> None:
            last = 0
            while True:
                finished = done.is_set()
                batch = reader.audit.read(after=last, limit=4)
                for k, record in enumerate(batch):
                    assert record.seq == last + 1 + k, f"read after {last} returned {record.seq}"
                if batch:
                    last = batch[-1].seq
                    seen.extend(batch)
                else:
                    time.sleep(0.0005)
                assert reader.audit.last_seq() >= last
                if finished and not batch:
                    return

        def writers_then_done() -> None:
            try:
                _run_threads([write(0), write(1)])
            finally:
                done.set()

        _run_threads([writers_then_done, read])
        final = read_all_audit(store)
        total = sum(len(b) for w in written.values() for _, b in w)
        assert [r.seq for r in final] == list(range(1, total + 1))
        assert seen == final
        for w in written.values():
            for numbers, batch in w:
                assert [final[s - 1].entry for s in numbers] == batch
        assert store.audit.last_seq() == total
