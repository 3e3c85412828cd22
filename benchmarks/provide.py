"""``provide``: an agency's requests by resident code at the national centre, one at a time
and in one batch.

Setup (not timed, :mod:`benchmarks._national`): a
:class:`~jukinet.tiers.upper.NationalCenter` on a fresh store of the backend whose
identity store holds N people from all over Japan (``IdentityStore.bulk_load`` of rows
built from full ``IdentityNotice`` s, each payload the person's own notice; on
PostgreSQL the load ends with the adapter's ``ANALYZE``), and one registered agency, 厚生労働省及び日本年金機構
(``a:nenkin``), asking under 別表第一 77 (``1-77``, 住基法30条の9: every item but the
resident code). The agency's requests are built and signed before the clock starts
(signing is the agency's work); the centre's clock never moves, so every record
carries the same time.

* ``provide_single``: K = min(10,000, N) requests, each one ``ByCode`` of a different
  random resident; **library**: ``centre.provide(envelope)`` per request, end to end:
  parse the request, look the agency up, verify its Ed25519 signature, check the
  permitted use, then in one unit of work the replay check, ``current_many`` of the
  code, the decoding of the person's ``IdentityNotice`` into the permitted items,
  and the provision-log append (one hash-chained record per person, 住基法30条の16).
* ``provide`` (the headline, printed last): one request of B = min(100,000, N)
  ``ByCode`` queries (``MAX_BATCH``; 令30条の8 allows batch provision), the same
  path with one unit of work for the whole batch and B records.

**raw** (timed): the same request's storage work with the bare driver, on the same
tables of the same store, in one transaction per request: the replay check
(``SELECT`` on ``provision_log`` by request id and agency), the adapter's identity ``SELECT``
(SQLite: ``IN (?, …)`` in chunks of 500 with the adapter's "current version"
subquery; PostgreSQL: one ``DISTINCT ON … = ANY(%s)``), the log's head read
(PostgreSQL ``FOR UPDATE``), the SHA-256 chain over the same canonical JSON as
``chain_hash`` computed in the loop, the ``provision_log`` INSERTs (``executemany``)
and the head UPDATE. It writes byte for byte the library's records (same request
ids, same time): each raw phase starts from the head the library's phase started
from (the library's records after it are deleted first, not timed; PostgreSQL then
``VACUUM`` s the table) and must end at the library's head. memory: plain dicts
(code → row; the log as dicts seq → tuple, subject → seqs, request id → seq), no
driver.

The raw side does **not** parse the request, read the agency, verify the signature,
check the permitted use or scope, validate codes or rows, decode the notices into
domain objects or build the answer (it returns the driver's row tuples), nor use
savepoints; its SQL text is prepared once. Requests/s and persons/s are printed for
each side.

Afterwards (not timed): every answer is FOUND with the person's own birth date, the
log holds exactly K (then B) new records on both sides with the same head, and
``verify_log()`` finds the whole chain intact. Then a breakdown of each library time
is logged: the library's own pieces (signature, parsing, row building, decoding,
answer, log record) timed apart on a sample and multiplied by the count, the rest
being storage and the desk's own work, beside the raw side's time.
"""

from __future__ import annotations

import gc
import random
from collections.abc import Sequence

from benchmarks._core import Log, Options, Result, stopwatch
from benchmarks._national import (
    Costs,
    National,
    check,
    costs,
    log_breakdown,
    national,
    population,
    raw_provider,
)
from jukinet.domain.resident_code import ResidentCode
from jukinet.storage.records import IdentityRow
from jukinet.tiers.provision import MAX_BATCH, ByCode, Outcome, ProvisionAnswer

__all__ = ["REQUESTS", "run"]

REQUESTS = 10_000
"""Requests of one code each in ``provide_single`` (at most N)."""


