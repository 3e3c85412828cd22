"""``search``: an agency's requests by the four basic items (基本4情報) at the national centre.

Setup (not timed): the centre of :mod:`benchmarks._national` (N people from all over
Japan, loaded with ``bulk_load``, which on PostgreSQL ends with ``ANALYZE``; one agency,
厚生労働省及び日本年金機構, asking under 別表第一 77), as in ``provide``.
K = min(10,000, searchable) existing people are chosen at random among
those whose (name, birth date, sex) nobody else shares, so each search finds exactly
one person; each becomes one signed request with one ``ByBasicItems`` query — name
with reading, birth date and sex, no address — built before the clock starts.

**library** (timed): ``centre.provide(envelope)`` per request, end to end: parse,
agency look-up, Ed25519 verification, permitted use; then in one unit of work the
replay check, the name's matching and reading keys, ``IdentityStore.search`` (the
``identity_current (name_key, birth_date)`` index, at most the desk's limit of 1,000
rows), the reading-key filter, ``IdentityStore.current`` of the one person found, the
decoding of their ``IdentityNotice`` into the permitted items, and one hash-chained
provision-log record (住基法30条の16).

**raw** (timed): the same storage work with the bare driver on the same tables, one
transaction per request: the replay check, the adapter's search ``SELECT`` (SQLite:
``c.removed = 0 AND c.name_key = ? AND c.birth_date = ? AND c.sex = ?``; PostgreSQL:
its statement with ``coalesce`` for sex and address), ordered by code with the desk's
``LIMIT``, the reading-key filter, the adapter's current-version ``SELECT`` of the one
code, the log's head read (PostgreSQL ``FOR UPDATE``), the SHA-256 chain over the same
canonical JSON, the ``provision_log`` INSERT and the head UPDATE. It writes byte for
byte the library's records: it starts from the head the library started from (the
library's records after it deleted first, not timed) and must end at the library's
head. memory: plain dicts ((name key, birth date) → sorted codes, code → row, the
log as in ``provide``), no driver.

The raw side does **not** parse the request, read the agency, verify the signature,
check the permitted use or scope, normalise the name into its keys (it gets them
computed), validate anything, decode the notice into domain objects or build the
answer, nor use savepoints.

Afterwards (not timed): every answer is FOUND with the name searched for, K records
were logged on each side with the same head, and ``verify_log()`` finds the chain
intact. Then a breakdown of the library's time is logged (pieces timed apart on a
sample, as in ``provide``).
"""

from __future__ import annotations

import gc
import random

from benchmarks._core import Log, Options, Result, stopwatch
from benchmarks._national import (
    SearchKey,
    check,
    costs,
    log_breakdown,
    national,
    population,
    raw_provider,
)
from jukinet.domain import codec
from jukinet.domain.identity import IdentityNotice
from jukinet.tiers.provision import ByBasicItems, Outcome

__all__ = ["REQUESTS", "run"]

REQUESTS = 10_000
"""Search requests (at most the number of people a search finds alone)."""


def run(options: Options, log: Log) -> list[Result]:
    """Time searches by name, birth date and sex through the centre and the raw driver."""
    n = options.rows
    with national(options, log) as centre:
        people = population(n, seed=options.seed)
        rng = random.Random(options.seed + 2)
        chosen = rng.sample(people.searchable, min(REQUESTS, len(people.searchable)))
        check(bool(chosen), "nobody can be found alone by a search")
        k = len(chosen)
        request_ids = [f"search-{i}" for i in range(k)]
        infos = [codec.from_bytes(IdentityNotice, people.rows[i].payload).info for i in chosen]
        keys: list[SearchKey] = [
            (row.name_key, row.birth_date, row.sex, row.reading_key)
            for row in (people.rows[i] for i in chosen)
        ]
        with stopwatch() as signing:
            envelopes = [
                centre.request(
                    request_id,
                    [ByBasicItems(name=info.name, birth_date=info.birth_date, sex=info.sex)],
                )
                for request_id, info in zip(request_ids, infos, strict=True)
            ]
        log(
            f"{k:,} search requests (name + reading, birth date, sex of people found alone; "
            f"{len(people.searchable):,} of {n:,} are) signed by a:nenkin in "
            f"{signing.seconds:.1f} s (not timed)"
        )

        start = centre.head()
        gc.collect()
        with stopwatch() as library:
            answers = [centre.center.provide(envelope) for envelope in envelopes]
        for answer, info in zip(answers, infos, strict=True):
            (result,) = answer.results
            check(result.outcome is Outcome.FOUND, f"{answer.request_id}: {result.outcome}")
            check(
                result.identity is not None and result.identity.name == info.name,
                f"{answer.request_id}: found someone else",
            )
        del answers
        end = centre.head()
        stored = centre.records_after(start[0])
        check(
            end[0] - start[0] == k and stored == k,
            f"{stored} records logged (head {end[0]}), expected {k}",
        )
        log(f"library: {library.seconds:.3f} s ({k / library.seconds:,.0f} searches/s)")

        with raw_provider(centre, people) as raw:
            raw.start_at(start)
            gc.collect()
            with stopwatch() as raw_watch:
                found = 0
                for request_id, key in zip(request_ids, keys, strict=True):
                    found += raw.by_items(request_id, key)
            check(found == k, f"raw searches provided {found} of {k}")
            check(raw.head() == end, "raw searches: the log's head differs")
        log(
            f"raw:     {raw_watch.seconds:.3f} s ({k / raw_watch.seconds:,.0f} searches/s) "
            f"({_raw_what(options.backend)})"
        )
        pieces = costs(centre, people)
        log_breakdown(
            log,
            centre,
            f"searches ({k:,} requests)",
            library.seconds,
            [
                ("verify the signature, digest the request", pieces.verify, k),
                ("parse the request (JSON, PersonName)", pieces.parse_items, k),
                ("the name's matching and reading keys", pieces.keys, k),
                ("IdentityRow from a fetched row (unchecked), twice", pieces.row, 2 * k),
                ("decode the stored IdentityNotice (from_stored)", pieces.decode, k),
                ("ProvidedIdentity + Result", pieces.answer, k),
                ("the person's ProvisionEntry + chain()", pieces.record, k),
            ],
            raw_watch.seconds,
        )
        faults = centre.center.provision.verify_log()
        check(not faults, f"the provision log's chain is broken: {faults[:3]}")
        log(
            f"verified: every search FOUND the person searched for; {k:,} provision records "
            "on each side with the same head; verify_log() intact"
        )
    return [
        Result(
            name="search",
            backend=options.backend,
            rows=n,
            library_s=library.seconds,
            raw_s=raw_watch.seconds,
        )
    ]


def _raw_what(backend: str) -> str:
    return {
        "memory": "plain dicts, no driver",
        "sqlite": "sqlite3, BEGIN IMMEDIATE … COMMIT per request",
        "postgres": "psycopg, one transaction per request",
    }[backend]
