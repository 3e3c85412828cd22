"""The municipality's communication server (コミュニケーションサーバ, CS).

The CS is the bridge between a municipality's own resident-record system
(既存住基システム) and the network. A vendor that keeps its own register uses the
CS alone: it feeds each identity notice in with :meth:`CommunicationServer.notify`
and answers the server's questions through the small :class:`RegisterSource`
interface. jukinet's own :class:`~jukinet.tiers.municipality.Municipality` is one
implementation of that interface.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import timedelta
from typing import Protocol, runtime_checkable

import attrs

from jukinet._log import event
from jukinet.domain.identity import IdentityInfo, IdentityNotice
from jukinet.domain.lg_code import LocalGovernmentCode
from jukinet.domain.resident_code import ResidentCode
from jukinet.errors import InvalidComponent, JukinetError, Misaddressed, NotFound
from jukinet.progress import ProgressCallback, check_callback
from jukinet.progress import report as report_progress
from jukinet.storage.base import Store, UnitOfWork
from jukinet.storage.records import AuditEntry, IdentityRow
from jukinet.tiers import relay, wire
from jukinet.tiers.clock import Clock
from jukinet.tiers.messages import CENTER, Envelope, NodeId, NodeKey, NodeKind, TrustStore
from jukinet.tiers.node import DEFAULT_BATCH, DEFAULT_MAX_AGE, Node
from jukinet.tiers.restore import RestoreReport, assemble, check_empty

__all__ = [
    "CORRECTION_ANSWERED",
    "CORRECTION_RECEIVED",
    "NOTICE_REFUSED",
    "RESTORE_BATCH",
    "CommunicationServer",
    "RegisterEntry",
    "RegisterSource",
]

CORRECTION_RECEIVED = "correction.received"
"""Audit action: a correction request arrived (its message is the detail)."""
CORRECTION_ANSWERED = "correction.answered"
"""Audit action: a correction request was answered (its id is the subject)."""
NOTICE_REFUSED = "notice.refused"
"""Audit action: an upper tier refused one of this municipality's notices (the
resident code is the subject, the :class:`~jukinet.tiers.wire.NoticeRefusal` the
detail)."""

_logger = logging.getLogger(__name__)

RESTORE_BATCH = 10_000
"""Identity versions per storage call of :meth:`CommunicationServer.restore` when it
reports progress (a person's whole history always goes in one call; without a
callback everything goes in one call)."""


def _code_batches(rows: Sequence[IdentityRow], size: int) -> Iterator[tuple[int, int]]:
    """``(start, end)`` slices of ``rows`` (ordered by code) of about ``size`` rows,
    never splitting one code's history."""
    start = 0
    while start < len(rows):
        end = min(start + max(size, 1), len(rows))
        while end < len(rows) and rows[end].resident_code == rows[end - 1].resident_code:
            end += 1
        yield start, end
        start = end


@attrs.frozen
class RegisterEntry:
    """One person as the register knows them now: identity information and whether
    the record is removed (除票)."""

    info: IdentityInfo
    removed: bool


@runtime_checkable
class RegisterSource(Protocol):
    """What the communication server asks of the register it serves."""

    def register_entries(self) -> Iterable[RegisterEntry]:
        """Every person the register has ever notified, as they stand now (for
        reconciliation with the upper tiers)."""
        ...

    def latest_notice(self, resident_code: ResidentCode) -> IdentityNotice | None:
        """The newest identity notice for the person with this code (to resend it)."""
        ...


