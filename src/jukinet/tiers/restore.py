"""Disaster recovery: a municipality restores its identity information from the upper tiers.

The prefecture and the national centre keep every version of the identity
information notified to them (住基法30条の6第3項, 30条の7), which makes them the
backup of the municipalities' registers. When a municipality loses its storage:

1. its prefecture and the centre each build a signed *restore package* for it
   (:meth:`~jukinet.tiers.upper.UpperTier.restore_package`): every version of the
   identity information of each person the municipality ever notified about, up
   to the municipality's newest word on that person, and where their link with
   the municipality stands;
2. the municipality's communication server checks and applies both packages in
   one unit of work (:meth:`~jukinet.tiers.cs.CommunicationServer.restore`): the
   identity versions go into its (empty) store, the link to the prefecture
   resumes after the last notice the prefecture applied, and the links from the
   prefecture and the centre resume after the last message the municipality had
   acknowledged on each;
3. the register is then remade person by person (再製, 住基法施行令16条) with
   :meth:`~jukinet.tiers.municipality.Municipality.remake`, which takes the items
   the upper tiers never held (household, domicile …) from the caller and checks
   the identity items against the restored ones.

Both packages are needed: the identity information could come from either, but
each tier alone knows one link's position. Without the prefecture's, the
municipality's next notices would be numbered from 1 and taken for duplicates;
without the centre's, it could not take the centre's next designation. The two
copies are cross-checked: a version both hold must be the same bytes.

Codes designated to the municipality but unused when it was lost are not given
back: the centre never designates them again (30条の2第2項) and designates fresh
ones on request.

A tier deletes versions whose 150 years are over (令30条の6・30条の7,
:meth:`~jukinet.tiers.upper.UpperTier.expire_history`), always a code's oldest, so
a history in a package may start above version 1, and the two packages may start
a code at different versions; the municipality's copy then starts where the
longer of the two does. The day a tier received each version does not travel:
the restored copy leaves it unknown.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

import attrs

from jukinet.errors import InvalidComponent, InvalidState, Misaddressed, TamperingDetected
from jukinet.storage.base import IdentityStore, Store, UnitOfWork
from jukinet.storage.records import IdentityRow
from jukinet.tiers import wire
from jukinet.tiers.messages import CENTER, Envelope, NodeId, NodeKey

__all__ = [
    "RestoreReport",
    "RestoredPackage",
    "assemble",
    "check_empty",
    "identity_versions",
    "seal_package",
]


@attrs.frozen
class RestoreReport:
    """What a restore applied."""

    municipality: str
    #: The package sources with the time each package was made.
    sources: dict[str, str]
    #: Resident codes restored, and how many versions in all.
    codes: int
    versions: int
    #: Codes whose newest version from this municipality says they live here.
    registered: int
    #: The link to the prefecture resumes after this sequence number.
    prefecture_link: int
    #: Messages from the prefecture are taken after this sequence number.
    from_prefecture: int
    #: Messages from the centre are taken after this sequence number.
    center_link: int


@attrs.frozen
class RestoredPackage:
    """The checked, merged content of the packages: rows in append order, and links."""

    rows: tuple[IdentityRow, ...]
    report: RestoreReport


def identity_versions(
    identities: IdentityStore, municipality: str, uow: UnitOfWork | None = None
) -> list[IdentityRow]:
    """What a restore package carries for ``municipality``.

    For every code the municipality ever notified about (and of which this tier
    still keeps a version): every kept version up to the municipality's newest
    version of that code, from the oldest kept one (1 unless older ones expired),
    so versions from an earlier municipality come along; versions notified after
    the person left are not included.
    """
    out: list[IdentityRow] = []
    after: str | None = None
    while True:
        newest = identities.scan(municipality=municipality, after=after, limit=1000, uow=uow)
        if not newest:
            return out
        for row in newest:
            history = identities.history(row.resident_code, uow)
            out.extend(r for r in history if r.version <= row.version)
        after = newest[-1].resident_code


def seal_package(
    key: NodeKey,
    municipality: NodeId,
    rows: Sequence[IdentityRow],
    *,
    applied: int,
    confirmed: int,
    now: datetime,
    batch: int,
) -> list[Envelope]:
    """Sign a restore package: parts of at most ``batch`` versions, each headed."""
    chunks = [rows[i : i + batch] for i in range(0, len(rows), batch)] or [[]]
    envelopes = []
    for number, chunk in enumerate(chunks, start=1):
        header = wire.RestoreHeader(
            municipality=municipality.code,
            source=str(key.node),
            as_of=now.isoformat(),
            part=number,
            parts=len(chunks),
            versions=len(rows),
            applied=applied,
            confirmed=confirmed,
        )
        payloads = [wire.encode_restore_header(header)]
        payloads += [wire.encode_identity_version(row) for row in chunk]
        envelopes.append(
            key.seal(
                municipality,
                first_seq=1,
                payload_type=wire.RESTORE,
                payloads=payloads,
                sent_at=now,
            )
        )
    return envelopes


def assemble(envelopes: Sequence[Envelope], *, municipality: NodeId) -> RestoredPackage:
    """Check and merge the packages (envelopes already verified by the receiver).

    Every part of the prefecture's and of the centre's package must be there,
    once; every header must name this municipality and its sender; every version
    is decoded in full; a version in both packages must be the same; each code's
    versions in a package must run on without a gap, from any first version (the
    older ones may have expired at that tier). Should the two packages' versions of
    a code not meet (one tier expired versions newer than all the other one has
    yet received), the older run is left out: those versions are past their years
    too.
    """
    prefecture = municipality.prefecture_node
    if prefecture is None:
        raise Misaddressed(f"{municipality} is not a municipality", field="municipality")
    parts: dict[NodeId, dict[int, tuple[wire.RestoreHeader, list[IdentityRow]]]] = defaultdict(dict)
    for envelope in envelopes:
        if envelope.payload_type != wire.RESTORE:
            raise Misaddressed(
                f"a {envelope.payload_type!r} envelope is not part of a restore package",
                field="payload_type",
                expected=wire.RESTORE,
            )
        if envelope.sender not in (prefecture, CENTER):
            raise Misaddressed(
                f"{envelope.sender} holds no backup of {municipality}",
                field="sender",
                expected=f"{prefecture} or {CENTER}",
            )
        header = wire.parse_restore_header(envelope.payloads[0])
        if header.municipality != municipality.code or header.source != str(envelope.sender):
            raise Misaddressed(
                f"the package is from {header.source} for {header.municipality}",
                field="restore_header",
                expected=f"from {envelope.sender} for {municipality.code}",
            )
        if header.part in parts[envelope.sender]:
            raise InvalidComponent(
                f"part {header.part} of {envelope.sender}'s package came twice",
                field="envelopes",
                expected="each part once",
            )
        rows = [wire.parse_identity_version(raw) for raw in envelope.payloads[1:]]
        parts[envelope.sender][header.part] = (header, rows)

    links: dict[NodeId, tuple[int, int]] = {}
    sources: dict[str, str] = {}
    merged: dict[tuple[str, int], IdentityRow] = {}
    for source in (prefecture, CENTER):
        got = parts.get(source)
        if not got:
            raise InvalidComponent(
                f"the package of {source} is missing",
                field="envelopes",
                expected=f"the packages of both {prefecture} and {CENTER}",
            )
        first = got[min(got)][0]
        for header, _rows in got.values():
            if (header.parts, header.versions, header.applied, header.confirmed, header.as_of) != (
                first.parts,
                first.versions,
                first.applied,
                first.confirmed,
                first.as_of,
            ):
                raise InvalidComponent(
                    f"the parts from {source} belong to different packages",
                    field="envelopes",
                    expected="the parts of one package",
                )
        if sorted(got) != list(range(1, first.parts + 1)):
            raise InvalidComponent(
                f"{source}'s package has parts {sorted(got)}",
                field="envelopes",
                expected=f"parts 1 to {first.parts}",
            )
        rows = [row for number in sorted(got) for row in got[number][1]]
        if len(rows) != first.versions:
            raise TamperingDetected(
                f"{source}'s package holds {len(rows)} versions, its header says {first.versions}",
                field="envelopes",
            )
        _check_histories(rows, source)
        for row in rows:
            seen = merged.setdefault((row.resident_code, row.version), row)
            if seen != row:
                raise TamperingDetected(
                    f"version {row.version} of {row.resident_code} differs between the packages",
                    field="envelopes",
                )
        links[source] = (first.applied, first.confirmed)
        sources[str(source)] = first.as_of

    ordered = _without_gaps(sorted(merged.values(), key=lambda r: (r.resident_code, r.version)))
    here: dict[str, IdentityRow] = {}  # each code's newest version from this municipality
    for row in ordered:
        if row.municipality == municipality.code:
            here[row.resident_code] = row
    registered = sum(1 for row in here.values() if not row.removed)
    report = RestoreReport(
        municipality=municipality.code,
        sources=sources,
        codes=len({row.resident_code for row in ordered}),
        versions=len(ordered),
        registered=registered,
        prefecture_link=links[prefecture][0],
        from_prefecture=links[prefecture][1],
        center_link=links[CENTER][1],
    )
    return RestoredPackage(tuple(ordered), report)


def _without_gaps(rows: list[IdentityRow]) -> list[IdentityRow]:
    """Rows sorted by (code, version), keeping of each code only the run of versions
    without a gap that ends at its newest."""
    kept: list[IdentityRow] = []
    for row in rows:
        previous = kept[-1] if kept else None
        if (
            previous is not None
            and previous.resident_code == row.resident_code
            and previous.version + 1 != row.version
        ):
            while kept and kept[-1].resident_code == row.resident_code:
                kept.pop()
        kept.append(row)
    return kept


def _check_histories(rows: Sequence[IdentityRow], source: NodeId) -> None:
    """Every code's versions in one package must run on in order without a gap, from
    any first version (the older ones may have expired at that tier)."""
    newest: dict[str, int] = {}
    for row in sorted(rows, key=lambda r: (r.resident_code, r.version)):
        expected = newest.get(row.resident_code, row.version - 1) + 1
        if row.version != expected:
            raise TamperingDetected(
                f"in {source}'s package the versions of {row.resident_code} "
                f"skip from {expected - 1} to {row.version}",
                field="envelopes",
            )
        newest[row.resident_code] = row.version


def check_empty(store: Store, uow: UnitOfWork) -> None:
    """Refuse to restore into a store that holds a register, identities or links."""
    held = {
        "register": store.register.count(uow=uow),
        "identities": store.identities.count(uow=uow),
        "outbox": len(store.outbox.destinations(uow)),
        "tracking": len(store.tracking.senders(uow)),
    }
    if any(held.values()):
        what = ", ".join(f"{name} ({n})" for name, n in held.items() if n)
        raise InvalidState(
            f"the store is not empty: {what}",
            field="store",
            expected="a new, empty store (restoring never overwrites)",
        )
