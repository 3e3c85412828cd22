"""Agencies registered with a provider: :class:`SQLiteAgencyRegistry` and ``agencies``."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from jukinet.errors import InterfaceError
from jukinet.storage.base import AgencyRegistry, UnitOfWork
from jukinet.storage.records import AgencyRow, check_field, check_int, unchecked
from jukinet.storage.records import decode_rows as _decode
from jukinet.storage.sqlite._database import _json_list, _json_tuple, _Port

TABLES: tuple[str, ...] = ("agencies",)
"""The tables this module's :data:`DDL` creates."""

DDL: tuple[str, ...] = (
    # list(): the primary key in code point order (BINARY collation compares UTF-8 bytes)
    """CREATE TABLE IF NOT EXISTS agencies (
        agency TEXT NOT NULL PRIMARY KEY,
        public_key BLOB NOT NULL,
        registered_at TEXT NOT NULL,
        recipients TEXT NOT NULL,
        number_uses TEXT NOT NULL,
        locality TEXT
    ) WITHOUT ROWID""",
)
"""Tables and indexes, in creation order (``IF NOT EXISTS``)."""


_AGENCY_COLUMNS = "agency, public_key, registered_at, recipients, number_uses, locality"


def _agency_row(r: Any) -> AgencyRow:
    return unchecked(
        AgencyRow,
        agency=r[0],
        public_key=r[1],
        registered_at=datetime.fromisoformat(r[2]),
        recipients=_json_tuple(r[3], "recipients"),
        number_uses=_json_tuple(r[4], "number_uses"),
        locality=r[5],
    )


class SQLiteAgencyRegistry(_Port, AgencyRegistry):
    """Agencies registered with a provider (住基法30条の9〜30条の15), in ``agencies``.

    ``recipients`` and ``number_uses`` are JSON arrays (UTF-8 text),
    ``registered_at`` ISO 8601 text with its UTC offset (as the audit log's
    ``at``), ``public_key`` the raw key as a BLOB.
    """

    __slots__ = ()

    def register(self, uow: UnitOfWork, row: AgencyRow) -> None:
        """Register an agency; a name registered before is an IntegrityError, nothing written."""
        if not isinstance(row, AgencyRow):
            raise InterfaceError(f"got {type(row).__name__}", field="row", expected="an AgencyRow")
        params = (
            row.agency,
            row.public_key,
            row.registered_at.isoformat(),
            _json_list(row.recipients),
            _json_list(row.number_uses),
            row.locality,
        )
        with self._store._write(uow) as conn:
            conn.execute(
                f"INSERT INTO agencies ({_AGENCY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", params
            )

    def get(self, agency: str, uow: UnitOfWork | None = None) -> AgencyRow | None:
        """The agency's registration, or None."""
        check_field(AgencyRow, "agency", agency)
        with self._store._read(uow) as conn:
            rows = conn.execute(
                f"SELECT {_AGENCY_COLUMNS} FROM agencies WHERE agency = ?", (agency,)
            ).fetchall()
        found = _decode(rows, _agency_row, "agencies")
        return found[0] if found else None

    def list(
        self, *, after: str | None = None, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> builtins.list[AgencyRow]:
        """Registrations ordered by name (code point order), after ``after``, at most ``limit``."""
        if after is not None:
            check_field(AgencyRow, "agency", after)
        check_int(limit, "limit")
        with self._store._read(uow) as conn:
            rows = conn.execute(
                f"SELECT {_AGENCY_COLUMNS} FROM agencies WHERE agency > ? ORDER BY agency LIMIT ?",
                ("" if after is None else after, limit),
            ).fetchall()
        return _decode(rows, _agency_row, "agencies")
