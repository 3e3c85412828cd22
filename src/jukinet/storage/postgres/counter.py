"""What the counter services across municipalities keep: :class:`PostgresCounterStore`,
its tables ``move_out_infos`` and ``counter_requests``, its statements and its row
codec.

``move_out_infos`` holds the 転出証明書情報 received (住基法24条の2第3項) by
certificate number, indexed by (resident code, planned day) and by the day it is
erased (24条の2第4項; 令24条の4); ``counter_requests`` the requests sent, the
unanswered ones in a partial index by the day asked.

Two units of work racing on one row take turns at its row lock: ``keep_info``,
``use_info`` and ``answer_request`` lock the stored row (``FOR UPDATE``) before they
check against it, so the second waits for the first to end and then reads the row
as the first left it (READ COMMITTED re-reads a locked row): an info used or a
request answered by the first is refused to the second. Two first arrivals of one certificate number, or two
requests with one id, meet at the primary key (:class:`~jukinet.errors.IntegrityError`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, LiteralString

from psycopg import sql

from jukinet.storage.base import CounterStore, UnitOfWork
from jukinet.storage.postgres._database import _columns, _Database, _Port, _Statement, _Statements
from jukinet.storage.records import (
    CounterRequestRow,
    MoveOutInfoRow,
    check_date,
    check_field,
    check_int,
    check_resident_code,
)
from jukinet.storage.records import decode_rows as _decode

DDL: tuple[LiteralString, ...] = (
    # The 転出証明書情報 received (schema version 6), erased on erase_on.
    """CREATE TABLE IF NOT EXISTS {s}.move_out_infos (
        certificate TEXT COLLATE "C" PRIMARY KEY,
        resident_code TEXT COLLATE "C" NOT NULL,
        moved_from TEXT NOT NULL,
        planned_date DATE NOT NULL,
        erase_on DATE NOT NULL,
        received_on DATE NOT NULL,
        payload BYTEA NOT NULL,
        used BOOLEAN NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS move_out_infos_codes"
    " ON {s}.move_out_infos (resident_code, planned_date, certificate)",
    "CREATE INDEX IF NOT EXISTS move_out_infos_erase ON {s}.move_out_infos (erase_on)",
    # The requests sent to other municipalities, with their answers (schema version 6).
    """CREATE TABLE IF NOT EXISTS {s}.counter_requests (
        request_id TEXT COLLATE "C" PRIMARY KEY,
        kind TEXT NOT NULL,
        peer TEXT NOT NULL,
        subject TEXT NOT NULL,
        asked_on DATE NOT NULL,
        request BYTEA NOT NULL,
        answer BYTEA,
        answered_on DATE)""",
    "CREATE INDEX IF NOT EXISTS counter_requests_unanswered"
    " ON {s}.counter_requests (asked_on, request_id) WHERE answer IS NULL",
)
TABLES = ("move_out_infos", "counter_requests")
_INFO_COLUMNS = (
    "certificate",
    "resident_code",
    "moved_from",
    "planned_date",
    "erase_on",
    "received_on",
    "payload",
    "used",
)
_REQUEST_COLUMNS = (
    "request_id",
    "kind",
    "peer",
    "subject",
    "asked_on",
    "request",
    "answer",
    "answered_on",
)


def _info(values: Sequence[Any]) -> MoveOutInfoRow:
    certificate, code, moved_from, planned_date, erase_on, received_on, payload, used = values
    return MoveOutInfoRow(
        certificate=certificate,
        resident_code=code,
        moved_from=moved_from,
        planned_date=planned_date,
        erase_on=erase_on,
        received_on=received_on,
        payload=bytes(payload),
        used=used,
    )


def _info_values(i: MoveOutInfoRow) -> list[Any]:
    return [
        i.certificate,
        i.resident_code,
        i.moved_from,
        i.planned_date,
        i.erase_on,
        i.received_on,
        i.payload,
        i.used,
    ]


def _request(values: Sequence[Any]) -> CounterRequestRow:
    request_id, kind, peer, subject, asked_on, request, answer, answered_on = values
    return CounterRequestRow(
        request_id=request_id,
        kind=kind,
        peer=peer,
        subject=subject,
        asked_on=asked_on,
        request=bytes(request),
        answer=None if answer is None else bytes(answer),
        answered_on=answered_on,
    )


def _request_values(q: CounterRequestRow) -> list[Any]:
    return [q.request_id, q.kind, q.peer, q.subject, q.asked_on, q.request, q.answer, q.answered_on]


class _CounterSQL(_Statements):
    """The statements of :class:`PostgresCounterStore`."""

    prefix = "counter"

    @staticmethod
    def _fragments() -> dict[str, sql.Composable]:
        return {"info": _columns(_INFO_COLUMNS), "request": _columns(_REQUEST_COLUMNS)}

    lock_info = _Statement(
        "SELECT {info} FROM {s}.move_out_infos WHERE certificate = %s FOR UPDATE"
    )
    insert_info = _Statement(
        "INSERT INTO {s}.move_out_infos ({info}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
    )
    resend = _Statement(
        "UPDATE {s}.move_out_infos SET planned_date = %s, erase_on = %s, received_on = %s,"
        " payload = %s WHERE certificate = %s"
    )
    info = _Statement("SELECT {info} FROM {s}.move_out_infos WHERE certificate = %s")
    infos_for = _Statement(
        "SELECT {info} FROM {s}.move_out_infos WHERE resident_code = %s"
        " ORDER BY planned_date, certificate"
    )
    use = _Statement("UPDATE {s}.move_out_infos SET used = true WHERE certificate = %s")
    erase = _Statement("DELETE FROM {s}.move_out_infos WHERE erase_on <= %s")
    exists_request = _Statement("SELECT 1 FROM {s}.counter_requests WHERE request_id = %s")
    insert_request = _Statement(
        "INSERT INTO {s}.counter_requests ({request}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
    )
    lock_request = _Statement(
        "SELECT {request} FROM {s}.counter_requests WHERE request_id = %s FOR UPDATE"
    )
    answer = _Statement(
        "UPDATE {s}.counter_requests SET answer = %s, answered_on = %s WHERE request_id = %s"
    )
    request = _Statement("SELECT {request} FROM {s}.counter_requests WHERE request_id = %s")
    unanswered = _Statement(
        "SELECT {request} FROM {s}.counter_requests WHERE answer IS NULL"
        " ORDER BY asked_on, request_id LIMIT %s"
    )
    unanswered_kind = _Statement(
        "SELECT {request} FROM {s}.counter_requests WHERE answer IS NULL AND kind = %s"
        " ORDER BY asked_on, request_id LIMIT %s"
    )


