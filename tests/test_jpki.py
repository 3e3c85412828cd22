"""Revocation of JPKI certificates by identity changes (JPKI法12条, 15条, 31条, 34条)."""

from __future__ import annotations

from datetime import date, timedelta

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jukinet.domain import codec
from jukinet.domain.address import Address
from jukinet.domain.changes import ChangeKind, ChangeReason
from jukinet.domain.identity import IdentityInfo, IdentityNotice
from jukinet.domain.individual_number import IndividualNumber
from jukinet.domain.jpki import (
    MOVE_IN_DEADLINE,
    MOVE_OUT_REASONS,
    Cause,
    Certificate,
    RevocationNotice,
    move_in_deadline,
    no_move_in,
    revocations,
)
from jukinet.domain.lg_code import LocalGovernmentCode
from jukinet.domain.resident import Sex
from jukinet.domain.resident_code import ResidentCode
from jukinet.errors import InvalidComponent, InvalidFormat
from jukinet.testing import examples
from jukinet.testing import strategies as jst

WHEN = date(2025, 4, 1)
SIGNATURE_ONLY = {(Certificate.SIGNATURE, Cause.IDENTITY_CHANGED)}
BOTH_REMOVED = {
    (Certificate.SIGNATURE, Cause.REMOVED),
    (Certificate.USER_AUTHENTICATION, Cause.REMOVED),
}
REMAKES = (ChangeReason.RECONSTRUCTION_REMOVAL, ChangeReason.RECREATION_REMOVAL)


def _info() -> IdentityInfo:
    return IdentityInfo.from_record(examples.resident_record())


def _notice(
    info: IdentityInfo,
    reason: ChangeReason,
    *,
    when: date = WHEN,
    previous_code: ResidentCode | None = None,
    previous_number: IndividualNumber | None = None,
) -> IdentityNotice:
    moves = (ChangeReason.DOMESTIC_MOVE_OUT, ChangeReason.DOMESTIC_MOVE_IN)
    moved_from = None
    if reason is ChangeReason.DOMESTIC_MOVE_IN:  # from a town the person does not live in
        moved_from = LocalGovernmentCode("131024" if info.municipality != "131024" else "131016")
    return IdentityNotice(
        info=info,
        reason=reason,
        event_date=when,
        previous_resident_code=previous_code,
        previous_individual_number=previous_number,
        certificate="c" * 32 if reason in moves else None,  # 住基法24条: the certificate's number
        moved_from=moved_from,
    )


def _causes(found: tuple[RevocationNotice, ...]) -> set[tuple[Certificate, Cause]]:
    return {(r.certificate, r.cause) for r in found}


# --- 12条1号: changes of the recorded items --------------------------------------


def test_move_within_revokes_the_signature_certificate_only() -> None:
    # JPKI法12条1号: a 転居 changes the address (住基法7条7号); 31条 does not apply.
    before = _info()
    after = attrs.evolve(before, address=Address("131016", "千代田2丁目3番4号"))
    found = revocations(_notice(after, ChangeReason.MOVE_WITHIN), before)
    assert _causes(found) == SIGNATURE_ONLY
    (notice,) = found
    assert notice.resident_code == before.resident_code
    assert notice.reason is ChangeReason.MOVE_WITHIN
    assert notice.event_date == WHEN
    assert notice.article == "JPKI法12条1号"


