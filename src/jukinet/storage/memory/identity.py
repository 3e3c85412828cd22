"""The identity-information copy (本人確認情報) of the in-memory adapter.

The helpers that derive a code's current version and its due versions
(:func:`_current_identity`, :func:`_newest_words`, :func:`_due`); its part of
the committed state (:class:`_IdentityState`: every version per code, each
municipality's newest word on each code, the current versions, the search,
municipality and arrival-day indexes), of the staging
(:class:`_IdentityPending`: new versions and staged expiries) and of the view
(:class:`_IdentityView`); and the port, :class:`MemoryIdentityStore`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date

import attrs
from sortedcontainers import SortedDict, SortedSet

from jukinet.errors import IntegrityError, InterfaceError
from jukinet.storage.base import IdentityStore, UnitOfWork
from jukinet.storage.memory._database import (
    _check_codes,
    _merge_sorted,
    _Port,
    _rows,
    _sequence,
)
from jukinet.storage.records import (
    IdentityQuery,
    IdentityRow,
    check_date,
    check_int,
    check_lg_code,
    check_resident_code,
)


def _current_identity(words: Iterable[IdentityRow]) -> IdentityRow | None:
    """A person's current version among the municipalities' newest words on them:
    the newest one not removed, else the newest removed one (None if no word).
    """
    best: IdentityRow | None = None
    for row in words:
        if best is None or (not row.removed, row.version) > (not best.removed, best.version):
            best = row
    return best


def _newest_words(rows: Iterable[IdentityRow]) -> dict[str, IdentityRow]:
    """Municipality → its newest version among ``rows`` (given oldest first)."""
    return {row.municipality: row for row in rows}


def _due(history: Sequence[IdentityRow], before: date) -> int:
    """How many of a code's oldest versions (``history``, oldest first, without a gap)
    are due for deletion: each up to the first one that is not (令30条の6・令30条の7).

    A version is due when the next one was received before ``before``, or when it is
    removed and was itself received before ``before``; an unknown day never counts.
    """
    count = 0
    for index, row in enumerate(history):
        after = history[index + 1].received_on if index + 1 < len(history) else None
        superseded = after is not None and after < before
        removed = row.removed and row.received_on is not None and row.received_on < before
        if not (superseded or removed):
            break
        count += 1
    return count


class _IdentityState:
    """The identities' committed data with its indexes."""

    def __init__(self) -> None:
        super().__init__()
        # identities: every version; each municipality's newest word per code (the
        # identity_current table of the SQL adapters); each code's current version
        self.id_versions: dict[str, list[IdentityRow]] = {}
        self.id_words: dict[str, dict[str, IdentityRow]] = {}  # code -> municipality -> row
        self.id_current: SortedDict[str, IdentityRow] = SortedDict()
        # (name key, birth date) -> (code, municipality) of the words not removed
        self.id_search: dict[tuple[str, date], SortedSet[tuple[str, str]]] = {}
        self.id_municipality: dict[str, SortedSet[str]] = {}  # municipality -> codes
        # (received_on, code, version) of the versions whose arrival day is known
        self.id_dated: SortedSet[tuple[date, str, int]] = SortedSet()

    def _apply_identities(self, pending: _IdentityPending) -> None:
        for code, cut in pending.id_expired.items():
            self._expire_identities(code, cut)
        for code, id_rows in pending.id_new.items():
            self.id_versions.setdefault(code, []).extend(id_rows)
            self.id_dated.update(
                (r.received_on, code, r.version) for r in id_rows if r.received_on is not None
            )
            words = self.id_words.setdefault(code, {})
            for municipality, id_new in _newest_words(id_rows).items():
                id_old = words.get(municipality)
                if id_old is not None and not id_old.removed:
                    self._unindex_word(code, id_old)
                if not id_new.removed:
                    key = (id_new.name_key, id_new.birth_date)
                    self.id_search.setdefault(key, SortedSet()).add((code, municipality))
                words[municipality] = id_new
                self.id_municipality.setdefault(municipality, SortedSet()).add(code)
            current = _current_identity(words.values())
            assert current is not None
            self.id_current[code] = current

    def _unindex_word(self, code: str, word: IdentityRow) -> None:
        """Take a municipality's word (not removed) out of the search index."""
        key = (word.name_key, word.birth_date)
        self.id_search[key].discard((code, word.municipality))
        if not self.id_search[key]:
            del self.id_search[key]

    def _expire_identities(self, code: str, cut: int) -> None:
        """Delete the committed versions of ``code`` up to ``cut`` and the words they
        were (a municipality left with no version of the code has no word on it)."""
        versions = self.id_versions[code]
        kept = [row for row in versions if row.version > cut]
        for row in versions[: len(versions) - len(kept)]:
            if row.received_on is not None:
                self.id_dated.discard((row.received_on, code, row.version))
        words = self.id_words[code]
        for municipality, word in list(words.items()):
            if word.version > cut:
                continue
            del words[municipality]
            if not word.removed:
                self._unindex_word(code, word)
            codes = self.id_municipality[municipality]
            codes.discard(code)
            if not codes:
                del self.id_municipality[municipality]
        if kept:
            self.id_versions[code] = kept
            current = _current_identity(words.values())
            assert current is not None  # the highest version is kept, and is a word
            self.id_current[code] = current
        else:
            del self.id_versions[code], self.id_words[code], self.id_current[code]


