"""The resident IC cards: :class:`PostgresCardRegistry`, its tables ``cards`` and
``card_events``, its statements and its row codec.

A partial unique index on the holder of the live cards (in effect or suspended)
keeps one live card per person even when two units of work issue at once: the
second insert waits for the first to commit and then fails
(:class:`~jukinet.errors.IntegrityError`). :meth:`PostgresCardRegistry.update`
locks the stored row (``FOR UPDATE``) before it checks the new state against it,
so two updates of one card take turns and the second sees the first's version;
:meth:`PostgresCardRegistry.adopt` locks it the same way, and an adoption of a card
not stored yet meets a racing writer at the primary key or the live-holder index.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, LiteralString

from psycopg import sql

from jukinet.storage.base import CardRegistry, UnitOfWork
from jukinet.storage.postgres._database import (
    _columns,
    _Database,
    _Port,
    _records,
    _Statement,
    _Statements,
)
from jukinet.storage.records import (
    CardEventRow,
    CardRow,
    check_date,
    check_field,
    check_int,
    check_resident_code,
)
from jukinet.storage.records import decode_rows as _decode

DDL: tuple[LiteralString, ...] = (
    # Each card's current state (schema version 5).
    """CREATE TABLE IF NOT EXISTS {s}.cards (
        card_id TEXT COLLATE "C" PRIMARY KEY,
        holder TEXT COLLATE "C" NOT NULL,
        kind TEXT NOT NULL,
        photo BOOLEAN NOT NULL,
        issuer TEXT NOT NULL,
        issued_on DATE NOT NULL,
        expires_on DATE NOT NULL,
        public_key BYTEA NOT NULL,
        state TEXT NOT NULL,
        reason TEXT NOT NULL,
        municipality TEXT NOT NULL,
        moved_in_on DATE,
        version BIGINT NOT NULL)""",
    # one live card per person (旧住基法30条の44, 番号法17条)
    "CREATE UNIQUE INDEX IF NOT EXISTS cards_live_holder ON {s}.cards (holder)"
    " WHERE state IN ('in_effect', 'suspended')",
    "CREATE INDEX IF NOT EXISTS cards_move_ins ON {s}.cards (moved_in_on, card_id)"
    " WHERE state IN ('in_effect', 'suspended') AND moved_in_on IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS cards_expiries ON {s}.cards (expires_on, card_id)"
    " WHERE state IN ('in_effect', 'suspended')",
    # Every event of every card, never rewritten.
    """CREATE TABLE IF NOT EXISTS {s}.card_events (
        card_id TEXT COLLATE "C" NOT NULL REFERENCES {s}.cards (card_id),
        version BIGINT NOT NULL,
        event TEXT NOT NULL,
        on_day DATE NOT NULL,
        municipality TEXT NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (card_id, version))""",
)
TABLES = ("cards", "card_events")
_COLUMNS = (
    "card_id",
    "holder",
    "kind",
    "photo",
    "issuer",
    "issued_on",
    "expires_on",
    "public_key",
    "state",
    "reason",
    "municipality",
    "moved_in_on",
    "version",
)


def _card(values: Sequence[Any]) -> CardRow:
    (card_id, holder, kind, photo, issuer, issued_on, expires_on, public_key) = values[:8]
    state, reason, municipality, moved_in_on, version = values[8:]
    return CardRow(
        card_id=card_id,
        holder=holder,
        kind=kind,
        photo=photo,
        issuer=issuer,
        issued_on=issued_on,
        expires_on=expires_on,
        public_key=bytes(public_key),
        state=state,
        reason=reason,
        municipality=municipality,
        moved_in_on=moved_in_on,
        version=version,
    )


def _card_values(c: CardRow) -> list[Any]:
    return [
        c.card_id,
        c.holder,
        c.kind,
        c.photo,
        c.issuer,
        c.issued_on,
        c.expires_on,
        c.public_key,
        c.state,
        c.reason,
        c.municipality,
        c.moved_in_on,
        c.version,
    ]


def _changes(c: CardRow) -> list[Any]:
    """The values of the update's ``SET``: the columns a card may change."""
    return [c.expires_on, c.state, c.reason, c.municipality, c.moved_in_on, c.version]


