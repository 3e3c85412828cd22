"""The national centre of the ``provide`` and ``search`` benchmarks, and their raw halves.

Setup (never timed): :func:`population` builds N people living all over Japan
(every municipality of the shipped list that keeps a register, uniformly), each a
full :class:`~jukinet.domain.identity.IdentityNotice` (出生 or 国内転入; name by
surname frequency from :mod:`jukinet.testing.population`, birth date 1930–2025,
an individual number for 80 %) turned into an :class:`~jukinet.storage.records.IdentityRow`
by :func:`jukinet.storage.mapping.identity_row`, so every payload decodes to
that person's own notice. :func:`national` loads them into a fresh store with
``IdentityStore.bulk_load`` (one unit of work; on PostgreSQL the adapter ends a
load that large with ``ANALYZE`` of the two identity tables, see
:data:`~jukinet.storage.postgres.ANALYZE_AFTER`), wraps the store in a
:class:`~jukinet.tiers.upper.NationalCenter` and registers one agency,
厚生労働省及び日本年金機構 (``a:nenkin``), which asks under 別表第一 77 (``1-77``,
国民年金法; 住基法30条の9).

The raw halves (:class:`RawProvider`) do a request's storage work with the bare
driver on the same tables (or with plain dicts), in one transaction per request:
the replay check on the agency's request id, the identity reads the adapter makes, and the
provision-log append (head read, SHA-256 chain over the same canonical JSON as
:func:`~jukinet.storage.records.chain_hash`, INSERTs, head update). They write
byte-for-byte the records the library writes (same request ids, same clock), so a
raw run that starts from the library's starting head must end at the library's
head: that is how the benchmarks check that both sides did the same work.

:func:`costs` and :func:`log_breakdown` estimate, after the timed runs, where the
library's time goes: its own pieces of work (signature, parsing, decoding, row and
record building) timed apart on a sample of the same people; the remainder is the
storage and the desk's own work, shown beside the raw side's whole time.
"""

from __future__ import annotations

import base64
import functools
import gc
import hashlib
import json
import random
import sqlite3
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from datetime import date, datetime, timedelta
from typing import Any

import attrs
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from benchmarks._core import Log, Options, stopwatch
from benchmarks._data import resident_codes
from benchmarks._stores import Target, fresh_target, sqlite_transaction
from jukinet.domain import codec, individual_number
from jukinet.domain.address import Address
from jukinet.domain.changes import ChangeReason
from jukinet.domain.identity import IdentityInfo, IdentityNotice
from jukinet.domain.individual_number import IndividualNumber
from jukinet.domain.lg_code import all_codes
from jukinet.domain.resident import Sex
from jukinet.domain.resident_code import ResidentCode
from jukinet.storage.base import chunks
from jukinet.storage.mapping import identity_row
from jukinet.storage.records import (
    GENESIS,
    IdentityRow,
    ProvisionEntry,
    chain,
    unchecked,
    unchecked_replace,
)
from jukinet.testing.population import person_name, street_address
from jukinet.tiers import provision as _provision
from jukinet.tiers.clock import JST, ManualClock
from jukinet.tiers.messages import CENTER, Envelope, NodeId, NodeKey, TrustStore
from jukinet.tiers.provision import (
    ByBasicItems,
    ByCode,
    Outcome,
    ProvidedIdentity,
    ProvisionRequest,
    seal_request,
)
from jukinet.tiers.provision import Result as Answer
from jukinet.tiers.upper import NationalCenter

__all__ = [
    "AGENCY",
    "BREAKDOWN_SAMPLE",
    "RECIPIENT",
    "SEARCH_LIMIT",
    "SQLITE_CHUNK",
    "START",
    "USE",
    "Costs",
    "National",
    "Population",
    "RawProvider",
    "SearchKey",
    "check",
    "costs",
    "log_breakdown",
    "national",
    "population",
    "raw_provider",
]

