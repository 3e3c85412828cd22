"""The stateful test's state machine, part one: building rows, and the rules of the
register and the identity copies."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    rule,
)

from jukinet.domain.changes import ChangeReason
from jukinet.errors import (
    IntegrityError,
)
from jukinet.storage.base import Store
from jukinet.storage.records import (
    IdentityQuery,
    IdentityRow,
    RegisterRow,
)
from jukinet.testing.conformance._model import (
    _CODES,
    _HOUSEHOLDS,
    _IDS,
    _NAMES,
    _RECEIVED_ON,
    _Model,
)
from jukinet.testing.conformance._rows import (
    MUNICIPALITIES,
    RowFactory,
    _on,
)

_ROWS = RowFactory()
"""Builds the rows the state machine writes."""


class StoreMachine(RuleBasedStateMachine):
    """What every part of the stateful test works on: the store and the model."""

    store: Store
    model: _Model
    payloads: Iterator[int]
    audit_serial: Iterator[int]
    provision_serial: Iterator[int]

    # -- building rows --

    def _register_row(
        self, person: str, version: int, code: str, household: str, removed: bool
    ) -> RegisterRow:
        name, born = _NAMES[_IDS.index(person) % len(_NAMES)]
        return _ROWS.register_row(
            person,
            version,
            code=code,
            status="removed" if removed else "registered",
            household_id=household,
            name=name,
            reading=None,
            birth_date=born,
        )

    def _identity_row(
        self,
        code: str,
        version: int,
        name: int,
        municipality: str,
        removed: bool,
        received_on: date | None = None,
    ) -> IdentityRow:
        text, born = _NAMES[name]
        return _ROWS.identity_row(
            code,
            version,
            name=text,
            reading=None,
            birth_date=born,
            municipality=municipality,
            rest="1番地",
            removed=removed,
            received_on=received_on,
        )


class RegisterRules(StoreMachine):
    """Rules of the register and of the identity copies."""

    # -- register --

    @rule(
        people=st.lists(st.sampled_from(_IDS), min_size=1, max_size=3),
        code_change=st.lists(st.sampled_from((None, None, *_CODES)), min_size=3, max_size=3),
        offsets=st.lists(st.sampled_from((1, 1, 1, 0, 2)), min_size=3, max_size=3),
        household=st.sampled_from(_HOUSEHOLDS),
        removed=st.booleans(),
    )
    def register_append(
        self,
        people: list[str],
        code_change: list[str | None],
        offsets: list[int],
        household: str,
        removed: bool,
    ) -> None:
        batch: list[RegisterRow] = []
        planned: dict[str, tuple[int, str]] = {}
        for i, person in enumerate(people):
            history = self.model.register.get(person, [])
            version, code = planned.get(
                person,
                (
                    len(history),
                    history[-1].resident_code
                    if history
                    else _CODES[_IDS.index(person) % len(_CODES)],
                ),
            )
            version = max(1, version + offsets[i])
            code = code_change[i] or code
            planned[person] = (version, code)
            batch.append(self._register_row(person, version, code, household, removed))
        ok = self.model.register_append(batch)
        if ok:
            with self.store.unit_of_work() as uow:
                self.store.register.append(uow, batch)
        else:
            with pytest.raises(IntegrityError), self.store.unit_of_work() as uow:
                self.store.register.append(uow, batch)
        for person in set(people):
            assert self.store.register.history(person) == self.model.register.get(person, [])

    @rule(people=st.lists(st.sampled_from(_IDS), min_size=1, max_size=3, unique=True))
    def register_bulk_load(self, people: list[str]) -> None:
        batch = [
            self._register_row(p, 1, _CODES[(_IDS.index(p) + 3) % len(_CODES)], "S1", False)
            for p in people
        ]
        fresh = all(p not in self.model.register for p in people)
        ok = fresh and self.model.register_append(batch)
        if ok:
            with self.store.unit_of_work() as uow:
                assert self.store.register.bulk_load(uow, batch) == len(batch)
        else:
            with pytest.raises(IntegrityError), self.store.unit_of_work() as uow:
                self.store.register.bulk_load(uow, batch)

    # -- identities --

    @rule(
        code=st.sampled_from(_CODES),
        offset=st.sampled_from((1, 1, 1, 0, 2)),
        name=st.integers(0, len(_NAMES) - 1),
        municipality=st.sampled_from(MUNICIPALITIES),
        removed=st.booleans(),
        bulk=st.booleans(),
        received_on=st.sampled_from(_RECEIVED_ON),
    )
    def identity_append(
        self,
        code: str,
        offset: int,
        name: int,
        municipality: str,
        removed: bool,
        bulk: bool,
        received_on: date | None,
    ) -> None:
        version = max(1, self.model.identity_last(code) + offset)
        row = self._identity_row(code, version, name, municipality, removed, received_on)
        if bulk:
            ok = code not in self.model.identities and version == 1
            if ok:
                self.model.identity_append([row])
        else:
            ok = self.model.identity_append([row])
        port = self.store.identities
        write = port.bulk_load if bulk else port.append
        if ok:
            with self.store.unit_of_work() as uow:
                write(uow, [row])
                assert self.store.identities.count(uow=uow) == len(self.model.identities)
        else:
            with pytest.raises(IntegrityError), self.store.unit_of_work() as uow:
                write(uow, [row])
        assert self.store.identities.history(code) == self.model.identities.get(code, [])

    @rule(
        code=st.sampled_from(_CODES),
        to=st.sampled_from(MUNICIPALITIES),
        late_removal=st.booleans(),
        one_unit=st.booleans(),
        received_on=st.sampled_from(_RECEIVED_ON),
    )
    def identity_move(
        self, code: str, to: str, late_removal: bool, one_unit: bool, received_on: date | None
    ) -> None:
        # 転出 from where the person is (or was last) and 転入 into ``to``; the two
        # notices travel on different links, so either may be applied first.
        current = self.model.identity_current().get(code)
        origin = current.municipality if current is not None else MUNICIPALITIES[0]
        if to == origin:
            to = MUNICIPALITIES[(MUNICIPALITIES.index(to) + 1) % len(MUNICIPALITIES)]
        text, born = _NAMES[_CODES.index(code) % len(_NAMES)]

        def notice(version: int, municipality: str, removed: bool) -> IdentityRow:
            return _ROWS.identity_row(
                code,
                version,
                name=text,
                reading=None,
                birth_date=born,
                municipality=municipality,
                rest="2番地",
                reason=(
                    ChangeReason.DOMESTIC_MOVE_OUT if removed else ChangeReason.DOMESTIC_MOVE_IN
                ),
                received_on=received_on,
            )

        n = self.model.identity_last(code)
        if late_removal:
            batch = [notice(n + 1, to, False), notice(n + 2, origin, True)]
        else:
            batch = [notice(n + 1, origin, True), notice(n + 2, to, False)]
        entry = batch[0] if late_removal else batch[1]
        query = IdentityQuery(name_key=entry.name_key, birth_date=entry.birth_date)
        if one_unit:
            with self.store.unit_of_work() as uow:
                self.store.identities.append(uow, batch)
                assert self.store.identities.current(code, uow) == entry
                assert entry in self.store.identities.search(query, uow=uow)
                assert batch[0].removed or batch[1] not in self.store.identities.search(
                    query, uow=uow
                )
                assert self.store.identities.count(uow=uow) == len({*self.model.identities, code})
        else:
            for row in batch:
                with self.store.unit_of_work() as uow:
                    self.store.identities.append(uow, [row])
        assert self.model.identity_append(batch)
        assert self.store.identities.current(code) == entry
        assert entry in self.store.identities.search(query)
        assert self.store.identities.last_versions([code]) == {code: n + 2}

    @rule(day=st.integers(0, 5), one_unit=st.booleans())
    def identity_expire(self, day: int, one_unit: bool) -> None:
        # 令30条の6・30条の7: each code's oldest versions whose years are over go.
        before = _on(day)
        expected = self.model.copy()
        count = expected.identity_expire(before)
        with self.store.unit_of_work() as uow:
            assert self.store.identities.expire(uow, received_before=before) == count
            if one_unit:
                assert self.store.identities.count(uow=uow) == len(expected.identities)
                for code in _CODES:
                    assert self.store.identities.history(code, uow) == (
                        expected.identities.get(code, [])
                    )
        self.model.identities = expected.identities
        for code in _CODES:
            assert self.store.identities.history(code) == self.model.identities.get(code, [])
