"""Revocation of JPKI certificates by identity changes (公的個人認証, 異動等失効).

J-LIS, the certification authority of the public personal authentication
service (電子署名等に係る地方公共団体情報システム機構の認証業務に関する法律,
"JPKI法"), watches the identity information it keeps (機構保存本人確認情報,
住基法30条の7第4項) and revokes the certificates on a resident's card when the
person's record changes:

* the **signature certificate** (署名用電子証明書) records the name, birth
  date, sex and address (JPKI法7条1項3号), so it loses effect on any 修正 of
  those items other than a minor correction (12条1号) and on any 消除 of the
  record (12条2号; 15条1項2号);
* the **user-authentication certificate** (利用者証明用電子証明書) records none
  of them, so it survives a move: it loses effect when the record is removed
  other than by a 転出届 (31条1号), or when a 転出届 is not followed by a
  転入届 within 30 days of the planned move-out date (31条2号; 34条1項2号).

:func:`revocations` gives the revocations one identity notice causes at once;
:func:`move_in_deadline` and :func:`no_move_in` cover the later one. The rules
are pure: the caller (the national centre) supplies the previous version of the
person's identity information, keeps the deadlines and reads its own clock.

Modelling choices, each stated where it applies:

* The ordinance's list of minor corrections (総務省令で定める軽微な修正) is not
  in the sources; :attr:`~jukinet.domain.changes.ChangeReason.MINOR_CORRECTION` stands for all of it.
* 改製 and 再製 remake a record without removing the person (住基法施行令13条の2,
  16条; 令17条 tells "改製前の住民票" apart from "消除した住民票"), so they are
  not a 消除 in 12条's or 31条's sense and revoke nothing.
* People living abroad (国外転出者, whose certificates follow the 戸籍の附票:
  12条3号, 31条3号) are not modelled, nor the exception for a
  certificate issued between a 国外転出届 and the planned date (12条2号 and
  31条2号, parentheses): the rules assume every certificate was issued
  while the person lived in Japan.
* "Within 30 days" is judged by whether the move-in notice reached the centre
  by the deadline; the delay between the 転入届 at the counter and its notice
  reaching the centre is not modelled.

>>> from datetime import date
>>> import attrs
>>> from jukinet.domain.address import Address
>>> from jukinet.domain.changes import ChangeReason
>>> from jukinet.domain.identity import IdentityInfo, IdentityNotice
>>> from jukinet.testing.examples import resident_record
>>> before = IdentityInfo.from_record(resident_record())
>>> moved = attrs.evolve(before, address=Address("131016", "千代田2丁目3番4号"))
>>> notice = IdentityNotice(info=moved, reason=ChangeReason.MOVE_WITHIN,
...                         event_date=date(2025, 4, 1))
>>> [(r.certificate.value, r.cause.value) for r in revocations(notice, before)]
[('signature', 'identity_changed')]
>>> death = IdentityNotice(info=before, reason=ChangeReason.DEATH, event_date=date(2025, 4, 1))
>>> [(r.certificate.value, r.article) for r in revocations(death, before)]
[('signature', 'JPKI法12条2号'), ('user_authentication', 'JPKI法31条1号')]
>>> move_out = IdentityNotice(info=before, reason=ChangeReason.DOMESTIC_MOVE_OUT,
...                           event_date=date(2025, 4, 1), certificate="0" * 32)
>>> [r.certificate.value for r in revocations(move_out, before)]
['signature']
>>> move_in_deadline(move_out)
datetime.date(2025, 5, 1)
"""

from __future__ import annotations

import enum
from datetime import date, timedelta

import attrs

from jukinet.domain._validate import instance_of as _type
from jukinet.domain.changes import ChangeKind, ChangeReason
from jukinet.domain.identity import IdentityInfo, IdentityNotice
from jukinet.domain.resident_code import ResidentCode
from jukinet.errors import InvalidComponent

__all__ = [
    "MOVE_IN_DEADLINE",
    "MOVE_OUT_REASONS",
    "Cause",
    "Certificate",
    "RevocationNotice",
    "move_in_deadline",
    "no_move_in",
    "revocations",
]

MOVE_IN_DEADLINE = timedelta(days=30)
"""How long after the planned move-out date a 転入届 may follow (JPKI法31条2号)."""

