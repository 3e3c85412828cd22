"""Work due on a date (:class:`ScheduledItem`)."""

from __future__ import annotations

from datetime import date

import attrs

from jukinet.storage.records._validate import (
    _bytes,
    _date,
    _str,
)


@attrs.frozen(kw_only=True)
class ScheduledItem:
    """Work due on a date (e.g. 30 days after a planned move-out, JPKI法31条).

    ``key`` is unique in the schedule; ``payload`` canonical bytes the scheduler's
    owner reads back.
    """

    key: str = attrs.field(validator=_str("key", max_length=128))
    due: date = attrs.field(validator=_date("due"))
    payload: bytes = attrs.field(default=b"{}", validator=_bytes("payload"), repr=False)
