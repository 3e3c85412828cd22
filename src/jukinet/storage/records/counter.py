"""What the counter services across municipalities keep (住基法24条の2,
令24条の2〜24条の4; 12条の4): :class:`MoveOutInfoRow`, :class:`CounterRequestRow`."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import attrs

from jukinet.errors import InvalidComponent
from jukinet.storage.records._validate import (
    _bytes,
    _date,
    _flag,
    _lg_code_field,
    _one_of,
    _optional_bytes,
    _resident_code,
    _str,
)

_HEX32 = re.compile(r"[0-9a-f]{32}")

# Documented in jukinet.storage.records (the package), where it is imported from.
MOVE_OUT_INFO_DAYS = 30

# Documented in jukinet.storage.records (the package), where it is imported from.
COUNTER_REQUEST_KINDS = frozenset({"copy", "resend"})


def _hex32(field: str) -> Any:
    return _str(field, max_length=32, pattern=_HEX32)


@attrs.frozen(kw_only=True)
class MoveOutInfoRow:
    """転出証明書情報 as the planned destination keeps it (住基法24条の2第3項; 令24条の3):
    the move-out municipality sent it so that a card holder can move in without a
    paper certificate.

    ``certificate`` is the move-out certificate number, 32 lowercase hex digits;
    ``resident_code`` the person's code; ``moved_from`` the 6-digit code of the
    municipality they are leaving; ``planned_date`` the planned move-out day;
    ``erase_on`` the first day the info is gone (normally ``planned_date`` +
    :data:`MOVE_OUT_INFO_DAYS`, 24条の2第4項, 令24条の4; later than
    ``planned_date``): it is kept through ``erase_on`` − 1 day; ``received_on``
    the day it arrived; ``payload`` the encoded info, opaque to storage (at most
    :data:`MAX_PAYLOAD_BYTES`); ``used`` whether a move-in was registered from it
    (once only, :meth:`~jukinet.storage.base.CounterStore.use_info`).

    >>> from datetime import date, timedelta
    >>> planned = date(2026, 4, 1)
    >>> row = MoveOutInfoRow(certificate="0" * 32, resident_code="00000000019",
    ...     moved_from="131016", planned_date=planned,
    ...     erase_on=planned + timedelta(days=MOVE_OUT_INFO_DAYS),
    ...     received_on=planned, payload=b"info", used=False)
    >>> row.erase_on
    datetime.date(2026, 5, 1)
    >>> attrs.evolve(row, erase_on=planned)
    Traceback (most recent call last):
        ...
    jukinet.errors.InvalidComponent: erase_on: the info would be erased on 2026-04-01, ...
    """

    certificate: str = attrs.field(validator=_hex32("certificate"))
    resident_code: str = attrs.field(validator=_resident_code("resident_code"))
    moved_from: str = attrs.field(validator=_lg_code_field("moved_from"))
    planned_date: date = attrs.field(validator=_date("planned_date"))
    erase_on: date = attrs.field(validator=_date("erase_on"))
    received_on: date = attrs.field(validator=_date("received_on"))
    payload: bytes = attrs.field(validator=_bytes("payload"), repr=False)
    used: bool = attrs.field(validator=_flag("used"))

    def __attrs_post_init__(self) -> None:
        if self.erase_on <= self.planned_date:
            raise InvalidComponent(
                f"the info would be erased on {self.erase_on}, not after the planned"
                f" move-out ({self.planned_date})",
                field="erase_on",
                expected="a day after planned_date (normally planned_date + 30 days,"
                " 住基法24条の2第4項, 令24条の4)",
            )


@attrs.frozen(kw_only=True)
class CounterRequestRow:
    """A request this municipality sent to another one, and its answer once received.

    ``request_id`` is 32 lowercase hex digits; ``kind`` one of
    :data:`COUNTER_REQUEST_KINDS`; ``peer`` the 6-digit code of the municipality
    asked; ``subject`` the resident code the request is about; ``asked_on`` the day
    it was sent; ``request`` the request as sent and ``answer`` the answer as
    received, both opaque to storage (at most :data:`MAX_PAYLOAD_BYTES`);
    ``answer`` and ``answered_on`` are None until the answer arrives, and are set
    together (``answered_on`` not before ``asked_on``).

    >>> from datetime import date
    >>> row = CounterRequestRow(request_id="0" * 32, kind="copy", peer="271276",
    ...     subject="00000000019", asked_on=date(2026, 4, 1), request=b"ask",
    ...     answer=None, answered_on=None)
    >>> row.kind, row.answer
    ('copy', None)
    >>> attrs.evolve(row, answer=b"items")
    Traceback (most recent call last):
        ...
    jukinet.errors.InvalidComponent: answered_on: an answer without its day ...
    """

    request_id: str = attrs.field(validator=_hex32("request_id"))
    kind: str = attrs.field(validator=_one_of("kind", COUNTER_REQUEST_KINDS))
    peer: str = attrs.field(validator=_lg_code_field("peer"))
    subject: str = attrs.field(validator=_resident_code("subject"))
    asked_on: date = attrs.field(validator=_date("asked_on"))
    request: bytes = attrs.field(validator=_bytes("request"), repr=False)
    answer: bytes | None = attrs.field(validator=_optional_bytes("answer"), repr=False)
    answered_on: date | None = attrs.field(validator=_date("answered_on", optional=True))

    def __attrs_post_init__(self) -> None:
        if (self.answer is None) != (self.answered_on is None):
            problem = (
                "a day without an answer" if self.answer is None else "an answer without its day"
            )
            raise InvalidComponent(
                problem,
                field="answered_on",
                expected="answer and answered_on both None (not answered) or both set",
            )
        if self.answered_on is not None and self.answered_on < self.asked_on:
            raise InvalidComponent(
                f"answered on {self.answered_on}, before it was asked ({self.asked_on})",
                field="answered_on",
                expected="a day on or after asked_on",
            )

    @property
    def answered(self) -> bool:
        """Whether the answer has arrived."""
        return self.answer is not None
