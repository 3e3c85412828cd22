"""Shared pieces of the conformance suite: the fixed values, :class:`RowFactory`
(rows built from real domain values), reading a whole store (:func:`snapshot` and
the ``read_all_*`` functions) and running racing threads.
"""

from __future__ import annotations

import hashlib
import itertools
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import attrs
from hypothesis import strategies as st

from jukinet.domain import resident_code as _resident_code
from jukinet.domain.address import Address
from jukinet.domain.changes import ChangeReason
from jukinet.domain.identity import IdentityInfo, IdentityNotice
from jukinet.domain.lg_code import LocalGovernmentCode
from jukinet.domain.names import PersonName
from jukinet.domain.resident import (
    HEAD_OF_HOUSEHOLD,
    FamilyRegister,
    HouseholdMembership,
    RecordStatus,
    RecordVersion,
    Removal,
    ResidentRecord,
    Sex,
)
from jukinet.domain.resident_code import ResidentCode
from jukinet.storage import mapping
from jukinet.storage.base import Store
from jukinet.storage.records import (
    AgencyRow,
    AuditEntry,
    AuditRecord,
    IdentityRow,
    OutboxEntry,
    PendingNotice,
    ProvisionEntry,
    ProvisionRecord,
    RegisterRow,
    ScheduledItem,
)
from jukinet.testing import examples

MUNICIPALITIES = ("131016", "131024", "131032")
"""Real local government codes used by the suite: 千代田区, 中央区, 港区."""

BAD_CHECK_DIGIT_CODE = "12345678901"
"""A resident code whose check digit is wrong (the right one is 3)."""


class InjectedCrash(Exception):
    """Raised on purpose inside a unit of work to simulate a crash between two writes."""


_JST = timezone(timedelta(hours=9), "JST")
_AUDIT_EPOCH = datetime(2024, 4, 1, 9, 0, tzinfo=_JST)
_SCHEDULE_EPOCH = date(2024, 5, 1)
_TAMPERED_DETAIL = b'{"tampered":true}'
_ALL_SCHEDULED = 1_000_000
"""The ``limit`` :func:`read_all_scheduled` passes (``Schedule.due`` does not page)."""


# --- building rows from real domain values ---------------------------------------


