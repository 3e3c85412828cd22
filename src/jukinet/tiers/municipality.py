"""The municipality: its resident register (住民基本台帳) and its communication server.

Every operation is one unit of work: the new version of the record, the identity
notice for the prefecture (when identity information changed, 住基法30条の6) and
the audit entry commit together or not at all. Operations check the state (no
death of a removed resident, no second registration of the same person: see
:meth:`Municipality.register_birth`) and the dates (nothing after the injected
clock's today, nothing before birth) and refuse with a typed error, leaving storage
as it was.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, timedelta
from typing import Any

import attrs

from jukinet.domain import codec
from jukinet.domain._repr import never_raises
from jukinet.domain.address import Address
from jukinet.domain.changes import ChangeReason
from jukinet.domain.identity import IdentityInfo, IdentityNotice
from jukinet.domain.individual_number import IndividualNumber
from jukinet.domain.lg_code import LocalGovernmentCode
from jukinet.domain.names import PersonName
from jukinet.domain.resident import (
    FamilyRegister,
    ForeignResidentInfo,
    HouseholdMembership,
    MoveInEntry,
    RecordStatus,
    RecordVersion,
    Removal,
    ResidentHistory,
    ResidentRecord,
    Sex,
)
from jukinet.domain.resident_code import ResidentCode
from jukinet.errors import (
    CodePoolExhausted,
    DuplicateRegistration,
    InvalidComponent,
    InvalidFormat,
    InvalidState,
    JukinetError,
    NotFound,
)
from jukinet.progress import ProgressCallback, check_callback, report
from jukinet.storage import mapping
from jukinet.storage.base import Store, UnitOfWork
from jukinet.storage.records import AuditEntry, CounterRequestRow, IdentityRow
from jukinet.tiers import card_desk, counter_messages, restore
from jukinet.tiers._repr import node_label
from jukinet.tiers.clock import Clock
from jukinet.tiers.cs import CommunicationServer, RegisterEntry
from jukinet.tiers.messages import Envelope, NodeId, NodeKey, TrustStore
from jukinet.tiers.messages import encode as encode_envelope
from jukinet.tiers.node import DEFAULT_BATCH, DEFAULT_MAX_AGE, Health
from jukinet.tiers.restore import RestoreReport
from jukinet.tiers.special_move import SpecialMoveDesk, awaited_item
from jukinet.tiers.wide_area import WideAreaDesk

__all__ = ["LOAD_BATCH", "MoveOutCertificate", "Municipality"]

LOAD_BATCH = 10_000
"""Records per storage call of :meth:`Municipality.initial_load` when it reports
progress (without a callback the whole register goes in one call)."""


@attrs.frozen(kw_only=True)
class MoveOutCertificate:
    """The move-out certificate's data (転出証明書, 住基法24条; 令23条).

    ``record`` is the person's record as removed by the move-out; the new
    municipality registers the person from it (国内転入, 22条), keeping the resident
    code (30条の3第1項). ``number`` binds the move-in to this move-out: the move-out
    notice carries it up, and so does the move-in notice, so the upper tiers accept
    one move-in per certificate (docs/tiers.md, invariant 3).
    """

    issued_by: str
    record: ResidentRecord
    planned_date: date
    destination: str
    number: str

    @property
    def moved_from(self) -> LocalGovernmentCode:
        """The issuing municipality, checked (:class:`~jukinet.errors.InvalidComponent`
        for a body that keeps no register, a malformed code raises too)."""
        try:
            code = LocalGovernmentCode(self.issued_by)
        except JukinetError as exc:
            raise InvalidComponent(
                f"the certificate names {self.issued_by!r}, which is not a municipality: {exc}",
                field="転出証明書",
                expected="a certificate issued by a municipality",
            ) from exc
        if not code.keeps_register:
            raise InvalidComponent(
                f"{code.full_name} keeps no resident register",
                field="転出証明書",
                expected="a certificate issued by a city, town, village or ward",
            )
        return code

    def check(self) -> None:
        """Check that the certificate is what a move-out issues (住基法24条; 令23条):
        from a municipality, for a record that municipality removed by a domestic
        move-out on the planned date, with this certificate's number. Raises
        :class:`~jukinet.errors.InvalidState` or
        :class:`~jukinet.errors.InvalidComponent` naming what is wrong."""
        issuer = self.moved_from
        record = self.record
        removal = record.removal
        if not record.is_removed or removal is None:
            raise InvalidState(
                "the certificate's record was never removed",
                field="転出証明書",
                expected="the record as removed by the move-out (除票)",
            )
        if removal.reason is not ChangeReason.DOMESTIC_MOVE_OUT:
            raise InvalidState(
                f"the record was removed by {removal.reason.label_ja}, not by a move-out",
                field="転出証明書",
                expected="a record removed by 国内転出",
            )
        if record.municipality != issuer.value:
            raise InvalidComponent(
                f"the record is of {record.municipality}, the certificate from {issuer.value}",
                field="転出証明書",
                expected="a certificate from the municipality that kept the record",
            )
        if removal.certificate != self.number or removal.removed_on != self.planned_date:
            raise InvalidComponent(
                "the certificate's number or planned date differs from its record's",
                field="転出証明書",
                expected="the number and the planned date the move-out recorded",
            )


class Municipality:
    """A municipality's register and communication server.

    >>> # see docs/tiers.md and tests/test_tiers.py for a whole network
    """

    def __init__(
        self,
        code: LocalGovernmentCode | str,
        store: Store,
        key: NodeKey,
        trust: TrustStore,
        clock: Clock,
        rng: random.Random,
        *,
        batch_size: int = DEFAULT_BATCH,
        max_age: timedelta = DEFAULT_MAX_AGE,
    ) -> None:
        self.code = code if isinstance(code, LocalGovernmentCode) else LocalGovernmentCode(code)
        if not self.code.keeps_register:
            raise InvalidComponent(
                f"{self.code.full_name} keeps no resident register",
                field="municipality",
                expected="a city, town, village, special ward or designated-city ward",
            )
        self.store = store
        self.clock = clock
        self._rng = rng
        self.cs = CommunicationServer(
            self.code,
            store,
            key,
            trust,
            clock,
            self,
            batch_size=batch_size,
            max_age=max_age,
        )
        self.wide_area = WideAreaDesk(self)
        """Wide-area copies, issuing and home (:mod:`jukinet.tiers.wide_area`)."""
        self.special_move = SpecialMoveDesk(self)
        """The special moving-out/in and move-in notifications
        (:mod:`jukinet.tiers.special_move`)."""
        self.cs.counter = self._take_counter

    def _take_counter(self, uow: UnitOfWork, inner: Envelope) -> None:
        """A counter message relayed from another municipality, to its desk."""
        message = counter_messages.parse(inner.payloads[0])
        if isinstance(message, counter_messages.CopyRequest | counter_messages.CopyAnswer):
            self.wide_area.take(uow, inner, message)
        else:
            self.special_move.take(uow, inner, message)

    # --- the node face (the network talks to the CS) ------------------------------

    @property
    def node_id(self) -> NodeId:
        """The municipality's node identity (``m:NNNNNN``)."""
        return self.cs.node_id

    def outgoing(self) -> list[Envelope]:
        """What the communication server has to send."""
        return self.cs.outgoing()

    def receive(self, envelope: Envelope) -> list[Envelope]:
        """Hand an envelope to the communication server."""
        return self.cs.receive(envelope)

    def health(self) -> Health:
        """The communication server's health report."""
        return self.cs.health()

    def rotate_key(self, key: NodeKey) -> None:
        """Sign with ``key`` from now on (see :meth:`Node.rotate_key
        <jukinet.tiers.node.Node.rotate_key>`)."""
        self.cs.rotate_key(key)

    # --- reading ------------------------------------------------------------------

    def history(self, who: ResidentCode | str) -> ResidentHistory:
        """Every version of a person's record, by resident code or internal number."""
        internal_id = self._internal_id(who)
        rows = self.store.register.history(internal_id)
        return ResidentHistory(tuple(mapping.record_version(row) for row in rows))

    def resident(self, who: ResidentCode | str) -> ResidentRecord:
        """The person's record as it stands (a removed one is a 除票)."""
        return self.history(who).current

    def _internal_id(self, who: ResidentCode | str, uow: UnitOfWork | None = None) -> str:
        register = self.store.register
        if isinstance(who, ResidentCode):
            row = register.current_by_code(who.value, uow)
        elif isinstance(who, str):
            row = register.current(who, uow)
        else:
            raise TypeError(
                f"expected a ResidentCode or an internal number, got {type(who).__name__}"
            )
        if row is None:
            raise NotFound(f"no resident {who} in {self.code.full_name}", field="resident")
        return row.internal_id

    def _history_in(self, uow: UnitOfWork, who: ResidentCode | str) -> ResidentHistory:
        internal_id = self._internal_id(who, uow)
        rows = self.store.register.history(internal_id, uow)
        return ResidentHistory(tuple(mapping.record_version(row) for row in rows))

    # --- RegisterSource (what the CS asks of the register) -----------------------

    def register_entries(self) -> Iterator[RegisterEntry]:
        """Every person the register holds, as they stand (removed ones included)."""
        after: str | None = None
        while True:
            rows = self.store.register.scan(after=after, limit=1000)
            if not rows:
                return
            for row in rows:
                record = mapping.record_version(row).record
                yield RegisterEntry(IdentityInfo.from_record(record), record.is_removed)
            after = rows[-1].internal_id

    def latest_notice(self, resident_code: ResidentCode) -> IdentityNotice | None:
        """The notice the newest notifiable version of this person would send."""
        try:
            history = self.history(resident_code)
        except NotFound:
            return None
        versions = history.versions
        for index in range(len(versions) - 1, -1, -1):
            version = versions[index]
            if version.reason.notifiable:
                before = versions[index - 1].record if index else None
                return IdentityNotice.for_change(
                    version.record,
                    reason=version.reason,
                    event_date=version.event_date,
                    before=before,
                )
        return None

    # --- the operations -------------------------------------------------------------

    def register_birth(
        self,
        *,
        name: PersonName,
        birth_date: date,
        sex: Sex,
        household: HouseholdMembership,
        address: str,
        family_register: FamilyRegister | None = None,
        foreign: ForeignResidentInfo | None = None,
        individual_number: IndividualNumber | None = None,
        distinct_from: ResidentCode | Sequence[ResidentCode] | None = None,
    ) -> ResidentRecord:
        """Record a birth (出生, 住基法8条): a new record with a fresh resident code (30条の3第2項).

        A person is registered once (住基法6条: one record per person; 14条): a
        current (not removed) record here with the same name (compared by its
        matching key, :attr:`PersonName.matching_key
        <jukinet.domain.names.PersonName.matching_key>`, as searches compare
        names), birth date, sex and household is the same person, and the birth
        is refused with :class:`~jukinet.errors.DuplicateRegistration`, which
        carries that record's resident code. Twins (same birth date and household,
        different names) are two people.

        ``distinct_from`` is the counter's explicit override, for a person who
        matches a record and is someone else: the resident codes of *every*
        matching record, checked and found to be other people. A code that names no
        matching record is refused (:class:`~jukinet.errors.InvalidComponent`), so
        an override is never given blindly; the codes are written to the audit
        entry (``distinct_from``).
        """
        self._not_future(birth_date, "出生の年月日")
        confirmed = _codes_checked(distinct_from)
        with self.store.unit_of_work() as uow:
            record = ResidentRecord(
                internal_id=self._new_internal_id(uow),
                resident_code=self._draw_code(uow),
                name=name,
                birth_date=birth_date,
                sex=sex,
                household=household,
                address=self._address(address),
                resident_since=birth_date,
                individual_number=individual_number,
                family_register=family_register,
                foreign=foreign,
            )
            self._not_registered_yet(uow, record, confirmed)
            self._commit(
                uow,
                None,
                record,
                ChangeReason.BIRTH,
                birth_date,
                "register.birth",
                _override(confirmed),
            )
        return record

    def register_move_in(
        self,
        certificate: MoveOutCertificate,
        *,
        address: str,
        household: HouseholdMembership,
        moved_in_on: date,
        notified_on: date | None = None,
    ) -> ResidentRecord:
        """Register a person moving in from another municipality (国内転入, 住基法22条),
        by the ordinary procedure with the move-out certificate's data. The person
        keeps their resident code (30条の3第1項).
        """
        if not isinstance(certificate, MoveOutCertificate):
            raise TypeError(f"expected a MoveOutCertificate, got {type(certificate).__name__}")
        with self.store.unit_of_work() as uow:
            return self._move_in(
                uow,
                certificate,
                address=address,
                household=household,
                moved_in_on=moved_in_on,
                notified_on=notified_on,
            )

    def _move_in(
        self,
        uow: UnitOfWork,
        certificate: MoveOutCertificate,
        *,
        address: str,
        household: HouseholdMembership,
        moved_in_on: date,
        notified_on: date | None = None,
    ) -> ResidentRecord:
        """Register a move-in in the caller's unit of work: the ordinary procedure's paper
        certificate and the special procedure's electronic one (24条の2) go through the
        same checks (issued by that municipality, for a removed record, used once)."""
        if certificate.issued_by == self.code.value:
            raise InvalidState(
                "a move within the municipality is a 転居, not a 転入",
                field="certificate",
                expected="a certificate from another municipality",
            )
        certificate.check()
        notified = notified_on or self.clock.today()
        self._not_future(moved_in_on, "転入の年月日")
        self._not_future(notified, "届出の年月日")
        old = certificate.record
        if moved_in_on < old.birth_date:
            raise InvalidComponent("moved in before birth", field="転入の年月日")
        history = self._returning(uow, old.resident_code)
        if history is not None and any(
            v.record.moved_in is not None and v.record.moved_in.certificate == certificate.number
            for v in history.versions
        ):
            raise InvalidState(
                "this move-out certificate was used here already",
                field="転出証明書",
                expected="a certificate not yet used (住基法22条, 24条)",
            )
        record = attrs.evolve(
            old,
            internal_id=history.current.internal_id if history else self._new_internal_id(uow),
            household=household,
            address=self._address(address),
            resident_since=moved_in_on,
            address_since=moved_in_on,
            moved_in=MoveInEntry(
                notified_on=notified,
                previous_address=old.address.full,
                moved_from=certificate.moved_from,
                certificate=certificate.number,
            ),
            status=RecordStatus.REGISTERED,
            removal=None,
            national_health_insurance=None,
            late_stage_elderly_insurance=None,
            long_term_care_insurance=None,
            child_allowance=None,
        )
        self._commit(
            uow, history, record, ChangeReason.DOMESTIC_MOVE_IN, moved_in_on, "register.move_in"
        )
        old_town = NodeId.municipality(certificate.moved_from)
        if old_town in self.cs.trust:
            # 転入通知 (住基法9条1項): the old municipality completes its 除票
            notice = counter_messages.MoveInNotification(
                certificate=certificate.number,
                resident_code=record.resident_code.value,
                moved_in_on=moved_in_on.isoformat(),
                address=record.address.full,
            )
            self.cs.relay_to(uow, old_town, counter_messages.encode(notice))
        return record

    def register_arrival(
        self,
        *,
        name: PersonName,
        birth_date: date,
        sex: Sex,
        household: HouseholdMembership,
        address: str,
        arrived_on: date,
        previous_address: str,
        family_register: FamilyRegister | None = None,
        foreign: ForeignResidentInfo | None = None,
        resident_code: ResidentCode | None = None,
        individual_number: IndividualNumber | None = None,
        distinct_from: ResidentCode | Sequence[ResidentCode] | None = None,
    ) -> ResidentRecord:
        """Register a person arriving from abroad (国外転入等). A person registered
        before keeps their code (30条の3第1項); others get a fresh one (第2項).

        A person registered here already is refused as in :meth:`register_birth`
        (:class:`~jukinet.errors.DuplicateRegistration`), with the same override
        ``distinct_from``.
        """
        self._not_future(arrived_on, "転入の年月日")
        if arrived_on < birth_date:
            raise InvalidComponent("arrived before birth", field="転入の年月日")
        confirmed = _codes_checked(distinct_from)
        with self.store.unit_of_work() as uow:
            history = self._returning(uow, resident_code) if resident_code else None
            if (
                resident_code is not None
                and history is None
                and self.store.code_pool.designated_to(resident_code.value, uow) == self.code.value
            ):
                # a code of this town's own pool, chosen by the counter: used up here,
                # so no birth is given it again (30条の2第2項)
                self.store.code_pool.mark_used(uow, resident_code.value)
            record = ResidentRecord(
                internal_id=history.current.internal_id if history else self._new_internal_id(uow),
                resident_code=resident_code or self._draw_code(uow),
                name=name,
                birth_date=birth_date,
                sex=sex,
                household=household,
                address=self._address(address),
                resident_since=arrived_on,
                address_since=arrived_on,
                individual_number=individual_number,
                family_register=family_register,
                foreign=foreign,
                moved_in=MoveInEntry(
                    notified_on=self.clock.today(), previous_address=previous_address
                ),
            )
            self._not_registered_yet(uow, record, confirmed)
            self._commit(
                uow,
                history,
                record,
                ChangeReason.MOVE_IN_FROM_ABROAD,
                arrived_on,
                "register.arrival",
                _override(confirmed),
            )
        return record

    def move_out(
        self, who: ResidentCode | str, *, planned_date: date, destination: str
    ) -> MoveOutCertificate:
        """Remove a person moving to another municipality (国内転出, 住基法24条).

        The record becomes a 除票 dated the planned move-out date (令30条の5); the
        returned certificate carries what the new municipality needs.
        """
        if not isinstance(planned_date, date):
            raise TypeError("planned_date: expected a date")
        with self.store.unit_of_work() as uow:
            return self._move_out(uow, who, planned_date=planned_date, destination=destination)

    def _move_out(
        self, uow: UnitOfWork, who: ResidentCode | str, *, planned_date: date, destination: str
    ) -> MoveOutCertificate:
        """Record a move-out in the caller's unit of work and make its certificate; the
        move-in notification (転入通知, 9条1項) is awaited until planned date + 30 days
        (:meth:`awaiting_move_in_notices`)."""
        number = f"{self._rng.getrandbits(128):032x}"
        history = self._history_in(uow, who)
        before = self._registered(history)
        record = attrs.evolve(
            before,
            status=RecordStatus.REMOVED,
            removal=Removal(
                reason=ChangeReason.DOMESTIC_MOVE_OUT,
                removed_on=planned_date,
                destination=destination,
                certificate=number,
            ),
        )
        self._commit(
            uow,
            history,
            record,
            ChangeReason.DOMESTIC_MOVE_OUT,
            planned_date,
            "register.move_out",
        )
        self.store.schedule.add(
            uow,
            [
                awaited_item(
                    certificate=number,
                    resident_code=record.resident_code.value,
                    planned_date=planned_date,
                    destination=destination,
                )
            ],
        )
        return MoveOutCertificate(
            issued_by=self.code.value,
            record=record,
            planned_date=planned_date,
            destination=destination,
            number=number,
        )

    def move_abroad(
        self, who: ResidentCode | str, *, departed_on: date, destination: str
    ) -> ResidentRecord:
        """Remove a person moving abroad (国外転出)."""
        return self._remove(who, ChangeReason.MOVE_ABROAD, departed_on, destination=destination)

    def record_death(self, who: ResidentCode | str, *, died_on: date) -> ResidentRecord:
        """Remove a person who died (死亡)."""
        self._not_future(died_on, "死亡の年月日")
        return self._remove(who, ChangeReason.DEATH, died_on)

    def move_within(
        self, who: ResidentCode | str, *, address: str, moved_on: date
    ) -> ResidentRecord:
        """Record a move within the municipality (転居, 住基法23条)."""
        self._not_future(moved_on, "転居の年月日")
        return self._change(
            who,
            ChangeReason.MOVE_WITHIN,
            moved_on,
            "register.move_within",
            address=self._address(address),
            address_since=moved_on,
        )

    def change_name(
        self,
        who: ResidentCode | str,
        *,
        name: PersonName,
        changed_on: date,
        reason: ChangeReason = ChangeReason.EX_OFFICIO_CORRECTION,
    ) -> ResidentRecord:
        """Change a person's name (e.g. after a marriage recorded in the family
        register: 職権修正, 住基法9条2項)."""
        self._not_future(changed_on, "変更の年月日")
        return self._change(who, reason, changed_on, "register.change_name", name=name)

    def correct(
        self,
        who: ResidentCode | str,
        *,
        reason: ChangeReason,
        corrected_on: date,
        name: PersonName | None = None,
        birth_date: date | None = None,
        sex: Sex | None = None,
    ) -> ResidentRecord:
        """Correct identity items (誤記修正, 職権修正, 軽微な修正; 住基法14条)."""
        allowed = (
            ChangeReason.CLERICAL_ERROR_CORRECTION,
            ChangeReason.EX_OFFICIO_CORRECTION,
            ChangeReason.MINOR_CORRECTION,
        )
        if reason not in allowed:
            raise InvalidComponent(
                f"{reason.label_ja} is not a correction",
                field="異動事由",
                expected="誤記修正, 職権修正 or 軽微な修正",
            )
        self._not_future(corrected_on, "修正の年月日")
        changes: dict[str, Any] = {}
        if name is not None:
            changes["name"] = name
        if birth_date is not None:
            changes["birth_date"] = birth_date
        if sex is not None:
            changes["sex"] = sex
        if not changes:
            raise InvalidComponent(
                "nothing to correct", field="修正", expected="name, birth_date or sex"
            )
        return self._change(who, reason, corrected_on, "register.correct", **changes)

    def change_household(
        self,
        who: ResidentCode | str,
        *,
        household: HouseholdMembership,
        reason: ChangeReason,
        changed_on: date,
    ) -> ResidentRecord:
        """Change household membership (世帯分離, 世帯合併, 世帯変更, 世帯主変更).

        The register changes; no notice is sent, since household membership is not
        identity information (住基法30条の6第1項).
        """
        if reason not in (
            ChangeReason.HOUSEHOLD_SEPARATION,
            ChangeReason.HOUSEHOLD_MERGER,
            ChangeReason.HOUSEHOLD_CHANGE,
            ChangeReason.HEAD_OF_HOUSEHOLD_CHANGE,
        ):
            raise InvalidComponent(
                f"{reason.label_ja} is not a household change",
                field="異動事由",
                expected="世帯分離, 世帯合併, 世帯変更 or 世帯主変更",
            )
        self._not_future(changed_on, "異動日")
        return self._change(who, reason, changed_on, "register.household", household=household)

    def change_resident_code(
        self, who: ResidentCode | str, *, requested_on: date
    ) -> ResidentRecord:
        """Replace a person's resident code on request (住民票コードの変更請求, 住基法30条の4).

        A fresh code comes from the pool; the notice carries the old one (令30条の5).
        """
        self._not_future(requested_on, "請求の年月日")
        with self.store.unit_of_work() as uow:
            history = self._history_in(uow, who)
            before = self._registered(history)
            record = attrs.evolve(before, resident_code=self._draw_code(uow))
            self._commit(
                uow,
                history,
                record,
                ChangeReason.RESIDENT_CODE_CHANGE_REQUEST,
                requested_on,
                "register.change_code",
            )
        return record

    def initial_load(
        self,
        records: Iterable[ResidentRecord],
        *,
        as_of: date,
        reason: ChangeReason = ChangeReason.RECONSTRUCTION_ENTRY,
        progress: ProgressCallback | None = None,
    ) -> int:
        """Join the network with an existing register: load it in bulk and upload the
        identity information of everyone registered (the storage bulk path).

        Each record becomes version 1 (``reason``, by default 改製). The records bring
        their resident codes; take codes for people who have none yet with
        :meth:`reserve_codes` first. Removed records (除票) are loaded but not
        notified.

        With a ``progress`` callback (:mod:`jukinet.progress`, task "initial load",
        unit "records") the records go to storage in batches of
        :data:`LOAD_BATCH`, still in one unit of work: a callback that raises
        leaves nothing loaded.
        """
        self._not_future(as_of, "as_of")
        progress = check_callback(progress)
        versions = []
        notices: list[IdentityNotice | None] = []
        for record in records:
            if not isinstance(record, ResidentRecord):
                raise TypeError(f"expected ResidentRecord items, got {type(record).__name__}")
            if record.municipality not in (self.code.value, *(p.value for p in self._parents())):
                raise InvalidComponent(
                    f"{record.internal_id} lives in {record.municipality}",
                    field="住所",
                    expected=f"an address in {self.code.full_name}",
                )
            version = RecordVersion(
                version=1, record=record, reason=reason, event_date=as_of, processed_on=as_of
            )
            versions.append(version)
            notices.append(
                None
                if record.is_removed
                else IdentityNotice.for_change(record, reason=reason, event_date=as_of)
            )
        total = len(versions)
        size = LOAD_BATCH if progress is not None else max(total, 1)
        with self.store.unit_of_work() as uow:
            for start in range(0, total, size):
                end = min(start + size, total)
                rows = [mapping.register_row(v) for v in versions[start:end]]
                self.store.register.bulk_load(uow, rows)
                self.cs.notify_many([n for n in notices[start:end] if n is not None], uow)
                report(progress, "initial load", end, total)
            if not total:
                report(progress, "initial load", 0, 0)
            self._audit(uow, "register.initial_load", None, {"records": total})
        return total

    def reserve_codes(self, count: int) -> list[ResidentCode]:
        """Take ``count`` unused codes from the pool (e.g. for an initial load)."""
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise InvalidComponent(f"{count!r}", field="count", expected="a whole number >= 0")
        with self.store.unit_of_work() as uow:
            return [self._draw_code(uow) for _ in range(count)]

    # --- disaster recovery ------------------------------------------------------

    def restore(
        self, envelopes: Sequence[Envelope], *, progress: ProgressCallback | None = None
    ) -> RestoreReport:
        """Restore identity information and links from the prefecture's and the
        centre's packages into this (empty) store (see :mod:`jukinet.tiers.restore`);
        then :meth:`remake` the register. ``progress``: as for
        :meth:`CommunicationServer.restore <jukinet.tiers.cs.CommunicationServer.restore>`."""
        return self.cs.restore(envelopes, progress=progress)

    def to_remake(self, *, removed: bool = False) -> list[IdentityInfo]:
        """The people whose record the restored identity information shows here and
        whose record is not remade yet, ordered by resident code.

        By default those registered here; with ``removed=True`` those whose newest
        notice from here removed them (a 除票: moved out, died …), whose removed
        records the register keeps too (除票簿, 住基法15条の2; 150 years, 令34条1項),
        each with the identity information as it stood at the removal. A code
        replaced here (住基法30条の4) is no person of its own: its holder is listed
        under the new code.
        """
        found: list[IdentityInfo] = []
        after: str | None = None
        while True:
            rows = self.store.identities.scan(municipality=self.code.value, after=after, limit=1000)
            if not rows:
                return found
            for row in rows:
                if (
                    row.removed == removed
                    and not restore.is_replaced(row)
                    and self.store.register.current_by_code(row.resident_code) is None
                ):
                    found.append(codec.from_bytes(IdentityNotice, row.payload).info)
            after = rows[-1].resident_code

    def remake(self, record: ResidentRecord, *, on: date | None = None) -> ResidentRecord:
        """Remake a lost record (再製, 住基法施行令16条) after a :meth:`restore`.

        The upper tiers hold only identity information, so the caller brings the
        whole record (household, domicile … from its other sources) as the register
        held it; its identity items must equal the restored ones.

        A registered person's record (:meth:`to_remake`) starts a new history with
        reason 再製 and, like any 記載, is notified upward. A removed record (除票,
        ``to_remake(removed=True)``) must match the restored removal too (its
        reason, its date and, for a move-out, the certificate's number); it is
        remade as it stood, a history of the 再製 followed by the removal, and is
        not notified: the upper tiers hold the removal already.
        """
        if not isinstance(record, ResidentRecord):
            raise TypeError(f"expected a ResidentRecord, got {type(record).__name__}")
        on = self.clock.today() if on is None else on
        self._not_future(on, "再製日")
        listed = f"a person listed by to_remake(removed={record.is_removed})"
        with self.store.unit_of_work() as uow:
            register = self.store.register
            if register.current_by_code(record.resident_code.value, uow) is not None:
                raise InvalidState(
                    f"the person with code {record.resident_code} has a record here already",
                    field="住民票コード",
                    expected=listed,
                )
            if register.current(record.internal_id, uow) is not None:
                raise InvalidState(
                    f"the internal number {record.internal_id} is taken",
                    field="宛名番号",
                    expected="an internal number not in the register",
                )
            restored = self._restored_here(record.resident_code.value, uow)
            if restored is None or restore.is_replaced(restored):
                raise NotFound(
                    f"no restored identity information shows {record.resident_code} "
                    f"in {self.code.full_name}",
                    field="住民票コード",
                    expected=listed,
                )
            if restored.removed != record.is_removed:
                state = "removed" if restored.removed else "registered"
                raise InvalidState(
                    f"the restored identity information shows {record.resident_code} {state}"
                    f" in {self.code.full_name}",
                    field="住民票",
                    expected=f"the person's {state} record",
                )
            notice = codec.from_bytes(IdentityNotice, restored.payload)
            mine = IdentityInfo.from_record(record)
            differing = [
                item.name
                for item in attrs.fields(IdentityInfo)
                if getattr(notice.info, item.name) != getattr(mine, item.name)
            ]
            if differing:
                raise InvalidComponent(
                    f"{', '.join(differing)} differ from the restored identity information",
                    field="本人確認情報",
                    expected="the identity information restored from the upper tiers",
                )
            if record.is_removed:
                self._remake_removed(uow, record, notice, on)
            else:
                self._commit(
                    uow, None, record, ChangeReason.RECREATION_ENTRY, on, "register.remake"
                )
        return record

    def _remake_removed(
        self, uow: UnitOfWork, record: ResidentRecord, notice: IdentityNotice, on: date
    ) -> None:
        """Write a removed record back as the register held it: the record before the
        removal remade (再製), then the removal the upper tiers hold (not notified)."""
        removal = record.removal
        assert removal is not None  # a removed record names its removal
        if (removal.reason, removal.removed_on, removal.certificate) != (
            notice.reason,
            notice.event_date,
            notice.certificate,
        ):
            raise InvalidComponent(
                f"the removal ({removal.reason.label_ja}, {removal.removed_on.isoformat()})"
                f" differs from the restored one ({notice.reason.label_ja},"
                f" {notice.event_date.isoformat()})",
                field="消除",
                expected="the removal restored from the upper tiers, with its certificate number",
            )
        processed = max(self.clock.today(), on)
        history = ResidentHistory.start(
            attrs.evolve(record, status=RecordStatus.REGISTERED, removal=None),
            reason=ChangeReason.RECREATION_ENTRY,
            event_date=on,
            processed_on=processed,
        ).append(
            record,
            reason=removal.reason,
            event_date=removal.removed_on,
            processed_on=max(processed, removal.removed_on),
        )
        self.store.register.append(uow, [mapping.register_row(v) for v in history.versions])
        self._audit(
            uow,
            "register.remake",
            record.internal_id,
            {"reason": ChangeReason.RECREATION_ENTRY.value, "removed": removal.reason.value},
        )

    def _restored_here(self, code: str, uow: UnitOfWork) -> IdentityRow | None:
        found = None
        for row in self.store.identities.history(code, uow):
            if row.municipality == self.code.value:
                found = row
        return found

    # --- machinery --------------------------------------------------------------

    def _parents(self) -> tuple[LocalGovernmentCode, ...]:
        parent = self.code.parent
        return (parent,) if parent is not None else ()

    def _remove(
        self,
        who: ResidentCode | str,
        reason: ChangeReason,
        on: date,
        *,
        destination: str | None = None,
    ) -> ResidentRecord:
        with self.store.unit_of_work() as uow:
            history = self._history_in(uow, who)
            before = self._registered(history)
            record = attrs.evolve(
                before,
                status=RecordStatus.REMOVED,
                removal=Removal(reason=reason, removed_on=on, destination=destination),
            )
            self._commit(uow, history, record, reason, on, f"register.{reason.value}")
        return record

    def _change(
        self,
        who: ResidentCode | str,
        reason: ChangeReason,
        on: date,
        action: str,
        **changes: Any,
    ) -> ResidentRecord:
        with self.store.unit_of_work() as uow:
            history = self._history_in(uow, who)
            before = self._registered(history)
            record = attrs.evolve(before, **changes)
            self._commit(uow, history, record, reason, on, action)
        return record

    def _commit(
        self,
        uow: UnitOfWork,
        history: ResidentHistory | None,
        record: ResidentRecord,
        reason: ChangeReason,
        event_date: date,
        action: str,
        detail: dict[str, object] | None = None,
    ) -> None:
        today = self.clock.today()
        if history is None:
            new_history = ResidentHistory.start(
                record, reason=reason, event_date=event_date, processed_on=max(today, event_date)
            )
            before = None
        else:
            if event_date < history.current.birth_date:
                raise InvalidComponent(
                    f"the event date {event_date.isoformat()} is before the birth date",
                    field="異動日",
                    expected="a date on or after the birth date",
                )
            new_history = history.append(
                record,
                reason=reason,
                event_date=event_date,
                processed_on=max(today, event_date, history.latest.processed_on),
            )
            before = history.current
        self.store.register.append(uow, [mapping.register_row(new_history.latest)])
        card_desk.follow(
            self.store,
            self.cs.queue,
            self.cs.prefecture,
            self.clock,
            uow,
            before=before,
            reason=reason,
            event_date=event_date,
            at=self.code,
        )
        if reason.notifiable:
            notice = IdentityNotice.for_change(
                record, reason=reason, event_date=event_date, before=before
            )
            self.cs.notify(notice, uow)
        self._audit(
            uow,
            action,
            record.internal_id,
            {**(detail or {}), "reason": reason.value, "version": new_history.latest.version},
        )

    def _not_registered_yet(
        self, uow: UnitOfWork, record: ResidentRecord, confirmed: tuple[str, ...]
    ) -> None:
        """Refuse ``record`` when the person is registered here already (住基法6条).

        A current record of the same household (:meth:`Register.household
        <jukinet.storage.base.Register.household>`, the register's index on it)
        with the same name key, birth date and sex is the same person, unless the
        counter named its code in ``confirmed`` (``distinct_from``); a code in
        ``confirmed`` must name such a record.
        """
        key = record.name.matching_key
        matches: list[str] = []
        for row in self.store.register.household(record.household.household_id, uow):
            other = mapping.record_version(row).record
            if (
                other.name.matching_key == key
                and other.birth_date == record.birth_date
                and other.sex is record.sex
            ):
                matches.append(other.resident_code.value)
        stray = [code for code in confirmed if code not in matches]
        if stray:
            raise InvalidComponent(
                f"names {', '.join(stray)}, not a current record with the same name,"
                f" birth date, sex and household in {self.code.full_name}",
                field="distinct_from",
                expected="the codes of the matching records the counter checked"
                + (f" ({', '.join(matches)})" if matches else " (none match: leave it out)"),
            )
        unchecked = [code for code in matches if code not in confirmed]
        if unchecked:
            raise DuplicateRegistration(
                f"{record.name.full}, born {record.birth_date.isoformat()}, is registered"
                f" here already with resident code {unchecked[0]}",
                resident_code=unchecked[0],
                matches=tuple(matches),
                field="住民票",
                expected="a person not registered in this municipality (住基法6条), or"
                f" distinct_from naming {', '.join(matches)} once checked to be others",
            )

    def _ask(
        self,
        uow: UnitOfWork,
        *,
        kind: str,
        peer: LocalGovernmentCode,
        subject: str,
        request_id: str,
        message: bytes,
    ) -> Envelope:
        """Send a counter request to another municipality and keep it open until its
        answer comes (:meth:`CounterStore.open_request
        <jukinet.storage.base.CounterStore.open_request>`), in the caller's unit of work."""
        inner = self.cs.relay_to(uow, NodeId.municipality(peer), message)
        self.store.counter.open_request(
            uow,
            CounterRequestRow(
                request_id=request_id,
                kind=kind,
                peer=peer.value,
                subject=subject,
                asked_on=self.clock.today(),
                request=encode_envelope(inner),
                answer=None,
                answered_on=None,
            ),
        )
        return inner

    def _audit(
        self, uow: UnitOfWork, action: str, subject: str | None, detail: dict[str, object]
    ) -> None:
        self.store.audit.append(
            uow,
            [
                AuditEntry(
                    at=self.clock.now(),
                    action=action,
                    subject=subject,
                    detail=json.dumps(detail, sort_keys=True).encode(),
                )
            ],
        )

    def _registered(self, history: ResidentHistory) -> ResidentRecord:
        record = history.current
        if record.is_removed:
            raise InvalidState(
                f"{record.internal_id} was removed ({record.removal.reason.label_ja if record.removal else ''})",
                field="住民票",
                expected="a registered resident",
            )
        return record

    def _returning(self, uow: UnitOfWork, code: ResidentCode) -> ResidentHistory | None:
        """The history of a person coming back (their 除票 here), or None for a newcomer.

        A person who lived here before keeps their internal number (宛名番号): the
        new registration is the next version of the same history.
        """
        row = self.store.register.current_by_code(code.value, uow)
        if row is None:
            return None
        if row.status == RecordStatus.REGISTERED.value:
            raise InvalidState(
                f"the person with code {code} is already registered here",
                field="住民票コード",
                expected="a person not registered in this municipality",
            )
        history = self._history_in(uow, row.internal_id)
        if history.current.resident_code != code:
            raise InvalidState(
                f"the code {code} was replaced here (住基法30条の4)",
                field="住民票コード",
                expected="the person's current code",
            )
        return history

    def _not_future(self, on: date, field: str) -> None:
        if not isinstance(on, date):
            raise TypeError(f"{field}: expected a date, got {type(on).__name__}")
        today = self.clock.today()
        if on > today:
            raise InvalidComponent(
                f"{on.isoformat()} is in the future",
                field=field,
                expected=f"on or before {today.isoformat()}",
            )

    def _address(self, rest: str) -> Address:
        return Address(municipality=self.code, rest=rest)

    def _new_internal_id(self, uow: UnitOfWork) -> str:
        for _ in range(100):
            candidate = f"{self._rng.randrange(10**12):012d}"
            if self.store.register.current(candidate, uow) is None:
                return candidate
        raise InvalidState("no free internal number found", field="宛名番号")  # pragma: no cover

    def _draw_code(self, uow: UnitOfWork) -> ResidentCode:
        code = self.store.code_pool.allocate(uow, self.code.value)
        if code is None:
            raise CodePoolExhausted(
                f"{self.code.full_name} has no unused resident code left",
                expected="codes designated by the national centre (住基法30条の2)",
            )
        return ResidentCode(code)

    # --- repr -------------------------------------------------------------------

    @never_raises
    def __repr__(self) -> str:
        """``<Municipality m:131016 東京都千代田区 on <SQLiteStore '/tmp/x.db' open>>``:
        the municipality and where its data lives (no storage read; counts are in
        :meth:`health` and ``store.register.count()``)."""
        return f"<Municipality {node_label(self.node_id)} on {self.store!r}>"


def _codes_checked(distinct_from: object) -> tuple[str, ...]:
    """The codes of a ``distinct_from`` override, checked: a
    :class:`~jukinet.domain.resident_code.ResidentCode`, a sequence of them, or None."""
    if distinct_from is None:
        return ()
    items = (distinct_from,) if isinstance(distinct_from, ResidentCode) else distinct_from
    if not isinstance(items, list | tuple) or not items:
        raise InvalidFormat(
            f"got {type(distinct_from).__name__}",
            field="distinct_from",
            expected="a ResidentCode, a non-empty list or tuple of them, or None",
        )
    codes: list[str] = []
    for item in items:
        if not isinstance(item, ResidentCode):
            raise InvalidFormat(
                f"got an item of type {type(item).__name__}",
                field="distinct_from",
                expected="ResidentCode items",
            )
        codes.append(item.value)
    return tuple(sorted(set(codes)))


def _override(confirmed: tuple[str, ...]) -> dict[str, object] | None:
    """The audit detail of a ``distinct_from`` override (None without one)."""
    return {"distinct_from": list(confirmed)} if confirmed else None
