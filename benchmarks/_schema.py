"""The register tables as the raw-driver halves write and read them.

Names follow the storage schema (see ``jukinet.storage.sqlite`` and
``jukinet.storage.postgres``): ``register_versions`` (history),
``register_current`` (newest version per person) and ``register_codes``
(every code a person ever held).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from jukinet.storage.records import RegisterRow

__all__ = [
    "CODES_COLUMNS",
    "CODES_PG_TYPES",
    "CURRENT_COLUMNS",
    "CURRENT_PG_TYPES",
    "VERSIONS_COLUMNS",
    "VERSIONS_PG_TYPES",
    "register_tuples",
    "select_current",
]

VERSIONS_COLUMNS = (
    "internal_id",
    "version",
    "resident_code",
    "status",
    "household_id",
    "reason",
    "event_date",
    "processed_on",
    "payload",
)
CURRENT_COLUMNS = ("internal_id", "version", "resident_code", "status", "household_id")
CODES_COLUMNS = ("resident_code", "internal_id")
VERSIONS_PG_TYPES = ("text", "int8", "text", "text", "text", "text", "date", "date", "bytea")
"""PostgreSQL types of :data:`VERSIONS_COLUMNS`, for binary ``COPY``."""
CURRENT_PG_TYPES = VERSIONS_PG_TYPES[:5]
CODES_PG_TYPES = ("text", "text")

Versions = list[tuple[str, int, str, str, str, str, str | date, str | date, bytes]]
Current = list[tuple[str, int, str, str, str]]
Codes = list[tuple[str, str]]


def register_tuples(
    rows: Sequence[RegisterRow], *, iso_dates: bool
) -> tuple[Versions, Current, Codes]:
    """The rows as plain tuples for the three tables (dates as ISO text for SQLite)."""
    versions: Versions = []
    current: Current = []
    codes: Codes = []
    for r in rows:
        event: str | date = r.event_date.isoformat() if iso_dates else r.event_date
        processed: str | date = r.processed_on.isoformat() if iso_dates else r.processed_on
        versions.append(
            (
                r.internal_id,
                r.version,
                r.resident_code,
                r.status,
                r.household_id,
                r.reason,
                event,
                processed,
                r.payload,
            )
        )
        current.append((r.internal_id, r.version, r.resident_code, r.status, r.household_id))
        codes.append((r.resident_code, r.internal_id))
    return versions, current, codes


def select_current(code_filter: str) -> str:
    """The SELECT for the newest version by resident code, with ``code_filter`` as WHERE."""
    return (
        "SELECT c.resident_code, v.internal_id, v.version, v.resident_code, v.status,"
        " v.household_id, v.reason, v.event_date, v.processed_on, v.payload"
        " FROM {codes} c"
        " JOIN {current} r ON r.internal_id = c.internal_id"
        " JOIN {versions} v ON v.internal_id = r.internal_id AND v.version = r.version"
        f" WHERE {code_filter}"
    )
