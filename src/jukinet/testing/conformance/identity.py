"""Conformance tests of the identity copies of the upper tiers (``Store.identities``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import attrs
import pytest
from hypothesis import given

from jukinet.domain.identity import IdentityNotice
from jukinet.domain.resident import (
    Sex,
)
from jukinet.domain.resident_code import ResidentCode
from jukinet.errors import (
    IntegrityError,
    InterfaceError,
    JukinetError,
    ValidationError,
)
from jukinet.storage import mapping
from jukinet.storage.base import Store, UnitOfWork
from jukinet.storage.records import (
    IdentityQuery,
)
from jukinet.testing import strategies as jst
from jukinet.testing.conformance._rows import (
    BAD_CHECK_DIGIT_CODE,
    MUNICIPALITIES,
    _by_version,
    _fresh_serial,
    _scan_identities,
    snapshot,
)
from jukinet.testing.conformance.hooks import SETTINGS, ConformanceHooks


class IdentityConformance(ConformanceHooks):
    """Conformance tests of the identity copies of the upper tiers (``Store.identities``)."""

    # =============================================================================
    # identities
    # =============================================================================

    def test_identity_round_trip(self, store: Store) -> None:
        code = self.rows.code(1)
        v1 = self.rows.identity_row(code, 1)
        v2 = self.rows.identity_row(code, 2, rest="千代田2丁目3番4号")
        with store.unit_of_work() as uow:
            store.identities.append(uow, [v1, v2])
        assert store.identities.current(code) == v2
        assert store.identities.history(code) == [v1, v2]
        assert mapping.notice(v2) == mapping.notice(store.identities.current(code) or v1)
        assert store.identities.current(self.rows.code(2)) is None
        assert store.identities.history(self.rows.code(2)) == []
        changed = self.rows.identity_row(self.rows.code(2), 1, previous_code=code)
        with store.unit_of_work() as uow:
            store.identities.append(uow, [changed])
        assert store.identities.current(self.rows.code(2)) == changed
        assert (store.identities.current(self.rows.code(2)) or v1).previous_resident_code == code

    @SETTINGS
    @given(item=jst.identity_notices())
    def test_identity_round_trip_of_generated_notices(
        self, store: Store, item: IdentityNotice
    ) -> None:
        code = ResidentCode(self.rows.code(8_000_000_000 + _fresh_serial()))
        if item.previous_resident_code == code:  # pragma: no cover - one in 10**10
            return
        item = attrs.evolve(item, info=attrs.evolve(item.info, resident_code=code))
        row = mapping.identity_row(item, 1)
        with store.unit_of_work() as uow:
            store.identities.append(uow, [row])
        assert store.identities.current(code.value) == row
        assert store.identities.history(code.value) == [row]
        assert mapping.notice(store.identities.current(code.value) or row) == item
        if not row.removed:
            query = IdentityQuery(name_key=row.name_key, birth_date=row.birth_date)
            assert row in store.identities.search(query)

    def test_identity_version_twice_or_skipped_is_refused(self, store: Store) -> None:
        code = self.rows.code(1)
        v1 = self.rows.identity_row(code, 1)
        with store.unit_of_work() as uow:
            store.identities.append(uow, [v1])
        before = snapshot(store)
        bad_batches = [
            [v1],
            [self.rows.identity_row(code, 3)],
            [self.rows.identity_row(self.rows.code(2), 2)],
            [self.rows.identity_row(code, 2), self.rows.identity_row(code, 2)],
        ]
        new_code = self.rows.code(3)
        two = [self.rows.identity_row(new_code, 1), self.rows.identity_row(new_code, 2)]
        with pytest.raises(IntegrityError), store.unit_of_work() as uow:
            store.identities.bulk_load(uow, two)
        assert snapshot(store) == before
        for batch in bad_batches:
            with pytest.raises(IntegrityError), store.unit_of_work() as uow:
                store.identities.append(uow, batch)
            assert snapshot(store) == before
            with pytest.raises(IntegrityError), store.unit_of_work() as uow:
                store.identities.bulk_load(uow, batch)
            assert snapshot(store) == before

    def test_identity_batch_with_one_bad_row_writes_nothing(self, store: Store) -> None:
        before = snapshot(store)
        good = [self.rows.identity_row(self.rows.code(n), 1) for n in range(1, 10)]
        batches: list[list[Any]] = [
            [*good, good[2]],
            [*good, self.rows.register_row("A1", 1, code=self.rows.code(10))],
            [*good, b"bytes"],
        ]
        for batch in batches:
            with pytest.raises(JukinetError), store.unit_of_work() as uow:
                store.identities.append(uow, batch)
            assert snapshot(store) == before
        not_a_row: list[Any] = [*good, "row"]
        with pytest.raises(InterfaceError), store.unit_of_work() as uow:
            store.identities.bulk_load(uow, not_a_row)
        assert snapshot(store) == before

    def test_identity_history_is_never_overwritten(self, store: Store) -> None:
        # The prefecture and J-LIS keep every notice (住基法30条の6第3項, 30条の7; 令30条の6).
        code = self.rows.code(1)
        v1 = self.rows.identity_row(code, 1)
        with store.unit_of_work() as uow:
            store.identities.append(uow, [v1])
        v2 = self.rows.identity_row(code, 2, name="山田 花子", reading="ヤマダ ハナコ")
        v3 = self.rows.identity_row(
            code, 3, name="山田 花子", reading="ヤマダ ハナコ", removed=True
        )
        for row in (v2, v3):
            with store.unit_of_work() as uow:
                store.identities.append(uow, [row])
        history = store.identities.history(code)
        assert history == [v1, v2, v3]
        assert history[0].payload == v1.payload
        assert store.identities.current(code) == v3

    def test_identity_search_by_the_four_basic_items(self, store: Store) -> None:
        born = date(1975, 5, 5)
        takahashi = self.rows.identity_row(
            self.rows.code(1), 1, name="髙橋 一郎", reading="タカハシ イチロウ", birth_date=born
        )
        same_name_woman = self.rows.identity_row(
            self.rows.code(2),
            1,
            name="高橋 一郎",
            reading=None,
            birth_date=born,
            sex=Sex.FEMALE,
            municipality=MUNICIPALITIES[1],
            rest="銀座1丁目1番1号",
        )
        other_birthday = self.rows.identity_row(
            self.rows.code(3), 1, name="高橋 一郎", birth_date=date(1975, 5, 6)
        )
        saito = self.rows.identity_row(self.rows.code(4), 1, name="斉藤 一郎", birth_date=born)
        removed = self.rows.identity_row(self.rows.code(5), 1, name="高橋 一郎", birth_date=born)
        renamed = self.rows.identity_row(self.rows.code(6), 1, name="高橋 一郎", birth_date=born)
        with store.unit_of_work() as uow:
            store.identities.bulk_load(
                uow, [takahashi, same_name_woman, other_birthday, saito, removed, renamed]
            )
            store.identities.append(
                uow,
                [
                    self.rows.identity_row(
                        self.rows.code(5), 2, name="高橋 一郎", birth_date=born, removed=True
                    ),
                    self.rows.identity_row(
                        self.rows.code(6), 2, name="佐藤 一郎", reading=None, birth_date=born
                    ),
                ],
            )
        query = mapping.identity_query("高橋 一郎", born)
        assert store.identities.search(query) == [takahashi, same_name_woman]
        assert store.identities.search(mapping.identity_query("髙橋　一郎", born)) == [
            takahashi,
            same_name_woman,
        ]
        assert store.identities.search(query, limit=1) == [takahashi]
        assert store.identities.search(mapping.identity_query("高橋 一郎", born, Sex.FEMALE)) == [
            same_name_woman
        ]
        by_address = mapping.identity_query(
            "高橋 一郎", born, address="東京都中央区銀座一丁目1番1号"
        )
        assert store.identities.search(by_address) == [same_name_woman]
        nowhere = mapping.identity_query("高橋 一郎", born, address="東京都港区芝公園4丁目2番8号")
        assert store.identities.search(nowhere) == []
        assert store.identities.search(mapping.identity_query("斎藤 一郎", born)) == []
        assert store.identities.search(mapping.identity_query("佐藤 一郎", born)) == [
            store.identities.current(self.rows.code(6))
        ]

    def test_identity_scan_count_and_municipality(self, store: Store) -> None:
        rows = [
            self.rows.identity_row(
                self.rows.code(n), 1, municipality=MUNICIPALITIES[n % 3], rest="1番地"
            )
            for n in range(30)
        ]
        with store.unit_of_work() as uow:
            store.identities.bulk_load(uow, rows)
        moved = self.rows.identity_row(
            self.rows.code(0), 2, municipality=MUNICIPALITIES[1], rest="2番地"
        )
        with store.unit_of_work() as uow:
            store.identities.append(uow, [moved])
        current = [moved, *rows[1:]]
        assert _scan_identities(store, page=7) == current
        for m in MUNICIPALITIES:
            # per municipality: its newest word on each code (row 0 is in two)
            expected = [r for r in [*rows[:1], *current] if r.municipality == m]
            assert _scan_identities(store, m, page=4) == expected
            assert store.identities.count(municipality=m) == len(expected)
        assert store.identities.count() == 30
        assert store.identities.scan(after=rows[27].resident_code) == rows[28:]

    def test_identity_current_many_crosses_chunks(self, store: Store) -> None:
        rows = [self.rows.identity_row(self.rows.code(n), 1) for n in range(1, 1201)]
        with store.unit_of_work() as uow:
            assert store.identities.bulk_load(uow, rows) == 1200
        unknown = [self.rows.code(n) for n in range(9000, 9300)]
        found = store.identities.current_many([*unknown, *(r.resident_code for r in rows)])
        assert found == {r.resident_code: r for r in rows}
        assert store.identities.current_many([]) == {}

    def test_identity_bad_arguments_raise_and_write_nothing(self, store: Store) -> None:
        row = self.rows.identity_row(self.rows.code(1), 1)
        before = snapshot(store)
        query = IdentityQuery(name_key="山田太郎", birth_date=date(1980, 4, 1))
        reads: list[tuple[type[JukinetError], Callable[[], object]]] = [
            (ValidationError, lambda: store.identities.current(BAD_CHECK_DIGIT_CODE)),
            (ValidationError, lambda: store.identities.current(None)),  # type: ignore[arg-type]
            (ValidationError, lambda: store.identities.history("123")),
            (ValidationError, lambda: store.identities.current_many(["x"])),
            (InterfaceError, lambda: store.identities.search("山田太郎")),  # type: ignore[arg-type]
            (ValidationError, lambda: store.identities.search(query, limit=-1)),
            (ValidationError, lambda: store.identities.scan(municipality="131017")),
            (ValidationError, lambda: store.identities.scan(after=BAD_CHECK_DIGIT_CODE)),
            (ValidationError, lambda: store.identities.count(municipality="tokyo")),
        ]
        for error, call in reads:
            with pytest.raises(error):
                call()
        writes: list[tuple[type[JukinetError], Callable[[UnitOfWork], object]]] = [
            (InterfaceError, lambda uow: store.identities.append(uow, [row, {}])),  # type: ignore[list-item]
            (InterfaceError, lambda uow: store.identities.append(uow, row)),  # type: ignore[arg-type]
            (InterfaceError, lambda uow: store.identities.bulk_load(uow, [query])),  # type: ignore[list-item]
            (InterfaceError, lambda _uow: store.identities.append(object(), [row])),  # type: ignore[arg-type]
        ]
        for error, write in writes:
            with pytest.raises(error), store.unit_of_work() as uow:
                write(uow)
            assert snapshot(store) == before

    def test_identity_a_late_removal_never_hides_the_new_registration(self, store: Store) -> None:
        # A person moves from 千代田区 (A) to 中央区 (B). B's 転入 notice travels on
        # B's link and arrives before A's 転出 notice: the person is B's all along.
        a, b, c = MUNICIPALITIES
        code = self.rows.code(1)
        born = self.rows.identity_row(code, 1, municipality=a, rest="1番地")
        entry_b = self._move(code, 2, b, rest="2番地")
        with store.unit_of_work() as uow:
            store.identities.append(uow, [born])
        with store.unit_of_work() as uow:
            store.identities.append(uow, [entry_b])
        # the window: both municipalities' latest word is "registered"
        assert store.identities.current(code) == entry_b
        query = IdentityQuery(name_key=born.name_key, birth_date=born.birth_date)
        assert sorted(store.identities.search(query), key=_by_version) == [born, entry_b]
        removal_a = self._move(code, 3, a, removed=True)
        with store.unit_of_work() as uow:
            store.identities.append(uow, [removal_a])  # late
        assert store.identities.current(code) == entry_b
        assert store.identities.current_many([code]) == {code: entry_b}
        assert store.identities.search(query) == [entry_b]
        assert store.identities.scan() == [entry_b]
        assert store.identities.scan(municipality=a) == [removal_a]  # removed included
        assert store.identities.scan(municipality=b) == [entry_b]
        assert store.identities.scan(municipality=c) == []
        counts = [store.identities.count(municipality=m) for m in (a, b, c)]
        assert (store.identities.count(), counts) == (1, [1, 1, 0])
        assert store.identities.history(code) == [born, entry_b, removal_a]
        assert store.identities.last_versions([code]) == {code: 3}
        # then B removes the person (a death): every word is a removal, the newest wins
        death_b = self.rows.identity_row(code, 4, municipality=b, rest="2番地", removed=True)
        with store.unit_of_work() as uow:
            store.identities.append(uow, [death_b])
        assert store.identities.current(code) == death_b
        assert store.identities.search(query) == []
        assert store.identities.scan() == [death_b]
        assert store.identities.scan(municipality=a) == [removal_a]
        assert store.identities.scan(municipality=b) == [death_b]
        assert store.identities.count() == 1

    def test_identity_a_move_whose_removal_arrives_first(self, store: Store) -> None:
        a, b, _ = MUNICIPALITIES
        code = self.rows.code(1)
        born = self.rows.identity_row(code, 1, municipality=a, rest="1番地")
        removal_a = self._move(code, 2, a, removed=True)
        entry_b = self._move(code, 3, b)
        with store.unit_of_work() as uow:
            store.identities.append(uow, [born])
        with store.unit_of_work() as uow:
            store.identities.append(uow, [removal_a])
        # between the two notices the person is nowhere: the removal is current
        assert store.identities.current(code) == removal_a
        query = IdentityQuery(name_key=born.name_key, birth_date=born.birth_date)
        assert store.identities.search(query) == []
        with store.unit_of_work() as uow:
            store.identities.append(uow, [entry_b])
        assert store.identities.current(code) == entry_b
        assert store.identities.search(query) == [entry_b]
        assert store.identities.scan(municipality=a) == [removal_a]
        assert store.identities.scan(municipality=b) == [entry_b]
        # and back to A: A's newest word replaces its removal, B's stays B's
        removal_b = self._move(code, 4, b, removed=True)
        back_a = self._move(code, 5, a, rest="3番地")
        with store.unit_of_work() as uow:
            store.identities.append(uow, [back_a, removal_b][::-1])
        assert store.identities.current(code) == back_a
        assert store.identities.scan(municipality=a) == [back_a]
        assert store.identities.scan(municipality=b) == [removal_b]
        assert store.identities.search(query) == [back_a]
        assert store.identities.last_versions([code]) == {code: 5}

    def test_identity_current_prefers_the_newest_registration(self, store: Store) -> None:
        # Several municipalities say "registered" (notices still on their way): the
        # newest version wins; a newer removal elsewhere does not hide it.
        a, b, c = MUNICIPALITIES
        code = self.rows.code(1)
        rows = [
            self.rows.identity_row(code, 1, municipality=b, rest="1番地"),
            self._move(code, 2, a),
            self._move(code, 3, b, rest="5番地"),  # B corrects its own, older word
            self._move(code, 4, c, removed=True),
        ]
        with store.unit_of_work() as uow:
            store.identities.append(uow, rows)
            assert store.identities.current(code, uow) == rows[2]
        assert store.identities.current(code) == rows[2]
        query = IdentityQuery(name_key=rows[0].name_key, birth_date=rows[0].birth_date)
        assert sorted(store.identities.search(query), key=_by_version) == [rows[1], rows[2]]
        assert store.identities.search(query, limit=0) == []
        assert len(store.identities.search(query, limit=1)) == 1
        assert store.identities.scan(municipality=b) == [rows[2]]
        assert store.identities.scan(municipality=c) == [rows[3]]
        assert store.identities.count(municipality=c) == 1
        assert store.identities.count() == 1

    def test_identity_reads_inside_a_unit_of_work_follow_the_same_rules(self, store: Store) -> None:
        a, b, c = MUNICIPALITIES
        code, other = self.rows.code(1), self.rows.code(2)
        born = self.rows.identity_row(code, 1, municipality=a, rest="1番地")
        neighbour = self.rows.identity_row(other, 1, municipality=a, rest="1番地")
        with store.unit_of_work() as uow:
            store.identities.append(uow, [born, neighbour])
        reader = self.handle(store)
        query = IdentityQuery(name_key=born.name_key, birth_date=born.birth_date)
        entry_b = self._move(code, 2, b)
        removal_a = self._move(code, 3, a, removed=True)
        death = self.rows.identity_row(other, 2, municipality=a, rest="1番地", removed=True)
        with store.unit_of_work() as uow:
            store.identities.append(uow, [entry_b])
            assert sorted(store.identities.search(query, uow=uow), key=_by_version) == [
                born,
                entry_b,
                neighbour,
            ]
            store.identities.append(uow, [removal_a, death])
            assert store.identities.current(code, uow) == entry_b
            assert store.identities.current(other, uow) == death
            assert store.identities.current_many([code, other], uow) == {
                code: entry_b,
                other: death,
            }
            assert store.identities.search(query, uow=uow) == [entry_b]
            assert store.identities.scan(uow=uow) == [entry_b, death]
            assert store.identities.scan(municipality=a, uow=uow) == [removal_a, death]
            assert store.identities.scan(municipality=b, uow=uow) == [entry_b]
            assert store.identities.scan(municipality=c, uow=uow) == []
            assert store.identities.count(uow=uow) == 2
            counts = [store.identities.count(municipality=m, uow=uow) for m in (a, b, c)]
            assert counts == [2, 1, 0]
            assert store.identities.last_versions([code, other], uow) == {code: 3, other: 2}
            # another handle sees the committed state only
            assert reader.identities.current(code) == born
            assert reader.identities.search(query) == [born, neighbour]
            assert reader.identities.scan(municipality=b) == []
            assert reader.identities.count(municipality=b) == 0
            assert reader.identities.last_versions([code, other]) == {code: 1, other: 1}
        assert reader.identities.search(query) == [entry_b]
        assert reader.identities.scan(municipality=a) == [removal_a, death]
        assert reader.identities.count() == 2

    def test_identity_scan_and_count_per_municipality(self, store: Store) -> None:
        a, b, c = MUNICIPALITIES
        codes = [self.rows.code(n) for n in range(1, 13)]
        first = [
            self.rows.identity_row(code, 1, municipality=(a, b)[n % 2], rest="1番地")
            for n, code in enumerate(codes)
        ]
        with store.unit_of_work() as uow:
            store.identities.bulk_load(uow, first)
        later = [
            self._move(codes[0], 2, b),  # moved A -> B, A's removal still on its way
            self._move(codes[2], 2, b),  # moved A -> B, both notices in
            self._move(codes[2], 3, a, removed=True),
            self.rows.identity_row(codes[3], 2, municipality=b, removed=True),  # died in B
            self._move(codes[5], 2, c),  # B -> C, B's removal late
        ]
        with store.unit_of_work() as uow:
            store.identities.append(uow, later)
        per_municipality = {
            a: [first[0], later[2], *first[4::2]],
            b: [later[0], first[1], later[1], later[3], *first[5::2]],
            c: [later[4]],
        }
        for m, expected in per_municipality.items():
            assert _scan_identities(store, m, page=2) == expected, m
            assert store.identities.count(municipality=m) == len(expected)
            assert (
                store.identities.scan(municipality=m, after=codes[2], limit=2)
                == [r for r in expected if r.resident_code > codes[2]][:2]
            )
        current = [later[0], first[1], later[1], later[3], first[4], later[4], *first[6:]]
        assert _scan_identities(store, page=5) == current
        assert store.identities.count() == len(codes)
        assert store.identities.count(municipality="011002") == 0  # 札幌市: nothing
        assert store.identities.scan(municipality="011002") == []

    def test_identity_last_versions(self, store: Store) -> None:
        rows = [self.rows.identity_row(self.rows.code(n), 1) for n in range(1, 1201)]
        with store.unit_of_work() as uow:
            store.identities.bulk_load(uow, rows)
        code = self.rows.code(7)
        moves = [self._move(code, 2, MUNICIPALITIES[1]), self._move(code, 3, MUNICIPALITIES[0])]
        with store.unit_of_work() as uow:
            store.identities.append(uow, moves)
            store.identities.append(uow, [self.rows.identity_row(self.rows.code(5000), 1)])
            assert store.identities.last_versions([code, self.rows.code(5000)], uow) == {
                code: 3,
                self.rows.code(5000): 1,
            }
        unknown = [self.rows.code(n) for n in range(9000, 9300)]
        wanted = [*unknown, *(r.resident_code for r in rows), code, code]
        expected = {r.resident_code: 1 for r in rows} | {code: 3}
        assert store.identities.last_versions(wanted) == expected
        assert store.identities.last_versions(unknown) == {}
        assert store.identities.last_versions([]) == {}
        assert store.identities.last_versions((code,)) == {code: 3}
        for bad in ([code, BAD_CHECK_DIGIT_CODE], ["1234"]):
            with pytest.raises(ValidationError):
                store.identities.last_versions(bad)
        for not_codes in (None, code, [None]):
            with pytest.raises(JukinetError):
                store.identities.last_versions(not_codes)  # type: ignore[arg-type]
