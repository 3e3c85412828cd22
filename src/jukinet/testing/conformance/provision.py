"""Conformance tests of the provision log (提供記録): appends, reads, purges, units of work and racing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jukinet.errors import (
    InterfaceError,
    InvalidFormat,
    JukinetError,
    ValidationError,
)
from jukinet.storage.base import Store, UnitOfWork
from jukinet.storage.records import (
    GENESIS,
    PROVISION_KINDS,
    ProvisionEntry,
    ProvisionRecord,
    chain_hash,
    verify_chain,
)
from jukinet.testing.conformance._rows import (
    _AUDIT_EPOCH,
    _JST,
    _TEXT,
    BAD_CHECK_DIGIT_CODE,
    InjectedCrash,
    RowFactory,
    _run_threads,
    read_all_provision,
    snapshot,
)
from jukinet.testing.conformance.hooks import SETTINGS, ConformanceHooks


class ProvisionConformance(ConformanceHooks):
    """Conformance tests of the provision log (提供記録): appends, reads, purges, units of work and racing."""

    # =============================================================================
    # provision log (提供記録)
    # =============================================================================

    def test_provision_log_appends_a_hash_chain_and_reads_it_back(self, store: Store) -> None:
        entries = [self.rows.provision_entry(n) for n in range(1, 8)]
        refusal = attrs.evolve(
            self.rows.provision_entry(8, kind="refused"), agency=None, use=None, subject=None
        )
        with store.unit_of_work() as uow:
            first = store.provision_log.append(uow, entries[:3])
            assert store.provision_log.append(uow, []) == []
            assert store.provision_log.head(uow) == (3, first[-1].hash)
            assert store.provision_log.anchor(uow) == (0, GENESIS)
        with store.unit_of_work() as uow:
            assert store.provision_log.append(uow, ()) == []
            rest = store.provision_log.append(uow, [*entries[3:], refusal])
        records = first + rest
        previous = GENESIS
        for seq, (record, entry) in enumerate(zip(records, [*entries, refusal], strict=True), 1):
            assert record.seq == seq
            assert record.entry == entry
            assert record.prev_hash == previous
            assert record.hash == chain_hash(previous, seq, entry)
            previous = record.hash
        stored = read_all_provision(store, page=3)
        assert stored == records
        # the hash covers at.isoformat(): the writer's UTC offset comes back too
        assert [r.entry.at.isoformat() for r in stored] == [
            e.at.isoformat() for e in (*entries, refusal)
        ]
        assert stored[-1].entry.items == ()
        assert stored[-1].entry.subject is None
        assert stored[0].entry.items == ("氏名", "住所")
        assert stored[0].entry.use == "1-57の3"
        head = store.provision_log.head()
        assert head == (8, records[-1].hash)
        assert store.provision_log.anchor() == (0, GENESIS)
        assert verify_chain(store.provision_log.anchor(), stored, head) == []
        assert store.provision_log.read(after=2, limit=3) == records[2:5]
        assert store.provision_log.read(after=8) == []
        assert store.provision_log.read(after=100) == []
        assert store.provision_log.read(after=2**63 - 1) == []
        assert store.provision_log.read(limit=0) == []
        subjects = {e.subject for e in entries if e.subject is not None}
        assert len(subjects) == 3
        for subject in subjects:
            expected = [r for r in records if r.entry.subject == subject]
            assert read_all_provision(store, subject=subject) == expected
            assert read_all_provision(store, subject=subject, page=1) == expected
            for after in range(10):
                for limit in range(4):
                    want = [r for r in expected if r.seq > after][:limit]
                    got = store.provision_log.read(after=after, limit=limit, subject=subject)
                    assert got == want, (subject, after, limit)
        assert store.provision_log.read(subject=self.rows.code(50)) == []
        for n in range(1, 9):
            assert store.provision_log.has_request(f"req-{n}")
        for unknown in ("req-9", "req-", "req", "REQ-1", "req-1.", "req_1", "req-10"):
            assert not store.provision_log.has_request(unknown), unknown

    def test_provision_has_request_by_agency(self, store: Store) -> None:
        """Request ids are unique per agency: another agency's ``req-1`` is not a replay."""
        mine = self.rows.provision_entry(1)  # req-1 of agency-1
        theirs = attrs.evolve(self.rows.provision_entry(2), request_id="req-1", agency="agency-2")
        reader = self.handle(store)
        with store.unit_of_work() as uow:
            store.provision_log.append(uow, [mine])
            assert not store.provision_log.has_request("req-1", uow, agency="agency-2")
            store.provision_log.append(uow, [theirs])  # staged, seen in its own uow
            assert store.provision_log.has_request("req-1", uow, agency="agency-2")
            assert not reader.provision_log.has_request("req-1", agency="agency-1")
        for agency in ("agency-1", "agency-2", None):
            assert reader.provision_log.has_request("req-1", agency=agency), agency
        assert not reader.provision_log.has_request("req-1", agency="agency-3")
        assert not reader.provision_log.has_request("req-2", agency="agency-1")
        before = snapshot(store)
        with pytest.raises(InvalidFormat):
            store.provision_log.has_request("req-1", agency="Agency 1")
        assert snapshot(store) == before

    @SETTINGS
    @given(
        at=st.datetimes(
            min_value=datetime(1900, 1, 1),
            max_value=datetime(2200, 1, 1),
            timezones=st.sampled_from(
                [UTC, _JST, timezone(timedelta(hours=-9, minutes=-30)), timezone.min]
            ),
        ),
        kind=st.sampled_from(sorted(PROVISION_KINDS)),
        request_id=st.from_regex(r"[0-9A-Za-z][0-9A-Za-z_.:-]{0,63}", fullmatch=True),
        agency=st.none() | st.from_regex(r"[a-z0-9][a-z0-9_-]{0,47}", fullmatch=True),
        use=st.none() | st.from_regex(r"[1-6]-[0-9]{1,3}(の[0-9]{1,2}){0,2}", fullmatch=True),
        subject=st.none() | st.integers(0, 10**10 - 1).map(RowFactory.code),
        items=st.lists(st.text(_TEXT, min_size=1, max_size=40), unique=True, max_size=4).map(tuple),
        detail=st.binary(min_size=1, max_size=300),
    )
    def test_provision_round_trip_of_generated_entries(
        self,
        store: Store,
        at: datetime,
        kind: str,
        request_id: str,
        agency: str | None,
        use: str | None,
        subject: str | None,
        items: tuple[str, ...],
        detail: bytes,
    ) -> None:
        entry = ProvisionEntry(
            at=at,
            kind=kind,
            request_id=request_id,
            agency=agency,
            use=use,
            subject=subject,
            items=items,
            detail=detail,
        )
        anchor = store.provision_log.anchor()
        with store.unit_of_work() as uow:
            (record,) = store.provision_log.append(uow, [entry])
        (stored,) = store.provision_log.read(after=record.seq - 1, limit=1)
        assert stored == record
        assert stored.entry.at.isoformat() == at.isoformat()
        assert chain_hash(stored.prev_hash, stored.seq, stored.entry) == stored.hash
        assert store.provision_log.head() == (record.seq, record.hash)
        assert verify_chain(anchor, read_all_provision(store), store.provision_log.head()) == []
        assert store.provision_log.has_request(request_id)
        if subject is not None:
            assert read_all_provision(store, subject=subject)[-1] == record

    def test_provision_purge_removes_the_oldest_records_and_moves_the_anchor(
        self, store: Store
    ) -> None:
        def minute(m: int) -> datetime:
            return _AUDIT_EPOCH + timedelta(minutes=m)

        reader = self.handle(store)
        with store.unit_of_work() as uow:
            assert store.provision_log.purge(uow, before=minute(100)) == 0  # an empty log
        assert store.provision_log.anchor() == (0, GENESIS)
        # record 4 is older than record 3: a purge stops at 3 (only a prefix goes)
        records = self._timed_log(store, [1, 2, 5, 3, 6, 7])
        head = (6, records[-1].hash)
        with store.unit_of_work() as uow:
            assert store.provision_log.purge(uow, before=minute(1)) == 0  # strictly before
        assert store.provision_log.anchor() == (0, GENESIS)
        with store.unit_of_work() as uow:
            assert store.provision_log.purge(uow, before=minute(4).astimezone(UTC)) == 2
            assert store.provision_log.anchor(uow) == (2, records[1].hash)
            assert store.provision_log.head(uow) == head
            assert store.provision_log.read(uow=uow) == records[2:]
            assert not store.provision_log.has_request("req-1", uow)
            assert store.provision_log.has_request("req-3", uow)
            # others see the committed log until the commit
            assert reader.provision_log.anchor() == (0, GENESIS)
            assert reader.provision_log.read() == records
            assert reader.provision_log.has_request("req-1")
        kept = read_all_provision(reader, page=2)
        assert kept == records[2:]
        assert reader.provision_log.anchor() == (2, records[1].hash)
        assert reader.provision_log.head() == head
        assert verify_chain(reader.provision_log.anchor(), kept, head) == []
        assert not reader.provision_log.has_request("req-1")
        assert not reader.provision_log.has_request("req-2")
        assert reader.provision_log.has_request("req-4")
        for subject in {r.entry.subject for r in records}:
            assert subject is not None
            assert read_all_provision(reader, subject=subject) == [
                r for r in kept if r.entry.subject == subject
            ]
        assert reader.provision_log.read(after=0, limit=1) == records[2:3]
        # the same boundary again, and one equal to the oldest kept record's time
        with store.unit_of_work() as uow:
            assert store.provision_log.purge(uow, before=minute(4)) == 0
            assert store.provision_log.purge(uow, before=minute(5)) == 0
        assert reader.provision_log.anchor() == (2, records[1].hash)
        # everything: head == anchor, and the chain goes on from the head
        with store.unit_of_work() as uow:
            assert store.provision_log.purge(uow, before=minute(100)) == 4
        assert reader.provision_log.read() == []
        assert reader.provision_log.head() == reader.provision_log.anchor() == head
        assert verify_chain(head, [], head) == []
        with store.unit_of_work() as uow:
            (after,) = store.provision_log.append(uow, [self.rows.provision_entry(7)])
        assert (after.seq, after.prev_hash) == (7, records[-1].hash)
        assert reader.provision_log.read() == [after]
        assert verify_chain(head, [after], reader.provision_log.head()) == []

    def test_provision_purge_reaches_the_records_of_its_own_unit_of_work(
        self, store: Store
    ) -> None:
        def minute(m: int) -> datetime:
            return _AUDIT_EPOCH + timedelta(minutes=m)

        reader = self.handle(store)
        committed = self._timed_log(store, [1])
        with store.unit_of_work() as uow:
            staged = store.provision_log.append(
                uow,
                [
                    self.rows.provision_entry(2, at=minute(2)),
                    self.rows.provision_entry(3, at=minute(3)),
                ],
            )
            assert store.provision_log.purge(uow, before=minute(3)) == 2
            assert store.provision_log.anchor(uow) == (2, staged[0].hash)
            assert store.provision_log.read(uow=uow) == staged[1:]
            assert not store.provision_log.has_request("req-2", uow)
            (more,) = store.provision_log.append(uow, [self.rows.provision_entry(4, at=minute(4))])
            assert (more.seq, more.prev_hash) == (4, staged[1].hash)
            assert store.provision_log.purge(uow, before=minute(60 * 24)) == 2
            assert store.provision_log.read(uow=uow) == []
            assert store.provision_log.head(uow) == store.provision_log.anchor(uow)
            assert store.provision_log.anchor(uow) == (4, more.hash)
            assert reader.provision_log.anchor() == (0, GENESIS)
            assert reader.provision_log.read() == committed
        assert reader.provision_log.read() == []
        assert reader.provision_log.head() == reader.provision_log.anchor() == (4, more.hash)
        assert not reader.provision_log.has_request("req-4")

    def test_provision_bad_arguments_raise_and_write_nothing(self, store: Store) -> None:
        entry = self.rows.provision_entry(1)
        with store.unit_of_work() as uow:
            (record,) = store.provision_log.append(uow, [entry])
        before = snapshot(store)
        aware = _AUDIT_EPOCH + timedelta(days=1)
        writes: list[tuple[type[JukinetError], Callable[[UnitOfWork], object]]] = [
            (InterfaceError, lambda uow: store.provision_log.append(uow, [entry, "entry"])),  # type: ignore[list-item]
            (InterfaceError, lambda uow: store.provision_log.append(uow, [entry, None])),  # type: ignore[list-item]
            (
                InterfaceError,
                lambda uow: store.provision_log.append(uow, [entry, self.rows.audit_entry(1)]),  # type: ignore[list-item]
            ),
            (InterfaceError, lambda uow: store.provision_log.append(uow, [record])),  # type: ignore[list-item]
            (InterfaceError, lambda uow: store.provision_log.append(uow, entry)),  # type: ignore[arg-type]
            (InterfaceError, lambda uow: store.provision_log.append(uow, None)),  # type: ignore[arg-type]
            (InterfaceError, lambda _uow: store.provision_log.append(None, [entry])),  # type: ignore[arg-type]
            (
                ValidationError,
                lambda uow: store.provision_log.purge(uow, before=aware.replace(tzinfo=None)),
            ),
            (ValidationError, lambda uow: store.provision_log.purge(uow, before=date(2030, 1, 1))),  # type: ignore[arg-type]
            (ValidationError, lambda uow: store.provision_log.purge(uow, before="2030-01-01")),  # type: ignore[arg-type]
            (ValidationError, lambda uow: store.provision_log.purge(uow, before=None)),  # type: ignore[arg-type]
            (InterfaceError, lambda _uow: store.provision_log.purge(None, before=aware)),  # type: ignore[arg-type]
        ]
        for error, write in writes:
            with pytest.raises(error), store.unit_of_work() as uow:  # noqa: PT012
                store.outbox.append(uow, "pref13", [b"effect"])
                write(uow)
            assert snapshot(store) == before
        reads: list[Callable[[UnitOfWork | None], object]] = [
            lambda uow: store.provision_log.read(after=-1, uow=uow),
            lambda uow: store.provision_log.read(after="0", uow=uow),  # type: ignore[arg-type]
            lambda uow: store.provision_log.read(limit=-1, uow=uow),
            lambda uow: store.provision_log.read(limit=True, uow=uow),
            lambda uow: store.provision_log.read(limit=2**63, uow=uow),
            lambda uow: store.provision_log.read(subject=BAD_CHECK_DIGIT_CODE, uow=uow),
            lambda uow: store.provision_log.read(subject="1234", uow=uow),
            lambda uow: store.provision_log.read(subject=7, uow=uow),  # type: ignore[arg-type]
            lambda uow: store.provision_log.read(subject="", uow=uow),
            lambda uow: store.provision_log.has_request("", uow),
            lambda uow: store.provision_log.has_request(7, uow),  # type: ignore[arg-type]
            lambda uow: store.provision_log.has_request("req 1", uow),
            lambda uow: store.provision_log.has_request("r" * 65, uow),
        ]
        for call in reads:
            with pytest.raises(ValidationError):
                call(None)
        # inside a unit of work a bad call changes nothing: the unit of work goes on
        with store.unit_of_work() as uow:
            (second,) = store.provision_log.append(uow, [self.rows.provision_entry(2)])
            for call in reads:
                with pytest.raises(ValidationError):
                    call(uow)
            with pytest.raises(ValidationError):
                store.provision_log.purge(uow, before=aware.replace(tzinfo=None))
            with pytest.raises(InterfaceError):
                store.provision_log.append(uow, [self.rows.provision_entry(3), "entry"])  # type: ignore[list-item]
            assert store.provision_log.head(uow) == (2, second.hash)
        assert store.provision_log.read() == [record, second]

    # =============================================================================
    # the provision ports in a unit of work, and racing
    # =============================================================================

    def test_provision_ports_inside_a_unit_of_work_see_its_writes(self, store: Store) -> None:
        reader = self.handle(store)
        kept, cancelled = self.rows.scheduled_item(1), self.rows.scheduled_item(2)
        with store.unit_of_work() as uow:
            store.schedule.add(uow, [kept, cancelled])
        agency = self.rows.agency_row(1)
        added = self.rows.scheduled_item(3)
        with store.unit_of_work() as uow:
            store.agencies.register(uow, agency)
            records = store.provision_log.append(
                uow, [self.rows.provision_entry(1), self.rows.provision_entry(2)]
            )
            store.schedule.add(uow, [added])
            assert store.schedule.cancel(uow, [cancelled.key]) == 1
            assert store.agencies.get(agency.agency, uow) == agency
            assert store.agencies.list(uow=uow) == [agency]
            assert store.provision_log.read(uow=uow) == records
            subject = records[0].entry.subject
            assert store.provision_log.read(subject=subject, uow=uow) == records[:1]
            assert store.provision_log.has_request("req-2", uow)
            assert store.provision_log.head(uow) == (2, records[1].hash)
            assert store.provision_log.anchor(uow) == (0, GENESIS)
            assert store.schedule.get(added.key, uow) == added
            assert store.schedule.get(cancelled.key, uow) is None
            assert store.schedule.due(date.max, uow=uow) == sorted(
                [kept, added], key=lambda i: (i.due, i.key)
            )
            # another handle sees committed data only
            assert reader.agencies.get(agency.agency) is None
            assert reader.agencies.list() == []
            assert reader.provision_log.read() == []
            assert reader.provision_log.read(subject=subject) == []
            assert not reader.provision_log.has_request("req-2")
            assert reader.provision_log.head() == (0, GENESIS)
            assert reader.schedule.get(cancelled.key) == cancelled
            assert reader.schedule.get(added.key) is None
            assert reader.schedule.due(date.max) == [kept, cancelled]
        assert reader.agencies.list() == [agency]
        assert reader.provision_log.read() == records
        assert reader.provision_log.head() == (2, records[1].hash)
        assert reader.schedule.due(date.max) == sorted([kept, added], key=lambda i: (i.due, i.key))

    def test_provision_numbers_survive_a_rolled_back_append(self, store: Store) -> None:
        (first,) = self._timed_log(store, [1])
        with pytest.raises(InjectedCrash), store.unit_of_work() as uow:  # noqa: PT012
            (lost,) = store.provision_log.append(uow, [self.rows.provision_entry(2)])
            assert lost.seq == 2
            raise InjectedCrash
        assert store.provision_log.head() == (1, first.hash)
        with store.unit_of_work() as uow:
            (second,) = store.provision_log.append(uow, [self.rows.provision_entry(3)])
        assert (second.seq, second.prev_hash) == (2, first.hash)
        assert second.hash != lost.hash
        assert verify_chain((0, GENESIS), read_all_provision(store), (2, second.hash)) == []

    def test_racing_provision_appenders_keep_one_chain(self, store: Store) -> None:
        # Each appender reads the head and appends after it in its unit of work: the
        # chain never forks and the numbers are gap-free in commit order.
        writers = [self.handle(store), self.handle(store)]
        reader = self.handle(store)
        written: dict[int, list[list[ProvisionRecord]]] = {0: [], 1: []}
        done = threading.Event()
        rounds = self.racing_rounds

        def write(w: int) -> Callable[[], None]:
            def run() -> None:
                handle = writers[w]
                for i in range(rounds):
                    batch = [
                        self.rows.provision_entry(10_000 * (w + 1) + 10 * i + j)
                        for j in range(1 + (i + w) % 2)
                    ]
                    with handle.unit_of_work() as uow:
                        records = handle.provision_log.append(uow, batch)
                    written[w].append(records)

            return run

        def read() -> None:
            last = 0
            while True:
                finished = done.is_set()
                head = reader.provision_log.head()
                batch = reader.provision_log.read(after=last, limit=4)
                for k, record in enumerate(batch):
                    assert record.seq == last + 1 + k, f"read after {last} returned {record.seq}"
                if batch:
                    last = batch[-1].seq
                else:
                    time.sleep(0.0005)
                assert head[0] <= reader.provision_log.head()[0]
                if finished and not batch:
                    return

        def writers_then_done() -> None:
            try:
                _run_threads([write(0), write(1)])
            finally:
                done.set()

        _run_threads([writers_then_done, read])
        final = read_all_provision(store)
        total = sum(len(r) for w in written.values() for r in w)
        assert [r.seq for r in final] == list(range(1, total + 1))
        head = store.provision_log.head()
        assert head == (total, final[-1].hash)
        assert verify_chain((0, GENESIS), final, head) == []
        for w in written.values():
            for records in w:
                assert [final[r.seq - 1] for r in records] == records