def _changed(info: IdentityInfo, item: str) -> IdentityInfo:
    name = info.name
    changes = {
        "name": {"name": attrs.evolve(name, family="佐藤", family_reading="サトウ")},
        "reading": {"name": attrs.evolve(name, given_reading="タロ")},
        "sex": {"sex": Sex.FEMALE if info.sex is Sex.MALE else Sex.MALE},
        "birth_date": {"birth_date": info.birth_date - timedelta(days=1)},
        "former_surname": {
            "name": attrs.evolve(name, former_family="鈴木", former_family_reading="スズキ")
        },
    }[item]
    return attrs.evolve(info, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ("name", ChangeReason.EX_OFFICIO_CORRECTION),  # 7条1号, after a 戸籍 notification
        ("reading", ChangeReason.EX_OFFICIO_CORRECTION),  # 7条1号の2
        ("sex", ChangeReason.CLERICAL_ERROR_CORRECTION),  # 7条3号
        ("birth_date", ChangeReason.CLERICAL_ERROR_CORRECTION),  # 7条2号
        ("former_surname", ChangeReason.FORMER_SURNAME_ENTRY),  # 旧氏, 令30条の14 (assumed)
    ],
)
def test_a_change_of_a_recorded_item_revokes_the_signature_certificate_only(
    item: str, reason: ChangeReason
) -> None:
    # JPKI法12条1号: a 修正 of 住基法7条1号〜3号 items; the user-authentication
    # certificate records none of them (31条 lists no such cause).
    before = _info()
    found = revocations(_notice(_changed(before, item), reason), before)
    assert _causes(found) == SIGNATURE_ONLY


def test_a_minor_correction_revokes_nothing() -> None:
    # JPKI法12条1号: 総務省令で定める軽微な修正 is excluded (assumed to be MINOR_CORRECTION).
    before = _info()
    after = attrs.evolve(before, address=Address("131016", "千代田1丁目1番1号 101"))
    assert revocations(_notice(after, ChangeReason.MINOR_CORRECTION), before) == ()
    assert revocations(_notice(after, ChangeReason.MINOR_CORRECTION), None) == ()


def test_an_individual_number_change_revokes_nothing() -> None:
    # 個人番号 (住基法7条8号の2) is not among 7条1号〜3号・7号 (JPKI法12条1号).
    old, new = IndividualNumber("123456789018"), IndividualNumber("000000000019")
    before = attrs.evolve(_info(), individual_number=old)
    after = attrs.evolve(before, individual_number=new)
    notice = _notice(after, ChangeReason.INDIVIDUAL_NUMBER_CHANGE_REQUEST, previous_number=old)
    assert revocations(notice, before) == ()
    assert revocations(notice, None) == ()


def test_a_resident_code_change_revokes_nothing() -> None:
    # 住民票コード (住基法7条13号) is not among 7条1号〜3号・7号 (JPKI法12条1号).
    before = _info()
    after = attrs.evolve(before, resident_code=ResidentCode("00000000051"))
    notice = _notice(
        after, ChangeReason.RESIDENT_CODE_CHANGE_REQUEST, previous_code=before.resident_code
    )
    assert revocations(notice, before) == ()
    assert revocations(notice, None) == ()


def test_a_correction_without_previous_version_revokes_the_signature_certificate() -> None:
    # JPKI法12条1号 cannot be checked without the old items: err on the side of revoking.
    assert _causes(revocations(_notice(_info(), ChangeReason.MOVE_WITHIN), None)) == (
        SIGNATURE_ONLY
    )


def test_a_correction_that_changes_no_recorded_item_revokes_nothing() -> None:
    # JPKI法12条1号 needs a change of the items, not just a 修正 notice.
    before = _info()
    assert revocations(_notice(before, ChangeReason.EX_OFFICIO_CORRECTION), before) == ()


# --- 12条2号, 31条1号: removals ---------------------------------------------------


def test_death_revokes_both_certificates() -> None:
    # JPKI法12条2号 (署名用) and 31条1号 (利用者証明用: removal not by 転出届).
    info = _info()
    found = revocations(_notice(info, ChangeReason.DEATH), info)
    assert _causes(found) == BOTH_REMOVED
    assert {r.article for r in found} == {"JPKI法12条2号", "JPKI法31条1号"}
    assert move_in_deadline(_notice(info, ChangeReason.DEATH)) is None


