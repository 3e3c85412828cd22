"""Resident codes designated to municipalities: :class:`SQLiteCodePool` and ``code_pool``."""

from __future__ import annotations

from collections.abc import Sequence

from jukinet.errors import IntegrityError
from jukinet.storage.base import CodePool, UnitOfWork
from jukinet.storage.records import check_lg_code, check_resident_code
from jukinet.storage.sqlite._database import _as_items, _Port

TABLES: tuple[str, ...] = ("code_pool",)
"""The tables this module's :data:`DDL` creates."""

DDL: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS code_pool (
        resident_code TEXT NOT NULL PRIMARY KEY,
        municipality TEXT NOT NULL,
        used INTEGER NOT NULL DEFAULT 0 CHECK (used IN (0, 1))
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS code_pool_available ON code_pool (municipality, used)",
)
"""Tables and indexes, in creation order (``IF NOT EXISTS``)."""


class SQLiteCodePool(_Port, CodePool):
    """Resident codes (住民票コード) designated to municipalities, in ``code_pool``."""

    __slots__ = ()

    def designate(self, uow: UnitOfWork, municipality: str, codes: Sequence[str]) -> None:
        """Add codes to the pool; one designated before (or twice here) is an IntegrityError."""
        check_lg_code(municipality)
        items = [
            check_resident_code(code) for code in _as_items(codes, "codes", "a sequence of str")
        ]
        with self._store._write(uow) as conn:
            conn.executemany(
                "INSERT INTO code_pool (resident_code, municipality, used) VALUES (?, ?, 0)",
                [(code, municipality) for code in items],
            )

    def allocate(self, uow: UnitOfWork, municipality: str) -> str | None:
        """Take the lowest unused code of the municipality and mark it used; None if none."""
        check_lg_code(municipality)
        with self._store._write(uow) as conn:
            row = conn.execute(
                "SELECT resident_code FROM code_pool WHERE municipality = ? AND used = 0"
                " ORDER BY resident_code LIMIT 1",
                (municipality,),
            ).fetchone()
            if row is None:
                return None
            code = str(row[0])
            conn.execute("UPDATE code_pool SET used = 1 WHERE resident_code = ?", (code,))
        return code

    def mark_used(self, uow: UnitOfWork, resident_code: str) -> None:
        """Mark a designated, unused code as used; unknown or used is an IntegrityError."""
        check_resident_code(resident_code)
        with self._store._write(uow) as conn:
            cursor = conn.execute(
                "UPDATE code_pool SET used = 1 WHERE resident_code = ? AND used = 0",
                (resident_code,),
            )
            if cursor.rowcount != 1:
                raise IntegrityError(
                    f"resident code {resident_code} is not designated or already used",
                    field="resident_code",
                    expected="a designated, unused code",
                )

    def available(self, municipality: str, uow: UnitOfWork | None = None) -> int:
        """How many unused codes the municipality has left."""
        check_lg_code(municipality)
        with self._store._read(uow) as conn:
            row = conn.execute(
                "SELECT count(*) FROM code_pool WHERE municipality = ? AND used = 0",
                (municipality,),
            ).fetchone()
        return int(row[0])

    def is_designated(self, resident_code: str, uow: UnitOfWork | None = None) -> bool:
        """Whether the code was ever designated (to anyone)."""
        check_resident_code(resident_code)
        with self._store._read(uow) as conn:
            row = conn.execute(
                "SELECT 1 FROM code_pool WHERE resident_code = ?", (resident_code,)
            ).fetchone()
        return row is not None

    def designated_to(self, resident_code: str, uow: UnitOfWork | None = None) -> str | None:
        """The municipality the code was designated to, or None."""
        check_resident_code(resident_code)
        with self._store._read(uow) as conn:
            row = conn.execute(
                "SELECT municipality FROM code_pool WHERE resident_code = ?", (resident_code,)
            ).fetchone()
        return None if row is None else str(row[0])

    def designated_count(self, uow: UnitOfWork | None = None) -> int:
        """How many codes were ever designated."""
        with self._store._read(uow) as conn:
            row = conn.execute("SELECT count(*) FROM code_pool").fetchone()
        return int(row[0])
