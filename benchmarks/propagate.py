"""``propagate``: N identity notices from ten municipalities through their prefecture to the centre.

Setup (not timed): ten special wards of 東京都, the prefecture server of 東京都 and the
national centre, each a node on its own fresh store of the chosen backend (SQLite:
its own file; PostgreSQL: its own schema; memory: its own ``MemoryStore``), wired with
Ed25519 keys and one trust store (:mod:`benchmarks._tiers`). The centre designates
resident codes to each ward over the network; each ward reserves them and joins with
N/10 synthetic residents through ``Municipality.initial_load``, which queues one
identity notice per resident (本人確認情報の通知, 住基法30条の6) in its outbox.

**library** (timed): the public node API end to end, every envelope of
``DEFAULT_BATCH`` (1,000) notices, until no node has a backlog:

1. each ward: ``ward.outgoing()`` → ``prefecture.receive(envelope)`` → the
   acknowledgement back with ``ward.receive(ack)``. The prefecture verifies the
   signature, decodes every notice in full and checks its index header, stores the
   identity rows, queues the notices for the centre and advances its tracking, in
   one unit of work; the ward records the acknowledgement in another;
2. then ``prefecture.outgoing()`` → ``centre.receive(envelope)`` →
   ``prefecture.receive(ack)``: the centre verifies the signature, reads the index
   headers (it trusts a tier below for the content, 30条の7) and stores the rows.

Notices per second = N / elapsed.

**raw** (timed): the same *writes* into the same tables of a second set of fresh
stores (schema made by each adapter's ``create_schema()``), from rows computed before
the clock starts (parsed from the wards' outbox payloads), with the same transaction
granularity: per envelope of 1,000 notices, one transaction at the receiver and one
for the acknowledgement at the sender:

* at the prefecture: ``identity_versions`` INSERT and ``identity_current`` upsert
  (``executemany``, the adapter's statements), the ``outbox_heads`` row and the
  ``outbox`` rows for the centre, the ``tracking`` row of the ward; then at the ward,
  ``UPDATE outbox_heads SET acked``;
* at the centre: the identity rows and its ``tracking`` row; then at the prefecture,
  ``UPDATE outbox_heads SET acked``.

The raw side does **not** read the outboxes, build, sign or verify envelopes or
acknowledgements, parse headers or decode notices, validate rows, or read the
tracking position, the last versions or the outbox head before writing; it writes
rows it already has. sqlite: its own ``sqlite3`` connection per store
(``BEGIN IMMEDIATE`` … ``COMMIT``); postgres: its own autocommit psycopg connection
per schema (``conn.transaction()``, ``executemany``); memory: a plain-dict
implementation of the same writes (a duplicate check per code), no driver.

Afterwards (not timed) the library's centre must hold N identity rows, no node may
have a backlog, and both sides must have the same row counts at the centre, the
prefecture and the wards. A breakdown of the library's time (signing, verifying,
decoding, header parsing, row building; the rest is storage and the node machinery)
is estimated from a sample of the same notices, timed apart.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from contextlib import ExitStack, closing
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
}

Params = tuple[Any, ...]


@attrs.frozen
class _Batch:
    """One envelope's worth of the raw side's writes, computed before the clock starts."""

    sender: NodeId
    last: int  # the sender's last sequence number in the envelope (tracking, ack)
    versions: list[Params]
    current: list[Params]
    forward: list[Params]  # outbox rows for the centre (only at the prefecture)
    forward_last: int


@attrs.frozen
class _Plan:
    to_prefecture: list[_Batch]
    to_center: list[_Batch]
    town_heads: dict[NodeId, int]  # each ward's last sequence number for the prefecture


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
        versions = library_counts["centre identity_versions"]
        _check(versions == n, f"the centre holds {versions} identity rows, expected {n}")
        log(
            f"library: {library.seconds:.3f} s, {_per_second(n, library.seconds)} end to end "
            f"({envelopes:,} envelopes of up to {DEFAULT_BATCH:,}; each one verified, applied "
            "and acknowledged)"
        )
        _breakdown(network, payloads, library.seconds, log)

    with stopwatch() as prep:
        plan = _plan(payloads, options.backend)
    log(f"raw: {n:,} rows per table computed in {prep.seconds:.1f} s (not timed)")
    raw_seconds, raw_counts = _raw(options, plan)
    log(f"raw:     {raw_seconds:.3f} s, {_per_second(n, raw_seconds)} ({_raw_what(options)})")
    _check(
        library_counts == raw_counts,
        f"row counts differ: library {library_counts}, raw {raw_counts}",
    )
    log(f"verified: the centre holds {n:,} identity rows; row counts equal on both sides")
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
        "sqlite": "sqlite3 executemany, one transaction per envelope and per acknowledgement",
        "postgres": "psycopg executemany, one transaction per envelope and per acknowledgement",
    }[options.backend]


# --- library ---------------------------------------------------------------------


def _propagate(network: Network) -> int:
    """Every ward's notices to the prefecture, then on to the centre; acknowledgements back."""
    prefecture = {network.prefecture.node_id: network.prefecture}
    envelopes = 0
    for town in network.towns:
        envelopes += deliver(town, prefecture)
    envelopes += deliver(network.prefecture, {CENTER: network.center})
    return envelopes