class RowFactory:
    """Builds storage rows from real domain values, numbered deterministically.

    Rows go through :mod:`jukinet.storage.mapping` from real
    :class:`~jukinet.domain.resident.ResidentRecord` and
    :class:`~jukinet.domain.identity.IdentityNotice` values (based on
    :func:`jukinet.testing.examples.resident_record`), so the payloads are the
    same canonical bytes the tiers will store.

    >>> rows = RowFactory()
    >>> rows.code(1)
    '00000000019'
    >>> row = rows.register_row("A1", 1, code=rows.code(1))
    >>> row.internal_id, row.version, row.status, row.reason
    ('A1', 1, 'registered', 'birth')
    >>> mapping.record_version(row).record.internal_id
    'A1'
    """

    @staticmethod
    def code(n: int) -> str:
        """The ``n``-th resident code: ``n`` as 10 digits plus its check digit."""
        body = f"{n:010d}"
        return body + _resident_code.calc_check_digit(body)

    @staticmethod
    def record(
        internal_id: str,
        *,
        code: str,
        household_id: str = "S0001",
        head: bool = True,
        name: str = "山田 太郎",
        reading: str | None = "ヤマダ タロウ",
        birth_date: date = date(1980, 4, 1),
        sex: Sex = Sex.MALE,
        municipality: str = MUNICIPALITIES[0],
        rest: str = "千代田1丁目1番1号",
        removed: bool = False,
    ) -> ResidentRecord:
        """A Japanese resident's record, built from the example record."""
        person = PersonName.parse(name, reading=reading)
        household = (
            HouseholdMembership(household_id=household_id, relationship=HEAD_OF_HOUSEHOLD)
            if head
            else HouseholdMembership(
                household_id=household_id,
                relationship="子",
                head_name=PersonName.parse("山田 一郎", reading="ヤマダ イチロウ"),
            )
        )
        return attrs.evolve(
            examples.resident_record(),
            internal_id=internal_id,
            resident_code=ResidentCode(code),
            name=person,
            birth_date=birth_date,
            sex=sex,
            household=household,
            address=Address(municipality=LocalGovernmentCode(municipality), rest=rest),
            resident_since=birth_date,
            family_register=FamilyRegister(domicile="東京都千代田区千代田1番", head=name),
            status=RecordStatus.REMOVED if removed else RecordStatus.REGISTERED,
            removal=(
                Removal(reason=ChangeReason.DEATH, removed_on=date(2020, 1, 1)) if removed else None
            ),
        )

    def register_row(
        self,
        internal_id: str,
        version: int,
        *,
        code: str,
        status: str = "registered",
        household_id: str = "S0001",
        head: bool = True,
        reason: ChangeReason | None = None,
        name: str = "山田 太郎",
        reading: str | None = "ヤマダ タロウ",
        birth_date: date = date(1980, 4, 1),
    ) -> RegisterRow:
        """Version ``version`` of the person ``internal_id`` as a register row.

        The reason defaults to 出生 for version 1, 死亡 for a removed record and
        転居 otherwise.
        """
        removed = status == "removed"
        if reason is None:
            if removed:
                reason = ChangeReason.DEATH
            elif version == 1:
                reason = ChangeReason.BIRTH
            else:
                reason = ChangeReason.MOVE_WITHIN
        record = self.record(
            internal_id,
            code=code,
            household_id=household_id,
            head=head,
            name=name,
            reading=reading,
            birth_date=birth_date,
            removed=removed,
        )
        event = date(2020, 1, 1) if version > 1 or removed else birth_date
        return mapping.register_row(
            RecordVersion(
                version=version,
                record=record,
                reason=reason,
                event_date=event,
                processed_on=date(2020, 1, 2) if event.year == 2020 else event,
            )
        )

    def identity_row(
        self,
        code: str,
        version: int,
        *,
        name: str = "山田 太郎",
        reading: str | None = "ヤマダ タロウ",
        birth_date: date = date(1980, 4, 1),
        sex: Sex = Sex.MALE,
        municipality: str = MUNICIPALITIES[0],
        rest: str = "千代田1丁目1番1号",
        removed: bool = False,
        previous_code: str | None = None,
        reason: ChangeReason | None = None,
        received_on: date | None = None,
    ) -> IdentityRow:
        """Version ``version`` of the identity information for ``code``, received on
        ``received_on`` (default: unknown).

        The reason, unless given (it then decides whether the row is a removal),
        is 死亡 for a removal, 住民票コードの変更請求 when ``previous_code`` is
        given, 出生 for version 1 and 転居 otherwise.
        """
        if reason is None:
            if removed:
                reason = ChangeReason.DEATH
            elif previous_code is not None:
                reason = ChangeReason.RESIDENT_CODE_CHANGE_REQUEST
            elif version == 1:
                reason = ChangeReason.BIRTH
            else:
                reason = ChangeReason.MOVE_WITHIN
        info = IdentityInfo(
            resident_code=ResidentCode(code),
            name=PersonName.parse(name, reading=reading),
            birth_date=birth_date,
            sex=sex,
            address=Address(municipality=LocalGovernmentCode(municipality), rest=rest),
        )
        moves = (ChangeReason.DOMESTIC_MOVE_OUT, ChangeReason.DOMESTIC_MOVE_IN)
        moved_from = None
        if reason is ChangeReason.DOMESTIC_MOVE_IN:
            moved_from = next(m for m in MUNICIPALITIES if m != municipality)
        item = IdentityNotice(
            info=info,
            reason=reason,
            event_date=birth_date if reason is ChangeReason.BIRTH else date(2020, 1, 1),
            previous_resident_code=ResidentCode(previous_code) if previous_code else None,
            # one certificate per person: the storage ports do not match them
            certificate=hashlib.sha256(code.encode()).hexdigest()[:32] if reason in moves else None,
            moved_from=LocalGovernmentCode(moved_from) if moved_from else None,
        )
        return mapping.identity_row(item, version, received_on=received_on)

    @staticmethod
    def audit_entry(n: int, *, action: str = "register.birth") -> AuditEntry:
        """The ``n``-th audit entry: ``n`` seconds and ``n`` microseconds after
        2024-04-01 09:00 JST, given in JST for odd ``n`` and in UTC for even ``n``.

        >>> entry = RowFactory.audit_entry(2)
        >>> entry.at.isoformat(), entry.subject, entry.detail
        ('2024-04-01T00:00:02.000002+00:00', 'A0000002', b'{"n":2}')
        """
        zone = _JST if n % 2 else UTC
        at = (_AUDIT_EPOCH + timedelta(seconds=n, microseconds=n % 1_000_000)).astimezone(zone)
        return AuditEntry(at=at, action=action, subject=f"A{n:07d}", detail=f'{{"n":{n}}}'.encode())

    @staticmethod
    def agency_row(n: int, *, name: str | None = None, locality: str | None = None) -> AgencyRow:
        """The ``n``-th agency: named ``agency-n`` unless ``name`` is given, with a 32-byte
        key derived from ``n``, registered ``n`` minutes after 2024-04-01 09:00 JST (given
        in JST for odd ``n``, UTC for even), acting as 厚生労働省及び日本年金機構 and one
        more recipient; odd ones may also receive the individual number (``1-57の3``).

        >>> row = RowFactory.agency_row(1, locality="131016")
        >>> row.agency, row.number_uses, row.locality, len(row.public_key)
        ('agency-1', ('1-57の3',), '131016', 32)
        """
        zone = _JST if n % 2 else UTC
        return AgencyRow(
            agency=name if name is not None else f"agency-{n}",
            public_key=hashlib.sha256(f"agency key {n}".encode()).digest(),
            registered_at=(_AUDIT_EPOCH + timedelta(minutes=n, microseconds=n)).astimezone(zone),
            recipients=("厚生労働省及び日本年金機構", f"受給者{n}"),
            number_uses=("1-57の3",) if n % 2 else (),
            locality=locality,
        )

    @staticmethod
    def provision_entry(
        n: int,
        *,
        kind: str = "provided",
        at: datetime | None = None,
        subject: str | None = None,
    ) -> ProvisionEntry:
        """The ``n``-th provision-log entry: request ``req-n`` of ``agency-1`` under
        ``1-57の3`` about ``code(n % 3 + 1)`` (unless ``subject`` is given), at ``at`` or
        ``n`` minutes and ``n`` microseconds after 2024-04-01 09:00 JST, given in JST for
        odd ``n`` and UTC for even ``n`` (the hash covers the offset). A refusal
        provides no items.

        >>> entry = RowFactory.provision_entry(2)
        >>> entry.request_id, entry.subject, entry.items, entry.at.isoformat()
        ('req-2', '00000000035', ('氏名', '住所'), '2024-04-01T00:02:00.000002+00:00')
        """
        if at is None:
            zone = _JST if n % 2 else UTC
            at = (_AUDIT_EPOCH + timedelta(minutes=n, microseconds=n)).astimezone(zone)
        return ProvisionEntry(
            at=at,
            kind=kind,
            request_id=f"req-{n}",
            agency="agency-1",
            use="1-57の3",
            subject=subject if subject is not None else RowFactory.code(n % 3 + 1),
            items=() if kind == "refused" else ("氏名", "住所"),
            detail=f'{{"n":{n}}}'.encode(),
        )

    @staticmethod
    def scheduled_item(n: int, *, key: str | None = None, due: date | None = None) -> ScheduledItem:
        """The ``n``-th scheduled item: key ``jpki:n`` (4 digits) unless given, due
        ``n % 5`` days after 2024-05-01 unless given, payload ``{"n":n}``.

        >>> RowFactory.scheduled_item(7)
        ScheduledItem(key='jpki:0007', due=datetime.date(2024, 5, 3))
        """
        return ScheduledItem(
            key=key if key is not None else f"jpki:{n:04d}",
            due=due if due is not None else _SCHEDULE_EPOCH + timedelta(days=n % 5),
            payload=f'{{"n":{n}}}'.encode(),
        )

    def pending_notice(
        self, n: int, *, codes: Sequence[str] | None = None, sender: str = "m:131016"
    ) -> PendingNotice:
        """The ``n``-th pending notice: about ``codes`` (default: :meth:`code` ``(n)``;
        two codes for a code change, 住基法30条の4), from ``sender``, payload
        ``notice n``.

        >>> RowFactory().pending_notice(3, codes=["00000000019", "00000000027"]).codes
        ('00000000019', '00000000027')
        """
        return PendingNotice(
            sender=sender,
            codes=tuple(codes) if codes is not None else (self.code(n),),
            payload=f"notice {n}".encode(),
        )


