"""Shared attrs converters and validators for domain records (private).

They raise :class:`TypeError` for a value of the wrong type and a
:class:`~jukinet.errors.ValidationError` naming the field for a bad value.

Text is bounded before it is normalised (:func:`check_raw_length`): NFKC takes
time quadratic in a run of combining marks (100,000 of them take seconds), so
every parser and constructor that normalises text first refuses input far
longer than the longest value it can accept.
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

RAW_LENGTH_FACTOR = 4
"""How many times longer than its longest normalised form text may be on input."""
RAW_LENGTH_SLACK = 32
"""Characters allowed on input beyond :data:`RAW_LENGTH_FACTOR` times the longest form."""


def raw_limit(max_length: int) -> int:
    """The most characters input may have for a value of at most ``max_length``.

    Normalisation shortens legitimate text by far less than the factor 4: a
    kanji with its variation selector, a half-width kana with its sound mark or
    a letter with two combining accents become one character, and runs of white
    space one space. The slack covers padding around short values (codes, era
    dates).

    >>> raw_limit(100), raw_limit(11)
    (432, 76)
    """
    return RAW_LENGTH_FACTOR * max_length + RAW_LENGTH_SLACK


def check_raw_length(value: str, field: str, max_length: int) -> None:
    """Refuse, before any normalisation, ``value`` longer than :func:`raw_limit`
    of ``max_length`` (the longest value the field takes once normalised).

    >>> check_raw_length("山" * 433, "family", 100)
    Traceback (most recent call last):
    ...
    jukinet.errors.InvalidLength: family: the text has 433 characters before normalisation (expected at most 100 characters, 432 before normalisation)
    """
    limit = raw_limit(max_length)
    if len(value) > limit:
        raise InvalidLength(
            f"the text has {len(value):,} characters before normalisation",
            field=field,
            expected=f"at most {max_length:,} characters, {limit:,} before normalisation",
        )


def text(value: object, field: str, *, max_length: int = MAX_TEXT) -> str:
    """Return NFKC-normalised, trimmed, non-empty text of bounded length, or raise.

    Use it from a converter: ``converter=lambda v: text(v, "本籍")``.
    """
    if not isinstance(value, str):
        raise TypeError(f"{field}: expected a str, got {type(value).__name__}")
    check_raw_length(value, field, max_length)
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