def _event(values: Sequence[Any]) -> CardEventRow:
    card_id, version, event, on, municipality, reason = values
    return CardEventRow(
        card_id=card_id,
        version=version,
        event=event,
        on=on,
        municipality=municipality,
        reason=reason,
    )


def _event_values(e: CardEventRow) -> list[Any]:
    return [e.card_id, e.version, e.event, e.on, e.municipality, e.reason]


class _CardsSQL(_Statements):
    """The statements of :class:`PostgresCardRegistry`."""

    prefix = "cards"

    @staticmethod
    def _fragments() -> dict[str, sql.Composable]:
        return {"columns": _columns(_COLUMNS)}

    exists = _Statement("SELECT 1 FROM {s}.cards WHERE card_id = %s")
    live_holder = _Statement(
        "SELECT 1 FROM {s}.cards WHERE holder = %s AND state IN ('in_effect', 'suspended')"
    )
    insert = _Statement(
        "INSERT INTO {s}.cards ({columns})"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    )
    insert_event = _Statement(
        "INSERT INTO {s}.card_events (card_id, version, event, on_day, municipality, reason)"
        " VALUES (%s, %s, %s, %s, %s, %s)"
    )
    lock = _Statement("SELECT {columns} FROM {s}.cards WHERE card_id = %s FOR UPDATE")
    other_live = _Statement(
        "SELECT 1 FROM {s}.cards WHERE holder = %s AND card_id <> %s"
        " AND state IN ('in_effect', 'suspended')"
    )
    update = _Statement(
        "UPDATE {s}.cards SET expires_on = %s, state = %s, reason = %s,"
        " municipality = %s, moved_in_on = %s, version = %s"
        " WHERE card_id = %s AND version = %s"
    )
    get = _Statement("SELECT {columns} FROM {s}.cards WHERE card_id = %s")
    get_many = _Statement("SELECT {columns} FROM {s}.cards WHERE card_id = ANY(%s::text[])")
    live_for = _Statement(
        "SELECT {columns} FROM {s}.cards WHERE holder = %s AND state IN ('in_effect', 'suspended')"
    )
    history = _Statement(
        "SELECT card_id, version, event, on_day, municipality, reason FROM {s}.card_events"
        " WHERE card_id = %s ORDER BY version"
    )
    awaiting = _Statement(
        "SELECT {columns} FROM {s}.cards"
        " WHERE state IN ('in_effect', 'suspended') AND moved_in_on IS NOT NULL"
        " AND moved_in_on < %s ORDER BY moved_in_on, card_id LIMIT %s"
    )
    expiring = _Statement(
        "SELECT {columns} FROM {s}.cards"
        " WHERE state IN ('in_effect', 'suspended') AND expires_on < %s"
        " ORDER BY expires_on, card_id LIMIT %s"
    )


