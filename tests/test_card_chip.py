"""The simulated chip: PIN, mutual authentication, application areas, sealed image,
and that no public path yields the chip's private key or its PIN."""

from __future__ import annotations

import base64
import copy
import hashlib
import pickle
import random
from collections.abc import Callable
from datetime import date

import attrs
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from hypothesis import given
from hypothesis import strategies as st

from jukinet.card import (
    AREA_MEMORY,
    DEFAULT_SCRYPT_COST,
    CardAuthority,
    CardData,
    CardKind,
    CardSession,
    Chip,
    ChipPublic,
    CounterTerminal,
    IssuerKey,
    PrintedItems,
    ScryptCost,
    new_card_id,
)
from jukinet.card.chip import external_auth_bytes, internal_auth_bytes
from jukinet.card.keys import TerminalCertificate
from jukinet.card.pin import hash_pin
from jukinet.domain.address import Address
from jukinet.domain.individual_number import IndividualNumber
from jukinet.domain.names import PersonName
from jukinet.domain.resident import Sex
from jukinet.domain.resident_code import ResidentCode
from jukinet.errors import (
    AreaAccessDenied,
    CardAuthenticationFailed,
    CardError,
    CardImageInvalid,
    CardLocked,
    CardMemoryFull,
    InvalidComponent,
    InvalidFormat,
    InvalidState,
    JukinetError,
    WrongPin,
)

CHEAP = ScryptCost(n=2**4, r=1, p=1)
SEALING_KEY = bytes(range(32))
KEY_A = b"library-card-key"  # 16 bytes
KEY_B = b"seal-registry-key"


@attrs.frozen
class World:
    rng: random.Random
    authority: CardAuthority
    issuer: IssuerKey
    terminal: CounterTerminal


def world(seed: int = 1) -> World:
    rng = random.Random(seed)
    authority = CardAuthority.generate("jlis", rng)
    issuer = authority.certify_issuer("131016", rng)
    terminal = CounterTerminal(issuer.certify_terminal("chiyoda-1", rng), rng)
    return World(rng, authority, issuer, terminal)


def juki_data(rng: random.Random, *, photo: bool = False) -> CardData:
    printed = PrintedItems(
        name=PersonName(family="山田", given="太郎"),
        address=Address("131016", "千代田1-1"),
        birth_date=date(1970, 1, 2),
        sex=Sex.MALE,
    )
    return CardData(
        card_id=new_card_id(rng),
        kind=CardKind.JUKI,
        code=ResidentCode("12345678903"),
        issuer="131016",
        issued_on=date(2010, 4, 1),
        expires_on=date(2020, 3, 31),
        photo=photo,
        printed=printed if photo else None,
        photo_digest=hashlib.sha256(b"photo").digest() if photo else None,
    )


def issue(w: World, pin: str = "1234", *, photo: bool = False) -> Chip:
    return w.issuer.issue_card(juki_data(w.rng, photo=photo), pin, w.rng, scrypt_cost=CHEAP)


# --- data ----------------------------------------------------------------------


def test_card_data_rules() -> None:
    rng = random.Random(1)
    data = juki_data(rng, photo=True)
    assert CardData.from_data(data.to_data()) == data
    with pytest.raises(InvalidComponent, match="carries a IndividualNumber"):
        attrs.evolve(data, code=IndividualNumber("621498320257"))
    with pytest.raises(InvalidComponent, match="without a photo"):
        attrs.evolve(
            data, kind=CardKind.MY_NUMBER, code=IndividualNumber("621498320257"), photo=False
        )
    with pytest.raises(InvalidComponent, match="photo-less card"):
        attrs.evolve(data, photo=False)
    with pytest.raises(InvalidFormat, match="photo digest"):
        attrs.evolve(data, photo_digest=b"short")
    with pytest.raises(InvalidComponent, match="not after its issue"):
        attrs.evolve(data, expires_on=data.issued_on)
    with pytest.raises(InvalidFormat, match="card id"):
        attrs.evolve(data, card_id="x" * 32)
    with pytest.raises(InvalidFormat, match="card kind"):
        CardData.from_data({**data.to_data(), "kind": "passport"})
    with pytest.raises(InvalidFormat, match="wrong fields"):
        CardData.from_data({"card_id": data.card_id})


def test_issue_checks_issuer_and_pin() -> None:
    w = world()
    other = w.authority.certify_issuer("131024", w.rng)
    with pytest.raises(InvalidComponent, match="the issuing municipality's own key"):
        other.issue_card(juki_data(w.rng), "1234", w.rng, scrypt_cost=CHEAP)
    for bad in ("123", "12345", "12a4", "１２３４"):
        with pytest.raises(InvalidFormat, match="not 4 digits") as info:
            w.issuer.issue_card(juki_data(w.rng), bad, w.rng, scrypt_cost=CHEAP)
        assert bad not in str(info.value)
    with pytest.raises(TypeError, match="issue_card"):
        Chip()


