"""The card kinds' dated facts and the lifecycle rules (住基法旧30条の44, 番号法17条;
domain-facts §7, §8): each deadline on the day before, the day and the day after."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jukinet.card.kinds import (
    CardKind,
    ChipCode,
    PrintedItem,
    accepted_for_special_move,
    add_years,
    kinds_issuable_on,
    rules_for,
)
from jukinet.card.lifecycle import (
    CONTINUED_USE_DAYS,
    CardEvent,
    CardState,
    CardStatus,
    LapseReason,
    Transition,
)
from jukinet.domain.lg_code import LocalGovernmentCode
from jukinet.domain.resident_code import ResidentCode
from jukinet.errors import (
    CardExpired,
    CardRevoked,
    CardSuspended,
    DeadlinePassed,
    InvalidFormat,
    InvalidState,
)

CHIYODA = LocalGovernmentCode("131016")
SAPPORO = LocalGovernmentCode("011002")
NAHA = LocalGovernmentCode("472018")
HOLDER = ResidentCode("12345678903")
DAY = timedelta(days=1)


def issue(
    kind: CardKind = CardKind.MY_NUMBER,
    *,
    on: date = date(2024, 4, 1),
    born_on: date = date(1980, 5, 5),
    photo: bool = True,
    stay_until: date | None = None,
) -> CardStatus:
    return CardStatus.issue(
        card_id="ab" * 16,
        holder=HOLDER,
        kind=kind,
        photo=photo,
        issuer=CHIYODA,
        issued_on=on,
        born_on=born_on,
        stay_until=stay_until,
    ).status


# --- kinds --------------------------------------------------------------------


def test_issue_windows_are_dated() -> None:
    # Juki cards: 2003-08-25 to 2015-12-28; My Number cards from 2016 (domain-facts §8, §13)
    assert kinds_issuable_on(date(2003, 8, 24)) == ()
    assert kinds_issuable_on(date(2003, 8, 25)) == (CardKind.JUKI,)
    assert kinds_issuable_on(date(2015, 12, 28)) == (CardKind.JUKI,)
    assert kinds_issuable_on(date(2015, 12, 29)) == ()
    assert kinds_issuable_on(date(2016, 1, 1)) == (CardKind.MY_NUMBER,)


def test_issuing_outside_the_window_is_refused() -> None:
    with pytest.raises(InvalidState, match="2003-08-25 to 2015-12-28"):
        issue(CardKind.JUKI, on=date(2016, 1, 4))
    with pytest.raises(InvalidState):
        issue(CardKind.MY_NUMBER, on=date(2015, 12, 1))


def test_juki_card_is_valid_ten_years() -> None:
    # the last Juki cards, issued 2015-12-28, expired with 2025-12-28 (domain-facts §13)
    assert issue(CardKind.JUKI, on=date(2015, 12, 28)).expires_on == date(2025, 12, 28)
    assert issue(CardKind.JUKI, on=date(2008, 2, 28)).expires_on == date(2018, 2, 28)
    # a period starting on 29 February ends on the month's last day (民法143条2項)
    assert issue(CardKind.JUKI, on=date(2008, 2, 28)).expires_on == date(2018, 2, 28)
    assert add_years(date(2008, 2, 29), 10) == date(2018, 3, 1)


def test_foreign_residents_card_ends_with_the_stay() -> None:
    stay = date(2010, 6, 30)
    assert issue(CardKind.JUKI, on=date(2010, 5, 1), stay_until=stay).expires_on == stay
    far = date(2040, 1, 1)
    assert issue(CardKind.JUKI, on=date(2010, 5, 1), stay_until=far).expires_on == date(2020, 5, 1)


@pytest.mark.parametrize(
    ("issued_on", "born_on", "expires_on"),
    [
        (date(2024, 4, 1), date(1980, 5, 5), date(2033, 5, 5)),  # adult: 10th birthday
        (date(2024, 4, 1), date(2010, 5, 5), date(2028, 5, 5)),  # minor: 5th birthday
        (date(2024, 4, 1), date(2006, 4, 1), date(2034, 4, 1)),  # 18 on the issue day
        (date(2024, 4, 1), date(2006, 4, 2), date(2028, 4, 2)),  # 17 on the issue day
        (date(2021, 4, 1), date(2002, 4, 1), date(2026, 4, 1)),  # 19 before 2022-04: minor
        (date(2022, 4, 1), date(2003, 4, 1), date(2032, 4, 1)),  # 19 from 2022-04: adult
        (date(2024, 3, 1), date(2000, 2, 29), date(2034, 2, 28)),  # leap-day birthday
    ],
)
def test_my_number_card_runs_to_a_birthday(
    issued_on: date, born_on: date, expires_on: date
) -> None:
    assert issue(on=issued_on, born_on=born_on).expires_on == expires_on


def test_printed_items_and_chip_codes() -> None:
    juki, my_number = rules_for(CardKind.JUKI), rules_for(CardKind.MY_NUMBER)
    assert juki.printed(photo=False) == (PrintedItem.NAME, PrintedItem.EXPIRY)  # type A
    assert PrintedItem.PHOTO in juki.printed(photo=True)  # type B
    assert PrintedItem.INDIVIDUAL_NUMBER in my_number.printed(photo=True)
    assert juki.serves_as_photo_id(photo=True)
    assert not juki.serves_as_photo_id(photo=False)
    assert my_number.serves_as_photo_id(photo=True)
    assert juki.chip_code is ChipCode.RESIDENT_CODE
    assert my_number.chip_code is ChipCode.INDIVIDUAL_NUMBER
    with pytest.raises(InvalidFormat, match="photo"):
        issue(CardKind.MY_NUMBER, photo=False)


def test_special_move_acceptance_is_dated() -> None:
    assert not accepted_for_special_move(CardKind.JUKI, date(2003, 8, 24))
    assert accepted_for_special_move(CardKind.JUKI, date(2003, 8, 25))
    assert not accepted_for_special_move(CardKind.MY_NUMBER, date(2015, 12, 31))
    assert accepted_for_special_move(CardKind.MY_NUMBER, date(2016, 1, 1))


# --- deadlines: the day before, the day, the day after -----------------------


def test_expiry_day_before_on_and_after() -> None:
    card = issue()
    last = card.expires_on
    for day in (last - DAY, last):
        card.check_in_effect(day)
        assert card.due(day) is None
    with pytest.raises(CardExpired, match=last.isoformat()):
        card.check_in_effect(last + DAY)
    lapse = card.due(last + DAY)
    assert lapse is not None
    assert lapse.entry.reason is LapseReason.EXPIRED
    assert lapse.entry.on == last + DAY
    assert lapse.status.state is CardState.LAPSED


def test_continued_use_deadline_day_before_on_and_after() -> None:
    moved_in_on = date(2025, 1, 10)
    card = issue().moved_in(on=moved_in_on, at=SAPPORO).status
    deadline = moved_in_on + timedelta(days=CONTINUED_USE_DAYS)
    assert card.continued_use_deadline == deadline
    for day in (deadline - DAY, deadline):
        done = card.continue_use(on=day, at=SAPPORO)
        assert done.status.moved_in_on is None
        assert done.entry.event is CardEvent.CONTINUED
        assert done.status.due(deadline + DAY) is None
    with pytest.raises(DeadlinePassed, match=deadline.isoformat()):
        card.continue_use(on=deadline + DAY, at=SAPPORO)
    lapse = card.due(deadline + DAY)
    assert lapse is not None
    assert lapse.entry.reason is LapseReason.NOT_CONTINUED
    with pytest.raises(CardRevoked, match="not_continued"):
        card.check_in_effect(deadline + DAY)


def test_moving_again_before_continued_use_ends_the_card() -> None:
    card = issue().moved_in(on=date(2025, 1, 10), at=SAPPORO).status
    lapse = card.moved_out(on=date(2025, 2, 1), at=SAPPORO)
    assert lapse is not None
    assert lapse.entry.reason is LapseReason.MOVED_AGAIN
    again = card.moved_in(on=date(2025, 2, 1), at=NAHA)
    assert again.entry.reason is LapseReason.MOVED_AGAIN


def test_a_move_after_continued_use_keeps_the_card() -> None:
    card = issue().moved_in(on=date(2025, 1, 10), at=SAPPORO).status
    card = card.continue_use(on=date(2025, 1, 20), at=SAPPORO).status
    assert card.moved_out(on=date(2025, 6, 1), at=SAPPORO) is None
    assert card.municipality == SAPPORO


def test_juki_card_ended_with_a_move_out_before_2012_07_09() -> None:
    card = issue(CardKind.JUKI, on=date(2010, 1, 4), photo=False)
    lapse = card.moved_out(on=date(2012, 7, 8), at=CHIYODA)
    assert lapse is not None
    assert lapse.entry.reason is LapseReason.MOVED_OUT
    assert card.moved_out(on=date(2012, 7, 9), at=CHIYODA) is None


def test_continued_use_only_where_the_move_in_is() -> None:
    card = issue().moved_in(on=date(2025, 1, 10), at=SAPPORO).status
    with pytest.raises(InvalidState, match="011002"):
        card.continue_use(on=date(2025, 1, 11), at=NAHA)
    with pytest.raises(InvalidState):
        issue().continue_use(on=date(2025, 1, 11), at=CHIYODA)


# --- suspension, return, lapse ---------------------------------------------------


def test_suspension_and_its_lifting() -> None:
    card = issue().suspend(on=date(2025, 3, 1), at=CHIYODA).status
    with pytest.raises(CardSuspended):
        card.check_in_effect(date(2025, 3, 1))
    with pytest.raises(CardSuspended):
        card.pin_reset(on=date(2025, 3, 2), at=CHIYODA)
    with pytest.raises(CardSuspended):
        card.suspend(on=date(2025, 3, 2), at=CHIYODA)
    resumed = card.resume(on=date(2025, 3, 3), at=CHIYODA)
    assert resumed.status.state is CardState.IN_EFFECT
    assert resumed.status.version == 3
    resumed.status.check_in_effect(date(2025, 3, 3))
    with pytest.raises(InvalidState):
        resumed.status.resume(on=date(2025, 3, 4), at=CHIYODA)


@pytest.mark.parametrize("final", ["give_back", "lapse", "code_changed"])
def test_returned_or_lapsed_cards_never_change(final: str) -> None:
    on = date(2025, 1, 1)
    if final == "give_back":
        done = issue().give_back(on=on, at=CHIYODA)
    else:
        reason = LapseReason.REMOVED if final == "lapse" else LapseReason.CODE_CHANGED
        done = issue().lapse(reason, on=on, at=CHIYODA)
    card = done.status
    assert not card.live
    with pytest.raises(CardRevoked):
        card.check_in_effect(date(2025, 1, 2))
    for name in ("suspend", "resume", "give_back", "lapse", "moved_in", "pin_reset"):
        with pytest.raises(CardRevoked):
            _apply(card, name, date(2025, 1, 2), SAPPORO)
    assert card.moved_out(on=date(2025, 1, 2), at=CHIYODA) is None
    assert card.due(date(2099, 1, 1)) is None


def test_steps_before_issue_are_refused() -> None:
    with pytest.raises(InvalidState, match="issue day"):
        issue().suspend(on=date(2024, 3, 31), at=CHIYODA)


def test_bad_values_are_refused() -> None:
    with pytest.raises(InvalidFormat, match="card_id"):
        CardStatus.issue(
            card_id="XYZ",
            holder=HOLDER,
            kind=CardKind.MY_NUMBER,
            photo=True,
            issuer=CHIYODA,
            issued_on=date(2024, 4, 1),
            born_on=date(1980, 1, 1),
        )


steps = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "suspend",
                "resume",
                "give_back",
                "moved_in",
                "moved_out",
                "continue",
                "pin_reset",
                "lapse",
            ]
        ),
        st.integers(min_value=0, max_value=200),
        st.sampled_from([CHIYODA, SAPPORO, NAHA]),
    ),
    max_size=12,
)


def _apply(card: CardStatus, name: str, day: date, at: LocalGovernmentCode) -> Transition | None:
    if name == "moved_out":
        return card.moved_out(on=day, at=at)
    if name == "lapse":
        return card.lapse(LapseReason.REMOVED, on=day, at=at)
    method = {
        "suspend": card.suspend,
        "resume": card.resume,
        "give_back": card.give_back,
        "moved_in": card.moved_in,
        "continue": card.continue_use,
        "pin_reset": card.pin_reset,
    }[name]
    return method(on=day, at=at)


@given(steps)
def test_history_is_gap_free_and_final_states_stay_final(
    plan: list[tuple[str, int, LocalGovernmentCode]],
) -> None:
    card = issue()
    day = card.issued_on
    for name, gap, at in plan:
        day += timedelta(days=gap)
        due = card.due(day)
        if due is not None:
            assert due.entry.version == card.version + 1
            card = due.status
        try:
            done = _apply(card, name, day, at)
        except (InvalidState, CardRevoked, CardSuspended, CardExpired, DeadlinePassed):
            continue
        if done is None:
            continue
        assert done.entry.version == card.version + 1 == done.status.version
        if not card.live:
            raise AssertionError("a final card changed")
        card = done.status