class PostgresCardRegistry(_Port[_CardsSQL], CardRegistry):
    """The resident IC cards a municipality issued (旧住基法30条の44, 番号法17条), in
    ``cards`` (current states) and ``card_events`` (every event)."""

    __slots__ = ()

    def __init__(self, store: _Database) -> None:
        super().__init__(store, _CardsSQL(store.schema))

    def issue(self, uow: UnitOfWork, card: CardRow, event: CardEventRow) -> None:
        """Store a new card with its ``issued`` event (see :class:`CardRegistry`)."""
        self._store._connection_of(uow)
        row, first = CardRegistry.check_issue(card, event)
        with self._store._write(uow) as cur:
            cur.execute(self._sql.exists, [row.card_id])
            if cur.fetchone() is not None:
                raise CardRegistry.duplicate_card(row)
            cur.execute(self._sql.live_holder, [row.holder])
            if cur.fetchone() is not None:
                raise CardRegistry.second_live_card(row)
            cur.execute(self._sql.insert, _card_values(row))
            cur.execute(self._sql.insert_event, _event_values(first))

    def update(self, uow: UnitOfWork, card: CardRow, event: CardEventRow) -> None:
        """Store a card's new state with its event (see :class:`CardRegistry`)."""
        self._store._connection_of(uow)
        row, later = CardRegistry.check_update(card, event)
        with self._store._write(uow) as cur:
            cur.execute(self._sql.lock, [row.card_id])
            stored = _decode(cur.fetchall(), _card, "cards")
            CardRegistry.check_change(stored[0] if stored else None, row)
            cur.execute(self._sql.update, [*_changes(row), row.card_id, row.version - 1])
            cur.execute(self._sql.insert_event, _event_values(later))

    def adopt(self, uow: UnitOfWork, card: CardRow, event: CardEventRow) -> None:
        """Keep a card learnt of at a later version (see :class:`CardRegistry`), its
        stored copy locked as :meth:`update` locks it."""
        self._store._connection_of(uow)
        row, seen = CardRegistry.check_adopt(card, event)
        with self._store._write(uow) as cur:
            cur.execute(self._sql.lock, [row.card_id])
            found = _decode(cur.fetchall(), _card, "cards")
            stored = found[0] if found else None
            CardRegistry.check_adoption(stored, row)
            cur.execute(self._sql.other_live, [row.holder, row.card_id])
            if cur.fetchone() is not None:
                raise CardRegistry.second_live_card(row)
            if stored is None:
                cur.execute(self._sql.insert, _card_values(row))
            else:
                cur.execute(self._sql.update, [*_changes(row), row.card_id, stored.version])
            cur.execute(self._sql.insert_event, _event_values(seen))

    def get(self, card_id: str, uow: UnitOfWork | None = None) -> CardRow | None:
        """The card's current state, or None."""
        check_field(CardRow, "card_id", card_id)
        with self._store._read(uow) as cur:
            cur.execute(self._sql.get, [card_id])
            found = _decode(cur.fetchall(), _card, "cards")
        return found[0] if found else None

    def get_many(
        self, card_ids: Sequence[str], uow: UnitOfWork | None = None
    ) -> dict[str, CardRow]:
        """Card id → current state, for the ids found (one ``= ANY`` query)."""
        ids = _records(card_ids, str, "card_ids")
        for card_id in ids:
            check_field(CardRow, "card_id", card_id)
        if not ids:
            return {}
        with self._store._read(uow) as cur:
            cur.execute(self._sql.get_many, [list(dict.fromkeys(ids))])
            found = {c.card_id: c for c in _decode(cur.fetchall(), _card, "cards")}
        return {card_id: found[card_id] for card_id in ids if card_id in found}

    def live_for(self, holder: str, uow: UnitOfWork | None = None) -> CardRow | None:
        """The holder's card in effect or suspended, or None."""
        check_resident_code(holder, "holder")
        with self._store._read(uow) as cur:
            cur.execute(self._sql.live_for, [holder])
            found = _decode(cur.fetchall(), _card, "cards")
        return found[0] if found else None

    def history(self, card_id: str, uow: UnitOfWork | None = None) -> list[CardEventRow]:
        """Every event of the card in version order (empty if unknown)."""
        check_field(CardRow, "card_id", card_id)
        with self._store._read(uow) as cur:
            cur.execute(self._sql.history, [card_id])
            return _decode(cur.fetchall(), _event, "card_events")

    def awaiting_continued_use(
        self, *, moved_in_before: date, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[CardRow]:
        """Live cards with a move-in before ``moved_in_before``, oldest move-in first."""
        check_date(moved_in_before, "moved_in_before")
        check_int(limit, "limit")
        with self._store._read(uow) as cur:
            cur.execute(self._sql.awaiting, [moved_in_before, limit])
            return _decode(cur.fetchall(), _card, "cards")

    def expiring(
        self, *, before: date, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[CardRow]:
        """Live cards whose last day in effect is before ``before``, earliest first."""
        check_date(before, "before")
        check_int(limit, "limit")
        with self._store._read(uow) as cur:
            cur.execute(self._sql.expiring, [before, limit])
            return _decode(cur.fetchall(), _card, "cards")
