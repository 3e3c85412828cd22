"""The upper tiers: the prefecture server and the national centre.

Both keep every version of the identity information notified to them (住基法
30条の6第3項, 30条の7) and never overwrite one; each version is stored with the
day it arrived, and :meth:`UpperTier.expire_history` deletes the versions whose
150 years are over (令30条の6・30条の7, :mod:`jukinet.domain.retention`).
A :class:`Prefecture` applies notices from the municipalities of its own
prefecture only and forwards them to the centre; the :class:`NationalCenter`
applies notices from every prefecture and designates pools of never-used resident
codes to municipalities (30条の2). From the notices it stores, the centre keeps two
feeds with positions: JPKI revocations (:meth:`NationalCenter.revocations`) and
resident-code changes for デジタル庁 (:meth:`NationalCenter.code_changes`, 30条の9の2
第2項).
"""

from __future__ import annotations

import json
import logging
import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import date, timedelta
from typing import ClassVar

import attrs

from jukinet._log import event
from jukinet.domain import codec, custody, jpki, linkage, retention
from jukinet.domain import resident_code as _resident_code
from jukinet.domain.agency import AgencyUseTable
from jukinet.domain.changes import ChangeKind, ChangeReason
from jukinet.domain.identity import IdentityInfo, IdentityNotice
from jukinet.domain.lg_code import LocalGovernmentCode
from jukinet.domain.resident_code import ResidentCode
from jukinet.errors import (
    CodePoolExhausted,
    IntegrityError,
    InvalidComponent,
    Misaddressed,
)
from jukinet.progress import ProgressCallback, check_callback, report
from jukinet.storage.base import Store, UnitOfWork
from jukinet.storage.records import (
    AuditEntry,
    IdentityRow,
    PendingNotice,
    PendingRecord,
    ScheduledItem,
)
from jukinet.tiers import card_messages, relay, restore, wire
from jukinet.tiers.card_office import CardOffice
from jukinet.tiers.clock import Clock
from jukinet.tiers.messages import CENTER, Envelope, NodeId, NodeKey, NodeKind, TrustStore
from jukinet.tiers.node import DEFAULT_BATCH, DEFAULT_MAX_AGE, FEED_PREFIX, Node
from jukinet.tiers.provision import ProvisionAnswer, ProvisionDesk

__all__ = [
    "DESIGNATION_BATCH",
    "DIGITAL_FEED",
    "HISTORY_EXPIRED",
    "JPKI_FEED",
    "NOTICE_REFUSED",
    "Applied",
    "NationalCenter",
    "Prefecture",
    "UpperTier",
]

DESIGNATION_BATCH = 1000
"""Codes chosen between two progress reports of :meth:`UpperTier.designate_codes`."""

JPKI_FEED = "jpki"
"""The centre's feed of JPKI revocation notices (read with :meth:`NationalCenter.revocations`)."""
DIGITAL_FEED = "digital"
"""The centre's feed of resident-code changes for デジタル庁 (住基法30条の9の2第2項; read
with :meth:`NationalCenter.code_changes`)."""
NOTICE_REFUSED = "notice.refused"
"""Audit action: a notice was refused (docs/tiers.md, invariant 4); the subject is
the node that sent it to this tier (at a prefecture the municipality, at the centre
the prefecture), the detail the :class:`~jukinet.tiers.wire.NoticeRefusal` (which
names the municipality the notice claims to come from)."""
UNEXPECTED_CONFIRMATION = "notice.unexpected"
"""Audit action at a prefecture: the centre confirmed a notice it had not referred
(recorded, not applied)."""
HISTORY_EXPIRED = "identity.expire"
"""Audit action: identity versions whose retention period was over were deleted
(:meth:`UpperTier.expire_history`; the detail holds the cut-off day and the count)."""
_DEADLINE = "jpki.move_in:"

_logger = logging.getLogger(__name__)


@attrs.frozen
class Applied:
    """A notice just stored, and where the person's previous version is (code, version)."""

    message: wire.NoticeMessage
    before: tuple[str, int] | None


@attrs.define
class _Pending:
    """A pending notice as the batch sees it (loaded from the store or just added)."""

    seq: int
    municipality: str
    codes: tuple[str, ...]
    message: wire.NoticeMessage
    referred: bool
    alive: bool = True
    digest: str = ""