def _check_library(network: Network, n: int) -> None:
    count = network.center.store.identities.count()
    _check(count == n, f"the centre holds {count} identity codes, expected {n}")
    healths = [town.health() for town in network.towns] + [network.prefecture.health()]
    for health in healths:
        _check(health.backlog == 0, f"{health.node} still has a backlog of {health.backlog}")


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
        "sign envelopes (SHA-256 per notice, Ed25519), twice": 2 * per_notice(seal),
        "verify signatures (SHA-256 per notice, Ed25519), twice": 2 * per_notice(verify),
        "decode notices in full + check header (prefecture)": per_notice(decode),
        "parse index headers (centre)": per_notice(headers),
        "build + validate IdentityRow, twice": 2 * per_notice(rows),
    }
    log(f"breakdown (estimated: µs per notice from {len(sample):,} notices timed apart × N):")
    accounted = 0.0
    for what, seconds in parts.items():
        estimate = seconds * n
        accounted += estimate
        log(f"  {what:<52} {seconds * 1e6:7.1f} µs  {estimate:7.3f} s  {estimate / total:4.0%}")
    rest = total - accounted
    log(
        f"  {'storage, outbox reads, envelopes, acks (the rest)':<52} "
        f"{rest / n * 1e6:7.1f} µs  {rest:7.3f} s  {rest / total:4.0%}"
    )


# --- raw -------------------------------------------------------------------------


def _plan(payloads: dict[NodeId, list[bytes]], backend: str) -> _Plan:
    """The raw side's writes per envelope, in the library's order and batching."""
    dates_as_text = backend != "postgres"
    to_prefecture: list[_Batch] = []
    forwarded: list[tuple[bytes, Params, Params]] = []
    for town, items in payloads.items():
        for start in range(0, len(items), DEFAULT_BATCH):
            chunk = items[start : start + DEFAULT_BATCH]
            rows = [
                _params(wire.parse_notice(raw, verify=False).row(1), dates_as_text) for raw in chunk
            ]
            first = len(forwarded) + 1
            forwarded.extend((raw, v, c) for raw, (v, c) in zip(chunk, rows, strict=True))
            to_prefecture.append(
                _Batch(
                    sender=town,
                    last=start + len(chunk),
                    versions=[v for v, _ in rows],
                    current=[c for _, c in rows],
                    forward=[(_TO_CENTER, first + i, raw) for i, raw in enumerate(chunk)],
                    forward_last=len(forwarded),
                )
            )
    to_center = [
        _Batch(
            sender=_PREFECTURE,
            last=start + min(DEFAULT_BATCH, len(forwarded) - start),
            versions=[v for _, v, _ in forwarded[start : start + DEFAULT_BATCH]],
            current=[c for _, _, c in forwarded[start : start + DEFAULT_BATCH]],
            forward=[],
            forward_last=0,
        )
        for start in range(0, len(forwarded), DEFAULT_BATCH)
    ]
    return _Plan(
        to_prefecture=to_prefecture,
        to_center=to_center,
        town_heads={town: len(items) for town, items in payloads.items()},
    )


def _params(row: IdentityRow, dates_as_text: bool) -> tuple[Params, Params]:
    """(identity_versions, identity_current) parameters of a row, as the adapter writes them."""
    event: object = row.event_date.isoformat() if dates_as_text else row.event_date
    birth: object = row.birth_date.isoformat() if dates_as_text else row.birth_date
    removed: object = int(row.removed) if dates_as_text else row.removed
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
    for town, last in plan.town_heads.items():
        heads[town][_TO_PREFECTURE] = [last, 0]

    def apply(node: NodeId, batch: _Batch) -> None:
        stored = versions[node]
        for p in batch.versions:
            if p[0] in stored:
                raise RuntimeError(f"plain-dict: code {p[0]} stored twice")
            stored[p[0]] = [p]
        words = current[node]
        for c in batch.current:
            words[c[0], c[2]] = c
        if batch.forward:
            heads[node].setdefault(_TO_CENTER, [0, 0])[0] = batch.forward_last
            outbox[node].setdefault(_TO_CENTER, []).extend(batch.forward)
        tracking[node][str(batch.sender)] = batch.last

    gc.collect()
    with stopwatch() as watch:
        for batch in plan.to_prefecture:
            apply(_PREFECTURE, batch)
            heads[batch.sender][_TO_PREFECTURE][1] = batch.last
        for batch in plan.to_center:
            apply(CENTER, batch)
            heads[_PREFECTURE][_TO_CENTER][1] = batch.last
    counts: dict[str, object] = {}
    for node, label in ((CENTER, "centre"), (_PREFECTURE, "prefecture")):
        counts[f"{label} identity_versions"] = sum(len(v) for v in versions[node].values())
        counts[f"{label} identity_current"] = len(current[node])
        counts[f"{label} tracking"] = sorted(tracking[node].items())
    counts["prefecture outbox"] = len(outbox[_PREFECTURE].get(_TO_CENTER, []))
    counts["heads"] = sorted(
        (str(node), destination, last, acked)
        for node in (_PREFECTURE, *plan.town_heads)
        for destination, (last, acked) in heads[node].items()
    )
    return watch.seconds, counts


