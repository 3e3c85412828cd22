"""The links between nodes: the outbox (:class:`PostgresOutbox`, tables ``outbox`` and
``outbox_heads``) and what this node has applied (:class:`PostgresTracking`, table
``tracking``), with their statements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import LiteralString

from jukinet import errors
from jukinet.storage.base import Outbox, Tracking, UnitOfWork
from jukinet.storage.postgres._database import (
    _Database,
    _Port,
    _records,
    _Statement,
    _Statements,
)
from jukinet.storage.records import OutboxEntry, check_int, check_node_id
from jukinet.storage.records import decode_rows as _decode

DDL: tuple[LiteralString, ...] = (
    """CREATE TABLE IF NOT EXISTS {s}.outbox (
        destination TEXT COLLATE "C" NOT NULL,
        seq BIGINT NOT NULL,
        payload BYTEA NOT NULL,
        PRIMARY KEY (destination, seq))""",
    """CREATE TABLE IF NOT EXISTS {s}.outbox_heads (
        destination TEXT COLLATE "C" PRIMARY KEY,
        last_seq BIGINT NOT NULL,
        acked BIGINT NOT NULL DEFAULT 0,
        CHECK (acked BETWEEN 0 AND last_seq))""",
    """CREATE TABLE IF NOT EXISTS {s}.tracking (
        sender TEXT COLLATE "C" PRIMARY KEY,
        position BIGINT NOT NULL)""",
)
TABLES = ("outbox", "outbox_heads", "tracking")


def _payloads(destination: str, payloads: object) -> list[bytes]:
    items = _records(payloads, bytes, "payloads")
    for payload in items:
        OutboxEntry(destination=destination, seq=1, payload=payload)  # validates size
    return items


def _check_last(last: object, seq: int) -> None:
    check_int(last, "last")
    assert isinstance(last, int)
    if last < seq:
        raise errors.InvalidComponent(
            f"last {last} is below seq {seq}", field="last", expected=f"at least {seq}"
        )


class _OutboxSQL(_Statements):
    """The statements of :class:`PostgresOutbox`."""

    prefix = "outbox"

    take_head = _Statement(
        "INSERT INTO {s}.outbox_heads AS h (destination, last_seq) VALUES (%s, %s)"
        " ON CONFLICT (destination) DO UPDATE SET last_seq = h.last_seq + EXCLUDED.last_seq"
        " RETURNING h.last_seq"
    )
    insert = _Statement("INSERT INTO {s}.outbox (destination, seq, payload) VALUES (%s, %s, %s)")
    read = _Statement(
        "SELECT seq, payload FROM {s}.outbox WHERE destination = %s AND seq > %s"
        " ORDER BY seq LIMIT %s"
    )
    last_seq = _Statement("SELECT last_seq FROM {s}.outbox_heads WHERE destination = %s")
    head = _Statement("SELECT last_seq, acked FROM {s}.outbox_heads WHERE destination = %s")
    destinations = _Statement("SELECT destination FROM {s}.outbox_heads ORDER BY destination")
    acknowledge = _Statement(
        "UPDATE {s}.outbox_heads SET acked = %s"
        " WHERE destination = %s AND acked < %s AND last_seq >= %s"
    )
    resume = _Statement(
        "INSERT INTO {s}.outbox_heads (destination, last_seq, acked) VALUES (%s, %s, %s)"
        " ON CONFLICT (destination) DO NOTHING"
    )


class PostgresOutbox(_Port[_OutboxSQL], Outbox):
    """The outbox: gap-free, commit-ordered sequence numbers per destination.

    PostgreSQL hands out numbers when a row is inserted, not when its
    transaction commits, so a plain sequence (or ``max(seq) + 1``) lets a later
    number commit before an earlier one: a reader that has read up to 7 may
    see 7 commit while 6 is still in flight, move its position to 7 and never
    see 6. Instead each destination has a head row in ``outbox_heads`` and
    :meth:`append` takes its row lock before choosing numbers: one
    ``INSERT .. ON CONFLICT (destination) DO UPDATE SET last_seq = last_seq + n
    .. RETURNING last_seq`` statement. It takes the same row lock as inserting
    the head if missing (``ON CONFLICT DO NOTHING``), then ``SELECT .. FOR
    UPDATE`` and ``UPDATE``, in one round trip instead of three. A second writer to the same destination blocks on that
    lock until the first unit of work commits or rolls back, then reads the
    committed head (READ COMMITTED re-reads the newest row version) and
    continues from there. Hence:

    * numbers are gap-free: a rolled-back writer's increment is rolled back with
      it and the next writer reuses its numbers;
    * commit order equals number order: *n* + 1 is chosen only after the
      transaction holding *n* has committed, so any snapshot that shows *n* + 1
      shows *n* too, and a reader never sees a hole that is filled later.

    The lock is held until the unit of work ends, so keep units of work that
    append short: writers to one destination take turns (other destinations
    are not affected).
    """

    __slots__ = ()

    def __init__(self, store: _Database) -> None:
        super().__init__(store, _OutboxSQL(store.schema))

    def append(self, uow: UnitOfWork, destination: str, payloads: Sequence[bytes]) -> range:
        """Append payloads for ``destination``; returns the sequence numbers given."""
        self._store._connection_of(uow)
        check_node_id(destination, "destination")
        items = _payloads(destination, payloads)
        if not items:
            last = self.last_seq(destination, uow)
            return range(last + 1, last + 1)
        q = self._sql
        with self._store._write(uow) as cur:
            cur.execute(q.take_head, [destination, len(items)])
            found = cur.fetchone()
            assert found is not None
            last = int(found[0])
            first = last - len(items) + 1
            cur.executemany(
                q.insert,
                [(destination, first + i, payload) for i, payload in enumerate(items)],
            )
        return range(first, last + 1)

    def read(
        self, destination: str, *, after: int = 0, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[OutboxEntry]:
        """Committed entries for ``destination`` with ``seq > after``, in order."""
        check_node_id(destination, "destination")
        check_int(after, "after")
        check_int(limit, "limit")
        with self._store._read(uow) as cur:
            cur.execute(self._sql.read, [destination, after, limit])
            found = cur.fetchall()
        return _decode(
            found,
            lambda r: OutboxEntry(destination=destination, seq=r[0], payload=bytes(r[1])),
            "outbox",
            (destination,),
        )

    def last_seq(self, destination: str, uow: UnitOfWork | None = None) -> int:
        """The highest sequence number given for ``destination`` (0 if none)."""
        check_node_id(destination, "destination")
        with self._store._read(uow) as cur:
            cur.execute(self._sql.last_seq, [destination])
            found = cur.fetchone()
        return 0 if found is None else int(found[0])

    def destinations(self, uow: UnitOfWork | None = None) -> list[str]:
        """Every destination that has entries or a head set by :meth:`resume`, sorted."""
        with self._store._read(uow) as cur:
            cur.execute(self._sql.destinations)
            found = cur.fetchall()
        return [destination for (destination,) in found]

    def acknowledge(self, uow: UnitOfWork, destination: str, seq: int) -> None:
        """Record that ``destination`` confirmed every entry up to ``seq`` (monotonic).

        One conditional ``UPDATE .. SET acked = seq WHERE acked < seq AND
        last_seq >= seq`` on the head row; when it changes nothing the
        acknowledgement was late or repeated (a no-op) or names an entry never
        sent (an IntegrityError).
        """
        self._store._connection_of(uow)
        check_node_id(destination, "destination")
        check_int(seq, "seq")
        q = self._sql
        with self._store._write(uow) as cur:
            cur.execute(q.acknowledge, [seq, destination, seq, seq])
            if cur.rowcount == 1 or seq == 0:
                return
            cur.execute(q.head, [destination])
            found = cur.fetchone()
        last, acked = (0, 0) if found is None else (int(found[0]), int(found[1]))
        if seq <= acked:
            return
        raise errors.IntegrityError(
            f"{destination} acknowledges entry {seq}, but the last entry is {last}",
            field="seq",
            expected=f"at most {last}",
        )

    def acknowledged(self, destination: str, uow: UnitOfWork | None = None) -> int:
        """The highest sequence number ``destination`` confirmed (0 if none)."""
        check_node_id(destination, "destination")
        with self._store._read(uow) as cur:
            cur.execute(self._sql.head, [destination])
            found = cur.fetchone()
        return 0 if found is None else int(found[1])

    def resume(self, uow: UnitOfWork, destination: str, last_seq: int) -> None:
        """Start a destination's numbering after ``last_seq`` (a link continued after a
        disaster): only for a destination without a head, hence without entries.

        ``INSERT .. ON CONFLICT (destination) DO NOTHING`` of the head with both
        ``last_seq`` and ``acked`` set; when a head exists (committed or being
        written by a racing unit of work, which this one waits for) nothing is
        inserted and the call is an IntegrityError.
        """
        self._store._connection_of(uow)
        check_node_id(destination, "destination")
        check_int(last_seq, "last_seq")
        with self._store._write(uow) as cur:
            cur.execute(self._sql.resume, [destination, last_seq, last_seq])
            if cur.rowcount == 1:
                return
        raise errors.IntegrityError(
            f"the outbox of {destination} already has entries or was resumed",
            field="destination",
            expected="a destination with no entries and no head",
        )


class _TrackingSQL(_Statements):
    """The statements of :class:`PostgresTracking`."""

    prefix = "tracking"

    position = _Statement("SELECT position FROM {s}.tracking WHERE sender = %s")
    first = _Statement(
        "INSERT INTO {s}.tracking (sender, position) VALUES (%s, %s)"
        " ON CONFLICT (sender) DO NOTHING"
    )
    advance = _Statement(
        "UPDATE {s}.tracking SET position = %s WHERE sender = %s AND position = %s"
    )
    senders = _Statement("SELECT sender, position FROM {s}.tracking ORDER BY sender")


class PostgresTracking(_Port[_TrackingSQL], Tracking):
    """What this node has applied from each sender (``tracking`` table)."""

    __slots__ = ()

    def __init__(self, store: _Database) -> None:
        super().__init__(store, _TrackingSQL(store.schema))

    def position(self, sender: str, uow: UnitOfWork | None = None) -> int:
        """The last sequence number applied from ``sender`` (0 if none)."""
        check_node_id(sender, "sender")
        with self._store._read(uow) as cur:
            cur.execute(self._sql.position, [sender])
            found = cur.fetchone()
        return 0 if found is None else int(found[0])

    def advance(self, uow: UnitOfWork, sender: str, seq: int, *, last: int | None = None) -> None:
        """Record ``seq`` through ``last`` (default ``seq``) from ``sender`` as applied;
        ``seq`` must be position + 1 and the position becomes ``last``.

        One conditional write (``INSERT .. ON CONFLICT DO NOTHING`` for the first,
        ``UPDATE .. SET position = last WHERE position = seq - 1`` after): when it
        touches no row the number was already applied or skips one, an
        IntegrityError. Two racing units of work cannot both advance: the second
        waits for the first's row lock, then finds the position moved. A ``last``
        below ``seq`` is bad input (:class:`~jukinet.errors.InvalidComponent`).
        """
        self._store._connection_of(uow)
        check_node_id(sender, "sender")
        check_int(seq, "seq", minimum=1)
        if last is None:
            last = seq
        else:
            _check_last(last, seq)
        q = self._sql
        with self._store._write(uow) as cur:
            if seq == 1:
                cur.execute(q.first, [sender, last])
            else:
                cur.execute(q.advance, [last, sender, seq - 1])
            if cur.rowcount == 1:
                return
            cur.execute(q.position, [sender])
            found = cur.fetchone()
        position = 0 if found is None else int(found[0])
        what = "was already applied" if seq <= position else "skips messages"
        raise errors.IntegrityError(
            f"message {seq} from {sender} {what} (position {position})",
            field="seq",
            expected=f"seq {position + 1}",
        )

    def senders(self, uow: UnitOfWork | None = None) -> dict[str, int]:
        """Every sender with its position."""
        with self._store._read(uow) as cur:
            cur.execute(self._sql.senders)
            found = cur.fetchall()
        return {sender: int(position) for sender, position in found}