def test_default_scrypt_cost_is_the_documented_one() -> None:
    assert ScryptCost(n=2**14, r=8, p=1) == DEFAULT_SCRYPT_COST
    w = world()
    chip = w.issuer.issue_card(juki_data(w.rng), "2468", w.rng)
    assert chip.scrypt_cost == ScryptCost(n=2**14, r=8, p=1)
    secrets = chip._secrets
    assert secrets.pin_hash == hash_pin("2468", secrets.salt, ScryptCost(n=2**14, r=8, p=1))
    chip.verify_pin("2468")
    with pytest.raises(InvalidComponent):
        ScryptCost(n=3, r=1, p=1)


# --- PIN -------------------------------------------------------------------------


def test_two_wrong_then_right_resets_the_count() -> None:
    chip = issue(world())
    for left in (2, 1):
        with pytest.raises(WrongPin, match=f"{left} tries left"):
            chip.verify_pin("0000")
    chip.verify_pin("1234")
    assert chip.tries_left == 3
    assert not chip.locked
    for _ in range(2):
        with pytest.raises(WrongPin):
            chip.verify_pin("0000")
    chip.verify_pin("1234")  # still not locked: the count started again


def test_three_wrong_lock_and_locked_refuses_the_right_pin() -> None:
    chip = issue(world())
    for _ in range(2):
        with pytest.raises(WrongPin):
            chip.verify_pin("9999")
    with pytest.raises(CardLocked, match="3 times"):
        chip.verify_pin("9999")
    assert chip.locked
    assert chip.tries_left == 0
    with pytest.raises(CardLocked):
        chip.verify_pin("1234")
    assert chip.locked


def lock(chip: Chip) -> None:
    for _ in range(3):
        with pytest.raises((WrongPin, CardLocked)):
            chip.verify_pin("0000")
    assert chip.locked


def test_counter_reset_unlocks() -> None:
    w = world()
    chip = issue(w)
    lock(chip)
    session = w.terminal.authenticate(chip)
    with pytest.raises(InvalidState, match="identity was not confirmed"):
        session.reset_pin("4321", identity_confirmed=False)
    assert chip.locked
    session.reset_pin("4321", identity_confirmed=True)
    assert [chip.locked, chip.tries_left, session.pin_verified] == [False, 3, False]
    with pytest.raises(WrongPin):
        chip.verify_pin("1234")  # the old PIN is gone
    session.verify_pin("4321")
    assert session.pin_verified


def test_reset_without_a_counter_session_is_refused() -> None:
    w = world()
    chip = issue(w)
    lock(chip)
    with pytest.raises(CardAuthenticationFailed, match="counter session"):
        chip.reset_pin("4321")
    # the terminal proved itself but the card has not yet: still not a counter session
    challenge = chip.get_challenge()
    key = w.issuer.certify_terminal("half-way", w.rng)
    chip.external_authenticate(
        key.certificate,
        key.sign(external_auth_bytes(challenge, card_id=chip.card_id, terminal_id="half-way")),
    )
    with pytest.raises(CardAuthenticationFailed, match="counter session"):
        chip.reset_pin("4321")
    # a session that ended (card pulled, or another terminal) refuses too
    session = w.terminal.authenticate(chip)
    session.end()
    with pytest.raises(CardAuthenticationFailed, match="has ended"):
        session.reset_pin("4321", identity_confirmed=True)
    stale = w.terminal.authenticate(chip)
    w.terminal.authenticate(chip)
    with pytest.raises(CardAuthenticationFailed, match="has ended"):
        stale.reset_pin("4321", identity_confirmed=True)
    assert chip.locked


# --- mutual authentication ------------------------------------------------------


def record_terminal_answer(w: World, chip: Chip) -> tuple[TerminalCertificate, bytes]:
    """Eavesdrop on an honest exchange: the terminal's certificate and signature."""
    seen: list[tuple[TerminalCertificate, bytes]] = []
    real = chip.external_authenticate

    class Tap:
        def __getattr__(self, name: str) -> object:
            return getattr(chip, name)

        def external_authenticate(self, cert: TerminalCertificate, sig: bytes) -> None:
            seen.append((cert, sig))
            real(cert, sig)

    w.terminal.authenticate(Tap())  # type: ignore[arg-type]
    return seen[0]


