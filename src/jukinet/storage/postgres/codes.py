"""Resident codes (住民票コード) designated to municipalities: :class:`PostgresCodePool`,
its table ``code_pool`` and its statements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import LiteralString

from jukinet import errors
from jukinet.storage.base import CodePool, UnitOfWork
from jukinet.storage.postgres._database import (
    _codes,
    _Database,
    _Port,
    _Statement,
    _Statements,
)
from jukinet.storage.records import check_lg_code, check_resident_code

DDL: tuple[LiteralString, ...] = (
    """CREATE TABLE IF NOT EXISTS {s}.code_pool (
        resident_code TEXT COLLATE "C" PRIMARY KEY,
        municipality TEXT COLLATE "C" NOT NULL,
        used BOOLEAN NOT NULL)""",
    # (municipality, used) from the logical schema, plus resident_code so that
    # allocate's ORDER BY resident_code LIMIT 1 is an index range scan.
    "CREATE INDEX IF NOT EXISTS code_pool_municipality_used"
    " ON {s}.code_pool (municipality, used, resident_code)",
)
TABLES = ("code_pool",)


class _CodePoolSQL(_Statements):
    """The statements of :class:`PostgresCodePool`."""

    prefix = "code_pool"

    designated_to = _Statement("SELECT municipality FROM {s}.code_pool WHERE resident_code = %s")
    designated = _Statement(
        "SELECT resident_code FROM {s}.code_pool WHERE resident_code = ANY(%s)"
        " ORDER BY resident_code LIMIT 1"
    )
    designate = _Statement(
        "INSERT INTO {s}.code_pool (resident_code, municipality, used)"
        " SELECT code, %s::text, false FROM unnest(%s::text[]) AS code"
    )
    allocate = _Statement(
        "UPDATE {s}.code_pool SET used = true WHERE resident_code = ("
        " SELECT resident_code FROM {s}.code_pool WHERE municipality = %s AND NOT used"
        " ORDER BY resident_code LIMIT 1 FOR UPDATE SKIP LOCKED)"
        " RETURNING resident_code"
    )
    mark_used = _Statement(
        "UPDATE {s}.code_pool SET used = true WHERE resident_code = %s AND NOT used"
    )
    is_designated = _Statement("SELECT 1 FROM {s}.code_pool WHERE resident_code = %s")
    available = _Statement(
        "SELECT count(*) FROM {s}.code_pool WHERE municipality = %s AND NOT used"
    )
    count = _Statement("SELECT count(*) FROM {s}.code_pool")


class PostgresCodePool(_Port[_CodePoolSQL], CodePool):
    """Resident codes designated nationwide and each municipality's pool (``code_pool``).

    :meth:`allocate` picks with ``SELECT .. FOR UPDATE SKIP LOCKED LIMIT 1`` and
    marks the code used in the same statement, so two racing allocators never
    get the same code (the second skips the row the first has locked).
    """

    __slots__ = ()

    def __init__(self, store: _Database) -> None:
        super().__init__(store, _CodePoolSQL(store.schema))

    def designate(self, uow: UnitOfWork, municipality: str, codes: Sequence[str]) -> None:
        """Add codes to a municipality's pool; a code designated before is an IntegrityError."""
        self._store._connection_of(uow)
        check_lg_code(municipality)
        items = _codes(codes, "codes")
        if len(set(items)) != len(items):
            raise errors.IntegrityError(
                "a code appears twice", field="codes", expected="each code once"
            )
        if not items:
            return
        q = self._sql
        with self._store._write(uow) as cur:
            cur.execute(q.designated, [items])
            found = cur.fetchone()
            if found is not None:
                raise errors.IntegrityError(
                    f"resident code {found[0]} was designated before",
                    field="codes",
                    expected="codes never designated (住基法30条の2第2項)",
                )
            cur.execute(q.designate, [municipality, items])

    def allocate(self, uow: UnitOfWork, municipality: str) -> str | None:
        """Take an unused code of the municipality and mark it used; None if none is free."""
        self._store._connection_of(uow)
        check_lg_code(municipality)
        with self._store._write(uow) as cur:
            cur.execute(self._sql.allocate, [municipality])
            found = cur.fetchone()
        return None if found is None else str(found[0])

    def mark_used(self, uow: UnitOfWork, resident_code: str) -> None:
        """Mark a designated, unused code as used; otherwise an IntegrityError."""
        self._store._connection_of(uow)
        check_resident_code(resident_code)
        with self._store._write(uow) as cur:
            cur.execute(self._sql.mark_used, [resident_code])
            if cur.rowcount == 1:
                return
            cur.execute(self._sql.is_designated, [resident_code])
            designated = cur.fetchone() is not None
        what = "is already used" if designated else "was never designated"
        raise errors.IntegrityError(
            f"resident code {resident_code} {what}",
            field="resident_code",
            expected="a designated, unused code",
        )

    def available(self, municipality: str, uow: UnitOfWork | None = None) -> int:
        """How many unused codes the municipality has left."""
        check_lg_code(municipality)
        with self._store._read(uow) as cur:
            cur.execute(self._sql.available, [municipality])
            found = cur.fetchone()
        return int(found[0]) if found else 0

    def is_designated(self, resident_code: str, uow: UnitOfWork | None = None) -> bool:
        """Whether the code was ever designated (to anyone)."""
        check_resident_code(resident_code)
        with self._store._read(uow) as cur:
            cur.execute(self._sql.is_designated, [resident_code])
            return cur.fetchone() is not None

    def designated_to(self, resident_code: str, uow: UnitOfWork | None = None) -> str | None:
        """The municipality the code was designated to, or None."""
        check_resident_code(resident_code)
        with self._store._read(uow) as cur:
            cur.execute(self._sql.designated_to, [resident_code])
            found = cur.fetchone()
        return None if found is None else str(found[0])

    def designated_count(self, uow: UnitOfWork | None = None) -> int:
        """How many codes were ever designated."""
        with self._store._read(uow) as cur:
            cur.execute(self._sql.count)
            found = cur.fetchone()
        return int(found[0]) if found else 0
