"""Retention of identity information at the upper tiers (令30条の6・令30条の7).

The prefecture and the national centre keep a version notified after a 記載 or 修正
until 150 years after a newer notice for the same person arrived, and one notified
after a 消除 for 150 years from that notice. Each tier records the day a version
arrived; ``UpperTier.expire_history`` deletes what is past its years, logged in the
audit log. Restoring a municipality still works when histories no longer start at
version 1. Runs on every storage adapter.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jukinet.domain import retention
from jukinet.domain.names import PersonName
from jukinet.domain.resident import (
    HEAD_OF_HOUSEHOLD,
    FamilyRegister,
    HouseholdMembership,
    ResidentRecord,
    Sex,
)
from jukinet.domain.resident_code import ResidentCode
from jukinet.errors import InvalidFormat
from jukinet.storage.base import Store
from jukinet.testing.country import Country, StoreFactory, build_country
from jukinet.tiers import reconcile
from jukinet.tiers.messages import CENTER, Envelope, NodeId
from jukinet.tiers.upper import HISTORY_EXPIRED, UpperTier

CHIYODA, CHUO = "131016", "131024"
TOKYO = NodeId.prefecture("13")
LOST = NodeId.municipality(CHIYODA)
DAY_0 = date(2026, 4, 1)  # build_country's clock starts on this day (JST)


def _birth(country: Country, town: str, given: str) -> ResidentRecord:
    return country.municipality(town).register_birth(
        name=PersonName(
            family="山田", given=given, family_reading="ヤマダ", given_reading="タロウ"
        ),
        birth_date=country.clock.today(),
        sex=Sex.MALE,
        household=HouseholdMembership(household_id=f"H{given}", relationship=HEAD_OF_HOUSEHOLD),
        address="千代田1丁目1番1号",
        family_register=FamilyRegister(domicile="東京都千代田区千代田1番", head="山田 一郎"),
    )


def _advance_to(country: Country, day: date) -> None:
    country.clock.advance(days=(day - country.clock.today()).days)
    assert country.clock.today() == day


def _tiers(country: Country) -> list[UpperTier]:
    return [country.prefecture("13"), country.center]


def _versions(store: Store, code: str) -> list[int]:
    return [row.version for row in store.identities.history(code)]


def _expiries(tier: UpperTier) -> list[dict[str, object]]:
    return [
        json.loads(record.entry.detail)
        for record in tier.store.audit.read(action=HISTORY_EXPIRED, limit=100)
    ]


def _lived(factory: StoreFactory) -> tuple[Country, str, str]:
    """一郎 born on day 0 and moved within 千代田区 on day 10; 二郎 born on day 0 and
    died on day 10. Returns the country and the two codes."""
    country = build_country(factory, [CHIYODA, CHUO], seed=11)
    country.network.settle()
    town = country.municipality(CHIYODA)
    ichiro = _birth(country, CHIYODA, "一郎").resident_code
    jiro = _birth(country, CHIYODA, "二郎").resident_code
    country.network.settle()
    country.clock.advance(days=10)
    today = country.clock.today()
    town.move_within(ichiro, address="千代田2丁目2番2号", moved_on=today)
    town.record_death(jiro, died_on=today)
    country.network.settle()
    return country, ichiro.value, jiro.value


def test_each_tier_records_the_day_a_version_arrived(store_factory: StoreFactory) -> None:
    country, ichiro, jiro = _lived(store_factory)
    for node in (TOKYO, CENTER):
        store = country.stores[node]
        assert [r.received_on for r in store.identities.history(ichiro)] == [
            DAY_0,
            DAY_0 + timedelta(days=10),
        ]
        assert [(r.removed, r.received_on) for r in store.identities.history(jiro)] == [
            (False, DAY_0),
            (True, DAY_0 + timedelta(days=10)),
        ]


def test_superseded_and_removed_versions_go_150_years_on(store_factory: StoreFactory) -> None:
    # 一郎's birth was superseded on day 10, 二郎's death notified on day 10 (and his
    # birth superseded by it): all three are kept through day 10 + 150 years.
    country, ichiro, jiro = _lived(store_factory)
    last_day = retention.kept_until(DAY_0 + timedelta(days=10))
    assert last_day == date(2176, 4, 11)
    _advance_to(country, last_day)
    for tier in _tiers(country):
        assert tier.expire_history() == 0
        assert _versions(tier.store, ichiro) == [1, 2]
        assert _versions(tier.store, jiro) == [1, 2]
        assert _expiries(tier) == [{"count": 0, "received_before": "2026-04-11"}]

    country.clock.advance(days=1)
    for tier in _tiers(country):
        assert tier.expire_history() == 3
        store = tier.store
        assert _versions(store, ichiro) == [2]  # the newest stays: no newer notice
        current = store.identities.current(ichiro)
        assert current is not None
        assert current.received_on == DAY_0 + timedelta(days=10)
        assert store.identities.history(jiro) == []  # 150 years after his removal
        assert store.identities.current(jiro) is None
        assert store.identities.count(municipality=CHIYODA) == 1
        assert _expiries(tier)[-1] == {"count": 3, "received_before": "2026-04-12"}
        assert tier.expire_history() == 0  # nothing more is due
    # The upper tiers still agree with the register about who lives there.
    town = country.municipality(CHIYODA)
    below = reconcile.snapshot_of_entries(CHIYODA, town.register_entries())
    for node in (TOKYO, CENTER):
        assert not reconcile.compare(
            below, reconcile.snapshot_of_store(country.stores[node], CHIYODA)
        )


def test_a_notice_after_expiry_is_the_next_version(store_factory: StoreFactory) -> None:
    country, ichiro, _ = _lived(store_factory)
    _advance_to(country, date(2176, 4, 12))
    for tier in _tiers(country):
        tier.expire_history()
    country.municipality(CHIYODA).move_within(
        ResidentCode(ichiro), address="千代田3丁目3番3号", moved_on=country.clock.today()
    )
    country.network.settle()
    for node in (TOKYO, CENTER):
        assert _versions(country.stores[node], ichiro) == [2, 3]
        newest = country.stores[node].identities.history(ichiro)[-1]
        assert newest.received_on == date(2176, 4, 12)
    # The centre compares the move with the version before it, not with itself: an
    # address change revokes the signature certificate (JPKI法12条1号).
    revoked = [n for _, n in country.center.revocations() if n.resident_code.value == ichiro]
    assert [n.event_date for n in revoked] == [DAY_0 + timedelta(days=10), date(2176, 4, 12)]


def test_a_29_february_runs_to_28_february(store_factory: StoreFactory) -> None:
    country = build_country(
        store_factory, [CHIYODA], seed=3, start=datetime(2028, 2, 29, 1, 0, tzinfo=UTC)
    )
    country.network.settle()
    taro = _birth(country, CHIYODA, "太郎").resident_code
    country.network.settle()
    country.municipality(CHIYODA).move_within(
        taro, address="千代田2丁目2番2号", moved_on=country.clock.today()
    )  # supersedes the birth on 2028-02-29
    country.network.settle()
    _advance_to(country, date(2178, 2, 28))  # 2178 has no 29 February
    for tier in _tiers(country):
        assert tier.expire_history() == 0
    country.clock.advance(days=1)
    for tier in _tiers(country):
        assert tier.expire_history() == 1
        assert _versions(tier.store, taro.value) == [2]


def _lose(country: Country, factory: StoreFactory) -> list[Envelope]:
    """The two restore packages of 千代田区, which then loses its storage."""
    packages = country.prefecture("13").restore_package(CHIYODA)
    packages += country.center.restore_package(CHIYODA)
    country.network.crash(LOST)
    country.stores[LOST] = factory(LOST)
    country.restart(LOST)
    return packages


@pytest.mark.parametrize("expired_at", [("prefecture", "centre"), ("prefecture",)])
def test_a_municipality_restores_after_expiry(
    store_factory: StoreFactory, expired_at: tuple[str, ...]
) -> None:
    country, ichiro, jiro = _lived(store_factory)
    town = country.municipality(CHIYODA)
    record = town.resident(ResidentCode(ichiro))
    _advance_to(country, date(2176, 4, 12))
    tiers = {"prefecture": country.prefecture("13"), "centre": country.center}
    for name in expired_at:
        assert tiers[name].expire_history() == 3
    packages = _lose(country, store_factory)
    town = country.municipality(CHIYODA)
    report = town.restore(packages)

    # Each tier's package starts 一郎 where that tier's history does; together they
    # give the longer history. 二郎 is gone from a tier that expired him.
    expected = [2] if len(expired_at) == 2 else [1, 2]
    restored = town.store.identities.history(ichiro)
    assert [row.version for row in restored] == expected
    assert [row.received_on for row in restored] == [None] * len(expected)  # not carried
    assert report.versions == len(expected) + (0 if len(expired_at) == 2 else 2)
    assert _versions(town.store, jiro) == ([] if len(expired_at) == 2 else [1, 2])
    assert report.registered == 1

    # 再製 (住基法施行令16条), then the links carry on: the remade record is the next
    # version at both tiers.
    assert [info.resident_code.value for info in town.to_remake()] == [ichiro]
    town.remake(record)
    country.network.settle()
    for node in (TOKYO, CENTER):
        store = country.stores[node]
        assert store.identities.history(ichiro)[-1].reason == "recreation_entry"
        assert store.identities.last_versions([ichiro]) == {ichiro: 3}
    below = reconcile.snapshot_of_entries(CHIYODA, town.register_entries())
    for node in (TOKYO, CENTER):
        assert not reconcile.compare(
            below, reconcile.snapshot_of_store(country.stores[node], CHIYODA)
        )
    assert town.health().backlog == 0


@given(
    start=st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)),
    today=st.dates(min_value=date(2040, 1, 1), max_value=date(2400, 12, 31)),
)
def test_the_cutoff_is_where_the_150_years_end(start: date, today: date) -> None:
    """A period that ran from ``start`` is over ``today`` exactly when ``start`` is before
    the cut-off (令30条の6・令30条の7), 29 February included."""
    assert (start < retention.expiry_cutoff(today)) == (retention.kept_until(start) < today)


def test_retention_arguments_are_dates() -> None:
    for bad in (datetime(2176, 4, 12, tzinfo=UTC), "2176-04-12", None):
        with pytest.raises(InvalidFormat):
            retention.expiry_cutoff(bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidFormat):
            retention.kept_until(bad)  # type: ignore[arg-type]
    assert retention.RETENTION_YEARS == 150
