"""The entries of a node's audit log (:class:`AuditEntry`, :class:`AuditRecord`)."""

from __future__ import annotations

from datetime import datetime

import attrs

from jukinet.storage.records._validate import (
    _aware,
    _bytes,
    _expect,
    _int,
    _optional_str,
    _str,
)


@attrs.frozen(kw_only=True)
class AuditEntry:
    """One entry of a node's audit log: what was done, to whom, when.

    ``at`` is an aware datetime from the node's clock; ``action`` names the
    operation (``register.birth``, ``receive.refused`` …); ``subject`` the person
    or peer concerned (an internal number, a resident code, a node); ``detail``
    canonical JSON bytes with the particulars. Entries never hold secrets.
    """

    at: datetime = attrs.field(validator=_aware)
    action: str = attrs.field(validator=_str("action", max_length=64))
    subject: str | None = attrs.field(
        default=None, validator=_optional_str("subject", max_length=64)
    )
    detail: bytes = attrs.field(default=b"{}", validator=_bytes("detail"), repr=False)


@attrs.frozen(kw_only=True)
class AuditRecord:
    """An audit entry as stored, with its gap-free sequence number."""

    seq: int = attrs.field(validator=_int("seq", minimum=1))
    entry: AuditEntry = attrs.field(validator=lambda _i, _a, v: _expect(v, AuditEntry, "entry"))