AGENCY = "nenkin"
"""The requesting agency's name (its node is ``a:nenkin``)."""
RECIPIENT = "厚生労働省及び日本年金機構"
"""The 別表第一 left-column recipient the agency acts as."""
USE = "1-77"
"""別表第一 77 (国民年金法): nationwide, every item but the resident code (住基法30条の9)."""
SEARCH_LIMIT: int = _provision._SEARCH_LIMIT
"""Rows a search by the four basic items reads at most: the desk's own limit, so the raw
side's ``LIMIT`` is the library's (read from the module; a rename fails loudly here)."""
SQLITE_CHUNK = 500
"""Codes per ``IN (…)`` on SQLite: the adapter's ``CHUNK_SIZE``."""

START = datetime(2026, 4, 1, 9, 0, tzinfo=JST)
"""The (manual, never advanced) clock's time: every request is sent, answered and logged then."""
_FIRST_BIRTH = date(1930, 1, 1)
_LAST_BIRTH = date(2025, 12, 31)
_TODAY = date(2026, 3, 31)

SearchKey = tuple[str, date, str, str | None]
"""What a search asks on the raw side: (name key, birth date, sex, reading key)."""


def check(ok: bool, what: str) -> None:
    """Fail the benchmark (not timed) unless ``ok``."""
    if not ok:
        raise RuntimeError(f"benchmark self-check failed: {what}")


# --- the people ------------------------------------------------------------------


@attrs.frozen
class Population:
    """N identity rows (version 1 each), and which people a search finds alone.

    ``searchable`` are the indexes of the rows whose (name key, birth date, sex)
    no one else has, so a search by name, birth date and sex finds exactly them.
    """

    rows: tuple[IdentityRow, ...]
    searchable: tuple[int, ...]


@functools.lru_cache(maxsize=1)
def population(n: int, *, seed: int) -> Population:
    """N people all over Japan as identity rows with real notices (see the module doc).

    Deterministic for a given ``seed``; the last answer is cached (``--repeat``).
    """
    rng = random.Random(seed)
    places = [code for code in all_codes() if code.keeps_register]
    codes = resident_codes(rng, n)
    days = (_LAST_BIRTH - _FIRST_BIRTH).days + 1
    rows: list[IdentityRow] = []
    for code in codes:
        sex = rng.choice((Sex.MALE, Sex.FEMALE))
        birth = _FIRST_BIRTH + timedelta(days=rng.randrange(days))
        number = None
        if rng.random() < 0.8:
            body = f"{rng.randrange(10**11):011d}"
            number = IndividualNumber(body + individual_number.calc_check_digit(body))
        info = IdentityInfo(
            resident_code=ResidentCode(code),
            name=person_name(rng, sex),
            birth_date=birth,
            sex=sex,
            address=Address(municipality=rng.choice(places), rest=street_address(rng)),
            individual_number=number,
        )
        moved_from = certificate = None
        if rng.random() < 0.5:
            reason, event = ChangeReason.BIRTH, birth
        else:
            moved = birth + timedelta(days=rng.randrange((_TODAY - birth).days + 1))
            reason, event = ChangeReason.DOMESTIC_MOVE_IN, moved
            # the move-out certificate's number and issuer (住基法22条, 24条)
            certificate = f"{rng.getrandbits(128):032x}"
            moved_from = rng.choice(places)
            if moved_from == info.address.municipality:
                moved_from = places[places.index(moved_from) - 1]
        notice = IdentityNotice(
            info=info,
            reason=reason,
            event_date=event,
            moved_from=moved_from,
            certificate=certificate,
        )
        rows.append(identity_row(notice, 1))
    keys = Counter((row.name_key, row.birth_date, row.sex) for row in rows)
    searchable = tuple(
        i for i, row in enumerate(rows) if keys[row.name_key, row.birth_date, row.sex] == 1
    )
    return Population(rows=tuple(rows), searchable=searchable)


# --- the centre ------------------------------------------------------------------


