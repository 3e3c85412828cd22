"""A person is registered once (住基法6条: one record per person; 14条: an accurate
register): a second birth or arrival of someone with a current record here — same
name (by matching key), birth date, sex and household — is refused with
DuplicateRegistration and changes nothing, unless the counter names the matching
records it checked (``distinct_from``), which the audit log keeps. On every adapter."""

from __future__ import annotations

import json
import pickle
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jukinet.domain.names import PersonName
from jukinet.domain.resident import HEAD_OF_HOUSEHOLD, FamilyRegister, HouseholdMembership, Sex
from jukinet.domain.resident_code import ResidentCode
from jukinet.errors import (
    DuplicateRegistration,
    InvalidComponent,
    InvalidFormat,
    InvalidState,
    ProcedureError,
)
from jukinet.storage.memory import MemoryStore
from jukinet.testing.conformance import snapshot
from jukinet.testing.country import Country, StoreFactory, build_country
from jukinet.tiers.messages import NodeId
from jukinet.tiers.municipality import Municipality

CHIYODA = "131016"
BORN = date(2026, 3, 1)
HOUSEHOLD = "H0001"


def _name(given: str = "花子", reading: str = "ハナコ", family: str = "山田") -> PersonName:
    return PersonName(family=family, given=given, family_reading="ヤマダ", given_reading=reading)


def _household(household_id: str = HOUSEHOLD) -> HouseholdMembership:
    return HouseholdMembership(household_id=household_id, relationship=HEAD_OF_HOUSEHOLD)


def _birth(town: Municipality, **changes: Any) -> Any:
    arguments: dict[str, Any] = {
        "name": _name(),
        "birth_date": BORN,
        "sex": Sex.FEMALE,
        "household": _household(),
        "address": "千代田1丁目1番1号",
        "family_register": FamilyRegister(domicile="東京都千代田区千代田1番", head="山田 一郎"),
    }
    arguments.update(changes)
    return town.register_birth(**arguments)


def _arrival(town: Municipality, **changes: Any) -> Any:
    arguments: dict[str, Any] = {
        "name": _name(),
        "birth_date": BORN,
        "sex": Sex.FEMALE,
        "household": _household(),
        "address": "千代田1丁目1番1号",
        "arrived_on": date(2026, 3, 20),
        "previous_address": "アメリカ合衆国",
        "family_register": FamilyRegister(domicile="東京都千代田区千代田1番", head="山田 一郎"),
    }
    arguments.update(changes)
    return town.register_arrival(**arguments)


def _memory(node: NodeId | None = None) -> MemoryStore:
    store = MemoryStore()
    store.create_schema()
    return store


def _country(factory: StoreFactory, seed: int = 21) -> Country:
    country = build_country(factory, [CHIYODA], seed=seed, codes_per_municipality=8)
    country.network.settle()
    return country


def _audit_details(town: Municipality, action: str) -> list[dict[str, Any]]:
    return [json.loads(r.entry.detail) for r in town.store.audit.read(action=action, limit=1000)]


def test_a_second_birth_of_the_same_person_is_refused(store_factory: StoreFactory) -> None:
    town = _country(store_factory).municipality(CHIYODA)
    first = _birth(town)
    before = snapshot(town.store, codes=[first.resident_code.value])
    with pytest.raises(DuplicateRegistration) as info:
        _birth(town)
    err = info.value
    assert isinstance(err, InvalidState)
    assert isinstance(err, ProcedureError)
    assert err.resident_code == first.resident_code.value
    assert err.matches == (first.resident_code.value,)
    assert first.resident_code.value in str(err)
    assert "distinct_from" in str(err)
    assert "住基法6条" in str(err)
    # nothing written: no record, no code drawn, no notice, no audit entry
    assert snapshot(town.store, codes=[first.resident_code.value]) == before
    assert town.store.register.count() == 1


def test_a_second_arrival_of_the_same_person_is_refused(store_factory: StoreFactory) -> None:
    town = _country(store_factory).municipality(CHIYODA)
    first = _birth(town)
    before = snapshot(town.store)
    with pytest.raises(DuplicateRegistration) as info:
        _arrival(town)
    assert info.value.resident_code == first.resident_code.value
    assert snapshot(town.store) == before
    # an arrival registered first blocks a later birth of the same person too
    other = _arrival(town, name=_name("次郎", "ジロウ"), sex=Sex.MALE)
    with pytest.raises(DuplicateRegistration) as again:
        _birth(town, name=_name("次郎", "ジロウ"), sex=Sex.MALE)
    assert again.value.resident_code == other.resident_code.value


