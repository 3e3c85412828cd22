"""The simulated card chip (住民基本台帳カード / 個人番号カード の IC チップ).

A :class:`Chip` behaves like the chip of a resident card (住基法30条の44; from
2016 番号法17条): its Ed25519 private key is generated on the card at issue and
never leaves it; the PIN (暗証番号) is kept only as a salted scrypt hash; the card
talks through commands that return values or raise a typed
:class:`~jukinet.errors.CardError`:

* :meth:`Chip.read_public`: the card's data and certificates;
* :meth:`Chip.get_challenge`, :meth:`Chip.external_authenticate`,
  :meth:`Chip.internal_authenticate`: mutual authentication with a counter
  terminal (the terminal proves itself first, then the card);
* :meth:`Chip.verify_pin`, :meth:`Chip.reset_pin`: 4 digits, 3 wrong tries lock
  the card, only an authenticated counter session resets it;
* :meth:`Chip.create_area`, :meth:`Chip.remove_area`, :meth:`Chip.read_area`,
  :meth:`Chip.write_area`: application areas for ordinance services (条例利用,
  old 住基法30条の44第12項), each opened by its own access key;
* :meth:`Chip.seal`, :meth:`Chip.unseal`: the card as an encrypted, authenticated
  image (what a card "is" between uses).

The main flow — authority, issuer, card, a counter terminal authenticates, PIN:

>>> import random
>>> from datetime import date
>>> from jukinet.card.data import CardData, CardKind, new_card_id
>>> from jukinet.card.keys import CardAuthority
>>> from jukinet.card.terminal import CounterTerminal
>>> from jukinet.domain.resident_code import ResidentCode
>>> rng = random.Random(2003)
>>> authority = CardAuthority.generate("jlis", rng)
>>> chiyoda = authority.certify_issuer("131016", rng)
>>> data = CardData(card_id=new_card_id(rng), kind=CardKind.JUKI,
...     code=ResidentCode("12345678903"), issuer="131016",
...     issued_on=date(2010, 4, 1), expires_on=date(2020, 3, 31), photo=False)
>>> card = chiyoda.issue_card(data, "1234", rng, scrypt_cost=ScryptCost(n=2**4, r=1, p=1))
>>> card
Chip(card_id='...', kind='juki')
>>> counter = CounterTerminal(chiyoda.certify_terminal("chiyoda-1", rng), rng)
>>> session = counter.authenticate(card)
>>> session.verify_pin("1234")
>>> session.pin_verified
True
>>> card.verify_pin("0000")
Traceback (most recent call last):
...
jukinet.errors.WrongPin: PIN: the PIN is wrong, 2 tries left (expected the PIN set at issue)
"""

from __future__ import annotations

import hashlib
import hmac
import random
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from jukinet.card import _image
from jukinet.card.data import CardData, CardKind, ChipPublic
from jukinet.card.keys import CardCertificate, IssuerCertificate, TerminalCertificate
from jukinet.card.pin import DEFAULT_SCRYPT_COST, PIN_TRIES, ScryptCost, check_pin, hash_pin
from jukinet.domain import codec
from jukinet.errors import (
    AreaAccessDenied,
    CardAuthenticationFailed,
    CardError,
    CardLocked,
    CardMemoryFull,
    InvalidComponent,
    InvalidFormat,
    WrongPin,
)

if TYPE_CHECKING:
    from jukinet.card.keys import IssuerKey

__all__ = [
    "AREA_MEMORY",
    "CHALLENGE_BYTES",
    "Chip",
    "external_auth_bytes",
    "internal_auth_bytes",
]

AREA_MEMORY = 8192
"""Bytes of free memory for application areas (条例利用). A modelling choice: the
sources say only that the chip has free space for municipal applications, not how much."""

CHALLENGE_BYTES = 16
"""Length of a card challenge and of a terminal's nonce."""

_APP_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_EXTERNAL_CONTEXT = b"jukinet-card-external-auth-v1\n"
_INTERNAL_CONTEXT = b"jukinet-card-internal-auth-v1\n"


def external_auth_bytes(challenge: bytes, *, card_id: str, terminal_id: str) -> bytes:
    """What a terminal signs to answer a card's challenge (EXTERNAL AUTHENTICATE)."""
    return _EXTERNAL_CONTEXT + codec.canonical_json(
        {"card_id": card_id, "challenge": challenge.hex(), "terminal_id": terminal_id}
    )