@attrs.frozen
class National:
    """The centre over its store, the agency's key and the (never moving) clock."""

    target: Target
    center: NationalCenter
    key: NodeKey
    clock: ManualClock
    items: tuple[str, ...]
    """The items a provision under :data:`USE` records (sorted values, as the desk logs them)."""

    def request(self, request_id: str, queries: Sequence[ByCode | ByBasicItems]) -> Envelope:
        """A request from the agency, signed by it (the agency's work: never timed)."""
        request = ProvisionRequest(
            request_id=request_id, agency=AGENCY, use=USE, queries=tuple(queries)
        )
        return seal_request(self.key, CENTER, request, sent_at=self.clock.now())

    def head(self) -> tuple[int, str]:
        """The provision log's head (sequence number, hash)."""
        return self.center.store.provision_log.head()

    def records_after(self, seq: int) -> int:
        """How many provision records the store holds after ``seq`` (not timed)."""
        target = self.target
        if target.backend == "sqlite":
            with closing(target.sqlite()) as conn:
                found = conn.execute(
                    "SELECT count(*) FROM provision_log WHERE seq > ?", (seq,)
                ).fetchone()
            return int(found[0])
        if target.backend == "postgres":
            import psycopg

            assert target.dsn is not None
            with closing(psycopg.connect(target.dsn, autocommit=True)) as pg:
                row = pg.execute(
                    f"SELECT count(*) FROM {target.table('provision_log')} WHERE seq > %s".encode(),
                    (seq,),
                ).fetchone()
            assert row is not None
            return int(row[0])
        count = 0
        log = self.center.store.provision_log
        while batch := log.read(after=seq, limit=10_000):
            count += len(batch)
            seq = batch[-1].seq
        return count


@contextmanager
def national(options: Options, log: Log) -> Iterator[National]:
    """A national centre on a fresh store of ``options.backend`` holding ``options.rows``
    people, with the agency registered (see the module doc); removed afterwards."""
    n = options.rows
    with stopwatch() as built:
        people = population(n, seed=options.seed)
    log(f"built {n:,} identity rows from full IdentityNotices in {built.seconds:.1f} s (not timed)")
    rng = random.Random(options.seed)
    clock = ManualClock(START)
    own = NodeKey.generate(CENTER, rng)
    trust = TrustStore({CENTER: own.public_bytes})
    agency_key = NodeKey.generate(NodeId.agency(AGENCY), rng)
    with fresh_target(options.backend, options.dsn) as target:
        store = target.store
        with stopwatch() as loaded, store.unit_of_work() as uow:
            store.identities.bulk_load(uow, people.rows)
        log(
            f"loaded {n:,} people into the centre's identity store with bulk_load in "
            f"{loaded.seconds:.1f} s (not timed)"
        )
        center = NationalCenter(store, own, trust, clock, random.Random(rng.random()))
        desk = center.provision
        desk.register_agency(AGENCY, agency_key.public_bytes, recipients=[RECIPIENT])
        use = desk.uses.by_key(USE)
        items = tuple(sorted(item.value for item in use.items(individual_number=False)))
        yield National(target=target, center=center, key=agency_key, clock=clock, items=items)


# --- where the library's time goes ----------------------------------------------

BREAKDOWN_SAMPLE = 2000
"""People (and one-query requests) timed apart for the breakdown (at most)."""


@attrs.frozen
class Costs:
    """Seconds per item of the library's own pieces of work, timed apart (not timed).

    ``verify``: Ed25519 verification of a request's signature plus its digest (the
    answer's request hash), per request; ``parse_code`` / ``parse_items``: parsing a
    one-query request (JSON, validated ``ResidentCode`` or ``PersonName``) per
    request; ``parse_batch``: parsing the batch request, per code; ``keys``: a
    name's matching and reading keys, per search; ``row``: building and validating an
    ``IdentityRow`` from a fetched row's values; ``decode``: ``IdentityNotice`` from
    the payload (cattrs, every item validated); ``answer``: ``ProvidedIdentity`` and
    ``Result``; ``record``: the log's Python per person (a validated
    ``ProvisionEntry``, ``chain_hash``, a validated ``ProvisionRecord``).
    """

    verify: float
    parse_code: float
    parse_items: float
    parse_batch: float
    keys: float
    row: float
    decode: float
    answer: float
    record: float


