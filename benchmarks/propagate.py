"""``propagate``: N registrations from ten municipalities through their prefecture to the
centre and the centre's confirmations back, to quiescence.

Setup (not timed): ten special wards of 東京都, the prefecture server of 東京都 and the
national centre, each a node on its own fresh store of the chosen backend (SQLite:
its own file; PostgreSQL: its own schema; memory: its own ``MemoryStore``), wired with
Ed25519 keys and one trust store (:mod:`benchmarks._tiers`). The centre designates
resident codes to each ward over the network; each ward reserves them and joins with
N/10 synthetic residents through ``Municipality.initial_load``, which queues one
identity notice per resident (本人確認情報の通知, 住基法30条の6) in its outbox. Every one
is a registration (記載, ENTRY kind), so the prefecture refers it to the centre, which
judges it (``jukinet.domain.custody``): the code must be new and designated to the ward
using it (30条の2).

**library** (timed): the public node API end to end, envelopes of ``DEFAULT_BATCH``
(1,000) notices, until no node has a backlog. In turn, each ward sends one envelope
(``ward.cs.outgoing(max_envelopes=1)``), and after each the prefecture's and the
centre's links are drained, so at most one envelope of notices is pending at a time:

1. ``prefecture.receive(envelope)``, the acknowledgement back with ``ward.receive``:
   the prefecture verifies the signature, decodes every notice in full and checks its
   index header, keeps it pending (``pending_notices``, one ``PendingNotices.add`` per
   notice), queues a referral (``wire.REFERRAL``) for the centre and advances its
   tracking, in one unit of work; the ward records the acknowledgement in another;
2. ``centre.receive`` of the prefecture's envelope of referrals, the acknowledgement
   back: the centre verifies the signature, decodes each notice in full
   (``parse_referral(verify=True)``), reads the codes' current versions, last versions
   and pending notices (one bulk read per envelope) and each code's designation
   (``CodePool.designated_to``, one query per notice: the port has no bulk form),
   judges, stores the identity rows and queues each accepted notice for the
   prefecture (one outbox append per notice), and advances its tracking;
3. ``prefecture.receive`` of the centre's envelope of confirmations
   (``identity_notice`` messages), the acknowledgement back: the prefecture parses the
   index headers, finds each referral by the notice's digest, stores the identity rows,
   removes the pending notices and advances its tracking of ``c:jlis``.

Notices per second = N / elapsed.

**raw** (timed): on a second set of fresh stores (schema made by each adapter's
``create_schema()``; the centre's ``code_pool`` filled with the same designations and
each ward's outbox head set before the clock starts), the same *writes* into the same
tables, from rows computed before the clock starts (parsed from the wards' outbox
payloads), in the library's order with the same transaction granularity: per ward
envelope,

* at the prefecture: the ``pending_notices`` rows (SQLite: with their ``pending_codes``
  rows; both with the sequence numbers the library's rows get), the ``outbox_heads``
  row and the ``outbox`` rows of the referrals for the centre, the ward's ``tracking``
  row; then at the ward ``UPDATE outbox_heads SET acked``;
* at the centre: the reads it needs to judge, in bulk for the envelope (the codes'
  ``identity_current`` rows, their ``code_pool`` rows, their pending notices; SQLite
  ``IN (?, …)`` in chunks of 500, PostgreSQL ``= ANY(%s)`` / ``&&``) and a check in
  Python that every code is new, not pending and designated to the ward; then
  ``identity_versions`` INSERT and ``identity_current`` upsert (``executemany``, the
  adapter's statements), its ``outbox_heads`` row and ``outbox`` rows for the
  prefecture, its ``tracking`` row; then at the prefecture the acknowledgement;
* at the prefecture: the identity rows, the pending rows deleted (SQLite: each
  ``pending_codes`` row by its key, each ``pending_notices`` row by seq; PostgreSQL
  one ``DELETE … = ANY``), its ``tracking`` row of ``c:jlis``; then at the centre the
  acknowledgement.

The raw side does **not** read the outboxes, build, sign or verify envelopes or
acknowledgements, parse headers or decode notices, validate rows, read the highest
versions (it knows every row is version 1), read the prefecture's pending notices on a
confirmation (it knows their sequence numbers), or read the tracking position or the
outbox head before writing; it writes rows it already has. sqlite: its own
``sqlite3`` connection per store (``BEGIN IMMEDIATE`` … ``COMMIT``); postgres: its own
autocommit psycopg connection per schema (``conn.transaction()``, ``executemany``;
``pending_notices`` rows with ``OVERRIDING SYSTEM VALUE``); memory: a plain-dict
implementation of the same work (a duplicate check per code), no driver.

Afterwards (not timed) the library's centre and prefecture must each hold N identity
rows and nothing pending, no node may have a backlog or a refused envelope, and both
sides must have the same row counts (identity tables, tracking and pending notices at
the centre and the prefecture, SQLite's ``pending_codes``, the prefecture's outbox to
the centre and the centre's to the prefecture, every outbox head of the path with its
acknowledged position). A breakdown of the library's time (signing, verifying,
decoding, header parsing, row building; the rest is storage, judging and the node
machinery) is estimated from a sample of the same notices, timed apart.
"""

