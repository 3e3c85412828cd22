"""How long the upper tiers keep identity information (令30条の6・令30条の7).

The prefecture (都道府県知事) and the national centre (J-LIS) keep the identity
information (本人確認情報) notified to them (住基法30条の6第3項, 30条の7):

* a version notified after a record was created or changed (記載, 修正) until
  :data:`RETENTION_YEARS` years after a newer notice for the same person arrived;
* a version notified after a record was removed (消除) for :data:`RETENTION_YEARS`
  years from that notice.

Both periods run from a day on which a notice arrived. A version whose period
runs from day *D* is kept through the same day 150 years later (a 29 February
runs to 28 February when that year has none) and may be deleted from the day
after. :func:`expiry_cutoff` turns today into the first such day that is still
kept: everything whose period runs from an earlier day is over. It is the
``received_before`` of :meth:`IdentityStore.expire
<jukinet.storage.base.IdentityStore.expire>`, which
:meth:`UpperTier.expire_history <jukinet.tiers.upper.UpperTier.expire_history>`
runs with the tier's clock.

>>> from datetime import date
>>> kept_until(date(2026, 4, 1))
datetime.date(2176, 4, 1)
>>> expiry_cutoff(date(2176, 4, 1))  # the anniversary itself is still kept
datetime.date(2026, 4, 1)
>>> expiry_cutoff(date(2176, 4, 2))  # from the day after, 2026-04-01 is over
datetime.date(2026, 4, 2)

Pure date arithmetic: no clock, no storage.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from jukinet.errors import InvalidFormat

__all__ = ["RETENTION_YEARS", "expiry_cutoff", "kept_until"]

RETENTION_YEARS = 150
"""Years the prefecture and the centre keep a version of identity information
(令30条の6・令30条の7), counted from the notice that starts its period."""


def _check(value: object, field: str) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise InvalidFormat(f"got {type(value).__name__}", field=field, expected="a date")
    return value


def _years_later(day: date, years: int) -> date:
    """``day`` moved by ``years`` calendar years; 29 February becomes 28 February in a
    year without one. Outside the calendar: :data:`datetime.date.min` or ``max``."""
    year = day.year + years
    if year < date.min.year:
        return date.min
    if year > date.max.year:
        return date.max
    if day.month == 2 and day.day == 29:
        try:
            return day.replace(year=year)
        except ValueError:
            return date(year, 2, 28)
    return day.replace(year=year)


def kept_until(start: date) -> date:
    """The last day a version is kept when its retention period runs from ``start``
    (the day the newer notice, or its own removal notice, arrived):
    :data:`RETENTION_YEARS` years later, the same day of the year.

    >>> kept_until(date(2024, 2, 29))  # 2174 has no 29 February
    datetime.date(2174, 2, 28)
    >>> kept_until(date(9900, 1, 1))  # beyond the calendar: for ever, as far as it goes
    datetime.date(9999, 12, 31)
    """
    return _years_later(_check(start, "start"), RETENTION_YEARS)


def expiry_cutoff(today: date) -> date:
    """The earliest day from which a period still runs ``today``: every version whose
    period runs from a day *before* it is over (:func:`kept_until` is before
    ``today``), every one from it or later is kept.

    >>> expiry_cutoff(date(2174, 2, 28))  # 2024-02-28 and 02-29: kept through 2174-02-28
    datetime.date(2024, 2, 28)
    >>> expiry_cutoff(date(2174, 3, 1))  # both over the day after
    datetime.date(2024, 3, 1)
    >>> expiry_cutoff(date(2176, 2, 29))  # 2026-02-28 was kept through 2176-02-28
    datetime.date(2026, 3, 1)
    >>> expiry_cutoff(date(100, 1, 1))  # nothing is old enough yet
    datetime.date(1, 1, 1)
    >>> expiry_cutoff("2176-04-02")
    Traceback (most recent call last):
        ...
    jukinet.errors.InvalidFormat: today: got str (expected a date)
    """
    today = _check(today, "today")
    cutoff = _years_later(today, -RETENTION_YEARS)
    # kept_until is monotonic; step past the day whose anniversary falls before today
    # (only a 28 February against a 29 February today)
    while cutoff < date.max and _years_later(cutoff, RETENTION_YEARS) < today:
        cutoff += timedelta(days=1)
    return cutoff