def internal_auth_bytes(nonce: bytes, *, card_id: str, terminal_id: str) -> bytes:
    """What a card signs to answer a terminal's nonce (INTERNAL AUTHENTICATE)."""
    return _INTERNAL_CONTEXT + codec.canonical_json(
        {"card_id": card_id, "nonce": nonce.hex(), "terminal_id": terminal_id}
    )


def _check_app(app_id: object, access_key: object) -> str:
    if not isinstance(app_id, str) or not _APP_ID.fullmatch(app_id):
        raise InvalidFormat(
            "the application id is malformed",
            field="app_id",
            expected="1 to 32 lowercase letters, digits, '-' or '_'",
        )
    if not isinstance(access_key, bytes) or not 16 <= len(access_key) <= 64:
        raise InvalidFormat(
            "the access key is not 16 to 64 bytes", field="access_key", expected="16 to 64 bytes"
        )
    return app_id


class _Secrets:
    """What never leaves the chip: its private key and the PIN hash with its salt."""

    __slots__ = ("pin_hash", "private", "salt")

    def __init__(self, private: Ed25519PrivateKey, pin_hash: bytes, salt: bytes) -> None:
        self.private = private
        self.pin_hash = pin_hash
        self.salt = salt

    def __repr__(self) -> str:
        return "<chip secrets>"


class _Area:
    __slots__ = ("content", "key_digest", "size")

    def __init__(self, size: int, key_digest: bytes, content: bytes) -> None:
        self.size = size
        self.key_digest = key_digest
        self.content = content


class _Session:
    __slots__ = ("mutual", "number", "pin_verified", "terminal")

    def __init__(self, terminal: TerminalCertificate, number: int) -> None:
        self.terminal = terminal
        self.number = number
        self.mutual = False
        self.pin_verified = False