from __future__ import annotations

import gc
import sqlite3
import time
from collections.abc import Callable
from contextlib import ExitStack, closing
from datetime import date
from typing import Any

import attrs

from benchmarks._core import Log, Options, Result, stopwatch
from benchmarks._stores import Target, fresh_target, sqlite_transaction
from benchmarks._tiers import (
    MUNICIPALITIES,
    PREFECTURE,
    Network,
    build_network,
    deliver,
    fill_outboxes,
    node_ids,
    split,
)
from jukinet.storage.records import IdentityRow
from jukinet.tiers import wire
from jukinet.tiers.messages import CENTER, Envelope, NodeId
from jukinet.tiers.node import DEFAULT_BATCH

__all__ = ["run"]

NAME = "propagate"
SAMPLE = 2000
"""Notices timed apart for the breakdown (at most)."""

_PREFECTURE = NodeId.prefecture(PREFECTURE)
_TO_PREFECTURE = str(_PREFECTURE)
_TO_CENTER = str(CENTER)

_VERSION_COLUMNS = (
    "resident_code",
    "version",
    "municipality",
    "reason",
    "event_date",
    "removed",
    "name_key",
    "reading_key",
    "birth_date",
    "sex",
    "address_key",
    "previous_resident_code",
    "payload",
    "received_on",
)
_CURRENT_COLUMNS = (
    "resident_code",
    "version",
    "municipality",
    "removed",
    "name_key",
    "birth_date",
    "sex",
    "address_key",
)
_CURRENT_UPDATE = ", ".join(f"{c} = excluded.{c}" for c in ("version", *_CURRENT_COLUMNS[3:]))

Params = tuple[Any, ...]


def run(options: Options, log: Log) -> list[Result]:
    """Time N notices through ten wards, their prefecture and the centre, and the raw writes."""
    n = options.rows
    counts = split(n, len(MUNICIPALITIES))
    with ExitStack() as stack:
        targets = {
            node: stack.enter_context(fresh_target(options.backend, options.dsn))
            for node in node_ids()
        }
        network = build_network({node: t.store for node, t in targets.items()}, seed=options.seed)
        with stopwatch() as setup:
            fill_outboxes(network, counts, seed=options.seed)
        payloads = _outbox_payloads(network)
        today = network.clock.today()  # the day both sides' identity versions arrive
        log(
            f"setup {setup.seconds:.1f} s (not timed): {len(MUNICIPALITIES)} wards of 東京都 "
            f"({_each(counts)} residents each, codes designated by the centre, "
            f"Municipality.initial_load), {n:,} identity notices queued for the prefecture"
        )
        gc.collect()
        with stopwatch() as library:
            envelopes = _propagate(network)
        _check_library(network, n)
        library_counts = _counts(options.backend, targets)
        for label in ("centre", "prefecture"):
            versions = library_counts[f"{label} identity_versions"]
            _check(versions == n, f"the {label} holds {versions} identity rows, expected {n}")
        log(
            f"library: {library.seconds:.3f} s, {_per_second(n, library.seconds)} end to end "
            f"({envelopes:,} envelopes of up to {DEFAULT_BATCH:,}: ward → prefecture → centre → "
            "prefecture; each one verified, applied and acknowledged)"
        )
        _breakdown(network, payloads, library.seconds, log)

    with stopwatch() as prep:
        plan = _plan(payloads, options.backend, today)
    log(f"raw: {n:,} rows per table computed in {prep.seconds:.1f} s (not timed)")
    raw_seconds, raw_counts = _raw(options, plan)
    log(f"raw:     {raw_seconds:.3f} s, {_per_second(n, raw_seconds)} ({_raw_what(options)})")
    _check(
        library_counts == raw_counts,
        f"row counts differ: library {library_counts}, raw {raw_counts}",
    )
    log(
        f"verified: the centre and the prefecture hold {n:,} identity rows each, none pending;"
        " row counts equal on both sides"
    )
    return [
        Result(
            name=NAME, backend=options.backend, rows=n, library_s=library.seconds, raw_s=raw_seconds
        )
    ]


