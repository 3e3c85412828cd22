"""The plain-dict model the stateful test compares a store with."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import attrs

from jukinet.storage.records import (
    GENESIS,
    AgencyRow,
    AuditEntry,
    IdentityRow,
    ProvisionEntry,
    ProvisionRecord,
    RegisterRow,
    ScheduledItem,
    chain_hash,
)
from jukinet.testing.conformance._rows import (
    RowFactory,
    _on,
)

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
