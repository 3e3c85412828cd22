"""The resident IC cards: :class:`SQLiteCardRegistry`, ``cards`` and ``card_events``.

``cards`` holds each card's current state; a partial unique index on the holder of
the live cards (in effect or suspended) keeps one live card per person even if two
writers race, and partial indexes on the live cards' move-in and expiry days answer
:meth:`~SQLiteCardRegistry.awaiting_continued_use` and
:meth:`~SQLiteCardRegistry.expiring`. ``card_events`` keeps every event, keyed by
(card id, version). Days are ISO 8601 text, so text order is date order.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import date
from typing import Any

from jukinet.storage.base import CardRegistry, UnitOfWork, chunks
from jukinet.storage.records import (
    CardEventRow,
    CardRow,
    check_date,
    check_field,
    check_int,
    check_resident_code,
)
from jukinet.storage.records import decode_rows as _decode
from jukinet.storage.sqlite._database import CHUNK_SIZE, _as_items, _placeholders, _Port

TABLES: tuple[str, ...] = ("cards", "card_events")
"""The tables this module's :data:`DDL` creates."""

_LIVE = "state IN ('in_effect', 'suspended')"

DDL: tuple[str, ...] = (
    # Each card's current state (schema version 5).
    """CREATE TABLE IF NOT EXISTS cards (
        card_id TEXT NOT NULL PRIMARY KEY,
        holder TEXT NOT NULL,
        kind TEXT NOT NULL,
        photo INTEGER NOT NULL,
        issuer TEXT NOT NULL,
        issued_on TEXT NOT NULL,
        expires_on TEXT NOT NULL,
        public_key BLOB NOT NULL,
        state TEXT NOT NULL,
        reason TEXT NOT NULL,
        municipality TEXT NOT NULL,
        moved_in_on TEXT,
        version INTEGER NOT NULL
    ) WITHOUT ROWID""",
    # one live card per person (旧住基法30条の44, 番号法17条)
    f"CREATE UNIQUE INDEX IF NOT EXISTS cards_live_holder ON cards (holder) WHERE {_LIVE}",
    "CREATE INDEX IF NOT EXISTS cards_move_ins ON cards (moved_in_on, card_id)"
    f" WHERE {_LIVE} AND moved_in_on IS NOT NULL",
    f"CREATE INDEX IF NOT EXISTS cards_expiries ON cards (expires_on, card_id) WHERE {_LIVE}",
    # Every event of every card, never rewritten.
    """CREATE TABLE IF NOT EXISTS card_events (
        card_id TEXT NOT NULL REFERENCES cards (card_id),
        version INTEGER NOT NULL,
        event TEXT NOT NULL,
        on_day TEXT NOT NULL,
        municipality TEXT NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (card_id, version)
    ) WITHOUT ROWID""",
)
"""Tables and indexes, in creation order (``IF NOT EXISTS``)."""