class _Batch:
    """The notices of one envelope, judged and applied in one unit of work.

    Keeps, for the codes it meets, the tier's standing (:class:`custody.Standing`,
    updated as notices are accepted), the highest version, and the pending
    notices (indexed by code and by notice digest), so an envelope costs one bulk
    read of each: the tier reads every code of the envelope up front
    (:meth:`load`) and each notice's judgement is then linear in what it touches.
    """

    def __init__(self, tier: UpperTier, uow: UnitOfWork) -> None:
        self.tier = tier
        self.uow = uow
        self.store = tier.store
        self.today = tier.clock.today()  # the day the versions arrive (令30条の6・30条の7)
        self.incoming: list[tuple[NodeId, wire.NoticeMessage, bool, bytes]] = []
        self.forward: list[bytes] = []
        self.rows: list[IdentityRow] = []
        self.applied: list[Applied] = []
        self.current: dict[str, tuple[custody.Standing, bytes] | None] = {}
        self.versions: dict[str, int] = {}
        self.staged: dict[str, list[IdentityRow]] = {}
        self.pending: dict[int, _Pending] = {}
        self.by_code: dict[str, list[_Pending]] = {}
        self.by_digest: dict[str, list[_Pending]] = {}
        self.pending_loaded: set[str] = set()
        self.forgotten: list[int] = []  # pending notices to remove, at commit
        self.changed: set[str] = set()

    # --- reading, cached ------------------------------------------------------------

    def load(self, codes: Sequence[str]) -> None:
        """Read the standing, the highest version and the pending notices of the codes
        not read yet, in one call each."""
        # (a comprehension: ``set - dict.keys()`` would copy every key read so far)
        fresh = sorted({code for code in codes if code not in self.current})
        if fresh:
            rows = self.store.identities.current_many(fresh, self.uow)
            for code in fresh:
                row = rows.get(code)
                self.current[code] = None if row is None else (_standing(row), row.payload)
            self.versions.update(self.store.identities.last_versions(fresh, self.uow))
        unread = sorted({code for code in codes if code not in self.pending_loaded})
        if unread:
            for record in self.store.pending.find(unread, self.uow):
                if record.seq not in self.pending:
                    self.keep(_pending(record))
            self.pending_loaded.update(unread)

    def keep(self, entry: _Pending) -> None:
        """Note a pending notice, indexed by its codes and its digest (arrival order)."""
        entry.digest = entry.message.digest
        self.pending[entry.seq] = entry
        for code in entry.codes:
            self.by_code.setdefault(code, []).append(entry)
        self.by_digest.setdefault(entry.digest, []).append(entry)

    def standing(self, code: str | None, claim: custody.Claim) -> custody.Standing | None:
        if code is None:
            return None
        self.load([code])
        found = self.current[code]
        if found is None:
            return None
        standing, payload = found
        if (
            claim.reason is ChangeReason.DOMESTIC_MOVE_IN
            and standing.reason is ChangeReason.DOMESTIC_MOVE_OUT
        ):
            certificate = codec.from_stored(IdentityNotice, payload).certificate
            standing = attrs.evolve(standing, certificate=certificate)
        return standing

    def waiting(self, claim: custody.Claim, before: int | None = None) -> bool:
        """Whether an earlier notice the claim may follow is pending: at the centre one
        from the same municipality about one of its codes; at a prefecture any about
        one of its codes (its view of the person is not the centre's until it returns)."""
        for code in claim.codes:
            for entry in self.by_code.get(code, ()):
                if not entry.alive or (before is not None and entry.seq >= before):
                    continue
                if not self.tier.national or entry.municipality == claim.municipality:
                    return True
        return False

    def certificate_used(self, claim: custody.Claim) -> bool:
        """Whether a move-in already followed the move-out with the claim's certificate."""
        history = [
            *self.store.identities.history(claim.resident_code, self.uow),
            *self.staged.get(claim.resident_code, ()),
        ]
        # a move-out with this certificate that is not the person's last version was
        # followed by something: a move-in used the certificate
        return any(
            row.reason == ChangeReason.DOMESTIC_MOVE_OUT.value
            and row.municipality == claim.moved_from
            and codec.from_stored(IdentityNotice, row.payload).certificate == claim.certificate
            for row in history[:-1]
        )

    def judge(self, claim: custody.Claim, before: int | None = None) -> custody.Judgement:
        current = self.standing(claim.resident_code, claim)
        previous = self.standing(claim.previous_resident_code, claim)
        national = self.tier.national
        fresh = current is None and (
            claim.reason.kind is ChangeKind.ENTRY or claim.reason.changes_resident_code
        )
        judgement = custody.judge(
            claim,
            current,
            previous,
            waiting=self.waiting(claim, before),
            national=national,
            designated_to=(
                self.store.code_pool.designated_to(claim.resident_code, self.uow)
                if national and fresh
                else None
            ),
        )
        if (
            judgement.verdict is custody.Verdict.WAIT
            and national
            and claim.reason is ChangeReason.DOMESTIC_MOVE_IN
            and self.certificate_used(claim)
        ):
            return custody.judge(claim, current, previous, national=True, certificate_used=True)
        return judgement

    # --- taking notices ---------------------------------------------------------------

    def take(self, sender: NodeId, message: wire.NoticeMessage, *, referred: bool) -> None:
        """Judge one notice from the tier below and act on the verdict."""
        claim = message.claim
        if not self.tier._may_notify(sender, claim.municipality):
            self.tier._refused(
                self.uow,
                message,
                f"{sender} may not notify about residents of {claim.municipality}",
                to=sender,
            )
            return
        judgement = self.judge(claim)
        if judgement.verdict is custody.Verdict.ACCEPT:
            self.accept(message, referred=referred)
        elif judgement.verdict is custody.Verdict.WAIT:
            self.hold(message, referred=referred)
        else:
            self.tier._refused(self.uow, message, judgement.why, to=sender)

    def accept(self, message: wire.NoticeMessage, *, referred: bool, forward: bool = True) -> None:
        """Stage the notice's rows and note the person's new standing."""
        claim = message.claim
        code, previous = claim.resident_code, claim.previous_resident_code
        self.load(claim.codes)
        before: tuple[str, int] | None = None
        if previous is not None:
            # The old code is replaced (住基法30条の4): its history ends with a removal.
            version = self.versions.get(previous, 0) + 1
            self.stage(message.row(version, superseded_code=previous, received_on=self.today))
            before = (previous, version - 1) if version > 1 else None
            self.current[previous] = (
                custody.Standing(
                    municipality=claim.municipality,
                    reason=claim.reason,
                    removed=True,
                    event_date=claim.event_date,
                ),
                message.notice_bytes,
            )
        version = self.versions.get(code, 0) + 1
        self.stage(message.row(version, received_on=self.today))
        if previous is None and version > 1:
            before = (code, version - 1)
        self.current[code] = (
            custody.Standing(
                municipality=claim.municipality,
                reason=claim.reason,
                removed=bool(message.header["removed"]),
                event_date=claim.event_date,
            ),
            message.notice_bytes,
        )
        self.applied.append(Applied(message, before))
        self.changed.update(claim.codes)
        event(
            _logger,
            logging.DEBUG,
            "notice.accepted",
            node=self.tier.node_id,
            municipality=claim.municipality,
            reason=claim.reason.value,
            digest=message.digest,
        )
        self.tier._confirmed(self.uow, message, referred)
        if forward and not self.tier.national:
            self.forward.append(message.encode())

    def stage(self, row: IdentityRow) -> None:
        self.rows.append(row)
        self.versions[row.resident_code] = row.version
        self.staged.setdefault(row.resident_code, []).append(row)

    def hold(self, message: wire.NoticeMessage, *, referred: bool) -> None:
        """Keep the notice pending (and, at a prefecture, refer it to the centre)."""
        claim = message.claim
        payload = wire.encode_referral(message) if referred else message.encode()
        (seq,) = self.store.pending.add(
            self.uow,
            [
                PendingNotice(
                    sender=str(NodeId.municipality(claim.municipality)),
                    codes=claim.codes,
                    payload=payload,
                )
            ],
        )
        self.keep(_Pending(seq, claim.municipality, claim.codes, message, referred))
        event(
            _logger,
            logging.DEBUG,
            "notice.held",
            node=self.tier.node_id,
            municipality=claim.municipality,
            reason=claim.reason.value,
            digest=message.digest,
            pending_seq=seq,
            referred=not self.tier.national,
        )
        if not self.tier.national:
            self.forward.append(wire.encode_referral(message))

    def release(self) -> None:
        """At the centre: judge again the pending notices about the codes that changed,
        oldest first, until nothing more can be applied or refused."""
        if not self.tier.national:
            return
        progress = True
        while progress and self.changed:
            progress = False
            self.load(sorted(self.changed))
            for entry in sorted(self.pending.values(), key=lambda e: e.seq):
                if not entry.alive or self.changed.isdisjoint(entry.codes):
                    continue
                judgement = self.judge(entry.message.claim, before=entry.seq)
                if judgement.verdict is custody.Verdict.WAIT:
                    continue
                self.forget(entry)
                event(
                    _logger,
                    logging.DEBUG,
                    "notice.released",
                    node=self.tier.node_id,
                    municipality=entry.municipality,
                    digest=entry.message.digest,
                    pending_seq=entry.seq,
                    verdict=judgement.verdict.value,
                )
                if judgement.verdict is custody.Verdict.ACCEPT:
                    self.accept(entry.message, referred=entry.referred)
                else:
                    self.changed.update(entry.codes)  # those queued behind it may go on
                    prefecture = NodeId.municipality(entry.municipality).prefecture_node
                    assert prefecture is not None  # the prefecture that sent it
                    self.tier._refused(self.uow, entry.message, judgement.why, to=prefecture)
                progress = True
                break  # the standings changed: start again from the oldest

    # --- the centre's word, at a prefecture ------------------------------------------

    def settle(self, digest: str, codes: Sequence[str]) -> bool:
        """Forget the pending referral with this notice digest; whether there was one."""
        self.load(codes)
        for entry in self.by_digest.get(digest, ()):
            if entry.alive:
                self.forget(entry)
                return True
        return False

    def forget(self, entry: _Pending) -> None:
        """Drop a pending notice: at once for the batch, from the store at :meth:`commit`
        (one removal for the envelope; a later :meth:`load` skips it, being known)."""
        entry.alive = False
        self.forgotten.append(entry.seq)

    def commit(self) -> None:
        if self.forgotten:
            self.store.pending.remove(self.uow, self.forgotten)
        if self.rows:
            self.store.identities.append(self.uow, self.rows)
        if self.applied:
            self.tier._applied(self.uow, self.applied)


