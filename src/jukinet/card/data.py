"""What a card carries in the open: its kind, data, printed items and public chain.

:class:`CardData` is written on the chip at issue (住基法30条の44; for the
My Number card 番号法17条1項) and read by anyone with :meth:`Chip.read_public
<jukinet.card.chip.Chip.read_public>`, which returns it with the card's
certificate chain as a :class:`ChipPublic`. None of it is secret.

>>> import random
>>> from jukinet.domain.individual_number import IndividualNumber
>>> from jukinet.domain.names import PersonName
>>> from jukinet.domain.address import Address
>>> from jukinet.domain.resident import Sex
>>> printed = PrintedItems(name=PersonName(family="山田", given="花子"),
...     address=Address("131016", "千代田1-1"), birth_date=date(1990, 5, 1), sex=Sex.FEMALE)
>>> data = CardData(card_id=new_card_id(random.Random(1)), kind=CardKind.MY_NUMBER,
...     code=IndividualNumber("621498320257"), issuer="131016", issued_on=date(2016, 1, 4),
...     expires_on=date(2026, 5, 1), photo=True, printed=printed, photo_digest=bytes(32))
>>> data.kind, data.code
(<CardKind.MY_NUMBER: 'my_number'>, IndividualNumber('621498320257'))
"""

from __future__ import annotations

import random
import re
from datetime import date
from typing import Any

import attrs

from jukinet.card.keys import CardCertificate, IssuerCertificate, _municipality
from jukinet.card.kinds import CardKind, ChipCode, rules_for
from jukinet.domain import codec
from jukinet.domain.address import Address
from jukinet.domain.individual_number import IndividualNumber
from jukinet.domain.lg_code import LocalGovernmentCode
from jukinet.domain.names import PersonName
from jukinet.domain.resident import Sex
from jukinet.domain.resident_code import ResidentCode
from jukinet.errors import InvalidComponent, InvalidFormat

__all__ = ["CardData", "CardKind", "ChipPublic", "PrintedItems", "new_card_id"]


def _code_type(kind: CardKind) -> type[ResidentCode] | type[IndividualNumber]:
    """The number the chip of ``kind`` carries (:attr:`~jukinet.card.kinds.KindRules.chip_code`)."""
    if rules_for(kind).chip_code is ChipCode.RESIDENT_CODE:
        return ResidentCode
    return IndividualNumber


def _date(_i: Any, attribute: Any, value: Any) -> None:
    if type(value) is not date:
        raise TypeError(f"{attribute.name}: expected a date, got {type(value).__name__}")


@attrs.frozen(kw_only=True)
class PrintedItems:
    """What the face of a photo card (B type) shows besides the photo and expiry:
    name, address, birth date and sex."""

    name: PersonName = attrs.field(validator=attrs.validators.instance_of(PersonName))
    address: Address = attrs.field(validator=attrs.validators.instance_of(Address))
    birth_date: date = attrs.field(validator=_date)
    sex: Sex = attrs.field(validator=attrs.validators.instance_of(Sex))


def new_card_id(rng: random.Random) -> str:
    """A fresh card id: 128 random bits from ``rng`` as 32 lowercase hex digits."""
    return rng.randbytes(16).hex()


