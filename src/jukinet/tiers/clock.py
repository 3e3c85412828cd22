"""Time, injected: every node reads the date and time from a :class:`Clock`.

Library code never calls ``date.today()``; the caller passes a clock, so tests and
demos are deterministic.

>>> from datetime import datetime, timezone
>>> clock = ManualClock(datetime(2026, 4, 1, 9, 0, tzinfo=timezone.utc))
>>> clock.today()
datetime.date(2026, 4, 1)
>>> clock.advance(days=1).today()
datetime.date(2026, 4, 2)
>>> clock
<ManualClock 2026-04-02T09:00:00+00:00>
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Protocol, runtime_checkable

from jukinet.domain._repr import never_raises
from jukinet.errors import InvalidComponent

__all__ = ["JST", "Clock", "ManualClock", "SystemClock"]

JST = timezone(timedelta(hours=9), "JST")
"""Japan Standard Time: dates on records are dates in Japan."""


@runtime_checkable
class Clock(Protocol):
    """Where a node reads the time."""

    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...

    def today(self) -> date:
        """Today's date in Japan."""
        ...


class SystemClock:
    """The real clock (for production use)."""

    def now(self) -> datetime:
        """The current time in JST."""
        return datetime.now(JST)

    def today(self) -> date:
        """Today's date in Japan."""
        return self.now().date()

    def __repr__(self) -> str:
        """``<SystemClock JST>``."""
        return "<SystemClock JST>"


class ManualClock:
    """A clock that moves only when told to: for tests, notebooks and the demo."""

    def __init__(self, start: datetime) -> None:
        if not isinstance(start, datetime):
            raise TypeError(f"start: expected a datetime, got {type(start).__name__}")
        if start.tzinfo is None:
            raise InvalidComponent(
                "the start time has no time zone", field="start", expected="an aware datetime"
            )
        self._now = start

    def now(self) -> datetime:
        """The clock's current time."""
        return self._now

    def today(self) -> date:
        """The clock's current date in Japan."""
        return self._now.astimezone(JST).date()

    def advance(self, *, days: int = 0, seconds: float = 0) -> ManualClock:
        """Move the clock forward; returns the clock for chaining."""
        step = timedelta(days=days, seconds=seconds)
        if step < timedelta(0):
            raise InvalidComponent("time cannot go backwards", field="step", expected=">= 0")
        self._now += step
        return self

    def set(self, when: datetime) -> None:
        """Move the clock to ``when`` (never backwards)."""
        if when.tzinfo is None or when < self._now:
            raise InvalidComponent(
                "the new time is naive or earlier", field="when", expected="a later aware datetime"
            )
        self._now = when

    @never_raises
    def __repr__(self) -> str:
        """``<ManualClock 2026-04-01T09:00:00+00:00>``: the time it shows."""
        return f"<ManualClock {self._now.isoformat()}>"
