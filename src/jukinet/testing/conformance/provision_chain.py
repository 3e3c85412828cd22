"""Conformance tests of the provision log's hash chain against a tampered or unreadable store."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest

from jukinet.domain.resident_code import ResidentCode
from jukinet.errors import (
    CorruptRecord,
)
from jukinet.storage.base import Store, UnitOfWork
from jukinet.storage.records import (
    ChainFault,
    verify_chain,
)
from jukinet.testing.conformance._rows import (
    _AUDIT_EPOCH,
    _TAMPERED_DETAIL,
    read_all_provision,
)
from jukinet.testing.conformance.hooks import ConformanceHooks, TamperHow


class ProvisionChainConformance(ConformanceHooks):
    """Conformance tests of the provision log's hash chain against a tampered or unreadable store."""

    @pytest.mark.parametrize("how", ["alter", "delete", "swap", "truncate", "garble"])
    def test_provision_log_tampering_is_found_by_the_chain(
        self, store: Store, how: TamperHow
    ) -> None:
        # Someone with database access changes the stored log: recomputing the chain
        # from the anchor to the stored head names the record tampered with. The port
        # returns records as stored and head()/anchor() from their own rows, never
        # recomputed, so nothing hides it.
        last = 6
        cases = [(False, k) for k in (1, 3, 5, 6)] + [(True, k) for k in (3, 4, 6)]
        for purged, k in cases:
            if how == "swap" and k == last:
                continue  # there is no record after the last one
            target = store if (purged, k) == cases[0] else self.another_store()
            records = self._timed_log(target, [1, 2, 3, 4, 5, 6])
            if purged:
                with target.unit_of_work() as uow:
                    assert target.provision_log.purge(uow, before=records[2].entry.at) == 2
            anchor = target.provision_log.anchor()
            head = target.provision_log.head()
            kept = [r for r in records if r.seq > anchor[0]]
            assert head == (last, records[-1].hash)
            assert verify_chain(anchor, read_all_provision(target), head) == []
            with target.unit_of_work() as uow:
                assert target.provision_log.verify(uow) == []
            self.tamper_provision_log(target, how, k)
            assert target.provision_log.head() == head, "the head is stored, not max(seq)"
            assert target.provision_log.anchor() == anchor
            case = f"{how} {k} (purged: {purged})"
            if how == "garble":
                # the record cannot be read back: every read that reaches it names it,
                # the others read as before, and the chain names it altered
                with pytest.raises(CorruptRecord) as caught:
                    read_all_provision(target)
                assert (caught.value.table, caught.value.seq) == ("provision_log", k), case
                below = k - anchor[0] - 1
                if below:
                    assert target.provision_log.read(after=anchor[0], limit=below) == kept[:below]
                assert target.provision_log.read(after=k) == kept[below + 1 :], case
                stored = kept[:below] + kept[below + 1 :]
                faults = verify_chain(anchor, stored, head, unreadable=[k])
                assert faults == [ChainFault(k, "altered")], case
            else:
                stored = read_all_provision(target)
                faults = verify_chain(anchor, stored, head)
            with target.unit_of_work() as uow:
                assert target.provision_log.verify(uow) == faults, case
            if how == "alter":
                assert [r.seq for r in stored] == [r.seq for r in kept], case
                changed = stored[k - anchor[0] - 1]
                assert changed.entry.detail == _TAMPERED_DETAIL, case
                assert (changed.prev_hash, changed.hash) == (
                    records[k - 1].prev_hash,
                    records[k - 1].hash,
                ), "records come back as stored, never re-hashed"
                assert faults == [ChainFault(k, "altered")], case
            elif how == "delete":
                assert [r.seq for r in stored] == [r.seq for r in kept if r.seq != k], case
                assert faults[0] == ChainFault(k, "missing" if k < last else "truncated"), case
            elif how == "swap":
                assert [r.seq for r in stored] == [r.seq for r in kept], case
                i = k - anchor[0] - 1
                assert (stored[i].entry, stored[i].hash) == (kept[i + 1].entry, kept[i + 1].hash)
                assert (stored[i + 1].entry, stored[i + 1].hash) == (kept[i].entry, kept[i].hash)
                assert faults[:2] == [ChainFault(k, "relinked"), ChainFault(k, "altered")], case
            elif how == "truncate":
                assert stored == [r for r in kept if r.seq < k], case
                # verify_chain names the head, the last record that should be there
                assert faults == [ChainFault(last, "truncated")], case
            assert faults, case

    def test_unreadable_provision_records_are_named_and_read_past(self, store: Store) -> None:
        # Several unreadable records, side by side and at both ends, in a log longer
        # than one page of verify(): each is named altered, once, and the records
        # around them are checked as usual (a record after an unreadable one cannot be
        # checked for relinking: the hash it should follow is unknown).
        count = 2_500
        entries = [self.rows.provision_entry(n) for n in range(1, count + 1)]
        with store.unit_of_work() as uow:
            records = store.provision_log.append(uow, entries)
        garbled = [1, 2, 999, 1000, 1001, 1500, count]
        for seq in garbled:
            self.tamper_provision_log(store, "garble", seq)
        self.tamper_provision_log(store, "alter", 1700)
        self.tamper_provision_log(store, "delete", 2000)
        with store.unit_of_work() as uow:
            faults = store.provision_log.verify(uow)
        expected = [ChainFault(seq, "altered") for seq in garbled[:-1]]
        expected += [
            ChainFault(1700, "altered"),
            ChainFault(2000, "missing"),
            ChainFault(2001, "relinked"),
            ChainFault(count, "altered"),
        ]
        assert faults == expected
        # a read by subject reaches an unreadable record of that person only
        subject = records[998].entry.subject
        assert subject is not None
        with pytest.raises(CorruptRecord) as caught:
            read_all_provision(store, subject=subject)
        assert caught.value.seq in {
            seq for seq in garbled if records[seq - 1].entry.subject == subject
        }
        other = self.rows.code(9)
        with store.unit_of_work() as uow:
            (mine,) = store.provision_log.append(uow, [self.rows.provision_entry(9, subject=other)])
        assert read_all_provision(store, subject=other) == [mine]

    def test_the_provision_desk_names_an_unreadable_record(self, store: Store) -> None:
        # verify_log names an unreadable record altered; the report and a disclosure
        # that would need it refuse with a CorruptRecord naming it (and log nothing);
        # a disclosure to someone else is not affected.
        from jukinet.tiers.clock import ManualClock
        from jukinet.tiers.messages import CENTER
        from jukinet.tiers.provision import ProvisionDesk

        def no_send(uow: UnitOfWork, node: object, messages: Sequence[bytes]) -> None:
            raise AssertionError("the desk sends nothing here")

        clock = ManualClock(_AUDIT_EPOCH + timedelta(days=1))
        desk = ProvisionDesk(CENTER, store, clock, no_send)
        codes = [self.rows.code(n) for n in (1, 2, 3)]
        with store.unit_of_work() as uow:
            store.identities.append(uow, [self.rows.identity_row(code, 1) for code in codes])
            records = store.provision_log.append(
                uow, [self.rows.provision_entry(n) for n in range(1, 7)]
            )
        start, end = _AUDIT_EPOCH, _AUDIT_EPOCH + timedelta(days=1)
        assert desk.report(start, end).total == 6
        assert desk.verify_log() == []
        k = 4
        victim = records[k - 1].entry.subject
        assert victim is not None
        self.tamper_provision_log(store, "garble", k)
        assert desk.verify_log() == [ChainFault(k, "altered")]
        head = store.provision_log.head()
        with pytest.raises(CorruptRecord) as caught:
            desk.report(start, end)
        assert caught.value.seq == k
        with pytest.raises(CorruptRecord) as caught:
            desk.disclose(ResidentCode(victim), request_id="disclose-1")
        assert caught.value.seq == k
        assert store.provision_log.head() == head, "a refused disclosure logs nothing"
        other = next(code for code in codes if code != victim)
        disclosure = desk.disclose(ResidentCode(other), request_id="disclose-2")
        assert [r.seq for r in disclosure.provisions] == [
            r.seq for r in records if r.entry.subject == other
        ]
        assert desk.verify_log() == [ChainFault(k, "altered")]
