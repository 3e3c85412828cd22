"""Disaster recovery: a municipality restores its identity information from the upper tiers.

The prefecture and the national centre keep every version of the identity
information notified to them (住基法30条の6第3項, 30条の7), which makes them the
backup of the municipalities' registers. When a municipality loses its storage:

1. its prefecture and the centre each build a signed *restore package* for it
   (:meth:`~jukinet.tiers.upper.UpperTier.restore_package`): every version of the
   identity information of each person the municipality ever notified about, up
   to the municipality's newest word on that person, where their links with the
   municipality stand, and (the centre) the code designations it sent that the
   municipality has not acknowledged;
2. the municipality's communication server checks and applies both packages in
   one unit of work (:meth:`~jukinet.tiers.cs.CommunicationServer.restore`): the
   identity versions go into its (empty) store, the link to the prefecture
   resumes after the last notice the prefecture applied, the links from the
   prefecture and the centre resume after the last message the municipality had
   acknowledged on each, and the unacknowledged designations are withdrawn;
3. the register is then remade person by person (再製, 住基法施行令16条) with
   :meth:`~jukinet.tiers.municipality.Municipality.remake`, which takes the items
   the upper tiers never held (household, domicile …) from the caller and checks
   the identity items against the restored ones: the registered people and the
   removed records (除票: moved out, died …), which the register keeps as well
   (住基法15条の2, 令34条1項).

Both packages are needed: the identity information could come from either, but
each tier alone knows one link's position. Without the prefecture's, the
municipality's next notices would be numbered from 1 and taken for duplicates;
without the centre's, it could not take the centre's next designation.

**Cross-check by content.** The two tiers number a person's versions each in its
own way: the centre holds the whole history, a prefecture only what the
municipalities of its own prefecture notified (a person who moved in from
another prefecture starts there at the move-in). So the packages are compared by
what both hold: for every code, the notices from the municipalities of this
prefecture, as bytes, in order. One tier may lack the oldest of them (expired
there, 令30条の6・30条の7, :meth:`~jukinet.tiers.upper.UpperTier.expire_history`)
or the newest (not yet passed on between the tiers: a change the prefecture has
not forwarded, a registration the centre confirmed that has not come back), so
the two runs are aligned where they overlap, and a run may start later than the
other only at a tier that expired versions of the code. If they disagree there,
or do not overlap at all, the packages are refused
(:class:`~jukinet.errors.TamperingDetected`). The restored history of a code is
the centre's, completed with what only the prefecture still holds: the versions
newer than the centre's newest (numbered on from it, as the centre will number
them when they arrive) and the versions the centre expired and the prefecture
kept (numbered down to the centre's oldest kept one). The day a tier received
each version does not travel: the restored copy leaves it unknown.

**Codes are never reissued.** Codes designated to the municipality are never
given back: the centre never designates them again (30条の2第2項) and designates
fresh ones on request. A designation the centre sent and the municipality did
not acknowledge (its acknowledgement may have been lost after it took the codes
into use) would be sent again after the restore; the centre's package carries
those designations, the restore records their codes as designated and used
(withdrawn), and the communication server takes a designation whose codes it
knows already as applied, not as fresh. The pool after a restore therefore
holds only codes designated later, which nobody has used.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

import attrs

from jukinet.domain.changes import ChangeReason
from jukinet.errors import InvalidComponent, InvalidState, Misaddressed, TamperingDetected
from jukinet.storage.base import IdentityStore, Outbox, Store, UnitOfWork
from jukinet.storage.records import IdentityRow, unchecked_replace
from jukinet.tiers import wire
from jukinet.tiers.messages import CENTER, Envelope, NodeId, NodeKey

__all__ = [
    "RestoreReport",
    "RestoredPackage",
    "assemble",
    "check_empty",
    "identity_versions",
    "is_replaced",
    "seal_package",
    "unconfirmed_designations",
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
    #: People whose newest version from this municipality says they live here.
    registered: int
    #: The link to the prefecture resumes after this sequence number.
    prefecture_link: int
    #: Messages from the prefecture are taken after this sequence number.
    from_prefecture: int
    #: Messages from the centre are taken after this sequence number.
    center_link: int
    #: People whose newest version from this municipality removed them (除票: moved
    #: out, died …); a code replaced here (住基法30条の4) is not counted.
    removed: int = 0
    #: Codes of unacknowledged designations, recorded as designated and used.
    withdrawn: int = 0


@attrs.frozen
class RestoredPackage:
    """The checked, merged content of the packages: rows in append order, the codes
    to withdraw, and the report."""

    rows: tuple[IdentityRow, ...]
    report: RestoreReport
    withdrawn: tuple[str, ...] = ()


def is_replaced(row: IdentityRow) -> bool:
    """Whether the row records that its code was replaced (住基法30条の4): the old
    code's last version, which identifies nobody any more."""
    return row.removed and ChangeReason(row.reason).changes_resident_code


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