@attrs.define(slots=False)
class _IdentityPending:
    """The identity versions a unit of work has written, and its expiries."""

    id_new: dict[str, list[IdentityRow]] = attrs.Factory(dict)  # code -> new versions
    # code -> its highest committed version an expiry deleted (every one up to it goes)
    id_expired: dict[str, int] = attrs.Factory(dict)


class _IdentityView:
    """The committed identities, seen through a unit of work's staged changes."""

    state: _IdentityState
    pending: _IdentityPending

    def id_kept(self, code: str) -> list[IdentityRow]:
        """The committed versions of ``code`` that this unit of work has not expired."""
        versions = self.state.id_versions.get(code, [])
        cut = self.pending.id_expired.get(code)
        return versions if cut is None else [row for row in versions if row.version > cut]

    def id_version(self, code: str) -> int:
        """The code's highest version (0 if none is kept)."""
        staged = self.pending.id_new.get(code)
        if staged:
            return staged[-1].version
        kept = self.id_kept(code)
        return kept[-1].version if kept else 0

    def id_history(self, code: str) -> list[IdentityRow]:
        return [*self.id_kept(code), *self.pending.id_new.get(code, ())]

    def id_words(self, code: str) -> Mapping[str, IdentityRow]:
        """Municipality → its newest word on ``code``."""
        words = self.state.id_words.get(code, {})
        cut = self.pending.id_expired.get(code)
        if cut is not None:
            words = {m: row for m, row in words.items() if row.version > cut}
        staged = self.pending.id_new.get(code)
        return words if staged is None else {**words, **_newest_words(staged)}

    def id_word(self, code: str, municipality: str) -> IdentityRow | None:
        return self.id_words(code).get(municipality)

    def id_current(self, code: str) -> IdentityRow | None:
        if code not in self.pending.id_new and code not in self.pending.id_expired:
            return self.state.id_current.get(code)
        return _current_identity(self.id_words(code).values())


