"""Reconciliation: compare a tier's copy of identity information with the tier below.

Each side reduces its view of one municipality to a :class:`Snapshot`: for every
person *registered* there, a hash of their identity information. Two snapshots
compare by digest first (cheap to exchange) and, when the digests differ, entry by
entry, giving the residents that differ (:class:`Differences`). The municipality
repairs a divergence by notifying those residents again
(:meth:`~jukinet.tiers.cs.CommunicationServer.resend`).

>>> a = Snapshot("131016", {"12345678903": "aa"})
>>> b = Snapshot("131016", {"12345678903": "bb", "00000000051": "cc"})
>>> compare(a, b)
Differences(municipality='131016', missing_above=(), extra_above=('00000000051',), differing=('12345678903',))
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sized

import attrs

from jukinet._log import event
from jukinet.domain import codec
from jukinet.domain.identity import IdentityInfo
from jukinet.errors import InvalidComponent
from jukinet.progress import ProgressCallback, check_callback, report
from jukinet.storage.base import Store
from jukinet.storage.records import check_lg_code
from jukinet.tiers.cs import RegisterEntry

__all__ = [
    "PROGRESS_EVERY",
    "Differences",
    "Snapshot",
    "compare",
    "snapshot_of_entries",
    "snapshot_of_store",
]

_logger = logging.getLogger(__name__)


def _hash(info_bytes: bytes) -> str:
    return hashlib.sha256(info_bytes).hexdigest()


@attrs.frozen
class Snapshot:
    """One tier's view of the people registered in one municipality."""

    municipality: str
    entries: dict[str, str] = attrs.field(eq=False, repr=False)

    @property
    def digest(self) -> str:
        """A hash over every (code, identity hash) pair, in code order."""
        h = hashlib.sha256(self.municipality.encode())
        for code in sorted(self.entries):
            h.update(code.encode())
            h.update(self.entries[code].encode())
        return h.hexdigest()

    @property
    def count(self) -> int:
        """How many people are registered in this view."""
        return len(self.entries)


@attrs.frozen
class Differences:
    """Residents whose identity information differs between a tier and the tier above."""

    municipality: str
    missing_above: tuple[str, ...]
    """Registered below, not registered above (a notice was lost or not yet applied)."""
    extra_above: tuple[str, ...]
    """Registered above, not below (e.g. a removal never arrived)."""
    differing: tuple[str, ...]
    """Registered on both sides with different identity information."""

    @property
    def codes(self) -> tuple[str, ...]:
        """Every differing code, sorted."""
        return tuple(sorted({*self.missing_above, *self.extra_above, *self.differing}))

    def __bool__(self) -> bool:
        return bool(self.missing_above or self.extra_above or self.differing)


def compare(below: Snapshot, above: Snapshot) -> Differences:
    """Compare two views of the same municipality."""
    if below.municipality != above.municipality:
        raise InvalidComponent(
            f"snapshots of {below.municipality} and {above.municipality}",
            field="municipality",
            expected="two views of the same municipality",
        )
    if below.digest == above.digest:
        return Differences(below.municipality, (), (), ())
    lower, upper = below.entries, above.entries
    found = Differences(
        below.municipality,
        missing_above=tuple(sorted(lower.keys() - upper.keys())),
        extra_above=tuple(sorted(upper.keys() - lower.keys())),
        differing=tuple(sorted(c for c in lower.keys() & upper.keys() if lower[c] != upper[c])),
    )
    if found:
        event(
            _logger,
            logging.WARNING,
            "reconcile.differences",
            municipality=found.municipality,
            missing_above=len(found.missing_above),
            extra_above=len(found.extra_above),
            differing=len(found.differing),
        )
    return found


PROGRESS_EVERY = 1000
"""Entries or rows between two progress reports of the snapshots."""

_TASK = "reconciliation"


def snapshot_of_entries(
    municipality: str,
    entries: Iterable[RegisterEntry],
    *,
    progress: ProgressCallback | None = None,
) -> Snapshot:
    """The municipality's own view, from its register (see
    :class:`~jukinet.tiers.cs.RegisterSource`).

    A ``progress`` callback (:mod:`jukinet.progress`, task "reconciliation", unit
    "people") hears every :data:`PROGRESS_EVERY` entries and at the end; the
    total is known when ``entries`` has a length.
    """
    check_lg_code(municipality)
    progress = check_callback(progress)
    total = len(entries) if isinstance(entries, Sized) else None
    hashes: dict[str, str] = {}
    done = 0
    for entry in entries:
        done += 1
        if not entry.removed:
            info: IdentityInfo = entry.info
            hashes[info.resident_code.value] = _hash(codec.to_bytes(info))
        if done % PROGRESS_EVERY == 0 and done != total:
            report(progress, _TASK, done, _within(done, total), "people")
    report(progress, _TASK, done, done, "people")
    return Snapshot(municipality, hashes)


def _within(done: int, total: int | None) -> int | None:
    """``total`` if ``done`` has not passed it (the source grew meanwhile), else None."""
    return total if total is not None and done <= total else None


def snapshot_of_store(
    store: Store, municipality: str, *, progress: ProgressCallback | None = None
) -> Snapshot:
    """An upper tier's view of one municipality, from its identity store.

    Rows of a replaced code (the old code after 住民票コードの変更請求) are not people.
    A ``progress`` callback (:mod:`jukinet.progress`, task "reconciliation", unit
    "codes") hears after each page of :data:`PROGRESS_EVERY` codes read and at the
    end.
    """
    check_lg_code(municipality)
    progress = check_callback(progress)
    total = store.identities.count(municipality=municipality) if progress is not None else None
    hashes: dict[str, str] = {}
    after: str | None = None
    done = 0
    while True:
        rows = store.identities.scan(municipality=municipality, after=after, limit=PROGRESS_EVERY)
        if not rows:
            break
        done += len(rows)
        for row in rows:
            if row.removed:
                continue
            info = json.loads(row.payload)["info"]
            if info["resident_code"] != row.resident_code:  # pragma: no cover - removed anyway
                continue
            hashes[row.resident_code] = _hash(codec.canonical_json(info))
        after = rows[-1].resident_code
        if done != total:
            report(progress, _TASK, done, _within(done, total), "codes")
    report(progress, _TASK, done, done, "codes")
    return Snapshot(municipality, hashes)
