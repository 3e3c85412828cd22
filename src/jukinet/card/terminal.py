"""The counter terminal: the municipality's side of mutual authentication.

A :class:`CounterTerminal` holds a municipality's certified
:class:`~jukinet.card.keys.TerminalKey`. :meth:`CounterTerminal.authenticate`
runs the exchange with a card presented at the counter:

1. read the card's public data and check its certificate chain up to the
   authority the terminal trusts (a card of an unknown issuer is refused);
2. the terminal proves itself: it signs the card's fresh challenge
   (EXTERNAL AUTHENTICATE), and the card checks the terminal's chain;
3. the card proves itself: it signs the terminal's fresh nonce (INTERNAL
   AUTHENTICATE), checked against the card's certified public key.

Each side's challenge is fresh and single-use, so a recorded answer never works
again, in either direction. The result is a :class:`CardSession` bound to that
card and that session: PIN entry, PIN reset (3 wrong PINs lock the card; the
counter unlocks it after confirming the holder's identity, domain facts §8) and
adding or removing application areas (条例利用, old 住基法30条の44第12項).

>>> import random
>>> from datetime import date
>>> from jukinet.card.pin import ScryptCost
>>> from jukinet.card.data import CardData, CardKind, new_card_id
>>> from jukinet.card.keys import CardAuthority
>>> from jukinet.domain.resident_code import ResidentCode
>>> rng = random.Random(9)
>>> authority = CardAuthority.generate("jlis", rng)
>>> issuer = authority.certify_issuer("131016", rng)
>>> data = CardData(card_id=new_card_id(rng), kind=CardKind.JUKI,
...     code=ResidentCode("12345678903"), issuer="131016",
...     issued_on=date(2010, 4, 1), expires_on=date(2020, 3, 31), photo=False)
>>> card = issuer.issue_card(data, "1234", rng, scrypt_cost=ScryptCost(n=2**4, r=1, p=1))
>>> for wrong in ("1111", "2222", "3333"):
...     try:
...         card.verify_pin(wrong)
...     except Exception as exc:
...         print(type(exc).__name__)
WrongPin
WrongPin
CardLocked
>>> session = CounterTerminal(issuer.certify_terminal("counter-1", rng), rng).authenticate(card)
>>> session.reset_pin("5678", identity_confirmed=True)
>>> card.locked, session.verify_pin("5678"), session.pin_verified
(False, None, True)
"""

from __future__ import annotations

import random
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from jukinet.card.chip import CHALLENGE_BYTES, external_auth_bytes, internal_auth_bytes
from jukinet.card.data import CardData, ChipPublic
from jukinet.card.keys import TerminalCertificate, TerminalKey
from jukinet.domain.lg_code import LocalGovernmentCode
from jukinet.errors import CardAuthenticationFailed, InvalidState

__all__ = ["CardSession", "ChipCommands", "CounterTerminal"]


class ChipCommands(Protocol):
    """The commands a terminal sends to a card (:class:`~jukinet.card.chip.Chip`
    has them all)."""

    def read_public(self) -> ChipPublic:
        """READ the card's data and certificates."""

    def get_challenge(self) -> bytes:
        """GET CHALLENGE."""

    def external_authenticate(self, terminal: TerminalCertificate, signature: bytes) -> None:
        """EXTERNAL AUTHENTICATE (the terminal proves itself)."""

    def internal_authenticate(self, nonce: bytes) -> bytes:
        """INTERNAL AUTHENTICATE (the card proves itself)."""

    @property
    def session_terminal(self) -> str | None:
        """The terminal the card is in session with."""

    @property
    def session_number(self) -> int:
        """The number of the card's current session."""

    @property
    def pin_verified(self) -> bool:
        """Whether the PIN was verified in this session."""

    def end_session(self) -> None:
        """End the session."""

    def verify_pin(self, pin: str) -> None:
        """VERIFY the PIN."""

    def reset_pin(self, new_pin: str) -> None:
        """Set a new PIN and unlock (counter session only)."""

    def create_area(self, app_id: str, size: int, access_key: bytes) -> None:
        """Add an application area (counter session only)."""

    def remove_area(self, app_id: str, access_key: bytes) -> None:
        """Remove an application area (counter session only)."""


