"""Storage ports: the small interfaces every adapter implements.

A node (municipality, prefecture, national centre) owns one :class:`Store`. The
store hands out its ports (:attr:`Store.register`, :attr:`Store.identities`,
:attr:`Store.outbox`, :attr:`Store.tracking`, :attr:`Store.code_pool`,
:attr:`Store.audit`, :attr:`Store.cards`, :attr:`Store.counter` …) and
:meth:`Store.unit_of_work`. Every write takes the unit of work it belongs to,
so several writes across ports commit together or not at all::

    with store.unit_of_work() as uow:
        store.register.append(uow, [row])
        store.outbox.append(uow, "pref:13", [notice_bytes])
    # committed here; an exception inside the block rolls everything back

Reads take an optional unit of work: inside one they see its uncommitted
writes; outside they see committed data only.

The ports: :class:`Register`, :class:`IdentityStore`, :class:`Outbox`,
:class:`Tracking`, :class:`CodePool`, :class:`AuditLog`, :class:`AgencyRegistry`,
:class:`ProvisionLog`, :class:`Schedule`, :class:`PendingNotices`, :class:`CardRegistry`,
:class:`CounterStore`.

Semantics every adapter keeps (checked by :mod:`jukinet.testing.conformance`):

* Bad input (a non-record, a wrong type, an oversize field, a bad check digit)
  raises a :class:`~jukinet.errors.JukinetError` and writes nothing.
* A duplicate (same key written twice, a code designated twice) raises
  :class:`~jukinet.errors.IntegrityError`; the whole unit of work is rolled back
  when the error leaves the ``with`` block.
* Outbox sequence numbers per destination are 1, 2, 3 … with no gaps, in commit
  order: a reader that has seen *n* never later finds an entry below *n* appear.
* History is never overwritten: versions are appended, never updated. The only
  deletion of history is :meth:`IdentityStore.expire`, of identity versions whose
  retention period is over (令30条の6・令30条の7), always from a code's oldest end.
  (Working data that the law has erased is no history: the 転出証明書情報 a
  destination keeps only until its day, :meth:`CounterStore.erase_infos`,
  24条の2第4項.)
* A resident code is handed out by the pool at most once, ever.

Adapters: :mod:`jukinet.storage.memory`, :mod:`jukinet.storage.sqlite`,
:mod:`jukinet.storage.postgres`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime

import attrs

from jukinet.errors import (
    CorruptRecord,
    IntegrityError,
    InterfaceError,
    InvalidComponent,
    InvalidFormat,
    NotSupportedError,
)
from jukinet.storage.records import (
    AgencyRow,
    AuditEntry,
    AuditRecord,
    CardEventRow,
    CardRow,
    ChainFault,
    CounterRequestRow,
    IdentityQuery,
    IdentityRow,
    MoveOutInfoRow,
    OutboxEntry,
    PendingNotice,
    PendingRecord,
    ProvisionEntry,
    ProvisionRecord,
    RegisterRow,
    ScheduledItem,
    check_date,
    check_field,
    unchecked_replace,
    verify_chain,
)

__all__ = [
    "SCHEMA_VERSION",
    "AgencyRegistry",
    "AuditLog",
    "CardRegistry",
    "CodePool",
    "CounterStore",
    "IdentityStore",
    "Outbox",
    "PendingNotices",
    "ProvisionLog",
    "Register",
    "Schedule",
    "Store",
    "Tracking",
    "UnitOfWork",
]

SCHEMA_VERSION = 6
"""The version of the database schema this code reads and writes.