def costs(centre: National, people: Population, batch: Envelope | None = None) -> Costs:
    """Time the library's pieces apart on a sample of the same people (not timed)."""
    rows = people.rows[:BREAKDOWN_SAMPLE]
    count = len(rows)
    notices = [codec.from_bytes(IdentityNotice, row.payload) for row in rows]
    by_code = [
        centre.request(f"cost-{i}", [ByCode(resident_code=ResidentCode(row.resident_code))])
        for i, row in enumerate(rows)
    ]
    by_items = [
        centre.request(
            f"cost-{i}",
            [
                ByBasicItems(
                    name=notice.info.name, birth_date=notice.info.birth_date, sex=notice.info.sex
                )
            ],
        )
        for i, notice in enumerate(notices)
    ]
    public = centre.key.public_bytes
    items = frozenset(centre.center.provision.uses.by_key(USE).items(individual_number=False))
    values = [attrs.astuple(row, recurse=False) for row in rows]
    fields = [f.name for f in attrs.fields(IdentityRow)]

    def per_item(work: Callable[[], object], items_done: int = count) -> float:
        start = time.perf_counter()
        work()
        return (time.perf_counter() - start) / items_done

    def verify() -> None:
        for envelope in by_code:
            Ed25519PublicKey.from_public_bytes(public).verify(
                envelope.signature, envelope.signed_bytes()
            )
            _ = envelope.digest

    def parse(envelopes: list[Envelope]) -> Callable[[], None]:
        def work() -> None:
            for envelope in envelopes:
                ProvisionRequest.from_bytes(envelope.payloads[0])

        return work

    def keys() -> None:
        for notice in notices:
            _ = (notice.info.name.matching_key, notice.info.name.reading_key)

    def build_rows() -> None:
        for value in values:
            unchecked(IdentityRow, **dict(zip(fields, value, strict=True)))

    def decode() -> None:
        for row in rows:
            codec.from_stored(IdentityNotice, row.payload)

    def answer() -> None:
        for notice in notices:
            Answer(outcome=Outcome.FOUND, identity=ProvidedIdentity.of(notice, items), candidates=1)

    logged = tuple(sorted(item.value for item in items))

    def record() -> None:
        template = ProvisionEntry(
            at=centre.clock.now(),
            kind="provided",
            request_id="cost-1",
            agency=AGENCY,
            use=USE,
            items=logged,
        )
        chain(
            (0, GENESIS),
            [unchecked_replace(template, subject=row.resident_code) for row in rows],
        )

    parse_batch = 0.0
    if batch is not None:
        queries = len(ProvisionRequest.from_bytes(batch.payloads[0]).queries)
        parse_batch = per_item(parse([batch]), queries)
    gc.collect()
    return Costs(
        verify=per_item(verify),
        parse_code=per_item(parse(by_code)),
        parse_items=per_item(parse(by_items)),
        parse_batch=parse_batch,
        keys=per_item(keys),
        row=per_item(build_rows),
        decode=per_item(decode),
        answer=per_item(answer),
        record=per_item(record),
    )


def log_breakdown(
    log: Log,
    centre: National,
    title: str,
    total: float,
    parts: Sequence[tuple[str, float, int]],
    raw: float,
) -> None:
    """Log an estimated breakdown of ``total`` library seconds: each part is (what,
    seconds per occurrence, occurrences); the remainder is storage and the desk's own
    work, shown beside the raw side's whole time. On the memory backend no row is
    fetched, so parts naming an ``IdentityRow`` are left out."""
    memory = centre.target.backend == "memory"
    if memory:
        parts = [part for part in parts if "IdentityRow" not in part[0]]
        rest = ("the rest: the memory store (locking, staging,", "  indexes) and the desk")
    else:
        rest = ("the rest: storage (SQL, transactions, savepoints,", "  the adapter) and the desk")
    log(f"breakdown of the library's {title} (pieces timed apart on a sample, × count):")
    accounted = 0.0
    for what, seconds, times in parts:
        estimate = seconds * times
        accounted += estimate
        log(
            f"  {what:<48} {seconds * 1e6:6.1f} µs × {times:>7,} = {estimate:7.3f} s "
            f"{estimate / total:4.0%}"
        )
    remainder = total - accounted
    log(f"  {rest[0]:<48} {'':>21} {remainder:7.3f} s {remainder / total:4.0%}")
    log(f"  {rest[1]}")
    log(f"  {'the raw side, all its work':<48} {'':>21} {raw:7.3f} s")


