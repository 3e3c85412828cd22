"""Reading rows back from a database: :func:`decode_rows` and the
:class:`~jukinet.errors.CorruptRecord` of a row that cannot be read."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from jukinet.errors import CorruptRecord
from jukinet.storage.records._validate import _R

ROW_KEY_COLUMNS = {
    "register_versions": 2,
    "identity_versions": 2,
    "outbox": 1,
    "audit_log": 1,
    "agencies": 1,
    "provision_log": 1,
    "schedule": 1,
    "pending_notices": 1,
    "cards": 1,
    "card_events": 2,
    "move_out_infos": 1,
    "counter_requests": 1,
}
"""How many leading columns of a table's rows, as the SQL adapters read them,
identify the row."""
_SEQUENCED = frozenset({"outbox", "audit_log", "provision_log", "pending_notices"})
"""The tables whose rows are log entries numbered by ``seq`` (the key's last part)."""


def decode_rows(
    rows: Sequence[Any], build: Callable[[Any], _R], table: str, within: tuple[Any, ...] = ()
) -> list[_R]:
    """Rows of ``table`` read back from a database, as records.

    The one place where a stored row that cannot be read back (a value changed
    behind the adapter's back) becomes a :class:`~jukinet.errors.CorruptRecord`
    naming it: ``within`` and the row's key columns (:data:`ROW_KEY_COLUMNS`). Both
    SQL adapters decode their rows through it.
    """
    decoded: list[_R] = []
    append = decoded.append
    for row in rows:
        try:
            append(build(row))
        except (ValueError, TypeError) as exc:
            raise corrupt_record(table, (*within, *row[: ROW_KEY_COLUMNS[table]]), exc) from exc
    return decoded


def corrupt_record(table: str, key: tuple[Any, ...], exc: BaseException) -> CorruptRecord:
    """The error for a stored row of ``table`` (identified by ``key``) that cannot be read."""
    seq = key[-1] if table in _SEQUENCED and key and type(key[-1]) is int else None
    return CorruptRecord(
        f"the stored row cannot be read back: {exc}",
        table=table,
        key=key,
        seq=seq,
        expected="the values the adapter wrote; the row was changed outside it",
    )