Version 2 added the provision ports (agencies, provision log, schedule); version 3
the day each identity version was received (``identity_versions.received_on``,
:attr:`IdentityRow.received_on <jukinet.storage.records.IdentityRow.received_on>`);
version 4 the notices an upper tier holds pending (:class:`PendingNotices`);
version 5 the resident IC cards a municipality issued (:class:`CardRegistry`);
version 6 what the counter services across municipalities keep (:class:`CounterStore`:
the 転出証明書情報 received and the requests sent to other municipalities).
:meth:`Store.create_schema` migrates a version 2, 3, 4 or 5 store to 6 in one
transaction (identity versions already stored get an unknown day, ``NULL``; the
pending, card and counter tables start empty); any other version is refused.
"""


_VERIFY_PAGE = 1000
"""Records per read while :meth:`ProvisionLog.verify` checks the chain."""


class UnitOfWork(ABC):
    """A transaction in progress: pass it to every write that belongs to it.

    Obtain one from :meth:`Store.unit_of_work`. It is valid only inside its
    ``with`` block and only with the store that made it; using it elsewhere
    raises :class:`~jukinet.errors.InterfaceError`.
    """

    @property
    @abstractmethod
    def active(self) -> bool:
        """Whether the unit of work can still be written to."""


class Register(ABC):
    """A municipality's resident register (住民基本台帳): every version of every record.

    Records are found by the municipality's internal number (宛名番号) or by
    resident code; removed records (除票) stay and are found like the others.
    """

    @abstractmethod
    def append(self, uow: UnitOfWork, rows: Sequence[RegisterRow]) -> None:
        """Append versions. Each row's version must be the person's current version + 1
        (1 for a new person); a version already present is an IntegrityError, a skipped
        one too. A resident code already belonging to another internal number is an
        IntegrityError. All rows or none are written.
        """

    @abstractmethod
    def bulk_load(self, uow: UnitOfWork, rows: Sequence[RegisterRow]) -> int:
        """Load many first versions at once (a municipality joining, 初期移行).

        Every row must be version 1 (even in order within one call) of a person not
        yet in the register; the same
        checks as :meth:`append` apply, on the fast path of the driver (SQLite
        ``executemany``, PostgreSQL ``COPY``). Returns the number of rows loaded.
        """

    @abstractmethod
    def current(self, internal_id: str, uow: UnitOfWork | None = None) -> RegisterRow | None:
        """The newest version of the person with this internal number, or None."""

    @abstractmethod
    def current_by_code(
        self, resident_code: str, uow: UnitOfWork | None = None
    ) -> RegisterRow | None:
        """The newest version of the person who holds or held this resident code, or None."""

    @abstractmethod
    def current_many(
        self, resident_codes: Sequence[str], uow: UnitOfWork | None = None
    ) -> dict[str, RegisterRow]:
        """Bulk :meth:`current_by_code`: keyed by the codes asked for (those found); a
        code the person held earlier finds their newest version.
        """

    @abstractmethod
    def history(self, internal_id: str, uow: UnitOfWork | None = None) -> list[RegisterRow]:
        """Every version of one person, oldest first (empty if unknown)."""

    @abstractmethod
    def household(self, household_id: str, uow: UnitOfWork | None = None) -> list[RegisterRow]:
        """Newest versions of the registered (not removed) members of a household,
        ordered by internal number."""

    @abstractmethod
    def scan(
        self, *, after: str | None = None, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[RegisterRow]:
        """Newest versions ordered by internal number (code point order, SQL
        ``COLLATE "C"``), starting after ``after`` (paging)."""

    @abstractmethod
    def count(self, *, status: str | None = None, uow: UnitOfWork | None = None) -> int:
        """How many people (newest versions), optionally with one status."""


class IdentityStore(ABC):
    """An upper tier's copy of identity information (本人確認情報), every version kept.

    Versions are numbered per resident code (1, 2, 3 … in the order they were
    applied) and never changed. Because a person who moves appears in the notices of
    two municipalities, whose links are independent, the store also keeps the
    newest version *per (code, municipality)*: that municipality's latest word on
    the person. From those, the person's *current* version is the newest one that
    is not removed (the municipality where they are registered); if every one is
    removed (a death, a move abroad, a code replaced), the newest removed one.
    A removal that arrives after the person's registration elsewhere therefore
    never hides that registration.

    Versions are kept for the periods of 令30条の6・令30条の7 (150 years) and then
    deleted by :meth:`expire`, from each code's oldest end: a code's kept versions
    always run without a gap from its oldest kept one (which may be above 1) to
    its highest.
    """

    @abstractmethod
    def append(self, uow: UnitOfWork, rows: Sequence[IdentityRow]) -> None:
        """Append versions. Each row's version must be the code's highest version + 1
        (1 for a new code, also after :meth:`expire` deleted every version of it); a
        version already present or a skipped one is an IntegrityError. Several
        versions of one code may come in order in one call. All rows or none.
        """

    @abstractmethod
    def bulk_load(self, uow: UnitOfWork, rows: Sequence[IdentityRow]) -> int:
        """Load many first versions at once (an initial upload, version 1 only, even in
        order within one call, of codes not present: a code is present while any
        version of it is kept); returns the count.
        """

    @abstractmethod
    def load_histories(self, uow: UnitOfWork, rows: Sequence[IdentityRow]) -> int:
        """Load whole histories of codes not yet present, as an upper tier keeps them
        (a municipality restoring from the upper tiers' packages,
        :mod:`jukinet.tiers.restore`); returns the number of rows.

        Each code's rows come in order without a gap, from any first version: the
        older ones may have expired at the upper tier (令30条の6・令30条の7). A
        code already present, a version out of order or a gap is an
        IntegrityError. All rows or none.
        """

    @abstractmethod
    def expire(self, uow: UnitOfWork, *, received_before: date) -> int:
        """Delete the versions whose retention period is over; returns how many went.

        A version is *due* (令30条の6・令30条の7, for the prefecture and the centre)
        when

        a. the code's next version (version + 1) was received before
           ``received_before``: a version notified after a 記載 or 修正 is kept
           until 150 years after a newer notice for the same person arrived; or
        b. it is removed and was itself received before ``received_before``: a
           version notified after a 消除 is kept 150 years from that notice.

        An unknown day (:attr:`~jukinet.storage.records.IdentityRow.received_on`
        None) never makes a version due. Only a code's oldest versions go: its
        versions are deleted from the oldest up to the first one that is not due,
        so the kept ones still run without a gap and the highest goes only with
        all the others. With days that rise with the version, as the tiers
        record them, that is every due version; a version that is not due (an
        unknown day, say) keeps the older versions of its code as well.

        Afterwards every read follows what is kept: :meth:`history` starts at
        the oldest kept version; a municipality none of whose versions of a code
        is kept has no word on it any more (:meth:`scan`, :meth:`count` and
        :meth:`search` by municipality leave it out) and the current version is
        chosen among the words kept. A code whose every version went (only a
        removed newest version can be due) is unknown again: no current
        version, an empty history, absent from :meth:`last_versions`,
        :meth:`scan` and :meth:`count`; a later notice would start it at
        version 1.

        ``received_before`` that is not a date (or is a datetime) is an
        InvalidFormat and nothing is deleted.
        """

    @abstractmethod
    def last_versions(
        self, resident_codes: Sequence[str], uow: UnitOfWork | None = None
    ) -> dict[str, int]:
        """The highest version per code, for the codes found (the next is that + 1).
        A code whose every version expired is not found."""

    @abstractmethod
    def current(self, resident_code: str, uow: UnitOfWork | None = None) -> IdentityRow | None:
        """The person's current version (see the class docstring), or None."""

    @abstractmethod
    def current_many(
        self, resident_codes: Sequence[str], uow: UnitOfWork | None = None
    ) -> dict[str, IdentityRow]:
        """Bulk :meth:`current`: code → current version, for the codes found."""

    @abstractmethod
    def history(self, resident_code: str, uow: UnitOfWork | None = None) -> list[IdentityRow]:
        """Every kept version for this code, oldest first (from version 1 unless
        :meth:`expire` deleted the oldest)."""

    @abstractmethod
    def search(
        self, query: IdentityQuery, *, limit: int = 100, uow: UnitOfWork | None = None
    ) -> list[IdentityRow]:
        """Newest versions per (code, municipality) that are not removed and match the
        four basic items, ordered by resident code, at most ``limit``.
        """

    @abstractmethod
    def scan(
        self,
        *,
        municipality: str | None = None,
        after: str | None = None,
        limit: int = 1000,
        uow: UnitOfWork | None = None,
    ) -> list[IdentityRow]:
        """Ordered by resident code (code point order), starting after ``after``.

        With ``municipality``: that municipality's newest version of every code it
        ever notified, removed ones included (what reconciliation compares). Without:
        each code's current version.
        """

    @abstractmethod
    def count(self, *, municipality: str | None = None, uow: UnitOfWork | None = None) -> int:
        """How many rows :meth:`scan` would give in all (codes, or codes of one municipality)."""


