"""Property: nothing leaves without a log entry, and nothing outside the permission leaves.

For random agencies, appended-table rows (lawful or not), queries (by code or by
the four basic items, hits, misses and ambiguous ones) and asked items (none named,
or any non-empty set), every answer of :meth:`NationalCenter.provide` is matched by
provision-log entries one for one, each ``FOUND`` result carries exactly the items
asked for — every one its row permits when none is named — and never one outside
the permission (住基法30条の9〜30条の12: never the resident code; the individual
number only for a registered number use; 30条の30: only what the task needs); a
request for an item beyond the permission is refused with ``ItemsNotPermitted``, and
every refusal is logged with nothing provided (30条の16).
"""

from __future__ import annotations

import itertools
import random
from datetime import date

import attrs
from hypothesis import event, given
from hypothesis import strategies as st

from jukinet.domain.agency import AgencyUseTable, Item
from jukinet.domain.names import PersonName
from jukinet.domain.resident import (
    HEAD_OF_HOUSEHOLD,
    FamilyRegister,
    HouseholdMembership,
    ResidentRecord,
    Sex,
)
from jukinet.domain.resident_code import ResidentCode, calc_check_digit
from jukinet.errors import ItemsNotPermitted, NotPermitted
from jukinet.storage.memory import MemoryStore
from jukinet.testing.country import Country, build_country
from jukinet.tiers.messages import CENTER, NodeId, NodeKey
from jukinet.tiers.provision import (
    ByBasicItems,
    ByCode,
    Outcome,
    ProvidedIdentity,
    ProvisionRequest,
    seal_request,
)

TOWNS = ("131016", "131024", "271276")
AGENCIES = {
    # name: (recipients, number uses, locality)
    "nenkin": (("厚生労働省及び日本年金機構",), ("1-77",), None),
    "gaimu": (("外務省",), (), None),
    "chuo-city": (("市町村長",), (), "131024"),
    "osaka-pref": (("都道府県知事",), (), "270008"),
}
_FIELDS = {
    Item.NAME: ("name",),
    Item.BIRTH_DATE: ("birth_date",),
    Item.SEX: ("sex",),
    Item.ADDRESS: ("address",),
    Item.RESIDENT_CODE: ("resident_code",),
    Item.INDIVIDUAL_NUMBER: ("individual_number",),
    Item.CHANGE: ("change_kind", "change_reason", "change_date"),
}


@attrs.define
class _World:
    country: Country
    residents: list[ResidentRecord]
    keys: dict[str, NodeKey]
    serial: itertools.count[int]


_world: _World | None = None


def _memory(node: NodeId) -> MemoryStore:
    store = MemoryStore()
    store.create_schema()
    return store


def world() -> _World:
    """One small country for every example (requests never change identity data)."""
    global _world
    if _world is None:
        country = build_country(_memory, list(TOWNS), seed=21)
        country.network.settle()
        residents = []
        for n, (town, given) in enumerate(
            itertools.product(TOWNS, ("一郎", "花子", "同名")), start=1
        ):
            residents.append(
                country.municipality(town).register_birth(
                    name=PersonName(
                        family="佐藤",
                        given=given,
                        family_reading="サトウ",
                        given_reading="イチロウ",
                    ),
                    birth_date=date(2026, 1, 1 if given == "同名" else n),
                    sex=Sex.FEMALE if given == "花子" else Sex.MALE,
                    household=HouseholdMembership(
                        household_id=f"H{n}", relationship=HEAD_OF_HOUSEHOLD
                    ),
                    address="本町1丁目1番1号",
                    family_register=FamilyRegister(
                        domicile="東京都千代田区千代田1番", head="佐藤 一郎"
                    ),
                )
            )
        country.network.settle()
        rng = random.Random(5)
        keys = {}
        for name, (recipients, number_uses, locality) in AGENCIES.items():
            keys[name] = NodeKey.generate(NodeId.agency(name), rng)
            country.center.provision.register_agency(
                name,
                keys[name].public_bytes,
                recipients=recipients,
                number_uses=number_uses,
                locality=locality,
            )
        _world = _World(country, residents, keys, itertools.count(1))
    return _world


_USE_KEYS = [use.key for use in AgencyUseTable.load()]
#: Rows each agency may act under (so that half the examples get past the row check).
_LAWFUL = [("nenkin", "1-77"), ("gaimu", "1-41"), ("chuo-city", "2-1"), ("osaka-pref", "3-1")]


