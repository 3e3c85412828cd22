"""The card trust chain: authority → issuer → card / counter terminal certificates."""

from __future__ import annotations

import copy
import pickle
import random
from datetime import date

import attrs
import pytest

from jukinet.card.keys import (
    CardAuthority,
    CardCertificate,
    IssuerCertificate,
    TerminalCertificate,
)
from jukinet.errors import (
    CardAuthenticationFailed,
    InvalidComponent,
    InvalidFormat,
)


def _authority(seed: int = 1, name: str = "jlis") -> CardAuthority:
    return CardAuthority.generate(name, random.Random(seed))


def test_chain_verifies_and_round_trips() -> None:
    rng = random.Random(3)
    authority = _authority()
    issuer = authority.certify_issuer("131016", rng)
    terminal = issuer.certify_terminal("chiyoda-1", rng)
    card = issuer.certify_card(
        card_id="ab" * 16,
        kind="juki",
        issued_on=date(2010, 4, 1),
        expires_on=date(2020, 3, 31),
        public_key=bytes(range(32)),
    )
    issuer.certificate.verify(authority.public_key, authority="jlis")
    terminal.certificate.verify(authority.public_key, authority="jlis")
    card.verify(issuer.certificate)
    assert IssuerCertificate.from_data(issuer.certificate.to_data()) == issuer.certificate
    assert TerminalCertificate.from_data(terminal.certificate.to_data()) == terminal.certificate
    assert CardCertificate.from_data(card.to_data()) == card
    assert terminal.municipality.value == "131016"
    assert terminal.authority == "jlis"
    assert terminal.authority_key == authority.public_key


def test_issuer_of_another_authority_is_refused() -> None:
    rng = random.Random(4)
    ours, theirs = _authority(1), _authority(2)
    foreign = theirs.certify_issuer("131016", rng)
    # same name "jlis", another key: the signature does not verify
    with pytest.raises(CardAuthenticationFailed, match="does not verify"):
        foreign.certificate.verify(ours.public_key, authority="jlis")
    # an authority of another name
    other = _authority(3, name="other-ca").certify_issuer("131016", rng)
    with pytest.raises(CardAuthenticationFailed, match="certified by 'other-ca'"):
        other.certificate.verify(ours.public_key, authority="jlis")


def test_altered_certificates_are_refused() -> None:
    rng = random.Random(5)
    authority = _authority()
    issuer = authority.certify_issuer("131016", rng)
    forged = attrs.evolve(issuer.certificate, issuer="131024")
    with pytest.raises(CardAuthenticationFailed):
        forged.verify(authority.public_key, authority="jlis")
    terminal = issuer.certify_terminal("t1", rng).certificate
    with pytest.raises(CardAuthenticationFailed):
        attrs.evolve(terminal, terminal_id="t2").verify(authority.public_key, authority="jlis")
    # a terminal claiming a municipality its issuer is not
    other = authority.certify_issuer("131024", rng)
    mixed = attrs.evolve(terminal, issuer=other.certificate)
    with pytest.raises(CardAuthenticationFailed, match="certified by the issuer"):
        mixed.verify(authority.public_key, authority="jlis")
    card = issuer.certify_card(
        card_id="cd" * 16,
        kind="my_number",
        issued_on=date(2016, 1, 4),
        expires_on=date(2026, 1, 3),
        public_key=bytes(32),
    )
    with pytest.raises(CardAuthenticationFailed):
        attrs.evolve(card, expires_on=date(2036, 1, 3)).verify(issuer.certificate)
    with pytest.raises(CardAuthenticationFailed, match="names the issuer"):
        card.verify(other.certificate)


def test_certificates_validate_their_fields() -> None:
    rng = random.Random(6)
    authority = _authority()
    with pytest.raises(InvalidComponent, match="does not keep a resident register"):
        authority.certify_issuer("130001", rng)  # 東京都 itself
    issuer = authority.certify_issuer("131016", rng)
    with pytest.raises(InvalidFormat):
        issuer.certify_terminal("Counter 1", rng)
    good = {
        "card_id": "ef" * 16,
        "kind": "juki",
        "issued_on": date(2010, 4, 1),
        "expires_on": date(2020, 3, 31),
        "public_key": bytes(32),
    }
    issuer.certify_card(**good)  # type: ignore[arg-type]
    for field, bad in [("card_id", "EF" * 16), ("kind", "passport"), ("public_key", bytes(31))]:
        with pytest.raises((InvalidFormat, InvalidComponent)):
            issuer.certify_card(**{**good, field: bad})  # type: ignore[arg-type]
    with pytest.raises(InvalidFormat, match="wrong fields"):
        CardCertificate.from_data({"card_id": "x"})
    with pytest.raises(InvalidFormat, match="not a string"):
        IssuerCertificate.from_data({**issuer.certificate.to_data(), "issuer": 131016})
    card = issuer.certify_card(**good).to_data()  # type: ignore[arg-type]
    with pytest.raises(InvalidFormat, match="public_key: not hex"):
        CardCertificate.from_data({**card, "public_key": "zz"})
    with pytest.raises(InvalidFormat, match="issued_on: not a date"):
        CardCertificate.from_data({**card, "issued_on": "2010-02-30"})
    with pytest.raises(InvalidFormat):
        CardAuthority.generate("JLIS", rng)


def test_private_keys_are_not_shown_or_serialised() -> None:
    rng = random.Random(7)
    authority = _authority()
    issuer = authority.certify_issuer("131016", rng)
    terminal = issuer.certify_terminal("t1", rng)
    assert repr(authority) == "CardAuthority(name='jlis')"
    assert repr(issuer) == "IssuerKey(municipality=LocalGovernmentCode('131016'))"
    for holder in (authority, issuer, terminal):
        with pytest.raises(TypeError, match="not serialised"):
            pickle.dumps(holder)
        with pytest.raises(TypeError, match="not serialised"):
            copy.deepcopy(holder)
        assert not hasattr(holder, "__dict__")
