"""The upper tiers: the prefecture server and the national centre.

Both keep every version of the identity information notified to them (住基法
30条の6第3項, 30条の7; 令30条の6・30条の7: 150 years) and never overwrite one.
A :class:`Prefecture` applies notices from the municipalities of its own
prefecture only and forwards them to the centre; the :class:`NationalCenter`
applies notices from every prefecture and designates pools of never-used resident
codes to municipalities (30条の2).
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import timedelta

from jukinet.domain import resident_code as _resident_code
from jukinet.domain.lg_code import LocalGovernmentCode
from jukinet.domain.resident_code import ResidentCode
from jukinet.errors import (
    CodePoolExhausted,
    IntegrityError,
    InvalidComponent,
    Misaddressed,
)
from jukinet.storage.base import Store, UnitOfWork
from jukinet.storage.records import AuditEntry, IdentityRow
from jukinet.tiers import restore, wire
from jukinet.tiers.clock import Clock
from jukinet.tiers.messages import CENTER, Envelope, NodeId, NodeKey, NodeKind, TrustStore
from jukinet.tiers.node import DEFAULT_BATCH, DEFAULT_MAX_AGE, Node

__all__ = ["NationalCenter", "Prefecture", "UpperTier"]


class UpperTier(Node, ABC):
    """What the prefecture and the centre share: applying identity notices."""

    #: Whether notices from this sender are decoded in full and their header checked.
    def _verify_from(self, sender: NodeId) -> bool:
        return sender.kind is NodeKind.MUNICIPALITY

    @abstractmethod
    def _may_notify(self, sender: NodeId, municipality: str) -> bool:
        """Whether ``sender`` may notify about residents of ``municipality``."""

    def _apply(self, uow: UnitOfWork, sender: NodeId, messages: Sequence[bytes]) -> None:
        verify = self._verify_from(sender)
        notices = []
        for raw in messages:
            if wire.message_type(raw) != wire.IDENTITY_NOTICE:
                raise Misaddressed(
                    f"{self.node_id} takes only identity notices from {sender}", field="message"
                )
            message = wire.parse_notice(raw, verify=verify)
            if not self._may_notify(sender, message.municipality):
                raise Misaddressed(
                    f"{sender} may not notify about residents of {message.municipality}",
                    field="municipality",
                )
            notices.append(message)
        codes = {m.resident_code for m in notices}
        codes.update(
            str(m.header["previous_resident_code"])
            for m in notices
            if m.header["previous_resident_code"]
        )
        identities = self.store.identities
        versions = identities.last_versions(sorted(codes), uow)
        rows: list[IdentityRow] = []
        for message in notices:
            previous = message.header["previous_resident_code"]
            if previous:
                # The old code is replaced (住基法30条の4): its history ends with a removal.
                version = versions.get(previous, 0) + 1
                versions[previous] = version
                rows.append(message.row(version, superseded_code=previous))
            version = versions.get(message.resident_code, 0) + 1
            versions[message.resident_code] = version
            rows.append(message.row(version))
        identities.append(uow, rows)
        self._forward(uow, messages)

    def _forward(self, uow: UnitOfWork, messages: Sequence[bytes]) -> None:
        """Pass applied notices on (the prefecture to the centre); nothing by default."""

    def restore_package(self, municipality: LocalGovernmentCode | str) -> list[Envelope]:
        """A signed package from which a municipality that lost its storage restores
        its identity information and its links (see :mod:`jukinet.tiers.restore`).

        The identity versions and this tier's link position are read in one unit
        of work; the making of the package is recorded in the audit log.
        """
        node = NodeId.municipality(municipality)
        self._check_backup_of(node)
        with self.store.unit_of_work() as uow:
            rows = restore.identity_versions(self.store.identities, node.code, uow)
            link = self._link_with(node, uow)
            now = self.clock.now()
            self.store.audit.append(
                uow,
                [
                    AuditEntry(
                        at=now,
                        action="restore.package",
                        subject=str(node),
                        detail=f'{{"link":{link},"versions":{len(rows)}}}'.encode(),
                    )
                ],
            )
        return restore.seal_package(self._key, node, rows, link=link, now=now, batch=self._batch)

    @abstractmethod
    def _check_backup_of(self, municipality: NodeId) -> None:
        """Raise :class:`~jukinet.errors.Misaddressed` unless this tier backs it up."""

    @abstractmethod
    def _link_with(self, municipality: NodeId, uow: UnitOfWork) -> int:
        """This tier's position on its link with the municipality."""


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
    ) -> None:
        super().__init__(
            NodeId.prefecture(prefecture_code),
            store,
            key,
            trust,
            clock,
            batch_size=batch_size,
            max_age=max_age,
        )

    @property
    def prefecture_code(self) -> str:
        """The two-digit prefecture code."""
        return self.node_id.code

    def _check_sender(self, sender: NodeId) -> None:
        if sender.kind is not NodeKind.MUNICIPALITY or sender.prefecture_node != self.node_id:
            raise Misaddressed(
                f"{self.node_id} takes notices only from its own municipalities, not {sender}",
                field="sender",
                expected=f"a municipality of prefecture {self.prefecture_code}",
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

    def _link_with(self, municipality: NodeId, uow: UnitOfWork) -> int:
        # The last notice applied from the municipality: its next one is this + 1.
        return self.store.tracking.position(str(municipality), uow)


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
    ) -> None:
        super().__init__(CENTER, store, key, trust, clock, batch_size=batch_size, max_age=max_age)
        self._rng = rng

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

    def _link_with(self, municipality: NodeId, uow: UnitOfWork) -> int:
        # What the municipality confirmed: anything later is sent to it again.
        return self.store.outbox.acknowledged(str(municipality), uow)

    def designate_codes(
        self, municipality: LocalGovernmentCode | str, count: int
    ) -> list[ResidentCode]:
        """Designate ``count`` fresh resident codes to a municipality (住基法30条の2).

        Every code is new nationwide: never designated before, to anyone (30条の2
        第2項). The designation is recorded and sent to the municipality in one unit
        of work.
        """
        node = NodeId.municipality(municipality)
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 100_000:
            raise InvalidComponent(f"{count!r} codes", field="count", expected="1 to 100,000")
        pool = self.store.code_pool
        chosen: list[ResidentCode] = []
        taken: set[ResidentCode] = set()

        class _Used:
            def __contains__(self, code: object) -> bool:
                return code in taken or (
                    isinstance(code, ResidentCode) and pool.is_designated(code.value)
                )

        used = _Used()
        for _ in range(count):
            code = _resident_code.generate(self._rng, used=used)
            taken.add(code)
            chosen.append(code)
        try:
            with self.store.unit_of_work() as uow:
                pool.designate(uow, node.code, [c.value for c in chosen])
                self._send(uow, node, [wire.encode_code_designation(node.code, chosen)])
                self.store.audit.append(
                    uow,
                    [
                        AuditEntry(
                            at=self.clock.now(),
                            action="codes.designate",
                            subject=str(node),
                            detail=f'{{"count":{count}}}'.encode(),
                        )
                    ],
                )
        except IntegrityError as exc:  # a racing designation took one of the codes
            raise CodePoolExhausted(f"designation collided, try again: {exc}") from exc
        return chosen