# --- the raw halves --------------------------------------------------------------


class _Chain:
    """The provision log's entry fields every record of these benchmarks shares, and the
    SHA-256 chain over them (the same canonical JSON as ``chain_hash``)."""

    def __init__(self, national: National) -> None:
        self.at = national.clock.now()
        self.items = national.items
        self.detail = b"{}"
        self._at_text = self.at.isoformat()
        self._detail_b64 = base64.b64encode(self.detail).decode()

    def hash(self, prev: str, seq: int, request_id: str, subject: str | None) -> str:
        """The record's hash, chained to ``prev``."""
        body = {
            "agency": AGENCY,
            "at": self._at_text,
            "detail": self._detail_b64,
            "items": list(self.items),
            "kind": "provided",
            "prev": prev,
            "request_id": request_id,
            "seq": seq,
            "subject": subject,
            "use": USE,
        }
        data = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(data.encode()).hexdigest()

    def links(
        self, head: tuple[int, str], request_id: str, subjects: Sequence[str | None]
    ) -> Iterator[tuple[int, str | None, str, str]]:
        """``(seq, subject, prev, hash)`` of each record after ``head``, chained."""
        seq, prev = head
        for subject in subjects:
            seq += 1
            digest = self.hash(prev, seq, request_id, subject)
            yield seq, subject, prev, digest
            prev = digest


class RawProvider(ABC):
    """A request's storage work with the bare driver (see the module doc).

    Each call is one request in one transaction and returns how many persons were
    provided (each logged); :meth:`start_at` sets the log's head first (not timed).
    """

    def __init__(self, national: National) -> None:
        self.chain = _Chain(national)

    @abstractmethod
    def start_at(self, head: tuple[int, str]) -> None:
        """Make the log's head ``head`` again, dropping every record after it (not timed)."""

    @abstractmethod
    def head(self) -> tuple[int, str]:
        """The log's head as the raw side left it."""

    @abstractmethod
    def by_codes(self, request_id: str, codes: Sequence[str]) -> int:
        """Replay check, the current rows of ``codes`` (as the adapter batches them),
        one log record per code found, in ``codes`` order."""

    @abstractmethod
    def by_items(self, request_id: str, key: SearchKey) -> int:
        """Replay check, the search on the four basic items, the reading-key filter,
        the found person's current row, one log record if exactly one person matched."""

    def close(self) -> None:  # noqa: B027 - optional
        """Release the driver's connection."""


@contextmanager
def raw_provider(national: National, people: Population) -> Iterator[RawProvider]:
    """The raw half for the centre's backend (memory: plain dicts built from ``people``)."""
    backend = national.target.backend
    raw: RawProvider
    if backend == "memory":
        raw = _MemoryRaw(national, people)
    elif backend == "sqlite":
        raw = _SQLiteRaw(national)
    else:
        raw = _PostgresRaw(national)
    try:
        yield raw
    finally:
        raw.close()