def _per_second(n: int, seconds: float) -> str:
    return f"{n / max(seconds, 1e-9):,.0f} notices/s"


def _each(counts: list[int]) -> str:
    low, high = min(counts), max(counts)
    return f"{low:,}" if low == high else f"{low:,}–{high:,}"


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise RuntimeError(f"benchmark self-check failed: {what}")


def _raw_what(options: Options) -> str:
    return {
        "memory": "plain-dict implementation of the same writes, no driver",
        "sqlite": "sqlite3 executemany, one transaction per envelope and per acknowledgement"
        " on each of the three links",
        "postgres": "psycopg executemany, one transaction per envelope and per acknowledgement"
        " on each of the three links",
    }[options.backend]


# --- library ---------------------------------------------------------------------


def _propagate(network: Network) -> int:
    """The whole path to quiescence, one envelope per link and turn: each ward in turn
    sends one envelope to the prefecture, the prefecture refers its registrations to
    the centre, the centre confirms them back; acknowledgements go back each time.
    Returns the number of envelopes delivered (acknowledgements not counted)."""
    prefecture, center = network.prefecture, network.center
    envelopes = 0
    while True:
        before = envelopes
        for town in network.towns:
            for envelope in town.cs.outgoing(max_envelopes=1):
                for answer in prefecture.receive(envelope):
                    town.receive(answer)
                envelopes += 1
            envelopes += deliver(prefecture, {CENTER: center})
            envelopes += deliver(center, {prefecture.node_id: prefecture})
        if envelopes == before:
            return envelopes


def _check_library(network: Network, n: int) -> None:
    for tier, label in ((network.center, "centre"), (network.prefecture, "prefecture")):
        count = tier.store.identities.count()
        _check(count == n, f"the {label} holds {count} identity codes, expected {n}")
        pending = tier.pending_notices()
        _check(pending == 0, f"the {label} still holds {pending} notices pending")
    healths = [town.health() for town in network.towns]
    healths += [network.prefecture.health(), network.center.health()]
    for health in healths:
        _check(health.backlog == 0, f"{health.node} still has a backlog of {health.backlog}")
        _check(not health.refusals, f"{health.node} refused envelopes: {health.refusals}")


def _outbox_payloads(network: Network) -> dict[NodeId, list[bytes]]:
    """Each ward's queued notices, in sequence order (read before the clock starts)."""
    found: dict[NodeId, list[bytes]] = {}
    for town in network.towns:
        items: list[bytes] = []
        while True:
            entries = town.store.outbox.read(_TO_PREFECTURE, after=len(items), limit=10_000)
            if not entries:
                break
            items.extend(entry.payload for entry in entries)
        found[town.node_id] = items
    return found


def _breakdown(
    network: Network, payloads: dict[NodeId, list[bytes]], total: float, log: Log
) -> None:
    """Estimate where the library's time goes, from a sample timed apart (not timed)."""
    sample = [p for items in payloads.values() for p in items][:SAMPLE]
    if not sample:
        return
    n = sum(len(items) for items in payloads.values())
    key = network.keys[_PREFECTURE]
    now = network.clock.now()

    def per_notice(work: Callable[[], object]) -> float:
        start = time.perf_counter()
        work()
        return (time.perf_counter() - start) / len(sample)

    def seal() -> list[Envelope]:
        return [
            key.seal(
                CENTER,
                first_seq=i + 1,
                payload_type=wire.MESSAGES,
                payloads=sample[i : i + DEFAULT_BATCH],
                sent_at=now,
            )
            for i in range(0, len(sample), DEFAULT_BATCH)
        ]

    sealed = seal()
    messages = [wire.parse_notice(raw, verify=False) for raw in sample]

    def verify() -> None:
        for envelope in sealed:
            network.trust.verify(envelope)

    def decode() -> None:
        for raw in sample:
            wire.parse_notice(raw, verify=True)

    def headers() -> None:
        for raw in sample:
            wire.parse_notice(raw, verify=False)

    def rows() -> None:
        for message in messages:
            message.row(1)

    gc.collect()
    parts = {
        "sign envelopes (SHA-256 per notice, Ed25519), 3 links": 3 * per_notice(seal),
        "verify signatures (SHA-256 per notice, Ed25519), 3×": 3 * per_notice(verify),
        "decode in full + check header (prefecture, centre)": 2 * per_notice(decode),
        "parse index headers (confirmations at the prefecture)": per_notice(headers),
        "build + validate IdentityRow (centre, prefecture)": 2 * per_notice(rows),
    }
    log(f"breakdown (estimated: µs per notice from {len(sample):,} notices timed apart × N):")
    accounted = 0.0
    for what, seconds in parts.items():
        estimate = seconds * n
        accounted += estimate
        log(f"  {what:<52} {seconds * 1e6:7.1f} µs  {estimate:7.3f} s  {estimate / total:4.0%}")
    rest = total - accounted
    log(
        f"  {'storage, judging, outbox reads, envelopes, acks (rest)':<52} "
        f"{rest / n * 1e6:7.1f} µs  {rest:7.3f} s  {rest / total:4.0%}"
    )


