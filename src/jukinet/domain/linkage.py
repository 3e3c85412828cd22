"""Resident-code changes told to デジタル庁 (住基法30条の9の2第2項, 令30条の8の2第2項).

The My Number information-exchange network (情報提供ネットワークシステム) links a
person's records at different bodies through linkage codes (符号) that デジタル庁
(the Prime Minister, 内閣総理大臣) derives from the resident code; J-LIS gives it
the resident code for that purpose and for nothing else (住基法30条の9の2第1項).
When a person's resident code is replaced — on their own request (住民票コードの
変更請求, 30条の4) or by the mayor (住民票コードの職権記載, 令30条の4) — J-LIS
tells デジタル庁 the old code and the new one, so that the 符号 follow
(30条の9の2第2項; 令30条の8の2第2項).

:func:`code_change` derives that notice from the identity notice of the change;
the national centre keeps a feed of them with positions
(:meth:`NationalCenter.code_changes <jukinet.tiers.upper.NationalCenter.code_changes>`).
How デジタル庁 asks for a code under 30条の9の2第1項 is not modelled.

>>> import attrs
>>> from datetime import date
>>> from jukinet.domain.changes import ChangeReason
>>> from jukinet.domain.identity import IdentityInfo, IdentityNotice
>>> from jukinet.domain.resident_code import ResidentCode
>>> from jukinet.testing.examples import resident_record
>>> before = IdentityInfo.from_record(resident_record())
>>> after = attrs.evolve(before, resident_code=ResidentCode("00000000060"))
>>> notice = IdentityNotice(info=after, reason=ChangeReason.RESIDENT_CODE_CHANGE_REQUEST,
...                         event_date=date(2026, 4, 1),
...                         previous_resident_code=before.resident_code)
>>> change = code_change(notice)
>>> (change.previous_resident_code == before.resident_code, change.resident_code.value)
(True, '00000000060')
>>> code_change(IdentityNotice(info=before, reason=ChangeReason.MOVE_WITHIN,
...                            event_date=date(2026, 4, 1))) is None
True
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import attrs

from jukinet.domain.changes import ChangeReason
from jukinet.domain.identity import IdentityNotice
from jukinet.domain.resident_code import ResidentCode
from jukinet.errors import InvalidComponent

__all__ = ["ARTICLE", "CodeChangeNotice", "code_change"]

ARTICLE = "住基法30条の9の2第2項"
"""The provision under which J-LIS tells デジタル庁 of a code change."""


def _type(cls: type[Any], what: str) -> Any:
    def check(_i: object, _a: object, value: object) -> None:
        if isinstance(value, datetime) or not isinstance(value, cls):
            raise TypeError(f"{what}: expected {cls.__name__}, got {type(value).__name__}")

    return check


@attrs.frozen(kw_only=True)
class CodeChangeNotice:
    """A resident's old and new resident code, for デジタル庁 (住基法30条の9の2第2項).

    ``reason`` is the change that replaced the code (a reason that
    :attr:`~jukinet.domain.changes.ChangeReason.changes_resident_code`), and
    ``changed_on`` its date.
    """

    previous_resident_code: ResidentCode = attrs.field(
        validator=_type(ResidentCode, "previous_resident_code")
    )
    resident_code: ResidentCode = attrs.field(validator=_type(ResidentCode, "resident_code"))
    reason: ChangeReason = attrs.field(validator=_type(ChangeReason, "reason"))
    changed_on: date = attrs.field(validator=_type(date, "changed_on"))

    def __attrs_post_init__(self) -> None:
        if self.previous_resident_code == self.resident_code:
            raise InvalidComponent(
                "the new resident code is the old one",
                field="resident_code",
                expected="a code other than the previous one (住基法30条の4第3項)",
            )
        if not self.reason.changes_resident_code:
            raise InvalidComponent(
                f"{self.reason.label_ja} does not replace the resident code",
                field="reason",
                expected="住民票コードの変更請求 or 住民票コードの職権記載",
            )


def code_change(notice: IdentityNotice) -> CodeChangeNotice | None:
    """The notice for デジタル庁 an identity notice calls for: one when it replaced the
    person's resident code (it carries the previous one), else None."""
    if not isinstance(notice, IdentityNotice):
        raise TypeError(f"expected an IdentityNotice, got {type(notice).__name__}")
    if notice.previous_resident_code is None:
        return None
    return CodeChangeNotice(
        previous_resident_code=notice.previous_resident_code,
        resident_code=notice.info.resident_code,
        reason=notice.reason,
        changed_on=notice.event_date,
    )
