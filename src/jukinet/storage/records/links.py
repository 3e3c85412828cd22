"""The entries of a node's outbox (:class:`OutboxEntry`)."""

from __future__ import annotations

import attrs

from jukinet.storage.records._validate import (
    _NODE,
    _int,
    _payload,
    _str,
)


@attrs.frozen(kw_only=True)
class OutboxEntry:
    """A message a node has to send: destination, gap-free sequence number, payload."""

    destination: str = attrs.field(validator=_str("destination", max_length=64, pattern=_NODE))
    seq: int = attrs.field(validator=_int("seq", minimum=1))
    payload: bytes = attrs.field(validator=_payload, repr=False)
