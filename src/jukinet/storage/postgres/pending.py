"""Notices received and not applied yet: :class:`PostgresPendingNotices`, its table
``pending_notices``, its statements and its row codec."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, LiteralString

from jukinet.storage.base import PendingNotices, UnitOfWork
from jukinet.storage.postgres._database import (
    _codes,
    _Database,
    _Port,
    _records,
    _Statement,
    _Statements,
)
from jukinet.storage.records import PendingNotice, PendingRecord, check_int
from jukinet.storage.records import decode_rows as _decode

DDL: tuple[LiteralString, ...] = (
    # Notices received and not applied yet (schema version 4), found by code.
    """CREATE TABLE IF NOT EXISTS {s}.pending_notices (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        sender TEXT COLLATE "C" NOT NULL,
        codes TEXT[] NOT NULL,
        payload BYTEA NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS pending_notices_codes ON {s}.pending_notices USING GIN (codes)",
)
TABLES = ("pending_notices",)


def _pending_record(values: Sequence[Any]) -> PendingRecord:
    seq, sender, codes, payload = values
    return PendingRecord(
        seq=seq, entry=PendingNotice(sender=sender, codes=tuple(codes), payload=bytes(payload))
    )


class _PendingSQL(_Statements):
    """The statements of :class:`PostgresPendingNotices`."""

    prefix = "pending"

    add = _Statement(
        "INSERT INTO {s}.pending_notices (sender, codes, payload)"
        " VALUES (%s, %s::text[], %s) RETURNING seq"
    )
    find = _Statement(
        "SELECT seq, sender, codes, payload FROM {s}.pending_notices"
        " WHERE codes && %s::text[] ORDER BY seq"
    )
    remove = _Statement("DELETE FROM {s}.pending_notices WHERE seq = ANY(%s::bigint[])")
    count = _Statement("SELECT count(*) FROM {s}.pending_notices")


class PostgresPendingNotices(_Port[_PendingSQL], PendingNotices):
    """Notices received and not applied yet (``pending_notices``; found by code through
    a GIN index on the codes array).

    The numbers come from the table's identity sequence, which hands them out at
    insert time: :meth:`add` first takes a transaction-level advisory lock of the
    schema's pending notices, so adders take turns until commit and the numbers of
    one call run without another unit of work's in between (the range it returns).
    """

    __slots__ = ()

    def __init__(self, store: _Database) -> None:
        super().__init__(store, _PendingSQL(store.schema))

    def add(self, uow: UnitOfWork, entries: Sequence[PendingNotice]) -> range:
        """Keep notices; returns their sequence numbers, ascending."""
        self._store._connection_of(uow)
        rows = _records(entries, PendingNotice, "entries")
        seqs: list[int] = []
        if not rows:
            return range(0)
        with self._store._write(uow) as cur:
            cur.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))",
                [f"jukinet:{self._store.schema}:pending_notices"],
            )
            for entry in rows:
                cur.execute(self._sql.add, [entry.sender, list(entry.codes), entry.payload])
                found = cur.fetchone()
                assert found is not None
                seqs.append(int(found[0]))
        return range(seqs[0], seqs[-1] + 1)

    def find(
        self, resident_codes: Sequence[str], uow: UnitOfWork | None = None
    ) -> list[PendingRecord]:
        """Every pending notice about any of these codes, in arrival order."""
        codes = list(dict.fromkeys(_codes(resident_codes)))
        if not codes:
            return []
        with self._store._read(uow) as cur:
            cur.execute(self._sql.find, [codes])
            return _decode(cur.fetchall(), _pending_record, "pending_notices")

    def remove(self, uow: UnitOfWork, seqs: Sequence[int]) -> int:
        """Forget these notices; absent ones are skipped; returns how many went."""
        self._store._connection_of(uow)
        wanted = [check_int(seq, "seqs", minimum=1) for seq in _records(seqs, int, "seqs")]
        if not wanted:
            return 0
        with self._store._write(uow) as cur:
            cur.execute(self._sql.remove, [list(dict.fromkeys(wanted))])
            return cur.rowcount

    def count(self, uow: UnitOfWork | None = None) -> int:
        """How many notices are pending."""
        with self._store._read(uow) as cur:
            cur.execute(self._sql.count)
            found = cur.fetchone()
        return 0 if found is None else int(found[0])