# --- raw -------------------------------------------------------------------------


@attrs.frozen
class _Step:
    """One ward envelope's worth of the raw side's work on the whole path, computed
    before the clock starts (one transaction per row of the module docstring's list)."""

    town: NodeId
    last: int  # the ward's last sequence number in the envelope (tracking, ack)
    first_referred: int  # first seq of these notices on p:13 → c:jlis, c:jlis → p:13, pending
    referred_last: int
    pending: list[Params]  # pending_notices rows (seq, sender, codes, payload)
    pending_codes: list[Params]  # pending_codes rows (resident_code, seq); SQLite only
    referrals: list[Params]  # prefecture's outbox rows for the centre
    codes: list[str]  # what the centre reads before judging
    municipality: str  # the ward's code: every code must be designated to it
    versions: list[Params]  # identity_versions rows (the same at the centre and prefecture)
    current: list[Params]  # identity_current rows
    confirmations: list[Params]  # the centre's outbox rows for the prefecture


@attrs.frozen
class _Plan:
    steps: list[_Step]
    town_heads: dict[NodeId, int]  # each ward's last sequence number for the prefecture
    designated: list[Params]  # the centre's code_pool rows (resident_code, municipality)


def _turns(payloads: dict[NodeId, list[bytes]]) -> list[tuple[NodeId, int, list[bytes]]]:
    """(ward, start, envelope's notices) in the library's order: each ward in turn, one
    envelope of up to ``DEFAULT_BATCH`` each, until every ward has sent everything."""
    turns: list[tuple[NodeId, int, list[bytes]]] = []
    longest = max((len(items) for items in payloads.values()), default=0)
    for start in range(0, longest, DEFAULT_BATCH):
        for town, items in payloads.items():
            if start < len(items):
                turns.append((town, start, items[start : start + DEFAULT_BATCH]))
    return turns


def _plan(payloads: dict[NodeId, list[bytes]], backend: str, today: date) -> _Plan:
    """The raw side's writes per envelope, in the library's order and batching."""
    as_text = backend != "postgres"
    steps: list[_Step] = []
    designated: list[Params] = []
    referred = 0
    for town, start, chunk in _turns(payloads):
        messages = [wire.parse_notice(raw, verify=False) for raw in chunk]
        rows = [_params(message.row(1, received_on=today), as_text) for message in messages]
        first = referred + 1
        seqs = range(first, first + len(chunk))
        referred += len(chunk)
        sender = str(town)
        steps.append(
            _Step(
                town=town,
                last=start + len(chunk),
                first_referred=first,
                referred_last=referred,
                pending=[
                    (seq, sender, " ".join(m.claim.codes) if as_text else list(m.claim.codes), raw)
                    for seq, m, raw in zip(seqs, messages, chunk, strict=True)
                ],
                pending_codes=[
                    (code, seq)
                    for seq, m in zip(seqs, messages, strict=True)
                    for code in m.claim.codes
                ],
                referrals=[
                    (_TO_CENTER, seq, wire.encode_referral(m))
                    for seq, m in zip(seqs, messages, strict=True)
                ],
                codes=[m.resident_code for m in messages],
                municipality=town.code,
                versions=[v for v, _ in rows],
                current=[c for _, c in rows],
                confirmations=[
                    (_TO_PREFECTURE, seq, m.encode()) for seq, m in zip(seqs, messages, strict=True)
                ],
            )
        )
        designated.extend((m.resident_code, town.code) for m in messages)
    return _Plan(
        steps=steps,
        town_heads={town: len(items) for town, items in payloads.items()},
        designated=designated,
    )


def _params(row: IdentityRow, as_text: bool) -> tuple[Params, Params]:
    """(identity_versions, identity_current) parameters of a row, as the adapter writes them."""
    event: object = row.event_date.isoformat() if as_text else row.event_date
    birth: object = row.birth_date.isoformat() if as_text else row.birth_date
    received: object = row.received_on
    if as_text and row.received_on is not None:
        received = row.received_on.isoformat()
    removed: object = int(row.removed) if as_text else row.removed
    version = (
        row.resident_code,
        row.version,
        row.municipality,
        row.reason,
        event,
        removed,
        row.name_key,
        row.reading_key,
        birth,
        row.sex,
        row.address_key,
        row.previous_resident_code,
        row.payload,
        received,
    )
    current = (
        row.resident_code,
        row.version,
        row.municipality,
        removed,
        row.name_key,
        birth,
        row.sex,
        row.address_key,
    )
    return version, current


