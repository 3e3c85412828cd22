"""Progress callbacks on long work (issue 14): initial load, restore, reconciliation,
designation of codes and provision batches.

For each operation, on every storage adapter: the callback sees ``done`` never go
down and a last call with ``done == total``; the result and the storage are the
same with and without a callback; and a callback that raises leaves the storage
exactly as it was (the operation's one unit of work rolls back).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from jukinet.domain.resident import ResidentRecord
from jukinet.errors import InvalidComponent
from jukinet.progress import Progress, check_callback, report
from jukinet.storage.base import Store
from jukinet.testing import conformance, population
from jukinet.testing.country import Country, StoreFactory, build_country
from jukinet.tiers import cs, municipality, provision, reconcile, upper
from jukinet.tiers.messages import CENTER, Envelope, NodeId, NodeKey
from jukinet.tiers.provision import ByCode, ProvisionRequest, seal_request

CHIYODA = "131016"
TOWNS = (CHIYODA,)
LOST = NodeId.municipality(CHIYODA)
PENSION = "1-77"  # 別表第一 77: 厚生労働省及び日本年金機構, 国民年金法
PENSION_BODY = "厚生労働省及び日本年金機構"


class Stop(Exception):
    """What the failing callbacks raise."""


class Seen:
    """A callback that records what it is told; with ``fail_at`` it raises on that call."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.calls: list[Progress] = []
        self.fail_at = fail_at

    def __call__(self, progress: Progress) -> None:
        self.calls.append(progress)
        if self.fail_at is not None and len(self.calls) >= self.fail_at:
            raise Stop(f"stopped at call {len(self.calls)}")

    def check(self, task: str, total: int, unit: str) -> None:
        """``done`` never goes down, every call names the task, the last is complete."""
        assert self.calls, "the callback was never called"
        dones = [p.done for p in self.calls]
        assert dones == sorted(dones)
        assert {(p.task, p.unit) for p in self.calls} == {(task, unit)}
        last = self.calls[-1]
        assert last.done == last.total == total


def _state(store: Store) -> dict[str, Any]:
    return conformance.snapshot(store, municipalities=TOWNS)


def _country(factory: StoreFactory, codes: int = 30) -> Country:
    country = build_country(factory, TOWNS, seed=21, codes_per_municipality=codes)
    country.network.settle()
    return country


def _people(country: Country, count: int) -> list[ResidentRecord]:
    town = country.municipality(CHIYODA)
    codes = town.reserve_codes(count)
    return population.residents(random.Random(3), town.code, codes, today=country.clock.today())


# --- the value ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"task": "", "done": 0, "total": 1}, "task"),
        ({"task": " ", "done": 0, "total": 1}, "task"),
        ({"task": "load", "done": -1, "total": 1}, "done"),
        ({"task": "load", "done": True, "total": 1}, "done"),
        ({"task": "load", "done": 1.5, "total": 2}, "done"),
        ({"task": "load", "done": 0, "total": -1}, "total"),
        ({"task": "load", "done": 0, "total": "9"}, "total"),
        ({"task": "load", "done": 3, "total": 2}, "done"),
        ({"task": "load", "done": 0, "total": 1, "unit": ""}, "unit"),
    ],
)
def test_a_value_that_cannot_be_progress_is_refused(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidComponent) as caught:
        Progress(**fields)
    assert caught.value.field == field


def test_fraction_and_text() -> None:
    assert Progress("restore", 5, 20, "versions").fraction == 0.25
    assert Progress("restore", 0, 0).fraction == 1.0
    assert Progress("reconciliation", 7, None, "codes").fraction is None
    assert str(Progress("reconciliation", 1234, None, "codes")) == "reconciliation: 1,234 codes"


def test_report_without_a_callback_does_nothing_and_a_non_callable_is_refused() -> None:
    report(None, "load", 1, 1)
    with pytest.raises(InvalidComponent):
        check_callback("print")


# --- initial load -------------------------------------------------------------