class _MemoryRaw(RawProvider):
    """Plain dicts: code → row, (name key, birth date) → codes, the log as dict seq → tuple
    with dicts subject → seqs and (agency, request id) → seq. No locking, staging or validation."""

    def __init__(self, national: National, people: Population) -> None:
        super().__init__(national)
        self.current: dict[str, IdentityRow] = {row.resident_code: row for row in people.rows}
        index: dict[tuple[str, date], list[str]] = {}
        for row in people.rows:
            index.setdefault((row.name_key, row.birth_date), []).append(row.resident_code)
        for found in index.values():
            found.sort()
        self.index = index
        self.records: dict[int, tuple[Any, ...]] = {}
        self.subjects: dict[str | None, list[int]] = {}
        self.requests: dict[tuple[str, str], int] = {}  # (agency, request id) -> seq
        self._head = national.head()

    def start_at(self, head: tuple[int, str]) -> None:
        self._head = head

    def head(self) -> tuple[int, str]:
        return self._head

    def _append(self, request_id: str, subjects: Sequence[str | None]) -> None:
        chain = self.chain
        seq, digest = self._head
        for seq, subject, prev, digest in chain.links(self._head, request_id, subjects):
            self.records[seq] = (
                chain.at,
                "provided",
                request_id,
                AGENCY,
                USE,
                subject,
                chain.items,
                chain.detail,
                prev,
                digest,
            )
            self.subjects.setdefault(subject, []).append(seq)
        self.requests[AGENCY, request_id] = seq
        self._head = (seq, digest)

    def by_codes(self, request_id: str, codes: Sequence[str]) -> int:
        if (AGENCY, request_id) in self.requests:
            raise RuntimeError(f"request {request_id} was made before")
        current = self.current
        found = {code: current[code] for code in set(codes) if code in current}
        subjects = [code for code in codes if code in found]
        self._append(request_id, subjects or [None])
        return len(subjects)

    def by_items(self, request_id: str, key: SearchKey) -> int:
        if (AGENCY, request_id) in self.requests:
            raise RuntimeError(f"request {request_id} was made before")
        name_key, birth, sex, reading = key
        hits = []
        for code in self.index.get((name_key, birth), ()):
            row = self.current[code]
            if not row.removed and row.sex == sex:
                hits.append(row)
                if len(hits) == SEARCH_LIMIT:
                    break
        codes = {
            row.resident_code
            for row in hits
            if reading is None or row.reading_key is None or row.reading_key == reading
        }
        subjects: list[str] = []
        if len(codes) == 1:
            person = self.current.get(codes.pop())
            if person is not None and not person.removed:
                subjects.append(person.resident_code)
        self._append(request_id, subjects or [None])
        return len(subjects)


