"""The card's PIN (暗証番号): 4 digits, 3 wrong tries, kept only as a scrypt hash.

A Juki card's PIN is 4 digits set at issue; 3 wrong entries in a row lock the
card, which is unlocked only by resetting the PIN in person at the counter
(domain facts §8). The chip keeps the PIN only as a salted scrypt hash
(:class:`cryptography.hazmat.primitives.kdf.scrypt.Scrypt`) at
:data:`DEFAULT_SCRYPT_COST`; a cheaper :class:`ScryptCost` can be passed for tests.

>>> check_pin("0123")
'0123'
>>> check_pin("12a4")
Traceback (most recent call last):
...
jukinet.errors.InvalidFormat: PIN: the PIN is not 4 digits (expected 4 digits 0-9)
>>> len(hash_pin("0123", bytes(16), ScryptCost(n=2**4, r=1, p=1)))
32
"""

from __future__ import annotations

import re

import attrs
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from jukinet.errors import InvalidComponent, InvalidFormat

__all__ = ["DEFAULT_SCRYPT_COST", "PIN_TRIES", "ScryptCost", "check_pin", "hash_pin"]

PIN_TRIES = 3
"""Consecutive wrong PINs that lock the card (domain facts §8: 3 wrong entries lock)."""

_PIN = re.compile(r"[0-9]{4}")


@attrs.frozen
class ScryptCost:
    """The scrypt cost of the PIN hash: ``n`` (a power of 2), ``r`` and ``p``.

    :data:`DEFAULT_SCRYPT_COST` is what cards use; tests pass a cheaper one through
    the ``scrypt_cost`` keyword of :meth:`IssuerKey.issue_card
    <jukinet.card.keys.IssuerKey.issue_card>`.
    """

    n: int
    r: int
    p: int

    def __attrs_post_init__(self) -> None:
        for name in ("n", "r", "p"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise InvalidComponent(f"{value!r}", field=f"scrypt {name}", expected="1 or more")
        if self.n < 2 or self.n & (self.n - 1) or self.n > 2**20:
            raise InvalidComponent(
                f"{self.n}", field="scrypt n", expected="a power of 2 from 2 to 2**20"
            )


DEFAULT_SCRYPT_COST = ScryptCost(n=2**14, r=8, p=1)
"""The PIN hash's cost on every card unless the issuer says otherwise: n=2**14, r=8, p=1."""


def check_pin(pin: object) -> str:
    """``pin`` if it is 4 digits, else :class:`~jukinet.errors.InvalidFormat`
    (which never repeats what was entered)."""
    if not isinstance(pin, str) or not _PIN.fullmatch(pin):
        # the message never repeats what was entered
        raise InvalidFormat("the PIN is not 4 digits", field="PIN", expected="4 digits 0-9")
    return pin


def hash_pin(pin: str, salt: bytes, cost: ScryptCost) -> bytes:
    """The 32-byte scrypt hash of ``pin`` with ``salt`` at ``cost``."""
    return Scrypt(salt=salt, length=32, n=cost.n, r=cost.r, p=cost.p).derive(pin.encode("ascii"))
