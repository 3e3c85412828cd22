"""The storage conformance suite: one set of tests every adapter must pass.

The ports in :mod:`jukinet.storage.base` promise semantics (duplicates refused,
all-or-nothing batches, gap-free outbox numbers, history never overwritten,
codes never handed out twice …). This module checks them against any
:class:`~jukinet.storage.base.Store`, the shape of eventsourcing's
``tests/persistence.py``: subclass :class:`StoreConformance` once per adapter
in a test module and implement its hooks::

    # tests/test_storage_mine.py
    from jukinet.testing.conformance import StoreConformance, make_stateful_test

    class TestMyStore(StoreConformance):
        def create_store(self) -> Store:
            store = MyStore(...)
            store.create_schema()
            return store

        def reopen_store(self, store: Store) -> Store:
            return MyStore(...same storage, another connection...)

        def create_store_without_schema(self) -> Store:
            return MyStore(...fresh storage, create_schema() never called...)

        def set_schema_version(self, store: Store, version: int) -> None:
            ...  # write `version` into the stored schema version

        def downgrade_to_schema_2(self, store: Store) -> None:
            ...  # make the storage what schema version 2 was (see the method)

        def downgrade_to_schema_3(self, store: Store) -> None:
            ...  # make the storage what schema version 3 was (see the method)

        def garble_pending_notice(self, store: Store, seq: int) -> None:
            ...  # make a stored pending notice unreadable (see the method)

        def tamper_provision_log(self, store: Store, how: str, seq: int) -> None:
            ...  # change the stored provision log with raw access (see the method)

    TestMyStoreStateful = make_stateful_test(my_create_store).TestCase

The base class is not named ``Test…`` so pytest collects only the subclasses.
It needs the ``testing`` extra (pytest and Hypothesis). Every hook a subclass
leaves out makes the tests that need it skip with a reason; a complete adapter
implements them all (``.ci/run`` fails when a PostgreSQL test skips).

The rules come from the law where the law sets them: a resident code is never
designated twice (住基法30条の2第2項) and a municipality draws unused codes from
its pool (30条の3第2項); the prefecture and the national centre keep every
notice they receive (30条の6第3項, 30条の7; kept 150 years, 令30条の6・令30条の7),
and removed records (除票) are kept too (令34条1項) — so history is appended,
never overwritten, and identity versions are deleted only when their 150 years
are over, from each code's oldest end (``IdentityStore.expire``). A person who
moves is notified by two municipalities over two independent links
(30条の6第1項), so an upper tier keeps each municipality's newest word on a
person: a removal that arrives late from the municipality they left never
hides their entry in the new one.
"""

from __future__ import annotations

import hashlib
import itertools
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, ClassVar

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)

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
from jukinet.errors import (
    CorruptRecord,
    IntegrityError,
    InterfaceError,
    InvalidFormat,
    InvalidLength,
    JukinetError,
    ProgrammingError,
    SchemaVersionMismatch,
    ValidationError,
)
from jukinet.storage import mapping
from jukinet.storage.base import SCHEMA_VERSION, Store, UnitOfWork
from jukinet.storage.records import (
    GENESIS,
    MAX_KEY_LENGTH,
    MAX_PAYLOAD_BYTES,
    PROVISION_KINDS,
    AgencyRow,
    AuditEntry,
    AuditRecord,
    ChainFault,
    IdentityQuery,
    IdentityRow,
    OutboxEntry,
    PendingNotice,
    PendingRecord,
    ProvisionEntry,
    ProvisionRecord,
    RegisterRow,
    ScheduledItem,
    chain_hash,
    verify_chain,
)
from jukinet.testing import examples
from jukinet.testing import strategies as jst