# --- reading a whole store -------------------------------------------------------


def read_all_outbox(store: Store, destination: str, *, page: int = 1000) -> list[OutboxEntry]:
    """Every committed outbox entry for ``destination``, page by page."""
    entries: list[OutboxEntry] = []
    while True:
        batch = store.outbox.read(destination, after=entries[-1].seq if entries else 0, limit=page)
        entries.extend(batch)
        if len(batch) < page:
            return entries


def read_all_audit(store: Store, *, page: int = 1000) -> list[AuditRecord]:
    """Every committed audit record, page by page."""
    records: list[AuditRecord] = []
    while True:
        batch = store.audit.read(after=records[-1].seq if records else 0, limit=page)
        records.extend(batch)
        if len(batch) < page:
            return records


def read_all_agencies(store: Store, *, page: int = 1000) -> list[AgencyRow]:
    """Every committed agency registration, by name, page by page."""
    rows: list[AgencyRow] = []
    while True:
        batch = store.agencies.list(after=rows[-1].agency if rows else None, limit=page)
        rows.extend(batch)
        if len(batch) < page:
            return rows


def read_all_provision(
    store: Store, *, page: int = 1000, subject: str | None = None
) -> list[ProvisionRecord]:
    """Every committed (kept) provision-log record, or ``subject``'s, page by page."""
    records: list[ProvisionRecord] = []
    while True:
        batch = store.provision_log.read(
            after=records[-1].seq if records else 0, limit=page, subject=subject
        )
        records.extend(batch)
        if len(batch) < page:
            return records


