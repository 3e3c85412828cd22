"""The resident card across the network, on every adapter: issue at the home
municipality, the centre learning every step, a counter check in another
prefecture, PIN lockout and reset, a loss report, and the card following its
holder's record (death, move abroad, code change) — 住基法旧30条の44, 番号法17条;
domain-facts §7, §8."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date

import pytest

from jukinet.card.chip import Chip
from jukinet.card.kinds import CardKind
from jukinet.card.lifecycle import CardEvent, CardState, LapseReason
from jukinet.card.pin import ScryptCost
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
    CardAuthenticationFailed,
    CardExpired,
    CardLocked,
    CardRevoked,
    CardSuspended,
    InvalidState,
    Misaddressed,
    NotFound,
    WrongPin,
)
from jukinet.storage.records import CardRow
from jukinet.testing.country import Country, StoreFactory, build_country
from jukinet.tiers import card_messages as cm
from jukinet.tiers.messages import CENTER, Envelope, NodeId

CHIYODA, CHUO, KITA_OSAKA = "131016", "131024", "271276"
CHEAP = ScryptCost(n=2**4, r=1, p=1)
PHOTO = b"\x89PNG photo of the holder"


@pytest.fixture
def country(store_factory: StoreFactory) -> Country:
    country = build_country(
        store_factory, [CHIYODA, CHUO, KITA_OSAKA], seed=12, card_scrypt_cost=CHEAP
    )
    country.network.settle()
    return country


def _resident(country: Country, town: str = CHIYODA, given: str = "花子") -> ResidentRecord:
    record = country.municipality(town).register_birth(
        name=PersonName(
            family="佐藤", given=given, family_reading="サトウ", given_reading="ハナコ"
        ),
        birth_date=date(2026, 3, 1),
        sex=Sex.FEMALE,
        household=HouseholdMembership(household_id=f"H{given}", relationship=HEAD_OF_HOUSEHOLD),
        address="千代田1丁目1番1号" if town == CHIYODA else "1番地",
        individual_number=IndividualNumber("621498320257"),
        family_register=FamilyRegister(domicile="東京都千代田区千代田1番", head="佐藤 一郎"),
    )
    country.network.settle()
    return record


def _issue(country: Country, record: ResidentRecord, pin: str = "1234") -> Chip:
    chip = country.desk(CHIYODA).issue(record.resident_code, pin=pin, photo_image=PHOTO)
    country.network.settle()
    return chip


def _ask(country: Country) -> Callable[[Envelope], Envelope]:
    return country.center.answer_card_check


def _centre_card(country: Country, card_id: str) -> CardRow | None:
    return country.center.store.cards.get(card_id)


def _audit(country: Country, node: NodeId, action: str) -> list[dict[str, object]]:
    store = country.stores[node]
    return [json.loads(r.entry.detail) for r in store.audit.read(action=action)]


def test_issue_is_known_to_the_centre_and_checked_in_another_prefecture(country: Country) -> None:
    record = _resident(country)
    chip = _issue(country, record)
    assert chip.kind is CardKind.MY_NUMBER  # the kind issued on 2026-04-01
    kept = _centre_card(country, chip.card_id)
    assert kept is not None
    assert (kept.holder, kept.state, kept.version) == (record.resident_code.value, "in_effect", 1)
    # a counter in 大阪府 checks the card, with its PIN, through the centre
    answer = country.desk(KITA_OSAKA).check(chip, ask=_ask(country), pin="1234")
    assert answer.in_effect
    assert answer.holder == record.resident_code.value
    assert answer.municipality == CHIYODA
    checked = _audit(country, CENTER, "card.checked")
    assert checked[-1] == {"by": "m:271276", "card": chip.card_id, "verdict": "in_effect"}


def test_one_live_card_per_person(country: Country) -> None:
    record = _resident(country)
    _issue(country, record)
    with pytest.raises(InvalidState, match="one card per person"):
        country.desk(CHIYODA).issue(record.resident_code, pin="1234", photo_image=PHOTO)


def test_pin_lockout_and_reset_at_the_counter(country: Country) -> None:
    record = _resident(country)
    chip = _issue(country, record)
    desk = country.desk(KITA_OSAKA)
    for _ in range(2):
        with pytest.raises(WrongPin):
            desk.check(chip, ask=_ask(country), pin="0000")
    with pytest.raises(CardLocked):
        desk.check(chip, ask=_ask(country), pin="0000")
    with pytest.raises(CardLocked):
        desk.check(chip, ask=_ask(country), pin="1234")
    status = country.desk(CHIYODA).reset_pin(chip, "4321")
    assert status.version == 2
    country.network.settle()
    assert desk.check(chip, ask=_ask(country), pin="4321").in_effect
    assert [e.event for e in country.desk(CHIYODA).history(chip.card_id)] == [
        CardEvent.ISSUED,
        CardEvent.PIN_RESET,
    ]


def test_loss_report_suspends_until_lifted_in_person(country: Country) -> None:
    record = _resident(country)
    chip = _issue(country, record)
    home = country.desk(CHIYODA)
    assert home.report_lost(chip.card_id).state is CardState.SUSPENDED
    country.network.settle()
    with pytest.raises(CardSuspended):
        country.desk(KITA_OSAKA).check(chip, ask=_ask(country))
    assert home.lift_suspension(chip).state is CardState.IN_EFFECT
    country.network.settle()
    assert country.desk(KITA_OSAKA).check(chip, ask=_ask(country)).in_effect


@pytest.mark.parametrize("end", ["death", "abroad", "code"])
def test_the_card_ends_with_the_record(country: Country, end: str) -> None:
    record = _resident(country)
    chip = _issue(country, record)
    town = country.municipality(CHIYODA)
    today = country.clock.today()
    if end == "death":
        town.record_death(record.resident_code, died_on=today)
        reason = LapseReason.REMOVED
    elif end == "abroad":
        town.move_abroad(record.resident_code, departed_on=today, destination="アメリカ合衆国")
        reason = LapseReason.REMOVED
    else:
        town.change_resident_code(record.resident_code, requested_on=today)
        reason = LapseReason.CODE_CHANGED
    country.network.settle()
    kept = _centre_card(country, chip.card_id)
    assert kept is not None
    assert (kept.state, kept.reason) == ("lapsed", reason.value)
    with pytest.raises(CardRevoked, match=reason.value):
        country.desk(KITA_OSAKA).check(chip, ask=_ask(country))


def test_expiry_is_checked_on_the_day(country: Country) -> None:
    record = _resident(country)
    chip = _issue(country, record)
    kept = _centre_card(country, chip.card_id)
    assert kept is not None
    # a baby's My Number card runs to its 5th birthday after issue
    assert kept.expires_on == date(2031, 3, 1)
    country.clock.advance(days=(kept.expires_on - country.clock.today()).days)
    assert country.desk(CHUO).check(chip, ask=_ask(country)).in_effect  # the last day
    country.clock.advance(days=1)
    with pytest.raises(CardExpired):
        country.desk(CHUO).check(chip, ask=_ask(country))
    assert country.desk(CHIYODA).sweep() == 1
    country.network.settle()
    kept = _centre_card(country, chip.card_id)
    assert kept is not None
    assert (kept.state, kept.reason) == ("lapsed", "expired")


def test_an_unknown_issuer_is_refused_at_the_counter(country: Country) -> None:
    import random

    from jukinet.card.data import CardData
    from jukinet.card.keys import CardAuthority

    rogue = CardAuthority.generate("rogue", random.Random(1)).certify_issuer(
        CHIYODA, random.Random(2)
    )
    record = _resident(country)
    data = CardData(
        card_id="ab" * 16,
        kind=CardKind.JUKI,
        code=record.resident_code,
        issuer=CHIYODA,
        issued_on=date(2015, 1, 5),
        expires_on=date(2025, 1, 5),
        photo=False,
    )
    forged = rogue.issue_card(data, "1234", random.Random(3), scrypt_cost=CHEAP)
    with pytest.raises(CardAuthenticationFailed):
        country.desk(KITA_OSAKA).check(forged, ask=_ask(country))


def test_an_answer_is_bound_to_its_request(country: Country) -> None:
    record = _resident(country)
    chip = _issue(country, record)
    desk = country.desk(KITA_OSAKA)
    first = desk.check_request(chip)
    answer = country.center.answer_card_check(first.envelope)
    assert desk.read_answer(answer).in_effect
    with pytest.raises(Misaddressed, match="no pending check"):
        desk.read_answer(answer)  # a replayed answer
    other = country.desk(CHUO)
    other.check_request(chip)
    with pytest.raises(Misaddressed):
        other.read_answer(answer)  # an answer to another counter's request


def test_the_centre_refuses_a_step_from_a_municipality_that_does_not_keep_the_card(
    country: Country,
) -> None:
    record = _resident(country)
    chip = _issue(country, record)
    kept = _centre_card(country, chip.card_id)
    assert kept is not None
    status = cm.card_status(kept)
    # 中央区 (same prefecture) claims the card was returned there
    from jukinet.domain.lg_code import LocalGovernmentCode

    forged = status.give_back(on=country.clock.today(), at=LocalGovernmentCode(CHUO))
    chuo = country.municipality(CHUO)
    with chuo.store.unit_of_work() as uow:
        chuo.cs.queue(
            uow,
            chuo.cs.prefecture,
            [
                cm.encode_card_status(
                    cm.card_row(forged.status, kept.public_key),
                    cm.event_row(chip.card_id, forged.entry),
                )
            ],
        )
    country.network.settle()
    after = _centre_card(country, chip.card_id)
    assert after == kept
    refused = _audit(country, CENTER, "card.refused")
    assert refused[-1]["municipality"] == CHUO
    assert "kept by 131016" in str(refused[-1]["why"])


def _move(country: Country, record: ResidentRecord, to: str, *, frm: str = CHIYODA) -> None:
    today = country.clock.today()
    certificate = country.municipality(frm).move_out(
        record.resident_code, planned_date=today, destination=to
    )
    country.municipality(to).register_move_in(
        certificate,
        address="梅田1丁目1番1号" if to == KITA_OSAKA else "銀座1丁目1番1号",
        household=HouseholdMembership(household_id=f"M{to}", relationship=HEAD_OF_HOUSEHOLD),
        moved_in_on=today,
    )
    country.network.settle()


@pytest.mark.parametrize("after", [89, 90])
def test_continued_use_after_a_move_within_90_days(country: Country, after: int) -> None:
    record = _resident(country)
    chip = _issue(country, record)
    _move(country, record, KITA_OSAKA)
    moved_in_on = country.clock.today()
    kept = _centre_card(country, chip.card_id)
    assert kept is not None
    assert (kept.municipality, kept.moved_in_on, kept.version) == (KITA_OSAKA, moved_in_on, 2)
    # the old municipality no longer writes the card's steps
    with pytest.raises(NotFound):
        country.desk(CHIYODA).report_lost(chip.card_id)
    country.clock.advance(days=after)
    status = country.desk(KITA_OSAKA).continue_use(chip, pin="1234", ask=_ask(country))
    assert status.moved_in_on is None
    assert status.version == 3
    country.network.settle()
    kept = _centre_card(country, chip.card_id)
    assert kept is not None
    assert (kept.municipality, kept.moved_in_on, kept.version) == (KITA_OSAKA, None, 3)
    # the new municipality keeps the card now: a loss report there works
    assert country.desk(KITA_OSAKA).report_lost(chip.card_id).state is CardState.SUSPENDED
    country.network.settle()
    with pytest.raises(CardSuspended):
        country.desk(CHUO).check(chip, ask=_ask(country))


def test_continued_use_twice_before_the_centre_hears_of_it(country: Country) -> None:
    # the holder comes back before the first continued use reached the centre,
    # which still answers that the card awaits it: a typed refusal, nothing changed
    record = _resident(country)
    chip = _issue(country, record)
    _move(country, record, KITA_OSAKA)
    desk = country.desk(KITA_OSAKA)
    assert desk.continue_use(chip, pin="1234", ask=_ask(country)).version == 3
    with pytest.raises(InvalidState, match="kept here at version 3"):
        desk.continue_use(chip, pin="1234", ask=_ask(country))
    assert desk.status(chip.card_id).version == 3
    country.network.settle()
    with pytest.raises(InvalidState, match="awaits no continued use"):
        desk.continue_use(chip, pin="1234", ask=_ask(country))


def test_no_continued_use_on_the_91st_day(country: Country) -> None:
    record = _resident(country)
    chip = _issue(country, record)
    _move(country, record, KITA_OSAKA)
    country.clock.advance(days=91)
    with pytest.raises(CardRevoked, match="not_continued"):
        country.desk(KITA_OSAKA).continue_use(chip, pin="1234", ask=_ask(country))
    with pytest.raises(CardRevoked, match="not_continued"):
        country.desk(CHUO).check(chip, ask=_ask(country))


def test_moving_again_before_continued_use_ends_the_card(country: Country) -> None:
    record = _resident(country)
    chip = _issue(country, record)
    _move(country, record, CHUO)
    country.clock.advance(days=10)
    _move(country, record, KITA_OSAKA, frm=CHUO)
    kept = _centre_card(country, chip.card_id)
    assert kept is not None
    assert (kept.state, kept.reason) == ("lapsed", "moved_again")
    with pytest.raises(CardRevoked, match="moved_again"):
        country.desk(KITA_OSAKA).continue_use(chip, pin="1234", ask=_ask(country))


def test_continued_use_needs_the_pin(country: Country) -> None:
    record = _resident(country)
    chip = _issue(country, record)
    _move(country, record, KITA_OSAKA)
    with pytest.raises(WrongPin):
        country.desk(KITA_OSAKA).continue_use(chip, pin="9999", ask=_ask(country))
    with pytest.raises(InvalidState, match="awaits no continued use"):
        country.desk(CHUO).continue_use(chip, pin="1234", ask=_ask(country))


def test_ordinance_services_are_added_at_the_home_counter_only(country: Country) -> None:
    record = _resident(country)
    chip = _issue(country, record)
    library = b"L" * 16
    country.desk(CHIYODA).add_service(chip, "library", 256, library)
    chip.write_area("library", library, b"member 0042")
    assert chip.read_area("library", library) == b"member 0042"
    with pytest.raises(NotFound):
        country.desk(KITA_OSAKA).add_service(chip, "seal", 64, b"S" * 16)
    country.desk(CHIYODA).report_lost(chip.card_id)
    with pytest.raises(CardSuspended):
        country.desk(CHIYODA).add_service(chip, "seal", 64, b"S" * 16)
    actions = [r.entry.action for r in country.stores[NodeId.municipality(CHIYODA)].audit.read()]
    assert actions.count("card.area_added") == 1


def test_the_centre_tells_nothing_about_a_card_to_one_who_cannot_show_it(
    country: Country,
) -> None:
    record = _resident(country)
    chip = _issue(country, record)
    cs = country.municipality(KITA_OSAKA).cs
    for key, code in (("00" * 32, "621498320257"), (None, "123456789018")):
        check = cm.CardCheck(
            request_id="ef" * 16,
            card_id=chip.card_id,
            public_key=key or chip.read_public().certificate.public_key.hex(),
            code=code,
        )
        envelope = cs.seal_message(CENTER, cm.CARD_CHECK, cm.encode_card_check(check))
        answer = cm.parse_card_check_answer(
            cs.open_message(country.center.answer_card_check(envelope), cm.CARD_CHECK_ANSWER)
        )
        assert answer.verdict == ("key_mismatch" if key else "code_mismatch")
        assert (answer.holder, answer.municipality, answer.kind) == (None, None, None)


def test_the_centre_refuses_an_issue_by_a_municipality_that_never_held_the_person(
    country: Country,
) -> None:
    record = _resident(country)
    from jukinet.card.lifecycle import CardStatus
    from jukinet.domain.lg_code import LocalGovernmentCode

    # 中央区 claims to have issued a card to 千代田区's resident
    issued = CardStatus.issue(
        card_id="cd" * 16,
        holder=record.resident_code,
        kind=CardKind.MY_NUMBER,
        photo=True,
        issuer=LocalGovernmentCode(CHUO),
        issued_on=country.clock.today(),
        born_on=record.birth_date,
    )
    chuo = country.municipality(CHUO)
    with chuo.store.unit_of_work() as uow:
        chuo.cs.queue(
            uow,
            chuo.cs.prefecture,
            [
                cm.encode_card_status(
                    cm.card_row(issued.status, bytes(32)), cm.event_row("cd" * 16, issued.entry)
                )
            ],
        )
    country.network.settle()
    assert _centre_card(country, "cd" * 16) is None
    assert "no resident of 131024" in str(_audit(country, CENTER, "card.refused")[-1]["why"])
