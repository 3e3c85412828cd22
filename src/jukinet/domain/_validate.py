"""Shared attrs converters and validators for domain records (private).

They raise :class:`TypeError` for a value of the wrong type and a
:class:`~jukinet.errors.ValidationError` naming the field for a bad value.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from jukinet.errors import InvalidComponent, InvalidFormat, InvalidLength

MAX_TEXT = 200
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def text(value: object, field: str, *, max_length: int = MAX_TEXT) -> str:
    """Return NFKC-normalised, trimmed, non-empty text of bounded length, or raise.

    Use it from a converter: ``converter=lambda v: text(v, "本籍")``.
    """
    if not isinstance(value, str):
        raise TypeError(f"{field}: expected a str, got {type(value).__name__}")
    cleaned = unicodedata.normalize("NFKC", value).strip()
    if not cleaned:
        raise InvalidFormat("the text is empty", field=field, expected="non-empty text")
    if CONTROL.search(cleaned):
        raise InvalidFormat(
            "the text contains control characters", field=field, expected="printable text"
        )
    if len(cleaned) > max_length:
        raise InvalidLength(
            f"the text has {len(cleaned)} characters",
            field=field,
            expected=f"at most {max_length} characters",
        )
    return cleaned


def optional_text(value: object, field: str, *, max_length: int = MAX_TEXT) -> str | None:
    """Like :func:`text`, but ``None`` passes through."""
    return None if value is None else text(value, field, max_length=max_length)


def instance_of(
    field: str, cls: type | tuple[type, ...], *, optional: bool = False
) -> Callable[[Any, Any, Any], None]:
    """An attrs validator that raises TypeError naming the field."""

    def check(_instance: object, _attribute: object, value: object) -> None:
        if optional and value is None:
            return
        # bool is an int subclass, and datetime a date subclass: refuse both explicitly.
        if isinstance(value, bool) and cls is not bool:
            raise TypeError(f"{field}: expected {_type_name(cls)}, got bool")
        if isinstance(value, datetime) and cls is date:
            raise TypeError(f"{field}: expected a date, got a datetime")
        if not isinstance(value, cls):
            raise TypeError(f"{field}: expected {_type_name(cls)}, got {type(value).__name__}")

    return check


def _type_name(cls: type | tuple[type, ...]) -> str:
    if isinstance(cls, tuple):
        return " or ".join(c.__name__ for c in cls)
    return cls.__name__


def not_before(field: str, later: date | None, earlier: date, earlier_field: str) -> None:
    """Raise :class:`~jukinet.errors.InvalidComponent` when ``later`` is before ``earlier``."""
    if later is not None and later < earlier:
        raise InvalidComponent(
            f"{later.isoformat()} is before the {earlier_field} {earlier.isoformat()}",
            field=field,
            expected=f"a date on or after the {earlier_field}",
        )