def read_all_scheduled(store: Store) -> list[ScheduledItem]:
    """Every committed scheduled item, by (due, key) (``due`` on the last date there is)."""
    return store.schedule.due(date.max, limit=_ALL_SCHEDULED)


def _scan_register(store: Store, page: int = 1000) -> list[RegisterRow]:
    rows: list[RegisterRow] = []
    while True:
        batch = store.register.scan(after=rows[-1].internal_id if rows else None, limit=page)
        rows.extend(batch)
        if len(batch) < page:
            return rows


def _scan_identities(
    store: Store, municipality: str | None = None, page: int = 1000
) -> list[IdentityRow]:
    rows: list[IdentityRow] = []
    while True:
        batch = store.identities.scan(
            municipality=municipality,
            after=rows[-1].resident_code if rows else None,
            limit=page,
        )
        rows.extend(batch)
        if len(batch) < page:
            return rows


def snapshot(
    store: Store,
    *,
    municipalities: Sequence[str] = MUNICIPALITIES,
    codes: Sequence[str] = (),
    audit: bool = True,
    cards: Sequence[str] = (),
    infos: Sequence[str] = (),
    requests: Sequence[str] = (),
) -> dict[str, Any]:
    """Everything the ports can tell about a store, as comparable plain data.

    Counts, full scans with every history, the identity copy per municipality of
    ``municipalities``, every outbox destination's entries and acknowledged
    position, tracking positions, the audit log (left out with ``audit=False``,
    for callers that expect a refusal to be logged), the code pool's counts
    for ``municipalities`` and designation of ``codes`` (and the municipality each
    was designated to), every registered agency, the provision log (head, anchor
    and every kept record), every scheduled item, and the pending notices: how
    many, and every one about any of ``codes`` (the port is read by code), and
    the cards: every live card (by expiry), each of ``codes``' live card, and the
    state and history of each of ``cards`` (card ids), and the counter: each of
    ``infos`` (certificate numbers) and each of ``codes``' infos, every unanswered
    request and each of ``requests`` (request ids). Two equal snapshots mean
    nothing observable changed.
    """
    people = _scan_register(store)
    identities = _scan_identities(store)
    return {
        "register.scan": people,
        "register.history": {r.internal_id: store.register.history(r.internal_id) for r in people},
        "register.count": (
            store.register.count(),
            store.register.count(status="registered"),
            store.register.count(status="removed"),
        ),
        "identities.scan": identities,
        "identities.history": {
            r.resident_code: store.identities.history(r.resident_code) for r in identities
        },
        "identities.count": store.identities.count(),
        "identities.by_municipality": {
            m: (store.identities.count(municipality=m), _scan_identities(store, m))
            for m in municipalities
        },
        "outbox": {
            d: (store.outbox.last_seq(d), store.outbox.acknowledged(d), read_all_outbox(store, d))
            for d in store.outbox.destinations()
        },
        "tracking": store.tracking.senders(),
        "audit": (store.audit.last_seq(), read_all_audit(store)) if audit else None,
        "code_pool.designated": store.code_pool.designated_count(),
        "code_pool.available": {m: store.code_pool.available(m) for m in municipalities},
        "code_pool.is_designated": {c: store.code_pool.is_designated(c) for c in codes},
        "code_pool.designated_to": {c: store.code_pool.designated_to(c) for c in codes},
        "agencies": read_all_agencies(store),
        "provision_log": (
            store.provision_log.head(),
            store.provision_log.anchor(),
            read_all_provision(store),
        ),
        "schedule": read_all_scheduled(store),
        "pending": (store.pending.count(), store.pending.find(list(codes))),
        "cards.live": store.cards.expiring(before=date.max, limit=_ALL_SCHEDULED),
        "cards.live_for": {c: store.cards.live_for(c) for c in codes},
        "cards": {c: (store.cards.get(c), store.cards.history(c)) for c in cards},
        "counter.infos": {c: store.counter.info(c) for c in infos},
        "counter.infos_for": {c: store.counter.infos_for(c) for c in codes},
        "counter.unanswered": store.counter.unanswered(limit=_ALL_SCHEDULED),
        "counter.requests": {r: store.counter.request(r) for r in requests},
    }


