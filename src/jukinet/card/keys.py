"""The card's trust chain: authority, issuers, counter terminals and certificates.

The chain has three levels, as in the Juki card system (住基法30条の44; the card's
keys and certificates were administered for all municipalities by the designated
information-processing body, now J-LIS):

* a :class:`CardAuthority` (the root, J-LIS's role) certifies each municipality's
  :class:`IssuerKey` with an :class:`IssuerCertificate`;
* a municipality's issuer key certifies each card's chip key
  (:class:`CardCertificate`) and each of its counter terminals' keys
  (:class:`TerminalKey`, :class:`TerminalCertificate`).

Every certificate is a frozen value whose signed bytes are canonical JSON
(:func:`jukinet.domain.codec.canonical_json`) after a domain-separation prefix,
signed with Ed25519. Keys are made from an injected :class:`random.Random` (use a
:class:`random.SystemRandom` for real keys); no private key is printed, compared
or serialised.

>>> import random
>>> rng = random.Random(12)
>>> authority = CardAuthority.generate("jlis", rng)
>>> chiyoda = authority.certify_issuer("131016", rng)
>>> chiyoda.certificate.verify(authority.public_key, authority="jlis") is None
True
>>> counter = chiyoda.certify_terminal("chiyoda-counter-1", rng)
>>> counter.certificate.verify(authority.public_key, authority="jlis") is None
True
>>> counter
TerminalKey(terminal_id='chiyoda-counter-1', municipality=LocalGovernmentCode('131016'))
"""

from __future__ import annotations

import random
import re
from datetime import date
from typing import TYPE_CHECKING, Any

import attrs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from jukinet.domain.codec import canonical_json
from jukinet.domain.lg_code import LocalGovernmentCode
from jukinet.errors import CardAuthenticationFailed, InvalidComponent, InvalidFormat

if TYPE_CHECKING:  # chip.py imports this module; the chip is built in issue_card
    from jukinet.card.chip import Chip
    from jukinet.card.data import CardData
    from jukinet.card.pin import ScryptCost

__all__ = [
    "CARD_KINDS",
    "CardAuthority",
    "CardCertificate",
    "IssuerCertificate",
    "IssuerKey",
    "TerminalCertificate",
    "TerminalKey",
]

_ISSUER_CONTEXT = b"jukinet-card-issuer-v1\n"
_TERMINAL_CONTEXT = b"jukinet-card-terminal-v1\n"
_CARD_CONTEXT = b"jukinet-card-certificate-v1\n"
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,47}")
_CARD_ID = re.compile(r"[0-9a-f]{32}")

CARD_KINDS = frozenset({"juki", "my_number"})
"""The card kinds a certificate may name: ``juki`` (住民基本台帳カード) and
``my_number`` (個人番号カード)."""


