"""The port of the counter services across municipalities
(:class:`~jukinet.storage.base.CounterStore`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import date

import attrs

from jukinet.errors import (
    IntegrityError,
    InterfaceError,
    InvalidComponent,
    InvalidFormat,
)
from jukinet.storage.base.units import UnitOfWork
from jukinet.storage.records import (
    CounterRequestRow,
    MoveOutInfoRow,
    check_date,
    check_field,
    unchecked_replace,
)


class CounterStore(ABC):
    """What a municipality keeps for the counter services that cross municipalities
    (住基法24条の2, 令24条の2〜24条の4; 12条の4).

    * The 転出証明書情報 (:class:`~jukinet.storage.records.MoveOutInfoRow`) that a
      move-out municipality sent to this one, the planned destination of a card
      holder (24条の2第3項; 令24条の3), by certificate number. A move-in is
      registered from an info once only (:meth:`use_info`), and an info is erased
      on its ``erase_on`` day whether used or not (24条の2第4項; 令24条の4:
      the planned move-out day + 30 days; :meth:`erase_infos`). The move-out
      municipality may send an info again (24条の2第5項・第6項): kept under the
      same certificate number, for the same person from the same municipality, it
      replaces the one kept and keeps its ``used``.
    * The requests this municipality sent to another one
      (:class:`~jukinet.storage.records.CounterRequestRow`): a wide-area copy of
      住民票 (12条の4第2項・第3項) or an info sent again, each answered once.
    """

    @abstractmethod
    def keep_info(self, uow: UnitOfWork, row: MoveOutInfoRow) -> None:
        """Keep an info that arrived. ``row.used`` must be False (else
        :class:`~jukinet.errors.InvalidComponent`: only :meth:`use_info` marks it).

        A certificate number already kept for another resident code or another
        ``moved_from`` is an :class:`~jukinet.errors.IntegrityError`, nothing
        written. For the same person from the same municipality it is a resend
        (24条の2第5項・第6項): the new row replaces the kept one (payload, days)
        but the kept ``used`` stays, so a resend never makes an info usable twice.
        """

    @abstractmethod
    def info(self, certificate: str, uow: UnitOfWork | None = None) -> MoveOutInfoRow | None:
        """The info kept under this certificate number, or None."""

    @abstractmethod
    def infos_for(self, resident_code: str, uow: UnitOfWork | None = None) -> list[MoveOutInfoRow]:
        """Every info kept about the person, by planned move-out day (then by
        certificate number)."""

    @abstractmethod
    def use_info(self, uow: UnitOfWork, certificate: str) -> None:
        """Mark the info as used: a move-in was registered from it. An
        :class:`~jukinet.errors.IntegrityError` when no info is kept under the
        number or it was used already (once only), even when two units of work
        race: exactly one of them uses it."""

    @abstractmethod
    def erase_infos(self, uow: UnitOfWork, *, on: date) -> int:
        """Erase every info whose ``erase_on`` is ``on`` or earlier, used or not
        (24条の2第4項; 令24条の4); returns how many. An info is still kept on
        ``erase_on`` − 1 day."""

    @abstractmethod
    def open_request(self, uow: UnitOfWork, row: CounterRequestRow) -> None:
        """Keep a request this municipality sends. ``row.answer`` must be None (else
        :class:`~jukinet.errors.InvalidComponent`); a ``request_id`` already kept is
        an :class:`~jukinet.errors.IntegrityError`, nothing written."""

    @abstractmethod
    def answer_request(self, uow: UnitOfWork, request_id: str, answer: bytes, on: date) -> None:
        """Keep the answer to a request, received on ``on``. An
        :class:`~jukinet.errors.IntegrityError` when the request is not kept or was
        answered already (an answer is kept once); ``on`` before the request's
        ``asked_on`` is an :class:`~jukinet.errors.InvalidComponent`."""

    @abstractmethod
    def request(self, request_id: str, uow: UnitOfWork | None = None) -> CounterRequestRow | None:
        """The request kept under this id (with its answer, if any), or None."""

    @abstractmethod
    def unanswered(
        self, *, kind: str | None = None, limit: int = 1000, uow: UnitOfWork | None = None
    ) -> list[CounterRequestRow]:
        """Requests not answered yet, of ``kind`` (any when None): oldest first (by
        ``asked_on``, then request id), at most ``limit``."""

    # -- the checks every adapter makes, in one place --

    @staticmethod
    def check_info(row: object) -> MoveOutInfoRow:
        """Check the argument of :meth:`keep_info` on its own and return it.

        >>> from datetime import date
        >>> row = MoveOutInfoRow(certificate="0" * 32, resident_code="00000000019",
        ...     moved_from="131016", planned_date=date(2026, 4, 1),
        ...     erase_on=date(2026, 5, 1), received_on=date(2026, 3, 30),
        ...     payload=b"info", used=True)
        >>> CounterStore.check_info(row)
        Traceback (most recent call last):
            ...
        jukinet.errors.InvalidComponent: used: an info arrives unused (expected ...)
        """
        if not isinstance(row, MoveOutInfoRow):
            raise InterfaceError(
                f"got {type(row).__name__}", field="row", expected="a MoveOutInfoRow"
            )
        if row.used:
            raise InvalidComponent(
                "an info arrives unused",
                field="used",
                expected="used=False (use_info() marks a move-in registered from it)",
            )
        return row

    @staticmethod
    def kept_info(stored: MoveOutInfoRow | None, row: MoveOutInfoRow) -> MoveOutInfoRow:
        """The row :meth:`keep_info` stores for ``row`` given the one kept under its
        number (None if none): ``row`` itself, or for a resend ``row`` with the kept
        ``used``; the :class:`~jukinet.errors.IntegrityError` of :meth:`keep_info`
        when the kept one is about another person or from another municipality."""
        if stored is None:
            return row
        for name in ("resident_code", "moved_from"):
            if getattr(stored, name) != getattr(row, name):
                raise IntegrityError(
                    f"certificate {row.certificate} is kept with another {name}",
                    field=name,
                    expected=f"the {name} of the info kept under that number (a resend"
                    " is for the same person from the same municipality)",
                )
        return unchecked_replace(row, used=stored.used)

    @staticmethod
    def check_use(stored: MoveOutInfoRow | None, certificate: str) -> MoveOutInfoRow:
        """The used row :meth:`use_info` stores, or its
        :class:`~jukinet.errors.IntegrityError` (no info kept, or used already)."""
        if stored is None:
            raise IntegrityError(
                f"no info is kept under certificate {certificate}",
                field="certificate",
                expected="the number of an info kept (and not erased)",
            )
        if stored.used:
            raise IntegrityError(
                f"the info of certificate {certificate} was used already",
                field="used",
                expected="an info not used yet (a move-in is registered from it once)",
            )
        return unchecked_replace(stored, used=True)

    @staticmethod
    def check_request(row: object) -> CounterRequestRow:
        """Check the argument of :meth:`open_request` on its own and return it."""
        if not isinstance(row, CounterRequestRow):
            raise InterfaceError(
                f"got {type(row).__name__}", field="row", expected="a CounterRequestRow"
            )
        if row.answered:
            raise InvalidComponent(
                "a request is opened with its answer",
                field="answer",
                expected="answer=None (answer_request() keeps the answer)",
            )
        return row

    @staticmethod
    def duplicate_request(row: CounterRequestRow) -> IntegrityError:
        """The error of :meth:`open_request` for a request id already kept."""
        return IntegrityError(
            f"request {row.request_id} is already kept",
            field="request_id",
            expected="a request id never used before",
        )

    @staticmethod
    def check_answer(request_id: object, answer: object, on: object) -> None:
        """Check the arguments of :meth:`answer_request` on their own."""
        check_field(CounterRequestRow, "request_id", request_id)
        if answer is None:
            raise InvalidFormat("got NoneType", field="answer", expected="a bytes")
        check_field(CounterRequestRow, "answer", answer)
        check_date(on, "on")

    @staticmethod
    def answered(
        stored: CounterRequestRow | None, request_id: str, answer: bytes, on: date
    ) -> CounterRequestRow:
        """The answered row :meth:`answer_request` stores, or its error."""
        if stored is None:
            raise IntegrityError(
                f"no request {request_id} is kept",
                field="request_id",
                expected="the id of a request opened before",
            )
        if stored.answered:
            raise IntegrityError(
                f"request {request_id} was answered already (on {stored.answered_on})",
                field="answer",
                expected="a request not answered yet (an answer is kept once)",
            )
        return attrs.evolve(stored, answer=answer, answered_on=on)

    @staticmethod
    def check_kind(kind: object) -> str | None:
        """Check the ``kind`` of :meth:`unanswered` (None or one of
        :data:`~jukinet.storage.records.COUNTER_REQUEST_KINDS`) and return it."""
        if kind is not None:
            check_field(CounterRequestRow, "kind", kind)
        assert kind is None or isinstance(kind, str)
        return kind