class PostgresCounterStore(_Port[_CounterSQL], CounterStore):
    """What a municipality keeps for the counter services across municipalities, in
    ``move_out_infos`` (転出証明書情報 received, 住基法24条の2第3項・第4項) and
    ``counter_requests`` (requests sent, 12条の4, 24条の2第5項・第6項)."""

    __slots__ = ()

    def __init__(self, store: _Database) -> None:
        super().__init__(store, _CounterSQL(store.schema))

    def keep_info(self, uow: UnitOfWork, row: MoveOutInfoRow) -> None:
        """Keep an info that arrived, or replace it on a resend (see :class:`CounterStore`),
        the kept one locked first."""
        self._store._connection_of(uow)
        info = CounterStore.check_info(row)
        with self._store._write(uow) as cur:
            cur.execute(self._sql.lock_info, [info.certificate])
            found = _decode(cur.fetchall(), _info, "move_out_infos")
            stored = found[0] if found else None
            kept = CounterStore.kept_info(stored, info)
            if stored is None:
                cur.execute(self._sql.insert_info, _info_values(kept))
            else:
                cur.execute(self._sql.resend, [*_info_values(kept)[3:7], kept.certificate])

    def info(self, certificate: str, uow: UnitOfWork | None = None) -> MoveOutInfoRow | None:
        """The info kept under this certificate number, or None."""
        check_field(MoveOutInfoRow, "certificate", certificate)
        with self._store._read(uow) as cur:
            cur.execute(self._sql.info, [certificate])
            found = _decode(cur.fetchall(), _info, "move_out_infos")
        return found[0] if found else None

    def infos_for(self, resident_code: str, uow: UnitOfWork | None = None) -> list[MoveOutInfoRow]:
        """Every info kept about the person, by planned move-out day."""
        check_resident_code(resident_code)
        with self._store._read(uow) as cur:
            cur.execute(self._sql.infos_for, [resident_code])
            return _decode(cur.fetchall(), _info, "move_out_infos")

    def use_info(self, uow: UnitOfWork, certificate: str) -> None:
        """Mark the info as used, once only (see :class:`CounterStore`), the kept one
        locked first: a racing user waits, then reads it used."""
        self._store._connection_of(uow)
        check_field(MoveOutInfoRow, "certificate", certificate)
        with self._store._write(uow) as cur:
            cur.execute(self._sql.lock_info, [certificate])
            found = _decode(cur.fetchall(), _info, "move_out_infos")
            CounterStore.check_use(found[0] if found else None, certificate)
            cur.execute(self._sql.use, [certificate])

    def erase_infos(self, uow: UnitOfWork, *, on: date) -> int:
        """Erase every info whose ``erase_on`` is ``on`` or earlier; returns how many."""
        self._store._connection_of(uow)
        check_date(on, "on")
        with self._store._write(uow) as cur:
            cur.execute(self._sql.erase, [on])
            return cur.rowcount

    def open_request(self, uow: UnitOfWork, row: CounterRequestRow) -> None:
        """Keep a request sent (see :class:`CounterStore`)."""
        self._store._connection_of(uow)
        request = CounterStore.check_request(row)
        with self._store._write(uow) as cur:
            cur.execute(self._sql.exists_request, [request.request_id])
            if cur.fetchone() is not None:
                raise CounterStore.duplicate_request(request)
            cur.execute(self._sql.insert_request, _request_values(request))

    def answer_request(self, uow: UnitOfWork, request_id: str, answer: bytes, on: date) -> None:
        """Keep the answer to a request, once (see :class:`CounterStore`), the request
        locked first."""
        self._store._connection_of(uow)
        CounterStore.check_answer(request_id, answer, on)
        with self._store._write(uow) as cur:
            cur.execute(self._sql.lock_request, [request_id])
            found = _decode(cur.fetchall(), _request, "counter_requests")
            CounterStore.answered(found[0] if found else None, request_id, answer, on)
            cur.execute(self._sql.answer, [answer, on, request_id])

    def request(self, request_id: str, uow: UnitOfWork | None = None) -> CounterRequestRow | None:
        """The request kept under this id, or None."""
        check_field(CounterRequestRow, "request_id", request_id)
        with self._store._read(uow) as cur:
            cur.execute(self._sql.request, [request_id])
            found = _decode(cur.fetchall(), _request, "counter_requests")
        return found[0] if found else None

    def unanswered(
        self, *, kind: str | None = None, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[CounterRequestRow]:
        """Requests not answered yet, oldest first, at most ``limit``."""
        wanted = CounterStore.check_kind(kind)
        check_int(limit, "limit")
        with self._store._read(uow) as cur:
            if wanted is None:
                cur.execute(self._sql.unanswered, [limit])
            else:
                cur.execute(self._sql.unanswered_kind, [wanted, limit])
            return _decode(cur.fetchall(), _request, "counter_requests")