class Chip:
    """The simulated chip of a resident card.

    Made by :meth:`IssuerKey.issue_card <jukinet.card.keys.IssuerKey.issue_card>`
    (or :meth:`issue`) or read back by :meth:`unseal`. The private key, PIN hash
    and application areas live in private attributes; no public attribute, method,
    ``repr``, pickle or copy yields them (pickling and copying raise
    :class:`~jukinet.errors.CardError`: use :meth:`seal`). ``rng`` supplies the
    card's challenges, salts and image nonces (a :class:`random.SystemRandom` for
    real use).
    """

    __slots__ = (
        "_areas",
        "_authority_key",
        "_certificate",
        "_challenge",
        "_cost",
        "_data",
        "_issuer",
        "_rng",
        "_secrets",
        "_session",
        "_sessions",
        "_tries",
    )
    _areas: dict[str, _Area]
    _authority_key: bytes
    _certificate: CardCertificate
    _challenge: bytes | None
    _cost: ScryptCost
    _data: CardData
    _issuer: IssuerCertificate
    _rng: random.Random
    _secrets: _Secrets
    _session: _Session | None
    _sessions: int
    _tries: int

    def __init__(self) -> None:
        raise TypeError("a Chip is made by IssuerKey.issue_card or Chip.unseal")

    @classmethod
    def _build(
        cls,
        *,
        data: CardData,
        certificate: CardCertificate,
        issuer: IssuerCertificate,
        authority_key: bytes,
        secrets: _Secrets,
        cost: ScryptCost,
        tries: int,
        areas: dict[str, _Area],
        rng: random.Random,
    ) -> Chip:
        chip = object.__new__(cls)
        chip._data = data
        chip._certificate = certificate
        chip._issuer = issuer
        chip._authority_key = authority_key
        chip._secrets = secrets
        chip._cost = cost
        chip._tries = tries
        chip._areas = areas
        chip._rng = rng
        chip._challenge = None
        chip._session = None
        chip._sessions = 0
        return chip

    @classmethod
    def issue(
        cls,
        issuer: IssuerKey,
        data: CardData,
        pin: str,
        rng: random.Random,
        *,
        scrypt_cost: ScryptCost | None = None,
    ) -> Chip:
        """Issue a card (住基法30条の44): generate the chip's key from ``rng`` on
        the card, have ``issuer`` certify its public key, store ``data``, the
        certificates, the authority's public key and the PIN's scrypt hash
        (random salt; ``scrypt_cost`` defaults to :data:`DEFAULT_SCRYPT_COST`)."""
        if not isinstance(data, CardData):
            raise TypeError(f"data: expected CardData, got {type(data).__name__}")
        if data.issuer != issuer.municipality:
            raise InvalidComponent(
                f"the card names {data.issuer.value} as issuer, the key is "
                f"{issuer.municipality.value}'s",
                field="issuer",
                expected="the issuing municipality's own key",
            )
        pin = check_pin(pin)
        cost = DEFAULT_SCRYPT_COST if scrypt_cost is None else scrypt_cost
        private = Ed25519PrivateKey.from_private_bytes(rng.randbytes(32))
        certificate = issuer.certify_card(
            card_id=data.card_id,
            kind=data.kind.value,
            issued_on=data.issued_on,
            expires_on=data.expires_on,
            public_key=private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw),
        )
        salt = rng.randbytes(16)
        return cls._build(
            data=data,
            certificate=certificate,
            issuer=issuer.certificate,
            authority_key=issuer.authority_key,
            secrets=_Secrets(private, hash_pin(pin, salt, cost), salt),
            cost=cost,
            tries=0,
            areas={},
            rng=rng,
        )

    # --- refusals of every way out ------------------------------------------

    def __repr__(self) -> str:
        return f"Chip(card_id={self._data.card_id!r}, kind={self._data.kind.value!r})"

    def _refuse_copy(self, *_args: Any) -> NoReturn:
        raise CardError(
            "a chip is not pickled or copied", expected="Chip.seal and Chip.unseal to store it"
        )

    __reduce_ex__ = __reduce__ = __getstate__ = __copy__ = __deepcopy__ = _refuse_copy

    # --- public data ----------------------------------------------------------

    @property
    def card_id(self) -> str:
        """The card's id (32 hex digits)."""
        return self._data.card_id

    @property
    def kind(self) -> CardKind:
        """The card's kind."""
        return self._data.kind

    @property
    def scrypt_cost(self) -> ScryptCost:
        """The cost of the PIN hash (not a secret)."""
        return self._cost

    def read_public(self) -> ChipPublic:
        """READ: the card's data, its certificate and its issuer's certificate."""
        return ChipPublic(data=self._data, certificate=self._certificate, issuer=self._issuer)

    # --- mutual authentication ----------------------------------------------

    def get_challenge(self) -> bytes:
        """GET CHALLENGE: a fresh random challenge for the terminal to sign.

        It ends any session, and only the latest challenge is answerable, once.
        """
        self.end_session()
        self._challenge = self._rng.randbytes(CHALLENGE_BYTES)
        return self._challenge

    def external_authenticate(self, terminal: TerminalCertificate, signature: bytes) -> None:
        """EXTERNAL AUTHENTICATE: the terminal proves itself by signing the card's
        last challenge (:func:`external_auth_bytes`). The card checks the chain
        terminal → issuer → its own trusted authority; the challenge is used up
        whether or not the answer is right, so a replayed answer never works."""
        challenge, self._challenge = self._challenge, None
        if challenge is None:
            raise CardAuthenticationFailed(
                "no challenge is outstanding", expected="GET CHALLENGE before each answer"
            )
        if not isinstance(terminal, TerminalCertificate) or not isinstance(signature, bytes):
            raise CardAuthenticationFailed(
                "the answer is malformed", expected="a terminal certificate and a signature"
            )
        terminal.verify(self._authority_key, authority=self._issuer.authority)
        signed = external_auth_bytes(
            challenge, card_id=self._data.card_id, terminal_id=terminal.terminal_id
        )
        try:
            Ed25519PublicKey.from_public_bytes(terminal.public_key).verify(signature, signed)
        except InvalidSignature:
            raise CardAuthenticationFailed(
                "the terminal's answer does not match the card's challenge",
                field="terminal",
                expected="the terminal's signature over this card's latest challenge",
            ) from None
        self._sessions += 1
        self._session = _Session(terminal, self._sessions)

    def internal_authenticate(self, nonce: bytes) -> bytes:
        """INTERNAL AUTHENTICATE: the card proves itself by signing the terminal's
        nonce with the authenticated terminal's id and its own card id
        (:func:`internal_auth_bytes`). Only after the terminal authenticated."""
        session = self._session
        if session is None:
            raise CardAuthenticationFailed(
                "the terminal has not authenticated", expected="EXTERNAL AUTHENTICATE first"
            )
        if not isinstance(nonce, bytes) or len(nonce) != CHALLENGE_BYTES:
            raise InvalidFormat(
                "the nonce is malformed", field="nonce", expected=f"{CHALLENGE_BYTES} bytes"
            )
        session.mutual = True
        return self._secrets.private.sign(
            internal_auth_bytes(
                nonce, card_id=self._data.card_id, terminal_id=session.terminal.terminal_id
            )
        )

    def end_session(self) -> None:
        """End the session with the current terminal (as pulling the card does)."""
        self._session = None

    @property
    def session_terminal(self) -> str | None:
        """The id of the terminal the card is in session with, or None."""
        return None if self._session is None else self._session.terminal.terminal_id

    @property
    def session_number(self) -> int:
        """How many terminals have authenticated to the card since it was powered
        on; a :class:`~jukinet.card.terminal.CardSession` notes it to tell its own
        session from a later one."""
        return 0 if self._session is None else self._session.number

    @property
    def pin_verified(self) -> bool:
        """Whether the PIN was verified in the current session."""
        return self._session is not None and self._session.pin_verified

    def _counter_session(self, what: str) -> _Session:
        session = self._session
        if session is None or not session.mutual:
            raise CardAuthenticationFailed(
                f"{what} needs a counter session",
                expected="mutual authentication with a municipal counter terminal first",
            )
        return session

    # --- PIN ---------------------------------------------------------------------

    @property
    def tries_left(self) -> int:
        """Wrong PINs the card still accepts before it locks."""
        return PIN_TRIES - self._tries

    @property
    def locked(self) -> bool:
        """Whether wrong PINs locked the card."""
        return self._tries >= PIN_TRIES

    def verify_pin(self, pin: str) -> None:
        """VERIFY: check the 4-digit PIN. A right PIN resets the count of wrong
        ones; the third wrong one in a row locks the card (:class:`CardLocked`),
        and a locked card refuses even the right PIN until a counter resets it."""
        pin = check_pin(pin)
        if self.locked:
            raise CardLocked(field="PIN", expected="a PIN reset at the municipal counter")
        if hmac.compare_digest(
            hash_pin(pin, self._secrets.salt, self._cost), self._secrets.pin_hash
        ):
            self._tries = 0
            if self._session is not None:
                self._session.pin_verified = True
            return
        self._tries += 1
        if self.locked:
            raise CardLocked(
                f"the PIN was wrong {PIN_TRIES} times in a row; the card is locked",
                field="PIN",
                expected="a PIN reset at the municipal counter",
            )
        raise WrongPin(
            f"the PIN is wrong, {self.tries_left} tries left",
            field="PIN",
            expected="the PIN set at issue",
        )

    def reset_pin(self, new_pin: str) -> None:
        """Set a new PIN and unlock the card: only in a session with an authenticated
        counter terminal (the holder's identity is confirmed at the counter, see
        :meth:`CardSession.reset_pin <jukinet.card.terminal.CardSession.reset_pin>`)."""
        new_pin = check_pin(new_pin)
        session = self._counter_session("a PIN reset")
        salt = self._rng.randbytes(16)
        self._secrets.salt = salt
        self._secrets.pin_hash = hash_pin(new_pin, salt, self._cost)
        self._tries = 0
        session.pin_verified = False

    # --- application areas -----------------------------------------------------

    @property
    def free_memory(self) -> int:
        """Bytes of :data:`AREA_MEMORY` not given to an application area."""
        return AREA_MEMORY - sum(area.size for area in self._areas.values())

    def areas(self) -> Mapping[str, int]:
        """Each application area's id and size in bytes (not its content or key)."""
        return {app_id: area.size for app_id, area in sorted(self._areas.items())}

    def create_area(self, app_id: str, size: int, access_key: bytes) -> None:
        """Add an application area of ``size`` bytes opened by ``access_key``
        (条例利用, old 住基法30条の44第12項): at a counter session only."""
        app_id = _check_app(app_id, access_key)
        if type(size) is not int or size < 1:
            raise InvalidComponent(f"{size!r}", field="size", expected="a positive number of bytes")
        self._counter_session("adding an application area")
        if app_id in self._areas:
            raise CardError(
                f"the card has an area for {app_id!r} already",
                field="app_id",
                expected="an application without an area",
            )
        if size > self.free_memory:
            raise CardMemoryFull(
                f"{size} bytes asked, {self.free_memory} free",
                field="size",
                expected=f"at most the free memory of {AREA_MEMORY} bytes",
            )
        self._areas[app_id] = _Area(size, hashlib.sha256(access_key).digest(), b"")

    def _open(self, app_id: str, access_key: bytes) -> _Area:
        app_id = _check_app(app_id, access_key)
        area = self._areas.get(app_id)
        digest = hashlib.sha256(access_key).digest()
        if area is None or not hmac.compare_digest(digest, area.key_digest):
            raise AreaAccessDenied(
                field=app_id, expected="the access key the area was created with"
            )
        return area

    def remove_area(self, app_id: str, access_key: bytes) -> None:
        """Remove an application area and its content: at a counter session, with its key."""
        self._counter_session("removing an application area")
        self._open(app_id, access_key)
        del self._areas[app_id]

    def read_area(self, app_id: str, access_key: bytes) -> bytes:
        """Read what an application wrote in its area (``b""`` at first)."""
        return self._open(app_id, access_key).content

    def write_area(self, app_id: str, access_key: bytes, data: bytes) -> None:
        """Replace the content of an application's area with ``data``."""
        if not isinstance(data, bytes):
            raise TypeError(f"data: expected bytes, got {type(data).__name__}")
        area = self._open(app_id, access_key)
        if len(data) > area.size:
            raise CardMemoryFull(
                f"{len(data)} bytes do not fit",
                field=app_id,
                expected=f"at most the area's {area.size} bytes",
            )
        area.content = data

    # --- sealed image -----------------------------------------------------------

    def seal(self, sealing_key: bytes) -> bytes:
        """The card as bytes, encrypted and authenticated with ``sealing_key``
        (32 bytes, AES-256-GCM): neither its key nor its PIN hash can be read from
        them, and :meth:`unseal` refuses any change. Sessions are not kept."""
        state = {
            "areas": [
                {
                    "app_id": app_id,
                    "content": area.content.hex(),
                    "key_digest": area.key_digest.hex(),
                    "size": area.size,
                }
                for app_id, area in sorted(self._areas.items())
            ],
            "authority_key": self._authority_key.hex(),
            "certificate": self._certificate.to_data(),
            "cost": [self._cost.n, self._cost.r, self._cost.p],
            "data": self._data.to_data(),
            "issuer": self._issuer.to_data(),
            "pin_hash": self._secrets.pin_hash.hex(),
            "private_key": self._secrets.private.private_bytes(
                Encoding.Raw, PrivateFormat.Raw, NoEncryption()
            ).hex(),
            "salt": self._secrets.salt.hex(),
            "tries": self._tries,
        }
        return _image.seal(self._data.card_id, state, sealing_key, self._rng)

    @classmethod
    def unseal(cls, image: bytes, sealing_key: bytes, rng: random.Random) -> Chip:
        """Read back a card :meth:`seal` made; ``rng`` serves the card from now on.

        A changed, truncated or foreign image, or another sealing key, raises
        :class:`~jukinet.errors.CardImageInvalid`."""
        card_id, state = _image.unseal(image, sealing_key)
        with _image.refusing_malformed():
            data = CardData.from_data(state["data"])
            certificate = CardCertificate.from_data(state["certificate"])
            issuer = IssuerCertificate.from_data(state["issuer"])
            private = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(state["private_key"]))
            areas = {
                item["app_id"]: _Area(
                    item["size"], bytes.fromhex(item["key_digest"]), bytes.fromhex(item["content"])
                )
                for item in state["areas"]
            }
            chip = cls._build(
                data=data,
                certificate=certificate,
                issuer=issuer,
                authority_key=bytes.fromhex(state["authority_key"]),
                secrets=_Secrets(
                    private, bytes.fromhex(state["pin_hash"]), bytes.fromhex(state["salt"])
                ),
                cost=ScryptCost(*state["cost"]),
                tries=state["tries"],
                areas=areas,
                rng=rng,
            )
        public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        if data.card_id != card_id or certificate.card_id != card_id:
            _image.refuse("the image's card id differs from its content")
        if certificate.public_key != public:
            _image.refuse("the image's key does not match its certificate")
        return chip
