"""Resident code (住民票コード, jūminhyō kōdo).

An 11-digit number written on every 住民票 (住基法7条13号): 10 random digits
and one check digit. The digits encode nothing about the person. The check digit
(施行規則1条, 平成14年総務省告示第436号) weighs the body digits 5,4,3,2,7,6,5,4,3,2
from the left; with ``r = S mod 11`` the check digit is ``11 - r``, and 0 when
``r`` is 0 or 1.

Codes are never designated twice (住基法30条の2第2項): :func:`generate` draws
from an injected random source and never returns a code from the given set of
used codes.

>>> validate('1234-5678-903')
'12345678903'
>>> calc_check_digit('0000000006')
'0'
>>> validate('12345678904')
Traceback (most recent call last):
...
jukinet.errors.InvalidChecksum: resident code: the number's checksum or check digit is invalid (expected check digit 3)
>>> is_valid('00000000051')
True
>>> format('12345678903')
'1234-5678-903'
>>> str(ResidentCode('１２３４５６７８９０３'))
'12345678903'
"""

from __future__ import annotations

import random
from collections.abc import Container

import attrs

from jukinet.domain._digits import fold_digits, require_digits
from jukinet.errors import CodePoolExhausted, InvalidChecksum, ValidationError

__all__ = [
    "LENGTH",
    "ResidentCode",
    "calc_check_digit",
    "compact",
    "format",
    "generate",
    "is_canonical",
    "is_valid",
    "validate",
]

LENGTH = 11
"""Digits in a resident code, check digit included."""

_FIELD = "resident code"
_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
_ZERO_OFFSET = 48 * sum(_WEIGHTS)


def compact(number: str) -> str:
    """Fold width and drop spaces and hyphens; nothing else is checked.

    >>> compact('１２３ ４５６７-８９０３')
    '12345678903'
    """
    return fold_digits(number, field=_FIELD, length=LENGTH)


def calc_check_digit(number: str) -> str:
    """Return the check digit for the 10-digit body ``number``.

    >>> calc_check_digit('1234567890')
    '3'
    >>> calc_check_digit('0000000005')
    '1'
    """
    body = compact(number)
    require_digits(body, LENGTH - 1, field=f"{_FIELD} body")
    return _check_digit(body)


def _check_digit(body: str) -> str:
    # ``body`` is 10 ASCII digits; 48 is ord("0"), removed from the weighted sum at once.
    total = sum(map(int.__mul__, _WEIGHTS, body.encode())) - _ZERO_OFFSET
    remainder = total % 11
    return "0" if remainder <= 1 else str(11 - remainder)


def is_canonical(value: str) -> bool:
    """Whether ``value`` is already a canonical code: 11 ASCII digits, right check
    digit, nothing to fold (the fast check of stored and wire values).

    >>> is_canonical('12345678903'), is_canonical('1234-5678-903'), is_canonical('12345678904')
    (True, False, False)
    """
    return (
        len(value) == LENGTH
        and value.isascii()
        and value.isdigit()
        and value[-1] == _check_digit(value[:-1])
    )


def validate(number: str) -> str:
    """Return the canonical 11 digits, or raise a :class:`~jukinet.errors.ValidationError`.

    >>> validate('00000000060')
    '00000000060'
    """
    code = compact(number)
    require_digits(code, LENGTH, field=_FIELD)
    expected = _check_digit(code[:-1])
    if code[-1] != expected:
        raise InvalidChecksum(field=_FIELD, expected=f"check digit {expected}")
    return code


def is_valid(number: object) -> bool:
    """Whether ``number`` is a valid resident code; never raises.

    >>> is_valid('12345678903'), is_valid('12345678930'), is_valid(None)
    (True, False, False)
    """
    try:
        validate(number)  # type: ignore[arg-type]
    except (ValidationError, TypeError):
        return False
    return True


def format(number: str) -> str:
    """Group the digits for display as ``NNNN-NNNN-NNN``.

    >>> format('１２３４５６７８９０３')
    '1234-5678-903'
    """
    code = compact(number)
    return f"{code[:4]}-{code[4:8]}-{code[8:]}"


def _to_canonical(value: object) -> str:
    if isinstance(value, ResidentCode):
        return value.value
    return validate(value)  # type: ignore[arg-type]


@attrs.frozen(order=True)
class ResidentCode:
    """Resident code (住民票コード, jūminhyō kōdo): a valid 11-digit code.

    Constructing one validates it; ``str()`` gives the canonical digits.

    >>> ResidentCode('1234 5678 903')
    ResidentCode('12345678903')
    >>> ResidentCode('12345678903') == ResidentCode('1234-5678-903')
    True
    """

    value: str = attrs.field(converter=_to_canonical)

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return f"ResidentCode({self.value!r})"

    @property
    def body(self) -> str:
        """The 10 random digits without the check digit."""
        return self.value[:-1]

    @property
    def formatted(self) -> str:
        """The code grouped for display (``NNNN-NNNN-NNN``)."""
        return format(self.value)


def generate(
    rng: random.Random,
    *,
    used: Container[ResidentCode] = frozenset(),
    max_attempts: int = 1000,
) -> ResidentCode:
    """Draw a fresh resident code that is not in ``used``.

    ``rng`` is injected so that tests are deterministic; pass a
    :class:`random.SystemRandom` for real designation. Codes are never reused
    (住基法30条の2第2項), so ``used`` must hold every code ever designated.

    >>> rng = random.Random(2002)
    >>> first = generate(rng)
    >>> second = generate(random.Random(2002), used={first})
    >>> first != second and is_valid(str(second))
    True
    """
    for _ in range(max_attempts):
        body = f"{rng.randrange(10 ** (LENGTH - 1)):0{LENGTH - 1}d}"
        code = ResidentCode(body + calc_check_digit(body))
        if code not in used:
            return code
    raise CodePoolExhausted(expected=f"an unused code within {max_attempts} draws")