def test_the_override_names_the_record_checked_and_is_audited(
    store_factory: StoreFactory,
) -> None:
    town = _country(store_factory).municipality(CHIYODA)
    first = _birth(town)
    second = _birth(town, distinct_from=first.resident_code)
    assert second.resident_code != first.resident_code
    assert town.store.register.count() == 2
    details = _audit_details(town, "register.birth")
    assert details[0] == {"reason": "birth", "version": 1}
    assert details[1] == {
        "distinct_from": [first.resident_code.value],
        "reason": "birth",
        "version": 1,
    }
    # now two records match: an override must name both
    with pytest.raises(DuplicateRegistration) as info:
        _birth(town, distinct_from=[first.resident_code])
    assert info.value.resident_code == second.resident_code.value
    assert set(info.value.matches) == {first.resident_code.value, second.resident_code.value}
    third = _birth(town, distinct_from=(second.resident_code, first.resident_code))
    assert _audit_details(town, "register.birth")[-1]["distinct_from"] == sorted(
        [first.resident_code.value, second.resident_code.value]
    )
    # an arrival's override is audited the same way
    _arrival(
        town,
        distinct_from=[first.resident_code, second.resident_code, third.resident_code],
    )
    assert len(_audit_details(town, "register.arrival")[-1]["distinct_from"]) == 3


def test_an_override_cannot_be_given_blindly(store_factory: StoreFactory) -> None:
    town = _country(store_factory).municipality(CHIYODA)
    first = _birth(town)
    other = _birth(town, name=_name("次郎", "ジロウ"), sex=Sex.MALE)
    before = snapshot(town.store)
    # a code of a record that does not match (another person of the household)
    with pytest.raises(InvalidComponent, match="distinct_from") as info:
        _birth(town, distinct_from=other.resident_code)
    assert first.resident_code.value in str(info.value)
    # the matching one plus a stray one
    with pytest.raises(InvalidComponent, match="distinct_from"):
        _birth(town, distinct_from=[first.resident_code, other.resident_code])
    # an override where nothing matches
    with pytest.raises(InvalidComponent, match="none match"):
        _birth(
            town,
            name=_name("三郎", "サブロウ"),
            sex=Sex.MALE,
            distinct_from=first.resident_code,
        )
    with pytest.raises(InvalidComponent, match="distinct_from"):
        _arrival(town, name=_name("四郎", "シロウ"), distinct_from=first.resident_code)
    assert snapshot(town.store) == before


@pytest.mark.parametrize(
    "bad",
    ["00000000019", ["00000000019"], [], (), 19, [ResidentCode("00000000019"), None]],
)
def test_a_malformed_override_is_bad_input(bad: object) -> None:
    town = _country(_memory).municipality(CHIYODA)
    first = _birth(town)
    before = snapshot(town.store)
    with pytest.raises(InvalidFormat, match="distinct_from"):
        _birth(town, distinct_from=bad)
    with pytest.raises(InvalidFormat, match="distinct_from"):
        _arrival(town, distinct_from=bad)
    assert snapshot(town.store) == before
    assert [r.resident_code for r in town.store.register.scan()] == [first.resident_code.value]


def test_twins_and_other_near_matches_are_different_people(
    store_factory: StoreFactory,
) -> None:
    town = _country(store_factory).municipality(CHIYODA)
    first = _birth(town)
    # twins: same birth date and household, different names
    twin = _birth(town, name=_name("桃子", "モモコ"))
    # same name and birth date, another sex; another birth date; another household
    boy = _birth(town, name=_name("花子", "ハナコ"), sex=Sex.MALE)
    later = _birth(town, birth_date=date(2026, 3, 2))
    elsewhere = _birth(town, household=_household("H0002"))
    codes = {r.resident_code for r in (first, twin, boy, later, elsewhere)}
    assert len(codes) == 5
    assert town.store.register.count() == 5
    assert all("distinct_from" not in d for d in _audit_details(town, "register.birth"))