__all__ = [
    "BAD_CHECK_DIGIT_CODE",
    "MUNICIPALITIES",
    "InjectedCrash",
    "RowFactory",
    "StoreConformance",
    "make_stateful_test",
    "read_all_agencies",
    "read_all_audit",
    "read_all_outbox",
    "read_all_provision",
    "read_all_scheduled",
    "snapshot",
]

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
) -> dict[str, Any]:
    """Everything the ports can tell about a store, as comparable plain data.

    Counts, full scans with every history, the identity copy per municipality of
    ``municipalities``, every outbox destination's entries and acknowledged
    position, tracking positions, the audit log (left out with ``audit=False``,
    for callers that expect a refusal to be logged), the code pool's counts
    for ``municipalities`` and designation of ``codes`` (and the municipality each
    was designated to), every registered agency, the provision log (head, anchor
    and every kept record), every scheduled item, and the pending notices: how
    many, and every one about any of ``codes`` (the port is read by code). Two
    equal snapshots mean nothing observable changed.
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


# --- the suite -------------------------------------------------------------------


class StoreConformance(ABC):
    """Tests every :class:`~jukinet.storage.base.Store` must pass; subclass per adapter.

    Hooks (override in the subclass):

    * :meth:`create_store` (required): a fresh, empty store, schema created.
      It may be called more than once in one test; each call returns an
      independent store.
    * :meth:`reopen_store` (required): a second handle onto the same storage
      as ``store`` (another connection for a database). Racing tests give
      each thread its own handle. The suite closes every handle with
      ``close()`` after the test.
    * :meth:`create_store_without_schema`: a store over fresh storage whose
      ``create_schema()`` was never called.
    * :meth:`set_schema_version`: overwrite the schema version recorded in
      ``store``'s storage.
    * :meth:`downgrade_to_schema_2`: make ``store``'s storage what schema
      version 2 was (no arrival day on identity versions, no pending notices,
      version 2 recorded), so that the tests can check the migration of
      :meth:`Store.create_schema <jukinet.storage.base.Store.create_schema>`.
    * :meth:`downgrade_to_schema_3`: make ``store``'s storage what schema
      version 3 was (no pending notices, version 3 recorded), for the same.
    * :meth:`garble_pending_notice`: make one stored pending notice unreadable,
      so that the tests can check it is read as a
      :class:`~jukinet.errors.CorruptRecord`.
    * :meth:`tamper_provision_log` (required): change the stored provision log
      behind the port's back, with raw access to the storage, so that the
      tests can check that :func:`~jukinet.storage.records.verify_chain` finds it.
    * :meth:`dispose`: release a store from :meth:`create_store` or
      :meth:`create_store_without_schema` (default: ``store.close()``).

    Tunables: :attr:`racing_rounds` (units of work per racing thread).
    """

    racing_rounds: ClassVar[int] = 30
    """Units of work each racing thread runs."""

    rows: ClassVar[RowFactory] = RowFactory()
    """Builds the rows the tests write."""

    # -- hooks --

    @abstractmethod
    def create_store(self) -> Store:
        """Return a fresh, empty store with its schema created."""

    @abstractmethod
    def reopen_store(self, store: Store) -> Store:
        """Return another handle (connection) onto the same storage as ``store``."""

    @abstractmethod
    def tamper_provision_log(self, store: Store, how: str, seq: int) -> None:
        """Change the stored log behind the port's back (as someone with database access):
        how="alter": change record seq's stored detail to b'{"tampered":true}' (hash untouched);
        how="delete": delete record seq;
        how="swap": exchange every stored column except seq between records seq and seq+1;
        how="truncate": delete record seq and every later one (head untouched);
        how="garble": make record seq unreadable, a stored value the adapter cannot read
        back as the record (the SQL adapters: ``items`` that is not JSON, the memory
        adapter: a kept value that is not a ProvisionRecord); the columns it is found
        by (seq, subject, request id) stay, so reads by subject still reach it."""

    def create_store_without_schema(self) -> Store:
        """Return a store over fresh storage whose schema was never created."""
        pytest.skip("the subclass does not implement create_store_without_schema()")

    def set_schema_version(self, store: Store, version: int) -> None:
        """Overwrite the schema version recorded in ``store``'s storage."""
        pytest.skip("the subclass does not implement set_schema_version()")

    def downgrade_to_schema_2(self, store: Store) -> None:
        """Turn ``store``'s storage into what schema version 2 left, with raw access:
        identity versions without ``received_on`` (the SQL adapters drop the column
        and its index), no pending notices (the SQL adapters drop their tables) and
        ``'2'`` recorded as the schema version."""
        pytest.skip("the subclass does not implement downgrade_to_schema_2()")

    def garble_pending_notice(self, store: Store, seq: int) -> None:
        """Make the stored pending notice ``seq`` unreadable behind the port's back,
        with raw access: a stored value the adapter cannot read back as the notice
        (the SQL adapters: an empty ``sender``, which no node has; the memory
        adapter: a kept value that is not a PendingRecord). What it is found by
        (its codes) stays."""
        pytest.skip("the subclass does not implement garble_pending_notice()")

    def downgrade_to_schema_3(self, store: Store) -> None:
        """Turn ``store``'s storage into what schema version 3 left, with raw access:
        no pending notices (the SQL adapters drop their tables; the store holds
        none when this is called) and ``'3'`` recorded as the schema version."""
        pytest.skip("the subclass does not implement downgrade_to_schema_3()")

    def dispose(self, store: Store) -> None:
        """Release a store made by :meth:`create_store` (default: close it)."""
        store.close()

    # -- fixtures and helpers --

    @pytest.fixture
    def store(self) -> Iterator[Store]:
        """A fresh store from :meth:`create_store`; handles and extra stores are released."""
        self._handles: list[Store] = []
        self._extra: list[Store] = []
        store = self.create_store()
        try:
            yield store
        finally:
            for handle in reversed(self._handles):
                handle.close()
            for extra in reversed(self._extra):
                self.dispose(extra)
            self.dispose(store)

    def handle(self, store: Store) -> Store:
        """Another handle onto ``store``'s storage, closed after the test."""
        other = self.reopen_store(store)
        self._handles.append(other)
        return other

    def another_store(self) -> Store:
        """A second independent store, disposed after the test."""
        other = self.create_store()
        self._extra.append(other)
        return other

    def person(
        self, store: Store, n: int, *, versions: int = 1, **kwargs: Any
    ) -> list[RegisterRow]:
        """Write person ``n`` (internal id ``A…n``, code ``code(n)``) with some versions."""
        rows = [
            self.rows.register_row(f"A{n:07d}", v, code=self.rows.code(n), **kwargs)
            for v in range(1, versions + 1)
        ]
        with store.unit_of_work() as uow:
            store.register.append(uow, rows)
        return rows

    # =============================================================================
    # schema and lifecycle
    # =============================================================================

    def test_a_fresh_store_is_empty(self, store: Store) -> None:
        assert store.register.count() == 0
        assert store.register.scan() == []
        assert store.identities.count() == 0
        assert store.outbox.destinations() == []
        assert store.outbox.acknowledged("pref13") == 0
        assert store.tracking.senders() == {}
        assert store.code_pool.designated_count() == 0
        assert store.audit.last_seq() == 0
        assert store.audit.read() == []
        assert store.agencies.list() == []
        assert store.agencies.get("agency-1") is None
        assert store.provision_log.head() == (0, GENESIS)
        assert store.provision_log.anchor() == (0, GENESIS)
        assert store.provision_log.read() == []
        assert not store.provision_log.has_request("req-1")
        assert store.schedule.due(date.max) == []
        assert store.schedule.get("jpki:0001") is None
        assert store.pending.count() == 0
        assert store.pending.find([self.rows.code(1)]) == []
        assert store.code_pool.designated_to(self.rows.code(1)) is None
        store.check_schema()

    def test_create_schema_is_idempotent_and_keeps_data(self, store: Store) -> None:
        self.person(store, 1)
        with store.unit_of_work() as uow:
            store.agencies.register(uow, self.rows.agency_row(1))
            records = store.provision_log.append(uow, [self.rows.provision_entry(1)])
            store.schedule.add(uow, [self.rows.scheduled_item(1)])
        store.create_schema()
        store.create_schema()
        store.check_schema()
        assert store.register.count() == 1
        assert store.agencies.list() == [self.rows.agency_row(1)]
        assert store.provision_log.read() == records
        assert store.provision_log.head() == (1, records[0].hash)
        assert store.provision_log.anchor() == (0, GENESIS)
        assert store.schedule.due(date.max) == [self.rows.scheduled_item(1)]

    def test_a_store_without_schema_refuses_every_port(self) -> None:
        bare = self.create_store_without_schema()
        try:
            row = self.rows.register_row("A1", 1, code=self.rows.code(1))
            calls: list[Callable[[], object]] = [
                bare.check_schema,
                lambda: bare.register.current("A1"),
                lambda: bare.register.count(),
                lambda: bare.identities.current(self.rows.code(1)),
                lambda: bare.identities.last_versions([self.rows.code(1)]),
                lambda: bare.outbox.read("pref13"),
                lambda: bare.outbox.acknowledged("pref13"),
                lambda: bare.tracking.position("pref13"),
                lambda: bare.code_pool.designated_count(),
                lambda: bare.audit.last_seq(),
                lambda: bare.audit.read(),
                lambda: bare.agencies.get("agency-1"),
                lambda: bare.agencies.list(),
                lambda: bare.provision_log.read(),
                lambda: bare.provision_log.head(),
                lambda: bare.provision_log.anchor(),
                lambda: bare.provision_log.has_request("req-1"),
                lambda: bare.schedule.get("jpki:0001"),
                lambda: bare.schedule.due(date.max),
                lambda: bare.pending.count(),
                lambda: bare.pending.find([self.rows.code(1)]),
                lambda: bare.code_pool.designated_to(self.rows.code(1)),
            ]
            for call in calls:
                with pytest.raises(ProgrammingError, match="create_schema"):
                    call()
            with (
                pytest.raises(ProgrammingError, match="create_schema"),
                bare.unit_of_work() as uow,
            ):
                bare.register.append(uow, [row])
            with (
                pytest.raises(ProgrammingError, match="create_schema"),
                bare.unit_of_work() as uow,
            ):
                bare.provision_log.append(uow, [self.rows.provision_entry(1)])
            with (
                pytest.raises(ProgrammingError, match="create_schema"),
                bare.unit_of_work() as uow,
            ):
                bare.pending.add(uow, [self.rows.pending_notice(1)])
            bare.create_schema()
            bare.check_schema()
            assert bare.register.count() == 0
            assert bare.provision_log.head() == (0, GENESIS)
            assert bare.pending.count() == 0
        finally:
            self.dispose(bare)

    def test_a_schema_of_another_version_is_refused(self, store: Store) -> None:
        other = SCHEMA_VERSION + 998
        self.set_schema_version(store, other)
        fresh = self.handle(store)
        with pytest.raises(SchemaVersionMismatch) as info:
            fresh.check_schema()
        assert str(SCHEMA_VERSION) in str(info.value)
        assert str(other) in str(info.value)
        with pytest.raises(SchemaVersionMismatch):
            fresh.register.count()
        with pytest.raises(SchemaVersionMismatch):
            fresh.provision_log.head()

    def test_a_version_2_schema_is_migrated_and_keeps_its_rows(self, store: Store) -> None:
        # Version 3 records the day each identity version arrived (令30条の6・30条の7);
        # the versions a version 2 store holds keep an unknown day.
        code, other = self.rows.code(1), self.rows.code(2)
        rows = [
            self.rows.identity_row(code, 1, received_on=_on(0)),
            self.rows.identity_row(code, 2, rest="2番地", received_on=_on(1)),
            self.rows.identity_row(other, 1, removed=True, received_on=_on(0)),
        ]
        with store.unit_of_work() as uow:
            store.identities.append(uow, rows)
            store.outbox.append(uow, "pref13", [b"kept"])
        self.person(store, 1)
        self.downgrade_to_schema_2(store)
        old = self.handle(store)
        with pytest.raises(SchemaVersionMismatch, match="create_schema") as info:
            old.check_schema()
        assert "version 2" in str(info.value)
        assert str(SCHEMA_VERSION) in str(info.value)
        with pytest.raises(SchemaVersionMismatch):
            old.identities.count()
        old.create_schema()
        old.check_schema()
        fresh = self.handle(store)
        fresh.check_schema()
        unknown = [attrs.evolve(row, received_on=None) for row in rows]
        for reader in (old, fresh):
            assert reader.identities.history(code) == unknown[:2]
            assert reader.identities.history(other) == unknown[2:]
            assert reader.identities.current(code) == unknown[1]
            assert reader.identities.count() == 2
            assert reader.register.count() == 1
            assert [entry.payload for entry in reader.outbox.read("pref13")] == [b"kept"]
        # The migrated store keeps arrival days; the unknown ones never expire, and the
        # oldest version of unknown day keeps the later ones of its code too.
        later = self.rows.identity_row(code, 3, rest="3番地", received_on=_on(2))
        with fresh.unit_of_work() as uow:
            fresh.identities.append(uow, [later])
            assert fresh.identities.expire(uow, received_before=date.max) == 0
        assert fresh.identities.history(code) == [*unknown[:2], later]
        fresh.create_schema()
        assert fresh.identities.history(other) == unknown[2:]
        self._pending_port_works(fresh, self.handle(store))

    def _pending_port_works(self, store: Store, reader: Store) -> None:
        """A migrated store keeps pending notices as a version 4 store does."""
        assert store.pending.count() == 0
        notice = self.rows.pending_notice(7, codes=[self.rows.code(7), self.rows.code(8)])
        with store.unit_of_work() as uow:
            seqs = store.pending.add(uow, [notice])
        (seq,) = seqs
        for handle in (store, reader):
            assert handle.pending.find([self.rows.code(8)]) == [
                PendingRecord(seq=seq, entry=notice)
            ]
            assert handle.pending.count() == 1
        with store.unit_of_work() as uow:
            assert store.pending.remove(uow, [seq]) == 1
        assert reader.pending.count() == 0

    def test_a_version_3_schema_is_migrated_and_keeps_its_rows(self, store: Store) -> None:
        # Version 4 keeps the notices an upper tier holds pending (docs/tiers.md); a
        # version 3 store had none, and keeps everything else, arrival days too.
        code = self.rows.code(1)
        rows = [
            self.rows.identity_row(code, 1, received_on=_on(0)),
            self.rows.identity_row(code, 2, rest="2番地", received_on=_on(1)),
        ]
        with store.unit_of_work() as uow:
            store.identities.append(uow, rows)
            store.outbox.append(uow, "pref13", [b"kept"])
            store.code_pool.designate(uow, MUNICIPALITIES[1], [self.rows.code(9)])
        self.person(store, 1)
        self.downgrade_to_schema_3(store)
        old = self.handle(store)
        with pytest.raises(SchemaVersionMismatch, match="create_schema") as info:
            old.check_schema()
        assert "version 3" in str(info.value)
        assert str(SCHEMA_VERSION) in str(info.value)
        with pytest.raises(SchemaVersionMismatch):
            old.pending.count()
        with pytest.raises(SchemaVersionMismatch):
            old.identities.count()
        old.create_schema()
        old.check_schema()
        fresh = self.handle(store)
        fresh.check_schema()
        for reader in (old, fresh):
            assert reader.identities.history(code) == rows
            assert reader.register.count() == 1
            assert reader.code_pool.designated_to(self.rows.code(9)) == MUNICIPALITIES[1]
            assert [entry.payload for entry in reader.outbox.read("pref13")] == [b"kept"]
        self._pending_port_works(old, fresh)
        fresh.create_schema()  # idempotent once migrated
        assert fresh.identities.history(code) == rows

    def test_a_closed_store_refuses_calls_and_close_is_idempotent(self, store: Store) -> None:
        closed = self.handle(store)
        closed.close()
        closed.close()
        with pytest.raises(InterfaceError):
            closed.register.count()
        with pytest.raises(InterfaceError):
            closed.audit.read()
        with pytest.raises(InterfaceError):
            closed.outbox.acknowledged("pref13")
        with pytest.raises(InterfaceError), closed.unit_of_work() as uow:
            closed.outbox.append(uow, "pref13", [b"x"])
        with pytest.raises(InterfaceError), closed.unit_of_work() as uow:
            closed.audit.append(uow, [self.rows.audit_entry(1)])
        with pytest.raises(InterfaceError):
            closed.agencies.list()
        with pytest.raises(InterfaceError):
            closed.provision_log.head()
        with pytest.raises(InterfaceError):
            closed.schedule.due(date.max)
        with pytest.raises(InterfaceError), closed.unit_of_work() as uow:
            closed.provision_log.append(uow, [self.rows.provision_entry(1)])
        with pytest.raises(InterfaceError):
            closed.pending.count()
        with pytest.raises(InterfaceError):
            closed.pending.find([self.rows.code(1)])
        with pytest.raises(InterfaceError):
            closed.code_pool.designated_to(self.rows.code(1))
        with pytest.raises(InterfaceError), closed.unit_of_work() as uow:
            closed.pending.add(uow, [self.rows.pending_notice(1)])
        assert store.outbox.destinations() == []  # the storage itself is still there

    # =============================================================================
    # register
    # =============================================================================

    def test_register_round_trip(self, store: Store) -> None:
        rows = self.person(store, 1, versions=3)
        first, last = rows[0], rows[-1]
        assert store.register.current(first.internal_id) == last
        assert store.register.current_by_code(first.resident_code) == last
        assert store.register.history(first.internal_id) == rows
        assert mapping.record_version(store.register.current(first.internal_id) or first) == (
            mapping.record_version(last)
        )
        assert store.register.current("Z9") is None
        assert store.register.current_by_code(self.rows.code(999)) is None
        assert store.register.history("Z9") == []

    @settings(
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
            HealthCheck.too_slow,
        ],
        max_examples=25,
    )
    @given(record=jst.resident_records())
    def test_register_round_trip_of_generated_records(
        self, store: Store, record: ResidentRecord
    ) -> None:
        n = _fresh_serial()
        record = attrs.evolve(
            record,
            internal_id=f"G{n:09d}",
            resident_code=ResidentCode(self.rows.code(7_000_000_000 + n)),
        )
        version = RecordVersion(
            version=1,
            record=record,
            reason=ChangeReason.BIRTH,
            event_date=record.resident_since,
            processed_on=record.resident_since,
        )
        row = mapping.register_row(version)
        with store.unit_of_work() as uow:
            store.register.append(uow, [row])
            assert store.register.current(row.internal_id, uow) == row
        assert store.register.current(row.internal_id) == row
        assert store.register.current_by_code(row.resident_code) == row
        assert store.register.current_many([row.resident_code]) == {row.resident_code: row}
        assert mapping.record_version(row) == version

    def test_register_version_twice_is_refused(self, store: Store) -> None:
        (row,) = self.person(store, 1)
        before = snapshot(store)
        with pytest.raises(IntegrityError), store.unit_of_work() as uow:
            store.register.append(uow, [row])
        with pytest.raises(IntegrityError), store.unit_of_work() as uow:
            store.register.append(uow, [attrs.evolve(row, household_id="S0002")])
        assert snapshot(store) == before

    def test_register_skipped_or_orphan_versions_are_refused(self, store: Store) -> None:
        self.person(store, 1)
        before = snapshot(store)
        skipped = self.rows.register_row("A0000001", 3, code=self.rows.code(1))
        orphan = self.rows.register_row("A0000002", 2, code=self.rows.code(2))
        backwards = [
            self.rows.register_row("A0000003", 2, code=self.rows.code(3)),
            self.rows.register_row("A0000003", 1, code=self.rows.code(3)),
        ]
        for bad in ([skipped], [orphan], backwards):
            with pytest.raises(IntegrityError), store.unit_of_work() as uow:
                store.register.append(uow, bad)
            assert snapshot(store) == before

    def test_register_several_versions_in_one_call(self, store: Store) -> None:
        rows = [self.rows.register_row("A1", v, code=self.rows.code(1)) for v in (1, 2, 3)]
        with store.unit_of_work() as uow:
            store.register.append(uow, rows)
        assert store.register.history("A1") == rows

    def test_a_code_belongs_to_one_person_for_ever(self, store: Store) -> None:
        # 住基法30条の2第2項: a code is never designated again, so never shared.
        self.person(store, 1)
        new_code = self.rows.code(101)
        changed = self.rows.register_row(
            "A0000001", 2, code=new_code, reason=ChangeReason.RESIDENT_CODE_CHANGE_REQUEST
        )
        with store.unit_of_work() as uow:
            store.register.append(uow, [changed])
        before = snapshot(store)
        for taken in (self.rows.code(1), new_code):
            intruder = self.rows.register_row("B1", 1, code=taken)
            with pytest.raises(IntegrityError), store.unit_of_work() as uow:
                store.register.append(uow, [intruder])
            assert snapshot(store) == before
        # two new people in one call with the same code
        twins = [
            self.rows.register_row("C1", 1, code=self.rows.code(5)),
            self.rows.register_row("C2", 1, code=self.rows.code(5)),
        ]
        with pytest.raises(IntegrityError), store.unit_of_work() as uow:
            store.register.append(uow, twins)
        assert snapshot(store) == before

    def test_current_by_code_finds_a_person_by_an_old_code(self, store: Store) -> None:
        self.person(store, 1)
        new_code = self.rows.code(101)
        changed = self.rows.register_row(
            "A0000001", 2, code=new_code, reason=ChangeReason.RESIDENT_CODE_CHANGE_REQUEST
        )
        with store.unit_of_work() as uow:
            store.register.append(uow, [changed])
        assert store.register.current_by_code(self.rows.code(1)) == changed
        assert store.register.current_by_code(new_code) == changed
        found = store.register.current_many([self.rows.code(1), new_code])
        assert found == {self.rows.code(1): changed, new_code: changed}

    def test_register_history_is_never_overwritten(self, store: Store) -> None:
        # Removed records (除票) and earlier versions are kept (令34条1項).
        (v1,) = self.person(store, 1)
        v2 = self.rows.register_row("A0000001", 2, code=self.rows.code(1), status="removed")
        with store.unit_of_work() as uow:
            store.register.append(uow, [v2])
        history = store.register.history("A0000001")
        assert history == [v1, v2]
        assert history[0].payload == v1.payload
        history.clear()  # the caller's list is its own
        assert store.register.history("A0000001") == [v1, v2]
        assert store.register.current("A0000001") == v2
        assert store.register.current_by_code(self.rows.code(1)) == v2  # 除票 still found

    def test_register_batch_with_one_bad_row_writes_nothing(self, store: Store) -> None:
        self.person(store, 100)
        before = snapshot(store)
        good = [self.rows.register_row(f"A{n}", 1, code=self.rows.code(n)) for n in range(1, 10)]
        batches: list[list[Any]] = [
            [*good, good[2]],  # row 10 duplicates row 3
            [*good, self.rows.register_row("A0000100", 1, code=self.rows.code(100))],
            [*good, self.rows.register_row("A10", 1, code=self.rows.code(1))],  # code taken
            [*good, "not a row"],
            [*good, self.rows.identity_row(self.rows.code(10), 1)],
            [*good, None],
        ]
        for batch in batches:
            with pytest.raises(JukinetError), store.unit_of_work() as uow:
                store.register.append(uow, batch)
            assert snapshot(store) == before
            with pytest.raises(JukinetError), store.unit_of_work() as uow:
                store.register.bulk_load(uow, batch)
            assert snapshot(store) == before
        not_a_row: list[Any] = [*good, "not a row"]
        with pytest.raises(InterfaceError), store.unit_of_work() as uow:
            store.register.append(uow, not_a_row)
        assert snapshot(store) == before

    def test_register_bulk_load(self, store: Store) -> None:
        rows = [self.rows.register_row(f"A{n:05d}", 1, code=self.rows.code(n)) for n in range(50)]
        with store.unit_of_work() as uow:
            assert store.register.bulk_load(uow, rows) == 50
            assert store.register.bulk_load(uow, []) == 0
        assert _scan_register(store) == rows
        assert store.register.count() == 50
        before = snapshot(store)
        again = [self.rows.register_row("B1", 1, code=self.rows.code(1000)), rows[0]]
        later = [self.rows.register_row("B2", 2, code=self.rows.code(1001))]
        # bulk_load takes first versions only, even in order within one call
        two = [self.rows.register_row("B3", v, code=self.rows.code(1002)) for v in (1, 2)]
        for bad in (again, later, two):
            with pytest.raises(IntegrityError), store.unit_of_work() as uow:
                store.register.bulk_load(uow, bad)
            assert snapshot(store) == before

    def test_household_lists_registered_members(self, store: Store) -> None:
        for n in (1, 2, 3):
            self.person(store, n, household_id="S0100", head=n == 1)
        self.person(store, 4, household_id="S0200")
        removed = self.rows.register_row(
            "A0000003", 2, code=self.rows.code(3), household_id="S0100", status="removed"
        )
        moved = self.rows.register_row("A0000002", 2, code=self.rows.code(2), household_id="S0200")
        with store.unit_of_work() as uow:
            store.register.append(uow, [removed, moved])
        members = sorted(store.register.household("S0100"), key=lambda r: r.internal_id)
        assert [r.internal_id for r in members] == ["A0000001"]
        others = sorted(store.register.household("S0200"), key=lambda r: r.internal_id)
        assert others == [moved, store.register.current("A0000004")]
        assert store.register.household("S9999") == []

    def test_register_scan_pages_and_count(self, store: Store) -> None:
        ids = [f"A{n:04d}" for n in range(25)]
        rows = [self.rows.register_row(i, 1, code=self.rows.code(n)) for n, i in enumerate(ids)]
        with store.unit_of_work() as uow:
            store.register.append(uow, list(reversed(rows)))
        removed = self.rows.register_row(ids[5], 2, code=self.rows.code(5), status="removed")
        with store.unit_of_work() as uow:
            store.register.append(uow, [removed])
        current = [*rows[:5], removed, *rows[6:]]
        pages: list[RegisterRow] = []
        after: str | None = None
        while True:
            page = store.register.scan(after=after, limit=10)
            assert len(page) <= 10
            pages.extend(page)
            if len(page) < 10:
                break
            after = page[-1].internal_id
        assert pages == current
        assert store.register.scan(after="A0012x", limit=2) == rows[13:15]
        assert store.register.scan(after="Z") == []
        assert store.register.count() == 25
        assert store.register.count(status="registered") == 24
        assert store.register.count(status="removed") == 1

    def test_register_scan_orders_by_code_point(self, store: Store) -> None:
        # Paging with ``after`` needs one total order: code points (SQL ``COLLATE "C"``).
        ids = ["b1", "B-1", "A_2", "A-2", "A2", "a1", "Z9", "0x"]
        for n, internal_id in enumerate(ids):
            with store.unit_of_work() as uow:
                store.register.append(
                    uow, [self.rows.register_row(internal_id, 1, code=self.rows.code(n))]
                )
        assert [r.internal_id for r in store.register.scan()] == sorted(ids)
        paged = [r.internal_id for r in _scan_register(store, page=3)]
        assert paged == sorted(ids)
        assert [r.internal_id for r in store.register.scan(after="A2", limit=3)] == [
            "A_2",
            "B-1",
            "Z9",
        ]

    def test_register_current_many_crosses_chunks(self, store: Store) -> None:
        rows = [self.rows.register_row(f"A{n:05d}", 1, code=self.rows.code(n)) for n in range(1200)]
        with store.unit_of_work() as uow:
            store.register.bulk_load(uow, rows)
        unknown = [self.rows.code(n) for n in range(5000, 5300)]
        wanted = [r.resident_code for r in rows] + unknown
        found = store.register.current_many(wanted)
        assert found == {r.resident_code: r for r in rows}
        assert store.register.current_many([]) == {}
        assert store.register.current_many(unknown) == {}
        assert store.register.current_many([rows[7].resident_code] * 3) == {
            rows[7].resident_code: rows[7]
        }

    def test_register_bad_arguments_raise_and_write_nothing(self, store: Store) -> None:
        self.person(store, 1)
        before = snapshot(store)
        row = self.rows.register_row("B1", 1, code=self.rows.code(2))
        reads: list[tuple[type[JukinetError], Callable[[], object]]] = [
            (ValidationError, lambda: store.register.current(123)),  # type: ignore[arg-type]
            (ValidationError, lambda: store.register.current("")),
            (ValidationError, lambda: store.register.current("x" * (MAX_KEY_LENGTH + 1))),
            (ValidationError, lambda: store.register.current("bad id!")),
            (ValidationError, lambda: store.register.current_by_code(BAD_CHECK_DIGIT_CODE)),
            (ValidationError, lambda: store.register.current_by_code("1234")),
            (ValidationError, lambda: store.register.current_by_code(12345678903)),  # type: ignore[arg-type]
            (ValidationError, lambda: store.register.current_many([BAD_CHECK_DIGIT_CODE])),
            (JukinetError, lambda: store.register.current_many(None)),  # type: ignore[arg-type]
            (ValidationError, lambda: store.register.history(None)),  # type: ignore[arg-type]
            (ValidationError, lambda: store.register.household("")),
            (ValidationError, lambda: store.register.household("x" * 33)),
            (ValidationError, lambda: store.register.scan(limit=-1)),
            (ValidationError, lambda: store.register.scan(limit="10")),  # type: ignore[arg-type]
            (ValidationError, lambda: store.register.scan(after=5)),  # type: ignore[arg-type]
            (ValidationError, lambda: store.register.count(status="dead")),
        ]
        for error, call in reads:
            with pytest.raises(error):
                call()
        writes: list[tuple[type[JukinetError], Callable[[UnitOfWork], object]]] = [
            (InterfaceError, lambda uow: store.register.append(uow, [row, "row"])),  # type: ignore[list-item]
            (InterfaceError, lambda uow: store.register.append(uow, row)),  # type: ignore[arg-type]
            (InterfaceError, lambda uow: store.register.append(uow, None)),  # type: ignore[arg-type]
            (InterfaceError, lambda uow: store.register.bulk_load(uow, [row, 1])),  # type: ignore[list-item]
            (InterfaceError, lambda _uow: store.register.append("uow", [row])),  # type: ignore[arg-type]
            (InterfaceError, lambda _uow: store.register.append(None, [row])),  # type: ignore[arg-type]
        ]
        for error, write in writes:
            with pytest.raises(error), store.unit_of_work() as uow:
                write(uow)
            assert snapshot(store) == before

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

    @settings(
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
            HealthCheck.too_slow,
        ],
        max_examples=25,
    )
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

    def _move(
        self, code: str, version: int, to: str, *, removed: bool = False, rest: str = "1番地"
    ) -> IdentityRow:
        """Version ``version``: an entry in ``to`` (転入), or ``to``'s removal (転出)."""
        return self.rows.identity_row(
            code,
            version,
            municipality=to,
            rest=rest,
            reason=ChangeReason.DOMESTIC_MOVE_OUT if removed else ChangeReason.DOMESTIC_MOVE_IN,
        )

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

    # =============================================================================
    # retention of identity versions (令30条の6・令30条の7)
    # =============================================================================

    def test_identity_expire_deletes_superseded_versions_from_the_oldest(
        self, store: Store
    ) -> None:
        # A version notified after a 記載 or 修正 is kept until 150 years after a newer
        # notice for the person arrived: expire() takes the day before which that is.
        a, b, c = MUNICIPALITIES
        code, neighbour = self.rows.code(1), self.rows.code(2)
        born = self.rows.identity_row(code, 1, municipality=a, rest="1番地", received_on=_on(0))
        moved = self.rows.identity_row(code, 2, municipality=a, rest="2番地", received_on=_on(10))
        entry_b = _received(self._move(code, 3, b, rest="3番地"), 20)  # a's 転出 not yet in
        next_door = self.rows.identity_row(
            neighbour, 1, municipality=a, rest="1番地", received_on=_on(0)
        )
        with store.unit_of_work() as uow:
            store.identities.append(uow, [born, moved, entry_b, next_door])
        before = snapshot(store)
        for cut_off in (_on(0), _on(10)):  # nothing superseded before the cut-off
            with store.unit_of_work() as uow:
                assert store.identities.expire(uow, received_before=cut_off) == 0
            assert snapshot(store) == before
        with store.unit_of_work() as uow:
            assert store.identities.expire(uow, received_before=_on(11)) == 1
        assert store.identities.history(code) == [moved, entry_b]
        assert store.identities.current(code) == entry_b
        assert store.identities.scan(municipality=a) == [moved, next_door]
        with store.unit_of_work() as uow:
            assert store.identities.expire(uow, received_before=_on(21)) == 1
        # The newest version stays however old: only a newer notice starts its years.
        assert store.identities.history(code) == [entry_b]
        assert store.identities.history(neighbour) == [next_door]
        assert store.identities.last_versions([code, neighbour]) == {code: 3, neighbour: 1}
        assert store.identities.current_many([code, neighbour]) == {
            code: entry_b,
            neighbour: next_door,
        }
        # a's every version of the person went: a has no word on them any more
        assert store.identities.scan(municipality=a) == [next_door]
        assert store.identities.count(municipality=a) == 1
        assert store.identities.scan(municipality=b) == [entry_b]
        assert store.identities.count(municipality=b) == 1
        assert store.identities.scan() == [entry_b, next_door]
        assert store.identities.count() == 2
        query = IdentityQuery(name_key=born.name_key, birth_date=born.birth_date)
        assert store.identities.search(query) == [entry_b, next_door]
        with store.unit_of_work() as uow:
            assert store.identities.expire(uow, received_before=date.max) == 0
        # The next notice is still the next version; an older one is refused.
        death = self.rows.identity_row(
            code, 4, municipality=b, rest="3番地", removed=True, received_on=_on(30)
        )
        with store.unit_of_work() as uow:
            store.identities.append(uow, [death])
        kept = snapshot(store)
        for write in (store.identities.append, store.identities.bulk_load):
            with pytest.raises(IntegrityError), store.unit_of_work() as uow:
                write(uow, [self.rows.identity_row(code, 1, municipality=c)])
            assert snapshot(store) == kept
        assert store.identities.history(code) == [entry_b, death]
        assert store.identities.current(code) == death

    def test_identity_expire_removed_versions_150_years_from_their_own_notice(
        self, store: Store
    ) -> None:
        # A version notified after a 消除 is kept 150 years from that notice, even when
        # a newer one arrived only recently; a code whose every version went is unknown.
        a, b, _ = MUNICIPALITIES
        code, dead = self.rows.code(1), self.rows.code(2)
        rows = [
            self.rows.identity_row(code, 1, municipality=a, rest="1番地", received_on=_on(0)),
            _received(self._move(code, 2, a, removed=True), 10),  # 転出 from a
            _received(self._move(code, 3, b, rest="2番地"), 30),  # 転入 in b, much later
            self.rows.identity_row(dead, 1, municipality=a, received_on=_on(0)),
            self.rows.identity_row(dead, 2, municipality=a, removed=True, received_on=_on(10)),
        ]
        with store.unit_of_work() as uow:
            store.identities.append(uow, rows)
        before = snapshot(store)
        with store.unit_of_work() as uow:  # received on the cut-off day: kept
            assert store.identities.expire(uow, received_before=_on(10)) == 0
        assert snapshot(store) == before
        with store.unit_of_work() as uow:
            assert store.identities.expire(uow, received_before=_on(11)) == 4
        assert store.identities.history(code) == rows[2:3]
        assert store.identities.scan(municipality=a) == []
        assert store.identities.count(municipality=a) == 0
        assert store.identities.current(dead) is None
        assert store.identities.history(dead) == []
        assert store.identities.last_versions([code, dead]) == {code: 3}
        assert store.identities.current_many([code, dead]) == {code: rows[2]}
        assert store.identities.scan() == rows[2:3]
        assert store.identities.count() == 1
        query = IdentityQuery(name_key=rows[0].name_key, birth_date=rows[0].birth_date)
        assert store.identities.search(query) == rows[2:3]
        # A later notice about the forgotten code starts it again at version 1.
        again = self.rows.identity_row(dead, 1, municipality=b, received_on=_on(40))
        with store.unit_of_work() as uow:
            assert store.identities.bulk_load(uow, [again]) == 1
        assert store.identities.history(dead) == [again]
        assert store.identities.count(municipality=b) == 2

    def test_identity_expire_never_counts_an_unknown_day(self, store: Store) -> None:
        never, late, blocked = (self.rows.code(n) for n in (1, 2, 3))
        rows = {
            # every day unknown, ending in a removal: nothing ever goes
            never: [
                self.rows.identity_row(never, 1),
                self.rows.identity_row(never, 2, rest="2番地"),
                self.rows.identity_row(never, 3, removed=True),
            ],
            # version 1 of unknown day goes by the known day of version 2
            late: [
                self.rows.identity_row(late, 1),
                self.rows.identity_row(late, 2, rest="2番地", received_on=_on(0)),
            ],
            # version 1 waits for version 2, whose day is unknown: the later, due
            # versions stay too (only the oldest go)
            blocked: [
                self.rows.identity_row(blocked, 1, received_on=_on(0)),
                self.rows.identity_row(blocked, 2, rest="2番地"),
                self.rows.identity_row(blocked, 3, removed=True, received_on=_on(0)),
            ],
        }
        with store.unit_of_work() as uow:
            store.identities.bulk_load(uow, [versions[0] for versions in rows.values()])
            store.identities.append(uow, [r for versions in rows.values() for r in versions[1:]])
        with store.unit_of_work() as uow:
            assert store.identities.expire(uow, received_before=date.max) == 1
        assert store.identities.history(never) == rows[never]
        assert store.identities.history(late) == rows[late][1:]
        assert store.identities.history(blocked) == rows[blocked]
        assert store.identities.count() == 3

    def test_identity_expire_inside_a_unit_of_work(self, store: Store) -> None:
        a, b, c = MUNICIPALITIES
        code, other, brief = (self.rows.code(n) for n in (1, 2, 3))
        rows = [
            self.rows.identity_row(code, 1, municipality=a, rest="1番地", received_on=_on(0)),
            _received(self._move(code, 2, b), 5),
            self.rows.identity_row(other, 1, municipality=a, removed=True, received_on=_on(0)),
        ]
        with store.unit_of_work() as uow:
            store.identities.append(uow, rows)
        reader = self.handle(store)
        before = snapshot(store)
        with pytest.raises(InjectedCrash), store.unit_of_work() as uow:  # noqa: PT012
            assert store.identities.expire(uow, received_before=_on(6)) == 2
            assert store.identities.history(code, uow) == rows[1:2]
            assert store.identities.current(other, uow) is None
            assert store.identities.count(uow=uow) == 1
            assert store.identities.count(municipality=a, uow=uow) == 0
            assert store.identities.scan(municipality=a, uow=uow) == []
            assert store.identities.scan(uow=uow) == rows[1:2]
            assert store.identities.last_versions([code, other], uow) == {code: 2}
            assert reader.identities.history(code) == rows[:2]  # committed data only
            raise InjectedCrash
        assert snapshot(store) == before
        third = _received(self._move(code, 3, a, rest="3番地"), 7)
        again = self.rows.identity_row(other, 1, municipality=b, received_on=_on(8))
        passing = self.rows.identity_row(brief, 1, municipality=c, removed=True, received_on=_on(1))
        with store.unit_of_work() as uow:
            store.identities.append(uow, [third])
            # code: 1 and 2 (superseded on days 5 and 7); other: its removal of day 0
            assert store.identities.expire(uow, received_before=_on(8)) == 3
            assert store.identities.history(code, uow) == [third]
            store.identities.append(uow, [again])  # the forgotten code starts again
            assert store.identities.history(other, uow) == [again]
            assert store.identities.count(uow=uow) == 2
            assert store.identities.scan(municipality=a, uow=uow) == [third]
            assert store.identities.scan(municipality=b, uow=uow) == [again]
            # a version staged in this unit of work can go in it too
            store.identities.append(uow, [passing])
            assert store.identities.count(municipality=c, uow=uow) == 1
            assert store.identities.expire(uow, received_before=_on(2)) == 1
            assert store.identities.history(brief, uow) == []
            assert store.identities.count(municipality=c, uow=uow) == 0
            assert reader.identities.history(code) == rows[:2]
        for handle in (store, reader):
            assert handle.identities.history(code) == [third]
            assert handle.identities.history(other) == [again]
            assert handle.identities.history(brief) == []
            assert handle.identities.count() == 2
            assert handle.identities.scan(municipality=a) == [third]
            assert handle.identities.scan(municipality=b) == [again]
            assert handle.identities.scan(municipality=c) == []
            assert handle.identities.current_many([code, other, brief]) == {
                code: third,
                other: again,
            }

    def test_identity_expire_bad_arguments_raise_and_delete_nothing(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            assert store.identities.expire(uow, received_before=date.max) == 0  # empty
        row = self.rows.identity_row(self.rows.code(1), 1, removed=True, received_on=_on(0))
        with store.unit_of_work() as uow:
            store.identities.append(uow, [row])
        before = snapshot(store)
        bad: list[Any] = [datetime(2030, 1, 1, tzinfo=UTC), "2030-01-01", None, 20300101]
        for received_before in bad:
            with pytest.raises(InvalidFormat), store.unit_of_work() as uow:
                store.identities.expire(uow, received_before=received_before)
            assert snapshot(store) == before
        with pytest.raises(InterfaceError):
            store.identities.expire(object(), received_before=_on(1))  # type: ignore[arg-type]
        assert snapshot(store) == before
        with pytest.raises(IntegrityError), store.unit_of_work() as uow:  # noqa: PT012
            assert store.identities.expire(uow, received_before=_on(1)) == 1
            store.identities.append(uow, [self.rows.identity_row(self.rows.code(2), 2)])
        assert snapshot(store) == before

    def test_identity_load_histories_from_any_first_version(self, store: Store) -> None:
        # A municipality restores what the upper tiers kept: histories whose oldest
        # versions may have expired there (令30条の6・30条の7).
        a, b, _ = MUNICIPALITIES
        code, other, new = (self.rows.code(n) for n in (1, 2, 3))
        kept = [
            self.rows.identity_row(code, 3, municipality=a, rest="1番地"),
            self._move(code, 4, b),
            self._move(code, 5, a, removed=True),
        ]
        whole = self.rows.identity_row(other, 1, municipality=a, received_on=_on(0))
        with store.unit_of_work() as uow:
            assert store.identities.load_histories(uow, [*kept, whole]) == 4
            assert store.identities.history(code, uow) == kept
        assert store.identities.history(code) == kept
        assert store.identities.history(other) == [whole]
        assert store.identities.current(code) == kept[1]
        assert store.identities.last_versions([code, other]) == {code: 5, other: 1}
        assert store.identities.scan(municipality=a) == [kept[2], whole]
        assert store.identities.scan(municipality=b) == [kept[1]]
        assert store.identities.count() == 2
        query = IdentityQuery(name_key=whole.name_key, birth_date=whole.birth_date)
        assert store.identities.search(query) == [kept[1], whole]
        before = snapshot(store)
        bad_batches = [
            [self.rows.identity_row(code, 6)],  # a code already stored
            [self.rows.identity_row(new, 2), self.rows.identity_row(new, 4)],  # a gap
            [self.rows.identity_row(new, 2), self.rows.identity_row(new, 2)],  # twice
            [self.rows.identity_row(new, 3), self.rows.identity_row(new, 2)],  # out of order
            [self.rows.identity_row(new, 1), self.rows.identity_row(other, 1)],  # one bad row
        ]
        for batch in bad_batches:
            with pytest.raises(IntegrityError), store.unit_of_work() as uow:
                store.identities.load_histories(uow, batch)
            assert snapshot(store) == before
        not_rows: list[Any] = [kept[0], "row"]
        with pytest.raises(InterfaceError), store.unit_of_work() as uow:
            store.identities.load_histories(uow, not_rows)
        assert snapshot(store) == before
        following = self._move(code, 6, b)
        with store.unit_of_work() as uow:
            store.identities.append(uow, [following])
            assert store.identities.load_histories(uow, []) == 0
        assert store.identities.history(code) == [*kept, following]

    # =============================================================================
    # outbox
    # =============================================================================

    def test_outbox_sequence_numbers_are_gap_free(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            assert store.outbox.append(uow, "pref13", [b"a", b"b", b"c"]) == range(1, 4)
            assert store.outbox.append(uow, "pref13", [b"d"]) == range(4, 5)
            assert store.outbox.append(uow, "center", [b"x"]) == range(1, 2)
            assert store.outbox.last_seq("pref13", uow) == 4
        with store.unit_of_work() as uow:
            assert store.outbox.append(uow, "pref13", []) == range(5, 5)
            assert store.outbox.append(uow, "empty", []) == range(1, 1)
            assert store.outbox.append(uow, "pref13", [b"e", b"f"]) == range(5, 7)
        entries = read_all_outbox(store, "pref13")
        assert [e.seq for e in entries] == [1, 2, 3, 4, 5, 6]
        assert [e.payload for e in entries] == [b"a", b"b", b"c", b"d", b"e", b"f"]
        assert all(e.destination == "pref13" for e in entries)
        assert store.outbox.read("pref13", after=2, limit=2) == entries[2:4]
        assert store.outbox.read("pref13", after=6) == []
        assert store.outbox.read("pref13", after=100) == []
        assert store.outbox.read("nobody") == []
        assert store.outbox.last_seq("pref13") == 6
        assert store.outbox.last_seq("nobody") == 0
        assert store.outbox.last_seq("empty") == 0
        assert store.outbox.destinations() == ["center", "pref13"]

    def test_outbox_numbers_survive_a_rolled_back_append(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            store.outbox.append(uow, "pref13", [b"a"])
        with pytest.raises(InjectedCrash), store.unit_of_work() as uow:  # noqa: PT012
            assert store.outbox.append(uow, "pref13", [b"lost"]) == range(2, 3)
            raise InjectedCrash
        with store.unit_of_work() as uow:
            assert store.outbox.append(uow, "pref13", [b"b"]) == range(2, 3)
        assert [e.payload for e in read_all_outbox(store, "pref13")] == [b"a", b"b"]

    def test_outbox_reads_see_committed_entries_only(self, store: Store) -> None:
        reader = self.handle(store)
        with store.unit_of_work() as uow:
            store.outbox.append(uow, "pref13", [b"a"])
            assert [e.payload for e in store.outbox.read("pref13", uow=uow)] == [b"a"]
            assert reader.outbox.read("pref13") == []
            assert reader.outbox.last_seq("pref13") == 0
            assert reader.outbox.destinations() == []
        assert [e.payload for e in reader.outbox.read("pref13")] == [b"a"]
        with store.unit_of_work() as uow:
            store.outbox.append(uow, "pref13", [b"b", b"c"])
            inside = store.outbox.read("pref13", after=0, limit=10, uow=uow)
            assert [(e.seq, e.payload) for e in inside] == [(1, b"a"), (2, b"b"), (3, b"c")]
            assert store.outbox.read("pref13", after=1, limit=1, uow=uow) == inside[1:2]
            assert store.outbox.last_seq("pref13", uow) == 3
            assert store.outbox.destinations(uow) == ["pref13"]
            assert [e.seq for e in reader.outbox.read("pref13")] == [1]

    def test_outbox_bad_arguments_raise_and_write_nothing(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            store.outbox.append(uow, "pref13", [b"a"])
        before = snapshot(store)
        too_big = b"x" * (MAX_PAYLOAD_BYTES + 1)
        writes: list[tuple[type[JukinetError], Callable[[UnitOfWork], object]]] = [
            (ValidationError, lambda uow: store.outbox.append(uow, "bad dest", [b"a"])),
            (ValidationError, lambda uow: store.outbox.append(uow, "", [b"a"])),
            (ValidationError, lambda uow: store.outbox.append(uow, "d" * 65, [b"a"])),
            (ValidationError, lambda uow: store.outbox.append(uow, 13, [b"a"])),  # type: ignore[arg-type]
            (ValidationError, lambda uow: store.outbox.append(uow, "pref13", [b"a", b""])),
            (ValidationError, lambda uow: store.outbox.append(uow, "pref13", [b"a", too_big])),
            (JukinetError, lambda uow: store.outbox.append(uow, "pref13", [b"a", "text"])),  # type: ignore[list-item]
            (JukinetError, lambda uow: store.outbox.append(uow, "pref13", b"abc")),  # type: ignore[arg-type]
            (JukinetError, lambda uow: store.outbox.append(uow, "pref13", None)),  # type: ignore[arg-type]
            (InterfaceError, lambda _uow: store.outbox.append(None, "pref13", [b"a"])),  # type: ignore[arg-type]
        ]
        for error, write in writes:
            with pytest.raises(error), store.unit_of_work() as uow:
                write(uow)
            assert snapshot(store) == before
        reads: list[Callable[[], object]] = [
            lambda: store.outbox.read("pref13", after=-1),
            lambda: store.outbox.read("pref13", limit=-1),
            lambda: store.outbox.read("pref13", limit=True),
            lambda: store.outbox.read("bad dest"),
            lambda: store.outbox.last_seq(""),
        ]
        for call in reads:
            with pytest.raises(ValidationError):
                call()

    def test_racing_outbox_writers_never_interleave_or_skip(self, store: Store) -> None:
        destination = "pref13"
        writers = [self.handle(store), self.handle(store)]
        reader = self.handle(store)
        written: dict[int, list[tuple[range, list[bytes]]]] = {0: [], 1: []}
        done = threading.Event()
        seen: list[OutboxEntry] = []
        rounds = self.racing_rounds

        def write(w: int) -> Callable[[], None]:
            def run() -> None:
                handle = writers[w]
                for i in range(rounds):
                    payloads = [f"w{w}-{i}-{j}".encode() for j in range(1 + (i + w) % 3)]
                    with handle.unit_of_work() as uow:
                        numbers = handle.outbox.append(uow, destination, payloads)
                    written[w].append((numbers, payloads))

            return run

        def read() -> None:
            last = 0
            highest = 0
            while True:
                finished = done.is_set()
                batch = reader.outbox.read(destination, after=last, limit=5)
                for k, entry in enumerate(batch):
                    assert entry.seq == last + 1 + k, f"read after {last} returned {entry.seq}"
                if batch:
                    last = batch[-1].seq
                    seen.extend(batch)
                else:
                    time.sleep(0.0005)
                newest = reader.outbox.last_seq(destination)
                assert newest >= highest, "last_seq went backwards"
                highest = newest
                if finished and not batch:
                    return

        def writers_then_done() -> None:
            try:
                _run_threads([write(0), write(1)])
            finally:
                done.set()

        _run_threads([writers_then_done, read])
        final = read_all_outbox(store, destination)
        total = sum(len(p) for w in written.values() for _, p in w)
        assert [e.seq for e in final] == list(range(1, total + 1))
        assert seen == final
        payloads = [e.payload for e in final]
        assert len(set(payloads)) == total
        for w in written.values():
            for numbers, batch in w:
                assert len(numbers) == len(batch)
                assert [final[s - 1].payload for s in numbers] == batch
        assert store.outbox.last_seq(destination) == total

    def test_outbox_acknowledgements_are_monotonic(self, store: Store) -> None:
        # Acks may arrive late, twice or out of order: the position only moves forward.
        with store.unit_of_work() as uow:
            store.outbox.append(uow, "pref13", [b"a", b"b", b"c", b"d", b"e"])
            store.outbox.append(uow, "center", [b"x"])
        assert store.outbox.acknowledged("pref13") == 0
        assert store.outbox.acknowledged("nobody") == 0
        for seq, expected in ((3, 3), (2, 3), (3, 3), (0, 3), (1, 3), (4, 4), (5, 5), (5, 5)):
            with store.unit_of_work() as uow:
                store.outbox.acknowledge(uow, "pref13", seq)
                assert store.outbox.acknowledged("pref13", uow) == expected
            assert store.outbox.acknowledged("pref13") == expected
        assert store.outbox.acknowledged("center") == 0  # per destination
        # an acknowledgement never removes or renumbers entries
        assert [e.seq for e in read_all_outbox(store, "pref13")] == [1, 2, 3, 4, 5]
        assert store.outbox.last_seq("pref13") == 5
        # in one unit of work: entries appended earlier in it may be acknowledged
        with store.unit_of_work() as uow:
            store.outbox.append(uow, "center", [b"y", b"z"])
            store.outbox.acknowledge(uow, "center", 2)
            store.outbox.acknowledge(uow, "center", 3)
            store.outbox.acknowledge(uow, "center", 1)
            assert store.outbox.acknowledged("center", uow) == 3
        assert store.outbox.acknowledged("center") == 3
        # a no-op acknowledgement creates nothing
        with store.unit_of_work() as uow:
            store.outbox.acknowledge(uow, "nobody", 0)
        assert store.outbox.destinations() == ["center", "pref13"]
        assert store.outbox.acknowledged("nobody") == 0

    def test_outbox_acknowledging_unsent_entries_is_refused(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            store.outbox.append(uow, "pref13", [b"a", b"b"])
            store.outbox.acknowledge(uow, "pref13", 1)
        before = snapshot(store)
        for destination, seq in (("pref13", 3), ("pref13", 2**62), ("nobody", 1)):
            with pytest.raises(IntegrityError), store.unit_of_work() as uow:  # noqa: PT012
                store.outbox.append(uow, "center", [b"effect"])
                store.audit.append(uow, [self.rows.audit_entry(1)])
                store.outbox.acknowledge(uow, destination, seq)
            assert snapshot(store) == before
        # entries appended in a unit of work that rolled back were never sent
        with pytest.raises(InjectedCrash), store.unit_of_work() as uow:  # noqa: PT012
            store.outbox.append(uow, "pref13", [b"lost"])
            store.outbox.acknowledge(uow, "pref13", 3)
            raise InjectedCrash
        with pytest.raises(IntegrityError), store.unit_of_work() as uow:
            store.outbox.acknowledge(uow, "pref13", 3)
        assert snapshot(store) == before

    def test_outbox_acknowledgements_are_committed_with_the_unit_of_work(
        self, store: Store
    ) -> None:
        reader = self.handle(store)
        with store.unit_of_work() as uow:
            store.outbox.append(uow, "pref13", [b"a", b"b", b"c"])
        with store.unit_of_work() as uow:
            store.outbox.acknowledge(uow, "pref13", 2)
            assert store.outbox.acknowledged("pref13", uow) == 2
            assert reader.outbox.acknowledged("pref13") == 0
        assert reader.outbox.acknowledged("pref13") == 2
        with pytest.raises(InjectedCrash), store.unit_of_work() as uow:  # noqa: PT012
            store.outbox.acknowledge(uow, "pref13", 3)
            raise InjectedCrash
        assert reader.outbox.acknowledged("pref13") == 2

    def test_outbox_resume_continues_a_link_after_a_disaster(self, store: Store) -> None:
        # The receiver already applied 1..41: the rebuilt sender's next entry is 42.
        reader = self.handle(store)
        with store.unit_of_work() as uow:
            assert store.outbox.append(uow, "pref13", []) == range(1, 1)  # writes nothing
            store.outbox.resume(uow, "pref13", 41)
            assert store.outbox.last_seq("pref13", uow) == 41
            assert store.outbox.acknowledged("pref13", uow) == 41
            assert store.outbox.destinations(uow) == ["pref13"]
            assert reader.outbox.last_seq("pref13") == 0
            assert reader.outbox.destinations() == []
        assert store.outbox.last_seq("pref13") == 41
        assert store.outbox.acknowledged("pref13") == 41
        assert store.outbox.destinations() == ["pref13"]  # a head without entries
        assert store.outbox.read("pref13") == []
        with store.unit_of_work() as uow:
            assert store.outbox.append(uow, "pref13", [b"a", b"b"]) == range(42, 44)
            assert store.outbox.append(uow, "pref13", []) == range(44, 44)
            assert [e.seq for e in store.outbox.read("pref13", uow=uow)] == [42, 43]
        with store.unit_of_work() as uow:
            assert store.outbox.append(uow, "pref13", [b"c"]) == range(44, 45)
            store.outbox.acknowledge(uow, "pref13", 40)  # below: a no-op
            assert store.outbox.acknowledged("pref13", uow) == 41
        entries = read_all_outbox(store, "pref13", page=2)
        assert [(e.seq, e.payload) for e in entries] == [(42, b"a"), (43, b"b"), (44, b"c")]
        assert store.outbox.read("pref13", after=10, limit=2) == entries[:2]
        assert store.outbox.read("pref13", after=42, limit=1) == entries[1:2]
        assert store.outbox.read("pref13", after=44) == []
        with store.unit_of_work() as uow:
            store.outbox.acknowledge(uow, "pref13", 44)
        assert store.outbox.acknowledged("pref13") == 44
        # resuming at 0 makes a head too; another destination is not affected
        with store.unit_of_work() as uow:
            store.outbox.resume(uow, "center", 0)
        assert store.outbox.destinations() == ["center", "pref13"]
        assert (store.outbox.last_seq("center"), store.outbox.acknowledged("center")) == (0, 0)
        with store.unit_of_work() as uow:
            assert store.outbox.append(uow, "center", [b"x"]) == range(1, 2)

    def test_outbox_resume_only_on_a_fresh_destination(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            store.outbox.append(uow, "pref13", [b"a"])
            store.outbox.resume(uow, "pref27", 7)
        # a rolled-back resume leaves nothing behind
        with pytest.raises(InjectedCrash), store.unit_of_work() as uow:  # noqa: PT012
            store.outbox.resume(uow, "center", 5)
            raise InjectedCrash
        assert store.outbox.destinations() == ["pref13", "pref27"]
        before = snapshot(store)
        cases = [("pref13", 1), ("pref13", 0), ("pref13", 100), ("pref27", 7), ("pref27", 9)]
        for destination, last in cases:
            with pytest.raises(IntegrityError), store.unit_of_work() as uow:  # noqa: PT012
                store.audit.append(uow, [self.rows.audit_entry(1)])
                store.outbox.resume(uow, destination, last)
            assert snapshot(store) == before
        # twice in one unit of work, or after an append in it
        with pytest.raises(IntegrityError), store.unit_of_work() as uow:  # noqa: PT012
            store.outbox.resume(uow, "center", 5)
            store.outbox.resume(uow, "center", 5)
        with pytest.raises(IntegrityError), store.unit_of_work() as uow:  # noqa: PT012
            store.outbox.append(uow, "center", [b"x"])
            store.outbox.resume(uow, "center", 5)
        assert snapshot(store) == before
        with store.unit_of_work() as uow:  # still fresh after the rollbacks
            store.outbox.resume(uow, "center", 5)
        assert store.outbox.last_seq("center") == 5

    def test_outbox_ack_and_resume_bad_arguments_raise_and_write_nothing(
        self, store: Store
    ) -> None:
        with store.unit_of_work() as uow:
            store.outbox.append(uow, "pref13", [b"a", b"b"])
        before = snapshot(store)
        writes: list[tuple[type[JukinetError], Callable[[UnitOfWork], object]]] = [
            (ValidationError, lambda uow: store.outbox.acknowledge(uow, "pref13", -1)),
            (ValidationError, lambda uow: store.outbox.acknowledge(uow, "pref13", "1")),  # type: ignore[arg-type]
            (ValidationError, lambda uow: store.outbox.acknowledge(uow, "pref13", True)),
            (ValidationError, lambda uow: store.outbox.acknowledge(uow, "pref13", 1.0)),  # type: ignore[arg-type]
            (ValidationError, lambda uow: store.outbox.acknowledge(uow, "pref13", 2**63)),
            (ValidationError, lambda uow: store.outbox.acknowledge(uow, "bad dest", 1)),
            (ValidationError, lambda uow: store.outbox.acknowledge(uow, None, 1)),  # type: ignore[arg-type]
            (InterfaceError, lambda _uow: store.outbox.acknowledge(None, "pref13", 1)),  # type: ignore[arg-type]
            (ValidationError, lambda uow: store.outbox.resume(uow, "center", -1)),
            (ValidationError, lambda uow: store.outbox.resume(uow, "center", "5")),  # type: ignore[arg-type]
            (ValidationError, lambda uow: store.outbox.resume(uow, "center", False)),
            (ValidationError, lambda uow: store.outbox.resume(uow, "center", 2**63)),
            (ValidationError, lambda uow: store.outbox.resume(uow, "", 5)),
            (ValidationError, lambda uow: store.outbox.resume(uow, "d" * 65, 5)),
            (InterfaceError, lambda _uow: store.outbox.resume("uow", "center", 5)),  # type: ignore[arg-type]
        ]
        for error, write in writes:
            with pytest.raises(error), store.unit_of_work() as uow:  # noqa: PT012
                store.outbox.append(uow, "pref13", [b"effect"])
                write(uow)
            assert snapshot(store) == before
        with pytest.raises(ValidationError):
            store.outbox.acknowledged("bad dest")
        with pytest.raises(ValidationError):
            store.outbox.acknowledged(13)  # type: ignore[arg-type]

    def test_racing_acknowledgements_only_move_forward(self, store: Store) -> None:
        total = 2 * self.racing_rounds
        with store.unit_of_work() as uow:
            store.outbox.append(uow, "pref13", [f"{n}".encode() for n in range(total)])
        handles = [self.handle(store), self.handle(store)]
        reader = self.handle(store)
        done = threading.Event()

        def ack(k: int) -> Callable[[], None]:
            def run() -> None:
                handle = handles[k]
                # one thread acks upwards, the other the same numbers in a shuffled order
                order = list(range(k, total + 1, 2))
                if k:
                    order = order[1::2] + order[0::2]
                for seq in order:
                    with handle.unit_of_work() as uow:
                        handle.outbox.acknowledge(uow, "pref13", seq)

            return run

        def read() -> None:
            highest = 0
            while not done.is_set():
                acked = reader.outbox.acknowledged("pref13")
                assert acked >= highest, "the acknowledged position went backwards"
                highest = acked
                time.sleep(0.0005)

        def ackers_then_done() -> None:
            try:
                _run_threads([ack(0), ack(1)])
            finally:
                done.set()

        _run_threads([ackers_then_done, read])
        assert store.outbox.acknowledged("pref13") == total

    # =============================================================================
    # tracking
    # =============================================================================

    def test_tracking_advances_one_by_one(self, store: Store) -> None:
        assert store.tracking.position("city131016") == 0
        with store.unit_of_work() as uow:
            store.tracking.advance(uow, "city131016", 1)
            store.tracking.advance(uow, "city131016", 2)
            assert store.tracking.position("city131016", uow) == 2
        with store.unit_of_work() as uow:
            store.tracking.advance(uow, "city131024", 1)
        assert store.tracking.position("city131016") == 2
        assert store.tracking.senders() == {"city131016": 2, "city131024": 1}

    def test_tracking_makes_a_redelivery_a_no_op(self, store: Store) -> None:
        code = self.rows.code(1)
        with store.unit_of_work() as uow:
            store.identities.append(uow, [self.rows.identity_row(code, 1)])
            store.tracking.advance(uow, "city131016", 1)
        before = snapshot(store)
        for seq in (1, 3):  # a re-delivery, then a gap
            with pytest.raises(IntegrityError), store.unit_of_work() as uow:  # noqa: PT012
                store.identities.append(uow, [self.rows.identity_row(code, 2)])
                store.outbox.append(uow, "center", [b"forwarded"])
                store.tracking.advance(uow, "city131016", seq)
            assert snapshot(store) == before
        with pytest.raises(JukinetError), store.unit_of_work() as uow:
            store.tracking.advance(uow, "city131016", 0)
        assert snapshot(store) == before

    def test_tracking_bad_arguments_raise_and_write_nothing(self, store: Store) -> None:
        before = snapshot(store)
        writes: list[Callable[[UnitOfWork], object]] = [
            lambda uow: store.tracking.advance(uow, "bad sender", 1),
            lambda uow: store.tracking.advance(uow, "", 1),
            lambda uow: store.tracking.advance(uow, "city", "1"),  # type: ignore[arg-type]
            lambda uow: store.tracking.advance(uow, "city", True),
            lambda uow: store.tracking.advance(uow, "city", -1),
            lambda uow: store.tracking.advance(uow, "city", 2**63),
        ]
        for write in writes:
            with pytest.raises(ValidationError), store.unit_of_work() as uow:
                write(uow)
            assert snapshot(store) == before
        with pytest.raises(InterfaceError), store.unit_of_work():
            store.tracking.advance("uow", "city", 1)  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            store.tracking.position("x" * 65)
        assert snapshot(store) == before

    def test_tracking_advances_through_a_batch(self, store: Store) -> None:
        # An envelope carrying messages 1..5 is applied in one unit of work.
        with store.unit_of_work() as uow:
            store.tracking.advance(uow, "city131016", 1, last=5)
            assert store.tracking.position("city131016", uow) == 5
            store.tracking.advance(uow, "city131016", 6)
            store.tracking.advance(uow, "city131016", 7, last=7)
            store.tracking.advance(uow, "city131016", 8, last=None)
        assert store.tracking.position("city131016") == 8
        with store.unit_of_work() as uow:
            store.tracking.advance(uow, "city131024", 1, last=2**62)
        assert store.tracking.senders() == {"city131016": 8, "city131024": 2**62}
        before = snapshot(store)
        # a batch that repeats an applied message, or skips one, is refused whole
        for seq, last in ((8, 12), (5, 12), (1, 9), (10, 12), (9 + 2**40, 2**41)):
            with pytest.raises(IntegrityError), store.unit_of_work() as uow:  # noqa: PT012
                store.outbox.append(uow, "center", [b"forwarded"])
                store.tracking.advance(uow, "city131016", seq, last=last)
            assert snapshot(store) == before
        with store.unit_of_work() as uow:
            store.tracking.advance(uow, "city131016", 9, last=12)
        assert store.tracking.position("city131016") == 12

    def test_tracking_a_batch_ending_before_it_starts_is_bad_input(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            store.tracking.advance(uow, "city131016", 1, last=3)
        before = snapshot(store)
        writes: list[Callable[[UnitOfWork], object]] = [
            lambda uow: store.tracking.advance(uow, "city131016", 4, last=3),
            lambda uow: store.tracking.advance(uow, "city131016", 4, last=0),
            lambda uow: store.tracking.advance(uow, "city131016", 1, last=0),  # also re-sent
            lambda uow: store.tracking.advance(uow, "city131016", 9, last=8),  # also a gap
            lambda uow: store.tracking.advance(uow, "city131016", 4, last=-1),
            lambda uow: store.tracking.advance(uow, "city131016", 4, last="5"),  # type: ignore[arg-type]
            lambda uow: store.tracking.advance(uow, "city131016", 4, last=True),
            lambda uow: store.tracking.advance(uow, "city131016", 4, last=5.0),  # type: ignore[arg-type]
            lambda uow: store.tracking.advance(uow, "city131016", 4, last=2**63),
        ]
        for write in writes:
            with pytest.raises(ValidationError), store.unit_of_work() as uow:  # noqa: PT012
                store.outbox.append(uow, "center", [b"forwarded"])
                write(uow)
            assert snapshot(store) == before

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

    # =============================================================================
    # audit log
    # =============================================================================

    def test_audit_entries_are_numbered_gap_free_and_read_back(self, store: Store) -> None:
        entries = [self.rows.audit_entry(n) for n in range(1, 8)]
        tokyo = AuditEntry(
            at=datetime(2024, 4, 1, 9, 0, 0, 999_999, tzinfo=_JST),
            action="receive.refused",
            subject=None,
        )
        with store.unit_of_work() as uow:
            assert store.audit.append(uow, entries[:3]) == range(1, 4)
            assert store.audit.append(uow, []) == range(4, 4)
            assert store.audit.append(uow, (tokyo,)) == range(4, 5)
            assert store.audit.last_seq(uow) == 4
        with store.unit_of_work() as uow:
            assert store.audit.append(uow, []) == range(5, 5)
            assert store.audit.append(uow, entries[3:]) == range(5, 9)
        records = read_all_audit(store, page=3)
        assert [r.seq for r in records] == list(range(1, 9))
        assert [r.entry for r in records] == [*entries[:3], tokyo, *entries[3:]]
        assert records[3] == AuditRecord(seq=4, entry=tokyo)
        # the same instant: an aware time compares equal in any zone
        assert [r.entry.at for r in records] == [e.at for e in (*entries[:3], tokyo, *entries[3:])]
        assert records[3].entry.at.microsecond == 999_999
        assert records[3].entry.subject is None
        assert records[3].entry.detail == b"{}"
        assert store.audit.read(after=2, limit=3) == records[2:5]
        assert store.audit.read(after=8) == []
        assert store.audit.read(after=100) == []
        assert store.audit.read(limit=0) == []
        assert store.audit.last_seq() == 8

    @settings(
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
            HealthCheck.too_slow,
        ],
        max_examples=25,
    )
    @given(
        at=st.datetimes(
            min_value=datetime(1900, 1, 1),
            max_value=datetime(2200, 1, 1),
            timezones=st.sampled_from(
                [UTC, _JST, timezone(timedelta(hours=-9, minutes=-30)), timezone.min]
            ),
        ),
        action=st.text(_TEXT, min_size=1, max_size=64),
        subject=st.none() | st.text(_TEXT, min_size=1, max_size=64),
        detail=st.binary(min_size=1, max_size=300),
    )
    def test_audit_round_trip_of_generated_entries(
        self, store: Store, at: datetime, action: str, subject: str | None, detail: bytes
    ) -> None:
        entry = AuditEntry(at=at, action=action, subject=subject, detail=detail)
        with store.unit_of_work() as uow:
            (seq,) = store.audit.append(uow, [entry])
        (record,) = store.audit.read(after=seq - 1, limit=1)
        assert record == AuditRecord(seq=seq, entry=entry)
        assert record.entry.at.utcoffset() is not None
        # any text an entry can hold is found again by an exact-match filter
        assert store.audit.read(after=seq - 1, action=action) == [record]

    def test_audit_read_by_action_returns_only_that_action_in_order(self, store: Store) -> None:
        # Near-misses of "register.birth" (prefix, longer, other case, LIKE and GLOB
        # wildcards, full-width text) must not match it: the filter is exact.
        actions = [
            "register.birth",
            "ack",
            "register.birth",
            "register",
            "register.birth.x",
            "Register.birth",
            "register.%",
            "register.*",
            "転入",
            "register.birth",
            "ack",
            "register.birth",
        ]
        entries = [self.rows.audit_entry(n, action=a) for n, a in enumerate(actions, 1)]
        with store.unit_of_work() as uow:
            store.audit.append(uow, entries[:5])
        with store.unit_of_work() as uow:
            store.audit.append(uow, entries[5:])
        everything = read_all_audit(store)
        assert [r.entry for r in everything] == entries
        last = len(entries)
        for action in set(actions):
            expected = [r for r in everything if r.entry.action == action]
            got = store.audit.read(action=action)
            assert got == expected, action
            assert [r.seq for r in got] == sorted(r.seq for r in got)
            # after and limit count in the log's sequence numbers, as without a filter
            for after in range(last + 2):
                for limit in range(5):
                    want = [r for r in expected if r.seq > after][:limit]
                    assert store.audit.read(after=after, limit=limit, action=action) == want
            # paging through one kind of entry by the last seq seen
            paged: list[AuditRecord] = []
            while batch := store.audit.read(
                after=paged[-1].seq if paged else 0, limit=2, action=action
            ):
                paged.extend(batch)
            assert paged == expected
        births = store.audit.read(action="register.birth")
        assert [r.seq for r in births] == [1, 3, 10, 12]
        assert store.audit.read(action="register.birth", after=3, limit=1) == births[2:3]
        for unknown in ("register.move_in", "registe", "birth", "REGISTER.BIRTH", "%", "*", " "):
            assert store.audit.read(action=unknown) == [], unknown
        assert store.audit.read(action="register.birth", after=last) == []
        assert store.audit.read(action="register.birth", after=2**63 - 1) == []
        assert store.audit.read(action="ack", limit=0) == []

    def test_audit_read_by_action_sees_its_unit_of_work(self, store: Store) -> None:
        reader = self.handle(store)
        with store.unit_of_work() as uow:
            store.audit.append(uow, [self.rows.audit_entry(n, action="ack") for n in (1, 2)])
            store.audit.append(uow, [self.rows.audit_entry(3, action="register.birth")])
        with store.unit_of_work() as uow:
            store.audit.append(
                uow,
                [
                    self.rows.audit_entry(4, action="register.birth"),
                    self.rows.audit_entry(5, action="ack"),
                    self.rows.audit_entry(6, action="ack"),
                ],
            )
            # committed and staged entries of one action, in seq order
            assert [r.seq for r in store.audit.read(action="ack", uow=uow)] == [1, 2, 5, 6]
            assert [r.seq for r in store.audit.read(action="ack", after=1, limit=2, uow=uow)] == [
                2,
                5,
            ]
            assert [r.seq for r in store.audit.read(action="ack", after=5, uow=uow)] == [6]
            assert [r.seq for r in store.audit.read(action="register.birth", uow=uow)] == [3, 4]
            assert store.audit.read(action="receive.refused", uow=uow) == []
            # another handle sees committed entries only
            assert [r.seq for r in reader.audit.read(action="ack")] == [1, 2]
        assert [r.seq for r in reader.audit.read(action="ack")] == [1, 2, 5, 6]
        assert [r.entry for r in reader.audit.read(action="register.birth")] == [
            self.rows.audit_entry(3, action="register.birth"),
            self.rows.audit_entry(4, action="register.birth"),
        ]

    def test_audit_read_by_action_bad_arguments_raise_and_change_nothing(
        self, store: Store
    ) -> None:
        entry = self.rows.audit_entry(1, action="ack")
        with store.unit_of_work() as uow:
            store.audit.append(uow, [entry])
        before = snapshot(store)
        calls: list[tuple[type[JukinetError], str, Callable[[UnitOfWork | None], object]]] = [
            # not a str
            (InvalidFormat, "action", lambda uow: store.audit.read(action=7, uow=uow)),  # type: ignore[arg-type]
            (InvalidFormat, "action", lambda uow: store.audit.read(action=b"ack", uow=uow)),  # type: ignore[arg-type]
            (InvalidFormat, "action", lambda uow: store.audit.read(action=["ack"], uow=uow)),  # type: ignore[arg-type]
            (InvalidFormat, "action", lambda uow: store.audit.read(action=True, uow=uow)),  # type: ignore[arg-type]
            (InvalidFormat, "action", lambda uow: store.audit.read(action=entry, uow=uow)),  # type: ignore[arg-type]
            # a str no entry could hold (AuditEntry.action's own rule)
            (InvalidLength, "action", lambda uow: store.audit.read(action="", uow=uow)),
            (InvalidLength, "action", lambda uow: store.audit.read(action="a" * 65, uow=uow)),
            (InvalidFormat, "action", lambda uow: store.audit.read(action="ack\x00", uow=uow)),
            (InvalidFormat, "action", lambda uow: store.audit.read(action="\ud800", uow=uow)),
            # after and limit are checked with a filter too
            (
                ValidationError,
                "after",
                lambda uow: store.audit.read(after=-1, action="ack", uow=uow),
            ),
            (
                ValidationError,
                "limit",
                lambda uow: store.audit.read(limit="1", action="ack", uow=uow),  # type: ignore[arg-type]
            ),
        ]
        for error, field, call in calls:
            with pytest.raises(error) as info:
                call(None)
            assert isinstance(info.value, ValidationError)
            assert info.value.field == field
            assert snapshot(store) == before
        # inside a unit of work the error changes nothing either: the unit of work
        # goes on and commits what it wrote
        with store.unit_of_work() as uow:
            store.audit.append(uow, [self.rows.audit_entry(2, action="ack")])
            for error, _field, call in calls:
                with pytest.raises(error):
                    call(uow)
            assert [r.seq for r in store.audit.read(action="ack", uow=uow)] == [1, 2]
            store.outbox.append(uow, "pref13", [b"effect"])
        assert [r.seq for r in store.audit.read(action="ack")] == [1, 2]
        assert store.outbox.last_seq("pref13") == 1

    def test_audit_numbers_survive_a_rolled_back_append(self, store: Store) -> None:
        reader = self.handle(store)
        with store.unit_of_work() as uow:
            store.audit.append(uow, [self.rows.audit_entry(1)])
        with pytest.raises(InjectedCrash), store.unit_of_work() as uow:  # noqa: PT012
            assert store.audit.append(uow, [self.rows.audit_entry(2)]) == range(2, 3)
            assert [r.seq for r in store.audit.read(uow=uow)] == [1, 2]
            assert [r.seq for r in reader.audit.read()] == [1]
            assert reader.audit.last_seq() == 1
            raise InjectedCrash
        assert store.audit.last_seq() == 1
        with store.unit_of_work() as uow:
            assert store.audit.append(uow, [self.rows.audit_entry(3)]) == range(2, 3)
        assert [r.entry for r in read_all_audit(reader)] == [
            self.rows.audit_entry(1),
            self.rows.audit_entry(3),
        ]

    def test_audit_bad_arguments_raise_and_write_nothing(self, store: Store) -> None:
        entry = self.rows.audit_entry(1)
        with store.unit_of_work() as uow:
            store.audit.append(uow, [entry])
        before = snapshot(store)
        row = self.rows.register_row("A1", 1, code=self.rows.code(1))
        writes: list[tuple[type[JukinetError], Callable[[UnitOfWork], object]]] = [
            (InterfaceError, lambda uow: store.audit.append(uow, [entry, "entry"])),  # type: ignore[list-item]
            (InterfaceError, lambda uow: store.audit.append(uow, [entry, row])),  # type: ignore[list-item]
            (InterfaceError, lambda uow: store.audit.append(uow, [entry, None])),  # type: ignore[list-item]
            (InterfaceError, lambda uow: store.audit.append(uow, entry)),  # type: ignore[arg-type]
            (InterfaceError, lambda uow: store.audit.append(uow, None)),  # type: ignore[arg-type]
            (
                InterfaceError,
                lambda uow: store.audit.append(uow, [AuditRecord(seq=2, entry=entry)]),  # type: ignore[list-item]
            ),
            (InterfaceError, lambda _uow: store.audit.append(None, [entry])),  # type: ignore[arg-type]
        ]
        for error, write in writes:
            with pytest.raises(error), store.unit_of_work() as uow:  # noqa: PT012
                store.outbox.append(uow, "pref13", [b"effect"])
                write(uow)
            assert snapshot(store) == before
        reads: list[Callable[[], object]] = [
            lambda: store.audit.read(after=-1),
            lambda: store.audit.read(after="0"),  # type: ignore[arg-type]
            lambda: store.audit.read(limit=-1),
            lambda: store.audit.read(limit=True),
            lambda: store.audit.read(limit=2**63),
        ]
        for call in reads:
            with pytest.raises(ValidationError):
                call()

    def test_racing_audit_writers_are_gap_free_and_commit_ordered(self, store: Store) -> None:
        writers = [self.handle(store), self.handle(store)]
        reader = self.handle(store)
        written: dict[int, list[tuple[range, list[AuditEntry]]]] = {0: [], 1: []}
        done = threading.Event()
        seen: list[AuditRecord] = []
        rounds = self.racing_rounds

        def write(w: int) -> Callable[[], None]:
            def run() -> None:
                handle = writers[w]
                for i in range(rounds):
                    batch = [
                        self.rows.audit_entry(10_000 * w + 10 * i + j, action=f"w{w}")
                        for j in range(1 + (i + w) % 2)
                    ]
                    with handle.unit_of_work() as uow:
                        numbers = handle.audit.append(uow, batch)
                    written[w].append((numbers, batch))

            return run

        def read() -> None:
            last = 0
            while True:
                finished = done.is_set()
                batch = reader.audit.read(after=last, limit=4)
                for k, record in enumerate(batch):
                    assert record.seq == last + 1 + k, f"read after {last} returned {record.seq}"
                if batch:
                    last = batch[-1].seq
                    seen.extend(batch)
                else:
                    time.sleep(0.0005)
                assert reader.audit.last_seq() >= last
                if finished and not batch:
                    return

        def writers_then_done() -> None:
            try:
                _run_threads([write(0), write(1)])
            finally:
                done.set()

        _run_threads([writers_then_done, read])
        final = read_all_audit(store)
        total = sum(len(b) for w in written.values() for _, b in w)
        assert [r.seq for r in final] == list(range(1, total + 1))
        assert seen == final
        for w in written.values():
            for numbers, batch in w:
                assert [final[s - 1].entry for s in numbers] == batch
        assert store.audit.last_seq() == total

    # =============================================================================
    # agencies (住基法30条の9〜30条の15)
    # =============================================================================

    def test_agency_register_get_and_list(self, store: Store) -> None:
        national = self.rows.agency_row(1)
        local = self.rows.agency_row(2, locality=MUNICIPALITIES[1])
        # code point order: "-" < "0" < "_" < "a" (a locale collation would ignore "-" and "_")
        names = ["b", "a-1", "a_1", "a0", "a", "a-", "z9", "0x"]
        others = [self.rows.agency_row(10 + i, name=name) for i, name in enumerate(names)]
        with store.unit_of_work() as uow:
            store.agencies.register(uow, national)
            store.agencies.register(uow, local)
        with store.unit_of_work() as uow:
            for row in others:
                store.agencies.register(uow, row)
        assert store.agencies.get(national.agency) == national
        got = store.agencies.get(local.agency)
        assert got == local
        assert got is not None
        assert got.public_key == local.public_key
        assert type(got.public_key) is bytes
        assert got.recipients == ("厚生労働省及び日本年金機構", "受給者2")
        assert got.number_uses == ()
        assert got.locality == MUNICIPALITIES[1]
        assert got.registered_at.utcoffset() is not None
        assert got.registered_at.microsecond == 2
        national_got = store.agencies.get(national.agency)
        assert national_got is not None
        assert national_got.number_uses == ("1-57の3",)
        assert national_got.locality is None
        assert store.agencies.get("agency-99") is None
        everything = sorted([national, local, *others], key=lambda r: r.agency)
        assert [r.agency for r in store.agencies.list()] == sorted(r.agency for r in everything)
        assert store.agencies.list() == everything
        assert read_all_agencies(store, page=3) == everything
        for after in [None, *sorted(names), "a-0", "zz"]:
            for limit in range(4):
                want = [r for r in everything if after is None or r.agency > after][:limit]
                assert store.agencies.list(after=after, limit=limit) == want, (after, limit)

    def test_an_agency_registered_twice_is_refused(self, store: Store) -> None:
        row = self.rows.agency_row(1)
        with store.unit_of_work() as uow:
            store.agencies.register(uow, row)
        before = snapshot(store)
        # another key under the same name: keys are never silently replaced
        replacement = attrs.evolve(self.rows.agency_row(2), agency=row.agency)
        with pytest.raises(IntegrityError), store.unit_of_work() as uow:  # noqa: PT012
            store.outbox.append(uow, "pref13", [b"effect"])
            store.agencies.register(uow, replacement)
        assert snapshot(store) == before
        assert store.agencies.get(row.agency) == row
        # twice in one unit of work
        with pytest.raises(IntegrityError), store.unit_of_work() as uow:  # noqa: PT012
            store.agencies.register(uow, self.rows.agency_row(3))
            assert store.agencies.get("agency-3", uow) == self.rows.agency_row(3)
            store.agencies.register(uow, self.rows.agency_row(3))
        assert snapshot(store) == before
        # the refused call changes nothing: the unit of work goes on and commits
        with store.unit_of_work() as uow:
            with pytest.raises(IntegrityError):
                store.agencies.register(uow, replacement)
            store.agencies.register(uow, self.rows.agency_row(4))
        assert store.agencies.list() == [row, self.rows.agency_row(4)]

    def test_agency_bad_arguments_raise_and_write_nothing(self, store: Store) -> None:
        row = self.rows.agency_row(1)
        with store.unit_of_work() as uow:
            store.agencies.register(uow, row)
        before = snapshot(store)
        other = self.rows.agency_row(2)
        writes: list[tuple[type[JukinetError], Callable[[UnitOfWork], object]]] = [
            (InterfaceError, lambda uow: store.agencies.register(uow, "agency-2")),  # type: ignore[arg-type]
            (InterfaceError, lambda uow: store.agencies.register(uow, [other])),  # type: ignore[arg-type]
            (InterfaceError, lambda uow: store.agencies.register(uow, None)),  # type: ignore[arg-type]
            (
                InterfaceError,
                lambda uow: store.agencies.register(uow, self.rows.scheduled_item(1)),  # type: ignore[arg-type]
            ),
            (InterfaceError, lambda _uow: store.agencies.register(None, other)),  # type: ignore[arg-type]
        ]
        for error, write in writes:
            with pytest.raises(error), store.unit_of_work() as uow:  # noqa: PT012
                store.outbox.append(uow, "pref13", [b"effect"])
                write(uow)
            assert snapshot(store) == before
        reads: list[Callable[[], object]] = [
            lambda: store.agencies.get(7),  # type: ignore[arg-type]
            lambda: store.agencies.get(""),
            lambda: store.agencies.get("Agency 1"),
            lambda: store.agencies.get("a" * 49),
            lambda: store.agencies.list(after=""),
            lambda: store.agencies.list(after=1),  # type: ignore[arg-type]
            lambda: store.agencies.list(after="A"),
            lambda: store.agencies.list(limit=-1),
            lambda: store.agencies.list(limit=True),
            lambda: store.agencies.list(limit="1"),  # type: ignore[arg-type]
        ]
        for call in reads:
            with pytest.raises(ValidationError):
                call()

    # =============================================================================
    # provision log (提供記録)
    # =============================================================================

    def test_provision_log_appends_a_hash_chain_and_reads_it_back(self, store: Store) -> None:
        entries = [self.rows.provision_entry(n) for n in range(1, 8)]
        refusal = attrs.evolve(
            self.rows.provision_entry(8, kind="refused"), agency=None, use=None, subject=None
        )
        with store.unit_of_work() as uow:
            first = store.provision_log.append(uow, entries[:3])
            assert store.provision_log.append(uow, []) == []
            assert store.provision_log.head(uow) == (3, first[-1].hash)
            assert store.provision_log.anchor(uow) == (0, GENESIS)
        with store.unit_of_work() as uow:
            assert store.provision_log.append(uow, ()) == []
            rest = store.provision_log.append(uow, [*entries[3:], refusal])
        records = first + rest
        previous = GENESIS
        for seq, (record, entry) in enumerate(zip(records, [*entries, refusal], strict=True), 1):
            assert record.seq == seq
            assert record.entry == entry
            assert record.prev_hash == previous
            assert record.hash == chain_hash(previous, seq, entry)
            previous = record.hash
        stored = read_all_provision(store, page=3)
        assert stored == records
        # the hash covers at.isoformat(): the writer's UTC offset comes back too
        assert [r.entry.at.isoformat() for r in stored] == [
            e.at.isoformat() for e in (*entries, refusal)
        ]
        assert stored[-1].entry.items == ()
        assert stored[-1].entry.subject is None
        assert stored[0].entry.items == ("氏名", "住所")
        assert stored[0].entry.use == "1-57の3"
        head = store.provision_log.head()
        assert head == (8, records[-1].hash)
        assert store.provision_log.anchor() == (0, GENESIS)
        assert verify_chain(store.provision_log.anchor(), stored, head) == []
        assert store.provision_log.read(after=2, limit=3) == records[2:5]
        assert store.provision_log.read(after=8) == []
        assert store.provision_log.read(after=100) == []
        assert store.provision_log.read(after=2**63 - 1) == []
        assert store.provision_log.read(limit=0) == []
        subjects = {e.subject for e in entries if e.subject is not None}
        assert len(subjects) == 3
        for subject in subjects:
            expected = [r for r in records if r.entry.subject == subject]
            assert read_all_provision(store, subject=subject) == expected
            assert read_all_provision(store, subject=subject, page=1) == expected
            for after in range(10):
                for limit in range(4):
                    want = [r for r in expected if r.seq > after][:limit]
                    got = store.provision_log.read(after=after, limit=limit, subject=subject)
                    assert got == want, (subject, after, limit)
        assert store.provision_log.read(subject=self.rows.code(50)) == []
        for n in range(1, 9):
            assert store.provision_log.has_request(f"req-{n}")
        for unknown in ("req-9", "req-", "req", "REQ-1", "req-1.", "req_1", "req-10"):
            assert not store.provision_log.has_request(unknown), unknown

    def test_provision_has_request_by_agency(self, store: Store) -> None:
        """Request ids are unique per agency: another agency's ``req-1`` is not a replay."""
        mine = self.rows.provision_entry(1)  # req-1 of agency-1
        theirs = attrs.evolve(self.rows.provision_entry(2), request_id="req-1", agency="agency-2")
        reader = self.handle(store)
        with store.unit_of_work() as uow:
            store.provision_log.append(uow, [mine])
            assert not store.provision_log.has_request("req-1", uow, agency="agency-2")
            store.provision_log.append(uow, [theirs])  # staged, seen in its own uow
            assert store.provision_log.has_request("req-1", uow, agency="agency-2")
            assert not reader.provision_log.has_request("req-1", agency="agency-1")
        for agency in ("agency-1", "agency-2", None):
            assert reader.provision_log.has_request("req-1", agency=agency), agency
        assert not reader.provision_log.has_request("req-1", agency="agency-3")
        assert not reader.provision_log.has_request("req-2", agency="agency-1")
        before = snapshot(store)
        with pytest.raises(InvalidFormat):
            store.provision_log.has_request("req-1", agency="Agency 1")
        assert snapshot(store) == before

    @settings(
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
            HealthCheck.too_slow,
        ],
        max_examples=25,
    )
    @given(
        at=st.datetimes(
            min_value=datetime(1900, 1, 1),
            max_value=datetime(2200, 1, 1),
            timezones=st.sampled_from(
                [UTC, _JST, timezone(timedelta(hours=-9, minutes=-30)), timezone.min]
            ),
        ),
        kind=st.sampled_from(sorted(PROVISION_KINDS)),
        request_id=st.from_regex(r"[0-9A-Za-z][0-9A-Za-z_.:-]{0,63}", fullmatch=True),
        agency=st.none() | st.from_regex(r"[a-z0-9][a-z0-9_-]{0,47}", fullmatch=True),
        use=st.none() | st.from_regex(r"[1-6]-[0-9]{1,3}(の[0-9]{1,2}){0,2}", fullmatch=True),
        subject=st.none() | st.integers(0, 10**10 - 1).map(RowFactory.code),
        items=st.lists(st.text(_TEXT, min_size=1, max_size=40), unique=True, max_size=4).map(tuple),
        detail=st.binary(min_size=1, max_size=300),
    )
    def test_provision_round_trip_of_generated_entries(
        self,
        store: Store,
        at: datetime,
        kind: str,
        request_id: str,
        agency: str | None,
        use: str | None,
        subject: str | None,
        items: tuple[str, ...],
        detail: bytes,
    ) -> None:
        entry = ProvisionEntry(
            at=at,
            kind=kind,
            request_id=request_id,
            agency=agency,
            use=use,
            subject=subject,
            items=items,
            detail=detail,
        )
        anchor = store.provision_log.anchor()
        with store.unit_of_work() as uow:
            (record,) = store.provision_log.append(uow, [entry])
        (stored,) = store.provision_log.read(after=record.seq - 1, limit=1)
        assert stored == record
        assert stored.entry.at.isoformat() == at.isoformat()
        assert chain_hash(stored.prev_hash, stored.seq, stored.entry) == stored.hash
        assert store.provision_log.head() == (record.seq, record.hash)
        assert verify_chain(anchor, read_all_provision(store), store.provision_log.head()) == []
        assert store.provision_log.has_request(request_id)
        if subject is not None:
            assert read_all_provision(store, subject=subject)[-1] == record

    def _timed_log(self, store: Store, minutes: Sequence[int]) -> list[ProvisionRecord]:
        """Append one entry per minute offset (entry n at minute ``minutes[n-1]``)."""
        entries = [
            self.rows.provision_entry(
                n, at=(_AUDIT_EPOCH + timedelta(minutes=m)).astimezone(_JST if n % 2 else UTC)
            )
            for n, m in enumerate(minutes, 1)
        ]
        with store.unit_of_work() as uow:
            return store.provision_log.append(uow, entries)

    def test_provision_purge_removes_the_oldest_records_and_moves_the_anchor(
        self, store: Store
    ) -> None:
        def minute(m: int) -> datetime:
            return _AUDIT_EPOCH + timedelta(minutes=m)

        reader = self.handle(store)
        with store.unit_of_work() as uow:
            assert store.provision_log.purge(uow, before=minute(100)) == 0  # an empty log
        assert store.provision_log.anchor() == (0, GENESIS)
        # record 4 is older than record 3: a purge stops at 3 (only a prefix goes)
        records = self._timed_log(store, [1, 2, 5, 3, 6, 7])
        head = (6, records[-1].hash)
        with store.unit_of_work() as uow:
            assert store.provision_log.purge(uow, before=minute(1)) == 0  # strictly before
        assert store.provision_log.anchor() == (0, GENESIS)
        with store.unit_of_work() as uow:
            assert store.provision_log.purge(uow, before=minute(4).astimezone(UTC)) == 2
            assert store.provision_log.anchor(uow) == (2, records[1].hash)
            assert store.provision_log.head(uow) == head
            assert store.provision_log.read(uow=uow) == records[2:]
            assert not store.provision_log.has_request("req-1", uow)
            assert store.provision_log.has_request("req-3", uow)
            # others see the committed log until the commit
            assert reader.provision_log.anchor() == (0, GENESIS)
            assert reader.provision_log.read() == records
            assert reader.provision_log.has_request("req-1")
        kept = read_all_provision(reader, page=2)
        assert kept == records[2:]
        assert reader.provision_log.anchor() == (2, records[1].hash)
        assert reader.provision_log.head() == head
        assert verify_chain(reader.provision_log.anchor(), kept, head) == []
        assert not reader.provision_log.has_request("req-1")
        assert not reader.provision_log.has_request("req-2")
        assert reader.provision_log.has_request("req-4")
        for subject in {r.entry.subject for r in records}:
            assert subject is not None
            assert read_all_provision(reader, subject=subject) == [
                r for r in kept if r.entry.subject == subject
            ]
        assert reader.provision_log.read(after=0, limit=1) == records[2:3]
        # the same boundary again, and one equal to the oldest kept record's time
        with store.unit_of_work() as uow:
            assert store.provision_log.purge(uow, before=minute(4)) == 0
            assert store.provision_log.purge(uow, before=minute(5)) == 0
        assert reader.provision_log.anchor() == (2, records[1].hash)
        # everything: head == anchor, and the chain goes on from the head
        with store.unit_of_work() as uow:
            assert store.provision_log.purge(uow, before=minute(100)) == 4
        assert reader.provision_log.read() == []
        assert reader.provision_log.head() == reader.provision_log.anchor() == head
        assert verify_chain(head, [], head) == []
        with store.unit_of_work() as uow:
            (after,) = store.provision_log.append(uow, [self.rows.provision_entry(7)])
        assert (after.seq, after.prev_hash) == (7, records[-1].hash)
        assert reader.provision_log.read() == [after]
        assert verify_chain(head, [after], reader.provision_log.head()) == []

    def test_provision_purge_reaches_the_records_of_its_own_unit_of_work(
        self, store: Store
    ) -> None:
        def minute(m: int) -> datetime:
            return _AUDIT_EPOCH + timedelta(minutes=m)

        reader = self.handle(store)
        committed = self._timed_log(store, [1])
        with store.unit_of_work() as uow:
            staged = store.provision_log.append(
                uow,
                [
                    self.rows.provision_entry(2, at=minute(2)),
                    self.rows.provision_entry(3, at=minute(3)),
                ],
            )
            assert store.provision_log.purge(uow, before=minute(3)) == 2
            assert store.provision_log.anchor(uow) == (2, staged[0].hash)
            assert store.provision_log.read(uow=uow) == staged[1:]
            assert not store.provision_log.has_request("req-2", uow)
            (more,) = store.provision_log.append(uow, [self.rows.provision_entry(4, at=minute(4))])
            assert (more.seq, more.prev_hash) == (4, staged[1].hash)
            assert store.provision_log.purge(uow, before=minute(60 * 24)) == 2
            assert store.provision_log.read(uow=uow) == []
            assert store.provision_log.head(uow) == store.provision_log.anchor(uow)
            assert store.provision_log.anchor(uow) == (4, more.hash)
            assert reader.provision_log.anchor() == (0, GENESIS)
            assert reader.provision_log.read() == committed
        assert reader.provision_log.read() == []
        assert reader.provision_log.head() == reader.provision_log.anchor() == (4, more.hash)
        assert not reader.provision_log.has_request("req-4")

    def test_provision_bad_arguments_raise_and_write_nothing(self, store: Store) -> None:
        entry = self.rows.provision_entry(1)
        with store.unit_of_work() as uow:
            (record,) = store.provision_log.append(uow, [entry])
        before = snapshot(store)
        aware = _AUDIT_EPOCH + timedelta(days=1)
        writes: list[tuple[type[JukinetError], Callable[[UnitOfWork], object]]] = [
            (InterfaceError, lambda uow: store.provision_log.append(uow, [entry, "entry"])),  # type: ignore[list-item]
            (InterfaceError, lambda uow: store.provision_log.append(uow, [entry, None])),  # type: ignore[list-item]
            (
                InterfaceError,
                lambda uow: store.provision_log.append(uow, [entry, self.rows.audit_entry(1)]),  # type: ignore[list-item]
            ),
            (InterfaceError, lambda uow: store.provision_log.append(uow, [record])),  # type: ignore[list-item]
            (InterfaceError, lambda uow: store.provision_log.append(uow, entry)),  # type: ignore[arg-type]
            (InterfaceError, lambda uow: store.provision_log.append(uow, None)),  # type: ignore[arg-type]
            (InterfaceError, lambda _uow: store.provision_log.append(None, [entry])),  # type: ignore[arg-type]
            (
                ValidationError,
                lambda uow: store.provision_log.purge(uow, before=aware.replace(tzinfo=None)),
            ),
            (ValidationError, lambda uow: store.provision_log.purge(uow, before=date(2030, 1, 1))),  # type: ignore[arg-type]
            (ValidationError, lambda uow: store.provision_log.purge(uow, before="2030-01-01")),  # type: ignore[arg-type]
            (ValidationError, lambda uow: store.provision_log.purge(uow, before=None)),  # type: ignore[arg-type]
            (InterfaceError, lambda _uow: store.provision_log.purge(None, before=aware)),  # type: ignore[arg-type]
        ]
        for error, write in writes:
            with pytest.raises(error), store.unit_of_work() as uow:  # noqa: PT012
                store.outbox.append(uow, "pref13", [b"effect"])
                write(uow)
            assert snapshot(store) == before
        reads: list[Callable[[UnitOfWork | None], object]] = [
            lambda uow: store.provision_log.read(after=-1, uow=uow),
            lambda uow: store.provision_log.read(after="0", uow=uow),  # type: ignore[arg-type]
            lambda uow: store.provision_log.read(limit=-1, uow=uow),
            lambda uow: store.provision_log.read(limit=True, uow=uow),
            lambda uow: store.provision_log.read(limit=2**63, uow=uow),
            lambda uow: store.provision_log.read(subject=BAD_CHECK_DIGIT_CODE, uow=uow),
            lambda uow: store.provision_log.read(subject="1234", uow=uow),
            lambda uow: store.provision_log.read(subject=7, uow=uow),  # type: ignore[arg-type]
            lambda uow: store.provision_log.read(subject="", uow=uow),
            lambda uow: store.provision_log.has_request("", uow),
            lambda uow: store.provision_log.has_request(7, uow),  # type: ignore[arg-type]
            lambda uow: store.provision_log.has_request("req 1", uow),
            lambda uow: store.provision_log.has_request("r" * 65, uow),
        ]
        for call in reads:
            with pytest.raises(ValidationError):
                call(None)
        # inside a unit of work a bad call changes nothing: the unit of work goes on
        with store.unit_of_work() as uow:
            (second,) = store.provision_log.append(uow, [self.rows.provision_entry(2)])
            for call in reads:
                with pytest.raises(ValidationError):
                    call(uow)
            with pytest.raises(ValidationError):
                store.provision_log.purge(uow, before=aware.replace(tzinfo=None))
            with pytest.raises(InterfaceError):
                store.provision_log.append(uow, [self.rows.provision_entry(3), "entry"])  # type: ignore[list-item]
            assert store.provision_log.head(uow) == (2, second.hash)
        assert store.provision_log.read() == [record, second]

    @pytest.mark.parametrize("how", ["alter", "delete", "swap", "truncate", "garble"])
    def test_provision_log_tampering_is_found_by_the_chain(self, store: Store, how: str) -> None:
        # Someone with database access changes the stored log: recomputing the chain
        # from the anchor to the stored head names the record tampered with. The port
        # returns records as stored and head()/anchor() from their own rows, never
        # recomputed, so nothing hides it.
        last = 6
        cases = [(False, k) for k in (1, 3, 5, 6)] + [(True, k) for k in (3, 4, 6)]
        for purged, k in cases:
            if how == "swap" and k == last:
                continue  # there is no record after the last one
            target = store if (purged, k) == cases[0] else self.another_store()
            records = self._timed_log(target, [1, 2, 3, 4, 5, 6])
            if purged:
                with target.unit_of_work() as uow:
                    assert target.provision_log.purge(uow, before=records[2].entry.at) == 2
            anchor = target.provision_log.anchor()
            head = target.provision_log.head()
            kept = [r for r in records if r.seq > anchor[0]]
            assert head == (last, records[-1].hash)
            assert verify_chain(anchor, read_all_provision(target), head) == []
            with target.unit_of_work() as uow:
                assert target.provision_log.verify(uow) == []
            self.tamper_provision_log(target, how, k)
            assert target.provision_log.head() == head, "the head is stored, not max(seq)"
            assert target.provision_log.anchor() == anchor
            case = f"{how} {k} (purged: {purged})"
            if how == "garble":
                # the record cannot be read back: every read that reaches it names it,
                # the others read as before, and the chain names it altered
                with pytest.raises(CorruptRecord) as caught:
                    read_all_provision(target)
                assert (caught.value.table, caught.value.seq) == ("provision_log", k), case
                below = k - anchor[0] - 1
                if below:
                    assert target.provision_log.read(after=anchor[0], limit=below) == kept[:below]
                assert target.provision_log.read(after=k) == kept[below + 1 :], case
                stored = kept[:below] + kept[below + 1 :]
                faults = verify_chain(anchor, stored, head, unreadable=[k])
                assert faults == [ChainFault(k, "altered")], case
            else:
                stored = read_all_provision(target)
                faults = verify_chain(anchor, stored, head)
            with target.unit_of_work() as uow:
                assert target.provision_log.verify(uow) == faults, case
            if how == "alter":
                assert [r.seq for r in stored] == [r.seq for r in kept], case
                changed = stored[k - anchor[0] - 1]
                assert changed.entry.detail == _TAMPERED_DETAIL, case
                assert (changed.prev_hash, changed.hash) == (
                    records[k - 1].prev_hash,
                    records[k - 1].hash,
                ), "records come back as stored, never re-hashed"
                assert faults == [ChainFault(k, "altered")], case
            elif how == "delete":
                assert [r.seq for r in stored] == [r.seq for r in kept if r.seq != k], case
                assert faults[0] == ChainFault(k, "missing" if k < last else "truncated"), case
            elif how == "swap":
                assert [r.seq for r in stored] == [r.seq for r in kept], case
                i = k - anchor[0] - 1
                assert (stored[i].entry, stored[i].hash) == (kept[i + 1].entry, kept[i + 1].hash)
                assert (stored[i + 1].entry, stored[i + 1].hash) == (kept[i].entry, kept[i].hash)
                assert faults[:2] == [ChainFault(k, "relinked"), ChainFault(k, "altered")], case
            elif how == "truncate":
                assert stored == [r for r in kept if r.seq < k], case
                # verify_chain names the head, the last record that should be there
                assert faults == [ChainFault(last, "truncated")], case
            assert faults, case

    def test_unreadable_provision_records_are_named_and_read_past(self, store: Store) -> None:
        # Several unreadable records, side by side and at both ends, in a log longer
        # than one page of verify(): each is named altered, once, and the records
        # around them are checked as usual (a record after an unreadable one cannot be
        # checked for relinking: the hash it should follow is unknown).
        count = 2_500
        entries = [self.rows.provision_entry(n) for n in range(1, count + 1)]
        with store.unit_of_work() as uow:
            records = store.provision_log.append(uow, entries)
        garbled = [1, 2, 999, 1000, 1001, 1500, count]
        for seq in garbled:
            self.tamper_provision_log(store, "garble", seq)
        self.tamper_provision_log(store, "alter", 1700)
        self.tamper_provision_log(store, "delete", 2000)
        with store.unit_of_work() as uow:
            faults = store.provision_log.verify(uow)
        expected = [ChainFault(seq, "altered") for seq in garbled[:-1]]
        expected += [
            ChainFault(1700, "altered"),
            ChainFault(2000, "missing"),
            ChainFault(2001, "relinked"),
            ChainFault(count, "altered"),
        ]
        assert faults == expected
        # a read by subject reaches an unreadable record of that person only
        subject = records[998].entry.subject
        assert subject is not None
        with pytest.raises(CorruptRecord) as caught:
            read_all_provision(store, subject=subject)
        assert caught.value.seq in {
            seq for seq in garbled if records[seq - 1].entry.subject == subject
        }
        other = self.rows.code(9)
        with store.unit_of_work() as uow:
            (mine,) = store.provision_log.append(uow, [self.rows.provision_entry(9, subject=other)])
        assert read_all_provision(store, subject=other) == [mine]

    def test_the_provision_desk_names_an_unreadable_record(self, store: Store) -> None:
        # verify_log names an unreadable record altered; the report and a disclosure
        # that would need it refuse with a CorruptRecord naming it (and log nothing);
        # a disclosure to someone else is not affected.
        from jukinet.tiers.clock import ManualClock
        from jukinet.tiers.messages import CENTER
        from jukinet.tiers.provision import ProvisionDesk

        def no_send(uow: UnitOfWork, node: object, messages: Sequence[bytes]) -> None:
            raise AssertionError("the desk sends nothing here")

        clock = ManualClock(_AUDIT_EPOCH + timedelta(days=1))
        desk = ProvisionDesk(CENTER, store, clock, no_send)
        codes = [self.rows.code(n) for n in (1, 2, 3)]
        with store.unit_of_work() as uow:
            store.identities.append(uow, [self.rows.identity_row(code, 1) for code in codes])
            records = store.provision_log.append(
                uow, [self.rows.provision_entry(n) for n in range(1, 7)]
            )
        start, end = _AUDIT_EPOCH, _AUDIT_EPOCH + timedelta(days=1)
        assert desk.report(start, end).total == 6
        assert desk.verify_log() == []
        k = 4
        victim = records[k - 1].entry.subject
        assert victim is not None
        self.tamper_provision_log(store, "garble", k)
        assert desk.verify_log() == [ChainFault(k, "altered")]
        head = store.provision_log.head()
        with pytest.raises(CorruptRecord) as caught:
            desk.report(start, end)
        assert caught.value.seq == k
        with pytest.raises(CorruptRecord) as caught:
            desk.disclose(ResidentCode(victim), request_id="disclose-1")
        assert caught.value.seq == k
        assert store.provision_log.head() == head, "a refused disclosure logs nothing"
        other = next(code for code in codes if code != victim)
        disclosure = desk.disclose(ResidentCode(other), request_id="disclose-2")
        assert [r.seq for r in disclosure.provisions] == [
            r.seq for r in records if r.entry.subject == other
        ]
        assert desk.verify_log() == [ChainFault(k, "altered")]

    # =============================================================================
    # schedule (e.g. JPKI法31条)
    # =============================================================================

    def test_schedule_add_get_due_and_cancel(self, store: Store) -> None:
        reader = self.handle(store)
        day = _SCHEDULE_EPOCH
        # code point order: "Z" < "jpki:a" < "jpki:b" < "é" < "日本" < "ａ" < "😀"
        # (UTF-16 order would put "😀" before "ａ")
        keys = ["jpki:b", "😀", "Z", "日本", "jpki:a", "ａ", "é"]
        items = [
            self.rows.scheduled_item(n, key=key, due=day + timedelta(days=n % 2))
            for n, key in enumerate(keys)
        ]
        far = [
            self.rows.scheduled_item(90, key="first", due=date(1, 1, 1)),
            self.rows.scheduled_item(91, key="last", due=date.max),
        ]
        everything = sorted([*items, *far], key=lambda i: (i.due, i.key))
        with store.unit_of_work() as uow:
            store.schedule.add(uow, items[:4])
            store.schedule.add(uow, [])
            store.schedule.add(uow, (*items[4:], *far))
        for item in [*items, *far]:
            assert store.schedule.get(item.key) == item
        assert store.schedule.get("jpki:c") is None
        assert store.schedule.due(date.max) == everything
        assert [i.key for i in store.schedule.due(day)] == ["first", "Z", "jpki:a", "jpki:b", "é"]
        assert [i.key for i in store.schedule.due(day + timedelta(days=1))][5:] == [
            "日本",
            "ａ",
            "😀",
        ]
        assert store.schedule.due(day - timedelta(days=1)) == far[:1]
        assert store.schedule.due(date.min) == far[:1]
        assert store.schedule.due(date.max, limit=0) == []
        for limit in range(len(everything) + 2):
            assert store.schedule.due(date.max, limit=limit) == everything[:limit]
        # absent keys are skipped; a key given twice is removed once
        with store.unit_of_work() as uow:
            assert store.schedule.cancel(uow, ["Z", "absent", "Z", "😀"]) == 2
            assert store.schedule.cancel(uow, []) == 0
            assert store.schedule.cancel(uow, ["Z"]) == 0
            assert store.schedule.get("Z", uow) is None
            assert reader.schedule.get("Z") == items[2]
        assert store.schedule.get("Z") is None
        remaining = [i for i in everything if i.key not in ("Z", "😀")]
        assert store.schedule.due(date.max) == remaining
        # a cancelled key can be scheduled again, in the same unit of work too
        again = self.rows.scheduled_item(50, key="jpki:a", due=day + timedelta(days=9))
        with store.unit_of_work() as uow:
            assert store.schedule.cancel(uow, ("jpki:a",)) == 1
            store.schedule.add(uow, [again])
            assert store.schedule.get("jpki:a", uow) == again
            store.schedule.add(uow, [items[2]])
        assert store.schedule.get("jpki:a") == again
        assert store.schedule.due(date.max) == sorted(
            [*(i for i in remaining if i.key != "jpki:a"), again, items[2]],
            key=lambda i: (i.due, i.key),
        )

    def test_schedule_add_is_all_or_nothing(self, store: Store) -> None:
        first = self.rows.scheduled_item(1)
        with store.unit_of_work() as uow:
            store.schedule.add(uow, [first])
        before = snapshot(store)
        second, third = self.rows.scheduled_item(2), self.rows.scheduled_item(3)
        batches = [
            [second, attrs.evolve(first, payload=b"another")],  # already scheduled
            [second, third, attrs.evolve(second, due=date(2030, 1, 1))],  # repeated in the call
        ]
        for batch in batches:
            with pytest.raises(IntegrityError), store.unit_of_work() as uow:  # noqa: PT012
                store.outbox.append(uow, "pref13", [b"effect"])
                store.schedule.add(uow, batch)
            assert snapshot(store) == before
            assert store.schedule.get(second.key) is None
        with store.unit_of_work() as uow:
            store.schedule.add(uow, [second])
            with pytest.raises(IntegrityError):
                store.schedule.add(uow, [third, second])
            assert store.schedule.get(third.key, uow) is None
        assert store.schedule.due(date.max) == [first, second]

    def test_schedule_bad_arguments_raise_and_write_nothing(self, store: Store) -> None:
        item = self.rows.scheduled_item(1)
        with store.unit_of_work() as uow:
            store.schedule.add(uow, [item])
        before = snapshot(store)
        other = self.rows.scheduled_item(2)
        writes: list[tuple[type[JukinetError], Callable[[UnitOfWork], object]]] = [
            (InterfaceError, lambda uow: store.schedule.add(uow, [other, "item"])),  # type: ignore[list-item]
            (InterfaceError, lambda uow: store.schedule.add(uow, [other, None])),  # type: ignore[list-item]
            (
                InterfaceError,
                lambda uow: store.schedule.add(uow, [other, self.rows.agency_row(1)]),  # type: ignore[list-item]
            ),
            (InterfaceError, lambda uow: store.schedule.add(uow, other)),  # type: ignore[arg-type]
            (InterfaceError, lambda uow: store.schedule.add(uow, None)),  # type: ignore[arg-type]
            (InterfaceError, lambda _uow: store.schedule.add(None, [other])),  # type: ignore[arg-type]
            (ValidationError, lambda uow: store.schedule.cancel(uow, [item.key, 7])),  # type: ignore[list-item]
            (ValidationError, lambda uow: store.schedule.cancel(uow, [item.key, ""])),
            (ValidationError, lambda uow: store.schedule.cancel(uow, [item.key, "k" * 129])),
            (ValidationError, lambda uow: store.schedule.cancel(uow, [item.key, "k\x00"])),
            (ValidationError, lambda uow: store.schedule.cancel(uow, [item.key, None])),  # type: ignore[list-item]
            (JukinetError, lambda uow: store.schedule.cancel(uow, item.key)),
            (JukinetError, lambda uow: store.schedule.cancel(uow, None)),  # type: ignore[arg-type]
            (InterfaceError, lambda _uow: store.schedule.cancel(None, [item.key])),  # type: ignore[arg-type]
        ]
        for error, write in writes:
            with pytest.raises(error), store.unit_of_work() as uow:  # noqa: PT012
                store.outbox.append(uow, "pref13", [b"effect"])
                write(uow)
            assert snapshot(store) == before
        reads: list[Callable[[], object]] = [
            lambda: store.schedule.get(""),
            lambda: store.schedule.get(7),  # type: ignore[arg-type]
            lambda: store.schedule.get("k" * 129),
            lambda: store.schedule.due("2024-05-01"),  # type: ignore[arg-type]
            lambda: store.schedule.due(datetime(2024, 5, 1, tzinfo=UTC)),  # a datetime, not a date
            lambda: store.schedule.due(None),  # type: ignore[arg-type]
            lambda: store.schedule.due(date.max, limit=-1),
            lambda: store.schedule.due(date.max, limit=True),
            lambda: store.schedule.due(date.max, limit=2**63),
        ]
        for call in reads:
            with pytest.raises(ValidationError):
                call()
        assert store.schedule.get(item.key) == item

    # =============================================================================
    # pending notices
    # =============================================================================

    def _pending_codes(self) -> list[str]:
        """The codes the pending-notice tests watch (snapshot ``codes``)."""
        return [self.rows.code(n) for n in range(1, 10)]

    def test_pending_add_numbers_notices_in_arrival_order(self, store: Store) -> None:
        notices = [self.rows.pending_notice(n) for n in range(1, 6)]
        with store.unit_of_work() as uow:
            first = store.pending.add(uow, notices[:2])
            assert len(store.pending.add(uow, [])) == 0
            second = store.pending.add(uow, notices[2:3])
        with store.unit_of_work() as uow:
            third = store.pending.add(uow, notices[3:])
        assert [len(first), len(second), len(third)] == [2, 1, 2]
        seqs = [*first, *second, *third]
        assert seqs == sorted(seqs)
        assert len(set(seqs)) == 5
        assert all(seq >= 1 for seq in seqs)
        assert store.pending.count() == 5
        codes = [n.codes[0] for n in notices]
        expected = [PendingRecord(seq=s, entry=n) for s, n in zip(seqs, notices, strict=True)]
        assert store.pending.find(codes) == expected
        # the order is the arrival order, whatever the order of the codes asked for
        assert store.pending.find(codes[::-1]) == expected
        for notice, record in zip(notices, expected, strict=True):
            assert store.pending.find([notice.codes[0]]) == [record]

    def test_pending_find_by_any_of_a_notices_codes(self, store: Store) -> None:
        # A code change (住基法30条の4) is about two codes, the replaced one and the new one.
        old, new, other, absent = (self.rows.code(n) for n in (1, 2, 3, 9))
        change = self.rows.pending_notice(1, codes=[old, new])
        later = self.rows.pending_notice(2, codes=[new])
        unrelated = self.rows.pending_notice(3, codes=[other], sender="p:13")
        with store.unit_of_work() as uow:
            seqs = [*store.pending.add(uow, [change, later]), *store.pending.add(uow, [unrelated])]
        records = [
            PendingRecord(seq=seq, entry=entry)
            for seq, entry in zip(seqs, [change, later, unrelated], strict=True)
        ]
        assert store.pending.find([old]) == records[:1]
        assert store.pending.find([new]) == records[:2]
        # each notice once, however many of its codes are asked for, or how often
        assert store.pending.find([old, new]) == records[:2]
        assert store.pending.find([new, old, new, old]) == records[:2]
        assert store.pending.find((old, old)) == records[:1]
        assert store.pending.find([absent]) == []
        assert store.pending.find([absent, other]) == records[2:]
        assert store.pending.find([]) == []
        assert store.pending.find([other, absent, old, new]) == records
        many = [self.rows.code(n) for n in range(100, 1300)]  # more than one chunk
        assert store.pending.find([*many, other]) == records[2:]

    def test_pending_remove_skips_absent_seqs_and_returns_the_count(self, store: Store) -> None:
        notices = [self.rows.pending_notice(n) for n in range(1, 5)]
        with store.unit_of_work() as uow:
            seqs = list(store.pending.add(uow, notices))
        absent = seqs[-1] + 100
        with store.unit_of_work() as uow:
            assert store.pending.remove(uow, [seqs[1], absent, seqs[1]]) == 1
            assert store.pending.remove(uow, []) == 0
            assert store.pending.remove(uow, [seqs[1]]) == 0  # gone already
        assert store.pending.count() == 3
        codes = [n.codes[0] for n in notices]
        kept = [seqs[0], seqs[2], seqs[3]]
        assert [r.seq for r in store.pending.find(codes)] == kept
        assert store.pending.find([notices[1].codes[0]]) == []
        with store.unit_of_work() as uow:
            assert store.pending.remove(uow, (seqs[3], seqs[0])) == 2
        assert store.pending.count() == 1
        assert [r.seq for r in store.pending.find(codes)] == [seqs[2]]
        # a seq is never reused, not even the highest one after it went
        with store.unit_of_work() as uow:
            (again,) = store.pending.add(uow, notices[3:])
        assert again > seqs[-1]
        assert store.pending.find([notices[3].codes[0]]) == [
            PendingRecord(seq=again, entry=notices[3])
        ]
        with store.unit_of_work() as uow:
            assert store.pending.remove(uow, [seqs[2], again]) == 2
        assert store.pending.count() == 0
        assert store.pending.find(codes) == []

    def test_pending_inside_a_unit_of_work_sees_its_writes(self, store: Store) -> None:
        reader = self.handle(store)
        kept, going = self.rows.pending_notice(1), self.rows.pending_notice(2)
        with store.unit_of_work() as uow:
            first, second = store.pending.add(uow, [kept, going])
        codes = self._pending_codes()
        committed = [PendingRecord(seq=first, entry=kept), PendingRecord(seq=second, entry=going)]
        staged = self.rows.pending_notice(3, codes=[self.rows.code(3), self.rows.code(1)])
        with store.unit_of_work() as uow:
            assert store.pending.remove(uow, [second]) == 1
            (third,) = store.pending.add(uow, [staged])
            assert third > second
            mine = [committed[0], PendingRecord(seq=third, entry=staged)]
            assert store.pending.find(codes, uow) == mine
            assert store.pending.find([self.rows.code(1)], uow) == mine
            assert store.pending.find([self.rows.code(2)], uow) == []
            assert store.pending.count(uow) == 2
            # removed in the unit of work that added it: never seen outside
            (fourth,) = store.pending.add(uow, [self.rows.pending_notice(4)])
            assert store.pending.remove(uow, [fourth, second]) == 1
            assert store.pending.count(uow) == 2
            # another handle sees committed notices only
            assert reader.pending.find(codes) == committed
            assert reader.pending.count() == 2
        for handle in (store, reader):
            assert handle.pending.find(codes) == mine
            assert handle.pending.count() == 2
            assert handle.pending.find([self.rows.code(4)]) == []

    def test_pending_a_rolled_back_unit_of_work_leaves_nothing(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            (seq,) = store.pending.add(uow, [self.rows.pending_notice(1)])
        codes = self._pending_codes()
        before = snapshot(store, codes=codes)
        with pytest.raises(InjectedCrash), store.unit_of_work() as uow:  # noqa: PT012
            store.pending.add(uow, [self.rows.pending_notice(2), self.rows.pending_notice(3)])
            assert store.pending.remove(uow, [seq]) == 1
            assert store.pending.count(uow) == 2
            raise InjectedCrash
        assert snapshot(store, codes=codes) == before
        with pytest.raises(IntegrityError), store.unit_of_work() as uow:  # noqa: PT012
            store.pending.add(uow, [self.rows.pending_notice(4)])
            store.pending.remove(uow, [seq])
            store.tracking.advance(uow, "p:13", 2)  # skips 1: refused
        assert snapshot(store, codes=codes) == before
        # numbers go on after the rolled-back ones
        with store.unit_of_work() as uow:
            (later,) = store.pending.add(uow, [self.rows.pending_notice(5)])
        assert later > seq
        assert [r.seq for r in store.pending.find(codes)] == [seq, later]

    def test_racing_pending_adders_get_the_numbers_of_their_own_notices(self, store: Store) -> None:
        # Two instances of an upper tier over one store keep notices at once: each
        # add returns exactly the numbers its own notices got, ascending.
        writers = [self.handle(store), self.handle(store)]
        rounds = self.racing_rounds
        written: dict[int, list[tuple[range, list[PendingNotice]]]] = {0: [], 1: []}

        def write(w: int) -> Callable[[], None]:
            def run() -> None:
                handle = writers[w]
                for i in range(rounds):
                    batch = [
                        self.rows.pending_notice(1000 * w + 10 * i + j, sender=f"p:{w}")
                        for j in range(1 + (i + w) % 3)
                    ]
                    with handle.unit_of_work() as uow:
                        numbers = handle.pending.add(uow, batch)
                    written[w].append((numbers, batch))

            return run

        _run_threads([write(0), write(1)])
        codes = [n.codes[0] for w in written.values() for _, batch in w for n in batch]
        found = {r.seq: r.entry for r in store.pending.find(codes)}
        assert len(found) == len(codes) == store.pending.count()
        for w in written.values():
            for numbers, batch in w:
                assert len(numbers) == len(batch)
                assert [found.get(seq) for seq in numbers] == batch

    def test_an_unreadable_pending_notice_is_named_and_can_be_removed(self, store: Store) -> None:
        # A notice changed behind the port's back is a CorruptRecord naming it, never a
        # notice read wrong; the others read as before and it can still be forgotten.
        old, new, other = (self.rows.code(n) for n in (1, 2, 3))
        notices = [
            self.rows.pending_notice(1, codes=[old, new]),
            self.rows.pending_notice(2, codes=[other]),
        ]
        with store.unit_of_work() as uow:
            first, second = store.pending.add(uow, notices)
        self.garble_pending_notice(store, first)
        for codes in ([old], [new], [new, other]):
            with pytest.raises(CorruptRecord) as info:
                store.pending.find(codes)
            assert info.value.table == "pending_notices"
            assert info.value.seq == first
            assert first in info.value.key
        with pytest.raises(CorruptRecord), store.unit_of_work() as uow:
            store.pending.find([old], uow)
        assert store.pending.find([other]) == [PendingRecord(seq=second, entry=notices[1])]
        assert store.pending.count() == 2
        with store.unit_of_work() as uow:
            assert store.pending.remove(uow, [first]) == 1
        assert store.pending.find([old, new, other]) == [
            PendingRecord(seq=second, entry=notices[1])
        ]
        assert store.pending.count() == 1

    def test_pending_bad_arguments_raise_and_write_nothing(self, store: Store) -> None:
        notice = self.rows.pending_notice(1)
        with store.unit_of_work() as uow:
            (seq,) = store.pending.add(uow, [notice])
        codes = self._pending_codes()
        before = snapshot(store, codes=codes)
        other = self.rows.pending_notice(2)
        writes: list[tuple[type[JukinetError], Callable[[UnitOfWork], object]]] = [
            (InterfaceError, lambda uow: store.pending.add(uow, [other, "notice"])),  # type: ignore[list-item]
            (InterfaceError, lambda uow: store.pending.add(uow, [other, None])),  # type: ignore[list-item]
            (
                InterfaceError,
                lambda uow: store.pending.add(uow, [other, self.rows.scheduled_item(1)]),  # type: ignore[list-item]
            ),
            (InterfaceError, lambda uow: store.pending.add(uow, other)),  # type: ignore[arg-type]
            (InterfaceError, lambda uow: store.pending.add(uow, None)),  # type: ignore[arg-type]
            (InterfaceError, lambda uow: store.pending.add(uow, b"notice")),  # type: ignore[arg-type]
            (InterfaceError, lambda _uow: store.pending.add(None, [other])),  # type: ignore[arg-type]
            (ValidationError, lambda uow: store.pending.remove(uow, [seq, 0])),
            (ValidationError, lambda uow: store.pending.remove(uow, [seq, -1])),
            (ValidationError, lambda uow: store.pending.remove(uow, [seq, 2**63])),
            (JukinetError, lambda uow: store.pending.remove(uow, [seq, True])),
            (JukinetError, lambda uow: store.pending.remove(uow, [seq, "1"])),  # type: ignore[list-item]
            (JukinetError, lambda uow: store.pending.remove(uow, [seq, None])),  # type: ignore[list-item]
            (JukinetError, lambda uow: store.pending.remove(uow, [seq, 1.0])),  # type: ignore[list-item]
            (JukinetError, lambda uow: store.pending.remove(uow, seq)),  # type: ignore[arg-type]
            (JukinetError, lambda uow: store.pending.remove(uow, None)),  # type: ignore[arg-type]
            (InterfaceError, lambda _uow: store.pending.remove(None, [seq])),  # type: ignore[arg-type]
        ]
        for error, write in writes:
            with pytest.raises(error), store.unit_of_work() as uow:  # noqa: PT012
                store.outbox.append(uow, "pref13", [b"effect"])
                write(uow)
            assert snapshot(store, codes=codes) == before
        reads: list[Callable[[], object]] = [
            lambda: store.pending.find([notice.codes[0], BAD_CHECK_DIGIT_CODE]),
            lambda: store.pending.find([notice.codes[0], "1234567890"]),
            lambda: store.pending.find([notice.codes[0], 19]),  # type: ignore[list-item]
            lambda: store.pending.find([notice.codes[0], None]),  # type: ignore[list-item]
            lambda: store.pending.find(notice.codes[0]),  # a lone str is no sequence of codes
            lambda: store.pending.find(None),  # type: ignore[arg-type]
            lambda: store.pending.find(19),  # type: ignore[arg-type]
        ]
        for call in reads:
            with pytest.raises(JukinetError):
                call()
        assert store.pending.find(codes) == [PendingRecord(seq=seq, entry=notice)]

    def test_pending_notice_values_are_checked(self, store: Store) -> None:
        # what a notice may be about: one code, or two different ones (a code change)
        code = self.rows.code(1)
        bad: list[dict[str, Any]] = [
            {"codes": ()},
            {"codes": (code, code)},
            {"codes": (code, self.rows.code(2), self.rows.code(3))},
            {"codes": (BAD_CHECK_DIGIT_CODE,)},
            {"codes": code},
            {"sender": ""},
            {"sender": "m 131016"},
            {"sender": "x" * 65},
            {"payload": "notice"},
            {"payload": b""},
            {"payload": b"x" * (MAX_PAYLOAD_BYTES + 1)},
        ]
        for changes in bad:
            values: dict[str, Any] = {"sender": "m:131016", "codes": (code,), "payload": b"n"}
            values.update(changes)
            with pytest.raises(ValidationError):
                PendingNotice(**values)
        assert store.pending.count() == 0

    # =============================================================================
    # the provision ports in a unit of work, and racing
    # =============================================================================

    def test_provision_ports_inside_a_unit_of_work_see_its_writes(self, store: Store) -> None:
        reader = self.handle(store)
        kept, cancelled = self.rows.scheduled_item(1), self.rows.scheduled_item(2)
        with store.unit_of_work() as uow:
            store.schedule.add(uow, [kept, cancelled])
        agency = self.rows.agency_row(1)
        added = self.rows.scheduled_item(3)
        with store.unit_of_work() as uow:
            store.agencies.register(uow, agency)
            records = store.provision_log.append(
                uow, [self.rows.provision_entry(1), self.rows.provision_entry(2)]
            )
            store.schedule.add(uow, [added])
            assert store.schedule.cancel(uow, [cancelled.key]) == 1
            assert store.agencies.get(agency.agency, uow) == agency
            assert store.agencies.list(uow=uow) == [agency]
            assert store.provision_log.read(uow=uow) == records
            subject = records[0].entry.subject
            assert store.provision_log.read(subject=subject, uow=uow) == records[:1]
            assert store.provision_log.has_request("req-2", uow)
            assert store.provision_log.head(uow) == (2, records[1].hash)
            assert store.provision_log.anchor(uow) == (0, GENESIS)
            assert store.schedule.get(added.key, uow) == added
            assert store.schedule.get(cancelled.key, uow) is None
            assert store.schedule.due(date.max, uow=uow) == sorted(
                [kept, added], key=lambda i: (i.due, i.key)
            )
            # another handle sees committed data only
            assert reader.agencies.get(agency.agency) is None
            assert reader.agencies.list() == []
            assert reader.provision_log.read() == []
            assert reader.provision_log.read(subject=subject) == []
            assert not reader.provision_log.has_request("req-2")
            assert reader.provision_log.head() == (0, GENESIS)
            assert reader.schedule.get(cancelled.key) == cancelled
            assert reader.schedule.get(added.key) is None
            assert reader.schedule.due(date.max) == [kept, cancelled]
        assert reader.agencies.list() == [agency]
        assert reader.provision_log.read() == records
        assert reader.provision_log.head() == (2, records[1].hash)
        assert reader.schedule.due(date.max) == sorted([kept, added], key=lambda i: (i.due, i.key))

    def test_provision_numbers_survive_a_rolled_back_append(self, store: Store) -> None:
        (first,) = self._timed_log(store, [1])
        with pytest.raises(InjectedCrash), store.unit_of_work() as uow:  # noqa: PT012
            (lost,) = store.provision_log.append(uow, [self.rows.provision_entry(2)])
            assert lost.seq == 2
            raise InjectedCrash
        assert store.provision_log.head() == (1, first.hash)
        with store.unit_of_work() as uow:
            (second,) = store.provision_log.append(uow, [self.rows.provision_entry(3)])
        assert (second.seq, second.prev_hash) == (2, first.hash)
        assert second.hash != lost.hash
        assert verify_chain((0, GENESIS), read_all_provision(store), (2, second.hash)) == []

    def test_racing_provision_appenders_keep_one_chain(self, store: Store) -> None:
        # Each appender reads the head and appends after it in its unit of work: the
        # chain never forks and the numbers are gap-free in commit order.
        writers = [self.handle(store), self.handle(store)]
        reader = self.handle(store)
        written: dict[int, list[list[ProvisionRecord]]] = {0: [], 1: []}
        done = threading.Event()
        rounds = self.racing_rounds

        def write(w: int) -> Callable[[], None]:
            def run() -> None:
                handle = writers[w]
                for i in range(rounds):
                    batch = [
                        self.rows.provision_entry(10_000 * (w + 1) + 10 * i + j)
                        for j in range(1 + (i + w) % 2)
                    ]
                    with handle.unit_of_work() as uow:
                        records = handle.provision_log.append(uow, batch)
                    written[w].append(records)

            return run

        def read() -> None:
            last = 0
            while True:
                finished = done.is_set()
                head = reader.provision_log.head()
                batch = reader.provision_log.read(after=last, limit=4)
                for k, record in enumerate(batch):
                    assert record.seq == last + 1 + k, f"read after {last} returned {record.seq}"
                if batch:
                    last = batch[-1].seq
                else:
                    time.sleep(0.0005)
                assert head[0] <= reader.provision_log.head()[0]
                if finished and not batch:
                    return

        def writers_then_done() -> None:
            try:
                _run_threads([write(0), write(1)])
            finally:
                done.set()

        _run_threads([writers_then_done, read])
        final = read_all_provision(store)
        total = sum(len(r) for w in written.values() for r in w)
        assert [r.seq for r in final] == list(range(1, total + 1))
        head = store.provision_log.head()
        assert head == (total, final[-1].hash)
        assert verify_chain((0, GENESIS), final, head) == []
        for w in written.values():
            for records in w:
                assert [final[r.seq - 1] for r in records] == records

    # =============================================================================
    # units of work
    # =============================================================================

    def test_a_crash_between_writes_leaves_everything_as_before(self, store: Store) -> None:
        self.person(store, 1)
        with store.unit_of_work() as uow:
            store.identities.append(uow, [self.rows.identity_row(self.rows.code(1), 1)])
            store.outbox.append(uow, "pref13", [b"first", b"second"])
            store.tracking.advance(uow, "city131016", 1)
            store.code_pool.designate(uow, MUNICIPALITIES[0], [self.rows.code(500)])
            store.audit.append(uow, [self.rows.audit_entry(1)])
            store.agencies.register(uow, self.rows.agency_row(1))
            store.provision_log.append(uow, [self.rows.provision_entry(n) for n in (1, 2, 3)])
            store.schedule.add(uow, [self.rows.scheduled_item(n) for n in (1, 2)])
            held = store.pending.add(
                uow,
                [
                    self.rows.pending_notice(1, codes=[self.rows.code(500)]),
                    self.rows.pending_notice(2, codes=[self.rows.code(501), self.rows.code(502)]),
                ],
            )
        watched = [self.rows.code(500), self.rows.code(501), self.rows.code(502)]
        before = snapshot(store, codes=watched)
        steps: list[Callable[[UnitOfWork], object]] = [
            lambda uow: store.register.append(
                uow,
                [
                    self.rows.register_row("A0000001", 2, code=self.rows.code(1)),
                    self.rows.register_row("A0000002", 1, code=self.rows.code(2)),
                ],
            ),
            lambda uow: store.register.bulk_load(
                uow, [self.rows.register_row("A0000003", 1, code=self.rows.code(3))]
            ),
            lambda uow: store.identities.append(
                uow, [self.rows.identity_row(self.rows.code(1), 2, removed=True)]
            ),
            lambda uow: store.identities.bulk_load(
                uow, [self.rows.identity_row(self.rows.code(2), 1)]
            ),
            lambda uow: store.identities.append(
                uow, [self._move(self.rows.code(2), 2, MUNICIPALITIES[1])]
            ),
            lambda uow: store.outbox.append(uow, "pref13", [b"third", b"fourth"]),
            lambda uow: store.outbox.acknowledge(uow, "pref13", 3),
            lambda uow: store.outbox.append(uow, "center", [b"new destination"]),
            lambda uow: store.outbox.resume(uow, "pref27", 12),
            lambda uow: store.tracking.advance(uow, "city131016", 2, last=4),
            lambda uow: store.tracking.advance(uow, "city131024", 1),
            lambda uow: store.audit.append(uow, [self.rows.audit_entry(2)]),
            lambda uow: store.code_pool.designate(uow, MUNICIPALITIES[1], [self.rows.code(501)]),
            lambda uow: store.code_pool.allocate(uow, MUNICIPALITIES[0]),
            lambda uow: store.code_pool.mark_used(uow, self.rows.code(501)),
            lambda uow: store.agencies.register(uow, self.rows.agency_row(2)),
            lambda uow: store.provision_log.append(uow, [self.rows.provision_entry(4)]),
            lambda uow: store.provision_log.purge(uow, before=_AUDIT_EPOCH + timedelta(minutes=3)),
            lambda uow: store.provision_log.append(uow, [self.rows.provision_entry(5)]),
            lambda uow: store.provision_log.purge(uow, before=_AUDIT_EPOCH + timedelta(days=1)),
            lambda uow: store.schedule.cancel(uow, ["jpki:0001", "jpki:0003"]),
            lambda uow: store.schedule.add(uow, [self.rows.scheduled_item(3)]),
            lambda uow: store.schedule.add(uow, [self.rows.scheduled_item(1)]),
            lambda uow: store.pending.add(
                uow, [self.rows.pending_notice(3, codes=[self.rows.code(500)])]
            ),
            lambda uow: store.pending.remove(uow, [held[1]]),
            lambda uow: store.pending.remove(uow, [held[0], held[0] + 2]),
        ]
        # crash after every prefix of the steps, and after all of them
        for stop in range(1, len(steps) + 1):
            with pytest.raises(InjectedCrash), store.unit_of_work() as uow:  # noqa: PT012
                for step in steps[:stop]:
                    step(uow)
                raise InjectedCrash(f"after step {stop}")
            assert snapshot(store, codes=watched) == before, f"crash after step {stop}"

    def test_a_failing_write_rolls_back_earlier_writes_on_other_ports(self, store: Store) -> None:
        (row,) = self.person(store, 1)
        before = snapshot(store)
        with pytest.raises(IntegrityError), store.unit_of_work() as uow:  # noqa: PT012
            store.outbox.append(uow, "pref13", [b"notice"])
            store.identities.append(uow, [self.rows.identity_row(self.rows.code(1), 1)])
            store.register.append(uow, [row])  # duplicate
        assert snapshot(store) == before

    def test_writes_inside_a_unit_of_work_are_visible_to_it(self, store: Store) -> None:
        row = self.rows.register_row("A1", 1, code=self.rows.code(1))
        ident = self.rows.identity_row(self.rows.code(1), 1)
        reader = self.handle(store)
        with store.unit_of_work() as uow:
            store.register.append(uow, [row])
            store.identities.append(uow, [ident])
            store.tracking.advance(uow, "city", 1)
            store.code_pool.designate(uow, MUNICIPALITIES[0], [self.rows.code(9)])
            store.audit.append(uow, [self.rows.audit_entry(1)])
            store.outbox.append(uow, "pref13", [b"a"])
            store.outbox.acknowledge(uow, "pref13", 1)
            store.outbox.resume(uow, "pref27", 3)
            (held,) = store.pending.add(uow, [self.rows.pending_notice(1)])
            assert store.pending.find([self.rows.code(1)], uow) == [
                PendingRecord(seq=held, entry=self.rows.pending_notice(1))
            ]
            assert store.pending.count(uow) == 1
            assert store.code_pool.designated_to(self.rows.code(9), uow) == MUNICIPALITIES[0]
            assert store.register.current("A1", uow) == row
            assert store.register.current_by_code(row.resident_code, uow) == row
            assert store.register.current_many([row.resident_code], uow) == {row.resident_code: row}
            assert store.register.history("A1", uow) == [row]
            assert store.register.household(row.household_id, uow) == [row]
            assert store.register.scan(uow=uow) == [row]
            assert store.register.count(uow=uow) == 1
            assert store.identities.current(ident.resident_code, uow) == ident
            assert store.identities.current_many([ident.resident_code], uow) == {
                ident.resident_code: ident
            }
            assert store.identities.last_versions([ident.resident_code], uow) == {
                ident.resident_code: 1
            }
            assert store.identities.history(ident.resident_code, uow) == [ident]
            assert store.identities.scan(uow=uow) == [ident]
            assert store.identities.scan(municipality=ident.municipality, uow=uow) == [ident]
            assert store.identities.count(municipality=ident.municipality, uow=uow) == 1
            assert store.identities.count(uow=uow) == 1
            assert [r.entry for r in store.audit.read(uow=uow)] == [self.rows.audit_entry(1)]
            assert store.audit.last_seq(uow) == 1
            assert store.outbox.acknowledged("pref13", uow) == 1
            assert store.outbox.last_seq("pref27", uow) == 3
            assert store.outbox.destinations(uow) == ["pref13", "pref27"]
            query = IdentityQuery(name_key=ident.name_key, birth_date=ident.birth_date)
            assert store.identities.search(query, uow=uow) == [ident]
            assert store.tracking.position("city", uow) == 1
            assert store.code_pool.available(MUNICIPALITIES[0], uow) == 1
            assert store.code_pool.is_designated(self.rows.code(9), uow)
            # another handle sees committed data only
            assert reader.register.current("A1") is None
            assert reader.register.count() == 0
            assert reader.identities.search(query) == []
            assert reader.tracking.senders() == {}
            assert reader.code_pool.designated_count() == 0
            assert reader.identities.last_versions([ident.resident_code]) == {}
            assert reader.identities.scan(municipality=ident.municipality) == []
            assert reader.audit.read() == []
            assert reader.audit.last_seq() == 0
            assert reader.outbox.acknowledged("pref13") == 0
            assert reader.outbox.destinations() == []
            assert reader.pending.count() == 0
            assert reader.pending.find([self.rows.code(1)]) == []
            assert reader.code_pool.designated_to(self.rows.code(9)) is None
        assert reader.register.current("A1") == row
        assert reader.pending.count() == 1
        assert reader.code_pool.designated_to(self.rows.code(9)) == MUNICIPALITIES[0]
        assert reader.identities.current(ident.resident_code) == ident
        assert reader.audit.last_seq() == 1
        assert reader.outbox.acknowledged("pref13") == 1
        assert reader.outbox.last_seq("pref27") == 3

    def test_a_finished_or_foreign_unit_of_work_is_refused(self, store: Store) -> None:
        with store.unit_of_work() as finished:
            during = finished.active
        with pytest.raises(InjectedCrash), store.unit_of_work() as rolled_back:
            raise InjectedCrash
        assert (during, finished.active, rolled_back.active) == (True, False, False)
        other = self.another_store()
        row = self.rows.register_row("A1", 1, code=self.rows.code(1))
        for stale in (finished, rolled_back):
            with pytest.raises(InterfaceError):
                store.register.append(stale, [row])
            with pytest.raises(InterfaceError):
                store.audit.append(stale, [self.rows.audit_entry(1)])
            with pytest.raises(InterfaceError):
                store.outbox.append(stale, "pref13", [b"a"])
            with pytest.raises(InterfaceError):
                store.register.current("A1", stale)
            with pytest.raises(InterfaceError):
                store.agencies.register(stale, self.rows.agency_row(1))
            with pytest.raises(InterfaceError):
                store.provision_log.append(stale, [self.rows.provision_entry(1)])
            with pytest.raises(InterfaceError):
                store.provision_log.purge(stale, before=_AUDIT_EPOCH)
            with pytest.raises(InterfaceError):
                store.schedule.add(stale, [self.rows.scheduled_item(1)])
            with pytest.raises(InterfaceError):
                store.schedule.cancel(stale, ["jpki:0001"])
            with pytest.raises(InterfaceError):
                store.provision_log.head(stale)
            with pytest.raises(InterfaceError):
                store.pending.add(stale, [self.rows.pending_notice(1)])
            with pytest.raises(InterfaceError):
                store.pending.remove(stale, [1])
            with pytest.raises(InterfaceError):
                store.pending.find([self.rows.code(1)], stale)
            with pytest.raises(InterfaceError):
                store.pending.count(stale)
            with pytest.raises(InterfaceError):
                store.code_pool.designated_to(self.rows.code(1), stale)
        with store.unit_of_work() as uow:
            with pytest.raises(InterfaceError):
                other.register.append(uow, [row])
            with pytest.raises(InterfaceError):
                other.tracking.advance(uow, "city", 1)
            with pytest.raises(InterfaceError):
                other.code_pool.allocate(uow, MUNICIPALITIES[0])
            with pytest.raises(InterfaceError):
                other.register.count(uow=uow)
            with pytest.raises(InterfaceError):
                other.audit.append(uow, [self.rows.audit_entry(1)])
            with pytest.raises(InterfaceError):
                other.audit.read(uow=uow)
            with pytest.raises(InterfaceError):
                other.outbox.acknowledge(uow, "pref13", 0)
            with pytest.raises(InterfaceError):
                other.outbox.resume(uow, "pref13", 1)
            with pytest.raises(InterfaceError):
                other.identities.last_versions([self.rows.code(1)], uow)
            with pytest.raises(InterfaceError):
                other.agencies.register(uow, self.rows.agency_row(1))
            with pytest.raises(InterfaceError):
                other.agencies.list(uow=uow)
            with pytest.raises(InterfaceError):
                other.provision_log.append(uow, [self.rows.provision_entry(1)])
            with pytest.raises(InterfaceError):
                other.provision_log.read(uow=uow)
            with pytest.raises(InterfaceError):
                other.provision_log.purge(uow, before=_AUDIT_EPOCH)
            with pytest.raises(InterfaceError):
                other.schedule.add(uow, [self.rows.scheduled_item(1)])
            with pytest.raises(InterfaceError):
                other.schedule.due(date.max, uow=uow)
            with pytest.raises(InterfaceError):
                other.pending.add(uow, [self.rows.pending_notice(1)])
            with pytest.raises(InterfaceError):
                other.pending.remove(uow, [1])
            with pytest.raises(InterfaceError):
                other.pending.find([self.rows.code(1)], uow)
            with pytest.raises(InterfaceError):
                other.pending.count(uow)
            with pytest.raises(InterfaceError):
                other.code_pool.designated_to(self.rows.code(1), uow)
        watched = [self.rows.code(1)]
        assert (
            snapshot(store, codes=watched)
            == snapshot(other, codes=watched)
            == snapshot(self.another_store(), codes=watched)
        )


# --- the stateful test -----------------------------------------------------------


_IDS = tuple(f"P{n}" for n in range(1, 6))
_CODES = tuple(RowFactory.code(n) for n in range(1, 9))
_HOUSEHOLDS = ("S1", "S2")
_NAMES = (("山田 太郎", date(1980, 4, 1)), ("髙橋 花子", date(1990, 1, 2)))
_DESTINATIONS = ("pref13", "pref27", "center")
_SENDERS = ("city131016", "city131024")
_POOL_CODES = tuple(RowFactory.code(n) for n in range(100, 110))
_AGENCY_NAMES = ("agency-1", "agency_1", "agency0", "b")
_SUBJECTS = (None, *_CODES[:3])
_SCHEDULE_KEYS = ("jpki:1", "jpki:2", "Z", "é", "ａ", "😀")
_RECEIVED_ON = (None, _on(0), _on(1), _on(2), _on(3))
"""Arrival days of the stateful test's identity versions (None: unknown)."""


@attrs.define
class _Model:
    """The plain-dict model the stateful test compares a store against."""

    register: dict[str, list[RegisterRow]] = attrs.Factory(dict)
    owner: dict[str, str] = attrs.Factory(dict)  # code -> internal id, for ever
    identities: dict[str, list[IdentityRow]] = attrs.Factory(dict)
    outbox: dict[str, list[bytes]] = attrs.Factory(dict)  # entries after the base
    outbox_base: dict[str, int] = attrs.Factory(dict)  # resumed destinations: last_seq
    acked: dict[str, int] = attrs.Factory(dict)
    tracking: dict[str, int] = attrs.Factory(dict)
    pool: dict[str, str] = attrs.Factory(dict)  # code -> municipality
    used: set[str] = attrs.Factory(set)
    audit: list[AuditEntry] = attrs.Factory(list)
    agencies: dict[str, AgencyRow] = attrs.Factory(dict)
    provision: list[ProvisionRecord] = attrs.Factory(list)  # kept records, in seq order
    provision_head: tuple[int, str] = (0, GENESIS)
    provision_anchor: tuple[int, str] = (0, GENESIS)
    schedule: dict[str, ScheduledItem] = attrs.Factory(dict)

    def copy(self) -> _Model:
        return _Model(
            register={k: list(v) for k, v in self.register.items()},
            owner=dict(self.owner),
            identities={k: list(v) for k, v in self.identities.items()},
            outbox={k: list(v) for k, v in self.outbox.items()},
            outbox_base=dict(self.outbox_base),
            acked=dict(self.acked),
            tracking=dict(self.tracking),
            pool=dict(self.pool),
            used=set(self.used),
            audit=list(self.audit),
            agencies=dict(self.agencies),
            provision=list(self.provision),
            provision_head=self.provision_head,
            provision_anchor=self.provision_anchor,
            schedule=dict(self.schedule),
        )

    def last_seq(self, destination: str) -> int:
        return self.outbox_base.get(destination, 0) + len(self.outbox.get(destination, []))

    def destinations(self) -> list[str]:
        return sorted({*self.outbox, *self.outbox_base})

    def identity_words(self) -> dict[tuple[str, str], IdentityRow]:
        """Each municipality's newest version of each code, by (code, municipality)."""
        return {
            (row.resident_code, row.municipality): row
            for versions in self.identities.values()
            for row in versions
        }

    def identity_current(self) -> dict[str, IdentityRow]:
        """Each code's current version (the newest not removed, else the newest), by code."""
        current: dict[str, IdentityRow] = {}
        for (code, _), row in sorted(self.identity_words().items()):
            best = current.get(code)
            if best is None or (not row.removed, row.version) > (not best.removed, best.version):
                current[code] = row
        return current

    def register_append(self, rows: Sequence[RegisterRow]) -> bool:
        """Apply rows if they are all valid (in order); return whether they were."""
        trial = self.copy()
        for row in rows:
            versions = trial.register.setdefault(row.internal_id, [])
            if row.version != len(versions) + 1:
                return False
            if trial.owner.setdefault(row.resident_code, row.internal_id) != row.internal_id:
                return False
            versions.append(row)
        self.register, self.owner = trial.register, trial.owner
        return True

    def identity_last(self, code: str) -> int:
        """The code's highest kept version (0 if none)."""
        versions = self.identities.get(code)
        return versions[-1].version if versions else 0

    def identity_append(self, rows: Sequence[IdentityRow]) -> bool:
        trial = {k: list(v) for k, v in self.identities.items()}
        for row in rows:
            versions = trial.setdefault(row.resident_code, [])
            if row.version != (versions[-1].version if versions else 0) + 1:
                return False
            versions.append(row)
        self.identities = trial
        return True

    def identity_expire(self, before: date) -> int:
        """Delete each code's oldest due versions (令30条の6・30条の7); return how many."""
        deleted = 0
        for code, versions in list(self.identities.items()):
            keep = 0
            while keep < len(versions):
                row = versions[keep]
                later = versions[keep + 1] if keep + 1 < len(versions) else None
                superseded = (
                    later is not None and later.received_on is not None
                ) and later.received_on < before
                ended = row.removed and row.received_on is not None and row.received_on < before
                if not (superseded or ended):
                    break
                keep += 1
            deleted += keep
            if keep == len(versions):
                del self.identities[code]
            elif keep:
                self.identities[code] = versions[keep:]
        return deleted

    def available(self, municipality: str) -> list[str]:
        return sorted(c for c, m in self.pool.items() if m == municipality and c not in self.used)

    def provision_append(self, entries: Sequence[ProvisionEntry]) -> list[ProvisionRecord]:
        """Chain the entries after the head, as every adapter must; return the records."""
        seq, previous = self.provision_head
        records: list[ProvisionRecord] = []
        for entry in entries:
            seq += 1
            digest = chain_hash(previous, seq, entry)
            records.append(ProvisionRecord(seq=seq, entry=entry, prev_hash=previous, hash=digest))
            previous = digest
        self.provision.extend(records)
        self.provision_head = (seq, previous)
        return records

    def provision_purge(self, before: datetime) -> int:
        count = 0
        while count < len(self.provision) and self.provision[count].entry.at < before:
            count += 1
        if count:
            last = self.provision[count - 1]
            self.provision_anchor = (last.seq, last.hash)
            self.provision = self.provision[count:]
        return count

    def due(self, on: date) -> list[ScheduledItem]:
        return sorted(
            (i for i in self.schedule.values() if i.due <= on), key=lambda i: (i.due, i.key)
        )


def make_stateful_test(
    create_store: Callable[[], Store],
    dispose: Callable[[Store], None] | None = None,
) -> type[RuleBasedStateMachine]:
    """A Hypothesis state machine running random operations on a store and a model.

    Each run creates a store with ``create_store`` and releases it with
    ``dispose`` (default: ``close()``). The rules append register and identity
    versions (valid ones, duplicates, skipped versions, code changes, a code
    taken by another person, removals, moves between municipalities whose
    removal arrives before or after the new entry), bulk-load, append to, read,
    acknowledge and resume the outbox, advance tracking one message or a batch
    at a time (rightly and wrongly), designate, allocate and mark codes used,
    append to and read the audit log, register and list agencies (twice: refused),
    append to, read, search by subject and request id and purge the provision log
    (whose chain the model computes itself), add, cancel and read scheduled items
    (duplicates refused), and run units of work that crash halfway; every read is
    compared with a plain-dict model. Collect it in a test module
    with::

        TestMyStoreStateful = make_stateful_test(make_my_store).TestCase

    Steps per run default to 20 (``stateful_step_count``); the number of runs
    follows the loaded Hypothesis profile.
    """
    rows = RowFactory()
    release = dispose if dispose is not None else Store.close

    class StoreStateMachine(RuleBasedStateMachine):
        """Random operations on a store, checked against :class:`_Model`."""

        def __init__(self) -> None:
            super().__init__()
            self.store = create_store()
            self.model = _Model()
            self.payloads = itertools.count()
            self.audit_serial = itertools.count()
            self.provision_serial = itertools.count(1)

        def teardown(self) -> None:
            release(self.store)

        # -- building rows --

        def _register_row(
            self, person: str, version: int, code: str, household: str, removed: bool
        ) -> RegisterRow:
            name, born = _NAMES[_IDS.index(person) % len(_NAMES)]
            return rows.register_row(
                person,
                version,
                code=code,
                status="removed" if removed else "registered",
                household_id=household,
                name=name,
                reading=None,
                birth_date=born,
            )

        def _identity_row(
            self,
            code: str,
            version: int,
            name: int,
            municipality: str,
            removed: bool,
            received_on: date | None = None,
        ) -> IdentityRow:
            text, born = _NAMES[name]
            return rows.identity_row(
                code,
                version,
                name=text,
                reading=None,
                birth_date=born,
                municipality=municipality,
                rest="1番地",
                removed=removed,
                received_on=received_on,
            )

        # -- register --

        @rule(
            people=st.lists(st.sampled_from(_IDS), min_size=1, max_size=3),
            code_change=st.lists(st.sampled_from((None, None, *_CODES)), min_size=3, max_size=3),
            offsets=st.lists(st.sampled_from((1, 1, 1, 0, 2)), min_size=3, max_size=3),
            household=st.sampled_from(_HOUSEHOLDS),
            removed=st.booleans(),
        )
        def register_append(
            self,
            people: list[str],
            code_change: list[str | None],
            offsets: list[int],
            household: str,
            removed: bool,
        ) -> None:
            batch: list[RegisterRow] = []
            planned: dict[str, tuple[int, str]] = {}
            for i, person in enumerate(people):
                history = self.model.register.get(person, [])
                version, code = planned.get(
                    person,
                    (
                        len(history),
                        history[-1].resident_code
                        if history
                        else _CODES[_IDS.index(person) % len(_CODES)],
                    ),
                )
                version = max(1, version + offsets[i])
                code = code_change[i] or code
                planned[person] = (version, code)
                batch.append(self._register_row(person, version, code, household, removed))
            ok = self.model.register_append(batch)
            if ok:
                with self.store.unit_of_work() as uow:
                    self.store.register.append(uow, batch)
            else:
                with pytest.raises(IntegrityError), self.store.unit_of_work() as uow:
                    self.store.register.append(uow, batch)
            for person in set(people):
                assert self.store.register.history(person) == self.model.register.get(person, [])

        @rule(people=st.lists(st.sampled_from(_IDS), min_size=1, max_size=3, unique=True))
        def register_bulk_load(self, people: list[str]) -> None:
            batch = [
                self._register_row(p, 1, _CODES[(_IDS.index(p) + 3) % len(_CODES)], "S1", False)
                for p in people
            ]
            fresh = all(p not in self.model.register for p in people)
            ok = fresh and self.model.register_append(batch)
            if ok:
                with self.store.unit_of_work() as uow:
                    assert self.store.register.bulk_load(uow, batch) == len(batch)
            else:
                with pytest.raises(IntegrityError), self.store.unit_of_work() as uow:
                    self.store.register.bulk_load(uow, batch)

        # -- identities --

        @rule(
            code=st.sampled_from(_CODES),
            offset=st.sampled_from((1, 1, 1, 0, 2)),
            name=st.integers(0, len(_NAMES) - 1),
            municipality=st.sampled_from(MUNICIPALITIES),
            removed=st.booleans(),
            bulk=st.booleans(),
            received_on=st.sampled_from(_RECEIVED_ON),
        )
        def identity_append(
            self,
            code: str,
            offset: int,
            name: int,
            municipality: str,
            removed: bool,
            bulk: bool,
            received_on: date | None,
        ) -> None:
            version = max(1, self.model.identity_last(code) + offset)
            row = self._identity_row(code, version, name, municipality, removed, received_on)
            if bulk:
                ok = code not in self.model.identities and version == 1
                if ok:
                    self.model.identity_append([row])
            else:
                ok = self.model.identity_append([row])
            port = self.store.identities
            write = port.bulk_load if bulk else port.append
            if ok:
                with self.store.unit_of_work() as uow:
                    write(uow, [row])
                    assert self.store.identities.count(uow=uow) == len(self.model.identities)
            else:
                with pytest.raises(IntegrityError), self.store.unit_of_work() as uow:
                    write(uow, [row])
            assert self.store.identities.history(code) == self.model.identities.get(code, [])

        @rule(
            code=st.sampled_from(_CODES),
            to=st.sampled_from(MUNICIPALITIES),
            late_removal=st.booleans(),
            one_unit=st.booleans(),
            received_on=st.sampled_from(_RECEIVED_ON),
        )
        def identity_move(
            self, code: str, to: str, late_removal: bool, one_unit: bool, received_on: date | None
        ) -> None:
            # 転出 from where the person is (or was last) and 転入 into ``to``; the two
            # notices travel on different links, so either may be applied first.
            current = self.model.identity_current().get(code)
            origin = current.municipality if current is not None else MUNICIPALITIES[0]
            if to == origin:
                to = MUNICIPALITIES[(MUNICIPALITIES.index(to) + 1) % len(MUNICIPALITIES)]
            text, born = _NAMES[_CODES.index(code) % len(_NAMES)]

            def notice(version: int, municipality: str, removed: bool) -> IdentityRow:
                return rows.identity_row(
                    code,
                    version,
                    name=text,
                    reading=None,
                    birth_date=born,
                    municipality=municipality,
                    rest="2番地",
                    reason=(
                        ChangeReason.DOMESTIC_MOVE_OUT if removed else ChangeReason.DOMESTIC_MOVE_IN
                    ),
                    received_on=received_on,
                )

            n = self.model.identity_last(code)
            if late_removal:
                batch = [notice(n + 1, to, False), notice(n + 2, origin, True)]
            else:
                batch = [notice(n + 1, origin, True), notice(n + 2, to, False)]
            entry = batch[0] if late_removal else batch[1]
            query = IdentityQuery(name_key=entry.name_key, birth_date=entry.birth_date)
            if one_unit:
                with self.store.unit_of_work() as uow:
                    self.store.identities.append(uow, batch)
                    assert self.store.identities.current(code, uow) == entry
                    assert entry in self.store.identities.search(query, uow=uow)
                    assert batch[0].removed or batch[1] not in self.store.identities.search(
                        query, uow=uow
                    )
                    assert self.store.identities.count(uow=uow) == len(
                        {*self.model.identities, code}
                    )
            else:
                for row in batch:
                    with self.store.unit_of_work() as uow:
                        self.store.identities.append(uow, [row])
            assert self.model.identity_append(batch)
            assert self.store.identities.current(code) == entry
            assert entry in self.store.identities.search(query)
            assert self.store.identities.last_versions([code]) == {code: n + 2}

        @rule(day=st.integers(0, 5), one_unit=st.booleans())
        def identity_expire(self, day: int, one_unit: bool) -> None:
            # 令30条の6・30条の7: each code's oldest versions whose years are over go.
            before = _on(day)
            expected = self.model.copy()
            count = expected.identity_expire(before)
            with self.store.unit_of_work() as uow:
                assert self.store.identities.expire(uow, received_before=before) == count
                if one_unit:
                    assert self.store.identities.count(uow=uow) == len(expected.identities)
                    for code in _CODES:
                        assert self.store.identities.history(code, uow) == (
                            expected.identities.get(code, [])
                        )
            self.model.identities = expected.identities
            for code in _CODES:
                assert self.store.identities.history(code) == self.model.identities.get(code, [])

        # -- outbox --

        @rule(destination=st.sampled_from(_DESTINATIONS), n=st.integers(0, 3))
        def outbox_append(self, destination: str, n: int) -> None:
            payloads = [f"{destination}-{next(self.payloads)}".encode() for _ in range(n)]
            start = self.model.last_seq(destination) + 1
            with self.store.unit_of_work() as uow:
                numbers = self.store.outbox.append(uow, destination, payloads)
            assert numbers == range(start, start + n)
            if payloads:
                self.model.outbox.setdefault(destination, []).extend(payloads)

        @rule(
            destination=st.sampled_from(_DESTINATIONS),
            offset=st.integers(-2, 8),
            limit=st.integers(1, 5),
        )
        def outbox_read(self, destination: str, offset: int, limit: int) -> None:
            base = self.model.outbox_base.get(destination, 0)  # resumed: numbers start later
            after = max(0, base + offset)
            start = max(after, base)
            entries = self.model.outbox.get(destination, [])
            expected = entries[start - base : start - base + limit]
            got = self.store.outbox.read(destination, after=after, limit=limit)
            assert [e.payload for e in got] == expected
            assert [e.seq for e in got] == list(range(start + 1, start + 1 + len(expected)))

        @rule(
            destination=st.sampled_from(_DESTINATIONS),
            backs=st.lists(st.integers(-1, 3), min_size=1, max_size=3),
        )
        def outbox_acknowledge(self, destination: str, backs: list[int]) -> None:
            # Acks arrive late, twice, out of order. back: how far below the last
            # sequence number the acknowledged one is (-1: one never sent).
            for back in backs:
                last = self.model.last_seq(destination)
                seq = last - back
                error: type[JukinetError] | None = None
                if seq < 0:
                    error = ValidationError
                elif seq > last:
                    error = IntegrityError
                entry = rows.audit_entry(next(self.audit_serial), action="ack")
                acked = max(self.model.acked.get(destination, 0), seq)
                if error is None:
                    with self.store.unit_of_work() as uow:
                        self.store.outbox.acknowledge(uow, destination, seq)
                        self.store.audit.append(uow, [entry])
                        assert self.store.outbox.acknowledged(destination, uow) == acked
                    self.model.acked[destination] = acked
                    self.model.audit.append(entry)
                else:
                    with pytest.raises(error), self.store.unit_of_work() as uow:  # noqa: PT012
                        self.store.audit.append(uow, [entry])
                        self.store.outbox.acknowledge(uow, destination, seq)
                got = self.store.outbox.acknowledged(destination)
                assert got == self.model.acked.get(destination, 0)

        @rule(destination=st.sampled_from(_DESTINATIONS), last_seq=st.integers(0, 6))
        def outbox_resume(self, destination: str, last_seq: int) -> None:
            if destination not in self.model.destinations():
                with self.store.unit_of_work() as uow:
                    self.store.outbox.resume(uow, destination, last_seq)
                    assert self.store.outbox.destinations(uow) == sorted(
                        {*self.model.destinations(), destination}
                    )
                    assert self.store.outbox.last_seq(destination, uow) == last_seq
                self.model.outbox_base[destination] = last_seq
                self.model.acked[destination] = last_seq
            else:
                with pytest.raises(IntegrityError), self.store.unit_of_work() as uow:
                    self.store.outbox.resume(uow, destination, last_seq)
            assert self.store.outbox.last_seq(destination) == self.model.last_seq(destination)
            assert self.store.outbox.destinations() == self.model.destinations()

        # -- tracking --

        @rule(
            sender=st.sampled_from(_SENDERS),
            delta=st.sampled_from((1, 1, 1, 0, 2, -1)),
            span=st.sampled_from((None, None, 0, 2, -1)),
        )
        def tracking_advance(self, sender: str, delta: int, span: int | None) -> None:
            # applies seq .. seq + span (one message when span is None)
            position = self.model.tracking.get(sender, 0)
            seq = position + delta
            last = None if span is None else seq + span
            effect = [f"applied-{sender}-{seq}".encode()]
            if delta == 1 and (span is None or span >= 0):
                with self.store.unit_of_work() as uow:
                    self.store.outbox.append(uow, "center", effect)
                    self.store.tracking.advance(uow, sender, seq, last=last)
                self.model.tracking[sender] = seq if last is None else last
                self.model.outbox.setdefault("center", []).extend(effect)
            else:
                error: type[JukinetError] = IntegrityError
                if seq < 1:
                    error = JukinetError
                if span is not None and span < 0:
                    error = ValidationError  # bad input, whatever the position
                with pytest.raises(error), self.store.unit_of_work() as uow:  # noqa: PT012
                    self.store.outbox.append(uow, "center", effect)
                    self.store.tracking.advance(uow, sender, seq, last=last)
            assert self.store.tracking.position(sender) == self.model.tracking.get(sender, 0)

        # -- audit log --

        @rule(sizes=st.lists(st.integers(0, 3), min_size=1, max_size=3))
        def audit_append(self, sizes: list[int]) -> None:
            # several appends in one unit of work
            written: list[AuditEntry] = []
            with self.store.unit_of_work() as uow:
                for n in sizes:
                    entries = [rows.audit_entry(next(self.audit_serial)) for _ in range(n)]
                    start = len(self.model.audit) + len(written) + 1
                    assert self.store.audit.append(uow, entries) == range(start, start + n)
                    written.extend(entries)
                assert self.store.audit.last_seq(uow) == len(self.model.audit) + len(written)
            self.model.audit.extend(written)

        @rule(after=st.integers(0, 12), limit=st.integers(0, 5))
        def audit_read(self, after: int, limit: int) -> None:
            expected = self.model.audit[after : after + limit]
            got = self.store.audit.read(after=after, limit=limit)
            assert [r.entry for r in got] == expected
            assert [r.seq for r in got] == list(range(after + 1, after + 1 + len(expected)))

        @rule(
            action=st.sampled_from(["register.birth", "ack", "register.move_in"]),
            after=st.integers(0, 12),
            limit=st.integers(0, 5),
        )
        def audit_read_action(self, action: str, after: int, limit: int) -> None:
            numbered = list(enumerate(self.model.audit, 1))
            expected = [(seq, e) for seq, e in numbered if seq > after and e.action == action]
            got = self.store.audit.read(after=after, limit=limit, action=action)
            assert [(r.seq, r.entry) for r in got] == expected[:limit]

        # -- code pool --

        @rule(
            municipality=st.sampled_from(MUNICIPALITIES[:2]),
            codes=st.lists(st.sampled_from(_POOL_CODES), min_size=1, max_size=3),
        )
        def designate(self, municipality: str, codes: list[str]) -> None:
            ok = len(set(codes)) == len(codes) and not any(c in self.model.pool for c in codes)
            if ok:
                with self.store.unit_of_work() as uow:
                    self.store.code_pool.designate(uow, municipality, codes)
                self.model.pool.update(dict.fromkeys(codes, municipality))
            else:
                with pytest.raises(IntegrityError), self.store.unit_of_work() as uow:
                    self.store.code_pool.designate(uow, municipality, codes)

        @rule(municipality=st.sampled_from(MUNICIPALITIES[:2]))
        def allocate(self, municipality: str) -> None:
            with self.store.unit_of_work() as uow:
                code = self.store.code_pool.allocate(uow, municipality)
            available = self.model.available(municipality)
            if not available:
                assert code is None
            else:
                assert code in available
                self.model.used.add(code)

        @rule(code=st.sampled_from(_POOL_CODES))
        def mark_used(self, code: str) -> None:
            if code in self.model.pool and code not in self.model.used:
                with self.store.unit_of_work() as uow:
                    self.store.code_pool.mark_used(uow, code)
                self.model.used.add(code)
            else:
                with pytest.raises(IntegrityError), self.store.unit_of_work() as uow:
                    self.store.code_pool.mark_used(uow, code)

        # -- agencies --

        @rule(name=st.sampled_from(_AGENCY_NAMES), n=st.integers(1, 3))
        def agency_register(self, name: str, n: int) -> None:
            row = rows.agency_row(n, name=name)
            if name not in self.model.agencies:
                with self.store.unit_of_work() as uow:
                    self.store.agencies.register(uow, row)
                    assert self.store.agencies.get(name, uow) == row
                self.model.agencies[name] = row
            else:
                with pytest.raises(IntegrityError), self.store.unit_of_work() as uow:
                    self.store.agencies.register(uow, row)
            assert self.store.agencies.get(name) == self.model.agencies[name]

        @rule(after=st.sampled_from((None, *_AGENCY_NAMES, "agency-")), limit=st.integers(0, 4))
        def agency_list(self, after: str | None, limit: int) -> None:
            expected = [
                row
                for name, row in sorted(self.model.agencies.items())
                if after is None or name > after
            ]
            assert self.store.agencies.list(after=after, limit=limit) == expected[:limit]

        # -- provision log --

        @rule(
            subjects=st.lists(st.sampled_from(_SUBJECTS), max_size=3),
            minutes=st.lists(st.integers(0, 30), min_size=3, max_size=3),
            audited=st.booleans(),
        )
        def provision_append(
            self, subjects: list[str | None], minutes: list[int], audited: bool
        ) -> None:
            # times are not monotonic: purge must stop at the first later record
            entries = []
            for subject, minute in zip(subjects, minutes, strict=False):
                n = next(self.provision_serial)
                entry = rows.provision_entry(
                    n,
                    at=(_AUDIT_EPOCH + timedelta(minutes=minute)).astimezone(
                        _JST if n % 2 else UTC
                    ),
                )
                entries.append(attrs.evolve(entry, subject=subject))
            audit = rows.audit_entry(next(self.audit_serial), action="provide")
            with self.store.unit_of_work() as uow:
                got = self.store.provision_log.append(uow, entries)
                if audited:
                    self.store.audit.append(uow, [audit])
            assert got == self.model.provision_append(entries)
            if audited:
                self.model.audit.append(audit)
            assert self.store.provision_log.head() == self.model.provision_head

        @rule(
            after=st.integers(0, 15),
            limit=st.integers(0, 5),
            subject=st.sampled_from(_SUBJECTS),
        )
        def provision_read(self, after: int, limit: int, subject: str | None) -> None:
            expected = [
                r
                for r in self.model.provision
                if r.seq > after and (subject is None or r.entry.subject == subject)
            ]
            got = self.store.provision_log.read(after=after, limit=limit, subject=subject)
            assert got == expected[:limit]

        @rule(n=st.integers(0, 12))
        def provision_has_request(self, n: int) -> None:
            request_id = f"req-{n}"
            expected = any(r.entry.request_id == request_id for r in self.model.provision)
            assert self.store.provision_log.has_request(request_id) == expected

        @rule(minute=st.integers(0, 32))
        def provision_purge(self, minute: int) -> None:
            before = _AUDIT_EPOCH + timedelta(minutes=minute)
            with self.store.unit_of_work() as uow:
                count = self.store.provision_log.purge(uow, before=before)
                assert self.store.provision_log.head(uow) == self.model.provision_head
            assert count == self.model.provision_purge(before)
            assert self.store.provision_log.anchor() == self.model.provision_anchor

        # -- schedule --

        @rule(
            keys=st.lists(st.sampled_from(_SCHEDULE_KEYS), max_size=3),
            days=st.lists(st.integers(0, 5), min_size=3, max_size=3),
        )
        def schedule_add(self, keys: list[str], days: list[int]) -> None:
            items = [
                ScheduledItem(
                    key=key,
                    due=_SCHEDULE_EPOCH + timedelta(days=day),
                    payload=f"{key}-{next(self.payloads)}".encode(),
                )
                for key, day in zip(keys, days, strict=False)
            ]
            ok = len(set(keys)) == len(keys) and not any(k in self.model.schedule for k in keys)
            if ok:
                with self.store.unit_of_work() as uow:
                    self.store.schedule.add(uow, items)
                self.model.schedule.update((i.key, i) for i in items)
            else:
                with pytest.raises(IntegrityError), self.store.unit_of_work() as uow:
                    self.store.schedule.add(uow, items)
            for key in keys:
                assert self.store.schedule.get(key) == self.model.schedule.get(key)

        @rule(keys=st.lists(st.sampled_from(_SCHEDULE_KEYS), max_size=3))
        def schedule_cancel(self, keys: list[str]) -> None:
            present = {k for k in keys if k in self.model.schedule}
            with self.store.unit_of_work() as uow:
                assert self.store.schedule.cancel(uow, keys) == len(present)
            for key in present:
                del self.model.schedule[key]

        @rule(day=st.integers(-1, 6), limit=st.integers(0, 7))
        def schedule_due(self, day: int, limit: int) -> None:
            on = _SCHEDULE_EPOCH + timedelta(days=day)
            assert self.store.schedule.due(on, limit=limit) == self.model.due(on)[:limit]

        # -- crashes --

        @rule(
            person=st.sampled_from(_IDS),
            destination=st.sampled_from(_DESTINATIONS),
            sender=st.sampled_from(_SENDERS),
            municipality=st.sampled_from(MUNICIPALITIES[:2]),
        )
        def crash_halfway(
            self, person: str, destination: str, sender: str, municipality: str
        ) -> None:
            history = self.model.register.get(person, [])
            code = history[-1].resident_code if history else None
            row = (
                self._register_row(person, len(history) + 1, code, "S2", False)
                if code is not None
                else None
            )
            position = self.model.tracking.get(sender, 0)
            with pytest.raises(InjectedCrash), self.store.unit_of_work() as uow:  # noqa: PT012
                self.store.outbox.append(uow, destination, [b"never sent"])
                self.store.outbox.acknowledge(uow, destination, self.model.last_seq(destination))
                self.store.tracking.advance(uow, sender, position + 1, last=position + 3)
                self.store.audit.append(uow, [rows.audit_entry(next(self.audit_serial))])
                if row is not None:
                    self.store.register.append(uow, [row])
                    assert self.store.register.current(person, uow) == row
                self.store.code_pool.allocate(uow, municipality)
                self.store.outbox.resume(uow, "pref99", 3)
                self.store.agencies.register(uow, rows.agency_row(1, name="agency-crash"))
                self.store.provision_log.append(
                    uow, [rows.provision_entry(next(self.provision_serial))]
                )
                self.store.provision_log.purge(uow, before=_AUDIT_EPOCH + timedelta(days=1))
                self.store.identities.expire(uow, received_before=date.max)
                self.store.schedule.cancel(uow, list(self.model.schedule))
                self.store.schedule.add(uow, [rows.scheduled_item(1, key="crash")])
                raise InjectedCrash
            self.check_everything()

        # -- checks --

        @invariant()
        def counts_agree(self) -> None:
            model = self.model
            assert self.store.register.count() == len(model.register)
            assert self.store.identities.count() == len(model.identities)
            assert self.store.tracking.senders() == model.tracking
            for destination in _DESTINATIONS:
                assert self.store.outbox.last_seq(destination) == model.last_seq(destination)
            assert self.store.audit.last_seq() == len(model.audit)
            assert self.store.provision_log.head() == model.provision_head
            assert self.store.provision_log.anchor() == model.provision_anchor

        @precondition(
            lambda self: bool(
                self.model.register
                or self.model.identities
                or self.model.audit
                or self.model.agencies
                or self.model.provision_head[0]
                or self.model.schedule
            )
        )
        @rule()
        def check_everything(self) -> None:
            store, model = self.store, self.model
            current = {k: v[-1] for k, v in sorted(model.register.items())}
            assert store.register.scan() == list(current.values())
            for person, history in model.register.items():
                assert store.register.history(person) == history
                assert store.register.current(person) == history[-1]
            for code, person in model.owner.items():
                assert store.register.current_by_code(code) == current[person]
            assert store.register.current_many(list(_CODES)) == {
                c: current[p] for c, p in model.owner.items()
            }
            for status in ("registered", "removed"):
                assert store.register.count(status=status) == sum(
                    1 for r in current.values() if r.status == status
                )
            for household in _HOUSEHOLDS:
                members = [
                    r
                    for r in current.values()
                    if r.household_id == household and r.status == "registered"
                ]
                got = sorted(store.register.household(household), key=lambda r: r.internal_id)
                assert got == members
            ident = model.identity_current()
            words = sorted(model.identity_words().items())
            assert store.identities.scan() == list(ident.values())
            assert store.identities.current_many(list(_CODES)) == ident
            for code in _CODES:
                assert store.identities.current(code) == ident.get(code)
            assert store.identities.last_versions(list(_CODES)) == {
                code: versions[-1].version for code, versions in model.identities.items()
            }
            for code, versions in model.identities.items():
                assert store.identities.history(code) == versions
            for municipality in MUNICIPALITIES:
                expected_rows = [r for (_, m), r in words if m == municipality]
                assert store.identities.scan(municipality=municipality) == expected_rows
                assert store.identities.count(municipality=municipality) == len(expected_rows)
            for text, born in _NAMES:
                query = mapping.identity_query(text, born)
                found = store.identities.search(query)
                assert [r.resident_code for r in found] == sorted(r.resident_code for r in found)
                assert sorted(found, key=_by_version) == sorted(
                    (
                        r
                        for _, r in words
                        if r.name_key == query.name_key and r.birth_date == born and not r.removed
                    ),
                    key=_by_version,
                )
            for destination in _DESTINATIONS:
                got_entries = read_all_outbox(store, destination, page=1)
                base = model.outbox_base.get(destination, 0)
                assert [e.payload for e in got_entries] == model.outbox.get(destination, [])
                assert [e.seq for e in got_entries] == list(
                    range(base + 1, base + 1 + len(got_entries))
                )
                assert store.outbox.acknowledged(destination) == model.acked.get(destination, 0)
            assert store.outbox.destinations() == model.destinations()
            assert [r.entry for r in read_all_audit(store, page=4)] == model.audit
            assert store.code_pool.designated_count() == len(model.pool)
            for municipality in MUNICIPALITIES:
                assert store.code_pool.available(municipality) == len(model.available(municipality))
            for code in _POOL_CODES:
                assert store.code_pool.is_designated(code) == (code in model.pool)
            assert read_all_agencies(store, page=2) == [
                row for _, row in sorted(model.agencies.items())
            ]
            for name in _AGENCY_NAMES:
                assert store.agencies.get(name) == model.agencies.get(name)
            kept = read_all_provision(store, page=3)
            assert kept == model.provision
            for subject in _SUBJECTS[1:]:
                assert read_all_provision(store, page=2, subject=subject) == [
                    r for r in model.provision if r.entry.subject == subject
                ]
            head, anchor = store.provision_log.head(), store.provision_log.anchor()
            assert (head, anchor) == (model.provision_head, model.provision_anchor)
            assert verify_chain(anchor, kept, head) == []
            assert read_all_scheduled(store) == model.due(date.max)
            for key in _SCHEDULE_KEYS:
                assert store.schedule.get(key) == model.schedule.get(key)

    StoreStateMachine.TestCase.settings = settings(
        stateful_step_count=20,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    return StoreStateMachine