def _standing(row: IdentityRow) -> custody.Standing:
    return custody.Standing(
        municipality=row.municipality,
        reason=ChangeReason(row.reason),
        removed=row.removed,
        event_date=row.event_date,
    )


def _pending(record: PendingRecord) -> _Pending:
    payload = record.entry.payload
    referred = wire.message_type(payload) == wire.REFERRAL
    message = (
        wire.parse_referral(payload, verify=False)
        if referred
        else wire.parse_notice(payload, verify=False)
    )
    return _Pending(record.seq, message.municipality, record.entry.codes, message, referred)


class UpperTier(Node, ABC):
    """What the prefecture and the centre share: applying identity notices, restore
    packages, and a provision desk (:attr:`provision`)."""

    provision: ProvisionDesk
    """Agencies, provision, the provision log, residents' disclosure and correction
    requests (see :mod:`jukinet.tiers.provision`)."""

    def __init__(
        self,
        node_id: NodeId,
        store: Store,
        key: NodeKey,
        trust: TrustStore,
        clock: Clock,
        *,
        batch_size: int = DEFAULT_BATCH,
        max_age: timedelta = DEFAULT_MAX_AGE,
        uses: AgencyUseTable | None = None,
    ) -> None:
        super().__init__(node_id, store, key, trust, clock, batch_size=batch_size, max_age=max_age)
        self.provision = ProvisionDesk(node_id, store, clock, self._send, uses=uses)
        self.cards = CardOffice(self)

    national: ClassVar[bool] = False
    """Whether this tier sees every municipality and every code designation (the
    centre): only such a tier judges registrations (:func:`~jukinet.domain.custody.judge`)."""

    @abstractmethod
    def _may_notify(self, sender: NodeId, municipality: str) -> bool:
        """Whether ``sender`` may pass on notices about residents of ``municipality``."""

    def _apply(self, uow: UnitOfWork, sender: NodeId, messages: Sequence[bytes]) -> None:
        batch = _Batch(self, uow)
        parsed: list[tuple[wire.NoticeMessage, bool] | bytes] = []
        card_steps: list[bytes] = []
        relays: list[bytes] = []
        for raw in messages:
            kind = wire.message_type(raw)
            if kind == card_messages.CARD_STATUS:
                card_steps.append(raw)
            elif kind == relay.RELAY:
                relays.append(raw)
            elif kind == wire.CORRECTION:
                parsed.append(raw)
            elif kind == wire.IDENTITY_NOTICE:
                parsed.append((wire.parse_notice(raw, verify=True), False))
            elif kind == wire.REFERRAL and self.national:
                parsed.append((wire.parse_referral(raw, verify=True), True))
            else:
                raise Misaddressed(
                    f"{self.node_id} takes no {kind!r} from {sender}",
                    field="message",
                    expected="identity notices, card steps and correction outcomes",
                )
        # one bulk read of every code the envelope is about, not one per notice
        batch.load(
            [code for item in parsed if isinstance(item, tuple) for code in item[0].claim.codes]
        )
        for item in parsed:
            if isinstance(item, bytes):
                self._take_outcome(uow, sender, wire.parse_correction(item))
                batch.forward.append(item)
            else:
                message, referred = item
                batch.take(sender, message, referred=referred)
        batch.release()
        batch.commit()
        # card steps after the notices of the same envelope (a card follows its record)
        batch.forward.extend(self.cards.take(uow, sender, card_steps))
        if batch.forward:
            self._forward(uow, batch.forward)
        self._relay(uow, sender, relays)

    def _relay(self, uow: UnitOfWork, sender: NodeId, relays: Sequence[bytes]) -> None:
        """Pass municipality-to-municipality messages on (see :mod:`jukinet.tiers.relay`)."""
        if relays:
            relay.route(
                self.node_id,
                uow,
                sender,
                relays,
                send=self._send,
                refuse=relay.audit_refusal(self.store.audit.append, self.clock, node=self.node_id),
            )

    def _take_outcome(
        self, uow: UnitOfWork, sender: NodeId, message: wire.CorrectionMessage
    ) -> None:
        if message.outcome is None:
            raise Misaddressed("a correction request travels down, not up", field="message")
        if message.filed_with == str(self.node_id):
            self.provision.record_outcome(uow, message)

    def _refused(
        self, uow: UnitOfWork, message: wire.NoticeMessage, why: str, *, to: NodeId
    ) -> None:
        """Record a refused notice (audit, naming its sender) and tell the tier below
        it came from, ``to`` (docs/tiers.md, invariant 4)."""
        refusal = wire.NoticeRefusal(
            digest=message.digest,
            resident_code=message.resident_code,
            municipality=message.municipality,
            reason=str(message.header["reason"]),
            why=why,
        )
        self._record_notice_refusal(uow, refusal, sender=to)
        self._send(uow, to, [wire.encode_notice_refusal(refusal)])

    def _record_notice_refusal(
        self, uow: UnitOfWork, refusal: wire.NoticeRefusal, *, sender: NodeId
    ) -> None:
        """Audit a refusal; the subject is ``sender``, the node that sent the notice here
        (the municipality the notice names may be another: it may be forged)."""
        event(
            _logger,
            logging.WARNING,
            "notice.refused",
            node=self.node_id,
            sender=sender,
            **refusal.log_fields(),
        )
        self.store.audit.append(
            uow,
            [
                AuditEntry(
                    at=self.clock.now(),
                    action=NOTICE_REFUSED,
                    subject=str(sender),
                    detail=json.dumps(
                        attrs.asdict(refusal), sort_keys=True, ensure_ascii=False
                    ).encode(),
                )
            ],
        )

    def _confirmed(self, uow: UnitOfWork, message: wire.NoticeMessage, referred: bool) -> None:
        """A notice just accepted: the centre confirms a referred one to its prefecture."""

    def _held(self, uow: UnitOfWork, message: wire.NoticeMessage) -> None:
        """A notice kept pending: a prefecture refers it to the centre."""

    def pending_notices(self) -> int:
        """How many notices this tier holds pending (at the centre: waiting for the
        notice they follow; at a prefecture: referred to the centre)."""
        return self.store.pending.count()

    def _applied(self, uow: UnitOfWork, applied: Sequence[Applied]) -> None:
        """What follows from notices just stored (the centre's JPKI feed); nothing by default."""

    def _forward(self, uow: UnitOfWork, messages: Sequence[bytes]) -> None:
        """Pass applied notices on (the prefecture to the centre); nothing by default."""

    def provide(
        self, request: Envelope, *, progress: ProgressCallback | None = None
    ) -> ProvisionAnswer:
        """Answer an agency's signed request (see :meth:`ProvisionDesk.provide
        <jukinet.tiers.provision.ProvisionDesk.provide>`, also for ``progress``)."""
        return self.provision.provide(request, progress=progress)

    def restore_package(self, municipality: LocalGovernmentCode | str) -> list[Envelope]:
        """A signed package from which a municipality that lost its storage restores
        its identity information and its links (see :mod:`jukinet.tiers.restore`).

        The identity versions, this tier's link positions and the code
        designations sent to the municipality after the last message it
        acknowledged (only the centre designates) are read in one unit of work;
        the making of the package is recorded in the audit log.
        """
        node = NodeId.municipality(municipality)
        self._check_backup_of(node)
        with self.store.unit_of_work() as uow:
            rows = restore.identity_versions(self.store.identities, node.code, uow)
            applied = self.store.tracking.position(str(node), uow)
            confirmed = self.store.outbox.acknowledged(str(node), uow)
            designations = restore.unconfirmed_designations(
                self.store.outbox, str(node), after=confirmed, uow=uow
            )
            now = self.clock.now()
            counts = {
                "applied": applied,
                "confirmed": confirmed,
                "designations": len(designations),
                "versions": len(rows),
            }
            self.store.audit.append(
                uow,
                [
                    AuditEntry(
                        at=now,
                        action="restore.package",
                        subject=str(node),
                        detail=json.dumps(counts).encode(),
                    )
                ],
            )
        event(
            _logger,
            logging.INFO,
            "restore.package",
            node=self.node_id,
            municipality=node.code,
            **counts,
        )
        return restore.seal_package(
            self._key,
            node,
            rows,
            applied=applied,
            confirmed=confirmed,
            now=now,
            batch=self._batch,
            designations=designations,
        )

    def expire_history(self) -> int:
        """Delete the identity versions whose retention period is over (令30条の6・
        令30条の7); returns how many went. Run it, say, daily.

        A version notified after a 記載 or 修正 is kept until 150 years after a newer
        notice for the same person arrived; one notified after a 消除, 150 years from
        that notice (see :meth:`IdentityStore.expire
        <jukinet.storage.base.IdentityStore.expire>`, which deletes each code's
        oldest versions only). The cut-off is
        :func:`~jukinet.domain.retention.expiry_cutoff` of the clock's today: a
        period that ran from day D is over from D + 150 years + 1 day. Versions
        whose day is unknown (stored before schema version 3) are never deleted by
        their own day. The deletion and an audit entry (:data:`HISTORY_EXPIRED`,
        with the cut-off and the count) commit in one unit of work.
        """
        cutoff = retention.expiry_cutoff(self.clock.today())
        with self.store.unit_of_work() as uow:
            count = self.store.identities.expire(uow, received_before=cutoff)
            self.store.audit.append(
                uow,
                [
                    AuditEntry(
                        at=self.clock.now(),
                        action=HISTORY_EXPIRED,
                        detail=json.dumps(
                            {"count": count, "received_before": cutoff.isoformat()},
                            sort_keys=True,
                        ).encode(),
                    )
                ],
            )
        event(
            _logger,
            logging.INFO,
            "deadlines.run",
            node=self.node_id,
            task=HISTORY_EXPIRED,
            count=count,
            received_before=cutoff.isoformat(),
        )
        return count

    @abstractmethod
    def _check_backup_of(self, municipality: NodeId) -> None:
        """Raise :class:`~jukinet.errors.Misaddressed` unless this tier backs it up."""


