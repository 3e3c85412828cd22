"""Counter services across municipalities on every adapter: wide-area copies
(住基法12条の4) and the special moving-out/in (24条の2; 令24条の2〜24条の4) with the
move-in notification (9条1項), relayed by the upper tiers."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta

import pytest

from jukinet.card.chip import Chip
from jukinet.card.pin import ScryptCost
from jukinet.domain.copies import CopyOptions
from jukinet.domain.individual_number import IndividualNumber
from jukinet.domain.names import PersonName
from jukinet.domain.resident import (
    HEAD_OF_HOUSEHOLD,
    FamilyRegister,
    HouseholdMembership,
    ResidentRecord,
    Sex,
)
from jukinet.errors import (
    CardLocked,
    CardSuspended,
    DeadlinePassed,
    IdentityMismatch,
    InvalidState,
    NotFound,
    NotOfHousehold,
    WrongPin,
)
from jukinet.testing.country import Country, StoreFactory, build_country
from jukinet.tiers.messages import CENTER, Envelope, NodeId
from jukinet.tiers.wide_area import IdentityDocument

CHIYODA, CHUO, KITA_OSAKA = "131016", "131024", "271276"
CHEAP = ScryptCost(n=2**4, r=1, p=1)
DOMICILE = "東京都千代田区千代田1番"
HEAD = PersonName(family="高橋", given="陽", family_reading="タカハシ", given_reading="ハル")


@pytest.fixture
def country(store_factory: StoreFactory) -> Country:
    country = build_country(
        store_factory, [CHIYODA, CHUO, KITA_OSAKA], seed=21, card_scrypt_cost=CHEAP
    )
    country.network.settle()
    return country


def _person(
    country: Country,
    given: str,
    household: str = "H1",
    *,
    head: bool = True,
    number: str | None = None,
) -> ResidentRecord:
    membership = (
        HouseholdMembership(household_id=household, relationship=HEAD_OF_HOUSEHOLD)
        if head
        else HouseholdMembership(household_id=household, relationship="子", head_name=HEAD)
    )
    record = country.municipality(CHIYODA).register_birth(
        name=PersonName(
            family="高橋", given=given, family_reading="タカハシ", given_reading="ハル"
        ),
        birth_date=date(2026, 1, 10),
        sex=Sex.FEMALE,
        household=membership,
        address="千代田1丁目1番1号",
        individual_number=IndividualNumber(number) if number else None,
        family_register=FamilyRegister(domicile=DOMICILE, head="高橋 一郎"),
    )
    country.network.settle()
    return record


def _card(country: Country, record: ResidentRecord) -> Chip:
    chip = country.desk(CHIYODA).issue(record.resident_code, pin="1234", photo_image=b"photo")
    country.network.settle()
    return chip


def _ask(country: Country) -> Callable[[Envelope], Envelope]:
    return country.center.answer_card_check


def _actions(country: Country, town: str) -> list[str]:
    audit = country.stores[NodeId.municipality(town)].audit
    return [r.entry.action for r in audit.read()]


# --- wide-area copies ----------------------------------------------------------


def test_a_copy_with_the_card_in_another_prefecture(country: Country) -> None:
    holder = _person(country, "陽", number="621498320257")
    chip = _card(country, holder)
    counter = country.municipality(KITA_OSAKA)
    card = country.desk(KITA_OSAKA).check(chip, ask=_ask(country), pin="1234")
    request_id = counter.wide_area.request(home=CHIYODA, requester=holder.resident_code, card=card)
    assert counter.wide_area.answer(request_id) is None
    country.network.settle()
    copy = counter.wide_area.issue_copy(request_id)
    text = copy.to_text()
    assert holder.name.family in text
    assert DOMICILE not in text  # 7条5号 never (12条の4第1項)
    assert holder.resident_code.value not in text  # 13号 only when asked (第4項)
    assert "copy.issued" in _actions(country, KITA_OSAKA)
    assert "copy.answered" in _actions(country, CHIYODA)


def test_a_copy_shows_the_resident_code_when_asked(country: Country) -> None:
    holder = _person(country, "陽")
    document = IdentityDocument(kind="運転免許証", name=holder.name, birth_date=holder.birth_date)
    wide = country.municipality(KITA_OSAKA).wide_area
    request_id = wide.request(
        home=CHIYODA,
        requester=holder.resident_code,
        document=document,
        options=CopyOptions(resident_code=True),
    )
    country.network.settle()
    assert holder.resident_code.value in json.dumps(wide.issue_copy(request_id).to_data())


def test_a_document_that_differs_is_refused(country: Country) -> None:
    holder = _person(country, "陽")
    wrong = IdentityDocument(
        kind="旅券", name=holder.name, birth_date=holder.birth_date + timedelta(days=1)
    )
    wide = country.municipality(CHUO).wide_area
    request_id = wide.request(home=CHIYODA, requester=holder.resident_code, document=wrong)
    country.network.settle()
    with pytest.raises(IdentityMismatch, match="identity_mismatch"):
        wide.issue_copy(request_id)


def test_a_household_copy_and_a_stranger_refused(country: Country) -> None:
    head = _person(country, "陽")
    child = _person(country, "葵", head=False)
    other = _person(country, "蓮", household="H2")
    document = IdentityDocument(kind="運転免許証", name=head.name, birth_date=head.birth_date)
    wide = country.municipality(KITA_OSAKA).wide_area
    whole = wide.request(
        home=CHIYODA, requester=head.resident_code, document=document, household=True
    )
    stranger = wide.request(
        home=CHIYODA,
        requester=head.resident_code,
        document=document,
        subjects=(child.resident_code, other.resident_code),
    )
    country.network.settle()
    assert len(wide.issue_copy(whole).persons) == 2
    with pytest.raises(NotOfHousehold):
        wide.issue_copy(stranger)


def test_not_registered_is_refused(country: Country) -> None:
    holder = _person(country, "陽")
    country.municipality(CHIYODA).record_death(holder.resident_code, died_on=date(2026, 3, 1))
    document = IdentityDocument(kind="運転免許証", name=holder.name, birth_date=holder.birth_date)
    wide = country.municipality(KITA_OSAKA).wide_area
    request_id = wide.request(home=CHIYODA, requester=holder.resident_code, document=document)
    country.network.settle()
    with pytest.raises(NotFound, match="not_registered"):
        wide.issue_copy(request_id)


def test_a_suspended_card_asks_nothing(country: Country) -> None:
    holder = _person(country, "陽", number="621498320257")
    chip = _card(country, holder)
    country.desk(CHIYODA).report_lost(chip.card_id)
    country.network.settle()
    with pytest.raises(CardSuspended):
        country.desk(KITA_OSAKA).check(chip, ask=_ask(country), pin="1234")


# --- the special moving-out/in ----------------------------------------------------


def _move_out(
    country: Country,
    holder: ResidentRecord,
    chip: Chip,
    *,
    to: str = KITA_OSAKA,
    members: tuple[ResidentRecord, ...] = (),
) -> date:
    planned = country.clock.today()
    country.municipality(CHIYODA).special_move.move_out(
        holder.resident_code,
        planned_date=planned,
        destination=to,
        address="大阪市北区梅田1丁目1番1号",
        by="mail",
        card_id=chip.card_id,
        members=tuple(m.resident_code for m in members),
    )
    country.network.settle()
    return planned


def _move_in(
    country: Country,
    holder: ResidentRecord,
    chip: Chip,
    *,
    at: str = KITA_OSAKA,
    moved_in_on: date | None = None,
    members: tuple[ResidentRecord, ...] = (),
) -> list[ResidentRecord]:
    card = country.desk(at).check(chip, ask=_ask(country), pin="1234", moving=True)
    records = country.municipality(at).special_move.move_in(
        holder.resident_code,
        card=card,
        moved_in_on=moved_in_on or country.clock.today(),
        address="梅田1丁目1番1号",
        household=HouseholdMembership(household_id="K1", relationship=HEAD_OF_HOUSEHOLD),
        members=tuple(
            (
                m.resident_code,
                HouseholdMembership(household_id="K1", relationship="子", head_name=HEAD),
            )
            for m in members
        ),
    )
    country.network.settle()
    return records


def test_a_household_moves_by_mail_between_prefectures(country: Country) -> None:
    head = _person(country, "陽", number="621498320257")
    child = _person(country, "葵", head=False)
    chip = _card(country, head)
    _move_out(country, head, chip, members=(child,))
    chiyoda = country.municipality(CHIYODA)
    assert {a.resident_code for a in chiyoda.special_move.awaiting_notifications()} == {
        head.resident_code.value,
        child.resident_code.value,
    }
    country.clock.advance(days=3)
    moved = _move_in(country, head, chip, members=(child,))
    assert [r.resident_code for r in moved] == [head.resident_code, child.resident_code]
    assert chiyoda.special_move.awaiting_notifications() == []  # 転入通知 came (9条1項)
    centre = country.stores[CENTER].identities.current(child.resident_code.value)
    assert centre is not None
    assert centre.municipality == KITA_OSAKA
    # the card goes on: continued use at the destination
    status = country.desk(KITA_OSAKA).continue_use(chip, pin="1234", ask=_ask(country))
    assert status.moved_in_on is None


@pytest.mark.parametrize(("days", "ok"), [(13, True), (14, False), (15, False)])
def test_the_move_in_deadline_14_days_after_moving_in(
    country: Country, days: int, ok: bool
) -> None:
    head = _person(country, "陽", number="621498320257")
    chip = _card(country, head)
    planned = _move_out(country, head, chip)
    country.clock.advance(days=days)
    if ok:
        _move_in(country, head, chip, moved_in_on=planned)
    else:
        with pytest.raises(DeadlinePassed, match="ordinary procedure"):
            _move_in(country, head, chip, moved_in_on=planned)


@pytest.mark.parametrize(("days", "ok"), [(29, True), (30, False), (31, False)])
def test_the_move_in_deadline_30_days_after_the_planned_date(
    country: Country, days: int, ok: bool
) -> None:
    head = _person(country, "陽", number="621498320257")
    chip = _card(country, head)
    planned = _move_out(country, head, chip)
    country.clock.advance(days=days)
    moved_in_on = country.clock.today() - timedelta(days=1)
    assert moved_in_on >= planned
    if ok:
        _move_in(country, head, chip, moved_in_on=moved_in_on)
    else:
        with pytest.raises((DeadlinePassed, NotFound)):
            _move_in(country, head, chip, moved_in_on=moved_in_on)


@pytest.mark.parametrize(("days", "kept"), [(29, 1), (30, 0), (31, 0)])
def test_the_data_is_erased_30_days_after_the_planned_date(
    country: Country, days: int, kept: int
) -> None:
    head = _person(country, "陽", number="621498320257")
    chip = _card(country, head)
    planned = _move_out(country, head, chip)
    desk = country.municipality(KITA_OSAKA).special_move
    erased = desk.erase_expired(planned + timedelta(days=days))
    assert erased == 1 - kept
    assert (
        len(
            country.stores[NodeId.municipality(KITA_OSAKA)].counter.infos_for(
                head.resident_code.value
            )
        )
        == kept
    )


def test_data_sent_elsewhere_is_asked_for_again(country: Country) -> None:
    head = _person(country, "陽", number="621498320257")
    chip = _card(country, head)
    _move_out(country, head, chip, to=CHUO)  # but the family settles in 大阪市北区
    with pytest.raises(NotFound, match="request_info"):
        _move_in(country, head, chip)
    country.municipality(KITA_OSAKA).special_move.request_info(
        head.resident_code, moved_from=CHIYODA
    )
    country.network.settle()
    assert _move_in(country, head, chip)[0].resident_code == head.resident_code


def test_a_card_issued_just_before_a_special_move_out(country: Country) -> None:
    # Found by the stateful country test: the card is issued and the move-out filed
    # by mail naming it before the network carried the issue to the centre, so the
    # move-out reaches the centre first. The centre takes the issue all the same: the
    # holder was its resident on the issue day.
    head = _person(country, "陽", number="621498320257")
    chip = country.desk(CHIYODA).issue(head.resident_code, pin="1234", photo_image=b"photo")
    _move_out(country, head, chip)  # settles the network
    assert _move_in(country, head, chip)[0].resident_code == head.resident_code


def test_an_impersonated_move_out_is_refused(country: Country) -> None:
    head = _person(country, "陽", number="621498320257")
    other = _person(country, "蓮", household="H2", number="123456789018")
    chip = _card(country, head)
    other_chip = _card(country, other)
    chiyoda = country.municipality(CHIYODA)
    desk = country.desk(CHIYODA)
    # someone else's card at the counter
    card = desk.check(other_chip, ask=_ask(country), pin="1234")
    with pytest.raises(IdentityMismatch):
        chiyoda.special_move.move_out(
            head.resident_code,
            planned_date=country.clock.today(),
            destination=KITA_OSAKA,
            address="梅田",
            by="counter",
            card=card,
        )
    # someone else's card named by mail
    with pytest.raises(IdentityMismatch):
        chiyoda.special_move.move_out(
            head.resident_code,
            planned_date=country.clock.today(),
            destination=KITA_OSAKA,
            address="梅田",
            by="mail",
            card_id=other_chip.card_id,
        )
    # a locked card cannot be checked at all
    for _ in range(2):
        with pytest.raises(WrongPin):
            desk.check(chip, ask=_ask(country), pin="0000")
    with pytest.raises(CardLocked):
        desk.check(chip, ask=_ask(country), pin="0000")
    assert chiyoda.resident(head.resident_code).is_removed is False


def test_the_ordinary_move_in_also_notifies_the_old_municipality(country: Country) -> None:
    head = _person(country, "陽")
    chiyoda = country.municipality(CHIYODA)
    certificate = chiyoda.move_out(
        head.resident_code, planned_date=country.clock.today(), destination="大阪市北区"
    )
    country.network.settle()
    assert [a.certificate for a in chiyoda.special_move.awaiting_notifications()] == [
        certificate.number
    ]
    country.municipality(KITA_OSAKA).register_move_in(
        certificate,
        address="梅田1丁目1番1号",
        household=HouseholdMembership(household_id="K1", relationship=HEAD_OF_HOUSEHOLD),
        moved_in_on=country.clock.today(),
    )
    country.network.settle()
    assert chiyoda.special_move.awaiting_notifications() == []
    assert "move_in.notified" in _actions(country, CHIYODA)
    # the 除票 now carries the confirmed address and move date (15条の3第2項)
    removed = chiyoda.resident(head.resident_code)
    assert removed.removal is not None
    assert removed.removal.move_confirmed_on == country.clock.today()
    assert removed.removal.destination == "大阪府大阪市北区梅田1丁目1番1号"
    assert chiyoda.history(head.resident_code).latest.reason.value == "move_in_notice_recorded"


def test_no_special_move_in_for_someone_the_network_shows_at_home(country: Country) -> None:
    # a move-out data sent by a municipality for a person who never moved out there
    head = _person(country, "陽", number="621498320257")
    chip = _card(country, head)
    card = country.desk(KITA_OSAKA).check(chip, ask=_ask(country), pin="1234", moving=True)
    assert card.verdict == "in_effect"
    with pytest.raises(InvalidState, match="no one moving"):
        country.municipality(KITA_OSAKA).special_move.move_in(
            head.resident_code,
            card=card,
            moved_in_on=country.clock.today(),
            address="梅田1丁目1番1号",
            household=HouseholdMembership(household_id="K1", relationship=HEAD_OF_HOUSEHOLD),
        )