def _judge(step: _Step, current: object, designations: dict[str, str], pending: object) -> None:
    """The raw centre's judgement of a batch of registrations from what it read: every
    code new (no current row, nothing pending) and designated to the ward using it."""
    if current or pending:
        raise RuntimeError(f"raw: codes of {step.town} already stored or pending")
    for code in step.codes:
        if designations.get(code) != step.municipality:
            raise RuntimeError(f"raw: {code} is not designated to {step.municipality}")


def _raw(options: Options, plan: _Plan) -> tuple[float, dict[str, object]]:
    if options.backend == "memory":
        return _raw_memory(plan)
    with ExitStack() as stack:
        targets = {
            node: stack.enter_context(fresh_target(options.backend, options.dsn))
            for node in node_ids()
        }
        if options.backend == "sqlite":
            seconds = _raw_sqlite(targets, plan)
        else:
            seconds = _raw_postgres(targets, plan)
        return seconds, _counts(options.backend, targets)


def _raw_memory(plan: _Plan) -> tuple[float, dict[str, object]]:
    nodes = node_ids()
    versions: dict[NodeId, dict[str, list[Params]]] = {node: {} for node in nodes}
    current: dict[NodeId, dict[tuple[str, str], Params]] = {node: {} for node in nodes}
    outbox: dict[NodeId, dict[str, list[Params]]] = {node: {} for node in nodes}
    heads: dict[NodeId, dict[str, list[int]]] = {node: {} for node in nodes}
    tracking: dict[NodeId, dict[str, int]] = {node: {} for node in nodes}
    pending: dict[NodeId, dict[int, Params]] = {node: {} for node in nodes}
    pending_codes: dict[NodeId, dict[str, set[int]]] = {node: {} for node in nodes}
    pool: dict[str, str] = dict(plan.designated)  # the centre's designations: code → ward
    for town, last in plan.town_heads.items():
        heads[town][_TO_PREFECTURE] = [last, 0]

    def store(node: NodeId, step: _Step) -> None:
        stored = versions[node]
        for p in step.versions:
            if p[0] in stored:
                raise RuntimeError(f"plain-dict: code {p[0]} stored twice")
            stored[p[0]] = [p]
        words = current[node]
        for c in step.current:
            words[c[0], c[2]] = c

    def send(node: NodeId, destination: str, rows: list[Params], last: int) -> None:
        heads[node].setdefault(destination, [0, 0])[0] = last
        outbox[node].setdefault(destination, []).extend(rows)

    prefecture, center = _PREFECTURE, CENTER
    gc.collect()
    with stopwatch() as watch:
        for step in plan.steps:
            # the ward's envelope at the prefecture: hold and refer every registration
            held, by_code = pending[prefecture], pending_codes[prefecture]
            for row in step.pending:
                held[row[0]] = row
            for code, seq in step.pending_codes:
                by_code.setdefault(code, set()).add(seq)
            send(prefecture, _TO_CENTER, step.referrals, step.referred_last)
            tracking[prefecture][str(step.town)] = step.last
            heads[step.town][_TO_PREFECTURE][1] = step.last
            # the referrals at the centre: read, judge, store, confirm
            found = [code for code in step.codes if code in versions[center]]
            waiting = [code for code in step.codes if code in pending_codes[center]]
            _judge(step, found, pool, waiting)
            store(center, step)
            send(center, _TO_PREFECTURE, step.confirmations, step.referred_last)
            tracking[center][_TO_PREFECTURE] = step.referred_last
            heads[prefecture][_TO_CENTER][1] = step.referred_last
            # the confirmations at the prefecture: store, forget the pending notices
            store(prefecture, step)
            for code, seq in step.pending_codes:
                seqs = by_code[code]
                seqs.discard(seq)
                if not seqs:
                    del by_code[code]
            for row in step.pending:
                del held[row[0]]
            tracking[prefecture][_TO_CENTER] = step.referred_last
            heads[center][_TO_PREFECTURE][1] = step.referred_last
    counts: dict[str, object] = {}
    for node, label in ((center, "centre"), (prefecture, "prefecture")):
        counts[f"{label} identity_versions"] = sum(len(v) for v in versions[node].values())
        counts[f"{label} identity_current"] = len(current[node])
        counts[f"{label} tracking"] = sorted(tracking[node].items())
        counts[f"{label} pending"] = len(pending[node])
    counts["prefecture outbox"] = len(outbox[prefecture].get(_TO_CENTER, []))
    counts["centre outbox"] = len(outbox[center].get(_TO_PREFECTURE, []))
    counts["heads"] = sorted(
        (str(node), destination, last, acked)
        for node in (center, prefecture, *plan.town_heads)
        for destination, (last, acked) in heads[node].items()
    )
    return watch.seconds, counts