class Prefecture(UpperTier):
    """A prefecture server (都道府県サーバ): applies its municipalities' notices, forwards them.

    Receives notices only from municipalities of its own prefecture, about their
    own residents (住基法30条の6), and acknowledgements from the centre.
    """

    def __init__(
        self,
        prefecture_code: str,
        store: Store,
        key: NodeKey,
        trust: TrustStore,
        clock: Clock,
        *,
        batch_size: int = DEFAULT_BATCH,
        max_age: timedelta = DEFAULT_MAX_AGE,
        uses: AgencyUseTable | None = None,
    ) -> None:
        super().__init__(
            NodeId.prefecture(prefecture_code),
            store,
            key,
            trust,
            clock,
            batch_size=batch_size,
            max_age=max_age,
            uses=uses,
        )

    @property
    def prefecture_code(self) -> str:
        """The two-digit prefecture code."""
        return self.node_id.code

    def _check_sender(self, sender: NodeId) -> None:
        if sender == CENTER:
            return  # the centre's word on referred notices
        if sender.kind is not NodeKind.MUNICIPALITY or sender.prefecture_node != self.node_id:
            raise Misaddressed(
                f"{self.node_id} takes notices only from its own municipalities, not {sender}",
                field="sender",
                expected=f"a municipality of prefecture {self.prefecture_code} or the centre",
            )

    def _apply(self, uow: UnitOfWork, sender: NodeId, messages: Sequence[bytes]) -> None:
        if sender != CENTER:
            super()._apply(uow, sender, messages)
            return
        # The centre's verdicts on the notices this prefecture referred to it, and
        # messages relayed to this prefecture's municipalities.
        relays = [raw for raw in messages if wire.message_type(raw) == relay.RELAY]
        if relays:
            messages = [raw for raw in messages if wire.message_type(raw) != relay.RELAY]
        batch = _Batch(self, uow)
        words: list[wire.NoticeMessage | wire.NoticeRefusal | str] = []
        for raw in messages:
            kind = wire.message_type(raw)
            if kind == wire.IDENTITY_NOTICE:
                words.append(wire.parse_notice(raw, verify=False))
            elif kind == wire.NOTICE_REFUSED:
                words.append(wire.parse_notice_refusal(raw))
            else:
                words.append(kind)
        # one bulk read of every code the envelope is about, not one per notice
        batch.load(
            [
                code
                for word in words
                if not isinstance(word, str)
                for code in (
                    word.claim.codes
                    if isinstance(word, wire.NoticeMessage)
                    else [word.resident_code]
                )
            ]
        )
        for raw, word in zip(messages, words, strict=True):
            if isinstance(word, wire.NoticeMessage):
                message = word
                if batch.settle(message.digest, message.claim.codes):
                    batch.accept(message, referred=False, forward=False)
                else:
                    self._unexpected(uow, message.resident_code, message.digest)
            elif isinstance(word, wire.NoticeRefusal):
                refusal = word
                batch.settle(refusal.digest, [refusal.resident_code])
                origin = NodeId.municipality(refusal.municipality)
                self._record_notice_refusal(uow, refusal, sender=origin)
                if origin.prefecture_node == self.node_id:
                    self._send(uow, origin, [raw])
            else:
                raise Misaddressed(
                    f"{self.node_id} takes no {word!r} from the centre",
                    field="message",
                    expected="confirmed notices, refusals and relayed messages",
                )
        batch.commit()
        self._relay(uow, sender, relays)

    def _unexpected(self, uow: UnitOfWork, code: str, digest: str) -> None:
        """The centre confirmed a notice this prefecture did not refer: recorded, not applied."""
        event(
            _logger,
            logging.WARNING,
            "notice.unexpected",
            node=self.node_id,
            sender=CENTER,
            resident_code=code,
            digest=digest,
        )
        self.store.audit.append(
            uow,
            [
                AuditEntry(
                    at=self.clock.now(),
                    action=UNEXPECTED_CONFIRMATION,
                    subject=str(CENTER),
                    detail=json.dumps({"digest": digest, "resident_code": code}).encode(),
                )
            ],
        )

    def _may_notify(self, sender: NodeId, municipality: str) -> bool:
        return municipality == sender.code

    def _forward(self, uow: UnitOfWork, messages: Sequence[bytes]) -> None:
        self._send(uow, CENTER, messages)  # 住基法30条の7: on to the national centre

    def _check_backup_of(self, municipality: NodeId) -> None:
        if municipality.prefecture_node != self.node_id:
            raise Misaddressed(
                f"{self.node_id} holds no backup of {municipality}",
                field="municipality",
                expected=f"a municipality of prefecture {self.prefecture_code}",
            )


