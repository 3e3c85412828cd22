"""Conformance tests of the resident code pool, and racing writers of codes and versions."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import pytest

from jukinet.errors import (
    IntegrityError,
    InterfaceError,
    JukinetError,
    ValidationError,
)
from jukinet.storage.base import Store, UnitOfWork
from jukinet.testing.conformance._rows import (
    BAD_CHECK_DIGIT_CODE,
    MUNICIPALITIES,
    InjectedCrash,
    _run_threads,
    read_all_outbox,
    read_all_scheduled,
    snapshot,
)
from jukinet.testing.conformance.hooks import ConformanceHooks


class CodePoolConformance(ConformanceHooks):
    """Conformance tests of the resident code pool, and racing writers of codes and versions."""

    # =============================================================================
    # code pool
    # =============================================================================

    def test_code_pool_designate_allocate_and_mark_used(self, store: Store) -> None:
        chiyoda, chuo = MUNICIPALITIES[0], MUNICIPALITIES[1]
        codes = [self.rows.code(n) for n in range(1, 6)]
        with store.unit_of_work() as uow:
            store.code_pool.designate(uow, chiyoda, codes[:3])
            store.code_pool.designate(uow, chuo, codes[3:])
            assert store.code_pool.available(chiyoda, uow) == 3
        assert store.code_pool.designated_count() == 5
        assert all(store.code_pool.is_designated(c) for c in codes)
        assert not store.code_pool.is_designated(self.rows.code(99))
        drawn: list[str] = []
        with store.unit_of_work() as uow:
            store.code_pool.mark_used(uow, codes[1])
            for _ in range(4):  # bounded: a pool that never runs dry is a failure too
                code = store.code_pool.allocate(uow, chiyoda)
                if code is None:
                    break
                drawn.append(code)
        assert sorted(drawn) == [codes[0], codes[2]]
        assert store.code_pool.available(chiyoda) == 0
        assert store.code_pool.available(chuo) == 2
        assert store.code_pool.available(MUNICIPALITIES[2]) == 0
        with store.unit_of_work() as uow:
            assert store.code_pool.allocate(uow, chiyoda) is None
            assert store.code_pool.allocate(uow, MUNICIPALITIES[2]) is None
        assert store.code_pool.designated_count() == 5  # used codes stay designated

    def test_a_code_is_never_designated_twice(self, store: Store) -> None:
        # 住基法30条の2第2項: J-LIS never designates a code it designated before.
        codes = [self.rows.code(n) for n in range(1, 4)]
        with store.unit_of_work() as uow:
            store.code_pool.designate(uow, MUNICIPALITIES[0], codes)
            store.code_pool.allocate(uow, MUNICIPALITIES[0])
        fresh = self.rows.code(50)
        watched = [*codes, fresh]
        before = snapshot(store, codes=watched)
        batches = [
            (MUNICIPALITIES[0], [fresh, codes[0]]),  # designated before, same town
            (MUNICIPALITIES[1], [codes[1], fresh]),  # designated before, another town
            (MUNICIPALITIES[1], [fresh, fresh]),  # twice in one call
        ]
        for municipality, batch in batches:
            with pytest.raises(IntegrityError), store.unit_of_work() as uow:
                store.code_pool.designate(uow, municipality, batch)
            assert snapshot(store, codes=watched) == before

    def test_mark_used_refuses_unknown_or_used_codes(self, store: Store) -> None:
        code = self.rows.code(1)
        with store.unit_of_work() as uow:
            store.code_pool.designate(uow, MUNICIPALITIES[0], [code])
            store.code_pool.mark_used(uow, code)
        before = snapshot(store, codes=[code])
        for bad in (code, self.rows.code(2)):
            with pytest.raises(IntegrityError), store.unit_of_work() as uow:
                store.code_pool.mark_used(uow, bad)
            assert snapshot(store, codes=[code]) == before

    def test_code_pool_bad_arguments_raise_and_write_nothing(self, store: Store) -> None:
        before = snapshot(store, codes=[self.rows.code(1)])
        writes: list[tuple[type[JukinetError], Callable[[UnitOfWork], object]]] = [
            (
                ValidationError,
                lambda uow: store.code_pool.designate(
                    uow, MUNICIPALITIES[0], [self.rows.code(1), BAD_CHECK_DIGIT_CODE]
                ),
            ),
            (
                ValidationError,
                lambda uow: store.code_pool.designate(uow, "131017", [self.rows.code(1)]),
            ),
            (
                JukinetError,
                lambda uow: store.code_pool.designate(uow, MUNICIPALITIES[0], self.rows.code(1)),
            ),
            (ValidationError, lambda uow: store.code_pool.allocate(uow, 131016)),  # type: ignore[arg-type]
            (ValidationError, lambda uow: store.code_pool.mark_used(uow, "1234567890")),
            (
                InterfaceError,
                lambda _uow: store.code_pool.designate(None, MUNICIPALITIES[0], []),  # type: ignore[arg-type]
            ),
        ]
        for error, write in writes:
            with pytest.raises(error), store.unit_of_work() as uow:
                write(uow)
            assert snapshot(store, codes=[self.rows.code(1)]) == before
        with pytest.raises(ValidationError):
            store.code_pool.available("13101")
        with pytest.raises(ValidationError):
            store.code_pool.is_designated(BAD_CHECK_DIGIT_CODE)

    def test_code_pool_designated_to_names_the_municipality(self, store: Store) -> None:
        # 住基法30条の2: the centre designates each code to one municipality, for good;
        # the upper tiers check a new code against it (docs/tiers.md).
        chiyoda, chuo = MUNICIPALITIES[0], MUNICIPALITIES[1]
        codes = [self.rows.code(n) for n in range(1, 5)]
        reader = self.handle(store)
        with store.unit_of_work() as uow:
            store.code_pool.designate(uow, chiyoda, codes[:2])
            store.code_pool.designate(uow, chuo, codes[2:3])
            assert store.code_pool.designated_to(codes[0], uow) == chiyoda
            assert store.code_pool.designated_to(codes[2], uow) == chuo
            assert reader.code_pool.designated_to(codes[0]) is None
        for handle in (store, reader):
            assert [handle.code_pool.designated_to(c) for c in codes] == [
                chiyoda,
                chiyoda,
                chuo,
                None,
            ]
        # a used code stays designated to the same municipality
        with store.unit_of_work() as uow:
            drawn = store.code_pool.allocate(uow, chiyoda)
            store.code_pool.mark_used(uow, codes[2])
        assert drawn in codes[:2]
        assert store.code_pool.designated_to(drawn) == chiyoda
        assert store.code_pool.designated_to(codes[2]) == chuo
        # a designation rolled back, or refused, designates nothing
        with pytest.raises(InjectedCrash), store.unit_of_work() as uow:  # noqa: PT012
            store.code_pool.designate(uow, chuo, [codes[3]])
            assert store.code_pool.designated_to(codes[3], uow) == chuo
            raise InjectedCrash
        assert store.code_pool.designated_to(codes[3]) is None
        with pytest.raises(IntegrityError), store.unit_of_work() as uow:
            store.code_pool.designate(uow, chuo, [codes[3], codes[0]])
        assert store.code_pool.designated_to(codes[3]) is None
        assert store.code_pool.designated_to(codes[0]) == chiyoda

    def test_code_pool_designated_to_bad_arguments_raise(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            store.code_pool.designate(uow, MUNICIPALITIES[0], [self.rows.code(1)])
        before = snapshot(store, codes=[self.rows.code(1)])
        bad: list[object] = [BAD_CHECK_DIGIT_CODE, "1234567890", 19, None, b"00000000019", ""]
        for value in bad:
            with pytest.raises(ValidationError):
                store.code_pool.designated_to(value)  # type: ignore[arg-type]
            with pytest.raises(ValidationError), store.unit_of_work() as uow:
                store.code_pool.designated_to(value, uow)  # type: ignore[arg-type]
        assert snapshot(store, codes=[self.rows.code(1)]) == before

    def test_racing_allocators_never_share_a_code(self, store: Store) -> None:
        # 住基法30条の3第2項: each drawn code goes to one person only.
        municipality = MUNICIPALITIES[0]
        total = 2 * self.racing_rounds
        with store.unit_of_work() as uow:
            store.code_pool.designate(
                uow, municipality, [self.rows.code(n) for n in range(1, total + 1)]
            )
        handles = [self.handle(store), self.handle(store)]
        drawn: list[list[str]] = [[], []]

        def allocate(k: int) -> Callable[[], None]:
            def run() -> None:
                for _ in range(total + 1):  # bounded: a pool that never runs dry fails
                    with handles[k].unit_of_work() as uow:
                        code = handles[k].code_pool.allocate(uow, municipality)
                    if code is None:
                        return
                    drawn[k].append(code)

            return run

        _run_threads([allocate(0), allocate(1)])
        every = drawn[0] + drawn[1]
        assert len(every) == total
        assert len(set(every)) == total
        assert store.code_pool.available(municipality) == 0

    def test_racing_duplicates_have_exactly_one_winner(self, store: Store) -> None:
        # Two handles try the very same write at the same moment, round after round:
        # a re-delivered message, a resident code claimed by two new people, the
        # same identity version, the same codes designated, the same agency
        # registered, the same key scheduled. Exactly one wins each round; the loser gets IntegrityError and its effect is rolled back.
        handles = [self.handle(store), self.handle(store)]
        rounds = max(2, self.racing_rounds // 3)
        barrier = threading.Barrier(2, timeout=30)
        wins: list[list[str]] = [[], []]

        def attempt(k: int, what: str, write: Callable[[Store, UnitOfWork], object]) -> None:
            barrier.wait()
            handle = handles[k]
            try:
                with handle.unit_of_work() as uow:
                    handle.outbox.append(uow, "effects", [f"{what}:{k}".encode()])
                    write(handle, uow)
            except IntegrityError:
                return
            wins[k].append(what)

        def writes(k: int, r: int) -> dict[str, Callable[[Store, UnitOfWork], object]]:
            code = self.rows.code(100 + r)
            claim = self.rows.register_row(f"K{k}R{r}", 1, code=code)
            ident = self.rows.identity_row(code, 1)
            pool = [self.rows.code(900 + r)]
            return {
                f"track{r}": lambda h, u: h.tracking.advance(u, "city131016", r),
                f"batch{r}": lambda h, u: h.tracking.advance(
                    u, "city131024", 3 * r - 2, last=3 * r
                ),
                f"claim{r}": lambda h, u: h.register.append(u, [claim]),
                f"ident{r}": lambda h, u: h.identities.append(u, [ident]),
                f"designate{r}": lambda h, u: h.code_pool.designate(u, MUNICIPALITIES[k], pool),
                f"resume{r}": lambda h, u: h.outbox.resume(u, f"link{r}", 10 * r + k),
                f"agency{r}": lambda h, u: h.agencies.register(
                    u, self.rows.agency_row(k, name=f"agency-race-{r}")
                ),
                f"schedule{r}": lambda h, u: h.schedule.add(
                    u, [self.rows.scheduled_item(k, key=f"race:{r}")]
                ),
            }

        def race(k: int) -> Callable[[], None]:
            def run() -> None:
                for r in range(1, rounds + 1):
                    for what, write in writes(k, r).items():
                        attempt(k, what, write)

            return run

        _run_threads([race(0), race(1)])
        kinds = ("track", "batch", "claim", "ident", "designate", "resume", "agency", "schedule")
        every = sorted(wins[0] + wins[1])
        assert every == sorted(f"{kind}{r}" for kind in kinds for r in range(1, rounds + 1))
        effects = read_all_outbox(store, "effects")
        winners = {f"{w}:{k}".encode() for k in (0, 1) for w in wins[k]}
        assert {e.payload for e in effects} == winners
        assert len(effects) == len(winners)
        assert store.tracking.position("city131016") == rounds
        assert store.tracking.position("city131024") == 3 * rounds
        assert store.register.count() == rounds
        for r in range(1, rounds + 1):
            winner = 0 if f"resume{r}" in wins[0] else 1
            assert store.outbox.last_seq(f"link{r}") == 10 * r + winner
        assert store.identities.count() == rounds
        assert store.code_pool.designated_count() == rounds
        for r in range(1, rounds + 1):
            winner = 0 if f"agency{r}" in wins[0] else 1
            assert store.agencies.get(f"agency-race-{r}") == self.rows.agency_row(
                winner, name=f"agency-race-{r}"
            )
            winner = 0 if f"schedule{r}" in wins[0] else 1
            assert store.schedule.get(f"race:{r}") == self.rows.scheduled_item(
                winner, key=f"race:{r}"
            )
        assert len(store.agencies.list()) == rounds
        assert len(read_all_scheduled(store)) == rounds

    def test_racing_writers_never_lose_or_duplicate_a_version(self, store: Store) -> None:
        # Each thread appends the next version of the same person, retrying when the
        # other got there first: every version is kept once, none is lost or skipped.
        self.person(store, 1)
        handles = [self.handle(store), self.handle(store)]
        per_thread = max(2, self.racing_rounds // 3)
        households = [f"T{k}" for k in (0, 1)]

        def append(k: int) -> Callable[[], None]:
            def run() -> None:
                handle, done, attempts = handles[k], 0, 0
                while done < per_thread:
                    attempts += 1
                    assert attempts < 50 * per_thread, "no progress"
                    try:
                        with handle.unit_of_work() as uow:
                            current = handle.register.current("A0000001", uow)
                            assert current is not None
                            row = self.rows.register_row(
                                "A0000001",
                                current.version + 1,
                                code=self.rows.code(1),
                                household_id=households[k],
                            )
                            handle.register.append(uow, [row])
                    except IntegrityError:
                        continue
                    done += 1

            return run

        _run_threads([append(0), append(1)])
        history = store.register.history("A0000001")
        assert [r.version for r in history] == list(range(1, 2 * per_thread + 2))
        tally = Counter(r.household_id for r in history[1:])
        assert tally == {households[0]: per_thread, households[1]: per_thread}
