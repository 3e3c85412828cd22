"""Individual number (個人番号, kojin bangō), the "My Number".

A 12-digit number written on the 住民票 since 2015-10-05 (住基法7条8号の2):
11 digits derived from the resident code by a non-public conversion, and one
check digit. The check digit (番号法施行規則5条) weighs the body digits
6,5,4,3,2,7,6,5,4,3,2 from the left; with ``r = S mod 11`` the check digit is
``11 - r``, and 0 when ``r`` is 0 or 1. This is python-stdnum's ``jp.in_``
rule, whose ``-S % 11 % 10`` gives the same digits.

>>> validate('6214 9832 0257')
'621498320257'
>>> calc_check_digit('12345678901')
'8'
>>> validate('621498320258')
Traceback (most recent call last):
...
jukinet.errors.InvalidChecksum: individual number: the number's checksum or check digit is invalid (expected check digit 7)
>>> is_valid('123456789018')
True
>>> format('621498320257')
'6214 9832 0257'
>>> str(IndividualNumber('６２１４-９８３２-０２５７'))
'621498320257'
"""

from __future__ import annotations

import attrs

from jukinet.domain._digits import fold_digits, require_digits
from jukinet.errors import InvalidChecksum, ValidationError

__all__ = [
    "LENGTH",
    "IndividualNumber",
    "calc_check_digit",
    "compact",
    "format",
    "is_valid",
    "validate",
]

LENGTH = 12
"""Digits in an individual number, check digit included."""

_FIELD = "individual number"
_WEIGHTS = (6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def compact(number: str) -> str:
    """Fold width and drop spaces and hyphens; nothing else is checked.

    >>> compact('６２１４ ９８３２-０２５７')
    '621498320257'
    """
    return fold_digits(number, field=_FIELD, length=LENGTH)


def calc_check_digit(number: str) -> str:
    """Return the check digit for the 11-digit body ``number``.

    >>> calc_check_digit('62149832025')
    '7'
    >>> calc_check_digit('00000000005')
    '1'
    >>> calc_check_digit('00000000006')
    '0'
    """
    body = compact(number)
    require_digits(body, LENGTH - 1, field=f"{_FIELD} body")
    remainder = sum(w * int(d) for w, d in zip(_WEIGHTS, body, strict=True)) % 11
    return "0" if remainder <= 1 else str(11 - remainder)


def validate(number: str) -> str:
    """Return the canonical 12 digits, or raise a :class:`~jukinet.errors.ValidationError`.

    >>> validate('123456789018')
    '123456789018'
    """
    code = compact(number)
    require_digits(code, LENGTH, field=_FIELD)
    expected = calc_check_digit(code[:-1])
    if code[-1] != expected:
        raise InvalidChecksum(field=_FIELD, expected=f"check digit {expected}")
    return code


def is_valid(number: object) -> bool:
    """Whether ``number`` is a valid individual number; never raises.

    >>> is_valid('621498320257'), is_valid('621498320275'), is_valid(None)
    (True, False, False)
    """
    try:
        validate(number)  # type: ignore[arg-type]
    except (ValidationError, TypeError):
        return False
    return True


def format(number: str) -> str:
    """Group the digits for display as ``NNNN NNNN NNNN``.

    >>> format('６２１４９８３２０２５７')
    '6214 9832 0257'
    """
    code = compact(number)
    return f"{code[:4]} {code[4:8]} {code[8:]}"


def _to_canonical(value: object) -> str:
    if isinstance(value, IndividualNumber):
        return value.value
    return validate(value)  # type: ignore[arg-type]


@attrs.frozen(order=True)
class IndividualNumber:
    """Individual number (個人番号, kojin bangō): a valid 12-digit My Number.

    Constructing one validates it; ``str()`` gives the canonical digits.

    >>> IndividualNumber('6214 9832 0257')
    IndividualNumber('621498320257')
    >>> IndividualNumber('621498320257') == IndividualNumber('6214-9832-0257')
    True
    """

    value: str = attrs.field(converter=_to_canonical)

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return f"IndividualNumber({self.value!r})"

    @property
    def body(self) -> str:
        """The 11 digits without the check digit."""
        return self.value[:-1]

    @property
    def formatted(self) -> str:
        """The number grouped for display (``NNNN NNNN NNNN``)."""
        return format(self.value)