def test_initial_load_reports_per_batch(
    store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(municipality, "LOAD_BATCH", 7)
    plain, watched = _country(store_factory), _country(store_factory)
    today = plain.clock.today()
    loaded = plain.municipality(CHIYODA).initial_load(_people(plain, 20), as_of=today)
    seen = Seen()
    people = _people(watched, 20)
    assert watched.municipality(CHIYODA).initial_load(people, as_of=today, progress=seen) == loaded
    seen.check("initial load", 20, "records")
    assert [p.done for p in seen.calls] == [7, 14, 20]
    assert _state(watched.stores[LOST]) == _state(plain.stores[LOST])


def test_initial_load_of_nothing_reports_once(store_factory: StoreFactory) -> None:
    country = _country(store_factory)
    seen = Seen()
    assert (
        country.municipality(CHIYODA).initial_load([], as_of=country.clock.today(), progress=seen)
        == 0
    )
    assert seen.calls == [Progress("initial load", 0, 0)]


@pytest.mark.parametrize("fail_at", [1, 3])
def test_a_raising_callback_loads_nothing(
    store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch, fail_at: int
) -> None:
    monkeypatch.setattr(municipality, "LOAD_BATCH", 7)
    country = _country(store_factory)
    people = _people(country, 20)
    before = _state(country.stores[LOST])
    with pytest.raises(Stop):
        country.municipality(CHIYODA).initial_load(
            people, as_of=country.clock.today(), progress=Seen(fail_at)
        )
    assert _state(country.stores[LOST]) == before


def test_a_progress_that_is_not_callable_is_refused_before_any_work(
    store_factory: StoreFactory,
) -> None:
    country = _country(store_factory)
    people = _people(country, 3)
    before = _state(country.stores[LOST])
    with pytest.raises(InvalidComponent, match="progress"):
        country.municipality(CHIYODA).initial_load(
            people,
            as_of=country.clock.today(),
            progress=42,  # type: ignore[arg-type]
        )
    assert _state(country.stores[LOST]) == before


# --- restore ------------------------------------------------------------------


def _disaster(factory: StoreFactory) -> tuple[Country, list[Envelope]]:
    """A municipality with a history of 12 people, then its storage lost."""
    country = _country(factory)
    town = country.municipality(CHIYODA)
    people = _people(country, 12)
    town.initial_load(people, as_of=country.clock.today())
    country.clock.advance(days=3)
    for n, person in enumerate(people[:6]):  # some histories of two versions
        town.move_within(
            person.resident_code, address=f"千代田{n + 1}丁目1番1号", moved_on=country.clock.today()
        )
    country.network.settle()
    packages = country.prefecture("13").restore_package(CHIYODA)
    packages += country.center.restore_package(CHIYODA)
    country.network.crash(LOST)
    country.stores[LOST] = factory(LOST)
    country.restart(LOST)
    return country, packages


@pytest.mark.parametrize("fail_at", [1, 2])
def test_restore_reports_and_a_raising_callback_leaves_the_store_empty(
    store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch, fail_at: int
) -> None:
    monkeypatch.setattr(cs, "RESTORE_BATCH", 5)
    plain, packages = _disaster(store_factory)
    expected = plain.municipality(CHIYODA).restore(packages)

    country, packages = _disaster(store_factory)
    town = country.municipality(CHIYODA)
    empty = _state(country.stores[LOST])
    with pytest.raises(Stop):
        town.restore(packages, progress=Seen(fail_at))
    assert _state(country.stores[LOST]) == empty

    seen = Seen()
    assert town.restore(packages, progress=seen) == expected
    seen.check("restore", expected.versions, "versions")
    assert len(seen.calls) >= 3
    assert _state(country.stores[LOST]) == _state(plain.stores[LOST])


def test_code_batches_never_split_a_history() -> None:
    class Row:
        def __init__(self, code: str) -> None:
            self.resident_code = code

    codes = ["a", "a", "a", "b", "c", "c", "d"]
    batches = list(cs._code_batches([Row(c) for c in codes], 2))  # type: ignore[misc]
    assert batches == [(0, 3), (3, 6), (6, 7)]
    assert list(cs._code_batches([], 2)) == []


# --- reconciliation -----------------------------------------------------------


def test_reconciliation_snapshots_report(
    store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reconcile, "PROGRESS_EVERY", 4)
    country = _country(store_factory)
    town = country.municipality(CHIYODA)
    town.initial_load(_people(country, 10), as_of=country.clock.today())
    country.network.settle()

    entries = list(town.register_entries())
    seen = Seen()
    below = reconcile.snapshot_of_entries(CHIYODA, entries, progress=seen)
    assert below.entries == reconcile.snapshot_of_entries(CHIYODA, entries).entries
    seen.check("reconciliation", len(entries), "people")
    assert [p.done for p in seen.calls] == [4, 8, 10]

    def unsized() -> Iterator[cs.RegisterEntry]:
        yield from entries

    seen = Seen()
    reconcile.snapshot_of_entries(CHIYODA, unsized(), progress=seen)
    assert [p.total for p in seen.calls] == [None, None, 10]

    seen = Seen()
    store = country.stores[CENTER]
    above = reconcile.snapshot_of_store(store, CHIYODA, progress=seen)
    assert above.entries == reconcile.snapshot_of_store(store, CHIYODA).entries
    seen.check("reconciliation", 10, "codes")
    assert not reconcile.compare(below, above)

    with pytest.raises(Stop):
        reconcile.snapshot_of_store(store, CHIYODA, progress=Seen(1))


# --- designation --------------------------------------------------------------


@pytest.mark.parametrize("fail_at", [1, 3])
def test_designation_reports_and_a_raising_callback_designates_nothing(
    store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch, fail_at: int
) -> None:
    monkeypatch.setattr(upper, "DESIGNATION_BATCH", 4)
    plain, watched = _country(store_factory), _country(store_factory)
    expected = plain.center.designate_codes(CHIYODA, 10)
    seen = Seen()
    assert watched.center.designate_codes(CHIYODA, 10, progress=seen) == expected
    seen.check("designation", 10, "codes")
    assert [p.done for p in seen.calls] == [4, 8, 10]
    assert _state(watched.stores[CENTER]) == _state(plain.stores[CENTER])

    before = _state(watched.stores[CENTER])
    with pytest.raises(Stop):
        watched.center.designate_codes(CHIYODA, 10, progress=Seen(fail_at))
    assert _state(watched.stores[CENTER]) == before


# --- provision ------------------------------------------------------------------


def _agency(country: Country) -> NodeKey:
    key = NodeKey.generate(NodeId.agency("nenkin"), random.Random(4))
    country.center.provision.register_agency("nenkin", key.public_bytes, recipients=[PENSION_BODY])
    return key


def _ask(country: Country, key: NodeKey, request_id: str, people: list[ResidentRecord]) -> Envelope:
    request = ProvisionRequest(
        request_id=request_id,
        agency="nenkin",
        use=PENSION,
        queries=tuple(ByCode(resident_code=p.resident_code) for p in people),
    )
    return seal_request(key, CENTER, request, sent_at=country.clock.now())


@pytest.mark.parametrize("fail_at", [1, 3])
def test_a_provision_batch_reports_and_a_raising_callback_provides_nothing(
    store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch, fail_at: int
) -> None:
    monkeypatch.setattr(provision, "PROVISION_BATCH", 2)
    country = _country(store_factory)
    people = _people(country, 5)
    country.municipality(CHIYODA).initial_load(people, as_of=country.clock.today())
    country.network.settle()
    key = _agency(country)
    plain = country.center.provide(_ask(country, key, "plain", people))

    before = _state(country.stores[CENTER])
    with pytest.raises(Stop):
        country.center.provide(_ask(country, key, "watched", people), progress=Seen(fail_at))
    assert _state(country.stores[CENTER]) == before

    seen = Seen()
    answer = country.center.provide(_ask(country, key, "watched", people), progress=seen)
    assert answer.results == plain.results
    seen.check("provision", 5, "queries")
    assert [p.done for p in seen.calls] == [2, 4, 5]