def _prefix(target: Target) -> str:
    """What goes before a table name in the raw SQL: the quoted schema on PostgreSQL."""
    return f'"{target.schema}".' if target.schema else ""


# The statements of the raw side; ``{t}`` is a table prefix ("" or a quoted schema + ".")
# and ``{p}`` the driver's placeholder.
_STATEMENTS = {
    "version": (
        f"INSERT INTO {{t}}identity_versions ({', '.join(_VERSION_COLUMNS)})"
        f" VALUES ({', '.join(['{p}'] * len(_VERSION_COLUMNS))})"
    ),
    "current": (
        f"INSERT INTO {{t}}identity_current ({', '.join(_CURRENT_COLUMNS)})"
        f" VALUES ({', '.join(['{p}'] * len(_CURRENT_COLUMNS))})"
        f" ON CONFLICT (resident_code, municipality) DO UPDATE SET {_CURRENT_UPDATE}"
    ),
    "head": (
        "INSERT INTO {t}outbox_heads (destination, last_seq) VALUES ({p}, {p})"
        " ON CONFLICT (destination) DO UPDATE SET last_seq = excluded.last_seq"
    ),
    "outbox": "INSERT INTO {t}outbox (destination, seq, payload) VALUES ({p}, {p}, {p})",
    "tracking": (
        "INSERT INTO {t}tracking (sender, position) VALUES ({p}, {p})"
        " ON CONFLICT (sender) DO UPDATE SET position = excluded.position"
    ),
    "ack": "UPDATE {t}outbox_heads SET acked = {p} WHERE destination = {p}",
    "town_head": (
        "INSERT INTO {t}outbox_heads (destination, last_seq, acked) VALUES ({p}, {p}, 0)"
    ),
    "designate": (
        "INSERT INTO {t}code_pool (resident_code, municipality, used) VALUES ({p}, {p}, {f})"
    ),
}
_SQLITE = {
    "pending": "INSERT INTO pending_notices (seq, sender, codes, payload) VALUES (?, ?, ?, ?)",
    "pending_code": "INSERT INTO pending_codes (resident_code, seq) VALUES (?, ?)",
    "forget_code": "DELETE FROM pending_codes WHERE resident_code = ? AND seq = ?",
    "forget": "DELETE FROM pending_notices WHERE seq = ?",
    "read_current": "SELECT resident_code FROM identity_current WHERE resident_code IN ({marks})",
    "read_pool": (
        "SELECT resident_code, municipality FROM code_pool WHERE resident_code IN ({marks})"
    ),
    "read_pending": "SELECT seq FROM pending_codes WHERE resident_code IN ({marks})",
}
_POSTGRES = {
    "pending": (
        "INSERT INTO {t}pending_notices (seq, sender, codes, payload) OVERRIDING SYSTEM VALUE"
        " VALUES (%s, %s, %s::text[], %s)"
    ),
    "forget": "DELETE FROM {t}pending_notices WHERE seq = ANY(%s::bigint[])",
    "read_current": "SELECT resident_code FROM {t}identity_current WHERE resident_code = ANY(%s)",
    "read_pool": (
        "SELECT resident_code, municipality FROM {t}code_pool WHERE resident_code = ANY(%s)"
    ),
    "read_pending": "SELECT seq FROM {t}pending_notices WHERE codes && %s::text[]",
}
SQLITE_CHUNK = 500
"""Codes per ``IN (?, …)`` of the raw SQLite reads (the adapter's chunk size)."""


