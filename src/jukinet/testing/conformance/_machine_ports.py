"""The stateful test's rules of the outbox, tracking, the audit log, the code pool,
the agencies, the provision log and the schedule."""

from __future__ import annotations

from datetime import UTC, timedelta

import attrs
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (
    rule,
)

from jukinet.errors import (
    IntegrityError,
    JukinetError,
    ValidationError,
)
from jukinet.storage.records import (
    AuditEntry,
    ScheduledItem,
)
from jukinet.testing.conformance._machine import _ROWS, StoreMachine
from jukinet.testing.conformance._model import (
    _AGENCY_NAMES,
    _DESTINATIONS,
    _POOL_CODES,
    _SCHEDULE_KEYS,
    _SENDERS,
    _SUBJECTS,
)
from jukinet.testing.conformance._rows import (
    _AUDIT_EPOCH,
    _JST,
    _SCHEDULE_EPOCH,
    MUNICIPALITIES,
)


class PortRules(StoreMachine):
    """Rules of the outbox, tracking, audit log, code pool, agencies, provision log and schedule."""

    # -- outbox --

    @rule(destination=st.sampled_from(_DESTINATIONS), n=st.integers(0, 3))
    def outbox_append(self, destination: str, n: int) -> None:
        payloads = [f"{destination}-{next(self.payloads)}".encode() for _ in range(n)]
        start = self.model.last_seq(destination) + 1
        with self.store.unit_of_work() as uow:
            numbers = self.store.outbox.append(uow, destination, payloads)
        assert numbers == range(start, start + n)
        if payloads:
            self.model.outbox.setdefault(destination, []).extend(payloads)

    @rule(
        destination=st.sampled_from(_DESTINATIONS),
        offset=st.integers(-2, 8),
        limit=st.integers(1, 5),
    )
    def outbox_read(self, destination: str, offset: int, limit: int) -> None:
        base = self.model.outbox_base.get(destination, 0)  # resumed: numbers start later
        after = max(0, base + offset)
        start = max(after, base)
        entries = self.model.outbox.get(destination, [])
        expected = entries[start - base : start - base + limit]
        got = self.store.outbox.read(destination, after=after, limit=limit)
        assert [e.payload for e in got] == expected
        assert [e.seq for e in got] == list(range(start + 1, start + 1 + len(expected)))

    @rule(
        destination=st.sampled_from(_DESTINATIONS),
        backs=st.lists(st.integers(-1, 3), min_size=1, max_size=3),
    )
    def outbox_acknowledge(self, destination: str, backs: list[int]) -> None:
        # Acks arrive late, twice, out of order. back: how far below the last
        # sequence number the acknowledged one is (-1: one never sent).
        for back in backs:
            last = self.model.last_seq(destination)
            seq = last - back
            error: type[JukinetError] | None = None
            if seq < 0:
                error = ValidationError
            elif seq > last:
                error = IntegrityError
            entry = _ROWS.audit_entry(next(self.audit_serial), action="ack")
            acked = max(self.model.acked.get(destination, 0), seq)
            if error is None:
                with self.store.unit_of_work() as uow:
                    self.store.outbox.acknowledge(uow, destination, seq)
                    self.store.audit.append(uow, [entry])
                    assert self.store.outbox.acknowledged(destination, uow) == acked
                self.model.acked[destination] = acked
                self.model.audit.append(entry)
            else:
                with pytest.raises(error), self.store.unit_of_work() as uow:  # noqa: PT012
                    self.store.audit.append(uow, [entry])
                    self.store.outbox.acknowledge(uow, destination, seq)
            got = self.store.outbox.acknowledged(destination)
            assert got == self.model.acked.get(destination, 0)

    @rule(destination=st.sampled_from(_DESTINATIONS), last_seq=st.integers(0, 6))
    def outbox_resume(self, destination: str, last_seq: int) -> None:
        if destination not in self.model.destinations():
            with self.store.unit_of_work() as uow:
                self.store.outbox.resume(uow, destination, last_seq)
                assert self.store.outbox.destinations(uow) == sorted(
                    {*self.model.destinations(), destination}
                )
                assert self.store.outbox.last_seq(destination, uow) == last_seq
            self.model.outbox_base[destination] = last_seq
            self.model.acked[destination] = last_seq
        else:
            with pytest.raises(IntegrityError), self.store.unit_of_work() as uow:
                self.store.outbox.resume(uow, destination, last_seq)
        assert self.store.outbox.last_seq(destination) == self.model.last_seq(destination)
        assert self.store.outbox.destinations() == self.model.destinations()

    # -- tracking --

    @rule(
        sender=st.sampled_from(_SENDERS),
        delta=st.sampled_from((1, 1, 1, 0, 2, -1)),
        span=st.sampled_from((None, None, 0, 2, -1)),
    )
    def tracking_advance(self, sender: str, delta: int, span: int | None) -> None:
        # applies seq .. seq + span (one message when span is None)
        position = self.model.tracking.get(sender, 0)
        seq = position + delta
        last = None if span is None else seq + span
        effect = [f"applied-{sender}-{seq}".encode()]
        if delta == 1 and (span is None or span >= 0):
            with self.store.unit_of_work() as uow:
                self.store.outbox.append(uow, "center", effect)
                self.store.tracking.advance(uow, sender, seq, last=last)
            self.model.tracking[sender] = seq if last is None else last
            self.model.outbox.setdefault("center", []).extend(effect)
        else:
            error: type[JukinetError] = IntegrityError
            if seq < 1:
                error = JukinetError
            if span is not None and span < 0:
                error = ValidationError  # bad input, whatever the position
            with pytest.raises(error), self.store.unit_of_work() as uow:  # noqa: PT012
                self.store.outbox.append(uow, "center", effect)
                self.store.tracking.advance(uow, sender, seq, last=last)
        assert self.store.tracking.position(sender) == self.model.tracking.get(sender, 0)

    # -- audit log --

    @rule(sizes=st.lists(st.integers(0, 3), min_size=1, max_size=3))
    def audit_append(self, sizes: list[int]) -> None:
        # several appends in one unit of work
        written: list[AuditEntry] = []
        with self.store.unit_of_work() as uow:
            for n in sizes:
                entries = [_ROWS.audit_entry(next(self.audit_serial)) for _ in range(n)]
                start = len(self.model.audit) + len(written) + 1
                assert self.store.audit.append(uow, entries) == range(start, start + n)
                written.extend(entries)
            assert self.store.audit.last_seq(uow) == len(self.model.audit) + len(written)
        self.model.audit.extend(written)

    @rule(after=st.integers(0, 12), limit=st.integers(0, 5))
    def audit_read(self, after: int, limit: int) -> None:
        expected = self.model.audit[after : after + limit]
        got = self.store.audit.read(after=after, limit=limit)
        assert [r.entry for r in got] == expected
        assert [r.seq for r in got] == list(range(after + 1, after + 1 + len(expected)))

    @rule(
        action=st.sampled_from(["register.birth", "ack", "register.move_in"]),
        after=st.integers(0, 12),
        limit=st.integers(0, 5),
    )
    def audit_read_action(self, action: str, after: int, limit: int) -> None:
        numbered = list(enumerate(self.model.audit, 1))
        expected = [(seq, e) for seq, e in numbered if seq > after and e.action == action]
        got = self.store.audit.read(after=after, limit=limit, action=action)
        assert [(r.seq, r.entry) for r in got] == expected[:limit]

    # -- code pool --

    @rule(
        municipality=st.sampled_from(MUNICIPALITIES[:2]),
        codes=st.lists(st.sampled_from(_POOL_CODES), min_size=1, max_size=3),
    )
    def designate(self, municipality: str, codes: list[str]) -> None:
        ok = len(set(codes)) == len(codes) and not any(c in self.model.pool for c in codes)
        if ok:
            with self.store.unit_of_work() as uow:
                self.store.code_pool.designate(uow, municipality, codes)
            self.model.pool.update(dict.fromkeys(codes, municipality))
        else:
            with pytest.raises(IntegrityError), self.store.unit_of_work() as uow:
                self.store.code_pool.designate(uow, municipality, codes)

    @rule(municipality=st.sampled_from(MUNICIPALITIES[:2]))
    def allocate(self, municipality: str) -> None:
        with self.store.unit_of_work() as uow:
            code = self.store.code_pool.allocate(uow, municipality)
        available = self.model.available(municipality)
        if not available:
            assert code is None
        else:
            assert code in available
            self.model.used.add(code)

    @rule(code=st.sampled_from(_POOL_CODES))
    def mark_used(self, code: str) -> None:
        if code in self.model.pool and code not in self.model.used:
            with self.store.unit_of_work() as uow:
                self.store.code_pool.mark_used(uow, code)
            self.model.used.add(code)
        else:
            with pytest.raises(IntegrityError), self.store.unit_of_work() as uow:
                self.store.code_pool.mark_used(uow, code)

    # -- agencies --

    @rule(name=st.sampled_from(_AGENCY_NAMES), n=st.integers(1, 3))
    def agency_register(self, name: str, n: int) -> None:
        row = _ROWS.agency_row(n, name=name)
        if name not in self.model.agencies:
            with self.store.unit_of_work() as uow:
                self.store.agencies.register(uow, row)
                assert self.store.agencies.get(name, uow) == row
            self.model.agencies[name] = row
        else:
            with pytest.raises(IntegrityError), self.store.unit_of_work() as uow:
                self.store.agencies.register(uow, row)
        assert self.store.agencies.get(name) == self.model.agencies[name]

    @rule(after=st.sampled_from((None, *_AGENCY_NAMES, "agency-")), limit=st.integers(0, 4))
    def agency_list(self, after: str | None, limit: int) -> None:
        expected = [
            row
            for name, row in sorted(self.model.agencies.items())
            if after is None or name > after
        ]
        assert self.store.agencies.list(after=after, limit=limit) == expected[:limit]

    # -- provision log --

    @rule(
        subjects=st.lists(st.sampled_from(_SUBJECTS), max_size=3),
        minutes=st.lists(st.integers(0, 30), min_size=3, max_size=3),
        audited=st.booleans(),
    )
    def provision_append(
        self, subjects: list[str | None], minutes: list[int], audited: bool
    ) -> None:
        # times are not monotonic: purge must stop at the first later record
        entries = []
        for subject, minute in zip(subjects, minutes, strict=False):
            n = next(self.provision_serial)
            entry = _ROWS.provision_entry(
                n,
                at=(_AUDIT_EPOCH + timedelta(minutes=minute)).astimezone(_JST if n % 2 else UTC),
            )
            entries.append(attrs.evolve(entry, subject=subject))
        audit = _ROWS.audit_entry(next(self.audit_serial), action="provide")
        with self.store.unit_of_work() as uow:
            got = self.store.provision_log.append(uow, entries)
            if audited:
                self.store.audit.append(uow, [audit])
        assert got == self.model.provision_append(entries)
        if audited:
            self.model.audit.append(audit)
        assert self.store.provision_log.head() == self.model.provision_head

    @rule(
        after=st.integers(0, 15),
        limit=st.integers(0, 5),
        subject=st.sampled_from(_SUBJECTS),
    )
    def provision_read(self, after: int, limit: int, subject: str | None) -> None:
        expected = [
            r
            for r in self.model.provision
            if r.seq > after and (subject is None or r.entry.subject == subject)
        ]
        got = self.store.provision_log.read(after=after, limit=limit, subject=subject)
        assert got == expected[:limit]

    @rule(n=st.integers(0, 12))
    def provision_has_request(self, n: int) -> None:
        request_id = f"req-{n}"
        expected = any(r.entry.request_id == request_id for r in self.model.provision)
        assert self.store.provision_log.has_request(request_id) == expected

    @rule(minute=st.integers(0, 32))
    def provision_purge(self, minute: int) -> None:
        before = _AUDIT_EPOCH + timedelta(minutes=minute)
        with self.store.unit_of_work() as uow:
            count = self.store.provision_log.purge(uow, before=before)
            assert self.store.provision_log.head(uow) == self.model.provision_head
        assert count == self.model.provision_purge(before)
        assert self.store.provision_log.anchor() == self.model.provision_anchor

    # -- schedule --

    @rule(
        keys=st.lists(st.sampled_from(_SCHEDULE_KEYS), max_size=3),
        days=st.lists(st.integers(0, 5), min_size=3, max_size=3),
    )
    def schedule_add(self, keys: list[str], days: list[int]) -> None:
        items = [
            ScheduledItem(
                key=key,
                due=_SCHEDULE_EPOCH + timedelta(days=day),
                payload=f"{key}-{next(self.payloads)}".encode(),
            )
            for key, day in zip(keys, days, strict=False)
        ]
        ok = len(set(keys)) == len(keys) and not any(k in self.model.schedule for k in keys)
        if ok:
            with self.store.unit_of_work() as uow:
                self.store.schedule.add(uow, items)
            self.model.schedule.update((i.key, i) for i in items)
        else:
            with pytest.raises(IntegrityError), self.store.unit_of_work() as uow:
                self.store.schedule.add(uow, items)
        for key in keys:
            assert self.store.schedule.get(key) == self.model.schedule.get(key)

    @rule(keys=st.lists(st.sampled_from(_SCHEDULE_KEYS), max_size=3))
    def schedule_cancel(self, keys: list[str]) -> None:
        present = {k for k in keys if k in self.model.schedule}
        with self.store.unit_of_work() as uow:
            assert self.store.schedule.cancel(uow, keys) == len(present)
        for key in present:
            del self.model.schedule[key]

    @rule(day=st.integers(-1, 6), limit=st.integers(0, 7))
    def schedule_due(self, day: int, limit: int) -> None:
        on = _SCHEDULE_EPOCH + timedelta(days=day)
        assert self.store.schedule.due(on, limit=limit) == self.model.due(on)[:limit]