class MemoryIdentityStore(_Port[_IdentityView, _IdentityPending], IdentityStore):
    """The identity-information copy (本人確認情報) of a :class:`MemoryStore`.

    Every notice received is kept as a version (住基法30条の6第3項, 30条の7;
    kept 150 years, 令30条の6・令30条の7). Each municipality's newest word on
    each code is kept apart, so that a removal arriving late from the
    municipality a person left never hides their entry in the new one; the
    search index holds those words that are not removed, by (name key, birth
    date). :meth:`expire` deletes the versions whose retention period is over.
    """

    def append(self, uow: UnitOfWork, rows: Sequence[IdentityRow]) -> None:
        """Append versions; each must be the code's highest version + 1. All or none."""
        batch = _rows(rows, IdentityRow, "rows")
        view, pending = self._store._write(uow)
        self._stage(view, pending, batch, first_versions_only=False)

    def bulk_load(self, uow: UnitOfWork, rows: Sequence[IdentityRow]) -> int:
        """Load first versions of codes not yet stored; returns the number of rows."""
        batch = _rows(rows, IdentityRow, "rows")
        view, pending = self._store._write(uow)
        self._stage(view, pending, batch, first_versions_only=True)
        return len(batch)

    def load_histories(self, uow: UnitOfWork, rows: Sequence[IdentityRow]) -> int:
        """Load whole histories (from any first version, without a gap) of codes not yet
        stored; returns the number of rows. All or none."""
        batch = _rows(rows, IdentityRow, "rows")
        view, pending = self._store._write(uow)
        self._stage(view, pending, batch, first_versions_only=False, histories=True)
        return len(batch)

    def expire(self, uow: UnitOfWork, *, received_before: date) -> int:
        """Delete every code's oldest versions that are due (令30条の6・令30条の7, see
        :meth:`IdentityStore.expire <jukinet.storage.base.IdentityStore.expire>`);
        returns how many."""
        before = check_date(received_before, "received_before")
        view, pending = self._store._write(uow)
        # every (day, code, version) with day < before: below (before, "", 0)
        dated = view.state.id_dated.irange(maximum=(before, "", 0), inclusive=(True, False))
        candidates = {code for _, code, _ in dated}
        candidates.update(pending.id_new)
        deleted = 0
        for code in sorted(candidates):
            kept = view.id_kept(code)
            staged = pending.id_new.get(code, [])
            count = _due([*kept, *staged], before)
            if not count:
                continue
            deleted += count
            if kept:
                pending.id_expired[code] = kept[min(count, len(kept)) - 1].version
            rest = staged[max(0, count - len(kept)) :]
            if rest:
                pending.id_new[code] = rest
            else:
                pending.id_new.pop(code, None)
        return deleted

    @staticmethod
    def _stage(
        view: _IdentityView,
        pending: _IdentityPending,
        batch: list[IdentityRow],
        *,
        first_versions_only: bool,
        histories: bool = False,
    ) -> None:
        versions: dict[str, int] = {}
        for row in batch:
            code = row.resident_code
            current = versions.get(code)
            if current is None:
                current = view.id_version(code)
                if histories:
                    if current:
                        raise IntegrityError(
                            f"{code} is already stored (up to version {current})",
                            field="resident_code",
                            expected="codes not yet stored",
                        )
                    current = row.version - 1  # a restored history may start anywhere
            if first_versions_only and row.version != 1:
                raise IntegrityError(
                    f"bulk load got version {row.version} of {code}",
                    field="version",
                    expected="version 1 of codes not yet stored",
                )
            if row.version != current + 1:
                problem = "is already stored" if row.version <= current else "skips a version"
                raise IntegrityError(
                    f"version {row.version} of {code} {problem}",
                    field="version",
                    expected=f"version {current + 1}",
                )
            versions[code] = row.version
        for row in batch:
            pending.id_new.setdefault(row.resident_code, []).append(row)

    def last_versions(
        self, resident_codes: Sequence[str], uow: UnitOfWork | None = None
    ) -> dict[str, int]:
        """The highest version per code, for the codes found."""
        codes = _sequence(resident_codes, "resident_codes")

        def read(view: _IdentityView) -> dict[str, int]:
            _check_codes(codes, view.state.id_versions)
            found: dict[str, int] = {}
            for code in codes:
                version = view.id_version(code)
                if version:
                    found[code] = version
            return found

        return self._store._read(uow, read)

    def current(self, resident_code: str, uow: UnitOfWork | None = None) -> IdentityRow | None:
        """The person's current version: the newest not removed, else the newest; or None."""

        def read(view: _IdentityView) -> IdentityRow | None:
            _check_codes((resident_code,), view.state.id_versions, "resident_code")
            return view.id_current(resident_code)

        return self._store._read(uow, read)

    def current_many(
        self, resident_codes: Sequence[str], uow: UnitOfWork | None = None
    ) -> dict[str, IdentityRow]:
        """Bulk :meth:`current`: code → current version, for the codes found."""
        codes = _sequence(resident_codes, "resident_codes")

        def read(view: _IdentityView) -> dict[str, IdentityRow]:
            _check_codes(codes, view.state.id_versions)
            found: dict[str, IdentityRow] = {}
            for code in codes:
                row = view.id_current(code)
                if row is not None:
                    found[code] = row
            return found

        return self._store._read(uow, read)

    def history(self, resident_code: str, uow: UnitOfWork | None = None) -> list[IdentityRow]:
        """Every version for this code, oldest first."""
        check_resident_code(resident_code)
        return self._store._read(uow, lambda v: v.id_history(resident_code))

    def search(
        self, query: IdentityQuery, *, limit: int = 100, uow: UnitOfWork | None = None
    ) -> list[IdentityRow]:
        """Each municipality's newest word per code, not removed, matching the four
        basic items; ordered by resident code (then municipality), at most ``limit``.
        """
        if not isinstance(query, IdentityQuery):
            raise InterfaceError(
                f"got {type(query).__name__}", field="query", expected="an IdentityQuery"
            )
        check_int(limit, "limit")
        key = (query.name_key, query.birth_date)

        def matches(row: IdentityRow | None) -> bool:
            return (
                row is not None
                and not row.removed
                and (row.name_key, row.birth_date) == key
                and (query.sex is None or row.sex == query.sex)
                and (query.address_key is None or row.address_key == query.address_key)
            )

        def read(view: _IdentityView) -> list[IdentityRow]:
            indexed = view.state.id_search.get(key, SortedSet())
            staged = sorted(
                (code, municipality)
                for code, rows in view.pending.id_new.items()
                for municipality, row in _newest_words(rows).items()
                if (row.name_key, row.birth_date) == key
            )
            found: list[IdentityRow] = []
            for code, municipality in _merge_sorted(indexed, staged):
                if len(found) >= limit:
                    break
                row = view.id_word(code, municipality)
                if row is not None and matches(row):
                    found.append(row)
            return found

        return self._store._read(uow, read)

    def scan(
        self,
        *,
        municipality: str | None = None,
        after: str | None = None,
        limit: int = 1000,
        uow: UnitOfWork | None = None,
    ) -> list[IdentityRow]:
        """Ordered by resident code after ``after``: a municipality's newest word on every
        code it notified (removed ones included), or each code's current version.
        """
        if municipality is not None:
            check_lg_code(municipality)
        if after is not None:
            check_resident_code(after, "after")
        check_int(limit, "limit")

        def read(view: _IdentityView) -> list[IdentityRow]:
            staged_codes = view.pending.id_new
            if municipality is None:
                committed: Iterable[str] = view.state.id_current.irange(
                    minimum=after, inclusive=(False, False)
                )
                staged = sorted(c for c in staged_codes if after is None or c > after)
            else:
                codes = view.state.id_municipality.get(municipality, SortedSet())
                committed = codes.irange(minimum=after, inclusive=(False, False))
                staged = sorted(
                    c
                    for c, rows in staged_codes.items()
                    if (after is None or c > after)
                    and any(r.municipality == municipality for r in rows)
                )
            found: list[IdentityRow] = []
            for code in _merge_sorted(committed, staged):
                if len(found) >= limit:
                    break
                row = (
                    view.id_current(code)
                    if municipality is None
                    else view.id_word(code, municipality)
                )
                if row is not None:
                    found.append(row)
            return found

        return self._store._read(uow, read)

    def count(self, *, municipality: str | None = None, uow: UnitOfWork | None = None) -> int:
        """How many codes, or how many codes a municipality notified."""
        if municipality is not None:
            check_lg_code(municipality)

        def read(view: _IdentityView) -> int:
            staged = view.pending.id_new
            expired = view.pending.id_expired
            if municipality is None:
                committed: Mapping[str, list[IdentityRow]] = view.state.id_versions
                gone = sum(
                    1
                    for c, cut in expired.items()
                    if c not in staged and committed[c][-1].version <= cut
                )
                return len(committed) - gone + sum(1 for c in staged if c not in committed)
            codes = view.state.id_municipality.get(municipality, SortedSet())
            words = view.state.id_words
            gone = sum(
                1
                for c, cut in expired.items()
                if c in codes
                and words[c][municipality].version <= cut
                and not any(r.municipality == municipality for r in staged.get(c, ()))
            )
            return (
                len(codes)
                - gone
                + sum(
                    1
                    for c, rows in staged.items()
                    if c not in codes and any(r.municipality == municipality for r in rows)
                )
            )

        return self._store._read(uow, read)
