"""The stateful test: random operations on a store, checked against a model
(:func:`make_stateful_test`); crashing units of work and the checks of every read."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)

from jukinet.storage import mapping
from jukinet.storage.base import Store
from jukinet.storage.records import (
    verify_chain,
)
from jukinet.testing.conformance._machine import _ROWS, RegisterRules, StoreMachine
from jukinet.testing.conformance._machine_ports import PortRules
from jukinet.testing.conformance._model import (
    _AGENCY_NAMES,
    _CODES,
    _DESTINATIONS,
    _HOUSEHOLDS,
    _IDS,
    _NAMES,
    _POOL_CODES,
    _SCHEDULE_KEYS,
    _SENDERS,
    _SUBJECTS,
    _Model,
)
from jukinet.testing.conformance._rows import (
    _AUDIT_EPOCH,
    MUNICIPALITIES,
    InjectedCrash,
    _by_version,
    read_all_agencies,
    read_all_audit,
    read_all_outbox,
    read_all_provision,
    read_all_scheduled,
)


class CheckRules(StoreMachine):
    """Units of work that crash halfway, and the checks of every read against the model."""

    # -- crashes --

    @rule(
        person=st.sampled_from(_IDS),
        destination=st.sampled_from(_DESTINATIONS),
        sender=st.sampled_from(_SENDERS),
        municipality=st.sampled_from(MUNICIPALITIES[:2]),
    )
    def crash_halfway(self, person: str, destination: str, sender: str, municipality: str) -> None:
        history = self.model.register.get(person, [])
        code = history[-1].resident_code if history else None
        row = (
            self._register_row(person, len(history) + 1, code, "S2", False)
            if code is not None
            else None
        )
        position = self.model.tracking.get(sender, 0)
        with pytest.raises(InjectedCrash), self.store.unit_of_work() as uow:  # noqa: PT012
            self.store.outbox.append(uow, destination, [b"never sent"])
            self.store.outbox.acknowledge(uow, destination, self.model.last_seq(destination))
            self.store.tracking.advance(uow, sender, position + 1, last=position + 3)
            self.store.audit.append(uow, [_ROWS.audit_entry(next(self.audit_serial))])
            if row is not None:
                self.store.register.append(uow, [row])
                assert self.store.register.current(person, uow) == row
            self.store.code_pool.allocate(uow, municipality)
            self.store.outbox.resume(uow, "pref99", 3)
            self.store.agencies.register(uow, _ROWS.agency_row(1, name="agency-crash"))
            self.store.provision_log.append(
                uow, [_ROWS.provision_entry(next(self.provision_serial))]
            )
            self.store.provision_log.purge(uow, before=_AUDIT_EPOCH + timedelta(days=1))
            self.store.identities.expire(uow, received_before=date.max)
            self.store.schedule.cancel(uow, list(self.model.schedule))
            self.store.schedule.add(uow, [_ROWS.scheduled_item(1, key="crash")])
            raise InjectedCrash
        self.check_everything()

    # -- checks --

    @invariant()
    def counts_agree(self) -> None:
        model = self.model
        assert self.store.register.count() == len(model.register)
        assert self.store.identities.count() == len(model.identities)
        assert self.store.tracking.senders() == model.tracking
        for destination in _DESTINATIONS:
            assert self.store.outbox.last_seq(destination) == model.last_seq(destination)
        assert self.store.audit.last_seq() == len(model.audit)
        assert self.store.provision_log.head() == model.provision_head
        assert self.store.provision_log.anchor() == model.provision_anchor

    @precondition(
        lambda self: bool(
            self.model.register
            or self.model.identities
            or self.model.audit
            or self.model.agencies
            or self.model.provision_head[0]
            or self.model.schedule
        )
    )
    @rule()
    def check_everything(self) -> None:
        store, model = self.store, self.model
        current = {k: v[-1] for k, v in sorted(model.register.items())}
        assert store.register.scan() == list(current.values())
        for person, history in model.register.items():
            assert store.register.history(person) == history
            assert store.register.current(person) == history[-1]
        for code, person in model.owner.items():
            assert store.register.current_by_code(code) == current[person]
        assert store.register.current_many(list(_CODES)) == {
            c: current[p] for c, p in model.owner.items()
        }
        for status in ("registered", "removed"):
            assert store.register.count(status=status) == sum(
                1 for r in current.values() if r.status == status
            )
        for household in _HOUSEHOLDS:
            members = [
                r
                for r in current.values()
                if r.household_id == household and r.status == "registered"
            ]
            got = sorted(store.register.household(household), key=lambda r: r.internal_id)
            assert got == members
        ident = model.identity_current()
        words = sorted(model.identity_words().items())
        assert store.identities.scan() == list(ident.values())
        assert store.identities.current_many(list(_CODES)) == ident
        for code in _CODES:
            assert store.identities.current(code) == ident.get(code)
        assert store.identities.last_versions(list(_CODES)) == {
            code: versions[-1].version for code, versions in model.identities.items()
        }
        for code, versions in model.identities.items():
            assert store.identities.history(code) == versions
        for municipality in MUNICIPALITIES:
            expected_rows = [r for (_, m), r in words if m == municipality]
            assert store.identities.scan(municipality=municipality) == expected_rows
            assert store.identities.count(municipality=municipality) == len(expected_rows)
        for text, born in _NAMES:
            query = mapping.identity_query(text, born)
            found = store.identities.search(query)
            assert [r.resident_code for r in found] == sorted(r.resident_code for r in found)
            assert sorted(found, key=_by_version) == sorted(
                (
                    r
                    for _, r in words
                    if r.name_key == query.name_key and r.birth_date == born and not r.removed
                ),
                key=_by_version,
            )
        for destination in _DESTINATIONS:
            got_entries = read_all_outbox(store, destination, page=1)
            base = model.outbox_base.get(destination, 0)
            assert [e.payload for e in got_entries] == model.outbox.get(destination, [])
            assert [e.seq for e in got_entries] == list(
                range(base + 1, base + 1 + len(got_entries))
            )
            assert store.outbox.acknowledged(destination) == model.acked.get(destination, 0)
        assert store.outbox.destinations() == model.destinations()
        assert [r.entry for r in read_all_audit(store, page=4)] == model.audit
        assert store.code_pool.designated_count() == len(model.pool)
        for municipality in MUNICIPALITIES:
            assert store.code_pool.available(municipality) == len(model.available(municipality))
        for code in _POOL_CODES:
            assert store.code_pool.is_designated(code) == (code in model.pool)
        assert read_all_agencies(store, page=2) == [
            row for _, row in sorted(model.agencies.items())
        ]
        for name in _AGENCY_NAMES:
            assert store.agencies.get(name) == model.agencies.get(name)
        kept = read_all_provision(store, page=3)
        assert kept == model.provision
        for subject in _SUBJECTS[1:]:
            assert read_all_provision(store, page=2, subject=subject) == [
                r for r in model.provision if r.entry.subject == subject
            ]
        head, anchor = store.provision_log.head(), store.provision_log.anchor()
        assert (head, anchor) == (model.provision_head, model.provision_anchor)
        assert verify_chain(anchor, kept, head) == []
        assert read_all_scheduled(store) == model.due(date.max)
        for key in _SCHEDULE_KEYS:
            assert store.schedule.get(key) == model.schedule.get(key)


def make_stateful_test(
    create_store: Callable[[], Store],
    dispose: Callable[[Store], None] | None = None,
) -> type[RuleBasedStateMachine]:
    """A Hypothesis state machine running random operations on a store and a model.

    Each run creates a store with ``create_store`` and releases it with
    ``dispose`` (default: ``close()``). The rules append register and identity
    versions (valid ones, duplicates, skipped versions, code changes, a code
    taken by another person, removals, moves between municipalities whose
    removal arrives before or after the new entry), bulk-load, append to, read,
    acknowledge and resume the outbox, advance tracking one message or a batch
    at a time (rightly and wrongly), designate, allocate and mark codes used,
    append to and read the audit log, register and list agencies (twice: refused),
    append to, read, search by subject and request id and purge the provision log
    (whose chain the model computes itself), add, cancel and read scheduled items
    (duplicates refused), and run units of work that crash halfway; every read is
    compared with a plain-dict model. Collect it in a test module
    with::

        TestMyStoreStateful = make_stateful_test(make_my_store).TestCase

    Steps per run default to 20 (``stateful_step_count``); the number of runs
    follows the loaded Hypothesis profile.
    """
    release = dispose if dispose is not None else Store.close

    class StoreStateMachine(CheckRules, PortRules, RegisterRules):
        """Random operations on a store, checked against :class:`_Model`."""

        def __init__(self) -> None:
            super().__init__()
            self.store = create_store()
            self.model = _Model()
            self.payloads = itertools.count()
            self.audit_serial = itertools.count()
            self.provision_serial = itertools.count(1)

        def teardown(self) -> None:
            release(self.store)

    StoreStateMachine.TestCase.settings = settings(
        stateful_step_count=20,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    return StoreStateMachine
