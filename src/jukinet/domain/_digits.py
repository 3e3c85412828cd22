"""Shared input clean-up for the numeric codes (not the check digits).

Only *input folding* is shared here: full-width digits, spaces and hyphens are
accepted on input. The three check-digit rules differ in their special cases and
live one per module (:mod:`~jukinet.domain.resident_code`,
:mod:`~jukinet.domain.individual_number`, :mod:`~jukinet.domain.lg_code`).
"""

from __future__ import annotations

import unicodedata

from jukinet.domain._validate import check_raw_length
from jukinet.errors import InvalidFormat, InvalidLength

LONGEST_CODE = 12
"""Digits in the longest code (the individual number)."""

# Separators people type between groups of digits: ASCII and Unicode hyphens and
# dashes, the minus sign, and the katakana prolonged sound mark that Japanese
# input methods often produce instead of a hyphen.
_SEPARATORS = frozenset(" -\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc\uff70\u00a0\t")


def fold_digits(number: object, *, field: str, length: int = LONGEST_CODE) -> str:
    """Return ``number`` with width folded and separators removed.

    Raises :class:`TypeError` when ``number`` is not a string, and
    :class:`~jukinet.errors.InvalidLength`, before folding, when it is far too long
    for a code of ``length`` digits (:func:`~jukinet.domain._validate.raw_limit`).

    >>> fold_digits("１２３４-５６７８ ９０３", field="code")
    '12345678903'
    """
    if not isinstance(number, str):
        raise TypeError(f"{field}: expected a str, got {type(number).__name__}")
    if number.isascii() and number.isdigit():  # fast path: already canonical digits
        return number
    check_raw_length(number, field, length)
    folded = unicodedata.normalize("NFKC", number)
    return "".join(ch for ch in folded if ch not in _SEPARATORS and not ch.isspace())


def require_digits(number: str, length: int, *, field: str) -> None:
    """Raise unless ``number`` is exactly ``length`` ASCII digits.

    >>> require_digits("123", 3, field="code")
    >>> require_digits("12a", 3, field="code")
    Traceback (most recent call last):
    ...
    jukinet.errors.InvalidFormat: code: the value contains characters other than digits (expected 3 digits 0-9)
    """
    if not number:
        raise InvalidLength("the value is empty", field=field, expected=f"{length} digits")
    if not (number.isascii() and number.isdigit()):
        raise InvalidFormat(
            "the value contains characters other than digits",
            field=field,
            expected=f"{length} digits 0-9",
        )
    if len(number) != length:
        raise InvalidLength(
            f"the value has {len(number)} digit{'' if len(number) == 1 else 's'}",
            field=field,
            expected=f"{length} digits",
        )
