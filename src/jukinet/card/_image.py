"""The sealed chip image: framing, AES-256-GCM and refusal of any change.

Layout (all lengths fixed except the ciphertext)::

    b"JKCI" | version (1 byte) | card id (16 bytes) | nonce (12 bytes) | ciphertext+tag

The header (magic, version, card id) is the associated data, so a changed header
fails authentication like a changed ciphertext. The plaintext is the chip's state
as canonical JSON; it holds the secrets, which is why it is only ever encrypted.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any, NoReturn

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from jukinet.domain.codec import canonical_json, load_json
from jukinet.errors import CardImageInvalid, InvalidFormat, JukinetError

MAGIC = b"JKCI"
VERSION = 1
_HEADER = len(MAGIC) + 1 + 16
_NONCE = 12
MAX_IMAGE_BYTES = 64 * 1024
"""Longest image :func:`unseal` reads: the state is at most ~8 KiB of areas in hex
plus about 2 KiB of data and certificates."""


def _check_key(sealing_key: object) -> bytes:
    if not isinstance(sealing_key, bytes) or len(sealing_key) != 32:
        raise InvalidFormat(
            "the sealing key is not 32 bytes", field="sealing_key", expected="32 bytes (AES-256)"
        )
    return sealing_key


def refuse(why: str) -> NoReturn:
    """Raise :class:`CardImageInvalid` saying ``why``."""
    raise CardImageInvalid(why, expected="an image sealed by Chip.seal with this sealing key")


def seal(card_id: str, state: dict[str, Any], sealing_key: bytes, rng: random.Random) -> bytes:
    """Encrypt ``state`` for the card ``card_id`` with a nonce from ``rng``."""
    key = _check_key(sealing_key)
    header = MAGIC + bytes([VERSION]) + bytes.fromhex(card_id)
    nonce = rng.randbytes(_NONCE)
    return header + nonce + AESGCM(key).encrypt(nonce, canonical_json(state), header)


def unseal(image: bytes, sealing_key: bytes) -> tuple[str, dict[str, Any]]:
    """Decrypt an image: its card id and state, or :class:`CardImageInvalid`."""
    key = _check_key(sealing_key)
    if not isinstance(image, bytes):
        raise TypeError(f"image: expected bytes, got {type(image).__name__}")
    if len(image) > MAX_IMAGE_BYTES:
        refuse(f"the image is longer than {MAX_IMAGE_BYTES} bytes")
    if len(image) < _HEADER + _NONCE + 16 or not image.startswith(MAGIC):
        refuse("the image is not a sealed chip image")
    if image[len(MAGIC)] != VERSION:
        refuse(f"the image has version {image[len(MAGIC)]}, not {VERSION}")
    header, nonce, sealed = (
        image[:_HEADER],
        image[_HEADER : _HEADER + _NONCE],
        image[_HEADER + _NONCE :],
    )
    try:
        plain = AESGCM(key).decrypt(nonce, sealed, header)
    except InvalidTag:
        refuse("the image was changed or sealed with another key")
    with refusing_malformed():
        state = load_json(plain, field="image", max_bytes=MAX_IMAGE_BYTES)
        if not isinstance(state, dict):
            refuse("the image does not hold a chip state")
    return header[len(MAGIC) + 1 :].hex(), state


@contextlib.contextmanager
def refusing_malformed() -> Iterator[None]:
    """Turn any error while reading an authenticated state into CardImageInvalid
    (it can only come from an image of another version of this code)."""
    try:
        yield
    except CardImageInvalid:
        raise
    except (JukinetError, KeyError, TypeError, ValueError, IndexError) as exc:
        raise CardImageInvalid(
            f"the image's state is malformed ({type(exc).__name__})",
            expected="an image sealed by Chip.seal",
        ) from None
