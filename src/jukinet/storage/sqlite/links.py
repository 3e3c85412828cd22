"""The links between nodes: :class:`SQLiteOutbox` (what a node sends) and
:class:`SQLiteTracking` (what it applied), their tables and statements.
"""

from __future__ import annotations

from collections.abc import Sequence

from jukinet.errors import IntegrityError
from jukinet.storage.base import Outbox, Tracking, UnitOfWork
from jukinet.storage.records import OutboxEntry, check_int, check_node_id
from jukinet.storage.records import decode_rows as _decode
from jukinet.storage.sqlite._database import _as_items, _Port

TABLES: tuple[str, ...] = ("outbox_heads", "outbox", "tracking")
"""The tables this module's :data:`DDL` creates."""

DDL: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS outbox_heads (
        destination TEXT NOT NULL PRIMARY KEY,
        last_seq INTEGER NOT NULL CHECK (last_seq >= 0),
        acked INTEGER NOT NULL DEFAULT 0 CHECK (acked >= 0 AND acked <= last_seq)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS outbox (
        destination TEXT NOT NULL REFERENCES outbox_heads (destination),
        seq INTEGER NOT NULL CHECK (seq >= 1),
        payload BLOB NOT NULL,
        PRIMARY KEY (destination, seq)
    )""",
    """CREATE TABLE IF NOT EXISTS tracking (
        sender TEXT NOT NULL PRIMARY KEY,
        position INTEGER NOT NULL CHECK (position >= 0)
    ) WITHOUT ROWID""",
)
"""Tables and indexes, in creation order (``IF NOT EXISTS``)."""


class SQLiteOutbox(_Port, Outbox):
    """The outbox in ``outbox`` with one ``outbox_heads`` row per destination.

    The head row holds the last sequence number given (``last_seq``) and the
    highest one the destination acknowledged (``acked``). ``BEGIN IMMEDIATE``
    serializes writers, so numbers are handed out in commit order without gaps.
    """

    __slots__ = ()

    def append(self, uow: UnitOfWork, destination: str, payloads: Sequence[bytes]) -> range:
        """Append payloads for ``destination``; returns the sequence numbers given."""
        check_node_id(destination, "destination")
        items = _as_items(payloads, "payloads", "a sequence of bytes")
        for payload in items:
            OutboxEntry(destination=destination, seq=1, payload=payload)  # validates the payload
        with self._store._write(uow) as conn:
            head = conn.execute(
                "SELECT last_seq FROM outbox_heads WHERE destination = ?", (destination,)
            ).fetchone()
            last = 0 if head is None else int(head[0])
            if not items:
                return range(last + 1, last + 1)
            if head is None:
                conn.execute(
                    "INSERT INTO outbox_heads (destination, last_seq) VALUES (?, ?)",
                    (destination, last + len(items)),
                )
            else:
                conn.execute(
                    "UPDATE outbox_heads SET last_seq = ? WHERE destination = ?",
                    (last + len(items), destination),
                )
            conn.executemany(
                "INSERT INTO outbox (destination, seq, payload) VALUES (?, ?, ?)",
                [(destination, last + i, p) for i, p in enumerate(items, start=1)],
            )
        return range(last + 1, last + len(items) + 1)

    def read(
        self, destination: str, *, after: int = 0, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[OutboxEntry]:
        """Entries for ``destination`` with ``seq > after``, in order, at most ``limit``."""
        check_node_id(destination, "destination")
        check_int(after, "after")
        check_int(limit, "limit")
        with self._store._read(uow) as conn:
            rows = conn.execute(
                "SELECT seq, payload FROM outbox WHERE destination = ? AND seq > ?"
                " ORDER BY seq LIMIT ?",
                (destination, after, limit),
            ).fetchall()
        return _decode(
            rows,
            lambda r: OutboxEntry(destination=destination, seq=r[0], payload=r[1]),
            "outbox",
            (destination,),
        )

    def last_seq(self, destination: str, uow: UnitOfWork | None = None) -> int:
        """The highest sequence number given for ``destination`` (0 if none)."""
        check_node_id(destination, "destination")
        with self._store._read(uow) as conn:
            row = conn.execute(
                "SELECT last_seq FROM outbox_heads WHERE destination = ?", (destination,)
            ).fetchone()
        return 0 if row is None else int(row[0])

    def destinations(self, uow: UnitOfWork | None = None) -> list[str]:
        """Every destination that has entries or a head set by :meth:`resume`, sorted."""
        with self._store._read(uow) as conn:
            rows = conn.execute(
                "SELECT destination FROM outbox_heads ORDER BY destination"
            ).fetchall()
        return [str(r[0]) for r in rows]

    def acknowledge(self, uow: UnitOfWork, destination: str, seq: int) -> None:
        """Record that ``destination`` confirmed every entry up to ``seq`` (monotonic).

        A ``seq`` at or below the acknowledged position is a no-op; one above
        :meth:`last_seq` is an IntegrityError.
        """
        check_node_id(destination, "destination")
        check_int(seq, "seq")
        with self._store._write(uow) as conn:
            head = conn.execute(
                "SELECT last_seq, acked FROM outbox_heads WHERE destination = ?", (destination,)
            ).fetchone()
            last, acked = (0, 0) if head is None else (int(head[0]), int(head[1]))
            if seq > last:
                raise IntegrityError(
                    f"acknowledgement of {seq} for {destination!r}, which was given only up to"
                    f" {last}",
                    field="seq",
                    expected=f"at most {last}",
                )
            if seq > acked:
                conn.execute(
                    "UPDATE outbox_heads SET acked = ? WHERE destination = ?", (seq, destination)
                )

    def acknowledged(self, destination: str, uow: UnitOfWork | None = None) -> int:
        """The highest sequence number ``destination`` confirmed (0 if none)."""
        check_node_id(destination, "destination")
        with self._store._read(uow) as conn:
            row = conn.execute(
                "SELECT acked FROM outbox_heads WHERE destination = ?", (destination,)
            ).fetchone()
        return 0 if row is None else int(row[0])

    def resume(self, uow: UnitOfWork, destination: str, last_seq: int) -> None:
        """Start a fresh destination's numbering after ``last_seq`` (already applied there).

        Only for a destination with no entries and no head: anything else is an
        IntegrityError.
        """
        check_node_id(destination, "destination")
        check_int(last_seq, "last_seq")
        with self._store._write(uow) as conn:
            head = conn.execute(
                "SELECT last_seq FROM outbox_heads WHERE destination = ?", (destination,)
            ).fetchone()
            if head is not None:
                raise IntegrityError(
                    f"the outbox of {destination!r} already exists (last sequence number"
                    f" {int(head[0])}); only a fresh destination can be resumed",
                    field="destination",
                    expected="a destination with no entries and no head",
                )
            conn.execute(
                "INSERT INTO outbox_heads (destination, last_seq, acked) VALUES (?, ?, ?)",
                (destination, last_seq, last_seq),
            )


class SQLiteTracking(_Port, Tracking):
    """What the node applied from each sender, one ``tracking`` row per sender."""

    __slots__ = ()

    def position(self, sender: str, uow: UnitOfWork | None = None) -> int:
        """The last sequence number applied from ``sender`` (0 if none)."""
        check_node_id(sender, "sender")
        with self._store._read(uow) as conn:
            row = conn.execute(
                "SELECT position FROM tracking WHERE sender = ?", (sender,)
            ).fetchone()
        return 0 if row is None else int(row[0])

    def advance(self, uow: UnitOfWork, sender: str, seq: int, *, last: int | None = None) -> None:
        """Record ``seq`` through ``last`` (default ``seq``) from ``sender`` as applied.

        ``seq`` must be exactly position + 1; the position becomes ``last``. The
        write is one conditional statement; only a refusal reads the position
        (for the message).
        """
        check_node_id(sender, "sender")
        check_int(seq, "seq", minimum=1)
        end = seq if last is None else check_int(last, "last", minimum=seq)
        with self._store._write(uow) as conn:
            if seq == 1:
                cursor = conn.execute(
                    "INSERT INTO tracking (sender, position) VALUES (?, ?)"
                    " ON CONFLICT (sender) DO UPDATE SET position = excluded.position"
                    " WHERE tracking.position = 0",
                    (sender, end),
                )
            else:
                cursor = conn.execute(
                    "UPDATE tracking SET position = ? WHERE sender = ? AND position = ?",
                    (end, sender, seq - 1),
                )
            if cursor.rowcount != 1:
                row = conn.execute(
                    "SELECT position FROM tracking WHERE sender = ?", (sender,)
                ).fetchone()
                position = 0 if row is None else int(row[0])
                problem = "was already applied" if seq <= position else "skips ahead"
                raise IntegrityError(
                    f"sequence number {seq} from {sender!r} {problem}",
                    field="seq",
                    expected=str(position + 1),
                )

    def senders(self, uow: UnitOfWork | None = None) -> dict[str, int]:
        """Every sender with its position."""
        with self._store._read(uow) as conn:
            rows = conn.execute("SELECT sender, position FROM tracking ORDER BY sender").fetchall()
        return {str(s): int(p) for s, p in rows}
