"""The agencies registered with a provider (:class:`AgencyRow`)."""

from __future__ import annotations

from datetime import datetime

import attrs

from jukinet.errors import InvalidLength
from jukinet.storage.records._validate import (
    _AGENCY_NAME,
    _USE_KEY,
    _aware,
    _optional_lg_code,
    _public_key,
    _str,
    _str_tuple,
)


@attrs.frozen(kw_only=True)
class AgencyRow:
    """An agency registered with a provider (the centre or a prefecture).

    ``agency`` is its name (the node ``a:<name>``); ``public_key`` the raw Ed25519
    key its requests are signed with; ``recipients`` the left-column names of the
    appended tables (別表) it may act as (e.g. ``厚生労働省及び日本年金機構``);
    ``number_uses`` the permitted-use keys (``"1-57の3"``) for which it may also
    receive the individual number (番号法9条1項); ``locality`` the 6-digit code of
    the local body it is (tables 2–6), ``None`` for a national one.
    """

    agency: str = attrs.field(validator=_str("agency", max_length=48, pattern=_AGENCY_NAME))
    public_key: bytes = attrs.field(validator=_public_key, repr=False)
    registered_at: datetime = attrs.field(validator=_aware)
    recipients: tuple[str, ...] = attrs.field(validator=_str_tuple("recipients"))
    number_uses: tuple[str, ...] = attrs.field(
        default=(), validator=_str_tuple("number_uses", pattern=_USE_KEY)
    )
    locality: str | None = attrs.field(default=None, validator=_optional_lg_code)

    def __attrs_post_init__(self) -> None:
        if not self.recipients:
            raise InvalidLength(
                "no recipient", field="recipients", expected="at least one 別表 recipient"
            )