class CounterTerminal:
    """A municipal counter's card terminal, with its certified key and a random
    source for its nonces (a :class:`random.SystemRandom` for real use)."""

    __slots__ = ("_key", "_rng")

    def __init__(self, key: TerminalKey, rng: random.Random) -> None:
        if not isinstance(key, TerminalKey):
            raise TypeError(f"key: expected TerminalKey, got {type(key).__name__}")
        self._key = key
        self._rng = rng

    @property
    def terminal_id(self) -> str:
        """The terminal's name."""
        return self._key.terminal_id

    @property
    def municipality(self) -> LocalGovernmentCode:
        """The municipality whose counter this is."""
        return self._key.municipality

    def __repr__(self) -> str:
        return f"CounterTerminal(terminal_id={self.terminal_id!r})"

    def check_card(self, public: ChipPublic) -> None:
        """Raise :class:`~jukinet.errors.CardAuthenticationFailed` unless the card's
        certificate chain leads to this terminal's authority and the certificate
        matches the card's data."""
        key = self._key
        public.issuer.verify(key.authority_key, authority=key.authority)
        public.certificate.verify(public.issuer)
        data, cert = public.data, public.certificate
        if (
            cert.card_id != data.card_id
            or cert.kind != data.kind.value
            or cert.issuer != data.issuer
            or cert.issued_on != data.issued_on
            or cert.expires_on != data.expires_on
        ):
            raise CardAuthenticationFailed(
                "the card's certificate does not describe its data",
                field="card certificate",
                expected="the certificate issued with this card",
            )

    def authenticate(self, card: ChipCommands) -> CardSession:
        """Authenticate the card and this terminal to each other (see the module)."""
        public = card.read_public()
        self.check_card(public)
        card_id = public.data.card_id
        challenge = card.get_challenge()
        card.external_authenticate(
            self._key.certificate,
            self._key.sign(
                external_auth_bytes(challenge, card_id=card_id, terminal_id=self.terminal_id)
            ),
        )
        nonce = self._rng.randbytes(CHALLENGE_BYTES)
        answer = card.internal_authenticate(nonce)
        try:
            Ed25519PublicKey.from_public_bytes(public.certificate.public_key).verify(
                answer, internal_auth_bytes(nonce, card_id=card_id, terminal_id=self.terminal_id)
            )
        except (InvalidSignature, TypeError, ValueError):
            card.end_session()
            raise CardAuthenticationFailed(
                "the card's answer does not match this terminal's nonce",
                field="card",
                expected="the card's signature over this terminal's fresh nonce",
            ) from None
        return CardSession(card, public, self.terminal_id, card.session_number)


class CardSession:
    """A card authenticated at a counter terminal: bound to that card and that
    session. A later session on the card (another GET CHALLENGE, another
    terminal, :meth:`end`) ends this one, and its commands are then refused."""

    __slots__ = ("_card", "_number", "_public", "_terminal_id")

    def __init__(
        self, card: ChipCommands, public: ChipPublic, terminal_id: str, number: int
    ) -> None:
        self._card = card
        self._public = public
        self._terminal_id = terminal_id
        self._number = number

    def __repr__(self) -> str:
        return (
            f"CardSession(card_id={self._public.data.card_id!r}, terminal_id={self._terminal_id!r})"
        )

    @property
    def card_id(self) -> str:
        """The authenticated card's id."""
        return self._public.data.card_id

    @property
    def data(self) -> CardData:
        """The authenticated card's data."""
        return self._public.data

    @property
    def public(self) -> ChipPublic:
        """The authenticated card's public data and certificates."""
        return self._public

    @property
    def terminal_id(self) -> str:
        """The terminal the card authenticated with."""
        return self._terminal_id

    @property
    def active(self) -> bool:
        """Whether the card is still in this session."""
        card = self._card
        return card.session_terminal == self._terminal_id and card.session_number == self._number

    def _live(self) -> ChipCommands:
        if not self.active:
            raise CardAuthenticationFailed(
                "the card's session with this terminal has ended",
                expected="a new authentication at the counter",
            )
        return self._card

    @property
    def pin_verified(self) -> bool:
        """Whether the holder entered the right PIN in this session."""
        return self.active and self._card.pin_verified

    def verify_pin(self, pin: str) -> None:
        """The holder enters the PIN at the counter (see :meth:`Chip.verify_pin
        <jukinet.card.chip.Chip.verify_pin>`)."""
        self._live().verify_pin(pin)

    def reset_pin(self, new_pin: str, *, identity_confirmed: bool) -> None:
        """Reset the PIN and unlock the card. The counter first confirms the
        holder's identity in person (with identity documents, domain facts §8) and
        says so with ``identity_confirmed=True``; otherwise
        :class:`~jukinet.errors.InvalidState`."""
        card = self._live()
        if identity_confirmed is not True:
            raise InvalidState(
                "the holder's identity was not confirmed",
                field="PIN reset",
                expected="identity confirmed in person at the counter first",
            )
        card.reset_pin(new_pin)

    def create_area(self, app_id: str, size: int, access_key: bytes) -> None:
        """Add an application area (see :meth:`Chip.create_area
        <jukinet.card.chip.Chip.create_area>`)."""
        self._live().create_area(app_id, size, access_key)

    def remove_area(self, app_id: str, access_key: bytes) -> None:
        """Remove an application area (see :meth:`Chip.remove_area
        <jukinet.card.chip.Chip.remove_area>`)."""
        self._live().remove_area(app_id, access_key)

    def end(self) -> None:
        """End the session (the card leaves the reader)."""
        if self.active:
            self._card.end_session()