def _raw_sqlite(targets: dict[NodeId, Target], plan: _Plan) -> float:
    q = {key: s.format(t="", p="?", f="0") for key, s in _STATEMENTS.items()} | _SQLITE

    def read(conn: sqlite3.Connection, key: str, codes: list[str]) -> list[Any]:
        found: list[Any] = []
        for start in range(0, len(codes), SQLITE_CHUNK):
            part = codes[start : start + SQLITE_CHUNK]
            statement = q[key].format(marks=", ".join("?" * len(part)))
            found += conn.execute(statement, part).fetchall()
        return found

    with ExitStack() as stack:
        conns = {node: stack.enter_context(closing(t.sqlite())) for node, t in targets.items()}
        for town, last in plan.town_heads.items():
            conns[town].execute(q["town_head"], (_TO_PREFECTURE, last))
        prefecture, center = conns[_PREFECTURE], conns[CENTER]
        with sqlite_transaction(center) as conn:
            conn.executemany(q["designate"], plan.designated)
        gc.collect()
        with stopwatch() as watch:
            for step in plan.steps:
                with sqlite_transaction(prefecture) as conn:
                    conn.executemany(q["pending"], step.pending)
                    conn.executemany(q["pending_code"], step.pending_codes)
                    conn.execute(q["head"], (_TO_CENTER, step.referred_last))
                    conn.executemany(q["outbox"], step.referrals)
                    conn.execute(q["tracking"], (str(step.town), step.last))
                with sqlite_transaction(conns[step.town]) as conn:
                    conn.execute(q["ack"], (step.last, _TO_PREFECTURE))
                with sqlite_transaction(center) as conn:
                    _judge(
                        step,
                        read(conn, "read_current", step.codes),
                        dict(read(conn, "read_pool", step.codes)),
                        read(conn, "read_pending", step.codes),
                    )
                    conn.executemany(q["version"], step.versions)
                    conn.executemany(q["current"], step.current)
                    conn.execute(q["head"], (_TO_PREFECTURE, step.referred_last))
                    conn.executemany(q["outbox"], step.confirmations)
                    conn.execute(q["tracking"], (_TO_PREFECTURE, step.referred_last))
                with sqlite_transaction(prefecture) as conn:
                    conn.execute(q["ack"], (step.referred_last, _TO_CENTER))
                with sqlite_transaction(prefecture) as conn:
                    conn.executemany(q["version"], step.versions)
                    conn.executemany(q["current"], step.current)
                    conn.executemany(q["forget_code"], step.pending_codes)
                    conn.executemany(q["forget"], [(row[0],) for row in step.pending])
                    conn.execute(q["tracking"], (_TO_CENTER, step.referred_last))
                with sqlite_transaction(center) as conn:
                    conn.execute(q["ack"], (step.referred_last, _TO_PREFECTURE))
    return watch.seconds


def _raw_postgres(targets: dict[NodeId, Target], plan: _Plan) -> float:
    import psycopg

    with ExitStack() as stack:
        conns: dict[NodeId, psycopg.Connection[Any]] = {}
        queries: dict[NodeId, dict[str, bytes]] = {}
        for node, target in targets.items():
            assert target.dsn is not None
            conns[node] = stack.enter_context(closing(psycopg.connect(target.dsn, autocommit=True)))
            t = _prefix(target)
            queries[node] = {
                key: s.format(t=t, p="%s", f="false").encode()
                for key, s in (_STATEMENTS | _POSTGRES).items()
            }
        for town, last in plan.town_heads.items():
            conns[town].execute(queries[town]["town_head"], (_TO_PREFECTURE, last))
        prefecture, center = conns[_PREFECTURE], conns[CENTER]
        pq, cq = queries[_PREFECTURE], queries[CENTER]
        cursors = {node: stack.enter_context(conn.cursor()) for node, conn in conns.items()}
        pcur, ccur = cursors[_PREFECTURE], cursors[CENTER]
        with center.transaction():
            ccur.executemany(cq["designate"], plan.designated)
        gc.collect()
        with stopwatch() as watch:
            for step in plan.steps:
                with prefecture.transaction():
                    pcur.executemany(pq["pending"], step.pending)
                    pcur.execute(pq["head"], (_TO_CENTER, step.referred_last))
                    pcur.executemany(pq["outbox"], step.referrals)
                    pcur.execute(pq["tracking"], (str(step.town), step.last))
                with conns[step.town].transaction():
                    cursors[step.town].execute(
                        queries[step.town]["ack"], (step.last, _TO_PREFECTURE)
                    )
                with center.transaction():
                    found = ccur.execute(cq["read_current"], (step.codes,)).fetchall()
                    pool = dict(ccur.execute(cq["read_pool"], (step.codes,)).fetchall())
                    waiting = ccur.execute(cq["read_pending"], (step.codes,)).fetchall()
                    _judge(step, found, pool, waiting)
                    ccur.executemany(cq["version"], step.versions)
                    ccur.executemany(cq["current"], step.current)
                    ccur.execute(cq["head"], (_TO_PREFECTURE, step.referred_last))
                    ccur.executemany(cq["outbox"], step.confirmations)
                    ccur.execute(cq["tracking"], (_TO_PREFECTURE, step.referred_last))
                with prefecture.transaction():
                    pcur.execute(pq["ack"], (step.referred_last, _TO_CENTER))
                with prefecture.transaction():
                    pcur.executemany(pq["version"], step.versions)
                    pcur.executemany(pq["current"], step.current)
                    pcur.execute(pq["forget"], ([row[0] for row in step.pending],))
                    pcur.execute(pq["tracking"], (_TO_CENTER, step.referred_last))
                with center.transaction():
                    ccur.execute(cq["ack"], (step.referred_last, _TO_PREFECTURE))
    return watch.seconds


