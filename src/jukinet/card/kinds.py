"""The two resident card kinds as dated facts: when each was issued, how long it is
valid, what it shows and carries, and which procedures accept it.

The 住民基本台帳カード (Juki card, 住基法旧30条の44) was issued from 2003-08-25 to
2015-12-28; the 個人番号カード (My Number card, 番号法17条) from 2016-01-01. Both carry
the same chip machinery (:mod:`jukinet.card.chip`); what differs is data, kept here
in :class:`KindRules` rows so that a caller working at a date gets that date's
rules (domain-facts §8, §13).

>>> from datetime import date
>>> rules = rules_for(CardKind.JUKI)
>>> rules.issuable_on(date(2015, 12, 28)), rules.issuable_on(date(2015, 12, 29))
(True, False)
>>> rules.expiry(issued_on=date(2015, 12, 28), born_on=date(1970, 1, 1))
datetime.date(2025, 12, 28)
>>> kinds_issuable_on(date(2016, 1, 1))
(<CardKind.MY_NUMBER: 'my_number'>,)
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import date, timedelta

import attrs

from jukinet.errors import InvalidState

__all__ = [
    "CardKind",
    "ChipCode",
    "KindRules",
    "PrintedItem",
    "accepted_for_special_move",
    "add_years",
    "check_issuable",
    "kinds_issuable_on",
    "rules_for",
]


class CardKind(enum.Enum):
    """The card kind (カードの種類)."""

    JUKI = "juki"
    """住民基本台帳カード: the Juki card (2003-08-25 to 2015-12-28)."""
    MY_NUMBER = "my_number"
    """個人番号カード: the My Number card (from 2016-01-01)."""


class ChipCode(enum.Enum):
    """Which number the chip carries as the holder's key."""

    RESIDENT_CODE = "resident_code"
    """住民票コード (the Juki card's 住基アプリケーション)."""
    INDIVIDUAL_NUMBER = "individual_number"
    """個人番号 (the My Number card, 番号法2条7項)."""


class PrintedItem(enum.Enum):
    """An item printed on the card's face."""

    NAME = "name"
    ADDRESS = "address"
    BIRTH_DATE = "birth_date"
    SEX = "sex"
    PHOTO = "photo"
    EXPIRY = "expiry"
    INDIVIDUAL_NUMBER = "individual_number"


def add_years(start: date, years: int) -> date:
    """``start`` moved by ``years`` calendar years; 29 February becomes 1 March when the
    target year has none (so that "the day before" it is the month's last day, 民法143条2項).

    >>> add_years(date(2016, 2, 29), 10)
    datetime.date(2026, 3, 1)
    """
    try:
        return start.replace(year=start.year + years)
    except ValueError:
        return date(start.year + years, 3, 1)


def _period_end(issued_on: date, years: int) -> date:
    """The last day of a period of ``years`` years counted from the day after
    ``issued_on`` (初日不算入, 民法140条・143条): the day before the corresponding day."""
    return add_years(issued_on + timedelta(days=1), years) - timedelta(days=1)


def _nth_birthday_after(issued_on: date, born_on: date, n: int) -> date:
    """The holder's ``n``-th birthday after ``issued_on`` (a 29 February birthday falls
    on 28 February in a common year)."""
    seen = 0
    year = issued_on.year
    while True:
        try:
            birthday = born_on.replace(year=year)
        except ValueError:
            birthday = date(year, 2, 28)
        if birthday > issued_on:
            seen += 1
            if seen == n:
                return birthday
        year += 1


def _age_on(born_on: date, day: date) -> int:
    """Age in whole years on ``day`` (the year is complete on the birthday)."""
    had_birthday = (day.month, day.day) >= (born_on.month, born_on.day)
    return day.year - born_on.year - (0 if had_birthday else 1)


def _juki_expiry(issued_on: date, born_on: date) -> date:
    # 10 years from issue for Japanese residents (domain-facts §8: niiza, aikawa pages)
    return _period_end(issued_on, 10)


ADULT_AGE_CHANGED_ON = date(2022, 4, 1)
"""From this day the My Number card's 10-birthday validity starts at 18, before it at 20
(the age of majority lowered by 平成30年法律第59号; 番号法施行規則23条)."""


def _my_number_expiry(issued_on: date, born_on: date) -> date:
    # 10th birthday after issue for adults, 5th for minors (番号法施行規則23条;
    # domain-facts §8: "10 birthdays after issue for adults, 5 for under-18s")
    adult = 18 if issued_on >= ADULT_AGE_CHANGED_ON else 20
    birthdays = 10 if _age_on(born_on, issued_on) >= adult else 5
    return _nth_birthday_after(issued_on, born_on, birthdays)


_FACE_WITHOUT_PHOTO = (PrintedItem.NAME, PrintedItem.EXPIRY)
_FACE_WITH_PHOTO = (
    PrintedItem.NAME,
    PrintedItem.ADDRESS,
    PrintedItem.BIRTH_DATE,
    PrintedItem.SEX,
    PrintedItem.PHOTO,
    PrintedItem.EXPIRY,
)