class NationalCenter(UpperTier):
    """The national centre (全国サーバ, J-LIS): every prefecture's notices; code designation."""

    def __init__(
        self,
        store: Store,
        key: NodeKey,
        trust: TrustStore,
        clock: Clock,
        rng: random.Random,
        *,
        batch_size: int = DEFAULT_BATCH,
        max_age: timedelta = DEFAULT_MAX_AGE,
        uses: AgencyUseTable | None = None,
    ) -> None:
        super().__init__(
            CENTER, store, key, trust, clock, batch_size=batch_size, max_age=max_age, uses=uses
        )
        self._rng = rng

    national = True

    def answer_card_check(self, envelope: Envelope) -> Envelope:
        """Answer a municipality counter's check of a presented card (see
        :meth:`CardOffice.answer <jukinet.tiers.card_office.CardOffice.answer>`)."""
        return self.cards.answer(envelope)

    def _confirmed(self, uow: UnitOfWork, message: wire.NoticeMessage, referred: bool) -> None:
        """Send a referred notice, now applied, back to the prefecture that referred it."""
        if referred:
            prefecture = NodeId.municipality(message.municipality).prefecture_node
            assert prefecture is not None
            self._send(uow, prefecture, [message.encode()])

    def _check_sender(self, sender: NodeId) -> None:
        if sender.kind is not NodeKind.PREFECTURE:
            raise Misaddressed(
                f"the national centre takes notices only from prefectures, not {sender}",
                field="sender",
                expected="a prefecture (p:NN)",
            )

    def _may_notify(self, sender: NodeId, municipality: str) -> bool:
        return municipality[:2] == sender.code

    def _check_backup_of(self, municipality: NodeId) -> None:
        """The centre holds every municipality's identity information."""

    # --- the JPKI revocation feed (JPKI法12条, 31条) ------------------------------

    def _applied(self, uow: UnitOfWork, applied: Sequence[Applied]) -> None:
        """Derive revocations of JPKI certificates from the notices just stored, and
        keep the 30-day move-in deadlines (see :mod:`jukinet.domain.jpki`)."""
        self.cards.follow_moves(
            uow,
            [
                (
                    item.message.claim.resident_code,
                    item.message.claim.municipality,
                    item.message.claim.event_date or self.clock.today(),
                )
                for item in applied
                if item.message.claim.reason is ChangeReason.DOMESTIC_MOVE_IN
            ],
        )
        feed: list[bytes] = []
        changes: list[bytes] = []
        schedule = self.store.schedule
        for item in applied:
            reason = ChangeReason(item.message.header["reason"])
            if item.before is None and reason.kind is ChangeKind.ENTRY:
                continue  # a first registration revokes nothing (no decoding needed)
            notice = item.message.notice()
            change = linkage.code_change(notice)
            if change is not None:
                changes.append(codec.to_bytes(change))
            previous = (
                self._previous_info(uow, item.before, notice)
                if item.before and notice.kind is not ChangeKind.REMOVAL
                else None
            )
            feed.extend(codec.to_bytes(r) for r in jpki.revocations(notice, previous))
            key = f"{_DEADLINE}{notice.resident_code.value}"
            deadline = jpki.move_in_deadline(notice)
            if deadline is not None:
                current = self.store.identities.current(notice.resident_code.value, uow)
                if current is not None and not current.removed:
                    continue  # the move-in already arrived (links are independent)
                schedule.cancel(uow, [key])
                data = {"deadline": deadline.isoformat(), "reason": reason.value}
                schedule.add(
                    uow,
                    [
                        ScheduledItem(
                            key=key,
                            due=deadline + timedelta(days=1),  # revoked once the deadline passed
                            payload=json.dumps(data, sort_keys=True).encode(),
                        )
                    ],
                )
            elif reason.kind is ChangeKind.ENTRY:
                schedule.cancel(uow, [key])  # moved in: the deadline is met
        if feed:
            self.store.outbox.append(uow, FEED_PREFIX + JPKI_FEED, feed)
        if changes:
            self.store.outbox.append(uow, FEED_PREFIX + DIGITAL_FEED, changes)

    def _previous_info(
        self, uow: UnitOfWork, where: tuple[str, int], notice: IdentityNotice
    ) -> IdentityInfo | None:
        """The person's identity information before ``notice``: the newest earlier
        version about the same code. Links are independent, so a late notice about a
        replaced code can follow the version that replaced it; that one is skipped."""
        code, version = where
        expected = notice.previous_resident_code or notice.resident_code
        # the history may start above version 1 (the oldest expired, 令30条の6・30条の7)
        earlier = [r for r in self.store.identities.history(code, uow) if r.version <= version]
        for row in reversed(earlier):
            info = codec.from_bytes(IdentityNotice, row.payload).info
            if info.resident_code == expected:
                return info
        return None

    def run_deadlines(self, today: date | None = None) -> int:
        """Revoke the user-authentication certificate of everyone whose 30 days after a
        planned move-out passed before ``today`` with no move-in notice (JPKI法31条2号);
        returns how many. Run it daily."""
        today = self.clock.today() if today is None else today
        count = 0
        schedule = self.store.schedule
        while True:
            with self.store.unit_of_work() as uow:
                due = schedule.due(today, limit=1000, uow=uow)
                if not due:
                    event(
                        _logger,
                        logging.INFO,
                        "deadlines.run",
                        node=self.node_id,
                        task="jpki.move_in",
                        today=today.isoformat(),
                        count=count,
                    )
                    return count
                feed = []
                for item in due:
                    data = json.loads(item.payload)
                    feed.append(
                        codec.to_bytes(
                            jpki.no_move_in(
                                ResidentCode(item.key.removeprefix(_DEADLINE)),
                                ChangeReason(data["reason"]),
                                date.fromisoformat(data["deadline"]),
                            )
                        )
                    )
                self.store.outbox.append(uow, FEED_PREFIX + JPKI_FEED, feed)
                schedule.cancel(uow, [item.key for item in due])
                count += len(due)

    def revocations(
        self, *, after: int = 0, limit: int = 1000
    ) -> list[tuple[int, jpki.RevocationNotice]]:
        """The JPKI feed: revocation notices after position ``after``, with their
        positions, for the certification service to resume from."""
        return [
            (entry.seq, codec.from_bytes(jpki.RevocationNotice, entry.payload))
            for entry in self.read_feed(JPKI_FEED, after=after, limit=limit)
        ]

    def confirm_revocations(self, position: int) -> None:
        """Record that the certification service processed the feed up to ``position``."""
        self.confirm_feed(JPKI_FEED, position)

    # --- resident-code changes for デジタル庁 (住基法30条の9の2第2項) -------------

    def code_changes(
        self, *, after: int = 0, limit: int = 1000
    ) -> list[tuple[int, linkage.CodeChangeNotice]]:
        """The feed for デジタル庁: every replaced resident code with the new one
        (:mod:`jukinet.domain.linkage`), after position ``after``, with positions.

        A change enters the feed in the unit of work that stores its notice, so the
        feed misses none and repeats none.
        """
        return [
            (entry.seq, codec.from_stored(linkage.CodeChangeNotice, entry.payload))
            for entry in self.read_feed(DIGITAL_FEED, after=after, limit=limit)
        ]

    def confirm_code_changes(self, position: int) -> None:
        """Record that デジタル庁 processed the code-change feed up to ``position``."""
        self.confirm_feed(DIGITAL_FEED, position)

    def designate_codes(
        self,
        municipality: LocalGovernmentCode | str,
        count: int,
        *,
        progress: ProgressCallback | None = None,
    ) -> list[ResidentCode]:
        """Designate ``count`` fresh resident codes to a municipality (住基法30条の2).

        Every code is new nationwide: never designated before, to anyone (30条の2
        第2項). The designation is recorded and sent to the municipality in one unit
        of work, as as many messages as it needs (each within the outbox's payload
        limit, :func:`~jukinet.tiers.wire.encode_code_designations`).

        A ``progress`` callback (:mod:`jukinet.progress`, task "designation", unit
        "codes") hears after every :data:`DESIGNATION_BATCH` codes chosen and once
        in the unit of work when all are recorded; one that raises leaves nothing
        designated.
        """
        node = NodeId.municipality(municipality)
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 100_000:
            raise InvalidComponent(f"{count!r} codes", field="count", expected="1 to 100,000")
        progress = check_callback(progress)
        pool = self.store.code_pool
        chosen: list[ResidentCode] = []
        taken: set[ResidentCode] = set()

        class _Used:
            def __contains__(self, code: object) -> bool:
                return code in taken or (
                    isinstance(code, ResidentCode) and pool.is_designated(code.value)
                )

        used = _Used()
        for n in range(1, count + 1):
            code = _resident_code.generate(self._rng, used=used)
            taken.add(code)
            chosen.append(code)
            if n % DESIGNATION_BATCH == 0 and n < count:
                report(progress, "designation", n, count, "codes")
        try:
            with self.store.unit_of_work() as uow:
                pool.designate(uow, node.code, [c.value for c in chosen])
                messages = wire.encode_code_designations(node.code, chosen)
                self._send(uow, node, messages)
                report(progress, "designation", count, count, "codes")
                self.store.audit.append(
                    uow,
                    [
                        AuditEntry(
                            at=self.clock.now(),
                            action="codes.designate",
                            subject=str(node),
                            detail=f'{{"count":{count},"messages":{len(messages)}}}'.encode(),
                        )
                    ],
                )
        except IntegrityError as exc:  # a racing designation took one of the codes
            event(
                _logger,
                logging.WARNING,
                "designation.collided",
                node=self.node_id,
                municipality=node.code,
                count=count,
            )
            raise CodePoolExhausted(f"designation collided, try again: {exc}") from exc
        event(
            _logger,
            logging.INFO,
            "designation.sent",
            node=self.node_id,
            municipality=node.code,
            count=count,
            messages=len(messages),
        )
        return chosen
