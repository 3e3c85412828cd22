"""The agencies registered with a provider: :class:`PostgresAgencyRegistry`, its table
``agencies``, its statements and its row codec."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any, LiteralString

from psycopg import sql

from jukinet import errors
from jukinet.storage.base import AgencyRegistry, UnitOfWork
from jukinet.storage.postgres._database import (
    _Database,
    _json_list,
    _json_tuple,
    _Port,
    _Statement,
    _Statements,
    _utc,
)
from jukinet.storage.records import AgencyRow, check_field, check_int, unchecked
from jukinet.storage.records import decode_rows as _decode

DDL: tuple[LiteralString, ...] = (
    # --- version 2: provision (住基法30条の9〜30条の16, 30条の32〜30条の35) ---
    """CREATE TABLE IF NOT EXISTS {s}.agencies (
        agency TEXT COLLATE "C" PRIMARY KEY,
        public_key BYTEA NOT NULL,
        registered_at TIMESTAMPTZ NOT NULL,
        recipients TEXT NOT NULL,
        number_uses TEXT NOT NULL,
        locality TEXT COLLATE "C")""",
)
TABLES = ("agencies",)


def _agency_row(values: Sequence[Any]) -> AgencyRow:
    agency, public_key, registered_at, recipients, number_uses, locality = values
    return unchecked(
        AgencyRow,
        agency=agency,
        public_key=bytes(public_key),
        registered_at=registered_at.replace(tzinfo=UTC),
        recipients=_json_tuple(recipients, "recipients"),
        number_uses=_json_tuple(number_uses, "number_uses"),
        locality=locality,
    )


class _AgencySQL(_Statements):
    """The statements of :class:`PostgresAgencyRegistry`."""

    prefix = "agency"

    @staticmethod
    def _fragments() -> dict[str, sql.Composable]:
        return {
            "agency": sql.SQL(
                "agency, public_key, registered_at AT TIME ZONE 'UTC', recipients,"
                " number_uses, locality"
            )
        }

    insert = _Statement(
        "INSERT INTO {s}.agencies"
        " (agency, public_key, registered_at, recipients, number_uses, locality)"
        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (agency) DO NOTHING"
    )
    get = _Statement("SELECT {agency} FROM {s}.agencies WHERE agency = %s")
    list = _Statement(
        "SELECT {agency} FROM {s}.agencies"
        " WHERE agency > coalesce(%s::text, '') ORDER BY agency LIMIT %s"
    )


class PostgresAgencyRegistry(_Port[_AgencySQL], AgencyRegistry):
    """The agencies registered with a provider (``agencies``, 住基法30条の9〜30条の15).

    ``recipients`` and ``number_uses`` are JSON text; ``registered_at``
    is a ``TIMESTAMPTZ`` read back in UTC, like the audit log's ``at``.
    """

    __slots__ = ()

    def __init__(self, store: _Database) -> None:
        super().__init__(store, _AgencySQL(store.schema))

    def register(self, uow: UnitOfWork, row: AgencyRow) -> None:
        """Register an agency; a name registered before is an IntegrityError.

        ``INSERT .. ON CONFLICT (agency) DO NOTHING``: a racing registration of
        the same name waits for the first to end, then inserts nothing, and the
        call is refused (the first key is never replaced).
        """
        self._store._connection_of(uow)
        if not isinstance(row, AgencyRow):
            raise errors.InterfaceError(
                f"got {type(row).__name__}", field="row", expected="an AgencyRow"
            )
        values = (
            row.agency,
            row.public_key,
            _utc(row.registered_at),
            _json_list(row.recipients),
            _json_list(row.number_uses),
            row.locality,
        )
        with self._store._write(uow) as cur:
            cur.execute(self._sql.insert, values)
            if cur.rowcount == 1:
                return
        raise errors.IntegrityError(
            f"agency {row.agency} is registered already",
            field="agency",
            expected="a name not registered before (keys are never replaced)",
        )

    def get(self, agency: str, uow: UnitOfWork | None = None) -> AgencyRow | None:
        """The agency's registration, or None."""
        check_field(AgencyRow, "agency", agency)
        with self._store._read(uow) as cur:
            cur.execute(self._sql.get, [agency])
            found = cur.fetchone()
        return None if found is None else _decode([found], _agency_row, "agencies")[0]

    def list(
        self, *, after: str | None = None, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[AgencyRow]:
        """Registrations ordered by name (code point order, ``COLLATE "C"``), after
        ``after``, at most ``limit``."""
        if after is not None:
            check_field(AgencyRow, "agency", after)
        check_int(limit, "limit")
        with self._store._read(uow) as cur:
            cur.execute(self._sql.list, [after, limit])
            found = cur.fetchall()
        return _decode(found, _agency_row, "agencies")