def test_replayed_terminal_answer_never_works() -> None:
    w = world()
    chip = issue(w)
    cert, signature = record_terminal_answer(w, chip)
    # the challenge it answered is used up
    with pytest.raises(CardAuthenticationFailed, match="no challenge"):
        chip.external_authenticate(cert, signature)
    # nor does it answer a fresh challenge
    chip.get_challenge()
    with pytest.raises(CardAuthenticationFailed, match="does not match"):
        chip.external_authenticate(cert, signature)
    # a failed answer also uses up the challenge
    with pytest.raises(CardAuthenticationFailed, match="no challenge"):
        chip.external_authenticate(cert, signature)
    assert chip.session_terminal is None
    with pytest.raises(CardAuthenticationFailed, match="has not authenticated"):
        chip.internal_authenticate(bytes(16))


class ReplayingCard:
    """A clone that has the card's public data and one recorded answer, not its key."""

    def __init__(self, chip: Chip, answer: bytes) -> None:
        self._chip = chip
        self._answer = answer

    def __getattr__(self, name: str) -> object:
        return getattr(self._chip, name)

    def internal_authenticate(self, nonce: bytes) -> bytes:
        self._chip.internal_authenticate(nonce)
        return self._answer


def test_replayed_card_answer_never_works() -> None:
    w = world()
    chip = issue(w)
    answers: list[bytes] = []
    real = chip.internal_authenticate

    class Tap:
        def __getattr__(self, name: str) -> object:
            return getattr(chip, name)

        def internal_authenticate(self, nonce: bytes) -> bytes:
            answers.append(real(nonce))
            return answers[-1]

    w.terminal.authenticate(Tap())  # type: ignore[arg-type]
    with pytest.raises(CardAuthenticationFailed, match="does not match this terminal's nonce"):
        w.terminal.authenticate(ReplayingCard(chip, answers[0]))  # type: ignore[arg-type]
    assert chip.session_terminal is None  # the terminal ended the failed session
    # an answer the card gave another terminal does not do either
    other = CounterTerminal(w.issuer.certify_terminal("chiyoda-2", w.rng), w.rng)
    nonce = bytes(16)
    other.authenticate(chip)
    for_other = chip.internal_authenticate(nonce)
    assert for_other != chip._secrets.private.sign(
        internal_auth_bytes(nonce, card_id=chip.card_id, terminal_id="chiyoda-1")
    )
    with pytest.raises(CardAuthenticationFailed):
        w.terminal.authenticate(ReplayingCard(chip, for_other))  # type: ignore[arg-type]


def test_card_from_an_unknown_issuer_is_refused() -> None:
    w = world(1)
    # an issuer certified by another authority (even one calling itself "jlis")
    rogue = CardAuthority.generate("jlis", random.Random(99)).certify_issuer("131016", w.rng)
    card = rogue.issue_card(juki_data(w.rng), "1234", w.rng, scrypt_cost=CHEAP)
    with pytest.raises(CardAuthenticationFailed, match="issuer certificate"):
        w.terminal.authenticate(card)
    # an issuer of another authority name
    other = CardAuthority.generate("other", w.rng).certify_issuer("131016", w.rng)
    card = other.issue_card(juki_data(w.rng), "1234", w.rng, scrypt_cost=CHEAP)
    with pytest.raises(CardAuthenticationFailed, match="certified by 'other'"):
        w.terminal.authenticate(card)
    assert card.session_terminal is None


def test_terminal_of_an_unknown_authority_is_refused_by_the_card() -> None:
    w = world(1)
    chip = issue(w)
    foreign = world(2).terminal
    # a terminal of another authority refuses the card, and the card refuses it
    with pytest.raises(CardAuthenticationFailed):
        foreign.authenticate(chip)
    challenge = chip.get_challenge()
    key = world(2).issuer.certify_terminal("foreign", random.Random(3))
    signature = key.sign(
        external_auth_bytes(challenge, card_id=chip.card_id, terminal_id=key.terminal_id)
    )
    with pytest.raises(CardAuthenticationFailed, match="does not verify"):
        chip.external_authenticate(key.certificate, signature)


def test_certificate_that_does_not_describe_the_card_is_refused() -> None:
    w = world()
    chip = issue(w)

    class Liar:
        def __getattr__(self, name: str) -> object:
            return getattr(chip, name)

        def read_public(self) -> ChipPublic:
            public = chip.read_public()
            later = attrs.evolve(public.data, expires_on=date(2030, 3, 31))
            return attrs.evolve(public, data=later)

    with pytest.raises(CardAuthenticationFailed, match="does not describe"):
        w.terminal.authenticate(Liar())  # type: ignore[arg-type]