# The identity SELECTs of the SQLite adapter (its _IDENTITY_CURRENT and
# _IS_CURRENT_IDENTITY), column for column.
_IDENTITY_V = (
    "v.resident_code, v.version, v.municipality, v.reason, v.event_date, v.removed, v.name_key,"
    " v.reading_key, v.birth_date, v.sex, v.address_key, v.previous_resident_code, v.payload,"
    " v.received_on"
)
_SQLITE_CURRENT = (
    f"SELECT {_IDENTITY_V} FROM identity_current c JOIN identity_versions v"
    " ON v.resident_code = c.resident_code AND v.version = c.version"
)
_SQLITE_IS_CURRENT = (
    "c.version = (SELECT b.version FROM identity_current b"
    " WHERE b.resident_code = c.resident_code ORDER BY b.removed, b.version DESC LIMIT 1)"
)
_SQLITE_ONE = (
    f"{_SQLITE_CURRENT} WHERE c.resident_code = ? ORDER BY c.removed, c.version DESC LIMIT 1"
)
_SQLITE_SEARCH = (
    f"{_SQLITE_CURRENT} WHERE c.removed = 0 AND c.name_key = ? AND c.birth_date = ?"
    " AND c.sex = ? ORDER BY c.resident_code, c.municipality LIMIT ?"
)
_SQLITE_HAS_REQUEST = "SELECT 1 FROM provision_log WHERE request_id = ? AND agency = ? LIMIT 1"
_SQLITE_HEAD = "SELECT seq, hash FROM provision_meta WHERE name = 'head'"
_SQLITE_INSERT = (
    'INSERT INTO provision_log (seq, at, kind, request_id, agency, "use", subject, items,'
    " detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SQLITE_SET_HEAD = "UPDATE provision_meta SET seq = ?, hash = ? WHERE name = 'head'"


class _SQLiteRaw(RawProvider):
    """Its own autocommit ``sqlite3`` connection to the store's file (the adapter's
    pragmas); ``BEGIN IMMEDIATE`` … ``COMMIT`` per request."""

    def __init__(self, national: National) -> None:
        super().__init__(national)
        self.conn = national.target.sqlite()
        self._at = self.chain.at.isoformat()
        self._items = json.dumps(list(self.chain.items), ensure_ascii=False)
        self._in: dict[int, str] = {}

    def close(self) -> None:
        self.conn.close()

    def start_at(self, head: tuple[int, str]) -> None:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("DELETE FROM provision_log WHERE seq > ?", (head[0],))
        conn.execute(_SQLITE_SET_HEAD, head)
        conn.execute("COMMIT")

    def head(self) -> tuple[int, str]:
        seq, digest = self.conn.execute(_SQLITE_HEAD).fetchone()
        return int(seq), str(digest)

    def _current_in(self, count: int) -> str:
        statement = self._in.get(count)
        if statement is None:
            marks = ", ".join("?" * count)
            statement = (
                f"{_SQLITE_CURRENT} WHERE c.resident_code IN ({marks}) AND {_SQLITE_IS_CURRENT}"
            )
            self._in[count] = statement
        return statement

    def _append(
        self, conn: sqlite3.Connection, request_id: str, subjects: Sequence[str | None]
    ) -> None:
        seq, prev = conn.execute(_SQLITE_HEAD).fetchone()
        detail = self.chain.detail
        params = [
            (
                seq,
                self._at,
                "provided",
                request_id,
                AGENCY,
                USE,
                subject,
                self._items,
                detail,
                prev,
                digest,
            )
            for seq, subject, prev, digest in self.chain.links((seq, prev), request_id, subjects)
        ]
        conn.executemany(_SQLITE_INSERT, params)
        conn.execute(_SQLITE_SET_HEAD, (params[-1][0], params[-1][-1]))

    def by_codes(self, request_id: str, codes: Sequence[str]) -> int:
        with sqlite_transaction(self.conn) as conn:
            if conn.execute(_SQLITE_HAS_REQUEST, (request_id, AGENCY)).fetchone() is not None:
                raise RuntimeError(f"request {request_id} was made before")
            found: dict[str, tuple[Any, ...]] = {}
            for part in chunks(sorted(set(codes)), SQLITE_CHUNK):
                for row in conn.execute(self._current_in(len(part)), tuple(part)):
                    found[row[0]] = row
            subjects = [code for code in codes if code in found]
            self._append(conn, request_id, subjects or [None])
        return len(subjects)

    def by_items(self, request_id: str, key: SearchKey) -> int:
        name_key, birth, sex, reading = key
        with sqlite_transaction(self.conn) as conn:
            if conn.execute(_SQLITE_HAS_REQUEST, (request_id, AGENCY)).fetchone() is not None:
                raise RuntimeError(f"request {request_id} was made before")
            hits = conn.execute(
                _SQLITE_SEARCH, (name_key, birth.isoformat(), sex, SEARCH_LIMIT)
            ).fetchall()
            codes = {
                row[0] for row in hits if reading is None or row[7] is None or row[7] == reading
            }
            subjects: list[str] = []
            if len(codes) == 1:
                row = conn.execute(_SQLITE_ONE, (codes.pop(),)).fetchone()
                if row is not None and not row[5]:
                    subjects.append(row[0])
            self._append(conn, request_id, subjects or [None])
        return len(subjects)


# The PostgreSQL adapter's statements (its _queries), column for column; {t} is the
# quoted schema and a dot.
_PG_CURRENT_JOIN = (
    " FROM {t}identity_current c JOIN {t}identity_versions v"
    " ON v.resident_code = c.resident_code AND v.version = c.version"
)
_PG_STATEMENTS = {
    "current_many": (
        f"SELECT DISTINCT ON (c.resident_code) {_IDENTITY_V}{_PG_CURRENT_JOIN}"
        " WHERE c.resident_code = ANY(%s) ORDER BY c.resident_code, c.removed, c.version DESC"
    ),
    "current": (
        f"SELECT {_IDENTITY_V}{_PG_CURRENT_JOIN}"
        " WHERE c.resident_code = %s ORDER BY c.removed, c.version DESC LIMIT 1"
    ),
    "search": (
        f"SELECT {_IDENTITY_V}{_PG_CURRENT_JOIN}"
        " WHERE c.name_key = %s AND c.birth_date = %s AND NOT c.removed"
        " AND c.sex = coalesce(%s::text, c.sex)"
        " AND c.address_key = coalesce(%s::text, c.address_key)"
        " ORDER BY c.resident_code, c.municipality LIMIT %s"
    ),
    "has_request": (
        "SELECT EXISTS (SELECT 1 FROM {t}provision_log WHERE request_id = %s AND agency = %s)"
    ),
    "lock_head": "SELECT seq, hash FROM {t}provision_meta WHERE name = 'head' FOR UPDATE",
    "head": "SELECT seq, hash FROM {t}provision_meta WHERE name = 'head'",
    "set_head": "UPDATE {t}provision_meta SET seq = %s, hash = %s WHERE name = 'head'",
    "insert": (
        'INSERT INTO {t}provision_log (seq, at, at_offset, kind, request_id, agency, "use",'
        " subject, items, detail, prev_hash, hash)"
        " VALUES (%s, (%s::timestamp - %s::interval) AT TIME ZONE 'UTC', %s::interval,"
        " %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    ),
    "delete_after": "DELETE FROM {t}provision_log WHERE seq > %s",
    "vacuum": "VACUUM {t}provision_log",
}


class _PostgresRaw(RawProvider):
    """Its own autocommit psycopg connection; ``conn.transaction()`` per request,
    ``SELECT … FOR UPDATE`` on the log's head (as the adapter), ``executemany``."""

    def __init__(self, national: National) -> None:
        import psycopg

        super().__init__(national)
        target = national.target
        assert target.dsn is not None
        self.conn = psycopg.connect(target.dsn, autocommit=True)
        self.cur = self.conn.cursor()
        prefix = f'"{target.schema}".'
        self.q = {key: s.replace("{t}", prefix).encode() for key, s in _PG_STATEMENTS.items()}
        at = self.chain.at
        offset = at.utcoffset()
        assert offset is not None
        self._wall = at.replace(tzinfo=None)
        self._offset = offset
        self._items = json.dumps(list(self.chain.items), ensure_ascii=False, separators=(",", ":"))

    def close(self) -> None:
        self.cur.close()
        self.conn.close()

    def start_at(self, head: tuple[int, str]) -> None:
        with self.conn.transaction():
            self.cur.execute(self.q["delete_after"], (head[0],))
            self.cur.execute(self.q["set_head"], head)
        self.cur.execute(self.q["vacuum"])  # no dead index entries left for the raw inserts

    def head(self) -> tuple[int, str]:
        self.cur.execute(self.q["head"])
        row = self.cur.fetchone()
        assert row is not None
        return int(row[0]), str(row[1])

    def _append(self, request_id: str, subjects: Sequence[str | None]) -> None:
        cur, q = self.cur, self.q
        cur.execute(q["lock_head"])
        head = cur.fetchone()
        assert head is not None
        detail, wall, offset = self.chain.detail, self._wall, self._offset
        values = [
            (
                seq,
                wall,
                offset,
                offset,
                "provided",
                request_id,
                AGENCY,
                USE,
                subject,
                self._items,
                detail,
                prev,
                digest,
            )
            for seq, subject, prev, digest in self.chain.links(head, request_id, subjects)
        ]
        cur.executemany(q["insert"], values)
        cur.execute(q["set_head"], (values[-1][0], values[-1][-1]))

    def _replayed(self, request_id: str) -> None:
        self.cur.execute(self.q["has_request"], (request_id, AGENCY))
        found = self.cur.fetchone()
        if found is not None and found[0]:
            raise RuntimeError(f"request {request_id} was made before")

    def by_codes(self, request_id: str, codes: Sequence[str]) -> int:
        cur = self.cur
        with self.conn.transaction():
            self._replayed(request_id)
            cur.execute(self.q["current_many"], (sorted(set(codes)),))
            found = {row[0]: row for row in cur.fetchall()}
            subjects = [code for code in codes if code in found]
            self._append(request_id, subjects or [None])
        return len(subjects)

    def by_items(self, request_id: str, key: SearchKey) -> int:
        name_key, birth, sex, reading = key
        cur = self.cur
        with self.conn.transaction():
            self._replayed(request_id)
            cur.execute(self.q["search"], (name_key, birth, sex, None, SEARCH_LIMIT))
            codes = {
                row[0]
                for row in cur.fetchall()
                if reading is None or row[7] is None or row[7] == reading
            }
            subjects: list[str] = []
            if len(codes) == 1:
                cur.execute(self.q["current"], (codes.pop(),))
                row = cur.fetchone()
                if row is not None and not row[5]:
                    subjects.append(row[0])
            self._append(request_id, subjects or [None])
        return len(subjects)