@st.composite
def queries(draw: st.DrawFn) -> ByCode | ByBasicItems:
    residents = world().residents
    person = draw(st.sampled_from(residents))
    kind = draw(st.sampled_from(["code", "unknown code", "items", "items, wrong date"]))
    if kind == "code":
        return ByCode(resident_code=person.resident_code)
    if kind == "unknown code":
        body = f"{draw(st.integers(0, 10**10 - 1)):010d}"
        return ByCode(resident_code=ResidentCode(body + calc_check_digit(body)))
    born = person.birth_date if kind == "items" else date(1990, 1, 1)
    sex = draw(st.sampled_from([person.sex, None]))
    return ByBasicItems(name=person.name, birth_date=born, sex=sex)


@given(
    agency_use=st.one_of(
        st.sampled_from(_LAWFUL),
        st.tuples(
            st.sampled_from(sorted(AGENCIES)),
            st.one_of(st.sampled_from(_USE_KEYS), st.sampled_from([u for _a, u in _LAWFUL])),
        ),
    ),
    batch=st.lists(queries(), min_size=1, max_size=6),
    asked=st.none() | st.frozensets(st.sampled_from(Item), min_size=1),
)
def test_nothing_leaves_unlogged_or_beyond_the_permission(
    agency_use: tuple[str, str],
    batch: list[ByCode | ByBasicItems],
    asked: frozenset[Item] | None,
) -> None:
    agency, use = agency_use
    w = world()
    center = w.country.center
    log = w.country.stores[CENTER].provision_log
    before = log.head()[0]
    request = ProvisionRequest(
        request_id=f"p-{next(w.serial)}",
        agency=agency,
        use=use,
        queries=tuple(batch),
        items=asked,
    )
    envelope = seal_request(w.keys[agency], CENTER, request, sent_at=w.country.clock.now())
    try:
        answer = center.provide(envelope)
    except NotPermitted as exc:
        event(f"refused: {type(exc).__name__}")
        entries = [r.entry for r in log.read(after=before)]
        assert [e.kind for e in entries] == ["refused"]
        assert entries[0].subject is None
        assert entries[0].items == ()
        refusal = str(exc)
        if isinstance(exc, ItemsNotPermitted):
            # Refused for the items only when the row itself was lawful to ask under.
            lawful = center.provision.uses.by_key(use).items(
                individual_number=use in AGENCIES[agency][1]
            )
            assert asked is not None
            assert not asked <= lawful
            assert all(item.value in refusal for item in asked - lawful)
        return
    entries = [r.entry for r in log.read(after=before)]
    assert {e.kind for e in entries} == {"provided"}
    assert all(e.request_id == request.request_id and e.agency == agency for e in entries)
    permitted = center.provision.uses.by_key(use).items(
        individual_number=use in AGENCIES[agency][1]
    )
    assert Item.RESIDENT_CODE not in permitted
    # Answered: whatever was asked is within the permission, and that is what is given.
    assert asked is None or asked <= permitted
    given_items = permitted if asked is None else asked
    assert answer.items == given_items
    event("items: " + ("row's" if asked is None else "asked"))
    found = [r for r in answer.results if r.outcome is Outcome.FOUND]
    event(f"answered, {'some' if found else 'none'} found")
    logged = [e for e in entries if e.subject is not None]
    assert len(logged) == len(found)  # one entry per person provided, none without
    by_code = {p.resident_code.value: p for p in w.residents}
    for result, entry in zip(found, logged, strict=True):
        identity = result.identity
        assert isinstance(identity, ProvidedIdentity)
        assert identity.items == given_items
        assert entry.items == tuple(sorted(i.value for i in given_items))
        person = by_code[entry.subject or ""]
        for item, fields in _FIELDS.items():
            for field in fields:
                value = getattr(identity, field)
                if item not in given_items:  # nothing beyond asked ∩ permitted leaves
                    assert value is None, (item, field)
                elif item is not Item.INDIVIDUAL_NUMBER:  # not everyone has one
                    assert value is not None, (item, field)
        if Item.NAME in given_items:
            assert identity.name == person.name
    for result in answer.results:
        if result.outcome is not Outcome.FOUND:
            assert result.identity is None