class Outbox(ABC):
    """A node's log of messages to send, per destination, gap-free and commit-ordered."""

    @abstractmethod
    def append(self, uow: UnitOfWork, destination: str, payloads: Sequence[bytes]) -> range:
        """Append payloads for ``destination``; returns the sequence numbers given."""

    @abstractmethod
    def read(
        self, destination: str, *, after: int = 0, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[OutboxEntry]:
        """Committed entries for ``destination`` with ``seq > after``, in order, at most ``limit``."""

    @abstractmethod
    def last_seq(self, destination: str, uow: UnitOfWork | None = None) -> int:
        """The highest sequence number given for ``destination`` (0 if none)."""

    @abstractmethod
    def destinations(self, uow: UnitOfWork | None = None) -> list[str]:
        """Every destination that has entries (or a head set by :meth:`resume`), sorted."""

    @abstractmethod
    def acknowledge(self, uow: UnitOfWork, destination: str, seq: int) -> None:
        """Record that ``destination`` confirmed every entry up to ``seq``.

        Monotonic: a ``seq`` at or below the acknowledged position is a no-op (acks
        may arrive late, twice or out of order). A ``seq`` above :meth:`last_seq`
        acknowledges entries never sent and is an IntegrityError.
        """

    @abstractmethod
    def acknowledged(self, destination: str, uow: UnitOfWork | None = None) -> int:
        """The highest sequence number ``destination`` confirmed (0 if none)."""

    @abstractmethod
    def resume(self, uow: UnitOfWork, destination: str, last_seq: int) -> None:
        """Continue a link after a disaster: for a destination with no entries and no
        head yet, set both the last and the acknowledged sequence number to
        ``last_seq`` (what the receiver already applied), so the next entry gets
        ``last_seq + 1``. Any other case is an IntegrityError.
        """


class Tracking(ABC):
    """What a node has applied from each sender: the last sequence number per sender."""

    @abstractmethod
    def position(self, sender: str, uow: UnitOfWork | None = None) -> int:
        """The last sequence number applied from ``sender`` (0 if none)."""

    @abstractmethod
    def advance(self, uow: UnitOfWork, sender: str, seq: int, *, last: int | None = None) -> None:
        """Record that ``seq`` (through ``last``, for a batch) from ``sender`` is applied,
        in the same unit of work as the effect. ``seq`` must be exactly position + 1:
        an already applied one (a re-delivery) or a skipped one raises
        IntegrityError, so applying twice is impossible. ``last`` (default ``seq``)
        below ``seq`` is bad input (InvalidComponent). The position becomes ``last``.
        """

    @abstractmethod
    def senders(self, uow: UnitOfWork | None = None) -> dict[str, int]:
        """Every sender with its position."""


class CodePool(ABC):
    """Resident codes: those ever designated nationwide, and each municipality's pool.

    A code enters once (:meth:`designate`) and is never designated again
    (住基法30条の2第2項); a municipality draws an unused code from its pool with
    :meth:`allocate` (30条の3第2項), which never hands the same code out twice.
    """

    @abstractmethod
    def designate(self, uow: UnitOfWork, municipality: str, codes: Sequence[str]) -> None:
        """Add codes to a municipality's pool; a code designated before (to anyone) is an
        IntegrityError and nothing is added.
        """

    @abstractmethod
    def allocate(self, uow: UnitOfWork, municipality: str) -> str | None:
        """Take an unused code from the municipality's pool and mark it used; None if empty."""

    @abstractmethod
    def mark_used(self, uow: UnitOfWork, resident_code: str) -> None:
        """Mark a designated, unused code as used (e.g. one chosen by the caller).
        An unknown or already used code is an IntegrityError.
        """

    @abstractmethod
    def available(self, municipality: str, uow: UnitOfWork | None = None) -> int:
        """How many unused codes the municipality has left."""

    @abstractmethod
    def is_designated(self, resident_code: str, uow: UnitOfWork | None = None) -> bool:
        """Whether the code was ever designated (to anyone)."""

    @abstractmethod
    def designated_to(self, resident_code: str, uow: UnitOfWork | None = None) -> str | None:
        """The municipality the code was designated to, or None if it never was."""

    @abstractmethod
    def designated_count(self, uow: UnitOfWork | None = None) -> int:
        """How many codes were ever designated."""


class AuditLog(ABC):
    """A node's audit log: append-only, gap-free sequence numbers in commit order.

    A register change, its identity notice and its audit entry commit together;
    the 住民記録システム標準仕様書 requires operation logs kept safe from tampering
    (j1370).
    """

    @abstractmethod
    def append(self, uow: UnitOfWork, entries: Sequence[AuditEntry]) -> range:
        """Append entries; returns their sequence numbers."""

    @abstractmethod
    def read(
        self,
        *,
        after: int = 0,
        limit: int = 1000,
        action: str | None = None,
        uow: UnitOfWork | None = None,
    ) -> list[AuditRecord]:
        """Committed entries with ``seq > after``, in ``seq`` order, at most ``limit``.

        With ``action``, only the entries whose action equals it (exact match,
        no pattern); an action never written gives ``[]``. ``after`` and
        ``limit`` count in the whole log's sequence numbers, so a reader pages
        through one kind of entry by passing the last ``seq`` it saw. Adapters
        answer it from an index on (action, seq), not by scanning the log.

        Bad arguments are bad input (:class:`~jukinet.errors.ValidationError`,
        nothing read): ``after`` or ``limit`` not an integer from 0 to 2**63-1,
        an ``action`` that is not a ``str`` (:class:`~jukinet.errors.InvalidFormat`)
        or is a ``str`` no entry could hold (:meth:`check_action`).
        """

    @staticmethod
    def check_action(action: object) -> str | None:
        """Validate an ``action`` filter of :meth:`read` and return it.

        ``None`` (no filter) or a value :attr:`AuditEntry.action
        <jukinet.storage.records.AuditEntry.action>` accepts: the same rule, so the
        error is the one an entry with that action would raise
        (:class:`~jukinet.errors.InvalidFormat` for a non-``str``,
        :class:`~jukinet.errors.InvalidLength` for an empty or over-long one).

        >>> AuditLog.check_action("register.birth")
        'register.birth'
        >>> AuditLog.check_action(7)
        Traceback (most recent call last):
            ...
        jukinet.errors.InvalidFormat: action: got int (expected a str)
        """
        if action is None:
            return None
        field = attrs.fields(AuditEntry).action
        validate: Callable[..., object] | None = field.validator
        assert validate is not None
        validate(None, field, action)
        assert isinstance(action, str)
        return action

    @abstractmethod
    def last_seq(self, uow: UnitOfWork | None = None) -> int:
        """The highest sequence number written (0 if none)."""


class AgencyRegistry(ABC):
    """The agencies registered with a provider (the centre, or a prefecture for its own
    tables), each with its signing key and the recipients it may act as (住基法30条の9〜30条の15).
    """

    @abstractmethod
    def register(self, uow: UnitOfWork, row: AgencyRow) -> None:
        """Register an agency. A name registered before is an IntegrityError (keys are
        never silently replaced); nothing is written then.
        """

    @abstractmethod
    def get(self, agency: str, uow: UnitOfWork | None = None) -> AgencyRow | None:
        """The agency's registration, or None."""

    @abstractmethod
    def list(
        self, *, after: str | None = None, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[AgencyRow]:
        """Registrations ordered by name (code point order), after ``after``, at most ``limit``."""


class ProvisionLog(ABC):
    """A provider's provision log (提供記録): append-only and hash-chained.

    Each record commits to the one before (:func:`~jukinet.storage.records.chain_hash`),
    so a changed, removed or reordered record is found by recomputing the chain
    from :meth:`anchor`. Sequence numbers are gap-free in commit order. Kept 7
    years, then removed from the oldest end by :meth:`purge`, which moves the
    anchor (the caller logs the purge itself).
    """

    @abstractmethod
    def append(self, uow: UnitOfWork, entries: Sequence[ProvisionEntry]) -> list[ProvisionRecord]:
        """Append entries after the head, chaining each to the one before; returns the
        stored records. Concurrent appenders are serialized (the head is read and
        written in the unit of work), so the chain never forks.
        """

    @abstractmethod
    def read(
        self,
        *,
        after: int = 0,
        limit: int = 1000,
        subject: str | None = None,
        uow: UnitOfWork | None = None,
    ) -> list[ProvisionRecord]:
        """Records with ``seq > after`` in ``seq`` order, at most ``limit``: committed
        ones, and with ``uow`` also that unit of work's own appends. With ``subject``
        (a resident code) only that person's, from an index on (subject, seq).
        Records are returned exactly as stored (never re-hashed), so a reader can
        check them.
        """

    @abstractmethod
    def has_request(
        self, request_id: str, uow: UnitOfWork | None = None, *, agency: str | None = None
    ) -> bool:
        """Whether a kept record carries this request id — with ``agency``, one of that
        agency's records (request ids are unique per agency; replays are refused) —
        from an index."""

    @abstractmethod
    def head(self, uow: UnitOfWork | None = None) -> tuple[int, str]:
        """The last sequence number and its hash; ``(anchor)`` when no record is kept."""

    @abstractmethod
    def anchor(self, uow: UnitOfWork | None = None) -> tuple[int, str]:
        """The sequence number and hash just before the oldest kept record:
        ``(0, GENESIS)`` until a purge."""

    @abstractmethod
    def purge(self, uow: UnitOfWork, *, before: datetime) -> int:
        """Remove records from the oldest end while their ``at`` is before ``before``
        (stopping at the first later one, so only a prefix goes), move the anchor to
        the last removed record; returns how many went.
        """

    def verify(self, uow: UnitOfWork) -> list[ChainFault]:
        """Recompute the chain of every kept record from :meth:`anchor` to :meth:`head`
        (:func:`~jukinet.storage.records.verify_chain`); an empty list: intact.

        Run it in a unit of work, so the anchor, the head and the records are one
        state. A record that cannot be read back (:meth:`read` raises
        :class:`~jukinet.errors.CorruptRecord` naming its ``seq``) is named
        ``altered`` and the check reads on past it. A :class:`~jukinet.errors.CorruptRecord`
        that names no ``seq`` after the last record read, or an unreadable head or
        anchor, is raised.
        """
        anchor, head = self.anchor(uow), self.head(uow)
        records: list[ProvisionRecord] = []
        unreadable: list[int] = []
        after, limit = anchor[0], _VERIFY_PAGE
        while True:
            try:
                batch = self.read(after=after, limit=limit, uow=uow)
            except CorruptRecord as exc:
                if exc.seq is None or exc.seq <= after:
                    raise
                if limit == 1:  # the one record this read had
                    unreadable.append(exc.seq)
                    after, limit = exc.seq, _VERIFY_PAGE
                    continue
                # Read up to the unreadable record: the records before it in one page
                # when none of them is missing, else in smaller pages.
                before = exc.seq - after - 1
                limit = before if 0 < before < limit else 1 if before == 0 else limit // 2
                continue
            if not batch:
                return verify_chain(anchor, records, head, unreadable=unreadable)
            records.extend(batch)
            after = batch[-1].seq


class Schedule(ABC):
    """Work due on a date, by unique key (e.g. a JPKI deadline, JPKI法31条)."""

    @abstractmethod
    def add(self, uow: UnitOfWork, items: Sequence[ScheduledItem]) -> None:
        """Add items; a key already scheduled (or repeated in ``items``) is an
        IntegrityError and nothing is added."""

    @abstractmethod
    def cancel(self, uow: UnitOfWork, keys: Sequence[str]) -> int:
        """Remove the items with these keys (absent keys are skipped); returns how many."""

    @abstractmethod
    def get(self, key: str, uow: UnitOfWork | None = None) -> ScheduledItem | None:
        """The item with this key, or None."""

    @abstractmethod
    def due(
        self, on: date, *, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[ScheduledItem]:
        """Items due on or before ``on``, ordered by (due, key), at most ``limit``."""


class PendingNotices(ABC):
    """Notices an upper tier received and has not applied yet, by the resident codes
    they are about (docs/tiers.md): at the centre those whose predecessor has not
    arrived, at a prefecture those it referred to the centre. Sequence numbers
    give the order they arrived in; they are never reused."""

    @abstractmethod
    def add(self, uow: UnitOfWork, entries: Sequence[PendingNotice]) -> range:
        """Keep notices; returns their sequence numbers, ascending."""

    @abstractmethod
    def find(
        self, resident_codes: Sequence[str], uow: UnitOfWork | None = None
    ) -> list[PendingRecord]:
        """Every pending notice about any of these codes, in arrival order."""

    @abstractmethod
    def remove(self, uow: UnitOfWork, seqs: Sequence[int]) -> int:
        """Forget these notices (applied or refused); absent ones are skipped. Returns
        how many went."""

    @abstractmethod
    def count(self, uow: UnitOfWork | None = None) -> int:
        """How many notices are pending."""


class CardRegistry(ABC):
    """The resident IC cards a municipality issued, each with its state and its history
    (旧住基法30条の44: 住民基本台帳カード; 番号法17条: 個人番号カード).

    A person has at most one card in effect: a card is *live* while it is in effect
    or suspended, and a holder with a live card is issued no other one until it is
    returned or lapses (旧住基法30条の44; 番号法17条: a new card is issued only
    against the return of the old one). A card's state is kept with every event
    that led to it: versions 1, 2, … per card, appended, never rewritten; gap-free
    for a card issued here, while a card learnt of later (:meth:`adopt`: the card
    of a resident who moved in, kept in use there, 継続利用) starts at the version
    it was adopted at. A returned or lapsed card never changes again.
    """

    @abstractmethod
    def issue(self, uow: UnitOfWork, card: CardRow, event: CardEventRow) -> None:
        """Store a newly issued card with its first event.

        ``card.version`` and ``event.version`` must be 1, ``event.event``
        ``"issued"`` for ``card.card_id``, and ``card.state`` ``"in_effect"``
        (else :class:`~jukinet.errors.InvalidComponent`). A ``card_id`` already
        stored, or a holder who already has a live card (in effect or suspended:
        one card per person), is an :class:`~jukinet.errors.IntegrityError`;
        nothing is written then.
        """

    @abstractmethod
    def update(self, uow: UnitOfWork, card: CardRow, event: CardEventRow) -> None:
        """Store the new state of a stored card with the event that led to it.

        ``event`` must be about ``card.card_id`` with ``event.version ==
        card.version`` and not ``"issued"`` (else
        :class:`~jukinet.errors.InvalidComponent`). An
        :class:`~jukinet.errors.IntegrityError`, nothing written, when the card is
        not stored, when ``card.version`` is not the stored version + 1 (a stale,
        repeated or skipping update), when a column of :attr:`IMMUTABLE` differs
        from the stored card, or when the stored card is returned or lapsed (a
        final state never changes).
        """

    @abstractmethod
    def adopt(self, uow: UnitOfWork, card: CardRow, event: CardEventRow) -> None:
        """Keep the state of a card this registry learns of at a later version: the card of a
        resident who moved in, as the centre reports it (the keeping municipality changes with
        the holder, domain-facts §7 継続利用).

        ``card`` becomes the stored state (inserted if the card is not stored, in
        place of a stale copy at a lower version otherwise) and ``event`` is appended
        to its :meth:`history`, which then skips the versions this registry never
        saw. ``event`` must be about ``card.card_id`` with ``event.version ==
        card.version`` and not ``"issued"``, and ``card`` live (in effect or
        suspended; else :class:`~jukinet.errors.InvalidComponent`). An
        :class:`~jukinet.errors.IntegrityError`, nothing written, when the stored
        copy is at ``card.version`` or later (nothing to adopt), when it is returned
        or lapsed (a final state never changes), when a column of
        :attr:`IMMUTABLE` differs from it, or when the holder has another live card
        (one card per person, as for :meth:`issue`).
        """

    IMMUTABLE = ("holder", "kind", "photo", "issuer", "issued_on", "public_key")
    """The columns of a card that neither :meth:`update` nor :meth:`adopt` may change
    (besides ``card_id``): a card keeps what it was issued with."""

    @staticmethod
    def check_issue(card: object, event: object) -> tuple[CardRow, CardEventRow]:
        """Check the arguments of :meth:`issue` on their own (what every adapter checks
        before it reads the store) and return them.

        >>> from datetime import date
        >>> card = CardRow(card_id="0" * 32, holder="00000000019", kind="juki", photo=False,
        ...     issuer="131016", issued_on=date(2014, 4, 1), expires_on=date(2024, 4, 1),
        ...     public_key=bytes(32), state="in_effect", reason="", municipality="131016",
        ...     moved_in_on=None, version=1)
        >>> event = CardEventRow(card_id="0" * 32, version=1, event="suspended",
        ...     on=date(2014, 4, 1), municipality="131016", reason="")
        >>> CardRegistry.check_issue(card, event)
        Traceback (most recent call last):
            ...
        jukinet.errors.InvalidComponent: event: a new card's first event is 'suspended' (expected 'issued')
        """
        row, first = _card_pair(card, event)
        if row.version != 1:
            raise InvalidComponent(
                f"a new card has version {row.version}", field="version", expected="version 1"
            )
        if first.event != "issued":
            raise InvalidComponent(
                f"a new card's first event is {first.event!r}", field="event", expected="'issued'"
            )
        if row.state != "in_effect":
            raise InvalidComponent(
                f"a new card is {row.state!r}", field="state", expected="'in_effect'"
            )
        return row, first

    @staticmethod
    def check_update(card: object, event: object) -> tuple[CardRow, CardEventRow]:
        """Check the arguments of :meth:`update` on their own (the event is about the
        card, has its version and is no issue) and return them."""
        row, later = _card_pair(card, event)
        if later.event == "issued":
            raise InvalidComponent(
                f"card {row.card_id}: an update cannot record an issue",
                field="event",
                expected="an event after the issue (issue() stores the first)",
            )
        return row, later

    @classmethod
    def check_change(cls, stored: CardRow | None, card: CardRow) -> None:
        """Raise the :class:`~jukinet.errors.IntegrityError` of :meth:`update` unless
        ``card`` may follow ``stored`` (the stored state, None if not stored)."""
        if stored is None:
            raise IntegrityError(
                f"card {card.card_id} is not stored",
                field="card_id",
                expected="a card issued before (issue() stores a new one)",
            )
        if not stored.live:
            raise IntegrityError(
                f"card {card.card_id} is {stored.state}: it never changes again",
                field="state",
                expected="a card in effect or suspended",
            )
        if card.version != stored.version + 1:
            problem = "is stored already" if card.version <= stored.version else "skips a version"
            raise IntegrityError(
                f"card {card.card_id}: version {card.version} {problem}",
                field="version",
                expected=f"version {stored.version + 1}",
            )
        cls._check_immutable(stored, card)

    @staticmethod
    def check_adopt(card: object, event: object) -> tuple[CardRow, CardEventRow]:
        """Check the arguments of :meth:`adopt` on their own (the event is about the
        card, has its version and is no issue; the card is live) and return them.

        >>> from datetime import date
        >>> card = CardRow(card_id="0" * 32, holder="00000000019", kind="juki", photo=False,
        ...     issuer="131016", issued_on=date(2014, 4, 1), expires_on=date(2024, 4, 1),
        ...     public_key=bytes(32), state="lapsed", reason="not_continued",
        ...     municipality="131024", moved_in_on=None, version=3)
        >>> event = CardEventRow(card_id="0" * 32, version=3, event="lapsed",
        ...     on=date(2015, 4, 1), municipality="131024", reason="not_continued")
        >>> CardRegistry.check_adopt(card, event)
        Traceback (most recent call last):
            ...
        jukinet.errors.InvalidComponent: state: card 0...0 is 'lapsed': only a live card is adopted (expected ...)
        """
        row, seen = _card_pair(card, event)
        if seen.event == "issued":
            raise InvalidComponent(
                f"card {row.card_id}: an adoption cannot record an issue",
                field="event",
                expected="an event after the issue (issue() stores a new card)",
            )
        if not row.live:
            raise InvalidComponent(
                f"card {row.card_id} is {row.state!r}: only a live card is adopted",
                field="state",
                expected="'in_effect' or 'suspended'",
            )
        return row, seen

    @classmethod
    def check_adoption(cls, stored: CardRow | None, card: CardRow) -> None:
        """Raise the :class:`~jukinet.errors.IntegrityError` of :meth:`adopt` unless
        ``card`` may replace ``stored`` (the stored copy, None if not stored). The
        holder's other live card is the adapter's to look up
        (:meth:`second_live_card`)."""
        if stored is None:
            return
        if card.version <= stored.version:
            raise IntegrityError(
                f"card {card.card_id}: version {stored.version} is stored,"
                f" nothing to adopt at version {card.version}",
                field="version",
                expected=f"a version after {stored.version}",
            )
        if not stored.live:
            raise IntegrityError(
                f"card {card.card_id} is {stored.state}: it never changes again",
                field="state",
                expected="a stored copy in effect or suspended",
            )
        cls._check_immutable(stored, card)

    @classmethod
    def _check_immutable(cls, stored: CardRow, card: CardRow) -> None:
        for name in cls.IMMUTABLE:
            if getattr(stored, name) != getattr(card, name):
                raise IntegrityError(
                    f"card {card.card_id}: {name} differs from the stored card",
                    field=name,
                    expected=f"the {name} the card was issued with (it never changes)",
                )

    @staticmethod
    def duplicate_card(card: CardRow) -> IntegrityError:
        """The error of :meth:`issue` for a card id already stored."""
        return IntegrityError(
            f"card {card.card_id} is already stored",
            field="card_id",
            expected="a card id never issued before",
        )

    @staticmethod
    def second_live_card(card: CardRow) -> IntegrityError:
        """The error of :meth:`issue` and :meth:`adopt` for a holder who has another
        live card already."""
        return IntegrityError(
            f"the holder already has a card in effect or suspended (storing {card.card_id})",
            field="holder",
            expected="one card per person: the live card returned or lapsed first",
        )

    @abstractmethod
    def get(self, card_id: str, uow: UnitOfWork | None = None) -> CardRow | None:
        """The card's current state, or None."""

    @abstractmethod
    def get_many(
        self, card_ids: Sequence[str], uow: UnitOfWork | None = None
    ) -> dict[str, CardRow]:
        """Bulk :meth:`get`: card id → current state, for the ids found."""

    @abstractmethod
    def live_for(self, holder: str, uow: UnitOfWork | None = None) -> CardRow | None:
        """The holder's live card (in effect or suspended), or None."""

    @abstractmethod
    def history(self, card_id: str, uow: UnitOfWork | None = None) -> list[CardEventRow]:
        """Every event of the card this registry saw, in version order (empty if unknown).

        Gap-free from version 1 for a card issued here. For an adopted card
        (:meth:`adopt`) it holds what this registry saw: the events of any stale
        copy it kept, then the adopted event, skipping the versions in between
        (they happened while another municipality kept the card)."""

    @abstractmethod
    def awaiting_continued_use(
        self, *, moved_in_before: date, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[CardRow]:
        """Live cards whose move-in (``moved_in_on``) is before ``moved_in_before`` and
        still awaits continued use: oldest move-in first (then by card id), at most
        ``limit``."""

    @abstractmethod
    def expiring(
        self, *, before: date, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[CardRow]:
        """Live cards whose last day in effect (``expires_on``) is before ``before``:
        earliest first (then by card id), at most ``limit``."""


def _card_pair(card: object, event: object) -> tuple[CardRow, CardEventRow]:
    if not isinstance(card, CardRow):
        raise InterfaceError(f"got {type(card).__name__}", field="card", expected="a CardRow")
    if not isinstance(event, CardEventRow):
        raise InterfaceError(
            f"got {type(event).__name__}", field="event", expected="a CardEventRow"
        )
    if event.card_id != card.card_id:
        raise InvalidComponent(
            f"the event is about card {event.card_id}, the state about {card.card_id}",
            field="event",
            expected="an event about the card it records",
        )
    if event.version != card.version:
        raise InvalidComponent(
            f"the event has version {event.version}, the card {card.version}",
            field="version",
            expected="the same version on the card and its event",
        )
    return card, event


class CounterStore(ABC):
    """What a municipality keeps for the counter services that cross municipalities
    (住基法24条の2, 令24条の2〜24条の4; 12条の4).

    * The 転出証明書情報 (:class:`~jukinet.storage.records.MoveOutInfoRow`) that a
      move-out municipality sent to this one, the planned destination of a card
      holder (24条の2第3項; 令24条の3), by certificate number. A move-in is
      registered from an info once only (:meth:`use_info`), and an info is erased
      on its ``erase_on`` day whether used or not (24条の2第4項; 令24条の4:
      the planned move-out day + 30 days; :meth:`erase_infos`). The move-out
      municipality may send an info again (24条の2第5項・第6項): kept under the
      same certificate number, for the same person from the same municipality, it
      replaces the one kept and keeps its ``used``.
    * The requests this municipality sent to another one
      (:class:`~jukinet.storage.records.CounterRequestRow`): a wide-area copy of
      住民票 (12条の4第2項・第3項) or an info sent again, each answered once.
    """

    @abstractmethod
    def keep_info(self, uow: UnitOfWork, row: MoveOutInfoRow) -> None:
        """Keep an info that arrived. ``row.used`` must be False (else
        :class:`~jukinet.errors.InvalidComponent`: only :meth:`use_info` marks it).

        A certificate number already kept for another resident code or another
        ``moved_from`` is an :class:`~jukinet.errors.IntegrityError`, nothing
        written. For the same person from the same municipality it is a resend
        (24条の2第5項・第6項): the new row replaces the kept one (payload, days)
        but the kept ``used`` stays, so a resend never makes an info usable twice.
        """

    @abstractmethod
    def info(self, certificate: str, uow: UnitOfWork | None = None) -> MoveOutInfoRow | None:
        """The info kept under this certificate number, or None."""

    @abstractmethod
    def infos_for(self, resident_code: str, uow: UnitOfWork | None = None) -> list[MoveOutInfoRow]:
        """Every info kept about the person, by planned move-out day (then by
        certificate number)."""

    @abstractmethod
    def use_info(self, uow: UnitOfWork, certificate: str) -> None:
        """Mark the info as used: a move-in was registered from it. An
        :class:`~jukinet.errors.IntegrityError` when no info is kept under the
        number or it was used already (once only), even when two units of work
        race: exactly one of them uses it."""

    @abstractmethod
    def erase_infos(self, uow: UnitOfWork, *, on: date) -> int:
        """Erase every info whose ``erase_on`` is ``on`` or earlier, used or not
        (24条の2第4項; 令24条の4); returns how many. An info is still kept on
        ``erase_on`` − 1 day."""

    @abstractmethod
    def open_request(self, uow: UnitOfWork, row: CounterRequestRow) -> None:
        """Keep a request this municipality sends. ``row.answer`` must be None (else
        :class:`~jukinet.errors.InvalidComponent`); a ``request_id`` already kept is
        an :class:`~jukinet.errors.IntegrityError`, nothing written."""

    @abstractmethod
    def answer_request(self, uow: UnitOfWork, request_id: str, answer: bytes, on: date) -> None:
        """Keep the answer to a request, received on ``on``. An
        :class:`~jukinet.errors.IntegrityError` when the request is not kept or was
        answered already (an answer is kept once); ``on`` before the request's
        ``asked_on`` is an :class:`~jukinet.errors.InvalidComponent`."""

    @abstractmethod
    def request(self, request_id: str, uow: UnitOfWork | None = None) -> CounterRequestRow | None:
        """The request kept under this id (with its answer, if any), or None."""

    @abstractmethod
    def unanswered(
        self, *, kind: str | None = None, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[CounterRequestRow]:
        """Requests not answered yet, of ``kind`` (any when None): oldest first (by
        ``asked_on``, then request id), at most ``limit``."""

    # -- the checks every adapter makes, in one place --

    @staticmethod
    def check_info(row: object) -> MoveOutInfoRow:
        """Check the argument of :meth:`keep_info` on its own and return it.

        >>> from datetime import date
        >>> row = MoveOutInfoRow(certificate="0" * 32, resident_code="00000000019",
        ...     moved_from="131016", planned_date=date(2026, 4, 1),
        ...     erase_on=date(2026, 5, 1), received_on=date(2026, 3, 30),
        ...     payload=b"info", used=True)
        >>> CounterStore.check_info(row)
        Traceback (most recent call last):
            ...
        jukinet.errors.InvalidComponent: used: an info arrives unused (expected ...)
        """
        if not isinstance(row, MoveOutInfoRow):
            raise InterfaceError(
                f"got {type(row).__name__}", field="row", expected="a MoveOutInfoRow"
            )
        if row.used:
            raise InvalidComponent(
                "an info arrives unused",
                field="used",
                expected="used=False (use_info() marks a move-in registered from it)",
            )
        return row

    @staticmethod
    def kept_info(stored: MoveOutInfoRow | None, row: MoveOutInfoRow) -> MoveOutInfoRow:
        """The row :meth:`keep_info` stores for ``row`` given the one kept under its
        number (None if none): ``row`` itself, or for a resend ``row`` with the kept
        ``used``; the :class:`~jukinet.errors.IntegrityError` of :meth:`keep_info`
        when the kept one is about another person or from another municipality."""
        if stored is None:
            return row
        for name in ("resident_code", "moved_from"):
            if getattr(stored, name) != getattr(row, name):
                raise IntegrityError(
                    f"certificate {row.certificate} is kept with another {name}",
                    field=name,
                    expected=f"the {name} of the info kept under that number (a resend"
                    " is for the same person from the same municipality)",
                )
        return unchecked_replace(row, used=stored.used)

    @staticmethod
    def check_use(stored: MoveOutInfoRow | None, certificate: str) -> MoveOutInfoRow:
        """The used row :meth:`use_info` stores, or its
        :class:`~jukinet.errors.IntegrityError` (no info kept, or used already)."""
        if stored is None:
            raise IntegrityError(
                f"no info is kept under certificate {certificate}",
                field="certificate",
                expected="the number of an info kept (and not erased)",
            )
        if stored.used:
            raise IntegrityError(
                f"the info of certificate {certificate} was used already",
                field="used",
                expected="an info not used yet (a move-in is registered from it once)",
            )
        return unchecked_replace(stored, used=True)

    @staticmethod
    def check_request(row: object) -> CounterRequestRow:
        """Check the argument of :meth:`open_request` on its own and return it."""
        if not isinstance(row, CounterRequestRow):
            raise InterfaceError(
                f"got {type(row).__name__}", field="row", expected="a CounterRequestRow"
            )
        if row.answered:
            raise InvalidComponent(
                "a request is opened with its answer",
                field="answer",
                expected="answer=None (answer_request() keeps the answer)",
            )
        return row

    @staticmethod
    def duplicate_request(row: CounterRequestRow) -> IntegrityError:
        """The error of :meth:`open_request` for a request id already kept."""
        return IntegrityError(
            f"request {row.request_id} is already kept",
            field="request_id",
            expected="a request id never used before",
        )

    @staticmethod
    def check_answer(request_id: object, answer: object, on: object) -> None:
        """Check the arguments of :meth:`answer_request` on their own."""
        check_field(CounterRequestRow, "request_id", request_id)
        if answer is None:
            raise InvalidFormat("got NoneType", field="answer", expected="a bytes")
        check_field(CounterRequestRow, "answer", answer)
        check_date(on, "on")

    @staticmethod
    def answered(
        stored: CounterRequestRow | None, request_id: str, answer: bytes, on: date
    ) -> CounterRequestRow:
        """The answered row :meth:`answer_request` stores, or its error."""
        if stored is None:
            raise IntegrityError(
                f"no request {request_id} is kept",
                field="request_id",
                expected="the id of a request opened before",
            )
        if stored.answered:
            raise IntegrityError(
                f"request {request_id} was answered already (on {stored.answered_on})",
                field="answer",
                expected="a request not answered yet (an answer is kept once)",
            )
        return attrs.evolve(stored, answer=answer, answered_on=on)

    @staticmethod
    def check_kind(kind: object) -> str | None:
        """Check the ``kind`` of :meth:`unanswered` (None or one of
        :data:`~jukinet.storage.records.COUNTER_REQUEST_KINDS`) and return it."""
        if kind is not None:
            check_field(CounterRequestRow, "kind", kind)
        assert kind is None or isinstance(kind, str)
        return kind


class Store(ABC):
    """A node's storage: its ports and its units of work.

    Create the schema once with :meth:`create_schema`; opening a store whose
    schema is missing or of another version raises
    :class:`~jukinet.errors.ProgrammingError` /
    :class:`~jukinet.errors.SchemaVersionMismatch` on first use.
    """

    @property
    @abstractmethod
    def register(self) -> Register:
        """The resident register port."""

    @property
    @abstractmethod
    def identities(self) -> IdentityStore:
        """The identity-information port."""

    @property
    @abstractmethod
    def outbox(self) -> Outbox:
        """The outbox port."""

    @property
    @abstractmethod
    def tracking(self) -> Tracking:
        """The tracking port."""

    @property
    @abstractmethod
    def code_pool(self) -> CodePool:
        """The code-pool port."""

    @property
    @abstractmethod
    def audit(self) -> AuditLog:
        """The audit-log port."""

    @property
    @abstractmethod
    def agencies(self) -> AgencyRegistry:
        """The agency-registry port."""

    @property
    @abstractmethod
    def provision_log(self) -> ProvisionLog:
        """The provision-log port."""

    @property
    @abstractmethod
    def schedule(self) -> Schedule:
        """The schedule port."""

    @property
    @abstractmethod
    def pending(self) -> PendingNotices:
        """Notices received and not yet applied (upper tiers)."""

    @property
    @abstractmethod
    def cards(self) -> CardRegistry:
        """The resident IC cards a municipality issued."""

    @property
    @abstractmethod
    def counter(self) -> CounterStore:
        """What the counter services across municipalities keep (転出証明書情報
        received, requests sent to other municipalities)."""

    @abstractmethod
    def create_schema(self) -> None:
        """Create the tables (idempotent) and record :data:`SCHEMA_VERSION`.

        A store at schema version 2, 3, 4 or 5 is migrated to :data:`SCHEMA_VERSION` in
        one transaction, its data kept (see :data:`SCHEMA_VERSION`); another version raises
        :class:`~jukinet.errors.SchemaVersionMismatch` and changes nothing.
        """

    @abstractmethod
    def check_schema(self) -> None:
        """Raise unless the schema exists at :data:`SCHEMA_VERSION` (an older store:
        :class:`~jukinet.errors.SchemaVersionMismatch` saying to run
        :meth:`create_schema` to migrate it)."""

    @abstractmethod
    def unit_of_work(self) -> AbstractContextManager[UnitOfWork]:
        """Begin a unit of work: commit on normal exit, roll back on an exception."""

    @abstractmethod
    def close(self) -> None:
        """Release what the store opened itself (never a caller-owned resource).

        Idempotent; afterwards every call on this handle raises InterfaceError.
        """

    def reopen(self) -> Store:
        """Another handle onto the same storage, opened and closed separately.

        What a second connection to the same database is: it sees what the other
        handles commit, its own units of work are isolated from theirs, and closing
        one handle leaves the others open. Tests use it for what another connection
        sees and for racing writers (the conformance hook ``reopen_store``).

        The built-in adapters override it; this default raises
        :class:`~jukinet.errors.NotSupportedError`, as does an adapter that cannot
        open another handle on what it was given (a
        :class:`~jukinet.storage.postgres.PostgresStore` on one caller-owned
        connection). An adapter's ``reopen()`` on a closed store raises
        :class:`~jukinet.errors.InterfaceError`.
        """
        raise NotSupportedError(
            f"{type(self).__name__} cannot open another handle onto its storage",
            expected="a store class that implements reopen()",
        )

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    """Split ``items`` into slices of at most ``size`` (for bulk look-ups)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