def unconfirmed_designations(
    outbox: Outbox, destination: str, *, after: int, uow: UnitOfWork | None = None
) -> list[bytes]:
    """The code designations in ``outbox`` for ``destination`` after position
    ``after`` (what the municipality has not acknowledged), as sent."""
    found: list[bytes] = []
    while entries := outbox.read(destination, after=after, limit=1000, uow=uow):
        found.extend(
            e.payload for e in entries if wire.message_type(e.payload) == wire.CODE_DESIGNATION
        )
        after = entries[-1].seq
    return found


def seal_package(
    key: NodeKey,
    municipality: NodeId,
    rows: Sequence[IdentityRow],
    *,
    applied: int,
    confirmed: int,
    now: datetime,
    batch: int,
    designations: Sequence[bytes] = (),
) -> list[Envelope]:
    """Sign a restore package: parts of at most ``batch`` messages (identity
    versions, then the unacknowledged ``designations``), each headed."""
    withdrawn = sum(len(wire.parse_code_designation(raw).codes) for raw in designations)
    items = [wire.encode_identity_version(row) for row in rows] + list(designations)
    chunks = [items[i : i + batch] for i in range(0, len(items), batch)] or [[]]
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
            withdrawn=withdrawn,
        )
        envelopes.append(
            key.seal(
                municipality,
                first_seq=1,
                payload_type=wire.RESTORE,
                payloads=[wire.encode_restore_header(header), *chunk],
                sent_at=now,
            )
        )
    return envelopes


@attrs.define
class _Part:
    """One decoded part of a package."""

    header: wire.RestoreHeader
    rows: list[IdentityRow]
    codes: list[str]


def assemble(envelopes: Sequence[Envelope], *, municipality: NodeId) -> RestoredPackage:
    """Check and merge the packages (envelopes already verified by the receiver).

    Every part of the prefecture's and of the centre's package must be there,
    once; every header must name this municipality and its sender; every version
    is decoded in full; each code's versions in a package must run on without a
    gap, from any first version (the older ones may have expired at that tier),
    and end with this municipality's newest notice about it. Of each code, the
    notices from the municipalities of this prefecture must be the same bytes in
    the same order in both packages where both hold them (see the module
    docstring). Only the
    centre designates codes, so only its package may carry designations, all to
    this municipality.
    """
    prefecture = municipality.prefecture_node
    if prefecture is None:
        raise Misaddressed(f"{municipality} is not a municipality", field="municipality")
    parts: dict[NodeId, dict[int, _Part]] = defaultdict(dict)
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
        parts[envelope.sender][header.part] = _read_part(envelope, header, municipality)

    links: dict[NodeId, tuple[int, int]] = {}
    sources: dict[str, str] = {}
    held: dict[NodeId, dict[str, list[IdentityRow]]] = {}
    withdrawn: list[str] = []
    for source in (prefecture, CENTER):
        got = parts.get(source)
        if not got:
            raise InvalidComponent(
                f"the package of {source} is missing",
                field="envelopes",
                expected=f"the packages of both {prefecture} and {CENTER}",
            )
        first = got[min(got)].header
        for part in got.values():
            if attrs.evolve(part.header, part=first.part) != first:
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
        rows = [row for number in sorted(got) for row in got[number].rows]
        codes = [code for number in sorted(got) for code in got[number].codes]
        if len(rows) != first.versions or len(codes) != first.withdrawn:
            raise TamperingDetected(
                f"{source}'s package holds {len(rows)} versions and {len(codes)} withdrawn"
                f" codes, its header says {first.versions} and {first.withdrawn}",
                field="envelopes",
            )
        held[source] = _histories(rows, source, municipality.code)
        withdrawn.extend(codes)
        links[source] = (first.applied, first.confirmed)
        sources[str(source)] = first.as_of

    ordered: list[IdentityRow] = []
    for code in sorted(held[prefecture].keys() | held[CENTER].keys()):
        ordered.extend(
            _merge(held[prefecture].get(code, []), held[CENTER].get(code, []), prefecture.code)
        )
    here: dict[str, IdentityRow] = {}  # each code's newest version from this municipality
    for row in ordered:
        if row.municipality == municipality.code:
            here[row.resident_code] = row
    report = RestoreReport(
        municipality=municipality.code,
        sources=sources,
        codes=len({row.resident_code for row in ordered}),
        versions=len(ordered),
        registered=sum(1 for row in here.values() if not row.removed),
        prefecture_link=links[prefecture][0],
        from_prefecture=links[prefecture][1],
        center_link=links[CENTER][1],
        removed=sum(1 for row in here.values() if row.removed and not is_replaced(row)),
        withdrawn=len(withdrawn),
    )
    return RestoredPackage(tuple(ordered), report, tuple(withdrawn))