class CommunicationServer(Node):
    """A municipality's node on the network.

    Sends identity notices to its prefecture (住基法30条の6第1項), takes resident
    codes designated by the national centre (30条の2) and correction requests
    routed by either upper tier (30条の35), and sends their outcomes back up.
    """

    def __init__(
        self,
        municipality: LocalGovernmentCode | str,
        store: Store,
        key: NodeKey,
        trust: TrustStore,
        clock: Clock,
        source: RegisterSource,
        *,
        batch_size: int = DEFAULT_BATCH,
        max_age: timedelta = DEFAULT_MAX_AGE,
    ) -> None:
        node = NodeId.municipality(municipality)
        super().__init__(node, store, key, trust, clock, batch_size=batch_size, max_age=max_age)
        self.source = source
        self.counter: Callable[[UnitOfWork, Envelope], None] | None = None
        """The counter services that take messages relayed from other municipalities
        (set by the :class:`~jukinet.tiers.municipality.Municipality`); they raise a
        :class:`~jukinet.errors.JukinetError` only before writing anything."""
        prefecture = node.prefecture_node
        assert prefecture is not None
        self.prefecture = prefecture

    @property
    def municipality(self) -> str:
        """The 6-digit code of the municipality."""
        return self.node_id.code

    def notify(self, notice: IdentityNotice, uow: UnitOfWork | None = None) -> int:
        """Queue an identity notice for the prefecture; returns its link sequence number.

        Pass ``uow`` to commit the notice together with the register change that
        caused it (the only safe way: a change and its notice are atomic); without
        one, the CS commits it in a unit of work of its own.
        """
        return self.notify_many([notice], uow)[0]

    def notify_many(
        self, notices: Sequence[IdentityNotice], uow: UnitOfWork | None = None
    ) -> range:
        """Queue several notices in order (see :meth:`notify`)."""
        for notice in notices:
            if not isinstance(notice, IdentityNotice):
                raise TypeError(f"expected an IdentityNotice, got {type(notice).__name__}")
            if notice.municipality != self.municipality:
                raise InvalidComponent(
                    f"the notice is about a resident of {notice.municipality}",
                    field="municipality",
                    expected=f"a resident of {self.municipality} (住基法30条の6)",
                )
        messages = [wire.encode_notice(n) for n in notices]
        event(
            _logger,
            logging.DEBUG,
            "notice.queued",
            node=self.node_id,
            destination=self.prefecture,
            count=len(messages),
        )
        if uow is not None:
            return self._send(uow, self.prefecture, messages)
        with self.store.unit_of_work() as own:
            seqs = self._send(own, self.prefecture, messages)
            self.store.audit.append(
                own,
                [
                    AuditEntry(
                        at=self.clock.now(),
                        action="notice.queued",
                        subject=n.resident_code.value,
                        detail=json.dumps({"reason": n.reason.value}).encode(),
                    )
                    for n in notices
                ],
            )
            return seqs

    def resend(self, codes: Iterable[ResidentCode]) -> range:
        """Notify again the newest notice of each person (repairs a divergence found by
        reconciliation; the upper tiers keep it as a new version)."""
        notices = []
        for code in codes:
            notice = self.source.latest_notice(code)
            if notice is not None:
                notices.append(notice)
        if not notices:
            return range(0)
        seqs = self.notify_many(notices)
        event(
            _logger,
            logging.INFO,
            "outbox.resent",
            node=self.node_id,
            destination=self.prefecture,
            cause="resend",
            count=len(notices),
            first_seq=seqs.start,
            last_seq=seqs.stop - 1,
        )
        return seqs

    def restore(
        self, envelopes: Sequence[Envelope], *, progress: ProgressCallback | None = None
    ) -> RestoreReport:
        """Restore identity information and links from the upper tiers' packages
        after this municipality lost its storage (see :mod:`jukinet.tiers.restore`).

        Every envelope is checked as a received one is (signature, recipient,
        freshness), the packages are checked and merged, and then, in one unit of
        work and only into an empty store, the identity versions are stored, the
        link to the prefecture resumes, the links from the prefecture and the
        centre are set, and the codes of the designations the centre sent and this
        municipality never acknowledged are recorded as designated and used
        (withdrawn: they may have been used before the storage was lost, and when
        the centre sends them again they are not taken as fresh). Any fault raises
        a typed error and changes nothing.

        A ``progress`` callback (:mod:`jukinet.progress`, task "restore", unit
        "versions") is called after each batch of about :data:`RESTORE_BATCH`
        identity versions stored and once at the end; one that raises leaves the
        store empty.
        """
        progress = check_callback(progress)
        envelopes = list(envelopes)
        event(_logger, logging.INFO, "restore.started", node=self.node_id, envelopes=len(envelopes))
        try:
            report = self._restore(envelopes, progress)
        except JukinetError as exc:
            event(
                _logger,
                logging.WARNING,
                "restore.refused",
                node=self.node_id,
                error=type(exc).__name__,
                reason=str(exc)[:500],
            )
            raise
        event(
            _logger,
            logging.INFO,
            "restore.finished",
            node=self.node_id,
            **attrs.asdict(report),
        )
        return report

    def _restore(
        self, envelopes: list[Envelope], progress: ProgressCallback | None
    ) -> RestoreReport:
        for envelope in envelopes:
            if not isinstance(envelope, Envelope):
                raise TypeError(f"expected Envelope items, got {type(envelope).__name__}")
            self._check_envelope(envelope)
        package = assemble(envelopes, municipality=self.node_id)
        report = package.report
        store = self.store
        with store.unit_of_work() as uow:
            check_empty(store, uow)
            rows = package.rows
            for start, end in _code_batches(
                rows, RESTORE_BATCH if progress is not None else len(rows)
            ):
                store.identities.load_histories(uow, rows[start:end])
                report_progress(progress, "restore", end, len(rows), "versions")
            if not rows:
                report_progress(progress, "restore", 0, 0, "versions")
            if package.withdrawn:
                pool = store.code_pool
                pool.designate(uow, self.municipality, package.withdrawn)
                for code in package.withdrawn:
                    pool.mark_used(uow, code)
            if report.prefecture_link:
                store.outbox.resume(uow, str(self.prefecture), report.prefecture_link)
            if report.from_prefecture:
                store.tracking.advance(uow, str(self.prefecture), 1, last=report.from_prefecture)
            if report.center_link:
                store.tracking.advance(uow, str(CENTER), 1, last=report.center_link)
            store.audit.append(
                uow,
                [
                    AuditEntry(
                        at=self.clock.now(),
                        action="restore.applied",
                        subject=self.municipality,
                        detail=json.dumps(attrs.asdict(report), sort_keys=True).encode(),
                    )
                ],
            )
        return report

    def _check_sender(self, sender: NodeId) -> None:
        if sender not in (CENTER, self.prefecture):
            raise Misaddressed(
                f"a municipality takes sequenced messages only from the centre and its"
                f" prefecture, not {sender}",
                field="sender",
                expected=f"{CENTER} or {self.prefecture}",
            )

    def _apply(self, uow: UnitOfWork, sender: NodeId, messages: Sequence[bytes]) -> None:
        for raw in messages:
            kind = wire.message_type(raw)
            if kind == wire.CODE_DESIGNATION and sender == CENTER:
                designation = wire.parse_code_designation(raw)
                if designation.municipality != self.municipality:
                    raise Misaddressed(
                        f"codes designated to {designation.municipality}",
                        field="municipality",
                        expected=self.municipality,
                    )
                codes = [c.value for c in designation.codes]
                if codes and self.store.code_pool.is_designated(codes[0], uow):
                    # Taken before: the centre sent it again because the acknowledgement
                    # was lost, and a restore withdrew its codes (jukinet.tiers.restore).
                    # A designation is one unit, so its first code tells.
                    continue
                self.store.code_pool.designate(uow, self.municipality, codes)
            elif kind == wire.NOTICE_REFUSED and sender == self.prefecture:
                refusal = wire.parse_notice_refusal(raw)
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
                            subject=refusal.resident_code,
                            detail=raw.partition(b"\n")[2],
                        )
                    ],
                )
            elif kind == relay.RELAY and sender == self.prefecture:
                self._take_relay(uow, sender, raw)
            elif kind == wire.CORRECTION:
                message = wire.parse_correction(raw)
                if message.filed_with != str(sender) or message.outcome is not None:
                    raise Misaddressed(
                        f"a correction request filed with {message.filed_with} from {sender}",
                        field="filed_with",
                        expected=str(sender),
                    )
                self.store.audit.append(
                    uow,
                    [
                        AuditEntry(
                            at=self.clock.now(),
                            action=CORRECTION_RECEIVED,
                            subject=message.request_id[:64],
                            detail=raw.partition(b"\n")[2],
                        )
                    ],
                )
            else:
                raise Misaddressed(
                    f"a municipality takes no {kind!r} from {sender}",
                    field="message",
                    expected="code designations from the centre, correction requests,"
                    " refusals of notices",
                )

    def relay_to(self, uow: UnitOfWork, destination: NodeId, message: bytes) -> Envelope:
        """Seal ``message`` for another municipality and queue it, in the caller's unit
        of work, for the upper tiers to relay (:mod:`jukinet.tiers.relay`); returns the
        sealed envelope, whose digest an answer names."""
        if destination.kind is not NodeKind.MUNICIPALITY or destination == self.node_id:
            raise Misaddressed(
                f"a counter message to {destination}",
                field="destination",
                expected="another municipality",
            )
        inner = self.seal_message(destination, relay.COUNTER, message)
        self._send(uow, self.prefecture, [relay.encode_relay(inner)])
        return inner

    def _take_relay(self, uow: UnitOfWork, sender: NodeId, raw: bytes) -> None:
        """A message relayed to this municipality: its inner seal is checked against
        the trust store and it goes to the counter services (:attr:`counter`). One that
        fails (or that they refuse) changes nothing else and is audited as
        ``relay.refused``; the link goes on."""
        refuse = relay.audit_refusal(self.store.audit.append, self.clock, node=self.node_id)
        try:
            inner = relay.parse_relay(raw)
            if inner.recipient != self.node_id:
                raise Misaddressed(
                    f"a relay for {inner.recipient}", field="recipient", expected=str(self.node_id)
                )
            self.trust.verify(inner)
            if self.counter is None:
                raise Misaddressed("this municipality keeps no counter services", field="relay")
            self.counter(uow, inner)
        except JukinetError as exc:
            refuse(uow, sender, str(exc))

    def refused_notices(self) -> list[wire.NoticeRefusal]:
        """The notices of this municipality that an upper tier refused, oldest first
        (who, which notice by digest, and why): the register and the network disagree
        about these people until the municipality acts (docs/tiers.md)."""
        return [
            wire.parse_notice_refusal(wire.NOTICE_REFUSED.encode() + b"\n" + record.entry.detail)
            for record in self._audit_records(NOTICE_REFUSED)
        ]

    # --- correction requests (住基法30条の35) -------------------------------------

    def corrections(self) -> list[wire.CorrectionMessage]:
        """Correction requests routed here by the upper tiers and not yet answered,
        oldest first."""
        answered = {record.entry.subject for record in self._audit_records(CORRECTION_ANSWERED)}
        pending = []
        for record in self._audit_records(CORRECTION_RECEIVED):
            message = wire.parse_correction(wire.CORRECTION.encode() + b"\n" + record.entry.detail)
            if message.request_id not in answered:
                pending.append(message)
        return pending

    def answer_correction(self, request_id: str, outcome: str) -> None:
        """Answer a correction request: the outcome (what was corrected, or why not)
        goes up to the prefecture, and on to the tier the resident filed with, where
        it is logged. Correcting the register itself is the register's own operation
        (e.g. :meth:`~jukinet.tiers.municipality.Municipality.correct`)."""
        if not isinstance(outcome, str) or not 1 <= len(outcome) <= 2000:
            raise InvalidComponent("the outcome", field="outcome", expected="1 to 2,000 characters")
        pending = {m.request_id: m for m in self.corrections()}
        request = pending.get(request_id)
        if request is None:
            raise NotFound(
                f"no pending correction request {request_id!r}",
                field="request_id",
                expected="one of corrections()",
            )
        answer = attrs.evolve(request, outcome=outcome)
        with self.store.unit_of_work() as uow:
            self._send(uow, self.prefecture, [wire.encode_correction(answer)])
            self.store.audit.append(
                uow,
                [
                    AuditEntry(
                        at=self.clock.now(),
                        action=CORRECTION_ANSWERED,
                        subject=request_id[:64],
                        detail=json.dumps({"outcome": outcome}, ensure_ascii=False).encode(),
                    )
                ],
            )