@pytest.mark.parametrize(
    "reason",
    [
        ChangeReason.EX_OFFICIO_REMOVAL,
        ChangeReason.EX_OFFICIO_REMOVAL_NATURALIZATION,
        ChangeReason.EX_OFFICIO_REMOVAL_NATIONALITY_LOSS,
        ChangeReason.CANCELLATION_REMOVAL,
    ],
)
def test_ex_officio_removal_revokes_both_certificates(reason: ChangeReason) -> None:
    # JPKI法12条2号 and 31条1号: 職権消除 is a removal other than by 転出届.
    info = _info()
    assert _causes(revocations(_notice(info, reason), info)) == BOTH_REMOVED
    assert _causes(revocations(_notice(info, reason), None)) == BOTH_REMOVED


@pytest.mark.parametrize("reason", [ChangeReason.DOMESTIC_MOVE_OUT, ChangeReason.MOVE_ABROAD])
def test_move_out_revokes_the_signature_certificate_now_and_sets_a_deadline(
    reason: ChangeReason,
) -> None:
    # JPKI法12条2号 revokes the signature certificate; 31条1号 excepts a removal by
    # 転出届 (住基法24条, which covers moving abroad) and 31条2号 allows 30 days.
    info = _info()
    planned = date(2025, 12, 15)
    notice = _notice(info, reason, when=planned)
    found = revocations(notice, info)
    assert _causes(found) == {(Certificate.SIGNATURE, Cause.REMOVED)}
    assert found[0].event_date == planned
    assert move_in_deadline(notice) == planned + timedelta(days=30) == date(2026, 1, 14)
    assert MOVE_IN_DEADLINE.days == 30


@pytest.mark.parametrize("reason", REMAKES)
def test_remaking_a_record_revokes_nothing(reason: ChangeReason) -> None:
    # 改製・再製 (住基法施行令13条の2, 16条) remake the record; the person is not removed,
    # so neither JPKI法12条2号 nor 31条1号 applies.
    info = _info()
    assert revocations(_notice(info, reason), info) == ()
    assert move_in_deadline(_notice(info, reason)) is None


# --- 記載 -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "reason",
    [ChangeReason.BIRTH, ChangeReason.DOMESTIC_MOVE_IN, ChangeReason.MOVE_IN_FROM_ABROAD],
)
def test_a_first_registration_revokes_nothing(reason: ChangeReason) -> None:
    # JPKI法12条・31条 revoke on a 修正 or 消除; a first 記載 has no certificate to revoke.
    assert revocations(_notice(_info(), reason), None) == ()


def test_a_move_in_after_a_move_out_revokes_the_signature_certificate_again() -> None:
    # The 転出 already revoked it (JPKI法12条2号). The 転入 compares the items with the
    # version before it (12条1号) and emits a second notice for the new address: harmless
    # (revoking a revoked certificate changes nothing) and free of certificate state.
    before = _info()
    moved = attrs.evolve(before, address=Address("011011", "北1条西2丁目"))
    out = revocations(_notice(before, ChangeReason.DOMESTIC_MOVE_OUT), before)
    back = revocations(_notice(moved, ChangeReason.DOMESTIC_MOVE_IN), before)
    assert _causes(out) == {(Certificate.SIGNATURE, Cause.REMOVED)}
    assert _causes(back) == SIGNATURE_ONLY
    # The same address again (e.g. a 転入 back to the same place) changes no item.
    assert revocations(_notice(before, ChangeReason.DOMESTIC_MOVE_IN), before) == ()


# --- same person ----------------------------------------------------------------


def test_a_previous_version_of_another_person_is_refused() -> None:
    before = _info()
    stranger = attrs.evolve(before, resident_code=ResidentCode("00000000051"))
    with pytest.raises(InvalidComponent, match="resident code"):
        revocations(_notice(before, ChangeReason.MOVE_WITHIN), stranger)


def test_wrong_argument_types_are_refused() -> None:
    info = _info()
    with pytest.raises(TypeError, match="IdentityNotice"):
        revocations(info, None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="IdentityInfo"):
        revocations(_notice(info, ChangeReason.MOVE_WITHIN), "山田")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="IdentityNotice"):
        move_in_deadline(info)  # type: ignore[arg-type]