def run(options: Options, log: Log) -> list[Result]:
    """Time provision by code through the centre and through the raw driver."""
    n = options.rows
    with national(options, log) as centre:
        people = population(n, seed=options.seed)
        rows = {row.resident_code: row for row in people.rows}
        rng = random.Random(options.seed + 1)
        singles = rng.sample(sorted(rows), min(REQUESTS, n))
        batch = rng.sample(sorted(rows), min(MAX_BATCH, n))
        with stopwatch() as signing:
            single_ids = [f"single-{i}" for i in range(len(singles))]
            envelopes = [
                centre.request(request_id, [ByCode(resident_code=ResidentCode(code))])
                for request_id, code in zip(single_ids, singles, strict=True)
            ]
            batch_envelope = centre.request(
                "batch-1", [ByCode(resident_code=ResidentCode(code)) for code in batch]
            )
        log(
            f"{len(singles):,} requests of one code and one of {len(batch):,} codes signed "
            f"by a:nenkin in {signing.seconds:.1f} s (the agency's work, not timed)"
        )
        k, b = len(singles), len(batch)

        start = centre.head()
        gc.collect()
        with stopwatch() as lib_single:
            answers = [centre.center.provide(envelope) for envelope in envelopes]
        _check_answers(answers, [[code] for code in singles], rows)
        after_single = _check_log(centre, start, k, "one at a time")
        del answers
        gc.collect()
        with stopwatch() as lib_batch:
            answer = centre.center.provide(batch_envelope)
        _check_answers([answer], [batch], rows)
        after_batch = _check_log(centre, after_single, b, "the batch")
        del answer
        log(
            f"library: one at a time {lib_single.seconds:.3f} s "
            f"({_per_second(k, lib_single.seconds)} requests/s = persons/s); "
            f"batch {lib_batch.seconds:.3f} s (1 request of {b:,} codes: "
            f"{_per_second(1, lib_batch.seconds, 3)} requests/s, "
            f"{_per_second(b, lib_batch.seconds)} persons/s)"
        )

        with raw_provider(centre, people) as raw:
            raw.start_at(start)
            gc.collect()
            with stopwatch() as raw_single:
                found = 0
                for request_id, code in zip(single_ids, singles, strict=True):
                    found += raw.by_codes(request_id, (code,))
            check(found == k, f"raw one at a time provided {found} of {k}")
            check(raw.head() == after_single, "raw one at a time: the log's head differs")
            raw.start_at(after_single)
            gc.collect()
            with stopwatch() as raw_batch:
                found = raw.by_codes("batch-1", batch)
            check(found == b, f"raw batch provided {found} of {b}")
            check(raw.head() == after_batch, "raw batch: the log's head differs")
        log(
            f"raw:     one at a time {raw_single.seconds:.3f} s "
            f"({_per_second(k, raw_single.seconds)} requests/s = persons/s); "
            f"batch {raw_batch.seconds:.3f} s (1 request of {b:,} codes: "
            f"{_per_second(1, raw_batch.seconds, 3)} requests/s, "
            f"{_per_second(b, raw_batch.seconds)} persons/s) ({_raw_what(options.backend)})"
        )
        pieces = costs(centre, people, batch_envelope)
        _breakdown(centre, pieces, log, lib_single.seconds, k, raw_single.seconds, single=True)
        _breakdown(centre, pieces, log, lib_batch.seconds, b, raw_batch.seconds, single=False)
        faults = centre.center.provision.verify_log()
        check(not faults, f"the provision log's chain is broken: {faults[:3]}")
        log(
            f"verified: every answer FOUND with the person's own notice; {k:,} + {b:,} "
            "provision records on each side with the same head; verify_log() intact"
        )
    return [
        Result(
            name="provide_single",
            backend=options.backend,
            rows=n,
            library_s=lib_single.seconds,
            raw_s=raw_single.seconds,
        ),
        Result(
            name="provide",
            backend=options.backend,
            rows=n,
            library_s=lib_batch.seconds,
            raw_s=raw_batch.seconds,
        ),
    ]


def _breakdown(
    centre: National,
    c: Costs,
    log: Log,
    total: float,
    count: int,
    raw: float,
    *,
    single: bool,
) -> None:
    """Estimate where the library's time goes (pieces timed apart; not timed)."""
    title = (
        f"one at a time ({count:,} requests)" if single else f"batch (1 request, {count:,} codes)"
    )
    log_breakdown(
        log,
        centre,
        title,
        total,
        [
            ("verify the signature, digest the request", c.verify, count if single else 1),
            (
                "parse the request (JSON, ResidentCode)",
                c.parse_code if single else c.parse_batch,
                count,
            ),
            ("IdentityRow from the fetched row (unchecked)", c.row, count),
            ("decode the stored IdentityNotice (from_stored)", c.decode, count),
            ("ProvidedIdentity + Result", c.answer, count),
            ("the person's ProvisionEntry + chain()", c.record, count),
        ],
        raw,
    )


def _per_second(count: int, seconds: float, digits: int = 0) -> str:
    return f"{count / max(seconds, 1e-9):,.{digits}f}"


def _raw_what(backend: str) -> str:
    return {
        "memory": "plain dicts, no driver",
        "sqlite": "sqlite3, BEGIN IMMEDIATE … COMMIT per request",
        "postgres": "psycopg, one transaction per request",
    }[backend]


def _check_answers(
    answers: Sequence[ProvisionAnswer],
    asked: Sequence[Sequence[str]],
    rows: dict[str, IdentityRow],
) -> None:
    """Every query FOUND, with the birth date of the person asked about (not timed)."""
    for answer, codes in zip(answers, asked, strict=True):
        check(len(answer.results) == len(codes), f"{answer.request_id}: wrong number of results")
        for result, code in zip(answer.results, codes, strict=True):
            check(result.outcome is Outcome.FOUND, f"{answer.request_id}: {code} not found")
            identity = result.identity
            check(
                identity is not None and identity.birth_date == rows[code].birth_date,
                f"{answer.request_id}: {code} answered with someone else's notice",
            )


def _check_log(centre: National, before: tuple[int, str], count: int, what: str) -> tuple[int, str]:
    """The library's log grew by ``count`` records; returns the new head (not timed)."""
    head = centre.head()
    stored = centre.records_after(before[0])
    check(
        head[0] - before[0] == count and stored == count,
        f"{what}: {stored} records logged (head {head[0]}), expected {count}",
    )
    return head