@attrs.frozen(kw_only=True)
class KindRules:
    """The dated facts of one card kind.

    ``issued_from``/``issued_until`` bound the days a new card of this kind may be
    issued (inclusive; ``None``: still issued). ``photo_choice`` says whether the
    holder chooses a card with or without a photo (the Juki card's types B and A);
    otherwise every card has one. ``continued_use_from`` is the first day on which
    a move keeps the card in effect (継続利用); before it, a move-out ends the card.
    ``special_move_until`` is the last day the card is accepted for the special
    move-in without a certificate (24条の2; ``None``: while the card is in effect).
    """

    kind: CardKind
    name: str
    """The kind's name in law."""
    issued_from: date
    issued_until: date | None
    chip_code: ChipCode
    photo_choice: bool
    continued_use_from: date
    special_move_until: date | None
    _expiry: Callable[[date, date], date] = attrs.field(alias="expiry_rule", repr=False)

    def issuable_on(self, day: date) -> bool:
        """Whether a new card of this kind may be issued on ``day``."""
        return self.issued_from <= day and (self.issued_until is None or day <= self.issued_until)

    def expiry(self, *, issued_on: date, born_on: date, stay_until: date | None = None) -> date:
        """The last day a card issued on ``issued_on`` is in effect.

        ``stay_until`` is a foreign resident's end of stay: the card ends with it when
        that comes first (domain-facts §8: "for foreign residents it followed their
        period of stay").
        """
        last = self._expiry(issued_on, born_on)
        if stay_until is not None and stay_until < last:
            last = stay_until
        return last

    def printed(self, *, photo: bool) -> tuple[PrintedItem, ...]:
        """The items on the card's face (the back of a My Number card adds the number)."""
        if self.kind is CardKind.MY_NUMBER:
            return (*_FACE_WITH_PHOTO, PrintedItem.INDIVIDUAL_NUMBER)
        return _FACE_WITH_PHOTO if photo else _FACE_WITHOUT_PHOTO

    def serves_as_photo_id(self, *, photo: bool) -> bool:
        """Whether the card is an official photo identity document (type B, My Number)."""
        return photo or not self.photo_choice

    def continues_after_move(self, moved_out_on: date) -> bool:
        """Whether a move-out on ``moved_out_on`` keeps the card (continued use possible)."""
        return moved_out_on >= self.continued_use_from


_RULES = {
    CardKind.JUKI: KindRules(
        kind=CardKind.JUKI,
        name="住民基本台帳カード",
        issued_from=date(2003, 8, 25),
        issued_until=date(2015, 12, 28),
        chip_code=ChipCode.RESIDENT_CODE,
        photo_choice=True,
        continued_use_from=date(2012, 7, 9),
        special_move_until=None,
        expiry_rule=_juki_expiry,
    ),
    CardKind.MY_NUMBER: KindRules(
        kind=CardKind.MY_NUMBER,
        name="個人番号カード",
        issued_from=date(2016, 1, 1),
        issued_until=None,
        chip_code=ChipCode.INDIVIDUAL_NUMBER,
        photo_choice=False,
        continued_use_from=date(2016, 1, 1),
        special_move_until=None,
        expiry_rule=_my_number_expiry,
    ),
}


def rules_for(kind: CardKind) -> KindRules:
    """The dated facts of ``kind``."""
    return _RULES[kind]


def kinds_issuable_on(day: date) -> tuple[CardKind, ...]:
    """The kinds a municipality may issue on ``day`` (none before 2003-08-25)."""
    return tuple(kind for kind, rules in _RULES.items() if rules.issuable_on(day))


def accepted_for_special_move(kind: CardKind, day: date) -> bool:
    """Whether a card of ``kind`` in effect is accepted on ``day`` for the special
    move-out/in without a certificate (転入転出の特例, 住基法24条の2; before 2016 the
    付記転出届 of Juki card holders). From the day the kind was first issued; a Juki
    card stays accepted while it is in effect (a modelling choice: the transitional
    rule treating a Juki card as a My Number card until it expires was not found in
    the sources, domain-facts §14)."""
    rules = _RULES[kind]
    if day < rules.issued_from:
        return False
    return rules.special_move_until is None or day <= rules.special_move_until


def check_issuable(kind: CardKind, day: date) -> None:
    """Raise :class:`~jukinet.errors.InvalidState` unless ``kind`` may be issued on ``day``."""
    rules = _RULES[kind]
    if not rules.issuable_on(day):
        until = rules.issued_until.isoformat() if rules.issued_until else "today"
        raise InvalidState(
            f"a {rules.name} cannot be issued on {day.isoformat()}",
            field="kind",
            expected=f"a day from {rules.issued_from.isoformat()} to {until}",
        )