# --- 31条2号: no move-in ---------------------------------------------------------


@pytest.mark.parametrize("reason", [ChangeReason.DOMESTIC_MOVE_OUT, ChangeReason.MOVE_ABROAD])
def test_no_move_in_revokes_the_user_authentication_certificate(reason: ChangeReason) -> None:
    # JPKI法31条2号: no 転入届 within 30 days of the planned move-out date.
    info = _info()
    deadline = move_in_deadline(_notice(info, reason))
    assert deadline is not None
    notice = no_move_in(info.resident_code, reason, deadline)
    assert (notice.certificate, notice.cause) == (
        Certificate.USER_AUTHENTICATION,
        Cause.NO_MOVE_IN,
    )
    assert (notice.reason, notice.event_date) == (reason, WHEN + timedelta(days=30))
    assert notice.article == "JPKI法31条2号"


def test_move_out_reasons_are_the_two_kinds_of_move_out() -> None:
    # 住基法24条: the 転出届 covers moving to another municipality and moving abroad.
    assert {ChangeReason.DOMESTIC_MOVE_OUT, ChangeReason.MOVE_ABROAD} == MOVE_OUT_REASONS


def test_no_move_in_needs_a_move_out_reason() -> None:
    # JPKI法31条2号 follows a 転出届 only.
    with pytest.raises(InvalidComponent, match="not a 転出届"):
        no_move_in(ResidentCode("12345678903"), ChangeReason.DEATH, WHEN)


# --- RevocationNotice -------------------------------------------------------------


@pytest.mark.parametrize(
    ("certificate", "cause", "reason", "match"),
    [
        # 31条 has no cause for a change of items.
        (
            Certificate.USER_AUTHENTICATION,
            Cause.IDENTITY_CHANGED,
            ChangeReason.MOVE_WITHIN,
            "does not revoke",
        ),
        # 12条 has no deadline cause.
        (Certificate.SIGNATURE, Cause.NO_MOVE_IN, ChangeReason.DOMESTIC_MOVE_OUT, "does not"),
        # 31条1号 excepts a removal by 転出届.
        (
            Certificate.USER_AUTHENTICATION,
            Cause.REMOVED,
            ChangeReason.MOVE_ABROAD,
            "転出届",
        ),
        # 12条1号 excepts minor corrections.
        (Certificate.SIGNATURE, Cause.IDENTITY_CHANGED, ChangeReason.MINOR_CORRECTION, "minor"),
        (Certificate.SIGNATURE, Cause.IDENTITY_CHANGED, ChangeReason.DEATH, "消除"),
        (Certificate.SIGNATURE, Cause.REMOVED, ChangeReason.MOVE_WITHIN, "does not remove"),
        (Certificate.SIGNATURE, Cause.REMOVED, ChangeReason.RECONSTRUCTION_REMOVAL, "remove"),
        (
            Certificate.SIGNATURE,
            Cause.IDENTITY_CHANGED,
            ChangeReason.HEAD_OF_HOUSEHOLD_CHANGE,
            "no identity information",
        ),
    ],
)
def test_revocation_notice_refuses_unlawful_combinations(
    certificate: Certificate, cause: Cause, reason: ChangeReason, match: str
) -> None:
    with pytest.raises(InvalidComponent, match=match):
        RevocationNotice(
            resident_code=ResidentCode("12345678903"),
            certificate=certificate,
            cause=cause,
            reason=reason,
            event_date=WHEN,
        )


@pytest.mark.parametrize(
    "field",
    ["resident_code", "certificate", "cause", "reason", "event_date"],
)
def test_revocation_notice_checks_types(field: str) -> None:
    values: dict[str, object] = {
        "resident_code": ResidentCode("12345678903"),
        "certificate": Certificate.SIGNATURE,
        "cause": Cause.REMOVED,
        "reason": ChangeReason.DEATH,
        "event_date": WHEN,
    }
    values[field] = "12345678903" if field != "resident_code" else 12345678903
    with pytest.raises(TypeError, match="expected"):
        RevocationNotice(**values)  # type: ignore[arg-type]