MOVE_OUT_REASONS: frozenset[ChangeReason] = frozenset(
    {ChangeReason.DOMESTIC_MOVE_OUT, ChangeReason.MOVE_ABROAD}
)
"""Removals made on a 転出届 (住基法24条 covers moving abroad too).

They revoke the signature certificate at once but the user-authentication
certificate only if no 転入届 follows (JPKI法31条1号・2号).
"""

_REMAKES: frozenset[ChangeReason] = frozenset(
    {ChangeReason.RECONSTRUCTION_REMOVAL, ChangeReason.RECREATION_REMOVAL}
)
"""改製 and 再製: the old record gives way to a new one; the person is not removed."""


class Certificate(enum.Enum):
    """The two certificates J-LIS issues on a resident's card (JPKI法3条, 22条)."""

    SIGNATURE = "signature"
    """署名用電子証明書: signature certificate (JPKI法12条・15条)."""
    USER_AUTHENTICATION = "user_authentication"
    """利用者証明用電子証明書: user-authentication certificate (JPKI法31条・34条)."""

    @property
    def label_ja(self) -> str:
        """The Japanese term."""
        return {
            "signature": "署名用電子証明書",
            "user_authentication": "利用者証明用電子証明書",
        }[self.value]


class Cause(enum.Enum):
    """Why an identity change revoked a certificate (異動等失効の事由)."""

    IDENTITY_CHANGED = "identity_changed"
    """A 修正 of the name (with its reading), birth date, sex or address
    (住基法7条1号〜3号・7号) other than a minor correction: JPKI法12条1号.
    Signature certificate only."""
    REMOVED = "removed"
    """The record was removed (消除): JPKI法12条2号 for the signature
    certificate; for the user-authentication certificate only a removal other
    than by a 転出届 (31条1号)."""
    NO_MOVE_IN = "no_move_in"
    """A 転出届 was not followed by a 転入届 within 30 days of the planned
    move-out date: JPKI法31条2号. User-authentication certificate only."""


_ARTICLES = {
    (Certificate.SIGNATURE, Cause.IDENTITY_CHANGED): "JPKI法12条1号",
    (Certificate.SIGNATURE, Cause.REMOVED): "JPKI法12条2号",
    (Certificate.USER_AUTHENTICATION, Cause.REMOVED): "JPKI法31条1号",
    (Certificate.USER_AUTHENTICATION, Cause.NO_MOVE_IN): "JPKI法31条2号",
}


@attrs.frozen(kw_only=True)
class RevocationNotice:
    """One certificate revoked by an identity change (異動等失効情報, JPKI法12条・31条).

    It names the resident, not a certificate serial number: J-LIS finds the
    certificates through its issue records, which keep the resident code
    (発行記録, JPKI法8条 and its user-authentication counterpart).
    ``event_date`` is the date of the change (異動日; for a 転出届 the planned
    move-out date, 令30条の5), and for :attr:`Cause.NO_MOVE_IN` the deadline
    (:func:`move_in_deadline`). The date on which J-LIS records the revocation
    is the recorder's to add from its clock.

    The combination must be one the law knows: :attr:`Cause.IDENTITY_CHANGED`
    for the signature certificate after a 記載 or 修正 that is not a minor
    correction; :attr:`Cause.REMOVED` after a 消除 (not 改製 or 再製), and for the
    user-authentication certificate not one made on a 転出届;
    :attr:`Cause.NO_MOVE_IN` for the user-authentication certificate after a
    転出届. Anything else raises :class:`~jukinet.errors.InvalidComponent`.
    """

    resident_code: ResidentCode = attrs.field(validator=_type("住民票コード", ResidentCode))
    certificate: Certificate = attrs.field(validator=_type("電子証明書", Certificate))
    cause: Cause = attrs.field(validator=_type("失効の事由", Cause))
    reason: ChangeReason = attrs.field(validator=_type("異動事由", ChangeReason))
    event_date: date = attrs.field(validator=_type("異動日", date))

    def __attrs_post_init__(self) -> None:
        problem = _combination_problem(self.certificate, self.cause, self.reason)
        if problem is not None:
            message, expected = problem
            raise InvalidComponent(message, field="異動事由", expected=expected)

    @property
    def article(self) -> str:
        """The provision that revokes the certificate, e.g. ``JPKI法12条1号``."""
        return _ARTICLES[self.certificate, self.cause]