def _prefix(target: Target) -> str:
    """What goes before a table name in the raw SQL: the quoted schema on PostgreSQL."""
    return f'"{target.schema}".' if target.schema else ""


def _raw_sqlite(targets: dict[NodeId, Target], plan: _Plan) -> float:
    q = {key: s.format(t="", p="?") for key, s in _STATEMENTS.items()}
    with ExitStack() as stack:
        conns = {node: stack.enter_context(closing(t.sqlite())) for node, t in targets.items()}
        for town, last in plan.town_heads.items():
            conns[town].execute(q["town_head"], (_TO_PREFECTURE, last))
        prefecture = conns[_PREFECTURE]
        center = conns[CENTER]
        gc.collect()
        with stopwatch() as watch:
            for batch in plan.to_prefecture:
                with sqlite_transaction(prefecture) as conn:
                    conn.executemany(q["version"], batch.versions)
                    conn.executemany(q["current"], batch.current)
                    conn.execute(q["head"], (_TO_CENTER, batch.forward_last))
                    conn.executemany(q["outbox"], batch.forward)
                    conn.execute(q["tracking"], (str(batch.sender), batch.last))
                with sqlite_transaction(conns[batch.sender]) as conn:
                    conn.execute(q["ack"], (batch.last, _TO_PREFECTURE))
            for batch in plan.to_center:
                with sqlite_transaction(center) as conn:
                    conn.executemany(q["version"], batch.versions)
                    conn.executemany(q["current"], batch.current)
                    conn.execute(q["tracking"], (str(batch.sender), batch.last))
                with sqlite_transaction(prefecture) as conn:
                    conn.execute(q["ack"], (batch.last, _TO_CENTER))
    return watch.seconds


def _raw_postgres(targets: dict[NodeId, Target], plan: _Plan) -> float:
    import psycopg

    with ExitStack() as stack:
        conns: dict[NodeId, psycopg.Connection[Any]] = {}
        queries: dict[NodeId, dict[str, bytes]] = {}
        for node, target in targets.items():
            assert target.dsn is not None
            conns[node] = stack.enter_context(closing(psycopg.connect(target.dsn, autocommit=True)))
            queries[node] = {
                key: s.format(t=_prefix(target), p="%s").encode() for key, s in _STATEMENTS.items()
            }
        for town, last in plan.town_heads.items():
            conns[town].execute(queries[town]["town_head"], (_TO_PREFECTURE, last))
        prefecture, center = conns[_PREFECTURE], conns[CENTER]
        pq, cq = queries[_PREFECTURE], queries[CENTER]
        cursors = {node: stack.enter_context(conn.cursor()) for node, conn in conns.items()}
        pcur, ccur = cursors[_PREFECTURE], cursors[CENTER]
        gc.collect()
        with stopwatch() as watch:
            for batch in plan.to_prefecture:
                with prefecture.transaction():
                    pcur.executemany(pq["version"], batch.versions)
                    pcur.executemany(pq["current"], batch.current)
                    pcur.execute(pq["head"], (_TO_CENTER, batch.forward_last))
                    pcur.executemany(pq["outbox"], batch.forward)
                    pcur.execute(pq["tracking"], (str(batch.sender), batch.last))
                with conns[batch.sender].transaction():
                    cursors[batch.sender].execute(
                        queries[batch.sender]["ack"], (batch.last, _TO_PREFECTURE)
                    )
            for batch in plan.to_center:
                with center.transaction():
                    ccur.executemany(cq["version"], batch.versions)
                    ccur.executemany(cq["current"], batch.current)
                    ccur.execute(cq["tracking"], (str(batch.sender), batch.last))
                with prefecture.transaction():
                    pcur.execute(pq["ack"], (batch.last, _TO_CENTER))
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
        "outbox": "SELECT count(*) FROM {t}outbox",
        "heads": "SELECT destination, last_seq, acked FROM {t}outbox_heads ORDER BY destination",
    }

    def fetch(node: NodeId, key: str) -> list[tuple[Any, ...]]:
        target = targets[node]
        statement = queries[key].format(t=_prefix(target))
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
    counts["prefecture outbox"] = fetch(_PREFECTURE, "outbox")[0][0]
    heads: list[tuple[str, str, int, int]] = []
    for node in node_ids()[1:]:
        heads.extend(
            (str(node), str(d), int(last), int(acked)) for d, last, acked in fetch(node, "heads")
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
    outbox = targets[_PREFECTURE].store.outbox
    counts["prefecture outbox"] = outbox.last_seq(_TO_CENTER)
    heads: list[tuple[str, str, int, int]] = []
    for node in node_ids()[1:]:
        box = targets[node].store.outbox
        heads.extend(
            (str(node), d, box.last_seq(d), box.acknowledged(d)) for d in box.destinations()
        )
    counts["heads"] = sorted(heads)
    return counts