def _read_part(envelope: Envelope, header: wire.RestoreHeader, municipality: NodeId) -> _Part:
    """Decode one part: identity versions and (the centre's) code designations."""
    part = _Part(header, [], [])
    for raw in envelope.payloads[1:]:
        kind = wire.message_type(raw)
        if kind == wire.IDENTITY_VERSION:
            part.rows.append(wire.parse_identity_version(raw))
        elif kind == wire.CODE_DESIGNATION and envelope.sender == CENTER:
            designation = wire.parse_code_designation(raw)
            if designation.municipality != municipality.code:
                raise Misaddressed(
                    f"the package withdraws codes designated to {designation.municipality}",
                    field="code_designation",
                    expected=f"codes designated to {municipality.code}",
                )
            part.codes.extend(code.value for code in designation.codes)
        else:
            raise Misaddressed(
                f"a {kind!r} message from {envelope.sender} is out of place in a restore package",
                field="message",
                expected="identity versions and (from the centre) code designations",
            )
    return part


def _histories(
    rows: Sequence[IdentityRow], source: NodeId, municipality: str
) -> dict[str, list[IdentityRow]]:
    """One package's rows by code, each code's in order. The versions must run on
    without a gap, from any first version (the older ones may have expired at that
    tier), and end with the municipality's newest notice about the code (what
    :func:`identity_versions` sends)."""
    by_code: dict[str, list[IdentityRow]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: (r.resident_code, r.version)):
        history = by_code[row.resident_code]
        if history and row.version != history[-1].version + 1:
            raise TamperingDetected(
                f"in {source}'s package the versions of {row.resident_code} "
                f"skip from {history[-1].version} to {row.version}",
                field="envelopes",
            )
        history.append(row)
    for code, history in by_code.items():
        if history[-1].municipality != municipality:
            raise TamperingDetected(
                f"in {source}'s package the versions of {code} run past {municipality}'s"
                " newest notice",
                field="envelopes",
                expected=f"versions up to {municipality}'s newest notice about each person",
            )
    return by_code


def _merge(
    prefecture: list[IdentityRow], center: list[IdentityRow], region: str
) -> list[IdentityRow]:
    """One code's restored history from the two tiers' (see the module docstring);
    ``region`` is the two-digit code of the prefecture."""
    if not prefecture or not center:
        return prefecture or center
    # A prefecture holds the notices of its own municipalities only.
    shared = [i for i, row in enumerate(center) if row.municipality[:2] == region]
    shift = _align(
        [row.payload for row in prefecture],
        [center[i].payload for i in shared],
        below_expired=prefecture[0].version > 1,
        above_expired=center[0].version > 1,
    )
    if shift is None:
        raise TamperingDetected(
            f"the notices about {center[0].resident_code} from the municipalities of"
            f" prefecture {region} differ between the packages",
            field="envelopes",
            expected="the same notices, in the same order, where both tiers hold them",
        )
    first = max(0, -shift)  # the prefecture's first version the centre holds too
    last = min(len(prefecture), len(shared) - shift) - 1  # and its last
    # Only the prefecture still holds the versions before the centre's oldest kept
    # one (the centre expired them) and after the centre's newest (not yet passed on).
    older = prefecture[max(0, first - (center[0].version - 1)) : first]
    newer = prefecture[last + 1 :]
    start = center[0].version - len(older)
    return [
        row if row.version == start + n else unchecked_replace(row, version=start + n)
        for n, row in enumerate([*older, *center, *newer])
    ]


def _align(
    below: Sequence[bytes],
    above: Sequence[bytes],
    *,
    below_expired: bool,
    above_expired: bool,
) -> int | None:
    """How far ``above``'s run is shifted against ``below``'s (``above[i + shift]``
    is ``below[i]``) where the two agree on a common stretch, or None.

    Each run is a window of one sequence, cut at its old end where that tier
    expired versions and at its new end where a notice was not yet passed on
    between the tiers: a run may start later than the other only if its tier
    expired versions (``below_expired``, ``above_expired``). Of the shifts that
    fit, the one with the longest overlap, then the one that lines up the newest
    ends.
    """
    best: tuple[tuple[int, bool, int], int] | None = None
    for shift in range(-(len(below) - 1), len(above)):
        lo, hi = max(0, -shift), min(len(below), len(above) - shift)
        if (shift < 0 and not above_expired) or (shift > 0 and not below_expired):
            continue  # a run that starts later than the other must have lost its oldest
        if any(below[i] != above[i + shift] for i in range(lo, hi)):
            continue
        rank = (hi - lo, len(below) + shift == len(above), -abs(shift))
        if best is None or rank > best[0]:
            best = (rank, shift)
    return None if best is None else best[1]


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