def _combination_problem(
    certificate: Certificate, cause: Cause, reason: ChangeReason
) -> tuple[str, str] | None:
    """Say what is wrong with a (certificate, cause, reason) triple, or None if it is lawful."""
    if (certificate, cause) not in _ARTICLES:
        return (
            f"{cause.value} does not revoke the {certificate.label_ja}",
            "identity_changed or removed for the signature certificate (JPKI法12条), "
            "removed or no_move_in for the user-authentication certificate (31条)",
        )
    if not reason.notifiable:
        return (
            f"{reason.label_ja} changes no identity information",
            "a reason that changes identity information (住基法30条の6第1項)",
        )
    if cause is Cause.IDENTITY_CHANGED:
        if reason.kind is ChangeKind.REMOVAL:
            return (
                f"{reason.label_ja} is a 消除, not a change of identity items",
                "the cause removed for a 消除 (JPKI法12条2号)",
            )
        if reason is ChangeReason.MINOR_CORRECTION:
            return (
                "a minor correction revokes no certificate",
                "a 修正 other than 軽微な修正 (JPKI法12条1号)",
            )
        return None
    if cause is Cause.REMOVED:
        if reason.kind is not ChangeKind.REMOVAL or reason in _REMAKES:
            return (
                f"{reason.label_ja} does not remove the record",
                "a 消除 reason other than 改製 or 再製 (JPKI法12条2号, 31条1号)",
            )
        if certificate is Certificate.USER_AUTHENTICATION and reason in MOVE_OUT_REASONS:
            return (
                f"a removal by 転出届 ({reason.label_ja}) does not revoke it at once",
                "a removal other than by 転出届 (JPKI法31条1号)",
            )
        return None
    if reason not in MOVE_OUT_REASONS:
        return (
            f"{reason.label_ja} is not a 転出届",
            "国内転出 or 国外転出 (JPKI法31条2号)",
        )
    return None


def _items_differ(before: IdentityInfo, after: IdentityInfo) -> bool:
    """Whether the items a signature certificate records differ (住基法7条1号〜3号・7号).

    The name is compared whole: family and given names, their readings
    (7条1号の2), and a former surname (旧氏) or a foreign resident's alias
    (通称) with their readings. For identity information the ordinance reads
    the 旧氏 into 7条1号 (住基法施行令30条の14) and the 通称 likewise
    (令30条の16第7項); that JPKI法12条 follows the same reading is an assumption.
    """
    return (
        before.name != after.name
        or before.birth_date != after.birth_date
        or before.sex != after.sex
        or before.address != after.address
    )


def _only_codes(reason: ChangeReason) -> bool:
    """Whether a 修正 reason replaces only the resident code or the individual number."""
    return reason.changes_resident_code or reason.changes_individual_number


def revocations(
    notice: IdentityNotice, previous: IdentityInfo | None
) -> tuple[RevocationNotice, ...]:
    """The certificates an identity notice revokes at once (JPKI法12条, 31条1号).

    ``previous`` is the person's identity information before the change: the
    latest version the centre holds under the resident code (under the
    previous code when the notice replaces it), or ``None`` when it holds none.
    A ``previous`` of another person raises
    :class:`~jukinet.errors.InvalidComponent`.

    Signature certificate (12条):

    * every 消除 revokes it (2号), 改製 and 再製 excepted (they remake the record);
    * a 修正, or a 記載 that follows an earlier version (a 転入 after a 転出),
      revokes it when the name (with its reading), birth date, sex or address
      differs from ``previous`` (1号), unless the reason is a minor correction.
      A change of only the resident code or the individual number revokes
      nothing: those are not 7条1号〜3号・7号 items;
    * a 修正 without ``previous`` cannot be compared; it revokes the
      certificate unless the reason replaces only a code or is a minor
      correction. A needless revocation is cured by a new issue; a certificate
      left valid with stale items is not;
    * a first 記載 (``previous`` is None: birth, a first move-in) revokes nothing.

    A 転入 after a 転出 whose address differs revokes the signature certificate
    again, although the move-out already did. The repeat is harmless (revoking
    a revoked certificate changes nothing) and keeps the rule free of
    certificate state.

    User-authentication certificate (31条1号): every 消除 other than one
    made on a 転出届 (:data:`MOVE_OUT_REASONS`) and other than 改製 or 再製.
    After a 転出届 see :func:`move_in_deadline`.
    """
    if not isinstance(notice, IdentityNotice):
        raise TypeError(f"notice: expected an IdentityNotice, got {type(notice).__name__}")
    if previous is not None and not isinstance(previous, IdentityInfo):
        raise TypeError(
            f"previous: expected an IdentityInfo or None, got {type(previous).__name__}"
        )
    if previous is not None:
        _check_same_person(notice, previous)
    reason = notice.reason

    def revoke(certificate: Certificate, cause: Cause) -> RevocationNotice:
        return RevocationNotice(
            resident_code=notice.resident_code,
            certificate=certificate,
            cause=cause,
            reason=reason,
            event_date=notice.event_date,
        )

    if notice.kind is ChangeKind.REMOVAL:
        if reason in _REMAKES:
            return ()
        if reason in MOVE_OUT_REASONS:
            return (revoke(Certificate.SIGNATURE, Cause.REMOVED),)
        return (
            revoke(Certificate.SIGNATURE, Cause.REMOVED),
            revoke(Certificate.USER_AUTHENTICATION, Cause.REMOVED),
        )
    if reason is ChangeReason.MINOR_CORRECTION:
        return ()
    if previous is None:
        if notice.kind is ChangeKind.ENTRY or _only_codes(reason):
            return ()
        return (revoke(Certificate.SIGNATURE, Cause.IDENTITY_CHANGED),)
    if _items_differ(previous, notice.info):
        return (revoke(Certificate.SIGNATURE, Cause.IDENTITY_CHANGED),)
    return ()


