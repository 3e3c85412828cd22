"""What the counter services across municipalities keep: :class:`SQLiteCounterStore`,
``move_out_infos`` and ``counter_requests``.

``move_out_infos`` holds the 転出証明書情報 received (住基法24条の2第3項), keyed by
certificate number, with indexes on (resident code, planned day) for
:meth:`~SQLiteCounterStore.infos_for` and on the erasure day for
:meth:`~SQLiteCounterStore.erase_infos` (24条の2第4項; 令24条の4).
``counter_requests`` holds the requests sent, keyed by request id, with a partial
index on the unanswered ones by the day they were asked. Every write runs in the
unit of work's ``BEGIN IMMEDIATE`` transaction, so two units of work using one info
take turns and the second finds it used. Days are ISO 8601 text, so text order is
date order.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from jukinet.storage.base import CounterStore, UnitOfWork
from jukinet.storage.records import (
    CounterRequestRow,
    MoveOutInfoRow,
    check_date,
    check_field,
    check_int,
    check_resident_code,
)
from jukinet.storage.records import decode_rows as _decode
from jukinet.storage.sqlite._database import _placeholders, _Port

TABLES: tuple[str, ...] = ("move_out_infos", "counter_requests")
"""The tables this module's :data:`DDL` creates."""

DDL: tuple[str, ...] = (
    # The 転出証明書情報 received (schema version 6), erased on erase_on.
    """CREATE TABLE IF NOT EXISTS move_out_infos (
        certificate TEXT NOT NULL PRIMARY KEY,
        resident_code TEXT NOT NULL,
        moved_from TEXT NOT NULL,
        planned_date TEXT NOT NULL,
        erase_on TEXT NOT NULL,
        received_on TEXT NOT NULL,
        payload BLOB NOT NULL,
        used INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS move_out_infos_codes"
    " ON move_out_infos (resident_code, planned_date, certificate)",
    "CREATE INDEX IF NOT EXISTS move_out_infos_erase ON move_out_infos (erase_on)",
    # The requests sent to other municipalities, with their answers (schema version 6).
    """CREATE TABLE IF NOT EXISTS counter_requests (
        request_id TEXT NOT NULL PRIMARY KEY,
        kind TEXT NOT NULL,
        peer TEXT NOT NULL,
        subject TEXT NOT NULL,
        asked_on TEXT NOT NULL,
        request BLOB NOT NULL,
        answer BLOB,
        answered_on TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS counter_requests_unanswered"
    " ON counter_requests (asked_on, request_id) WHERE answer IS NULL",
)
"""Tables and indexes, in creation order (``IF NOT EXISTS``)."""

_INFO_COLUMNS = (
    "certificate, resident_code, moved_from, planned_date, erase_on, received_on, payload, used"
)
_SELECT_INFO = f"SELECT {_INFO_COLUMNS} FROM move_out_infos"
_INSERT_INFO = f"INSERT INTO move_out_infos ({_INFO_COLUMNS}) VALUES ({_placeholders(8)})"
_RESEND = (
    "UPDATE move_out_infos SET planned_date = ?, erase_on = ?, received_on = ?, payload = ?"
    " WHERE certificate = ?"
)
_USE = "UPDATE move_out_infos SET used = 1 WHERE certificate = ?"
_REQUEST_COLUMNS = "request_id, kind, peer, subject, asked_on, request, answer, answered_on"
_SELECT_REQUEST = f"SELECT {_REQUEST_COLUMNS} FROM counter_requests"
_INSERT_REQUEST = f"INSERT INTO counter_requests ({_REQUEST_COLUMNS}) VALUES ({_placeholders(8)})"
_ANSWER = (
    "UPDATE counter_requests SET answer = ?, answered_on = ?"
    " WHERE request_id = ? AND answer IS NULL"
)


def _info(r: Any) -> MoveOutInfoRow:
    if type(r[7]) is not int or r[7] not in (0, 1):
        raise ValueError(f"used: {r[7]!r} is not 0 or 1")
    return MoveOutInfoRow(
        certificate=r[0],
        resident_code=r[1],
        moved_from=r[2],
        planned_date=date.fromisoformat(r[3]),
        erase_on=date.fromisoformat(r[4]),
        received_on=date.fromisoformat(r[5]),
        payload=r[6],
        used=bool(r[7]),
    )


def _info_values(i: MoveOutInfoRow) -> tuple[Any, ...]:
    return (
        i.certificate,
        i.resident_code,
        i.moved_from,
        i.planned_date.isoformat(),
        i.erase_on.isoformat(),
        i.received_on.isoformat(),
        i.payload,
        int(i.used),
    )


def _request(r: Any) -> CounterRequestRow:
    return CounterRequestRow(
        request_id=r[0],
        kind=r[1],
        peer=r[2],
        subject=r[3],
        asked_on=date.fromisoformat(r[4]),
        request=r[5],
        answer=r[6],
        answered_on=None if r[7] is None else date.fromisoformat(r[7]),
    )


def _request_values(q: CounterRequestRow) -> tuple[Any, ...]:
    answered_on = None if q.answered_on is None else q.answered_on.isoformat()
    return (
        q.request_id,
        q.kind,
        q.peer,
        q.subject,
        q.asked_on.isoformat(),
        q.request,
        q.answer,
        answered_on,
    )


class SQLiteCounterStore(_Port, CounterStore):
    """What a municipality keeps for the counter services across municipalities, in
    ``move_out_infos`` (転出証明書情報 received, 住基法24条の2第3項・第4項) and
    ``counter_requests`` (requests sent, 12条の4, 24条の2第5項・第6項)."""

    __slots__ = ()

    def keep_info(self, uow: UnitOfWork, row: MoveOutInfoRow) -> None:
        """Keep an info that arrived, or replace it on a resend (see :class:`CounterStore`)."""
        info = CounterStore.check_info(row)
        with self._store._write(uow) as conn:
            found = _decode(
                conn.execute(
                    f"{_SELECT_INFO} WHERE certificate = ?", (info.certificate,)
                ).fetchall(),
                _info,
                "move_out_infos",
            )
            stored = found[0] if found else None
            kept = CounterStore.kept_info(stored, info)
            if stored is None:
                conn.execute(_INSERT_INFO, _info_values(kept))
            else:
                conn.execute(_RESEND, (*_info_values(kept)[3:7], kept.certificate))

    def info(self, certificate: str, uow: UnitOfWork | None = None) -> MoveOutInfoRow | None:
        """The info kept under this certificate number, or None."""
        check_field(MoveOutInfoRow, "certificate", certificate)
        with self._store._read(uow) as conn:
            rows = conn.execute(f"{_SELECT_INFO} WHERE certificate = ?", (certificate,)).fetchall()
        found = _decode(rows, _info, "move_out_infos")
        return found[0] if found else None

    def infos_for(self, resident_code: str, uow: UnitOfWork | None = None) -> list[MoveOutInfoRow]:
        """Every info kept about the person, by planned move-out day."""
        check_resident_code(resident_code)
        with self._store._read(uow) as conn:
            rows = conn.execute(
                f"{_SELECT_INFO} WHERE resident_code = ? ORDER BY planned_date, certificate",
                (resident_code,),
            ).fetchall()
        return _decode(rows, _info, "move_out_infos")

    def use_info(self, uow: UnitOfWork, certificate: str) -> None:
        """Mark the info as used, once only (see :class:`CounterStore`)."""
        check_field(MoveOutInfoRow, "certificate", certificate)
        with self._store._write(uow) as conn:
            found = _decode(
                conn.execute(f"{_SELECT_INFO} WHERE certificate = ?", (certificate,)).fetchall(),
                _info,
                "move_out_infos",
            )
            CounterStore.check_use(found[0] if found else None, certificate)
            conn.execute(_USE, (certificate,))

    def erase_infos(self, uow: UnitOfWork, *, on: date) -> int:
        """Erase every info whose ``erase_on`` is ``on`` or earlier; returns how many."""
        check_date(on, "on")
        with self._store._write(uow) as conn:
            cursor = conn.execute(
                "DELETE FROM move_out_infos WHERE erase_on <= ?", (on.isoformat(),)
            )
            return cursor.rowcount

    def open_request(self, uow: UnitOfWork, row: CounterRequestRow) -> None:
        """Keep a request sent (see :class:`CounterStore`)."""
        request = CounterStore.check_request(row)
        with self._store._write(uow) as conn:
            exists = conn.execute(
                "SELECT 1 FROM counter_requests WHERE request_id = ?", (request.request_id,)
            ).fetchone()
            if exists is not None:
                raise CounterStore.duplicate_request(request)
            conn.execute(_INSERT_REQUEST, _request_values(request))

    def answer_request(self, uow: UnitOfWork, request_id: str, answer: bytes, on: date) -> None:
        """Keep the answer to a request, once (see :class:`CounterStore`)."""
        CounterStore.check_answer(request_id, answer, on)
        with self._store._write(uow) as conn:
            found = _decode(
                conn.execute(f"{_SELECT_REQUEST} WHERE request_id = ?", (request_id,)).fetchall(),
                _request,
                "counter_requests",
            )
            CounterStore.answered(found[0] if found else None, request_id, answer, on)
            conn.execute(_ANSWER, (answer, on.isoformat(), request_id))

    def request(self, request_id: str, uow: UnitOfWork | None = None) -> CounterRequestRow | None:
        """The request kept under this id, or None."""
        check_field(CounterRequestRow, "request_id", request_id)
        with self._store._read(uow) as conn:
            rows = conn.execute(f"{_SELECT_REQUEST} WHERE request_id = ?", (request_id,)).fetchall()
        found = _decode(rows, _request, "counter_requests")
        return found[0] if found else None

    def unanswered(
        self, *, kind: str | None = None, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[CounterRequestRow]:
        """Requests not answered yet, oldest first, at most ``limit``."""
        wanted = CounterStore.check_kind(kind)
        check_int(limit, "limit")
        with self._store._read(uow) as conn:
            rows = conn.execute(
                f"{_SELECT_REQUEST} WHERE answer IS NULL AND (? IS NULL OR kind = ?)"
                " ORDER BY asked_on, request_id LIMIT ?",
                (wanted, wanted, limit),
            ).fetchall()
        return _decode(rows, _request, "counter_requests")