def _raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _check_name(value: object, field: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{field}: expected a str, got {type(value).__name__}")
    if not _NAME.fullmatch(value):
        raise InvalidFormat(
            f"{value!r} is not a name",
            field=field,
            expected="1 to 48 lowercase letters, digits, '-' or '_'",
        )


def _name(_i: Any, attribute: Any, value: Any) -> None:
    _check_name(value, attribute.name)


def _public_key(_i: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, bytes) or len(value) != 32:
        raise InvalidFormat(
            "the public key is not 32 raw bytes", field=attribute.name, expected="32 bytes"
        )


def _signature(_i: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, bytes) or len(value) != 64:
        raise InvalidFormat(
            "the signature is not 64 bytes", field=attribute.name, expected="an Ed25519 signature"
        )


def _municipality(value: object) -> LocalGovernmentCode:
    code = value if isinstance(value, LocalGovernmentCode) else LocalGovernmentCode(value)
    if not code.keeps_register:
        raise InvalidComponent(
            f"{code.value} does not keep a resident register",
            field="municipality",
            expected="a city, town, village, special ward or designated-city ward",
        )
    return code


def _fields(data: Any, what: str, keys: set[str], *, nested: str = "") -> dict[str, Any]:
    """``data`` as a dict with exactly ``keys``, each a string but ``nested``."""
    if not isinstance(data, dict) or set(data) != keys:
        raise InvalidFormat(f"the {what} has the wrong fields", expected=", ".join(sorted(keys)))
    for key, value in data.items():
        if key != nested and not isinstance(value, str):
            raise InvalidFormat(f"{key} is not a string", field=what, expected="a string")
    return data


def _hex(text: str, field: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise InvalidFormat("not hex digits", field=field, expected="hex digits") from None


def _iso(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidFormat("not a date", field=field, expected="an ISO date YYYY-MM-DD") from None


def _check(public_key: bytes, signature: bytes, data: bytes, what: str) -> None:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, data)
    except InvalidSignature:
        raise CardAuthenticationFailed(
            f"the signature on the {what} does not verify",
            field=what,
            expected="a signature by the key that certifies it",
        ) from None


@attrs.frozen(kw_only=True)
class IssuerCertificate:
    """A municipality's issuer key, certified by the authority.

    ``issuer`` is the municipality (a local government code that keeps a register);
    ``authority`` the authority's name; ``signature`` the authority's signature over
    :meth:`signed_bytes`.
    """

    issuer: LocalGovernmentCode = attrs.field(converter=_municipality)
    authority: str = attrs.field(validator=_name)
    public_key: bytes = attrs.field(validator=_public_key, repr=False)
    signature: bytes = attrs.field(validator=_signature, repr=False)

    def signed_bytes(self) -> bytes:
        """The bytes the authority signs."""
        return _ISSUER_CONTEXT + canonical_json(
            {
                "authority": self.authority,
                "issuer": self.issuer.value,
                "public_key": self.public_key.hex(),
            }
        )

    def to_data(self) -> dict[str, Any]:
        """The certificate as JSON data (keys and signature in hex)."""
        return {
            "authority": self.authority,
            "issuer": self.issuer.value,
            "public_key": self.public_key.hex(),
            "signature": self.signature.hex(),
        }

    @classmethod
    def from_data(cls, data: Any) -> IssuerCertificate:
        """Rebuild a certificate from :meth:`to_data`'s output (validated; not verified)."""
        fields = _fields(
            data, "issuer certificate", {"authority", "issuer", "public_key", "signature"}
        )
        return cls(
            issuer=fields["issuer"],
            authority=fields["authority"],
            public_key=_hex(fields["public_key"], "public_key"),
            signature=_hex(fields["signature"], "signature"),
        )

    def verify(self, authority_key: bytes, *, authority: str) -> None:
        """Raise :class:`~jukinet.errors.CardAuthenticationFailed` unless the
        authority named ``authority`` with public key ``authority_key`` signed this."""
        if self.authority != authority:
            raise CardAuthenticationFailed(
                f"the issuer {self.issuer.value} is certified by {self.authority!r}",
                field="issuer certificate",
                expected=f"an issuer certified by {authority!r}",
            )
        _check(authority_key, self.signature, self.signed_bytes(), "issuer certificate")


@attrs.frozen(kw_only=True)
class TerminalCertificate:
    """A counter terminal's key, certified by its municipality's issuer key.

    It carries the issuer's own certificate, so a card can check the whole chain
    up to the authority it trusts.
    """

    terminal_id: str = attrs.field(validator=_name)
    municipality: LocalGovernmentCode = attrs.field(converter=_municipality)
    public_key: bytes = attrs.field(validator=_public_key, repr=False)
    issuer: IssuerCertificate = attrs.field(
        validator=attrs.validators.instance_of(IssuerCertificate)
    )
    signature: bytes = attrs.field(validator=_signature, repr=False)

    def signed_bytes(self) -> bytes:
        """The bytes the issuer signs."""
        return _TERMINAL_CONTEXT + canonical_json(
            {
                "municipality": self.municipality.value,
                "public_key": self.public_key.hex(),
                "terminal_id": self.terminal_id,
            }
        )

    def to_data(self) -> dict[str, Any]:
        """The certificate as JSON data (keys and signature in hex)."""
        return {
            "issuer": self.issuer.to_data(),
            "municipality": self.municipality.value,
            "public_key": self.public_key.hex(),
            "signature": self.signature.hex(),
            "terminal_id": self.terminal_id,
        }

    @classmethod
    def from_data(cls, data: Any) -> TerminalCertificate:
        """Rebuild a certificate from :meth:`to_data`'s output (validated; not verified)."""
        fields = _fields(
            data,
            "terminal certificate",
            {"issuer", "municipality", "public_key", "signature", "terminal_id"},
            nested="issuer",
        )
        return cls(
            terminal_id=fields["terminal_id"],
            municipality=fields["municipality"],
            public_key=_hex(fields["public_key"], "public_key"),
            issuer=IssuerCertificate.from_data(fields["issuer"]),
            signature=_hex(fields["signature"], "signature"),
        )

    def verify(self, authority_key: bytes, *, authority: str) -> None:
        """Raise :class:`~jukinet.errors.CardAuthenticationFailed` unless the chain
        terminal → issuer → authority holds and the terminal belongs to its issuer."""
        self.issuer.verify(authority_key, authority=authority)
        if self.issuer.issuer != self.municipality:
            raise CardAuthenticationFailed(
                f"the terminal of {self.municipality.value} is certified by the issuer "
                f"{self.issuer.issuer.value}",
                field="terminal certificate",
                expected="a terminal certified by its own municipality",
            )
        _check(self.issuer.public_key, self.signature, self.signed_bytes(), "terminal certificate")


def _card_id(_i: Any, _a: Any, value: Any) -> None:
    if not isinstance(value, str) or not _CARD_ID.fullmatch(value):
        raise InvalidFormat(
            "the card id is not 32 lowercase hex digits",
            field="card_id",
            expected="a 128-bit serial",
        )


def _kind(_i: Any, _a: Any, value: Any) -> None:
    if value not in CARD_KINDS:
        raise InvalidComponent(
            f"{value!r} is not a card kind", field="kind", expected="'juki' or 'my_number'"
        )


def _date(_i: Any, attribute: Any, value: Any) -> None:
    if type(value) is not date:
        raise TypeError(f"{attribute.name}: expected a date, got {type(value).__name__}")


@attrs.frozen(kw_only=True)
class CardCertificate:
    """A card's chip key, certified by the issuing municipality's issuer key.

    It binds the chip's public key to the card id, kind (``juki`` or ``my_number``),
    issuer and validity period.
    """

    card_id: str = attrs.field(validator=_card_id)
    kind: str = attrs.field(validator=_kind)
    issuer: LocalGovernmentCode = attrs.field(converter=_municipality)
    issued_on: date = attrs.field(validator=_date)
    expires_on: date = attrs.field(validator=_date)
    public_key: bytes = attrs.field(validator=_public_key, repr=False)
    signature: bytes = attrs.field(validator=_signature, repr=False)

    def signed_bytes(self) -> bytes:
        """The bytes the issuer signs."""
        return _CARD_CONTEXT + canonical_json(
            {
                "card_id": self.card_id,
                "expires_on": self.expires_on.isoformat(),
                "issued_on": self.issued_on.isoformat(),
                "issuer": self.issuer.value,
                "kind": self.kind,
                "public_key": self.public_key.hex(),
            }
        )

    def to_data(self) -> dict[str, Any]:
        """The certificate as JSON data (dates ISO, key and signature in hex)."""
        return {
            "card_id": self.card_id,
            "expires_on": self.expires_on.isoformat(),
            "issued_on": self.issued_on.isoformat(),
            "issuer": self.issuer.value,
            "kind": self.kind,
            "public_key": self.public_key.hex(),
            "signature": self.signature.hex(),
        }

    @classmethod
    def from_data(cls, data: Any) -> CardCertificate:
        """Rebuild a certificate from :meth:`to_data`'s output (validated; not verified)."""
        fields = _fields(
            data,
            "card certificate",
            {"card_id", "expires_on", "issued_on", "issuer", "kind", "public_key", "signature"},
        )
        return cls(
            card_id=fields["card_id"],
            kind=fields["kind"],
            issuer=fields["issuer"],
            issued_on=_iso(fields["issued_on"], "issued_on"),
            expires_on=_iso(fields["expires_on"], "expires_on"),
            public_key=_hex(fields["public_key"], "public_key"),
            signature=_hex(fields["signature"], "signature"),
        )

    def verify(self, issuer: IssuerCertificate) -> None:
        """Raise :class:`~jukinet.errors.CardAuthenticationFailed` unless ``issuer``
        (whose own certificate the caller has checked) signed this certificate."""
        if issuer.issuer != self.issuer:
            raise CardAuthenticationFailed(
                f"the card names the issuer {self.issuer.value}, its chain {issuer.issuer.value}",
                field="card certificate",
                expected="the card's own issuer",
            )
        _check(issuer.public_key, self.signature, self.signed_bytes(), "card certificate")


class CardAuthority:
    """The root of the card trust chain (J-LIS's role): certifies issuers.

    Its private key stays inside; :attr:`public_key` is what cards and terminals trust.
    """

    __slots__ = ("_name", "_private")

    def __init__(self, name: str, private: Ed25519PrivateKey) -> None:
        _check_name(name, "authority")
        self._name = name
        self._private = private

    @classmethod
    def generate(cls, name: str, rng: random.Random) -> CardAuthority:
        """A new authority named ``name`` with a key drawn from ``rng``."""
        return cls(name, Ed25519PrivateKey.from_private_bytes(rng.randbytes(32)))

    @property
    def name(self) -> str:
        """The authority's name (e.g. ``jlis``)."""
        return self._name

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte public key (the trust anchor)."""
        return _raw_public(self._private)

    def certify_issuer(
        self, municipality: LocalGovernmentCode | str, rng: random.Random
    ) -> IssuerKey:
        """Make a municipality's issuer key (drawn from ``rng``) and certify it."""
        private = Ed25519PrivateKey.from_private_bytes(rng.randbytes(32))
        unsigned = IssuerCertificate(
            issuer=municipality,
            authority=self._name,
            public_key=_raw_public(private),
            signature=bytes(64),
        )
        certificate = attrs.evolve(unsigned, signature=self._private.sign(unsigned.signed_bytes()))
        return IssuerKey(certificate, self.public_key, private)

    def __repr__(self) -> str:
        return f"CardAuthority(name={self._name!r})"

    def __reduce__(self) -> Any:
        raise TypeError("a CardAuthority holds a private key and is not serialised")


class IssuerKey:
    """A municipality's issuer key: certifies its cards and counter terminals."""

    __slots__ = ("_authority_key", "_certificate", "_private")

    def __init__(
        self, certificate: IssuerCertificate, authority_key: bytes, private: Ed25519PrivateKey
    ) -> None:
        if _raw_public(private) != certificate.public_key:
            raise InvalidComponent(
                "the private key does not match the certificate", field="issuer key"
            )
        self._certificate = certificate
        self._authority_key = authority_key
        self._private = private

    @property
    def certificate(self) -> IssuerCertificate:
        """The authority's certificate of this key."""
        return self._certificate

    @property
    def municipality(self) -> LocalGovernmentCode:
        """The issuing municipality."""
        return self._certificate.issuer

    @property
    def authority_key(self) -> bytes:
        """The public key of the authority that certified this issuer."""
        return self._authority_key

    def certify_terminal(self, terminal_id: str, rng: random.Random) -> TerminalKey:
        """Make a counter terminal's key (drawn from ``rng``) and certify it."""
        private = Ed25519PrivateKey.from_private_bytes(rng.randbytes(32))
        unsigned = TerminalCertificate(
            terminal_id=terminal_id,
            municipality=self.municipality,
            public_key=_raw_public(private),
            issuer=self._certificate,
            signature=bytes(64),
        )
        certificate = attrs.evolve(unsigned, signature=self._private.sign(unsigned.signed_bytes()))
        return TerminalKey(certificate, self._authority_key, private)

    def certify_card(
        self, *, card_id: str, kind: str, issued_on: date, expires_on: date, public_key: bytes
    ) -> CardCertificate:
        """Certify a chip's public key for a card this municipality issues."""
        unsigned = CardCertificate(
            card_id=card_id,
            kind=kind,
            issuer=self.municipality,
            issued_on=issued_on,
            expires_on=expires_on,
            public_key=public_key,
            signature=bytes(64),
        )
        return attrs.evolve(unsigned, signature=self._private.sign(unsigned.signed_bytes()))

    def issue_card(
        self,
        data: CardData,
        pin: str,
        rng: random.Random,
        *,
        scrypt_cost: ScryptCost | None = None,
    ) -> Chip:
        """Issue a card: the chip generates its key from ``rng``, this issuer
        certifies the public key, and the chip stores ``data``, the certificates,
        the authority's public key and ``pin`` (as a salted scrypt hash).

        ``scrypt_cost`` defaults to :data:`~jukinet.card.pin.DEFAULT_SCRYPT_COST`;
        tests pass a cheaper one. See :meth:`Chip.issue <jukinet.card.chip.Chip.issue>`.
        """
        from jukinet.card.chip import Chip  # chip.py imports this module at its top

        return Chip.issue(self, data, pin, rng, scrypt_cost=scrypt_cost)

    def __repr__(self) -> str:
        return f"IssuerKey(municipality={self.municipality!r})"

    def __reduce__(self) -> Any:
        raise TypeError("an IssuerKey holds a private key and is not serialised")


class TerminalKey:
    """A counter terminal's key with its certificate chain."""

    __slots__ = ("_authority_key", "_certificate", "_private")

    def __init__(
        self, certificate: TerminalCertificate, authority_key: bytes, private: Ed25519PrivateKey
    ) -> None:
        if _raw_public(private) != certificate.public_key:
            raise InvalidComponent(
                "the private key does not match the certificate", field="terminal key"
            )
        self._certificate = certificate
        self._authority_key = authority_key
        self._private = private

    @property
    def certificate(self) -> TerminalCertificate:
        """The issuer's certificate of this key (carrying the issuer's certificate)."""
        return self._certificate

    @property
    def terminal_id(self) -> str:
        """The terminal's name."""
        return self._certificate.terminal_id

    @property
    def municipality(self) -> LocalGovernmentCode:
        """The municipality whose counter this terminal is."""
        return self._certificate.municipality

    @property
    def authority(self) -> str:
        """The name of the authority this terminal trusts."""
        return self._certificate.issuer.authority

    @property
    def authority_key(self) -> bytes:
        """The public key of the authority this terminal trusts."""
        return self._authority_key

    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` (an answer to a card's challenge) with the terminal's key."""
        return self._private.sign(data)

    def __repr__(self) -> str:
        return f"TerminalKey(terminal_id={self.terminal_id!r}, municipality={self.municipality!r})"

    def __reduce__(self) -> Any:
        raise TypeError("a TerminalKey holds a private key and is not serialised")