def test_session_is_bound_to_the_card() -> None:
    w = world()
    chip = issue(w, photo=True)
    session = w.terminal.authenticate(chip)
    assert isinstance(session, CardSession)
    assert session.active
    assert session.card_id == chip.card_id
    assert session.data.photo
    assert session.public.certificate.card_id == chip.card_id
    assert repr(session) == f"CardSession(card_id={chip.card_id!r}, terminal_id='chiyoda-1')"
    assert chip.session_terminal == "chiyoda-1"
    assert chip.session_number == 1
    chip.get_challenge()  # another exchange starts: this session is over
    assert [session.active, session.pin_verified] == [False, False]
    with pytest.raises(CardAuthenticationFailed):
        session.verify_pin("1234")


# --- application areas ------------------------------------------------------------


def test_areas_are_kept_apart() -> None:
    w = world()
    chip = issue(w)
    session = w.terminal.authenticate(chip)
    session.create_area("library", 100, KEY_A)
    session.create_area("seal-registry", 200, KEY_B)
    session.end()  # applications use their own keys, without the counter
    chip.write_area("library", KEY_A, b"member 42")
    chip.write_area("seal-registry", KEY_B, b"seal 7")
    assert chip.read_area("library", KEY_A) == b"member 42"
    assert chip.read_area("seal-registry", KEY_B) == b"seal 7"
    with pytest.raises(AreaAccessDenied):
        chip.read_area("library", KEY_B)
    with pytest.raises(AreaAccessDenied):
        chip.write_area("seal-registry", KEY_A, b"overwritten")
    with pytest.raises(AreaAccessDenied):
        chip.read_area("vending", KEY_A)
    assert chip.read_area("seal-registry", KEY_B) == b"seal 7"
    assert dict(chip.areas()) == {"library": 100, "seal-registry": 200}
    assert chip.free_memory == AREA_MEMORY - 300


def test_areas_need_the_counter_and_are_finite() -> None:
    w = world()
    chip = issue(w)
    with pytest.raises(CardAuthenticationFailed):
        chip.create_area("library", 10, KEY_A)
    session = w.terminal.authenticate(chip)
    session.create_area("library", AREA_MEMORY - 100, KEY_A)
    with pytest.raises(CardMemoryFull, match="101 bytes asked, 100 free"):
        session.create_area("vending", 101, KEY_B)
    session.create_area("vending", 100, KEY_B)
    assert chip.free_memory == 0
    with pytest.raises(CardError, match="already"):
        session.create_area("vending", 1, KEY_B)
    with pytest.raises(CardMemoryFull, match="at most the area's 100 bytes"):
        chip.write_area("vending", KEY_B, bytes(101))
    with pytest.raises(AreaAccessDenied):
        session.remove_area("vending", KEY_A)
    session.end()
    with pytest.raises(CardAuthenticationFailed):
        chip.remove_area("vending", KEY_B)
    session = w.terminal.authenticate(chip)
    session.remove_area("vending", KEY_B)
    assert chip.free_memory == 100
    with pytest.raises(AreaAccessDenied):
        chip.read_area("vending", KEY_B)
    with pytest.raises(InvalidFormat, match="access key"):
        chip.read_area("library", b"short")
    with pytest.raises(InvalidFormat, match="application id"):
        chip.read_area("Library!", KEY_A)


# --- sealed image ---------------------------------------------------------------------


def sealed_card() -> tuple[World, Chip, bytes]:
    w = world()
    chip = issue(w, photo=True)
    session = w.terminal.authenticate(chip)
    session.create_area("library", 64, KEY_A)
    chip.write_area("library", KEY_A, b"member 42")
    with pytest.raises(WrongPin):
        chip.verify_pin("0000")
    return w, chip, chip.seal(SEALING_KEY)


def test_image_round_trip_keeps_the_card() -> None:
    w, chip, image = sealed_card()
    again = Chip.unseal(image, SEALING_KEY, random.Random(5))
    assert again.read_public() == chip.read_public()
    assert again.tries_left == 2
    assert again.session_terminal is None
    assert again.read_area("library", KEY_A) == b"member 42"
    assert w.terminal.authenticate(again).active
    again.verify_pin("1234")
    assert chip.seal(SEALING_KEY) != image  # a fresh nonce every time


def secret_forms(chip: Chip) -> list[bytes]:
    secrets = chip._secrets
    private = secrets.private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    forms = []
    for raw in (private, secrets.pin_hash, secrets.salt):
        forms += [raw, raw.hex().encode(), base64.b64encode(raw)]
    return forms


def test_image_hides_key_and_pin_hash() -> None:
    _, chip, image = sealed_card()
    for form in secret_forms(chip):
        assert form not in image