def test_a_datetime_is_not_an_event_date() -> None:
    from datetime import datetime

    with pytest.raises(TypeError, match="datetime"):
        no_move_in(
            ResidentCode("12345678903"), ChangeReason.DOMESTIC_MOVE_OUT, datetime(2025, 5, 1)
        )


def test_revocation_notice_serializes_to_plain_data() -> None:
    notice = no_move_in(ResidentCode("12345678903"), ChangeReason.MOVE_ABROAD, date(2025, 5, 1))
    assert codec.to_data(notice) == {
        "resident_code": "12345678903",
        "certificate": "user_authentication",
        "cause": "no_move_in",
        "reason": "move_abroad",
        "event_date": "2025-05-01",
    }


@given(jst.identity_notices(), jst.identity_infos())
def test_revocation_notices_round_trip_through_the_codec(
    notice: IdentityNotice, other: IdentityInfo
) -> None:
    found = list(revocations(notice, _same_person(other, notice)))
    deadline = move_in_deadline(notice)
    if deadline is not None:
        found.append(no_move_in(notice.resident_code, notice.reason, deadline))
    for revocation in found:
        assert codec.from_bytes(RevocationNotice, codec.to_bytes(revocation)) == revocation


def test_decoding_an_unlawful_combination_is_an_invalid_format() -> None:
    raw = (
        b'{"cause":"no_move_in","certificate":"signature","event_date":"2025-05-01",'
        b'"reason":"domestic_move_out","resident_code":"12345678903"}'
    )
    with pytest.raises(InvalidFormat):
        codec.from_bytes(RevocationNotice, raw)


# --- the rules as properties ------------------------------------------------------


def _same_person(previous: IdentityInfo, notice: IdentityNotice) -> IdentityInfo:
    code = notice.previous_resident_code
    if code is None:
        code = notice.resident_code
    return attrs.evolve(previous, resident_code=code)


@st.composite
def _notice_and_previous(draw: st.DrawFn) -> tuple[IdentityNotice, IdentityInfo]:
    """A notice and a previous version of the same person, some items kept, some not."""
    notice = draw(jst.identity_notices())
    previous = _same_person(draw(jst.identity_infos()), notice)
    for item in ("name", "birth_date", "sex", "address"):
        if draw(st.booleans()):
            previous = attrs.evolve(previous, **{item: getattr(notice.info, item)})
    return notice, previous


@given(_notice_and_previous())
def test_revocation_follows_the_law(pair: tuple[IdentityNotice, IdentityInfo]) -> None:
    # JPKI法12条 (署名用) and 31条1号 (利用者証明用), over every notifiable reason.
    notice, previous = pair
    found = revocations(notice, previous)
    certificates = [r.certificate for r in found]
    removed = notice.kind is ChangeKind.REMOVAL and notice.reason not in REMAKES
    items_changed = (
        previous.name != notice.info.name
        or previous.birth_date != notice.info.birth_date
        or previous.sex != notice.info.sex
        or previous.address != notice.info.address
    )
    signature = removed or (
        notice.kind is not ChangeKind.REMOVAL
        and notice.reason is not ChangeReason.MINOR_CORRECTION
        and items_changed
    )
    user_authentication = removed and notice.reason not in MOVE_OUT_REASONS
    assert (Certificate.SIGNATURE in certificates) == signature
    assert (Certificate.USER_AUTHENTICATION in certificates) == user_authentication
    assert len(certificates) == len(set(certificates))
    for revocation in found:
        assert revocation.resident_code == notice.resident_code
        assert (revocation.reason, revocation.event_date) == (notice.reason, notice.event_date)
    assert (move_in_deadline(notice) is not None) == (notice.reason in MOVE_OUT_REASONS)