# --- running threads -------------------------------------------------------------


def _run_threads(targets: Sequence[Callable[[], None]], *, timeout: float = 60.0) -> None:
    """Start the targets together, wait for them, re-raise the first failure."""
    failures: list[BaseException] = []
    barrier = threading.Barrier(len(targets))

    def wrap(target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                barrier.wait(timeout)
                target()
            except BaseException as exc:  # re-raised in the main thread below
                failures.append(exc)

        return run

    threads = [threading.Thread(target=wrap(t), daemon=True) for t in targets]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, so that they really interleave
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout)
    finally:
        sys.setswitchinterval(interval)
    if any(thread.is_alive() for thread in threads):
        raise AssertionError(f"a thread did not finish within {timeout} s (deadlock?)")
    if failures:
        raise failures[0]


_SERIAL = itertools.count(1)

_TEXT = st.characters(codec="utf-8", exclude_characters="\x00")
"""Characters a stored text may hold (no NUL, no lone surrogate)."""


def _by_version(row: IdentityRow) -> tuple[str, int]:
    return row.resident_code, row.version


_RECEIVED = date(2026, 4, 1)


def _on(days: int) -> date:
    """A day on which an upper tier received a version: ``days`` after 2026-04-01."""
    return _RECEIVED + timedelta(days=days)


def _received(row: IdentityRow, days: int) -> IdentityRow:
    """``row`` received on :func:`_on` ``(days)``."""
    return attrs.evolve(row, received_on=_on(days))


def _fresh_serial() -> int:
    return next(_SERIAL)