@attrs.frozen(kw_only=True)
class CardData:
    """The data written on a card at issue.

    ``code`` is the resident code (:class:`~jukinet.domain.resident_code.ResidentCode`)
    on a Juki card and the individual number
    (:class:`~jukinet.domain.individual_number.IndividualNumber`) on a My Number
    card. A photo card (``photo=True``: the Juki card's B type; every My Number card)
    carries its printed items and the SHA-256 ``photo_digest`` of its photo; a
    photo-less card (A type) carries neither. ``expires_on`` is the last day the
    card is in effect.
    """

    card_id: str = attrs.field()
    kind: CardKind = attrs.field(validator=attrs.validators.instance_of(CardKind))
    code: ResidentCode | IndividualNumber = attrs.field()
    issuer: LocalGovernmentCode = attrs.field(converter=_municipality)
    issued_on: date = attrs.field(validator=_date)
    expires_on: date = attrs.field(validator=_date)
    photo: bool = attrs.field(validator=attrs.validators.instance_of(bool))
    printed: PrintedItems | None = attrs.field(
        default=None,
        validator=attrs.validators.optional(attrs.validators.instance_of(PrintedItems)),
    )
    photo_digest: bytes | None = attrs.field(default=None, repr=False)

    @card_id.validator
    def _check_card_id(self, _a: Any, value: Any) -> None:
        if not isinstance(value, str) or not re.fullmatch(r"[0-9a-f]{32}", value):
            raise InvalidFormat(
                "the card id is not 32 lowercase hex digits",
                field="card_id",
                expected="a 128-bit serial",
            )

    def __attrs_post_init__(self) -> None:
        wanted = _code_type(self.kind)
        if not isinstance(self.code, wanted):
            raise InvalidComponent(
                f"a {self.kind.value} card carries a {type(self.code).__name__}",
                field="code",
                expected=wanted.__name__,
            )
        if self.expires_on <= self.issued_on:
            raise InvalidComponent(
                f"the card expires on {self.expires_on}, not after its issue {self.issued_on}",
                field="expires_on",
                expected="a day after the issue date",
            )
        if not self.photo and not rules_for(self.kind).photo_choice:
            raise InvalidComponent(
                f"a {rules_for(self.kind).name} without a photo",
                field="photo",
                expected="photo=True",
            )
        if self.photo:
            if self.printed is None:
                raise InvalidComponent(
                    "a photo card without printed items", field="printed", expected="PrintedItems"
                )
            if not isinstance(self.photo_digest, bytes) or len(self.photo_digest) != 32:
                raise InvalidFormat(
                    "the photo digest is not 32 bytes", field="photo_digest", expected="SHA-256"
                )
        elif self.printed is not None or self.photo_digest is not None:
            raise InvalidComponent(
                "a photo-less card with printed items or a photo digest",
                field="photo",
                expected="printed=None and photo_digest=None on an A-type card",
            )

    def to_data(self) -> dict[str, Any]:
        """The data as JSON data (codes as digits, dates ISO, the digest in hex).

        >>> from jukinet.domain.resident_code import ResidentCode
        >>> data = CardData(card_id="0" * 32, kind=CardKind.JUKI, code=ResidentCode("12345678903"),
        ...     issuer="131016", issued_on=date(2010, 4, 1), expires_on=date(2020, 3, 31),
        ...     photo=False)
        >>> CardData.from_data(data.to_data()) == data
        True
        """
        return {
            "card_id": self.card_id,
            "code": self.code.value,
            "expires_on": self.expires_on.isoformat(),
            "issued_on": self.issued_on.isoformat(),
            "issuer": self.issuer.value,
            "kind": self.kind.value,
            "photo": self.photo,
            "photo_digest": None if self.photo_digest is None else self.photo_digest.hex(),
            "printed": None if self.printed is None else codec.to_data(self.printed),
        }

    @classmethod
    def from_data(cls, data: Any) -> CardData:
        """Rebuild (and validate) what :meth:`to_data` gave."""
        if not isinstance(data, dict) or set(data) != _DATA_KEYS:
            raise InvalidFormat(
                "the card data has the wrong fields", expected=", ".join(sorted(_DATA_KEYS))
            )
        try:
            kind = CardKind(data["kind"])
            digest = None if data["photo_digest"] is None else bytes.fromhex(data["photo_digest"])
        except (TypeError, ValueError):
            raise InvalidFormat(
                "the card kind or photo digest is malformed",
                expected="'juki' or 'my_number', and hex digits or null",
            ) from None
        code_type = _code_type(kind)
        printed = data["printed"]
        return cls(
            card_id=data["card_id"],
            kind=kind,
            code=code_type(data["code"]),
            issuer=data["issuer"],
            issued_on=codec.from_data(date, data["issued_on"]),
            expires_on=codec.from_data(date, data["expires_on"]),
            photo=data["photo"],
            printed=None if printed is None else codec.from_data(PrintedItems, printed),
            photo_digest=digest,
        )


_DATA_KEYS = frozenset(attrs.fields_dict(CardData))


@attrs.frozen(kw_only=True)
class ChipPublic:
    """What anyone may read from a card: its data and its certificate chain."""

    data: CardData
    certificate: CardCertificate
    issuer: IssuerCertificate