def test_changed_image_is_refused() -> None:
    _, _, image = sealed_card()
    for i in range(len(image)):
        changed = bytearray(image)
        changed[i] ^= 0x01
        with pytest.raises(CardImageInvalid):
            Chip.unseal(bytes(changed), SEALING_KEY, random.Random(1))
    for length in (0, 3, 20, 40, len(image) - 1):
        with pytest.raises(CardImageInvalid):
            Chip.unseal(image[:length], SEALING_KEY, random.Random(1))
    with pytest.raises(CardImageInvalid, match="another key"):
        Chip.unseal(image, bytes(32), random.Random(1))
    with pytest.raises(CardImageInvalid):
        Chip.unseal(image + b"\x00", SEALING_KEY, random.Random(1))
    with pytest.raises(InvalidFormat, match="sealing key"):
        Chip.unseal(image, b"short", random.Random(1))


# --- no public path yields a secret -----------------------------------------------------


def _outcome(call: Callable[[], object]) -> list[bytes]:
    try:
        value = call()
    except (JukinetError, TypeError, ValueError) as exc:
        return [repr(exc).encode(), str(exc).encode(), repr(exc.args).encode(), pickle.dumps(exc)]
    if isinstance(value, bytes):
        return [value, repr(value).encode()]
    return [repr(value).encode(), str(value).encode()]


def public_view(w: World, chip: Chip, pins: tuple[str, ...]) -> list[bytes]:
    """Everything reachable on the card without a secret (in a fixed order)."""
    wrong = next(p for p in ("0000", "1111", "2222") if p not in pins)
    out = [repr(chip).encode(), str(chip).encode()]
    for name in sorted(n for n in dir(chip) if not n.startswith("_")):
        attr = getattr(chip, name)

        def value(attr: object = attr) -> object:
            return attr

        out += _outcome(attr if callable(attr) else value)
    public = chip.read_public()
    out += [repr(public).encode(), repr(public.data.to_data()).encode()]
    out += [repr(public.certificate.to_data()).encode(), repr(public.issuer.to_data()).encode()]
    out += _outcome(lambda: chip.verify_pin(wrong))
    out += _outcome(lambda: chip.verify_pin("12a4"))
    out += _outcome(lambda: chip.read_area("library", KEY_B))
    out += _outcome(lambda: chip.external_authenticate(None, b""))  # type: ignore[arg-type]
    out += _outcome(lambda: chip.internal_authenticate(b"x"))
    out += _outcome(lambda: chip.seal(b"short"))
    out += _outcome(lambda: pickle.dumps(chip))
    out += _outcome(lambda: copy.copy(chip))
    out += _outcome(lambda: copy.deepcopy(chip))
    out += _outcome(lambda: vars(chip))
    session = w.terminal.authenticate(chip)
    out += [repr(session).encode(), repr(session.pin_verified).encode()]
    out += _outcome(lambda: session.reset_pin("9876", identity_confirmed=False))
    out += _outcome(lambda: session.create_area("library", 16, KEY_A))
    out += _outcome(lambda: chip.read_area("library", KEY_A))
    out += _outcome(lambda: session.verify_pin(wrong))
    out += _outcome(lambda: session.verify_pin(wrong))
    out += _outcome(lambda: chip.verify_pin(wrong))  # locks
    return out


@given(
    seed=st.integers(0, 2**32),
    pins=st.lists(st.from_regex(r"[0-9]{4}", fullmatch=True), min_size=2, max_size=2),
)
def test_no_public_path_yields_the_key_or_the_pin(seed: int, pins: list[str]) -> None:
    views, cards = [], []
    for pin in pins:  # the same card twice, differing only in its PIN
        w = world(seed)
        chip = issue(w, pin, photo=seed % 2 == 0)
        views.append(public_view(w, chip, tuple(pins)))
        cards.append(chip)
    # nothing public depends on the PIN: not its digits, not its hash
    assert views[0] == views[1]
    for chip, view in zip(cards, views, strict=True):
        blob = b"\n".join(view)
        image = chip.seal(SEALING_KEY)
        for form in secret_forms(chip):
            assert form not in blob
            assert form not in image


def test_chip_is_not_pickled_or_copied() -> None:
    chip = issue(world())
    assert repr(chip) == f"Chip(card_id={chip.card_id!r}, kind='juki')"
    for attempt in (pickle.dumps, copy.copy, copy.deepcopy, lambda c: c.__getstate__()):
        with pytest.raises(CardError, match="not pickled or copied"):
            attempt(chip)
    assert not hasattr(chip, "__dict__")