def _check_same_person(notice: IdentityNotice, previous: IdentityInfo) -> None:
    expected = notice.previous_resident_code
    if expected is None:
        expected = notice.resident_code
    if previous.resident_code != expected:
        raise InvalidComponent(
            f"the previous version has the resident code {previous.resident_code}, "
            f"the notice is about {expected}",
            field="previous",
            expected="the same person's identity information before the change",
        )


def move_in_deadline(notice: IdentityNotice) -> date | None:
    """The last day for a 転入届 after a 転出届, or None for any other notice (JPKI法31条2号).

    For a removal on a 転出届 (:data:`MOVE_OUT_REASONS`) the notice's date is
    the planned move-out date (令30条の5), and the deadline is that date plus
    :data:`MOVE_IN_DEADLINE`. The first day is not counted and the period ends
    with its last day (民法140条・141条): a move-in that reaches the centre on
    the deadline is in time, and the certificate is revoked (:func:`no_move_in`)
    only once the deadline has passed, i.e. from the day after.

    "Within 30 days" is judged by when the move-in notice reached the centre;
    the lag between the 転入届 and its notice is not modelled.

    >>> from datetime import date
    >>> from jukinet.domain.changes import ChangeReason
    >>> from jukinet.domain.identity import IdentityInfo, IdentityNotice
    >>> from jukinet.testing.examples import resident_record
    >>> info = IdentityInfo.from_record(resident_record())
    >>> abroad = IdentityNotice(info=info, reason=ChangeReason.MOVE_ABROAD,
    ...                         event_date=date(2025, 12, 15))
    >>> move_in_deadline(abroad)
    datetime.date(2026, 1, 14)
    >>> death = IdentityNotice(info=info, reason=ChangeReason.DEATH, event_date=date(2025, 12, 15))
    >>> move_in_deadline(death) is None
    True
    """
    if not isinstance(notice, IdentityNotice):
        raise TypeError(f"notice: expected an IdentityNotice, got {type(notice).__name__}")
    if notice.reason in MOVE_OUT_REASONS:
        return notice.event_date + MOVE_IN_DEADLINE
    return None


def no_move_in(
    resident_code: ResidentCode, move_out_reason: ChangeReason, deadline: date
) -> RevocationNotice:
    """The revocation of the user-authentication certificate when no move-in came (31条2号).

    The centre calls it once ``deadline`` (from :func:`move_in_deadline`) has
    passed without a move-in notice for ``resident_code``. The notice carries
    the move-out's reason and the deadline as its date. A reason that is not a
    転出届 raises :class:`~jukinet.errors.InvalidComponent`.

    >>> from datetime import date
    >>> from jukinet.domain.changes import ChangeReason
    >>> from jukinet.domain.resident_code import ResidentCode
    >>> notice = no_move_in(ResidentCode("12345678903"), ChangeReason.DOMESTIC_MOVE_OUT,
    ...                     date(2025, 5, 1))
    >>> notice.certificate.value, notice.cause.value, notice.article
    ('user_authentication', 'no_move_in', 'JPKI法31条2号')
    """
    return RevocationNotice(
        resident_code=resident_code,
        certificate=Certificate.USER_AUTHENTICATION,
        cause=Cause.NO_MOVE_IN,
        reason=move_out_reason,
        event_date=deadline,
    )