def test_names_are_compared_by_their_matching_key(store_factory: StoreFactory) -> None:
    # 渡邊 and 渡辺 are spellings of one name (the key folds variants), readings aside
    town = _country(store_factory).municipality(CHIYODA)
    first = _birth(town, name=PersonName(family="渡邊", given="花子"))
    with pytest.raises(DuplicateRegistration) as info:
        _birth(
            town,
            name=PersonName(
                family="渡辺", given="花子", family_reading="ワタナベ", given_reading="ハナコ"
            ),
        )
    assert info.value.resident_code == first.resident_code.value
    # 斉 and 斎 are distinct legal names: not the same person
    _birth(town, name=PersonName(family="斉藤", given="花子"))
    _birth(town, name=PersonName(family="斎藤", given="花子"))


def test_a_removed_record_does_not_block_a_registration(store_factory: StoreFactory) -> None:
    country = _country(store_factory)
    town = country.municipality(CHIYODA)
    first = _birth(town)
    town.record_death(first.resident_code, died_on=date(2026, 3, 2))
    again = _birth(town)
    assert again.resident_code != first.resident_code
    moved = _birth(town, name=_name("次郎", "ジロウ"), sex=Sex.MALE)
    town.move_abroad(moved.resident_code, departed_on=date(2026, 3, 3), destination="米国")
    # the person comes back with their code: their own removed record is no duplicate
    back = _arrival(
        town,
        name=_name("次郎", "ジロウ"),
        sex=Sex.MALE,
        resident_code=moved.resident_code,
    )
    assert back.resident_code == moved.resident_code
    assert town.history(moved.resident_code).current.internal_id == moved.internal_id


def test_a_returning_person_who_duplicates_a_current_record_is_refused(
    store_factory: StoreFactory,
) -> None:
    town = _country(store_factory).municipality(CHIYODA)
    moved = _birth(town)
    town.move_abroad(moved.resident_code, departed_on=date(2026, 3, 3), destination="米国")
    # meanwhile the person was registered again by mistake, with a fresh code
    again = _birth(town)
    before = snapshot(town.store)
    with pytest.raises(DuplicateRegistration) as info:
        _arrival(town, resident_code=moved.resident_code)
    assert info.value.resident_code == again.resident_code.value
    assert snapshot(town.store) == before


def test_the_error_survives_pickling() -> None:
    err = DuplicateRegistration(
        "already", resident_code="00000000019", matches=("00000000019", "00000000027")
    )
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.resident_code, copy.matches, str(copy)) == (
        err.resident_code,
        err.matches,
        str(err),
    )


_GIVEN = [("花子", "ハナコ"), ("桃子", "モモコ")]


@settings(deadline=None, max_examples=30)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(_GIVEN),
            st.sampled_from([date(2026, 3, 1), date(2026, 3, 2)]),
            st.sampled_from([Sex.FEMALE, Sex.MALE]),
            st.sampled_from(["H1", "H2"]),
        ),
        max_size=20,
    )
)
def test_each_person_is_registered_once_whatever_the_order(
    births: list[tuple[tuple[str, str], date, Sex, str]],
) -> None:
    # Births drawn from a small space repeat: the first of each person is registered,
    # every repeat is refused naming the first one's code, and nothing else changes.
    country = build_country(_memory, [CHIYODA], seed=5, codes_per_municipality=20)
    country.network.settle()
    town = country.municipality(CHIYODA)
    first: dict[tuple[str, date, Sex, str], ResidentCode] = {}
    for (given_name, reading), born, sex, household in births:
        person = (given_name, born, sex, household)
        arguments: dict[str, Any] = {
            "name": _name(given_name, reading),
            "birth_date": born,
            "sex": sex,
            "household": _household(household),
        }
        if person in first:
            before = snapshot(town.store)
            with pytest.raises(DuplicateRegistration) as info:
                _birth(town, **arguments)
            assert info.value.resident_code == first[person].value
            assert snapshot(town.store) == before
        else:
            first[person] = _birth(town, **arguments).resident_code
    assert town.store.register.count(status="registered") == len(first)
    assert town.store.code_pool.available(CHIYODA) == 20 - len(first)