# --- verification ----------------------------------------------------------------


def _counts(backend: str, targets: dict[NodeId, Target]) -> dict[str, object]:
    """Row counts at the centre, the prefecture and the wards (not timed)."""
    if backend == "memory":
        return _counts_memory(targets)
    queries = {
        "identity_versions": "SELECT count(*) FROM {t}identity_versions",
        "identity_current": "SELECT count(*) FROM {t}identity_current",
        "tracking": "SELECT sender, position FROM {t}tracking ORDER BY sender",
        "pending": "SELECT count(*) FROM {t}pending_notices",
        "pending_codes": "SELECT count(*) FROM {t}pending_codes",
        "outbox": "SELECT count(*) FROM {t}outbox WHERE destination = '{d}'",
        "heads": "SELECT destination, last_seq, acked FROM {t}outbox_heads ORDER BY destination",
    }

    def fetch(node: NodeId, key: str, destination: str = "") -> list[tuple[Any, ...]]:
        target = targets[node]
        statement = queries[key].format(t=_prefix(target), d=destination)
        if backend == "sqlite":
            with closing(target.sqlite()) as conn:
                return [tuple(r) for r in conn.execute(statement).fetchall()]
        import psycopg

        assert target.dsn is not None
        with closing(psycopg.connect(target.dsn, autocommit=True)) as conn:
            return [tuple(r) for r in conn.execute(statement.encode()).fetchall()]

    counts: dict[str, object] = {}
    for node, label in ((CENTER, "centre"), (_PREFECTURE, "prefecture")):
        counts[f"{label} identity_versions"] = fetch(node, "identity_versions")[0][0]
        counts[f"{label} identity_current"] = fetch(node, "identity_current")[0][0]
        counts[f"{label} tracking"] = [(str(s), int(p)) for s, p in fetch(node, "tracking")]
        counts[f"{label} pending"] = fetch(node, "pending")[0][0]
    if backend == "sqlite":
        counts["prefecture pending_codes"] = fetch(_PREFECTURE, "pending_codes")[0][0]
    counts["prefecture outbox"] = fetch(_PREFECTURE, "outbox", _TO_CENTER)[0][0]
    counts["centre outbox"] = fetch(CENTER, "outbox", _TO_PREFECTURE)[0][0]
    heads: list[tuple[str, str, int, int]] = []
    for node in node_ids():
        heads.extend(
            (str(node), str(d), int(last), int(acked))
            for d, last, acked in fetch(node, "heads")
            if node != CENTER or d == _TO_PREFECTURE  # not the designations' links (setup)
        )
    counts["heads"] = sorted(heads)
    return counts


def _counts_memory(targets: dict[NodeId, Target]) -> dict[str, object]:
    """The same counts through the store API (the memory adapter has no tables)."""
    counts: dict[str, object] = {}
    for node, label in ((CENTER, "centre"), (_PREFECTURE, "prefecture")):
        identities = targets[node].store.identities
        versions = 0
        after: str | None = None
        while True:
            page = identities.scan(after=after, limit=1000)
            if not page:
                break
            versions += sum(len(identities.history(row.resident_code)) for row in page)
            after = page[-1].resident_code
        counts[f"{label} identity_versions"] = versions
        counts[f"{label} identity_current"] = sum(
            identities.count(municipality=code) for code in MUNICIPALITIES
        )
        counts[f"{label} tracking"] = sorted(targets[node].store.tracking.senders().items())
        counts[f"{label} pending"] = targets[node].store.pending.count()
    counts["prefecture outbox"] = targets[_PREFECTURE].store.outbox.last_seq(_TO_CENTER)
    counts["centre outbox"] = targets[CENTER].store.outbox.last_seq(_TO_PREFECTURE)
    heads: list[tuple[str, str, int, int]] = []
    for node in node_ids():
        box = targets[node].store.outbox
        heads.extend(
            (str(node), d, box.last_seq(d), box.acknowledged(d))
            for d in box.destinations()
            if node != CENTER or d == _TO_PREFECTURE  # not the designations' links (setup)
        )
    counts["heads"] = sorted(heads)
    return counts