_COLUMNS = (
    "card_id, holder, kind, photo, issuer, issued_on, expires_on, public_key,"
    " state, reason, municipality, moved_in_on, version"
)
_SELECT = f"SELECT {_COLUMNS} FROM cards"
_INSERT = f"INSERT INTO cards ({_COLUMNS}) VALUES ({_placeholders(13)})"
_UPDATE = (
    "UPDATE cards SET expires_on = ?, state = ?, reason = ?, municipality = ?,"
    " moved_in_on = ?, version = ? WHERE card_id = ? AND version = ?"
)
_OTHER_LIVE = f"SELECT 1 FROM cards WHERE holder = ? AND card_id <> ? AND {_LIVE}"
_INSERT_EVENT = (
    "INSERT INTO card_events (card_id, version, event, on_day, municipality, reason)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
_HISTORY = (
    "SELECT card_id, version, event, on_day, municipality, reason FROM card_events"
    " WHERE card_id = ? ORDER BY version"
)


def _card(r: Any) -> CardRow:
    if type(r[3]) is not int or r[3] not in (0, 1):
        raise ValueError(f"photo: {r[3]!r} is not 0 or 1")
    return CardRow(
        card_id=r[0],
        holder=r[1],
        kind=r[2],
        photo=bool(r[3]),
        issuer=r[4],
        issued_on=date.fromisoformat(r[5]),
        expires_on=date.fromisoformat(r[6]),
        public_key=r[7],
        state=r[8],
        reason=r[9],
        municipality=r[10],
        moved_in_on=None if r[11] is None else date.fromisoformat(r[11]),
        version=r[12],
    )


def _card_values(c: CardRow) -> tuple[Any, ...]:
    return (
        c.card_id,
        c.holder,
        c.kind,
        int(c.photo),
        c.issuer,
        c.issued_on.isoformat(),
        c.expires_on.isoformat(),
        c.public_key,
        c.state,
        c.reason,
        c.municipality,
        None if c.moved_in_on is None else c.moved_in_on.isoformat(),
        c.version,
    )


def _changes(c: CardRow) -> tuple[Any, ...]:
    """The values of ``_UPDATE``'s ``SET``: the columns a card may change."""
    moved_in_on = None if c.moved_in_on is None else c.moved_in_on.isoformat()
    return (c.expires_on.isoformat(), c.state, c.reason, c.municipality, moved_in_on, c.version)


def _event(r: Any) -> CardEventRow:
    return CardEventRow(
        card_id=r[0],
        version=r[1],
        event=r[2],
        on=date.fromisoformat(r[3]),
        municipality=r[4],
        reason=r[5],
    )


def _event_values(e: CardEventRow) -> tuple[Any, ...]:
    return (e.card_id, e.version, e.event, e.on.isoformat(), e.municipality, e.reason)


def _stored(conn: sqlite3.Connection, card_id: str) -> CardRow | None:
    """The stored state of one card, read on ``conn``, or None."""
    found = _decode(
        conn.execute(f"{_SELECT} WHERE card_id = ?", (card_id,)).fetchall(), _card, "cards"
    )
    return found[0] if found else None


class SQLiteCardRegistry(_Port, CardRegistry):
    """The resident IC cards a municipality issued (旧住基法30条の44, 番号法17条), in
    ``cards`` (current states) and ``card_events`` (every event)."""

    __slots__ = ()

    def issue(self, uow: UnitOfWork, card: CardRow, event: CardEventRow) -> None:
        """Store a new card with its ``issued`` event (see :class:`CardRegistry`)."""
        row, first = CardRegistry.check_issue(card, event)
        with self._store._write(uow) as conn:
            if conn.execute("SELECT 1 FROM cards WHERE card_id = ?", (row.card_id,)).fetchone():
                raise CardRegistry.duplicate_card(row)
            live = conn.execute(
                f"SELECT 1 FROM cards WHERE holder = ? AND {_LIVE}", (row.holder,)
            ).fetchone()
            if live is not None:
                raise CardRegistry.second_live_card(row)
            conn.execute(_INSERT, _card_values(row))
            conn.execute(_INSERT_EVENT, _event_values(first))

    def update(self, uow: UnitOfWork, card: CardRow, event: CardEventRow) -> None:
        """Store a card's new state with its event (see :class:`CardRegistry`)."""
        row, later = CardRegistry.check_update(card, event)
        with self._store._write(uow) as conn:
            CardRegistry.check_change(_stored(conn, row.card_id), row)
            conn.execute(_UPDATE, (*_changes(row), row.card_id, row.version - 1))
            conn.execute(_INSERT_EVENT, _event_values(later))

    def adopt(self, uow: UnitOfWork, card: CardRow, event: CardEventRow) -> None:
        """Keep a card learnt of at a later version (see :class:`CardRegistry`)."""
        row, seen = CardRegistry.check_adopt(card, event)
        with self._store._write(uow) as conn:
            stored = _stored(conn, row.card_id)
            CardRegistry.check_adoption(stored, row)
            if conn.execute(_OTHER_LIVE, (row.holder, row.card_id)).fetchone() is not None:
                raise CardRegistry.second_live_card(row)
            if stored is None:
                conn.execute(_INSERT, _card_values(row))
            else:
                conn.execute(_UPDATE, (*_changes(row), row.card_id, stored.version))
            conn.execute(_INSERT_EVENT, _event_values(seen))

    def get(self, card_id: str, uow: UnitOfWork | None = None) -> CardRow | None:
        """The card's current state, or None."""
        check_field(CardRow, "card_id", card_id)
        with self._store._read(uow) as conn:
            return _stored(conn, card_id)

    def get_many(
        self, card_ids: Sequence[str], uow: UnitOfWork | None = None
    ) -> dict[str, CardRow]:
        """Card id → current state, for the ids found."""
        ids = _as_items(card_ids, "card_ids", "a sequence of str")
        for card_id in ids:
            check_field(CardRow, "card_id", card_id)
        found: dict[str, CardRow] = {}
        with self._store._read(uow, snapshot=True) as conn:
            for part in chunks(list(dict.fromkeys(ids)), CHUNK_SIZE):
                rows = conn.execute(
                    f"{_SELECT} WHERE card_id IN ({_placeholders(len(part))})", tuple(part)
                ).fetchall()
                found.update((c.card_id, c) for c in _decode(rows, _card, "cards"))
        return {card_id: found[card_id] for card_id in ids if card_id in found}

    def live_for(self, holder: str, uow: UnitOfWork | None = None) -> CardRow | None:
        """The holder's card in effect or suspended, or None."""
        check_resident_code(holder, "holder")
        with self._store._read(uow) as conn:
            rows = conn.execute(f"{_SELECT} WHERE holder = ? AND {_LIVE}", (holder,)).fetchall()
        found = _decode(rows, _card, "cards")
        return found[0] if found else None

    def history(self, card_id: str, uow: UnitOfWork | None = None) -> list[CardEventRow]:
        """Every event of the card in version order (empty if unknown)."""
        check_field(CardRow, "card_id", card_id)
        with self._store._read(uow) as conn:
            rows = conn.execute(_HISTORY, (card_id,)).fetchall()
        return _decode(rows, _event, "card_events")

    def awaiting_continued_use(
        self, *, moved_in_before: date, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[CardRow]:
        """Live cards with a move-in before ``moved_in_before``, oldest move-in first."""
        check_date(moved_in_before, "moved_in_before")
        check_int(limit, "limit")
        with self._store._read(uow) as conn:
            rows = conn.execute(
                f"{_SELECT} WHERE {_LIVE} AND moved_in_on IS NOT NULL AND moved_in_on < ?"
                " ORDER BY moved_in_on, card_id LIMIT ?",
                (moved_in_before.isoformat(), limit),
            ).fetchall()
        return _decode(rows, _card, "cards")

    def expiring(
        self, *, before: date, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[CardRow]:
        """Live cards whose last day in effect is before ``before``, earliest first."""
        check_date(before, "before")
        check_int(limit, "limit")
        with self._store._read(uow) as conn:
            rows = conn.execute(
                f"{_SELECT} WHERE {_LIVE} AND expires_on < ? ORDER BY expires_on, card_id LIMIT ?",
                (before.isoformat(), limit),
            ).fetchall()
        return _decode(rows, _card, "cards")
